"""Numba kernels (``cache=True``) for the point-pattern statistics, nothing else.

Plain arrays in, plain arrays out; the statistics, their validation and their
documentation live in :mod:`geo.stats.pointpattern`.

Pair-distance moments
    The Duranton–Overman density is evaluated from a fine histogram of pair distances that
    keeps, per bin of width ``delta``, the weighted count and the first two moments of the
    offset of each distance from the bin centre (``S0 = sum w``, ``S1 = sum w e``,
    ``S2 = sum w e^2``).  A second-order Taylor expansion of the kernel around the bin centre
    then reproduces the exact kernel sum up to a third-order remainder
    (see :func:`geo.stats.pointpattern.kd`).
Ripley pair counts
    Ordered pairs within the largest distance by distance bin (with Ripley's border
    correction when asked), from a two-dimensional cell list, without storing the pairs.
Ripley isotropic sums
    Ordered pairs within the largest distance by distance bin, each weighted by Ripley's
    isotropic edge correction, from the same cell list (no pair list).
Border distances
    Each point's distance to the nearest window edge, by branch and bound over a
    bounding-box tree of the edges (the loop over every edge for windows of few edges).
Circle fractions
    The exact fraction of a circle's circumference inside a polygonal window (any number of
    rings, holes allowed), for Ripley's isotropic edge correction; the crossing edges and the
    inside tests come from the same edge tree when the window has many edges.
Marcon–Puech M
    Cumulative neighbour ratios over a fixed neighbour list, one simulation per mark vector.
"""

from __future__ import annotations

import math

import numpy as np
from numba import get_num_threads, njit, prange

from geo._numba_util import search_left

__all__ = [
    "OVERFLOW_ROWS",
    "pair_moments",
    "pair_moments_cells",
    "banded_curve",
    "kd_simulations",
    "distance_summary",
    "stable_argsort",
    "K_SERIAL_POINTS",
    "k_pair_counts",
    "k_pair_counts_many",
    "circle_fractions",
    "k_isotropic_sums",
    "points_in_window",
    "boundary_distances",
    "BOUNDARY_TREE_EDGES",
    "m_simulations",
]

_TWO_PI = 2.0 * math.pi


# --------------------------------------------------------------------------------------
# pair-distance moment histograms
# --------------------------------------------------------------------------------------


#: spare histogram rows that take the pairs beyond the last bin, spread over 16 rows so that
#: consecutive out-of-range pairs do not form one serial chain of additions
OVERFLOW_ROWS = 16


@njit(cache=True, inline="always")
def _row_distances(xi, yi, xs, ys, j0, j1, out):
    """The distances from (xi, yi) to the points j in [j0, j1) into ``out[:j1 - j0]``.

    The row is read through slices indexed from 0, so that the loop compiles to contiguous
    vector loads and a vector square root (inlined: in the caller's floating-point mode).
    """
    xr = xs[j0:j1]
    yr = ys[j0:j1]
    for k in range(j1 - j0):
        dx = xr[k] - xi
        dy = yr[k] - yi
        out[k] = math.sqrt(dx * dx + dy * dy)


@njit(cache=True, fastmath=True)
def _accumulate_row(xi, yi, wi, xs, ys, ws, j0, j1, inv_delta, delta, nbins, flat, dbuf, bbuf,
                    weighted):
    """Add the pairs (i, j) for j in [j0, j1) to the histogram (branch-free).

    ``flat`` is the histogram as one C-ordered vector (4 values a row).  The row is read
    through slices indexed from 0 and the histogram through unsigned offsets, so that
    neither needs negative-index handling: pass 1 compiles to contiguous vector loads (not
    gathers) and pass 2 to plain scalar updates.  The arithmetic, and the order in which
    the pairs reach each bin, are those of the plain two-dimensional indexing.
    """
    n = j1 - j0
    # pass 1: distances, then bins and offsets (vectorised)
    _row_distances(xi, yi, xs, ys, j0, j1, dbuf)
    for k in range(n):
        d = dbuf[k]
        b = min(int(d * inv_delta), nbins)
        dbuf[k] = d - (b + 0.5) * delta
        bbuf[k] = b if b < nbins else nbins + (k & (OVERFLOW_ROWS - 1))
    # pass 2: scatter into the histogram
    one = np.uint64(1)
    two = np.uint64(2)
    if weighted:
        wr = ws[j0:j1]
        for k in range(n):
            b = np.uint64(bbuf[k]) << two
            e = dbuf[k]
            w = wi * wr[k]
            flat[b] += w
            flat[b + one] += w * e
            flat[b + two] += w * e * e
    else:
        for k in range(n):
            b = np.uint64(bbuf[k]) << two
            e = dbuf[k]
            flat[b] += 1.0
            flat[b + one] += e
            flat[b + two] += e * e


@njit(cache=True, fastmath=True)
def pair_moments(xs, ys, ws, delta, nbins, cutoff, hist, weighted=True):
    """Moment histogram of all pairs i < j, for points sorted by x.

    ``hist`` (shape ``(nbins + OVERFLOW_ROWS, 4)``, C-contiguous) is zeroed and filled:
    column 0 the weight sum, 1 the weighted offset from the bin centre, 2 the weighted
    squared offset; distances
    ``>= nbins * delta`` land in the overflow rows (to be ignored), so ``cutoff`` must be
    ``nbins * delta``.  Because the points are sorted by x, the inner loop stops at the first
    j with ``x_j - x_i > cutoff`` (a sweep: a one-dimensional cell list).
    """
    m = xs.shape[0]
    hist[:, :] = 0.0
    flat = hist.reshape(hist.size)
    inv_delta = 1.0 / delta
    dbuf = np.empty(m, dtype=np.float64)
    bbuf = np.empty(m, dtype=np.int64)
    jend = 0
    for i in range(m - 1):
        xi = xs[i]
        if jend < i + 1:
            jend = i + 1
        while jend < m and xs[jend] - xi <= cutoff:
            jend += 1
        _accumulate_row(xi, ys[i], ws[i], xs, ys, ws, i + 1, jend, inv_delta, delta, nbins,
                        flat, dbuf, bbuf, weighted)


@njit(cache=True)
def _bounds(xs, ys):
    """(xmin, xmax, ymin, ymax) of the points (at least one)."""
    xmin = xs[0]
    xmax = xs[0]
    ymin = ys[0]
    ymax = ys[0]
    for i in range(xs.shape[0]):
        xmin = min(xmin, xs[i])
        xmax = max(xmax, xs[i])
        ymin = min(ymin, ys[i])
        ymax = max(ymax, ys[i])
    return xmin, xmax, ymin, ymax


@njit(cache=True)
def _cell_order(xs, ys, xmin, ymin, size, nx, ny):
    """A cell list: ``(order, start)`` with the points of cell ``c`` (row-major, cells of
    side ``size`` from ``(xmin, ymin)``) at ``order[start[c]:start[c + 1]]``, in input order."""
    m = xs.shape[0]
    ncell = nx * ny
    cell = np.empty(m, dtype=np.int64)
    start = np.zeros(ncell + 1, dtype=np.int64)
    for i in range(m):
        cx = min(int((xs[i] - xmin) / size), nx - 1)
        cy = min(int((ys[i] - ymin) / size), ny - 1)
        cell[i] = cy * nx + cx
        start[cell[i] + 1] += 1
    for c in range(ncell):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    order = np.empty(m, dtype=np.int64)
    for i in range(m):
        order[fill[cell[i]]] = i
        fill[cell[i]] += 1
    return order, start


@njit(cache=True, fastmath=True)
def pair_moments_cells(xs, ys, ws, delta, nbins, cutoff, hist, weighted=True):
    """Same as :func:`pair_moments` with a two-dimensional cell list of cell size ``cutoff``.

    Only pairs in the same or in adjacent cells are visited (half stencil); worthwhile when
    ``cutoff`` is small against the extent of the points.
    """
    m = xs.shape[0]
    hist[:, :] = 0.0
    flat = hist.reshape(hist.size)
    inv_delta = 1.0 / delta
    xmin, xmax, ymin, ymax = _bounds(xs, ys)
    nx = max(1, int((xmax - xmin) / cutoff) + 1)
    ny = max(1, int((ymax - ymin) / cutoff) + 1)
    order, start = _cell_order(xs, ys, xmin, ymin, cutoff, nx, ny)
    sx = np.empty(m, dtype=np.float64)
    sy = np.empty(m, dtype=np.float64)
    sw = np.empty(m, dtype=np.float64)
    for k in range(m):
        sx[k] = xs[order[k]]
        sy[k] = ys[order[k]]
        sw[k] = ws[order[k]]
    dbuf = np.empty(m, dtype=np.float64)
    bbuf = np.empty(m, dtype=np.int64)
    for cy in range(ny):
        for cx in range(nx):
            c = cy * nx + cx
            a0 = start[c]
            a1 = start[c + 1]
            for i in range(a0, a1):
                # same cell, j > i
                _accumulate_row(sx[i], sy[i], sw[i], sx, sy, sw, i + 1, a1, inv_delta, delta,
                                nbins, flat, dbuf, bbuf, weighted)
                # half stencil: (+1, 0), (-1, +1), (0, +1), (+1, +1)
                for k in range(4):
                    if k == 0:
                        ox, oy = 1, 0
                    elif k == 1:
                        ox, oy = -1, 1
                    elif k == 2:
                        ox, oy = 0, 1
                    else:
                        ox, oy = 1, 1
                    qx = cx + ox
                    qy = cy + oy
                    if qx < 0 or qx >= nx or qy >= ny:
                        continue
                    q = qy * nx + qx
                    _accumulate_row(sx[i], sy[i], sw[i], sx, sy, sw, start[q], start[q + 1],
                                    inv_delta, delta, nbins, flat, dbuf, bbuf, weighted)


@njit(cache=True)
def banded_curve(hist, band_lo, band_hi, band_off, kvals, out):
    """``out[g] = sum_b sum_k hist[b, k] * kvals[band_off[g] + b - band_lo[g], k]``."""
    for g in range(out.shape[0]):
        acc = 0.0
        off = band_off[g] - band_lo[g]
        for b in range(band_lo[g], band_hi[g]):
            acc += (hist[b, 0] * kvals[off + b, 0] + hist[b, 1] * kvals[off + b, 1]
                    + hist[b, 2] * kvals[off + b, 2])
        out[g] = acc


@njit(cache=True, parallel=True)
def kd_simulations(x, y, idx, wmat, weighted, delta, nbins, cutoff, use_cells,
                   band_lo, band_hi, band_off, kvals, out):
    """Unnormalised kernel sums for each simulated sample.

    ``idx[s]`` holds the site indices of simulation ``s`` in increasing order (sites are
    sorted by x, so the sample is too); ``wmat[s]`` their weights when ``weighted``.
    ``out[s, g]`` receives ``sum_{i<j} w_i w_j [f((d_g - d_ij)/h) + f((d_g + d_ij)/h)]`` in
    the binned approximation (the caller divides by ``h`` and the weight of all pairs).
    """
    nsim, m = idx.shape
    for s in prange(nsim):
        xs = np.empty(m, dtype=np.float64)
        ys = np.empty(m, dtype=np.float64)
        ws = np.ones(m, dtype=np.float64)
        for k in range(m):
            xs[k] = x[idx[s, k]]
            ys[k] = y[idx[s, k]]
        if weighted:
            for k in range(m):
                ws[k] = wmat[s, k]
        hist = np.empty((nbins + OVERFLOW_ROWS, 4), dtype=np.float64)
        if use_cells:
            pair_moments_cells(xs, ys, ws, delta, nbins, cutoff, hist, weighted)
        else:
            pair_moments(xs, ys, ws, delta, nbins, cutoff, hist, weighted)
        row = np.empty(out.shape[1], dtype=np.float64)
        banded_curve(hist, band_lo, band_hi, band_off, kvals, row)
        for g in range(out.shape[1]):
            out[s, g] = row[g]


@njit(cache=True, parallel=True)
def _distance_summary(xs, ys, nq, dmax, moments, nblock):
    m = xs.shape[0]
    nchunk = 16
    cnt = np.zeros((nblock, nq), dtype=np.int64)
    sums = np.zeros((nchunk, 3), dtype=np.float64)
    scale = nq / dmax
    for blk in prange(nblock):
        buf = np.empty(max(m, 1), dtype=np.float64)
        cb = cnt[blk]
        for c in range(blk, nchunk, nblock):
            s0 = 0.0
            s1 = 0.0
            s2 = 0.0
            for i in range(c, m - 1, nchunk):
                xi = xs[i]
                yi = ys[i]
                n = m - 1 - i
                # pass 1: the row's distances (slices from 0: contiguous vector loads)
                xr = xs[i + 1:m]
                yr = ys[i + 1:m]
                for k in range(n):
                    dx = xr[k] - xi
                    dy = yr[k] - yi
                    buf[k] = math.sqrt(dx * dx + dy * dy)
                # pass 2: the sums in pair order, the histogram (unsigned bins)
                if moments:
                    for k in range(n):
                        d = buf[k]
                        s1 += d
                        s2 += d * d
                for k in range(n):
                    cb[np.uint64(min(int(buf[k] * scale), nq - 1))] += 1
                s0 += n
            sums[c, 0] = s0
            sums[c, 1] = s1
            sums[c, 2] = s2
    return sums.sum(axis=0), cnt.sum(axis=0).astype(np.float64)


def distance_summary(xs, ys, nq, dmax, moments=True):
    """Count, sum, sum of squares and an ``nq``-bin histogram on [0, dmax] of all pair distances.

    Used for Silverman's bandwidth (standard deviation and interquartile range) and for the
    median pair distance.  The rows are dealt to 16 interleaved groups; each group sums its
    pairs in row order (the sums depend on that order: it is fixed, whatever the number of
    threads) and the groups are shared among the threads, each counting into its own
    histogram (counts do not depend on the order).  Without ``moments`` only the count and the
    histogram are computed (the sums are returned as 0).
    """
    nblock = max(1, min(16, get_num_threads()))
    return _distance_summary(xs, ys, nq, dmax, moments, nblock)


@njit(cache=True)
def stable_argsort(x):
    """``np.argsort(x, kind="stable")`` for finite float64 ``x``, by an LSD radix sort.

    The keys are the IEEE bit patterns mapped to order-preserving unsigned integers (-0.0 is
    first made +0.0, so that it ties with 0.0 as in NumPy); 11-bit digits, passes whose digit
    is the same for every key skipped.  Each pass is stable, so equal values keep their input
    order: the permutation is NumPy's, about 3-4 times faster for a million values.
    """
    n = x.shape[0]
    bits = (x + 0.0).view(np.uint64)
    top = np.uint64(1) << np.uint64(63)
    key = np.empty(n, dtype=np.uint64)
    for i in range(n):
        u = bits[i]
        key[i] = ~u if u & top else u | top
    idx = np.arange(n)
    key2 = np.empty(n, dtype=np.uint64)
    idx2 = np.empty(n, dtype=np.int64)
    nb = 2048
    mask = np.uint64(nb - 1)
    cnt = np.empty(nb, dtype=np.int64)
    for p in range(6):
        shift = np.uint64(11 * p)
        cnt[:] = 0
        for i in range(n):
            cnt[(key[i] >> shift) & mask] += 1
        if cnt.max() == n:
            continue
        acc = 0
        for b in range(nb):
            c = cnt[b]
            cnt[b] = acc
            acc += c
        for i in range(n):
            b = (key[i] >> shift) & mask
            j = cnt[b]
            key2[j] = key[i]
            idx2[j] = idx[i]
            cnt[b] = j + 1
        key, key2 = key2, key
        idx, idx2 = idx2, idx
    return idx


# --------------------------------------------------------------------------------------
# Ripley's K: pair counts by distance bin (no pair list)
# --------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _grid_index(d, xi, yi, xj, yj, r, tab, inv, nt):
    """The first grid index k with ``r[k] >= d_ij`` (``len(r)`` when none), for the distance
    ``d = sqrt(dx^2 + dy^2)`` of the pair; within 1e-14 (relative) of a grid value, where
    ``sqrt`` and ``hypot`` can round differently, ``hypot`` decides (as ``np.hypot``)."""
    nr = r.shape[0]
    k = tab[min(int(d * inv), nt)]
    while k < nr and r[k] < d:
        k += 1
    tol = 1e-14 * d
    if (k < nr and r[k] - d <= tol) or (k > 0 and d - r[k - 1] <= tol):
        k = search_left(r, 0, nr, math.hypot(xj - xi, yj - yi))
    return k


@njit(cache=True)
def _within_reach(xi, yi, sx, sy, j0, j1, rmax_hi, buf, jbuf):
    """Pass 1 of a row: the distances from (xi, yi) to the points j in [j0, j1), those within
    ``rmax_hi`` packed at the front of ``buf`` with their indices in ``jbuf``; returns how many.

    The distances from :func:`_row_distances`; the packing is branch-free and in place.
    """
    _row_distances(xi, yi, sx, sy, j0, j1, buf)
    cnt = 0
    for k in range(j1 - j0):
        d = buf[k]
        buf[cnt] = d
        jbuf[cnt] = j0 + k
        cnt += d <= rmax_hi
    return cnt


@njit(cache=True)
def _k_row(xi, yi, si, sx, sy, ss, j0, j1, r, rmax_hi, tab, inv, nt, border, out, buf,
           jbuf):
    """Add the pairs (i, j) for j in [j0, j1) to the counts ``out`` (see k_pair_counts)."""
    nr = r.shape[0]
    cnt = _within_reach(xi, yi, sx, sy, j0, j1, rmax_hi, buf, jbuf)  # pass 1
    # pass 2: their grid indices
    ends_i = 0
    ends_nr = 0
    for q in range(cnt):
        k = _grid_index(buf[q], xi, yi, sx[jbuf[q]], sy[jbuf[q]], r, tab, inv, nt)
        if k == nr:
            continue
        if border:
            if k < si:
                out[k] += 1
                ends_i += 1
            sj = ss[jbuf[q]]
            if k < sj:
                out[k] += 1
                if sj < nr:
                    out[sj] -= 1
                else:
                    ends_nr += 1
        else:
            out[k] += 2
    # the -1 entries at the stops of i and of the points deepest inside (stop = len(r)),
    # summed in registers rather than one serial update of the same counter per pair
    if border:
        out[si] -= ends_i
        out[nr] -= ends_nr


@njit(cache=True)
def _k_grid(xs, ys, r, stop, border):
    """Cell list for :func:`k_pair_counts`: the points sorted by cell, the lookup tables and
    the order that sorts the input points by cell."""
    m = xs.shape[0]
    nr = r.shape[0]
    rmax = r[nr - 1]
    xmin, xmax, ymin, ymax = _bounds(xs, ys)
    # cells no smaller than rmax (so only adjacent cells hold pairs), at most ~2048 a side
    size = max(rmax, max(xmax - xmin, ymax - ymin) / 2048.0)
    if not size > 0.0:
        size = 1.0
    nx = int((xmax - xmin) / size) + 1
    ny = int((ymax - ymin) / size) + 1
    order, start = _cell_order(xs, ys, xmin, ymin, size, nx, ny)
    biggest = 0
    for c in range(nx * ny):
        biggest = max(biggest, start[c + 1] - start[c])
    sx = np.empty(m, dtype=np.float64)
    sy = np.empty(m, dtype=np.float64)
    ss = np.empty(m, dtype=np.int64)
    for k in range(m):
        i = order[k]
        sx[k] = xs[i]
        sy[k] = ys[i]
        ss[k] = stop[i] if border else nr
    # bucket table for the grid search: tab[t] = first k with r[k] >= t / inv (then step up)
    nt = 64 * nr
    inv = nt / rmax if rmax > 0.0 else 0.0
    tab = np.zeros(nt + 1, dtype=np.int64)
    if inv > 0.0:
        for t in range(nt + 1):
            tab[t] = search_left(r, 0, r.shape[0], t / inv)
    return sx, sy, ss, start, nx, ny, biggest, tab, inv, nt, order


@njit(cache=True, inline="always")
def _half_stencil(cx, cy, q, nx, ny):
    """Cell ``q`` (0-3) of the half stencil (+1, 0), (-1, +1), (0, +1), (+1, +1) of cell
    (cx, cy) in a row-major ``nx`` by ``ny`` grid, or -1 when it lies outside."""
    if q == 0:
        qx, qy = cx + 1, cy
    elif q == 1:
        qx, qy = cx - 1, cy + 1
    elif q == 2:
        qx, qy = cx, cy + 1
    else:
        qx, qy = cx + 1, cy + 1
    if qx < 0 or qx >= nx or qy >= ny:
        return -1
    return qy * nx + qx


@njit(cache=True)
def _k_chunk(ch, nchunk, sx, sy, ss, start, nx, ny, biggest, r, tab, inv, nt, border, out):
    """The pairs of cells ch, ch + nchunk, ... (and their half stencils) into ``out``."""
    rmax_hi = r[r.shape[0] - 1] * (1.0 + 1e-14)
    buf = np.empty(biggest, dtype=np.float64)
    jbuf = np.empty(biggest, dtype=np.int64)
    for c in range(ch, nx * ny, nchunk):
        cx = c % nx
        cy = c // nx
        for i in range(start[c], start[c + 1]):
            xi = sx[i]
            yi = sy[i]
            si = ss[i]
            # same cell (j > i)
            _k_row(xi, yi, si, sx, sy, ss, i + 1, start[c + 1], r, rmax_hi, tab, inv, nt,
                   border, out, buf, jbuf)
            for q in range(4):
                p = _half_stencil(cx, cy, q, nx, ny)
                if p < 0:
                    continue
                _k_row(xi, yi, si, sx, sy, ss, start[p], start[p + 1], r, rmax_hi, tab, inv,
                       nt, border, out, buf, jbuf)


@njit(cache=True)
def _k_serial(sx, sy, ss, start, nx, ny, biggest, r, tab, inv, nt, border, acc):
    for ch in range(acc.shape[0]):
        _k_chunk(ch, acc.shape[0], sx, sy, ss, start, nx, ny, biggest, r, tab, inv, nt, border,
                 acc[ch])


@njit(cache=True, parallel=True)
def _k_parallel(sx, sy, ss, start, nx, ny, biggest, r, tab, inv, nt, border, acc):
    for ch in prange(acc.shape[0]):
        _k_chunk(ch, acc.shape[0], sx, sy, ss, start, nx, ny, biggest, r, tab, inv, nt, border,
                 acc[ch])


#: below this many points `k_pair_counts` runs on one thread (starting threads costs ~1 ms)
K_SERIAL_POINTS = 4096


def k_pair_counts(xs, ys, r, stop, border):
    """Ordered pairs (i, j), i != j, with ``d_ij <= r[-1]``, by the first grid index k with
    ``r[k] >= d_ij`` (``d_ij = hypot(x_i - x_j, y_i - y_j)``, as ``np.hypot`` computes it).

    Returns an int64 array of length ``len(r) + 1``.  Without ``border``, entry k counts the
    pairs of index k (cumulate for the pairs within ``r[k]``).  With ``border``, pair (i, j)
    counts at the grid indices ``k .. stop[i] - 1`` only (``stop[i]``: the number of grid
    values ``<= b_i``, the distance of i to the window boundary), stored as a difference array
    (+1 at k, -1 at ``stop[i]``; cumulate and drop the last entry).  Pairs are found with a
    cell list of cell size at least ``r[-1]`` (half stencil, each unordered pair once), in
    parallel from 4,096 points.  Distances are computed as ``sqrt(dx^2 + dy^2)``; within
    1e-14 (relative) of a grid value, where the two can round differently, ``hypot`` decides.
    """
    acc = np.zeros((16, r.shape[0] + 1), dtype=np.int64)
    if xs.shape[0] < 2:
        return acc.sum(axis=0)
    grid = _k_grid(xs, ys, r, stop, border)
    run = _k_serial if xs.shape[0] < K_SERIAL_POINTS else _k_parallel
    sx, sy, ss, start, nx, ny, biggest, tab, inv, nt, _order = grid
    run(sx, sy, ss, start, nx, ny, biggest, r, tab, inv, nt, border, acc)
    return acc.sum(axis=0)


@njit(cache=True, parallel=True)
def _k_many(xs, ys, starts, r, stop, border, out):
    for p in prange(starts.shape[0] - 1):
        a0 = starts[p]
        a1 = starts[p + 1]
        if a1 - a0 < 2:
            out[p, :] = 0
            continue
        grid = _k_grid(xs[a0:a1], ys[a0:a1], r, stop[a0:a1], border)
        sx, sy, ss, start, nx, ny, biggest, tab, inv, nt, _order = grid
        acc = np.zeros((1, r.shape[0] + 1), dtype=np.int64)
        _k_serial(sx, sy, ss, start, nx, ny, biggest, r, tab, inv, nt, border, acc)
        out[p, :] = acc[0]


def k_pair_counts_many(xs, ys, starts, r, stop, border):
    """:func:`k_pair_counts` of several patterns at once, one row per pattern.

    Pattern ``p`` is ``xs[starts[p]:starts[p + 1]]`` (same for ``ys`` and, with ``border``,
    ``stop``).  The patterns are shared among the threads (each counted on one thread), which
    pays when they are many and small; the counts are integers, so they equal the
    one-at-a-time counts exactly.
    """
    starts = np.asarray(starts, dtype=np.int64)
    out = np.zeros((starts.shape[0] - 1, r.shape[0] + 1), dtype=np.int64)
    if not border:
        stop = np.zeros(xs.shape[0], dtype=np.int64)
    _k_many(xs, ys, starts, r, stop, border, out)
    return out


# --------------------------------------------------------------------------------------
# Ripley's isotropic edge correction: fraction of a circle inside a polygon window
# --------------------------------------------------------------------------------------


@njit(cache=True)
def _ray_crossings(px, py, x0, y0, x1, y1, k0, k1, inside):
    """``inside`` flipped once per edge k in [k0, k1) that the ray from (px, py) to the right
    crosses (the even-odd rule's step)."""
    for k in range(k0, k1):
        ya = y0[k]
        yb = y1[k]
        if (ya > py) != (yb > py):
            xc = x0[k] + (py - ya) * (x1[k] - x0[k]) / (yb - ya)
            if px < xc:
                inside = not inside
    return inside


@njit(cache=True)
def _inside(px, py, x0, y0, x1, y1):
    """Even-odd rule over every edge of every ring (valid (multi)polygons, holes allowed)."""
    return _ray_crossings(px, py, x0, y0, x1, y1, 0, x0.shape[0], False)


@njit(cache=True)
def points_in_window(px, py, x0, y0, x1, y1):
    """Vectorised :func:`_inside` (True inside, boundary points arbitrary)."""
    out = np.empty(px.shape[0], dtype=np.bool_)
    for i in range(px.shape[0]):
        out[i] = _inside(px[i], py[i], x0, y0, x1, y1)
    return out


@njit(cache=True, inline="always")
def _next_leaf(tree, stack, top, px, py, r, ray):
    """The walk of the edge tree ``tree = (lo, hi, child, box, slack)`` (:func:`_tree_of`) for
    one query: pop the nodes of ``stack[:top]`` until a leaf whose box the query may reach,
    pushing the children of the inner nodes that pass.  The query is the ray from (px, py)
    to the right when ``ray`` (a box that straddles its height and reaches right of the point,
    plus the slack of the crossing arithmetic), else the circle (px, py, r) (a box that meets
    the circle's box, in the arithmetic of :func:`_crossings`' own test).  Returns the leaf
    (-1 when the walk is over) and the new ``top``; start with ``stack[0] = 0``, ``top = 1``."""
    _lo, _hi, child, box, slack = tree
    while top > 0:
        top -= 1
        v = stack[top]
        if ray:
            if box[v, 3] <= py or box[v, 1] > py or px > box[v, 2] + slack:
                continue
        elif (box[v, 2] - px < -r or box[v, 0] - px > r or box[v, 3] - py < -r
                or box[v, 1] - py > r):
            continue
        c = child[v]
        if c >= 0:
            stack[top] = c
            stack[top + 1] = c + 1
            top += 2
            continue
        return v, top
    return -1, 0


@njit(cache=True)
def _inside_tree(px, py, x0, y0, x1, y1, tree, stack):
    """:func:`_inside` over the edge tree (edges in the tree's order): only the leaves whose box
    straddles the ray's height and reaches right of the point (:func:`_next_leaf`) are
    visited; the crossings counted are those of :func:`_inside`."""
    lo, hi = tree[0], tree[1]
    inside = False
    stack[0] = 0
    v, top = _next_leaf(tree, stack, 1, px, py, 0.0, True)
    while v >= 0:
        inside = _ray_crossings(px, py, x0, y0, x1, y1, lo[v], hi[v], inside)
        v, top = _next_leaf(tree, stack, top, px, py, 0.0, True)
    return inside


@njit(cache=True)
def _crossings(cx, cy, r, x0, y0, x1, y1, k0, k1, buf, m):
    """Append the angles at which the edges k in [k0, k1) cross the circle (cx, cy, r) to
    ``buf[m:]``; the new count."""
    for k in range(k0, k1):
        ax = x0[k] - cx
        ay = y0[k] - cy
        bx = x1[k] - cx
        by = y1[k] - cy
        if max(ax, bx) < -r or min(ax, bx) > r or max(ay, by) < -r or min(ay, by) > r:
            continue
        dx = bx - ax
        dy = by - ay
        a = dx * dx + dy * dy
        if a == 0.0:
            continue
        b = 2.0 * (ax * dx + ay * dy)
        c = ax * ax + ay * ay - r * r
        disc = b * b - 4.0 * a * c
        if disc <= 0.0:
            continue  # no crossing, or a tangent (which does not change inside/outside)
        sq = math.sqrt(disc)
        t = (-b - sq) / (2.0 * a)
        if 0.0 <= t <= 1.0:
            buf[m] = math.atan2(ay + t * dy, ax + t * dx)
            m += 1
        t = (-b + sq) / (2.0 * a)
        if 0.0 <= t <= 1.0:
            buf[m] = math.atan2(ay + t * dy, ax + t * dx)
            m += 1
    return m


@njit(cache=True)
def _sort_angles(buf, m):
    """Insertion sort of ``buf[:m]`` (the crossing angles: few of them)."""
    for i in range(1, m):
        v = buf[i]
        j = i - 1
        while j >= 0 and buf[j] > v:
            buf[j + 1] = buf[j]
            j -= 1
        buf[j + 1] = v


@njit(cache=True)
def _circle_fraction(cx, cy, r, x0, y0, x1, y1, buf, tree, stack):
    """Exact fraction of the circle (cx, cy, r) inside the window given by its edges.

    The arcs between the circle's sorted crossings with the edges, each counted when its
    midpoint is inside.  The edges are searched through ``tree = (lo, hi, child, box, slack)``
    of :func:`_tree_of` (edges in its order): the crossing edges from the leaves whose box
    meets the circle's box (:func:`_next_leaf`), the inside tests from :func:`_inside_tree`;
    over the one-leaf tree every edge is visited in order, as the plain loop would.  Whatever
    the tree, the crossings are the same and are sorted, so is the fraction.  ``buf``: a float64 work array of
    ``2 * len(x0) + 2``; ``stack``: an int64 work array of 128."""
    lo, hi = tree[0], tree[1]
    m = 0
    stack[0] = 0
    v, top = _next_leaf(tree, stack, 1, cx, cy, r, False)
    while v >= 0:
        m = _crossings(cx, cy, r, x0, y0, x1, y1, lo[v], hi[v], buf, m)
        v, top = _next_leaf(tree, stack, top, cx, cy, r, False)
    if m == 0:  # the circle crosses no edge: all in or all out
        return 1.0 if _inside_tree(cx + r, cy, x0, y0, x1, y1, tree, stack) else 0.0
    _sort_angles(buf, m)
    total = 0.0
    for i in range(m):
        a0 = buf[i]
        a1 = buf[i + 1] if i + 1 < m else buf[0] + _TWO_PI
        span = a1 - a0
        if span <= 0.0:
            continue
        mid = 0.5 * (a0 + a1)
        if _inside_tree(cx + r * math.cos(mid), cy + r * math.sin(mid), x0, y0, x1, y1, tree,
                        stack):
            total += span
    return total / _TWO_PI


def _tree_of(x0, y0, x1, y1, use):
    """The edges in their tree's order and the tree ``(lo, hi, child, box, slack)`` that
    :func:`_circle_fraction` takes when ``use`` (and there are edges); else the edges as
    given and a tree of one leaf that holds them all under an unbounded box (every edge
    visited, in order)."""
    if not use or x0.shape[0] == 0:
        return (x0, y0, x1, y1), (np.zeros(1, dtype=np.int64),
                                  np.full(1, x0.shape[0], dtype=np.int64),
                                  np.full(1, -1, dtype=np.int64),
                                  np.array([[-np.inf, -np.inf, np.inf, np.inf]]), 0.0)
    order, lo, hi, child, box = _edge_tree(x0, y0, x1, y1)
    # slack: 1e-9 of the window's extent (bounds the rounding of the point-segment and the
    # crossing arithmetic many times over; costs nothing)
    slack = 1e-9 * max(box[0, 2] - box[0, 0], box[0, 3] - box[0, 1], 1.0)
    return (x0[order], y0[order], x1[order], y1[order]), (lo, hi, child, box, slack)


@njit(cache=True)
def _point_segment(px, py, ax, ay, bx, by):
    """Distance from a point to a segment, in GEOS's arithmetic (``Distance::pointToSegment``),
    so that the result equals ``shapely.distance`` bit for bit."""
    if ax == bx and ay == by:
        dx = px - ax
        dy = py - ay
        return math.sqrt(dx * dx + dy * dy)
    len2 = (bx - ax) * (bx - ax) + (by - ay) * (by - ay)
    t = ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / len2
    if t <= 0.0:
        dx = px - ax
        dy = py - ay
        return math.sqrt(dx * dx + dy * dy)
    if t >= 1.0:
        dx = px - bx
        dy = py - by
        return math.sqrt(dx * dx + dy * dy)
    s = ((ay - py) * (bx - ax) - (ax - px) * (by - ay)) / len2
    return abs(s) * math.sqrt(len2)


@njit(cache=True)
def _boundary_chunk(px, py, x0, y0, x1, y1, i0, i1, out):
    for i in range(i0, i1):
        best = np.inf
        for k in range(x0.shape[0]):
            best = min(best, _point_segment(px[i], py[i], x0[k], y0[k], x1[k], y1[k]))
        out[i] = best


@njit(cache=True, parallel=True)
def _boundary_parallel(px, py, x0, y0, x1, y1, out):
    n = px.shape[0]
    nchunk = 64
    size = (n + nchunk - 1) // nchunk
    for c in prange(nchunk):
        _boundary_chunk(px, py, x0, y0, x1, y1, c * size, min(n, (c + 1) * size), out)


#: edges per leaf of the edge tree
_LEAF_EDGES = 8


@njit(cache=True)
def _edge_tree(x0, y0, x1, y1):
    """A bounding-box tree over the edges: ``(order, lo, hi, child, box)``.

    Built top-down by median splits of the edges' midpoints along the longer side of their
    extent; node ``v`` holds the edges ``order[lo[v]:hi[v]]``, its children are
    ``child[v]`` and ``child[v] + 1`` (``-1``: a leaf of at most ``_LEAF_EDGES`` edges) and
    ``box[v]`` is the (xmin, ymin, xmax, ymax) of its edges.  Node 0 is the root."""
    m = x0.shape[0]
    mx = 0.5 * (x0 + x1)
    my = 0.5 * (y0 + y1)
    order = np.arange(m)
    cap = 2 * m + 1  # leaves hold at least _LEAF_EDGES // 2 edges (or all of them)
    lo = np.empty(cap, dtype=np.int64)
    hi = np.empty(cap, dtype=np.int64)
    child = np.full(cap, -1, dtype=np.int64)
    box = np.empty((cap, 4), dtype=np.float64)
    lo[0] = 0
    hi[0] = m
    nnode = 1
    stack = np.empty(cap, dtype=np.int64)
    stack[0] = 0
    top = 1
    while top > 0:
        top -= 1
        v = stack[top]
        a = lo[v]
        b = hi[v]
        bx0 = np.inf
        by0 = np.inf
        bx1 = -np.inf
        by1 = -np.inf
        cx0 = np.inf
        cy0 = np.inf
        cx1 = -np.inf
        cy1 = -np.inf
        for q in range(a, b):
            e = order[q]
            bx0 = min(bx0, x0[e], x1[e])
            bx1 = max(bx1, x0[e], x1[e])
            by0 = min(by0, y0[e], y1[e])
            by1 = max(by1, y0[e], y1[e])
            cx0 = min(cx0, mx[e])
            cx1 = max(cx1, mx[e])
            cy0 = min(cy0, my[e])
            cy1 = max(cy1, my[e])
        box[v, 0] = bx0
        box[v, 1] = by0
        box[v, 2] = bx1
        box[v, 3] = by1
        if b - a <= _LEAF_EDGES:
            continue
        key = mx if cx1 - cx0 >= cy1 - cy0 else my
        sub = order[a:b].copy()
        sub = sub[np.argsort(key[sub], kind="mergesort")]
        order[a:b] = sub
        half = a + (b - a) // 2
        child[v] = nnode
        lo[nnode] = a
        hi[nnode] = half
        lo[nnode + 1] = half
        hi[nnode + 1] = b
        stack[top] = nnode
        stack[top + 1] = nnode + 1
        top += 2
        nnode += 2
    return order, lo[:nnode], hi[:nnode], child[:nnode], box[:nnode].copy()


@njit(cache=True, inline="always")
def _box_distance(px, py, box, v):
    dx = max(box[v, 0] - px, 0.0, px - box[v, 2])
    dy = max(box[v, 1] - py, 0.0, py - box[v, 3])
    return math.sqrt(dx * dx + dy * dy)


@njit(cache=True)
def _tree_chunk(px, py, x0, y0, x1, y1, lo, hi, child, box, slack, i0, i1, out):
    """Nearest-edge distances of the points i in [i0, i1) by branch and bound over the edge
    tree (edges already in the tree's order): a node is skipped when its box lies farther
    than the best distance found plus ``slack`` (the rounding of the point-segment
    arithmetic), so the minimum is the brute-force one."""
    stack = np.empty(128, dtype=np.int64)
    for i in range(i0, i1):
        x = px[i]
        y = py[i]
        best = np.inf
        stack[0] = 0
        top = 1
        while top > 0:
            top -= 1
            v = stack[top]
            if _box_distance(x, y, box, v) > best * (1.0 + 1e-9) + slack:
                continue
            c = child[v]
            if c < 0:
                for k in range(lo[v], hi[v]):
                    best = min(best, _point_segment(x, y, x0[k], y0[k], x1[k], y1[k]))
                continue
            # the nearer child last, so that it is visited first
            if _box_distance(x, y, box, c) <= _box_distance(x, y, box, c + 1):
                stack[top] = c + 1
                stack[top + 1] = c
            else:
                stack[top] = c
                stack[top + 1] = c + 1
            top += 2
        out[i] = best


@njit(cache=True, parallel=True)
def _tree_parallel(px, py, x0, y0, x1, y1, lo, hi, child, box, slack, out):
    n = px.shape[0]
    nchunk = 64
    size = (n + nchunk - 1) // nchunk
    for c in prange(nchunk):
        _tree_chunk(px, py, x0, y0, x1, y1, lo, hi, child, box, slack, c * size,
                    min(n, (c + 1) * size), out)


#: windows with fewer edges than this are searched edge by edge (measured crossover, see
#: docs/benchmarks.md, Session 7, "Ripley's border distances")
BOUNDARY_TREE_EDGES = 64


def boundary_distances(px, py, x0, y0, x1, y1, *, tree=None):
    """Distance from each point to the nearest edge (``shapely.distance(points, boundary)``,
    bit for bit); in parallel from 4,096 points.

    From ``BOUNDARY_TREE_EDGES`` edges a bounding-box tree over the edges is searched (branch
    and bound: a few leaves of 8 edges per point, whatever the number of edges), else every
    edge is visited.  ``tree``: force the tree (True) or the loop over every edge (False).
    Both take the minimum of the same point-segment distances, so they return the same
    numbers.
    """
    n = px.shape[0]
    out = np.empty(n, dtype=np.float64)
    if tree is None:
        tree = x0.shape[0] >= BOUNDARY_TREE_EDGES
    if not tree or x0.shape[0] == 0:
        if n < K_SERIAL_POINTS:
            _boundary_chunk(px, py, x0, y0, x1, y1, 0, n, out)
        else:
            _boundary_parallel(px, py, x0, y0, x1, y1, out)
        return out
    (ex0, ey0, ex1, ey1), (lo, hi, child, box, slack) = _tree_of(x0, y0, x1, y1, True)
    if n < K_SERIAL_POINTS:
        _tree_chunk(px, py, ex0, ey0, ex1, ey1, lo, hi, child, box, slack, 0, n, out)
    else:
        _tree_parallel(px, py, ex0, ey0, ex1, ey1, lo, hi, child, box, slack, out)
    return out


@njit(cache=True, parallel=True)
def _circle_fractions(cx, cy, r, x0, y0, x1, y1, tree):
    n = cx.shape[0]
    out = np.empty(n, dtype=np.float64)
    nchunk = 64
    size = (n + nchunk - 1) // nchunk
    for c in prange(nchunk):
        buf = np.empty(2 * x0.shape[0] + 2, dtype=np.float64)
        stack = np.empty(128, dtype=np.int64)
        for i in range(c * size, min(n, (c + 1) * size)):
            out[i] = _circle_fraction(cx[i], cy[i], r[i], x0, y0, x1, y1, buf, tree, stack)
    return out


def circle_fractions(cx, cy, r, x0, y0, x1, y1, *, tree=None):
    """:func:`_circle_fraction` for many circles (parallel); over the edge tree from
    ``BOUNDARY_TREE_EDGES`` edges (``tree``: force it, True, or every edge, False), with the
    same numbers."""
    if tree is None:
        tree = x0.shape[0] >= BOUNDARY_TREE_EDGES
    edges, t = _tree_of(x0, y0, x1, y1, tree)
    return _circle_fractions(cx, cy, r, *edges, t)


# --------------------------------------------------------------------------------------
# Ripley's K with the isotropic edge correction (compiled pair loop, no pair list)
# --------------------------------------------------------------------------------------


@njit(cache=True)
def _convex_fraction(cx, cy, d, lines, buf):
    """Exact fraction of the circle (cx, cy, d) inside a convex window whose edges lie on the
    lines ``lines[e] = (nx, ny, c, theta)``: outward unit normal (nx, ny) at angle theta and
    ``c - nx x - ny y >= 0`` inside.  Outside a convex window is the union of the outer
    half-planes of its edges, so the circle's part outside is the union of one arc per edge
    line closer than d: centred on the outward normal, of half-angle ``acos(s / d)`` (s the
    centre's distance to the line).  No crossing points, no inside tests."""
    m = 0
    for e in range(lines.shape[0]):
        s = lines[e, 2] - lines[e, 0] * cx - lines[e, 1] * cy
        if s >= d:
            continue
        a = math.acos(max(s, 0.0) / d)
        lo = lines[e, 3] - a
        if lo < 0.0:
            lo += _TWO_PI
        hi = lo + 2.0 * a
        if hi > _TWO_PI:  # wraps past 2 pi: split in two
            buf[2 * m] = lo
            buf[2 * m + 1] = _TWO_PI
            m += 1
            lo = 0.0
            hi -= _TWO_PI
        buf[2 * m] = lo
        buf[2 * m + 1] = hi
        m += 1
    if m == 0:
        return 1.0
    # insertion sort of the arcs by start, then the length of their union
    for i in range(1, m):
        s0 = buf[2 * i]
        s1 = buf[2 * i + 1]
        j = i - 1
        while j >= 0 and buf[2 * j] > s0:
            buf[2 * j + 2] = buf[2 * j]
            buf[2 * j + 3] = buf[2 * j + 1]
            j -= 1
        buf[2 * j + 2] = s0
        buf[2 * j + 3] = s1
    covered = 0.0
    cur0 = buf[0]
    cur1 = buf[1]
    for i in range(1, m):
        if buf[2 * i] > cur1:
            covered += cur1 - cur0
            cur0 = buf[2 * i]
            cur1 = buf[2 * i + 1]
        elif buf[2 * i + 1] > cur1:
            cur1 = buf[2 * i + 1]
    covered += cur1 - cur0
    return max(0.0, 1.0 - covered / _TWO_PI)


@njit(cache=True)
def _edge_weight(cx, cy, d, b, cap, x0, y0, x1, y1, lines, fbuf, tree, stack):
    """Ripley's isotropic weight of a pair at distance ``d`` seen from the point (cx, cy) at
    distance ``b`` from the window boundary: 1 when the circle lies inside, else the inverse
    of the fraction of the circle inside the window (from the edge lines when the window is
    convex, ``lines`` not empty; else from the edges through their ``tree``), capped at
    ``cap``."""
    if d <= b:
        return 1.0
    if lines.shape[0] > 0:
        frac = _convex_fraction(cx, cy, d, lines, fbuf)
    else:
        frac = _circle_fraction(cx, cy, d, x0, y0, x1, y1, fbuf, tree, stack)
    return min(1.0 / max(frac, 1e-300), cap)


@njit(cache=True)
def _kiso_row(xi, yi, bi, sx, sy, sb, j0, j1, r, rmax_hi, tab, inv, nt, cap, x0, y0, x1, y1, lines,
              out, buf, jbuf, fbuf, tree, stack):
    """Add the weighted ordered pairs (i, j) and (j, i) for j in [j0, j1) to ``out``."""
    nr = r.shape[0]
    cnt = _within_reach(xi, yi, sx, sy, j0, j1, rmax_hi, buf, jbuf)
    for q in range(cnt):
        d = buf[q]
        j = jbuf[q]
        k = _grid_index(d, xi, yi, sx[j], sy[j], r, tab, inv, nt)
        if k == nr:
            continue
        out[k] += (_edge_weight(xi, yi, d, bi, cap, x0, y0, x1, y1, lines, fbuf, tree, stack)
                   + _edge_weight(sx[j], sy[j], d, sb[j], cap, x0, y0, x1, y1, lines, fbuf, tree,
                                  stack))


@njit(cache=True)
def _kiso_chunk(ch, nchunk, sx, sy, sb, start, nx, ny, biggest, r, tab, inv, nt, cap,
                x0, y0, x1, y1, lines, tree, out):
    """The pairs of cells ch, ch + nchunk, ... (and their half stencils) into ``out``."""
    rmax_hi = r[r.shape[0] - 1] * (1.0 + 1e-14)
    buf = np.empty(biggest, dtype=np.float64)
    jbuf = np.empty(biggest, dtype=np.int64)
    fbuf = np.empty(max(2 * x0.shape[0] + 2, 4 * lines.shape[0] + 4), dtype=np.float64)
    stack = np.empty(128, dtype=np.int64)
    for c in range(ch, nx * ny, nchunk):
        cx = c % nx
        cy = c // nx
        for i in range(start[c], start[c + 1]):
            _kiso_row(sx[i], sy[i], sb[i], sx, sy, sb, i + 1, start[c + 1], r, rmax_hi, tab,
                      inv, nt, cap, x0, y0, x1, y1, lines, out, buf, jbuf, fbuf, tree, stack)
            for q in range(4):
                p = _half_stencil(cx, cy, q, nx, ny)
                if p < 0:
                    continue
                _kiso_row(sx[i], sy[i], sb[i], sx, sy, sb, start[p], start[p + 1], r, rmax_hi,
                          tab, inv, nt, cap, x0, y0, x1, y1, lines, out, buf, jbuf, fbuf, tree,
                          stack)


@njit(cache=True, parallel=True)
def _kiso_parallel(sx, sy, sb, start, nx, ny, biggest, r, tab, inv, nt, cap, x0, y0, x1, y1, lines,
                   tree, acc):
    for ch in prange(acc.shape[0]):
        _kiso_chunk(ch, acc.shape[0], sx, sy, sb, start, nx, ny, biggest, r, tab, inv, nt, cap,
                    x0, y0, x1, y1, lines, tree, acc[ch])


@njit(cache=True)
def _kiso_serial(sx, sy, sb, start, nx, ny, biggest, r, tab, inv, nt, cap, x0, y0, x1, y1, lines,
                 tree, acc):
    for ch in range(acc.shape[0]):
        _kiso_chunk(ch, acc.shape[0], sx, sy, sb, start, nx, ny, biggest, r, tab, inv, nt, cap,
                    x0, y0, x1, y1, lines, tree, acc[ch])


def k_isotropic_sums(xs, ys, b, r, cap, x0, y0, x1, y1, lines=None):
    """Ripley-isotropic weighted ordered pairs by distance bin, without a pair list.

    Returns a float64 array of length ``len(r) + 1``: entry k sums, over the ordered pairs
    (i, j), i != j, whose first grid index with ``r[k] >= d_ij`` is k (as
    :func:`k_pair_counts` finds it), the weight ``e_ij``: 1 when ``d_ij <= b[i]`` (``b``:
    each point's distance to the window boundary), else ``min(1 / f, cap)`` with ``f`` the
    fraction of the circle of radius ``d_ij`` about point i inside the window (edges
    ``x0, y0, x1, y1``; :func:`circle_fractions`).  Cumulate and drop the last entry for the
    weighted count within each ``r[k]``.  For a convex window pass its edge ``lines``
    (``(nx, ny, c, theta)`` a row, see :func:`_convex_fraction`): the same fractions from one
    arc per nearby edge line (no crossing points, no inside tests).

    The cells are dealt to 16 interleaved groups, each summing its pairs in a fixed order
    into its own row; the rows are added in order, so the sums do not depend on the number
    of threads.  Parallel from 4,096 points.
    """
    acc = np.zeros((16, r.shape[0] + 1), dtype=np.float64)
    if xs.shape[0] < 2:
        return acc.sum(axis=0)
    stop = np.zeros(xs.shape[0], dtype=np.int64)
    sx, sy, _ss, start, nx, ny, biggest, tab, inv, nt, order = _k_grid(xs, ys, r, stop, False)
    sb = np.ascontiguousarray(b[order])
    run = _kiso_serial if xs.shape[0] < K_SERIAL_POINTS else _kiso_parallel
    if lines is None:
        lines = np.empty((0, 4), dtype=np.float64)
    # a window that is not convex: the circles' crossing edges and inside tests from the edge
    # tree (same fractions) when the window has many edges
    edges, tree = _tree_of(x0, y0, x1, y1, lines.shape[0] == 0
                           and x0.shape[0] >= BOUNDARY_TREE_EDGES)
    run(sx, sy, sb, start, nx, ny, biggest, r, tab, inv, nt, float(cap), *edges,
        np.ascontiguousarray(lines, dtype=np.float64), tree, acc)
    out = acc[0].copy()
    for ch in range(1, acc.shape[0]):
        out += acc[ch]
    return out


# --------------------------------------------------------------------------------------
# Marcon–Puech M
# --------------------------------------------------------------------------------------


@njit(cache=True, parallel=True)
def m_simulations(indptr, indices, rbin, nr, marks, weights, wsec_total, w_total):
    """M(r) for each mark vector.

    ``marks[s, i]`` is True when site ``i`` belongs to the sector in simulation ``s`` and
    ``weights[s, i]`` its weight (``weights`` may have a single row shared by all
    simulations).  ``indptr``/``indices`` list each site's neighbours within the largest
    distance, ``rbin[k]`` the first grid index whose r covers pair ``k``.  Sector points with
    no neighbour within r are left out of both sums at that r.
    """
    nsim, n = marks.shape
    out = np.empty((nsim, nr), dtype=np.float64)
    for s in prange(nsim):
        num = np.zeros(nr, dtype=np.float64)
        den = np.zeros(nr, dtype=np.float64)
        tot = np.empty(nr, dtype=np.float64)
        sec = np.empty(nr, dtype=np.float64)
        wr = weights[0]
        if weights.shape[0] > 1:
            wr = weights[s]
        for i in range(n):
            if not marks[s, i]:
                continue
            tot[:] = 0.0
            sec[:] = 0.0
            for k in range(indptr[i], indptr[i + 1]):
                j = indices[k]
                w = wr[j]
                tot[rbin[k]] += w
                if marks[s, j]:
                    sec[rbin[k]] += w
            wi = wr[i]
            ref = (wsec_total - wi) / (w_total - wi)
            ct = 0.0
            cs = 0.0
            for g in range(nr):
                ct += tot[g]
                cs += sec[g]
                if ct > 0.0:
                    num[g] += cs / ct
                    den[g] += ref
        for g in range(nr):
            out[s, g] = num[g] / den[g] if den[g] > 0.0 else np.nan
    return out
