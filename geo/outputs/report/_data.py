"""The data-quality sections: the firm table, the park file, warnings, registry checks."""

from __future__ import annotations

import re
from typing import Any, Mapping

from geo.outputs._labels import humanise, label
from geo.outputs.report._html import (
    _counts,
    _Ctx,
    _details,
    _e,
    _h,
    _Html,
    _kv,
    _missing,
    _num,
    _prose,
    _table,
    _value_text,
)

__all__ = ["section_data_quality", "section_registry"]


def section_data_quality(results, ctx: _Ctx) -> str:
    """The firm table, the park file and the warnings: a summary line, the details collapsed."""
    from geo.io._describe import describe_inputs
    from geo.io.firms import REJECT_REASONS

    lr = dict(results.load_report or {})
    out = ["<h3>Firm table</h3>"]
    out.append(_kv([
        ("file", _Html(_code(lr.get("file")))),
        ("format / encoding", f"{lr.get('format', '—')} / {lr.get('encoding', '—')}"
         + (f" / delimiter {_delimiter(lr['delimiter'])}" if lr.get("delimiter") else "")),
        ("longitude / latitude columns", _Html(f"{_code(lr.get('lon_column'))} / {_code(lr.get('lat_column'))}")),
        ("id column", _Html(_code(lr.get("id_column")))),
        ("input coordinate system", _sys_name(lr.get("crs", "—"))),
        ("rows read", lr.get("rows_read")),
        ("rows kept", lr.get("rows_kept")),
        ("rows rejected", lr.get("rows_rejected")),
    ]))
    eng = lr.get("engine")
    if eng:
        sampled = [vr for vr in results.valleys.values() if getattr(vr, "sampled", False)]
        text = (f"Read, validated and counted on a dask cluster ({_e(eng.get('scheduler'))}, {_num(eng.get('workers'))} "
                f"worker(s), {_num(eng.get('partitions'))} partition(s)). The rejects, the cell counts, the statistics "
                "and the park tests use every firm.")
        if sampled:
            text += (" The point-based stages (point clusters, development models, density rasters, Kd, Ripley K, groups, "
                     "valley comparison, map points) use a seeded random sample of the firms of "
                     + ", ".join(f"{_e(vr.name)} ({_num(len(vr.firms))} of {_num(vr.n_total)})" for vr in sampled) + ".")
        out.append(f'<p class="note">{text}</p>')
    rej = dict(lr.get("rejected_by_reason") or {})
    if rej:
        order = [k for k in REJECT_REASONS if k in rej] + sorted(k for k in rej if k not in REJECT_REASONS)
        rows = [[_Html(f"<code>{_e(k)}</code>"), _Html(_prose(REJECT_REASONS.get(k, "—"))), rej[k]] for k in order]
        out.append("<h4>Rejected rows by reason</h4>")
        out.append(_table(["reason", "meaning", "rows"], rows, num_cols=[2]))
        out.append('<p class="note">Every rejected row, with its row number and reason, is in <a href="rejects.csv">rejects.csv</a>.</p>')
    else:
        out.append("<p>No row was rejected.</p>")
    fixes = [
        ("swapped latitude/longitude fixed", lr.get("fixed_swapped", 0)),
        ("stacked geocodes: rows", lr.get("stacked_rows", 0)),
        ("stacked geocodes: sites", lr.get("stacked_sites", 0)),
        ("stacked rows", "dropped" if results.config.firms.drop_stacked is True
         else _Html("kept (flagged in the column <code>stacked</code>)")),
        ("blank lines skipped", lr.get("blank_lines_skipped", 0)),
    ]
    out.append("<h4>Fixes and flags</h4>")
    out.append(_kv(fixes))
    conv = dict(lr.get("converted") or {})
    systems = dict(lr.get("coord_systems") or {})
    out.append("<h4>Coordinate systems</h4>")
    if systems:
        out.append(_table(["system in the input", "rows"], [[_sys_name(k), v] for k, v in systems.items()], num_cols=[1]))
    if conv:
        out.append("<p>" + "; ".join(f"{_num(n)} rows converted from {_e(_sys_name(k))} to WGS84" for k, n in conv.items()) + ".</p>")
    else:
        out.append("<p>No coordinate conversion was needed.</p>")
    handled = {"file", "format", "encoding", "delimiter", "lon_column", "lat_column", "id_column", "crs", "rows_read", "rows_kept",
               "rows_rejected", "rejected_by_reason", "fixed_swapped", "stacked_rows", "stacked_sites", "blank_lines_skipped",
               "converted", "coord_systems", "engine", "partitions", "stacks", "stack_radius_m", "duplicates",
               "duplicates_kept", "founded"}
    other = [(label(k, table="load"), _Html(_code(v) if k.endswith("_column") else _entry(_SOURCES.get(v, v) if k == "source" else v)))
             for k, v in lr.items() if k not in handled]
    if other:
        out.append("<h4>Other entries of the load report</h4>")
        out.append(_kv(other))
    firm, out = out, ["<h3>Park boundaries</h3>"]
    pr = dict(results.parks_report or {})
    if not pr.get("file"):
        out.append('<p class="skipped">No park file was given: the park stages did not run.</p>')
    else:
        out.append(_kv([
            ("file", _Html(_code(pr.get("file")))),
            ("CRS of the file", pr.get("crs_in", "—")),
            ("features read", pr.get("features_read")),
            ("parks kept", pr.get("parks_kept")),
            ("features rejected", pr.get("features_rejected")),
            ("geometries repaired", pr.get("geometries_repaired")),
            ("parks without a designation year", pr.get("missing_designation_year")),
            ("unreadable designation years", _value_text(pr.get("bad_designation_year"))),
            ("duplicate names", _value_text(pr.get("duplicate_names"))),
        ]))
        reps = pr.get("repairs") or []
        if reps:
            out.append("<h4>Repaired geometries</h4>")
            out.append(_table(["row", "park", "problem", "action"],
                              [[r.get("row"), r.get("name"), _problem(r.get("problem")), _Html(_prose(r.get("action")))] for r in reps],
                              num_cols=[0]))
        rj = pr.get("rejects") or []
        if rj:
            keys = list(dict.fromkeys(k for r in rj for k in r))
            out.append("<h4>Rejected park features</h4>")
            out.append(_table([{"name": "park"}.get(k, humanise(k)) for k in keys],
                              [[_Html(_code(r.get(k))) if k == "reason" else _Html(_prose(r.get(k))) if isinstance(r.get(k), str)
                                else r.get(k) for k in keys] for r in rj]))
    parks = out
    warnings = ("<h3>Warnings</h3>" + ("<ul>" + "".join(f"<li>{_prose(w)}</li>" for w in results.warnings) + "</ul>"
                                       if results.warnings else "<p>The run gave no warning.</p>"))
    n_warn = len(results.warnings or [])
    line = (f"{_num(lr.get('rows_read'))} rows read, {_num(lr.get('rows_kept'))} kept, {_num(lr.get('rows_rejected'))} rejected; "
            + (f"{_num(pr.get('parks_kept'))} parks kept of {_num(pr.get('features_read'))} features in the park file; "
               if pr.get("file") else "no park file; ")
            + f"{n_warn} warning{'s' if n_warn != 1 else ''}.")
    kinds = describe_inputs(lr, pr)
    return "\n".join([
        _h(ctx.toc, 1, "Data quality"), f"<p>{line}</p>",
        f'<p class="note">Input: firms: {_prose(kinds["firms"], files=False)}; parks: {_prose(kinds["parks"], files=False)}.</p>',
        _details("Firm table: file, columns, rejected rows, fixes, coordinate systems", "\n".join(firm)),
        _details("Park boundaries: file, repairs, rejected features", "\n".join(parks)),
        _details(f"Warnings ({n_warn})", warnings),
    ])


def section_registry(results, ctx: _Ctx) -> str:
    """Duplicates without an id, stacked geocodes (and the hot spots they make), founding dates."""
    lr = dict(results.load_report or {})
    stacks = lr.get("stacks") or []
    founded = lr.get("founded") or {}
    sens = getattr(results, "stack_sensitivity", None)
    flagged = [(vr.name, r) for vr in results.valleys.values() for _, r in
               (vr.analysis.parks_overlay.iterrows() if vr.analysis.parks_overlay is not None else [])
               if r.get("artefact")]
    if not (stacks or lr.get("duplicates_kept") or founded or sens):
        return ""
    out: list[str] = []
    if lr.get("duplicates_kept"):
        if lr.get("duplicates") == "flag":
            out.append(f"<p>{_num(lr['duplicates_kept'])} rows are exact copies of another row. The table has no id or name "
                       "column, so an identical row is more likely a different firm registered at the same geocoded "
                       "address than the same firm twice: they are <b>kept</b> and flagged "
                       "<code>duplicate_unverifiable</code>. Set <code>[firms] duplicates = \"drop\"</code> to reject "
                       "them.</p>")
        else:
            out.append(f"<p>{_num(lr['duplicates_kept'])} exact duplicate rows are kept (<code>duplicates = \"keep\"</code>).</p>")
    if founded:
        note = str(founded.get("note", ""))
        out.append(f"<p>{_e(note[:1].upper() + note[1:])}.</p>")
    if stacks:
        radius = lr.get("stack_radius_m") or 0
        out.append(f"<p>{_num(lr.get('stacked_rows'))} firms sit in {_num(lr.get('stacked_sites'))} stacked geocode(s): at "
                   f"least {_num(results.config.firms.stacked_min)} firms "
                   + (f"within {_num(radius)} m of one point" if radius else "on exactly one coordinate")
                   + ", typically a geocoder's fallback to a district or city centre. They are "
                   + ("dropped" if results.config.firms.drop_stacked is True else "kept and flagged (column <code>stacked</code>)")
                   + ". The biggest:</p>")
        rows = [[s_.get("site"), s_.get("n"), f"{s_.get('lon'):.6f}, {s_.get('lat'):.6f}", f"{s_.get('spread_m', 0):.1f} m"]
                for s_ in stacks[:10]]
        out.append(_table(["stack", "firms", "location (lon, lat)", "spread"], rows, num_cols=[0, 1]))
    notes = [(vr.name, c) for vr in results.valleys.values() if vr.analysis.clusters is not None
             for c in vr.analysis.clusters.to_dict(orient="records") if c.get("artefact")]
    seen = [_h(ctx.toc, 1, "Registry checks: duplicates, stacked geocodes, dates", short="Registry checks")]
    line = []
    if stacks:
        line.append(f"{_num(lr.get('stacked_rows'))} firms in {_num(lr.get('stacked_sites'))} stacked geocode(s), "
                    + ("dropped" if results.config.firms.drop_stacked is True else "kept and flagged"))
    if lr.get("duplicates_kept"):
        line.append(f"{_num(lr['duplicates_kept'])} exact duplicate rows kept")
    line.append(f"{len(notes) + len(flagged)} hot spot(s) that may be geocoding artefacts")
    seen.append("<p>" + "; ".join(line) + ".</p>")
    if notes or flagged:
        seen.append("<h4>Hot spots that may be geocoding artefacts</h4><ul>"
                   + "".join(f"<li>{_e(v)}, cluster {_e(c['cluster_id'])}: {_e(c['artefact'])}</li>" for v, c in notes)
                   + "".join(f"<li>{_e(v)}, park {_e(r.get('name'))}: {_e(r.get('artefact'))}</li>" for v, r in flagged)
                   + "</ul>")
    if sens:
        changed = sens.get("changed") or []
        seen.append("<h4>The verdicts without the stacked firms</h4>")
        seen.append(f"<p>The cell and park stages were run again without the {_num(sens.get('dropped'))} stacked firms "
                   "(<code>drop_stacked = \"sensitivity\"</code>). A stack can make a hot spot, and it can also hide a real "
                   "one: one cell of hundreds of firms inflates the variance every other cell is compared with. "
                   + (f"<b>{len(changed)} verdict(s) change.</b>" if changed else "No verdict changes.") + "</p>")
        rows = [[r["valley"], r["park"], r["verdict"], r["verdict_without_stacked"], "yes" if r["changed"] else "no"]
                for r in sens.get("parks", [])]
        seen.append(_table(["valley", "park", "verdict", "without stacked firms", "changed"], rows))
    seen.append(_details("Duplicates, stacked geocodes and founding dates", "\n".join(out)))
    return "\n".join(b for b in seen if b)


#: the open map data a firm table came from (the load report's ``source``)
_SOURCES = {"osm": "OpenStreetMap", "overture": "Overture Places"}


def _code(value: Any) -> str:
    """A name the user typed or the data hold (a path, a column) as code; "—" when missing."""
    return "—" if _missing(value) or value == "" else f"<code>{_e(value)}</code>"


def _delimiter(d: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar", " ": "space"}.get(d, f"“{d}”")


def _problem(text: Any) -> str:
    """shapely's validity reason as words: ``Self-intersection[114.172 30.5]`` -> "self-intersection at 114.172, 30.5"."""
    m = re.fullmatch(r"\s*([^\[]+)\[([-\d.eE+]+) ([-\d.eE+]+)\]\s*", str(text))
    if m is None:
        return "—" if _missing(text) else str(text)
    return f"{m.group(1).strip().lower()} at {m.group(2)}, {m.group(3)}"


def _entry(value: Any) -> str:
    """One entry of the load report as escaped HTML: counts as words, a table's own report as one line."""
    if isinstance(value, Mapping):
        return _counts(value)
    if isinstance(value, (list, tuple)) and value and all(isinstance(x, Mapping) for x in value):
        return "<br>".join(
            f"{_e(x.get('valley', '—'))}: {_code(x.get('file'))}, {_num(x.get('rows_read'))} rows read, "
            f"{_num(x.get('rows_kept'))} kept, {_num(x.get('rows_rejected'))} rejected" for x in value)
    if isinstance(value, (bool,)):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return _num(value)
    return _prose(_value_text(value))


def _sys_name(key: str) -> str:
    return {"gcj02": "GCJ-02", "bd09": "BD-09", "wgs84": "WGS84"}.get(str(key).lower(), str(key))

