"""The ``geo`` command: ``geo demo``, ``geo run CONFIG``, ``geo check CONFIG``.

Thin by design: it configures logging, calls the library, and turns a :class:`GeoError`
into a one-line message with exit code 2 (no traceback).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

__all__ = ["main", "cli"]

_out_option = click.option(
    "--out", "-o", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("geo-output"),
    show_default=True, help="Folder to write the outputs into.",
)
_verbose = click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
_quiet = click.option("-q", "--quiet", is_flag=True, help="Only errors.")


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    root = logging.getLogger()
    before = set(root.handlers)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for handler in set(root.handlers) - before:
        handler.setLevel(level)  # also for loggers that set their own level (dask's are at INFO)
        if verbose < 2:  # dask.distributed's start-up and shut-down chatter (dozens of lines) only with -vv
            handler.addFilter(_quiet_dask)


def _quiet_dask(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or not record.name.startswith(("distributed", "tornado", "bokeh"))


def _load_lines(lr: dict, pr: dict) -> list[str]:
    """What was read: rows kept and rejected by reason, fixes, flags, parks."""
    lines = [
        f"firms: {lr['rows_read']:,} rows read, {lr['rows_kept']:,} kept, {lr['rows_rejected']:,} rejected"
        + (f" ({', '.join(f'{k}: {v:,}' for k, v in lr['rejected_by_reason'].items())})" if lr["rejected_by_reason"] else ""),
    ]
    lines += _source_lines(lr)
    if lr.get("fixed_swapped"):
        lines.append(f"fixed: {lr['fixed_swapped']} rows with latitude/longitude swapped")
    if lr.get("stacked_rows"):
        radius = lr.get("stack_radius_m", 0) or 0
        where = f"within {radius:g} m of one point" if radius else "on one coordinate"
        big = ", ".join(f"{s['n']:,} at {s['lon']:.5f}, {s['lat']:.5f}" for s in (lr.get("stacks") or [])[:3])
        lines.append(f"stacked geocodes: {lr['stacked_rows']:,} firms in {lr['stacked_sites']:,} stack(s) of firms {where} "
                     f"({'dropped' if lr.get('rejected_by_reason', {}).get('stacked') else 'flagged'})"
                     + (f"; biggest: {big}" if big else ""))
    if lr.get("duplicates_kept"):
        lines.append(f"exact duplicate rows kept: {lr['duplicates_kept']:,} (flagged duplicate_unverifiable: no id or name column)"
                     if lr.get("duplicates") == "flag" else f"exact duplicate rows kept: {lr['duplicates_kept']:,}")
    if lr.get("founded"):
        lines.append(lr["founded"]["note"])
    if lr.get("converted"):
        lines.append("converted to WGS84: " + ", ".join(f"{v:,} from {k}" for k, v in lr["converted"].items()))
    if pr.get("file"):
        lines.append(f"parks{' (OpenStreetMap: named industrial areas and high-tech zones)' if pr.get('source') == 'osm' else ''}: "
                     f"{pr['parks_kept']} kept, {pr.get('features_rejected', 0)} rejected, {pr.get('geometries_repaired', 0)} repaired"
                     + (f"; designation year from column {pr['designated_column']!r}" if pr.get("designated_column") else
                        "; no designation year column"))
    from geo.io._describe import describe_inputs

    lines.append("input: " + "; ".join(f"{k}: {v}" for k, v in describe_inputs(lr, pr).items()))
    eng = lr.get("engine")
    if eng:
        lines.append(f"engine: dask, {eng['workers']} worker(s) at {eng['scheduler']}, {eng['partitions']} partition(s)")
    return lines


def _source_lines(lr: dict) -> list[str]:
    """Where OSM or Overture firms came from: the sector table and the firms per sector."""
    source = lr.get("source")
    if source not in ("osm", "overture"):
        return []
    by_sector = lr.get("features_by_sector") if source == "osm" else lr.get("places_mapped_by_sector")
    sectors = ", ".join(f"{k} ({v:,})" for k, v in list((by_sector or {}).items())[:8]) or "none"
    table = {"default": "the default table", "config": "the config's table"}.get(lr.get("sector_table"), lr.get("sector_table"))
    if source == "osm":
        head = f"firms from OpenStreetMap: sectors from {table}: {sectors}"
        skipped = lr.get("open_ways_skipped", 0)
        odd = lr.get("start_dates_not_read_count", 0)
        examples = ", ".join(list(lr.get("start_dates_not_read") or {})[:3])
        return [head + (f"; {skipped:,} open ways (lines) with firm tags are not firms" if skipped else "")
                + (f"; {odd:,} start_date values that are not dates ({examples}) left empty" if odd else "")]
    line = (f"firms from Overture Places (categories from {lr.get('category_column')!r}, min_confidence "
            f"{lr.get('min_confidence')}): sectors from {table}: {sectors}")
    return [line]


def _units_load_lines(lr: dict, pr: dict) -> list[str]:
    """What was read of given units (``[cells] path``): units kept and rejected by reason, nodata, multipart."""
    reasons = ", ".join(f"{k}: {v:,}" for k, v in lr["rejected_by_reason"].items())
    lines = [f"units ({lr['unit_kind']}): {lr['units_read']:,} read, {lr['units_loaded']:,} kept, "
             f"{lr['units_rejected']:,} rejected" + (f" ({reasons})" if reasons else "")]
    if lr.get("nodata_cells"):
        lines.append(f"nodata cells (not units): {lr['nodata_cells']:,}")
    if lr.get("multipart"):
        lines.append(f"multipart units (kept whole): {lr['multipart']:,} ({', '.join(map(str, lr['multipart_ids'][:10]))})")
    years = lr.get("year_columns") or {}
    source = (f"the {lr['count_column']} band of {Path(lr['file']).name}" if lr.get("format") == "geotiff"
              else f"column {lr['count_column']!r}")
    lines.append(f"counts: {source}" + (f"; years {min(years)}–{max(years)}" if years else "; no yearly counts")
                 + ("; integer" if lr.get("integer_counts") else "; not all integers"))
    if lr.get("converted_from"):
        lines.append(f"converted to WGS84 from {lr['converted_from']}")
    if pr.get("file"):
        lines.append(f"parks: {pr['parks_kept']} kept, {pr.get('features_rejected', 0)} rejected")
    return lines


def _units_summary_lines(res, written) -> list[str]:
    lines = ["input: " + "; ".join(f"{k}: {v}" for k, v in res.inputs.items()), res.input_sentence(),
             *_units_load_lines(res.load_report, res.parks_report)]
    for name, vu in res.valleys.items():
        a = vu.analysis
        n_hot = int(a.units["hot"].sum()) if a.units is not None and "hot" in a.units else 0
        lines.append(f"valley {name}: {len(vu.units):,} units, {len(vu.parks)} park(s), {len(a.islands)} island(s), "
                     f"{n_hot} hot-spot unit(s) of {a.variable_label}")
        if a.overlay is not None and len(a.overlay) and "verdict" in a.overlay:  # the answer, as the report opens
            lines.append(f"answer ({name}): " + "; ".join(f"{r.get('name')}: {r.get('verdict')}"
                                                         for _, r in a.overlay.iterrows()))
    lines += [f"warning: {w}" for w in res.warnings]
    if written:
        lines.append("wrote: " + ", ".join(str(p) for p in written.values()))
    return lines


def _summary_lines(res, written) -> list[str]:
    if getattr(res, "input_kind", "") == "given units":
        return _units_summary_lines(res, written)
    lines = _load_lines(res.load_report, res.parks_report)
    for name, vr in res.valleys.items():
        sample = f" ({len(vr.firms):,} sampled for the point-based stages)" if vr.sampled else ""
        lines.append(f"valley {name}: {vr.n_total:,} firms{sample}, {len(vr.parks)} park(s), metric CRS {vr.metric_crs}")
    facts = tuple(getattr(res.answer, "facts", ()) or ())
    if facts:  # the report's first sentence: the answer, on the console too
        lines.append(f"answer: {facts[0]}")
    for w in res.warnings:
        lines.append(f"warning: {w}")
    if written:
        lines.append("wrote: " + ", ".join(str(p) for p in written.values()))
    return lines


def _check_lines(chk) -> list[str]:
    if getattr(chk, "input_kind", "") == "given units":
        lines = ["input: " + "; ".join(f"{k}: {v}" for k, v in chk.inputs.items()),
                 *_units_load_lines(chk.load_report, chk.parks_report)]
        for f in chk.valleys:
            years = f"years {f['years'][0]}–{f['years'][-1]}" if f["years"] else "no yearly counts"
            lines.append(f"valley {f['name']}: {f['n_units']:,} units, {f['n_parks']} park(s), {years}")
        return lines + [f"warning: {w}" for w in chk.warnings]
    lines = _load_lines(chk.load_report, chk.parks_report)
    target = chk.config.analysis.target_sector
    if target is None:
        lines.append("no target sector ([analysis] target_sector): the hot spots and park tests use all firms")
    for f in chk.valleys:
        parts = [f"{f.n_firms:,} firms"]
        if f.n_target is not None:
            parts.append(f"{f.n_target:,} {target} firms ({f.n_target / f.n_firms:.0%})" if f.n_firms else f"0 {target} firms")
        parts.append(f"{f.n_parks} park(s)" + (f" ({f.parks_without_year} without a designation year)" if f.parks_without_year else ""))
        if f.n_for_founded:
            parts.append(f"founding year for {f.n_founded:,} of {f.n_for_founded:,}")
        lines.append(f"valley {f.name}: " + ", ".join(parts))
    for w in chk.warnings:
        lines.append(f"warning: {w}")
    return lines


def _with_engine(config, engine: str | None, scheduler: str | None):
    """The config with the command line's --engine / --scheduler applied."""
    if engine is None and scheduler is None:
        return config
    import dataclasses

    from geo.config import load_config

    cfg = load_config(config)
    run = cfg.run
    if engine is not None:
        run = dataclasses.replace(run, engine=engine)
    if scheduler is not None:
        if (engine or run.engine) != "dask":
            raise click.UsageError("--scheduler needs the dask engine: add --engine dask.")
        run = dataclasses.replace(run, scheduler=scheduler)
    return dataclasses.replace(cfg, run=run)


_engine_options = [
    click.option("--engine", type=click.Choice(["pandas", "dask"]), default=None,
                 help="Override [run] engine: pandas (in memory, up to a few million firms) or dask."),
    click.option("--scheduler", default=None, metavar="ADDRESS",
                 help="dask engine: address of a running dask.distributed scheduler (tcp://host:8786). "
                      "Without it a local cluster of worker processes is started."),
]


def _engine(f):
    for opt in reversed(_engine_options):
        f = opt(f)
    return f


def _with_basemap(config, basemap: str | None):
    """The config with the command line's --basemap applied (checked as [maps] basemap is)."""
    if basemap is None:
        return config
    import dataclasses

    from geo.config import Config, check_maps, load_config
    from geo.errors import ConfigError

    cfg = config if isinstance(config, Config) else load_config(config)
    maps = dataclasses.replace(cfg.maps, basemap=basemap)
    try:
        check_maps(maps)
    except ConfigError as exc:
        msg = str(exc).removeprefix("[maps] ")
        msg = msg if msg.startswith("basemap =") else msg.removeprefix("basemap: ").removeprefix("basemap ")
        raise click.BadParameter(msg, param_hint="--basemap") from None
    return dataclasses.replace(cfg, maps=maps, given=cfg.given | {("maps", "basemap")})


_basemap_option = click.option(
    "--basemap", default=None, metavar="NAME|URL",
    help='Override [maps] basemap: osm, amap (Gaode; layers shown shifted to GCJ-02), tianditu (needs '
         'TIANDITU_KEY or [maps] tianditu_key), none, or a tile URL template with {x}, {y}, {z}. '
         "Tiles need the internet; the maps fall back to the study areas' outlines offline.")


def _run_and_write(config, out: Path, quiet: bool) -> None:
    from geo._process import owned
    from geo.pipeline.runner import run

    with owned():  # geo run owns its process: gc freezes, the layer writer process, forked figure workers
        res = run(config, out=out)  # the big layers are written while the analysis runs
    written = res.written
    if not quiet:
        for line in _summary_lines(res, written):
            click.echo(line)
        click.echo(f"done: open {out / 'report.html'} (the answer) and {out / 'maps' / 'index.html'} (the maps) in a browser")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="geo-clusters", prog_name="geo")
def cli() -> None:
    """Do science & technology parks coincide with industrial clusters of firms?"""


@cli.command()
@_out_option
@_engine
@_basemap_option
@_verbose
@_quiet
def demo(out: Path, engine: str | None, scheduler: str | None, basemap: str | None, verbose: int, quiet: bool) -> None:
    """Run the whole analysis on the bundled (synthetic) demo data."""
    _setup_logging(verbose, quiet)
    from geo.datasets import demo_files

    _run_and_write(_with_basemap(_with_engine(demo_files()["config"], engine, scheduler), basemap), out, quiet)


@cli.command(name="run")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@_out_option
@_engine
@_basemap_option
@_verbose
@_quiet
def run_cmd(config: Path, out: Path, engine: str | None, scheduler: str | None, basemap: str | None, verbose: int,
            quiet: bool) -> None:
    """Run the analysis described by the TOML file CONFIG."""
    _setup_logging(verbose, quiet)
    _run_and_write(_with_basemap(_with_engine(config, engine, scheduler), basemap), out, quiet)


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@_engine
@click.option("--strict", is_flag=True, help="Exit with code 1 when there are warnings.")
@_verbose
def check(config: Path, engine: str | None, scheduler: str | None, strict: bool, verbose: int) -> None:
    """Check CONFIG and its data without computing any statistic.

    Reads the firm table and the parks, checks every column, valley and sector the config
    names against them, and prints what it found.  Exit code 2 on an error, 1 with
    --strict when there are warnings, 0 otherwise.
    """
    _setup_logging(verbose, False)
    from geo.pipeline.runner import check as check_study

    chk = check_study(_with_engine(config, engine, scheduler))
    for line in _check_lines(chk):
        click.echo(line)
    n = len(chk.warnings)
    click.echo(f"check: {'OK' if not n else f'OK with {n} warning(s)'}; no statistic was computed "
               f"(`geo run {config}` runs the analysis)")
    if strict and n:
        raise click.exceptions.Exit(1)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``geo`` console script."""
    from geo.errors import GeoError

    try:
        rc = cli.main(args=argv, prog_name="geo", standalone_mode=False)
    except GeoError as exc:
        click.echo(f"geo: error: {exc}", err=True)
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("geo: aborted", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:  # pragma: no cover
        return 130
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
