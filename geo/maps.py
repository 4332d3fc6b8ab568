"""Interactive Folium maps: one overview map and one map per valley.

Every string that comes from the data (firm, park and sector names) is HTML-escaped before
it reaches a tooltip, popup or legend.  Maps are built by public functions that return
``folium.Map`` objects and accept an existing map (``m=``) so analysts can add layers.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["valley_map", "overview_map", "write_maps", "save_map", "inline_assets", "SECTOR_COLOURS", "escape"]

#: qualitative palette (ColorBrewer Set1 + Dark2) for sectors, assigned in sorted order
SECTOR_COLOURS = [
    "#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#999999",
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02",
]

#: above this many firms a valley map shows a heat map instead of individual points
POINTS_MAX = 3000


#: folium's default assets that our maps do not use (icons, Bootstrap): left out to keep maps small
_UNUSED_ASSETS = {"bootstrap", "bootstrap_css", "glyphicons_css", "awesome_markers", "awesome_markers_css",
                  "awesome_markers_font_css", "awesome_rotate_css"}


def _asset_cache() -> dict[str, str]:
    """URL -> content of the Leaflet assets, from the folium-offline package (no network)."""
    global _ASSETS
    if _ASSETS is None:
        try:
            from offlinefolium.elements import _res
        except ImportError:  # pragma: no cover - declared dependency
            _res = {}
        _ASSETS = dict(_res)
    return _ASSETS


_ASSETS: dict[str, str] | None = None
_SCRIPT = re.compile(r'<script src="(https?://[^"]+)"></script>')
_LINK = re.compile(r'<link rel="stylesheet" href="(https?://[^"]+)"/>')


def inline_assets(page: str) -> str:
    """Replace CDN <script>/<link> tags by the assets' content, so the map opens offline.

    Analysts in mainland China often cannot reach the CDNs folium links to; an inlined
    map opens at once anywhere.  Only the basemap tiles still need the network.
    """
    cache = _asset_cache()

    def script(mt):
        body = cache.get(mt.group(1))
        return mt.group(0) if body is None else "<script>" + body.replace("</script", "<\\/script") + "</script>"

    def link(mt):
        body = cache.get(mt.group(1))
        return mt.group(0) if body is None else "<style>" + body.replace("</style", "<\\/style") + "</style>"

    return _LINK.sub(link, _SCRIPT.sub(script, page))


def save_map(m, path: str | Path) -> Path:
    """Render ``m`` with its assets inlined and write it atomically."""
    from geo.io import atomic_path

    page = inline_assets(m.get_root().render())
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(path)


def escape(value: Any) -> str:
    """HTML-escape a value from the data (quotes too), for tooltips, popups and legends."""
    return html.escape("" if value is None else str(value), quote=True)


def _valley(results, valley: str):
    try:
        return results.valleys[valley]
    except KeyError:
        from geo.errors import InputError

        msg = f"No valley {valley!r} in these results; valleys are {list(results.valleys)}."
        raise InputError(msg) from None


def _base_map(bounds, m=None):
    import folium
    from folium import plugins

    if m is not None:
        return m
    lon0, lat0, lon1, lat1 = bounds
    m = folium.Map(location=[(lat0 + lat1) / 2, (lon0 + lon1) / 2], zoom_start=11, tiles=None, control_scale=True)
    m.default_js = [(k, v) for k, v in m.default_js if k not in _UNUSED_ASSETS]
    m.default_css = [(k, v) for k, v in m.default_css if k not in _UNUSED_ASSETS]
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap").add_to(m)
    m.fit_bounds([[lat0, lon0], [lat1, lon1]])
    plugins.Fullscreen().add_to(m)
    plugins.MiniMap(toggle_display=True).add_to(m)
    return m


def _parks_layer(parks, name: str = "Parks"):
    import folium

    fg = folium.FeatureGroup(name=name, show=True)
    for _, park in parks.iterrows():
        year = park.get("designated")
        year_txt = "unknown" if pd.isna(year) else str(int(year))
        tip = f"<b>{escape(park['name'])}</b><br>designated: {escape(year_txt)}"
        if park.get("verdict") is not None and str(park.get("verdict")) != "nan":
            tip += f"<br>verdict: {escape(park['verdict'])}"
        gj = folium.GeoJson(
            json.loads(_round_geojson(park.geometry)),
            style_function=lambda _f: {"color": "#222222", "weight": 2, "fillColor": "#ffd92f", "fillOpacity": 0.15, "dashArray": "6 4"},
            tooltip=folium.Tooltip(tip, sticky=True),
        )
        gj.add_to(fg)
    return fg


def _round_geojson(geom, precision: int = 6) -> str:
    """GeoJSON of ``geom`` with coordinates rounded to ``precision`` decimals (~0.1 m)."""
    import shapely

    return shapely.to_geojson(shapely.transform(geom, lambda c: np.round(c, precision)))


def _firms_layers(firms, sector_column: str = "sector", name_column: str = "name"):
    import folium
    from folium import plugins

    layers = []
    if len(firms) == 0:
        return layers
    lat = np.round(firms["lat"].to_numpy(float), 6)
    lon = np.round(firms["lon"].to_numpy(float), 6)
    if len(firms) > POINTS_MAX:
        fg = folium.FeatureGroup(name=f"Firm density (heat map, {len(firms):,} firms)", show=True)
        plugins.HeatMap(np.column_stack([lat, lon]).tolist(), radius=8, blur=10, min_opacity=0.25).add_to(fg)
        layers.append(fg)
        return layers
    sectors = sorted(firms[sector_column].astype(str).unique()) if sector_column in firms else ["firms"]
    colour = {s: SECTOR_COLOURS[i % len(SECTOR_COLOURS)] for i, s in enumerate(sectors)}
    fg = folium.FeatureGroup(name=f"Firms ({len(firms):,}, coloured by sector)", show=True)
    names = firms[name_column].astype(str).to_numpy() if name_column in firms else [""] * len(firms)
    secs = firms[sector_column].astype(str).to_numpy() if sector_column in firms else ["firms"] * len(firms)
    for y, x, nm, sec in zip(lat, lon, names, secs):
        folium.CircleMarker(
            [float(y), float(x)], radius=3, weight=0, fill=True, fill_opacity=0.8, fill_color=colour[sec],
            tooltip=folium.Tooltip(f"{escape(nm)}<br><i>{escape(sec)}</i>"),
        ).add_to(fg)
    layers.append(fg)
    return layers


def valley_map(results, valley: str, *, m=None):
    """The interactive map of one valley: parks and firms (and later stages' layers).

    Parameters
    ----------
    results : geo.pipeline.Results
    valley : str
        A valley name of the run.
    m : folium.Map, optional
        Draw onto this map instead of a new one.

    Returns
    -------
    folium.Map
    """
    import folium

    vr = _valley(results, valley)
    fc = results.config.firms
    bounds = vr.firms.total_bounds if len(vr.firms) else vr.parks.total_bounds
    m = _base_map(bounds, m)
    for layer in _firms_layers(vr.firms, fc.sector_column, fc.name_column):
        layer.add_to(m)
    if len(vr.parks):
        _parks_layer(vr.parks).add_to(m)
    title = escape(vr.title)
    banner = " — synthetic demo data" if results.synthetic else ""
    m.get_root().html.add_child(
        folium.Element(
            f'<div style="position:fixed;top:10px;left:60px;z-index:9999;background:white;padding:4px 10px;'
            f'border-radius:4px;box-shadow:0 0 4px #888;font:14px sans-serif"><b>{title}</b>{banner}'
            f' · <a href="index.html">all valleys</a></div>'
        )
    )
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def overview_map(results, *, m=None):
    """All valleys on one map; each valley's outline links to its own map."""
    import folium

    from geo.io import safe_name

    b = results.firms.total_bounds if len(results.firms) else [70, 15, 135, 55]
    m = _base_map(b, m)
    fg = folium.FeatureGroup(name="Valleys", show=True)
    for name, vr in results.valleys.items():
        if not len(vr.firms):
            continue
        x0, y0, x1, y1 = vr.firms.total_bounds
        link = f"{safe_name(name)}.html"
        popup = f'<b>{escape(vr.title)}</b><br>{len(vr.firms):,} firms, {len(vr.parks)} park(s)<br><a href="{escape(link)}" target="_self">open the valley map</a>'
        folium.Rectangle([[y0, x0], [y1, x1]], color="#d7301f", weight=2, fill=True, fill_opacity=0.05,
                         tooltip=escape(vr.title), popup=folium.Popup(popup, max_width=300)).add_to(fg)
        folium.CircleMarker([(y0 + y1) / 2, (x0 + x1) / 2], radius=9, color="#d7301f", fill=True, fill_opacity=0.8,
                            tooltip=escape(vr.title), popup=folium.Popup(popup, max_width=300)).add_to(fg)
    fg.add_to(m)
    if len(results.parks):
        _parks_layer(results.parks).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def write_maps(results, out_dir: str | Path) -> dict[str, Path]:
    """Write ``index.html`` and one ``<valley>.html`` per valley into ``out_dir``."""
    from geo.io import safe_name

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {"map_index": save_map(overview_map(results), out / "index.html")}
    for name in results.valleys:
        if not len(results.valleys[name].firms):
            continue
        written[f"map_{name}"] = save_map(valley_map(results, name), out / f"{safe_name(name)}.html")
    return written
