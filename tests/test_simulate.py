"""The synthetic Baode panel: determinism, calibration, consistency, known truth, survey design, CLI.

Tolerances (and why)
--------------------
* PCNI_REL = 0.08 — per-capita net income of relocated households in 2022 vs the article's
  "1.3万元左右" (about 13,000 yuan): the figure is rounded to the thousand (±500 = ±4%) and
  the simulated mean moves by a few percent with the random site effects of a seed.
* LABOUR_HH_REL = 0.10 — households with labour (1,190 in the article): the simulator draws
  household composition from a model (age, health, schooling), it does not fix the count.
* JOBS_REL = 0.30 — 214 workers in assistance enterprises and 188 property-management posts:
  our counts (workshop jobs; all public-welfare jobs) are close but not identical concepts.
* EXACT — 2,166 households, 6,583 residents, 2,197 units, 4 sites, 100% of labour households
  with >= 1 person in stable work, 100% medical insurance: hit by construction.
* DID_TOL = 0.04 — the 2x2 DiD on log income (2015 vs 2022) has a standard error of about
  0.008 here (idiosyncratic sd 0.15, 2,166 vs 1,083 households); 0.04 is 5 SE.
* SURVEY_REL = 0.06 — a weighted survey mean of income from ~780 of 3,249 households (PSU
  clustering, design effect ~2) has a relative SE of ~2%; 0.06 is 3 SE.
"""
from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd
import pytest
import pyarrow.parquet as pq

from baode_eval import paths
from baode_eval import simulate as sim_mod
from baode_eval.cli import main as cli_main
from baode_eval.errors import ParameterError
from baode_eval.simulate import (
    NULL_EFFECTS, Effects, add_personal_fields, id_check_digit, load_simulated, params_path, schema_fields,
    simulate, to_export, truth_path, write_simulation,
)

PCNI_REL = 0.08
LABOUR_HH_REL = 0.10
JOBS_REL = 0.30
DID_TOL = 0.04
SURVEY_REL = 0.06


@pytest.fixture(scope="module")
def baode():
    return simulate(seed=0)


@pytest.fixture(scope="module")
def rel2022(baode):
    d = baode.data
    return d[d["relocated"] & (d["year"] == 2022)]


@pytest.fixture(scope="module")
def published():
    from baode_eval.datasets import load_published

    figures = load_published()
    return dict(zip(figures["id"], figures["value"]))


# ---------------------------------------------------------------- determinism
def test_same_seed_gives_identical_data_and_other_seed_differs(tmp_path):
    a, b, c = simulate(seed=7), simulate(seed=7), simulate(seed=8)
    pd.testing.assert_frame_equal(a.data, b.data)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert not a.data["per_capita_net_income"].equals(c.data["per_capita_net_income"])
    for name in ("x.parquet", "y.parquet"):
        write_simulation(tmp_path / name, seed=7)
    assert (tmp_path / "x.parquet").read_bytes() == (tmp_path / "y.parquet").read_bytes()
    assert truth_path(tmp_path / "x.parquet").read_bytes() == truth_path(tmp_path / "y.parquet").read_bytes()


def test_file_written_in_chunks_equals_in_memory_result(tmp_path, monkeypatch):
    monkeypatch.setattr(sim_mod, "CHUNK_HOUSEHOLDS", 700)  # several blocks for a small panel
    r = simulate(households=1500, sites=3, seed=2, comparison=600)
    write_simulation(tmp_path / "c.parquet", households=1500, sites=3, seed=2, comparison=600)
    pd.testing.assert_frame_equal(load_simulated(tmp_path / "c.parquet"), r.data)
    truth = pd.read_csv(truth_path(tmp_path / "c.parquet"))
    assert np.allclose(truth["att"], r.truth["att"], rtol=1e-9, atol=1e-12)


def test_packed_household_sums_equal_one_sum_at_a_time():
    """_run_sums packs several person arrays into the bit fields of one word per cumulative sum;
    each household sum must equal _runs of that array alone (runs as long as the largest
    household, values up to the 12 months of a year)."""
    rng = np.random.default_rng(0)
    size = rng.integers(1, 9, 5000)
    starts = np.r_[0, np.cumsum(size)[:-1]]
    n = int(size.sum())
    arrays = [rng.random(n) < p for p in (0.1, 0.5, 0.9)] + [np.ones(n, bool)] + [
        rng.integers(0, 13, n).astype(np.int8), np.full(n, 12, np.int8)] + [rng.random(n) < 0.3 for _ in range(12)]
    for got, a in zip(sim_mod._run_sums(arrays, starts), arrays, strict=True):
        np.testing.assert_array_equal(got, sim_mod._runs(a, starts))
    with pytest.raises(ValueError, match="non-negative"):
        sim_mod._run_sums([np.full(n, -1, np.int8)], starts)


def test_truth_csv_has_the_bytes_of_pandas_to_csv(baode, tmp_path):
    truth = baode.truth
    quoted = truth.assign(site=truth["site"].where(truth["by"] != "site", 'a,"b'))  # left to pandas
    for t in (truth, quoted, truth.iloc[:0]):
        sim_mod.write_truth(t, tmp_path / "a.csv")
        t.to_csv(tmp_path / "b.csv", index=False, encoding="utf-8", lineterminator="\n", float_format="%.10g")
        assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_parquet_encodings_change_the_bytes_not_the_data(tmp_path):
    """Yuan amounts are written BYTE_STREAM_SPLIT and row IDs plain (faster to write); readers
    get the canonical columns and types back, and the statistics are kept."""
    import pyarrow as pa

    kw = dict(households=800, sites=5, seed=1)
    write_simulation(tmp_path / "h.parquet", **kw)
    meta = pq.ParquetFile(tmp_path / "h.parquet").metadata
    col = {meta.row_group(0).column(i).path_in_schema: meta.row_group(0).column(i) for i in range(meta.num_columns)}
    assert "BYTE_STREAM_SPLIT" in col["net_income"].encodings
    assert "RLE_DICTIONARY" not in col["household_id"].encodings
    assert "RLE_DICTIONARY" in col["site"].encodings
    assert col["site"].statistics.has_null_count  # baode_eval.scale reads null counts from the footer
    table = pq.read_table(tmp_path / "h.parquet")
    assert table.schema.field("household_id").type == pa.string()
    assert pa.types.is_dictionary(table.schema.field("household_type").type)
    data = simulate(**kw).data
    pd.testing.assert_frame_equal(load_simulated(tmp_path / "h.parquet"), data)
    duckdb = pytest.importorskip("duckdb")
    [total] = duckdb.sql(f"SELECT sum(net_income), count(DISTINCT household_id) FROM '{tmp_path / 'h.parquet'}'").fetchall()
    assert total == (pytest.approx(data["net_income"].sum()), data["household_id"].nunique())


def test_regions_are_independent_pieces_of_one_registry(tmp_path):
    """region=r: distinct household IDs, sites, counties, strata and PSUs, independent random
    streams, the same seed reproduces a region, and region=None is the plain simulation."""
    kw = dict(households=1200, sites=30, comparison=0, years=(2022, 2024), seed=4, mode="survey")
    r0, r1 = simulate(region=0, **kw).data, simulate(region=1, **kw).data
    for col in ("household_id", "site", "county", "stratum", "psu", "origin_village"):
        assert not set(r0[col].dropna()) & set(r1[col].dropna()), col
    assert r0["household_id"].str.fullmatch(r"区域001-H\d{8}").all() and r1["site"].str.startswith("区域002-").all()
    pcni = lambda d: d["per_capita_net_income"].to_numpy()[:1000]  # noqa: E731 (samples differ in size)
    assert not np.allclose(pcni(r0), pcni(r1))
    pd.testing.assert_frame_equal(r0, simulate(region=0, **kw).data)
    plain = simulate(**kw).data
    assert plain["household_id"].str.fullmatch(r"H\d{8}").all()
    assert not np.allclose(pcni(plain), pcni(r0))
    write_simulation(tmp_path / "r.parquet", region=3, **kw)
    assert json.loads(params_path(tmp_path / "r.parquet").read_text(encoding="utf-8"))["region"] == 3
    with pytest.raises(ParameterError, match="region"):
        simulate(region=-1, **kw)


# ---------------------------------------------------------------- schema and totals
def test_columns_follow_the_canonical_schema(baode):
    fields = [f for f in schema_fields("household") if not f.get("personal")]
    assert list(baode.data.columns) == [f["name"] for f in fields]
    for f in fields:
        col = baode.data[f["name"]]
        if f["type"] == "bool":
            assert str(col.dtype) == "boolean", f["name"]
        elif f["type"] == "int":
            assert str(col.dtype) == "Int64", f["name"]
        elif f["type"] == "float":
            assert col.dtype == np.float64, f["name"]
        elif f["type"] == "category":
            assert list(col.cat.categories) == f["categories"], f["name"]
        if "range" in f:
            lo, hi = f["range"]
            assert col.dropna().between(lo, hi).all(), f["name"]
    assert not baode.data.duplicated(["household_id", "year"]).any()
    assert not any(f.get("personal") for f in fields if f["name"] in baode.data)


def test_totals_match_the_article(baode, published):
    d = baode.data
    rel = d[d["relocated"]]
    assert rel.groupby("year")["household_id"].nunique().eq(published["clinic_households_served"]).all()
    per_year = rel.groupby("year")["household_size"].sum()
    assert per_year.eq(published["clinic_residents_served"]).all()
    assert baode.sites["units"].sum() == published["housing_units"]
    assert len(baode.sites) == published["concentrated_sites"] == rel["site"].nunique()
    assert set(rel["relocation_year"].unique()) == {2016, 2017, 2018, 2019}
    assert d["relocation_year"].isna().eq(~d["relocated"]).all()  # empty = never relocated (gname 0)
    assert d["site"].isna().eq(~d["relocated"]).all()
    assert (d["year"].min(), d["year"].max()) == (2014, 2024)


# ---------------------------------------------------------------- calibration (2022)
def test_calibration_to_published_figures(rel2022, published):
    pcni = rel2022["net_income"].sum() / rel2022["household_size"].sum()
    assert abs(pcni / published["per_capita_income_formerly_poor"] - 1) < PCNI_REL
    labour = rel2022[rel2022["labour_members"] > 0]
    assert abs(len(labour) / published["labour_households"] - 1) < LABOUR_HH_REL
    assert (labour["stably_employed_members"] >= 1).all()  # 每户至少一人实现稳定就业: 100%
    assert rel2022["medical_insured_members"].sum() == rel2022["medical_should_enrol_members"].sum()
    assert abs(rel2022["workshop_job_members"].sum() / published["assistance_enterprise_jobs"] - 1) < JOBS_REL
    assert abs(rel2022["public_welfare_job_members"].sum() / published["property_management_jobs"] - 1) < JOBS_REL
    assert published["elderly_centre_elders_served"] <= rel2022["elders_served"].sum() <= 250


def test_reimbursement_and_monitoring_match_policy(rel2022):
    r = rel2022[rel2022["inpatient_eligible_cost"] > 0]
    rate = r["inpatient_reimbursed"] / r["inpatient_eligible_cost"]
    t = r["household_type"].astype(str)
    assert (rate[t == "一般脱贫户"] >= 0.90 - 1e-3).all()
    assert (rate[t == "低保户"] >= 0.80 - 1e-3).all()
    assert np.allclose(rate[t == "特困供养户"], 1.0, atol=1e-3)
    assert (rel2022["per_capita_net_income"] >= sim_mod.MONITORING_LINE[2022]).all()
    monitored = (rel2022["monitoring_category"].notna() & ~rel2022["risk_cleared"].fillna(False)).mean()
    assert 0.003 < monitored < 0.03  # national benchmark: ~1.4% of the relocated unstable (2022)


# ---------------------------------------------------------------- internal consistency
def test_internal_consistency(baode):
    d = baode.data
    le = lambda a, b: (d[a] <= d[b]).all()  # noqa: E731
    assert le("employed_members", "labour_members") and le("labour_members", "household_size")
    assert le("stably_employed_members", "employed_members") and le("local_employed_members", "employed_members")
    assert ((d["public_welfare_job_members"] + d["workshop_job_members"]) <= d["local_employed_members"]).all()
    assert le("trained_members", "labour_members")
    assert (d["months_worked"] <= 12 * d["employed_members"]).all()
    assert (d["months_worked"] >= 6 * d["stably_employed_members"]).all()
    net = d["wage_income"] + d["business_income"] - d["business_cost"] + d["property_income"] + d["transfer_income"]
    assert (net == d["net_income"]).all()
    assert np.allclose(d["per_capita_net_income"], d["net_income"] / d["household_size"], atol=0.006)
    assert (d[["wage_income", "business_income", "business_cost", "property_income", "transfer_income"]] >= 0).all().all()
    assert ((d["employed_members"] == 0) <= (d["wage_income"] == 0)).all()
    assert le("children_6_15_in_school", "children_6_15") and le("elders_served", "elders_in_need")
    assert le("medical_insured_members", "medical_should_enrol_members")
    assert (d["medical_should_enrol_members"] == d["household_size"]).all()
    assert le("inpatient_reimbursed", "inpatient_eligible_cost")
    treated = d["relocated"] & (d["year"] >= d["relocation_year"])
    assert d["months_at_site"].isna().eq(~d["relocated"]).all()
    assert (d.loc[d["relocated"] & ~treated, "months_at_site"] == 0).all()
    assert d["property_certificate"].isna().eq(~treated).all()
    mon = d["monitoring_category"].notna()
    assert d["monitoring_start"].notna().eq(mon).all() and d["risk_cleared"].notna().eq(mon).all()
    cleared = d["risk_cleared"].fillna(False).astype(bool)
    assert d["risk_cleared_date"].notna().eq(cleared).all()
    assert (d.loc[cleared, "risk_cleared_date"].astype(int) > d.loc[cleared, "monitoring_start"].astype(int)).all()
    assert (d.loc[mon, "monitoring_start"].astype(int) // 100 <= d.loc[mon, "year"]).all()


def test_person_rows_add_up_to_household_rows():
    h = simulate(seed=4).data
    p = simulate(seed=4, level="person").data
    assert list(p.columns) == [f["name"] for f in schema_fields("person") if not f.get("personal")]
    assert (p["months_worked"] <= 12).all() and not p.duplicated(["person_id", "year"]).any()
    agg = p.groupby(["household_id", "year"]).agg(
        household_size=("person_id", "size"), labour_members=("labour_capable", "sum"),
        employed_members=("employed", "sum"), months_worked=("months_worked", "sum"),
        public_welfare_job_members=("public_welfare_job", "sum"), medical_insured_members=("medical_insured", "sum"),
        trained_members=("trained", "sum"), workshop_job_members=("workshop_job", "sum"),
    ).reset_index()
    m = h.merge(agg, on=["household_id", "year"], suffixes=("", "_p"), validate="one_to_one")
    assert len(m) == len(h)
    for col in ("household_size", "labour_members", "employed_members", "months_worked",
                "public_welfare_job_members", "medical_insured_members", "trained_members", "workshop_job_members"):
        assert (m[col].astype(float) == m[f"{col}_p"].astype(float)).all(), col
    assert (p.loc[~p["employed"], "work_place"].isna()).all()


# ---------------------------------------------------------------- truth and estimators
def _did(data: pd.DataFrame, pre: int, post: int) -> tuple[float, float]:
    """2x2 DiD of log per-capita net income by OLS, household-clustered SE (statsmodels)."""
    import statsmodels.formula.api as smf

    d = data[data["year"].isin([pre, post])].copy()
    g = d["relocation_year"].fillna(0)
    d = d[g.eq(0) | (g > pre)]
    d["y"] = np.log(d["per_capita_net_income"])
    d["treated"] = d["relocated"].astype(int)
    d["post"] = (d["year"] == post).astype(int)
    d = d.reset_index(drop=True)
    fit = smf.ols("y ~ treated * post", data=d).fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(d["household_id"])[0]})
    return float(fit.params["treated:post"]), float(fit.bse["treated:post"])


def test_did_recovers_the_true_att(baode):
    est, se = _did(baode.data, 2015, 2022)
    truth = baode.truth_value("log_per_capita_net_income", by="year", year=2022)
    assert se < DID_TOL / 3
    assert abs(est - truth) < DID_TOL


def test_pretrend_switch_biases_did_and_shows_in_placebo():
    biased = simulate(seed=0, effects=Effects(pretrend=0.03))
    est, _ = _did(biased.data, 2015, 2022)
    truth = biased.truth_value("log_per_capita_net_income", by="year", year=2022)
    assert est - truth > 0.15  # 0.03 x 7 years of differential trend
    placebo, se = _did(biased.data, 2014, 2015)
    assert abs(placebo - 0.03) < 4 * se + 0.01
    clean, se0 = _did(simulate(seed=0).data, 2014, 2015)
    assert abs(clean) < 4 * se0


def test_truth_is_dynamic_heterogeneous_and_zero_without_effects(baode):
    t = baode.truth
    inc = t[(t["outcome"] == "log_per_capita_net_income") & (t["by"] == "event_time")].sort_values("event_time")
    assert inc["event_time"].min() == 0
    cap = Effects().cap
    grows = inc[inc["event_time"] <= cap]["structural"]
    assert grows.is_monotonic_increasing and grows.iloc[-1] - grows.iloc[0] > 0.05
    flat = inc[inc["event_time"] >= cap]["structural"]  # capped: flat up to the site mix
    assert flat.max() - flat.min() < 0.005
    by_site = t[(t["outcome"] == "log_per_capita_net_income") & (t["by"] == "site")]
    assert by_site["att"].std() > 0.01
    assert set(t["outcome"]) == set(sim_mod.TRUTH_OUTCOMES)
    null = simulate(seed=0, effects=NULL_EFFECTS)
    assert np.allclose(null.truth["att"], 0.0, atol=1e-12)


def test_attrition_removes_rows_after_leaving():
    r = simulate(seed=1, effects=Effects(attrition=0.1))
    rel = r.data[r.data["relocated"]]
    counts = rel.groupby("year")["household_id"].nunique()
    assert counts[2016:].is_monotonic_decreasing and counts[2024] < 0.8 * counts[2019]
    span = rel.groupby("household_id")["year"].agg(["min", "max", "count"])
    assert (span["max"] - span["min"] + 1 == span["count"]).all()  # no gaps: leaving is absorbing
    n = r.truth_value("log_per_capita_net_income")  # truth is over the kept (observed) rows
    assert math.isfinite(n)


# ---------------------------------------------------------------- survey mode
def test_survey_design_fields_and_estimate():
    census = simulate(seed=5)
    survey = simulate(seed=5, mode="survey")
    s = survey.data
    assert census.data["weight"].isna().all() and census.data["fpc"].isna().all()
    assert s["weight"].gt(0).all() and s["fpc"].notna().all() and s["stratum"].notna().all()
    assert len(s) < len(census.data) / 2
    psus = s.groupby("stratum")["psu"].nunique()
    fpc = s.groupby("stratum")["fpc"].first()
    assert (psus <= fpc).all() and ((psus >= 2) | (fpc < 2)).all()
    assert s.groupby("psu")["stratum"].nunique().eq(1).all()  # PSUs nested in strata
    # the sample is a subset of the census, with identical values
    cols = [c for c in s.columns if c not in ("weight", "fpc")]
    merged = s[cols].merge(census.data[cols], on=["household_id", "year"], suffixes=("", "_c"))
    assert len(merged) == len(s)
    assert (merged["per_capita_net_income"] == merged["per_capita_net_income_c"]).all()
    # weighted total of households and weighted mean income are close to the census
    s22, c22 = s[s["year"] == 2022], census.data[census.data["year"] == 2022]
    assert abs(s22["weight"].sum() / len(c22) - 1) < SURVEY_REL
    wmean = np.average(s22["per_capita_net_income"], weights=s22["weight"])
    assert abs(wmean / c22["per_capita_net_income"].mean() - 1) < SURVEY_REL


# ---------------------------------------------------------------- exports, CLI, errors
def test_export_in_chinese_does_not_modify_input(baode):
    head = baode.data.head(50)
    before = head.copy()
    out = to_export(head, lang="zh")
    pd.testing.assert_frame_equal(head, before)
    assert "人均纯收入（元）" in out.columns and set(out["是否易地扶贫搬迁（同步搬迁）人口"]) <= {"是", "否"}


def test_personal_fields_are_synthetic_and_valid(baode):
    d = add_personal_fields(baode.data.head(200), seed=0)
    ids = d["id_number"].astype(str)
    assert ids.str.len().eq(18).all() and ids.str[:6].eq("140931").all()
    assert all(i[17] == id_check_digit(i[:17]) for i in ids)
    assert d["phone"].astype(str).str.fullmatch(r"1[3-9]\d{9}").all()
    assert d.groupby("household_id")["id_number"].nunique().eq(1).all()


@pytest.mark.parametrize("fmt,lang", [("parquet", "en"), ("csv", "en"), ("csv", "zh"), ("xlsx", "zh"), ("parquet", "zh")])
def test_cli_writes_each_format_with_truth(tmp_path, fmt, lang, capsys):
    out = tmp_path / f"panel.{fmt}"
    rc = cli_main(["simulate", "--out", str(out), "--households", "300", "--sites", "2", "--seed", "1",
                   "--years", "2015-2023", "--lang", lang])
    assert rc == 0 and out.is_file()
    truth = pd.read_csv(truth_path(out))
    assert {"outcome", "by", "att", "n"} <= set(truth.columns)
    assert (tmp_path / "panel.params.json").is_file()
    if fmt == "csv":
        text = out.read_bytes().decode("gbk" if lang == "zh" else "utf-8")
        df = pd.read_csv(io.StringIO(text), dtype=str)
    elif fmt == "xlsx":
        df = pd.read_excel(out, dtype=str)
    else:
        df = pq.read_table(out).to_pandas()
    assert len(df) == (300 + 150) * 9
    if lang == "zh":
        assert "户编号" in df.columns and set(df["是否易地扶贫搬迁（同步搬迁）人口"]) == {"是", "否"}
    else:
        assert "household_id" in df.columns


def test_cli_person_survey(tmp_path):
    out = tmp_path / "p.parquet"
    assert cli_main(["simulate", "--out", str(out), "--households", "400", "--sites", "2",
                     "--mode", "survey", "--level", "person"]) == 0
    p = pq.read_table(out).to_pandas()
    assert "person_id" in p.columns and len(p) > 0


@pytest.mark.parametrize("argv,message", [
    (["--years", "2020-2010"], "years"),
    (["--years", "abc"], "years"),
    (["--sites", "0"], "sites"),
    (["--households", "2", "--sites", "3"], "sites"),
    (["--format", "xlsx", "--households", "200000"], "xlsx"),
])
def test_cli_bad_values_give_one_line_errors(tmp_path, capsys, argv, message):
    rc = cli_main(["simulate", "--out", str(tmp_path / "x.xlsx")] + argv)
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err


def test_cli_rejects_unknown_suffix_and_missing_folder(tmp_path, capsys):
    assert cli_main(["simulate", "--out", str(tmp_path / "x.txt")]) == 2
    assert "--format" in capsys.readouterr().err
    assert cli_main(["simulate", "--out", str(tmp_path / "no" / "x.csv")]) == 2
    with pytest.raises(SystemExit):
        cli_main(["simulate", "--out", str(tmp_path / "x.csv"), "--households", "-5"])


def test_bad_parameters_raise_parameter_error():
    with pytest.raises(ParameterError, match="mode"):
        simulate(mode="sample")
    with pytest.raises(ParameterError, match="level"):
        simulate(level="village")
    with pytest.raises(ParameterError, match="attrition"):
        simulate(effects=Effects(attrition=1.5))
    with pytest.raises(ParameterError, match="site_multipliers"):
        simulate(effects=Effects(site_multipliers=(1.0, 2.0)))
    with pytest.raises(ParameterError, match="households"):
        simulate(households=0)


# ---------------------------------------------------------------- bundled data
def test_bundled_panel_equals_a_fresh_regeneration(tmp_path):
    path = paths.synthetic_households()
    assert path.is_file(), "run: python tools/make_synthetic.py"
    fresh = simulate(seed=0)
    pd.testing.assert_frame_equal(load_simulated(path), fresh.data)
    sim_mod.write_truth(fresh.truth, tmp_path / "t.csv")
    assert paths.synthetic_truth().read_bytes() == (tmp_path / "t.csv").read_bytes()
    assert path.stat().st_size < 5_000_000
    readme = (path.parent / "README.md").read_text(encoding="utf-8")
    assert "synthetic" in readme.lower() and "tools/make_synthetic.py" in readme


# ---------------------------------------------------------------- round trip through the reader
def test_round_trip_through_reader(tmp_path):
    """A realistic export (Chinese headers, 是/否, GBK csv / xlsx, synthetic personal fields) read
    back by ``baode_eval.read`` gives the canonical values again."""
    import baode_eval

    read = getattr(baode_eval, "read", None)
    if read is None:
        pytest.skip("baode_eval.read does not exist yet (issue 3, built in parallel): round trip not testable")
    r = simulate(households=200, sites=2, seed=3)
    want = r.data.set_index(["household_id", "year"])
    for fmt in ("xlsx", "csv"):
        out = tmp_path / f"export.{fmt}"
        write_simulation(out, lang="zh", personal=True, households=200, sites=2, seed=3)
        result = read(out)
        back = result.data
        quarantined = len(getattr(result, "quarantine", ()))
        assert len(back) + quarantined == len(r.data)
        assert len(back) >= 0.99 * len(r.data)  # sanity rules may set aside a few outliers
        got = back.assign(household_id=back["household_id"].astype(str), year=back["year"].astype(int))
        got = got.set_index(["household_id", "year"])
        common = want.loc[got.index]
        assert np.allclose(got["per_capita_net_income"].astype(float), common["per_capita_net_income"])
        assert (got["relocated"].astype(bool).to_numpy() == common["relocated"].astype(bool).to_numpy()).all()
        assert (got["household_size"].astype(int).to_numpy() == common["household_size"].astype(int).to_numpy()).all()


def test_synthetic_personal_fields_are_unique_per_household():
    # Real ID numbers are unique; the validator quarantines duplicates, so the simulator must
    # not make any (it made 16 duplicate pairs in 2,200 households before the fix).
    from baode_eval.privacy import is_id_number, is_mobile
    from baode_eval.simulate import add_personal_fields

    data = simulate(seed=3, households=2200).data
    heads = add_personal_fields(data, seed=3).drop_duplicates("household_id")
    assert heads["id_number"].nunique() == len(heads) == heads["phone"].nunique()
    assert heads["id_number"].map(is_id_number).all() and heads["phone"].map(is_mobile).all()
