"""The study area of a valley: where its cells lie, where a park may be placed at random, and
the area the report and ``summary.json`` state.

One polygon per valley, in the valley's metric CRS, made by one of three rules
(``[analysis] study_area``, or ``study_area`` of one ``[[valleys]]``):

* ``"cells"`` (the default): the cells of the analysis lattice that hold at least one firm
  (of any sector), merged, buffered by one cell size, and with the holes this leaves filled.
  The firms' own footprint at the scale of the analysis: a ring of one cell of empty land is
  kept around them (zero counts next to firms are data), a gap wider than two cells that is
  open to the outside (a bay, the sea, the land between two towns) is left out, and empty
  land enclosed by firms stays in (a park may be placed over it; a lake inside the city
  stays too: give a boundary layer to leave it out).  A concave hull
  (``shapely.concave_hull``) would also follow the firms, but through a ratio with no unit
  that has to be tuned per city; the cell rule has one length, the cell size the analysis
  already uses.
* ``"hull"``: the convex hull of the firms (the rule of earlier versions).  In a coastal
  city it spans the sea, where random park placements then land.
* a polygon layer (a file): the boundary the analyst gives (:func:`given_area`); read and
  checked by :func:`geo.io.areas.read_study_area`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyproj
import shapely

from geo.cells import grid
from geo.cells._study_area import StudyArea
from geo.errors import InputError

__all__ = ["StudyArea", "study_area", "given_area", "occupied_area", "keys_area", "cells_words", "hull_sized", "AREA_RULES",
           "BUFFER_SHARE"]

#: the rules :func:`study_area` builds from the firms (a path names a polygon layer instead)
AREA_RULES = ("cells", "hull")
#: the buffer of the ``"cells"`` rule, in cell sizes: one, less a millionth.  The cells two
#: steps away across a side of an occupied cell lie exactly one cell size from it: at exactly
#: one size they would touch the area or overlap it by a rounding error (1e-3 m² for hexagons,
#: whose corners involve sqrt(3)), and whether they join the grid would be decided by rounding
BUFFER_SHARE = 1.0 - 1e-6


def occupied_area(x: np.ndarray, y: np.ndarray, *, cell: str, size_m: float) -> Any:
    """The union of the lattice cells holding the points, buffered by one cell size, holes filled.

    Parameters
    ----------
    x, y : ndarray
        Points in metres.
    cell : {"hex", "square"}
        The lattice (:func:`geo.cells.grid.lattice_keys`); H3 cells use the hexagon lattice of
        the same spacing.
    size_m : float
        Centre-to-centre spacing of the cells; also the buffer distance.

    Returns
    -------
    shapely Polygon or MultiPolygon
        :math:`\\big(\\bigcup_{c \\ni p} c\\big) \\oplus B(0, b s)` without its holes, with
        :math:`b` = :data:`BUFFER_SHARE` (one, less a millionth): a square of side :math:`k s`
        becomes :math:`(k s)^2 + 4 k b s^2 + \\pi b^2 s^2` (the buffer's corners are polygons of
        8 segments per quarter circle, so :math:`\\pi` is :math:`16 \\sin(\\pi/16) \\approx
        3.1214` here).
    """
    lattice = "square" if cell == "square" else "hex"
    a, b = grid.lattice_keys(np.asarray(x, dtype=float), np.asarray(y, dtype=float), lattice, float(size_m))
    return keys_area(a, b, cell=lattice, size_m=size_m)


def keys_area(a: np.ndarray, b: np.ndarray, *, cell: str, size_m: float) -> Any:
    """:func:`occupied_area` from the lattice keys of the points (the dask engine counts keys).

    ``a, b``: :func:`geo.cells.grid.lattice_keys` of the points (repeats allowed) on the
    ``"hex"`` or ``"square"`` lattice of spacing ``size_m``.
    """
    ka, kb = _unique_keys(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
    polys = (grid._square_polygons if cell == "square" else grid._hex_polygons)(ka, kb, float(size_m))
    # the cells share their vertices bit for bit: a coverage union, then one buffer.  The holes
    # are filled: land enclosed by firms is part of the city (a park may be placed over an
    # empty patch), only the gaps open to the outside (a bay, the land between two towns) are
    # left out.  Filled before the buffer too (the same polygon: the buffer of a hole's ring
    # lies in the filled buffer), which makes the buffer 30 times faster for 70,000 cells
    grown = shapely.buffer(_filled(shapely.coverage_union_all(polys)), float(size_m) * BUFFER_SHARE, quad_segs=8)
    return _filled(grown)


def _unique_keys(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct pairs (a, b), sorted by a then b: the rows of ``np.unique(np.column_stack([a, b]),
    axis=0)``, from one integer code per pair (``np.unique`` over rows sorts them as bytes, 20 times
    slower for a million points)."""
    if not len(a):
        return a, b
    a_lo, b_lo = int(a.min()), int(b.min())
    span_b = int(b.max()) - b_lo + 1
    n_box = (int(a.max()) - a_lo + 1) * span_b
    if n_box >= 2**62:  # codes would overflow: rows as they are
        keys = np.unique(np.column_stack([a, b]), axis=0)
        return keys[:, 0], keys[:, 1]
    code = (a - a_lo) * span_b + (b - b_lo)
    if n_box <= max(4 * len(code), 1 << 20):  # a flag per box cell: no sort
        present = np.zeros(n_box, dtype=bool)
        present[code] = True
        code = np.flatnonzero(present)
    else:
        code = np.unique(code)
    return code // span_b + a_lo, code % span_b + b_lo


def _filled(geom: Any) -> Any:
    """``geom`` without its holes (the union of its parts' exteriors)."""
    return shapely.union_all(shapely.polygons(shapely.get_exterior_ring(shapely.get_parts(geom))))


def hull_sized(size_rule: dict) -> dict:
    """The size record of a ``"cells"`` area whose automatic size was chosen on the convex hull
    (its ``extent_area_m2`` is the hull's): says so in ``sized_on``."""
    if "extent_area_m2" not in size_rule:  # a size given by the user
        return dict(size_rule)
    return {**size_rule, "sized_on": "the convex hull of the firms (extent_area_m2); the cells then cover the study area"}


def cells_words(cell: str, spacing: float) -> str:
    """The ``"cells"`` rule in plain words, with its cell size."""
    kind = f"hexagons of {spacing:,.0f} m" if cell == "h3" else f"{cell}, {spacing:,.0f} m"
    return f"cells holding firms ({kind}), buffered by one cell, holes filled"


def study_area(firms: Any, *, rule: str = "cells", cell: str = "hex", size: str | float | int = "auto",
               epsg: Any = None) -> StudyArea:
    """The study area of a set of firms by a rule (see the module's docstring).

    Parameters
    ----------
    firms : geopandas.GeoDataFrame or geo.points.PointFrame
        Firm points with a CRS (all sectors: the area is where firms are).
    rule : {"cells", "hull"}, default "cells"
        The union of the cells holding firms buffered by one cell size, or the convex hull.
    cell, size, epsg
        As :func:`geo.cells.grid.aggregate` takes them: the cells the rule uses are the
        analysis' own.  ``size="auto"`` is chosen on the convex hull of the firms (the
        rule of :func:`~geo.cells.grid.aggregate`) and recorded, so that
        ``aggregate(firms, extent=area)`` keeps it.

    Returns
    -------
    StudyArea

    Examples
    --------
    >>> import geopandas as gpd, shapely, numpy as np
    >>> x = np.r_[np.arange(500, 3000, 1000), np.arange(40500, 43000, 1000)]  # two blocks of 3 x 3 cells
    >>> pts = shapely.points(np.repeat(x, 3), np.tile([500, 1500, 2500], 6))
    >>> firms = gpd.GeoDataFrame(geometry=pts, crs=32650)
    >>> round(study_area(firms, cell="square", size=1000).area_km2, 2)  # 2 × (9 + 12 + 3.12)
    48.24
    >>> round(study_area(firms, rule="hull", cell="square", size=1000).area_km2, 2)  # 42 km × 2 km
    84.0
    """
    if rule not in AREA_RULES:
        msg = f"`rule` must be one of {', '.join(map(repr, AREA_RULES))} (or give a polygon layer); {rule!r} was given."
        raise InputError(msg)
    if cell not in grid.CELL_KINDS:
        msg = f"`cell` must be one of {', '.join(map(repr, grid.CELL_KINDS))}; {cell!r} was given."
        raise InputError(msg)
    gdf = grid._check_firms(firms)
    x, y, missing, _src, metric = grid._metric_points(gdf, epsg)
    if not len(x):
        msg = "No firm has a location; a study area cannot be drawn around them."
        raise InputError(msg)
    size_m, size_rule, hull, hull_rule = grid._plan(x, y, cell=cell, size=size)
    size_value: float | int = float(size_m)
    spacing = float(size_m)
    if cell == "h3":
        size_value, size_rule = grid._h3_resolution(size, float(size_m), size_rule, float(hull.area))
        spacing = grid._h3_spacing(int(size_value))
    crs = metric.to_string()
    if rule == "hull":
        return StudyArea(hull, crs, "hull", hull_rule, cell, size_value, spacing, size_rule)
    geom = occupied_area(x, y, cell=cell, size_m=spacing)
    return StudyArea(geom, crs, "cells", cells_words(cell, spacing), cell, size_value, spacing, hull_sized(size_rule))


def given_area(layer: Any, *, metric_crs: Any, source: str | None = None) -> StudyArea:
    """The study area of a polygon layer: the union of its polygons in ``metric_crs``.

    Parameters
    ----------
    layer : geopandas.GeoDataFrame or GeoSeries
        Polygons with a CRS (:func:`geo.io.areas.read_study_area` reads and checks a file).
    metric_crs : str, int or pyproj.CRS
        The valley's metric CRS.
    source : str, optional
        The file it came from (recorded).

    Returns
    -------
    StudyArea
        ``rule="file"``; the cells are sized on its area (``size`` None).
    """
    crs = pyproj.CRS.from_user_input(metric_crs)
    geoms = np.asarray(layer.to_crs(crs).geometry.values)
    geom = shapely.union_all(shapely.make_valid(geoms))
    polys = shapely.get_parts(geom)
    polys = polys[np.isin(shapely.get_type_id(polys), (3, 6))]
    geom = shapely.union_all(polys)
    if geom.is_empty or not geom.area > 0 or not math.isfinite(geom.area):
        msg = f"The study area{f' {source!r}' if source else ''} has no area in {crs.to_string()}; give polygons."
        raise InputError(msg)
    n = len(geoms)
    name = source.replace("\\", "/").rsplit("/", 1)[-1] if source else "layer"
    words = f"polygon layer {name} ({n} polygon{'s' if n != 1 else ''})"
    return StudyArea(geom, crs.to_string(), "file", words, source=source)
