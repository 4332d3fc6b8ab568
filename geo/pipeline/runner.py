"""The whole run: ``run(config) -> Results`` chains the stages; ``Results.write`` saves them.

Each stage is a plain function of the previous stages' outputs.  A stage that needs data the
run does not have (no parks, no founding years ...) records why it was skipped instead of
failing the run.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from geo._gc import QuietGC
from geo.config import Config, check_engine, config_from_dict, load_config
from geo.errors import CRSError, InputError
from geo.pipeline import checks
from geo.pipeline._area import read_given_areas, refuse_given_areas
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
from geo.pipeline.results import Results, ValleyResult, check_out_folder

from geo.pipeline.sensitivity import _scale_sensitivity, _stack_sensitivity, scale_sensitivity
from geo.pipeline.valley import _analyse_valley

__all__ = ["run", "check", "scale_sensitivity"]


def _groups(firms, parks, cfg: Config, warnings: list[str], areas: dict | None = None):
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
                                  groups=[gc.group_a, gc.group_b], study_areas=areas, weights=an.weights)
        diff = gs.group_difference_test(gf, parks, group_a=gc.group_a, group_b=gc.group_b,
                                        permutations=an.permutations, seed=cfg.run.seed)
        answer = gs.groups_answer(table, diff, alpha=an.alpha)
    except GeoError as exc:
        warnings.append(f"sector groups skipped: {exc}")
        return None
    return gs.GroupComparison(table=table, difference=diff, answer=answer, assignment=dict(labels.attrs),
                              group_a=gc.group_a, group_b=gc.group_b)


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
        the analysis runs (by a child process for big tables under ``geo run``), not after it.

    Returns
    -------
    Results
        Call ``results.write(out_dir)`` to save the outputs.  With ``[cells] path`` (counts on
        given units instead of firm points) a :class:`geo.pipeline.units.UnitsResults`.

    Examples
    --------
    >>> import geo
    >>> from geo.datasets import demo_files
    >>> res = geo.run(demo_files()["config"])  # doctest: +SKIP
    """
    cfg = _as_config(config)
    if out is not None:
        check_out_folder(cfg, out)
    if cfg.input_kind == "given units":  # counts on given units (districts, a count GeoTIFF): geo.pipeline.units
        from geo.pipeline.units import run_units

        return run_units(cfg, out=out)
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
        with glayers.LayerJob(glayers.first_layers(prep.firms, prep.parks, prep.rejects), Path(out) / "layers.gpkg") as job:
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
        (a :class:`geo.pipeline.units.UnitsCheck` with ``[cells] path``) The load reports, the warnings the run would give, and per valley the firms,
        target-sector firms, parks and founding-year coverage (:class:`ValleyFacts`).
    """
    cfg = _as_config(config)
    if cfg.input_kind == "given units":
        from geo.pipeline.units import check_units

        return check_units(cfg)
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
    return Prepared.of(inputs, valleys)


def _prepare_dask(cfg: Config, timings: dict, warnings: list[str]) -> Prepared:
    """The dask engine's inputs: ingest and counts on the cluster (see geo.pipeline.dask_engine)."""
    from geo.pipeline import dask_engine as de
    from geo.points import PointFrame

    fc = cfg.firms
    check_engine(fc, cfg.run)  # --engine dask on the command line skips the config's own check
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
        warnings.extend(checks.crs_assumption(cfg, ing.load_report))
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
    return Prepared(config=cfg, firms=firms, parks=parks, rejects=rejects, load_report=load_report,
                    parks_report=parks_report, parks_rejects=parks_rejects, names=tuple(names), valleys=valleys)


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
