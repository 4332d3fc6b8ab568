"""Interactive Folium maps: an overview of all valleys and one map per valley.

:func:`valley_map` and :func:`overview_map` return ``folium.Map`` objects and accept an
existing map (``m=``), so analysts can add their own layers before saving;
:func:`write_maps` (used by ``Results.write``) saves ``index.html`` and one
``<valley>.html`` per valley with every Leaflet asset inlined (:func:`inline_assets`),
so the maps open offline; only the basemap tiles need the network.

The package, by concern: :mod:`~geo.outputs.maps.valley` and :mod:`~geo.outputs.maps.overview`
make the two kinds of map; :mod:`~geo.outputs.maps.layers` (parks, cells, clusters, stacks,
density), :mod:`~geo.outputs.maps.firms` and :mod:`~geo.outputs.maps.timeline` draw the
layers; :mod:`~geo.outputs.maps.legend` the legend and title; ``_assets`` (offline assets,
Folium elements, CSS), ``_frame`` (basemap and controls), ``_data`` (what is read from the
results), ``_geometry``, ``_shift`` (the GCJ-02 shift of the map being drawn) and ``_html``
(escaping, JSON for scripts) are private.  The size
thresholds below are read where they are used: change ``geo.outputs.maps.firms.POINTS_MAX``,
not this package's copy.

Layers of a valley map
----------------------
Each layer is named in the layer control and has a legend entry, shown while the layer is on.
A layer appears when the stage that feeds it ran (a valley with fewer than 30 firms has no
hot spots, so its map has no Gi*, LISA or cluster layers).

The map opens on the finding: only **Parks**, **Gi\\* hot/cold spots** and **Clusters** are
on, and the view is fitted to the parks, the clusters and the significant cells (to the firms
and parks when there are no hot spots).  Every other layer is one click away.  The layers lie
in fixed map panes (``geo.outputs.maps._frame._PANES``): a park's tint under the cells, its
outline over everything, and a clear fill above the cells that takes hover and click, so that
inside a park the park answers, not the cell under the mouse; cluster outlines and firms, when
turned on, lie above that fill.  While a popup is open the tooltips are hidden.  On a screen
narrower than 700 px the layer control, the legend and the minimap start collapsed.

* **Parks** -- park polygons coloured by verdict (:data:`VERDICT_COLOURS`): a solid outline
  and a light tint; the tooltip gives the name, designation year, verdict and its key
  numbers, the popup the reasoning.
* **Parks by development model** (off) -- a wide band along each park's outline in the
  colour of its primary model (:data:`geo.outputs._style.MODEL_COLOURS`); the fill is almost
  clear, so the hot cells inside stay readable.
* **Gi\\* hot/cold spots (<target> firms)** -- cells coloured by ``gi_bin`` with the ArcGIS
  Hot Spot Analysis palette (:data:`GI_COLOURS`).  Not significant cells (bin 0) are
  omitted to keep the file small.  Above :data:`CELLS_MAX` significant cells, cells of
  equal bin are merged into one polygon (their tooltips then give the bin and cell count).
* **LISA clusters** -- significant local Moran cells, GeoDa colours (:data:`LISA_COLOURS`):
  HH red, LL blue, LH light blue, HL pink; "ns" omitted; merged like Gi* above the cap.
* **Emerging hot spots (<target> firms)** -- cells by emerging hot spot category
  (:data:`EHS_COLOURS`, :func:`geo.emerging_hotspots`), off at first; the tooltip gives the
  hot and cold steps, the first hot year and the Mann–Kendall trend; "no pattern" omitted,
  merged like Gi* above the cap.
* **Clusters** -- the cluster polygons (contiguous hot cells), dashed in
  :data:`geo.outputs._style.CLUSTER_COLOUR` as in the figures; dotted and wider when the
  cluster lies outside every park.
* **Firms** (off) -- a target-sector layer and an all-sectors layer, coloured by
  :func:`geo.outputs._style.sector_colours` (the target sector always in
  :data:`geo.outputs._style.TARGET_COLOUR`).  Each is drawn by count
  (:func:`firm_layer_mode`): individual circle markers with name tooltips up to
  :data:`POINTS_MAX` firms, marker clusters (``FastMarkerCluster``, circle markers, sector
  tooltips; bubbles in the grey ramp of :data:`geo.outputs._style.MARKER_CLUSTER_COLOURS`)
  up to :data:`CLUSTER_MAX`, above that a heat map of the firms binned to at most
  :data:`HEAT_BINS_MAX` weighted cells.
* **Stacked geocodes** (off) -- one circle per point holding many firms (a geocoder's
  fallback); hot cells made of them are flagged in the cluster tooltips.
* **Local co-location: <target> → <b>** -- target firms whose local co-location quotient
  towards their own sector (and towards the research anchors) is significant after the FDR
  adjustment (:func:`geo.local_colocation`): red "colocated", blue "isolated"; off by default,
  at most :data:`~geo.outputs.maps.colocation.COLOCATION_MAX` firms per layer.
* **Firm density (KDE)** -- the run's kernel density grids rendered by
  :func:`geo.outputs.raster.density_to_png` as image overlays (``data:`` URIs): all firms
  (the ``density`` stage) and the target sector (``density_target``: the all-firms
  bandwidth and grid, :func:`geo.stats.density.kernel_density_by`), the very surfaces of
  ``rasters/<valley>_density.tif`` and ``rasters/<valley>_<sector>_density.tif`` and of the
  report.  The maps compute no density of their own: when a grid is missing (the density
  stage did not run, e.g. a valley of fewer than 30 firms), the legend says so.
* **Founding years (<target> firms)** -- a time slider (Leaflet.timeline): target-sector
  firms aggregated to (cell, year) counts, drawn as circles sized by the cumulative number
  of firms founded up to the year shown; park outlines appear in their designation year and
  the slider names the parks designated in the year shown (its caption wraps, never cut).
  The layer is off until the slider is moved.  The cell side starts at 250 m and doubles
  until there are at most :data:`TIMELINE_MAX` features.

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

from geo.outputs._style import (
    GI_COLOURS,
    GI_LABELS,
    LISA_COLOURS,
    LISA_LABELS,
    SECTOR_COLOURS,
    VERDICT_COLOURS,
)
from geo.outputs.maps._assets import inline_assets, save_map
from geo.outputs.maps._html import escape
from geo.outputs.maps.firms import (
    CLUSTER_MAX,
    HEAT_BINS_MAX,
    POINTS_MAX,
    firm_layer_mode,
)
from geo.outputs.maps.layers import CELLS_MAX
from geo.outputs.maps.overview import overview_map, write_maps
from geo.outputs.maps.timeline import TIMELINE_MAX
from geo.outputs.maps.valley import valley_map

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
