"""The canonical schema: fields, header aliases and value parsing from ``data/codebook/schema.yaml``.

The codebook is the single source of field names, types, labels and header aliases; this
module only reads it. Headers are matched after :func:`normalise_header` (NFKC, so full-width
letters, digits and brackets become half-width; whitespace removed; lower case). A header that
does not match as written is tried once more without a trailing unit in brackets, so
``工资性收入（元）`` finds ``工资性收入``.

Canonical dtypes: ``string`` -> pandas ``string``; ``int`` -> ``Int64``; ``float`` -> ``float64``;
``bool`` -> ``boolean``; ``category`` -> ``Categorical`` with the codebook's categories;
``period`` -> ``string`` ``"YYYYMM"`` (as the simulator writes it); ``date`` -> ``datetime64``.

>>> normalise_header(" 务工时间（月） ")
'务工时间(月)'
>>> parse_number("1.2万")
12000.0
>>> parse_period("2021年3月")
'202103'
"""
from __future__ import annotations

import datetime as _dt
import math
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
import yaml

from . import paths
from .errors import DataError, ParameterError

Table = Literal["household", "person"]
TABLES: tuple[str, ...] = get_args(Table)
FIELD_TYPES = ("string", "int", "float", "bool", "category", "period", "date")


@dataclass(frozen=True)
class Field:
    """One column of a canonical table, as the codebook describes it."""

    name: str
    type: str
    zh: str
    en: str
    aliases: tuple[str, ...] = ()
    unit: str | None = None
    range: tuple[float, float] | None = None
    categories: tuple[str, ...] | None = None
    personal: bool = False
    description: str = ""
    table: str = "household"
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    def label(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


def codebook_path():
    return paths.data_dir() / paths.CODEBOOK_DIR / "schema.yaml"


@lru_cache(maxsize=None)
def _raw_codebook() -> dict:
    path = codebook_path()
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except OSError as exc:  # pragma: no cover - broken install
        raise DataError(f"codebook not readable ({exc.strerror})", path=path) from None


def check_table(table: str) -> str:
    if table not in TABLES:
        raise ParameterError(f"table must be one of {list(TABLES)}, got {table!r}")
    return table


@lru_cache(maxsize=None)
def fields(table: str = "household") -> tuple[Field, ...]:
    """Fields of a canonical table in codebook order."""
    check_table(table)
    out = []
    known = {"name", "type", "zh", "en", "aliases", "unit", "range", "categories", "personal", "description"}
    for f in _raw_codebook()["tables"][table]["fields"]:
        if f["type"] not in FIELD_TYPES:  # pragma: no cover - guarded by tests on the codebook
            raise DataError(f"field {f['name']!r} has unknown type {f['type']!r}", path=codebook_path())
        out.append(Field(
            name=f["name"], type=f["type"], zh=str(f["zh"]), en=str(f["en"]),
            aliases=tuple(str(a) for a in f.get("aliases") or ()), unit=f.get("unit"),
            range=tuple(f["range"]) if f.get("range") else None,
            categories=tuple(f["categories"]) if f.get("categories") else None,
            personal=bool(f.get("personal", False)), description=f.get("description", ""),
            table=table, extra={k: v for k, v in f.items() if k not in known},
        ))
    return tuple(out)


def field_map(table: str = "household") -> dict[str, Field]:
    return {f.name: f for f in fields(table)}


def key(table: str = "household") -> tuple[str, ...]:
    check_table(table)
    return tuple(_raw_codebook()["tables"][table]["key"])


@lru_cache(maxsize=None)
def value_words(kind: str) -> frozenset[str]:
    """Normalised cell spellings of a kind: ``truthy``, ``falsy``, ``missing``, ``total_row``."""
    return frozenset(normalise_header(str(v)) for v in _raw_codebook()["values"][kind])


_SPACE = re.compile(r"\s+")
_UNIT_SUFFIX = re.compile(r"\([^()]*\)$")


def normalise_header(text: Any) -> str:
    """Comparable form of a header or a cell word: NFKC (full-width -> half-width), no spaces, lower case."""
    if isinstance(text, str):
        return _normalise_str(text)
    return _normalise_str("" if text is None else str(text))


@lru_cache(maxsize=65536)
def _normalise_str(text: str) -> str:
    s = unicodedata.normalize("NFKC", text)
    s = s.replace("【", "(").replace("】", ")").replace("[", "(").replace("]", ")")
    return _SPACE.sub("", s).lower()


@lru_cache(maxsize=None)
def alias_map(table: str = "household") -> dict[str, str]:
    """Normalised header -> canonical field name.

    For a person table the household fields are included too (a monitoring-system roster repeats
    the household's income and status on every person row); person fields win a clash.
    """
    out: dict[str, str] = {}
    tables = ("person", "household") if table == "person" else ("household",)
    for t in tables:
        for f in fields(t):
            for word in (f.name, f.zh, f.en, *f.aliases):
                out.setdefault(normalise_header(word), f.name)
    return out


def all_fields(table: str) -> dict[str, Field]:
    """Fields available when reading ``table`` (a person table carries household fields too)."""
    out = {}
    for t in (("person", "household") if table == "person" else ("household",)):
        for f in fields(t):
            out.setdefault(f.name, f)
    return out


def lookup(header: Any, table: str = "household") -> str | None:
    """Canonical name of a header, or None when the codebook does not know it."""
    amap = alias_map(table)
    h = normalise_header(header)
    if not h:
        return None
    if h in amap:
        return amap[h]
    stripped = _UNIT_SUFFIX.sub("", h)
    if stripped != h and stripped in amap:
        return amap[stripped]
    return None


# --- value parsing -------------------------------------------------------------------------

_NUMBER = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)(万|亿|千|百)?(?:元|人|个|月|岁|年|户|次)?$")
_SCALE = {"万": 1e4, "亿": 1e8, "千": 1e3, "百": 1e2, None: 1.0}
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?")


class ParseError(ValueError):
    """A cell that cannot be read as its field's type (message is a short rule id)."""


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, str):
        return normalise_header(value) in value_words("missing")
    return False


def parse_number(value: Any) -> float:
    """A number as written in a ledger: ``12,000``, ``1.2万``, ``１２０００``, ``3000元``.

    Raises ParseError("non_finite") for inf, ParseError("type") for text that is not a number.
    """
    if isinstance(value, (bool, np.bool_)):
        raise ParseError("type")
    if isinstance(value, (int, np.integer)):
        return float(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise ParseError("non_finite")
        return float(value)
    s = normalise_header(value)
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    m = _NUMBER.match(s)
    if not m:
        if s.lstrip("+-") in ("inf", "infinity", "∞"):
            raise ParseError("non_finite")
        raise ParseError("type")
    x = float(m.group(1)) * _SCALE[m.group(2)]
    if not math.isfinite(x):
        raise ParseError("non_finite")
    return x


def parse_int(value: Any) -> int:
    x = parse_number(value)
    if x != round(x):
        raise ParseError("type")
    if abs(x) > 2**62:
        raise ParseError("non_finite")
    return int(round(x))


def parse_bool(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)) and value in (0, 1):
        return bool(value)
    s = normalise_header(value)
    if s in value_words("truthy"):
        return True
    if s in value_words("falsy"):
        return False
    raise ParseError("type")


_PERIOD_PATTERNS = (
    re.compile(r"^(\d{4})(\d{2})$"),                                  # 202103
    re.compile(r"^(\d{4})[-/.年](\d{1,2})月?$"),                       # 2021-03, 2021/3, 2021年3月
    re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:\d{1,2}:\d{2}(?::\d{2})?)?$"),  # a full date
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),                           # 20210315
)


def parse_period(value: Any) -> str:
    """A month as ``"YYYYMM"`` from 202103, 2021-03, 2021/3, 2021.03, 2021年3月, a date or a datetime."""
    if isinstance(value, (_dt.date, pd.Timestamp, np.datetime64)):
        ts = pd.Timestamp(value)
        return f"{ts.year:04d}{ts.month:02d}"
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and value == round(value):
        value = int(value)
    s = normalise_header(value)
    for pat in _PERIOD_PATTERNS:
        m = pat.match(s)
        if m:
            year, month = int(m.group(1)), int(m.group(2))
            if 1900 <= year <= 2100 and 1 <= month <= 12:
                if m.re.groups == 3:
                    try:
                        _dt.date(year, month, int(m.group(3)))
                    except ValueError:
                        raise ParseError("type") from None
                return f"{year:04d}{month:02d}"
    raise ParseError("type")


def parse_date(value: Any) -> pd.Timestamp:
    if isinstance(value, (_dt.date, pd.Timestamp, np.datetime64)):
        return pd.Timestamp(value)
    s = normalise_header(value)
    m = _PERIOD_PATTERNS[2].match(s) or _PERIOD_PATTERNS[3].match(s)
    if not m:
        raise ParseError("type")
    try:
        return pd.Timestamp(_dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))))
    except ValueError:
        raise ParseError("type") from None


def parse_string(value: Any) -> str:
    """Text kept exactly (no float formatting of integers: 4.0 -> '4'), outer spaces stripped."""
    if isinstance(value, (float, np.floating)):
        if math.isfinite(value) and value == round(value) and abs(value) < 1e15:
            return str(int(value))
        return repr(float(value))
    if isinstance(value, (_dt.datetime, pd.Timestamp)):
        return pd.Timestamp(value).isoformat()
    return unicodedata.normalize("NFC", str(value)).strip()


_PARSERS = {"int": parse_int, "float": parse_number, "bool": parse_bool, "period": parse_period,
            "date": parse_date, "string": parse_string, "category": parse_string}


def coerce_column(values: pd.Series, f: Field) -> tuple[pd.Series, dict[int, str]]:
    """Typed column of ``f`` from raw cells, and the positions (0-based) that failed with their rule id.

    Raw cells may be text (CSV) or Python/NumPy scalars (Excel, Parquet, Stata).
    """
    parser = _PARSERS[f.type]
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
            hit = _parse_cell(parser, v)
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


def _parse_cell(parser, v) -> tuple[Any, str | None]:
    if is_missing(v):
        return None, None
    try:
        return parser(v), None
    except ParseError as exc:
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


def empty_column(f: Field, n: int, index=None) -> pd.Series:
    return _typed([None] * n, f, index if index is not None else pd.RangeIndex(n))
