"""`baode-eval run`: executes the notebooks, writes HTML, results.json and an index with provenance."""
import hashlib
import json

import nbformat
import pytest

from baode_eval import cli, paths, runner
from baode_eval.errors import ParameterError


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    code = cli.main(["run", "--out", str(out), "--lang", "en"])
    return code, out


def test_run_writes_every_file(report):
    code, out = report
    assert code == 0
    for name in ("index.html", "results.json", "01_published_figures.ipynb",
                 "01_published_figures.html", "01_published_figures.code.html"):
        assert (out / name).is_file(), name


def test_index_shows_goals_in_both_languages_and_provenance(report):
    _, out = report
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "稳得住" in page and "Stable" in page
    assert 'href="01_published_figures.html"' in page
    published_csv = paths.data_dir() / "published" / "baode_path_2022.csv"
    assert hashlib.sha256(published_csv.read_bytes()).hexdigest() in page
    assert "Git commit" in page and "0.1.0" in page


def test_results_json_holds_the_headline_numbers(report):
    _, out = report
    payload = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert payload["status"]["01_published_figures"] == "ok" and set(payload["status"].values()) == {"ok"}
    r = payload["results"]["published_figures"]
    assert r["m2_per_unit"]["value"] == pytest.approx(176000 / 2197, rel=1e-5)
    assert r["units_minus_households"]["value"] == 31
    assert r["figures_total"]["value"] == 33
    assert r["ratio_to_national_rural_disposable_income"]["value"] == pytest.approx(13000 / 20133, rel=1e-5)
    assert payload["provenance"]["parameters"]["01_published_figures"] == {"lang": "en"}


def test_html_for_officials_hides_code_and_the_analyst_version_shows_it(report):
    _, out = report
    officials = (out / "01_published_figures.html").read_text(encoding="utf-8")
    analysts = (out / "01_published_figures.code.html").read_text(encoding="utf-8")
    assert "check_lang" not in officials and "check_lang" in analysts
    assert "Internal consistency" in officials and "Floor area per unit" in officials
    assert "<img" in officials  # figures are embedded


def _notebook(path, source, params="x = 1"):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# {path.stem}"),
        nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(source),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_a_failing_notebook_is_reported_and_the_others_still_run(tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    bad = _notebook(nbs / "01_bad.ipynb", "raise ValueError('site data broken')")
    good = _notebook(nbs / "02_good.ipynb", "print(x + 1)")
    out = tmp_path / "out"
    summary = runner.run(out, notebooks=[bad, good], log=lambda *_: None)
    assert summary.exit_code == 1
    status = {r.name: r.status for r in summary.runs}
    assert status == {"01_bad": "failed", "02_good": "ok"}
    assert "site data broken" in summary.runs[0].error
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "site data broken" in page and "02_good.html" in page and "01_bad.html" in page


def test_parameters_are_validated_before_anything_runs(tmp_path):
    nb = runner.discover_notebooks()
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\) \['comparison_yaer'\]"):
        runner.run(tmp_path / "o", params={"comparison_yaer": 2021}, notebooks=nb)
    with pytest.raises(ParameterError, match="must be int, got str"):
        runner.run(tmp_path / "o", params={"comparison_year": "2021"}, notebooks=nb)
    with pytest.raises(ParameterError, match="lang must be one of"):
        runner.run(tmp_path / "o", lang="fr", notebooks=nb)
    assert not (tmp_path / "o").exists()


def test_params_file_per_notebook_section(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("lang: en\npublished_figures:\n  comparison_year: 2021\n", encoding="utf-8")
    resolved = runner.resolve_parameters(runner.discover_notebooks(), runner.load_params_file(f), lang=None, data_path=None)
    assert resolved["01_published_figures"] == {"lang": "en", "comparison_year": 2021}
    f.write_text("published_figures:\n  nonsense: 1\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="has no parameter 'nonsense'"):
        runner.resolve_parameters(runner.discover_notebooks(), runner.load_params_file(f), lang=None, data_path=None)


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert cli.main(["run", "--out", str(tmp_path), "--data", str(tmp_path / "missing.csv")]) == 2
    err = capsys.readouterr().err
    assert "missing.csv" in err and "data file not found" in err and "Traceback" not in err
    (tmp_path / "p.yaml").write_text("[1, 2", encoding="utf-8")
    assert cli.main(["run", "--out", str(tmp_path), "--params", str(tmp_path / "p.yaml")]) == 2
    assert "not valid YAML/JSON" in capsys.readouterr().err


def test_excel_tables_written_by_notebooks_are_linked(report):
    _, out = report
    assert (out / "03_scorecard.xlsx").is_file()
    assert 'href="03_scorecard.xlsx"' in (out / "index.html").read_text(encoding="utf-8")


def test_runner_supplied_parameters_cannot_be_set_by_users(tmp_path):
    with pytest.raises(ParameterError, match="output_dir"):
        runner.run(tmp_path / "o", params={"output_dir": "/etc"})


def test_impact_report_and_its_headline_figures(report):
    _, out = report
    assert (out / "04_impact.html").is_file() and (out / "04_impact.xlsx").is_file()
    payload = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert payload["status"]["04_impact"] == "ok"
    impact = payload["results"]["impact"]
    assert impact["status"]["value"] == "estimated"
    att, se = impact["att_log_income"]["value"], impact["att_log_income_se"]["value"]
    assert 0 < se < att  # the bundled panel's effect is clearly positive (tests/test_impact_notebook.py pins it)
    assert {"att_income", "att_employment_rate", "att_family_doctor", "pretrend_p_log_income"} <= set(impact)
    page = (out / "04_impact.html").read_text(encoding="utf-8")
    assert "What can be concluded" in page and "<img" in page
