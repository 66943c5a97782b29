"""Framework selection, scorecards on the indicators the data can support, the employment and
integration views, and the topic figures (return (fig, ax), draw Chinese, write nothing)."""
import os

import matplotlib
import numpy as np
import pandas as pd
import pytest

from baode_eval import employment, fonts, framework, income, plots, scorecard, services
from baode_eval.errors import ParameterError
from baode_eval.simulate import simulate


@pytest.fixture(scope="module")
def sim():
    return simulate(households=120, years=(2019, 2022), seed=8).data


def test_select_keeps_framework_order_and_rejects_unknown_ids():
    fwk = framework.load()
    emp = fwk.select(goals=["employed"])
    assert [g.id for g in emp.goals] == ["employed"]
    assert [i.id for i in emp.indicators] == [i.id for i in fwk.indicators if i.goal == "employed"]
    two = fwk.select(indicators=["return_rate", "medical_insurance_rate"])
    assert [i.id for i in two.indicators] == ["return_rate", "medical_insurance_rate"]
    assert [g.id for g in two.goals] == ["stable", "integrated"]
    with pytest.raises(ParameterError, match=r"goals: unknown id\(s\) \['happy'\]"):
        fwk.select(goals=["happy"])


def test_build_available_leaves_out_indicators_whose_columns_are_missing(sim):
    data = sim.drop(columns=["trained_members"]).assign(workshop_job_members=pd.NA)
    before = data.copy()
    card, missing = scorecard.build_available(data, goals=["employed"], by=("year",), lang="en")
    pd.testing.assert_frame_equal(data, before)
    assert missing == {"workshop_job_share": ["workshop_job_members"], "training_coverage": ["trained_members"]}
    assert set(card.tidy()["indicator"]) == set(employment.COVERAGE + employment.JOB_MIX) - set(missing)
    # the same estimates as the full scorecard
    full = scorecard.build(sim, by=("year",), lang="en").tidy().set_index(["indicator", "year"])["estimate"]
    mine = card.tidy().set_index(["indicator", "year"])["estimate"]
    pd.testing.assert_series_equal(mine, full.reindex(mine.index), check_names=False, check_index_type=False)
    none, missing = scorecard.build_available(sim[["year"]], goals=["employed"], by=("year",))
    assert none is None and len(missing) == 7


def test_outside_county_share_mirrors_the_local_share(sim):
    card, _ = scorecard.build_available(sim, goals=["employed"], by=("year",), lang="zh")
    tidy = card.tidy()
    before = tidy.copy()
    out = employment.with_outside_county(tidy, "zh")
    pd.testing.assert_frame_equal(tidy, before)
    local = tidy[tidy["indicator"] == employment.LOCAL].set_index("year")["estimate"]
    outside = out[out["indicator"] == employment.OUTSIDE].set_index("year")
    np.testing.assert_allclose(outside["estimate"], 1 - local)
    assert outside["label"].iloc[0] == "县外务工占比" and outside["target"].isna().all()
    # by hand: employed members outside the county over employed members
    part = sim[sim["year"] == 2022]
    hand = 1 - part["local_employed_members"].sum() / part["employed_members"].sum()
    assert outside.loc[2022, "estimate"] == pytest.approx(hand, rel=1e-12)


def test_likert_shares_by_hand():
    d = pd.DataFrame({"integ_like_place": [1, 4, 4, None], "integ_feel_local": [2, 2, 3, 3], "w": [1.0, 1.0, 2.0, 5.0]})
    out = services.likert_shares(d, weights="w", lang="en")
    assert list(out.index) == ["Likes the place", "Feels local"]
    assert out.loc["Likes the place"].tolist() == pytest.approx([0.25, 0, 0, 0.75])
    assert out.loc["Feels local"].tolist() == pytest.approx([0, 2 / 9, 7 / 9, 0])
    assert services.likert_shares(d, lang="zh").index[0] == "喜欢现居住地"


def _all_text(fig):
    return " ".join(t.get_text() for t in fig.findobj(matplotlib.text.Text))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_topic_figures_return_fig_ax_and_draw_their_labels(sim, lang, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    from baode_eval import datasets

    ref = datasets.load_reference()
    levels = income.by_scope(income.levels, sim, lang=lang)
    lines = income.poverty_lines(ref, [2019, 2020, 2021, 2022])
    card, _ = scorecard.build_available(sim, goals=["employed", "integrated"], by=("year",), lang=lang)
    now = card.where(year=2022).tidy()
    restored = income.restoration(simulate(households=60, years=(2015, 2022), seed=2).data, reference=ref, at=2022)
    figures = [
        plots.income_levels(levels, reference=income.reference_rows(ref, [2019, 2022]), lines=lines, lang=lang),
        plots.income_growth(levels[levels["domain"] == levels["domain"].iloc[0]], lang=lang),
        plots.income_boxes(income.scope_distribution(sim, 2022, lang=lang), column="domain", line=6300, lang=lang),
        plots.below_line_share(income.below_line(sim, lines, by=["year"]), lang=lang),
        plots.restoration_shares(restored.tidy(), lang=lang),
        plots.verdict_bars(now[now["indicator"].isin(employment.COVERAGE)], lang=lang),
        plots.indicator_trend(card.tidy()[card.tidy()["indicator"].isin(employment.COVERAGE)], lang=lang),
        plots.grouped_shares(employment.with_outside_county(now, lang)[lambda t: t["indicator"].isin(
            [*employment.JOB_MIX, employment.OUTSIDE])], column="year", lang=lang),
        plots.likert_items(services.likert_shares(sim, lang=lang), lang=lang),
    ]
    for fig, ax in figures:
        assert isinstance(fig, matplotlib.figure.Figure) and ax in fig.axes
        text = _all_text(fig)
        assert not fonts.missing_glyphs(text), fonts.missing_glyphs(text)
        fig.canvas.draw()
    text = _all_text(figures[0][0])
    assert ("搬迁户人均纯收入" in text) == (lang == "zh") and ("Per-capita net income" in text) == (lang == "en")
    assert os.listdir(tmp_path) == []
    plt.close("all")
