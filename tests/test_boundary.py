"""Ripley's border distances (``geo.stats._kd_kernels.boundary_distances``): the edge tree
returns the numbers of the loop over every edge and of ``shapely.distance(points, boundary)``,
on a rectangle, a concave polygon with a hole, several parts and the demo's study-area outline;
points on an edge are at distance 0."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo.stats import _kd_kernels as K
from geo.stats import pointpattern as pp


def _star(k: int, *, r_out: float, r_in: float, centre=(0.0, 0.0)) -> np.ndarray:
    """The vertices of a star of ``k`` points (2 k edges, concave)."""
    t = np.linspace(0.0, 2.0 * np.pi, 2 * k + 1)[:-1]
    rad = np.where(np.arange(2 * k) % 2 == 0, r_out, r_in)
    return np.column_stack([centre[0] + rad * np.cos(t), centre[1] + rad * np.sin(t)])


RECTANGLE = shapely.box(500_000.0, 3_300_000.0, 512_000.0, 3_307_500.0)  # UTM-sized numbers
# a concave star of 120 edges with a hole of 60 edges (both rings above the tree's threshold)
STAR_HOLE = shapely.Polygon(_star(60, r_out=10_000.0, r_in=6_000.0),
                            holes=[_star(30, r_out=2_500.0, r_in=1_500.0, centre=(300.0, -200.0))[::-1]])
# two parts, one of them a concave comb (many short edges) and one a plain square
_COMB = [(0, 0), (40, 0)] + [(40 - i, 10 if i % 2 else 3) for i in range(1, 40)] + [(0, 10)]
TWO_PARTS = shapely.MultiPolygon([shapely.Polygon(_COMB), shapely.box(50, 0, 60, 10)])


def _probe_points(window, n: int, seed: int) -> np.ndarray:
    """Random points in and around the window, its vertices, its edges' midpoints and points
    within a hair of its edges."""
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = window.bounds
    pad = 0.1 * max(xmax - xmin, ymax - ymin)
    pts = rng.uniform([xmin - pad, ymin - pad], [xmax + pad, ymax + pad], (n, 2))
    x0, y0, x1, y1 = pp._edges(window)
    a = np.column_stack([x0, y0])
    b = np.column_stack([x1, y1])
    near = a + rng.uniform(0, 1, (len(a), 1)) * (b - a) + rng.normal(0, 1e-6, (len(a), 2))
    return np.vstack([pts, a, (a + b) / 2, near])


def _check(window, pts):
    """Tree, loop and shapely: the same numbers (bit for bit, so within 1e-9 m)."""
    edges = pp._edges(window)
    x, y = np.ascontiguousarray(pts[:, 0]), np.ascontiguousarray(pts[:, 1])
    tree = K.boundary_distances(x, y, *edges, tree=True)
    loop = K.boundary_distances(x, y, *edges, tree=False)
    want = shapely.distance(shapely.points(pts), window.boundary)
    np.testing.assert_array_equal(tree, loop)
    np.testing.assert_array_equal(tree, want)
    np.testing.assert_allclose(K.boundary_distances(x, y, *edges), want, rtol=0, atol=1e-9)
    return tree, edges


@pytest.mark.parametrize("window", [RECTANGLE, STAR_HOLE, TWO_PARTS],
                         ids=["rectangle", "concave-with-hole", "two-parts"])
@pytest.mark.parametrize("n", [300, 20_000], ids=["serial", "parallel"])
def test_the_tree_gives_the_loops_and_shapelys_distances(window, n):
    pts = _probe_points(window, n, seed=n)
    got, edges = _check(window, pts)
    m = len(edges[0])
    # the vertices and the edges' midpoints lie on an edge: distance 0 (midpoints within a
    # rounding of the midpoint's coordinates)
    assert (got[n:n + m] == 0.0).all()
    assert got[n + m:n + 2 * m].max() <= 1e-9 * max(abs(c) for c in window.bounds)
    assert (got[:n] > 0).mean() > 0.99  # and the random points are not all on it


def test_points_exactly_on_an_edge_are_at_distance_zero():
    """Points on horizontal, vertical and diagonal edges (exact in binary) and on vertices."""
    tri = shapely.Polygon([(0, 0), (64, 0), (64, 64), (0, 64), (32, 48), (0, 32)]
                          + [(0, 32 - 0.25 * i) for i in range(1, 128)])  # >= 64 edges: the tree
    assert len(pp._edges(tri)[0]) >= K.BOUNDARY_TREE_EDGES
    on = np.array([(5.5, 0.0), (64.0, 17.25), (16.0, 56.0), (48.0 - 16.0, 48.0), (0.0, 10.125),
                   (64.0, 64.0), (0.0, 0.0)])
    got, _ = _check(tri, on)
    np.testing.assert_array_equal(got, 0.0)


def test_the_demo_study_area(demo_results):
    """The demo's real study-area outline (the cells' union), random points in and around it."""
    windows = [vr.analysis.study_area.geometry for vr in demo_results.valleys.values()
               if vr.analysis is not None and vr.analysis.study_area is not None]
    assert windows
    for k, window in enumerate(windows):
        assert len(pp._edges(window)[0]) >= K.BOUNDARY_TREE_EDGES  # the default takes the tree
        inside = pp._csr(window, 5_000, np.random.default_rng(k))
        _check(window, np.vstack([inside, _probe_points(window, 5_000, seed=k)]))


def test_points_far_outside_and_degenerate_edges():
    """Far points (the slack of the pruning scales with the distance), repeated vertices
    (zero-length edges) and no points at all."""
    ring = np.vstack([_star(40, r_out=1_000.0, r_in=400.0), [(1_000.0, 0.0)] * 3])
    window = shapely.Polygon(ring)
    assert window.is_valid
    rng = np.random.default_rng(3)
    far = rng.normal(0, 1e7, (2_000, 2))
    _check(window, far)
    edges = pp._edges(window)
    empty = np.empty(0)
    assert K.boundary_distances(empty, empty, *edges).shape == (0,)


def test_the_edge_tree_holds_every_edge_once_in_boxes_that_contain_them():
    window = STAR_HOLE
    x0, y0, x1, y1 = pp._edges(window)
    order, lo, hi, child, box = K._edge_tree(x0, y0, x1, y1)
    np.testing.assert_array_equal(np.sort(order), np.arange(len(x0)))
    leaves = child < 0
    assert (hi[leaves] - lo[leaves] <= K._LEAF_EDGES).all() and (hi[leaves] > lo[leaves]).all()
    # the leaves partition the edges; children split their parent's range
    np.testing.assert_array_equal(np.sort(lo[leaves]), np.r_[0, np.sort(hi[leaves])[:-1]])
    for v in np.nonzero(~leaves)[0]:
        c = child[v]
        assert lo[c] == lo[v] and hi[c] == lo[c + 1] and hi[c + 1] == hi[v]
    for v in range(len(lo)):
        e = order[lo[v]:hi[v]]
        xs = np.r_[x0[e], x1[e]]
        ys = np.r_[y0[e], y1[e]]
        np.testing.assert_array_equal(box[v], [xs.min(), ys.min(), xs.max(), ys.max()])


def test_one_function_decides_tree_or_loop():
    """Below BOUNDARY_TREE_EDGES edges the loop, from there the tree (same numbers)."""
    few = shapely.box(0, 0, 1, 1)
    many = STAR_HOLE
    assert len(pp._edges(few)[0]) < K.BOUNDARY_TREE_EDGES <= len(pp._edges(many)[0])
    for w in (few, many):
        pts = _probe_points(w, 500, seed=9)
        x, y = np.ascontiguousarray(pts[:, 0]), np.ascontiguousarray(pts[:, 1])
        e = pp._edges(w)
        np.testing.assert_array_equal(K.boundary_distances(x, y, *e),
                                      K.boundary_distances(x, y, *e, tree=False))


# ----------------------------------------------------------------------------- isotropic correction


def _circles(window, n: int, seed: int):
    """Centres in the window and on its vertices, radii from 0 to beyond the window."""
    rng = np.random.default_rng(seed)
    c = pp._csr(window, n, rng)
    verts = np.column_stack(pp._edges(window)[:2])
    c = np.vstack([c, verts[rng.choice(len(verts), min(200, len(verts)), replace=False)]])
    xmin, ymin, xmax, ymax = window.bounds
    d = rng.uniform(0, 1.2 * max(xmax - xmin, ymax - ymin), len(c))
    d[: n // 2] *= 0.05  # many small circles, near the boundary or inside
    return np.ascontiguousarray(c[:, 0]), np.ascontiguousarray(c[:, 1]), d


@pytest.mark.parametrize("window", [STAR_HOLE, TWO_PARTS], ids=["concave-with-hole", "two-parts"])
def test_circle_fractions_over_the_tree_are_the_loops(window):
    """The crossing edges and the inside tests taken from the edge tree: the same fractions
    (bit for bit) as over every edge; and some are partial, some 0 (circles around the hole)
    or 1."""
    cx, cy, d = _circles(window, 6_000, seed=4)
    e = pp._edges(window)
    tree = K.circle_fractions(cx, cy, d, *e, tree=True)
    loop = K.circle_fractions(cx, cy, d, *e, tree=False)
    np.testing.assert_array_equal(tree, loop)
    assert ((tree > 0) & (tree < 1)).sum() > 1_000 and (tree == 1).any()


def test_circle_fractions_on_the_demo_study_area(demo_results):
    for vr in demo_results.valleys.values():
        if vr.analysis is None or vr.analysis.study_area is None:
            continue
        window = vr.analysis.study_area.geometry
        cx, cy, d = _circles(window, 3_000, seed=5)
        e = pp._edges(window)
        np.testing.assert_array_equal(K.circle_fractions(cx, cy, d, *e, tree=True),
                                      K.circle_fractions(cx, cy, d, *e, tree=False))


def test_isotropic_sums_over_the_tree_are_the_loops(monkeypatch):
    """k_isotropic_sums on a concave window with a hole (the tree from BOUNDARY_TREE_EDGES
    edges): the same sums as with the loop over every edge, serial and parallel."""
    window = STAR_HOLE
    edges = pp._edges(window)
    assert pp._convex_lines(edges) is None
    r = np.linspace(0, 1_500.0, 16)
    for n in (800, 4_500):  # below and above K_SERIAL_POINTS
        xy = pp._csr(window, n, np.random.default_rng(n))
        x, y = np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])
        b = K.boundary_distances(x, y, *edges)
        tree = K.k_isotropic_sums(x, y, b, r, 100.0, *edges)
        monkeypatch.setattr(K, "BOUNDARY_TREE_EDGES", 10**9)
        loop = K.k_isotropic_sums(x, y, b, r, 100.0, *edges)
        monkeypatch.undo()
        np.testing.assert_array_equal(tree, loop)
        assert tree[:-1].sum() > n  # weighted pairs were counted
