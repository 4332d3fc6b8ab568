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
    closed_column = "closed"    # optional: closing years (without them the space-time history is the survivors')

    [parks]
    path = "parks.gpkg"
    name = "name"
    designated = "designated"

    [analysis]
    target_sector = "optics"
    time_step = 1               # emerging hot spots: years per step
    time_lag = 1                # emerging hot spots: earlier steps in the space-time neighbourhood

    [[valleys]]
    name = "Wuhan"
    title = "Wuhan Optics Valley (East Lake)"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from geo.errors import ConfigError

__all__ = ["Config", "FirmsConfig", "ParksConfig", "AnalysisConfig", "GroupsConfig", "ModelsConfig", "ValleyConfig",
           "RunConfig", "load_config", "config_from_dict"]


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
    closed_column: str | None = None  # closing (deregistration) year: the space-time cube counts firms alive
    name_column: str = "name"
    employees_column: str = "employees"
    max_rejected_share: float = 0.5  # stop when more of the rows than this are rejected (a wrong crs, wrong columns)


@dataclass(frozen=True)
class ParksConfig:
    path: Path | None = None
    name: str | None = None
    valley: str | None = None
    designated: str | None = None
    crs: Any = None
    layer: str | None = None


@dataclass(frozen=True)
class AnalysisConfig:
    target_sector: str | None = None
    cell: str = "hex"
    cell_size: Any = "auto"
    weights: str = "queen"
    permutations: int = 999
    alpha: float = 0.05
    fdr: bool = True
    kd_simulations: int = 199
    ripley_simulations: int = 39
    compare: bool = True
    point_clusters: str = "dbscan"
    dbscan_eps_m: float = 500.0
    dbscan_min_samples: int = 20
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
class ValleyConfig:
    name: str
    title: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    firms: Path | None = None


@dataclass(frozen=True)
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    firms: FirmsConfig = field(default_factory=FirmsConfig)
    parks: ParksConfig = field(default_factory=ParksConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    groups: GroupsConfig = field(default_factory=GroupsConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    valleys: tuple[ValleyConfig, ...] = ()
    source: Path | None = None
    #: the (section, key) pairs the TOML (or dict) set itself, as opposed to defaults
    given: frozenset = frozenset()

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
        return out


_SECTIONS = {"run": RunConfig, "firms": FirmsConfig, "parks": ParksConfig, "analysis": AnalysisConfig,
             "groups": GroupsConfig, "models": ModelsConfig}
_PATH_KEYS = {("firms", "path"), ("parks", "path"), ("valleys", "firms"), ("groups", "path"), ("models", "anchors")}


def _check_keys(table: dict, allowed: list[str], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        msg = f"Unknown key(s) {unknown} in [{where}]; valid keys are {sorted(allowed)}."
        raise ConfigError(msg)


def _typed(section: str, key: str, value: Any, default: Any) -> Any:
    if default is not None and not isinstance(default, (Path,)) and key not in ("crs", "cell_size", "sheet", "drop_stacked"):
        expected = type(default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if expected is bool and not isinstance(value, bool) or (expected is not bool and isinstance(value, bool)) or not isinstance(value, expected):
            msg = f"[{section}] {key} must be {expected.__name__}; {type(value).__name__} {value!r} was given."
            raise ConfigError(msg)
    return value


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
                v = (base / v).resolve() if not Path(v).is_absolute() else Path(v)
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
    if an.permutations < 0:
        msg = f"[analysis] permutations must be >= 0; {an.permutations} was given."
        raise ConfigError(msg)
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
        if "firms" in kw:
            kw["firms"] = (base / kw["firms"]).resolve()
        valleys.append(ValleyConfig(**kw))
    names = [v.name for v in valleys]
    if len(set(names)) != len(names):
        msg = f"Valley names must be unique; {names} was given."
        raise ConfigError(msg)
    folded: dict[str, str] = {}
    for n in names:  # their output files would be one file on Windows and macOS
        if n.casefold() in folded:
            msg = (f"Valley names must differ in more than letter case: {folded[n.casefold()]!r} and {n!r} would write the "
                   "same files on Windows and macOS. Write each valley's name the same way as in the data.")
            raise ConfigError(msg)
        folded[n.casefold()] = n
    if built["firms"].path is None:
        msg = "[firms] path is required: the firm table to analyse."
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
    if not (0 < built["firms"].max_rejected_share <= 1):
        msg = f"[firms] max_rejected_share must be in (0, 1]; {built['firms'].max_rejected_share} was given."
        raise ConfigError(msg)
    return Config(**built, valleys=tuple(valleys), source=source, given=frozenset(given))


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML run configuration."""
    p = Path(path)
    if not p.is_file():
        msg = f"Config file not found: '{p}'. Copy geo/datasets/data/demo.toml (the demo's) as a starting point."
        raise ConfigError(msg)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        msg = f"'{p}' is not valid TOML: {exc}."
        raise ConfigError(msg) from None
    return config_from_dict(data, base=p.resolve().parent, source=p.resolve())
