"""Impact questions beyond one average effect: heterogeneity by site or subgroup, income
restoration against each household's own baseline (World Bank resettlement practice, OP 4.12 /
ESS5: livelihoods restored to pre-displacement levels in real terms), and attrition.
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DataError, ParameterError
from ._options import check_columns, check_level, first_treatment, numeric, unit_weights
from ._results import ImpactResult, fmt, normal_table, overall_from_row, table_text


# ---- heterogeneity ----------------------------------------------------------------------------

class HeterogeneityResult(ImpactResult):
    title = "Heterogeneity of the effect"

    def __init__(self, table, test, by, estimator_name, level, notes):
        self._tidy = table
        self.level = level
        self.test = test
        self._overall = {"estimate": np.nan, "std_error": np.nan, "ci_low": np.nan, "ci_high": np.nan}
        pooled = table[table["term"] == "pooled (inverse-variance)"]
        if len(pooled):
            self._overall = overall_from_row(pooled.iloc[0])
        self._glance = {"by": by, "estimator": estimator_name, "n_subgroups": int((table["term"] != "pooled (inverse-variance)").sum()),
                        "equality_statistic": test["statistic"], "equality_df": test["df"], "equality_p_value": test["p_value"]}
        self.title = f"Heterogeneity by {by} ({estimator_name})"
        self.notes = notes + [
            f"Equality test across subgroups (independent samples): chi2 = {fmt(test['statistic'])}, "
            f"df = {test['df']}, p = {fmt(test['p_value'])}."]


def heterogeneity(data: pd.DataFrame, *, by: str, estimator: Callable | str = "staggered_did",
                  level: float = 0.95, **options) -> HeterogeneityResult:
    """Run one estimator separately in each subgroup of ``by`` (e.g. ``site``) and compare.

    ``estimator``: a function of this module's family (``did``, ``twfe``, ``staggered_did``,
    ``dr_did``…) or its name; ``options`` are passed on. Subgroups are estimated on their own
    rows, so this suits impact estimates (not survey domain totals). Returns one row per
    subgroup plus an inverse-variance pooled row, and a Wald test that all subgroup effects are
    equal (valid when subgroups share no cluster).
    """
    import importlib

    check_columns(data, [by])
    level = check_level(level)
    if isinstance(estimator, str):
        allowed = ["did", "twfe", "staggered_did", "dr_did", "event_study"]
        if estimator not in allowed:
            raise ParameterError(f"estimator={estimator!r} is not allowed; choose one of: {', '.join(map(repr, allowed))}")
        func = getattr(importlib.import_module("baode_eval.impact"), estimator)
    else:
        func = estimator
    rows = []
    import warnings

    for key, part in data.groupby(by, sort=True, observed=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = func(part, level=level, **options)
            except (DataError, np.linalg.LinAlgError, ValueError) as exc:
                rows.append((str(key), np.nan, np.nan, len(part), f"not estimable: {exc}"))
                continue
        o = res.overall
        rows.append((str(key), o["estimate"], o["std_error"], len(part), ""))
    frame = pd.DataFrame(rows, columns=["subgroup", "estimate", "std_error", "n_rows", "note"])
    ok = frame["std_error"].notna() & (frame["std_error"] > 0)
    est, se = frame.loc[ok, "estimate"].to_numpy(), frame.loc[ok, "std_error"].to_numpy()
    if ok.sum() >= 2:
        wts = 1 / se**2
        pooled = float(np.sum(wts * est) / wts.sum())
        pooled_se = float(np.sqrt(1 / wts.sum()))
        stat = float(np.sum(wts * (est - pooled) ** 2))
        test = {"statistic": stat, "df": int(ok.sum() - 1), "p_value": float(stats.chi2.sf(stat, ok.sum() - 1))}
    else:
        pooled, pooled_se = np.nan, np.nan
        test = {"statistic": np.nan, "df": 0, "p_value": np.nan}
    table = normal_table(list(frame["subgroup"]) + ["pooled (inverse-variance)"],
                         list(frame["estimate"]) + [pooled], list(frame["std_error"]) + [pooled_se], level=level)
    table.insert(1, by, list(frame["subgroup"]) + [pd.NA])
    table["n_rows"] = list(frame["n_rows"]) + [int(frame["n_rows"].sum())]
    table["note"] = list(frame["note"]) + [""]
    name = getattr(func, "__name__", str(func))
    return HeterogeneityResult(table, test, by, name, level, notes=["Each subgroup's SE follows the estimator's own convention (see its summary)."])


# ---- income restoration ---------------------------------------------------------------------------

def _weighted_share_se(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted mean and its linearised (with-replacement, n/(n-1)) standard error."""
    n = len(x)
    m = float(np.sum(w * x) / np.sum(w))
    if n < 2:
        return m, float("nan")
    se = float(np.sqrt(n / (n - 1) * np.sum((w * (x - m)) ** 2)) / np.sum(w))
    return m, se


class IncomeRestorationResult(ImpactResult):
    title = "Income restoration (real income now / own real baseline)"

    def __init__(self, households, table, level, glance, notes):
        self._households = households
        self._tidy = table
        self.level = level
        self._glance = glance
        self.notes = notes
        self._overall = overall_from_row(table[table["term"] == "share_restored"].iloc[0])

    def households(self) -> pd.DataFrame:
        """One row per household: baseline and current real income, ratio, restored (ratio >= 1)."""
        return self._households.copy()

    def plot(self, *, ax=None):
        from ..plots import _axes

        fig, ax = _axes(ax, (6, 3.5))
        r = self._households["ratio"].to_numpy()
        r = r[np.isfinite(r) & (r > 0)]
        ax.hist(np.log2(r), bins=40, color="#55A868", alpha=0.8)
        ax.axvline(0, color="#C44E52", lw=1.2, label="恢复线 restored (ratio = 1)")
        ax.set_xlabel("log2(实际收入 / 搬迁前基线)  log2(real income / own baseline)")
        ax.set_ylabel("户数 households")
        ax.set_title("收入恢复 Income restoration", fontsize=10)
        ax.legend(frameon=False, fontsize=8)
        return fig, ax


def income_restoration(data: pd.DataFrame, *, yname: str = "per_capita_net_income", idname: str = "household_id",
                       tname: str = "year", baseline: int | str, cpi: Mapping | pd.Series, at: int | None = None,
                       weights: str | None = None, by: str | None = None, threshold: float = 1.0,
                       level: float = 0.95) -> IncomeRestorationResult:
    """Share of households whose real income has come back to (at least) their own baseline.

    ``baseline``: a year (same for all) or the name of a column holding each household's
    baseline year (e.g. the year before relocation). ``cpi``: price index by year (any base);
    incomes are deflated as ``income / cpi[year]``. ``at``: the year evaluated (default: each
    household's last observed year). Ratio = real income at ``at`` / real baseline income;
    restored if ratio >= ``threshold`` (1 = full restoration). Households with a missing or
    non-positive baseline are excluded and counted in ``glance()``.
    """
    check_columns(data, [yname, idname, tname, weights, by, baseline if isinstance(baseline, str) else None])
    level = check_level(level)
    cpi = pd.Series(cpi, dtype="float64")
    cpi.index = cpi.index.astype("int64")
    years = numeric(data, tname).astype("int64")
    missing = sorted(set(years) - set(cpi.index))
    if missing:
        raise DataError(f"cpi has no value for year(s) {missing[:10]}; it covers {list(cpi.index)}")
    frame = pd.DataFrame({"id": data[idname].to_numpy(), "t": years,
                          "real": numeric(data, yname) / cpi.loc[years].to_numpy(),
                          "w": unit_weights(data, weights)})
    if by is not None:
        frame["by"] = data[by].astype(str).to_numpy()
    if isinstance(baseline, str):
        frame["base_year"] = pd.to_numeric(data[baseline], errors="coerce").to_numpy()
    else:
        frame["base_year"] = float(baseline)
    frame = frame.sort_values(["id", "t"], kind="stable")
    base = frame[frame["t"] == frame["base_year"]].drop_duplicates("id").set_index("id")["real"]
    if at is None:
        cur = frame.groupby("id", sort=True).tail(1).set_index("id")
    else:
        cur = frame[frame["t"] == at].drop_duplicates("id").set_index("id")
    hh = cur[["t", "w", "base_year"] + (["by"] if by else [])].rename(columns={"t": "year"})
    hh["baseline_real"] = base.reindex(hh.index)
    hh["current_real"] = cur["real"]
    hh = hh[hh["year"] > hh["base_year"]]
    excluded = int((~(hh["baseline_real"] > 0)).sum())
    hh = hh[hh["baseline_real"] > 0]
    if hh.empty:
        raise DataError("no household has a positive baseline income observed before the year evaluated")
    hh["ratio"] = hh["current_real"] / hh["baseline_real"]
    hh["restored"] = hh["ratio"] >= threshold
    rows = []

    def block(part, label):
        r, w = part["restored"].to_numpy(dtype="float64"), part["w"].to_numpy()
        share, se = _weighted_share_se(r, w)
        mean_ratio, se_ratio = _weighted_share_se(part["ratio"].to_numpy(), w)
        rows.append((label, "share_restored", share, se, len(part)))
        rows.append((label, "mean_ratio", mean_ratio, se_ratio, len(part)))
        rows.append((label, "median_ratio", float(part["ratio"].median()), np.nan, len(part)))

    block(hh, "all")
    if by:
        for key, part in hh.groupby("by", sort=True):
            block(part, key)
    tab = normal_table([r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows], level=level)
    tab.insert(1, by or "group", [r[0] for r in rows])
    tab["n_households"] = [r[4] for r in rows]
    households = hh.reset_index().rename(columns={"id": idname, "w": "weight", "base_year": "baseline_year"})
    households["baseline_year"] = households["baseline_year"].astype("int64")
    glance = {"n_households": len(hh), "excluded_no_baseline": excluded, "threshold": threshold,
              "weights": weights or "none", "cpi_years": f"{cpi.index.min()}-{cpi.index.max()}"}
    notes = ["Real terms: each income divided by the CPI of its year; ratio = current / own baseline.",
             "SE of shares and means: linearised, households as independent units (n/(n-1)); use "
             "baode_eval.survey for complex designs."]
    return IncomeRestorationResult(households, tab, level, glance, notes)


# ---- attrition ---------------------------------------------------------------------------------

class AttritionResult(ImpactResult):
    title = "Attrition (leaving the panel / the site)"

    def __init__(self, table, by_period, level, glance, notes):
        self._tidy = table
        self._by_period = by_period
        self.level = level
        self._glance = glance
        self.notes = notes
        self._overall = overall_from_row(table[table["term"] == "difference"].iloc[0])

    def by_period(self) -> pd.DataFrame:
        """Share of the baseline households gone by each period, relocated vs comparison."""
        return self._by_period.copy()

    def plot(self, *, ax=None):
        from ..plots import _axes

        fig, ax = _axes(ax, (6, 3.5))
        bp = self._by_period
        for col, colour, label in (("relocated", "#C44E52", "搬迁 relocated"), ("comparison", "#4C72B0", "对照 comparison")):
            ax.plot(bp["time"], bp[col], "o-", color=colour, label=label)
        ax.set_xlabel("年份 time")
        ax.set_ylabel("流失率 share gone")
        ax.set_title("样本流失 Attrition", fontsize=10)
        ax.legend(frameon=False, fontsize=8)
        return fig, ax


def attrition(data: pd.DataFrame, *, idname: str, tname: str, gname: str, left: str | None = None,
              weights: str | None = None, level: float = 0.95) -> AttritionResult:
    """Attrition by group: who is gone by the last period, relocated (``gname > 0``) vs comparison.

    A household is "gone" in a period if it has no row then (it left the panel) or, when
    ``left`` names a 0/1 column (e.g. ``returned_to_origin``), if that column is 1. Returns the
    attrition rate per group and their difference (with a two-sample SE) and ``by_period()``.
    Differential attrition threatens every comparison of stayers; leaving the site can itself be
    analysed as an outcome with ``staggered_did(yname=left, ...)``.
    """
    check_columns(data, [idname, tname, gname, left, weights])
    level = check_level(level)
    t = numeric(data, tname)
    frame = pd.DataFrame({"id": data[idname].to_numpy(), "t": t, "g": first_treatment(data, gname),
                          "w": unit_weights(data, weights),
                          "left": numeric(data, left) if left else np.zeros(len(t))})
    periods = np.sort(np.unique(t))
    first = frame.groupby("id").agg(g=("g", "first"), w=("w", "first"), t0=("t", "min"))
    panel = first[first["t0"] == periods[0]]                # households present at baseline
    present = frame[frame["left"] == 0].pivot_table(index="id", columns="t", values="g", aggfunc="size")
    present = present.reindex(index=panel.index, columns=periods).notna()
    gone = ~present.to_numpy()
    relocated = panel["g"].to_numpy() > 0
    w = panel["w"].to_numpy()
    rows = []
    for k, tt in enumerate(periods):
        rows.append({"time": int(tt), "relocated": float(np.average(gone[relocated, k], weights=w[relocated])) if relocated.any() else np.nan,
                     "comparison": float(np.average(gone[~relocated, k], weights=w[~relocated])) if (~relocated).any() else np.nan})
    by_period = pd.DataFrame(rows)
    last = gone[:, -1].astype("float64")
    if not relocated.any() or relocated.all():
        raise DataError(f"attrition needs both relocated ({gname} > 0) and comparison ({gname} == 0) households")
    p1, se1 = _weighted_share_se(last[relocated], w[relocated])
    p0, se0 = _weighted_share_se(last[~relocated], w[~relocated])
    tab = normal_table(["attrition_relocated", "attrition_comparison", "difference"], [p1, p0, p1 - p0],
                       [se1, se0, float(np.sqrt(se1**2 + se0**2))], level=level)
    glance = {"n_households_baseline": len(panel), "n_relocated": int(relocated.sum()),
              "last_period": int(periods[-1]), "definition": f"no row{' or ' + left + ' = 1' if left else ''}"}
    return AttritionResult(tab, by_period, level, glance,
                           ["Attrition = share of baseline households gone by the last period; SE: independent "
                            "households (linearised), difference from two independent samples."])
