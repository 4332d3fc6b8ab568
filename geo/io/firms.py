"""Reading firm tables with row-by-row validation.

Every input row ends up either in the returned frame or in its rejects table with its 1-based
row number, its raw values and a reason, so that ``rows_read == rows_kept + rows_rejected``
always holds.  Firm tables are validated column by column: every check is vectorised over whole
columns, and only rejected rows are visited one by one (to write their detail).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo import _gc
from geo import crs as _crs
from geo.errors import InputError
from geo.io._keys import float_bits, mix
from geo.io._text import (
    _col_categories,
    _col_empty,
    _col_key,
    _col_numeric,
    _find_column,
    _Floats,
    _output_column,
    _pa,
    _Raw,
    _read_any_table,
    _release_arrow_memory,
    _text_series_values,
    check_file,
    column_text,
    text_array,
)

__all__ = ["read_firms", "firm_columns", "REJECT_REASONS", "SELECTION_REASONS", "SOURCES", "LON_CANDIDATES", "LAT_CANDIDATES"]

log = logging.getLogger(__name__)


LON_CANDIDATES = ("lon", "lng", "long", "longitude", "x", "经度")


LAT_CANDIDATES = ("lat", "latitude", "y", "纬度")


#: reason key -> what it means (also documented in docs/ and the report)
REJECT_REASONS = {
    "malformed_row": "the row has more fields than the header",
    "low_confidence": "the Overture place's confidence is below [firms] min_confidence",
    "no_sector_tag": "the OpenStreetMap feature's tags (or the Overture place's categories) match no entry of the sector table",
    "duplicate": "exact duplicate of an earlier row (every field equal)",
    "missing_coordinate": "longitude or latitude is empty",
    "not_a_number": "longitude or latitude is not a number",
    "unknown_coord_sys": "the row's coord_sys value is not wgs84, gcj02 or bd09",
    "zero_zero": "coordinates are exactly (0, 0), a geocoder failure",
    "out_of_range": "longitude outside [-180, 180] or latitude outside [-90, 90]",
    "not_a_point": "the feature's geometry is not a single point",
    "missing_id": "the firm id is empty",
    "bad_date": "the founding date is not a date",
    "far_from_valley": "the firm lies far from the other firms of its valley (geocoded to another place)",
    "outside_valleys": "the firm lies in no valley of the run",
}

#: reasons that select firms rather than find faults in the data: they do not count towards
#: ``[firms] max_rejected_share`` (an Overture extract of a city is mostly restaurants and shops)
SELECTION_REASONS = ("outside_valleys", "no_sector_tag", "low_confidence")

#: where firm points come from: a table (CSV, Excel, Parquet, a point layer), an OpenStreetMap
#: extract (:mod:`geo.io.osm`) or Overture Places (:mod:`geo.io.overture`)
SOURCES = ("table", "osm", "overture")

#: columns that name a firm: with one (or an id column) an exact duplicate row is the same firm twice
NAME_CANDIDATES = ("name", "firm_name", "company", "company_name", "enterprise", "enterprise_name", "企业名称", "公司名称",
                   "名称", "企业名")
#: what to do with exact duplicate rows: see :func:`read_firms`
DUPLICATES = ("auto", "drop", "flag", "keep")


_STACKED_MIN = 10
_STACKS_LISTED = 50  # stacks listed in the load report (all of them are in the firm table's ``stack`` column)


_SYSTEM_ALIASES = {
    "wgs84": "wgs84", "wgs-84": "wgs84", "wgs 84": "wgs84", "epsg:4326": "wgs84", "4326": "wgs84",
    "gcj02": "gcj02", "gcj-02": "gcj02", "gcj": "gcj02", "mars": "gcj02", "amap": "gcj02",
    "bd09": "bd09", "bd-09": "bd09", "baidu": "bd09", "bd09ll": "bd09",
}


def _normalise_systems(col, default: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Per-row coordinate systems: (system array, bad-value mask, codes, distinct texts)."""
    codes, texts = _col_categories(col)
    out, bad = [], []
    for t in texts:
        key = t.strip().lower()
        mapped = _SYSTEM_ALIASES.get(key)
        bad.append(key != "" and mapped is None)
        out.append(default if mapped is None else mapped)
    systems = np.array(out, dtype=object)[codes] if len(texts) else np.zeros(0, dtype=object)
    return systems, np.array(bad, dtype=bool)[codes], codes, texts


def _swap_inputs(lon: np.ndarray, lat: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) of the valid, in-range, non-(0, 0) rows: they set the swap-check extent."""
    in_range = ok & (np.abs(lon) <= 180) & (np.abs(lat) <= 90) & ~((lon == 0) & (lat == 0))
    return lon[in_range], lat[in_range]


def _swap_box(lon: np.ndarray, lat: np.ndarray) -> tuple[float, float, float, float] | None:
    """The 1st and 99th percentiles of lon and lat of the rows of :func:`_swap_inputs`."""
    if lon.size < 5:
        return None
    lo_lon, hi_lon = np.nanpercentile(lon, [1, 99])
    lo_lat, hi_lat = np.nanpercentile(lat, [1, 99])
    return float(lo_lon), float(hi_lon), float(lo_lat), float(hi_lat)


def _swap_apply(lon: np.ndarray, lat: np.ndarray, ok: np.ndarray, box: tuple[float, float, float, float] | None) -> np.ndarray:
    """Rows whose lon/lat are swapped, judged by the extent ``box`` of the other rows (see read_firms)."""
    if box is None:
        return np.zeros_like(ok)
    lo_lon, hi_lon, lo_lat, hi_lat = box
    pad_lon = max(0.5 * (hi_lon - lo_lon), 0.5)
    pad_lat = max(0.5 * (hi_lat - lo_lat), 0.5)

    def inside(x, y):
        return (x >= lo_lon - pad_lon) & (x <= hi_lon + pad_lon) & (y >= lo_lat - pad_lat) & (y <= hi_lat + pad_lat)

    swapped_ok = ok & (np.abs(lat) <= 180) & (np.abs(lon) <= 90) & inside(lat, lon)
    return swapped_ok & ~inside(lon, lat)


def duplicate_rows(cols: list, n: int, prefilter: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rows equal in every column, as the whole-table reader finds them.

    Parameters
    ----------
    cols : list
        Key columns of ``n`` rows each (text arrays from :func:`text_array`, or
        :class:`FloatColumn`).
    n : int
        Rows.

    Returns
    -------
    tuple of (numpy.ndarray, numpy.ndarray)
        ``(duplicate, first)``: whether each row repeats an earlier one, and the position of
        the first row equal to it.
    """
    pa, pc = _pa()
    idx = np.arange(n)
    if prefilter is not None and n > 1:
        ordered = np.sort(prefilter)
        repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
        if repeated.size:
            pos = np.minimum(np.searchsorted(repeated, prefilter), repeated.size - 1)
            idx = np.flatnonzero(repeated[pos] == prefilter)
        else:
            idx = idx[:0]
    group = np.zeros(idx.size, dtype=np.int64)
    for col in cols:
        if idx.size == 0:
            break
        if isinstance(col, _Floats):
            key = _col_key(_Floats(col.values[idx]))
        elif idx.size == n:
            key = _col_key(col)
        else:
            key = _col_key(col.take(pa.array(idx)))
        kc, uniq = pd.factorize(key)
        group, _ = pd.factorize(group * np.int64(len(uniq) + 1) + kc)
        shared = np.bincount(group)[group] > 1
        idx = idx[shared]
        group, _ = pd.factorize(group[shared])
    dup = np.zeros(n, dtype=bool)
    first = np.arange(n)
    if idx.size:
        g, heads = _first_of_groups(group)
        dup[idx] = heads[g] != np.arange(idx.size)
        first[idx] = idx[heads[g]]
    return dup, first


def _first_of_groups(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group of each row, first row of each group), groups numbered in order of appearance."""
    group, _ = pd.factorize(key)
    if group.size == 0:
        return group, np.zeros(0, dtype=np.int64)
    running = np.maximum.accumulate(group)
    new = np.empty(group.size, dtype=bool)
    new[0] = True
    new[1:] = running[1:] > running[:-1]
    return group, np.flatnonzero(new)


# ----------------------------------------------------------------------------- firms
def read_firms(
    path: str | os.PathLike,
    *,
    lon: str | None = None,
    lat: str | None = None,
    crs: Any = "wgs84",
    encoding: str | None = None,
    sheet: str | int | None = None,
    id: str | None = None,  # noqa: A002 - the public API name
    drop_stacked: bool = False,
    stacked_min: int = _STACKED_MIN,
    coord_sys_column: str = "coord_sys",
    geometry: bool = True,
    select: Any = None,
    name: str | None = None,
    duplicates: str = "auto",
    founded: str | None = None,
    stack_radius_m: float = 5.0,
    source: str = "table",
    sectors: Any = None,
    min_confidence: float = 0.5,
):
    """Read a geocoded firm table, validate every row and return firms in WGS84.

    Parameters
    ----------
    path : str or path-like
        CSV/TSV (delimiter sniffed), Excel (.xlsx), Parquet/GeoParquet, GeoPackage,
        Shapefile or GeoJSON.  Point layers use their geometry; tables use coordinate columns.
    lon, lat : str, optional
        Coordinate columns.  Found automatically when not given among
        ``lon/lng/long/longitude/x/经度`` and ``lat/latitude/y/纬度`` (any case);
        more than one candidate is an error listing them.
    crs : str, int or pyproj.CRS, default "wgs84"
        Coordinate system of the input: "wgs84", "gcj02" (Amap, Tencent), "bd09" (Baidu) or
        any EPSG code / pyproj CRS (projected x/y are transformed).  A per-row
        ``coord_sys`` column, when present, overrides it row by row.
    encoding : str, optional
        Text encoding of a CSV.  Detected when not given: BOMs (UTF-8, UTF-16), then UTF-8,
        then GB18030 (which reads GBK/GB2312 exports of Chinese Excel).
    sheet : str or int, optional
        Excel sheet (default the first).
    id : str, optional
        Firm id column (default ``firm_id`` when present, else ids are the row numbers).
        Rows with an empty id are rejected.
    drop_stacked : bool, default False
        Reject stacked geocodes instead of flagging them.
    stacked_min : int, default 10
        At least this many firms within ``stack_radius_m`` of one point are a stacked geocode
        (typically a geocoder's fallback to a district or city centre).
    stack_radius_m : float, default 5.0
        Radius of a stack (:func:`geo.io._stacks.find_stacks`): geocoder fallbacks jitter by
        decimetres; 0 asks for exactly equal coordinates.
    geometry : bool, default True
        False: return a :class:`geo.points.PointFrame` (the same table, its points the
        ``lon``/``lat`` columns) instead of a GeoDataFrame, without a shapely point per firm
        (about 200 bytes each; what ``geo run`` does).  Every stage accepts either.
    name : str, optional
        Firm name column (default: the first of ``name``, ``company``, ``企业名称`` … present).
    duplicates : {"auto", "drop", "flag", "keep"}, default "auto"
        Exact duplicate rows (every field equal): "drop" rejects the later copies
        (``duplicate``); "flag" keeps them with ``duplicate_unverifiable`` True; "keep"
        keeps them unflagged.  "auto" drops them when the table has an id or a name column
        (then an identical row is the same firm twice) and flags them otherwise (without
        either, identical rows are more likely different firms registered at one geocoded
        address, e.g. a year-only export of a registry).
    founded : str, optional
        Founding (registration) date column: years, dates in any common form (1999-03-11,
        11/03/1999 with the day/month order decided from the whole column, 1999年3月11日,
        19990311, Excel serial numbers; :func:`geo.io._dates.parse_dates`) become the year
        (Int64); a ``<founded>_date`` column keeps full dates when there are any.  An
        unparseable value rejects its row (``bad_date``); an empty one is kept.
    select : callable, optional
        Keeps only the firms of a study area: called once with a DataFrame of the valid rows
        (``lon``/``lat`` in WGS84 and the typed columns named by ``select.columns``), it
        returns a boolean array; the rows it does not keep are rejected as
        ``outside_valleys`` (detail: ``select.detail``), their raw values kept verbatim.
    source : {"table", "osm", "overture"}, default "table"
        "osm": ``path`` is an OpenStreetMap extract (``.osm.pbf``), its firms the nodes and
        areas with firm tags (:func:`geo.io.osm.osm_firm_table`); "overture": ``path`` is an
        Overture Places GeoParquet (:func:`geo.io.overture.overture_firm_table`).  Both
        become a table of ``firm_id``, ``name``, ``sector``, ``lon``, ``lat`` … that is
        validated like any other (``lon``, ``lat``, ``crs``, ``id``, ``encoding`` and
        ``sheet`` do not apply); features the sector table does not map are rejected as
        ``no_sector_tag``, Overture places below ``min_confidence`` as ``low_confidence``.
    sectors : mapping or path, optional
        The source's tag-to-sector (OSM) or category-to-sector (Overture) table, replacing
        the default (:data:`geo.io.osm.DEFAULT_SECTORS`, :data:`geo.io.overture.DEFAULT_SECTORS`):
        a mapping, or a CSV of two columns (tag or category, sector).
    min_confidence : float, default 0.5
        Overture places with a lower ``confidence`` are rejected (``low_confidence``).

    Returns
    -------
    geopandas.GeoDataFrame or geo.points.PointFrame
        One row per kept firm in EPSG:4326, indexed by the 1-based input row number
        (``row``; the header is not counted).  Columns: the input's columns (wholly numeric
        text columns converted to numbers; ids, codes and other text as pandas strings),
        ``lon`` and ``lat`` in WGS84, ``coord_sys`` (the system the row was read in),
        ``swapped`` (lat/lon fixed) and ``stacked``.  ``attrs["rejects"]`` is a DataFrame of
        every rejected row (``row``, ``reason``, ``detail`` and the raw values) and
        ``attrs["load_report"]`` a dict of counts by outcome;
        ``rows_read == rows_kept + rows_rejected``.

    Notes
    -----
    Checks, in order, each row getting the first reason that applies (see
    :data:`REJECT_REASONS`): malformed row, exact duplicate of an earlier row, missing id,
    missing coordinate, not a number, unknown ``coord_sys``, (0, 0), out of range.
    A row whose latitude and longitude are swapped is *fixed*, not rejected, when the
    swapped pair is valid and lies within the extent of the other rows (1st–99th
    percentile box widened by half its size) while the pair as given does not.

    Blank lines of a CSV are skipped (and counted in the load report); they get no row
    number.  Large tables are read column by column (pyarrow) and validated with vectorised
    checks; 1,000,000 rows take a few seconds (see ``docs/benchmarks.md``).

    Examples
    --------
    >>> import geo
    >>> from geo.datasets import demo_files
    >>> firms = geo.read_firms(demo_files()["firms"])
    >>> r = firms.attrs["load_report"]
    >>> r["rows_read"] == r["rows_kept"] + r["rows_rejected"]
    True
    """
    p = check_file(path, "Firm table")
    t0 = time.perf_counter()
    if source != "table":
        lon = lat = coord_sys_column = None
        crs, id = "wgs84", "firm_id"  # noqa: A001
    raw = _read_source(p, source, encoding=encoding, sheet=sheet, sectors=sectors, min_confidence=min_confidence)
    if raw.n == 0:
        msg = f"'{p}' has a header but no data rows. Check the export."
        raise InputError(msg)
    system_default = _crs.parse_crs(crs)
    t1 = time.perf_counter()
    if duplicates not in DUPLICATES:
        msg = f"duplicates must be one of {DUPLICATES}; {duplicates!r} was given."
        raise InputError(msg)
    firms = _validate(raw, p, lon=lon, lat=lat, system_default=system_default, id=id, drop_stacked=drop_stacked,
                      stacked_min=stacked_min, coord_sys_column=coord_sys_column, geometry=geometry, select=select,
                      name=name, duplicates=duplicates, founded=founded, stack_radius_m=stack_radius_m)
    log.debug("read_firms %s: parse %.2f s, validate %.2f s", p, t1 - t0, time.perf_counter() - t1)
    return firms


def _read_source(p: Path, source: str, *, encoding: str | None, sheet: str | int | None, sectors: Any,
                 min_confidence: float) -> _Raw:
    """The raw table of ``p`` read as a firm ``source`` (see :func:`read_firms`)."""
    if source == "osm":
        from geo.io.osm import osm_firm_table

        return osm_firm_table(p, sectors=sectors)
    if source == "overture":
        from geo.io.overture import overture_firm_table

        return overture_firm_table(p, sectors=sectors, min_confidence=min_confidence)
    if source != "table":
        msg = f"source must be one of {list(SOURCES)}; {source!r} was given."
        raise InputError(msg)
    return _read_any_table(p, encoding=encoding, sheet=sheet)


def firm_columns(path: str | os.PathLike, *, source: str = "table", encoding: str | None = None,
                 sheet: str | int | None = None) -> list[str]:
    """The columns :func:`read_firms` will give the firms of ``path`` read as ``source``,
    without reading the rows (a table's header; the fixed columns of an OSM or Overture source,
    after checking that an Overture file has the columns it needs)."""
    from geo.io._text import table_columns

    if source == "osm":
        from geo.io.osm import FIRM_COLUMNS, check_pbf

        check_pbf(check_file(path, "OpenStreetMap extract"))
        return list(FIRM_COLUMNS)
    if source == "overture":
        from geo.io.overture import FIRM_COLUMNS, check_schema

        check_schema(check_file(path, "Overture Places file"))
        return list(FIRM_COLUMNS)
    return table_columns(path, encoding=encoding, sheet=sheet)


class _Validation:
    """The validation of one raw table, in steps.

    :func:`_validate` runs every step on a whole table.  The steps that depend on other rows
    (exact duplicates, the swapped-coordinates box, stacked geocodes) take their decision
    as an argument, so that the dask engine (:mod:`geo.pipeline.dask_engine`) can run the row-wise
    steps on each partition and make those decisions over all partitions, with identical
    results.  ``rows`` are the 1-based row numbers in the whole file.
    """

    keys = list(REJECT_REASONS) + ["stacked"]

    def __init__(self, raw: _Raw, p: Path, *, lon, lat, system_default, id, coord_sys_column, row_offset: int = 0,  # noqa: A002
                 name: str | None = None, duplicates: str = "auto", founded: str | None = None):
        self.raw = raw
        self.name, self.duplicate_rule, self.founded = name, duplicates, founded
        self.dup_flag = np.zeros(raw.n, dtype=bool)
        self.years = self.dates = None
        self.dates_report: dict | None = None
        self.stack_site = np.full(raw.n, -1, dtype=np.int64)
        self.stacks: pd.DataFrame | None = None
        self.p = p
        self.lon, self.lat = lon, lat
        self.system_default = system_default
        self.id = id
        self.coord_sys_column = coord_sys_column
        n = raw.n
        self.n = n
        self.rows = np.arange(row_offset + 1, row_offset + n + 1)
        self.code = np.zeros(n, dtype=np.int8)  # 0: kept; k: keys[k - 1]
        self.detail = np.full(n, "", dtype=object)
        self.numeric: dict[str, np.ndarray] = {}
        self.meta = dict(raw.meta)
        self.swapped = np.zeros(n, dtype=bool)
        self.stacked = np.zeros(n, dtype=bool)
        self.stacked_sites = 0
        self.lon_col = self.lat_col = self.id_col = None
        for i, k in sorted(raw.malformed.items()):
            self.code[i] = self.keys.index("malformed_row") + 1
            self.detail[i] = f"{k} fields, header has {len(raw.columns)}"
        for reason, rows, details in raw.prerejected:  # decided by the source's reader (osm, overture)
            free = self.code[rows] == 0
            self.code[rows[free]] = self.keys.index(reason) + 1
            self.detail[rows[free]] = details[free]

    def reject(self, mask: np.ndarray, key: str, info: str | Callable[[np.ndarray], list[str]] | None = None) -> None:
        code, detail = self.code, self.detail
        idx = np.flatnonzero(mask & (code == 0))
        if idx.size == 0:
            return
        code[idx] = self.keys.index(key) + 1
        if info is None:
            detail[idx] = REJECT_REASONS[key]
        elif isinstance(info, str):
            detail[idx] = info
        else:
            values = np.empty(idx.size, dtype=object)
            values[:] = info(idx)
            detail[idx] = values

    # -- duplicates ---------------------------------------------------------------------
    def duplicate_keys(self) -> tuple[list, np.ndarray | None]:
        """(key columns, prefilter) of the exact-duplicate check.

        Equal rows have equal parsed coordinates, so the (likely) coordinate columns give
        a uint64 prefilter key that is equal for equal rows.
        """
        raw = self.raw
        columns, cols = raw.columns, raw.cols
        coord_like = [c for c in columns if c in (self.lon, self.lat) or c.strip().lower() in LON_CANDIDATES + LAT_CANDIDATES][:2]
        prefilter = None
        for c in coord_like:
            if c not in self.numeric:
                self.numeric[c] = _col_numeric(cols[c])
            bits = float_bits(self.numeric[c])
            prefilter = bits if prefilter is None else mix(prefilter, bits)
        preferred = [c for c in columns if c.lower() in ("firm_id", "id")]
        preferred += [c for c in coord_like if c not in preferred]
        key_cols = [cols[c] for c in preferred] + [cols[c] for c in columns if c not in preferred]
        if raw.geometry is not None:
            import shapely

            wkb = shapely.to_wkb(raw.geometry, hex=True)
            key_cols.insert(0, text_array([w if w is not None else "" for w in wkb]))
        return key_cols, prefilter

    def duplicate_mode(self) -> str:
        """What the exact duplicates become: "drop", "flag" or "keep" (see :func:`read_firms`)."""
        if self.duplicate_rule != "auto":
            return self.duplicate_rule
        columns = self.raw.columns
        lowered = {c.strip().lower() for c in columns}
        has_id = (self.id is not None and self.id.lower() in lowered) or bool(lowered & {"firm_id", "id"})
        has_name = (self.name is not None and self.name.lower() in lowered) or bool(lowered & set(NAME_CANDIDATES))
        return "drop" if has_id or has_name else "flag"

    def duplicates(self, dup: np.ndarray, first_row: np.ndarray) -> None:
        """Exact duplicates of the rows ``first_row`` (row numbers): rejected, or flagged/kept (:meth:`duplicate_mode`)."""
        mode = self.duplicate_mode()
        self.meta["duplicates"] = mode
        if mode == "drop":
            self.reject(dup, "duplicate", lambda idx: [f"exact duplicate of row {r}" for r in first_row[idx].tolist()])
        else:
            self.dup_flag = np.asarray(dup, dtype=bool).copy()

    # -- row-wise checks ----------------------------------------------------------------
    def row_checks(self) -> None:
        """Firm id, coordinates present and numeric, coord_sys values, (0, 0)."""
        raw, p = self.raw, self.p
        columns, cols, n = raw.columns, raw.cols, self.n
        geometry = raw.geometry
        lon, lat, id = self.lon, self.lat, self.id  # noqa: A001
        if id is not None:
            id_col = _find_column(columns, id, (id.lower(),), "firm id", p)
        else:
            id_col = next((c for c in columns if c.lower() in ("firm_id", "id")), None)
        self.id_col = id_col
        if id_col is not None:
            self.reject(_col_empty(cols[id_col]), "missing_id")

        self.systems_given = self.coord_sys_column in columns
        if geometry is not None and lon is None and lat is None:
            import shapely

            gtype = shapely.get_type_id(geometry)
            missing = shapely.is_missing(geometry) | shapely.is_empty(geometry)
            notpoint = ~missing & (gtype != 0)
            self.reject(notpoint, "not_a_point", lambda idx: [
                f"geometry is {shapely.get_type_id(g) if g is None else g.geom_type}, expected Point" for g in geometry[idx]])
            self.reject(missing, "missing_coordinate", "feature has no geometry")
            ok_geom = ~missing & ~notpoint
            x = np.full(n, np.nan)
            y = np.full(n, np.nan)
            x[ok_geom] = shapely.get_x(geometry[ok_geom])
            y[ok_geom] = shapely.get_y(geometry[ok_geom])
            self.reject(ok_geom & (~np.isfinite(x) | ~np.isfinite(y)), "missing_coordinate", "the point's coordinates are NaN")
            if self.system_default in ("gcj02", "bd09") or self.systems_given:
                src = self.system_default
            elif raw.layer_crs is not None:
                src = _crs.parse_crs(raw.layer_crs)
            else:
                src = self.system_default
            self.meta["geometry"] = "point layer"
        else:
            lon_col = _find_column(columns, lon, LON_CANDIDATES, "longitude", p)
            lat_col = _find_column(columns, lat, LAT_CANDIDATES, "latitude", p)
            self.lon_col, self.lat_col = lon_col, lat_col
            missing = _col_empty(cols[lon_col]) | _col_empty(cols[lat_col])
            self.reject(missing, "missing_coordinate")
            numeric = self.numeric
            x = numeric[lon_col] if lon_col in numeric else _col_numeric(cols[lon_col])
            y = numeric[lat_col] if lat_col in numeric else _col_numeric(cols[lat_col])
            numeric.clear()
            nan = ~np.isfinite(x) | ~np.isfinite(y)

            def nan_info(idx: np.ndarray) -> list[str]:
                a, b = column_text(cols[lon_col], idx), column_text(cols[lat_col], idx)
                return [f"lon={u!r}, lat={v!r}" for u, v in zip(a, b)]

            self.reject(nan & ~missing, "not_a_number", nan_info)
            src = self.system_default
        self.src = src

        if isinstance(src, str):
            if self.systems_given:
                systems, bad_sys, sys_codes, sys_texts = _normalise_systems(cols[self.coord_sys_column], src)
                self.reject(bad_sys, "unknown_coord_sys",
                            lambda idx: [f"coord_sys={sys_texts[c]!r}; use wgs84, gcj02 or bd09" for c in sys_codes[idx].tolist()])
            else:
                systems = np.full(n, src, dtype=object)
        else:
            systems = np.full(n, "epsg", dtype=object)
        self.systems = systems
        self.reject((x == 0) & (y == 0), "zero_zero")
        self.x, self.y = x, y

    # -- swapped coordinates, range, conversion -----------------------------------------
    def swap_candidates(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(lon, lat) of the rows that set the extent of the swapped-coordinates check."""
        if not isinstance(self.src, str):
            return None
        return _swap_inputs(self.x, self.y, self.code == 0)

    def convert(self, box: tuple[float, float, float, float] | None) -> None:
        """Fix swapped pairs (given the extent ``box``), reject out-of-range, convert to WGS84."""
        x, y, n, src = self.x, self.y, self.n, self.src
        pending = self.code == 0
        lon_w = np.full(n, np.nan)
        lat_w = np.full(n, np.nan)
        if isinstance(src, str):
            swapped = _swap_apply(x, y, pending, box)
            x, y = np.where(swapped, y, x), np.where(swapped, x, y)
            out = pending & ((np.abs(x) > 180) | (np.abs(y) > 90))
            self.reject(out, "out_of_range", lambda idx: [f"lon={a}, lat={b}" for a, b in zip(x[idx], y[idx])])
            pending = self.code == 0
            if pending.any():
                lon_w[pending], lat_w[pending] = _crs.to_wgs84_per_row(x[pending], y[pending], self.systems[pending])
            self.swapped = swapped
        else:
            from pyproj import Transformer

            tr = Transformer.from_crs(src, "EPSG:4326", always_xy=True)
            if pending.any() and src.is_projected:
                px, py = x[pending], y[pending]
                if np.all(np.abs(px) <= 180) and np.all(np.abs(py) <= 90):  # metres that all fit in degrees' range
                    self.meta["projected_values_look_like_degrees"] = [float(px.min()), float(px.max()), float(py.min()),
                                                                       float(py.max())]
            if pending.any():
                lon_w[pending], lat_w[pending] = tr.transform(x[pending], y[pending])
            out = pending & (~np.isfinite(lon_w) | ~np.isfinite(lat_w) | (np.abs(lon_w) > 180) | (np.abs(lat_w) > 90))
            self.reject(out, "out_of_range", f"outside the valid area of {src.to_string()}")
            self.systems = np.full(n, src.to_string(), dtype=object)
        self.x = self.y = None
        self.lon_w, self.lat_w = lon_w, lat_w

    # -- founding dates -----------------------------------------------------------------
    def founded_values(self) -> pd.Series | None:
        """Value counts of the founding-date text of the valid rows (a partition's part of the column)."""
        col = self.founded
        if col is None or col not in self.raw.cols:
            return None
        idx = np.flatnonzero(self.code == 0)
        return pd.Series(column_text(self.raw.cols[col], idx), dtype=object).value_counts(dropna=False)

    def parse_founded(self, decided: dict | None = None) -> None:
        """Founding dates to years; an unparseable value rejects its row (``bad_date``).

        ``decided``: the column-wide decisions (``dm_order``, ``serial``) when the table is
        read in parts (the dask engine); by default they are this table's.
        """
        col = self.founded
        if col is None or col not in self.raw.cols:
            return
        from geo.io._dates import parse_dates

        cols = self.raw.cols
        pending = self.code == 0
        values = np.full(self.n, None, dtype=object)
        idx = np.flatnonzero(pending)
        values[idx] = column_text(cols[col], idx)
        parsed = parse_dates(values[idx], label=f"founding dates ({col!r})", **(decided or {}))
        bad = np.zeros(self.n, dtype=bool)
        bad[idx[parsed.bad]] = True
        reasons = np.full(self.n, None, dtype=object)
        reasons[idx[parsed.bad]] = parsed.reasons[parsed.bad]
        self.reject(bad, "bad_date", lambda rows: [f"{col}: {r}" for r in reasons[rows]])
        years = np.full(self.n, np.nan)
        years[idx] = parsed.year
        dates = np.full(self.n, np.datetime64("NaT"), dtype="datetime64[D]")
        dates[idx] = parsed.date
        self.years, self.dates = years, dates
        self.dates_report = {"column": col, "formats": dict(parsed.formats), "day_first": parsed.day_first,
                             "dm_order": parsed.dm_order, "ambiguous": int(parsed.ambiguous.sum()),
                             "missing": int(parsed.missing.sum()), "unparseable": int(parsed.bad.sum()), "note": parsed.note}

    # -- stacked geocodes ---------------------------------------------------------------
    def set_stacked(self, hit: np.ndarray, sites: int, drop: bool, site: np.ndarray | None = None,
                    table: pd.DataFrame | None = None) -> None:
        """Flag (or with ``drop`` reject) the rows ``hit`` as stacked geocodes (``site``: their stack ids)."""
        self.stacked = hit
        self.stacked_sites = int(sites)
        if site is not None:
            self.stack_site = site
            self.stacks = table
        if drop:
            self.reject(hit, "stacked", "stacked geocode (dropped by drop_stacked=True)")

    # -- selection ----------------------------------------------------------------------
    def select(self, select: Any) -> None:
        """Reject the valid rows ``select`` does not keep as ``outside_valleys`` (see :func:`read_firms`)."""
        pending = self.code == 0
        idx = np.flatnonzero(pending)
        cols = self.raw.cols
        frame = pd.DataFrame({"lon": self.lon_w[idx], "lat": self.lat_w[idx]})
        for c in getattr(select, "columns", ()):
            if c in cols and c not in ("lon", "lat"):
                frame[c] = np.asarray(_output_column(c, cols[c], pending), dtype=object)
        keep = np.asarray(select(frame), dtype=bool)
        if keep.shape != idx.shape:
            msg = f"select returned {keep.shape[0]} values for {idx.size} rows."
            raise InputError(msg)
        far = getattr(select, "far", None)
        if far is not None and far.any():  # strays of a valley: their own reason and distance
            rows = np.zeros(self.n, dtype=bool)
            rows[idx[far]] = True
            details = np.empty(self.n, dtype=object)
            details[idx[far]] = select.far_detail
            self.reject(rows, "far_from_valley", lambda r: list(details[r]))
        out = np.zeros(self.n, dtype=bool)
        out[idx[~keep]] = True
        self.reject(out, "outside_valleys", getattr(select, "detail", None))

    # -- outputs ------------------------------------------------------------------------
    def rejects(self) -> pd.DataFrame:
        cols = self.raw.cols
        rej_idx = np.flatnonzero(self.code != 0)
        rejects = pd.DataFrame({c: pd.Series(column_text(cols[c], rej_idx), dtype=object) for c in self.raw.columns})
        reason = np.array(self.keys, dtype=object)[self.code[rej_idx] - 1] if rej_idx.size else np.zeros(0, dtype=object)
        rejects.insert(0, "detail", self.detail[rej_idx])
        rejects.insert(0, "reason", reason)
        rejects.insert(0, "row", self.rows[rej_idx])
        return rejects.reset_index(drop=True)

    def firms(self, *, geometry: bool = True):
        """The kept firms (releases the raw columns).  ``geometry=False``: a plain DataFrame."""
        import geopandas as gpd

        raw = self.raw
        columns, cols = raw.columns, raw.cols
        kept = self.code == 0
        kept_idx = np.flatnonzero(kept)
        drop = {c for c in (self.lon_col, self.lat_col) if c is not None} | {"lon", "lat", "coord_sys", "swapped", "stacked",
                                                                              "stack", "duplicate_unverifiable"}
        index = pd.Index(self.rows[kept_idx], name="row")
        # each text column is released once typed: the kept rows are a copy of it
        body = pd.DataFrame({c: _output_column(c, cols.pop(c), kept) for c in columns if c not in drop}, index=index)
        cols.clear()
        _release_arrow_memory()
        if self.id_col is None:
            pa, pc = _pa()
            body.insert(0, "firm_id", _text_series_values(pc.cast(pa.array(self.rows[kept_idx]), pa.large_string())))
        body["lon"] = self.lon_w[kept_idx]
        body["lat"] = self.lat_w[kept_idx]
        body["coord_sys"] = self.systems[kept_idx]
        body["swapped"] = self.swapped[kept_idx]
        body["stacked"] = self.stacked[kept_idx]
        if self.stacks is not None:
            body["stack"] = self.stack_site[kept_idx]
        if self.meta.get("duplicates") == "flag":
            body["duplicate_unverifiable"] = self.dup_flag[kept_idx]
        if self.years is not None and self.founded in body.columns:
            y = self.years[kept_idx]
            ok = np.isfinite(y)
            body[self.founded] = pd.arrays.IntegerArray(np.where(ok, y, 0).astype(np.int64), ~ok)
            d = self.dates[kept_idx]
            if (~np.isnat(d)).any():
                body[f"{self.founded}_date"] = d
        if not geometry:
            return body
        return gpd.GeoDataFrame(body, geometry=_gc.points(self.lon_w[kept_idx], self.lat_w[kept_idx]), crs="EPSG:4326")

    def counts(self) -> dict:
        """The additive parts of the load report."""
        kept = self.code == 0
        reasons = np.array(self.keys, dtype=object)[self.code[~kept] - 1]
        by_reason = pd.Series(reasons, dtype=object).value_counts().to_dict()
        sys_counts = pd.Series(self.systems[kept], dtype=object).value_counts().to_dict() if kept.any() else {}
        return {
            "rows_read": int(self.n),
            "rows_kept": int(kept.sum()),
            "rows_rejected": int((~kept).sum()),
            "rejected_by_reason": {str(k): int(v) for k, v in by_reason.items()},
            "fixed_swapped": int(self.swapped[kept].sum()),
            "stacked_rows": int(self.stacked[kept].sum()),
            "duplicates_kept": int(self.dup_flag[kept].sum()),
            "coord_systems": {str(k): int(v) for k, v in sys_counts.items()},
        }

    def columns_used(self) -> dict:
        return {"lon_column": self.lon_col, "lat_column": self.lat_col, "id_column": self.id_col}


def _load_report(p, meta: dict, columns_used: dict, system_default, counts: dict, stacked_sites: int) -> dict:
    """The load report of a whole table from the summed counts of its parts."""
    sys_counts = counts["coord_systems"]
    report = {
        "file": str(p),
        **meta,
        **columns_used,
        "crs": system_default if isinstance(system_default, str) else system_default.to_string(),
        "rows_read": counts["rows_read"],
        "rows_kept": counts["rows_kept"],
        "rows_rejected": counts["rows_rejected"],
        "rejected_by_reason": {str(k): int(v) for k, v in sorted(counts["rejected_by_reason"].items())},
        "fixed_swapped": counts["fixed_swapped"],
        "stacked_rows": counts["stacked_rows"],
        "stacked_sites": int(stacked_sites),
        "duplicates_kept": counts.get("duplicates_kept", 0),
        "converted": {str(k): int(v) for k, v in sorted(sys_counts.items()) if k != "wgs84"},
        "coord_systems": {str(k): int(v) for k, v in sorted(sys_counts.items())},
    }
    if report["rows_read"] != report["rows_kept"] + report["rows_rejected"]:  # pragma: no cover - invariant
        msg = "internal error: rows read != kept + rejected"
        raise AssertionError(msg)
    return report


def add_counts(total: dict, part: dict) -> dict:
    """The sum of two :meth:`Validation.counts` dicts (rows read, kept, rejected by reason, ...).

    Parameters
    ----------
    total, part : dict
        ``total`` may be empty (the first partition).

    Returns
    -------
    dict
        A new dict; neither argument is changed.
    """
    out = dict(total)
    for k in ("rows_read", "rows_kept", "rows_rejected", "fixed_swapped", "stacked_rows", "duplicates_kept"):
        out[k] = total.get(k, 0) + part[k]
    for k in ("rejected_by_reason", "coord_systems"):
        d = dict(total.get(k, {}))
        for key, v in part[k].items():
            d[key] = d.get(key, 0) + v
        out[k] = d
    return out


def _validate(raw: _Raw, p: Path, *, lon, lat, system_default, id, drop_stacked, stacked_min, coord_sys_column,  # noqa: A002
              geometry: bool = True, select: Any = None, name: str | None = None, duplicates: str = "auto",
              founded: str | None = None, stack_radius_m: float = 0.0):
    """Validate the rows of a raw table, convert coordinates and build the firm frame."""
    from geo.io._stacks import find_stacks

    v = _Validation(raw, p, lon=lon, lat=lat, system_default=system_default, id=id, coord_sys_column=coord_sys_column,
                    name=name, duplicates=duplicates, founded=founded)
    key_cols, prefilter = v.duplicate_keys()
    if key_cols:
        dup, first = duplicate_rows(key_cols, v.n, prefilter)
        v.duplicates(dup, v.rows[first])
    del key_cols, prefilter
    v.row_checks()
    cand = v.swap_candidates()
    v.convert(_swap_box(*cand) if cand is not None else None)
    v.parse_founded()
    if select is not None:  # before the stacks: a stack of firms outside the run's valleys is not the run's
        v.select(select)
    pending = np.flatnonzero(v.code == 0)
    st = find_stacks(v.lon_w[pending], v.lat_w[pending], radius_m=stack_radius_m, min_size=stacked_min)
    site = np.full(v.n, -1, dtype=np.int64)
    site[pending] = st.site
    v.set_stacked(site >= 0, len(st.sites), drop_stacked, site, st.sites)
    v.meta["stack_radius_m"] = float(stack_radius_m)
    rejects = v.rejects()
    if geometry:
        firms = v.firms()
    else:
        from geo.points import PointFrame

        firms = PointFrame(v.firms(geometry=False), crs="EPSG:4326", xy=("lon", "lat"))
    report = _load_report(p, v.meta, v.columns_used(), system_default, v.counts(), v.stacked_sites)
    if v.stacks is not None:
        report["stacks"] = v.stacks.head(_STACKS_LISTED).to_dict(orient="records")
    if v.dates_report is not None:
        report["founded"] = v.dates_report
    firms.attrs["load_report"] = report
    firms.attrs["rejects"] = rejects
    log.info("read %s: %d rows, %d kept, %d rejected", p, v.n, report["rows_kept"], report["rows_rejected"])
    return firms
