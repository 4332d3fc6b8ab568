"""geo.parks.clusters: the cluster delineation, apart from the park tests of geo.parks.overlay."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import box

import geo
from geo.parks import clusters, overlay

MOVED = ("cluster_polygons", "point_clusters", "point_cluster_agreement", "clusters_outside_parks")


@pytest.mark.parametrize("name", MOVED)
def test_cluster_functions_live_in_clusters_and_stay_importable_from_overlay(name):
    """One definition, in geo.parks.clusters; geo.parks.overlay re-imports it for one release."""
    f = getattr(clusters, name)
    assert f.__module__ == "geo.parks.clusters" and name in clusters.__all__
    assert getattr(overlay, name) is f and name not in overlay.__all__
    with open(overlay.__file__, encoding="utf-8") as fh:
        assert f"def {name}(" not in fh.read()


def test_cluster_polygons_is_the_same_function_from_geo():
    assert geo.cluster_polygons is clusters.cluster_polygons


def test_clusters_outside_parks_by_hand():
    """Share of each cluster's area inside the parks, by hand: cluster 1 (a 2 x 1 km box) has
    its west half in a park (0.5), cluster 2 (1 x 1 km) none of it (0), cluster 3 touches a
    park over 5 % of its area (0.05 < 0.1 kept)."""
    crs = "EPSG:32650"
    cl = gpd.GeoDataFrame({"cluster_id": [1, 2, 3]},
                          geometry=[box(0, 0, 2000, 1000), box(5000, 0, 6000, 1000), box(10_000, 0, 11_000, 1000)],
                          crs=crs)
    parks = gpd.GeoDataFrame({"name": ["west", "edge"]},
                             geometry=[box(-500, -500, 1000, 1500), box(9000, 0, 10_050, 1000)], crs=crs)
    out = clusters.clusters_outside_parks(cl, parks)
    assert out["cluster_id"].tolist() == [2, 3]
    assert out["share_in_parks"].tolist() == pytest.approx([0.0, 0.05])
    everything = clusters.clusters_outside_parks(cl, parks, max_share=1.01)
    assert everything["share_in_parks"].tolist() == pytest.approx([0.5, 0.0, 0.05])
    # parks in another CRS are brought to the clusters' (WGS84 here): the same shares
    assert clusters.clusters_outside_parks(cl, parks.to_crs(4326), max_share=1.01)["share_in_parks"].tolist() == (
        pytest.approx([0.5, 0.0, 0.05], abs=1e-3))
