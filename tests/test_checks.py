"""Validation rules: each rule fires on the row it should, with the severity and message it should."""
from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import baode_eval
from baode_eval import checks
from baode_eval.errors import ParameterError
from household_files import households


def _canonical(n=6, changes=None):
    df = households(n).drop(columns=["head_name", "id_number", "phone"])
    for (col, pos), value in (changes or {}).items():
        df[col] = df[col].astype(object)
        df.loc[pos, col] = value
    return df


def _rules(issues: pd.DataFrame) -> list[tuple[str, int]]:
    return sorted(zip(issues["rule"], issues["row"].astype(int)))


def test_clean_households_have_no_issues():
    assert checks.validate(_canonical()).empty


@pytest.mark.parametrize("changes, expected", [
    ({("employed_members", 1): 9, ("labour_members", 1): 9, ("household_size", 1): 9}, []),
    ({("employed_members", 0): 3, ("labour_members", 0): 2, ("household_size", 0): 5}, [("members_order", 2)]),
    ({("labour_members", 2): 5, ("household_size", 2): 4, ("employed_members", 2): 0}, [("members_order", 4)]),
])
def test_members_order(changes, expected):
    df = _canonical(changes=changes)
    df["per_capita_net_income"] = df["net_income"] / df["household_size"].astype(float)
    found = [x for x in _rules(checks.validate(df)) if x[0] == "members_order"]
    assert found == expected


def test_income_components_must_add_up_within_tolerance():
    df = _canonical()
    df.loc[1, "net_income"] += 5          # within 10 yuan: fine
    df.loc[2, "net_income"] += 500        # not fine
    df["per_capita_net_income"] = df["net_income"] / df["household_size"]
    issues = checks.validate(df)
    assert _rules(issues) == [("income_sum", 4)]
    assert issues["severity"].tolist() == ["error"]
    relaxed = checks.validate(df, income_abs_tolerance=1000)
    assert relaxed.empty


def test_per_capita_must_match_net_income_over_size():
    df = _canonical()
    df.loc[3, "per_capita_net_income"] = df.loc[3, "per_capita_net_income"] * 2 + 100
    assert ("per_capita", 5) in _rules(checks.validate(df))


def test_monitoring_sanity_rules():
    df = _canonical(4)
    df["wage_income"] = [50.0, 0.0, 100.0, 20000.0]
    df["business_income"] = 0.0
    df["property_income"] = 0.0
    df["transfer_income"] = [300.0, 100.0, 1000.0, 200000.0]
    df["net_income"] = df[["wage_income", "transfer_income"]].sum(axis=1)
    df["household_size"] = 1
    df["labour_members"] = 1
    df["employed_members"] = 1
    df["per_capita_net_income"] = df["net_income"]
    got = _rules(checks.validate(df))
    assert got == [("income_outlier", 2), ("income_outlier", 3), ("income_outlier", 5), ("wage_small", 2)]
    bounds = _rules(checks.validate(df, income_outlier_bounds=(100, 1e6)))
    assert bounds == [("wage_small", 2)]


def test_quick_clearance_and_period_order():
    df = pd.DataFrame({
        "household_id": ["A", "B", "C", "D", "E"], "year": 2022,
        "risk_cleared": [True, True, True, False, True],
        "monitoring_start": ["202101", "202101", "202105", "202101", "202101"],
        "risk_cleared_date": ["202103", "202104", "202104", None, "202102"],
        "risk_clearance_way": ["帮扶消除", None, None, None, "自然消除"],
    })
    assert _rules(checks.validate(df)) == [("period_order", 4), ("quick_clearance", 2)]


def test_relocation_year_within_programme_years():
    df = _canonical(4)
    df["relocation_year"] = pd.array([2015, 2016, 2020, None], dtype="Int64")
    got = _rules(checks.validate(df))
    assert got == [("relocated_without_year", 5), ("relocation_year", 2)]
    assert _rules(checks.validate(df, programme_years=(2010, 2020))) == [("relocated_without_year", 5)]


def test_household_months_worked_cannot_exceed_12_per_member():
    df = _canonical(2)
    df["household_size"] = [1, 2]
    df["labour_members"] = [1, 2]
    df["employed_members"] = [1, 1]
    df["per_capita_net_income"] = df["net_income"] / df["household_size"]
    df["months_worked"] = [13.0, 24.0]
    assert _rules(checks.validate(df)) == [("months_worked", 2)]


def test_ranges_come_from_the_codebook():
    df = _canonical(3)
    df["integ_like_place"] = [1, 4, 5]
    df["household_size"] = df["household_size"].astype(object)
    assert ("range", 4) in _rules(checks.validate(df))


def test_duplicate_keys_and_ids():
    df = pd.DataFrame({"household_id": ["A", "A", "B", "C"], "year": [2022, 2022, 2022, 2022],
                       "id_number": ["x1", "x2", "x1", "x3"]})
    got = _rules(checks.validate(df))
    assert got == [("duplicate_id_number", 4), ("duplicate_key", 3)]


def test_messages_in_chinese_and_severity_override():
    df = _canonical()
    df.loc[0, "net_income"] += 1000
    df["per_capita_net_income"] = df["net_income"] / df["household_size"]
    zh = checks.validate(df, lang="zh")
    assert "各项收入合计" in zh["message"].iloc[0] and "家庭纯收入" in zh["message"].iloc[0]
    en = checks.validate(df, severity={"income_sum": "warning"})
    assert en["severity"].tolist() == ["warning"]
    with pytest.raises(ParameterError, match="unknown rule"):
        checks.validate(df, severity={"nope": "error"})
    with pytest.raises(ParameterError, match="one of"):
        checks.validate(df, severity={"income_sum": "fatal"})


def test_validate_does_not_modify_the_callers_frame():
    df = _canonical()
    df.loc[0, "net_income"] += 1000
    copy = df.copy()
    checks.validate(df)
    pd.testing.assert_frame_equal(df, copy)


def test_every_rule_has_both_languages_and_a_known_severity():
    for rule in checks.RULES.values():
        assert rule.en and rule.zh and rule.severity in checks.SEVERITIES


def test_warnings_keep_rows_and_errors_quarantine_them(tmp_path):
    df = _canonical()
    df.loc[0, "wage_income"] = 50.0        # warning only (wage_small) ...
    df.loc[0, "net_income"] = df.loc[0, ["wage_income", "business_income", "property_income", "transfer_income"]].sum()
    df.loc[2, "net_income"] += 1000        # error
    df["per_capita_net_income"] = df["net_income"] / df["household_size"]
    p = tmp_path / "w.parquet"
    df.to_parquet(p)
    r = baode_eval.read(p)
    assert r.data["household_id"].tolist() == ["H0000", "H0001", "H0003", "H0004", "H0005"]
    assert r.quarantine["row"].tolist() == [4]
    assert r.quarantine["reasons"].iloc[0].startswith("income_sum:")


_mutation = st.tuples(
    st.sampled_from(["household_size", "labour_members", "employed_members", "wage_income", "net_income",
                     "per_capita_net_income", "relocation_year", "household_id"]),
    st.integers(0, 7),
    st.one_of(st.integers(-5, 40), st.floats(-1e5, 1e9, allow_nan=False), st.none(), st.just("H0000")),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(_mutation, max_size=6))
def test_validator_reconciles_under_random_damage(tmp_path, mutations):
    df = _canonical(8).astype(object)
    for col, pos, value in mutations:
        df.loc[pos, col] = None if value is None else str(value)
    p = tmp_path / "m.csv"
    df.to_csv(p, index=False)
    r = baode_eval.read(p)
    rep = r.report
    assert rep.rows_in == 8 == rep.rows_valid + rep.rows_quarantined
    errors = set(rep.issues.loc[rep.issues["severity"] == "error", "row"].astype(int))
    assert set(r.quarantine["row"].astype(int)) == errors
    kept = [i for i in range(8) if i + 2 not in errors]
    assert r.data["household_id"].tolist() == [str(df.loc[i, "household_id"]) for i in kept]
    if not mutations:
        assert rep.clean
