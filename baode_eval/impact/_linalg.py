"""Weighted least squares with absorbed fixed effects and CR1 clustered covariance.

Own within-transformation (alternating projections with ``numpy.bincount``) instead of a
fixed-effects package: the estimators here need only one or two fixed-effect dimensions, it
keeps the core dependencies to numpy/pandas/scipy, and it is checked against pyfixest and
linearmodels in the benchmark (bench/bench_impact.py) and against textbook values in the tests.

Small-sample convention (DESIGN.md; fixest ``ssc(adj=TRUE, fixef.K="nested", cluster.adj=TRUE)``
and reghdfe): ``V = G/(G-1) * (n-1)/(n-K) * B^-1 M B^-1`` where K counts the slopes and the
fixed effects that are *not* nested in the clusters (a nested fixed-effect dimension counts 1,
for the intercept it absorbs).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


def codes_of(values) -> tuple[np.ndarray, int]:
    """Integer codes 0..G-1 for any 1-d array of labels, and G."""
    import pandas as pd

    codes, uniques = pd.factorize(np.asarray(values), sort=True)
    return codes.astype(np.int64), len(uniques)


def demean(x: np.ndarray, fixed_effects: list[np.ndarray], w: np.ndarray, *, tol: float = 1e-11,
           max_iter: int = 10_000) -> np.ndarray:
    """Weighted within-transformation of the columns of ``x`` by several fixed-effect codings.

    Alternating projections (method of Gaure 2013, as in lfe / fixest's demeaning): subtract
    weighted group means dimension after dimension until the largest change is below ``tol``
    (relative to the column scale). One fixed effect: exact in one pass.
    """
    x = np.array(x, dtype="float64", copy=True)
    if x.ndim == 1:
        x = x[:, None]
    if not fixed_effects:
        return x
    sizes = [int(c.max()) + 1 for c in fixed_effects]
    wsum = [np.bincount(c, weights=w, minlength=g) for c, g in zip(fixed_effects, sizes)]
    scale = np.maximum(np.abs(x).max(axis=0), 1.0)
    for _ in range(max_iter if len(fixed_effects) > 1 else 1):
        biggest = 0.0
        for codes, g, ws in zip(fixed_effects, sizes, wsum):
            safe = np.where(ws > 0, ws, 1.0)
            for j in range(x.shape[1]):
                means = np.bincount(codes, weights=w * x[:, j], minlength=g) / safe
                x[:, j] -= means[codes]
                biggest = max(biggest, float(np.abs(means).max() / scale[j]))
        if biggest < tol:
            break
    return x


def nested_in(fe_codes: np.ndarray, cluster_codes: np.ndarray) -> bool:
    """True if every level of the fixed effect lies inside a single cluster."""
    g = int(fe_codes.max()) + 1
    first = np.full(g, -1, dtype=np.int64)
    first[fe_codes[::-1]] = cluster_codes[::-1]
    return bool(np.all(first[fe_codes] == cluster_codes))


@dataclass
class WLSFit:
    params: np.ndarray
    vcov: np.ndarray
    resid: np.ndarray
    n: int
    k: int                 # K used in the small-sample factor
    df_resid: int
    n_clusters: int | None
    vcov_type: str
    r2_within: float


def wls(y: np.ndarray, x: np.ndarray, *, w: np.ndarray | None = None,
        fixed_effects: list[np.ndarray] | None = None, cluster: np.ndarray | None = None,
        vcov: str = "cluster", intercept: bool = False) -> WLSFit:
    """Weighted least squares of ``y`` on ``x`` after absorbing ``fixed_effects``.

    ``vcov``: "iid" (classical, df = n - K with all fixed effects counted), "hetero" (HC1,
    n/(n-K)) or "cluster" (CR1 with nested fixed effects not counted; see module docstring).
    """
    n = len(y)
    w = np.ones(n) if w is None else np.asarray(w, dtype="float64")
    fixed_effects = list(fixed_effects or [])
    x = np.asarray(x, dtype="float64").reshape(n, -1)
    if intercept:
        x = np.column_stack([np.ones(n), x])
    yd = demean(y, fixed_effects, w)[:, 0]
    xd = demean(x, fixed_effects, w)
    sw = np.sqrt(w)
    xw = xd * sw[:, None]
    xtx = xw.T @ xw
    try:
        bread = np.linalg.inv(xtx)
    except np.linalg.LinAlgError:
        raise np.linalg.LinAlgError("regressors are collinear with the fixed effects") from None
    beta = bread @ (xw.T @ (yd * sw))
    resid = yd - xd @ beta
    kx = x.shape[1]
    fe_levels = [int(c.max()) + 1 for c in fixed_effects]
    # all fixed effects: levels minus one redundancy per extra dimension (exact for two-way
    # connected panels); a model with fixed effects and no intercept absorbs the constant.
    k_all = kx + (sum(fe_levels) - max(len(fixed_effects) - 1, 0) if fixed_effects else 0)
    n_clusters = None
    score = xd * (w * resid)[:, None]
    if vcov == "iid":
        sigma2 = float(np.sum(w * resid**2) / (n - k_all))
        v = sigma2 * bread
        k = k_all
    elif vcov == "hetero":
        k = k_all
        v = n / (n - k) * bread @ (score.T @ score) @ bread
    elif vcov == "cluster":
        if cluster is None:
            raise ValueError("vcov='cluster' needs cluster codes")
        ccodes, g = codes_of(cluster)
        n_clusters = g
        k = kx
        if fixed_effects:
            # one for the constant the fixed effects absorb, plus the levels (less one) of each
            # dimension not nested in the clusters
            k += 1 + sum(lv - 1 for c, lv in zip(fixed_effects, fe_levels) if not nested_in(c, ccodes))
        sums = np.column_stack([np.bincount(ccodes, weights=score[:, j], minlength=g) for j in range(kx)])
        meat = sums.T @ sums
        factor = g / (g - 1) * (n - 1) / (n - k)
        v = factor * bread @ meat @ bread
    else:
        raise ValueError(vcov)
    tss = float(np.sum(w * (yd - np.average(yd, weights=w)) ** 2))
    r2 = 1.0 - float(np.sum(w * resid**2)) / tss if tss > 0 else float("nan")
    return WLSFit(beta, v, resid, n, k, n - k_all, n_clusters, vcov, r2)


def wald_test(beta: np.ndarray, vcov: np.ndarray) -> tuple[float, int, float]:
    """Joint Wald chi-square test that all of ``beta`` are zero: (statistic, df, p-value)."""
    beta = np.asarray(beta, dtype="float64")
    if beta.size == 0:
        return float("nan"), 0, float("nan")
    stat = float(beta @ np.linalg.pinv(vcov) @ beta)
    df = int(np.linalg.matrix_rank(vcov))
    return stat, df, float(stats.chi2.sf(stat, df))
