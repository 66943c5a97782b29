"""Small panel generators with known true effects for the impact tests (not the project simulator).

Households relocate in batches (first treated 2016-2019, 0 = never); income has household and
year effects and, after relocation, an effect that grows with time since relocation and differs
by batch: tau(g, e) = base[g] + slope[g] * e for e >= 0. Parallel trends hold by construction.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

YEARS = np.arange(2014, 2022)
COHORTS = np.array([0, 2016, 2017, 2018, 2019])
COHORT_P = np.array([0.4, 0.15, 0.15, 0.15, 0.15])
BASE = {2016: 800.0, 2017: 500.0, 2018: 300.0, 2019: 200.0}
SLOPE = {2016: 300.0, 2017: 200.0, 2018: 150.0, 2019: 100.0}


def tau(g: float, e: float) -> float:
    return BASE[int(g)] + SLOPE[int(g)] * e if (g > 0 and e >= 0) else 0.0


def true_attgt(g, t):
    return tau(g, t - g)


def true_simple(years=YEARS, cohorts=COHORTS, p=COHORT_P) -> float:
    """Population simple aggregation: post cells weighted by cohort probability."""
    num = den = 0.0
    for g, pg in zip(cohorts, p):
        if g == 0:
            continue
        for t in years:
            if t >= g:
                num += pg * tau(g, t - g)
                den += pg
    return num / den


def true_dynamic(e: int, years=YEARS, cohorts=COHORTS, p=COHORT_P) -> float:
    cells = [(pg, tau(g, e)) for g, pg in zip(cohorts, p) if g > 0 and g + e in set(years) and g + e >= years[0] + 1]
    return sum(a * b for a, b in cells) / sum(a for a, _ in cells)


def staggered_panel(n: int, rng: np.random.Generator, *, sigma: float = 400.0, homogeneous: bool = False,
                    n_sites: int = 4, x_trend: float = 0.0) -> pd.DataFrame:
    """Household-year panel in the project's canonical names.

    ``x_trend``: income growth per year per unit of a household covariate ``x`` that also raises
    the chance of relocating (parallel trends hold only conditional on x).
    """
    x = rng.normal(size=n)
    if x_trend:
        logits = np.column_stack([np.zeros(n)] + [0.8 * x] * 4)
        probs = np.exp(logits) * COHORT_P
        probs /= probs.sum(axis=1, keepdims=True)
        u = rng.random(n)[:, None]
        g = COHORTS[(u > probs.cumsum(axis=1)).sum(axis=1)]
    else:
        g = rng.choice(COHORTS, size=n, p=COHORT_P)
    site = rng.integers(0, n_sites, size=n)
    alpha = 6000 + 1500 * rng.normal(size=n) + 300 * (g > 0)
    t = np.tile(YEARS, n)
    gg = np.repeat(g, len(YEARS))
    e = t - gg
    if homogeneous:
        effect = np.where((gg > 0) & (e >= 0), 500.0 + 200.0 * e, 0.0)
    else:
        effect = np.array([tau(a, b) for a, b in zip(gg, e)])
    year_fe = 700.0 * (t - YEARS[0]) + 200 * np.sin(t)
    y = (np.repeat(alpha, len(YEARS)) + year_fe + effect + x_trend * np.repeat(x, len(YEARS)) * (t - YEARS[0])
         + sigma * rng.normal(size=n * len(YEARS)))
    return pd.DataFrame({
        "household_id": np.repeat([f"H{i:05d}" for i in range(n)], len(YEARS)),
        "year": t,
        "site": np.repeat([f"S{s}" for s in site], len(YEARS)),
        "relocation_year": gg,
        "relocated": ((gg > 0) & (t >= gg)).astype(int),
        "per_capita_net_income": y,
        "x": np.repeat(x, len(YEARS)),
    })
