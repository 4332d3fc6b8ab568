"""The whole run: ``run(config) -> Results`` chains the stages; ``Results.write`` saves them.

Each stage is a plain function of the previous stages' outputs.  A stage that needs data the
run does not have (no parks, no founding years ...) records why it was skipped instead of
failing the run.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo import __version__
from geo._gc import QuietGC
from geo.config import Config, config_from_dict, load_config
from geo.errors import InputError

__all__ = ["run", "Results", "ValleyResult"]

log = logging.getLogger(__name__)


@dataclass
class ValleyResult:
    """Everything computed for one valley (study area)."""

    name: str
    title: str
    firms: Any  # geo.points.PointFrame (lon/lat, EPSG:4326): the valley's firms (dask engine: maybe a sample)
    parks: Any  # GeoDataFrame, EPSG:4326
    metric_crs: str | None = None
    seed: int | None = None
    stages: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    n_firms: int | None = None  # all firms of the valley (``firms`` may be a sample: dask engine)
    prepared: Any = None  # dask engine: exact cells and park counts made on the cluster

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


@dataclass
class Results:
    """The outputs of :func:`run`; :meth:`write` saves them to a folder.

    ``firms`` (and each valley's ``firms`` and ``stages["metric_firms"]``) is a
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
    comparison: Any = None
    groups: dict | None = None
    #: the paths of the last :meth:`write` (or ``run(config, out=...)``), by output
    written: dict[str, Path] = field(default_factory=dict)

    @property
    def synthetic(self) -> bool:
        return bool(self.config.run.synthetic)

    def summary(self) -> dict:
        """Machine-readable results (the content of ``summary.json``)."""
        return {
            "geo_version": __version__,
            "title": self.config.run.title,
            "synthetic_demo_data": self.synthetic,
            "seed": self.config.run.seed,
            "config": self.config.to_dict(),
            "load": self.load_report,
            "parks_load": self.parks_report,
            "valleys": {k: v.summary() for k, v in self.valleys.items()},
            "comparison": _comparison_summary(self.comparison),
            "groups": _groups_summary(self.groups),
            "warnings": list(self.warnings),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }

    def _write_rasters(self, folder: Path) -> dict[str, Path]:
        from geo.io import safe_name

        written = {}
        target = self.config.analysis.target_sector
        for name, vr in self.valleys.items():
            if "density" in vr.stages:
                p = folder / f"{safe_name(name)}_density.tif"
                vr.stages["density"].write(p)
                written[f"raster_{name}"] = p
            if "density_target" in vr.stages:
                p = folder / f"{safe_name(name)}_{safe_name(target)}_density.tif"
                vr.stages["density_target"].write(p)
                written[f"raster_{name}_{target}"] = p
        return written

    def write(self, out_dir: str | Path = "geo-output") -> dict[str, Path]:
        """Write every output of the run into ``out_dir``; returns the paths written."""
        return self._write(out_dir, None)

    def _write(self, out_dir: str | Path, started: Any) -> dict[str, Path]:
        """:meth:`write`; ``started`` is a :class:`geo.io.LayerJob` of ``out_dir/layers.gpkg``
        that already has the first layers (``run(config, out=...)``), or None."""
        from geo import io as gio
        from geo import maps

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        t0 = time.perf_counter()
        written["rejects"] = gio.write_csv(self.rejects, out / "rejects.csv")
        layers = {} if started is not None else _first_layers(self.firms, self.parks, self.rejects)
        done: dict[str, list] = {name: [] for name in self.valleys}
        for kind in ("cells", "hotspots", "clusters", "point_clusters"):
            frames = [_wgs84_layer(vr.stages[kind], done[name]).assign(valley=name)
                      for name, vr in self.valleys.items() if kind in vr.stages]
            if frames:
                layers[kind] = _concat(frames)
        if self.groups is not None:
            gt = self.groups["table"].copy()
            gt.attrs = {}
            layers["groups"] = gt
        if self.comparison is not None:
            tbl = self.comparison.reset_index()
            tbl.attrs = {}
            layers["valleys"] = tbl
        ov = [_overlay_layer(vr) for vr in self.valleys.values() if "parks_overlay" in vr.stages]
        if ov:
            layers["parks_overlay"] = _concat(ov)
        from geo import report

        # a big GeoPackage is written by a child process meanwhile (SQLite holds the GIL)
        with QuietGC() as quiet, (started or gio.LayerJob(layers, out / "layers.gpkg")) as job:
            if started is not None:
                job.add(layers)
            quiet.freeze()
            written.update(maps.write_maps(self, out / "maps"))
            written.update(self._write_rasters(out / "rasters"))
            written["report"] = report.write_report(self, out)
            written["layers"] = job.wait()
        self.timings["write"] = time.perf_counter() - t0
        written["summary"] = gio.write_json(self.summary(), out / "summary.json")
        self.written = written
        return written


def _stage_summary(vr: ValleyResult) -> dict:
    """JSON-ready summary of the statistics stages of one valley."""
    from dataclasses import asdict

    st = vr.stages
    out: dict[str, Any] = {}
    cells = st.get("cells")
    if cells is not None:
        a = cells.attrs
        out["grid"] = {k: a.get(k) for k in ("cell", "size", "size_m", "cell_area_m2", "size_rule", "metric_crs", "extent",
                                                  "extent_area_m2", "n_counted", "n_outside")}
        out["grid"]["n_cells"] = int(len(cells))
    if "global_moran" in st:
        out["global_moran"] = {k: asdict(v) for k, v in st["global_moran"].items()}
    hot = st.get("hotspots")
    if hot is not None:
        bins = hot["gi_bin"].value_counts().sort_index()
        out["hotspots"] = {
            "variable": st.get("focus_column"),
            "gi_bins": {str(int(k)): int(v) for k, v in bins.items()},
            "lisa_labels": {str(k): int(v) for k, v in hot["lisa_label"].value_counts().items()},
            "parameters": {k: v for k, v in hot.attrs.get("hotspots", {}).items() if not isinstance(v, (pd.DataFrame,))},
        }
    cl = st.get("clusters")
    if cl is not None:
        out["clusters"] = pd.DataFrame(cl.drop(columns="geometry")).to_dict(orient="records")
        out["clusters_definition"] = cl.attrs.get("definition")
    ov = st.get("parks_overlay")
    if ov is not None and len(ov):
        out["park_results"] = ov.to_dict(orient="records")
        out["park_rules"] = ov.attrs.get("rules")
        out["park_nulls"] = ov.attrs.get("nulls")
    if "kd" in st:
        k = st["kd"]
        out["kd"] = {"verdict": k.verdict, "localised_m": [list(map(float, iv)) for iv in k.localised], "gamma": k.gamma,
                     "psi": k.psi, "n_sector": k.n_sector, "n_sites": k.n_sites, "simulations": k.simulations,
                     "bandwidth_m": k.bandwidth, "max_distance_m": k.max_distance}
    if "density" in st:
        g = st["density"]
        out["density"] = {"bandwidth_m": g.bandwidth_m, "cell_size_m": g.cell_size_m, "units": g.units,
                          "n_points": g.n_points, "kernel": g.kernel}
    if "zonal" in st:
        out["zonal_density"] = st["zonal"].reset_index().to_dict(orient="records")
    if "ripley" in st:
        rk = st["ripley"]
        out["ripley"] = {"p_value": rk.attrs.get("p_value"), "correction": rk.attrs.get("correction"),
                         "r_max_m": float(rk["r"].max())}
    if "models" in st:
        md = st["models"]
        out["models"] = md.to_dict(orient="records")
        out["model_rules"] = md.attrs.get("rules")
    if "point_clusters" in st:
        pc = st["point_clusters"]
        out["point_clusters"] = {"method": pc.attrs.get("method"), "n_clusters": int(len(pc)),
                                 "clusters": pd.DataFrame(pc.drop(columns="geometry")).to_dict(orient="records")}
        if "point_cluster_agreement" in st:
            out["point_clusters"]["parks"] = st["point_cluster_agreement"].to_dict(orient="records")
    outside = st.get("clusters_outside_parks")
    if outside is not None:
        out["clusters_outside_parks"] = [int(c) for c in outside["cluster_id"]] if len(outside) else []
    return out


def _wgs84_layer(frame, done: list):
    """``frame`` in EPSG:4326; the geometry of a frame in ``done`` with the same index and
    exactly the same geometries (the cells and the hot-spot cells) is reused, not reprojected."""
    import shapely

    for src, out in done:
        if (src.crs == frame.crs and src.index.equals(frame.index)
                and shapely.equals_exact(np.asarray(src.geometry.values), np.asarray(frame.geometry.values), tolerance=0).all()):
            return frame.set_geometry(out.geometry.to_numpy(), crs=out.crs)
    out = frame.to_crs("EPSG:4326")
    done.append((frame, out))
    return out


def _valley_rows(firms, name: str):
    """The firms of one valley, sharing the columns (copy-on-write) when they are one block
    of rows (a registry sorted by city) instead of copying them (a million firms: ~0.2 GB)."""
    idx = np.flatnonzero((firms["valley"] == name).to_numpy())
    if len(idx) and idx[-1] - idx[0] + 1 == len(idx):
        return firms.iloc[idx[0]:idx[-1] + 1]
    return firms.iloc[idx]


def _concat(frames):
    import geopandas as gpd

    clean = []
    for f in frames:
        f = f.copy()
        f.attrs = {}
        clean.append(f)
    return gpd.GeoDataFrame(pd.concat(clean, ignore_index=True), crs=clean[0].crs)


def _overlay_layer(vr: ValleyResult):
    """Park polygons with their overlay metrics, tests and verdict (dict columns as JSON)."""
    import json

    import geopandas as gpd

    ov = vr.stages["parks_overlay"].copy()
    ov.attrs = {}
    if "models" in vr.stages:
        md = vr.stages["models"]
        for c in ("primary_model", "models"):
            if c in md:
                ov[c] = md[c].map(lambda v: " + ".join(v) if isinstance(v, (list, tuple)) else v).reindex(ov.index)
    for c in ov.columns:
        if ov[c].map(lambda v: isinstance(v, dict)).any():
            ov[c] = ov[c].map(lambda v: json.dumps(v) if isinstance(v, dict) else v)
    geo = vr.parks.geometry.reindex(ov.index)
    out = gpd.GeoDataFrame(ov.drop(columns=[c for c in ("name", "designated") if c in ov]).join(vr.parks[["name", "designated"]]),
                           geometry=geo.values, crs=vr.parks.crs)
    out["valley"] = vr.name
    return out


def _groups_summary(g) -> dict | None:
    if g is None:
        return None
    return {"table": g["table"].to_dict(orient="records"), "difference": g["difference"], "answer": g["answer"],
            "assignment": g["assignment"], "group_a": g["group_a"], "group_b": g["group_b"]}


def _comparison_summary(cmp) -> dict | None:
    if cmp is None:
        return None
    return {
        "table": cmp.reset_index().to_dict(orient="records"),
        "krugman": {str(k): {str(j): v for j, v in row.items()} for k, row in cmp.attrs["krugman"].to_dict(orient="index").items()},
        "kd": cmp.attrs.get("kd"),
        "notes": cmp.attrs.get("notes"),
        "rules": cmp.attrs.get("rules"),
        "target_sector": cmp.attrs.get("target_sector"),
    }


def _first_layers(firms, parks, rejects) -> dict:
    """The layers of ``layers.gpkg`` known once the firms are read: firms, parks, rejects
    (as they are: the layer writer drops their ``attrs`` on its own shallow copies)."""
    return {"firms": firms, "parks": parks, "rejects": rejects}


def _sector_column(cells, value: str | None) -> str | None:
    if value is None:
        return None
    mapping = cells.attrs.get("by_columns", {})
    return mapping.get(value) or mapping.get(str(value))


def _analyse_valley(vr: ValleyResult, cfg: Config, seed: int, warnings: list[str], quiet: QuietGC | None = None) -> None:
    """Grid, weights, global and local autocorrelation, clusters and the park tests."""
    from geo import crs as gcrs
    from geo import parks as gparks
    from geo.autocorr import global_moran, hotspots
    from geo.errors import GeoError
    from geo.grid import aggregate
    from geo.weights import weights

    an = cfg.analysis
    fc = cfg.firms
    target = an.target_sector
    if vr.n_total < 30:
        vr.skipped["statistics"] = f"only {vr.n_total} firms: at least 30 are needed for the spatial statistics"
        return
    t0 = time.perf_counter()
    prepared = vr.prepared
    if prepared is not None:  # dask engine: the cells were counted on the cluster
        fm = gcrs.to_metric(vr.firms, epsg=prepared.metric_crs)
        cells = prepared.cells
    else:
        fm = gcrs.to_metric(vr.firms)
        by = fc.sector_column if fc.sector_column in fm.columns else None
        cells = aggregate(fm, cell=an.cell, size=an.cell_size, by=by)
    vr.stages["metric_firms"] = fm
    vr.stages["cells"] = cells
    if quiet is not None:
        quiet.freeze()  # the metric firms and the cells live as long as the results
    graph = weights(cells, kind=an.weights)
    vr.stages["graph"] = graph
    vr.stages["timings"] = {"aggregate_weights": time.perf_counter() - t0}
    tcol = _sector_column(cells, target)
    if target is not None and tcol is None:
        vr.skipped["target_sector"] = f"no firms of the target sector {target!r} in this valley"
    variables = {"all firms": "n_firms"}
    if tcol is not None:
        variables[f"{target} firms"] = tcol
    gm = {}
    t0 = time.perf_counter()
    for label, col in variables.items():
        try:
            gm[label] = global_moran(cells[col], graph, permutations=an.permutations, seed=seed)
        except GeoError as exc:
            vr.skipped[f"global_moran[{label}]"] = str(exc)
    vr.stages["global_moran"] = gm
    focus = tcol or "n_firms"
    try:
        hot = hotspots(cells, focus, graph=graph, statistic="both", alpha=an.alpha, fdr=an.fdr,
                       permutations=an.permutations, seed=seed)
    except GeoError as exc:
        vr.skipped["hotspots"] = str(exc)
        return
    if focus != "n_firms":
        try:
            hot_all = hotspots(cells, "n_firms", graph=graph, statistic="gi*", alpha=an.alpha, fdr=an.fdr,
                               permutations=an.permutations, seed=seed)
            for c in ("gi_z", "gi_p_fdr", "gi_bin"):
                hot[f"all_{c}"] = hot_all[c].to_numpy()
        except GeoError as exc:
            vr.skipped["hotspots[all firms]"] = str(exc)
    vr.stages["hotspots"] = hot
    vr.stages["focus_column"] = focus
    vr.stages["timings"]["autocorrelation"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    sector_key = target if tcol is not None else None
    hot_named = hot if tcol is None or tcol == f"n_{target}" else hot.assign(**{f"n_{target}": hot[tcol]})
    clusters = gparks.cluster_polygons(hot_named, sector=sector_key)
    vr.stages["clusters"] = clusters
    if len(vr.parks):
        ov = gparks.park_overlay(
            hot_named, vr.parks, fm, sector=sector_key, permutations=an.permutations, seed=seed, graph=graph,
            clusters=clusters, sector_column=fc.sector_column, founded_column=fc.founded_column, alpha=an.alpha,
            counts=prepared.counts if prepared is not None else None,
        )
        vr.stages["parks_overlay"] = ov
        vr.stages["clusters_outside_parks"] = gparks.clusters_outside_parks(clusters, vr.parks)
        _models(vr, cfg, ov, clusters, fm, hot_named, sector_key)
    else:
        vr.skipped["parks"] = "no parks in this valley"
        vr.stages["clusters_outside_parks"] = clusters
    if an.point_clusters != "none" and sector_key is not None:
        pc = gparks.point_clusters(fm, sector=sector_key, sector_column=fc.sector_column, method=an.point_clusters,
                                   eps=an.dbscan_eps_m, min_samples=an.dbscan_min_samples)
        vr.stages["point_clusters"] = pc
        if "parks_overlay" in vr.stages:
            vr.stages["point_cluster_agreement"] = gparks.point_cluster_agreement(vr.stages["parks_overlay"], pc, vr.parks)
    vr.stages["timings"]["parks"] = time.perf_counter() - t0
    _density(vr, cfg, fm, target)
    _point_patterns(vr, cfg, seed, fm, target)


def _models(vr: ValleyResult, cfg: Config, ov, clusters, fm, hot, sector) -> None:
    """Development model of each park–cluster pair (market-, government-, research-, FDI-led)."""
    from geo import typology
    from geo.errors import GeoError

    mc = cfg.models
    anchors = None
    if mc.anchors is not None:
        from geo.io import read_firms

        anchors = read_firms(mc.anchors)
        anchors.attrs = {}
    try:
        vr.stages["models"] = typology.classify_models(
            ov, clusters, fm, vr.parks, anchors=anchors, anchor_column=mc.anchor_column, rd_column=mc.rd_column,
            ownership_column=mc.ownership_column, foreign_value=mc.foreign_value, radius_m=mc.radius_m,
            sector=sector, sector_column=cfg.firms.sector_column, hotspots=hot,
        )
    except GeoError as exc:
        vr.skipped["models"] = str(exc)


def _groups(firms, parks, cfg: Config, warnings: list[str]) -> dict | None:
    """High-tech vs traditional: the group × valley table, the difference test, the answer."""
    from geo import typology
    from geo.errors import GeoError

    gc = cfg.groups
    if gc.path is None:
        return None
    if gc.code_column not in firms.columns:
        warnings.append(f"sector groups skipped: no `{gc.code_column}` column in the firm table")
        return None
    an = cfg.analysis
    try:
        table_groups = typology.read_groups(gc.path)
        labels = typology.assign_groups(firms, table_groups, code_column=gc.code_column)
        gf = firms.assign(group=labels.to_numpy())
        table = typology.compare_groups(gf, parks if len(parks) else None, permutations=an.permutations, seed=cfg.run.seed,
                                        cell=an.cell, size=an.cell_size, alpha=an.alpha, kd_simulations=gc.kd_simulations,
                                        groups=[gc.group_a, gc.group_b])
        diff = typology.group_difference_test(gf, parks, group_a=gc.group_a, group_b=gc.group_b,
                                              permutations=an.permutations, seed=cfg.run.seed)
        answer = typology.groups_answer(table, diff, alpha=an.alpha)
    except GeoError as exc:
        warnings.append(f"sector groups skipped: {exc}")
        return None
    return {"table": table, "difference": diff, "answer": answer, "assignment": dict(labels.attrs),
            "group_a": gc.group_a, "group_b": gc.group_b}


def _density(vr: ValleyResult, cfg: Config, fm, target) -> None:
    """Kernel density of all firms and of the target sector (one grid), zonal stats per park."""
    from geo.errors import GeoError
    from geo.raster import kernel_density, kernel_density_by, zonal_stats

    t0 = time.perf_counter()
    sc = cfg.firms.sector_column
    try:
        if target is not None and sc in fm.columns:
            grids = kernel_density_by(fm, sc, groups=[target])
            vr.stages["density_target"] = grids[target]
        vr.stages["density"] = kernel_density(fm)
    except GeoError as exc:
        vr.skipped["density"] = str(exc)
        return
    if len(vr.parks):
        zs = zonal_stats(vr.stages["density"], vr.parks, id_column="name")
        if "density_target" in vr.stages:
            zt = zonal_stats(vr.stages["density_target"], vr.parks, id_column="name")
            zs = zs.join(zt.add_prefix("target_"))
        vr.stages["zonal"] = zs
    vr.stages["timings"]["density"] = time.perf_counter() - t0


def _point_patterns(vr: ValleyResult, cfg: Config, seed: int, fm, target) -> None:
    """Ripley K/L and Duranton–Overman Kd of the target sector (grid-free measures)."""
    from geo.errors import GeoError
    from geo.pointpattern import kd, ripley_k
    from geo.points import point_xy

    an = cfg.analysis
    sc = cfg.firms.sector_column
    if target is None or sc not in fm.columns:
        vr.skipped["point_patterns"] = "no target sector configured"
        return
    mask = (fm[sc].astype(str) == str(target)).to_numpy()
    t0 = time.perf_counter()
    if an.kd_simulations > 0:
        try:
            vr.stages["kd"] = kd(fm, sector=mask, simulations=an.kd_simulations, seed=seed)
        except GeoError as exc:
            vr.skipped["kd"] = str(exc)
    else:
        vr.skipped["kd"] = "kd_simulations = 0"
    from geo.grid import _convex_hull

    all_xy = np.column_stack(point_xy(fm))
    xy = all_xy[mask]
    try:
        window = _convex_hull(all_xy[:, 0], all_xy[:, 1])  # = convex_hull(multipoints(all)), from boundary candidates
        r = np.linspace(0, min(5000.0, np.sqrt(window.area) / 4), 51)
        vr.stages["ripley"] = ripley_k(xy, window=window, distances=r, correction="border",
                                       simulations=an.ripley_simulations, seed=seed)
    except GeoError as exc:
        vr.skipped["ripley_k"] = str(exc)
    vr.stages["timings"]["point_patterns"] = time.perf_counter() - t0


def _as_config(config: Config | str | Path | dict) -> Config:
    if isinstance(config, Config):
        return config
    if isinstance(config, dict):
        return config_from_dict(config)
    return load_config(config)


def _valley_labels(firms, config: Config):
    """(valley label per firm or NA, ordered valley names, unknown labels) of a firm frame.

    Works on any frame with ``lon``/``lat`` (and the valley column): a whole table, or one
    partition of the dask engine (whose names and unknown labels are then merged in order).
    """
    col = config.firms.valley_column
    configured = [v.name for v in config.valleys]
    labels = pd.Series(pd.NA, index=firms.index, dtype="object")
    if col in firms.columns:
        s = firms[col]
        ok = s.notna().to_numpy()
        vals = np.full(len(s), pd.NA, dtype=object)
        if ok.any():
            vals[ok] = s[ok].astype(str).str.strip().to_numpy(dtype=object)
        labels = pd.Series(vals, index=firms.index, dtype="object")
    boxes = [v for v in config.valleys if v.bbox is not None]
    for v in boxes:
        lo_x, lo_y, hi_x, hi_y = v.bbox
        inside = firms["lon"].between(lo_x, hi_x) & firms["lat"].between(lo_y, hi_y)
        labels = labels.where(~(labels.isna() & inside), v.name)
    if not configured:
        if col not in firms.columns and not boxes:
            labels[:] = "Study area"
            return labels, ["Study area"], []
        names = [str(x) for x in pd.unique(labels.dropna())]
        return labels, names, []
    unknown = sorted(set(labels.dropna()) - set(configured))
    return labels.where(labels.isin(configured), pd.NA), configured, unknown


def _assign_valleys(firms, config: Config, warnings: list[str]):
    """Return (valley labels aligned to firms, ordered valley names)."""
    labels, names, unknown = _valley_labels(firms, config)
    if unknown:
        warnings.append(f"firms of valleys not in the config were left out: {unknown}")
    return labels, names


def _outside_rejects(firms, outside: np.ndarray) -> pd.DataFrame:
    """Reject rows for the firms in no valley of the run."""
    extra = pd.DataFrame(firms.loc[outside].drop(columns="geometry", errors="ignore")).reset_index()
    extra.insert(1, "reason", "outside_valleys")
    extra.insert(2, "detail", "firm lies in no valley of the run")
    return extra


def _add_outside(rejects: pd.DataFrame, load_report: dict, extra: pd.DataFrame) -> pd.DataFrame:
    n = len(extra)
    load_report["rejected_by_reason"]["outside_valleys"] = n
    load_report["rows_rejected"] += n
    load_report["rows_kept"] -= n
    return pd.concat([rejects, extra], ignore_index=True)


def _read_extra_tables(firms, rejects, load_report, extra, fc):
    """Append the firm tables that reference valleys bring themselves (e.g. Hsinchu)."""
    from geo.io import read_firms

    frames = [firms.assign(source=str(fc.path.name))]
    rejects = rejects.assign(source=str(fc.path.name))
    all_rejects = [rejects]
    load_report = dict(load_report)
    load_report["extra_tables"] = []
    for v in extra:
        f = read_firms(v.firms, lon=fc.lon, lat=fc.lat, crs=fc.crs, encoding=fc.encoding, id=fc.id,
                       drop_stacked=fc.drop_stacked, stacked_min=fc.stacked_min, geometry=False)
        rep = f.attrs["load_report"]
        all_rejects.append(f.attrs["rejects"].assign(source=str(v.firms.name)))
        f.attrs = {}
        f = f.assign(source=str(v.firms.name))
        f[fc.valley_column] = v.name
        frames.append(f)
        load_report["extra_tables"].append({"valley": v.name, **rep})
        for key in ("rows_read", "rows_kept", "rows_rejected"):
            load_report[key] += rep[key]
        for k, n in rep["rejected_by_reason"].items():
            load_report["rejected_by_reason"][k] = load_report["rejected_by_reason"].get(k, 0) + n
    from geo.points import PointFrame

    combined = PointFrame(pd.concat(frames), crs="EPSG:4326", xy=("lon", "lat"))
    return combined, pd.concat(all_rejects, ignore_index=True), load_report


def _parks_for_valley(parks, name: str, firms_v):
    if parks is None or len(parks) == 0:
        return parks
    if parks["valley"].notna().any():
        return parks[parks["valley"] == name]
    if len(firms_v) < 3:
        return parks.iloc[0:0]
    import shapely

    hull = shapely.convex_hull(shapely.multipoints(np.column_stack([firms_v["lon"], firms_v["lat"]])))
    return parks[parks.intersects(hull)]


def run(config: Config | str | Path | dict, *, out: str | Path | None = None) -> Results:
    """Run every stage of the analysis described by ``config``.

    Parameters
    ----------
    config : Config, path to a TOML file, or dict
        The run configuration (see :mod:`geo.config`).  ``[run] engine = "dask"`` reads,
        validates and counts the firms on a dask.distributed cluster (``scheduler``); see
        :mod:`geo.dask_engine`.
    out : str or Path, optional
        Also write every output there, as ``results.write(out)`` does (what ``geo run``
        does).  The firm, park and reject layers of ``layers.gpkg`` are then written while
        the analysis runs (in a child process for big tables), not after it.

    Returns
    -------
    Results
        Call ``results.write(out_dir)`` to save the outputs.

    Examples
    --------
    >>> import geo
    >>> from geo.datasets import demo_files
    >>> res = geo.run(demo_files()["config"])  # doctest: +SKIP
    """
    cfg = _as_config(config)
    timings: dict[str, float] = {}
    warnings: list[str] = []
    if cfg.run.engine == "dask":
        res = _run_dask(cfg, timings, warnings)
        if out is not None:
            res.write(out)
        return res
    check_memory(cfg)
    with QuietGC() as quiet:
        return _run_memory(cfg, timings, warnings, quiet, out=out)


#: peak memory of the in-memory engine: a base plus so much per firm read (measured peaks,
#: the run and its layer writer together: 1.5 GB at 1M firms, 3.3 GB at 5M, i.e. ~1 GB plus
#: ~470 bytes per firm; docs/benchmarks.md, with a margin), and the least bytes per CSV row
#: assumed when the row count is estimated from the file size
_BYTES_PER_FIRM = 700
_BASE_BYTES = 2**30
_CSV_BYTES_PER_ROW_MIN = 8


def estimate_rows(path: Path) -> int | None:
    """Rows of a firm table, read from Parquet metadata or estimated from a CSV's size."""
    p = Path(path)
    if not p.is_file():
        return None
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(p).metadata.num_rows)
        except Exception:  # noqa: BLE001 - read_firms reports a bad file clearly
            return None
    if suffix in (".csv", ".tsv", ".txt", ".tab"):
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(1 << 20)
        lines = max(head.count(b"\n"), 1)
        per_row = max(len(head) / lines, _CSV_BYTES_PER_ROW_MIN)
        return int(size / per_row)
    return None


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_memory(cfg: Config) -> None:
    """Refuse an in-memory run that would not fit in this machine's memory.

    The need is estimated from the number of rows (Parquet metadata, or the size of a CSV)
    times the measured peak bytes per firm; the limit is ``[run] max_memory_gb`` or the
    memory available now.  The message names the dask engine.
    """
    tables = [cfg.firms.path] + [v.firms for v in cfg.valleys if v.firms is not None]
    for t in tables:
        text = str(t)
        if t is not None and (Path(text).is_dir() or any(ch in text for ch in "*?[")):
            msg = (f"[firms] path {text!r} is a folder or a pattern of many files: the in-memory engine reads one "
                   "file; the dask engine reads many (set engine = \"dask\" in [run], or `--engine dask`).")
            raise InputError(msg)
    rows = [estimate_rows(t) for t in tables if t is not None]
    n = sum(r for r in rows if r)
    if not n:
        return
    need = _BASE_BYTES + n * _BYTES_PER_FIRM
    limit = cfg.run.max_memory_gb * 2**30 if cfg.run.max_memory_gb > 0 else _available_memory()
    if limit is None or need <= limit:
        return
    msg = (
        f"About {n:,} firms: the in-memory engine would need about {need / 2**30:.1f} GB, more than the "
        f"{limit / 2**30:.1f} GB {'allowed by [run] max_memory_gb' if cfg.run.max_memory_gb > 0 else 'available'}. "
        "Use the dask engine: set engine = \"dask\" in [run] (and scheduler = \"tcp://host:8786\" for a cluster), "
        "or run `geo run CONFIG --engine dask --scheduler ADDRESS`."
    )
    raise InputError(msg)


def _read_parks_cfg(cfg: Config, warnings: list[str]):
    from geo.io import read_parks

    if cfg.parks.path is not None:
        pc = cfg.parks
        parks = read_parks(pc.path, name=pc.name, valley=pc.valley, designated=pc.designated, crs=pc.crs, layer=pc.layer)
        parks_report = dict(parks.attrs["load_report"])
        parks_report["repairs"] = parks.attrs["repairs"].to_dict(orient="records")
        parks_report["rejects"] = parks.attrs["rejects"].to_dict(orient="records")
        parks.attrs = {}
    else:
        import geopandas as gpd

        parks = gpd.GeoDataFrame({"name": [], "valley": [], "designated": pd.array([], dtype="Int64")}, geometry=[], crs="EPSG:4326")
        parks_report = {"file": None, "parks_kept": 0}
        warnings.append("no park file given: park stages skipped")
    return parks, parks_report


def _run_memory(cfg: Config, timings: dict, warnings: list[str], quiet: QuietGC | None = None,
                out: str | Path | None = None) -> Results:
    from geo import crs as gcrs
    from geo.io import read_firms

    t0 = time.perf_counter()
    fc = cfg.firms
    # the points stay two coordinate columns (a PointFrame): no shapely point per firm
    firms = read_firms(
        fc.path, lon=fc.lon, lat=fc.lat, crs=fc.crs, encoding=fc.encoding, sheet=fc.sheet, id=fc.id,
        drop_stacked=fc.drop_stacked, stacked_min=fc.stacked_min, geometry=False,
    )
    load_report = dict(firms.attrs["load_report"])
    rejects = firms.attrs["rejects"]
    firms.attrs = {}
    timings["read_firms"] = time.perf_counter() - t0
    if quiet is not None:
        quiet.freeze()

    t0 = time.perf_counter()
    parks, parks_report = _read_parks_cfg(cfg, warnings)
    timings["read_parks"] = time.perf_counter() - t0

    extra = [v for v in cfg.valleys if v.firms is not None]
    if extra:
        firms, rejects, load_report = _read_extra_tables(firms, rejects, load_report, extra, fc)
    labels, names = _assign_valleys(firms, cfg, warnings)
    outside = labels.isna().to_numpy()
    if outside.any():
        rejects = _add_outside(rejects, load_report, _outside_rejects(firms, outside))
    firms = firms.loc[~outside] if outside.any() else firms.copy(deep=False)  # copy-on-write either way
    firms["valley"] = labels[~outside].astype(str).to_numpy()
    rejects = rejects.sort_values("row", kind="stable").reset_index(drop=True)

    titles = {v.name: (v.title or v.name) for v in cfg.valleys}
    valleys: dict[str, ValleyResult] = {}
    for name in names:
        fv = _valley_rows(firms, name)
        pv = _parks_for_valley(parks, name, fv)
        vr = ValleyResult(name=name, title=titles.get(name, name), firms=fv, parks=pv)
        if len(fv):
            vr.metric_crs = gcrs.metric_crs_for(fv).to_string()
        else:
            warnings.append(f"valley {name!r} has no firms")
        valleys[name] = vr
    if out is None:
        return _analyse_all(cfg, firms, parks, rejects, load_report, parks_report, valleys, names, timings, warnings,
                            t0, quiet=quiet)
    # the big layers are final now: write them while the analysis runs
    from geo import io as gio

    Path(out).mkdir(parents=True, exist_ok=True)
    with gio.LayerJob(_first_layers(firms, parks, rejects), Path(out) / "layers.gpkg") as job:
        res = _analyse_all(cfg, firms, parks, rejects, load_report, parks_report, valleys, names, timings, warnings,
                           t0, quiet=quiet)
        res._write(out, job)
    return res


def _run_dask(cfg: Config, timings: dict, warnings: list[str]) -> Results:
    """The dask engine: ingest and counts on the cluster, statistics here (see geo.dask_engine)."""
    from geo import dask_engine as de
    from geo.points import PointFrame

    fc = cfg.firms
    extra = [v for v in cfg.valleys if v.firms is not None]
    if extra:
        msg = ("[[valleys]] with their own `firms` table are not available with the dask engine: add their firms to the "
               "main table (with the valley column), or use engine = \"pandas\".")
        raise InputError(msg)
    if cfg.analysis.cell == "h3":
        msg = "cell = \"h3\" is not available with the dask engine: use \"hex\" or \"square\", or engine = \"pandas\"."
        raise InputError(msg)
    t0 = time.perf_counter()
    # the partitions first: a bad path or encoding fails before a cluster starts
    specs = de.partition_specs(fc.path, rows=cfg.run.partition_rows, encoding=fc.encoding)
    client = de.connect(cfg.run.scheduler or None, n_workers=cfg.run.workers or None)
    local = not cfg.run.scheduler
    try:
        ing = de.ingest(client, fc.path, lon=fc.lon, lat=fc.lat, crs=fc.crs, encoding=fc.encoding, id=fc.id,
                        drop_stacked=fc.drop_stacked, stacked_min=fc.stacked_min, specs=specs)
        timings["read_firms"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        parks, parks_report = _read_parks_cfg(cfg, warnings)
        timings["read_parks"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        inputs, names, outside, unknown = de.reduce_valleys(ing, cfg, parks, seed=cfg.run.seed, sample_firms=cfg.run.sample_firms,
                                                            parks_for_valley=_parks_for_valley)
        timings["cluster_counts"] = time.perf_counter() - t0
        load_report = dict(ing.load_report)
        load_report["engine"] = {"name": "dask", "scheduler": cfg.run.scheduler or "local cluster",
                                 "workers": len(client.scheduler_info()["workers"]), "partitions": ing.n_partitions,
                                 "sample_firms": cfg.run.sample_firms}
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if local and cluster is not None:
            cluster.close()
    rejects = ing.rejects
    if unknown:
        warnings.append(f"firms of valleys not in the config were left out: {unknown}")
    if outside is not None and len(outside):
        rejects = _add_outside(rejects, load_report, outside)
    sort_cols = ["file", "row"] if "file" in rejects else ["row"]
    rejects = rejects.sort_values(sort_cols, kind="stable").reset_index(drop=True)
    titles = {v.name: (v.title or v.name) for v in cfg.valleys}
    valleys: dict[str, ValleyResult] = {}
    frames = []
    for name in names:
        vi = inputs.get(name)
        if vi is None:
            fv = PointFrame(pd.DataFrame({"lon": [], "lat": []}), crs="EPSG:4326", xy=("lon", "lat"))
            vr = ValleyResult(name=name, title=titles.get(name, name), firms=fv, parks=_parks_for_valley(parks, name, fv))
            warnings.append(f"valley {name!r} has no firms")
        else:
            vr = ValleyResult(name=name, title=titles.get(name, name), firms=vi.firms, parks=vi.parks, n_firms=vi.n_firms,
                              metric_crs=vi.metric_crs, prepared=vi)
            frames.append(vi.firms)
            if vi.sampled:
                warnings.append(
                    f"valley {name!r}: {vi.n_firms:,} firms; the cell statistics and park tests use all of them, the "
                    f"point-based stages (point clusters, development models, densities, Kd, Ripley, groups, comparison, "
                    f"map points) a seeded random sample of {len(vi.firms):,} (dask engine, [run] sample_firms)")
        valleys[name] = vr
    firms = pd.concat(frames) if frames else pd.DataFrame({"valley": [], "lon": [], "lat": []})
    firms = PointFrame(firms, crs="EPSG:4326", xy=("lon", "lat"))
    return _analyse_all(cfg, firms, parks, rejects, load_report, parks_report, valleys, names, timings, warnings,
                        time.perf_counter())


def _analyse_all(cfg, firms, parks, rejects, load_report, parks_report, valleys, names, timings, warnings, t0,
                 quiet: QuietGC | None = None) -> Results:
    if len(parks) and parks["valley"].notna().any():
        orphan = sorted(set(parks["valley"].dropna()) - set(names))
        if orphan:
            warnings.append(f"parks of valleys not in the run were left out: {orphan}")
    timings["assign"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    seeds = np.random.SeedSequence(cfg.run.seed).generate_state(max(len(valleys), 1))
    for (name, vr), s in zip(valleys.items(), seeds):
        vr.seed = int(s)
        _analyse_valley(vr, cfg, int(s), warnings, quiet)
    timings["analysis"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    groups = _groups(firms, parks, cfg, warnings)
    if groups is not None:
        timings["groups"] = time.perf_counter() - t0
    comparison = None
    if cfg.analysis.compare and len(firms) and cfg.firms.sector_column in firms.columns:
        from geo.compare import compare_valleys
        from geo.errors import GeoError

        t0 = time.perf_counter()
        try:
            comparison = compare_valleys(
                firms, parks, valley_column="valley", sector_column=cfg.firms.sector_column,
                subsector_column=cfg.firms.subsector_column, target_sector=cfg.analysis.target_sector,
                founded_column=cfg.firms.founded_column, simulations=cfg.analysis.kd_simulations, seed=cfg.run.seed,
                kd_target={n: vr.stages["kd"] for n, vr in valleys.items() if "kd" in vr.stages},
                metric_firms={n: vr.stages["metric_firms"] for n, vr in valleys.items() if "metric_firms" in vr.stages},
            )
        except GeoError as exc:
            warnings.append(f"valley comparison skipped: {exc}")
        timings["compare"] = time.perf_counter() - t0
    return Results(
        config=cfg, firms=firms, parks=parks, rejects=rejects, load_report=load_report,
        parks_report=parks_report, valleys=valleys, timings=timings, warnings=warnings, comparison=comparison,
        groups=groups,
    )
