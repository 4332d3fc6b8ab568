"""Cells → graph → Gi* → cluster polygons: the one chain that the run's valley analysis
(:mod:`geo.pipeline.valley`) and the sector groups (:func:`geo.parks.groups.compare_groups`)
both go through.

:func:`valley_grid` counts a valley's firms on its grid (:func:`geo.aggregate`) and builds the
cells' weights graph (:func:`geo.weights`); :func:`hot_clusters` computes the hot spots of one
count column (:func:`geo.hotspots`: Gi*, and LISA when asked) and dissolves the contiguous
significant hot cells into cluster polygons (:func:`geo.cluster_polygons`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ValleyGrid", "HotClusters", "valley_grid", "hot_clusters", "named_counts"]


@dataclass(frozen=True)
class ValleyGrid:
    """A valley's cells and their weights graph.

    Attributes
    ----------
    cells : geopandas.GeoDataFrame
        The cells with their counts (:func:`geo.aggregate`).
    graph : libpysal.graph.Graph
        The cells' spatial weights (:func:`geo.weights`).
    grid : geo.cells.grid.GridInfo
        How the cells were made: kind, size, the count column of each category.
    """

    cells: Any
    graph: Any
    grid: Any


@dataclass(frozen=True)
class HotClusters:
    """The hot spots of one count column and their cluster polygons.

    Attributes
    ----------
    hotspots : geopandas.GeoDataFrame
        :func:`geo.hotspots` of the column (the cells with the Gi* columns, and the LISA
        columns with ``statistic="both"``).
    clusters : geopandas.GeoDataFrame
        :func:`geo.cluster_polygons` of its Gi* hot cells (bin ≥ +2).
    """

    hotspots: Any
    clusters: Any


def valley_grid(firms: Any, *, cell: str = "hex", size: str | float = "auto", by: str | None = None, extent: Any = None,
                kind: str = "queen", cells: Any = None) -> ValleyGrid:
    """A valley's grid and its weights graph.

    Parameters
    ----------
    firms : geopandas.GeoDataFrame or geo.points.PointFrame
        The valley's firms in its metric CRS.
    cell, size, by, extent
        As :func:`geo.aggregate`.
    kind : str, default "queen"
        As :func:`geo.weights`.
    cells : geopandas.GeoDataFrame, optional
        Cells already counted (the dask engine counts them on its cluster): used as they
        are instead of aggregating ``firms``.

    Returns
    -------
    ValleyGrid

    Raises
    ------
    geo.errors.GeoError
        As :func:`geo.aggregate` and :func:`geo.weights` (too few points, a bad cell size ...).
    """
    from geo.cells.graph import weights
    from geo.cells.grid import GridInfo, aggregate

    if cells is None:
        cells = aggregate(firms, cell=cell, size=size, by=by, extent=extent)
    return ValleyGrid(cells=cells, graph=weights(cells, kind=kind), grid=GridInfo.of(cells))


def named_counts(hot: Any, column: str, sector: str | None) -> Any:
    """``hot`` with the counts of ``column`` also under ``n_<sector>``, the name
    :func:`geo.cluster_polygons` and :func:`geo.park_overlay` read a sector's counts from
    (``hot`` itself when ``sector`` is None or the column already has that name)."""
    if sector is None or column == f"n_{sector}":
        return hot
    return hot.assign(**{f"n_{sector}": hot[column]})


def hot_clusters(cells: Any, column: str, *, graph: Any, permutations: int, seed: int | np.random.Generator | None,
                 alpha: float = 0.05, fdr: bool = True, statistic: str = "gi*", sector: str | None = None) -> HotClusters:
    """The hot spots of one count column of a grid and the cluster polygons of its hot cells.

    Parameters
    ----------
    cells : geopandas.GeoDataFrame
        Cells with the count ``column`` (and ``n_firms``, summed per cluster when present).
    column : str
        The count column tested.
    graph : libpysal.graph.Graph
        The cells' weights.
    permutations, seed, alpha, fdr, statistic
        As :func:`geo.hotspots` (Gi* p-values two-sided; ``statistic="both"`` adds LISA).
    sector : str, optional
        The sector ``column`` counts: its clusters also sum ``n_<sector>`` (``n_target``).

    Returns
    -------
    HotClusters

    Raises
    ------
    geo.errors.GeoError
        As :func:`geo.hotspots` (a constant column, too few cells ...).
    """
    from geo.parks.clusters import cluster_polygons
    from geo.stats.autocorr import hotspots

    hot = hotspots(cells, column, graph=graph, statistic=statistic, alpha=alpha, fdr=fdr, permutations=permutations,
                   seed=seed)
    return HotClusters(hotspots=hot, clusters=cluster_polygons(named_counts(hot, column, sector), sector=sector))
