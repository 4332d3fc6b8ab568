"""The layers of a valley map drawn from the analysis: parks, development models, Gi* and LISA cells,
clusters, stacked geocodes, and the density surfaces of the run.

The firm layers are in :mod:`geo.outputs.maps.firms`, the founding-years slider in
:mod:`geo.outputs.maps.timeline`.
"""

from __future__ import annotations

import base64
import io
import logging
from typing import Any

import numpy as np
import pandas as pd

from geo.outputs._style import (
    EHS_COLOURS,
    EHS_LABELS,
    CLUSTER_COLOUR,
    GI_COLOURS,
    GI_LABELS,
    LISA_COLOURS,
    LISA_LABELS,
    MODEL_COLOURS,
    NO_VERDICT_COLOUR,
    PARK_EDGE_COLOUR,
    VERDICT_COLOURS,
    format_distance,
    format_number,
    format_pct,
    verdict_colour,
)
from geo.outputs.maps._assets import _elements
from geo.outputs.maps._data import _park_rows
from geo.outputs.maps._frame import _pane
from geo.outputs.maps._geometry import (
    _M_PER_DEG,
    _SIMPLIFY_M,
    _feature_collection,
    _geometries_json,
    _merge_cells,
    _simplify_tolerance,
    _to_wgs84,
)
from geo.outputs.maps._html import _missing, _num, _p, _year, escape
from geo.outputs.maps.legend import _swatch

__all__ = ["CELLS_MAX", "KDE_MAX_PX", "KDE_CMAP"]

log = logging.getLogger(__name__)


#: LISA labels drawn on the maps ("ns" is not drawn)
_LISA_DRAWN = {k: c for k, c in LISA_COLOURS.items() if k != "ns"}


#: above this many significant cells, cells of equal Gi* bin / LISA label are merged
CELLS_MAX = 3000


#: the longest side of a density image in pixels
KDE_MAX_PX = 1024


#: the Matplotlib colormap of the density overlays (light = low, so the basemap shows through)
KDE_CMAP = "YlGnBu"


# ----------------------------------------------------------------------------- parks
def _park_html(park, row, target: str | None, *, long: bool) -> str:
    year = _year(park.get("designated"))
    lines = [f"<b>{escape(park.get('name'))}</b>", f"designated: {year if year is not None else 'unknown'}"]
    if _approximate(park):
        lines.append("approximate boundary: a disc of the approved area (the park was given as a point)")
    if row is not None:
        verdict = row.get("verdict")
        if not _missing(verdict):
            lines.append(f'verdict: <b style="color:{verdict_colour(verdict)}">{escape(verdict)}</b>')
        tgt = escape(target) if target else "target-sector"
        lines.append(f"{_num(row.get('n_firms'))} firms, {_num(row.get('n_target'))} {tgt} · LQ {_num(row.get('lq'))}")
        lines.append(f"hot-spot share of the park: {format_pct(row.get('park_hot_share'))}")
        mid = row.get("p_labelling_mid_fdr")  # the labelling p the verdict reads (mid-p), when the run has it
        lab = f"labelling test (mid-p) {_p(mid)} (FDR)" if not _missing(mid) else \
            f"labelling test {_p(row.get('p_labelling_fdr'))} (FDR)"
        lines.append(f"placement test {_p(row.get('p_placement_fdr'))} (FDR) · {lab}")
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


def _approximate(park) -> bool:
    """Whether the park's outline is a disc of its approved area (``approximate_boundary``)."""
    v = park.get("approximate_boundary")
    return v is not None and not (not isinstance(v, (bool, np.bool_)) and pd.isna(v)) and bool(v)


#: the outline of a park drawn as a disc of its approved area: dashed (a real boundary's is solid)
APPROXIMATE_DASH = "6 5"


def _parks_layer(m, parks, overlay, target: str | None, legend, *, name: str = "Parks", show: bool = True,
                 describe=None):
    """Park polygons coloured by verdict (interactive fill below, crisp outline above); the outline
    of a park with an approximate boundary (a disc) is dashed.

    ``describe(park, row, long=...)`` writes a park's tooltip (``long=False``) and popup
    (``long=True``) from its park row and its ``overlay`` row (None when it has none), as
    escaped HTML; by default the firm overlay's numbers (:func:`_park_html`).
    """
    import folium

    if describe is None:
        def describe(park, row, *, long: bool) -> str:
            return _park_html(park, row, target, long=long)

    E = _elements()
    parks = _to_wgs84(parks)
    keys, tips, pops, verdicts, approx = [], [], [], [], []
    for _, park, row in _park_rows(parks, overlay):
        verdict = None if row is None else row.get("verdict")
        verdicts.append(None if _missing(verdict) else str(verdict))
        approx.append(_approximate(park))
        keys.append(verdict_colour(verdict) + (" approx" if approx[-1] else ""))
        tips.append(describe(park, row, long=False))
        pops.append(describe(park, row, long=True))
    geoms = _geometries_json(parks.geometry.values, simplify=_SIMPLIFY_M / _M_PER_DEG)
    colours = list(dict.fromkeys(keys))  # a verdict colour, with " approx" for a disc

    def colour(k: str) -> str:
        return k.split()[0]

    tint_styles = {k: {"stroke": False, "fillColor": colour(k), "fillOpacity": 0.12} for k in colours}
    hit_styles = {k: {"stroke": False, "fillColor": colour(k), "fillOpacity": 0} for k in colours}
    line_styles = {k: {"color": colour(k), "weight": 3, "fill": False, "opacity": 0.95,
                       **({"dashArray": APPROXIMATE_DASH} if k.endswith(" approx") else {})} for k in colours}
    fg = folium.FeatureGroup(name=name, show=show)
    props = [{"k": k, "t": t, "p": p} for k, t, p in zip(keys, tips, pops)]
    # seen: a light tint under the cells and a crisp outline over everything; hovered and clicked: a
    # clear fill above the cells (a clear fill is still painted, so it takes the pointer), so that
    # inside a park the park answers, not the cell under the mouse; one copy of the features
    hit = E["GeoJsonLayer"](_feature_collection(geoms, props), hit_styles, pane=_pane(m, "geo-parks"))
    hit.add_to(fg)
    E["GeoJsonLayer"](None, tint_styles, pane=_pane(m, "geo-park-tint"), interactive=False, features_of=hit).add_to(fg)
    E["GeoJsonLayer"](None, line_styles, pane=_pane(m, "geo-park-lines"), interactive=False, features_of=hit).add_to(fg)
    fg.add_to(m)
    rows = []
    for verdict, colour in VERDICT_COLOURS.items():
        if verdict in verdicts:
            rows.append(_swatch(colour, escape(verdict), kind="ln"))
    if any(v is None for v in verdicts):
        rows.append(_swatch(NO_VERDICT_COLOUR, "no verdict (park statistics not run)", kind="ln"))
    if any(approx):
        rows.append(_swatch(PARK_EDGE_COLOUR, "approximate boundary: a disc of the approved area", kind="ln",
                            extra="border-top-style:dashed;"))
    legend.add(fg, f"<h4>{escape(name)} (by verdict)</h4>{''.join(rows)}"
                   '<div class="note">hover a park for its numbers, click for the reasoning</div>')
    return fg


def _models_layer(m, vr, legend, *, name: str = "Parks by development model"):
    """Park polygons coloured by their primary development model (from geo.parks.models)."""
    import folium

    md = vr.analysis.models
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
    # a wide band along the outline and an almost clear fill: the hot cells inside stay readable
    styles = {c: {"color": c, "weight": 7, "opacity": 0.55, "fillColor": c, "fillOpacity": 0.04} for c in dict.fromkeys(keys)}
    fg = folium.FeatureGroup(name=name, show=False)
    E["GeoJsonLayer"](_feature_collection(geoms, [{"k": k, "t": t, "p": t} for k, t in zip(keys, tips)]), styles,
                      pane=_pane(m, "geo-parks")).add_to(fg)
    fg.add_to(m)
    rows = [_swatch(c, escape(k), kind="ln", extra="border-top-width:6px;opacity:0.7;") for k, c in MODEL_COLOURS.items()
            if k in seen]
    legend.add(fg, f"<h4>{escape(name)}</h4>{''.join(rows)}<div class=\"note\">a band along the park's outline</div>")
    return fg


# ----------------------------------------------------------------------------- cells
def _cell_layer(m, legend, cells, key: str, colours: dict, labels: dict, tip, note, *, name: str, show: bool,
                columns: list[str] | None = None) -> None:
    """A layer of significant cells coloured by ``key``, and its legend entry; the cells of equal
    ``key`` are merged when there are more than CELLS_MAX.

    ``colours`` and ``labels`` map each value of ``key`` drawn to its colour and its legend text;
    ``tip`` makes a cell's tooltip from its row (a dict) and reads only ``columns`` (None: any);
    ``note(n, merged)`` is the legend's note under the swatches of the values present.
    """
    import folium

    E = _elements()
    merged = len(cells) > CELLS_MAX
    if merged:
        frame = _merge_cells(cells, key)
        props = [{"k": str(v), "t": f"<b>{labels[v]}</b><br>{n:,} cells (merged)"}
                 for v, n in zip(frame[key], frame["n_cells"])]
    else:
        frame = cells
        keep = [c for c in cells.columns if c != cells.geometry.name and (columns is None or c in columns)]
        props = [{"k": str(r[key]), "t": tip(r)} for r in pd.DataFrame(cells[keep]).to_dict(orient="records")]
    geoms = []
    if len(frame):  # only the geometry column is simplified and reprojected
        outline = frame.geometry.simplify(_simplify_tolerance(frame), preserve_topology=True)
        geoms = _geometries_json(_to_wgs84(outline).values)
    styles = {str(k): {"color": c, "weight": 0.5, "opacity": 0.9, "fillColor": c, "fillOpacity": 0.75}
              for k, c in colours.items()}
    fg = folium.FeatureGroup(name=name, show=show)
    E["GeoJsonLayer"](_feature_collection(geoms, props), styles, pane=_pane(m, "geo-cells")).add_to(fg)
    fg.add_to(m)
    present = set(cells[key].tolist())
    rows = [_swatch(c, labels[k]) for k, c in colours.items() if k in present] or [
        '<div class="note">no significant cells</div>']
    legend.add(fg, f"<h4>{name}</h4>{''.join(rows)}<div class=\"note\">{note(len(cells), merged)}</div>")


def _hotspot_layers(m, vr, target_label: str, legend) -> None:
    hot = vr.analysis.hotspots
    if hot is None:
        return
    focus = vr.analysis.focus_column or "n_firms"
    tl = escape(target_label)

    def cell_tip(r: dict, label: str, statistic: str, value: str, p: str) -> str:
        """A cell's class, its statistic and (FDR-adjusted) p-value, and its firms."""
        count = f"{_num(r.get(focus))} {tl}, " if focus != "n_firms" else ""
        return (f"<b>{label}</b><br>{statistic} = {_num(r.get(value))}, {_p(r.get(f'{p}_fdr', r.get(p)))} (FDR)<br>"
                f"{count}{_num(r.get('n_firms'))} firms in the cell")

    if "gi_bin" in hot:
        sig = hot.loc[hot["gi_bin"].fillna(0).astype(int) != 0]
        _cell_layer(m, legend, sig.assign(gi_bin=sig["gi_bin"].astype(int)), "gi_bin",
                    {b: c for b, c in GI_COLOURS.items() if b != 0}, GI_LABELS,
                    lambda r: cell_tip(r, GI_LABELS[int(r["gi_bin"])], "Gi* z", "gi_z", "gi_p"),
                    lambda n, merged: f"{n:,} significant cells{' (merged by bin)' if merged else ''}; not "
                                      "significant cells are not drawn. Bins from FDR-adjusted p-values when "
                                      "FDR is on; ArcGIS colours.",
                    name=f"Gi* hot/cold spots ({tl})", show=True,
                    columns=["gi_bin", "gi_z", "gi_p_fdr", "gi_p", "n_firms", focus])
    if "lisa_label" in hot:
        sig = hot.loc[hot["lisa_label"].astype(str).isin(list(_LISA_DRAWN))]
        _cell_layer(m, legend, sig.assign(lisa_label=sig["lisa_label"].astype(str)), "lisa_label",
                    _LISA_DRAWN, LISA_LABELS,
                    lambda r: cell_tip(r, LISA_LABELS[str(r["lisa_label"])], "local Moran I", "lisa_I", "lisa_p"),
                    lambda n, merged: f"local Moran's I of {tl}; {n:,} significant cells"
                                      f"{' (merged by label)' if merged else ''}; ns not drawn.",
                    name="LISA clusters", show=False,
                    columns=["lisa_label", "lisa_I", "lisa_p_fdr", "lisa_p", "n_firms", focus])

def _emerging_layer(m, vr, target_label: str, legend) -> None:
    """Cells by emerging hot spot category ("no pattern" not drawn), off at first."""
    ehs = vr.analysis.emerging
    if ehs is None:
        return
    tl = escape(target_label)
    tab = ehs.table
    drawn = (tab["category"] != "no pattern").to_numpy()
    cells = vr.analysis.cells.loc[drawn, [vr.analysis.cells.geometry.name]]
    part = tab.loc[drawn]
    cells = cells.assign(category=part["category"].to_numpy(), mk_tau=part["mk_tau"].to_numpy(),
                         mk_p=part["mk_p"].to_numpy(), n_hot=part["n_hot"].to_numpy(),
                         n_cold=part["n_cold"].to_numpy(), first_hot=part["first_hot"].to_numpy(dtype=float, na_value=np.nan))
    n_steps = len(ehs.steps)
    first, last = int(ehs.steps[0]), int(ehs.steps[-1])

    def tip(r: dict) -> str:
        since = f"<br>first hot in {_year(r.get('first_hot'))}" if not _missing(r.get("first_hot")) else ""
        return (f"<b>{escape(EHS_LABELS[r['category']])}</b><br>hot in {int(r['n_hot'])} and cold in "
                f"{int(r['n_cold'])} of {n_steps} steps{since}<br>trend of Gi* z: Mann–Kendall tau = "
                f"{_num(r.get('mk_tau'))}, {_p(r.get('mk_p'))}")

    _cell_layer(m, legend, cells, "category", {c: v for c, v in EHS_COLOURS.items() if c != "no pattern"}, EHS_LABELS,
                tip, lambda n, merged: (f"space-time Gi* of {tl} alive per year, {first}–{last}; {n:,} cells with a "
                                        f"pattern{' (merged by category)' if merged else ''}; no pattern not drawn. Hot = "
                                        "95 % after FDR per step; ArcGIS's categories."),
                name=f"Emerging hot spots ({tl})", show=False,
                columns=["category", "mk_tau", "mk_p", "n_hot", "n_cold", "first_hot"])


def _clusters_layer(m, vr, target_label: str, legend) -> None:
    import folium

    clusters = vr.analysis.clusters
    if clusters is None:
        return
    outside = vr.analysis.clusters_outside_parks
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
    # dashed in the figures' colour; a cluster outside every park dotted and wider
    styles = {"in": {"color": CLUSTER_COLOUR, "weight": 2.5, "fill": False, "dashArray": "7 4"},
              "out": {"color": CLUSTER_COLOUR, "weight": 3.5, "fill": False, "dashArray": "1 6"}}
    fg = folium.FeatureGroup(name="Clusters", show=True)
    _elements()["GeoJsonLayer"](_feature_collection(geoms, props), styles, pane=_pane(m, "geo-clusters")).add_to(fg)
    fg.add_to(m)
    rows = [_swatch(CLUSTER_COLOUR, f"cluster polygon ({len(clusters)})", kind="ln", extra="border-top-style:dashed;")]
    if out_ids:
        rows.append(_swatch(CLUSTER_COLOUR, f"cluster outside every park ({len(out_ids)})", kind="ln",
                            extra="border-top-style:dotted;border-top-width:4px;"))
    definition = vr.analysis.clusters_definition
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
    fg = folium.FeatureGroup(name="Stacked geocodes", show=False)
    pane = _pane(m, "geo-stacks")
    for sid, n in counts.items():
        site = sites.get(int(sid))
        if site is None:  # beyond the listed stacks: the mean of its firms
            sel = firms["stack"].to_numpy() == sid
            site = {"lon": float(firms["lon"].to_numpy()[sel].mean()), "lat": float(firms["lat"].to_numpy()[sel].mean())}
        text = (f"<b>Stacked geocode</b><br>{int(n):,} firms {where}: probably a geocoder's fallback to a district or "
                "city centre, not a cluster. Hot cells made of it are flagged.")
        marker = folium.CircleMarker([site["lat"], site["lon"]], radius=float(min(30, 4 + 2 * np.sqrt(n))), color="#b2182b",
                                     weight=2, fill=True, fill_color="#ffffff", fill_opacity=0.6, tooltip=text,
                                     popup=folium.Popup(text, max_width=260))
        marker.options["pane"] = pane  # folium's path options have no pane
        marker.add_to(fg)
    fg.add_to(m)
    legend.add(fg, f"<h4>Stacked geocodes</h4>{_swatch('#b2182b', f'stack of firms at one point ({len(counts)})', kind='ln')}"
                   "<div class=\"note\">circle area ∝ firms; see the report's registry checks</div>")


# ----------------------------------------------------------------------------- density raster
def _kde_layer(m, grid, *, name: str, legend, rule_of: str = "") -> tuple[Any, str]:
    """An image overlay of a density grid of the run; (layer, "") or (None, why it is not drawn).

    ``grid`` is a :class:`geo.stats.density.DensityGrid` of the run (the surface its GeoTIFF
    holds), drawn as it is; ``rule_of`` says which points the bandwidth rule was applied to
    when they are not the grid's own.
    """
    import matplotlib
    from folium.raster_layers import ImageOverlay

    from geo.errors import GeoError
    from geo.outputs.raster import density_to_png

    if grid.n_points == 0:
        return None, "no firms on its grid (the density is zero everywhere)"
    buf = io.BytesIO()
    try:
        bounds = density_to_png(grid, buf, cmap=KDE_CMAP, max_size=KDE_MAX_PX)
    except GeoError as exc:
        log.info("no density layer %r: %s", name, exc)
        return None, str(exc)
    valid = grid.array[~np.isnan(grid.array)]
    vmax = float(np.percentile(valid, 99.5)) if valid.size else 0.0
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    pane = _pane(m, "geo-kde")
    layer = ImageOverlay(uri, bounds=bounds, opacity=0.6, name=name, show=False, pixelated=False, pane=pane)
    layer.add_to(m)
    cmap = matplotlib.colormaps[KDE_CMAP]
    stops = ", ".join(matplotlib.colors.to_hex(cmap(t)) for t in np.linspace(0, 1, 9))
    rule = f"{escape(grid.bandwidth_rule)} rule{f' {rule_of}' if rule_of and grid.bandwidth_rule != 'user' else ''}"
    legend.add(layer, (
        f"<h4>{name}</h4><div class=\"ramp\" style=\"background:linear-gradient(to right, {stops})\"></div>"
        f"<div class=\"row\">0 <span style=\"float:right\">≥ {format_number(vmax)} firms per km²</span></div>"
        f"<div class=\"note\">{escape(grid.kernel.capitalize())} kernel, bandwidth {format_distance(grid.bandwidth_m)} "
        f"({rule}), {grid.n_points:,} firms; below 2 % of the top value transparent</div>"))
    return layer, ""


def _kde_layers(m, vr, results, legend) -> list[str]:
    """The run's density grids of all firms (``density``) and of the target sector (``density_target``).

    The map draws the surfaces the rasters hold (``rasters/<valley>_density.tif``,
    ``rasters/<valley>_<sector>_density.tif``) and computes none of its own.  Returns the
    "not shown" notes (escaped) of the layers without a grid: the density stage did not
    run for the valley (too few firms, a failed stage) or the grid cannot be drawn.
    """
    if len(vr.firms) == 0:
        return []
    target = results.config.analysis.target_sector
    density, density_target = vr.analysis.density, vr.analysis.density_target
    layers = [("Firm density (KDE)", density, "")]
    if target is not None and results.config.firms.sector_column in vr.firms:  # no sectors: no target layer
        # kernel_density_by applies the bandwidth rule to all firms: one grid for both surfaces
        same = density is not None and density_target is not None and density_target.bandwidth_m == density.bandwidth_m
        layers.append((f"Firm density (KDE, {escape(target)})", density_target, "on all firms" if same else ""))
    notes = []
    for name, grid, rule_of in layers:
        if grid is None:
            notes.append(f"{name}: no density grid in the results (the density stage did not run for this valley)")
            continue
        _, why = _kde_layer(m, grid, name=name, legend=legend, rule_of=rule_of)
        if why:
            notes.append(f"{name}: {escape(why)}")
    return notes
