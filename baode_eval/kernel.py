"""Phase 1 compiled: a framework's indicator expressions turned into one Numba loop over rows.

The numpy engine (:func:`baode_eval.survey.sufficient_statistics` with
:func:`baode_eval.framework.row_values`) evaluates every numerator and denominator as a whole
array, then adds each into the cells with ``np.bincount``: about 80 passes over the rows and as
many temporary arrays. Here the expressions are translated into scalar code -- with the same
missing-value rules as :mod:`baode_eval.framework` (Kleene ``and``/``or``, comparisons with a
missing side missing, division by zero missing) -- and every sum of every indicator is made in
one pass over the rows, reading each column value once.

Threads split the *cells*, not the rows: each thread scans all rows and adds those whose cell is
in its range, in row order, and no thread needs its own copy of the cell table. The table is
kept sum by sum (one contiguous row of cells per sum, as phase 2 reads it), laid out to follow
the order of the rows (``survey._layout``): rows of one household or site, or of one year, fall
in neighbouring cells.

A row does not add into that table directly (one page per sum, 54 at national size) but into
its cell's slot in a small staging table per thread, where a cell's sums lie side by side:
``STAGE_CELLS`` slots per chunk of cells, slot ``g % STAGE_CELLS`` of chunk ``g >> shift``. A
cell leaves its slot when a row of another cell of the same slot comes (or at the end), and its
sums are then added into the table, ``EVICT_CELLS`` cells at a time, sum by sum. At national
size the loop took 0.80 s against 0.87 s adding into the table row by row (medians of 15 runs
alternating in one process; the whole scorecard 1.98 s against 2.10 s). Chunks depend only on
the number of cells and each thread owns whole chunks, so a cell leaves its slot at the same rows
whatever the threads: the result does not depend on the number of threads (or machines). A cell
whose rows all come while it holds its slot -- every cell when the rows of a site come together
(within each year, if rows come year by year), as the simulator and the benchmark write them;
checked on the bundled panel and a simulated survey -- gets exactly the sum added row by row;
otherwise it gets the sum of its stays in turn, which may differ in the last bits (the same
every run).

Numba is optional (``pip install 'baode-eval[fast]'``); :func:`available` says whether it is
installed. The generated source is written to a cache folder (``$BAODE_EVAL_CACHE`` or
``~/.cache/baode-eval``), named by its hash, and compiled with Numba's on-disk cache, so the
compilation (a few seconds) is paid once per framework and column types, not once per run.
"""
from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from ._memory import RETAINED, huge_pages
from .errors import DataError, ParameterError

_LOCK = threading.Lock()
_MODULES: dict = {}

_CMP = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq", ast.NotEq: "ne"}
_BIN = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*"}

STAGE_CELLS = 512  # staging slots per chunk of cells (a power of 2; see the module's docstring)
EVICT_CELLS = 64  # cells leaving their slots that are added into the table together
CHUNKS = 32  # about this many chunks of cells, whatever the threads (see _chunks)

_HELPERS = '''
import math
import numpy as np
from numba import njit

NAN = np.nan
_JIT = dict(cache=True, nogil=True, error_model="numpy", fastmath=False)


@njit(inline="always", **_JIT)
def k_and(a, b):
    if a == 0.0 or b == 0.0:
        return 0.0
    if a != a or b != b:
        return NAN
    return 1.0


@njit(inline="always", **_JIT)
def k_or(a, b):
    if (a != 0.0 and a == a) or (b != 0.0 and b == b):
        return 1.0
    if a != a or b != b:
        return NAN
    return 0.0


@njit(inline="always", **_JIT)
def k_not(v):
    if v != v:
        return NAN
    return 1.0 if v == 0.0 else 0.0


@njit(inline="always", **_JIT)
def k_div(a, b):
    out = a / b
    if math.isfinite(out):
        return out
    return NAN


@njit(inline="always", **_JIT)
def k_lt(a, b):
    if a != a or b != b:
        return NAN
    return 1.0 if a < b else 0.0


@njit(inline="always", **_JIT)
def k_le(a, b):
    if a != a or b != b:
        return NAN
    return 1.0 if a <= b else 0.0


@njit(inline="always", **_JIT)
def k_gt(a, b):
    if a != a or b != b:
        return NAN
    return 1.0 if a > b else 0.0


@njit(inline="always", **_JIT)
def k_ge(a, b):
    if a != a or b != b:
        return NAN
    return 1.0 if a >= b else 0.0


@njit(inline="always", **_JIT)
def k_eq(a, b):
    if a != a or b != b:
        return NAN
    return 1.0 if a == b else 0.0


@njit(inline="always", **_JIT)
def k_ne(a, b):
    if a != a or b != b:
        return NAN
    return 1.0 if a != b else 0.0


@njit(inline="always", **_JIT)
def k_param(table, offset, year):
    if year != year:
        return NAN
    i = int(year) - offset
    if i < 0 or i >= table.shape[0]:
        return NAN
    return table[i]


@njit(inline="always", **_JIT)
def _evict(buf, bcn, s, ev, evc, k):
    # the sums staged in slot s copied to eviction row k
    for j in range(buf.shape[1]):
        ev[k, j] = buf[s, j]
    for j in range(bcn.shape[1]):
        evc[k, j] = bcn[s, j]


@njit(inline="always", **_JIT)
def _clear(buf, bcn, s):
    for j in range(buf.shape[1]):
        buf[s, j] = 0.0
    for j in range(bcn.shape[1]):
        bcn[s, j] = 0


@njit(**_JIT)
def _drain(out, cnt, ev, evc, evg, k):
    # eviction rows 0..k-1 added into their cells (evg), sum by sum: a few pages at a time, not
    # one page per sum per cell. A cell staged once gets 0.0 + its sum: exactly the sum added
    # row by row into the table.
    for j in range(ev.shape[1]):
        for i in range(k):
            out[j, evg[i]] += ev[i, j]
    for j in range(evc.shape[1]):
        for i in range(k):
            cnt[j, evg[i]] += evc[i, j]
'''


def available() -> bool:
    """Whether Numba is installed (the ``fast`` extra)."""
    return importlib.util.find_spec("numba") is not None


def cache_dir() -> Path:
    root = os.environ.get("BAODE_EVAL_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "baode-eval"


class _Gen:
    """Translate expressions into scalar code over row ``r``; collect the arrays they read.

    ``expr`` returns ``(code, may_miss)``: whether the value can be missing at all, given the
    columns that hold missing values (``missing``). Every distinct expression becomes one local
    variable (``e0``, ``e1``, ...), computed once per row however many indicators use it.
    """

    def __init__(self, params, missing=frozenset()):
        self.params = params  # name -> Parameter
        self.missing = missing  # value columns that hold at least one missing value
        self.columns: list[str] = []  # value columns, as c0, c1, ...
        self.masks: list[tuple[str, str]] = []  # (column, "isna"|"notna") as m0, m1, ...
        self.tables: list[str] = []  # by-year parameters, as p0, p1, ... (+ offsets o0, ...)
        self.locals: dict[str, tuple[str, bool]] = {}  # expression text -> (variable, may_miss)
        self.lines: list[str] = []

    def _col(self, name):
        if name not in self.columns:
            self.columns.append(name)
        return f"v{self.columns.index(name)}"

    def local(self, text: str, node) -> tuple[str, bool]:
        """The variable holding expression ``text`` (code emitted on first use)."""
        if text not in self.locals:
            code, miss = self.expr(node)
            var = f"e{len(self.locals)}"
            self.lines.append(f"            {var} = {code}")
            self.locals[text] = (var, miss)
        return self.locals[text]

    def expr(self, node) -> tuple[str, bool]:
        if isinstance(node, ast.Constant):
            return repr(float(node.value)), False
        if isinstance(node, ast.Name):
            p = self.params.get(node.id)
            if p is None:
                return self._col(node.id), node.id in self.missing
            if p.by_year:
                if node.id not in self.tables:
                    self.tables.append(node.id)
                j = self.tables.index(node.id)
                return f"k_param(p{j}, o{j}, year)", True
            return repr(float(p.value)), False
        if isinstance(node, ast.Call):
            key = (node.args[0].id, node.func.id)
            if key not in self.masks:
                self.masks.append(key)
            test = "< 0" if node.func.id == "isna" else ">= 0"  # masks are codes, -1 = missing
            return f"(1.0 if m{self.masks.index(key)}[r] {test} else 0.0)", False
        if isinstance(node, ast.BinOp):
            (left, lm), (right, rm) = self.expr(node.left), self.expr(node.right)
            if isinstance(node.op, ast.Div):
                return f"k_div({left}, {right})", True
            return f"({left} {_BIN[type(node.op)]} {right})", lm or rm
        if isinstance(node, ast.UnaryOp):
            inner, miss = self.expr(node.operand)
            return (f"(-{inner})" if isinstance(node.op, ast.USub) else f"k_not({inner})"), miss
        if isinstance(node, ast.Compare):
            left, miss = self.expr(node.left)
            out = None
            for op, comp in zip(node.ops, node.comparators):
                right, rm = self.expr(comp)
                miss = miss or rm
                part = f"k_{_CMP[type(op)]}({left}, {right})"
                out = part if out is None else f"k_and({out}, {part})"
                left = right
            return out, miss
        if isinstance(node, ast.BoolOp):
            fn = "k_and" if isinstance(node.op, ast.And) else "k_or"
            out, miss = self.expr(node.values[0])
            for v in node.values[1:]:
                code, m = self.expr(v)
                out, miss = f"{fn}({out}, {code})", miss or m
            return out, miss
        raise AssertionError(type(node))  # parse_expression has rejected everything else


def _source(framework, second: bool, missing=frozenset(), weighted: bool = True) -> tuple[str, _Gen, dict]:
    """Kernel source, the generator (arrays to pass) and ``{"y:id": column of out, ...}``.

    Sums that are the same for several indicators -- the same expression over the same rows,
    e.g. the household count of every indicator whose denominator is 1 and whose values are
    never missing -- are made once."""
    gen = _Gen(framework.parameters, missing)
    sums: dict[tuple, int] = {}  # (what, expression texts..., ok variables) -> row of out
    counts: dict[tuple, int] = {}  # the same for the row counts (integer table cnt)
    where: dict[str, int] = {}
    adds: dict[str, list[str]] = {}  # ok condition -> accumulation lines under it

    def acc(key, cond, line, table=sums):
        if key not in table:
            table[key] = len(table)
            adds.setdefault(cond, []).append(line.format(col=table[key]))
        return table[key]

    for ind in framework.indicators:
        yv, ym = gen.local(ind.numerator.text, ind.numerator.tree)
        xv, xm = gen.local(ind.denominator.text, ind.denominator.tree)
        guard = tuple(sorted({v for v, m in ((yv, ym), (xv, xm)) if m}))
        cond = " and ".join(f"{v} == {v}" for v in guard) or "True"
        wy, wx = (f"({yv} * wr)", f"({xv} * wr)") if weighted else (yv, xv)
        where[f"y:{ind.id}"] = acc(("sum", yv, guard), cond, f"buf[s, {{col}}] += {wy}")
        where[f"x:{ind.id}"] = acc(("sum", xv, guard), cond, f"buf[s, {{col}}] += {wx}")
        # a count adds 0 or 1, with no branch to mispredict on values like 0/1 answers (national
        # size, two threads: loop median 0.489 s against 0.506 s with `if`, 12 runs alternating)
        where[f"n:{ind.id}"] = acc(("nonzero", xv, guard), cond, f"bcn[s, {{col}}] += np.int32({xv} != 0.0)",
                                   counts)
        if second:
            where[f"yy:{ind.id}"] = acc(("product", yv, yv, guard), cond, f"buf[s, {{col}}] += {wy} * {wy}")
            where[f"xy:{ind.id}"] = acc(("product", *sorted((yv, xv)), guard), cond,
                                        f"buf[s, {{col}}] += {wy} * {wx}")
            where[f"xx:{ind.id}"] = acc(("product", xv, xv, guard), cond, f"buf[s, {{col}}] += {wx} * {wx}")
    body = list(gen.lines)
    for cond, lines in adds.items():
        if cond == "True":
            body += [f"            {line}" for line in lines]
        else:
            body.append(f"            if {cond}:")
            body += [f"                {line}" for line in lines]
    args = ([f"c{i}" for i in range(len(gen.columns))] + [f"m{i}" for i in range(len(gen.masks))]
            + [a for j in range(len(gen.tables)) for a in (f"p{j}", f"o{j}")])
    loads = [f"            v{i} = np.float64(c{i}[r])" for i in range(len(gen.columns))]
    year = ["            year = np.float64(yr[r])"] if gen.tables else []
    sig = ", ".join(["gid", "alldom", "dom", "w", "lo", "hi", "shift", "yr", "out", "cnt"] + args)
    src = "\n".join([
        _HELPERS,
        "",
        "@njit(**_JIT)",
        f"def kernel({sig}):",
        f"    # {len(framework.indicators)} indicators, {len(sums)} distinct sums, {len(counts)} distinct counts",
        # a row adds into its cell's slot in a small staging table (a cell's sums side by side);
        # a cell leaves its slot when another cell of the same slot comes, and at the end, and is
        # then added into the table (kept sum by sum, as phase 2 reads it) with others. Slots:
        # STAGE_CELLS per chunk of cells (g >> shift); a thread's cells lo:hi are whole chunks.
        # The eviction lines are written out twice on purpose: folded into one inlined helper
        # that also drains, the loop took a median of 1.05 s against 0.84 s at national size
        "    ch0 = lo >> shift",
        "    nch = (((hi - 1) >> shift) - ch0 + 1) if hi > lo else 0",
        f"    tag = np.full(nch * {STAGE_CELLS}, -1, np.int64)  # the cell staged in each slot (-1: none)",
        f"    buf = np.empty((nch * {STAGE_CELLS}, {max(len(sums), 1)}))  # cleared when a cell takes a slot",
        f"    bcn = np.empty((nch * {STAGE_CELLS}, {max(len(counts), 1)}), cnt.dtype)  # as the table (int32)",
        f"    ev = np.empty(({EVICT_CELLS}, {max(len(sums), 1)}))",
        f"    evc = np.empty(({EVICT_CELLS}, {max(len(counts), 1)}), cnt.dtype)",
        f"    evg = np.empty({EVICT_CELLS}, np.int64)",
        "    nev = 0",
        "    for r in range(gid.shape[0]):",
        "        g = gid[r]",
        "        if g >= lo and g < hi and (alldom or dom[r]):",
        f"            s = (((g >> shift) - ch0) << {STAGE_CELLS.bit_length() - 1}) | (g & {STAGE_CELLS - 1})",
        "            t = tag[s]",
        "            if t != g:",
        "                if t >= 0:",
        "                    _evict(buf, bcn, s, ev, evc, nev)",
        "                    evg[nev] = t",
        "                    nev += 1",
        f"                    if nev == {EVICT_CELLS}:",
        "                        _drain(out, cnt, ev, evc, evg, nev)",
        "                        nev = 0",
        "                _clear(buf, bcn, s)",
        "                tag[s] = g",
        *(["            wr = np.float64(w[r])"] if weighted else []),
        *year,
        *loads,
        *body,
        "    for s in range(tag.shape[0]):",
        "        if tag[s] >= 0:",
        "            _evict(buf, bcn, s, ev, evc, nev)",
        "            evg[nev] = tag[s]",
        "            nev += 1",
        f"            if nev == {EVICT_CELLS}:",
        "                _drain(out, cnt, ev, evc, evg, nev)",
        "                nev = 0",
        "    _drain(out, cnt, ev, evc, evg, nev)",
        "",
    ])
    return src, gen, dict(where=where, width=len(sums), count_width=len(counts))


def _load(src: str):
    digest = hashlib.sha256(src.encode()).hexdigest()[:20]
    with _LOCK:
        mod = _MODULES.get(digest)
        if mod is not None:
            return mod
        folder = cache_dir() / "kernels"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"k_{digest}.py"
            if not path.exists() or path.read_text(encoding="utf-8") != src:
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(src, encoding="utf-8")
                os.replace(tmp, path)
        except OSError as exc:
            raise ParameterError(f"cannot write the compiled-kernel cache in {folder} ({exc}); set "
                                 "BAODE_EVAL_CACHE to a writable folder") from None
        spec = importlib.util.spec_from_file_location(f"_baode_kernel_{digest}", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        _MODULES[digest] = mod
        return mod


def _plain(values: pd.Series, name: str) -> np.ndarray:
    """A numpy array Numba can read as numbers (NaN = missing), converting only when needed."""
    from .framework import _to_float

    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iuf":
        return values.to_numpy()
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        return values.to_numpy().view(np.uint8)  # no copy; Numba's float() takes no bool
    return _to_float(values, name)


def _all_finite(a: np.ndarray, step: int = 1 << 16) -> bool:
    """No NaN or +-inf in ``a``, checked in slices (no row-sized temporary to touch)."""
    return all(np.isfinite(a[i:i + step]).all() for i in range(0, len(a), step))


def _missing_codes(values: pd.Series) -> np.ndarray:
    """-1 where a value is missing, else >= 0: a categorical's own codes (no copy), else made."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.array.codes  # a read-only view; ``values.cat.codes`` would copy
    return np.where(np.asarray(pd.isna(values), bool), np.int8(-1), np.int8(0))


class Compiled:
    """Phase-1 ``ratios`` for :func:`baode_eval.survey.sufficient_statistics`: the indicators of
    ``framework`` summed by the compiled kernel instead of evaluated as arrays."""

    def __init__(self, framework, *, year_column: str = "year", threads: int | None = None):
        self.framework, self.year_column, self.threads = framework, year_column, threads

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.framework.indicators)

    def cell_sums(self, data, **kw) -> dict:
        return cell_sums(data, self.framework, year_column=self.year_column, threads=self.threads, **kw)

    def prepare(self, data, *, weighted: bool, second: bool) -> "Prepared":
        return Prepared(data, self.framework, weighted=weighted, second=second, year_column=self.year_column)

    def run(self, prepared: "Prepared", **kw) -> dict:
        return prepared.run(threads=self.threads, **kw)


def _years(col: pd.Series) -> np.ndarray:
    """Year per row as float (NaN = missing), for by-year parameters: numbers as they are; a
    categorical or text column (``"2021"``) through its distinct values, as the numpy engine's
    ``int(year)`` lookup reads them (a value that is not a number has no parameter value)."""
    if isinstance(col.dtype, np.dtype) and col.dtype.kind in "iuf":
        return col.to_numpy()
    codes, uniq = pd.factorize(col)

    def number(v):
        try:
            return float(int(v)) if not isinstance(v, float) else v
        except (TypeError, ValueError):
            return np.nan

    vals = np.array([number(v) for v in uniq] + [np.nan], np.float64)
    return vals[codes]  # code -1 (missing) takes the trailing NaN


def _names(framework) -> tuple[list[str], list[tuple[str, str]]]:
    """Value columns and (column, isna/notna) masks the framework's expressions read."""
    gen = _Gen(framework.parameters)
    for ind in framework.indicators:
        gen.expr(ind.numerator.tree), gen.expr(ind.denominator.tree)
    return gen.columns, gen.masks


def _chunks(ngroups: int, nthreads: int) -> tuple[int, np.ndarray]:
    """Chunks of cells (``1 << shift`` each, at least ``STAGE_CELLS``; about ``CHUNKS`` in all,
    whatever the threads) and each thread's cells ``bounds[t]:bounds[t+1]``, whole chunks."""
    size = max(STAGE_CELLS, -(-ngroups // CHUNKS))
    shift = (size - 1).bit_length()
    edges = np.linspace(0, ngroups, nthreads + 1) / (1 << shift)
    bounds = np.minimum(np.round(edges).astype(np.int64) << shift, ngroups)
    bounds[-1] = ngroups
    return shift, bounds


class Prepared:
    """The compiled kernel for a frame's columns, and the arrays it reads: everything the sums
    need but the cell ids, so it can be made while the cells are numbered (in another thread).

    Checks the columns (which hold missing values, which are absent), generates and loads the
    kernel, reads the by-year parameter tables."""

    def __init__(self, data: pd.DataFrame, framework, *, weighted: bool, second: bool, year_column: str = "year"):
        if not available():
            raise ParameterError("engine='numba' needs Numba: pip install 'baode-eval[fast]' (or numba>=0.60)")
        value_cols, mask_cols = _names(framework)
        absent = [c for c in value_cols + [c for c, _ in mask_cols] if c not in data.columns]
        if absent:
            raise DataError(f"columns needed by the framework {framework.id!r} are not in the data: {absent}")
        arrays = {c: _plain(data[c], c) for c in value_cols}
        # columns that can make a value missing: NaN, and +-inf (inf * 0, inf - inf are NaN)
        missing = frozenset(c for c, a in arrays.items() if a.dtype.kind == "f" and not _all_finite(a))
        self.weighted, self.rows = weighted, len(data)
        src, gen, self.layout = _source(framework, second, missing, weighted)
        self.mod = _load(src)
        self.cols = [arrays[c] for c in gen.columns]
        self.masks = [_missing_codes(data[c]) for c, _ in gen.masks]
        self.tables = []
        for name in gen.tables:
            p = framework.parameters[name]
            first, last = min(p.by_year), max(p.by_year)
            tab = np.array([np.nan if (v := p.value_for(y)) is None else v for y in range(first, last + 1)],
                           np.float64)
            self.tables += [tab, int(first)]
        if gen.tables:
            if year_column not in data.columns:
                raise DataError(f"parameters {gen.tables} vary by year but the data has no {year_column!r} column")
            self.yr = _years(data[year_column])
        else:
            self.yr = np.zeros(1)

    def allocate(self, ngroups: int) -> tuple[np.ndarray, np.ndarray]:
        """The zeroed sum and count tables for ``ngroups`` cells (:meth:`cell_tables`, cleared here)."""
        tables, dirty = self.cell_tables(ngroups)
        for a, clear in zip(tables, dirty):
            if clear:
                a.fill(0)
        return tables

    def cell_tables(self, ngroups: int) -> tuple[tuple[np.ndarray, np.ndarray], list[bool]]:
        """``((sums, counts), dirty)``: the tables for ``ngroups`` cells, zeroed or, where
        ``dirty``, on memory kept from earlier tables that still holds their values
        (:class:`baode_eval._memory.Retained`), in small pages (see :mod:`baode_eval._memory`).
        To fault their pages in (or clear them) before the kernel runs, in threads that would
        otherwise wait (not in the kernel's threads in the order rows come), hand them to
        :class:`baode_eval._memory.Faults`."""
        with huge_pages(False):
            # every sum a contiguous row
            out, d_out = RETAINED.zeros((max(self.layout["width"], 1), ngroups), np.float64)
            # row counts, as integers; int32 (a count never exceeds the rows): half the table to touch
            cnt, d_cnt = RETAINED.zeros((max(self.layout["count_width"], 1), ngroups),
                                        np.int32 if self.rows < 2**31 else np.int64)
        return (out, cnt), [d_out, d_cnt]

    def run(self, *, gid: np.ndarray, in_domain: np.ndarray | None, weights, ngroups: int,
            threads: int | None = None, tables=None) -> dict:
        """The sums per cell (see :func:`cell_sums`), into ``tables`` from :meth:`allocate` if given."""
        if (weights is not None) != self.weighted or len(gid) != self.rows:
            raise ParameterError("the kernel was prepared for other weights or rows")
        w = weights if self.weighted else np.ones(1)
        out, cnt = tables if tables is not None else self.allocate(ngroups)
        if out.shape[1] != ngroups:
            raise ParameterError(f"tables for {out.shape[1]} cells, not {ngroups}")
        alldom = in_domain is None  # every row in a domain: no row-sized array to read
        dom = np.ones(1, np.bool_) if alldom else np.asarray(in_domain, np.bool_)
        nthreads = max(1, min(threads or os.cpu_count() or 1, 8))
        shift, bounds = _chunks(ngroups, nthreads)
        mod, yr, cols, masks, tabs = self.mod, self.yr, self.cols, self.masks, self.tables

        def run(t):
            lo, hi = int(bounds[t]), int(bounds[t + 1])
            mod.kernel(gid, alldom, dom, w, lo, hi, shift, yr, out, cnt, *cols, *masks, *tabs)

        if nthreads == 1:
            run(0)
        else:
            with ThreadPoolExecutor(max_workers=nthreads) as pool:
                list(pool.map(run, range(nthreads)))
        return {name: (cnt if name.startswith("n:") else out)[j] for name, j in self.layout["where"].items()}


def cell_sums(data: pd.DataFrame, framework, *, gid: np.ndarray, in_domain: np.ndarray | None, weights, ngroups: int,
              second: bool, year_column: str = "year", threads: int | None = None) -> dict:
    """``{"y:id": ..., "x:id": ..., "n:id": ..., ["yy:id", "xy:id", "xx:id"]}`` per cell.

    The same sums as the numpy engine's phase 1 (to floating-point rounding: a cell's rows are
    added one by one here, block by block there). ``in_domain``: which rows count (a missing
    ``by`` value leaves a row out), or None when every row does."""
    prepared = Prepared(data, framework, weighted=weights is not None, second=second, year_column=year_column)
    return prepared.run(gid=gid, in_domain=in_domain, weights=weights, ngroups=ngroups, threads=threads)
