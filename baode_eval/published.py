"""The Baode article's figures: tables by goal, internal-consistency checks, income comparisons.

Pure functions over the tables from :mod:`baode_eval.datasets`; each returns a new DataFrame.
"""
from __future__ import annotations

import pandas as pd

from .datasets import reference_value
from .errors import DataError, ParameterError
from .i18n import GOALS, check_lang, goal_label, t

GOAL_ORDER = list(GOALS)

# Relative tolerance within which a derived figure counts as consistent with its reference.
CONSISTENCY_TOLERANCE = 0.05


def _value(figures: pd.DataFrame, fid: str) -> float:
    hit = figures.loc[figures["id"] == fid, "value"]
    if hit.empty:
        raise DataError(f"published figure {fid!r} is missing")
    return float(hit.iloc[0])


def by_goal(figures: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """Figures ordered by goal, with labels, values and qualifiers in ``lang``."""
    check_lang(lang)
    df = figures.copy()
    df["goal_order"] = df["goal"].map({g: i for i, g in enumerate(GOAL_ORDER)}).astype(int)
    df = df.sort_values(["goal_order", "id"], kind="stable")
    return pd.DataFrame(
        {
            t("goal", lang): [goal_label(g, lang) for g in df["goal"]],
            t("figure", lang): df[f"label_{lang}"].to_numpy(),
            t("value", lang): df["value"].to_numpy(),
            t("qualifier", lang): [t(q, lang) for q in df["qualifier"]],
            t("unit", lang): df["unit"].to_numpy(),
            t("year", lang): df["year"].to_numpy(),
        }
    ).reset_index(drop=True)


def goal_counts(figures: pd.DataFrame) -> pd.Series:
    """Number of published figures per goal, in goal order."""
    return figures["goal"].value_counts().reindex(GOAL_ORDER, fill_value=0)


_CHECK_TEXT = {
    "m2_per_unit": {
        "zh": "套均面积(平方米/套) = 17.6万平方米 ÷ 2197套", "en": "Floor area per unit (m²) = 176,000 ÷ 2,197",
        "note_zh": "对照全国套均80.6平方米", "note_en": "national mean 80.6 m² per unit",
    },
    "persons_per_household": {
        "zh": "户均人口 = 6583人 ÷ 2166户", "en": "Persons per household = 6,583 ÷ 2,166",
        "note_zh": "仅供参考", "note_en": "for reference",
    },
    "m2_per_person": {
        "zh": "人均面积(平方米/人) = 17.6万平方米 ÷ 6583人", "en": "Floor area per resident (m²) = 176,000 ÷ 6,583",
        "note_zh": "高于建档立卡人口人均25平方米上限;同步搬迁户不受此限,或人口口径不同,需核实",
        "note_en": "above the 25 m² per person cap for registered poor; non-poor (synchronised) households are not capped, or residents are counted differently — to be verified",
    },
    "medical_staff_per_1000": {
        "zh": "每千居民医务人员 = 8人 ÷ 6583人 × 1000", "en": "Medical staff per 1,000 residents = 8 ÷ 6,583 × 1,000",
        "note_zh": "仅安置区医疗分院,不含县医院", "note_en": "site clinic only, county hospitals not included",
    },
    "units_minus_households": {
        "zh": "安置房套数 − 医疗服务户数 (入住率100%)", "en": "Housing units − households served (move-in rate 100%)",
        "note_zh": "入住率100%时应一致;31套未得到解释", "note_en": "should agree when move-in is 100%; 31 units unexplained",
    },
    "labour_household_share": {
        "zh": "有劳动力脱贫户占服务户数比例(%)", "en": "Labour households as % of households served",
        "note_zh": "1190户为脱贫户,2166户含同步搬迁户,口径不同", "note_en": "1,190 are formerly poor households; 2,166 may include non-poor ones",
    },
    "jobs_per_enterprise": {
        "zh": "每个帮扶企业吸纳就业人数", "en": "Jobs per assistance enterprise",
        "note_zh": "214人 ÷ 7个企业", "note_en": "214 ÷ 7 enterprises",
    },
    "elderly_centre_cost_per_m2": {
        "zh": "日间照料中心每平方米投资(元)", "en": "Day-care centre investment per m² (yuan)",
        "note_zh": "160多万元 ÷ 640平方米,为下限", "note_en": "1.6+ million ÷ 640 m², a lower bound",
    },
}


def consistency_checks(figures: pd.DataFrame, reference: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """Figures the article implies, checked against each other and national references.

    Returns one row per check: ``check`` (id), ``label``, ``value``, ``reference``,
    ``status`` (``consistent``, ``flag`` or ``info``) and ``note``, labels in ``lang``.
    A derived figure is ``consistent`` when within ``CONSISTENCY_TOLERANCE`` of its reference.
    """
    check_lang(lang)
    v = lambda fid: _value(figures, fid)  # noqa: E731
    nat_unit = reference_value(reference, "programme_mean_unit_area", 2020)
    cap = reference_value(reference, "programme_area_cap_per_person", 2020)

    def near(x, ref):
        return "consistent" if abs(x / ref - 1) <= CONSISTENCY_TOLERANCE else "flag"

    m2_unit = v("housing_floor_area") / v("housing_units")
    m2_person = v("housing_floor_area") / v("clinic_residents_served")
    gap = v("housing_units") - v("clinic_households_served")
    rows = [
        ("m2_per_unit", m2_unit, nat_unit, near(m2_unit, nat_unit)),
        ("persons_per_household", v("clinic_residents_served") / v("clinic_households_served"), None, "info"),
        ("m2_per_person", m2_person, cap, "consistent" if m2_person <= cap else "flag"),
        ("medical_staff_per_1000", v("clinic_medical_staff") / v("clinic_residents_served") * 1000, None, "info"),
        ("units_minus_households", gap, 0.0, "consistent" if gap == 0 or v("move_in_rate") < 100 else "flag"),
        ("labour_household_share", v("labour_households") / v("clinic_households_served") * 100, None, "info"),
        ("jobs_per_enterprise", v("assistance_enterprise_jobs") / v("assistance_enterprises"), None, "info"),
        ("elderly_centre_cost_per_m2", v("elderly_centre_investment") / v("elderly_centre_area"), None, "info"),
    ]
    return pd.DataFrame(
        {
            "check": [r[0] for r in rows],
            "label": [_CHECK_TEXT[r[0]][lang] for r in rows],
            "value": [float(r[1]) for r in rows],
            "reference": [r[2] for r in rows],
            "status": [r[3] for r in rows],
            "status_label": [t(r[3], lang) for r in rows],
            "note": [_CHECK_TEXT[r[0]][f"note_{lang}"] for r in rows],
        }
    )


_COMPARATORS = [
    # series, concept
    ("national_rural_disposable_income", "disposable_income"),
    ("formerly_poor_net_income", "net_income"),
    ("relocated_poor_net_income", "net_income"),
    ("monitoring_line", "monitoring_line"),
]


def income_comparison(figures: pd.DataFrame, reference: pd.DataFrame, year: int, lang: str = "zh") -> pd.DataFrame:
    """Baode's ~13,000 yuan (net income of the formerly poor) against reference series of ``year``.

    One row per comparator with its value (missing, NaN, when the series has no value for ``year``),
    the ratio Baode / comparator, the comparator's concept and source status. Only the
    net-income rows compare like with like; disposable income (NBS) is a different concept.
    """
    check_lang(lang)
    if not isinstance(year, int) or isinstance(year, bool):
        raise ParameterError(f"comparison year must be an integer, got {year!r}")
    baode = _value(figures, "per_capita_income_formerly_poor")
    rows = []
    for series, concept in _COMPARATORS:
        meta = reference.loc[reference["series"] == series]
        if meta.empty:
            raise DataError(f"reference series {series!r} is missing")
        value = reference_value(reference, series, year)
        rows.append(
            {
                "series": series,
                "comparator": meta[f"label_{lang}"].iloc[0],
                "concept": t(concept, lang),
                "same_concept": concept == "net_income",
                "year": year,
                "value": value,
                "ratio": None if value is None else baode / value,
                "source_status": t(str(meta["status"].iloc[0]), lang),
            }
        )
    return pd.DataFrame(rows)
