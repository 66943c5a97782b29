"""survey.estimate against published output and a simulation with known truth.

Tolerances: published values are printed to 6 decimals, so estimates and SEs are compared with
an absolute tolerance of 1e-5 (relative 1e-6). Coverage over 500 replicates has a Monte Carlo
SE of about 0.01, hence the window [0.93, 0.97] around 0.95.
"""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from baode_eval import survey
from baode_eval.errors import DataError, ParameterError

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def nhanes2():
    return pd.read_csv(REF / "nhanes2_samplics.csv")


def _cases():
    spec = yaml.safe_load((REF / "survey_nhanes2.yaml").read_text(encoding="utf-8"))
    return [pytest.param(c, id=c["id"]) for c in spec["cases"]]


@pytest.mark.parametrize("case", _cases())
def test_matches_published_nhanes2(nhanes2, case):
    call = dict(case["call"])
    y = call.pop("y")
    got = survey.estimate(nhanes2, y, **call)
    want = pd.DataFrame(case["rows"])
    assert len(got) == len(want)
    for col in ["estimate", "std_error", "ci_low", "ci_high"]:
        np.testing.assert_allclose(got[col].to_numpy(), want[col].to_numpy(), rtol=1e-6, atol=1e-5)
    if "race" in want:
        assert got["race"].tolist() == want["race"].tolist()


def test_domain_uses_full_design_not_subset(nhanes2):
    """Subsetting loses strata/PSU structure; the domain estimate must differ from the subset one."""
    d = nhanes2.assign(dom=(nhanes2["psuid"] == 1) | (nhanes2["stratid"] <= 5))
    full = survey.estimate(d, "zinc", weights="finalwgt", strata="stratid", psu="psuid", by="dom",
                           lonely_psu="certainty")
    subset = survey.estimate(d[d["dom"]], "zinc", weights="finalwgt", strata="stratid", psu="psuid",
                             lonely_psu="certainty")
    assert full.loc[1, "estimate"] == pytest.approx(subset.loc[0, "estimate"])
    # the subset loses the PSUs without domain members: strata 6-31 look like single-PSU strata
    assert full.loc[1, "std_error"] > 1.1 * subset.loc[0, "std_error"]


def test_input_not_modified(nhanes2):
    before = nhanes2.copy()
    survey.estimate(nhanes2, "highbp", kind="proportion", weights="finalwgt", strata="stratid", psu="psuid", by="race")
    pd.testing.assert_frame_equal(nhanes2, before)


def test_census_mode_exact_and_superpopulation_srs(nhanes2):
    census = survey.estimate(nhanes2, "zinc")
    z = nhanes2["zinc"].dropna()
    assert census.loc[0, "estimate"] == pytest.approx(z.mean(), rel=1e-12)
    assert census.loc[0, "std_error"] == 0 and census.loc[0, "ci_low"] == census.loc[0, "ci_high"]
    sp = survey.estimate(nhanes2, "zinc", superpopulation=True)
    # SRS-with-replacement SE over all 10,337 rows (missing zinc = out of domain): close to s/sqrt(n)
    assert sp.loc[0, "std_error"] == pytest.approx(z.std() / np.sqrt(len(z)), rel=1e-3)
    total = survey.estimate(nhanes2, "zinc", kind="total")
    assert total.loc[0, "estimate"] == pytest.approx(z.sum())


def test_ratio_equals_mean_when_denominator_is_one(nhanes2):
    d = nhanes2.assign(one=1.0)
    m = survey.estimate(d, "zinc", weights="finalwgt", strata="stratid", psu="psuid")
    r = survey.estimate(d, "zinc", kind="ratio", denominator="one", weights="finalwgt", strata="stratid", psu="psuid")
    np.testing.assert_allclose(r[["estimate", "std_error"]], m[["estimate", "std_error"]], rtol=1e-12)


def test_proportion_interval_is_logit_and_wilson_at_the_boundary():
    rng = np.random.default_rng(5)
    d = pd.DataFrame({"y": (rng.random(400) < 0.03).astype(int), "w": rng.uniform(1, 3, 400),
                      "psu": np.repeat(np.arange(40), 10), "h": np.repeat(np.arange(20), 20)})
    r = survey.estimate(d, "y", kind="proportion", weights="w", strata="h", psu="psu")
    p, se = r.loc[0, "estimate"], r.loc[0, "std_error"]
    from scipy import stats
    q = stats.t.ppf(0.975, 20)
    lo = 1 / (1 + np.exp(-(np.log(p / (1 - p)) - q * se / (p * (1 - p)))))
    assert r.loc[0, "ci_low"] == pytest.approx(lo) and r.loc[0, "ci_low"] > 0
    allone = survey.estimate(d.assign(y=1), "y", kind="proportion", weights="w", strata="h", psu="psu")
    # Wilson lower bound for 400/400 at 95 %: n / (n + z^2)
    assert allone.loc[0, "ci_low"] == pytest.approx(400 / (400 + 1.959964**2), rel=1e-6)
    assert allone.loc[0, "ci_high"] == pytest.approx(1.0)


def test_singleton_strata_options():
    d = pd.DataFrame({"y": [1.0, 2, 3, 4, 10], "w": 1.0, "h": [1, 1, 2, 2, 3], "psu": [1, 2, 3, 4, 5]})
    with pytest.raises(DataError, match="single PSU"):
        survey.estimate(d, "y", weights="w", strata="h", psu="psu", lonely_psu="fail")
    cert = survey.estimate(d, "y", weights="w", strata="h", psu="psu", lonely_psu="certainty")
    adj = survey.estimate(d, "y", weights="w", strata="h", psu="psu", lonely_psu="adjust")
    # by hand: z_i = (y_i - 4)/5; strata 1, 2 contribute 2 * (z_a - z_b)^2 / 2 ... = (0.2^2)*... see below
    z = (d["y"] - 4.0) / 5.0
    v12 = 2 / 1 * ((z[0] - z[:2].mean()) ** 2 + (z[1] - z[:2].mean()) ** 2) + 2 * ((z[2] - z[2:4].mean()) ** 2 + (z[3] - z[2:4].mean()) ** 2)
    assert cert.loc[0, "std_error"] == pytest.approx(np.sqrt(v12))
    v3 = (z[4] - z.sum() / 5) ** 2
    assert adj.loc[0, "std_error"] == pytest.approx(np.sqrt(v12 + v3))


def test_fpc_count_and_fraction_agree():
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"y": rng.normal(size=60), "w": 5.0, "h": np.repeat([0, 1], 30), "psu": np.arange(60)})
    a = survey.estimate(d.assign(N=150.0), "y", weights="w", strata="h", psu="psu", fpc="N")
    b = survey.estimate(d.assign(f=0.2), "y", weights="w", strata="h", psu="psu", fpc="f")
    c = survey.estimate(d, "y", weights="w", strata="h", psu="psu")
    assert a.loc[0, "std_error"] == pytest.approx(b.loc[0, "std_error"])
    assert a.loc[0, "std_error"] == pytest.approx(c.loc[0, "std_error"] * np.sqrt(0.8))


def test_argument_errors_list_allowed_values(nhanes2):
    with pytest.raises(ParameterError, match=r"\['mean', 'proportion', 'total', 'ratio'\]"):
        survey.estimate(nhanes2, "zinc", kind="median")
    with pytest.raises(ParameterError, match="denominator"):
        survey.estimate(nhanes2, "zinc", kind="ratio")
    with pytest.raises(ParameterError, match="not in the data"):
        survey.estimate(nhanes2, "nope")
    with pytest.raises(ParameterError, match="adjust"):
        survey.estimate(nhanes2, "zinc", weights="finalwgt", lonely_psu="drop")
    with pytest.raises(DataError, match="0/1"):
        survey.estimate(nhanes2, "zinc", kind="proportion")


def _population(rng):
    """Two-stage population: 20 strata x 40 clusters x 30 households, cluster effects."""
    H, M, K = 20, 40, 30
    h = np.repeat(np.arange(H), M * K)
    c = np.repeat(np.arange(H * M), K)
    u = rng.normal(0, 1.0, H * M)[c]
    y = 5 + 0.1 * h + u + rng.normal(0, 2, H * M * K)
    return pd.DataFrame({"h": h, "c": c, "y": y})


def test_coverage_stratified_cluster_design():
    """500 samples of 4 clusters per stratum (10 households each): 95 % CIs cover the truth 93-97 %."""
    rng = np.random.default_rng(20261128)
    pop = _population(rng)
    truth = pop["y"].mean()
    H, M, K, m, k = 20, 40, 30, 4, 10
    yv = pop["y"].to_numpy().reshape(H, M, K)
    covered = 0
    reps = 500
    for _ in range(reps):
        cl = np.argsort(rng.random((H, M)), axis=1)[:, :m]  # SRS of m clusters per stratum
        hh = np.argsort(rng.random((H, m, K)), axis=2)[:, :, :k]
        ys = np.take_along_axis(yv[np.arange(H)[:, None], cl], hh, axis=2)
        d = pd.DataFrame({
            "y": ys.ravel(),
            "h": np.repeat(np.arange(H), m * k),
            "psu": np.repeat(np.arange(H * m), k),
            "w": (M / m) * (K / k),
            "N": float(M),
        })
        r = survey.estimate(d, "y", weights="w", strata="h", psu="psu")
        covered += r.loc[0, "ci_low"] <= truth <= r.loc[0, "ci_high"]
    assert 0.93 <= covered / reps <= 0.97, covered / reps


@pytest.mark.parametrize("nested", [True, False])
def test_psus_per_stratum_lookup_same_as_distinct_pairs(nested):
    """PSUs per stratum: the lookup-table path (PSU codes nested in strata) and the fallback
    (PSU codes reused across strata, as NHANES's 1 and 2) against distinct pairs."""
    rng = np.random.default_rng(4)
    h = rng.integers(0, 30, 5000)
    psu = h * 7 + rng.integers(0, 5, 5000) if nested else rng.integers(0, 3, 5000)
    got = survey._psus_per_stratum(h, psu)
    ref = pd.DataFrame({"h": h, "p": psu}).drop_duplicates().groupby("h").size()
    np.testing.assert_array_equal(got.index.to_numpy(), ref.index.to_numpy())
    np.testing.assert_array_equal(got.to_numpy(), ref.to_numpy())
    assert got.sum() == (len(np.unique(psu)) if nested else len(ref.index) * 3)


def test_row_changes_counts_value_changes_across_slices(monkeypatch):
    """How often a key changes along the rows (it chooses the cell layout): numpy's count in
    slices, slice edges included, against a plain count."""
    rng = np.random.default_rng(7)
    values = np.repeat(rng.integers(0, 4, 700), rng.integers(1, 5, 700))
    monkeypatch.setattr(survey, "_SLICE", 64)
    for n in (0, 1, 2, 64, 65, 129, len(values)):
        plain = int((values[1:n] != values[:max(n - 1, 0)]).sum())
        assert survey._row_changes(values[:n], False) == plain
    assert survey._row_changes(values, False) > 400  # not trivially 0


def test_domain_estimates_do_not_depend_on_the_row_order(nhanes2, monkeypatch):
    """Rows sorted by the second ``by`` key are summed into cells laid out in tiles of the
    first key (survey._layout); the domains come out in the same order with the same numbers
    as from the rows in their own order."""
    monkeypatch.setattr(survey, "LAYOUT_TILE", 2)
    kw = dict(weights="finalwgt", strata="stratid", psu="psuid", by=["region", "race"])
    ref = survey.estimate(nhanes2, "highbp", kind="proportion", **kw)
    by_race = nhanes2.sort_values("race", kind="stable").reset_index(drop=True)
    assert survey._layout([survey._codes(by_race[c])[0] for c in kw["by"]], False) is not None
    got = survey.estimate(by_race, "highbp", kind="proportion", **kw)
    pd.testing.assert_frame_equal(ref, got, check_exact=False, rtol=1e-10)
    assert len(got) == 12 and got[["region", "race"]].apply(tuple, axis=1).is_monotonic_increasing


@pytest.mark.parametrize("bad", [np.nan, -0.5])
@pytest.mark.parametrize("where", [0, 70_000, 99_999])
def test_missing_or_negative_weights_are_refused_wherever_they_are(bad, where):
    """The weights are checked in slices of 65,536 rows: a bad one in any slice is found."""
    n = 100_000
    df = pd.DataFrame({"y": np.arange(n) % 3, "w": np.full(n, 1.5, np.float32)})
    survey.estimate(df, "y", weights="w")  # fine as it is
    df.loc[where, "w"] = bad
    with pytest.raises(DataError, match="weights must be present and non-negative") as err:
        survey.estimate(df, "y", weights="w")
    assert err.value.column == "w"


def test_lexsort_by_one_code_is_numpys_lexsort():
    """Columns packed into one code when they fit (ties kept in row order), else np.lexsort."""
    rng = np.random.default_rng(5)
    for n, k, hi in ((0, 2, 5), (1, 1, 3), (1000, 3, 4), (5000, 5, 300), (2000, 4, 2**20), (300, 2, 2**40)):
        cols = [rng.integers(-3, hi, n) for _ in range(k)]
        np.testing.assert_array_equal(survey._lexsort(cols), np.lexsort(cols[::-1]))
