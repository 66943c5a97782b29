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
def dense_codes(values, lo, span):
    """Codes 0..k-1 of ints ``values`` (lo <= v < lo + span) in sorted order, and the used values."""
    present = np.zeros(span, np.bool_)
    for v in values:
        present[v - lo] = True
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
            used[j] = i + lo
            j += 1
    codes = np.empty(values.shape[0], np.int64)
    for r in range(values.shape[0]):
        codes[r] = lut[values[r] - lo]
    return codes, used


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
            used[j] = i
            j += 1
    for r in range(gid.shape[0]):
        gid[r] = lut[gid[r] * radix + code[r] + 1]
    return used


@njit(**_JIT)
def relabel(gid, rank):
    for r in range(gid.shape[0]):
        gid[r] = rank[gid[r]]


@njit(**_JIT)
def transpose(a, out):
    """out[k, g] = a[g, k], in tiles of rows (numpy's ``a.T`` copy is several times slower here)."""
    n, m = a.shape
    for g0 in range(0, n, 512):
        g1 = min(g0 + 512, n)
        for k in range(m):
            for g in range(g0, g1):
                out[k, g] = a[g, k]
