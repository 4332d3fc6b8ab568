"""Methods (the park tests, their null hypotheses and the verdict rules, stated once), the
colours, the glossary of the park measures, the outputs and the run's parameters."""

from __future__ import annotations

from typing import Mapping

from geo.outputs._labels import PARK_RESULTS
from geo.outputs._style import (
    GI_COLOURS,
    GI_LABELS,
    LISA_COLOURS,
    LISA_LABELS,
    VERDICT_COLOURS,
)
from geo.outputs.report._html import (
    VERDICT_CLASS,
    _Ctx,
    _details,
    _e,
    _flatten,
    _h,
    _Html,
    _kv,
    _plain,
    _table,
    _value_text,
)

__all__ = ["section_methods", "section_outputs"]

_NULL_FOR = {"labelling": "Random labelling", "placement": "Random placement", "precedence": "Precedence",
             "entry_ratio": "Entry-rate ratio"}
_SWATCH = ('<span style="display:inline-block;width:1.1em;height:.9em;border:1px solid #999;background:{c};'
           'vertical-align:middle"></span>')


def _null_items(nulls: Mapping[str, str]) -> str:
    """List items "<b>test</b>: null" (without repeating a name the text already starts with)."""
    out = []
    for k, v in nulls.items():
        name = _NULL_FOR.get(k, str(k))
        text = str(v)
        if text.lower().startswith(name.lower() + ":"):
            text = text[len(name) + 1:].lstrip()
        out.append(f"<li><b>{_e(name)}</b>: {_e(text)}</li>")
    return "".join(out)


def _nulls_and_rules(results) -> tuple[dict[str, str], list[dict]]:
    nulls: dict[str, str] = {}
    rules: list[dict] = []
    for vr in results.valleys.values():
        ov = vr.analysis.parks_overlay
        if ov is not None and len(ov):
            nulls.update(vr.analysis.park_nulls or {})
            r = vr.analysis.park_rules
            if r and r not in rules:
                rules.append(r)
    if not nulls:
        from geo.parks.overlay import NULLS

        nulls = dict(NULLS)
    return nulls, rules


def _colours() -> str:
    from geo.parks.overlay import VERDICTS

    return "\n".join([
        _table(["colour", "park verdict"], [[_Html(_SWATCH.format(c=VERDICT_COLOURS[VERDICTS[k]])), VERDICTS[k]] for k in VERDICT_CLASS]),
        '<p class="note">Park verdicts: the same colours as the parks on the maps.</p>',
        _table(["colour", "Gi* bin", "meaning"],
               [[_Html(_SWATCH.format(c=c)), f"{b:+d}" if b else "0", GI_LABELS[b]] for b, c in GI_COLOURS.items()]),
        '<p class="note">Gi* colours: ArcGIS Pro hot spot renderer colours for the six significant classes; '
        "not significant in light grey. LISA colours: GeoDa's cluster map.</p>",
        _table(["colour", "LISA label", "meaning"], [[_Html(_SWATCH.format(c=c)), k, LISA_LABELS[k]] for k, c in LISA_COLOURS.items()]),
    ])


def _glossary() -> str:
    """The park measures: label, unit and meaning (:data:`geo.outputs._labels.PARK_RESULTS`)."""
    return _table(["measure", "unit", "meaning"], [[lab.text, lab.unit, lab.meaning] for lab in PARK_RESULTS.values()])


def section_methods(results, ctx: _Ctx) -> str:
    """The methods, once: the tests and their null hypotheses, the verdict rules, conventions, colours."""
    nulls, rules = _nulls_and_rules(results)
    out = [_h(ctx.toc, 1, "Methods")]
    out.append(_h(ctx.toc, 2, "Tests and their null hypotheses"))
    out.append("<p>Each park is tested three ways, every test one-sided (is the park <i>more</i> clustered than "
               "chance?), with Benjamini–Hochberg FDR adjustment across the parks of a valley:</p>")
    out.append('<ul class="nulls">' + _null_items(nulls) + "</ul>")
    out.append(_h(ctx.toc, 2, "Verdict rules"))
    if rules:
        body = "".join(_table(["verdict", "rule"], [[k, _Html(f"<code>{_e(v)}</code>")] for k, v in r.items()]) for r in rules)
        out.append("<p>A park <i>coincides</i> with a cluster when the cluster overlaps it substantially and the overlap "
                   "is significant; the precedence test then says whether the cluster was there before designation.</p>")
        out.append(_details("The rules with their thresholds (as applied)", body))
    else:
        out.append('<p class="skipped">No park was tested, so no verdict rule was applied.</p>')
    out.append(_h(ctx.toc, 2, "Conventions"))
    out.append('<p class="note">p-values are two-sided unless stated (the park tests are one-sided); p-values marked '
               "“FDR” are Benjamini–Hochberg adjusted. Statistics use permutations with the seeds under “Run and "
               "parameters”, so a re-run with the same data and configuration gives the same numbers.</p>")
    out.append(_details("Colours and conventions", "<h4>Colours and conventions</h4>" + _colours()))
    out.append(_details("Glossary of the park measures", _glossary()))
    return "\n".join(out)


def _maps(results) -> str:
    from geo.outputs._write import safe_name, url_name

    items = ['<li><a href="maps/index.html">maps/index.html</a> — all valleys</li>']
    for name, vr in results.valleys.items():
        if len(vr.firms):
            f = f"maps/{safe_name(name)}.html"
            items.append(f'<li><a href="{_e(url_name(f))}">{_e(f)}</a> — {_e(vr.title)}</li>')
    return ("<ul>" + "".join(items) + "</ul>"
            '<p>Also in this folder: <a href="summary.json">summary.json</a> (the same numbers, machine-readable), '
            '<a href="layers.gpkg">layers.gpkg</a> (firms, cells, hot spots, clusters, park overlay), '
            '<a href="rejects.csv">rejects.csv</a> and the figures in <code>figures/</code>.</p>')


def _parameters(results) -> str:
    from geo._version import __version__

    cfg = results.config
    d = cfg.to_dict()
    out = [_kv([
        ("geo version", __version__),
        ("config file", _Html(f"<code>{_e(d['source'])}</code>") if d.get("source") else "— (given as a Python object)"),
        ("seed", _Html(_plain(cfg.run.seed))),
        ("synthetic demo data", bool(results.synthetic)),
        ("valley seeds", _Html(", ".join(f"{_e(n)}: {_plain(v.seed)}" for n, v in results.valleys.items()) or "—")),
    ])]
    rows = []
    for section in ("run", "firms", "parks", "analysis"):
        for key, val in _flatten(d.get(section, {})):
            rows.append([_Html(f"<code>[{_e(section)}] {_e(key)}</code>"), _Html(_toml(val))])
    out.append(_details("Configuration (the TOML keys)", _table(["parameter", "value"], rows)))
    vrows = [[v.get("name"), v.get("title") or "—", _value_text(v.get("bbox")), v.get("firms") or "—"] for v in d.get("valleys", [])]
    if vrows:
        out.append(_details("Valleys in the configuration", _table(["name", "title", "bbox (lon/lat)", "firm file"], vrows)))
    return "\n".join(out)


def _toml(value) -> str:
    """A configuration value as the TOML file writes it, in ``<code>``; "—" when unset."""
    if value is None or value == "" or (isinstance(value, (list, tuple)) and not value):
        return "—"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(_toml_item(v) for v in value) + "]"
    else:
        text = str(value)
    return f"<code>{_e(text)}</code>"


def _toml_item(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else str(value)


def section_outputs(results, ctx: _Ctx) -> str:
    """The interactive maps and other files, then the run's parameters."""
    return "\n".join([
        _h(ctx.toc, 1, "Outputs and parameters", short="Outputs"),
        _h(ctx.toc, 2, "Interactive maps and other outputs"), _maps(results),
        _h(ctx.toc, 2, "Run and parameters"), _parameters(results),
    ])
