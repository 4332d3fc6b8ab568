"""The map frame: a basemap fitted to the valley with its controls, panes, layer names."""

from __future__ import annotations

from geo.outputs.maps._assets import _UNUSED_ASSETS, _elements, _ensure_css
from geo.outputs.maps._basemap import add_basemap, display_bounds
from geo.outputs.maps._html import _js

__all__: list[str] = []


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
    # fit to the bounds, leaving room for the layer control and legend (right) and the slider (bottom)
    box = _js([[round(s, 6), round(w, 6)], [round(n, 6), round(e, 6)]])
    _elements()["Html"](kind="FitValley", js=(
        f"(function () {{ var map = {m.get_name()}, size = map.getSize();"
        f" map.fitBounds({box}, {{paddingTopLeft: [Math.min(60, size.x * 0.1), Math.min(70, size.y * 0.1)],"
        " paddingBottomRight: [Math.min(290, size.x * 0.3), Math.min(90, size.y * 0.15)], animate: false}); })();")).add_to(m)
    plugins.Fullscreen(position="topleft").add_to(m)
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


def _rename_clashes(m, before: set, suffix: str) -> None:
    """Give new layers whose name is already used on ``m`` a suffix (the layer control keys by name)."""
    from folium.map import Layer

    taken = {c.layer_name for k, c in m._children.items() if k in before and isinstance(c, Layer)}
    for k, c in m._children.items():
        if k not in before and isinstance(c, Layer) and c.layer_name in taken:
            c.layer_name = f"{c.layer_name} ({suffix})"
