"""Exact grid-based DBSCAN for 2-D points in a metric CRS, and the raster of the cluster
polygons: numba kernels, nothing else.

Plain arrays in, plain arrays out; validation and documentation of the method live in
:func:`geo.parks.clusters.point_clusters`.

The points are bucketed into square cells of side ``eps / sqrt(2)`` (so any two points of
one cell are at most ``eps`` apart) and every neighbour search looks only at the cells at
most ``R = floor(eps / side) + 1`` rows and columns away.  Memory is ``O(n)``: no
neighbourhood is ever stored.

1. Core points.  A point is core when at least ``min_samples`` points (itself included)
   lie within ``eps`` of it.  A cell holding ``min_samples`` points or more whose bounding
   box has a diagonal ``<= eps`` ("compact") makes all its points core without a distance
   test; otherwise neighbours are counted cell by cell, a whole cell at once when its
   bounding box lies within ``eps`` of the point, none when it lies beyond ``eps``.
2. Clusters.  Union-find over the core points: two core points within ``eps`` are
   joined.  The core points of one compact cell form one set, so two compact cells need
   only one core pair within ``eps`` (searched only while they are still apart).
3. Labels, exactly as scikit-learn's ``DBSCAN``: clusters are numbered ``0, 1, ...`` in
   the order of their first core point in the input, and a border point (not core, with a
   core point within ``eps``) takes the smallest label among the clusters that have a core
   point within ``eps`` of it — the cluster scikit-learn's expansion reaches first.
   Everything else is noise (``-1``).

Distances are compared as ``dx * dx + dy * dy <= eps * eps`` in double precision, the
reduced distance scikit-learn's trees test on leaf points (its trees also accept a whole
node when the node's farthest corner is within ``eps`` in the square-root domain, which can
differ from this test within one rounding unit of ``eps``).  The box tests use the same
floating-point expression on the box edges, which bound every point inside (rounding is
monotone), so the shortcuts never change a result.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from geo.errors import InputError

__all__ = ["dbscan", "disc_raster"]


@njit(cache=True)
def _lower_bound(cell_i, cell_j, ti, tj):
    """First cell index whose (i, j) is >= (ti, tj) in lexicographic order."""
    lo = 0
    hi = cell_i.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if cell_i[mid] < ti or (cell_i[mid] == ti and cell_j[mid] < tj):
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _neighbour_ranges(cell_i, cell_j, R):
    """For each cell and each row offset ``-R..R``: the range of cells within ``R`` columns."""
    nc = cell_i.shape[0]
    rows = 2 * R + 1
    lo = np.empty((nc, rows), dtype=np.int64)
    hi = np.empty((nc, rows), dtype=np.int64)
    for c in range(nc):
        for r in range(rows):
            ti = cell_i[c] + (r - R)
            lo[c, r] = _lower_bound(cell_i, cell_j, ti, cell_j[c] - R)
            hi[c, r] = _lower_bound(cell_i, cell_j, ti, cell_j[c] + R + 1)
    return lo, hi


@njit(cache=True)
def _gap2(px, py, bx0, bx1, by0, by1):
    """Squared distance from a point to a box (0 inside), rounded like a point-to-point distance.

    Rounding is monotone, so no point of the box has a smaller computed ``dx*dx + dy*dy``."""
    dx = 0.0
    if px < bx0:
        dx = bx0 - px
    elif px > bx1:
        dx = px - bx1
    dy = 0.0
    if py < by0:
        dy = by0 - py
    elif py > by1:
        dy = py - by1
    return dx * dx + dy * dy


@njit(cache=True)
def _reach2(px, py, bx0, bx1, by0, by1):
    """Squared distance from a point to the farthest corner of a box: no point of the box has a
    larger computed ``dx*dx + dy*dy``."""
    dx = max(px - bx0, bx1 - px)
    dy = max(py - by0, by1 - py)
    return dx * dx + dy * dy


@njit(cache=True)
def _find(parent, a):
    root = a
    while parent[root] != root:
        root = parent[root]
    while parent[a] != root:  # path compression
        nxt = parent[a]
        parent[a] = root
        a = nxt
    return root


@njit(cache=True)
def _union(parent, a, b):
    ra = _find(parent, a)
    rb = _find(parent, b)
    if ra != rb:
        if ra < rb:
            parent[rb] = ra
        else:
            parent[ra] = rb


@njit(cache=True)
def _box_gap2(c, d, bx0, bx1, by0, by1):
    """Squared gap between the boxes of cells ``c`` and ``d``: no pair across has a smaller
    computed ``dx*dx + dy*dy``."""
    dx = max(0.0, bx0[d] - bx1[c], bx0[c] - bx1[d])
    dy = max(0.0, by0[d] - by1[c], by0[c] - by1[d])
    return dx * dx + dy * dy


@njit(cache=True)
def _dbscan_sorted(xs, ys, orig, start, cell_i, cell_j, eps, min_samples, R):
    """DBSCAN on points sorted by cell; returns labels and core flags in sorted order."""
    n = xs.shape[0]
    nc = start.shape[0] - 1
    eps2 = eps * eps
    lo, hi = _neighbour_ranges(cell_i, cell_j, R)
    rows = 2 * R + 1

    # bounding box of each cell's points; compact: diagonal <= eps, so every pair inside is
    # within eps
    bx0 = np.empty(nc)
    bx1 = np.empty(nc)
    by0 = np.empty(nc)
    by1 = np.empty(nc)
    compact = np.zeros(nc, dtype=np.bool_)
    for c in range(nc):
        x0 = xs[start[c]]
        x1 = x0
        y0 = ys[start[c]]
        y1 = y0
        for p in range(start[c] + 1, start[c + 1]):
            x0 = min(x0, xs[p])
            x1 = max(x1, xs[p])
            y0 = min(y0, ys[p])
            y1 = max(y1, ys[p])
        bx0[c] = x0
        bx1[c] = x1
        by0[c] = y0
        by1[c] = y1
        dx = x1 - x0
        dy = y1 - y0
        compact[c] = dx * dx + dy * dy <= eps2

    # 1. core points: neighbours counted cell by cell, a whole cell at once when its box is
    #    within eps, none when its box is beyond eps
    core = np.zeros(n, dtype=np.bool_)
    for c in range(nc):
        m = start[c + 1] - start[c]
        if compact[c] and m >= min_samples:
            for p in range(start[c], start[c + 1]):
                core[p] = True
            continue
        for p in range(start[c], start[c + 1]):
            px = xs[p]
            py = ys[p]
            count = 0
            for r in range(rows):
                for c2 in range(lo[c, r], hi[c, r]):
                    if _gap2(px, py, bx0[c2], bx1[c2], by0[c2], by1[c2]) > eps2:
                        continue
                    if _reach2(px, py, bx0[c2], bx1[c2], by0[c2], by1[c2]) <= eps2:
                        count += start[c2 + 1] - start[c2]
                    else:
                        for q in range(start[c2], start[c2 + 1]):
                            dx = px - xs[q]
                            dy = py - ys[q]
                            if dx * dx + dy * dy <= eps2:
                                count += 1
                    if count >= min_samples:
                        break
                if count >= min_samples:
                    break
            core[p] = count >= min_samples

    # first core point of each cell (-1: none)
    first = np.full(nc, -1, dtype=np.int64)
    for c in range(nc):
        for p in range(start[c], start[c + 1]):
            if core[p]:
                first[c] = p
                break

    # 2. union-find over core points
    parent = np.arange(n)
    for c in range(nc):
        if first[c] >= 0 and compact[c]:
            for p in range(first[c] + 1, start[c + 1]):
                if core[p]:
                    parent[p] = first[c]
    for c in range(nc):
        if first[c] < 0:
            continue
        for r in range(rows):
            for c2 in range(max(lo[c, r], c), hi[c, r]):
                if first[c2] < 0 or (c2 == c and compact[c]):
                    continue
                if _box_gap2(c, c2, bx0, bx1, by0, by1) > eps2:
                    continue
                if compact[c] and compact[c2]:
                    # one core pair within eps joins the two cells
                    if _find(parent, first[c]) == _find(parent, first[c2]):
                        continue
                    found = False
                    for p in range(first[c], start[c + 1]):
                        if not core[p]:
                            continue
                        px = xs[p]
                        py = ys[p]
                        if _gap2(px, py, bx0[c2], bx1[c2], by0[c2], by1[c2]) > eps2:
                            continue
                        for q in range(first[c2], start[c2 + 1]):
                            if core[q]:
                                dx = px - xs[q]
                                dy = py - ys[q]
                                if dx * dx + dy * dy <= eps2:
                                    found = True
                                    break
                        if found:
                            break
                    if found:
                        _union(parent, first[c], first[c2])
                else:
                    for p in range(first[c], start[c + 1]):
                        if not core[p]:
                            continue
                        px = xs[p]
                        py = ys[p]
                        q0 = p + 1 if c2 == c else first[c2]
                        for q in range(q0, start[c2 + 1]):
                            if core[q]:
                                dx = px - xs[q]
                                dy = py - ys[q]
                                if dx * dx + dy * dy <= eps2:
                                    _union(parent, p, q)

    # 3. clusters numbered by their first core point in input order (as scikit-learn)
    big = np.iinfo(np.int64).max
    first_orig = np.full(n, big, dtype=np.int64)
    for p in range(n):
        if core[p]:
            root = _find(parent, p)
            if orig[p] < first_orig[root]:
                first_orig[root] = orig[p]
    roots = np.flatnonzero(first_orig < big)
    rank = np.argsort(first_orig[roots])
    label_of_root = np.full(n, -1, dtype=np.int64)
    for k in range(rank.shape[0]):
        label_of_root[roots[rank[k]]] = k
    labels = np.full(n, -1, dtype=np.int64)
    for p in range(n):
        if core[p]:
            labels[p] = label_of_root[_find(parent, p)]

    # border points: the smallest label among the core points within eps
    for c in range(nc):
        for p in range(start[c], start[c + 1]):
            if core[p]:
                continue
            px = xs[p]
            py = ys[p]
            best = big
            for r in range(rows):
                for c2 in range(lo[c, r], hi[c, r]):
                    if first[c2] < 0 or _gap2(px, py, bx0[c2], bx1[c2], by0[c2], by1[c2]) > eps2:
                        continue
                    for q in range(first[c2], start[c2 + 1]):
                        if core[q] and labels[q] < best:
                            dx = px - xs[q]
                            dy = py - ys[q]
                            if dx * dx + dy * dy <= eps2:
                                best = labels[q]
                if best == 0:
                    break
            if best != big:
                labels[p] = best
    return labels, core


@njit(cache=True)
def _counting_order(gi, gj, nj, ncell):
    """Stable order of the points by cell ``gi * nj + gj`` (counting sort over ``ncell`` cells)."""
    n = gi.shape[0]
    count = np.zeros(ncell + 1, dtype=np.int64)
    for k in range(n):
        count[gi[k] * nj + gj[k] + 1] += 1
    for c in range(ncell):
        count[c + 1] += count[c]
    order = np.empty(n, dtype=np.int64)
    for k in range(n):
        key = gi[k] * nj + gj[k]
        order[count[key]] = k
        count[key] += 1
    return order


def dbscan(x: np.ndarray, y: np.ndarray, eps: float, min_samples: int, *, side: float | None = None):
    """Exact DBSCAN labels and core flags of points ``(x, y)`` (input order).

    ``side`` is the grid cell side (default ``eps / sqrt(2)``); any positive value gives
    the same result, only the speed changes.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    n = x.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        msg = "DBSCAN needs finite coordinates; drop the points with missing coordinates first."
        raise InputError(msg)
    side = eps / math.sqrt(2.0) if side is None else float(side)
    R = int(math.floor(eps / side)) + 1
    gi = np.floor((x - x.min()) / side)
    gj = np.floor((y - y.min()) / side)
    if max(gi.max(), gj.max()) > 2.0**40:
        msg = (f"The points span more than 2**40 grid cells of side {side:g} (eps / sqrt(2)); "
               "use a larger eps or split the points into regions.")
        raise InputError(msg)
    gi = gi.astype(np.int64)
    gj = gj.astype(np.int64)
    ni, nj = int(gi.max()) + 1, int(gj.max()) + 1
    if ni * nj <= 4 * n + 2**20:  # by cell, then input order (both stable)
        order = _counting_order(gi, gj, nj, ni * nj)
    else:
        order = np.lexsort((gj, gi))
    si = gi[order]
    sj = gj[order]
    new = np.r_[True, (si[1:] != si[:-1]) | (sj[1:] != sj[:-1])]
    start = np.r_[np.flatnonzero(new), n].astype(np.int64)
    labels_s, core_s = _dbscan_sorted(x[order], y[order], order.astype(np.int64), start, si[new], sj[new],
                                      float(eps), int(min_samples), R)
    labels = np.empty(n, dtype=np.int64)
    core = np.empty(n, dtype=bool)
    labels[order] = labels_s
    core[order] = core_s
    return labels, core


@njit(cache=True)
def disc_raster(x, y, x0, y1, h, nrow, ncol, r):
    """North-up raster (top-left corner ``(x0, y1)``, cell side ``h``) of the cells whose
    centre lies within ``r`` of at least one point: 1 inside, 0 outside."""
    out = np.zeros((nrow, ncol), dtype=np.uint8)
    r2 = r * r
    for k in range(x.shape[0]):
        px = x[k]
        py = y[k]
        c0 = max(0, int(math.floor((px - r - x0) / h - 0.5)))
        c1 = min(ncol - 1, int(math.ceil((px + r - x0) / h - 0.5)))
        w0 = max(0, int(math.floor((y1 - (py + r)) / h - 0.5)))
        w1 = min(nrow - 1, int(math.ceil((y1 - (py - r)) / h - 0.5)))
        for row in range(w0, w1 + 1):
            dy = (y1 - (row + 0.5) * h) - py
            for col in range(c0, c1 + 1):
                dx = (x0 + (col + 0.5) * h) - px
                if dx * dx + dy * dy <= r2:
                    out[row, col] = 1
    return out
