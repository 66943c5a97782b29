"""Views of a scorecard used by the notebooks: rows restricted without re-estimation, the verdict grid."""
import matplotlib.pyplot as plt
import pytest

from baode_eval import plots, scorecard
from baode_eval.errors import ParameterError
from baode_eval.simulate import simulate


@pytest.fixture(scope="module")
def card():
    data = simulate(seed=4, households=300, years=(2020, 2022), sites=3).data
    return scorecard.build(data, by=("site", "year"), lang="en")


def test_where_keeps_the_full_design_estimates(card):
    full = card.tidy()
    view = card.where(year=2022).tidy()
    assert set(view["year"]) == {2022} and len(view) == (full["year"] == 2022).sum()
    merged = view.merge(full, on=["site", "year", "indicator"], suffixes=("", "_full"))
    assert (merged["estimate"].fillna(-1) == merged["estimate_full"].fillna(-1)).all()
    with pytest.raises(ParameterError, match="unknown column"):
        card.where(county="x")


def test_verdict_grid_colours_one_cell_per_indicator_and_site(card):
    view = card.where(year=2022).tidy()
    fig, ax = plots.verdict_grid(view, column="site")
    image = ax.images[0].get_array()
    assert image.shape == (view["indicator"].nunique(), view["site"].nunique())
    met = view.pivot(index="indicator", columns="site", values="verdict").reindex(
        index=view.drop_duplicates("indicator")["indicator"]) == "met"
    assert ((image.filled(-1) == 0) == met.to_numpy()).all()
    plt.close(fig)
