"""Aggregation of firm points to hexagonal, square or H3 cells.

Points are binned on coordinate arrays (pyproj on arrays, numpy binning, axial/cube
rounding for hexagons); one polygon is built per *cell*, never one shapely object per
firm.  Empty cells inside the study extent are kept with a count of 0: zero is data.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.spatial import cKDTree

from geo.cells._study_area import StudyArea
from geo.errors import ColumnError, CRSError, InputError
from geo.points import PointFrame

__all__ = ["aggregate", "GridInfo", "auto_cell_size", "cell_positions", "lattice_keys", "plan_lattice", "h3_resolution_for_area", "cells_from_counts", "LatticePlan", "CELL_KINDS", "MIN_AUTO_CELLS", "MAX_AUTO_CELLS"]

logger = logging.getLogger(__name__)

CELL_KINDS = ("hex", "square", "h3")
#: the automatic size keeps extent_area / cell_area within [MIN_AUTO_CELLS, MAX_AUTO_CELLS]
MIN_AUTO_CELLS = 30
MAX_AUTO_CELLS = 100_000
#: refuse to enumerate more candidate cells than this (size far too small for the extent)
MAX_CANDIDATE_CELLS = 5_000_000

_SQRT3 = math.sqrt(3.0)
# area of a cell per squared size (size = centre-to-centre spacing of adjacent cells)
_AREA_FACTOR = {"square": 1.0, "hex": _SQRT3 / 2.0, "h3": _SQRT3 / 2.0}
_AUTO_RULE = (
    "cell area = 2 x extent_area / n_firms (the quadrat-size rule of thumb for point patterns, "
    "Greig-Smith 1952 / Taylor 1977: two firms per cell on average), size rounded to 3 significant "
    f"digits, then clamped so that extent_area / cell_area lies in [{MIN_AUTO_CELLS}, {MAX_AUTO_CELLS}]"
)


# ---------------------------------------------------------------------------------------
# public
# ---------------------------------------------------------------------------------------


def aggregate(
    firms: gpd.GeoDataFrame,
    *,
    cell: str = "hex",
    size: str | float | int = "auto",
    by: str | None = None,
    extent: Any = None,
    epsg: int | str | pyproj.CRS | None = None,
) -> gpd.GeoDataFrame:
    """Count firms per hexagonal, square or H3 cell over the study extent.

    Parameters
    ----------
    firms : geopandas.GeoDataFrame or geo.points.PointFrame
        Firm points with a CRS (geographic input is projected to the local metric CRS of
        :func:`geo.crs.metric_crs_for`; projected input in metres is used as is).  Rows
        with missing or empty geometry are not counted (their number is recorded in
        ``attrs["n_missing_geometry"]``).  Not modified.
    cell : {"hex", "square", "h3"}, default "hex"
        Pointy-top hexagons or squares in the metric CRS, or Uber H3 hexagons (their
        boundaries are returned projected to the metric CRS).
    size : "auto", float or int, default "auto"
        Cell size in metres: the centre-to-centre distance of adjacent cells (the side of
        a square; twice the apothem, i.e. the flat-to-flat width, of a hexagon, whose
        edge is ``size / sqrt(3)``).  For ``cell="h3"`` an integer H3 resolution (0-15).
        ``"auto"`` applies the rule below.
    by : str, optional
        A column of ``firms``; adds one count column ``n_<value>`` per category.  Values
        are sanitised to safe column names (lower case, ``[a-z0-9_]``, deduplicated); the
        mapping value -> column is in ``attrs["by_columns"]`` and firms with a missing
        category are counted in ``attrs["n_by_missing"]`` (they are in ``n_firms``).
    extent : shapely geometry, GeoSeries, GeoDataFrame or geo.cells.area.StudyArea, optional
        The study area (e.g. the valley polygon).  A GeoSeries/GeoDataFrame is
        reprojected from its CRS; a bare shapely geometry is taken to be in the CRS of
        ``firms``; a :class:`~geo.cells.area.StudyArea` (:func:`geo.cells.area.study_area`)
        also brings the cell size it was built with when ``size="auto"``.  Default: the
        convex hull of the firms (buffered by half a cell if it is degenerate).  Firms
        outside the extent are not counted; their number is ``attrs["n_outside"]``.
    epsg : int, str or pyproj.CRS, optional
        Projected CRS to use instead of the automatic UTM zone.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per cell intersecting the extent (plus any cell holding a counted firm),
        ordered south to north then west to east (H3: by cell index), with a RangeIndex
        and columns ``cell_id`` (``"hex_<q>_<r>"`` axial coordinates, ``"sq_<i>_<j>"``,
        or the H3 index string), ``n_firms``, ``n_<value>`` per category of ``by``, and
        ``geometry`` in the metric CRS.  ``attrs`` records ``cell``, ``size`` (metres, or
        the H3 resolution), ``size_m``, ``cell_area_m2``, ``size_rule`` (the rule and its
        inputs), ``metric_crs``, ``extent`` (how it was chosen), ``extent_area_m2``,
        ``n_input``, ``n_counted``, ``n_outside``, ``n_missing_geometry``, ``by``,
        ``by_columns`` and ``n_by_missing``.

    Notes
    -----
    **Automatic size** (the quadrat-size rule of thumb for point patterns — Greig-Smith
    1952, Taylor 1977; O'Sullivan & Unwin, *Geographic Information Analysis* — which gives
    each cell two firms on average): with :math:`n` firms, :math:`A` the extent area and
    :math:`c` the cell-area factor (cell area :math:`= c\\,s^2`; :math:`c = 1` for squares,
    :math:`\\sqrt3/2` for hexagons),

    .. math::

        s = \\min\\Big(\\max\\big(\\mathrm{round}_3\\big(\\sqrt{2A/(n c)}\\big),\\;
              \\sqrt{A / (100\\,000\\,c)}\\big),\\; \\sqrt{A / (30\\,c)}\\Big)

    where :math:`\\mathrm{round}_3` rounds to 3 significant digits; the clamp keeps between
    about 30 and 100,000 cells in the extent.  (A rule from nearest-neighbour distances,
    as in ArcGIS's Optimized Hot Spot Analysis, gives cells of about one firm on clustered
    urban data — too fine for Gi* on a contiguity graph, where most neighbourhoods are then
    empty.)  The median nearest-neighbour distance is still recorded.  With fewer than two
    firms the coarsest size (:math:`\\sqrt{A/(30c)}`) is used.  For H3 the resolution whose
    average cell area is closest (in log scale) to :math:`c s^2` is chosen, within the same
    cell-count bounds.  Inputs and result are recorded in ``attrs["size_rule"]``.

    **Hexagon binning**: pointy-top hexagons with edge :math:`a = s/\\sqrt3` centred at
    :math:`x = \\sqrt3 a (q + r/2)`, :math:`y = 1.5 a r` (axial coordinates, origin at the
    CRS origin so grids of equal size align); points are assigned by cube rounding of
    the fractional axial coordinates.  Squares are :math:`[is, (i+1)s) \\times [js,
    (j+1)s)`.  Cell vertices are computed from integer vertex coordinates, so
    neighbouring cells share vertices bit for bit (contiguity weights find them).

    Examples
    --------
    >>> import geopandas as gpd, shapely, numpy as np
    >>> rng = np.random.default_rng(0)
    >>> pts = shapely.points(rng.uniform(0, 5000, 200), rng.uniform(0, 5000, 200))
    >>> firms = gpd.GeoDataFrame({"sector": ["optics"] * 200}, geometry=pts, crs=32650)
    >>> cells = aggregate(firms, cell="square", size=500, by="sector")
    >>> int(cells["n_firms"].sum()), list(cells.columns)
    (200, ['cell_id', 'n_firms', 'n_optics', 'geometry'])
    """
    if cell not in CELL_KINDS:
        msg = f"`cell` must be one of {', '.join(map(repr, CELL_KINDS))}; {cell!r} was given."
        raise InputError(msg)
    gdf = _check_firms(firms)
    if by is not None and by not in gdf.columns:
        msg = (
            f"`by` must be a column of `firms`; {by!r} was given. Available columns: "
            f"{', '.join(map(str, gdf.columns if isinstance(gdf, PointFrame) else gdf.columns.drop(gdf.geometry.name)))}."
        )
        raise ColumnError(msg)

    # ---- coordinates in the metric CRS (arrays only) ----
    x, y, missing, src_crs, metric = _metric_points(gdf, epsg)
    n_missing = int(missing.sum())
    if n_missing:
        logger.warning("aggregate: %d firms have missing or empty geometry and are not counted", n_missing)
    rows = np.flatnonzero(~missing)  # positions in `firms` of the located firms

    # ---- extent ----
    ext_geom, ext_rule = _extent(extent, src_crs, metric, x, y)
    if ext_geom is not None:
        inside = shapely.intersects_xy(ext_geom, x, y)
    else:
        inside = np.ones(len(x), dtype=bool)
    n_outside = int((~inside).sum())
    if n_outside:
        logger.warning("aggregate: %d firms fall outside the extent and are not counted", n_outside)
    all_rows = not (n_missing or n_outside)  # every firm is counted
    xi, yi, rows_in = (x, y, rows) if all_rows else (x[inside], y[inside], rows[inside])

    # ---- size ----
    area_factor = _AREA_FACTOR[cell]
    planned = _area_plan(extent, cell, size)  # a study area built with the automatic size keeps it
    if planned is None:
        size_m, rule, ext_geom, ext_rule = _plan(xi, yi, cell=cell, size=size, extent=ext_geom, extent_rule=ext_rule)
    else:
        size, size_m, rule = planned

    # ---- categories ----
    by_map: dict[Any, str] = {}
    n_by_missing = 0
    cat_codes = None
    if by is not None:
        column = gdf[by]
        if isinstance(column.dtype, pd.StringDtype):  # no round trip through Python objects
            codes, uniques = pd.factorize(column if all_rows else column.take(rows_in), sort=True)
        else:
            values = column.to_numpy()
            codes, uniques = pd.factorize(pd.Series(values if all_rows else values[rows_in]), sort=True)
        cat_codes = codes
        n_by_missing = int((codes < 0).sum())
        names = _safe_names(list(uniques))
        by_map = {_plain(u): nm for u, nm in zip(uniques, names)}
        if n_by_missing:
            logger.warning("aggregate: %d firms have no %r value (counted in n_firms only)", n_by_missing, by)

    # ---- binning ----
    if cell == "h3":
        if planned is None:
            res, rule = _h3_resolution(size, size_m, rule, float(ext_geom.area))
        else:
            res = int(size)
        cells = _h3_cells(xi, yi, metric, ext_geom, res, cat_codes, len(by_map))
        size_value: float | int = res
        cell_area = float(_h3_area(res))
        size_m = math.sqrt(cell_area / area_factor)
    else:
        cells = _lattice_cells(xi, yi, ext_geom, cell, float(size_m), cat_codes, len(by_map))
        size_value = float(size_m)
        cell_area = area_factor * float(size_m) ** 2

    # ---- assemble ----
    out = _cell_frame(cells, by_map, metric, cell=cell, size=size_value, size_m=float(size_m), cell_area=cell_area,
                      rule=rule, ext_rule=ext_rule, ext_area=float(ext_geom.area), n_input=int(len(gdf)),
                      n_outside=n_outside, n_missing=n_missing, by=by, n_by_missing=n_by_missing)
    logger.info(
        "aggregate: %d %s cells of %s (%s), %d firms counted",
        len(out), cell, size_value, rule.get("rule"), out.attrs["n_counted"],
    )
    return out


@dataclass(frozen=True)
class GridInfo:
    """How a cell table was made: :func:`aggregate`'s record of its cells, as named fields.

    :func:`aggregate` keeps the same values in the cell table's ``attrs`` (the lattice
    functions read them there); the pipeline lifts them into a ``GridInfo``
    (``ValleyAnalysis.grid``) so that later stages and the outputs read fields.
    """

    cell: str  # "hex", "square" or "h3"
    size: Any  # metres (hex: side; square: side), or the H3 resolution
    size_m: float | None  # the size in metres (H3: the mean edge length at that resolution)
    cell_area_m2: float | None
    size_rule: Any  # how the size was chosen (a dict with "rule" and its inputs) or None
    metric_crs: str | None
    extent: str | None  # how the extent was chosen
    extent_area_m2: float | None
    n_counted: int | None  # firms counted in a cell
    n_outside: int | None  # firms outside the extent
    by_columns: Mapping[str, str] = field(default_factory=dict)  # category value -> count column

    @classmethod
    def of(cls, cells) -> GridInfo:
        """The record of a cell table made by :func:`aggregate` (missing entries are None)."""
        a = getattr(cells, "attrs", None) or {}
        names = [f.name for f in fields(cls) if f.name != "by_columns"]
        return cls(**{k: a.get(k) for k in names}, by_columns=dict(a.get("by_columns") or {}))

    def column(self, value: Any) -> str | None:
        """The count column of category ``value`` (None when no cell counts it)."""
        if value is None:
            return None
        return self.by_columns.get(value) or self.by_columns.get(str(value))

    def to_dict(self) -> dict:
        """The JSON-ready record (``summary.json``'s ``grid``, without the column mapping)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "by_columns"}


def _cell_frame(cells: dict, by_map: dict, metric: pyproj.CRS, *, cell: str, size, size_m: float, cell_area: float,
                rule: dict, ext_rule: str, ext_area: float, n_input: int, n_outside: int, n_missing: int, by: str | None,
                n_by_missing: int) -> gpd.GeoDataFrame:
    """The cell table (``cell_id``, ``n_firms``, ``n_<value>``, geometry) and its ``attrs``."""
    data: dict[str, Any] = {"cell_id": cells["cell_id"], "n_firms": cells["n_firms"]}
    for j, name in enumerate(by_map.values()):
        data[name] = cells["by_counts"][:, j]
    out = gpd.GeoDataFrame(data, geometry=cells["geometry"], crs=metric)
    out.attrs = {
        "cell": cell,
        "size": size,
        "size_m": size_m,
        "cell_area_m2": cell_area,
        "size_rule": rule,
        "metric_crs": metric.to_string(),
        "extent": ext_rule,
        "extent_area_m2": ext_area,
        "n_input": n_input,
        "n_counted": int(out["n_firms"].sum()),
        "n_outside": n_outside,
        "n_missing_geometry": n_missing,
        "by": by,
        "by_columns": by_map,
        "n_by_missing": n_by_missing,
    }
    return out


def _plan(x: np.ndarray, y: np.ndarray, *, cell: str, size: Any, n: int | None = None, extent: Any = None,
          extent_rule: str = "") -> tuple[float, dict[str, Any], Any, str]:
    """The cell size and the study extent: the rules of :func:`aggregate` and :func:`plan_lattice`.

    ``size="auto"``: the extent first (``extent``, or the convex hull of the points), then the
    automatic size for that extent's area; a given size: checked, then the extent (``extent``,
    or the hull, buffered by half a cell when it is degenerate).  ``n`` None: the automatic size
    counts the distinct locations of ``x, y`` (:func:`auto_cell_size`); an int: ``x, y`` are
    only hull points of ``n`` firms and the rule is applied to ``n`` alone.

    Returns
    -------
    size_m, rule, extent, extent_rule
    """
    rule: dict[str, Any]
    if isinstance(size, str):
        if size != "auto":
            msg = f"`size` must be 'auto' or a number; {size!r} was given."
            raise InputError(msg)
        if extent is None:  # default extent: hull (needs a size if degenerate)
            extent, extent_rule = _hull_extent(x, y, None)
        if n is None:
            size_m, rule = auto_cell_size(x, y, extent_area=float(extent.area), cell=cell)
        else:
            size_m, rule = _auto_size(int(n), None, None, extent_area=float(extent.area), cell=cell)
    else:
        size_m = _check_size(size, cell)
        rule = {"rule": "given by the user"}
        if extent is None:
            spacing = _h3_spacing(int(size)) if cell == "h3" else float(size_m)
            extent, extent_rule = _hull_extent(x, y, spacing)
    if extent.is_empty or extent.area <= 0:
        msg = "The study extent has zero area; give a polygon `extent` or more firms."
        raise InputError(msg)
    return size_m, rule, extent, extent_rule


def auto_cell_size(
    x: np.ndarray, y: np.ndarray, *, extent_area: float, cell: str = "hex"
) -> tuple[float, dict[str, Any]]:
    """The automatic cell size of :func:`aggregate` (metres) and the record of its inputs.

    See the Notes of :func:`aggregate` for the rule.

    Parameters
    ----------
    x, y : ndarray
        Projected firm coordinates (metres).
    extent_area : float
        Area of the study extent in square metres.
    cell : {"hex", "square", "h3"}, default "hex"

    Returns
    -------
    size : float
    record : dict
        ``rule``, ``median_nn_m``, ``n_locations``, ``extent_area_m2``, ``raw_size_m``,
        ``min_size_m``, ``max_size_m``, ``clamped``.
    """
    n = int(len(x))
    # many points: one grid pass finds the distinct locations and their nearest neighbours
    d2 = _nn_squared_grid(np.asarray(x, dtype=float), np.asarray(y, dtype=float)) if n >= _NN_GRID_MIN else None
    if d2 is not None:
        n_locations = len(d2)
        med = _median_sqrt(d2) if n_locations >= 2 else None
    else:
        xy = _unique_xy(x, y)
        n_locations = len(xy)
        med = _median_nn_distance(xy) if n >= 2 and n_locations >= 2 else None
    return _auto_size(n, n_locations, med, extent_area=extent_area, cell=cell)


def _auto_size(n: int, n_locations: int | None, median_nn: float | None, *, extent_area: float, cell: str) -> tuple[float, dict[str, Any]]:
    """The rule of :func:`auto_cell_size` from the number of firms and of distinct locations.

    ``n_locations`` and ``median_nn`` (recorded only) are None when not known (the dask
    engine counts firms, not distinct locations; with one firm or less the coarsest size
    is used either way).
    """
    c = _AREA_FACTOR[cell]
    if not extent_area > 0:
        msg = "Cannot choose a cell size automatically: the extent has zero area."
        raise InputError(msg)
    s_min = math.sqrt(extent_area / (MAX_AUTO_CELLS * c))
    s_max = math.sqrt(extent_area / (MIN_AUTO_CELLS * c))
    record: dict[str, Any] = {
        "rule": _AUTO_RULE,
        "n_firms": n,
        "n_locations": n_locations,
        "extent_area_m2": float(extent_area),
        "min_size_m": s_min,
        "max_size_m": s_max,
    }
    if n < 2 or (n_locations is not None and n_locations < 2):
        record.update(median_nn_m=None, raw_size_m=None, clamped="max")
        return s_max, record
    raw = _round_sig(math.sqrt(2.0 * extent_area / (n * c)), 3)
    size = min(max(raw, s_min), s_max)
    clamped = "min" if raw < s_min else ("max" if raw > s_max else None)
    record.update(median_nn_m=median_nn, raw_size_m=raw, clamped=clamped)
    return float(size), record


# ---------------------------------------------------------------------------------------
# checks and CRS
# ---------------------------------------------------------------------------------------


def _located_xy(gdf: gpd.GeoDataFrame | PointFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y) of the firms that have a point, and the mask of those that have none.

    A PointFrame's firm has none when a coordinate is NaN; a GeoDataFrame's when its
    geometry is missing or empty (a geometry that is not a point is an error).
    """
    if isinstance(gdf, PointFrame):
        x, y = gdf.coords()
        missing = np.isnan(x) | np.isnan(y)
        return (x[~missing], y[~missing], missing) if missing.any() else (x, y, missing)
    geoms = np.asarray(gdf.geometry.values)
    # get_x/get_y are NaN for a missing or non-point geometry (and NaN or an error for an
    # empty point): without any NaN, every geometry is a point, none missing or empty
    try:
        x, y = shapely.get_x(geoms), shapely.get_y(geoms)
        if not (np.isnan(x).any() or np.isnan(y).any()):
            return x, y, np.zeros(len(geoms), dtype=bool)
    except shapely.errors.GEOSException:
        pass
    kinds = shapely.get_type_id(geoms)  # -1: missing
    missing = (kinds < 0) | shapely.is_empty(geoms)
    not_point = (kinds != 0) & ~missing
    if not_point.any():
        bad = sorted({shapely.GeometryType(int(t)).name for t in np.unique(kinds[not_point])})
        msg = (
            f"`firms` must contain Point geometries; found {', '.join(bad)}. Use "
            "firms.representative_point() or firms.centroid to get one point per firm."
        )
        raise InputError(msg)
    return shapely.get_x(geoms[~missing]), shapely.get_y(geoms[~missing]), missing


def _check_firms(firms: Any) -> gpd.GeoDataFrame | PointFrame:
    if isinstance(firms, gpd.GeoSeries):
        firms = gpd.GeoDataFrame(geometry=firms)
    if not isinstance(firms, (gpd.GeoDataFrame, PointFrame)):
        msg = f"`firms` must be a GeoDataFrame of points (or a geo.points.PointFrame); {type(firms).__name__} was given."
        raise InputError(msg)
    if firms.crs is None:
        msg = "`firms` has no CRS; set it with firms.set_crs(4326) for longitude/latitude."
        raise CRSError(msg)
    if len(firms) == 0:
        msg = "`firms` is empty; there is nothing to aggregate."
        raise InputError(msg)
    return firms


def _metric_points(gdf: gpd.GeoDataFrame | PointFrame, epsg: Any) -> tuple:
    """``(x, y, missing, src_crs, metric)``: the located firms' coordinates in the metric CRS
    (the local UTM zone of :func:`geo.crs.metric_crs_for`, or ``epsg``), the mask of the firms
    without a point, and both CRSs."""
    x_src, y_src, missing = _located_xy(gdf)
    src_crs = pyproj.CRS.from_user_input(gdf.crs)
    metric = _metric_crs(gdf, src_crs, epsg)
    if metric == src_crs:
        x, y = x_src, y_src
    else:
        tr = pyproj.Transformer.from_crs(src_crs, metric, always_xy=True)
        x, y = tr.transform(x_src, y_src)
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
    finite = np.isfinite(x) & np.isfinite(y)
    if not finite.all():
        msg = (
            f"{int((~finite).sum())} firm coordinates could not be projected to "
            f"{metric.to_string()} (non-finite result); check the CRS of `firms`."
        )
        raise CRSError(msg)
    return x, y, missing, src_crs, metric


def _metric_crs(gdf: gpd.GeoDataFrame, src: pyproj.CRS, epsg: Any) -> pyproj.CRS:
    from geo.crs import metric_crs_for

    crs = metric_crs_for(gdf, epsg=epsg)
    units = {ax.unit_name for ax in crs.axis_info}
    if not units <= {"metre", "meter"}:
        msg = (
            f"The metric CRS must have axes in metres; {crs.to_string()} uses "
            f"{', '.join(sorted(units))}. Reproject `firms` (e.g. geo.to_metric(firms)) or "
            "pass epsg= with a metric projected CRS such as a UTM zone."
        )
        raise CRSError(msg)
    return crs


def _check_size(size: Any, cell: str) -> float:
    if isinstance(size, bool):
        size = None
    if cell == "h3":
        if not isinstance(size, (int, np.integer)) or not 0 <= int(size) <= 15:
            msg = f"For cell='h3', `size` must be 'auto' or an H3 resolution 0-15; {size!r} was given."
            raise InputError(msg)
        return float(size)
    if not isinstance(size, (int, float, np.integer, np.floating)) or not (
        math.isfinite(float(size)) and float(size) > 0
    ):
        msg = f"`size` must be 'auto' or a positive number of metres; {size!r} was given."
        raise InputError(msg)
    return float(size)


def _unique_xy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The distinct locations among the points, as an (m, 2) array (order unspecified).

    Hashing (x, y) as one complex number is several times faster than
    ``np.unique(..., axis=0)`` (a sort of structured rows); -0.0 and 0.0 are one location,
    as there.
    """
    if len(x) == 0:
        return np.empty((0, 2), dtype=float)
    z = np.empty(len(x), dtype=np.complex128)
    z.real = x
    z.imag = y
    u = pd.unique(z)
    return np.column_stack([u.real, u.imag])


def _median_nn_distance(xy: np.ndarray) -> float:
    """Median distance from each of the distinct locations ``xy`` to its nearest other one.

    Exactly the median of ``cKDTree(xy).query(xy, k=2)[0][:, 1]``: the distances do not
    depend on the search structure nor on the order of the points (each is
    ``sqrt(dx * dx + dy * dy)`` to the nearest point, computed as cKDTree computes it).
    Many points (at least ``_NN_GRID_MIN``) are searched on a uniform grid by a numba
    kernel; fewer, or a grid too unbalanced for it, with cKDTree queried in the tree's
    own (spatially sorted) order, which keeps the search cache-friendly.
    """
    d2 = _nn_squared_grid(xy[:, 0], xy[:, 1]) if len(xy) >= _NN_GRID_MIN else None
    if d2 is not None:
        return _median_sqrt(d2)
    tree = cKDTree(xy, balanced_tree=False)
    dist, _ = tree.query(xy[tree.indices], k=2)
    return float(np.median(dist[:, 1]))


def _median_sqrt(d2: np.ndarray) -> float:
    """``np.median(np.sqrt(d2))``, taking the square roots of the middle values only.

    The square root is increasing, so the middle values of ``sqrt(d2)`` are the square
    roots of those of ``d2``; np.median averages them the same way.
    """
    n = len(d2)
    mid = [(n - 1) // 2, n // 2]
    part = np.partition(d2, mid)
    return float(np.median(np.sqrt(part[mid[0] : mid[1] + 1])))


#: from this many points on, nearest neighbours are searched on a grid
_NN_GRID_MIN = 400_000
#: the grid is used only if a search visits, on average, at most this many points per
#: point in its own cell (the sum of squared cell counts / n; clustered data exceed it)
_NN_GRID_MAX_LOAD = 32.0
#: from this many points on, binning and the hull filter run in compiled loops (the same
#: floating point operations per point as the numpy code, without temporary arrays)
_KERNEL_MIN = 50_000
_KERNELS: dict[str, Any] = {}


def _compiled(fn: Any) -> Any:
    """``numba.njit(cache=True)(fn)``, compiled on first use (numba is imported then)."""
    kernel = _KERNELS.get(fn.__name__)
    if kernel is None:
        from numba import njit

        kernel = _KERNELS[fn.__name__] = njit(cache=True)(fn)
    return kernel


def _nn_squared_grid(x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """Squared distance from each distinct location to its nearest other location.

    The points may repeat a location: each location is searched once, and its length is
    the number of distinct locations (-0.0 and 0.0 are one location, as in
    :func:`_unique_xy`).  Uniform grid of about one point per cell; each location is
    compared with the others of the 3 x 3 cells around it (three contiguous cells per
    row), then with square rings of cells farther out, skipping a row or cell that cannot
    hold a nearer point, until the nearest unvisited cell is farther than the nearest
    point found.  Cell bounds are taken with a margin of 1% of a cell for rounding in the
    binning, so the result is exact: each value is ``dx * dx + dy * dy`` to the nearest
    other location, as cKDTree computes it.  The distances come in the order of the
    cells, not of the points.  None if the grid would be unbalanced (too many points per
    occupied cell), degenerate or too fine for the precision of the coordinates.
    """
    n = len(x)
    if n < 2:
        return None
    x0, x1, y0, y1 = float(x.min()), float(x.max()), float(y.min()), float(y.max())
    wx, wy = x1 - x0, y1 - y0
    if not (wx > 0 and wy > 0):
        return None
    h = math.sqrt(wx * wy / n)
    if not h > 1e-6 * max(abs(x0), abs(x1), abs(y0), abs(y1)):
        return None
    nx, ny = int(wx / h) + 1, int(wy / h) + 1
    if nx * ny > 4 * n + 64:
        return None
    ix = np.minimum(((x - x0) / h).astype(np.int64), nx - 1)
    iy = np.minimum(((y - y0) / h).astype(np.int64), ny - 1)
    cell = iy * nx + ix
    counts = np.bincount(cell, minlength=nx * ny)
    if float(np.dot(counts, counts.astype(float))) > _NN_GRID_MAX_LOAD * n:
        return None
    start = np.zeros(nx * ny + 1, dtype=np.int64)
    np.cumsum(counts, out=start[1:])
    x, y = np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(y, dtype=np.float64)
    out = np.empty(n, dtype=np.float64)
    m = _compiled(_nn_squared_kernel)(x, y, cell, start, nx, ny, h, x0, y0, out)
    return out[:m]


def _nn_squared_kernel(x, y, cell, start, nx, ny, h, x0, y0, out):
    n = len(x)
    n_cells = nx * ny
    # counting sort of the points by cell (start: first slot of each cell)
    fill = start[:-1].copy()
    xs = np.empty(n, dtype=np.float64)
    ys = np.empty(n, dtype=np.float64)
    for p in range(n):
        c = cell[p]
        xs[fill[c]] = x[p]
        ys[fill[c]] = y[p]
        fill[c] += 1
    # one entry per distinct location (a location lies in one cell), compacted in place;
    # ustart: first slot of each cell among the locations
    ustart = np.empty(n_cells + 1, dtype=np.int64)
    m = 0
    for c in range(n_cells):
        ustart[c] = m
        first = m
        for k in range(start[c], start[c + 1]):
            px = xs[k]
            py = ys[k]
            seen = False
            for q in range(first, m):
                if xs[q] == px and ys[q] == py:
                    seen = True
                    break
            if not seen:
                xs[m] = px
                ys[m] = py
                m += 1
    ustart[n_cells] = m
    margin = 0.01 * h
    for cy in range(ny):
        for cx in range(nx):
            own = cy * nx + cx
            i0, i1 = max(cx - 1, 0), min(cx + 1, nx - 1)
            for k in range(ustart[own], ustart[own + 1]):
                px = xs[k]
                py = ys[k]
                best = math.inf
                # ring 1, a row of three contiguous cells at a time: the own row (less the
                # point itself), then the rows below and above unless farther than the best
                lo, hi = ustart[cy * nx + i0], ustart[cy * nx + i1 + 1]
                for q in range(lo, k):
                    dx = px - xs[q]
                    dy = py - ys[q]
                    best = min(best, dx * dx + dy * dy)
                for q in range(k + 1, hi):
                    dx = px - xs[q]
                    dy = py - ys[q]
                    best = min(best, dx * dx + dy * dy)
                for j in (cy - 1, cy + 1):
                    if j < 0 or j >= ny:
                        continue
                    gy = max(y0 + j * h - py, py - (y0 + (j + 1) * h)) - margin
                    if gy > 0 and gy * gy >= best:
                        continue
                    for q in range(ustart[j * nx + i0], ustart[j * nx + i1 + 1]):
                        dx = px - xs[q]
                        dy = py - ys[q]
                        best = min(best, dx * dx + dy * dy)
                r = 1
                while True:
                    # distance from the point to the nearest cell outside rings 0..r (less
                    # the margin); none left: done
                    lim = math.inf
                    if cx - r > 0:
                        lim = min(lim, px - (x0 + (cx - r) * h))
                    if cx + r < nx - 1:
                        lim = min(lim, x0 + (cx + r + 1) * h - px)
                    if cy - r > 0:
                        lim = min(lim, py - (y0 + (cy - r) * h))
                    if cy + r < ny - 1:
                        lim = min(lim, y0 + (cy + r + 1) * h - py)
                    if lim == math.inf:
                        break
                    lim -= margin
                    if lim > 0 and best < lim * lim:
                        break
                    r += 1
                    for j in range(max(cy - r, 0), min(cy + r, ny - 1) + 1):
                        gy = max(y0 + j * h - py, py - (y0 + (j + 1) * h), 0.0) - margin
                        gy2 = gy * gy if gy > 0 else 0.0
                        if gy2 >= best:
                            continue
                        step = 1 if (j == cy - r or j == cy + r) else 2 * r
                        i = cx - r
                        while i <= cx + r:
                            if 0 <= i < nx:
                                gx = max(x0 + i * h - px, px - (x0 + (i + 1) * h), 0.0) - margin
                                gx2 = gx * gx if gx > 0 else 0.0
                                if gx2 + gy2 < best:  # the cell may hold a nearer point
                                    c = j * nx + i
                                    for q in range(ustart[c], ustart[c + 1]):
                                        dx = px - xs[q]
                                        dy = py - ys[q]
                                        best = min(best, dx * dx + dy * dy)
                            i += step
                out[k] = best
    return m


def _round_sig(v: float, digits: int) -> float:
    if v <= 0:
        return v
    e = math.floor(math.log10(v)) - digits + 1
    return float(round(v / 10**e) * 10**e)


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _safe_names(values: list[Any]) -> list[str]:
    """Column names ``n_<value>``: lower case, letters and digits of any script (``n_光电``) and ``_``,
    unique, never ``n_firms``."""
    taken = {"n_firms", "cell_id", "geometry"}
    out = []
    for v in values:
        base = re.sub(r"\W+", "_", str(v).strip().lower()).strip("_") or "value"
        name = f"n_{base}"
        cand, j = name, 2
        while cand in taken:
            cand = f"{name}_{j}"
            j += 1
        taken.add(cand)
        out.append(cand)
    return out


# ---------------------------------------------------------------------------------------
# extent
# ---------------------------------------------------------------------------------------


def _extent(extent: Any, src: pyproj.CRS, metric: pyproj.CRS, x, y):
    """Return (extent polygon in metric CRS or None for the default hull, description)."""
    if extent is None:
        return None, "convex hull of the firms"
    if isinstance(extent, StudyArea):  # valid and polygonal as made: used as it is (the dask engine's plan too)
        geom = extent.in_crs(metric)
        shapely.prepare(geom)
        return geom, extent.description
    if isinstance(extent, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if extent.crs is None:
            msg = "`extent` has no CRS; set it (e.g. extent.set_crs(4326))."
            raise CRSError(msg)
        geom = extent.to_crs(metric).geometry.union_all() if isinstance(extent, gpd.GeoDataFrame) \
            else extent.to_crs(metric).union_all()
        rule = "given (GeoSeries/GeoDataFrame)"
    elif isinstance(extent, shapely.Geometry):
        geom = extent
        if src != metric:
            tr = pyproj.Transformer.from_crs(src, metric, always_xy=True)
            geom = shapely.transform(geom, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))
        rule = "given (shapely geometry in the CRS of firms)"
    else:
        msg = (
            "`extent` must be a shapely (Multi)Polygon, a GeoSeries or a GeoDataFrame; "
            f"{type(extent).__name__} was given."
        )
        raise InputError(msg)
    if geom is None or geom.is_empty:
        msg = "`extent` is empty; give the study-area polygon."
        raise InputError(msg)
    if not shapely.is_valid(geom):
        geom = shapely.make_valid(geom)
    polys = shapely.get_parts(geom)
    polys = polys[np.isin(shapely.get_type_id(polys), [3, 6])] if len(polys) else polys
    if len(polys) == 0 or shapely.union_all(polys).area <= 0:
        msg = f"`extent` must be polygonal with positive area; a {geom.geom_type} was given."
        raise InputError(msg)
    geom = shapely.union_all(polys)
    shapely.prepare(geom)
    return geom, rule


def _area_plan(extent: Any, cell: str, size: Any) -> tuple[Any, float, dict] | None:
    """``(size, size_m, rule)`` of a :class:`geo.cells.area.StudyArea` made with the automatic size
    for this kind of cell (None otherwise): the cells keep the size the area was built with."""
    if not (isinstance(extent, StudyArea) and isinstance(size, str) and extent.cell == cell and extent.size is not None):
        return None
    if size != "auto":
        msg = f"`size` must be 'auto' or a number; {size!r} was given."
        raise InputError(msg)
    return extent.size, float(extent.size_m), dict(extent.size_rule or {})


def _hull_extent(x, y, spacing: float | None):
    if len(x) == 0:
        msg = "No firm lies inside the extent; there is nothing to aggregate."
        raise InputError(msg)
    hull = _convex_hull(x, y)
    rule = "convex hull of the firms"
    if hull.area <= 0:
        if spacing is None:
            xy = _unique_xy(x, y)
            if len(xy) < 2:
                msg = (
                    "Cannot choose a cell size automatically: all firms share one location. "
                    "Give a numeric `size` (metres) or an `extent` polygon."
                )
                raise InputError(msg)
            spacing = 2.0 * _median_nn_distance(xy)
        hull = hull.buffer(spacing / 2.0)
        rule = "convex hull of the firms (degenerate), buffered by half a cell"
    shapely.prepare(hull)
    return hull, rule


#: below this many points the hull is computed from all of them directly
_HULL_FILTER_MIN = 2048


def _convex_hull(x: np.ndarray, y: np.ndarray):
    """``shapely.convex_hull`` of the points, computed from those that can lie on it.

    Points strictly inside the polygon spanned by the extreme points in eight directions
    (the Akl-Toussaint filter) are neither vertices of the hull nor on its boundary, so
    dropping them leaves the hull, and GEOS's output for it, unchanged; GEOS then sorts
    only the points near the boundary, and no shapely object is made for the others.
    """
    keep = _hull_candidates(x, y)
    if keep is not None:
        x, y = x[keep], y[keep]
    return shapely.convex_hull(shapely.multipoints(np.column_stack([x, y])))


def _hull_candidates(x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """Mask of the points not strictly inside the extreme-point octagon (None: keep all).

    The test is conservative: a point is dropped only if its cross product with every
    edge of the counter-clockwise octagon exceeds ``1e-12 * w**2`` (``w`` the larger side
    of the bounding box), far above the rounding error of the products (< 1e-14 w**2), so
    a point on or near the boundary is always kept.
    """
    n = len(x)
    if n < _HULL_FILTER_MIN:
        return None
    ext = np.unique(
        [
            x.argmin(), x.argmax(), y.argmin(), y.argmax(),
            np.argmin(x + y), np.argmax(x + y), np.argmin(x - y), np.argmax(x - y),
        ]
    )
    octagon = shapely.convex_hull(shapely.multipoints(np.column_stack([x[ext], y[ext]])))
    if shapely.get_type_id(octagon) != 3 or not octagon.area > 0:
        return None
    ring = octagon.exterior
    c = shapely.get_coordinates(ring)[:-1]
    if not shapely.is_ccw(ring):
        c = c[::-1]
    w = max(float(x.max() - x.min()), float(y.max() - y.min()))
    tol = 1e-12 * w * w
    ring = np.ascontiguousarray(np.vstack([c, c[:1]]), dtype=np.float64)
    if n >= _KERNEL_MIN:
        keep = np.empty(n, dtype=np.bool_)
        _compiled(_octagon_outside_kernel)(np.ascontiguousarray(x, dtype=np.float64),
                                           np.ascontiguousarray(y, dtype=np.float64), ring, tol, keep)
        return keep
    keep = np.zeros(n, dtype=bool)
    for k in range(len(c)):
        ax, ay = ring[k]
        bx, by = ring[k + 1]
        keep |= (bx - ax) * (y - ay) - (by - ay) * (x - ax) <= tol
    return keep


def _octagon_outside_kernel(x, y, ring, tol, keep):
    """The mask of :func:`_hull_candidates`, one point at a time (same arithmetic)."""
    for i in range(len(x)):
        out = False
        for k in range(len(ring) - 1):
            ax, ay = ring[k, 0], ring[k, 1]
            bx, by = ring[k + 1, 0], ring[k + 1, 1]
            if (bx - ax) * (y[i] - ay) - (by - ay) * (x[i] - ax) <= tol:
                out = True
                break
        keep[i] = out


# ---------------------------------------------------------------------------------------
# hexagon and square lattices
# ---------------------------------------------------------------------------------------

# vertex offsets of a pointy-top hexagon in integer vertex units (X * sqrt(3)/2 * a, Y * a/2)
_HEX_VX = np.array([1, 0, -1, -1, 0, 1, 1])
_HEX_VY = np.array([1, 2, 1, -1, -2, -1, 1])
_SQ_VX = np.array([0, 1, 1, 0, 0])
_SQ_VY = np.array([0, 0, 1, 1, 0])


def _hex_axial(x: np.ndarray, y: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray]:
    """Axial (q, r) of the pointy-top hexagon containing each point (cube rounding).

    Many points are binned by :func:`_hex_axial_kernel`: the same floating point
    operations in the same order per point (rounding half to even, as ``np.round``).
    """
    if len(x) >= _KERNEL_MIN:
        q = np.empty(len(x), dtype=np.int64)
        r = np.empty(len(x), dtype=np.int64)
        xc, yc = np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(y, dtype=np.float64)
        _compiled(_hex_axial_kernel)(xc, yc, s / _SQRT3, _SQRT3 / 3.0, 2.0 / 3.0, q, r)
        return q, r
    return _hex_axial_numpy(x, y, s)


def _hex_axial_kernel(x, y, a, c_q, c_r, q_out, r_out):
    """:func:`_hex_axial_numpy` one point at a time (``c_q = sqrt(3) / 3``, ``c_r = 2 / 3``)."""
    for i in range(len(x)):
        xf = (c_q * x[i] - y[i] / 3.0) / a
        zf = (c_r * y[i]) / a
        yf = -xf - zf
        rx, ry, rz = np.rint(xf), np.rint(yf), np.rint(zf)
        dx, dy, dz = abs(rx - xf), abs(ry - yf), abs(rz - zf)
        if dx > dy and dx > dz:
            rx = -ry - rz
        elif dz >= dy:
            rz = -rx - ry
        q_out[i] = np.int64(rx)
        r_out[i] = np.int64(rz)


def _hex_axial_numpy(x: np.ndarray, y: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray]:
    a = s / _SQRT3
    qf = (_SQRT3 / 3.0 * x - y / 3.0) / a
    rf = (2.0 / 3.0 * y) / a
    xf, zf = qf, rf
    yf = -xf - zf
    rx, ry, rz = np.round(xf), np.round(yf), np.round(zf)
    dx, dy, dz = np.abs(rx - xf), np.abs(ry - yf), np.abs(rz - zf)
    fix_x = (dx > dy) & (dx > dz)
    fix_z = ~fix_x & (dz >= dy)
    rx = np.where(fix_x, -ry - rz, rx)
    rz = np.where(fix_z, -rx - ry, rz)
    return rx.astype(np.int64), rz.astype(np.int64)


def _hex_centres(q: np.ndarray, r: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray]:
    a = s / _SQRT3
    return (_SQRT3 / 2.0 * a) * (2 * q + r), (a / 2.0) * (3 * r)


def _hex_coords(q: np.ndarray, r: np.ndarray, s: float) -> np.ndarray:
    """(n, 7, 2) closed rings of the hexagons (q, r), from integer vertex coordinates."""
    a = s / _SQRT3
    vx = (2 * q + r)[:, None] + _HEX_VX[None, :]
    vy = (3 * r)[:, None] + _HEX_VY[None, :]
    return np.stack([(_SQRT3 / 2.0 * a) * vx, (a / 2.0) * vy], axis=-1)


def _square_coords(i: np.ndarray, j: np.ndarray, s: float) -> np.ndarray:
    """(n, 5, 2) closed rings of the squares (i, j)."""
    return np.stack([(i[:, None] + _SQ_VX) * s, (j[:, None] + _SQ_VY) * s], axis=-1)


def _hex_polygons(q: np.ndarray, r: np.ndarray, s: float) -> np.ndarray:
    return _ring_polygons(_hex_coords(q, r, s))


def _square_polygons(i: np.ndarray, j: np.ndarray, s: float) -> np.ndarray:
    return _ring_polygons(_square_coords(i, j, s))


def _ring_polygons(coords: np.ndarray) -> np.ndarray:
    """Polygons from (n, k, 2) closed rings: ``shapely.polygons(coords)``, built in one
    call from flat arrays (a few times faster for many cells, same geometries)."""
    n, k = coords.shape[:2]
    offsets = (np.arange(0, n * k + 1, k), np.arange(n + 1))
    return shapely.from_ragged_array(shapely.GeometryType.POLYGON, coords.reshape(n * k, 2), offsets)


def _lattice_index(geoms: np.ndarray, cell: str, s: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Lattice coordinates (a, b) of polygons that are exactly cells of :func:`aggregate`.

    ``(q, r)`` of hexagons or ``(i, j)`` of squares of size ``s``, recovered from each
    polygon's first vertex and then checked: every polygon must equal, coordinate for
    coordinate, the cell that :func:`aggregate` builds for its (a, b).  None if any one
    does not (other polygons, another size, holes, multi-part or edited cells).
    """
    if cell not in ("hex", "square") or not (math.isfinite(s) and s > 0) or len(geoms) == 0:
        return None
    n_vertices = 7 if cell == "hex" else 5
    if (
        not np.all(shapely.get_type_id(geoms) == 3)
        or not np.all(shapely.get_num_interior_rings(geoms) == 0)
        or not np.all(shapely.get_num_coordinates(geoms) == n_vertices)
    ):
        return None
    coords = shapely.get_coordinates(geoms).reshape(len(geoms), n_vertices, 2)
    with np.errstate(invalid="ignore", over="ignore"):
        if cell == "hex":
            a_edge = s / _SQRT3
            vx = np.rint(coords[:, 0, 0] / (_SQRT3 / 2.0 * a_edge))  # 2q + r + 1
            vy = np.rint(coords[:, 0, 1] / (a_edge / 2.0))  # 3r + 1
            if not (np.all(np.abs(vx) < 2**52) and np.all(np.abs(vy) < 2**52)):
                return None
            vx, vy = vx.astype(np.int64), vy.astype(np.int64)
            if np.any((vy - 1) % 3 != 0):
                return None
            b = (vy - 1) // 3
            if np.any((vx - 1 - b) % 2 != 0):
                return None
            a = (vx - 1 - b) // 2
            expected = _hex_coords(a, b, s)
        else:
            fa = np.rint(coords[:, 0, 0] / s)
            fb = np.rint(coords[:, 0, 1] / s)
            if not (np.all(np.abs(fa) < 2**52) and np.all(np.abs(fb) < 2**52)):
                return None
            a, b = fa.astype(np.int64), fb.astype(np.int64)
            expected = _square_coords(a, b, s)
    if not np.array_equal(expected, coords):
        return None
    return a, b


def _candidates(ext, cell: str, s: float) -> tuple[np.ndarray, np.ndarray]:
    """Lattice cells whose centre lies within one circumradius of the extent."""
    minx, miny, maxx, maxy = ext.bounds
    if cell == "square":
        i0, i1 = math.floor(minx / s) - 1, math.floor(maxx / s) + 1
        j0, j1 = math.floor(miny / s) - 1, math.floor(maxy / s) + 1
        count = (i1 - i0 + 1) * (j1 - j0 + 1)
        _check_count(count, s)
        ii, jj = np.meshgrid(np.arange(i0, i1 + 1), np.arange(j0, j1 + 1))
        a, b = ii.ravel(), jj.ravel()
        cx, cy = (a + 0.5) * s, (b + 0.5) * s
        radius = s / math.sqrt(2.0)
    else:
        a_edge = s / _SQRT3
        r0, r1 = math.floor(miny / (1.5 * a_edge)) - 1, math.ceil(maxy / (1.5 * a_edge)) + 1
        width = math.ceil((maxx - minx) / s) + 3
        count = (r1 - r0 + 1) * width
        _check_count(count, s)
        rr = np.arange(r0, r1 + 1)
        q_start = np.floor((minx - s) / s - rr / 2.0).astype(np.int64)
        off = np.arange(width)
        b = np.repeat(rr, width)
        a = (q_start[:, None] + off[None, :]).ravel()
        cx, cy = _hex_centres(a, b, s)
        radius = a_edge
    grown = ext.buffer(radius * 1.001)
    shapely.prepare(grown)
    near = shapely.intersects_xy(grown, cx, cy)
    return a[near].astype(np.int64), b[near].astype(np.int64)


#: the extent's boundary is compared with an inner buffer of it up to this many vertices
_INTERIOR_MAX_VERTICES = 5_000


def _interior_cells(ext, a: np.ndarray, b: np.ndarray, polys: np.ndarray, cell: str, s: float) -> np.ndarray:
    """``shapely.contains_properly(ext, polys)`` for the lattice cells (a, b).

    A cell whose centre lies in ``inner``, the extent shrunk by 1.1 circumradius, is in the
    extent's interior when ``inner`` is (properly) in ``ext`` and its boundary is more
    than a circumradius from the extent's: the segment from the centre to the nearest
    point of the extent's boundary leaves ``inner``, so it is longer than that distance,
    and the cell lies within a circumradius of its centre.  Those cells skip the GEOS
    predicate (a point-in-polygon test each instead); the others, along the boundary,
    are tested with it.  Extents with many vertices are all tested with it.
    """
    radius = s / math.sqrt(2.0) if cell == "square" else s / _SQRT3
    deep = np.zeros(len(polys), dtype=bool)
    if len(polys) > 1000 and shapely.get_num_coordinates(ext) <= _INTERIOR_MAX_VERTICES:
        inner = ext.buffer(-1.1 * radius)
        if (
            not inner.is_empty
            and shapely.contains_properly(ext, inner)
            and shapely.distance(inner.boundary, ext.boundary) > 1.0001 * radius
        ):
            cx, cy = ((a + 0.5) * s, (b + 0.5) * s) if cell == "square" else _hex_centres(a, b, s)
            shapely.prepare(inner)
            deep = shapely.intersects_xy(inner, cx, cy)
    keep = deep.copy()
    rest = ~deep
    keep[rest] = shapely.contains_properly(ext, polys[rest])
    return keep


def _check_count(count: int, s: float) -> None:
    if count > MAX_CANDIDATE_CELLS:
        msg = (
            f"A cell size of {s:g} m would need about {count:,} cells to cover the extent "
            f"(limit {MAX_CANDIDATE_CELLS:,}); choose a larger `size` or size='auto'."
        )
        raise InputError(msg)


#: largest bounding box (in cells) of the occupied and candidate cells for which firms are
#: counted with dense per-cell arrays; beyond it, with a sort of the cell codes
_DENSE_MAX_CELLS = 8_000_000


def lattice_keys(x: np.ndarray, y: np.ndarray, cell: str, size_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Integer lattice coordinates (a, b) of the cell holding each point.

    ``(i, j)`` of the squares :math:`[is, (i+1)s) \\times [js, (j+1)s)`, axial ``(q, r)`` of
    the pointy-top hexagons (cube rounding) of :func:`aggregate`.  The dask engine bins
    each partition with it; counting the keys with :func:`cells_from_counts` gives exactly
    the cells :func:`aggregate` makes.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    s = float(size_m)
    if cell == "square":
        return np.floor(x / s).astype(np.int64), np.floor(y / s).astype(np.int64)
    if cell == "hex":
        return _hex_axial(x, y, s)
    msg = f"lattice_keys needs cell 'hex' or 'square'; {cell!r} was given."
    raise InputError(msg)


def _lattice_cells(x, y, ext, cell: str, s: float, cat_codes, n_cat: int) -> dict[str, Any]:
    """Cells of the lattice intersecting ``ext`` or holding a firm, with their counts."""
    pa, pb = lattice_keys(x, y, cell, s)
    return _lattice_table(pa, pb, ext, cell, s, cat_codes, n_cat)


def _lattice_table(pa, pb, ext, cell: str, s: float, cat_codes, n_cat: int, weights=None) -> dict[str, Any]:
    """Cells of the lattice intersecting ``ext`` or holding a key (a, b), with their counts.

    Every firm is binned once to integer lattice coordinates (a, b) (``i, j`` of a
    square, axial ``q, r`` of a hexagon); each cell gets one integer code increasing with
    (b, a), so the cell table, its order (south to north, then west to east) and the
    counts come from integer arrays (bincount over the codes), never from row-wise
    unique or per-firm shapely work.  ``weights`` (int, one per key) counts a key that
    stands for several firms (the dask engine's reduced keys); keys with weight 0 are
    not allowed.
    """
    ca, cb = _candidates(ext, cell, s)
    polys = _square_polygons(ca, cb, s) if cell == "square" else _hex_polygons(ca, cb, s)
    # keep the cells that intersect the extent but do not merely touch it; a cell in its
    # interior (prepared containsProperly, fast) does, so the full predicates run only on
    # the cells along the boundary
    keep = _interior_cells(ext, ca, cb, polys, cell, s)
    edge = ~keep
    keep[edge] = shapely.intersects(polys[edge], ext) & ~shapely.touches(polys[edge], ext)
    ca, cb, polys = ca[keep], cb[keep], polys[keep]
    # cell codes: (b - b_lo) * span_a + (a - a_lo), increasing with (b, a)
    a_lo, a_hi = _min_max(ca, pa)
    b_lo, b_hi = _min_max(cb, pb)
    span_a = a_hi - a_lo + 1
    n_box = span_a * (b_hi - b_lo + 1)
    code_c = (cb - b_lo) * span_a + (ca - a_lo)
    code_p = (pb - b_lo) * span_a + (pa - a_lo)
    w = None if weights is None else np.asarray(weights, dtype=np.float64)  # exact below 2**53
    if n_box <= _DENSE_MAX_CELLS:
        dense = np.bincount(code_p, weights=w, minlength=n_box)
        present = dense > 0
        present[code_c] = True
        table = np.flatnonzero(present)  # sorted codes of all cells
        counts = dense[table].astype(np.int64)
        where = np.empty(n_box, dtype=np.int64)
        where[table] = np.arange(len(table))
        pos = where[code_p]  # row of each firm's cell
    else:
        table = np.union1d(code_c, code_p)
        pos = np.searchsorted(table, code_p)
        counts = np.bincount(pos, weights=w, minlength=len(table)).astype(np.int64)
    n = len(table)
    by_counts = np.zeros((n, n_cat), dtype=np.int64)
    if cat_codes is not None and n_cat:
        ok = cat_codes >= 0
        flat = np.bincount(pos[ok] * n_cat + cat_codes[ok], weights=None if w is None else w[ok], minlength=n * n_cat)
        by_counts = flat.reshape(n, n_cat).astype(np.int64)
    ta = table % span_a + a_lo
    tb = table // span_a + b_lo
    # geometries: the kept candidates', plus cells holding a firm that the extent test
    # missed (touching cells)
    geoms = np.empty(n, dtype=object)
    at = np.searchsorted(table, code_c)
    geoms[at] = polys
    extra = np.ones(n, dtype=bool)
    extra[at] = False
    if extra.any():
        ea, eb = ta[extra], tb[extra]
        geoms[extra] = _square_polygons(ea, eb, s) if cell == "square" else _hex_polygons(ea, eb, s)
    prefix = "sq" if cell == "square" else "hex"
    return {"cell_id": _lattice_ids(prefix, ta, tb), "n_firms": counts, "by_counts": by_counts, "geometry": geoms}


def _lattice_ids(prefix: str, a: np.ndarray, b: np.ndarray) -> Any:
    """The ids ``f"{prefix}_{a}_{b}"`` of lattice cells, for a column of strings.

    Joined by pyarrow when pandas' default dtype for strings is stored in pyarrow: the
    same strings, dtype and storage as from the list of Python strings, several times
    faster.  Otherwise the list.
    """
    dtype = pd.Series(["a"]).dtype  # pandas' default (it depends on pandas' options)
    if len(a) and isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        import pyarrow as pa
        import pyarrow.compute as pc

        a_str = pa.array(a, type=pa.int64()).cast(pa.string())
        b_str = pa.array(b, type=pa.int64()).cast(pa.string())
        return pd.array(pc.binary_join_element_wise(prefix, a_str, b_str, "_"), dtype=dtype)
    return [f"{prefix}_{u}_{v}" for u, v in zip(a.tolist(), b.tolist())]


def _min_max(u: np.ndarray, v: np.ndarray) -> tuple[int, int]:
    lo = [int(w.min()) for w in (u, v) if len(w)]
    hi = [int(w.max()) for w in (u, v) if len(w)]
    return (min(lo), max(hi)) if lo else (0, 0)


# ---------------------------------------------------------------------------------------
# H3
# ---------------------------------------------------------------------------------------


def _h3_area(res: int) -> float:
    import h3

    return float(h3.average_hexagon_area(res, unit="m^2"))


def h3_resolution_for_area(area_m2: float) -> int:
    """The H3 resolution whose average cell area is closest (log scale) to ``area_m2``.

    >>> h3_resolution_for_area(0.737e6), h3_resolution_for_area(5.16e6)
    (8, 7)
    """
    return min(range(16), key=lambda r: abs(math.log(_h3_area(r) / float(area_m2))))


def _h3_spacing(res: int) -> float:
    return math.sqrt(_h3_area(res) / _AREA_FACTOR["h3"])


def _h3_resolution(size, size_m: float, rule: dict, extent_area: float) -> tuple[int, dict]:
    if not isinstance(size, str):
        return int(size), {"rule": "given by the user (H3 resolution)"}
    target = _AREA_FACTOR["h3"] * size_m**2
    lo_area = extent_area / MAX_AUTO_CELLS  # smallest admissible cell area
    hi_area = extent_area / MIN_AUTO_CELLS
    areas = {r: _h3_area(r) for r in range(16)}
    admissible = [r for r in range(16) if lo_area <= areas[r] <= hi_area] or list(range(16))
    res = min(admissible, key=lambda r: abs(math.log(areas[r] / target)))
    out = dict(rule)
    out.update(
        rule=_AUTO_RULE + "; H3: resolution with average cell area closest (log scale) to "
        "c * size^2 among those within the cell-count bounds",
        target_cell_area_m2=target,
        h3_resolution=res,
    )
    return res, out


def _h3_cells(x, y, metric: pyproj.CRS, ext, res: int, cat_codes, n_cat: int) -> dict[str, Any]:
    import h3 as h3s
    import h3.api.basic_int as h3i

    to_ll = pyproj.Transformer.from_crs(metric, 4326, always_xy=True)
    from_ll = pyproj.Transformer.from_crs(4326, metric, always_xy=True)
    lon, lat = to_ll.transform(x, y)
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    # one H3 lookup per distinct location
    uniq, inv = np.unique(np.column_stack([lat, lon]), axis=0, return_inverse=True)
    inv = np.asarray(inv).ravel()
    ucells = np.array([h3i.latlng_to_cell(float(a), float(b), res) for a, b in uniq], dtype=np.uint64)
    firm_cells = ucells[inv] if len(inv) else np.empty(0, np.uint64)
    # cells overlapping the extent
    ext_ll = shapely.transform(ext, lambda c: np.column_stack(to_ll.transform(c[:, 0], c[:, 1])))
    ext_cells: set[int] = set()
    for poly in shapely.get_parts(ext_ll):
        shape = _latlng_poly(poly)
        try:
            found = h3s.h3shape_to_cells_experimental(shape, res, contain="overlap")
        except (AttributeError, TypeError):  # older h3: centre containment
            found = h3s.h3shape_to_cells(shape, res)
        ext_cells.update(h3s.str_to_int(c) for c in found)
    allc = np.unique(np.concatenate([np.fromiter(ext_cells, dtype=np.uint64, count=len(ext_cells)), firm_cells]))
    n = len(allc)
    pos = np.searchsorted(allc, firm_cells)
    counts = np.bincount(pos, minlength=n).astype(np.int64)
    by_counts = np.zeros((n, n_cat), dtype=np.int64)
    if cat_codes is not None and n_cat:
        ok = cat_codes >= 0
        flat = np.bincount(pos[ok] * n_cat + cat_codes[ok], minlength=n * n_cat)
        by_counts = flat.reshape(n, n_cat).astype(np.int64)
    polys = []
    for c in allc:
        ring = np.asarray(h3i.cell_to_boundary(int(c)))  # (lat, lng)
        px, py = from_ll.transform(ring[:, 1], ring[:, 0])
        polys.append(shapely.polygons(np.column_stack([np.append(px, px[0]), np.append(py, py[0])])))
    ids = [h3i.int_to_str(int(c)) for c in allc]
    return {"cell_id": ids, "n_firms": counts, "by_counts": by_counts, "geometry": np.array(polys, dtype=object)}


def _latlng_poly(poly):
    import h3 as h3s

    ext_ring = [(lat, lng) for lng, lat in np.asarray(poly.exterior.coords)[:-1]]
    holes = [[(lat, lng) for lng, lat in np.asarray(r.coords)[:-1]] for r in poly.interiors]
    return h3s.LatLngPoly(ext_ring, *holes)


def cell_positions(cells: gpd.GeoDataFrame, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Position (row) in ``cells`` of the cell holding each point, or -1.

    For the hexagon and square lattices of :func:`aggregate` (``attrs["cell"]`` and
    ``attrs["size_m"]`` set, ids ``hex_<q>_<r>`` / ``sq_<i>_<j>``) the cell is found by the
    same arithmetic :func:`aggregate` counts with, so that counting the points by these
    positions gives exactly its counts.  Other cells (H3, user polygons) are found with a
    spatial index: a point on a shared edge goes to the first cell holding it.

    Parameters
    ----------
    cells : geopandas.GeoDataFrame
        Cells in a metric CRS (e.g. the output of :func:`aggregate`).
    x, y : ndarray
        Point coordinates in the CRS of ``cells``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    out = np.full(len(x), -1, dtype=np.int64)
    if len(x) == 0 or len(cells) == 0:
        return out
    kind = cells.attrs.get("cell")
    size = cells.attrs.get("size_m")
    prefix = {"hex": "hex_", "square": "sq_"}.get(kind)
    ids = cells["cell_id"].astype(str) if "cell_id" in cells else None
    if prefix is not None and size and ids is not None and ids.str.startswith(prefix).all():
        keys = _parse_lattice_ids(ids, prefix)
        if keys is None:  # (not two plain integers each: as before, or its error)
            parts = ids.str.slice(len(prefix)).str.split("_", expand=True)
            keys = parts[0].astype(np.int64).to_numpy(), parts[1].astype(np.int64).to_numpy()
        ka, kb = keys
        s = float(size)
        if kind == "square":
            pa = np.floor(x / s).astype(np.int64)
            pb = np.floor(y / s).astype(np.int64)
        else:
            pa, pb = _hex_axial(x, y, s)
        lo_a, lo_b = min(ka.min(), pa.min()), min(kb.min(), pb.min())
        span_b = max(kb.max(), pb.max()) - lo_b + 1
        kc = (ka - lo_a) * span_b + (kb - lo_b)
        pc = (pa - lo_a) * span_b + (pb - lo_b)
        order = np.argsort(kc, kind="mergesort")
        sk = kc[order]
        j = np.minimum(np.searchsorted(sk, pc), len(sk) - 1)
        hit = sk[j] == pc
        out[hit] = order[j[hit]]
        return out
    tree = shapely.STRtree(np.asarray(cells.geometry.values))
    pi, ci = tree.query(shapely.points(x, y), predicate="intersects")
    if len(pi):
        order = np.lexsort((ci, pi))
        pi, ci = pi[order], ci[order]
        first = np.unique(pi, return_index=True)[1]
        out[pi[first]] = ci[first]
    return out


def _parse_lattice_ids(ids: pd.Series, prefix: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The integers (a, b) of ids ``f"{prefix}{a}_{b}"``, parsed by pyarrow; None unless
    every id is the prefix and two decimal integers (pyarrow's integer parsing accepts
    only ``-?[0-9]+``, which Python and numpy read the same)."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:
        return None
    try:
        arr = pa.array(ids.array) if isinstance(ids.dtype, pd.StringDtype) and ids.dtype.storage == "pyarrow" \
            else pa.array(ids.to_numpy(dtype=object), type=pa.large_string())
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if arr.null_count or not pc.all(pc.starts_with(arr, prefix)).as_py():
            return None
        parts = pc.split_pattern(pc.utf8_slice_codeunits(arr, len(prefix)), "_")
        if not pc.all(pc.equal(pc.list_value_length(parts), 2)).as_py():
            return None
        values = pc.cast(pc.list_flatten(parts), pa.int64()).to_numpy()
    except (TypeError, ValueError, pa.ArrowException):
        return None
    return values[0::2].copy(), values[1::2].copy()


@dataclass(frozen=True)
class LatticePlan:
    """The lattice :func:`aggregate` would use, chosen from a point set's hull and size."""

    cell: str
    size_m: float
    rule: dict
    extent: Any  # shapely polygon, metric CRS
    extent_rule: str
    metric_crs: str


def plan_lattice(hull_x: np.ndarray, hull_y: np.ndarray, n: int, *, cell: str = "hex", size: str | float = "auto",
                 metric: Any) -> LatticePlan:
    """The extent and cell size :func:`aggregate` chooses for ``n`` points with this hull.

    ``hull_x``/``hull_y`` are any points whose convex hull is that of all the points (e.g.
    the hull vertices of each partition: the hull of their union is the hull of all
    points).  With the default extent (the convex hull) and ``size="auto"`` the result is
    :func:`aggregate`'s; the rule's record lacks ``median_nn_m`` and ``n_locations``
    (not computed from a hull), and says so in ``note``.
    """
    if cell not in ("hex", "square"):
        msg = f"plan_lattice needs cell 'hex' or 'square'; {cell!r} was given."
        raise InputError(msg)
    hx = np.asarray(hull_x, dtype=float)
    hy = np.asarray(hull_y, dtype=float)
    size_m, rule, ext, ext_rule = _plan(hx, hy, cell=cell, size=size, n=int(n))
    if isinstance(size, str):
        rule["note"] = "n_locations and median_nn_m are not computed by the dask engine"
    return LatticePlan(cell, float(size_m), rule, ext, ext_rule, pyproj.CRS.from_user_input(metric).to_string())


def cells_from_counts(plan: LatticePlan, a: np.ndarray, b: np.ndarray, counts: np.ndarray, codes: np.ndarray | None,
                      categories: Any = None, *, n_input: int, by: str | None = None) -> gpd.GeoDataFrame:
    """The cell table of :func:`aggregate` from counted lattice keys.

    Parameters
    ----------
    plan : LatticePlan
        From :func:`plan_lattice`.
    a, b : ndarray of int
        Lattice keys (:func:`lattice_keys`), repeated keys allowed.
    counts : ndarray of int
        Firms with each key (and category).
    codes : ndarray of int, optional
        Category of each key: a position in ``categories``, -1 for a missing value.
    categories : array-like, optional
        The sorted distinct values of the ``by`` column.
    n_input : int
        Firms counted (all lie in the default extent).
    by : str, optional
        The column the categories come from.
    """
    cats = list(categories) if categories is not None and by is not None else []
    names = _safe_names(cats)
    by_map = {_plain(u): nm for u, nm in zip(cats, names)}
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    w = np.asarray(counts, dtype=np.int64)
    cat_codes = np.asarray(codes, dtype=np.int64) if codes is not None and by_map else None
    cells = _lattice_table(a, b, plan.extent, plan.cell, plan.size_m, cat_codes, len(by_map), weights=w)
    n_by_missing = int(w[np.asarray(codes) < 0].sum()) if by is not None and codes is not None else 0
    size = float(plan.size_m)
    return _cell_frame(cells, by_map, pyproj.CRS.from_user_input(plan.metric_crs), cell=plan.cell, size=size, size_m=size,
                       cell_area=_AREA_FACTOR[plan.cell] * size**2, rule=dict(plan.rule), ext_rule=plan.extent_rule,
                       ext_area=float(plan.extent.area), n_input=int(n_input), n_outside=0, n_missing=0, by=by,
                       n_by_missing=n_by_missing)
