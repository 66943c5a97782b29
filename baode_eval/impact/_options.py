"""Option vocabularies of ``baode_eval.impact``, checked at the boundary.

One place for every ``Literal`` so that an error can list the allowed values (the pyfixest
habit), and so that the docs and the code cannot disagree about them.
"""
from __future__ import annotations

from typing import Iterable, Literal, get_args

import numpy as np
import pandas as pd

from ..errors import DataError, ParameterError

ControlGroup = Literal["nevertreated", "notyettreated"]
Aggregation = Literal["simple", "dynamic", "group", "calendar"]
BasePeriod = Literal["varying", "universal"]
BootstrapWeights = Literal["mammen", "rademacher"]
Vcov = Literal["iid", "hetero", "cluster"]
EventStudyMethod = Literal["cs", "twfe"]

SE_CONVENTION = (
    "Standard errors: CR1 clustered (G/(G-1) x (n-1)/(n-K)); fixed effects nested in the "
    "clusters are not counted in K (the fixest / reghdfe convention)."
)
SE_CONVENTION_IF = (
    "Standard errors: analytic, from influence functions; {how}. Convention for clustered "
    "regressions: CR1, fixed effects nested in clusters not counted (fixest / reghdfe)."
)


def se_note_if(cluster: str | None, idname: str, *, unit_factor: bool = False) -> str:
    """The SE sentence for influence-function estimators (unit level like R did / DRDID, or CR1 by cluster)."""
    if cluster is not None:
        how = f"clustered by {cluster} with the CR1 factor G/(G-1)"
    elif unit_factor:
        how = f"each unit ({idname}) is its own cluster, CR1 factor n/(n-1) (as R DRDID)"
    else:
        how = f"each unit ({idname}) is its own cluster, no finite-sample factor (as R did)"
    return SE_CONVENTION_IF.format(how=how)


def check_choice(name: str, value, allowed_type) -> str:
    """Return ``value`` if it is one of the ``Literal`` values, else raise a clear error."""
    allowed = get_args(allowed_type)
    if value not in allowed:
        raise ParameterError(
            f"{name}={value!r} is not allowed; choose one of: {', '.join(map(repr, allowed))}"
        )
    return value


def check_columns(data, columns: Iterable[str | None], *, what: str = "data") -> None:
    """Raise ``DataError`` naming every missing column (and the columns that do exist)."""
    if not isinstance(data, pd.DataFrame):
        raise ParameterError(f"{what} must be a pandas DataFrame, not {type(data).__name__}")
    missing = [c for c in columns if c is not None and c not in data.columns]
    if missing:
        have = ", ".join(map(str, list(data.columns)[:30]))
        raise DataError(f"column(s) {missing} not found in {what}; columns are: {have}")


def check_level(level: float) -> float:
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ParameterError(f"level={level!r} must be a number strictly between 0 and 1 (e.g. 0.95)")
    return float(level)


def numeric(data: pd.DataFrame, column: str) -> np.ndarray:
    """A column as float64, with a clear error for text or missing values."""
    try:
        values = pd.to_numeric(data[column], errors="raise").to_numpy(dtype="float64", na_value=np.nan)
    except (ValueError, TypeError) as exc:
        raise DataError(f"column {column!r} must be numeric ({exc})") from None
    if np.isnan(values).any():
        raise DataError(
            f"column {column!r} has {int(np.isnan(values).sum())} missing value(s); "
            "drop or impute them before estimating"
        )
    return values


def first_treatment(data: pd.DataFrame, column: str) -> np.ndarray:
    """First treated period per row; empty means never treated (codebook: "0 or empty"), coded 0."""
    try:
        values = pd.to_numeric(data[column], errors="raise").to_numpy(dtype="float64", na_value=np.nan)
    except (ValueError, TypeError) as exc:
        raise DataError(f"column {column!r} must be numeric (first period treated, 0 or empty = never) ({exc})") from None
    values = np.where(np.isnan(values), 0.0, values)
    if (values < 0).any():
        raise DataError(f"column {column!r} has negative values; use 0 (or empty) for never treated")
    return values


def binary(data: pd.DataFrame, column: str) -> np.ndarray:
    values = numeric(data, column)
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        raise DataError(f"column {column!r} must be 0/1 (or boolean); found {np.unique(values[bad])[:5]}")
    return values


def unit_weights(data: pd.DataFrame, weights: str | None) -> np.ndarray:
    if weights is None:
        return np.ones(len(data))
    w = numeric(data, weights)
    if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise DataError(f"weights column {weights!r} must be finite, non-negative and not all zero")
    return w


FEW_CLUSTERS = 30


def few_clusters_note(n_clusters: int | None) -> list[str]:
    """A warning line for the summary when cluster-robust inference rests on few clusters."""
    if n_clusters is not None and n_clusters < FEW_CLUSTERS:
        return [f"CAUTION: only {n_clusters} clusters; cluster-robust standard errors are unreliable with "
                f"fewer than about {FEW_CLUSTERS} (cluster at household or village level, or treat the "
                "intervals as indicative)."]
    return []
