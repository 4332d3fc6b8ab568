"""Geometry for the maps: rounded GeoJSON text, WGS84, bounds, hulls, merged cells, integer cell keys."""

from __future__ import annotations

import numpy as np

from geo.outputs.maps._html import _js
from geo.outputs.maps._shift import display_lonlat

__all__: list[str] = []


#: coordinates are rounded to this many decimals (~0.1 m)
_PRECISION = 6


#: polygons are simplified to this tolerance in metres (finer than a pixel at zoom 18)
_SIMPLIFY_M = 0.5


_M_PER_DEG = 111_320.0


# ----------------------------------------------------------------------------- GeoJSON
def _round_coords(c: np.ndarray) -> np.ndarray:
    """Lon/lat rows ``(n, 2)`` as drawn (shifted to GCJ-02 on Amap's tiles: ``_shift``), rounded."""
    return np.round(display_lonlat(c), _PRECISION)


def _geometries_json(geoms, *, simplify: float = 0.0) -> list[str]:
    """GeoJSON geometry strings (rounded to 6 decimals, optionally simplified first)."""
    import shapely

    arr = np.asarray(geoms)
    if simplify > 0:
        arr = shapely.simplify(arr, simplify, preserve_topology=True)
    arr = shapely.transform(arr, _round_coords)
    return shapely.to_geojson(arr).tolist() if len(arr) else []


def _feature_collection(geom_json: list[str], props: list[dict]) -> str:
    """A FeatureCollection as script-safe JSON text (geometry strings hold only numbers)."""
    feats = [f'{{"type":"Feature","geometry":{g},"properties":{_js(p)}}}' for g, p in zip(geom_json, props)]
    return '{"type":"FeatureCollection","features":[' + ",".join(feats) + "]}"


def _to_wgs84(gdf):
    if gdf.crs is None:
        from geo.errors import CRSError

        msg = "A layer of the results has no CRS; maps need one to place it (set it with gdf.set_crs(...))."
        raise CRSError(msg)
    return gdf if gdf.crs.to_epsg() == 4326 else gdf.to_crs(4326)


def _simplify_tolerance(gdf) -> float:
    """0.5 m in the units of ``gdf``'s CRS."""
    return _SIMPLIFY_M / _M_PER_DEG if gdf.crs is not None and gdf.crs.is_geographic else _SIMPLIFY_M


def _merge_cells(cells, key: str):
    """Cells of equal ``key`` merged (coverage union) into one polygon each, in the cells' CRS."""
    import geopandas as gpd
    import shapely

    geoms, values, counts = [], [], []
    for value, group in cells.groupby(key, sort=True):
        arr = np.asarray(group.geometry.values)
        try:
            merged = shapely.coverage_union_all(arr)
        except Exception:  # not a valid coverage (overlapping cells): the general union
            merged = shapely.union_all(arr)
        geoms.append(merged)
        values.append(value)
        counts.append(len(group))
    return gpd.GeoDataFrame({key: values, "n_cells": counts}, geometry=geoms, crs=cells.crs)


# ----------------------------------------------------------------------------- bounds and hulls
def _convex_hull(xy: np.ndarray):
    """``shapely.convex_hull(shapely.multipoints(xy))``: the one hull of geo.cells.grid (an (n, 2) array in)."""
    from geo.cells.grid import _convex_hull as hull

    xy = np.asarray(xy, dtype=float)
    return hull(xy[:, 0], xy[:, 1])


def _inside_box(poly, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Which points are strictly inside an axis-aligned box that lies inside the convex ``poly``.

    The box is the polygon's bounding box shrunk about its centroid until its four corners
    are inside the polygon (then, the polygon being convex, all of the box is).
    """
    import shapely

    minx, miny, maxx, maxy = poly.bounds
    c = poly.centroid
    for f in (0.7, 0.5, 0.35, 0.25):
        hw, hh = f * (maxx - minx) / 2.0, f * (maxy - miny) / 2.0
        x0, x1, y0, y1 = c.x - hw, c.x + hw, c.y - hh, c.y + hh
        if shapely.contains_xy(poly, [x0, x1, x1, x0], [y0, y0, y1, y1]).all():
            return (x > x0) & (x < x1) & (y > y0) & (y < y1)
    return np.zeros(len(x), dtype=bool)


def _robust_bounds(lonlat: np.ndarray) -> list[float] | None:
    """(west, south, east, north) of the central 99 % of the points (outliers do not zoom out)."""
    if len(lonlat) == 0:
        return None
    if len(lonlat) < 50:
        lo, hi = lonlat.min(axis=0), lonlat.max(axis=0)
    else:
        lo, hi = np.quantile(lonlat, [0.005, 0.995], axis=0)  # one partition for both
    return [float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])]


def _union_bounds(*boxes) -> list[float]:
    boxes = [b for b in boxes if b is not None and np.all(np.isfinite(b))]
    if not boxes:
        return [73.0, 18.0, 135.0, 53.0]  # China
    arr = np.asarray(boxes, dtype=float)
    w, s = arr[:, 0].min(), arr[:, 1].min()
    e, n = arr[:, 2].max(), arr[:, 3].max()
    if e - w < 1e-3:
        w, e = w - 0.005, e + 0.005
    if n - s < 1e-3:
        s, n = s - 0.005, n + 0.005
    return [float(w), float(s), float(e), float(n)]


def _gdf_bounds(gdf) -> list[float] | None:
    if gdf is None or len(gdf) == 0:
        return None
    b = _to_wgs84(gdf).total_bounds
    return [float(x) for x in b] if np.all(np.isfinite(b)) else None


# ----------------------------------------------------------------------------- integer keys
#: above this key range, :func:`_dense_unique` sorts instead of counting
_DENSE_KEYS_MAX = 1 << 25


def _dense_unique(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(key, return_inverse=True, return_counts=True)[1:]`` for non-negative integer keys.

    Counts with ``np.bincount`` (linear time) when the keys span at most
    :data:`_DENSE_KEYS_MAX` values; the distinct keys are numbered in increasing order, as
    ``np.unique`` does.
    """
    if len(key) == 0 or int(key.max()) >= _DENSE_KEYS_MAX:
        _, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
        return inv.reshape(-1), counts
    full = np.bincount(key)
    used = full > 0
    rank = np.cumsum(used) - 1
    return rank[key], full[used]


def _n_distinct(key: np.ndarray) -> int:
    """``len(np.unique(key))`` for non-negative integer keys (counted when their range is small)."""
    if len(key) == 0:
        return 0
    if int(key.max()) >= _DENSE_KEYS_MAX:
        return len(np.unique(key))
    return int(np.count_nonzero(np.bincount(key)))


def _cell_keys(x: np.ndarray, y: np.ndarray, cell: float) -> np.ndarray:
    """A non-negative integer per point, one per square cell of side ``cell`` (row-major)."""
    ix = np.floor(x / cell).astype(np.int64)
    iy = np.floor(y / cell).astype(np.int64)
    return (ix - ix.min()) * (int(iy.max() - iy.min()) + 1) + (iy - iy.min())
