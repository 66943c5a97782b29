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
def key_lookup(values, lo, span):
    """Lookup table of an integer key column (lo <= v < lo + span): ``lut[v - lo]`` is the code
    of value v (its rank among the values that occur), and the values that occur, sorted."""
    present = np.zeros(span, np.bool_)
    for v in values:
        present[v - lo] = True
    return _lookup(present, lo)


# A key column is (values, lo, lut): the code of row r is lut[values[r] - lo] (-1 = missing), so
# integer columns are grouped from their own values, without a row-sized array of codes.


@njit(**_JIT)
def dense_key(values, lo, lut, span, gid):
    """gid[r] = rank of (code + 1) of row r among those that occur (0 <= code + 1 < span);
    returns the codes that occur, sorted."""
    present = np.zeros(span, np.bool_)
    for v in values:
        present[lut[v - lo] + 1] = True
    rank, used = _lookup(present, -1)
    for r in range(values.shape[0]):
        gid[r] = rank[lut[values[r] - lo] + 1]
    return used


@njit(**_JIT)
def determined_key(gid, ngroups, values, lo, lut):
    """The code + 1 of each group if the key is constant within every group, else an empty array
    (compared on the values themselves: codes are one-to-one with them)."""
    seen = np.zeros(ngroups, np.bool_)
    val = np.empty(ngroups, np.int64)
    for r in range(gid.shape[0]):
        g = gid[r]
        v = values[r]
        if not seen[g]:
            seen[g] = True
            val[g] = v
        elif val[g] != v:
            return np.empty(0, np.int64)
    for g in range(ngroups):
        val[g] = lut[val[g] - lo] + 1
    return val


@njit(**_JIT)
def combine_key(gid, values, lo, lut, radix, span):
    """Renumber ``gid`` in place as dense ids of (gid, code + 1) in sorted order; returns the
    used combined values ``g * radix + code + 1``."""
    present = np.zeros(span, np.bool_)
    for r in range(gid.shape[0]):
        present[gid[r] * radix + lut[values[r] - lo] + 1] = True
    rank, used = _lookup(present, 0)
    for r in range(gid.shape[0]):
        gid[r] = rank[gid[r] * radix + lut[values[r] - lo] + 1]
    return used


def scan_source(m: int) -> str:
    """Source of ``scan(v0, lo0, pres0, a, b, v1, lo1, first1, conflict1, pres1, span1, ...)``
    for ``m`` other keys: one pass over rows ``a:b`` for the fused numbering
    (``survey._fused_group_ids``), on raw offsets ``value - lo`` (no lookup table is read per
    row). It notes which offsets of the first key occur (``pres0[o0]``) and, for every other key
    ``j``, its offset first seen with each ``o0`` (``first_j[o0]``, -1 = none), whether another
    one came later (``conflict_j[0]``: not determined by the first key) and, when ``span_j > 0``,
    which combinations occur (``pres_j[o0 * span_j + oj]``). Written out per key (generated
    code, loaded by ``kernel._load``): a tuple of arrays unrolled in the loop costs a reference
    count per row and key, ten times the work."""
    args = "".join(f", v{j}, lo{j}, first{j}, conflict{j}, pres{j}, span{j}" for j in range(1, m + 1))
    lines = ["import numpy as np", "from numba import njit", "", "",
             "@njit(cache=True, nogil=True)",
             f"def scan(v0, lo0, pres0, a, b{args}):",
             "    for r in range(a, b):",
             "        o0 = np.uint64(v0[r] - lo0)  # unsigned: no test for negative indices",
             "        pres0[o0] = True"]
    for j in range(1, m + 1):
        lines += [f"        o = v{j}[r] - lo{j}",
                  f"        f = first{j}[o0]",
                  "        if f < 0:",
                  f"            first{j}[o0] = o",
                  "        elif f != o:",
                  f"            conflict{j}[0] = True",
                  f"        if span{j} > 0:",
                  f"            pres{j}[np.uint64(o0 * span{j} + o)] = True"]
    return "\n".join(lines) + "\n"


@njit(**_JIT)
def assign_one(v0, lo0, final, a, b, gid, cnt):
    """``gid[r] = final[v0[r] - lo0]`` for rows ``a:b``, and rows per group into ``cnt``."""
    for r in range(a, b):
        g = final[np.uint64(v0[r] - lo0)]
        gid[r] = g
        cnt[g] += 1


@njit(**_JIT)
def assign_two(v0, lo0, v1, lo1, span1, final, a, b, gid, cnt):
    """``gid[r] = final[(v0[r] - lo0) * span1 + v1[r] - lo1]`` for rows ``a:b``, and rows per
    group into ``cnt``."""
    for r in range(a, b):
        g = final[np.uint64((v0[r] - lo0) * span1 + (v1[r] - lo1))]
        gid[r] = g
        cnt[g] += 1


@njit(**_JIT)
def sort_code(parts, cols, divs):
    """``(code, ok)``: the mixed-radix code :func:`baode_eval.survey._lexsort` packs, of the sort
    columns ``parts[:, cols[k]]`` (``(parts[:, cols[k]] - 1) // divs[k]`` where ``divs[k] > 0``),
    made in two passes over the rows of ``parts`` -- not one strided pass per column and step
    (at national size 980,000 x 4 parts: the sort took 45-80 ms that way); ``ok`` false when the
    code would not fit in 62 bits."""
    n = parts.shape[0]
    m = cols.shape[0]
    lo = np.full(m, np.iinfo(np.int64).max)
    hi = np.full(m, np.iinfo(np.int64).min)
    for r in range(n):
        for k in range(m):
            v = parts[r, cols[k]]
            if divs[k] > 0:
                v = (v - 1) // divs[k]
            lo[k] = min(lo[k], v)
            hi[k] = max(hi[k], v)
    code = np.zeros(n, np.int64)
    if n == 0:
        return code, True
    size = 1.0
    for k in range(m):
        size *= float(hi[k] - lo[k] + 1)
    if size >= 2.0 ** 62:
        return code, False
    for r in range(n):
        c = 0
        for k in range(m):
            v = parts[r, cols[k]]
            if divs[k] > 0:
                v = (v - 1) // divs[k]
            c = c * (hi[k] - lo[k] + 1) + (v - lo[k])
        code[r] = c
    return code, True


@njit(**_JIT)
def changes(values):
    """How many rows hold another value than the row before (how often a key changes along
    the rows: the cells are laid out so that the key that changes least varies slowest)."""
    k = 0
    for r in range(1, values.shape[0]):
        if values[r] != values[r - 1]:
            k += 1
    return k


@njit(**_JIT)
def relabel(gid, rank):
    for r in range(gid.shape[0]):
        gid[r] = rank[gid[r]]


@njit(inline="always", **_JIT)
def _bounds(e, s, nn, q, zq, proportion):
    """Interval of one estimate (``survey.interval``): est -+ q*se; for a proportion the logit
    interval for 0 < p < 1 and Wilson on the unweighted n at 0 and 1, clipped to [0, 1]."""
    if not proportion:
        return e - q * s, e + q * s
    if e > 0 and e < 1:
        p = min(max(e, 1e-300), 1 - 1e-16)
        half = q * s / (p * (1 - p))
        # expit(logit(p) -+ half) with one exp: exp(-logit(p)) = (1 - p) / p
        odds = (1 - p) / p
        eh = np.exp(half)
        a = 1 / (1 + odds * eh)
        b = 1 / (1 + odds / eh)
    elif nn > 0:
        centre = (e + zq * zq / (2 * nn)) / (1 + zq * zq / nn)
        hw = zq / (1 + zq * zq / nn) * np.sqrt(e * (1 - e) / nn + zq * zq / (4 * nn * nn))
        a, b = centre - hw, centre + hw
    else:
        a, b = np.nan, np.nan
    return (min(max(a, 0.0), 1.0) if a == a else a), (min(max(b, 0.0), 1.0) if b == b else b)


@njit(**_JIT)
def proportion_interval(est, se, n, q, zq):
    """Logit interval for 0 < p < 1, Wilson on the unweighted n at 0 and 1 (``survey.interval``)."""
    m = est.shape[0]
    lo = np.empty(m)
    hi = np.empty(m)
    for i in range(m):
        lo[i], hi[i] = _bounds(est[i], se[i], n[i], q, zq, True)
    return lo, hi


@njit(**_JIT)
def finalise(order, dstart, dstop, gfirst, gstop, gstart, yc, xc, nc, n_h, f_h, total, adjust, n_psu_total, proportion,
             q, zq, target, direction, q1, zq1, est, se, lo, hi, n, verdict, var, z):
    """Phase 2 of one ratio on cells grouped by domain and sorted by (stratum, PSU) within it:
    what ``survey._linearise``, ``survey.interval`` and ``scorecard.verdict_codes`` do with
    numpy, written straight into the output slices ``est, se, lo, hi, n, verdict`` (and ``var``
    per domain and ``z`` per cell when their length is not 0: the changes need them).

    Domain ``d`` is cells ``dstart[d]:dstop[d]`` and (domain, stratum) groups
    ``gfirst[d]:gstop[d]``; group ``g`` is cells ``gstart[g]:gstart[g+1]``; ``order`` lists the
    domains in the order of their cells (read front to back; the outputs are written in domain
    order, which may jump). Sums run in cell
    order (numpy's may differ in the last bits). ``direction``: 0 no verdict (-1), 1 ``>=``,
    2 ``<=`` against ``target[d]`` with the one-sided bounds at quantiles ``q1``/``zq1``."""
    big = np.finfo(np.float64).max
    keep_var = var.shape[0] > 0
    keep_z = z.shape[0] > 0
    s1 = np.empty(gstart.shape[0])
    s2 = np.empty(gstart.shape[0])
    tol = 1e-12
    for i in range(order.shape[0]):
        d = order[i]
        yd = 0.0
        xd = 0.0
        nd = 0
        for c in range(dstart[d], dstop[d]):
            nd += nc[c]
            yd += yc[c]
            xd += xc[c]
        if total:
            e, r, scale = yd, 0.0, 1.0
        else:
            e = yd / xd if xd != 0 else np.nan
            r = 0.0 if e != e else (big if e == np.inf else (-big if e == -np.inf else e))
            scale = xd if xd != 0 else 1.0
        zbar = 0.0
        for g in range(gfirst[d], gstop[d]):
            a1 = 0.0
            a2 = 0.0
            for c in range(gstart[g], gstart[g + 1]):
                v = (yc[c] - r * xc[c]) / scale
                if keep_z:
                    z[c] = v
                a1 += v
                a2 += v * v
            s1[g] = a1
            s2[g] = a2
            zbar += a1
        zbar /= max(n_psu_total, 1)
        vd = 0.0
        for g in range(gfirst[d], gstop[d]):
            vd += _stratum_term(s1[g], s2[g], n_h[g], f_h[g], adjust, zbar)
        if vd < 0:  # np.clip(.., 0, None): NaN stays
            vd = 0.0
        sd = np.sqrt(vd)
        est[d] = e
        se[d] = sd
        n[d] = nd
        a, b = _bounds(e, sd, float(nd), q, zq, proportion)
        lo[d], hi[d] = a, b
        if keep_var:
            var[d] = vd
        code = -1
        if direction != 0 and e == e and target[d] == target[d]:
            # the one-sided bounds (level 2*level-1) lie inside the two-sided interval: when the
            # target is outside that, the verdict is known without computing them
            t = target[d]
            if direction == 1:
                if a >= t - tol:
                    code = 0
                elif b < t - tol:
                    code = 1
                else:
                    l1, h1 = _bounds(e, sd, float(nd), q1, zq1, proportion)
                    code = 0 if l1 >= t - tol else (1 if h1 < t - tol else 2)
            else:
                if b <= t + tol:
                    code = 0
                elif a > t + tol:
                    code = 1
                else:
                    l1, h1 = _bounds(e, sd, float(nd), q1, zq1, proportion)
                    code = 0 if h1 <= t + tol else (1 if l1 > t + tol else 2)
        verdict[d] = code


@njit(**_JIT)
def contrast_variance(order, a, b, ca, cb, start, stop, h, psu, z, n_h, f_h, adjust, n_psu_total):
    """Variance of ``ca*R_a - cb*R_b`` for every pair of domains ``(a[k], b[k])`` (what
    ``scorecard._Pairing.variance`` does with numpy): the cells of domain ``d`` are
    ``start[d]:stop[d]``, sorted by (stratum ``h``, ``psu``); the two domains' cells are merged
    on (stratum, PSU), so a PSU in both adds ``ca*z_a - cb*z_b``. ``n_h``/``f_h`` by stratum code;
    ``order``: the pairs in the order of their first domain's cells (read front to back)."""
    m = a.shape[0]
    var = np.empty(m)
    for kk in range(m):
        k = order[kk]
        i, ea = start[a[k]], stop[a[k]]
        j, eb = start[b[k]], stop[b[k]]
        cak, cbk = ca[k], cb[k]
        zb = 0.0
        if adjust:  # lone PSUs are centred at the mean PSU total of the whole design
            tot = 0.0
            for c in range(i, ea):
                tot += cak * z[c]
            for c in range(j, eb):
                tot -= cbk * z[c]
            zb = tot / max(n_psu_total, 1)
        v = 0.0
        cur = -1
        s1 = 0.0
        s2 = 0.0
        while i < ea or j < eb:
            if j >= eb or (i < ea and (h[i] < h[j] or (h[i] == h[j] and psu[i] < psu[j]))):
                hh = h[i]
                dt = cak * z[i]
                i += 1
            elif i >= ea or h[j] < h[i] or (h[j] == h[i] and psu[j] < psu[i]):
                hh = h[j]
                dt = -(cbk * z[j])
                j += 1
            else:
                hh = h[i]
                dt = cak * z[i] + -(cbk * z[j])
                i += 1
                j += 1
            if hh != cur:
                if cur >= 0:
                    v += _stratum_term(s1, s2, n_h[cur], f_h[cur], adjust, zb)
                cur = hh
                s1 = 0.0
                s2 = 0.0
            s1 += dt
            s2 += dt * dt
        if cur >= 0:
            v += _stratum_term(s1, s2, n_h[cur], f_h[cur], adjust, zb)
        var[k] = 0.0 if v < 0 else v  # np.clip(.., 0, None): NaN stays
    return var


@njit(inline="always", **_JIT)
def _stratum_term(s1, s2, nh, fh, adjust, zb):
    if nh <= 1:
        if adjust:
            return (1 - fh) * (s2 - 2 * s1 * zb + zb * zb)
        return 0.0
    return (1 - fh) * nh / (nh - 1) * (s2 - s1 * s1 / nh)


@njit(**_JIT)
def count(gid, n):
    """Rows per group (``np.bincount`` casts int32 ids to a fresh int64 copy first)."""
    out = np.zeros(n, np.int64)
    for g in gid:
        out[g] += 1
    return out

