"""Regression-based DiD: the 2x2 design, two-way fixed effects with its staggered-timing
diagnostics, and event studies (leads and lags around relocation).

Diagnostics for TWFE under staggered adoption:
- Goodman-Bacon (2021), "Difference-in-differences with variation in treatment timing",
  J. Econometrics 225(2): the TWFE coefficient is a weighted average of all 2x2 DiDs, some of
  which use already-treated units as controls ("later vs earlier treated").
- de Chaisemartin & D'Haultfœuille (2020), "Two-way fixed effects estimators with heterogeneous
  treatment effects", AER 110(9): TWFE = sum over treated cells of w_gt * ATT_gt, with weights
  proportional to the residual of the treatment on the fixed effects; some may be negative.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..errors import DataError, ParameterError
from ._linalg import codes_of, wald_test, wls
from ._options import (SE_CONVENTION, EventStudyMethod, Vcov, binary, check_choice, check_columns, check_level,
                       few_clusters_note, first_treatment, numeric, unit_weights)
from ._results import ImpactResult, normal_table, overall_from_row, table_text, fmt


class StaggeredTimingWarning(UserWarning):
    """Plain TWFE was asked for while treatment timing varies across units."""


def _vcov_choice(vcov, cluster):
    if vcov is None:
        return "cluster" if cluster is not None else "hetero"
    check_choice("vcov", vcov, Vcov)
    if vcov == "cluster" and cluster is None:
        raise ParameterError("vcov='cluster' needs cluster=<column name>")
    return vcov


def _se_note(vcov: str, cluster: str | None) -> str:
    if vcov == "cluster":
        return f"Clustered by {cluster}. " + SE_CONVENTION
    if vcov == "hetero":
        return ("Standard errors: heteroskedasticity-robust HC1 (n/(n-K)); no clustering requested. "
                "With clusters the convention is CR1 with fixed effects nested in clusters not counted "
                "(fixest / reghdfe).")
    return ("Standard errors: classical (iid), as in textbook tables. With clusters the convention is CR1 "
            "with fixed effects nested in clusters not counted (fixest / reghdfe).")


class RegressionResult(ImpactResult):
    def __init__(self, title, terms, fit, *, headline, level, glance, notes):
        self.title = title
        self.level = level
        self.fit = fit
        se = np.sqrt(np.diag(fit.vcov))
        self._tidy = normal_table(terms, fit.params, se, level=level)
        self._overall = overall_from_row(self._tidy[self._tidy["term"] == headline].iloc[0])
        self._glance = glance
        self.notes = notes + (few_clusters_note(fit.n_clusters) if fit.vcov_type == "cluster" else [])

    @property
    def vcov(self) -> pd.DataFrame:
        terms = self._tidy["term"]
        return pd.DataFrame(self.fit.vcov, index=terms, columns=terms)


def did(data: pd.DataFrame, *, yname: str, treated: str, post: str, cluster: str | None = None,
        weights: str | None = None, covariates: list[str] | None = None, vcov: Vcov | None = None,
        level: float = 0.95) -> RegressionResult:
    """Canonical 2x2 difference-in-differences by (weighted) least squares.

    ``y = a + b*treated + c*post + ATT*treated:post (+ covariates)``. ``vcov`` defaults to
    "cluster" when ``cluster`` is given (CR1, DESIGN.md convention), else "hetero" (HC1);
    "iid" reproduces textbook tables. ``.overall`` is the ``treated:post`` coefficient.
    """
    covariates = list(covariates or [])
    check_columns(data, [yname, treated, post, cluster, weights, *covariates])
    level = check_level(level)
    vc = _vcov_choice(vcov, cluster)
    y = numeric(data, yname)
    d, p = binary(data, treated), binary(data, post)
    x = np.column_stack([np.ones(len(y)), d, p, d * p] + [numeric(data, c) for c in covariates])
    w = unit_weights(data, weights)
    fit = wls(y, x, w=w, cluster=data[cluster].to_numpy() if cluster else None, vcov=vc)
    terms = ["(intercept)", treated, post, f"{treated}:{post}", *covariates]
    glance = {"estimator": "did_2x2", "n_obs": len(y), "n_clusters": fit.n_clusters or len(y), "vcov": vc,
              "r_squared": fit.r2_within, "weights": weights or "none"}
    return RegressionResult(f"2x2 difference-in-differences: {yname}", terms, fit,
                            headline=f"{treated}:{post}", level=level, glance=glance,
                            notes=[_se_note(vc, cluster)])


# ---- TWFE and its diagnostics -------------------------------------------------------------------

def _first_treated(unit_codes: np.ndarray, t: np.ndarray, d: np.ndarray):
    """Per row: the unit's first period with d == 1 (0 if never), and whether treatment is absorbing."""
    n_units = int(unit_codes.max()) + 1
    first = np.full(n_units, np.inf)
    on = d == 1
    np.minimum.at(first, unit_codes[on], t[on])
    first[~np.isfinite(first)] = 0.0
    g = first[unit_codes]
    absorbing = bool(np.all(on == ((g > 0) & (t >= g))))
    return g, absorbing


def dcdh_weights(d: np.ndarray, unit_codes: np.ndarray, time_codes: np.ndarray, w: np.ndarray,
                 cohort: np.ndarray, t: np.ndarray) -> pd.DataFrame:
    """de Chaisemartin–D'Haultfœuille weights of the treated cells in the TWFE coefficient.

    w_it = eps_it / sum_{D=1} eps, with eps the residual of D on unit and period fixed effects
    (AER 2020, Theorem 1). Returned per (cohort, time) cell: summed weight and number of units.
    """
    from ._linalg import demean

    eps = demean(d, [unit_codes, time_codes], w)[:, 0]
    treated = d == 1
    ww = w * eps
    weights = ww[treated] / ww[treated].sum()
    cells = pd.DataFrame({"group": cohort[treated], "time": t[treated], "weight": weights})
    out = cells.groupby(["group", "time"], as_index=False).agg(weight=("weight", "sum"), n=("weight", "size"))
    out["group"] = out["group"].astype("int64")
    out["time"] = out["time"].astype("int64")
    return out


def bacon_decomposition(y: np.ndarray, ids, t: np.ndarray, g: np.ndarray) -> pd.DataFrame:
    """Goodman-Bacon (2021) decomposition of the TWFE coefficient (balanced panel, no weights).

    One row per 2x2 comparison: ``type`` ("treated vs never treated", "earlier vs later treated",
    "later vs earlier treated"), ``treated``/``control`` timing groups (0 = never, or the first
    period), ``estimate`` (the 2x2 DiD) and ``weight`` (eq. 10a–c, summing to one).
    """
    frame = pd.DataFrame({"id": ids, "t": t, "y": y, "g": g})
    periods = np.sort(frame["t"].unique())
    big_t = len(periods)
    unit = frame.groupby("id").agg(g=("g", "first"))
    n_units = len(unit)
    share = unit["g"].value_counts() / n_units
    dbar = {gv: (0.0 if gv == 0 else float(np.mean(periods >= gv))) for gv in share.index}
    means = frame.groupby(["g", "t"])["y"].mean().unstack("t")[periods]

    def dd(k, l, window, post_of):
        cols = periods[window]
        post = post_of(cols)
        a = means.loc[k, cols]
        b = means.loc[l, cols]
        return float((a[post].mean() - a[~post].mean()) - (b[post].mean() - b[~post].mean()))

    # variance of the two-way demeaned treatment (balanced, unweighted)
    ug = unit["g"].to_numpy()[:, None]
    dmat = ((ug > 0) & (periods[None, :] >= ug)).astype("float64")
    dtil = dmat - dmat.mean(axis=1, keepdims=True) - dmat.mean(axis=0, keepdims=True) + dmat.mean()
    vd = float((dtil**2).mean())
    rows = []
    timing = sorted(v for v in share.index if v > 0)
    if 0 in share.index:
        nu = share[0]
        for k in timing:
            nk, dk = share[k], dbar[k]
            if dk >= 1:            # treated in every period: no 2x2 against the never treated
                continue
            nku = nk / (nk + nu)
            s = (nk + nu) ** 2 * nku * (1 - nku) * dk * (1 - dk) / vd
            est = dd(k, 0, np.ones(big_t, bool), lambda c, k=k: c >= k)
            rows.append(("treated vs never treated", k, 0, est, s))
    for i, k in enumerate(timing):
        for l in timing[i + 1:]:
            nk, nl, dk, dl = share[k], share[l], dbar[k], dbar[l]
            nkl = nk / (nk + nl)
            s_k = ((nk + nl) * (1 - dl)) ** 2 * nkl * (1 - nkl) * (dk - dl) / (1 - dl) * (1 - dk) / (1 - dl) / vd
            s_l = ((nk + nl) * dk) ** 2 * nkl * (1 - nkl) * (dl / dk) * (dk - dl) / dk / vd
            if s_k > 0:
                est_k = dd(k, l, periods < l, lambda c, k=k: c >= k)
                rows.append(("earlier vs later treated", k, l, est_k, s_k))
            est_l = dd(l, k, periods >= k, lambda c, l=l: c >= l)
            rows.append(("later vs earlier treated", l, k, est_l, s_l))
    out = pd.DataFrame(rows, columns=["type", "treated", "control", "estimate", "weight"])
    out["treated"] = out["treated"].astype("int64")
    out["control"] = out["control"].astype("int64")
    return out


class TwfeResult(RegressionResult):
    bacon: pd.DataFrame | None
    weights_diagnostic: pd.DataFrame | None
    staggered: bool

    def summary(self) -> str:
        text = super().summary()
        extra = []
        if self.staggered:
            extra.append("")
            extra.append("WARNING: treatment timing is staggered. The TWFE coefficient mixes comparisons that use "
                         "already-treated units as controls and can be biased (even of the wrong sign) when effects "
                         "change over time or differ across batches. Report staggered_did() beside it.")
            if self.weights_diagnostic is not None:
                wd = self.weights_diagnostic
                neg = wd[wd["weight"] < 0]
                extra.append(f"de Chaisemartin-D'Haultfoeuille weights: {len(wd)} treated (group, time) cells, "
                             f"{len(neg)} with negative weight (sum {fmt(float(neg['weight'].sum()))}).")
            if self.bacon is not None:
                b = self.bacon.groupby("type", sort=True).apply(
                    lambda s: pd.Series({"weight": s["weight"].sum(),
                                         "estimate": np.average(s["estimate"], weights=s["weight"]) if s["weight"].sum() > 0 else np.nan}),
                    include_groups=False).reset_index()
                extra.append("Goodman-Bacon decomposition (weight, weighted mean 2x2 estimate by type):")
                extra.append(table_text(b))
        return text + "\n".join([""] + extra) if extra else text


def twfe(data: pd.DataFrame, *, yname: str, dname: str, idname: str, tname: str, cluster: str | None = None,
         weights: str | None = None, vcov: Vcov | None = "cluster", level: float = 0.95) -> TwfeResult:
    """Two-way fixed effects: ``y_it = a_i + l_t + b * D_it + e_it``, b reported as ``.overall``.

    Standard errors clustered by ``cluster`` (default: ``idname``), CR1 with the unit fixed
    effects nested in clusters not counted. When treatment timing varies across units, a
    ``StaggeredTimingWarning`` is issued and ``.weights_diagnostic`` (de Chaisemartin–
    D'Haultfœuille) and, for balanced unweighted panels with absorbing treatment, ``.bacon``
    (Goodman-Bacon decomposition) are filled.
    """
    check_columns(data, [yname, dname, idname, tname, cluster, weights])
    level = check_level(level)
    cluster_col = cluster or idname
    vc = _vcov_choice(vcov, cluster_col)
    y, d, t = numeric(data, yname), binary(data, dname), numeric(data, tname)
    w = unit_weights(data, weights)
    ids = data[idname].to_numpy()
    ucodes, n_units = codes_of(ids)
    tcodes, n_periods = codes_of(t)
    fit = wls(y, d, w=w, fixed_effects=[ucodes, tcodes], cluster=data[cluster_col].to_numpy(), vcov=vc)
    g, absorbing = _first_treated(ucodes, t, d)
    cohorts = np.unique(g[g > 0])
    staggered = len(cohorts) > 1
    glance = {"estimator": "twfe", "n_obs": len(y), "n_units": n_units, "n_periods": n_periods,
              "n_clusters": fit.n_clusters or len(y), "vcov": vc, "r2_within": fit.r2_within,
              "staggered": staggered, "weights": weights or "none"}
    res = TwfeResult(f"Two-way fixed effects: {yname} on {dname}", [dname], fit, headline=dname, level=level,
                     glance=glance, notes=[_se_note(vc, cluster_col), "Fixed effects: unit and period."])
    res.staggered = staggered
    res.bacon = None
    res.weights_diagnostic = None
    if staggered:
        res.weights_diagnostic = dcdh_weights(d, ucodes, tcodes, w, g, t)
        balanced = len(y) == n_units * n_periods
        if balanced and absorbing and weights is None:
            res.bacon = bacon_decomposition(y, ucodes, t, g)
        warnings.warn(
            f"treatment timing is staggered ({len(cohorts)} adoption periods): the TWFE coefficient is a "
            "weighted average of 2x2 comparisons, some using already-treated units as controls; see "
            ".bacon and .weights_diagnostic and report staggered_did() beside it", StaggeredTimingWarning,
            stacklevel=2)
    return res


# ---- event study ---------------------------------------------------------------------------------

class EventStudyResult(ImpactResult):
    """Leads and lags relative to treatment (reference e = -1), with a joint pre-trend test."""

    def __init__(self, table, *, pretrend, level, glance, notes, title, reference):
        self._tidy = table
        self.level = level
        self.pretrend = pretrend
        self._glance = {**glance, "pretrend_statistic": pretrend["statistic"], "pretrend_df": pretrend["df"],
                        "pretrend_p_value": pretrend["p_value"]}
        self.notes = notes
        self.title = title
        self.reference = reference
        # first row is the average of the post-treatment event-time effects
        self._overall = overall_from_row(table.iloc[0])

    def tidy(self) -> pd.DataFrame:
        return self._tidy.copy()

    def plot(self, *, ax=None):
        from .staggered import _event_plot

        rows = self._tidy[self._tidy["term"] != "overall"]
        return _event_plot(rows, ax=ax, title=self.title, reference=self.reference)

    def summary(self) -> str:
        p = self.pretrend
        base = super().summary()
        return base + (f"\nJoint pre-trend test (all leads = 0): chi2 = {fmt(p['statistic'])}, df = {p['df']}, "
                       f"p = {fmt(p['p_value'])}")


def event_study(data: pd.DataFrame, *, yname: str, idname: str, tname: str, gname: str,
                method: EventStudyMethod = "cs", leads: int | None = None, lags: int | None = None,
                control_group: str = "nevertreated", cluster: str | None = None, weights: str | None = None,
                covariates: list[str] | None = None, level: float = 0.95, **cs_options) -> EventStudyResult:
    """Event study around relocation, reference period e = -1, with a joint Wald pre-trend test.

    ``method="cs"`` (default): Callaway–Sant'Anna with a universal base period, aggregated by
    event time (robust to effects that differ across batches). ``method="twfe"``: the classic
    regression on relative-time dummies with unit and period fixed effects (end points binned;
    biased under heterogeneous effects, Sun & Abraham 2021 — kept for comparison).
    ``leads``/``lags``: window (default: all available).
    """
    check_choice("method", method, EventStudyMethod)
    level = check_level(level)
    for name, v in (("leads", leads), ("lags", lags)):
        if v is not None and (not isinstance(v, (int, np.integer)) or v < (1 if name == "leads" else 0)):
            raise ParameterError(f"{name}={v!r} must be None or an integer >= {1 if name == 'leads' else 0}")
    if method == "cs":
        from .staggered import staggered_did

        res = staggered_did(data, yname=yname, idname=idname, tname=tname, gname=gname, control_group=control_group,
                            weights=weights, cluster=cluster, covariates=covariates, base_period="universal",
                            level=level, **cs_options)
        agg = res.aggregate("dynamic", min_e=-leads if leads else -np.inf, max_e=lags if lags is not None else np.inf)
        tab = agg.tidy()
        rows = tab["term"] != "overall"
        e = tab["event_time"].to_numpy(dtype="float64", na_value=np.nan)
        tab.loc[rows & (e == -1), ["std_error", "statistic", "p_value", "ci_low", "ci_high"]] = np.nan
        pre = np.flatnonzero(rows.to_numpy() & (e <= -2))
        if pre.size:
            inf = agg._inf[:, pre]
            n = inf.shape[0]
            cc = res._cluster_codes
            if cc is not None:
                gcount = int(cc.max()) + 1
                sums = np.stack([np.bincount(cc, weights=inf[:, j], minlength=gcount) for j in range(inf.shape[1])], axis=1)
                v = gcount / (gcount - 1) * sums.T @ sums / n**2
            else:
                v = inf.T @ inf / n**2
            stat, df, pval = wald_test(tab["estimate"].to_numpy()[pre], v)
        else:
            stat, df, pval = np.nan, 0, np.nan
        tab["event_time"] = tab["event_time"].astype("Int64")
        glance = {"estimator": "event_study_cs", **{k: res._glance[k] for k in ("control_group", "n_units", "n_clusters", "se")}}
        return EventStudyResult(tab.reset_index(drop=True), pretrend={"statistic": stat, "df": df, "p_value": pval},
                                level=level, glance=glance, title="事件研究 Event study (Callaway–Sant'Anna, reference e = -1)",
                                notes=res.notes[:1] + few_clusters_note(res._glance["n_clusters"]) + [
                                                       "Overall: mean of post-treatment event-time effects (e >= 0).",
                                                       "Leads use the universal base period g-1."], reference=-1)
    # classic dynamic TWFE
    check_columns(data, [yname, idname, tname, gname, cluster, weights])
    cluster_col = cluster or idname
    y, t, g = numeric(data, yname), numeric(data, tname), first_treatment(data, gname)
    w = unit_weights(data, weights)
    ucodes, n_units = codes_of(data[idname].to_numpy())
    tcodes, _ = codes_of(t)
    treated = g > 0
    rel = np.where(treated, t - g, np.nan)
    lo = -leads if leads else int(np.nanmin(rel)) if treated.any() else -1
    hi = lags if lags is not None else int(np.nanmax(rel)) if treated.any() else 0
    if not treated.any():
        raise DataError(f"no treated units: column {gname!r} is 0 everywhere")
    relb = np.clip(rel, lo, hi)
    evs = [e for e in range(lo, hi + 1) if e != -1 and np.any(relb == e)]
    x = np.column_stack([(relb == e).astype("float64") for e in evs])
    fit = wls(y, x, w=w, fixed_effects=[ucodes, tcodes], cluster=data[cluster_col].to_numpy(), vcov="cluster")
    se = np.sqrt(np.diag(fit.vcov))
    tab = normal_table([f"event_time={e}" for e in evs], fit.params, se, level=level)
    tab.insert(1, "event_time", pd.array(evs, dtype="Int64"))
    ref = normal_table(["event_time=-1"], [0.0], [np.nan], level=level)
    ref.insert(1, "event_time", pd.array([-1], dtype="Int64"))
    tab = pd.concat([tab, ref], ignore_index=True).sort_values("event_time", kind="stable").reset_index(drop=True)
    pre = [i for i, e in enumerate(evs) if e <= -2]
    stat, df, pval = wald_test(fit.params[pre], fit.vcov[np.ix_(pre, pre)]) if pre else (np.nan, 0, np.nan)
    post_idx = [i for i, e in enumerate(evs) if e >= 0]
    avg_w = np.zeros(len(evs))
    avg_w[post_idx] = 1 / len(post_idx)
    ov = normal_table(["overall"], [avg_w @ fit.params], [np.sqrt(avg_w @ fit.vcov @ avg_w)], level=level)
    ov.insert(1, "event_time", pd.array([pd.NA], dtype="Int64"))
    tab = pd.concat([ov, tab], ignore_index=True)
    glance = {"estimator": "event_study_twfe", "n_obs": len(y), "n_units": n_units,
              "n_clusters": fit.n_clusters, "vcov": "cluster", "window": f"[{lo}, {hi}] (end points binned)"}
    return EventStudyResult(tab, pretrend={"statistic": stat, "df": df, "p_value": pval}, level=level, glance=glance,
                            title="事件研究 Event study (TWFE dummies, reference e = -1)",
                            notes=[_se_note("cluster", cluster_col), *few_clusters_note(fit.n_clusters),
                                   "Overall: mean of post-treatment coefficients. TWFE event studies are contaminated "
                                   "by other periods' effects when effects differ across batches (Sun & Abraham 2021); "
                                   "prefer method='cs'."], reference=-1)
