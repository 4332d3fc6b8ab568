"""Reading park boundaries: columns found, geometries repaired, unusable features rejected."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo import crs as _crs
from geo.errors import ColumnError, CRSError, DataFileError, InputError
from geo.io._text import _check_file, _find_column

__all__ = ["read_parks"]

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- parks
_PARK_NAME = ("name", "park", "park_name", "parkname", "名称", "园区", "园区名称")


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
):
    """Read science & technology park boundaries.

    Parameters
    ----------
    path : str or path-like
        Any polygon layer GDAL reads: Shapefile, GeoPackage, GeoJSON, KML.
    name, valley, designated : str, optional
        Columns holding the park name, its valley (study area) and the year it was
        designated.  Found automatically when not given (``name``/``park``/``名称``,
        ``valley``/``city``, ``designated``/``year``/``established``).  ``valley`` and
        ``designated`` are optional: without a year the precedence test is skipped.
    crs : str, int or pyproj.CRS, optional
        The layer's coordinate system when the file has none (an error otherwise), or
        "gcj02"/"bd09" when the polygons were digitised on a Chinese web map.
    layer : str or int, optional
        Layer of a multi-layer source (GeoPackage).
    source : {"file", "osm"}, default "file"
        "osm": ``path`` is an OpenStreetMap extract (``.osm.pbf``) and the parks are its named
        industrial areas and high-tech zones (:func:`geo.io.osm.read_osm_parks`; their
        ``start_date`` is the designation year).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``name``, ``valley``, ``designated`` (nullable Int64), the other input
        attributes, and polygon ``geometry`` in EPSG:4326.  Invalid geometries are repaired
        with :func:`shapely.make_valid` and listed in ``attrs["repairs"]``; features that
        are not polygons are rejected and listed in ``attrs["rejects"]``;
        ``attrs["load_report"]`` counts both.
    """
    import geopandas as gpd
    import pyogrio
    import shapely

    p = _check_file(path, "Park boundary file")
    unnamed = 0
    if source == "osm":
        from geo.io.osm import read_osm_parks

        gdf = read_osm_parks(p)
        unnamed = gdf.attrs.pop("unnamed", 0)
    elif source != "file":
        msg = f"Park source must be \"file\" or \"osm\"; {source!r} was given."
        raise InputError(msg)
    else:
        try:
            kwargs = {} if layer is None else {"layer": layer}
            gdf = pyogrio.read_dataframe(p, **kwargs)
        except Exception as exc:
            msg = f"Cannot read '{p}' as a polygon layer ({exc}). Check the file opens in QGIS."
            raise DataFileError(msg) from None
    if "geometry" not in gdf or len(gdf) == 0 or gdf.geometry.isna().all():
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
        msg = f"'{p}' has no coordinate reference system (no .prj?). Pass crs= (e.g. crs='wgs84', 'gcj02' or an EPSG code)."
        raise CRSError(msg)

    geoms = gdf.geometry.values
    n = len(gdf)
    rows = np.arange(1, n + 1)
    gtype = np.asarray(shapely.get_type_id(geoms))
    missing = np.asarray(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    is_poly = np.isin(gtype, (3, 6)) & ~missing
    reject_rows = []
    for i in np.flatnonzero(~is_poly):
        reject_rows.append(
            {
                "row": int(rows[i]),
                "name": str(gdf[name_col].iloc[i]),
                "reason": "not_a_polygon" if not missing[i] else "missing_geometry",
                "detail": "feature has no geometry" if missing[i] else f"geometry is {geoms[i].geom_type}; parks must be polygons",
            }
        )
    if not is_poly.any():
        kinds = pd.Series([("no geometry" if m else g.geom_type) for g, m in zip(geoms, missing)]).value_counts()
        found = ", ".join(f"{k} ({v})" for k, v in kinds.items())
        msg = (f"'{p.name}' holds no polygon, so no park can be tested: its {n} feature(s) are {found}. Park boundaries "
               "must be polygons (a table of park points or lines has no area to overlay with the clusters).")
        raise InputError(msg)
    keep = is_poly
    out = gdf.loc[keep].copy()
    out.index = pd.Index(rows[keep], name="row")
    geoms = out.geometry.values

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
    elif system is not None and gdf.crs is None:
        src_crs = "EPSG:4326" if system == "wgs84" else system
    else:
        src_crs = gdf.crs

    result = gpd.GeoDataFrame(
        {
            "name": out[name_col].astype(str).str.strip().to_numpy(),
            "valley": (out[valley_col].astype(str).str.strip().to_numpy() if valley_col else pd.array([pd.NA] * len(out), dtype="string")),
        },
        index=out.index,
        geometry=gpd.GeoSeries(geoms, index=out.index, crs=src_crs).to_crs("EPSG:4326").values,
        crs="EPSG:4326",
    )
    year_problems = []
    notes = []
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
    for c in columns:
        if c not in (name_col, valley_col, year_col) and c not in result.columns:
            result[c] = out[c].to_numpy()
    result = result[["name", "valley", "designated", *[c for c in result.columns if c not in ("name", "valley", "designated", "geometry")], "geometry"]]

    if unnamed:
        notes.append(f"{p.name}: {unnamed:,} industrial areas without a name were left out (a park is tested by name)")
    dup_names = result["name"][result["name"].duplicated()].tolist()
    report = {
        "file": str(p),
        "name_column": name_col,
        "valley_column": valley_col,
        "designated_column": year_col,
        "crs_in": str(system) if system is not None else (gdf.crs.to_string() if gdf.crs else None),
        "features_read": int(n),
        "parks_kept": int(len(result)),
        "features_rejected": len(reject_rows),
        "geometries_repaired": len(repairs),
        "missing_designation_year": int(result["designated"].isna().sum()),
        "bad_designation_year": year_problems,
        "duplicate_names": dup_names,
        "notes": notes,
        **({"source": "osm"} if source == "osm" else {}),
    }
    result.attrs["load_report"] = report
    result.attrs["rejects"] = pd.DataFrame(reject_rows, columns=["row", "name", "reason", "detail"])
    result.attrs["repairs"] = pd.DataFrame(repairs, columns=["row", "name", "problem", "action"])
    if repairs:
        log.warning("repaired %d invalid park geometries in %s", len(repairs), p)
    return result


def _polygonal(geom):
    """Keep the polygonal part of a make_valid result (drops stray lines/points)."""
    import shapely

    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else geom
