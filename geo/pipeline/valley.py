"""The statistics stages of one valley (``_analyse_valley``): grid and weights, global and local
autocorrelation, clusters, the park tests and verdicts, stacks, models, co-location, emerging
hot spots, densities and point patterns.  Used by the run (:mod:`geo.pipeline.runner`) and the
sensitivity reruns (:mod:`geo.pipeline.sensitivity`)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from geo._gc import QuietGC
from geo.config import Config
from geo.pipeline._area import valley_area
from geo.pipeline.results import AnalysisDraft, ValleyResult, record_of


__all__: list[str] = []  # private: the run (runner) and the sensitivity reruns call _analyse_valley


#: a given cell size whose occupied cells hold one firm each at least this often is too fine for Gi*
SINGLE_FIRM_SHARE = 0.95


def _fine_grid(name: str, grid, cells, size) -> list[str]:
    """The warning that a cell size given by the user leaves nearly every firm alone in its cell.

    Gi* then compares cells of 0 and 1 firm: it finds no hot spot where firms cluster at the
    scale of a few hundred metres, and "no park coincides with a cluster" would describe the
    grid, not the firms.  The automatic size gives about two firms per cell.
    """
    if isinstance(size, str) or grid.cell == "h3" or "n_firms" not in cells:
        return []
    k = cells["n_firms"].to_numpy()
    occupied = k[k > 0]
    if occupied.size < 10:
        return []
    single = float(np.mean(occupied == 1))
    if single < SINGLE_FIRM_SHARE:
        return []
    msg = (f"valley {name!r}: with [analysis] cell_size = {size:g} m, {single:.0%} of the {occupied.size:,} cells holding "
           "firms hold a single firm, so Gi* compares cells of 0 and 1 firm and misses clusters a few cells wide: the "
           "hot spots and park verdicts describe the grid more than the firms; cell_size = \"auto\" gives about two "
           "firms per cell")
    return [msg]


def _analyse_valley(vr: ValleyResult, cfg: Config, seed: int, warnings: list[str], quiet: QuietGC | None = None, *,
                    metric=None, cells_only: bool = False) -> None:
    """Every statistics stage of one valley; ``vr.analysis`` is a frozen :class:`ValleyAnalysis` after it.

    ``metric``: the valley's firms already in its metric CRS (the same firms as ``vr.firms``);
    ``cells_only``: only the cell and park stages (grid, local autocorrelation, clusters, the
    park tests and verdicts), as the sensitivity runs need.
    """
    vr.analysis = AnalysisDraft()
    try:
        _valley_stages(vr, cfg, seed, warnings, quiet, metric=metric, cells_only=cells_only)
    finally:
        vr.analysis = vr.analysis.freeze()


def _valley_stages(vr: ValleyResult, cfg: Config, seed: int, warnings: list[str], quiet: QuietGC | None = None, *,
                   metric=None, cells_only: bool = False) -> None:
    """Grid, weights, global and local autocorrelation, clusters and the park tests."""
    from geo import crs as gcrs
    from geo.errors import GeoError
    from geo.parks import clusters as gclusters
    from geo.parks import overlay as gparks
    from geo.parks._hot import hot_clusters, named_counts, valley_grid
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
    elif metric is not None:
        fm = metric
    else:
        fm = gcrs.to_metric(vr.firms, epsg=vr.metric_crs) if vr.metric_crs else gcrs.to_metric(vr.firms)
    area = valley_area(vr, cfg, fm)
    by = fc.sector_column if fc.sector_column in fm.columns else None
    vg = valley_grid(fm, cell=an.cell, size=an.cell_size, by=by, extent=area, kind=an.weights,
                     cells=prepared.cells if prepared is not None else None)
    cells, graph = vg.cells, vg.graph
    vr.analysis.metric_firms = fm
    vr.analysis.study_area = area
    vr.analysis.cells = cells
    vr.analysis.graph = graph
    vr.analysis.grid = vg.grid
    warnings.extend(_fine_grid(vr.name, vg.grid, cells, an.cell_size))
    if quiet is not None:
        quiet.freeze()  # the metric firms, the cells and their graph live as long as the results
    vr.analysis.timings = {"aggregate_weights": time.perf_counter() - t0}
    tcol = vg.grid.column(target)
    if target is not None and tcol is None:
        vr.skipped["target_sector"] = f"no firms of the target sector {target!r} in this valley"
    variables = {"all firms": "n_firms"}
    if tcol is not None:
        variables[f"{target} firms"] = tcol
    gm = {}
    t0 = time.perf_counter()
    for label, col in variables.items() if not cells_only else ():  # the verdicts do not use global Moran
        try:
            gm[label] = global_moran(cells[col], graph, permutations=an.permutations, seed=seed)
        except GeoError as exc:
            vr.skipped[f"global_moran[{label}]"] = str(exc)
    vr.analysis.global_moran = gm
    focus = tcol or "n_firms"
    sector_key = target if tcol is not None else None
    try:
        hc = hot_clusters(cells, focus, graph=graph, statistic="gi*" if cells_only else "both", alpha=an.alpha,
                          fdr=an.fdr, permutations=an.permutations, seed=seed, sector=sector_key)
    except GeoError as exc:
        vr.skipped["hotspots"] = str(exc)
        return
    hot, clusters = hc.hotspots, hc.clusters
    vr.analysis.hotspot_parameters = record_of(hot, "hotspot_parameters")
    vr.analysis.cluster_cells = cluster_cells = record_of(clusters, "cluster_cells")
    vr.analysis.clusters_definition = record_of(clusters, "clusters_definition")
    if focus != "n_firms" and not cells_only:
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
    hot_named = named_counts(hot, focus, sector_key)
    vr.analysis.clusters = clusters
    ov = None
    if target is not None and tcol is None:  # the parks cannot be tested against clusters of a sector it lacks
        vr.skipped["parks"] = (f"no firm of the target sector {target!r} in this valley: its parks are not tested "
                               "(the hot spots and clusters shown are those of all its firms)")
    elif len(vr.parks):
        ov = gparks.park_overlay(
            hot_named, vr.parks, fm, sector=sector_key, permutations=an.permutations, seed=seed, graph=graph,
            study_area=area.in_crs(hot_named.crs), clusters=clusters, sector_column=fc.sector_column,
            founded_column=fc.founded_column, alpha=an.alpha,
            counts=prepared.counts if prepared is not None else None,
        )
        # its records, lifted at once: pandas deep-copies attrs with every frame derived from ov
        # (the founding-year hot spots are one table of cells per park)
        for name in ("park_rules", "park_nulls", "hot_before"):
            setattr(vr.analysis, name, record_of(ov, name))
        ov.attrs = {}
    if not cells_only:  # the reruns keep verdicts and hot shares, which the stack notes do not change
        _stack_artefacts(vr, cfg, fm, hot, clusters, cluster_cells, ov, sector_key, warnings)
    if ov is not None:
        vr.analysis.parks_overlay = ov
        vr.analysis.clusters_outside_parks = gclusters.clusters_outside_parks(clusters, vr.parks)
        if cells_only:
            return
        _models(vr, cfg, ov, clusters, cluster_cells, fm, hot_named, sector_key, seed)
    else:
        vr.skipped.setdefault("parks", "no parks in this valley")
        vr.analysis.clusters_outside_parks = clusters
    if cells_only:
        return
    if an.point_clusters != "none" and sector_key is not None:
        pc = gclusters.point_clusters(fm, sector=sector_key, sector_column=fc.sector_column, method=an.point_clusters,
                                   eps=an.dbscan_eps_m, min_samples=an.dbscan_min_samples)
        vr.analysis.point_clusters = pc
        vr.analysis.point_cluster_method = record_of(pc, "point_cluster_method")
        if vr.analysis.parks_overlay is not None:
            vr.analysis.point_cluster_agreement = gclusters.point_cluster_agreement(vr.analysis.parks_overlay, pc, vr.parks)
    vr.analysis.timings["parks"] = time.perf_counter() - t0
    _colocation(vr, cfg, seed, fm, target)
    _emerging(vr, cfg, seed, fm, sector_key)
    _density(vr, cfg, fm, target)
    _point_patterns(vr, cfg, seed, fm, target, warnings)


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
        source = {"osm": "OpenStreetMap", "overture": "Overture Places"}.get(fc.source)
        vr.skipped["emerging_hotspots"] = (f"{source} data carry no founding dates" if source and founded not in fm.columns
                                           else f"no founding years ([firms] founded_column = {founded!r}) in this valley")
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
        vr.analysis.parks_overlay = ov.join(park_emerging(vr.parks.loc[ov.index], vr.analysis.cells, ehs))
    vr.analysis.timings["emerging_hotspots"] = time.perf_counter() - t0


def _stack_artefacts(vr: ValleyResult, cfg: Config, fm, hot, clusters, cluster_cells, ov, sector,
                     warnings: list[str]) -> None:
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
    notes = stacks.cluster_artefacts(clusters, shares, cluster_cells=cluster_cells)
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


def _models(vr: ValleyResult, cfg: Config, ov, clusters, cluster_cells, fm, hot, sector, seed: int) -> None:
    """Development model of each park–cluster pair (market-, government-, research-, FDI-led)."""
    from geo.errors import GeoError
    from geo.parks.models import classify_models

    mc = cfg.models
    try:
        models = classify_models(
            ov, clusters, fm, vr.parks, anchors=_read_anchors(cfg), anchor_column=mc.anchor_column, rd_column=mc.rd_column,
            ownership_column=mc.ownership_column, foreign_value=mc.foreign_value, radius_m=mc.radius_m,
            sector=sector, sector_column=cfg.firms.sector_column, hotspots=hot, cluster_cells=cluster_cells,
            alpha=cfg.analysis.alpha, permutations=cfg.analysis.permutations, seed=seed,
        )
    except GeoError as exc:
        vr.skipped["models"] = str(exc)
        return
    vr.analysis.models = models
    vr.analysis.model_rules = record_of(models, "model_rules")


def _read_anchors(cfg: Config):
    """The ``[models] anchors`` points layer, or None."""
    if cfg.models.anchors is None:
        return None
    from geo.io.firms import read_firms

    anchors = read_firms(cfg.models.anchors)
    anchors.attrs = {}
    return anchors


def _colocation(vr: ValleyResult, cfg: Config, seed: int, fm, target) -> None:
    """Co-location quotients of the target sector: the table and the local CLQ (:mod:`geo.pipeline._colocation`)."""
    from geo.pipeline._colocation import colocation_stage

    t0 = time.perf_counter()
    an = cfg.analysis
    vr.analysis.colocation, skipped = colocation_stage(
        fm, vr.parks, target=target, sector_column=cfg.firms.sector_column, anchors=_read_anchors(cfg),
        anchor_column=cfg.models.anchor_column, permutations=an.permutations, seed=seed, alpha=an.alpha)
    for what, why in skipped.items():
        vr.skipped[f"colocation[{what}]"] = why
    vr.analysis.timings["colocation"] = time.perf_counter() - t0


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


def _point_patterns(vr: ValleyResult, cfg: Config, seed: int, fm, target, warnings: list[str]) -> None:
    """Ripley K/L and Duranton–Overman Kd of the target sector (grid-free measures), within the
    run's fixed budgets (RUN_MAX_SECTOR, RUN_MAX_PAIRS); a subsample is a run warning."""
    from geo.errors import GeoError
    from geo.points import point_xy
    from geo.stats.pointpattern import RUN_MAX_PAIRS, RUN_MAX_SECTOR, kd, ripley_k

    an = cfg.analysis
    sc = cfg.firms.sector_column
    if target is None or sc not in fm.columns:
        vr.skipped["point_patterns"] = "no target sector configured"
        return
    mask = (fm[sc].astype(str) == str(target)).to_numpy()
    t0 = time.perf_counter()
    if an.kd_simulations > 0:
        try:
            vr.analysis.kd = kd(fm, sector=mask, simulations=an.kd_simulations, seed=seed,
                                max_sector=RUN_MAX_SECTOR)
        except GeoError as exc:
            vr.skipped["kd"] = str(exc)
        else:
            k = vr.analysis.kd
            if k.subsample is not None:
                warnings.append(f"valley {vr.name!r}: Kd analysed a random subsample of {k.subsample:,} of "
                                f"{k.n_sector:,} target firms (max_sector = {RUN_MAX_SECTOR:,}; estimated "
                                f"relative error of the curve {k.subsample_error:.2g})")
    else:
        vr.skipped["kd"] = "kd_simulations = 0"
    xy = np.column_stack(point_xy(fm))[mask]
    try:
        window = vr.analysis.study_area.in_crs(fm.crs)  # the valley's study area (geo.cells.area)
        r = np.linspace(0, min(5000.0, np.sqrt(window.area) / 4), 51)
        vr.analysis.ripley = ripley_k(xy, window=window, distances=r, correction="border",
                                       simulations=an.ripley_simulations, seed=seed, max_pairs=RUN_MAX_PAIRS)
    except GeoError as exc:
        vr.skipped["ripley_k"] = str(exc)
    else:
        at = vr.analysis.ripley_test = record_of(vr.analysis.ripley, "ripley_test")
        if at.get("subsample") is not None:
            warnings.append(f"valley {vr.name!r}: Ripley's K analysed a random subsample of {at['subsample']:,} of "
                            f"{at['n']:,} target firms (max_pairs = {RUN_MAX_PAIRS:,}; estimated relative error "
                            f"of L {at['subsample_error']:.2g})")
    vr.analysis.timings["point_patterns"] = time.perf_counter() - t0
