"""Helpers shared by the report notebooks: parameter checks whose errors name the parameter,
"not applicable, because ..." notes in the report's language, and small-cell suppression.

A notebook validates its parameters in the cell after the ``parameters`` cell::

    year_shown = reports.report_year(data, year)      # 0 -> latest; else must be in the data
    site_shown = reports.report_site(data, site)      # "" -> all sites; else must be a site
    min_cell = reports.check_min_cell(min_cell)

and, where the data cannot support a section, prints ``NotApplicable(...).text(lang)`` instead
of failing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import ParameterError
from .i18n import check_lang

# ----------------------------------------------------------------------------------------------
# parameters


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def report_year(data: pd.DataFrame, year, *, column: str = "year", name: str = "year") -> int:
    """The year a report shows: ``0`` is the latest year in the data, any other value must be one
    of the data's years (the error lists them)."""
    if not _is_int(year):
        raise ParameterError(f"{name} must be an integer year (0 = the latest in the data), got {year!r}")
    if column not in data.columns or not data[column].notna().any():
        raise ParameterError(f"{name}: the data have no {column!r} values, so no year can be shown")
    years = sorted(int(y) for y in pd.unique(data[column].dropna()))
    if year == 0:
        return years[-1]
    if int(year) not in years:
        raise ParameterError(f"{name}={year} is not in the data; available years: {_years_text(years)}")
    return int(year)


def _years_text(years: list[int]) -> str:
    if years == list(range(years[0], years[-1] + 1)):
        return f"{years[0]}-{years[-1]}"
    return ", ".join(map(str, years))


def report_site(data: pd.DataFrame, site, *, column: str = "site", name: str = "site") -> str:
    """``""`` means all sites (the county); any other value must be a site in the data (the error
    lists the valid sites)."""
    if not isinstance(site, str):
        raise ParameterError(f"{name} must be a site name or \"\" for all sites, got {site!r}")
    if site == "":
        return ""
    if column not in data.columns:
        raise ParameterError(f"{name}={site!r}: the data have no {column!r} column, so only \"\" (all) is possible")
    sites = sorted(str(s) for s in pd.unique(data[column].dropna()))
    if site not in sites:
        raise ParameterError(f"{name}={site!r} is not in the data; valid sites: {sites} (or \"\" for all sites)")
    return site


def check_min_cell(min_cell, *, name: str = "min_cell") -> int:
    """Smallest number of sampled households a published cell may rest on (0 = no suppression)."""
    if not _is_int(min_cell) or min_cell < 0:
        raise ParameterError(f"{name} must be a non-negative integer (households), got {min_cell!r}")
    return int(min_cell)


def check_non_negative(value, *, name: str) -> float:
    """A number >= 0 (e.g. ``monitoring_line``, where 0 means "use the bundled value")."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or value < 0:
        raise ParameterError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


# ----------------------------------------------------------------------------------------------
# "not applicable, because ..."

_WHAT = {
    "weights": ("抽样权数", "Survey weights"),
    "restoration": ("收入恢复(对照搬迁前基线)", "Income restoration against the pre-move baseline"),
    "below_line": ("低于监测线比例", "Share below the monitoring line"),
    "levels": ("收入水平", "Income levels"),
    "growth": ("收入增速", "Income growth"),
    "distribution": ("收入分布", "Income distribution"),
    "reference": ("与参照序列比较", "Comparison with reference series"),
    "indicators": ("部分指标", "Some indicators"),
    "section": ("本节", "This section"),
    "hukou": ("户籍迁移", "Household registration (hukou) transfer"),
    "integration_items": ("社会融入量表", "Integration items"),
    "work_place": ("就业地点", "Place of work"),
}

_BECAUSE = {
    "no_weights": ("数据没有抽样权数,视为普查:估计值是全部户的精确值,不含抽样误差",
                   "the data carry no survey weights, so they are treated as a census: estimates are exact values "
                   "over all households, with no sampling error"),
    "missing_columns": ("数据缺少字段 {columns}", "the data lack the column(s) {columns}"),
    "no_relocation_year": ("数据没有搬迁年度(relocation_year),无法确定搬迁前基线",
                           "the data carry no year of relocation (relocation_year), so there is no pre-move baseline"),
    "no_baseline": ("没有搬迁户在搬迁前一年有收入记录(数据年份 {years})",
                    "no relocated household has an income recorded in the year before its move (data years {years})"),
    "no_cpi": ("参照数据中没有价格指数序列 {series}", "the reference data hold no price-index series {series}"),
    "cpi_years": ("价格指数只覆盖 {covered},不含所需年份 {needed}",
                  "the price index covers {covered} only, not the years needed ({needed})"),
    "no_line": ("参照数据中没有 {year} 年的监测线或国家贫困线,可用参数 monitoring_line 指定",
                "the reference data hold no monitoring or poverty line for {year}; set the parameter monitoring_line"),
    "not_in_year": ("{year} 年没有可用记录", "there are no usable records for {year}"),
    "no_relocated": ("数据中没有搬迁户", "the data hold no relocated household"),
    "no_reference_year": ("参照序列在 {year} 年及以前没有数值", "the reference series have no value in or before {year}"),
    "no_goal": ("目标框架 {framework} 中没有目标 {goal}", "the goal framework {framework} has no goal {goal}"),
    "no_items": ("数据没有社会融入量表各项 ({columns})", "the data carry none of the integration items ({columns})"),
    "no_hukou": ("数据字段(data/codebook/schema.yaml)中没有户籍迁移项", "the canonical schema (data/codebook/schema.yaml) "
                 "has no hukou-transfer field"),
}


@dataclass(frozen=True)
class NotApplicable:
    """A section the data cannot support, with the reason; ``text(lang)`` is what the report prints."""

    what: str
    because: str
    detail: dict = field(default_factory=dict)

    def text(self, lang: str) -> str:
        check_lang(lang)
        i = 0 if lang == "zh" else 1
        what = _WHAT.get(self.what, (self.what, self.what))[i]
        detail = {k: (", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v) for k, v in self.detail.items()}
        because = _BECAUSE[self.because][i].format(**detail)
        return f"**{what}:不适用**,因为{because}。" if lang == "zh" else f"**{what}: not applicable**, because {because}."

    def __str__(self) -> str:  # the English text, for logs and errors
        return self.text("en").replace("**", "")


def design_note(census: bool, lang: str) -> str:
    """One sentence on how estimates are to be read: census values or design-based survey estimates."""
    check_lang(lang)
    if census:
        return NotApplicable("weights", "no_weights").text(lang)
    return ("估计值按抽样权数加权,区间为泰勒线性化设计区间(考虑分层与初级抽样单元)。" if lang == "zh" else
            "Estimates are weighted by the survey weights; intervals are design-based (Taylor linearisation with "
            "strata and primary sampling units).")


# ----------------------------------------------------------------------------------------------
# tables for people


def suppress_small(table: pd.DataFrame, *, n: str = "n", columns=None, min_cell: int = 0) -> pd.DataFrame:
    """A copy of ``table`` with ``columns`` (default: every numeric column but ``n``) blanked in rows
    resting on fewer than ``min_cell`` sampled units (column ``n``)."""
    out = table.copy()
    if not min_cell or n not in out.columns:
        return out
    small = out[n] < min_cell
    cols = columns if columns is not None else [c for c in out.columns
                                                if c != n and pd.api.types.is_numeric_dtype(out[c])]
    for c in cols:
        out[c] = out[c].astype("float64")
        out.loc[small, c] = np.nan
    return out


def with_relocated(data: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """``(data, True)`` when it has a ``relocated`` column; otherwise a copy in which every household
    counts as relocated, and ``False`` (the report says so)."""
    if "relocated" in data.columns and data["relocated"].notna().any():
        return data, True
    return data.assign(relocated=True), False


# ----------------------------------------------------------------------------------------------
# labelled tables

COLUMN_LABELS = {
    "site": ("安置点", "Site"), "year": ("年度", "Year"), "domain": ("范围", "Scope"),
    "estimate": ("估计值", "Estimate"), "std_error": ("标准误", "Std. error"), "ci_low": ("置信下限", "CI low"),
    "ci_high": ("置信上限", "CI high"), "n": ("户数", "Households"), "line": ("收入线(元)", "Line (yuan)"),
    "line_source": ("收入线来源", "Line source"), "growth": ("比上年增长", "Growth"),
    "reference_growth": ("全国农村可支配收入增长", "National rural disposable-income growth"),
    "growth_gap": ("增速差", "Growth gap"), "mean": ("均值", "Mean"), "p10": ("P10", "P10"), "p25": ("P25", "P25"),
    "p50": ("中位数", "Median"), "p75": ("P75", "P75"), "p90": ("P90", "P90"), "p90_p10": ("P90/P10", "P90/P10"),
    "gini": ("基尼系数", "Gini"), "label": ("指标", "Indicator"), "relocated": ("搬迁户", "Relocated"),
    "reference": ("参照值", "Reference"), "ratio": ("搬迁户/参照", "Relocated / reference"),
    "concept": ("口径", "Concept"), "status": ("来源状态", "Source status"), "term": ("项目", "Term"),
    "n_households": ("户数", "Households"), "group": ("范围", "Scope"), "verdict": ("结论", "Verdict"),
    "target": ("目标值", "Target"),
}


def labelled(frame: pd.DataFrame, *, lang: str, min_cell: int = 0, n: str = "n", suppress=None,
             labels: dict | None = None) -> pd.DataFrame:
    """A copy of ``frame`` for people: the ``suppress`` columns (default all numeric ones but ``n``)
    blanked in rows with fewer than ``min_cell`` units (column ``n``), columns labelled in ``lang``."""
    check_lang(lang)
    i = 0 if lang == "zh" else 1
    shown = suppress_small(frame, n=n, min_cell=min_cell, columns=suppress)
    names = {**COLUMN_LABELS, **(labels or {})}
    return shown.rename(columns={c: names[c][i] for c in shown.columns if c in names})


def table(frame: pd.DataFrame, *, lang: str, uuid: str, formats: dict | None = None, min_cell: int = 0,
          n: str = "n", labels: dict | None = None):
    """:func:`labelled` as a pandas Styler: numbers formatted (``formats``: column -> format
    string), missing or suppressed cells shown as "—", index hidden, and a fixed ``uuid`` so that
    the HTML is the same on every run."""
    i = 0 if lang == "zh" else 1
    names = {**COLUMN_LABELS, **(labels or {})}
    shown = labelled(frame, lang=lang, min_cell=min_cell, n=n, labels=labels,
                     suppress=[c for c in (formats or {}) if c in frame.columns and c != n])
    fmt = {(names[c][i] if c in names else c): f for c, f in (formats or {}).items() if c in frame.columns}
    return shown.style.set_uuid(uuid).hide(axis="index").format(fmt, na_rep="—")


def write_tables(path, sheets: dict) -> "Path":
    """Officials' workbook: one sheet per ``{name: DataFrame}`` (already labelled and suppressed)."""
    from pathlib import Path

    path = Path(path)
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        for name, frame in sheets.items():
            frame.to_excel(xl, sheet_name=str(name)[:31], index=False)
    return path


def indicators_not_applicable(missing: dict, framework, lang: str) -> str:
    """Markdown list of the framework indicators the data cannot support and the columns each
    lacks (``missing`` from :func:`baode_eval.scorecard.build_available`); "" when none."""
    check_lang(lang)
    if not missing:
        return ""
    head = ("以下指标**不适用**,因为数据缺少所需字段:" if lang == "zh" else
            "These indicators are **not applicable**, because the data lack the columns they need:")
    items = [f"- {framework.indicator(i).label(lang)} (`{i}`): {', '.join(f'`{c}`' for c in cols)}"
             for i, cols in missing.items()]
    return "\n".join([head, *items])


def goal_missing(framework, goal: str) -> NotApplicable | None:
    """NotApplicable when ``framework`` has no goal ``goal``."""
    if goal in [g.id for g in framework.goals]:
        return None
    return NotApplicable("section", "no_goal", {"framework": framework.id, "goal": goal})
