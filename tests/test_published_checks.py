"""Consistency checks and income comparisons on the article's figures.

Expected values: the checks the project brief derives from the article (DOMAIN.md §1:
80.1 m² per unit, 3.04 persons per household, 1.22 staff per 1,000, 31 unexplained units) and
ratios computed by hand from the NBS / brief reference values.
"""
import pandas as pd
import pytest

import baode_eval as be
from baode_eval import published
from baode_eval.errors import ParameterError


@pytest.fixture(scope="module")
def tables():
    return be.datasets.load_published(), be.datasets.load_reference()


def test_consistency_checks_match_the_brief(tables):
    figures, reference = tables
    checks = published.consistency_checks(figures, reference, "en").set_index("check")
    assert checks.loc["m2_per_unit", "value"] == pytest.approx(80.1, abs=0.05)
    assert checks.loc["m2_per_unit", "status"] == "consistent"  # national mean 80.6
    assert checks.loc["persons_per_household", "value"] == pytest.approx(3.04, abs=0.005)
    assert checks.loc["medical_staff_per_1000", "value"] == pytest.approx(1.22, abs=0.005)
    assert checks.loc["units_minus_households", "value"] == 31
    assert checks.loc["units_minus_households", "status"] == "flag"
    # 176,000 m² / 6,583 residents = 26.7 m² > the 25 m² per person cap
    assert checks.loc["m2_per_person", "value"] == pytest.approx(26.74, abs=0.005)
    assert checks.loc["m2_per_person", "status"] == "flag"
    assert sorted(checks.index[checks["status"] == "flag"]) == ["m2_per_person", "units_minus_households"]


def test_gap_is_not_flagged_when_move_in_below_100(tables):
    figures, reference = tables
    f = figures.copy()
    f.loc[f["id"] == "move_in_rate", "value"] = 98.6
    checks = published.consistency_checks(f, reference).set_index("check")
    assert checks.loc["units_minus_households", "status"] == "consistent"


def test_income_comparison_2022(tables):
    figures, reference = tables
    before = figures.copy()
    c = published.income_comparison(figures, reference, 2022, "en").set_index("series")
    assert c.loc["national_rural_disposable_income", "ratio"] == pytest.approx(13000 / 20133)
    assert c.loc["formerly_poor_net_income", "ratio"] == pytest.approx(13000 / 14342)
    assert c.loc["relocated_poor_net_income", "ratio"] == pytest.approx(13000 / 13615)
    assert c.loc["monitoring_line", "ratio"] == pytest.approx(13000 / 6300)
    assert not c.loc["national_rural_disposable_income", "same_concept"]
    assert c.loc["formerly_poor_net_income", "same_concept"]
    assert figures.equals(before)  # the caller's frame is not modified


def test_income_comparison_missing_year_is_none(tables):
    figures, reference = tables
    c = published.income_comparison(figures, reference, 2021, "zh").set_index("series")
    assert pd.isna(c.loc["relocated_poor_net_income", "value"])
    assert pd.isna(c.loc["relocated_poor_net_income", "ratio"])
    assert c.loc["formerly_poor_net_income", "ratio"] == pytest.approx(13000 / 12550)


def test_bad_parameters_are_clear(tables):
    figures, reference = tables
    with pytest.raises(ParameterError, match=r"lang must be one of \['zh', 'en'\]"):
        published.by_goal(figures, "fr")
    with pytest.raises(ParameterError, match="must be an integer"):
        published.income_comparison(figures, reference, "2022")


def test_by_goal_labels_in_both_languages(tables):
    figures, _ = tables
    zh = published.by_goal(figures, "zh")
    en = published.by_goal(figures, "en")
    assert zh["目标"].iloc[0] == "稳得住" and en["Goal"].iloc[0] == "Stable"
    assert len(zh) == len(en) == len(figures)
