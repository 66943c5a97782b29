"""Design-based estimates (means, proportions, totals, ratios) with Taylor-linearised errors.

The conventions are those of Stata ``svy`` and R ``survey`` (Binder 1983; Wolter 2007, ch. 6;
Lumley 2010, ch. 2-3), written out in docs/indicators.md:

* **Variance**: with-replacement (ultimate-cluster) estimator across PSUs within strata,
  ``v = sum_h (1 - f_h) n_h/(n_h - 1) sum_i (z_hi - zbar_h)^2`` where ``z_hi`` is the PSU total of
  the linearised values ``w (y - R x) / X``. Without ``psu`` every row is its own PSU.
* **fpc**: per stratum, constant within the stratum. A value above 1 is the population count
  of PSUs in the stratum (``f_h = n_h / N_h``); a value in [0, 1] is the sampling fraction
  ``f_h`` itself (R ``survey`` accepts both forms the same way).
* **Domains** (``by``): estimated with the full design. Rows outside a domain keep their place in
  the design with linearised value zero; the PSU count ``n_h`` is that of the whole stratum.
  Never subset and then estimate.
* **Singleton strata** (one PSU): ``lonely_psu="adjust"`` (default; R ``survey.lonely.psu =
  "adjust"``) centres the lone PSU at the mean PSU total of the whole design, a conservative
  choice; ``"certainty"`` treats it as sampled with certainty (contributes zero);
  ``"fail"`` raises.
* **Intervals**: Student t with the design degrees of freedom (PSUs minus strata of the whole
  design, as Stata). Proportions use the logit interval (Stata ``svy: proportion``, R
  ``svyciprop(method="logit")``); where the sample proportion is exactly 0 or 1 the linearised
  SE is 0 and the Wilson interval on the unweighted count ``n`` is used instead (design effect
  taken as 1, since it cannot be estimated), so a sample never "proves" 100 %.
* **Census mode** (no ``weights``): exact rates over all rows, ``std_error = 0`` and
  ``ci_low = ci_high = estimate``. ``superpopulation=True`` treats the census as one draw
  (simple random sampling with replacement, or the given strata/PSUs) and gives intervals.
* **Missing values**: a row whose ``y`` (or denominator) is missing is left out of that
  estimate only; it stays in the design.

Estimation runs in two phases so that it scales (docs/ARCHITECTURE.md): :func:`sufficient_statistics`
reduces rows to plain sums per (domain, stratum, PSU) in one pass -- the same numbers a
``GROUP BY`` in DuckDB, Dask or Spark would give -- and :func:`finalise` computes ratios,
variances and intervals on that small table without seeing a row again.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
import functools
import os
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy import special, stats

from ._memory import RETAINED
from .errors import DataError, ParameterError
from .options import KINDS, LONELY_PSU, check_level, check_option

RESULT_COLUMNS = ("estimate", "std_error", "ci_low", "ci_high", "n")


@dataclass(frozen=True)
class Design:
    """Column names of the sampling design; ``weights=None`` means census mode."""

    weights: str | None = None
    strata: str | None = None
    psu: str | None = None
    fpc: str | None = None
    lonely_psu: str = "adjust"
    superpopulation: bool = False

    def __post_init__(self):
        check_option("lonely_psu", self.lonely_psu, LONELY_PSU)

    @property
    def census(self) -> bool:
        return self.weights is None

    @property
    def needs_variance(self) -> bool:
        return not self.census or self.superpopulation

    def columns(self) -> list[str]:
        return [c for c in (self.weights, self.strata, self.psu, self.fpc) if c]


@dataclass
class Summary:
    """Phase-1 output: plain sums per (domain, stratum, PSU) cell, and the design per stratum.

    ``cells`` has the ``by`` columns, ``_stratum`` and ``_psu`` (integer codes; ``_psu`` is -1
    when every row is its own PSU), and per ratio ``name``: ``y:name`` = sum of w*y,
    ``x:name`` = sum of w*x, ``n:name`` = rows with a non-zero denominator; when rows are PSUs
    also ``yy:name``, ``xy:name``, ``xx:name`` (sums of squares and products of w*y and w*x).
    ``strata`` has ``_stratum``, ``n_psu`` (PSUs in the whole stratum) and ``f`` (sampling
    fraction, 0 without fpc). ``extra["sorted"]``: every domain's cells are together, sorted by
    (stratum, PSU) within it, so phase 2 reads domains and (domain, stratum) groups as runs; the
    domains follow each other in the order of the ``by`` codes, or in the tiled order phase 1
    chooses to follow the rows (see ``_layout``).
    """

    by: tuple[str, ...]
    names: tuple[str, ...]
    cells: pd.DataFrame
    strata: pd.DataFrame
    design: Design
    rows_are_psus: bool
    n_psu_total: int
    n_strata: int
    extra: dict = field(default_factory=dict)

    @property
    def df(self) -> float:
        """Design degrees of freedom: PSUs minus strata of the whole design (at least 1)."""
        return float(max(self.n_psu_total - self.n_strata, 1))


# --------------------------------------------------------------------------------------------
# phase 1: one pass to plain sums


PARALLEL_MIN = 100_000  # rows (phase 1) or cells (phase 2) from which the numba engine uses threads
_DENSE_LIMIT = 1 << 24  # largest lookup table (entries) used instead of hashing to number keys


def _index_dtype(n: int):
    """Integer type for codes and group ids of ``n`` rows (int32: half the memory to touch)."""
    return np.int32 if n < 2**31 - 1 else np.int64


def _dense(values: np.ndarray, lo: int, span: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes 0..k-1 of ints ``values`` (lo <= v < lo + span) in sorted order, and the used values."""
    present = np.zeros(span, bool)
    off = values.astype(np.int64) - lo
    present[off] = True
    lut = np.cumsum(present, dtype=np.int64) - 1
    return lut[off], np.flatnonzero(present) + lo


def _determined(gid: np.ndarray, ngroups: int, code: np.ndarray) -> np.ndarray:
    """code + 1 of each group if ``code`` is constant within every group, else an empty array."""
    shifted = code.astype(np.int64) + 1
    val = np.full(ngroups, -1, np.int64)
    val[gid] = shifted
    return val if np.array_equal(val[gid], shifted) else np.empty(0, np.int64)


def _combine(gid, code, radix, span) -> tuple[np.ndarray, np.ndarray]:
    """Dense ids of (gid, code + 1) in sorted order, and the used values ``g * radix + code + 1``."""
    return _dense(gid.astype(np.int64) * radix + code + 1, 0, span)


def _numpy_ops():
    return SimpleNamespace(dense=_dense, determined=_determined, combine=_combine, relabel=lambda gid, rank: rank[gid])


class _Key:
    """A key column for the Numba grouping steps: the code of row r is ``lut[values[r] - lo]``
    (-1 = missing). Integer columns keep their own values and a lookup table, so no row-sized
    array of codes is made; categoricals (and hashed columns) are their codes (``lo=-1``).

    An integer column's table may be left to be made (``lut=None``, offsets ``0 .. span - 1``):
    by :meth:`lookup`, a pass over the values, or by the fused numbering, which finds which
    values occur on its own way (:func:`_fused_group_ids`). ``used`` then holds them, sorted."""

    __slots__ = ("values", "lo", "lut", "nullable", "span", "used")

    def __init__(self, values, lo, lut, nullable, span=None, used=None):
        self.values, self.lo, self.lut, self.nullable = values, int(lo), lut, nullable
        self.span = len(lut) if lut is not None else int(span)
        self.used = used

    @classmethod
    def of_codes(cls, codes, card):
        return cls(codes, -1, np.arange(-1, card, dtype=np.int64), True)

    def lookup(self) -> "_Key":
        """Make the lookup table now if it was left to be made."""
        if self.lut is None:
            from . import _jit

            self.lut, self.used = _jit.key_lookup(self.values, self.lo, self.span)
        return self

    def present(self, present: np.ndarray) -> None:
        """The lookup table from which offsets occur (``present``, one flag per offset)."""
        self.lut = np.cumsum(present, dtype=np.int64) - present  # values before: as _jit.key_lookup
        self.used = np.flatnonzero(present) + self.lo

    def codes(self) -> np.ndarray:
        """The row-sized codes (only where needed: an fpc, hashing very many combinations)."""
        return self.lookup().lut[self.values.astype(np.int64) - self.lo]

    def has_missing(self) -> bool:
        return self.nullable and len(self.values) > 0 and int(self.values.min()) < 0

    def __len__(self):
        return len(self.values)


def _jit_ops():
    """The same steps as :func:`_numpy_ops` as Numba loops (:mod:`baode_eval._jit`) on
    :class:`_Key` columns: no row-sized temporaries but the group ids (int32)."""
    from . import _jit

    def key(k):
        return k.lookup() if isinstance(k, _Key) else _Key.of_codes(np.asarray(k), int(np.max(k, initial=-1)) + 1)

    def dense(k, lo, span):
        k = key(k)
        gid = np.empty(len(k), _index_dtype(len(k)))
        return gid, _jit.dense_key(k.values, k.lo, k.lut, span, gid)

    def determined(gid, ngroups, k):
        k = key(k)
        return _jit.determined_key(gid, ngroups, k.values, k.lo, k.lut)

    def combine(gid, k, radix, span):
        k = key(k)
        return gid, _jit.combine_key(gid, k.values, k.lo, k.lut, radix, span)  # gid renumbered in place

    def relabel(gid, rank):
        _jit.relabel(gid, rank)
        return gid

    return SimpleNamespace(key=key, dense=dense, determined=determined, combine=combine, relabel=relabel)


def _codes(values, jit: bool = False, lazy: bool = False) -> tuple[np.ndarray | _Key, pd.Index | None]:
    """Integer codes (sorted uniques; -1 for missing) and the uniques of one key column
    (``jit``: a :class:`_Key` for the Numba grouping instead of the codes; ``lazy``: an integer
    column's lookup table left to be made, and None for its uniques, until it is numbered)."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.array.codes  # a read-only view (``s.cat.codes`` copies: 15 ms at national size)
        cats = s.dtype.categories  # the dtype's own Index (sufficient_statistics reuses the dtype)
        return (_Key.of_codes(codes, len(cats)) if jit else codes.astype(np.int64)), cats
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "iu" and len(s):
        arr = s.to_numpy()
        lo, hi = int(arr.min()), int(arr.max())
        if hi - lo < max(2 * len(arr), _DENSE_LIMIT):  # a lookup table: no hashing, no sorting
            if jit:
                key = _Key(arr, lo, None, False, span=hi - lo + 1)
                return (key, None) if lazy else (key, _uniques(key.lookup(), arr.dtype))
            codes, used = _numpy_ops().dense(arr, lo, hi - lo + 1)
            return codes, pd.Index(used.astype(arr.dtype))
    codes, uniques = pd.factorize(s, sort=True)
    codes = codes.astype(np.int64, copy=False)
    return (_Key.of_codes(codes, len(uniques)) if jit else codes), pd.Index(uniques)


def _lexsort(columns: list[np.ndarray]) -> np.ndarray:
    """The order of rows sorted by ``columns`` (most significant first), ties in row order: as
    ``np.lexsort(columns[::-1])``, but one stable argsort of a mixed-radix code when it fits in
    63 bits (15 ms against 36 ms for five columns of 980,000 cells)."""
    if not columns or not len(columns[0]):
        return np.lexsort(columns[::-1]) if columns else np.zeros(0, np.int64)
    low = [int(c.min()) for c in columns]
    radix = [int(c.max()) - lo + 1 for c, lo in zip(columns, low)]
    if float(np.prod(np.array(radix, np.float64))) >= 2.0 ** 62:
        return np.lexsort(columns[::-1])
    code = np.zeros(len(columns[0]), np.int64)
    for c, lo, r in zip(columns, low, radix):
        code *= r
        code += c
        code -= lo
    return np.argsort(code, kind="stable")


def _uniques(key: _Key, dtype) -> pd.Index:
    """The values of an integer key that occur, sorted, once its lookup table is made."""
    return pd.Index(key.used.astype(dtype))


def _group_ids(code_list: list[np.ndarray], cards: list[int], n: int, jit: bool = False, on_count=None,
               sort_columns=None, counts: list | None = None, threads: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Dense group ids for combinations of codes (-1 allowed) and the decoded codes per group.

    Returns ``(gid, parts)`` with ``parts`` of shape (groups, keys) holding each key's code;
    groups are numbered in the lexicographic order of their codes. Keys are combined from the
    one with most values down; a key that the keys combined so far already determine (a site
    given its PSU, a stratum given its PSU) is only looked up per group, not combined, and
    combinations are numbered with lookup tables rather than hashing where they fit. ``jit``:
    each step as a Numba loop (same result). ``on_count(groups)`` is called as soon as the number
    of groups is known, before they are put in order. ``sort_columns(parts)``: the columns to
    number the groups by instead (most significant first; ``parts`` hold codes + 1).

    With ``jit`` and two keys or more, the common case -- every key but at most one determined
    by the key with most values, as a site and a stratum by the PSU, the year not -- is numbered
    in two passes over the rows, split between ``threads`` (:func:`_fused_group_ids`); the rows
    per group then come along, appended to ``counts`` if it is a list. Same result.
    """
    if not code_list:
        if on_count is not None:
            on_count(1)
        return np.zeros(n, np.int64), np.zeros((1, 0), np.int64)
    ops = _jit_ops() if jit else _numpy_ops()
    k = len(code_list)
    if jit and k > 1:  # keys with most values first (a table yet to be made: by its span)
        keys = [c if isinstance(c, _Key) else ops.key(c) for c in code_list]
        guess = [c.span - 1 if card is None else int(card) for c, card in zip(keys, cards)]
        fused = _fused_group_ids(keys, sorted(range(k), key=lambda j: -guess[j]), n, on_count, sort_columns,
                                 threads)
        if fused is not None:
            if counts is not None:
                counts.append(fused[2])
            return fused[0], fused[1]
    cards = [len(c.lookup().used) if card is None else card for c, card in zip(code_list, cards)]
    radix = [int(c) + 1 for c in cards]
    order = sorted(range(k), key=lambda j: -radix[j])
    first = order[0]
    gid, used = ops.dense(code_list[first], -1, radix[first])
    parts = np.full((len(used), k), -1, np.int64)
    parts[:, first] = used + 1  # parts hold codes + 1 (missing = 0) until the end
    for j in order[1:]:
        ngroups = len(parts)
        val = ops.determined(gid, ngroups, code_list[j])
        if len(val):  # determined by the groups so far
            parts[:, j] = val
            continue
        span = ngroups * radix[j]
        if span >= 2**62:  # keep the mixed-radix code inside int64
            raise ParameterError("too many distinct combinations of by/strata/psu values to group")
        if span <= max(2 * n, _DENSE_LIMIT):
            gid, used = ops.combine(gid, code_list[j], radix[j], span)
        else:
            code = code_list[j].codes() if isinstance(code_list[j], _Key) else code_list[j]
            gid, used = pd.factorize(gid.astype(np.int64) * radix[j] + (code.astype(np.int64) + 1), sort=True)
            gid, used = gid.astype(np.int64, copy=False), np.asarray(used, np.int64)
        parts = parts[used // radix[j]]
        parts[:, j] = used % radix[j]
    if on_count is not None:
        on_count(len(parts))
    if len(order) > 1:  # number the groups in lexicographic order of the codes
        perm = _lexsort(sort_columns(parts) if sort_columns else list(parts.T))
        if not np.array_equal(perm, np.arange(len(perm))):
            rank = np.empty_like(perm)
            rank[perm] = np.arange(len(perm))
            gid, parts = ops.relabel(gid, rank), np.take(parts, perm, axis=0)
    return gid, parts - 1


def _row_threads(n: int, threads: int | None = None) -> int:
    """Threads for a Numba pass over ``n`` rows (one below ``PARALLEL_MIN`` rows unless given)."""
    if threads is None:
        threads = (os.cpu_count() or 1) if n >= PARALLEL_MIN else 1
    return max(1, min(int(threads), 8, max(n, 1)))


def _in_threads(fn, nthreads: int) -> list:
    """``[fn(0), ..., fn(nthreads - 1)]``, side by side (Numba's loops release the GIL)."""
    if nthreads == 1:
        return [fn(0)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=nthreads) as pool:
        return list(pool.map(fn, range(nthreads)))


def _fused_group_ids(keys: list, order: list[int], n: int, on_count, sort_columns, threads: int | None):
    """:func:`_group_ids` in two passes over the rows when every key but at most one is
    determined by the first (the one with most values), else None (nothing is changed).

    Pass 1 (generated by :func:`baode_eval._jit.scan_source`) notes, for each value of the first
    key, the value of every other key first seen with it and whether another came later, and which
    (first key, other key) combinations occur where their table fits; pass 2 writes the group ids, in the
    final order, and counts the rows. Both work on offsets ``value - lo`` and read no lookup
    table per row: the tables map offsets to codes in the same order, so groups sorted by
    offsets are sorted by codes; a table still to be made is made from the notes (which values
    occur). Each thread takes a block of rows; their notes are merged (a key two threads saw
    with different values is not determined), so the result does not depend on the threads.
    Returns ``(gid, parts, rows per group)`` as :func:`_group_ids`."""
    from . import _jit

    first, rest = order[0], order[1:]
    k0 = keys[first]
    r0 = k0.span  # offsets 0 .. r0 - 1
    limit = max(2 * n, _DENSE_LIMIT)
    nthreads = _row_threads(n, threads)
    if r0 * len(rest) * nthreads > max(n, 1 << 20):  # the notes would outgrow the rows
        return None
    spans = [keys[j].span for j in rest]
    recorded, size = [], 0  # combination tables that fit, in the order of the keys
    for span in spans:
        recorded.append(size + r0 * span <= limit)
        size += r0 * span if recorded[-1] else 0
    bounds = np.linspace(0, n, nthreads + 1).astype(np.int64)

    from .kernel import _load

    scan_keys = _load(_jit.scan_source(len(rest))).scan

    def scan(t):
        others = [(keys[j].values, keys[j].lo, np.full(r0, -1, np.int32), np.zeros(1, np.bool_),
                   np.zeros(r0 * span if rec else 0, np.bool_), span if rec else 0)
                  for j, span, rec in zip(rest, spans, recorded)]
        pres0 = np.zeros(r0, np.bool_)
        scan_keys(k0.values, k0.lo, pres0, int(bounds[t]), int(bounds[t + 1]), *(a for o in others for a in o))
        return (np.stack([o[2] for o in others]), np.array([o[3][0] for o in others]), pres0,
                [o[4] for o in others])

    notes = _in_threads(scan, nthreads)
    seen, conflict, pres0, pres = notes[0]
    for other_seen, other_conflict, other_pres0, other_pres in notes[1:]:
        conflict |= other_conflict | ((seen >= 0) & (other_seen >= 0) & (seen != other_seen)).any(axis=1)
        seen = np.where(seen >= 0, seen, other_seen)
        pres0 |= other_pres0
        for p, q in zip(pres, other_pres):
            p |= q
    free = [int(i) for i in np.flatnonzero(conflict)]
    if len(free) > 1 or (free and not recorded[free[0]]):
        return None
    span1 = spans[free[0]] if free else 1
    used = np.flatnonzero(pres[free[0]] if free else pres0)
    o0 = used // span1
    if k0.lut is None:  # lookup tables still to be made: from which offsets occur
        k0.present(pres0)
    for i, j in enumerate(rest):
        if keys[j].lut is None:
            present = np.zeros(spans[i], np.bool_)
            present[used % span1 if free and i == free[0] else seen[i, np.flatnonzero(pres0)]] = True
            keys[j].present(present)
    # codes + 1, as in _group_ids; this, the ids and the sorted parts on memory kept from the run
    # before when there is some (_memory.Retained: a fresh page is a fault, 0.6-0.9 ms per MB)
    parts = RETAINED.empty((len(used), len(keys)), np.int64)
    parts[:, first] = k0.lut[o0] + 1
    for i, j in enumerate(rest):
        parts[:, j] = keys[j].lut[used % span1 if free and i == free[0] else seen[i, o0]] + 1
    if on_count is not None:
        on_count(len(parts))
    idx = _index_dtype(n)
    rank = np.arange(len(used), dtype=idx)
    spec = sort_columns.spec(parts.shape[1]) if hasattr(sort_columns, "spec") else (
        None if sort_columns else [(j, 0) for j in range(parts.shape[1])])
    code, ok = (_jit.sort_code(parts, np.array([j for j, _ in spec], np.int64), np.array([d for _, d in spec], np.int64))
                if spec is not None else (None, False))
    perm = np.argsort(code, kind="stable") if ok else _lexsort(sort_columns(parts) if sort_columns else list(parts.T))
    if not np.array_equal(perm, rank):
        rank[perm] = np.arange(len(perm), dtype=idx)
        # 7 ms against 28 ms for parts[perm] (980,000 x 4); perm is a permutation: no bounds to buffer
        parts = np.take(parts, perm, axis=0, out=RETAINED.empty(parts.shape, parts.dtype), mode="wrap")
    final = np.zeros(r0 * span1, idx)
    final[used] = rank
    gid = RETAINED.empty(n, idx)

    def assign(t):
        cnt = np.zeros(len(parts), np.int64)
        a, b = int(bounds[t]), int(bounds[t + 1])
        if free:
            k1 = keys[rest[free[0]]]
            _jit.assign_two(k0.values, k0.lo, k1.values, k1.lo, span1, final, a, b, gid, cnt)
        else:
            _jit.assign_one(k0.values, k0.lo, final, a, b, gid, cnt)
        return cnt

    counts = _in_threads(assign, nthreads)
    for c in counts[1:]:
        counts[0] += c
    parts -= 1  # in place: no other array of this size
    return gid, parts, counts[0]


def _row_changes(key, jit: bool) -> int:
    """How many rows hold another value of ``key`` (a code array or :class:`_Key`) than the row
    before: how fast the key varies along the rows."""
    values = key.values if isinstance(key, _Key) else np.asarray(key)
    if jit:
        from ._jit import changes

        return int(changes(values))
    step, n = _SLICE, len(values)  # slices overlapping by one row: no row-sized temporary
    return sum(int(np.count_nonzero(values[i + 1:min(i + step + 1, n)] != values[i:min(i + step, n - 1)]))
               for i in range(0, max(n - 1, 0), step))


_SLICE = 1 << 20  # rows per slice when counting changes with numpy
LAYOUT_TILE = 64  # values of the first by key per tile when another key varies slower along the rows


def _layout(keys: list, jit: bool, changes: list[int] | None = None):
    """How the cells of these ``by`` keys are laid out: None for the lexicographic order of the
    keys, or ``parts -> sort columns`` (most significant first) for :func:`_group_ids`.

    When rows come year by year (every site of 2018, then of 2019, ...) and ``by`` is (site,
    year), cells sorted by (site, year) put a site's years side by side: every year's pass over
    the rows brings every cache line of the table (365 MB at national size) in again, for a
    quarter of its bytes. The key that changes least along the rows is then put second in a
    tiled order -- (site // 64, year, site, ...) -- so the cells a stretch of rows adds into are
    neighbours in memory, and a domain's neighbours in (site, year) order are at most a tile (64
    sites x the years) away, which keeps phase 2's writes in cache. Every domain's cells stay together whatever
    the layout; phase 2 reads domains in cell order and writes them in domain order.
    ``changes``: the keys' :func:`_row_changes`, if already counted."""
    if len(keys) < 2:
        return None
    counts = changes if changes is not None else [_row_changes(k, jit) for k in keys]
    slow = min(range(len(keys)), key=lambda j: counts[j])  # the first of the least changing
    if slow == 0:
        return None

    def spec(k):  # the sort columns of k parts as (part, divisor): (part - 1) // divisor, or the
        # part itself where 0 -- what sort_columns makes, read as such by _jit.sort_code
        return [(0, LAYOUT_TILE), (slow, 0), *((j, 0) for j in range(k) if j != slow)]

    def sort_columns(parts):  # parts hold codes + 1 (missing = 0: tile -1)
        return [(parts[:, j] - 1) // d if d else parts[:, j] for j, d in spec(parts.shape[1])]

    sort_columns.spec = spec
    return sort_columns


def _any_missing(codes) -> bool:
    return codes.has_missing() if isinstance(codes, _Key) else bool(len(codes)) and int(codes.min()) < 0


def _cell_sums(data: pd.DataFrame, ratios, design: Design, by: tuple, chunk_rows: int | None) -> dict:
    """The one pass of phase 1: plain sums per (by..., stratum, PSU) cell, out-of-domain cells
    included (they count in the design), keys as integer codes into ``uniques``."""
    nrow = len(data)
    jit = hasattr(ratios, "cell_sums")  # the compiled kernel: number the groups with Numba too
    rows_are_psus = design.psu is None
    second = rows_are_psus and design.needs_variance
    if jit and nrow >= PARALLEL_MIN:
        # Numba's loops release the GIL: while this thread numbers the cells, a helper prepares the
        # kernel (column checks, the compiled module) and then faults in its tables
        from concurrent.futures import ThreadPoolExecutor

        from ._memory import Faults

        with ThreadPoolExecutor(max_workers=1) as helper:
            prepared = helper.submit(ratios.prepare, data, weighted=design.weights is not None, second=second)
            w = helper.submit(_weights, data, design)  # checked beside the numbering; read by the kernel
            jobs = []

            def on_count(n):  # the cell table: made now, faulted in by the helper, then by both
                tables, dirty = prepared.result().cell_tables(n)
                faults = Faults(tables, dirty=dirty)
                jobs.append((tables, faults, helper.submit(faults.work)))

            def run(**kw):
                tables, faults, job = jobs[0]
                faults.work()
                job.result()
                return ratios.run(prepared.result(), tables=tables, **{**kw, "weights": w.result()})

            return _cell_sums_numbered(data, ratios, design, by, chunk_rows, w, jit, second, on_count=on_count,
                                       run=run)
    return _cell_sums_numbered(data, ratios, design, by, chunk_rows, _weights(data, design), jit, second)


def _cell_sums_numbered(data, ratios, design, by, chunk_rows, w, jit, second, on_count=None, run=None) -> dict:
    """:func:`_cell_sums` once the weights ``w`` are read: number the cells, then sum. ``on_count``
    hears the number of cells as soon as it is known; ``run(**kw)`` replaces the compiled
    kernel's ``cell_sums`` (the kernel prepared in a helper thread; it reads the weights
    itself, ``w`` is then a future)."""
    nrow = len(data)
    rows_are_psus = design.psu is None
    key_cols = [*by, *([design.strata] if design.strata else []), *([design.psu] if design.psu else [])]
    if jit and len(key_cols) > 1 and nrow >= PARALLEL_MIN:  # Numba's loops release the GIL: columns side by side
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(len(key_cols), os.cpu_count() or 1)) as pool:
            def code(col):  # with, for a by key, how fast it varies along the rows (_layout)
                key, u = _codes(data[col], True, lazy=True)
                return key, u, (_row_changes(key, True) if col in by else None)

            made = dict(zip(key_cols, pool.map(code, key_cols)))
        coded = {c: m[:2] for c, m in made.items()}
        changes = [made[c][2] for c in by]
    else:
        coded = {c: _codes(data[c], jit, lazy=jit) for c in key_cols}
        changes = None

    def card(u):  # None: an integer key's values are counted when it is numbered
        return None if u is None else len(u)

    keys, cards, uniques = [], [], []
    for col in by:
        c, u = coded[col]
        keys.append(c), cards.append(card(u)), uniques.append(u)
    nb = len(by)
    strata_codes, strata_uniques, psu_uniques = None, None, None
    if design.strata:
        strata_codes, strata_uniques = coded[design.strata]
        if _any_missing(strata_codes):
            raise DataError("missing values in the strata column", column=design.strata)
        keys.append(strata_codes), cards.append(card(strata_uniques))
        if isinstance(strata_codes, _Key):  # row codes are only read with an fpc
            strata_codes = strata_codes.codes() if design.fpc else None
    if not rows_are_psus:
        pc, psu_uniques = coded[design.psu]
        if _any_missing(pc):
            raise DataError("missing values in the psu column", column=design.psu)
        keys.append(pc), cards.append(card(psu_uniques))
    # every domain's cells are neighbours, sorted by (stratum, PSU); domains in the order of
    # their by codes or in a tiled order that follows the rows (_layout)
    rows = []
    gid, parts = _group_ids(keys, cards, nrow, jit, on_count, _layout(keys[:nb], jit, changes), counts=rows)

    def known(u, col):  # the uniques of a key numbered with its lookup table still to make
        return u if u is not None else _uniques(coded[col][0].lookup(), data[col].dtype)

    uniques = [known(u, col) for u, col in zip(uniques, by)]
    if design.strata:
        strata_uniques = known(strata_uniques, design.strata)
    if not rows_are_psus:
        psu_uniques = known(psu_uniques, design.psu)
    ngroups = len(parts)
    cells = {}
    for j, col in enumerate(by):
        cells[col] = parts[:, j]
    cells["_stratum"] = parts[:, nb] if design.strata else np.zeros(ngroups, np.int64)
    cells["_psu"] = parts[:, -1] if not rows_are_psus else np.full(ngroups, -1, np.int64)
    in_domain = None  # None: every row is in a domain (no by value missing)
    for c in keys[:nb]:
        if _any_missing(c):
            ok = (c.values if isinstance(c, _Key) else c) >= 0  # a nullable key's values are codes
            in_domain = ok if in_domain is None else in_domain & ok
    if rows:  # counted while numbering
        cells["_rows"] = rows[0]
    elif jit:
        from ._jit import count

        cells["_rows"] = count(gid, ngroups)
    else:
        cells["_rows"] = np.bincount(gid, minlength=ngroups).astype(np.int64)
    if jit:  # compiled kernel (baode_eval.kernel.Compiled): one pass
        kw = dict(gid=gid, in_domain=in_domain, weights=w, ngroups=ngroups)
        cells.update(run(**kw) if run is not None else ratios.cell_sums(data, second=second, **kw))
        return dict(cells=pd.DataFrame(cells, copy=False), uniques=uniques, strata_codes=strata_codes,
                    strata_uniques=strata_uniques, psu_uniques=psu_uniques, names=tuple(ratios.names),
                    rows_are_psus=rows_are_psus, gid=gid, all_in_domain=in_domain is None)
    step = nrow if not chunk_rows or not callable(ratios) else max(int(chunk_rows), 1)
    names = None
    for start in range(0, max(nrow, 1), max(step, 1)):
        stop = min(start + step, nrow)
        sl = slice(start, stop)
        if callable(ratios):
            block = ratios(data.iloc[sl] if step < nrow else data)
        else:
            block = ratios
        if names is None:
            names = tuple(block)
            for name in names:
                for pre in ("y", "x", "n") + (("yy", "xy", "xx") if second else ()):
                    cells[f"{pre}:{name}"] = np.zeros(ngroups)
        g = gid[sl]
        dom_sl = True if in_domain is None else in_domain[sl]
        w_sl = None if w is None else w[sl]
        m = stop - start
        for name in names:
            num, den = block[name]
            num = _as_float(num, m)
            den = _as_float(den, m)
            ok = dom_sl & ~np.isnan(num) & ~np.isnan(den)
            wy = np.where(ok, num, 0.0)
            wx = np.where(ok, den, 0.0)
            if w_sl is not None:
                wy *= w_sl
                wx *= w_sl
            cells[f"y:{name}"] += np.bincount(g, wy, ngroups)
            cells[f"x:{name}"] += np.bincount(g, wx, ngroups)
            cells[f"n:{name}"] += np.bincount(g, ok & (den != 0), ngroups)
            if second:
                cells[f"yy:{name}"] += np.bincount(g, wy * wy, ngroups)
                cells[f"xy:{name}"] += np.bincount(g, wy * wx, ngroups)
                cells[f"xx:{name}"] += np.bincount(g, wx * wx, ngroups)
        del block
    for name in names or ():
        cells[f"n:{name}"] = cells[f"n:{name}"].astype(np.int64)
    return dict(cells=pd.DataFrame(cells, copy=False),  # no block consolidation: a big copy for nothing
                uniques=uniques, strata_codes=strata_codes, strata_uniques=strata_uniques,
                psu_uniques=psu_uniques, names=tuple(names or ()), rows_are_psus=rows_are_psus, gid=gid,
                all_in_domain=in_domain is None)


def sufficient_statistics(
    data: pd.DataFrame,
    ratios,
    *,
    design: Design,
    by: Sequence[str] = (),
    chunk_rows: int | None = None,
) -> Summary:
    """Phase 1: reduce rows to plain sums per (domain, stratum, PSU).

    ``ratios`` maps a name to ``(numerator, denominator)`` arrays (one value per row; NaN =
    missing, left out of that ratio only). A mean is ``(y, 1)``, a total ``(y, 1)`` read as
    the sum. Everything here is a weighted sum of row values by group -- reproducible with
    ``SELECT by..., stratum, psu, SUM(w*y), SUM(w*x), COUNT(...) GROUP BY ...``.

    ``ratios`` may also be a function ``frame -> {name: (numerator, denominator)}``; with
    ``chunk_rows`` it is then called on row blocks of that size and the sums are added up, so
    the memory for row values stays bounded however many rows there are.
    """
    by = tuple(by)
    r = _cell_sums(data, ratios, design, by, chunk_rows)
    cells, uniques, names, rows_are_psus = r["cells"], r["uniques"], r["names"], r["rows_are_psus"]
    strata = _strata_table(cells, data, design, r["strata_codes"], rows_are_psus)
    n_psu_total = int(strata["n_psu"].sum())
    # keep only in-domain cells; by columns back to their values
    if not r.get("all_in_domain"):
        dom_ok = np.ones(len(cells), bool)
        for col in by:
            dom_ok &= cells[col].to_numpy() >= 0
        if not dom_ok.all():
            cells = cells.loc[dom_ok].reset_index(drop=True)
    # domain columns stay categorical (codes + values) until the final table: cheap to group
    for col, u in zip(by, uniques):  # codes made by the numbering, in range: not checked again
        dtype = data[col].dtype  # a categorical's own dtype when these are its categories: no new one
        same = isinstance(dtype, pd.CategoricalDtype) and u is dtype.categories
        cells[col] = pd.Categorical.from_codes(cells[col].to_numpy(), categories=None if same else u,
                                               dtype=dtype if same else None, validate=False)
    dtypes = {col: data[col].dtype for col in by}
    # "sorted": every domain's cells together, by (stratum, PSU), domains in the order _layout
    # chose (_group_ids numbers them so) -- phase 2 reads domains and (domain, stratum) groups as runs
    return Summary(by, names, cells, strata, design, rows_are_psus, n_psu_total, len(strata),
                   extra={"dtypes": dtypes, "jit": hasattr(ratios, "cell_sums"), "sorted": True})


# --------------------------------------------------------------------------------------------
# phase 1 in pieces: partial sums of row blocks (files, row groups, Dask partitions) that add up


def _decode_keys(codes: np.ndarray, uniques) -> np.ndarray | pd.Index:
    """Key values of ``codes`` (missing where the code is -1)."""
    codes = np.asarray(codes, np.int64)
    u = pd.Index(uniques)
    if (codes < 0).any():
        return u.take(codes, allow_fill=True, fill_value=None)
    return u.take(codes)


def partial_sums(data: pd.DataFrame, ratios, *, design: Design, by: Sequence[str] = (),
                 chunk_rows: int | None = None) -> pd.DataFrame:
    """Phase-1 sums of one block of rows, keyed by *values* so that blocks can be added.

    One row per (``by``..., ``_stratum``, ``_psu``) cell of the block -- out-of-domain cells
    (a missing ``by`` value) included, since they count in the design -- with ``_rows``,
    ``y:/x:/n:`` (and ``yy:/xy:/xx:``) sums as in :class:`Summary`, and ``_fpc_min``/``_fpc_max``
    with an fpc. Blocks of any size and order, added with :func:`combine_partial_sums` and
    finished with :func:`summary_from_partial_sums`, give the same summary as
    :func:`sufficient_statistics` on all rows at once (to floating-point rounding). This is the
    map step of the Dask engine and of the streaming pandas engine.
    """
    by = tuple(by)
    r = _cell_sums(data, ratios, design, by, chunk_rows)
    cells = r["cells"]
    out = {}
    for col, u in zip(by, r["uniques"]):
        out[col] = _decode_keys(cells[col].to_numpy(), u)
    n = len(cells)
    out["_stratum"] = (_decode_keys(cells["_stratum"].to_numpy(), r["strata_uniques"]) if design.strata
                       else np.zeros(n, np.int64))
    out["_psu"] = (_decode_keys(cells["_psu"].to_numpy(), r["psu_uniques"]) if not r["rows_are_psus"]
                   else np.full(n, -1, np.int64))
    for c in cells.columns:
        if c not in out and c not in by:  # counts as int64, whatever the engine: blocks add up
            out[c] = cells[c].to_numpy(np.int64) if c.startswith("n:") else cells[c].to_numpy()
    if design.fpc:
        fpc = pd.to_numeric(data[design.fpc], errors="coerce").to_numpy(np.float64, na_value=np.nan)
        agg = pd.Series(fpc).groupby(r["gid"]).agg(["min", "max"]).reindex(range(n))
        out["_fpc_min"] = agg["min"].to_numpy()
        out["_fpc_max"] = agg["max"].to_numpy()
    return pd.DataFrame(out, copy=False)


def _key_columns(by) -> list[str]:
    return [*by, "_stratum", "_psu"]


def combine_partial_sums(parts: Sequence[pd.DataFrame], *, by: Sequence[str] = ()) -> pd.DataFrame:
    """Add up :func:`partial_sums` of several blocks (cells with equal keys summed; fpc min/max)."""
    parts = [p for p in parts if p is not None]
    if len(parts) == 1:
        return parts[0]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    keys = _key_columns(by)
    g = frame.groupby(keys, dropna=False, sort=False, observed=True)
    value_cols = [c for c in frame.columns if c not in keys and c not in ("_fpc_min", "_fpc_max")]
    out = g[value_cols].sum()
    if "_fpc_min" in frame.columns:
        out["_fpc_min"] = g["_fpc_min"].min()
        out["_fpc_max"] = g["_fpc_max"].max()
    return out.reset_index()


def summary_from_partial_sums(sums: pd.DataFrame, *, names: Sequence[str], design: Design, by: Sequence[str] = (),
                              dtypes: Mapping | None = None) -> Summary:
    """The :class:`Summary` of all rows from their added-up :func:`partial_sums` (one row per cell)."""
    by = tuple(by)
    keys = _key_columns(by)
    sums = combine_partial_sums([sums], by=by) if sums.duplicated(keys).any() else sums
    cells, uniques = {}, []
    for col in by:
        codes, u = _codes(sums[col])
        cells[col] = codes
        uniques.append(u)
    n = len(sums)
    cells["_stratum"] = _codes(sums["_stratum"])[0] if design.strata else np.zeros(n, np.int64)
    rows_are_psus = design.psu is None
    cells["_psu"] = _codes(sums["_psu"])[0] if not rows_are_psus else np.full(n, -1, np.int64)
    cells["_rows"] = sums["_rows"].to_numpy(np.int64)
    second = rows_are_psus and design.needs_variance
    for name in names:
        for pre in ("y", "x") + (("yy", "xy", "xx") if second else ()):
            cells[f"{pre}:{name}"] = sums[f"{pre}:{name}"].to_numpy(np.float64)
        cells[f"n:{name}"] = sums[f"n:{name}"].to_numpy(np.int64)
    cells = pd.DataFrame(cells, copy=False)
    # a cell order phase 2 reads as runs ("sorted"): by (by codes..., stratum, psu)
    order = np.lexsort([cells[k].to_numpy() for k in reversed(keys)])
    cells = cells.take(order).reset_index(drop=True)
    if rows_are_psus:
        n_psu = cells.groupby("_stratum", sort=True)["_rows"].sum()
    else:
        n_psu = _psus_per_stratum(cells["_stratum"].to_numpy(), cells["_psu"].to_numpy())
    strata = pd.DataFrame({"_stratum": n_psu.index.to_numpy(np.int64), "n_psu": n_psu.to_numpy(np.int64)})
    strata["f"] = 0.0
    if design.fpc:
        fp = pd.DataFrame({"h": cells["_stratum"].to_numpy(), "lo": sums["_fpc_min"].to_numpy()[order],
                           "hi": sums["_fpc_max"].to_numpy()[order]}).groupby("h")
        lo = fp["lo"].min().reindex(strata["_stratum"]).to_numpy(np.float64)
        hi = fp["hi"].max().reindex(strata["_stratum"]).to_numpy(np.float64)
        if np.isnan(lo).any() or (lo != hi).any():
            raise DataError("fpc must be present and constant within each stratum", column=design.fpc)
        strata["f"] = _sampling_fraction(strata["n_psu"].to_numpy(np.float64), hi, design.fpc)
    dom_ok = np.ones(len(cells), bool)
    for col in by:
        dom_ok &= cells[col].to_numpy() >= 0
    cells = cells.loc[dom_ok].reset_index(drop=True)
    for col, u in zip(by, uniques):
        cells[col] = pd.Categorical.from_codes(cells[col].to_numpy(), categories=u)
    return Summary(by, tuple(names), cells, strata, design, rows_are_psus, int(strata["n_psu"].sum()), len(strata),
                   extra={"dtypes": dict(dtypes or {}), "sorted": True})


def sufficient_statistics_sql(data, ratios_sql: Mapping[str, tuple[str, str]], *, design: Design,
                              by: Sequence[str] = (), connection=None) -> Summary:
    """Phase 1 in DuckDB: the same sums as :func:`sufficient_statistics`, as one ``GROUP BY``.

    ``data``: a pandas DataFrame (scanned in place) or the name of a table/view/Parquet glob in
    ``connection``. ``ratios_sql``: ``{name: (numerator SQL, denominator SQL)}`` (see
    :func:`baode_eval.framework.sql_values`). Needs the optional ``duckdb`` package.
    """
    try:
        import duckdb
    except ImportError:  # pragma: no cover
        raise ParameterError("engine='duckdb' needs the duckdb package: pip install 'baode-eval[bench]'") from None
    by = tuple(by)
    con = connection
    if con is None:
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")  # no bar on the command line's stderr
    if isinstance(data, pd.DataFrame):
        con.register("_baode_rows", data)
        source = "_baode_rows"
        dtypes = {c: data[c].dtype for c in by}
    else:
        source, dtypes = str(data), {}
    q = lambda c: '"' + str(c).replace('"', '""') + '"'  # noqa: E731
    w = f"CAST({q(design.weights)} AS DOUBLE)" if design.weights else "1.0"
    in_dom = " AND ".join(f"{q(c)} IS NOT NULL" for c in by) or "TRUE"
    keys = [*(q(c) for c in by)]
    keys.append(q(design.strata) if design.strata else "0")
    keys.append(q(design.psu) if design.psu else "-1")
    # each expression once per row in a sub-select; the aggregates only refer to its columns
    # (inlined into three CASE aggregates each, the expressions were evaluated up to 5 times)
    inner = [f"{k} AS k{i}" for i, k in enumerate(keys)] + [f"{w} AS _w", f"({in_dom}) AS _d"]
    sel = [f"k{i}" for i in range(len(keys))] + ["COUNT(*) AS _rows"]
    second = design.psu is None and design.needs_variance
    for j, (name, (num, den)) in enumerate(ratios_sql.items()):
        inner.append(f"({num}) AS v{j}, ({den}) AS d{j}")
        ok = f"_d AND v{j} IS NOT NULL AND d{j} IS NOT NULL"
        sel.append(f"COALESCE(SUM(CASE WHEN {ok} THEN _w * v{j} END), 0) AS y{j}")
        sel.append(f"COALESCE(SUM(CASE WHEN {ok} THEN _w * d{j} END), 0) AS x{j}")
        sel.append(f"COUNT(CASE WHEN {ok} AND d{j} <> 0 THEN 1 END) AS n{j}")
        if second:
            sel.append(f"COALESCE(SUM(CASE WHEN {ok} THEN (_w * v{j}) * (_w * v{j}) END), 0) AS yy{j}")
            sel.append(f"COALESCE(SUM(CASE WHEN {ok} THEN (_w * v{j}) * (_w * d{j}) END), 0) AS xy{j}")
            sel.append(f"COALESCE(SUM(CASE WHEN {ok} THEN (_w * d{j}) * (_w * d{j}) END), 0) AS xx{j}")
    if design.fpc:
        inner.append(f"{q(design.fpc)} AS _fpc")
        sel.append("MIN(_fpc) AS _fpc_min, MAX(_fpc) AS _fpc_max")
    group = ", ".join(f"k{i}" for i in range(len(keys)))
    res = con.execute(f"SELECT {', '.join(sel)} FROM (SELECT {', '.join(inner)} FROM {source}) GROUP BY {group}").df()
    if isinstance(data, pd.DataFrame):
        con.unregister("_baode_rows")
    nb = len(by)
    cells = {}
    uniques = []
    for i, col in enumerate(by):
        codes, u = _codes(res[f"k{i}"])
        cells[col] = codes
        uniques.append(u)
    cells["_stratum"], _ = _codes(res[f"k{nb}"])
    cells["_psu"] = _codes(res[f"k{nb + 1}"])[0] if design.psu else np.full(len(res), -1, np.int64)
    cells["_rows"] = res["_rows"].to_numpy(np.int64)
    names = tuple(ratios_sql)
    for j, name in enumerate(names):
        cells[f"y:{name}"] = res[f"y{j}"].to_numpy(np.float64)
        cells[f"x:{name}"] = res[f"x{j}"].to_numpy(np.float64)
        cells[f"n:{name}"] = res[f"n{j}"].to_numpy(np.int64)
        if second:
            for pre in ("yy", "xy", "xx"):
                cells[f"{pre}:{name}"] = res[f"{pre}{j}"].to_numpy(np.float64)
    cells = pd.DataFrame(cells, copy=False)
    if design.psu is None and design.needs_variance:
        n_psu = cells.groupby("_stratum", sort=True)["_rows"].sum()
    else:
        n_psu = _psus_per_stratum(cells["_stratum"].to_numpy(), cells["_psu"].to_numpy())
    strata = pd.DataFrame({"_stratum": n_psu.index.to_numpy(np.int64), "n_psu": n_psu.to_numpy(np.int64), "f": 0.0})
    if design.fpc:
        fp = pd.DataFrame({"h": cells["_stratum"], "lo": res["_fpc_min"], "hi": res["_fpc_max"]}).groupby("h")
        lo, hi = fp["lo"].min().reindex(strata["_stratum"]), fp["hi"].max().reindex(strata["_stratum"])
        if lo.isna().any() or (lo.to_numpy() != hi.to_numpy()).any():
            raise DataError("fpc must be present and constant within each stratum", column=design.fpc)
        fpc_h = hi.to_numpy(np.float64)
        n_h = strata["n_psu"].to_numpy(np.float64)
        strata["f"] = np.where(fpc_h > 1, n_h / np.where(fpc_h > 1, fpc_h, 1.0), fpc_h)
    ok = np.ones(len(cells), bool)
    for col in by:
        ok &= cells[col].to_numpy() >= 0
    cells = cells.loc[ok].reset_index(drop=True)
    for col, u in zip(by, uniques):
        cells[col] = pd.Categorical.from_codes(cells[col].to_numpy(), categories=u)
    return Summary(by, names, cells, strata, design, design.psu is None, int(strata["n_psu"].sum()), len(strata),
                   extra={"dtypes": dtypes})


def _weights(data, design) -> np.ndarray | None:
    if design.weights is None:
        return None
    col = data[design.weights]
    if isinstance(col.dtype, np.dtype) and col.dtype.kind == "f":
        w = col.to_numpy()  # float32 stays float32 (exact in float64 sums), no copy
    else:
        w = pd.to_numeric(col, errors="coerce").to_numpy(np.float64)
    step = 1 << 16  # in slices: no row-sized temporary to touch (NaN >= 0 is false)
    if not all(bool((w[i:i + step] >= 0).all()) for i in range(0, len(w), step)):
        raise DataError("weights must be present and non-negative on every row", column=design.weights)
    return w


def _as_float(values, nrow) -> np.ndarray:
    if np.isscalar(values):
        return np.full(nrow, float(values))
    if isinstance(values, pd.Series):
        values = values.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(values, dtype=np.float64)


def _strata_table(cells, data, design, strata_codes, rows_are_psus) -> pd.DataFrame:
    """PSUs per stratum over the whole design (out-of-domain rows included), and fpc."""
    if rows_are_psus:
        n_psu = cells.groupby("_stratum", sort=True)["_rows"].sum()
    else:
        n_psu = _psus_per_stratum(cells["_stratum"].to_numpy(), cells["_psu"].to_numpy())
    out = pd.DataFrame({"_stratum": n_psu.index.to_numpy(np.int64), "n_psu": n_psu.to_numpy(np.int64)})
    out["f"] = 0.0
    if design.fpc:
        fpc = pd.to_numeric(data[design.fpc], errors="coerce")
        sc = strata_codes if strata_codes is not None else np.zeros(len(data), np.int64)
        agg = fpc.groupby(sc).agg(["min", "max"])
        if agg.isna().any().any() or (agg["min"] != agg["max"]).any():
            raise DataError("fpc must be present and constant within each stratum", column=design.fpc)
        fpc_h = agg["max"].reindex(out["_stratum"]).to_numpy(np.float64)
        out["f"] = _sampling_fraction(out["n_psu"].to_numpy(np.float64), fpc_h, design.fpc)
    return out


def _psus_per_stratum(h: np.ndarray, psu: np.ndarray) -> pd.Series:
    """Distinct PSUs per stratum code (codes >= 0) of the cells. When every PSU code lies in one
    stratum (PSUs nested in strata, the usual design) that is one lookup table, no hashing."""
    if len(psu) and int(psu.min()) >= 0 and int(psu.max()) < max(4 * len(psu), 1 << 20):
        stratum_of = np.full(int(psu.max()) + 1, -1, np.int64)
        stratum_of[psu] = h
        if np.array_equal(stratum_of[psu], h):
            used = stratum_of[stratum_of >= 0]
            counts = np.bincount(used)
            present = np.flatnonzero(counts)
            return pd.Series(counts[present], index=present)
    pairs = pd.DataFrame({"_stratum": h, "_psu": psu}).drop_duplicates()
    return pairs.groupby("_stratum", sort=True).size()


def _sampling_fraction(n_h: np.ndarray, fpc_h: np.ndarray, column: str) -> np.ndarray:
    """Sampling fraction per stratum: the fpc itself when it is a fraction (<= 1), else PSUs
    sampled / PSUs in the population."""
    f = np.where(fpc_h > 1, n_h / np.where(fpc_h > 1, fpc_h, 1.0), fpc_h)
    if (f > 1 + 1e-12).any() or (f < 0).any():
        raise DataError("fpc gives a sampling fraction outside [0, 1] (more PSUs sampled than exist?)",
                        column=column)
    return f


# --------------------------------------------------------------------------------------------
# phase 2: ratios, linearised variances, intervals


@dataclass
class _Lin:
    """Per-domain estimates and per-cell linearised values of one ratio (internal)."""

    domains: pd.DataFrame  # by columns
    dom: np.ndarray  # domain id per cell
    est: np.ndarray  # per domain
    var: np.ndarray  # per domain
    n: np.ndarray  # per domain
    z: np.ndarray | None  # per cell (PSU designs only)


def _runs(keys: list[np.ndarray], n: int) -> np.ndarray:
    """Start of every run of equal ``keys`` (rows sorted by them): ids are then ``cumsum``."""
    change = np.zeros(n, bool)
    if n:
        change[0] = True
    for k in keys:
        change[1:] |= k[1:] != k[:-1]
    return np.flatnonzero(change)


def _run_ids(starts: np.ndarray, n: int) -> np.ndarray:
    ids = np.zeros(n, np.int64)
    ids[starts[1:]] = 1
    return np.cumsum(ids, out=ids)


def _domain_ids(summary: Summary) -> tuple[np.ndarray, pd.DataFrame]:
    """Domain id per cell and the domains (categorical ``by`` columns, sorted); cached on the
    summary. Cells grouped by domain (phase 1 makes them so) are numbered as runs: in the
    runs' order when the cells are laid out in the order of the ``by`` columns, else ranked."""
    cells = summary.cells
    hit = summary.extra.get("_domain_ids")
    if hit is not None and hit[0] is cells:
        return hit[1]
    if not summary.by:
        out = np.zeros(len(cells), np.int64), pd.DataFrame(index=[0])
    else:
        cats = [cells[c].cat for c in summary.by]
        if summary.extra.get("sorted"):
            codes = [c.codes.to_numpy() for c in cats]
            starts = _runs(codes, len(cells))
            dom = _run_ids(starts, len(cells))
            parts = np.stack([c[starts] for c in codes], axis=1) if len(starts) else np.zeros((0, len(codes)), int)
            perm = _lexsort(list(parts.T))
            if not np.array_equal(perm, np.arange(len(perm))):  # runs laid out in another key order
                parts = np.take(parts, perm, axis=0)
                same = np.ones(max(len(parts) - 1, 0), bool)  # column by column: no 2-D temporary
                for j in range(parts.shape[1]):
                    same &= parts[1:, j] == parts[:-1, j]
                if same.any():
                    raise AssertionError("cells marked sorted hold a domain in two places")
                rank = np.empty_like(perm)
                rank[perm] = np.arange(len(perm))
                dom = rank[dom]
        else:
            codes = [c.codes.to_numpy(np.int64) for c in cats]
            dom, parts = _group_ids(codes, [len(c.categories) for c in cats], len(cells))
        domains = pd.DataFrame({col: pd.Categorical.from_codes(parts[:, j], categories=cats[j].categories)
                                for j, col in enumerate(summary.by)})
        out = dom, domains
    summary.extra["_domain_ids"] = (cells, out)
    return out


def restore_dtypes(frame: pd.DataFrame, summary: Summary) -> pd.DataFrame:
    """Domain columns back to the caller's numeric/boolean dtypes (text stays categorical)."""
    for col, dtype in summary.extra.get("dtypes", {}).items():
        if col in frame and (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            cat = frame[col].cat
            frame[col] = cat.categories.to_numpy()[cat.codes.to_numpy()]
            try:
                frame[col] = frame[col].astype(dtype)
            except (TypeError, ValueError):
                pass
    return frame


class _GroupSum:
    """Sums of cell values by group id; ``np.add.reduceat`` over runs when the ids are sorted
    and every group is present (cells come sorted by domain and stratum), else ``np.bincount``."""

    def __init__(self, ids: np.ndarray, n: int):
        self.ids, self.n = ids, n
        self.starts = None
        if len(ids) and n and ids[0] == 0 and ids[-1] == n - 1:
            step = np.diff(ids)
            if ((step == 0) | (step == 1)).all():
                self.starts = np.concatenate([[0], np.flatnonzero(step) + 1])

    def __call__(self, values) -> np.ndarray:
        values = np.asarray(values, np.float64)
        if self.starts is not None:
            return np.add.reduceat(values, self.starts)
        return np.bincount(self.ids, values, self.n)


def _group_sum(summary: Summary, ids: np.ndarray, n: int) -> _GroupSum:
    cache = summary.extra.setdefault("_group_sums", {})
    hit = cache.get(id(ids))
    if hit is None or hit.ids is not ids or hit.n != n:
        hit = cache[id(ids)] = _GroupSum(ids, n)
    return hit


def _linearise(summary: Summary, name: str, kind: str, dom=None, domains=None) -> _Lin:
    """Estimate, variance and n per domain of one ratio, and ``z`` (linearised values per PSU
    cell, for the covariance of changes), with numpy (the compiled engine: :func:`finalise_into`)."""
    cells = summary.cells
    if dom is None:
        dom, domains = _domain_ids(summary)
    D = len(domains)
    Yc = cells[f"y:{name}"].to_numpy(np.float64)
    Xc = cells[f"x:{name}"].to_numpy(np.float64)
    by_dom = _group_sum(summary, dom, D)
    n = by_dom(cells[f"n:{name}"].to_numpy(np.float64))
    Y = by_dom(Yc)
    X = by_dom(Xc)
    if kind == "total":
        est = Y
        R = np.zeros(D)
        scale = np.ones(D)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            est = np.where(X != 0, Y / np.where(X != 0, X, 1.0), np.nan)
        R = np.nan_to_num(est)
        scale = np.where(X != 0, X, 1.0)
    var = np.zeros(D)
    z = None
    if summary.design.needs_variance:
        ds_id, d_of, n_h, f_h, G, _ = _domain_strata(summary, dom)
        by_ds = _group_sum(summary, ds_id, G)
        if summary.rows_are_psus:
            s1 = by_ds(Yc - R[dom] * Xc) / scale[d_of]
            yy = cells[f"yy:{name}"].to_numpy(np.float64)
            xy = cells[f"xy:{name}"].to_numpy(np.float64)
            xx = cells[f"xx:{name}"].to_numpy(np.float64)
            Rc = R[dom]
            s2 = by_ds(yy - 2 * Rc * xy + Rc * Rc * xx) / scale[d_of] ** 2
        else:
            z = (Yc - R[dom] * Xc) / scale[dom]
            s1 = by_ds(z)
            s2 = by_ds(z * z)
        var = _stratum_variance(s1, s2, n_h, f_h, d_of, D, summary, name)
    return _Lin(domains, dom, est, var, n, z)


def _domain_strata(summary: Summary, dom: np.ndarray):
    """(domain, stratum) group of every cell, with n_h and f_h per group; cached per domain ids."""
    cache = summary.extra.setdefault("_domain_strata", {})
    key = id(dom)
    if key in cache and cache[key][0] is dom:
        return cache[key][1]
    codes = summary.strata["_stratum"].to_numpy(np.int64)
    sc = summary.cells["_stratum"].to_numpy(np.int64)
    S = max(int(codes.max()) + 1 if len(codes) else 1, int(sc.max()) + 1 if len(sc) else 1)
    starts = None
    if summary.extra.get("sorted"):  # a domain's cells together, by stratum: groups are runs
        starts = _runs([dom, sc], len(sc))
        ds_id = _run_ids(starts, len(sc))
        d_of, h_of = dom[starts], sc[starts]
        ds_uniq = starts
    else:
        ds_id, ds_uniq = pd.factorize(dom * S + sc, sort=True)
        ds_uniq = np.asarray(ds_uniq, np.int64)
        d_of, h_of = ds_uniq // S, ds_uniq % S
    n_by_code, f_by_code = np.full(S, np.nan), np.full(S, np.nan)  # by stratum code (NaN: none)
    n_by_code[codes] = summary.strata["n_psu"].to_numpy(np.float64)
    f_by_code[codes] = summary.strata["f"].to_numpy(np.float64)
    n_h, f_h = n_by_code[h_of], f_by_code[h_of]
    out = (ds_id, d_of, n_h, f_h, len(ds_uniq), starts)
    cache.clear()
    cache[key] = (dom, out)
    return out


def _stratum_variance(s1, s2, n_h, f_h, d_of, D, summary, name) -> np.ndarray:
    single = n_h <= 1
    if single.any():
        if summary.design.lonely_psu == "fail":
            raise DataError(
                "a stratum has a single PSU; choose lonely_psu='adjust' or 'certainty'",
                column=summary.design.strata,
            )
    with np.errstate(invalid="ignore", divide="ignore"):
        v = (1 - f_h) * n_h / (n_h - 1) * (s2 - s1 * s1 / n_h)
    v = np.where(single, 0.0, v)
    if single.any() and summary.design.lonely_psu == "adjust":
        # centre the lone PSU at the mean PSU total of the whole design (R survey "adjust")
        zbar = _group_sum(summary, d_of, D)(s1) / max(summary.n_psu_total, 1)
        zb = zbar[d_of]
        v = np.where(single, (1 - f_h) * (s2 - 2 * s1 * zb + zb * zb), v)
    return np.clip(_group_sum(summary, d_of, D)(v), 0.0, None)


def interval(est, se, n, *, kind: str, level: float, df: float, census: bool, jit: bool = False):
    """Two-sided interval: t (design df); logit for proportions; Wilson on n when p is 0 or 1.
    ``jit``: the same in one compiled loop (:func:`baode_eval._jit.proportion_interval`)."""
    est = np.asarray(est, np.float64)
    se = np.asarray(se, np.float64)
    if census:
        return est.copy(), est.copy()
    q, zq = _quantiles(level, df)
    if kind == "proportion" and jit:
        from . import _jit

        nn = np.broadcast_to(np.asarray(n, np.float64), est.shape)
        return _jit.proportion_interval(est, np.ascontiguousarray(np.broadcast_to(se, est.shape)),
                                        np.ascontiguousarray(nn), q, zq)
    lo, hi = est - q * se, est + q * se
    if kind == "proportion":
        with np.errstate(invalid="ignore", divide="ignore"):
            inner = (est > 0) & (est < 1)
            p = np.clip(est, 1e-300, 1 - 1e-16)
            logit = np.log(p / (1 - p))
            half = q * se / (p * (1 - p))
            lo = special.expit(logit - half)
            hi = special.expit(logit + half)
            edge = np.flatnonzero(~inner)
            if len(edge):
                # Wilson score interval on the unweighted count where p is exactly 0 or 1
                e = est[edge]
                nn = np.broadcast_to(np.asarray(n, np.float64), est.shape)[edge]
                centre = (e + zq * zq / (2 * nn)) / (1 + zq * zq / nn)
                hw = zq / (1 + zq * zq / nn) * np.sqrt(e * (1 - e) / nn + zq * zq / (4 * nn * nn))
                lo[edge] = np.where(nn > 0, centre - hw, np.nan)
                hi[edge] = np.where(nn > 0, centre + hw, np.nan)
        np.clip(lo, 0.0, 1.0, out=lo)
        np.clip(hi, 0.0, 1.0, out=hi)
    return lo, hi


def finalise_one(summary: Summary, name: str, kind: str, dom: np.ndarray, domains: pd.DataFrame, *,
                 level: float, keep_z: bool = True) -> tuple[dict, _Lin]:
    """Estimate, SE, interval and n of one ratio per domain, as arrays, and its linearisation
    (``keep_z=False``: without per-cell values when no change is computed from it)."""
    if fused(summary):
        m = len(domains)
        out = {k: np.empty(m) for k in ("estimate", "std_error", "ci_low", "ci_high")}
        out["n"], out["verdict"] = np.empty(m, np.int64), np.empty(m, np.int8)
        lin = finalise_into(summary, name, kind, dom, out, level=level, keep=True, keep_z=keep_z)
        del out["verdict"]
        return out, lin
    lin = _linearise(summary, name, kind, dom, domains)
    se = np.sqrt(lin.var)
    lo, hi = interval(lin.est, se, lin.n, kind=kind, level=level, df=summary.df,
                      census=not summary.design.needs_variance, jit=bool(summary.extra.get("jit")))
    return dict(estimate=lin.est, std_error=se, ci_low=lo, ci_high=hi, n=lin.n.astype(np.int64)), lin


def fused(summary: Summary) -> bool:
    """Whether :func:`finalise_into` applies: the compiled engine's cells, grouped by domain and
    sorted by (stratum, PSU) within it, of a design with PSUs."""
    return bool(summary.extra.get("jit") and summary.extra.get("sorted") and summary.design.needs_variance
                and not summary.rows_are_psus)


def _bounds_of_runs(ids: np.ndarray, n_ids: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``start[i]:stop[i]``, the run of id ``i`` in ``ids`` (each id one run, in any order),
    and the ids in the order of their runs."""
    starts = _runs([ids], len(ids))
    order = ids[starts].astype(np.int64)
    start, stop = np.zeros(n_ids, np.int64), np.zeros(n_ids, np.int64)
    start[order] = starts
    stop[order] = np.append(starts[1:], len(ids))
    return start, stop, order


def _run_bounds(summary: Summary, dom: np.ndarray):
    """Cell ranges of the domains and of the (domain, stratum) groups of cells grouped by
    domain and sorted by stratum within it, and each group's n_h and f_h (cached like
    :func:`_domain_strata`)."""
    hit = summary.extra.get("_run_bounds")
    if hit is not None and hit[0] is dom:
        return hit[1]
    _, d_of, n_h, f_h, G, starts = _domain_strata(summary, dom)
    D = int(dom.max()) + 1 if len(dom) else 0
    if starts is None:
        starts = _runs([dom, summary.cells["_stratum"].to_numpy()], len(dom))
    gstart = np.append(starts, len(dom)).astype(np.int64)
    gfirst, gstop, order = _bounds_of_runs(d_of, D)  # the groups of domain d
    out = (order, gstart[gfirst], gstart[gstop], gfirst, gstop, gstart, n_h, f_h)
    summary.extra["_run_bounds"] = (dom, out)
    return out


@functools.lru_cache(maxsize=64)
def _quantiles(level: float, df: float) -> tuple[float, float]:
    """t (design df) and normal quantiles of a two-sided ``level`` interval."""
    return float(stats.t.ppf(0.5 + level / 2, df)), float(stats.norm.ppf(0.5 + level / 2))


def finalise_into(summary: Summary, name: str, kind: str, dom: np.ndarray, out: Mapping[str, np.ndarray], *,
                  level: float, target: np.ndarray | None = None, direction: str | None = None,
                  keep: bool = False, keep_z: bool = True) -> _Lin | None:
    """:func:`finalise_one` and the verdict against ``target`` (``">="``/``"<="``; none: -1) of
    one ratio, for :func:`fused` summaries, in one compiled pass written straight into ``out``'s
    arrays (``estimate, std_error, ci_low, ci_high, n, verdict``, one value per domain). Returns
    the linearisation when ``keep`` (the changes need its variances and, unless ``keep_z`` is
    false, its per-cell values)."""
    from . import _jit

    cells = summary.cells
    order, dstart, dstop, gfirst, gstop, gstart, n_h, f_h = _run_bounds(summary, dom)
    D = len(dstart)
    lonely = summary.design.lonely_psu
    if lonely == "fail" and (n_h <= 1).any():
        _stratum_variance(np.zeros(len(n_h)), np.zeros(len(n_h)), n_h, f_h, np.zeros(len(n_h), np.int64), D,
                          summary, name)  # raises
    q, zq = _quantiles(level, summary.df)
    q1, zq1 = _quantiles(2 * level - 1, summary.df)
    code = {None: 0, ">=": 1, "<=": 2}[direction]
    var = np.empty(D if keep else 0)
    z = np.empty(len(cells) if keep and keep_z else 0)
    _jit.finalise(order, dstart, dstop, gfirst, gstop, gstart, cells[f"y:{name}"].to_numpy(np.float64),
                  cells[f"x:{name}"].to_numpy(np.float64), cells[f"n:{name}"].to_numpy(), n_h, f_h,
                  kind == "total", lonely == "adjust", summary.n_psu_total, kind == "proportion", q, zq,
                  np.empty(0) if target is None else target, code, q1, zq1, out["estimate"], out["std_error"],
                  out["ci_low"], out["ci_high"], out["n"], out["verdict"], var, z)
    if not keep:
        return None
    _, domains = _domain_ids(summary)
    return _Lin(domains, dom, out["estimate"], var, out["n"].astype(np.float64), z if keep_z else None)


def shared_groupings(summary: Summary, dom: np.ndarray) -> None:
    """Make (and cache) the groupings of cells every ratio reads, so that threads only read them."""
    if summary.design.needs_variance:
        _domain_strata(summary, dom)
    if fused(summary):
        _run_bounds(summary, dom)


def map_ratios(summary: Summary, fn, items: Sequence, dom: np.ndarray):
    """``map(fn, items)`` over ratios, in order; for the compiled engine on many cells in threads
    (its loops release the GIL). Shared groupings are made first, once, so threads only read them."""
    items = list(items)
    if not (summary.extra.get("jit") and len(items) > 1 and len(summary.cells) >= PARALLEL_MIN):
        yield from map(fn, items)
        return
    from concurrent.futures import ThreadPoolExecutor

    shared_groupings(summary, dom)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        yield from pool.map(fn, items)


def finalise_parts(summary: Summary, kinds: Mapping[str, str] | str, *, level: float = 0.95):
    """Yield ``(name, table, linearised)`` per ratio; tables share the domain order."""
    level = check_level(level)
    if isinstance(kinds, str):
        kinds = {name: kinds for name in summary.names}
    dom, domains = _domain_ids(summary)
    domains = restore_dtypes(domains.copy(), summary)
    names = list(summary.names)
    for name in names:
        check_option("kind", kinds[name], KINDS)

    def one(name):
        arrays, lin = finalise_one(summary, name, kinds[name], dom, domains, level=level)
        part = domains.copy() if summary.by else pd.DataFrame(index=range(1))
        for k, v in arrays.items():
            part[k] = v
        return name, part, lin

    yield from map_ratios(summary, one, names, dom)


def finalise(summary: Summary, kinds: Mapping[str, str] | str, *, level: float = 0.95) -> pd.DataFrame:
    """Phase 2: estimates, SEs and intervals for every ratio of a :class:`Summary`.

    Returns one row per (domain, name): the ``by`` columns, ``name``, then
    ``estimate, std_error, ci_low, ci_high, n``.
    """
    out = []
    for name, part, _ in finalise_parts(summary, kinds, level=level):
        part.insert(len(summary.by), "name", name)
        out.append(part)
    return pd.concat(out, ignore_index=True)


# --------------------------------------------------------------------------------------------
# the public one-call estimator


def estimate(
    data: pd.DataFrame,
    y: str,
    *,
    kind: str = "mean",
    denominator: str | None = None,
    weights: str | None = None,
    strata: str | None = None,
    psu: str | None = None,
    fpc: str | None = None,
    by: str | Sequence[str] | None = None,
    level: float = 0.95,
    lonely_psu: str = "adjust",
    superpopulation: bool = False,
) -> pd.DataFrame:
    """Design-based estimate of ``y`` (see the module docstring for every convention).

    ``kind``: ``"mean"`` (weighted mean of y), ``"proportion"`` (mean of a 0/1 or boolean y,
    logit interval), ``"total"`` (weighted sum), ``"ratio"`` (sum w*y / sum w*denominator).
    Returns the ``by`` columns then ``estimate, std_error, ci_low, ci_high, n``.

    >>> estimate(df, "zinc", weights="finalwgt", strata="stratid", psu="psuid")  # doctest: +SKIP
    """
    if not isinstance(data, pd.DataFrame):
        raise ParameterError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    check_option("kind", kind, KINDS)
    level = check_level(level)
    by = [by] if isinstance(by, str) else list(by or [])
    if kind == "ratio" and denominator is None:
        raise ParameterError("kind='ratio' needs denominator=<column>")
    if kind != "ratio" and denominator is not None:
        raise ParameterError(f"denominator is only used with kind='ratio', not kind={kind!r}")
    design = Design(weights, strata, psu, fpc, lonely_psu, bool(superpopulation))
    needed = [y] + ([denominator] if denominator else []) + by + design.columns()
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise ParameterError(f"columns not in the data: {missing}; available: {list(data.columns)}")
    num = _numeric(data[y], y)
    if kind == "proportion":
        vals = num[~np.isnan(num)]
        if not np.isin(vals, (0.0, 1.0)).all():
            raise DataError("kind='proportion' needs a 0/1 or boolean column", column=y)
    den = _numeric(data[denominator], denominator) if denominator else 1.0
    summary = sufficient_statistics(data, {y: (num, den)}, design=design, by=by)
    res = finalise(summary, kind, level=level)
    return res.drop(columns="name")[[*by, *RESULT_COLUMNS]]


def _numeric(s: pd.Series, name: str) -> np.ndarray:
    if s.dtype == bool or str(s.dtype) == "boolean":
        return s.astype("float64").to_numpy(na_value=np.nan) if str(s.dtype) == "boolean" else s.to_numpy(np.float64)
    out = pd.to_numeric(s, errors="coerce")
    bad = out.isna() & s.notna()
    if bad.any():
        raise DataError(f"not a number: {s[bad].iloc[0]!r}", column=name)
    return out.to_numpy(np.float64, na_value=np.nan)
