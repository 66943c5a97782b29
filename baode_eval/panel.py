"""Household data for the notebooks: read once per kernel, validated and protected.

``households(data_path)`` is what a notebook calls. An empty ``data_path`` means the bundled
synthetic Baode panel (``data/synthetic/``). Files go through :func:`baode_eval.read` (encoding
and header detection, codebook aliases, validation with quarantine, personal data dropped), and
the result is cached per process keyed by path, size, modification time and options — so the
warm kernels of the report factory read a file once, not once per site.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import paths

_CACHE: dict = {}
_CACHE_MAX = 4


def resolve(data_path: str | Path | None) -> Path:
    """The file a notebook's ``data_path`` parameter points to ("" -> bundled synthetic panel)."""
    return Path(data_path).resolve() if data_path else paths.synthetic_households()


def read_households(data_path: str | Path | None = "", **options):
    """:func:`baode_eval.read` of ``data_path`` (household level), cached. Do not modify the result."""
    from .io import read

    path = resolve(data_path)
    options.setdefault("level", "household")
    stat = path.stat() if path.is_file() else None
    key = (str(path), stat.st_size if stat else None, stat.st_mtime_ns if stat else None,
           tuple(sorted((k, repr(v)) for k, v in options.items())))
    if key not in _CACHE:
        result = read(path, **options)  # raises DataError naming the file when it is missing or unreadable
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = result
    return _CACHE[key]


def households(data_path: str | Path | None = "", **options) -> pd.DataFrame:
    """The validated household-year table of ``data_path`` (a copy: yours to modify)."""
    return read_households(data_path, **options).data.copy()


def clear_cache() -> None:
    _CACHE.clear()
