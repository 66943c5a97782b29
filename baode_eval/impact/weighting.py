"""Propensity scores, overlap, covariate balance, and doubly robust / IPW DiD for two periods.

- Propensity score: weighted logit by maximum likelihood.
- Balance: standardised mean differences (SMD, Austin 2009, Stat. Med. 28: the pooled standard
  deviation of the *unweighted* groups is the denominator before and after weighting, so the
  two columns are comparable) and variance ratios. |SMD| < 0.1 is the usual rule of thumb.
- ATT weights (odds weights): treated 1, comparison p/(1-p) (Hirano, Imbens & Ridder 2003).
- ``dr_did``: Sant'Anna & Zhao (2020) locally efficient doubly robust DiD for panel data
  (``DRDID::drdid_panel``); ``method="ipw"``: Abadie (2005) normalised IPW
  (``DRDID::std_ipw_did_panel``). Covariates are taken from the pre-period.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError, ParameterError
from ._drdid import att_dr_imp_panel, att_dr_panel, att_ipw_panel, logit_fit
from ._options import (binary, check_choice, check_columns, check_level, few_clusters_note, numeric, se_note_if,
                       unit_weights)
from ._results import ImpactResult, fmt, normal_table, overall_from_row, table_text

from typing import Literal

DrMethod = Literal["dr", "dr_imp", "ipw"]


def _smd(x, d, w_adj, w_base):
    t, c = d == 1, d == 0

    def wmean(v, ww):
        return np.sum(v * ww) / np.sum(ww)

    def wvar(v, ww):
        m = wmean(v, ww)
        return np.sum(ww * (v - m) ** 2) / np.sum(ww)

    pooled = np.sqrt((wvar(x[t], w_base[t]) + wvar(x[c], w_base[c])) / 2)
    m1, m0 = wmean(x[t], w_adj[t]), wmean(x[c], w_adj[c])
    smd = (m1 - m0) / pooled if pooled > 0 else np.nan
    vr = wvar(x[t], w_adj[t]) / wvar(x[c], w_adj[c]) if wvar(x[c], w_adj[c]) > 0 else np.nan
    return m1, m0, smd, vr


def balance_table(data: pd.DataFrame, *, treated: str, covariates: list[str], weights: str | None = None,
                  adjusted_weights: np.ndarray | pd.Series | None = None) -> pd.DataFrame:
    """Covariate balance: means by group, SMD and variance ratio, before (and after) weighting.

    ``adjusted_weights``: e.g. ``PropensityScoreResult.att_weights``; multiplied by ``weights``.
    """
    if not covariates:
        raise ParameterError("covariates must name at least one column")
    check_columns(data, [treated, weights, *covariates])
    d = binary(data, treated)
    w = unit_weights(data, weights)
    rows = []
    adj = None if adjusted_weights is None else w * np.asarray(adjusted_weights, dtype="float64")
    for c in covariates:
        x = numeric(data, c)
        m1, m0, smd, vr = _smd(x, d, w, w)
        row = {"covariate": c, "mean_treated": m1, "mean_control": m0, "smd": smd, "variance_ratio": vr}
        if adj is not None:
            a1, a0, asmd, avr = _smd(x, d, adj, w)
            row.update({"mean_control_weighted": a0, "smd_weighted": asmd, "variance_ratio_weighted": avr})
        rows.append(row)
    return pd.DataFrame(rows)


class PropensityScoreResult(ImpactResult):
    """Logit propensity score with overlap diagnostics, ATT weights and a balance table."""

    def __init__(self, data, treated, covariates, weights, coef, cov, scores, d, level):
        self.level = level
        self.title = f"Propensity score (logit) for {treated}"
        self.scores = pd.Series(scores, index=data.index, name="propensity_score")
        self._d = d
        odds = scores / (1 - scores)
        self.att_weights = pd.Series(np.where(d == 1, 1.0, odds), index=data.index, name="att_weight")
        self._tidy = normal_table(["(intercept)", *covariates], coef, np.sqrt(np.diag(cov)), level=level)
        self._overall = overall_from_row(self._tidy.iloc[0])
        self._balance = balance_table(data, treated=treated, covariates=covariates, weights=weights,
                                      adjusted_weights=self.att_weights.to_numpy())
        ov = self.overlap()
        self._glance = {"estimator": "logit_propensity_score", "n_treated": int(d.sum()), "n_control": int((1 - d).sum()),
                        "share_treated_outside_support": float(ov["share_treated_outside_control_range"]),
                        "max_abs_smd": float(self._balance["smd"].abs().max()),
                        "max_abs_smd_weighted": float(self._balance["smd_weighted"].abs().max())}
        self.notes = ["Standard errors of the logit: maximum-likelihood (inverse Hessian).",
                      "Balance: |SMD| < 0.1 is the usual threshold; weighted = ATT odds weights p/(1-p) for comparisons."]

    def balance(self) -> pd.DataFrame:
        return self._balance.copy()

    def overlap(self) -> pd.Series:
        """Common-support facts: score ranges by group and shares outside the other group's range."""
        s, d = self.scores.to_numpy(), self._d
        t, c = s[d == 1], s[d == 0]
        return pd.Series({
            "treated_min": t.min(), "treated_max": t.max(), "control_min": c.min(), "control_max": c.max(),
            "share_treated_outside_control_range": float(np.mean((t < c.min()) | (t > c.max()))),
            "share_control_outside_treated_range": float(np.mean((c < t.min()) | (c > t.max()))),
            "share_scores_above_0.95": float(np.mean(s > 0.95)),
            "max_control_weight_share": float(self.att_weights[d == 0].max() / self.att_weights[d == 0].sum()),
        })

    def summary(self) -> str:
        return "\n".join([super().summary(), "", "Overlap:", self.overlap().to_string(float_format=lambda v: f"{v:.4f}"),
                          "", "Balance:", table_text(self._balance)])

    def plot(self, *, ax=None):
        """Overlap: histograms of the score for relocated and comparison households."""
        from ..plots import _axes

        fig, ax = _axes(ax, (6, 3.5))
        bins = np.linspace(0, 1, 31)
        s = self.scores.to_numpy()
        ax.hist(s[self._d == 0], bins=bins, alpha=0.6, density=True, label="对照 comparison", color="#4C72B0")
        ax.hist(s[self._d == 1], bins=bins, alpha=0.6, density=True, label="搬迁 relocated", color="#C44E52")
        ax.set_xlabel("倾向得分 propensity score")
        ax.set_ylabel("密度 density")
        ax.set_title("共同支撑 Overlap of propensity scores", fontsize=10)
        ax.legend(frameon=False, fontsize=8)
        return fig, ax


def propensity_score(data: pd.DataFrame, *, treated: str, covariates: list[str], weights: str | None = None,
                     level: float = 0.95) -> PropensityScoreResult:
    """Fit P(treated = 1 | covariates) by weighted logit; overlap and balance come with it."""
    if not covariates:
        raise ParameterError("covariates must name at least one column")
    check_columns(data, [treated, weights, *covariates])
    level = check_level(level)
    d = binary(data, treated)
    if d.min() == d.max():
        raise DataError(f"column {treated!r} has a single value; need treated and comparison units")
    w = unit_weights(data, weights)
    x = np.column_stack([np.ones(len(d))] + [numeric(data, c) for c in covariates])
    coef, p, inv_hess = logit_fit(d, x, w)
    return PropensityScoreResult(data, treated, covariates, weights, coef, inv_hess, p, d, level)


class TwoPeriodResult(ImpactResult):
    def __init__(self, title, att, se, *, level, glance, notes):
        self.title, self.level = title, level
        self._tidy = normal_table(["ATT"], [att], [se], level=level)
        self._overall = overall_from_row(self._tidy.iloc[0])
        self._glance = glance
        self.notes = notes


def dr_did(data: pd.DataFrame, *, yname: str, idname: str, tname: str, treated: str, covariates: list[str],
           weights: str | None = None, cluster: str | None = None, method: DrMethod = "dr",
           level: float = 0.95) -> TwoPeriodResult:
    """Doubly robust (Sant'Anna & Zhao 2020) or IPW (Abadie 2005) DiD for a two-period panel.

    ``method``: "dr" (locally efficient, logit score: ``DRDID::drdid_panel``, also used inside
    ``staggered_did``), "dr_imp" (further improved, inverse probability tilting:
    ``DRDID::drdid_imp_panel``, R ``drdid()``'s default) or "ipw" (normalised IPW).
    ``treated``: 0/1, constant within a unit. Covariates are read in the first period.
    """
    check_choice("method", method, DrMethod)
    check_columns(data, [yname, idname, tname, treated, weights, cluster, *covariates])
    level = check_level(level)
    t = numeric(data, tname)
    periods = np.unique(t)
    if len(periods) != 2:
        raise DataError(f"dr_did needs exactly two periods in {tname!r}; found {len(periods)}: {periods[:6]}")
    frame = pd.DataFrame({"id": data[idname].to_numpy(), "t": t, "y": numeric(data, yname), "d": binary(data, treated),
                          "w": unit_weights(data, weights)})
    for j, c in enumerate(covariates):
        frame[f"x{j}"] = numeric(data, c)
    if cluster is not None:
        frame["cl"] = data[cluster].to_numpy()
    wide = frame.pivot(index="id", columns="t", values="y").dropna()
    pre = frame[frame["t"] == periods[0]].set_index("id").loc[wide.index]
    dy = (wide[periods[1]] - wide[periods[0]]).to_numpy()
    d = pre["d"].to_numpy()
    x = np.column_stack([np.ones(len(d))] + [pre[f"x{j}"].to_numpy() for j in range(len(covariates))])
    w = pre["w"].to_numpy()
    estimator = {"dr": att_dr_panel, "dr_imp": att_dr_imp_panel, "ipw": att_ipw_panel}[method]
    att, inf = estimator(dy, d, x, w)
    n = len(d)
    if cluster is not None:
        codes = pd.factorize(pre["cl"].to_numpy(), sort=True)[0]
        g = int(codes.max()) + 1
        s = np.bincount(codes, weights=inf, minlength=g)
        se = float(np.sqrt(g / (g - 1) * np.sum(s**2)) / n)
    else:
        # each unit its own cluster with the CR1 factor n/(n-1): the sample SD of the influence
        # function over sqrt(n), exactly as R DRDID reports
        g = n
        se = float(np.sqrt(n / (n - 1) * np.sum(inf**2)) / n)
    name = {"dr": "doubly robust DiD (Sant'Anna & Zhao 2020)",
            "dr_imp": "improved doubly robust DiD (Sant'Anna & Zhao 2020, IPT)",
            "ipw": "IPW DiD (Abadie 2005)"}[method]
    return TwoPeriodResult(f"{name}: {yname}", att, se, level=level,
                           glance={"estimator": f"{method}_did_panel", "n_units": n, "n_treated": int(d.sum()),
                                   "n_clusters": g},
                           notes=[se_note_if(cluster, idname, unit_factor=True), *few_clusters_note(g if cluster is not None else None)])
