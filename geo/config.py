"""The TOML run configuration: schema, defaults and validation.

Only this module parses configuration.  Unknown keys are errors that list the valid ones;
relative paths are resolved against the config file's folder.

A complete example (``geo/datasets/data/demo.toml`` is the demo's)::

    [run]
    title = "Optical valleys"
    seed = 0
    synthetic = false           # true puts the "synthetic demo data" banner on the outputs
    engine = "pandas"           # or "dask" (see README: "Scale"), with scheduler = "tcp://host:8786"

    [firms]
    path = "firms.csv"          # CSV/TSV, Excel, Parquet, GeoPackage, Shapefile, GeoJSON
    lon = "lon"                 # optional: found automatically
    lat = "lat"
    crs = "gcj02"               # wgs84 | gcj02 | bd09 | EPSG code
    valley_column = "valley"    # which valley a firm belongs to (or give valleys a bbox)
    sector_column = "sector"
    founded_column = "founded"
    closed_column = "closed"    # optional: closing years or dates, 注销日期 (without them the space-time history is the survivors')

    [parks]
    path = "parks.gpkg"
    name = "name"
    designated = "designated"
    # source = "osm"            # with path = "city.osm.pbf": named industrial areas and high-tech zones
    # source = "catalogue"      # with path = "zones.shp", attributes = "zones.xlsx": the development-zone catalogue
    # area_column = "核准面积（公顷）"  # park points: the approved area (area_unit = "ha" when the header names no unit)

An OpenStreetMap extract or Overture Places as the firms (README: "OpenStreetMap and Overture")::

    [firms]
    source = "osm"              # or "overture" (path = "places.parquet", min_confidence = 0.5)
    path = "wuhan.osm.pbf"

    [firms.osm_sectors]         # replaces geo.io.osm.DEFAULT_SECTORS; or osm_sectors = "sectors.csv"
    "office=it" = "ict"
    "craft=*" = "craft"

    [analysis]
    target_sector = "optics"
    scales = [0.5, 1, 2]        # the park verdicts again at half and double the cell size ([] for none)
    study_area = "cells"        # or "hull", or a polygon layer (e.g. "boundaries.gpkg")
    time_step = 1               # emerging hot spots: years per step
    time_lag = 1                # emerging hot spots: earlier steps in the space-time neighbourhood

    [maps]
    basemap = "osm"             # "amap" (GCJ-02: layers shifted for display), "tianditu" (needs
                                # tianditu_key or TIANDITU_KEY), "none", or a URL with {x}, {y}, {z}

    [[valleys]]
    name = "Wuhan"
    title = "Wuhan Optics Valley (East Lake)"
    study_area = "wuhan_boundary.gpkg"   # optional: this valley's own study area
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from geo.errors import ConfigError

__all__ = ["AREA_UNITS", "Config", "FirmsConfig", "CellsConfig", "ParksConfig", "AnalysisConfig", "GroupsConfig",
           "ModelsConfig", "ValleyConfig", "RunConfig", "MapsConfig", "load_config", "config_from_dict", "check_engine",
           "check_maps"]


@dataclass(frozen=True)
class RunConfig:
    title: str = "Parks and industrial clusters"
    seed: int = 0
    synthetic: bool = False
    engine: str = "pandas"  # "pandas" (in memory) | "dask" (geo.pipeline.dask_engine)
    scheduler: str = ""  # dask engine: scheduler address (tcp://host:8786); "" starts a local cluster
    workers: int = 0  # dask engine, local cluster: worker processes (0: one per CPU)
    partition_rows: int = 1_000_000  # dask engine: rows per partition (CSV blocks, Parquet row groups)
    sample_firms: int = 500_000  # dask engine: firms per valley brought back for the point-based stages
    max_memory_gb: float = 0.0  # in-memory engine: refuse inputs estimated above this (0: available memory)


@dataclass(frozen=True)
class FirmsConfig:
    path: Path | None = None
    lon: str | None = None
    lat: str | None = None
    crs: Any = "wgs84"
    encoding: str | None = None
    sheet: str | int | None = None
    id: str | None = None
    drop_stacked: Any = False  # False | True | "sensitivity" (both, and the verdicts that change)
    stacked_min: int = 10
    stack_radius_m: float = 5.0  # firms within this distance of one point count as one stack
    duplicates: str = "auto"  # exact duplicate rows: "auto" | "drop" | "flag" | "keep" (see geo.read_firms)
    valley_column: str = "valley"
    sector_column: str = "sector"
    subsector_column: str = "subsector"
    founded_column: str = "founded"
    closed_column: str | None = None  # closing (deregistration) year or date: the space-time cube counts firms alive
    name_column: str = "name"
    employees_column: str = "employees"
    max_rejected_share: float = 0.5  # stop when more of the rows than this are rejected (a wrong crs, wrong columns)
    source: str = "table"  # "table" | "osm" (an .osm.pbf, geo.io.osm) | "overture" (Overture Places GeoParquet)
    osm_sectors: Any = None  # [firms.osm_sectors] "key=value" = "sector", or a CSV path (default geo.io.osm.DEFAULT_SECTORS)
    overture_sectors: Any = None  # [firms.overture_sectors] category = "sector", or a CSV path
    min_confidence: float = 0.5  # Overture places below this confidence are rejected (low_confidence)


#: units an approved area may be given in ([parks] area_unit, or in brackets in its header): km² per unit
AREA_UNITS = {"km2": 1.0, "km²": 1.0, "平方公里": 1.0, "平方千米": 1.0, "公顷": 0.01, "ha": 0.01, "hectares": 0.01}


@dataclass(frozen=True)
class CellsConfig:
    """``[cells]``: counts on given units (districts, a gridded count raster, grid-cell centres)
    instead of firm points (:func:`geo.io.units.read_units`)."""

    path: Path | None = None  # a polygon layer (GeoPackage, Shapefile, GeoJSON), a GeoTIFF, or a CSV of cell centres
    layer: str | None = None  # the layer of a multi-layer GeoPackage
    id_column: str | None = None  # the units' ids (default: the row number, or r{row}_c{col} for a GeoTIFF)
    name_column: str | None = None  # the units' names (district names) for the report and the map
    count_column: str | None = None  # the target sector's counts (default: the last year's column or band)
    year_columns: str | None = None  # yearly count columns, as a pattern: "optics_{year}"
    band_years: tuple = ()  # GeoTIFF: the year of each band, in band order ([2005, 2006, ...])
    cell_size: Any = None  # CSV of cell centres: the cells' side, in the CRS's units (0.01 for 0.01° cells)
    lon: str | None = None  # CSV of cell centres: the centres' x / longitude column (found automatically)
    lat: str | None = None  # ... and y / latitude column
    crs: Any = None  # the layer's CRS when the file has none (a CSV: default wgs84); gcj02 / bd09 are converted
    valley_column: str | None = None  # which valley a unit belongs to (default: every unit in the one valley)
    weights: str = "queen"  # "queen" | "rook" | "knn" | "distance"
    k: int = 8  # weights = "knn": neighbours per unit
    distance: float = 0.0  # weights = "distance": the band in metres (0: the smallest band that leaves no unit alone)
    denominator: str | None = None  # rates: "area" (firms per km²) or a column (e.g. population)
    per: float = 1.0  # rates: per this many denominator units (per = 10000 for firms per 10,000 people)
    smoothing: str = "none"  # rates: "none" | "empirical_bayes" (global EB, as GeoDa's) | "spatial_empirical_bayes"


@dataclass(frozen=True)
class ParksConfig:
    path: Path | None = None
    name: str | None = None
    valley: str | None = None
    designated: str | None = None
    crs: Any = None
    layer: str | None = None
    source: str = "file"  # "file" (any polygon layer) | "osm" (named industrial areas and high-tech zones of an .osm.pbf)
    #: | "catalogue" (the development-zone catalogue: path = the point layer, attributes = its .xlsx; geo.io.catalogue)
    attributes: Path | None = None  # source = "catalogue": the attribute table (.xlsx) joined to the points
    area_column: str | None = None  # park points: the approved-area column (found by name when not given)
    area_unit: str | None = None  # its unit: "km2" or "ha" (… "平方公里", "公顷"); default from the header, else km²


@dataclass(frozen=True)
class AnalysisConfig:
    target_sector: str | None = None
    cell: str = "hex"
    cell_size: Any = "auto"
    weights: str = "queen"
    permutations: int = 999  # Monte Carlo draws where a p-value is not exact; at least 1/alpha - 1 (19 at alpha 0.05)
    alpha: float = 0.05
    fdr: bool = True
    kd_simulations: int = 199
    ripley_simulations: int = 39
    compare: bool = True
    point_clusters: str = "dbscan"
    dbscan_eps_m: float = 500.0
    dbscan_min_samples: int = 20
    #: cell sizes, relative to the chosen one, at which the cell and park stages run again
    #: (scale sensitivity of the verdicts; [] turns it off)
    scales: tuple = (0.5, 1.0, 2.0)
    scale_h3: bool = False  # also on H3 cells at the resolution nearest the chosen size
    study_area: Any = "cells"  # "cells" | "hull" | a polygon layer (geo.cells.area); [[valleys]] study_area overrides
    time_step: int = 1  # emerging hot spots: years per step of the space-time cube
    time_lag: int = 1  # emerging hot spots: earlier steps in a bin's space-time neighbourhood


@dataclass(frozen=True)
class GroupsConfig:
    path: Path | None = None
    code_column: str = "industry_code"
    group_a: str = "high-tech"
    group_b: str = "traditional"
    kd_simulations: int = 39


@dataclass(frozen=True)
class ModelsConfig:
    anchors: Path | None = None
    anchor_column: str = "anchor"
    rd_column: str = "rd"
    ownership_column: str = "ownership"
    foreign_value: str = "foreign"
    radius_m: float = 2000.0


@dataclass(frozen=True)
class MapsConfig:
    basemap: str = "osm"  # "osm" | "amap" | "tianditu" | "none" | a tile URL template with {x}, {y}, {z}
    tianditu_key: str = ""  # basemap = "tianditu": its key ("" : the TIANDITU_KEY environment variable)
    attribution: str = ""  # basemap = a URL template: the tiles' credit ("" : the tile server's host name)


#: the named basemaps of [maps] basemap (geo.outputs.maps._basemap draws them)
BASEMAPS = ("osm", "amap", "tianditu", "none")


def check_maps(maps: MapsConfig) -> None:
    """Check ``[maps]``: a known basemap or a tile URL template, and Tianditu's key.

    Raises
    ------
    geo.errors.ConfigError
        An unknown basemap, a URL without ``{x}``, ``{y}`` or ``{z}``, or ``"tianditu"`` with
        neither ``tianditu_key`` nor the ``TIANDITU_KEY`` environment variable.
    """
    import os
    import re

    b = maps.basemap
    if b not in BASEMAPS:
        if not re.match(r"(?i)^(https?:)?//", b):
            msg = (f"[maps] basemap must be one of {list(BASEMAPS)} or a tile URL template "
                   f"(https://.../{{z}}/{{x}}/{{y}}.png); {b!r} was given.")
            raise ConfigError(msg)
        missing = [p for p in ("{x}", "{y}", "{z}") if p not in b]
        if missing:
            msg = f"[maps] basemap: a tile URL template must contain {{x}}, {{y}} and {{z}}; {b!r} lacks {', '.join(missing)}."
            raise ConfigError(msg)
        if re.search(r"\{\{|\{%|\{#|[\s\"'<>`\\]", b):
            msg = f"[maps] basemap: a tile URL template cannot hold spaces, quotes, <, >, backslashes or {{{{; {b!r} was given."
            raise ConfigError(msg)
    if b == "tianditu" and not (maps.tianditu_key or os.environ.get("TIANDITU_KEY")):
        msg = ("[maps] basemap = \"tianditu\" needs a Tianditu key: set [maps] tianditu_key or the TIANDITU_KEY "
               "environment variable (a free key from console.tianditu.gov.cn), or choose basemap = \"osm\", \"amap\" "
               "or \"none\".")
        raise ConfigError(msg)


@dataclass(frozen=True)
class ValleyConfig:
    name: str
    title: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    firms: Path | None = None
    cells: Path | None = None  # this valley's units (counts on given units): a layer, GeoTIFF or CSV read with [cells]' options
    study_area: Any = None  # "cells" | "hull" | a polygon layer of this valley; None: [analysis] study_area


@dataclass(frozen=True)
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    firms: FirmsConfig = field(default_factory=FirmsConfig)
    cells: CellsConfig = field(default_factory=CellsConfig)
    parks: ParksConfig = field(default_factory=ParksConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    groups: GroupsConfig = field(default_factory=GroupsConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    maps: MapsConfig = field(default_factory=MapsConfig)
    valleys: tuple[ValleyConfig, ...] = ()
    source: Path | None = None
    #: the (section, key) pairs the TOML (or dict) set itself, as opposed to defaults
    given: frozenset = frozenset()

    @property
    def input_kind(self) -> str:
        """``"given units"`` when ``[cells] path`` (or a ``[[valleys]] cells``) is set (counts on districts or grid
        cells), else ``"firm points"``."""
        given = self.cells.path is not None or any(v.cells is not None for v in self.valleys)
        return "given units" if given else "firm points"

    def is_given(self, section: str, key: str) -> bool:
        """Whether ``[section] key`` was set by the user: in the TOML (or dict), or to a value
        other than its default (a :class:`Config` built in Python)."""
        if (section, key) in self.given:
            return True
        table = getattr(self, section)
        return getattr(table, key) != getattr(type(table)(), key)

    def to_dict(self) -> dict:
        """Plain-data view (for summary.json and the report's parameter table)."""
        def conv(v: Any) -> Any:
            if isinstance(v, Path):
                return str(v)
            if isinstance(v, tuple):
                return [conv(x) for x in v]
            if hasattr(v, "__dataclass_fields__"):
                return {f.name: conv(getattr(v, f.name)) for f in fields(v)}
            return v

        out = conv(self)
        out.pop("given", None)
        if out["maps"]["tianditu_key"]:  # a secret: not in summary.json and the report
            out["maps"]["tianditu_key"] = "(set)"
        return out


_SECTIONS = {"run": RunConfig, "firms": FirmsConfig, "cells": CellsConfig, "parks": ParksConfig, "analysis": AnalysisConfig,
             "groups": GroupsConfig, "models": ModelsConfig, "maps": MapsConfig}
_PATH_KEYS = {("firms", "path"), ("cells", "path"), ("parks", "path"), ("parks", "attributes"), ("valleys", "firms"),
              ("groups", "path"), ("models", "anchors")}


def _home_of(key: str, where: str) -> list[str]:
    """The sections (other than ``where``) that have a key ``key``: ``["[analysis]"]`` for ``target_sector``."""
    homes = [f"[{name}]" for name, cls in _SECTIONS.items()
             if name != where and key in {f.name for f in fields(cls)}]
    if where != "valleys" and not where.startswith("valleys") and key in {f.name for f in fields(ValleyConfig)}:
        homes.append("[[valleys]]")
    return homes


#: what users of other tools call a key (ArcGIS's X/Y fields, pandas' lng/lat, …) and the key it is here
_SYNONYMS = {"x": "lon", "y": "lat", "lng": "lon", "long": "lon", "longitude": "lon", "latitude": "lat",
             "file": "path", "filename": "path", "sector": "target_sector", "city": "valley_column",
             "industry": "sector_column", "year": "founded_column"}


def _same_key(key: str, allowed: list[str]) -> str | None:
    """The valid key ``key`` stands for: with or without ``_column`` (``lon_column`` → ``lon``), in another
    case, or spelt closely (``pth`` → ``path``); None when none is close."""
    bare = key.lower().removesuffix("_column")
    for alias in (key.lower(), bare, f"{key.lower()}_column", _SYNONYMS.get(bare)):
        if alias is not None and alias != key and alias in allowed:
            return alias
    close = difflib.get_close_matches(key.lower(), allowed, n=1, cutoff=0.75)
    return close[0] if close else None


def _key_hints(unknown: list[str], allowed: list[str], where: str) -> str:
    """For each unknown key, the valid key of this section it stands for, else the section it belongs in."""
    hints = []
    for key in unknown:
        same = _same_key(key, allowed)
        homes = _home_of(key, where)
        if same is not None:
            hints.append(f"{key!r}: did you mean {same!r}?")
        elif homes:
            hints.append(f"{key!r} belongs in {' or '.join(homes)}, not in [{where}].")
    return (" " + " ".join(hints)) if hints else ""


def _check_keys(table: dict, allowed: list[str], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        msg = f"Unknown key(s) {unknown} in [{where}]; valid keys are {sorted(allowed)}.{_key_hints(unknown, allowed, where)}"
        raise ConfigError(msg)


#: what users call the coordinate systems of Chinese web maps and GPS, and the crs value that means it
_CRS_NAMES = {"baidu": "bd09", "bmap": "bd09", "bd": "bd09", "amap": "gcj02", "gaode": "gcj02", "autonavi": "gcj02",
              "tencent": "gcj02", "qq": "gcj02", "mars": "gcj02", "gcj": "gcj02", "gps": "wgs84", "google": "wgs84",
              "osm": "wgs84", "4326": "wgs84", "cgcs2000": "EPSG:4490"}


def _check_crs(section: str, value: Any) -> None:
    """Stop on a ``crs`` that names no coordinate system, with the value meant (``"baidu"`` → ``"bd09"``)."""
    if value is None:
        return
    from geo.crs import parse_crs
    from geo.errors import CRSError

    try:
        parse_crs(value)
    except CRSError:
        key = str(value).strip().lower().replace("-", "").replace("_", "").replace(" ", "")
        meant = next((v for k, v in _CRS_NAMES.items() if key.startswith(k)), None)
        hint = f" Did you mean crs = {meant!r}?" if meant else ""
        msg = (f"[{section}] crs = {value!r} is not a coordinate system: write \"wgs84\" (GPS), \"gcj02\" (Amap/Gaode, "
               f"Tencent), \"bd09\" (Baidu) or an EPSG code such as \"EPSG:32650\" (UTM 50N).{hint}")
        raise ConfigError(msg) from None


def _typed(section: str, key: str, value: Any, default: Any) -> Any:
    if default is not None and not isinstance(default, (Path,)) and key not in ("crs", "cell_size", "sheet", "drop_stacked", "scales", "study_area", "band_years"):
        expected = type(default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if expected is bool and not isinstance(value, bool) or (expected is not bool and isinstance(value, bool)) or not isinstance(value, expected):
            msg = f"[{section}] {key} must be {expected.__name__}; {type(value).__name__} {value!r} was given."
            raise ConfigError(msg)
    return value


#: the study-area rules (geo.cells.area.AREA_RULES); any other text is a polygon layer's path
_AREA_RULES = ("cells", "hull")


def _area_value(value: Any, where: str, base: Path) -> str | Path:
    """A study-area rule as given, or the path of a polygon layer resolved against ``base``."""
    if isinstance(value, Path):
        return value
    if not isinstance(value, str) or not value.strip():
        msg = (f"{where} must be \"cells\" (the cells holding firms, buffered by one cell), \"hull\" (the firms' "
               f"convex hull) or the path of a polygon layer; {value!r} was given.")
        raise ConfigError(msg)
    if value in _AREA_RULES:
        return value
    return (base / value).resolve() if not Path(value).is_absolute() else Path(value)


def _resolved(value: str, base: Path, key: str) -> Path:
    """A config path, resolved against the config's folder ``base``.

    A relative path that exists only from the current folder (written from where ``geo`` was
    started, not from the config's folder) stops, with the path that works from the config.
    """
    import os

    if Path(value).is_absolute():
        return Path(value)
    p = (base / value).resolve()
    here = (Path.cwd() / value).resolve()
    if not p.exists() and here.exists() and here != p:
        msg = (f"{key} = {value!r} is read from the config's folder ({base.resolve()}), where it does not exist; it is "
               f"there from the current folder ({Path.cwd()}): write {key.split('] ')[-1]} = "
               f"{Path(os.path.relpath(here, base.resolve())).as_posix()!r} (relative to the config) or an absolute path.")
        raise ConfigError(msg)
    return p


def _check_bbox(name: str, bb: tuple[float, float, float, float]) -> None:
    """A ``[[valleys]] bbox`` in longitude/latitude order, each minimum below its maximum."""
    x0, y0, x1, y1 = bb
    if not (-90 <= y0 <= 90 and -90 <= y1 <= 90) and -90 <= x0 <= 90 and -90 <= x1 <= 90:
        msg = (f"[[valleys]] {name!r}: bbox {list(bb)} has latitudes outside ±90, so it looks written in latitude/longitude "
               f"order: write [min_lon, min_lat, max_lon, max_lat] = {[y0, x0, y1, x1]}.")
        raise ConfigError(msg)
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= 90 and -90 <= y1 <= 90):
        msg = (f"[[valleys]] {name!r}: bbox must be [min_lon, min_lat, max_lon, max_lat] in degrees (longitudes within ±180, "
               f"latitudes within ±90); {list(bb)} was given.")
        raise ConfigError(msg)
    if not (x0 < x1 and y0 < y1):
        msg = (f"[[valleys]] {name!r}: bbox must be [min_lon, min_lat, max_lon, max_lat] with each minimum below its maximum; "
               f"{list(bb)} was given" + (f" (perhaps [{x0}, {y1}, {x1}, {y0}]?)." if x0 < x1 and y0 > y1 else "."))
        raise ConfigError(msg)


def config_from_dict(data: dict, *, base: Path | None = None, source: Path | None = None) -> Config:
    """Validate a parsed config mapping and build a :class:`Config`."""
    base = Path(".") if base is None else base
    _check_keys(data, [*_SECTIONS, "valleys"], "top level")
    built: dict[str, Any] = {}
    given: set[tuple[str, str]] = set()
    for section, cls in _SECTIONS.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            msg = f"[{section}] must be a table; {type(table).__name__} was given."
            raise ConfigError(msg)
        names = [f.name for f in fields(cls)]
        _check_keys(table, names, section)
        defaults = cls()
        kwargs = {}
        for k, v in table.items():
            v = _typed(section, k, v, getattr(defaults, k))
            if (section, k) in _PATH_KEYS:
                v = _resolved(v, base, f"[{section}] {k}")
            kwargs[k] = v
            given.add((section, k))
        built[section] = cls(**kwargs)
    run = built["run"]
    if run.engine not in ("pandas", "dask"):
        msg = f"[run] engine must be 'pandas' or 'dask'; {run.engine!r} was given."
        raise ConfigError(msg)
    for key, low in (("workers", 0), ("partition_rows", 1), ("sample_firms", 1000)):
        if getattr(run, key) < low:
            msg = f"[run] {key} must be >= {low}; {getattr(run, key)} was given."
            raise ConfigError(msg)
    if run.max_memory_gb < 0:
        msg = f"[run] max_memory_gb must be >= 0 (0: the memory available); {run.max_memory_gb} was given."
        raise ConfigError(msg)
    an = built["analysis"]
    if an.target_sector is not None and not isinstance(an.target_sector, str):
        msg = (f"[analysis] target_sector must be one sector value, as text (target_sector = \"optics\"); "
               f"{an.target_sector!r} was given. One run tests one sector against the parks.")
        raise ConfigError(msg)
    cs = an.cell_size
    if not (cs == "auto" or (isinstance(cs, (int, float)) and not isinstance(cs, bool) and 0 < cs < float("inf"))):
        msg = f"[analysis] cell_size must be \"auto\" or a number of metres (cell_size = 500); {cs!r} was given."
        raise ConfigError(msg)
    if an.cell not in ("hex", "square", "h3"):
        msg = f"[analysis] cell must be 'hex', 'square' or 'h3'; {an.cell!r} was given."
        raise ConfigError(msg)
    if not (0 < an.alpha < 1):
        msg = f"[analysis] alpha must be between 0 and 1; {an.alpha} was given."
        raise ConfigError(msg)
    if an.point_clusters not in ("none", "dbscan", "hdbscan"):
        msg = f"[analysis] point_clusters must be 'none', 'dbscan' or 'hdbscan'; {an.point_clusters!r} was given."
        raise ConfigError(msg)
    least = math.ceil(1 / an.alpha - 1e-9) - 1  # the fewest draws whose smallest p-value, 1 / (draws + 1), is <= alpha
    if an.permutations < least:
        low = f" cannot give a p-value below 1/{an.permutations + 1} = {1 / (an.permutations + 1):.3g}, which is above" \
            if an.permutations >= 0 else " is negative; the test needs"
        msg = (f"[analysis] permutations = {an.permutations}{low} alpha = {an.alpha:g}, so no permutation test could be "
               f"significant: use 99 or 999 (at least {least}).")
        raise ConfigError(msg)
    for where, key, value in (("analysis", "kd_simulations", an.kd_simulations),
                              ("analysis", "ripley_simulations", an.ripley_simulations),
                              ("groups", "kd_simulations", built["groups"].kd_simulations)):
        if value != 0 and value < 19:  # the envelope tests run at their own 5 % level (geo.kd, geo.ripley_k)
            msg = (f"[{where}] {key} = {value}: a simulation envelope of fewer than 19 draws cannot reach its 5 % "
                   f"level (its smallest p-value is 1/(draws + 1)); use 0 to skip the test, or 99 or 199.")
            raise ConfigError(msg)
    sc = an.scales
    if not (isinstance(sc, (list, tuple)) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                  and 0.1 <= v <= 10 for v in sc)):
        msg = (f"[analysis] scales must be a list of cell-size factors between 0.1 and 10 (scales = [0.5, 1, 2]; "
               f"[] for none); {sc!r} was given.")
        raise ConfigError(msg)
    built["analysis"] = an = replace(an, scales=tuple(sorted({float(v) for v in sc})))
    built["analysis"] = an = replace(an, study_area=_area_value(an.study_area, "[analysis] study_area", base))
    for section in ("firms", "parks", "cells"):
        _check_crs(section, getattr(built[section], "crs", None))
    if an.time_step < 1:
        msg = f"[analysis] time_step must be a whole number of years >= 1 (time_step = 5 for five-year steps); {an.time_step} was given."
        raise ConfigError(msg)
    if an.time_lag < 0:
        msg = (f"[analysis] time_lag must be >= 0 (the earlier steps in a cell's space-time neighbourhood; 0: each step "
               f"alone); {an.time_lag} was given.")
        raise ConfigError(msg)
    valleys = []
    raw_valleys = data.get("valleys", [])
    if not isinstance(raw_valleys, list):
        msg = "`valleys` must be an array of tables: write each as [[valleys]] with name = \"...\"."
        raise ConfigError(msg)
    vnames = [f.name for f in fields(ValleyConfig)]
    for i, v in enumerate(raw_valleys):
        _check_keys(v, vnames, f"valleys #{i + 1}")
        if "name" not in v:
            msg = f"[[valleys]] #{i + 1} has no name; add name = \"...\"."
            raise ConfigError(msg)
        kw = dict(v)
        if "bbox" in kw:
            bb = kw["bbox"]
            if not (isinstance(bb, list) and len(bb) == 4 and all(isinstance(b, (int, float)) for b in bb)):
                msg = f"[[valleys]] {v['name']!r}: bbox must be [min_lon, min_lat, max_lon, max_lat]; {bb!r} was given."
                raise ConfigError(msg)
            kw["bbox"] = tuple(float(b) for b in bb)
            _check_bbox(v["name"], kw["bbox"])
        if "firms" in kw:
            kw["firms"] = (base / kw["firms"]).resolve()
        if "cells" in kw:
            kw["cells"] = (base / kw["cells"]).resolve()
        if "study_area" in kw:
            kw["study_area"] = _area_value(kw["study_area"], f"[[valleys]] {v['name']!r}: study_area", base)
        valleys.append(ValleyConfig(**kw))
    names = [v.name for v in valleys]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        msg = (f"Valley names must be unique: {twice!r} is the name of {names.count(twice)} [[valleys]] (#"
               + ", #".join(str(i + 1) for i, n in enumerate(names) if n == twice)
               + "); give each its own name, or merge them into one [[valleys]].")
        raise ConfigError(msg)
    folded: dict[str, str] = {}
    for n in names:  # their output files would be one file on Windows and macOS
        if n.casefold() in folded:
            msg = (f"Valley names must differ in more than letter case: {folded[n.casefold()]!r} and {n!r} would write the "
                   "same files on Windows and macOS. Write each valley's name the same way as in the data.")
            raise ConfigError(msg)
        folded[n.casefold()] = n
    if built["cells"].path is not None or any(v.cells is not None for v in valleys):
        built["cells"] = _check_cells(built["cells"], built["firms"], built["run"].engine)
    elif built["firms"].path is None:
        msg = ("[firms] path is required: the firm table (or the .osm.pbf / Overture Places file) to analyse; or give "
               "counts on units with [cells] path (a district layer, a GeoTIFF of gridded counts, a CSV of cell centres).")
        raise ConfigError(msg)
    fc = built["firms"]
    if fc.closed_column is not None and not (isinstance(fc.closed_column, str) and fc.closed_column.strip()):
        msg = (f"[firms] closed_column must name the column of closing (deregistration) years, as text "
               f"(closed_column = \"closed\"); {fc.closed_column!r} was given.")
        raise ConfigError(msg)
    if not (isinstance(fc.drop_stacked, bool) or fc.drop_stacked == "sensitivity"):
        msg = f"[firms] drop_stacked must be true, false or \"sensitivity\"; {fc.drop_stacked!r} was given."
        raise ConfigError(msg)
    if fc.duplicates not in ("auto", "drop", "flag", "keep"):
        msg = f"[firms] duplicates must be \"auto\", \"drop\", \"flag\" or \"keep\"; {fc.duplicates!r} was given."
        raise ConfigError(msg)
    if not (0 <= fc.stack_radius_m < float("inf")):
        msg = f"[firms] stack_radius_m must be a number >= 0 (0: exactly equal coordinates); {fc.stack_radius_m} was given."
        raise ConfigError(msg)
    if fc.stacked_min < 2:
        msg = f"[firms] stacked_min must be >= 2 (firms at one point that make a stack); {fc.stacked_min} was given."
        raise ConfigError(msg)
    check_maps(built["maps"])
    _check_sources(built, base)
    fc = built["firms"]
    if not (0 < built["firms"].max_rejected_share <= 1):
        msg = f"[firms] max_rejected_share must be in (0, 1]; {built['firms'].max_rejected_share} was given."
        raise ConfigError(msg)
    return Config(**built, valleys=tuple(valleys), source=source, given=frozenset(given))


#: the weights of [cells] weights (geo.cells.graph.weights)
CELL_WEIGHTS = ("queen", "rook", "knn", "distance")
#: the rate smoothings of [cells] smoothing (geo.stats.rates.unit_rates)
CELL_SMOOTHING = ("none", "empirical_bayes", "spatial_empirical_bayes")


def _check_cells(cc: CellsConfig, fc: FirmsConfig, run_engine: str) -> CellsConfig:
    """``[cells]``: known weights and smoothing, a year pattern with ``{year}``, band years, cell size."""
    if cc.weights not in CELL_WEIGHTS:
        msg = f"[cells] weights must be one of {list(CELL_WEIGHTS)}; {cc.weights!r} was given."
        raise ConfigError(msg)
    if cc.smoothing not in CELL_SMOOTHING:
        msg = f"[cells] smoothing must be one of {list(CELL_SMOOTHING)}; {cc.smoothing!r} was given."
        raise ConfigError(msg)
    if cc.smoothing != "none" and cc.denominator is None:
        msg = (f"[cells] smoothing = {cc.smoothing!r} smooths rates: set [cells] denominator = \"area\" (firms per km²) "
               "or the column of the population at risk.")
        raise ConfigError(msg)
    if cc.year_columns is not None and "{year}" not in cc.year_columns:
        msg = (f"[cells] year_columns must be a pattern with {{year}} in it (year_columns = \"optics_{{year}}\"); "
               f"{cc.year_columns!r} was given.")
        raise ConfigError(msg)
    by = cc.band_years
    if not (isinstance(by, (list, tuple)) and all(isinstance(y, int) and not isinstance(y, bool) for y in by)
            and len(set(by)) == len(by)):
        msg = f"[cells] band_years must be a list of distinct years, one per band ([2005, 2006, 2007]); {by!r} was given."
        raise ConfigError(msg)
    cs = cc.cell_size
    if cs is not None and not (isinstance(cs, (int, float)) and not isinstance(cs, bool) and 0 < cs < float("inf")):
        msg = (f"[cells] cell_size must be the side of the cells in the CRS's units (cell_size = 0.01 for 0.01° cells); "
               f"{cs!r} was given.")
        raise ConfigError(msg)
    if cc.k < 1:
        msg = f"[cells] k must be >= 1 (neighbours per unit for weights = \"knn\"); {cc.k} was given."
        raise ConfigError(msg)
    if cc.distance < 0:
        msg = f"[cells] distance must be >= 0 metres (0: the smallest band that leaves no unit alone); {cc.distance} was given."
        raise ConfigError(msg)
    if not cc.per > 0:
        msg = f"[cells] per must be > 0 (per = 10000 for firms per 10,000 people); {cc.per} was given."
        raise ConfigError(msg)
    if run_engine == "dask":
        msg = ("[cells] path is read by the in-memory engine (units are few: districts, grid cells of a city): set [run] "
               "engine = \"pandas\".")
        raise ConfigError(msg)
    if fc.path is not None:
        msg = ("[cells] path and [firms] path were both given: a run starts from firm points or from counts on given "
               "units, not both. Remove one of them.")
        raise ConfigError(msg)
    return replace(cc, band_years=tuple(by), cell_size=None if cs is None else float(cs))


#: the [firms] keys that read a table and do not apply to an OSM or Overture source
_TABLE_ONLY_KEYS = ("lon", "lat", "crs", "encoding", "sheet", "id")


def _sector_table(value: Any, key: str, base: Path) -> Any:
    """``[firms] osm_sectors`` / ``overture_sectors``: a table of text -> text, or a CSV path (resolved)."""
    if value is None:
        return None
    if isinstance(value, str):
        return (base / value).resolve() if not Path(value).is_absolute() else Path(value)
    if isinstance(value, dict) and value and all(isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in value.items()):
        return dict(value)
    example = '"office=it" = "ict"' if key == "osm_sectors" else 'software_development = "ict"'
    msg = (f"[firms] {key} must be a table of sectors ([firms.{key}] with lines such as {example}) or the path of a CSV "
           f"of two columns; {value!r} was given.")
    raise ConfigError(msg)


def check_engine(firms: FirmsConfig, run: RunConfig) -> None:
    """Refuse what the dask engine cannot read: an OpenStreetMap or Overture source of firms.

    Parks of any ``[parks] source`` (a layer, OpenStreetMap, the development-zone catalogue) are
    read in memory by both engines.

    Raises
    ------
    geo.errors.ConfigError
        ``engine = "dask"`` with ``[firms] source`` other than ``"table"``.
    """
    if run.engine == "dask" and firms.source != "table":
        msg = (f"[firms] source = {firms.source!r} is read by the in-memory engine: set [run] engine = \"pandas\" "
               "(an extract of a city or a province fits in memory; the dask engine partitions CSV and Parquet firm "
               "tables).")
        raise ConfigError(msg)


def _check_sources(built: dict, base: Path) -> None:
    """[firms] source and [parks] source: known names, the keys that go with them."""
    fc, pc, run = built["firms"], built["parks"], built["run"]
    if fc.source not in ("table", "osm", "overture"):
        msg = f"[firms] source must be \"table\", \"osm\" or \"overture\"; {fc.source!r} was given."
        raise ConfigError(msg)
    if pc.source not in ("file", "osm", "catalogue"):
        msg = f"[parks] source must be \"file\", \"osm\" or \"catalogue\"; {pc.source!r} was given."
        raise ConfigError(msg)
    if pc.source == "catalogue" and (pc.path is None or pc.attributes is None):
        msg = ("[parks] source = \"catalogue\" needs path (the zones' point layer, e.g. \"zones.shp\") and attributes (their "
               "table, e.g. \"zones.xlsx\"); " + ("path" if pc.path is None else "attributes") + " is missing.")
        raise ConfigError(msg)
    if pc.attributes is not None and pc.source != "catalogue":
        msg = (f"[parks] attributes is the catalogue's attribute table and needs source = \"catalogue\"; source is "
               f"{pc.source!r}.")
        raise ConfigError(msg)
    if pc.area_unit is not None and pc.area_unit.strip().lower().replace(" ", "") not in AREA_UNITS:
        msg = f"[parks] area_unit must be one of {sorted(AREA_UNITS)}; {pc.area_unit!r} was given."
        raise ConfigError(msg)
    if pc.source == "osm" and pc.path is None:
        msg = "[parks] source = \"osm\" needs [parks] path: the .osm.pbf to read the industrial areas and high-tech zones from."
        raise ConfigError(msg)
    if fc.source != "table":
        wrong = [k for k in _TABLE_ONLY_KEYS if getattr(fc, k) != getattr(FirmsConfig(), k)]
        if wrong:
            msg = (f"[firms] {', '.join(wrong)} read a table and do not apply to source = {fc.source!r} (its points are "
                   "longitude/latitude in WGS84, its ids the features' own): remove them.")
            raise ConfigError(msg)
    check_engine(fc, run)
    if not (0 <= fc.min_confidence <= 1):
        msg = f"[firms] min_confidence must be between 0 and 1; {fc.min_confidence} was given."
        raise ConfigError(msg)
    built["firms"] = replace(fc, osm_sectors=_sector_table(fc.osm_sectors, "osm_sectors", base),
                                         overture_sectors=_sector_table(fc.overture_sectors, "overture_sectors", base))


def _decodes_as(p: Path, encoding: str) -> bool:
    try:
        p.read_bytes().decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML run configuration."""
    p = Path(path)
    if not p.is_file():
        msg = f"Config file not found: '{p}'. Copy geo/datasets/data/demo.toml (the demo's) as a starting point."
        raise ConfigError(msg)
    data_file = p.suffix.lower() != ".toml" and p.suffix.lower() in (
        ".csv", ".tsv", ".txt", ".xlsx", ".xls", ".parquet", ".gpkg", ".shp", ".geojson", ".json", ".pbf", ".tif", ".tiff")
    hint = (f" geo check and geo run take the study's config file (a .toml naming '{p.name}' under [firms] path, "
            "[parks] path or [cells] path; see data/examples/*/config.toml), not a data file." if data_file else "")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8-sig"))  # Notepad writes UTF-8 with a BOM
    except UnicodeDecodeError:
        msg = f"'{p}' is not a text file, so not a TOML config.{hint}"
        if not data_file and _decodes_as(p, "gb18030"):
            msg = (f"'{p}' is not UTF-8 (it reads as GBK/GB18030, an editor's Chinese default): a TOML config is UTF-8; "
                   "save it again as UTF-8 (in Notepad: Save As, Encoding UTF-8).")
        raise ConfigError(msg) from None
    except tomllib.TOMLDecodeError as exc:
        msg = f"'{p}' is not valid TOML: {exc}.{hint}"
        raise ConfigError(msg) from None
    return config_from_dict(data, base=p.resolve().parent, source=p.resolve())
