"""Point-pattern measures of localisation, in metres in a local projected CRS.

* :func:`ripley_k` — Ripley's K and Besag's L in a study window, with isotropic (Ripley) or
  border edge correction and pointwise / global envelopes under complete spatial randomness.
* :func:`kd` — the Duranton–Overman (2005) density of bilateral distances among the firms of
  one sector, tested against random location among all firm sites, with DO's local and global
  confidence bands, the index of localisation Γ and of dispersion Ψ.
* :func:`marcon_puech_m` — the Marcon–Puech (2010) M function (relative, cumulative) under the
  same random-location null.

Coordinates are metres: an ``(n, 2)`` array, or a GeoDataFrame / GeoSeries of points in a
projected CRS (a geographic CRS is an error; call :func:`geo.to_metric` first).  The compiled
kernels live in :mod:`geo.stats._kd_kernels`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from geo._random import check_seed, seed_record
from geo.errors import ColumnError, CRSError, GeoError, InputError, StatisticsError
from geo.points import sector_mask
from geo.stats import _inference
from geo.stats import _kd_kernels as _kern

__all__ = ["ripley_k", "kd", "kd_sectors", "KdResult", "marcon_puech_m", "MIN_POINTS", "TIME_BUDGET",
           "RUN_MAX_PAIRS", "RUN_MAX_SECTOR"]

logger = logging.getLogger(__name__)

#: fewest points (firms of a sector) for which the statistics are computed
MIN_POINTS = 10
#: Ripley isotropic weights are capped here (as spatstat does), i.e. circle fractions < 1 %
_MAX_EDGE_WEIGHT = 100.0
#: kernel support in bandwidths (the Gaussian beyond 6 h is < 1.6e-8 of its peak)
_KERNEL_REACH = 6.0
#: histogram bins per bandwidth for Kd (see `kd`, "Speed and accuracy")
_BINS_PER_H = 20
_MAX_BINS = 200_000
#: sites used to estimate the median pair distance of all sites (the default `max_distance`)
_MEDIAN_SITES = 5_000
#: independent extra subsamples used to estimate the subsampling error of a large sector
_SUBSAMPLE_REPEATS = 5
#: points used to estimate the pair count of a larger pattern (a fixed pseudo-random sample)
_K_COUNT_SAMPLE = 20_000
#: neighbour pairs held in memory by `marcon_puech_m`
_MAX_M_PAIRS = 50_000_000
#: seconds the exact computation of `ripley_k` or `kd` may take by default before they
#: subsample (estimated from the pair count and the costs below, not timed)
TIME_BUDGET = 10.0
#: wall seconds per ordered pair within the largest distance, per pattern, on the benchmark
#: machine (2 cores; docs/benchmarks.md, "Exact Ripley K and Kd"): the isotropic weights
#: (a circle fraction for each pair whose circle leaves the window) and the plain counts
_K_SECONDS_PER_PAIR = {"isotropic": 4e-8, "border": 4e-9, "none": 4e-9}
#: `ripley_k` counts the pairs within the largest r (about 0.1 s of CPU for 15,650 points,
#: 48 million pairs) for its time estimate when all pairs would take longer than this
_COUNT_ABOVE_S = 0.5
#: wall seconds per pair of sector firms per Kd curve (observed or simulated), same machine
_KD_SECONDS_PER_PAIR = 1e-9
#: the budgets `geo run` passes (many Kd and Ripley calls per run): a fixed size, reported
RUN_MAX_PAIRS = 5_000_000
RUN_MAX_SECTOR = 2_000


# --------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------


def _coords(points: Any, name: str = "points") -> tuple[np.ndarray, Any]:
    """Return an (n, 2) float array of metric coordinates and the CRS (or None for arrays)."""
    try:
        import geopandas as gpd
    except ImportError:  # pragma: no cover - geopandas is a dependency
        gpd = None
    from geo.points import PointFrame

    frame = isinstance(points, PointFrame)
    if frame or (gpd is not None and isinstance(points, (gpd.GeoDataFrame, gpd.GeoSeries))):
        geoms = None if frame else points.geometry
        crs = points.crs if frame else geoms.crs
        if crs is None:
            msg = (f"`{name}` has no CRS; distances need a projected CRS in metres. "
                   "Set the CRS (`.set_crs(...)`) and call geo.to_metric first.")
            raise CRSError(msg)
        if crs.is_geographic:
            msg = (f"`{name}` is in a geographic CRS ({crs.to_string()}), so distances would be "
                   "in degrees; call geo.to_metric(...) first to project it to metres.")
            raise CRSError(msg)
        if frame:  # coordinate columns
            xy = np.column_stack(points.coords())
        else:
            values = np.asarray(geoms.values)
            xy = shapely.get_coordinates(values)
            # every row a Point (type 0; missing is -1) with one coordinate pair: none is empty
            if len(xy) != len(values) or (shapely.get_type_id(values) != 0).any():
                bad = ((shapely.get_type_id(values) != 0) | geoms.isna().to_numpy()
                       | geoms.is_empty.to_numpy())
                msg = (f"`{name}` must hold non-empty Point geometries; {int(bad.sum())} of "
                       f"{len(geoms)} rows are missing, empty or not points. Drop them or take "
                       "representative points first.")
                raise InputError(msg)
        if not np.isfinite(xy).all():
            msg = (f"`{name}` holds points with NaN or infinite coordinates; drop those rows "
                   "first.")
            raise InputError(msg)
        return np.ascontiguousarray(xy, dtype=np.float64), crs
    if isinstance(points, (pd.DataFrame, pd.Series)):
        msg = (f"`{name}` must be an (n, 2) array of metres or a GeoDataFrame/GeoSeries of "
               f"points; a {type(points).__name__} without geometry was given.")
        raise InputError(msg)
    try:
        xy = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        msg = (f"`{name}` must be an (n, 2) array of metres or a GeoDataFrame/GeoSeries of "
               f"points; {type(points).__name__} was given.")
        raise InputError(msg) from None
    if xy.ndim != 2 or xy.shape[1] != 2:
        msg = f"`{name}` must have shape (n, 2) (x, y in metres); shape {xy.shape} was given."
        raise InputError(msg)
    if not np.isfinite(xy).all():
        msg = f"`{name}` holds NaN or infinite coordinates; drop those rows first."
        raise InputError(msg)
    return np.ascontiguousarray(xy), None


def _window(window: Any, xy: np.ndarray, crs: Any) -> tuple[Any, str]:
    """The study window as one shapely (Multi)Polygon, and how it was obtained."""
    if window is None:
        from geo.cells.grid import _convex_hull

        hull = _convex_hull(xy[:, 0], xy[:, 1])
        if hull.geom_type != "Polygon" or hull.area <= 0:
            msg = ("The convex hull of the points has no area (all points collinear); give a "
                   "`window` polygon.")
            raise StatisticsError(msg)
        return hull, "convex hull of the points"
    try:
        import geopandas as gpd
    except ImportError:  # pragma: no cover
        gpd = None
    how = "given"
    if gpd is not None and isinstance(window, (gpd.GeoDataFrame, gpd.GeoSeries)):
        wcrs = window.geometry.crs
        if wcrs is not None and wcrs.is_geographic:
            msg = (f"`window` is in a geographic CRS ({wcrs.to_string()}); project it with "
                   "geo.to_metric (the same CRS as the points) first.")
            raise CRSError(msg)
        if crs is not None and wcrs is not None and not wcrs.equals(crs):
            msg = (f"`window` CRS ({wcrs.to_string()}) differs from the points' CRS "
                   f"({crs.to_string()}); reproject one of them (`.to_crs`).")
            raise CRSError(msg)
        window = window.geometry.union_all()
        how = "given (union of the window geometries)"
    if not isinstance(window, (shapely.Polygon, shapely.MultiPolygon)):
        msg = ("`window` must be a shapely Polygon/MultiPolygon (or a GeoSeries of them) in "
               f"the points' metric CRS; {type(window).__name__} was given.")
        raise InputError(msg)
    if window.is_empty or window.area <= 0:
        msg = "`window` is empty or has no area; give the study-area polygon."
        raise InputError(msg)
    if not window.is_valid:
        msg = ("`window` is not a valid polygon (self-intersection?); repair it with "
               "shapely.make_valid(window) first.")
        raise InputError(msg)
    return window, how


def _edges(window: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every edge of every ring of the window as four arrays x0, y0, x1, y1."""
    rings = []
    for poly in getattr(window, "geoms", [window]):
        rings.append(np.asarray(poly.exterior.coords))
        rings.extend(np.asarray(r.coords) for r in poly.interiors)
    a = np.concatenate([r[:-1] for r in rings])
    b = np.concatenate([r[1:] for r in rings])
    return (np.ascontiguousarray(a[:, 0]), np.ascontiguousarray(a[:, 1]),
            np.ascontiguousarray(b[:, 0]), np.ascontiguousarray(b[:, 1]))


def _convex_lines(edges: tuple[np.ndarray, ...]) -> np.ndarray | None:
    """The edge lines of a convex window, ``(nx, ny, c, theta)`` a row (outward unit normal,
    ``c - nx x - ny y >= 0`` inside, the normal's angle in [0, 2 pi)), for
    :func:`geo.stats._kd_kernels.k_isotropic_sums`; None unless the edges form one ring
    (no holes, one part) that turns one way only (collinear edges allowed)."""
    x0, y0, x1, y1 = edges
    if not (np.array_equal(x1[:-1], x0[1:]) and np.array_equal(y1[:-1], y0[1:])
            and x1[-1] == x0[0] and y1[-1] == y0[0]):
        return None
    dx, dy = x1 - x0, y1 - y0
    length = np.hypot(dx, dy)
    keep = length > 0
    dx, dy, length, ax, ay = dx[keep], dy[keep], length[keep], x0[keep], y0[keep]
    turn = dx * np.roll(dy, -1) - dy * np.roll(dx, -1)  # cross product of consecutive edges
    area2 = float(np.sum(x0 * y1 - x1 * y0))  # twice the signed area: > 0 anticlockwise
    tol = 1e-12 * length * np.roll(length, -1)
    if area2 == 0 or not (np.all(turn * np.sign(area2) >= -tol)):
        return None
    side = 1.0 if area2 > 0 else -1.0  # anticlockwise: the outside is to the right
    nx, ny = side * dy / length, -side * dx / length
    theta = np.mod(np.arctan2(ny, nx), 2.0 * np.pi)
    return np.ascontiguousarray(np.column_stack([nx, ny, nx * ax + ny * ay, theta]))


def _check_inside(window: Any, xy: np.ndarray, prepared: Any = None) -> None:
    """Every point covered by the window (inside or on its boundary), within a hair.

    ``prepared``: a prepared copy of the window (faster); the test is
    ``intersects_xy``, which for a point is ``covers``, without building point geometries.
    """
    inside = shapely.intersects_xy(window if prepared is None else prepared,
                                   xy[:, 0], xy[:, 1])
    if not inside.all():
        # tolerate points within a hair of the boundary (rounding of stored coordinates)
        scale = math.sqrt(window.area)
        far = shapely.distance(window, shapely.points(xy[~inside])) > 1e-9 * scale
        if far.any():
            msg = (f"{int(far.sum())} of {len(xy)} points lie outside `window`; the statistics "
                   "need every point inside the study window. Clip the points to the window "
                   "or give a larger window.")
            raise InputError(msg)


def _check_grid(distances: Any, name: str = "distances") -> np.ndarray:
    r = np.asarray(distances, dtype=np.float64)
    if r.ndim != 1 or r.size == 0:
        msg = f"`{name}` must be a 1-D array of distances in metres; shape {r.shape} was given."
        raise InputError(msg)
    if not np.isfinite(r).all() or (r < 0).any() or (np.diff(r) <= 0).any():
        msg = (f"`{name}` must be finite, non-negative and strictly increasing (metres); got "
               f"min {np.nanmin(r):g}, max {np.nanmax(r):g}. Use e.g. np.linspace(0, rmax, 51).")
        raise InputError(msg)
    return r


def _check_alpha(alpha: float) -> float:
    if not (0.0 < float(alpha) < 0.5):
        msg = f"`alpha` must lie in (0, 0.5); {alpha!r} was given."
        raise InputError(msg)
    return float(alpha)


def _check_simulations(simulations: int) -> int:
    if isinstance(simulations, bool) or not isinstance(simulations, (int, np.integer)) \
            or simulations < 0:
        msg = f"`simulations` must be a non-negative int; {simulations!r} was given."
        raise InputError(msg)
    return int(simulations)




def _order_stat_bands(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k-th smallest and k-th largest simulated value per column (NaNs ignored)."""
    srt = np.sort(sims, axis=0)  # NaN sort last
    valid = np.sum(~np.isnan(sims), axis=0)
    lo = np.full(sims.shape[1], np.nan)
    hi = np.full(sims.shape[1], np.nan)
    ok = valid >= k
    cols = np.nonzero(ok)[0]
    lo[cols] = srt[k - 1, cols]
    hi[cols] = srt[valid[cols] - k, cols]
    return lo, hi


# --------------------------------------------------------------------------------------
# Ripley's K
# --------------------------------------------------------------------------------------


#: points of the patterns whose pair counts are taken in one batch (one pattern per thread)
_K_BATCH_POINTS = 2_000_000


def _k_curves(patterns: list[np.ndarray], r: np.ndarray, area: float, correction: str,
              edges: tuple[np.ndarray, ...]) -> np.ndarray:
    """K of each pattern (one row each); the patterns' pair counts are taken in parallel,
    one pattern per thread (one pattern alone: over its cells), as integers, so every row
    is what the pattern alone gives."""
    if correction == "isotropic":
        return np.stack([_k_curve(p, r, area, correction, edges) for p in patterns])
    sizes = np.array([len(p) for p in patterns], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    allxy = np.concatenate(patterns) if len(patterns) > 1 else patterns[0]
    x = np.ascontiguousarray(allxy[:, 0])
    y = np.ascontiguousarray(allxy[:, 1])
    if correction == "border":
        # distance of each point to the window boundary (shapely.distance's numbers)
        b = _kern.boundary_distances(x, y, *edges)
        stop = np.searchsorted(r, b, side="right").astype(np.int64)
    else:
        stop = np.empty(0, dtype=np.int64)
    if len(patterns) == 1:
        counts = _kern.k_pair_counts(x, y, r, stop, correction == "border")[None, :]
    else:
        counts = _kern.k_pair_counts_many(x, y, starts, r, stop, correction == "border")
    out = np.empty((len(patterns), len(r)))
    for p, n in enumerate(sizes):
        if correction == "none":
            # ordered pairs by the first grid index k with r_k >= d (compiled cell list)
            scale = area / (n * (n - 1.0))
            out[p] = scale * 2.0 * np.cumsum(counts[p] // 2)[:len(r)]
            continue
        # border: ordered pair (c, o) counts at r when d <= r <= b_c, weighted 1 / (lambda n_r)
        bp = b[starts[p]:starts[p + 1]]
        pair_counts = np.cumsum(counts[p])[:-1].astype(np.float64)
        n_r = len(bp) - np.searchsorted(np.sort(bp), r, side="left")  # points with b_i >= r
        with np.errstate(invalid="ignore", divide="ignore"):
            k = area / (n - 1.0) * pair_counts / n_r
        k[n_r == 0] = np.nan
        out[p] = k
    return out


def _k_curve(xy: np.ndarray, r: np.ndarray, area: float, correction: str,
             edges: tuple[np.ndarray, ...]) -> np.ndarray:
    if correction != "isotropic":
        return _k_curves([xy], r, area, correction, edges)[0]
    n = len(xy)
    scale = area / (n * (n - 1.0))
    x = np.ascontiguousarray(xy[:, 0])
    y = np.ascontiguousarray(xy[:, 1])
    # isotropic: weight 1 / (fraction of the circle centred at the first point inside W),
    # summed over the ordered pairs by distance bin in compiled code (no pair list)
    b = _kern.boundary_distances(x, y, *edges)
    sums = _kern.k_isotropic_sums(x, y, b, r, _MAX_EDGE_WEIGHT, *edges, _convex_lines(edges))
    return scale * np.cumsum(sums)[:len(r)]


def _csr(window: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    """n uniform points in the window by rejection sampling from its bounding box."""
    xmin, ymin, xmax, ymax = window.bounds
    frac = window.area / ((xmax - xmin) * (ymax - ymin))
    out = np.empty((0, 2))
    while len(out) < n:
        need = n - len(out)
        m = int(need / frac * 1.2) + 16
        cand = np.column_stack([rng.uniform(xmin, xmax, m), rng.uniform(ymin, ymax, m)])
        cand = cand[shapely.contains_xy(window, cand[:, 0], cand[:, 1])]
        out = np.concatenate([out, cand[:need]])
    return out


def _pairs_within(xy: np.ndarray, rmax: float) -> float:
    """Ordered pairs of distinct points within ``rmax``: exact up to 20,000 points, else
    estimated from a fixed pseudo-random sample of 20,000 (the caller's seed is not used)."""
    n = len(xy)
    if n <= _K_COUNT_SAMPLE:
        tree = cKDTree(xy)
        return float(tree.count_neighbors(tree, rmax) - n)
    s = _K_COUNT_SAMPLE
    pick = np.random.default_rng(0).choice(n, size=s, replace=False)
    tree = cKDTree(xy[pick])
    return float(tree.count_neighbors(tree, rmax) - s) * (n * (n - 1.0)) / (s * (s - 1.0))


def _check_time_budget(time_budget: Any) -> float | None:
    if time_budget is None:
        return None
    if isinstance(time_budget, bool) or not isinstance(time_budget, (int, float, np.integer,
                                                                     np.floating)) \
            or not (math.isfinite(time_budget) and time_budget > 0):
        msg = ("`time_budget` must be a positive number of seconds or None (always exact); "
               f"{time_budget!r} was given.")
        raise InputError(msg)
    return float(time_budget)


def _k_plan(pts: np.ndarray, r: np.ndarray, area: float, correction: str, simulations: int,
            max_pairs: int | None, time_budget: float | None) -> tuple[int, dict]:
    r"""How many points `ripley_k` analyses (all, or a random subsample) and the budget record.

    With ``max_pairs`` the pattern is subsampled when its ordered pairs within ``r[-1]``
    exceed it (each simulated pattern has as many points).  Without it, the exact work is
    estimated in seconds, the observed pairs (counted when all pairs would take more than
    :data:`_COUNT_ABOVE_S`) plus the simulations' (CSR: a share
    :math:`\min(1, \pi r^2 / |W|)` of all pairs) times :data:`_K_SECONDS_PER_PAIR`, and
    the pattern is subsampled only when that exceeds ``time_budget``, to fit it (pairs fall
    with the square of the points).
    """
    n = len(pts)
    rmax = float(r[-1])
    record = {"max_pairs": max_pairs, "time_budget_s": None if max_pairs else time_budget,
              "pairs": None, "estimated_s": None}
    all_pairs = n * (n - 1.0)
    if max_pairs is not None:
        if all_pairs <= max_pairs:
            return n, record
        npairs = _pairs_within(pts, rmax)
        record["pairs"] = npairs
        if npairs <= max_pairs:
            return n, record
        return min(n, max(MIN_POINTS, int(n * math.sqrt(max_pairs / npairs)))), record
    cost = _K_SECONDS_PER_PAIR[correction]
    sim_pairs = simulations * all_pairs * min(1.0, math.pi * rmax * rmax / area)
    record["estimated_s"] = (all_pairs + sim_pairs) * cost  # an upper bound until counted
    if time_budget is None or record["estimated_s"] <= min(time_budget, _COUNT_ABOVE_S):
        return n, record
    npairs = _pairs_within(pts, rmax)
    record["pairs"] = npairs
    record["estimated_s"] = (npairs + sim_pairs) * cost
    if record["estimated_s"] <= time_budget:
        return n, record
    return min(n, max(MIN_POINTS, int(n * math.sqrt(time_budget / record["estimated_s"])))), record


def _budget_phrase(record: dict, unit: str) -> str:
    """The budget in words: ``max_pairs=5000000``, ``max_sector=2000`` or ``the exact K would
    take about 25 s > time_budget=10 s``."""
    if record.get("max_pairs") is not None:
        return f"max_pairs={record['max_pairs']}"
    if record.get("max_sector") is not None:
        return f"max_sector={record['max_sector']}"
    return (f"the exact {unit} would take about {record['estimated_s']:.3g} s > "
            f"time_budget={record['time_budget_s']:g} s")


def ripley_k(
    xy: Any,
    *,
    window: Any = None,
    distances: Any = None,
    correction: str = "isotropic",
    simulations: int = 0,
    envelope: str = "both",
    seed: int | np.random.Generator | None = 0,
    alpha: float = 0.05,
    max_pairs: int | None = None,
    time_budget: float | None = TIME_BUDGET,
) -> pd.DataFrame:
    r"""Ripley's K and Besag's L of a point pattern in a window, with CSR envelopes.

    .. math::

        \hat K(r) = \frac{|W|}{n(n-1)} \sum_{i \ne j} e_{ij}\, \mathbf 1(d_{ij} \le r),
        \qquad \hat L(r) = \sqrt{\hat K(r) / \pi}

    with the edge-correction weight :math:`e_{ij}`:

    * ``"isotropic"`` (Ripley 1977): :math:`e_{ij} = 1 / \text{(fraction of the circle of
      radius } d_{ij} \text{ centred at } x_i \text{ inside } W)`, computed exactly for any
      polygon (all rings, holes allowed) from the circle's crossings with the window edges;
      capped at 100 as spatstat does.
    * ``"border"`` (reduced sample): only points at least r from the window boundary serve as
      centres, :math:`\hat K(r) = \frac{|W|}{n-1}
      \sum_i \mathbf 1(b_i \ge r) \sum_{j \ne i} \mathbf 1(d_{ij} \le r) /
      \sum_i \mathbf 1(b_i \ge r)`; NaN where no point is that far inside.
    * ``"none"``: :math:`e_{ij} = 1` (biased downwards near the edge).

    The intensity convention :math:`\hat\lambda^2 = n(n-1)/|W|^2` is spatstat's; ``pointpats.k``
    uses :math:`n^2/|W|` and its bounding box, so its K equals ours (``"none"``, bounding-box
    window) times :math:`(n-1)/n`, and counts pairs with :math:`d < r` rather than
    :math:`d \le r`.  Under CSR (binomial, n points uniform in W) the isotropic estimator is
    unbiased, :math:`E \hat K(r) = \pi r^2`.

    Parameters
    ----------
    xy : (n, 2) array or GeoDataFrame/GeoSeries of points
        Coordinates in metres (a projected CRS; geographic CRS raises
        :class:`~geo.errors.CRSError`).  At least 10 points.
    window : shapely Polygon/MultiPolygon or GeoSeries, default None
        Study window in the same CRS; every point must lie in it.  None uses the convex hull
        of the points (which underestimates the area a little, hence overestimates λ).
    distances : array-like, default None
        Increasing distances r ≥ 0 in metres.  None: 51 values from 0 to a quarter of the
        shorter side of the window's bounding box (spatstat's rule of thumb).
    correction : {"isotropic", "border", "none"}, default "isotropic"
    simulations : int, default 0
        Number of CSR patterns (n uniform points in the window, rejection sampling) for the
        envelopes; 0 gives K, L and K_csr only.
    envelope : {"both", "pointwise", "global"}, default "both"
        Which envelopes to compute when ``simulations > 0``.
    seed : int, numpy.random.Generator or None, default 0
    alpha : float, default 0.05
        Level of both envelopes.
    max_pairs : int, default None
        A fixed budget: the largest number of ordered pairs within the largest distance
        analysed in full (``geo run`` passes :data:`RUN_MAX_PAIRS`); None uses
        ``time_budget``.  See "Large patterns".
    time_budget : float or None, default 10.0
        Seconds the exact computation (observed pattern and simulations) may take, as
        estimated from its pair count; the pattern is subsampled only beyond it.  None: always
        exact.  Ignored when ``max_pairs`` is given.

    Returns
    -------
    pandas.DataFrame
        Columns ``r``, ``K``, ``L``, ``K_csr`` (:math:`\pi r^2`); with simulations also
        ``lo``, ``hi`` (pointwise envelope of K: the k-th smallest and k-th largest simulated
        value, :math:`k = \max(1, \lfloor \alpha/2\,(s+1) \rfloor)`; two-sided, level
        :math:`2k/(s+1)`), ``global_lo``, ``global_hi`` (global envelope of K) and the same
        four on the L scale (``L_lo``, ``L_hi``, ``L_global_lo``, ``L_global_hi``).
        ``attrs``: ``n``, ``window_area``, ``window``, ``intensity``, ``correction``,
        ``simulations``, ``seed``, ``alpha``, ``pointwise_level``, ``envelope_method``,
        ``p_value`` (global test; NaN without a global envelope), ``exact`` (True when every
        point was analysed), ``subsample`` (number of points analysed, None when all were),
        ``subsample_error`` and ``budget`` (``max_pairs``, ``time_budget_s``, ``pairs``:
        ordered pairs within the largest r when counted, ``estimated_s``: the estimated
        seconds of the exact computation).

    Notes
    -----
    Cost: the ordered pairs within the largest r are visited in compiled code with a cell list
    (nothing stored), about 4 ns a pair for ``"border"`` and ``"none"`` and 40 ns for
    ``"isotropic"``, whose weights cost one pass over the window's edges per pair whose circle
    leaves the window; for the observed pattern and every simulation.  15,650 clustered
    points in a 20 km square, 51 distances to 5 km (48 million pairs): about 2 s of CPU
    isotropic (the weights of a convex window from its edge lines), 0.4 s border
    (docs/benchmarks.md).

    **Large patterns.**  By default the result is exact whenever the exact computation is
    estimated to take at most ``time_budget`` seconds: the ordered pairs within the largest r
    (counted exactly up to 20,000 points, else estimated from a fixed sample of 20,000) plus
    the simulations' (a share :math:`\min(1, \pi r^2/|W|)` of all pairs each), times the
    cost per pair measured on the benchmark machine (``_K_SECONDS_PER_PAIR``).  Beyond it, or
    beyond ``max_pairs`` pairs when that is given, a seeded random subsample of
    :math:`m = n \sqrt{\text{budget}/\text{need}}` points is analysed and each simulation
    draws m CSR points.
    K is unchanged by random thinning, so the subsample's K estimates the pattern's (for
    ``"none"`` and ``"isotropic"`` the subsample estimator is an unbiased estimate of the
    full one), and the envelopes and the global test remain exact as a test of the random
    subsample against CSR.  ``attrs["subsample"]`` records m; ``attrs["subsample_error"]``
    the largest standard deviation of L over 5 further independent subsamples, relative to
    the largest L, and a warning is logged.

    Global envelope: the maximum absolute deviation (MAD) envelope on L (Diggle 2003;
    Myllymäki et al. 2017, "global scaled MAD" with unit scale):
    :math:`T = \max_{r>0} |L(r) - \bar L(r)|` with :math:`\bar L` the mean of the simulated L
    (not the theoretical r, which the ``"none"``/``"border"`` estimators miss by their bias);
    the envelope is :math:`\bar L(r) \pm u_\alpha`, :math:`u_\alpha` the
    :math:`\lfloor\alpha(s+1)\rfloor`-th largest simulated T, and the two-sided p-value
    :math:`(1 + \#\{T_i \ge T_{obs}\})/(s+1)`.  The observed L leaves the envelope somewhere
    exactly when :math:`p \le \alpha`.  It needs :math:`s \ge 1/\alpha - 1` (19 for 5 %).

    Examples
    --------
    >>> import numpy as np, shapely
    >>> rng = np.random.default_rng(1)
    >>> pts = rng.uniform(0, 1000, size=(200, 2))
    >>> k = ripley_k(pts, window=shapely.box(0, 0, 1000, 1000), distances=[0, 50, 100])
    >>> list(k.columns)
    ['r', 'K', 'L', 'K_csr']
    """
    pts, crs = _coords(xy, "xy")
    n = len(pts)
    if n < MIN_POINTS:
        msg = f"Ripley's K needs at least {MIN_POINTS} points; {n} were given."
        raise StatisticsError(msg)
    if correction not in ("isotropic", "border", "none"):
        msg = f"`correction` must be 'isotropic', 'border' or 'none'; {correction!r} was given."
        raise InputError(msg)
    if envelope not in ("both", "pointwise", "global"):
        msg = f"`envelope` must be 'both', 'pointwise' or 'global'; {envelope!r} was given."
        raise InputError(msg)
    simulations = _check_simulations(simulations)
    alpha = _check_alpha(alpha)
    win, how = _window(window, pts, crs)
    prepared = shapely.from_wkb(shapely.to_wkb(win))  # prepared copy, input untouched
    shapely.prepare(prepared)
    _check_inside(win, pts, prepared)
    area = float(win.area)
    if distances is None:
        xmin, ymin, xmax, ymax = win.bounds
        r = np.linspace(0.0, 0.25 * min(xmax - xmin, ymax - ymin), 51)
    else:
        r = _check_grid(distances)
    want_global = simulations > 0 and envelope in ("both", "global")
    if want_global and math.floor(alpha * (simulations + 1)) < 1:
        need = math.ceil(1.0 / alpha) - 1
        msg = (f"A global envelope at alpha={alpha:g} needs at least {need} simulations; "
               f"{simulations} were given. Raise `simulations` or use envelope='pointwise'.")
        raise InputError(msg)

    if max_pairs is not None and (
            isinstance(max_pairs, bool) or not isinstance(max_pairs, (int, np.integer))
            or max_pairs < MIN_POINTS * (MIN_POINTS - 1)):
        msg = (f"`max_pairs` must be None or an int >= {MIN_POINTS * (MIN_POINTS - 1)} "
               f"(ordered pairs); {max_pairs!r} was given.")
        raise InputError(msg)
    time_budget = _check_time_budget(time_budget)
    m, budget = _k_plan(pts, r, area, correction, simulations, max_pairs, time_budget)
    rng = check_seed(seed) if (m < n or simulations > 0) else None
    edges = _edges(win)
    subsample_error = None
    if m < n:
        curves = _k_curves([pts[np.sort(rng.choice(n, size=m, replace=False))]
                            for _ in range(1 + _SUBSAMPLE_REPEATS)], r, area, correction, edges)
        k_obs = curves[0]
        ls_sub = np.sqrt(curves / np.pi)
        ok = np.isfinite(ls_sub).all(axis=0)  # "border" K is NaN beyond the deepest point
        top = float(np.max(ls_sub[0, ok])) if ok.any() else 0.0
        subsample_error = (float(np.max(np.std(ls_sub[:, ok], axis=0, ddof=1))) / top
                           if top > 0 else float("nan"))
        logger.warning("Ripley's K of %d points to %g m: %s; analysed a random subsample of "
                       "%d points (estimated relative error of L %.2g).", n, r[-1],
                       _budget_phrase(budget, "K"), m, subsample_error)
    else:
        k_obs = _k_curve(pts, r, area, correction, edges)
    out = pd.DataFrame({"r": r, "K": k_obs, "L": np.sqrt(k_obs / np.pi), "K_csr": np.pi * r**2})
    p_value = float("nan")
    pw_level = float("nan")
    if simulations > 0:
        ks = np.empty((simulations, len(r)))
        per_batch = max(1, _K_BATCH_POINTS // m)
        for s0 in range(0, simulations, per_batch):
            # the CSR patterns in the order the generator draws them, counted in a batch
            batch = [_csr(prepared, m, rng) for _ in range(min(per_batch, simulations - s0))]
            ks[s0:s0 + len(batch)] = _k_curves(batch, r, area, correction, edges)
        ls = np.sqrt(ks / np.pi)
        if envelope in ("both", "pointwise"):
            k_pw = max(1, math.floor(alpha / 2.0 * (simulations + 1)))
            pw_level = min(1.0, 2.0 * k_pw / (simulations + 1))
            lo, hi = _order_stat_bands(ks, k_pw)
            out["lo"], out["hi"] = lo, hi
            out["L_lo"], out["L_hi"] = np.sqrt(lo / np.pi), np.sqrt(hi / np.pi)
        if want_global:
            pos = r > 0
            centre = np.nanmean(ls, axis=0)
            t_sim = np.nanmax(np.abs(ls[:, pos] - centre[pos]), axis=1)
            t_obs = np.nanmax(np.abs(out["L"].to_numpy()[pos] - centre[pos]))
            kk = math.floor(alpha * (simulations + 1))
            u = np.sort(t_sim)[::-1][kk - 1]
            p_value = _inference.simulated_p(t_obs, t_sim, alternative="greater")
            glo = np.maximum(centre - u, 0.0)
            ghi = centre + u
            out["global_lo"], out["global_hi"] = np.pi * glo**2, np.pi * ghi**2
            out["L_global_lo"], out["L_global_hi"] = glo, ghi
    out.attrs.update({
        "n": n,
        "window_area": area,
        "window": how,
        "intensity": n / area,
        "correction": correction,
        "simulations": simulations,
        "seed": seed_record(seed),
        "alpha": alpha,
        "pointwise_level": pw_level,
        "envelope_method": "global: maximum absolute deviation of L from the simulated mean "
                           "(Diggle 2003; Myllymaki et al. 2017); pointwise: order statistics",
        "p_value": p_value,
        "exact": m == n,
        "subsample": m if m < n else None,
        "subsample_error": subsample_error,
        "budget": budget,
    })
    return out


# --------------------------------------------------------------------------------------
# Duranton–Overman Kd
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KdResult:
    """Result of :func:`kd` (distances in metres, densities per metre).

    The curve with its bands, the verdict and every setting that made them, so that a result
    can be read (and ``summary.json``'s ``kd`` written) without the call that made it; a run
    keeps its target sector's as ``ValleyAnalysis.kd``.

    Attributes
    ----------
    curve : pandas.DataFrame
        ``r``, ``kd``, ``lo``, ``hi`` (local 5th/95th percentile bands), ``global_lo``,
        ``global_hi`` (DO global bands); bands are NaN without simulations.
    localised, dispersed : list of (start, end)
        Distance intervals (grid values, metres) where ``kd > global_hi`` / ``kd < global_lo``;
        ``dispersed`` is empty when the sector is localised anywhere (DO's rule).
    gamma, psi : float
        Index of localisation :math:`\\Gamma` and dispersion :math:`\\Psi` (sums over the grid).
    verdict : str
        The verdict in words: the localised or dispersed distances, or neither.
    sector : object
        The sector tested (its value in the sector column, or ``"mask"``).
    n_sector, n_sites : int
        The sector's firms and all the sites it is drawn among.
    seed : int or None
        The seed of the simulations as recorded (:func:`geo._random.seed_record`).
    simulations : int
        Random draws of the sector among the sites (0: not tested).
    bandwidth, max_distance : float
        The kernel's bandwidth and the largest distance of the curve (metres).
    alpha : float
        The level of the bands.
    weighted : bool
        Whether pairs were weighted by the firms' weights (K-emp).
    method : str
        How the pairs were visited: ``"cell list"`` or a sorted sweep.
    global_percentiles : (float, float)
        The percentiles of the simulated values at which the lower and upper global bands
        lie (NaN without simulations).
    subsample, subsample_error : int or None, float or None
        Firms analysed when the sector was subsampled, and the estimated relative error of
        the curve; None when every firm was analysed (``exact``).
    notes : tuple of str
        How defaults were chosen (``max_distance``) and the subsample, in words.
    budget : dict
        ``max_sector``, ``time_budget_s`` and ``estimated_s`` (the estimated seconds of the
        exact computation); see :func:`kd`, "Large sectors".
    """

    curve: pd.DataFrame
    localised: list
    dispersed: list
    gamma: float
    psi: float
    verdict: str
    sector: Any
    n_sector: int
    n_sites: int
    seed: int | None
    simulations: int
    bandwidth: float
    max_distance: float
    alpha: float
    weighted: bool
    method: str
    global_percentiles: tuple = (float("nan"), float("nan"))
    subsample: int | None = None
    subsample_error: float | None = None
    notes: tuple = field(default_factory=tuple)
    budget: dict = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        """True when every firm of the sector was analysed (no subsample)."""
        return self.subsample is None


def _phi(u: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi)


def _kd_exact(xy: np.ndarray, r: np.ndarray, h: float, weights: np.ndarray | None = None,
              ) -> np.ndarray:
    """Naive Kd: the Gaussian kernel over every pair (reflection at 0). Reference only."""
    n = len(xy)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    iu, ju = np.triu_indices(n, 1)
    d = np.hypot(xy[iu, 0] - xy[ju, 0], xy[iu, 1] - xy[ju, 1])
    ww = w[iu] * w[ju]
    out = np.empty(len(r))
    for g, rg in enumerate(r):
        out[g] = np.sum(ww * (_phi((rg - d) / h) + _phi((rg + d) / h)))
    return out / (h * ww.sum())


def _pair_summary(xs: np.ndarray, ys: np.ndarray, *, moments: bool = True,
                  ) -> tuple[float, float, float, float, float]:
    """Number, mean, standard deviation, interquartile range and median of all pair distances.

    Quantiles come from a 65,536-bin histogram on [0, diameter], interpolated linearly within
    the bin (error below diameter / 65,536).  With ``moments=False`` the mean and standard
    deviation are not computed (returned as NaN); the other three are the same.
    """
    diam = math.hypot(xs.max() - xs.min(), ys.max() - ys.min())
    if diam <= 0:
        return float(len(xs) * (len(xs) - 1) / 2), 0.0, 0.0, 0.0, 0.0
    nq = 65_536
    dmax = diam * (1 + 1e-9)
    sums, hist = _kern.distance_summary(np.ascontiguousarray(xs), np.ascontiguousarray(ys),
                                        nq, dmax, moments)
    npairs, s1, s2 = sums
    if not moments:
        s1 = s2 = float("nan")
    mean = s1 / npairs
    var = max(s2 / npairs - mean * mean, 0.0) * npairs / max(npairs - 1.0, 1.0)
    cdf = np.concatenate([[0.0], np.cumsum(hist)]) / npairs
    edges = np.linspace(0.0, dmax, nq + 1)

    def q(p: float) -> float:
        return float(np.interp(p, cdf, edges))

    return float(npairs), float(mean), math.sqrt(var), q(0.75) - q(0.25), q(0.5)


#: recent median pair distances by the content of the point arrays (see `_median_pair_distance`)
_MEDIAN_MEMO: dict[bytes, float] = {}
_MEDIAN_MEMO_SIZE = 16
_MEMO_LOCK = threading.Lock()


def _median_pair_distance(xs: np.ndarray, ys: np.ndarray) -> float:
    """Median pair distance of the points, as ``_pair_summary(xs, ys)[4]``, remembered.

    The Kd of several sectors (the pipeline's target sector, the groups of :mod:`geo.parks.groups`, the
    sub-sectors of the comparison) over the same sites needs the same median every time;
    it is kept for the 16 most recent point sets, keyed by a digest of the coordinates
    themselves (so a different set of points can never reuse it).
    """
    xs = np.ascontiguousarray(xs, dtype=np.float64)
    ys = np.ascontiguousarray(ys, dtype=np.float64)
    h = hashlib.blake2b(digest_size=32)
    h.update(np.int64(len(xs)).tobytes())
    h.update(xs.tobytes())
    h.update(ys.tobytes())
    key = h.digest()
    with _MEMO_LOCK:
        value = _MEDIAN_MEMO.get(key)
    if value is None:
        value = _pair_summary(xs, ys, moments=False)[4]
    with _MEMO_LOCK:
        _MEDIAN_MEMO.pop(key, None)
        _MEDIAN_MEMO[key] = value  # most recent last
        while len(_MEDIAN_MEMO) > _MEDIAN_MEMO_SIZE:
            del _MEDIAN_MEMO[next(iter(_MEDIAN_MEMO))]
    return value


def _kernel_band(r: np.ndarray, h: float, delta: float, nbins: int,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Banded Taylor kernel: for grid point g, bins [lo_g, hi_g) and 3 coefficients per bin."""
    reach = _KERNEL_REACH * h
    lo = np.clip(np.floor((r - reach) / delta), 0, nbins).astype(np.int64)
    hi = np.clip(np.ceil((r + reach) / delta) + 1, 0, nbins).astype(np.int64)
    hi = np.maximum(hi, lo)
    widths = hi - lo
    off = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int64)
    # all the bands at once: bin b of grid point g (elementwise, as one g at a time)
    total = int(widths.sum())
    b = np.arange(total, dtype=np.int64) - np.repeat(off - lo, widths)
    rg = np.repeat(r, widths)
    c = (b + 0.5) * delta
    u = (rg - c) / h
    v = (rg + c) / h
    pu, pv = _phi(u), _phi(v)
    kv = np.empty((total, 3))
    kv[:, 0] = pu + pv
    kv[:, 1] = (u * pu - v * pv) / h  # (-phi'(u) + phi'(v)) / h, phi'(x) = -x phi(x)
    kv[:, 2] = ((u * u - 1.0) * pu + (v * v - 1.0) * pv) / (2.0 * h * h)
    return lo, hi, off, kv


class _KdEngine:
    """Binned Kd for samples of the (x-sorted) sites, sharing one kernel matrix."""

    def __init__(self, x: np.ndarray, y: np.ndarray, r: np.ndarray, h: float,
                 pair_weight: float, use_cells: bool | None = None) -> None:
        self.x, self.y, self.r, self.h = x, y, r, h
        delta = h / _BINS_PER_H
        cutoff = float(r[-1]) + _KERNEL_REACH * h
        nbins = int(math.ceil(cutoff / delta))
        if nbins > _MAX_BINS:
            nbins = _MAX_BINS
            delta = cutoff / nbins
            logger.warning("Kd: bandwidth %.3g m is tiny against the largest distance %.3g m; "
                           "bins widened to %.3g m (h/%.1f), accuracy below 1e-5 not assured.",
                           h, r[-1], delta, h / delta)
        self.delta, self.nbins = delta, nbins
        self.cutoff = nbins * delta
        extent = min(x.max() - x.min(), y.max() - y.min())
        self.use_cells = (self.cutoff < 0.2 * extent) if use_cells is None else use_cells
        self.band = _kernel_band(r, h, delta, nbins)
        self.norm = 1.0 / (h * pair_weight)

    @property
    def method(self) -> str:
        return "cell list" if self.use_cells else "sorted sweep (all pairs within reach)"

    def curves(self, idx: np.ndarray, wmat: np.ndarray | None) -> np.ndarray:
        out = np.empty((idx.shape[0], len(self.r)))
        weighted = wmat is not None
        w = np.ascontiguousarray(wmat) if weighted else np.empty((1, 1))
        _kern.kd_simulations(self.x, self.y, np.ascontiguousarray(idx, dtype=np.int64), w,
                             weighted, self.delta, self.nbins, self.cutoff, self.use_cells,
                             *self.band, out)
        return out * self.norm


def _sector_mask(points: Any, sector: Any, sector_column: str, n: int, *, statistic: str,
                 why: str = "") -> tuple[np.ndarray, Any]:
    """The sector's mask over the ``n`` sites and its label; a StatisticsError that names
    ``statistic`` (and adds ``why``) when the sector has fewer than MIN_POINTS firms."""
    mask, label = _sector_mask_label(points, sector, sector_column, n)
    n_sector = int(mask.sum())
    if n_sector < MIN_POINTS:
        msg = f"{statistic} needs at least {MIN_POINTS} firms in the sector; sector {label!r} has {n_sector}.{why}"
        raise StatisticsError(msg)
    return mask, label


def _sector_mask_label(points: Any, sector: Any, sector_column: str, n: int) -> tuple[np.ndarray, Any]:
    if sector is None:
        msg = ("`sector` is required: a value of the sector column (e.g. sector='lasers') or a "
               "boolean mask with one entry per site.")
        raise InputError(msg)
    if isinstance(sector, (np.ndarray, pd.Series, list)) and len(sector) == n and \
            np.asarray(sector).dtype == bool:
        return np.asarray(sector, dtype=bool), "mask"
    if not isinstance(points, pd.DataFrame):
        msg = ("With an array of coordinates `sector` must be a boolean mask with one entry "
               f"per site; {type(sector).__name__} was given. Pass a GeoDataFrame with a "
               f"'{sector_column}' column to select by name.")
        raise InputError(msg)
    return sector_mask(points, sector, sector_column), sector


def _site_weights(points: Any, weights: Any, n: int) -> np.ndarray | None:
    if weights is None:
        return None
    if isinstance(weights, str):
        if not isinstance(points, pd.DataFrame) or weights not in points.columns:
            msg = f"Weights column '{weights}' not found; give an existing column or an array."
            raise ColumnError(msg)
        w = pd.to_numeric(points[weights], errors="coerce").to_numpy(dtype=float)
    else:
        w = np.asarray(weights, dtype=float)
    if w.shape != (n,):
        msg = f"`weights` must have one value per site ({n}); shape {w.shape} was given."
        raise InputError(msg)
    if not np.isfinite(w).all() or (w < 0).any():
        msg = ("`weights` (employment) must be finite and non-negative; "
               f"{int((~np.isfinite(w) | (w < 0)).sum())} values are not. Fill or drop them.")
        raise InputError(msg)
    return w


def _runs(r: np.ndarray, flag: np.ndarray) -> list[tuple[float, float]]:
    out = []
    i = 0
    while i < len(flag):
        if flag[i]:
            j = i
            while j + 1 < len(flag) and flag[j + 1]:
                j += 1
            out.append((float(r[i]), float(r[j])))
            i = j + 1
        else:
            i += 1
    return out


def _fmt_km(v: float) -> str:
    km = v / 1000.0
    return f"{km:.3g}" if km < 100 else f"{km:.0f}"


def _fmt_intervals(iv: list[tuple[float, float]]) -> str:
    return ", ".join(f"{_fmt_km(a)}–{_fmt_km(b)} km" for a, b in iv)


def _do_global_band(sims: np.ndarray, alpha: float, upper: bool) -> tuple[np.ndarray, float]:
    """DO's global band: the highest local order statistic that ≤ alpha of curves cross."""
    s = sims.shape[0]
    vals = -sims if upper else sims
    order = np.argsort(vals, axis=0, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, s + 1)[:, None].repeat(sims.shape[1], 1), 0)
    t = ranks.min(axis=1)  # best (most extreme) rank of each curve over all distances
    # a band at the k-th most extreme value is crossed (strictly) by curves with t < k
    t_sorted = np.sort(t)
    allowed = math.floor(alpha * s)
    # largest k with #{t < k} <= allowed
    k = int(t_sorted[allowed]) if allowed < s else s
    k = max(k, 1)
    band = np.sort(vals, axis=0)[k - 1]
    band = -band if upper else band
    pct = 100.0 * (1.0 - (k - 0.5) / s) if upper else 100.0 * (k - 0.5) / s
    return band, pct


def _kd_plan(n_sector: int, simulations: int, max_sector: int | None,
             time_budget: float | None) -> tuple[int, dict]:
    """How many of the sector's firms `kd` analyses, and the budget record.

    With ``max_sector``: at most that many.  Without: all, when the exact computation, the
    pairs of the sector times its ``1 + simulations`` curves times
    :data:`_KD_SECONDS_PER_PAIR`, is estimated to fit ``time_budget``; else the largest
    subsample whose curves (with the 5 that estimate the subsampling error) fit it.
    """
    curves = 1 + simulations
    est = curves * n_sector * (n_sector - 1) / 2.0 * _KD_SECONDS_PER_PAIR
    record = {"max_sector": max_sector, "time_budget_s": None if max_sector else time_budget,
              "estimated_s": est}
    if max_sector is not None:
        return min(n_sector, int(max_sector)), record
    if time_budget is None or est <= time_budget:
        return n_sector, record
    pairs = time_budget / ((curves + _SUBSAMPLE_REPEATS) * _KD_SECONDS_PER_PAIR)
    m = int((1.0 + math.sqrt(1.0 + 8.0 * pairs)) / 2.0)
    return min(n_sector, max(MIN_POINTS, m)), record


def kd(
    points: Any,
    *,
    sector: Any = None,
    sector_column: str = "sector",
    distances: Any = None,
    simulations: int = 999,
    seed: int | np.random.Generator | None = 0,
    weights: Any = None,
    bandwidth: str | float = "silverman",
    alpha: float = 0.05,
    max_distance: float | None = None,
    max_sector: int | None = None,
    time_budget: float | None = TIME_BUDGET,
) -> KdResult:
    r"""Duranton–Overman Kd: is a sector localised, against random location among all sites?

    .. math::

        \hat K_d(d) = \frac{1}{h \sum_{i<j} w_i w_j} \sum_{i<j} w_i w_j
        \left[ f\!\left(\frac{d - d_{ij}}{h}\right) + f\!\left(\frac{d + d_{ij}}{h}\right)
        \right]

    over the pairs of the sector's firms, :math:`f` the standard Gaussian density (the second
    term reflects the kernel mass below 0, so the density integrates to 1 on
    :math:`[0, \infty)`), :math:`w_i = 1` for the count version and employment for DO's
    K-emp (``weights``); the denominator is then :math:`n(n-1)/2 \cdot h`.

    Parameters
    ----------
    points : GeoDataFrame of points, geo.points.PointFrame or (n, 2) array
        All firm sites (every sector), projected, metres.
    sector : object or boolean mask
        The sector's value in ``sector_column``, or a boolean mask over the sites.  At least 10
        firms (:class:`~geo.errors.StatisticsError` otherwise).
    sector_column : str, default "sector"
    distances : array-like, default None
        Increasing evaluation distances (metres).  None: 201 values on [0, max_distance].
    simulations : int, default 999
        Random-location draws: the sector's firm count drawn without replacement from all
        sites (controls for the general density of firms).  With ``weights`` the sector's
        employments are assigned to the drawn sites in random order.
    seed : int, numpy.random.Generator or None, default 0
    weights : str or array-like, default None
        Employment column or array (one value per site) for K-emp.
    bandwidth : "silverman" or float, default "silverman"
        Silverman's rule of thumb on the sector's pair distances,
        :math:`h = 0.9 \min(\hat\sigma, \mathrm{IQR}/1.34)\, N^{-1/5}` with N the number of
        pairs (R's ``bw.nrd0``, as DO and dbmss use); unweighted distances also for K-emp.  The
        same h is used for the observed curve and every simulation.
    alpha : float, default 0.05
        Local bands are the :math:`\lfloor\alpha(s+1)\rfloor`-th smallest and largest simulated
        values at each distance (with 999 simulations the 5th and 95th percentiles, DO's
        bands); global bands are DO's: the local order statistic, identical at all distances,
        chosen as the most extreme band crossed by at most a fraction alpha of the simulated
        curves anywhere on the grid (upper and lower band separately).
    max_distance : float, default None
        Upper end of the default grid.  None: the median distance between all pairs of firm
        sites (DO use the median distance between all pairs of establishments); estimated from
        a seeded random sample of 5,000 sites when there are more.
    max_sector : int, default None
        A fixed budget: the largest sector analysed in full (``geo run`` passes
        :data:`RUN_MAX_SECTOR`); None uses ``time_budget``.  See "Large sectors".
    time_budget : float or None, default 10.0
        Seconds the exact computation (observed curve and simulations) may take, as estimated
        from the sector's pair count; the sector is subsampled only beyond it.  None: always
        exact.  Ignored when ``max_sector`` is given.

    Returns
    -------
    KdResult
        ``curve`` (``r``, ``kd``, ``lo``, ``hi``, ``global_lo``, ``global_hi``),
        ``localised`` / ``dispersed`` intervals, ``gamma``, ``psi``, ``verdict``,
        ``n_sector``, ``n_sites``, ``seed``, ``simulations``, ``bandwidth`` and more.

    Notes
    -----
    **Indices** (DO 2005): :math:`\Gamma = \sum_d \max(K_d - \overline{K}_d, 0)` and, only
    when :math:`\Gamma = 0` (localised nowhere),
    :math:`\Psi = \sum_d \max(\underline{K}_d - K_d, 0)` (else 0), with the global bands
    :math:`\overline K, \underline K`; sums run over the evaluation grid, so they scale with
    its density (DO used 1 km steps to 180 km).  Units: per metre.  The band level is one-sided
    alpha for each of localisation and dispersion.

    **Speed and accuracy.**  Pair distances are not kernel-smoothed pair by pair.  Each sample
    (observed or simulated) is reduced in compiled code to a histogram of the distances up to
    :math:`\max d + 6h` with bins of width :math:`\delta = h/20`, holding per bin the weight
    sum and the first two moments of the offsets from the bin centre; a kernel matrix
    computed once holds the Gaussian and its first two derivatives at the bin centres, and a
    banded matrix–vector product gives the curve.  The second-order Taylor expansion leaves
    a remainder below :math:`(\delta/2)^3 \max|f'''| / (6 h^3) \approx 3\times10^{-6}`
    per pair in units of :math:`f`; the test suite checks agreement with the exact pairwise
    sum within 1e-5 of the curve's maximum.  Pairs are visited by a sweep over sites sorted
    by x (a one-dimensional cell list that skips pairs with :math:`|\Delta x|` beyond reach)
    or, when the reach is below a fifth of the extent of the sites, a two-dimensional cell
    list.  Simulations run in parallel; each is computed alone, so the results do not depend
    on the number of threads.  The default ``max_distance`` (a median over up to 5,000 sites)
    is remembered for the 16 most recent site sets, and the sort of the last set of 100,000
    sites or more, so the Kd of several sectors of the same sites computes them once.

    **Large sectors.**  The cost is :math:`O(s \cdot n^2)` for s simulations of a sector of n
    firms (2,000 firms: 2 million pairs, about 2.6 ms of CPU per simulation, half that on 2
    idle cores; see docs/benchmarks.md).  By default the sector is analysed in full whenever
    that is estimated to take at most ``time_budget`` seconds (the pairs times the curves
    times ``_KD_SECONDS_PER_PAIR``, measured on the benchmark machine: with 999 simulations,
    sectors up to about 4,500 firms).  Beyond it, or beyond ``max_sector`` firms when that
    is given, a seeded random subsample of m firms (the most that fit the budget) is
    analysed and each simulation draws m sites: the test
    remains exact (a random subset of a random-location sector is a random subset of the
    sites), and for a given bandwidth the observed curve is an unbiased estimate of the full
    sector's (each pair is equally likely to be kept); Silverman's bandwidth is computed on
    the subsample's pairs, so it is somewhat wider than the full sector's.  The curve's
    error is estimated from 5 further independent subsamples (largest standard deviation over
    the grid, relative to the curve maximum) and reported in ``subsample_error`` and a logged
    warning; on a clustered 200,000-firm sector it was 2–4 % at 2,000 firms (1–2.5 % at
    5,000).  Pass a larger ``time_budget`` (or None) to analyse more firms at quadratic cost.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> sites = rng.uniform(0, 20_000, size=(2_000, 2))
    >>> mask = np.zeros(2_000, dtype=bool); mask[:200] = True
    >>> res = kd(sites, sector=mask, simulations=99, seed=1)
    >>> res.n_sector, res.simulations
    (200, 99)
    >>> list(res.curve.columns)
    ['r', 'kd', 'lo', 'hi', 'global_lo', 'global_hi']
    """
    xy, _crs = _coords(points, "points")
    return _kd(points, xy, None, sector=sector, sector_column=sector_column,
               distances=distances, simulations=simulations, seed=seed, weights=weights,
               bandwidth=bandwidth, alpha=alpha, max_distance=max_distance,
               max_sector=max_sector, time_budget=time_budget)[0]


def kd_sectors(points: Any, sectors: dict, **options: Any) -> dict:
    """:func:`kd` of several sectors of the same sites: ``{key: KdResult or GeoError}``.

    Each value is what ``kd(points, sector=sectors[key], **options)`` returns (or raises),
    number for number; the sites are read and sorted once for all the sectors.  An error in
    ``points`` itself is raised.  The valley comparison (:mod:`geo.parks.compare`) computes
    the stages' Kd curves with it.

    Parameters
    ----------
    points : geopandas.GeoDataFrame or geo.points.PointFrame
        The sites, in a metric CRS, as :func:`kd` takes them.
    sectors : dict
        Key -> the ``sector`` argument of :func:`kd` (a sector name, or a boolean mask of the points).
    **options
        The other keyword options of :func:`kd` (``simulations``, ``seed``, ``max_sector``, ...),
        the same for every sector.

    Returns
    -------
    dict
        Key -> :class:`KdResult`, or the :class:`geo.errors.GeoError` that :func:`kd` raises
        for that sector (too few firms, ...).

    Raises
    ------
    geo.errors.GeoError
        When ``points`` themselves are not usable (no CRS, a geographic CRS, ...).
    """
    xy, _crs = _coords(points, "points")
    sites = None
    out: dict = {}
    for key, sector in sectors.items():
        try:
            out[key], sites = _kd(points, xy, sites, sector=sector, **options)
        except GeoError as exc:
            out[key] = exc
    return out


def _kd_sites(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sites sorted by x (stable): the order and the sorted x and y (read-only).

    Not remembered between calls: a copy of a large site set would stay in memory for the
    life of the process (200 MB at 5 million firms) to save one radix sort (~30 ms per million).
    """
    xy = np.ascontiguousarray(xy, dtype=np.float64)
    order = _kern.stable_argsort(np.ascontiguousarray(xy[:, 0]))
    sites = (order, np.ascontiguousarray(xy[order, 0]), np.ascontiguousarray(xy[order, 1]))
    for a in sites:
        a.flags.writeable = False
    return sites


def _kd(points: Any, xy: np.ndarray, sites: tuple | None, *, sector: Any = None,
        sector_column: str = "sector", distances: Any = None, simulations: int = 999,
        seed: int | np.random.Generator | None = 0, weights: Any = None,
        bandwidth: str | float = "silverman", alpha: float = 0.05,
        max_distance: float | None = None, max_sector: int | None = None,
        time_budget: float | None = TIME_BUDGET) -> tuple[KdResult, tuple]:
    """The body of :func:`kd` on the coordinates ``xy`` of ``points``; ``sites`` (or None):
    the result of :func:`_kd_sites` for ``xy``.  Returns the result and the sites."""
    n_sites = len(xy)
    mask, label = _sector_mask(points, sector, sector_column, n_sites, statistic="Kd",
                               why=" Too few firms to tell localisation from chance.")
    n_sector = int(mask.sum())
    if n_sector == n_sites:
        msg = ("The sector holds every site, so random location among the sites cannot differ "
               "from the observed pattern; pass the sites of all sectors in `points`.")
        raise StatisticsError(msg)
    simulations = _check_simulations(simulations)
    alpha = _check_alpha(alpha)
    if max_sector is not None and (isinstance(max_sector, bool)
                                   or not isinstance(max_sector, (int, np.integer))
                                   or max_sector < MIN_POINTS):
        msg = f"`max_sector` must be None or an int >= {MIN_POINTS}; {max_sector!r} was given."
        raise InputError(msg)
    time_budget = _check_time_budget(time_budget)
    w_all = _site_weights(points, weights, n_sites)
    rng = check_seed(seed)
    notes: list[str] = []

    # sort the sites by x once: every sorted index sample is then sorted by x too
    if sites is None:
        sites = _kd_sites(xy)
    order, x, y = sites
    smask = mask[order]
    sw = None if w_all is None else w_all[order]
    sector_idx = np.nonzero(smask)[0]

    m, budget = _kd_plan(n_sector, simulations, max_sector, time_budget)
    subsample = None
    if m < n_sector:
        subsample = m
        obs_idx = np.sort(rng.choice(sector_idx, size=m, replace=False))
    else:
        obs_idx = sector_idx
    obs_w = None if sw is None else sw[obs_idx]
    if obs_w is not None:
        pair_weight = 0.5 * (obs_w.sum() ** 2 - np.sum(obs_w**2))
        if pair_weight <= 0:
            msg = ("The sector's employment weights give no weighted pair (fewer than two firms "
                   "with positive weight); check the weights column.")
            raise StatisticsError(msg)
    else:
        pair_weight = m * (m - 1) / 2.0

    # evaluation grid
    if distances is None:
        if max_distance is None:
            if n_sites > _MEDIAN_SITES:
                pick = np.sort(check_seed(rng.integers(2**63)).choice(
                    n_sites, size=_MEDIAN_SITES, replace=False))
                max_distance = _median_pair_distance(x[pick], y[pick])
                notes.append(f"max_distance = median pair distance of a random sample of "
                             f"{_MEDIAN_SITES} of {n_sites} sites")
            else:
                max_distance = _median_pair_distance(x, y)
                notes.append("max_distance = median pair distance of all sites")
        max_distance = float(max_distance)
        if not (math.isfinite(max_distance) and max_distance > 0):
            msg = f"`max_distance` must be a positive number of metres; {max_distance!r} given."
            raise InputError(msg)
        r = np.linspace(0.0, max_distance, 201)
    else:
        r = _check_grid(distances)
        max_distance = float(r[-1])
        if max_distance <= 0:
            msg = "`distances` must reach beyond 0 m."
            raise InputError(msg)

    # bandwidth
    if isinstance(bandwidth, str):
        if bandwidth != "silverman":
            msg = f"`bandwidth` must be 'silverman' or a positive float; {bandwidth!r} given."
            raise InputError(msg)
        npairs, _mean, sd, iqr, _med = _pair_summary(x[obs_idx], y[obs_idx])
        spread = min(sd, iqr / 1.34) if iqr > 0 else sd
        h = 0.9 * spread * npairs ** (-0.2)
        if not h > 0:
            msg = ("The sector's firms are all at one location (pair distances have no spread), "
                   "so no kernel bandwidth can be chosen; give `bandwidth=` in metres.")
            raise StatisticsError(msg)
    else:
        h = float(bandwidth)
        if not (math.isfinite(h) and h > 0):
            msg = f"`bandwidth` must be 'silverman' or a positive float; {bandwidth!r} given."
            raise InputError(msg)

    engine = _KdEngine(x, y, r, h, pair_weight)
    kd_obs = engine.curves(obs_idx[None, :], None if obs_w is None else obs_w[None, :])[0]

    subsample_error = None
    if subsample is not None:
        reps = np.stack([np.sort(rng.choice(sector_idx, size=m, replace=False))
                         for _ in range(_SUBSAMPLE_REPEATS)])
        rw = None if sw is None else sw[reps]
        if rw is not None:  # each subsample has its own pair weight
            pw = 0.5 * (rw.sum(axis=1) ** 2 - np.sum(rw**2, axis=1))
            extra = engine.curves(reps, rw) * (pair_weight / pw)[:, None]
        else:
            extra = engine.curves(reps, None)
        subsample_error = float(np.max(np.std(np.vstack([kd_obs, extra]), axis=0, ddof=1))
                                / np.max(kd_obs))
        logger.warning("Kd: sector %r has %d firms, %s; analysed a random subsample of %d "
                       "(estimated relative error of the curve %.2g).", label, n_sector,
                       _budget_phrase(budget, "Kd"), m, subsample_error)
        notes.append(f"subsample of {m} of {n_sector} sector firms")

    nan = np.full(len(r), np.nan)
    lo = hi = glo = ghi = nan
    pcts = (float("nan"), float("nan"))
    if simulations > 0:
        sims = np.empty((simulations, len(r)))
        chunk = 128
        for s0 in range(0, simulations, chunk):
            s1 = min(simulations, s0 + chunk)
            idx = np.sort(np.stack([rng.choice(n_sites, size=m, replace=False)
                                    for _ in range(s1 - s0)]), axis=1)
            wm = None
            if obs_w is not None:
                wm = np.stack([rng.permutation(obs_w) for _ in range(s1 - s0)])
            sims[s0:s1] = engine.curves(idx, wm)
        k_loc = max(1, math.floor(alpha * (simulations + 1)))
        lo, hi = _order_stat_bands(sims, k_loc)
        ghi, p_hi = _do_global_band(sims, alpha, upper=True)
        glo, p_lo = _do_global_band(sims, alpha, upper=False)
        pcts = (p_lo, p_hi)

    curve = pd.DataFrame({"r": r, "kd": kd_obs, "lo": lo, "hi": hi,
                          "global_lo": glo, "global_hi": ghi})
    if simulations > 0:
        above = kd_obs > ghi
        below = kd_obs < glo
        gamma = float(np.sum(np.maximum(kd_obs - ghi, 0.0)))
        localised = _runs(r, above)
        if gamma > 0:
            psi = 0.0
            dispersed: list = []
        else:
            psi = float(np.sum(np.maximum(glo - kd_obs, 0.0)))
            dispersed = _runs(r, below)
        if localised:
            verdict = f"localised at distances {_fmt_intervals(localised)} (Γ = {gamma:.3g})"
        elif dispersed:
            verdict = f"dispersed at distances {_fmt_intervals(dispersed)} (Ψ = {psi:.3g})"
        else:
            verdict = (f"neither localised nor dispersed at {100 * alpha:g} % "
                       f"(0–{_fmt_km(r[-1])} km)")
    else:
        gamma = psi = float("nan")
        localised, dispersed = [], []
        verdict = "not tested (simulations=0)"
    curve.attrs.update({"bandwidth": h, "sector": str(label), "n_sector": n_sector,
                        "simulations": simulations, "alpha": alpha})
    return KdResult(
        curve=curve, localised=localised, dispersed=dispersed, gamma=gamma, psi=psi,
        verdict=verdict, sector=label, n_sector=n_sector, n_sites=n_sites,
        seed=seed_record(seed), simulations=simulations, bandwidth=h,
        max_distance=max_distance, alpha=alpha, weighted=w_all is not None,
        method=engine.method, global_percentiles=pcts, subsample=subsample,
        subsample_error=subsample_error, notes=tuple(notes), budget=budget,
    ), sites


# --------------------------------------------------------------------------------------
# Marcon–Puech M
# --------------------------------------------------------------------------------------


def marcon_puech_m(
    points: Any,
    *,
    sector: Any,
    distances: Any,
    simulations: int = 999,
    seed: int | np.random.Generator | None = 0,
    sector_column: str = "sector",
    weights: Any = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    r"""Marcon–Puech M: the relative, cumulative concentration of a sector around its firms.

    .. math::

        M(r) = \frac{\sum_{i \in S} \dfrac{\sum_{j \in S, j \ne i} w_j \mathbf 1(d_{ij} \le r)}
                                          {\sum_{j \ne i} w_j \mathbf 1(d_{ij} \le r)}}
                    {\sum_{i \in S} \dfrac{W_S - w_i}{W - w_i}}

    the share of the sector S among the neighbours within r of its own firms, relative to its
    share of the whole set of firms (:math:`W_S`, :math:`W` the sector's and all firms'
    weights; :math:`w = 1` without ``weights``).  :math:`M = 1` means no relative
    concentration; M > 1 localisation.  Sector firms with no neighbour within r are left out
    of both sums at that r (M is NaN when no sector firm has one).

    Parameters
    ----------
    points : GeoDataFrame of points, geo.points.PointFrame or (n, 2) array
        All firm sites, projected, metres.
    sector : object or boolean mask
        Sector value in ``sector_column`` or a boolean mask over the sites (≥ 10 firms).
    distances : array-like
        Increasing distances r ≥ 0 (metres).
    simulations : int, default 999
        Random location: the marks (sector, weight) permuted over the sites; without weights,
        the sector's firm count drawn without replacement from all sites.
    seed : int, numpy.random.Generator or None, default 0
    sector_column : str, default "sector"
    weights : str or array-like, default None
        Employment (column or one value per site).
    alpha : float, default 0.05
        Two-sided pointwise envelope: the k-th smallest and largest simulated M,
        :math:`k = \max(1, \lfloor \alpha/2\,(s+1)\rfloor)`.

    Returns
    -------
    pandas.DataFrame
        ``r``, ``M``, ``lo``, ``hi``; ``attrs`` with ``n_sector``, ``n_sites``,
        ``simulations``, ``seed``, ``alpha``.

    Notes
    -----
    All pairs of sites within the largest r are held in memory (at most 50 million);
    each simulation costs one pass over the neighbours of the sector's firms.

    Examples
    --------
    >>> import numpy as np
    >>> xy = np.column_stack([np.arange(20.0), np.zeros(20)])
    >>> mask = np.arange(20) % 2 == 0
    >>> m = marcon_puech_m(xy, sector=mask, distances=[1.0, 2.0], simulations=0)
    >>> [round(v, 4) for v in m["M"]]
    [0.0, 1.0204]
    """
    xy, _crs = _coords(points, "points")
    n = len(xy)
    mask, label = _sector_mask(points, sector, sector_column, n, statistic="The M function")
    n_sector = int(mask.sum())
    r = _check_grid(distances)
    simulations = _check_simulations(simulations)
    alpha = _check_alpha(alpha)
    w = _site_weights(points, weights, n)
    if w is not None and w.sum() <= 0:
        msg = "`weights` sum to zero; M needs positive total weight."
        raise StatisticsError(msg)

    tree = cKDTree(xy)
    pairs = tree.query_pairs(float(r[-1]), output_type="ndarray")
    if 2 * len(pairs) > _MAX_M_PAIRS:
        msg = (f"{2 * len(pairs):,} neighbour pairs within {r[-1]:g} m exceed the "
               f"{_MAX_M_PAIRS:,} that M holds in memory; use smaller distances or fewer sites.")
        raise InputError(msg)
    i = np.concatenate([pairs[:, 0], pairs[:, 1]])
    j = np.concatenate([pairs[:, 1], pairs[:, 0]])
    d = np.hypot(xy[i, 0] - xy[j, 0], xy[i, 1] - xy[j, 1])
    srt = np.lexsort((d, i))
    i, j, d = i[srt], j[srt], d[srt]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(i, minlength=n))]).astype(np.int64)
    rbin = np.searchsorted(r, d, side="left").astype(np.int64)
    keep = rbin < len(r)
    if not keep.all():  # float rounding at the upper end
        i, j, rbin = i[keep], j[keep], rbin[keep]
        indptr = np.concatenate([[0], np.cumsum(np.bincount(i, minlength=n))]).astype(np.int64)
    indices = np.ascontiguousarray(j, dtype=np.int64)

    wrow = np.ones((1, n)) if w is None else w[None, :].astype(np.float64)
    w_total = float(wrow.sum())
    w_sector = float(wrow[0, mask].sum())
    obs = _kern.m_simulations(indptr, indices, rbin, len(r), mask[None, :], wrow,
                              w_sector, w_total)[0]
    out = pd.DataFrame({"r": r, "M": obs})
    if simulations > 0:
        rng = check_seed(seed)
        sims = np.empty((simulations, len(r)))
        chunk = max(1, min(simulations, 5_000_000 // max(n, 1)))
        for s0 in range(0, simulations, chunk):
            s1 = min(simulations, s0 + chunk)
            marks = np.zeros((s1 - s0, n), dtype=bool)
            if w is None:
                for k in range(s1 - s0):
                    marks[k, rng.choice(n, size=n_sector, replace=False)] = True
                wm = wrow
            else:
                perms = np.stack([rng.permutation(n) for _ in range(s1 - s0)])
                marks = mask[perms]
                wm = w[perms]
            sims[s0:s1] = _kern.m_simulations(indptr, indices, rbin, len(r), marks, wm,
                                              w_sector, w_total)
        k = max(1, math.floor(alpha / 2.0 * (simulations + 1)))
        out["lo"], out["hi"] = _order_stat_bands(sims, k)
    else:
        out["lo"] = np.nan
        out["hi"] = np.nan
    out.attrs.update({"sector": str(label), "n_sector": n_sector, "n_sites": n,
                      "simulations": simulations, "seed": seed_record(seed), "alpha": alpha,
                      "weighted": w is not None})
    return out
