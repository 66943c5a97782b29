"""Numba loops for numbering groups of rows (the ``numba`` engine; imported only when Numba is).

The numpy versions in :mod:`baode_eval.survey` (``_dense``, ``_group_ids``) make a temporary
array for every step; on 18.6 M rows each is 150 MB of freshly touched memory. These do the
same in one or two passes over the rows with no row-sized temporaries but the result.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_JIT = dict(cache=True, nogil=True)


@njit(**_JIT)
def _lookup(present, offset):
    """For a table of which values occur: the rank of each value among those that occur, and
    the values that occur (+ ``offset``), in sorted order."""
    span = present.shape[0]
    lut = np.empty(span, np.int64)
    k = 0
    for i in range(span):
        lut[i] = k
        if present[i]:
            k += 1
    used = np.empty(k, np.int64)
    j = 0
    for i in range(span):
        if present[i]:
            used[j] = i + offset
            j += 1
    return lut, used


@njit(**_JIT)
def dense_codes(values, lo, span, codes):
    """Codes 0..k-1 of ints ``values`` (lo <= v < lo + span) in sorted order, written into
    ``codes`` (int32 for fewer bytes to touch, int64 beyond 2**31 rows); returns the used values."""
    present = np.zeros(span, np.bool_)
    for v in values:
        present[v - lo] = True
    lut, used = _lookup(present, lo)
    for r in range(values.shape[0]):
        codes[r] = lut[values[r] - lo]
    return used


@njit(**_JIT)
def determined(gid, ngroups, code):
    """The code + 1 of each group if ``code`` is constant within every group, else an empty array."""
    val = np.full(ngroups, -2, np.int64)
    for r in range(gid.shape[0]):
        g = gid[r]
        v = code[r] + 1
        if val[g] == -2:
            val[g] = v
        elif val[g] != v:
            return np.empty(0, np.int64)
    return val


@njit(**_JIT)
def combine(gid, code, radix, span):
    """Renumber ``gid`` in place as dense ids of (gid, code + 1) in sorted order; returns the
    used combined values ``g * radix + code + 1``."""
    present = np.zeros(span, np.bool_)
    for r in range(gid.shape[0]):
        present[gid[r] * radix + code[r] + 1] = True
    lut, used = _lookup(present, 0)
    for r in range(gid.shape[0]):
        gid[r] = lut[gid[r] * radix + code[r] + 1]
    return used


@njit(**_JIT)
def relabel(gid, rank):
    for r in range(gid.shape[0]):
        gid[r] = rank[gid[r]]


@njit(**_JIT)
def linearise(dom, ds_id, d_of, n_dom, n_ds, yc, xc, nc, n_h, f_h, total, adjust, n_psu_total):
    """Phase 2 of one ratio (PSU cells, with variance): what ``survey._linearise`` does with
    numpy, fused. Returns (estimate, variance, n) per domain and z per cell."""
    n = np.zeros(n_dom)
    y = np.zeros(n_dom)
    x = np.zeros(n_dom)
    for c in range(dom.shape[0]):
        d = dom[c]
        n[d] += nc[c]
        y[d] += yc[c]
        x[d] += xc[c]
    est = np.empty(n_dom)
    r = np.empty(n_dom)
    scale = np.empty(n_dom)
    big = np.finfo(np.float64).max
    for d in range(n_dom):
        if total:
            est[d] = y[d]
            r[d] = 0.0
            scale[d] = 1.0
        else:
            est[d] = y[d] / x[d] if x[d] != 0 else np.nan
            e = est[d]
            r[d] = 0.0 if e != e else (big if e == np.inf else (-big if e == -np.inf else e))
            scale[d] = x[d] if x[d] != 0 else 1.0
    z = np.empty(dom.shape[0])
    s1 = np.zeros(n_ds)
    s2 = np.zeros(n_ds)
    for c in range(dom.shape[0]):
        d = dom[c]
        v = (yc[c] - r[d] * xc[c]) / scale[d]
        z[c] = v
        s1[ds_id[c]] += v
        s2[ds_id[c]] += v * v
    zbar = np.zeros(n_dom)
    if adjust:
        for g in range(n_ds):
            zbar[d_of[g]] += s1[g]
        for d in range(n_dom):
            zbar[d] /= max(n_psu_total, 1)
    var = np.zeros(n_dom)
    for g in range(n_ds):
        nh = n_h[g]
        if nh <= 1:
            if adjust:
                zb = zbar[d_of[g]]
                var[d_of[g]] += (1 - f_h[g]) * (s2[g] - 2 * s1[g] * zb + zb * zb)
        else:
            var[d_of[g]] += (1 - f_h[g]) * nh / (nh - 1) * (s2[g] - s1[g] * s1[g] / nh)
    for d in range(n_dom):
        if var[d] < 0:  # np.clip(.., 0, None) keeps NaN
            var[d] = 0.0
    return est, var, n, z


@njit(**_JIT)
def proportion_interval(est, se, n, q, zq):
    """Logit interval for 0 < p < 1, Wilson on the unweighted n at 0 and 1 (``survey.interval``)."""
    m = est.shape[0]
    lo = np.empty(m)
    hi = np.empty(m)
    for i in range(m):
        e = est[i]
        if e > 0 and e < 1:
            p = min(max(e, 1e-300), 1 - 1e-16)
            logit = np.log(p / (1 - p))
            half = q * se[i] / (p * (1 - p))
            a = 1 / (1 + np.exp(-(logit - half)))
            b = 1 / (1 + np.exp(-(logit + half)))
        else:
            nn = n[i]
            if nn > 0:
                centre = (e + zq * zq / (2 * nn)) / (1 + zq * zq / nn)
                hw = zq / (1 + zq * zq / nn) * np.sqrt(e * (1 - e) / nn + zq * zq / (4 * nn * nn))
                a, b = centre - hw, centre + hw
            else:
                a, b = np.nan, np.nan
        lo[i] = min(max(a, 0.0), 1.0) if a == a else a
        hi[i] = min(max(b, 0.0), 1.0) if b == b else b
    return lo, hi
