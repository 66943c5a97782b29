"""The reader as it was before the column-wise rewrite (kept frozen, cell by cell): the reference.

``_read_reference(path, **options)`` gives what ``baode_eval.read`` gave before it was made
column-wise (0.1.0.dev0), row by row and cell by cell in Python — with one bug fixed, marked
"THE ONE CHANGE" below. It is used only by ``tests/test_reader_equivalence.py`` (the
fast reader must give the same ``data``, ``quarantine`` and ``report`` for every test file) and
by ``bench/bench_reader.py`` (old against new). Do not optimise it and do not call it from the
package. When the reader's behaviour changes on purpose, change it here too (or retire this
module together with the equivalence test) and say so in the CHANGELOG.

The per-cell helpers that the fast reader replaced (``schema.coerce_column``,
``privacy.pattern_columns``, ``privacy.protect``) are frozen copies below, so that a change to
the package's versions is compared against the old behaviour, not against itself.
"""
from __future__ import annotations

import csv
import io as _io
import json
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from . import checks, privacy, schema
from .io import ReadResult, Report, collapse
from .errors import BaodeEvalError, DataError, ParameterError
from .i18n import check_lang

Level = Literal["auto", "household", "person"]
HEADER_SCAN_ROWS = 30
_DELIMITERS = (",", "\t", ";", "|")


@dataclass
class _Grid:
    """Cells of a table before headers are known; ``numbers`` are source row numbers (1-based)."""

    rows: list[list[Any]]
    numbers: list[int]
    format: str
    encoding: str | None = None
    sheet: str | None = None
    header: list[str] | None = None   # known for Parquet/Stata
    typed: bool = False               # cells carry types (Excel, Parquet, Stata) rather than text
    extra_issues: list = field(default_factory=list)


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


def _sniff_delimiter(text: str) -> str:
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()][:25]
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


def _read_text(path: Path, data: bytes, encoding, sep) -> _Grid:
    text, enc = _decode(data, encoding, path)
    if not text.strip():
        raise DataError("is empty (no header, no rows)", path=path)
    if sep is None:
        sep = "\t" if path.suffix.lower() == ".tsv" and "\t" in text else _sniff_delimiter(text)
    rows = []
    try:
        for rec in csv.reader(_io.StringIO(text, newline=""), delimiter=sep):
            rows.append(rec)
    except csv.Error as exc:
        raise _fail(path, "CSV/TSV file", exc) from None
    return _Grid(rows=rows, numbers=list(range(1, len(rows) + 1)), format="csv" if sep != "\t" else "tsv",
                 encoding=enc)


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


def _read_xlsx(path: Path, data: bytes, sheet, table_hint) -> _Grid:
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
    return _Grid(rows=rows, numbers=list(range(1, len(rows) + 1)), format="xlsx", sheet=name, typed=True)


def _read_xls(path: Path, data: bytes, sheet, table_hint) -> _Grid:
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
    return _Grid(rows=rows, numbers=list(range(1, len(rows) + 1)), format="xls", sheet=name, typed=True)


def _frame_grid(df: pd.DataFrame, fmt: str) -> _Grid:
    cols = [str(c) for c in df.columns]
    values = []
    for name in df.columns:
        s = df[name]
        values.append([None if (v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)))
                       else (v.item() if isinstance(v, np.generic) else v) for v in s.astype(object).tolist()])
    rows = [list(r) for r in zip(*values)] if values else []
    return _Grid(rows=rows, numbers=list(range(2, len(rows) + 2)), format=fmt, header=cols, typed=True)


def _read_parquet(path: Path) -> _Grid:
    try:
        df = pd.read_parquet(path)
    except Exception as exc:
        raise _fail(path, "Parquet file", exc) from None
    return _frame_grid(df, "parquet")


def _read_dta(path: Path) -> _Grid:
    try:
        with pd.io.stata.StataReader(path) as reader:
            df = reader.read(convert_categoricals=True)
            labels = reader.variable_labels()
    except Exception as exc:
        raise _fail(path, "Stata .dta file", exc) from None
    grid = _frame_grid(df, "dta")
    # Stata names cannot hold every Chinese header; fall back to the variable label
    grid.header = [c if schema.lookup(c, "person") or not labels.get(c) else labels[c] for c in grid.header]
    return grid


# --- header detection ------------------------------------------------------------------------

def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


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


def _find_header(grid: _Grid, header_row: int | None, path) -> tuple[list[str], int, list[int]]:
    """Labels, index of the first data row, and the source numbers of the header rows."""
    if grid.header is not None:
        return grid.header, 0, []
    rows = grid.rows
    if not any(any(not _blank(v) for v in r) for r in rows):
        raise DataError("is empty (no header, no rows)", path=path)
    width = max(len(r) for r in rows)
    if header_row is not None:
        idx = grid.numbers.index(header_row) if header_row in grid.numbers else None
        if idx is None:
            raise DataError(f"has no row {header_row}", path=path)
        labels = [_text(rows[idx][c]) if c < len(rows[idx]) else "" for c in range(width)]
        return labels, idx + 1, [grid.numbers[idx]]
    top, last, score = _header_guess(rows, None)
    if score <= 0:
        first = next(r for r in rows if any(not _blank(v) for v in r))
        shown = ", ".join(repr(_text(v)[:20]) for v in first[:5] if not _blank(v))
        raise DataError(f"has no header the codebook recognises (first row: {shown}); "
                        "check the delimiter, the sheet (sheet=) or the header row (header_row=)", path=path)
    width = max(len(r) for r in rows[: last + 1])
    labels = _labels_at(rows, last, top, width)
    return labels, last + 1, grid.numbers[top: last + 1]


# --- the reader ------------------------------------------------------------------------------

def _read_reference(path, *, table: Level = "auto", level: Level | None = None, sheet=None, encoding: str | None = None,
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
    try:
        return _build(path, grid, table=table, level=level, header_row=header_row, year=year, protect=protect,
                      salt=salt, derive_from_id=derive_from_id, keep_unknown=keep_unknown, options=options)
    except BaodeEvalError:
        raise
    except (ValueError, TypeError, OverflowError, KeyError, IndexError) as exc:  # pragma: no cover - safety net
        raise _fail(path, "table", exc) from None


_READ_OPTIONS = {"table", "level", "sheet", "encoding", "sep", "header_row", "year", "protect", "salt",
                 "derive_from_id", "keep_unknown", "lang", *checks.Options.__dataclass_fields__}


def _is_total_row(cells: list[Any]) -> bool:
    words = schema.value_words("total_row")
    initials = {w[0] for w in words}
    for v in cells[:6]:
        if isinstance(v, str) and schema.normalise_header(v[:1] or " ")[:1] in initials | {""}:
            s = schema.normalise_header(v).rstrip(":：")
            if s in words or (len(s) <= 6 and any(s.startswith(w) for w in words)):
                return True
    return False


def _build(path: Path, grid: _Grid, *, table, level, header_row, year, protect, salt, derive_from_id,
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
    body, numbers, pending_notes, ragged, short = [], [], [], {}, []
    info_rows: list[tuple[str, int]] = []
    for cells, number in zip(grid.rows[first:], grid.numbers[first:]):
        filled = [v for v in cells if (v.strip() if isinstance(v, str) else not _blank(v))]
        if not filled:
            continue
        if _is_total_row(cells):
            info_rows.append(("total_row", number))
            continue
        if len(filled) == 1 and width > 2 and grid.header is None:
            pending_notes.append((cells, number))   # a single-cell row: a note, unless data follow
            continue
        for cells_n, number_n in pending_notes:
            # THE ONE CHANGE to the frozen code: the old reader appended such a row unpadded, and one
            # shorter than the header crashed it (IndexError -> "not a readable table"); the reader
            # now pads it like every other row, and so does the reference
            body.append(list(cells_n) + [None] * max(0, width - len(cells_n)))
            numbers.append(number_n)
        pending_notes = []
        if len(cells) > width:
            if any(not _blank(v) for v in cells[width:]):
                ragged[len(body)] = len(cells) - sum(1 for v in reversed(cells) if _blank(v))
        elif len(cells) < width and not grid.typed:
            short.append(len(body))
        body.append(list(cells[:width]) + [None] * max(0, width - len(cells)))
        numbers.append(number)
    for _, number in pending_notes:
        info_rows.append(("note_row", number))

    n = len(body)
    raw = pd.DataFrame({c: pd.Series([r[c] for r in body], dtype=object) for c in range(width)}, index=range(n))
    row_numbers = np.asarray(numbers, dtype=np.int64)
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
        values, bad = _coerce_column(raw[c], f)
        typed[name] = values
        for pos, rule in sorted(bad.items()):
            extra = {"categories": list(f.categories or [])} if rule == "category" else {}
            out.add(rule, pos, name, raw[c].iloc[pos], **extra)
    if "year" not in typed and year is not None:
        typed["year"] = pd.Series(pd.array([int(year)] * n, dtype="Int64"), index=range(n))
    order = [f for f in fields if f in typed]
    frame = pd.DataFrame({name: typed[name] for name in order}, index=range(n))

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
        extra_frame = pd.DataFrame({lab: raw[c].map(lambda v: None if _blank(v) else schema.parse_string(v))
                                    for c, lab in unknown_cols.items() if lab not in frame.columns}, index=range(n))
        for lab in extra_frame.columns:
            if keep_unknown:
                continue
            out.records.append({"rule": "unknown_column", "_pos": None, "column": lab, "value": "",
                                "message": checks.message("unknown_column", options.lang), "severity":
                                options.severity_of("unknown_column")})
        if keep_unknown:
            frame = pd.concat([frame, extra_frame.astype(object)], axis=1)
    key_cols = tuple(schema.key(table))
    by_pattern = _pattern_columns(frame, skip=key_cols + tuple(personal))
    for col in by_pattern:
        out.add("personal_by_pattern", None, col)
    personal |= set(by_pattern)
    # a ledger keyed by the head's ID number: the key cannot be dropped, so it is replaced
    key_personal = [k for k in _pattern_columns(frame[[k for k in key_cols if k in frame.columns]])
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

    valid = frame.loc[~bad_mask].reset_index(drop=True)
    raw_q = raw
    for col in key_personal:
        codes = _key_codes(frame[col], protect, salt)
        if protect != "keep":
            valid[col] = pd.array([codes.get(v) for v in valid[col].tolist()], dtype="string")
        c = next(c for c, name in mapping.items() if name == col)
        raw_q = raw_q.copy() if raw_q is raw else raw_q
        raw_q[c] = pd.Series([None if _blank(v) else codes.get(schema.parse_string(v)) for v in raw[c].tolist()],
                             index=raw.index, dtype=object)
    data = _protect(valid, columns=sorted(personal), mode=protect, salt=salt)
    quarantine = _quarantine(raw_q, labels, mapping, unknown_cols, keep_unknown, bad_mask, row_numbers, out,
                             personal, protect, salt)

    issues = _issue_table(out, row_numbers, personal | set(key_personal))
    if out_level == "household" and table == "person":
        data = collapse(data)
    report = Report(path=str(path), format=grid.format, table=table, rows_in=n, rows_valid=int((~bad_mask).sum()),
                    rows_quarantined=int(bad_mask.sum()), issues=issues, encoding=grid.encoding, sheet=grid.sheet,
                    header_rows=tuple(header_numbers), rows_out=len(data), level=out_level)
    return ReadResult(data=data, quarantine=quarantine, report=report)


def _key_codes(values: pd.Series, protect: str, salt) -> dict:
    """Replacement of a key column that holds ID or phone numbers: salted pseudonyms, or with
    ``protect="drop"`` codes K000001… in order of first appearance (stable within one file only)."""
    distinct = [v for v in dict.fromkeys(values.tolist()) if isinstance(v, str)]
    if protect == "pseudonymise":
        return {v: privacy.pseudonym(v, salt) for v in distinct}
    return {v: f"K{i + 1:06d}" for i, v in enumerate(distinct)}


def _whole_households(frame: pd.DataFrame, error_pos: list[int], out: checks.Collector) -> list[int]:
    """Before collapsing, a household with a quarantined member is quarantined whole (its counts would be wrong)."""
    keys = [k for k in ("household_id", "year") if k in frame.columns]
    key = frame[keys].astype("string").fillna("").agg("\x1f".join, axis=1)
    bad_keys = {key.iloc[p]: p for p in reversed(error_pos)}
    extra = [p for p in range(len(frame)) if p not in set(error_pos) and key.iloc[p] in bad_keys]
    for p in extra:
        out.add("member_quarantined", p, "household_id", other=out.row_of(bad_keys[key.iloc[p]]))
    return sorted(set(error_pos) | set(extra))


_SCI = re.compile(r"^\d(\.\d+)?e\+?\d+$", re.I)


def _check_id_cells(raw: pd.DataFrame, mapping: dict[int, str], out: checks.Collector) -> None:
    for c, name in mapping.items():
        if name != "id_number":
            continue
        for pos, v in enumerate(raw[c].tolist()):
            if _blank(v):
                continue
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out.add("id_as_number", pos, name, v)
                continue
            s = str(v).strip()
            if _SCI.match(s) or re.fullmatch(r"\d{15,18}\.0+", s):
                out.add("id_as_number", pos, name, v)
            elif not privacy.is_id_number(s):
                out.add("id_checksum", pos, name, v)


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


def _quarantine(raw, labels, mapping, unknown_cols, keep_unknown, bad_mask, row_numbers, out, personal,
                protect, salt) -> pd.DataFrame:
    """Source cells (as text, canonical names where known) of quarantined rows, with row and reasons."""
    cols = {}
    for c in range(raw.shape[1]):
        name = mapping.get(c) or (unknown_cols.get(c) if keep_unknown else None)
        if name is None or name in cols:
            continue
        cols[name] = raw[c][bad_mask].map(lambda v: None if _blank(v) else schema.parse_string(v))
    q = pd.DataFrame(cols).reset_index(drop=True).astype(object)
    reasons: dict[int, list[str]] = {}
    for rec in out.records:
        if rec["severity"] == "error" and rec["_pos"] is not None:
            reasons.setdefault(rec["_pos"], []).append(f"{rec['rule']}: {rec['message']}")
    positions = np.flatnonzero(bad_mask)
    q.insert(0, "row", pd.array(row_numbers[positions].tolist(), dtype="Int64"))
    file_errors = [f"{r['rule']}: {r['message']}" for r in out.records if r["severity"] == "error" and r["_pos"] is None]
    q["reasons"] = ["; ".join(reasons.get(int(p), []) + file_errors) for p in positions]
    mode = "drop" if protect == "keep" else protect  # a quarantine dump never holds personal data
    q = _protect(q, columns=sorted(personal), mode=mode, salt=salt)
    # reasons quote values: mask any personal pattern that a message carried
    q["reasons"] = q["reasons"].map(privacy.redact_text)
    return q


# --- frozen copies of the per-cell helpers (schema, privacy) ----------------------------------

def _coerce_column(values: pd.Series, f: Field) -> tuple[pd.Series, dict[int, str]]:
    """Typed column of ``f`` from raw cells, and the positions (0-based) that failed with their rule id.

    Raw cells may be text (CSV) or Python/NumPy scalars (Excel, Parquet, Stata).
    """
    parser = schema._PARSERS[f.type]
    raw = values.tolist()
    out: list[Any] = [None] * len(raw)
    bad: dict[int, str] = {}
    seen: dict[Any, tuple[Any, str | None]] = {}   # cells repeat a lot: parse each distinct one once
    for i, v in enumerate(raw):
        try:
            hit = seen.get((type(v), v))
        except TypeError:
            hit = None
        if hit is None:
            hit = _parse_cell_ref(parser, v)
            try:
                seen[(type(v), v)] = hit
            except TypeError:
                pass
        out[i], err = hit
        if err is not None:
            bad[i] = err
    if f.type == "category" and f.categories:
        allowed = set(f.categories)
        for i, v in enumerate(out):
            if v is not None and v not in allowed:
                bad[i] = "category"
                out[i] = None
    return _typed(out, f, values.index), bad


def _parse_cell_ref(parser, v) -> tuple[Any, str | None]:
    if schema.is_missing(v):
        return None, None
    try:
        return parser(v), None
    except schema.ParseError as exc:
        return None, str(exc)
    except (TypeError, ValueError, OverflowError):
        return None, "type"


def _typed(cells: list, f: Field, index) -> pd.Series:
    if f.type == "int":
        return pd.Series(pd.array(cells, dtype="Int64"), index=index)
    if f.type == "float":
        return pd.Series(np.array([np.nan if c is None else c for c in cells], dtype=float), index=index)
    if f.type == "bool":
        return pd.Series(pd.array(cells, dtype="boolean"), index=index)
    if f.type == "category":
        return pd.Series(pd.Categorical(cells, categories=list(f.categories or sorted({c for c in cells if c}))),
                         index=index)
    if f.type == "date":
        return pd.Series(pd.to_datetime(pd.Series([pd.NaT if c is None else c for c in cells], dtype=object)),
                         index=index)
    return pd.Series(pd.array(cells, dtype="string"), index=index)


def _pattern_columns(data: pd.DataFrame, *, skip: tuple[str, ...] = (), share: float = 0.5) -> list[str]:
    """Text columns where at least ``share`` of the non-empty cells are ID or mobile numbers."""
    found = []
    for col in data.columns:
        if col in skip:
            continue
        s = data[col]
        if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
            continue
        cells = [v for v in s.tolist() if isinstance(v, str) and v.strip()]
        if cells and sum(privacy.looks_personal(v) for v in cells) >= share * len(cells):
            found.append(col)
    return found


def _protect(data: pd.DataFrame, *, columns, mode: privacy.Protect = "drop", salt=None) -> pd.DataFrame:
    """A copy of ``data`` with ``columns`` dropped or replaced by pseudonyms (``mode="keep"``: unchanged).

    Free text in the other text columns has embedded ID and mobile numbers redacted in every mode
    except ``keep``. The caller's frame is not modified.
    """
    privacy.check_protect(mode)
    out = data.copy()
    if mode == "keep":
        return out
    columns = [c for c in columns if c in out.columns]
    if mode == "pseudonymise":
        privacy._check_salt(salt)
        for c in columns:
            out[c] = pd.array([None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                               or str(v).strip() == "" else privacy.pseudonym(v, salt) for v in out[c].tolist()],
                              dtype="string")
    else:
        out = out.drop(columns=columns)
    for c in out.columns:
        if c in columns:
            continue
        s = out[c]
        if pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s):
            vals = s.tolist()
            if any(isinstance(v, str) and privacy.contains_personal(v) for v in vals):
                new = [privacy.redact_text(v) if isinstance(v, str) else v for v in vals]
                out[c] = pd.Series(new, index=s.index, dtype=s.dtype if pd.api.types.is_string_dtype(s) else object)
    return out
