"""Tables for the data-quality report: what was read, what was quarantined and why, what is there.

Pure functions over a :class:`baode_eval.io.ReadResult`; labels in ``lang``. Nothing here shows
a personal value: the reader has already dropped or pseudonymised them and masked issue values.
"""
from __future__ import annotations

import pandas as pd

from . import schema
from .i18n import check_lang
from .privacy import suppress_small_cells

_T = {
    "item": {"zh": "项目", "en": "Item"},
    "value": {"zh": "数值", "en": "Value"},
    "file": {"zh": "文件", "en": "File"},
    "format": {"zh": "格式", "en": "Format"},
    "encoding": {"zh": "编码", "en": "Encoding"},
    "rows_in": {"zh": "读入行数", "en": "Rows read"},
    "rows_valid": {"zh": "有效行数", "en": "Rows kept"},
    "rows_quarantined": {"zh": "隔离行数", "en": "Rows quarantined"},
    "reconciled": {"zh": "行数核对(读入 = 有效 + 隔离)", "en": "Rows reconcile (read = kept + quarantined)"},
    "yes": {"zh": "是", "en": "yes"},
    "no": {"zh": "否", "en": "no"},
    "rule": {"zh": "规则", "en": "Rule"},
    "severity": {"zh": "级别", "en": "Severity"},
    "issues": {"zh": "问题数", "en": "Issues"},
    "example": {"zh": "示例", "en": "Example"},
    "field": {"zh": "字段", "en": "Field"},
    "label": {"zh": "含义", "en": "Meaning"},
    "present": {"zh": "有此字段", "en": "Present"},
    "missing_share": {"zh": "缺失比例", "en": "Missing share"},
    "site": {"zh": "安置点", "en": "Site"},
    "group": {"zh": "组别", "en": "Group"},
    "relocated": {"zh": "搬迁户", "en": "relocated"},
    "comparison": {"zh": "对照户", "en": "comparison"},
    "households": {"zh": "户数", "en": "Households"},
    "year": {"zh": "年度", "en": "Year"},
}


def _t(key: str, lang: str) -> str:
    return _T[key][lang]


def overview(result, lang: str = "zh") -> pd.DataFrame:
    """File, format, and the row reconciliation of one read."""
    check_lang(lang)
    rep = result.report
    rows = [
        ("file", str(rep.path).rsplit("/", 1)[-1]),
        ("format", rep.format),
        ("encoding", rep.encoding or "—"),
        ("rows_in", f"{rep.rows_in:,}"),
        ("rows_valid", f"{rep.rows_valid:,}"),
        ("rows_quarantined", f"{rep.rows_quarantined:,}"),
        ("reconciled", _t("yes" if rep.rows_in == rep.rows_valid + rep.rows_quarantined else "no", lang)),
    ]
    return pd.DataFrame({_t("item", lang): [_t(k, lang) for k, _ in rows], _t("value", lang): [v for _, v in rows]})


def issues_by_rule(result, lang: str = "zh") -> pd.DataFrame:
    """Issue counts by rule and severity, errors first, with one example message each."""
    check_lang(lang)
    issues = result.report.issues
    cols = [_t("rule", lang), _t("severity", lang), _t("issues", lang), _t("example", lang)]
    if issues.empty:
        return pd.DataFrame(columns=cols)
    order = {"error": 0, "warning": 1, "info": 2}
    g = (issues.groupby(["rule", "severity"], sort=False)
         .agg(n=("rule", "size"), example=("message", "first")).reset_index())
    g["o"] = g["severity"].map(order)
    g = g.sort_values(["o", "n", "rule"], ascending=[True, False, True], kind="stable")
    return pd.DataFrame({cols[0]: g["rule"].to_numpy(), cols[1]: g["severity"].to_numpy(),
                         cols[2]: g["n"].to_numpy(), cols[3]: g["example"].to_numpy()})


def field_coverage(data: pd.DataFrame, lang: str = "zh", table: str = "household") -> pd.DataFrame:
    """Every codebook field (personal ones excluded): present in the data? share missing."""
    check_lang(lang)
    rows = []
    for f in schema.fields(table):
        if f.personal:
            continue
        present = f.name in data.columns
        missing = float(data[f.name].isna().mean()) if present and len(data) else None
        rows.append((f.name, f.zh if lang == "zh" else f.en, _t("yes" if present else "no", lang), missing))
    return pd.DataFrame(rows, columns=[_t("field", lang), _t("label", lang), _t("present", lang), _t("missing_share", lang)])


def households_by_site_year(data: pd.DataFrame, lang: str = "zh", *, k: int = 5) -> pd.DataFrame:
    """Households per site (comparison households as one group) and year, cells < ``k`` suppressed."""
    check_lang(lang)
    d = data
    site = d["site"].astype("string") if "site" in d else pd.Series(pd.NA, index=d.index, dtype="string")
    if "relocated" in d:
        relocated = d["relocated"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        site = site.where(relocated, _t("comparison", lang))
    site = site.fillna("—")
    counts = (pd.DataFrame({"site": site.to_numpy(), "year": d["year"].to_numpy()})
              .groupby(["site", "year"]).size().rename("households").reset_index())
    counts = suppress_small_cells(counts, "households", k=k, columns=["households"])
    wide = counts.pivot(index="site", columns="year", values="households")
    wide.index.name = _t("site", lang)
    wide.columns = [int(c) for c in wide.columns]
    return wide
