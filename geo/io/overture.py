"""Overture Places as firm points: a local GeoParquet of the places theme.

An Overture Places file (one of the ``theme=places/type=place`` Parquet files, or an
extract of them) holds one row per place: ``id`` (its GERS id), ``names`` (a struct whose
``primary`` is the place's name), ``categories`` (a struct of ``primary`` and
``alternate``; releases from late 2025 on also carry ``taxonomy``, a struct of ``primary``,
``hierarchy`` and ``alternates``, and ``basic_category``), ``confidence`` (0–1: how sure
Overture is that the place exists), ``geometry`` (WKB points) and ``bbox``.

:func:`overture_firm_table` turns it into the firm table :func:`geo.read_firms` validates:
every place is a row (``rows_read`` is the file's row count), rejected as
``low_confidence`` below ``min_confidence`` (a place without a confidence is kept: Overture
had no information, not a low score) and as ``no_sector_tag`` when neither its primary
category nor one of its alternates is in the sector table.  Untagged places are rejected,
not kept as "other": a city's places are mostly restaurants, shops and services, which would
swamp the firms of the sectors studied.  Both reasons select firms rather than find faults,
so they do not count towards ``[firms] max_rejected_share``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo._words import listing
from geo.errors import ColumnError, InputError
from geo.io._sectors import read_sector_table
from geo.io._text import _parquet_schema, _Raw, text_array

__all__ = ["DEFAULT_SECTORS", "FIRM_COLUMNS", "check_schema", "overture_firm_table"]

log = logging.getLogger(__name__)

#: Overture category -> sector, used when no ``[firms] overture_sectors`` is given.  A place's
#: primary category is looked up first, then its alternates in order.  The categories are those
#: of Overture's places taxonomy (``business_to_business`` and ``professional_services``
#: branches); give your own table for your sectors.
DEFAULT_SECTORS: dict[str, str] = {
    "information_technology_company": "ict",
    "software_development": "ict",
    "telecommunications_company": "ict",
    "b2b_electronic_equipment": "electronics",
    "industrial_company": "manufacturing",
    "industrial_equipment": "manufacturing",
    "b2b_machinery_and_tools": "manufacturing",
    "business_manufacturing_and_supply": "manufacturing",
    "chemical_plant": "manufacturing",
    "metal_fabricator": "manufacturing",
    "plastic_manufacturer": "manufacturing",
    "automation_services": "manufacturing",
    "laser_cutting_service_provider": "manufacturing",
    "manufacturing_and_industrial_consultant": "business services",
    "business_management_services": "business services",
    "coworking_space": "business services",
}

#: the columns of the firm table an Overture file becomes
FIRM_COLUMNS = ("firm_id", "name", "sector", "category", "confidence", "lon", "lat")

#: category columns, in the order they are looked for: (column, field of the primary category, field of the alternates)
_CATEGORY_COLUMNS = (("categories", "primary", "alternate"), ("taxonomy", "primary", "alternates"),
                     ("basic_category", None, None))


def _category_column(names: list[str]) -> tuple[str, str | None, str | None] | None:
    for col, primary, alternates in _CATEGORY_COLUMNS:
        if col in names:
            return col, primary, alternates
    return None


def check_schema(path: Path) -> None:
    """Stop with one sentence when ``path`` is not an Overture Places file: it must be
    Parquet with ``id``, ``geometry`` and a category column (``categories``, ``taxonomy`` or
    ``basic_category``)."""
    schema = _parquet_schema(path)
    names = [str(n) for n in schema.names]
    missing = [c for c in ("id", "geometry") if c not in names]
    if _category_column(names) is None:
        missing.append("categories")
    if missing:
        msg = (f"'{path.name}' is not an Overture Places file: it has no {listing(repr(c) for c in missing)} column; its "
               f"columns are {listing(names)}. Download the places theme (type=place) of an Overture release.")
        raise ColumnError(msg)


def _struct_field(column, name: str | None):
    """The field ``name`` of a struct column (the column itself when ``name`` is None or it is not a struct)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if name is None or not pa.types.is_struct(column.type):
        return column
    return pc.struct_field(column, name)


def _alternate_sectors(alternates, table: Mapping[str, str], need: np.ndarray) -> np.ndarray:
    """Per row, the sector of the first alternate category in ``table`` (None when none is), for the rows ``need``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = np.full(len(need), None, dtype=object)
    if alternates is None or not need.any():
        return out
    if isinstance(alternates, pa.ChunkedArray):
        alternates = alternates.combine_chunks()
    sub = alternates.take(pa.array(np.flatnonzero(need)))
    flat = pc.list_flatten(sub)
    parents = np.asarray(pc.list_parent_indices(sub))
    mapped = np.array([table.get(c) for c in flat.to_pylist()], dtype=object)
    hit = np.flatnonzero([m is not None for m in mapped])
    rows = np.flatnonzero(need)
    if hit.size:
        first = np.unique(parents[hit], return_index=True)  # the first alternate in the table, per row
        out[rows[first[0]]] = mapped[hit[first[1]]]
    return out


def _number_text(values: np.ndarray):
    """Floats as the text column of a table ("" for NaN), in pyarrow's shortest round-trip form:
    what a CSV of them holds, parsed back to the same floats, and cheap to write for rejected rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return text_array(pc.fill_null(pa.array(values, from_pandas=True).cast(pa.large_string()), ""))


#: a little-endian WKB point: byte order (1), geometry type (1), x, y
_WKB_POINT = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])


def _points(column) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, is a point, geometry kind) of a WKB column: read as packed points when every
    value is a 21-byte little-endian WKB point (Overture's), else with shapely."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import shapely

    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(arr)
    if n and arr.null_count == 0 and pc.all(pc.equal(pc.binary_length(arr), _WKB_POINT.itemsize)).as_py():
        wide = pa.types.is_large_binary(arr.type)
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64 if wide else np.int32)[arr.offset:arr.offset + n + 1]
        raw = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
        pts = raw.view(_WKB_POINT)
        if (pts["order"] == 1).all() and (pts["type"] == 1).all():
            return pts["x"].astype(float), pts["y"].astype(float), np.ones(n, dtype=bool), np.full(n, "Point", dtype=object)
    geoms = shapely.from_wkb(np.asarray(arr.to_pylist(), dtype=object))
    missing = np.asarray(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    is_point = (np.asarray(shapely.get_type_id(geoms)) == 0) & ~missing
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    x[is_point] = shapely.get_x(geoms[is_point])
    y[is_point] = shapely.get_y(geoms[is_point])
    kinds = np.array(["missing" if m else g.geom_type for g, m in zip(geoms, missing)], dtype=object)
    return x, y, is_point, kinds


def overture_firm_table(path: Path, *, sectors: Any = None, min_confidence: float = 0.5) -> _Raw:
    """The raw firm table of an Overture Places GeoParquet (see the module's description).

    Parameters
    ----------
    path : pathlib.Path
        A local Overture Places GeoParquet.
    sectors : mapping or path, optional
        Category -> sector (default :data:`DEFAULT_SECTORS`), or a CSV of two columns.
    min_confidence : float, default 0.5
        Places with a lower ``confidence`` are rejected as ``low_confidence``.

    Returns
    -------
    geo.io._text._Raw
        Columns :data:`FIRM_COLUMNS`, one row per place, with the low-confidence and
        unmapped places marked as rejected; ``meta`` records the source, the category column
        read and the places per sector.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    check_schema(path)
    table = read_sector_table(sectors, default=DEFAULT_SECTORS, what="Overture category")
    names = [str(n) for n in _parquet_schema(path).names]
    cat_col, primary_field, alt_field = _category_column(names)
    wanted = [c for c in ("id", "names", cat_col, "confidence", "geometry") if c in names]
    data = pq.read_table(path, columns=wanted)
    n = data.num_rows
    if n == 0:
        msg = f"'{path.name}' holds no place: the Overture file is empty."
        raise InputError(msg)
    cats = data.column(cat_col)
    primary = text_array(pc.fill_null(_struct_field(cats, primary_field).cast(pa.large_string()), ""))
    enc = pc.dictionary_encode(primary)
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    uniques = enc.dictionary.to_pylist()
    sector = np.array([table.get(c) for c in uniques] + [None], dtype=object)[codes]  # one look-up per category
    unmapped = np.array([s is None for s in sector], dtype=bool)
    has_alt = pa.types.is_struct(cats.type) and alt_field is not None and cats.type.get_field_index(alt_field) >= 0
    alt = _alternate_sectors(_struct_field(cats, alt_field) if has_alt else None, table, unmapped)
    from_alt = unmapped & np.array([a is not None for a in alt], dtype=bool)
    sector[from_alt] = alt[from_alt]
    unmapped &= ~from_alt

    x, y, is_point, kinds = _points(data.column("geometry"))
    if "confidence" in names:
        conf = np.asarray(pc.fill_null(data.column("confidence").cast(pa.float64()), np.nan).to_numpy(), dtype=float)
    else:
        conf = np.full(n, np.nan)
    name = _struct_field(data.column("names"), "primary") if "names" in names else None

    notpoint = np.flatnonzero(~is_point & (kinds != "missing"))
    low = np.flatnonzero(conf < min_confidence)
    nosector = np.flatnonzero(unmapped)
    what = np.array([f"category {c!r}" if c else "no category" for c in uniques] + [""], dtype=object)
    pre = [
        ("not_a_point", notpoint, np.array([f"geometry is {k}, expected Point" for k in kinds[notpoint]], dtype=object)),
        ("low_confidence", low, np.array([f"confidence {c:.3g} < min_confidence {min_confidence:g}" for c in conf[low]],
                                         dtype=object)),
        ("no_sector_tag", nosector, np.char.add(what[codes[nosector]].astype(str),
                                                " (and its alternates) not in the sector table").astype(object)),
    ]
    cols = {
        "firm_id": text_array(pc.fill_null(data.column("id").cast(pa.large_string()), "")),
        "name": text_array(name.cast(pa.large_string()) if name is not None else [""] * n),
        "sector": text_array([s or "" for s in sector]),
        "category": primary,
        "confidence": _number_text(conf),
        "lon": _number_text(x),
        "lat": _number_text(y),
    }
    passed = np.ones(n, dtype=bool)
    for _, rows, _ in pre:
        passed[rows] = False
    counts = pd.Series(sector[passed & ~unmapped & np.isfinite(x)], dtype=object).value_counts()
    kept_sectors = {str(k): int(v) for k, v in counts.items()}  # the places passed on (a point, confident), by sector
    meta = {"format": "overture", "source": "overture", "category_column": cat_col, "min_confidence": float(min_confidence),
            "sector_table": "default" if sectors is None else ("config" if isinstance(sectors, Mapping) else str(sectors)),
            "places_mapped_by_sector": dict(sorted(kept_sectors.items(), key=lambda kv: -kv[1]))}
    log.info("read %s: %d places, %d passed on with a sector", path, n, sum(kept_sectors.values()))
    return _Raw(columns=list(FIRM_COLUMNS), cols=cols, n=n, meta=meta, prerejected=pre)
