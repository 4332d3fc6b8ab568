"""Compiled point-in-polygon kernel of :mod:`geo.parks.overlay` (cells under random park placements).

In its own module so that numba's on-disk cache survives edits to ``parks.py``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from geo._numba_util import search_left, search_right


@njit(cache=True)
def under_kernel(ring_start, coord_start, xs, ys, n_cells, order, ox, oy, row_start, row_lo, row_hi, identity, tol, cap):
    """Cells whose centroid lies in each polygon (boundary included), as GEOS decides it.

    Polygon ``g`` has the rings ``ring_start[g]:ring_start[g + 1]``; ring ``r`` the closed
    coordinates ``coord_start[r]:coord_start[r + 1]``.  GEOS (``RayCrossingCounter``)
    puts a point inside when it lies on an edge or when the edges crossing the horizontal
    line through it (an upward edge holds its start, a downward edge its end) cross it to
    its right an odd number of times.

    Row by row of :class:`_CellGrid`: when no vertex has a y within the row's span, the
    same edges cross every cell of the row, each between the x where it crosses the
    row's lowest and highest y (computed in floating point and widened by ``tol`` of the
    magnitudes).  Cells outside these intervals are inside exactly when an odd number of
    intervals lie to their right.  Cells inside an interval, and all cells of a row with
    a vertex, get GEOS's test point by point; a cell whose side of an edge is not certain
    (``|det|`` within ``tol`` of the sum of its two products) is "unsure" and left to GEOS.

    Returns (inside, inside_start, unsure, unsure_start): cell positions per polygon in
    CSR form, inside positions sorted (``cap``: the expected number of inside positions).
    """
    n_geom = len(ring_start) - 1
    ins = np.empty(max(cap, 16), dtype=np.int64)
    n_ins = 0
    uns = np.empty(64, dtype=np.int64)
    n_uns = 0
    ins_start = np.zeros(n_geom + 1, dtype=np.int64)
    uns_start = np.zeros(n_geom + 1, dtype=np.int64)
    mark = np.zeros(0 if identity else max(n_cells, 1), dtype=np.uint8)
    for g in range(n_geom):
        r0 = ring_start[g]
        r1 = ring_start[g + 1]
        k0 = coord_start[r0]
        k1 = coord_start[r1]
        ins_start[g + 1] = n_ins
        uns_start[g + 1] = n_uns
        if k1 - k0 < 2:
            continue
        x0 = xs[k0:k1].min()
        x1 = xs[k0:k1].max()
        y0 = ys[k0:k1].min()
        y1 = ys[k0:k1].max()
        # edges binned by horizontal band of the bounding box (a cell only meets the edges
        # of its band); end points copied band by band, (ax, ay) -> (ex, ey).  Two passes:
        # count, then fill.
        nb = max(1, min((k1 - k0) - (r1 - r0), 4096))
        bh = (y1 - y0) / nb
        if not bh > 0:
            nb = 1
            bh = 1.0
        cnt = np.zeros(nb + 1, dtype=np.int64)
        eax = np.empty(0)
        eay = np.empty(0)
        eex = np.empty(0)
        eey = np.empty(0)
        fill = np.zeros(nb, dtype=np.int64)
        for fill_pass in range(2):
            for r in range(r0, r1):
                for k in range(coord_start[r], coord_start[r + 1] - 1):
                    lo = int(min(max(math.floor((min(ys[k], ys[k + 1]) - y0) / bh), 0.0), nb - 1.0))
                    hi = int(min(max(math.floor((max(ys[k], ys[k + 1]) - y0) / bh), 0.0), nb - 1.0))
                    for bb in range(lo, hi + 1):
                        if fill_pass == 0:
                            cnt[bb + 1] += 1
                        else:
                            q = fill[bb]
                            eax[q] = xs[k]
                            eay[q] = ys[k]
                            eex[q] = xs[k + 1]
                            eey[q] = ys[k + 1]
                            fill[bb] += 1
            if fill_pass == 0:
                for bb in range(nb):
                    cnt[bb + 1] += cnt[bb]
                fill[:] = cnt[:nb]
                eax = np.empty(cnt[nb])
                eay = np.empty(cnt[nb])
                eex = np.empty(cnt[nb])
                eey = np.empty(cnt[nb])
        zlo = np.empty(cnt[nb] + 1)
        zhi = np.empty(cnt[nb] + 1)
        zn = np.empty(cnt[nb] + 1, dtype=np.int64)
        # the rows meeting [y0, y1], then the slots of a row in [x0, x1]
        ra = search_left(row_hi, 0, len(row_hi), y0)
        rb = search_right(row_lo, ra, len(row_lo), y1)
        for row in range(ra, rb):
            rlo = row_lo[row]
            rhi = row_hi[row]
            a = search_left(ox, row_start[row], row_start[row + 1], x0)
            b = search_right(ox, a, row_start[row + 1], x1)
            if a >= b:
                continue
            if n_ins + b - a > len(ins):
                grown = np.empty(max(2 * len(ins), n_ins + b - a), dtype=np.int64)
                grown[:n_ins] = ins[:n_ins]
                ins = grown
            if n_uns + b - a > len(uns):
                grown = np.empty(max(2 * len(uns), n_uns + b - a), dtype=np.int64)
                grown[:n_uns] = uns[:n_uns]
                uns = grown
            blo = int(min(max(math.floor((rlo - y0) / bh), 0.0), nb - 1.0))
            hard = blo != int(min(max(math.floor((rhi - y0) / bh), 0.0), nb - 1.0))
            # the intervals where the edges cross the row, sorted by their lower end
            n_int = 0
            for q in range(cnt[blo], cnt[blo + 1]):
                if hard:
                    break
                ax = eax[q]
                ay = eay[q]
                ex = eex[q]
                ey = eey[q]
                if (rlo <= ay <= rhi) or (rlo <= ey <= rhi):
                    hard = True
                elif (ay > rhi and ey < rlo) or (ey > rhi and ay < rlo):
                    xa = ax + (rlo - ay) * (ex - ax) / (ey - ay)
                    xb = ax + (rhi - ay) * (ex - ax) / (ey - ay)
                    w = tol * (abs(ax) + abs(ex) + abs(xa) + abs(xb))
                    j = n_int
                    while j > 0 and zlo[j - 1] > min(xa, xb) - w:
                        zlo[j] = zlo[j - 1]
                        zhi[j] = zhi[j - 1]
                        j -= 1
                    zlo[j] = min(xa, xb) - w
                    zhi[j] = max(xa, xb) + w
                    n_int += 1
            # zones: overlapping intervals merged (zn: intervals per zone); a row with a
            # vertex is one zone without intervals
            n_zone = 0
            if hard:
                n_int = 0
                n_zone = 1
                zn[0] = 0
            for j in range(n_int):
                if n_zone > 0 and zlo[j] <= zhi[n_zone - 1]:
                    zhi[n_zone - 1] = max(zhi[n_zone - 1], zhi[j])
                    zn[n_zone - 1] += 1
                else:
                    zlo[n_zone] = zlo[j]
                    zhi[n_zone] = zhi[j]
                    zn[n_zone] = 1
                    n_zone += 1
            p = a
            right = n_int
            for z in range(n_zone + 1):
                zq = b
                zr = b
                if hard and z == 0:
                    zq = a
                elif z < n_zone:
                    zq = search_left(ox, p, b, zlo[z])
                    zr = search_right(ox, zq, b, zhi[z])
                # cells before the zone: inside when an odd number of intervals lie to
                # their right; cells in the zone: GEOS's test point by point
                for s in range(p if right % 2 == 1 else zq, zr):
                    inside = s < zq
                    if not inside:
                        px = ox[s]
                        py = oy[s]
                        if px < x0 or px > x1 or py < y0 or py > y1:
                            continue
                        bb = int(min(max(math.floor((py - y0) / bh), 0.0), nb - 1.0))
                        crossings = 0
                        unsure = False
                        for q in range(cnt[bb], cnt[bb + 1]):
                            ax = eax[q]
                            ex = eex[q]
                            if ax < px and ex < px:
                                continue
                            ay = eay[q]
                            ey = eey[q]
                            if (px == ex and py == ey) or (ay == py and ey == py and min(ax, ex) <= px <= max(ax, ex)):
                                inside = True  # on the boundary
                                break
                            if (ay > py and ey <= py) or (ey > py and ay <= py):
                                left = (ax - px) * (ey - py)
                                rgt = (ay - py) * (ex - px)
                                if abs(left - rgt) <= tol * (abs(left) + abs(rgt)):
                                    unsure = True
                                elif (left - rgt > 0) != (ey < ay):
                                    crossings += 1
                        if not inside and unsure:
                            uns[n_uns] = order[s]
                            n_uns += 1
                            continue
                        inside = inside or crossings % 2 == 1
                    if inside:
                        ins[n_ins] = s
                        n_ins += 1
                right -= zn[z] if z < n_zone else 0
                p = zr
        if not identity and n_ins > ins_start[g]:
            # slots to positions, in increasing position (marks: cheaper than sorting); the
            # sweep writes one slot past the last position
            if n_ins == len(ins):
                grown = np.empty(2 * len(ins), dtype=np.int64)
                grown[:n_ins] = ins[:n_ins]
                ins = grown
            first = n_cells
            last = -1
            for j in range(ins_start[g], n_ins):
                mark[order[ins[j]]] = 1
                first = min(first, order[ins[j]])
                last = max(last, order[ins[j]])
            n_ins = ins_start[g]
            for i in range(first, last + 1):
                ins[n_ins] = i
                n_ins += mark[i]
                mark[i] = 0
        ins_start[g + 1] = n_ins
        uns_start[g + 1] = n_uns
    return ins[:n_ins], ins_start, uns[:n_uns], uns_start
