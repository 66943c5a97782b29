"""Alkire-Foster multidimensional deprivation over the goals (adjusted headcount ratio M0).

Alkire, S. and Foster, J. (2011) "Counting and multidimensional poverty measurement",
Journal of Public Economics 95(7-8): 476-487; Alkire et al. (2015) *Multidimensional Poverty
Measurement and Analysis*, ch. 5. With deprivation indicators g_ij (0/1), weights w_j summing
to 1 and a poverty cutoff k:

* deprivation score c_i = sum_j w_j g_ij; household i is multidimensionally deprived if c_i >= k;
* headcount ratio H = share deprived; intensity A = mean score among the deprived;
  adjusted headcount M0 = H * A = mean of c_i * 1[c_i >= k];
* censored headcount h_j = share deprived and deprived in j; contribution of j to M0 is
  w_j h_j / M0 (contributions of the indicators of a goal add up to the goal's contribution).

Every one of these is a ratio of weighted sums, so SEs come from the same Taylor
linearisation as every other estimate (:mod:`baode_eval.survey`), under the survey design.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from . import survey
from .errors import DataError, ParameterError


def _flatten_weights(weights) -> tuple[dict, dict]:
    """``{indicator: w}`` (or nested ``{goal: {indicator: w}}``) -> (weights, indicator -> goal)."""
    if not isinstance(weights, Mapping) or not weights:
        raise ParameterError("weights must be a non-empty mapping {indicator: weight} or {goal: {indicator: weight}}")
    flat, goal_of = {}, {}
    for key, val in weights.items():
        if isinstance(val, Mapping):
            for ind, w in val.items():
                flat[ind] = float(w)
                goal_of[ind] = key
        else:
            flat[key] = float(val)
    if any(w < 0 for w in flat.values()):
        raise ParameterError("weights must be non-negative")
    total = sum(flat.values())
    if not np.isclose(total, 1.0, atol=1e-9):
        raise ParameterError(f"weights must sum to 1 (Alkire-Foster normalisation), they sum to {total:g}")
    return flat, goal_of


def alkire_foster(
    deprivations: pd.DataFrame,
    *,
    weights,
    k: float,
    sample_weights: str | None = None,
    by: str | Sequence[str] | None = None,
    strata: str | None = None,
    psu: str | None = None,
    fpc: str | None = None,
    level: float = 0.95,
    lonely_psu: str = "adjust",
) -> pd.DataFrame:
    """H, A, M0 and contributions (by indicator and by goal), per ``by`` subgroup, with SEs.

    ``deprivations``: one row per unit, a 0/1 column per indicator named in ``weights`` (plus
    any design / by columns). ``weights``: ``{indicator: w}`` or ``{goal: {indicator: w}}``,
    summing to 1. ``k``: poverty cutoff in (0, 1] on the weighted score. ``sample_weights``,
    ``strata``, ``psu``, ``fpc``: design columns (no sample weights = census: exact values).

    Returns a tidy table: the ``by`` columns, ``term`` (``H``, ``A``, ``M0``,
    ``censored_headcount:<indicator>``, ``contribution:<indicator>``, ``contribution:<goal>``),
    then ``estimate, std_error, ci_low, ci_high, n``.
    """
    if not isinstance(deprivations, pd.DataFrame):
        raise ParameterError("deprivations must be a pandas DataFrame")
    flat, goal_of = _flatten_weights(weights)
    try:
        k = float(k)
    except (TypeError, ValueError):
        raise ParameterError(f"k must be a number in (0, 1], got {k!r}") from None
    if not 0 < k <= 1:
        raise ParameterError(f"k must be in (0, 1], got {k!r}")
    by = [by] if isinstance(by, str) else list(by or [])
    missing = [c for c in [*flat, *by, *(c for c in (sample_weights, strata, psu, fpc) if c)]
               if c not in deprivations.columns]
    if missing:
        raise ParameterError(f"columns not in deprivations: {missing}")
    g = deprivations[list(flat)].astype("float64").to_numpy()
    if np.isnan(g).any():
        bad = list(np.array(list(flat))[np.isnan(g).any(axis=0)])
        raise DataError(f"missing deprivation values in {bad}; drop or impute those rows first")
    if not np.isin(g, (0.0, 1.0)).all():
        raise DataError("deprivation indicators must be 0/1")
    w = np.array(list(flat.values()))
    score = g @ w
    poor = (score >= k - 1e-12).astype(np.float64)
    censored_score = score * poor
    ratios = {"H": (poor, 1.0), "A": (censored_score, poor), "M0": (censored_score, 1.0)}
    for j, ind in enumerate(flat):
        ratios[f"censored_headcount:{ind}"] = (g[:, j] * poor, 1.0)
        ratios[f"contribution:{ind}"] = (w[j] * g[:, j] * poor, censored_score)
    for goal in dict.fromkeys(goal_of.values()):
        cols = [j for j, ind in enumerate(flat) if goal_of.get(ind) == goal]
        ratios[f"contribution:{goal}"] = (g[:, cols] @ w[cols] * poor, censored_score)
    design = survey.Design(sample_weights, strata, psu, fpc, lonely_psu)
    summary = survey.sufficient_statistics(deprivations, ratios, design=design, by=by)
    kinds = {name: ("proportion" if name == "H" or name.startswith("censored") else "ratio") for name in ratios}
    out = survey.finalise(summary, kinds, level=level).rename(columns={"name": "term"})
    return out[[*by, "term", *survey.RESULT_COLUMNS]]


def household_deprivations(data: pd.DataFrame, framework=None, *, year_column: str = "year") -> tuple[pd.DataFrame, dict]:
    """Household deprivation matrix from a goal framework, and nested equal weights by goal.

    A household is deprived in an indicator with a numeric target when its own value misses the
    target (e.g. a labour household with nobody employed; per-capita income below the line).
    Households to whom an indicator does not apply (denominator 0: no children, no labour) are
    not deprived in it; a missing value leaves the cell missing (drop or impute before
    :func:`alkire_foster`). Indicators without a numeric target are left out. Weights: each goal
    1/(number of goals), split equally among its indicators (nested weights, as in the global MPI).
    """
    from . import framework as fw

    fwk = framework if isinstance(framework, fw.Framework) else fw.load(framework)
    values = fw.row_values(data, fwk, year_column=year_column)
    years = data[year_column] if year_column in data.columns else pd.Series(None, index=data.index)
    cols, goal_inds = {}, {}
    for ind in fwk.indicators:
        t = ind.target
        if t is None or t.direction not in (">=", "<="):
            continue
        num, den = values[ind.id]
        target = np.array([np.nan if (v := t.value_for(y, fwk.parameters)) is None else v for y in years])
        with np.errstate(divide="ignore", invalid="ignore"):
            own = np.where(den != 0, num / den, np.nan)
        if t.direction == ">=":
            dep = np.where(np.isnan(own) | np.isnan(target), np.nan, (own < target - 1e-12).astype(float))
        else:
            dep = np.where(np.isnan(own) | np.isnan(target), np.nan, (own > target + 1e-12).astype(float))
        dep = np.where(den == 0, 0.0, dep)  # not applicable -> not deprived
        cols[ind.id] = dep
        goal_inds.setdefault(ind.goal, []).append(ind.id)
    weights = {goal: {i: 1.0 / len(goal_inds) / len(inds) for i in inds} for goal, inds in goal_inds.items()}
    return pd.DataFrame(cols, index=data.index), weights
