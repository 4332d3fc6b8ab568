r"""Co-location quotients: are the points of category B over-represented among the neighbours
of the points of category A?

* :func:`colocation` — the global co-location quotient CLQ(A→B) of Leslie & Kronenfeld
  (2011) over the k nearest neighbours, tested by random labelling;
* :func:`local_colocation` — the local quotient of every point of A (Cromley et al. 2014;
  Wang et al. 2017: an adaptive Gaussian kernel over the k nearest neighbours), tested by
  conditional random labelling, with Benjamini–Hochberg adjusted p-values.

Definitions
-----------
Every point ``i`` has the neighbourhood

.. math:: \mathcal N(i) = \{\, j \ne i : d_{ij} \le d_{(k)}(i) \,\}

where :math:`d_{(k)}(i)` is the distance from ``i`` to its k-th nearest *other* point.  The
point itself is never its own neighbour; other points at the same coordinate (firms geocoded
to one building) are neighbours at distance 0.  **Ties at the k-th distance are all kept**,
so a neighbourhood holds more than ``k`` points when several are equally far: this is Leslie
& Kronenfeld's rule for tied nearest neighbours (each of the ``v`` tied points counts ``1/v``),
extended to ``k``, and it makes the result independent of the order of the rows.
(``sfdep``'s ``st_knn`` / spdep's ``knearneigh`` and ArcGIS keep exactly ``k`` and break
ties by row order; without ties the neighbourhoods are the same.)

With :math:`a_i, b_i \in \{0, 1\}` the memberships of point ``i`` in A and B (they may
overlap), ``N`` points and :math:`N_B` points of B, the share of B among the other points
seen from ``i`` is :math:`(N_B - b_i)/(N - 1)` — Leslie & Kronenfeld's :math:`N_B/(N-1)`
for disjoint categories and :math:`(N_B - 1)/(N - 1)` for CLQ(A→A).

Global (uniform weights over the neighbourhood):

.. math::

    CLQ_{A\to B} = \frac{\sum_i a_i \frac{1}{|\mathcal N(i)|}\sum_{j \in \mathcal N(i)} b_j}
                        {\sum_i a_i \frac{N_B - b_i}{N - 1}}

Local, for a point ``i`` of A, with Gaussian weights and the adaptive bandwidth
:math:`h_i = d_{(k)}(i)`:

.. math::

    LCLQ_{i\to B} = \frac{\sum_{j \in \mathcal N(i)} w_{ij} b_j \big/ \sum_{j \in \mathcal N(i)} w_{ij}}
                         {(N_B - b_i)/(N - 1)},
    \qquad w_{ij} = \exp\!\Big(-\frac{1}{2}\frac{d_{ij}^2}{h_i^2}\Big)

(:math:`w_{ij} = 1` when :math:`h_i = 0`: every neighbour shares the point's coordinate).
These are the formulas of ArcGIS Pro's Colocation Analysis ("How Colocation Analysis works",
Gaussian kernel, neighbours by count) and of sfdep's ``local_colocation`` with
``st_kernel_weights(st_knn(geometry, k), geometry, "gaussian", adaptive = TRUE)`` (its
constant :math:`\sqrt{2\pi}` cancels).  sfdep's example adds the point itself to its
neighbours (``include_self``, weight 1), which Wang et al.'s :math:`j \ne i` excludes; geo
follows Wang et al.  With a uniform kernel the mean of the local quotients of A is the
global quotient (Cromley et al. 2014).

Inference
---------
Global: random labelling (Leslie & Kronenfeld) — the category memberships ``(a_i, b_i)`` are
shuffled over the fixed point locations ``permutations`` times, which keeps :math:`N_A`,
:math:`N_B` and the overlap, hence the denominator.  Local: conditional random labelling
(Wang et al.) — point ``i`` keeps its label and its neighbours' memberships in B are drawn
without replacement from the other ``N - 1`` points (the engine of
:func:`geo.stats._kernels.local_perm_counts`).  Coincident points need no special case: they
are distinct points whose labels are shuffled like any others.  Pseudo p-values are
:math:`(\#\{\text{as extreme}\} + 1)/(R + 1)` per tail, two-sided by default (the doubled
smaller tail, :func:`geo.stats._inference.pseudo_p`); sfdep reports the smaller tail
undoubled and ArcGIS a one-sided p, so their p-values are about half of geo's two-sided
ones.  Local p-values are adjusted for the false discovery rate
(:func:`geo.stats._inference.fdr_bh`).

References
----------
Leslie, T.F. and Kronenfeld, B.J. (2011). The colocation quotient: a new measure of spatial
association between categorical subsets of points. *Geographical Analysis* 43, 306-326.
Cromley, R.G., Hanink, D.M. and Bentley, G.C. (2014). Geographically weighted colocation
quotients: specification and application. *The Professional Geographer* 66, 138-148.
Wang, F., Hu, Y., Wang, S. and Li, X. (2017). Local indicator of colocation quotient with a
statistical significance test. *The Professional Geographer* 69, 22-31.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from geo._random import seed_int, seed_record
from geo.errors import ColumnError, InputError, StatisticsError
from geo.points import sector_mask
from geo.stats import _clq_kernels, _inference

__all__ = ["ColocationResult", "colocation", "local_colocation", "neighbourhoods", "neighbours_of"]

#: the run's budget (``geo run``: the co-location stage and the research-led model's test): a
#: global test costs about 6 s per relation at 100,000 points and 999 permutations on this
#: project's 2-core machine (docs/benchmarks.md); above this many points the pipeline skips
#: them with the reason.  The functions themselves have no limit.
RUN_MAX_POINTS = 200_000

logger = logging.getLogger(__name__)

#: relative tolerance within which a permuted statistic counts as tied with the observed one
_TIE_RTOL = 1e-12
#: distances within this relative tolerance of the k-th distance count as tied with it
_DIST_RTOL = 1e-12
#: labels of the local quotients
LABELS = ("colocated", "isolated", "ns")


@dataclass(frozen=True)
class ColocationResult:
    """Global co-location quotient CLQ(a→b) and its random-labelling test.

    Attributes
    ----------
    a, b : str
        The two categories (their values, or ``"mask"`` for a boolean selection).
    clq : float
        The quotient; 1 is what random labelling gives on average, above 1 the points of ``b``
        are over-represented among the neighbours of ``a``.
    p : float
        Pseudo p-value of ``alternative`` (NaN with ``permutations=0``).
    n, n_a, n_b : int
        Points in all, of ``a`` and of ``b``.
    k : int
        Neighbours per point (more where the k-th distance is tied).
    mean_neighbours : float
        Mean neighbourhood size of the points of ``a``.
    permutations : int
        Random labellings behind ``p``.
    alternative : str
        ``"two-sided"``, ``"greater"`` or ``"less"``.
    seed : int or None
        The seed given (None for a Generator or fresh entropy).
    """

    a: str
    b: str
    clq: float
    p: float
    n: int
    n_a: int
    n_b: int
    k: int
    mean_neighbours: float
    permutations: int
    alternative: str
    seed: int | None


# --------------------------------------------------------------------------------------
# neighbourhoods, by site (distinct coordinate)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sites:
    """The neighbourhoods of the points, held once per site (distinct coordinate).

    All points of a site share one neighbourhood: the other points of their own site (at
    0 m) and every point of the neighbouring sites ``indices[indptr[s]:indptr[s+1]]`` (at
    ``dist``), so a stack of ``m`` firms costs ``m`` entries here instead of ``m (m - 1)``.
    """

    site: np.ndarray  # (n,) site of each point
    m: np.ndarray  # (S,) points per site
    indptr: np.ndarray  # (S + 1,) CSR over the neighbouring sites
    indices: np.ndarray
    dist: np.ndarray
    h: np.ndarray  # (S,) the k-th distance of the site's points (the kernel bandwidth)

    @property
    def size(self) -> np.ndarray:
        """Neighbourhood size of a point of each site: ``m_s - 1 + sum_t m_t``."""
        rows = np.repeat(np.arange(len(self.m)), np.diff(self.indptr))
        return self.m - 1 + np.bincount(rows, weights=self.m[self.indices], minlength=len(self.m)).astype(np.int64)

    def gaussian(self) -> np.ndarray:
        """``exp(-d^2 / (2 h_s^2))`` of each neighbouring site (``h_s > 0`` wherever a site has one)."""
        hr = np.repeat(self.h, np.diff(self.indptr))
        return np.exp(-0.5 * (self.dist / np.where(hr > 0, hr, 1.0)) ** 2)

    def site_sums(self, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``sum_t weights_st values_t`` over the neighbouring sites of every site."""
        rows = np.repeat(np.arange(len(self.m)), np.diff(self.indptr))
        return np.bincount(rows, weights=weights * values[self.indices], minlength=len(self.m))


def _ranks(counts: np.ndarray) -> np.ndarray:
    """``0 .. c - 1`` for each ``c`` of ``counts``, concatenated."""
    counts = np.asarray(counts, dtype=np.int64)
    return np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)


def _sites(xy: np.ndarray, k: int) -> _Sites:
    """Group the points by coordinate and find each site's neighbouring sites.

    A point of site ``s`` has ``m_s - 1`` neighbours at 0 m; when that is ``k`` or more its
    neighbourhood is its own site.  Otherwise the k-th distance ``h_s`` is the distance of
    the nearest other site at which the cumulated point count reaches ``k - (m_s - 1)``,
    and every site within ``h_s`` (ties kept, relative tolerance 1e-12) belongs to the
    neighbourhood.  A k-d tree over the sites gives ``k + 2`` candidates per site; a ball
    query completes the rare rows whose last candidate is still within ``h_s``.
    """
    coords, site, m = np.unique(xy + 0.0, axis=0, return_inverse=True, return_counts=True)
    site = site.ravel().astype(np.int64)
    m = m.astype(np.int64)
    n_sites = len(m)
    need = k - (m - 1)
    h = np.zeros(n_sites)
    todo = np.flatnonzero(need > 0)
    counts = np.zeros(n_sites, dtype=np.int64)
    indices = dist = np.zeros(0)
    if todo.size:
        tree = cKDTree(coords)
        kq = min(int(need[todo].max()) + 2, n_sites)
        _, cand = tree.query(coords[todo], k=kq)
        cand = cand.reshape(len(todo), kq)
        is_self = cand == todo[:, None]
        if not (is_self.sum(axis=1) == 1).all():  # pragma: no cover - distinct coordinates find themselves
            msg = "internal error: a site is not among its own nearest sites"
            raise RuntimeError(msg)
        nb = cand[~is_self].reshape(len(todo), kq - 1)
        d = np.hypot(coords[nb, 0] - coords[todo, 0, None], coords[nb, 1] - coords[todo, 1, None])
        o = np.argsort(d, axis=1, kind="stable")
        nb = np.take_along_axis(nb, o, axis=1)
        d = np.take_along_axis(d, o, axis=1)
        cum = np.cumsum(m[nb], axis=1)
        q = (cum < need[todo, None]).sum(axis=1)  # the first candidate at which the count reaches `need`
        hk = d[np.arange(len(todo)), q]
        h[todo] = hk
        within = d <= hk[:, None] * (1.0 + _DIST_RTOL)
        more = within[:, -1] & (kq < n_sites)  # the last candidate ties: there may be more beyond it
        balls: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for r in np.flatnonzero(more).tolist():
            s = int(todo[r])
            ball = np.asarray(tree.query_ball_point(coords[s], r=hk[r] * (1.0 + 1e-9) + 1e-9), dtype=np.int64)
            ball = ball[ball != s]
            db = np.hypot(coords[ball, 0] - coords[s, 0], coords[ball, 1] - coords[s, 1])
            keep = db <= hk[r] * (1.0 + _DIST_RTOL)
            ob = np.argsort(db[keep], kind="stable")
            balls[s] = (ball[keep][ob], db[keep][ob])
        counts[todo] = within.sum(axis=1)
        for s, (j, _) in balls.items():
            counts[s] = len(j)
    indptr = np.zeros(n_sites + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(indptr[-1], dtype=np.int64)
    dist = np.empty(indptr[-1], dtype=np.float64)
    if todo.size:
        plain = ~more
        rows = np.repeat(todo[plain], counts[todo[plain]])
        slot = _ranks(counts[todo[plain]])
        indices[indptr[rows] + slot] = nb[plain][within[plain]]
        dist[indptr[rows] + slot] = d[plain][within[plain]]
        for s, (j, dj) in balls.items():
            indices[indptr[s]:indptr[s + 1]] = j
            dist[indptr[s]:indptr[s + 1]] = dj
    return _Sites(site=site, m=m, indptr=indptr, indices=indices, dist=dist, h=h)


def _expand(sites: _Sites, points: np.ndarray, weights: np.ndarray | None = None):
    """Point-level neighbourhoods of ``points``: ``(indptr, indices, dist, w)`` with ``indptr``
    over all ``n`` points (rows of other points empty); own-site neighbours first (0 m,
    weight 1), then the points of the neighbouring sites by distance (``weights`` per site
    edge, or 1)."""
    n = len(sites.site)
    order = np.argsort(sites.site, kind="stable")
    start = np.zeros(len(sites.m) + 1, dtype=np.int64)
    np.cumsum(sites.m, out=start[1:])
    ps = sites.site[points]
    deg = np.diff(sites.indptr)[ps]
    # blocks: (row, site, distance, weight), the own site first in each row
    nblk = 1 + deg
    row = np.repeat(np.arange(len(points)), nblk)
    pos = _ranks(nblk)  # 0 = own site, then edge pos - 1
    edge = np.repeat(sites.indptr[ps], nblk) + pos - 1
    own = pos == 0
    bsite = np.where(own, np.repeat(ps, nblk), sites.indices[np.where(own, 0, edge)] if sites.indices.size else 0)
    bdist = np.where(own, 0.0, sites.dist[np.where(own, 0, edge)] if sites.dist.size else 0.0)
    w_edge = np.ones(sites.indices.size) if weights is None else weights
    bw = np.where(own, 1.0, w_edge[np.where(own, 0, edge)] if w_edge.size else 1.0)
    size = sites.m[bsite]
    eb = np.repeat(np.arange(row.size), size)
    pt = order[start[bsite][eb] + _ranks(size)]
    keep = pt != points[row[eb]]
    prow = points[row[eb]][keep]
    counts = np.bincount(prow, minlength=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    # entries are grouped by row in the order of `points`; place them by row
    dst = np.argsort(prow, kind="stable")
    return (indptr, pt[keep][dst].astype(np.int64), bdist[eb][keep][dst], bw[eb][keep][dst])


def neighbourhoods(xy: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k-nearest-neighbour neighbourhoods of every point, ties at the k-th distance kept.

    Parameters
    ----------
    xy : ndarray, shape (n, 2)
        Coordinates in metres.
    k : int
        Neighbours per point; ``n > k`` is required.

    Returns
    -------
    indptr, indices, dist : ndarray
        CSR arrays: the neighbours of point ``i`` are ``indices[indptr[i]:indptr[i+1]]``
        (the point itself excluded, the other points at its coordinate included at 0 m),
        ``dist`` their distances (:func:`numpy.hypot`), ascending within each row.

    Notes
    -----
    The statistics never build these lists (a stack of ``m`` firms on one coordinate has
    ``m (m - 1)`` entries); they work per site (distinct coordinate), where the stack costs
    ``m``.  This function expands the site neighbourhoods for inspection.
    """
    xy = np.ascontiguousarray(xy, dtype=np.float64)
    sites = _sites(xy, int(k))
    indptr, indices, dist, _ = _expand(sites, np.arange(len(xy)))
    return indptr, indices, dist


def neighbours_of(xy: np.ndarray, mask: np.ndarray, *, k: int = 8) -> np.ndarray:
    """Which points are in the neighbourhood of at least one point of ``mask``.

    The neighbourhoods are those of :func:`colocation` (the ``k`` nearest other points, ties
    at the k-th distance kept): e.g. the research anchors that the co-location quotient of a
    set of firms towards the anchors counts.

    Parameters
    ----------
    xy : ndarray, shape (n, 2)
        Coordinates in metres.
    mask : ndarray of bool, shape (n,)
        The points whose neighbourhoods are taken.
    k : int, default 8

    Returns
    -------
    ndarray of bool, shape (n,)
    """
    xy = np.ascontiguousarray(xy, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    sites = _sites(xy, int(k))
    a_s = np.bincount(sites.site, weights=mask, minlength=len(sites.m))
    reached = np.zeros(len(sites.m), dtype=bool)
    reached[sites.indices[np.repeat(a_s > 0, np.diff(sites.indptr))]] = True
    # a point's own site: reached when another point of the mask shares it
    return reached[sites.site] | (a_s[sites.site] - mask >= 1)


# --------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------


def _membership(points: Any, value: Any, column: str | None, n: int, name: str) -> tuple[np.ndarray, str]:
    """The boolean membership of category ``value`` (a value of ``column``, or a mask)."""
    if isinstance(value, (np.ndarray, pd.Series, list)) and len(value) == n and np.asarray(value).dtype == bool:
        return np.asarray(value, dtype=bool), "mask"
    if isinstance(value, (np.ndarray, pd.Series, list)):
        msg = (f"`{name}` must be a category (a value of `column`) or a boolean mask with one entry per point "
               f"({n:,}); a {type(value).__name__} of length {len(value):,} was given.")
        raise InputError(msg)
    if column is None:
        msg = f"`{name}={value!r}` is a category, so `column=` must name the column that holds the categories."
        raise ColumnError(msg)
    return sector_mask(points, value, column), str(value)


def _prepare(points: Any, a: Any, b: Any, column: str | None, k: Any, permutations: Any, alternative: str,
             alpha: float | None = None) -> tuple[_Sites, np.ndarray, np.ndarray, str, str]:
    """What both quotients start with: the options checked (``alternative``, ``alpha`` when
    given, ``points``, ``k``, ``permutations``), the memberships in ``a`` and ``b`` with their
    labels, and the points' sites with their ``k`` nearest neighbours."""
    from geo.stats.pointpattern import _coords

    _inference.check_alternative(alternative)
    if alpha is not None and not 0.0 < float(alpha) < 1.0:
        msg = f"`alpha` must lie strictly between 0 and 1; {alpha!r} was given."
        raise InputError(msg)
    if not isinstance(points, pd.DataFrame):
        msg = (f"`points` must be a GeoDataFrame or PointFrame of points in a projected CRS with the category "
               f"column; {type(points).__name__} was given.")
        raise InputError(msg)
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        msg = f"`k` must be a positive integer (neighbours per point); {k!r} was given."
        raise InputError(msg)
    if not isinstance(permutations, (int, np.integer)) or isinstance(permutations, bool) or permutations < 0:
        msg = f"`permutations` must be a non-negative integer; {permutations!r} was given."
        raise InputError(msg)
    xy, _ = _coords(points)
    n = len(xy)
    am, a_label = _membership(points, a, column, n, "a")
    bm, b_label = _membership(points, b, column, n, "b")
    if n <= k:
        msg = f"The co-location quotient with k={k} needs more than {k} points; {n:,} were given. Lower `k`."
        raise StatisticsError(msg)
    n_a, n_b = int(am.sum()), int(bm.sum())
    if n_a == 0 or n_b == 0 or (n_b == 1 and (am & bm).any()):
        msg = (f"CLQ({a_label}→{b_label}) needs a point of {a_label!r} and, for each, a point of {b_label!r} "
               f"other than itself; {a_label!r} has {n_a:,} point(s) and {b_label!r} {n_b:,}.")
        raise StatisticsError(msg)
    return _sites(xy, int(k)), am, bm, a_label, b_label




def _local_p(sites: _Sites, w_edge: np.ndarray, bm: np.ndarray, cells: np.ndarray, permutations: int,
             seed: Any, alternative: str) -> np.ndarray:
    """Conditional random-labelling p-values of the points ``cells`` of A.

    Points of one site with the same membership in B have the same statistic and the same
    null distribution, so one of them (the first) is tested and its p-value given to all:
    a stack of firms is one test, not one per firm, and costs one neighbourhood.
    """
    from geo.stats.autocorr import _W, _mc_counts

    n = len(bm)
    _, first, inverse = np.unique(sites.site[cells] * 2 + bm[cells], return_index=True, return_inverse=True)
    reps = cells[first]
    indptr, indices, _, w = _expand(sites, reps, w_edge)
    rows = np.sort(reps)  # the CSR holds their rows in this order, each non-empty, nothing between
    starts = indptr[rows]
    equal = np.zeros(n, dtype=bool)
    equal[rows] = np.minimum.reduceat(w, starts) == np.maximum.reduceat(w, starts)
    tol = np.zeros(n)
    tol[rows] = np.where(equal[rows], 0.0, _TIE_RTOL * np.add.reduceat(w, starts))
    graph = _W(indptr=indptr, indices=indices, data=w, diag=np.zeros(n), k=np.diff(indptr), equal=equal, transform="o")
    up, lo = _mc_counts(graph, bm.astype(np.float64), reps.astype(np.int64), tol, permutations, seed_int(seed))
    p_rep = np.asarray(_inference.pseudo_p(up, lo, permutations, alternative), dtype=float)
    return p_rep[inverse.ravel()]


# --------------------------------------------------------------------------------------
# the statistics
# --------------------------------------------------------------------------------------


def colocation(
    points: Any,
    *,
    a: Any,
    b: Any,
    column: str | None = None,
    k: int = 8,
    permutations: int = 999,
    seed: int | np.random.Generator | None = 0,
    alternative: str = "two-sided",
) -> ColocationResult:
    r"""Global co-location quotient CLQ(a→b) (Leslie & Kronenfeld 2011) with a random-labelling test.

    .. math::

        CLQ_{A\to B} = \frac{\sum_i a_i \frac{1}{|\mathcal N(i)|}\sum_{j \in \mathcal N(i)} b_j}
                            {\sum_i a_i (N_B - b_i)/(N - 1)}

    over the ``k`` nearest other points (ties at the k-th distance kept); see the module
    notes for the conventions and how they compare with sfdep and ArcGIS.

    Parameters
    ----------
    points : GeoDataFrame or PointFrame
        Points in a projected CRS (metres; call :func:`geo.to_metric` first).  Every row is a
        point of the population, whatever its category (rows with a missing category too).
    a, b : value of ``column``, or boolean mask with one entry per row
        The category of interest and the neighbouring category (equal for CLQ(A→A)).
    column : str, default None
        The category column; needed when ``a`` or ``b`` is a value.
    k : int, default 8
        Neighbours per point.
    permutations : int, default 999
        Random labellings (0: no test, ``p`` is NaN).
    seed : int, numpy.random.Generator or None, default 0
        Seed of the labellings.
    alternative : {"two-sided", "greater", "less"}, default "two-sided"
        "greater" tests co-location (CLQ above what random labelling gives), "less" isolation.

    Returns
    -------
    ColocationResult

    Raises
    ------
    ColumnError, InputError
        ``column`` is missing, or ``a`` / ``b`` matches no row (the values present are listed).
    StatisticsError
        ``k`` or more points are missing, or ``b`` has no point besides ``a`` itself.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> pts = gpd.GeoDataFrame({"s": list("AABBAB")}, geometry=shapely.points([0, 1, 2, 3, 10, 11], 0), crs=3857)
    >>> round(colocation(pts, a="A", b="B", column="s", k=1, permutations=0).clq, 3)
    0.833
    """
    sites, am, bm, a_label, b_label = _prepare(points, a, b, column, k, permutations, alternative)
    n, n_sites = len(am), len(sites.m)
    size = sites.size
    a_s = np.bincount(sites.site, weights=am, minlength=n_sites)
    b_s = np.bincount(sites.site, weights=bm, minlength=n_sites)
    ab_s = np.bincount(sites.site, weights=am & bm, minlength=n_sites)
    n_b = int(bm.sum())
    # per site: its A points see B_s - b_i at their own site and every B of the neighbouring sites
    observed = float(((a_s * (b_s + sites.site_sums(b_s, np.ones(sites.indices.size))) - ab_s) / size).sum())
    expected = float(((n_b - bm[am]) / (n - 1.0)).sum())
    clq = observed / expected
    p = float("nan")
    if permutations > 0:
        code = (am.astype(np.int8) | (bm.astype(np.int8) << 1)).astype(np.int8)
        tol = _TIE_RTOL * max(1.0, float(am.sum()))
        up, lo = _clq_kernels.global_clq_counts(sites.site, sites.indptr, sites.indices, 1.0 / size, code, observed,
                                                tol, int(permutations), seed_int(seed),
                                                threads=numba.get_num_threads())
        p = float(_inference.pseudo_p(up, lo, int(permutations), alternative))
    return ColocationResult(
        a=a_label, b=b_label, clq=clq, p=p, n=n, n_a=int(am.sum()), n_b=n_b, k=int(k),
        mean_neighbours=float(size[sites.site[am]].mean()), permutations=int(permutations), alternative=alternative,
        seed=seed_record(seed),
    )


def local_colocation(
    points: Any,
    *,
    a: Any,
    b: Any,
    column: str | None = None,
    k: int = 8,
    permutations: int = 999,
    seed: int | np.random.Generator | None = 0,
    alternative: str = "two-sided",
    alpha: float = 0.05,
) -> pd.DataFrame:
    r"""Local co-location quotient of every point of ``a`` towards ``b`` (Wang et al. 2017).

    .. math::

        LCLQ_{i\to B} = \frac{\sum_{j \in \mathcal N(i)} w_{ij} b_j \big/ \sum_{j \in \mathcal N(i)} w_{ij}}
                             {(N_B - b_i)/(N - 1)},
        \qquad w_{ij} = \exp\!\Big(-\frac{d_{ij}^2}{2 h_i^2}\Big)

    with the adaptive bandwidth :math:`h_i` the distance to the k-th nearest other point
    (neighbourhoods, ties and the comparison with ArcGIS / sfdep: see the module notes).
    Tested by conditional random labelling: point ``i`` keeps its label and its neighbours'
    memberships in ``b`` are drawn without replacement from the other points.  Points on one
    coordinate with the same membership in ``b`` have the same statistic and the same null
    distribution: they are tested once and share the p-value.

    Parameters
    ----------
    points, a, b, column, k, permutations, seed, alternative
        As :func:`colocation`.
    alpha : float, default 0.05
        FDR level of the ``label`` column.

    Returns
    -------
    pandas.DataFrame
        One row per point of ``a``, indexed by the input's index labels: ``clq``, ``p``
        (pseudo p-value), ``p_fdr`` (Benjamini–Hochberg over the points of ``a``),
        ``label`` (``"colocated"`` where ``p_fdr <= alpha`` and ``clq > 1``, ``"isolated"``
        where ``p_fdr <= alpha`` and ``clq < 1``, else ``"ns"``), ``n_neighbours`` and
        ``bandwidth_m`` (:math:`h_i`).  ``attrs`` records ``a``, ``b``, ``k``,
        ``permutations``, ``alternative``, ``alpha`` and ``seed``.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> pts = gpd.GeoDataFrame({"s": list("AABBAB")}, geometry=shapely.points([0, 1, 2, 3, 10, 11], 0), crs=3857)
    >>> local_colocation(pts, a="A", b="B", column="s", k=1, permutations=0)["clq"].round(3).tolist()
    [0.0, 0.833, 1.667]
    """
    sites, am, bm, a_label, b_label = _prepare(points, a, b, column, k, permutations, alternative, alpha)
    n, n_sites = len(am), len(sites.m)
    w_edge = sites.gaussian()
    b_s = np.bincount(sites.site, weights=bm, minlength=n_sites)
    cells = np.flatnonzero(am)
    cs, cb = sites.site[cells], bm[cells]
    # own-site neighbours at 0 m weigh exp(0) = 1 each
    num = b_s[cs] - cb + sites.site_sums(b_s, w_edge)[cs]
    den = sites.m[cs] - 1 + sites.site_sums(sites.m.astype(np.float64), w_edge)[cs]
    n_b = int(bm.sum())
    clq = num / den / ((n_b - cb) / (n - 1.0))
    p = np.full(len(cells), np.nan)
    if permutations > 0 and len(cells):
        p = _local_p(sites, w_edge, bm, cells, int(permutations), seed, alternative)
    p_fdr = _inference.fdr_bh(p)
    sig = p_fdr <= alpha
    label = np.where(sig & (clq > 1.0), "colocated", np.where(sig & (clq < 1.0), "isolated", "ns"))
    out = pd.DataFrame({
        "clq": clq, "p": p, "p_fdr": p_fdr, "label": label,
        "n_neighbours": sites.size[cs], "bandwidth_m": sites.h[cs],
    }, index=points.index[cells])
    out.attrs.update(a=a_label, b=b_label, k=int(k), permutations=int(permutations), alternative=alternative,
                     alpha=float(alpha), seed=seed_record(seed))
    return out
