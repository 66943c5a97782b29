"""Loaders for the bundled tables, checked against their codebook (data/codebook/datasets.yaml).

>>> figures = load_published()           # one row per figure of the Baode article
>>> series = load_reference()            # reference series with `status` and `source`
>>> codebook("published")["value"]["en"]
'The figure as a number (万 expanded; percent as 0-100)'
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

from . import paths
from .errors import DataError

_INT = "Int64"


@lru_cache(maxsize=None)
def _codebooks() -> dict:
    path = paths.data_dir() / paths.CODEBOOK_DIR / "datasets.yaml"
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def codebook(table: str) -> dict:
    """Column meanings of a bundled table (``"published"`` or ``"reference"``)."""
    books = _codebooks()
    if table not in books:
        raise DataError(f"unknown table {table!r}; choose one of {sorted(books)}")
    return books[table]["columns"]


def _load(table: str, path: str | Path | None) -> pd.DataFrame:
    spec = _codebooks()[table]
    path = Path(path) if path is not None else paths.data_dir() / spec["file"]
    if not path.is_file():
        raise DataError("file not found", path=path)
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    columns = spec["columns"]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"missing columns {missing}", path=path)
    extra = [c for c in df.columns if c not in columns]
    if extra:
        raise DataError(f"columns not in the codebook {extra}", path=path)
    out = {}
    for name, col in columns.items():
        raw = df[name]
        kind = col["type"]
        if kind in ("float", "int"):
            num = pd.to_numeric(raw.replace("", None), errors="coerce")
            bad = num.isna() & raw.ne("")
            if bad.any():
                row = int(bad.idxmax()) + 2  # header is line 1
                raise DataError(f"not a number: {raw[bad].iloc[0]!r}", path=path, row=row, column=name)
            out[name] = num.astype(_INT) if kind == "int" else num.astype(float)
        elif kind == "category":
            allowed = col["categories"]
            bad = ~raw.isin(allowed)
            if bad.any():
                row = int(bad.idxmax()) + 2
                raise DataError(f"{raw[bad].iloc[0]!r} is not one of {allowed}", path=path, row=row, column=name)
            out[name] = pd.Categorical(raw, categories=allowed)
        else:
            out[name] = raw.astype(object)
    result = pd.DataFrame(out)
    if "id" in result and result["id"].duplicated().any():
        dup = result.loc[result["id"].duplicated(), "id"].iloc[0]
        raise DataError(f"duplicate id {dup!r}", path=path, column="id")
    return result


def load_published(path: str | Path | None = None) -> pd.DataFrame:
    """Figures published in the seed article, one row each (see data/published/README.md)."""
    return _load("published", path)


def load_reference(path: str | Path | None = None) -> pd.DataFrame:
    """Reference series (national, Shanxi, Xinzhou) with ``status`` and ``source`` columns."""
    return _load("reference", path)


def reference_value(series: pd.DataFrame, name: str, year: int) -> float | None:
    """The value of one reference series in one year, or None when the series has no such year."""
    hit = series[(series["series"] == name) & (series["year"] == year)]
    if hit.empty:
        return None
    if len(hit) > 1:
        raise DataError(f"series {name!r} has {len(hit)} values for {year}")
    return float(hit["value"].iloc[0])


def bundled_files() -> list[Path]:
    """The bundled data files a report depends on (hashed into its provenance)."""
    root = paths.data_dir()
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in {".csv", ".yaml", ".parquet"})
