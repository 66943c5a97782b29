"""The compiled phase-1 engine (``engine="numba"``, baode_eval.kernel) against the numpy engine.

The numpy engine evaluates expressions as arrays (baode_eval.framework._eval); the kernel
translates them into scalar code. Both add the same values to the same cells in row order,
so their sums should agree to the last bit or nearly (RTOL 1e-12): any difference in the
missing-value rules (Kleene and/or, comparisons with a missing side, division by zero,
infinities, nullable and yes/no columns) shows up as a NaN or a changed count. The expressions
are a fixed list of awkward cases plus 60 drawn from a seeded grammar.
"""
import json

import numpy as np
import pandas as pd
import pytest

from baode_eval import cli, framework as fw, paths, scorecard, survey
from baode_eval.errors import DataError, ParameterError

pytest.importorskip("numba")
from baode_eval import kernel  # noqa: E402

RTOL = 1e-12

COLUMNS = ("a", "b", "c", "d", "e", "cat")

AWKWARD = [
    "a", "b", "c", "d", "1", "0", "k", "line", "a / b", "b / 0", "1 / a", "-a", "not c", "not a",
    "a and c", "a or c", "not (a and d)", "d or b", "a < line", "0 <= b < 3", "a == b", "a != d",
    "b >= 2 and d < 5", "notna(cat)", "isna(d)", "notna(cat) and c", "isna(cat) or a > k",
    "(a + b + d - 4) / 12", "a * e", "e - e", "e * 0", "a / e", "(a > 0) + (b > 1) * 2",
    "not (a > 0 or d > 1)", "-(b - d) / (a + 1)", "k * line", "e > 0", "e == e",
]


def _frame(n=400, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(1, 2, n)
    a[rng.random(n) < 0.1] = np.nan
    e = rng.normal(0, 1, n)
    e[rng.random(n) < 0.05] = np.inf
    e[rng.random(n) < 0.05] = -np.inf
    d = pd.array(rng.integers(0, 7, n), dtype="Int64")
    d[rng.random(n) < 0.1] = pd.NA
    cat = pd.Categorical(rng.choice(["x", "y", None], n, p=[0.45, 0.45, 0.1]))
    return pd.DataFrame({
        "site": pd.Categorical(rng.choice(["S1", "S2", "S3", None], n, p=[0.3, 0.3, 0.3, 0.1])),
        "year": rng.integers(2020, 2025, n).astype(np.int16),
        "weight": rng.uniform(0.5, 3, n).astype(np.float32),
        "stratum": rng.integers(0, 3, n),
        "psu": rng.integers(0, 12, n).astype(np.int32),
        "a": a, "b": rng.integers(0, 4, n).astype(np.int8), "c": rng.random(n) < 0.6, "d": d,
        "e": e, "cat": cat,
    })


def _random_expressions(count, seed=1) -> list[str]:
    """Expressions from a small grammar (columns, numbers, parameters, every operator)."""
    rng = np.random.default_rng(seed)
    leaves = ["a", "b", "c", "d", "e", "0", "1", "2.5", "k", "line", "notna(cat)", "isna(d)"]

    def draw(depth):
        if depth == 0 or rng.random() < 0.25:
            return str(rng.choice(leaves))
        op = rng.choice(["bin", "cmp", "chain", "bool", "not", "neg"])
        if op == "bin":
            return f"({draw(depth - 1)} {rng.choice(['+', '-', '*', '/'])} {draw(depth - 1)})"
        if op == "cmp":
            return f"({draw(depth - 1)} {rng.choice(['<', '<=', '>', '>=', '==', '!='])} {draw(depth - 1)})"
        if op == "chain":
            return f"({draw(0)} < {draw(0)} <= {draw(0)})"
        if op == "bool":
            return f"({draw(depth - 1)} {rng.choice(['and', 'or'])} {draw(depth - 1)})"
        if op == "not":
            return f"(not {draw(depth - 1)})"
        return f"(-{draw(depth - 1)})"

    return [draw(3) for _ in range(count)]


def _framework(pairs) -> fw.Framework:
    inds = [{"id": f"i{j}", "zh": f"指标{j}", "en": f"ind {j}", "order": j + 1, "kind": "ratio", "unit": "household",
             "numerator": num, "denominator": den} for j, (num, den) in enumerate(pairs)]
    raw = {"id": "kernel_test", "version": 1, "zh": "测试", "en": "test", "source": "tests",
           "parameters": {"k": {"zh": "k", "en": "k", "value": 1.5},
                          "line": {"zh": "线", "en": "line", "by_year": {2021: 0.5, 2022: 1.0, 2023: 2.0}}},
           "goals": [{"id": "g", "zh": "目标", "en": "goal", "order": 1, "indicators": inds}]}
    return fw.from_dict(raw, extra_columns=COLUMNS)


def _cells(data, fwk, design, *, compiled, by=("site", "year"), threads=None):
    ratios = (kernel.Compiled(fwk, threads=threads) if compiled
              else (lambda block: fw.row_values(block, fwk)))
    return survey.sufficient_statistics(data, ratios, design=design, by=by).cells


def _assert_same_cells(a: pd.DataFrame, b: pd.DataFrame):
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for col in a.columns:
        if isinstance(a[col].dtype, pd.CategoricalDtype):
            assert a[col].equals(b[col]), col
        else:
            np.testing.assert_allclose(b[col].to_numpy(np.float64), a[col].to_numpy(np.float64), rtol=RTOL,
                                       atol=0, equal_nan=True, err_msg=col)


DESIGNS = {
    "survey, PSUs": survey.Design(weights="weight", strata="stratum", psu="psu"),
    "survey, rows are PSUs": survey.Design(weights="weight", strata="stratum"),
    "census": survey.Design(),
    "census, superpopulation": survey.Design(superpopulation=True),
}


@pytest.mark.parametrize("design", list(DESIGNS), ids=list(DESIGNS))
def test_awkward_expressions_sum_like_numpy(design):
    pairs = [(x, "1") for x in AWKWARD] + [(x, y) for x, y in zip(AWKWARD, reversed(AWKWARD))]
    fwk = _framework(pairs)
    data = _frame()
    ref = _cells(data, fwk, DESIGNS[design], compiled=False)
    got = _cells(data, fwk, DESIGNS[design], compiled=True)
    _assert_same_cells(ref, got)
    # the cases are not vacuous: missing values, zero denominators and infinities do occur
    assert ref["n:i0"].sum() < ref["_rows"].sum()  # `a` is missing on some rows
    assert np.isinf(ref["y:i28"]).any() or np.isnan(ref["y:i28"]).any()  # a * e meets +-inf


def test_random_expressions_sum_like_numpy():
    exprs = _random_expressions(60)
    fwk = _framework(list(zip(exprs[:30], exprs[30:])))
    data = _frame(seed=3)
    for design in (DESIGNS["survey, PSUs"], DESIGNS["survey, rows are PSUs"]):
        _assert_same_cells(_cells(data, fwk, design, compiled=False), _cells(data, fwk, design, compiled=True))


def test_columns_without_missing_values_share_sums_and_agree():
    """With no missing values the kernel makes each distinct sum once (a denominator of 1 is the
    household count for every such indicator) -- and the shared sums are still right."""
    data = _frame(seed=4).assign(a=lambda f: f["a"].fillna(0.5), e=lambda f: f["e"].clip(-5, 5))
    fwk = _framework([("a", "1"), ("b", "1"), ("c", "1"), ("a", "b"), ("b", "a"), ("c", "b")])
    src, _, layout = kernel._source(fwk, False, frozenset(), True)
    assert layout["width"] < 3 * 6  # x of the first three (and their counts) is one sum
    _assert_same_cells(_cells(data, fwk, DESIGNS["survey, PSUs"], compiled=False),
                       _cells(data, fwk, DESIGNS["survey, PSUs"], compiled=True))


def test_threads_split_cells_so_sums_are_bitwise_the_same():
    data = pd.read_parquet(paths.synthetic_households())
    fwk = fw.load()
    design = scorecard.resolve_design(data, "auto")
    one = _cells(data, fwk, design, compiled=True, threads=1)
    for threads in (2, 3):
        other = _cells(data, fwk, design, compiled=True, threads=threads)
        for col in one.columns:
            assert one[col].equals(other[col]), (threads, col)


@pytest.mark.parametrize("ngroups", [0, 1, 511, 512, 513, 980_000, 10_000_001])
def test_threads_own_whole_chunks_of_cells(ngroups):
    """Chunk size depends on the cells only; every thread's cells are whole chunks (or the
    tail), together every cell once, the larger share at most a chunk above an even split."""
    shifts = set()
    for threads in (1, 2, 3, 8):
        shift, bounds = kernel._chunks(ngroups, threads)
        shifts.add(shift)
        size = 1 << shift
        assert size >= kernel.STAGE_CELLS and -(-ngroups // size) <= kernel.CHUNKS
        assert bounds[0] == 0 and bounds[-1] == ngroups and len(bounds) == threads + 1
        assert (np.diff(bounds) >= 0).all()
        assert all(b % size == 0 or b == ngroups for b in bounds)
        assert np.diff(bounds).max() <= -(-ngroups // threads) + size
    assert len(shifts) == 1


def test_staged_sums_do_not_depend_on_threads_whatever_the_row_order(monkeypatch):
    """Rows add into staging slots, and a cell leaves its slot when another cell of the same slot
    comes. With two slots per chunk and rows in random order cells come and go many times:
    the sums are still those of numpy (to rounding) and bitwise the same for 1, 2 and 3 threads;
    with the rows grouped by cell every cell stays once, and the sums are bitwise those of a
    staging table large enough to keep every cell."""
    fwk = _framework([(x, "1") for x in AWKWARD[:6]] + [(x, y) for x, y in zip(AWKWARD[6:12], AWKWARD[:6])])
    data = _frame(n=3000, seed=7).sample(frac=1.0, random_state=1).reset_index(drop=True)
    design = DESIGNS["survey, PSUs"]
    grouped = data.sort_values(["site", "year", "stratum", "psu"], kind="stable").reset_index(drop=True)

    def cells(rows, stage, threads):
        monkeypatch.setattr(kernel, "STAGE_CELLS", stage)
        monkeypatch.setattr(kernel, "CHUNKS", 4)
        return _cells(rows, fwk, design, compiled=True, threads=threads)

    small = cells(data, 2, 1)
    assert len(small) > 100  # many cells share each slot
    for threads in (2, 3):
        other = cells(data, 2, threads)
        for col in small.columns:
            assert small[col].equals(other[col]), (threads, col)
    _assert_same_cells(_cells(data, fwk, design, compiled=False), small)
    large = cells(data, 4096, 1)
    sums = [c for c in small.columns if c.startswith("y:")]
    # in random order the stays are real: some sums differ in the last bits from one stay per cell
    assert any(not small[c].equals(large[c]) for c in sums)
    one, many = cells(grouped, 4096, 2), cells(grouped, 2, 3)
    for col in one.columns:
        assert one[col].equals(many[col]), col


# --------------------------------------------------------------------------------------------
# numbering the groups


def _reference_group_ids(codes, cards):
    """The plain definition: mixed-radix code of each row, groups in sorted order."""
    comb = np.zeros(len(codes[0]), np.int64)
    for c, k in zip(codes, cards):
        comb = comb * (k + 1) + (c + 1)
    gid, uniq = pd.factorize(comb, sort=True)
    parts = []
    rem = np.asarray(uniq, np.int64)
    for k in reversed(cards):
        parts.append(rem % (k + 1) - 1)
        rem = rem // (k + 1)
    return gid, np.column_stack(parts[::-1])


@pytest.mark.parametrize("seed", range(12))
def test_group_ids_fast_paths_match_the_definition(seed, monkeypatch):
    if seed % 2:  # no lookup tables: combinations numbered by hashing
        monkeypatch.setattr(survey, "_DENSE_LIMIT", 0)
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    psu = rng.integers(0, int(rng.integers(1, 400)), n)
    site = psu // int(rng.integers(1, 5))  # nested in PSUs: looked up, not combined
    if seed % 3 == 0:
        site = rng.integers(0, 40, n)  # not nested: combined
    year = rng.integers(0, 8, n)
    site = np.where(rng.random(n) < 0.05, -1, site)  # missing domain values
    codes = [pd.factorize(site, sort=True)[0] if (site >= 0).all() else site, year, psu]
    codes = [np.asarray(c, np.int64) for c in codes]
    cards = [int(c.max()) + 1 for c in codes]
    ref_gid, ref_parts = _reference_group_ids(codes, cards)
    for jit in (False, True):
        gid, parts = survey._group_ids([c.copy() for c in codes], cards, n, jit)
        np.testing.assert_array_equal(gid, ref_gid)
        np.testing.assert_array_equal(parts, ref_parts)
    # the Numba steps on raw integer columns (values + lookup table, no code arrays), here
    # years and PSU numbers with gaps: order-preserving, so the same groups
    raw = [pd.Series(codes[1] + 2018).astype(np.int16), pd.Series(codes[2] * 3 + 1000).astype(np.int32)]
    keys = [survey._codes(r, True) for r in raw]
    assert all(isinstance(k, survey._Key) and k.lo > 0 for k, _ in keys)
    cards = cards[:1] + [len(u) for _, u in keys]
    gid, parts = survey._group_ids([codes[0].copy()] + [k for k, _ in keys], cards, n, True)
    np.testing.assert_array_equal(gid, ref_gid)
    np.testing.assert_array_equal(parts[:, 0], ref_parts[:, 0])
    np.testing.assert_array_equal(np.asarray(keys[0][1])[parts[:, 1]], ref_parts[:, 1] + 2018)  # codes: ranks
    np.testing.assert_array_equal(np.asarray(keys[1][1])[parts[:, 2]], ref_parts[:, 2] * 3 + 1000)


@pytest.mark.parametrize("seed", range(8))
def test_group_ids_in_the_layout_order(seed):
    """The Numba grouping with a key looked up after a combination (a stratum given the PSU,
    fewer values than the years), against the definition, in lexicographic and in a tiled
    layout order (sort_columns, as survey._layout makes it)."""
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 3000))
    psu = rng.integers(0, int(rng.integers(2, 400)), n)
    site = psu // int(rng.integers(1, 5)) if seed % 2 else rng.integers(0, 30, n)
    year = rng.integers(0, 8, n)
    h = psu % 3  # determined by the PSU, after the years (3 values < 8)
    codes = [np.asarray(pd.factorize(c, sort=True)[0], np.int64) for c in (site, year, h, psu)]
    cards = [int(c.max()) + 1 for c in codes]
    ref_gid, ref_parts = _reference_group_ids(codes, cards)
    gid, parts = survey._group_ids([c.copy() for c in codes], cards, n, True)
    np.testing.assert_array_equal(gid, ref_gid)
    np.testing.assert_array_equal(parts, ref_parts)

    def tiled(p):  # (site // 4, year, site, h, psu), as survey._layout makes it
        return [(p[:, 0] - 1) // 4, p[:, 1], p[:, 0], p[:, 2], p[:, 3]]

    gid, parts = survey._group_ids([c.copy() for c in codes], cards, n, True, sort_columns=tiled)
    order = np.lexsort(tiled(ref_parts + 1)[::-1])
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    np.testing.assert_array_equal(parts, ref_parts[order])
    np.testing.assert_array_equal(gid, rank[ref_gid])


@pytest.mark.parametrize("seed", range(10))
def test_fused_numbering_matches_the_definition_whatever_the_threads(seed, monkeypatch):
    """The two-pass numbering (every key but one determined by the key with most values: a site
    and a stratum by the PSU, the year not) against the definition, on raw integer columns with
    gaps, categorical codes with missing values and a tiled layout; the same for 1, 2 and 3
    threads, the rows per group counted on the way; a second free key falls back."""
    rng = np.random.default_rng(300 + seed)
    n = int(rng.integers(2, 4000))
    psu = rng.integers(0, int(rng.integers(2, 500)), n)
    site = np.where(psu % 11 == 3, -1, psu // int(rng.integers(1, 5)))  # missing for some PSUs
    if seed % 3 == 0:
        site = rng.integers(-1, 30, n)  # not nested in PSUs: the general steps
    year = rng.integers(0, int(rng.integers(1, 9)), n)
    h = psu % 7
    raw = [pd.Series(year * 1 + 2018).astype(np.int16), pd.Series(h * 5 + 3).astype(np.int16),
           pd.Series(psu * 3 + 1000).astype(np.int32)]
    keys = [survey._Key.of_codes(*_codes_of(site))] + [survey._codes(r, True)[0] for r in raw]
    cards = [len(k.lut) - 1 if i == 0 else len(survey._codes(raw[i - 1], True)[1]) for i, k in enumerate(keys)]
    codes = [keys[0].values.astype(np.int64)] + [k.codes() for k in keys[1:]]
    ref_gid, ref_parts = _reference_group_ids(codes, cards)
    used = []
    real = survey._fused_group_ids
    monkeypatch.setattr(survey, "_fused_group_ids", lambda *a, **k: used.append(real(*a, **k)) or used[-1])

    def tiled(p):  # (site // 4, year, site, h, psu), as survey._layout makes it
        return [(p[:, 0] - 1) // 4, p[:, 1], p[:, 0], p[:, 2], p[:, 3]]

    order = np.lexsort(tiled(ref_parts + 1)[::-1])
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    for threads, lazy in ((1, False), (2, False), (3, False), (1, True), (2, True)):
        for sort_columns, want_gid, want_parts in ((None, ref_gid, ref_parts), (tiled, rank[ref_gid], ref_parts[order])):
            rows, seen = [], []
            # lazy: the integer keys' lookup tables made by the numbering (their cards unknown)
            lazy_keys = keys[:1] + [survey._codes(r, True, lazy=True)[0] for r in raw]
            gid, parts = survey._group_ids(lazy_keys if lazy else keys, cards[:1] + [None] * 3 if lazy else cards,
                                           n, True, seen.append, sort_columns, counts=rows, threads=threads)
            if lazy:  # the values that occur, as a pass over them finds them
                for k, r in zip(lazy_keys[1:], raw):
                    np.testing.assert_array_equal(k.used, np.unique(r))
                    np.testing.assert_array_equal(k.lut, survey._codes(r, True)[0].lut)
            np.testing.assert_array_equal(gid, want_gid)
            np.testing.assert_array_equal(parts, want_parts)
            assert seen == [len(want_parts)]
            if used[-1] is not None:
                np.testing.assert_array_equal(rows[0], np.bincount(want_gid, minlength=len(want_parts)))
    # fused exactly when at most one key is not determined by the one with most values
    first = max(range(len(cards)), key=lambda j: cards[j])  # the first of the largest
    free = sum(not (pd.Series(codes[j]).groupby(codes[first]).nunique() == 1).all()
               for j in range(len(codes)) if j != first)
    assert (seed % 3 != 0) <= (free <= 1)  # nested sites: fused
    assert all(u is not None for u in used) == (free <= 1) and all(u is None for u in used) == (free > 1)
    # a second key that the PSU does not determine: the general steps, the same result
    used.clear()
    other = rng.integers(0, 3, n)
    more = keys + [survey._Key.of_codes(other, 3)]
    gid, parts = survey._group_ids(more, cards + [3], n, True, threads=2)
    want_gid, want_parts = _reference_group_ids(codes + [other], cards + [3])
    np.testing.assert_array_equal(gid, want_gid)
    np.testing.assert_array_equal(parts, want_parts)
    assert used == [None]


def test_fused_numbering_sees_a_key_that_changes_between_threads():
    """Every thread alone sees the second key constant within each PSU, yet it is not: the
    threads' notes are merged, so the key is combined, not looked up."""
    n = 1000
    psu = np.arange(n) % 50
    half = (np.arange(n) >= n // 2).astype(np.int64)  # constant within each thread's rows
    year = np.arange(n) % 2
    codes = [psu, half, year]
    cards = [50, 2, 2]
    want_gid, want_parts = _reference_group_ids(codes, cards)
    for threads in (1, 2):
        gid, parts = survey._group_ids([c.copy() for c in codes], cards, n, True, threads=threads)
        np.testing.assert_array_equal(gid, want_gid)
        np.testing.assert_array_equal(parts, want_parts)
    keys = [survey._Key.of_codes(psu, 50), survey._Key.of_codes(half, 2)]
    gid, parts, rows = survey._fused_group_ids(keys, [0, 1], n, None, None, 2)
    np.testing.assert_array_equal(gid, _reference_group_ids(codes[:2], cards[:2])[0])
    assert len(parts) == 100 and (rows == 10).all()


def _codes_of(values):
    """Codes (-1 for negative values) and the number of distinct others, as a categorical's."""
    uniq = np.unique(values[values >= 0])
    return np.where(values >= 0, np.searchsorted(uniq, values), -1).astype(np.int16), len(uniq)


def test_faults_touch_every_page_and_change_no_value():
    """Pieces of the arrays shared by two threads: a value at the start of every page, and only
    there, is written, with zero; arrays of any length, pieces of any size."""
    import threading

    from baode_eval._memory import Faults

    arrays = [np.ones((3, 70001)), np.ones(12345, np.int32), np.ones(0), np.ones((2, 5), np.int64)]
    faults = Faults(arrays, piece=64 << 10)
    workers = [threading.Thread(target=faults.work) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    faults.work()  # nothing left: returns at once
    for a in arrays:
        flat = a.reshape(-1)
        step = 4096 // a.itemsize
        want = np.ones(len(flat))
        want[::step] = 0
        np.testing.assert_array_equal(flat, want)


@pytest.mark.parametrize("seed", range(4))
def test_sort_code_orders_as_lexsort_of_the_sort_columns(seed):
    """The compiled packing of the layout's sort columns (part, or (part - 1) // divisor) gives
    np.lexsort's order of those columns, ties in row order; a code that would not fit is said."""
    from baode_eval import _jit

    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(0, 3000)), int(rng.integers(1, 5))
    parts = rng.integers(0, [50, 8, 300, 7][:k], (n, k)).astype(np.int64)  # codes + 1: 0 = missing
    spec = [(0, 64), *((j, 0) for j in rng.permutation(k))]
    code, ok = _jit.sort_code(parts, np.array([j for j, _ in spec]), np.array([d for _, d in spec]))
    assert ok
    cols = [(parts[:, j] - 1) // d if d else parts[:, j] for j, d in spec]
    want = np.lexsort(cols[::-1]) if n else np.zeros(0, np.int64)
    np.testing.assert_array_equal(np.argsort(code, kind="stable"), want)
    wide = rng.integers(0, 2**40, (10, 2)).astype(np.int64)
    assert not _jit.sort_code(wide, np.array([0, 1]), np.array([0, 0]))[1]
    # the tiled layout's own columns, by (site, year) keys and then the design's (stratum, PSU)
    sort_columns = survey._layout([None, None], True, changes=[1000, 3])
    parts = rng.integers(0, [300, 8, 20, 90], (n, 4)).astype(np.int64)
    spec = sort_columns.spec(4)
    code, ok = _jit.sort_code(parts, np.array([j for j, _ in spec]), np.array([d for _, d in spec]))
    assert ok and len(spec) == 5
    np.testing.assert_array_equal(np.argsort(code, kind="stable"), survey._lexsort(sort_columns(parts)))


def test_integer_codes_by_lookup_table_match_factorize():
    rng = np.random.default_rng(7)
    for values in (rng.integers(-50, 50, 1000).astype(np.int16), rng.integers(0, 10**12, 500),
                   np.array([5], np.int32)):
        want_codes, want_uniq = pd.factorize(pd.Series(values), sort=True)
        for jit in (False, True):
            codes, uniq = survey._codes(pd.Series(values), jit)
            if jit:  # a key for the Numba grouping: values and a lookup table, codes on demand
                assert isinstance(codes, survey._Key) and not codes.has_missing()
                codes = codes.codes()
            np.testing.assert_array_equal(codes, want_codes)
            assert list(uniq) == list(want_uniq) and uniq.dtype == values.dtype


# --------------------------------------------------------------------------------------------
# the engine through scorecard.build and the CLI


@pytest.fixture(scope="module")
def bundled():
    return pd.read_parquet(paths.synthetic_households())


def test_bundled_scorecard_same_as_pandas_engine(bundled):
    ref = scorecard.build(bundled, lang="en")
    card = scorecard.build(bundled, lang="en", engine="numba")
    assert card.timings["engine"] == "numba"
    pd.testing.assert_frame_equal(ref.tidy(), card.tidy(), check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(ref.changes(), card.changes(), check_exact=False, rtol=1e-9, atol=1e-9)


def test_survey_sample_same_as_pandas_engine():
    from baode_eval.simulate import simulate

    data = simulate(seed=5, mode="survey").data
    ref = scorecard.build(data, lang="en")
    card = scorecard.build(data, lang="en", engine="numba")
    assert (ref.tidy()["std_error"] > 0).any()
    pd.testing.assert_frame_equal(ref.tidy(), card.tidy(), check_exact=False, rtol=1e-9)


def test_cli_engine_numba(tmp_path, capsys):
    src = paths.synthetic_households()
    out_p, out_n = tmp_path / "p.json", tmp_path / "n.json"
    assert cli.main(["scorecard", str(src), "--lang", "en", "--by", "site", "--out", str(out_p)]) == 0
    assert cli.main(["scorecard", str(src), "--lang", "en", "--by", "site", "--engine", "numba",
                     "--out", str(out_n)]) == 0
    p = pd.DataFrame(json.loads(out_p.read_text(encoding="utf-8"))["rows"])
    n = pd.DataFrame(json.loads(out_n.read_text(encoding="utf-8"))["rows"])
    assert len(p) == len(n) > 0
    pd.testing.assert_frame_equal(p, n, check_exact=False, rtol=1e-9)


def test_without_numba_the_message_says_what_to_install(bundled, monkeypatch):
    monkeypatch.setattr(kernel, "available", lambda: False)
    with pytest.raises(ParameterError, match=r"baode-eval\[fast\]"):
        scorecard.build(bundled, engine="numba")


def test_unwritable_cache_folder_is_named(bundled, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("BAODE_EVAL_CACHE", str(blocker))
    monkeypatch.setattr(kernel, "_MODULES", {})
    with pytest.raises(ParameterError, match="BAODE_EVAL_CACHE") as e:
        scorecard.build(bundled, engine="numba")
    assert "not-a-folder" in str(e.value)


@pytest.mark.parametrize("helper", [False, True])
def test_a_column_the_framework_needs_is_named(bundled, helper, monkeypatch):
    """Also when the kernel is prepared in a helper thread while the cells are numbered (large
    data; forced here), and when the numbering fails first."""
    if helper:
        monkeypatch.setattr(survey, "PARALLEL_MIN", 0)
    with pytest.raises(DataError, match="family_doctor_signed"):
        scorecard.build(bundled.drop(columns=["family_doctor_signed"]), engine="numba")
    data = bundled.assign(weight=1.0, stratum="a", psu=bundled["site"])
    data.loc[3, "psu"] = None
    with pytest.raises(DataError, match="psu"):
        scorecard.build(data.drop(columns=["family_doctor_signed"]), engine="numba", design="survey")


@pytest.mark.parametrize("helper", [False, True])
def test_a_missing_weight_is_named_when_the_helper_checks_the_weights(bundled, helper, monkeypatch):
    """With the helper thread (forced), the weights are checked beside the numbering: the error
    still names the column."""
    if helper:
        monkeypatch.setattr(survey, "PARALLEL_MIN", 0)
    data = bundled.assign(weight=1.0, stratum="a", psu=np.arange(len(bundled)) % 20)
    data.loc[7, "weight"] = np.nan
    with pytest.raises(DataError, match="weights must be present") as err:
        scorecard.build(data, engine="numba", design="survey")
    assert err.value.column == "weight"


@pytest.mark.parametrize("lonely", ["adjust", "certainty", "fail"])
@pytest.mark.parametrize("kind", ["proportion", "mean", "ratio", "total"])
def test_compiled_phase2_same_as_numpy(kind, lonely):
    """Phase 2 of the numba engine (fused linearisation, compiled intervals) against numpy on the
    same sums: a stratum with one PSU, an fpc, proportions at exactly 0 and 1."""
    data = _frame(n=600, seed=9)
    data["stratum"] = np.where(data["psu"] == 11, 3, data["stratum"])  # stratum 3: one PSU
    data.loc[data["site"] == "S3", "c"] = True  # a proportion of exactly 1 in some domains
    data["fpc"] = data["stratum"].map({0: 40, 1: 40, 2: 40, 3: 5}).astype(float)
    fwk = _framework([("c", "1"), ("b", "d"), ("a", "1"), ("c", "b >= 1")])
    design = survey.Design(weights="weight", strata="stratum", psu="psu", fpc="fpc", lonely_psu=lonely)
    summary = survey.sufficient_statistics(data, kernel.Compiled(fwk), design=design, by=("site", "year"))
    assert summary.extra["jit"]
    assert all(summary.cells[c].dtype == np.int32 for c in summary.cells if c.startswith("n:"))  # half the memory
    if lonely == "fail":
        with pytest.raises(DataError, match="single PSU"):
            survey.finalise(summary, kind)
        return
    got = survey.finalise(summary, kind)
    summary.extra["jit"] = False
    ref = survey.finalise(summary, kind)
    assert (ref["std_error"] > 0).any() and ref["estimate"].notna().any()
    if kind == "proportion":
        assert (ref["estimate"] == 1).any()  # the Wilson branch is used
    pd.testing.assert_frame_equal(ref, got, check_exact=False, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("as_type", ["category", "str", "Int64"])
def test_by_year_parameter_with_a_categorical_or_text_year(as_type):
    """`a < line` reads the year's line whatever the year column's type (numpy engine: int(year))."""
    data = _frame(seed=11)
    data["year"] = data["year"].astype(as_type)
    fwk = _framework([("a < line", "1"), ("line", "1")])
    design = DESIGNS["census"]
    _assert_same_cells(_cells(data, fwk, design, compiled=False, by=("site",)),
                       _cells(data, fwk, design, compiled=True, by=("site",)))


def test_no_rows():
    data = _frame().iloc[:0]
    fwk = _framework([("a", "1"), ("c", "b")])
    for design in (DESIGNS["survey, PSUs"], DESIGNS["census"]):
        _assert_same_cells(_cells(data, fwk, design, compiled=False), _cells(data, fwk, design, compiled=True))


def test_unused_categories_make_no_cells():
    """A categorical site or PSU with categories that no row has (a block of a bigger file)
    gives no empty cells: an empty PSU would count in its stratum's number of PSUs."""
    data = _frame(seed=12)
    data["site"] = data["site"].cat.add_categories(["S0", "S9"])
    data["psu"] = pd.Categorical(data["psu"], categories=range(-3, 20))
    fwk = _framework([("a", "1"), ("c", "b")])
    design = DESIGNS["survey, PSUs"]
    ref = survey.sufficient_statistics(data, lambda b: fw.row_values(b, fwk), design=design, by=("site", "year"))
    got = survey.sufficient_statistics(data, kernel.Compiled(fwk), design=design, by=("site", "year"))
    _assert_same_cells(ref.cells, got.cells)
    assert (got.cells["_rows"] > 0).all()
    pd.testing.assert_frame_equal(ref.strata, got.strata)
    assert got.n_psu_total == len(data[["stratum", "psu"]].drop_duplicates())  # PSUs nested in strata


def test_threaded_key_numbering_and_phase2_same_as_serial(monkeypatch):
    """Large inputs number key columns and linearise indicators in threads; force that on small
    data and compare with the numpy engine."""
    from baode_eval.simulate import simulate

    data = simulate(seed=5, mode="survey").data
    ref = scorecard.build(data, lang="en")
    monkeypatch.setattr(survey, "PARALLEL_MIN", 0)
    card = scorecard.build(data, lang="en", engine="numba")
    pd.testing.assert_frame_equal(ref.tidy(), card.tidy(), check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(ref.changes(), card.changes(), check_exact=False, rtol=1e-9, atol=1e-9)


def test_scorecard_on_kept_memory_same_as_on_fresh_memory(monkeypatch):
    """Every big array made on memory an earlier scorecard held (baode_eval._memory.Retained):
    the cell table is cleared (by the helper threads) and every value of the tidy table written,
    so the scorecard of other data is the one made on fresh memory."""
    import gc

    from baode_eval import _memory
    from baode_eval.simulate import simulate

    first, second = simulate(seed=5, mode="survey").data, simulate(seed=6, mode="survey").data
    monkeypatch.setattr(survey, "PARALLEL_MIN", 0)  # the helper threads, as at national size
    monkeypatch.setattr(_memory.RETAINED, "linger", 0.0)
    fresh = scorecard.build(second, lang="en", engine="numba")
    monkeypatch.setattr(_memory.RETAINED, "linger", 600.0)
    monkeypatch.setattr(_memory.RETAINED, "minimum", 0)  # every array, however small
    _memory.RETAINED.release()
    card = scorecard.build(first, lang="en", engine="numba")
    card.tidy(), card.changes()
    del card
    gc.collect()
    assert _memory.RETAINED.kept_bytes > 0
    made = []
    cell_tables = kernel.Prepared.cell_tables

    def spy(self, n):
        tables, dirty = cell_tables(self, n)
        made.append(dirty)
        return tables, dirty

    monkeypatch.setattr(kernel.Prepared, "cell_tables", spy)
    reuses = _memory.RETAINED.reuses
    again = scorecard.build(second, lang="en", engine="numba")
    assert made == [[True, True]]  # the cell tables held the first scorecard's sums
    assert _memory.RETAINED.reuses - reuses >= 7  # and the tidy table's columns, as far as the kept blocks fit them
    pd.testing.assert_frame_equal(fresh.tidy(), again.tidy())
    pd.testing.assert_frame_equal(fresh.changes(), again.changes())
    del again
    gc.collect()
    _memory.RETAINED.release()


def _trend_framework() -> fw.Framework:
    """A total and a mean with rising/falling targets, and a ratio compared with a reference
    series: the kinds whose changes (and growth) phase 2 computes for the verdicts."""
    inds = [
        {"id": "workers", "zh": "就业人数", "en": "workers", "order": 1, "kind": "total", "unit": "person",
         "numerator": "employed_members", "denominator": "1",
         "target": {"direction": "rising", "status": "unverified", "source": "tests"}},
        {"id": "size", "zh": "户规模", "en": "size", "order": 2, "kind": "mean", "unit": "household",
         "numerator": "household_size", "denominator": "1",
         "target": {"direction": "falling", "status": "unverified", "source": "tests"}},
        {"id": "income", "zh": "收入", "en": "income", "order": 3, "kind": "ratio", "unit": "person",
         "numerator": "per_capita_net_income * household_size", "denominator": "household_size",
         "compare_growth_with": "national_rural_disposable_income"},
    ]
    raw = {"id": "trend_test", "version": 1, "zh": "测试", "en": "test", "source": "tests",
           "goals": [{"id": "g", "zh": "目标", "en": "goal", "order": 1, "indicators": inds}]}
    return fw.from_dict(raw)


@pytest.mark.parametrize("fwk", ["baode", "trend"])
@pytest.mark.parametrize("lonely", ["adjust", "certainty"])
def test_compiled_changes_merge_psus_like_numpy(lonely, fwk, monkeypatch):
    """Changes since last year / baseline and growth: the numba engine merges the two domains'
    PSUs in one loop (_jit.contrast_variance); the numpy engine groups them. Same numbers with a
    lone-PSU stratum, PSUs seen in only one of the two years, and an fpc."""
    from baode_eval import _jit
    from baode_eval.simulate import simulate

    data = simulate(seed=5, mode="survey").data
    lone = data["psu"] == data["psu"].iloc[0]
    data.loc[lone, "stratum"] = "lone"  # a stratum with one PSU
    rng = np.random.default_rng(3)
    gone = data["psu"].isin(rng.choice(data["psu"].unique(), 5, replace=False)) & (data["year"] == 2018)
    data = data.loc[~gone].reset_index(drop=True)  # these PSUs are missing in one year only
    calls = []
    real = _jit.contrast_variance
    monkeypatch.setattr(_jit, "contrast_variance", lambda *a: calls.append(1) or real(*a))
    fwk = _trend_framework() if fwk == "trend" else None
    ref = scorecard.build(data, fwk, lang="en", lonely_psu=lonely)
    card = scorecard.build(data, fwk, lang="en", engine="numba", lonely_psu=lonely)
    ch_ref, ch = ref.changes(), card.changes()
    assert calls and len(ch) == len(ch_ref) > 0
    assert (ch_ref["std_error"] > 0).any() and ch_ref["growth_se"].notna().any()
    pd.testing.assert_frame_equal(ref.tidy(), card.tidy(), check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(ch_ref, ch, check_exact=False, rtol=1e-9, atol=1e-12)


def _year_by_year(data: pd.DataFrame) -> pd.DataFrame:
    """The same rows in the order of a file written year by year (every household of the first
    year, then of the next ...); the simulator writes household by household."""
    return data.sort_values("year", kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("rows", ["households", "years"])
@pytest.mark.parametrize("by", [("year",), ("site", "year")])
def test_sorted_cells_read_as_runs_like_the_general_grouping(by, rows, monkeypatch):
    """Phase 1 leaves every domain's cells together, sorted by (stratum, PSU) -- the domains in
    (site, year) order, or tiled to follow rows that come year by year; domains and (domain,
    stratum) groups are then read as runs. The same domains and groups as the general
    (hashing) grouping, which numbers them in sorted order."""
    from baode_eval.simulate import simulate

    monkeypatch.setattr(survey, "LAYOUT_TILE", 2)  # 4 sites: two tiles
    data = simulate(seed=2, mode="survey").data
    if rows == "years":
        data = _year_by_year(data)
    design = survey.Design(weights="weight", strata="stratum", psu="psu")
    s = survey.sufficient_statistics(data, kernel.Compiled(fw.load()), design=design, by=by)
    assert s.extra["sorted"]
    keys = [s.cells[c].cat.codes.to_numpy() for c in by] + [s.cells[c].to_numpy() for c in ("_stratum", "_psu")]
    lexicographic = bool((np.diff(np.lexsort(keys[::-1])) == 1).all())
    assert lexicographic == (rows == "households" or by == ("year",))
    dom, domains = survey._domain_ids(s)
    runs = survey._domain_strata(s, dom)
    plain = survey.Summary(s.by, s.names, s.cells, s.strata, s.design, s.rows_are_psus, s.n_psu_total,
                           s.n_strata, extra={})
    dom2, domains2 = survey._domain_ids(plain)
    hashed = survey._domain_strata(plain, dom2)
    np.testing.assert_array_equal(dom, dom2)
    pd.testing.assert_frame_equal(domains, domains2)
    assert runs[4] == hashed[4] >= len(domains)
    if by == ("year",):
        assert runs[4] > len(domains)  # several strata per domain
    # the same (domain, stratum) groups, numbered in cell order rather than sorted order
    first = np.unique(runs[0], return_index=True)[1]
    remap = np.empty(runs[4], np.int64)
    remap[runs[0][first]] = hashed[0][first]
    np.testing.assert_array_equal(remap[runs[0]], hashed[0])
    for a, b in zip(runs[1:4], hashed[1:4]):
        np.testing.assert_array_equal(b[remap], a)
    np.testing.assert_array_equal(np.sort(remap), np.arange(runs[4]))


@pytest.mark.parametrize("tile", [2, 64])
def test_cells_laid_out_year_by_year_give_the_same_scorecard(tile, monkeypatch):
    """Rows that come year by year are summed into cells laid out (site // tile, year, site,
    stratum, PSU): the scorecard and its changes (PSUs merged across years) are the same as
    from the rows household by household, with either engine, and the domains stay in (site,
    year) order."""
    from baode_eval.simulate import simulate

    monkeypatch.setattr(survey, "LAYOUT_TILE", tile)
    data = simulate(seed=5, mode="survey").data
    lone = data["psu"] == data["psu"].iloc[0]
    data.loc[lone, "stratum"] = "lone"  # a stratum with one PSU
    ydata = _year_by_year(data)
    codes = [survey._codes(ydata[c], True)[0] for c in ("site", "year")]
    assert survey._layout(codes, True) is not None  # the tiled layout is the one tested
    assert survey._layout([survey._codes(data[c], True)[0] for c in ("site", "year")], True) is None
    ref = scorecard.build(data, lang="en")
    ch_ref = ref.changes()
    assert len(ch_ref) and (ch_ref["std_error"] > 0).any()
    for engine, rows in [("numba", ydata), ("pandas", ydata), ("numba", data)]:
        card = scorecard.build(rows, lang="en", engine=engine)
        pd.testing.assert_frame_equal(ref.tidy(), card.tidy(), check_exact=False, rtol=1e-9)
        pd.testing.assert_frame_equal(ch_ref, card.changes(), check_exact=False, rtol=1e-9, atol=1e-12)
    tidy = ref.tidy()
    assert tidy[["site", "year"]].drop_duplicates().apply(tuple, axis=1).is_monotonic_increasing


def test_layout_puts_the_least_changing_key_second_in_tiles(monkeypatch):
    """Three ``by`` keys with the slow one (year) in the middle, missing site values, rows year
    by year: the cells are grouped by domain in the tiled order, and the numba engine's
    estimates equal the numpy engine's on the same rows and on the rows in another order."""
    monkeypatch.setattr(survey, "LAYOUT_TILE", 2)
    data = _frame(3000, seed=4)
    data["band"] = pd.Categorical(np.where(data["b"] > 1, "high", "low"))
    data = data.sort_values("year", kind="stable").reset_index(drop=True)
    fwk = _framework([("a", "1"), ("c", "1"), ("b", "a + 2")])
    design = survey.Design(weights="weight", strata="stratum", psu="psu")
    by = ("site", "year", "band")
    s = survey.sufficient_statistics(data, kernel.Compiled(fwk), design=design, by=by)
    site, year = s.cells["site"].cat.codes.to_numpy(), s.cells["year"].cat.codes.to_numpy()
    tile = site // 2
    assert (np.diff(tile) >= 0).all() and (np.diff(year) < 0).any()  # tiles first, then years
    within = np.diff(tile) == 0
    assert (np.diff(year)[within] >= 0).all()
    shuffled = data.sample(frac=1, random_state=1).reset_index(drop=True)
    kinds = {i.id: i.kind for i in fwk.indicators}
    got = survey.finalise(s, kinds)
    for rows, ratios in [(data, lambda b: fw.row_values(b, fwk)), (shuffled, lambda b: fw.row_values(b, fwk)),
                         (shuffled, kernel.Compiled(fwk))]:
        ref = survey.finalise(survey.sufficient_statistics(rows, ratios, design=design, by=by), kinds)
        pd.testing.assert_frame_equal(ref, got, check_exact=False, rtol=1e-9)


def test_phase2_switches_numpy_huge_page_advice_off_and_back(monkeypatch):
    """from_summary runs with numpy's huge-page advice off (baode_eval._memory) and restores the
    caller's setting afterwards, also when it raises."""
    from baode_eval import _memory

    if _memory._SET is None:
        pytest.skip("this numpy has no huge-page switch")
    seen = []
    real = survey.finalise_into

    def spy(*a, **k):
        seen.append(_memory._SET(False))  # reads (and keeps) the setting in force
        return real(*a, **k)

    monkeypatch.setattr(survey, "finalise_into", spy)
    previous = _memory._SET(True)
    try:
        from baode_eval.simulate import simulate

        scorecard.build(simulate(seed=5, mode="survey").data, lang="en", engine="numba")
        assert seen and not any(seen) and _memory._SET(True) is True
        with pytest.raises(ZeroDivisionError):
            with _memory.huge_pages(False):
                1 / 0
        assert _memory._SET(True) is True
    finally:
        _memory._SET(previous)


@pytest.mark.parametrize("kind", ["proportion", "mean"])
def test_compiled_verdicts_at_every_boundary_like_numpy(kind):
    """The compiled pass decides a verdict from the two-sided interval when the target lies
    outside it and computes the one-sided bounds only otherwise. Targets placed at, between and
    just beside every bound of every domain give the same verdicts as the numpy rule."""
    from baode_eval.simulate import simulate

    data = simulate(seed=5, mode="survey").data
    fwk = _framework([("c", "1")] if kind == "proportion" else [("b", "d")])
    data = data.assign(b=np.arange(len(data)) % 5, c=np.arange(len(data)) % 3 == 0, d=1.0)
    design = survey.Design(weights="weight", strata="stratum", psu="psu")
    summary = survey.sufficient_statistics(data, kernel.Compiled(fwk), design=design, by=("site", "year"))
    assert survey.fused(summary)
    dom, domains = survey._domain_ids(summary)
    name = fwk.indicators[0].id
    summary.extra["jit"] = False  # the reference intervals from numpy
    arrays, _ = survey.finalise_one(summary, name, kind, dom, domains, level=0.95)
    summary.extra["jit"] = True
    est, se, n = arrays["estimate"], arrays["std_error"], arrays["n"]
    lo, hi = arrays["ci_low"], arrays["ci_high"]
    l1, h1 = scorecard.one_sided_bounds(est, se, n, kind=kind, level=0.95, df=summary.df, census=False)
    assert (l1 > lo).any() and (h1 < hi).any()
    m = len(est)
    checked = set()
    for direction in (">=", "<="):
        for where in (lo, (lo + l1) / 2, l1, est, h1, (h1 + hi) / 2, hi):
            for shift in (-1e-9, -1e-13, 0.0, 1e-13, 1e-9):
                target = where + shift
                ref = scorecard.verdict_codes(est, l1, h1, target, direction)
                out = {k: np.empty(m) for k in ("estimate", "std_error", "ci_low", "ci_high")}
                out["n"], out["verdict"] = np.empty(m, np.int64), np.empty(m, np.int8)
                survey.finalise_into(summary, name, kind, dom, out, level=0.95, target=target, direction=direction)
                np.testing.assert_array_equal(out["verdict"], ref)
                checked |= set(np.unique(ref).tolist())
    assert checked == {0, 1, 2}
