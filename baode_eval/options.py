"""Option vocabularies, kept in one place and checked at the boundary.

Every function that takes one of these options calls :func:`check_option`, whose error lists
the allowed values (the pyfixest habit).
"""
from __future__ import annotations

from typing import Literal, get_args

from .errors import ParameterError

Kind = Literal["mean", "proportion", "total", "ratio"]
LonelyPSU = Literal["adjust", "certainty", "fail"]
Direction = Literal[">=", "<=", "rising", "falling"]
Unit = Literal["household", "person", "labourer", "child", "elder", "yuan"]
Verdict = Literal["met", "not met", "inconclusive"]
Status = Literal["verified", "unverified"]
DesignMode = Literal["auto", "census", "survey"]
Engine = Literal["pandas", "numba", "dask", "duckdb", "numpy"]  # numpy: the name of pandas before Dask (alias)

KINDS: tuple[str, ...] = get_args(Kind)
LONELY_PSU: tuple[str, ...] = get_args(LonelyPSU)
DIRECTIONS: tuple[str, ...] = get_args(Direction)
UNITS: tuple[str, ...] = get_args(Unit)
VERDICTS: tuple[str, ...] = get_args(Verdict)
STATUSES: tuple[str, ...] = get_args(Status)
DESIGN_MODES: tuple[str, ...] = get_args(DesignMode)
ENGINES: tuple[str, ...] = get_args(Engine)


def check_option(name: str, value, allowed: tuple[str, ...]):
    """Raise ParameterError naming ``name`` and listing ``allowed`` unless ``value`` is one of them."""
    if value not in allowed:
        raise ParameterError(f"{name} must be one of {list(allowed)}, got {value!r}")
    return value


def check_level(level) -> float:
    """Confidence level strictly between 0 and 1 (0.95, not 95)."""
    try:
        level = float(level)
    except (TypeError, ValueError):
        raise ParameterError(f"level must be a number between 0 and 1, got {level!r}") from None
    if not 0.0 < level < 1.0:
        raise ParameterError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    return level
