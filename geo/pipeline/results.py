"""The results of a run (:class:`Results`, one :class:`ValleyResult` per valley) and their
``summary.json`` form.  :meth:`Results.write` hands them to :mod:`geo.outputs` (the layers
of ``layers.gpkg`` are assembled by :func:`geo.outputs.layers.run_layers`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields, make_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo._gc import QuietGC
from geo._version import __version__
from geo.config import Config
from geo.io._describe import describe_inputs

__all__ = ["Results", "ValleyResult", "ValleyAnalysis", "OUTPUT_NAMES", "check_out_folder"]

#: what a run writes into its output folder: files, then folders
OUTPUT_NAMES = ("rejects.csv", "parks_rejects.csv", "layers.gpkg", "report.html", "summary.json", "maps", "rasters",
                "figures")


def _input_paths(cfg: Config) -> list[tuple[str, Path]]:
    """(config key, path) of every file the config reads."""
    keys = [("[firms] path", cfg.firms.path), ("[parks] path", cfg.parks.path), ("[parks] attributes", cfg.parks.attributes),
            ("[cells] path", cfg.cells.path), ("[groups] path", cfg.groups.path), ("[models] anchors", cfg.models.anchors),
            ("[analysis] study_area", cfg.analysis.study_area), ("[firms] osm_sectors", cfg.firms.osm_sectors),
            ("[firms] overture_sectors", cfg.firms.overture_sectors)]
    for v in cfg.valleys:
        keys += [(f"[[valleys]] {v.name!r} firms", v.firms), (f"[[valleys]] {v.name!r} cells", v.cells),
                 (f"[[valleys]] {v.name!r} study_area", v.study_area)]
    return [(k, p) for k, p in keys if isinstance(p, Path)]


def check_out_folder(cfg: Config, out: str | Path) -> None:
    """Stop before anything is written when an output of the run would replace one of its inputs.

    ``--out`` pointed at the data folder writes ``rejects.csv``, ``layers.gpkg``, ``report.html``
    ... next to the inputs: harmless, unless an input has one of those names (or lies in the
    ``maps``, ``rasters`` or ``figures`` folder), which the run would overwrite.

    Raises
    ------
    geo.errors.ConfigError
        An input file that the outputs would replace, with its config key.
    """
    from geo.errors import ConfigError

    target = Path(out).resolve()
    for key, p in _input_paths(cfg):
        p = p.resolve()
        inside = p.parent == target and p.name in OUTPUT_NAMES
        under = any(p.is_relative_to(target / d) for d in OUTPUT_NAMES[5:])
        if inside or under:
            msg = (f"The output folder {out} holds the input {p.relative_to(target)} ({key}), which the run's own "
                   f"output of that name would overwrite: write the outputs to another folder (geo run --out "
                   f"{target.name}-results) or rename the input.")
            raise ConfigError(msg)


@dataclass(frozen=True)
class ValleyAnalysis:
    """The results of the statistics stages of one valley, one named field per stage.

    ``None``: the stage did not run (``ValleyResult.skipped`` says why).  Made by the
    pipeline's valley analysis; outputs (maps, figures, report, ``summary.json``) read these
    fields.  ``dataclasses.replace(analysis, cells=...)`` gives a changed copy.
    """

    metric_firms: Any = None  # geo.points.PointFrame: the valley's firms in its UTM zone (x/y metres)
    study_area: Any = None  # geo.cells.area.StudyArea: the cells' extent, the parks' placement region, Ripley's window
    cells: Any = None  # GeoDataFrame of cells with counts (geo.aggregate)
    graph: Any = None  # libpysal.graph.Graph of the cells (geo.weights)
    global_moran: dict | None = None  # variable label -> geo.stats.autocorr.MoranResult
    hotspots: Any = None  # cells with Gi* and LISA columns (geo.hotspots)
    focus_column: str | None = None  # the count column the hot spots are of (the target sector's, or n_firms)
    clusters: Any = None  # cluster polygons (geo.cluster_polygons)
    # which hot cell is in which cluster (geo.cluster_polygons' record): index = the hot cells' index in
    # hotspots, value = their cluster_id (the Series is named "cluster_id"); empty without clusters
    cluster_cells: pd.Series | None = None
    parks_overlay: Any = None  # one row per park: metrics, tests, verdict (geo.park_overlay)
    clusters_outside_parks: Any = None  # the clusters with less than 10 % of their area in a park
    stack_shares: Any = None  # per cell: firms of its biggest stacked geocode (geo.parks.stacks)
    models: Any = None  # development model of each park–cluster pair (geo.parks.models)
    point_clusters: Any = None  # DBSCAN/HDBSCAN clusters of the target firms
    point_cluster_agreement: Any = None  # parks vs point clusters
    density: Any = None  # geo.stats.density.DensityGrid of all firms
    density_target: Any = None  # DensityGrid of the target sector
    zonal: Any = None  # density statistics per park
    kd: Any = None  # Duranton–Overman Kd of the target sector
    ripley: Any = None  # Ripley K/L table of the target sector
    colocation: Any = None  # geo.pipeline._colocation.Colocation: global CLQ(a→b) per relation, the local CLQ, k, anchors
    spacetime_cube: Any = None  # geo.stats.spacetime.SpacetimeCube: target firms alive per cell and step
    emerging: Any = None  # geo.stats.spacetime.EmergingHotspots of the cube
    timings: dict | None = None  # stage -> seconds
    # what the stages record about themselves (the public functions' records, read where they ran: record_of)
    grid: Any = None  # geo.cells.grid.GridInfo: how the cells were made (kind, size, extent, count columns)
    hotspot_parameters: dict | None = None  # the hot-spot options, seed, bin counts and p-value methods
    clusters_definition: str | None = None  # which cells make a cluster ("Gi* bin >= 2")
    park_rules: dict | None = None  # verdict -> the rule in words
    park_nulls: dict | None = None  # park test -> its null hypothesis in words
    hot_before: dict | None = None  # park -> founding-year hot-spot table (the precedence figure)
    model_rules: dict | None = None  # development model -> its rule in words
    point_cluster_method: str | None = None  # "DBSCAN (eps = 300 m, min_samples = 10)"
    ripley_test: dict | None = None  # Ripley: p_value, simulations, correction ... of the envelope test


#: what a public function records in its table's ``attrs`` that the run keeps as a named field:
#: field -> (the attrs key, how to read it)
_RECORDS = {
    "hotspot_parameters": ("hotspots", lambda v: {k: x for k, x in (v or {}).items() if not isinstance(x, pd.DataFrame)}),
    "cluster_cells": ("cell_cluster", lambda v: v),
    "clusters_definition": ("definition", lambda v: v),
    "park_rules": ("rules", lambda v: v),
    "park_nulls": ("nulls", lambda v: v),
    "hot_before": ("hot_before", lambda v: {k: _without_attrs(t) for k, t in (v or {}).items()}),
    "model_rules": ("rules", lambda v: v),
    "point_cluster_method": ("method", lambda v: v),
}


def record_of(frame, field_name: str):
    """The value of the :class:`ValleyAnalysis` field ``field_name`` from what the public function
    that made ``frame`` recorded in its ``attrs`` (read by the stage that called it, once)."""
    if field_name == "ripley_test":  # Ripley's envelope test: every scalar the table records
        return {k: v for k, v in frame.attrs.items() if not isinstance(v, (pd.DataFrame, pd.Series))}
    key, read = _RECORDS[field_name]
    return read(frame.attrs.get(key))


def _freeze(draft) -> ValleyAnalysis:
    """The frozen analysis.  Each stage has put what it records about itself in named fields
    (:func:`record_of`); the tables keep no ``attrs`` (pandas would deep-copy them with every
    copy, and no stage or output reads them: ``tests/test_results.py``)."""
    values = {f.name: getattr(draft, f.name) for f in fields(ValleyAnalysis)}
    for frame in values.values():
        if isinstance(frame, (pd.DataFrame, pd.Series)):
            frame.attrs = {}
    return ValleyAnalysis(**values)


def _without_attrs(frame):
    """``frame`` with its ``attrs`` emptied (in place: a table of the stage's own)."""
    if hasattr(frame, "attrs"):
        frame.attrs = {}
    return frame


#: the same fields, mutable, while the stages of a valley run (frozen into a ValleyAnalysis at the end)
AnalysisDraft = make_dataclass("AnalysisDraft", [(f.name, f.type, field(default=None)) for f in fields(ValleyAnalysis)])
AnalysisDraft.freeze = _freeze


@dataclass
class ValleyResult:
    """Everything computed for one valley (study area): its inputs, :attr:`analysis`, what was skipped."""

    name: str
    title: str
    firms: Any  # geo.points.PointFrame (lon/lat, EPSG:4326): the valley's firms (dask engine: maybe a sample)
    parks: Any  # GeoDataFrame, EPSG:4326
    metric_crs: str | None = None
    seed: int | None = None
    analysis: Any = field(default_factory=ValleyAnalysis)  # ValleyAnalysis (an AnalysisDraft while the stages run)
    skipped: dict[str, str] = field(default_factory=dict)
    n_firms: int | None = None  # all firms of the valley (``firms`` may be a sample: dask engine)
    prepared: Any = None  # dask engine: exact cells and park counts made on the cluster
    extent: Any = None  # geo.cells.area.StudyArea given before the analysis (a polygon layer; the stacks' sensitivity run keeps the main run's)

    @property
    def n_total(self) -> int:
        return int(len(self.firms)) if self.n_firms is None else int(self.n_firms)

    @property
    def sampled(self) -> bool:
        return self.n_total > len(self.firms)

    def summary(self) -> dict:
        bounds = self.firms.total_bounds if len(self.firms) else [np.nan] * 4
        return {
            "name": self.name,
            "title": self.title,
            "n_firms": self.n_total,
            "n_firms_sample": int(len(self.firms)) if self.sampled else None,
            "n_parks": int(len(self.parks)),
            "parks": self.parks["name"].tolist(),
            "metric_crs": self.metric_crs,
            "seed": self.seed,
            "bounds_wgs84": [float(b) for b in bounds],
            "skipped": dict(self.skipped),
            **_stage_summary(self),
        }


#: the entries of a firm-point run's ``summary.json``, in order (docs/summary_schema.md)
SUMMARY_KEYS = ("geo_version", "title", "synthetic_demo_data", "seed", "answer", "config", "inputs", "load",
                "parks_load", "valleys", "comparison", "groups", "warnings", "stack_sensitivity",
                "scale_sensitivity", "timings_s")


def run_summary(run: Any, keys: tuple[str, ...], **own: Any) -> dict:
    """The ``summary.json`` of a run (:class:`Results`, :class:`geo.pipeline.units.UnitsResults`).

    Parameters
    ----------
    run : Results or UnitsResults
        The run: what every run records is read from its ``config``, ``synthetic``,
        ``load_report``, ``parks_report``, ``valleys`` (each with ``summary()``), ``warnings``
        and ``timings``.
    keys : tuple of str
        The order of the entries; entries not named in it follow at the end.
    **own : Any
        The run kind's own entries.

    Returns
    -------
    dict
        The version, title, synthetic flag, seed, configuration, load reports, valleys, warnings
        and timings (seconds, 3 decimals), with ``own``, in the order of ``keys``.
    """
    entries = {
        "geo_version": __version__,
        "title": run.config.run.title,
        "synthetic_demo_data": run.synthetic,
        "seed": run.config.run.seed,
        "config": run.config.to_dict(),
        "load": run.load_report,
        "parks_load": run.parks_report,
        "valleys": {k: v.summary() for k, v in run.valleys.items()},
        "warnings": list(run.warnings),
        "timings_s": {k: round(v, 3) for k, v in run.timings.items()},
        **own,
    }
    return {k: entries.pop(k) for k in keys} | entries


@dataclass
class Results:
    """The outputs of :func:`run`; :meth:`write` saves them to a folder.

    ``firms`` (and each valley's ``firms`` and ``analysis.metric_firms``) is a
    :class:`geo.points.PointFrame`: the validated table with its points as coordinate
    columns (``lon``/``lat`` in EPSG:4326; ``x``/``y`` in the valley's UTM zone), which
    every stage accepts; ``results.firms.to_geodataframe()`` gives shapely points.
    """

    config: Config
    firms: Any
    parks: Any
    rejects: pd.DataFrame
    load_report: dict
    parks_report: dict
    valleys: dict[str, ValleyResult]
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: the valleys side by side (:class:`geo.parks.compare.ValleyComparison`), or None
    comparison: Any = None
    #: high-tech versus traditional (:class:`geo.parks.groups.GroupComparison`), or None
    groups: Any = None
    #: the paths of the last :meth:`write` (or ``run(config, out=...)``), by output
    written: dict[str, Path] = field(default_factory=dict)
    #: every park feature that was not used (row, name, reason, detail): ``parks_rejects.csv``
    parks_rejects: pd.DataFrame | None = None
    #: ``[firms] drop_stacked = "sensitivity"``: the park verdicts without the stacked firms
    stack_sensitivity: dict | None = None
    #: ``[analysis] scales``: each park's verdict at each cell size, and whether it is stable
    scale_sensitivity: dict | None = None

    @property
    def synthetic(self) -> bool:
        return bool(self.config.run.synthetic)

    @property
    def answer(self):
        """The headline answer (:class:`geo.parks.answer.Answer`): verdict counts, park lists
        and the sentences the report opens with; ``summary.json["answer"]`` is its
        :meth:`~geo.parks.answer.Answer.to_dict`."""
        from geo.parks.answer import research_answer

        return research_answer(self.valleys, target_sector=self.config.analysis.target_sector,
                               founded_column=self.config.firms.founded_column,
                               comparison=self.comparison.table if self.comparison is not None else None,
                               synthetic=self.synthetic, scales=self.scale_sensitivity,
                               alpha=self.config.analysis.alpha)

    def summary(self) -> dict:
        """Machine-readable results (the content of ``summary.json``)."""
        return run_summary(
            self, SUMMARY_KEYS,
            answer=self.answer.to_dict(),
            inputs=describe_inputs(self.load_report, self.parks_report),
            comparison=_comparison_summary(self.comparison),
            groups=_groups_summary(self.groups),
            stack_sensitivity=self.stack_sensitivity,
            scale_sensitivity=self.scale_sensitivity,
        )

    def _write_rasters(self, folder: Path) -> dict[str, Path]:
        from geo.outputs._write import safe_name
        from geo.outputs.raster import write_geotiff

        written = {}
        target = self.config.analysis.target_sector
        for name, vr in self.valleys.items():
            if vr.analysis.density is not None:
                p = folder / f"{safe_name(name)}_density.tif"
                write_geotiff(vr.analysis.density, p)
                written[f"raster_{name}"] = p
            if vr.analysis.density_target is not None:
                p = folder / f"{safe_name(name)}_{safe_name(target)}_density.tif"
                write_geotiff(vr.analysis.density_target, p)
                written[f"raster_{name}_{target}"] = p
        return written

    def write(self, out_dir: str | Path = "geo-output") -> dict[str, Path]:
        """Write every output of the run into ``out_dir``; returns the paths written."""
        return self._write(out_dir, None)

    def _write(self, out_dir: str | Path, started: Any) -> dict[str, Path]:
        """:meth:`write`; ``started`` is a :class:`geo.outputs.layers.LayerJob` of ``out_dir/layers.gpkg``
        that already has the first layers (``run(config, out=...)``), or None."""
        from geo.outputs import _write as gwrite
        from geo.outputs import layers as glayers
        from geo.outputs import maps

        out = Path(out_dir)
        check_out_folder(self.config, out)
        out.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        t0 = time.perf_counter()
        written["rejects"] = gwrite.write_csv(self.rejects, out / "rejects.csv")
        if self.parks_report.get("file"):
            empty = pd.DataFrame({"row": [], "name": [], "reason": [], "detail": []})
            pr = self.parks_rejects if self.parks_rejects is not None else empty
            written["parks_rejects"] = gwrite.write_csv(pr, out / "parks_rejects.csv")
        layers = glayers.run_layers(self, inputs=started is None)
        from geo.outputs import report

        # a big GeoPackage is written by a child process meanwhile (geo run only)
        with QuietGC() as quiet, (started or glayers.LayerJob(layers, out / "layers.gpkg")) as job:
            if started is not None:
                job.add(layers)
            quiet.freeze()
            written.update(maps.write_maps(self, out / "maps"))
            written.update(self._write_rasters(out / "rasters"))
            written["report"] = report.write_report(self, out)
            written["layers"] = job.wait()
        self.timings["write"] = time.perf_counter() - t0
        written["summary"] = gwrite.write_json(self.summary(), out / "summary.json")
        self.written = written
        return written


def _stage_summary(vr: ValleyResult) -> dict:
    """JSON-ready summary of the statistics stages of one valley."""
    from dataclasses import asdict

    st = vr.analysis
    out: dict[str, Any] = {}
    cells = st.cells
    if cells is not None:
        out["grid"] = {**st.grid.to_dict(), "n_cells": int(len(cells))}
    if st.study_area is not None:
        out["study_area"] = st.study_area.to_dict()
    if st.global_moran is not None:
        out["global_moran"] = {k: asdict(v) for k, v in st.global_moran.items()}
    hot = st.hotspots
    if hot is not None:
        bins = hot["gi_bin"].value_counts().sort_index()
        out["hotspots"] = {
            "variable": st.focus_column,
            "gi_bins": {str(int(k)): int(v) for k, v in bins.items()},
            "lisa_labels": {str(k): int(v) for k, v in hot["lisa_label"].value_counts().items()},
            "parameters": dict(st.hotspot_parameters or {}),
        }
    cl = st.clusters
    if cl is not None:
        out["clusters"] = pd.DataFrame(cl.drop(columns="geometry")).to_dict(orient="records")
        out["clusters_definition"] = st.clusters_definition
    ov = st.parks_overlay
    if ov is not None and len(ov):
        out["park_results"] = ov.to_dict(orient="records")
        out["park_rules"] = st.park_rules
        out["park_nulls"] = st.park_nulls
    if st.kd is not None:
        k = st.kd
        out["kd"] = {"verdict": k.verdict, "localised_m": [list(map(float, iv)) for iv in k.localised], "gamma": k.gamma,
                     "psi": k.psi, "n_sector": k.n_sector, "n_sites": k.n_sites, "simulations": k.simulations,
                     "bandwidth_m": k.bandwidth, "max_distance_m": k.max_distance, "exact": k.subsample is None,
                     "subsample": k.subsample, "subsample_error": k.subsample_error, "budget": dict(k.budget)}
    if st.density is not None:
        g = st.density
        out["density"] = {"bandwidth_m": g.bandwidth_m, "cell_size_m": g.cell_size_m, "units": g.units,
                          "n_points": g.n_points, "kernel": g.kernel}
    if st.zonal is not None:
        out["zonal_density"] = st.zonal.reset_index().to_dict(orient="records")
    if st.ripley is not None:
        rk = st.ripley
        test = st.ripley_test or {}
        out["ripley"] = {"p_value": test.get("p_value"), "correction": test.get("correction"),
                         "r_max_m": float(rk["r"].max()), "n": test.get("n"),
                         "exact": test.get("subsample") is None, "subsample": test.get("subsample"),
                         "subsample_error": test.get("subsample_error"), "budget": dict(test.get("budget") or {})}
    if st.models is not None:
        md = st.models
        out["models"] = md.to_dict(orient="records")
        out["model_rules"] = st.model_rules
    if st.point_clusters is not None:
        pc = st.point_clusters
        out["point_clusters"] = {"method": st.point_cluster_method, "n_clusters": int(len(pc)),
                                 "clusters": pd.DataFrame(pc.drop(columns="geometry")).to_dict(orient="records")}
        if st.point_cluster_agreement is not None:
            out["point_clusters"]["parks"] = st.point_cluster_agreement.to_dict(orient="records")
    if st.colocation is not None:
        from geo.pipeline._colocation import local_summary

        co = st.colocation
        out["colocation"] = {"k": co.k, "anchor_source": co.anchor_source, "alternative": co.alternative,
                             "table": co.table.to_dict(orient="records"), "local": local_summary(co)}
    if st.emerging is not None:
        out["emerging_hotspots"] = emerging_summary(st.spacetime_cube, st.emerging)
    outside = st.clusters_outside_parks
    if outside is not None:
        out["clusters_outside_parks"] = [int(c) for c in outside["cluster_id"]] if len(outside) else []
    return out


def emerging_summary(cube, emerging) -> dict:
    """``summary.json``'s ``emerging_hotspots`` entry of a valley (docs/summary_schema.md)."""
    hot = emerging.hot_counts()
    return {
        "cube": cube.to_dict(),
        "survivorship": None if cube.closed else (
            "no closing years: the history is that of the firms that survived to the data's date"),
        "options": dict(emerging.options),
        "categories": emerging.category_counts(),
        "hot_cells_per_step": {str(int(k)): int(v) for k, v in hot.items()},
        "p_methods": {str(k): int(v) for k, v in emerging.p_method.stack().value_counts().items() if v},
    }


def _groups_summary(g) -> dict | None:
    """``summary.json``'s ``groups``: a :class:`geo.parks.groups.GroupComparison`'s fields."""
    if g is None:
        return None
    return {"table": g.table.to_dict(orient="records"), "difference": g.difference, "answer": g.answer,
            "assignment": g.assignment, "group_a": g.group_a, "group_b": g.group_b}


def _comparison_summary(cmp) -> dict | None:
    """``summary.json``'s ``comparison``: a :class:`geo.parks.compare.ValleyComparison`'s fields."""
    if cmp is None:
        return None
    return {
        "table": cmp.table.reset_index().to_dict(orient="records"),
        "krugman": {str(k): {str(j): v for j, v in row.items()} for k, row in cmp.krugman.to_dict(orient="index").items()},
        "kd": cmp.kd,
        "notes": cmp.notes,
        "rules": cmp.rules,
        "target_sector": cmp.target_sector,
    }
