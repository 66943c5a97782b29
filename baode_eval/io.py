"""Read household data as users hold it: monitoring-system exports, county Excel ledgers, survey files.

>>> result = read("台账.xlsx")                      # doctest: +SKIP
>>> result.data                                    # canonical, typed, personal data removed
>>> result.quarantine                              # rows with errors, with their reasons
>>> result.report.to_dict()                        # rows_in, rows_valid, rows_quarantined, issues

Pipeline (one way): bytes -> table of cells (format, encoding, delimiter, sheet) -> header row(s)
found by matching the codebook's aliases -> total, note and blank rows skipped -> cells typed per
the codebook -> rules (:mod:`baode_eval.checks`) -> rows with errors quarantined -> personal data
dropped or pseudonymised (:mod:`baode_eval.privacy`) -> optionally persons collapsed to households.

**Column by column**: the table holds each source column as one array
(:class:`baode_eval._cells.Cells`) — typed where the source is typed (Parquet, Stata), Arrow
text for delimited text without quote characters (parsed by Arrow's CSV reader), Python cells
from ``csv.reader`` or Excel otherwise — and every per-cell rule (blank, total-row word, type,
ID number, quarantine text) is applied once per distinct cell or vectorised. The results are
those of the row-by-row reader it replaced, kept frozen in :mod:`baode_eval._io_reference`
and compared in ``tests/test_reader_equivalence.py``.

**Row numbers** in issues and in the quarantine (``row``) are 1-based and count every row of the
source as a spreadsheet program shows it, title and header rows included: the first data row
under a one-line header is row 2. For CSV/TSV a row is a record, so a quoted cell that spans
lines still counts as one row. For Parquet and Stata files (no visible header row) the first
record is row 2 as well, as if the file were exported with one header line.

**Counts**: ``rows_in`` counts data rows read (blank, total and trailing note rows are skipped
and listed as ``info`` issues); ``rows_in == rows_valid + rows_quarantined`` always.
"""
from __future__ import annotations

import codecs
import csv
import inspect
import io as _io
import itertools
import json
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from . import _cells, checks, privacy, schema
from ._cells import Cells
from .errors import BaodeEvalError, DataError, ParameterError
from .i18n import check_lang

Level = Literal["auto", "household", "person"]
HEADER_SCAN_ROWS = 30
_DELIMITERS = (",", "\t", ";", "|")


@dataclass
class Report:
    """What happened while reading one file."""

    path: str
    format: str
    table: str
    rows_in: int
    rows_valid: int
    rows_quarantined: int
    issues: pd.DataFrame
    encoding: str | None = None
    sheet: str | None = None
    header_rows: tuple[int, ...] = ()
    rows_out: int = 0
    level: str = "household"

    def __post_init__(self):
        if self.rows_in != self.rows_valid + self.rows_quarantined:  # an invariant, checked even under -O
            raise AssertionError(f"row counts do not reconcile: {self.rows_in} != "
                                 f"{self.rows_valid} + {self.rows_quarantined}")

    @property
    def clean(self) -> bool:
        """No error or warning (``info`` issues do not count)."""
        return not self.issues["severity"].isin(["error", "warning"]).any()

    def counts(self) -> pd.DataFrame:
        """Issues per rule and severity."""
        if self.issues.empty:
            return pd.DataFrame({"rule": [], "severity": [], "n": []})
        return (self.issues.groupby(["severity", "rule"], sort=True).size().rename("n").reset_index()
                [["rule", "severity", "n"]])

    def to_dict(self) -> dict:
        """The JSON shape of ``baode-eval validate --json``."""
        issues = []
        for rec in self.issues.to_dict(orient="records"):
            row = rec["row"]
            column = rec["column"] if isinstance(rec["column"], str) else None
            issues.append({"rule": rec["rule"], "row": None if pd.isna(row) else int(row),
                           "column": column, "value": rec["value"], "message": rec["message"],
                           "severity": rec["severity"]})
        return {"file": self.path, "format": self.format, "encoding": self.encoding, "sheet": self.sheet,
                "header_rows": list(self.header_rows), "table": self.table, "level": self.level,
                "rows_in": self.rows_in, "rows_valid": self.rows_valid,
                "rows_quarantined": self.rows_quarantined, "rows_out": self.rows_out,
                "clean": self.clean, "issues": issues}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def summary(self, lang: str = "en", max_issues: int = 20) -> str:
        """The text ``baode-eval validate`` prints (deterministic)."""
        from .commands.validate import summary

        return summary(self, lang=check_lang(lang), max_issues=max_issues)


@dataclass
class ReadResult:
    """``data`` (canonical, typed, protected), ``quarantine`` (source cells + ``row`` + ``reasons``), ``report``."""

    data: pd.DataFrame
    quarantine: pd.DataFrame
    report: Report


@dataclass
class _Table:
    """Cells of a sheet before headers are known, column by column (:class:`~baode_eval._cells.Cells`).

    ``lengths`` are the cells in each source row (a CSV row may be short or long), ``numbers``
    the source row numbers (1-based). ``row(i)`` gives a row's cells as a list, as the header
    detection reads them.
    """

    columns: list[Cells]
    lengths: np.ndarray
    numbers: np.ndarray
    format: str
    encoding: str | None = None
    sheet: str | None = None
    header: list[str] | None = None   # known for Parquet/Stata
    typed: bool = False               # cells carry types (Excel, Parquet, Stata) rather than text

    def __len__(self) -> int:
        return len(self.lengths)

    def row(self, i: int) -> list[Any]:
        return [col.cell(i) for col in self.columns[: int(self.lengths[i])]]

    def head(self, k: int) -> list[list[Any]]:
        return [self.row(i) for i in range(min(k, len(self)))]


def _table_from_rows(rows: list[list[Any]], fmt: str, *, typed: bool, **info) -> _Table:
    """A table from rows of cells (CSV records, Excel rows); rows may differ in length."""
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    columns = []
    for col in itertools.zip_longest(*rows):     # short rows padded with None
        values = np.empty(len(rows), dtype=object)
        values[:] = col
        columns.append(_cells.from_objects(values) if typed else Cells(_cells.TEXT, values))
    return _Table(columns, lengths, np.arange(1, len(rows) + 1), fmt, typed=typed, **info)


# --- formats ---------------------------------------------------------------------------------

def _sniff_format(path: Path, head: bytes) -> str:
    suffix = path.suffix.lower()
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    if head.startswith(b"PAR1"):
        return "parquet"
    if suffix == ".dta" or head.startswith(b"<stata_dta>"):
        return "dta"
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"  # not a zip: the reader says it is broken
    if suffix == ".xls":
        return "xls"
    if suffix == ".parquet":
        return "parquet"
    return "text"


def _fail(path, what: str, exc: BaseException) -> DataError:
    reason = str(exc).splitlines()[0] if str(exc) else ""
    reason = reason[:120]
    return DataError(f"not a readable {what} ({type(exc).__name__}{': ' + reason if reason else ''})", path=path)


def _decode(data: bytes, encoding: str | None, path) -> tuple[str, str]:
    if encoding:
        try:
            return data.decode(encoding), encoding
        except LookupError:
            raise ParameterError(f"unknown encoding {encoding!r}") from None
        except UnicodeDecodeError as exc:
            raise DataError(f"cannot be decoded as {encoding} (byte {exc.start})", path=path) from None
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise DataError(f"has a UTF-8 mark but invalid UTF-8 at byte {exc.start + 3}", path=path) from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise DataError("has a UTF-16 mark but invalid UTF-16", path=path) from None
    if b"\x00" in data[:65536]:
        raise DataError("is binary, not a text table (and not a known spreadsheet, Parquet or Stata file)", path=path)
    for enc in ("utf-8", "gb18030"):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        controls = sum(1 for ch in text[:65536] if ord(ch) < 32 and ch not in "\t\r\n")
        if controls > max(2, len(text[:65536]) // 200):
            raise DataError("is binary, not a text table", path=path)
        return text, enc
    raise DataError("is neither UTF-8 nor GBK/GB18030 text; pass encoding=", path=path)


def _first_lines(text: str, k: int) -> list[str]:
    """``text.splitlines()[:k]`` without splitting a whole large text."""
    size = 1 << 16
    while size < len(text):
        lines = text[:size].splitlines()
        if len(lines) > k:   # the first k lines are whole: the (k+1)-th starts after them
            return lines[:k]
        size *= 4
    return text.splitlines()[:k]


def _sniff_delimiter(text: str) -> str:
    lines = [ln for ln in _first_lines(text, 50) if ln.strip()][:25]
    best, best_score = ",", (-1, -1)
    for d in _DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(lines, delimiter=d)]
        except csv.Error:
            continue
        if not counts:
            continue
        widths = [c for c in counts if c > 1]
        if not widths:
            continue
        mode = max(set(widths), key=lambda w: (widths.count(w), w))
        score = (widths.count(mode), mode)
        if score > best_score:
            best, best_score = d, score
    return best


def _read_text(path: Path, data: bytes, encoding, sep) -> _Table:
    text, enc = _decode(data, encoding, path)
    if not text or text.isspace():   # all whitespace (text.strip() would copy a large text)
        raise DataError("is empty (no header, no rows)", path=path)
    if sep is None:
        sep = "\t" if path.suffix.lower() == ".tsv" and "\t" in text else _sniff_delimiter(text)
    fmt = "csv" if sep != "\t" else "tsv"
    table = _text_table_arrow(text, data, enc, sep, fmt)
    if table is not None:
        return table
    rows = []
    try:
        for rec in csv.reader(_io.StringIO(text, newline=""), delimiter=sep):
            rows.append(rec)
    except csv.Error as exc:
        raise _fail(path, "CSV/TSV file", exc) from None
    return _table_from_rows(rows, fmt, typed=False, encoding=enc)


def _text_table_arrow(text: str, data: bytes, enc: str, sep, fmt: str) -> _Table | None:
    """The table of a plain delimited text, parsed by Arrow's CSV reader; None when the text is
    not plain enough for the result to be exactly what ``csv.reader`` gives.

    Plain: no quote character at all (then a record is a line, ended by \\r\\n, \\r or \\n, and
    its cells are the line split at the delimiter), no NUL, no byte-order mark left in the text,
    every record with the same number of cells (at least two), no cell longer than csv's field
    limit. A blank line comes back as a row of empty cells instead of no cells: both are blank
    rows, skipped alike.
    """
    if not isinstance(sep, str) or len(sep) != 1 or sep in '"\r\n' or '"' in text or "\x00" in text \
            or text.startswith("\ufeff") or len(text) < _ARROW_MIN_CHARS:
        return None
    first = re.split(r"\r\n|\r|\n", text[:65536], maxsplit=1)[0]
    width = first.count(sep) + 1
    if not first or width < 2:
        return None
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if codecs.lookup(enc).name == "utf-8":
        raw = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    else:
        raw = text.encode("utf-8")
    names = [f"c{i}" for i in range(width)]
    try:
        arrow = pacsv.read_csv(
            pa.BufferReader(raw),
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(delimiter=sep, quote_char=False, double_quote=False, escape_char=False,
                                              newlines_in_values=False, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.large_string() for c in names},
                                                 null_values=[], strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, UnicodeEncodeError):   # rows of different lengths, ...
        return None
    import pyarrow.compute as pc

    limit = csv.field_size_limit()
    columns = []
    for col in arrow.columns:
        longest = pc.max(pc.utf8_length(col)).as_py() if len(col) else 0
        if longest is not None and longest > limit:
            return None                              # csv.reader refuses such a file
        columns.append(Cells(_cells.TEXT, pd.arrays.ArrowStringArray(col)))
    n = arrow.num_rows
    return _Table(columns, np.full(n, width, dtype=np.int64), np.arange(1, n + 1), fmt, encoding=enc)


_ARROW_MIN_CHARS = 1 << 16   # smaller texts: csv.reader is as quick and needs no second look


def _sheet_rows_xlsx(ws, limit=None) -> list[list[Any]]:
    out = []
    for i, row in enumerate(ws.iter_rows(values_only=True)):
        if limit is not None and i >= limit:
            break
        out.append(list(row))
    return out


def _pick_sheet(names: list[str], sheet, loader, path, table_hint) -> tuple[str, list[list[Any]]]:
    if sheet is not None:
        if isinstance(sheet, int) and not isinstance(sheet, bool):
            if not 0 <= sheet < len(names):
                raise DataError(f"has no sheet number {sheet} (sheets: {names})", path=path)
            name = names[sheet]
        elif sheet in names:
            name = sheet
        else:
            raise DataError(f"has no sheet {sheet!r} (sheets: {names})", path=path)
        return name, loader(name, None)
    if not names:
        raise DataError("has no sheets", path=path)
    best, best_score = names[0], -1
    for name in names:
        score = _header_guess(loader(name, HEADER_SCAN_ROWS), table_hint)[2] if len(names) > 1 else 0
        if score > best_score:
            best, best_score = name, score
    return best, loader(best, None)


def _read_xlsx(path: Path, data: bytes, sheet, table_hint) -> _Table:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(_io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, XML errors of a damaged file
        raise _fail(path, ".xlsx workbook", exc) from None
    try:
        def load(name, limit):
            return _sheet_rows_xlsx(wb[name], limit)
        name, rows = _pick_sheet(list(wb.sheetnames), sheet, load, path, table_hint)
    except BaodeEvalError:
        raise
    except Exception as exc:
        raise _fail(path, ".xlsx workbook", exc) from None
    finally:
        wb.close()
    return _table_from_rows(rows, "xlsx", typed=True, sheet=name)


def _read_xls(path: Path, data: bytes, sheet, table_hint) -> _Table:
    try:
        import xlrd
    except ImportError:  # pragma: no cover - xlrd is a dependency
        raise DataError("is an .xls workbook; install xlrd to read it", path=path) from None
    try:
        # xlrd reports damage on its log file (stdout by default): keep it out of the user's output
        book = xlrd.open_workbook(file_contents=data, on_demand=True, logfile=_io.StringIO(), verbosity=0)
    except Exception as exc:
        raise _fail(path, ".xls workbook", exc) from None

    def load(name, limit):
        ws = book.sheet_by_name(name)
        n = ws.nrows if limit is None else min(limit, ws.nrows)
        rows = []
        for r in range(n):
            cells = []
            for c in range(ws.ncols):
                cell = ws.cell(r, c)
                if cell.ctype == xlrd.XL_CELL_DATE:
                    try:
                        cells.append(xlrd.xldate_as_datetime(cell.value, book.datemode))
                    except Exception:
                        cells.append(cell.value)
                elif cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                    cells.append(None)
                elif cell.ctype == xlrd.XL_CELL_ERROR:
                    cells.append("#ERROR")
                else:
                    cells.append(cell.value)
            rows.append(cells)
        return rows

    try:
        name, rows = _pick_sheet(list(book.sheet_names()), sheet, load, path, table_hint)
    except BaodeEvalError:
        raise
    except Exception as exc:
        raise _fail(path, ".xls workbook", exc) from None
    return _table_from_rows(rows, "xls", typed=True, sheet=name)


def _frame_table(df: pd.DataFrame, fmt: str) -> _Table:
    """A typed frame (Parquet, Stata) as a table: typed columns stay typed arrays."""
    columns = [_cells.from_series(df.iloc[:, i]) for i in range(df.shape[1])]
    n = len(df)
    return _Table(columns, np.full(n, df.shape[1], dtype=np.int64), np.arange(2, n + 2), fmt,
                  header=[str(c) for c in df.columns], typed=True)


# one block per column: the reader takes the frame apart column by column, so pandas need not
# consolidate columns into 2-D blocks first (same dtypes and values; pandas >= 3 takes the option)
_PARQUET_OPTIONS = ({"to_pandas_kwargs": {"split_blocks": True}}
                    if "to_pandas_kwargs" in inspect.signature(pd.read_parquet).parameters else {})


def _read_parquet(path: Path) -> _Table:
    try:
        df = pd.read_parquet(path, **_PARQUET_OPTIONS)
    except Exception as exc:
        raise _fail(path, "Parquet file", exc) from None
    return _frame_table(df, "parquet")


def _read_dta(path: Path) -> _Table:
    try:
        with pd.io.stata.StataReader(path) as reader:
            df = reader.read(convert_categoricals=True)
            labels = reader.variable_labels()
    except Exception as exc:
        raise _fail(path, "Stata .dta file", exc) from None
    grid = _frame_table(df, "dta")
    # Stata names cannot hold every Chinese header; fall back to the variable label
    grid.header = [c if schema.lookup(c, "person") or not labels.get(c) else labels[c] for c in grid.header]
    return grid


# --- header detection ------------------------------------------------------------------------

_blank = _cells.blank


def _text(v) -> str:
    return "" if _blank(v) else str(v).strip()


def _labels_at(rows: list[list[Any]], r: int, top: int, width: int) -> list[str]:
    """Header labels if row ``r`` is the last header row, rows ``top..r`` the header block.

    An empty cell takes the nearest label above it (a vertically merged header); a child label is
    first tried with its group label in front (``劳动力`` + ``人数`` = ``劳动力人数``), then alone.
    """
    labels = []
    for c in range(width):
        chain = []
        for rr in range(r, top - 1, -1):
            row = rows[rr]
            v = _text(row[c]) if c < len(row) else ""
            if not v and rr == r:
                continue
            if v:
                chain.append(v)
            if rr < r and not v:
                # horizontally merged group header: look left for its label
                left = next((_text(row[cc]) for cc in range(c - 1, -1, -1) if cc < len(row) and _text(row[cc])), "")
                if left and rr < r:
                    chain.append(left)
                break
        if not chain:
            labels.append("")
            continue
        label = chain[0]
        # group + child first: under 劳动力 and 就业, two columns headed 人数 are not household size
        for parent in chain[1:]:
            if schema.lookup(parent + label, "person"):
                label = parent + label
                break
        labels.append(label)
    return labels


def _header_guess(rows: list[list[Any]], table_hint: str | None) -> tuple[int, int, int]:
    """(top, last header row, score) for the header block among the first rows."""
    scan = rows[:HEADER_SCAN_ROWS]
    width = max((len(r) for r in scan), default=0)
    best = (0, 0, -1)
    top = 0
    for r, row in enumerate(scan):
        filled = sum(1 for v in row if not _blank(v))
        if filled <= 1 and width > 1:
            top = r + 1   # a title row (one merged cell) cannot be part of the header block
            continue
        for t in range(max(top, r - 2), r + 1):
            labels = _labels_at(scan, r, t, width)
            score = sum(1 for lab in labels if lab and schema.lookup(lab, "person"))
            if score > best[2]:
                best = (t, r, score)
    return best


def _find_header(grid: _Table, header_row: int | None, path) -> tuple[list[str], int, list[int]]:
    """Labels, index of the first data row, and the source numbers of the header rows."""
    if grid.header is not None:
        return grid.header, 0, []
    if not any(col.notblank().any() for col in grid.columns):
        raise DataError("is empty (no header, no rows)", path=path)
    width = int(grid.lengths.max())
    numbers = grid.numbers.tolist()
    if header_row is not None:
        idx = numbers.index(header_row) if header_row in numbers else None
        if idx is None:
            raise DataError(f"has no row {header_row}", path=path)
        row = grid.row(idx)
        labels = [_text(row[c]) if c < len(row) else "" for c in range(width)]
        return labels, idx + 1, [numbers[idx]]
    rows = grid.head(HEADER_SCAN_ROWS)
    top, last, score = _header_guess(rows, None)
    if score <= 0:
        filled = np.zeros(len(grid), bool)
        for col in grid.columns:
            filled |= col.notblank()
        first = grid.row(int(np.argmax(filled)))
        shown = ", ".join(repr(_text(v)[:20]) for v in first[:5] if not _blank(v))
        raise DataError(f"has no header the codebook recognises (first row: {shown}); "
                        "check the delimiter, the sheet (sheet=) or the header row (header_row=)", path=path)
    width = max(len(r) for r in rows[: last + 1])
    labels = _labels_at(rows, last, top, width)
    return labels, last + 1, numbers[top: last + 1]


# --- the reader ------------------------------------------------------------------------------

def read(path, *, table: Level = "auto", level: Level | None = None, sheet=None, encoding: str | None = None,
         sep: str | None = None, header_row: int | None = None, year: int | None = None,
         protect: privacy.Protect = "drop", salt: str | None = None, derive_from_id: bool = False,
         keep_unknown: bool = False, lang: str = "en", **rule_options) -> ReadResult:
    """Read a household or person file into canonical, validated, protected tables.

    Parameters
    ----------
    path : CSV/TSV (UTF-8, UTF-8 with BOM, UTF-16, GBK/GB18030 detected), .xlsx, .xls, Parquet or Stata .dta.
    table : ``"household"``, ``"person"`` or ``"auto"`` (person when a 人编号 / person_id column exists).
    level : ``"household"`` on a person file collapses persons into households (see :func:`collapse`);
        default: the table's own level.
    sheet : sheet name or 0-based number; default: the sheet whose header the codebook knows best.
    encoding, sep, header_row : override detection (``header_row`` is the source row number).
    year : fills a missing ``year`` column (one export per year is common).
    protect : ``"drop"`` (default) or ``"pseudonymise"`` (needs ``salt``) names, ID and phone
        numbers, by header and by pattern, in ``data`` and ``quarantine``; ``"keep"`` leaves them
        (never use it for anything that is published). Issue values of personal columns are
        masked in every mode.
    derive_from_id : add ``age``/``sex`` (person) or ``head_age``/``head_sex`` (household) from the
        ID number before it is removed; age in completed years at the end of ``year``.
    keep_unknown : keep columns the codebook does not know (their text is still scanned for
        ID and phone numbers). Default: dropped, listed as ``info`` issues.
    lang : ``"zh"`` or ``"en"`` for issue messages.
    rule_options : parameters of :class:`baode_eval.checks.Options` (``programme_years``,
        ``income_outlier_bounds``, ``income_abs_tolerance``, ``income_rel_tolerance``,
        ``quick_clearance_months``, ``severity``).

    Raises DataError (naming the file) when the file is missing or cannot be read as a table.
    """
    check_lang(lang)
    privacy.check_protect(protect)
    if protect == "pseudonymise":
        privacy._check_salt(salt)
    if table not in ("auto", *schema.TABLES):
        raise ParameterError(f"table must be one of ['auto', 'household', 'person'], got {table!r}")
    if level not in (None, "auto", *schema.TABLES):
        raise ParameterError(f"level must be one of [None, 'household', 'person'], got {level!r}")
    unknown = set(rule_options) - set(checks.Options.__dataclass_fields__) - {"lang"}
    if unknown:
        raise ParameterError(f"unknown option(s) {sorted(unknown)}; read() takes {sorted(_READ_OPTIONS)}")
    options = checks.Options(lang=lang, **rule_options)

    path = Path(path)
    if not path.is_file():
        raise DataError("file not found" if not path.exists() else "is not a file", path=path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot be opened ({exc.strerror})", path=path) from None
    if not data:
        raise DataError("is empty (0 bytes)", path=path)
    fmt = _sniff_format(path, data[:16])
    hint = None if table == "auto" else table
    with warnings.catch_warnings():
        # library warnings about a damaged or unusual file (openpyxl, xlrd, Stata) are not for the
        # user's terminal; what matters reaches the issue table or a DataError
        warnings.simplefilter("ignore")
        if fmt == "text":
            grid = _read_text(path, data, encoding, sep)
        elif fmt == "xlsx":
            grid = _read_xlsx(path, data, sheet, hint)
        elif fmt == "xls":
            grid = _read_xls(path, data, sheet, hint)
        elif fmt == "parquet":
            grid = _read_parquet(path)
        else:
            grid = _read_dta(path)
    del data   # the table holds what is needed (the bytes of a large text are large)
    try:
        return _build(path, grid, table=table, level=level, header_row=header_row, year=year, protect=protect,
                      salt=salt, derive_from_id=derive_from_id, keep_unknown=keep_unknown, options=options)
    except BaodeEvalError:
        raise
    except (ValueError, TypeError, OverflowError, KeyError, IndexError) as exc:  # pragma: no cover - safety net
        raise _fail(path, "table", exc) from None


_READ_OPTIONS = {"table", "level", "sheet", "encoding", "sep", "header_row", "year", "protect", "salt",
                 "derive_from_id", "keep_unknown", "lang", *checks.Options.__dataclass_fields__}


def _is_total_cell(v) -> bool:
    """A cell that marks a total row (合计, 总计:, Total …); a row is one if any of its first six cells is."""
    if not isinstance(v, str) or not _total_initial(v[:1]):
        return False
    words = schema.value_words("total_row")
    s = schema.normalise_header(v).rstrip(":：")
    return s in words or (len(s) <= 6 and any(s.startswith(w) for w in words))


@lru_cache(maxsize=4096)
def _total_initial(first: str) -> bool:
    """Whether a cell starting with ``first`` can be a total-row word (a quick test before the full one)."""
    words = schema.value_words("total_row")
    return schema.normalise_header(first or " ")[:1] in {w[0] for w in words} | {""}


def _body_rows(grid: _Table, first: int, width: int):
    """Which rows after the header are data: blank rows skipped, total rows and trailing notes
    (single-cell rows after the last data row; a single-cell row followed by data is data) listed.

    Returns the data rows (indices into ``grid``), the (rule, row number) of skipped total and note
    rows, ragged rows {body position: filled cells} and short rows [body position].
    """
    m = len(grid) - first
    filled = np.zeros(m, dtype=np.int64)
    beyond = np.zeros(m, bool)            # a filled cell right of the header's last column
    total = np.zeros(m, bool)
    for c, col in enumerate(grid.columns):
        nb = col.notblank()[first:]
        filled += nb
        if c >= width:
            beyond |= nb
        if c < 6 and col.kind in (_cells.TEXT, _cells.OBJECT):
            total |= col.map_distinct(_is_total_cell, missing=False, dtype=bool)[first:]
    total &= filled > 0
    candidate = (filled > 0) & ~total
    if width > 2 and grid.header is None:
        note_like = candidate & (filled == 1)
    else:
        note_like = np.zeros(m, bool)
    data = candidate & ~note_like
    last_data = int(np.flatnonzero(data)[-1]) if data.any() else -1
    after = np.arange(m) > last_data
    notes = note_like & after
    body = data | (note_like & ~after)     # single-cell rows followed by data are data
    numbers = grid.numbers[first:]
    info = [("total_row", int(x)) for x in numbers[total]] + [("note_row", int(x)) for x in numbers[notes]]
    position = np.cumsum(body) - 1
    lengths = grid.lengths[first:]
    ragged = {int(position[i]): int(filled[i]) for i in np.flatnonzero(data & (lengths > width) & beyond)}
    short = [int(position[i]) for i in np.flatnonzero(data & (lengths < width))] if not grid.typed else []
    return first + np.flatnonzero(body), info, ragged, short


def _build(path: Path, grid: _Table, *, table, level, header_row, year, protect, salt, derive_from_id,
           keep_unknown, options: checks.Options) -> ReadResult:
    labels, first, header_numbers = _find_header(grid, header_row, path)
    width = len(labels)

    # the table: a person file has a person ID column
    if table == "auto":
        table = "person" if any(schema.lookup(lab, "person") == "person_id" for lab in labels) else "household"
    fields = schema.all_fields(table)
    out = checks.Collector(options, table)

    # map headers
    mapping: dict[int, str] = {}
    unknown_cols: dict[int, str] = {}
    for c, lab in enumerate(labels):
        name = schema.lookup(lab, table)
        if name is None:
            if lab:
                unknown_cols[c] = lab
            continue
        if name in mapping.values():
            out.add("duplicate_column", None, name, lab)
            continue
        mapping[c] = name

    # body rows: skip blank, total and trailing note rows
    rows, info_rows, ragged, short = _body_rows(grid, first, width)
    n = len(rows)
    if first == 0 and n == len(grid):
        taken = None                                  # every row is data (Parquet, Stata)
    elif n and rows[-1] - rows[0] == n - 1:
        taken = slice(int(rows[0]), int(rows[0]) + n)  # one run of rows (a CSV under its header)
    else:
        taken = rows
    raw = [col.take(taken) for col in grid.columns[:width]]
    row_numbers = grid.numbers[rows]
    out.row_numbers = row_numbers

    # file-level and row-level reading issues
    for rule, number in info_rows:
        out.records.append({"rule": rule, "_pos": None, "column": None, "value": "",
                            "message": checks.message(rule, options.lang), "severity": options.severity_of(rule),
                            "_row": number})
    for pos, ncells in ragged.items():
        out.add("ragged_row", pos, None, ncells)
    for pos in short:
        out.add("short_row", pos, None)

    # typed canonical columns
    typed: dict[str, pd.Series] = {}
    for c, name in mapping.items():
        f = fields[name]
        values, bad = _cells.coerce(raw[c], f)
        typed[name] = values
        for pos, rule in bad:
            extra = {"categories": list(f.categories or [])} if rule == "category" else {}
            out.add(rule, pos, name, raw[c].cell(pos), **extra)
    if "year" not in typed and year is not None:
        typed["year"] = pd.Series(pd.array(np.full(n, int(year), dtype=np.int64), dtype="Int64"), index=range(n))
    order = [f for f in fields if f in typed]
    frame = pd.DataFrame({name: typed[name] for name in order}, index=range(n), copy=False)

    _check_id_cells(raw, mapping, out)
    required = ["household_id"] + (["person_id"] if table == "person" else [])
    missing_required = [r for r in required if r not in frame.columns]
    for r in missing_required:
        out.add("required_column", None, r)
    if not missing_required:
        checks.run_table_rules(frame, out)

    # unknown columns: dropped (or kept as text); personal patterns recognised either way
    personal = set(privacy.personal_fields(table)) & set(frame.columns)
    if unknown_cols:
        extra_cols = {lab: c for c, lab in unknown_cols.items() if lab not in frame.columns}   # the last of a name
        for lab in extra_cols:
            if keep_unknown:
                continue
            out.records.append({"rule": "unknown_column", "_pos": None, "column": lab, "value": "",
                                "message": checks.message("unknown_column", options.lang), "severity":
                                options.severity_of("unknown_column")})
        if keep_unknown:
            extra_frame = pd.DataFrame({lab: _text_series(raw[c].texts(), range(n)) for lab, c in extra_cols.items()},
                                       index=range(n))
            frame = pd.concat([frame, extra_frame.astype(object)], axis=1)
    key_cols = tuple(schema.key(table))
    by_pattern = privacy.pattern_columns(frame, skip=key_cols + tuple(personal))
    for col in by_pattern:
        out.add("personal_by_pattern", None, col)
    personal |= set(by_pattern)
    # a ledger keyed by the head's ID number: the key cannot be dropped, so it is replaced
    key_personal = [k for k in privacy.pattern_columns(frame[[k for k in key_cols if k in frame.columns]])
                    if k != "year"]
    for col in key_personal:
        out.add("personal_by_pattern", None, col)

    # quarantine
    out_level = level if level not in (None, "auto") else table
    if out_level == "person" and table == "household":
        raise ParameterError("level='person' needs a person file; this file has household rows")
    error_pos = sorted({r["_pos"] for r in out.records if r["severity"] == "error" and r["_pos"] is not None})
    if missing_required:
        error_pos = list(range(n))
    elif out_level == "household" and table == "person" and error_pos:
        error_pos = _whole_households(frame, error_pos, out)
    bad_mask = np.zeros(n, bool)
    bad_mask[error_pos] = True

    if derive_from_id and "id_number" in frame.columns:
        ref = frame["year"] if "year" in frame.columns else pd.Timestamp.today().year
        age, sex = privacy.derive_age_sex(frame["id_number"], ref)
        a, s = ("age", "sex") if table == "person" else ("head_age", "head_sex")
        if a not in frame.columns or frame[a].isna().all():
            frame[a] = age
        if s not in frame.columns or frame[s].isna().all():
            frame[s] = sex

    valid = frame.loc[~bad_mask].reset_index(drop=True) if bad_mask.any() else frame
    raw_q = list(raw)
    for col in key_personal:
        codes = _key_codes(frame[col], protect, salt)
        if protect != "keep":
            valid[col] = pd.array(_lookup_strings(valid[col], codes), dtype="string")
        c = next(c for c, name in mapping.items() if name == col)
        raw_q[c] = Cells(_cells.TEXT, raw[c].map_texts(lambda t: None if t is None else codes.get(t)))
    data = privacy._protect(valid, columns=sorted(personal), mode=protect, salt=salt)   # valid is ours: no copy
    quarantine = _quarantine(raw_q, labels, mapping, unknown_cols, keep_unknown, bad_mask, row_numbers, out,
                             personal, protect, salt)

    issues = _issue_table(out, row_numbers, personal | set(key_personal))
    if out_level == "household" and table == "person":
        data = collapse(data)
    report = Report(path=str(path), format=grid.format, table=table, rows_in=n, rows_valid=int((~bad_mask).sum()),
                    rows_quarantined=int(bad_mask.sum()), issues=issues, encoding=grid.encoding, sheet=grid.sheet,
                    header_rows=tuple(header_numbers), rows_out=len(data), level=out_level)
    return ReadResult(data=data, quarantine=quarantine, report=report)


def _text_series(texts: np.ndarray, index) -> pd.Series:
    """Texts (str or None) as the per-cell ``Series.map`` of the row-by-row reader typed them
    (``str`` when any cell is text, else object)."""
    return pd.Series(texts, index=index, dtype=object).map(lambda v: v)


def _lookup_strings(values: pd.Series, codes: dict) -> np.ndarray:
    """``codes.get(v)`` for each cell of a string column, once per distinct value."""
    found, uniques = pd.factorize(values)
    lut = np.empty(len(uniques) + 1, dtype=object)
    lut[: len(uniques)] = [codes.get(v) for v in uniques]
    lut[len(uniques)] = None
    return lut[np.asarray(found)]


def _key_codes(values: pd.Series, protect: str, salt) -> dict:
    """Replacement of a key column that holds ID or phone numbers: salted pseudonyms, or with
    ``protect="drop"`` codes K000001… in order of first appearance (stable within one file only)."""
    distinct = [v for v in pd.unique(values) if isinstance(v, str)]
    if protect == "pseudonymise":
        return {v: privacy.pseudonym(v, salt) for v in distinct}
    return {v: f"K{i + 1:06d}" for i, v in enumerate(distinct)}


def _whole_households(frame: pd.DataFrame, error_pos: list[int], out: checks.Collector) -> list[int]:
    """Before collapsing, a household with a quarantined member is quarantined whole (its counts would be wrong)."""
    keys = [k for k in ("household_id", "year") if k in frame.columns]
    key = frame[keys[0]].astype("string").fillna("")
    for k in keys[1:]:
        key = key + "\x1f" + frame[k].astype("string").fillna("")
    key = key.to_numpy(dtype=object)
    bad_keys = {key[p]: p for p in reversed(error_pos)}
    is_error = np.zeros(len(frame), bool)
    is_error[error_pos] = True
    extra = np.flatnonzero(pd.Series(key).isin(list(bad_keys)).to_numpy() & ~is_error)
    for p in extra:
        out.add("member_quarantined", int(p), "household_id", other=out.row_of(bad_keys[key[p]]))
    return sorted(set(error_pos) | {int(p) for p in extra})


_SCI = re.compile(r"^\d(\.\d+)?e\+?\d+$", re.I)
_ID_AS_DECIMAL = re.compile(r"\d{15,18}\.0+")


def _id_cell_rule(v) -> str | None:
    """The issue an ID-number cell raises, if any: stored as a number, or not a valid ID number."""
    if _blank(v):
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return "id_as_number"
    s = str(v).strip()
    if _SCI.match(s) or _ID_AS_DECIMAL.fullmatch(s):
        return "id_as_number"
    if not privacy.is_id_number(s):
        return "id_checksum"
    return None


def _check_id_cells(raw: list[Cells], mapping: dict[int, str], out: checks.Collector) -> None:
    for c, name in mapping.items():
        if name != "id_number":
            continue
        col = raw[c]
        if col.kind == _cells.OBJECT:   # equal objects can print differently: cell by cell
            rules = np.array([_id_cell_rule(v) for v in col.values], dtype=object)
        else:
            rules = col.map_distinct(_id_cell_rule)
        for pos in np.flatnonzero(rules != None):  # noqa: E711 - elementwise on an object array
            out.add(rules[pos], int(pos), name, col.cell(int(pos)))


def _mask(value: str) -> str:
    return "***" if value else ""


def _issue_table(out: checks.Collector, row_numbers, personal: set) -> pd.DataFrame:
    records = []
    for rec in out.records:
        rec = dict(rec)
        number = rec.pop("_row", None)
        if rec["column"] in personal or privacy.contains_personal(rec["value"]):
            rec["value"] = _mask(rec["value"])
        rec["message"] = privacy.redact_text(rec["message"])
        if number is not None:
            rec["_pos"] = None
        records.append((rec, number))
    frame = checks.issues_frame([r for r, _ in records], row_numbers)
    rows = frame["row"].tolist()
    for i, (_, number) in enumerate(records):
        if number is not None:
            rows[i] = number
    frame["row"] = pd.array(rows, dtype="Int64")
    sev_order = {"error": 0, "warning": 1, "info": 2}
    frame["_k"] = frame["row"].fillna(0).astype("int64")
    frame["_s"] = frame["severity"].map(sev_order)
    return frame.sort_values(["_k", "_s"], kind="stable").drop(columns=["_k", "_s"]).reset_index(drop=True)


def _quarantine(raw: list[Cells], labels, mapping, unknown_cols, keep_unknown, bad_mask, row_numbers, out, personal,
                protect, salt) -> pd.DataFrame:
    """Source cells (as text, canonical names where known) of quarantined rows, with row and reasons."""
    positions = np.flatnonzero(bad_mask)
    cols = {}
    for c in range(len(raw)):
        name = mapping.get(c) or (unknown_cols.get(c) if keep_unknown else None)
        if name is None or name in cols:
            continue
        cols[name] = _text_series(raw[c].take(positions).texts(), positions)
    q = pd.DataFrame(cols).reset_index(drop=True).astype(object)
    reasons: dict[int, list[str]] = {}
    for rec in out.records:
        if rec["severity"] == "error" and rec["_pos"] is not None:
            reasons.setdefault(rec["_pos"], []).append(f"{rec['rule']}: {rec['message']}")
    q.insert(0, "row", pd.array(row_numbers[positions].tolist(), dtype="Int64"))
    file_errors = [f"{r['rule']}: {r['message']}" for r in out.records if r["severity"] == "error" and r["_pos"] is None]
    q["reasons"] = ["; ".join(reasons.get(int(p), []) + file_errors) for p in positions]
    mode = "drop" if protect == "keep" else protect  # a quarantine dump never holds personal data
    q = privacy._protect(q, columns=sorted(personal), mode=mode, salt=salt)
    # reasons quote values: mask any personal pattern that a message carried
    q["reasons"] = q["reasons"].map(privacy.redact_text)
    return q


# --- persons to households -------------------------------------------------------------------

# household field <- (how, person field): how the person rows of one household add up
PERSON_TO_HOUSEHOLD = {
    "household_size": ("count", None),
    "labour_members": ("sum", "labour_capable"),
    "employed_members": ("sum", "employed"),
    "public_welfare_job_members": ("sum", "public_welfare_job"),
    "workshop_job_members": ("sum", "workshop_job"),
    "trained_members": ("sum", "trained"),
    "medical_insured_members": ("sum", "medical_insured"),
    "serious_illness_insured_members": ("sum", "serious_illness_insured"),
    "elders_in_need": ("sum", "needs_care"),
    "months_worked": ("sum", "months_worked"),
    "local_employed_members": ("count_eq", ("work_place", "县内")),
}


def collapse(persons: pd.DataFrame) -> pd.DataFrame:
    """Household-year rows from person-year rows, grouped by ``household_id`` (and ``year``).

    Member counts come from :data:`PERSON_TO_HOUSEHOLD` (count of rows, sums of yes/no person
    fields, months summed); household fields repeated on every person row (income, site, status)
    take the first non-empty value. A household count that the file already gives (e.g. a 人数
    column) is kept as given. Person-only fields and personal data are not carried over.
    """
    if "household_id" not in persons.columns:
        raise ParameterError("collapsing persons into households needs a household_id column")
    keys = ["household_id"] + (["year"] if "year" in persons.columns else [])
    hh_fields = schema.field_map("household")
    person_only = set(schema.field_map("person")) - set(hh_fields)
    g = persons.groupby(keys, sort=False, dropna=False)
    out = g.size().rename("_n").reset_index()
    for name in hh_fields:
        if name in keys or name not in persons.columns or hh_fields[name].personal:
            continue
        first = g[name].first().reset_index(drop=True)
        out[name] = first.astype(persons[name].dtype) if len(first) else persons[name].iloc[:0]
    for target, (how, source) in PERSON_TO_HOUSEHOLD.items():
        if target in out.columns and out[target].notna().all() and how == "count":
            continue
        if how == "count":
            out[target] = pd.array(out["_n"].tolist(), dtype="Int64")
        elif how == "sum" and source in persons.columns and source in person_only | {"months_worked"}:
            vals = persons[source]
            if pd.api.types.is_bool_dtype(vals) or str(vals.dtype) == "boolean":
                vals = vals.astype("Int64")
            summed = vals.groupby([persons[k] for k in keys], sort=False, dropna=False).sum(min_count=1)
            summed = summed.reset_index(drop=True)
            out[target] = summed.astype(hh_fields[target].type == "int" and "Int64" or float)
        elif how == "count_eq" and source[0] in persons.columns:
            hit = (persons[source[0]].astype("string") == source[1]).fillna(False).astype("Int64")
            out[target] = hit.groupby([persons[k] for k in keys], sort=False, dropna=False).sum().reset_index(
                drop=True).astype("Int64")
    order = [f for f in hh_fields if f in out.columns]
    return out[order].reset_index(drop=True)
