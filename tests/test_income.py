"""baode_eval.income against numbers with a known truth.

Tolerances: 1e-12 relative where the result is a closed form of the same floating-point sums
(hand formulas, replication of integer weights); 1e-9 where a peer package (numpy, statsmodels)
computes the same quantity by a different route.
"""
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.weightstats import DescrStatsW

import baode_eval as be
from baode_eval import income
from baode_eval.errors import DataError, ParameterError
from baode_eval.reports import NotApplicable


# ---------------------------------------------------------------------------------- quantiles


def test_weighted_quantile_by_hand():
    x = [4.0, 1.0, 3.0, 2.0]
    assert income.weighted_quantile(x, [0.25, 0.5, 0.75, 1.0]).tolist() == [1.0, 2.0, 3.0, 4.0]
    # weights 1,1,1,5 on 1,2,3,4: F = 1/8, 2/8, 3/8, 1 -> the median is 4
    assert income.weighted_quantile([1, 2, 3, 4], 0.5, [1, 1, 1, 5]).tolist() == [4.0]
    assert income.weighted_quantile([1, 2, 3, 4], 0.375, [1, 1, 1, 5]).tolist() == [3.0]
    assert np.isnan(income.weighted_quantile([], 0.5)).all()


def test_weighted_quantile_equals_numpy_inverted_cdf_with_equal_weights():
    rng = np.random.default_rng(7)
    x = rng.lognormal(9, 0.4, size=501)
    probs = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]
    expected = np.quantile(x, probs, method="inverted_cdf")
    np.testing.assert_allclose(income.weighted_quantile(x, probs), expected, rtol=1e-9)
    np.testing.assert_allclose(income.weighted_quantile(x, probs, np.full(len(x), 3.7)), expected, rtol=1e-9)


def test_integer_weights_act_as_repeated_rows():
    rng = np.random.default_rng(3)
    x = rng.normal(10_000, 2_000, size=60).round()
    w = rng.integers(1, 6, size=60)
    probs = [0.1, 0.25, 0.5, 0.75, 0.9]
    repeated = np.repeat(x, w)
    np.testing.assert_allclose(income.weighted_quantile(x, probs, w),
                               np.quantile(repeated, probs, method="inverted_cdf"), rtol=1e-12)
    assert income.gini(x, w) == pytest.approx(income.gini(repeated), rel=1e-12)


def test_weighted_quantile_rejects_bad_input():
    with pytest.raises(ParameterError, match="probs"):
        income.weighted_quantile([1, 2], 1.5)
    with pytest.raises(ParameterError, match="non-negative"):
        income.weighted_quantile([1, 2], 0.5, [1, -1])


# ---------------------------------------------------------------------------------- Gini


def test_gini_by_hand():
    # 1..5: sum over ordered pairs of |xi - xj| = 40; G = 40 / (2 * 25 * 3) = 4/15
    assert income.gini([1, 2, 3, 4, 5]) == pytest.approx(4 / 15, rel=1e-12)
    assert income.gini([0, 0, 0, 1]) == pytest.approx(0.75, rel=1e-12)
    assert income.gini([5, 5, 5]) == pytest.approx(0.0, abs=1e-15)
    assert np.isnan(income.gini([0, 0]))


def test_gini_equals_the_double_sum_with_weights():
    rng = np.random.default_rng(11)
    x = rng.lognormal(9, 0.5, size=40)
    w = rng.uniform(0.5, 3, size=40)
    brute = np.sum(np.outer(w, w) * np.abs(x[:, None] - x[None, :])) / (2 * w.sum() ** 2 * np.average(x, weights=w))
    assert income.gini(x, w) == pytest.approx(brute, rel=1e-12)


# ---------------------------------------------------------------------------------- price index, lines


def _reference_rows(series, concept, values):
    return pd.DataFrame({"series": series, "concept": concept, "year": list(values), "value": list(values.values()),
                         "status": "verified", "label_zh": "x", "label_en": "x"})


def test_price_index_chains_previous_year_indices():
    ref = _reference_rows("cpi", "price_index", {2020: 102.5, 2021: 102.0, 2022: 101.0})
    level = income.price_index(ref, "cpi")
    assert level.to_dict() == pytest.approx({2020: 100.0, 2021: 102.0, 2022: 102.0 * 1.01})
    gap = _reference_rows("cpi", "price_index", {2020: 100.0, 2022: 101.0})
    with pytest.raises(DataError, match="gaps"):
        income.price_index(gap, "cpi")
    with pytest.raises(ParameterError, match=r"price-index series: \['cpi'\]"):
        income.price_index(ref, "rural_cpi")


def test_bundled_cpi_and_lines():
    ref = be.datasets.load_reference()
    cpi = income.price_index(ref)
    assert cpi.index.min() == 2014 and cpi.index.max() >= 2024
    assert cpi[2016] == pytest.approx(100 * 1.014 * 1.020)
    lines = income.poverty_lines(ref, [2019, 2020, 2024]).set_index("year")
    assert np.isnan(lines.loc[2019, "line"]) and pd.isna(lines.loc[2019, "series"])
    assert (lines.loc[2020, "line"], lines.loc[2020, "series"]) == (4000.0, "national_poverty_line")
    assert (lines.loc[2024, "line"], lines.loc[2024, "series"]) == (7500.0, "monitoring_line")
    assert lines.loc[2024, "status"] == "unverified"
    over = income.poverty_lines(ref, [2019, 2024], override=8000)
    assert over["line"].tolist() == [8000.0, 8000.0] and set(over["series"]) == {"parameter"}
    assert income.check_cpi_series(ref, "national_cpi") == "national_cpi"
    with pytest.raises(ParameterError, match=r"cpi_series='nope'.*available: \['national_cpi'\]"):
        income.check_cpi_series(ref, "nope")


# ---------------------------------------------------------------------------------- below the line


@pytest.fixture
def small():
    """Eight households over two years, hand-checkable."""
    return pd.DataFrame({
        "household_id": [f"h{i}" for i in range(4)] * 2,
        "year": [2021] * 4 + [2022] * 4,
        "site": ["A", "A", "B", "B"] * 2,
        "relocated": [True] * 8,
        "relocation_year": [2021] * 8,
        "household_size": [1, 2, 3, 4] * 2,
        "per_capita_net_income": [5000.0, 6500.0, 7000.0, 9000.0, 6000.0, 6200.0, 8000.0, 12000.0],
        "weight": [1.0, 2.0, 3.0, 4.0] * 2,
    })


def test_below_line_share_and_se_against_the_linearisation_formula(small):
    lines = pd.DataFrame({"year": [2021, 2022], "line": [6000.0, 6300.0]})
    before = small.copy()
    design = be.survey.Design(weights="weight")
    out = income.below_line(small, lines, by=["year"], design=design).set_index("year")
    pd.testing.assert_frame_equal(small, before)
    for yr, line in ((2021, 6000.0), (2022, 6300.0)):
        part = small[small["year"] == yr]
        y = (part["per_capita_net_income"] < line).to_numpy(float)
        w = part["weight"].to_numpy()
        p = np.sum(w * y) / w.sum()
        n = len(y)
        # domain estimate with the full design: rows of the other year are in the design with z = 0
        z = np.r_[w * (y - p) / w.sum(), np.zeros(len(small) - n)]
        se = np.sqrt(len(z) / (len(z) - 1) * np.sum((z - z.mean()) ** 2))
        assert out.loc[yr, "estimate"] == pytest.approx(p, rel=1e-12)
        assert out.loc[yr, "std_error"] == pytest.approx(se, rel=1e-12)
        assert out.loc[yr, "line"] == line
    # 2021: 5,000 below 6,000 -> weight 1 of 10; 2022: 6,000 and 6,200 below 6,300 -> weights 3 of 10
    assert out["estimate"].tolist() == pytest.approx([0.1, 0.3])


def test_below_line_unweighted_se_equals_statsmodels():
    rng = np.random.default_rng(5)
    data = pd.DataFrame({"year": 2022, "per_capita_net_income": rng.normal(7000, 1500, 80), "w": 1.0})
    lines = pd.DataFrame({"year": [2022], "line": [6300.0]})
    out = income.below_line(data, lines, by=[], design=be.survey.Design(weights="w"))
    y = (data["per_capita_net_income"] < 6300).to_numpy(float)
    assert out["estimate"].iloc[0] == pytest.approx(y.mean(), rel=1e-12)
    assert out["std_error"].iloc[0] == pytest.approx(DescrStatsW(y).std_mean, rel=1e-9)


def test_below_line_census_is_exact_and_skips_years_without_a_line(small):
    lines = pd.DataFrame({"year": [2021, 2022], "line": [6000.0, np.nan]})
    out = income.below_line(small, lines, by=["year"], design=be.survey.Design())
    assert out["year"].tolist() == [2021]
    assert out["estimate"].iloc[0] == pytest.approx(0.25)  # one household of four, unweighted
    assert out["std_error"].iloc[0] == 0 and out["ci_low"].iloc[0] == out["ci_high"].iloc[0]


# ---------------------------------------------------------------------------------- levels and growth


def test_levels_are_person_weighted_and_growth_is_by_hand(small):
    census = small.drop(columns="weight")
    before = census.copy()
    out = income.levels(census, by=("year",), lang="en").set_index("year")
    pd.testing.assert_frame_equal(census, before)
    r = {}
    for yr in (2021, 2022):
        part = census[census["year"] == yr]
        r[yr] = (part["per_capita_net_income"] * part["household_size"]).sum() / part["household_size"].sum()
        assert out.loc[yr, "estimate"] == pytest.approx(r[yr], rel=1e-12)
    assert np.isnan(out.loc[2021, "growth"])
    assert out.loc[2022, "growth"] == pytest.approx(r[2022] / r[2021] - 1, rel=1e-12)
    assert out.loc[2022, "reference_growth"] == pytest.approx(20133 / 18931 - 1, rel=1e-12)
    assert out.loc[2022, "growth_gap"] == pytest.approx(r[2022] / r[2021] - 20133 / 18931, rel=1e-12)
    with pytest.raises(ParameterError, match="year"):
        income.levels(census, by=("site",))


def test_by_scope_domains_use_the_full_design(small):
    data = pd.concat([small, small.assign(relocated=False, site=None, household_id=lambda d: d["household_id"] + "c",
                                          per_capita_net_income=1.0)], ignore_index=True)
    out = income.by_scope(income.levels, data, lang="zh").set_index(["domain", "year"])
    assert set(out.index.get_level_values("domain")) == {"全县", "A", "B"}
    part = small[(small["year"] == 2022) & (small["site"] == "B")]
    w = part["weight"] * part["household_size"]
    assert out.loc[("B", 2022), "estimate"] == pytest.approx((w * part["per_capita_net_income"]).sum() / w.sum())
    assert out.loc[("全县", 2022), "n"] == 4  # comparison households are not in the county's relocated domain


def test_bundled_panel_2022_income_matches_the_calibration_table():
    # data/synthetic/README.md: relocated per-capita net income 2022 simulated = 12,891 yuan
    data = be.panel.households("")
    out = income.by_scope(income.levels, data, lang="en")
    county = out[(out["domain"] == "County") & (out["year"] == 2022)]
    assert round(float(county["estimate"].iloc[0])) == 12891
    rel = data[data["relocated"].astype(bool) & (data["year"] == 2022)]
    direct = (rel["per_capita_net_income"] * rel["household_size"]).sum() / rel["household_size"].sum()
    assert float(county["estimate"].iloc[0]) == pytest.approx(direct, rel=1e-12)


# ---------------------------------------------------------------------------------- distribution


def test_distribution_by_site(small):
    before = small.copy()
    out = income.distribution(small[small["year"] == 2022], by=["site"], weights="weight").set_index("site")
    pd.testing.assert_frame_equal(small, before)
    assert out.loc["A", "p50"] == 6200.0  # weights 1, 2 on 6,000 and 6,200: F(6000) = 1/3 < 0.5
    assert out.loc["B", "p10"] == 8000.0 and out.loc["B", "p90"] == 12000.0
    assert out.loc["B", "p90_p10"] == pytest.approx(1.5)
    assert out.loc["B", "mean"] == pytest.approx((3 * 8000 + 4 * 12000) / 7)
    assert out.loc["A", "n"] == 2


# ---------------------------------------------------------------------------------- restoration


def test_restoration_ratio_by_hand_and_not_applicable_cases(small):
    ref = _reference_rows("cpi", "price_index", {2019: 100.0, 2020: 110.0, 2021: 100.0, 2022: 100.0})
    data = small.assign(relocation_year=2022)  # baseline = 2021
    before = data.copy()
    res = income.restoration(data, reference=ref, at=2022, cpi_series="cpi", design=be.survey.Design(), by=None)
    pd.testing.assert_frame_equal(data, before)
    hh = res.households().set_index("household_id")
    base = small[small["year"] == 2021].set_index("household_id")["per_capita_net_income"] / 110.0
    now = small[small["year"] == 2022].set_index("household_id")["per_capita_net_income"] / 110.0
    np.testing.assert_allclose(hh["ratio"].sort_index(), (now / base).sort_index(), rtol=1e-12)
    overall = income.restoration_overall(res)
    # ratios 1.2, 0.954, 1.143, 1.333 -> three of four restored
    assert overall["share_restored"] == pytest.approx(0.75)
    assert overall["n_households"] == 4

    na = income.restoration(data.drop(columns="relocation_year"), reference=ref, at=2022, cpi_series="cpi")
    assert isinstance(na, NotApplicable) and na.because == "no_relocation_year"
    assert "not applicable, because" in str(na) and "不适用" in na.text("zh")
    early = income.restoration(small.assign(relocation_year=2019), reference=ref, at=2022, cpi_series="cpi")
    assert isinstance(early, NotApplicable) and early.because == "no_baseline"
    assert "2021-2022" in early.text("en")
    no_cpi = income.restoration(data, reference=ref, at=2022, cpi_series="rural_cpi")
    assert isinstance(no_cpi, NotApplicable) and no_cpi.because == "no_cpi"


def test_missing_columns_are_named(small):
    na = income.missing(small.drop(columns=["household_size"]), "levels")
    assert na.detail == {"columns": ["household_size"]}
    assert "household_size" in na.text("en")
    assert income.missing(small, "levels") is None


# ---------------------------------------------------------------------------------- reference comparison


def test_reference_comparison_uses_the_same_year_for_both():
    ref = be.datasets.load_reference()
    levels = pd.Series({2021: 11000.0, 2022: 13000.0, 2024: 15000.0})
    out = income.reference_comparison(levels, ref, 2024, "en").set_index("series")
    assert out.loc["national_rural_disposable_income", "year"] == 2024
    assert out.loc["national_rural_disposable_income", "ratio"] == pytest.approx(15000 / 23119)
    assert not out.loc["national_rural_disposable_income", "same_concept"]
    # the formerly-poor series ends in 2022: compared with the relocated households' 2022 income
    assert out.loc["formerly_poor_net_income", "year"] == 2022
    assert out.loc["formerly_poor_net_income", "ratio"] == pytest.approx(13000 / 14342)
    assert out.loc["relocated_poor_net_income", "same_concept"]
    none = income.reference_comparison(pd.Series({2015: 3000.0}), ref, 2015, "en").set_index("series")
    assert np.isnan(none.loc["formerly_poor_net_income", "ratio"])
