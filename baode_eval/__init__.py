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
