"""The page around the layers: Leaflet assets inlined for offline use, our Folium elements, the CSS.

:func:`inline_assets` replaces the CDN ``<script>``/``<link>`` tags by the assets' content (from the
folium-offline package) and :func:`save_map` writes a map with them inlined.  :func:`_elements`
builds the Folium element classes the layers are drawn with, lazily (folium is imported only
when maps are made).
"""

from __future__ import annotations

import base64
import json
import logging
import re
from pathlib import Path

from geo.outputs.maps._html import _js

__all__ = ["inline_assets", "save_map"]

log = logging.getLogger(__name__)


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
        """GeoJSON features styled by their ``k`` property, with pre-escaped tooltip ``t`` / popup ``p``.

        ``data_js`` is the FeatureCollection's JSON text; with ``features_of`` (another
        GeoJsonLayer, rendered before this one) that layer's features are drawn again, in
        another style or pane, without a second copy in the page, and ``data_js`` is left
        empty.  Tooltips and popups are bound only when ``interactive``.
        """

        _template = Template(
            """
{% macro script(this, kwargs) %}
var {{ this.get_name() }}_styles = {{ this.styles_js }};
var {{ this.get_name() }}_data = {{ this.data_ref }};
var {{ this.get_name() }} = L.geoJson({{ this.get_name() }}_data, {
    {%- if this.pane %}pane: {{ this.pane|tojson }},{% endif %}
    interactive: {{ this.interactive|tojson }},
    style: function (f) { return {{ this.get_name() }}_styles[f.properties.k] || {}; },
    pointToLayer: function (f, latlng) { return L.circleMarker(latlng); },
    onEachFeature: function (f, layer) {
        {%- if this.interactive %}
        if (f.properties.t) { layer.bindTooltip(f.properties.t, {sticky: true}); }
        if (f.properties.p) { layer.bindPopup(f.properties.p, {maxWidth: 380}); }
        {%- endif %}
    }
}).addTo({{ this._parent.get_name() }});
{% endmacro %}
"""
        )

        def __init__(self, data_js: str | None, styles: dict, *, pane: str | None = None, interactive: bool = True,
                     features_of: GeoJsonLayer | None = None):
            super().__init__()
            self._name = "GeoJsonLayer"
            self.features_of = features_of
            self.data_js = "" if features_of is not None else data_js
            self.styles_js = _js({str(k): v for k, v in styles.items()})
            self.pane = pane
            self.interactive = interactive

        def render(self, **kwargs):
            of = self.features_of
            self.data_ref = f"{of.get_name()}_data" if of is not None else self.data_js
            try:
                super().render(**kwargs)
            finally:
                del self.data_ref

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

    _ELEMENTS = {"Macro": Macro, "GeoJsonLayer": GeoJsonLayer, "PointsLayer": PointsLayer, "Html": Html,
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
.geo-popup-open .leaflet-tooltip-pane { display: none; }
.leaflet-tooltip-pane .leaflet-tooltip { white-space: normal; width: max-content; max-width: min(360px, 80vw); }
.leaflet-bottom.leaflet-left { width: auto !important; }
.leaflet-top.leaflet-right .leaflet-control-layers-expanded { max-width: 290px; }
.leaflet-top.leaflet-right .leaflet-control-layers-expanded label > span { display: flex; align-items: flex-start;
  white-space: normal; }
.leaflet-top.leaflet-right .leaflet-control-layers-expanded label input { flex: none; margin-top: 2px; }
.leaflet-control.leaflet-timeline-control { width: min(600px, calc(100vw - 40px)) !important; box-sizing: border-box;
  margin: 0 0 12px 10px !important; padding: 4px 8px 5px 8px; display: flex; flex-wrap: wrap; align-items: center;
  column-gap: 8px; }
.leaflet-control.leaflet-timeline-control .sldr-ctrl-container,
.leaflet-control.leaflet-timeline-control .time-text { display: contents; }
.leaflet-control.leaflet-timeline-control .button-container { order: 1; }
.leaflet-timeline-control .time-text b { order: 2; font: bold 13px Arial, sans-serif; }
.leaflet-control.leaflet-timeline-control input[type="range"] { order: 3; flex: 1 1 120px; width: auto; min-width: 0; }
.leaflet-timeline-control .geo-des { order: 4; flex: 1 0 100%; text-align: left; white-space: normal;
  overflow-wrap: anywhere; font: 12px/1.3 Arial, sans-serif; color: #333; }
@media (max-width: 700px) {
  .geo-title { max-width: calc(100% - 120px); font-size: 12px; }
  .geo-title .sub { font-size: 11px; }
}
</style>"""


def _marker_cluster_css() -> str:
    """The marker-cluster bubbles in the neutral ramp of :data:`geo.outputs._style.MARKER_CLUSTER_COLOURS`."""
    from geo.outputs._style import MARKER_CLUSTER_COLOURS

    rules = []
    for size, (halo, disc, text) in MARKER_CLUSTER_COLOURS.items():
        rules.append(f".marker-cluster.geo-mcluster-{size} {{ background-color: {halo}; }}\n"
                     f".marker-cluster.geo-mcluster-{size} div {{ background-color: {disc}; color: {text}; }}")
    return "<style>\n" + "\n".join(rules) + "\n</style>"


#: what a map does on its own: while a popup is open the tooltips are hidden (a popup's reasoning
#: is never covered by the tooltip of the feature under the mouse)
_BEHAVIOUR_JS = """(function () { var map = %s, box = map.getContainer();
 map.on("popupopen", function () { L.DomUtil.addClass(box, "geo-popup-open"); });
 map.on("popupclose", function () { L.DomUtil.removeClass(box, "geo-popup-open"); });
 if (L.MarkerClusterGroup && !L.MarkerClusterGroup.prototype._geoGuard) {
  /* a marker-cluster layer switched on while the map pans (after a resize) can get a moveend
     while its cluster tree is still being built, and Leaflet.markercluster throws a TypeError:
     skip that moveend (the next one redraws the clusters) */
  var moveEnd = L.MarkerClusterGroup.prototype._moveEnd;
  L.MarkerClusterGroup.prototype._moveEnd = function () {
   try { return moveEnd.apply(this, arguments); } catch (e) { if (!(e instanceof TypeError)) { throw e; } } };
  L.MarkerClusterGroup.prototype._geoGuard = true; } })();"""


def _ensure_css(m) -> None:
    """Add the maps' CSS and behaviour (:data:`_BEHAVIOUR_JS`) once per map."""
    for child in m.get_root().header._children.values():
        if getattr(child, "_geo_css", False):
            return
    from branca.element import Element

    el = Element(_CSS + _marker_cluster_css())
    el._geo_css = True
    m.get_root().header.add_child(el)
    _elements()["Html"](kind="Behaviour", js=_BEHAVIOUR_JS % m.get_name()).add_to(m)
