"""Tests of geo.raster: kernel density grids, GeoTIFF output, zonal statistics, PNG overlays."""

from __future__ import annotations

import doctest
import io
import logging
import math

import geopandas as gpd
import matplotlib.image
import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.crs import CRS as RioCRS
from scipy import stats

import geo.outputs.raster
import geo.stats.density
from geo.errors import ColumnError, CRSError, InputError, StatisticsError
from geo.outputs.raster import NODATA, density_to_png, write_geotiff
from geo.stats.density import (
    UNITS,
    DensityGrid,
    bandwidth,
    kernel_density,
    kernel_density_by,
    zonal_stats,
)

UTM50 = 32650
# a point near Wuhan Optics Valley in UTM 50N, metres
X0, Y0 = 240_000.0, 3_370_000.0


# ----------------------------------------------------------------------------- helpers
def clustered_xy(seed: int = 0) -> np.ndarray:
    """300 points: two clusters and a uniform background, in metres around (X0, Y0)."""
    rng = np.random.default_rng(seed)
    xy = np.vstack(
        [
            rng.normal(0.0, 800.0, (150, 2)),
            rng.normal([2000.0, 1000.0], 300.0, (100, 2)),
            rng.uniform(-3000.0, 3000.0, (50, 2)),
        ]
    )
    return xy + [X0, Y0]


def naive_density(grid: DensityGrid, xy: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The direct sum of continuous kernels at every cell centre, per km²."""
    x, y = grid.cell_centres()
    gx, gy = np.meshgrid(x, y)
    d2 = (gx[..., None] - xy[:, 0]) ** 2 + (gy[..., None] - xy[:, 1]) ** 2
    h = grid.bandwidth_m
    if grid.kernel == "gaussian":
        k = np.exp(-d2 / (2.0 * h * h)) / (2.0 * math.pi * h * h)
    else:
        k = np.where(d2 < h * h, 3.0 / (math.pi * h * h) * (1.0 - d2 / (h * h)) ** 2, 0.0)
    w = np.ones(len(xy)) if weights is None else weights
    return (k * w).sum(axis=-1) * 1e6


def as_gdf(xy: np.ndarray, crs=UTM50, **columns) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(columns, geometry=shapely.points(xy), crs=crs)


# ----------------------------------------------------------------------------- accuracy
@pytest.mark.parametrize(("kernel", "h", "tol"), [("gaussian", 150.0, 0.005), ("gaussian", 300.0, 0.005), ("quartic", 400.0, 0.01)])
def test_fft_matches_direct_sum(kernel, h, tol):
    # default cell size (sigma/4): measured 0.12 % / 0.07 % (Gaussian), 0.3 % (quartic)
    xy = clustered_xy()
    grid = kernel_density(xy, crs=UTM50, bandwidth=h, kernel=kernel)
    exact = naive_density(grid, xy)
    assert grid.array.shape == exact.shape
    assert np.abs(grid.array - exact).max() <= tol * exact.max()


def test_fft_matches_direct_sum_with_weights():
    xy = clustered_xy(1)
    w = np.random.default_rng(5).integers(1, 50, len(xy)).astype(float)
    grid = kernel_density(xy, crs=UTM50, bandwidth=250.0, weights=w)
    exact = naive_density(grid, xy, w)
    assert np.abs(grid.array - exact).max() <= 0.005 * exact.max()
    assert grid.total() == pytest.approx(w.sum(), rel=0.01)
    assert grid.total_weight == w.sum() and grid.n_points == len(xy)


@pytest.mark.parametrize("weighted", [False, True])
def test_matches_scipy_gaussian_kde(weighted):
    # scipy's kernel covariance is bw_method**2 times the data covariance (np.cov, ddof=1,
    # or with aweights), so it is isotropic h**2 I only if the data covariance is s**2 I:
    # whiten the sample to covariance s**2 I exactly, then bw_method = h / s.
    rng = np.random.default_rng(11)
    raw = rng.normal(0.0, 1.0, (400, 2)) * [1.0, 0.5] + rng.normal(0.0, 0.3, (400, 1))
    w = rng.uniform(0.5, 3.0, len(raw)) if weighted else None
    cov = np.cov(raw.T, aweights=w)
    s, h = 1000.0, 200.0
    xy = (raw - raw.mean(axis=0)) @ np.linalg.inv(np.linalg.cholesky(cov)).T * s + [X0, Y0]
    kde = stats.gaussian_kde(xy.T, bw_method=h / s, weights=w)
    np.testing.assert_allclose(kde.covariance, h**2 * np.eye(2), rtol=1e-9, atol=1e-6)
    grid = kernel_density(xy, crs=UTM50, bandwidth=h, weights=w)
    x, y = grid.cell_centres()
    gx, gy = np.meshgrid(x, y)
    total = len(xy) if w is None else w.sum()
    ref = kde(np.vstack([gx.ravel(), gy.ravel()])).reshape(gx.shape) * total * 1e6  # per m² -> firms per km²
    assert np.abs(grid.array - ref).max() <= 0.005 * ref.max()


# ----------------------------------------------------------------------------- bandwidth
def test_silverman_rule_hand_computed_square():
    # corners of a 400 m square and its centre: mean centre (200, 200); distances
    # sqrt(8)*100 (x4) and 0, so SD = sqrt(4 * 8e4 / 5) = sqrt(6.4e4) and Dm = sqrt(8)*100
    xy = np.array([[0, 0], [400, 0], [0, 400], [400, 400], [200, 200]], dtype=float)
    sd, dm = math.sqrt(6.4e4), math.sqrt(8.0) * 100.0
    expected = 0.9 * min(sd, math.sqrt(1.0 / math.log(2.0)) * dm) * 5 ** (-0.2)
    assert bandwidth(xy, crs=UTM50) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(165.021, abs=1e-3)


def test_silverman_rule_median_branch_with_outliers():
    # mean centre (0, 0); distances 1, 1, 1, 1, 100, 100: SD = sqrt(20004 / 6) but the
    # median distance is 1, so sqrt(1/ln 2) * Dm wins (robust to the two outliers)
    xy = np.array([[-1, 0], [1, 0], [0, -1], [0, 1], [-100, 0], [100, 0]], dtype=float)
    sd = math.sqrt(20004.0 / 6.0)
    dm_term = math.sqrt(1.0 / math.log(2.0)) * 1.0
    assert dm_term < sd
    assert bandwidth(xy, crs=UTM50) == pytest.approx(0.9 * dm_term * 6 ** (-0.2), rel=1e-12)


def test_silverman_rule_weighted_hand_computed():
    # weights 3 and 1: mean centre (2.5, 0); distances 2.5 and 7.5;
    # SD = sqrt((3*2.5**2 + 7.5**2) / 4); weighted median: cumulative 3 of 4 >= 2 -> 2.5; n = 4
    xy = np.array([[0.0, 0.0], [10.0, 0.0]])
    sd = math.sqrt((3 * 2.5**2 + 7.5**2) / 4.0)
    dm = 2.5
    expected = 0.9 * min(sd, math.sqrt(1.0 / math.log(2.0)) * dm) * 4 ** (-0.2)
    assert bandwidth(xy, crs=UTM50, weights=[3.0, 1.0]) == pytest.approx(expected, rel=1e-12)


def test_scott_rule_hand_computed_and_scipy():
    # x = (0, 400, 0, 400, 200): sample variance (ddof 1) = 4 * 200**2 / 4 = 4e4, same for y
    xy = np.array([[0, 0], [400, 0], [0, 400], [400, 400], [200, 200]], dtype=float)
    assert bandwidth(xy, crs=UTM50, rule="scott") == pytest.approx(200.0 * 5 ** (-1 / 6), rel=1e-12)
    # scipy: kernel covariance = data covariance * scotts_factor**2, factor = neff**(-1/6)
    xy = clustered_xy(3)
    w = np.random.default_rng(3).uniform(0.1, 5.0, len(xy))
    for weights in (None, w):
        kde = stats.gaussian_kde(xy.T, bw_method="scott", weights=weights)
        expected = math.sqrt(np.trace(kde.covariance) / 2.0)
        assert bandwidth(xy, crs=UTM50, rule="scott", weights=weights) == pytest.approx(expected, rel=1e-10)


def test_equal_weights_give_the_unweighted_rules():
    xy = clustered_xy(4)
    for rule in ("silverman", "scott"):
        assert bandwidth(xy, crs=UTM50, rule=rule, weights=np.ones(len(xy))) == pytest.approx(bandwidth(xy, crs=UTM50, rule=rule), rel=1e-12)


def test_rule_bandwidth_is_used_and_recorded():
    xy = clustered_xy()
    grid = kernel_density(xy, crs=UTM50)
    assert grid.bandwidth_rule == "silverman"
    assert grid.bandwidth_m == pytest.approx(bandwidth(xy, crs=UTM50), rel=1e-12)
    assert grid.cell_size_m == pytest.approx(grid.bandwidth_m / 4.0)
    q = kernel_density(xy, crs=UTM50, kernel="quartic", bandwidth="scott")
    assert q.bandwidth_rule == "scott"
    assert q.cell_size_m == pytest.approx(q.bandwidth_m / math.sqrt(8.0) / 4.0)


# ----------------------------------------------------------------------------- integration
@pytest.mark.parametrize("kernel", ["gaussian", "quartic"])
def test_density_integrates_to_the_number_of_points(kernel, tmp_path):
    xy = clustered_xy(7)
    grid = kernel_density(xy, crs=UTM50, kernel=kernel)
    assert grid.total() == pytest.approx(len(xy), rel=0.01)
    # the same from the GeoTIFF read back
    path = geo.outputs.raster.write_geotiff(grid, tmp_path / "d.tif")
    with rasterio.open(path) as src:
        data = src.read(1, masked=True)
        area_km2 = abs(src.transform.a * src.transform.e) / 1e6
    assert float(data.sum()) * area_km2 == pytest.approx(len(xy), rel=0.01)


def test_unpadded_extent_loses_the_mass_outside():
    # points uniform in a 2 km square, grid exactly on that square: about
    # perimeter * sigma / sqrt(2 pi) / area = 8 * 0.2 / 2.5 / 4 ~ 16 % of the mass falls outside
    # (+ the corners counted twice: 4 (sigma E[max(Z, 0)])^2 / area); E[max(Z, 0)] = 1/sqrt(2 pi)
    n = 20_000
    xy = np.random.default_rng(8).uniform(0.0, 2000.0, (n, 2)) + [X0, Y0]
    padded = kernel_density(xy, crs=UTM50, bandwidth=200.0)
    tight = kernel_density(xy, crs=UTM50, bandwidth=200.0, extent=(X0, Y0, X0 + 2000.0, Y0 + 2000.0))
    assert padded.total() == pytest.approx(n, rel=0.01)
    edge = 0.2 / math.sqrt(2 * math.pi)  # km
    kept = 1 - 8 * edge / 4 + 4 * edge**2 / 4
    assert kept == pytest.approx(0.847, abs=1e-3)
    assert tight.total() == pytest.approx(n * kept, rel=0.01)


def test_extent_subgrid_equals_crop_of_full_grid():
    # points outside a given extent still contribute their kernel mass inside it
    xy = clustered_xy()
    full = kernel_density(xy, crs=UTM50, bandwidth=200.0)
    cell = full.cell_size_m
    left, top = full.transform.c + 40 * cell, full.transform.f - 30 * cell
    sub = kernel_density(xy, crs=UTM50, bandwidth=200.0, cell_size=cell, extent=(left, top - 50 * cell, left + 60 * cell, top))
    assert sub.shape == (50, 60)
    assert sub.transform.almost_equals(Affine(cell, 0.0, left, 0.0, -cell, top))
    np.testing.assert_allclose(sub.array, full.array[30:80, 40:100], rtol=1e-9, atol=1e-9 * full.array.max())


def test_weights_equal_repeated_points():
    xy = clustered_xy()[:50]
    counts = np.arange(1, 51) % 4  # some zeros
    repeated = np.repeat(xy, counts, axis=0)
    extent = (X0 - 5000, Y0 - 5000, X0 + 5000, Y0 + 5000)
    a = kernel_density(xy, crs=UTM50, bandwidth=300.0, weights=counts, extent=extent)
    b = kernel_density(repeated, crs=UTM50, bandwidth=300.0, extent=extent)
    np.testing.assert_allclose(a.array, b.array, rtol=1e-9, atol=1e-12)


def test_inputs_are_not_modified_and_grid_is_frozen():
    xy = clustered_xy()
    gdf = as_gdf(xy, w=np.ones(len(xy)))
    before = gdf.copy()
    xy_before = xy.copy()
    grid = kernel_density(gdf, weights="w")
    kernel_density(xy, crs=UTM50)
    pd.testing.assert_frame_equal(gdf, before)
    np.testing.assert_array_equal(xy, xy_before)
    with pytest.raises(ValueError, match="read-only"):
        grid.array[0, 0] = 1.0
    with pytest.raises(AttributeError):
        grid.bandwidth_m = 1.0  # type: ignore[misc]


def test_geodataframe_and_array_inputs_agree():
    xy = clustered_xy()
    a = kernel_density(as_gdf(xy), bandwidth=200.0)
    b = kernel_density(xy, crs="EPSG:32650", bandwidth=200.0)
    np.testing.assert_array_equal(a.array, b.array)
    assert a.crs == pyproj.CRS.from_epsg(UTM50) and a.units == UNITS == "firms per km²"


def test_auto_cell_size_is_capped(caplog):
    # 2 points 600 km apart with h = 100 m would need a 24,000 x 24,000 grid at h/4
    xy = np.array([[X0, Y0], [X0 + 600_000.0, Y0 + 600_000.0]])
    with caplog.at_level(logging.WARNING, logger="geo.raster"):
        grid = kernel_density(xy, crs=UTM50, bandwidth=100.0)
    assert grid.shape[0] * grid.shape[1] <= geo.stats.density.MAX_AUTO_CELLS
    assert grid.cell_size_m > 100.0 / 3.0
    assert "coarse approximation" in caplog.text
    assert grid.total() == pytest.approx(2.0, rel=1e-3)


def test_polygon_extent_masks_cells_outside(tmp_path):
    xy = clustered_xy()
    disc = shapely.Point(X0, Y0).buffer(2500.0)
    grid = kernel_density(xy, crs=UTM50, bandwidth=200.0, extent=disc)
    x, y = grid.cell_centres()
    gx, gy = np.meshgrid(x, y)
    outside = np.hypot(gx - X0, gy - Y0) > 2500.0 + grid.cell_size_m  # clearly outside
    inside = np.hypot(gx - X0, gy - Y0) < 2500.0 - grid.cell_size_m
    assert np.isnan(grid.array[outside]).all()
    assert not np.isnan(grid.array[inside]).any()
    # the GeoDataFrame form (in another CRS) gives the same mask
    disc_ll = gpd.GeoSeries([disc], crs=UTM50).to_crs(4326)
    grid2 = kernel_density(xy, crs=UTM50, bandwidth=200.0, extent=disc_ll, cell_size=grid.cell_size_m)
    assert abs(grid2.shape[0] - grid.shape[0]) <= 1 and abs(grid2.shape[1] - grid.shape[1]) <= 1
    assert np.isnan(grid2.array).mean() == pytest.approx(np.isnan(grid.array).mean(), abs=0.02)
    # the file carries -9999 there and reads back masked
    path = write_geotiff(grid, tmp_path / "masked.tif")
    with rasterio.open(path) as src:
        raw = src.read(1)
        masked = src.read(1, masked=True)
    assert (raw[np.isnan(grid.array)] == NODATA).all()
    np.testing.assert_array_equal(masked.mask, np.isnan(grid.array))


# ----------------------------------------------------------------------------- GeoTIFF
def test_geotiff_round_trip(tmp_path):
    xy = clustered_xy()
    grid = kernel_density(as_gdf(xy), kernel="quartic")
    path = tmp_path / "rasters" / "Wuhan_density.tif"
    out = write_geotiff(grid, path)
    assert out == path and path.exists()
    assert not [p for p in path.parent.iterdir() if p.name != path.name]  # no temp file left
    with rasterio.open(path) as src:
        profile = src.profile
        data = src.read(1)
        tags = src.tags()
        structure = src.tags(ns="IMAGE_STRUCTURE")
        assert src.crs == RioCRS.from_epsg(UTM50)
        assert src.transform.almost_equals(grid.transform)
        assert (src.height, src.width) == grid.shape
        assert src.dtypes == ("float32",)
        assert src.nodata == NODATA
        assert src.units == (UNITS,)
        assert src.descriptions == ("kernel density",)
        assert src.overviews(1) == []
    assert profile["tiled"] is True
    assert (profile["blockxsize"], profile["blockysize"]) == (256, 256)
    assert profile["compress"] == "deflate"
    assert structure["PREDICTOR"] == "3" and structure["COMPRESSION"] == "DEFLATE"
    assert tags["units"] == UNITS
    assert tags["kernel"] == "quartic"
    assert float(tags["bandwidth_m"]) == grid.bandwidth_m
    assert float(tags["cell_size_m"]) == grid.cell_size_m
    assert int(tags["n_points"]) == len(xy)
    assert tags["bandwidth_rule"] == "silverman"
    np.testing.assert_allclose(data, grid.array.astype(np.float32))


def test_geotiff_overviews_and_overwrite(tmp_path):
    xy = clustered_xy()
    grid = kernel_density(xy, crs=UTM50, bandwidth=100.0, cell_size=5.0)
    assert 1024 <= max(grid.shape) < 2048
    path = tmp_path / "d.tif"
    path.write_bytes(b"old")
    geo.outputs.raster.write_geotiff(grid, path, overviews=True)
    with rasterio.open(path) as src:
        assert src.overviews(1) == [2, 4]
        assert src.tags(ns="rio_overview")["resampling"] == "average"
        np.testing.assert_array_equal(src.read(1), grid.array.astype(np.float32))


# ----------------------------------------------------------------------------- zonal statistics
def test_zonal_stats_uniform_points_in_a_square():
    rng = np.random.default_rng(21)
    n, side, h = 20_000, 10_000.0, 200.0
    xy = rng.uniform(0.0, side, (n, 2)) + [X0, Y0]
    grid = kernel_density(xy, crs=UTM50, bandwidth=h)
    # an inner zone 3h from the edges sees the uniform density n / area (firms per km²)
    inner = shapely.box(X0 + 1000, Y0 + 1000, X0 + 9000, Y0 + 9000)
    outside = shapely.box(X0 + 50_000, Y0, X0 + 51_000, Y0 + 1000)  # beyond the grid
    tiny = shapely.box(X0 + 1, Y0 + 1, X0 + 10, Y0 + 10)  # on the grid but covers no cell centre
    zones = gpd.GeoDataFrame({"name": ["inner", "outside", "tiny"]}, geometry=[inner, outside, tiny], crs=UTM50).to_crs(4326)
    table = zonal_stats(grid, zones, stats=("mean", "max", "min", "sum", "count", "area_km2"))
    assert list(table.columns) == ["name", "mean", "max", "min", "sum", "count", "area_km2"]
    assert table.index.equals(zones.index)
    expected_density = n / (side / 1000.0) ** 2  # 200 firms per km²
    row = table.iloc[0]
    # binomial sd of the count in the zone is ~0.6 %; allow 3 %
    assert row["mean"] == pytest.approx(expected_density, rel=0.03)
    inside_count = int(shapely.contains_xy(inner, xy[:, 0], xy[:, 1]).sum())
    assert row["sum"] == pytest.approx(inside_count, rel=0.01)
    assert row["area_km2"] == pytest.approx(64.0, rel=0.01)  # 8 km x 8 km
    assert row["count"] == round(64.0 / grid.cell_area_km2)
    assert row["min"] <= row["mean"] <= row["max"]
    out = table.iloc[1]
    assert out["count"] == 0 and out["sum"] == 0.0 and math.isnan(out["mean"]) and math.isnan(out["max"])
    assert grid.cell_size_m == 50.0 and X0 % 50.0 == 0.0  # cell centres at X0 + 25 + 50 k
    assert table.iloc[2]["count"] == 0 and table.iloc[2]["sum"] == 0.0
    assert table["count"].dtype == np.int64


def test_zonal_stats_far_zone_on_grid_has_zero_sum_and_cell_count():
    xy = clustered_xy()
    grid = kernel_density(xy, crs=UTM50, bandwidth=100.0, extent=(X0 - 20_000, Y0 - 20_000, X0 + 20_000, Y0 + 20_000), cell_size=100.0)
    far = gpd.GeoSeries([shapely.box(X0 + 15_000, Y0 + 15_000, X0 + 16_000, Y0 + 16_000)], crs=UTM50)
    table = zonal_stats(grid, far, stats=("sum", "count", "max"))
    assert table.loc[0, "count"] == 100
    assert table.loc[0, "sum"] == 0.0 and table.loc[0, "max"] == 0.0


def test_zonal_stats_sum_equals_masked_grid_sum():
    # sum = density x cell area over the cells whose centres are in the zone
    xy = clustered_xy()
    grid = kernel_density(xy, crs=UTM50, bandwidth=250.0)
    zone = shapely.Point(X0 + 500, Y0 + 200).buffer(1800.0)
    x, y = grid.cell_centres()
    gx, gy = np.meshgrid(x, y)
    inside = shapely.contains_xy(zone, gx, gy)
    table = zonal_stats(grid, gpd.GeoDataFrame({"park": ["P"]}, geometry=[zone], crs=UTM50), id_column="park", stats=("sum", "count", "mean", "std", "median"))
    assert table.loc[0, "count"] == inside.sum()
    assert table.loc[0, "sum"] == pytest.approx(grid.array[inside].sum() * grid.cell_area_km2, rel=1e-12)
    assert table.loc[0, "std"] == pytest.approx(grid.array[inside].std(), rel=1e-12)
    assert table.loc[0, "median"] == pytest.approx(np.median(grid.array[inside]), rel=1e-12)


def test_zonal_stats_errors():
    grid = kernel_density(clustered_xy(), crs=UTM50, bandwidth=300.0)
    zones = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.box(X0, Y0, X0 + 10, Y0 + 10)], crs=UTM50)
    with pytest.raises(InputError, match="`stats` must be"):
        zonal_stats(grid, zones, stats=("mean", "p90"))
    with pytest.raises(ColumnError, match="`id_column` 'park_id' is not in `zones`"):
        zonal_stats(grid, zones, id_column="park_id")
    with pytest.raises(CRSError, match="no CRS"):
        zonal_stats(grid, gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)]))
    with pytest.raises(InputError, match="must be a DensityGrid"):
        zonal_stats(np.zeros((3, 3)), zones)


# ----------------------------------------------------------------------------- groups
def test_kernel_density_by_shares_the_grid_and_sums_to_all():
    xy = clustered_xy()
    sectors = np.random.default_rng(2).choice(["lasers", "fibre", "sensors"], len(xy))
    firms = as_gdf(xy, sector=sectors)
    every = kernel_density(firms)
    groups = kernel_density_by(firms, "sector", groups=["lasers", "fibre", "sensors", "displays"])
    assert list(groups) == ["lasers", "fibre", "sensors", "displays"]
    for g in groups.values():
        assert g.shape == every.shape and g.transform == every.transform
        assert g.bandwidth_m == every.bandwidth_m
    assert groups["displays"].n_points == 0 and groups["displays"].total() == 0.0
    np.testing.assert_allclose(sum(g.array for g in groups.values()), every.array, rtol=1e-9, atol=1e-9 * every.array.max())
    with pytest.raises(ColumnError, match="`by` column 'industry'"):
        kernel_density_by(firms, "industry")


# ----------------------------------------------------------------------------- PNG overlay
@pytest.mark.parametrize("dst_crs", ["EPSG:3857", "EPSG:4326"])
def test_density_to_png_places_the_peak_at_the_right_lonlat(dst_crs, tmp_path):
    # one firm at a known place: the brightest pixel of the overlay must be there
    lon, lat = 114.40, 30.50
    x, y = pyproj.Transformer.from_crs(4326, UTM50, always_xy=True).transform(lon, lat)
    grid = kernel_density(np.array([[x, y]]), crs=UTM50, bandwidth=400.0)
    path = tmp_path / "overlay.png"
    (south, west), (north, east) = density_to_png(grid, path, dst_crs=dst_crs)
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[2] == 4
    alpha = img[..., 3]
    assert alpha.min() == 0.0 and alpha.max() == 1.0  # transparent low cells, opaque peak
    rows, cols = alpha.shape
    i, j = np.unravel_index(np.argmax(np.where(alpha > 0, img[..., :3].sum(axis=2), -1)), alpha.shape)
    plon = west + (j + 0.5) / cols * (east - west)
    if dst_crs == "EPSG:3857":  # Leaflet interpolates linearly in Web Mercator
        merc = pyproj.Transformer.from_crs(4326, 3857, always_xy=True)
        back = pyproj.Transformer.from_crs(3857, 4326, always_xy=True)
        _, ys = merc.transform([west, west], [south, north])
        _, plat = back.transform(west, ys[1] + (i + 0.5) / rows * (ys[0] - ys[1]))
    else:
        plat = north + (i + 0.5) / rows * (south - north)
    pix_deg = (north - south) / rows
    assert abs(plon - lon) < 1.5 * (east - west) / cols
    assert abs(plat - lat) < 1.5 * pix_deg
    # the bounds contain the grid's corners in lon/lat
    to_ll = pyproj.Transformer.from_crs(UTM50, 4326, always_xy=True)
    minx, miny, maxx, maxy = grid.bounds
    clon, clat = to_ll.transform([minx, minx, maxx, maxx], [miny, maxy, miny, maxy])
    assert west <= min(clon) + 1e-9 and east >= max(clon) - 1e-9
    assert south <= min(clat) + 1e-9 and north >= max(clat) - 1e-9


def test_density_to_png_buffer_nodata_transparent_and_size_cap():
    xy = clustered_xy()
    grid = kernel_density(xy, crs=UTM50, bandwidth=200.0, extent=shapely.Point(X0, Y0).buffer(2000.0))
    buf = io.BytesIO()
    bounds = density_to_png(grid, buf, max_size=64, min_fraction=0.0)
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    img = matplotlib.image.imread(io.BytesIO(buf.getvalue()))
    assert max(img.shape[:2]) <= 64
    # corners of the image are outside the disc: nodata -> transparent
    assert img[0, 0, 3] == 0.0 and img[-1, -1, 3] == 0.0
    assert img[img.shape[0] // 2, img.shape[1] // 2, 3] == 1.0
    assert bounds[0][0] < bounds[1][0] and bounds[0][1] < bounds[1][1]
    with pytest.raises(InputError, match="`cmap` must be"):
        density_to_png(grid, io.BytesIO(), cmap="no-such-map")
    with pytest.raises(InputError, match="`dst_crs` must be"):
        density_to_png(grid, io.BytesIO(), dst_crs="EPSG:32650")


# ----------------------------------------------------------------------------- errors
def test_geographic_crs_is_refused():
    lonlat = as_gdf(np.array([[114.4, 30.5], [114.5, 30.6]]), crs=4326)
    with pytest.raises(CRSError, match=r"not projected.*geo\.to_metric"):
        kernel_density(lonlat)
    with pytest.raises(CRSError, match="geo.to_metric"):
        kernel_density(np.array([[114.4, 30.5], [114.5, 30.6]]), crs=4326, bandwidth=0.01)
    with pytest.raises(CRSError, match="no CRS"):
        kernel_density(gpd.GeoDataFrame(geometry=shapely.points([[0, 0], [1, 1]])))
    with pytest.raises(CRSError, match="`crs` is required"):
        kernel_density(np.zeros((3, 2)))
    with pytest.raises(CRSError, match="unit is the metre"):
        kernel_density(np.array([[0.0, 0.0], [10.0, 5.0]]), crs=2249)  # US survey feet
    with pytest.raises(CRSError, match="differs from the CRS of `points`"):
        kernel_density(as_gdf(clustered_xy()), crs=32651)


@pytest.mark.parametrize("bw", ["silverman", "scott"])
def test_degenerate_point_sets_with_a_rule(bw):
    with pytest.raises(InputError, match="0 points"):
        kernel_density(np.empty((0, 2)), crs=UTM50, bandwidth=bw)
    with pytest.raises(StatisticsError, match="at least 2 points.*bandwidth=500"):
        kernel_density(np.array([[X0, Y0]]), crs=UTM50, bandwidth=bw)
    with pytest.raises(StatisticsError, match="all at the same place.*bandwidth=500"):
        kernel_density(np.full((10, 2), [X0, Y0]), crs=UTM50, bandwidth=bw)
    with pytest.raises(InputError, match="0 points"):
        kernel_density(as_gdf(np.empty((0, 2))), bandwidth=bw)


def test_degenerate_point_sets_with_a_fixed_bandwidth_are_well_defined():
    one = kernel_density(np.array([[X0, Y0]]), crs=UTM50, bandwidth=300.0)
    assert one.total() == pytest.approx(1.0, rel=0.01)
    same = kernel_density(np.full((10, 2), [X0, Y0]), crs=UTM50, bandwidth=300.0)
    np.testing.assert_allclose(same.array, 10 * one.array, rtol=1e-9, atol=1e-12)
    # the peak of one Gaussian firm: 1e6 / (2 pi h^2) per km², to ~1 % (isolated point)
    assert one.array.max() == pytest.approx(1e6 / (2 * math.pi * 300.0**2), rel=0.015)
    # zero points on a given extent: an all-zero surface, not a crash
    empty = kernel_density(np.empty((0, 2)), crs=UTM50, bandwidth=300.0, extent=(X0, Y0, X0 + 1000, Y0 + 1000))
    assert empty.n_points == 0 and empty.total() == 0.0
    with pytest.raises(StatisticsError):
        kernel_density(np.array([[X0, Y0], [X0 + 1, Y0]]), crs=UTM50, weights=[1.0, 0.0])


def test_bad_inputs_give_clear_errors():
    xy = clustered_xy()
    with pytest.raises(InputError, match="finite coordinates"):
        kernel_density(np.vstack([xy, [np.nan, Y0]]), crs=UTM50)
    with pytest.raises(InputError, match=r"shape \(n, 2\)"):
        kernel_density(np.zeros((5, 3)), crs=UTM50)
    with pytest.raises(InputError, match="Point geometries; Polygon"):
        kernel_density(gpd.GeoSeries([shapely.box(0, 0, 1, 1)], crs=UTM50))
    with pytest.raises(InputError, match="missing or empty"):
        kernel_density(gpd.GeoSeries([shapely.Point(0, 0), None], crs=UTM50))
    for bad in (0.0, -5.0, np.nan, "gauss", True):
        with pytest.raises(InputError, match="`bandwidth` must be"):
            kernel_density(xy, crs=UTM50, bandwidth=bad)
    with pytest.raises(InputError, match="`kernel` must be"):
        kernel_density(xy, crs=UTM50, kernel="epanechnikov")
    with pytest.raises(InputError, match="`cell_size` must be"):
        kernel_density(xy, crs=UTM50, cell_size=-1.0)
    with pytest.raises(InputError, match="cells .*too small"):
        kernel_density(xy, crs=UTM50, bandwidth=200.0, cell_size=0.5)
    with pytest.raises(InputError, match="minx < maxx"):
        kernel_density(xy, crs=UTM50, extent=(1.0, 0.0, 0.0, 1.0))
    with pytest.raises(InputError, match="`extent` must be None"):
        kernel_density(xy, crs=UTM50, extent="wuhan")
    with pytest.raises(InputError, match="Polygon or MultiPolygon"):
        kernel_density(xy, crs=UTM50, extent=shapely.LineString([(0, 0), (1, 1)]))
    with pytest.raises(InputError, match="one value per point"):
        kernel_density(xy, crs=UTM50, weights=[1.0, 2.0])
    with pytest.raises(InputError, match="non-negative"):
        kernel_density(xy, crs=UTM50, weights=-np.ones(len(xy)))
    with pytest.raises(ColumnError, match="'employees' is not in `points`"):
        kernel_density(as_gdf(xy), weights="employees")
    with pytest.raises(InputError, match="`rule` must be"):
        bandwidth(xy, crs=UTM50, rule="cv")


def test_doctests():
    result = doctest.testmod(geo.stats.density, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0


# ----------------------------------------------------------------------------- exactness of the fast paths
def _silverman_by_hand(xy: np.ndarray, w: np.ndarray | None) -> float:
    """The documented spatial Silverman rule from numpy alone; integer weights repeat a point
    (so the weighted median is numpy's median of the repeated distances)."""
    ww = np.ones(len(xy)) if w is None else w
    centre = np.average(xy, axis=0, weights=ww)
    d = np.hypot(*(xy - centre).T)
    sd = math.sqrt(np.average(d**2, weights=ww))
    dm = float(np.median(d if w is None else np.repeat(d, w.astype(int))))
    return 0.9 * min(sd, math.sqrt(1.0 / math.log(2.0)) * dm) * float(ww.sum()) ** -0.2


@pytest.mark.parametrize("n", [2, 3, 17, 1000, 50_000])
@pytest.mark.parametrize("weighted", [False, True])
def test_bandwidth_rules_equal_scipy_and_numpy(n, weighted):
    """Scott's rule is scipy's ``gaussian_kde`` bandwidth (its ``scotts_factor`` times the data's
    covariance); the spatial Silverman rule is the docstring's formula computed with numpy."""
    rng = np.random.default_rng(n)
    xy = rng.normal([X0, Y0], [3000.0, 800.0], (n, 2))
    w = rng.integers(0, 50, n).astype(float) if weighted else None
    if weighted:
        w[:2] = 1.0
    rows = np.ascontiguousarray(xy.T)
    for v in rows:  # the mean centre is summed point after point, as numpy sums the rows of an (n, 2) array
        assert geo.stats.density._sequential_sum(v) == np.column_stack([v, v]).sum(axis=0)[0]
    assert geo.stats.density._rule_bandwidth(rows, w, "silverman") == pytest.approx(_silverman_by_hand(xy, w), rel=1e-12)
    if n > 2:  # (scipy needs more points than dimensions)
        kde = stats.gaussian_kde(rows, bw_method="scott", weights=w)
        assert kde.factor == pytest.approx(kde.neff ** (-1.0 / 6.0), rel=1e-12)
        scott = math.sqrt(np.trace(kde.covariance) / 2.0)  # covariance = data covariance * factor**2
        assert geo.stats.density._rule_bandwidth(rows, w, "scott") == pytest.approx(scott, rel=1e-12)


def _assert_adjoint_of_bilinear_interpolation(binned, xy, w, left, top, cell):
    """Linear binning is the transpose of bilinear interpolation at the cell centres: for any
    field G on the grid, sum(binned * G) = sum over points of w * (G interpolated at the point),
    G taken as zero beyond the grid (scipy's RegularGridInterpolator on the grid padded by a
    ring of zero cells).  Checked for random fields."""
    from scipy.interpolate import RegularGridInterpolator

    nrow, ncol = binned.shape
    xc = left + (np.arange(-1, ncol + 1) + 0.5) * cell
    yc = top - (np.arange(nrow, -2, -1) + 0.5) * cell  # ascending y: the rows from the bottom
    ww = np.ones(len(xy)) if w is None else w
    for field in np.random.default_rng(0).normal(size=(3, nrow, ncol)):
        padded = np.pad(field, 1)[::-1]  # row 0 at the bottom, for ascending y
        at = RegularGridInterpolator((yc, xc), padded, bounds_error=False, fill_value=0.0)(xy[:, ::-1])
        assert float((binned * field).sum()) == pytest.approx(float((ww * at).sum()), rel=1e-9, abs=1e-9)
    within = (xy[:, 0] >= xc[1]) & (xy[:, 0] <= xc[-2]) & (xy[:, 1] >= yc[1]) & (xy[:, 1] <= yc[-2])
    assert binned.sum() >= ww[within].sum() - 1e-9 * ww.sum()  # the mass of the points between the centres is kept


@pytest.mark.parametrize("weighted", [False, True])
def test_linear_binning_equals_scipy_bilinear_interpolation_inside_and_at_the_edges(weighted):
    rng = np.random.default_rng(11)
    xy = rng.uniform(0.0, 1000.0, (5000, 2))
    w = rng.uniform(0.0, 3.0, len(xy)) if weighted else None
    rows = np.ascontiguousarray(xy.T)
    # a grid around every point (the fast path: no point needs masking), then grids that
    # cut points off on each side (the masked path)
    for left, top, nrow, ncol in ((-100.0, 1100.0, 60, 60), (200.0, 1100.0, 60, 60), (-100.0, 700.0, 60, 60),
                                  (-100.0, 1100.0, 30, 60), (-100.0, 1100.0, 60, 30)):
        got = geo.stats.density._linear_bin(rows, w, left, top, 20.0, nrow, ncol)
        _assert_adjoint_of_bilinear_interpolation(got, xy, w, left, top, 20.0)


def test_group_selection_equals_comparing_the_labels():
    base = ["b", "a", None, "b", "a"]
    columns = [pd.Series(base, dtype="str"), pd.Series(base, dtype="string[pyarrow]"), pd.Series(base, dtype=object),
               pd.Series(pd.Categorical(base)), pd.Series([1, 2, 3, 1, 2]), pd.Series([1.0, np.nan, 2.0, 1.0, 0.0])]
    for col in columns:
        select = geo.stats.density._group_selector(col)
        for g in ("a", "b", "c", 1, 1.0, 0, None):
            # labels == g, a missing label (NaN, None, pd.NA) equalling nothing
            expected = [not pd.isna(v) and bool(v == g) for v in col.to_numpy()]
            assert np.asarray(select(g), dtype=bool).tolist() == expected, (col.dtype, g)


def test_geoseries_and_coordinate_array_give_the_same_grid():
    xy = clustered_xy(4)
    a = kernel_density(as_gdf(xy))
    b = kernel_density(xy, crs=UTM50)
    assert np.array_equal(a.array, b.array) and a.bandwidth_m == b.bandwidth_m and a.transform == b.transform


def test_empty_and_nan_points_are_refused():
    with pytest.raises(InputError, match="1 of 3 are missing or empty"):
        kernel_density(gpd.GeoSeries([shapely.Point(X0, Y0), shapely.Point(), shapely.Point(X0 + 5, Y0)], crs=UTM50))
    with pytest.raises(InputError, match="2 of 3 are missing or empty"):
        kernel_density(gpd.GeoSeries([shapely.box(0, 0, 1, 1), None, shapely.Point()], crs=UTM50))
    with pytest.raises(InputError, match="finite coordinates; 1 of 2"):
        kernel_density(gpd.GeoSeries([shapely.Point(X0, Y0), shapely.Point(np.nan, Y0)], crs=UTM50))
