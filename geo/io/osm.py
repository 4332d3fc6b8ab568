"""OpenStreetMap extracts (``.osm.pbf``) as firm points and as park polygons.

Read with pyosmium (``pip install "geo-clusters[osm]"``), locally: no network.

**Firms** (:func:`osm_firm_table`, ``[firms] source = "osm"``).  A row is every node, and
every area (a closed way or a multipolygon relation; its centroid is the firm's point), that
carries a firm key — ``office``, ``craft``, ``industrial``, ``shop`` or ``company`` — or
that matches an entry of the sector table.  Its sector comes from the tag-to-sector table
(:data:`DEFAULT_SECTORS`, or ``[firms.osm_sectors]`` / a CSV of two columns, which replaces
it): an entry is ``"key=value"`` or ``"key=*"`` (any value); an exact ``key=value`` entry
wins over a ``key=*`` one, and among several the first in the table's order.  A feature
with a firm key that no entry matches is rejected as ``no_sector_tag`` (not kept as
"other": leave ``shop=*`` out of your table and the shops are rejected, with their tags in
``rejects.csv``).  ``name`` (else ``name:en``) becomes the firm's name, ``start_date`` its
founding date (``founded``; a year, ``1999-03`` or ``1999-03-11``: OSM's approximate forms such as
``~1950`` or ``C18`` are left empty and counted in the load report, not rejected), ``"node/123"`` / ``"way/45"`` / ``"relation/6"`` its
``firm_id``.  Open ways (lines) with firm tags are not firms; the load report counts them.

**Parks** (:func:`read_osm_parks`, ``[parks] source = "osm"``).  The named areas tagged
``landuse=industrial`` or ``industrial=*``, and every named area whose name says it is a
high-tech zone or science park (:data:`PARK_NAME_PATTERN`: High-Tech, Science Park,
高新, 科技园 …).  ``start_date`` becomes the designation year.  Unnamed industrial areas
(every factory lot is one) are left out and counted.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from geo._words import listing
from geo.errors import DataFileError, InputError
from geo.io._sectors import read_sector_table
from geo.io._text import _Floats, _Raw, text_array

__all__ = ["DEFAULT_SECTORS", "FIRM_KEYS", "FIRM_COLUMNS", "PARK_NAME_PATTERN", "check_pbf", "osm_firm_table",
           "read_osm_parks"]

log = logging.getLogger(__name__)

#: the keys that make an OSM feature a firm (besides the entries of the sector table)
FIRM_KEYS = ("office", "craft", "industrial", "shop", "company")

#: OSM tag -> sector, used when no ``[firms] osm_sectors`` is given (see the module's description)
DEFAULT_SECTORS: dict[str, str] = {
    "office=it": "ict",
    "office=telecommunication": "ict",
    "office=research": "research",
    "office=engineer": "engineering",
    "office=*": "office",
    "company=*": "company",
    "industrial=*": "industry",
    "man_made=works": "industry",
    "craft=*": "craft",
    "shop=*": "retail",
}

#: the columns of the firm table an OSM extract becomes
FIRM_COLUMNS = ("firm_id", "name", "sector", "osm_tag", "founded", "lon", "lat")

#: names of high-tech zones and science parks (any case)
PARK_NAME_PATTERN = re.compile(
    r"high[-\s]?tech|hi[-\s]?tech|science\s+(and\s+technology\s+)?park|technology\s+park|tech\s+park|innovation\s+park|"
    r"science\s+city|高新|科技园|科学园|软件园|科技城|科学城|开发区|工业园",
    re.IGNORECASE)

#: the ``start_date`` values read as founding dates: a year, a year and month, a day (OSM's own
#: forms such as ``~1950``, ``C18``, ``before 1900`` or ``1990s`` are left empty, not rejected)
_START_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")

_SUFFIXES = (".pbf", ".osm", ".o5m", ".bz2", ".gz")


def _osmium():
    try:
        import osmium
    except ImportError:
        msg = ('Reading OpenStreetMap extracts needs pyosmium, which is not installed: pip install "geo-clusters[osm]" '
               "(or pip install osmium).")
        raise DataFileError(msg) from None
    return osmium


def check_pbf(path: Path) -> None:
    """Stop with one sentence when ``path`` is not an OpenStreetMap file pyosmium reads."""
    osmium = _osmium()
    if not path.name.lower().endswith(_SUFFIXES):
        msg = (f"'{path.name}' is not an OpenStreetMap extract: source = \"osm\" reads .osm.pbf files (e.g. a Geofabrik "
               "extract of a province).")
        raise DataFileError(msg)
    try:
        reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
        try:
            reader.header()  # reads the file's header block: a file that is no OSM data fails here
        finally:
            reader.close()
    except Exception as exc:  # noqa: BLE001 - libosmium raises several types
        msg = f"Cannot read '{path.name}' as an OpenStreetMap file ({exc}). Check it is a complete .osm.pbf download."
        raise DataFileError(msg) from None


def _split_table(table: Mapping[str, str]) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
    """(exact ``(key, value)`` -> sector, ``key`` -> sector for ``key=*``) of a tag-to-sector table."""
    exact: dict[tuple[str, str], str] = {}
    wild: dict[str, str] = {}
    for entry, sector in table.items():
        key, _, value = entry.partition("=")
        key, value = key.strip(), value.strip()
        if not key:
            msg = f"OSM sector table entry {entry!r} has no key: write \"key=value\" or \"key=*\" (e.g. \"office=it\")."
            raise InputError(msg)
        if value in ("", "*"):
            wild.setdefault(key, sector)
        else:
            exact.setdefault((key, value), sector)
    return exact, wild


def _sector_of(tags: Mapping[str, str], exact, wild) -> tuple[str, str] | None:
    """(matched entry, sector) of a feature's tags, or None."""
    for (k, v), sector in exact.items():
        if tags.get(k) == v:
            return f"{k}={v}", sector
    for k, sector in wild.items():
        if k in tags:
            return f"{k}={tags[k]}", sector
    return None


def _is_candidate(tags: Mapping[str, str], exact, wild) -> bool:
    return any(k in tags for k in FIRM_KEYS) or any(k in tags for k in wild) or any(tags.get(k) == v for k, v in exact)


def _area_id(area) -> str:
    return f"{'way' if area.from_way() else 'relation'}/{area.orig_id()}"


def _tag_counts(path: Path, limit: int = 8) -> str:
    """The most frequent tag keys of the file (for the message when nothing matched)."""
    osmium = _osmium()
    counts: Counter = Counter()
    for obj in osmium.FileProcessor(str(path)):
        counts.update(t.k for t in obj.tags)
    if not counts:
        return "no tag at all"
    return "tag keys " + ", ".join(f"{k} ({n:,})" for k, n in counts.most_common(limit))


def osm_firm_table(path: Path, *, sectors: Any = None) -> _Raw:
    """The raw firm table of an OpenStreetMap extract (see the module's description).

    Parameters
    ----------
    path : pathlib.Path
        A local ``.osm.pbf`` (or ``.osm``) file.
    sectors : mapping or path, optional
        Tag -> sector (default :data:`DEFAULT_SECTORS`), or a CSV of two columns.

    Returns
    -------
    geo.io._text._Raw
        Columns :data:`FIRM_COLUMNS`, one row per firm feature (nodes first, then areas, in
        file order), the features no entry matches marked ``no_sector_tag``.
    """
    import shapely

    osmium = _osmium()
    check_pbf(path)
    table = read_sector_table(sectors, default=DEFAULT_SECTORS, what="OSM tag")
    exact, wild = _split_table(table)
    keys = sorted(set(FIRM_KEYS) | set(wild) | {k for k, _ in exact})
    ids, names, found, tags_text, founded, lon, lat, pre = [], [], [], [], [], [], [], {}
    open_ways = 0
    odd_dates: dict[str, int] = {}
    wkb = osmium.geom.WKBFactory()
    processor = osmium.FileProcessor(str(path)).with_areas().with_filter(osmium.filter.KeyFilter(*keys))
    for obj in processor:
        if obj.is_relation():
            continue
        tags = {t.k: t.v for t in obj.tags}
        if not _is_candidate(tags, exact, wild):
            continue
        if obj.is_way():  # a closed way comes again as an area; an open one (a line) is not a firm
            open_ways += not obj.is_closed()
            continue
        i = len(ids)
        if obj.is_node():
            ids.append(f"node/{obj.id}")
            x, y = (obj.location.lon, obj.location.lat) if obj.location.valid() else (np.nan, np.nan)
        else:
            ids.append(_area_id(obj))
            try:
                centre = shapely.centroid(shapely.from_wkb(wkb.create_multipolygon(obj)))
                x, y = centre.x, centre.y
            except Exception:  # noqa: BLE001 - a broken multipolygon: its row says so
                x = y = np.nan
                pre[i] = ("missing_coordinate", "the OSM area's outline could not be built (a broken multipolygon)")
        match = _sector_of(tags, exact, wild)
        firm_tags = "; ".join(f"{k}={tags[k]}" for k in keys if k in tags)
        if match is None:
            pre.setdefault(i, ("no_sector_tag", f"tags {firm_tags} match no entry of the sector table"))
        names.append(tags.get("name") or tags.get("name:en") or "")
        found.append("" if match is None else match[1])
        tags_text.append(firm_tags if match is None else match[0])
        start = tags.get("start_date", "").strip()
        if start and not _START_DATE.match(start):
            odd_dates[start] = odd_dates.get(start, 0) + 1
            start = ""
        founded.append(start)
        lon.append(x)
        lat.append(y)
    if not ids:
        msg = (f"'{path.name}' holds no firm: no node or area has a firm key ({listing(FIRM_KEYS)}) or a tag of the sector "
               f"table; it has "
               f"{_tag_counts(path)}. Is it the right extract, or do its firms need entries in [firms] osm_sectors?")
        raise InputError(msg)
    cols = {"firm_id": text_array(ids), "name": text_array(names), "sector": text_array(found),
            "osm_tag": text_array(tags_text), "founded": text_array(founded),
            "lon": _Floats(np.asarray(lon, dtype=float)), "lat": _Floats(np.asarray(lat, dtype=float))}
    by_sector = Counter(s for s in found if s)
    meta = {"format": "osm", "source": "osm",
            "sector_table": "default" if sectors is None else ("config" if isinstance(sectors, Mapping) else str(sectors)),
            "features_by_sector": dict(by_sector.most_common()), "open_ways_skipped": int(open_ways),
            "start_dates_not_read": dict(sorted(odd_dates.items(), key=lambda kv: -kv[1])[:20]),
            "start_dates_not_read_count": int(sum(odd_dates.values()))}
    log.info("read %s: %d firm features, %d with a sector", path, len(ids), sum(by_sector.values()))
    prerejected = []
    for reason in ("missing_coordinate", "no_sector_tag"):
        rows = np.array([i for i, (r, _) in pre.items() if r == reason], dtype=np.int64)
        prerejected.append((reason, rows, np.array([pre[i][1] for i in rows], dtype=object)))
    return _Raw(columns=list(FIRM_COLUMNS), cols=cols, n=len(ids), meta=meta, prerejected=prerejected)


def _is_park(tags: Mapping[str, str]) -> bool:
    if tags.get("landuse") == "industrial" or "industrial" in tags:
        return True
    name = " ".join(tags.get(k, "") for k in ("name", "name:en", "name:zh"))
    return bool(PARK_NAME_PATTERN.search(name))


def read_osm_parks(path: Path):
    """The park polygons of an OpenStreetMap extract (see the module's description).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``name``, ``designated`` (the ``start_date`` tag, as text), ``osm_id``,
        ``landuse``, ``industrial`` and polygon ``geometry`` in EPSG:4326, for
        :func:`geo.io.parks.read_parks` to check like any park layer.  ``attrs["unnamed"]``
        counts the industrial areas left out for want of a name.
    """
    import geopandas as gpd
    import shapely

    osmium = _osmium()
    check_pbf(path)
    wkb = osmium.geom.WKBFactory()
    rows, unnamed = [], 0
    processor = (osmium.FileProcessor(str(path)).with_areas()
                 .with_filter(osmium.filter.EntityFilter(osmium.osm.AREA))
                 .with_filter(osmium.filter.KeyFilter("landuse", "industrial", "name", "name:en", "name:zh")))
    for area in processor:
        tags = {t.k: t.v for t in area.tags}
        if not _is_park(tags):
            continue
        name = tags.get("name") or tags.get("name:en") or tags.get("name:zh") or ""
        if not name:
            unnamed += 1
            continue
        try:
            geom = shapely.from_wkb(wkb.create_multipolygon(area))
        except Exception:  # noqa: BLE001 - a broken multipolygon is left out, like an unnamed area
            log.warning("OSM area %s (%r) has a broken outline: left out", _area_id(area), name)
            continue
        rows.append({"name": name, "designated": tags.get("start_date", ""), "osm_id": _area_id(area),
                     "landuse": tags.get("landuse", ""), "industrial": tags.get("industrial", ""), "geometry": geom})
    if not rows:
        msg = (f"'{path.name}' holds no named industrial area or high-tech zone (landuse=industrial, industrial=*, or a "
               f"name such as High-Tech Zone, Science Park, 高新区, 科技园){f'; {unnamed:,} industrial areas have no name' if unnamed else ''}; "
               f"it has {_tag_counts(path)}.")
        raise InputError(msg)
    parks = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    parks.attrs["unnamed"] = unnamed
    return parks
