"""The outputs of a run on given units (``[cells] path``): ``layers.gpkg``, one map per valley,
``report.html``, ``rejects.csv`` (``summary.json`` is written by
:meth:`geo.pipeline.units.UnitsResults.write`).

The report states the input kind and what it allows: the point tests (Ripley, Kd, the parks'
labelling test) need firm points and were not run; the statistics on the units and the park
overlay were.  Every text from the data (unit and park names, ids, reasons) is escaped.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo import __version__
from geo.outputs._style import (
    GI_COLOURS,
    LISA_COLOURS,
    PARK_EDGE_COLOUR,
    verdict_colour,
)
from geo.outputs.report._html import CSS, _e, _kv, _num, _p, _table

__all__ = ["SYNTHETIC_UNITS_BANNER", "WHY_NOT_POINT_TESTS", "render_units_report", "units_map", "write_units_outputs"]

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

_GI_NAMES = {3: "hot spot, 99 %", 2: "hot spot, 95 %", 1: "hot spot, 90 %", 0: "not significant",
             -1: "cold spot, 90 %", -2: "cold spot, 95 %", -3: "cold spot, 99 %"}


# ----------------------------------------------------------------------------- layers
def _unit_layer(vu) -> Any:
    """The units of one valley with their statistics, in EPSG:4326 (no index, dicts as JSON)."""
    a = vu.analysis
    frame = a.units if a.units is not None else vu.units
    out = frame.to_crs("EPSG:4326").reset_index(drop=True)
    if "gi_bin" in out:
        out["gi_bin"] = out["gi_bin"].astype("float64")
    out["valley"] = vu.name
    return out


def _overlay_layer(vu) -> Any:
    import geopandas as gpd

    ov = pd.DataFrame(vu.analysis.overlay).copy()
    for c in ov.columns:
        if ov[c].map(lambda v: isinstance(v, (dict, list, tuple))).any():
            ov[c] = ov[c].map(lambda v: json.dumps(v, default=str) if isinstance(v, (dict, list, tuple)) else v)
    ov.attrs = {}
    geo = vu.parks.geometry.reindex(ov.index).to_numpy()  # the overlay is indexed like the parks (names may repeat)
    out = gpd.GeoDataFrame(ov.reset_index(drop=True), geometry=list(geo), crs=vu.parks.crs)
    out["valley"] = vu.name
    return out


def _layers(res) -> dict[str, Any]:
    import geopandas as gpd

    layers: dict[str, Any] = {}
    units = [_unit_layer(vu) for vu in res.valleys.values()]
    if units:
        layers["units"] = gpd.GeoDataFrame(pd.concat(units, ignore_index=True), crs="EPSG:4326")
    if res.parks is not None and len(res.parks):
        layers["parks"] = res.parks
    layers["rejects"] = res.rejects
    ov = [_overlay_layer(vu) for vu in res.valleys.values() if vu.analysis.overlay is not None]
    if ov:
        layers["parks_overlay"] = pd.concat(ov, ignore_index=True)
    return layers


# ----------------------------------------------------------------------------- the map
def _display(gdf, gcj02: bool):
    """Geometries as the basemap shows them: shifted to GCJ-02 for Amap tiles."""
    if not gcj02:
        return gdf
    import shapely

    from geo.crs import wgs84_to_gcj02

    def shift(xy: np.ndarray) -> np.ndarray:
        x, y = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return gdf.set_geometry(shapely.transform(np.asarray(gdf.geometry.values), shift))


def _props(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Tooltip properties: text escaped (folium writes them as HTML), numbers rounded."""
    from geo.outputs.maps import escape

    out = pd.DataFrame(index=frame.index)
    for c in columns:
        if c not in frame:
            continue
        v = frame[c]
        if pd.api.types.is_bool_dtype(v):
            out[c] = np.where(v.to_numpy(bool), "yes", "no")
        elif pd.api.types.is_numeric_dtype(v):
            out[c] = [("—" if pd.isna(x) else f"{float(x):.4g}") for x in v.astype("float64")]
        else:
            out[c] = [escape(x) for x in v]
    return out


#: above this many units, the map draws only the significant units and the islands (a city's 0.01° grid
#: holds ~10,000 cells: every cell would make a map of tens of MB that opens slowly)
MAP_UNITS_MAX = 5_000


def units_map(res, valley: str):
    """A folium map of one valley: the units coloured by Gi* bin (islands dashed grey), the
    LISA clusters (off at first) and the parks' outlines.  Above :data:`MAP_UNITS_MAX` units
    only the significant units (Gi* or LISA) and the islands are drawn (the legend says so);
    every unit is in ``layers.gpkg``.

    Parameters
    ----------
    res : geo.pipeline.units.UnitsResults
    valley : str
        The valley's name.

    Returns
    -------
    folium.Map
    """
    import folium
    import geopandas as gpd

    from geo.outputs.maps import escape
    from geo.outputs.maps._assets import _UNUSED_ASSETS
    from geo.outputs.maps._basemap import basemap_spec

    cfg = res.config
    spec = basemap_spec(cfg.maps.basemap, tianditu_key=cfg.maps.tianditu_key, attribution=cfg.maps.attribution)
    vu = res.valleys[valley]
    import shapely

    units = _unit_layer(vu)
    x0, y0, x1, y1 = _display(units, spec.gcj02).total_bounds  # the view: every unit
    thinned = len(units) > MAP_UNITS_MAX and "gi_bin" in units
    if thinned:
        keep = (units["gi_bin"].fillna(0).to_numpy() != 0) | (units["lisa_label"].astype(str) != "ns").to_numpy()
        units = units[keep].reset_index(drop=True)
    units = _display(units, spec.gcj02)
    units = units.set_geometry(shapely.set_precision(np.asarray(units.geometry.values), 1e-6))  # ~0.1 m: smaller pages
    m = folium.Map(location=[(y0 + y1) / 2, (x0 + x1) / 2], tiles=None, control_scale=True)
    m.default_js = [(k, v) for k, v in m.default_js if k not in _UNUSED_ASSETS]  # as the firm maps: no bootstrap
    m.default_css = [(k, v) for k, v in m.default_css if k not in _UNUSED_ASSETS]
    for t in spec.tiles:
        folium.TileLayer(t.url, attr=t.attribution, name=spec.title, subdomains=t.subdomains or "abc",
                         max_zoom=t.max_zoom, overlay=t.labels, control=not t.labels).add_to(m)
    label = vu.analysis.variable_label or "value"
    cols = ["unit_id", "name", "count", "value", "gi_z", "gi_p_fdr", "lisa_label", "note"]
    shown = [c for c in cols if c in units]
    aliases = {"unit_id": "unit", "name": "name", "count": "count", "value": label, "gi_z": "Gi* z",
               "gi_p_fdr": "Gi* p (FDR)", "lisa_label": "LISA", "note": "note"}

    def gi_style(feature: dict) -> dict:
        p = feature["properties"]
        if p.get("_island"):
            return {"fillColor": "#bdbdbd", "color": "#555555", "weight": 1.5, "dashArray": "4 3", "fillOpacity": 0.5}
        b = p.get("_bin")
        colour = GI_COLOURS.get(int(b), GI_COLOURS[0]) if b is not None else GI_COLOURS[0]
        return {"fillColor": colour, "color": "#777777", "weight": 0.6, "fillOpacity": 0.75}

    data = gpd.GeoDataFrame(_props(units, shown), geometry=units.geometry.values, crs=units.crs)
    bins = units["gi_bin"] if "gi_bin" in units else pd.Series(np.nan, index=units.index)
    data["_bin"] = [None if pd.isna(b) else int(b) for b in bins]
    data["_island"] = units["island"].to_numpy(bool) if "island" in units else False
    data["_lisa"] = units["lisa_label"].astype(str).to_numpy() if "lisa_label" in units else "ns"
    tip = folium.GeoJsonTooltip(fields=shown, aliases=[escape(aliases[c]) for c in shown], sticky=True)
    folium.GeoJson(data.to_json(default=str), name=escape(f"Gi* hot/cold spots ({label})"), style_function=gi_style,
                   tooltip=tip).add_to(m)
    if "lisa_label" in units:
        def lisa_style(feature: dict) -> dict:
            lab = feature["properties"].get("_lisa", "ns")
            return {"fillColor": LISA_COLOURS.get(lab, "#ffffff"), "color": "#777777", "weight": 0.6,
                    "fillOpacity": 0.0 if lab in ("ns", "island") else 0.75}

        folium.GeoJson(data.to_json(default=str), name="LISA clusters", style_function=lisa_style, show=False,
                       tooltip=folium.GeoJsonTooltip(fields=shown, aliases=[escape(aliases[c]) for c in shown])).add_to(m)
    if vu.parks is not None and len(vu.parks):
        parks = _display(vu.parks.to_crs("EPSG:4326"), spec.gcj02)
        ov = vu.analysis.overlay
        if ov is not None and "verdict" in ov:
            parks = parks.assign(verdict=ov["verdict"].reindex(parks.index).to_numpy())
        pcols = [c for c in ("name", "designated", "verdict") if c in parks]
        pdata = gpd.GeoDataFrame(_props(parks, pcols), geometry=parks.geometry.values, crs="EPSG:4326")
        pdata["_colour"] = [verdict_colour(v) if "verdict" in parks else PARK_EDGE_COLOUR
                            for v in parks.get("verdict", pd.Series(index=parks.index, dtype=object))]
        folium.GeoJson(pdata.to_json(default=str), name="Parks",
                       style_function=lambda f: {"color": f["properties"]["_colour"], "weight": 3, "fill": False},
                       tooltip=folium.GeoJsonTooltip(fields=pcols) if pcols else None).add_to(m)
    m.fit_bounds([[y0, x0], [y1, x1]])
    legend = "".join(f'<div><span style="background:{GI_COLOURS[b]};display:inline-block;width:12px;height:12px;'
                     f'margin-right:5px"></span>{_e(_GI_NAMES[b])}</div>' for b in (3, 2, 1, 0, -1, -2, -3))
    if len(vu.analysis.islands):  # the dashed grey swatch only when a unit is drawn so
        legend += ('<div><span style="background:#bdbdbd;border:1px dashed #555;display:inline-block;width:12px;'
                   'height:12px;margin-right:5px"></span>no neighbour (island)</div>')
    verdicts = [] if vu.analysis.overlay is None else list(dict.fromkeys(vu.analysis.overlay["verdict"].dropna()))
    legend += "".join(f'<div><span style="border:3px solid {verdict_colour(v)};display:inline-block;width:12px;'
                      f'height:8px;margin-right:5px"></span>park: {_e(v)}</div>' for v in verdicts)
    box = (f'<div style="position:fixed;bottom:24px;right:10px;z-index:1000;background:#fff;padding:6px 9px;'
           f'font:12px Arial,sans-serif;border:1px solid #999;border-radius:4px"><b>{_e(vu.title)}</b><br>'
           f"Gi* of {_e(label)}{legend}"
           + (f"<i>{len(vu.units):,} units: only the {len(units):,} significant ones and the islands are drawn "
              "(all in layers.gpkg)</i>" if thinned else "") + "</div>")
    m.get_root().html.add_child(folium.Element(box))
    folium.LayerControl(collapsed=False).add_to(m)
    return m


# ----------------------------------------------------------------------------- the report
def _moran_rows(a) -> list[list[Any]]:
    rows = []
    for label, r in (a.global_moran or {}).items():
        rows.append([label, _num(r.I), _num(r.EI), _num(r.z_rand), _p(r.p_rand), _p(r.p_sim), r.permutations, r.n])
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
        out.append(f"<p><b>{_e(r.get('name'))}</b>: {_e(reason) if isinstance(reason, str) else ''}"
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
    for k, v in (notes.get("rules") or {}).items():
        items.append((f"verdict rule: {k}", _rule_words(str(v))))
    return "<details><summary>The tests on units: nulls, rules, assumption</summary>" + _kv(items) + "</details>" if items else ""


#: how each unit's local p-value was computed (``gi_p_method`` of :func:`geo.stats.autocorr.hotspots`), in words
_P_METHODS = {"exact": "exact conditional randomisation", "exact_wr": "exact (with-replacement approximation)",
              "mc": "{permutations:,} seeded permutations", "normal": "normal approximation (no permutations)",
              "island": "none (no neighbour)"}


def _p_methods_text(counts: dict, permutations: int) -> str:
    """``exact conditional randomisation for 36 units, none (no neighbour) for 1 unit``: the p-value methods of the units,
    in words (the raw keys ``exact``, ``mc``, ``island`` are those of the layers' ``gi_p_method`` column)."""
    parts = []
    for key, n in counts.items():
        what = _P_METHODS.get(str(key), str(key)).format(permutations=permutations)
        parts.append(f"{what} for {int(n):,} unit{'' if int(n) == 1 else 's'}")
    return ", ".join(parts) or "—"


def _count_source(lr: dict) -> tuple[str, str]:
    """The data row that says where the counts come from: a layer's column, or a GeoTIFF's band of a year."""
    years = [str(y) for y in (lr.get("year_columns") or {})]
    if lr.get("format") == "geotiff":
        col = str(lr["count_column"])
        band = f"band {years.index(col) + 1} of {len(years)}, " if col in years else ""
        return ("count band", f"{band}the year {col}")
    return ("count column", lr["count_column"])


#: the stages of a run on units that are not point stages, in words (the keys are ``UnitsValley.skipped``'s)
_UNIT_STAGES = {"statistics": "spatial statistics", "global_moran": "global Moran's I", "hotspots": "hot spots (Gi*, LISA)",
                "parks": "parks on the units", "precedence": "precedence test (yearly hot spots)"}


def _stage_row(key: str, why: str, point_stages: dict[str, str]) -> list[str]:
    """A skipped stage as the report shows it: its name in words (not ``ripley_k`` or ``hotspots[2010]``) and why;
    ``point_stages``: the stages that need firm points, in words (``UnitsResults.point_stages``)."""
    if key in point_stages:
        what = point_stages[key]
        return [what[0].upper() + what[1:], "needs firm points; this run has counts on given units"
                if str(why).startswith("given units: no firm points") else str(why)]
    if key.startswith("hotspots[") and key.endswith("]"):
        return [f"hot spots of {key[len('hotspots['):-1]}", str(why)]
    name = _UNIT_STAGES.get(key, key.replace("_", " "))
    return [name[0].upper() + name[1:], str(why)]


def _valley_section(res, vu) -> str:
    a = vu.analysis
    parts = [f"<h2>{_e(vu.title)}</h2>"]
    u = vu.units
    facts = [("units", len(u)), ("parks", len(vu.parks) if vu.parks is not None else 0),
             ("metric CRS", vu.metric_crs or "—"), ("variable", a.variable_label or "—"),
             ("p-values", "exact conditional randomisation (integer counts)" if a.integer else
              f"{res.config.analysis.permutations} seeded permutations (values are not integer counts)"),
             ("weights", res.config.cells.weights), ("seed", vu.seed)]
    parts.append(_kv(facts))
    iso = list(a.islands)
    if iso:
        names = u.set_index("unit_id")["name"].reindex(iso).fillna("").tolist()
        parts.append(f"<p><b>Units without a neighbour ({len(iso)})</b> under {_e(res.config.cells.weights)} weights: "
                     + ", ".join(f"{_e(i)} ({_e(n)})" for i, n in zip(iso, names))
                     + ". Their LISA and Gi* are not defined and are left empty (NaN), not set to 0; they still count in "
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
            parts.append("<p><b>Which tests apply.</b> " + _e(str(notes.dropna().iloc[0])) + "</p>")
        parts.append(_overlay_notes(a))
    skipped = [_stage_row(k, v, res.point_stages) for k, v in vu.skipped.items()]
    if skipped:
        parts.append("<details><summary>Stages not run</summary>" + _table(["stage", "why"], skipped) + "</details>")
    return "\n".join(parts)


def _answer(res) -> str:
    """The findings first: per valley, the hot-spot units and each park's verdict in a sentence."""
    items = []
    for vu in res.valleys.values():
        a = vu.analysis
        if a.units is None or "hot" not in a.units:
            items.append(f"<li><b>{_e(vu.title)}</b>: {_e(vu.skipped.get('statistics') or vu.skipped.get('hotspots', ''))}</li>")
            continue
        head = (f"<b>{_e(vu.title)}</b>: {int(a.units['hot'].sum())} of {len(a.units)} units are hot spots of "
                f"{_e(a.variable_label)}")
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
                          [[int(r.row), r.unit_id, r.reason, r.detail, UNIT_REJECT_REASONS.get(r.reason, "")]
                           for r in res.rejects.itertuples()]))
    if res.warnings:
        out.append("<details><summary>Warnings</summary><ul>" + "".join(f"<li>{_e(w)}</li>" for w in res.warnings)
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
    """Write ``rejects.csv``, ``layers.gpkg``, ``maps/`` and ``report.html`` of a run on units into ``out``."""
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
    first = None
    for name in res.valleys:
        p = save_map(units_map(res, name), maps / f"{gwrite.safe_name(name)}.html")
        written[f"map_{name}"] = p
        first = first or p
    if first is not None:  # the first valley's map opens as the index
        with gwrite.atomic_path(maps / "index.html") as tmp:
            tmp.write_bytes(first.read_bytes())
        written["map_index"] = maps / "index.html"
    target = out / "report.html"
    with gwrite.atomic_path(target) as tmp:
        tmp.write_text(render_units_report(res), encoding="utf-8")
    written["report"] = target
    return written
