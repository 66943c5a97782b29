"""The column-wise reader gives exactly what the row-by-row reader gave.

``baode_eval._io_reference._read_reference`` is a frozen copy of the reader as it was before it
was made column-wise (cell by cell in Python). Every file the reader tests build — the awkward
and broken corpus of test_io, the leaky files of test_privacy, simulator exports, and files drawn
by hypothesis — is read both ways and compared strictly: the same columns, dtypes, values (a
``-0.0`` is not a ``0.0``, ``None`` is not ``NaN``), the same quarantine, the same issues (rules,
rows, columns, values, messages, order) and the same report; a file one refuses, the other
refuses with the same message.

Text files are read twice: through the Arrow fast path for plain delimited text (forced on
small files here, which the reader otherwise leaves to ``csv.reader``) and without it.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import baode_eval
from baode_eval import io as bio
from baode_eval._io_reference import _read_reference
from baode_eval.errors import BaodeEvalError
from household_files import households, make_id, make_ids, make_phone, zh_export
from test_io import CASES, READ_OPTIONS, _cell
from test_privacy import SALT, _leaky_file

OPTION_SETS = {
    "default": {},
    "keep_unknown": {"keep_unknown": True},
    "pseudonymise": {"protect": "pseudonymise", "salt": SALT, "keep_unknown": True},
    "keep_zh": {"protect": "keep", "lang": "zh"},
    "derive_household": {"derive_from_id": True, "level": "household"},
}


@pytest.fixture(params=["arrow", "csv_reader"])
def text_path(request, monkeypatch):
    """Plain delimited text through Arrow even when small, or never through Arrow."""
    monkeypatch.setattr(bio, "_ARROW_MIN_CHARS", 0 if request.param == "arrow" else 1 << 62)
    return request.param


def _cell_key(v):
    """A value as compared here: its type and exact repr (-0.0 != 0.0, None != nan != <NA>)."""
    if isinstance(v, float) and math.isnan(v):
        return ("float", "nan")
    return (type(v).__name__, repr(v))


def assert_same_frame(new: pd.DataFrame, old: pd.DataFrame, what: str) -> None:
    assert list(new.columns) == list(old.columns), what
    assert new.index.equals(old.index) and type(new.index) is type(old.index), what
    for c in old.columns:
        assert new[c].dtype == old[c].dtype and str(new[c].dtype) == str(old[c].dtype), (what, c, new[c].dtype,
                                                                                         old[c].dtype)
        a, b = [_cell_key(v) for v in new[c].tolist()], [_cell_key(v) for v in old[c].tolist()]
        if a != b:
            diff = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
            raise AssertionError(f"{what}: column {c!r} differs first at {diff}: {a[diff]} != {b[diff]}")
    pd.testing.assert_frame_equal(new, old, check_exact=True)


def assert_same_read(path, **options) -> None:
    try:
        old = _read_reference(path, **options)
    except BaodeEvalError as exc:
        with pytest.raises(type(exc)) as new_exc:
            baode_eval.read(path, **options)
        assert str(new_exc.value) == str(exc)
        return
    new = baode_eval.read(path, **options)
    assert_same_frame(new.data, old.data, "data")
    assert_same_frame(new.quarantine, old.quarantine, "quarantine")
    assert_same_frame(new.report.issues, old.report.issues, "issues")
    assert new.report.to_dict() == old.report.to_dict()
    for attr in ("rows_in", "rows_valid", "rows_quarantined", "rows_out", "header_rows", "encoding", "sheet",
                 "format", "table", "level"):
        assert getattr(new.report, attr) == getattr(old.report, attr), attr
        assert type(getattr(new.report, attr)) is type(getattr(old.report, attr)), attr


@pytest.mark.parametrize("options", sorted(OPTION_SETS))
@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus_reads_as_before(tmp_path, text_path, name, options):
    path, _ = CASES[name](tmp_path)
    assert_same_read(path, **{**OPTION_SETS[options], **READ_OPTIONS.get(name, {})})


def _privacy_files(tp):
    leaky, _ = _leaky_file(tp)
    ids = make_ids(3)
    keyed = tp / "keyed.csv"
    pd.DataFrame({"户编号": [ids[0], ids[1], ids[1], ids[2]], "年度": [2022, 2022, 2022, 2023],
                  "人数": [2, 3, 3, "x"]}).to_csv(keyed, index=False)
    phones = tp / "phones.csv"
    pd.DataFrame({"户编号": ["H1", "H2", "H3"], "年度": [2022] * 3,
                  "联络方式": [make_phone(1), make_phone(2), "无"]}).to_csv(phones, index=False)
    ages = tp / "ages.csv"
    pd.DataFrame({"户编号": ["H1", "H2"], "年度": [2022, 2022],
                  "证件号码": [make_id(1, birth="19800101"), make_id(2, birth="20100615")]}).to_csv(ages, index=False)
    typed_keys = tp / "typed_keys.parquet"
    pd.DataFrame({"household_id": ids + [None], "year": [2022, 2022, 2023, 2022],
                  "site": [f"电话{make_phone(3)}", "东关", None, "西关"]}).to_parquet(typed_keys)
    return {"leaky": leaky, "keyed": keyed, "phones": phones, "ages": ages, "typed_keys": typed_keys}


@pytest.mark.parametrize("options", sorted(OPTION_SETS))
@pytest.mark.parametrize("name", ["leaky", "keyed", "phones", "ages", "typed_keys"])
def test_privacy_files_read_as_before(tmp_path, text_path, name, options):
    assert_same_read(_privacy_files(tmp_path)[name], **OPTION_SETS[options])


def test_validation_files_read_as_before(tmp_path, text_path):
    df = households(8).drop(columns=["head_name", "id_number", "phone"])
    df.loc[0, "wage_income"] = 50.0
    df.loc[2, "net_income"] += 1000
    df.loc[3, "household_id"] = df.loc[1, "household_id"]
    p = tmp_path / "w.parquet"
    df.to_parquet(p)
    assert_same_read(p)
    q = tmp_path / "w.csv"
    zh_export(households(8, seed=3)).to_csv(q, index=False, encoding="gbk")
    assert_same_read(q)
    assert_same_read(q, severity={"income_sum": "warning", "type": "info"}, programme_years=(2010, 2030))


@pytest.mark.parametrize("spec", ["zh.csv", "en.csv", "en.parquet", "zh.xlsx", "person_zh.csv", "person_en.parquet"])
def test_simulator_exports_read_as_before(tmp_path, text_path, spec):
    simulate = pytest.importorskip("baode_eval.simulate")
    kind, suffix = spec.split(".")
    level = "person" if kind.startswith("person") else "household"
    lang = kind.split("_")[-1]
    p = tmp_path / f"sim.{suffix}"
    simulate.write_simulation(p, lang=lang, personal=lang == "zh", households=30, sites=3, seed=7, level=level)
    assert_same_read(p)
    assert_same_read(p, level="household", derive_from_id=True, keep_unknown=True)


def test_bundled_panel_slice_reads_as_before(tmp_path):
    from baode_eval import paths

    df = pd.read_parquet(paths.synthetic_households()).iloc[:1500]
    p = tmp_path / "slice.parquet"
    df.to_parquet(p)
    assert_same_read(p)


def test_reference_is_the_slow_path_not_the_fast_one():
    # the equivalence above means something only if the two readers are different code
    from baode_eval import _io_reference

    assert _io_reference._read_reference is not baode_eval.read
    assert not hasattr(_io_reference, "_cells") and "_cells" not in _io_reference.__dict__


# --- drawn files -----------------------------------------------------------------------------

_HEADERS = ["户编号", "年度", "人数", "劳动力人数", "工资性收入", "是否搬迁户", "识别监测时间", "监测对象类别",
            "证件号码", "备注", "人编号", "安置点"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.lists(st.sampled_from(_HEADERS), min_size=1, max_size=7),
       cells=st.lists(st.lists(_cell, min_size=0, max_size=8), min_size=0, max_size=12),
       title=st.booleans(), sep=st.sampled_from([",", ";", "\t"]), encoding=st.sampled_from(["utf-8", "gb18030"]),
       options=st.sampled_from(sorted(OPTION_SETS)))
def test_drawn_text_files_read_as_before(tmp_path, text_path, header, cells, title, sep, encoding, options):
    import csv

    p = tmp_path / "drawn.csv"
    with open(p, "w", encoding=encoding, errors="replace", newline="") as fh:
        w = csv.writer(fh, delimiter=sep)
        if title:
            w.writerow(["保德县台账"])
        w.writerow(header)
        w.writerows(cells)
    assert_same_read(p, **OPTION_SETS[options])


_typed_value = st.one_of(
    st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6), st.booleans(),
    st.sampled_from(["12,000", "1.2万", "是", "否", " ", "", "NaN", "合计", "-0", "0.0", "202103", "2021年3月",
                     "边缘易致贫户", "监测户", make_id(3), make_phone(4), "4.10000199001012E+17"]),
)
_TYPED_COLUMNS = ["household_id", "year", "household_size", "wage_income", "relocated", "monitoring_start",
                  "monitoring_category", "id_number", "site", "remark"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), n=st.integers(0, 12), options=st.sampled_from(sorted(OPTION_SETS)))
def test_drawn_parquet_files_read_as_before(tmp_path, data, n, options):
    """Typed columns (floats with -0.0, inf and NaN; ints; bools; text; mixed objects) in Parquet."""
    columns = data.draw(st.lists(st.sampled_from(_TYPED_COLUMNS), min_size=1, max_size=6, unique=True))
    frame = {}
    for c in columns:
        how = data.draw(st.sampled_from(["float", "int", "Int64", "bool", "boolean", "text", "category", "object"]))
        if how == "float":
            frame[c] = np.array(data.draw(st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
                [0.0, -0.0, 2.0**63, 1e15, 4.0]), min_size=n, max_size=n)), dtype=float)
        elif how in ("int", "Int64"):
            vals = data.draw(st.lists(st.integers(-2**63, 2**63 - 1) | st.integers(0, 40)
                                      | (st.none() if how == "Int64" else st.integers(0, 1)), min_size=n, max_size=n))
            frame[c] = pd.array(vals, dtype="Int64") if how == "Int64" else np.array(vals, dtype=np.int64)
        elif how in ("bool", "boolean"):
            vals = data.draw(st.lists(st.booleans() | (st.none() if how == "boolean" else st.booleans()),
                                      min_size=n, max_size=n))
            frame[c] = pd.array(vals, dtype="boolean") if how == "boolean" else np.array(vals, dtype=bool)
        elif how in ("text", "category"):
            vals = data.draw(st.lists(st.none() | st.text(max_size=6) | _typed_value.filter(
                lambda v: isinstance(v, str)), min_size=n, max_size=n))
            frame[c] = pd.Series(vals, dtype="category" if how == "category" else "string")
        else:
            vals = data.draw(st.lists(_typed_value, min_size=n, max_size=n))
            if all(isinstance(v, (bool, type(None))) for v in vals) or all(
                    isinstance(v, (str, type(None))) for v in vals):
                frame[c] = pd.Series(vals, dtype=object)
            else:   # Parquet columns hold one type: mixed cells as text, as a ledger export would
                frame[c] = pd.Series([None if v is None else str(v) for v in vals], dtype=object)
    p = tmp_path / "drawn.parquet"
    pd.DataFrame(frame).to_parquet(p)
    assert_same_read(p, **OPTION_SETS[options])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(_typed_value.filter(lambda v: not (isinstance(v, float) and math.isnan(v))),
                              min_size=1, max_size=6), min_size=0, max_size=8),
       header=st.lists(st.sampled_from(_HEADERS), min_size=2, max_size=6))
def test_drawn_workbooks_read_as_before(tmp_path, rows, header):
    """Excel cells keep their types (int, float, bool, text) row by row, mixed within a column."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append([v if not (isinstance(v, float) and math.isinf(v)) else str(v) for v in r])
    p = tmp_path / "drawn.xlsx"
    wb.save(p)
    assert_same_read(p)
    assert_same_read(p, keep_unknown=True, lang="zh")


# --- the privacy scans, once per distinct value ------------------------------------------------

_privacy_cell = st.one_of(st.none(), st.just(float("nan")), st.integers(0, 3), st.sampled_from(
    ["", " ", "东关", make_id(5), " " + make_id(6) + " ", make_phone(7), f"电话{make_phone(8)}", "+86 138-1234-5678",
     "H0001", "１３８１２３４５６７８"]))


@settings(max_examples=80, deadline=None)
@given(columns=st.lists(st.tuples(st.sampled_from(["object", "string", "str"]),
                                  st.lists(_privacy_cell, min_size=6, max_size=6)), min_size=1, max_size=4),
       share=st.sampled_from([0.5, 0.3, 1.0]), mode=st.sampled_from(["drop", "pseudonymise", "keep"]))
def test_privacy_scans_match_the_cell_by_cell_ones(columns, share, mode):
    from baode_eval import _io_reference as ref
    from baode_eval import privacy

    frame = {}
    for i, (dtype, cells) in enumerate(columns):
        if dtype == "object":
            frame[f"c{i}"] = pd.Series(cells, dtype=object)
        else:
            frame[f"c{i}"] = pd.Series([v if isinstance(v, str) else None for v in cells], dtype=dtype)
    df = pd.DataFrame(frame)
    before = df.copy()
    assert privacy.pattern_columns(df, share=share) == ref._pattern_columns(df, share=share)
    personal = list(df.columns[:1])
    new = privacy.protect(df, columns=personal, mode=mode, salt=SALT)
    old = ref._protect(df, columns=personal, mode=mode, salt=SALT)
    assert_same_frame(new, old, "protect")
    pd.testing.assert_frame_equal(df, before)   # the caller's frame is left alone


# --- cells at the edges of each rule (drawn files may miss them) -------------------------------

_EDGE_TEXT = ["NA", "N/A", "None", "NULL", "nan", "NaN", "-", "—", "--", "/", "\\", " 空 ", "无数据", "ＮＡ", "", "  ",
              "H1 ", " H1", "H1", "h1", "[H1]", "【H1】", "合计", "Total:", "小计（人）", "0", "-0", "-0.0", "0.0",
              "1e400", "-inf", "１２", "1,234", "1.2万", "12000元", "3.5", "2**62", "4611686018427387905",
              "9223372036854775807", "是", "否", "Y", "n", "√", "202103", "2021年3月", "2021-13", "边缘易致贫户",
              "监测户", "\u3000", "ａｂｃ", "Ⅻ", "ﬀ"]


@pytest.mark.parametrize("fmt", ["csv", "parquet", "xlsx"])
def test_edge_cells_read_as_before(tmp_path, text_path, fmt):
    """Every edge text in every kind of field (text, int, float, yes/no, period, category, ID)."""
    header = ["household_id", "year", "site", "household_size", "wage_income", "relocated", "monitoring_start",
              "monitoring_category", "id_number", "remark"]
    rows = [[f"H{i}", "2022"] + [v] * (len(header) - 2) for i, v in enumerate(_EDGE_TEXT)]
    rows += [[v, "2022", v, "1", "1", "是", "202101", "监测户", "", "x"] for v in _EDGE_TEXT]
    df = pd.DataFrame(rows, columns=header)
    p = tmp_path / f"edge.{fmt}"
    if fmt == "csv":
        df.to_csv(p, index=False)
    elif fmt == "parquet":
        df.to_parquet(p)
    else:
        df.to_excel(p, index=False)
    for options in OPTION_SETS.values():
        assert_same_read(p, **options)


@pytest.mark.parametrize("zeros", [[0.0, -0.0, 1.5, -0.0], [-0.0, 0.0, 0.0], [np.nan, -0.0, 0.0]])
def test_signed_zeros_read_as_before(tmp_path, zeros):
    """The old reader parsed each distinct cell once, so a column's zeros take the first zero's sign."""
    n = len(zeros)
    df = pd.DataFrame({"household_id": [f"H{i}" for i in range(n)], "year": 2022, "wage_income": zeros,
                       "household_size": np.array(zeros) + 1, "site": pd.Series(zeros, dtype=object)})
    p = tmp_path / "zeros.parquet"
    df.to_parquet(p)
    assert_same_read(p)
    assert_same_read(p, keep_unknown=True)
    q = tmp_path / "zeros.xlsx"
    df.to_excel(q, index=False)
    assert_same_read(q)


@pytest.mark.parametrize("values", [[2**62, 2**62 + 1, -2**62 - 1], [2**63 - 1, -2**63, 0], [2**53 + 1, 7, 2**53]])
def test_big_whole_numbers_read_as_before(tmp_path, values):
    """Whole numbers near and beyond float precision in int and float fields, as int64 and as text."""
    df = pd.DataFrame({"household_id": ["H1", "H2", "H3"], "year": 2022, "household_size": np.array(values),
                       "wage_income": np.array(values), "site": np.array(values), "remark": [str(v) for v in values]})
    p = tmp_path / "big.parquet"
    df.to_parquet(p)
    assert_same_read(p, keep_unknown=True)
    q = tmp_path / "big.csv"
    df.to_csv(q, index=False)
    assert_same_read(q, keep_unknown=True)
