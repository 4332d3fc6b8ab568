"""Reading firm tables and park boundaries, with row-by-row validation; atomic writers.

Only this module reads data files.  Every input row ends up either in the returned frame
or in its rejects table with its 1-based row number, its raw values and a reason, so that
``rows_read == rows_kept + rows_rejected`` always holds.
"""

from __future__ import annotations

import contextlib
import csv
import io as _io
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo import crs as _crs
from geo.errors import ColumnError, CRSError, DataFileError, InputError

__all__ = [
    "read_firms",
    "read_parks",
    "REJECT_REASONS",
    "LON_CANDIDATES",
    "LAT_CANDIDATES",
    "atomic_path",
    "write_csv",
    "write_json",
]

log = logging.getLogger(__name__)

LON_CANDIDATES = ("lon", "lng", "long", "longitude", "x", "经度")
LAT_CANDIDATES = ("lat", "latitude", "y", "纬度")

#: reason key -> what it means (also documented in docs/ and the report)
REJECT_REASONS = {
    "malformed_row": "the row has more fields than the header",
    "duplicate": "exact duplicate of an earlier row (every field equal)",
    "missing_coordinate": "longitude or latitude is empty",
    "not_a_number": "longitude or latitude is not a number",
    "unknown_coord_sys": "the row's coord_sys value is not wgs84, gcj02 or bd09",
    "zero_zero": "coordinates are exactly (0, 0), a geocoder failure",
    "out_of_range": "longitude outside [-180, 180] or latitude outside [-90, 90]",
    "not_a_point": "the feature's geometry is not a single point",
    "missing_id": "the firm id is empty",
    "outside_valleys": "the firm lies in no valley of the run",
}

_TABLE_SUFFIXES = {".csv", ".tsv", ".txt", ".tab"}
_EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls"}
_PARQUET_SUFFIXES = {".parquet", ".pq", ".geoparquet"}
_VECTOR_SUFFIXES = {".gpkg", ".shp", ".geojson", ".json", ".fgb", ".kml", ".gml", ".zip"}

_STACKED_MIN = 10


# ----------------------------------------------------------------------------- helpers
def _check_file(path: str | os.PathLike, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        msg = f"{what} not found: '{p}' (resolved to '{p.resolve()}'). Check the path; relative paths are read from the current folder or, in a config, from the config's folder."
        raise DataFileError(msg)
    if p.is_dir() and p.suffix.lower() != ".gdb":
        msg = f"{what} '{p}' is a folder; give the path of a file (CSV, Excel, Parquet, GeoPackage, Shapefile or GeoJSON)."
        raise DataFileError(msg)
    return p


def _decode(data: bytes, encoding: str | None, path: Path) -> tuple[str, str]:
    """Decode CSV bytes: BOMs, then UTF-8, then GB18030 (a superset of GBK/GB2312)."""
    if encoding is not None:
        try:
            return data.decode(encoding), encoding
        except LookupError:
            msg = f"Unknown encoding {encoding!r} for '{path}'. Use e.g. 'utf-8', 'gbk' or 'gb18030'."
            raise DataFileError(msg) from None
        except UnicodeDecodeError as exc:
            msg = f"'{path}' is not valid {encoding} (byte {exc.start}); try encoding=None to detect it, or 'gb18030' / 'utf-8'."
            raise DataFileError(msg) from None
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        msg = f"Could not decode '{path}' as UTF-8 or GBK/GB18030; pass encoding= (e.g. encoding='big5' or 'latin-1')."
        raise DataFileError(msg) from None


def _sniff_delimiter(text: str, suffix: str) -> str:
    sample = "\n".join(text[:65536].splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return "\t" if suffix in {".tsv", ".tab"} else ","


def _read_text_table(path: Path, encoding: str | None) -> tuple[pd.DataFrame, dict, list[dict]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        msg = f"Cannot read '{path}': {exc.strerror}. Check the file's permissions."
        raise DataFileError(msg) from None
    text, used = _decode(data, encoding, path)
    delimiter = _sniff_delimiter(text, path.suffix.lower())
    reader = csv.reader(_io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        msg = f"'{path}' is empty: no header row and no data. Export the firm table with a header row."
        raise InputError(msg) from None
    header = [h.strip() for h in header]
    width = len(header)
    rows: list[list[str]] = []
    malformed: list[dict] = []
    blank = 0
    n = 0
    for fields in reader:
        if not fields or (len(fields) == 1 and fields[0].strip() == ""):
            blank += 1
            continue
        n += 1
        if len(fields) > width and any(f.strip() for f in fields[width:]):
            malformed.append({"row": n, "fields": fields})
            rows.append([""] * width)
            continue
        if len(fields) < width:
            fields = fields + [""] * (width - len(fields))
        rows.append(fields[:width])
    frame = pd.DataFrame(rows, columns=_dedupe(header), dtype=object)
    meta = {"format": "csv", "encoding": used, "delimiter": delimiter, "blank_lines_skipped": blank}
    return frame, meta, malformed


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        name = name or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out


def _as_text(values: pd.Series) -> pd.Series:
    """Raw cell values as stripped strings ('' for missing), for uniform validation."""
    def conv(v: Any) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
            return ""
        if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
            return repr(v)
        return str(v).strip()

    return values.map(conv).astype(object)


def _read_any_table(path: Path, *, encoding: str | None, sheet: str | int | None):
    """Return (frame of raw values, geometry or None, layer crs or None, meta, malformed)."""
    suffix = path.suffix.lower()
    if suffix in _TABLE_SUFFIXES:
        frame, meta, malformed = _read_text_table(path, encoding)
        return frame, None, None, meta, malformed
    if suffix in _EXCEL_SUFFIXES:
        try:
            import openpyxl  # noqa: F401
        except ImportError:  # pragma: no cover - declared dependency
            msg = "Reading Excel needs openpyxl: pip install openpyxl."
            raise DataFileError(msg) from None
        try:
            book = pd.ExcelFile(path)
        except Exception as exc:  # openpyxl raises many types
            msg = f"Cannot read '{path}' as an Excel workbook ({type(exc).__name__}: {exc}). Save it as .xlsx or CSV."
            raise DataFileError(msg) from None
        sheets = book.sheet_names
        chosen = sheets[0] if sheet is None else sheet
        if isinstance(chosen, int):
            if not 0 <= chosen < len(sheets):
                msg = f"'{path}' has {len(sheets)} sheet(s) {sheets}; sheet={chosen} does not exist."
                raise DataFileError(msg)
            chosen = sheets[chosen]
        if chosen not in sheets:
            msg = f"'{path}' has no sheet {chosen!r}; its sheets are {sheets}. Pass sheet= one of them."
            raise DataFileError(msg)
        frame = pd.read_excel(book, sheet_name=chosen, dtype=object, keep_default_na=False, na_values=[])
        frame.columns = _dedupe([str(c).strip() for c in frame.columns])
        frame = frame.dropna(how="all")
        frame = frame.reset_index(drop=True)
        return frame, None, None, {"format": "excel", "sheet": str(chosen)}, []
    if suffix in _PARQUET_SUFFIXES:
        import pyarrow.parquet as pq

        try:
            schema = pq.read_schema(path)
        except Exception as exc:
            msg = f"Cannot read '{path}' as Parquet ({exc}). Check the file is a Parquet file."
            raise DataFileError(msg) from None
        if schema.metadata and b"geo" in schema.metadata:
            import geopandas as gpd

            gdf = gpd.read_parquet(path)
            geom = gdf.geometry
            frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
            return frame, geom.values, gdf.crs, {"format": "geoparquet"}, []
        frame = pd.read_parquet(path)
        return frame, None, None, {"format": "parquet"}, []
    if suffix in _VECTOR_SUFFIXES:
        import pyogrio

        try:
            gdf = pyogrio.read_dataframe(path)
        except Exception as exc:
            msg = f"Cannot read '{path}' as a vector layer ({exc}). Check the file opens in QGIS."
            raise DataFileError(msg) from None
        if "geometry" in gdf and gdf.geometry.notna().any():
            frame = pd.DataFrame(gdf.drop(columns="geometry"))
            return frame, gdf.geometry.values, gdf.crs, {"format": "vector"}, []
        frame = pd.DataFrame(gdf.drop(columns="geometry", errors="ignore"))
        return frame, None, None, {"format": "vector-table"}, []
    msg = (
        f"Unknown firm table format '{suffix}' for '{path}'. Use CSV/TSV, Excel (.xlsx), Parquet, "
        "GeoPackage, Shapefile or GeoJSON."
    )
    raise DataFileError(msg)


def _find_column(columns: list[str], given: str | None, candidates: tuple[str, ...], what: str, path: Path) -> str:
    if given is not None:
        if given in columns:
            return given
        lowered = {c.lower(): c for c in columns}
        if given.lower() in lowered:
            return lowered[given.lower()]
        msg = f"Column {given!r} ({what}) is not in '{path}'; its columns are {columns}."
        raise ColumnError(msg)
    hits = [c for c in columns if c.strip().lower() in candidates]
    if len(hits) > 1:
        msg = (
            f"Several columns in '{path}' could hold the {what}: {hits}. "
            f"Say which with {'lon' if what == 'longitude' else 'lat'}=<column>."
        )
        raise ColumnError(msg)
    if not hits:
        msg = (
            f"No {what} column in '{path}': looked for {list(candidates)} (any case) among {columns}. "
            f"Name it with {'lon' if what == 'longitude' else 'lat'}=<column>."
        )
        raise ColumnError(msg)
    return hits[0]


def _normalise_systems(values: pd.Series, default: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-row coordinate systems: (system array, bad-value mask)."""
    aliases = {
        "wgs84": "wgs84", "wgs-84": "wgs84", "wgs 84": "wgs84", "epsg:4326": "wgs84", "4326": "wgs84",
        "gcj02": "gcj02", "gcj-02": "gcj02", "gcj": "gcj02", "mars": "gcj02", "amap": "gcj02",
        "bd09": "bd09", "bd-09": "bd09", "baidu": "bd09", "bd09ll": "bd09",
    }
    text = values.str.strip().str.lower()
    mapped = text.map(aliases)
    empty = text == ""
    bad = (~empty & mapped.isna()).to_numpy()
    out = mapped.where(~empty, default).fillna(default).to_numpy(dtype=object)
    return out, bad


def _infer_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn text columns that are wholly numeric into numbers (ids and codes stay text)."""
    out = {}
    for name in frame.columns:
        col = frame[name]
        lname = str(name).lower()
        if col.dtype != object or lname == "id" or lname.endswith(("_id", "id")) or "code" in lname:
            out[name] = col
            continue
        text = col.astype(str)
        nonempty = text[text != ""]
        if nonempty.empty or nonempty.str.match(r"^[+-]?0\d").any():
            out[name] = col
            continue
        num = pd.to_numeric(nonempty, errors="coerce")
        if num.isna().any():
            out[name] = col
            continue
        full = pd.to_numeric(text.where(text != ""), errors="coerce")
        if np.all(np.mod(num.to_numpy(dtype=float), 1) == 0):
            full = full.astype("Int64") if full.isna().any() else full.astype("int64")
        out[name] = full
    return pd.DataFrame(out, index=frame.index)


def _swap_check(lon: np.ndarray, lat: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Rows whose lon/lat are swapped, judged by the other rows (see read_firms)."""
    in_range = ok & (np.abs(lon) <= 180) & (np.abs(lat) <= 90) & ~((lon == 0) & (lat == 0))
    if in_range.sum() < 5:
        return np.zeros_like(ok)
    lo_lon, hi_lon = np.nanpercentile(lon[in_range], [1, 99])
    lo_lat, hi_lat = np.nanpercentile(lat[in_range], [1, 99])
    pad_lon = max(0.5 * (hi_lon - lo_lon), 0.5)
    pad_lat = max(0.5 * (hi_lat - lo_lat), 0.5)

    def inside(x, y):
        return (x >= lo_lon - pad_lon) & (x <= hi_lon + pad_lon) & (y >= lo_lat - pad_lat) & (y <= hi_lat + pad_lat)

    swapped_ok = ok & (np.abs(lat) <= 180) & (np.abs(lon) <= 90) & inside(lat, lon)
    return swapped_ok & ~inside(lon, lat)


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
        A coordinate shared exactly by at least this many different firms is a stacked
        geocode (typically a geocoder's fallback to a district or city centre).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per kept firm in EPSG:4326, indexed by the 1-based input row number
        (``row``; the header is not counted).  Columns: the input's columns (wholly numeric
        text columns converted to numbers; ids and codes stay text), ``lon`` and ``lat`` in
        WGS84, ``coord_sys`` (the system the row was read in), ``swapped`` (lat/lon fixed)
        and ``stacked``.  ``attrs["rejects"]`` is a DataFrame of every rejected row
        (``row``, ``reason``, ``detail`` and the raw values) and ``attrs["load_report"]``
        a dict of counts by outcome; ``rows_read == rows_kept + rows_rejected``.

    Notes
    -----
    Checks, in order, each row getting the first reason that applies (see
    :data:`REJECT_REASONS`): malformed row, exact duplicate of an earlier row, missing id,
    missing coordinate, not a number, unknown ``coord_sys``, (0, 0), out of range.
    A row whose latitude and longitude are swapped is *fixed*, not rejected, when the
    swapped pair is valid and lies within the extent of the other rows (1st–99th
    percentile box widened by half its size) while the pair as given does not.

    Examples
    --------
    >>> import geo
    >>> from geo.datasets import demo_files
    >>> firms = geo.read_firms(demo_files()["firms"])
    >>> r = firms.attrs["load_report"]
    >>> r["rows_read"] == r["rows_kept"] + r["rows_rejected"]
    True
    """
    import geopandas as gpd

    p = _check_file(path, "Firm table")
    raw, geometry, layer_crs, meta, malformed = _read_any_table(p, encoding=encoding, sheet=sheet)
    n = len(raw)
    if n == 0:
        msg = f"'{p}' has a header but no data rows. Check the export."
        raise InputError(msg)
    columns = [str(c) for c in raw.columns]
    raw.columns = columns
    text = pd.DataFrame({c: _as_text(raw[c]) for c in columns})
    rows = np.arange(1, n + 1)
    system_default = _crs.parse_crs(crs)

    reason = np.full(n, None, dtype=object)
    detail = np.full(n, "", dtype=object)

    def reject(mask: np.ndarray, key: str, info: np.ndarray | str | None = None) -> None:
        mask = mask & (reason == None)  # noqa: E711 - elementwise on object array
        reason[mask] = key
        if info is None:
            detail[mask] = REJECT_REASONS[key]
        elif isinstance(info, str):
            detail[mask] = info
        else:
            detail[mask] = info[mask]

    for m in malformed:
        i = m["row"] - 1
        reason[i] = "malformed_row"
        detail[i] = f"{len(m['fields'])} fields, header has {len(columns)}"
        text.iloc[i] = (m["fields"] + [""] * len(columns))[: len(columns)]

    # exact duplicates (every raw field equal, geometry included for layers)
    key_frame = text.copy()
    if geometry is not None:
        import shapely

        key_frame["__wkb__"] = [g.wkb_hex if g is not None else "" for g in geometry]
    dup = key_frame.duplicated(keep="first").to_numpy()
    if dup.any():
        first = key_frame.groupby(list(key_frame.columns), sort=False, dropna=False).ngroup().to_numpy()
        first_row = pd.Series(rows).groupby(first).transform("min").to_numpy()
        info = np.array([f"exact duplicate of row {r}" for r in first_row], dtype=object)
        reject(dup, "duplicate", info)

    # firm id
    if id is not None:
        id_col = _find_column(columns, id, (id.lower(),), "firm id", p)
    else:
        id_col = next((c for c in columns if c.lower() in ("firm_id", "id")), None)
    if id_col is not None:
        reject((text[id_col] == "").to_numpy(), "missing_id")

    # coordinates
    systems_given = coord_sys_column in columns
    if geometry is not None and lon is None and lat is None:
        import shapely

        gtype = shapely.get_type_id(geometry)
        missing = shapely.is_missing(geometry) | shapely.is_empty(geometry)
        notpoint = ~missing & (gtype != 0)
        info = np.array([f"geometry is {shapely.get_type_id(g) if g is None else g.geom_type}, expected Point" for g in geometry], dtype=object)
        reject(notpoint, "not_a_point", info)
        reject(missing, "missing_coordinate", "feature has no geometry")
        ok_geom = ~missing & ~notpoint
        x = np.full(n, np.nan)
        y = np.full(n, np.nan)
        x[ok_geom] = shapely.get_x(geometry[ok_geom])
        y[ok_geom] = shapely.get_y(geometry[ok_geom])
        lon_col = lat_col = None
        if system_default in ("gcj02", "bd09") or systems_given:
            src = system_default
        elif layer_crs is not None:
            src = _crs.parse_crs(layer_crs)
        else:
            src = system_default
        meta["geometry"] = "point layer"
    else:
        lon_col = _find_column(columns, lon, LON_CANDIDATES, "longitude", p)
        lat_col = _find_column(columns, lat, LAT_CANDIDATES, "latitude", p)
        lon_txt = text[lon_col]
        lat_txt = text[lat_col]
        missing = ((lon_txt == "") | (lat_txt == "")).to_numpy()
        reject(missing, "missing_coordinate")
        x = pd.to_numeric(lon_txt.str.replace("，", ".", regex=False), errors="coerce").to_numpy(dtype=float)
        y = pd.to_numeric(lat_txt.str.replace("，", ".", regex=False), errors="coerce").to_numpy(dtype=float)
        nan = ~np.isfinite(x) | ~np.isfinite(y)
        info = np.array([f"lon={a!r}, lat={b!r}" for a, b in zip(lon_txt, lat_txt)], dtype=object)
        reject(nan & ~missing, "not_a_number", info)
        src = system_default

    # per-row coordinate systems
    if isinstance(src, str):
        if systems_given:
            systems, bad_sys = _normalise_systems(text[coord_sys_column], src)
            info = np.array([f"coord_sys={v!r}; use wgs84, gcj02 or bd09" for v in text[coord_sys_column]], dtype=object)
            reject(bad_sys, "unknown_coord_sys", info)
        else:
            systems = np.full(n, src, dtype=object)
    else:
        systems = np.full(n, "epsg", dtype=object)

    zero = (x == 0) & (y == 0)
    reject(zero, "zero_zero")

    pending = reason == None  # noqa: E711
    swapped = np.zeros(n, dtype=bool)
    if isinstance(src, str):
        swapped = _swap_check(x, y, pending)
        x, y = np.where(swapped, y, x), np.where(swapped, x, y)
        out = pending & ((np.abs(x) > 180) | (np.abs(y) > 90))
        info = np.array([f"lon={a}, lat={b}" for a, b in zip(x, y)], dtype=object)
        reject(out, "out_of_range", info)
        pending = reason == None  # noqa: E711
        lon_w = np.full(n, np.nan)
        lat_w = np.full(n, np.nan)
        if pending.any():
            lon_w[pending], lat_w[pending] = _crs.to_wgs84_per_row(x[pending], y[pending], systems[pending])
    else:
        from pyproj import Transformer

        tr = Transformer.from_crs(src, "EPSG:4326", always_xy=True)
        lon_w = np.full(n, np.nan)
        lat_w = np.full(n, np.nan)
        if pending.any():
            lon_w[pending], lat_w[pending] = tr.transform(x[pending], y[pending])
        out = pending & (~np.isfinite(lon_w) | ~np.isfinite(lat_w) | (np.abs(lon_w) > 180) | (np.abs(lat_w) > 90))
        reject(out, "out_of_range", f"outside the valid area of {src.to_string()}")
        systems = np.full(n, src.to_string(), dtype=object)

    # stacked geocodes: many different firms on exactly one coordinate
    pending = reason == None  # noqa: E711
    stacked = np.zeros(n, dtype=bool)
    stacked_sites = 0
    if pending.any():
        keys = pd.DataFrame({"x": np.round(lon_w[pending], 7), "y": np.round(lat_w[pending], 7)})
        size = keys.groupby(["x", "y"])["x"].transform("size").to_numpy()
        hit = size >= stacked_min
        stacked[np.flatnonzero(pending)[hit]] = True
        stacked_sites = int(keys[hit].drop_duplicates().shape[0])
        if drop_stacked:
            reject(stacked, "stacked", "stacked geocode (dropped by drop_stacked=True)")

    kept = reason == None  # noqa: E711
    rejects = text.loc[~kept].copy()
    rejects.insert(0, "detail", detail[~kept])
    rejects.insert(0, "reason", reason[~kept])
    rejects.insert(0, "row", rows[~kept])
    rejects = rejects.reset_index(drop=True)

    body = text.loc[kept].drop(columns=[c for c in (lon_col, lat_col) if c is not None])
    body = _infer_types(body)
    body = body.drop(columns=[c for c in ("lon", "lat", "coord_sys", "swapped", "stacked") if c in body.columns])
    if id_col is None:
        body.insert(0, "firm_id", [str(r) for r in rows[kept]])
    body["lon"] = lon_w[kept]
    body["lat"] = lat_w[kept]
    body["coord_sys"] = systems[kept]
    body["swapped"] = swapped[kept]
    body["stacked"] = stacked[kept]
    body.index = pd.Index(rows[kept], name="row")
    import shapely

    firms = gpd.GeoDataFrame(body, geometry=shapely.points(lon_w[kept], lat_w[kept]), crs="EPSG:4326")

    by_reason = pd.Series(reason[~kept]).value_counts().to_dict()
    sys_counts = pd.Series(systems[kept]).value_counts().to_dict() if kept.any() else {}
    report = {
        "file": str(p),
        **meta,
        "lon_column": lon_col,
        "lat_column": lat_col,
        "id_column": id_col,
        "crs": system_default if isinstance(system_default, str) else system_default.to_string(),
        "rows_read": int(n),
        "rows_kept": int(kept.sum()),
        "rows_rejected": int((~kept).sum()),
        "rejected_by_reason": {str(k): int(v) for k, v in sorted(by_reason.items())},
        "fixed_swapped": int(swapped[kept].sum()),
        "stacked_rows": int(stacked[kept].sum()),
        "stacked_sites": stacked_sites,
        "converted": {str(k): int(v) for k, v in sorted(sys_counts.items()) if k != "wgs84"},
        "coord_systems": {str(k): int(v) for k, v in sorted(sys_counts.items())},
    }
    if report["rows_read"] != report["rows_kept"] + report["rows_rejected"]:  # pragma: no cover - invariant
        msg = "internal error: rows read != kept + rejected"
        raise AssertionError(msg)
    firms.attrs["load_report"] = report
    firms.attrs["rejects"] = rejects
    log.info("read %s: %d rows, %d kept, %d rejected", p, n, report["rows_kept"], report["rows_rejected"])
    return firms


# ----------------------------------------------------------------------------- parks
_PARK_NAME = ("name", "park", "park_name", "parkname", "名称", "园区", "园区名称")
_PARK_VALLEY = ("valley", "city", "region", "城市")
_PARK_YEAR = ("designated", "designation_year", "year", "established", "设立年份", "批准年份")


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
    try:
        kwargs = {} if layer is None else {"layer": layer}
        gdf = pyogrio.read_dataframe(p, **kwargs)
    except Exception as exc:
        msg = f"Cannot read '{p}' as a polygon layer ({exc}). Check the file opens in QGIS."
        raise DataFileError(msg) from None
    if "geometry" not in gdf or len(gdf) == 0:
        msg = f"'{p}' holds no features with geometry; park boundaries must be polygons."
        raise InputError(msg)
    columns = [c for c in gdf.columns if c != "geometry"]
    name_col = _pick(columns, name, _PARK_NAME, "name", p, required=True)
    valley_col = _pick(columns, valley, _PARK_VALLEY, "valley", p, required=False)
    year_col = _pick(columns, designated, _PARK_YEAR, "designated", p, required=False)

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
    if year_col is not None:
        yr = pd.to_numeric(out[year_col], errors="coerce")
        bad = yr.notna() & ((yr < 1900) | (yr > 2100) | (yr % 1 != 0))
        for r, v in zip(out.index[bad | (yr.isna() & out[year_col].notna())], out[year_col][bad | (yr.isna() & out[year_col].notna())]):
            year_problems.append({"row": int(r), "value": str(v)})
        result["designated"] = yr.where(~bad).astype("Int64").to_numpy()
    else:
        result["designated"] = pd.array([pd.NA] * len(out), dtype="Int64")
    for c in columns:
        if c not in (name_col, valley_col, year_col) and c not in result.columns:
            result[c] = out[c].to_numpy()
    result = result[["name", "valley", "designated", *[c for c in result.columns if c not in ("name", "valley", "designated", "geometry")], "geometry"]]

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


# ----------------------------------------------------------------------------- writers
@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table as UTF-8 CSV with a BOM (so Excel shows Chinese text), atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n")
    return Path(path)


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write JSON (UTF-8, sorted keys, NaN as null), atomically."""
    import json

    text = json.dumps(_jsonable(obj), ensure_ascii=False, indent=2, sort_keys=True, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return Path(path)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if np.isfinite(v) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, pd.DataFrame):
        return [_jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_layers(layers: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write several (Geo)DataFrames as layers of one GeoPackage, atomically."""
    import pyogrio

    with atomic_path(path) as tmp:
        for name, frame in layers.items():
            if frame is None:
                continue
            frame = frame.copy()
            frame.attrs = {}
            for c in frame.columns:
                if c != "geometry" and frame[c].dtype == object:
                    frame[c] = frame[c].astype(str).where(frame[c].notna(), None)
            if hasattr(frame, "geometry") and "geometry" in frame:
                pyogrio.write_dataframe(frame.reset_index(), tmp, layer=name, driver="GPKG", append=tmp.exists())
            else:
                import geopandas as gpd

                pyogrio.write_dataframe(gpd.GeoDataFrame(frame.reset_index(drop=frame.index.name is None)), tmp, layer=name, driver="GPKG", append=tmp.exists())
    return Path(path)


_SAFE = re.compile(r"[^0-9A-Za-z_\-]+")


def safe_name(text: str) -> str:
    """A file-name-safe slug of ``text`` (valley names in output paths)."""
    return _SAFE.sub("_", str(text)).strip("_") or "valley"
