"""Cluster delineation: contiguous hot cells dissolved into cluster polygons, density-based
clusters of the firm points, and the clusters that lie outside every park.

:mod:`geo.parks.overlay` takes these clusters to the parks (overlap, tests, verdicts);
:func:`point_cluster_agreement` checks its verdicts against the grid-free clusters.
Everything is computed in the metric CRS of the hotspot cells or of the firms.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from geo.errors import InputError
from geo.parks._common import _metric
from geo.points import point_xy

__all__ = [
    "cluster_polygons",
    "point_clusters",
    "point_cluster_agreement",
    "clusters_outside_parks",
]


# ----------------------------------------------------------------------------- helpers
def _union_cells(geoms, attrs: dict):
    """Union of grid cells: GEOS's coverage union for the lattices of geo.grid.

    Hexagons and squares made by :func:`geo.cells.grid.aggregate` share their vertices bit for
    bit, so they form a valid coverage and the coverage union (10-20x faster on 100,000
    cells) gives the same polygon; other cells use the general union.
    """
    import shapely

    geoms = np.asarray(geoms)
    if attrs.get("cell") in ("hex", "square") and len(geoms):
        return shapely.coverage_union_all(geoms)
    return shapely.union_all(geoms)


def _hot_mask(hot, *, by: str, min_bin: int) -> np.ndarray:
    if by == "gi":
        if "gi_bin" not in hot:
            msg = "The hotspot table has no `gi_bin` column; make it with geo.hotspots(...)."
            raise InputError(msg)
        return hot["gi_bin"].to_numpy() >= min_bin
    if by == "lisa":
        if "lisa_label" not in hot:
            msg = "The hotspot table has no `lisa_label` column; make it with geo.hotspots(...)."
            raise InputError(msg)
        return (hot["lisa_label"] == "HH").to_numpy()
    msg = f"`by` must be 'gi' or 'lisa'; {by!r} was given."
    raise InputError(msg)


def _components(geoms) -> np.ndarray:
    """Connected components of polygons that touch (share an edge or a vertex)."""
    import shapely
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(geoms)
    if n == 0:
        return np.zeros(0, dtype=int)
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    adj = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, labels = connected_components(adj, directed=False)
    return labels


# ----------------------------------------------------------------------------- clusters
def cluster_polygons(hot, *, by: str = "gi", min_bin: int = 2, sector: str | None = None, z_column: str = "gi_z"):
    """Dissolve contiguous significant hot cells into cluster polygons.

    Parameters
    ----------
    hot : geopandas.GeoDataFrame
        Output of :func:`geo.hotspots` (cells with ``gi_bin``/``gi_z`` and ``lisa_label``),
        in a metric CRS.
    by : {"gi", "lisa"}, default "gi"
        ``"gi"``: cells with Gi* bin ≥ ``min_bin`` (bins come from FDR-adjusted p-values
        when the hotspots were computed with ``fdr=True``); ``"lisa"``: LISA "HH" cells.
    min_bin : int, default 2
        2 = hot at 95 % confidence, 3 = 99 %, 1 = 90 %.
    sector : str, optional
        Also sum ``n_<sector>`` (target-sector firms) per cluster.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per cluster, ``cluster_id`` 1, 2, … ordered by decreasing number of firms
        (ties by position), so ids are stable for the same input: ``n_cells``,
        ``area_km2``, ``n_firms``, ``n_target``, ``peak_z``, ``mean_z``, geometry.  Cells
        touching at an edge or a vertex belong to the same cluster.  Its record, in
        ``attrs``: ``cell_cluster``, which hot cell is in which cluster (a Series named
        ``cluster_id``: index = the hot cells' index in ``hot``, value = their cluster id),
        and ``definition`` ("Gi* bin >= 2" or "LISA HH").  :func:`geo.parks.models.classify_models`
        and :func:`geo.parks.stacks.cluster_artefacts` take ``cell_cluster`` as their
        ``cluster_cells`` argument, and read it from ``attrs`` when it is not given.
    """
    out, cell_cluster = _cluster_polygons(hot, by=by, min_bin=min_bin, sector=sector, z_column=z_column)
    out.attrs["cell_cluster"] = cell_cluster
    out.attrs["definition"] = f"Gi* bin >= {min_bin}" if by == "gi" else "LISA HH"
    return out


def _cluster_polygons(hot, *, by: str, min_bin: int, sector: str | None, z_column: str):
    """:func:`cluster_polygons` without its record: (the cluster polygons, hot cell id → cluster id)."""
    import geopandas as gpd
    import shapely

    mask = _hot_mask(hot, by=by, min_bin=min_bin)
    pos = np.flatnonzero(mask)
    cols = ["cluster_id", "n_cells", "area_km2", "n_firms", "n_target", "peak_z", "mean_z"]
    if len(pos) == 0:
        out = gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=hot.crs)
        return out, pd.Series(dtype=int, index=hot.index[:0], name="cluster_id")
    geoms = np.asarray(hot.geometry.values)[pos]
    labels = _components(geoms)
    target = f"n_{sector}" if sector is not None else None
    z_all = hot[z_column].to_numpy(float)[pos] if z_column in hot else np.full(len(pos), np.nan)

    def summer(column: str):
        # sum of a column over the cells of one cluster (numpy for plain integer columns)
        col = hot[column]
        if isinstance(col.dtype, np.dtype) and col.dtype.kind in "biu":
            values = col.to_numpy()[pos]
            return lambda idx: int(values[idx].sum())
        return lambda idx: int(col.iloc[pos[idx]].sum())

    n_firms = summer("n_firms") if "n_firms" in hot else (lambda idx: 0)
    n_target = summer(target) if target and target in hot else (lambda idx: None)
    # the cells of each cluster, in the order of the cells
    by_label = np.argsort(labels, kind="stable")
    uniq, first = np.unique(labels[by_label], return_index=True)
    rows = []
    for lab, idx in zip(uniq, np.split(by_label, first[1:])):
        geom = _union_cells(geoms[idx], hot.attrs)
        c = shapely.centroid(geom)
        z = z_all[idx]
        rows.append(
            {
                "label": lab,
                "n_cells": len(idx),
                "area_km2": geom.area / 1e6,
                "n_firms": n_firms(idx),
                "n_target": n_target(idx),
                "peak_z": float(np.nanmax(z)) if np.isfinite(z).any() else np.nan,
                "mean_z": float(np.nanmean(z)) if np.isfinite(z).any() else np.nan,
                "_x": c.x,
                "_y": c.y,
                "geometry": geom,
            }
        )
    df = pd.DataFrame(rows).sort_values(["n_firms", "_x", "_y"], ascending=[False, True, True], kind="stable")
    df["cluster_id"] = np.arange(1, len(df) + 1)
    relabel = dict(zip(df["label"], df["cluster_id"]))
    out = gpd.GeoDataFrame(df[cols + ["geometry"]].reset_index(drop=True), geometry="geometry", crs=hot.crs)
    return out, pd.Series([relabel[v] for v in labels], index=hot.index[pos], name="cluster_id")


def _cluster_cells(clusters, cluster_cells, *, cells, cells_name: str) -> pd.Series | None:
    """Which hot cell is in which cluster of ``clusters``: ``cluster_cells`` when given, else the
    record :func:`cluster_polygons` keeps in ``clusters.attrs["cell_cluster"]`` (None without
    either), checked against ``clusters`` and against ``cells``, the index of the cells it names
    (``cells_name`` in the message)."""
    from geo._words import listing

    given = "`cluster_cells`"
    if cluster_cells is None:
        cluster_cells = clusters.attrs.get("cell_cluster")
        given = "`clusters.attrs['cell_cluster']`"
        if cluster_cells is None:
            return None
    if not isinstance(cluster_cells, pd.Series):
        msg = (f"{given} must be a pandas Series (hot cell id -> cluster id, as geo.cluster_polygons records it in "
               f"attrs['cell_cluster']); a {type(cluster_cells).__name__} was given.")
        raise InputError(msg)
    stray = cluster_cells.index[~cluster_cells.index.isin(cells)]
    if len(stray):
        msg = (f"{given} names {len(stray):,} of its {len(cluster_cells):,} cells that are not cells of {cells_name} "
               f"(it has {len(cells):,}): {listing(stray.tolist(), limit=5)}; give the cluster_cells of the hot spots "
               "these clusters were made from.")
        raise InputError(msg)
    ids = clusters["cluster_id"] if "cluster_id" in clusters else pd.Series(dtype=int)
    unknown = pd.unique(cluster_cells[~cluster_cells.isin(ids)])
    if len(unknown):
        held = f"ids {listing(sorted(ids.tolist()), limit=10)}" if len(ids) else "no cluster"
        msg = (f"{given} puts cells in cluster ids that `clusters` does not hold ({listing(unknown.tolist(), limit=5)}; "
               f"it holds {held}); give the cluster_cells recorded with these clusters.")
        raise InputError(msg)
    if cluster_cells.index.has_duplicates:
        dup = cluster_cells.index[cluster_cells.index.duplicated()].unique()
        msg = (f"{given} puts {len(dup):,} cells in more than one cluster ({listing(dup.tolist(), limit=5)}); "
               "each hot cell is in one.")
        raise InputError(msg)
    return cluster_cells


#: raster cell side of the point-cluster polygons, as a fraction of ``eps``
_POLYGON_CELL = 0.1


def _disc_union_polygon(x: np.ndarray, y: np.ndarray, radius: float, side: float):
    """Cells of a raster of side ``side`` (aligned to multiples of ``side``) whose centre lies
    within ``radius`` of a point, dissolved into a (Multi)Polygon."""
    import shapely
    from affine import Affine
    from rasterio.features import shapes

    from geo.stats._dbscan import disc_raster

    x0 = (math.floor((x.min() - radius) / side) - 1) * side
    y1 = (math.ceil((y.max() + radius) / side) + 1) * side
    ncol = int(math.ceil((x.max() + radius - x0) / side)) + 2
    nrow = int(math.ceil((y1 - (y.min() - radius)) / side)) + 2
    ras = disc_raster(np.ascontiguousarray(x, dtype=float), np.ascontiguousarray(y, dtype=float),
                      float(x0), float(y1), float(side), nrow, ncol, float(radius))
    parts = [shapely.geometry.shape(g)
             for g, _ in shapes(ras, mask=ras.view(bool), transform=Affine(side, 0.0, x0, 0.0, -side, y1), connectivity=4)]
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def point_clusters(firms, *, sector: str | None = None, sector_column: str = "sector", method: str = "dbscan",
                   eps: float = 500.0, min_samples: int = 20):
    r"""Density-based clusters of the firm points themselves: a grid-free second definition.

    Parameters
    ----------
    firms : geopandas.GeoDataFrame or geo.points.PointFrame
        Firms in a metric CRS.
    sector : str, optional
        Only the firms of this sector (the target sector).
    method : {"dbscan", "hdbscan"}, default "dbscan"
        DBSCAN (``eps`` metres, ``min_samples`` firms) or scikit-learn's HDBSCAN
        (``min_cluster_size = min_samples``; ``eps`` only sets the polygon size).
    eps : float, default 500
        DBSCAN neighbourhood radius in metres.
    min_samples : int, default 20
        Firms needed within ``eps`` of a core firm, the firm itself included (DBSCAN), or in
        a cluster (HDBSCAN).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per cluster, ``point_cluster_id`` 1, 2, … by decreasing size: ``n_firms``,
        ``area_km2`` and a polygon, so that results can be checked not to hinge on the grid.
        Noise firms belong to no cluster.  ``attrs["labels"]`` holds each firm's label
        (−1 = noise), ``attrs["method"]`` the method and its parameters.

    Notes
    -----
    DBSCAN is exact and gives the labels of scikit-learn's
    ``DBSCAN(eps, min_samples).fit_predict`` on the same points in the same order (before
    renumbering by size), computed on a grid of cells of side :math:`\varepsilon/\sqrt{2}`
    in ``O(n)`` memory (:mod:`geo.stats._dbscan`).  A firm is core when at least ``min_samples``
    firms (itself included) lie at distance :math:`\le \varepsilon`; core firms within
    :math:`\varepsilon` of each other share a cluster; a border firm (not core, with a core
    firm within :math:`\varepsilon`) joins, among the clusters with a core firm within
    :math:`\varepsilon` of it, the one whose first core firm comes first in the input —
    the cluster scikit-learn's expansion reaches first.

    The polygon of a cluster is the union of the discs of radius :math:`\varepsilon/2`
    around its firms (two discs meet exactly when their firms are within
    :math:`\varepsilon`), sampled on a raster of side :math:`\varepsilon/10` aligned to
    multiples of the side: the union of the raster cells whose centre lies within
    :math:`\varepsilon/2` of one of the cluster's firms.  Its boundary is within
    :math:`\varepsilon/(10\sqrt{2})` of the exact union of discs, and ``area_km2`` is the
    number of such cells times their area.  Polygons of two clusters can overlap where
    border firms are near another cluster.
    """
    import geopandas as gpd

    if method not in ("dbscan", "hdbscan"):
        msg = f"`method` must be 'dbscan' or 'hdbscan'; {method!r} was given."
        raise InputError(msg)
    if not (isinstance(eps, (int, float, np.number)) and math.isfinite(eps) and eps > 0):
        msg = f"`eps` must be a positive distance in metres; {eps!r} was given."
        raise InputError(msg)
    if isinstance(min_samples, (bool, np.bool_)) or not isinstance(min_samples, (int, np.integer)) or min_samples < 1:
        msg = f"`min_samples` must be a positive integer; {min_samples!r} was given."
        raise InputError(msg)
    x, y = point_xy(firms)
    index = firms.index
    if sector is not None:
        keep = (firms[sector_column].astype(str) == str(sector)).to_numpy()
        x, y, index = x[keep], y[keep], index[keep]
    cols = ["point_cluster_id", "n_firms", "area_km2"]
    empty = gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=firms.crs)
    if len(index) < min_samples:
        empty.attrs["labels"] = pd.Series(-1, index=index)
        return empty
    xy = np.column_stack([x, y])
    if not np.isfinite(xy).all():
        msg = (f"{int((~np.isfinite(xy).all(axis=1)).sum())} firm(s) have an empty or non-finite point geometry; "
               "drop them first (firms[~firms.geometry.is_empty]).")
        raise InputError(msg)
    if method == "dbscan":
        from geo.stats._dbscan import dbscan

        labels, _ = dbscan(xy[:, 0], xy[:, 1], float(eps), int(min_samples))
    else:
        from sklearn.cluster import HDBSCAN

        labels = HDBSCAN(min_cluster_size=min_samples, copy=True).fit_predict(xy)
    labels = np.asarray(labels, dtype=np.int64)
    member = np.flatnonzero(labels >= 0)
    if not len(member):
        empty.attrs["labels"] = pd.Series(labels, index=index)
        return empty
    member = member[np.argsort(labels[member], kind="stable")]
    uniq, first, counts = np.unique(labels[member], return_index=True, return_counts=True)
    rows = []
    for lab, a, m in zip(uniq, first, counts):
        pts = xy[member[a:a + m]]
        geom = _disc_union_polygon(pts[:, 0], pts[:, 1], eps / 2, eps * _POLYGON_CELL)
        rows.append({"label": lab, "n_firms": int(m), "area_km2": geom.area / 1e6, "geometry": geom,
                     "_x": float(pts[:, 0].mean()), "_y": float(pts[:, 1].mean())})
    df = pd.DataFrame(rows).sort_values(["n_firms", "_x", "_y"], ascending=[False, True, True], kind="stable")
    df["point_cluster_id"] = np.arange(1, len(df) + 1)
    relabel = np.zeros(int(uniq.max()) + 1, dtype=np.int64)
    relabel[df["label"].to_numpy()] = df["point_cluster_id"].to_numpy()
    out = gpd.GeoDataFrame(df[cols + ["geometry"]].reset_index(drop=True), geometry="geometry", crs=firms.crs)
    out.attrs["labels"] = pd.Series(np.where(labels >= 0, relabel[np.maximum(labels, 0)], -1), index=index)
    out.attrs["method"] = f"{method} (eps = {eps:g} m, min_samples = {min_samples})"
    return out


def point_cluster_agreement(overlay: pd.DataFrame, pclusters, parks, *, min_share: float = 0.25) -> pd.DataFrame:
    """Does the grid-free definition agree with the grid verdict for each park?

    For each park: the largest share of a point cluster's area (the union of discs around
    its firms, see :func:`point_clusters`) inside the park (``point_cluster_share``) and ``grid_free_agrees``: a point
    cluster with at least ``min_share`` of its area inside the park exactly when the grid
    verdict says the park has a cluster.
    """
    import shapely

    from geo.parks._common import VERDICTS

    parks_m = _metric(parks, pclusters.crs) if len(parks) else parks
    labels = pclusters.attrs.get("labels")
    out = overlay[["name", "verdict"]].copy()
    share = []
    for idx in overlay.index:
        g = parks_m.geometry.loc[idx]
        best = 0.0
        for c in pclusters.itertuples():
            inter = shapely.intersection(c.geometry, g).area
            if inter > 0:
                best = max(best, inter / c.geometry.area)
        share.append(best)
    out["point_cluster_share"] = share
    has = out["point_cluster_share"] >= min_share
    out["grid_free_agrees"] = has == (out["verdict"] != VERDICTS["none"])
    out.attrs["n_clustered_firms"] = int((labels >= 1).sum()) if labels is not None else 0
    return out


def clusters_outside_parks(clusters, parks, *, max_share: float = 0.1):
    """Cluster polygons with less than ``max_share`` of their area inside any park."""
    import shapely

    if len(clusters) == 0:
        return clusters.assign(share_in_parks=[])
    parks_m = _metric(parks, clusters.crs) if len(parks) else parks
    pu = shapely.union_all(parks_m.geometry.values) if len(parks_m) else None
    share = np.array([shapely.intersection(c, pu).area / c.area if pu is not None else 0.0 for c in clusters.geometry.values])
    out = clusters.assign(share_in_parks=share)
    return out[share < max_share]
