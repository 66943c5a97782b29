"""Personal data: recognise, drop or pseudonymise; escape text for HTML and spreadsheets; suppress small cells.

Names, resident ID numbers and phone numbers are recognised

* by header: codebook fields with ``personal: true`` (and their aliases), and
* by pattern: an 18-character resident ID number (GB 11643-1999) whose birth date is a real date
  and whose check digit is right (ISO 7064 MOD 11-2), or a mainland mobile number
  ``1[3-9]`` + 9 digits (optionally ``+86``/``86`` and spaces or dashes).

Names have no pattern: a name in a column the codebook does not know is caught only because
``baode_eval.read`` drops unknown columns unless asked to keep them.

Pseudonyms are ``HMAC-SHA256(salt, value)``, hex, first 16 characters, so the same person gets
the same pseudonym in every file protected with the same salt and nobody without the salt can
reverse it by trying all ID numbers. Keep the salt out of the repository and out of reports.
"""
from __future__ import annotations

import hashlib
import hmac
import html
import re
from typing import Literal, get_args

import numpy as np
import pandas as pd

from . import schema
from .errors import ParameterError

Protect = Literal["drop", "pseudonymise", "keep"]
PROTECT_MODES: tuple[str, ...] = get_args(Protect)
PSEUDONYM_LENGTH = 16
MIN_SALT_LENGTH = 8

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx])(?![0-9A-Za-z])")
_PHONE_RE = re.compile(r"(?<!\d)(?:\+?86[ -]?)?(1[3-9]\d[ -]?\d{4}[ -]?\d{4})(?!\d)")


def id_check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check digit of the first 17 digits of a resident ID number."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("need 17 digits")
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS)) % 11]


def is_id_number(text) -> bool:
    """True for an 18-character resident ID number with a real birth date and a valid check digit."""
    if not isinstance(text, str):
        return False
    s = text.strip()
    if len(s) != 18 or not _ID_RE.fullmatch(s):
        return False
    try:
        pd.Timestamp(year=int(s[6:10]), month=int(s[10:12]), day=int(s[12:14]))
    except ValueError:
        return False
    return id_check_digit(s[:17]) == s[17].upper()


def is_mobile(text) -> bool:
    """True for a mainland mobile number (1[3-9] and 9 more digits; +86, spaces and dashes allowed)."""
    return isinstance(text, str) and _PHONE_RE.fullmatch(text.strip()) is not None


def looks_personal(text) -> bool:
    return is_id_number(text) or is_mobile(text)


def redact_text(text: str) -> str:
    """Free text with embedded ID numbers and mobile numbers replaced by ``[ID]`` and ``[PHONE]``."""
    s = _ID_RE.sub(lambda m: "[ID]" if is_id_number(m.group(1)) else m.group(0), text)
    return _PHONE_RE.sub("[PHONE]", s)


def contains_personal(text) -> bool:
    return isinstance(text, str) and redact_text(text) != text


def personal_fields(table: str = "household") -> tuple[str, ...]:
    """Canonical names of personal fields (codebook ``personal: true``) readable in ``table``."""
    return tuple(n for n, f in schema.all_fields(table).items() if f.personal)


def check_protect(mode: str) -> str:
    if mode not in PROTECT_MODES:
        raise ParameterError(f"protect must be one of {list(PROTECT_MODES)}, got {mode!r}")
    return mode


def pseudonym(value, salt: str | bytes) -> str:
    """Salted pseudonym of one value: HMAC-SHA256, hex, first 16 characters."""
    key = salt.encode("utf-8") if isinstance(salt, str) else bytes(salt)
    text = str(value).strip().upper()
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_LENGTH]


def _check_salt(salt) -> None:
    if salt is None or len(salt) < MIN_SALT_LENGTH:
        raise ParameterError(f"protect='pseudonymise' needs salt= of at least {MIN_SALT_LENGTH} characters "
                             "(keep it secret and out of the repository)")


def _distinct(values: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """(codes, distinct values) of a column, -1 for missing values; None if values are unhashable."""
    try:
        codes, uniques = pd.factorize(values)
    except TypeError:
        return None
    return np.asarray(codes), np.asarray(uniques, dtype=object)


# either pattern anywhere in a text (a quick test: every ID or mobile number found above matches it)
_ID_OR_PHONE_RE = re.compile(f"{_ID_RE.pattern}|{_PHONE_RE.pattern}")


def _may_hold_personal(text: str) -> bool:
    """False when ``text`` surely holds no ID or mobile number (neither pattern occurs anywhere in it)."""
    return _ID_OR_PHONE_RE.search(text) is not None


def pattern_columns(data: pd.DataFrame, *, skip: tuple[str, ...] = (), share: float = 0.5) -> list[str]:
    """Text columns where at least ``share`` of the non-empty cells are ID or mobile numbers."""
    found = []
    for col in data.columns:
        if col in skip:
            continue
        s = data[col]
        if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
            continue
        distinct = _distinct(s)
        if distinct is None:   # unhashable cells: one by one
            cells = [v for v in s.tolist() if isinstance(v, str) and v.strip()]
            n_cells, n_personal = len(cells), sum(looks_personal(v) for v in cells)
        else:
            # text equals only text, so counting per distinct value counts the same cells
            codes, uniques = distinct
            counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
            text = np.array([isinstance(v, str) and bool(v.strip()) for v in uniques], dtype=bool)
            personal = np.array([bool(t) and _may_hold_personal(v) and looks_personal(v)
                                 for v, t in zip(uniques, text)], dtype=bool)
            n_cells, n_personal = int(counts[text].sum()), int(counts[personal].sum())
        if n_cells and n_personal >= share * n_cells:
            found.append(col)
    return found


def protect(data: pd.DataFrame, *, columns, mode: Protect = "drop", salt=None) -> pd.DataFrame:
    """A copy of ``data`` with ``columns`` dropped or replaced by pseudonyms (``mode="keep"``: unchanged).

    Free text in the other text columns has embedded ID and mobile numbers redacted in every mode
    except ``keep``. The caller's frame is not modified.
    """
    check_protect(mode)
    return _protect(data.copy(), columns=columns, mode=mode, salt=salt)


def _protect(out: pd.DataFrame, *, columns, mode: Protect = "drop", salt=None) -> pd.DataFrame:
    """:func:`protect` without the copy: ``out`` may be changed (columns replaced), its arrays are not."""
    check_protect(mode)
    if mode == "keep":
        return out
    columns = [c for c in columns if c in out.columns]
    if mode == "pseudonymise":
        _check_salt(salt)
        for c in columns:
            out[c] = pd.array(_pseudonyms(out[c], salt), dtype="string")
    else:
        out = out.drop(columns=columns)
    for c in out.columns:
        if c in columns:
            continue
        s = out[c]
        if pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s):
            redacted = _redacted(s)
            if redacted is not None:
                out[c] = pd.Series(redacted, index=s.index,
                                   dtype=s.dtype if pd.api.types.is_string_dtype(s) else object)
    return out


def _pseudonym_or_none(v, salt):
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == "":
        return None
    return pseudonym(v, salt)


def _pseudonyms(s: pd.Series, salt) -> list:
    """Pseudonyms of a column's cells (None for empty ones); once per distinct value of a text column."""
    if pd.api.types.is_string_dtype(s) and not pd.api.types.is_object_dtype(s):
        codes, uniques = _distinct(s)
        lut = np.array([_pseudonym_or_none(v, salt) for v in uniques] + [None], dtype=object)
        return lut[codes].tolist()
    # objects: equal values can print differently (1 and 1.0), so one by one
    return [_pseudonym_or_none(v, salt) for v in s.tolist()]


def _redacted(s: pd.Series) -> list | None:
    """The column's cells with ID and phone numbers in text redacted; None if there are none."""
    distinct = _distinct(s)
    if distinct is None:
        vals = s.tolist()
        if not any(isinstance(v, str) and contains_personal(v) for v in vals):
            return None
        return [redact_text(v) if isinstance(v, str) else v for v in vals]
    codes, uniques = distinct
    hit = [isinstance(v, str) and _may_hold_personal(v) and contains_personal(v) for v in uniques]
    if not any(hit):
        return None
    return [redact_text(v) if isinstance(v, str) else v for v in s.tolist()]


def derive_age_sex(id_numbers: pd.Series, reference_year) -> tuple[pd.Series, pd.Series]:
    """Age (in completed years on 31 December of ``reference_year``) and sex (男/女) from ID numbers.

    The 17th digit is odd for men, even for women; invalid ID numbers give missing values.
    ``reference_year`` is a number or a Series aligned with ``id_numbers``.
    """
    ids = id_numbers.astype("string").str.strip().str.upper()
    valid = ids.map(lambda v: is_id_number(v) if isinstance(v, str) else False, na_action="ignore")
    valid = valid.fillna(False).astype(bool)
    birth = pd.to_numeric(ids.str.slice(6, 10).where(valid), errors="coerce")
    ref = pd.Series(reference_year, index=ids.index) if np.isscalar(reference_year) else pd.Series(reference_year)
    age = pd.to_numeric(ref, errors="coerce").to_numpy(dtype=float) - birth.to_numpy(dtype=float)
    age = pd.Series(pd.array([None if np.isnan(a) or a < 0 else int(a) for a in age], dtype="Int64"), index=ids.index)
    digit = pd.to_numeric(ids.str.slice(16, 17).where(valid), errors="coerce")
    sex = pd.Series(pd.Categorical(np.where(digit.isna(), None, np.where(digit % 2 == 1, "男", "女")),
                                   categories=["男", "女"]), index=ids.index)
    return age, sex


# --- output safety ---------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def neutralise_formula(text):
    """Prefix ``'`` to text a spreadsheet would run as a formula (starts with = + - @ tab CR).

    Plain numbers such as ``-12.5`` are left alone. Non-text values are returned unchanged.
    """
    if not isinstance(text, str) or not text.startswith(_FORMULA_START):
        return text
    if _PLAIN_NUMBER.match(text):
        return text
    return "'" + text


def escape_html(text) -> str:
    """Text safe to place in HTML element content or a quoted attribute."""
    return html.escape("" if text is None else str(text), quote=True)


def safe_text(text, *, html_escape: bool = True) -> str:
    """Both protections: formula neutralised, then HTML-escaped (``html_escape=False`` for Excel)."""
    s = neutralise_formula("" if text is None else str(text))
    return escape_html(s) if html_escape else s


def safe_frame(table: pd.DataFrame, *, html_escape: bool = False) -> pd.DataFrame:
    """A copy whose text cells (and column names) are safe for Excel (and HTML when asked)."""
    out = table.copy()
    for c in out.columns:
        s = out[c]
        if pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s):
            out[c] = pd.Series([safe_text(v, html_escape=html_escape) if isinstance(v, str) else v
                                for v in s.tolist()], index=s.index, dtype=object)
    out.columns = [safe_text(c, html_escape=html_escape) if isinstance(c, str) else c for c in out.columns]
    return out


def suppress_small_cells(table: pd.DataFrame, count_col: str, k: int = 5, *, columns=None,
                         flag: str = "suppressed") -> pd.DataFrame:
    """A copy of a publication table with rows counting fewer than ``k`` households blanked.

    In rows where ``count_col`` < ``k`` (and > 0 is not required: 0 is a small cell too), the count
    and the value ``columns`` (default: every numeric column) become missing, and a boolean
    column ``flag`` says which rows were suppressed. Only primary suppression: a total row that
    lets a reader subtract a suppressed cell back out must be handled by the caller.
    """
    if count_col not in table.columns:
        raise ParameterError(f"count_col {count_col!r} is not a column; columns are {list(table.columns)}")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ParameterError(f"k must be a positive whole number, got {k!r}")
    out = table.copy()
    counts = pd.to_numeric(out[count_col], errors="coerce")
    small = (counts < k).fillna(False).to_numpy(dtype=bool)
    if columns is None:
        columns = [c for c in out.columns if pd.api.types.is_numeric_dtype(out[c]) and not pd.api.types.is_bool_dtype(out[c])]
    columns = list(dict.fromkeys([count_col, *columns]))
    for c in columns:
        col = out[c]
        if pd.api.types.is_integer_dtype(col) and not isinstance(col.dtype, pd.api.extensions.ExtensionDtype):
            col = col.astype("Int64")
        elif pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
            col = col.astype(object)
        out[c] = col.mask(small)
    out[flag] = small
    return out
