"""Stacked geocodes within a small radius: many firms at (nearly) one coordinate.

A geocoder that cannot resolve an address often falls back to a district or city centre,
so hundreds of unrelated firms receive the same point, or a handful of points a few
decimetres apart (a "stacked geocode").  :func:`find_stacks` finds such stacks with a
tolerance ``radius_m``; ``radius_m=0`` is the exact rule of :func:`geo.io.read_firms`
(rows sharing a coordinate rounded to 1e-7 degrees).

Definition
----------
Coordinates are rounded to 1e-7 degrees (about 1 cm) and rows with equal rounded
coordinates form one *location* with a weight (its number of rows).  The distance from a
centre ``c`` to a point ``q`` is the local equirectangular one::

    dx = (lon_q - lon_c) * 111_320 * cos(lat_c)      (metres)
    dy = (lat_q - lat_c) * 111_320
    d  = sqrt(dx**2 + dy**2)

(111,320 m per degree of latitude is the spherical mean; the true meridian degree is
110,574-111,694 m, so distances are off by up to 0.7 %: 3.5 cm at 5 m.  Longitudes do not
wrap at the antimeridian.)

Stacks are chosen greedily, densest first:

1. Every location ``p`` has a count ``N(p)``: the rows not yet in a stack within
   ``radius_m`` of ``p`` (its own rows included).
2. Take the location with the largest ``N``; among equal ones the most central, with the
   smallest sum of squared distances to those rows (in 1e-6 m^2; a medoid: in a jittered
   stack wholly within the radius every location has the same ``N``), then the smaller
   latitude, then the smaller longitude.  If ``N < min_size``, stop.
3. Otherwise it is the centre of a new stack, whose members are all rows not yet in a
   stack within ``radius_m`` of it.  They leave the pool; go to 1.

So every stack has ``>= min_size`` rows, all within ``radius_m`` of its centre (a stack
is at most ``2 * radius_m`` across: it can never chain along a dense street), and when the
search stops no location has ``min_size`` unassigned rows within ``radius_m``.  Stacks
are numbered in the order they are taken, which is by decreasing size.  A real firm that
happens to lie within ``radius_m`` of a stack's centre is counted in the stack; a
jittered stack wider than ``radius_m`` is split.  With ``radius_m=0`` a location's count
is its own rows, so the stacks are exactly the locations with ``>= min_size`` rows.

Method
------
The result is the greedy's on all rows, but only a few rows need the exact search.

1. Filter (linear, no sort).  The rows are bucketed into a grid of cells at least
   ``2 * radius_m`` wide (plus the 1e-7 degree rounding) at every latitude of the data, so
   the rows within ``radius_m`` of a point lie in the 2 x 2 block of cells on the side of
   its cell the point is nearest.  Cell counts go to a hash table of at least two slots
   per row; a hash collision only adds rows to a count.  A row whose block holds fewer
   than ``min_size`` rows cannot be a centre, and a row in no block of a possible centre
   cannot be a member, so only the rows of the cells of those blocks go on -- in a city
   of firms at a few metres' radius, the stacks and their immediate neighbours.
2. Exact greedy on those rows, over their locations, with the same grid as a cell index
   and a lazy max-heap (a count only falls, so a location is recounted when it reaches
   the top, and taken when its recount is unchanged).  A cell wholly within the radius
   of a location is counted at once from its row count and coordinate moments, so a
   crowd of distinct coordinates packed inside one cell costs one step per location;
   otherwise cells are counted location by location, which is quadratic in the distinct
   coordinates of a crowded block that is not wholly within the radius (10,000 of them
   cost about 10^8 distance tests, a fraction of a second).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from geo._numba_util import search_left
from geo.errors import InputError
from geo.io._keys import GOLDEN, place

__all__ = ["M_PER_DEGREE", "Stacks", "find_stacks"]

#: Metres per degree of latitude (and of longitude at the equator) of the local metric.
M_PER_DEGREE = 111_320.0

_MIN_CELL_DEG = 1e-6  # smallest cell side in degrees (bounds the cell numbers)
_HASH = GOLDEN  # Fibonacci hashing of cell numbers to slots


@dataclass(frozen=True, eq=False)
class Stacks:
    """Stacked geocodes found by :func:`find_stacks`.

    Attributes
    ----------
    site : numpy.ndarray
        ``int64`` per input row: the stack (site) id, ``-1`` when the row is not stacked.
    sites : pandas.DataFrame
        One row per site, ordered by ``site`` (``0, 1, ...``, by decreasing ``n``).
        Columns: ``site``; ``lon``, ``lat`` the site's centre, the densest location (the
        coordinate, rounded to 1e-7 degrees, with the most rows within the radius; the
        most central of equally dense ones); ``n`` its rows; ``spread_m`` the largest
        distance of a member from the centre in metres (``<= radius_m``; 0 when every
        member has the centre's coordinate).
    """

    site: np.ndarray
    sites: pd.DataFrame

    @property
    def stacked(self) -> np.ndarray:
        """Boolean per input row: the row is in a stack (``site >= 0``)."""
        return self.site >= 0


# ----------------------------------------------------------------------------- kernels
@njit(cache=True)
def _extent(lon, lat):
    """Finite rows, min lon, max lon, min lat, max |lat| and whether one is out of range."""
    cnt = 0
    lon0 = np.inf
    lon1 = -np.inf
    lat0 = np.inf
    amax = 0.0
    bad = False
    for i in range(lon.shape[0]):
        x = lon[i]
        y = lat[i]
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        cnt += 1
        if x < -180.0 or x > 180.0 or y < -90.0 or y > 90.0:
            bad = True
        lon0 = min(lon0, x)
        lon1 = max(lon1, x)
        lat0 = min(lat0, y)
        amax = max(amax, abs(y))
    return cnt, lon0, lon1, lat0, amax, bad


@njit(inline="always")
def _cell(x, y, lon0, lat0, ihx, ihy):
    """Cell column and row (from 2: a neighbour of a cell is never negative) of a point and
    the side of the cell it is nearest."""
    fx = (x - lon0) * ihx
    fy = (y - lat0) * ihy
    cx = math.floor(fx)
    cy = math.floor(fy)
    sx = 1 if fx - cx >= 0.5 else -1
    sy = 1 if fy - cy >= 0.5 else -1
    return np.int64(cx) + 2, np.int64(cy) + 2, sx, sy


@njit(inline="always")
def _slot(cx, cy, ncols, shift):
    """Hash-table slot of a cell (multiplicative hash of its number)."""
    key = np.uint64(cy * ncols + cx)
    return np.int64((key * _HASH) >> np.uint64(shift))


@njit(cache=True)
def _count_cells(lon, lat, lon0, lat0, ihx, ihy, ncols, shift, size):
    """Rows per hash slot of their cell."""
    counts = np.zeros(size, dtype=np.int32)
    for i in range(lon.shape[0]):
        x = lon[i]
        y = lat[i]
        if math.isfinite(x) and math.isfinite(y):
            cx, cy, _sx, _sy = _cell(x, y, lon0, lat0, ihx, ihy)
            counts[_slot(cx, cy, ncols, shift)] += 1
    return counts


@njit(cache=True)
def _mark_blocks(lon, lat, lon0, lat0, ihx, ihy, ncols, shift, counts, min_size):
    """Slots of the 2 x 2 blocks holding >= min_size rows around a row (possible centres)."""
    need = np.zeros(counts.shape[0], dtype=np.bool_)
    for i in range(lon.shape[0]):
        x = lon[i]
        y = lat[i]
        if math.isfinite(x) and math.isfinite(y):
            cx, cy, sx, sy = _cell(x, y, lon0, lat0, ihx, ihy)
            s0 = _slot(cx, cy, ncols, shift)
            s1 = _slot(cx + sx, cy, ncols, shift)
            s2 = _slot(cx, cy + sy, ncols, shift)
            s3 = _slot(cx + sx, cy + sy, ncols, shift)
            if counts[s0] + counts[s1] + counts[s2] + counts[s3] >= min_size:
                need[s0] = True
                need[s1] = True
                need[s2] = True
                need[s3] = True
    return need


@njit(cache=True)
def _select(lon, lat, lon0, lat0, ihx, ihy, ncols, shift, need):
    """Rows whose cell's slot is marked."""
    out = np.empty(lon.shape[0], dtype=np.int64)
    k = 0
    for i in range(lon.shape[0]):
        x = lon[i]
        y = lat[i]
        if math.isfinite(x) and math.isfinite(y):
            cx, cy, _sx, _sy = _cell(x, y, lon0, lat0, ihx, ihy)
            if need[_slot(cx, cy, ncols, shift)]:
                out[k] = i
                k += 1
    return out[:k]


@njit(cache=True)
def _find(keys, key):
    """Index of ``key`` in the sorted unique ``keys``, -1 when absent."""
    lo = search_left(keys, 0, keys.shape[0], key)
    if lo < keys.shape[0] and keys[lo] == key:
        return lo
    return -1


@njit(inline="always")
def _before(hn, hs, hr, i, j):
    """Heap order of entries i and j: larger count, then smaller sum of squared distances
    to the rows within the radius, then smaller rank (locations ranked in (lat, lon) order)."""
    if hn[i] != hn[j]:
        return hn[i] > hn[j]
    if hs[i] != hs[j]:
        return hs[i] < hs[j]
    return hr[i] < hr[j]


@njit(inline="always")
def _heap_swap(hn, hs, hr, i, j):
    hn[i], hn[j] = hn[j], hn[i]
    hs[i], hs[j] = hs[j], hs[i]
    hr[i], hr[j] = hr[j], hr[i]


@njit(cache=True)
def _heap_push(hn, hs, hr, size, n, s, r):
    """Add entry (n, s, r) to the binary heap of ``size`` entries; the new size."""
    i = size
    hn[i] = n
    hs[i] = s
    hr[i] = r
    while i > 0:
        parent = (i - 1) >> 1
        if _before(hn, hs, hr, i, parent):
            _heap_swap(hn, hs, hr, i, parent)
            i = parent
        else:
            break
    return size + 1


@njit(cache=True)
def _heap_pop(hn, hs, hr, size):
    """Remove the first entry; its count, its rank and the new size."""
    n = hn[0]
    r = hr[0]
    size -= 1
    _heap_swap(hn, hs, hr, 0, size)
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        best = left
        if left + 1 < size and _before(hn, hs, hr, left + 1, left):
            best = left + 1
        if _before(hn, hs, hr, best, i):
            _heap_swap(hn, hs, hr, i, best)
            i = best
        else:
            break
    return n, r, size


@njit(inline="always")
def _blocks_of(p, cx, cy, sx, sy, ncols, cell_keys, blocks):
    """Indices (into ``cell_keys``) of the 2 x 2 block of cells around location ``p``; -1 empty."""
    a = cx[p]
    b = cy[p]
    blocks[0] = _find(cell_keys, b * ncols + a)
    blocks[1] = _find(cell_keys, b * ncols + a + sx[p])
    blocks[2] = _find(cell_keys, (b + sy[p]) * ncols + a)
    blocks[3] = _find(cell_keys, (b + sy[p]) * ncols + a + sx[p])


@njit(cache=True)
def _cell_moments(c, llon, llat, wa, cell_start, mom):
    """Unassigned rows of cell ``c`` and their first and second moments of the coordinates
    about the cell's first location (degrees): ``mom[c] = (W, Su, Sv, Suu, Svv)``."""
    j0 = cell_start[c]
    rx = llon[j0]
    ry = llat[j0]
    sw = 0.0
    su = 0.0
    sv = 0.0
    suu = 0.0
    svv = 0.0
    for q in range(j0, cell_start[c + 1]):
        if wa[q] > 0:
            u = llon[q] - rx
            v = llat[q] - ry
            sw += wa[q]
            su += wa[q] * u
            sv += wa[q] * v
            suu += wa[q] * u * u
            svv += wa[q] * v * v
    mom[c, 0] = sw
    mom[c, 1] = su
    mom[c, 2] = sv
    mom[c, 3] = suu
    mom[c, 4] = svv


@njit(inline="always")
def _inside(c, x0, y0, k, box, r2):
    """Whether every location of cell ``c`` is within the radius of (x0, y0): its bounding
    box's farthest corner is (rounding is monotone, so no point of the box is farther)."""
    ex = max(abs(box[c, 0] - x0), abs(box[c, 1] - x0)) * k
    ey = max(abs(box[c, 2] - y0), abs(box[c, 3] - y0)) * M_PER_DEGREE
    return ex * ex + ey * ey <= r2


@njit(cache=True)
def _count_near(p, llon, llat, wa, kx, cx, cy, sx, sy, ncols, cell_keys, cell_start, box, mom, r2, blocks):
    """Rows of the unassigned locations within the radius of location ``p`` and the sum of
    their squared distances from ``p`` (in 1e-6 m^2, rounded).  ``wa`` is 0 for assigned ones.

    A cell wholly within the radius is counted at once from its moments (so a crowd of
    distinct coordinates costs one step per cell, not one per coordinate); any other cell
    location by location."""
    _blocks_of(p, cx, cy, sx, sy, ncols, cell_keys, blocks)
    total = 0
    ssum = 0.0
    x0 = llon[p]
    y0 = llat[p]
    k = kx[p]
    for b in range(4):
        c = blocks[b]
        if c < 0 or mom[c, 0] == 0.0:
            continue
        if _inside(c, x0, y0, k, box, r2):
            sw = mom[c, 0]
            up = x0 - llon[cell_start[c]]
            vp = y0 - llat[cell_start[c]]
            total += np.int64(sw)
            ssum += (k * k) * (mom[c, 3] - 2.0 * up * mom[c, 1] + up * up * sw) \
                + (M_PER_DEGREE * M_PER_DEGREE) * (mom[c, 4] - 2.0 * vp * mom[c, 2] + vp * vp * sw)
            continue
        for q in range(cell_start[c], cell_start[c + 1]):
            dx = (llon[q] - x0) * k
            dy = (llat[q] - y0) * M_PER_DEGREE
            d2 = dx * dx + dy * dy
            if d2 <= r2:
                total += wa[q]
                ssum += wa[q] * d2
    # to 1e-6 m^2: the moments and a sum point by point differ only in rounding, and equal
    # sums (a symmetric pair) stay equal, so ties go to the rank whatever path counted them
    return total, math.floor(max(ssum, 0.0) * 1e6 + 0.5)


@njit(cache=True)
def _greedy(llon, llat, w, rank, cx, cy, sx, sy, ncols, cell_keys, cell_start, radius, min_size):
    """The densest-first greedy over locations (see the module docstring).

    The locations come in cell order (cell ``c`` holds ``cell_start[c]:cell_start[c + 1]``);
    ``rank`` is their (lat, lon) order.  Returns the site of each location (-1: none), and
    per site its centre location, rows and largest member distance in metres.
    """
    nloc = llon.shape[0]
    ncell = cell_keys.shape[0]
    r2 = radius * radius
    kx = np.empty(nloc)
    at = np.empty(nloc, dtype=np.int64)  # location of each rank
    for p in range(nloc):
        kx[p] = M_PER_DEGREE * math.cos(math.radians(llat[p]))
        at[rank[p]] = p
    wa = w.copy()  # rows of each location not yet in a site
    box = np.empty((ncell, 4))
    mom = np.empty((ncell, 5))
    for c in range(ncell):
        j0 = cell_start[c]
        j1 = cell_start[c + 1]
        box[c, 0] = llon[j0:j1].min()
        box[c, 1] = llon[j0:j1].max()
        box[c, 2] = llat[j0:j1].min()
        box[c, 3] = llat[j0:j1].max()
        _cell_moments(c, llon, llat, wa, cell_start, mom)
    site = np.full(nloc, -1, dtype=np.int64)
    blocks = np.empty(4, dtype=np.int64)

    hn = np.empty(nloc, dtype=np.int64)
    hs = np.empty(nloc)
    hr = np.empty(nloc, dtype=np.int64)
    size = 0
    c_loc = np.empty(nloc, dtype=np.int64)
    c_n = np.empty(nloc, dtype=np.int64)
    c_spread = np.empty(nloc)
    nsite = 0

    # A lazy greedy: an entry's count is an upper bound of the location's current one
    # (counts only fall), so the first entry whose recount is unchanged is the densest
    # location left.  The rows within the radius are unchanged too then, and so is the
    # sum of squared distances breaking ties: the heap order of a location never rises.
    for p in range(nloc):
        total, s = _count_near(p, llon, llat, wa, kx, cx, cy, sx, sy, ncols, cell_keys, cell_start,
                               box, mom, r2, blocks)
        if total >= min_size:
            size = _heap_push(hn, hs, hr, size, total, s, rank[p])

    while size > 0:
        n_old, r, size = _heap_pop(hn, hs, hr, size)
        p = at[r]
        if site[p] >= 0:
            continue
        total, s = _count_near(p, llon, llat, wa, kx, cx, cy, sx, sy, ncols, cell_keys, cell_start,
                               box, mom, r2, blocks)
        if total < min_size:
            continue  # counts never rise: it can never be a centre
        if total != n_old:
            size = _heap_push(hn, hs, hr, size, total, s, r)
            continue
        # p is the densest location left: a new site
        spread2 = 0.0
        x0 = llon[p]
        y0 = llat[p]
        k = kx[p]
        _blocks_of(p, cx, cy, sx, sy, ncols, cell_keys, blocks)
        for b in range(4):
            c = blocks[b]
            if c < 0 or mom[c, 0] == 0.0:
                continue
            for q in range(cell_start[c], cell_start[c + 1]):
                if wa[q] == 0:
                    continue
                dx = (llon[q] - x0) * k
                dy = (llat[q] - y0) * M_PER_DEGREE
                d2 = dx * dx + dy * dy
                if d2 <= r2:
                    wa[q] = 0
                    site[q] = nsite
                    spread2 = max(spread2, d2)
            _cell_moments(c, llon, llat, wa, cell_start, mom)
        c_loc[nsite] = p
        c_n[nsite] = total
        c_spread[nsite] = math.sqrt(spread2)
        nsite += 1
    return site, c_loc[:nsite], c_n[:nsite], c_spread[:nsite]


# ----------------------------------------------------------------------------- API
def _empty(n: int) -> Stacks:
    sites = pd.DataFrame({
        "site": np.zeros(0, dtype=np.int64),
        "lon": np.zeros(0),
        "lat": np.zeros(0),
        "n": np.zeros(0, dtype=np.int64),
        "spread_m": np.zeros(0),
    })
    return Stacks(site=np.full(n, -1, dtype=np.int64), sites=sites)


def find_stacks(lon: np.ndarray, lat: np.ndarray, *, radius_m: float = 5.0, min_size: int = 10) -> Stacks:
    """Stacked geocodes: ``>= min_size`` rows all within ``radius_m`` of a common centre.

    Stacks are taken greedily, densest first: the location (coordinate rounded to 1e-7
    degrees) with the most rows not yet in a stack within ``radius_m`` is a stack's centre
    when it has at least ``min_size`` of them, and those rows are its members; repeat
    until no location has ``min_size`` unassigned rows within ``radius_m``.  Every member
    is within ``radius_m`` of its centre, so a stack never chains across a dense
    neighbourhood.  See :mod:`geo.io._stacks` for the full definition and the method.

    Parameters
    ----------
    lon, lat : numpy.ndarray
        WGS84 longitude and latitude in degrees, one value per row (same length).  Rows
        with a NaN or infinite coordinate are never stacked.
    radius_m : float, default 5.0
        Tolerance in metres (``>= 0``).  Distances are local equirectangular ones:
        111,320 m per degree of latitude and ``111,320 * cos(lat)`` m per degree of
        longitude at the centre's latitude (a spherical approximation, within 0.7 % of
        the ellipsoid; longitudes do not wrap at the antimeridian).  ``0`` is the exact
        rule: rows sharing one coordinate rounded to 1e-7 degrees.
    min_size : int, default 10
        Fewest rows of a stack (``>= 1``).

    Returns
    -------
    Stacks
        ``site``: the site id per row (``-1`` not stacked); ``sites``: one row per site
        with ``site``, the centre ``lon``/``lat`` (the densest location, i.e. the rounded
        coordinate with the most rows within ``radius_m``; ties go to the one with the
        smallest sum of squared distances to those rows, then the smaller latitude, then
        the smaller longitude), ``n`` and ``spread_m`` (largest member distance from the
        centre, metres).  Sites are numbered by decreasing ``n``.

    Raises
    ------
    InputError
        ``lon`` and ``lat`` differ in length or are not one-dimensional, a finite
        coordinate is outside [-180, 180] x [-90, 90], ``radius_m`` is negative or not
        finite, or ``min_size`` is not a positive integer.

    Notes
    -----
    A real firm within ``radius_m`` of a stack's centre is counted in the stack, and a
    jittered stack wider than ``radius_m`` is split into several sites (or partly missed
    when a part has fewer than ``min_size`` rows).  The radius is meant for metres to tens
    of metres: a large radius makes every block crowded and the exact search slow.
    """
    x = np.ascontiguousarray(np.asarray(lon, dtype=np.float64))
    y = np.ascontiguousarray(np.asarray(lat, dtype=np.float64))
    if x.ndim != 1 or y.ndim != 1 or x.shape != y.shape:
        raise InputError(f"lon and lat must be 1-D arrays of one length, got shapes {x.shape} and {y.shape}")
    radius = float(radius_m)
    if not math.isfinite(radius) or radius < 0:
        raise InputError(f"radius_m must be a finite number >= 0, got {radius_m!r}")
    if isinstance(min_size, bool) or not isinstance(min_size, (int, np.integer)) or min_size < 1:
        raise InputError(f"min_size must be an integer >= 1, got {min_size!r}")
    min_size = int(min_size)
    n = x.size
    if n == 0:
        return _empty(0)
    cnt, lon0, lon1, lat0, amax, bad = _extent(x, y)
    if bad:
        raise InputError("coordinates must be WGS84 degrees: a longitude is outside [-180, 180] or a latitude outside [-90, 90]")
    if cnt < min_size:
        return _empty(n)

    # Cells: rows within radius_m of a point (compared after rounding) lie within half a
    # cell of it in both directions at every latitude of the data, with a margin for the
    # rounding (<= 0.5e-7 degrees per coordinate) and floating-point error.
    half_lat = radius / M_PER_DEGREE * 1.0001 + 2e-7
    hy = max(2.0 * half_lat, _MIN_CELL_DEG)
    cos_max = math.cos(math.radians(min(amax + 1e-6, 90.0)))
    hx = 360.0 if cos_max * 360.0 <= hy else min(hy / cos_max, 360.0)  # one column near a pole
    ncols = math.floor((lon1 - lon0) / hx) + 6  # columns from 2, rounding, neighbours
    bits = max(10, math.ceil(math.log2(cnt)) + 1)
    shift = 64 - bits
    ihx = 1.0 / hx
    ihy = 1.0 / hy

    counts = _count_cells(x, y, lon0, lat0, ihx, ihy, ncols, shift, 1 << bits)
    need = _mark_blocks(x, y, lon0, lat0, ihx, ihy, ncols, shift, counts, min_size)
    rows = _select(x, y, lon0, lat0, ihx, ihy, ncols, shift, need)
    if rows.size < min_size:
        return _empty(n)

    # exact search on the selected rows: their locations in (lat, lon) order ...
    rx, ry = place(x[rows], y[rows])
    order = np.lexsort((rx, ry))
    sx_, sy_ = rx[order], ry[order]
    new = np.empty(order.size, dtype=bool)
    new[0] = True
    new[1:] = (sx_[1:] != sx_[:-1]) | (sy_[1:] != sy_[:-1])
    starts = np.flatnonzero(new)
    llon = sx_[starts]
    llat = sy_[starts]
    w = np.diff(np.r_[starts, order.size]).astype(np.int64)
    row_loc = np.empty(order.size, dtype=np.int64)
    row_loc[order] = np.cumsum(new) - 1

    # ... and in cell order, with a cell index
    fx = (llon - lon0) * ihx
    fy = (llat - lat0) * ihy
    cxf = np.floor(fx)
    cyf = np.floor(fy)
    key = (cyf.astype(np.int64) + 2) * ncols + (cxf.astype(np.int64) + 2)
    by_cell = np.argsort(key, kind="stable")
    skey = key[by_cell]
    cstart = np.flatnonzero(np.r_[True, skey[1:] != skey[:-1]])
    cell_keys = skey[cstart]
    cell_start = np.r_[cstart, skey.size].astype(np.int64)
    fx, fy, cxf, cyf = fx[by_cell], fy[by_cell], cxf[by_cell], cyf[by_cell]

    loc_site, c_loc, c_n, c_spread = _greedy(
        llon[by_cell], llat[by_cell], w[by_cell], by_cell.astype(np.int64),
        cxf.astype(np.int64) + 2, cyf.astype(np.int64) + 2,
        np.where(fx - cxf >= 0.5, 1, -1).astype(np.int64), np.where(fy - cyf >= 0.5, 1, -1).astype(np.int64),
        np.int64(ncols), cell_keys, cell_start, radius, np.int64(min_size))
    c_loc = by_cell[c_loc]  # back to (lat, lon) order
    loc_site_ll = np.empty_like(loc_site)
    loc_site_ll[by_cell] = loc_site
    loc_site = loc_site_ll
    site = np.full(n, -1, dtype=np.int64)
    site[rows] = loc_site[row_loc]
    sites = pd.DataFrame({
        "site": np.arange(c_loc.size, dtype=np.int64),
        "lon": llon[c_loc],
        "lat": llat[c_loc],
        "n": c_n.astype(np.int64),
        "spread_m": c_spread,
    })
    return Stacks(site=site, sites=sites)
