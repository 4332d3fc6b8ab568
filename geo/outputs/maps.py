"""Interactive Folium maps: an overview of all valleys and one map per valley.

:func:`valley_map` and :func:`overview_map` return ``folium.Map`` objects and accept an
existing map (``m=``), so analysts can add their own layers before saving;
:func:`write_maps` (used by ``Results.write``) saves ``index.html`` and one
``<valley>.html`` per valley with every Leaflet asset inlined (:func:`inline_assets`),
so the maps open offline; only the basemap tiles need the network.

Layers of a valley map
----------------------
Each layer is named in the layer control and has a legend entry, shown while the layer is on.
A layer appears when the stage that feeds it ran (a valley with fewer than 30 firms has no
hot spots, so its map has no Gi*, LISA or cluster layers).

* **Parks** -- park polygons coloured by verdict (:data:`VERDICT_COLOURS`); the tooltip
  gives the name, designation year, verdict and its key numbers, the popup the reasoning.
* **Gi\\* hot/cold spots (<target> firms)** -- cells coloured by ``gi_bin`` with the ArcGIS
  Hot Spot Analysis palette (:data:`GI_COLOURS`).  Not significant cells (bin 0) are
  omitted to keep the file small.  Above :data:`CELLS_MAX` significant cells, cells of
  equal bin are merged into one polygon (their tooltips then give the bin and cell count).
* **LISA clusters** -- significant local Moran cells, GeoDa colours (:data:`LISA_COLOURS`):
  HH red, LL blue, LH light blue, HL pink; "ns" omitted; merged like Gi* above the cap.
* **Clusters** -- the cluster polygons (contiguous hot cells), outlined; dashed when the
  cluster lies outside every park.
* **Firms** -- a target-sector layer and an all-sectors layer.  Each is drawn by count
  (:func:`firm_layer_mode`): individual circle markers coloured by sector with name
  tooltips up to :data:`POINTS_MAX` firms, marker clusters (``FastMarkerCluster``, circle
  markers, sector tooltips) up to :data:`CLUSTER_MAX`, above that a heat map of the firms
  binned to at most :data:`HEAT_BINS_MAX` weighted cells.
* **Firm density (KDE)** -- the kernel density of :func:`geo.stats.density.kernel_density`
  (Silverman bandwidth) rendered by :func:`geo.outputs.raster.density_to_png` as an image overlay
  (a ``data:`` URI), for all firms (the run's ``density`` stage when there is one, the same
  surface as in the report) and for the target sector (its own bandwidth).
* **Founding years (<target> firms)** -- a time slider (Leaflet.timeline): target-sector
  firms aggregated to (cell, year) counts, drawn as circles sized by the cumulative number
  of firms founded up to the year shown; park outlines appear in their designation year and
  the slider names the parks designated in the year shown.  The cell side starts at 250 m
  and doubles until there are at most :data:`TIMELINE_MAX` features.

Size budget: coordinates are rounded to 6 decimals (about 0.1 m), polygons simplified to
0.5 m (finer than a screen pixel at zoom 18), and the firm layers are clustered or binned
above the thresholds, so a valley map with 1,000,000 firms stays well under 10 MB
(``benchmarks/bench_maps.py``, ``docs/benchmarks.md``).

Safety: every string from the data (firm, park and sector names, verdict text, valley
titles) goes through :func:`escape` before it reaches a tooltip, popup, legend or layer
name, and all data embedded in the page's scripts is JSON with ``<``, ``>`` and ``&``
written as ``\\u003c`` ..., so a name like ``</script>`` cannot close the script element.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import json
import logging
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.outputs._style import (
    GI_COLOURS,
    GI_LABELS,
    LISA_COLOURS,
    LISA_LABELS,
    MODEL_COLOURS,
    NO_VERDICT_COLOUR,
    SECTOR_COLOURS,
    TARGET_COLOUR,
    VERDICT_COLOURS,
    format_distance,
    format_number,
    format_pct,
    p_phrase,
    verdict_colour,
)

__all__ = [
    "valley_map",
    "overview_map",
    "write_maps",
    "save_map",
    "inline_assets",
    "escape",
    "firm_layer_mode",
    "SECTOR_COLOURS",
    "GI_COLOURS",
    "GI_LABELS",
    "LISA_COLOURS",
    "LISA_LABELS",
    "VERDICT_COLOURS",
    "POINTS_MAX",
    "CLUSTER_MAX",
    "HEAT_BINS_MAX",
    "CELLS_MAX",
    "TIMELINE_MAX",
]

log = logging.getLogger(__name__)

#: LISA labels drawn on the maps ("ns" is not drawn)
_LISA_DRAWN = {k: c for k, c in LISA_COLOURS.items() if k != "ns"}

#: a firm layer with at most this many firms shows individual markers with name tooltips
POINTS_MAX = 3000
#: ... above POINTS_MAX and up to this many, clustered markers; above, a binned heat map
CLUSTER_MAX = 50_000
#: a heat map layer holds at most this many weighted points (firms binned to a grid)
HEAT_BINS_MAX = 25_000
#: above this many significant cells, cells of equal Gi* bin / LISA label are merged
CELLS_MAX = 3000
#: the founding-year slider holds at most this many (cell, year) features
TIMELINE_MAX = 4000
#: the longest side of a density image in pixels
KDE_MAX_PX = 1024
#: the Matplotlib colormap of the density overlays (light = low, so the basemap shows through)
KDE_CMAP = "YlGnBu"
#: the first cell side (metres) of the founding-year aggregation
TIMELINE_CELL_M = 250.0

#: coordinates are rounded to this many decimals (~0.1 m)
_PRECISION = 6
#: polygons are simplified to this tolerance in metres (finer than a pixel at zoom 18)
_SIMPLIFY_M = 0.5
_M_PER_DEG = 111_320.0

#: folium's default assets that our maps do not use (icons, Bootstrap): left out to keep maps small
#: (jQuery stays: folium's popups need it)
_UNUSED_ASSETS = {"bootstrap", "bootstrap_css", "glyphicons_css", "awesome_markers", "awesome_markers_css",
                  "awesome_markers_font_css", "awesome_rotate_css"}


# ----------------------------------------------------------------------------- assets and saving
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
#: a ``url(...)`` in a stylesheet
_CSS_URL = re.compile(r"""url\(\s*(["']?)([^"')]*)\1\s*\)""")

#: the minimap's toggle button (an arrow to the bottom right; the control rotates it), drawn for geo
_TOGGLE_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 18 18">'
               '<path d="M5 5L12 12" stroke="#333" stroke-width="2.2" stroke-linecap="round"/>'
               '<path d="M14 8v6H8z" fill="#333"/></svg>')
_TOGGLE_URI = "data:image/svg+xml;base64," + base64.b64encode(_TOGGLE_SVG.encode("ascii")).decode("ascii")
#: files that inlined stylesheets refer to relative to their CDN folder -> a data: URI standing in
#: for them (inlined, a relative url() would point next to the map, where there is no such file)
_CSS_FILES = {"images/toggle.svg": _TOGGLE_URI, "images/toggle.png": _TOGGLE_URI}


def _css_urls(css: str, url: str) -> str:
    """``css`` with its relative ``url()`` references to files replaced by :data:`_CSS_FILES`."""

    def sub(mt):
        ref = mt.group(2)
        if re.match(r"(?i)(data:|https?:|//|#)", ref):
            return mt.group(0)
        uri = _CSS_FILES.get(ref)
        if uri is None:
            log.warning("file %r of stylesheet %s not available offline: left as it is", ref, url)
            return mt.group(0)
        return f'url("{uri}")'

    return _CSS_URL.sub(sub, css)


def inline_assets(page: str) -> str:
    """Replace CDN ``<script>``/``<link>`` tags by the assets' content, so the map opens offline.

    Analysts in mainland China often cannot reach the CDNs folium links to; an inlined
    map opens at once anywhere.  Only the basemap tiles still need the network.  Assets
    missing from the offline cache keep their CDN tag (and are logged).  Files that an
    inlined stylesheet refers to by a relative ``url()`` (the minimap's toggle icon) become
    ``data:`` URIs, since no such file lies next to the map.

    Parameters
    ----------
    page : str
        A rendered folium page (``m.get_root().render()``).

    Returns
    -------
    str
    """
    cache = _asset_cache()

    def script(mt):
        body = cache.get(mt.group(1))
        if body is None:
            log.warning("asset not available offline, left as a link: %s", mt.group(1))
            return mt.group(0)
        return "<script>" + body.replace("</script", "<\\/script") + "</script>"

    def link(mt):
        body = cache.get(mt.group(1))
        if body is None:
            log.warning("asset not available offline, left as a link: %s", mt.group(1))
            return mt.group(0)
        body = _css_urls(body, mt.group(1))
        return "<style>" + body.replace("</style", "<\\/style") + "</style>"

    return _LINK.sub(link, _SCRIPT.sub(script, page))


def save_map(m, path: str | Path) -> Path:
    """Render ``m`` with its assets inlined (:func:`inline_assets`) and write it atomically.

    Parameters
    ----------
    m : folium.Map
    path : str or pathlib.Path

    Returns
    -------
    pathlib.Path
    """
    from geo.outputs._write import atomic_path

    page = inline_assets(m.get_root().render())
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(path)


# ----------------------------------------------------------------------------- escaping
_JS_TEMPLATE_CHARS = str.maketrans({"`": "&#96;", "$": "&#36;", "\\": "&#92;", "{": "&#123;", "}": "&#125;"})


def escape(value: Any) -> str:
    """HTML-escape a value from the data for a tooltip, popup, legend or layer name.

    ``& < > " '`` become character references (``html.escape``), and so do the
    characters that are special inside JavaScript template literals (backtick, ``$`` and
    backslash), because folium writes tooltip and popup HTML into such literals, and the
    braces, because folium parses what its elements render once more as a Jinja template
    (a name like ``{{ 7*7 }}`` would otherwise be evaluated).  The result renders as the
    original text.  Missing values (None, NaN, ``pd.NA``) give "".

    Parameters
    ----------
    value : Any

    Returns
    -------
    str

    Examples
    --------
    >>> escape('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    >>> escape("${alert(1)} `x`")
    '&#36;&#123;alert(1)&#125; &#96;x&#96;'
    """
    if _missing(value):
        return ""
    return html.escape(str(value), quote=True).translate(_JS_TEMPLATE_CHARS)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    kind = type(value)
    if kind is float:  # the common cases first: pd.isna is NaN for a float, False for these
        return value != value
    if kind is int or kind is str or kind is bool:
        return False
    try:
        return bool(pd.api.types.is_scalar(value) and pd.isna(value))
    except (TypeError, ValueError):
        return False


#: ``json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)``, made once
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _js(obj: Any) -> str:
    """Compact JSON safe to embed in a ``<script>`` element (``<``, ``>``, ``&`` escaped)."""
    text = _JSON.encode(obj)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


# ----------------------------------------------------------------------------- formatting
def _num(v: Any) -> str:
    """A number for a tooltip (:func:`geo.outputs._style.format_number`, escaped)."""
    return escape(format_number(v))


def _p(v: Any) -> str:
    """``p = 0.032`` / ``p < 1e-300`` for a tooltip (:func:`geo.outputs._style.p_phrase`, escaped)."""
    return escape(p_phrase(v))


def _year(v: Any) -> int | None:
    if _missing(v):
        return None
    try:
        y = float(v)
    except (TypeError, ValueError):
        return None
    return int(y) if math.isfinite(y) else None


# ----------------------------------------------------------------------------- geometry helpers
def _round_coords(c: np.ndarray) -> np.ndarray:
    return np.round(c, _PRECISION)


def _geometries_json(geoms, *, simplify: float = 0.0) -> list[str]:
    """GeoJSON geometry strings (rounded to 6 decimals, optionally simplified first)."""
    import shapely

    arr = np.asarray(geoms)
    if simplify > 0:
        arr = shapely.simplify(arr, simplify, preserve_topology=True)
    arr = shapely.transform(arr, _round_coords)
    return shapely.to_geojson(arr).tolist() if len(arr) else []


def _feature_collection(geom_json: list[str], props: list[dict]) -> str:
    """A FeatureCollection as script-safe JSON text (geometry strings hold only numbers)."""
    feats = [f'{{"type":"Feature","geometry":{g},"properties":{_js(p)}}}' for g, p in zip(geom_json, props)]
    return '{"type":"FeatureCollection","features":[' + ",".join(feats) + "]}"


def _to_wgs84(gdf):
    if gdf.crs is None:
        from geo.errors import CRSError

        msg = "A layer of the results has no CRS; maps need one to place it (set it with gdf.set_crs(...))."
        raise CRSError(msg)
    return gdf if gdf.crs.to_epsg() == 4326 else gdf.to_crs(4326)


# ----------------------------------------------------------------------------- custom elements
def _elements():
    """Build the Folium element classes lazily (folium is imported only when maps are made)."""
    global _ELEMENTS
    if _ELEMENTS is not None:
        return _ELEMENTS
    from branca.element import Element, MacroElement
    from folium import plugins
    from folium.template import Template

    class RawText(Element):
        """Text added to the page as it is.

        branca wraps what a MacroElement renders in an ``Element``, which parses it once more
        as a Jinja template: slow for megabytes of GeoJSON, and it would evaluate ``{{ }}`` in
        the data.  Our elements add their output through this class instead.
        """

        def __init__(self, text: str):
            super().__init__()
            self._text = text

        def render(self, **kwargs):
            return self._text

    class Macro(MacroElement):
        """A MacroElement whose rendered header, html and script are added as they are (RawText)."""

        def render(self, **kwargs):
            figure = self.get_root()
            macros = self._template.module.__dict__
            for part, target in (("header", figure.header), ("html", figure.html), ("script", figure.script)):
                macro = macros.get(part)
                if macro is not None:
                    target.add_child(RawText(str(macro(self, kwargs))), name=self.get_name())
            for child in self._children.values():
                child.render(**kwargs)

    class DataSwap:
        """For folium plugins that embed ``self.data`` as JSON: the rows are not validated one
        by one (ours are finite floats), and the JSON is put into the rendered script after
        Jinja ran, so the big script is not parsed again as a template."""

        def render(self, **kwargs):
            data, token = self.data, f"__geo_data_{self.get_name()}__"
            self.data = token
            try:
                super().render(**kwargs)
            finally:
                self.data = data
            script = self.get_root().script
            text = script._children[self.get_name()].render()
            script.add_child(RawText(text.replace(json.dumps(token), _js(data), 1)), name=self.get_name())

    class HeatMap(DataSwap, plugins.HeatMap):
        """folium's HeatMap for rows ``[lat, lon, weight]`` of finite floats."""

        def __init__(self, data: list, **kwargs):
            super().__init__([], **kwargs)
            self.data = data

    class FastMarkerCluster(DataSwap, plugins.FastMarkerCluster):
        """folium's FastMarkerCluster for rows ``[lat, lon, ...]`` with finite float coordinates."""

        def __init__(self, data: list, **kwargs):
            super().__init__([], **kwargs)
            self.data = data

    class GeoJsonLayer(Macro):
        """GeoJSON features styled by their ``k`` property, with pre-escaped tooltip ``t`` / popup ``p``."""

        _template = Template(
            """
{% macro script(this, kwargs) %}
var {{ this.get_name() }}_styles = {{ this.styles_js }};
var {{ this.get_name() }} = L.geoJson({{ this.data_js }}, {
    {%- if this.pane %}pane: {{ this.pane|tojson }},{% endif %}
    interactive: {{ this.interactive|tojson }},
    style: function (f) { return {{ this.get_name() }}_styles[f.properties.k] || {}; },
    pointToLayer: function (f, latlng) { return L.circleMarker(latlng); },
    onEachFeature: function (f, layer) {
        if (f.properties.t) { layer.bindTooltip(f.properties.t, {sticky: true}); }
        if (f.properties.p) { layer.bindPopup(f.properties.p, {maxWidth: 380}); }
    }
}).addTo({{ this._parent.get_name() }});
{% endmacro %}
"""
        )

        def __init__(self, data_js: str, styles: dict, *, pane: str | None = None, interactive: bool = True):
            super().__init__()
            self._name = "GeoJsonLayer"
            self.data_js = data_js
            self.styles_js = _js({str(k): v for k, v in styles.items()})
            self.pane = pane
            self.interactive = interactive

    class PointsLayer(Macro):
        """Circle markers from compact rows ``[lat, lon, style index, tooltip html]``."""

        _template = Template(
            """
{% macro script(this, kwargs) %}
(function () {
    var styles = {{ this.styles_js }}, rows = {{ this.rows_js }};
    var parent = {{ this._parent.get_name() }};
    for (var i = 0; i < rows.length; i++) {
        var r = rows[i];
        var mk = L.circleMarker([r[0], r[1]], styles[r[2]]);
        if (r[3]) { mk.bindTooltip(r[3]); }
        mk.addTo(parent);
    }
})();
{% endmacro %}
"""
        )

        def __init__(self, rows_js: str, styles: list[dict]):
            super().__init__()
            self._name = "PointsLayer"
            self.rows_js = rows_js
            self.styles_js = _js(styles)

    class Legend(Macro):
        """A legend control (top right, under the layer control); each section shows while its layer is on."""

        _template = Template(
            """
{% macro script(this, kwargs) %}
(function () {
    var map = {{ this._parent.get_name() }};
    var ctl = L.control({position: "topright"});
    ctl.onAdd = function () {
        var div = L.DomUtil.create("div", "geo-legend leaflet-control");
        div.innerHTML = {{ this.html_js }};
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        return div;
    };
    ctl.addTo(map);
    var box = ctl.getContainer();
    function fit() { box.style.maxHeight = Math.max(120, map.getSize().y - box.offsetTop - 40) + "px"; }
    map.on("resize", fit);
    var links = [{% for layer, sid in this.links %}[{{ layer }}, {{ sid|tojson }}],{% endfor %}];
    function sync() {
        links.forEach(function (l) {
            var el = document.getElementById(l[1]);
            if (el) { el.style.display = map.hasLayer(l[0]) ? "" : "none"; }
        });
    }
    map.on("overlayadd overlayremove", sync);
    sync();
    fit();
})();
{% endmacro %}
"""
        )

        def __init__(self, title: str = "Legend"):
            super().__init__()
            self._name = "Legend"
            self.title = title
            self.sections: list[tuple[Any, str]] = []

        def add(self, layer, section_html: str) -> None:
            """Add a section (already escaped HTML); ``layer`` None = always shown."""
            self.sections.append((layer, section_html))

        def render(self, **kwargs):
            parts, links = [], []
            for i, (layer, body) in enumerate(self.sections):
                sid = f"{self.get_name()}-{i}"
                parts.append(f'<div class="geo-legend-section" id="{sid}">{body}</div>')
                if layer is not None:
                    links.append((layer.get_name(), sid))
            page = f'<details open><summary>{escape(self.title)}</summary>{"".join(parts)}</details>'
            self.html_js = _js(page)
            self.links = links
            super().render(**kwargs)

    class Html(Macro):
        """Raw (already escaped) HTML and CSS added to the page body and header."""

        _template = Template(
            """
{% macro header(this, kwargs) %}{{ this.css }}{% endmacro %}
{% macro html(this, kwargs) %}{{ this.body }}{% endmacro %}
{% macro script(this, kwargs) %}{{ this.js }}{% endmacro %}
"""
        )

        def __init__(self, *, body: str = "", css: str = "", js: str = "", kind: str = "Html"):
            super().__init__()
            self._name = kind
            self.body, self.css, self.js = body, css, js

    _ELEMENTS = {"GeoJsonLayer": GeoJsonLayer, "PointsLayer": PointsLayer, "Legend": Legend, "Html": Html,
                 "HeatMap": HeatMap, "FastMarkerCluster": FastMarkerCluster}
    return _ELEMENTS


_ELEMENTS: dict[str, type] | None = None

_CSS = """<style>
.geo-legend { background: rgba(255,255,255,0.95); padding: 6px 10px; border-radius: 5px;
  box-shadow: 0 1px 5px rgba(0,0,0,0.4); font: 12px/1.35 "Helvetica Neue", Arial, sans-serif;
  max-width: 270px; max-height: 45vh; overflow-y: auto; color: #222; }
.geo-legend summary { font-weight: bold; cursor: pointer; }
.geo-legend h4 { margin: 7px 0 3px; font-size: 12px; }
.geo-legend .row { margin: 1px 0; }
.geo-legend .sw { display: inline-block; width: 14px; height: 11px; margin-right: 5px; vertical-align: middle;
  border: 1px solid #666; }
.geo-legend .ln { display: inline-block; width: 18px; height: 0; margin-right: 5px; vertical-align: middle;
  border-top: 3px solid #000; }
.geo-legend .dot { display: inline-block; width: 10px; height: 10px; margin: 0 7px 0 2px; border-radius: 50%;
  vertical-align: middle; border: 1px solid #333; }
.geo-legend .ramp { height: 11px; width: 200px; border: 1px solid #666; }
.geo-legend .note { color: #555; font-size: 11px; white-space: normal; }
.geo-title { position: fixed; top: 10px; left: 54px; z-index: 1000; background: rgba(255,255,255,0.95);
  padding: 5px 10px; border-radius: 5px; box-shadow: 0 1px 5px rgba(0,0,0,0.4);
  font: 14px/1.3 "Helvetica Neue", Arial, sans-serif; max-width: calc(100% - 400px); }
.geo-title .sub { font-size: 12px; color: #555; }
.geo-title .demo { color: #b2182b; font-weight: bold; }
.leaflet-container a.geo-valley-link { display: inline-block; white-space: nowrap; background: rgba(255,255,255,0.95);
  border: 2px solid #d7301f; border-radius: 12px; padding: 2px 8px; font: bold 13px Arial, sans-serif;
  color: #d7301f; text-decoration: none; box-shadow: 0 1px 4px rgba(0,0,0,0.4); }
.leaflet-container a.geo-valley-link:hover { background: #d7301f; color: #fff; }
.leaflet-heatmap-layer { pointer-events: none; }
.leaflet-bottom.leaflet-left { width: auto !important; }
.leaflet-control.leaflet-timeline-control { width: min(600px, 60vw) !important; margin: 0 0 12px 10px !important;
  padding: 4px 8px 22px 8px; }
.leaflet-control.leaflet-timeline-control .sldr-ctrl-container { width: 90px; }
.leaflet-control.leaflet-timeline-control input[type="range"] { width: calc(100% - 100px); }
.leaflet-timeline-control .time-text { font: 13px Arial, sans-serif; }
.leaflet-timeline-control .geo-des { position: absolute; left: 10px; right: 10px; bottom: 4px; text-align: left;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; font: 12px Arial, sans-serif; color: #333; }
</style>"""


def _ensure_css(m) -> None:
    """Add the maps' CSS once per map."""
    for child in m.get_root().header._children.values():
        if getattr(child, "_geo_css", False):
            return
    from branca.element import Element

    el = Element(_CSS)
    el._geo_css = True
    m.get_root().header.add_child(el)


# ----------------------------------------------------------------------------- the map frame
def _valley(results, valley: str):
    try:
        return results.valleys[valley]
    except KeyError:
        from geo.errors import InputError

        msg = f"No valley {valley!r} in these results; valleys are {list(results.valleys)}."
        raise InputError(msg) from None


class _ValleyData:
    """What the maps read from one valley's firms, each computed once when first needed.

    :func:`write_maps` makes one per valley and hands it to both the overview and the
    valley map; :func:`valley_map` and :func:`overview_map` called alone make their own.
    """

    def __init__(self, vr, results, run: _RunData | None = None):
        self.vr, self.results = vr, results
        self.run = _RunData(results) if run is None else run

    @functools.cached_property
    def _coords(self) -> tuple[np.ndarray, np.ndarray]:
        return _firm_coords(self.vr.firms)

    @functools.cached_property
    def lonlat(self) -> np.ndarray:
        """Every lon/lat of the firms' geometries."""
        return self._coords[0]

    @functools.cached_property
    def located(self) -> tuple[np.ndarray, np.ndarray]:
        """``_located`` of the firms: the lon/lat of each firm with a point, and its position."""
        return _located(*self._coords, len(self.vr.firms))

    @functools.cached_property
    def bounds(self) -> list[float] | None:
        """``_robust_bounds`` of :attr:`lonlat`."""
        return _robust_bounds(self.lonlat)

    @functools.cached_property
    def located_bounds(self) -> list[float] | None:
        """``_robust_bounds`` of the located firms (:attr:`bounds` when they are the same array)."""
        ll = self.located[0]
        return self.bounds if ll is self.lonlat else _robust_bounds(ll)

    @functools.cached_property
    def sectors(self) -> tuple[np.ndarray, list] | None:
        """``_text_factorize`` of the firms' sector column (None: no such column, or not text)."""
        sc = self.results.config.firms.sector_column
        return _text_factorize(self.vr.firms[sc]) if sc in self.vr.firms else None

    @functools.cached_property
    def metric_firms(self):
        return _metric_firms(self.vr)

    @functools.cached_property
    def target_mask(self) -> np.ndarray | None:
        """Which metric firms are of the target sector (None: no target or no sector column)."""
        fm, sc = self.metric_firms, self.results.config.firms.sector_column
        target = self.results.config.analysis.target_sector
        if fm is None or target is None or sc not in fm:
            return None
        if sc in self.vr.firms and _same_values(fm[sc], self.vr.firms[sc]):  # to_metric shares the columns
            return _str_equals(fm[sc], target, factorized=self.sectors)
        return _str_equals(fm[sc], target)

    @functools.cached_property
    def target_xy(self) -> tuple[np.ndarray, bool]:
        """(``get_coordinates`` of the target-sector metric firms, whether each is one point).

        When every metric firm is a point, the coordinates of all of them are read (in
        memory order, several times faster than of a scattered subset) and then selected.
        """
        import shapely

        from geo.crs import plain_point_coords
        from geo.points import PointFrame

        mask = self.target_mask
        if isinstance(self.metric_firms, PointFrame):
            xy = np.column_stack(self.metric_firms.coords())[mask]
            return xy, bool(np.isfinite(xy).all())
        geoms = np.asarray(self.metric_firms.geometry.values)
        xy = plain_point_coords(geoms)  # all plain points: reading all in order is faster
        if xy is not None:
            return xy[mask], True
        sub = geoms[mask]
        xy = shapely.get_coordinates(sub)
        return xy, bool(len(xy) == len(sub) and (shapely.get_type_id(sub) == 0).all())


class _RunData:
    """What the maps of every valley read from the whole run, computed once."""

    def __init__(self, results):
        self.results = results
        self._sectors: set[str] | None = None

    def sectors(self, data: _ValleyData) -> set[str]:
        """The sector labels (``_sector_codes``) present among all the run's firms.

        ``data`` is the valley asking: when its firms' sector column is the run's (one
        valley), its factorization is used.
        """
        if self._sectors is None:
            sc = self.results.config.firms.sector_column
            if sc not in self.results.firms:
                self._sectors = set()
                return self._sectors
            values = self.results.firms[sc]
            same = sc in data.vr.firms and _same_values(values, data.vr.firms[sc])
            codes, names = _sector_codes(values, factorized=data.sectors if same else None)
            self._sectors = set(np.asarray(names, dtype=object)[_used_codes(codes)].tolist())
        return self._sectors


def _same_values(a: pd.Series, b: pd.Series) -> bool:
    """Whether two columns are views of the same memory, so that their values are equal.

    Cheap and conservative (False when unsure): the same array, NumPy arrays at the same
    address with the same layout, or Arrow arrays whose chunks have the same type, offset,
    length and buffers, as the columns of a copy-on-write copy or of a slice of all rows are.
    """
    if len(a) != len(b) or a.dtype != b.dtype:
        return False
    ea, eb = a.array, b.array
    if ea is eb:
        return True
    if isinstance(ea, pd.arrays.NumpyExtensionArray) and isinstance(eb, pd.arrays.NumpyExtensionArray):
        na, nb = np.asarray(ea), np.asarray(eb)  # the arrays themselves, not copies
        return (na.dtype == nb.dtype and na.shape == nb.shape and na.strides == nb.strides
                and na.__array_interface__["data"][0] == nb.__array_interface__["data"][0])
    if not (hasattr(ea, "__arrow_array__") and hasattr(eb, "__arrow_array__")):
        return False
    try:
        ca, cb = ea.__arrow_array__(), eb.__arrow_array__()
    except Exception:  # an extension array that cannot give Arrow data: unsure
        return False
    if ca is cb:
        return True
    chunks_a, chunks_b = getattr(ca, "chunks", [ca]), getattr(cb, "chunks", [cb])
    if len(chunks_a) != len(chunks_b):
        return False
    for x, y in zip(chunks_a, chunks_b):
        if x.type != y.type or x.offset != y.offset or len(x) != len(y):
            return False
        bx, by = x.buffers(), y.buffers()
        if len(bx) != len(by):
            return False
        for p, q in zip(bx, by):
            if (p is None) != (q is None) or (p is not None and (p.address != q.address or p.size != q.size)):
                return False
    return True


def _used_codes(codes: np.ndarray) -> np.ndarray:
    """``np.unique(codes)`` of non-negative integer codes, by counting."""
    return np.flatnonzero(np.bincount(codes)) if len(codes) else np.empty(0, dtype=np.int64)


def _convex_hull(xy: np.ndarray):
    """``shapely.convex_hull(shapely.multipoints(xy))`` without a Point object per input point.

    Points strictly inside the polygon of the extreme points in eight directions cannot be
    hull vertices (Akl–Toussaint), so only the others are handed to GEOS; the hull is the same.
    """
    import shapely

    xy = np.asarray(xy, dtype=float)
    if len(xy) > 64:
        x, y = xy[:, 0], xy[:, 1]
        picks = []
        for v in (x, y, x + y, x - y):
            picks += [int(np.argmin(v)), int(np.argmax(v))]
        poly = shapely.convex_hull(shapely.multipoints(xy[picks]))
        if poly.geom_type == "Polygon":
            # points inside a box inside the polygon are inside it: only the others are tested
            inside = _inside_box(poly, x, y)
            rest = np.flatnonzero(~inside)
            inside[rest] = shapely.contains_xy(poly, x[rest], y[rest])
            xy = xy[~inside]
    return shapely.convex_hull(shapely.multipoints(xy))


def _inside_box(poly, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Which points are strictly inside an axis-aligned box that lies inside the convex ``poly``.

    The box is the polygon's bounding box shrunk about its centroid until its four corners
    are inside the polygon (then, the polygon being convex, all of the box is).
    """
    import shapely

    minx, miny, maxx, maxy = poly.bounds
    c = poly.centroid
    for f in (0.7, 0.5, 0.35, 0.25):
        hw, hh = f * (maxx - minx) / 2.0, f * (maxy - miny) / 2.0
        x0, x1, y0, y1 = c.x - hw, c.x + hw, c.y - hh, c.y + hh
        if shapely.contains_xy(poly, [x0, x1, x1, x0], [y0, y0, y1, y1]).all():
            return (x > x0) & (x < x1) & (y > y0) & (y < y1)
    return np.zeros(len(x), dtype=bool)


def _robust_bounds(lonlat: np.ndarray) -> list[float] | None:
    """(west, south, east, north) of the central 99 % of the points (outliers do not zoom out)."""
    if len(lonlat) == 0:
        return None
    if len(lonlat) < 50:
        lo, hi = lonlat.min(axis=0), lonlat.max(axis=0)
    else:
        lo, hi = np.quantile(lonlat, [0.005, 0.995], axis=0)  # one partition for both
    return [float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])]


def _union_bounds(*boxes) -> list[float]:
    boxes = [b for b in boxes if b is not None and np.all(np.isfinite(b))]
    if not boxes:
        return [73.0, 18.0, 135.0, 53.0]  # China
    arr = np.asarray(boxes, dtype=float)
    w, s = arr[:, 0].min(), arr[:, 1].min()
    e, n = arr[:, 2].max(), arr[:, 3].max()
    if e - w < 1e-3:
        w, e = w - 0.005, e + 0.005
    if n - s < 1e-3:
        s, n = s - 0.005, n + 0.005
    return [float(w), float(s), float(e), float(n)]


def _gdf_bounds(gdf) -> list[float] | None:
    if gdf is None or len(gdf) == 0:
        return None
    b = _to_wgs84(gdf).total_bounds
    return [float(x) for x in b] if np.all(np.isfinite(b)) else None


def _base_map(bounds: list[float], m=None):
    """A new map fitted to ``bounds`` with fullscreen, minimap and scale bar; or ``m`` as is."""
    import folium
    from folium import plugins

    if m is not None:
        _ensure_css(m)
        return m
    w, s, e, n = bounds
    m = folium.Map(location=[(s + n) / 2, (w + e) / 2], zoom_start=11, tiles=None, control_scale=True)
    m.default_js = [(k, v) for k, v in m.default_js if k not in _UNUSED_ASSETS]
    m.default_css = [(k, v) for k, v in m.default_css if k not in _UNUSED_ASSETS]
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap").add_to(m)
    # fit to the bounds, leaving room for the layer control and legend (right) and the slider (bottom)
    box = _js([[round(s, 6), round(w, 6)], [round(n, 6), round(e, 6)]])
    _elements()["Html"](kind="FitValley", js=(
        f"(function () {{ var map = {m.get_name()}, size = map.getSize();"
        f" map.fitBounds({box}, {{paddingTopLeft: [Math.min(60, size.x * 0.1), Math.min(70, size.y * 0.1)],"
        " paddingBottomRight: [Math.min(290, size.x * 0.3), Math.min(90, size.y * 0.15)], animate: false}); })();")).add_to(m)
    plugins.Fullscreen(position="topleft").add_to(m)
    plugins.MiniMap(toggle_display=True, position="topleft", width=120, height=120, zoom_level_offset=-6).add_to(m)
    _ensure_css(m)
    return m


def _pane(m, name: str, z_index: int) -> str:
    """A custom map pane (created once) without pointer events of its own."""
    from folium.map import CustomPane

    for child in m._children.values():
        if isinstance(child, CustomPane) and child.name == name:
            return name
    CustomPane(name, z_index=z_index, pointer_events=False).add_to(m)
    return name


def _finish(m, legend, title_html: str | None, own: bool) -> None:
    """Layer control (once per map), then the legend under it, then the title."""
    import folium

    if not any(isinstance(c, folium.LayerControl) for c in m._children.values()):
        folium.LayerControl(collapsed=False, position="topright").add_to(m)
    if legend.sections:
        legend.add_to(m)
    if own and title_html:
        _elements()["Html"](body=title_html, kind="Title").add_to(m)


def _title_html(title: str, sub: str, synthetic: bool, link: str | None) -> str:
    demo = ' · <span class="demo">synthetic demo data</span>' if synthetic else ""
    back = f' · <a href="{escape(link)}">all valleys</a>' if link else ""
    return f'<div class="geo-title"><b>{escape(title)}</b><div class="sub">{sub}{demo}{back}</div></div>'


def _swatch(colour: str, label: str, *, kind: str = "sw", extra: str = "") -> str:
    if kind == "ln":
        style = f"border-top-color:{colour};{extra}"
    else:
        style = f"background:{colour};{extra}"
    return f'<div class="row"><span class="{kind}" style="{style}"></span>{label}</div>'


# ----------------------------------------------------------------------------- parks
def _no_attrs(frame):
    """``frame`` without its ``attrs``, sharing its data.

    pandas deep-copies ``attrs`` in every operation; the park overlay's hold the Gi* tables
    before designation (100,000 cells each), so each row lookup would copy them.
    """
    if frame is None or not frame.attrs:
        return frame
    if type(frame) is pd.DataFrame:
        return pd.DataFrame(frame, copy=False)  # the constructor does not carry attrs over
    out = frame.copy(deep=False)
    out.attrs = {}
    return out


def _park_rows(parks, overlay):
    """(index, park row, overlay row or None) for each park."""
    parks, overlay = _no_attrs(parks), _no_attrs(overlay)
    for idx, park in parks.iterrows():
        row = None
        if overlay is not None and idx in overlay.index:
            row = overlay.loc[idx]
            if isinstance(row, pd.DataFrame):  # duplicated index: take the first
                row = row.iloc[0]
        yield idx, park, row


def _park_html(park, row, target: str | None, *, long: bool) -> str:
    year = _year(park.get("designated"))
    lines = [f"<b>{escape(park.get('name'))}</b>", f"designated: {year if year is not None else 'unknown'}"]
    if row is not None:
        verdict = row.get("verdict")
        if not _missing(verdict):
            lines.append(f'verdict: <b style="color:{verdict_colour(verdict)}">{escape(verdict)}</b>')
        tgt = escape(target) if target else "target-sector"
        lines.append(f"{_num(row.get('n_firms'))} firms, {_num(row.get('n_target'))} {tgt} · LQ {_num(row.get('lq'))}")
        lines.append(f"hot-spot share of the park: {format_pct(row.get('park_hot_share'))}")
        lines.append(f"placement test {_p(row.get('p_placement_fdr'))} (FDR) · "
                     f"labelling test {_p(row.get('p_labelling_fdr'))} (FDR)")
        before = row.get("cluster_before")
        if not _missing(before) and year is not None:
            lines.append(f"cluster before {year}: {'yes' if bool(before) else 'no'}")
        if long:
            if not _missing(row.get("rate_ratio")):
                lines.append(f"entry-rate ratio after/before (in vs out): {_num(row.get('rate_ratio'))}"
                             f" [{_num(row.get('rr_lo'))}, {_num(row.get('rr_hi'))}], "
                             f"{_p(row.get('p_rate_ratio_fdr'))} (FDR)")
            if not _missing(row.get("verdict_reason")):
                lines.append(f'<span style="color:#444">{escape(row.get("verdict_reason"))}</span>')
    elif long:
        lines.append('<span style="color:#444">no park statistics for this valley</span>')
    return "<br>".join(lines)


def _parks_layer(m, parks, overlay, target: str | None, legend, *, name: str = "Parks", show: bool = True):
    """Park polygons coloured by verdict (interactive fill below, crisp outline above)."""
    import folium

    E = _elements()
    parks = _to_wgs84(parks)
    keys, tips, pops, verdicts = [], [], [], []
    for _, park, row in _park_rows(parks, overlay):
        verdict = None if row is None else row.get("verdict")
        verdicts.append(None if _missing(verdict) else str(verdict))
        keys.append(verdict_colour(verdict))
        tips.append(_park_html(park, row, target, long=False))
        pops.append(_park_html(park, row, target, long=True))
    geoms = _geometries_json(parks.geometry.values, simplify=_SIMPLIFY_M / _M_PER_DEG)
    fill_styles = {c: {"color": c, "weight": 0, "fillColor": c, "fillOpacity": 0.12} for c in set(keys)}
    line_styles = {c: {"color": c, "weight": 3, "fill": False, "dashArray": "8 5", "opacity": 0.95} for c in set(keys)}
    fg = folium.FeatureGroup(name=name, show=show)
    props = [{"k": k, "t": t, "p": p} for k, t, p in zip(keys, tips, pops)]
    E["GeoJsonLayer"](_feature_collection(geoms, props), fill_styles).add_to(fg)
    lines = _pane(m, "geo-park-lines", 450)
    E["GeoJsonLayer"](_feature_collection(geoms, [{"k": k} for k in keys]), line_styles, pane=lines,
                      interactive=False).add_to(fg)
    fg.add_to(m)
    rows = []
    for verdict, colour in VERDICT_COLOURS.items():
        if verdict in verdicts:
            rows.append(_swatch(colour, escape(verdict), kind="ln", extra="border-top-style:dashed;"))
    if any(v is None for v in verdicts):
        rows.append(_swatch(NO_VERDICT_COLOUR, "no verdict (park statistics not run)", kind="ln",
                            extra="border-top-style:dashed;"))
    legend.add(fg, f"<h4>{escape(name)} (by verdict)</h4>{''.join(rows)}"
                   '<div class="note">hover a park for its numbers, click for the reasoning</div>')
    return fg


def _models_layer(m, vr, legend, *, name: str = "Parks by development model"):
    """Park polygons coloured by their primary development model (from geo.parks.models)."""
    import folium

    md = vr.stages.get("models")
    if md is None or not len(md) or not len(vr.parks):
        return None
    E = _elements()
    parks = _to_wgs84(vr.parks)
    keys, tips, seen = [], [], []
    for idx, park in parks.iterrows():
        row = md.loc[idx] if idx in md.index else None
        model = "undetermined" if row is None or _missing(row.get("primary_model")) else str(row.get("primary_model"))
        colour = MODEL_COLOURS.get(model, MODEL_COLOURS["undetermined"])
        keys.append(colour)
        seen.append(model)
        models = [] if row is None else (row.get("models") or [])
        tip = [f"<b>{escape(park.get('name'))}</b>", f"development model: <b>{escape(model)}</b>"]
        if models:
            tip.append("models shown: " + escape(", ".join(map(str, models))))
        if row is not None and not _missing(row.get("summary")):
            tip.append(f'<span style="color:#444">{escape(row.get("summary"))}</span>')
        tips.append("<br>".join(tip))
    geoms = _geometries_json(parks.geometry.values, simplify=_SIMPLIFY_M / _M_PER_DEG)
    styles = {c: {"color": c, "weight": 2, "fillColor": c, "fillOpacity": 0.35} for c in set(keys)}
    fg = folium.FeatureGroup(name=name, show=False)
    E["GeoJsonLayer"](_feature_collection(geoms, [{"k": k, "t": t, "p": t} for k, t in zip(keys, tips)]), styles).add_to(fg)
    fg.add_to(m)
    rows = [_swatch(c, escape(k)) for k, c in MODEL_COLOURS.items() if k in seen]
    legend.add(fg, f"<h4>{escape(name)}</h4>{''.join(rows)}")
    return fg


# ----------------------------------------------------------------------------- cells
def _merge_cells(cells, key: str):
    """Cells of equal ``key`` merged (coverage union) into one polygon each, in the cells' CRS."""
    import geopandas as gpd
    import shapely

    geoms, values, counts = [], [], []
    for value, group in cells.groupby(key, sort=True):
        arr = np.asarray(group.geometry.values)
        try:
            merged = shapely.coverage_union_all(arr)
        except Exception:  # not a valid coverage (overlapping cells): the general union
            merged = shapely.union_all(arr)
        geoms.append(merged)
        values.append(value)
        counts.append(len(group))
    return gpd.GeoDataFrame({key: values, "n_cells": counts}, geometry=geoms, crs=cells.crs)


def _simplify_tolerance(gdf) -> float:
    """0.5 m in the units of ``gdf``'s CRS."""
    return _SIMPLIFY_M / _M_PER_DEG if gdf.crs is not None and gdf.crs.is_geographic else _SIMPLIFY_M


def _cell_layer(m, cells, key: str, styles: dict, tip, *, name: str, show: bool, merged_tip,
                columns: list[str] | None = None) -> tuple[Any, int, bool]:
    """A layer of significant cells; merged by ``key`` when there are more than CELLS_MAX.

    ``tip`` makes a cell's tooltip from its row (a dict) and reads only ``columns`` (None: any).
    """
    import folium

    E = _elements()
    merged = len(cells) > CELLS_MAX
    if merged:
        frame = _merge_cells(cells, key)
        props = [{"k": str(v), "t": merged_tip(v, n)} for v, n in zip(frame[key], frame["n_cells"])]
    else:
        frame = cells
        keep = [c for c in cells.columns if c != cells.geometry.name and (columns is None or c in columns)]
        table = pd.DataFrame(cells[keep])
        table.attrs = {}  # rows as plain dicts: no per-row Series (and copy of the attrs)
        props = [{"k": str(r[key]), "t": tip(r)} for r in table.to_dict(orient="records")]
    geoms = []
    if len(frame):  # only the geometry column is simplified and reprojected
        outline = frame.geometry.simplify(_simplify_tolerance(frame), preserve_topology=True)
        geoms = _geometries_json(_to_wgs84(outline).values)
    fg = folium.FeatureGroup(name=name, show=show)
    E["GeoJsonLayer"](_feature_collection(geoms, props), {str(k): v for k, v in styles.items()}).add_to(fg)
    fg.add_to(m)
    return fg, len(cells), merged


def _hotspot_layers(m, vr, target_label: str, legend) -> None:
    hot = _no_attrs(vr.stages.get("hotspots"))
    if hot is None:
        return
    focus = vr.stages.get("focus_column") or "n_firms"
    tl = escape(target_label)
    if "gi_bin" in hot:
        sig = hot.loc[hot["gi_bin"].fillna(0).astype(int) != 0]
        sig = sig.assign(gi_bin=sig["gi_bin"].astype(int))
        styles = {b: {"color": c, "weight": 0.5, "opacity": 0.9, "fillColor": c, "fillOpacity": 0.75}
                  for b, c in GI_COLOURS.items() if b != 0}

        def tip(r):
            count = f"{_num(r.get(focus))} {tl}" if focus != "n_firms" else ""
            return (f"<b>{GI_LABELS[int(r['gi_bin'])]}</b><br>Gi* z = {_num(r.get('gi_z'))}, "
                    f"{_p(r.get('gi_p_fdr', r.get('gi_p')))} (FDR)<br>"
                    f"{count}{', ' if count else ''}{_num(r.get('n_firms'))} firms in the cell")

        def merged_tip(v, n):
            return f"<b>{GI_LABELS[int(v)]}</b><br>{n:,} cells (merged)"

        name = f"Gi* hot/cold spots ({tl})"
        fg, n, merged = _cell_layer(m, sig, "gi_bin", styles, tip, name=name, show=True, merged_tip=merged_tip,
                                    columns=["gi_bin", "gi_z", "gi_p_fdr", "gi_p", "n_firms", focus])
        present = set(sig["gi_bin"].unique().tolist())
        rows = [_swatch(GI_COLOURS[b], GI_LABELS[b]) for b in (3, 2, 1, -1, -2, -3) if b in present] or [
            '<div class="note">no significant cells</div>']
        note = (f"{n:,} significant cells{' (merged by bin)' if merged else ''}; not significant cells "
                "are not drawn. Bins from FDR-adjusted p-values when FDR is on; ArcGIS colours.")
        legend.add(fg, f"<h4>{name}</h4>{''.join(rows)}<div class=\"note\">{note}</div>")
    if "lisa_label" in hot:
        sig = hot.loc[hot["lisa_label"].astype(str).isin(list(_LISA_DRAWN))]
        styles = {lab: {"color": c, "weight": 0.5, "opacity": 0.9, "fillColor": c, "fillOpacity": 0.75}
                  for lab, c in _LISA_DRAWN.items()}

        def ltip(r):
            lab = str(r["lisa_label"])
            count = f"{_num(r.get(focus))} {tl}, " if focus != "n_firms" else ""
            return (f"<b>{LISA_LABELS[lab]}</b><br>local Moran I = {_num(r.get('lisa_I'))}, "
                    f"{_p(r.get('lisa_p_fdr', r.get('lisa_p')))} (FDR)<br>{count}"
                    f"{_num(r.get('n_firms'))} firms in the cell")

        def lmerged(v, n):
            return f"<b>{LISA_LABELS[str(v)]}</b><br>{n:,} cells (merged)"

        fg, n, merged = _cell_layer(m, sig.assign(lisa_label=sig["lisa_label"].astype(str)), "lisa_label", styles,
                                    ltip, name="LISA clusters", show=False, merged_tip=lmerged,
                                    columns=["lisa_label", "lisa_I", "lisa_p_fdr", "lisa_p", "n_firms", focus])
        present = set(sig["lisa_label"].astype(str))
        rows = [_swatch(c, LISA_LABELS[lab]) for lab, c in _LISA_DRAWN.items() if lab in present] or [
            '<div class="note">no significant cells</div>']
        note = f"local Moran's I of {tl}; {n:,} significant cells{' (merged by label)' if merged else ''}; ns not drawn."
        legend.add(fg, f"<h4>LISA clusters</h4>{''.join(rows)}<div class=\"note\">{note}</div>")


def _clusters_layer(m, vr, target_label: str, legend) -> None:
    import folium

    clusters = vr.stages.get("clusters")
    if clusters is None:
        return
    outside = vr.stages.get("clusters_outside_parks")
    out_ids = set(outside["cluster_id"].tolist()) if outside is not None and len(outside) and len(vr.parks) else set()
    tl = escape(target_label)
    props = []
    for _, r in clusters.iterrows():
        cid = r.get("cluster_id")
        is_out = cid in out_ids
        tip = (f"<b>Cluster {escape(cid)}</b>{' — outside every park' if is_out else ''}<br>"
               f"{_num(r.get('n_cells'))} cells, {_num(r.get('area_km2'))} km²<br>"
               f"{_num(r.get('n_firms'))} firms, {_num(r.get('n_target'))} {tl}<br>"
               f"peak Gi* z {_num(r.get('peak_z'))}, mean z {_num(r.get('mean_z'))}")
        if r.get("artefact"):
            tip += f"<br><b>Caution:</b> {escape(r.get('artefact'))}"
        props.append({"k": "out" if is_out else "in", "t": tip})
    frame = clusters
    if len(frame):
        frame = frame.set_geometry(frame.geometry.simplify(_simplify_tolerance(frame), preserve_topology=True))
        frame = _to_wgs84(frame)
    geoms = _geometries_json(frame.geometry.values) if len(frame) else []
    styles = {"in": {"color": "#111111", "weight": 2.5, "fill": False},
              "out": {"color": "#111111", "weight": 2.5, "fill": False, "dashArray": "6 4"}}
    fg = folium.FeatureGroup(name="Clusters", show=True)
    _elements()["GeoJsonLayer"](_feature_collection(geoms, props), styles).add_to(fg)
    fg.add_to(m)
    rows = [_swatch("#111111", f"cluster polygon ({len(clusters)})", kind="ln")]
    if out_ids:
        rows.append(_swatch("#111111", f"cluster outside every park ({len(out_ids)})", kind="ln",
                            extra="border-top-style:dashed;"))
    definition = clusters.attrs.get("definition")
    note = escape(definition) if isinstance(definition, str) else "contiguous hot cells (Gi* bin ≥ 2)"
    legend.add(fg, f"<h4>Clusters of {tl}</h4>{''.join(rows)}<div class=\"note\">{note}</div>")


def _stacks_layer(m, vr, results, legend) -> None:
    """The stacked geocodes of the valley: one circle per stack, its area proportional to its firms."""
    import folium

    firms = vr.firms
    if "stack" not in firms.columns:
        return
    ids = firms["stack"].to_numpy()
    ids = ids[ids >= 0]
    if not len(ids):
        return
    counts = pd.Series(ids).value_counts()
    sites = {int(s_["site"]): s_ for s_ in (results.load_report.get("stacks") or [])}
    radius = results.load_report.get("stack_radius_m") or 0
    where = f"within {radius:g} m of this point" if radius else "on this exact point"
    fg = folium.FeatureGroup(name="Stacked geocodes", show=True)
    for sid, n in counts.items():
        site = sites.get(int(sid))
        if site is None:  # beyond the listed stacks: the mean of its firms
            sel = firms["stack"].to_numpy() == sid
            site = {"lon": float(firms["lon"].to_numpy()[sel].mean()), "lat": float(firms["lat"].to_numpy()[sel].mean())}
        text = (f"<b>Stacked geocode</b><br>{int(n):,} firms {where}: probably a geocoder's fallback to a district or "
                "city centre, not a cluster. Hot cells made of it are flagged.")
        folium.CircleMarker([site["lat"], site["lon"]], radius=float(min(30, 4 + 2 * np.sqrt(n))), color="#b2182b", weight=2,
                            fill=True, fill_color="#ffffff", fill_opacity=0.6, tooltip=text, popup=folium.Popup(text, max_width=260),
                            ).add_to(fg)
    fg.add_to(m)
    legend.add(fg, f"<h4>Stacked geocodes</h4>{_swatch('#b2182b', f'stack of firms at one point ({len(counts)})', kind='ln')}"
                   "<div class=\"note\">circle area ∝ firms; see the report's registry checks</div>")


# ----------------------------------------------------------------------------- firms
def firm_layer_mode(n: int) -> str:
    """How a firm layer of ``n`` firms is drawn, so that big valleys stay small and fast.

    Parameters
    ----------
    n : int
        Number of firms in the layer.

    Returns
    -------
    str
        ``"points"`` (individual markers with name tooltips) when ``n <= POINTS_MAX``,
        ``"clusters"`` (``FastMarkerCluster``) when ``n <= CLUSTER_MAX``, else ``"heatmap"``
        (firms binned to at most ``HEAT_BINS_MAX`` weighted points).

    Examples
    --------
    >>> firm_layer_mode(100), firm_layer_mode(10_000), firm_layer_mode(1_000_000)
    ('points', 'clusters', 'heatmap')
    """
    if n <= POINTS_MAX:
        return "points"
    if n <= CLUSTER_MAX:
        return "clusters"
    return "heatmap"


#: above this key range, :func:`_dense_unique` sorts instead of counting
_DENSE_KEYS_MAX = 1 << 25


def _dense_unique(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(key, return_inverse=True, return_counts=True)[1:]`` for non-negative integer keys.

    Counts with ``np.bincount`` (linear time) when the keys span at most
    :data:`_DENSE_KEYS_MAX` values; the distinct keys are numbered in increasing order, as
    ``np.unique`` does.
    """
    if len(key) == 0 or int(key.max()) >= _DENSE_KEYS_MAX:
        _, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
        return inv.reshape(-1), counts
    full = np.bincount(key)
    used = full > 0
    rank = np.cumsum(used) - 1
    return rank[key], full[used]


def _n_distinct(key: np.ndarray) -> int:
    """``len(np.unique(key))`` for non-negative integer keys (counted when their range is small)."""
    if len(key) == 0:
        return 0
    if int(key.max()) >= _DENSE_KEYS_MAX:
        return len(np.unique(key))
    return int(np.count_nonzero(np.bincount(key)))


def _cell_keys(x: np.ndarray, y: np.ndarray, cell: float) -> np.ndarray:
    """A non-negative integer per point, one per square cell of side ``cell`` (row-major)."""
    ix = np.floor(x / cell).astype(np.int64)
    iy = np.floor(y / cell).astype(np.int64)
    return (ix - ix.min()) * (int(iy.max() - iy.min()) + 1) + (iy - iy.min())


def _heat_bins(lonlat: np.ndarray, *, max_bins: int | None = None) -> tuple[np.ndarray, float]:
    """Bin points to a square grid (in metres at the mean latitude) with at most ``max_bins`` cells.

    Returns rows ``[lat, lon, count]`` (the mean position of each bin's points) and the
    cell side in metres.
    """
    max_bins = HEAT_BINS_MAX if max_bins is None else max_bins
    lat0 = float(np.mean(lonlat[:, 1]))
    kx = _M_PER_DEG * max(math.cos(math.radians(lat0)), 0.05)
    x, y = lonlat[:, 0] * kx, lonlat[:, 1] * _M_PER_DEG
    # every k-th point: the cells they occupy are a subset of all points' cells, so a cell
    # size at which they alone fill more than max_bins cells is too small for all of them
    step = len(x) // (4 * max_bins)
    sample = (x[::step], y[::step]) if step >= 2 else None
    cell = 50.0
    while True:
        if len(x) > max_bins and sample is not None and _n_distinct(_cell_keys(*sample, cell)) > max_bins:
            cell *= 1.5
            continue
        key = _cell_keys(x, y, cell)
        if len(key) <= max_bins or _n_distinct(key) <= max_bins:
            break
        cell *= 1.5
    inv, counts = _dense_unique(key)
    lat = np.bincount(inv, weights=lonlat[:, 1]) / counts
    lon = np.bincount(inv, weights=lonlat[:, 0]) / counts
    return np.column_stack([np.round(lat, 5), np.round(lon, 5), counts.astype(float)]), cell


def _distinct_as_text(values: pd.Series) -> bool:
    """Whether values that ``pd.factorize`` tells apart are exactly those whose ``str`` differ.

    True for strings, integers, booleans and categoricals of those; False for floats
    (``-0.0 == 0.0``) and mixed object columns (``3 == 3.0``), which are converted first.
    """
    dt = values.dtype
    if isinstance(dt, pd.CategoricalDtype):
        return _distinct_as_text(pd.Series(dt.categories))
    if dt == object:
        return pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")
    return bool(pd.api.types.is_string_dtype(dt) or pd.api.types.is_integer_dtype(dt) or pd.api.types.is_bool_dtype(dt))


def _text_factorize(values) -> tuple[np.ndarray, list] | None:
    """``pd.factorize(values)`` (codes, distinct values) when :func:`_distinct_as_text`, else None."""
    values = pd.Series(values)
    if not _distinct_as_text(values):
        return None
    codes, uniques = pd.factorize(values)
    return codes, list(uniques)


def _sector_codes(values, *, factorized: tuple[np.ndarray, list] | None = None) -> tuple[np.ndarray, list[str]]:
    """Sector of each firm as a code into a list of names, without a Python object per firm.

    The same labels as ``values.astype(object).where(values.notna(), "unknown").astype(str)``
    (each distinct value as ``str``, missing values as ``"unknown"``), computed on the
    distinct values only: ``names[codes[i]]`` is firm ``i``'s label.  ``factorized`` is
    ``_text_factorize(values)`` when it was already computed.
    """
    if factorized is None:
        factorized = _text_factorize(values)
    if factorized is None:  # e.g. 3 and 3.0 in one object column: labels "3" and "3.0"
        values = pd.Series(values)
        values = values.astype("object").where(values.notna(), "unknown").astype(str)
        factorized = pd.factorize(values)
    codes, uniques = factorized
    labels = [str(u) for u in uniques] + ["unknown"]  # code -1 (missing) picks the last entry
    names = list(dict.fromkeys(labels))
    where = {n: i for i, n in enumerate(names)}
    remap = np.array([where[label] for label in labels], dtype=np.int64)
    return remap[codes], names


def _str_equals(values, value: Any, *, factorized: tuple[np.ndarray, list] | None = None) -> np.ndarray:
    """``(values.astype(str) == str(value)).to_numpy()`` on the distinct values only (missing: False).

    ``factorized`` is ``_text_factorize(values)`` when it was already computed.
    """
    if factorized is None:
        factorized = _text_factorize(values)
    if factorized is None:
        return (pd.Series(values).astype(str) == str(value)).to_numpy(dtype=bool)
    codes, uniques = factorized
    hit = np.array([str(u) == str(value) for u in uniques] + [False], dtype=bool)
    return hit[codes]


def _firm_layer(m, firms, lonlat: np.ndarray, k: np.ndarray, rows: np.ndarray | None, *, label: str, sectors: list[str],
                colours: dict, fc, show: bool, legend) -> Any:
    """One firm layer drawn as points, marker clusters or a heat map by count.

    ``lonlat`` (rounded) and ``k`` (index into ``sectors``) are the layer's firms; ``rows``
    their positions in ``firms`` (None: all of them), read only for the names and years of
    individual markers.
    """
    import folium

    E = _elements()
    n = len(lonlat)
    mode = firm_layer_mode(n)
    styles = [{"radius": 3.5, "weight": 0.5, "color": "#333333", "opacity": 0.8, "fillColor": colours[s],
               "fillOpacity": 0.85} for s in sectors]
    seen = _used_codes(k)
    present = [sectors[i] for i in seen.tolist()]  # sectors is sorted, so this keeps its order
    if mode == "points":
        sub = firms if rows is None else firms.iloc[rows]
        names = sub[fc.name_column] if fc.name_column in sub else pd.Series("", index=sub.index)
        years = sub[fc.founded_column] if fc.founded_column in sub else pd.Series(np.nan, index=sub.index)
        out = []
        for (lon, lat), kk, nm, y in zip(lonlat, k, names, years):
            yy = _year(y)
            tip = f"<b>{escape(nm)}</b><br><i>{escape(sectors[kk])}</i>{f' · founded {yy}' if yy is not None else ''}"
            out.append([float(lat), float(lon), int(kk), tip])
        fg = folium.FeatureGroup(name=f"Firms: {escape(label)}", show=show)
        E["PointsLayer"](_js(out), styles).add_to(fg)
        fg.add_to(m)
        layer = fg
        how = f"{n:,} firms, one marker each; hover for the name"
    elif mode == "clusters":
        data = np.column_stack([lonlat[:, 1], lonlat[:, 0]]).tolist()
        for row, kk in zip(data, k.tolist()):
            row.append(kk)
        callback = (
            "(function () { var S = " + _js(styles) + ", N = " + _js([escape(s) for s in sectors]) + ";"
            " return function (row) { var mk = L.circleMarker(new L.LatLng(row[0], row[1]), S[row[2]]);"
            " mk.bindTooltip(N[row[2]]); return mk; }; })()"
        )
        # wrapped in a feature group: FastMarkerCluster adds itself to the map even with show=False
        layer = folium.FeatureGroup(name=f"Firms: {escape(label)} (clustered)", show=show)
        E["FastMarkerCluster"](data, callback=callback, control=False,
                               options={"chunkedLoading": True, "maxClusterRadius": 50}).add_to(layer)
        layer.add_to(m)
        how = f"{n:,} firms in marker clusters (over {POINTS_MAX:,}: no names); zoom in to split them"
    else:
        bins, cell = _heat_bins(lonlat)
        w = bins[:, 2]
        top = float(np.quantile(w, 0.99)) if len(w) else 1.0
        data = np.column_stack([bins[:, 0], bins[:, 1], np.round(np.minimum(w / max(top, 1.0), 1.0), 3)]).tolist()
        layer = folium.FeatureGroup(name=f"Firms: {escape(label)} (heat map)", show=show)
        E["HeatMap"](data, control=False, radius=12, blur=14, min_opacity=0.3).add_to(layer)
        layer.add_to(m)
        how = (f"heat map of {n:,} firms binned to {len(bins):,} cells of {format_distance(cell)} "
               f"(over {CLUSTER_MAX:,} firms); weights saturate at the 99th percentile cell")
    rows_html = "" if mode == "heatmap" else "".join(
        _swatch(colours[s], escape(s), kind="dot") for s in present)
    legend.add(layer, f"<h4>Firms: {escape(label)}</h4>{rows_html}<div class=\"note\">{escape(how)}</div>")
    return layer


def _firm_layers(m, vr, results, legend, *, data: _ValleyData | None = None) -> None:
    """The target-sector and all-sectors firm layers, from arrays (no per-firm Python objects)."""
    fc = results.config.firms
    target = results.config.analysis.target_sector
    firms = vr.firms
    if len(firms) == 0:
        return
    data = _ValleyData(vr, results) if data is None else data
    if fc.sector_column in firms:
        codes, names = _sector_codes(firms[fc.sector_column], factorized=data.sectors)
        present = set(np.asarray(names, dtype=object)[_used_codes(codes)].tolist())
        # the same colour for a sector on every valley's map
        sectors = sorted(present | data.run.sectors(data))
        position = {s: i for i, s in enumerate(sectors)}
        k = np.array([position.get(nm, -1) for nm in names], dtype=np.int64)[codes]  # every used name has a position
    else:
        present, sectors = set(), ["firms"]
        k = np.zeros(len(firms), dtype=np.int64)
    colours = {s: SECTOR_COLOURS[i % len(SECTOR_COLOURS)] for i, s in enumerate(sectors)}
    lonlat, located = data.located
    lonlat = _round_coords(lonlat)
    all_located = len(located) == len(firms)  # then located is arange(len(firms))
    kl = k if all_located else k[located]
    has_target = target is not None and str(target) in present
    if has_target:
        rows = np.flatnonzero(kl == sectors.index(str(target)))
        _firm_layer(m, firms, lonlat[rows], kl[rows], located[rows], label=str(target), sectors=sectors,
                    colours=colours, fc=fc, show=True, legend=legend)
    _firm_layer(m, firms, lonlat, kl, None if all_located else located, label="all sectors",
                sectors=sectors, colours=colours, fc=fc, show=not has_target, legend=legend)


def _firm_coords(firms) -> tuple[np.ndarray, np.ndarray]:
    """Every lon/lat of the firms' geometries and the position of its firm (``get_coordinates``)."""
    import shapely

    from geo.points import PointFrame

    if len(firms) == 0:
        return np.empty((0, 2)), np.empty(0, dtype=np.int64)
    if isinstance(firms, PointFrame):  # a NaN coordinate is a firm without a point
        xy = np.column_stack(_to_wgs84(firms).coords())
        ok = np.isfinite(xy).all(axis=1)
        return (xy, np.arange(len(xy))) if ok.all() else (xy[ok], np.flatnonzero(ok))
    return shapely.get_coordinates(_to_wgs84(firms).geometry.values, return_index=True)


def _located(coords: np.ndarray, idx: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(lon/lat of each located firm, their positions) from :func:`_firm_coords` of ``n`` firms.

    Firms without a point are left out; ``coords`` itself is returned when each firm has one.
    """
    if n == 0:
        return np.empty((0, 2)), np.empty(0, dtype=np.int64)
    if len(idx) == n and (len(idx) == 0 or (idx[0] == 0 and np.all(np.diff(idx) == 1))):
        return coords, np.arange(n)
    first = np.r_[True, np.diff(idx) != 0] if len(idx) else np.zeros(0, dtype=bool)
    return coords[first], idx[first]


# ----------------------------------------------------------------------------- density raster
def _kde_layer(m, points, *, name: str, legend, grid=None, crs=None) -> Any:
    """An image overlay of the kernel density of ``points``, or None.

    ``points`` is a metric GeoSeries, or an (n, 2) array of coordinates in ``crs``.

    ``grid`` is that density when the run already computed it (the ``density`` stage is
    ``kernel_density`` of the valley's metric firms with the default options).
    """
    import matplotlib
    from folium.raster_layers import ImageOverlay

    from geo.errors import GeoError
    from geo.outputs.raster import density_to_png
    from geo.stats.density import kernel_density

    if len(points) < 2:
        return None
    try:
        if grid is None:
            grid = kernel_density(points, crs=crs)
        buf = io.BytesIO()
        bounds = density_to_png(grid, buf, cmap=KDE_CMAP, max_size=KDE_MAX_PX)
    except GeoError as exc:
        log.info("no density layer %r: %s", name, exc)
        return None
    valid = grid.array[~np.isnan(grid.array)]
    vmax = float(np.percentile(valid, 99.5)) if valid.size else 0.0
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    pane = _pane(m, "geo-kde", 350)
    layer = ImageOverlay(uri, bounds=bounds, opacity=0.6, name=name, show=False, pixelated=False, pane=pane)
    layer.add_to(m)
    cmap = matplotlib.colormaps[KDE_CMAP]
    stops = ", ".join(matplotlib.colors.to_hex(cmap(t)) for t in np.linspace(0, 1, 9))
    legend.add(layer, (
        f"<h4>{name}</h4><div class=\"ramp\" style=\"background:linear-gradient(to right, {stops})\"></div>"
        f"<div class=\"row\">0 <span style=\"float:right\">≥ {format_number(vmax)} firms per km²</span></div>"
        f"<div class=\"note\">Gaussian kernel, bandwidth {format_distance(grid.bandwidth_m)} ({escape(grid.bandwidth_rule)} rule), "
        f"{grid.n_points:,} firms; below 2 % of the top value transparent</div>"))
    return layer


def _metric_firms(vr):
    fm = vr.stages.get("metric_firms")
    if fm is not None:
        return fm
    if len(vr.firms) == 0:
        return None
    from geo.crs import to_metric
    from geo.errors import GeoError

    try:
        return to_metric(vr.firms)
    except GeoError as exc:  # pragma: no cover - firms always have a CRS after read_firms
        log.info("no metric firms for the density layer: %s", exc)
        return None


def _kde_layers(m, vr, results, legend, *, data: _ValleyData | None = None) -> None:
    from geo.points import PointFrame

    data = _ValleyData(vr, results) if data is None else data
    fm = data.metric_firms
    if fm is None:
        return
    target = results.config.analysis.target_sector
    _kde_layer(m, fm, name="Firm density (KDE)", legend=legend, grid=vr.stages.get("density"))
    mask = data.target_mask
    if mask is not None and mask.sum() >= 2:
        xy, points_only = data.target_xy
        name = f"Firm density (KDE, {escape(target)})"
        if points_only:  # their coordinates: the same density as of the points, without reading them again
            _kde_layer(m, xy, name=name, legend=legend, crs=fm.crs)
        elif isinstance(fm, PointFrame):  # a NaN coordinate: a firm without a point
            _kde_layer(m, xy[np.isfinite(xy).all(axis=1)], name=name, legend=legend, crs=fm.crs)
        else:
            import geopandas as gpd

            _kde_layer(m, gpd.GeoSeries(fm.geometry.values[mask], crs=fm.crs), name=name, legend=legend)


# ----------------------------------------------------------------------------- founding years
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
    lon, lat = _round_coords(np.asarray(lon)), _round_coords(np.asarray(lat))
    first, last = int(cells["start"].min()), int(cells["end"].max()) - 1
    designations: dict[int, list[str]] = {}
    parks_feats = []
    overlay = vr.stages.get("parks_overlay")
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
                              " Math.sqrt(f.properties.n), 28)}); }"),
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


# ----------------------------------------------------------------------------- public maps
def _target_label(vr, results) -> str:
    target = results.config.analysis.target_sector
    focus = vr.stages.get("focus_column")
    if target is not None and focus not in (None, "n_firms"):
        return f"{target} firms"
    return "all firms"


def valley_map(results, valley: str, *, m=None):
    """The interactive map of one valley: parks, hot spots, clusters, firms, density, time slider.

    The layers are described in the module docstring; each appears when its stage ran.
    ``results`` is not modified.

    Parameters
    ----------
    results : geo.pipeline.results.Results
        The outputs of :func:`geo.run`.
    valley : str
        A valley name of the run (a key of ``results.valleys``).
    m : folium.Map, optional
        Draw onto this map instead of a new one (its view, basemap and controls are kept;
        a layer control is added if it has none).

    Returns
    -------
    folium.Map

    Raises
    ------
    geo.errors.InputError
        ``valley`` is not a valley of the run.

    Examples
    --------
    >>> import geo
    >>> from geo.datasets import demo_files
    >>> res = geo.run(demo_files()["config"])                      # doctest: +SKIP
    >>> m = geo.outputs.maps.valley_map(res, "Wuhan")                      # doctest: +SKIP
    >>> geo.outputs.maps.save_map(m, "wuhan.html")                         # doctest: +SKIP
    """
    return _valley_map(results, valley, m=m)


def _valley_map(results, valley: str, *, m=None, data: _ValleyData | None = None):
    vr = _valley(results, valley)
    own = m is None
    data = _ValleyData(vr, results) if data is None else data
    clusters = vr.stages.get("clusters")
    m = _base_map(_union_bounds(data.located_bounds, _gdf_bounds(vr.parks), _gdf_bounds(clusters)), m)
    before = set(m._children)
    legend = _elements()["Legend"](title="Legend")
    target = results.config.analysis.target_sector
    target_label = _target_label(vr, results)
    overlay = vr.stages.get("parks_overlay")
    if len(vr.parks):
        _parks_layer(m, vr.parks, overlay, target, legend)
        _models_layer(m, vr, legend)
    _hotspot_layers(m, vr, target_label, legend)
    _clusters_layer(m, vr, target_label, legend)
    _firm_layers(m, vr, results, legend, data=data)
    _stacks_layer(m, vr, results, legend)  # above the firm markers: a stack hides under its own firms otherwise
    _timeline_layer(m, vr, results, legend, data=data)
    _kde_layers(m, vr, results, legend, data=data)
    skipped = "; ".join(f"{escape(k)}: {escape(v)}" for k, v in vr.skipped.items())
    if skipped:
        legend.add(None, f'<div class="note"><b>Not shown</b> — {skipped}</div>')
    _rename_clashes(m, before, escape(vr.name))
    n_all = getattr(vr, "n_total", len(vr.firms))
    sample = f" (points: a sample of {len(vr.firms):,})" if n_all > len(vr.firms) else ""
    sub = f"{n_all:,} firms{sample} · {len(vr.parks)} park{'s' if len(vr.parks) != 1 else ''}"
    _finish(m, legend, _title_html(vr.title, sub, results.synthetic, "index.html"), own)
    return m


def _rename_clashes(m, before: set, suffix: str) -> None:
    """Give new layers whose name is already used on ``m`` a suffix (the layer control keys by name)."""
    from folium.map import Layer

    taken = {c.layer_name for k, c in m._children.items() if k in before and isinstance(c, Layer)}
    for k, c in m._children.items():
        if k not in before and isinstance(c, Layer) and c.layer_name in taken:
            c.layer_name = f"{c.layer_name} ({suffix})"


def _valley_summary(vr, results, data: _ValleyData | None = None) -> str:
    target = results.config.analysis.target_sector
    fc = results.config.firms
    lines = [f"<b>{escape(vr.title)}</b>", f"{getattr(vr, 'n_total', len(vr.firms)):,} firms"]
    if target is not None and fc.sector_column in vr.firms:
        factorized = None if data is None else data.sectors
        nt = int(_str_equals(vr.firms[fc.sector_column], target, factorized=factorized).sum())
        lines[-1] += f", {nt:,} {escape(target)}"
    hot = vr.stages.get("hotspots")
    if hot is not None and "gi_bin" in hot:
        lines.append(f"{int((hot['gi_bin'] > 0).sum()):,} hot cells, {len(vr.stages.get('clusters', [])):,} cluster(s)")
    overlay = vr.stages.get("parks_overlay")
    lines.append(f"{len(vr.parks)} park{'s' if len(vr.parks) != 1 else ''}")
    for _, park, row in _park_rows(_to_wgs84(vr.parks) if len(vr.parks) else vr.parks, overlay):
        verdict = None if row is None else row.get("verdict")
        v = escape(verdict) if not _missing(verdict) else "no verdict"
        lines.append(f'· {escape(park.get("name"))}: <span style="color:{verdict_colour(verdict)}">{v}</span>')
    for k, v in vr.skipped.items():
        if k in ("statistics", "hotspots"):
            lines.append(f'<span style="color:#666">{escape(v)}</span>')
    return "<br>".join(lines)


def overview_map(results, *, m=None):
    """All valleys on one map: each an outline and a labelled marker linking to its own map.

    The outline is the convex hull of the valley's firms; the tooltip summarises firms,
    hot spots, parks and verdicts; the marker's label links to ``<valley>.html`` (as
    written by :func:`write_maps` into the same folder).  Parks are drawn by verdict.
    ``results`` is not modified.

    Parameters
    ----------
    results : geo.pipeline.results.Results
    m : folium.Map, optional
        Draw onto this map instead of a new one.

    Returns
    -------
    folium.Map
    """
    return _overview_map(results, m=m)


def _overview_map(results, *, m=None, data: dict[str, _ValleyData] | None = None):
    import folium

    from geo.outputs._write import safe_name, url_name

    own = m is None
    if data is None:
        run = _RunData(results)
        data = {name: _ValleyData(vr, results, run) for name, vr in results.valleys.items()}
    lonlats = {name: data[name].lonlat for name in results.valleys}
    robust = {name: data[name].bounds for name in results.valleys}
    boxes = list(robust.values())
    boxes.append(_gdf_bounds(results.parks))
    m = _base_map(_union_bounds(*boxes), m)
    before = set(m._children)
    legend = _elements()["Legend"](title="Legend")
    E = _elements()
    if len(results.parks):
        overlays = [vr.stages["parks_overlay"] for vr in results.valleys.values() if "parks_overlay" in vr.stages]
        ov = pd.concat(overlays) if overlays else None
        if ov is not None:
            ov = ov[~ov.index.duplicated(keep="first")]
        _parks_layer(m, results.parks, ov, results.config.analysis.target_sector, legend)
    fg = folium.FeatureGroup(name="Valleys", show=True)
    geoms, props = [], []
    n_linked = 0
    for name, vr in results.valleys.items():
        ll = lonlats[name]
        if len(ll) == 0:
            continue
        link = url_name(f"{safe_name(name)}.html")
        summary = _valley_summary(vr, results, data[name])
        hull = _convex_hull(ll)
        if hull.geom_type != "Polygon":
            hull = hull.buffer(0.01)
        geoms.append(hull)
        popup = f'{summary}<br><a href="{escape(link)}" target="_self">open the valley map →</a>'
        props.append({"k": "v", "t": summary, "p": popup})
        b = robust[name]
        label = (f'<a class="geo-valley-link" href="{escape(link)}" target="_self" '
                 f'title="open the map of {escape(vr.title)}">● {escape(vr.title)}</a>')
        folium.Marker([(b[1] + b[3]) / 2, (b[0] + b[2]) / 2],
                      icon=folium.DivIcon(html=label, icon_size=(1, 1), icon_anchor=(0, 12), class_name="geo-valley"),
                      ).add_to(fg)
        n_linked += 1
    styles = {"v": {"color": "#d7301f", "weight": 2, "fillColor": "#d7301f", "fillOpacity": 0.06}}
    E["GeoJsonLayer"](_feature_collection(_geometries_json(geoms, simplify=_SIMPLIFY_M / _M_PER_DEG), props),
                      styles).add_to(fg)
    fg.add_to(m)
    legend.add(fg, "<h4>Valleys</h4>" + _swatch("#d7301f", "study area (hull of its firms)", kind="ln")
               + '<div class="note">click a valley\'s name to open its map; hover the outline for a summary</div>')
    _rename_clashes(m, before, "overview")
    n_firms = sum(getattr(v, "n_total", len(v.firms)) for v in results.valleys.values())
    sub = f"{n_linked} valle{'ys' if n_linked != 1 else 'y'} · {n_firms:,} firms · {len(results.parks)} parks"
    _finish(m, legend, _title_html(results.config.run.title, sub, results.synthetic, None), own)
    return m


def write_maps(results, out_dir: str | Path) -> dict[str, Path]:
    """Write ``index.html`` and one ``<valley>.html`` per valley (with firms) into ``out_dir``.

    Parameters
    ----------
    results : geo.pipeline.results.Results
    out_dir : str or pathlib.Path
        Created if missing.

    Returns
    -------
    dict
        ``{"map_index": path, "map_<valley>": path, ...}``
    """
    from geo.outputs._write import safe_name

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = _RunData(results)  # what both maps of a valley read from its firms is read once
    data = {name: _ValleyData(vr, results, run) for name, vr in results.valleys.items()}
    written = {"map_index": save_map(_overview_map(results, data=data), out / "index.html")}
    for name, vr in results.valleys.items():
        if not len(vr.firms):
            continue
        written[f"map_{name}"] = save_map(_valley_map(results, name, data=data[name]), out / f"{safe_name(name)}.html")
        del data[name]  # its arrays are no longer needed
    return written
