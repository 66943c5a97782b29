"""Per-site reports: the site helpers, the light charts, and ``baode-eval report --by site``
(a failing site, a kernel death and a timeout among good sites)."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import nbformat
import numpy as np
import pandas as pd
import pytest

from baode_eval import batch, cli, panel, scorecard, sites, webcharts
from baode_eval.errors import ParameterError


@pytest.fixture(scope="module")
def bundled():
    return panel.read_households("").data


# --- helpers -------------------------------------------------------------------------------

def test_check_site_and_year(bundled):
    names = sites.site_list(bundled)
    assert names == ["安置点01", "安置点02", "安置点03", "安置点04"]
    assert sites.check_site("", names) == "安置点01"
    assert sites.check_site("安置点03", names) == "安置点03"
    with pytest.raises(ParameterError, match=r"parameter 'site': '安置点9' is not a site.*安置点01, 安置点02"):
        sites.check_site("安置点9", names)
    assert sites.check_year(0, bundled) == int(bundled["year"].max())
    with pytest.raises(ParameterError, match=r"parameter 'year': 1999 is not in the data; years: 2014–2024"):
        sites.check_year(1999, bundled)
    with pytest.raises(ParameterError, match="no 'site' column"):
        sites.site_list(bundled.drop(columns="site"))


def test_site_estimates_match_a_direct_computation(bundled):
    """Census data: the site profile's per-capita income and employment are plain ratios of sums."""
    by_site, county = sites.scorecards("")
    t = by_site.where(site="安置点02", year=2023).tidy().set_index("indicator")
    rows = bundled[(bundled["site"] == "安置点02") & (bundled["year"] == 2023) & bundled["relocated"]]
    # the framework's definition: person-weighted mean of per-capita income
    pw = (rows["per_capita_net_income"] * rows["household_size"]).sum() / rows["household_size"].sum()
    assert t.loc["per_capita_net_income", "estimate"] == pytest.approx(pw, rel=1e-12)
    labour = rows[rows["labour_members"] > 0]
    assert t.loc["labour_households_employed", "estimate"] == pytest.approx(
        (labour["employed_members"] > 0).mean(), rel=1e-12)
    assert t.loc["per_capita_net_income", "n"] == len(rows)
    c = county.where(year=2023).tidy().set_index("indicator")
    every = bundled[(bundled["year"] == 2023) & bundled["relocated"]]
    assert c.loc["per_capita_net_income", "estimate"] == pytest.approx(
        (every["per_capita_net_income"] * every["household_size"]).sum() / every["household_size"].sum(), rel=1e-12)


def test_verdict_counts_and_ranking():
    tidy = pd.DataFrame({"verdict": ["met", "met", "not met", "inconclusive", None, "met"],
                         "n": [50, 50, 50, 50, 50, 3]})
    assert sites.verdict_counts(tidy) == {"met": 3, "not met": 1, "inconclusive": 1, "suppressed": 0,
                                          "no target": 1}
    assert sites.verdict_counts(tidy, min_cell=10) == {"met": 2, "not met": 1, "inconclusive": 1,
                                                       "suppressed": 1, "no target": 1}
    runs = [batch.SiteRun("A", "A", "ok", results={"met": {"value": 9}, "not_met": {"value": 1}}),
            batch.SiteRun("B", "B", "ok", results={"met": {"value": 5}, "not_met": {"value": 5}}),
            batch.SiteRun("C", "C", "failed", error="boom"),
            batch.SiteRun("D", "D", "ok", results={"met": {"value": 6}, "not_met": {"value": 5}})]
    assert [r.site for r in batch.ranked(runs)] == ["C", "B", "D", "A"]


def test_slugs_are_unique_and_file_safe():
    slugs = batch.slugify(["安置点 1", "安置点/1", "a..b", "", "A..B"])
    assert list(slugs.values()) == ["安置点_1", "安置点_1_2", "a_b", "site", "A_B_2"]


# --- light charts ----------------------------------------------------------------------------

@pytest.mark.parametrize("lo, hi, expected", [
    (0.0, 1.0, [0.0, 0.25, 0.5, 0.75, 1.0]),
    (0.53, 0.97, [0.4, 0.6, 0.8, 1.0]),  # step 0.2: the first round step ≥ (0.97 - 0.53) / 4
    (2100.0, 15800.0, [0.0, 5000.0, 10000.0, 15000.0, 20000.0]),
])
def test_nice_ticks(lo, hi, expected):
    assert webcharts.nice_ticks(lo, hi).tolist() == expected


def test_trend_panels_are_valid_svg_with_escaped_text(bundled):
    by_site, county = sites.scorecards("")
    trend = sites.trend_table(by_site, county, "安置点02")
    assert set(trend["indicator"]) == set(sites.TREND_INDICATORS)
    svg = webcharts.trend_panels(trend, site_label="<site & co>", county_label="全县")
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "<site & co>" in texts and "全县" in texts
    assert "实际居住率" in texts or any("居住" in (t or "") for t in texts)
    # one line for the site and one for the county per panel, with one point per year
    lines = root.findall(".//{http://www.w3.org/2000/svg}polyline")
    site_years = trend[(trend["where"] == "site") & (trend["indicator"] == "per_capita_net_income")]
    assert any(len(pl.get("points").split()) == len(site_years) for pl in lines)


def test_verdict_heatmap_shows_every_verdict(bundled):
    by_site, _ = sites.scorecards("")
    tidy = by_site.where(site="安置点03").tidy()
    markup = webcharts.verdict_heatmap(tidy, column="year", lang="en", min_cell=10)
    counts = sites.verdict_counts(tidy, min_cell=10)
    body = markup.split("<tbody>")[1]
    assert body.count(">✓</td>") == counts["met"]
    assert body.count(">✗</td>") == counts["not met"]
    assert body.count(">?</td>") == counts["inconclusive"]
    assert body.count(">·</td>") == counts["suppressed"]
    assert body.count("<tr>") == tidy["indicator"].nunique()


# --- the batch -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_province(tmp_path_factory):
    from baode_eval import simulate

    path = tmp_path_factory.mktemp("province") / "province.parquet"
    simulate.write_simulation(path, households=600, sites=6, seed=11)
    return path


def _test_notebook(path):
    """A site notebook that fails for one site, kills its kernel for another, hangs for a third."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell('site = ""\ndata_path = ""\nresults_path = ""', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import os, time\n"
            "from baode_eval import panel, sites\n"
            "from baode_eval.results import Results\n"
            "names = sites.site_list(panel.read_households(data_path).data)\n"
            "if site == names[1]:\n    raise RuntimeError('no data for this site')\n"
            "if site == names[2]:\n    os._exit(1)\n"
            "if site == names[3]:\n    time.sleep(600)\n"
            "res = Results(results_path, 'site')\n"
            "res.add('met', len(site)); res.add('not_met', names.index(site))\n"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_report_cli_failures_do_not_stop_other_sites(small_province, tmp_path, capsys):
    nb = _test_notebook(tmp_path / "site_test.ipynb")
    out = tmp_path / "out"
    code = cli.main(["report", "--by", "site", "--data", str(small_province), "--out", str(out), "--jobs", "2",
                     "--notebook", str(nb), "--timeout", "15"])
    assert code == 1
    printed = capsys.readouterr().out
    assert "3 of 6 site reports ok" in printed
    payload = json.loads((out / "results.json").read_text(encoding="utf-8"))
    names = sorted(payload["sites"])
    status = {k: v["status"] for k, v in payload["sites"].items()}
    assert [status[n] for n in names] == ["ok", "failed", "failed", "failed", "ok", "ok"]
    errors = {n: payload["sites"][n]["error"] for n in names}
    assert "RuntimeError: no data for this site" in errors[names[1]]
    assert "kernel died" in errors[names[2]]
    assert "timed out" in errors[names[3]]
    # the kernel came back: the sites after the death and the timeout ran
    assert payload["sites"][names[5]]["results"]["not_met"]["value"] == 5
    index = (out / "index.html").read_text(encoding="utf-8")
    # failed sites on top, then most targets not met first
    order = [index.index(f"<td>{n}") for n in (names[1], names[5], names[4], names[0])]
    assert order == sorted(order)
    assert "no data for this site" in index and "3 个安置点" not in index
    for n in (names[0], names[4], names[5]):
        assert (out / payload["sites"][n]["files"]["html"]).is_file()


def test_report_cli_bad_input(small_province, tmp_path, capsys):
    out = str(tmp_path / "o")
    assert cli.main(["report", "--by", "site", "--data", str(tmp_path / "nope.csv"), "--out", out]) == 2
    assert "nope.csv" in capsys.readouterr().err
    assert cli.main(["report", "--by", "site", "--data", str(small_province), "--out", out,
                     "--sites", "安置点999"]) == 2
    assert "安置点999" in capsys.readouterr().err
    params = tmp_path / "p.yaml"
    params.write_text("site: x\n", encoding="utf-8")
    assert cli.main(["report", "--by", "site", "--out", out, "--params", str(params)]) == 2
    assert "use --sites" in capsys.readouterr().err
    params.write_text("yeer: 2020\n", encoding="utf-8")
    assert cli.main(["report", "--by", "site", "--out", out, "--params", str(params)]) == 2
    assert "yeer" in capsys.readouterr().err


def test_site_reports_on_bundled_data(site_reports):
    """The real site notebook for every bundled site: HTML without code, no personal data,
    index sorted by verdicts that equal the scorecard's own counts."""
    out, summary = site_reports
    assert summary.exit_code == 0 and len(summary.runs) == 4
    by_site, _ = sites.scorecards("")
    latest = int(by_site.tidy()["year"].max())
    expected = {}
    for run in summary.runs:
        counts = sites.verdict_counts(by_site.where(site=run.site, year=latest).tidy(), min_cell=10)
        assert run.counts() == {k: counts[k] for k in ("met", "not met", "inconclusive", "suppressed")}
        expected[run.site] = sites.rank_key(counts, run.site)
        page = (out / run.files["html"]).read_text(encoding="utf-8")
        assert run.site in page and "NBVAL_CHECK_OUTPUT" not in page and "import " not in page
        assert '@font-face{font-family:"Baode CJK";src:url("../_static/' in page
        assert "H000" not in page  # household IDs never reach a report
        from openpyxl import load_workbook

        book = load_workbook(out / run.files["xlsx"], read_only=True)
        goal_sheets = [ws for ws in book.worksheets if ws.title != "说明 Notes"]
        assert [ws.title.split()[0] for ws in goal_sheets] == ["稳得住", "有就业", "能致富", "可融入"]
        rows = sum(ws.max_row - 1 for ws in goal_sheets)
        assert rows == by_site.where(site=run.site, year=latest).tidy()["indicator"].nunique() == 27
    index = (out / "index.html").read_text(encoding="utf-8")
    ranked_sites = sorted(expected, key=expected.get)
    positions = [index.index(f"<td>{s}") for s in ranked_sites]
    assert positions == sorted(positions)
    assert (out / "_static" / "NotoSansCJKsc-Regular-GB2312.otf").is_file()
    assert (out / "_static" / "LICENSE-OFL.txt").is_file()


def test_a_site_without_relocated_households_is_not_applicable(small_province, tmp_path):
    data = pd.read_parquet(small_province)
    site = sorted(data["site"].dropna().unique())[0]
    data.loc[data["site"] == site, "relocated"] = False
    data.loc[data["site"] == site, "relocation_year"] = np.nan
    path = tmp_path / "no_relocated.parquet"
    data.to_parquet(path)
    summary = batch.report_by_site(tmp_path / "out", data=path, sites=[site], jobs=1, lang="en",
                                   log=lambda *a: None)
    assert summary.exit_code == 0
    page = (tmp_path / "out" / summary.runs[0].files["html"]).read_text(encoding="utf-8")
    assert "Not applicable, because the site has no relocated households" in page
    assert summary.runs[0].counts() == {"met": 0, "not met": 0, "inconclusive": 0, "suppressed": 0}
