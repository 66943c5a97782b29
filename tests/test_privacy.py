"""Personal data never leaves read(): not in data, quarantine, issues, JSON or the CLI summary."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import baode_eval
from baode_eval import privacy
from baode_eval.cli import main as cli_main
from baode_eval.errors import ParameterError
from household_files import NAMES, check_digit, households, make_id, make_ids, make_phone, zh_export

SALT = "test-salt-not-secret"


def _leaky_file(tmp_path, n=8):
    """A GBK export full of names, ID numbers and phones, with some rows broken on purpose."""
    df = zh_export(households(n))
    df.loc[1, "人数"] = "三口人"                              # type error -> quarantined
    df.loc[2, "家庭纯收入"] = "1"                              # income_sum error -> quarantined
    df.loc[3, "证件号码"] = df.loc[4, "证件号码"]              # duplicate ID -> quarantined
    df["备注"] = [f"户主电话{make_phone(i)}" for i in range(n)]  # unknown free-text column
    df["工资性收入"] = df["工资性收入"].astype(object)
    df.loc[5, "工资性收入"] = make_ids(1, start=77)[0]        # an ID number typed into a numeric cell
    p = tmp_path / "leaky.csv"
    df.to_csv(p, index=False, encoding="gbk")
    secrets = set(NAMES[:n]) | set(make_ids(n)) | {make_phone(i) for i in range(n)} | set(make_ids(1, start=77))
    return p, secrets


def _all_text(result) -> str:
    parts = [result.data.to_csv(), result.quarantine.to_csv(), result.report.issues.to_csv(), result.report.to_json()]
    return "\n".join(parts)


def test_id_check_digit_agrees_with_an_independent_implementation():
    for i in range(200):
        body = make_id(i, birth=f"19{50 + i % 50}0{1 + i % 9}1{i % 9}")[:17]
        assert privacy.id_check_digit(body) == check_digit(body)


@settings(max_examples=80, deadline=None)
@given(seq=st.integers(0, 999), year=st.integers(1930, 2020), pos=st.integers(0, 16), delta=st.integers(1, 9))
def test_any_single_digit_change_breaks_the_check(seq, year, pos, delta):
    good = make_id(seq, birth=f"{year}0615")
    assert privacy.is_id_number(good)
    bad = good[:pos] + str((int(good[pos]) + delta) % 10) + good[pos + 1:]
    assert not privacy.is_id_number(bad)


def test_patterns():
    good = make_id(5)
    assert privacy.is_id_number(good) and privacy.is_id_number(good.lower())
    assert not privacy.is_id_number(good[:17])
    assert not privacy.is_id_number("140931" + "19801301" + "1234")    # month 13
    assert privacy.is_mobile("13812345678") and privacy.is_mobile("+86 138-1234-5678")
    assert not privacy.is_mobile("12812345678") and not privacy.is_mobile("1381234567")
    assert privacy.redact_text(f"电话13812345678，身份证{good}。") == "电话[PHONE]，身份证[ID]。"


def test_read_drops_personal_data_by_default_everywhere(tmp_path):
    p, secrets = _leaky_file(tmp_path)
    r = baode_eval.read(p, keep_unknown=True)
    text = _all_text(r)
    leaked = sorted(s for s in secrets if s in text)
    assert leaked == []
    assert not {"head_name", "id_number", "phone"} & set(r.data.columns)
    assert r.report.rows_quarantined == 4 and r.report.rows_in == 8
    assert r.data["备注"].tolist()[0] == "户主电话[PHONE]"


def test_cli_output_and_json_hold_no_personal_data(tmp_path, capsys):
    p, secrets = _leaky_file(tmp_path)
    out = tmp_path / "v.json"
    code = cli_main(["validate", str(p), "--json", str(out), "--lang", "zh"])
    printed = capsys.readouterr()
    assert code == 1
    text = printed.out + printed.err + out.read_text(encoding="utf-8")
    assert sorted(s for s in secrets if s in text) == []
    assert json.loads(out.read_text(encoding="utf-8"))["rows_quarantined"] == 4


def test_pseudonymise_is_stable_and_salted(tmp_path):
    p, secrets = _leaky_file(tmp_path)
    a = baode_eval.read(p, protect="pseudonymise", salt=SALT)
    b = baode_eval.read(p, protect="pseudonymise", salt=SALT)
    c = baode_eval.read(p, protect="pseudonymise", salt=SALT + "x")
    assert a.data["id_number"].tolist() == b.data["id_number"].tolist()
    assert a.data["id_number"].tolist() != c.data["id_number"].tolist()
    assert all(len(v) == 16 for v in a.data["id_number"])
    assert a.data["id_number"].iloc[0] == privacy.pseudonym(make_ids(8)[0], SALT)
    assert sorted(s for s in secrets if s in _all_text(a)) == []


def test_pseudonymise_needs_a_salt(tmp_path):
    p, _ = _leaky_file(tmp_path)
    with pytest.raises(ParameterError, match="salt"):
        baode_eval.read(p, protect="pseudonymise")
    with pytest.raises(ParameterError, match="protect must be one of"):
        baode_eval.read(p, protect="hide")


def test_keep_mode_keeps_data_but_quarantine_and_issues_stay_clean(tmp_path):
    p, secrets = _leaky_file(tmp_path)
    r = baode_eval.read(p, protect="keep")
    assert r.data["id_number"].iloc[0] == make_ids(8)[0]
    issue_text = r.quarantine.to_csv() + r.report.to_json()
    assert sorted(s for s in secrets if s in issue_text) == []


def test_phone_column_recognised_by_pattern(tmp_path):
    p = tmp_path / "phones.csv"
    pd.DataFrame({"户编号": ["H1", "H2"], "年度": [2022, 2022],
                  "联络方式": [make_phone(1), make_phone(2)]}).to_csv(p, index=False)
    r = baode_eval.read(p, keep_unknown=True)
    assert "联络方式" not in r.data.columns
    assert "personal_by_pattern" in set(r.report.issues["rule"])


def test_derive_age_and_sex_before_removing_the_id(tmp_path):
    ids = [make_id(1, birth="19800101"), make_id(2, birth="20100615")]   # seq 001 odd: man; 002 even: woman
    p = tmp_path / "ages.csv"
    pd.DataFrame({"户编号": ["H1", "H2"], "年度": [2022, 2022], "证件号码": ids}).to_csv(p, index=False)
    d = baode_eval.read(p, derive_from_id=True).data
    assert d["head_age"].tolist() == [42, 12]
    assert d["head_sex"].tolist() == ["男", "女"]
    assert "id_number" not in d.columns


def test_formula_and_html_escaping():
    assert privacy.neutralise_formula("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    for start in ["+", "-", "@", "\t", "\r"]:
        assert privacy.neutralise_formula(start + "A1").startswith("'")
    assert privacy.neutralise_formula("-12.5") == "-12.5"
    assert privacy.neutralise_formula("安置点") == "安置点"
    assert privacy.escape_html('<img src=x onerror="a">') == "&lt;img src=x onerror=&quot;a&quot;&gt;"
    assert privacy.safe_text("=1+1") == "&#x27;=1+1"


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=20))
def test_neutralised_text_never_starts_a_formula(text):
    out = privacy.neutralise_formula(text)
    assert not out.startswith(("=", "+", "-", "@", "\t", "\r")) or out == text and privacy._PLAIN_NUMBER.match(text)
    assert out.removeprefix("'") == text or out == text


def test_suppress_small_cells():
    table = pd.DataFrame({"site": ["A", "B", "C"], "households": [12, 3, 0], "rate": [0.5, 1.0, np.nan]})
    out = privacy.suppress_small_cells(table, "households", k=5)
    assert out["suppressed"].tolist() == [False, True, True]
    assert out["households"].tolist()[0] == 12 and pd.isna(out["households"].iloc[1])
    assert pd.isna(out["rate"].iloc[1]) and out["rate"].iloc[0] == 0.5
    assert out["site"].tolist() == ["A", "B", "C"]
    assert table["households"].tolist() == [12, 3, 0]      # caller's table unchanged
    with pytest.raises(ParameterError, match="k must be"):
        privacy.suppress_small_cells(table, "households", k=0)
    with pytest.raises(ParameterError, match="count_col"):
        privacy.suppress_small_cells(table, "n")


def test_household_key_that_is_an_id_number_is_replaced(tmp_path):
    ids = make_ids(3)
    p = tmp_path / "keyed.csv"
    pd.DataFrame({"户编号": [ids[0], ids[1], ids[1], ids[2]], "年度": [2022, 2022, 2022, 2023],
                  "人数": [2, 3, 3, "x"]}).to_csv(p, index=False)
    r = baode_eval.read(p)
    assert r.data["household_id"].tolist() == ["K000001", "K000002"]
    assert r.quarantine["household_id"].tolist() == ["K000002", "K000003"]
    assert sorted(s for s in ids if s in _all_text(r)) == []
    q = baode_eval.read(p, protect="pseudonymise", salt=SALT)
    assert q.data["household_id"].tolist() == [privacy.pseudonym(ids[0], SALT), privacy.pseudonym(ids[1], SALT)]


def test_protect_and_safe_frame_leave_the_callers_frame_alone():
    df = pd.DataFrame({"id_number": [make_id(1)], "note": [f"电话{make_phone(1)}"], "site": ["=1+1"]})
    copy = df.copy()
    out = privacy.protect(df, columns=["id_number"], mode="drop")
    safe = privacy.safe_frame(df)
    pd.testing.assert_frame_equal(df, copy)
    assert list(out.columns) == ["note", "site"] and out["note"].iloc[0] == "电话[PHONE]"
    assert safe["site"].iloc[0] == "'=1+1"
