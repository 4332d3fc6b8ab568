"""Emerging hot spot analysis: a space-time cube of firm counts, space-time Gi*, Mann–Kendall.

* :func:`spacetime_cube` counts the firms **alive** in each cell at each time step;
* :func:`emerging_hotspots` computes a space-time Getis–Ord :math:`G_i^*` per step (with the
  tie-correct conditional-randomisation p-values of :func:`geo.stats.autocorr.local_g`,
  Benjamini–Hochberg per step), the Mann–Kendall trend of each cell's z series and the
  emerging-hot-spot category of each cell (ArcGIS Pro's *Emerging Hot Spot Analysis*,
  R's ``sfdep::emerging_hotspot_analysis``);
* :func:`mann_kendall` is the trend test on its own (rows of a matrix at once).

Space-time neighbours and the comparison window
-----------------------------------------------
The bin of cell ``i`` at step ``t`` has as neighbours its spatial neighbours at step ``t``
and the cell itself with its spatial neighbours at the ``time_lag`` steps before ``t``
(fewer at the start of the series), with binary weights and the bin itself as the
:math:`G^*` self weight: ``sfdep``'s ``spt_nb`` with ``include_self`` and ArcGIS's
"neighborhood time step".  Each step is analysed against the bins of its own window
(steps ``t - time_lag .. t``): their mean and variance enter :math:`z` and the
conditional randomisation draws the neighbours' values from the other bins of the
window.  This is ArcGIS's ``define_global_window="NEIGHBORHOOD_TIME_STEP"``; ArcGIS's
default (``"ENTIRE_CUBE"``) compares every bin with the whole cube, which for counts of
firms alive — growing with time — makes the late steps hot and the early ones cold
everywhere and turns that growth into "trends" (on a small lattice whose firms grow
steadily, 135 of 144 cells became "oscillating hot spots").  geo keeps the per-step window, so a hot spot is one of its time;
``window="cube"`` gives ArcGIS's default for comparison.  (sfdep mixes the two: the mean
and variance of the focal step's bins alone, the lagged neighbours' values summed in, and
permutations over the whole cube.)

Categories (geo's rules)
------------------------
With ``T`` steps, a bin is *hot* (*cold*) when its FDR-adjusted p-value (per step) is at
most ``alpha`` and its :math:`G^*` is above (below) its expectation; ``H`` and ``C`` count
a cell's hot and cold bins; the trend is the Mann–Kendall test of its z series at level
``alpha``.  The rules are tried in this order, the first that holds names the cell
(cold spots mirror them with hot and cold swapped and the trend's sign reversed):

=============== ====================================================================
new             the final bin is hot and no other bin is significant (hot or cold)
consecutive     the final bins form one run of at least two hot bins, no bin before
                the run is significant, and :math:`H < 0.9\\,T`
intensifying    :math:`H \\ge 0.9\\,T`, the final bin hot, a significant increasing trend
diminishing     :math:`H \\ge 0.9\\,T`, the final bin hot, a significant decreasing trend
persistent      :math:`H \\ge 0.9\\,T`, the final bin hot, no significant trend
historical      :math:`H \\ge 0.9\\,T` and the final bin not hot
oscillating     the final bin hot, some earlier bin cold, :math:`H < 0.9\\,T`
sporadic        the final bin hot, no bin cold, :math:`H < 0.9\\,T`, and neither new nor
                consecutive (hot bins before the final run, with gaps)
no pattern      none of these
=============== ====================================================================

Where geo follows whom (ArcGIS Pro's "How Emerging Hot Spot Analysis works" and
``sfdep``'s ``classify_hotspot``, which differ; see sfdep issues #41 and #58):

* *new* and *consecutive*: ArcGIS says "never a significant hot spot before"; a cell
  that was a cold spot before and is hot now is ArcGIS's *oscillating* hot spot, so geo
  (like sfdep, ``sum(sigs) == 1``) asks that no earlier bin be significant at all.
* *intensifying*, *persistent*, *diminishing*: geo counts hot bins only (ArcGIS; sfdep's
  intensifying counts any significant bin) and asks the final bin to be hot for all three
  (ArcGIS says so for intensifying and diminishing; for persistent neither ArcGIS nor
  sfdep does, but a cell whose final bin is not hot is ArcGIS's *historical* hot spot, so
  geo keeps the two apart).  The trend's level is ``alpha`` (sfdep uses its Gi*
  threshold, 0.01 by default).
* *historical*: ArcGIS's rule, "the most recent time period is not hot"; sfdep asks the
  final Gi* to be below its expectation, so a final bin above it but not significant is
  *no pattern* there and *historical* here.
* *sporadic*: ArcGIS Pro's rule, the final bin hot; sfdep (following ArcMap's older text)
  drops that condition, so a cell hot now and then in the past but not at the end is
  *sporadic* there and *no pattern* here (as in ArcGIS Pro).
* Significance: Benjamini–Hochberg per step at ``alpha`` (ArcGIS applies an FDR
  correction too; sfdep uses the smaller of the two one-sided pseudo p-values, unadjusted, at
  0.01).  The Mann–Kendall test is of the z-scores (ArcGIS; sfdep's ``gi_star`` column is
  the z-score too).
* ArcGIS asks for at least ten time steps; geo asks for three (the Mann–Kendall test's
  minimum) and records ``T`` with the result.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from libpysal.graph import Graph
from scipy import sparse

from geo._random import check_seed, seed_record
from geo.errors import ColumnError, GraphError, InputError, StatisticsError
from geo.stats import _inference, _kernels
from geo.stats import autocorr as _ac

__all__ = [
    "CATEGORIES",
    "MIN_STEPS",
    "WINDOWS",
    "EmergingHotspots",
    "SpacetimeCube",
    "classify",
    "emerging_hotspots",
    "mann_kendall",
    "spacetime_cube",
]

logger = logging.getLogger(__name__)

#: the categories, in the order the rules are tried (cold mirrors hot)
CATEGORIES = (
    "new hot spot", "consecutive hot spot", "intensifying hot spot", "diminishing hot spot",
    "persistent hot spot", "historical hot spot", "oscillating hot spot", "sporadic hot spot",
    "new cold spot", "consecutive cold spot", "intensifying cold spot", "diminishing cold spot",
    "persistent cold spot", "historical cold spot", "oscillating cold spot", "sporadic cold spot",
    "no pattern",
)
#: the Mann–Kendall test needs at least this many steps
MIN_STEPS = 3
#: comparison windows of the space-time Gi*
WINDOWS = ("step", "cube")
_SHARE = 0.9
#: how a bin's p-value was computed (autocorr's methods, and a window without variation)
_METHODS = ("exact", "exact_wr", "mc", "normal", "island", "constant")


# =======================================================================================
# the cube
# =======================================================================================


@dataclass(frozen=True)
class SpacetimeCube:
    """Counts of firms alive per cell and time step.

    Attributes
    ----------
    counts : ndarray of int64, shape (n_cells, n_steps)
        Firms alive in each cell at each step (read-only).
    steps : ndarray of int64
        The year each step ends with (its label); steps are ``step`` years long.
    cells : pandas.Index
        The cells' index (the rows of ``counts``), as in the cells table.
    step : int
        Length of a step in years.
    closed : bool
        Whether closing years were used; without them the history is that of the
        firms that survived to the data's date (survivorship bias).
    n_firms : int
        Firms counted (in a cell, with a founding year, founded by the last step).
    n_no_year : int
        Firms left out for a missing founding year.
    n_outside : int
        Firms outside every cell.
    """

    counts: np.ndarray
    steps: np.ndarray
    cells: pd.Index
    step: int = 1
    closed: bool = False
    n_firms: int = 0
    n_no_year: int = 0
    n_outside: int = 0

    @property
    def shape(self) -> tuple[int, int]:
        """(cells, steps)."""
        return self.counts.shape

    def to_frame(self) -> pd.DataFrame:
        """The counts as a DataFrame: cells as rows, step labels as columns."""
        return pd.DataFrame(self.counts, index=self.cells, columns=pd.Index(self.steps, name="step"))

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers for ``summary.json``."""
        return {
            "n_cells": int(self.counts.shape[0]), "n_steps": int(self.counts.shape[1]),
            "first_step": int(self.steps[0]), "last_step": int(self.steps[-1]), "step_years": int(self.step),
            "closed_years": bool(self.closed), "n_firms": int(self.n_firms), "n_no_year": int(self.n_no_year),
            "n_outside": int(self.n_outside),
        }


def _years(values: pd.Series, column: str, what: str) -> np.ndarray:
    """A column of years (numbers, or dates, also as text, whose year is taken) as float (NaN missing)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.year.to_numpy(dtype=float, na_value=np.nan)
    num = pd.to_numeric(values, errors="coerce")
    bad = num.isna() & values.notna()
    if bad.any() and bad.sum() == values.notna().sum():  # dates as text: their years
        dates = pd.to_datetime(values.astype("string").str.strip(), errors="coerce", format="mixed")
        if dates.notna().sum() == values.notna().sum():
            return dates.dt.year.to_numpy(dtype=float, na_value=np.nan)
    if bad.any():
        msg = (f"The {what} column {column!r} must hold years (numbers); {int(bad.sum())} values are not, "
               f"e.g. {values[bad].iloc[0]!r}.")
        raise InputError(msg)
    out = num.to_numpy(dtype=float, na_value=np.nan)
    frac = np.isfinite(out) & (out != np.floor(out))
    if frac.any():
        msg = (f"The {what} column {column!r} must hold whole years; {int(frac.sum())} values are not, "
               f"e.g. {out[frac][0]!r}.")
        raise InputError(msg)
    return out


def _check_int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        msg = f"`{name}` must be an integer >= {low}; {value!r} was given."
        raise InputError(msg)
    return int(value)


def _column(frame: Any, column: str, what: str) -> pd.Series:
    if column not in frame.columns:
        from geo._words import listing, suggest

        cols = [str(c) for c in frame.columns]
        msg = (f"The {what} column {column!r} is not a column of the firms; their columns are: "
               f"{listing(cols)}.{suggest(column, cols)}")
        raise ColumnError(msg)
    return frame[column]


def spacetime_cube(
    firms: Any,
    cells: Any,
    *,
    time_column: str,
    step: int = 1,
    closed_column: str | None = None,
    by: tuple[str, Any] | None = None,
    start: int | None = None,
    end: int | None = None,
) -> SpacetimeCube:
    """Count the firms alive in each cell at each time step.

    A firm founded in year :math:`f` and closed in year :math:`c` (no closing year:
    :math:`c = \\infty`) is alive at the step ending in year :math:`t` when

    .. math:: f \\le t < c,

    so a firm closed in year ``t`` is no longer counted at ``t``.  Steps end in the years
    ``end, end - step, ...`` down to the first that is at least ``start``; a step
    therefore counts the firms alive at the end of its last year.

    Parameters
    ----------
    firms : geopandas.GeoDataFrame or geo.points.PointFrame
        Firm points with a CRS (projected to the cells' CRS) and the year columns.
    cells : geopandas.GeoDataFrame
        The cells (e.g. :func:`geo.aggregate`'s output); their index labels the cube's rows.
    time_column : str
        The founding year (numbers, or dates whose year is taken).  Firms without one are
        left out and counted in ``n_no_year``.
    step : int, default 1
        Length of a time step in years.
    closed_column : str, optional
        The closing (deregistration) year; missing values are firms still alive.
        Without it the cube is the history of the firms that survived (survivorship bias).
    by : (str, value), optional
        Count only the firms whose column ``by[0]`` holds ``by[1]`` (e.g.
        ``("sector", "optics")``), the target sector.
    start, end : int, optional
        First and last year; default the earliest and latest founding year counted.

    Returns
    -------
    SpacetimeCube

    Raises
    ------
    geo.errors.ColumnError
        A named column is missing (the columns are listed).
    geo.errors.InputError
        Years that are not whole numbers, a closing year before the founding year,
        ``start > end``, or no firm with a founding year in a cell.

    Examples
    --------
    >>> import geopandas as gpd, shapely, pandas as pd
    >>> firms = gpd.GeoDataFrame({"founded": [2000, 2001, 2001], "closed": [None, 2002, None]},
    ...                          geometry=gpd.points_from_xy([0.5, 0.5, 1.5], [0.5, 0.5, 0.5]), crs=3857)
    >>> cells = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)], crs=3857)
    >>> cube = spacetime_cube(firms, cells, time_column="founded", closed_column="closed", end=2002)
    >>> cube.counts.tolist()
    [[1, 2, 1], [0, 1, 1]]
    """
    from geo.cells.grid import cell_positions
    from geo.crs import to_metric
    from geo.points import point_xy, sector_mask

    step = _check_int(step, "step", 1)
    if getattr(cells, "crs", None) is None or not hasattr(cells, "geometry"):
        msg = "`cells` must be a GeoDataFrame of cells with a CRS (e.g. geo.aggregate(firms))."
        raise InputError(msg)
    founded = _years(_column(firms, time_column, "founding-year"), time_column, "founding-year")
    closed = None
    if closed_column is not None:
        closed = _years(_column(firms, closed_column, "closing-year"), closed_column, "closing-year")
        early = np.isfinite(founded) & np.isfinite(closed) & (closed < founded)
        if early.any():
            k = int(np.flatnonzero(early)[0])
            msg = (f"{int(early.sum())} firms close before they were founded ({closed_column!r} < {time_column!r}), "
                   f"e.g. founded {int(founded[k])} and closed {int(closed[k])}; correct or drop them.")
            raise InputError(msg)
    keep = np.ones(len(founded), dtype=bool)
    if by is not None:
        if not (isinstance(by, tuple) and len(by) == 2):
            msg = f"`by` must be a (column, value) pair such as ('sector', 'optics'); {by!r} was given."
            raise InputError(msg)
        keep = sector_mask(firms, by[1], by[0])
    pts = to_metric(firms, epsg=cells.crs) if not cells.crs.equals(firms.crs) else firms
    x, y = point_xy(pts)
    pos = cell_positions(cells, x, y)
    has_year = np.isfinite(founded)
    n_no_year = int((keep & ~has_year).sum())
    n_outside = int((keep & has_year & (pos < 0)).sum())
    use = keep & has_year & (pos >= 0)
    if not use.any():
        msg = (f"No firm {'of ' + repr(by[1]) + ' ' if by else ''}has a founding year ({time_column!r}) and lies in a "
               f"cell: {n_no_year} lack the year and {n_outside} lie outside the cells.")
        raise InputError(msg)
    f_use = founded[use].astype(np.int64)
    lo = int(f_use.min()) if start is None else _check_int(start, "start", -10**6)
    hi = int(f_use.max()) if end is None else _check_int(end, "end", -10**6)
    if lo > hi:
        msg = f"`start` ({lo}) must not be after `end` ({hi})."
        raise InputError(msg)
    labels = np.arange(hi - ((hi - lo) // step) * step, hi + 1, step, dtype=np.int64)
    nt = len(labels)
    n = len(cells)
    # alive from the first step ending at or after the founding year, until the first
    # step ending at or after the closing year: +1 / -1 on a difference array, cumsum
    a = np.searchsorted(labels, f_use, side="left")
    if closed is not None:
        c_use = closed[use]
        b = np.where(np.isfinite(c_use), np.searchsorted(labels, np.nan_to_num(c_use, nan=0.0), side="left"), nt)
    else:
        b = np.full(len(a), nt)
    p = pos[use]
    alive = a < b
    diff = np.zeros((n, nt + 1), dtype=np.int64)
    np.add.at(diff, (p[alive], a[alive]), 1)
    np.add.at(diff, (p[alive], b[alive]), -1)
    counts = np.cumsum(diff[:, :nt], axis=1)
    counts.setflags(write=False)
    labels.setflags(write=False)
    counted = int((use & (founded <= hi)).sum())
    return SpacetimeCube(counts=counts, steps=labels, cells=cells.index.copy(), step=step,
                         closed=closed is not None, n_firms=counted, n_no_year=n_no_year, n_outside=n_outside)


# =======================================================================================
# Mann-Kendall
# =======================================================================================


def mann_kendall(x: np.ndarray) -> dict[str, np.ndarray]:
    """Mann–Kendall trend test of each row of ``x`` (NaN entries left out).

    With the row's :math:`n` non-missing values in time order,

    .. math::

        S = \\sum_{i<j} \\operatorname{sign}(x_j - x_i), \\qquad
        \\operatorname{Var}(S) = \\frac{n(n-1)(2n+5) - \\sum_g t_g(t_g-1)(2t_g+5)}{18}

    (:math:`t_g` the sizes of the groups of tied values), the continuity-corrected
    :math:`Z = (S - \\operatorname{sign} S)/\\sqrt{\\operatorname{Var} S}`, the two-sided
    :math:`p = 2\\Phi(-|Z|)` and Kendall's :math:`\\tau_b = S / \\sqrt{n_0 (n_0 - n_x)}`
    with :math:`n_0 = n(n-1)/2` and :math:`n_x = \\sum_g t_g(t_g-1)/2` (as
    ``scipy.stats.kendalltau`` of time against ``x``).
    Rows with fewer than :data:`MIN_STEPS` values, or all values tied, get NaN.

    Parameters
    ----------
    x : array_like, shape (m, T) or (T,)

    Returns
    -------
    dict of ndarray
        ``s``, ``var_s``, ``z``, ``p``, ``tau``, ``n`` (one value per row).
    """
    x = np.atleast_2d(np.asarray(x, dtype=float))
    m = x.shape[0]
    ok = np.isfinite(x)
    nv = ok.sum(axis=1)
    s = np.zeros(m)
    tie_var = np.zeros(m)  # ties: sum of t_g (t_g - 1) (2 t_g + 5) over the groups of equal values
    tie_pairs = np.zeros(m)
    _kernels.mann_kendall_sums(np.ascontiguousarray(x), s, tie_var, tie_pairs)
    n = nv.astype(float)
    var = (n * (n - 1) * (2 * n + 5) - tie_var) / 18.0
    n0 = n * (n - 1) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(var > 0, (s - np.sign(s)) / np.sqrt(var), np.nan)
        tau = np.where(n0 - tie_pairs > 0, s / np.sqrt(n0 * (n0 - tie_pairs)), np.nan)
    bad = (nv < MIN_STEPS) | ~(var > 0)
    z[bad] = np.nan
    tau[bad] = np.nan
    p = np.asarray(_inference.normal_p(z), dtype=float)
    return {"s": s, "var_s": var, "z": z, "p": p, "tau": tau, "n": nv}


# =======================================================================================
# classification
# =======================================================================================


def _final_run(flag: np.ndarray) -> np.ndarray:
    """Length of the run of True at the end of each row."""
    rev = flag[:, ::-1]
    first_false = np.where((~rev).any(axis=1), np.argmax(~rev, axis=1), flag.shape[1])
    return first_false


def _side(hot: np.ndarray, cold: np.ndarray, trend_up: np.ndarray, trend_down: np.ndarray,
          no_trend: np.ndarray) -> list[np.ndarray]:
    """The eight rules for one side (hot; for cold pass cold, hot and the trends swapped)."""
    t = hot.shape[1]
    h = hot.sum(axis=1)
    last = hot[:, -1]
    sig = hot | cold
    run = _final_run(hot)
    before = np.arange(t)[None, :] < (t - run)[:, None]
    sig_before = (sig & before).any(axis=1)
    cold_before = cold[:, :-1].any(axis=1) if t > 1 else np.zeros(len(h), dtype=bool)
    most = h >= _SHARE * t
    new = last & (sig.sum(axis=1) == 1)
    consecutive = last & (run >= 2) & ~sig_before & ~most
    intensifying = last & most & trend_up
    diminishing = last & most & trend_down
    persistent = last & most & no_trend
    historical = ~last & most
    oscillating = last & cold_before & ~most
    sporadic = last & ~cold.any(axis=1) & ~most
    return [new, consecutive, intensifying, diminishing, persistent, historical, oscillating, sporadic]


def classify(hot: np.ndarray, cold: np.ndarray, mk_tau: np.ndarray, mk_p: np.ndarray, *,
             alpha: float = 0.05) -> np.ndarray:
    """The emerging-hot-spot category of each row (the rules of the module docstring).

    Parameters
    ----------
    hot, cold : ndarray of bool, shape (m, T)
        Significant hot / cold bins of each cell, in time order.
    mk_tau, mk_p : ndarray, shape (m,)
        Mann–Kendall tau (its sign is the trend's direction) and p-value of the z series
        (NaN: no trend).
    alpha : float, default 0.05
        Level of the trend test.

    Returns
    -------
    ndarray of str
        One of :data:`CATEGORIES` per row.
    """
    hot = np.asarray(hot, dtype=bool)
    cold = np.asarray(cold, dtype=bool)
    if hot.ndim != 2 or hot.shape != cold.shape:
        msg = f"`hot` and `cold` must be two matrices of one shape (cells, steps); {hot.shape} and {cold.shape} were given."
        raise InputError(msg)
    mk_p = np.asarray(mk_p, dtype=float)
    mk_tau = np.asarray(mk_tau, dtype=float)
    trend = np.nan_to_num(mk_p, nan=1.0) <= alpha
    up = trend & (mk_tau > 0)
    down = trend & (mk_tau < 0)
    rules = _side(hot, cold, up, down, ~trend) + _side(cold, hot, down, up, ~trend)
    out = np.full(hot.shape[0], CATEGORIES[-1], dtype=object)
    done = np.zeros(hot.shape[0], dtype=bool)
    for name, rule in zip(CATEGORIES, rules):
        now = rule & ~done
        out[now] = name
        done |= now
    return out


# =======================================================================================
# space-time Gi*
# =======================================================================================


@dataclass(frozen=True)
class EmergingHotspots:
    """The result of :func:`emerging_hotspots`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per cell (the cube's index): ``category``, ``mk_tau``, ``mk_z``, ``mk_p``,
        ``mk_s``, ``n_hot``, ``n_cold``, ``first_hot`` (the first step label whose bin is
        hot, <NA> if none), ``final_z``, ``final_bin``.
    z, p, p_fdr, bins : pandas.DataFrame
        Per cell and step (columns: the step labels): the space-time Gi* z-score, its
        two-sided conditional-randomisation p-value, the per-step Benjamini–Hochberg
        adjusted p-value, and ArcGIS's Gi_Bin (+-3/2/1 at 99/95/90 % of ``p_fdr``).
    p_method : pandas.DataFrame
        How each p-value was computed (``"exact"``, ``"exact_wr"``, ``"mc"``, ``"island"``,
        or ``"constant"`` for a window without variation).
    steps : ndarray
        The step labels.
    options : dict
        ``time_lag``, ``window``, ``permutations``, ``seed``, ``alpha``, ``n_steps``, ``closed``.
    """

    table: pd.DataFrame
    z: pd.DataFrame
    p: pd.DataFrame
    p_fdr: pd.DataFrame
    bins: pd.DataFrame
    p_method: pd.DataFrame
    steps: np.ndarray
    options: dict[str, Any] = field(default_factory=dict)

    def step_counts(self) -> pd.DataFrame:
        """Hot and cold bins (significant at ``alpha`` after FDR; z above / below its
        expectation) per step: columns ``n_hot``, ``n_cold``, indexed by the step labels."""
        sig = np.nan_to_num(self.p_fdr.to_numpy(), nan=1.0) <= self.options.get("alpha", 0.05)
        z = self.z.to_numpy()
        return pd.DataFrame({"n_hot": (sig & (z > 0)).sum(axis=0), "n_cold": (sig & (z < 0)).sum(axis=0)},
                            index=pd.Index(self.steps, name="step"))

    def hot_counts(self) -> pd.Series:
        """Number of hot bins per step (:meth:`step_counts`' ``n_hot``)."""
        return self.step_counts()["n_hot"]

    def category_counts(self) -> dict[str, int]:
        """Cells per category (categories with none left out)."""
        vc = self.table["category"].value_counts()
        return {c: int(vc[c]) for c in CATEGORIES if c in vc.index}


def _graph_csr(graph: Any, cells: pd.Index) -> sparse.csr_array:
    """The graph's binary off-diagonal adjacency in the cube's cell order."""
    if not isinstance(graph, Graph):
        msg = (f"`graph` must be a libpysal.graph.Graph of the cube's cells (geo.weights(cells)); "
               f"{type(graph).__name__} was given.")
        raise GraphError(msg)
    ids = graph.unique_ids
    order = ids.get_indexer(cells)
    if len(ids) != len(cells) or (order < 0).any():
        msg = (f"The graph ids do not match the cube's cells: the graph has {len(ids)} ids, the cube "
               f"{len(cells)} cells, {int((order < 0).sum())} of them not in the graph. Build both from one cells table.")
        raise GraphError(msg)
    indptr, indices, _, _ = _ac._csr(graph)
    n = len(ids)
    a = sparse.csr_array((np.ones(len(indices)), indices, indptr), shape=(n, n))
    return a[order][:, order].tocsr()


def _window_weights(adj: sparse.csr_array, m_prev: int) -> _ac._W:
    """Binary space-time G* weights of the focal step over a universe of ``m_prev + 1``
    steps ordered focal step first: rows 0..n-1 are the focal bins (off-diagonal: the
    spatial neighbours in the focal step, the cell and its neighbours in each earlier
    step; self weight 1), the other rows have no neighbours (they are not evaluated)."""
    n = adj.shape[0]
    star = (adj + sparse.eye_array(n, format="csr")).tocsr()
    block = sparse.hstack([adj] + [star] * m_prev, format="csr")
    block.sort_indices()
    big_n = n * (m_prev + 1)
    nnz = block.indptr[-1]
    indptr = np.concatenate([block.indptr.astype(np.int64), np.full(big_n - n, nnz, dtype=np.int64)])
    k = np.diff(indptr)
    diag = np.zeros(big_n)
    diag[:n] = 1.0
    return _ac._W(indptr, block.indices.astype(np.int64), np.ones(nnz), diag, k.astype(np.int64),
                  np.ones(big_n, dtype=bool), "b")


def _cube_weights(adj: sparse.csr_array, nt: int, time_lag: int) -> _ac._W:
    """Binary space-time G* weights over the whole cube (bins ordered step by step)."""
    n = adj.shape[0]
    star = (adj + sparse.eye_array(n, format="csr")).tocsr()
    rows = []
    for t in range(nt):
        blocks = [None] * nt
        blocks[t] = adj
        for s in range(max(0, t - time_lag), t):
            blocks[s] = star
        blocks = [b if b is not None else sparse.csr_array((n, n)) for b in blocks]
        rows.append(sparse.hstack(blocks, format="csr"))
    a = sparse.vstack(rows, format="csr")
    a.sort_indices()
    k = np.diff(a.indptr).astype(np.int64)
    return _ac._W(a.indptr.astype(np.int64), a.indices.astype(np.int64), np.ones(a.nnz), np.ones(n * nt), k,
                  np.ones(n * nt, dtype=bool), "b")


def _gi_block(x: np.ndarray, w: _ac._W, permutations: int, seed: int, rows: int) -> dict[str, np.ndarray] | None:
    """Space-time G* of the first ``rows`` bins (the rows of ``w`` with neighbours) over the
    universe ``x`` (:func:`geo.stats.autocorr.local_g`'s columns, two-sided, exact where it
    can be); None when ``x`` is constant.  FDR runs over the evaluated rows."""
    if np.ptp(x) == 0:
        return None
    tails = _ac._conditional_tails(x, w, permutations, seed, "auto")
    cols = _ac._local_g_columns(x, w, tails, True, "two-sided", True)
    return {k: cols[k][:rows] for k in ("z", "p_sim", "p_fdr", "bin", "p_method")}


def _check_options(cube: Any, time_lag: Any, permutations: Any, alpha: Any, window: Any) -> int:
    if not isinstance(cube, SpacetimeCube):
        msg = f"`cube` must be a SpacetimeCube (geo.spacetime_cube(...)); {type(cube).__name__} was given."
        raise InputError(msg)
    lag = _check_int(time_lag, "time_lag", 0)
    _ac._check_common(permutations, "two-sided", alpha)
    if window not in WINDOWS:
        msg = f"`window` must be one of {', '.join(map(repr, WINDOWS))}; {window!r} was given."
        raise InputError(msg)
    n, nt = cube.counts.shape
    if nt < MIN_STEPS:
        msg = (f"Emerging hot spot analysis needs at least {MIN_STEPS} time steps for the Mann-Kendall test; the cube "
               f"has {nt} ({int(cube.steps[0])}-{int(cube.steps[-1])} in steps of {cube.step} years).")
        raise StatisticsError(msg)
    if n < _ac.MIN_CELLS:
        msg = f"At least {_ac.MIN_CELLS} cells are needed for the space-time Gi*; the cube has {n}."
        raise StatisticsError(msg)
    return lag


def emerging_hotspots(
    cube: SpacetimeCube,
    graph: Graph,
    *,
    time_lag: int = 1,
    permutations: int = 999,
    seed: int | np.random.Generator | None = 0,
    alpha: float = 0.05,
    window: str = "step",
) -> EmergingHotspots:
    """Emerging hot spot analysis of a cube: space-time Gi* per step, Mann–Kendall, categories.

    For the bin of cell ``i`` at step ``t`` with binary space-time weights
    :math:`w_{ij}` (see the module docstring: spatial neighbours at ``t``, the cell and its
    neighbours at ``t-1 .. t-time_lag``, self weight 1) over the :math:`N` bins of the
    comparison window,

    .. math::

        z_{it} = \\frac{\\sum_j w_{ij} x_j - \\bar x W_i}{s\\sqrt{(N S_{1i} - W_i^2)/(N-1)}}

    with :math:`\\bar x`, :math:`s^2` the window's mean and (population) variance,
    :math:`W_i = \\sum_j w_{ij}`, :math:`S_{1i} = \\sum_j w_{ij}^2` — the Gi* of
    :func:`geo.stats.autocorr.local_g` on the space-time graph.  The p-value is the
    two-sided conditional-randomisation p-value of the neighbourhood sum (the bin's own
    count fixed, the neighbours' drawn without replacement from the window's other bins),
    exact for these integer counts (``p_method``; Monte Carlo with ``permutations`` draws
    only where the exact distribution is out of reach), adjusted by Benjamini–Hochberg
    among the cells of each step.  A bin is hot (cold) when its adjusted p-value is at
    most ``alpha`` and z > 0 (< 0).  Each cell's z series gets the Mann–Kendall test
    (:func:`mann_kendall`) and a category (:func:`classify`).

    Parameters
    ----------
    cube : SpacetimeCube
        From :func:`spacetime_cube`.
    graph : libpysal.graph.Graph
        Spatial weights of the cube's cells (any weights; only who neighbours whom is used).
    time_lag : int, default 1
        Earlier steps in a bin's neighbourhood.
    permutations : int, default 999
        Monte Carlo draws where exact p-values are not available.
    seed : int, numpy.random.Generator or None, default 0
        Seeds the Monte Carlo draws (one stream per step).
    alpha : float, default 0.05
        Significance of a bin (after FDR) and of the trend.
    window : {"step", "cube"}, default "step"
        Compare each step with the bins of its window (``t - time_lag .. t``) or with the
        whole cube (ArcGIS's default; FDR still per step).

    Returns
    -------
    EmergingHotspots

    Raises
    ------
    geo.errors.StatisticsError
        Fewer than three steps or 30 cells.
    geo.errors.GraphError
        The graph's ids are not the cube's cells.
    geo.errors.InputError
        An option out of range.
    """
    lag = _check_options(cube, time_lag, permutations, alpha, window)
    adj = _graph_csr(graph, cube.cells)
    counts = cube.counts.astype(float)
    n, nt = counts.shape
    rng = check_seed(seed)
    step_seeds = rng.integers(0, 2**62, size=nt)
    cols = {k: np.full((n, nt), np.nan) for k in ("z", "p", "p_fdr")}
    bins = np.zeros((n, nt), dtype=np.int64)
    method = np.full((n, nt), _METHODS.index("constant"), dtype=np.int8)
    if window == "cube":
        w = _cube_weights(adj, nt, lag)
        x = counts.T.ravel()  # step by step
        fr = _gi_block(x, w, permutations, int(step_seeds[0]), n * nt)
        if fr is not None:
            for t in range(nt):
                part = {k: v[t * n:(t + 1) * n] for k, v in fr.items()}
                _fill(cols, bins, method, t, part, alpha, refdr=True)
    else:
        weights: dict[int, _ac._W] = {}  # one per window length (at most time_lag + 1)
        for t in range(nt):
            lo = max(0, t - lag)
            x = counts[:, lo:t + 1][:, ::-1].T.ravel()  # focal step first, then t-1, ...
            w = weights.get(t - lo) or weights.setdefault(t - lo, _window_weights(adj, t - lo))
            fr = _gi_block(x, w, permutations, int(step_seeds[t]), n)
            if fr is not None:
                _fill(cols, bins, method, t, fr, alpha, refdr=False)
    return _result(cube, cols, bins, method, lag, window, permutations, seed, alpha)


def _fill(cols: dict, bins: np.ndarray, method: np.ndarray, t: int, part: dict[str, np.ndarray], alpha: float,
          *, refdr: bool) -> None:
    z = part["z"]
    p = part["p_sim"]
    cols["z"][:, t] = z
    cols["p"][:, t] = p
    if refdr:  # the frame's FDR ran over the whole cube: redo it within the step, and the bins
        q = _inference.fdr_bh(p)
        level = np.where(q <= 0.01, 3, np.where(q <= 0.05, 2, np.where(q <= 0.10, 1, 0)))
        direction = np.sign(part["bin"])
        direction = np.where(direction == 0, np.sign(np.nan_to_num(z)), direction)
        bins[:, t] = (direction * np.where(np.isnan(q), 0, level)).astype(np.int64)
        cols["p_fdr"][:, t] = q
    else:
        cols["p_fdr"][:, t] = part["p_fdr"]
        bins[:, t] = part["bin"]
    codes, names = pd.factorize(part["p_method"])  # a few names: 3 times faster than pd.Categorical
    method[:, t] = np.array([_METHODS.index(m) for m in names], dtype=np.int8)[codes]


def _result(cube: SpacetimeCube, cols: dict, bins: np.ndarray, method: np.ndarray, lag: int, window: str,
            permutations: int, seed: Any, alpha: float) -> EmergingHotspots:
    z, q = cols["z"], cols["p_fdr"]
    sig = np.nan_to_num(q, nan=1.0) <= alpha
    hot = sig & (z > 0)
    cold = sig & (z < 0)
    mk = mann_kendall(z)
    category = classify(hot, cold, mk["tau"], mk["p"], alpha=alpha)
    steps = np.asarray(cube.steps)
    any_hot = hot.any(axis=1)
    first = pd.array(np.where(any_hot, steps[np.argmax(hot, axis=1)], 0), dtype="Int64")
    first[~any_hot] = pd.NA
    idx = cube.cells
    table = pd.DataFrame({
        "category": category.astype(str), "mk_tau": mk["tau"], "mk_z": mk["z"], "mk_p": mk["p"], "mk_s": mk["s"],
        "n_hot": hot.sum(axis=1), "n_cold": cold.sum(axis=1), "first_hot": first,
        "final_z": z[:, -1], "final_bin": bins[:, -1],
    }, index=idx)
    colx = pd.Index(steps, name="step")

    def frame(a: np.ndarray) -> pd.DataFrame:  # the arrays are this call's own: not copied
        return pd.DataFrame(a, index=idx, columns=colx, copy=False)

    options = {"time_lag": lag, "window": window, "permutations": int(permutations),
               "seed": seed_record(seed), "alpha": float(alpha), "n_steps": len(steps),
               "step_years": int(cube.step), "closed": bool(cube.closed)}
    kinds = [_METHODS[c] for c in np.flatnonzero(np.bincount(method.ravel(), minlength=len(_METHODS)))]
    p_method = pd.DataFrame({s: pd.Categorical.from_codes(method[:, t], categories=_METHODS).remove_unused_categories()
                             .set_categories(kinds) for t, s in enumerate(steps)}, index=idx)
    p_method.columns = colx
    return EmergingHotspots(table=table, z=frame(z), p=frame(cols["p"]), p_fdr=frame(q), bins=frame(bins),
                            p_method=p_method, steps=steps, options=options)
