"""Goal frameworks: the bundled files load, definitions evaluate with missing values kept
missing, and malformed files fail with the file name and the offending key."""
import numpy as np
import pandas as pd
import pytest
import yaml

from baode_eval import framework as fw
from baode_eval.errors import DataError


def test_bundled_frameworks_load():
    baode = fw.load()
    assert [g.id for g in baode.goals] == ["stable", "employed", "prosperous", "integrated"]
    assert len(baode.indicators) >= 20
    assert {g.zh for g in baode.goals} == {"稳得住", "有就业", "能致富", "可融入"}
    national = fw.load("national_three_goals")
    assert [g.zh for g in national.goals] == ["稳得住", "有就业", "逐步能致富"]
    assert set(baode.columns()) <= fw.canonical_columns()
    assert baode.indicator("labour_households_employed").target.value == 1.0
    assert baode.parameters["monitoring_line"].value_for(2022) == 6300


def test_expression_missing_values_propagate_and_kleene_logic():
    e = fw.parse_expression("labour_members >= 1 and employed_members >= 1", allowed={"labour_members", "employed_members"})
    d = {"labour_members": np.array([2, 0, np.nan, 1.0]), "employed_members": np.array([1, np.nan, 1, 0.0])}
    got = e.evaluate(lambda n, raw=False: d[n])
    # 0 and NaN is 0 (false either way); NaN and 1 is missing
    np.testing.assert_array_equal(got, [1.0, 0.0, np.nan, 0.0])


@pytest.mark.parametrize("bad, where, msg", [
    ("__import__('os')", "numerator", "only notna"),
    ("labour_members.sum", "numerator", "Attribute"),
    ("no_such_column >= 1", "numerator", "unknown column"),
])
def test_bad_expressions_name_the_key(tmp_path, bad, where, msg):
    raw = yaml.safe_load(fw.resolve("national_three_goals").read_text(encoding="utf-8"))
    raw["goals"][1]["indicators"][0][where] = bad
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(fw.FrameworkError) as e:
        fw.load(p)
    text = str(e.value)
    assert "bad.yaml" in text and f"goals[1].indicators[0](labour_households_employed).{where}" in text
    assert msg in text


@pytest.mark.parametrize("edit, key, msg", [
    (lambda r: r["goals"][0]["indicators"][0]["target"].update(direction="more"), "target.direction", "'>='"),
    (lambda r: r["goals"][0]["indicators"][0].update(kind="median"), ".kind", "'proportion'"),
    (lambda r: r["goals"][0]["indicators"][0].update(unit="family"), ".unit", "'household'"),
    (lambda r: r["goals"][0]["indicators"][0].pop("numerator"), ".numerator", "missing required key"),
    (lambda r: r["goals"][0]["indicators"][0].update(colour="red"), "indicators[0]", "unknown key"),
    (lambda r: r["goals"][0]["indicators"][1].update(id="move_in_rate"), "indicators[1](move_in_rate)", "duplicate"),
    (lambda r: r["goals"][2]["indicators"][0]["target"].update(parameter="nope"), "target.parameter", "unknown parameter"),
])
def test_bad_files_name_file_and_key(tmp_path, edit, key, msg):
    raw = yaml.safe_load(fw.resolve("national_three_goals").read_text(encoding="utf-8"))
    edit(raw)
    p = tmp_path / "edited.yaml"
    p.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(fw.FrameworkError) as e:
        fw.load(p)
    assert "edited.yaml" in str(e.value) and key in str(e.value) and msg in str(e.value)
    assert isinstance(e.value, DataError)


def test_unknown_framework_lists_bundled():
    with pytest.raises(fw.FrameworkError, match="baode_four_goals"):
        fw.load("nine_goals")


def test_row_values_use_parameters_by_year():
    f = fw.load()
    d = pd.DataFrame({"year": [2021, 2024], "per_capita_net_income": [6500.0, 7000.0]})
    for col in f.columns():
        if col not in d:
            d[col] = 1
    v = fw.row_values(d, f)
    num, den = v["below_monitoring_line"]
    assert num.tolist() == [0.0, 1.0]  # 6500 >= 6000 (2021); 7000 < 7500 (2024)
