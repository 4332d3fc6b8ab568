"""Tests of geo.weights: graph kinds, ids, islands policy, no mutation."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from libpysal.graph import Graph

from geo.errors import CRSError, GraphError, InputError
from geo.grid import aggregate
from geo.weights import IslandReport, islands, weights


def _lattice(nx: int, ny: int, size: float = 100.0, index=None) -> gpd.GeoDataFrame:
    i, j = np.meshgrid(np.arange(nx), np.arange(ny))
    i, j = i.ravel(), j.ravel()
    geom = shapely.box(i * size, j * size, (i + 1) * size, (j + 1) * size)
    return gpd.GeoDataFrame({"i": i, "j": j}, geometry=geom, crs=32650, index=index)


def _same(a: Graph, b: Graph) -> bool:
    return a.unique_ids.equals(b.unique_ids) and (a.sparse != b.sparse).nnz == 0


def test_queen_and_rook_on_square_lattice():
    cells = _lattice(5, 4)
    q = weights(cells, kind="queen")
    r = weights(cells, kind="rook")
    card_q = q.cardinalities.to_numpy()
    card_r = r.cardinalities.to_numpy()
    corner = (cells["i"].isin([0, 4]) & cells["j"].isin([0, 3])).to_numpy()
    interior = (cells["i"].between(1, 3) & cells["j"].between(1, 2)).to_numpy()
    assert set(card_q[corner]) == {3} and set(card_q[interior]) == {8}
    assert set(card_r[corner]) == {2} and set(card_r[interior]) == {4}
    assert q.unique_ids.equals(cells.index)
    # rook neighbours differ by exactly one step in i or j
    adj = r.adjacency.reset_index()
    di = np.abs(cells["i"].to_numpy()[adj.focal] - cells["i"].to_numpy()[adj.neighbor])
    dj = np.abs(cells["j"].to_numpy()[adj.focal] - cells["j"].to_numpy()[adj.neighbor])
    assert np.all(di + dj == 1)


def test_hexagons_from_aggregate_have_six_neighbours():
    rng = np.random.default_rng(0)
    pts = shapely.points(rng.uniform(0, 3000, 300), rng.uniform(0, 3000, 300))
    firms = gpd.GeoDataFrame(geometry=pts, crs=32650)
    cells = aggregate(firms, cell="hex", size=200.0, extent=shapely.box(0, 0, 3000, 3000))
    g = weights(cells, kind="queen")
    card = g.cardinalities
    assert card.max() == 6
    # interior cells (far from the boundary) all have six neighbours
    interior = cells.geometry.centroid.within(shapely.box(400, 400, 2600, 2600)).to_numpy()
    assert (card.to_numpy()[interior] == 6).all()
    # hexagons: rook (shared edge) equals queen (shared vertex)
    assert _same(weights(cells, kind="rook"), g)


def test_ids_follow_the_cells_index():
    cells = _lattice(4, 4, index=[f"c{k:02d}" for k in range(16)][::-1])
    g = weights(cells, kind="rook")
    assert list(g.unique_ids) == list(cells.index)


def test_knn_distance_kernel():
    cells = _lattice(6, 6)
    g = weights(cells, kind="knn", k=4)
    assert (g.cardinalities == 4).all()
    # default distance band: the largest nearest-neighbour distance (100 m) -> rook
    d = weights(cells, kind="distance")
    assert islands(d).params["distance"] == pytest.approx(100.0)
    assert _same(d, weights(cells, kind="rook"))
    d2 = weights(cells, kind="distance", distance=150.0)  # diagonal neighbours at 141 m
    assert _same(d2, weights(cells, kind="queen"))
    k = weights(cells, kind="kernel", k=5)
    assert (k.adjacency > 0).all()
    assert (k.cardinalities == 5).all()
    kb = weights(cells, kind="kernel", distance=250.0)
    assert (kb.adjacency > 0).all()


def _with_island() -> gpd.GeoDataFrame:
    row = shapely.box(np.arange(5.0), 0.0, np.arange(5.0) + 1, 1.0)
    geoms = [*row, shapely.box(10.0, 0.0, 11.0, 1.0)]
    return gpd.GeoDataFrame({"v": range(6)}, geometry=geoms, crs=32650, index=[f"c{k}" for k in range(6)])


def test_island_policy_knn_links_to_nearest(caplog):
    cells = _with_island()
    with caplog.at_level(logging.WARNING, logger="geo.weights"):
        g = weights(cells, kind="queen")
    assert "1 cells have no neighbour" in caplog.text
    rep = islands(g)
    assert isinstance(rep, IslandReport)
    assert rep.ids == ("c5",) and rep.policy == "knn" and rep.remaining == ()
    assert rep.linked == (("c5", "c4"),)
    adj = g.adjacency
    assert adj.loc[("c5", "c4")] == 1.0 and adj.loc[("c4", "c5")] == 1.0
    assert list(g.unique_ids) == list(cells.index)
    assert len(g.isolates) == 0


def test_island_policy_keep_and_raise(caplog):
    cells = _with_island()
    with caplog.at_level(logging.WARNING, logger="geo.weights"):
        g = weights(cells, kind="queen", islands="keep")
    assert "kept as islands" in caplog.text
    assert islands(g).remaining == ("c5",)
    assert list(g.isolates) == ["c5"]
    with pytest.raises(GraphError, match="have no neighbour"):
        weights(cells, kind="queen", islands="raise")


def test_package_level_name_is_callable():
    import geo

    cells = _lattice(3, 3)
    g = geo.weights(cells, kind="rook")  # geo.weights may resolve to the module: still callable
    assert _same(g, weights(cells, kind="rook"))


def test_islands_of_foreign_graph():
    g = Graph.from_arrays([0, 1, 2], [1, 0, 2], [1.0, 1.0, 0.0])
    rep = islands(g)
    assert rep.policy == "unknown" and rep.ids == (2,) and rep.remaining == (2,)


def test_inputs_not_mutated():
    cells = _with_island()
    cells.attrs["note"] = "x"
    before = cells.copy()
    for kind in ("queen", "rook", "knn", "distance", "kernel"):
        weights(cells, kind=kind, k=2 if kind in ("knn", "kernel") else None)
    pd.testing.assert_frame_equal(cells, before)
    assert cells.attrs == {"note": "x"}


def test_errors():
    cells = _lattice(3, 3)
    with pytest.raises(InputError, match="`kind` must be one of"):
        weights(cells, kind="triangles")
    with pytest.raises(InputError, match="`islands` must be one of"):
        weights(cells, islands="drop")
    with pytest.raises(InputError, match="`k` must be an integer"):
        weights(cells, kind="knn", k=0)
    with pytest.raises(InputError, match="`distance` must be a positive"):
        weights(cells, kind="distance", distance=-1)
    with pytest.raises(CRSError, match="projected CRS"):
        weights(cells.to_crs(4326), kind="knn", k=2)
    pts = cells.copy()
    pts["geometry"] = cells.centroid
    with pytest.raises(GraphError, match="needs Polygon cells"):
        weights(pts, kind="queen")
    dup = pd.concat([cells, cells])
    with pytest.raises(InputError, match="unique index"):
        weights(dup)
