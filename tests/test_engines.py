"""Phase 1 on every engine gives the same scorecard: pandas in memory (the reference), pandas
streaming Parquet (with the numpy kernel and with the compiled Numba kernel), Dask (on a LocalCluster this module starts itself, worker in another process)
and DuckDB; on a single file, on several files and on a hive-partitioned directory; in census
mode and on a two-stage survey sample (strata, PSUs, fpc). Clear errors for missing paths,
missing columns (file and column named) and an unreachable scheduler.

Tolerance: RTOL = 1e-9 relative. The engines add the same numbers in a different order (blocks,
partitions, a tree of partial sums, DuckDB's parallel aggregation), so sums agree to rounding
(~1e-15 relative for these sizes); 1e-9 leaves room for the ratio and variance arithmetic of
phase 2 while still failing on any real difference (a lost row moves a rate by >= 1e-5 here).
Changes (differences between years) that are exactly zero in exact arithmetic come out as
+-1e-16 times the values subtracted, so the change tables also get ATOL = 1e-9 absolute.
"""
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from baode_eval import cli, paths, scorecard, survey
from baode_eval.errors import BaodeEvalError, DataError, ParameterError
from baode_eval.simulate import simulate

RTOL = 1e-9
ATOL = 1e-9  # change tables only (see above)

distributed = pytest.importorskip("distributed")
pytest.importorskip("dask.dataframe")
pytest.importorskip("duckdb")
pytest.importorskip("numba")


@pytest.fixture(scope="module")
def cluster():
    """A local Dask cluster: one worker process (so the framework and kernel really travel by
    pickle), two threads; closed at the end of the module."""
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None,
                                  memory_limit="2GiB") as c:
        yield c


def assert_same(a: pd.DataFrame, b: pd.DataFrame, atol=0.0):
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_exact=False, rtol=RTOL,
                                  atol=atol)


@pytest.fixture(scope="module")
def census_file():
    return paths.synthetic_households()


@pytest.fixture(scope="module")
def census_reference(census_file):
    return scorecard.build(pd.read_parquet(census_file), lang="en")


@pytest.fixture(scope="module")
def survey_files(tmp_path_factory):
    """A survey-mode sample written three ways: one file, three files (rows split unevenly,
    shuffled), and a directory hive-partitioned by year."""
    sim = simulate(seed=5, mode="survey")
    root = tmp_path_factory.mktemp("survey")
    table = pa.Table.from_pandas(sim.data, preserve_index=False)
    single = root / "sample.parquet"
    pq.write_table(table, single)
    multi = root / "multi"
    multi.mkdir()
    order = np.random.default_rng(1).permutation(table.num_rows)
    shuffled = table.take(order)
    cuts = [0, 1000, table.num_rows // 2, table.num_rows]
    for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        pq.write_table(shuffled.slice(a, b - a), multi / f"part-{i}.parquet", row_group_size=700)
    (multi / "_SUCCESS").write_text("")  # marker files of other tools are skipped
    hive = root / "hive"
    pq.write_to_dataset(table, hive, partition_cols=["year"])
    return {"single": single, "multi": multi, "hive": hive, "glob": str(multi / "part-*.parquet")}


def read_plain(path) -> pd.DataFrame:
    """The file in memory, text columns in pandas' own text dtype (what Parquet sources give
    their domain columns, whatever extension dtype a file's pandas metadata names)."""
    data = pd.read_parquet(path)
    text = pd.Series(["a"]).dtype
    return data.astype({c: text for c in data.columns if pd.api.types.is_string_dtype(data[c].dtype)
                        and not pd.api.types.is_object_dtype(data[c].dtype)})


@pytest.fixture(scope="module")
def survey_reference(survey_files):
    return scorecard.build(read_plain(survey_files["single"]), lang="en")


# --------------------------------------------------------------------------------------------
# the engines agree


@pytest.mark.parametrize("engine", ["pandas", "numba", "duckdb", "dask"])
def test_census_panel_same_on_every_engine(engine, census_file, census_reference, cluster):
    kw = {"scheduler": cluster.scheduler_address} if engine == "dask" else {}
    card = scorecard.build_from_parquet(census_file, engine=engine, lang="en", **kw)
    assert card.census and card.timings["engine"] == engine
    assert_same(census_reference.tidy(), card.tidy())
    assert_same(census_reference.changes(), card.changes(), atol=ATOL)


@pytest.mark.parametrize("layout", ["single", "multi", "hive", "glob"])
@pytest.mark.parametrize("engine", ["pandas", "numba", "duckdb", "dask"])
def test_survey_sample_same_on_every_engine_and_layout(engine, layout, survey_files, survey_reference, cluster):
    kw = {"scheduler": cluster.scheduler_address} if engine == "dask" else {}
    card = scorecard.build_from_parquet(survey_files[layout], engine=engine, lang="en", **kw)
    assert not card.census and card.design.psu == "psu" and card.design.fpc == "fpc"
    ref = survey_reference.tidy()
    assert (ref["std_error"] > 0).any()  # a real design, not a census in disguise
    assert_same(ref, card.tidy())
    # changes use the PSU-level linearised values of both years (covariance of panel PSUs)
    assert_same(survey_reference.changes(), card.changes(), atol=ATOL)


def test_dask_on_an_in_memory_frame_and_a_dask_frame(survey_files, survey_reference, cluster):
    import dask.dataframe as dd

    data = read_plain(survey_files["single"])
    before = data.copy()
    card = scorecard.build(data, lang="en", engine="dask", scheduler=cluster.scheduler_address, chunk_rows=900)
    assert_same(survey_reference.tidy(), card.tidy())
    pd.testing.assert_frame_equal(data, before)  # the caller's frame is not modified
    ddf = dd.from_pandas(data, npartitions=5)
    with distributed.Client(cluster) as client:  # an active client is used when no scheduler is given
        card = scorecard.build(ddf, lang="en")
        assert client.id  # the client ran the graph
    assert card.timings["engine"] == "dask"
    assert_same(survey_reference.tidy(), card.tidy())


def test_numpy_is_an_alias_of_pandas(survey_files, survey_reference):
    card = scorecard.build_from_parquet(survey_files["multi"], engine="numpy", lang="en")
    assert card.timings["engine"] == "pandas"
    assert_same(survey_reference.tidy(), card.tidy())


def test_partial_sums_of_any_blocks_add_up_to_the_one_pass_summary():
    """Unit check of the map/combine step: domains with missing values (out of domain but in
    the design), strata, PSUs and fpc; blocks of uneven size in any order."""
    rng = np.random.default_rng(7)
    n = 5000
    data = pd.DataFrame({
        "g": rng.choice(["a", "b", "c", None], n, p=[0.4, 0.3, 0.2, 0.1]),
        "h": rng.integers(0, 6, n), "y": rng.normal(10, 3, n), "x": rng.random(n) + 0.5,
        "w": rng.uniform(1, 5, n),
    })
    data["p"] = data["h"] * 100 + rng.integers(0, 8, n)
    data["f"] = 20.0 + data["h"]
    data.loc[rng.random(n) < 0.05, "y"] = np.nan
    design = survey.Design("w", "h", "p", "f")
    ratios = lambda d: {"m": (d["y"].to_numpy(), 1.0), "r": (d["y"].to_numpy(), d["x"].to_numpy())}  # noqa: E731
    whole = survey.sufficient_statistics(data, ratios, design=design, by=["g"])
    perm = data.iloc[rng.permutation(n)]
    blocks = [perm.iloc[a:b] for a, b in [(0, 7), (7, 1500), (1500, 1501), (1501, n)]]
    parts = [survey.partial_sums(b, ratios, design=design, by=["g"]) for b in blocks]
    summed = survey.combine_partial_sums([survey.combine_partial_sums(parts[:2], by=["g"]), *parts[2:]], by=["g"])
    pieced = survey.summary_from_partial_sums(summed, names=["m", "r"], design=design, by=["g"],
                                              dtypes={"g": data["g"].dtype})
    pd.testing.assert_frame_equal(whole.strata, pieced.strata)
    assert pieced.n_psu_total == whole.n_psu_total and pieced.n_strata == whole.n_strata
    a = survey.finalise(whole, {"m": "mean", "r": "ratio"})
    b = survey.finalise(pieced, {"m": "mean", "r": "ratio"})
    assert_same(a, b)
    # and it is not vacuous: dropping a block changes the answer
    short = survey.summary_from_partial_sums(survey.combine_partial_sums(parts[1:], by=["g"]), names=["m", "r"],
                                             design=design, by=["g"])
    assert not np.allclose(survey.finalise(short, {"m": "mean", "r": "ratio"})["estimate"], a["estimate"], rtol=1e-6)


# --------------------------------------------------------------------------------------------
# command line


def test_cli_engine_dask_matches_pandas(tmp_path, survey_files, cluster, capsys):
    out_p, out_d = tmp_path / "p.json", tmp_path / "d.json"
    assert cli.main(["scorecard", str(survey_files["multi"]), "--lang", "en", "--out", str(out_p)]) == 0
    assert cli.main(["scorecard", str(survey_files["hive"]), "--lang", "en", "--engine", "dask",
                     "--scheduler", cluster.scheduler_address, "--out", str(out_d)]) == 0
    p = pd.DataFrame(json.loads(out_p.read_text(encoding="utf-8"))["rows"])
    d = pd.DataFrame(json.loads(out_d.read_text(encoding="utf-8"))["rows"])
    assert len(p) == len(d) > 0
    assert_same(p, d)


def test_cli_engine_duckdb_and_local_threads(tmp_path, census_file, capsys):
    assert cli.main(["scorecard", str(census_file), "--lang", "en", "--engine", "duckdb", "--by", "site"]) == 0
    first = capsys.readouterr().out
    assert cli.main(["scorecard", str(census_file), "--lang", "en", "--engine", "dask", "--by", "site"]) == 0
    assert capsys.readouterr().out == first  # the same table, printed


# --------------------------------------------------------------------------------------------
# errors


def test_missing_path_and_empty_glob(tmp_path, capsys):
    with pytest.raises(DataError, match="not found"):
        scorecard.build_from_parquet(tmp_path / "nowhere.parquet")
    with pytest.raises(DataError, match="no files match"):
        scorecard.build_from_parquet(str(tmp_path / "*.parquet"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no Parquet files"):
        scorecard.build_from_parquet(tmp_path / "empty")
    assert cli.main(["scorecard", str(tmp_path / "nowhere.parquet"), "--engine", "dask"]) == 2
    err = capsys.readouterr().err.strip()
    assert "nowhere.parquet" in err and "not found" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("engine", ["pandas", "dask", "duckdb"])
def test_a_file_without_a_needed_column_is_named(tmp_path, survey_files, engine):
    d = tmp_path / "data"
    d.mkdir()
    table = pq.read_table(survey_files["single"])
    pq.write_table(table.slice(0, 2000), d / "a.parquet")
    pq.write_table(table.slice(2000).drop_columns(["employed_members"]), d / "b.parquet")
    with pytest.raises(DataError) as err:
        scorecard.build_from_parquet(d, engine=engine)
    msg = str(err.value)
    assert "b.parquet" in msg and "employed_members" in msg and "a.parquet" not in msg


def test_by_column_missing_is_named(survey_files):
    with pytest.raises(DataError, match=r"sample\.parquet.*'township_code'"):
        scorecard.build_from_parquet(survey_files["single"], by=("township_code", "year"))


def test_unreachable_scheduler_is_one_line_exit_2(census_file, capsys):
    with pytest.raises(BaodeEvalError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        scorecard.build_from_parquet(census_file, engine="dask", scheduler="tcp://127.0.0.1:9", scheduler_timeout=1)
    code = cli.main(["scorecard", str(census_file), "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9",
                     "--scheduler-timeout", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "tcp://127.0.0.1:9" in err


def test_bad_engine_and_scheduler_values(census_file, capsys):
    with pytest.raises(ParameterError, match=r"engine must be one of \['pandas', 'numba', 'dask', 'duckdb', 'numpy'\]"):
        scorecard.build_from_parquet(census_file, engine="spark")
    with pytest.raises(ParameterError, match="scheduler must be"):
        scorecard.build_from_parquet(census_file, engine="dask", scheduler="nonsense")
    assert cli.main(["scorecard", str(census_file), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "--scheduler is for --engine dask" in capsys.readouterr().err
