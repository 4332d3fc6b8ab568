"""The report of a run on given units (``report.html``) and :func:`write_units_outputs`, which writes
every output of the run: ``rejects.csv``, ``layers.gpkg`` (:mod:`geo.outputs.units.layers`), the maps
(``maps/``, :mod:`geo.outputs.units.maps`) and this page (``summary.json`` is written by
:meth:`geo.pipeline.units.UnitsResults.write`).

The report states the input kind and what it allows: the point tests (Ripley, Kd, the parks'
labelling test) need firm points and were not run; the statistics on the units and the park
overlay were.  Every text from the data (unit and park names, ids, reasons) is escaped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from geo._version import __version__
from geo.outputs._labels import P_METHODS, stage_label
from geo.outputs._style import verdict_colour
from geo.outputs.layers import write_layers
from geo.outputs.report._html import CSS, _e, _Html, _kv, _num, _p, _prose, _table
from geo.outputs.units.layers import _layers
from geo.outputs.units.maps import units_map, units_overview_map

__all__ = ["SYNTHETIC_UNITS_BANNER", "WHY_NOT_POINT_TESTS", "render_units_report", "write_units_outputs"]

log = logging.getLogger(__name__)

SYNTHETIC_UNITS_BANNER = "SYNTHETIC DATA — the unit counts are simulated, the parks illustrative, not official"

#: why the point tests do not apply to counts on units (the report's paragraph)
WHY_NOT_POINT_TESTS = (
    "Ripley's K, Duranton–Overman Kd and the parks' labelling test compare distances between firms, or permute which "
    "firms belong to the target sector: they need each firm's location. Counts on districts or grid cells only say how "
    "many firms a unit holds, not where inside it, so these tests cannot be computed; running them on the units' "
    "centroids would test the units' layout, not the firms'. The statistics on the units treat each unit as one "
    "observation (as GeoDa does); their result depends on how the units are drawn (the modifiable areal unit "
    "problem), which is why rates per km² or per population are offered when the units differ in size."
)

# ----------------------------------------------------------------------------- the report
def _moran_rows(a) -> list[list[Any]]:
    rows = []
    for label, r in (a.global_moran or {}).items():
        rows.append([_Html(_prose(label)), _num(r.I), _num(r.EI), _num(r.z_rand), _p(r.p_rand), _p(r.p_sim), r.permutations, r.n])
    return rows


#: the overlay's columns in the report's table (geo.parks.units.units_overlay), with their headers
_OVERLAY_COLUMNS = {"name": "park", "designated": "designated", "n_units": "units under it", "share_hot": "share on hot units",
                    "density_ratio": "density / study area", "value_inside": "value inside", "value_outside": "value outside",
                    "p_fdr": "p density (FDR)", "p_hot_fdr": "p hot share (FDR)", "first_hot_year": "first dense year",
                    "precedence": "precedence", "verdict": "verdict"}


def _cell_value(c: str, v: Any) -> Any:
    from geo.outputs.report._html import _Num

    if c == "share_hot":
        return _Num(_e(f"{float(v):.0%}")) if not pd.isna(v) else "—"
    if c in ("p_fdr", "p_hot_fdr"):
        return _Num(_p(v))
    if c in ("designated", "first_hot_year", "n_units"):
        return "—" if v is None or pd.isna(v) else str(int(v))
    return v


def _overlay_table(ov) -> str:
    frame = pd.DataFrame(ov).reset_index(drop=True)
    cols = [c for c in _OVERLAY_COLUMNS if c in frame]
    rows = [[_cell_value(c, r[c]) for c in cols] for _, r in frame.iterrows()]
    out = [_table([_OVERLAY_COLUMNS[c] for c in cols], rows)]
    for _, r in frame.iterrows():
        parts = []
        shares = r.get("unit_shares")
        if isinstance(shares, dict):
            partial = {k: v for k, v in shares.items() if 0 < v < 0.999}
            if partial:
                parts.append("units crossing its edge, counted by the share of their area inside: "
                             + ", ".join(f"{_e(k)} ({v:.0%})" for k, v in sorted(partial.items(), key=lambda kv: -kv[1])))
        reason = r.get("verdict_reason")
        out.append(f"<p><b>{_e(r.get('name'))}</b>: {_prose(reason) if isinstance(reason, str) else ''}"
                   + (f" <span class=\"meta\">({'; '.join(parts)})</span>" if parts else "") + "</p>")
    return "\n".join(out)


def _rule_words(rule: str) -> str:
    """A verdict rule with the overlay columns it tests (``share_hot >= 0.25``) written as the park table heads them
    (:data:`_OVERLAY_COLUMNS`)."""
    import re

    keys = sorted((k for k in _OVERLAY_COLUMNS if "_" in k), key=len, reverse=True)
    return re.sub(r"\b(" + "|".join(keys) + r")\b", lambda m: _OVERLAY_COLUMNS[m.group(1)], rule)


def _overlay_notes(a) -> str:
    notes = a.overlay_notes or {}
    items = []
    if notes.get("assumption"):
        items.append(("assumption", notes["assumption"]))
    for k, v in (notes.get("nulls") or {}).items():
        items.append((f"null hypothesis ({k})", v))
    items = [(k, _Html(_prose(v))) for k, v in items]
    for k, v in (notes.get("rules") or {}).items():
        items.append((f"verdict rule: {k}", _rule_words(str(v))))
    return "<details><summary>The tests on units: nulls, rules, assumption</summary>" + _kv(items) + "</details>" if items else ""


def _p_methods_text(counts: dict, permutations: int) -> str:
    """``exact (without replacement) for 36 units, no neighbours (no p-value) for 1 unit``: the p-value methods of the units,
    in words (the raw keys ``exact``, ``mc``, ``island`` are those of the layers' ``gi_p_method`` column)."""
    parts = []
    for key, n in counts.items():
        what = P_METHODS.get(str(key), str(key))
        if str(key) == "mc":
            what += f" ({permutations:,} seeded permutations)"
        parts.append(f"{what} for {int(n):,} unit{'' if int(n) == 1 else 's'}")
    return ", ".join(parts) or "—"


def _count_source(lr: dict) -> tuple[str, object]:
    """The data row that says where the counts come from: a layer's column, or a GeoTIFF's band of a year."""
    years = [str(y) for y in (lr.get("year_columns") or {})]
    if lr.get("format") == "geotiff":
        col = str(lr["count_column"])
        band = f"band {years.index(col) + 1} of {len(years)}, " if col in years else ""
        return ("count band", f"{band}the year {col}")
    return ("count column", _Html(f"<code>{_e(lr['count_column'])}</code>"))


def _stage_row(key: str, why: str, point_stages: dict[str, str]) -> list:
    """A skipped stage as the report shows it: its name in words (:func:`geo.outputs._labels.stage_label`, not
    ``ripley_k`` or ``hotspots[2010]``) and why; ``point_stages``: the stages that need firm points
    (``UnitsResults.point_stages``)."""
    name = point_stages.get(key) or stage_label(key)
    if key in point_stages and str(why).startswith("given units: no firm points"):
        why = "needs firm points; this run has counts on given units"
    return [name[0].upper() + name[1:], _Html(_prose(why))]


def _valley_section(res, vu) -> str:
    a = vu.analysis
    parts = [f"<h2>{_e(vu.title)}</h2>"]
    u = vu.units
    facts = [("units", len(u)), ("parks", len(vu.parks) if vu.parks is not None else 0),
             ("metric CRS", vu.metric_crs or "—"), ("variable", _Html(_prose(a.variable_label or "—"))),
             ("p-values", "exact conditional randomisation (integer counts)" if a.integer else
              f"{res.config.analysis.permutations} seeded permutations (values are not integer counts)"),
             ("weights", res.config.cells.weights), ("seed", vu.seed)]
    parts.append(_kv(facts))
    iso = list(a.islands)
    if iso:
        names = u.set_index("unit_id")["name"].reindex(iso).fillna("").tolist()
        parts.append(f"<p><b>Units without a neighbour ({len(iso)})</b> under {_e(res.config.cells.weights)} weights: "
                     + ", ".join(f"{_e(i)} ({_e(n)})" for i, n in zip(iso, names))
                     + ". Their LISA and Gi* are not defined and are left empty, not set to 0; they still count in "
                       "global Moran's I with no neighbour.</p>")
    multi = u.loc[u["multipart"], ["unit_id", "name"]]
    if len(multi):
        parts.append(f"<p><b>Multipart units ({len(multi)})</b>, kept whole (one observation each): "
                     + ", ".join(f"{_e(i)} ({_e(n)})" for i, n in multi.itertuples(index=False)) + ".</p>")
    rows = _moran_rows(a)
    if rows:
        parts.append("<h3>Global Moran's I</h3>" + _table(
            ["variable", "I", "E[I]", "z (randomisation)", "p (randomisation)", "p (permutation)", "permutations", "n"],
            rows))
    if a.units is not None and "gi_bin" in a.units:
        h = a.units
        hot = h.index[h["hot"]].tolist()
        cold = h.index[h["cold"]].tolist()
        hp = a.hotspot_parameters or {}
        parts.append("<h3>Hot and cold spots (Gi*, LISA)</h3>")
        parts.append(f"<p>{len(hot)} hot-spot unit(s) and {len(cold)} cold-spot unit(s) at α = "
                     f"{_num(res.config.analysis.alpha)}{' after Benjamini–Hochberg FDR' if res.config.analysis.fdr else ''}; "
                     "p-values: " + _e(_p_methods_text(hp.get("gi_p_method") or {}, res.config.analysis.permutations))
                     + ".</p>")
        sig = h[h["hot"] | h["cold"]]
        if len(sig):
            parts.append(_table(["unit", "name", "value", "Gi* z", "Gi* p (FDR)", "LISA"],
                                [[i, r["name"], _num(r["value"]), _num(r["gi_z"]), _p(r["gi_p_fdr"]), r["lisa_label"]]
                                 for i, r in sig.iterrows()]))
        labels = h["lisa_label"].value_counts()
        words = {"ns": "not significant", "island": "no neighbour"}
        parts.append("<p>LISA: " + ", ".join(f"{_e(words.get(k, k))} {int(v)}" for k, v in labels.items()) + ".</p>")
    if a.overlay is not None:
        parts.append("<h3>Parks on the units</h3>")
        parts.append("<p>Area-weighted: a unit partly under a park counts with the share of its area inside it.</p>")
        parts.append(_overlay_table(a.overlay))
        notes = pd.DataFrame(a.overlay).get("tests")
        if notes is not None and len(notes.dropna()):
            parts.append("<p><b>Which tests apply.</b> " + _prose(str(notes.dropna().iloc[0])) + "</p>")
        parts.append(_overlay_notes(a))
    skipped = [_stage_row(k, v, res.point_stages) for k, v in vu.skipped.items()]
    if skipped:
        parts.append("<details><summary>Stages not run</summary>"
                     + _table(["stage", "why"], skipped) + "</details>")
    return "\n".join(parts)


def _answer(res) -> str:
    """The findings first (``res.answer``, :func:`geo.parks.units.units_answer`): per valley, its sentence
    and each park's verdict, escaped."""
    items = []
    for f in res.answer:
        parks = ""
        if f.parks:
            parks = "<ul>" + "".join(
                f'<li><span style="color:{verdict_colour(verdict)}">&#9632;</span> {_e(name)}: '
                f"<b>{_e(verdict)}</b></li>" for name, verdict in f.parks) + "</ul>"
        items.append(f"<li><b>{_e(f.title)}</b>: {_prose(f.sentence)}{parks}</li>")
    return "<h2>Answer</h2><ul>" + "".join(items) + "</ul>"


def _data_section(res) -> str:
    lr = res.load_report
    rows = [("file", Path(lr["file"]).name), ("units", lr["unit_kind"]), ("read", lr["units_read"]),
            ("kept", lr["units_loaded"]), ("rejected", lr["units_rejected"]),
            ("nodata cells (not units)", lr.get("nodata_cells", 0)), ("multipart units", lr.get("multipart", 0)),
            ("repaired geometries", lr.get("repaired", 0)), _count_source(lr),
            ("years", ", ".join(map(str, lr.get("year_columns") or {})) or "—"),
            ("integer counts", "yes" if lr.get("integer_counts") else "no"), ("CRS read", lr.get("crs")),
            ("converted from", lr.get("converted_from") or "—")]
    out = ["<h2>Data</h2>", _kv(rows)]
    if len(res.rejects):
        from geo.io.units import UNIT_REJECT_REASONS

        out.append("<p>Rejected units (every one is in rejects.csv with its row number):</p>")
        out.append(_table(["row", "unit", "reason", "detail", "meaning"],
                          [[int(r.row), r.unit_id, _Html(f"<code>{_e(r.reason)}</code>"), _Html(_prose(r.detail)),
                            UNIT_REJECT_REASONS.get(r.reason, "")]
                           for r in res.rejects.itertuples()]))
    if res.warnings:
        out.append("<details><summary>Warnings</summary><ul>" + "".join(f"<li>{_prose(w)}</li>" for w in res.warnings)
                   + "</ul></details>")
    return "\n".join(out)


def render_units_report(res) -> str:
    """The HTML of ``report.html`` for a run on given units."""
    title = res.config.run.title
    banner = f'<div class="banner" role="alert">{_e(SYNTHETIC_UNITS_BANNER)}</div>\n' if res.synthetic else ""
    lr = res.load_report
    head = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n")
    intro = [f"<main>\n<h1>{_e(title)}</h1>",
             (f'<p class="meta">geo {_e(__version__)} · input: given units · {lr["units_loaded"]:,} units · '
              f"{len(res.parks) if res.parks is not None else 0} parks · seed {int(res.config.run.seed)}</p>"),
             f'<p class="input"><b>{_e(res.input_sentence())}</b></p>',
             "<h2>What this input allows</h2>",
             "<p>Run on these units:</p><ul>" + "".join(f"<li>{_e(a)}</li>" for a in res.applies) + "</ul>",
             "<p>Not run (they need firm points):</p><ul>"
             + "".join(f"<li>{_e(v)}</li>" for v in res.point_stages.values()) + "</ul>",
             f"<p>{_e(WHY_NOT_POINT_TESTS)}</p>"]
    intro[3:3] = [_answer(res)]  # the findings right after the input line
    body = [_valley_section(res, vu) for vu in res.valleys.values()]
    an, cc = res.config.analysis, res.config.cells
    weights = {"queen": "queen contiguity (units sharing a point)", "rook": "rook contiguity (units sharing an edge)",
               "knn": f"the {cc.k} nearest units (centroids)",
               "distance": (f"a {cc.distance:g} m distance band between centroids" if cc.distance else
                            "a distance band between centroids: the smallest that leaves no unit alone")}[cc.weights]
    methods = ("<h2>Methods</h2><p>" + _e(
        f"Weights: {weights}, built with libpysal.graph; a unit without a neighbour stays alone (an island: no local "
        f"statistic). Global Moran's I and LISA use row-standardised weights, Gi* binary weights with the unit itself. "
        f"p-values are two-sided; for integer counts they are exact conditional-randomisation p-values, for rates "
        f"{an.permutations} seeded permutations (seed {res.config.run.seed}); "
        + ("the local p-values are adjusted with Benjamini–Hochberg (FDR), and " if an.fdr else
           "the hot spots use the unadjusted local p-values ([analysis] fdr = false): ")
        + f"a unit is a hot (cold) spot when its Gi* is positive (negative) and its p is at most α = {an.alpha:g}.") + "</p>")
    outputs = ("<h2>Outputs</h2><p>layers.gpkg (units with their statistics, parks, rejects, the park overlay), "
               '<a href="maps/index.html">maps/</a> (one map per valley), rejects.csv, summary.json.</p>')
    return (head + banner + "\n".join(intro) + "\n" + "\n".join(body) + "\n" + _data_section(res) + "\n" + methods
            + "\n" + outputs
            + "\n</main>\n</body>\n</html>\n")


def write_units_outputs(res, out: Path) -> dict[str, Path]:
    """Write ``rejects.csv``, ``layers.gpkg``, ``maps/`` (``index.html``: the overview; one map per valley) and
    ``report.html`` of a run on units into ``out``."""
    from geo.outputs import _write as gwrite
    from geo.outputs.maps._assets import save_map

    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {"rejects": gwrite.write_csv(res.rejects, out / "rejects.csv")}
    if res.parks_report.get("file"):
        written["parks_rejects"] = gwrite.write_csv(res.parks_rejects, out / "parks_rejects.csv")
    written["layers"] = write_layers(_layers(res), out / "layers.gpkg")
    maps = out / "maps"
    maps.mkdir(exist_ok=True)
    if res.valleys:  # the overview of the valleys, linking to each valley's map, as on a firm run
        written["map_index"] = save_map(units_overview_map(res), maps / "index.html")
    for name in res.valleys:
        written[f"map_{name}"] = save_map(units_map(res, name), maps / f"{gwrite.safe_name(name)}.html")
    target = out / "report.html"
    with gwrite.atomic_path(target) as tmp:
        tmp.write_text(render_units_report(res), encoding="utf-8")
    written["report"] = target
    return written
