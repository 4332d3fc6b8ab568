"""The overview of all valleys (:func:`overview_map`) and the writing of every map (:func:`write_maps`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from geo._docs import shared_doc
from geo.outputs._style import verdict_colour
from geo.outputs.maps._assets import _elements, save_map
from geo.outputs.maps._basemap import on_basemap
from geo.outputs.maps._data import _park_rows, _RunData, _str_equals, _ValleyData
from geo.outputs.maps._frame import _MAP_DOC, _base_map, _rename_clashes
from geo.outputs.maps._geometry import (
    _M_PER_DEG,
    _SIMPLIFY_M,
    _convex_hull,
    _feature_collection,
    _gdf_bounds,
    _geometries_json,
    _to_wgs84,
    _union_bounds,
)
from geo.outputs.maps._html import _missing, escape
from geo.outputs.maps.layers import _parks_layer
from geo.outputs.maps.legend import _finish, _legend, _swatch, _title_html
from geo.outputs.maps.valley import _valley_map

__all__ = ["overview_map", "write_maps"]


def _valley_summary(vr, results, data: _ValleyData | None = None) -> str:
    target = results.config.analysis.target_sector
    fc = results.config.firms
    lines = [f"<b>{escape(vr.title)}</b>", f"{getattr(vr, 'n_total', len(vr.firms)):,} firms"]
    if target is not None and fc.sector_column in vr.firms:
        factorized = None if data is None else data.sectors
        nt = int(_str_equals(vr.firms[fc.sector_column], target, factorized=factorized).sum())
        lines[-1] += f", {nt:,} {escape(target)}"
    hot = vr.analysis.hotspots
    if hot is not None and "gi_bin" in hot:
        lines.append(f"{int((hot['gi_bin'] > 0).sum()):,} hot cells, {len(vr.analysis.clusters if vr.analysis.clusters is not None else []):,} cluster(s)")
    overlay = vr.analysis.parks_overlay
    lines.append(f"{len(vr.parks)} park{'s' if len(vr.parks) != 1 else ''}")
    for _, park, row in _park_rows(_to_wgs84(vr.parks) if len(vr.parks) else vr.parks, overlay):
        verdict = None if row is None else row.get("verdict")
        v = escape(verdict) if not _missing(verdict) else "no verdict"
        lines.append(f'· {escape(park.get("name"))}: <span style="color:{verdict_colour(verdict)}">{v}</span>')
    for k, v in vr.skipped.items():
        if k in ("statistics", "hotspots"):
            lines.append(f'<span style="color:#666">{escape(v)}</span>')
    return "<br>".join(lines)


@shared_doc(**_MAP_DOC)
def overview_map(results, *, m=None):
    """All valleys on one map: each an outline and a labelled marker linking to its own map.

    The outline is the convex hull of the valley's firms; the tooltip summarises firms,
    hot spots, parks and verdicts; the marker's label links to ``<valley>.html`` (as
    written by :func:`write_maps` into the same folder).  Parks are drawn by verdict.
    ``results`` is not modified.

    Parameters
    ----------
    results : geo.pipeline.results.Results
    {m}

    {returns}
    """
    return _overview_map(results, m=m)


@on_basemap
def _overview_map(results, *, m=None, data: dict[str, _ValleyData] | None = None):
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
    legend = _legend("Legend")
    if len(results.parks):
        overlays = [vr.analysis.parks_overlay for vr in results.valleys.values() if vr.analysis.parks_overlay is not None]
        ov = pd.concat(overlays) if overlays else None
        if ov is not None:
            ov = ov[~ov.index.duplicated(keep="first")]
        _parks_layer(m, results.parks, ov, results.config.analysis.target_sector, legend)
    entries = []
    for name, vr in results.valleys.items():
        ll = lonlats[name]
        if len(ll) == 0:
            continue
        area = vr.analysis.study_area  # geo.cells.area.StudyArea (none when the statistics did not run)
        hull = area.in_crs("EPSG:4326") if area is not None else _convex_hull(ll)
        entries.append((vr.title, url_name(f"{safe_name(name)}.html"), hull, robust[name],
                        _valley_summary(vr, results, data[name])))
    n_linked = _valleys_layer(m, entries, legend)
    _rename_clashes(m, before, "overview")
    n_firms = sum(getattr(v, "n_total", len(v.firms)) for v in results.valleys.values())
    sub = f"{n_linked} valle{'ys' if n_linked != 1 else 'y'} · {n_firms:,} firms · {len(results.parks)} parks"
    _finish(m, legend, _title_html(results.config.run.title, sub, results.synthetic, None), own)
    return m


#: the legend's words for a valley's outline on the firm runs' overview
_AREA_LABEL = "study area (the report's grid section says how it was drawn)"


def _valleys_layer(m, valleys: list[tuple], legend, *, area_label: str = _AREA_LABEL) -> int:
    """The layer "Valleys" of an overview: each valley's outline and a labelled marker linking to its map.

    ``valleys`` holds ``(title, link, outline, bounds, summary)`` per valley: its title, the file
    name of its map, its outline (a shapely geometry in WGS84; a point or line is widened), its
    (west, south, east, north) (the marker is at its centre) and its summary (escaped HTML: the
    outline's tooltip, and its popup with the link); ``area_label`` says in the legend what the
    outline is (escaped HTML).  Returns how many valleys were drawn.
    """
    import folium

    fg = folium.FeatureGroup(name="Valleys", show=True)
    geoms, props = [], []
    for title, link, hull, b, summary in valleys:
        if hull.geom_type not in ("Polygon", "MultiPolygon"):
            hull = hull.buffer(0.01)
        geoms.append(hull)
        popup = f'{summary}<br><a href="{escape(link)}" target="_self">open the valley map →</a>'
        props.append({"k": "v", "t": summary, "p": popup})
        label = (f'<a class="geo-valley-link" href="{escape(link)}" target="_self" '
                 f'title="open the map of {escape(title)}">● {escape(title)}</a>')
        folium.Marker([(b[1] + b[3]) / 2, (b[0] + b[2]) / 2],
                      icon=folium.DivIcon(html=label, icon_size=(1, 1), icon_anchor=(0, 12), class_name="geo-valley"),
                      ).add_to(fg)
    styles = {"v": {"color": "#d7301f", "weight": 2, "fillColor": "#d7301f", "fillOpacity": 0.06}}
    _elements()["GeoJsonLayer"](_feature_collection(_geometries_json(geoms, simplify=_SIMPLIFY_M / _M_PER_DEG), props),
                                styles).add_to(fg)
    fg.add_to(m)
    legend.add(fg, "<h4>Valleys</h4>" + _swatch("#d7301f", area_label, kind="ln")
               + '<div class="note">click a valley\'s name to open its map; hover the outline for a summary</div>')
    return len(geoms)


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
