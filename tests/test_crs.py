"""Tests of geo.crs: GCJ-02 / BD-09 / WGS84 conversions and the local metric CRS."""

from __future__ import annotations

import doctest
import logging
import warnings

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info

import geo.crs
from geo.crs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    metric_crs_for,
    out_of_china,
    parse_crs,
    to_metric,
    to_wgs84,
    to_wgs84_per_row,
    transform_geometries,
    utm_crs_for,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geo.errors import CRSError, InputError

EARTH_RADIUS_M = 6371008.8  # mean Earth radius (IUGG)
ONE_CM = 0.01


def haversine_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Great-circle distance in metres (independent of geo)."""
    lon1, lat1, lon2, lat2 = (
        np.radians(np.asarray(a, dtype=float)) for a in (lon1, lat1, lon2, lat2)
    )
    h = np.sin((lat2 - lat1) / 2) ** 2
    h = h + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(h))


# --------------------------------------------------------------------------------------
# published reference pairs (lon, lat) -> (lon, lat); forward transforms are exact formulas,
# so the published outputs must be reproduced to floating-point precision.
# --------------------------------------------------------------------------------------

# googollee/eviltransform, python/test.py (TESTS, given there as wgsLat, wgsLng, gcjLat, gcjLng;
# reordered to lon, lat here): Shanghai, Shenzhen, Beijing.
# wandergis/coordtransform, README.md: wgs84togcj02(116.404, 39.915).
WGS_TO_GCJ = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),
]

# wandergis/coordtransform, README.md: gcj02tobd09(116.404, 39.915).
GCJ_TO_BD = [
    ((116.404, 39.915), (116.41036949371029, 39.92133699351021)),
]

# dromara/hutool, hutool-core/src/test/java/org/dromara/hutool/core/util/CoordinateUtilTest.java:
# wgs84toBd09Test and wgs84toBd09Test2 (the latter's values from https://tool.lu/coordinate/).
WGS_TO_BD = [
    ((116.404, 39.915), (116.41662724378733, 39.922699552216216)),
    ((122.99395597, 44.99804071), (123.00636516028885, 45.0063690918959)),
]

# The widely copied closed-form (one-step) inverses, wandergis/coordtransform README.md:
# gcj02towgs84(116.404, 39.915) and bd09togcj02(116.404, 39.915).  Not exact inverses.
CLOSED_FORM_GCJ_TO_WGS = ((116.404, 39.915), (116.39775550083061, 39.91359571849836))
CLOSED_FORM_BD_TO_GCJ = ((116.404, 39.915), (116.39762729119315, 39.90865673957631))


@pytest.mark.parametrize(("src", "dst"), WGS_TO_GCJ)
def test_wgs84_to_gcj02_matches_published_pairs(src, dst):
    lon, lat = wgs84_to_gcj02(*src)
    assert float(lon) == pytest.approx(dst[0], abs=1e-10)
    assert float(lat) == pytest.approx(dst[1], abs=1e-10)


@pytest.mark.parametrize(("src", "dst"), GCJ_TO_BD)
def test_gcj02_to_bd09_matches_published_pairs(src, dst):
    lon, lat = gcj02_to_bd09(*src)
    assert float(lon) == pytest.approx(dst[0], abs=1e-10)
    assert float(lat) == pytest.approx(dst[1], abs=1e-10)


@pytest.mark.parametrize(("src", "dst"), WGS_TO_BD)
def test_wgs84_to_bd09_matches_published_pairs(src, dst):
    lon, lat = wgs84_to_bd09(*src)
    assert float(lon) == pytest.approx(dst[0], abs=1e-10)
    assert float(lat) == pytest.approx(dst[1], abs=1e-10)


@pytest.mark.parametrize(("inverse", "pairs"), [
    (gcj02_to_wgs84, WGS_TO_GCJ),
    (bd09_to_gcj02, GCJ_TO_BD),
    (bd09_to_wgs84, WGS_TO_BD),
])
def test_inverses_recover_published_inputs(inverse, pairs):
    for src, dst in pairs:
        lon, lat = inverse(*dst)
        assert float(lon) == pytest.approx(src[0], abs=1e-9)
        assert float(lat) == pytest.approx(src[1], abs=1e-9)


@pytest.mark.parametrize(("forward", "inverse", "published"), [
    (wgs84_to_gcj02, gcj02_to_wgs84, CLOSED_FORM_GCJ_TO_WGS),
    (gcj02_to_bd09, bd09_to_gcj02, CLOSED_FORM_BD_TO_GCJ),
])
def test_iterated_inverse_beats_the_closed_form(forward, inverse, published):
    (x, y), (cf_lon, cf_lat) = published
    lon, lat = inverse(x, y)
    # the same transform: the closed form is within a metre of the exact inverse ...
    assert haversine_m(lon, lat, cf_lon, cf_lat) < 1.0
    # ... but it does not map back onto its input, while the iterated inverse does
    assert haversine_m(*forward(cf_lon, cf_lat), x, y) > ONE_CM
    assert haversine_m(*forward(lon, lat), x, y) < 1e-4


# --------------------------------------------------------------------------------------
# round trips, China box, special values
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def china_points():
    rng = np.random.default_rng(20240601)
    n = 100_000
    return rng.uniform(73.5, 134.8, n), rng.uniform(18.2, 53.5, n)


@pytest.mark.parametrize(("forward", "inverse"), [
    (wgs84_to_gcj02, gcj02_to_wgs84),
    (gcj02_to_bd09, bd09_to_gcj02),
    (wgs84_to_bd09, bd09_to_wgs84),
])
def test_round_trips_below_one_centimetre(china_points, forward, inverse):
    lon, lat = china_points
    # forward then inverse
    back = inverse(*forward(lon, lat))
    err = haversine_m(lon, lat, *back)
    assert err.max() < ONE_CM
    # the documented bound: 1e-9 deg per inverse step (two steps for BD-09 -> WGS84)
    steps = 2 if inverse is bd09_to_wgs84 else 1
    assert np.abs(back[0] - lon).max() < steps * 1e-9
    assert np.abs(back[1] - lat).max() < steps * 1e-9
    # inverse then forward
    again = forward(*inverse(lon, lat))
    err = haversine_m(lon, lat, *again)
    assert err.max() < ONE_CM
    # and the transform really moved the points (a no-op would pass the checks above)
    moved = haversine_m(lon, lat, *forward(lon, lat))
    assert moved.min() > 1.0


def test_gcj_offset_in_wuhan_is_a_few_hundred_metres():
    lon, lat = 114.4, 30.5
    d = haversine_m(lon, lat, *wgs84_to_gcj02(lon, lat))
    assert 100.0 < float(d) < 700.0


OUTSIDE = (
    np.array([2.3522, -74.006, 139.6917, 151.2093, 72.0, 100.0]),  # Paris, New York, Tokyo, Sydney,
    np.array([48.8566, 40.7128, 35.6895, -33.8688, 40.0, 0.5]),  # west and south of the box
)


@pytest.mark.parametrize("func", [
    wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84,
])
def test_points_outside_china_are_unchanged(func):
    lon, lat = OUTSIDE
    assert out_of_china(lon, lat).all()
    out_lon, out_lat = func(lon, lat)
    np.testing.assert_array_equal(out_lon, lon)
    np.testing.assert_array_equal(out_lat, lat)


def test_out_of_china_box_edges():
    lon = np.array([72.004, 137.8347, 100.0, 100.0, 72.003, 137.8348])
    lat = np.array([30.0, 30.0, 0.8293, 55.8271, 30.0, 30.0])
    np.testing.assert_array_equal(out_of_china(lon, lat), [False, False, False, False, True, True])


@pytest.mark.parametrize("func", [
    wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84,
])
def test_nan_passes_through_without_warnings(func):
    lon = np.array([114.4, np.nan, 125.3, np.nan])
    lat = np.array([30.5, 30.5, np.nan, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out_lon, out_lat = func(lon, lat)
        all_nan = func(np.full(3, np.nan), np.full(3, np.nan))
    np.testing.assert_array_equal(np.isnan(out_lon), np.isnan(lon))
    np.testing.assert_array_equal(np.isnan(out_lat), np.isnan(lat))
    assert out_lon[2] == 125.3  # a half-NaN point is outside the box: its finite half is kept
    assert out_lat[1] == 30.5
    assert np.isnan(all_nan[0]).all() and np.isnan(all_nan[1]).all()
    # the finite row is converted exactly as it would be alone
    ref_lon, ref_lat = func(114.4, 30.5)
    assert out_lon[0] == float(ref_lon) and out_lat[0] == float(ref_lat)
    assert out_lon[0] != 114.4


@pytest.mark.parametrize("func", [
    wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84,
])
def test_scalar_and_shape(func):
    lon, lat = func(114.4, 30.5)
    assert isinstance(lon, np.ndarray) and lon.shape == () and lat.shape == ()
    grid_lon = np.full((2, 3), 114.4)
    grid_lat = np.full((2, 3), 30.5)
    before = grid_lon.copy(), grid_lat.copy()
    out_lon, out_lat = func(grid_lon, grid_lat)
    assert out_lon.shape == (2, 3) and out_lat.shape == (2, 3)
    assert np.all(out_lon == float(lon)) and np.all(out_lat == float(lat))
    np.testing.assert_array_equal(grid_lon, before[0])  # inputs not modified
    np.testing.assert_array_equal(grid_lat, before[1])
    list_lon, _ = func([114.4, 114.4], [30.5, 30.5])
    assert list_lon.tolist() == [float(lon)] * 2


def test_mismatched_shapes_raise_input_error():
    with pytest.raises(InputError, match="same shape"):
        wgs84_to_gcj02([114.4, 114.5, 114.6], [30.5, 30.6])


def test_non_convergence_is_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="geo.crs"):
        gcj02_to_wgs84(114.4, 30.5, max_iter=1)
    assert "did not converge" in caplog.text


# --------------------------------------------------------------------------------------
# dispatchers
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("system", "func"), [
    ("gcj02", gcj02_to_wgs84),
    ("GCJ-02", gcj02_to_wgs84),
    ("bd09", bd09_to_wgs84),
    ("BD-09", bd09_to_wgs84),
])
def test_to_wgs84_dispatches(system, func):
    lon = np.array([114.4, 125.3, 114.05])
    lat = np.array([30.5, 43.9, 22.55])
    got = to_wgs84(lon, lat, system)
    want = func(lon, lat)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("system", ["wgs84", "WGS84", "wgs-84", "EPSG:4326", " epsg:4326 "])
def test_to_wgs84_identity_returns_new_arrays(system):
    lon = np.array([114.4, 125.3])
    lat = np.array([30.5, 43.9])
    out_lon, out_lat = to_wgs84(lon, lat, system)
    np.testing.assert_array_equal(out_lon, lon)
    np.testing.assert_array_equal(out_lat, lat)
    out_lon[0] = 0.0
    assert lon[0] == 114.4


@pytest.mark.parametrize("system", ["gcj2", "mars", "EPSG:32650", "", None, 4326])
def test_to_wgs84_unknown_system(system):
    with pytest.raises(CRSError, match="expected one of 'wgs84', 'gcj02', 'bd09'"):
        to_wgs84([114.4], [30.5], system)


def test_to_wgs84_per_row_groups_by_system():
    lon = np.array([114.4, 114.4, 114.4, 125.3, 125.3])
    lat = np.array([30.5, 30.5, 30.5, 43.9, 43.9])
    systems = np.array(["wgs84", "gcj02", "bd09", "GCJ-02", "bd-09"], dtype=object)
    out_lon, out_lat = to_wgs84_per_row(lon, lat, systems)
    for i, system in enumerate(systems):
        want = to_wgs84(lon[i : i + 1], lat[i : i + 1], system)
        assert out_lon[i] == want[0][0] and out_lat[i] == want[1][0]
    assert out_lon[0] == 114.4
    assert len(set(out_lon[:3].tolist())) == 3  # the three systems really differ


def test_to_wgs84_per_row_errors():
    with pytest.raises(CRSError, match="Row 2: Unknown coordinate system 'baidu'"):
        to_wgs84_per_row([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], ["wgs84", "gcj02", "baidu"])
    with pytest.raises(CRSError, match="missing at row 1"):
        to_wgs84_per_row([1.0, 2.0], [1.0, 2.0], ["wgs84", None])
    with pytest.raises(InputError, match="equal length"):
        to_wgs84_per_row([1.0, 2.0], [1.0, 2.0], ["wgs84"])


# --------------------------------------------------------------------------------------
# parse_crs
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("wgs84", "wgs84"),
    ("WGS-84", "wgs84"),
    ("gcj02", "gcj02"),
    ("GCJ-02", "gcj02"),
    ("bd09", "bd09"),
    ("Bd-09", "bd09"),
    ("EPSG:4326", "wgs84"),
    (4326, "wgs84"),
    (np.int64(4326), "wgs84"),
    (pyproj.CRS.from_epsg(4326), "wgs84"),
])
def test_parse_crs_names(value, expected):
    assert parse_crs(value) == expected


@pytest.mark.parametrize("value", [32650, "EPSG:32650", "epsg:32650", pyproj.CRS.from_epsg(32650)])
def test_parse_crs_epsg(value):
    crs = parse_crs(value)
    assert isinstance(crs, pyproj.CRS)
    assert crs.to_epsg() == 32650


def test_parse_crs_cgcs2000_stays_a_crs():
    crs = parse_crs("EPSG:4490")
    assert isinstance(crs, pyproj.CRS) and crs.to_epsg() == 4490


@pytest.mark.parametrize("value", ["gcj2", "EPSG:99999999", 99999999, None, True, 3.5])
def test_parse_crs_invalid(value):
    with pytest.raises(CRSError, match=r"expected 'wgs84', 'gcj02' .*Pass e\.g\. crs="):
        parse_crs(value)


# --------------------------------------------------------------------------------------
# geometries
# --------------------------------------------------------------------------------------


def _mixed_geometries():
    return np.array([
        shapely.Point(114.41, 30.51),
        shapely.LineString([(114.40, 30.50), (114.42, 30.52), (114.45, 30.49)]),
        shapely.Polygon([(125.3, 43.9), (125.4, 43.9), (125.4, 44.0), (125.3, 43.9)]),
        None,
    ], dtype=object)


@pytest.mark.parametrize(("system", "func"), [("gcj02", gcj02_to_wgs84), ("bd09", bd09_to_wgs84)])
def test_transform_geometries_matches_point_conversion(system, func):
    geoms = _mixed_geometries()
    out = transform_geometries(geoms, system)
    assert isinstance(out, np.ndarray) and out[3] is None
    for before, after in zip(geoms[:3], out[:3], strict=True):
        assert after.geom_type == before.geom_type
        xy = shapely.get_coordinates(before)
        want = np.column_stack(func(xy[:, 0], xy[:, 1]))
        np.testing.assert_array_equal(shapely.get_coordinates(after), want)
    # inputs untouched
    assert shapely.get_coordinates(geoms[0]).tolist() == [[114.41, 30.51]]


def test_transform_geometries_geoseries_scalar_and_z():
    s = gpd.GeoSeries(
        [shapely.Point(114.4, 30.5, 25.0), shapely.Point(2.35, 48.85)], index=[10, 20], crs=4326
    )
    out = transform_geometries(s, "GCJ-02")
    assert isinstance(out, gpd.GeoSeries)
    assert out.index.tolist() == [10, 20]
    assert out.crs.to_epsg() == 4326
    assert out.iloc[0].has_z and out.iloc[0].z == 25.0
    want = gcj02_to_wgs84(114.4, 30.5)
    assert (out.iloc[0].x, out.iloc[0].y) == (float(want[0]), float(want[1]))
    assert (out.iloc[1].x, out.iloc[1].y) == (2.35, 48.85)  # outside China
    single = transform_geometries(shapely.Point(114.4, 30.5), "gcj02")
    assert isinstance(single, shapely.Point) and single.x == float(want[0])
    with pytest.raises(CRSError, match="Unknown coordinate system"):
        transform_geometries(s, "utm")


# --------------------------------------------------------------------------------------
# UTM zone and to_metric
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("lon", "lat", "epsg"), [
    (114.4, 30.5, 32650),  # Wuhan: floor((114.4 + 180) / 6) + 1 = 50
    (125.3, 43.9, 32651),  # Changchun: floor(305.3 / 6) + 1 = 51
    (114.05, 22.55, 32650),  # Shenzhen: floor(294.05 / 6) + 1 = 50
    (-47.9, -15.8, 32723),  # Brasilia: floor(132.1 / 6) + 1 = 23, south
])
def test_utm_crs_for_known_cities(lon, lat, epsg):
    assert utm_crs_for([lon, lon + 0.1, np.nan], [lat, lat - 0.1, np.nan]).to_epsg() == epsg


def test_utm_zone_agrees_with_pyproj_database():
    rng = np.random.default_rng(7)
    for _ in range(20):
        zone = int(rng.integers(1, 61))
        lon = -180 + 6 * (zone - 1) + rng.uniform(0.5, 5.5)  # away from zone edges
        lat = float(rng.uniform(-75, 75))
        if abs(lat) < 0.5 or (lat > 55 and 0 < lon < 45):  # equator / Norway exceptions
            continue
        info = query_utm_crs_info(
            datum_name="WGS 84", area_of_interest=AreaOfInterest(lon, lat, lon, lat)
        )
        assert utm_crs_for(lon, lat).to_epsg() == int(info[0].code)


def test_utm_crs_for_errors():
    with pytest.raises(CRSError, match="no point has finite coordinates"):
        utm_crs_for([np.nan], [np.nan])
    with pytest.raises(CRSError, match="Are the coordinates projected"):
        utm_crs_for([500000.0], [3000000.0])


def _frame(lon, lat, crs=4326):
    return gpd.GeoDataFrame(
        {"firm": np.arange(len(lon))}, geometry=gpd.points_from_xy(lon, lat), crs=crs
    )


@pytest.mark.parametrize(("lon", "lat", "label"), [
    ([114.35, 114.40, 114.45], [30.45, 30.50, 30.55], "EPSG:32650"),  # Wuhan
    ([125.25, 125.30, 125.35], [43.85, 43.90, 43.95], "EPSG:32651"),  # Changchun
    ([113.95, 114.05, 114.10], [22.50, 22.55, 22.60], "EPSG:32650"),  # Shenzhen
])
def test_to_metric_picks_the_utm_zone(lon, lat, label):
    gdf = _frame(lon, lat)
    gdf.attrs["source"] = "test"
    out = to_metric(gdf)
    assert out.attrs["metric_crs"] == label
    assert out.attrs["metric_crs_rule"] == "UTM zone of the data centroid"
    assert out.attrs["source"] == "test"
    assert out.crs.to_string() == label
    assert metric_crs_for(gdf).to_string() == label
    # coordinates are the pyproj projection of the input
    x, y = pyproj.Transformer.from_crs(4326, label, always_xy=True).transform(lon, lat)
    np.testing.assert_allclose(out.geometry.x, x, rtol=0, atol=1e-6)
    np.testing.assert_allclose(out.geometry.y, y, rtol=0, atol=1e-6)
    # the input is not modified
    assert gdf.crs.to_epsg() == 4326 and "metric_crs" not in gdf.attrs
    assert gdf.geometry.x.tolist() == lon


def test_to_metric_user_epsg_and_projected_input():
    gdf = _frame([114.4], [30.5])
    out = to_metric(gdf, epsg=32649)
    assert out.attrs["metric_crs"] == "EPSG:32649"
    assert out.attrs["metric_crs_rule"] == "user EPSG"
    assert out.crs.to_epsg() == 32649
    again = to_metric(out)
    assert again is not out
    assert again.crs.to_epsg() == 32649
    assert again.attrs["metric_crs"] == "EPSG:32649"
    assert again.attrs["metric_crs_rule"] == "input CRS (already projected)"
    assert again.geometry.equals(out.geometry)


def test_to_metric_from_other_geographic_crs():
    # CGCS2000 (EPSG:4490) longitude/latitude: the centroid is taken to EPSG:4326 first
    out = to_metric(_frame([125.3], [43.9], crs=4490))
    assert out.attrs["metric_crs"] == "EPSG:32651"


def test_to_metric_errors():
    no_crs = gpd.GeoDataFrame(geometry=gpd.points_from_xy([114.4], [30.5]))
    with pytest.raises(CRSError, match=r"`gdf` has no CRS; set it with gdf\.set_crs\(\.\.\.\)"):
        to_metric(no_crs)
    with pytest.raises(CRSError, match=r"has no CRS"):
        metric_crs_for(no_crs)
    gdf = _frame([114.4], [30.5])
    with pytest.raises(CRSError, match="must be a projected CRS"):
        to_metric(gdf, epsg=4326)
    with pytest.raises(CRSError, match="must be a projected EPSG code"):
        to_metric(gdf, epsg="not-a-crs")
    empty = gpd.GeoDataFrame(geometry=gpd.GeoSeries([shapely.Point()]), crs=4326)
    with pytest.raises(CRSError, match="no point has finite coordinates"):
        to_metric(empty)


def test_docstring_examples_run():
    result = doctest.testmod(geo.crs, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 10
    assert result.failed == 0


def test_metric_crs_of_points_equals_the_centroid_rule(monkeypatch):
    # the points fast path of metric_crs_for/to_metric (no GEOS centroid per row) against
    # the general rule (_choose_metric_crs: mean of the centroids in EPSG:4326)
    from geo.crs import _choose_metric_crs

    rng = np.random.default_rng(4)
    lon = np.concatenate([rng.uniform(113.5, 114.0, 400), rng.uniform(114.0, 114.5, 400)])
    lat = rng.uniform(22.4, 22.8, 800)
    pts = list(shapely.points(lon, lat))
    pts[3], pts[7] = None, shapely.Point()  # missing and empty rows are skipped
    pts[11] = shapely.Point(114.2, 22.6, 30.0)  # a 3D point
    frames = [
        gpd.GeoDataFrame({"firm": np.arange(800)}, geometry=pts, crs=4326),
        gpd.GeoDataFrame({"firm": np.arange(800)}, geometry=pts, crs=4490),  # CGCS2000
        gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon[:2], [0.5, -0.7]), crs=4326),  # on the equator
        gpd.GeoDataFrame(geometry=shapely.buffer(shapely.points(lon, lat), 0.01), crs=4326),  # polygons
    ]
    for gdf in frames:
        ref_crs, ref_rule = _choose_metric_crs(gdf, None)
        assert metric_crs_for(gdf) == ref_crs
        out = to_metric(gdf)
        assert out.crs == ref_crs and out.attrs["metric_crs_rule"] == ref_rule
        ref = gdf.to_crs(ref_crs)
        assert out.drop(columns="geometry").equals(ref.drop(columns="geometry"))
        assert shapely.equals_exact(out.geometry.values, ref.geometry.values, tolerance=0)[~ref.geometry.isna()].all()
        assert out.geometry.isna().equals(ref.geometry.isna())
    # the point frames did not need a centroid per row
    def no_centroid(*args, **kwargs):
        raise AssertionError("centroid computed")

    monkeypatch.setattr(shapely, "centroid", no_centroid)
    for gdf in frames[:3]:
        assert to_metric(gdf).crs == metric_crs_for(gdf)
    with pytest.raises(AssertionError, match="centroid computed"):
        metric_crs_for(frames[3])


def test_to_metric_equals_to_crs_and_leaves_the_input_alone():
    from geopandas.testing import assert_geodataframe_equal

    rng = np.random.default_rng(3)
    g = gpd.GeoDataFrame({"firm_id": [f"f{i}" for i in range(50)], "n": np.arange(50)},
                         geometry=shapely.points(114 + rng.random(50), 30 + rng.random(50)), crs=4326)
    before = g.copy()
    out = to_metric(g)
    ref = g.to_crs(out.attrs["metric_crs"])
    assert_geodataframe_equal(out, ref)
    out.loc[0, "n"] = -1
    out.loc[1, "firm_id"] = "changed"
    assert_geodataframe_equal(g, before)  # shared columns are copy-on-write


def test_compiled_gcj_offset_matches_the_numpy_formulas(china_points):
    from geo.crs import _delta, _delta_numpy

    lon, lat = china_points
    got = _delta(lon, lat)
    ref = _delta_numpy(lon, lat)
    for g, r in zip(got, ref):
        assert np.abs(g - r).max() <= 1e-15  # degrees: libm vs numpy sin, last bits only
        assert np.abs(g).mean() > 1e-3  # a real offset (hundreds of metres), not zeros
    # a point's offset does not depend on its batch
    one = _delta(lon[7:8], lat[7:8])
    assert one[0][0] == got[0][7] and one[1][0] == got[1][7]
    scalar = _delta(np.float64(lon[7]), np.float64(lat[7]))
    assert np.shape(scalar[0]) == () and float(scalar[0]) == got[0][7]


def test_points_to_crs_is_to_crs_bit_for_bit():
    from geo.crs import _points_to_crs

    rng = np.random.default_rng(5)
    pts = gpd.GeoSeries(shapely.points(73 + 60 * rng.random(2000), 18 + 35 * rng.random(2000)), crs=4326,
                        index=np.arange(2000) * 3, name="geometry")
    got, ref = _points_to_crs(pts, pyproj.CRS(32650)), pts.to_crs(32650)
    assert got.crs == ref.crs and got.index.equals(ref.index)
    np.testing.assert_array_equal(shapely.get_coordinates(got.values), shapely.get_coordinates(ref.values))
    polys = gpd.GeoSeries([shapely.box(114, 30, 114.1, 30.1), shapely.Point(114, 30)], crs=4326)
    mixed = _points_to_crs(polys, pyproj.CRS(32650))  # not all points: geopandas' to_crs
    assert shapely.equals_exact(mixed.values, polys.to_crs(32650).values, tolerance=0).all()


# --------------------------------------------------------------------------------------
# data across UTM zones
# --------------------------------------------------------------------------------------


def _city(lon, lat, n, seed, spread=0.2):
    rng = np.random.default_rng(seed)
    return lon + spread * rng.uniform(-1, 1, n), lat + spread * rng.uniform(-1, 1, n)


def _crs_notes(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "geo.crs" and not r.getMessage().startswith("to_metric:")]


def test_far_apart_cities_are_refused_with_the_zones_named():
    """Wuhan (zone 50) and Changchun (zone 51) together: one zone would be 8 degrees off."""
    from geo.points import PointFrame

    wx, wy = _city(114.4, 30.5, 300, 1)
    cx, cy = _city(125.3, 43.9, 200, 2)
    lon, lat = np.r_[wx, cx], np.r_[wy, cy]
    gdf = _frame(lon, lat)
    polys = gpd.GeoDataFrame(geometry=shapely.buffer(shapely.points(lon, lat), 0.01), crs=4326)
    pf = PointFrame({"lon": lon, "lat": lat}, xy=("lon", "lat"), crs=4326)
    expected = (r"The points span UTM zones 50 \(300 points\), 51 \(200 points\): longitudes 114\.2\d to 125\.4\d degrees\. "
                r"The UTM zone of their centroid, 50 \(EPSG:32650, central meridian 117 degrees\), has the farthest point "
                r"8\.\d degrees from its central meridian, where distances and areas are off by up to 0\.[5-9]\d %.*"
                r"Split the table by valley or city.*or pass a projected CRS explicitly.*\(e\.g\. epsg=32650\)")
    for data in (gdf, gdf.to_crs(4490), polys, pf):
        with pytest.raises(CRSError, match=expected):
            to_metric(data)
        with pytest.raises(CRSError, match=expected):
            metric_crs_for(data)
    with pytest.raises(CRSError, match=r"UTM zones 50 \(300 points\), 51 \(200 points\)"):
        geo.aggregate(gdf, size=1000.0)  # the grid chooses its CRS the same way


def test_explicit_epsg_accepts_far_apart_cities():
    lon, lat = np.r_[_city(114.4, 30.5, 30, 1)[0], 125.3], np.r_[_city(114.4, 30.5, 30, 1)[1], 43.9]
    gdf = _frame(lon, lat)
    out = to_metric(gdf, epsg=32650)
    assert out.crs.to_epsg() == 32650 and out.attrs["metric_crs_rule"] == "user EPSG"
    assert metric_crs_for(gdf, epsg="EPSG:32651").to_epsg() == 32651
    assert to_metric(out).crs.to_epsg() == 32650  # projected input is kept as is


@pytest.mark.parametrize(("lon", "lat", "epsg"), [(114.4, 30.5, 32650), (125.3, 43.9, 32651), (116.4, 39.9, 32650)])
def test_single_city_tables_pass_silently(lon, lat, epsg, caplog):
    gdf = _frame(*_city(lon, lat, 500, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level(logging.DEBUG, logger="geo.crs"):
            out = to_metric(gdf)
            crs = metric_crs_for(gdf)
    assert out.crs.to_epsg() == crs.to_epsg() == epsg
    assert _crs_notes(caplog) == []
    # the same zone and the same coordinates as before: the centroid's zone, pyproj's projection
    assert crs == utm_crs_for(gdf.geometry.x, gdf.geometry.y)
    ref = gdf.to_crs(crs)
    np.testing.assert_array_equal(shapely.get_coordinates(out.geometry.values), shapely.get_coordinates(ref.geometry.values))


def test_city_across_a_zone_border_is_accepted_with_a_note(caplog):
    """Shenzhen (113.75-114.6 east) straddles the 114 degree border of zones 49 and 50."""
    for centre, zone in ((114.2, 50), (113.95, 49)):
        gdf = _frame(*_city(centre, 22.6, 400, 4, spread=0.4))
        assert gdf.geometry.x.min() < 114 < gdf.geometry.x.max()
        caplog.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with caplog.at_level(logging.INFO, logger="geo.crs"):
                out = to_metric(gdf)
        assert out.crs.to_epsg() == 32600 + zone
        assert out.crs == utm_crs_for(gdf.geometry.x, gdf.geometry.y)  # the centroid's zone, as before
        (note,) = _crs_notes(caplog)
        assert "UTM zones 49" in note and ", 50 (" in note and "within the 6 degrees accepted" in note


def test_zone_offset_limit_is_six_degrees_from_the_central_meridian():
    # zone 50 (central meridian 117): 900 points at 117 keep the centroid there
    for far, ok in ((111.05, True), (110.95, False), (122.95, True), (123.05, False)):
        gdf = _frame(np.r_[np.full(900, 117.0), far], np.full(901, 30.0))
        if ok:
            assert metric_crs_for(gdf).to_epsg() == 32650
        else:
            with pytest.raises(CRSError, match=r"6\.0 degrees from its central meridian"):
                metric_crs_for(gdf)


def test_pipeline_valleys_keep_their_own_zones(demo_results):
    """geo run projects each valley on its own: the demo's three cities, three zones (the whole
    table together would be refused)."""
    crs = {name: vr.metric_crs for name, vr in demo_results.valleys.items()}
    assert crs == {"Wuhan": "EPSG:32650", "Changchun": "EPSG:32651", "Shenzhen": "EPSG:32649"}
    for vr in demo_results.valleys.values():
        assert vr.analysis.metric_firms.crs.to_string() == vr.metric_crs
    firms = demo_results.firms
    with pytest.raises(CRSError, match=r"UTM zones 49 .*, 50 .*, 51 "):
        to_metric(firms)
