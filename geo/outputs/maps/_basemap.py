"""The basemap under the maps: its tiles, their attribution, the GCJ-02 shift, the offline fallback.

``[maps] basemap`` (or ``--basemap``) chooses the tiles (:func:`basemap_spec`):

* ``"osm"`` -- OpenStreetMap (WGS84; the default);
* ``"amap"`` -- Amap/Gaode.  Its tiles are drawn in GCJ-02, China's obfuscated datum, so
  for display every layer is shifted from WGS84 to GCJ-02 with
  :func:`geo.crs.wgs84_to_gcj02` (as Amap's own apps do); the numbers, tooltips, rasters
  and ``layers.gpkg`` stay WGS84;
* ``"tianditu"`` -- Tianditu, China's national basemap, with its labels.  It is in CGCS2000,
  which differs from WGS84 by centimetres: no shift.  It needs a key (``[maps] tianditu_key``
  or the ``TIANDITU_KEY`` environment variable), which ends up in the map pages' tile URLs;
* ``"none"`` -- no tiles;
* a URL template with ``{x}``, ``{y}`` and ``{z}`` (``{s}`` for subdomains ``abc``),
  credited with ``[maps] attribution``; taken to be in WGS84 / Web Mercator.

Whatever the basemap, the maps carry an offline fallback: each study area's extent (the
box of its firms; on given units, the union of the units) and its park outlines, inlined,
in a pane under the tiles, so they show
where tiles are missing; the overview also gets the land around the valleys from Natural
Earth's 1:110m land (``data/land_110m.geojson``, public domain; too coarse for a valley's map).  When tiles fail to load (offline, or a blocked tile server), a note
"basemap tiles could not be loaded" appears and the minimap is hidden.

The shift is applied while a map is drawn (:func:`on_basemap` wraps the functions that draw
a whole map): every coordinate written through ``_geometry._round_coords`` (GeoJSON, firm
points, the time slider's circles), the view, and the markers and image overlays the layers
add, are shifted; nothing is changed in the results.  The shift itself
(:func:`display_lonlat`) lives in ``_shift``, below ``_geometry``.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np

from geo.config import BASEMAPS
from geo.outputs.maps._html import _js, escape
from geo.outputs.maps._shift import _CURRENT, display_bounds, display_lonlat

__all__ = ["BASEMAPS", "TILES_NOTE", "TILE_ERRORS_NOTE", "Basemap", "TileSpec", "add_basemap", "basemap_spec",
           "display_bounds", "display_lonlat", "on_basemap", "tianditu_key"]

#: failed tiles before the note is shown
TILE_ERRORS_NOTE = 3

#: the note shown when tiles fail
TILES_NOTE = "basemap tiles could not be loaded"

_OSM_ATTR = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
_AMAP_ATTR = '&copy; <a href="https://www.amap.com/">高德地图 AutoNavi</a> (GCJ-02: the layers are shifted to it for display)'
_TIANDITU_ATTR = '&copy; <a href="https://www.tianditu.gov.cn/">天地图 Tianditu</a> (CGCS2000)'
_TIANDITU_URL = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}"
                 "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}")


@dataclass(frozen=True)
class TileSpec:
    """One tile layer: URL template, attribution (HTML), subdomains, maximum zoom, whether it is labels."""

    url: str
    attribution: str
    subdomains: str = "abc"
    max_zoom: int = 18
    labels: bool = False


@dataclass(frozen=True)
class Basemap:
    """The basemap of the maps: ``name`` (a :data:`BASEMAPS` name or ``"url"``), its tile layers
    (none for ``"none"``) and whether the layers are shifted to GCJ-02 for display."""

    name: str
    tiles: tuple[TileSpec, ...] = ()
    gcj02: bool = False

    @property
    def title(self) -> str:
        return {"osm": "OpenStreetMap", "amap": "Amap (高德)", "tianditu": "Tianditu (天地图)"}.get(self.name, "Basemap")


def tianditu_key(key: str = "") -> str:
    """The Tianditu key: ``key`` (``[maps] tianditu_key``) or the ``TIANDITU_KEY`` environment variable."""
    return key or os.environ.get("TIANDITU_KEY", "")


def basemap_spec(basemap: str = "osm", *, tianditu_key: str = "", attribution: str = "") -> Basemap:
    """The :class:`Basemap` of ``[maps] basemap`` (assumed valid: :mod:`geo.config` checks it).

    Parameters
    ----------
    basemap : str, default "osm"
        ``"osm"``, ``"amap"``, ``"tianditu"``, ``"none"`` or a tile URL template.
    tianditu_key : str, default ""
        For ``"tianditu"``; the ``TIANDITU_KEY`` environment variable when empty.
    attribution : str, default ""
        Credit for a URL template (plain text; its host when empty).

    Raises
    ------
    geo.errors.ConfigError
        ``"tianditu"`` without a key.

    Examples
    --------
    >>> basemap_spec("amap").gcj02, basemap_spec("osm").gcj02, basemap_spec("none").tiles
    (True, False, ())
    """
    if basemap == "osm":
        return Basemap("osm", (TileSpec("https://tile.openstreetmap.org/{z}/{x}/{y}.png", _OSM_ATTR, "", 19),))
    if basemap == "amap":
        url = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
        return Basemap("amap", (TileSpec(url, _AMAP_ATTR, "1234", 18),), gcj02=True)
    if basemap == "tianditu":
        key = _tianditu_key(tianditu_key)
        return Basemap("tianditu", tuple(
            TileSpec(_TIANDITU_URL.replace("{layer}", layer).replace("{key}", key), _TIANDITU_ATTR, "01234567", 18,
                     labels=layer == "cva") for layer in ("vec", "cva")))
    if basemap == "none":
        return Basemap("none")
    from urllib.parse import urlsplit

    credit = escape(attribution) if attribution else f"Tiles: {escape(urlsplit(basemap).netloc or basemap)}"
    return Basemap("url", (TileSpec(basemap, credit, "abc", 19),))


def _tianditu_key(key: str) -> str:
    from geo.config import MapsConfig, check_maps

    check_maps(MapsConfig(basemap="tianditu", tianditu_key=key))  # the one message when there is none
    return tianditu_key(key)


def _config_spec(config) -> Basemap:
    maps = getattr(config, "maps", None)
    if maps is None:
        return basemap_spec("osm")
    return basemap_spec(maps.basemap, tianditu_key=maps.tianditu_key, attribution=maps.attribution)


# ----------------------------------------------------------------------------- the GCJ-02 shift
# the current basemap and the shift itself (display_lonlat, display_bounds) are in ``_shift``, under
# ``_geometry``, which writes every coordinate through it
def _descendants(element) -> list:
    out, stack = [], [element]
    while stack:
        el = stack.pop()
        out.append(el)
        stack.extend(getattr(el, "_children", {}).values())
    return out


def _shift_elements(m, before: set[int]) -> None:
    """Shift the markers' locations and the image overlays' bounds added to ``m`` since ``before``
    (in one conversion: each call of the compiled converter has a fixed cost)."""
    from folium import Map, Marker
    from folium.raster_layers import ImageOverlay

    markers, overlays, lonlat = [], [], []
    for el in _descendants(m):
        if id(el) in before or isinstance(el, Map):
            continue
        if isinstance(el, Marker) and el.location is not None:
            markers.append(el)
            lonlat.append([el.location[1], el.location[0]])
        elif isinstance(el, ImageOverlay):
            overlays.append(el)
            (s, w), (n, e) = el.bounds
            lonlat += [[w, s], [e, n]]
    if not lonlat:
        return
    c = display_lonlat(np.array(lonlat, dtype=float))
    for i, el in enumerate(markers):
        el.location = [round(float(c[i, 1]), 6), round(float(c[i, 0]), 6)]
    for j, el in enumerate(overlays):
        (w, s), (e, n) = c[len(markers) + 2 * j], c[len(markers) + 2 * j + 1]
        el.bounds = [[float(s), float(w)], [float(n), float(e)]]


def on_basemap(draw):
    """Decorate a function ``draw(results, ..., m=None, ...)`` that draws a whole map.

    While it runs, the basemap of ``results.config`` (or of ``m``, when ``m`` was made by geo)
    is the current one: ``_base_map`` adds its tiles, ``_round_coords`` shifts what it writes;
    afterwards the markers and image overlays it added are shifted, and the offline fallback
    (the study areas and parks of the valleys drawn) is added to a map made here.
    """

    @functools.wraps(draw)
    def wrapper(results, *args, m=None, **kwargs):
        spec = _config_spec(results.config) if m is None else getattr(m, "_geo_basemap", None)
        token = _CURRENT.set(spec)
        try:
            before = set() if m is None else {id(el) for el in _descendants(m)}
            out = draw(results, *args, m=m, **kwargs)
            if spec is not None and spec.gcj02:
                _shift_elements(out, before)
            if m is None:
                valley = args[0] if args else kwargs.get("valley")
                _fallback_layer(out, results, list(results.valleys) if valley is None else [valley], overview=valley is None)
            return out
        finally:
            _CURRENT.reset(token)

    return wrapper


# ----------------------------------------------------------------------------- tiles and fallback
_CSS = """<style>
.geo-tiles-note { display: none; position: absolute; left: 50%; bottom: 28px; transform: translateX(-50%);
  z-index: 1000; background: rgba(255,255,255,0.95); border: 1px solid #b2182b; border-radius: 4px; padding: 3px 9px;
  font: 12px Arial, sans-serif; color: #b2182b; pointer-events: none; white-space: nowrap; }
.geo-no-tiles .geo-tiles-note { display: block; }
.geo-no-tiles .leaflet-control-minimap { display: none !important; }
.leaflet-container.geo-no-tiles, .leaflet-container.geo-basemap-none { background: #e9edf0; }
</style>"""


def add_basemap(m) -> Basemap:
    """Add the current basemap's tiles (default OpenStreetMap), the tile-failure note and the minimap to ``m``.

    Returns the basemap added and records it on ``m`` (``m._geo_basemap``).
    """
    import folium
    from branca.element import Element
    from folium import plugins
    from folium.utilities import JsCode

    from geo.outputs.maps._assets import _elements

    spec = _CURRENT.get() or basemap_spec("osm")
    m._geo_basemap = spec
    m.get_root().header.add_child(Element(_CSS), name="geo_basemap_css")
    layers = []
    for t in spec.tiles:
        layer = folium.TileLayer(t.url, attr=t.attribution, name=spec.title, subdomains=t.subdomains or "abc",
                                 max_zoom=t.max_zoom, max_native_zoom=t.max_zoom, overlay=t.labels, control=not t.labels)
        layer.add_to(m)
        layers.append(layer)
    if layers:
        note = _js(f"{TILES_NOTE} — the outlines shown are drawn offline")
        js = (f"(function () {{ var map = {m.get_name()}, box = map.getContainer(), n = 0;"
              " var note = document.createElement('div'); note.className = 'geo-tiles-note';"
              f" note.setAttribute('role', 'status'); note.textContent = {note}; box.appendChild(note);"
              f" [{', '.join(layer.get_name() for layer in layers)}].forEach(function (layer) {{"
              f" layer.on('tileerror', function () {{ n += 1; if (n >= {TILE_ERRORS_NOTE}) {{"
              " box.classList.add('geo-no-tiles'); } }); }); })();")
        t = spec.tiles[0]
        plugins.MiniMap(tile_layer=folium.TileLayer(t.url, attr=t.attribution, subdomains=t.subdomains or "abc",
                                                    max_zoom=t.max_zoom),
                        toggle_display=True, position="topleft", width=120, height=120, zoom_level_offset=-6,
                        minimized=JsCode("window.innerWidth < 700")).add_to(m)  # collapsed on a narrow screen
    else:  # no tiles: no minimap either, the study areas show on a plain background
        js = f"{m.get_name()}.getContainer().classList.add('geo-basemap-none');"
    _elements()["Html"](js=js, kind="BasemapNote").add_to(m)
    return spec


@functools.cache
def _land():
    """Natural Earth 1:110m land (one MultiPolygon, lon/lat, 0.01 degree precision), read once."""
    from importlib.resources import files

    import shapely

    text = files("geo.outputs.maps").joinpath("data", "land_110m.geojson").read_text(encoding="utf-8")
    return shapely.union_all(shapely.get_parts(shapely.from_geojson(text)))  # its one feature


def _land_around(bounds: list[float], *, margin: float = 2.0):
    """The land within ``bounds`` (west, south, east, north) widened by ``margin`` times its size
    (at least 5 degrees) on each side: the view and some zooming out."""
    import shapely

    w, s, e, n = bounds
    dx, dy = max(e - w, 5.0) * margin, max(n - s, 5.0) * margin
    clipped = shapely.clip_by_rect(_land(), w - dx, max(s - dy, -85.0), e + dx, min(n + dy, 85.0))
    return None if clipped.is_empty else clipped


def _study_outline(vr) -> tuple[object, list[float]] | None:
    """The offline outline of a valley and its (west, south, east, north), in WGS84: the box of its
    firms widened by 0.01 degree, or, for a valley of given units (no ``firms``), the union of its
    units; None when it has neither."""
    import shapely

    firms = getattr(vr, "firms", None)
    if firms is not None:
        if not len(firms):
            return None
        from geo.outputs.maps._data import _firm_coords
        from geo.outputs.maps._geometry import _robust_bounds

        b = _robust_bounds(_firm_coords(firms)[0])
        return None if b is None else (shapely.box(*b).buffer(0.01, join_style="mitre"), b)
    units = getattr(vr, "units", None)
    if units is None or not len(units):
        return None
    from geo.outputs.maps._geometry import _to_wgs84

    arr = np.asarray(_to_wgs84(units).geometry.values)
    try:
        area = shapely.coverage_union_all(arr)  # units tile the study area: the fast union
    except shapely.errors.GEOSException:  # not a coverage (overlapping units): the general union
        area = None
    if area is None or not area.is_valid:
        area = shapely.union_all(arr)
    return area, [float(x) for x in area.bounds]


def _fallback_layer(m, results, valleys: list[str], *, overview: bool) -> None:
    """The study areas (:func:`_study_outline`) and their parks, in a pane under the tiles;
    on the overview, the land around them too."""
    from folium.map import CustomPane

    from geo.outputs.maps._assets import _elements
    from geo.outputs.maps._geometry import (
        _M_PER_DEG,
        _SIMPLIFY_M,
        _feature_collection,
        _geometries_json,
        _to_wgs84,
    )

    geoms, props, boxes = [], [], []
    for name in valleys:
        vr = results.valleys.get(name)
        if vr is None or not len(getattr(vr, "firms", getattr(vr, "units", ()))):
            continue
        outline = _study_outline(vr)
        if outline is not None:
            geoms.append(outline[0])
            props.append({"k": "area"})
            boxes.append(outline[1])
        if len(vr.parks):
            for g in _to_wgs84(vr.parks).geometry.values:
                geoms.append(g)
                props.append({"k": "park"})
    if not geoms:
        return
    if overview:
        arr = np.asarray(boxes, dtype=float)
        land = _land_around([arr[:, 0].min(), arr[:, 1].min(), arr[:, 2].max(), arr[:, 3].max()])
        if land is not None:
            geoms.insert(0, land)
            props.insert(0, {"k": "land"})
    CustomPane("geo-fallback", z_index=150, pointer_events=False).add_to(m)
    styles = {"land": {"color": "#a0a0a0", "weight": 0.8, "fillColor": "#fbfaf6", "fillOpacity": 1.0},
              "area": {"color": "#8c8c8c", "weight": 1.5, "dashArray": "4 4", "fillColor": "#ffffff", "fillOpacity": 0.5},
              "park": {"color": "#5a5a5a", "weight": 1, "fill": False}}
    _elements()["GeoJsonLayer"](_feature_collection(_geometries_json(geoms, simplify=_SIMPLIFY_M / _M_PER_DEG), props),
                                styles, pane="geo-fallback", interactive=False).add_to(m)
