"""The whole run: ``run(config) -> Results`` chains the stages; ``Results.write`` saves them.

Each stage is a plain function of the previous stages' outputs.  A stage that needs data the
run does not have (no parks, no founding years ...) records why it was skipped instead of
failing the run.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd

from geo._gc import QuietGC
from geo.config import Config, config_from_dict, load_config
from geo.errors import CRSError, InputError
from geo.pipeline import checks
from geo.pipeline._memory import check_memory
from geo.pipeline._valleys import (
    ValleySelector,
    _parks_for_valley,
    _valley_rows,
    fill_valley,
)
from geo.pipeline.inputs import (
    Prepared,
    StudyCheck,
    check_parks,
    check_values,
    load_inputs,
    read_parks_config,
    registry_warnings,
    valley_facts,
)
from geo.pipeline.results import AnalysisDraft, Results, ValleyResult, _first_layers

__all__ = ["run", "check"]


def _sector_column(cells, value: str | None) -> str | None:
    if value is None:
        return None
    mapping = cells.attrs.get("by_columns", {})
    return mapping.get(value) or mapping.get(str(value))


def _analyse_valley(vr: ValleyResult, cfg: Config, seed: int, warnings: list[str], quiet: QuietGC | None = None) -> None:
    """Every statistics stage of one valley; ``vr.analysis`` is a frozen :class:`ValleyAnalysis` after it."""
    vr.analysis = AnalysisDraft()
    try:
        _valley_stages(vr, cfg, seed, warnings, quiet)
    finally:
        vr.analysis = vr.analysis.freeze()


def _valley_stages(vr: ValleyResult, cfg: Config, seed: int, warnings: list[str], quiet: QuietGC | None = None) -> None:
    """Grid, weights, global and local autocorrelation, clusters and the park tests."""
    from geo import crs as gcrs
    from geo.cells.graph import weights
    from geo.cells.grid import aggregate
    from geo.errors import GeoError
    from geo.parks import overlay as gparks
    from geo.stats.autocorr import global_moran, hotspots

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
        fm = gcrs.to_metric(vr.firms, epsg=vr.metric_crs) if vr.metric_crs else gcrs.to_metric(vr.firms)
        by = fc.sector_column if fc.sector_column in fm.columns else None
        cells = aggregate(fm, cell=an.cell, size=an.cell_size, by=by, extent=vr.extent)
    vr.analysis.metric_firms = fm
    vr.analysis.cells = cells
    if quiet is not None:
        quiet.freeze()  # the metric firms and the cells live as long as the results
    graph = weights(cells, kind=an.weights)
    vr.analysis.graph = graph
    vr.analysis.timings = {"aggregate_weights": time.perf_counter() - t0}
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
    vr.analysis.global_moran = gm
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
    vr.analysis.hotspots = hot
    vr.analysis.focus_column = focus
    vr.analysis.timings["autocorrelation"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    sector_key = target if tcol is not None else None
    hot_named = hot if tcol is None or tcol == f"n_{target}" else hot.assign(**{f"n_{target}": hot[tcol]})
    clusters = gparks.cluster_polygons(hot_named, sector=sector_key)
    vr.analysis.clusters = clusters
    ov = None
    if target is not None and tcol is None:  # the parks cannot be tested against clusters of a sector it lacks
        vr.skipped["parks"] = (f"no firm of the target sector {target!r} in this valley: its parks are not tested "
                               "(the hot spots and clusters shown are those of all its firms)")
    elif len(vr.parks):
        ov = gparks.park_overlay(
            hot_named, vr.parks, fm, sector=sector_key, permutations=an.permutations, seed=seed, graph=graph,
            clusters=clusters, sector_column=fc.sector_column, founded_column=fc.founded_column, alpha=an.alpha,
            counts=prepared.counts if prepared is not None else None,
        )
    _stack_artefacts(vr, cfg, fm, hot, clusters, ov, sector_key, warnings)
    if ov is not None:
        vr.analysis.parks_overlay = ov
        vr.analysis.clusters_outside_parks = gparks.clusters_outside_parks(clusters, vr.parks)
        _models(vr, cfg, ov, clusters, fm, hot_named, sector_key)
    else:
        vr.skipped.setdefault("parks", "no parks in this valley")
        vr.analysis.clusters_outside_parks = clusters
    if an.point_clusters != "none" and sector_key is not None:
        pc = gparks.point_clusters(fm, sector=sector_key, sector_column=fc.sector_column, method=an.point_clusters,
                                   eps=an.dbscan_eps_m, min_samples=an.dbscan_min_samples)
        vr.analysis.point_clusters = pc
        if vr.analysis.parks_overlay is not None:
            vr.analysis.point_cluster_agreement = gparks.point_cluster_agreement(vr.analysis.parks_overlay, pc, vr.parks)
    vr.analysis.timings["parks"] = time.perf_counter() - t0
    _emerging(vr, cfg, seed, fm, sector_key)
    _density(vr, cfg, fm, target)
    _point_patterns(vr, cfg, seed, fm, target)


def _emerging(vr: ValleyResult, cfg: Config, seed: int, fm, sector) -> None:
    """Emerging hot spots of the target sector (all firms without one): the space-time cube of the
    firms alive per cell and step, the space-time Gi* and the categories; per park, the categories
    under and around it and its first hot step (columns added to the overlay table)."""
    from geo.errors import GeoError
    from geo.parks.emerging import park_emerging
    from geo.stats.spacetime import emerging_hotspots, spacetime_cube

    an, fc = cfg.analysis, cfg.firms
    founded = fc.founded_column
    if founded not in fm.columns or not pd.to_numeric(fm[founded], errors="coerce").notna().any():
        vr.skipped["emerging_hotspots"] = f"no founding years ([firms] founded_column = {founded!r}) in this valley"
        return
    if vr.sampled:
        vr.skipped["emerging_hotspots"] = (f"the valley's firms are a sample of {len(vr.firms):,} of {vr.n_total:,} (dask "
                                           "engine): a space-time cube of a sample is not the valley's history")
        return
    closed = fc.closed_column if fc.closed_column and fc.closed_column in fm.columns else None
    t0 = time.perf_counter()
    try:
        cube = spacetime_cube(fm, vr.analysis.cells, time_column=founded, step=an.time_step, closed_column=closed,
                              by=(fc.sector_column, sector) if sector is not None else None)
        ehs = emerging_hotspots(cube, vr.analysis.graph, time_lag=an.time_lag, permutations=an.permutations, seed=seed,
                                alpha=an.alpha)
    except GeoError as exc:
        vr.skipped["emerging_hotspots"] = str(exc)
        return
    vr.analysis.spacetime_cube = cube
    vr.analysis.emerging = ehs
    ov = vr.analysis.parks_overlay
    if ov is not None and len(ov):
        joined = ov.join(park_emerging(vr.parks.loc[ov.index], vr.analysis.cells, ehs))
        joined.attrs = dict(ov.attrs)
        vr.analysis.parks_overlay = joined
    vr.analysis.timings["emerging_hotspots"] = time.perf_counter() - t0


def _stack_artefacts(vr: ValleyResult, cfg: Config, fm, hot, clusters, ov, sector, warnings: list[str]) -> None:
    """Flag the hot cells, clusters and park verdicts that rest on one stacked geocode (:mod:`geo.parks.stacks`)."""
    from geo.parks import stacks
    from geo.points import sector_mask

    if "stack" not in fm.columns or not (fm["stack"].to_numpy() >= 0).any():
        return
    if vr.sampled:
        vr.skipped["stack_artefacts"] = "the point sample of the dask engine cannot tell which hot cells rest on a stack"
        return
    counted = sector_mask(fm, sector, cfg.firms.sector_column) if sector is not None else None
    shares = stacks.stack_shares(hot, fm, counted)
    for c in ("stack_id", "stack_share", "artefact"):
        hot[c] = shares[c].to_numpy()
    vr.analysis.stack_shares = shares
    notes = stacks.cluster_artefacts(clusters, shares)
    clusters["artefact"] = notes.to_numpy()
    for cid, note in zip(clusters["cluster_id"], notes):
        if note:
            warnings.append(f"valley {vr.name!r}, cluster {cid}: {note}")
    if ov is None or not len(ov):
        return
    parks_m = vr.parks.to_crs(hot.crs)
    pnotes = stacks.park_artefacts(ov, parks_m, hot, shares, clusters, notes)
    ov["artefact"] = pnotes.to_numpy()
    flagged = pnotes != ""
    ov.loc[flagged, "verdict_reason"] = ov.loc[flagged, "verdict_reason"] + " Caution: " + pnotes[flagged] + "."
    for name, note in zip(ov.loc[flagged].get("name", ov.index[flagged]), pnotes[flagged]):
        warnings.append(f"valley {vr.name!r}, park {name!r}: {note}")


def _models(vr: ValleyResult, cfg: Config, ov, clusters, fm, hot, sector) -> None:
    """Development model of each park–cluster pair (market-, government-, research-, FDI-led)."""
    from geo.errors import GeoError
    from geo.parks.models import classify_models

    mc = cfg.models
    anchors = None
    if mc.anchors is not None:
        from geo.io.firms import read_firms

        anchors = read_firms(mc.anchors)
        anchors.attrs = {}
    try:
        vr.analysis.models = classify_models(
            ov, clusters, fm, vr.parks, anchors=anchors, anchor_column=mc.anchor_column, rd_column=mc.rd_column,
            ownership_column=mc.ownership_column, foreign_value=mc.foreign_value, radius_m=mc.radius_m,
            sector=sector, sector_column=cfg.firms.sector_column, hotspots=hot,
        )
    except GeoError as exc:
        vr.skipped["models"] = str(exc)


def _groups(firms, parks, cfg: Config, warnings: list[str]) -> dict | None:
    """High-tech vs traditional: the group × valley table, the difference test, the answer."""
    from geo.errors import GeoError
    from geo.io.groups import read_groups
    from geo.parks import groups as gs

    gc = cfg.groups
    if gc.path is None:
        return None
    if gc.code_column not in firms.columns:
        warnings.append(f"sector groups skipped: no `{gc.code_column}` column in the firm table")
        return None
    an = cfg.analysis
    try:
        table_groups = read_groups(gc.path)
        labels = gs.assign_groups(firms, table_groups, code_column=gc.code_column)
        gf = firms.assign(group=labels.to_numpy())
        table = gs.compare_groups(gf, parks if len(parks) else None, permutations=an.permutations, seed=cfg.run.seed,
                                  cell=an.cell, size=an.cell_size, alpha=an.alpha, kd_simulations=gc.kd_simulations,
                                  groups=[gc.group_a, gc.group_b])
        diff = gs.group_difference_test(gf, parks, group_a=gc.group_a, group_b=gc.group_b,
                                        permutations=an.permutations, seed=cfg.run.seed)
        answer = gs.groups_answer(table, diff, alpha=an.alpha)
    except GeoError as exc:
        warnings.append(f"sector groups skipped: {exc}")
        return None
    return {"table": table, "difference": diff, "answer": answer, "assignment": dict(labels.attrs),
            "group_a": gc.group_a, "group_b": gc.group_b}


def _density(vr: ValleyResult, cfg: Config, fm, target) -> None:
    """Kernel density of all firms and of the target sector (one grid), zonal stats per park."""
    from geo.errors import GeoError
    from geo.stats.density import kernel_density, kernel_density_by, zonal_stats

    t0 = time.perf_counter()
    sc = cfg.firms.sector_column
    try:
        if target is not None and sc in fm.columns:
            grids = kernel_density_by(fm, sc, groups=[target])
            vr.analysis.density_target = grids[target]
        vr.analysis.density = kernel_density(fm)
    except GeoError as exc:
        vr.skipped["density"] = str(exc)
        return
    if len(vr.parks):
        zs = zonal_stats(vr.analysis.density, vr.parks, id_column="name")
        if vr.analysis.density_target is not None:
            zt = zonal_stats(vr.analysis.density_target, vr.parks, id_column="name")
            zs = zs.join(zt.add_prefix("target_"))
        vr.analysis.zonal = zs
    vr.analysis.timings["density"] = time.perf_counter() - t0


def _point_patterns(vr: ValleyResult, cfg: Config, seed: int, fm, target) -> None:
    """Ripley K/L and Duranton–Overman Kd of the target sector (grid-free measures)."""
    from geo.errors import GeoError
    from geo.points import point_xy
    from geo.stats.pointpattern import kd, ripley_k

    an = cfg.analysis
    sc = cfg.firms.sector_column
    if target is None or sc not in fm.columns:
        vr.skipped["point_patterns"] = "no target sector configured"
        return
    mask = (fm[sc].astype(str) == str(target)).to_numpy()
    t0 = time.perf_counter()
    if an.kd_simulations > 0:
        try:
            vr.analysis.kd = kd(fm, sector=mask, simulations=an.kd_simulations, seed=seed)
        except GeoError as exc:
            vr.skipped["kd"] = str(exc)
    else:
        vr.skipped["kd"] = "kd_simulations = 0"
    from geo.cells.grid import _convex_hull

    all_xy = np.column_stack(point_xy(fm))
    xy = all_xy[mask]
    try:
        window = _convex_hull(all_xy[:, 0], all_xy[:, 1])  # = convex_hull(multipoints(all)), from boundary candidates
        r = np.linspace(0, min(5000.0, np.sqrt(window.area) / 4), 51)
        vr.analysis.ripley = ripley_k(xy, window=window, distances=r, correction="border",
                                       simulations=an.ripley_simulations, seed=seed)
    except GeoError as exc:
        vr.skipped["ripley_k"] = str(exc)
    vr.analysis.timings["point_patterns"] = time.perf_counter() - t0


def _as_config(config: Config | str | Path | dict) -> Config:
    if isinstance(config, Config):
        return config
    if isinstance(config, dict):
        return config_from_dict(config)
    return load_config(config)


def run(config: Config | str | Path | dict, *, out: str | Path | None = None) -> Results:
    """Run every stage of the analysis described by ``config``.

    Parameters
    ----------
    config : Config, path to a TOML file, or dict
        The run configuration (see :mod:`geo.config`).  ``[run] engine = "dask"`` reads,
        validates and counts the firms on a dask.distributed cluster (``scheduler``); see
        :mod:`geo.pipeline.dask_engine`.
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
        res = _analyse_all(_prepare_dask(cfg, timings, warnings), timings, warnings)
        if out is not None:
            res.write(out)
        return res
    check_memory(cfg)
    with QuietGC() as quiet:
        prep = _prepare_memory(cfg, timings, warnings, quiet)
        if out is None:
            return _analyse_all(prep, timings, warnings, quiet=quiet)
        # the big layers are final now: write them while the analysis runs
        from geo.outputs import layers as glayers

        Path(out).mkdir(parents=True, exist_ok=True)
        with glayers.LayerJob(_first_layers(prep.firms, prep.parks, prep.rejects), Path(out) / "layers.gpkg") as job:
            res = _analyse_all(prep, timings, warnings, quiet=quiet)
            res._write(out, job)
        return res


def check(config: Config | str | Path | dict) -> StudyCheck:
    """Read and check every input of ``config`` without computing any statistic (``geo check``).

    Stops with :class:`geo.errors.InputError` (one sentence naming the problem and what the
    data hold) on every slip :func:`run` would stop on: a column, valley or target sector
    that is not in the data, a table of which most rows are rejected, parks that are not
    polygons or belong to no valley of the run.

    Returns
    -------
    StudyCheck
        The load reports, the warnings the run would give, and per valley the firms,
        target-sector firms, parks and founding-year coverage (:class:`ValleyFacts`).
    """
    cfg = _as_config(config)
    timings: dict[str, float] = {}
    warnings: list[str] = []
    if cfg.run.engine == "dask":
        prep = _prepare_dask(cfg, timings, warnings)
    else:
        check_memory(cfg)
        prep = _prepare_memory(cfg, timings, warnings)
    return StudyCheck(config=prep.config, load_report=prep.load_report, parks_report=prep.parks_report,
                      parks_rejects=prep.parks_rejects, valleys=tuple(valley_facts(prep.config, prep.valleys)),
                      warnings=tuple(warnings))


def _prepare_memory(cfg: Config, timings: dict, warnings: list[str], quiet: QuietGC | None = None) -> Prepared:
    """The in-memory engine's inputs (:func:`geo.pipeline.inputs.load_inputs`), one :class:`ValleyResult` per valley."""
    from geo import crs as gcrs

    inputs = load_inputs(cfg, warnings=warnings, quiet=quiet)
    timings.update(inputs.timings)
    cfg, firms, parks = inputs.config, inputs.firms, inputs.parks
    titles = {v.name: (v.title or v.name) for v in cfg.valleys}
    valleys: dict[str, ValleyResult] = {}
    for name in inputs.names:
        fv = _valley_rows(firms, name)
        pv = _parks_for_valley(parks, name, fv)
        vr = ValleyResult(name=name, title=titles.get(name, name), firms=fv, parks=pv)
        if len(fv):
            try:
                vr.metric_crs = gcrs.metric_crs_for(fv).to_string()
            except CRSError:  # one valley spread over far-apart places: say it as a study, not as an API call
                lon = fv["lon"].to_numpy()
                msg = (f"The firms of valley {name!r} span {lon.min():.2f}–{lon.max():.2f}°E, several UTM zones apart: "
                       "distances would be distorted. A valley is one city or zone: set [firms] valley_column to the column "
                       "that tells the cities apart, or give each [[valleys]] a bbox.")
                raise InputError(msg) from None
        valleys[name] = vr
    return Prepared(cfg, firms, parks, inputs.rejects, inputs.load_report, inputs.parks_report, inputs.parks_rejects,
                    valleys, inputs.names)


def _prepare_dask(cfg: Config, timings: dict, warnings: list[str]) -> Prepared:
    """The dask engine's inputs: ingest and counts on the cluster (see geo.pipeline.dask_engine)."""
    from geo.pipeline import dask_engine as de
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
    from geo.io._text import table_columns

    columns = table_columns(specs[0].path, encoding=fc.encoding)
    cfg = checks.resolve_columns(cfg, columns, table=fc.path)
    fc = cfg.firms
    fill = fill_valley(cfg, columns)
    client = de.connect(cfg.run.scheduler or None, n_workers=cfg.run.workers or None)
    local = not cfg.run.scheduler
    try:
        ing = de.ingest(client, fc.path, lon=fc.lon, lat=fc.lat, crs=fc.crs, encoding=fc.encoding, id=fc.id,
                        drop_stacked=fc.drop_stacked is True, stacked_min=fc.stacked_min, specs=specs,
                        name=fc.name_column if cfg.is_given("firms", "name_column") else None, duplicates=fc.duplicates,
                        founded=fc.founded_column, select=ValleySelector(cfg, fill=fill, strays=False))
        if fc.stack_radius_m > 0 and cfg.is_given("firms", "stack_radius_m"):
            warnings.append(f"the dask engine finds stacked geocodes on exactly equal coordinates only ([firms] "
                            f"stack_radius_m = {fc.stack_radius_m} applies to the in-memory engine)")
        checks.check_crs(ing.load_report, table=fc.path)
        checks.check_rejections(ing.load_report, ing.rejects, limit=fc.max_rejected_share, table=fc.path)
        warnings.extend(registry_warnings(ing.load_report, fc.path))
        timings["read_firms"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        parks, parks_report, parks_rejects = read_parks_config(cfg, warnings)
        timings["read_parks"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        inputs, names, sector_counts = de.reduce_valleys(
            ing, cfg, parks, seed=cfg.run.seed, sample_firms=cfg.run.sample_firms, parks_for_valley=_parks_for_valley,
            fill=fill)
        checks.check_valleys(cfg, {n: vi.n_firms for n, vi in inputs.items()}, ing.valley_counts, table=fc.path,
                             rejects=ing.rejects)
        if cfg.analysis.target_sector is not None:
            checks.check_target(cfg, sector_counts, table=fc.path)
        check_parks(cfg, parks, names, {n: len(vi.parks) if vi.parks is not None else 0 for n, vi in inputs.items()},
                    warnings, {n: tuple(vi.firms.total_bounds) for n, vi in inputs.items() if len(vi.firms)})
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
    if ing.unknown:
        warnings.append(f"firms of valleys not in the config were left out: {ing.unknown}")
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
    target = cfg.analysis.target_sector
    if target is not None:
        tcols = {n: vi.cells.attrs.get("by_columns", {}).get(str(target)) for n, vi in inputs.items()}
        target_counts = {n: int(inputs[n].cells[c].sum()) if c is not None else 0 for n, c in tcols.items()}
    else:
        target_counts = None
    check_values(cfg, firms, list(names), warnings, target_counts=target_counts,
                 sample=any(vi.sampled for vi in inputs.values()))
    return Prepared(cfg, firms, parks, rejects, load_report, parks_report, parks_rejects, valleys, tuple(names))


def _analyse_all(prep: Prepared, timings: dict, warnings: list[str], quiet: QuietGC | None = None) -> Results:
    """Every statistic of every valley, the groups and the comparison."""
    cfg, firms, parks, valleys = prep.config, prep.firms, prep.parks, prep.valleys
    for name, vr in valleys.items():
        if not len(vr.firms):
            warnings.append(f"valley {name!r} has no firms")
    t0 = time.perf_counter()
    seeds = np.random.SeedSequence(cfg.run.seed).generate_state(max(len(valleys), 1))
    for (name, vr), s in zip(valleys.items(), seeds):
        vr.seed = int(s)
        _analyse_valley(vr, cfg, int(s), warnings, quiet)
    timings["analysis"] = time.perf_counter() - t0
    sensitivity = None
    if cfg.firms.drop_stacked == "sensitivity":
        t0 = time.perf_counter()
        sensitivity = _stack_sensitivity(valleys, cfg, warnings)
        timings["stack_sensitivity"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    groups = _groups(firms, parks, cfg, warnings)
    if groups is not None:
        timings["groups"] = time.perf_counter() - t0
    comparison = None
    if cfg.analysis.compare and len(firms) and cfg.firms.sector_column in firms.columns:
        from geo.errors import GeoError
        from geo.parks.compare import compare_valleys

        t0 = time.perf_counter()
        try:
            comparison = compare_valleys(
                firms, parks, valley_column="valley", sector_column=cfg.firms.sector_column,
                subsector_column=cfg.firms.subsector_column, target_sector=cfg.analysis.target_sector,
                founded_column=cfg.firms.founded_column, simulations=cfg.analysis.kd_simulations, seed=cfg.run.seed,
                kd_target={n: vr.analysis.kd for n, vr in valleys.items() if vr.analysis.kd is not None},
                metric_firms={n: vr.analysis.metric_firms for n, vr in valleys.items() if vr.analysis.metric_firms is not None},
            )
        except GeoError as exc:
            warnings.append(f"valley comparison skipped: {exc}")
        timings["compare"] = time.perf_counter() - t0
    return Results(
        config=cfg, firms=firms, parks=parks, rejects=prep.rejects, load_report=prep.load_report,
        parks_report=prep.parks_report, valleys=valleys, timings=timings, warnings=warnings, comparison=comparison,
        groups=groups, parks_rejects=prep.parks_rejects, stack_sensitivity=sensitivity,
    )


def _stack_sensitivity(valleys: dict, cfg: Config, warnings: list[str]) -> dict:
    """The cell and park stages again without the stacked firms; the verdicts side by side.

    Each valley keeps its seed, its cells (the same size, study area and CRS) and its parks;
    only the firms on stacked geocodes are left out (a valley without any is not run again).
    Returns ``{"dropped": firms left out, "parks": [one record per park], "changed": the
    records whose verdict changes, "grid": per valley the cell size and cell counts}``.
    """
    import geopandas as gpd

    from geo.cells.grid import _convex_hull
    from geo.points import PointFrame, point_xy

    records, dropped, grids = [], 0, {}
    for name, vr in valleys.items():
        ov = vr.analysis.parks_overlay
        if "stacked" not in vr.firms.columns or ov is None or not len(ov) or vr.sampled:
            continue
        keep = ~vr.firms["stacked"].to_numpy(dtype=bool)
        if keep.all():
            continue  # no stacked firm in this valley: nothing to compare
        dropped += int((~keep).sum())
        # the same grid (cell size, study area, CRS) and seed: only the stacked firms differ
        cells = vr.analysis.cells
        x, y = point_xy(vr.analysis.metric_firms)
        area = gpd.GeoSeries([_convex_hull(np.asarray(x), np.asarray(y))], crs=cells.crs)
        same = dataclasses.replace(cfg, analysis=dataclasses.replace(
            cfg.analysis, point_clusters="none", kd_simulations=0, ripley_simulations=0,
            cell_size=cells.attrs.get("size") if cfg.analysis.cell == "h3" else cells.attrs["size_m"]))
        fv = PointFrame(vr.firms.loc[keep], crs="EPSG:4326", xy=("lon", "lat"))
        alt = ValleyResult(name=name, title=vr.title, firms=fv, parks=vr.parks, metric_crs=vr.metric_crs, seed=vr.seed,
                           extent=area)
        notes: list[str] = []
        _analyse_valley(alt, same, int(vr.seed), notes)
        alt_cells = alt.analysis.cells
        grids[name] = {"size_m": cells.attrs.get("size_m"), "n_cells": int(len(cells)),
                       "n_cells_without_stacked": int(len(alt_cells)) if alt_cells is not None else None}
        alt_ov = alt.analysis.parks_overlay
        for idx, row in ov.iterrows():
            other = alt_ov.loc[idx] if alt_ov is not None and idx in alt_ov.index else None
            after = str(other["verdict"]) if other is not None else (alt.skipped.get("statistics") or "not computed")
            records.append({"valley": name, "park": str(row.get("name", idx)), "verdict": str(row["verdict"]),
                            "verdict_without_stacked": after, "changed": after != str(row["verdict"]),
                            "park_hot_share": row.get("park_hot_share"),
                            "park_hot_share_without_stacked": other.get("park_hot_share") if other is not None else None})
    changed = [r for r in records if r["changed"]]
    for r in changed:
        warnings.append(f"valley {r['valley']!r}, park {r['park']!r}: the verdict changes without the stacked geocodes "
                        f"({r['verdict']!r} -> {r['verdict_without_stacked']!r})")
    return {"dropped": dropped, "parks": records, "changed": changed, "grid": grids}
