"""Validation rules for household and person tables: an issue table, and which rows to quarantine.

Why a small rule engine of our own and not pandera: the rules here are few, mostly cross-field
(employed <= labour <= members, income components adding up, months between two YYYYMM
periods), they need messages in Chinese or English and a row number *as the user sees it in the
source file*, and warnings must keep a row while errors quarantine it. pandera would bring
pydantic, typeguard and typing-inspect for checks we would still write as lambdas, and its
failure cases carry index labels, not source rows. Each rule below is a :class:`Rule` (id,
severity, bilingual message template) plus one vectorised function; ranges and categories come
from the codebook, so adding a field with a ``range`` adds a check without code.

Severities: ``error`` quarantines the row, ``warning`` keeps it, ``info`` only records (skipped
total rows, dropped columns). Override a rule's severity with ``severity={"income_sum": "warning"}``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Literal

import numpy as np
import pandas as pd

from . import schema
from .errors import ParameterError
from .i18n import check_lang

Severity = Literal["error", "warning", "info"]
SEVERITIES = ("error", "warning", "info")
ISSUE_COLUMNS = ["rule", "row", "column", "value", "message", "severity"]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    en: str
    zh: str


RULES: dict[str, Rule] = {r.id: r for r in [
    # reading
    Rule("ragged_row", "error", "row has more cells ({value}) than the header", "该行单元格数({value})多于表头列数"),
    Rule("short_row", "warning", "row has fewer cells than the header; missing cells read as empty", "该行单元格数少于表头列数，缺少的单元格按空值处理"),
    Rule("total_row", "info", "total row skipped", "已跳过合计行"),
    Rule("note_row", "info", "note row after the table skipped", "已跳过表尾说明行"),
    Rule("unknown_column", "info", "column not in the codebook, dropped (keep_unknown=True keeps it)", "列不在代码本中，已删除（keep_unknown=True 可保留）"),
    Rule("duplicate_column", "warning", "a second column maps to {column}; the first is used", "另有一列对应 {column}，使用第一列"),
    Rule("personal_by_pattern", "info", "column holds ID or phone numbers; protected as personal data", "该列含身份证号或手机号，已按个人信息处理"),
    # fields
    Rule("required_column", "error", "required column {column} is missing; no row can be used", "缺少必需列 {column}，所有行均不可用"),
    Rule("missing_key", "error", "{column} is empty", "{column} 为空"),
    Rule("type", "error", "{column}: {value!r} is not a valid {type}", "{column}：{value!r} 不是有效的{type}"),
    Rule("non_finite", "error", "{column}: {value!r} is not a finite number", "{column}：{value!r} 不是有限数值"),
    Rule("category", "warning", "{column}: {value!r} is not one of {categories}; read as missing", "{column}：{value!r} 不在 {categories} 中，按缺失处理"),
    Rule("range", "error", "{column}: {value} is outside [{low}, {high}]", "{column}：{value} 超出范围 [{low}, {high}]"),
    Rule("id_as_number", "warning", "{column} stored as a number, not text: Excel keeps 15 digits, so the last digits may be lost", "{column} 以数值而非文本存储：Excel 只保留15位有效数字，末几位可能已丢失"),
    Rule("id_checksum", "warning", "{column} is not an 18-character ID number with a valid check digit", "{column} 不是校验位正确的18位身份证号"),
    # table
    Rule("duplicate_key", "error", "duplicate key {value}: same as row {other}", "重复主键 {value}：与第 {other} 行相同"),
    Rule("member_quarantined", "error", "another member of this household (row {other}) has errors; households are collapsed whole", "同户其他成员（第 {other} 行）有错误，整户隔离后再汇总"),
    Rule("duplicate_id_number", "error", "{column} repeats row {other} in the same year", "{column} 与第 {other} 行重复（同一年度）"),
    # consistency
    Rule("members_order", "error", "{column} ({value}) exceeds {other_label} ({other_value})", "{column}（{value}）大于{other_label}（{other_value}）"),
    Rule("count_order", "warning", "{column} ({value}) exceeds {other_label} ({other_value})", "{column}（{value}）大于{other_label}（{other_value}）"),
    Rule("income_sum", "error", "income components add up to {other_value}, not {column} {value}", "各项收入合计为 {other_value}，与{column} {value} 不符"),
    Rule("per_capita", "error", "{column} {value} x household size differs from household net income {other_value}", "{column} {value} 乘以人数与家庭纯收入 {other_value} 不符"),
    Rule("months_worked", "error", "{column} {value} is more than 12 months per household member", "{column} {value} 超过每人12个月"),
    Rule("relocation_year", "error", "{column} {value} is outside the programme years {low}-{high}", "{column} {value} 不在项目年度 {low}-{high} 内"),
    Rule("relocated_without_year", "warning", "relocated but {column} is empty", "已搬迁但{column}为空"),
    Rule("period_order", "error", "{column} {value} is before monitoring began ({other_value})", "{column} {value} 早于纳入监测时间（{other_value}）"),
    # monitoring-system sanity rules (DOMAIN.md section 4)
    Rule("income_outlier", "warning", "{column} {value} is below {low} or above {high}", "{column} {value} 低于 {low} 或高于 {high}"),
    Rule("wage_small", "warning", "{column} {value} is between 0 and 100 yuan: suspicious", "{column} {value} 在0到100元之间，存疑"),
    Rule("quick_clearance", "warning", "risk cleared by assistance {value} month(s) after monitoring began (<= 2)", "纳入监测后 {value} 个月即帮扶消除风险（<=2个月）"),
]}

TYPE_WORDS = {
    "en": {"int": "whole number", "float": "number", "bool": "yes/no value", "period": "month (YYYYMM)",
           "date": "date", "string": "text", "category": "category"},
    "zh": {"int": "整数", "float": "数值", "bool": "是/否", "period": "年月(YYYYMM)", "date": "日期",
           "string": "文本", "category": "类别"},
}

# (smaller, larger, rule): counts of members that cannot exceed another count.
COUNT_ORDER = [
    ("employed_members", "labour_members", "members_order"),
    ("labour_members", "household_size", "members_order"),
    ("stably_employed_members", "employed_members", "count_order"),
    ("local_employed_members", "employed_members", "count_order"),
    ("public_welfare_job_members", "employed_members", "count_order"),
    ("workshop_job_members", "employed_members", "count_order"),
    ("trained_members", "household_size", "count_order"),
    ("medical_insured_members", "household_size", "count_order"),
    ("serious_illness_insured_members", "household_size", "count_order"),
    ("children_6_15_in_school", "children_6_15", "count_order"),
    ("children_6_15", "household_size", "count_order"),
    ("elders_served", "elders_in_need", "count_order"),
    ("elders_in_need", "household_size", "count_order"),
    ("inpatient_reimbursed", "inpatient_eligible_cost", "count_order"),
]
INCOME_PARTS = ("wage_income", "business_income", "property_income", "transfer_income")


@dataclass
class Options:
    """Parameters of the rules (all overridable through ``baode_eval.read(**options)``)."""

    programme_years: tuple[int, int] = (2016, 2020)
    income_outlier_bounds: tuple[float, float] = (500.0, 30000.0)
    income_abs_tolerance: float = 10.0
    income_rel_tolerance: float = 0.01
    quick_clearance_months: int = 2
    severity: dict | None = None
    lang: str = "en"

    def __post_init__(self):
        check_lang(self.lang)
        lo, hi = self.programme_years
        if lo > hi:
            raise ParameterError(f"programme_years must be (first, last), got {self.programme_years!r}")
        for rid, sev in (self.severity or {}).items():
            if rid not in RULES:
                raise ParameterError(f"severity: unknown rule {rid!r}; rules are {sorted(RULES)}")
            if sev not in SEVERITIES:
                raise ParameterError(f"severity of {rid!r} must be one of {list(SEVERITIES)}, got {sev!r}")

    def severity_of(self, rule_id: str) -> str:
        return (self.severity or {}).get(rule_id, RULES[rule_id].severity)


def message(rule_id: str, lang: str = "en", **values) -> str:
    """The message of a rule in ``lang``, with its placeholders filled."""
    template = getattr(RULES[rule_id], lang)
    values.setdefault("value", "")
    try:
        return template.format(**values)
    except (KeyError, IndexError):  # pragma: no cover - a template/argument mismatch is a bug
        return template


class Collector:
    """Accumulates issues as rows of the issue table, with the position (0-based) of the data row."""

    def __init__(self, options: Options, table: str, row_numbers=None):
        self.options = options
        self.row_numbers = None if row_numbers is None else np.asarray(row_numbers)
        self.table = table
        self.fields = schema.all_fields(table)
        self.records: list[dict] = []

    def row_of(self, pos: int) -> int:
        return int(self.row_numbers[pos]) if self.row_numbers is not None else pos + 2

    def label(self, column: str | None) -> str:
        if column is None:
            return ""
        f = self.fields.get(column)
        return f.label(self.options.lang) if f else str(column)

    def add(self, rule_id: str, pos: int | None, column: str | None, value=None, **extra) -> None:
        lang = self.options.lang
        text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else _short(_num(value))
        extra.setdefault("type", TYPE_WORDS[lang].get(self.fields[column].type, "") if column in self.fields else "")
        if isinstance(extra.get("other"), str) and "other_label" not in extra:
            extra["other_label"] = self.label(extra["other"])
        msg = message(rule_id, lang, column=self.label(column), value=text if rule_id in ("type", "non_finite",
                      "category") else _num(value), **extra)
        self.records.append({"rule": rule_id, "_pos": pos, "column": column, "value": text, "message": msg,
                             "severity": self.options.severity_of(rule_id)})


def _short(value, limit: int = 60) -> str:
    s = str(value)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _num(value):
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    return value if value is not None else ""


# --- the rules on a typed table -------------------------------------------------------------

def _present(data: pd.DataFrame, *cols: str) -> bool:
    return all(c in data.columns for c in cols)


def _num_col(data: pd.DataFrame, col: str) -> pd.Series:
    return pd.to_numeric(data[col], errors="coerce").astype(float)


def check_ranges(data: pd.DataFrame, out: Collector) -> None:
    for name, f in out.fields.items():
        if name not in data.columns or f.range is None or f.type not in ("int", "float"):
            continue
        x = _num_col(data, name)
        lo, hi = f.range
        bad = (x < lo) | (x > hi)
        for pos in np.flatnonzero(bad.to_numpy()):
            out.add("range", int(pos), name, x.iloc[pos], low=_num(lo), high=_num(hi))


def check_keys(data: pd.DataFrame, out: Collector) -> None:
    keys = [k for k in schema.key(out.table) if k in data.columns]
    for k in keys:
        if k == "year":
            continue
        empty = data[k].isna().to_numpy()
        for pos in np.flatnonzero(empty):
            out.add("missing_key", int(pos), k)
    if not keys:
        return
    frame = data[keys].astype("string")
    usable = frame.notna().all(axis=1).to_numpy()
    _duplicates(frame, usable, out, "duplicate_key", column=keys[0], show_value=True)


def _duplicates(frame: pd.DataFrame, usable: np.ndarray, out: Collector, rule: str, column: str,
                show_value: bool) -> None:
    sub = frame[usable]
    dup = sub.duplicated(keep="first").to_numpy()
    if not dup.any():
        return
    positions = np.flatnonzero(usable)
    first_pos = {}
    for pos, tup in zip(positions, sub.itertuples(index=False, name=None)):
        first_pos.setdefault(tup, pos)
    for pos, tup, d in zip(positions, sub.itertuples(index=False, name=None), dup):
        if d:
            value = "/".join(str(v) for v in tup) if show_value else None
            out.add(rule, int(pos), column, value, other=out.row_of(int(first_pos[tup])))


def check_id_numbers(data: pd.DataFrame, out: Collector) -> None:
    if "id_number" not in data.columns:
        return
    other = "person_id" if out.table == "person" else "household_id"
    cols = ["id_number"] + (["year"] if "year" in data.columns else [])
    frame = data[cols].astype("string")
    usable = frame.notna().all(axis=1).to_numpy()
    if other in data.columns:
        # the same person or household in one year may appear once only; a repeated ID under
        # another key is the monitoring systems' "duplicate ID number"
        keyed = pd.concat([frame, data[[other]].astype("string")], axis=1)
        dedup_same = keyed.duplicated(keep="first").to_numpy()
        usable = usable & ~dedup_same
    _duplicates(frame, usable, out, "duplicate_id_number", column="id_number", show_value=False)


def check_counts(data: pd.DataFrame, out: Collector) -> None:
    for small, large, rule in COUNT_ORDER:
        if not _present(data, small, large):
            continue
        a, b = _num_col(data, small), _num_col(data, large)
        bad = (a > b).to_numpy()
        for pos in np.flatnonzero(bad):
            out.add(rule, int(pos), small, a.iloc[pos], other=large, other_value=_num(b.iloc[pos]))


def check_income(data: pd.DataFrame, out: Collector) -> None:
    o = out.options
    if _present(data, "net_income", *INCOME_PARTS):
        parts = sum(_num_col(data, c) for c in INCOME_PARTS)
        cost = _num_col(data, "business_cost").fillna(0.0) if "business_cost" in data else 0.0
        total = parts - cost
        net = _num_col(data, "net_income")
        tol = np.maximum(o.income_abs_tolerance, o.income_rel_tolerance * net.abs())
        bad = ((total - net).abs() > tol).to_numpy() & total.notna().to_numpy() & net.notna().to_numpy()
        for pos in np.flatnonzero(bad):
            out.add("income_sum", int(pos), "net_income", net.iloc[pos], other_value=round(float(total.iloc[pos]), 2))
    if _present(data, "per_capita_net_income", "household_size", "net_income"):
        pc, size, net = (_num_col(data, c) for c in ("per_capita_net_income", "household_size", "net_income"))
        tol = np.maximum(o.income_abs_tolerance * np.maximum(size, 1), o.income_rel_tolerance * net.abs())
        diff = (pc * size - net).abs()
        bad = (diff > tol).to_numpy() & diff.notna().to_numpy() & (size > 0).to_numpy()
        for pos in np.flatnonzero(bad):
            out.add("per_capita", int(pos), "per_capita_net_income", pc.iloc[pos], other_value=_num(net.iloc[pos]))
    if "per_capita_net_income" in data.columns:
        lo, hi = o.income_outlier_bounds
        pc = _num_col(data, "per_capita_net_income")
        for pos in np.flatnonzero(((pc < lo) | (pc > hi)).to_numpy()):
            out.add("income_outlier", int(pos), "per_capita_net_income", pc.iloc[pos], low=_num(lo), high=_num(hi))
    if "wage_income" in data.columns:
        w = _num_col(data, "wage_income")
        for pos in np.flatnonzero(((w > 0) & (w < 100)).to_numpy()):
            out.add("wage_small", int(pos), "wage_income", w.iloc[pos])


def check_months(data: pd.DataFrame, out: Collector) -> None:
    # person rows: the codebook range [0, 12] does it; household rows hold person-months
    if out.table == "household" and _present(data, "months_worked", "household_size"):
        m, size = _num_col(data, "months_worked"), _num_col(data, "household_size")
        for pos in np.flatnonzero((m > 12 * size).to_numpy()):
            out.add("months_worked", int(pos), "months_worked", m.iloc[pos])


def check_relocation(data: pd.DataFrame, out: Collector) -> None:
    if "relocation_year" not in data.columns:
        return
    lo, hi = out.options.programme_years
    ry = _num_col(data, "relocation_year")
    relocated = data["relocated"].astype("boolean") if "relocated" in data.columns else None
    for pos in np.flatnonzero(((ry < lo) | (ry > hi)).to_numpy() & (ry != 0).to_numpy()):
        out.add("relocation_year", int(pos), "relocation_year", ry.iloc[pos], low=lo, high=hi)
    if relocated is not None:
        bad = relocated.fillna(False).to_numpy(dtype=bool) & (ry.isna() | (ry == 0)).to_numpy()
        for pos in np.flatnonzero(bad):
            out.add("relocated_without_year", int(pos), "relocation_year")


def _months(period: pd.Series) -> pd.Series:
    """Months since year 0 of YYYYMM periods (NaN where not a period); computed once per distinct period."""
    codes, distinct = pd.factorize(period.astype("string"))
    s = pd.Series(distinct, dtype="string")
    y = pd.to_numeric(s.str.slice(0, 4), errors="coerce")
    m = pd.to_numeric(s.str.slice(4, 6), errors="coerce")
    months = np.append((y * 12 + m).astype(float).to_numpy(), np.nan)
    return pd.Series(months[np.asarray(codes)], index=period.index)


def check_monitoring(data: pd.DataFrame, out: Collector) -> None:
    if not _present(data, "monitoring_start", "risk_cleared_date"):
        return
    start, end = _months(data["monitoring_start"]), _months(data["risk_cleared_date"])
    gap = end - start
    for pos in np.flatnonzero((gap < 0).to_numpy()):
        out.add("period_order", int(pos), "risk_cleared_date", data["risk_cleared_date"].iloc[pos],
                other_value=data["monitoring_start"].iloc[pos])
    cleared = (data["risk_cleared"].astype("boolean").fillna(False).to_numpy(dtype=bool)
               if "risk_cleared" in data.columns else np.ones(len(data), bool))
    if "risk_clearance_way" in data.columns:
        way = data["risk_clearance_way"].astype("string")
        by_help = (way.isna() | (way == "帮扶消除")).to_numpy(dtype=bool)
    else:
        by_help = np.ones(len(data), bool)
    quick = ((gap >= 0) & (gap <= out.options.quick_clearance_months)).to_numpy() & cleared & by_help
    for pos in np.flatnonzero(quick):
        out.add("quick_clearance", int(pos), "risk_cleared_date", gap.iloc[pos])


TABLE_RULES: list[Callable[[pd.DataFrame, Collector], None]] = [
    check_keys, check_ranges, check_id_numbers, check_counts, check_income, check_months,
    check_relocation, check_monitoring,
]


def run_table_rules(data: pd.DataFrame, out: Collector) -> None:
    """Apply every table rule to a typed canonical frame whose index is 0..n-1."""
    for rule in TABLE_RULES:
        rule(data, out)


def validate(data: pd.DataFrame, *, table: str = "household", lang: str = "en", **options) -> pd.DataFrame:
    """Issue table of an already-canonical frame (e.g. the simulator's output).

    Rows are numbered as a sheet with one header line would show them (first data row = 2).
    The caller's frame is not modified. For files, use ``baode_eval.read`` instead.
    """
    schema.check_table(table)
    out = Collector(Options(lang=lang, **options), table, np.arange(2, len(data) + 2))
    run_table_rules(data.reset_index(drop=True), out)
    return issues_frame(out.records, np.arange(2, len(data) + 2))


def issues_frame(records: Iterable[dict], row_numbers) -> pd.DataFrame:
    """Issue table with source row numbers in place of positions (``row`` is Int64, NA for file-level)."""
    rows = []
    row_numbers = np.asarray(row_numbers)
    for rec in records:
        rec = dict(rec)
        pos = rec.pop("_pos")
        rec["row"] = None if pos is None else int(row_numbers[pos])
        rows.append(rec)
    frame = pd.DataFrame(rows, columns=ISSUE_COLUMNS)
    frame["row"] = pd.array(frame["row"].tolist(), dtype="Int64")
    for c in ("rule", "column", "value", "message", "severity"):
        frame[c] = frame[c].astype(object)
    return frame
