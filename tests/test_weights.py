"""Tests of geo.weights: graph kinds, ids, islands policy, no mutation."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from libpysal.graph import Graph

from geo.cells.graph import IslandReport, islands, weights
from geo.cells.grid import aggregate
from geo.errors import CRSError, GraphError, InputError


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
    with caplog.at_level(logging.INFO, logger="geo.cells.graph"):
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


# ---------------------------------------------------------------------------------------
# contiguity of geo.cells.grid lattices from the cell coordinates equals libpysal's
# ---------------------------------------------------------------------------------------


def _study_cells(cell: str) -> gpd.GeoDataFrame:
    """Cells of a clustered pattern over a non-convex study area with a hole."""
    rng = np.random.default_rng(11)
    centres = np.array([[1000.0, 1000.0], [4200.0, 1200.0], [1200.0, 4300.0], [3000.0, 3000.0]])
    k = rng.integers(0, len(centres), 1500)
    xy = centres[k] + rng.normal(0, 350, (1500, 2))
    firms = gpd.GeoDataFrame(geometry=shapely.points(xy), crs=32650)
    area = shapely.Polygon(
        [(0, 0), (5500, 0), (5500, 2500), (2500, 2500), (2500, 5500), (0, 5500)],
        holes=[[(700, 700), (1300, 700), (1300, 1300), (700, 1300)]],
    )
    return aggregate(firms, cell=cell, size=180.0, extent=area)


def _assert_same_graph(got: Graph, ref: Graph) -> None:
    pd.testing.assert_series_equal(got.adjacency, ref.adjacency)
    for lev in (0, 1):
        pd.testing.assert_index_equal(got.adjacency.index.levels[lev], ref.adjacency.index.levels[lev], exact=True)
        assert np.array_equal(got.adjacency.index.codes[lev], ref.adjacency.index.codes[lev])
    for t in ("r", "b"):
        a, b = got.transform(t).adjacency, ref.transform(t).adjacency
        assert np.array_equal(a.index.get_level_values(0), b.index.get_level_values(0))
        assert np.array_equal(a.index.get_level_values(1), b.index.get_level_values(1))
        assert np.array_equal(a.to_numpy(), b.to_numpy())


@pytest.mark.parametrize("cell,kind", [("hex", "queen"), ("hex", "rook"), ("square", "queen"), ("square", "rook")])
def test_lattice_contiguity_equals_build_contiguity(cell, kind):
    from geo.cells.graph import _lattice_contiguity

    cells = _study_cells(cell)
    occupied = cells[cells["n_firms"] > 0]  # holes and islands; integer ids with gaps
    variants = {
        "all cells": cells,
        "occupied": occupied,
        "string ids": occupied.set_index("cell_id"),
        "shuffled": cells.sample(frac=1.0, random_state=3),
    }
    n_islands = 0
    for name, v in variants.items():
        assert v.attrs["cell"] == cell  # attrs survive the subsetting
        fast = _lattice_contiguity(v, v.geometry, rook=(kind == "rook"))
        assert fast is not None, name
        _assert_same_graph(fast, Graph.build_contiguity(v.geometry, rook=(kind == "rook")))
        # weights() with its islands policy: the same as through libpysal (no attrs)
        plain = v.copy()
        plain.attrs = {}
        assert _lattice_contiguity(plain, plain.geometry, rook=False) is None
        for policy in ("knn", "keep"):
            g, r = weights(v, kind=kind, islands=policy), weights(plain, kind=kind, islands=policy)
            _assert_same_graph(g, r)
            assert islands(g) == islands(r)
        n_islands += islands(g).n
    assert n_islands > 0


def test_cells_not_from_the_lattice_use_libpysal():
    from geo.cells.graph import _lattice_contiguity

    cells = _study_cells("hex")
    moved = cells.copy()
    moved.loc[moved.index[5], "geometry"] = shapely.affinity.translate(moved.geometry.iloc[5], 1e-6, 0)
    twice = pd.concat([cells, cells.iloc[[3]]], ignore_index=True)  # the same cell twice
    twice.attrs = dict(cells.attrs)
    other_size = cells.copy()
    other_size.attrs = {**cells.attrs, "size_m": 181.0}
    squares = _lattice(4, 3)
    squares.attrs = {"cell": "hex", "size_m": 100.0}
    for v in (moved, twice, other_size, squares):
        assert _lattice_contiguity(v, v.geometry, rook=False) is None
        _assert_same_graph(weights(v, kind="queen", islands="keep"), Graph.build_contiguity(v.geometry, rook=False))


@pytest.mark.parametrize("cell", ["hex", "square"])
def test_lattice_contiguity_of_distant_cell_groups_equals_build_contiguity(cell):
    from geo.cells.graph import _lattice_contiguity

    # two small groups of cells 60 km apart: a sparse bounding box of the cell codes
    rng = np.random.default_rng(4)
    xy = np.concatenate([rng.uniform(0, 1000, (300, 2)), rng.uniform(0, 1000, (300, 2)) + [60_000, 20_000]])
    firms = gpd.GeoDataFrame(geometry=shapely.points(xy), crs=32650)
    area = shapely.union_all([shapely.box(0, 0, 1000, 1000), shapely.box(60_000, 20_000, 61_000, 21_000)])
    cells = aggregate(firms, cell=cell, size=150.0, extent=area)
    occupied = cells[cells["n_firms"] > 1]
    sparse = cells.iloc[::3]  # with cells that have no neighbour
    assert len(cells) < 200
    for v in (cells, occupied, occupied.set_index("cell_id"), sparse, cells.iloc[::-1]):
        for rook in (False, True):
            fast = _lattice_contiguity(v, v.geometry, rook=rook)
            assert fast is not None
            _assert_same_graph(fast, Graph.build_contiguity(v.geometry, rook=rook))
    assert islands(weights(sparse, kind="queen", islands="keep")).n > 0


def test_sorted_lattice_pairs_dense_and_sparse_lookups_agree():
    from geo.cells.graph import _sorted_lattice_pairs

    rng = np.random.default_rng(6)
    width = 40
    code = np.unique(rng.integers(width, 30 * width, 500))
    shifts = sorted([-width, -width + 1, -1, 1, width - 1, width])
    dense = _sorted_lattice_pairs(code, shifts)
    far = np.concatenate([code, code[-60:] + 10**7])  # beyond the dense table's limit
    sparse = _sorted_lattice_pairs(far, shifts)
    f_far, j_far = sparse
    head = f_far < len(code)
    assert np.array_equal(f_far[head], dense[0]) and np.array_equal(j_far[head], dense[1])
    # every pair is a lattice neighbour (or an isolate's self-loop), in canonical order
    for f, j, c in (dense + (code,), sparse + (far,)):
        d = c[j] - c[f]
        assert np.all(np.isin(d, shifts) | ((f == j) & (d == 0)))
        assert np.all(np.diff(f * len(c) + j) > 0)
        both = set(zip(f.tolist(), j.tolist()))
        assert all((b, a) in both for a, b in both)
