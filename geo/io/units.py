"""Counts on given units: a polygon layer of districts, a GeoTIFF of gridded counts, or a CSV of
grid-cell centres with a cell size (``[cells]`` of the config, ``geo run`` without firm points).

Analysts often hold counts rather than geocoded firms: establishments per district from a
yearbook or the economic census, or the Gridded Establishment Dataset (Dong et al. 2021:
0.01° cells, one band per year).  :func:`read_units` reads them into one GeoDataFrame of
units, as the firm reader reads firms: every feature (row, raster cell with data) is either a
unit or a recorded rejection with its 1-based row number and the reason
(``attrs["rejects"]``); ``units_read = units_loaded + units_rejected`` in
``attrs["load_report"]``.  GeoTIFF cells that are nodata in every band are not units (outside
the data's coverage): they are counted (``nodata_cells``), not rejected.  Multipart units are
kept whole and listed.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo import crs as _crs
from geo._words import suggest
from geo.errors import ColumnError, CRSError, DataFileError, InputError
from geo.io._text import (
    _col_empty,
    _col_numeric,
    _find_column,
    _Raw,
    _read_any_table,
    check_file,
    column_text,
    raw_from_frame,
)

__all__ = ["RASTER_SUFFIXES", "UNIT_KINDS", "UNIT_REJECT_REASONS", "read_units", "unit_columns"]

log = logging.getLogger(__name__)

#: reason key -> what it means (``rejects.csv``, the report)
UNIT_REJECT_REASONS = {
    "empty_geometry": "the unit has no geometry, or an empty one",
    "not_polygon": "the unit's geometry is not a polygon (a point or a line)",
    "missing_centre": "the cell centre's x or y is empty or not a number",
    "missing_count": "a count is empty",
    "non_numeric_count": "a count is not a number",
    "negative_count": "a count is negative",
    "nodata_some_years": "the GeoTIFF cell is nodata in some of the years' bands but not in all",
    "missing_valley": "the unit's valley is empty",
    "bad_denominator": "the rate's denominator is empty, not a number, or not above 0",
}

#: GeoTIFF suffixes (a raster of counts: one band, or one band per year)
RASTER_SUFFIXES = (".tif", ".tiff")

#: how the units were given: the report's "Input" line names them
UNIT_KINDS = {"vector": "polygons", "raster": "grid cells of a GeoTIFF", "centres": "grid cells from their centres (CSV)"}

_MAX_RASTER_CELLS = 2_000_000  # data cells of one GeoTIFF read as polygons (clip a national raster to the study area)

_CENTRE_X = ("lon", "lng", "longitude", "x", "经度", "x_centre", "x_center")
_CENTRE_Y = ("lat", "latitude", "y", "纬度", "y_centre", "y_center")


def _year_columns(columns: list[str], pattern: str | None) -> dict[int, str]:
    """``{year: column}`` of the columns matching ``pattern`` ("optics_{year}"), by year."""
    if pattern is None:
        return {}
    head, _, tail = pattern.partition("{year}")
    rx = re.compile("^" + re.escape(head) + r"(\d{4})" + re.escape(tail) + "$")
    found = {int(m.group(1)): c for c in columns if (m := rx.match(c))}
    if not found:
        msg = (f"[cells] year_columns = {pattern!r} matches no column; the columns are {columns}. Write the pattern "
               f"with {{year}} where the four-digit year stands (\"optics_{{year}}\" for optics_2005, optics_2006 ...).")
        raise ColumnError(msg)
    return dict(sorted(found.items()))


def _count_column(columns: list[str], given: str | None, years: dict[int, str], path: Path) -> str:
    if given is not None:
        if given not in columns:
            msg = (f"[cells] count_column {given!r} is not a column of '{path.name}'; its columns are {columns}. "
                   "Name the column of the target sector's counts.")
            raise ColumnError(msg)
        return given
    if years:
        return years[max(years)]
    msg = (f"[cells] count_column is needed: which column of '{path.name}' holds the counts? Its columns are "
           f"{columns}. Or give year_columns = \"<name>_{{year}}\" (the last year is then the count).")
    raise ColumnError(msg)


def _to_wgs84(geoms, layer_crs, crs: Any, path: Path, *, kind: str) -> tuple[Any, str, str | None]:
    """The geometries in EPSG:4326; (geometries, the CRS read, the system converted from or None)."""
    import geopandas as gpd
    import pyproj

    given = _crs.parse_crs(crs) if crs is not None else None
    system = given if isinstance(given, str) and given in ("gcj02", "bd09") else None
    if layer_crs is None:
        if given is None:
            msg = (f"The {kind} '{path.name}' has no coordinate system: set [cells] crs (\"wgs84\", \"gcj02\" for Amap/"
                   "Tencent coordinates, \"bd09\" for Baidu, or an EPSG code such as 4490 or 32650).")
            raise CRSError(msg)
        layer_crs = "EPSG:4326" if isinstance(given, str) else given
    elif given is not None and system is None:
        want = pyproj.CRS.from_user_input("EPSG:4326" if isinstance(given, str) else given)
        if not pyproj.CRS.from_user_input(layer_crs).equals(want):
            msg = (f"[cells] crs = {crs!r} but the {kind} '{path.name}' says it is in "
                   f"{pyproj.CRS.from_user_input(layer_crs).to_string()}: remove [cells] crs (the file's own is used) or "
                   "fix the file's coordinate system.")
            raise CRSError(msg)
    src = pyproj.CRS.from_user_input(layer_crs)
    if system is not None and not src.is_geographic:
        msg = (f"[cells] crs = {crs!r} converts GCJ-02/BD-09 longitudes and latitudes, but '{path.name}' is in the "
               f"projected {src.to_string()}: remove [cells] crs.")
        raise CRSError(msg)
    series = gpd.GeoSeries(geoms, crs=src)
    ok = ~(series.isna() | series.is_empty).to_numpy()
    if ok.any():
        x0, y0, x1, y1 = series[ok].total_bounds
        if src.is_geographic and not (-180 <= x0 and x1 <= 180 and -90 <= y0 and y1 <= 90):
            msg = (f"The coordinates of '{path.name}' span x {x0:,.0f} to {x1:,.0f} and y {y0:,.0f} to {y1:,.0f}: not "
                   f"longitudes and latitudes, though the {kind} says {src.to_string()}. Set [cells] crs to the real "
                   "coordinate system (an EPSG code such as 32650) or fix the file's.")
            raise CRSError(msg)
    out = series.to_crs("EPSG:4326")
    if system is not None:
        out = _crs.transform_geometries(out, system)
    return out, src.to_string(), system


def _read_vector(p: Path, layer: str | int | None) -> tuple[_Raw, str]:
    import pyogrio

    from geo.io._text import layer_names

    layers = layer_names(p)
    if layer is None and len(layers) > 1:
        msg = f"'{p.name}' has {len(layers)} layers {layers}: say which holds the units with [cells] layer = \"...\"."
        raise InputError(msg)
    if layer is not None and str(layer) not in layers and not isinstance(layer, int):
        msg = f"'{p.name}' has no layer {layer!r}; its layers are {layers}."
        raise InputError(msg)
    try:
        gdf = pyogrio.read_dataframe(p, layer=layer)
    except Exception as exc:
        msg = f"Cannot read '{p}' as a vector layer ({exc}). Check the file opens in QGIS."
        raise DataFileError(msg) from None
    frame = pd.DataFrame(gdf.drop(columns="geometry", errors="ignore"))
    geometry = gdf.geometry.values if "geometry" in gdf else np.full(len(gdf), None, dtype=object)
    raw = raw_from_frame(frame, {"format": "vector"}, geometry, gdf.crs)
    return raw, (str(layer) if layer is not None else (layers[0] if layers else ""))


def _centres(raw: _Raw, p: Path, *, lon: str | None, lat: str | None, cell_size: float | None):
    """Square cells of side ``cell_size`` around the centres of a CSV; (geometries, rows without a centre)."""
    import shapely

    if cell_size is None:
        msg = (f"'{p.name}' is a table of cell centres: give the cells' side with [cells] cell_size (0.01 for the "
               "0.01° cells of the Gridded Establishment Dataset, in the units of [cells] crs).")
        raise InputError(msg)
    xc = _find_column(raw.columns, lon, _CENTRE_X, "longitude", p)
    yc = _find_column(raw.columns, lat, _CENTRE_Y, "latitude", p)
    x, y = _col_numeric(raw.cols[xc]), _col_numeric(raw.cols[yc])
    bad = ~(np.isfinite(x) & np.isfinite(y))
    h = cell_size / 2
    geoms = shapely.box(x - h, y - h, x + h, y + h)
    geoms[bad] = None
    return geoms, bad, (xc, yc)


def _raster_units(p: Path, *, band_years: tuple, count_column: str | None, crs: Any):
    """A GeoTIFF's cells as square polygons with one count column per band."""
    import rasterio
    import shapely

    try:
        src = rasterio.open(p)
    except Exception as exc:
        msg = f"Cannot read '{p}' as a GeoTIFF ({exc}). Check the file opens in QGIS."
        raise DataFileError(msg) from None
    with src:
        nb = src.count
        if band_years and len(band_years) != nb:
            msg = (f"[cells] band_years lists {len(band_years)} years but '{p.name}' has {nb} band(s): give one year per "
                   "band, in band order.")
            raise InputError(msg)
        if not band_years and nb > 1:
            msg = (f"'{p.name}' has {nb} bands: say which year each holds with [cells] band_years = [2005, 2006, ...] "
                   "(one year per band, in band order).")
            raise InputError(msg)
        t = src.transform
        if t.b != 0 or t.d != 0:
            msg = f"'{p.name}' is a rotated raster; warp it to a north-up grid first (gdalwarp)."
            raise InputError(msg)
        data = src.read(masked=True)
        layer_crs = src.crs.to_wkt() if src.crs is not None else None
        height, width = src.height, src.width
    names = [str(y) for y in band_years] if band_years else ["count"]
    nodata = np.ma.getmaskarray(data) | ~np.isfinite(np.ma.getdata(data))
    all_nodata = nodata.all(axis=0).ravel()
    n_data = int((~all_nodata).sum())
    if n_data > _MAX_RASTER_CELLS:
        msg = (f"'{p.name}' has {n_data:,} cells with data; at most {_MAX_RASTER_CELLS:,} are read as units. Clip it to "
               "the study area first (gdalwarp -te ...).")
        raise InputError(msg)
    keep = np.flatnonzero(~all_nodata)
    rows, cols = np.divmod(keep, width)
    x0, y0 = t.c + cols * t.a, t.f + rows * t.e
    geoms = shapely.box(x0, y0 + t.e, x0 + t.a, y0)
    values = np.ma.getdata(data).reshape(nb, -1)[:, keep].astype(float)
    partial = nodata.reshape(nb, -1)[:, keep]
    frame = pd.DataFrame({"unit_id": [f"r{r}_c{c}" for r, c in zip(rows.tolist(), cols.tolist())]})
    for b, name in enumerate(names):
        frame[name] = np.where(partial[b], np.nan, values[b])
    raw = raw_from_frame(frame, {"format": "geotiff", "bands": nb, "width": width, "height": height,
                                  "cell_size": [abs(t.a), abs(t.e)], "nodata_cells": int(all_nodata.sum())},
                          geoms, layer_crs)
    if count_column is not None and count_column not in names:
        msg = (f"[cells] count_column {count_column!r} is not a band of '{p.name}': its bands are the years "
               f"{names} (band_years); name one of them, or leave count_column out (the last year).")
        raise ColumnError(msg)
    return raw, partial.any(axis=0) & ~partial.all(axis=0), names


def unit_columns(path: str | os.PathLike, *, layer: str | int | None = None) -> list[str]:
    """The attribute columns of a unit layer or table (a GeoTIFF: none), without reading its rows."""
    import pyogrio

    p = check_file(path, "Unit layer")
    if p.suffix.lower() in RASTER_SUFFIXES:
        return []
    if p.suffix.lower() in (".csv", ".tsv", ".txt"):
        from geo.io._text import table_columns

        return table_columns(p)
    return [str(f) for f in pyogrio.read_info(p, layer=layer)["fields"]]


def read_units(
    path: str | os.PathLike,
    *,
    layer: str | int | None = None,
    id_column: str | None = None,
    name_column: str | None = None,
    count_column: str | None = None,
    year_columns: str | None = None,
    band_years: tuple | list = (),
    cell_size: float | None = None,
    lon: str | None = None,
    lat: str | None = None,
    crs: Any = None,
    valley_column: str | None = None,
    denominator_column: str | None = None,
):
    """Read counts on given units: districts, a gridded count GeoTIFF, or a CSV of cell centres.

    Parameters
    ----------
    path : str or path-like
        A polygon layer (GeoPackage, Shapefile, GeoJSON), a GeoTIFF (``.tif``; one band, or
        one band per year) or a CSV/TSV of cell centres.
    layer : str or int, optional
        The layer of a multi-layer GeoPackage (an error names the layers when it is needed).
    id_column, name_column : str, optional
        The units' ids and names (default: the 1-based row number; a GeoTIFF's cells are
        ``r{row}_c{col}``).
    count_column : str, optional
        The counts analysed (the target sector's).  Default: the last year's column of
        ``year_columns`` or the last band.  For a GeoTIFF, one of the band years as text.
    year_columns : str, optional
        A pattern such as ``"optics_{year}"``: the yearly count columns (the precedence test).
    band_years : sequence of int, default ()
        GeoTIFF: the year of each band, in band order (needed for more than one band).
    cell_size : float, optional
        CSV of centres: the side of the square cells, in the units of ``crs``.
    lon, lat : str, optional
        CSV of centres: the centre columns (found automatically: ``lon``/``x``/``经度`` ...).
    crs : str, int or pyproj.CRS, optional
        The coordinate system when the file has none (a CSV: WGS84 by default); ``"gcj02"``
        or ``"bd09"`` when the coordinates come from a Chinese web map (converted to WGS84).
    valley_column : str, optional
        Which valley each unit belongs to.
    denominator_column : str, optional
        A rate's denominator (population); a value that is empty, not a number or ≤ 0 rejects
        the unit (``bad_denominator``).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per unit, in EPSG:4326: ``unit_id`` (text), ``name``, ``count`` (float),
        ``count_<year>`` per year, ``valley`` and ``denominator`` when asked, ``multipart``
        (bool), ``row`` (1-based row or cell number in the source).  ``attrs["rejects"]``:
        ``row``, ``unit_id``, ``reason`` (:data:`UNIT_REJECT_REASONS`), ``detail``;
        ``attrs["load_report"]``: ``units_read``, ``units_loaded``, ``units_rejected``,
        ``rejected_by_reason``, ``nodata_cells``, ``multipart``, ``repaired``,
        ``integer_counts``, the columns used and the CRS.

    Raises
    ------
    geo.errors.DataFileError
        The file is missing or not a layer, table or GeoTIFF.
    geo.errors.ColumnError
        A column named (or the count column) is not in the file.
    geo.errors.CRSError
        No coordinate system, or coordinates that are not what the file says.
    geo.errors.InputError
        An empty layer, a multi-layer file without ``layer``, bands without years.
    """
    import geopandas as gpd
    import shapely

    p = check_file(path, "Unit layer")
    suffix = p.suffix.lower()
    years: dict[int, str] = {}
    partial = None
    meta: dict[str, Any] = {}
    if suffix in RASTER_SUFFIXES:
        kind = "raster"
        raw, partial, bands = _raster_units(p, band_years=tuple(band_years), count_column=count_column, crs=crs)
        if band_years:
            years = {int(y): str(y) for y in band_years}
        count_col = count_column if count_column is not None else bands[-1]
        id_column, name_column = "unit_id", None
        geoms, layer_crs = raw.geometry, raw.layer_crs
        no_centre = np.zeros(raw.n, dtype=bool)
    elif suffix in (".csv", ".tsv", ".txt"):
        kind = "centres"
        raw = _read_any_table(p, encoding=None, sheet=None, what="unit table")
        geoms, no_centre, used = _centres(raw, p, lon=lon, lat=lat, cell_size=cell_size)
        meta["centre_columns"] = list(used)
        layer_crs = None
        crs = "wgs84" if crs is None else crs
    else:
        kind = "vector"
        raw, used_layer = _read_vector(p, layer)
        meta["layer"] = used_layer
        geoms, layer_crs = raw.geometry, raw.layer_crs
        no_centre = np.zeros(raw.n, dtype=bool)
    if raw.n == 0:
        msg = f"The unit layer '{p.name}' is empty: no features{' (every cell is nodata)' if kind == 'raster' else ''}."
        raise InputError(msg)
    columns = raw.columns
    if kind != "raster":
        years = _year_columns(columns, year_columns)
        count_col = _count_column(columns, count_column, years, p)
    for what, col in (("id_column", id_column), ("name_column", name_column), ("valley_column", valley_column),
                      ("denominator", denominator_column)):
        if col is not None and col not in columns:
            if kind == "raster":
                msg = (f"[cells] {what} = {col!r}: a GeoTIFF has no columns besides its bands ({p.name}: one count per "
                       "band)" + ('; denominator = "area" gives firms per km²' if what == "denominator" else "") + ".")
                raise ColumnError(msg)
            area = (' denominator = "area" (firms per km²) needs no column.' if what == "denominator"
                    and str(col).strip().lower().replace("²", "2") in ("km2", "area_km2", "sqkm", "km", "面积") else "")
            msg = (f"[cells] {what} {col!r} is not a column of '{p.name}'; its columns are {columns}.{area}"
                   f"{suggest(str(col), [str(c) for c in columns])}")
            raise ColumnError(msg)
    n = raw.n
    rows = np.arange(1, n + 1)
    reason = np.full(n, "", dtype=object)
    detail = np.full(n, "", dtype=object)

    def reject(mask: np.ndarray, why: str, text) -> None:
        new = mask & (reason == "")
        reason[new] = why
        detail[new] = text if isinstance(text, str) else np.asarray(text, dtype=object)[new]

    g = np.asarray(geoms, dtype=object)
    missing = np.array([v is None for v in g]) | no_centre
    present = ~missing
    empty = missing.copy()
    empty[present] = shapely.is_empty(g[present].astype(object))
    if kind == "centres":
        reject(no_centre, "missing_centre", "the centre's x or y is empty or not a number")
    reject(empty & ~no_centre, "empty_geometry", "no geometry" if kind != "centres" else "")
    types = np.full(n, -1)
    types[~empty] = shapely.get_type_id(g[~empty].astype(object))
    reject(~empty & ~np.isin(types, (3, 6)), "not_polygon",
           np.array([f"a {shapely.GeometryType(t).name.title()}, not a polygon" if t >= 0 else "" for t in types],
                    dtype=object))
    if partial is not None:
        reject(partial, "nodata_some_years", "nodata in some of the years' bands")
    count_cols = [count_col] + [c for c in years.values() if c != count_col]
    values: dict[str, np.ndarray] = {}
    for col in count_cols:
        v = _col_numeric(raw.cols[col])
        empty_text = _col_empty(raw.cols[col]) if kind != "raster" else np.isnan(v)
        text = np.asarray(column_text(raw.cols[col], np.arange(n)), dtype=object)
        reject(empty_text, "missing_count", f"{col} is empty")
        reject(~np.isfinite(v) & ~empty_text, "non_numeric_count",
               np.array([f"{col} = {t!r} is not a number" for t in text], dtype=object))
        reject(np.isfinite(v) & (v < 0), "negative_count", np.array([f"{col} = {t}" for t in text], dtype=object))
        values[col] = v
    if valley_column is not None:
        vtext = np.asarray(column_text(raw.cols[valley_column], np.arange(n)), dtype=object)
        reject(_col_empty(raw.cols[valley_column]), "missing_valley", f"{valley_column} is empty")
    if denominator_column is not None:
        d = _col_numeric(raw.cols[denominator_column])
        dtext = np.asarray(column_text(raw.cols[denominator_column], np.arange(n)), dtype=object)
        reject(~(np.isfinite(d) & (d > 0)), "bad_denominator",
               np.array([f"{denominator_column} = {t!r}" for t in dtext], dtype=object))
    ids = (np.asarray(column_text(raw.cols[id_column], np.arange(n)), dtype=object) if id_column is not None
           else rows.astype(str).astype(object))
    if id_column is not None:
        dup = pd.Series(ids).duplicated(keep=False).to_numpy() & (reason == "")
        if dup.any():
            shown = sorted(set(ids[dup].tolist()))[:5]
            msg = (f"[cells] id_column {id_column!r} of '{p.name}' repeats ids ({', '.join(map(repr, shown))}): the ids "
                   "must be unique; name another column or leave id_column out (the row numbers are then the ids).")
            raise InputError(msg)
    names = (np.asarray(column_text(raw.cols[name_column], np.arange(n)), dtype=object) if name_column is not None
             else ids)
    ok = reason == ""
    kept = np.flatnonzero(ok)
    # invalid polygons are repaired (make_valid, the polygonal part), multipart units kept whole
    gk = g[kept].astype(object)
    invalid = ~shapely.is_valid(gk)
    if invalid.any():
        fixed = shapely.make_valid(gk[invalid])
        gk[invalid] = [_polygonal(f) for f in fixed]
    wgs, crs_read, converted = _to_wgs84(gk, layer_crs, crs, p, kind="GeoTIFF" if kind == "raster" else
                                         ("table" if kind == "centres" else "layer"))
    frame = pd.DataFrame({"unit_id": pd.Series(ids[kept], dtype=object).astype(str).to_numpy(),
                          "name": pd.Series(names[kept], dtype=object).astype(str).to_numpy(),
                          "row": rows[kept]})
    frame["count"] = values[count_col][kept]
    for y, col in years.items():
        frame[f"count_{y}"] = values[col][kept]
    if valley_column is not None:
        frame["valley"] = vtext[kept].astype(str)
    if denominator_column is not None:
        frame["denominator"] = d[kept]
    multipart = shapely.get_num_geometries(np.asarray(wgs.values)) > 1  # a MultiPolygon of one part is not
    frame["multipart"] = multipart
    out = gpd.GeoDataFrame(frame, geometry=np.asarray(wgs.values), crs="EPSG:4326")
    rej = pd.DataFrame({"row": rows[~ok], "unit_id": pd.Series(ids[~ok], dtype=object).astype(str).to_numpy(),
                        "reason": reason[~ok], "detail": detail[~ok]})
    counts_all = np.concatenate([values[c][kept] for c in count_cols]) if len(kept) else np.array([])
    by_reason = rej["reason"].value_counts()
    report = {
        "file": str(p),
        "input_kind": "given units",
        "unit_kind": UNIT_KINDS[kind],
        "format": raw.meta.get("format", kind),
        **meta,
        "units_read": int(n),
        "units_loaded": len(out),
        "units_rejected": len(rej),
        "rejected_by_reason": {str(k): int(v) for k, v in by_reason.items()},
        "nodata_cells": int(raw.meta.get("nodata_cells", 0)),
        "multipart": int(multipart.sum()),
        "multipart_ids": out.loc[multipart, "unit_id"].tolist()[:50],
        "repaired": int(invalid.sum()),
        "count_column": count_col,
        "year_columns": {int(y): c for y, c in years.items()},
        "integer_counts": bool(len(counts_all) and np.all(counts_all == np.round(counts_all))),
        "crs": crs_read,
        "converted_from": converted,
        "cell_size": raw.meta.get("cell_size", cell_size) if kind != "vector" else None,
        "columns_used": {"id": id_column, "name": name_column, "valley": valley_column,
                         "denominator": denominator_column},
    }
    if not len(out):
        log.info("every unit of %s was rejected", p)
    out.attrs["rejects"] = rej
    out.attrs["load_report"] = report
    return out


def _polygonal(geom):
    """The polygonal part of a repaired geometry (a GeometryCollection of polygons and lines)."""
    import shapely

    if shapely.get_type_id(geom) in (3, 6):
        return geom
    parts = [g for g in shapely.get_parts(geom) if shapely.get_type_id(g) in (3, 6)]
    return shapely.union_all(parts) if parts else geom
