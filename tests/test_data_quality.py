"""The data-quality tables, and the privacy promise end to end: personal data never reaches a report."""
import re

import pandas as pd
import pytest

from baode_eval import cli, panel, quality
from baode_eval.simulate import simulate, write_simulation


def test_quality_tables_reconcile_and_order_errors_first(tmp_path):
    data = simulate(seed=5, households=60, years=(2019, 2021)).data
    data.loc[data.index[3], "employed_members"] = 9  # more employed than members: error
    data.loc[data.index[7], "per_capita_net_income"] = 45_000  # sanity-rule outlier: warning
    path = tmp_path / "hh.csv"
    data.to_csv(path, index=False)
    result = panel.read_households(path, lang="en")
    over = quality.overview(result, "en").set_index("Item")["Value"]
    assert over["Rows read"] == f"{len(data):,}"
    assert int(over["Rows kept"].replace(",", "")) + int(over["Rows quarantined"]) == len(data)
    assert int(over["Rows quarantined"]) >= 1
    assert over["Rows reconcile (read = kept + quarantined)"] == "yes"
    rules = quality.issues_by_rule(result, "en")
    assert rules["Severity"].iloc[0] == "error"
    assert "income_outlier" in set(rules["Rule"])
    cov = quality.field_coverage(result.data, "zh").set_index("字段")
    assert cov.loc["per_capita_net_income", "有此字段"] == "是"
    assert "id_number" not in cov.index  # personal fields are not listed as analysable


def test_small_cells_are_suppressed_in_the_site_year_table():
    data = simulate(seed=2, households=40, years=(2020, 2021), sites=3).data
    small = quality.households_by_site_year(data, "en", k=1000)
    assert small.isna().all().all()
    full = quality.households_by_site_year(data, "en", k=1)
    assert int(full.sum().sum()) == len(data)


@pytest.fixture(scope="module")
def personal_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("personal")
    src = tmp / "ledger_zh.csv"
    write_simulation(src, households=120, years=(2019, 2022), seed=11, lang="zh", personal=True)
    raw = pd.read_csv(src, encoding="gbk", dtype=str)
    out = tmp / "report"
    code = cli.main(["run", "--data", str(src), "--out", str(out), "--lang", "zh"])
    return code, raw, out


def test_run_on_a_ledger_full_of_personal_data(personal_run):
    code, raw, out = personal_run
    assert code == 0
    assert {"户主姓名", "证件号码", "联系电话"} <= set(raw.columns)


def test_no_name_id_or_phone_reaches_any_output_file(personal_run):
    _, raw, out = personal_run
    secrets = set(raw["证件号码"]) | set(raw["联系电话"]) | set(raw["户主姓名"])
    assert len(secrets) > 300
    pattern = re.compile("|".join(re.escape(s) for s in sorted(secrets, key=len, reverse=True)))
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "02_data_quality.html" for p in files)
    for p in files:
        text = p.read_text(encoding="utf-8", errors="replace")
        hit = pattern.search(text)
        assert hit is None, f"{p.name} contains personal data"


def test_controls_data_from_the_file_does_reach_the_report(personal_run):
    # The search above is meaningful: values from the same file do reach the report, and with
    # protection switched off the reader would carry the personal columns along.
    _, raw, out = personal_run
    html = (out / "02_data_quality.html").read_text(encoding="utf-8")
    assert "ledger_zh.csv" in html and f"{len(raw):,}" in html
    kept = panel.read_households(out.parent / "ledger_zh.csv", protect="keep").data
    assert set(raw["证件号码"]) <= set(kept["id_number"].astype(str))
