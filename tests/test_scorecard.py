"""Scorecards: every default indicator computes with a verdict; the verdict rule; changes and
their SEs (checked against the SE of household differences); renderers and the CLI."""
import json

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from baode_eval import cli, scorecard, survey
from baode_eval import framework as fw
from synthetic import households


@pytest.fixture(scope="module")
def data():
    return households(seed=11)


@pytest.fixture(scope="module")
def card(data):
    return scorecard.build(data, lang="en")


def test_every_default_indicator_computes_with_a_verdict(card):
    t = card.tidy()
    f = fw.load()
    assert set(t["indicator"]) == {i.id for i in f.indicators}
    assert t["estimate"].notna().all()
    assert list(t.columns[:2]) == ["site", "year"]
    numeric = [i.id for i in f.indicators if i.target and i.target.direction in (">=", "<=")]
    with_target = t[t["indicator"].isin(numeric)]
    assert with_target["verdict"].isin(["met", "not met", "inconclusive"]).all()
    trend = t[t["direction"].isin(["rising", "falling"]) & (t["year"] > 2021)]
    assert trend["verdict"].isin(["met", "not met", "inconclusive"]).all()


def test_input_not_modified(data):
    before = data.copy()
    scorecard.build(data, by=["site", "year"])
    pd.testing.assert_frame_equal(data, before)


def test_verdict_rule():
    est = np.array([0.97, 0.97, 0.97, np.nan])
    lo = np.array([0.95, 0.90, 0.90, np.nan])
    hi = np.array([0.99, 0.99, 0.93, np.nan])
    assert list(scorecard.verdicts(est, lo, hi, [0.94] * 4, ">=")) == ["met", "inconclusive", "not met", None]
    assert list(scorecard.verdicts(est, lo, hi, [1.0] * 4, "<=")) == ["met", "met", "met", None]
    assert list(scorecard.verdicts(est, lo, hi, [0.92] * 4, "<=")) == ["not met", "inconclusive", "inconclusive", None]


def test_one_sided_bound_is_the_90_percent_interval_end(data, card):
    t = card.tidy()
    r = t[(t["indicator"] == "labour_employment_rate") & (t["site"] == "S1") & (t["year"] == 2022)].iloc[0]
    est90 = survey.interval(np.array([r["estimate"]]), np.array([r["std_error"]]), np.array([r["n"]]),
                            kind="proportion", level=0.90, df=16 - 4, census=False)
    lower = est90[0][0]
    expected = "met" if lower >= 0.9446 else ("not met" if est90[1][0] < 0.9446 else "inconclusive")
    assert r["verdict"] == expected


def test_census_compares_directly(data):
    c = scorecard.build(data, by="site", design="census").tidy()
    r = c[c["indicator"] == "labour_households_employed"]
    assert (r["std_error"] == 0).all() and (r["ci_low"] == r["estimate"]).all()
    expect = np.where(r["estimate"] >= 1.0, "met", "not met")
    assert list(r["verdict"]) == list(expect)
    # exact rate by hand for one site
    s1 = data[data["site"] == "S1"]
    lab = s1["labour_members"] >= 1
    exact = ((s1["employed_members"] >= 1) & lab).sum() / lab.sum()
    assert r[r["site"] == "S1"]["estimate"].iloc[0] == pytest.approx(exact)


def test_change_se_uses_shared_psus(data, card):
    """Panel: the change in a mean equals the mean of household differences, SE included."""
    ch = card.changes()
    r = ch[(ch["indicator"] == "community_activities") & (ch["site"] == "S2") & (ch["year"] == 2022)
           & (ch["comparison"] == "previous_year")].iloc[0]
    a = data[data["year"] == 2022].set_index("household_id")
    b = data[data["year"] == 2021].set_index("household_id")
    diff = a[["site", "stratum", "psu", "weight"]].assign(d=a["community_activities"] - b["community_activities"])
    want = survey.estimate(diff, "d", weights="weight", strata="stratum", psu="psu", by="site")
    want = want[want["site"] == "S2"].iloc[0]
    assert r["estimate"] == pytest.approx(want["estimate"], rel=1e-12)
    assert r["std_error"] == pytest.approx(want["std_error"], rel=1e-9)


def test_growth_against_reference_series(card):
    ch = card.changes()
    r = ch[(ch["indicator"] == "per_capita_net_income") & (ch["comparison"] == "previous_year")
           & (ch["year"] == 2022)].iloc[0]
    assert r["reference_series"] == "national_rural_disposable_income"
    assert r["reference_growth"] == pytest.approx(20133 / 18931 - 1)
    t = card.tidy()
    est = t[(t["indicator"] == "per_capita_net_income") & (t["site"] == r["site"])].set_index("year")["estimate"]
    assert r["growth"] == pytest.approx(est[2022] / est[2021] - 1)
    assert r["growth_gap"] == pytest.approx(r["growth"] - r["reference_growth"])
    assert r["growth_se"] > 0


def test_html_escapes_text(data):
    d = data.assign(site=data["site"].replace({"S1": "<script>alert(1)</script>"}))
    html = scorecard.build(d, by="site", lang="zh").to_html()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "达标" in html or "未达标" in html


def test_excel_sheet_per_goal_bilingual_and_suppressed(tmp_path, data):
    small = data[(data["site"] != "S4") | (data.index % 40 == 0)]  # S4 keeps 5 households a year
    path = scorecard.build(small, lang="en").to_excel(tmp_path / "card.xlsx", min_cell=10)
    wb = load_workbook(path)
    assert wb.sheetnames[:4] == ["稳得住 Stable", "有就业 Employed", "能致富 Prosperous", "可融入 Integrated"]
    ws = wb["有就业 Employed"]
    header = [c.value for c in ws[1]]
    assert "估计值 Estimate" in header and "结论 Verdict" in header
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=2)]
    s4 = [r for r in rows if r[0] == "S4"]
    assert s4 and all(r[header.index("估计值 Estimate")] is None for r in s4)
    assert all("suppressed" in r[header.index("结论 Verdict")] for r in s4)


def test_national_framework_is_configuration(data):
    c = scorecard.build(data, "national_three_goals", by="year", lang="zh").tidy()
    assert set(c["goal_label"]) == {"稳得住", "有就业", "逐步能致富"}


def test_cli_writes_csv_and_json(tmp_path, data):
    src = tmp_path / "hh.csv"
    data.to_csv(src, index=False)
    out = tmp_path / "card.csv"
    assert cli.main(["scorecard", str(src), "--by", "site,year", "--out", str(out), "--lang", "en"]) == 0
    t = pd.read_csv(out)
    assert len(t) == 27 * 12
    js = tmp_path / "card.json"
    assert cli.main(["scorecard", str(src), "--by", "year", "--out", str(js)]) == 0
    doc = json.loads(js.read_text(encoding="utf-8"))
    assert doc["glance"]["indicators"] == 27 and len(doc["rows"]) == 27 * 3
    assert cli.main(["scorecard", str(tmp_path / "missing.csv")]) == 2
    assert cli.main(["scorecard", str(src), "--out", str(tmp_path / "x.pdf")]) == 2


def test_phase_one_in_row_blocks_gives_the_same_card(data, card):
    """Phase 1 sums are additive: evaluating rows in blocks of 777 changes nothing."""
    blocked = scorecard.build(data, lang="en", chunk_rows=777).tidy()
    pd.testing.assert_frame_equal(blocked, card.tidy(), check_exact=False, rtol=1e-10)


def test_duckdb_phase_one_gives_the_same_card(data, card):
    pytest.importorskip("duckdb")
    other = scorecard.build(data, lang="en", engine="duckdb").tidy()
    mine = card.tidy()
    num = ["estimate", "std_error", "ci_low", "ci_high", "n", "target"]
    np.testing.assert_allclose(other[num].to_numpy(float), mine[num].to_numpy(float), rtol=1e-9, atol=1e-9)
    assert other["verdict"].astype(object).fillna("").tolist() == mine["verdict"].astype(object).fillna("").tolist()


def test_cli_reads_parquet_and_html(tmp_path, data):
    src = tmp_path / "hh.parquet"
    data.to_parquet(src)
    out = tmp_path / "card.html"
    assert cli.main(["scorecard", str(src), "--by", "site", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8").count("<tr>") == 1 + 27 * 4


def test_has_values_agrees_with_notna_any():
    """The design's column test, quick for integer, boolean and float columns, against pandas."""
    n = 200_000
    late = np.full(n, np.nan)
    late[150_000] = 2.5  # a value only in a late slice
    cols = [pd.Series([], dtype=float), pd.Series(np.arange(5)), pd.Series([True, False]),
            pd.Series(np.full(n, np.nan)), pd.Series(late), pd.Series(np.ones(3, np.float32)),
            pd.Series([None, "a"]), pd.Series([None, None], dtype=object),
            pd.Series(pd.Categorical([None, None], categories=["x"])), pd.Series([np.nan, 1.0], dtype="Float64"),
            pd.Series(pd.array([None, None], dtype="Int64"))]
    for col in cols:
        assert scorecard._has_values(col) == bool(col.notna().any()), col.dtype
    assert [scorecard._has_values(c) for c in cols[3:5]] == [False, True]
