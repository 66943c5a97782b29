"""The logic behind ``notebooks/04_impact.ipynb``: parameters, applicability, outcome panels, report tables.

The notebook stays thin (narrative plus calls); everything it decides or computes is here and
tested (tests/test_impact_notebook.py)::

    settings = notebook.settings(lang="en", outcomes=["log_per_capita_net_income"], ...)
    analysis = notebook.analyse(data, settings)        # never modifies ``data``
    analysis.att_table(); analysis.event_figure(); analysis.conclusions()

Three layers:

- :func:`settings` checks the notebook parameters and raises ``ParameterError`` naming the
  parameter (papermill itself accepts anything);
- :func:`applicability` and :func:`outcome_panel` decide whether the data can answer the
  question — one year of data, no comparison households for the chosen comparison, or an
  outcome that is absent or all missing give a reason ("not applicable, because …"), never an
  exception — and build a balanced household-year panel of one outcome from a copy;
- :class:`ImpactAnalysis` runs the estimators of ``baode_eval.impact`` (Callaway–Sant'Anna and
  TWFE side by side, event studies, heterogeneity by site, income restoration, attrition) and
  renders tables, figures and plain-language text in the report's language.
"""
from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Mapping

import numpy as np
import pandas as pd

from ..errors import DataError, ParameterError
from ..i18n import check_lang
from ._options import ControlGroup, check_choice, check_level

Estimator = Literal["cs", "twfe"]

ID, TIME, FIRST = "household_id", "year", "first_treated"
TREATED_NOW = "relocated_now"
DEFAULT_OUTCOMES = ("log_per_capita_net_income", "per_capita_net_income", "employment_rate", "family_doctor_signed")


# ---- outcomes -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """An outcome the notebook can analyse: a canonical household column or one derived from them."""

    name: str
    key: str                      # short name in results.json: impact.att_<key>
    zh: str
    en: str
    needs: tuple[str, ...]        # canonical columns it is built from
    build: Callable[[pd.DataFrame], np.ndarray]
    digits: int = 4
    unit_zh: str = ""
    unit_en: str = ""
    log: bool = False             # effect on a log scale: show exp(b) - 1 as a percentage
    share: bool = False           # a 0-1 share: effects read as percentage points

    def label(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en

    def unit(self, lang: str) -> str:
        return self.unit_zh if lang == "zh" else self.unit_en


def as_float(values: pd.Series) -> np.ndarray:
    """Numbers, booleans (True = 1) or nullable columns as float64, missing as NaN."""
    if pd.api.types.is_bool_dtype(values) or values.dtype == object:
        try:
            values = values.astype("boolean") if values.dtype == object else values
        except (TypeError, ValueError):
            pass
    if pd.api.types.is_bool_dtype(values):
        return values.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _log_positive(d: pd.DataFrame) -> np.ndarray:
    x = as_float(d["per_capita_net_income"])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), np.nan)


def _ratio(num: str, den: str) -> Callable[[pd.DataFrame], np.ndarray]:
    def build(d: pd.DataFrame) -> np.ndarray:
        n, m = as_float(d[num]), as_float(d[den])
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(m > 0, n / np.where(m > 0, m, 1.0), np.nan)
    return build


DERIVED = {
    "log_per_capita_net_income": Outcome(
        "log_per_capita_net_income", "log_income", "人均纯收入(对数)", "Per-capita net income (log)",
        ("per_capita_net_income",), _log_positive, unit_zh="对数点", unit_en="log points", log=True),
    "employment_rate": Outcome(
        "employment_rate", "employment_rate", "劳动力就业比例(有劳动力户)", "Share of labour employed (labour households)",
        ("employed_members", "labour_members"), _ratio("employed_members", "labour_members"),
        unit_zh="比例 (0–1)", unit_en="share (0–1)", share=True),
    "medical_insurance_rate": Outcome(
        "medical_insurance_rate", "medical_insurance_rate", "基本医保参保比例", "Share of members with basic medical insurance",
        ("medical_insured_members", "medical_should_enrol_members"),
        _ratio("medical_insured_members", "medical_should_enrol_members"), unit_zh="比例 (0–1)", unit_en="share (0–1)",
        share=True),
}
# Short result keys and display precision for canonical columns used often; others keep their name.
_CANONICAL_KEYS = {"per_capita_net_income": ("income", 1), "family_doctor_signed": ("family_doctor", 4)}
_NOT_OUTCOMES = {"year", "relocation_year", "weight", "fpc"}


def outcome_catalogue() -> dict[str, Outcome]:
    """Every outcome name the ``outcomes`` parameter accepts: derived outcomes, then numeric and
    yes/no household columns of the codebook (data/codebook/schema.yaml)."""
    from .. import schema

    out = dict(DERIVED)
    for f in schema.fields("household"):
        if f.type not in ("int", "float", "bool") or f.personal or f.name in _NOT_OUTCOMES:
            continue
        key, digits = _CANONICAL_KEYS.get(f.name, (f.name, 4))
        unit_en = "share (0–1)" if f.type == "bool" else (f.unit or "")
        unit_zh = "比例 (0–1)" if f.type == "bool" else {"yuan/person/year": "元/人/年", "persons": "人",
                                                         "yuan/year": "元/年"}.get(unit_en, unit_en)
        out[f.name] = Outcome(f.name, key, f.zh, f.en, (f.name,), (lambda d, c=f.name: as_float(d[c])),
                              digits=digits, unit_zh=unit_zh, unit_en=unit_en, share=f.type == "bool")
    return out


# ---- parameters ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """The notebook's parameters, checked."""

    lang: str
    outcomes: tuple[str, ...]
    comparison_group: str
    estimator: str
    years: tuple[int, int] | None
    level: float
    cluster: str

    def outcome(self, name: str) -> Outcome:
        return outcome_catalogue()[name]


_YEARS = re.compile(r"^\s*(\d{4})\s*(?:[-–—]\s*(\d{4})\s*)?$")


def parse_years(years: str) -> tuple[int, int] | None:
    """``""`` -> all years (None); ``"2015-2022"`` -> (2015, 2022); ``"2020"`` -> (2020, 2020)."""
    if not isinstance(years, str):
        raise ParameterError(f"years={years!r} must be a string: empty for all years, or 'YYYY-YYYY' (e.g. '2015-2022')")
    if not years.strip():
        return None
    m = _YEARS.match(years)
    if not m:
        raise ParameterError(f"years={years!r} is not understood; write it empty for all years, or 'YYYY-YYYY' "
                             "(e.g. '2015-2022')")
    first, last = int(m.group(1)), int(m.group(2) or m.group(1))
    if first > last:
        raise ParameterError(f"years={years!r}: the first year is after the last one")
    return first, last


def parse_outcomes(outcomes) -> tuple[str, ...]:
    """A list of outcome names (or one comma-separated string); each must be in :func:`outcome_catalogue`."""
    if isinstance(outcomes, str):
        outcomes = [o.strip() for o in outcomes.split(",") if o.strip()]
    if not isinstance(outcomes, (list, tuple)) or not all(isinstance(o, str) for o in outcomes):
        raise ParameterError(f"outcomes={outcomes!r} must be a list of outcome names, e.g. {list(DEFAULT_OUTCOMES)}")
    if not outcomes:
        raise ParameterError("outcomes is empty: name at least one outcome, e.g. ['log_per_capita_net_income']")
    known = outcome_catalogue()
    unknown = [o for o in outcomes if o not in known]
    if unknown:
        raise ParameterError(f"outcomes: unknown outcome(s) {unknown}; choose from: {', '.join(known)}")
    return tuple(dict.fromkeys(outcomes))


def settings(*, lang: str = "zh", outcomes=DEFAULT_OUTCOMES, comparison_group: str = "nevertreated",
             estimator: str = "cs", years: str = "", level: float = 0.95, cluster: str = "household") -> Settings:
    """Check the notebook parameters; a ``ParameterError`` names the parameter and what it accepts."""
    check_lang(lang)
    check_choice("comparison_group", comparison_group, ControlGroup)
    check_choice("estimator", estimator, Estimator)
    if isinstance(level, bool):
        raise ParameterError(f"level={level!r} must be a number strictly between 0 and 1 (e.g. 0.95)")
    level = check_level(level)
    if not isinstance(cluster, str) or not cluster.strip():
        raise ParameterError(f"cluster={cluster!r} must be 'household' (each household its own cluster) or the name of "
                             "a column constant within households, e.g. 'origin_village'")
    return Settings(lang=lang, outcomes=parse_outcomes(outcomes), comparison_group=comparison_group,
                    estimator=estimator, years=parse_years(years), level=level, cluster=cluster.strip())


# ---- words ---------------------------------------------------------------------------------------

TEXT = {
    "not_applicable": {"zh": "**不适用**,因为{reason}", "en": "**Not applicable**, because {reason}"},
    "no_column": {"zh": "数据中没有 `{column}` 列({label})。", "en": "the data have no column `{column}` ({label})."},
    "one_year": {"zh": "所选年份内只有 {n} 个年度的数据({years}):比较搬迁前后的变化至少需要两个年度。",
                 "en": "the data hold {n} year(s) in the years chosen ({years}): a before/after comparison needs at least two."},
    "no_years": {"zh": "数据中没有 {want} 年的记录(数据覆盖 {have})。", "en": "the data have no rows in {want} (they cover {have})."},
    "no_treated": {"zh": "所选年份内没有在首个观测年度之后搬迁的户(搬迁年度须在 {first} 年之后、{last} 年及以前),无法观察搬迁前后的变化。",
                   "en": "no household relocated after the first year observed (relocation year after {first} and up to {last}), "
                         "so no household is seen both before and after relocation."},
    "no_never": {"zh": "没有从未搬迁的对照户,而所选对照组为“从未搬迁户”(comparison_group = \"nevertreated\")。{hint}",
                 "en": "there is no household that never relocated, and the comparison chosen is never-relocated households "
                       "(comparison_group = \"nevertreated\"). {hint}"},
    "hint_nyt": {"zh": "各户分不同年度搬迁,可改用“尚未搬迁户”作对照(comparison_group = \"notyettreated\")。",
                 "en": "Households relocated in different years: comparison_group = \"notyettreated\" compares them with "
                       "those not yet relocated."},
    "hint_none": {"zh": "所有户都在同一年({year})搬迁,也没有“尚未搬迁户”可作对照。",
                  "en": "All households relocated in the same year ({year}), so there are no not-yet-relocated households either."},
    "no_nyt": {"zh": "既没有从未搬迁的户,所有户又都在同一年({year})搬迁:没有“尚未搬迁户”可作对照(comparison_group = \"notyettreated\")。",
               "en": "no household never relocated and all relocated in the same year ({year}): there is no not-yet-relocated "
                     "household to compare with (comparison_group = \"notyettreated\")."},
    "outcome_absent": {"zh": "数据中没有计算“{label}”所需的列 {columns}。", "en": "the data lack the column(s) {columns} needed for “{label}”."},
    "outcome_missing": {"zh": "“{label}”在所选年份全部缺失。", "en": "“{label}” is missing in every row of the years chosen."},
    "outcome_unbalanced": {"zh": "“{label}”没有哪一户在所选每个年度都有值(需要平衡面板)。",
                           "en": "no household has “{label}” in every year chosen (a balanced panel is needed)."},
    "outcome_failed": {"zh": "“{label}”无法估计:{error}", "en": "“{label}” cannot be estimated: {error}"},
    "no_outcomes": {"zh": "所选结果变量都无法分析:{reasons}", "en": "none of the outcomes chosen can be analysed: {reasons}"},
}


def _t(key: str, lang: str, **kw) -> str:
    return TEXT[key][lang].format(**kw)


def not_applicable(reason: str, lang: str) -> str:
    """The report's "not applicable, because …" sentence (markdown)."""
    return _t("not_applicable", lang, reason=reason[0].lower() + reason[1:] if lang == "en" else reason)


def _years_text(years) -> str:
    years = sorted(int(y) for y in years)
    if not years:
        return "—"
    return str(years[0]) if len(years) == 1 else f"{years[0]}–{years[-1]}"


# ---- applicability and outcome panels --------------------------------------------------------------

@dataclass
class Applicability:
    """Whether the data can support the analysis at all; ``reason`` says why not (report language)."""

    applicable: bool
    reason: str = ""
    years: tuple[int, ...] = ()
    cohorts: dict = field(default_factory=dict)      # relocation year -> households (inside the window)
    n_comparison: int = 0                             # never relocated within the window


def _window(data: pd.DataFrame, s: Settings) -> pd.Series:
    """Row mask of the years chosen."""
    years = as_float(data[TIME])
    if s.years is None:
        return pd.Series(np.isfinite(years), index=data.index)
    return pd.Series((years >= s.years[0]) & (years <= s.years[1]), index=data.index)


def _years_of(data: pd.DataFrame) -> list[int]:
    y = as_float(data[TIME])
    return [int(v) for v in np.unique(y[np.isfinite(y)])]


def _first_treated(data: pd.DataFrame, last_year: int) -> np.ndarray:
    """Relocation year per row; empty or 0 -> 0 (never), after the last year -> 0 (not yet by then)."""
    g = as_float(data["relocation_year"])
    g = np.where(np.isnan(g), 0.0, g)
    return np.where(g > last_year, 0.0, g)


def applicability(data: pd.DataFrame, s: Settings) -> Applicability:
    """Can these data support an impact estimate with these settings? Never raises for data reasons."""
    from .. import schema

    labels = schema.field_map("household")
    for col in (ID, TIME, "relocation_year"):
        if col not in data.columns:
            return Applicability(False, _t("no_column", s.lang, column=col, label=labels[col].label(s.lang)))
    all_years = _years_of(data)
    rows = data[_window(data, s).to_numpy()]
    years = tuple(_years_of(rows))
    if not years:
        return Applicability(False, _t("no_years", s.lang, want=_years_text(s.years or ()), have=_years_text(all_years)))
    if len(years) < 2:
        return Applicability(False, _t("one_year", s.lang, n=len(years), years=_years_text(years)), years=years)
    first, last = years[0], years[-1]
    g = pd.Series(_first_treated(rows, last), index=rows.index)
    per_household = pd.DataFrame({"id": rows[ID].to_numpy(), "g": g.to_numpy()}).groupby("id", sort=True)["g"].max()
    cohorts = per_household[(per_household > first) & (per_household <= last)].value_counts().sort_index()
    cohorts = {int(k): int(v) for k, v in cohorts.items()}
    n_never = int((per_household == 0).sum())
    base = Applicability(True, years=years, cohorts=cohorts, n_comparison=n_never)
    if not cohorts:
        return Applicability(False, _t("no_treated", s.lang, first=first, last=last), years=years, n_comparison=n_never)
    if s.comparison_group == "nevertreated" and n_never == 0:
        hint = (_t("hint_nyt", s.lang) if len(cohorts) > 1
                else _t("hint_none", s.lang, year=next(iter(cohorts))))
        return Applicability(False, _t("no_never", s.lang, hint=hint), years=years, cohorts=cohorts)
    if s.comparison_group == "notyettreated" and n_never == 0 and len(cohorts) < 2:
        return Applicability(False, _t("no_nyt", s.lang, year=next(iter(cohorts))), years=years, cohorts=cohorts)
    return base


@dataclass
class OutcomePanel:
    """A balanced household-year panel of one outcome (``y``), ready for the estimators.

    Columns: ``household_id`` (integer codes, not the original IDs), ``year``, ``first_treated``
    (relocation year, 0 = not relocated by the last year), ``relocated_now`` (0/1), ``y``, and
    ``site`` and the cluster column (integer codes) where the data have them.
    ``reason`` is set (and ``frame`` empty) when the outcome cannot be analysed.
    """

    outcome: Outcome
    frame: pd.DataFrame
    reason: str = ""
    dropped_missing: int = 0          # households dropped: outcome missing in some year
    dropped_early: int = 0            # households relocated in or before the first year (no before)
    recoded_late: int = 0             # households relocated after the last year: comparison

    @property
    def applicable(self) -> bool:
        return not self.reason

    @property
    def n_households(self) -> int:
        return int(self.frame[ID].nunique()) if len(self.frame) else 0

    @property
    def n_relocated(self) -> int:
        f = self.frame
        return int(f.loc[f[FIRST] > 0, ID].nunique()) if len(f) else 0


def outcome_panel(data: pd.DataFrame, outcome: str | Outcome, s: Settings) -> OutcomePanel:
    """Build the outcome's balanced panel from a copy of ``data`` (``data`` is never modified)."""
    spec = outcome if isinstance(outcome, Outcome) else s.outcome(outcome)
    label = spec.label(s.lang)
    empty = pd.DataFrame(columns=[ID, TIME, FIRST, TREATED_NOW, "y"])
    missing_cols = [c for c in spec.needs if c not in data.columns]
    if missing_cols:
        return OutcomePanel(spec, empty, _t("outcome_absent", s.lang, columns=", ".join(f"`{c}`" for c in missing_cols),
                                            label=label))
    rows = data.loc[_window(data, s).to_numpy()]
    years = _years_of(rows)
    last = years[-1] if years else 0
    # household IDs become integer codes: faster estimators, and no identifier leaves the panel
    frame = pd.DataFrame({ID: pd.factorize(rows[ID], sort=True)[0], TIME: as_float(rows[TIME]).astype("int64"),
                          FIRST: _first_treated(rows, last), "y": spec.build(rows)})
    if "site" in rows.columns:
        frame["site"] = rows["site"].astype("string").to_numpy()
    if s.cluster in rows.columns and s.cluster not in (ID, TIME, "site"):
        codes = pd.factorize(rows[s.cluster], sort=True)[0].astype("float64")
        frame[s.cluster] = np.where(codes < 0, np.nan, codes)
    if not np.isfinite(frame["y"]).any():
        return OutcomePanel(spec, empty, _t("outcome_missing", s.lang, label=label))
    raw_g = as_float(rows["relocation_year"])
    recoded = int(pd.Series(np.nan_to_num(raw_g) > last).groupby(frame[ID].to_numpy()).any().sum())
    # keep households observed with the outcome in every year of the window (balanced panel)
    ok = frame.assign(ok=np.isfinite(frame["y"])).groupby(ID, sort=True)["ok"].agg(["sum", "size"])
    complete = ok.index[(ok["sum"] == len(years)) & (ok["size"] == len(years))]
    dropped_missing = int(len(ok) - len(complete))
    frame = frame[frame[ID].isin(complete)]
    # households relocated in the first year or before have no year before relocation
    early = frame.loc[(frame[FIRST] > 0) & (frame[FIRST] <= years[0]), ID].unique()
    frame = frame[~frame[ID].isin(early)]
    if frame.empty:
        return OutcomePanel(spec, empty, _t("outcome_unbalanced", s.lang, label=label), dropped_missing=dropped_missing)
    frame = frame.sort_values([ID, TIME], kind="stable").reset_index(drop=True)
    frame[TREATED_NOW] = ((frame[FIRST] > 0) & (frame[TIME] >= frame[FIRST])).astype("int64")
    return OutcomePanel(spec, frame, dropped_missing=dropped_missing, dropped_early=len(early), recoded_late=recoded)


# ---- estimation ----------------------------------------------------------------------------------

def _cluster_arg(s: Settings, frame: pd.DataFrame) -> str | None:
    """The cluster column for the estimators (None = each household its own cluster)."""
    if s.cluster == "household" or s.cluster == ID:
        return None
    if s.cluster not in frame.columns:
        raise ParameterError(f"cluster={s.cluster!r}: the data have no such column; use 'household' or a column "
                             "constant within households, e.g. 'origin_village' or 'township'")
    n_missing = int(frame.loc[frame[s.cluster].isna(), ID].nunique())
    if n_missing:
        raise ParameterError(f"cluster={s.cluster!r}: {n_missing:,} household(s) have no value (comparison households "
                             "have no site, for instance); use 'household' or a column defined for every household, "
                             "e.g. 'origin_village' or 'township'")
    return s.cluster


@dataclass
class OutcomeEffect:
    """Both estimators and the event study for one outcome; ``headline`` follows ``Settings.estimator``."""

    panel: OutcomePanel
    cs: object = None             # StaggeredDiDResult
    twfe: object = None           # TwfeResult
    event: object = None          # EventStudyResult (method = the headline estimator)
    reason: str = ""

    @property
    def applicable(self) -> bool:
        return not self.reason

    @property
    def outcome(self) -> Outcome:
        return self.panel.outcome


def estimate_outcome(panel: OutcomePanel, s: Settings) -> OutcomeEffect:
    """Callaway–Sant'Anna and TWFE (always side by side, DESIGN.md) and the event study of one outcome."""
    from . import event_study, staggered_did, twfe

    if not panel.applicable:
        return OutcomeEffect(panel, reason=panel.reason)
    frame = panel.frame
    cluster = _cluster_arg(s, frame)
    common = dict(yname="y", idname=ID, tname=TIME, gname=FIRST)
    try:
        with warnings.catch_warnings():
            # staggered timing and panel preparation are reported in words, not as warnings
            warnings.simplefilter("ignore")
            cs = staggered_did(frame, control_group=s.comparison_group, cluster=cluster, level=s.level, **common)
            tw = twfe(frame, yname="y", dname=TREATED_NOW, idname=ID, tname=TIME, cluster=cluster, level=s.level)
            es = event_study(frame, method=s.estimator, control_group=s.comparison_group, cluster=cluster,
                             level=s.level, **common)
    except (DataError, np.linalg.LinAlgError, ValueError) as exc:
        return OutcomeEffect(panel, reason=_t("outcome_failed", s.lang, label=panel.outcome.label(s.lang), error=exc))
    return OutcomeEffect(panel, cs=cs, twfe=tw, event=es)


def headline(effect: OutcomeEffect, s: Settings) -> Mapping:
    """The headline estimate of one outcome: ``.overall`` of the chosen estimator."""
    return (effect.cs if s.estimator == "cs" else effect.twfe).overall


def cpi_index(base_year: int | None = None) -> pd.Series:
    """The bundled national CPI chained into an index by year (first year, or ``base_year``, = 100).

    data/reference/series.csv stores the published form, previous year = 100 (status: unverified).
    """
    from ..datasets import load_reference

    ref = load_reference()
    s = ref[ref["series"] == "national_cpi"].set_index("year")["value"].astype("float64").sort_index()
    s.index = s.index.astype("int64")
    if s.empty or (np.diff(s.index) != 1).any():
        raise DataError("series national_cpi must cover consecutive years", path="data/reference/series.csv")
    index = (s / 100.0).cumprod()
    index = index / index.iloc[0] * 100.0
    if base_year is not None:
        index = index / index.loc[base_year] * 100.0
    return index


# ---- the analysis ------------------------------------------------------------------------------

LABELS = {
    "outcome": ("结果变量", "Outcome"), "estimate": ("估计值", "Estimate"), "std_error": ("标准误", "SE"),
    "ci": ("置信区间", "CI"), "p_value": ("p 值", "p-value"), "households": ("户数(搬迁/对照)", "Households (relocated/comparison)"),
    "other": ("另一估计量", "Other estimator"), "pretest": ("搬迁前趋势检验 p 值", "Pre-trend test p-value"),
    "leads": ("事件研究前导项检验 p 值", "Event-study leads test p-value"), "unit": ("单位", "Unit"),
    "site": ("安置点", "Site"), "pooled": ("合并(逆方差加权)", "Pooled (inverse-variance)"),
    "type": ("比较类型", "Comparison"), "weight": ("权重", "Weight"), "share_restored": ("恢复比例", "Share restored"),
    "mean_ratio": ("平均比值", "Mean ratio"), "median_ratio": ("中位比值", "Median ratio"),
    "n_households": ("户数", "Households"), "group": ("分组", "Group"), "all": ("全部", "All"),
    "attrition_relocated": ("搬迁户返迁或离开比例", "Relocated: share returned or gone"),
    "attrition_comparison": ("对照户离开比例", "Comparison: share gone"), "difference": ("差异", "Difference"),
    "cs": ("Callaway–Sant'Anna", "Callaway–Sant'Anna"), "twfe": ("双向固定效应 (TWFE)", "Two-way fixed effects (TWFE)"),
    "treated vs never treated": ("搬迁户 vs 从未搬迁户", "relocated vs never relocated"),
    "earlier vs later treated": ("早搬迁批次 vs 尚未搬迁的晚批次", "earlier batch vs later batch not yet relocated"),
    "later vs earlier treated": ("晚批次 vs 已搬迁的早批次(问题比较)", "later batch vs already-relocated earlier batch (problematic)"),
    "measure": ("指标", "Measure"), "value": ("数值", "Value"),
}


def _l(key: str, lang: str) -> str:
    zh, en = LABELS[key]
    return zh if lang == "zh" else en


def _fmt(x, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:,.{digits}f}"


def _p(p) -> str:
    if p is None or not math.isfinite(p):
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


class ImpactAnalysis:
    """Everything the impact notebook shows, computed once from ``data`` (which is left unchanged)."""

    def __init__(self, data: pd.DataFrame, s: Settings, *, synthetic: bool = False):
        self.settings = s
        self.synthetic = synthetic
        self.check = applicability(data, s)
        self.effects: dict[str, OutcomeEffect] = {}
        self.sites = None
        self.sites_reason = ""
        self.restoration = None
        self.restoration_reason = ""
        self.attrition = None
        self.attrition_reason = ""
        if not self.check.applicable:
            return
        for name in s.outcomes:
            self.effects[name] = estimate_outcome(outcome_panel(data, name, s), s)
        if not any(e.applicable for e in self.effects.values()):
            reasons = " ".join(e.reason for e in self.effects.values())
            self.check = Applicability(False, _t("no_outcomes", s.lang, reasons=reasons), years=self.check.years,
                                       cohorts=self.check.cohorts, n_comparison=self.check.n_comparison)
            return
        self._site_heterogeneity()
        self._income_restoration(data)
        self._attrition(data)

    # -- properties ----------------------------------------------------------------------------
    @property
    def applicable(self) -> bool:
        return self.check.applicable

    @property
    def primary(self) -> OutcomeEffect | None:
        """The first outcome that could be estimated (the one the diagnostics sections show)."""
        return next((e for e in self.effects.values() if e.applicable), None)

    @property
    def n_clusters(self) -> int | None:
        """Clusters of the first outcome's estimate; None when each household is its own cluster."""
        e = self.primary
        if e is None or _cluster_arg_name(self.settings) is None:
            return None
        return int(e.cs.glance()["n_clusters"].iloc[0])

    def _na(self, reason: str) -> str:
        return not_applicable(reason, self.settings.lang)

    # -- computations --------------------------------------------------------------------------
    def _site_heterogeneity(self) -> None:
        from . import heterogeneity, staggered_did, twfe

        s, lang = self.settings, self.settings.lang
        tests = {}
        for name, eff in self.effects.items():
            if not eff.applicable:
                continue
            f = eff.panel.frame
            if "site" not in f.columns or f.loc[f[FIRST] > 0, "site"].dropna().nunique() < 2:
                self.sites_reason = {"zh": "数据中没有两个以上安置点的搬迁户(`site` 列)。",
                                     "en": "the data do not place relocated households at two or more sites (column `site`)."}[lang]
                return
            relocated, comparison = f[f[FIRST] > 0], f[f[FIRST] == 0]
            cluster = _cluster_arg(s, f)
            if s.estimator == "cs":
                def estimator(part, *, level, _c=comparison, _cl=cluster):
                    # each site's relocated households against all comparison households
                    return staggered_did(pd.concat([part, _c], ignore_index=True), yname="y", idname=ID, tname=TIME,
                                         gname=FIRST, control_group=s.comparison_group, cluster=_cl, level=level)
            else:
                def estimator(part, *, level, _c=comparison, _cl=cluster):
                    return twfe(pd.concat([part, _c], ignore_index=True), yname="y", dname=TREATED_NOW, idname=ID,
                                tname=TIME, cluster=_cl, level=level)
            estimator.__name__ = f"{'staggered_did' if s.estimator == 'cs' else 'twfe'} (site vs all comparison households)"
            tests[name] = heterogeneity(relocated, by="site", estimator=estimator, level=s.level)
        self.sites = tests

    def _income_restoration(self, data: pd.DataFrame) -> None:
        from . import income_restoration

        s, lang = self.settings, self.settings.lang
        need = [c for c in ("per_capita_net_income",) if c not in data.columns]
        if need:
            self.restoration_reason = _t("outcome_absent", lang, columns="`per_capita_net_income`",
                                         label={"zh": "收入恢复", "en": "income restoration"}[lang])
            return
        years = self.check.years
        rows = data.loc[_window(data, s).to_numpy()]
        g = _first_treated(rows, years[-1])
        keep = (g > years[0]) & np.isfinite(as_float(rows["per_capita_net_income"]))
        frame = pd.DataFrame({ID: pd.factorize(rows[ID], sort=True)[0], TIME: as_float(rows[TIME]).astype("int64"),
                              "per_capita_net_income": as_float(rows["per_capita_net_income"]), "baseline_year": g - 1})[keep]
        if "site" in rows.columns:
            frame["site"] = rows["site"].astype("string").to_numpy()[keep]
        try:
            cpi = cpi_index()
            missing = sorted(set(frame[TIME]) - set(cpi.index))
            if missing:
                raise DataError(f"the bundled CPI covers {cpi.index.min()}–{cpi.index.max()}, not {_years_text(missing)}")
            by = "site" if "site" in frame.columns and frame["site"].notna().all() else None
            self.restoration = income_restoration(frame, baseline="baseline_year", cpi=cpi, at=years[-1], by=by,
                                                  level=s.level)
        except DataError as exc:
            self.restoration_reason = {"zh": f"无法计算收入恢复:{exc}", "en": f"income restoration cannot be computed: {exc}"}[lang]

    def _attrition(self, data: pd.DataFrame) -> None:
        from . import attrition

        s, lang = self.settings, self.settings.lang
        rows = data.loc[_window(data, s).to_numpy()]
        frame = pd.DataFrame({ID: pd.factorize(rows[ID], sort=True)[0], TIME: as_float(rows[TIME]),
                              FIRST: _first_treated(rows, self.check.years[-1])})
        left = None
        if "returned_to_origin" in rows.columns:
            frame["left"] = np.nan_to_num(as_float(rows["returned_to_origin"]), nan=0.0)
            left = "left"
        try:
            self.attrition = attrition(frame, idname=ID, tname=TIME, gname=FIRST, left=left, level=s.level)
        except DataError as exc:
            self.attrition_reason = {"zh": f"无法计算样本流失:{exc}", "en": f"attrition cannot be computed: {exc}"}[lang]

    # -- text --------------------------------------------------------------------------------
    def overview(self) -> str:
        """What was analysed: data, years, batches, comparison, estimator, clusters (markdown)."""
        s, c, lang = self.settings, self.check, self.settings.lang
        if not c.applicable:
            return self._na(c.reason)
        batches = ", ".join(f"{g}: {n:,}" for g, n in c.cohorts.items())
        n_rel = sum(c.cohorts.values())
        comp = {"nevertreated": {"zh": "从未搬迁的户", "en": "households never relocated"},
                "notyettreated": {"zh": "从未搬迁及尚未搬迁的户", "en": "households never or not yet relocated"}}[s.comparison_group][lang]
        est = _l(s.estimator, lang)
        cl = ({"zh": "每户为一个聚类", "en": "each household its own cluster"}[lang] if self.n_clusters is None
              else {"zh": f"按 `{s.cluster}` 聚类({self.n_clusters:,} 个聚类)",
                    "en": f"clustered by `{s.cluster}` ({self.n_clusters:,} clusters)"}[lang])
        src = ({"zh": "内置模拟面板(非真实住户)", "en": "the bundled synthetic panel (no real household)"}[lang]
               if self.synthetic else {"zh": "所提供的数据文件", "en": "the data file supplied"}[lang])
        if lang == "zh":
            return (f"数据: {src}; 年份 {_years_text(c.years)}。搬迁户 {n_rel:,} 户(按搬迁年度: {batches}); "
                    f"从未搬迁的对照户 {c.n_comparison:,} 户。对照组: {comp}。主估计量: {est}; 标准误: {cl}; "
                    f"置信水平 {s.level:.0%}。")
        return (f"Data: {src}; years {_years_text(c.years)}. Relocated households: {n_rel:,} (by relocation year: "
                f"{batches}); never-relocated comparison households: {c.n_comparison:,}. Comparison group: {comp}. "
                f"Headline estimator: {est}; standard errors: {cl}; {s.level:.0%} intervals.")

    def se_note(self) -> str:
        """The standard-error convention under every table (DESIGN.md), in the report language."""
        lang, n = self.settings.lang, self.n_clusters
        if n is None:
            cs = {"zh": "Callaway–Sant'Anna: 由影响函数得到的解析标准误,每户为一个聚类,不作小样本校正(与 R did 相同)",
                  "en": "Callaway–Sant'Anna: analytic standard errors from influence functions, each household its own "
                        "cluster, no finite-sample factor (as R did)"}[lang]
            tw = {"zh": "TWFE: 按户聚类的 CR1 标准误", "en": "TWFE: CR1 standard errors clustered by household"}[lang]
        else:
            cs = {"zh": f"Callaway–Sant'Anna: 影响函数按 `{self.settings.cluster}` 聚类求和,乘以 CR1 系数 G/(G−1)",
                  "en": f"Callaway–Sant'Anna: influence functions summed within `{self.settings.cluster}` clusters, CR1 "
                        "factor G/(G−1)"}[lang]
            tw = {"zh": f"TWFE: 按 `{self.settings.cluster}` 聚类的 CR1 标准误",
                  "en": f"TWFE: CR1 standard errors clustered by `{self.settings.cluster}`"}[lang]
        tail = {"zh": "(嵌套在聚类内的固定效应不计入小样本校正,与 fixest / reghdfe 相同)。区间为正态近似。",
                "en": " (fixed effects nested in the clusters not counted in the small-sample correction, as fixest / "
                      "reghdfe). Intervals: normal approximation."}[lang]
        return f"*{cs}; {tw}{tail}*"

    def outcome_notes(self) -> str:
        """Outcomes left out or households dropped, in words (markdown; empty when nothing to say)."""
        lang = self.settings.lang
        lines = []
        for e in self.effects.values():
            label = e.outcome.label(lang)
            if not e.applicable:
                lines.append(f"- {label}: {self._na(e.reason)}")
                continue
            p = e.panel
            bits = []
            if p.dropped_missing:
                bits.append({"zh": f"{p.dropped_missing:,} 户因部分年度缺失该变量而未纳入(需要平衡面板)",
                             "en": f"{p.dropped_missing:,} household(s) left out for missing values in some year (balanced panel)"}[lang])
            if p.dropped_early:
                bits.append({"zh": f"{p.dropped_early:,} 户在首个观测年度或之前已搬迁(无搬迁前数据)而未纳入",
                             "en": f"{p.dropped_early:,} household(s) relocated in or before the first year left out (no year before)"}[lang])
            if p.recoded_late:
                bits.append({"zh": f"{p.recoded_late:,} 户在所选年份之后才搬迁,计为对照户",
                             "en": f"{p.recoded_late:,} household(s) relocated after the last year count as comparison"}[lang])
            if bits:
                lines.append(f"- {label}: " + "; ".join(bits) + ("。" if lang == "zh" else "."))
        return "\n".join(lines)

    # -- tables ------------------------------------------------------------------------------
    def att_table(self) -> pd.DataFrame:
        """Overall effect per outcome (headline estimator), with the other estimator beside it."""
        s, lang = self.settings, self.settings.lang
        other = "twfe" if s.estimator == "cs" else "cs"
        rows = []
        for e in self.effects.values():
            if not e.applicable:
                continue
            o = headline(e, s)
            oth = (e.twfe if other == "twfe" else e.cs).overall
            d = e.outcome.digits
            p = _p(_p_value(o))
            rows.append({
                _l("outcome", lang): e.outcome.label(lang), _l("unit", lang): e.outcome.unit(lang),
                _l("estimate", lang): _fmt(o["estimate"], d), _l("std_error", lang): _fmt(o["std_error"], d),
                f"{s.level:.0%} {_l('ci', lang)}": f"[{_fmt(o['ci_low'], d)}, {_fmt(o['ci_high'], d)}]",
                _l("p_value", lang): p,
                f"{_l(other, lang)}": _fmt(oth["estimate"], d),
                _l("households", lang): f"{e.panel.n_relocated:,} / {e.panel.n_households - e.panel.n_relocated:,}",
            })
        return pd.DataFrame(rows)

    def pretrend_table(self) -> pd.DataFrame:
        """Pre-trend tests per outcome: the Callaway–Sant'Anna Wald pre-test and the event-study leads."""
        lang = self.settings.lang
        rows = []
        for e in self.effects.values():
            if not e.applicable:
                continue
            rows.append({_l("outcome", lang): e.outcome.label(lang), _l("pretest", lang): _p(e.cs.pretest["p_value"]),
                         _l("leads", lang): _p(e.event.pretrend["p_value"])})
        return pd.DataFrame(rows)

    def twfe_text(self) -> str:
        """TWFE beside Callaway–Sant'Anna for the first outcome, with the staggered-timing diagnostics."""
        lang = self.settings.lang
        e = self.primary
        if e is None:
            return self._na(self.check.reason)
        tw, cs, d = e.twfe, e.cs, e.outcome.digits
        label = e.outcome.label(lang)
        if not tw.staggered:
            return {"zh": f"“{label}”: 所有搬迁户在同一年搬迁,TWFE 不存在分批搬迁带来的偏误。TWFE {_fmt(tw.overall['estimate'], d)},"
                          f" Callaway–Sant'Anna {_fmt(cs.overall['estimate'], d)}。",
                    "en": f"“{label}”: every relocated household moved in the same year, so TWFE has no staggered-timing bias. "
                          f"TWFE {_fmt(tw.overall['estimate'], d)}, Callaway–Sant'Anna {_fmt(cs.overall['estimate'], d)}."}[lang]
        wd = tw.weights_diagnostic
        neg = wd[wd["weight"] < 0] if wd is not None else pd.DataFrame(columns=["weight"])
        bad = 0.0
        if tw.bacon is not None:
            bad = float(tw.bacon.loc[tw.bacon["type"] == "later vs earlier treated", "weight"].sum())
        if lang == "zh":
            text = (f"**注意:各户分批搬迁。** 对“{label}”,双向固定效应 (TWFE) 系数为 {_fmt(tw.overall['estimate'], d)},"
                    f"而 Callaway–Sant'Anna 估计为 {_fmt(cs.overall['estimate'], d)}。TWFE 是许多 2×2 比较的加权平均,"
                    f"其中一部分把已经搬迁的早批次当作对照;当效应随搬迁年数增长或因批次而异时,TWFE 会有偏(甚至符号相反)。"
                    f"在 {len(wd) if wd is not None else 0} 个已搬迁的(批次, 年度)单元中,有 {len(neg)} 个权重为负。")
            if tw.bacon is not None:
                text += f"Goodman-Bacon 分解中,以已搬迁户为对照的“问题比较”权重为 {bad:.1%}。"
            if self.settings.estimator == "twfe":
                return text + "本报告按参数以 TWFE 为主估计量,请务必对照 Callaway–Sant'Anna 的结果解读。"
            return text + "因此本报告以 Callaway–Sant'Anna 为准,TWFE 仅作对照。"
        text = (f"**Caution: households relocated in batches.** For “{label}” the two-way fixed effects (TWFE) coefficient "
                f"is {_fmt(tw.overall['estimate'], d)}, the Callaway–Sant'Anna estimate {_fmt(cs.overall['estimate'], d)}. "
                "TWFE is a weighted average of many 2×2 comparisons, some of which use already-relocated batches as "
                "controls; when effects grow with years since relocation or differ between batches it is biased "
                f"(even of the wrong sign). {len(neg)} of {len(wd) if wd is not None else 0} relocated (batch, year) "
                "cells get a negative weight. ")
        if tw.bacon is not None:
            text += f"In the Goodman-Bacon decomposition the problematic comparisons against already-relocated households weigh {bad:.1%}. "
        if self.settings.estimator == "twfe":
            return text + "The headline numbers of this report use TWFE, as the parameters ask: read them beside Callaway–Sant'Anna."
        return text + "This report therefore relies on Callaway–Sant'Anna and shows TWFE only beside it."

    def bacon_table(self) -> pd.DataFrame:
        """Goodman-Bacon decomposition of the first outcome's TWFE coefficient, by comparison type."""
        lang = self.settings.lang
        e = self.primary
        if e is None or e.twfe.bacon is None:
            return pd.DataFrame()
        b = e.twfe.bacon
        out = []
        for kind, part in b.groupby("type", sort=True):
            w = float(part["weight"].sum())
            est = float(np.average(part["estimate"], weights=part["weight"])) if w > 0 else float("nan")
            out.append({_l("type", lang): _l(kind, lang), _l("weight", lang): f"{w:.3f}",
                        _l("estimate", lang): _fmt(est, e.outcome.digits)})
        return pd.DataFrame(out)

    def site_table(self) -> pd.DataFrame:
        """Effects by site (rows) for every outcome (columns): estimate (SE); a last row with the equality test."""
        lang = self.settings.lang
        if not self.sites:
            return pd.DataFrame()
        cols = {}
        for name, res in self.sites.items():
            d = self.effects[name].outcome.digits
            t = res.tidy()
            col = {}
            for _, r in t.iterrows():
                key = _l("pooled", lang) if r["term"] == "pooled (inverse-variance)" else str(r["site"])
                col[key] = f"{_fmt(r['estimate'], d)} ({_fmt(r['std_error'], d)})"
            col[{"zh": "各点相等检验 p 值", "en": "Equal-effects test p-value"}[lang]] = _p(res.test["p_value"])
            cols[self.effects[name].outcome.label(lang)] = col
        table = pd.DataFrame(cols)
        table.index.name = _l("site", lang)
        return table

    def restoration_table(self) -> pd.DataFrame:
        lang = self.settings.lang
        if self.restoration is None:
            return pd.DataFrame()
        t = self.restoration.tidy()
        group_col = t.columns[1]
        out = t.pivot(index=group_col, columns="term", values="estimate")
        n = t.drop_duplicates(group_col).set_index(group_col)["n_households"]
        order = ["all"] + [g for g in out.index if g != "all"]
        out = out.reindex(order)
        table = pd.DataFrame({
            _l("share_restored", lang): [f"{v:.1%}" for v in out["share_restored"]],
            _l("mean_ratio", lang): [f"{v:.2f}" for v in out["mean_ratio"]],
            _l("median_ratio", lang): [f"{v:.2f}" for v in out["median_ratio"]],
            _l("n_households", lang): [f"{int(v):,}" for v in n.reindex(order)],
        }, index=[_l("all", lang) if g == "all" else g for g in order])
        table.index.name = _l("site", lang) if group_col == "site" else _l("group", lang)
        return table

    def attrition_table(self) -> pd.DataFrame:
        lang = self.settings.lang
        if self.attrition is None:
            return pd.DataFrame()
        t = self.attrition.tidy()
        return pd.DataFrame({_l("measure", lang): [_l(k, lang) for k in t["term"]],
                             _l("value", lang): [f"{v:.1%}" for v in t["estimate"]],
                             _l("std_error", lang): [f"{v:.1%}" for v in t["std_error"]]})

    # -- figures ---------------------------------------------------------------------------------
    def event_figure(self):
        """Event studies of every estimated outcome, one panel each, labels in the report language.

        Returns ``(fig, axes)``; writes no file.
        """
        import matplotlib.pyplot as plt

        from ..fonts import use_cjk_font

        use_cjk_font()
        lang = self.settings.lang
        effects = [e for e in self.effects.values() if e.applicable]
        ncols = 2 if len(effects) > 1 else 1
        nrows = max(1, math.ceil(len(effects) / ncols))
        fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.3 * nrows), layout="constrained", squeeze=False)
        words = {"zh": ("搬迁前", "搬迁后", "参照期 (e = −1)", "距搬迁年数 e = t − g"),
                 "en": ("before relocation", "after relocation", "reference (e = −1)", "years since relocation, e = t − g")}[lang]
        for ax, e in zip(axes.flat, effects):
            t = e.event.tidy()
            t = t[t["term"] != "overall"]
            ev = t["event_time"].astype("float64").to_numpy()
            est = t["estimate"].to_numpy()
            ok = np.isfinite(t["std_error"].to_numpy())
            pre, post = (ev < 0) & ok, (ev >= 0) & ok
            ax.errorbar(ev[ok], est[ok], yerr=[est[ok] - t["ci_low"].to_numpy()[ok], t["ci_high"].to_numpy()[ok] - est[ok]],
                        fmt="none", ecolor="#555555", capsize=2, lw=1)
            ax.plot(ev[pre], est[pre], "o", color="#4C72B0", label=words[0])
            ax.plot(ev[post], est[post], "o", color="#C44E52", label=words[1])
            ax.plot(ev[~ok], est[~ok], "s", mfc="white", color="#333333", label=words[2])
            ax.axhline(0, color="#888888", lw=0.8)
            ax.axvline(-0.5, color="#888888", lw=0.8, ls="--")
            ax.set_title(e.outcome.label(lang), fontsize=10)
            ax.set_xlabel(words[3], fontsize=9)
            ax.set_ylabel(e.outcome.unit(lang) or "", fontsize=9)
            ax.spines[["top", "right"]].set_visible(False)
        for ax in list(axes.flat)[len(effects):]:
            ax.set_visible(False)
        axes.flat[0].legend(fontsize=8, frameon=False)
        est_name = _l(self.settings.estimator, lang)
        fig.suptitle({"zh": f"事件研究({est_name}, {self.settings.level:.0%} 置信区间)",
                      "en": f"Event studies ({est_name}, {self.settings.level:.0%} intervals)"}[lang], fontsize=11)
        return fig, axes

    def site_figure(self):
        """Effect of the first outcome by site with intervals and the pooled estimate; ``(fig, ax)``."""
        import matplotlib.pyplot as plt

        from ..fonts import use_cjk_font

        use_cjk_font()
        lang = self.settings.lang
        e = self.primary
        res = self.sites[next(n for n in self.sites)]
        t = res.tidy().iloc[::-1]
        labels = [_l("pooled", lang) if r == "pooled (inverse-variance)" else str(s) for r, s in zip(t["term"], t["site"])]
        fig, ax = plt.subplots(figsize=(6, 0.7 + 0.45 * len(t)), layout="constrained")
        y = np.arange(len(t))
        colours = ["#333333" if lab == _l("pooled", lang) else "#4C72B0" for lab in labels]
        for yy, (_, r), c in zip(y, t.iterrows(), colours):
            ax.errorbar([r["estimate"]], [yy], xerr=[[r["estimate"] - r["ci_low"]], [r["ci_high"] - r["estimate"]]],
                        fmt="o", color=c, capsize=3)
        ax.axvline(0, color="#888888", lw=0.8)
        ax.set_yticks(y, labels)
        ax.set_xlabel(f"{_l('estimate', lang)} ({e.outcome.unit(lang)})" if e.outcome.unit(lang) else _l("estimate", lang))
        ax.set_title({"zh": f"各安置点效应: {e.outcome.label(lang)}", "en": f"Effect by site: {e.outcome.label(lang)}"}[lang],
                     fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
        return fig, ax

    def restoration_figure(self):
        """Distribution of real income now / own real baseline (log2 scale); ``(fig, ax)``."""
        import matplotlib.pyplot as plt

        from ..fonts import use_cjk_font

        use_cjk_font()
        lang = self.settings.lang
        r = self.restoration.households()["ratio"].to_numpy()
        r = r[np.isfinite(r) & (r > 0)]
        fig, ax = plt.subplots(figsize=(6, 3.3), layout="constrained")
        ax.hist(np.log2(r), bins=40, color="#55A868", alpha=0.85)
        ax.axvline(0, color="#C44E52", lw=1.2, label={"zh": "恢复线(比值 = 1)", "en": "restored (ratio = 1)"}[lang])
        ax.set_xlabel({"zh": "log2(实际人均纯收入 / 搬迁前一年实际收入)", "en": "log2(real per-capita income / own real baseline)"}[lang])
        ax.set_ylabel({"zh": "户数", "en": "households"}[lang])
        ax.set_title({"zh": f"收入恢复({self.check.years[-1]} 年, 按全国居民消费价格指数平减)",
                      "en": f"Income restoration ({self.check.years[-1]}, deflated by the national CPI)"}[lang], fontsize=10)
        ax.legend(frameon=False, fontsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        return fig, ax

    # -- sections that may not apply ---------------------------------------------------------------
    def section_reason(self, section: str) -> str:
        """Markdown "not applicable, because …" for a section, or "" when it applies."""
        if not self.applicable:
            return self._na(self.check.reason)
        if section == "sites" and not self.sites:
            return self._na(self.sites_reason)
        if section == "restoration" and self.restoration is None:
            return self._na(self.restoration_reason)
        if section == "attrition" and self.attrition is None:
            return self._na(self.attrition_reason)
        return ""

    # -- headline figures -----------------------------------------------------------------------
    def record_effects(self, res) -> str:
        """Add the status and the ATT (and SE) of every outcome to ``res`` (``baode_eval.results.Results``);
        returns the lines added, for the nbval-checked cell."""
        s, lang = self.settings, self.settings.lang
        keys = ["status"]
        res.add("status", "estimated" if self.applicable else "not applicable",
                label={"zh": "影响评估", "en": "Impact evaluation"}[lang])
        if not self.applicable:
            res.add("reason", self.check.reason, label={"zh": "不适用原因", "en": "Not applicable because"}[lang])
            return _lines(res, keys + ["reason"])
        res.add("estimator", s.estimator, label={"zh": "主估计量", "en": "Headline estimator"}[lang])
        res.add("comparison_group", s.comparison_group, label={"zh": "对照组", "en": "Comparison group"}[lang])
        keys += ["estimator", "comparison_group"]
        for e in self.effects.values():
            k = e.outcome.key
            label = e.outcome.label(lang)
            if not e.applicable:
                res.add(f"att_{k}", None, label=label)
                res.add(f"att_{k}_not_applicable", e.reason, label=label)
                keys += [f"att_{k}", f"att_{k}_not_applicable"]
                continue
            o = headline(e, s)
            unit = e.outcome.unit(lang) or None
            res.add(f"att_{k}", float(o["estimate"]), digits=e.outcome.digits, unit=unit,
                    label={"zh": f"平均处理效应: {label}", "en": f"ATT: {label}"}[lang])
            res.add(f"att_{k}_se", float(o["std_error"]), digits=e.outcome.digits, unit=unit,
                    label={"zh": f"标准误: {label}", "en": f"SE: {label}"}[lang])
            keys += [f"att_{k}", f"att_{k}_se"]
        return _lines(res, keys)

    def record_diagnostics(self, res) -> str:
        """Add pre-trend p-value, TWFE, restoration and attrition figures to ``res``; returns the lines added."""
        lang = self.settings.lang
        if not self.applicable:
            return ""
        keys = []
        e = self.primary
        k = e.outcome.key
        res.add(f"pretrend_p_{k}", float(e.cs.pretest["p_value"]), digits=3,
                label={"zh": f"搬迁前趋势检验 p 值: {e.outcome.label(lang)}", "en": f"Pre-trend test p-value: {e.outcome.label(lang)}"}[lang])
        res.add(f"twfe_{k}", float(e.twfe.overall["estimate"]), digits=e.outcome.digits,
                label={"zh": f"TWFE 系数(仅作对照): {e.outcome.label(lang)}", "en": f"TWFE coefficient (for comparison only): {e.outcome.label(lang)}"}[lang])
        keys += [f"pretrend_p_{k}", f"twfe_{k}"]
        if self.sites:
            res.add(f"sites_equal_p_{k}", float(self.sites[e.outcome.name].test["p_value"]), digits=3,
                    label={"zh": "各安置点效应相等检验 p 值", "en": "Equal effects across sites, p-value"}[lang])
            keys.append(f"sites_equal_p_{k}")
        if self.restoration is not None:
            o = self.restoration.overall
            res.add("income_restored_share", float(o["estimate"]), digits=3,
                    label={"zh": "实际收入恢复到搬迁前水平的搬迁户比例", "en": "Relocated households with real income restored"}[lang])
            keys.append("income_restored_share")
        if self.attrition is not None:
            t = self.attrition.tidy().set_index("term")["estimate"]
            res.add("attrition_relocated", float(t["attrition_relocated"]), digits=3,
                    label={"zh": "搬迁户返迁或离开比例", "en": "Relocated households returned or gone"}[lang])
            res.add("attrition_comparison", float(t["attrition_comparison"]), digits=3,
                    label={"zh": "对照户离开比例", "en": "Comparison households gone"}[lang])
            keys += ["attrition_relocated", "attrition_comparison"]
        return _lines(res, keys)

    # -- conclusions -----------------------------------------------------------------------------
    def conclusions(self) -> str:
        """What can and cannot be concluded, in plain words, in the report language (markdown)."""
        s, lang = self.settings, self.settings.lang
        if not self.applicable:
            return self._na(self.check.reason) + "\n\n" + {
                "zh": "这些数据不能用来估计搬迁的影响;上面的数字(如有)只是描述。",
                "en": "These data cannot support an estimate of what relocation changed; any numbers above are descriptive only."}[lang]
        can, cannot = [], []
        alpha = 1 - s.level
        for e in self.effects.values():
            if not e.applicable:
                continue
            o, d, label = headline(e, s), e.outcome.digits, e.outcome.label(lang)
            ci = f"[{_fmt(o['ci_low'], d)}, {_fmt(o['ci_high'], d)}]"
            if e.outcome.share:
                ci = f"[{100 * o['ci_low']:.1f}, {100 * o['ci_high']:.1f}]"
            pct = ""
            if e.outcome.log:
                pct = {"zh": f",约 {math.expm1(o['estimate']):+.1%}", "en": f", about {math.expm1(o['estimate']):+.1%}"}[lang]
            amount = f"{_fmt(o['estimate'], d)} {e.outcome.unit(lang)}"
            if e.outcome.share:
                amount = {"zh": f"{100 * o['estimate']:.1f} 个百分点", "en": f"{100 * o['estimate']:.1f} percentage points"}[lang]
            if o["ci_low"] > 0 or o["ci_high"] < 0:
                word = {"zh": "提高" if o["estimate"] > 0 else "降低", "en": "raised" if o["estimate"] > 0 else "lowered"}[lang]
                can.append({"zh": f"搬迁{word}了搬迁户的“{label}”: 平均 {amount}{pct}({s.level:.0%} 置信区间 {ci})。",
                            "en": f"Relocation {word} “{label}” of relocated households by {amount}{pct} on "
                                  f"average ({s.level:.0%} interval {ci})."}[lang])
            else:
                can.append({"zh": f"“{label}”: 估计值 {_fmt(o['estimate'], d)}({s.level:.0%} 置信区间 {ci})与零无法区分——不能说搬迁改变了它,也不能说没有改变。",
                            "en": f"“{label}”: the estimate {_fmt(o['estimate'], d)} ({s.level:.0%} interval {ci}) cannot be told "
                                  "apart from zero — neither a change nor its absence is shown."}[lang])
            p = e.cs.pretest["p_value"]
            if math.isfinite(p) and p < alpha:
                can.append({"zh": f"注意: “{label}”在搬迁前的趋势检验拒绝了平行趋势(p = {_p(p)}),对照户可能不能代表搬迁户“若未搬迁”的走势,该估计须谨慎解读。",
                            "en": f"Caution: the pre-trend test for “{label}” rejects parallel trends (p = {_p(p)}); the comparison "
                                  "households may not show what relocated households would have done without moving."}[lang])
        e = self.primary
        p = e.cs.pretest["p_value"]
        if math.isfinite(p) and p >= alpha:
            can.append({"zh": f"搬迁前,搬迁户与对照户的“{e.outcome.label(lang)}”走势没有可检测到的差异(p = {_p(p)})。这支持、但不能证明平行趋势假设(检验功效有限)。",
                        "en": f"Before relocation, “{e.outcome.label(lang)}” moved in step for relocated and comparison households as "
                              f"far as the test can tell (p = {_p(p)}). This supports, but cannot prove, the parallel-trends "
                              "assumption (such tests have limited power)."}[lang])
        if self.sites:
            res = self.sites[e.outcome.name]
            pv = res.test["p_value"]
            differ = math.isfinite(pv) and pv < alpha
            can.append({"zh": f"各安置点的效应{'有差异' if differ else '没有可检测到的差异'}(相等检验 p = {_p(pv)})。各点的对照户相同,估计值彼此正相关,该检验偏保守。",
                        "en": f"Effects {'differ' if differ else 'do not detectably differ'} across sites (equality test p = {_p(pv)}). "
                              "All sites share the same comparison households, so their estimates are positively correlated "
                              "and the test is conservative."}[lang])
        if self.restoration is not None:
            o = self.restoration.overall
            can.append({"zh": f"{o['estimate']:.1%} 的搬迁户 {self.check.years[-1]} 年的实际人均纯收入不低于搬迁前一年(按全国居民消费价格指数平减)。这是同一户的前后对比,是描述而非因果效应。",
                        "en": f"{o['estimate']:.1%} of relocated households had real per-capita income in {self.check.years[-1]} at least "
                              "as high as in the year before they moved (deflated by the national CPI). This is a before/after "
                              "comparison of the same households: descriptive, not a causal effect."}[lang])
        if self.attrition is not None:
            t = self.attrition.tidy().set_index("term")["estimate"]
            can.append({"zh": f"到 {self.check.years[-1]} 年,{t['attrition_relocated']:.1%} 的搬迁户已返迁或离开样本(对照户 {t['attrition_comparison']:.1%})。返迁户仍在样本中但不在安置点居住;若返迁与收入相关,只比较留在安置点的户会有偏。",
                        "en": f"By {self.check.years[-1]}, {t['attrition_relocated']:.1%} of relocated households had returned to their "
                              f"origin or left the panel (comparison: {t['attrition_comparison']:.1%}). If leaving is related to "
                              "income, comparisons of those who stayed are biased."}[lang])
        cannot += [
            {"zh": "估计的是“搬迁”这一整套措施(新住房、新地点与后续扶持)对搬迁户的平均效应,不能单独说明“后续扶持”的作用。",
             "en": "The estimate is the effect of relocation as a bundle (new housing, a new place and follow-up support) for "
                   "relocated households; it does not isolate the effect of follow-up support."},
            {"zh": "对照户同期也得到其他帮扶,因此比较的是“搬迁”相对于“其他帮扶”,而不是相对于“什么都不做”;结论也不适用于从未列入搬迁对象的户。",
             "en": "Comparison households received other poverty-alleviation support in the same years: the comparison is "
                   "relocation versus that, not versus nothing, and says nothing about households never considered for relocation."},
            {"zh": "各安置点的搬迁户不是随机分配的,点间差异可能反映谁搬到了哪里,而不只是安置点本身的做法。",
             "en": "Households were not assigned to sites at random: differences between sites may reflect who moved where, "
                   "not only what each site did."},
        ]
        cannot = [c[lang] for c in cannot]
        if e.twfe.staggered:
            cannot.append({"zh": "分批搬迁时,单独的 TWFE 系数不能作为效应的估计(见第 3 节)"
                                 + (";本报告的主估计量是 TWFE,上面的效应须对照 Callaway–Sant'Anna 解读。" if s.estimator == "twfe" else "。"),
                           "en": "With batches relocated in different years the TWFE coefficient alone is not an estimate of the "
                                 "effect (section 3)" + ("; this report's headline estimator is TWFE, so read the effects above "
                                                        "beside Callaway–Sant'Anna." if s.estimator == "twfe" else ".")}[lang])
        n_clusters = self.n_clusters
        if n_clusters is not None and n_clusters < 30:
            cannot.append({"zh": f"标准误按 `{s.cluster}` 聚类,只有 {n_clusters} 个聚类(少于约 30 个),置信区间和检验只能作参考。",
                           "en": f"Standard errors are clustered by `{s.cluster}` with only {n_clusters} clusters (fewer than "
                                 "about 30): intervals and tests are only indicative."}[lang])
        if self.synthetic:
            cannot.append({"zh": "**这些是模拟数据**:数字描述的是模拟器设定的效应,不是保德县真实住户的情况,不可引用为保德的事实。",
                           "en": "**These are synthetic data**: the numbers describe the simulator's built-in effects, not real "
                                 "Baode households, and must never be cited as facts about Baode."}[lang])
        head = {"zh": ("**可以得出的结论**", "**不能得出的结论**"), "en": ("**What can be concluded**", "**What cannot be concluded**")}[lang]
        return "\n".join([head[0], "", *[f"- {c}" for c in can], "", head[1], "", *[f"- {c}" for c in cannot]])

    # -- Excel -------------------------------------------------------------------------------------
    def to_excel(self, path: str | Path) -> Path:
        """The report's tables as a workbook for officials (one sheet per table); returns the path."""
        path = Path(path)
        lang = self.settings.lang
        sheets = {
            {"zh": "总体效应", "en": "Overall effects"}[lang]: self.att_table(),
            {"zh": "趋势检验", "en": "Pre-trend tests"}[lang]: self.pretrend_table(),
            {"zh": "各安置点", "en": "By site"}[lang]: self.site_table().reset_index() if self.sites else pd.DataFrame(),
            {"zh": "收入恢复", "en": "Income restoration"}[lang]: self.restoration_table().reset_index()
            if self.restoration is not None else pd.DataFrame(),
            {"zh": "样本流失", "en": "Attrition"}[lang]: self.attrition_table(),
        }
        with pd.ExcelWriter(path, engine="openpyxl") as xl:
            if not self.applicable:
                pd.DataFrame({"": [self.check.reason]}).to_excel(xl, sheet_name="NA", index=False)
            for name, table in sheets.items():
                if len(table):
                    table.to_excel(xl, sheet_name=name[:31], index=False)
        return path


def _cluster_arg_name(s: Settings) -> str | None:
    return None if s.cluster in ("household", ID) else s.cluster


def _p_value(o: Mapping) -> float:
    from scipy import stats

    se = o["std_error"]
    if not (se and math.isfinite(se) and se > 0):
        return float("nan")
    return float(2 * stats.norm.sf(abs(o["estimate"] / se)))


def _lines(res, keys: list[str]) -> str:
    wanted = {f"{res.section}.{k} " for k in keys}
    return "\n".join(line for line in res.text().splitlines() if any(line.startswith(w) for w in wanted))


def analyse(data: pd.DataFrame, s: Settings, *, synthetic: bool = False) -> ImpactAnalysis:
    """Run the impact notebook's analysis on ``data`` (unchanged) with checked settings ``s``."""
    return ImpactAnalysis(data, s, synthetic=synthetic)
