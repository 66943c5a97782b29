"""The impact notebook's helper (baode_eval.impact.notebook) and the notebook itself on crafted data.

Recovery tolerance: the bundled synthetic panel (data/synthetic/, seed 0) has a known truth
(baode_truth.csv: the finite-population ATT). The Callaway–Sant'Anna estimate must lie within
3 standard errors of it — a deviation that a correct estimator exceeds with probability ~0.3%
per comparison, so a failure means a bug, not bad luck (and the data are fixed, so the test is
deterministic).
"""
import json

import numpy as np
import pandas as pd
import pytest

from baode_eval import panel, paths
from baode_eval.errors import ParameterError
from baode_eval.factory import Job, execute_jobs
from baode_eval.impact import notebook as nbk
from baode_eval.results import Results

TOLERANCE_SE = 3.0


@pytest.fixture(scope="module")
def bundled():
    return panel.households("")


@pytest.fixture(scope="module")
def truth():
    return pd.read_csv(paths.data_dir() / "synthetic" / "baode_truth.csv")


@pytest.fixture(scope="module")
def analysis(bundled):
    return nbk.analyse(bundled, nbk.settings(lang="en"), synthetic=True)


def _truth(truth, outcome, by="overall", **where):
    rows = truth[(truth["outcome"] == outcome) & (truth["by"] == by)]
    for col, value in where.items():
        rows = rows[rows[col] == value]
    assert len(rows) == 1, (outcome, by, where)
    return float(rows["att"].iloc[0])


# ---- parameters --------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, name", [
    ({"estimator": "ols"}, "estimator='ols'"),
    ({"comparison_group": "never"}, "comparison_group='never'"),
    ({"years": "2015-"}, "years='2015-'"),
    ({"years": "fifteen"}, "years='fifteen'"),
    ({"years": "2022-2015"}, "years='2022-2015'"),
    ({"years": 2015}, "years=2015"),
    ({"outcomes": ["log_per_capita_net_income", "incme"]}, r"outcomes: unknown outcome\(s\) \['incme'\]"),
    ({"outcomes": []}, "outcomes is empty"),
    ({"outcomes": 3}, "outcomes=3"),
    ({"level": 1.5}, "level=1.5"),
    ({"level": True}, "level=True"),
    ({"cluster": ""}, "cluster=''"),
    ({"lang": "fr"}, "lang must be one of"),
])
def test_bad_parameters_name_the_parameter(kwargs, name):
    with pytest.raises(ParameterError, match=name):
        nbk.settings(**kwargs)


def test_error_lists_what_is_allowed():
    with pytest.raises(ParameterError, match="'cs', 'twfe'"):
        nbk.settings(estimator="ols")
    with pytest.raises(ParameterError, match="family_doctor_signed"):
        nbk.settings(outcomes=["nope"])


def test_good_parameters_are_parsed():
    s = nbk.settings(lang="en", outcomes="per_capita_net_income, employment_rate", years=" 2015 - 2022 ",
                     comparison_group="notyettreated", estimator="twfe", level=0.9, cluster="origin_village")
    assert s.outcomes == ("per_capita_net_income", "employment_rate")
    assert s.years == (2015, 2022)
    assert (s.comparison_group, s.estimator, s.level, s.cluster) == ("notyettreated", "twfe", 0.9, "origin_village")
    assert nbk.parse_years("") is None and nbk.parse_years("2020") == (2020, 2020)
    assert nbk.settings().outcomes == nbk.DEFAULT_OUTCOMES


def test_the_notebook_defaults_are_valid_settings():
    from baode_eval import runner

    declared = runner.declared_parameters(paths.notebooks_dir() / "04_impact.ipynb")
    import ast

    values = {k: ast.literal_eval(v["default"]) for k, v in declared.items()}
    s = nbk.settings(**{k: values[k] for k in ("lang", "outcomes", "comparison_group", "estimator", "years", "level",
                                                "cluster")})
    assert s.outcomes == nbk.DEFAULT_OUTCOMES
    assert set(runner.RUNNER_PARAMETERS) <= set(declared)


def test_cluster_column_must_exist_and_cover_every_household(bundled):
    sub = bundled[bundled["year"] >= 2015]
    with pytest.raises(ParameterError, match="cluster='nonesuch'"):
        nbk.analyse(sub, nbk.settings(lang="en", outcomes=["per_capita_net_income"], cluster="nonesuch"))
    with pytest.raises(ParameterError, match="cluster='site': 1,083 household"):  # comparison households have no site
        nbk.analyse(sub, nbk.settings(lang="en", outcomes=["per_capita_net_income"], cluster="site"))


# ---- applicability --------------------------------------------------------------------------------

def test_one_year_of_data_is_not_applicable(bundled):
    one = bundled[bundled["year"] == 2020]
    for lang, words in (("en", "at least two"), ("zh", "至少需要两个年度")):
        a = nbk.analyse(one, nbk.settings(lang=lang))
        assert not a.applicable and words in a.check.reason
        assert a.section_reason("sites").startswith({"en": "**Not applicable**, because", "zh": "**不适用**,因为"}[lang])
        assert a.effects == {}
    r = Results(None, "impact")
    assert "impact.status = not applicable" in a.record_effects(r)
    assert r.items["reason"]["value"] == a.check.reason
    assert a.record_diagnostics(r) == ""
    assert "不适用" in a.conclusions()


def test_years_outside_the_data_are_not_applicable(bundled):
    a = nbk.analyse(bundled, nbk.settings(lang="en", years="2030-2032"))
    assert not a.applicable and "no rows in 2030–2032" in a.check.reason


def test_one_batch_and_no_never_relocated_is_not_applicable_for_either_comparison(bundled):
    same_year = bundled[bundled["relocation_year"] == 2018]
    a = nbk.analyse(same_year, nbk.settings(lang="en", comparison_group="nevertreated"))
    assert not a.applicable
    assert "no household that never relocated" in a.check.reason and "same year (2018)" in a.check.reason
    b = nbk.analyse(same_year, nbk.settings(lang="en", comparison_group="notyettreated"))
    assert not b.applicable and "no not-yet-relocated" in b.check.reason


def test_batches_without_never_relocated_need_the_not_yet_relocated_comparison(bundled):
    relocated = bundled[bundled["relocation_year"].fillna(0) > 0]
    a = nbk.analyse(relocated, nbk.settings(lang="en", outcomes=["log_per_capita_net_income"]))
    assert not a.applicable and 'comparison_group = "notyettreated"' in a.check.reason
    b = nbk.analyse(relocated, nbk.settings(lang="en", outcomes=["log_per_capita_net_income"],
                                            comparison_group="notyettreated"))
    assert b.applicable
    assert np.isfinite(nbk.headline(b.effects["log_per_capita_net_income"], b.settings)["estimate"])
    assert b.section_reason("attrition").startswith("**Not applicable**")  # no comparison households


def test_households_relocated_after_the_window_are_comparison_households(bundled):
    s = nbk.settings(lang="en", outcomes=["per_capita_net_income"], years="2014-2017")
    p = nbk.outcome_panel(bundled, "per_capita_net_income", s)
    # the 2018 and 2019 batches (758 + 203) had not relocated by 2017
    assert p.recoded_late == 961
    assert p.n_relocated == 454 + 751
    assert sorted(p.frame["year"].unique()) == [2014, 2015, 2016, 2017]


def test_an_absent_or_empty_outcome_is_left_out_with_a_reason(bundled):
    sub = bundled.drop(columns=["family_doctor_signed"]).assign(trained_members=np.nan)
    s = nbk.settings(lang="en", outcomes=["family_doctor_signed", "trained_members", "per_capita_net_income"])
    a = nbk.analyse(sub, s)
    assert a.applicable
    assert "`family_doctor_signed`" in a.effects["family_doctor_signed"].reason
    assert "missing in every row" in a.effects["trained_members"].reason
    assert a.effects["per_capita_net_income"].applicable
    assert a.primary is a.effects["per_capita_net_income"]
    notes = a.outcome_notes()
    assert "Not applicable" in notes and "Family-doctor contract signed" in notes
    r = Results(None, "impact")
    text = a.record_effects(r)
    assert "impact.att_family_doctor = NA" in text and "impact.att_income = " in text
    assert list(a.att_table()["Outcome"]) == ["Per-capita net income"]
    none_left = nbk.analyse(sub, nbk.settings(lang="en", outcomes=["family_doctor_signed"]))
    assert not none_left.applicable and "none of the outcomes" in none_left.check.reason


def test_outcome_preparation_and_analysis_leave_the_input_unchanged(bundled):
    data = bundled[bundled["year"] >= 2015].copy()
    before = data.copy()
    s = nbk.settings(lang="en", years="2015-2022")
    for name in s.outcomes:
        nbk.outcome_panel(data, name, s)
    nbk.analyse(data, s)
    pd.testing.assert_frame_equal(data, before)


def test_outcome_panel_is_balanced_and_carries_no_household_ids(bundled):
    s = nbk.settings(lang="en")
    p = nbk.outcome_panel(bundled, "employment_rate", s)
    f = p.frame
    assert (f.groupby("household_id").size() == bundled["year"].nunique()).all()
    assert np.isfinite(f["y"]).all() and f["y"].between(0, 1).all()
    assert p.dropped_missing > 0  # households without labour in some year
    assert not set(bundled["household_id"].astype(str)) & set(f["household_id"].astype(str))
    d = f["relocated_now"].to_numpy()
    assert ((d == 1) == ((f["first_treated"] > 0) & (f["year"] >= f["first_treated"]))).all()


# ---- recovery of the simulator's known effects ------------------------------------------------------

@pytest.mark.parametrize("outcome", ["log_per_capita_net_income", "per_capita_net_income", "family_doctor_signed"])
def test_overall_effect_recovers_the_bundled_truth(analysis, truth, outcome):
    o = nbk.headline(analysis.effects[outcome], analysis.settings)
    true = _truth(truth, outcome)
    assert abs(o["estimate"] - true) < TOLERANCE_SE * o["std_error"], (o["estimate"], o["std_error"], true)


def test_log_income_effect_matches_the_documented_run(analysis, truth):
    # README of data/synthetic: ATT 0.0939 (SE 0.0043) against a truth of 0.0910
    o = analysis.effects["log_per_capita_net_income"].cs.overall
    assert round(o["estimate"], 4) == 0.0939 and round(o["std_error"], 4) == 0.0043
    assert round(_truth(truth, "log_per_capita_net_income"), 4) == 0.0910


def test_not_yet_relocated_comparison_also_recovers_the_truth(bundled, truth):
    a = nbk.analyse(bundled, nbk.settings(lang="en", outcomes=["log_per_capita_net_income"],
                                          comparison_group="notyettreated"))
    o = nbk.headline(a.effects["log_per_capita_net_income"], a.settings)
    assert abs(o["estimate"] - _truth(truth, "log_per_capita_net_income")) < TOLERANCE_SE * o["std_error"]


def test_event_study_recovers_the_truth_by_years_since_relocation(analysis, truth):
    t = analysis.effects["log_per_capita_net_income"].event.tidy()
    post = t[(t["term"] != "overall") & (t["event_time"] >= 0)]
    assert len(post) == 9
    for _, r in post.iterrows():
        true = _truth(truth, "log_per_capita_net_income", by="event_time", event_time=int(r["event_time"]))
        assert abs(r["estimate"] - true) < TOLERANCE_SE * r["std_error"], (r["event_time"], r["estimate"], true)
    pre = t[(t["term"] != "overall") & (t["event_time"] <= -2)]
    assert (np.abs(pre["estimate"]) < TOLERANCE_SE * pre["std_error"]).all()  # no pre-trend was simulated


def test_site_effects_recover_the_truth_by_site(analysis, truth):
    t = analysis.sites["log_per_capita_net_income"].tidy()
    sites = t[t["term"] != "pooled (inverse-variance)"]
    assert len(sites) == 4
    for _, r in sites.iterrows():
        true = _truth(truth, "log_per_capita_net_income", by="site", site=r["site"])
        assert abs(r["estimate"] - true) < TOLERANCE_SE * r["std_error"], (r["site"], r["estimate"], true)


def test_twfe_is_further_from_the_truth_than_callaway_santanna(analysis, truth):
    # effects grow with years since relocation in the simulator: TWFE is biased downwards
    e = analysis.effects["log_per_capita_net_income"]
    true = _truth(truth, "log_per_capita_net_income")
    assert e.twfe.staggered
    assert true - e.twfe.overall["estimate"] > 3 * e.twfe.overall["std_error"]
    assert abs(e.cs.overall["estimate"] - true) < abs(e.twfe.overall["estimate"] - true)
    assert "Caution" in analysis.twfe_text() and len(analysis.bacon_table()) == 3


def test_headline_records_use_the_same_numbers(analysis):
    r = Results(None, "impact")
    text = analysis.record_effects(r)
    o = analysis.effects["log_per_capita_net_income"].cs.overall
    assert r.items["att_log_income"]["value"] == pytest.approx(o["estimate"], rel=1e-5)
    assert r.items["att_log_income_se"]["value"] == pytest.approx(o["std_error"], rel=1e-5)
    assert f"impact.att_log_income = {o['estimate']:.4f} log points" in text
    diag = analysis.record_diagnostics(r)
    assert "impact.pretrend_p_log_income = " in diag and "impact.income_restored_share = " in diag


def test_cpi_index_chains_the_reference_series():
    cpi = nbk.cpi_index()
    assert cpi.loc[2014] == 100.0
    assert cpi.loc[2016] == pytest.approx(100 * 1.014 * 1.020)
    assert nbk.cpi_index(base_year=2020).loc[2020] == pytest.approx(100.0)


def test_conclusions_and_figures_in_both_languages(bundled):
    import matplotlib.pyplot as plt

    from baode_eval.fonts import missing_glyphs

    for lang, words in (("en", ("What can be concluded", "What cannot be concluded", "synthetic")),
                        ("zh", ("可以得出的结论", "不能得出的结论", "模拟数据"))):
        a = nbk.analyse(bundled, nbk.settings(lang=lang, outcomes=["log_per_capita_net_income", "family_doctor_signed"]),
                        synthetic=True)
        text = a.conclusions()
        assert all(w in text for w in words)
        for fig, _ in (a.event_figure(), a.site_figure(), a.restoration_figure()):
            labels = [t.get_text() for t in fig.findobj(lambda o: hasattr(o, "get_text"))]
            shown = "".join(labels)
            assert not missing_glyphs(shown)
            has_hanzi = any("\u4e00" <= ch <= "\u9fff" for ch in shown.replace("安置点", ""))
            assert has_hanzi == (lang == "zh"), lang
            plt.close(fig)


def test_excel_tables_for_officials(analysis, tmp_path):
    from openpyxl import load_workbook

    path = analysis.to_excel(tmp_path / "04_impact.xlsx")
    wb = load_workbook(path)
    assert wb.sheetnames == ["Overall effects", "Pre-trend tests", "By site", "Income restoration", "Attrition"]
    values = [c.value for row in wb["Overall effects"].iter_rows() for c in row]
    assert "Per-capita net income (log)" in values


# ---- the notebook on crafted data files, through the factory (one warm kernel) -----------------------

@pytest.fixture(scope="module")
def crafted_runs(bundled, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("impact_crafted")
    cols = ["household_id", "year", "site", "relocated", "relocation_year", "per_capita_net_income",
            "employed_members", "labour_members", "family_doctor_signed"]
    ids = bundled["household_id"].drop_duplicates()
    relocated = bundled.loc[bundled["relocation_year"].fillna(0) > 0, "household_id"].drop_duplicates()
    comparison = ids[~ids.isin(relocated)]
    files = {
        "one_year": bundled.loc[bundled["year"] == 2020, cols].head(300),
        "one_batch": bundled.loc[bundled["relocation_year"] == 2018, cols].head(11 * 120),
        "no_doctor": bundled.loc[bundled["household_id"].isin(set(relocated.head(200)) | set(comparison.head(100))),
                                 [c for c in cols if c != "family_doctor_signed"]],
    }
    nb = paths.notebooks_dir() / "04_impact.ipynb"
    jobs = []
    for name, frame in files.items():
        path = tmp / f"{name}.csv"
        frame.to_csv(path, index=False)
        lang = "zh" if name == "one_batch" else "en"
        jobs.append(Job(name, nb, tmp / f"{name}.ipynb", {"lang": lang, "data_path": str(path),
                                                          "results_path": str(tmp / f"{name}.json"),
                                                          "output_dir": str(tmp)}, html=True))
    results = {r.name: r for r in execute_jobs(jobs, workers=1, timeout=300, cwd=tmp)}
    return tmp, results


def _html_text(path):
    import html
    import re

    text = path.read_text(encoding="utf-8")
    text = re.sub(r"<style.*?</style>|<script.*?</script>", " ", text, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", text))


def test_notebook_completes_on_one_year_with_a_not_applicable_section(crafted_runs):
    tmp, results = crafted_runs
    assert results["one_year"].status == "ok", results["one_year"].error
    saved = json.loads((tmp / "one_year.json").read_text(encoding="utf-8"))["impact"]
    assert saved["status"]["value"] == "not applicable"
    assert "at least two" in saved["reason"]["value"]
    page = _html_text(tmp / "one_year.html")
    assert page.count("Not applicable") >= 5 and "at least two" in page


def test_notebook_completes_when_all_relocated_in_one_year_with_no_comparison(crafted_runs):
    tmp, results = crafted_runs
    assert results["one_batch"].status == "ok", results["one_batch"].error
    saved = json.loads((tmp / "one_batch.json").read_text(encoding="utf-8"))["impact"]
    assert saved["status"]["value"] == "not applicable"
    assert "从未搬迁" in saved["reason"]["value"] and "2018" in saved["reason"]["value"]
    assert "不适用" in _html_text(tmp / "one_batch.html")


def test_notebook_reports_an_absent_outcome_and_estimates_the_others(crafted_runs):
    tmp, results = crafted_runs
    assert results["no_doctor"].status == "ok", results["no_doctor"].error
    saved = json.loads((tmp / "no_doctor.json").read_text(encoding="utf-8"))["impact"]
    assert saved["status"]["value"] == "estimated"
    assert saved["att_family_doctor"]["value"] is None
    assert "family_doctor_signed" in saved["att_family_doctor_not_applicable"]["value"]
    assert isinstance(saved["att_log_income"]["value"], float) and saved["att_log_income_se"]["value"] > 0
    page = _html_text(tmp / "no_doctor.html")
    assert "Not applicable" in page and "What can be concluded" in page
    assert (tmp / "04_impact.xlsx").is_file()
