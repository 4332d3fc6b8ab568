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
from geo.pipeline._area import read_given_areas, refuse_given_areas, valley_area
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

__all__ = ["run", "check", "scale_sensitivity"]


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
    from geo.cells.graph import weights
    from geo.cells.grid import GridInfo, aggregate
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
        area = valley_area(vr, cfg, fm)
        cells = prepared.cells
    else:
        if metric is not None:
            fm = metric
        else:
            fm = gcrs.to_metric(vr.firms, epsg=vr.metric_crs) if vr.metric_crs else gcrs.to_metric(vr.firms)
        by = fc.sector_column if fc.sector_column in fm.columns else None
        area = valley_area(vr, cfg, fm)
        cells = aggregate(fm, cell=an.cell, size=an.cell_size, by=by, extent=area)
    vr.analysis.metric_firms = fm
    vr.analysis.study_area = area
    vr.analysis.cells = cells
    if quiet is not None:
        quiet.freeze()  # the metric firms and the cells live as long as the results
    graph = weights(cells, kind=an.weights)
    vr.analysis.graph = graph
    vr.analysis.timings = {"aggregate_weights": time.perf_counter() - t0}
    tcol = GridInfo.of(cells).column(target)
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
    try:
        hot = hotspots(cells, focus, graph=graph, statistic="gi*" if cells_only else "both", alpha=an.alpha, fdr=an.fdr,
                       permutations=an.permutations, seed=seed)
    except GeoError as exc:
        vr.skipped["hotspots"] = str(exc)
        return
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
            study_area=area.in_crs(hot_named.crs), clusters=clusters, sector_column=fc.sector_column,
            founded_column=fc.founded_column, alpha=an.alpha,
            counts=prepared.counts if prepared is not None else None,
        )
    _stack_artefacts(vr, cfg, fm, hot, clusters, ov, sector_key, warnings)
    if ov is not None:
        vr.analysis.parks_overlay = ov
        vr.analysis.clusters_outside_parks = gparks.clusters_outside_parks(clusters, vr.parks)
        if cells_only:
            return
        _models(vr, cfg, ov, clusters, fm, hot_named, sector_key, seed)
    else:
        vr.skipped.setdefault("parks", "no parks in this valley")
        vr.analysis.clusters_outside_parks = clusters
    if cells_only:
        return
    if an.point_clusters != "none" and sector_key is not None:
        pc = gparks.point_clusters(fm, sector=sector_key, sector_column=fc.sector_column, method=an.point_clusters,
                                   eps=an.dbscan_eps_m, min_samples=an.dbscan_min_samples)
        vr.analysis.point_clusters = pc
        if vr.analysis.parks_overlay is not None:
            vr.analysis.point_cluster_agreement = gparks.point_cluster_agreement(vr.analysis.parks_overlay, pc, vr.parks)
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


def _models(vr: ValleyResult, cfg: Config, ov, clusters, fm, hot, sector, seed: int) -> None:
    """Development model of each park–cluster pair (market-, government-, research-, FDI-led)."""
    from geo.errors import GeoError
    from geo.parks.models import classify_models

    mc = cfg.models
    try:
        vr.analysis.models = classify_models(
            ov, clusters, fm, vr.parks, anchors=_read_anchors(cfg), anchor_column=mc.anchor_column, rd_column=mc.rd_column,
            ownership_column=mc.ownership_column, foreign_value=mc.foreign_value, radius_m=mc.radius_m,
            sector=sector, sector_column=cfg.firms.sector_column, hotspots=hot, alpha=cfg.analysis.alpha,
            permutations=cfg.analysis.permutations, seed=seed,
        )
    except GeoError as exc:
        vr.skipped["models"] = str(exc)


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
    table, local, skipped = colocation_stage(
        fm, vr.parks, target=target, sector_column=cfg.firms.sector_column, anchors=_read_anchors(cfg),
        anchor_column=cfg.models.anchor_column, permutations=an.permutations, seed=seed, alpha=an.alpha)
    vr.analysis.colocation = table
    vr.analysis.colocation_local = local
    for what, why in skipped.items():
        vr.skipped[f"colocation[{what}]"] = why
    vr.analysis.timings["colocation"] = time.perf_counter() - t0


def _groups(firms, parks, cfg: Config, warnings: list[str], areas: dict | None = None) -> dict | None:
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
                                  groups=[gc.group_a, gc.group_b], study_areas=areas)
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
        at = vr.analysis.ripley.attrs
        if at.get("subsample") is not None:
            warnings.append(f"valley {vr.name!r}: Ripley's K analysed a random subsample of {at['subsample']:,} of "
                            f"{at['n']:,} target firms (max_pairs = {RUN_MAX_PAIRS:,}; estimated relative error "
                            f"of L {at['subsample_error']:.2g})")
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
    _font_warning(prep, warnings)
    return StudyCheck(config=prep.config, load_report=prep.load_report, parks_report=prep.parks_report,
                      parks_rejects=prep.parks_rejects, valleys=tuple(valley_facts(prep.config, prep.valleys)),
                      warnings=tuple(warnings))


def _font_warning(prep: Prepared, warnings: list[str]) -> None:
    """Chinese names to draw and no CJK font installed: a warning (the figures would show boxes)."""
    from geo.outputs._fonts import note_missing_cjk

    cfg = prep.config
    texts = [cfg.run.title, cfg.analysis.target_sector, *prep.valleys, *(vr.title for vr in prep.valleys.values())]
    if prep.parks is not None and "name" in prep.parks:
        texts.extend(prep.parks["name"].tolist())
    note = note_missing_cjk(texts, logged=False)  # the command line prints the run's warnings
    if note is not None:
        warnings.append(note)


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
    t0 = time.perf_counter()
    read_given_areas(cfg, valleys)  # polygon layers of the study areas, checked against the firms
    timings["study_areas"] = time.perf_counter() - t0
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
    refuse_given_areas(cfg)
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
        from geo.cells.grid import GridInfo

        tcols = {n: GridInfo.of(vi.cells).column(target) for n, vi in inputs.items()}
        target_counts = {n: int(inputs[n].cells[c].sum()) if c is not None else 0 for n, c in tcols.items()}
    else:
        target_counts = None
    check_values(cfg, firms, list(names), warnings, target_counts=target_counts,
                 sample=any(vi.sampled for vi in inputs.values()))
    return Prepared(cfg, firms, parks, rejects, load_report, parks_report, parks_rejects, valleys, tuple(names))


def _analyse_all(prep: Prepared, timings: dict, warnings: list[str], quiet: QuietGC | None = None) -> Results:
    """Every statistic of every valley, the groups and the comparison."""
    cfg, firms, parks, valleys = prep.config, prep.firms, prep.parks, prep.valleys
    _font_warning(prep, warnings)
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
    scales = _scale_sensitivity(valleys, cfg)
    if scales is not None:
        timings["scale_sensitivity"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    areas = {n: vr.analysis.study_area for n, vr in valleys.items() if vr.analysis.study_area is not None}
    groups = _groups(firms, parks, cfg, warnings, areas)
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
        groups=groups, parks_rejects=prep.parks_rejects, stack_sensitivity=sensitivity, scale_sensitivity=scales,
    )


def _rerun(vr: ValleyResult, cfg: Config, *, cell: str, size, firms=None) -> ValleyResult:
    """The cell and park stages of valley ``vr`` again, on ``cell`` cells of ``size`` (metres,
    or the H3 resolution) and, when given, other ``firms``; the same study area, CRS, parks and
    seed as the main run (the sensitivity analyses: only what they vary differs)."""
    same = dataclasses.replace(cfg, analysis=dataclasses.replace(cfg.analysis, cell=cell, cell_size=size))
    alt = ValleyResult(name=vr.name, title=vr.title, firms=vr.firms if firms is None else firms, parks=vr.parks,
                       metric_crs=vr.metric_crs, seed=vr.seed, extent=vr.analysis.study_area)
    _analyse_valley(alt, same, int(vr.seed), [], metric=vr.analysis.metric_firms if firms is None else None,
                    cells_only=True)
    return alt


def _scale_label(scale: float) -> str:
    return f"{scale:g}×"


def scale_sensitivity(results: Results, *, scales=(0.5, 1.0, 2.0), h3: bool = False) -> dict | None:
    """The park verdicts of a run at other cell sizes: each park's verdict at each scale.

    The cell and park stages of each valley of ``results`` run again at each factor of the
    valley's chosen cell size (1: the run itself, not run again), and on H3 cells at the
    resolution nearest its cell area with ``h3=True``, on the same firms, study area, CRS,
    parks and seed (``geo run`` does this with ``[analysis] scales`` and ``scale_h3``).

    Parameters
    ----------
    results : Results
        A run (:func:`run`).
    scales : sequence of float, default (0.5, 1, 2)
        Factors of each valley's cell size, between 0.1 and 10.
    h3 : bool, default False
        Also on H3 cells.

    Returns
    -------
    dict or None
        As ``Results.scale_sensitivity`` (``scales``, ``parks`` with ``verdicts``,
        ``park_hot_share`` and ``stability`` per park, ``scale_dependent``, ``grid``,
        ``skipped``); None when no other scale is asked.

    Examples
    --------
    >>> import geo
    >>> from geo.datasets import demo_files
    >>> res = geo.run(demo_files()["config"])  # doctest: +SKIP
    >>> geo.scale_sensitivity(res, scales=[0.5, 1, 3])["scale_dependent"]  # doctest: +SKIP
    []
    """
    from geo.errors import ConfigError

    bad = [s for s in scales if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0.1 <= s <= 10]
    if bad:
        msg = f"scales must be cell-size factors between 0.1 and 10 (scales=[0.5, 1, 2]); {bad!r} was given."
        raise ConfigError(msg)
    cfg = dataclasses.replace(results.config, analysis=dataclasses.replace(
        results.config.analysis, scales=tuple(sorted({float(s) for s in scales})), scale_h3=bool(h3)))
    return _scale_sensitivity(results.valleys, cfg)


def _scale_sensitivity(valleys: dict, cfg: Config) -> dict | None:
    """The cell and park stages again at other cell sizes; each park's verdict at each scale.

    ``[analysis] scales`` are factors of each valley's chosen cell size (1 is the main run,
    not run again); ``scale_h3`` adds H3 cells at the resolution nearest that size.  Each
    valley keeps its firms (projected once), parks, study area and seed.  A park's verdict is
    *stable* when it is the same at every scale, else *scale-dependent*.

    Returns ``{"scales": labels, "parks": [per park: valley, park, verdict and hot share per
    scale, stability], "scale_dependent": those parks, "grid": per valley and scale the cell
    size and count, "skipped": valley -> reason}``, or None when no scale but 1 is asked.
    """
    from geo.cells.grid import h3_resolution_for_area

    an = cfg.analysis
    runs = [(_scale_label(s), an.cell, s) for s in an.scales]
    if an.scale_h3 and an.cell != "h3":
        runs.append(("H3", "h3", 1.0))
    if not [r for r in runs if not (r[1] == an.cell and r[2] == 1.0)]:
        return None
    labels = [label for label, _, _ in runs]
    if _scale_label(1.0) not in labels:
        labels.insert(0, _scale_label(1.0))
        runs.insert(0, (_scale_label(1.0), an.cell, 1.0))
    records, grids, skipped = [], {}, {}
    for name, vr in valleys.items():
        ov = vr.analysis.parks_overlay
        if ov is None or not len(ov):
            continue
        if vr.prepared is not None:
            skipped[name] = "the dask engine counts the cells on the cluster at one size (engine = \"pandas\" runs the scales)"
            continue
        grid = vr.analysis.grid
        by_label = {}
        grids[name] = {}
        for label, cell, s in runs:
            if cell == an.cell and s == 1.0:
                alt_ov, alt_grid, n_cells = ov, grid, len(vr.analysis.cells)
            else:
                # the cell area scales with s²; H3 takes the resolution nearest that area
                size = h3_resolution_for_area(grid.cell_area_m2 * s * s) if cell == "h3" else grid.size_m * s
                alt = _rerun(vr, cfg, cell=cell, size=size)
                alt_ov, alt_grid = alt.analysis.parks_overlay, alt.analysis.grid
                n_cells = len(alt.analysis.cells) if alt.analysis.cells is not None else 0
                if alt_ov is None:
                    skipped[f"{name} at {label}"] = (alt.skipped.get("statistics") or alt.skipped.get("hotspots")
                                                     or alt.skipped.get("parks") or "the park stage did not run")
            by_label[label] = alt_ov
            grids[name][label] = {"cell": cell, "size": alt_grid.size if alt_grid is not None else None,
                                  "size_m": alt_grid.size_m if alt_grid is not None else None, "n_cells": int(n_cells)}
        for idx, row in ov.iterrows():
            verdicts, shares = {}, {}
            for label in labels:
                o = by_label.get(label)
                r = o.loc[idx] if o is not None and idx in o.index else None
                verdicts[label] = str(r["verdict"]) if r is not None else "not computed"
                shares[label] = float(r["park_hot_share"]) if r is not None and "park_hot_share" in r else None
            stable = len(set(verdicts.values())) == 1
            records.append({"valley": name, "park": str(row.get("name", idx)), "verdicts": verdicts,
                            "park_hot_share": shares, "stability": "stable" if stable else "scale-dependent"})
    return {"scales": labels, "parks": records, "scale_dependent": [r for r in records if r["stability"] != "stable"],
            "grid": grids, "skipped": skipped}


def _stack_sensitivity(valleys: dict, cfg: Config, warnings: list[str]) -> dict:
    """The cell and park stages again without the stacked firms; the verdicts side by side.

    Each valley keeps its seed, its cells (the same size, study area and CRS) and its parks;
    only the firms on stacked geocodes are left out (a valley without any is not run again).
    Returns ``{"dropped": firms left out, "parks": [one record per park], "changed": the
    records whose verdict changes, "grid": per valley the cell size and cell counts}``.
    """
    from geo.points import PointFrame

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
        grid = vr.analysis.grid
        fv = PointFrame(vr.firms.loc[keep], crs="EPSG:4326", xy=("lon", "lat"))
        alt = _rerun(vr, cfg, cell=cfg.analysis.cell, size=grid.size if cfg.analysis.cell == "h3" else grid.size_m,
                     firms=fv)
        alt_cells = alt.analysis.cells
        grids[name] = {"size_m": vr.analysis.grid.size_m, "n_cells": int(len(cells)),
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
