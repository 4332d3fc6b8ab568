"""Checking a study's configuration against its data before anything is computed.

A GIS analyst cannot tell a report computed on the wrong column from a right one, so every
slip that would silently change what is analysed stops the run here with one sentence that
names what was wrong and what the data holds: a column the config names that the table
lacks, a target sector or a valley that matches no firm, a table of which most rows were
rejected (a wrong ``crs``, wrong coordinate columns).  Both engines and ``geo check`` call
these functions; none of them computes a statistic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo._words import counted, listing, suggest
from geo.config import Config
from geo.crs import out_of_china
from geo.errors import ColumnError, InputError

__all__ = [
    "resolve_columns",
    "renames",
    "check_crs",
    "crs_assumption",
    "valleys_from_column",
    "check_rejections",
    "check_valleys",
    "check_target",
    "founding_coverage",
]

#: the [firms] keys that name a column of the firm table
FIRM_COLUMN_KEYS = ("valley_column", "sector_column", "subsector_column", "founded_column", "name_column",
                    "employees_column", "closed_column")
#: the [models] keys that name a column of the firm table
MODEL_COLUMN_KEYS = ("anchor_column", "rd_column", "ownership_column")



def _table_name(path: Any) -> str:
    return Path(str(path)).name if path is not None else "the firm table"


# ----------------------------------------------------------------------------- columns
def valleys_from_column(cfg: Config) -> list[str]:
    """The configured valleys whose firms are told by the valley column (no bbox, no own table)."""
    return [v.name for v in cfg.valleys if v.bbox is None and v.firms is None]


def _find(name: str | None, columns: Sequence[str]) -> str | None:
    """``name`` as it is spelled among ``columns``: exactly, else the one column equal in any case."""
    if name is None:
        return None
    if name in columns:
        return name
    hits = [c for c in columns if c.strip().lower() == name.strip().lower()]
    return hits[0] if len(hits) == 1 else None


def _missing(label: str, name: str, columns: Sequence[str], table: str, why: str = "") -> ColumnError:
    msg = (f"{label} {name!r} is not a column of {table}{why}; its columns are: {listing(columns)}."
           f"{suggest(name, columns)}{_header_hint(columns, table)}")
    return ColumnError(msg)


def _header_hint(columns: Sequence[str], table: str) -> str:
    """A hint when the columns read do not look like a header (a title row above it, another sheet)."""
    unnamed = [c for c in columns if str(c).startswith(("Unnamed:", "column_"))]
    hint = ""
    if columns and len(unnamed) >= len(columns) / 2:
        hint = (" The header does not seem to be on the first row (columns such as "
                f"{unnamed[0]!r}): delete the title rows above it.")
    if table.lower().endswith((".xlsx", ".xlsm", ".xls")):
        hint += " The columns are those of the workbook's first sheet; [firms] sheet = \"...\" reads another."
    if {"categories", "confidence", "names"} <= {str(c).lower() for c in columns}:
        hint += (" These are the columns of Overture Places: set [firms] source = \"overture\" (its categories become "
                 "sectors through [firms.overture_sectors]).")
    return hint


def resolve_columns(cfg: Config, columns: Sequence[str], *, table: Any = None, own_valley: bool = False) -> Config:
    """``cfg`` with every column it names matched to the firm table's ``columns``.

    A column the user named (``sector_column = "sektor"``) must exist; so must the sector
    column when there is a ``target_sector``, the valley column when two or more
    ``[[valleys]]`` are told apart by it, and the code column when ``[groups]`` is set.
    A column that differs only in case (``Sector``) is taken as it is spelled in the table.
    Optional columns left at their defaults may be absent (their stages are skipped).
    ``own_valley``: the table is a reference valley's own (its valley column is not needed).

    Raises
    ------
    ColumnError
        Naming the config key, the column, the table's columns and the closest one.
    """
    columns = list(columns)
    name = _table_name(table)
    firms_changes: dict[str, str] = {}
    for key in FIRM_COLUMN_KEYS:
        if key == "valley_column" and own_valley:
            continue
        wanted = getattr(cfg.firms, key)
        found = _find(wanted, columns)
        if found is not None:
            if found != wanted:
                firms_changes[key] = found
            continue
        label = f"[firms] {key}"
        if cfg.is_given("firms", key):
            raise _missing(label, wanted, columns, name)
        if key == "sector_column" and cfg.analysis.target_sector is not None:
            raise _missing(label, wanted, columns, name,
                           f" (target_sector = {cfg.analysis.target_sector!r} needs each firm's sector: set {label} to the "
                           "column that holds it)")
        by_column = valleys_from_column(cfg)
        if key == "valley_column" and len(by_column) >= 2:
            raise _missing(label, wanted, columns, name,
                           f" (the study's valleys {listing(by_column)} are told apart by it: set {label} to the column that "
                           "names each firm's city or zone, or give each [[valleys]] a bbox)")
    models_changes: dict[str, str] = {}
    for key in MODEL_COLUMN_KEYS:
        wanted = getattr(cfg.models, key)
        found = _find(wanted, columns)
        if found is None and cfg.is_given("models", key):
            raise _missing(f"[models] {key}", wanted, columns, name)
        if found is not None and found != wanted:
            models_changes[key] = found
    groups_changes: dict[str, str] = {}
    if cfg.groups.path is not None:
        wanted = cfg.groups.code_column
        found = _find(wanted, columns)
        if found is None:
            raise _missing("[groups] code_column", wanted, columns, name,
                           " (the high-tech vs traditional comparison reads each firm's industry code from it)")
        if found != wanted:
            groups_changes["code_column"] = found
    if not (firms_changes or models_changes or groups_changes):
        return cfg
    return dataclasses.replace(
        cfg,
        firms=dataclasses.replace(cfg.firms, **firms_changes),
        models=dataclasses.replace(cfg.models, **models_changes),
        groups=dataclasses.replace(cfg.groups, **groups_changes),
    )


def renames(own: Config, main: Config) -> dict[str, str]:
    """Column renames that give a table resolved as ``own`` the spelling of ``main`` (``Industry`` -> ``industry``)."""
    out = {}
    for section, keys in (("firms", FIRM_COLUMN_KEYS), ("models", MODEL_COLUMN_KEYS), ("groups", ("code_column",))):
        a, b = getattr(own, section), getattr(main, section)
        for key in keys:
            if getattr(a, key) != getattr(b, key):
                out[getattr(a, key)] = getattr(b, key)
    return out


# ----------------------------------------------------------------------------- rejected rows
def _numbers(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(pd.Series(values, dtype=object).astype(str).str.strip(), errors="coerce").to_numpy(float)


def _range(v: np.ndarray) -> str:
    v = v[np.isfinite(v)]
    lo, hi = np.quantile(v, [0.01, 0.99]) if len(v) else (np.nan, np.nan)
    return f"{lo:.3g}–{hi:.3g}"


def _diagnose_range(rejects: pd.DataFrame, lon_col: str | None, lat_col: str | None) -> str:
    """Why coordinates are out of range: projected metres, Gauss–Krüger with a zone prefix, scaled degrees."""
    if lon_col is None or lat_col is None or lon_col not in rejects or lat_col not in rejects:
        return ""
    bad = rejects[rejects["reason"] == "out_of_range"]
    x, y = _numbers(bad[lon_col]), _numbers(bad[lat_col])
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() == 0:
        return ""
    x, y = x[ok], y[ok]
    mx, my = np.median(np.abs(x)), np.median(np.abs(y))
    ranges = f"x {_range(x)}, y {_range(y)}"
    if 1e7 <= mx < 1e8 and 1e6 <= my < 1e7:
        zone = int(np.median(x) // 1e6)
        if 25 <= zone <= 45:
            epsg = 4513 + zone - 25
            return (f"; the values look like CGCS2000 3-degree Gauss–Krüger metres with the zone number in front ({ranges}, "
                    f"zone {zone}): set [firms] crs = 'EPSG:{epsg}'")
        if 13 <= zone <= 23:
            epsg = 4491 + zone - 13
            return (f"; the values look like CGCS2000 6-degree Gauss–Krüger metres with the zone number in front ({ranges}, "
                    f"zone {zone}): set [firms] crs = 'EPSG:{epsg}'")
    if 1e6 <= mx < 2e9 and (np.abs(x) / 10 ** np.round(np.log10(mx / 100))).max() <= 180 and 1e5 <= my:
        scale = 10 ** np.round(np.log10(mx / 100))
        if np.all(np.abs(y) / scale <= 90) and np.median(np.abs(y)) / scale >= 1:
            return (f"; the values look like degrees multiplied by {scale:,.0f} ({ranges}): divide both columns by "
                    f"{scale:,.0f} before reading")
    if mx <= 90 < my <= 180:
        return (f"; the longitude column {lon_col!r} holds values up to {np.max(np.abs(x)):.4g} and the latitude column "
                f"{lat_col!r} up to {np.max(np.abs(y)):.4g}: the two look swapped: set [firms] lon = {lat_col!r} and "
                f"lat = {lon_col!r}")
    if 1e4 <= mx < 1e7 and 1e4 <= my < 1e7:
        lat = np.median(y) / 110_950.0
        hint = f" (a northing of {np.median(y):,.0f} m is about {lat:.0f}° from the equator)" if 0 < lat < 90 else ""
        return (f"; the values look like projected metres, not degrees ({ranges}){hint}: set [firms] crs to the system "
                "they were made in, e.g. crs = 'EPSG:32650' for UTM zone 50N or 'EPSG:4547' for CGCS2000 3-degree "
                "Gauss–Krüger CM 114E")
    return f"; the coordinates span {ranges}"


def _examples(rejects: pd.DataFrame, reason: str, columns: Sequence[str | None], k: int = 3) -> str:
    rows = rejects[rejects["reason"] == reason]
    cols = [c for c in columns if c is not None and c in rows]
    if not cols or not len(rows):
        return ""
    pairs = rows[cols].astype(str).drop_duplicates().head(k)
    return "; values such as " + ", ".join("(" + ", ".join(repr(v) for v in r) + ")" for r in pairs.itertuples(index=False))


def _diagnosis(reasons: Mapping[str, int], rejects: pd.DataFrame, report: Mapping[str, Any]) -> str:
    """One clause on the likely cause of mass rejection, from the most frequent reason."""
    if not reasons:
        return ""
    top = max(reasons, key=lambda k: reasons[k])
    lon_col, lat_col = report.get("lon_column"), report.get("lat_column")
    if top == "out_of_range":
        return _diagnose_range(rejects, lon_col, lat_col)
    if top == "missing_coordinate":
        return f"; the coordinate columns {lon_col!r} and {lat_col!r} are empty in most rows: are they the right columns?"
    if top == "not_a_number":
        return (_examples(rejects, "not_a_number", [lon_col, lat_col])
                + ": coordinates must be decimal degrees with a point as the decimal mark (or numbers in the crs's units)")
    if top == "malformed_row":
        return "; rows have more fields than the header: a wrong delimiter, or commas inside unquoted names"
    if top == "unknown_coord_sys":
        return _examples(rejects, "unknown_coord_sys", ["coord_sys"]) + ": the coord_sys column may hold wgs84, gcj02 or bd09"
    if top == "missing_id":
        return f"; the id column {report.get('id_column')!r} is empty in most rows: is it the right column?"
    if top == "bad_date":
        col = (report.get("founded") or {}).get("column")
        return (_examples(rejects, "bad_date", [col]) + f": is [firms] founded_column = {col!r} the founding (registration) "
                "date column?")
    if top == "duplicate":
        return "; most rows are exact copies of other rows: was the table exported twice, or joined with another?"
    if top == "zero_zero":
        return "; most coordinates are (0, 0): the geocoding failed for them"
    return ""


def check_crs(report: Mapping[str, Any], *, table: Any = None) -> None:
    """Stop when a projected ``crs`` was given to coordinates that all look like degrees."""
    box = report.get("projected_values_look_like_degrees")
    if not box:
        return
    msg = (f"[firms] crs = {report.get('crs')!r} is a projected system (metres), but every coordinate of "
           f"{_table_name(table or report.get('file'))} lies within ±180/±90 (x {box[0]:.4g}–{box[1]:.4g}, y {box[2]:.4g}–"
           f"{box[3]:.4g}): they look like longitude/latitude degrees. Set crs = \"wgs84\" (or \"gcj02\" for Amap/Tencent, "
           "\"bd09\" for Baidu).")
    raise InputError(msg)


def crs_assumption(cfg: Config, report: Mapping[str, Any], *, lon: Any = None, lat: Any = None) -> list[str]:
    """The warning that the firm table's coordinates were taken as WGS84 because ``[firms] crs`` is not set.

    A table exported from Amap or Tencent (GCJ-02) or Baidu (BD-09) reads as WGS84 without an
    error, a few hundred metres off in China: the run cannot tell, so the analyst is told what was
    assumed (in ``geo check``, ``geo run`` and the report's warnings).  Nothing is said when
    ``[firms] crs`` is set, for OpenStreetMap and Overture (WGS84 by definition), or when the
    firms given (``lon``, ``lat``) all lie outside China, where the shifted systems are not used.
    """
    if cfg.firms.source != "table" or cfg.is_given("firms", "crs") or report.get("converted"):
        return []
    if report.get("format") in ("vector", "geoparquet"):  # a layer with its own CRS: nothing was assumed
        return []
    if lon is not None and lat is not None and len(lon) and bool(np.all(out_of_china(lon, lat))):
        return []
    table = _table_name(report.get("file") or cfg.firms.path)
    msg = (f"the coordinates of {table} were taken as WGS84 (GPS) because [firms] crs is not set; if they come "
           "from Amap or Tencent (GCJ-02) or Baidu (BD-09) they sit 300–700 m off in China and the firms fall into "
           "the wrong cells and parks: set [firms] crs = \"gcj02\" or \"bd09\" (or crs = \"wgs84\" to confirm)")
    return [msg]


def check_rejections(report: Mapping[str, Any], rejects: pd.DataFrame, *, limit: float = 0.5, table: Any = None) -> None:
    """Stop when every row, or more than ``limit`` of them, was rejected while reading.

    Results from the few rows left would not describe the table; the usual cause is a
    setting (``crs``, the coordinate columns) rather than the data.  The message gives the
    reasons with their counts and, where the values show it, the likely cause
    ("the values look like projected metres …: set [firms] crs = …").
    """
    from geo.io.firms import SELECTION_REASONS

    by_reason = report.get("rejected_by_reason", {})
    selected_out = sum(int(by_reason.get(k, 0)) for k in SELECTION_REASONS)
    n = int(report.get("rows_read", 0)) - selected_out  # rows of the run's valleys and sectors (or not assignable yet)
    kept = int(report.get("rows_kept", 0))
    reasons = {k: int(v) for k, v in by_reason.items() if k not in SELECTION_REASONS}
    unmapped = {k: int(by_reason[k]) for k in ("no_sector_tag", "low_confidence") if by_reason.get(k)}
    if kept == 0 and unmapped:
        why = ", ".join(f"{k}: {v:,}" for k, v in unmapped.items())
        msg = (f"No firm of {_table_name(table or report.get('file'))} is left ({why}): their tags or categories match "
               "no entry of the sector table, or their confidence is below min_confidence. See rejects.csv for the tags "
               "and categories they have, and map them with [firms.osm_sectors] / [firms.overture_sectors].")
        raise InputError(msg)
    bad = sum(reasons.values())
    if n <= 0 or bad == 0 or (kept > 0 and bad <= limit * n):
        return
    if kept == 0 and int(by_reason.get("outside_valleys", 0)) > bad:
        return  # most rows lie in no valley of the run (a valley name unlike the data's): check_valleys names them
    why = ", ".join(f"{k}: {v:,}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))
    share = "every row" if kept == 0 else f"{bad:,} of the {n:,} rows ({bad / n:.0%})"
    msg = (f"{share} of {_table_name(table or report.get('file'))} {'was' if kept == 0 else 'were'} rejected ({why})"
           f"{_diagnosis(reasons, rejects, report)}. Nothing was computed"
           + ("" if kept == 0 else f" (results from the {kept:,} rows left would not describe the table); "
              f"see rejects.csv, or raise [firms] max_rejected_share (now {limit}) if these rows are really unusable")
           + ".")
    raise InputError(msg)


# ----------------------------------------------------------------------------- values
def _rejected_of(rejects: pd.DataFrame | None, col: str, name: str) -> pd.Series:
    """Reasons (with counts) of the rejected rows whose valley column is ``name``."""
    if rejects is None or col not in rejects or not len(rejects):
        return pd.Series(dtype=int)
    values = rejects[col].astype(str).str.strip()
    return rejects.loc[(values == name).to_numpy() & (rejects["reason"] != "outside_valleys").to_numpy(), "reason"].value_counts()


def check_valleys(cfg: Config, n_by_valley: Mapping[str, int], labels: pd.Series | None, *, table: Any = None,
                  rejects: pd.DataFrame | None = None) -> None:
    """Stop when a configured valley matches no firm, naming what the valley column holds, or
    when its name is written in several ways (``Wuhan`` and ``wuhan``: only one would be analysed).

    ``n_by_valley``: firms per configured valley after the assignment; ``labels``: the
    value counts of the valley column over the valid rows (None when it has none);
    ``rejects``: the rejected rows, to tell a valley whose every row was rejected.
    """
    col = cfg.firms.valley_column
    for v in cfg.valleys:
        if labels is not None and v.firms is None:
            variants = [str(k) for k in labels.index if str(k).casefold() == v.name.casefold() and str(k) != v.name]
            if variants and n_by_valley.get(v.name, 0):
                msg = (f"Valley {v.name!r}: the valley column {col!r} also holds {listing(repr(x) for x in variants)} "
                       f"({', '.join(f'{int(labels[x]):,}' for x in variants)} firms), which would be left out: write the "
                       "valley the same way in every row.")
                raise InputError(msg)
        if n_by_valley.get(v.name, 0):
            continue
        lost = _rejected_of(rejects, col, v.name)
        if len(lost):
            msg = (f"Valley {v.name!r}: all {int(lost.sum()):,} of its rows were rejected "
                   f"({', '.join(f'{k}: {int(n):,}' for k, n in lost.items())}); see rejects.csv (a wrong crs or "
                   "coordinate column for this valley's rows?).")
            raise InputError(msg)
        if v.firms is not None:
            msg = f"Valley {v.name!r}: its own firm table {_table_name(v.firms)} has no usable firm (see rejects.csv)."
        elif v.bbox is not None and labels is None:
            msg = f"Valley {v.name!r}: no firm lies in its bbox {list(v.bbox)} (min_lon, min_lat, max_lon, max_lat)."
        elif labels is None or not len(labels):
            msg = (f"Valley {v.name!r} matches no firm: {_table_name(table)} has no valley column {col!r} "
                   "([firms] valley_column) to match it against.")
        else:
            msg = (f"Valley {v.name!r} matches no firm: the valley column {col!r} of {_table_name(table)} holds "
                   f"{counted(labels)}.{suggest(v.name, list(labels.index))} Set [[valleys]] name to one of these values"
                   + (" (or correct its bbox)." if v.bbox is not None else "."))
        raise InputError(msg)


def check_target(cfg: Config, counts: pd.Series | None, *, table: Any = None) -> None:
    """Stop when ``target_sector`` is not a value of the sector column of the run's firms.

    ``counts``: value counts of the sector column over the firms of the run's valleys
    (index as text), or None when the table has no sector column.
    """
    target = cfg.analysis.target_sector
    if target is None:
        return
    col = cfg.firms.sector_column
    if counts is None:
        msg = f"target_sector = {target!r}, but {_table_name(table)} has no sector column {col!r} ([firms] sector_column)."
        raise ColumnError(msg)
    if int(counts.get(str(target), 0)):
        variants = [str(k) for k in counts.index if str(k).casefold() == str(target).casefold() and str(k) != str(target)]
        if variants:
            msg = (f"target_sector = {target!r}, but the sector column {col!r} also holds "
                   f"{listing(repr(x) for x in variants)} ({', '.join(f'{int(counts[x]):,}' for x in variants)} firms) beside "
                   f"{target!r} ({int(counts[str(target)]):,}): they would not be counted as the target sector. Write the "
                   "sector the same way in every row.")
            raise InputError(msg)
        return
    if not len(counts):
        msg = f"target_sector = {target!r}, but the sector column {col!r} is empty for every firm of the run's valleys."
    else:
        msg = (f"target_sector = {target!r} is not a value of the sector column {col!r} of the run's firms; its most "
               f"frequent values are: {counted(counts)}.{_sector_table_hint(cfg, target, table) or suggest(target, list(counts.index))}")
    raise InputError(msg)


def _sector_table_hint(cfg: Config, target: str, table: Any) -> str:
    """For OpenStreetMap or Overture firms: the entries of the config's sector table that map to ``target`` and matched
    nothing (a misspelt tag or category), or that no entry maps to it."""
    source = cfg.firms.source
    if source not in ("osm", "overture"):
        return ""
    key = "osm_sectors" if source == "osm" else "overture_sectors"
    sectors = getattr(cfg.firms, key) or {}
    if not sectors:
        return ""
    what, whats = ("tag", "tags") if source == "osm" else ("category", "categories")
    entries = [k for k, v in sectors.items() if str(v) == str(target)]
    if not entries:
        return (f" No entry of [firms.{key}] maps a {what} to {target!r}: add one ({what} = \"{target}\"), or set "
                f"target_sector to one of the table's sectors.{suggest(target, list(dict.fromkeys(map(str, sectors.values()))))}")
    return (f" The [firms.{key}] {what if len(entries) == 1 else whats} mapped to {target!r} "
            f"({listing(repr(e) for e in entries)}) matched no "
            f"feature of {_table_name(table)}: check their spelling"
            + (" (OpenStreetMap tags are key=value, e.g. \"craft=optician\")." if source == "osm" else
               " (Overture categories are snake_case, e.g. \"b2b_electronic_equipment\")."))


def founding_coverage(founded: pd.Series | None, target: np.ndarray | None) -> tuple[int, int]:
    """(target firms with a founding year, target firms): what the precedence test can use."""
    if founded is None:
        return 0, int(target.sum()) if target is not None else 0
    years = pd.to_numeric(founded, errors="coerce").to_numpy(float)
    sel = np.ones(len(years), dtype=bool) if target is None else np.asarray(target, dtype=bool)
    return int(np.isfinite(years[sel]).sum()), int(sel.sum())
