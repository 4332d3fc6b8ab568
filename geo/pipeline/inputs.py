"""Reading a study's inputs and checking them against its configuration (in memory).

:func:`load_inputs` is the first stage of :func:`geo.run` and all of :func:`check` (what
``geo check`` runs): it reads the firm table(s) and the parks, assigns each firm its valley,
and stops with a clear message on every slip :mod:`geo.pipeline.checks` knows.  It computes
no statistic.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo._words import counted, listing, suggest
from geo.cells.grid import GridInfo
from geo.config import Config
from geo.errors import ConfigError, InputError
from geo.parks.overlay import MIN_DATED_SHARE
from geo.pipeline import checks
from geo.pipeline._valleys import (
    ValleySelector,
    _parks_for_valley,
    _valley_rows,
    fill_valley,
)

__all__ = ["StudyInputs", "StudyCheck", "Prepared", "ValleyFacts", "load_inputs", "read_parks_config", "check_parks", "registry_warnings", "check_values",
           "valley_facts"]


@dataclass(frozen=True)
class ValleyFacts:
    """What the data hold for one valley (what ``geo check`` prints)."""

    name: str
    n_firms: int
    n_target: int | None  # firms of the target sector (None: no target sector)
    n_parks: int
    n_founded: int  # target firms (all firms without a target) with a founding year
    n_for_founded: int  # the firms counted by n_founded's denominator
    parks_without_year: int


@dataclass(frozen=True)
class StudyInputs:
    """The validated inputs of a run: the firms of its valleys, the parks, what was rejected."""

    config: Config  # with every column matched as the table spells it
    firms: Any  # geo.points.PointFrame (lon/lat, EPSG:4326) with a ``valley`` column
    parks: Any  # GeoDataFrame, EPSG:4326
    rejects: pd.DataFrame
    load_report: dict
    parks_report: dict
    parks_rejects: pd.DataFrame
    names: tuple[str, ...]  # the run's valleys, in order
    warnings: tuple[str, ...] = ()
    timings: dict = field(default_factory=dict)


def read_parks_config(cfg: Config, warnings: list[str]):
    """The parks of ``[parks]`` (or an empty layer), their load report and their rejects."""
    import geopandas as gpd

    from geo.io.parks import read_parks

    empty_rejects = pd.DataFrame({"row": [], "name": [], "reason": [], "detail": []})
    if cfg.parks.path is None:
        parks = gpd.GeoDataFrame({"name": [], "valley": [], "designated": pd.array([], dtype="Int64")}, geometry=[],
                                 crs="EPSG:4326")
        warnings.append("no park file given: park stages skipped")
        return parks, {"file": None, "parks_kept": 0}, empty_rejects
    pc = cfg.parks
    parks = read_parks(pc.path, name=pc.name, valley=pc.valley, designated=pc.designated, crs=pc.crs, layer=pc.layer,
                       source=pc.source, attributes=pc.attributes, area_column=pc.area_column, area_unit=pc.area_unit)
    report = dict(parks.attrs["load_report"])
    rejects = parks.attrs["rejects"]
    report["repairs"] = parks.attrs["repairs"].to_dict(orient="records")
    report["rejects"] = rejects.to_dict(orient="records")
    parks.attrs = {}
    name = Path(str(pc.path)).name
    for r in report["rejects"]:  # a catalogue's details say which file's row or feature
        warnings.append(f"park rejected ({r['name']!r}): {r['detail']}" if pc.source == "catalogue" else
                        f"park rejected: row {r['row']} of {name} ({r['name']!r}): {r['detail']}")
    for note in report.get("notes", []):
        warnings.append(note)
    return parks, report, rejects


def _read_table(path, cfg: Config, *, select=None):
    from geo.io.firms import read_firms

    fc = cfg.firms
    firms = read_firms(path, lon=fc.lon, lat=fc.lat, crs=fc.crs, encoding=fc.encoding, sheet=fc.sheet, id=fc.id,
                       drop_stacked=fc.drop_stacked is True, stacked_min=fc.stacked_min, geometry=False, select=select,
                       name=fc.name_column if cfg.is_given("firms", "name_column") else None, duplicates=fc.duplicates,
                       founded=fc.founded_column, stack_radius_m=fc.stack_radius_m, source=fc.source,
                       sectors=fc.osm_sectors if fc.source == "osm" else fc.overture_sectors, min_confidence=fc.min_confidence)
    report, rejects = dict(firms.attrs["load_report"]), firms.attrs["rejects"]
    firms.attrs = {}
    checks.check_crs(report, table=path)
    checks.check_rejections(report, rejects, limit=fc.max_rejected_share, table=path)
    return firms, report, rejects


def registry_warnings(report: dict, table: Any) -> list[str]:
    """What a registry's load report asks the analyst to know: duplicates kept, dates not understood."""
    out = []
    n = max(int(report.get("rows_read", 0)), 1)
    kept = int(report.get("duplicates_kept", 0))
    if kept and report.get("duplicates") == "flag":
        out.append(f"{kept:,} of the {n:,} rows of {Path(str(table)).name} ({kept / n:.1%}) are exact copies of another row; "
                   "without an id or a name column they are kept as different firms at one address and flagged "
                   "duplicate_unverifiable ([firms] duplicates = \"drop\" rejects them)")
    if report.get("stacked_rows") and not report.get("rejected_by_reason", {}).get("stacked"):
        top = (report.get("stacks") or [{}])[0]
        where = f"; the biggest: {top['n']:,} firms at {top['lon']:.5f}, {top['lat']:.5f}" if top else ""
        out.append(f"{report['stacked_rows']:,} firms of {Path(str(table)).name} sit in {report.get('stacked_sites', 0):,} "
                   f"stacked geocodes, many firms on one point (a geocoder's fallback?){where}; they are kept and flagged "
                   "(drop_stacked = \"sensitivity\" shows whether the verdicts depend on them)")
    strays = int(report.get("rejected_by_reason", {}).get("far_from_valley", 0))
    if strays:
        out.append(f"{strays:,} firm(s) of {Path(str(table)).name} lie far from the other firms of their valley (geocoded to "
                   "another city?) and were rejected (far_from_valley, with their distance in rejects.csv): left in, they "
                   "would stretch the study area and the cells over the country")
    founded = report.get("founded") or {}
    if founded.get("unparseable"):
        out.append(f"{founded['unparseable']:,} founding dates of {Path(str(table)).name} were not understood and their rows "
                   f"rejected (bad_date, see rejects.csv): {founded.get('note', '')}")
    if founded.get("ambiguous"):
        why = "dates of both orders occur" if founded.get("dm_order") == "conflict" else "no date has a day above 12"
        out.append(f"the day/month order of {founded['ambiguous']:,} founding dates of {Path(str(table)).name} could not be "
                   f"decided ({why}); their years are used, not their days")
    return out


def repeated_ids(firms, report: dict, table: Any, *, name: str | None = None) -> list[str]:
    """The warning that one firm id occurs on several kept rows (a registry's firm renamed, or exported twice).

    Exact copies are rejected as ``duplicate`` while reading; rows that share the id given as
    ``[firms] id`` but differ elsewhere (another name, another address) are kept, and each would
    count as a firm of its own in the cells, the hot spots and the park tests.  ``name``: the
    name column, to show one repeated id's names.
    """
    col = report.get("id_column")
    if col is None or col not in firms.columns or not len(firms):
        return []
    ids = firms[col].astype(str).str.strip()
    repeated = ids.duplicated(keep=False).to_numpy()
    if not repeated.any():
        return []
    extra = int(ids.duplicated().sum())
    first = ids[repeated].iloc[0]
    example = f"{first!r}"
    if name is not None and name in firms.columns:
        names = list(dict.fromkeys(firms.loc[(ids == first).to_numpy(), name].astype(str)))[:2]
        example += " (" + " and ".join(repr(n) for n in names) + ")"
    msg = (f"{extra:,} row(s) of {Path(str(table)).name} repeat the firm id of another row (column {col!r}; e.g. {example}): "
           "a firm renamed or exported twice counts as two firms in the cells and the park tests; keep one row per id")
    return [msg]


def closing_years(cfg: Config, firms, warnings: list[str]) -> None:
    """Replace ``[firms] closed_column`` by closing years, read as the founding dates are.

    Registry exports give the deregistration date (``注销日期``: ``2012-06-30``, ``2012/6/30``,
    ``2012年6月30日``) and leave it empty for the firms still open; the space-time cube wants
    years with NaN for open firms.  Values that are not dates, and closing years before the
    founding year, become warnings and count as open (their rows are kept).
    """
    from geo.io._dates import parse_dates

    col = cfg.firms.closed_column
    if not col or col not in firms.columns or not len(firms):
        return
    parsed = parse_dates(firms[col], label="closing dates")
    years = parsed.year.astype(float)
    table = Path(str(cfg.firms.path)).name
    if parsed.bad.any() and not np.isfinite(years).any():  # a status column (存续 / 注销 / 吊销), not dates
        values = firms[col].astype(str).str.strip().value_counts()
        msg = (f"[firms] closed_column = {col!r} holds no date ({counted(values, limit=4)}): "
               "it should name the column of closing (deregistration) dates, such as 注销日期 or 吊销日期; a status "
               "column cannot tell when a firm closed.")
        raise InputError(msg)
    if parsed.bad.any():
        k = int(np.flatnonzero(parsed.bad)[0])
        warnings.append(f"{int(parsed.bad.sum()):,} closing dates of {table} (column {col!r}) are not dates (e.g. "
                        f"{firms[col].iloc[k]!r}: {parsed.reasons[k]}); those firms count as open")
    fcol = cfg.firms.founded_column
    if fcol in firms.columns:
        founded = pd.to_numeric(firms[fcol], errors="coerce").to_numpy(dtype=float)
        early = np.isfinite(years) & np.isfinite(founded) & (years < founded)
        if early.any():
            k = int(np.flatnonzero(early)[0])
            warnings.append(f"{int(early.sum()):,} firms of {table} close before they were founded (column {col!r}; e.g. "
                            f"founded {int(founded[k])}, closed {int(years[k])}); their closing dates are ignored")
            years[early] = np.nan
    closed = int(np.isfinite(years).sum())
    if closed:
        warnings.append(f"{closed:,} firms of {table} have a closing date (column {col!r}): the emerging hot spot analysis "
                        "counts them only while open, but the cells, hot spots and park tests count every firm in the "
                        "table, closed ones included (drop the closed rows for a picture of the firms open today)")
    firms[col] = years


def _extra_tables(firms, rejects, load_report, cfg: Config):
    """Append the firm tables that reference valleys bring themselves (e.g. Hsinchu).

    Each table's columns are matched on their own (``Industry`` in one, ``industry`` in the
    other) and renamed to the main table's spelling; its stacks get ids after the main table's.
    """
    from geo.io.firms import firm_columns
    from geo.points import PointFrame

    fc = cfg.firms
    frames = [firms.assign(source=str(fc.path.name))]
    all_rejects = [rejects.assign(source=str(fc.path.name))]
    load_report = dict(load_report)
    load_report["extra_tables"] = []
    load_report["stacks"] = list(load_report.get("stacks") or [])
    next_site = int(firms["stack"].max()) + 1 if "stack" in firms and len(firms) else 0
    for v in cfg.valleys:
        if v.firms is None:
            continue
        own = checks.resolve_columns(cfg, firm_columns(v.firms, source=fc.source, encoding=fc.encoding), table=v.firms,
                                     own_valley=True)
        f, rep, rej = _read_table(v.firms, own)
        f = f.rename(columns=checks.renames(own, cfg))
        if "stack" in f:
            f["stack"] = np.where(f["stack"].to_numpy() >= 0, f["stack"].to_numpy() + next_site, -1)
            load_report["stacks"] += [{**st, "site": st["site"] + next_site} for st in rep.get("stacks") or []]
            next_site += int(rep.get("stacked_sites", 0))
        all_rejects.append(rej.assign(source=str(v.firms.name)))
        f = f.assign(source=str(v.firms.name), valley=v.name)
        frames.append(f)
        load_report["extra_tables"].append({"valley": v.name, **rep})
        for key in ("rows_read", "rows_kept", "rows_rejected", "fixed_swapped", "stacked_rows", "stacked_sites",
                    "duplicates_kept"):
            load_report[key] = load_report.get(key, 0) + rep.get(key, 0)
        for k, n in rep["rejected_by_reason"].items():
            load_report["rejected_by_reason"][k] = load_report["rejected_by_reason"].get(k, 0) + n
    combined = PointFrame(pd.concat(frames), crs="EPSG:4326", xy=("lon", "lat"))
    return combined, pd.concat(all_rejects, ignore_index=True), load_report


def check_parks(cfg: Config, parks, names: list[str], n_parks: dict[str, int], warnings: list[str],
                bounds: dict[str, tuple[float, float, float, float]] | None = None) -> None:
    """Stop when the parks' valley labels match none of the run's valleys, or when a valley's
    parks all lie away from its firms (a wrong ``crs`` of the firms or of the parks); warn
    for a valley without a park, a park of no valley, a park without a designation year.

    ``bounds``: per valley, the box (min lon, min lat, max lon, max lat) of its firms.
    """
    if cfg.parks.path is None or not len(parks):
        return
    file = Path(str(cfg.parks.path)).name
    labelled = parks["valley"].notna().any()
    if labelled:
        found = parks["valley"].dropna().astype(str).value_counts()
        if not set(found.index) & set(names):
            msg = (f"No park of {file} belongs to a valley of the run: their valley column holds "
                   f"{counted(found)}, the run's valleys are {listing(names)}."
                   f"{suggest(names[0], list(found.index)) if len(names) == 1 else ''} "
                   "Make the parks' valley values equal to the [[valleys]] names (or set [parks] valley to another column).")
            raise InputError(msg)
        orphan = sorted(set(found.index) - set(names))
        _check_misnamed(parks, orphan, names, n_parks, bounds, file, cfg.parks.valley)
        if orphan:
            warnings.append(f"parks of valleys not in the run were left out: {orphan}")
        for name in parks.loc[parks["valley"].isna(), "name"]:
            warnings.append(f"park {name!r} of {file} has no valley: it was left out")
        for name in names:
            own = parks[parks["valley"] == name]
            box = (bounds or {}).get(name)
            if len(own) and box is not None and not own.intersects(_padded_box(box)).any():
                pb = own.total_bounds
                msg = (f"The parks of valley {name!r} lie away from its firms: the firms span lon {box[0]:.3f}–{box[2]:.3f}, "
                       f"lat {box[1]:.3f}–{box[3]:.3f}; its parks lon {pb[0]:.3f}–{pb[2]:.3f}, lat {pb[1]:.3f}–{pb[3]:.3f}. "
                       f"Is [firms] crs (now {cfg.firms.crs!r}) or the parks' coordinate system right?")
                raise InputError(msg)
    for name in names:
        if not n_parks.get(name, 0):
            warnings.append(f"valley {name!r} has no park in {file}: its park tests are skipped")
    in_run = parks[parks["valley"].isin(names)] if labelled else parks
    for name in in_run.loc[in_run["designated"].isna(), "name"]:
        warnings.append(f"park {name!r} has no designation year: its precedence test is skipped")


def _check_misnamed(parks, orphan: list[str], names: list[str], n_parks: dict[str, int],
                    bounds: dict | None, file: str, column: str) -> None:
    """Stop when parks labelled with a valley that is not in the run lie among the firms of a
    run valley that has no park of its own: the two names are one valley spelt two ways
    (``武汉`` for ``武汉·光谷``), and the run would test that valley without its parks."""
    for label in orphan:
        own = parks[parks["valley"].astype(str) == label]
        for name in names:
            box = (bounds or {}).get(name)
            if n_parks.get(name, 0) or box is None or not own.intersects(_padded_box(box, 0.0)).any():
                continue
            n = len(own)
            msg = (f"The {n:,} park{'s' if n > 1 else ''} of {file} labelled {label!r} ({listing(own['name'].astype(str))}) "
                   f"lie{'' if n > 1 else 's'} among the firms of valley {name!r}, which has no park of its own: the parks' valley "
                   f"column {column!r} holds {label!r} where the run's valley is {name!r}. Write {name!r} in that "
                   f"column (or rename the [[valleys]] entry) so that {'these parks are' if n > 1 else 'this park is'} tested.")
            raise InputError(msg)


def _padded_box(box, pad: float = 0.05):
    """The box, widened by ``pad`` degrees on every side (parks at the edge of their firms' spread)."""
    import shapely

    return shapely.box(box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad)


def firm_bounds(firms, names) -> dict[str, tuple[float, float, float, float]]:
    """Per valley, the box of its firms' lon/lat."""
    out = {}
    for name in names:
        fv = _valley_rows(firms, name)
        if len(fv):
            lon, lat = fv["lon"].to_numpy(), fv["lat"].to_numpy()
            out[name] = (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))
    return out


def check_values(cfg: Config, firms, names: list[str], warnings: list[str], *, target_counts: dict | None = None,
                  sample: bool = False) -> None:
    """The target sector exists; per valley: target firms present, founding years present.

    ``target_counts``: target firms per valley when ``firms`` is a sample (dask engine: from
    the exact cell counts); ``sample``: the founding-year shares are the sample's.
    """
    target = cfg.analysis.target_sector
    sc, fcol = cfg.firms.sector_column, cfg.firms.founded_column
    sectors = firms[sc].astype(str).str.strip() if sc in firms.columns else None
    if target is not None and target_counts is None:
        counts = sectors[firms[sc].notna()].value_counts() if sectors is not None else None
        checks.check_target(cfg, counts, table=cfg.firms.path)
    founded = firms[fcol] if fcol in firms.columns else None
    for name in names:
        sel = (firms["valley"] == name).to_numpy()
        if not sel.any():
            continue
        if sel.sum() < SMALL_VALLEY:
            warnings.append(f"valley {name!r} has only {int(sel.sum()):,} firms: hot spots and park tests on so few firms are "
                            "fragile (a few firms more or less can change a verdict)")
        is_target = (sectors[sel] == str(target)).to_numpy() if target is not None and sectors is not None else None
        n_target = int(is_target.sum()) if is_target is not None else None
        if target_counts is not None:
            n_target = int(target_counts.get(name, 0))
        if n_target == 0:
            warnings.append(f"valley {name!r} has no firm of the target sector {target!r}: its parks are not tested "
                            "(its hot spots and clusters are those of all its firms)")
            is_target = None
        if founded is None:
            continue
        have, of = checks.founding_coverage(founded[sel], is_target if is_target is not None and is_target.any() else None)
        what = f"{target!r} firms" if is_target is not None and is_target.any() else "firms"
        what += " (in the sample)" if sample else ""
        if of and have == 0:
            warnings.append(f"valley {name!r}: no founding year for any of its {of:,} {what} (column {fcol!r} is empty): "
                            "the precedence test and the market-/government-led models are undetermined")
        elif of and have < MIN_DATED_SHARE * of:
            warnings.append(f"valley {name!r}: only {have:,} of its {of:,} {what} ({have / of:.0%}) have a founding year "
                            f"(column {fcol!r}): too few for the precedence test, which is skipped (undetermined)")
        elif of and have < of:
            warnings.append(f"valley {name!r}: {of - have:,} of its {of:,} {what} ({(of - have) / of:.0%}) have no founding "
                            f"year (column {fcol!r}); the precedence test uses the {have:,} that have one and says so")
        years = pd.to_numeric(founded[sel], errors="coerce").to_numpy(dtype=float)
        if is_target is not None and is_target.any():
            years = years[is_target]
        warnings.extend(_few_time_steps(name, years[np.isfinite(years)], cfg.analysis.time_step, what))


def check_cell_size(cfg: Config, bounds: dict[str, tuple[float, float, float, float]], warnings: list[str]) -> None:
    """Stop on a cell size given in metres that would cut a valley into more cells than the grid takes.

    ``cell_size = 5`` (metres, perhaps meant as kilometres) over a city's 20 km would be tens of
    millions of cells; the grid refuses them only after the firms are read and projected, so
    ``geo check`` says it first, with the valley and its span.
    ``bounds``: each valley's firm box in longitude/latitude (:func:`firm_bounds`).  A size
    larger than a third of a valley's span (``cell_size = 50000``: a handful of cells) becomes
    a warning: the hot spot tests need at least 30 cells and will not run there.
    """
    from geo.cells.grid import _AREA_FACTOR, MAX_CANDIDATE_CELLS

    an = cfg.analysis
    if isinstance(an.cell_size, str) or an.cell == "h3":
        return
    cell_area = _AREA_FACTOR[an.cell] * float(an.cell_size) ** 2
    for name, (x0, y0, x1, y1) in bounds.items():
        w = (x1 - x0) * 111_320.0 * math.cos(math.radians((y0 + y1) / 2))
        h = (y1 - y0) * 110_574.0
        n = w * h / cell_area
        if n > MAX_CANDIDATE_CELLS:
            msg = (f"[analysis] cell_size = {an.cell_size:g} (metres) would cut valley {name!r}, whose firms span "
                   f"{w / 1000:,.1f} × {h / 1000:,.1f} km, into about {n:,.0f} cells (at most {MAX_CANDIDATE_CELLS:,}): "
                   "cell_size is in metres; use cell_size = \"auto\" (about two firms per cell) or a few hundred metres.")
            raise ConfigError(msg)
        if float(an.cell_size) > max(w, h) / 3:
            warnings.append(f"[analysis] cell_size = {an.cell_size:g} m is more than a third of the span of the firms of "
                            f"valley {name!r} ({w / 1000:,.1f} × {h / 1000:,.1f} km): its grid will have a handful of cells, too few "
                            "for the hot spot tests (at least 30), and its parks will not be assessed; cell_size is in "
                            "metres (\"auto\": about two firms per cell)")


def _few_time_steps(name: str, years: np.ndarray, step: int, what: str) -> list[str]:
    """The warning that ``[analysis] time_step`` leaves the valley's founding years fewer than the 3 steps the
    emerging hot spot analysis needs (its Mann–Kendall trend); the steps are those of
    :func:`geo.stats.spacetime.spacetime_cube`: ``(last - first) // step + 1``."""
    if years.size < 2:
        return []
    lo, hi = int(years.min()), int(years.max())
    steps = (hi - lo) // step + 1
    if steps >= 3:
        return []
    fits = f"; time_step = {(hi - lo) // 2} or less gives 3 or more" if hi - lo >= 2 else ""
    msg = (f"valley {name!r}: its {what} were founded {lo}–{hi}, so [analysis] time_step = {step} gives {steps} time "
           f"step(s), fewer than the 3 the emerging hot spot analysis needs: it will be skipped{fits}")
    return [msg]


#: a valley with fewer firms than this gets a warning (its statistics are fragile)
SMALL_VALLEY = 200


def load_inputs(cfg: Config, *, warnings: list[str], quiet: Any = None) -> StudyInputs:
    """Read and check every input of ``cfg`` (the in-memory engine); no statistic is computed.

    Stops (:class:`geo.errors.InputError`) on a column the config names that the table lacks,
    a table of which most rows were rejected, a valley or a target sector that matches no
    firm, and parks that belong to none of the run's valleys; everything the run survives
    becomes a line of ``warnings``.
    """
    from geo.io.firms import firm_columns

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    fc = cfg.firms
    columns = firm_columns(fc.path, source=fc.source, encoding=fc.encoding, sheet=fc.sheet)
    cfg = checks.resolve_columns(cfg, columns, table=fc.path)
    selector = ValleySelector(cfg, fill=fill_valley(cfg, columns))
    # the points stay two coordinate columns (a PointFrame): no shapely point per firm
    firms, load_report, rejects = _read_table(fc.path, cfg, select=selector)
    warnings.extend(registry_warnings(load_report, fc.path))
    warnings.extend(repeated_ids(firms, load_report, fc.path, name=cfg.firms.name_column))
    warnings.extend(checks.crs_assumption(cfg, load_report, lon=firms["lon"].to_numpy(), lat=firms["lat"].to_numpy()))
    names = list(selector.names)
    firms["valley"] = selector.labels
    if selector.unknown:
        warnings.append(f"firms of valleys not in the config were left out: {selector.unknown}")
    timings["read_firms"] = time.perf_counter() - t0
    if quiet is not None:
        quiet.freeze()
    if any(v.firms is not None for v in cfg.valleys):
        firms, rejects, load_report = _extra_tables(firms, rejects, load_report, cfg)
    closing_years(cfg, firms, warnings)
    n_by_valley = firms["valley"].value_counts().to_dict()
    checks.check_valleys(cfg, n_by_valley, selector.counts, table=fc.path, rejects=rejects)
    rejects = rejects.sort_values("row", kind="stable").reset_index(drop=True)
    check_values(cfg, firms, names, warnings)

    t0 = time.perf_counter()
    parks, parks_report, parks_rejects = read_parks_config(cfg, warnings)
    n_parks = {n: len(_parks_for_valley(parks, n, _valley_rows(firms, n))) for n in names} if len(parks) else {}
    bounds = firm_bounds(firms, names)
    check_parks(cfg, parks, names, n_parks, warnings, bounds)
    check_cell_size(cfg, bounds, warnings)
    timings["read_parks"] = time.perf_counter() - t0
    return StudyInputs(config=cfg, firms=firms, parks=parks, rejects=rejects, load_report=load_report,
                       parks_report=parks_report, parks_rejects=parks_rejects, names=tuple(names),
                       warnings=tuple(warnings), timings=timings)


@dataclass(frozen=True)
class Prepared(StudyInputs):
    """What either engine hands the analysis: the checked inputs (:class:`StudyInputs`, the
    dask engine's firms being its counted sample) and one result per valley."""

    valleys: dict = field(kw_only=True)  # name -> geo.pipeline.results.ValleyResult (no statistics yet)

    @classmethod
    def of(cls, inputs: StudyInputs, valleys: dict) -> Prepared:
        """``inputs`` as read by :func:`load_inputs`, with ``valleys``."""
        return cls(**{f.name: getattr(inputs, f.name) for f in fields(StudyInputs)}, valleys=valleys)


@dataclass(frozen=True)
class StudyCheck:
    """What :func:`geo.pipeline.check` found: the inputs as read, per-valley facts, warnings."""

    config: Config
    load_report: dict
    parks_report: dict
    parks_rejects: pd.DataFrame
    valleys: tuple[ValleyFacts, ...]
    warnings: tuple[str, ...]


def valley_facts(cfg: Config, valleys: dict) -> list[ValleyFacts]:
    """Per valley: firms, target-sector firms, parks and founding-year coverage (for ``geo check``).

    With the dask engine the target count comes from the exact cell counts, the founding
    years from the valley's sample.
    """
    target = cfg.analysis.target_sector
    sc, fcol = cfg.firms.sector_column, cfg.firms.founded_column
    out = []
    for name, vr in valleys.items():
        fv = vr.firms
        is_target = None
        n_target = None
        if target is not None and sc in fv.columns:
            is_target = (fv[sc].astype(str).str.strip() == str(target)).to_numpy()
            n_target = int(is_target.sum())
            cells = getattr(vr.prepared, "cells", None)
            if cells is not None:
                tcol = GridInfo.of(cells).column(target)
                n_target = int(cells[tcol].sum()) if tcol is not None else 0
        use = is_target if is_target is not None and is_target.any() else None
        if fcol in fv.columns:
            have, of = checks.founding_coverage(fv[fcol], use)
        else:
            have, of = 0, len(fv) if use is None else int(use.sum())
        pv = vr.parks
        out.append(ValleyFacts(
            name=name, n_firms=vr.n_total, n_target=n_target, n_parks=0 if pv is None else int(len(pv)),
            n_founded=have, n_for_founded=of,
            parks_without_year=int(pv["designated"].isna().sum()) if pv is not None and len(pv) else 0,
        ))
    return out
