"""The map of one valley (:func:`valley_map`); its layers are listed in :mod:`geo.outputs.maps`."""

from __future__ import annotations

from geo._docs import shared_doc
from geo.outputs._labels import stage_label
from geo.outputs.maps._basemap import on_basemap
from geo.outputs.maps._data import _valley, _ValleyData
from geo.outputs.maps._frame import _MAP_DOC, _base_map, _rename_clashes
from geo.outputs.maps._geometry import _gdf_bounds, _union_bounds
from geo.outputs.maps._html import escape
from geo.outputs.maps.colocation import _colocation_layers
from geo.outputs.maps.firms import _firm_layers
from geo.outputs.maps.layers import (
    _clusters_layer,
    _emerging_layer,
    _hotspot_layers,
    _kde_layers,
    _models_layer,
    _parks_layer,
    _stacks_layer,
)
from geo.outputs.maps.legend import _finish, _legend, _title_html
from geo.outputs.maps.timeline import _timeline_layer

__all__ = ["valley_map"]


def _target_label(vr, results) -> str:
    target = results.config.analysis.target_sector
    focus = vr.analysis.focus_column
    if target is not None and focus not in (None, "n_firms"):
        return f"{target} firms"
    return "all firms"


def _finding_bounds(vr, firm_bounds) -> list[float]:
    """The view a valley map opens on: its finding (parks, clusters, significant Gi* cells).

    With hot spots, the box of the parks, the cluster polygons and the significant cells,
    widened by a tenth on each side; without (the statistics did not run), the box of the
    firms and the parks.
    """
    hot = vr.analysis.hotspots
    cells = None
    if hot is not None and "gi_bin" in hot:
        cells = hot.loc[hot["gi_bin"].fillna(0).astype(int) != 0]
    found = [_gdf_bounds(cells), _gdf_bounds(vr.analysis.clusters)]
    if all(b is None for b in found):
        return _union_bounds(firm_bounds, _gdf_bounds(vr.parks))
    w, s, e, n = _union_bounds(*found, _gdf_bounds(vr.parks))
    dx, dy = (e - w) / 10, (n - s) / 10
    return [w - dx, s - dy, e + dx, n + dy]


@shared_doc(**_MAP_DOC)
def valley_map(results, valley: str, *, m=None):
    """The interactive map of one valley: parks, hot spots, clusters, firms, density, time slider.

    The layers are described in :mod:`geo.outputs.maps`; each appears when its stage ran.
    ``results`` is not modified.

    Parameters
    ----------
    results : geo.pipeline.results.Results
        The outputs of :func:`geo.run`.
    valley : str
        A valley name of the run (a key of ``results.valleys``).
    {m}

    {returns}

    {raises_valley}

    Examples
    --------
    >>> import geo
    >>> from geo.datasets import demo_files
    >>> res = geo.run(demo_files()["config"])                      # doctest: +SKIP
    >>> m = geo.outputs.maps.valley_map(res, "Wuhan")                      # doctest: +SKIP
    >>> geo.outputs.maps.save_map(m, "wuhan.html")                         # doctest: +SKIP
    """
    return _valley_map(results, valley, m=m)


@on_basemap
def _valley_map(results, valley: str, *, m=None, data: _ValleyData | None = None):
    vr = _valley(results, valley)
    own = m is None
    data = _ValleyData(vr, results) if data is None else data
    m = _base_map(_finding_bounds(vr, data.located_bounds), m)
    before = set(m._children)
    legend = _legend("Legend")
    target = results.config.analysis.target_sector
    target_label = _target_label(vr, results)
    overlay = vr.analysis.parks_overlay
    if len(vr.parks):
        _parks_layer(m, vr.parks, overlay, target, legend)
        _models_layer(m, vr, legend)
    _hotspot_layers(m, vr, target_label, legend)
    _emerging_layer(m, vr, target_label, legend)
    _clusters_layer(m, vr, target_label, legend)
    _firm_layers(m, vr, results, legend, data=data)
    _stacks_layer(m, vr, results, legend)  # above the firm markers: a stack hides under its own firms otherwise
    _colocation_layers(m, vr, results, legend)
    _timeline_layer(m, vr, results, legend, data=data)
    no_density = _kde_layers(m, vr, results, legend)
    skipped = "; ".join([f"{escape(stage_label(k))}: {escape(str(v).replace('`', ''))}" for k, v in vr.skipped.items()]
                        + no_density)
    if skipped:
        legend.add(None, f'<div class="note"><b>Not shown</b> — {skipped}</div>')
    _rename_clashes(m, before, escape(vr.name))
    n_all = getattr(vr, "n_total", len(vr.firms))
    sample = f" (points: a sample of {len(vr.firms):,})" if n_all > len(vr.firms) else ""
    sub = f"{n_all:,} firms{sample} · {len(vr.parks)} park{'s' if len(vr.parks) != 1 else ''}"
    _finish(m, legend, _title_html(vr.title, sub, results.synthetic, "index.html"), own)
    return m
