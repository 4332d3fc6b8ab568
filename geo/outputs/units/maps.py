"""The maps of a run on given units (``maps/``): one per valley (:func:`units_map`) and their overview
(:func:`units_overview_map`), drawn by :mod:`geo.outputs.maps`' machinery, as on a firm run.  Every text
from the data (unit and park names, ids, reasons) is escaped."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo._docs import shared_doc
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
from geo.outputs.units.layers import _unit_layer

__all__ = ["MAP_UNITS_MAX", "units_map", "units_overview_map"]


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
