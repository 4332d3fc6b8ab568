"""The founding-years layer: target-sector firms per (cell, year) on a time slider, parks by designation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from geo.outputs._style import TARGET_COLOUR, format_distance, verdict_colour
from geo.outputs.maps._assets import _elements
from geo.outputs.maps._data import _park_rows, _ValleyData
from geo.outputs.maps._frame import _pane
from geo.outputs.maps._geometry import (
    _M_PER_DEG,
    _SIMPLIFY_M,
    _dense_unique,
    _geometries_json,
    _n_distinct,
    _round_coords,
    _to_wgs84,
)
from geo.outputs.maps._html import _js, _year, escape
from geo.outputs.maps.legend import _swatch

__all__ = ["TIMELINE_MAX", "TIMELINE_CELL_M"]


#: the founding-year slider holds at most this many (cell, year) features
TIMELINE_MAX = 4000


#: the first cell side (metres) of the founding-year aggregation
TIMELINE_CELL_M = 250.0


def _timeline_cells(xy: np.ndarray, years: np.ndarray, *, cell_m: float | None = None,
                    max_features: int | None = None) -> tuple[pd.DataFrame, float]:
    """Cumulative firm counts per (cell, year), on a square grid coarsened until it fits.

    Returns a frame with ``x``, ``y`` (cell centre, metres), ``start`` (year),
    ``end`` (the next year with a change in that cell, exclusive), ``n`` (firms founded in
    the cell up to ``start``) and the cell side in metres.  Rows are sorted by cell
    (column, then row) and year.

    The cell side doubles, so the cell of a point at side ``c · 2^k`` is its cell at side
    ``c`` shifted right by ``k`` bits (``floor(floor(x / c) / 2^k) = floor(x / (c · 2^k))``,
    and dividing by a power of two is exact in floating point): the coordinates are
    divided once, and each (cell, year) is counted with one integer key.
    """
    cell = TIMELINE_CELL_M if cell_m is None else float(cell_m)
    cap = TIMELINE_MAX if max_features is None else int(max_features)
    last = int(years.max())
    year = years.astype(int)
    ix0 = np.floor(xy[:, 0] / cell).astype(np.int64)
    iy0 = np.floor(xy[:, 1] / cell).astype(np.int64)
    y0, ny = int(year.min()), int(year.max() - year.min()) + 1
    shift = 0
    while True:
        ix, iy = ix0 >> shift, iy0 >> shift
        x0, nx = int(ix.min()), int(ix.max() - ix.min()) + 1
        yy0, nyy = int(iy.min()), int(iy.max() - iy.min()) + 1
        if nx * nyy * ny >= 1 << 62:  # pragma: no cover - a key would overflow (a continent of 250 m cells)
            msg = f"the founding-year grid of {nx} x {nyy} cells and {ny} years is too large"
            raise OverflowError(msg)
        # (column, row, year) in lexicographic order, as one integer
        key = ((ix - x0) * nyy + (iy - yy0)) * ny + (year - y0)
        # stop when it fits, or when one cell holds everything (then only the years are left),
        # or when coarsening changes nothing more (points on both sides of 0 end in cells -1 and 0)
        settled = x0 >= -1 and x0 + nx <= 1 and yy0 >= -1 and yy0 + nyy <= 1
        if _n_distinct(key) <= cap or nx * nyy == 1 or settled:
            break
        shift += 1
        cell *= 2.0
    inv, count = _dense_unique(key)
    first = np.zeros(len(count), dtype=np.int64)
    first[inv] = np.arange(len(key))  # any point of each (cell, year): decode its cell and year
    gx, gy, start = ix[first], iy[first], year[first]
    same_cell = np.r_[(gx[1:] == gx[:-1]) & (gy[1:] == gy[:-1]), False]  # the next row is the same cell
    total = np.cumsum(count)
    cell_start = np.r_[True, ~same_cell[:-1]] if len(count) else np.zeros(0, dtype=bool)
    n = total - np.maximum.accumulate(np.where(cell_start, total - count, 0)) if len(count) else total
    end = np.where(same_cell, np.r_[start[1:], 0], last + 1)
    out = pd.DataFrame({"x": (gx + 0.5) * cell, "y": (gy + 0.5) * cell, "start": start.astype(np.int64),
                        "end": end.astype(np.int64), "n": n.astype(np.int64)})
    return out, cell


def _timeline_layer(m, vr, results, legend, *, data: _ValleyData | None = None) -> None:
    import folium
    import pyproj
    from folium.plugins import Timeline, TimelineSlider
    from folium.utilities import JsCode

    data = _ValleyData(vr, results) if data is None else data
    fc = results.config.firms
    target = results.config.analysis.target_sector
    fm = data.metric_firms
    if fm is None or fc.founded_column not in fm:
        return
    mask = data.target_mask
    is_target = mask is not None and bool(mask.any())
    if is_target:
        label = f"{target} firms"
    else:
        mask, label = np.ones(len(fm), dtype=bool), "firms"
    years = pd.to_numeric(fm[fc.founded_column], errors="coerce").to_numpy(float)[mask]
    ok = np.isfinite(years) & (years >= 1800) & (years <= 2100)
    if not ok.any():
        return
    from geo.points import point_xy

    xy = (data.target_xy[0] if is_target else np.column_stack(point_xy(fm))[mask])[ok]
    years = years[ok]
    located = np.isfinite(xy).all(axis=1)  # NaN: a firm without a point
    if not located.all():
        xy, years = xy[located], years[located]
    cells, cell_m = _timeline_cells(xy, np.floor(years))
    to_ll = pyproj.Transformer.from_crs(fm.crs, 4326, always_xy=True)
    lon, lat = to_ll.transform(cells["x"].to_numpy(), cells["y"].to_numpy())
    lon, lat = _round_coords(np.column_stack([lon, lat])).T
    first, last = int(cells["start"].min()), int(cells["end"].max()) - 1
    designations: dict[int, list[str]] = {}
    parks_feats = []
    overlay = vr.analysis.parks_overlay
    if len(vr.parks):
        parks = _to_wgs84(vr.parks)
        geoms = _geometries_json(parks.geometry.values, simplify=_SIMPLIFY_M / _M_PER_DEG)
        for (_, park, row), g in zip(_park_rows(parks, overlay), geoms):
            y = _year(park.get("designated"))
            if y is None:
                continue
            designations.setdefault(y, []).append(escape(park.get("name")))
            verdict = None if row is None else row.get("verdict")
            parks_feats.append({"type": "Feature", "geometry": json.loads(g), "properties": {
                "start": y, "end": max(last, y) + 1, "endExclusive": True, "park": 1,
                "c": verdict_colour(verdict), "t": f"<b>{escape(park.get('name'))}</b><br>designated {y}"}})
    if designations:
        first = min(first, min(designations))
        last = max(last, max(designations))
    feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(a), float(b)]},
              "properties": {"start": int(s), "end": int(e) if e <= last else last + 1, "endExclusive": True, "n": int(n)}}
             for a, b, s, e, n in zip(lon, lat, cells["start"], cells["end"], cells["n"])]
    for f in parks_feats:
        f["properties"]["end"] = last + 1
    lab = escape(label)
    tl = Timeline(
        {"type": "FeatureCollection", "features": parks_feats + feats},
        style=JsCode("function (f) { return f.properties.park ? {color: f.properties.c, weight: 3, dashArray: '2 6',"
                     " fill: false} : {color: '#49006a', weight: 1, fillColor: '" + TARGET_COLOUR + "', fillOpacity: 0.65}; }"),
        point_to_layer=JsCode("function (f, latlng) { return L.circleMarker(latlng, {radius: Math.min(3 + 2 *"
                              " Math.sqrt(f.properties.n), 28), pane: " + _js(_pane(m, "geo-firms")) + "}); }"),
        on_each_feature=JsCode("function (f, layer) { layer.bindTooltip(f.properties.t || (f.properties.n + "
                               + _js(f" {lab} founded in this cell up to ") + " + f.properties.start)); }"),
    )
    name = f"Founding years ({lab})"
    fg = folium.FeatureGroup(name=name, show=False)
    tl.add_to(fg)
    fg.add_to(m)
    slider = TimelineSlider(auto_play=False, start=first, end=last, steps=max(last - first, 1), show_ticks=True,
                            playback_duration=max(150 * (last - first), 1000), enable_keyboard_controls=False)
    parks_years = sorted(((n, y) for y, names in designations.items() for n in names), key=lambda p: (p[1], p[0]))
    slider.options["format_output"] = JsCode(
        "function (t) { var y = Math.round(t), P = " + _js(parks_years) + ", now = [], before = [];"
        " P.forEach(function (p) { if (p[1] === y) { now.push(p[0]); } else if (p[1] < y) {"
        " before.push(p[0] + ' (' + p[1] + ')'); } });"
        " var msg = [];"
        " if (now.length) { msg.push('&#9733; designated this year: ' + now.join(', ')); }"
        " if (before.length) { msg.push('after the designation of ' + before.join(', ')); }"
        " if (P.length && !now.length && !before.length) { msg.push('before any park was designated'); }"
        " return '<b>' + y + '</b>' + (msg.length ? '<span class=\"geo-des\">' + msg.join('; ') + '</span>' : ''); }")
    slider.add_timelines(tl)
    slider.add_to(m)
    # start at the last year; turning the slider or pressing play shows the layer
    _elements()["Html"](kind="TimelineStart", js=(
        f"{slider.get_name()}.setTime({last});"
        f"(function () {{ var c = {slider.get_name()}.getContainer(), map = {m.get_name()}, fg = {fg.get_name()};"
        " ['input', 'click'].forEach(function (ev) { c.addEventListener(ev, function () {"
        " if (!map.hasLayer(fg)) { map.addLayer(fg); } }); }); })();")).add_to(m)
    parks_txt = ", ".join(f"{names} ({y})" for y, names in sorted((y, ", ".join(v)) for y, v in designations.items()))
    legend.add(fg, (
        f"<h4>{name}</h4>"
        + _swatch(TARGET_COLOUR, f"{lab} founded up to the year on the slider (circle area ∝ count)", kind="dot")
        + (_swatch("#111111", "park outline (verdict colour), from its designation year", kind="ln",
                   extra="border-top-style:dotted;")
           if parks_feats else "")
        + f"<div class=\"note\">{len(years):,} {lab} with a founding year, counted per "
        f"{format_distance(cell_m)} cell and year ({len(feats):,} features). "
        + (f"Parks designated: {parks_txt}." if parks_txt else "") + "</div>"))
