"""Parks without outlines (issue 18, point 3): a park point with an approved area becomes a disc of
that area, flagged ``approximate_boundary`` in every output; bad park points are rejects or one
clear sentence.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from pyproj import Geod

from geo import crs as gcrs
from geo.cli import main
from geo.errors import ColumnError, InputError
from geo.io.parks import MAX_PARK_AREA_KM2, approximate_discs, read_parks
from geo.outputs.maps.layers import APPROXIMATE_DASH
from tests.study import CENTRES, make_study

GEOD = Geod(ellps="WGS84")
APPROX = "approximate boundary (a disc of the approved area)"


def _geodesic_km2(poly) -> float:
    return abs(GEOD.geometry_area_perimeter(poly)[0]) / 1e6


def _catalogue(path, rows: list[dict]):
    """A park table with the national development-zone catalogue's Chinese headers."""
    pd.DataFrame(rows).to_csv(path, index=False, encoding="utf-8")
    return path


def _zone(name, valley, lon, lat, *, area="9", date="2000-04-01", level="国家级"):
    return {"开发区名称": name, "城市": valley, "批准时间": date, "核准面积": area, "级别": level, "经度": lon, "纬度": lat}


def _cli(capsys, command: str, config) -> tuple[int, str, str]:
    code = main([command, str(config)] + (["--out", str(config.parent / "out"), "-q"] if command == "run" else []))
    out = capsys.readouterr()
    return code, out.out, out.err


# ----------------------------------------------------------------------------- the disc
@pytest.mark.parametrize("lon, lat", [(114.40, 30.50), (125.30, 43.85), (119.95, 20.0), (87.6, 43.8)])
@pytest.mark.parametrize("area", [0.5, 9.0, 150.0, 1999.0])
def test_disc_area_equals_the_approved_area_on_the_ellipsoid(lon, lat, area):
    import geopandas as gpd
    import shapely

    disc = approximate_discs(gpd.GeoSeries(shapely.points([lon], [lat]), crs=4326), [area]).iloc[0]
    assert disc.geom_type == "Polygon" and len(disc.exterior.coords) == 64 + 1  # 64 segments, closed
    got = _geodesic_km2(disc)
    assert got == pytest.approx(area, rel=0.005)
    # every vertex lies at r = sqrt(A / pi) from the point, on the ellipsoid (within the UTM scale error)
    xs, ys = np.asarray(disc.exterior.coords).T
    _, _, dist = GEOD.inv(np.full(xs.size, lon), np.full(xs.size, lat), xs, ys)
    r = np.sqrt(area * 1e6 / np.pi)
    assert np.abs(dist / r - 1).max() < 0.003


def test_discs_in_several_utm_zones_each_keep_their_area():
    import geopandas as gpd
    import shapely

    lon, lat, area = [87.6, 114.4, 126.6], [43.8, 30.5, 45.7], [12.0, 48.0, 3.0]  # zones 45, 50, 52
    discs = approximate_discs(gpd.GeoSeries(shapely.points(lon, lat), crs=4326, index=[7, 8, 9]), area)
    assert discs.index.tolist() == [7, 8, 9] and discs.crs.to_epsg() == 4326
    assert [_geodesic_km2(d) for d in discs] == pytest.approx(area, rel=0.005)


# ----------------------------------------------------------------------------- the reader
def test_the_catalogue_headers_and_gcj02_points(tmp_path):
    lon, lat = 114.41024449916938, 30.50
    path = _catalogue(tmp_path / "zones.csv", [
        _zone("武汉东湖新技术开发区", "Wuhan", lon, lat, area="9.5", date="1991-03-06"),
        _zone("长春高新技术产业开发区", "Changchun", 125.30, 43.85, area="19", date="1991年3月", level="省级"),
    ])
    parks = read_parks(path, crs="gcj02")
    rep = parks.attrs["load_report"]
    assert (rep["name_column"], rep["designated_column"], rep["area_column"], rep["level_column"]) == \
        ("开发区名称", "批准时间", "核准面积", "级别")
    assert (rep["lon_column"], rep["lat_column"], rep["approximate_boundaries"]) == ("经度", "纬度", 2)
    assert parks["name"].tolist() == ["武汉东湖新技术开发区", "长春高新技术产业开发区"]
    assert parks["designated"].tolist() == [1991, 1991]
    assert parks["level"].tolist() == ["国家级", "省级"]
    assert parks["approved_area_km2"].tolist() == [9.5, 19.0]
    assert parks["approximate_boundary"].tolist() == [True, True]
    assert [_geodesic_km2(g) for g in parks.geometry] == pytest.approx([9.5, 19.0], rel=0.005)
    # the disc's centre is the GCJ-02 point converted to WGS84 by geo.crs (not the raw point)
    utm = gcrs.utm_crs_for([lon], [lat])
    centre = parks.geometry.iloc[[0]].to_crs(utm).centroid.to_crs(4326).iloc[0]
    wx, wy = gcrs.gcj02_to_wgs84([lon], [lat])
    assert (centre.x, centre.y) == pytest.approx((wx[0], wy[0]), abs=1e-7)
    assert abs(centre.x - lon) > 1e-3  # the offset is hundreds of metres: a missed conversion fails


def test_an_excel_catalogue_reads_like_the_csv(tmp_path):
    pd.DataFrame([{"name": "Zone A", "level": "national", "approved_area_km2": 2.5, "lng": 114.4, "lat": 30.5,
                   "approval_date": "2006-06-30"}]).to_excel(tmp_path / "zones.xlsx", index=False)
    parks = read_parks(tmp_path / "zones.xlsx")
    assert parks[["name", "level", "approved_area_km2", "approximate_boundary"]].to_dict(orient="records") == [
        {"name": "Zone A", "level": "national", "approved_area_km2": 2.5, "approximate_boundary": True}]
    assert parks["designated"].tolist() == [2006]
    assert _geodesic_km2(parks.geometry.iloc[0]) == pytest.approx(2.5, rel=0.005)


@pytest.mark.parametrize("header, value, km2", [("核准面积（公顷）", "900", 9.0), ("核准面积(km²)", "9", 9.0),
                                               ("核准面积 (平方公里)", "9", 9.0), ("area_km2 (ha)", "450", 4.5)])
def test_an_area_header_may_name_its_unit(tmp_path, header, value, km2):
    pd.DataFrame({"开发区名称": ["A"], header: [value], "经度": [114.4], "纬度": [30.5]}).to_csv(tmp_path / "z.csv", index=False)
    parks = read_parks(tmp_path / "z.csv")
    assert parks["approved_area_km2"].tolist() == [km2]
    assert _geodesic_km2(parks.geometry.iloc[0]) == pytest.approx(km2, rel=0.005)
    assert parks.attrs["load_report"]["area_column"] == header
    converted = [n for n in parks.attrs["load_report"]["notes"] if "approved areas of column" in n]
    assert converted == ([f"z.csv: approved areas of column {header!r} converted to km² (× 0.01)"] if km2 != float(value) else [])
    disc = [n for n in parks.attrs["load_report"]["notes"] if "a disc of the approved area" in n]
    assert len(disc) == 1 and (f"({header!r}, converted to km²)" if km2 != float(value) else f"({header!r}, km²)") in disc[0]


def test_an_area_in_an_unknown_unit_is_not_taken_for_km2(tmp_path):
    pd.DataFrame({"开发区名称": ["A"], "核准面积（亩）": ["900"], "经度": [114.4], "纬度": [30.5]}).to_csv(tmp_path / "z.csv", index=False)
    with pytest.raises(InputError, match="holds no polygon.*a unit in brackets may follow"):
        read_parks(tmp_path / "z.csv")


def test_a_point_layer_in_bd09_is_converted_like_firms(tmp_path):
    import geopandas as gpd
    import shapely

    lon, lat = 114.4165, 30.5065
    gpd.GeoDataFrame({"name": ["P"], "area_km2": [4.0]}, geometry=shapely.points([lon], [lat]), crs=4326) \
        .to_file(tmp_path / "p.gpkg")
    parks = read_parks(tmp_path / "p.gpkg", crs="bd09")
    utm = gcrs.utm_crs_for([lon], [lat])
    centre = parks.geometry.to_crs(utm).centroid.to_crs(4326).iloc[0]
    wx, wy = gcrs.bd09_to_wgs84([lon], [lat])
    assert (centre.x, centre.y) == pytest.approx((wx[0], wy[0]), abs=1e-7)


def test_polygon_parks_are_not_approximate_and_keep_their_area_column(tmp_path):
    import geopandas as gpd

    s = make_study(tmp_path)
    p = gpd.read_file(s.parks)
    p["area_km2"] = [1.0, 2.0]
    p.to_file(tmp_path / "poly.gpkg")
    parks = read_parks(tmp_path / "poly.gpkg")
    assert parks["approximate_boundary"].tolist() == [False, False]
    assert parks["area_km2"].tolist() == [1.0, 2.0] and "approved_area_km2" not in parks
    assert parks.geometry.geom_type.tolist() == ["Polygon", "Polygon"]


def test_bad_park_points_are_rejects_with_row_and_reason(tmp_path):
    path = _catalogue(tmp_path / "zones.csv", [
        _zone("ok", "Wuhan", 114.4, 30.5),
        _zone("negative", "Wuhan", 114.5, 30.5, area="-3"),
        _zone("zero", "Wuhan", 114.5, 30.5, area="0"),
        _zone("empty", "Wuhan", 114.5, 30.5, area=""),
        _zone("text", "Wuhan", 114.5, 30.5, area="about ten"),
        _zone("absurd", "Wuhan", 114.5, 30.5, area=str(MAX_PARK_AREA_KM2 + 1)),
        _zone("nowhere", "Wuhan", "", 30.5),
        _zone("lat text", "Wuhan", 114.5, "north"),
    ])
    parks = read_parks(path)
    assert parks["name"].tolist() == ["ok"] and parks.index.tolist() == [1]
    rej = parks.attrs["rejects"]
    assert rej["row"].tolist() == [2, 3, 4, 5, 6, 7, 8]
    assert rej["reason"].tolist() == ["bad_area", "bad_area", "missing_area", "missing_area", "bad_area",
                                      "missing_coordinates", "missing_coordinates"]
    detail = dict(zip(rej["name"], rej["detail"]))
    assert detail["negative"] == "approved area (核准面积) '-3' km² is not positive"
    assert detail["empty"] == "approved area (核准面积) empty is not a number of km²"
    assert "larger than 2,000 km²" in detail["absurd"]
    assert detail["nowhere"] == "longitude or latitude empty or not a number"


def test_points_without_an_area_column_stop_with_one_sentence(tmp_path):
    import geopandas as gpd
    import shapely

    gpd.GeoDataFrame({"name": ["A", "B"], "designated": [2000, 2001]}, geometry=shapely.points([114.4, 114.5], [30.5, 30.5]),
                     crs=4326).to_file(tmp_path / "pts.gpkg")
    with pytest.raises(InputError) as err:
        read_parks(tmp_path / "pts.gpkg")
    msg = str(err.value)
    assert "'pts.gpkg' holds no polygon, so no park can be tested" in msg and "Point (2)" in msg
    assert "['approved_area_km2', 'area_km2', '核准面积']" in msg and "['name', 'designated']" in msg


def test_a_table_without_coordinates_or_usable_rows_stops(tmp_path):
    pd.DataFrame({"开发区名称": ["A"], "核准面积": [3]}).to_csv(tmp_path / "nolonlat.csv", index=False)
    with pytest.raises(ColumnError, match=r"'nolonlat.csv' is a table without park boundaries, and its columns "
                                          r"\['开发区名称', '核准面积'\] hold no longitude and latitude"):
        read_parks(tmp_path / "nolonlat.csv")
    _catalogue(tmp_path / "empty.csv", [_zone("A", "W", "", ""), _zone("B", "W", "x", 30.0)])
    with pytest.raises(InputError, match="'empty.csv' has no row with both a longitude \\('经度'\\) and a latitude"):
        read_parks(tmp_path / "empty.csv")
    _catalogue(tmp_path / "noarea.csv", [_zone("A", "W", 114.4, 30.5, area="-1"), _zone("B", "W", 114.5, 30.5, area="")])
    with pytest.raises(InputError, match="'noarea.csv' holds no usable park: .*no point has an approved area between 0 and "
                                         "2,000 km² in column '核准面积' \\(row 1: approved area"):
        read_parks(tmp_path / "noarea.csv")


# ----------------------------------------------------------------------------- geo check / geo run
@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return make_study(tmp_path_factory.mktemp("parkpts"))


def test_no_area_column_stops_geo_check_in_one_line(study, tmp_path, capsys):
    import geopandas as gpd
    import shapely

    x, y = zip(*CENTRES.values())
    gpd.GeoDataFrame({"name": list(CENTRES), "valley": list(CENTRES)}, geometry=shapely.points(x, y), crs=4326) \
        .to_file(tmp_path / "pts.gpkg")
    cfg = study.write_config(parks={"path": str(tmp_path / "pts.gpkg")}, name="noarea.toml")
    code, _, err = _cli(capsys, "check", cfg)
    assert code == 2 and err.startswith("geo: error: ") and err.count("\n") == 1
    assert "holds no polygon" in err and "'核准面积'" in err


@pytest.fixture(scope="module")
def mixed_run(study, tmp_path_factory):
    """A GeoPackage with the Wuhan park as its polygon, the Changchun park as a point of 9 km²
    (the polygon's area) and a point with a negative area; ``geo check`` then ``geo run``."""
    import geopandas as gpd
    import shapely

    folder = tmp_path_factory.mktemp("mixed")
    p = gpd.read_file(study.parks)
    cx, cy = CENTRES["Changchun"]
    p.loc[p["valley"] == "Changchun", "geometry"] = shapely.Point(cx, cy)
    bad = gpd.GeoDataFrame({"name": ["Bad zone"], "valley": ["Wuhan"], "designated": [2010]},
                           geometry=[shapely.Point(114.45, 30.52)], crs=4326)
    p = pd.concat([p, bad], ignore_index=True)
    p["approved_area_km2"] = [np.nan, 9.0, -2.0]
    p.to_file(folder / "mixed.gpkg")
    cfg = study.write_config(parks={"path": str(folder / "mixed.gpkg")}, name="mixed.toml")
    code = main(["check", str(cfg)])
    code_run = main(["run", str(cfg), "--out", str(folder / "out"), "-q"])
    return {"check": code, "run": code_run, "out": folder / "out"}


def test_a_point_geopackage_runs_with_the_flag_everywhere(mixed_run):
    import geopandas as gpd

    assert mixed_run["check"] == 0 and mixed_run["run"] == 0
    out = mixed_run["out"]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    wuhan = summary["valleys"]["Wuhan"]["park_results"]
    changchun = summary["valleys"]["Changchun"]["park_results"]
    assert [r["approximate_boundary"] for r in wuhan] == [False]
    assert [r["approximate_boundary"] for r in changchun] == [True]
    assert APPROX in changchun[0]["verdict_reason"] and APPROX not in wuhan[0]["verdict_reason"]
    assert changchun[0]["area_km2"] == pytest.approx(9.0, rel=0.005)
    assert summary["parks_load"]["approximate_boundaries"] == 1
    assert summary["parks_load"]["rejects"] == [
        {"row": 3, "name": "Bad zone", "reason": "bad_area", "detail": "approved area (approved_area_km2) '-2.0' km² is not positive"}]
    rejects = pd.read_csv(out / "parks_rejects.csv")
    assert rejects[["row", "name", "reason"]].to_dict(orient="records") == [{"row": 3, "name": "Bad zone", "reason": "bad_area"}]
    layer = gpd.read_file(out / "layers.gpkg", layer="parks")
    assert dict(zip(layer["name"], layer["approximate_boundary"].astype(bool))) == {
        "Wuhan High-Tech Park": False, "Changchun High-Tech Park": True}
    overlay = gpd.read_file(out / "layers.gpkg", layer="parks_overlay")
    assert dict(zip(overlay["name"], overlay["approximate_boundary"].astype(bool))) == {
        "Wuhan High-Tech Park": False, "Changchun High-Tech Park": True}
    html = (out / "report.html").read_text(encoding="utf-8")
    # the park card's line under the name, and the verdict reason
    assert re.search(r'class="meta">Changchun · designated 2000 · ≈ 8\.9\d km², approximate boundary \(a disc of the '
                     r'approved area\) · ', html)
    assert re.search(r'class="meta">Wuhan · designated 2000 · 9\.\d+ km² · ', html)
    assert html.count(APPROX) >= 2
    # the valley maps: the disc's outline dashed, named in the legend and the tooltip; a real outline is solid
    changchun_map = (out / "maps" / "Changchun.html").read_text(encoding="utf-8")
    wuhan_map = (out / "maps" / "Wuhan.html").read_text(encoding="utf-8")
    dash = re.compile(r'"dashArray":\s*"' + APPROXIMATE_DASH + '"')
    assert dash.search(changchun_map) and not dash.search(wuhan_map)
    assert "approximate boundary: a disc of the approved area" in changchun_map
    assert "approximate boundary" not in wuhan_map


def test_a_catalogue_csv_in_gcj02_checks_and_runs(study, tmp_path, capsys):
    rows = []
    for key, (x, y) in CENTRES.items():
        gx, gy = gcrs.wgs84_to_gcj02([x], [y])
        rows.append(_zone(f"{key} 高新区", key, round(float(gx[0]), 7), round(float(gy[0]), 7), area="9"))
    rows.append(_zone("无坐标", "Wuhan", "", ""))
    _catalogue(study.folder / "zones.csv", rows)
    cfg = study.write_config(parks={"path": "zones.csv", "crs": "gcj02"}, name="zones.toml")
    code, out, _ = _cli(capsys, "check", cfg)
    assert code == 0
    assert "parks: 2 kept, 1 rejected" in out and "designation year from column '批准时间'" in out
    assert "warning: park rejected: row 3 of zones.csv ('无坐标'): longitude or latitude empty or not a number" in out
    assert "2 park(s) given as points have an approximate boundary" in out
    run_dir = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(run_dir), "-q"]) == 0
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    for key, (x, y) in CENTRES.items():
        (r,) = summary["valleys"][key]["park_results"]
        assert r["name"] == f"{key} 高新区" and r["approximate_boundary"] is True and r["designated"] == 2000
        assert APPROX in r["verdict_reason"]
        # the cluster of the study sits on the park's true (WGS84) centre: found despite the GCJ-02 input
        assert r["verdict"] == "park on a pre-existing cluster"
