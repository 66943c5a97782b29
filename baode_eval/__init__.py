"""baode-eval: evaluate follow-up support for relocated families against policy goals.

Quick start::

    import baode_eval as be
    figures = be.datasets.load_published()     # the Baode article's figures, one row each
    series = be.datasets.load_reference()      # national / provincial reference series
    result = be.read("台账.xlsx")                # household data: .data, .quarantine, .report
"""
from __future__ import annotations

__version__ = "0.1.0.dev0"

from . import datasets  # noqa: E402,F401
from .io import read  # noqa: E402,F401

# Submodules load on first use (``be.panel``, ``be.scorecard``, ``be.impact`` ...), keeping
# ``import baode_eval`` light for the command line.
_SUBMODULES = {
    "checks", "factory", "fonts", "framework", "i18n", "impact", "io", "mpi", "panel", "paths", "plots",
    "privacy", "published", "quality", "results", "runner", "schema", "scorecard", "simulate", "survey",
    "employment", "income", "reports", "services",
}


def __getattr__(name: str):
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
