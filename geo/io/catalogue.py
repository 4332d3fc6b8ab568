"""China's national development-zone catalogue as published: a point layer joined to an Excel table.

The catalogue (《中国开发区审核公告目录》 and the provinces' lists in its layout) comes as a point
shapefile of the zones and an ``.xlsx`` of their attributes with Chinese headers.
:func:`read_catalogue` joins the two (on the zone code when both files have one, else on the
name) and returns the points with their attributes; :func:`geo.io.parks.read_parks` with
``source="catalogue"`` (``[parks] source = "catalogue"``) then checks them like any park points and
draws each zone as a disc of its approved area, flagged ``approximate_boundary``.

The headers recognised (any case; the first found in this order; ``[parks]`` keys override):

=================  ====================================================  ==========================
what               headers recognised                                    ``[parks]`` key
=================  ====================================================  ==========================
name               开发区名称, 名称, 园区名称, 园区, name, park_name            ``name``
code (join key)    代码, 开发区代码, 编码, 编号, code, zone_code               (found in both files)
approval date      批准时间, 批准设立时间, 批准年份, 设立时间, approved_year …  ``designated``
approved area      核准面积 (km²), 核准面积（公顷）(hectares: × 0.01),          ``area_column``,
                   核准面积（平方公里）, approved_area_km2, area_km2             ``area_unit``
level              级别 (国家级 / 省级), level                                (kept as ``level``)
province / place   省份, 所在地, 省（区、市）…                                 (kept as attributes)
=================  ====================================================  ==========================

Approval dates may be years (``1991``), Chinese dates (``1991年3月``) or Excel dates
(``1991-03-06``): the year is the designation year.  The Excel header row need not be the
first: a title row above it (``国家级开发区（2018年版）``) is skipped, and the header is the first
row of the first :data:`HEADER_SCAN_ROWS` holding a name or code header.

Rows that are not zones are skipped and listed (``attrs["catalogue"]["skipped_rows"]``, a note):
a heading or a note in a single cell (``一、北京市``, ``注：…``) and the header repeated above a
second list (国家级 then 省级 zones in one sheet).  Nothing else is dropped: a row of the table without a point, a point without a row, a
row or a point whose key is empty or not unique are rejects with their row (Excel row
number) or feature number and a reason (``attrs["rejects"]``, then ``parks_rejects.csv``), so
that ``features_read = parks_kept + features_rejected``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.errors import ColumnError, DataFileError, InputError
from geo.io._columns import PARK_NAME as _PARK_NAME

__all__ = ["CODE_CANDIDATES", "HEADER_SCAN_ROWS", "JOIN_REASONS", "catalogue_features", "read_catalogue"]

log = logging.getLogger(__name__)

#: headers of the zone code, the preferred join key (any case)
CODE_CANDIDATES = ("代码", "开发区代码", "编码", "编号", "code", "zone_code", "zone_id")

#: rows of the Excel sheet searched for the header row
HEADER_SCAN_ROWS = 20

#: reasons of the join's rejects
JOIN_REASONS = {
    "no_point": "a row of the attribute table with no point of that code (or name) in the point layer",
    "no_attributes": "a point of the layer with no row of that code (or name) in the attribute table",
    "no_key": "the code (or name) used to join is empty",
    "ambiguous_key": "the code (or name) occurs more than once in a file, so its point and row cannot be paired",
}


def _clean(values: pd.Series) -> pd.Series:
    """Join keys as text: stripped, a numeric code read as 110000.0 written 110000."""
    text = values.astype("string").str.strip()
    return text.str.replace(r"^(\d+)\.0+$", r"\1", regex=True).replace("", pd.NA)


def _hits(columns: list[str], candidates: tuple[str, ...]) -> list[str]:
    lowered = [c.strip().lower() for c in columns]
    return [columns[lowered.index(k)] for k in candidates if k in lowered]


def _given(columns: list[str], given: str) -> str | None:
    if given in columns:
        return given
    lowered = {c.strip().lower(): c for c in columns}
    return lowered.get(given.strip().lower())


def _read_sheet(path: Path, *, sheet: str | int | None, name: str | None):
    """The attribute table, its header row found; Excel row numbers as the index."""
    import io

    from geo.io._text import _TABLE_SUFFIXES, _decode, sniff_delimiter

    try:
        if path.suffix.lower() in _TABLE_SUFFIXES:  # the table saved as CSV (any encoding _decode detects: GBK …)
            text, _ = _decode(path.read_bytes(), None, path)
            raw = pd.read_csv(io.StringIO(text), sep=sniff_delimiter(text, path.suffix.lower()), header=None, dtype=str,
                              keep_default_na=False, na_values=[""], skip_blank_lines=False)
        else:
            raw = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, header=None, dtype=str)
    except (ValueError, OSError, ImportError, KeyError) as exc:
        msg = f"Cannot read '{path}' as the catalogue's attribute table ({exc})."
        raise DataFileError(msg) from None
    wanted = {*(c.lower() for c in _PARK_NAME), *(c.lower() for c in CODE_CANDIDATES)}
    if name is not None:
        wanted.add(name.strip().lower())
    header = None
    for i in range(min(HEADER_SCAN_ROWS, len(raw))):
        cells = {str(v).strip().lower() for v in raw.iloc[i] if pd.notna(v)}
        if cells & wanted:
            header = i
            break
    if header is None:
        shown = [[str(v).strip() for v in raw.iloc[i] if pd.notna(v)] for i in range(min(3, len(raw)))]
        msg = (f"No header row in the first {min(HEADER_SCAN_ROWS, len(raw))} rows of '{path.name}': none holds a zone "
               f"name ({', '.join(_PARK_NAME)}) or code ({', '.join(CODE_CANDIDATES)}) header; its first rows hold {shown}. "
               "Name the name column with [parks] name = \"...\".")
        raise ColumnError(msg)
    columns = [str(v).strip() if pd.notna(v) else "" for v in raw.iloc[header]]
    seen: dict[str, int] = {}
    for j, c in enumerate(columns):  # a header written twice (备注, 备注) becomes 备注, 备注 (2)
        if c:
            seen[c] = seen.get(c, 0) + 1
            columns[j] = c if seen[c] == 1 else f"{c} ({seen[c]})"
    keep = [j for j, c in enumerate(columns) if c]
    table = raw.iloc[header + 1:, keep].copy()
    table.columns = [columns[j] for j in keep]
    table.index = pd.Index(np.arange(header + 2, header + 2 + len(table)), name="row")  # Excel's row numbers
    table = table.loc[table.notna().any(axis=1)]  # blank lines
    table = table.apply(lambda s: s.str.strip())
    return table, header + 1


def read_catalogue(
    path: str | os.PathLike,
    attributes: str | os.PathLike,
    *,
    name: str | None = None,
    layer: str | int | None = None,
    sheet: str | int | None = None,
):
    """Read a development-zone catalogue: a point layer joined to its Excel attribute table.

    Parameters
    ----------
    path : str or path-like
        The zones' point layer (a shapefile with its ``.prj``, or any point layer GDAL reads).
    attributes : str or path-like
        The ``.xlsx`` of the zones' attributes (headers in the table of the module docstring;
        a title row above the header is skipped), or the same table saved as CSV.
    name : str, optional
        The table's name column (``[parks] name``); found among the name headers when not given.
    layer : str or int, optional
        Layer of a multi-layer point source.
    sheet : str or int, optional
        Sheet of the workbook (default the first).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per zone found in both files: the table's columns, the layer's other columns,
        and the point ``geometry`` in the layer's CRS (none when it has none), indexed by the
        table's Excel row number.  ``attrs["rejects"]`` (``row``, ``name``, ``reason``,
        ``detail``; ``reason`` one of :data:`JOIN_REASONS`; ``row`` is the Excel row of a table
        row, the 1-based feature number of a point), ``attrs["catalogue"]`` (the files, the
        join columns, the header row, the counts: ``rows + points_without_attributes =
        joined + rejected``).

    Raises
    ------
    geo.errors.DataFileError
        A file that cannot be read.
    geo.errors.InputError
        A layer without features; no header row; no column to join on (the sentence lists the
        headers of both files).
    """
    import pyogrio
    import pyogrio.errors

    from geo.io._text import check_file

    p = check_file(path, "Catalogue point layer")
    a = check_file(attributes, "Catalogue attribute table")
    try:
        points = pyogrio.read_dataframe(p, **({} if layer is None else {"layer": layer}))
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, pyogrio.errors.FeatureError,
            pyogrio.errors.FieldError, pyogrio.errors.GeometryError, OSError, ValueError) as exc:
        msg = f"Cannot read '{p}' as the catalogue's point layer ({exc}). Check the file opens in QGIS."
        raise DataFileError(msg) from None
    if len(points) == 0:
        msg = (f"'{p.name}' holds no feature: the catalogue's point layer is empty, so no zone can be placed "
               f"(its attribute table '{a.name}' cannot be drawn without the points).")
        raise InputError(msg)
    points.index = pd.Index(np.arange(1, len(points) + 1), name="feature")
    table, header_row = _read_sheet(a, sheet=sheet, name=name)
    t_cols, p_cols = list(table.columns), [c for c in points.columns if c != "geometry"]

    t_name = _given(t_cols, name) if name is not None else next(iter(_hits(t_cols, _PARK_NAME)), None)
    if name is not None and t_name is None:
        msg = f"Column {name!r} ([parks] name) is not in '{a.name}' (header row {header_row}); its headers are {t_cols}."
        raise ColumnError(msg)
    p_name = (_given(p_cols, name) if name is not None else None) or next(iter(_hits(p_cols, _PARK_NAME)), None)
    t_code, p_code = next(iter(_hits(t_cols, CODE_CANDIDATES)), None), next(iter(_hits(p_cols, CODE_CANDIDATES)), None)
    if t_code is not None and p_code is not None:
        key, t_key, p_key = "code", t_code, p_code
    elif t_name is not None and p_name is not None:
        key, t_key, p_key = "name", t_name, p_name
    else:
        msg = (f"Cannot join '{p.name}' to '{a.name}': no zone code ({', '.join(CODE_CANDIDATES)}) nor name "
               f"({', '.join(_PARK_NAME)}) column is in both; '{p.name}' holds {p_cols} and '{a.name}' holds {t_cols} "
               f"(header row {header_row}). Rename the join column in one file, or name the name column of both with "
               "[parks] name = \"...\".")
        raise ColumnError(msg)

    tk = _clean(table[t_key])
    # not zones: a heading or a note in one cell (一、北京市; 注：…) and the header again (a second list below the first)
    filled = (table.notna() & (table != "")).sum(axis=1)
    heading = (filled == 1) & tk.isna()
    repeated = (table.fillna("") == pd.Series(t_cols, index=t_cols)).sum(axis=1) >= max(2, len(t_cols) // 2)
    skipped = table.loc[heading | repeated]
    table, tk = table.loc[~(heading | repeated)], tk[~(heading | repeated)]
    pk = _clean(points[p_key])
    label_t = table[t_name] if t_name is not None else tk
    label_p = points[p_name].astype("string") if p_name is not None else pk
    rejects: list[dict[str, Any]] = []

    def reject(row: int, label: Any, reason: str, detail: str) -> None:
        rejects.append({"row": int(row), "name": "" if pd.isna(label) else str(label), "reason": reason, "detail": detail})

    t_dup = tk.notna() & tk.duplicated(keep=False)
    p_dup = pk.notna() & pk.duplicated(keep=False)
    p_set = set(pk[pk.notna() & ~p_dup])
    t_set = set(tk[tk.notna() & ~t_dup])
    for r in table.index:
        k = tk[r]
        if pd.isna(k):
            reject(r, label_t[r], "no_key", f"row {r} of {a.name}: its {key} ({t_key}) is empty, so it has no point")
        elif t_dup[r]:
            others = [int(x) for x in tk.index[tk == k] if x != r]
            reject(r, label_t[r], "ambiguous_key", f"row {r} of {a.name}: {key} {k!r} is also in row(s) {others}; "
                   "which point is whose cannot be told")
        elif k not in p_set:
            why = f"{p.name} has {key} {k!r} {int((pk == k).sum())} times" if k in set(pk[p_dup]) else f"no point of {p.name} has {key} {k!r}"
            reject(r, label_t[r], "no_point", f"row {r} of {a.name}: {why}")
    for f in points.index:
        k = pk[f]
        if pd.isna(k):
            reject(f, label_p[f], "no_key", f"feature {f} of {p.name}: its {key} ({p_key}) is empty, so it has no attributes")
        elif p_dup[f]:
            reject(f, label_p[f], "ambiguous_key", f"feature {f} of {p.name}: {key} {k!r} is on {int((pk == k).sum())} points")
        elif k not in t_set:
            reject(f, label_p[f], "no_attributes", f"feature {f} of {p.name}: {key} {k!r} is in no row of {a.name}")

    ok_t = tk.notna() & ~t_dup & tk.isin(p_set)
    by_key = pd.Series(points.index[pk.notna() & ~p_dup], index=pk[pk.notna() & ~p_dup].to_numpy())
    feature = by_key.reindex(tk[ok_t].to_numpy()).to_numpy()
    joined = table.loc[ok_t].copy()
    extra = [c for c in p_cols if c != p_key and c not in t_cols and (c != p_name or t_name is None)]
    for c in extra:
        joined[c] = points[c].reindex(feature).to_numpy()
    import geopandas as gpd

    out = gpd.GeoDataFrame(joined, geometry=points.geometry.reindex(feature).to_numpy(), crs=points.crs)
    rj = pd.DataFrame(rejects, columns=["row", "name", "reason", "detail"])
    out.attrs["rejects"] = rj
    out.attrs["catalogue"] = {
        "points": str(p), "attributes": str(a), "header_row": int(header_row), "join": key,
        "join_columns": [t_key, p_key], "rows": len(table), "points_read": len(points),
        "joined": len(out), "rejected_by_reason": {k: int(v) for k, v in rj["reason"].value_counts().items()},
        "skipped_rows": [{"row": int(r), "text": " ".join(str(v) for v in row if pd.notna(v) and str(v))[:60]}
                         for r, row in zip(skipped.index, skipped.itertuples(index=False))],
    }
    if len(rj):
        log.info("catalogue %s + %s: %d of %d zone(s) could not be joined (%s)", p.name, a.name, len(rj),
                    len(out) + len(rj), ", ".join(f"{k}: {v}" for k, v in out.attrs["catalogue"]["rejected_by_reason"].items()))
    return out


def catalogue_features(report: dict) -> int:
    """Zones a catalogue holds: joined + rejected (a row and its point count once)."""
    return int(report["joined"]) + sum(int(v) for v in report["rejected_by_reason"].values())

