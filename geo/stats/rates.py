r"""Rates on given units: raw and empirical-Bayes smoothed counts per denominator.

Analysts often hold counts of firms on given units (districts with yearbook counts, the
cells of a grid raster) instead of firm points.  A unit's raw rate
:math:`r_i = c_i / p_i` (firms per km², per 10,000 residents, ...) is noisy where the
denominator is small; the empirical-Bayes rates shrink it toward a reference rate by an
amount that grows as :math:`p_i` shrinks.

* :func:`unit_rates` — the raw rate or the global empirical-Bayes rate (Marshall 1991), as
  GeoDa's "Empirical Bayes" rate computes it;
* :func:`spatial_empirical_bayes` — the spatial empirical-Bayes rate, whose reference rate
  and variance are those of each unit's neighbourhood (the unit and its neighbours in a
  :class:`libpysal.graph.Graph`), as ``esda.smoothing.Spatial_Empirical_Bayes``.

Both take counts and denominators as arrays or Series (one value per unit) and return a
NumPy array in the order given; neither modifies its inputs.

References
----------
Marshall, R. J. (1991). Mapping disease and mortality rates using empirical Bayes
estimators. *Journal of the Royal Statistical Society C (Applied Statistics)* 40(2), 283–294.

Anselin, L., Lozano, N. and Koschinsky, J. (2006). *Rate transformations and smoothing*.
Spatial Analysis Laboratory, University of Illinois (the GeoDa rate smoothers).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from geo._docs import shared_doc
from geo.errors import GraphError, InputError

__all__ = ["RATE_METHODS", "spatial_empirical_bayes", "unit_rates"]

#: the docstring sections both rates share (``{name}`` lines, :func:`geo._docs.shared_doc`)
_DOC = {
    "data": """
        counts : array-like or pandas.Series
            Count of each unit (firms), non-negative.
        denominator : array-like or pandas.Series
            The denominator of each unit (area in km², residents, ...), positive; in the order
            of ``counts`` (two Series must share their index).""",
    "returns": """
        Returns
        -------
        numpy.ndarray
            One rate per unit, in the order given.

        Raises
        ------
        geo.errors.InputError
            Counts and denominators of different lengths, a negative or missing count, a zero,
            negative or missing denominator (the message names how many units and which), a
            ``per`` that is not positive, or (:func:`unit_rates`) an unknown ``method``.""",
}

log = logging.getLogger(__name__)

#: the methods of :func:`unit_rates`
RATE_METHODS = ("raw", "empirical_bayes", "spatial_empirical_bayes")

#: units named in an error message at most (then "and N more")
_NAMED = 5


def _labels(index: pd.Index | None, positions: np.ndarray) -> str:
    """The units at ``positions`` as a short list: index labels when known, else positions."""
    names = [repr(index[p]) if index is not None else f"#{p}" for p in positions[:_NAMED].tolist()]
    more = f" and {len(positions) - _NAMED} more" if len(positions) > _NAMED else ""
    return ", ".join(names) + more


def _vector(values: Any, what: str) -> tuple[np.ndarray, pd.Index | None]:
    """``values`` as a 1-d float array (and its index when it is a Series)."""
    if isinstance(values, pd.DataFrame):
        msg = f"`{what}` must be one column (a Series or 1-d array), not a DataFrame; pass units['{what}']."
        raise InputError(msg)
    index = values.index if isinstance(values, pd.Series) else None
    try:
        if isinstance(values, pd.Series):
            arr = pd.to_numeric(values, errors="raise").to_numpy(dtype=float, na_value=np.nan)
        else:
            arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        msg = f"`{what}` must be numeric (one number per unit); {getattr(values, 'dtype', type(values).__name__)} was given."
        raise InputError(msg) from None
    if arr.ndim != 1:
        if arr.ndim == 2 and 1 in arr.shape:
            arr = arr.ravel()
        else:
            msg = f"`{what}` must be 1-dimensional (one number per unit); an array of shape {arr.shape} was given."
            raise InputError(msg)
    return arr, index


def _check(counts: Any, denominator: Any, per: Any) -> tuple[np.ndarray, np.ndarray, pd.Index | None]:
    """Validated counts and denominators (float arrays, same order) and the units' index."""
    c, c_index = _vector(counts, "counts")
    p, p_index = _vector(denominator, "denominator")
    if len(c) != len(p):
        msg = f"`counts` and `denominator` must have one value per unit each; {len(c)} counts and {len(p)} denominators were given."
        raise InputError(msg)
    index = c_index if c_index is not None else p_index
    if c_index is not None and p_index is not None and not c_index.equals(p_index):
        msg = ("`counts` and `denominator` are Series with different indexes; align them first "
               "(denominator.reindex(counts.index)).")
        raise InputError(msg)
    if len(c) == 0:
        msg = "No units were given: `counts` and `denominator` are empty."
        raise InputError(msg)
    bad = np.flatnonzero(~np.isfinite(c))
    if len(bad):
        msg = f"{len(bad)} of {len(c)} units have a missing or infinite count ({_labels(index, bad)}); fill them (0 for none) or drop those units."
        raise InputError(msg)
    bad = np.flatnonzero(c < 0)
    if len(bad):
        msg = f"Counts must be non-negative; {len(bad)} of {len(c)} units have a negative count ({_labels(index, bad)})."
        raise InputError(msg)
    bad = np.flatnonzero(~(p > 0) | ~np.isfinite(p))  # NaN fails p > 0
    if len(bad):
        nan = int(np.isnan(p[bad]).sum())
        kinds = (f"{nan} missing, " if nan else "") + f"{len(bad) - nan} zero, negative or infinite"
        msg = (f"Denominators must be positive and finite; {len(bad)} of {len(p)} units have a denominator that is not "
               f"({kinds}: {_labels(index, bad)}). A rate is undefined there: drop those units or fix their denominator.")
        raise InputError(msg)
    if isinstance(per, bool) or not isinstance(per, (int, float, np.integer, np.floating)) or not (np.isfinite(per) and per > 0):
        msg = f"`per` must be a positive number (e.g. 1000 for rates per 1,000); {per!r} was given."
        raise InputError(msg)
    return c, p, index


@shared_doc(**_DOC)
def unit_rates(counts: Any, denominator: Any, *, method: str = "raw", per: float = 1.0, graph: Any = None) -> np.ndarray:
    r"""The rate of each unit: raw or global empirical-Bayes smoothed.

    Parameters
    ----------
    {data}
    method : {"raw", "empirical_bayes", "spatial_empirical_bayes"}, default "raw"
        ``"raw"``: :math:`c_i / p_i`; ``"empirical_bayes"``: the global empirical-Bayes rate
        (Marshall 1991), see Notes; ``"spatial_empirical_bayes"``:
        :func:`spatial_empirical_bayes` with ``graph``.
    per : float, default 1.0
        Multiplier of the rates (1000 for rates per 1,000).  The smoothing is computed on
        the rates per one unit of the denominator and then multiplied: the empirical-Bayes
        weights do not depend on ``per``.
    graph : libpysal.graph.Graph, optional
        The units' neighbours, for ``method="spatial_empirical_bayes"`` only.

    {returns}

    Notes
    -----
    With raw rates :math:`r_i = c_i / p_i`, the overall rate
    :math:`b = \sum_i c_i / \sum_i p_i`, the population-weighted variance of the rates and
    the method-of-moments prior variance

    .. math::

        s^2 = \frac{\sum_i p_i (r_i - b)^2}{\sum_i p_i}, \qquad
        a = \max\Big(0,\; s^2 - \frac{b}{\bar p}\Big),

    each rate is shrunk toward :math:`b` by the weight :math:`w_i`:

    .. math::

        w_i = \frac{a}{a + b / p_i}, \qquad \hat r_i = w_i\, r_i + (1 - w_i)\, b .

    :math:`a` is truncated at 0 as in GeoDa (the rates vary no more than Poisson noise
    would: every unit gets :math:`b`).  ``esda.smoothing.Empirical_Bayes`` computes the
    same rates where :math:`a > 0` and does not truncate.  When every count is 0 all rates
    are 0.

    References
    ----------
    Marshall, R. J. (1991). Mapping disease and mortality rates using empirical Bayes
    estimators. *Applied Statistics* 40(2), 283–294.

    Examples
    --------
    >>> unit_rates([0, 4, 12, 34], [10, 20, 20, 50])
    array([0.  , 0.2 , 0.6 , 0.68])
    >>> unit_rates([0, 4, 12, 34], [10, 20, 20, 50], method="empirical_bayes").round(4)
    array([0.2741, 0.3133, 0.5622, 0.6448])
    """
    if method not in RATE_METHODS:
        msg = f"`method` must be one of {', '.join(map(repr, RATE_METHODS))}; {method!r} was given."
        raise InputError(msg)
    if method == "spatial_empirical_bayes":
        if graph is None:
            msg = "`method='spatial_empirical_bayes'` needs the units' neighbours: pass graph=geo.weights(units)."
            raise InputError(msg)
        return spatial_empirical_bayes(counts, denominator, graph, per=per)
    if graph is not None:
        msg = f"`graph` is used by method='spatial_empirical_bayes' only; method={method!r} was given."
        raise InputError(msg)
    c, p, _ = _check(counts, denominator, per)
    r = c / p
    if method == "raw":
        return r * per
    b = c.sum() / p.sum()
    if b == 0.0:  # no events anywhere: every rate is 0
        return np.zeros_like(r)
    s2 = float(np.sum(p * (r - b) ** 2) / p.sum())
    a = max(0.0, s2 - b / p.mean())
    w = a / (a + b / p)
    log.debug("empirical Bayes: b = %g, s2 = %g, a = %g", b, s2, a)
    return (w * r + (1.0 - w) * b) * per


def _graph_positions(graph: Any, n: int, index: pd.Index | None) -> np.ndarray:
    """Position in the graph of each unit (in the order of the units)."""
    from libpysal.graph import Graph

    if not isinstance(graph, Graph):
        msg = f"`graph` must be a libpysal.graph.Graph (e.g. from geo.weights(units)); {type(graph).__name__} was given."
        raise GraphError(msg)
    ids = graph.unique_ids
    if len(ids) != n:
        msg = f"The graph has {len(ids)} ids but {n} units were given; build the graph from the same units."
        raise GraphError(msg)
    if index is None:
        return np.arange(n)
    pos = ids.get_indexer(index)
    if (pos < 0).any() or not index.is_unique:
        msg = (f"The graph ids do not match the units' index: {int((pos < 0).sum())} unit labels are not graph ids. "
               "Build the graph from the same table, or pass arrays in graph order.")
        raise GraphError(msg)
    return pos


@shared_doc(**_DOC)
def spatial_empirical_bayes(counts: Any, denominator: Any, graph: Any, *, per: float = 1.0) -> np.ndarray:
    r"""The spatial empirical-Bayes rate of each unit: shrunk toward its neighbourhood's rate.

    Parameters
    ----------
    {data}
    graph : libpysal.graph.Graph
        Neighbours of the units (e.g. ``geo.weights(units, kind="queen")``).  Only who is a
        neighbour matters (a non-zero weight), not the weights.  Series are matched to the
        graph ids by their index; arrays must be in the order of ``graph.unique_ids``.
    per : float, default 1.0
        Multiplier of the rates, applied after the smoothing (as in :func:`unit_rates`).

    {returns}
    geo.errors.GraphError
        ``graph`` is not a Graph or its ids do not match the units.

    Notes
    -----
    The neighbourhood :math:`N_i` of unit :math:`i` is the unit and its neighbours, with
    :math:`n_i` members.  With the neighbourhood's rate and denominator

    .. math::

        m_i = \frac{\sum_{j \in N_i} c_j}{\sum_{j \in N_i} p_j}, \qquad
        P_i = \sum_{j \in N_i} p_j,

    the local prior variance is

    .. math::

        a_i = \max\Big(0,\; \frac{\sum_{j \in N_i} p_j (r_j - m_i)^2}{P_i} - \frac{m_i}{P_i / n_i}\Big)

    and the rate :math:`\hat r_i = m_i + (r_i - m_i)\, a_i / (a_i + m_i / p_i)`.  This is
    ``esda.smoothing.Spatial_Empirical_Bayes`` (binary weights, the unit in its own
    neighbourhood, :math:`a_i` truncated at 0).  A unit whose neighbourhood holds no event
    gets 0; an island (no neighbour) is its own neighbourhood (:math:`m_i = r_i`), so its rate
    stays its raw rate.

    References
    ----------
    Marshall, R. J. (1991). *Applied Statistics* 40(2), 283–294 (the local estimator).
    Anselin, L., Lozano, N. and Koschinsky, J. (2006). *Rate transformations and smoothing*.
    """
    import scipy.sparse as sp

    c, p, index = _check(counts, denominator, per)
    n = len(c)
    pos = _graph_positions(graph, n, index)
    # the graph in the units' order, binary, without self-loops; then each unit in its own neighbourhood
    a = sp.csr_matrix(graph.sparse)[pos][:, pos]
    a.data = (a.data != 0).astype(float)
    a.setdiag(0.0)
    a.eliminate_zeros()
    a = (a + sp.identity(n, format="csr")).tocoo()
    i, j = a.row, a.col
    r = c / p
    big_p = np.bincount(i, weights=p[j], minlength=n)
    m = np.bincount(i, weights=c[j], minlength=n) / big_p
    k = np.bincount(i, minlength=n).astype(float)
    var_left = np.bincount(i, weights=p[j] * (r[j] - m[i]) ** 2, minlength=n) / big_p
    prior = np.maximum(0.0, var_left - m / (big_p / k))
    denom = prior + m / p
    with np.errstate(invalid="ignore", divide="ignore"):
        shrink = np.where(denom > 0, prior / denom, 0.0)
    return (m + (r - m) * shrink) * per
