"""A run on given units (``[cells] path``): counts on districts or grid cells instead of firm points.

``run_units(config)`` reads the units (:func:`geo.io.units.read_units`) and the parks, splits
the units into valleys, and per valley runs what aggregated data allow: the variable (counts,
or rates per km² or per a denominator, raw or empirical-Bayes smoothed), contiguity or
distance weights with the islands kept and named, global Moran's I, LISA and Gi* with FDR
(exact conditional-randomisation p-values for integer counts, seeded permutations for rates),
and the park overlay on the units (area-weighted shares, the tests for aggregated data and
the precedence test on yearly counts).  The point stages (Ripley, Kd, co-location, kernel
density, the labelling test) need firm points: they are recorded as skipped, with the reason.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.config import Config
from geo.errors import InputError
from geo.pipeline.results import run_summary

__all__ = [
    "NO_POINTS",
    "POINT_STAGES",
    "UnitsAnalysis",
    "UnitsCheck",
    "UnitsResults",
    "UnitsValley",
    "check_units",
    "run_units",
]

log = logging.getLogger(__name__)

#: units a valley needs for the spatial statistics (as cells: geo.stats.autocorr.MIN_CELLS)
MIN_UNITS = 30
#: the reason every point stage gives on given units
NO_POINTS = "given units: no firm points"
#: the stages of a firm-point run that need the points (skipped on given units, with :data:`NO_POINTS`)
POINT_STAGES = {
    "ripley_k": "Ripley's K/L (the points' pattern at each distance)",
    "kd": "Duranton–Overman Kd (distances between firms)",
    "colocation": "co-location quotients (each firm's nearest neighbours)",
    "density": "kernel density of the firms",
    "point_clusters": "DBSCAN point clusters",
    "labelling": "the parks' labelling test (permuting which firms are the target sector)",
    "stack_artefacts": "stacked geocodes (many firms at one point)",
    "emerging_hotspots": "emerging hot spots (the space-time cube of firms founded and closed)",
}
#: the entries of a run on units' ``summary.json``, in order
SUMMARY_KEYS = ("geo_version", "title", "synthetic_demo_data", "seed", "input_kind", "input", "inputs", "not_run",
                "applies", "config", "load", "parks_load", "valleys", "warnings", "timings_s")
#: what the statistics of a run on units are and why they apply to aggregated data (the report's list)
APPLIES = (
    ("global Moran's I, LISA and Gi* on the units' values (counts, or rates where the units differ in size) with "
     "their weights: the unit is the observation, as in GeoDa"),
    "the park overlay: the area-weighted share of each park over hot-spot units and the values inside and outside it",
    "the precedence test on the yearly counts: whether the units under a park were hot before its designation",
)


@dataclass(frozen=True)
class UnitsAnalysis:
    """The statistics of one valley of given units (``None``: not run; ``UnitsValley.skipped`` says why)."""

    units: Any = None  # GeoDataFrame in the metric CRS, indexed by unit_id: area_km2, value and the statistics
    graph: Any = None  # libpysal.graph.Graph of the units (islands kept as islands)
    islands: tuple = ()  # ids of the units without a neighbour under the weights
    variable: str | None = None  # "count" or "rate"
    variable_label: str | None = None  # what the value is, in words
    integer: bool = False  # integer counts: exact conditional-randomisation p-values
    global_moran: dict | None = None  # label -> geo.stats.autocorr.MoranResult
    hotspot_parameters: dict | None = None  # the options, seed, bins and p-value methods of the hot spots
    overlay: Any = None  # one row per park (geo.parks.units.units_overlay), without attrs
    overlay_notes: dict | None = None  # the overlay's rules, nulls and assumption (its attrs)
    timings: dict | None = None


@dataclass
class UnitsValley:
    """One valley (study area) of given units."""

    name: str
    title: str
    units: Any  # GeoDataFrame, EPSG:4326
    parks: Any  # GeoDataFrame, EPSG:4326
    metric_crs: str | None = None
    seed: int | None = None
    analysis: UnitsAnalysis = field(default_factory=UnitsAnalysis)
    skipped: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict:
        a = self.analysis
        out: dict[str, Any] = {
            "name": self.name, "title": self.title, "n_units": len(self.units), "n_parks": len(self.parks),
            "parks": self.parks["name"].tolist() if "name" in self.parks else [], "metric_crs": self.metric_crs,
            "seed": self.seed, "islands": list(a.islands), "multipart": self.units.loc[self.units["multipart"], "unit_id"].tolist(),
            "variable": a.variable, "variable_label": a.variable_label, "integer_counts": a.integer,
            "skipped": dict(self.skipped),
        }
        if a.global_moran is not None:
            out["global_moran"] = {k: asdict(v) for k, v in a.global_moran.items()}
        if a.units is not None and "gi_bin" in a.units:
            u = a.units
            out["hotspots"] = {
                "gi_bins": {str(int(k)): int(v) for k, v in u["gi_bin"].dropna().value_counts().sort_index().items()},
                "lisa_labels": {str(k): int(v) for k, v in u["lisa_label"].value_counts().items()},
                "hot_units": u.index[u["hot"]].tolist(), "cold_units": u.index[u["cold"]].tolist(),
                "parameters": dict(a.hotspot_parameters or {}),
            }
        if a.overlay is not None:
            out["park_results"] = pd.DataFrame(a.overlay).reset_index(drop=True).to_dict(orient="records")
            out["park_tests"] = dict(a.overlay_notes or {})
        return out


def describe_units(load_report: dict, parks_report: dict) -> dict[str, str]:
    """``{"units": ..., "parks": ...}``: e.g. ``"polygons districts.geojson, 37 units kept of 39"`` and
    ``"park layer parks.geojson, 2 parks"`` (:func:`geo.io._describe.describe_inputs`' phrase for the parks)."""
    from geo.io._describe import describe_inputs

    lr = load_report
    files = lr.get("files") or [lr]
    names = " + ".join(Path(r["file"]).name for r in files)
    nodata = f", {lr['nodata_cells']:,} nodata cells not units" if lr.get("nodata_cells") else ""
    units = f"{lr['unit_kind']} {names}, {lr['units_loaded']:,} units kept of {lr['units_read']:,}{nodata}"
    return {"units": units, "parks": describe_inputs({}, parks_report)["parks"]}


@dataclass
class UnitsCheck:
    """What ``geo check`` found for a run on given units (no statistic computed)."""

    config: Config
    load_report: dict
    parks_report: dict
    parks_rejects: pd.DataFrame
    valleys: tuple[dict, ...]  # name, n_units, n_parks, years
    warnings: tuple[str, ...]
    input_kind: str = "given units"

    @property
    def inputs(self) -> dict[str, str]:
        """As :attr:`UnitsResults.inputs`."""
        return describe_units(self.load_report, self.parks_report)


@dataclass
class UnitsResults:
    """The outputs of a run on given units; :meth:`write` saves them (``layers.gpkg``, the maps,
    ``report.html``, ``summary.json``, ``rejects.csv``)."""

    config: Config
    units: Any  # every unit read (EPSG:4326)
    parks: Any
    rejects: pd.DataFrame
    load_report: dict
    parks_report: dict
    parks_rejects: pd.DataFrame
    valleys: dict[str, UnitsValley]
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    written: dict[str, Path] = field(default_factory=dict)
    input_kind: str = "given units"

    @property
    def synthetic(self) -> bool:
        return bool(self.config.run.synthetic)

    @property
    def applies(self) -> tuple[str, ...]:
        """What a run on given units computes, and why it applies to aggregated data (:data:`APPLIES`)."""
        return APPLIES

    @property
    def point_stages(self) -> dict[str, str]:
        """The stages that need firm points and were not run (:data:`POINT_STAGES`)."""
        return dict(POINT_STAGES)

    def input_sentence(self) -> str:
        """"Input: given units (districts.geojson, 37 polygons); ..." (the report's and the CLI's line)."""
        lr = self.load_report
        name = Path(lr["file"]).name if "files" not in lr else ", ".join(Path(r["file"]).name for r in lr["files"])
        what = lr["unit_kind"]
        extra = f", {lr['nodata_cells']:,} nodata cells not units" if lr.get("nodata_cells") else ""
        return (f"Input: given units ({name}, {lr['units_loaded']:,} {what}{extra}); the point tests (Ripley, Kd, "
                "labelling) need firm points and were not run; what applies: " + "; ".join(APPLIES) + ".")

    @property
    def inputs(self) -> dict[str, str]:
        """The kind of each input, in one phrase each (the console's ``input:`` line, ``summary.json["inputs"]``)."""
        return describe_units(self.load_report, self.parks_report)

    @property
    def answer(self) -> tuple:
        """The findings in words, one :class:`geo.parks.units.UnitsFinding` per valley
        (:func:`geo.parks.units.units_answer`); the report opens with them."""
        from geo.parks.units import units_answer

        return units_answer(self.valleys)

    def summary(self) -> dict:
        """Machine-readable results (``summary.json``: :func:`geo.pipeline.results.run_summary`)."""
        return run_summary(
            self, SUMMARY_KEYS,
            input_kind=self.input_kind,
            input=self.input_sentence(),
            inputs=self.inputs,
            not_run={k: f"{NO_POINTS} ({v})" for k, v in POINT_STAGES.items()},
            applies=list(APPLIES),
        )

    def write(self, out_dir: str | Path = "geo-output") -> dict[str, Path]:
        """Write every output into ``out_dir``; returns the paths written."""
        from geo.outputs.units import write_units_outputs

        t0 = time.perf_counter()
        written = write_units_outputs(self, Path(out_dir))
        self.timings["write"] = time.perf_counter() - t0
        from geo.outputs._write import write_json

        written["summary"] = write_json(self.summary(), Path(out_dir) / "summary.json")
        self.written = written
        return written


# ----------------------------------------------------------------------------- reading and checking
def _read_one(cfg: Config, path: Path, warnings: list[str]):
    from geo.io.units import read_units

    cc = cfg.cells
    units = read_units(path, layer=cc.layer, id_column=cc.id_column, name_column=cc.name_column,
                       count_column=cc.count_column, year_columns=cc.year_columns, band_years=cc.band_years,
                       cell_size=cc.cell_size, lon=cc.lon, lat=cc.lat, crs=cc.crs, valley_column=cc.valley_column,
                       denominator_column=None if cc.denominator in (None, "area") else cc.denominator)
    report, rejects = dict(units.attrs["load_report"]), units.attrs["rejects"]
    units.attrs = {}
    name = Path(report["file"]).name
    if not len(units):
        first = "; ".join(f"row {r.row}: {r.detail or r.reason}" for r in rejects.head(3).itertuples())
        more = " ..." if len(rejects) > 3 else ""
        msg = (f"Every one of the {report['units_read']:,} units of '{name}' was rejected ({first}{more}): check "
               "[cells] count_column and the layer.")
        raise InputError(msg)
    for r in rejects.itertuples():
        warnings.append(f"unit rejected: row {r.row} of {name} ({r.unit_id}): {r.reason} ({r.detail})")
    if report["nodata_cells"]:
        warnings.append(f"{report['nodata_cells']:,} cells of {name} are nodata in every band: outside the data, not units")
    warnings.extend(_label_warnings(cfg, report))
    return units, report, rejects


def _label_warnings(cfg: Config, report: dict) -> list[str]:
    """A warning when ``[analysis] target_sector`` appears nowhere in the names of the counts it labels.

    On given units the target sector selects nothing: the counts are the column (or band) the
    ``[cells]`` keys name, and target_sector only labels them in every output.  A sector copied
    from another study ("software" over a layer of optics counts) would title a confident answer
    about the wrong firms, so the run says which counts it labels when their names do not mention it.
    """
    target = cfg.analysis.target_sector
    if not target or not cfg.is_given("analysis", "target_sector"):
        return []
    name = Path(report["file"]).name
    names = [name, str(report.get("count_column") or ""), str(cfg.cells.layer or ""),
             *map(str, (report.get("year_columns") or {}).values())]
    if any(target.strip().lower() in n.lower() for n in names):
        return []
    counts = (f"the {report['count_column']} band of {name}" if report.get("format") == "geotiff"
              else f"column {report['count_column']!r} of {name}")
    msg = (f"[analysis] target_sector = {target!r} only labels the counts on given units (it selects nothing): the "
           f"counts are {counts}, whose names do not mention {target!r}; check that they count {target} firms, or "
           "correct target_sector")
    return [msg]


#: the load-report counts summed over the files of a run (``[[valleys]] cells``)
_SUMMED = ("units_read", "units_loaded", "units_rejected", "nodata_cells", "multipart", "repaired")


def _files(cfg: Config) -> list[tuple[str | None, Path]]:
    """(valley or None, path) of every unit file: ``[cells] path``, then each ``[[valleys]] cells``."""
    files: list[tuple[str | None, Path]] = [(None, cfg.cells.path)] if cfg.cells.path is not None else []
    files += [(v.name, v.cells) for v in cfg.valleys if v.cells is not None]
    if files and files[0][0] is None and len(files) > 1 and cfg.cells.valley_column is None:
        rest = [v.name for v in cfg.valleys if v.cells is None]
        if len(rest) != 1:
            msg = (f"[cells] path has no valley column and {len(rest)} [[valleys]] have no `cells` file of their own "
                   f"({rest}): set [cells] valley_column, or give every valley its own `cells` file.")
            raise InputError(msg)
    return files


#: [analysis] keys of a firm-point run that a run on given units does not use
_POINT_KEYS = ("cell", "cell_size", "weights", "kd_simulations", "ripley_simulations", "compare", "point_clusters",
               "dbscan_eps_m", "dbscan_min_samples", "scales", "scale_h3", "study_area", "time_step", "time_lag")


def _config_warnings(cfg: Config, warnings: list[str]) -> None:
    """The [analysis] and [firms] keys set for firm points that given units ignore: one warning naming them."""
    unused = [k for k in _POINT_KEYS if ("analysis", k) in cfg.given]
    if unused:
        hint = " ([cells] weights sets the units' weights)" if "weights" in unused else ""
        warnings.append(f"[analysis] {', '.join(unused)} apply to firm points and are not used on given units (the "
                        f"units are the cells){hint}")
    firms = sorted(k for s, k in cfg.given if s == "firms")
    if firms:
        warnings.append(f"[firms] {', '.join(firms)} are not used: the run starts from the units of [cells]")


def _read(cfg: Config, warnings: list[str]):
    """The units of every file (one valley per ``[[valleys]] cells`` file), their merged load report and rejects."""
    from geo.pipeline.inputs import read_parks_config

    _config_warnings(cfg, warnings)
    frames, reports, rejected = [], [], []
    files = _files(cfg)
    for valley, path in files:
        units, report, rejects = _read_one(cfg, path, warnings)
        if valley is not None:
            units["valley"] = valley
        elif len(files) > 1 and "valley" not in units:
            units["valley"] = next(v.name for v in cfg.valleys if v.cells is None)
        frames.append(units)
        reports.append(report)
        rejected.append(rejects.assign(file=Path(report["file"]).name) if len(files) > 1 else rejects)
    if len(files) == 1:
        units, report, rejects = frames[0], reports[0], rejected[0]
    else:
        import geopandas as gpd

        units = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs="EPSG:4326")
        dup = units["unit_id"].duplicated()
        if dup.any():  # ids repeat across files (row numbers, raster cells): prefix the valley
            units["unit_id"] = units["valley"].astype(str) + ":" + units["unit_id"].astype(str)
        report = dict(reports[0])
        report.update({k: int(sum(r[k] for r in reports)) for k in _SUMMED})
        report["file"] = f"{len(files)} files"
        report["files"] = reports
        report["rejected_by_reason"] = dict(pd.concat([pd.Series(r["rejected_by_reason"], dtype=int) for r in reports])
                                            .groupby(level=0).sum().astype(int))
        report["integer_counts"] = all(r["integer_counts"] for r in reports)
        report["multipart_ids"] = units.loc[units["multipart"], "unit_id"].tolist()[:50]
        rejects = pd.concat(rejected, ignore_index=True)
    parks, parks_report, parks_rejects = read_parks_config(cfg, warnings)
    return units, report, rejects, parks, parks_report, parks_rejects


def _split_valleys(cfg: Config, units, parks, load_report: dict, warnings: list[str]) -> dict[str, UnitsValley]:
    """The valleys: the values of ``[cells] valley_column`` (those of ``[[valleys]]`` when given), or one valley;
    units of other valleys are left out with a warning that counts them."""
    titles = {v.name: (v.title or v.name) for v in cfg.valleys}
    if "valley" in units:
        present = list(dict.fromkeys(units["valley"].tolist()))
        names = [v.name for v in cfg.valleys] or present
        missing = [n for n in names if n not in present]
        if missing:
            msg = (f"[[valleys]] {missing} have no unit: [cells] valley_column {cfg.cells.valley_column!r} holds "
                   f"{present[:10]}. Name the valleys as the layer does.")
            raise InputError(msg)
        other = units.loc[~units["valley"].isin(names), "valley"].value_counts()
        if len(other):
            shown = ", ".join(f"{k!r} ({v:,})" for k, v in other.head(5).items())
            warnings.append(f"{int(other.sum()):,} units of valleys not in the config were left out: {shown}")
    else:
        if len(cfg.valleys) > 1:
            msg = (f"{len(cfg.valleys)} [[valleys]] were given but the units have no valley column: set [cells] "
                   "valley_column, or give each [[valleys]] its own file (cells = \"wuhan.gpkg\").")
            raise InputError(msg)
        names = [cfg.valleys[0].name] if cfg.valleys else [Path(load_report["file"]).stem]
    out = {}
    for name in names:
        uv = units[units["valley"] == name] if "valley" in units else units
        out[name] = UnitsValley(name=name, title=titles.get(name, name), units=uv.reset_index(drop=True),
                                parks=_parks_of(parks, name, uv))
    return out


def _parks_of(parks, name: str, units):
    """The parks of one valley: by the parks' valley column when it names this valley, else those over its units."""
    if parks is None or not len(parks):
        return parks
    if "valley" in parks and (parks["valley"] == name).any():
        return parks[parks["valley"] == name]
    import shapely

    return parks[parks.intersects(shapely.box(*units.total_bounds))]


def _graph(units_m, cfg: Config):
    from geo.cells.graph import weights

    cc = cfg.cells
    kw: dict[str, Any] = {}
    if cc.weights == "knn":
        kw["k"] = min(cc.k, len(units_m) - 1)
    if cc.weights == "distance" and cc.distance > 0:
        kw["distance"] = cc.distance
    return weights(units_m, kind=cc.weights, islands="keep", **kw)


def _metric(vu: UnitsValley):
    from geo import crs as gcrs

    crs = gcrs.metric_crs_for(vu.units)
    um = vu.units.to_crs(crs)
    um.index = pd.Index(um["unit_id"].to_numpy(), name=None)
    um["area_km2"] = um.geometry.area.to_numpy() / 1e6
    return um, crs.to_string()


def check_units(cfg: Config) -> UnitsCheck:
    """``geo check`` of a run on given units: read and check the units and parks; no statistic, no weights
    (the units without a neighbour are named by ``geo run``)."""
    warnings: list[str] = []
    units, report, _, parks, parks_report, parks_rejects = _read(cfg, warnings)
    facts = []
    for name, vu in _split_valleys(cfg, units, parks, report, warnings).items():
        if len(vu.units) < MIN_UNITS:
            warnings.append(f"valley {name!r}: {len(vu.units)} units; the spatial statistics need at least {MIN_UNITS}")
        facts.append({"name": name, "n_units": len(vu.units),
                      "n_parks": len(vu.parks) if vu.parks is not None else 0,
                      "years": sorted(report["year_columns"])})
    return UnitsCheck(config=cfg, load_report=report, parks_report=parks_report, parks_rejects=parks_rejects,
                      valleys=tuple(facts), warnings=tuple(warnings))


# ----------------------------------------------------------------------------- the statistics
def _variable(um, cfg: Config, count_column: str, graph=None, counts=None) -> tuple[np.ndarray, str, str]:
    """The analysed value per unit: the counts (``counts``, default the count column), or rates
    (:func:`geo.stats.rates.unit_rates`: raw, empirical-Bayes or spatial empirical-Bayes over ``graph``)."""
    cc = cfg.cells
    what = cfg.analysis.target_sector or "firms"
    counts = um["count"].to_numpy(float) if counts is None else np.asarray(counts, dtype=float)
    if cc.denominator is None:
        return counts, "count", f"{what} (count, {count_column})"
    from geo.stats.rates import unit_rates

    if cc.denominator == "area":
        denom, per_what = um["area_km2"].to_numpy(float), "km²"
    else:
        denom, per_what = um["denominator"].to_numpy(float), f"{cc.per:g} {cc.denominator}" if cc.per != 1 else cc.denominator
    kw = {"graph": graph} if cc.smoothing == "spatial_empirical_bayes" else {}
    method = cc.smoothing if cc.smoothing != "none" else "raw"
    rates = np.asarray(unit_rates(counts, denom, method=method, per=cc.per, **kw), dtype=float)
    smoothed = {"empirical_bayes": " (empirical-Bayes smoothed)",
                "spatial_empirical_bayes": " (spatial empirical-Bayes smoothed)"}.get(method, "")
    return rates, "rate", f"{what} per {per_what} ({count_column})" + smoothed


def _analyse(vu: UnitsValley, cfg: Config, seed: int, warnings: list[str], report: dict) -> None:
    from geo.cells.graph import islands
    from geo.errors import GeoError
    from geo.stats.autocorr import global_moran, hotspots

    an = cfg.analysis
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    um, vu.metric_crs = _metric(vu)
    vu.seed = seed
    for key, why in POINT_STAGES.items():
        vu.skipped[key] = f"{NO_POINTS} ({why})"
    graph = _graph(um, cfg) if len(um) >= 2 else None  # first: the spatial empirical-Bayes rate smooths over it
    timings["weights"] = time.perf_counter() - t0
    values, kind, label = _variable(um, cfg, report["count_column"], graph)
    um["value"] = values
    integer = kind == "count" and bool(np.all(values == np.round(values)))
    fields: dict[str, Any] = {"variable": kind, "variable_label": label, "integer": integer}
    if len(um) < MIN_UNITS:
        vu.skipped["statistics"] = (f"only {len(um)} unit(s): the spatial statistics need at least {MIN_UNITS} (a finer "
                                    "level of units, e.g. townships instead of districts, or a grid)")
        warnings.append(f"valley {vu.name!r}: {vu.skipped['statistics']}")
        vu.analysis = UnitsAnalysis(units=um, **fields)
        return
    iso = tuple(islands(graph).ids)
    fields.update(graph=graph, islands=iso)
    if iso:
        warnings.append(f"valley {vu.name!r}: {len(iso)} unit(s) without a neighbour under {cfg.cells.weights} weights "
                        f"({', '.join(map(str, iso[:10]))}): their LISA and Gi* are not defined (left empty)")
    t0 = time.perf_counter()
    y = um["value"]
    gm = {}
    try:
        gm[label] = global_moran(y, graph, permutations=an.permutations, seed=seed)
    except GeoError as exc:
        vu.skipped["global_moran"] = str(exc)
    fields["global_moran"] = gm
    try:
        hot = hotspots(um, "value", graph=graph, statistic="both", alpha=an.alpha, fdr=an.fdr,
                       permutations=an.permutations, seed=seed)
    except GeoError as exc:
        vu.skipped["hotspots"] = str(exc)
        vu.analysis = UnitsAnalysis(units=um, timings=timings, **fields)
        return
    fields["hotspot_parameters"] = dict(hot.attrs.get("hotspots") or {})
    hot.attrs = {}
    hot = _mark_islands(hot, iso, cfg.cells.weights, an.alpha, an.fdr)
    timings["autocorrelation"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    by_year = _yearly_hot(vu, um, graph, cfg, seed, report, iso) if vu.parks is not None and len(vu.parks) else {}
    for y, flags in by_year.items():
        hot[f"hot_{y}"] = flags.to_numpy()
    timings["yearly_hotspots"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ov = _overlay(vu, hot, cfg, seed, report, kind, by_year)
    if ov is not None:
        fields["overlay_notes"] = {k: v for k, v in ov.attrs.items() if k in ("rules", "nulls", "assumption", "value_kind")}
        ov = ov.copy()
        ov.attrs = {}
    fields["overlay"] = ov
    timings["parks"] = time.perf_counter() - t0
    vu.analysis = UnitsAnalysis(units=hot, timings=timings, **fields)


#: the local statistic columns of :func:`geo.stats.autocorr.hotspots` that an island has none of
_LOCAL_COLUMNS = ("gi_G", "gi_z", "gi_p_norm", "gi_p", "gi_p_fdr", "lisa_I", "lisa_z", "lisa_p", "lisa_p_fdr")


def _mark_islands(hot, iso: tuple, kind: str, alpha: float, fdr: bool):
    """Islands: local statistics NaN with the reason (``note``), never a fake 0; ``hot``/``cold`` flags."""
    hot = hot.copy()
    is_island = hot.index.isin(list(iso))
    hot["island"] = is_island
    for c in _LOCAL_COLUMNS:
        if c in hot:
            hot.loc[is_island, c] = np.nan
    if "gi_bin" in hot:
        hot["gi_bin"] = hot["gi_bin"].astype("Float64")
        hot.loc[is_island, "gi_bin"] = pd.NA
    if "lisa_label" in hot:
        hot.loc[is_island, "lisa_label"] = "island"
    hot["note"] = np.where(is_island, f"no neighbour under {kind} weights: no local statistic", "")
    p = hot["gi_p_fdr"] if fdr else hot["gi_p"]
    sig = (p.to_numpy(dtype=float, na_value=np.nan) <= alpha)
    z = hot["gi_z"].to_numpy(dtype=float, na_value=np.nan)
    hot["hot"] = sig & (z > 0)
    hot["cold"] = sig & (z < 0)
    return hot


def _yearly_hot(vu: UnitsValley, um, graph, cfg: Config, seed: int, report: dict, iso: tuple) -> dict:
    """Year -> the units that are significant Gi* hot spots of that year's value (FDR; islands never):
    the precedence test's second basis (``hot_by_year`` of :func:`geo.parks.units.units_overlay`)."""
    from geo.errors import GeoError
    from geo.stats.autocorr import hotspots

    an = cfg.analysis
    out = {}
    for y in report["year_columns"]:
        values, _, _ = _variable(um, cfg, str(y), graph, counts=um[f"count_{y}"])
        frame = um[["geometry"]].assign(value=values)
        try:
            h = hotspots(frame, "value", graph=graph, statistic="gi*", alpha=an.alpha, fdr=an.fdr,
                         permutations=an.permutations, seed=seed)
        except GeoError as exc:
            vu.skipped[f"hotspots[{y}]"] = str(exc)
            continue
        p = (h["gi_p_fdr"] if an.fdr else h["gi_p"]).to_numpy(dtype=float, na_value=np.nan)
        flags = (p <= an.alpha) & (h["gi_z"].to_numpy(dtype=float, na_value=np.nan) > 0) & ~h.index.isin(list(iso))
        out[int(y)] = pd.Series(flags, index=um.index)
    return out


def _overlay(vu: UnitsValley, hot, cfg: Config, seed: int, report: dict, kind: str, by_year: dict):
    """The park overlay on the units (:func:`geo.parks.units.units_overlay`), or None with the reason."""
    from geo.errors import GeoError

    if vu.parks is None or not len(vu.parks):
        vu.skipped["parks"] = "no parks in this valley"
        return None
    from geo.parks.units import units_overlay

    years = {int(y): f"count_{y}" for y in report["year_columns"]} or None
    if years is None:
        vu.skipped["precedence"] = "no yearly counts ([cells] year_columns or band_years): the precedence test needs them"
    parks_m = vu.parks.to_crs(hot.crs)
    try:
        ov = units_overlay(hot, parks_m, value="value", hot=hot["hot"], year_columns=years, designated_column="designated",
                           name_column="name", seed=seed, permutations=cfg.analysis.permutations, value_kind=kind,
                           alpha=cfg.analysis.alpha, hot_by_year=by_year or None)
    except GeoError as exc:
        vu.skipped["parks"] = str(exc)
        return None
    return ov


def run_units(cfg: Config, *, out: str | Path | None = None) -> UnitsResults:
    """Run a study on given units (``[cells] path``); ``out``: also write the outputs there.

    Returns
    -------
    UnitsResults
        The units with their statistics per valley, the park overlay, what was read and rejected.
    """
    timings: dict[str, float] = {}
    warnings: list[str] = []
    t0 = time.perf_counter()
    units, report, rejects, parks, parks_report, parks_rejects = _read(cfg, warnings)
    valleys = _split_valleys(cfg, units, parks, report, warnings)
    timings["read"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    seeds = np.random.SeedSequence(cfg.run.seed).generate_state(max(len(valleys), 1))
    for vu, s in zip(valleys.values(), seeds):
        _analyse(vu, cfg, int(s), warnings, report)
    timings["analysis"] = time.perf_counter() - t0
    res = UnitsResults(config=cfg, units=units, parks=parks, rejects=rejects, load_report=report,
                       parks_report=parks_report, parks_rejects=parks_rejects, valleys=valleys, timings=timings,
                       warnings=warnings)
    if out is not None:
        res.write(out)
    return res
