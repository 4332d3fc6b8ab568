"""read_firms / read_parks: formats, encodings, coordinate systems, every rejection reason."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import geo
from geo import crs as gcrs
from geo.errors import ColumnError, CRSError, DataFileError, InputError

HEADER = "firm_id,name,lon,lat,sector,founded,industry_code\n"


def _base_rows(n=30, lon0=114.40, lat0=30.50):
    rng = np.random.default_rng(1)
    lons = lon0 + rng.uniform(-0.1, 0.1, n)
    lats = lat0 + rng.uniform(-0.1, 0.1, n)
    return [f"F{i:03d},Firm {i},{lons[i]:.6f},{lats[i]:.6f},optics,{1990 + i % 30},0{3976 + i % 3}" for i in range(n)]


def _write(tmp_path, lines, name="firms.csv", encoding="utf-8", header=HEADER):
    p = tmp_path / name
    p.write_bytes((header + "\n".join(lines) + "\n").encode(encoding))
    return p


def _check_invariant(firms):
    r = firms.attrs["load_report"]
    assert r["rows_read"] == r["rows_kept"] + r["rows_rejected"]
    assert r["rows_kept"] == len(firms)
    assert r["rows_rejected"] == len(firms.attrs["rejects"])
    rows = set(firms.index) | set(firms.attrs["rejects"]["row"])
    assert rows == set(range(1, r["rows_read"] + 1))


def test_clean_csv_roundtrip(tmp_path):
    p = _write(tmp_path, _base_rows())
    firms = geo.read_firms(p)
    assert len(firms) == 30
    assert firms.crs.to_epsg() == 4326
    assert firms.index.name == "row" and list(firms.index[:3]) == [1, 2, 3]
    assert firms["founded"].dtype.kind == "i"
    # codes keep their leading zero, ids stay text
    assert firms["industry_code"].iloc[0] == "03976"
    assert firms["firm_id"].iloc[0] == "F000"
    assert np.allclose(firms.geometry.x, firms["lon"]) and not firms["stacked"].any()
    _check_invariant(firms)


def test_every_rejection_reason(tmp_path):
    rows = _base_rows()
    bad = [
        "B1,missing lon,,30.5,optics,2000,3976",
        "B2,missing lat,114.4,,optics,2000,3976",
        "B3,nan text,n/a,30.5,optics,2000,3976",
        "B4,letters,114.4,abc,optics,2000,3976",
        "B5,out of range,200.0,30.5,optics,2000,3976",
        "B6,zero,0,0,optics,2000,3976",
        rows[0],  # exact duplicate of row 1
        ",no id,114.41,30.51,optics,2000,3976",
        "B9,too many,114.4,30.5,optics,2000,3976,extra,fields",
    ]
    p = _write(tmp_path, rows + bad)
    firms = geo.read_firms(p)
    rej = firms.attrs["rejects"].set_index("row")
    reasons = rej["reason"].to_dict()
    assert reasons == {
        31: "missing_coordinate", 32: "missing_coordinate", 33: "not_a_number", 34: "not_a_number",
        35: "out_of_range", 36: "zero_zero", 37: "duplicate", 38: "missing_id", 39: "malformed_row",
    }
    assert rej.loc[37, "detail"] == "exact duplicate of row 1"
    # raw values are kept in the rejects table
    assert rej.loc[33, "lon"] == "n/a" and rej.loc[34, "lat"] == "abc"
    report = firms.attrs["load_report"]
    assert report["rejected_by_reason"] == {
        "duplicate": 1, "malformed_row": 1, "missing_coordinate": 2, "missing_id": 1,
        "not_a_number": 2, "out_of_range": 1, "zero_zero": 1,
    }
    _check_invariant(firms)


def test_swapped_rows_are_fixed_not_rejected(tmp_path):
    rows = _base_rows()
    rows.append("S1,swapped,30.512345,114.412345,optics,2001,3976")
    p = _write(tmp_path, rows)
    firms = geo.read_firms(p)
    assert len(firms) == 31
    fixed = firms.loc[31]
    assert fixed["swapped"] and fixed["lon"] == pytest.approx(114.412345) and fixed["lat"] == pytest.approx(30.512345)
    assert firms.attrs["load_report"]["fixed_swapped"] == 1
    _check_invariant(firms)


def test_swap_not_applied_when_other_rows_disagree(tmp_path):
    # a valid-looking pair far from the data is not "fixed": it stays as given
    rows = _base_rows()
    rows.append("S2,elsewhere,30.5,50.1,optics,2001,3976")
    firms = geo.read_firms(_write(tmp_path, rows))
    assert not firms.loc[31, "swapped"] and firms.loc[31, "lon"] == pytest.approx(30.5)


def test_stacked_geocodes_flagged_and_droppable(tmp_path):
    rows = _base_rows()
    rows += [f"ST{i},Stacked {i},114.300000,30.600000,optics,2005,3976" for i in range(12)]
    p = _write(tmp_path, rows)
    firms = geo.read_firms(p)
    assert firms["stacked"].sum() == 12
    assert firms.attrs["load_report"]["stacked_sites"] == 1
    dropped = geo.read_firms(p, drop_stacked=True)
    assert len(dropped) == 30
    assert (dropped.attrs["rejects"]["reason"] == "stacked").sum() == 12
    _check_invariant(dropped)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_encodings_detected(tmp_path, encoding):
    rows = [r.replace("Firm 1,", "武汉光谷激光有限公司,") for r in _base_rows()]
    header = "firm_id,name,经度,纬度,sector,founded,industry_code\n"
    p = _write(tmp_path, rows, encoding=encoding, header=header)
    firms = geo.read_firms(p)
    assert "武汉光谷激光有限公司" in set(firms["name"])
    assert firms.attrs["load_report"]["lon_column"] == "经度"
    expected = {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "gbk": "gb18030", "gb18030": "gb18030"}[encoding]
    assert firms.attrs["load_report"]["encoding"] == expected


def test_encoding_override_and_bad_encoding(tmp_path):
    p = _write(tmp_path, _base_rows(), encoding="gbk")
    assert len(geo.read_firms(p, encoding="gbk")) == 30
    with pytest.raises(DataFileError, match="Unknown encoding"):
        geo.read_firms(p, encoding="no-such-codec")


@pytest.mark.parametrize("sep,suffix", [("\t", "tsv"), (";", "csv"), ("|", "txt")])
def test_delimiters_sniffed(tmp_path, sep, suffix):
    lines = [r.replace(",", sep) for r in _base_rows()]
    p = _write(tmp_path, lines, name=f"f.{suffix}", header=HEADER.replace(",", sep))
    firms = geo.read_firms(p)
    assert len(firms) == 30 and firms.attrs["load_report"]["delimiter"] == sep


def _frame():
    rng = np.random.default_rng(2)
    return pd.DataFrame(
        {
            "firm_id": [f"F{i}" for i in range(40)],
            "name": [f"Firm {i}" for i in range(40)],
            "Longitude": 125.3 + rng.uniform(-0.05, 0.05, 40),
            "Latitude": 43.86 + rng.uniform(-0.05, 0.05, 40),
            "sector": ["optics"] * 40,
        }
    )


def test_excel_and_parquet(tmp_path):
    df = _frame()
    df.loc[3, "Longitude"] = np.nan
    xl = tmp_path / "firms.xlsx"
    with pd.ExcelWriter(xl) as w:
        pd.DataFrame({"a": [1]}).to_excel(w, sheet_name="notes", index=False)
        df.to_excel(w, sheet_name="firms", index=False)
    firms = geo.read_firms(xl, sheet="firms")
    assert len(firms) == 39 and firms.attrs["rejects"]["reason"].tolist() == ["missing_coordinate"]
    assert np.allclose(firms["lon"].to_numpy(), df["Longitude"].drop(3).to_numpy())
    with pytest.raises(DataFileError, match="no sheet 'nope'"):
        geo.read_firms(xl, sheet="nope")
    pq = tmp_path / "firms.parquet"
    df.to_parquet(pq)
    firms = geo.read_firms(pq)
    assert len(firms) == 39
    _check_invariant(firms)


@pytest.mark.parametrize("suffix", ["gpkg", "shp", "geojson"])
def test_point_layers(tmp_path, suffix):
    df = _frame()
    gdf = gpd.GeoDataFrame(df.drop(columns=["Longitude", "Latitude"]), geometry=gpd.points_from_xy(df.Longitude, df.Latitude), crs=4326)
    # one non-point feature (a Shapefile cannot hold one: a feature without geometry) is rejected
    gdf.loc[5, "geometry"] = None if suffix == "shp" else shapely.box(125.3, 43.8, 125.31, 43.81)
    path = tmp_path / f"firms.{suffix}"
    gdf.to_file(path)
    firms = geo.read_firms(path)
    assert len(firms) == 39
    rej = firms.attrs["rejects"]
    expected = "missing_coordinate" if suffix == "shp" else "not_a_point"
    assert rej["reason"].tolist() == [expected] and rej["row"].tolist() == [6]
    assert np.allclose(firms["lon"], df["Longitude"].drop(5))


def test_projected_point_layer_is_transformed(tmp_path):
    df = _frame()
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.Longitude, df.Latitude), crs=4326).to_crs(32651)
    path = tmp_path / "utm.gpkg"
    gdf.drop(columns=["Longitude", "Latitude"]).to_file(path)
    firms = geo.read_firms(path)
    assert np.allclose(firms["lon"], df["Longitude"], atol=1e-9)


def test_epsg_xy_columns(tmp_path):
    df = _frame()
    pts = gpd.GeoSeries(gpd.points_from_xy(df.Longitude, df.Latitude), crs=4326).to_crs(32651)
    table = pd.DataFrame({"firm_id": df.firm_id, "x": pts.x, "y": pts.y})
    p = tmp_path / "xy.csv"
    table.to_csv(p, index=False)
    firms = geo.read_firms(p, crs=32651)
    assert np.allclose(firms["lon"], df["Longitude"], atol=1e-9)
    assert firms["coord_sys"].iloc[0] == "EPSG:32651"


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_chinese_coordinates_converted(tmp_path, system):
    df = _frame()
    fwd = gcrs.wgs84_to_gcj02 if system == "gcj02" else gcrs.wgs84_to_bd09
    x, y = fwd(df.Longitude.to_numpy(), df.Latitude.to_numpy())
    table = pd.DataFrame({"firm_id": df.firm_id, "lng": x, "lat": y})
    p = tmp_path / "c.csv"
    table.to_csv(p, index=False, float_format="%.9f")
    firms = geo.read_firms(p, crs=system)
    dlon = firms["lon"].to_numpy() - df.Longitude.to_numpy()
    dlat = firms["lat"].to_numpy() - df.Latitude.to_numpy()
    err = np.hypot(dlon * 111320 * np.cos(np.radians(43.86)), dlat * 110540)
    assert err.max() < 0.01  # metres
    assert firms.attrs["load_report"]["converted"] == {system: 40}


def test_per_row_coord_sys_overrides(tmp_path):
    df = _frame()
    gx, gy = gcrs.wgs84_to_gcj02(df.Longitude.to_numpy(), df.Latitude.to_numpy())
    systems = np.where(np.arange(40) % 2 == 0, "gcj02", "wgs84")
    lon = np.where(systems == "gcj02", gx, df.Longitude)
    lat = np.where(systems == "gcj02", gy, df.Latitude)
    table = pd.DataFrame({"firm_id": df.firm_id, "lon": lon, "lat": lat, "coord_sys": systems})
    table.loc[7, "coord_sys"] = "mercator??"
    p = tmp_path / "mixed.csv"
    table.to_csv(p, index=False, float_format="%.9f")
    firms = geo.read_firms(p)
    assert firms.attrs["rejects"]["reason"].tolist() == ["unknown_coord_sys"]
    assert np.allclose(firms["lon"], df.Longitude.drop(7), atol=1e-7)
    assert firms.attrs["load_report"]["converted"] == {"gcj02": 20}


def test_column_detection_errors(tmp_path):
    p = _write(tmp_path, ["F1,a,114.4,30.5,114.4"], header="firm_id,name,lon,lat,longitude\n")
    with pytest.raises(ColumnError, match=r"Several columns .* \['lon', 'longitude'\]"):
        geo.read_firms(p)
    assert len(geo.read_firms(p, lon="longitude")) == 1
    p2 = _write(tmp_path, ["F1,a,114.4,30.5"], name="n.csv", header="firm_id,name,east,north\n")
    with pytest.raises(ColumnError, match="No longitude column"):
        geo.read_firms(p2)
    with pytest.raises(ColumnError, match="'nope'"):
        geo.read_firms(p2, lon="nope", lat="north")



def test_a_missing_file_names_its_near_namesake_or_the_missing_folder(tmp_path):
    """A typo in a path: the file of that folder it was meant to be, the files of its kind, or the folder that is not there."""
    (tmp_path / "firms.csv").write_text("lon,lat\n114.3,30.5\n", encoding="utf-8")
    (tmp_path / "other.csv").write_text("lon,lat\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"not found: '.*firm\.csv'\. Did you mean 'firms\.csv' \(in the same folder\)\?"):
        geo.read_firms(tmp_path / "firm.csv")
    with pytest.raises(DataFileError, match=r"\. The \.csv files of '.*' are: firms\.csv, other\.csv\."):
        geo.read_firms(tmp_path / "registry_2020.csv")
    with pytest.raises(DataFileError, match=r"The folder '.*data' does not exist\."):
        geo.read_firms(tmp_path / "data" / "sub" / "firms.csv")
    with pytest.raises(DataFileError) as err:  # an absolute path is not repeated as "resolved to"
        geo.read_firms(tmp_path / "firm.csv")
    assert "resolved to" not in str(err.value)

def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(DataFileError, match="not found: 'missing.csv'"):
        geo.read_firms("missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="empty"):
        geo.read_firms(empty)
    header_only = tmp_path / "h.csv"
    header_only.write_text(HEADER)
    with pytest.raises(InputError, match="no data rows"):
        geo.read_firms(header_only)
    weird = tmp_path / "f.xyz"
    weird.write_text("a")
    with pytest.raises(DataFileError, match="Unknown firm table format"):
        geo.read_firms(weird)
    with pytest.raises(CRSError):
        geo.read_firms(_write(tmp_path, _base_rows()), crs="martian")


# ----------------------------------------------------------------------------- parks
def _parks_gdf():
    bow = shapely.Polygon([(114.40, 30.45), (114.45, 30.50), (114.45, 30.45), (114.40, 30.50)])  # bow-tie
    ok = shapely.box(125.2, 43.8, 125.3, 43.9)
    return gpd.GeoDataFrame({"NAME": ["East Lake", "CC Park"], "city": ["Wuhan", "Changchun"], "year": [1991, None]}, geometry=[bow, ok], crs=4326)


def test_read_parks_repairs_and_maps_columns(tmp_path):
    path = tmp_path / "parks.gpkg"
    _parks_gdf().to_file(path)
    parks = geo.read_parks(path)
    assert list(parks.columns[:3]) == ["name", "valley", "designated"]
    assert parks["name"].tolist() == ["East Lake", "CC Park"]
    assert parks["valley"].tolist() == ["Wuhan", "Changchun"]
    assert parks["designated"].iloc[0] == 1991 and pd.isna(parks["designated"].iloc[1])
    assert parks.geometry.is_valid.all()
    rep = parks.attrs["repairs"]
    assert rep["name"].tolist() == ["East Lake"] and "Self-intersection" in rep["problem"].iloc[0]
    # the repaired bow-tie keeps its area (two triangles)
    assert parks.geometry.iloc[0].area == pytest.approx(0.05 * 0.05 / 2, rel=1e-9)
    assert parks.attrs["load_report"]["missing_designation_year"] == 1


def test_read_parks_rejects_non_polygons(tmp_path):
    gdf = _parks_gdf()
    gdf = pd.concat([gdf, gpd.GeoDataFrame({"NAME": ["a road"], "city": ["Wuhan"], "year": [2000]}, geometry=[shapely.LineString([(114, 30), (114.1, 30.1)])], crs=4326)])
    path = tmp_path / "parks.geojson"
    gdf.to_file(path)
    parks = geo.read_parks(path)
    assert len(parks) == 2
    assert parks.attrs["rejects"]["reason"].tolist() == ["not_a_polygon"]



def test_parks_in_metres_without_a_prj_say_what_the_coordinates_look_like(tmp_path):
    """A UTM shapefile whose .prj was lost: the message names the config key and says the values are metres."""
    gdf = _parks_gdf().to_crs(32650)
    path = tmp_path / "utm.shp"
    gdf.to_file(path)
    path.with_suffix(".prj").unlink()
    with pytest.raises(CRSError) as err:
        geo.read_parks(path)
    msg = str(err.value)
    assert msg.startswith("'utm.shp' has no coordinate reference system (no .prj?); its coordinates (x ")
    assert "look like projected metres" in msg and "Set [parks] crs = " in msg and '"EPSG:32650"' in msg
    assert "\n" not in msg and "e+06" not in msg
    wgs = tmp_path / "deg.shp"
    _parks_gdf().to_file(wgs)
    wgs.with_suffix(".prj").unlink()
    with pytest.raises(CRSError, match=r"look like longitude/latitude degrees\. Set \[parks\] crs = \"wgs84\""):
        geo.read_parks(wgs)


def test_a_park_file_of_several_layers_asks_which(tmp_path):
    """A GeoPackage with an old and a new park layer: never the first one silently, a named layer is read."""
    gdf = _parks_gdf()
    path = tmp_path / "parks.gpkg"
    gdf.iloc[[0]].to_file(path, layer="old_parks")
    gdf.to_file(path, layer="parks_2020")
    with pytest.raises(InputError, match=r"^'parks\.gpkg' has 2 layers \(old_parks, parks_2020\): say which holds the "
                                         r"parks with \[parks\] layer = "):
        geo.read_parks(path)
    with pytest.raises(InputError, match=r"has no layer 'parks_2021'; its layers are: old_parks, parks_2020\. "
                                         r"Did you mean 'parks_2020'\?"):
        geo.read_parks(path, layer="parks_2021")
    assert len(geo.read_parks(path, layer="parks_2020")) == len(gdf)

def test_read_parks_crs(tmp_path):
    gdf = _parks_gdf()
    path = tmp_path / "nocrs.shp"
    gdf.set_crs(None, allow_override=True).to_file(path)
    with pytest.raises(CRSError, match="no coordinate reference system"):
        geo.read_parks(path)
    assert len(geo.read_parks(path, crs="wgs84")) == 2
    # GCJ-02 digitised polygons are shifted back to WGS84
    g = gdf.copy()
    g["geometry"] = shapely.transform(gdf.geometry.values, lambda c: np.column_stack(gcrs.wgs84_to_gcj02(c[:, 0], c[:, 1])))
    p2 = tmp_path / "gcj.gpkg"
    g.to_file(p2)
    parks = geo.read_parks(p2, crs="gcj02")
    assert parks.geometry.iloc[1].equals_exact(gdf.geometry.iloc[1], tolerance=1e-7)
    with pytest.raises(ColumnError, match="No park name column"):
        geo.read_parks(_rename(tmp_path, gdf), crs="wgs84")


def _rename(tmp_path, gdf):
    p = tmp_path / "noname.gpkg"
    gdf.rename(columns={"NAME": "label"}).to_file(p)
    return p


def test_write_json_is_strict(tmp_path):
    from geo.outputs._write import write_json

    p = write_json({"a": np.float64("nan"), "b": np.int64(3), "c": pd.NA}, tmp_path / "x.json")
    assert json.loads(p.read_text()) == {"a": None, "b": 3, "c": None}


def test_big_layers_are_written_without_spatial_index(tmp_path, monkeypatch):
    import geopandas as gpd
    import pyogrio
    import shapely

    from geo.outputs import layers as glayers

    monkeypatch.setattr(glayers, "SPATIAL_INDEX_MAX_FEATURES", 10)
    small = gpd.GeoDataFrame({"a": range(5)}, geometry=shapely.points(range(5), range(5)), crs=4326)
    big = gpd.GeoDataFrame({"a": range(50)}, geometry=shapely.points(range(50), range(50)), crs=4326)
    p = glayers.write_layers({"small": small, "big": big}, tmp_path / "l.gpkg")
    info = {name: pyogrio.read_info(p, layer=name) for name in ("small", "big")}
    assert info["small"]["features"] == 5 and info["big"]["features"] == 50
    idx = pyogrio.read_dataframe(p, sql="SELECT table_name FROM gpkg_extensions WHERE extension_name = 'gpkg_rtree_index'")
    assert set(idx["table_name"]) == {"small"}


def _layer_set():
    poly = shapely.box(0, 0, 1, 1)
    multi = shapely.MultiPolygon([shapely.box(2, 2, 3, 3), shapely.box(4, 4, 5, 5)])
    firms = gpd.GeoDataFrame(
        {"firm_id": ["a", "b", None], "n": [1, 2, 3], "share": [0.5, np.nan, 1.0],
         "founded": pd.array([1999, None, 2005], dtype="Int64"), "flag": [True, False, True],
         "label": pd.Series(["光谷", None, "x"], dtype=object)},
        geometry=shapely.points([114.4, 114.5, 114.6], [30.5, 30.4, 30.6]), crs=4326)
    cells = gpd.GeoDataFrame({"cell_id": [7, 8]}, geometry=[poly, multi], crs=32650,
                             index=pd.Index([3, 4], name="cell"))
    table = pd.DataFrame({"valley": ["Wuhan", "Changchun"], "n_firms": [10, 20], "note": [None, {"k": 1}]})
    return {"firms": firms, "cells": cells, "nothing": None, "valleys": table}


@pytest.mark.parametrize("chunk_rows", [250_000, 2])
def test_layer_job_child_writes_what_write_layers_writes(tmp_path, monkeypatch, chunk_rows):
    """The writer process's file equals the calling thread's (write_layers): layers, order, fields, features."""
    import pyogrio

    from geo.outputs import layers as glayers

    monkeypatch.setattr(glayers, "CHILD_CHUNK_ROWS", chunk_rows)  # 2: the 3 firms travel in 2 batches

    inproc = glayers.write_layers(_layer_set(), tmp_path / "a.gpkg")
    job = glayers.LayerJob(_layer_set(), tmp_path / "b.gpkg", background=True)
    assert job._proc is not None  # really a child process
    child = job.wait()
    assert child == tmp_path / "b.gpkg" and job._proc.returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gpkg", "b.gpkg"]  # no temporary files left
    assert [tuple(x) for x in pyogrio.list_layers(child)] == [("firms", "Point"), ("cells", "MultiPolygon"), ("valleys", None)]
    assert [tuple(x) for x in pyogrio.list_layers(inproc)] == [tuple(x) for x in pyogrio.list_layers(child)]
    for name, _ in pyogrio.list_layers(inproc):
        ia, ib = pyogrio.read_info(inproc, layer=name), pyogrio.read_info(child, layer=name)
        for key in ("features", "fields", "dtypes", "geometry_type", "crs"):
            assert np.array_equal(np.asarray(ia[key]), np.asarray(ib[key])), (name, key)
        a, b = pyogrio.read_dataframe(inproc, layer=name), pyogrio.read_dataframe(child, layer=name)
        pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))
    got = pyogrio.read_dataframe(child, layer="firms")
    assert got["label"].tolist()[0] == "光谷" and got["founded"].isna().tolist() == [False, True, False]
    assert got.geometry.geom_equals_exact(_layer_set()["firms"].geometry, tolerance=0).all()
    assert pyogrio.read_info(child, layer="cells")["geometry_type"] == "MultiPolygon"


def _clashing_layers():
    """A GeoPackage refuses a field named like another but for case; Arrow files take it."""
    firms = _layer_set()["firms"]
    return {"firms": firms, "clash": firms.assign(N=firms["n"])}


def test_layer_job_failure_in_the_child_is_one_sentence_and_leaves_nothing(tmp_path):
    import pyogrio

    from geo.outputs import layers as glayers

    with pytest.raises(pyogrio.errors.FieldError, match="same name already exists"):  # in process: GDAL's own error
        glayers.write_layers(_clashing_layers(), tmp_path / "x.gpkg")
    assert list(tmp_path.iterdir()) == []
    job = glayers.LayerJob(_clashing_layers(), tmp_path / "m.gpkg", background=True)
    assert job._proc is not None
    with pytest.raises(DataFileError) as err:
        job.wait()
    msg = str(err.value)
    assert re.fullmatch(r"Writing .*m\.gpkg failed in the layer writer process \(exit code 1\); no partial file was left: "
                        r"FieldError: Error while creating field .* same name already exists\.\)\.", msg), msg
    assert "\n" not in msg and "Traceback" not in msg
    assert list(tmp_path.iterdir()) == []


def test_layer_job_killed_child_is_clear_and_leaves_nothing(tmp_path):
    from geo.outputs import layers as glayers

    job = glayers.LayerJob(_layer_set(), tmp_path / "m.gpkg", background=True)
    job._proc.kill()  # the child dies before it is done
    with pytest.raises(DataFileError, match=r"^Writing .*m\.gpkg failed in the layer writer process \(stopped by SIGKILL\); "
                                            r"no partial file was left\.$"):
        job.wait()
    assert list(tmp_path.iterdir()) == []


def test_layer_job_error_in_the_block_leaves_no_file(tmp_path):
    from geo.outputs import layers as glayers

    with pytest.raises(RuntimeError, match="report failed"), \
            glayers.LayerJob(_layer_set(), tmp_path / "l.gpkg", background=True) as job:
        proc = job._proc
        raise RuntimeError("report failed")
    assert proc.returncode is not None  # stopped, not left running
    assert list(tmp_path.iterdir()) == []


def test_results_write_hands_big_layers_to_the_child(demo_results, demo_output, tmp_path, monkeypatch, owner):
    """Under geo run's policy the whole demo layers.gpkg comes from the writer process, equal to the one written in process."""
    import pyogrio

    from geo.outputs import layers as glayers
    from geo.outputs import maps, report

    monkeypatch.setattr(glayers, "BACKGROUND_MIN_ROWS", 0)  # the demo's layers count as big
    children = []
    spec = glayers.LayerJob._spec
    monkeypatch.setattr(glayers.LayerJob, "_spec", lambda self, prepared: (children.append(len(prepared)), spec(self, prepared))[1])
    monkeypatch.setattr(maps, "write_maps", lambda results, folder: {})
    monkeypatch.setattr(report, "write_report", lambda results, out: out / "report.html")
    written = demo_results.write(tmp_path)
    assert len(children) == 1 and children[0] == len(pyogrio.list_layers(written["layers"]))
    ref = demo_output / "layers.gpkg"
    assert [tuple(x) for x in pyogrio.list_layers(written["layers"])] == [tuple(x) for x in pyogrio.list_layers(ref)]
    for name, _ in pyogrio.list_layers(ref):
        pd.testing.assert_frame_equal(pd.DataFrame(pyogrio.read_dataframe(written["layers"], layer=name)),
                                      pd.DataFrame(pyogrio.read_dataframe(ref, layer=name)))


def test_cells_layer_reuses_the_hotspot_reprojection_exactly(demo_results):
    import shapely

    from geo.outputs.layers import _wgs84_layer

    vr = next(iter(demo_results.valleys.values()))
    done: list = []
    hot = _wgs84_layer(vr.analysis.hotspots, done)
    cells = _wgs84_layer(vr.analysis.cells, done)
    assert len(done) == 1  # the cells reused the hot-spot geometry
    ref = vr.analysis.cells.to_crs("EPSG:4326")
    assert cells.geometry.name == ref.geometry.name and cells.crs == ref.crs
    assert list(cells.columns) == list(ref.columns)
    assert shapely.equals_exact(np.asarray(cells.geometry.values), np.asarray(ref.geometry.values), tolerance=0).all()
    pd.testing.assert_frame_equal(pd.DataFrame(cells.drop(columns="geometry")), pd.DataFrame(ref.drop(columns="geometry")))
    moved = vr.analysis.cells.copy()
    moved["geometry"] = moved.geometry.translate(1.0, 0.0)
    assert not shapely.equals_exact(np.asarray(_wgs84_layer(moved, done).geometry.values),
                                    np.asarray(hot.geometry.values), tolerance=0).all()
    assert len(done) == 2  # other geometry: reprojected, not reused


def test_whitespace_set_is_pythons():
    import sys

    from geo.io._text import _WHITESPACE

    assert _WHITESPACE == "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())


@pytest.mark.parametrize("background", [True, False])
def test_layer_job_add_appends_in_order(tmp_path, background):
    import pyogrio

    from geo.outputs import layers as glayers

    layers = _layer_set()
    ref = glayers.write_layers(layers, tmp_path / "ref.gpkg")
    names = list(layers)
    job = glayers.LayerJob({n: layers[n] for n in names[:1]}, tmp_path / "a.gpkg", background=background)
    assert (job._proc is not None) == background
    job.add({n: layers[n] for n in names[1:3]})
    job.add({n: layers[n] for n in names[3:]})
    got = job.wait()
    assert [tuple(x) for x in pyogrio.list_layers(got)] == [tuple(x) for x in pyogrio.list_layers(ref)]
    for name, _ in pyogrio.list_layers(ref):
        pd.testing.assert_frame_equal(pd.DataFrame(pyogrio.read_dataframe(got, layer=name)),
                                      pd.DataFrame(pyogrio.read_dataframe(ref, layer=name)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gpkg", "ref.gpkg"]


def test_layer_job_add_to_a_dead_child_raises_its_error(tmp_path):
    from geo.outputs import layers as glayers

    layers = _layer_set()
    job = glayers.LayerJob({"firms": layers["firms"]}, tmp_path / "a.gpkg", background=True)
    job._proc.kill()
    job._proc.wait()
    with pytest.raises(DataFileError, match=r"layer writer process \(stopped by SIGKILL\)"):
        job.add({"cells": layers["cells"]})
        job.wait()
    assert list(tmp_path.iterdir()) == []


def test_layer_job_after_a_failed_layer_writes_nothing_more(tmp_path):
    """A layer the child cannot write ends it: the next spec is not written, wait() raises, no file."""
    from geo.outputs import layers as glayers

    job = glayers.LayerJob({"clash": _clashing_layers()["clash"]}, tmp_path / "a.gpkg", background=True)
    job._proc.wait()  # failed on the first spec
    with pytest.raises(DataFileError, match="FieldError"):
        job.add({"cells": _layer_set()["cells"]})  # a broken pipe: the child's error
        job.wait()
    assert list(tmp_path.iterdir()) == []


def test_the_layer_writer_child_runs_this_tree_geo_from_any_folder(tmp_path, monkeypatch):
    """The child is started with -P and this package's folder first on PYTHONPATH: a ``geo`` in the
    current folder is not the one it imports."""
    from geo.outputs import layers as glayers

    fake = tmp_path / "cwd" / "geo"
    (fake / "outputs").mkdir(parents=True)
    (fake / "__init__.py").write_text("raise SystemExit('the wrong geo')\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path / "cwd")
    got = glayers.LayerJob(_layer_set(), tmp_path / "out" / "l.gpkg", background=True).wait()
    assert got.is_file()


def test_an_empty_park_file_says_it_has_no_park(tmp_path):
    """A park table with a header only, or a layer with no feature: one sentence, not 'no features with geometry'."""
    (tmp_path / "parks.csv").write_text("名称,经度,纬度,批准时间,核准面积\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"^'parks\.csv' has no park: its header \(名称, .*\) has no row below it\."):
        geo.read_parks(tmp_path / "parks.csv")
    (tmp_path / "parks.geojson").write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    with pytest.raises(InputError, match=r"^'parks\.geojson' has no park: it holds no feature\."):
        geo.read_parks(tmp_path / "parks.geojson")


def test_a_firm_layer_of_several_layers_is_refused_and_a_layer_crs_is_not_said_assumed(tmp_path):
    """A GeoPackage with an old and a new firm layer is never read by its first layer; a one-layer file with a CRS
    needs no [firms] crs, so the run does not say WGS84 was assumed."""
    from geo.config import config_from_dict
    from geo.pipeline.checks import crs_assumption

    pts = gpd.GeoDataFrame({"name": ["a", "b", "c"]}, geometry=gpd.points_from_xy([114.3, 114.4, 114.5], [30.5, 30.5, 30.6]),
                           crs=4326)
    path = tmp_path / "firms.gpkg"
    pts.iloc[:1].to_file(path, layer="firms_2010")
    pts.to_file(path, layer="firms_2020")
    with pytest.raises(DataFileError, match=r"^'firms\.gpkg' has 2 layers \(firms_2010, firms_2020\): a firm table is one "
                                            r"layer\. Save the layer of the firms as a file of its own"):
        geo.read_firms(path)
    one = tmp_path / "one.gpkg"
    pts.to_file(one)
    firms = geo.read_firms(one)
    assert len(firms) == 3
    cfg = config_from_dict({"firms": {"path": str(one)}})
    assert crs_assumption(cfg, firms.attrs["load_report"]) == []
    csv = tmp_path / "firms.csv"
    csv.write_text("lon,lat\n114.3,30.5\n", encoding="utf-8")
    report = geo.read_firms(csv).attrs["load_report"]
    assert crs_assumption(config_from_dict({"firms": {"path": str(csv)}}), report)[0].startswith(
        "the coordinates of firms.csv were taken as WGS84 (GPS)")


def test_a_misspelt_coordinate_column_names_the_config_key_and_the_close_column(tmp_path):
    path = tmp_path / "firms.csv"
    path.write_text("企业名称,经度,纬度\nA,114.3,30.5\n", encoding="utf-8")
    with pytest.raises(ColumnError, match=r"^Column '经' \(longitude, \[firms\] lon in a config\) is not in .*"
                                          r"Did you mean '经度'\?$"):
        geo.read_firms(path, lon="经")
