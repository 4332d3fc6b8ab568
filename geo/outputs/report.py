"""The self-contained HTML report (``report.html``) and its static figures.

:func:`write_report` writes ``report.html`` and ``figures/*.png`` into an output folder;
:func:`render_report` returns the HTML text.  The report is one file that opens offline: no
external CSS, JavaScript or fonts, figures embedded as ``data:image/png;base64`` URIs.  It is
deterministic (no run date or timings), so the same results give the same bytes.

Every string that comes from the data or the configuration (firm, park and valley names,
sectors, reasons, paths) is HTML-escaped with :func:`geo.outputs.maps.escape` before it reaches the
page; ids and anchors are generated from counters, never from data.
"""

from __future__ import annotations

import base64
import logging
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from geo.outputs._style import (
    GI_COLOURS,
    GI_LABELS,
    LISA_COLOURS,
    LISA_LABELS,
    VERDICT_COLOURS,
    format_distance,
    format_number,
    format_p,
    format_pct,
    p_phrase,
)
from geo.outputs.maps import escape

__all__ = ["write_report", "render_report", "SYNTHETIC_BANNER"]

log = logging.getLogger(__name__)

#: the banner shown on every report of a synthetic (demo) run
SYNTHETIC_BANNER = "SYNTHETIC DEMO DATA — firms are simulated, park boundaries illustrative, not official"

_VERDICT_CLASS = {
    "pre-existing": "v-pre",
    "after": "v-after",
    "none": "v-none",
    "undetermined": "v-und",
}

def _verdict_css() -> str:
    """The colour of each verdict class, from the palette the maps use too."""
    from geo.parks.overlay import VERDICTS

    return "".join(f".{cls}{{color:{VERDICT_COLOURS[VERDICTS[key]]}}}" for key, cls in _VERDICT_CLASS.items()) + "\n"


_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Helvetica Neue",Arial,"PingFang SC","Microsoft YaHei",sans-serif;
margin:0;color:#1d1d1d;background:#f6f6f4;line-height:1.45;font-size:15px}
main{max-width:1180px;margin:0 auto;padding:0 22px 60px}
h1{font-size:1.7em;margin:.6em 0 .2em}h2{font-size:1.35em;margin:1.8em 0 .5em;padding-top:.4em;border-top:2px solid #ccc}
h3{font-size:1.12em;margin:1.4em 0 .4em}h4{font-size:1em;margin:1em 0 .3em}
.banner{background:#b2182b;color:#fff;font-weight:700;font-size:1.15em;padding:12px 22px;text-align:center;letter-spacing:.02em}
.meta{color:#555;font-size:.9em}
nav.toc{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 18px;margin:14px 0}
nav.toc ol{margin:.3em 0;padding-left:1.4em}nav.toc li{margin:.1em 0}
table{border-collapse:collapse;margin:.4em 0 1em;background:#fff;font-size:.9em}
th,td{border:1px solid #d5d5d5;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eceae4;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.kv th{width:17em}
.answer{background:#fff;border-left:6px solid #4575b5;padding:4px 18px;margin:10px 0;font-size:1.05em}.answer li{margin:.25em 0}
.note{color:#555;font-size:.88em}
.skipped{background:#fff4e5;border:1px solid #f0c36d;border-radius:5px;padding:6px 14px;margin:.6em 0}
.warn{background:#fdecea;border:1px solid #e6a3a0;border-radius:5px;padding:6px 14px;margin:.6em 0}
figure{margin:.6em 0 1.2em;background:#fff;border:1px solid #ddd;padding:6px;display:inline-block;max-width:100%}
figure img{max-width:100%;height:auto;display:block}figcaption{font-size:.85em;color:#444;margin-top:4px;max-width:1100px}
.card{background:#fff;border:1px solid #ccc;border-radius:8px;padding:12px 18px;margin:14px 0}
.card h4{font-size:1.15em;margin:.2em 0}
.verdict{font-size:1.55em;font-weight:700;margin:.25em 0}
.grid2{display:flex;flex-wrap:wrap;gap:6px 24px}.grid2>div{flex:1 1 440px;min-width:0}
.card table.kv{width:100%}.card table.kv th{width:62%;font-weight:500}
code{background:#eee;padding:0 3px;border-radius:3px}
.wide{overflow-x:auto;max-width:100%}
ul.nulls li{margin:.2em 0}
"""
_CSS += _verdict_css()


# ----------------------------------------------------------------------------- formatting
def _e(value: Any) -> str:
    """Escaped text of a value from the data."""
    return escape(value)


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    try:
        return bool(isinstance(v, (float, np.floating)) and np.isnan(v))
    except TypeError:
        return False


def _num(v: Any, digits: int = 4) -> str:
    """A number for a table (:func:`geo.outputs._style.format_number`, escaped)."""
    return _e(format_number(v, digits=digits))


def _p(v: Any) -> str:
    """A p-value (:func:`geo.outputs._style.format_p`, escaped: ``&lt; 1e-300`` for an underflowed 0)."""
    return _e(format_p(v))


def _plain(v: Any) -> str:
    """An identifier-like number (year, seed, row): no thousands separator."""
    if _missing(v):
        return "—"
    try:
        return str(int(v)) if float(v) == int(float(v)) else _e(v)
    except (TypeError, ValueError):
        return _e(v)


def _pct(v: Any) -> str:
    return format_pct(v)


def _dist(v: Any) -> str:
    return format_distance(v)


def _yesno(v: Any) -> str:
    if _missing(v):
        return "—"
    return "yes" if bool(v) else "no"


def _shares(v: Any) -> str:
    if not isinstance(v, Mapping) or not v:
        return "—"
    return ", ".join(f"C{_e(k)}: {_pct(s)}" for k, s in sorted(v.items(), key=lambda kv: str(kv[0])))


class _Html(str):
    """Markup already escaped (table cells pass it through unchanged)."""


class _Num(_Html):
    """An escaped number: its table cell is right-aligned."""


def _cell(v: Any) -> str:
    if isinstance(v, _Html):
        return str(v)
    if isinstance(v, (int, float, np.integer, np.floating, bool, np.bool_)) or _missing(v):
        return _num(v)
    return _e(v)


def _table(headers: Iterable[str] | None, rows: Iterable[Iterable[Any]], *, cls: str = "", num_cols: Iterable[int] = ()) -> str:
    """An HTML table; plain values are escaped, :class:`_Html` cells are inserted as is."""
    nums = set(num_cols)
    out = [f'<table class="{cls}">' if cls else "<table>"]
    if headers is not None:
        out.append("<tr>" + "".join(f"<th>{_e(h)}</th>" for h in headers) + "</tr>")
    for row in rows:
        cells = []
        for j, v in enumerate(row):
            klass = ' class="num"' if j in nums or isinstance(v, _Num) else ""
            cells.append(f"<td{klass}>{_cell(v)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _kv(rows: Iterable[tuple[str, Any]]) -> str:
    """A two-column key/value table (keys are static text, values escaped)."""
    out = ['<table class="kv">']
    for k, v in rows:
        out.append(f"<tr><th>{_e(k)}</th><td>{_cell(v)}</td></tr>")
    out.append("</table>")
    return "\n".join(out)


def _figure(figures: Mapping[str, bytes], errors: Mapping[str, str], name: str, caption: str, alt: str) -> str:
    png = figures.get(name)
    if png is None:
        if name in errors:
            return f'<p class="warn">Figure <code>{_e(name)}</code> could not be drawn: {_e(errors[name])}</p>'
        return ""
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{_e(alt)}">'
            f"<figcaption>{caption} <span class=\"note\">(also <code>figures/{_e(name)}</code>)</span></figcaption></figure>")


def _skipped_box(items: Mapping[str, str]) -> str:
    if not items:
        return ""
    lis = "".join(f"<li><b>{_e(k)}</b>: {_e(v)}</li>" for k, v in items.items())
    return f'<div class="skipped"><b>Stages not run</b><ul>{lis}</ul></div>'


# ----------------------------------------------------------------------------- verdicts
def _verdict_key(text: Any) -> str:
    from geo.parks.overlay import VERDICTS

    inv = {v: k for k, v in VERDICTS.items()}
    return inv.get(str(text), "undetermined")


# ----------------------------------------------------------------------------- sections
class _Toc:
    def __init__(self) -> None:
        self.items: list[tuple[int, str, str]] = []
        self._n = 0

    def add(self, level: int, title: str) -> str:
        """Register a heading; returns its anchor id (generated, never from data)."""
        self._n += 1
        anchor = f"s{self._n}"
        self.items.append((level, anchor, title))
        return anchor

    def render(self) -> str:
        out = ['<nav class="toc"><b>Contents</b><ol>']
        depth = 1
        for level, anchor, title in self.items:
            while depth < level:
                out.append("<ol>")
                depth += 1
            while depth > level:
                out.append("</ol>")
                depth -= 1
            out.append(f'<li><a href="#{anchor}">{_e(title)}</a></li>')
        while depth > 1:
            out.append("</ol>")
            depth -= 1
        out.append("</ol></nav>")
        return "\n".join(out)


def _h(toc: _Toc, level: int, title: str) -> str:
    anchor = toc.add(level, title)
    tag = {1: "h2", 2: "h3", 3: "h4"}[level]
    return f'<{tag} id="{anchor}">{_e(title)}</{tag}>'


def _section_answer(results, toc: _Toc) -> str:
    """The headline answer (``results.answer``, the object ``summary.json["answer"]`` holds)."""
    ans = results.answer
    rows = []
    for verdict, lst in ans.verdicts.items():
        rows.append([verdict, len(lst), "; ".join(f"{v}: {p}" for v, p in lst) or "—"])
    if ans.not_assessed:
        rows.append(["not assessed", len(ans.not_assessed), "; ".join(f"{v}: {p} — {r}" for v, p, r in ans.not_assessed)])
    out = [_h(toc, 1, "Answer to the research question")]
    out.append('<p class="note">Do science &amp; technology parks coincide with industrial clusters of firms, or do clusters '
               "form on their own, before or outside the parks?</p>")
    concl = "".join(f"<li>{_e(x)}</li>" for x in ans.conclusions)
    out.append('<div class="answer"><p>' + " ".join(_e(x) for x in ans.facts) + "</p>"
               + (f"<ul>{concl}</ul>" if concl else "") + "</div>")
    out.append(_table(["verdict", "parks", "which (valley: park)"], rows, num_cols=[1]))
    return "\n".join(out)


def _flatten(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    if isinstance(d, Mapping):
        for k, v in d.items():
            rows.extend(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(d, (list, tuple)) and d and all(isinstance(x, Mapping) for x in d):
        for i, v in enumerate(d, 1):
            rows.extend(_flatten(v, f"{prefix}[{i}]"))
    else:
        rows.append((prefix, d))
    return rows


def _value_text(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return ", ".join("—" if _missing(x) else str(x) for x in v) if v else "—"
    return "—" if v is None else v


def _section_parameters(results, toc: _Toc) -> str:
    from geo import __version__

    cfg = results.config
    d = cfg.to_dict()
    out = [_h(toc, 1, "Run and parameters")]
    out.append(_kv([
        ("geo version", __version__),
        ("config file", d.get("source") or "— (given as a Python object)"),
        ("seed", _Html(_plain(cfg.run.seed))),
        ("synthetic demo data", bool(results.synthetic)),
        ("valley seeds", _Html(", ".join(f"{_e(n)}: {_plain(v.seed)}" for n, v in results.valleys.items()) or "—")),
    ]))
    rows = []
    for section in ("run", "firms", "parks", "analysis"):
        for key, val in _flatten(d.get(section, {})):
            rows.append([f"[{section}] {key}", _value_text(val)])
    out.append("<h4>Configuration</h4>")
    out.append(_table(["parameter", "value"], rows))
    vrows = [[v.get("name"), v.get("title") or "—", _value_text(v.get("bbox")), v.get("firms") or "—"] for v in d.get("valleys", [])]
    if vrows:
        out.append("<h4>Valleys in the configuration</h4>")
        out.append(_table(["name", "title", "bbox (lon/lat)", "firm file"], vrows))
    out.append('<p class="note">p-values are two-sided unless stated (the park tests are one-sided: is the park '
               "<i>more</i> clustered than chance?); <code>_fdr</code> columns are Benjamini–Hochberg adjusted. "
               "Statistics use permutations with the seeds above, so a re-run with the same data and "
               "configuration gives the same numbers.</p>")
    return "\n".join(out)


def _section_data_quality(results, toc: _Toc) -> str:
    from geo.io.firms import REJECT_REASONS

    lr = dict(results.load_report or {})
    out = [_h(toc, 1, "Data quality")]
    out.append(_h(toc, 2, "Firm table"))
    out.append(_kv([
        ("file", lr.get("file", "—")),
        ("format / encoding", f"{lr.get('format', '—')} / {lr.get('encoding', '—')}"
         + (f" / delimiter {lr['delimiter']!r}" if lr.get("delimiter") else "")),
        ("longitude / latitude columns", f"{lr.get('lon_column', '—')} / {lr.get('lat_column', '—')}"),
        ("id column", lr.get("id_column") or "—"),
        ("input coordinate system", lr.get("crs", "—")),
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
        rows = [[k, REJECT_REASONS.get(k, "—"), rej[k]] for k in order]
        out.append("<h4>Rejected rows by reason</h4>")
        out.append(_table(["reason", "meaning", "rows"], rows, num_cols=[2]))
        out.append('<p class="note">Every rejected row, with its row number and reason, is in <a href="rejects.csv">rejects.csv</a>.</p>')
    else:
        out.append("<p>No row was rejected.</p>")
    fixes = [
        ("swapped latitude/longitude fixed", lr.get("fixed_swapped", 0)),
        ("stacked geocodes: rows", lr.get("stacked_rows", 0)),
        ("stacked geocodes: sites", lr.get("stacked_sites", 0)),
        ("stacked rows", "dropped" if results.config.firms.drop_stacked is True else "kept (flagged in the column stacked)"),
        ("blank lines skipped", lr.get("blank_lines_skipped", 0)),
    ]
    out.append("<h4>Fixes and flags</h4>")
    out.append(_kv(fixes))
    conv = dict(lr.get("converted") or {})
    systems = dict(lr.get("coord_systems") or {})
    out.append("<h4>Coordinate systems</h4>")
    if systems:
        out.append(_table(["system in the input", "rows"], [[k, v] for k, v in systems.items()], num_cols=[1]))
    if conv:
        out.append("<p>" + "; ".join(f"{_num(n)} rows converted from {_e(_sys_name(k))} to WGS84" for k, n in conv.items()) + ".</p>")
    else:
        out.append("<p>No coordinate conversion was needed.</p>")
    handled = {"file", "format", "encoding", "delimiter", "lon_column", "lat_column", "id_column", "crs", "rows_read", "rows_kept",
               "rows_rejected", "rejected_by_reason", "fixed_swapped", "stacked_rows", "stacked_sites", "blank_lines_skipped",
               "converted", "coord_systems", "engine", "partitions", "stacks", "stack_radius_m", "duplicates",
               "duplicates_kept", "founded"}
    other = [(k, _value_text(v) if not isinstance(v, Mapping) else "; ".join(f"{a}: {b}" for a, b in v.items()))
             for k, v in lr.items() if k not in handled]
    if other:
        out.append("<h4>Other entries of the load report</h4>")
        out.append(_kv(other))
    out.append(_h(toc, 2, "Park boundaries"))
    pr = dict(results.parks_report or {})
    if not pr.get("file"):
        out.append('<p class="skipped">No park file was given: the park stages did not run.</p>')
    else:
        out.append(_kv([
            ("file", pr.get("file")),
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
            out.append(_table(["row", "park", "problem", "action"], [[r.get("row"), r.get("name"), r.get("problem"), r.get("action")] for r in reps],
                              num_cols=[0]))
        rj = pr.get("rejects") or []
        if rj:
            keys = list(dict.fromkeys(k for r in rj for k in r))
            out.append("<h4>Rejected park features</h4>")
            out.append(_table(keys, [[r.get(k) for k in keys] for r in rj]))
    out.append(_h(toc, 2, "Warnings"))
    if results.warnings:
        out.append("<ul>" + "".join(f"<li>{_e(w)}</li>" for w in results.warnings) + "</ul>")
    else:
        out.append("<p>None.</p>")
    return "\n".join(out)


def _section_registry(results, toc: _Toc) -> str:
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
    out = [_h(toc, 1, "Registry checks: duplicates, stacked geocodes, dates")]
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
    if notes or flagged:
        out.append("<h4>Hot spots that may be geocoding artefacts</h4><ul>"
                   + "".join(f"<li>{_e(v)}, cluster {_e(c['cluster_id'])}: {_e(c['artefact'])}</li>" for v, c in notes)
                   + "".join(f"<li>{_e(v)}, park {_e(r.get('name'))}: {_e(r.get('artefact'))}</li>" for v, r in flagged)
                   + "</ul>")
    if sens:
        changed = sens.get("changed") or []
        out.append("<h4>The verdicts without the stacked firms</h4>")
        out.append(f"<p>The cell and park stages were run again without the {_num(sens.get('dropped'))} stacked firms "
                   "(<code>drop_stacked = \"sensitivity\"</code>). A stack can make a hot spot, and it can also hide a real "
                   "one: one cell of hundreds of firms inflates the variance every other cell is compared with. "
                   + (f"<b>{len(changed)} verdict(s) change.</b>" if changed else "No verdict changes.") + "</p>")
        rows = [[r["valley"], r["park"], r["verdict"], r["verdict_without_stacked"], "yes" if r["changed"] else "no"]
                for r in sens.get("parks", [])]
        out.append(_table(["valley", "park", "verdict", "without stacked firms", "changed"], rows))
    return "\n".join(out)


def _sys_name(key: str) -> str:
    return {"gcj02": "GCJ-02", "bd09": "BD-09", "wgs84": "WGS84"}.get(str(key).lower(), str(key))


def _moran_table(gm: Mapping[str, Any]) -> str:
    rows = []
    for label, r in gm.items():
        rows.append([label, _Html(_num(r.I)), _Html(_num(r.EI)), _Html(_num(getattr(r, "z_rand", np.nan))),
                     _Html(_p(getattr(r, "p_rand", np.nan))), _Html(_num(getattr(r, "z_norm", np.nan))),
                     _Html(_p(getattr(r, "p_norm", np.nan))), _Html(_p(getattr(r, "p_sim", np.nan))),
                     getattr(r, "permutations", None), getattr(r, "n", None)])
    return _table(["variable", "I", "E[I]", "z (randomisation)", "p (randomisation)", "z (normality)", "p (normality)",
                   "p_sim", "permutations", "cells"], rows, num_cols=range(1, 10))


def _grid_block(cells) -> str:
    a = cells.attrs
    rule = a.get("size_rule")
    size_m = a.get("size_m")
    rows = [
        ("cell kind", a.get("cell", "—")),
        ("cell size", f"{_num(a.get('size'))}" + (f" (≈ {_num(size_m)} m)" if a.get("cell") == "h3" else " m")),
        ("cell area", f"{_num((a.get('cell_area_m2') or np.nan) / 1e6)} km²"),
        ("cells", len(cells)),
        ("extent", a.get("extent", "—")),
        ("extent area", f"{_num((a.get('extent_area_m2') or np.nan) / 1e6)} km²"),
        ("firms counted", a.get("n_counted")),
        ("firms outside the extent", a.get("n_outside")),
    ]
    if isinstance(rule, Mapping):
        rows.append(("size rule", rule.get("rule", "—")))
        details = "; ".join(f"{k} = {_num(v) if isinstance(v, (int, float, np.number)) else v}" for k, v in rule.items()
                            if k != "rule" and v is not None)
        if details:
            rows.append(("size rule inputs", details))
    elif rule:
        rows.append(("size rule", str(rule)))
    return _kv(rows)


def _counts_table(hot, what: str) -> str:
    out = []
    gi_cols = [(c, lab) for c, lab in (("gi_bin", what), ("all_gi_bin", "all firms")) if c in hot]
    rows = []
    for b in (3, 2, 1, 0, -1, -2, -3):
        rows.append([f"{b:+d}" if b else "0", GI_LABELS[b]] + [int((pd.to_numeric(hot[c], errors="coerce") == b).sum()) for c, _ in gi_cols])
    if gi_cols:
        out.append("<h4>Gi* hot and cold spots (cells per bin)</h4>")
        out.append(_table(["bin", "meaning", *(f"cells ({lab})" for _, lab in gi_cols)], rows, num_cols=range(2, 2 + len(gi_cols))))
    if "lisa_label" in hot:
        lab = hot["lisa_label"].astype(str)
        rows = [[k, LISA_LABELS[k], int((lab == k).sum())] for k in ("HH", "LL", "LH", "HL", "ns")]
        out.append(f"<h4>Local Moran (LISA) clusters and outliers of {_e(what)} (cells)</h4>")
        out.append(_table(["label", "meaning", "cells"], rows, num_cols=[2]))
    pars = hot.attrs.get("hotspots", {}) if hasattr(hot, "attrs") else {}
    if pars:
        keep = [(k, pars.get(k)) for k in ("column", "alpha", "fdr", "permutations", "alternative", "gi_statistic", "exact") if k in pars]
        if "gi_p_method" in pars and isinstance(pars["gi_p_method"], Mapping):
            keep.append(("Gi* p-value method (cells)", "; ".join(f"{k}: {v:,}" for k, v in pars["gi_p_method"].items())))
        out.append('<p class="note">' + "; ".join(f"{_e(k)} = {_e(v)}" for k, v in keep) + "</p>")
    return "\n".join(out)


def _clusters_table(cl, *, share: bool = False) -> str:
    cols = ["cluster_id", "n_cells", "area_km2", "n_firms", "n_target", "peak_z", "mean_z"] + (["share_in_parks"] if share else [])
    heads = ["cluster", "cells", "area km²", "firms", "target firms", "peak z", "mean z"] + (["share in parks"] if share else [])
    rows = []
    for r in cl.itertuples():
        row = [f"C{int(r.cluster_id)}"]
        for c in cols[1:]:
            v = getattr(r, c, None)
            row.append(_Html(_pct(v)) if c == "share_in_parks" else v)
        rows.append(row)
    return _table(heads, rows, num_cols=range(1, len(cols)))


def _point_patterns(vr, figures, errors, name: str, target: str | None = None) -> str:
    from geo.outputs.figures import _k_tables, _kd_items, figure_name

    st = vr.analysis
    kd = st.kd
    kt = st.ripley
    if kd is None and kt is None:
        return ""
    out = ["<h4>Point patterns</h4>"]
    for label, (_curve, obj) in _kd_items(kd).items():
        kind = "kd" if label == "" else f"kd_{label}"
        if label:
            out.append(f"<p><b>Kd of {_e(label)}</b></p>")
        if hasattr(obj, "verdict"):
            sector = getattr(obj, "sector", None)
            if sector is None or not isinstance(sector, str) or sector == "mask":
                sector = label or target or "—"
            out.append(_kv([
                ("sector", sector),
                ("verdict", getattr(obj, "verdict", "—")),
                ("firms of the sector / all firm sites", f"{_num(getattr(obj, 'n_sector', None))} / {_num(getattr(obj, 'n_sites', None))}"),
                ("localised at distances", _Html("; ".join(f"{_dist(a)} – {_dist(b)}" for a, b in getattr(obj, "localised", []) or []) or "—")),
                ("dispersed at distances", _Html("; ".join(f"{_dist(a)} – {_dist(b)}" for a, b in getattr(obj, "dispersed", []) or []) or "—")),
                ("Γ (localisation) / Ψ (dispersion)", f"{_num(getattr(obj, 'gamma', None))} / {_num(getattr(obj, 'psi', None))}"),
                ("bandwidth", _Html(_dist(getattr(obj, "bandwidth", None)))),
                ("simulations", getattr(obj, "simulations", None)),
            ]))
        out.append(_figure(figures, errors, figure_name(name, kind),
                           "Duranton–Overman K-density of bilateral distances (red) with the local band (grey) and global band "
                           "(dashed) under random location among all firm sites.", "Kd curve"))
    for label, table in _k_tables(kt).items():
        kind = "l" if label == "" else f"l_{label}"
        at = table.attrs if hasattr(table, "attrs") else {}
        bits = []
        if at.get("p_value") is not None:
            bits.append(f"global envelope test of complete spatial randomness: {_e(p_phrase(at['p_value']))}")
        if at.get("simulations") is not None:
            bits.append(f"{_num(at['simulations'])} simulations")
        if at.get("correction"):
            bits.append(f"{_e(at['correction'])} edge correction")
        if at.get("n") is not None:
            bits.append(f"{_num(at['n'])} firms")
        if bits:
            out.append(f'<p class="note">Ripley K/L{" of " + _e(label) if label else ""}: ' + "; ".join(bits) + ".</p>")
        out.append(_figure(figures, errors, figure_name(name, kind),
                           "Besag's L(r) − r (red) with pointwise (grey) and global (dashed) envelopes under complete spatial "
                           "randomness; above the envelope = clustering at that distance.", "L function"))
    return "\n".join(out)


def _density_block(results, vr, name: str, figures, errors) -> str:
    from geo.outputs._write import safe_name, url_name
    from geo.outputs.figures import figure_name

    st = vr.analysis
    g = st.density
    if g is None:
        return ""
    target = results.config.analysis.target_sector
    out = ["<h4>Kernel density</h4>"]
    f = f"rasters/{safe_name(name)}_density.tif"
    files = [f'<a href="{_e(url_name(f))}">{_e(f)}</a> (all firms)']
    if st.density_target is not None and target is not None:
        f = f"rasters/{safe_name(name)}_{safe_name(target)}_density.tif"
        files.append(f'<a href="{_e(url_name(f))}">{_e(f)}</a> ({_e(target)} firms)')
    out.append(_kv([
        ("kernel", getattr(g, "kernel", "—")),
        ("bandwidth", _Html(_dist(getattr(g, "bandwidth_m", None)) + f" ({_e(getattr(g, 'bandwidth_rule', '—'))} rule)")),
        ("raster cell size", _Html(_dist(getattr(g, "cell_size_m", None)))),
        ("units", getattr(g, "units", "—")),
        ("GeoTIFF", _Html("<br>".join(files))),
    ]))
    zs = st.zonal
    if isinstance(zs, pd.DataFrame) and len(zs):
        cols = [c for c in zs.columns if c not in ("name", "target_name")]
        labels = {"mean": "mean density (firms/km²)", "max": "peak density (firms/km²)", "sum": "expected firms (density × area)",
                  "count": "raster cells", "min": "min density", "std": "std of density", "median": "median density",
                  "area_km2": "area km²"}

        def head(c: str) -> str:
            if c.startswith("target_"):
                return f"{target} firms: " + labels.get(c[len("target_"):], c[len("target_"):])
            return "all firms: " + labels.get(c, c)

        rows = [[r.get("name", i)] + [r.get(c) for c in cols] for i, r in zip(zs.index, zs.to_dict(orient="records"))]
        out.append("<p class=\"note\">Density inside each park (zonal statistics of the rasters).</p>")
        out.append('<div class="wide">' + _table(["park", *[head(c) for c in cols]], rows, num_cols=range(1, len(cols) + 1)) + "</div>")
    out.append(_figure(figures, errors, figure_name(name, "density"),
                       "Kernel density of all firms and of the target sector (firms per km², square-root colour scale), "
                       "park boundaries in black.", "Kernel density"))
    return "\n".join(out)


def _section_valleys(results, toc: _Toc, figures, errors) -> str:
    from geo.outputs._write import safe_name, url_name
    from geo.outputs.figures import figure_name, focus_label

    out = [_h(toc, 1, "Valleys: global and local statistics")]
    if not results.valleys:
        out.append('<p class="skipped">No valley in this run.</p>')
    for name, vr in results.valleys.items():
        st = vr.analysis
        out.append(_h(toc, 2, _valley_heading(vr.title, name)))
        facts = [
            ("firms", getattr(vr, "n_total", len(vr.firms))),
            *([("firms in the sample of the point-based stages", len(vr.firms))] if getattr(vr, "sampled", False) else []),
            ("parks", _Html(", ".join(_e(p) for p in vr.parks["name"]) if len(vr.parks) else "none")),
            ("metric CRS", vr.metric_crs or "—"),
            ("seed of this valley", _Html(_plain(vr.seed))),
        ]
        if len(vr.firms):
            f = f"maps/{safe_name(name)}.html"
            facts.append(("interactive map", _Html(f'<a href="{_e(url_name(f))}">{_e(f)}</a>')))
        out.append(_kv(facts))
        out.append(_skipped_box(vr.skipped))
        cells = st.cells
        if cells is None:
            out.append('<p class="note">No grid, statistics or park tests for this valley (see the reason above).</p>')
            continue
        out.append("<h4>Grid</h4>")
        out.append(_grid_block(cells))
        gm = st.global_moran
        out.append("<h4>Global Moran's I</h4>")
        if gm:
            out.append(_moran_table(gm))
            out.append(f'<p class="note">Firm counts per cell; {_e(results.config.analysis.weights)} contiguity weights, '
                       "row-standardised; analytic p-values two-sided; p_sim: two-sided permutation pseudo p-value, "
                       "smallest possible 2/(permutations + 1).</p>")
        else:
            out.append('<p class="skipped">Not computed (see the stages not run).</p>')
        hot = st.hotspots
        if hot is None:
            out.append('<p class="skipped">Hot spots not computed: ' + _e(vr.skipped.get("hotspots", "see above")) + "</p>")
        else:
            what = focus_label(vr)
            out.append(_counts_table(hot, what))
            out.append(_figure(figures, errors, figure_name(name, "gi"),
                               f"Getis–Ord Gi* hot and cold spots of {_e(what)} per cell (bins from FDR-adjusted p-values "
                               "when FDR is on), park boundaries in black, cluster polygons dashed (C&lt;id&gt; as in the table below).",
                               "Gi* hot spot map"))
            out.append(_figure(figures, errors, figure_name(name, "lisa"),
                               f"Local Moran (LISA) cluster map of {_e(what)}: HH red, LL blue, LH light blue, HL pink, "
                               "not significant grey; park boundaries in black.", "LISA cluster map"))
        if gm:
            out.append(_figure(figures, errors, figure_name(name, "moran"),
                               "Moran scatterplots: each cell's standardised count against the mean of its neighbours "
                               "(row-standardised spatial lag); the slope of the red line is Moran's I.", "Moran scatterplot"))
        out.append(_density_block(results, vr, name, figures, errors))
        cl = st.clusters
        if cl is not None:
            out.append("<h4>Cluster polygons</h4>")
            out.append(f'<p class="note">Definition: {_e(cl.attrs.get("definition", "contiguous hot cells"))}; '
                       "cells touching at an edge or a vertex form one cluster.</p>")
            out.append(_clusters_table(cl) if len(cl) else "<p>No cluster.</p>")
        out.append(_point_patterns(vr, figures, errors, name, results.config.analysis.target_sector))
        out.append(_emerging_block(vr, name, figures, errors))
    return "\n".join(out)


def _emerging_block(vr, name: str, figures, errors) -> str:
    """Emerging hot spots of a valley: the cube, the survivorship caveat, categories, the parks."""
    from geo.outputs.figures import figure_name, focus_label

    ehs, cube = vr.analysis.emerging, vr.analysis.spacetime_cube
    if ehs is None or cube is None:
        return ""
    what = _e(focus_label(vr))
    o = ehs.options
    out = ["<h4>Emerging hot spots</h4>",
           (f'<p class="note">{what} alive per cell in {len(ehs.steps)} steps of {o["step_years"]} year(s) ending '
           f"{int(ehs.steps[0])}–{int(ehs.steps[-1])} ({_num(cube.n_firms)} firms; {_num(cube.n_no_year)} without a "
           f"founding year left out); space-time Gi* with the {o['time_lag']} step(s) before as neighbours, exact "
           "conditional-randomisation p-values, hot or cold at 95 % after FDR per step; Mann–Kendall trend of each "
           "cell's z series; categories as ArcGIS's Emerging Hot Spot Analysis.</p>")]
    if not cube.closed:
        out.append('<p class="warn">No closing years ([firms] closed_column): a firm counts from its founding year on '
                   "to the end, so the history is that of the firms that survived to the data's date (survivorship "
                   "bias): early clusters of firms that have since closed do not show.</p>")
    counts = ehs.category_counts()
    out.append(_table(["category", "cells"], [[c, n] for c, n in counts.items()], num_cols=[1]))
    ov = vr.analysis.parks_overlay
    if ov is not None and "ehs_main_under" in ov:
        rows = [[r.get("name", i), _Html(_plain(r.get("designated"))), r["ehs_main_under"], _Html(_plain(r["ehs_first_hot"])),
                 _Html(_plain(r["ehs_first_hot_vs_designation"])), r["ehs_hot_final_under"]]
                for i, r in pd.DataFrame(ov, copy=False).iterrows()]
        out.append(_table(["park", "designated", "main category under it", "first hot step", "years vs designation",
                           "hot cells under it now"], rows, num_cols=[4, 5]))
    out.append(_figure(figures, errors, figure_name(name, "emerging"),
                       f"Hot and cold cells of {what} per step (space-time Gi*, 95 % after FDR); dashed: park "
                       "designations.", "Emerging hot spots per step"))
    return "\n".join(out)


def _valley_heading(title: str, name: str) -> str:
    """The valley's title, followed by its name when the title does not already hold it.

    A title that ends in a parenthesis gets the name after a dash, not a second parenthesis:
    ``"Optics Valley (East Lake) — Wuhan"``, never ``"Optics Valley (East Lake) (Wuhan)"``.
    """
    title, name = str(title), str(name)
    if title == name or re.search(rf"(?<!\w){re.escape(name)}(?!\w)", title):
        return title
    return f"{title} — {name}" if title.rstrip().endswith(")") else f"{title} ({name})"


# park card: (column, label, formatter)
_CARD_GROUPS: list[tuple[str, list[tuple[str, str, Any]]]] = [
    ("Firms and density", [
        ("designated", "designation year", _plain),
        ("area_km2", "area (km²)", _num),
        ("n_firms", "firms inside", _num),
        ("n_target", "target-sector firms inside", _num),
        ("density", "firms per km² inside", _num),
        ("density_valley", "firms per km² in the valley", _num),
        ("density_ratio_valley", "density ratio park / valley", _num),
        ("density_ring", "firms per km² in the equal-area ring around the park", _num),
        ("ring_width_m", "ring width", _dist),
        ("density_ratio_ring", "density ratio park / ring", _num),
        ("lq", "location quotient of the target sector", _num),
    ]),
    ("Overlap with the clusters", [
        ("park_hot_share", "share of the park covered by hot cells (Gi* ≥ 95 %)", _pct),
        ("hot_area_in_park", "share of all hot-cell area inside the park", _pct),
        ("max_cluster_share", "largest share of one cluster's area inside the park", _pct),
        ("cluster_shares", "share of each overlapping cluster inside the park", _shares),
        ("jaccard", "Jaccard index park vs clusters", _num),
        ("dice", "Dice coefficient park vs clusters", _num),
        ("dist_cluster_edge_m", "distance to the nearest cluster's edge", _dist),
        ("dist_cluster_centroid_m", "distance to the nearest cluster's centroid", _dist),
        ("nearest_cluster", "nearest cluster", lambda v: "—" if _missing(v) else f"C{int(v)}"),
    ]),
    ("Coincidence tests (one-sided)", [
        ("p_labelling", "random labelling p (hypergeometric, exact)", _p),
        ("p_labelling_fdr", "random labelling p, FDR-adjusted", _p),
        ("mean_z", "mean Gi* z of the cells under the park", _num),
        ("sim_mean_z", "mean Gi* z under randomly placed copies", _num),
        ("hot_share_cells", "share of the park's cells that are hot", _pct),
        ("p_placement", "random placement p (mean z)", _p),
        ("p_placement_fdr", "random placement p, FDR-adjusted", _p),
        ("p_placement_hot", "random placement p (hot-cell coverage)", _p),
        ("permutations_done", "random placements done", _num),
        ("placement_acceptance", "share of tried placements inside the study area", _pct),
    ]),
    ("Precedence: was the cluster there before designation?", [
        ("cluster_before", "cluster on the park before designation", _yesno),
        ("n_target_before", "target firms founded before designation (valley)", _num),
        ("n_target_before_in_park", "… of them inside the park", _num),
        ("firms_in_cluster_before", "target firms in the pre-designation cluster touching the park", _num),
        ("min_cluster_firms", "minimum firms for a pre-designation cluster", _num),
        ("hot_share_before", "share of the park's cells hot before designation", _pct),
        ("hot_share_now", "share of the park's cells hot now", _pct),
        ("mean_z_before", "mean Gi* z under the park before designation", _num),
        ("mean_z_now", "mean Gi* z under the park now", _num),
    ]),
    ("Entries before and after designation (difference in differences)", [
        ("entries_in_before", "entries inside, before", _num),
        ("entries_in_after", "entries inside, from designation on", _num),
        ("entries_out_before", "entries outside, before", _num),
        ("entries_out_after", "entries outside, from designation on", _num),
        ("years_before", "years before", _num),
        ("years_after", "years from designation on", _num),
        ("rate_in_before", "entries per year inside, before", _num),
        ("rate_in_after", "entries per year inside, after", _num),
        ("rate_out_before", "entries per year outside, before", _num),
        ("rate_out_after", "entries per year outside, after", _num),
        ("rate_ratio", "rate ratio (95 % CI)", None),
        ("p_rate_ratio", "p of the rate ratio (two-sided Wald)", _p),
        ("p_rate_ratio_fdr", "p of the rate ratio, FDR-adjusted", _p),
        ("correction", "correction", lambda v: "—" if _missing(v) or v == "" else _e(v)),
    ]),
]
_CARD_SHOWN = {c for _, g in _CARD_GROUPS for c, _, _ in g} | {
    "name", "verdict", "verdict_reason", "notes", "precedence_skipped", "rr_lo", "rr_hi", "skipped"}

_NULL_FOR = {"labelling": "Random labelling", "placement": "Random placement", "precedence": "Precedence",
             "entry_ratio": "Entry-rate ratio"}


def _null_items(nulls: Mapping[str, str]) -> str:
    """List items "<b>test</b>: null" (without repeating a name the text already starts with)."""
    out = []
    for k, v in nulls.items():
        label = _NULL_FOR.get(k, str(k))
        text = str(v)
        if text.lower().startswith(label.lower() + ":"):
            text = text[len(label) + 1:].lstrip()
        out.append(f"<li><b>{_e(label)}</b>: {_e(text)}</li>")
    return "".join(out)


def _rate_ratio(row: Mapping[str, Any]) -> str:
    rr = row.get("rate_ratio")
    if _missing(rr):
        return "—"
    return f"{_num(rr)} ({_num(row.get('rr_lo'))}–{_num(row.get('rr_hi'))})"


def _park_card(vname: str, idx: Any, row: Mapping[str, Any], nulls: Mapping[str, str], figures, errors, toc: _Toc) -> str:
    from geo.outputs.figures import figure_name

    key = _verdict_key(row.get("verdict"))
    anchor = toc.add(3, str(row.get("name", idx)))
    out = [f'<div class="card" id="{anchor}">']
    year = row.get("designated")
    yr = "no designation year" if _missing(year) else f"designated {int(year)}"
    out.append(f"<h4>{_e(row.get('name', idx))}</h4><div class=\"meta\">{_e(vname)} · {_e(yr)}</div>")
    out.append(f'<div class="verdict {_VERDICT_CLASS[key]}">{_e(row.get("verdict", "—"))}</div>')
    out.append(f"<p>{_e(row.get('verdict_reason', ''))}</p>")
    for k, label in (("precedence_skipped", "Precedence test"), ("notes", "Notes"), ("skipped", "Skipped")):
        v = row.get(k)
        if not _missing(v) and str(v):
            out.append(f'<p class="skipped"><b>{label}:</b> {_e(v)}</p>')
    tables = []
    for title, specs in _CARD_GROUPS:
        rows = []
        for col, label, fmt in specs:
            if col not in row:
                continue
            if col == "rate_ratio":
                rows.append((label, _Html(_rate_ratio(row))))
            else:
                rows.append((label, _Html(fmt(row.get(col)))))
        if rows:
            tables.append(f"<div><h4>{_e(title)}</h4>{_kv(rows)}</div>")
    other = [(k, row[k]) for k in row if k not in _CARD_SHOWN]
    if other:
        tables.append("<div><h4>Other values</h4>" + _kv([(k, _value_text(v) if not isinstance(v, Mapping) else str(v)) for k, v in other]) + "</div>")
    out.append('<div class="grid2">' + "".join(tables) + "</div>")
    if nulls:
        out.append(f'<h4>Null hypotheses of these tests</h4><ul class="nulls note">{_null_items(nulls)}</ul>')
    out.append(_figure(figures, errors, figure_name(vname, "entries", idx),
                       "Entries per year of the target sector inside (top) and outside (bottom) the park; the vertical line "
                       "marks designation, dashed lines the mean entries per year before and after.", "Entries per year"))
    out.append(_figure(figures, errors, figure_name(vname, "before", idx),
                       "Gi* of the target-sector firms founded before the designation year (left) and of all of them "
                       "(right), on the same cells and weights, around the park.", "Gi* before designation and now"))
    out.append("</div>")
    return "\n".join(out)


def _section_parks(results, toc: _Toc, figures, errors) -> str:
    out = [_h(toc, 1, "Parks versus clusters")]
    overlays = [(n, vr, vr.analysis.parks_overlay) for n, vr in results.valleys.items()]
    nulls: dict[str, str] = {}
    rules: list[dict] = []
    for _, _, ov in overlays:
        if ov is not None and len(ov):
            nulls.update(ov.attrs.get("nulls") or {})
            r = ov.attrs.get("rules")
            if r and r not in rules:
                rules.append(r)
    if not nulls:
        from geo.parks.overlay import NULLS

        nulls = dict(NULLS)
    out.append(_h(toc, 2, "Tests and their null hypotheses"))
    out.append('<ul class="nulls">' + _null_items(nulls) + "</ul>")
    out.append(_h(toc, 2, "Verdict rules"))
    if rules:
        for r in rules:
            out.append(_table(["verdict", "rule"], [[k, v] for k, v in r.items()]))
    else:
        out.append('<p class="skipped">No park was tested, so no verdict rule was applied.</p>')
    share = results.answer.outside_max_share
    for name, vr, ov in overlays:
        out.append(_h(toc, 2, f"Parks of {vr.title}"))
        if ov is None or not len(ov):
            if not len(vr.parks):
                reason = vr.skipped.get("parks") or "no parks in this valley"
            else:
                reason = vr.skipped.get("statistics") or vr.skipped.get("hotspots") or vr.skipped.get("parks") or "the park stage did not run"
            out.append(f'<p class="skipped">No park tests: {_e(reason)}.</p>')
        else:
            ov_nulls = ov.attrs.get("nulls") or nulls
            for idx, row in ov.iterrows():
                out.append(_park_card(name, idx, row.to_dict(), ov_nulls, figures, errors, toc))
        outside = vr.analysis.clusters_outside_parks
        out.append(f"<h4>Clusters outside any park — {_e(vr.title)}</h4>")
        if outside is None:
            out.append('<p class="skipped">Not computed (no clusters: see the stages not run for this valley).</p>')
        elif not len(outside):
            out.append(f"<p>None: every cluster has at least {share:.0%} of its area in a park.</p>")
        else:
            if "share_in_parks" not in outside:
                outside = outside.assign(share_in_parks=0.0)
            out.append(f'<p class="note">Clusters with less than {share:.0%} of their area inside any park.</p>')
            out.append(_clusters_table(outside, share=True))
        agree = vr.analysis.point_cluster_agreement
        if agree is not None and len(agree):
            pc = vr.analysis.point_clusters
            method = pc.attrs.get("method", "") if pc is not None else ""
            out.append(f"<h4>Grid-free check — {_e(vr.title)}</h4>")
            out.append(
                '<p class="note">Density-based clusters of the firm points themselves, independent of the grid. '
                f"Method: {_e(method)}. Does a point cluster lie in the park (at least 25 % of its area) "
                "exactly when the grid verdict says the park has a cluster?</p>"
            )
            out.append(_table(["park", "grid verdict", "point-cluster share in park", "agrees"],
                              [[r["name"], r["verdict"], _pct(r["point_cluster_share"]), _yesno(r["grid_free_agrees"])]
                               for r in agree.to_dict(orient="records")]))
    return "\n".join(out)


def _section_comparison(results, toc: _Toc, figures, errors) -> str:
    cmp = getattr(results, "comparison", None)
    if cmp is None:
        return ""
    out = [_h(toc, 1, "Valley comparison")]
    if isinstance(cmp, pd.DataFrame):
        target = cmp.attrs.get("target_sector")
        if target is not None:
            out.append(f'<p class="note">Target sector: {_e(target)}. One column per valley.</p>')
        frame = cmp.drop(columns=[c for c in cmp.columns if str(c) == "geometry"])
        if isinstance(frame.index, pd.RangeIndex) and "valley" in frame.columns:
            frame = frame.set_index("valley")
        # transposed: one row per measure, one column per valley (the table is wide)
        rows = []
        for col in frame.columns:
            rows.append([str(col)] + [_compare_cell(str(col), v) for v in frame[col].tolist()])
        out.append('<div class="wide">' + _table(["measure", *[str(v) for v in frame.index]], rows) + "</div>")
        kr = cmp.attrs.get("krugman")
        if isinstance(kr, pd.DataFrame) and kr.size:
            out.append("<h4>Krugman dissimilarity of the target sector's sub-sector mix</h4>")
            out.append(_table(["", *[str(c) for c in kr.columns]],
                              [[str(i)] + [_Html(_num(v)) for v in r] for i, r in zip(kr.index, kr.to_numpy().tolist())],
                              num_cols=range(1, len(kr.columns) + 1)))
            out.append('<p class="note">0 = identical mix, 2 = no sub-sector in common.</p>')
        kd = cmp.attrs.get("kd")
        if isinstance(kd, Mapping) and kd:
            kd_rows = [[v, s, verdict] for v, d in kd.items() if isinstance(d, Mapping) for s, verdict in d.items()]
            if kd_rows:
                out.append("<h4>Duranton–Overman Kd per sub-sector</h4>")
                out.append(_table(["valley", "sub-sector", "Kd verdict"], kd_rows))
        out.append(_figure(figures, errors, "comparison_stock.png",
                           "Cumulative number of target-sector firms founded by each year, per valley; the dot marks the "
                           "valley's first park designation.", "Stock of firms by year"))
        rules = cmp.attrs.get("rules")
        if isinstance(rules, Mapping) and rules:
            out.append("<h4>Rules</h4>")
            out.append(_table(["measure", "rule"], [[k, v] for k, v in rules.items()]))
        notes = cmp.attrs.get("notes")
        if isinstance(notes, Mapping) and notes:
            out.append('<div class="skipped"><b>Not computed</b><ul>'
                       + "".join(f"<li><b>{_e(k)}</b>: {_e(v)}</li>" for k, v in notes.items()) + "</ul></div>")
    elif isinstance(cmp, Mapping):
        out.append(_kv([(str(k), _value_text(v)) for k, v in cmp.items()]))
    else:
        out.append(f"<p>{_e(cmp)}</p>")
    return "\n".join(out)


def _compare_cell(column: str, v: Any) -> _Html:
    if isinstance(v, (bool, np.bool_)):
        return _Html(_yesno(v))
    if isinstance(v, (int, float, np.integer, np.floating)) or _missing(v):
        return _Num(_plain(v) if ("year" in column or "designated" in column) else _num(v))
    if isinstance(v, Mapping):
        return _Html(_e("; ".join(f"{k}: {x}" for k, x in v.items())))
    return _Html(_e(v))


def _section_groups(results, toc: _Toc, figures=None, errors=None) -> str:
    """High-tech vs traditional clusters: the group × valley table, the difference test, the answer."""
    g = getattr(results, "groups", None)
    if g is None:
        return ""
    out = [_h(toc, 1, "High-tech versus traditional clusters")]
    out.append("<p>Do high-tech clusters coincide with parks more than traditional ones?</p>")
    out.append('<div class="answer">' + "".join(f"<p>{_e(line)}</p>" for line in str(g["answer"]).split("\n") if line.strip()) + "</div>")
    diff = g["difference"]
    null = diff.get("null")
    if null:
        out.append(f'<p class="note">Null hypothesis of the difference test: {_e(null)}</p>')
    t = g["table"]
    cols = [("valley", "valley"), ("group", "group"), ("n_firms", "firms"), ("moran_I", "Moran's I"), ("moran_p_sim", "p (perm.)"),
            ("hot_share", "in Gi* hot cells"), ("kd_intervals", "Kd: localised at"), ("in_park_share", "in parks"),
            ("park_lq", "park LQ"), ("p_labelling_fdr", "over-represented in parks, p (FDR)"), ("precedence", "cluster vs designation"),
            ("median_age", "median age"), ("share_after_designation", "founded after designation")]
    rows = []
    for r in t.to_dict(orient="records"):
        row = []
        for key, _ in cols:
            v = r.get(key)
            if key in ("hot_share", "in_park_share", "share_after_designation"):
                row.append(_pct(v))
            elif key == "kd_intervals":
                row.append(_kd_cell(r))
            elif key.startswith("p_") or key == "moran_p_sim":
                row.append(_p(v))
            elif isinstance(v, float):
                row.append(_num(v, 3))
            else:
                row.append("" if v is None else v)
        rows.append(row)
    out.append(_table([c for _, c in cols], rows, cls="wide"))
    if figures is not None:
        out.append(_figure(figures, errors or {}, "groups_in_parks.png",
                           "Share of each group's firms inside a park, per valley; p of the within-valley permutation test under each valley.",
                           "in-park share by group and valley"))
    notes = [f"{r['valley']} / {r['group']}: {r['notes']}" for r in t.to_dict(orient="records") if r.get("notes")]
    if notes:
        out.append("<ul class=\"note\">" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    return "\n".join(out)


def _kd_cell(row: Mapping[str, Any]) -> str:
    """The Kd cell of the groups table: the distances where the group is localised, else the
    Kd verdict (dispersed, neither, or why Kd was not computed), so that it is never blank."""
    intervals = row.get("kd_intervals")
    if isinstance(intervals, str) and intervals.strip():
        return intervals
    verdict = row.get("kd_verdict")
    if _missing(verdict) or not str(verdict).strip():
        return "—"
    verdict = str(verdict)
    if verdict.startswith(("not ", "neither ")):
        return verdict
    return f"not localised: {verdict}"


def _section_models(results, toc: _Toc) -> str:
    """Cluster models: the development model of each park–cluster pair, every indicator shown."""
    tables = [(vr, vr.analysis.models) for vr in results.valleys.values()]
    tables = [(vr, md) for vr, md in tables if md is not None and len(md)]
    if not tables:
        return ""
    from geo.parks.models import MODELS

    out = [_h(toc, 1, "Cluster models")]
    out.append("<p>How did each park–cluster pair develop? Each model is scored from measured indicators; "
               "a pair may show more than one, and a model whose indicator is missing from the data is "
               "<i>undetermined</i> with the reason, never guessed.</p>")
    rules = tables[0][1].attrs.get("rules") or {}
    if rules:
        out.append(_table(["model", "rule"], [[MODELS.get(k, k), v] for k, v in rules.items() if isinstance(v, str)]))
    for vr, md in tables:
        out.append(f"<h3>{_e(vr.title)}</h3>")
        for r in md.to_dict(orient="records"):
            models = r.get("models") or []
            out.append(f"<h4>{_e(r.get('name'))}: {_e(r.get('primary_model'))}</h4>")
            out.append(f"<p>models shown: {_e(', '.join(models) if models else 'none')}. {_e(r.get('summary', ''))}</p>")
            rows = []
            for key, label in (("market_led", "market-led"), ("government_led", "government-led"),
                               ("research_led", "research-led"), ("fdi_led", "FDI-led")):
                rows.append([MODELS.get(label, label), r.get(f"status_{key}"), _num(r.get(f"score_{key}"), 2), r.get(f"reason_{key}")])
            out.append(_table(["model", "status", "score", "indicators and reason"], rows))
    return "\n".join(out)


def _section_maps(results, toc: _Toc) -> str:
    from geo.outputs._write import safe_name, url_name

    out = [_h(toc, 1, "Interactive maps and other outputs")]
    items = ['<li><a href="maps/index.html">maps/index.html</a> — all valleys</li>']
    for name, vr in results.valleys.items():
        if len(vr.firms):
            f = f"maps/{safe_name(name)}.html"
            items.append(f'<li><a href="{_e(url_name(f))}">{_e(f)}</a> — {_e(vr.title)}</li>')
    out.append("<ul>" + "".join(items) + "</ul>")
    out.append('<p>Also in this folder: <a href="summary.json">summary.json</a> (the same numbers, machine-readable), '
               '<a href="layers.gpkg">layers.gpkg</a> (firms, cells, hot spots, clusters, park overlay), '
               '<a href="rejects.csv">rejects.csv</a> and the figures in <code>figures/</code>.</p>')
    return "\n".join(out)


def _section_methods(toc: _Toc) -> str:
    from geo.parks.overlay import VERDICTS

    out = [_h(toc, 1, "Colours and conventions")]
    sw = '<span style="display:inline-block;width:1.1em;height:.9em;border:1px solid #999;background:{c};vertical-align:middle"></span>'
    out.append(_table(["colour", "park verdict"], [[_Html(sw.format(c=VERDICT_COLOURS[VERDICTS[k]])), VERDICTS[k]] for k in _VERDICT_CLASS]))
    out.append('<p class="note">Park verdicts: the same colours as the parks on the maps.</p>')
    out.append(_table(["colour", "Gi* bin", "meaning"], [[_Html(sw.format(c=c)), f"{b:+d}" if b else "0", GI_LABELS[b]] for b, c in GI_COLOURS.items()]))
    out.append('<p class="note">Gi* colours: ArcGIS Pro hot spot renderer colours for the six significant classes; '
               "not significant in light grey. LISA colours: GeoDa's cluster map.</p>")
    out.append(_table(["colour", "LISA label", "meaning"], [[_Html(sw.format(c=c)), k, LISA_LABELS[k]] for k, c in LISA_COLOURS.items()]))
    return "\n".join(out)


# ----------------------------------------------------------------------------- entry points
def render_report(results, *, figures: Mapping[str, bytes] | None = None, figure_errors: Mapping[str, str] | None = None) -> str:
    """The report as one self-contained HTML page.

    Parameters
    ----------
    results : geo.pipeline.results.Results
    figures : mapping file name -> PNG bytes, optional
        From :func:`geo.outputs.figures.report_figures` (computed when not given).
    figure_errors : mapping file name -> message, optional
        Figures that could not be drawn; the report says so where they would be.

    Returns
    -------
    str
        The HTML text (deterministic: no date, no timings).
    """
    from geo.outputs.figures import report_figures

    errors: dict[str, str] = dict(figure_errors or {})
    if figures is None:
        figures = report_figures(results, errors=errors)
    toc = _Toc()
    title = results.config.run.title
    body = [
        _section_answer(results, toc),
        _section_data_quality(results, toc),
        _section_registry(results, toc),
        _section_valleys(results, toc, figures, errors),
        _section_parks(results, toc, figures, errors),
        _section_models(results, toc),
        _section_groups(results, toc, figures, errors),
        _section_comparison(results, toc, figures, errors),
        _section_maps(results, toc),
        _section_parameters(results, toc),
        _section_methods(toc),
    ]
    from geo import __version__

    head = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
    )
    banner = f'<div class="banner" role="alert">{_e(SYNTHETIC_BANNER)}</div>\n' if results.synthetic else ""
    n_firms = sum(getattr(v, "n_total", len(v.firms)) for v in results.valleys.values())
    intro = (
        f"<main>\n<h1>{_e(title)}</h1>\n"
        f'<p class="meta">Report of geo {_e(__version__)} · {len(results.valleys)} valley(s) · '
        f"{_num(n_firms)} firms · {_num(len(results.parks))} parks · seed {_plain(results.config.run.seed)} · "
        f"config {_e(results.config.source or '(Python object)')}</p>\n"
    )
    return head + banner + intro + toc.render() + "\n" + "\n".join(b for b in body if b) + "\n</main>\n</body>\n</html>\n"


def write_report(results, out_dir: str | Path, *, figures: Mapping[str, bytes] | None = None,
                 workers: int | None = None) -> Path:
    """Write ``out_dir/report.html`` (atomically) and ``out_dir/figures/*.png``.

    A figure that fails to draw is logged and reported in the page instead of stopping the
    report.

    Parameters
    ----------
    results : geo.pipeline.results.Results
    out_dir : str or Path
        Output folder (created if missing); the report links to ``maps/``, ``rasters/``,
        ``summary.json``, ``layers.gpkg`` and ``rejects.csv`` beside it.
    figures : mapping file name -> PNG bytes, optional
        Precomputed :func:`geo.outputs.figures.report_figures` (computed when not given).
    workers : int, optional
        Processes drawing the figures (see :func:`geo.outputs.figures.report_figures`).

    Returns
    -------
    pathlib.Path
        The path of ``report.html``.

    Examples
    --------
    >>> import geo
    >>> from geo.datasets import demo_files
    >>> from geo.outputs.report import write_report
    >>> res = geo.run(demo_files()["config"])  # doctest: +SKIP
    >>> write_report(res, "geo-output")  # doctest: +SKIP
    PosixPath('geo-output/report.html')
    """
    from geo.outputs._write import atomic_path
    from geo.outputs.figures import report_figures

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    errors: dict[str, str] = {}
    figs = report_figures(results, errors=errors, workers=workers) if figures is None else dict(figures)
    fig_dir = out / "figures"
    for name, png in figs.items():
        with atomic_path(fig_dir / name) as tmp:
            tmp.write_bytes(png)
    page = render_report(results, figures=figs, figure_errors=errors)
    target = out / "report.html"
    with atomic_path(target) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return target
