"""Tests of geo.grid.aggregate: binning, empty cells, extent, categories, auto size, H3."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.spatial import cKDTree

from geo.errors import ColumnError, CRSError, InputError
from geo.grid import MAX_AUTO_CELLS, MIN_AUTO_CELLS, aggregate, auto_cell_size


@pytest.fixture
def firms() -> gpd.GeoDataFrame:
    rng = np.random.default_rng(42)
    n = 600
    x = 500_000 + np.concatenate([rng.normal(0, 400, n // 2), rng.uniform(-3000, 3000, n // 2)])
    y = 3_380_000 + np.concatenate([rng.normal(0, 400, n // 2), rng.uniform(-3000, 3000, n // 2)])
    sector = rng.choice(["Optics & Lasers", "bio-tech", "software"], n)
    return gpd.GeoDataFrame(
        {"firm_id": np.arange(n), "sector": sector}, geometry=shapely.points(x, y), crs=32650
    )


def _xy(gdf: gpd.GeoDataFrame) -> np.ndarray:
    return np.column_stack([gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()])


def test_square_counts_match_floor_binning(firms):
    cells = aggregate(firms, cell="square", size=250.0)
    xy = _xy(firms)
    i = np.floor(xy[:, 0] / 250.0).astype(int)
    j = np.floor(xy[:, 1] / 250.0).astype(int)
    expected = pd.Series(1, index=[f"sq_{a}_{b}" for a, b in zip(i, j)]).groupby(level=0).sum()
    got = cells.set_index("cell_id")["n_firms"]
    assert got.sum() == len(firms)
    assert (got.loc[expected.index] == expected).all()
    assert (got.drop(expected.index) == 0).all()
    # square geometry: side 250, area 62 500
    assert np.allclose(cells.geometry.area, 250.0**2)


def test_hex_assignment_is_nearest_centre(firms):
    s = 300.0
    cells = aggregate(firms, cell="hex", size=s)
    cent = np.column_stack([cells.geometry.centroid.x, cells.geometry.centroid.y])
    # a point lies in the hexagon whose centre is nearest (Voronoi property of hex grids)
    _, nearest = cKDTree(cent).query(_xy(firms))
    expected = np.bincount(nearest, minlength=len(cells))
    assert np.array_equal(cells["n_firms"].to_numpy(), expected)
    # hexagon of spacing s: area sqrt(3)/2 s^2, adjacent centres s apart
    assert np.allclose(cells.geometry.area, math.sqrt(3) / 2 * s**2)
    d, _ = cKDTree(cent).query(cent, k=2)
    assert np.allclose(d[:, 1], s)
    # each firm is covered by the polygon of its cell
    joined = gpd.sjoin(firms, cells, predicate="within")
    assert len(joined) == len(firms)
    assert (joined.groupby("index_right").size() == cells["n_firms"][cells["n_firms"] > 0]).all()


def test_empty_cells_are_kept_and_cover_the_extent(firms):
    cells = aggregate(firms, cell="hex", size=400.0)
    hull = shapely.convex_hull(shapely.multipoints(_xy(firms)))
    assert (cells["n_firms"] == 0).sum() > 0
    # every cell intersects the extent, and the cells cover it
    assert shapely.intersects(cells.geometry.values, hull).all()
    assert hull.difference(cells.geometry.union_all()).area < 1e-6 * hull.area
    assert cells.attrs["extent"].startswith("convex hull")
    assert cells.attrs["n_outside"] == 0
    assert cells.index.equals(pd.RangeIndex(len(cells)))
    assert cells["cell_id"].is_unique


def test_by_columns_are_sanitised_and_sum_to_total(firms):
    f = firms.copy()
    f.loc[f.index[:7], "sector"] = None
    f.loc[f.index[7:10], "sector"] = "optics-lasers"  # collides with "Optics & Lasers"
    cells = aggregate(f, cell="square", size=500.0, by="sector")
    mapping = cells.attrs["by_columns"]
    assert mapping == {
        "Optics & Lasers": "n_optics_lasers",
        "bio-tech": "n_bio_tech",
        "optics-lasers": "n_optics_lasers_2",
        "software": "n_software",
    }
    cols = list(mapping.values())
    assert list(cells.columns) == ["cell_id", "n_firms", *cols, "geometry"]
    assert cells.attrs["n_by_missing"] == 7
    assert int(cells[cols].to_numpy().sum()) == len(f) - 7
    assert int(cells["n_firms"].sum()) == len(f)
    # per-category counts equal the counts of the category's firms alone
    only = aggregate(f[f["sector"] == "software"], cell="square", size=500.0, extent=cells.geometry.union_all())
    merged = cells.set_index("cell_id")["n_software"]
    assert (only.set_index("cell_id")["n_firms"].reindex(merged.index, fill_value=0) == merged).all()


def test_extent_polygon_and_outside_firms_are_recorded(firms):
    box = shapely.box(498_000, 3_378_000, 502_000, 3_382_000)
    xy = _xy(firms)
    inside = shapely.intersects_xy(box, xy[:, 0], xy[:, 1])
    cells = aggregate(firms, cell="hex", size=250.0, extent=box)
    assert cells.attrs["n_outside"] == int((~inside).sum()) > 0
    assert cells.attrs["n_counted"] == int(inside.sum()) == int(cells["n_firms"].sum())
    assert shapely.intersects(cells.geometry.values, box).all()
    assert abs(cells.attrs["extent_area_m2"] - box.area) < 1e-6


def test_extent_geoseries_in_other_crs_is_reprojected(firms):
    box = shapely.box(498_000, 3_378_000, 502_000, 3_382_000)
    ext = gpd.GeoSeries([box], crs=32650).to_crs(4326)
    a = aggregate(firms, cell="square", size=500.0, extent=ext)
    b = aggregate(firms, cell="square", size=500.0, extent=box)
    assert a.attrs["n_outside"] == b.attrs["n_outside"]
    assert abs(a.attrs["extent_area_m2"] - box.area) / box.area < 1e-4


def test_geographic_input_is_projected_to_utm():
    rng = np.random.default_rng(1)
    lon = 114.40 + rng.normal(0, 0.01, 300)
    lat = 30.50 + rng.normal(0, 0.01, 300)
    firms = gpd.GeoDataFrame(geometry=shapely.points(lon, lat), crs=4326)
    cells = aggregate(firms, cell="square", size=500.0)
    assert cells.attrs["metric_crs"] == "EPSG:32650"
    assert cells.crs.to_epsg() == 32650
    assert int(cells["n_firms"].sum()) == 300
    # same counts as binning the projected points directly
    proj = firms.to_crs(32650)
    direct = aggregate(proj, cell="square", size=500.0)
    m = direct.set_index("cell_id")["n_firms"]
    assert (cells.set_index("cell_id")["n_firms"].reindex(m.index, fill_value=0) == m).all()


def test_auto_size_rule_hand_computed():
    # 20 x 20 lattice of firms 50 m apart; hull 950 m x 950 m; 400 firms:
    # cell area = 2 * A / n = 2 * 902500 / 400 = 4512.5 m2 -> side sqrt(4512.5) = 67.175... -> 67.2
    i, j = np.meshgrid(np.arange(20), np.arange(20))
    x, y = 1000 + 50.0 * i.ravel(), 2000 + 50.0 * j.ravel()
    firms = gpd.GeoDataFrame(geometry=shapely.points(x, y), crs=32650)
    cells = aggregate(firms, cell="square")
    rule = cells.attrs["size_rule"]
    assert rule["median_nn_m"] == pytest.approx(50.0)
    assert cells.attrs["size"] == pytest.approx(67.2)
    hexes = aggregate(firms, cell="hex")
    assert hexes.attrs["size"] == pytest.approx(72.2)  # sqrt(4512.5 / (sqrt(3) / 2)) = 72.18...
    area = 950.0 * 950.0  # convex hull of the lattice
    assert rule["extent_area_m2"] == pytest.approx(area)
    assert rule["max_size_m"] == pytest.approx(math.sqrt(area / MIN_AUTO_CELLS))
    assert rule["min_size_m"] == pytest.approx(math.sqrt(area / MAX_AUTO_CELLS))
    assert "2 x extent_area / n_firms" in rule["rule"]


def test_auto_size_is_clamped_to_cell_count_bounds():
    # a million firms in 1 km2: sqrt(2A/n) = 1.4 m is below the 100,000-cell bound (3.2 m)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1000, 1_000_000)
    y = rng.uniform(0, 1000, 1_000_000)
    size, rec = auto_cell_size(x, y, extent_area=1.0e6, cell="square")
    assert rec["clamped"] == "min"
    assert size == pytest.approx(math.sqrt(1.0e6 / MAX_AUTO_CELLS))
    # also when the raw rule is computed from few firms in a huge area... (see below)
    x = np.concatenate([rng.normal(0, 0.01, 50), rng.normal(50_000, 0.01, 50)])
    y = np.concatenate([rng.normal(0, 0.01, 50), rng.normal(50_000, 0.01, 50)])
    size, rec = auto_cell_size(x, y, extent_area=1.0e9, cell="square")
    assert rec["clamped"] is None and size == pytest.approx(_round3(math.sqrt(2e9 / 100)))
    # few scattered firms: 2 x median NN larger than the 30-cell bound -> clamped there
    size, rec = auto_cell_size(np.array([0.0, 9000.0]), np.array([0.0, 0.0]), extent_area=1.0e6, cell="hex")
    assert rec["clamped"] == "max"
    assert size == pytest.approx(math.sqrt(1.0e6 / (MIN_AUTO_CELLS * math.sqrt(3) / 2)))


def test_h3_cells_counts_and_geometry():
    import h3

    rng = np.random.default_rng(7)
    lon = 125.30 + rng.normal(0, 0.01, 400)
    lat = 43.90 + rng.normal(0, 0.01, 400)
    firms = gpd.GeoDataFrame(geometry=shapely.points(lon, lat), crs=4326)
    cells = aggregate(firms, cell="h3", size=8)
    assert cells.attrs["cell"] == "h3" and cells.attrs["size"] == 8
    assert cells.crs.to_epsg() == 32651
    assert int(cells["n_firms"].sum()) == 400
    expected = pd.Series([h3.latlng_to_cell(a, b, 8) for a, b in zip(lat, lon)]).value_counts()
    got = cells.set_index("cell_id")["n_firms"]
    assert (got.loc[expected.index] == expected).all()
    assert (got.drop(expected.index) == 0).all()
    assert all(h3.get_resolution(c) == 8 for c in cells["cell_id"])
    # polygons: projected H3 cells, area close to H3's own cell area
    one = cells["cell_id"].iloc[0]
    assert cells.geometry.iloc[0].area == pytest.approx(h3.cell_area(one, unit="m^2"), rel=0.01)


def test_h3_auto_resolution_is_recorded():
    rng = np.random.default_rng(3)
    firms = gpd.GeoDataFrame(
        geometry=shapely.points(114.4 + rng.normal(0, 0.02, 500), 30.5 + rng.normal(0, 0.02, 500)), crs=4326
    )
    cells = aggregate(firms, cell="h3")
    res = cells.attrs["size"]
    assert isinstance(res, int) and 0 <= res <= 15
    assert cells.attrs["size_rule"]["h3_resolution"] == res
    assert MIN_AUTO_CELLS <= cells.attrs["extent_area_m2"] / cells.attrs["cell_area_m2"] <= MAX_AUTO_CELLS


def test_input_is_not_mutated(firms):
    before = firms.copy()
    attrs = dict(firms.attrs)
    aggregate(firms, cell="hex", by="sector")
    pd.testing.assert_frame_equal(firms, before)
    assert firms.attrs == attrs


def test_missing_geometry_is_recorded(firms):
    f = firms.copy()
    f.loc[f.index[:3], "geometry"] = None
    cells = aggregate(f, cell="square", size=500.0)
    assert cells.attrs["n_missing_geometry"] == 3
    assert int(cells["n_firms"].sum()) == len(f) - 3


def test_errors(firms):
    with pytest.raises(CRSError, match="no CRS"):
        aggregate(firms.set_crs(None, allow_override=True))
    with pytest.raises(InputError, match="`cell` must be one of"):
        aggregate(firms, cell="triangle")
    with pytest.raises(InputError, match="positive number of metres"):
        aggregate(firms, cell="hex", size=-5)
    with pytest.raises(InputError, match="H3 resolution 0-15"):
        aggregate(firms, cell="h3", size=250.0)
    with pytest.raises(ColumnError, match="`by` must be a column"):
        aggregate(firms, by="industry")
    lines = firms.copy()
    lines["geometry"] = shapely.buffer(firms.geometry.values, 5)
    with pytest.raises(InputError, match="must contain Point geometries"):
        aggregate(lines)
    with pytest.raises(InputError, match="would need about"):
        aggregate(firms, cell="square", size=0.5)
    one = firms.iloc[[0, 0]].copy()
    with pytest.raises(InputError, match="share one location"):
        aggregate(one)


def _round3(v):
    return float(f"{v:.3g}")
