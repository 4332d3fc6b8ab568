"""The firm layers: individual markers, marker clusters or a binned heat map, by the number of firms."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from geo.outputs._style import format_distance, sector_colours
from geo.outputs.maps._assets import _elements
from geo.outputs.maps._data import _sector_codes, _used_codes, _ValleyData
from geo.outputs.maps._frame import _pane
from geo.outputs.maps._geometry import (
    _M_PER_DEG,
    _cell_keys,
    _dense_unique,
    _n_distinct,
    _round_coords,
)
from geo.outputs.maps._html import _js, _year, escape
from geo.outputs.maps.legend import _swatch

__all__ = ["firm_layer_mode", "POINTS_MAX", "CLUSTER_MAX", "HEAT_BINS_MAX"]


#: a firm layer with at most this many firms shows individual markers with name tooltips
POINTS_MAX = 3000


#: ... above POINTS_MAX and up to this many, clustered markers; above, a binned heat map
CLUSTER_MAX = 50_000


#: a heat map layer holds at most this many weighted points (firms binned to a grid)
HEAT_BINS_MAX = 25_000


#: the marker-cluster bubbles: sized like Leaflet.markercluster's, coloured by the grey ramp of
#: ``geo.outputs._style.MARKER_CLUSTER_COLOURS`` (the CSS classes ``geo-mcluster-<size>``)
_CLUSTER_ICON = (
    "function (cluster) { var n = cluster.getChildCount(), size = n < 10 ? 'small' : n < 100 ? 'medium' : 'large';"
    " return L.divIcon({html: '<div><span>' + n + '</span></div>', className: 'marker-cluster geo-mcluster"
    " geo-mcluster-' + size, iconSize: new L.Point(40, 40)}); }"
)


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
    pane = _pane(m, "geo-firms")  # above cells and park fills: a firm turned on can be hovered
    styles = [{"radius": 3.5, "weight": 0.5, "color": "#333333", "opacity": 0.8, "fillColor": colours[s],
               "fillOpacity": 0.85, "pane": pane} for s in sectors]
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
        E["FastMarkerCluster"](data, callback=callback, control=False, icon_create_function=_CLUSTER_ICON,
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
    colours = sector_colours(sectors, target=target)  # the target in its own colour in every study
    lonlat, located = data.located
    lonlat = _round_coords(lonlat)
    all_located = len(located) == len(firms)  # then located is arange(len(firms))
    kl = k if all_located else k[located]
    has_target = target is not None and str(target) in present
    if has_target:
        rows = np.flatnonzero(kl == sectors.index(str(target)))
        _firm_layer(m, firms, lonlat[rows], kl[rows], located[rows], label=str(target), sectors=sectors,
                    colours=colours, fc=fc, show=False, legend=legend)
    _firm_layer(m, firms, lonlat, kl, None if all_located else located, label="all sectors",
                sectors=sectors, colours=colours, fc=fc, show=False, legend=legend)
