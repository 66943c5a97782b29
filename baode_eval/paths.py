"""Where things are: the one module that knows the project's paths.

The bundled data and notebooks live at the top of the source tree (``data/``,
``notebooks/``). In an editable install they are found there; a wheel carries a copy
under ``baode_eval/_bundled/``. ``BAODE_EVAL_DATA`` overrides the data folder.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_SOURCE_ROOT = PACKAGE_DIR.parent
_BUNDLED = PACKAGE_DIR / "_bundled"


def _first_existing(*candidates: Path) -> Path:
    for c in candidates:
        if c.is_dir():
            return c
    return candidates[0]


def data_dir() -> Path:
    """Folder of bundled data (published figures, reference series, codebook, synthetic panel)."""
    env = os.environ.get("BAODE_EVAL_DATA")
    if env:
        return Path(env)
    return _first_existing(_SOURCE_ROOT / "data", _BUNDLED / "data")


def notebooks_dir() -> Path:
    """Folder of the report notebooks run by ``baode-eval run``."""
    return _first_existing(_SOURCE_ROOT / "notebooks", _BUNDLED / "notebooks")


def site_notebook() -> Path:
    """The per-site notebook run by ``baode-eval report --by site``."""
    return notebooks_dir() / "site_profile.ipynb"


def source_root() -> Path | None:
    """The source checkout (for the git commit in provenance), or None in a wheel install."""
    return _SOURCE_ROOT if (_SOURCE_ROOT / "pyproject.toml").is_file() else None


PUBLISHED_DIR = "published"
REFERENCE_DIR = "reference"
CODEBOOK_DIR = "codebook"
FONTS_DIR = PACKAGE_DIR / "fonts"
CJK_FONT = FONTS_DIR / "NotoSansCJKsc-Regular-GB2312.otf"
SYNTHETIC_DIR = "synthetic"
# The bundled synthetic Baode panel (default `--data` of the report runner) and its truth.
SYNTHETIC_HOUSEHOLDS = "synthetic/baode_households.parquet"
SYNTHETIC_TRUTH = "synthetic/baode_truth.csv"


def synthetic_households() -> Path:
    """The bundled synthetic Baode household panel (see data/synthetic/README.md)."""
    return data_dir() / SYNTHETIC_HOUSEHOLDS


def synthetic_truth() -> Path:
    """True effects of the bundled synthetic panel."""
    return data_dir() / SYNTHETIC_TRUTH
