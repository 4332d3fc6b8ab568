"""Aggregation of firm points to hexagonal, square or H3 cells.

Points are binned on coordinate arrays (pyproj on arrays, numpy binning, axial/cube
rounding for hexagons); one polygon is built per *cell*, never one shapely object per
firm.  Empty cells inside the study extent are kept with a count of 0: zero is data.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.spatial import cKDTree

from geo.errors import ColumnError, CRSError, InputError

__all__ = ["aggregate", "auto_cell_size", "CELL_KINDS", "MIN_AUTO_CELLS", "MAX_AUTO_CELLS"]

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
    firms : geopandas.GeoDataFrame
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
    extent : shapely geometry, GeoSeries or GeoDataFrame, optional
        The study area (e.g. the valley polygon).  A GeoSeries/GeoDataFrame is
        reprojected from its CRS; a bare shapely geometry is taken to be in the CRS of
        ``firms``.  Default: the convex hull of the firms (buffered by half a cell if it
        is degenerate).  Firms outside the extent are not counted; their number is
        ``attrs["n_outside"]``.
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
            f"{', '.join(map(str, gdf.columns.drop(gdf.geometry.name)))}."
        )
        raise ColumnError(msg)

    # ---- coordinates in the metric CRS (arrays only) ----
    geoms = np.asarray(gdf.geometry.values)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    kinds = shapely.get_type_id(geoms[~missing])
    if kinds.size and not np.all(kinds == 0):
        bad = sorted({shapely.GeometryType(int(t)).name for t in np.unique(kinds) if t != 0})
        msg = (
            f"`firms` must contain Point geometries; found {', '.join(bad)}. Use "
            "firms.representative_point() or firms.centroid to get one point per firm."
        )
        raise InputError(msg)
    n_missing = int(missing.sum())
    if n_missing:
        logger.warning("aggregate: %d firms have missing or empty geometry and are not counted", n_missing)
    src_crs = pyproj.CRS.from_user_input(gdf.crs)
    metric = _metric_crs(gdf, src_crs, epsg)
    keep = ~missing
    x_src = shapely.get_x(geoms[keep])
    y_src = shapely.get_y(geoms[keep])
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
    rows = np.flatnonzero(keep)  # positions in `firms` of the located firms

    # ---- extent ----
    ext_geom, ext_rule = _extent(extent, src_crs, metric, x, y)
    if ext_geom is not None:
        inside = shapely.intersects_xy(ext_geom, x, y)
    else:
        inside = np.ones(len(x), dtype=bool)
    n_outside = int((~inside).sum())
    if n_outside:
        logger.warning("aggregate: %d firms fall outside the extent and are not counted", n_outside)
    xi, yi, rows_in = x[inside], y[inside], rows[inside]

    # ---- size ----
    area_factor = _AREA_FACTOR[cell]
    rule: dict[str, Any]
    if isinstance(size, str):
        if size != "auto":
            msg = f"`size` must be 'auto' or a number; {size!r} was given."
            raise InputError(msg)
        if ext_geom is None:  # default extent: hull (needs a size if degenerate)
            ext_geom, ext_rule = _hull_extent(xi, yi, None)
        size_m, rule = auto_cell_size(xi, yi, extent_area=float(ext_geom.area), cell=cell)
    else:
        size_m = _check_size(size, cell)
        rule = {"rule": "given by the user"}
        if ext_geom is None:
            spacing = _h3_spacing(int(size)) if cell == "h3" else float(size_m)
            ext_geom, ext_rule = _hull_extent(xi, yi, spacing)
    if ext_geom.is_empty or ext_geom.area <= 0:
        msg = "The study extent has zero area; give a polygon `extent` or more firms."
        raise InputError(msg)

    # ---- categories ----
    by_map: dict[Any, str] = {}
    n_by_missing = 0
    cat_codes = None
    if by is not None:
        values = gdf[by].to_numpy()[rows_in]
        codes, uniques = pd.factorize(pd.Series(values), sort=True)
        cat_codes = codes
        n_by_missing = int((codes < 0).sum())
        names = _safe_names(list(uniques))
        by_map = {_plain(u): nm for u, nm in zip(uniques, names)}
        if n_by_missing:
            logger.warning("aggregate: %d firms have no %r value (counted in n_firms only)", n_by_missing, by)

    # ---- binning ----
    if cell == "h3":
        res, out_rule = _h3_resolution(size, size_m, rule, float(ext_geom.area))
        rule = out_rule
        cells = _h3_cells(xi, yi, metric, ext_geom, res, cat_codes, len(by_map))
        size_value: float | int = res
        cell_area = float(_h3_area(res))
        size_m = math.sqrt(cell_area / area_factor)
    else:
        cells = _lattice_cells(xi, yi, ext_geom, cell, float(size_m), cat_codes, len(by_map))
        size_value = float(size_m)
        cell_area = area_factor * float(size_m) ** 2

    # ---- assemble ----
    data: dict[str, Any] = {"cell_id": cells["cell_id"], "n_firms": cells["n_firms"]}
    for j, name in enumerate(by_map.values()):
        data[name] = cells["by_counts"][:, j]
    out = gpd.GeoDataFrame(data, geometry=cells["geometry"], crs=metric)
    out.attrs = {
        "cell": cell,
        "size": size_value,
        "size_m": float(size_m),
        "cell_area_m2": cell_area,
        "size_rule": rule,
        "metric_crs": metric.to_string(),
        "extent": ext_rule,
        "extent_area_m2": float(ext_geom.area),
        "n_input": int(len(gdf)),
        "n_counted": int(out["n_firms"].sum()),
        "n_outside": n_outside,
        "n_missing_geometry": n_missing,
        "by": by,
        "by_columns": by_map,
        "n_by_missing": n_by_missing,
    }
    logger.info(
        "aggregate: %d %s cells of %s (%s), %d firms counted",
        len(out), cell, size_value, rule.get("rule"), out.attrs["n_counted"],
    )
    return out


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
    c = _AREA_FACTOR[cell]
    if not extent_area > 0:
        msg = "Cannot choose a cell size automatically: the extent has zero area."
        raise InputError(msg)
    s_min = math.sqrt(extent_area / (MAX_AUTO_CELLS * c))
    s_max = math.sqrt(extent_area / (MIN_AUTO_CELLS * c))
    xy = np.unique(np.column_stack([x, y]), axis=0)
    n = int(len(x))
    record: dict[str, Any] = {
        "rule": _AUTO_RULE,
        "n_firms": n,
        "n_locations": int(len(xy)),
        "extent_area_m2": float(extent_area),
        "min_size_m": s_min,
        "max_size_m": s_max,
    }
    if n < 2 or len(xy) < 2:
        record.update(median_nn_m=None, raw_size_m=None, clamped="max")
        return s_max, record
    dist, _ = cKDTree(xy).query(xy, k=2)
    med = float(np.median(dist[:, 1]))
    raw = _round_sig(math.sqrt(2.0 * extent_area / (n * c)), 3)
    size = min(max(raw, s_min), s_max)
    clamped = "min" if raw < s_min else ("max" if raw > s_max else None)
    record.update(median_nn_m=med, raw_size_m=raw, clamped=clamped)
    return float(size), record


# ---------------------------------------------------------------------------------------
# checks and CRS
# ---------------------------------------------------------------------------------------


def _check_firms(firms: Any) -> gpd.GeoDataFrame:
    if isinstance(firms, gpd.GeoSeries):
        firms = gpd.GeoDataFrame(geometry=firms)
    if not isinstance(firms, gpd.GeoDataFrame):
        msg = f"`firms` must be a GeoDataFrame of points; {type(firms).__name__} was given."
        raise InputError(msg)
    if firms.crs is None:
        msg = "`firms` has no CRS; set it with firms.set_crs(4326) for longitude/latitude."
        raise CRSError(msg)
    if len(firms) == 0:
        msg = "`firms` is empty; there is nothing to aggregate."
        raise InputError(msg)
    return firms


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


def _round_sig(v: float, digits: int) -> float:
    if v <= 0:
        return v
    e = math.floor(math.log10(v)) - digits + 1
    return float(round(v / 10**e) * 10**e)


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _safe_names(values: list[Any]) -> list[str]:
    """Column names ``n_<value>``: lower case, [a-z0-9_], unique, never ``n_firms``."""
    taken = {"n_firms", "cell_id", "geometry"}
    out = []
    for v in values:
        base = re.sub(r"[^0-9a-z]+", "_", str(v).strip().lower()).strip("_") or "value"
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


def _hull_extent(x, y, spacing: float | None):
    if len(x) == 0:
        msg = "No firm lies inside the extent; there is nothing to aggregate."
        raise InputError(msg)
    hull = shapely.convex_hull(shapely.multipoints(np.column_stack([x, y])))
    rule = "convex hull of the firms"
    if hull.area <= 0:
        if spacing is None:
            xy = np.unique(np.column_stack([x, y]), axis=0)
            if len(xy) < 2:
                msg = (
                    "Cannot choose a cell size automatically: all firms share one location. "
                    "Give a numeric `size` (metres) or an `extent` polygon."
                )
                raise InputError(msg)
            dist, _ = cKDTree(xy).query(xy, k=2)
            spacing = 2.0 * float(np.median(dist[:, 1]))
        hull = hull.buffer(spacing / 2.0)
        rule = "convex hull of the firms (degenerate), buffered by half a cell"
    shapely.prepare(hull)
    return hull, rule


# ---------------------------------------------------------------------------------------
# hexagon and square lattices
# ---------------------------------------------------------------------------------------

# vertex offsets of a pointy-top hexagon in integer vertex units (X * sqrt(3)/2 * a, Y * a/2)
_HEX_VX = np.array([1, 0, -1, -1, 0, 1, 1])
_HEX_VY = np.array([1, 2, 1, -1, -2, -1, 1])
_SQ_VX = np.array([0, 1, 1, 0, 0])
_SQ_VY = np.array([0, 0, 1, 1, 0])


def _hex_axial(x: np.ndarray, y: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray]:
    """Axial (q, r) of the pointy-top hexagon containing each point (cube rounding)."""
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


def _hex_polygons(q: np.ndarray, r: np.ndarray, s: float) -> np.ndarray:
    a = s / _SQRT3
    vx = (2 * q + r)[:, None] + _HEX_VX[None, :]
    vy = (3 * r)[:, None] + _HEX_VY[None, :]
    coords = np.stack([(_SQRT3 / 2.0 * a) * vx, (a / 2.0) * vy], axis=-1)
    return shapely.polygons(coords)


def _square_polygons(i: np.ndarray, j: np.ndarray, s: float) -> np.ndarray:
    coords = np.stack([(i[:, None] + _SQ_VX) * s, (j[:, None] + _SQ_VY) * s], axis=-1)
    return shapely.polygons(coords)


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


def _check_count(count: int, s: float) -> None:
    if count > MAX_CANDIDATE_CELLS:
        msg = (
            f"A cell size of {s:g} m would need about {count:,} cells to cover the extent "
            f"(limit {MAX_CANDIDATE_CELLS:,}); choose a larger `size` or size='auto'."
        )
        raise InputError(msg)


def _lattice_cells(x, y, ext, cell: str, s: float, cat_codes, n_cat: int) -> dict[str, Any]:
    # points -> integer cell coordinates
    if cell == "square":
        pa = np.floor(x / s).astype(np.int64)
        pb = np.floor(y / s).astype(np.int64)
    else:
        pa, pb = _hex_axial(x, y, s)
    ca, cb = _candidates(ext, cell, s)
    polys = _square_polygons(ca, cb, s) if cell == "square" else _hex_polygons(ca, cb, s)
    keep = shapely.intersects(polys, ext) & ~shapely.touches(polys, ext)
    ca, cb, polys = ca[keep], cb[keep], polys[keep]
    # add any cell holding a firm that the extent test missed (touching cells)
    key_c = np.column_stack([cb, ca])
    key_p = np.unique(np.column_stack([pb, pa]), axis=0) if len(pa) else np.empty((0, 2), np.int64)
    allkeys = np.unique(np.concatenate([key_c, key_p]), axis=0)  # sorted by (b, a): S->N, W->E
    if len(allkeys) > len(key_c):
        extra = allkeys[~_rows_in(allkeys, key_c)]
        ea, eb = extra[:, 1], extra[:, 0]
        epolys = _square_polygons(ea, eb, s) if cell == "square" else _hex_polygons(ea, eb, s)
        key_c = np.concatenate([key_c, extra])
        polys = np.concatenate([polys, epolys])
    order = np.lexsort((key_c[:, 1], key_c[:, 0]))
    key_c, polys = key_c[order], polys[order]
    # counts: position of each firm's cell in the sorted key table
    pos = _rows_index(np.column_stack([pb, pa]), key_c)
    n = len(key_c)
    counts = np.bincount(pos, minlength=n).astype(np.int64)
    by_counts = np.zeros((n, n_cat), dtype=np.int64)
    if cat_codes is not None and n_cat:
        ok = cat_codes >= 0
        flat = np.bincount(pos[ok] * n_cat + cat_codes[ok], minlength=n * n_cat)
        by_counts = flat.reshape(n, n_cat).astype(np.int64)
    prefix = "sq" if cell == "square" else "hex"
    ids = [f"{prefix}_{a}_{b}" for b, a in key_c]
    return {"cell_id": ids, "n_firms": counts, "by_counts": by_counts, "geometry": polys}


def _row_codes(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    both = np.concatenate([a, b])
    lo = both.min(axis=0) if len(both) else np.zeros(2, np.int64)
    span = (both.max(axis=0) - lo + 1) if len(both) else np.ones(2, np.int64)
    ca = (a[:, 0] - lo[0]) * span[1] + (a[:, 1] - lo[1])
    cb = (b[:, 0] - lo[0]) * span[1] + (b[:, 1] - lo[1])
    return ca, cb


def _rows_in(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ca, cb = _row_codes(a, b)
    return np.isin(ca, cb)


def _rows_index(a: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Position in the sorted-by-code ``table`` of each row of ``a`` (all present)."""
    ca, ct = _row_codes(a, table)
    order = np.argsort(ct, kind="mergesort")
    return order[np.searchsorted(ct[order], ca)]


# ---------------------------------------------------------------------------------------
# H3
# ---------------------------------------------------------------------------------------


def _h3_area(res: int) -> float:
    import h3

    return float(h3.average_hexagon_area(res, unit="m^2"))


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
    import h3.api.basic_int as h3i
    import h3 as h3s

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
