"""The legend control (a section per layer, shown while the layer is on), the title box, swatches."""

from __future__ import annotations

from typing import Any

from geo.outputs.maps._assets import _elements
from geo.outputs.maps._html import _js, escape

__all__: list[str] = []


# ----------------------------------------------------------------------------- the legend element
def _legend(title: str = "Legend"):
    """A new legend control; its class is built when first needed (folium is imported only when maps are made)."""
    global _LEGEND
    if _LEGEND is None:
        _LEGEND = _legend_class()
    return _LEGEND(title=title)


_LEGEND: type | None = None


def _legend_class() -> type:
    from folium.template import Template

    Macro = _elements()["Macro"]

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
    if (map.getSize().x < 700) { box.querySelector("details").open = false; }  // a phone: the map first
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

    return Legend


def _finish(m, legend, title_html: str | None, own: bool) -> None:
    """Layer control (once per map), then the legend under it, then the title."""
    import folium

    if not any(isinstance(c, folium.LayerControl) for c in m._children.values()):
        from folium.utilities import JsCode

        # expanded, except on a narrow screen, where it would cover the map
        folium.LayerControl(collapsed=JsCode("window.innerWidth < 700"), position="topright").add_to(m)
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
