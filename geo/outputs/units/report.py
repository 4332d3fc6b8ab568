"""The outputs of a run on given units (``[cells] path``): ``layers.gpkg``, one map per valley and
their overview (``maps/``, drawn by :mod:`geo.outputs.maps`' machinery, as on a firm run),
``report.html``, ``rejects.csv`` (``summary.json`` is written by
:meth:`geo.pipeline.units.UnitsResults.write`).

The report states the input kind and what it allows: the point tests (Ripley, Kd, the parks'
labelling test) need firm points and were not run; the statistics on the units and the park
overlay were.  Every text from the data (unit and park names, ids, reasons) is escaped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo._docs import shared_doc
from geo._version import __version__
from geo.outputs._labels import P_METHODS, stage_label
from geo.outputs._style import (
    GI_COLOURS,
    GI_LABELS,
    LISA_COLOURS,
    LISA_LABELS,
    format_pct,
    verdict_colour,
)
from geo.outputs.maps._assets import _elements
from geo.outputs.maps._basemap import _study_outline, on_basemap
from geo.outputs.maps._data import _valley
from geo.outputs.maps._frame import _MAP_DOC, _base_map, _pane, _rename_clashes
from geo.outputs.maps._geometry import (
    _M_PER_DEG,
    _SIMPLIFY_M,
    _feature_collection,
    _gdf_bounds,
    _geometries_json,
    _union_bounds,
)
from geo.outputs.maps._html import _missing, _year, escape
from geo.outputs.maps._html import _num as _num_map
from geo.outputs.maps._html import _p as _p_map
from geo.outputs.maps.layers import _cell_layer, _parks_layer
from geo.outputs.maps.legend import _finish, _legend, _swatch, _title_html
from geo.outputs.maps.overview import _valleys_layer
from geo.outputs.report._html import CSS, _e, _Html, _kv, _num, _p, _prose, _table
from geo.outputs.units.layers import _layers, _unit_layer

__all__ = ["SYNTHETIC_UNITS_BANNER", "WHY_NOT_POINT_TESTS", "render_units_report", "units_map", "units_overview_map",
           "write_units_outputs"]

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

# ----------------------------------------------------------------------------- the map
#: above this many units, the map draws only the significant units and the islands (a city's 0.01° grid
#: holds ~10,000 cells: every cell would make a map of tens of MB that opens slowly)
MAP_UNITS_MAX = 5_000

#: a unit without a neighbour (an island): grey, dashed outline
_ISLAND_COLOUR = "#bdbdbd"

#: the columns a unit's tooltip reads
_TIP_COLUMNS = ["unit_id", "name", "count", "value", "gi_bin", "gi_z", "gi_p_fdr", "lisa_label", "lisa_I", "lisa_p_fdr",
                "note"]


def _unit_tip(r: dict, label: str, *, rate: bool) -> str:
    """A unit's tooltip (escaped HTML): its name and id, value (and count for a rate), Gi* class with its
    z and FDR p, LISA label, and its note (why an island has no local statistic)."""
    name = r.get("name")
    head = f"<b>{escape(name)}</b> · unit {escape(r.get('unit_id'))}" if not _missing(name) and str(name) else \
        f"<b>unit {escape(r.get('unit_id'))}</b>"
    lines = [head, f"{escape(label)}: {_num_map(r.get('value'))}"]
    if rate and not _missing(r.get("count")):
        lines.append(f"count: {_num_map(r.get('count'))}")
    b = r.get("gi_bin")
    if not _missing(b):
        lines.append(f"{escape(GI_LABELS.get(int(b), ''))}: Gi* z = {_num_map(r.get('gi_z'))}, "
                     f"{_p_map(r.get('gi_p_fdr'))} (FDR)")
    lab = r.get("lisa_label")
    if not _missing(lab) and str(lab) in LISA_LABELS:
        lines.append(f"LISA: {escape(LISA_LABELS[str(lab)])}")
    if not _missing(r.get("note")) and str(r.get("note")):
        lines.append(f'<span style="color:#444">{escape(r.get("note"))}</span>')
    return "<br>".join(lines)


def _park_words(park, row, *, long: bool) -> str:
    """A park's tooltip (``long=False``) or popup (``long=True``) on given units, escaped: its verdict,
    the share of its area on hot-spot units, its density against the study area's, the precedence."""
    year = _year(park.get("designated"))
    lines = [f"<b>{escape(park.get('name'))}</b>", f"designated: {year if year is not None else 'unknown'}"]
    if row is None:
        if long:
            lines.append('<span style="color:#444">no park statistics for this valley</span>')
        return "<br>".join(lines)
    verdict = row.get("verdict")
    if not _missing(verdict):
        lines.append(f'verdict: <b style="color:{verdict_colour(verdict)}">{escape(verdict)}</b>')
    if not _missing(row.get("share_hot")):
        lines.append(f"{escape(format_pct(row.get('share_hot')))} of its area lies on hot-spot units "
                     f"({_p_map(row.get('p_hot_fdr'))}, FDR)")
    if not _missing(row.get("density_ratio")):
        lines.append(f"firm density {_num_map(row.get('density_ratio'))} times the study area's "
                     f"({_p_map(row.get('p_fdr'))}, FDR)")
    if not _missing(row.get("precedence")):
        lines.append(f"precedence: {escape(row.get('precedence'))}")
    if long and not _missing(row.get("verdict_reason")):  # it gives the precedence's reason
        lines.append(f'<span style="color:#444">{escape(row.get("verdict_reason"))}</span>')
    return "<br>".join(lines)


def _gi_units_layer(m, units, legend, *, label: str, rate: bool, n_all: int) -> None:
    """Every unit drawn (or, when thinned, the significant ones and the islands) coloured by its Gi* bin,
    the islands grey and dashed; units without statistics in light grey."""
    import folium

    has_gi = "gi_bin" in units
    bins = units["gi_bin"] if has_gi else pd.Series(np.nan, index=units.index)
    islands = units["island"].to_numpy(bool) if "island" in units else np.zeros(len(units), dtype=bool)
    keys = ["island" if isl else ("none" if pd.isna(b) else str(int(b))) for b, isl in zip(bins, islands)]
    cols = [c for c in _TIP_COLUMNS if c in units]
    tips = [_unit_tip(r, label, rate=rate) for r in pd.DataFrame(units[cols]).to_dict(orient="records")]
    geoms = _geometries_json(units.geometry.values, simplify=_SIMPLIFY_M / _M_PER_DEG)
    styles = {str(b): {"color": "#777777", "weight": 0.6, "fillColor": c, "fillOpacity": 0.75} for b, c in GI_COLOURS.items()}
    styles["island"] = {"color": "#555555", "weight": 1.5, "dashArray": "4 3", "fillColor": _ISLAND_COLOUR, "fillOpacity": 0.5}
    styles["none"] = {"color": "#777777", "weight": 0.6, "fillColor": GI_COLOURS[0], "fillOpacity": 0.3}
    name = f"Gi* hot/cold spots ({escape(label)})" if has_gi else "Units"
    fg = folium.FeatureGroup(name=name, show=True)
    _elements()["GeoJsonLayer"](_feature_collection(geoms, [{"k": k, "t": t} for k, t in zip(keys, tips)]), styles,
                                pane=_pane(m, "geo-cells")).add_to(fg)
    fg.add_to(m)
    present = set(keys)
    rows = [_swatch(c, escape(GI_LABELS[b])) for b, c in GI_COLOURS.items() if str(b) in present]
    if "island" in present:
        rows.append(_swatch(_ISLAND_COLOUR, "no neighbour (island): no local statistic",
                            extra="border:1px dashed #555;"))
    if "none" in present and has_gi:
        rows.append(_swatch(GI_COLOURS[0], "no statistic"))
    if not has_gi:
        note = "no statistics on these units (the report says why)"
    elif len(units) < n_all:
        note = (f"{n_all:,} units: only the {len(units):,} significant ones and the islands are drawn "
                "(all in layers.gpkg)")
    else:
        note = f"{n_all:,} units; bins from FDR-adjusted p-values when FDR is on; ArcGIS colours"
    legend.add(fg, f"<h4>{name}</h4>{''.join(rows)}<div class=\"note\">{note}</div>")


def _lisa_units_layer(m, units, legend, *, label: str, rate: bool) -> None:
    """The significant LISA units (off at first): the firm maps' cell layer on units."""
    drawn = {k: c for k, c in LISA_COLOURS.items() if k != "ns"}
    sig = units.loc[units["lisa_label"].astype(str).isin(list(drawn))]
    sig = sig.assign(lisa_label=sig["lisa_label"].astype(str))
    _cell_layer(m, legend, sig, "lisa_label", drawn, LISA_LABELS, lambda r: _unit_tip(r, label, rate=rate),
                lambda n, merged: f"local Moran's I of {escape(label)}; {n:,} significant units"
                                  f"{' (merged by label)' if merged else ''}; ns not drawn.",
                name="LISA clusters", show=False, columns=_TIP_COLUMNS)


@on_basemap
@shared_doc(**_MAP_DOC)
def units_map(res, valley: str, *, m=None):
    """A folium map of one valley of given units, drawn like the firm maps (:mod:`geo.outputs.maps`):
    the basemap of ``[maps] basemap`` with its offline outline (the union of the units) and
    tile-failure note, the units coloured by Gi* bin (islands dashed grey), the LISA units (off
    at first), the parks by verdict above the units (hover and click inside a park reach the
    park: its verdict, hot share, density ratio and precedence), a legend per layer and the
    title.  Above :data:`MAP_UNITS_MAX` units only the significant units (Gi* or LISA) and the
    islands are drawn (the legend says so); every unit is in ``layers.gpkg``.

    Parameters
    ----------
    res : geo.pipeline.units.UnitsResults
    valley : str
        The valley's name.
    {m}

    {returns}

    {raises_valley}
    """
    vu = _valley(res, valley)
    own = m is None
    a = vu.analysis
    units = _unit_layer(vu)
    bounds = [float(x) for x in units.total_bounds]  # the view: every unit
    n_all = len(units)
    if n_all > MAP_UNITS_MAX and "gi_bin" in units:
        keep = (units["gi_bin"].fillna(0).to_numpy() != 0) | (units["lisa_label"].astype(str) != "ns").to_numpy()
        keep |= units["island"].to_numpy(bool) if "island" in units else False
        units = units[keep].reset_index(drop=True)
    m = _base_map(bounds, m)
    before = set(m._children)
    legend = _legend("Legend")
    label = a.variable_label or "value"
    rate = a.variable == "rate"
    n_parks = len(vu.parks) if vu.parks is not None else 0
    if n_parks:
        _parks_layer(m, vu.parks, a.overlay, None, legend, describe=_park_words)
    _gi_units_layer(m, units, legend, label=label, rate=rate, n_all=n_all)
    if "lisa_label" in units:
        _lisa_units_layer(m, units, legend, label=label, rate=rate)
    why = vu.skipped.get("statistics") or vu.skipped.get("hotspots")
    if why:
        legend.add(None, f'<div class="note"><b>Not shown</b> — {escape(why)}</div>')
    _rename_clashes(m, before, escape(vu.name))
    sub = f"{n_all:,} unit{'s' if n_all != 1 else ''} · {n_parks} park{'s' if n_parks != 1 else ''}"
    _finish(m, legend, _title_html(vu.title, sub, res.synthetic, "index.html"), own)
    return m


def _units_summary(vu) -> str:
    """A valley's summary on the overview (escaped HTML): units, hot and cold units, each park's verdict."""
    a = vu.analysis
    lines = [f"<b>{escape(vu.title)}</b>", f"{len(vu.units):,} units"]
    if a.units is not None and "hot" in a.units:
        lines.append(f"{int(a.units['hot'].sum()):,} hot-spot and {int(a.units['cold'].sum()):,} cold-spot units")
    parks = vu.parks if vu.parks is not None else pd.DataFrame()
    lines.append(f"{len(parks)} park{'s' if len(parks) != 1 else ''}")
    ov = a.overlay
    for idx, park in parks.iterrows():
        verdict = ov.loc[idx, "verdict"] if ov is not None and idx in ov.index and "verdict" in ov else None
        if isinstance(verdict, pd.Series):  # a repeated index: the first
            verdict = verdict.iloc[0]
        v = escape(verdict) if not _missing(verdict) else "no verdict"
        lines.append(f'· {escape(park.get("name"))}: <span style="color:{verdict_colour(verdict)}">{v}</span>')
    why = vu.skipped.get("statistics") or vu.skipped.get("hotspots")
    if why:
        lines.append(f'<span style="color:#666">{escape(why)}</span>')
    return "<br>".join(lines)


@on_basemap
@shared_doc(**_MAP_DOC)
def units_overview_map(res, *, m=None):
    """All valleys of a run on given units on one map (``maps/index.html``), as the firm runs'
    overview: each valley's outline (the union of its units; its tooltip a summary) and a
    labelled marker linking to its map, the parks by verdict, the title of the run.

    Parameters
    ----------
    res : geo.pipeline.units.UnitsResults
    {m}

    {returns}
    """
    from geo.outputs._write import safe_name, url_name

    own = m is None
    entries = []
    for name, vu in res.valleys.items():
        outline = _study_outline(vu)
        if outline is not None:
            entries.append((vu.title, url_name(f"{safe_name(name)}.html"), outline[0], outline[1], _units_summary(vu)))
    m = _base_map(_union_bounds(*[e[3] for e in entries], _gdf_bounds(res.parks)), m)
    before = set(m._children)
    legend = _legend("Legend")
    n_parks = len(res.parks) if res.parks is not None else 0
    if n_parks:
        overlays = [vu.analysis.overlay for vu in res.valleys.values() if vu.analysis.overlay is not None]
        ov = pd.concat(overlays) if overlays else None
        if ov is not None:
            ov = ov[~ov.index.duplicated(keep="first")]
        _parks_layer(m, res.parks, ov, None, legend, describe=_park_words)
    n = _valleys_layer(m, entries, legend, area_label="study area: the union of its units")
    _rename_clashes(m, before, "overview")
    n_units = sum(len(vu.units) for vu in res.valleys.values())
    sub = f"{n} valle{'ys' if n != 1 else 'y'} · {n_units:,} units · {n_parks} park{'s' if n_parks != 1 else ''}"
    _finish(m, legend, _title_html(res.config.run.title, sub, res.synthetic, None), own)
    return m


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
    """The findings first: per valley, the hot-spot units and each park's verdict in a sentence."""
    items = []
    for vu in res.valleys.values():
        a = vu.analysis
        if a.units is None or "hot" not in a.units:
            items.append(f"<li><b>{_e(vu.title)}</b>: {_prose(vu.skipped.get('statistics') or vu.skipped.get('hotspots', ''))}</li>")
            continue
        head = (f"<b>{_e(vu.title)}</b>: {int(a.units['hot'].sum())} of {len(a.units)} units are hot spots of "
                f"{_prose(a.variable_label)}")
        if a.global_moran:
            (gm,) = a.global_moran.values()
            head += f" (global Moran's I = {_num(gm.I)}, p = {_p(gm.p_sim if gm.permutations else gm.p_rand)})"
        parks = ""
        if a.overlay is not None and len(a.overlay):
            parks = "<ul>" + "".join(
                f'<li><span style="color:{verdict_colour(r.get("verdict"))}">&#9632;</span> {_e(r.get("name"))}: '
                f"<b>{_e(r.get('verdict'))}</b></li>" for _, r in pd.DataFrame(a.overlay).iterrows()) + "</ul>"
        items.append(f"<li>{head}.{parks}</li>")
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
    from geo.outputs.layers import write_layers
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
