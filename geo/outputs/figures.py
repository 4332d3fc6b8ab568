"""Static figures for the report: matplotlib (Agg), returned as PNG bytes.

Every figure is drawn on a fresh :class:`matplotlib.figure.Figure` (pyplot's global state is
never touched) with its axes placed once (no layout engine), rendered by Agg at ``dpi=110``
and written as an RGB PNG with no metadata but its resolution, so the same input gives
byte-identical PNGs (that plumbing is :mod:`geo.outputs._draw`, shared with
:mod:`geo.outputs.compare_figures`).  Maps are drawn in the metric CRS of the cells (metres), with
the park boundaries reprojected to it, equal aspect, a scale bar and the CRS below them (no
coordinate ticks).
Strings from the data (valley and park names) are drawn as plain text (no mathtext), so a
name with ``$`` or ``<`` cannot break a figure.

Palettes
--------
The colours are those of the maps and the report (:mod:`geo.outputs._style`): Gi* hot/cold
spots (:data:`GI_COLOURS`, ArcGIS Pro's hot spot renderer, not significant in light grey),
LISA clusters (:data:`LISA_COLOURS`, GeoDa's), sectors and valleys (``SECTOR_COLOURS``).
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any, Mapping

import numpy as np
import pandas as pd

from geo.outputs._draw import DPI, _new, _png, _style, _text
from geo.outputs._figure_pool import MAX_WORKERS, _draw_tasks, _old_objects_frozen, _workers
from geo.outputs._style import (
    CLUSTER_COLOUR,
    GI_COLOURS,
    GI_LABELS,
    LISA_COLOURS,
    LISA_LABELS,
    PARK_EDGE_COLOUR,
    SECTOR_COLOURS,
    format_number,
    p_phrase,
)

__all__ = [
    "GI_COLOURS",
    "GI_LABELS",
    "LISA_COLOURS",
    "LISA_LABELS",
    "DPI",
    "MAX_WORKERS",
    "gi_map",
    "lisa_map",
    "density_map",
    "moran_scatter",
    "entries_per_year",
    "entries_chart",
    "precedence_map",
    "kd_chart",
    "l_chart",
    "stock_chart",
    "figure_name",
    "focus_label",
    "park_entries",
    "report_figures",
]

log = logging.getLogger(__name__)

_PARK_EDGE = PARK_EDGE_COLOUR
_IN_COLOUR = GI_COLOURS[3]
_OUT_COLOUR = GI_COLOURS[-3]


# ----------------------------------------------------------------------------- plumbing
def _polygons(geoms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exterior rings of (multi)polygons: all vertices, ring offsets, and the input row of each ring."""
    import shapely

    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) == 0:
        return np.zeros((0, 2)), np.zeros(1, dtype=int), np.zeros(0, dtype=int)
    if np.all((shapely.get_type_id(geoms) == 3) & (shapely.get_num_interior_rings(geoms) == 0)):
        # only simple polygons (grid cells): their coordinates are the exterior rings; no
        # intermediate ring objects (100,000 of them cost more than the drawing)
        coords, ridx = shapely.get_coordinates(geoms, return_index=True)
        if len(ridx) == 0:
            return np.zeros((0, 2)), np.zeros(1, dtype=int), np.zeros(0, dtype=int)
        starts = np.flatnonzero(np.r_[True, np.diff(ridx) != 0])
        return coords, np.r_[starts, len(ridx)], ridx[starts]
    parts, idx = shapely.get_parts(geoms, return_index=True)
    rings = shapely.get_exterior_ring(parts)
    coords, ridx = shapely.get_coordinates(rings, return_index=True)
    if len(ridx) == 0:
        return np.zeros((0, 2)), np.zeros(1, dtype=int), np.zeros(0, dtype=int)
    starts = np.flatnonzero(np.r_[True, np.diff(ridx) != 0])
    offsets = np.r_[starts, len(ridx)]
    return coords, offsets, idx[ridx[starts]]


#: rings per compound path when drawing cells (keeps each path well inside Agg's limits)
_RINGS_PER_PATH = 20_000


def _draw_cells(ax, geoms, colours: np.ndarray, order: np.ndarray | None = None) -> None:
    """Cells as filled compound paths, one per colour (edges in the face colour, so no seams).

    All the cells of one colour and ``order`` are one path (up to :data:`_RINGS_PER_PATH`
    rings), built from the coordinate arrays without a Python object per cell, so 100,000
    cells draw in a fraction of a second; paths are drawn in increasing ``order`` (e.g.
    significant cells on top).  Cells do not overlap, so this looks like drawing them one by one.
    """
    from matplotlib.collections import PathCollection
    from matplotlib.colors import to_rgba_array
    from matplotlib.path import Path

    coords, offsets, rows = _polygons(geoms)
    if len(rows) == 0:
        return
    sizes = np.diff(offsets)
    codes = np.full(len(coords), Path.LINETO, dtype=Path.code_type)
    codes[offsets[:-1]] = Path.MOVETO
    codes[offsets[1:] - 1] = Path.CLOSEPOLY
    inv, uniq = pd.factorize(np.asarray(colours, dtype=object)[rows])
    rgba = to_rgba_array([str(u) for u in uniq])
    rank = np.asarray(order)[rows] if order is not None else np.zeros(len(rows), dtype=int)
    valid = sizes >= 4  # a closed ring has at least 4 coordinates
    for r in np.unique(rank):
        for ci in range(len(uniq)):
            rings = np.flatnonzero((rank == r) & (inv == ci) & valid)
            for lo in range(0, len(rings), _RINGS_PER_PATH):
                sel = rings[lo : lo + _RINGS_PER_PATH]
                lens = sizes[sel]
                first = np.r_[0, np.cumsum(lens)[:-1]]
                idx = np.repeat(offsets[sel] - first, lens) + np.arange(int(lens.sum()))
                path = Path(coords[idx], codes[idx])
                path.should_simplify = False  # keep every vertex of cells a few pixels wide
                c = rgba[ci : ci + 1]
                ax.add_collection(PathCollection([path], facecolors=c, edgecolors=c, linewidths=0.3,
                                                 zorder=1 + 0.01 * float(r)))


def _geom_path(geom):
    """A matplotlib Path of a (multi)polygon, holes included."""
    import shapely
    from matplotlib.path import Path

    paths = []
    for poly in shapely.get_parts(geom):
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords)
            if len(xy) >= 4:
                paths.append(Path(xy[:-1], closed=True))
    return Path.make_compound_path(*paths) if paths else None


def _footprint(geoms):
    """Union of the cells ``geoms`` (fast coverage union; None if they are not a clean coverage)."""
    import shapely

    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) == 0:
        return None
    try:
        u = shapely.coverage_union_all(geoms)
    except Exception:  # noqa: BLE001 - any GEOS failure: fall back to drawing every cell
        return None
    total = float(np.sum(shapely.area(geoms)))
    if u is None or u.is_empty or total <= 0 or abs(u.area - total) > 1e-6 * total:
        return None
    return u


#: within :func:`report_figures`: key -> (the objects the value was computed from, value).  The
#: figures of one report share work: the Gi* and LISA maps of a valley one footprint of its
#: cells (its union is the costliest step of each map), the entries charts of its parks one
#: read of its firms' coordinates and founding years
_MEMO: ContextVar[dict | None] = ContextVar("geo_figures_memo", default=None)


def _memoised(kind: str, objs: tuple, compute, *extra):
    """``compute()``, computed once per ``(kind, objs, extra)`` within :func:`report_figures`.

    ``objs`` are matched by identity (and kept alive by the memo, so their ids cannot be
    reused), ``extra`` by value; outside :func:`report_figures` nothing is kept.
    """
    memo = _MEMO.get()
    if memo is None:
        return compute()
    key = (kind, *(id(o) for o in objs), *extra)
    hit = memo.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], objs)):
        return hit[1]
    value = compute()
    memo[key] = (objs, value)
    return value


def _footprint_path(geoms):
    """The footprint of the cells ``geoms`` as a matplotlib Path (None if they are not a clean coverage)."""

    def compute():
        fp = _footprint(geoms)
        return _geom_path(fp) if fp is not None else None

    return _memoised("footprint", (geoms,), compute)


def _same_cells(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays of polygons are the same, vertex for vertex."""
    import shapely

    if len(a) != len(b):
        return False
    return bool(np.all(shapely.equals_exact(a, b, tolerance=0.0)))


#: with more cells than this, the not-significant ones are drawn as one polygon
_BACKGROUND_MIN_CELLS = 5000


def _background_path(geoms, order):
    """The footprint of the cells ``geoms`` when their rank-0 (not significant) cells are to be
    drawn as one polygon (more than :data:`_BACKGROUND_MIN_CELLS` cells), else None."""
    if len(geoms) > _BACKGROUND_MIN_CELLS and (np.asarray(order) == 0).any():
        return _footprint_path(geoms)
    return None


def _draw_background(ax, colours, order, footprint) -> np.ndarray:
    """Draw the rank-0 (not significant) cells as ``footprint`` (the union of all the cells, a
    Path from :func:`_background_path`) in their colour; returns the mask of the cells still
    to draw one by one (all of them when ``footprint`` is None)."""
    from matplotlib.patches import PathPatch

    order = np.asarray(order)
    base = order == 0
    if footprint is None or not base.any():
        return np.ones(len(order), dtype=bool)
    col = np.asarray(colours, dtype=object)[base][0]
    # add_artist, not add_patch: the map's limits are set, and the data limits of a path of
    # thousands of vertices are computed segment by segment in Python
    ax.add_artist(PathPatch(footprint, facecolor=col, edgecolor=col, lw=0.3, zorder=0.9))
    return ~base


def _park_lines(parks, crs) -> list[tuple[Any, np.ndarray]]:
    """(park row, list of boundary line coordinate arrays) in ``crs``."""
    import shapely

    if parks is None or len(parks) == 0:
        return []
    pm = parks if crs is None or parks.crs == crs else parks.to_crs(crs)
    out = []
    for (_, row), geom in zip(pm.iterrows(), pm.geometry.values):
        if geom is None or geom.is_empty:
            continue
        lines = shapely.get_parts(shapely.boundary(geom))
        segs = []
        for ln in lines:
            for part in shapely.get_parts(ln):
                segs.append(shapely.get_coordinates(part))
        out.append((row, geom, segs))
    return out


def _draw_parks(ax, parks, crs, *, labels: bool = True, view=None, bounds=None) -> bool:
    """Park outlines (and names above them when there are few parks); True if any drawn."""
    drawn = _park_lines(parks, crs)
    shown = False
    for row, geom, segs in drawn:
        if view is not None:
            x0, y0, x1, y1 = geom.bounds
            if x1 < view[0] or x0 > view[2] or y1 < view[1] or y0 > view[3]:
                continue
        for xy in segs:
            ax.plot(xy[:, 0], xy[:, 1], color=_PARK_EDGE, lw=1.3, zorder=5)
        shown = True
        if labels and len(drawn) <= 6:
            x0, y0, x1, y1 = geom.bounds
            cx = (x0 + x1) / 2
            ha, lx = "center", cx
            if bounds is not None:
                rel = (cx - bounds[0]) / max(bounds[2] - bounds[0], 1.0)
                ha, lx = ("left", x0) if rel < 0.3 else ("right", x1) if rel > 0.7 else ("center", cx)
            ax.text(lx, y1, _text(row.get("name", ""), 36), fontsize=7, ha=ha, va="bottom", zorder=6,
                    parse_math=False, bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8})
    return shown


def _nice(length: float) -> float:
    """A round scale-bar length (1, 2 or 5 × 10^k metres) not longer than ``length``."""
    if length <= 0:
        return 0.0
    k = 10 ** np.floor(np.log10(length))
    for m in (5, 2, 1):
        if m * k <= length:
            return float(m * k)
    return float(k)


def _map_axes(ax, bounds, crs_label: str | None) -> None:
    """The map's view (``bounds`` and 3 % around), equal aspect, its CRS below it and a scale bar.

    No coordinate ticks: the scale bar gives the distances (drawing and placing their labels
    took a fifth of the time of the report's figures).
    """
    x0, y0, x1, y1 = bounds
    dx, dy = x1 - x0, y1 - y0
    pad = 0.03 * max(dx, dy, 1.0)
    ax.set_xlim(x0 - pad, x1 + pad)
    ax.set_ylim(y0 - pad, y1 + pad)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():  # a thin frame all round
        spine.set(visible=True, color="#888888", linewidth=0.6)
    ax.set_xlabel(f"Coordinates in {crs_label} (metres)" if crs_label else "", fontsize=7)
    # scale bar, lower left
    bar = _nice(0.25 * max(dx, 1.0))
    if bar > 0:
        bx, by = x0, y0 - pad * 0.5
        ax.plot([bx, bx + bar], [by, by], color="black", lw=3, solid_capstyle="butt", zorder=7)
        txt = f"{bar / 1000:g} km" if bar >= 1000 else f"{bar:g} m"
        ax.text(bx + bar / 2, by + pad * 0.35, txt, ha="center", va="bottom", fontsize=7, zorder=7,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})


def _legend(ax, items: list[tuple[str, str]], *, park: bool, title: str, clusters: bool = False):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=c, edgecolor="#999999", lw=0.4, label=lab) for lab, c in items]
    if park:
        handles.append(Line2D([0], [0], color=_PARK_EDGE, lw=1.3, label="Park boundary"))
    if clusters:
        handles.append(Line2D([0], [0], color=CLUSTER_COLOUR, lw=0.7, ls=(0, (3, 2)), label="Cluster polygon (C<id>)"))
    return ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, title=title,
                     title_fontsize=8, frameon=False, borderaxespad=0)


def _crs_label(gdf) -> str | None:
    crs = getattr(gdf, "crs", None)
    if crs is None:
        return None
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


# ----------------------------------------------------------------------------- maps
def gi_map(hotspots, parks=None, *, clusters=None, column: str = "gi_bin", title: str = "", fdr: bool | None = None,
           dpi: int = DPI) -> bytes:
    """Map of Gi* hot/cold-spot bins with park outlines, as PNG bytes.

    Parameters
    ----------
    hotspots : geopandas.GeoDataFrame
        Cells in a metric CRS with a Gi* bin column (+3 … −3, the ArcGIS ``Gi_Bin``
        convention; see :data:`GI_COLOURS`).
    parks : geopandas.GeoDataFrame, optional
        Park polygons (any CRS; reprojected to the cells' CRS) drawn as outlines.
    clusters : geopandas.GeoDataFrame, optional
        Cluster polygons (``cluster_id``) drawn as dashed outlines labelled ``C<id>``.
    column : str, default "gi_bin"
    fdr : bool, optional
        Whether the bins come from FDR-adjusted p-values (said in the legend title); by
        default read from the record :func:`geo.hotspots` keeps in ``hotspots.attrs``.

    When the significant cells fill less than 30 % of the map's width, a second panel
    zooms on them.
    title : str, default ""
        Drawn as plain text.
    """
    bins = pd.to_numeric(hotspots[column], errors="coerce").fillna(0).astype(int).clip(-3, 3).to_numpy()
    colours = np.array([GI_COLOURS[b] for b in range(-3, 4)], dtype=object)[bins + 3]
    counts = {b: int((bins == b).sum()) for b in GI_COLOURS}
    items = [(f"{GI_LABELS[b]} ({counts[b]:,})", GI_COLOURS[b]) for b in GI_COLOURS]
    return _class_map(hotspots, parks, colours, np.abs(bins), items, title=title, clusters=clusters, focus=bins >= 2,
                      legend_title="Gi* (FDR)" if _fdr(hotspots, fdr) else "Gi*", dpi=dpi)


def lisa_map(hotspots, parks=None, *, clusters=None, column: str = "lisa_label", title: str = "", fdr: bool | None = None,
             dpi: int = DPI) -> bytes:
    """LISA cluster map (HH, LL, LH, HL, not significant) with park outlines, as PNG bytes.

    Colours in :data:`LISA_COLOURS`; parks (any CRS) reprojected to the cells' metric CRS;
    ``fdr`` as in :func:`gi_map`.
    """
    text = hotspots[column].astype(str)
    labels = text.where(text.isin(list(LISA_COLOURS)), "ns").to_numpy()
    keys = list(LISA_COLOURS)
    colours = np.array([LISA_COLOURS[k] for k in keys], dtype=object)[pd.Categorical(labels, categories=keys).codes]
    order = (labels != "ns").astype(int)
    counts = {k: int((labels == k).sum()) for k in LISA_COLOURS}
    items = [(f"{LISA_LABELS[k]} ({counts[k]:,})", LISA_COLOURS[k]) for k in ("HH", "LL", "LH", "HL", "ns")]
    return _class_map(hotspots, parks, colours, order, items, title=title, clusters=clusters, focus=labels == "HH",
                      legend_title="Local Moran (FDR)" if _fdr(hotspots, fdr) else "Local Moran", dpi=dpi)


def _total_bounds(cells) -> np.ndarray:
    """``cells.total_bounds``, computed once per cell table within :func:`report_figures`."""
    return _memoised("total_bounds", (cells.geometry.values,), lambda: np.asarray(cells.total_bounds))


def _fdr(hot, fdr: bool | None) -> bool:
    if fdr is not None:
        return bool(fdr)
    return bool(hot.attrs.get("hotspots", {}).get("fdr", False)) if hasattr(hot, "attrs") else False


def _zoom_bounds(cells, focus: np.ndarray, *, max_fraction: float = 0.3) -> tuple[float, float, float, float] | None:
    """Bounding box (with a margin) of the ``focus`` cells when it is small next to the map."""
    import shapely

    if not focus.any():
        return None
    x0, y0, x1, y1 = shapely.total_bounds(np.asarray(cells.geometry.values, dtype=object)[focus])
    X0, Y0, X1, Y1 = _total_bounds(cells)
    size = max(x1 - x0, y1 - y0)
    full = max(X1 - X0, Y1 - Y0, 1.0)
    if size > max_fraction * full:
        return None
    half = max(size * 0.8, 0.04 * full, 500.0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (cx - half, cy - half, cx + half, cy + half)


def _draw_clusters(ax, clusters, crs, *, view=None) -> bool:
    """Cluster polygons as dashed outlines labelled C<id>."""
    import shapely

    if clusters is None or len(clusters) == 0:
        return False
    cm = clusters if clusters.crs == crs else clusters.to_crs(crs)
    box = shapely.box(*view) if view is not None else None
    drawn = False
    for cid, geom in zip(cm["cluster_id"], cm.geometry.values):
        if geom is None or geom.is_empty or (box is not None and not shapely.intersects(geom, box)):
            continue
        for part in shapely.get_parts(shapely.boundary(geom)):
            for line in shapely.get_parts(part):
                xy = shapely.get_coordinates(line)
                ax.plot(xy[:, 0], xy[:, 1], color=CLUSTER_COLOUR, lw=0.7, ls=(0, (3, 2)), zorder=4)
        xy = shapely.get_coordinates(geom)
        top = xy[int(np.argmax(xy[:, 1]))]
        ax.text(top[0], top[1], f"C{int(cid)}", fontsize=7, color=CLUSTER_COLOUR, ha="center", va="bottom", zorder=6, clip_on=True,
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7})
        drawn = True
    return drawn


def _class_map(cells, parks, colours, order, items, *, title: str, legend_title: str, dpi: int, clusters=None,
               focus: np.ndarray | None = None) -> bytes:
    from matplotlib.patches import Rectangle

    zoom = _zoom_bounds(cells, focus) if focus is not None else None
    with _style():
        if zoom is None:
            fig, axes = _new(8.2, 6.0, dpi=dpi)
        else:
            fig, axes = _new(11.5, 5.2, ncols=2, dpi=dpi)
        ax = axes[0, 0]
        rest = _draw_background(ax, colours, order, _background_path(cells.geometry.values, order))
        _draw_cells(ax, cells.geometry.values[rest], np.asarray(colours, dtype=object)[rest], np.asarray(order)[rest])
        has_parks = _draw_parks(ax, parks, cells.crs, bounds=_total_bounds(cells))
        has_cl = _draw_clusters(ax, clusters, cells.crs) if zoom is None else False
        _map_axes(ax, _total_bounds(cells), _crs_label(cells))
        ax.set_title("Whole valley" if zoom is not None else "", fontsize=9)
        last = ax
        if zoom is not None:
            import shapely

            ax.add_patch(Rectangle((zoom[0], zoom[1]), zoom[2] - zoom[0], zoom[3] - zoom[1], fill=False, ec="#333333",
                                   lw=0.9, zorder=8))
            zx = axes[0, 1]
            sel = shapely.intersects(np.asarray(cells.geometry.values), shapely.box(*zoom))
            _draw_cells(zx, cells.geometry.values[sel], np.asarray(colours, dtype=object)[sel], np.asarray(order)[sel])
            _draw_parks(zx, parks, cells.crs, labels=False, view=zoom)
            has_cl = _draw_clusters(zx, clusters, cells.crs, view=zoom)
            _map_axes(zx, zoom, _crs_label(cells))
            zx.set_title("Zoom on the significant cells (box on the left)", fontsize=9)
            last = zx
        leg = _legend(last, items, park=has_parks, title=legend_title, clusters=has_cl)
        st = fig.suptitle(_text(title, 100), fontsize=10, parse_math=False)
        return _png(fig, dpi=dpi, suptitle=st, outside=[leg])


def precedence_map(hot_before, hot_now, park, *, year: int, column: str = "gi_bin", title: str = "", margin: float = 0.35,
                   dpi: int = DPI) -> bytes:
    """Gi* bins of the cells around one park before ``year`` and with all firms, side by side.

    Parameters
    ----------
    hot_before, hot_now : geopandas.GeoDataFrame
        The same cells (metric CRS) with Gi* bins computed on the firms founded before
        ``year`` and on all firms.
    park : geopandas.GeoDataFrame
        One park (any CRS).
    margin : float, default 0.35
        The view extends the park's bounding box by this fraction on each side.
    """
    import shapely

    pm = park.to_crs(hot_now.crs) if park.crs != hot_now.crs else park
    x0, y0, x1, y1 = pm.total_bounds
    w, h = x1 - x0, y1 - y0
    m = margin * max(w, h)
    view = (x0 - m, y0 - m, x1 + m, y1 + m)
    box = shapely.box(*view)
    with _style():
        fig, axes = _new(9.0, 4.0, ncols=2, dpi=dpi)
        seen: list[tuple[np.ndarray, Any]] = []  # (cells in view, their background path) of the panels drawn
        for ax, hot, sub in ((axes[0, 0], hot_before, f"Firms founded before {year}"), (axes[0, 1], hot_now, "All firms (now)")):
            sel = shapely.intersects(np.asarray(hot.geometry.values), box)  # a plain array: no pandas ufunc detour
            part = hot.loc[sel]
            bins = pd.to_numeric(part[column], errors="coerce").fillna(0).astype(int).clip(-3, 3).to_numpy()
            colours = np.array([GI_COLOURS[b] for b in bins], dtype=object)
            geoms = np.asarray(part.geometry.values, dtype=object)
            # both panels usually show the same cells: their footprint is computed once
            same = [fp for g, fp in seen if _same_cells(g, geoms)]
            fp = same[0] if same else _background_path(geoms, bins)
            seen.append((geoms, fp))
            rest = _draw_background(ax, colours, bins, fp)
            _draw_cells(ax, geoms[rest], colours[rest], np.abs(bins)[rest])
            _draw_parks(ax, pm, hot_now.crs, labels=False)
            _map_axes(ax, view, _crs_label(hot_now))
            n_hot = int((bins >= 2).sum())
            ax.set_title(f"{sub}: {n_hot} hot cells (≥ 95 %) in view", fontsize=9, parse_math=False)
        leg = _legend(axes[0, 1], [(GI_LABELS[b], GI_COLOURS[b]) for b in GI_COLOURS], park=True, title="Gi*")
        st = fig.suptitle(_text(title, 100), fontsize=10, parse_math=False)
        return _png(fig, dpi=dpi, suptitle=st, outside=[leg])


def density_map(grids: Mapping[str, Any], parks=None, *, title: str = "", dpi: int = DPI) -> bytes:
    """Kernel density surfaces (one panel per grid) with park outlines, as PNG bytes.

    Parameters
    ----------
    grids : mapping label -> geo.stats.density.DensityGrid
        Densities in firms per km² on a north-up grid in a metric CRS.
    parks : geopandas.GeoDataFrame, optional
        Park polygons (any CRS), reprojected to each grid's CRS.

    The colour scale is a square-root scale from 0 to the panel's maximum, so both the peaks
    and the low-density background stay visible.
    """
    from matplotlib.colors import PowerNorm

    labels = list(grids)
    with _style():
        fig, axes = _new(5.6 * max(len(labels), 1), 5.0, ncols=max(len(labels), 1), dpi=dpi)
        bars = {}
        for ax, label in zip(axes[0], labels):
            g = grids[label]
            arr = np.asarray(g.array, dtype=float)
            vmax = float(np.nanmax(arr)) if np.isfinite(arr).any() else 1.0
            x0, y0, x1, y1 = g.bounds
            im = ax.imshow(np.ma.masked_invalid(arr), extent=(x0, x1, y0, y1), origin="upper", cmap="magma_r",
                           norm=PowerNorm(0.5, vmin=0.0, vmax=max(vmax, 1e-12)), interpolation="nearest", zorder=1)
            crs_epsg = g.crs.to_epsg()
            _draw_parks(ax, parks, g.crs, labels=False)
            _map_axes(ax, (x0, y0, x1, y1), f"EPSG:{crs_epsg}" if crs_epsg else None)
            bars[ax] = fig.add_axes((0.0, 0.0, 0.01, 0.01))  # placed right of ax by _png
            cb = fig.colorbar(im, cax=bars[ax])
            cb.set_label(str(getattr(g, "units", "firms per km²")), fontsize=7)
            cb.ax.tick_params(labelsize=7)
            ax.set_title(_text(f"{label}: bandwidth {g.bandwidth_m:,.0f} m", 60), fontsize=9, parse_math=False)
        st = fig.suptitle(_text(title, 100), fontsize=10, parse_math=False) if title else None
        return _png(fig, dpi=dpi, suptitle=st, colorbars=bars)


# ----------------------------------------------------------------------------- Moran scatter
def _lag_weights(graph):
    """The graph's weights without self-weights (CSR) and their row sums."""
    w = graph.sparse.tocsr().astype(float)
    w.setdiag(0)
    w.eliminate_zeros()
    return w, np.asarray(w.sum(axis=1)).ravel()


def _row_standardised_lag(values: pd.Series, graph, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """Standardised values z (in graph id order) and their spatial lag with row-standardised
    weights (``weights``: :func:`_lag_weights` of the graph, when already computed)."""
    ids = graph.unique_ids
    y = values.reindex(ids).to_numpy(dtype=float) if isinstance(values, pd.Series) else np.asarray(values, dtype=float)
    sd = y.std()
    z = (y - y.mean()) / sd if sd > 0 else np.zeros_like(y)
    w, rs = _lag_weights(graph) if weights is None else weights
    lag = (w @ z) / np.where(rs > 0, rs, 1.0)
    return z, lag


#: identical points drawn more often than this look the same (0.55 ** 12 < 0.001 of the background shows)
_STACK_MAX = 12


def _stacked_points(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points to draw for a one-colour, semi-transparent scatter of (x, y).

    Counts of cells give few distinct points (100,000 cells: about 5,000), each repeated many
    times; a point is kept up to :data:`_STACK_MAX` times (its markers are opaque by then), so
    the picture is the same with a fraction of the markers.  One colour: the order does not matter.
    """
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if len(x) == 0:
        return x, y
    # the distinct points in lexicographic (x, y) order, as np.unique(..., axis=0) gives
    # them (a 1-D lexsort instead of a sort of structured rows: ten times faster)
    o = np.lexsort((y, x))
    xs, ys = x[o], y[o]
    starts = np.flatnonzero(np.r_[True, (xs[1:] != xs[:-1]) | (ys[1:] != ys[:-1])])
    reps = np.minimum(np.diff(np.r_[starts, len(xs)]), _STACK_MAX)
    return np.repeat(xs[starts], reps), np.repeat(ys[starts], reps)


def moran_scatter(variables: Mapping[str, pd.Series], graph, *, moran: Mapping[str, Any] | None = None, title: str = "",
                  dpi: int = DPI) -> bytes:
    """Moran scatterplots (standardised value vs its spatial lag), one panel per variable.

    The spatial lag uses row-standardised weights, so the least-squares slope through the
    origin of the lag on the value is Moran's I:

    .. math::
        I = \\frac{\\sum_i z_i (Wz)_i}{\\sum_i z_i^2}

    The line drawn has slope ``moran[label].I`` when given (else this slope is computed);
    quadrants HH (upper right), LL (lower left), LH, HL are labelled.

    Parameters
    ----------
    variables : mapping label -> Series
        Values per cell, indexed by the graph ids.
    graph : libpysal.graph.Graph
    moran : mapping label -> MoranResult, optional
    """
    labels = list(variables)
    with _style():
        fig, axes = _new(4.2 * max(len(labels), 1), 4.0, ncols=max(len(labels), 1), dpi=dpi)
        weights = None
        for ax, label in zip(axes[0], labels):
            if weights is None:  # one graph for every panel
                weights = _lag_weights(graph)
            z, lag = _row_standardised_lag(variables[label], graph, weights)
            res = (moran or {}).get(label)
            slope = float(res.I) if res is not None else float(z @ lag / (z @ z)) if (z @ z) > 0 else 0.0
            px, py = _stacked_points(z, lag)
            ax.scatter(px, py, s=6, c="#444444", alpha=0.45, linewidths=0)
            lo, hi = (float(np.min(z)), float(np.max(z))) if len(z) else (-1.0, 1.0)
            xs = np.array([min(lo, -1.0), max(hi, 1.0)])
            ax.plot(xs, slope * xs, color="#D62F27", lw=1.5, label=f"slope = I = {format_number(slope, decimals=3)}")
            ax.axhline(0, color="#999999", lw=0.7)
            ax.axvline(0, color="#999999", lw=0.7)
            for tx, ty, q in ((0.98, 0.98, "HH"), (0.02, 0.02, "LL"), (0.02, 0.98, "LH"), (0.98, 0.02, "HL")):
                ax.text(tx, ty, q, transform=ax.transAxes, ha="right" if tx > 0.5 else "left",
                        va="top" if ty > 0.5 else "bottom", fontsize=8, color="#777777")
            extra = ""
            if res is not None and np.isfinite(getattr(res, "p_sim", np.nan)):
                extra = ", " + p_phrase(res.p_sim, name="p_sim")
            ax.set_title(_text(f"{label}: I = {format_number(slope, decimals=3)}{extra}", 60), parse_math=False)
            ax.set_xlabel("standardised value z")
            ax.set_ylabel("spatial lag Wz (row-standardised)")
            ax.legend(loc="lower right", fontsize=7, frameon=False, bbox_to_anchor=(1.0, 0.06))
        st = fig.suptitle(_text(title, 100), parse_math=False) if title else None
        return _png(fig, dpi=dpi, suptitle=st)


# ----------------------------------------------------------------------------- entries per year
def entries_per_year(founded, inside, *, first: int | None = None, last: int | None = None) -> pd.DataFrame:
    """Firms founded per year inside and outside a park.

    Parameters
    ----------
    founded : array-like of year
        Founding year of each firm (NaN / missing rows are left out).
    inside : array-like of bool
        Whether each firm lies in the park.
    first, last : int, optional
        Year range (default: the range of ``founded``); years without entries are 0.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``year`` with columns ``inside`` and ``outside`` (counts).
    """
    f = pd.to_numeric(pd.Series(np.asarray(founded)), errors="coerce").to_numpy(float)
    ins = np.asarray(inside, dtype=bool)
    ok = np.isfinite(f)
    f, ins = f[ok].astype(int), ins[ok]
    if len(f) == 0:
        return pd.DataFrame({"inside": [], "outside": []}, index=pd.Index([], name="year", dtype=int), dtype=int)
    first = int(f.min()) if first is None else int(first)
    last = int(f.max()) if last is None else int(last)
    years = np.arange(first, last + 1)
    keep = (f >= first) & (f <= last)
    cin = np.bincount(f[keep & ins] - first, minlength=len(years))
    cout = np.bincount(f[keep & ~ins] - first, minlength=len(years))
    return pd.DataFrame({"inside": cin, "outside": cout}, index=pd.Index(years, name="year"))


def entries_chart(founded, inside, year: int, *, rate_ratio: Mapping[str, Any] | None = None, title: str = "",
                  what: str = "firms", dpi: int = DPI) -> bytes:
    """Entries per year inside (top) and outside (bottom) a park, designation year marked.

    Each panel has its own y scale (inside and outside counts differ by orders of
    magnitude) and shows the mean entry rate per year before and from the designation year
    on (dashed), the rates of the difference-in-differences ratio
    :func:`geo.parks.overlay.entry_rate_ratio`.

    Parameters
    ----------
    founded, inside : array-like
        Founding year and park membership of each firm (see :func:`entries_per_year`).
    year : int
        Designation year (entries from this year on count as "after").
    rate_ratio : mapping, optional
        ``rate_ratio``, ``rr_lo``, ``rr_hi`` for the title.
    """
    from matplotlib.ticker import MaxNLocator

    table = entries_per_year(founded, inside)
    with _style():
        fig, axes = _new(7.6, 4.4, nrows=2, sharex=True, dpi=dpi)
        for ax, col, colour, lab in ((axes[0, 0], "inside", _IN_COLOUR, "inside the park"),
                                     (axes[1, 0], "outside", _OUT_COLOUR, "outside the park")):
            if len(table):
                yrs = table.index.to_numpy()
                _bars(ax, yrs, table[col].to_numpy(), width=0.8, color=colour, alpha=0.8, label=f"{what} founded {lab}")
                pre = yrs < year
                for mask in (pre, ~pre):
                    if mask.any():
                        rate = table[col].to_numpy()[mask].mean()
                        ax.plot([yrs[mask].min() - 0.4, yrs[mask].max() + 0.4], [rate, rate], color="black", lw=1.2, ls="--")
                ax.text(0.01, 0.95, f"{lab}: {int(table[col][pre].sum()):,} before, {int(table[col][~pre].sum()):,} from {year} on",
                        transform=ax.transAxes, ha="left", va="top", fontsize=8,
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8})
            ax.axvline(year - 0.5, color="#333333", lw=1.5)
            ax.set_ylabel("entries / year", fontsize=8)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # years: not 1997.5
            top = float(table[col].max()) if len(table) else 1.0
            ax.set_ylim(0, max(top, 1.0) * 1.3)
        axes[0, 0].text(year - 0.5, 1.0, f" designated {year}", transform=axes[0, 0].get_xaxis_transform(), ha="left", va="bottom",
                        fontsize=8, color="#333333")
        axes[1, 0].set_xlabel("founding year (dashed: mean entries per year before / from designation)", fontsize=8)
        sub = ""
        rr = np.nan if rate_ratio is None else pd.to_numeric(pd.Series([rate_ratio.get("rate_ratio")]), errors="coerce").iloc[0]
        if np.isfinite(rr):
            ci = f"{format_number(float(rate_ratio['rr_lo']), digits=3)}–{format_number(float(rate_ratio['rr_hi']), digits=3)}"
            sub = (f"\nDiD entry-rate ratio {format_number(float(rr), digits=3)} (95 % CI {ci}): "
                   "change inside relative to the change outside")
        st = fig.suptitle(_text(title, 90) + sub, fontsize=9, parse_math=False)
        return _png(fig, dpi=dpi, suptitle=st)


def _bars(ax, x, height, *, width: float, color, alpha: float, label: str = ""):
    """Vertical bars from 0, as ``ax.bar(x, height, width)`` draws them, as one collection.

    The same rectangles (corners in the same order) in one PolyCollection: the same pixels
    without a patch per bar and its update of the data limits (a quarter of the time of an
    entries chart of 45 years).
    """
    from matplotlib.collections import PolyCollection

    x = np.asarray(x, dtype=float)
    h = np.asarray(height, dtype=float)
    x0, x1, y0 = x - width / 2, x + width / 2, np.zeros_like(h)
    verts = np.stack([np.column_stack(c) for c in ((x0, y0), (x1, y0), (x1, h), (x0, h))], axis=1)
    bars = PolyCollection(verts, closed=True, facecolors=color, edgecolors="none", alpha=alpha, label=label)
    ax.add_collection(bars, autolim=True)
    ax.autoscale_view()
    return bars


# ----------------------------------------------------------------------------- point patterns
def kd_chart(curve: pd.DataFrame, *, title: str = "", dpi: int = DPI) -> bytes:
    """Duranton–Overman Kd with its local and global confidence bands (distance in km).

    ``curve`` has columns ``r`` (metres), ``kd`` and optionally ``lo``/``hi`` (local bands)
    and ``global_lo``/``global_hi`` (global bands), as in ``geo.kd(...).curve``.
    """
    r = curve["r"].to_numpy(float) / 1000.0
    with _style():
        fig, axes = _new(6.4, 3.8, dpi=dpi)
        ax = axes[0, 0]
        if {"lo", "hi"} <= set(curve) and curve["lo"].notna().any():
            ax.fill_between(r, curve["lo"].to_numpy(float) * 1000, curve["hi"].to_numpy(float) * 1000, color="#cccccc",
                            label="local 90 % band (random location)")
        if {"global_lo", "global_hi"} <= set(curve) and curve["global_lo"].notna().any():
            ax.plot(r, curve["global_lo"].to_numpy(float) * 1000, color="#4575B5", ls="--", lw=1, label="global band")
            ax.plot(r, curve["global_hi"].to_numpy(float) * 1000, color="#4575B5", ls="--", lw=1)
        ax.plot(r, curve["kd"].to_numpy(float) * 1000, color="#D62F27", lw=1.6, label="Kd (observed)")
        ax.set_xlabel("distance between firms, km")
        ax.set_ylabel("Kd, density per km")
        ax.legend(fontsize=7, frameon=False)
        ax.set_title(_text(title, 90), parse_math=False)
        return _png(fig, dpi=dpi)


def l_chart(table: pd.DataFrame, *, title: str = "", dpi: int = DPI) -> bytes:
    """Besag's L(r) − r with CSR envelopes (pointwise and global when present), r in km.

    ``table`` is ``geo.ripley_k(...)``: ``r``, ``L`` and optionally ``L_lo``/``L_hi`` and
    ``L_global_lo``/``L_global_hi``.
    """
    r = table["r"].to_numpy(float)
    rk = r / 1000.0
    with _style():
        fig, axes = _new(6.4, 3.8, dpi=dpi)
        ax = axes[0, 0]
        if {"L_lo", "L_hi"} <= set(table) and table["L_lo"].notna().any():
            ax.fill_between(rk, (table["L_lo"].to_numpy(float) - r) / 1000, (table["L_hi"].to_numpy(float) - r) / 1000,
                            color="#cccccc", label="pointwise CSR envelope")
        if {"L_global_lo", "L_global_hi"} <= set(table) and table["L_global_lo"].notna().any():
            ax.plot(rk, (table["L_global_lo"].to_numpy(float) - r) / 1000, color="#4575B5", ls="--", lw=1, label="global envelope")
            ax.plot(rk, (table["L_global_hi"].to_numpy(float) - r) / 1000, color="#4575B5", ls="--", lw=1)
        ax.plot(rk, (table["L"].to_numpy(float) - r) / 1000, color="#D62F27", lw=1.6, label="L(r) − r (observed)")
        ax.axhline(0, color="#777777", lw=0.7)
        ax.set_xlabel("r, km")
        ax.set_ylabel("L(r) − r, km")
        ax.legend(fontsize=7, frameon=False)
        ax.set_title(_text(title, 90), parse_math=False)
        return _png(fig, dpi=dpi)


# ----------------------------------------------------------------------------- for the report
def figure_name(valley: str, kind: str, park: Any = None) -> str:
    """File name of a report figure: ``<valley>_<kind>.png`` or ``<valley>_park<id>_<kind>.png``."""
    from geo.outputs._write import safe_name

    v = safe_name(valley)
    if park is None:
        return f"{v}_{safe_name(kind)}.png"
    return f"{v}_park{safe_name(str(park))}_{safe_name(kind)}.png"


def focus_label(vr) -> str:
    """What the valley's hot spots count, in words: "all firms" or "<sector> firms"."""
    focus = vr.analysis.focus_column or "n_firms"
    if focus == "n_firms":
        return "all firms"
    grid = vr.analysis.grid
    by = grid.by_columns if grid is not None else {}
    for value, col in by.items():
        if col == focus:
            return f"{value} firms"
    return (focus[2:] if focus.startswith("n_") else focus) + " firms"


def _variable_columns(vr) -> dict[str, str]:
    """Global-Moran label -> cell column ("all firms" -> n_firms, "<sector> firms" -> n_<sector>)."""
    grid = vr.analysis.grid
    by = grid.by_columns if grid is not None else {}
    out = {}
    for label in vr.analysis.global_moran or {}:
        if label == "all firms":
            out[label] = "n_firms"
        elif label.endswith(" firms") and label[: -len(" firms")] in by:
            out[label] = by[label[: -len(" firms")]]
        elif vr.analysis.focus_column:
            out[label] = vr.analysis.focus_column
    return out


def park_entries(results, vr, idx) -> tuple[np.ndarray, np.ndarray, str] | None:
    """(founded, inside, what) for the entries chart of park ``idx`` of valley ``vr``, or None."""
    import shapely

    fm = vr.analysis.metric_firms
    fc = results.config.firms
    if fm is None or fc.founded_column not in fm.columns or len(vr.parks) == 0 or idx not in vr.parks.index:
        return None
    target = results.config.analysis.target_sector
    by_sector = target is not None and fc.sector_column in fm.columns and "target_sector" not in vr.skipped
    founded, x, y = _memoised("entry_firms", (fm,), lambda: _entry_firms(fm, fc, target if by_sector else None),
                              fc.sector_column, fc.founded_column, target if by_sector else None)
    park = vr.parks.loc[[idx]].to_crs(fm.crs).geometry.values[0]
    # only the firms in the park's bounding box can be in it (the same answer, a fraction of the tests)
    x0, y0, x1, y1 = shapely.bounds(park)  # NaN (no firm) for a missing or empty boundary
    near = np.flatnonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
    inside = np.zeros(len(x), dtype=bool)
    inside[near] = shapely.intersects_xy(park, x[near], y[near])
    return founded, inside, f"{target} firms" if by_sector else "firms"


def _entry_firms(fm, fc, target) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Founding year, x and y of the firms of ``target`` (None: all firms) of a valley."""
    from geo.points import point_xy

    if target is not None:
        from geo.outputs.maps._data import _str_equals

        sel = _str_equals(fm[fc.sector_column], target)  # astype(str) == target, on the distinct values
    else:
        sel = np.ones(len(fm), dtype=bool)
    founded = pd.to_numeric(fm[fc.founded_column], errors="coerce").to_numpy(float)[sel]
    x, y = point_xy(fm)
    return founded, x[sel], y[sel]


def report_figures(results, *, errors: dict[str, str] | None = None, workers: int | None = None) -> dict[str, bytes]:
    """Every figure of the report, file name -> PNG bytes (see :func:`figure_name`).

    Per valley (when its stage ran): ``gi`` (Gi* bins of the focus variable with parks and
    cluster outlines), ``lisa`` (LISA clusters with parks), ``density`` (kernel density
    of all firms and of the target sector), ``moran`` (Moran scatterplots),
    ``kd`` / ``l`` (point patterns, when the results hold them); per park with a
    designation year: ``entries`` (entries per year in and out of the park) and ``before``
    (Gi* before designation vs now, around the park); with a valley comparison:
    ``comparison_stock.png`` (cumulative stock of the target sector per valley).

    The figures are independent, so they can be drawn by several processes at once; each is
    drawn by the same code either way, so the PNGs are byte-identical to a serial run.

    Parameters
    ----------
    errors : dict, optional
        When given, a figure that fails is logged and its message stored here under its
        file name instead of raising.
    workers : int, optional
        Processes drawing figures at the same time (forked from this one, on Linux only;
        1 = draw them here, one after the other).  Default 1: forking a process that has
        run threads (numba's, the thread pools of the statistics, a dask client) can
        deadlock in the child, and on this 2-core machine two processes gained nothing
        under load; pass 2 where cores are free.
    """
    token = _MEMO.set({})
    try:
        with _old_objects_frozen():
            return _draw_tasks(_figure_tasks(results), errors, _workers(workers), _COST)
    finally:
        _MEMO.reset(token)


def _entries_figure(results, vr, idx, year: int, row: dict, pname: str) -> bytes | None:
    """The entries chart of one park (None when its firms have no founding years)."""
    ent = park_entries(results, vr, idx)
    if ent is None:
        return None
    founded, inside, what_f = ent
    return entries_chart(founded, inside, year, rate_ratio=row, what=what_f, title=f"{pname}: entries of {what_f} per year")


def _figure_tasks(results) -> list[tuple[str, str, Any, tuple, dict]]:
    """(file name, group, function, args, kwargs) of every figure, in the report's order.

    The figures of one group are drawn one after the other by the same process (the Gi* and
    LISA maps of a valley share the cells' footprint, the entries charts of its parks the
    firms' coordinates).
    """
    tasks: list[tuple[str, str, Any, tuple, dict]] = []

    def add(fname: str, fn, *args, group: str | None = None, **kwargs) -> None:
        tasks.append((fname, group or fname, fn, args, kwargs))

    for name, vr in results.valleys.items():
        st = vr.analysis
        hot = st.hotspots
        what = focus_label(vr)
        if hot is not None:
            cl = st.clusters
            fdr = bool((st.hotspot_parameters or {}).get("fdr", False))
            add(figure_name(name, "gi"), gi_map, hot, vr.parks, clusters=cl, title=f"{vr.title}: Gi* hot and cold spots of {what}",
                fdr=fdr, group=f"{name}\0cells")
            add(figure_name(name, "lisa"), lisa_map, hot, vr.parks, clusters=cl, title=f"{vr.title}: LISA clusters of {what}",
                fdr=fdr, group=f"{name}\0cells")
        dens = {}
        if st.density is not None:
            dens["all firms"] = st.density
        if st.density_target is not None:
            dens[f"{results.config.analysis.target_sector} firms"] = st.density_target
        if dens:
            add(figure_name(name, "density"), density_map, dens, vr.parks, title=f"{vr.title}: kernel density of firms")
        gm = st.global_moran
        cells = st.cells
        graph = st.graph
        if gm and cells is not None and graph is not None:
            cols = _variable_columns(vr)
            variables = {lab: cells[c] for lab, c in cols.items() if c in cells}
            if variables:
                add(figure_name(name, "moran"), moran_scatter, variables, graph, moran=gm, title=f"{vr.title}: Moran scatterplots")
        for kd_label, curve in _kd_curves(st.kd).items():
            kind = "kd" if kd_label == "" else f"kd_{kd_label}"
            add(figure_name(name, kind), kd_chart, curve, title=f"{vr.title}: Duranton–Overman Kd {kd_label}".strip())
        for k_label, table in _k_tables(st.ripley).items():
            kind = "l" if k_label == "" else f"l_{k_label}"
            add(figure_name(name, kind), l_chart, table, title=f"{vr.title}: Ripley L {k_label}".strip())
        ov = st.parks_overlay
        if ov is None or len(ov) == 0:
            continue
        hb = st.hot_before or {}
        for idx, row in ov.iterrows():
            year = row.get("designated")
            if year is None or pd.isna(year):
                continue
            pname = _text(row.get("name", idx), 60)
            add(figure_name(name, "entries", idx), _entries_figure, results, vr, idx, int(year), row.to_dict(), pname,
                group=f"{name}\0entries")
            before = hb.get(idx)
            if before is not None and hot is not None and idx in vr.parks.index and "gi_bin" in before:
                add(figure_name(name, "before", idx), precedence_map, before, hot, vr.parks.loc[[idx]], year=int(year),
                    title=f"{pname}: Gi* before designation vs now")
    for name, vr in results.valleys.items():
        if vr.analysis.emerging is not None:
            dy = pd.to_numeric(vr.parks["designated"], errors="coerce") if "designated" in vr.parks else []
            years = {_text(n, 40): int(y) for n, y in zip(vr.parks["name"], dy) if pd.notna(y)}
            add(figure_name(name, "emerging"), emerging_chart, vr.analysis.emerging.step_counts(), designated=years,
                title=f"{vr.title}: hot and cold cells per step (space-time Gi*) of {focus_label(vr)}")
    cmp = getattr(results, "comparison", None)  # a geo.parks.compare.ValleyComparison
    stock = cmp.stock_by_year if cmp is not None else None
    if stock is not None and len(stock):
        designated = {}
        if len(results.parks) and "designated" in results.parks:
            first = results.parks.dropna(subset=["designated"]).groupby("valley")["designated"].min()
            designated = {str(k): int(v) for k, v in first.items()}
        target = cmp.target_sector or results.config.analysis.target_sector
        add("comparison_stock.png", stock_chart, stock, designated=designated,
            title=f"Firms of {target} founded so far, by valley" if target else "Firms founded so far, by valley")
    if cmp is not None and len(cmp.table):
        from geo.outputs.compare_figures import DIMENSIONS, comparison_chart, comparison_figure_name

        for dimension in DIMENSIONS:
            add(comparison_figure_name(dimension), comparison_chart, cmp.table, dimension)
    groups = getattr(results, "groups", None)  # a geo.parks.groups.GroupComparison
    if groups is not None and len(groups.table):
        add("groups_in_parks.png", groups_chart, groups.table, groups.difference or {},
            title=f"Share of firms inside parks: {groups.group_a} vs {groups.group_b}")
    return tasks


#: rough relative cost of a group of figures, to hand out the slow ones first
_COST = {gi_map: 3.0, lisa_map: 3.0, precedence_map: 2.5, density_map: 1.5, moran_scatter: 1.5, _entries_figure: 1.2}


def groups_chart(table: pd.DataFrame, diff: Mapping[str, Any], *, title: str = "", dpi: int = DPI) -> bytes:
    """In-park share of each sector group per valley (grouped bars), with the difference test's p per valley."""
    with _style():
        fig, axes = _new(7.6, 3.6, dpi=dpi)
        ax = axes[0, 0]
        valleys = list(dict.fromkeys(table["valley"].astype(str)))
        groups = list(dict.fromkeys(table["group"].astype(str)))
        width = 0.8 / max(len(groups), 1)
        colours = ["#d62f27", "#4575b5", "#999999", "#1b9e77"]
        x = np.arange(len(valleys))
        for k, g in enumerate(groups):
            part = table[table["group"].astype(str) == g].set_index(table[table["group"].astype(str) == g]["valley"].astype(str))
            vals = [float(part["in_park_share"].get(v, np.nan)) * 100 for v in valleys]
            ax.bar(x + (k - (len(groups) - 1) / 2) * width, vals, width, color=colours[k % len(colours)], label=_text(g, 30))
        per = diff.get("per_valley") or {}
        labels = []
        for v in valleys:
            entry = per.get(v) if isinstance(per, Mapping) else None
            p = entry.get("p_perm", entry.get("p_value")) if isinstance(entry, Mapping) else None
            labels.append(_text(v, 20) + ("\n" + p_phrase(p) if isinstance(p, (int, float)) and np.isfinite(p) else ""))
        ax.set_xticks(x, labels)
        ax.set_ylabel("% of the group's firms inside a park")
        ax.legend(fontsize=8, frameon=False)
        ax.set_title(_text(title, 90), parse_math=False)
        return _png(fig, dpi=dpi)


def _kd_items(obj) -> dict[str, tuple[pd.DataFrame, Any]]:
    """label -> (Kd curve, the object it came from) for a KdResult, a curve DataFrame, or a
    mapping of label -> either (label "" for a single curve)."""
    if obj is None:
        return {}
    if hasattr(obj, "curve") and isinstance(obj.curve, pd.DataFrame):
        return {"": (obj.curve, obj)}
    if isinstance(obj, pd.DataFrame):
        return {"": (obj, obj)} if {"r", "kd"} <= set(obj.columns) else {}
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            sub = _kd_items(v)
            if "" in sub:
                out[str(k)] = sub[""]
        return out
    return {}


def _kd_curves(obj) -> dict[str, pd.DataFrame]:
    """Kd curves from a KdResult, a curve DataFrame, or a mapping of label -> either."""
    return {k: v[0] for k, v in _kd_items(obj).items()}


def stock_chart(stock: pd.DataFrame, *, designated: Mapping[str, Any] | None = None, title: str = "", dpi: int = DPI) -> bytes:
    """Cumulative stock of target-sector firms per valley by year (one line per valley).

    ``stock`` has columns ``valley``, ``year``, ``stock`` (``compare_valleys(...)
    .stock_by_year``); ``designated`` maps a valley to its first park designation year,
    marked on its line.
    """

    with _style():
        fig, axes = _new(7.6, 3.8, dpi=dpi)
        ax = axes[0, 0]
        for i, (valley, part) in enumerate(stock.groupby("valley", sort=False)):
            part = part.sort_values("year")
            colour = SECTOR_COLOURS[i % len(SECTOR_COLOURS)]
            ax.plot(part["year"], part["stock"], color=colour, lw=1.6, label=_text(valley, 40))
            year = (designated or {}).get(valley)
            if year is not None and not pd.isna(year):
                at = part.loc[part["year"] <= int(year), "stock"]
                ax.plot([int(year)], [at.iloc[-1] if len(at) else 0], marker="o", color=colour, ms=6, mec="black")
        ax.set_xlabel("year (dot: first park designation)")
        ax.set_ylabel("firms founded so far")
        ax.legend(fontsize=7, frameon=False)
        ax.set_title(_text(title, 90), parse_math=False)
        return _png(fig, dpi=dpi)


def emerging_chart(counts: pd.DataFrame, *, designated: Mapping[str, Any] | None = None, title: str = "",
                   dpi: int = DPI) -> bytes:
    """Hot and cold cells per step of the emerging hot spot analysis (``EmergingHotspots.step_counts()``),
    with the parks' designation years as vertical lines."""
    with _style():
        fig, axes = _new(7.6, 3.4, dpi=dpi)
        ax = axes[0, 0]
        ax.step(counts.index, counts["n_hot"], where="mid", color=GI_COLOURS[3], lw=1.6, label="hot cells")
        ax.step(counts.index, counts["n_cold"], where="mid", color=GI_COLOURS[-3], lw=1.6, label="cold cells")
        for park, year in (designated or {}).items():
            ax.axvline(int(year), color="#7b3294", lw=0.8, ls="--")
            ax.annotate(_text(park, 30), (int(year), ax.get_ylim()[1]), fontsize=6, rotation=90, va="top", ha="right")
        ax.set_xlabel("step (year it ends; dashed: park designation)")
        ax.set_ylabel("cells (95 % after FDR)")
        ax.legend(fontsize=7, frameon=False)
        ax.set_title(_text(title, 90), parse_math=False)
        return _png(fig, dpi=dpi)


def _k_tables(obj) -> dict[str, pd.DataFrame]:
    """Ripley K/L tables from a DataFrame or a mapping of label -> DataFrame."""
    if obj is None:
        return {}
    if isinstance(obj, pd.DataFrame):
        return {"": obj} if {"r", "L"} <= set(obj.columns) else {}
    if isinstance(obj, Mapping):
        return {str(k): v for k, v in obj.items() if isinstance(v, pd.DataFrame) and {"r", "L"} <= set(v.columns)}
    return {}
