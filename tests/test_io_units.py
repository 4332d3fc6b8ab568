"""Counts on given units (geo.io.units, [cells] of geo.config): districts, a yearly GeoTIFF, cell
centres; rejects with row numbers, nodata cells, multipart units, clear errors."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from geo.config import config_from_dict
from geo.errors import ColumnError, ConfigError, CRSError, InputError
from geo.io.units import UNIT_REJECT_REASONS, read_units
from tests.units_fixtures import GRID_YEARS, grid_counts, write_districts, write_grid


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("units")
    return {"districts": write_districts(d / "districts.gpkg"), "grid": write_grid(d / "grid.tif"), "dir": d}


def _balanced(units) -> None:
    lr = units.attrs["load_report"]
    assert lr["units_loaded"] + lr["units_rejected"] == lr["units_read"]
    assert len(units) == lr["units_loaded"] and len(units.attrs["rejects"]) == lr["units_rejected"]


def test_district_layer_counts_rejects_and_multipart(files):
    u = read_units(files["districts"], id_column="district_id", name_column="name", year_columns="optics_{year}",
                   valley_column="valley", denominator_column="population")
    _balanced(u)
    lr = u.attrs["load_report"]
    assert lr["units_read"] == 39 and lr["units_loaded"] == 37
    rej = u.attrs["rejects"].set_index("unit_id")
    assert rej.loc["D38", "reason"] == "empty_geometry" and rej.loc["D38", "row"] == 38
    assert rej.loc["D39", "reason"] == "negative_count" and "optics_2015 = -1" in rej.loc["D39", "detail"]
    assert set(rej["reason"]) <= set(UNIT_REJECT_REASONS)
    # the count is the last year's column; every year is kept
    assert lr["count_column"] == "optics_2015" and list(lr["year_columns"]) == list(range(2005, 2016))
    raw = pyogrio.read_dataframe(files["districts"]).set_index("district_id")
    np.testing.assert_array_equal(u["count"], raw.loc[u["unit_id"], "optics_2015"])
    np.testing.assert_array_equal(u["count_2008"], raw.loc[u["unit_id"], "optics_2008"])
    # a MultiPolygon layer: only the district with an exclave is multipart, and it is kept whole
    assert lr["multipart"] == 1 and lr["multipart_ids"] == ["D31"]
    assert shapely.get_num_geometries(u.set_index("unit_id").geometry["D31"]) == 2
    assert lr["integer_counts"] is True and u.crs.to_epsg() == 4326


def test_text_counts_non_numeric_and_missing_are_rejections(tmp_path):
    frame = gpd.GeoDataFrame(
        {"id": ["a", "b", "c", "d"], "n": ["12", "n/a", "", "7"]},
        geometry=[shapely.box(i, 0, i + 1, 1) for i in range(4)], crs="EPSG:4326")
    path = tmp_path / "text.gpkg"
    frame.to_file(path)
    u = read_units(path, id_column="id", count_column="n")
    _balanced(u)
    rej = u.attrs["rejects"].set_index("unit_id")
    assert rej.loc["b", "reason"] == "non_numeric_count" and rej.loc["b", "row"] == 2 and "'n/a'" in rej.loc["b", "detail"]
    assert rej.loc["c", "reason"] == "missing_count" and rej.loc["c", "row"] == 3
    assert u["count"].tolist() == [12.0, 7.0]


def test_geotiff_bands_nodata_and_partial_nodata(files):
    u = read_units(files["grid"], band_years=GRID_YEARS)
    _balanced(u)
    lr = u.attrs["load_report"]
    bands, _ = grid_counts()
    assert lr["nodata_cells"] == 4  # the lake: nodata in every band, not units
    assert lr["units_read"] == 144 - 4 and lr["units_loaded"] == 139
    rej = u.attrs["rejects"]
    assert rej["unit_id"].tolist() == ["r5_c5"] and rej["reason"].tolist() == ["nodata_some_years"]
    assert rej["row"].tolist() == [5 * 12 + 5 + 1 - 4]  # the 1-based number of the cell among those with data
    cell = u.set_index("unit_id").loc["r8_c9"]
    assert cell["count"] == bands[-1, 8, 9] and cell["count_2011"] == bands[1, 8, 9]
    # cell r8_c9 is 0.01° wide, its top-left corner at 114.30 + 9 * 0.01, 30.56 - 8 * 0.01
    x0, y0, x1, y1 = u.set_index("unit_id").geometry["r8_c9"].bounds
    assert (x0, y1) == pytest.approx((114.39, 30.48)) and x1 - x0 == pytest.approx(0.01) and y1 - y0 == pytest.approx(0.01)


def test_geotiff_bands_need_years(files):
    with pytest.raises(InputError, match="5 bands: say which year each holds"):
        read_units(files["grid"])
    with pytest.raises(InputError, match="lists 2 years but 'grid.tif' has 5 band"):
        read_units(files["grid"], band_years=(2010, 2011))


def test_centres_csv_is_the_grid_again(files, tmp_path):
    grid = read_units(files["grid"], band_years=GRID_YEARS)
    c = grid.geometry.centroid
    table = pd.DataFrame({"x": c.x.round(6), "y": c.y.round(6), "optics": grid["count"].astype(int)})
    table.loc[len(table)] = [np.nan, 30.5, 3]  # a row without its centre: a rejection
    path = tmp_path / "centres.csv"
    table.to_csv(path, index=False)
    u = read_units(path, count_column="optics", cell_size=0.01)
    _balanced(u)
    assert u.attrs["rejects"]["reason"].tolist() == ["missing_centre"]
    assert u.attrs["rejects"]["row"].tolist() == [len(table)]
    assert np.allclose(u.area.to_numpy(), 1e-4) and len(u) == len(grid)
    with pytest.raises(InputError, match="cell_size"):
        read_units(path, count_column="optics")


def test_gcj02_units_are_converted(files):
    wgs = read_units(files["districts"], id_column="district_id", year_columns="optics_{year}")
    gcj = read_units(files["districts"], id_column="district_id", year_columns="optics_{year}", crs="gcj02")
    shift = wgs.geometry.centroid.x.to_numpy() - gcj.geometry.centroid.x.to_numpy()
    # GCJ-02 is ~500 m east of WGS84 near Wuhan: the converted districts move back west
    assert np.all((shift > 0.003) & (shift < 0.008))
    assert gcj.attrs["load_report"]["converted_from"] == "gcj02"


# ----------------------------------------------------------------------------- bad input: one clear sentence
def test_wrong_crs_projected_coordinates_labelled_wgs84(tmp_path):
    frame = gpd.GeoDataFrame({"n": [1, 2]}, geometry=[shapely.box(500_000, 3_300_000, 501_000, 3_301_000),
                                                       shapely.box(501_000, 3_300_000, 502_000, 3_301_000)],
                             crs="EPSG:4326")
    frame.to_file(tmp_path / "bad.gpkg")
    with pytest.raises(CRSError, match="not longitudes and latitudes.*Set \\[cells\\] crs"):
        read_units(tmp_path / "bad.gpkg", count_column="n")


def test_no_crs_and_crs_clash(tmp_path):
    frame = gpd.GeoDataFrame({"n": [1, 2]}, geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)])
    frame.to_file(tmp_path / "nocrs.gpkg")
    with pytest.raises(CRSError, match="has no coordinate system: set \\[cells\\] crs"):
        read_units(tmp_path / "nocrs.gpkg", count_column="n")
    assert len(read_units(tmp_path / "nocrs.gpkg", count_column="n", crs=4326)) == 2
    frame.set_crs(4326).to_file(tmp_path / "wgs.gpkg")
    with pytest.raises(CRSError, match="says it is in EPSG:4326"):
        read_units(tmp_path / "wgs.gpkg", count_column="n", crs=32650)


def test_missing_count_column_names_the_columns(files):
    with pytest.raises(ColumnError, match="count_column 'optics' is not a column of 'districts.gpkg'; its columns are"):
        read_units(files["districts"], count_column="optics")
    with pytest.raises(ColumnError, match="year_columns = 'electronics_\\{year\\}' matches no column"):
        read_units(files["districts"], year_columns="electronics_{year}")
    with pytest.raises(ColumnError, match="count_column is needed"):
        read_units(files["districts"])


def test_empty_layer(tmp_path):
    frame = gpd.GeoDataFrame({"n": pd.Series([], dtype=int)}, geometry=[], crs="EPSG:4326")
    frame.to_file(tmp_path / "empty.gpkg")
    with pytest.raises(InputError, match="'empty.gpkg' is empty: no features"):
        read_units(tmp_path / "empty.gpkg", count_column="n")


def test_duplicate_ids(tmp_path):
    frame = gpd.GeoDataFrame({"id": ["a", "a"], "n": [1, 2]}, geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
                             crs=4326)
    frame.to_file(tmp_path / "dup.gpkg")
    with pytest.raises(InputError, match="repeats ids \\('a'\\)"):
        read_units(tmp_path / "dup.gpkg", id_column="id", count_column="n")


# ----------------------------------------------------------------------------- [cells] in the config
def test_cells_config():
    cfg = config_from_dict({"cells": {"path": "d.gpkg", "year_columns": "optics_{year}", "weights": "rook"}})
    assert cfg.input_kind == "given units" and cfg.cells.weights == "rook" and cfg.firms.path is None
    with pytest.raises(ConfigError, match="Unknown key\\(s\\) \\['count'\\] in \\[cells\\]; valid keys are"):
        config_from_dict({"cells": {"path": "d.gpkg", "count": "x"}})
    with pytest.raises(ConfigError, match="weights must be one of"):
        config_from_dict({"cells": {"path": "d.gpkg", "weights": "kernel"}})
    with pytest.raises(ConfigError, match="year_columns must be a pattern with \\{year\\}"):
        config_from_dict({"cells": {"path": "d.gpkg", "year_columns": "optics"}})
    with pytest.raises(ConfigError, match="smooths rates: set \\[cells\\] denominator"):
        config_from_dict({"cells": {"path": "d.gpkg", "smoothing": "empirical_bayes"}})
    with pytest.raises(ConfigError, match="both given"):
        config_from_dict({"cells": {"path": "d.gpkg"}, "firms": {"path": "f.csv"}})
    with pytest.raises(ConfigError, match="\\[firms\\] path is required.*\\[cells\\] path"):
        config_from_dict({})


def test_bad_denominator_is_a_rejection(tmp_path):
    frame = gpd.GeoDataFrame({"id": ["a", "b", "c"], "n": [1, 2, 3], "pop": [100.0, 0.0, np.nan]},
                             geometry=[shapely.box(i, 0, i + 1, 1) for i in range(3)], crs=4326)
    frame.to_file(tmp_path / "pop.gpkg")
    u = read_units(tmp_path / "pop.gpkg", id_column="id", count_column="n", denominator_column="pop")
    _balanced(u)
    assert u["unit_id"].tolist() == ["a"] and u["denominator"].tolist() == [100.0]
    assert u.attrs["rejects"]["reason"].tolist() == ["bad_denominator", "bad_denominator"]


def test_cells_with_the_dask_engine_is_refused():
    with pytest.raises(ConfigError, match="in-memory engine"):
        config_from_dict({"cells": {"path": "d.gpkg"}, "run": {"engine": "dask"}})


def test_geotiff_without_crs(tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    path = tmp_path / "nocrs.tif"
    with rasterio.open(path, "w", driver="GTiff", width=3, height=2, count=1, dtype="int16",
                       transform=from_origin(114.0, 30.5, 0.01, 0.01)) as dst:
        dst.write(np.arange(6, dtype="int16").reshape(1, 2, 3))
    with pytest.raises(CRSError, match="The GeoTIFF 'nocrs.tif' has no coordinate system"):
        read_units(path)
    u = read_units(path, crs="wgs84")
    assert len(u) == 6 and u.set_index("unit_id").loc["r1_c2", "count"] == 5


def test_the_generator_still_writes_the_committed_example(tmp_path):
    import rasterio

    from tests.study import ROOT
    from tests.units_fixtures import write_example

    committed = ROOT / "data" / "examples" / "units"
    for new in write_example(tmp_path):
        old = committed / new.name
        if new.suffix == ".tif":  # compare the cells, not the bytes (GDAL writes its version in the tags)
            with rasterio.open(new) as a, rasterio.open(old) as b:
                np.testing.assert_array_equal(a.read(), b.read())
                assert a.transform == b.transform and a.crs == b.crs and a.nodata == b.nodata
        else:
            assert new.read_bytes() == old.read_bytes(), new.name


def test_a_misnamed_unit_column_is_suggested_and_a_grid_has_no_columns(files):
    """A typo in [cells] id_column gets the close column; "km2" as a denominator points to "area"; a GeoTIFF has no
    column to name at all."""
    with pytest.raises(ColumnError, match=r"\[cells\] id_column 'district_idx' is not a column .* Did you mean 'district_id'\?$"):
        read_units(files["districts"], id_column="district_idx", year_columns="optics_{year}")
    with pytest.raises(ColumnError, match=r"denominator 'km2' is not a column .*\]\. denominator = \"area\" \(firms per km²\) "
                                          r"needs no column\.$"):
        read_units(files["districts"], year_columns="optics_{year}", denominator_column="km2")
    with pytest.raises(ColumnError, match=r"^\[cells\] denominator = 'population': a GeoTIFF has no columns besides its bands"):
        read_units(files["grid"], band_years=list(GRID_YEARS), denominator_column="population")
