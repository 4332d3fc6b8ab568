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

from geo._random import seed_int
from geo.errors import ColumnError, InputError, StatisticsError
from geo.points import sector_mask
from geo.stats import _clq_kernels, _inference

__all__ = ["ColocationResult", "colocation", "local_colocation", "neighbourhoods"]

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
# neighbourhoods
# --------------------------------------------------------------------------------------


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
        (the point itself excluded, other points at its coordinate included), ``dist`` their
        distances (:func:`numpy.hypot`), sorted ascending within each row.

    Notes
    -----
    A k-d tree (:class:`scipy.spatial.cKDTree`) gives ``k + 2`` candidates per point (itself,
    ``k`` others and one more to see a tie); rows whose ``(k+1)``-th other point is as far as
    the k-th, or whose own index is not among the candidates (more than ``k + 1`` points on
    one coordinate), are completed by a ball query at the k-th distance.
    """
    n = xy.shape[0]
    tree = cKDTree(xy)
    kq = min(k + 2, n)
    _, cand = tree.query(xy, k=kq)
    cand = cand.reshape(n, kq)
    rows = np.arange(n)
    is_self = cand == rows[:, None]
    has_self = is_self.any(axis=1)
    nb = np.empty((n, kq - 1), dtype=np.int64)
    ok = has_self
    nb[ok] = cand[ok][~is_self[ok]].reshape(-1, kq - 1)
    nd = np.hypot(xy[nb[ok], 0] - xy[ok, 0, None], xy[nb[ok], 1] - xy[ok, 1, None])
    d = np.full((n, kq - 1), np.inf)
    d[ok] = nd
    order = np.argsort(d, axis=1, kind="stable")
    nb = np.take_along_axis(nb, order, axis=1)
    d = np.take_along_axis(d, order, axis=1)
    tied = ~has_self
    if kq - 1 > k:
        tied |= d[:, k] <= d[:, k - 1] * (1.0 + 1e-9)
    counts = np.full(n, k, dtype=np.int64)
    extra: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if tied.any():
        ti = np.flatnonzero(tied)
        # a superset: every point within the k-th distance (the self-less candidates of
        # rows without self have d = inf, so take the radius from a fresh k-NN query)
        _, c2 = tree.query(xy[ti], k=min(k + 1, n))
        c2 = c2.reshape(len(ti), -1)
        d2 = np.hypot(xy[c2, 0] - xy[ti, 0, None], xy[c2, 1] - xy[ti, 1, None]).max(axis=1)
        balls = tree.query_ball_point(xy[ti], r=d2 * (1.0 + 1e-9) + 1e-9)
        for i, ball in zip(ti.tolist(), balls):
            j = np.asarray(ball, dtype=np.int64)
            j = j[j != i]
            dj = np.hypot(xy[j, 0] - xy[i, 0], xy[j, 1] - xy[i, 1])
            o = np.argsort(dj, kind="stable")
            j, dj = j[o], dj[o]
            keep = dj <= dj[k - 1] * (1.0 + _DIST_RTOL)
            extra[i] = (j[keep], dj[keep])
            counts[i] = int(keep.sum())
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(indptr[-1], dtype=np.int64)
    dist = np.empty(indptr[-1], dtype=np.float64)
    plain = ~tied
    if plain.any():
        pos = indptr[:-1][plain, None] + np.arange(k)
        indices[pos] = nb[plain, :k]
        dist[pos] = d[plain, :k]
    for i, (j, dj) in extra.items():
        indices[indptr[i]:indptr[i + 1]] = j
        dist[indptr[i]:indptr[i + 1]] = dj
    return indptr, indices, dist


def _gaussian(indptr: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive Gaussian weights ``exp(-d^2 / (2 h_i^2))``, ``h_i`` the largest distance of
    row ``i`` (its k-th); 1 where ``h_i = 0``.  Returns (weights, h)."""
    counts = np.diff(indptr)
    h = np.maximum.reduceat(dist, indptr[:-1]) if dist.size else np.zeros(0)
    hr = np.repeat(h, counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(hr > 0, np.exp(-0.5 * (dist / np.where(hr > 0, hr, 1.0)) ** 2), 1.0)
    return w, h


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


def _prepare(points: Any, a: Any, b: Any, column: str | None, k: Any, permutations: Any):
    from geo.stats.pointpattern import _coords

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
    return xy, am, bm, a_label, b_label


def _seed_record(seed: Any) -> int | None:
    return int(seed) if isinstance(seed, (int, np.integer)) else None


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
    _inference.check_alternative(alternative)
    xy, am, bm, a_label, b_label = _prepare(points, a, b, column, k, permutations)
    n = len(xy)
    indptr, indices, _ = neighbourhoods(xy, int(k))
    counts = np.diff(indptr)
    w = np.repeat(1.0 / counts, counts)
    n_b = int(bm.sum())
    rows = np.repeat(np.arange(n), counts)
    share = np.bincount(rows, weights=w * bm[indices], minlength=n)
    observed = float(share[am].sum())
    expected = float(((n_b - bm[am]) / (n - 1.0)).sum())
    clq = observed / expected
    p = float("nan")
    if permutations > 0:
        code = (am.astype(np.int8) | (bm.astype(np.int8) << 1)).astype(np.int8)
        tol = _TIE_RTOL * max(1.0, float(am.sum()))
        up, lo = _clq_kernels.global_clq_counts(indptr, indices, w, code, observed, tol, int(permutations),
                                                seed_int(seed), threads=numba.get_num_threads())
        p = float(_inference.pseudo_p(up, lo, int(permutations), alternative))
    return ColocationResult(
        a=a_label, b=b_label, clq=clq, p=p, n=n, n_a=int(am.sum()), n_b=n_b, k=int(k),
        mean_neighbours=float(counts[am].mean()), permutations=int(permutations), alternative=alternative,
        seed=_seed_record(seed),
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
    memberships in ``b`` are drawn without replacement from the other points.

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
    _inference.check_alternative(alternative)
    if not 0.0 < float(alpha) < 1.0:
        msg = f"`alpha` must lie strictly between 0 and 1; {alpha!r} was given."
        raise InputError(msg)
    xy, am, bm, a_label, b_label = _prepare(points, a, b, column, k, permutations)
    n = len(xy)
    indptr, indices, dist = neighbourhoods(xy, int(k))
    counts = np.diff(indptr)
    w, h = _gaussian(indptr, dist)
    rows = np.repeat(np.arange(n), counts)
    wsum = np.bincount(rows, weights=w, minlength=n)
    wb = np.bincount(rows, weights=w * bm[indices], minlength=n)
    n_b = int(bm.sum())
    cells = np.flatnonzero(am)
    expected = (n_b - bm[cells]) / (n - 1.0)
    clq = wb[cells] / wsum[cells] / expected
    p = np.full(len(cells), np.nan)
    if permutations > 0 and len(cells):
        from geo.stats.autocorr import _W, _mc_counts

        wmin = np.minimum.reduceat(w, indptr[:-1])
        wmax = np.maximum.reduceat(w, indptr[:-1])
        equal = wmin == wmax
        tol = np.where(equal, 0.0, _TIE_RTOL * wsum)
        graph = _W(indptr=indptr, indices=indices, data=w, diag=np.zeros(n), k=counts, equal=equal, transform="o")
        up, lo = _mc_counts(graph, bm.astype(np.float64), cells.astype(np.int64), tol, int(permutations),
                            seed_int(seed))
        p = np.asarray(_inference.pseudo_p(up, lo, int(permutations), alternative), dtype=float)
    p_fdr = _inference.fdr_bh(p)
    sig = p_fdr <= alpha
    label = np.where(sig & (clq > 1.0), "colocated", np.where(sig & (clq < 1.0), "isolated", "ns"))
    out = pd.DataFrame({
        "clq": clq, "p": p, "p_fdr": p_fdr, "label": label,
        "n_neighbours": counts[cells], "bandwidth_m": h[cells],
    }, index=points.index[cells])
    out.attrs.update(a=a_label, b=b_label, k=int(k), permutations=int(permutations), alternative=alternative,
                     alpha=float(alpha), seed=_seed_record(seed))
    return out
