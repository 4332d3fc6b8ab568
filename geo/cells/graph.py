"""Spatial weights as :class:`libpysal.graph.Graph` objects, with a stated islands policy.

Cells without neighbours ("islands") never crash anything: they are reported (a log
record and :func:`islands`) and handled by the ``islands=`` policy of :func:`weights`.
Inputs are never mutated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from libpysal.graph import Graph
from scipy.spatial import cKDTree

from geo.errors import CRSError, GraphError, InputError

__all__ = ["weights", "islands", "IslandReport", "WEIGHT_KINDS", "ISLAND_POLICIES"]

logger = logging.getLogger(__name__)

WEIGHT_KINDS = ("queen", "rook", "knn", "distance", "kernel")
ISLAND_POLICIES = ("knn", "keep", "raise")
DEFAULT_K = 8

#: the attribute of a Graph built by :func:`weights` that holds its :class:`IslandReport` (the
#: record lives on the graph and is dropped with it)
_ISLANDS_ATTR = "_geo_islands"


@dataclass(frozen=True)
class IslandReport:
    """What :func:`weights` found and did about cells without neighbours.

    Attributes
    ----------
    ids : tuple
        Ids of the cells that had no neighbour under the requested ``kind``.
    policy : str
        ``"knn"``, ``"keep"``, ``"raise"`` or ``"unknown"`` (graph not built by
        :func:`weights`).
    linked : tuple of (id, id)
        Links added by the ``"knn"`` policy: (island, its nearest cell).
    remaining : tuple
        Ids without any neighbour in the returned graph.
    kind : str or None
        The weights kind the graph was built with.
    params : dict
        ``k``, ``distance`` and other parameters used.
    """

    ids: tuple
    policy: str
    linked: tuple = ()
    remaining: tuple = ()
    kind: str | None = None
    params: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of islands found at build time."""
        return len(self.ids)


def weights(
    cells: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    kind: str = "queen",
    k: int | None = None,
    distance: float | None = None,
    kernel: str = "gaussian",
    islands: str = "knn",
) -> Graph:
    """Build spatial weights for cells (or points) as a :class:`libpysal.graph.Graph`.

    Parameters
    ----------
    cells : geopandas.GeoDataFrame or GeoSeries
        Polygons (cells from :func:`geo.aggregate`) or points.  The graph ids are
        ``cells.index`` (must be unique).  Not modified.
    kind : {"queen", "rook", "knn", "distance", "kernel"}, default "queen"
        * ``"queen"`` / ``"rook"``: polygons sharing a vertex / an edge
          (:meth:`Graph.build_contiguity`); polygons only.  Hexagon and square cells
          of :func:`geo.aggregate` (any subset) get the same graph from their lattice
          coordinates, without comparing vertices (much faster on large grids).
        * ``"knn"``: the ``k`` nearest centroids (:meth:`Graph.build_knn`), default
          ``k=8``.
        * ``"distance"``: binary distance band between centroids
          (:meth:`Graph.build_distance_band`); default ``distance`` is the smallest
          band that gives every cell at least one neighbour (the largest
          nearest-neighbour distance, as in ArcGIS).
        * ``"kernel"``: kernel weights between centroids (:meth:`Graph.build_kernel`)
          with fixed bandwidth ``distance`` or adaptive bandwidth to the ``k``-th
          neighbour (default ``k=8`` if neither is given).
        Distance-based kinds need a projected CRS (metres).
    k : int, optional
        Number of neighbours (``"knn"``, adaptive ``"kernel"``).
    distance : float, optional
        Distance band / kernel bandwidth in CRS units (metres).
    kernel : str, default "gaussian"
        Kernel function for ``kind="kernel"`` (any name :meth:`Graph.build_kernel` takes).
    islands : {"knn", "keep", "raise"}, default "knn"
        Policy for cells with no neighbour:

        * ``"knn"`` (default, as ArcGIS, which gives every feature at least one
          neighbour): each island is linked, in both directions, to its nearest other
          cell by centroid distance, with weight 1 (for ``kind="kernel"``, the smallest
          weight in the graph);
        * ``"keep"``: islands stay without neighbours; local statistics report them
          with NaN p-values and label ``"ns"``;
        * ``"raise"``: raise :class:`geo.errors.GraphError`.

        Either way the islands are logged (warning) and recorded: see :func:`islands`.

    Returns
    -------
    libpysal.graph.Graph
        Weights as built (transformation ``"O"``); the statistics apply their own
        transformation (row standardisation by default).

    Raises
    ------
    geo.errors.InputError
        Unknown ``kind``/``islands``, bad ``k``/``distance``, duplicated index.
    geo.errors.CRSError
        Distance-based weights on a geographic CRS.
    geo.errors.GraphError
        Islands with ``islands="raise"``, or contiguity asked of points.

    Examples
    --------
    >>> import geopandas as gpd, shapely, numpy as np
    >>> i, j = np.meshgrid(np.arange(4), np.arange(4))
    >>> sq = gpd.GeoSeries(shapely.box(i.ravel(), j.ravel(), i.ravel() + 1, j.ravel() + 1), crs=32650)
    >>> g = weights(sq, kind="rook")
    >>> int(g.cardinalities.max()), islands(g).n
    (4, 0)
    """
    if kind not in WEIGHT_KINDS:
        msg = f"`kind` must be one of {', '.join(map(repr, WEIGHT_KINDS))}; {kind!r} was given."
        raise InputError(msg)
    if islands not in ISLAND_POLICIES:
        msg = f"`islands` must be one of {', '.join(map(repr, ISLAND_POLICIES))}; {islands!r} was given."
        raise InputError(msg)
    geoms = _geoms(cells)
    n = len(geoms)
    if n < 2:
        msg = f"Weights need at least 2 cells; {n} given."
        raise InputError(msg)
    params: dict[str, Any] = {}
    if kind in ("queen", "rook"):
        types = set(np.unique(shapely.get_type_id(np.asarray(geoms.values))).tolist())
        if not types <= {3, 6}:
            msg = (
                f"kind={kind!r} (contiguity) needs Polygon cells; the geometries are "
                f"{', '.join(sorted(shapely.GeometryType(t).name for t in types))}. Use "
                "kind='knn' or kind='distance' for points."
            )
            raise GraphError(msg)
        graph = _lattice_contiguity(cells, geoms, rook=(kind == "rook"))
        if graph is None:  # not cells of a geo.cells.grid lattice: libpysal's vertex sets
            graph = Graph.build_contiguity(geoms, rook=(kind == "rook"))
    else:
        xy = _centroids(geoms)
        pts = gpd.GeoSeries(shapely.points(xy), index=geoms.index, crs=geoms.crs)
        if kind == "knn":
            kk = _check_k(DEFAULT_K if k is None else k, n)
            params["k"] = kk
            graph = _knn(pts, kk)
        elif kind == "distance":
            if distance is None:
                d = _max_nn_distance(xy)
                params["distance_rule"] = "largest nearest-neighbour distance (every cell has a neighbour)"
            else:
                d = _check_distance(distance)
            params["distance"] = d
            # a hair of slack so that lattice neighbours at exactly `d` are included
            graph = Graph.build_distance_band(pts, threshold=d * (1 + 1e-9), binary=True)
        else:
            if distance is None:
                kk = _check_k(DEFAULT_K if k is None else k, n)
                params.update(k=kk, kernel=kernel, bandwidth="adaptive (k-th neighbour)")
                graph = Graph.build_kernel(pts, kernel=kernel, k=kk)
            else:
                d = _check_distance(distance)
                params.update(distance=d, kernel=kernel)
                graph = Graph.build_kernel(pts, kernel=kernel, bandwidth=d)
    params["kind"] = kind
    return _apply_island_policy(graph, geoms, kind, islands, params)


def islands(graph: Graph) -> IslandReport:
    """The island record of ``graph``.

    For a graph built by :func:`weights`, the cells that had no neighbour when it was
    built, the policy applied and the links added; for any other graph, its current
    isolates (``policy="unknown"``).
    """
    rec = getattr(graph, _ISLANDS_ATTR, None)
    if rec is not None:
        return rec
    iso = tuple(_plain(v) for v in graph.isolates)
    return IslandReport(ids=iso, policy="unknown", remaining=iso)


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _geoms(cells: Any) -> gpd.GeoSeries:
    if isinstance(cells, gpd.GeoDataFrame):
        geoms = cells.geometry
    elif isinstance(cells, gpd.GeoSeries):
        geoms = cells
    else:
        msg = f"`cells` must be a GeoDataFrame or GeoSeries; {type(cells).__name__} was given."
        raise InputError(msg)
    if not geoms.index.is_unique:
        msg = (
            "`cells` must have a unique index (it becomes the graph ids); it has "
            f"{int(geoms.index.duplicated().sum())} duplicated labels. Use cells.reset_index(drop=True)."
        )
        raise InputError(msg)
    bad = shapely.is_missing(np.asarray(geoms.values)) | shapely.is_empty(np.asarray(geoms.values))
    if bad.any():
        msg = f"`cells` has {int(bad.sum())} missing or empty geometries; drop them first."
        raise InputError(msg)
    return geoms


def _centroids(geoms: gpd.GeoSeries) -> np.ndarray:
    crs = geoms.crs
    if crs is None or not pyproj.CRS.from_user_input(crs).is_projected:
        msg = (
            "Distance-based weights need a projected CRS in metres; the cells have "
            f"{'no CRS' if crs is None else pyproj.CRS.from_user_input(crs).to_string()}. "
            "Reproject first (geo.to_metric) or use cells from geo.aggregate."
        )
        raise CRSError(msg)
    c = shapely.centroid(np.asarray(geoms.values))
    return np.column_stack([shapely.get_x(c), shapely.get_y(c)])


# lattice neighbours (da, db) of a cell (a, b) of geo.cells.grid: axial (q, r) of hexagons (the
# six sharing an edge; hexagons sharing a vertex share an edge), (i, j) of squares
_HEX_NEIGHBOURS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, -1), (-1, 1))
_SQUARE_ROOK = ((1, 0), (-1, 0), (0, 1), (0, -1))
_SQUARE_QUEEN = _SQUARE_ROOK + ((1, 1), (1, -1), (-1, 1), (-1, -1))


def _lattice_contiguity(cells: Any, geoms: gpd.GeoSeries, *, rook: bool) -> Graph | None:
    """Queen/rook contiguity of hexagon or square cells of :func:`geo.cells.grid.aggregate`.

    On the lattice, two cells share a vertex (queen) or an edge (rook) exactly when their
    integer coordinates differ by one of the offsets above, so the neighbours are found
    from the coordinates in O(n log n) instead of from vertex sets.  Used only when every
    polygon is, coordinate for coordinate, the lattice cell that ``aggregate`` builds for
    ``cells.attrs["cell"]`` and ``["size_m"]`` (any subset of the grid, in any order),
    the cells are distinct and the ids are integers or strings; the result is then the
    Graph of :meth:`Graph.build_contiguity` (same focal, neighbor and weight arrays, in
    the same order, isolates as zero-weight self-loops).  Otherwise None.
    """
    from geo.cells.grid import _lattice_index

    attrs = getattr(cells, "attrs", None) or {}
    cell, size = attrs.get("cell"), attrs.get("size_m")
    if cell not in ("hex", "square") or isinstance(size, bool) or not isinstance(size, (int, float, np.number)):
        return None
    ids = geoms.index
    if not (ids.dtype == np.int64 or (pd.api.types.is_string_dtype(ids) and ids.inferred_type == "string")):
        return None
    keys = _lattice_index(np.asarray(geoms.values), cell, float(size))
    if keys is None:
        return None
    a, b = keys
    n = len(a)
    a_lo, b_lo = int(a.min()), int(b.min())
    width = int(a.max()) - a_lo + 3  # a margin of one cell on each side: offsets never wrap
    if width * (int(b.max()) - b_lo + 3) >= 2**62 or n >= 2**31:
        return None
    code = (b - (b_lo - 1)) * width + (a - (a_lo - 1))
    offsets = _HEX_NEIGHBOURS if cell == "hex" else (_SQUARE_ROOK if rook else _SQUARE_QUEEN)
    shifts = sorted(db * width + da for da, db in offsets)
    if n > 1 and np.all(code[1:] > code[:-1]):
        f, j = _sorted_lattice_pairs(code, shifts)
    else:
        order = np.argsort(code, kind="stable")
        srt = code[order]
        if n > 1 and np.any(srt[1:] == srt[:-1]):  # the same cell twice: leave it to libpysal
            return None
        focal, neighbor = [], []
        for shift in shifts:
            target = code + shift
            k = np.minimum(np.searchsorted(srt, target), n - 1)
            hit = srt[k] == target
            focal.append(np.flatnonzero(hit))
            neighbor.append(order[k[hit]])
        f = np.concatenate(focal)
        j = np.concatenate(neighbor)
        isolates = np.flatnonzero(np.bincount(f, minlength=n) == 0)
        # canonical order of a Graph: focal, then neighbor, by position in the ids
        pair = np.concatenate([f * n + j, isolates * n + isolates])
        pair.sort()
        f, j = np.divmod(pair, n)
    weight = (f != j).astype(int)  # isolates: a self-loop of weight 0, as libpysal
    level = pd.Index(np.asarray(ids))
    index = pd.MultiIndex(
        levels=[level.rename("focal"), level.rename("neighbor")],
        codes=[f, j],
        names=["focal", "neighbor"],
        verify_integrity=False,
    )
    return Graph(pd.Series(weight, index=index, name="weight"), is_sorted=True)


def _sorted_lattice_pairs(code: np.ndarray, shifts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(focal, neighbor) positions of the lattice neighbours of cells whose codes increase.

    With ``code`` strictly increasing (the order of :func:`geo.cells.grid.aggregate`), the
    neighbours at the ``shifts`` taken in increasing order are at increasing positions, so
    reading a table of neighbours row by row gives the canonical order of a Graph (focal,
    then neighbor) without sorting; a cell without any neighbour gets its self-loop.
    """
    n = len(code)
    lo, span = int(code[0]) + min(shifts), int(code[-1]) - int(code[0]) + max(shifts) - min(shifts) + 1
    table = np.full((n, len(shifts) + 1), -1, dtype=np.int64)
    if span <= 8 * n + 1024:  # a dense lookup of positions by code
        where = np.full(span, -1, dtype=np.int64)
        where[code - lo] = np.arange(n)
        for col, shift in enumerate(shifts):
            table[:, col] = where[code + (shift - lo)]
    else:
        for col, shift in enumerate(shifts):
            target = code + shift
            k = np.minimum(np.searchsorted(code, target), n - 1)
            table[:, col] = np.where(code[k] == target, k, -1)
    alone = (table[:, :-1] < 0).all(axis=1)
    table[alone, -1] = np.flatnonzero(alone)
    hit = table >= 0
    f = np.repeat(np.arange(n), hit.sum(axis=1))
    return f, table[hit]


def _check_k(k: Any, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= int(k) < n:
        msg = f"`k` must be an integer between 1 and n - 1 = {n - 1}; {k!r} was given."
        raise InputError(msg)
    return int(k)


def _check_distance(d: Any) -> float:
    try:
        v = float(d)
    except (TypeError, ValueError):
        v = float("nan")
    if not np.isfinite(v) or v <= 0:
        msg = f"`distance` must be a positive number of metres; {d!r} was given."
        raise InputError(msg)
    return v


def _max_nn_distance(xy: np.ndarray) -> float:
    dist, _ = cKDTree(xy).query(xy, k=2)
    d = float(dist[:, 1].max())
    if d <= 0:
        msg = "All cells share one location; a distance band cannot be chosen."
        raise GraphError(msg)
    return d


def _knn(pts: gpd.GeoSeries, k: int) -> Graph:
    try:
        return Graph.build_knn(pts, k=k)
    except ValueError as err:
        if "coplanar" not in str(err).lower() and "duplicate" not in str(err).lower():
            raise
        msg = (
            "kind='knn' found several cells/points at the same location (coplanar); "
            "aggregate points to cells first or use kind='distance'."
        )
        raise GraphError(msg) from None


def _apply_island_policy(graph: Graph, geoms: gpd.GeoSeries, kind: str, policy: str, params: dict) -> Graph:
    iso = [_plain(v) for v in graph.isolates]
    if not iso:
        _record(graph, IslandReport(ids=(), policy=policy, kind=kind, params=params))
        return graph
    shown = ", ".join(map(repr, iso[:5])) + (" ..." if len(iso) > 5 else "")
    if policy == "raise":
        msg = (
            f"{len(iso)} of {len(geoms)} cells have no neighbour under kind={kind!r} "
            f"weights ({shown}). Use islands='knn' to link each to its nearest cell, "
            "islands='keep', or a distance-based kind."
        )
        raise GraphError(msg)
    if policy == "keep":  # the caller asked for islands: INFO (the graph records them; a run on units warns by name)
        logger.info(
            "weights: %d cells have no neighbour under %r weights (%s); kept as islands",
            len(iso), kind, shown,
        )
        _record(graph, IslandReport(ids=tuple(iso), policy=policy, remaining=tuple(iso), kind=kind, params=params))
        return graph
    # policy "knn": link each island to its nearest other cell, both directions
    if pyproj.CRS.from_user_input(geoms.crs).is_projected if geoms.crs is not None else False:
        xy = _centroids(geoms)
    else:  # contiguity on geographic cells: nearest by planar lon/lat (only to pick a neighbour)
        c = shapely.centroid(np.asarray(geoms.values))
        xy = np.column_stack([shapely.get_x(c), shapely.get_y(c)])
    ids = geoms.index
    pos = ids.get_indexer(pd.Index(iso))
    _, nn = cKDTree(xy).query(xy[pos], k=2)
    nearest = nn[:, 1]
    adj = graph.adjacency
    w = 1.0
    if kind == "kernel":
        pos_w = adj.to_numpy()
        pos_w = pos_w[pos_w > 0]
        w = float(pos_w.min()) if pos_w.size else 1.0
    focal = adj.index.get_level_values("focal")
    neighbor = adj.index.get_level_values("neighbor")
    weight = adj.to_numpy()
    keep = weight > 0  # drop the zero self-loops that encode isolates
    f_new = np.concatenate([np.asarray(focal)[keep], np.asarray(ids[pos]), np.asarray(ids[nearest])])
    n_new = np.concatenate([np.asarray(neighbor)[keep], np.asarray(ids[nearest]), np.asarray(ids[pos])])
    w_new = np.concatenate([weight[keep], np.full(len(pos), w), np.full(len(pos), w)])
    frame = pd.DataFrame({"focal": f_new, "neighbor": n_new, "weight": w_new})
    frame = frame.drop_duplicates(subset=["focal", "neighbor"])
    new = Graph.from_arrays(
        frame["focal"].to_numpy(), frame["neighbor"].to_numpy(), frame["weight"].to_numpy()
    )
    # keep the cells' order of ids
    new = _reorder(new, ids)
    linked = tuple((_plain(ids[p]), _plain(ids[q])) for p, q in zip(pos, nearest))
    remaining = tuple(_plain(v) for v in new.isolates)
    logger.warning(
        "weights: %d cells have no neighbour under %r weights (%s); each linked to its nearest cell",
        len(iso), kind, shown,
    )
    report = IslandReport(
        ids=tuple(iso), policy=policy, linked=linked, remaining=remaining, kind=kind, params=params
    )
    _record(new, report)
    return new


def _reorder(graph: Graph, ids: pd.Index) -> Graph:
    if graph.unique_ids.equals(ids):
        return graph
    adj = graph.adjacency
    order = pd.Index(ids)
    f = adj.index.get_level_values("focal")
    key = order.get_indexer(f)
    srt = np.argsort(key, kind="mergesort")
    return Graph.from_arrays(
        np.asarray(f)[srt],
        np.asarray(adj.index.get_level_values("neighbor"))[srt],
        adj.to_numpy()[srt],
    )


def _record(graph: Graph, report: IslandReport) -> None:
    """Keep the island record on the graph itself (a graph derived from it has its own isolates)."""
    setattr(graph, _ISLANDS_ATTR, report)
