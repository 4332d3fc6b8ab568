"""The map frame: a basemap fitted to the valley with its controls, panes, layer names."""

from __future__ import annotations

from geo.outputs.maps._assets import _UNUSED_ASSETS, _elements, _ensure_css
from geo.outputs.maps._basemap import add_basemap, display_bounds
from geo.outputs.maps._html import _js

__all__: list[str] = []

#: the docstring sections the public map functions share (``{name}`` lines,
#: :func:`geo._docs.shared_doc`): the map to draw onto (:func:`_base_map`), what they return and
#: the error of a valley map
_MAP_DOC = {
    "m": """
        m : folium.Map, optional
            Draw onto this map instead of a new one (its view, basemap and controls are kept;
            a layer control is added if it has none).""",
    "returns": """
        Returns
        -------
        folium.Map""",
    "raises_valley": """
        Raises
        ------
        geo.errors.InputError
            ``valley`` is not a valley of the run.""",
}


def _base_map(bounds: list[float], m=None):
    """A new map fitted to ``bounds`` with its basemap (:mod:`._basemap`), fullscreen, minimap and
    scale bar; or ``m`` as is."""
    import folium
    from folium import plugins

    if m is not None:
        _ensure_css(m)
        return m
    w, s, e, n = display_bounds(bounds)  # on Amap's tiles: in GCJ-02
    m = folium.Map(location=[(s + n) / 2, (w + e) / 2], zoom_start=11, tiles=None, control_scale=True)
    m.default_js = [(k, v) for k, v in m.default_js if k not in _UNUSED_ASSETS]
    m.default_css = [(k, v) for k, v in m.default_css if k not in _UNUSED_ASSETS]
    add_basemap(m)  # the tiles of [maps] basemap, their failure note, the minimap
    # fit to the bounds, leaving room for the layer control and legend (right) and the slider (bottom);
    # on a narrow screen the layer control and legend are collapsed and the slider's caption wraps
    box = _js([[round(s, 6), round(w, 6)], [round(n, 6), round(e, 6)]])
    _elements()["Html"](kind="FitValley", js=(
        f"(function () {{ var map = {m.get_name()}, size = map.getSize(), narrow = size.x < 700;"
        f" map.fitBounds({box}, {{paddingTopLeft: [Math.min(60, size.x * 0.1), Math.min(70, size.y * 0.1)],"
        " paddingBottomRight: [narrow ? 20 : Math.min(290, size.x * 0.3), Math.min(narrow ? 130 : 90, size.y * 0.2)],"
        " maxZoom: 16, animate: false}); })();")).add_to(m)
    plugins.Fullscreen(position="topleft").add_to(m)
    _ensure_css(m)
    return m


#: the map panes of the layers, bottom to top (Leaflet's tile pane is at z-index 200, its overlay
#: pane at 400, markers 600, tooltips 650, popups 700).  Each pane has its own SVG renderer, so a
#: pane's features lie above every feature of the panes below, whatever order the layers are
#: added or turned on in.  A park is drawn three times: its tint under the cells, its outline
#: over everything, and a clear fill that takes the pointer above the cells, so that inside a
#: park hovering and clicking reach the park, not the cells under it.  The cluster outlines
#: (strokes only) and the firms, when turned on, lie above that fill, so they can still be
#: hovered inside a park.
_PANES = {
    "geo-kde": 350,  # density images
    "geo-park-tint": 405,  # the parks' tint (not interactive)
    "geo-cells": 410,  # Gi* and LISA cells
    "geo-parks": 420,  # the parks' clear interactive fills, parks by development model
    "geo-clusters": 430,  # cluster outlines
    "geo-firms": 440,  # firm markers, founding-year circles
    "geo-park-lines": 450,  # park outlines (not interactive)
    "geo-stacks": 460,  # stacked geocodes
}


def _pane(m, name: str) -> str:
    """The custom map pane ``name`` of :data:`_PANES` (created once per map).

    The pane itself takes no pointer events (``pointer-events: none``), so the map can be
    dragged through it; its interactive features take them (Leaflet's CSS gives
    ``path.leaflet-interactive`` ``pointer-events: auto``).
    """
    from folium.map import CustomPane

    for child in m._children.values():
        if isinstance(child, CustomPane) and child.name == name:
            return name
    CustomPane(name, z_index=_PANES[name], pointer_events=False).add_to(m)
    return name


def _rename_clashes(m, before: set, suffix: str) -> None:
    """Give new layers whose name is already used on ``m`` a suffix (the layer control keys by name)."""
    from folium.map import Layer

    taken = {c.layer_name for k, c in m._children.items() if k in before and isinstance(c, Layer)}
    for k, c in m._children.items():
        if k not in before and isinstance(c, Layer) and c.layer_name in taken:
            c.layer_name = f"{c.layer_name} ({suffix})"
