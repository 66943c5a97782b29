"""Income of relocated households: levels, growth, distribution, the monitoring line, restoration
of pre-move income, and comparison with reference series.

* **Levels and growth** come from the indicator engine (:mod:`baode_eval.scorecard`), indicator
  ``per_capita_net_income`` of the goal framework: the person-weighted ratio
  ``sum(w * income_pc * size) / sum(w * size)``, with design-based intervals when the data carry
  survey weights (census values otherwise); growth ``R_t / R_{t-1} - 1`` with a linearised SE
  beside the growth of the reference series (national rural disposable income: a different
  concept, see :data:`CONCEPT_CAVEAT`).
* **Share below a line**: :func:`baode_eval.survey.estimate` (proportion, logit interval) of
  households whose per-capita net income is below the line of their year (strictly below, as
  the framework's ``below_monitoring_line``).
* **Distribution**: weighted quantiles (:func:`weighted_quantile`, inverse of the weighted
  empirical distribution function) and the Gini coefficient (:func:`gini`) over households,
  each household counted once with its survey weight. No standard errors are given for
  quantiles (the engine has no quantile variance; a Woodruff interval would be new code).
* **Restoration**: :func:`baode_eval.impact.income_restoration` against each household's own
  income in the year before its move, deflated by a price index from the reference data.

Every function leaves its input frames unchanged.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import framework as fw
from . import scorecard, survey
from .errors import DataError, ParameterError
from .i18n import check_lang
from .options import check_level
from .reports import NotApplicable

INCOME = "per_capita_net_income"
LEVEL_INDICATOR = "per_capita_net_income"
PROBS = (0.1, 0.25, 0.5, 0.75, 0.9)
CPI_SERIES = "national_cpi"
# Reference series set beside the relocated households' income, with their concept.
REFERENCE_SERIES = (
    ("national_rural_disposable_income", "disposable_income"),
    ("formerly_poor_net_income", "net_income"),
    ("relocated_poor_net_income", "net_income"),
)
CONCEPT_CAVEAT = {
    "zh": "注意口径: 监测系统的“人均纯收入”与国家统计局住户调查的“人均可支配收入”不是同一指标,"
          "两者比较只作参考; 只有纯收入序列是同口径比较。",
    "en": "Mind the concepts: the monitoring system's per-capita net income (纯收入) is not the NBS household "
          "survey's disposable income (可支配收入); comparisons with disposable income are indicative only, "
          "only the net-income series compare like with like.",
}


# ----------------------------------------------------------------------------------------------
# pure functions


def weighted_quantile(values, probs, weights=None) -> np.ndarray:
    """Quantiles of the weighted empirical distribution: for each ``p`` the smallest ``x`` with
    ``F(x) >= p``, ``F(x) = sum(w_i : x_i <= x) / sum(w_i)`` (Hyndman & Fan 1996, definition 1;
    with equal weights it equals ``numpy.quantile(..., method="inverted_cdf")``, and integer
    weights act as repeated rows). Missing values (or weights) are left out.
    """
    x = np.asarray(values, dtype=np.float64)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    if x.shape != w.shape:
        raise ParameterError(f"values and weights differ in length: {x.shape} vs {w.shape}")
    p = np.atleast_1d(np.asarray(probs, dtype=np.float64))
    if np.any((p < 0) | (p > 1)):
        raise ParameterError(f"probs must lie in [0, 1], got {list(p)}")
    ok = ~(np.isnan(x) | np.isnan(w))
    x, w = x[ok], w[ok]
    if np.any(w < 0):
        raise ParameterError("weights must be non-negative")
    total = w.sum()
    if len(x) == 0 or total <= 0:
        return np.full(p.shape, np.nan)
    order = np.argsort(x, kind="stable")
    x, cum = x[order], np.cumsum(w[order])
    # relative tolerance: cumulative sums of equal weights must hit p * total exactly
    idx = np.searchsorted(cum, p * total * (1 - 1e-12), side="left")
    return x[np.minimum(idx, len(x) - 1)]


def gini(values, weights=None) -> float:
    """Gini coefficient ``sum_ij w_i w_j |x_i - x_j| / (2 W^2 mean)`` of the weighted distribution
    (the population form, no small-sample correction; Lerman & Yitzhaki 1989 for weights).
    Missing values are left out; NaN when the mean is not positive."""
    x = np.asarray(values, dtype=np.float64)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    ok = ~(np.isnan(x) | np.isnan(w))
    x, w = x[ok], w[ok]
    total, mass = w.sum(), np.sum(w * x)
    if len(x) == 0 or total <= 0 or mass <= 0:
        return float("nan")
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    before = np.cumsum(w) - w          # weight strictly before i (ties cancel in the sum)
    after = total - before - w
    return float(np.sum(w * x * (before - after)) / (total * mass))


def price_index(reference: pd.DataFrame, series: str = CPI_SERIES) -> pd.Series:
    """Price level by year (first year = 100) chained from a ``price_index`` reference series given
    as "previous year = 100". Years must be consecutive."""
    rows = reference[reference["series"] == series]
    if rows.empty:
        known = sorted(reference.loc[reference["concept"] == "price_index", "series"].unique())
        raise ParameterError(f"no price-index series {series!r} in the reference data; price-index series: {known}")
    s = rows.set_index(rows["year"].astype(int))["value"].astype(float).sort_index()
    years = list(s.index)
    if years != list(range(years[0], years[-1] + 1)):
        raise DataError(f"price-index series {series!r} has gaps: years {years}")
    level = 100.0 * np.cumprod(np.r_[1.0, s.to_numpy()[1:] / 100.0])
    return pd.Series(level, index=pd.Index(years, name="year"), name=series)


def poverty_lines(reference: pd.DataFrame, years: Sequence[int], *, override: float = 0.0) -> pd.DataFrame:
    """The income line applied in each year: ``override`` (> 0) for every year; otherwise the
    provincial monitoring line of the year from the reference data (``monitoring_line``), else
    the national poverty line of that year (``national_poverty_line``), else none (NaN).

    Returns ``year, line, series, status`` (series ``parameter`` for an override, ``None`` when
    no line is known)."""
    rows = []
    for y in sorted({int(v) for v in years}):
        if override and override > 0:
            rows.append((y, float(override), "parameter", "parameter"))
            continue
        for series in ("monitoring_line", "national_poverty_line"):
            hit = reference[(reference["series"] == series) & (reference["year"] == y)]
            if len(hit):
                rows.append((y, float(hit["value"].iloc[0]), series, str(hit["status"].iloc[0])))
                break
        else:
            rows.append((y, np.nan, None, None))
    return pd.DataFrame(rows, columns=["year", "line", "series", "status"])


# ----------------------------------------------------------------------------------------------
# estimates on household data


def design_of(data: pd.DataFrame) -> survey.Design:
    """The survey design of ``data``: canonical ``weight/stratum/psu/fpc`` when ``weight`` has values,
    else census (as the scorecard decides)."""
    return scorecard.resolve_design(data, "auto")


def _design_kwargs(design: survey.Design) -> dict:
    return {"weights": design.weights, "strata": design.strata, "psu": design.psu, "fpc": design.fpc,
            "lonely_psu": design.lonely_psu}


def needed_columns(what: str) -> list[str]:
    """Canonical columns each income section needs."""
    return {
        "levels": [INCOME, "household_size", "year"],
        "below_line": [INCOME, "year"],
        "distribution": [INCOME, "year"],
        "restoration": ["household_id", "year", INCOME, "relocation_year"],
    }[what]


def missing(data: pd.DataFrame, what: str) -> NotApplicable | None:
    """``NotApplicable`` naming the columns ``what`` needs that ``data`` lacks (absent or empty)."""
    lacking = [c for c in needed_columns(what) if c not in data.columns or not data[c].notna().any()]
    if what == "restoration" and lacking == ["relocation_year"]:
        return NotApplicable(what, "no_relocation_year")
    return NotApplicable(what, "missing_columns", {"columns": lacking}) if lacking else None


def levels(data: pd.DataFrame, *, by: Sequence[str] = ("relocated", "year"), framework=None, level: float = 0.95,
           reference: pd.DataFrame | None = None, lang: str = "zh") -> pd.DataFrame:
    """Per-capita net income by domain (the framework's indicator, through the scorecard engine)
    with growth over the previous year and the reference growth beside it.

    Returns the ``by`` columns, ``estimate, std_error, ci_low, ci_high, n`` (households) and
    ``growth, growth_se, reference_growth, growth_gap, reference_series`` (NaN in a domain's
    first year)."""
    by = tuple(by)
    if "year" not in by:
        raise ParameterError(f"by must include 'year' (growth is year on year), got {list(by)}")
    fwk = framework if isinstance(framework, fw.Framework) else fw.load(framework)
    sub = fwk.select(indicators=[LEVEL_INDICATOR])
    card = scorecard.build(data, sub, by=by, level=level, lang=lang, reference=reference)
    table = card.tidy()[[*by, "estimate", "std_error", "ci_low", "ci_high", "n"]]
    ch = card.changes()
    cols = ["growth", "growth_se", "reference_growth", "growth_gap", "reference_series"]
    if len(ch):
        prev = ch.loc[ch["comparison"] == "previous_year", [*by, *cols]]
        for c in by:  # categorical domain columns: align dtypes for the merge
            prev[c] = prev[c].astype(table[c].dtype)
        table = table.merge(prev, on=list(by), how="left")
    else:
        for c in cols:
            table[c] = np.nan
    table["reference_series"] = table["reference_series"].astype(object)
    return table.dropna(subset=[c for c in by if c != "year"]).reset_index(drop=True)


def below_line(data: pd.DataFrame, lines: pd.DataFrame, *, by: Sequence[str] = ("year",),
               design: survey.Design | None = None, level: float = 0.95) -> pd.DataFrame:
    """Share of households whose per-capita net income is below the line of their year.

    ``lines``: :func:`poverty_lines` (``year, line``). Years without a line are left out. Domains
    (``by``) are estimated with the full design. Returns ``by``, ``line`` and
    ``estimate, std_error, ci_low, ci_high, n``."""
    by = list(by)
    design = design or design_of(data)
    line_of = dict(zip(lines["year"].astype(int), lines["line"].astype(float)))
    year = pd.to_numeric(data["year"], errors="coerce").to_numpy(np.float64)
    line = np.array([line_of.get(int(y), np.nan) if not np.isnan(y) else np.nan for y in year])
    income = pd.to_numeric(data[INCOME], errors="coerce").to_numpy(np.float64, na_value=np.nan)
    below = np.where(np.isnan(income) | np.isnan(line), np.nan, (income < line).astype(np.float64))
    frame = data[list(dict.fromkeys([*by, *design.columns()]))].copy()
    frame["_below"] = below
    out = survey.estimate(frame, "_below", kind="proportion", by=by or None, level=check_level(level),
                          **_design_kwargs(design))
    if "year" in by:
        out.insert(len(by), "line", out["year"].astype(int).map(line_of).astype(float))
        out = out[out["line"].notna()]
    return out.reset_index(drop=True)


def distribution(data: pd.DataFrame, *, by: Sequence[str] = (), weights: str | None = None,
                 probs: Sequence[float] = PROBS, column: str = INCOME) -> pd.DataFrame:
    """Quantiles, mean, P90/P10 and Gini of per-capita net income over households, per domain.

    Returns the ``by`` columns, ``n`` (households with an income), ``mean``, one ``p10``-style
    column per probability, ``p90_p10`` (when both are asked) and ``gini``."""
    by = list(by)
    cols = [column, *by] + ([weights] if weights else [])
    absent = [c for c in cols if c not in data.columns]
    if absent:
        raise ParameterError(f"columns not in the data: {absent}")
    x = pd.to_numeric(data[column], errors="coerce").to_numpy(np.float64, na_value=np.nan)
    w = (pd.to_numeric(data[weights], errors="coerce").to_numpy(np.float64, na_value=np.nan)
         if weights else np.ones(len(x)))
    names = [f"p{round(100 * p):02d}" for p in probs]
    groups = data.groupby(by, sort=True, observed=True, dropna=True).indices if by else {(): np.arange(len(x))}
    rows = []
    for key, idx in groups.items():
        xi, wi = x[idx], w[idx]
        ok = ~(np.isnan(xi) | np.isnan(wi))
        q = weighted_quantile(xi, probs, wi)
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        row.update(n=int(ok.sum()), mean=float(np.sum(wi[ok] * xi[ok]) / wi[ok].sum()) if ok.any() else np.nan)
        row.update(dict(zip(names, q)))
        if "p10" in names and "p90" in names:
            row["p90_p10"] = row["p90"] / row["p10"] if row["p10"] > 0 else np.nan
        row["gini"] = gini(xi, wi)
        rows.append(row)
    return pd.DataFrame(rows)


def baseline_frame(data: pd.DataFrame) -> tuple[pd.DataFrame, NotApplicable | None]:
    """Relocated households' rows with ``baseline_year`` = the year before the move, and whether any
    household has an income observed in its baseline year (else a :class:`NotApplicable`)."""
    na = missing(data, "restoration")
    if na is not None:
        return data.iloc[:0], na
    reloc = pd.to_numeric(data["relocation_year"], errors="coerce")
    keep = reloc.notna() & (reloc > 0)
    if "relocated" in data.columns:
        keep &= data["relocated"].astype("boolean").fillna(False).to_numpy(bool)
    frame = data.loc[keep.to_numpy(bool)].assign(baseline_year=reloc[keep] - 1)
    if frame.empty:
        return frame, NotApplicable("restoration", "no_relocated")
    year = pd.to_numeric(frame["year"], errors="coerce")
    income = pd.to_numeric(frame[INCOME], errors="coerce")
    has_base = (year == frame["baseline_year"]) & (income > 0)
    if not has_base.any():
        years = sorted(int(y) for y in pd.unique(pd.to_numeric(data["year"], errors="coerce").dropna()))
        return frame.iloc[:0], NotApplicable("restoration", "no_baseline",
                                             {"years": f"{years[0]}-{years[-1]}" if years else "-"})
    return frame, None


def restoration(data: pd.DataFrame, *, reference: pd.DataFrame, at: int, cpi_series: str = CPI_SERIES,
                by: str | None = "site", design: survey.Design | None = None, level: float = 0.95):
    """Income restoration at year ``at``: each relocated household's real per-capita net income over
    its own real income in the year before its move (:func:`baode_eval.impact.income_restoration`,
    deflated by ``cpi_series`` of the reference data). Returns the result, or a
    :class:`NotApplicable` saying why the data cannot support it."""
    from .impact import income_restoration

    frame, na = baseline_frame(data)
    if na is not None:
        return na
    if cpi_series not in set(reference["series"]):
        return NotApplicable("restoration", "no_cpi", {"series": cpi_series})
    cpi = price_index(reference, cpi_series)
    years = pd.to_numeric(frame["year"], errors="coerce").astype("int64")
    needed = sorted({int(at)} | {int(y) for y in frame["baseline_year"].unique()})
    covered = [y for y in needed if y in cpi.index]
    if int(at) not in cpi.index or len(covered) == 0:
        return NotApplicable("restoration", "cpi_years", {"covered": f"{cpi.index.min()}-{cpi.index.max()}",
                                                          "needed": needed})
    frame = frame.loc[years.isin(cpi.index).to_numpy()]
    design = design or design_of(data)
    if by is not None and (by not in frame.columns or not frame[by].notna().any()):
        by = None
    try:
        return income_restoration(frame, baseline="baseline_year", cpi=cpi, at=int(at), weights=design.weights,
                                  by=by, level=level)
    except DataError:  # nobody observed both at their baseline and at `at`
        return NotApplicable("restoration", "not_in_year", {"year": at})


def reference_comparison(levels_by_year: pd.Series, reference: pd.DataFrame, year: int,
                         lang: str = "zh") -> pd.DataFrame:
    """Relocated households' per-capita net income against the reference series, year for year:
    for each series the latest year ``<= year`` in which both have a value.

    ``levels_by_year``: estimate indexed by year. Returns ``series, label, concept, same_concept,
    year, relocated, reference, ratio, status`` (NaN where the series has no such year)."""
    check_lang(lang)
    est = levels_by_year.dropna()
    est.index = est.index.astype(int)
    rows = []
    for series, concept in REFERENCE_SERIES:
        ref = reference[reference["series"] == series]
        if ref.empty:
            continue
        values = ref.set_index(ref["year"].astype(int))["value"].astype(float)
        common = sorted(y for y in values.index if y in est.index and y <= year)
        y = common[-1] if common else None
        rel = float(est[y]) if y is not None else np.nan
        val = float(values[y]) if y is not None else np.nan
        rows.append({"series": series, "label": str(ref[f"label_{lang}"].iloc[0]), "concept": concept,
                     "same_concept": concept == "net_income", "year": y, "relocated": rel, "reference": val,
                     "ratio": rel / val if y is not None else np.nan, "status": str(ref["status"].iloc[0])})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------
# relocated households of the county and of each site (what the income report shows)

COUNTY = {"zh": "全县", "en": "County"}


def check_cpi_series(reference: pd.DataFrame, cpi_series: str, *, name: str = "cpi_series") -> str:
    """``cpi_series`` must name a price-index series of the reference data (the error lists them)."""
    known = sorted(reference.loc[reference["concept"] == "price_index", "series"].unique())
    if cpi_series not in known:
        raise ParameterError(f"{name}={cpi_series!r} is not a price-index series of the reference data; "
                             f"available: {known}")
    return cpi_series


def _relocated_mask(data: pd.DataFrame) -> np.ndarray:
    return data["relocated"].astype("boolean").fillna(False).to_numpy(bool)


def by_scope(estimator, data: pd.DataFrame, *, lang: str = "zh", **options) -> pd.DataFrame:
    """``estimator(data, by=(...), **options)`` for the relocated households of the county and of
    each site, estimated with the full design (domains, never subsets). Returns a ``domain``
    column (the county label in ``lang``, then site names) and the estimator's other columns."""
    check_lang(lang)
    parts = []
    county = estimator(data, by=("relocated", "year"), **options)
    county = county[county["relocated"].astype("boolean").fillna(False).to_numpy(bool)]
    parts.append(county.drop(columns="relocated").assign(domain=COUNTY[lang]))
    if "site" in data.columns and data["site"].notna().any():
        sites = estimator(data, by=("relocated", "site", "year"), **options)
        sites = sites[sites["relocated"].astype("boolean").fillna(False).to_numpy(bool)]
        parts.append(sites.drop(columns=["relocated"]).assign(domain=sites["site"].astype(str)).drop(columns="site"))
    out = pd.concat(parts, ignore_index=True)
    return out[["domain", *[c for c in out.columns if c != "domain"]]]


def scope_distribution(data: pd.DataFrame, year: int, *, weights: str | None = None, lang: str = "zh",
                       probs: Sequence[float] = PROBS) -> pd.DataFrame:
    """:func:`distribution` of relocated households in ``year``: the county, then each site."""
    check_lang(lang)
    rows = data.loc[_relocated_mask(data) & (pd.to_numeric(data["year"], errors="coerce") == year).to_numpy(bool)]
    county = distribution(rows, weights=weights, probs=probs).assign(domain=COUNTY[lang])
    parts = [county]
    if "site" in rows.columns and rows["site"].notna().any():
        sites = distribution(rows, by=["site"], weights=weights, probs=probs)
        parts.append(sites.assign(domain=sites["site"].astype(str)).drop(columns="site"))
    out = pd.concat(parts, ignore_index=True)
    return out[["domain", *[c for c in out.columns if c != "domain"]]]


def reference_rows(reference: pd.DataFrame, years: Sequence[int]) -> pd.DataFrame:
    """The reference income series (:data:`REFERENCE_SERIES`) within the span of ``years``."""
    lo, hi = min(years), max(years)
    keep = reference["series"].isin([s for s, _ in REFERENCE_SERIES]) & reference["year"].between(lo, hi)
    return reference.loc[keep].reset_index(drop=True)


def line_label(row, lang: str = "zh") -> str:
    """Where a year's line comes from, in words (a row of :func:`poverty_lines`)."""
    words = {
        "parameter": ("参数 monitoring_line 指定", "set by the parameter monitoring_line"),
        "monitoring_line": ("省级防返贫监测线(内置参照数据)", "provincial monitoring line (bundled reference data)"),
        "national_poverty_line": ("国家贫困标准(内置参照数据)", "national poverty line (bundled reference data)"),
        None: ("无", "none"),
    }
    i = 0 if lang == "zh" else 1
    text = words.get(row["series"], words[None])[i]
    if row.get("status") == "unverified":
        text += " [未核实]" if lang == "zh" else " [unverified]"
    return text


def restoration_overall(result) -> dict:
    """``{share_restored, mean_ratio, median_ratio, n_households}`` over all households of an
    income-restoration result (the row group ``all``)."""
    t = result.tidy()
    group = [c for c in t.columns if c not in ("term", "estimate", "std_error", "statistic", "p_value", "ci_low",
                                                "ci_high", "n_households")][0]
    rows = t[t[group] == "all"].set_index("term")
    out = {term: float(rows.loc[term, "estimate"]) for term in ("share_restored", "mean_ratio", "median_ratio")}
    out["n_households"] = int(rows["n_households"].iloc[0])
    return out
