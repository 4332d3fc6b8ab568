"""Grid DBSCAN (geo.stats._dbscan) against scikit-learn's DBSCAN, and the point-cluster polygons."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from sklearn.cluster import DBSCAN

from geo.errors import InputError
from geo.parks import overlay as gp
from geo.stats._dbscan import dbscan

CRS = "EPSG:32650"


def _reference(xy, eps, min_samples):
    ref = DBSCAN(eps=eps, min_samples=min_samples).fit(xy)
    core = np.zeros(len(xy), dtype=bool)
    core[ref.core_sample_indices_] = True
    return ref.labels_, core


def _assert_same_as_sklearn(xy, eps, min_samples, side=None):
    labels, core = dbscan(xy[:, 0], xy[:, 1], eps, min_samples, side=side)
    ref_labels, ref_core = _reference(xy, eps, min_samples)
    np.testing.assert_array_equal(core, ref_core)
    # clusters numbered by first core point and border points resolved as sklearn does:
    # the labels are identical, not merely equal up to renumbering
    np.testing.assert_array_equal(labels, ref_labels)
    return labels, core


def _clustered(rng, n, k=6, extent=100.0):
    centres = rng.uniform(0, extent, size=(k, 2))
    spread = rng.uniform(1.0, 8.0, size=k)
    which = rng.integers(0, k, n)
    return centres[which] + rng.normal(size=(n, 2)) * spread[which, None]


@pytest.mark.parametrize("min_samples", [1, 2, 4, 10, 25])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dbscan_equals_sklearn_clustered_and_random(seed, min_samples):
    rng = np.random.default_rng(seed)
    xy = np.r_[_clustered(rng, 600), rng.uniform(0, 100, size=(200, 2))]
    for eps in (1.5, 4.0, 9.0):
        labels, core = _assert_same_as_sklearn(xy, eps, min_samples)
    assert labels.max() >= 0 and (labels == -1).any() == (not core.all())


@pytest.mark.parametrize("min_samples", [1, 2, 3, 5, 9])
def test_dbscan_ties_at_exactly_eps_and_duplicates(min_samples):
    # integer lattice: many pairs at exactly eps (1, 5 = |(3, 4)|, sqrt(2) for the diagonal);
    # duplicates from sampling with replacement
    rng = np.random.default_rng(7)
    xy = rng.integers(0, 25, size=(500, 2)).astype(float)
    xy = np.r_[xy, xy[:60]]  # exact duplicates
    for eps in (1.0, 2.0, 5.0, math.sqrt(2.0)):
        _assert_same_as_sklearn(xy, eps, min_samples)


def test_dbscan_distance_eps_counts_as_neighbour():
    # a full 5 x 5 lattice of spacing 1, eps = 1: an interior point has exactly 5 points at
    # distance <= 1 (itself and 4 at distance exactly 1), an edge point 4, a corner 3
    i, j = np.meshgrid(np.arange(5.0), np.arange(5.0))
    xy = np.column_stack([i.ravel(), j.ravel()])
    labels, core = _assert_same_as_sklearn(xy, 1.0, 5)
    interior = (xy > 0).all(axis=1) & (xy < 4).all(axis=1)
    np.testing.assert_array_equal(core, interior)
    corner = np.isin(xy[:, 0], [0, 4]) & np.isin(xy[:, 1], [0, 4])
    assert (labels[~corner] == 0).all() and (labels[corner] == -1).all()  # corners touch no core point
    _, core = dbscan(xy[:, 0], xy[:, 1], 1.0, 4)
    assert core[~corner].all() and not core[corner].any()


def test_dbscan_duplicates_make_core_points():
    xy = np.r_[np.zeros((10, 2)), np.full((9, 2), 100.0)]
    labels, core = _assert_same_as_sklearn(xy, 1.0, 10)
    assert core[:10].all() and not core[10:].any()
    assert (labels[:10] == 0).all() and (labels[10:] == -1).all()


def test_dbscan_grid_side_does_not_change_the_result():
    # non-compact cells (side = eps: a cell's diagonal exceeds eps), finer cells, and the
    # sorted (lexsort) path for a grid far larger than the number of points
    rng = np.random.default_rng(3)
    xy = _clustered(rng, 700)
    for side in (None, 4.0, 4.0 / 3.0, 0.9):
        _assert_same_as_sklearn(xy, 4.0, 6, side=side)
    far = np.r_[xy, xy + [2.0e6, 0.0], xy + [0.0, 3.0e6], xy + [1.0e6, 1.0e6]]
    _assert_same_as_sklearn(far, 4.0, 6)
    _assert_same_as_sklearn(far, 4.0, 6, side=0.3)


def test_dbscan_border_point_joins_the_cluster_reached_first():
    # two clusters 2 * eps apart, one border point b exactly between their edges: it is within
    # eps of a core point of each (not core itself); scikit-learn expands the cluster of the
    # first core point in the input first, so b joins that one
    left = np.column_stack([np.linspace(-3.0, -1.0, 5), np.zeros(5)])
    right = -left[::-1]
    b = np.array([[0.0, 0.0]])
    for first, second in ((left, right), (right, left)):
        xy = np.r_[first, b, second]
        labels, core = _assert_same_as_sklearn(xy, 1.0, 4)
        assert core[[1, 2, 3, 7, 8, 9]].all() and not core[5] and labels[5] == labels[0] == 0 and labels[-1] == 1
    # the border point first in the input: still the cluster whose first core point comes first
    xy = np.r_[b, right, left]
    labels, _ = _assert_same_as_sklearn(xy, 1.0, 4)
    assert labels[0] == labels[1] == 0 and labels[-1] == 1


def test_dbscan_empty_and_all_noise():
    labels, core = dbscan(np.zeros(0), np.zeros(0), 1.0, 3)
    assert labels.shape == (0,) and core.shape == (0,)
    xy = np.column_stack([np.arange(50.0) * 10.0, np.zeros(50)])
    labels, core = _assert_same_as_sklearn(xy, 5.0, 2)
    assert (labels == -1).all() and not core.any()
    labels, core = _assert_same_as_sklearn(xy, 5.0, 1)  # min_samples 1: every point its own cluster
    np.testing.assert_array_equal(labels, np.arange(50))


def test_dbscan_rejects_bad_coordinates():
    with pytest.raises(InputError, match="finite coordinates"):
        dbscan(np.array([0.0, np.nan]), np.zeros(2), 1.0, 2)
    with pytest.raises(InputError, match="more than 2\\*\\*40 grid cells"):
        dbscan(np.array([0.0, 1e13]), np.zeros(2), 1.0, 2)


def test_dbscan_metric_coordinates():
    # UTM-sized coordinates (the rounding of the cell index and of the distances)
    rng = np.random.default_rng(5)
    xy = _clustered(rng, 800, extent=5000.0) * 3.0 + [512345.678, 3371234.567]
    _assert_same_as_sklearn(xy, 25.0, 5)
    _assert_same_as_sklearn(xy, 60.0, 20)


# ----------------------------------------------------------------------------- point_clusters
def _firms(xy, **cols):
    return gpd.GeoDataFrame(cols, geometry=shapely.points(xy), crs=CRS)


def test_point_clusters_labels_equal_sklearn_up_to_renumbering():
    rng = np.random.default_rng(9)
    xy = _clustered(rng, 900, k=5, extent=8000.0) * 30.0 + [500000.0, 3370000.0]
    sector = np.where(rng.random(len(xy)) < 0.8, "optics", "other")
    idx = pd.Index([f"f{k}" for k in range(len(xy))])
    firms = _firms(xy, sector=sector).set_index(idx)
    pc = gp.point_clusters(firms, sector="optics", eps=300, min_samples=8)
    keep = sector == "optics"
    ref, _ = _reference(xy[keep], 300, 8)
    lab = pc.attrs["labels"]
    assert lab.index.equals(idx[keep])
    # one-to-one renumbering, noise kept as -1, ids 1, 2, ... by decreasing size
    pairs = pd.crosstab(lab.to_numpy(), ref)
    assert ((pairs > 0).sum(axis=0) == 1).all() and ((pairs > 0).sum(axis=1) == 1).all()
    assert pairs.loc[-1, -1] == (ref == -1).sum()
    sizes = np.bincount(ref[ref >= 0])
    np.testing.assert_array_equal(pc.n_firms.to_numpy(), np.sort(sizes)[::-1])
    np.testing.assert_array_equal(pc.point_cluster_id.to_numpy(), np.arange(1, len(sizes) + 1))
    np.testing.assert_array_equal(np.bincount(lab[lab > 0])[1:], pc.n_firms.to_numpy())
    assert pc.attrs["method"] == "dbscan (eps = 300 m, min_samples = 8)"


def test_point_cluster_polygon_is_the_sampled_union_of_discs():
    rng = np.random.default_rng(2)
    eps = 400.0
    xy = _clustered(rng, 500, k=4, extent=6000.0) * 20.0 + [500000.0, 3370000.0]
    pc = gp.point_clusters(_firms(xy), eps=eps, min_samples=6)
    labels = pc.attrs["labels"].to_numpy()
    h = eps * 0.1  # raster cell side
    assert len(pc) >= 2
    for row in pc.itertuples():
        pts = shapely.points(xy[labels == row.point_cluster_id])
        poly = row.geometry
        assert poly.is_valid
        assert math.isclose(row.area_km2, poly.area / 1e6)
        # the raster cells of side h: the area is a whole number of cells
        assert abs(poly.area / h**2 - round(poly.area / h**2)) < 1e-6
        # within h / sqrt(2) of the exact union of discs of radius eps / 2, both ways
        inner = shapely.union_all(shapely.buffer(pts, eps / 2 - h / math.sqrt(2) - 1e-6, quad_segs=16))
        outer = shapely.union_all(shapely.buffer(pts, eps / 2 + h / math.sqrt(2) + 1e-6, quad_segs=16))
        assert poly.difference(outer).area < 1e-6 * poly.area
        assert inner.difference(poly).area < 1e-6 * poly.area
        assert shapely.contains(poly, pts).all()
        exact = shapely.union_all(shapely.buffer(pts, eps / 2, quad_segs=32))
        assert shapely.symmetric_difference(poly, exact).area < 0.1 * exact.area


def test_point_clusters_empty_all_noise_and_errors():
    far = np.column_stack([np.arange(30.0) * 5000.0 + 500000.0, np.full(30, 3370000.0)])
    firms = _firms(far, sector=["optics"] * 30)
    pc = gp.point_clusters(firms, sector="optics", eps=500, min_samples=3)
    assert len(pc) == 0 and list(pc.columns) == ["point_cluster_id", "n_firms", "area_km2", "geometry"]
    assert (pc.attrs["labels"] == -1).all() and len(pc.attrs["labels"]) == 30
    none = gp.point_clusters(firms, sector="biotech", eps=500, min_samples=1)
    assert len(none) == 0 and len(none.attrs["labels"]) == 0
    ones = gp.point_clusters(firms, sector="optics", eps=500, min_samples=1)  # every firm a cluster
    assert len(ones) == 30 and (ones.n_firms == 1).all()
    assert np.allclose(ones.area_km2, ones.area_km2.iloc[0])
    with pytest.raises(InputError, match="`eps` must be a positive distance"):
        gp.point_clusters(firms, eps=0)
    with pytest.raises(InputError, match="`min_samples` must be a positive integer"):
        gp.point_clusters(firms, min_samples=0)
    with pytest.raises(InputError, match="`min_samples` must be a positive integer"):
        gp.point_clusters(firms, min_samples=2.5)
    bad = pd.concat([firms, _firms(np.array([[np.nan, np.nan]]), sector=["optics"])], ignore_index=True)
    with pytest.raises(InputError, match="empty or non-finite point geometry"):
        gp.point_clusters(bad, sector="optics", eps=500, min_samples=2)
