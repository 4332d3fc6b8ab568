"""The local co-location layers of a valley map: target firms whose local co-location quotient
(:func:`geo.local_colocation`) is significant after the FDR adjustment, one layer per relation
(towards the target sector, towards the research anchors)."""

from __future__ import annotations

import numpy as np

from geo.outputs._style import format_number
from geo.outputs.maps._assets import _elements
from geo.outputs.maps._html import _js, _p, escape
from geo.outputs.maps.legend import _swatch

__all__ = ["COLOCATION_COLOURS", "COLOCATION_MAX"]

#: colocated (more of b among the neighbours than random labelling gives) and isolated (fewer)
COLOCATION_COLOURS = {"colocated": "#d7191c", "isolated": "#2c7bb6"}
#: significant firms drawn per relation at most (the smallest adjusted p-values first)
COLOCATION_MAX = 3000
_LABELS = list(COLOCATION_COLOURS)
_STYLES = [{"radius": 4, "weight": 1, "color": c, "opacity": 0.9, "fillColor": c, "fillOpacity": 0.7}
           for c in COLOCATION_COLOURS.values()]


def _colocation_layers(m, vr, results, legend) -> None:
    """One layer per relation of ``vr.analysis.colocation.local`` with significant firms (off by default)."""
    import folium

    co = vr.analysis.colocation  # geo.pipeline._colocation.Colocation
    local = co.local if co is not None else None
    if local is None or not len(local):
        return
    alpha, k = co.alpha, co.k
    for (a, b), part in local.groupby(["a", "b"], sort=False):
        sig = part[part["label"] != "ns"].sort_values("p_fdr", kind="stable")
        if not len(sig):
            continue
        shown = sig.iloc[:COLOCATION_MAX]
        relation = f"{escape(a)} → {escape(b)}"
        firms = vr.firms.loc[shown.index]
        lon, lat = firms.coords()
        nc = results.config.firms.name_column
        names = firms[nc].to_numpy(dtype=object) if nc in firms.columns else np.full(len(shown), None)
        out = []
        for x, y, name, row in zip(lon, lat, names, shown.itertuples()):
            if not (np.isfinite(x) and np.isfinite(y)):  # a firm without a point
                continue
            tip = (f"<b>{escape(name) or 'firm'}</b><br>local CLQ({relation}) = {escape(format_number(row.clq))} "
                   f"({row.label}; {_p(row.p_fdr)} after FDR)")
            out.append([round(float(y), 6), round(float(x), 6), _LABELS.index(row.label), tip])
        fg = folium.FeatureGroup(name=f"Local co-location: {relation}", show=False)
        _elements()["PointsLayer"](_js(out), _STYLES).add_to(fg)
        fg.add_to(m)
        counts = sig["label"].value_counts()
        rows = "".join(_swatch(c, f"{lab} ({int(counts.get(lab, 0)):,})") for lab, c in COLOCATION_COLOURS.items())
        more = f"; the {COLOCATION_MAX:,} with the smallest p are drawn" if len(sig) > len(shown) else ""
        legend.add(fg, f"<h4>Local co-location: {relation}</h4>{rows}<div class=\"note\">{escape(a)} firms whose share of "
                       f"{escape(b)} among their {k} nearest neighbours (Gaussian kernel) differs from random labelling; "
                       f"FDR ≤ {alpha:g}, of {len(part):,} firms{more}</div>")
