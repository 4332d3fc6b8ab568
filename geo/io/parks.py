"""Reading park boundaries: columns found, geometries repaired, unusable features rejected.

A park given as a point (a point layer, or a table with longitude/latitude columns such as the
national development-zone catalogue) with an approved area becomes an approximate boundary: a
disc of that area around the point, flagged ``approximate_boundary``.
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
from geo.config import AREA_UNITS
from geo.errors import ColumnError, CRSError, DataFileError, InputError
from geo.io._columns import PARK_NAME as _PARK_NAME
from geo.io._text import (
    _EXCEL_SUFFIXES,
    _TABLE_SUFFIXES,
    _decode,
    _find_column,
    check_file,
    sniff_delimiter,
)

__all__ = ["DISC_SEGMENTS", "MAX_PARK_AREA_KM2", "approximate_discs", "read_parks"]

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- parks

#: approved-area columns (km²) of a table of park points, best first
_PARK_AREA = ("approved_area_km2", "area_km2", "核准面积")

#: units an approved-area header may name in brackets (``核准面积（公顷）``, ``核准面积(km²)``): km² per unit
_AREA_UNITS = AREA_UNITS

#: park level columns (national, provincial …)
_PARK_LEVEL = ("level", "级别")

#: the largest approved area taken as real (km²); larger values are typing or unit errors
MAX_PARK_AREA_KM2 = 2000.0

#: segments of an approximate park boundary (a disc of the approved area)
DISC_SEGMENTS = 64


_PARK_VALLEY = ("valley", "city", "region", "城市")


#: park year columns, best first: with several, the first in this order is taken (the others are named in a note)
_PARK_YEAR = ("designated", "designation_year", "year_designated", "designated_year", "designation",
              "approved_year", "approval_year", "year_approved", "approved", "approval_date", "approved_date",
              "批准年份", "批准时间", "批准设立时间", "获批年份", "获批时间", "设立年份", "设立时间",
              "established", "established_year", "year_established", "establishment_year", "成立年份", "成立时间",
              "year")
#: words in a column name that suggest a year or a date (for the warning when no year column is found)
_YEARISH = ("year", "yr", "date", "approv", "design", "establish", "found", "年", "时间", "日期")


def _pick(columns: list[str], given: str | None, candidates: tuple[str, ...], what: str, path: Path, *, required: bool):
    if given is not None:
        return _find_column(columns, given, candidates, what, path)
    hits = [c for c in columns if c.strip().lower() in candidates]
    if len(hits) > 1:
        msg = f"Several columns in '{path}' could hold the park {what}: {hits}. Say which with {what}=<column>."
        raise ColumnError(msg)
    if not hits:
        if required:
            msg = f"No park {what} column in '{path}': looked for {list(candidates)} among {columns}. Name it with {what}=<column>."
            raise ColumnError(msg)
        return None
    return hits[0]


def read_parks(
    path: str | os.PathLike,
    *,
    name: str | None = None,
    valley: str | None = None,
    designated: str | None = None,
    crs: Any = None,
    layer: str | int | None = None,
    source: str = "file",
    attributes: str | os.PathLike | None = None,
    area_column: str | None = None,
    area_unit: str | None = None,
):
    """Read science & technology park boundaries.

    Parameters
    ----------
    path : str or path-like
        Any polygon layer GDAL reads: Shapefile, GeoPackage, GeoJSON, KML.  Parks known only
        by a point (a point layer, or a CSV / Excel table with longitude and latitude columns
        found as for firms: ``lon``/``lng``/``经度``, ``lat``/``纬度``) need an approved-area
        column in km² (``approved_area_km2``, ``area_km2``, ``核准面积``): each becomes a disc
        of that area (:func:`approximate_discs`), flagged ``approximate_boundary``.  The
        national development-zone catalogue's headers are recognised (``开发区名称``,
        ``批准时间``, ``核准面积``, ``级别``).
    name, valley, designated : str, optional
        Columns holding the park name, its valley (study area) and the year it was
        designated.  Found automatically when not given (``name``/``park``/``名称``,
        ``valley``/``city``, ``designated``/``year``/``established``).  ``valley`` and
        ``designated`` are optional: without a year the precedence test is skipped.
    crs : str, int or pyproj.CRS, optional
        The layer's coordinate system: needed when the file has none, and it overrides a
        wrong ``.prj`` (a note says so); "gcj02"/"bd09" when the polygons (or points) were
        digitised on a Chinese web map.  A park table's longitude/latitude are WGS84 unless
        given.  Coordinates beyond ±180/±90 under a geographic system (projected metres
        declared as WGS84) stop with one sentence naming the likely system.
    layer : str or int, optional
        Layer of a multi-layer source (GeoPackage).
    source : {"file", "osm", "catalogue"}, default "file"
        "osm": ``path`` is an OpenStreetMap extract (``.osm.pbf``) and the parks are its named
        industrial areas and high-tech zones (:func:`geo.io.osm.read_osm_parks`; their
        ``start_date`` is the designation year).  "catalogue": ``path`` is the point layer of
        the national development-zone catalogue and ``attributes`` its ``.xlsx``
        (:func:`geo.io.catalogue.read_catalogue`: joined on the zone code or name; rows and
        points that do not pair are rejects).
    attributes : str or path-like, optional
        ``source="catalogue"``: the catalogue's attribute table (``.xlsx``).
    area_column : str, optional
        The approved-area column of park points, when its header is not one of
        ``approved_area_km2``, ``area_km2``, ``核准面积``.
    area_unit : {"km2", "ha", "平方公里", "公顷", ...}, optional
        The unit of the approved areas; by default the one the header names in brackets
        (``核准面积（公顷）``: hectares), else km².

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``name``, ``valley``, ``designated`` (nullable Int64), ``level`` and
        ``approved_area_km2`` (when a park table has them), ``approximate_boundary`` (bool),
        the other input attributes, and polygon ``geometry`` in EPSG:4326.  A park point
        without a usable approved area (missing, ≤ 0 or over :data:`MAX_PARK_AREA_KM2`) and a
        table row without coordinates are rejects.  Invalid geometries are repaired
        with :func:`shapely.make_valid` and listed in ``attrs["repairs"]``; features that
        are not polygons are rejected and listed in ``attrs["rejects"]``;
        ``attrs["load_report"]`` counts both.
    """
    import geopandas as gpd
    import pyogrio
    import shapely

    p = check_file(path, "Park boundary file")
    unnamed = 0
    joined = None
    notes: list[str] = []
    if source == "catalogue":
        from geo.io.catalogue import read_catalogue

        if attributes is None:
            msg = f"Park source \"catalogue\" needs the attribute table (.xlsx) of the points of '{p.name}': pass attributes=."
            raise InputError(msg)
        gdf = read_catalogue(p, attributes, name=name, layer=layer)
        joined = gdf.attrs.pop("catalogue")
        _check_joined(gdf, joined)
    elif source == "osm":
        from geo.io.osm import read_osm_parks

        gdf = read_osm_parks(p)
        unnamed = gdf.attrs.pop("unnamed", 0)
    elif source != "file":
        msg = f"Park source must be \"file\", \"osm\" or \"catalogue\"; {source!r} was given."
        raise InputError(msg)
    elif p.suffix.lower() in _TABLE_SUFFIXES or p.suffix.lower() in _EXCEL_SUFFIXES:
        gdf = _read_point_table(p, layer=layer)
        if crs is None:
            crs = "wgs84"  # longitude/latitude columns are degrees
    else:
        _one_layer(p, layer)
        try:
            kwargs = {} if layer is None else {"layer": layer}
            gdf = pyogrio.read_dataframe(p, **kwargs)
        except Exception as exc:
            msg = f"Cannot read '{p}' as a polygon layer ({exc}). Check the file opens in QGIS."
            raise DataFileError(msg) from None
    if gdf.attrs.get("missing_coordinates") and gdf.geometry.isna().all():
        msg = (f"'{p.name}' has no row with both a longitude ({gdf.attrs['lon_column']!r}) and a latitude "
               f"({gdf.attrs['lat_column']!r}) that are numbers; no park can be placed.")
        raise InputError(msg)
    if len(gdf) == 0:
        cols = [c for c in gdf.columns if c != "geometry"]
        what = (f"its header ({', '.join(map(str, cols[:8]))}) has no row below it" if cols else "it holds no feature")
        msg = f"'{p.name}' has no park: {what}. Check the export or the path."
        raise InputError(msg)
    if "geometry" not in gdf or gdf.geometry.isna().all():
        msg = f"'{p}' holds no features with geometry; park boundaries must be polygons."
        raise InputError(msg)
    columns = [c for c in gdf.columns if c != "geometry"]
    name_col = _pick(columns, name, _PARK_NAME, "name", p, required=True)
    valley_col = _pick(columns, valley, _PARK_VALLEY, "valley", p, required=False)
    year_hits = sorted((c for c in columns if c.strip().lower() in _PARK_YEAR), key=lambda c: _PARK_YEAR.index(c.strip().lower())) \
        if designated is None else []
    year_col = _pick(columns, designated, _PARK_YEAR, "designated", p, required=False) if designated is not None else \
        (year_hits[0] if year_hits else None)

    system = None if crs is None else _crs.parse_crs(crs)
    if gdf.crs is None and system is None:
        msg = (f"'{p.name}' has no coordinate reference system (no .prj?){_what_coordinates(gdf.geometry.values)}. "
               "Set [parks] crs = \"wgs84\" (or \"gcj02\", \"bd09\", or the projection's EPSG code such as "
               "\"EPSG:32650\"); in Python, read_parks(..., crs=...).")
        raise CRSError(msg)

    geoms = gdf.geometry.values
    n = len(gdf)
    rows = np.asarray(gdf.index, dtype=int) if joined is not None else np.arange(1, n + 1)
    _check_degrees(geoms, system if system is not None else gdf.crs, p, file_crs=gdf.crs)
    gtype = np.asarray(shapely.get_type_id(geoms))
    missing = np.asarray(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    is_poly = np.isin(gtype, (3, 6)) & ~missing
    area_units = {c: u for c in columns if (u := _area_header(c)) is not None}
    area_hits = sorted(area_units, key=lambda c: _PARK_AREA.index(_UNIT_SUFFIX.sub("", c.strip().lower())))
    is_point = (gtype == 0) & ~missing
    area_col = area_hits[0] if area_hits and is_point.any() else None  # a polygon layer's area column stays as it is
    if area_column is not None:
        area_col = _find_column(columns, area_column, (), "approved area ([parks] area_column)", p)
        area_hits = [area_col]
    if area_col is not None:
        area_units[area_col] = _area_unit(area_col, area_unit, p)
    level_col = next((c for c in columns if c.strip().lower() in _PARK_LEVEL), None)
    disc_ok = np.zeros(n, dtype=bool)
    area_km2 = np.full(n, np.nan)
    reject_rows = [] if joined is None else gdf.attrs.pop("rejects").to_dict(orient="records")
    n_unjoined = len(reject_rows)  # a catalogue's rows and points that did not pair
    if area_col is not None:
        area_km2 = _area_numbers(gdf[area_col]) * area_units[area_col]
        disc_ok = is_point & np.isfinite(area_km2) & (area_km2 > 0) & (area_km2 <= MAX_PARK_AREA_KM2)
    unit = " km²" if area_col is None or area_units[area_col] == 1.0 else ""  # else the header names the unit
    no_xy = gdf.attrs.get("missing_coordinates")
    for i in np.flatnonzero(~is_poly & ~disc_ok):
        nm = str(gdf[name_col].iloc[i])
        if missing[i]:
            detail = ("longitude or latitude empty or not a number" if no_xy is not None else "feature has no geometry")
            reason = "missing_coordinates" if no_xy is not None else "missing_geometry"
        elif is_point[i] and area_col is not None:
            a = area_km2[i]
            raw = gdf[area_col].iloc[i]
            if not np.isfinite(a):
                reason, detail = "missing_area", f"approved area ({area_col}) {_shown(raw)} is not a number of km²"
            elif a <= 0:
                reason, detail = "bad_area", f"approved area ({area_col}) {_shown(raw)}{unit} is not positive"
            else:
                reason, detail = "bad_area", (f"approved area ({area_col}) {_shown(raw)}{unit} is larger than "
                                              f"{MAX_PARK_AREA_KM2:,.0f} km² (a unit or typing error?)")
        else:
            reason, detail = "not_a_polygon", (f"geometry is {geoms[i].geom_type}; parks must be polygons"
                                               + (" (or points with an approved area)" if is_point[i] else ""))
        if joined is not None:
            detail = f"row {int(rows[i])} of {Path(joined['attributes']).name}: {detail}"
        reject_rows.append({"row": int(rows[i]), "name": nm, "reason": reason, "detail": detail})
    if not (is_poly | disc_ok).any():
        kinds = pd.Series([("no geometry" if m else g.geom_type) for g, m in zip(geoms, missing)]).value_counts()
        found = ", ".join(f"{k} ({v})" for k, v in kinds.items())
        if is_point.any() and area_col is not None:
            why = "; ".join(f"row {r['row']}: {r['detail']}" for r in reject_rows[:3])
            msg = (f"'{p.name}' holds no usable park: its {n} feature(s) are {found}, and no point has an approved area "
                   f"between 0 and {MAX_PARK_AREA_KM2:,.0f} km² in column {area_col!r} ({why}).")
        else:
            msg = (f"'{p.name}' holds no polygon, so no park can be tested: its {n} feature(s) are {found}. Park boundaries "
                   "must be polygons (a table of park points or lines has no area to overlay with the clusters)"
                   + (f"; park points become approximate discs with an approved-area column (km²), but none of "
                      f"{list(_PARK_AREA)} (a unit in brackets may follow: km², 平方公里, 公顷, ha) is among its columns {columns}." if is_point.any() else "."))
        raise InputError(msg)
    keep = is_poly | disc_ok
    out = gdf.loc[keep].copy()
    out.index = pd.Index(rows[keep], name="row")
    geoms = out.geometry.values
    approximate = disc_ok[keep]

    valid = np.asarray(shapely.is_valid(geoms))
    repairs = []
    if (~valid).any():
        reasons = shapely.is_valid_reason(geoms)
        fixed = shapely.make_valid(geoms[~valid])
        fixed = np.array([_polygonal(g) for g in fixed], dtype=object)
        for r, nm, why in zip(out.index[~valid], out[name_col].to_numpy()[~valid], np.asarray(reasons)[~valid]):
            repairs.append({"row": int(r), "name": str(nm), "problem": str(why), "action": "repaired with shapely.make_valid"})
        geoms = geoms.copy()
        geoms[~valid] = fixed

    if isinstance(system, str) and system in ("gcj02", "bd09"):
        geoms = _crs.transform_geometries(geoms, system)
        src_crs = "EPSG:4326"
    elif system is not None:  # a declared system overrides the file's .prj
        src_crs = "EPSG:4326" if system == "wgs84" else system
        if gdf.crs is not None and not gdf.crs.equals(src_crs):
            notes.append(f"{p.name}: coordinates read as [parks] crs = {crs!r}, not as the file's {gdf.crs.to_string()}")
    else:
        src_crs = gdf.crs
    wgs = gpd.GeoSeries(np.asarray(geoms, dtype=object), index=out.index, crs=src_crs).to_crs("EPSG:4326")
    if approximate.any():
        wgs[approximate] = approximate_discs(wgs[approximate], area_km2[keep][approximate])

    result = gpd.GeoDataFrame(
        {
            "name": out[name_col].astype(str).str.strip().to_numpy(),
            "valley": (out[valley_col].astype(str).str.strip().to_numpy() if valley_col else pd.array([pd.NA] * len(out), dtype="string")),
        },
        index=out.index,
        geometry=wgs.values,
        crs="EPSG:4326",
    )
    year_problems = []
    if len(year_hits) > 1:
        notes.append(f"{p.name}: designation years read from column {year_col!r}; {year_hits[1:]} could hold them too "
                     "(name one with [parks] designated = \"...\")")
    if year_col is not None:
        from geo.io._dates import parse_dates

        parsed = parse_dates(out[year_col], min_year=1900, label="designation years")  # no year after next year
        for r, v, why in zip(out.index[parsed.bad], out[year_col][parsed.bad], parsed.reasons[parsed.bad]):
            year_problems.append({"row": int(r), "value": str(v), "reason": str(why)})
            notes.append(f"park {str(out.loc[r, name_col])!r} (row {int(r)} of {p.name}): designation year {str(v)!r} "
                         f"not understood ({why}); its precedence test is skipped")
        result["designated"] = pd.array([int(y) if np.isfinite(y) else pd.NA for y in parsed.year], dtype="Int64")
    else:
        result["designated"] = pd.array([pd.NA] * len(out), dtype="Int64")
        yearish = [c for c in columns if c not in (name_col, valley_col) and any(w in c.lower() for w in _YEARISH)]
        notes.append(f"{p.name}: no designation year column found"
                     + (f"; candidates: {yearish}: name one with [parks] designated = \"...\"" if yearish else
                        " (looked for designated, year, approved_year, 批准年份 …)")
                     + "; without a year the precedence test is skipped")
        log.warning(notes[-1])
    if level_col is not None:
        result["level"] = out[level_col].astype("string").str.strip().to_numpy()
    if area_col is not None:
        result["approved_area_km2"] = area_km2[keep]
    result["approximate_boundary"] = approximate
    for c in columns:
        if c not in (name_col, valley_col, year_col, level_col, area_col) and c not in result.columns:
            result[c] = out[c].to_numpy()
    result = result[["name", "valley", "designated", *[c for c in result.columns if c not in ("name", "valley", "designated", "geometry")], "geometry"]]
    if approximate.any():
        notes.append(f"{p.name}: {int(approximate.sum())} park(s) given as points have an approximate boundary: a disc of "
                     f"the approved area ({area_col!r}, {'km²' if area_units[area_col] == 1.0 else 'converted to km²'}) "
                     "around the point; results that depend on the outline say so")
        if area_units[area_col] != 1.0:
            notes.append(f"{p.name}: approved areas of column {area_col!r} converted to km² (× {area_units[area_col]:g})")
        if len(area_hits) > 1:
            notes.append(f"{p.name}: approved areas read from column {area_col!r}; {area_hits[1:]} could hold them too")

    if joined is not None and joined["skipped_rows"]:
        sk = joined["skipped_rows"]
        notes.append(f"{Path(joined['attributes']).name}: {len(sk)} row(s) that are not zones skipped (a heading or a note "
                     f"in one cell, or the header repeated): " + "; ".join(f"row {s['row']} {s['text']!r}" for s in sk[:5])
                     + (" …" if len(sk) > 5 else ""))
    if unnamed:
        notes.append(f"{p.name}: {unnamed:,} industrial areas without a name were left out (a park is tested by name)")
    dup_names = result["name"][result["name"].duplicated()].tolist()
    if dup_names and joined is not None:
        notes.append(f"{p.name}: zone name(s) {sorted(set(dup_names))} occur more than once; each is kept "
                     f"(joined on the {joined['join']}: {joined['join_columns'][0]!r})")
    report = {
        "file": str(p),
        "name_column": name_col,
        "valley_column": valley_col,
        "designated_column": year_col,
        "area_column": area_col,
        "level_column": level_col,
        "lon_column": gdf.attrs.get("lon_column"),
        "lat_column": gdf.attrs.get("lat_column"),
        "approximate_boundaries": int(approximate.sum()),
        "crs_in": str(system) if system is not None else (gdf.crs.to_string() if gdf.crs else None),
        "features_read": int(n) + n_unjoined,
        "parks_kept": int(len(result)),
        "features_rejected": len(reject_rows),
        "geometries_repaired": len(repairs),
        "missing_designation_year": int(result["designated"].isna().sum()),
        "bad_designation_year": year_problems,
        "duplicate_names": dup_names,
        "notes": notes,
        **({"source": source} if source != "file" else {}),
        **({"catalogue": joined} if joined is not None else {}),
    }
    result.attrs["load_report"] = report
    result.attrs["rejects"] = pd.DataFrame(reject_rows, columns=["row", "name", "reason", "detail"])
    result.attrs["repairs"] = pd.DataFrame(repairs, columns=["row", "name", "problem", "action"])
    if repairs:
        log.warning("repaired %d invalid park geometries in %s", len(repairs), p)
    return result


def approximate_discs(points, area_km2) -> Any:
    """Discs of the given areas around points: the approximate boundaries of parks known by a point.

    Each point is projected to the metric CRS of its place (:func:`geo.crs.to_metric`: the UTM
    zone of the points, one zone at a time), buffered by the radius of a circle of the area
    with :data:`DISC_SEGMENTS` segments, and projected back.

    .. math:: r = \\sqrt{A / \\pi}

    Parameters
    ----------
    points : geopandas.GeoSeries
        Points in EPSG:4326.
    area_km2 : array_like of float
        The approved area of each park, km² (positive).

    Returns
    -------
    geopandas.GeoSeries
        Polygons in EPSG:4326, indexed like ``points``.  A 64-gon has 0.16 % less area than
        its circle; the UTM scale error adds at most about 0.2 % at a zone's edge.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from pyproj import Geod
    >>> disc = approximate_discs(gpd.GeoSeries(shapely.points([114.4], [30.5]), crs=4326), [10.0])
    >>> round(abs(Geod(ellps="WGS84").geometry_area_perimeter(disc.iloc[0])[0]) / 1e6, 2)
    9.98
    """
    import geopandas as gpd

    pts = gpd.GeoSeries(points).to_crs("EPSG:4326")
    radius = np.sqrt(np.asarray(area_km2, dtype=float) * 1e6 / np.pi)
    zones = np.array([_crs.utm_crs_for([x], [y]).to_epsg() for x, y in zip(pts.x, pts.y)])
    out = gpd.GeoSeries([None] * len(pts), index=pts.index, crs="EPSG:4326")
    for zone in np.unique(zones):
        at = zones == zone
        metric = _crs.to_metric(gpd.GeoDataFrame(geometry=pts[at]))
        discs = metric.geometry.buffer(radius[at], quad_segs=DISC_SEGMENTS // 4)
        out[at] = discs.to_crs("EPSG:4326").values
    return out


def _check_joined(gdf, joined: dict) -> None:
    """Stop when no zone of a catalogue's point layer pairs with a row of its table."""
    if len(gdf):
        return
    rj = gdf.attrs["rejects"]
    pts, tab = Path(joined["points"]).name, Path(joined["attributes"]).name
    t_col, p_col = joined["join_columns"]

    def some(reason: str) -> list[str]:
        keys = (re.search(f" {joined['join']} '(.*?)'", d) for d in rj.loc[rj["reason"] == reason, "detail"])
        return [k.group(1) for k in keys if k][:3]

    msg = (f"No zone of '{pts}' pairs with a row of '{tab}' on the {joined['join']} (columns {p_col!r} and {t_col!r}): "
           f"the points have {joined['join']}s such as {some('no_attributes') or '(none)'}, the table "
           f"{some('no_point') or '(none)'}. Are the two files the same catalogue?")
    raise InputError(msg)


def _one_layer(p: Path, layer: str | int | None) -> None:
    """Stop when a file of several layers (a GeoPackage, an .osm.pbf) is read without ``[parks] layer``: the first
    layer is not necessarily the parks, and reading it silently would test the wrong polygons."""
    from geo.io._text import layer_names

    layers = layer_names(p, kind="a polygon layer")
    if layer is None and len(layers) > 1:
        osm = (" It looks like an OpenStreetMap extract: [parks] source = \"osm\" reads its named industrial areas and "
               "high-tech zones." if p.name.lower().endswith((".osm.pbf", ".pbf", ".osm")) else "")
        msg = (f"'{p.name}' has {len(layers)} layers ({', '.join(layers)}): say which holds the parks with "
               f"[parks] layer = \"...\" (read_parks(..., layer=...) in Python).{osm}")
        raise InputError(msg)
    if layer is not None and not isinstance(layer, int) and str(layer) not in layers:
        msg = f"'{p.name}' has no layer {layer!r}; its layers are: {', '.join(layers)}.{suggest(str(layer), layers)}"
        raise InputError(msg)


def _what_coordinates(geoms) -> str:
    """``: its coordinates span x ..., y ...: projected metres, not degrees`` (or ``: longitude/latitude degrees``)."""
    import shapely

    coords = shapely.get_coordinates(geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))])
    if not len(coords):
        return ""
    x, y = coords[:, 0], coords[:, 1]
    def num(v: float) -> str:
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.6g}"

    ranges = f"x {num(np.min(x))} to {num(np.max(x))}, y {num(np.min(y))} to {num(np.max(y))}"
    if np.all(np.abs(x) <= 180) and np.all(np.abs(y) <= 90):
        return f"; its coordinates ({ranges}) look like longitude/latitude degrees"
    mx, my = np.median(np.abs(x)), np.median(np.abs(y))
    if 1e4 <= mx < 1e8 and 1e4 <= my < 1e7:
        lat = np.median(y) / 110_950.0
        about = f": a northing of {np.median(y):,.0f} m is about {lat:.0f}° from the equator" if 0 < lat < 90 else ""
        return f"; its coordinates ({ranges}) look like projected metres (a UTM zone or a local grid{about})"
    return f"; its coordinates span {ranges}"


def _check_degrees(geoms, declared, p: Path, *, file_crs=None) -> None:
    """Stop when coordinates read as longitude/latitude are not degrees (projected metres declared as WGS84)."""
    import pyproj
    import shapely

    if declared is None:
        return
    geographic = isinstance(declared, str) or pyproj.CRS.from_user_input(declared).is_geographic
    coords = shapely.get_coordinates(geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))])
    if not geographic or not len(coords):
        return
    x, y = coords[:, 0], coords[:, 1]
    if np.all(np.abs(x) <= 180) and np.all(np.abs(y) <= 90):
        return
    name = declared if isinstance(declared, str) else pyproj.CRS.from_user_input(declared).to_string()
    where = (f"its .prj says {name}" if file_crs is not None and not isinstance(declared, str)
             else f"they are read as [parks] crs = {name!r}")
    ranges = f"x {np.min(x):.4g}–{np.max(x):.4g}, y {np.min(y):.4g}–{np.max(y):.4g}"
    mx, my = np.median(np.abs(x)), np.median(np.abs(y))
    if 1e4 <= mx < 1e8 and 1e4 <= my < 1e7:
        lat = np.median(y) / 110_950.0
        hint = f" (a northing of {np.median(y):,.0f} m is about {lat:.0f}° from the equator)" if 0 < lat < 90 else ""
        why = f"the values look like projected metres, not degrees ({ranges}){hint}"
    else:
        why = f"they span {ranges}, beyond ±180/±90"
    msg = (f"The coordinates of '{p.name}' are not longitude/latitude degrees, yet {where}: {why}. Set [parks] crs to "
           "the system they were made in, e.g. crs = 'EPSG:32650' for UTM zone 50N or 'EPSG:4547' for CGCS2000 3-degree "
           "Gauss–Krüger CM 114E.")
    raise CRSError(msg)


def _area_unit(column: str, declared: str | None, p: Path) -> float:
    """km² per unit of the approved-area column: the declared unit, else the header's, else km²."""
    if declared is not None:
        key = declared.strip().lower().replace(" ", "")
        if key not in _AREA_UNITS:
            msg = f"[parks] area_unit must be one of {sorted(_AREA_UNITS)}; {declared!r} was given."
            raise InputError(msg)
        return _AREA_UNITS[key]
    unit = _UNIT_SUFFIX.search(column.strip().lower())
    if unit is None:
        return 1.0
    factor = _AREA_UNITS.get(unit.group(1).replace(" ", ""))
    if factor is None:
        msg = (f"The approved-area column {column!r} of '{p.name}' names the unit {unit.group(1)!r}, which is not "
               f"one of {sorted(_AREA_UNITS)}: convert the column, or declare its unit with [parks] area_unit = \"km2\" "
               "or \"ha\".")
        raise InputError(msg)
    return factor


_UNIT_SUFFIX = re.compile(r"\s*[(（]\s*([^)）]*?)\s*[)）]\s*$")


def _area_header(column: str) -> float | None:
    """km² per unit of an approved-area column (1 for a plain ``核准面积``, 0.01 for ``核准面积（公顷）``), else None."""
    name = column.strip().lower()
    unit = _UNIT_SUFFIX.search(name)
    base = _UNIT_SUFFIX.sub("", name)
    if base not in _PARK_AREA:
        return None
    if unit is None:
        return 1.0
    return _AREA_UNITS.get(unit.group(1).replace(" ", ""))


def _area_numbers(values: pd.Series) -> np.ndarray:
    """Approved areas as floats (km²); text such as "1,234.5" or "12 km²" read as its number, else NaN."""
    text = values.astype("string").str.replace(",", "", regex=False).str.strip()
    text = text.str.replace(r"\s*(km2|km²|平方公里|平方千米)$", "", regex=True)
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _shown(value) -> str:
    return "empty" if value is None or (isinstance(value, float) and np.isnan(value)) or pd.isna(value) else repr(str(value))


def _read_point_table(p: Path, *, layer: str | int | None = None):
    """A park table with longitude/latitude columns as a point GeoDataFrame (no CRS; rows without both are empty)."""
    import io

    import geopandas as gpd
    import shapely

    from geo.io.firms import LAT_CANDIDATES, LON_CANDIDATES

    try:
        if p.suffix.lower() in _EXCEL_SUFFIXES:
            frame = pd.read_excel(p, sheet_name=0 if layer is None else layer, dtype=str)
        else:
            text, _ = _decode(p.read_bytes(), None, p)
            frame = pd.read_csv(io.StringIO(text), sep=sniff_delimiter(text, p.suffix.lower()), dtype=str,
                                keep_default_na=False, na_values=[""])
    except (ValueError, OSError, ImportError) as exc:
        msg = f"Cannot read '{p}' as a park table ({exc})."
        raise DataFileError(msg) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    columns = list(frame.columns)
    lon_hits = [c for c in columns if c.lower() in LON_CANDIDATES]
    lat_hits = [c for c in columns if c.lower() in LAT_CANDIDATES]
    if not lon_hits or not lat_hits:
        msg = (f"'{p.name}' is a table without park boundaries, and its columns {columns} hold no longitude and latitude "
               f"(looked for {list(LON_CANDIDATES)} and {list(LAT_CANDIDATES)}): give the parks as polygons, or as points "
               "with lon/lat and an approved area (km²).")
        raise ColumnError(msg)
    lon_col = _find_column(columns, None, LON_CANDIDATES, "longitude", p)
    lat_col = _find_column(columns, None, LAT_CANDIDATES, "latitude", p)
    x = pd.to_numeric(frame[lon_col].str.strip(), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    y = pd.to_numeric(frame[lat_col].str.strip(), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    ok = np.isfinite(x) & np.isfinite(y)
    geoms = np.full(len(frame), None, dtype=object)
    geoms[ok] = shapely.points(x[ok], y[ok])
    gdf = gpd.GeoDataFrame(frame.drop(columns=[lon_col, lat_col]), geometry=list(geoms))
    gdf.attrs.update(missing_coordinates=int((~ok).sum()), lon_column=lon_col, lat_column=lat_col)
    return gdf


def _polygonal(geom):
    """Keep the polygonal part of a make_valid result (drops stray lines/points)."""
    import shapely

    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else geom
