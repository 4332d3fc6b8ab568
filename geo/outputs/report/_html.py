"""The report's HTML pieces: the style sheet, escaped cells and tables, figures, collapsible
details, headings and the context every section receives.

Every string that comes from the data or the configuration (firm, park and valley names,
sectors, reasons, paths) is HTML-escaped with :func:`geo.outputs.maps.escape` (:func:`_e`)
before it reaches the page; ids and anchors are generated from counters, never from data.
"""

from __future__ import annotations

import base64
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from geo.outputs._style import (
    VERDICT_COLOURS,
    format_distance,
    format_number,
    format_p,
    format_pct,
)
from geo.outputs.maps import escape
from geo.parks.overlay import VERDICTS

__all__: list[str] = []

log = logging.getLogger(__name__)

#: the banner shown on every report of a synthetic (demo) run
SYNTHETIC_BANNER = "SYNTHETIC DEMO DATA — firms are simulated, park boundaries illustrative, not official"

#: the CSS class of each verdict key (``geo.parks.overlay.VERDICTS``), named after it
VERDICT_CLASS = {key: f"v-{key}" for key in VERDICTS}


def _verdict_css() -> str:
    """The colour of each verdict class, from the palette the maps use too."""
    return "".join(f".{cls}{{color:{VERDICT_COLOURS[VERDICTS[key]]}}}.card.{cls}{{border-left-color:{VERDICT_COLOURS[VERDICTS[key]]}}}"
                   for key, cls in VERDICT_CLASS.items()) + "\n"


# readable from 360 px to 1600 px: nothing is wider than the page; a wide table scrolls inside
# its own container (.scroll), long words and paths wrap
CSS = """
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Helvetica Neue",Arial,"PingFang SC","Microsoft YaHei",sans-serif;
margin:0;color:#1d1d1d;background:#f6f6f4;line-height:1.45;font-size:15px}
main{max-width:1180px;margin:0 auto;padding:0 22px 60px}
p,li,figcaption,summary,.meta,h1,h2,h3,h4,dd{overflow-wrap:anywhere}
td,th{overflow-wrap:break-word}
h1{font-size:1.6em;margin:.5em 0 .1em;line-height:1.2}
h2{font-size:1.35em;margin:1.6em 0 .5em;padding-top:.4em;border-top:2px solid #ccc}
h3{font-size:1.12em;margin:1.3em 0 .4em}h4{font-size:1em;margin:1em 0 .3em}
.banner{background:#b2182b;color:#fff;font-weight:700;font-size:1.05em;padding:10px 22px;text-align:center;letter-spacing:.02em}
.meta{color:#555;font-size:.9em;margin:.1em 0 .4em}
nav.bar{display:flex;flex-wrap:wrap;gap:2px 14px;background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px 12px;margin:8px 0 4px;font-size:.92em}
nav.bar a{color:#1f4e8c;text-decoration:none;white-space:nowrap}nav.bar a:hover{text-decoration:underline}
#answer h2{border-top:0;margin:.7em 0 .2em;padding-top:0;font-size:1.2em}
.question{color:#444;margin:.1em 0 .4em}
.answer{background:#fff;border-left:6px solid #4575b5;padding:4px 18px;margin:6px 0 8px;font-size:1.02em}
.answer p{margin:.5em 0}.answer ul{margin:.3em 0 .6em;padding-left:1.3em}.answer li{margin:.15em 0}
table{border-collapse:collapse;margin:0;background:#fff;font-size:.9em}
.scroll{overflow-x:auto;max-width:100%;margin:.4em 0 1em}
th,td{border:1px solid #d5d5d5;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eceae4;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.kv th{width:17em;font-weight:500}
table.verdicts td:first-child{font-weight:700;white-space:nowrap}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.35em;vertical-align:-.05em}
.note{color:#555;font-size:.88em}
.skipped{background:#fff4e5;border:1px solid #f0c36d;border-radius:5px;padding:6px 14px;margin:.6em 0}
.warn{background:#fdecea;border:1px solid #e6a3a0;border-radius:5px;padding:6px 14px;margin:.6em 0}
figure{margin:.6em 0 1em;background:#fff;border:1px solid #ddd;padding:6px;display:inline-block;max-width:100%;vertical-align:top}
figure img{max-width:100%;height:auto;display:block}figcaption{font-size:.85em;color:#444;margin-top:4px}
.figs{display:flex;flex-wrap:wrap;gap:0 12px;align-items:flex-start}.figs>figure{flex:1 1 300px;min-width:0}
div.card{color:#1d1d1d}
.card{background:#fff;border:1px solid #ccc;border-left:6px solid #999;border-radius:8px;padding:10px 18px;margin:14px 0}
.card h3{font-size:1.1em;margin:.1em 0}
.verdict{font-size:1.4em;font-weight:700;margin:.1em 0}
ul.tests{margin:.4em 0 .6em;padding-left:1.2em}ul.tests li{margin:.2em 0}
.grid2{display:flex;flex-wrap:wrap;gap:6px 24px}.grid2>div{flex:1 1 420px;min-width:0}
.card table.kv{width:100%}.card table.kv th{width:62%}
details{background:#fff;border:1px solid #ddd;border-radius:6px;padding:4px 12px;margin:.6em 0}
details>summary{cursor:pointer;font-weight:600;color:#1f4e8c;padding:2px 0}
details[open]>summary{margin-bottom:.4em}
code{background:#eee;padding:0 3px;border-radius:3px;overflow-wrap:anywhere}
ul.nulls li{margin:.2em 0}
dl.labels dt{font-weight:600;margin-top:.3em}dl.labels dd{margin:0 0 0 1.2em;color:#444}
@media (max-width:600px){main{padding:0 10px 40px}body{font-size:14px}h1{font-size:1.3em}.banner{font-size:.95em;padding:8px 10px}
.answer{padding:2px 10px}.card{padding:8px 10px}table.kv th{width:auto}
table.verdicts td:first-child{white-space:normal;min-width:8em}table.verdicts td:last-child{min-width:9em}}
"""
CSS += _verdict_css()


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
    return '<div class="scroll">' + "\n".join(out) + "</div>"


def _kv(rows: Iterable[tuple[str, Any]]) -> str:
    """A two-column key/value table (keys are static text, values escaped)."""
    out = ['<table class="kv">']
    for k, v in rows:
        out.append(f"<tr><th>{_e(k)}</th><td>{_cell(v)}</td></tr>")
    out.append("</table>")
    return '<div class="scroll">' + "\n".join(out) + "</div>"


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
    from geo.outputs._labels import stage_label

    lis = "".join(f"<li><b>{_e(stage_label(k))}</b>: {_prose(v)}</li>" for k, v in items.items())
    return f'<div class="skipped"><b>Stages not run</b><ul>{lis}</ul></div>'


# ----------------------------------------------------------------------------- verdicts
def _verdict_key(text: Any) -> str:
    inv = {v: k for k, v in VERDICTS.items()}
    return inv.get(str(text), "undetermined")


# ----------------------------------------------------------------------------- sections
class _Toc:
    """The headings of the page: anchors from a counter (never from data); the contents bar lists level 1."""

    def __init__(self) -> None:
        self.items: list[tuple[int, str, str]] = []
        self._n = 0

    def add(self, level: int, title: str) -> str:
        """Register a heading; returns its anchor id."""
        self._n += 1
        anchor = f"s{self._n}"
        self.items.append((level, anchor, title))
        return anchor

    def render(self) -> str:
        """The compact contents bar: one link per section."""
        links = "".join(f'<a href="#{anchor}">{_e(title)}</a>' for level, anchor, title in self.items if level == 1)
        return f'<nav class="bar" aria-label="Contents"><b>Contents:</b>{links}</nav>'


def _h(toc: _Toc, level: int, title: str, *, short: str | None = None) -> str:
    """A heading (h2, h3, h4 for levels 1–3) with a generated anchor; ``short`` is its name in the contents bar."""
    anchor = toc.add(level, short or title)
    tag = {1: "h2", 2: "h3", 3: "h4"}[level]
    return f'<{tag} id="{anchor}">{_e(title)}</{tag}>'


def _details(summary: str, body: str, *, open_: bool = False) -> str:
    """A collapsible block (``summary`` is static text, ``body`` HTML); empty when ``body`` is."""
    if not body or not body.strip():
        return ""
    return f"<details{' open' if open_ else ''}><summary>{_e(summary)}</summary>\n{body}\n</details>"


@dataclass
class _Ctx:
    """What every section receives besides the results: the figures, their errors, the headings."""

    figures: Mapping[str, bytes]
    errors: Mapping[str, str]
    toc: _Toc = field(default_factory=_Toc)
    #: (valley, park row index) -> anchor of the park's card (the answer's verdict table links to it)
    cards: dict = field(default_factory=dict)


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


#: what in a sentence from a stage or the run is code the reader types or looks up, not words: a name in
#: backticks, a config setting (``[firms] closed_column``, ``drop_stacked = "sensitivity"``), a file
#: name, a dotted or snake_case code name
_CODE = re.compile(
    r"`[^`\n]+`"
    r"|(?<![\w/.-])[\w/.-]+\.(?:csv|tsv|txt|gpkg|shp|geojson|tif|html|json|xlsx|parquet|toml|pbf)\b"
    r"|\[[a-z_]+\](?: [a-z][a-z0-9_]*)?(?: = (?:\"[^\"]*\"|[^\s,;)]+))?"
    r"|\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?: = (?:\"[^\"]*\"|[^\s,;)]+))?"
    r"|\b(?:shapely|geo|numpy|pandas|np|pd)\.[\w.]+"
)


_FILE = re.compile(r"[\w/.-]+\.(?:csv|tsv|txt|gpkg|shp|geojson|tif|html|json|xlsx|parquet|toml|pbf)")


def _prose(text: Any, *, files: bool = True) -> str:
    """Escaped text of a sentence from the data or a stage, its code names in ``<code>`` (:data:`_CODE`);
    file names too unless ``files`` is False (a file name reads as a name in a sentence)."""
    if _missing(text):
        return "—"
    text = str(text)
    out, at = [], 0
    for m in _CODE.finditer(text):
        if not files and _FILE.fullmatch(m.group()):
            continue
        code = m.group()[1:-1] if m.group().startswith("`") else m.group()
        out.append(_e(text[at:m.start()]) + f"<code>{_e(code)}</code>")
        at = m.end()
    return "".join(out) + _e(text[at:])


def _counts(v: Any) -> str:
    """A mapping of counts as words: ``{"no pattern": 244, "sporadic hot spot": 6}`` -> "no pattern 244 · sporadic hot spot 6"."""
    from geo.outputs._labels import humanise

    if not isinstance(v, Mapping) or not v:
        return "—"
    return " · ".join(f"{_e(humanise(k))} {_num(n) if isinstance(n, (int, float, np.number)) else _e(n)}" for k, n in v.items())


def _value_text(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return ", ".join("—" if _missing(x) else str(x) for x in v) if v else "—"
    return "—" if v is None else v

