"""Source cells held column by column, for the reader (:mod:`baode_eval.io`).

Reading a sheet row by row and cell by cell in Python costs about 70 µs a row, minutes for a
province. Here one source column is one array: typed (float64, int64, bool) where the source
has types (Parquet, Stata, plain Excel columns), text or Python objects otherwise. Every
per-cell step of the reader (is the cell blank, is it a total-row word, what is it as the
field's type, is an ID number stored as a number, what text goes to the quarantine) is computed
once per *distinct* cell and spread back with integer codes, or vectorised outright where the
answer is certain (plain ASCII numbers, typed numeric columns).

The contract: for every column, each operation gives what the per-cell function gives for the
cells the row-by-row reader held (``baode_eval._io_reference`` is a frozen copy of it),
including its quirks — a column's cells were parsed once per distinct value, so ``-0.0`` after
``0.0`` reads as ``0.0``. ``tests/test_reader_equivalence.py`` holds the reader to that.

Blank cells (``None``, a float NaN, text of only spaces) behave alike in every step: missing,
never an issue, ``None`` in the quarantine. ``None`` and NaN share the code ``-1``.
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from . import schema

# what ``Cells.values`` holds
FLOAT, INT, BOOL, TEXT, OBJECT = "float", "int", "bool", "text", "object"


def blank(v) -> bool:
    """The reader's blank cell: None, a float NaN, or text of only spaces."""
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


class Cells:
    """One source column.

    ``kind`` says what ``values`` holds:

    * ``float``: float64, NaN for an empty cell (the cells are Python floats);
    * ``int``: int64 or uint64, with ``mask`` (True = empty) or ``mask=None`` (the cells are Python ints);
    * ``bool``: bool, with ``mask`` or ``None``;
    * ``text``: an object array of ``str`` (missing: None or NaN) or a pandas string array;
    * ``object``: an object array of the cells as they are.
    """

    __slots__ = ("kind", "values", "mask", "_found")

    def __init__(self, kind: str, values, mask: np.ndarray | None = None):
        self.kind = kind
        self.values = values
        self.mask = mask
        self._found: tuple | None = None

    def __len__(self) -> int:
        return len(self.values)

    def cell(self, i: int) -> Any:
        """The cell at position ``i`` as the row-by-row reader held it."""
        v = self.values[i]
        if self.kind == FLOAT:
            return None if v != v else float(v)
        if self.kind in (INT, BOOL):
            if self.mask is not None and self.mask[i]:
                return None
            return int(v) if self.kind == INT else bool(v)
        if self.kind == TEXT and not isinstance(v, str):
            return None
        return v

    def cells(self) -> list:
        """All cells as Python objects (slow: for rare paths)."""
        return [self.cell(i) for i in range(len(self))]

    def take(self, positions: np.ndarray | slice | None) -> "Cells":
        """The cells at ``positions`` (an index array or a slice; ``None``: all, this very object).

        Text, int and bool cells keep their distinct values (equal cells of these kinds are the
        same cell), so the taken column is not factorized again; a distinct value may then stand
        for no cell of the taken column, which every use of them allows for.
        """
        if positions is None:
            return self
        if isinstance(positions, slice) or isinstance(self.values, np.ndarray):
            values = self.values[positions]
        else:
            values = self.values.take(positions)
        out = Cells(self.kind, values, None if self.mask is None else self.mask[positions])
        if self._found is not None and self._found[0] is not None and self.kind in (TEXT, INT, BOOL):
            codes, uniques = self._found[0]
            out._found = ((codes[positions], uniques),)
        return out

    def factorize(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(codes, distinct cells): ``codes[i]`` indexes the distinct cells, -1 for None/NaN.

        Distinct as the old per-cell cache keyed them, ``(type(v), v)``: 1, 1.0 and True stay
        apart, ``0.0`` and ``-0.0`` do not, and the first occurrence stands for its class.
        ``None`` when cells are unhashable (nested Parquet types).
        """
        if self._found is None:
            self._found = (_factorize(self),)
        return self._found[0]

    def map_distinct(self, fn: Callable[[Any], Any], missing: Any = None, dtype=object) -> np.ndarray:
        """``fn`` of every cell, computed once per distinct cell; ``missing`` for None/NaN cells.

        For functions that give one answer for equal cells of one type (all the reader's are,
        except printing: see :meth:`texts`).
        """
        found = self.factorize()
        if found is None:
            return np.array([missing if v is None or v != v else fn(v) for v in self.cells()], dtype=dtype)
        codes, uniques = found
        lut = np.empty(len(uniques) + 1, dtype=dtype)
        for i in occurring(codes, len(uniques)):
            lut[i] = fn(uniques[i])
        lut[len(uniques)] = missing
        return lut[codes]                     # code -1 picks the last entry

    def notblank(self) -> np.ndarray:
        if self.kind == FLOAT:
            return ~np.isnan(self.values)
        if self.kind in (INT, BOOL):
            return np.ones(len(self), bool) if self.mask is None else ~self.mask
        found = self.factorize()
        if self.kind == TEXT and found is not None:    # distinct text cells are all str
            codes, uniques = found
            filled = np.array([bool(u.strip()) for u in uniques] + [False], dtype=bool)
            return filled[codes]
        return self.map_distinct(lambda v: not blank(v), missing=False, dtype=bool)

    def texts(self) -> np.ndarray:
        """Each cell as the quarantine shows it: None if blank, else ``schema.parse_string``."""
        return self.map_texts(None)

    def map_texts(self, fn: Callable[[str | None], Any] | None) -> np.ndarray:
        """``fn`` of each cell's text (see :meth:`texts`); ``fn=None``: the texts themselves."""
        def text(v):
            t = None if blank(v) else schema.parse_string(v)
            return t if fn is None else fn(t)
        if self.kind == OBJECT:   # equal objects can print differently (Decimal 1 and 1.0): cell by cell
            return np.array([text(v) for v in self.values] + [None], dtype=object)[:-1]
        return self.map_distinct(text, missing=text(None))


def occurring(codes: np.ndarray, m: int):
    """Indices of the distinct values that occur in ``codes`` (all of them, unless a taken column
    holds few of its parent's distinct values)."""
    if m <= 2 * len(codes):
        return range(m)
    return np.unique(codes[codes >= 0]).tolist()


def _factorize(col: Cells) -> tuple[np.ndarray, np.ndarray] | None:
    values = col.values
    if col.kind == OBJECT:
        return _factorize_objects(values)
    codes, uniques = pd.factorize(values)     # NaN/None/NA -> -1; 0.0 and -0.0 one value, first kept
    codes = np.asarray(codes, dtype=np.intp)
    if col.mask is not None:
        codes = np.where(col.mask, -1, codes)
    if col.kind == TEXT:
        return codes, np.asarray(uniques, dtype=object)
    return codes, np.array(np.asarray(uniques).tolist() + [None], dtype=object)[:-1]   # Python scalars


def _factorize_objects(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        codes, uniques = pd.factorize(values)   # by equality: 1 == 1.0 == True
    except TypeError:
        return None
    codes = np.asarray(codes, dtype=np.intp)
    types = np.empty(len(values), dtype=object)
    types[:] = [type(v) for v in values]
    tcodes, tuniques = pd.factorize(types)
    if len(tuniques) <= 1:
        return codes, np.asarray(uniques, dtype=object)
    # split each equality class by type; the first occurrence stands for the class
    present = np.flatnonzero(codes >= 0)
    key = codes[present].astype(np.int64) * len(tuniques) + tcodes[present]
    sub, _ = pd.factorize(key)
    out = np.full(len(values), -1, dtype=np.intp)
    out[present] = sub
    _, first = np.unique(sub, return_index=True)
    return out, np.asarray(values[present[first]], dtype=object)


# --- columns from sources -------------------------------------------------------------------

_SIMPLE = {"string": TEXT, "empty": TEXT, "floating": FLOAT, "integer": INT, "boolean": BOOL}


def _missing_like(v) -> bool:
    """What the old frame-to-cells step made None (or left a float NaN; blank either way)."""
    return v is None or v is pd.NA or v is pd.NaT or isinstance(v, (float, np.floating))


def _all_missing_like(values: np.ndarray) -> bool:
    """``_missing_like`` of every value (mostly None: checked at C speed first)."""
    rest = values[~np.equal(values, None)] if len(values) else values
    return all(_missing_like(v) for v in rest)


def from_objects(values: np.ndarray) -> Cells:
    """Cells from an object array that holds them as the reader saw them (text rows, Excel rows)."""
    kind = _SIMPLE.get(infer_dtype(values, skipna=True) if len(values) else "empty", OBJECT)
    if kind == TEXT:
        return Cells(TEXT, values)
    if kind == OBJECT:
        return Cells(OBJECT, values)
    na = pd.isna(values)
    if not _all_missing_like(values[na]):
        return Cells(OBJECT, values)
    present = values[~na]
    try:
        if kind == FLOAT:
            arr = np.full(len(values), np.nan)
            arr[~na] = present.astype(np.float64)
            return Cells(FLOAT, arr)
        if kind == INT:
            arr = np.zeros(len(values), dtype=np.int64)
            arr[~na] = np.array(present.tolist(), dtype=np.int64)
        else:
            arr = np.zeros(len(values), dtype=bool)
            arr[~na] = present.astype(bool)
    except (OverflowError, TypeError, ValueError):   # ints beyond 64 bits stay Python objects
        return Cells(OBJECT, values)
    return Cells(kind, arr, na if na.any() else None)


def _old_cell(v):
    """The old frame-to-cells conversion of one value (Parquet, Stata)."""
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if isinstance(v, np.generic) else v


def from_series(s: pd.Series) -> Cells:
    """Cells of a typed column (Parquet, Stata) as the old reader saw them — missing values
    None, NumPy scalars Python scalars — with typed arrays kept typed."""
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats = np.empty(len(dtype.categories) + 1, dtype=object)
        cats[:-1] = [_old_cell(v) for v in dtype.categories.astype(object)]
        cats[-1] = None
        return from_objects(cats[np.asarray(s.cat.codes, dtype=np.intp)])   # code -1 -> None
    if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
        return Cells({"f": FLOAT, "i": INT, "u": INT, "b": BOOL}[dtype.kind],
                     s.to_numpy(dtype=np.float64) if dtype.kind == "f" else s.to_numpy())
    if not isinstance(dtype, np.dtype):   # pandas extension types: nullable numbers, strings
        na = np.asarray(s.isna(), dtype=bool)
        mask = na if na.any() else None
        if pd.api.types.is_string_dtype(dtype):
            return Cells(TEXT, s.array)          # str or a missing marker; Arrow-backed stays in Arrow
        if pd.api.types.is_bool_dtype(dtype):
            return Cells(BOOL, s.to_numpy(dtype=bool, na_value=False), mask)
        if pd.api.types.is_integer_dtype(dtype):
            return Cells(INT, s.to_numpy(dtype=np.uint64 if dtype.kind == "u" else np.int64, na_value=0), mask)
        if pd.api.types.is_float_dtype(dtype):
            return Cells(FLOAT, s.to_numpy(dtype=np.float64, na_value=np.nan))
    values = s.astype(object).to_numpy()
    if infer_dtype(values, skipna=True) in _SIMPLE:
        na = pd.isna(values)
        if _all_missing_like(values[na]):
            cells = values.copy()
            cells[na] = None
            col = from_objects(cells)
            if col.kind != OBJECT:   # NumPy and Python scalars of these kinds read alike
                return col
    return from_objects(np.array([_old_cell(v) for v in values], dtype=object))


# --- cells typed per the codebook -----------------------------------------------------------

_ASCII_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# printable ASCII without spaces or brackets: schema.normalise_header of such text is its lower case
_PLAIN_ASCII = re.compile(r"[!-Z\\^-~]*")
# rule of a failed cell, as a small code per cell
RULES = np.array(["", "type", "non_finite", "category"], dtype=object)
_OK, _TYPE, _NON_FINITE, _CATEGORY = 0, 1, 2, 3
_CODE = {None: _OK, "type": _TYPE, "non_finite": _NON_FINITE, "category": _CATEGORY}


def coerce(col: Cells, f: schema.Field) -> tuple[pd.Series, list[tuple[int, str]]]:
    """What ``schema.coerce_column`` gives for these cells: the typed column, and the
    (position, rule) of the cells that failed, in position order."""
    n = len(col)
    if f.type == "int" and col.kind == INT and col.values.dtype == np.int64 and n and \
            np.abs(col.values).max() <= 2 ** 53 and col.values.min() >= -2 ** 53:
        # whole numbers that float64 holds exactly: parse_int's float round trip changes nothing
        mask = np.zeros(n, bool) if col.mask is None else col.mask
        return pd.Series(pd.arrays.IntegerArray(np.where(mask, 0, col.values), mask.copy()),
                         index=pd.RangeIndex(n)), []
    if f.type in ("int", "float") and col.kind in (FLOAT, INT):
        x = col.values.astype(np.float64) if col.kind == INT else col.values
        missing = np.isnan(x) if col.kind == FLOAT else (np.zeros(n, bool) if col.mask is None else col.mask)
        err = np.where(np.isinf(x), _NON_FINITE, _OK).astype(np.int8)
        return _numbers(x, missing, err, f, first_zero=col.kind == FLOAT)
    if f.type in ("int", "float") and col.kind == BOOL:
        present = np.ones(n, bool) if col.mask is None else ~col.mask
        err = np.where(present, _TYPE, _OK).astype(np.int8)    # parse_number refuses True/False
        return _numbers(np.full(n, np.nan), np.ones(n, bool), err, f)
    found = col.factorize()
    if found is None:   # unhashable cells: each parsed on its own, as the old cache did
        return _from_parsed([schema._parse_cell(schema._PARSERS[f.type], v) for v in col.cells()], f)
    codes, uniques = found
    m = len(uniques)
    if f.type in ("int", "float"):
        # per distinct cell: plain ASCII numbers vectorised, the rest through the cell parser
        x = np.full(m + 1, np.nan)
        err = np.zeros(m + 1, dtype=np.int8)
        missing = np.zeros(m + 1, bool)
        missing[m] = True
        fast = np.zeros(m + 1, bool)
        todo = np.zeros(m + 1, bool)
        todo[list(occurring(codes, m))] = True
        fast[:m] = [t and type(u) is str and _ASCII_NUMBER.fullmatch(u) is not None for u, t in zip(uniques, todo)]
        if fast.any():
            x[fast] = np.fromiter(map(float, uniques[fast[:m]]), dtype=np.float64)
            err[fast & np.isinf(x)] = _NON_FINITE
        for i in np.flatnonzero(todo[:m] & ~fast[:m]):
            value, e = schema._parse_cell(schema.parse_number, uniques[i])
            if e is not None:
                err[i] = _CODE[e]
            elif value is None:
                missing[i] = True
            else:
                x[i] = value
        # zeros among distinct float cells already carry the sign of the first one (factorize)
        return _numbers(x[codes], missing[codes], err[codes], f)
    values = np.empty(m + 1, dtype=object)
    err = np.zeros(m + 1, dtype=np.int8)
    parser = schema._PARSERS[f.type]
    plain_text = f.type in ("string", "category")
    missing_words = schema.value_words("missing")
    for i in occurring(codes, m):
        u = uniques[i]
        if plain_text and type(u) is str and _PLAIN_ASCII.fullmatch(u):
            # schema.is_missing and schema.parse_string, for text whose normal form is its lower case
            values[i] = None if u.lower() in missing_words else u
            continue
        value, e = schema._parse_cell(parser, u)
        values[i] = value
        err[i] = _CODE[e]
    if f.type == "category" and f.categories:
        allowed = set(f.categories)
        outside = np.array([v is not None and v not in allowed for v in values], dtype=bool)
        err[outside] = _CATEGORY
        values[outside] = None
    err_cells = err[codes]
    bad = [(int(i), RULES[err_cells[i]]) for i in np.flatnonzero(err_cells)]
    present = np.zeros(m + 1, bool)
    present[codes] = True
    return _typed(codes, values, present, f), bad


def _numbers(x: np.ndarray, missing: np.ndarray, err: np.ndarray, f: schema.Field, first_zero: bool = False):
    """An int or float column from float values (``missing``: empty cells; ``err``: rule code per cell)."""
    n = len(x)
    ok = (err == _OK) & ~missing
    if f.type == "int":
        # schema.parse_int: a whole number, at most 2**62 in size
        whole = np.zeros(n, bool)
        whole[ok] = np.floor(x[ok]) == x[ok]
        err = err.copy()
        err[ok & ~whole] = _TYPE
        big = np.zeros(n, bool)
        big[ok & whole] = np.abs(x[ok & whole]) > 2.0 ** 62
        err[big] = _NON_FINITE
        ok &= whole & ~big
        values = np.zeros(n, dtype=np.int64)
        values[ok] = x[ok].astype(np.int64)
        series = pd.Series(pd.arrays.IntegerArray(values, ~ok), index=pd.RangeIndex(n))
    else:
        values = np.where(ok, x, np.nan)
        if first_zero:
            # the old per-value cache parsed 0.0 and -0.0 once: every zero as the column's first
            zeros = np.flatnonzero(values == 0)
            if len(zeros):
                values[zeros] = values[zeros[0]]
        series = pd.Series(values, index=pd.RangeIndex(n))
    return series, [(int(i), RULES[err[i]]) for i in np.flatnonzero(err)]


def _from_parsed(parsed: list, f: schema.Field):
    cells = [p[0] for p in parsed]
    bad = {i: p[1] for i, p in enumerate(parsed) if p[1] is not None}
    if f.type == "category" and f.categories:
        allowed = set(f.categories)
        for i, v in enumerate(cells):
            if v is not None and v not in allowed:
                bad[i] = "category"
                cells[i] = None
    return schema._typed(cells, f, pd.RangeIndex(len(cells))), sorted(bad.items())


def _typed(codes: np.ndarray, values: np.ndarray, present: np.ndarray, f: schema.Field) -> pd.Series:
    """``schema._typed`` of the cells ``values[codes]`` (``values``: parsed distinct cells, the
    last one None for missing cells; ``present``: which of them occur)."""
    n = len(codes)
    index = pd.RangeIndex(n)
    if f.type == "bool":
        mask = np.array([v is None for v in values], dtype=bool)
        return pd.Series(pd.arrays.BooleanArray(np.where(mask, False, values).astype(bool)[codes], mask[codes]),
                         index=index)
    if f.type == "category":
        categories = list(f.categories or sorted({v for v in values[present] if v}))
        lookup = {c: i for i, c in enumerate(categories)}
        lut = np.array([-1 if v is None else lookup.get(v, -1) for v in values], dtype=np.int64)
        return pd.Series(pd.Categorical.from_codes(lut[codes], categories=categories), index=index)
    if f.type in ("string", "period"):
        return pd.Series(_string_array(codes, values), index=index)
    return schema._typed(list(values[codes]), f, index)


def _string_array(codes: np.ndarray, values: np.ndarray):
    """``pd.array(values[codes], dtype="string")``, built in Arrow when that is the string storage."""
    if pd.StringDtype().storage != "pyarrow":
        return pd.array(values[codes], dtype="string")
    import pyarrow as pa

    missing = np.array([v is None for v in values], dtype=bool)
    dictionary = pa.array([None if v is None else v for v in values], type=pa.large_string())
    return pd.arrays.ArrowStringArray(dictionary.take(pa.array(codes % len(values), mask=missing[codes])))
