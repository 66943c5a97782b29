"""The income, employment and services reports run through the runner on data that cannot support
every section (no survey weights, no relocation year, missing columns), on survey data, and with
bad parameters."""
import json

import pandas as pd
import pytest

from baode_eval import paths, runner, survey
from baode_eval.simulate import simulate

NAMES = ("05_income", "06_employment", "07_services")


def _notebooks():
    return [paths.notebooks_dir() / f"{n}.ipynb" for n in NAMES]


def _html(out, name):
    return (out / f"{name}.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    """A ledger without survey weights, relocation year, `relocated` or most service columns."""
    tmp = tmp_path_factory.mktemp("bare")
    data = simulate(households=90, years=(2019, 2022), seed=21).data
    keep = ["household_id", "year", "site", "household_size", "labour_members", "employed_members",
            "per_capita_net_income", "medical_insured_members", "medical_should_enrol_members"]
    src = tmp / "bare.csv"
    data[keep].to_csv(src, index=False)
    summary = runner.run(tmp / "out", data=src, lang="en", notebooks=_notebooks(), log=lambda *_: None)
    return summary, tmp / "out", data[keep]


def test_sections_the_data_cannot_support_say_why_instead_of_failing(bare):
    summary, out, _ = bare
    assert {r.name: r.status for r in summary.runs} == dict.fromkeys(NAMES, "ok"), [r.error for r in summary.runs]
    income = _html(out, "05_income")
    assert "Survey weights: not applicable</strong>, because the data carry no survey weights" in income
    assert ("Income restoration against the pre-move baseline: not applicable</strong>, because the data carry no "
            "year of relocation") in income
    assert "every household counts as relocated" in income
    employment = _html(out, "06_employment")
    assert "not applicable</strong>, because the data lack the columns they need" in employment
    assert "stably_employed_members" in employment
    assert "Place of work: not applicable</strong>, because the data lack the column(s) local_employed_members" in employment
    services = _html(out, "07_services")
    assert "Integration items: not applicable</strong>" in services
    assert "hukou" in services


def test_headline_numbers_of_the_bare_run_are_the_direct_computation(bare):
    summary, out, data = bare
    r = summary.results
    last = data[data["year"] == 2022]
    direct = (last["per_capita_net_income"] * last["household_size"]).sum() / last["household_size"].sum()
    assert r["income"]["per_capita_net_income"]["value"] == round(direct)
    assert r["income"]["line"]["value"] == 6300 and r["income"]["line_source"]["value"] == "monitoring_line"
    assert "share_restored" not in r["income"]
    labour = last[last["labour_members"] >= 1]
    assert r["employment"]["labour_households_employed"]["value"] == pytest.approx(
        (labour["employed_members"] >= 1).mean(), abs=1e-6)
    assert r["services"]["medical_insurance_rate"]["value"] == pytest.approx(
        last["medical_insured_members"].sum() / last["medical_should_enrol_members"].sum(), abs=1e-6)
    assert json.loads((out / "results.json").read_text(encoding="utf-8"))["status"]["05_income"] == "ok"


@pytest.fixture(scope="module")
def surveyed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("survey")
    data = simulate(households=240, years=(2016, 2022), seed=9, mode="survey").data
    src = tmp / "survey.parquet"
    data.to_parquet(src)
    summary = runner.run(tmp / "out", data=src, lang="zh", params={"site": "安置点02"}, notebooks=_notebooks(),
                         log=lambda *_: None)
    return summary, tmp / "out", data


def test_survey_data_give_design_based_estimates_for_the_site(surveyed):
    summary, out, data = surveyed
    assert {r.name: r.status for r in summary.runs} == dict.fromkeys(NAMES, "ok"), [r.error for r in summary.runs]
    assert "估计值按抽样权数加权" in _html(out, "05_income")
    frame = data.assign(pop=data["per_capita_net_income"] * data["household_size"])
    est = survey.estimate(frame, "pop", kind="ratio", denominator="household_size", weights="weight",
                          strata="stratum", psu="psu", fpc="fpc", by=["relocated", "site", "year"])
    row = est[(est["site"] == "安置点02") & (est["year"] == 2022) & est["relocated"].astype(bool)]
    assert summary.results["income"]["scope"]["value"] == "安置点02"
    assert summary.results["income"]["per_capita_net_income"]["value"] == round(float(row["estimate"].iloc[0]))
    assert (out / "05_income.xlsx").is_file() and (out / "06_employment.xlsx").is_file()


def test_bad_parameters_fail_with_a_message_naming_the_parameter(tmp_path):
    data = simulate(households=40, years=(2021, 2022), seed=1).data
    src = tmp_path / "small.parquet"
    data.to_parquet(src)
    summary = runner.run(tmp_path / "site", data=src, params={"site": "安置点9"}, notebooks=_notebooks(),
                         log=lambda *_: None)
    for run in summary.runs:
        assert run.status == "failed"
        assert "ParameterError" in run.error and "site='安置点9' is not in the data; valid sites: ['安置点01'" in run.error
    summary = runner.run(tmp_path / "year", data=src, params={"year": 2030, "income": {"monitoring_line": -5.0}},
                         notebooks=_notebooks()[:2], log=lambda *_: None)
    errors = {r.name: r.error for r in summary.runs}
    assert "monitoring_line must be a number >= 0" in errors["05_income"]
    assert "year=2030 is not in the data; available years: 2021-2022" in errors["06_employment"]
