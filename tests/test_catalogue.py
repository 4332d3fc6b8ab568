"""The national development-zone catalogue as published (issue 18, point 2): a point shapefile
joined to an .xlsx of Chinese headers; rejects for rows and points that do not pair; one clear
sentence for each bad input; ``geo check`` / ``geo run`` with ``[parks] source = "catalogue"``.
"""

from __future__ import annotations

import datetime
import json

import numpy as np
import pandas as pd
import pytest
from pyproj import Geod

from geo import crs as gcrs
from geo.cli import main
from geo.config import config_from_dict
from geo.errors import ColumnError, ConfigError, CRSError, InputError
from geo.io.catalogue import read_catalogue
from geo.io.parks import read_parks
from tests.study import CENTRES, make_study

GEOD = Geod(ellps="WGS84")

HEADER = ["序号", "代码", "开发区名称", "批准时间", "核准面积（公顷）", "级别", "省份"]

#: the catalogue's zones: code, name, approval date as published, hectares, level, province, WGS84 point (None: no point)
ZONES = [
    ("G421001", "武汉东湖新技术开发区", "1991年3月", 900, "国家级", "湖北", CENTRES["Wuhan"]),
    ("G221001", "长春高新技术产业开发区", datetime.datetime(1991, 3, 6), 1900, "国家级", "吉林", CENTRES["Changchun"]),
    ("S421002", "经济技术开发区", 1992, 350, "省级", "湖北", (114.47, 30.56)),
    ("S221002", "经济技术开发区", "2006年", 420.5, "省级", "吉林", (125.37, 43.91)),  # the same name, another code
    ("S421099", "无坐标开发区", "2006年", 100, "省级", "湖北", None),  # a row without a point
]
#: a point of the layer without a row in the table
STRAY = ("X000001", "无属性点", (114.52, 30.62))


def _geodesic_km2(poly) -> float:
    return abs(GEOD.geometry_area_perimeter(poly)[0]) / 1e6


def write_catalogue(folder, *, zones=ZONES, stray=STRAY, gcj02=False, title=True, header=HEADER, code=True,
                    shp_name="zones.shp", xlsx_name="zones.xlsx"):
    """The catalogue's two files: a point shapefile (代码, 名称; WGS84 .prj, points shifted to GCJ-02 when
    ``gcj02``) and an .xlsx with a title row above the Chinese header (written with openpyxl)."""
    import geopandas as gpd
    import openpyxl
    import shapely

    pts = [(z[0], z[1], z[6]) for z in zones if z[6] is not None] + ([stray] if stray else [])
    x = np.array([p[2][0] for p in pts], dtype=float)
    y = np.array([p[2][1] for p in pts], dtype=float)
    if gcj02:
        x, y = gcrs.wgs84_to_gcj02(x, y)
    cols = {"代码": [p[0] for p in pts]} if code else {}
    gpd.GeoDataFrame({**cols, "名称": [p[1] for p in pts]}, geometry=shapely.points(x, y), crs=4326) \
        .to_file(folder / shp_name, engine="pyogrio", encoding="UTF-8")
    wb = openpyxl.Workbook()
    ws = wb.active
    if title:
        ws.append(["中国开发区审核公告目录（合成测试数据）"])
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    ws.append(header)
    for i, (c, name, date, ha, level, prov, _) in enumerate(zones, start=1):
        ws.append([i, c, name, date, ha, level, prov][:len(header)] if code else [i, name, date, ha, level, prov])
    wb.save(folder / xlsx_name)
    return folder / shp_name, folder / xlsx_name


# ----------------------------------------------------------------------------- the reader
def test_the_catalogue_layout_is_joined_with_every_rejection_recorded(tmp_path):
    shp, xlsx = write_catalogue(tmp_path, gcj02=True)
    parks = read_parks(shp, source="catalogue", attributes=xlsx, crs="gcj02")
    rep = parks.attrs["load_report"]
    # the title row was skipped: the header is row 2, the zones are Excel rows 3.. (the row numbers a user sees)
    assert rep["catalogue"]["header_row"] == 2 and rep["catalogue"]["join"] == "code"
    assert parks.index.tolist() == [3, 4, 5, 6]
    assert parks["name"].tolist() == [z[1] for z in ZONES[:4]]
    assert (rep["name_column"], rep["designated_column"], rep["area_column"], rep["level_column"]) == \
        ("开发区名称", "批准时间", "核准面积（公顷）", "级别")
    # 1991年3月, an Excel date, a number and 2006年 all give their year
    assert parks["designated"].tolist() == [1991, 1991, 1992, 2006]
    # hectares, declared in the header, are km² / 100
    assert parks["approved_area_km2"].tolist() == pytest.approx([9.0, 19.0, 3.5, 4.205])
    assert [_geodesic_km2(g) for g in parks.geometry] == pytest.approx([9.0, 19.0, 3.5, 4.205], rel=0.005)
    assert parks["approximate_boundary"].all() and parks["level"].tolist() == ["国家级", "国家级", "省级", "省级"]
    assert parks["省份"].tolist() == ["湖北", "吉林", "湖北", "吉林"]
    # the duplicate name is two zones (their codes differ), kept and named in the report
    assert rep["duplicate_names"] == ["经济技术开发区"]
    assert any("occur more than once; each is kept (joined on the code" in n for n in rep["notes"])
    # a row without a point and a point without a row are rejects with their row / feature number
    rej = parks.attrs["rejects"]
    assert rej.to_dict(orient="records") == [
        {"row": 7, "name": "无坐标开发区", "reason": "no_point",
         "detail": "row 7 of zones.xlsx: no point of zones.shp has code 'S421099'"},
        {"row": 5, "name": "无属性点", "reason": "no_attributes",
         "detail": "feature 5 of zones.shp: code 'X000001' is in no row of zones.xlsx"}]
    # parks read = loaded + rejected
    assert rep["features_read"] == 6 == rep["parks_kept"] + rep["features_rejected"]
    # the GCJ-02 points were converted: each disc is centred on the true (WGS84) point, hundreds of metres away
    for geom, z in zip(parks.geometry, ZONES[:4]):
        utm = gcrs.utm_crs_for([z[6][0]], [z[6][1]])
        import geopandas as gpd

        c = gpd.GeoSeries([geom], crs=4326).to_crs(utm).centroid.to_crs(4326).iloc[0]
        _, _, off = GEOD.inv(c.x, c.y, *z[6])
        assert off < 0.5  # metres (the GCJ-02 round trip)
    raw = read_parks(shp, source="catalogue", attributes=xlsx)  # read as WGS84: the GCJ-02 offset stays
    _, _, off = GEOD.inv(raw.geometry.iloc[0].centroid.x, raw.geometry.iloc[0].centroid.y, *ZONES[0][6])
    assert off > 100


def test_without_codes_the_join_is_on_the_name_and_a_duplicated_name_cannot_pair(tmp_path):
    shp, xlsx = write_catalogue(tmp_path, code=False, header=[h for h in HEADER if h != "代码"], stray=None)
    out = read_catalogue(shp, xlsx)
    info = out.attrs["catalogue"]
    assert (info["join"], info["join_columns"]) == ("name", ["开发区名称", "名称"])
    assert out["开发区名称"].tolist() == ["武汉东湖新技术开发区", "长春高新技术产业开发区"]
    rej = out.attrs["rejects"]
    assert rej[["row", "reason"]].to_dict(orient="records") == [
        {"row": 5, "reason": "ambiguous_key"}, {"row": 6, "reason": "ambiguous_key"}, {"row": 7, "reason": "no_point"},
        {"row": 3, "reason": "ambiguous_key"}, {"row": 4, "reason": "ambiguous_key"}]
    assert rej["detail"].iloc[0] == ("row 5 of zones.xlsx: name '经济技术开发区' is also in row(s) [6]; which point is whose "
                                     "cannot be told")
    # 5 rows + 4 points, less the 2 pairs counted once = 2 zones joined + 5 rejects
    assert info["rows"] + info["points_read"] - len(out) == len(out) + len(rej) == 7


def test_area_column_and_unit_can_be_declared(tmp_path):
    header = ["序号", "代码", "开发区名称", "批准时间", "面积", "级别", "省份"]
    shp, xlsx = write_catalogue(tmp_path, header=header, stray=None)
    with pytest.raises(InputError, match="holds no polygon"):  # 面积 is not a known approved-area header
        read_parks(shp, source="catalogue", attributes=xlsx)
    parks = read_parks(shp, source="catalogue", attributes=xlsx, area_column="面积", area_unit="公顷")
    assert parks["approved_area_km2"].tolist() == pytest.approx([9.0, 19.0, 3.5, 4.205])
    km2 = read_parks(shp, source="catalogue", attributes=xlsx, area_column="面积")  # no unit in the header: km²
    assert km2["approved_area_km2"].tolist() == [900.0, 1900.0, 350.0, 420.5]
    with pytest.raises(ColumnError, match=r"Column '面积s' \(approved area \(\[parks\] area_column\)\) is not in"):
        read_parks(shp, source="catalogue", attributes=xlsx, area_column="面积s")


# ----------------------------------------------------------------------------- bad input: one sentence each
def test_no_column_to_join_on_lists_the_headers_of_both_files(tmp_path):
    import geopandas as gpd
    import shapely

    _, xlsx = write_catalogue(tmp_path)
    gpd.GeoDataFrame({"FID_1": [1, 2], "label": ["a", "b"]}, geometry=shapely.points([114.4, 125.3], [30.5, 43.85]),
                     crs=4326).to_file(tmp_path / "bare.shp")
    with pytest.raises(ColumnError) as err:
        read_parks(tmp_path / "bare.shp", source="catalogue", attributes=xlsx)
    msg = str(err.value)
    assert msg.startswith("Cannot join 'bare.shp' to 'zones.xlsx': no zone code (代码, 开发区代码")
    assert ("'bare.shp' holds ['FID_1', 'label'] and 'zones.xlsx' holds ['序号', '代码', '开发区名称', '批准时间', "
            "'核准面积（公顷）', '级别', '省份'] (header row 2)") in msg and "\n" not in msg


def test_a_sheet_without_a_header_row_says_what_its_first_rows_hold(tmp_path):
    shp, xlsx = write_catalogue(tmp_path, header=["no.", "id", "zone", "date", "km2", "lvl", "prov"])
    with pytest.raises(ColumnError, match=r"No header row in the first \d+ rows of 'zones.xlsx': none holds a zone name "
                                          r".*its first rows hold \[\['中国开发区审核公告目录（合成测试数据）'\], \['no.', 'id', "):
        read_catalogue(shp, xlsx)


def test_an_empty_layer_and_no_pair_at_all_stop(tmp_path):
    import geopandas as gpd

    shp, xlsx = write_catalogue(tmp_path)
    gpd.GeoDataFrame({"代码": pd.Series([], dtype=str)}, geometry=[], crs=4326).to_file(tmp_path / "empty.shp")
    with pytest.raises(InputError, match="'empty.shp' holds no feature: the catalogue's point layer is empty"):
        read_parks(tmp_path / "empty.shp", source="catalogue", attributes=xlsx)
    other = [("Z" + z[0], *z[1:]) for z in ZONES]
    write_catalogue(tmp_path, zones=other, stray=None, xlsx_name="other.xlsx", shp_name="ignored.shp")
    with pytest.raises(InputError, match=r"No zone of 'zones.shp' pairs with a row of 'other.xlsx' on the code .*"
                                         r"the points have codes such as \['G421001', .*the table \['ZG421001', "):
        read_parks(shp, source="catalogue", attributes=tmp_path / "other.xlsx")


def test_projected_metres_declared_as_wgs84_are_named(tmp_path):
    import geopandas as gpd

    shp, xlsx = write_catalogue(tmp_path, stray=None)
    pts = gpd.read_file(shp)
    metres = pts.to_crs(32650).set_crs(4326, allow_override=True)  # UTM metres with a WGS84 .prj
    metres.to_file(tmp_path / "metres.shp", encoding="UTF-8")
    with pytest.raises(CRSError) as err:
        read_parks(tmp_path / "metres.shp", source="catalogue", attributes=xlsx)
    msg = str(err.value)
    assert msg.startswith("The coordinates of 'metres.shp' are not longitude/latitude degrees, yet its .prj says EPSG:4326: "
                          "the values look like projected metres, not degrees")
    assert "Set [parks] crs to the system they were made in" in msg and "\n" not in msg
    # the fix the sentence gives works: the declared system overrides the .prj
    fixed = read_parks(tmp_path / "metres.shp", source="catalogue", attributes=xlsx, crs="EPSG:32650")
    assert fixed.geometry.iloc[0].centroid.x == pytest.approx(CENTRES["Wuhan"][0], abs=1e-6)
    assert any("not as the file's EPSG:4326" in n for n in fixed.attrs["load_report"]["notes"])


def test_config_keys_of_the_catalogue(tmp_path):
    cfg = config_from_dict({"firms": {"path": "f.csv"}, "parks": {"source": "catalogue", "path": "zones.shp",
                                                                  "attributes": "zones.xlsx", "area_column": "面积",
                                                                  "area_unit": "ha"}}, base=tmp_path)
    assert cfg.parks.attributes == (tmp_path / "zones.xlsx").resolve() and cfg.parks.area_unit == "ha"
    with pytest.raises(ConfigError, match=r"source = \"catalogue\" needs path .* and attributes .*; attributes is missing"):
        config_from_dict({"firms": {"path": "f.csv"}, "parks": {"source": "catalogue", "path": "zones.shp"}})
    with pytest.raises(ConfigError, match=r"\[parks\] attributes is the catalogue's attribute table and needs source"):
        config_from_dict({"firms": {"path": "f.csv"}, "parks": {"path": "p.gpkg", "attributes": "zones.xlsx"}})
    with pytest.raises(ConfigError, match=r"\[parks\] area_unit must be one of .*'mu' was given"):
        config_from_dict({"firms": {"path": "f.csv"}, "parks": {"path": "p.csv", "area_unit": "mu"}})
    with pytest.raises(ConfigError, match=r"\[parks\] source must be \"file\", \"osm\" or \"catalogue\""):
        config_from_dict({"firms": {"path": "f.csv"}, "parks": {"path": "p.csv", "source": "catalog"}})


# ----------------------------------------------------------------------------- geo check / geo run
def test_a_catalogue_checks_and_runs_with_its_rejects_on_the_console_and_in_parks_rejects(tmp_path, capsys):
    study = make_study(tmp_path)
    write_catalogue(study.folder, gcj02=True)
    cfg = study.write_config(parks={"source": "catalogue", "path": "zones.shp", "attributes": "zones.xlsx", "crs": "gcj02"},
                             name="catalogue.toml")
    assert main(["check", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "parks: development-zone catalogue zones.shp + zones.xlsx (joined on the code), 4 zones, 2 rejected" in out
    assert ("warning: park rejected ('无坐标开发区'): row 7 of zones.xlsx: no point of zones.shp has code 'S421099'"
            in out)
    assert "warning: park rejected ('无属性点'): feature 5 of zones.shp: code 'X000001' is in no row of zones.xlsx" in out
    run = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(run), "-q"]) == 0
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary["parks_load"]["source"] == "catalogue"
    assert summary["inputs"]["parks"] == ("development-zone catalogue zones.shp + zones.xlsx (joined on the code), 4 zones, "
                                          "2 rejected; outlines approximated as discs of the approved area")
    rejects = pd.read_csv(run / "parks_rejects.csv")
    assert rejects[["row", "reason"]].to_dict(orient="records") == [{"row": 7, "reason": "no_point"},
                                                                    {"row": 5, "reason": "no_attributes"}]
    wuhan = {r["name"]: r for r in summary["valleys"]["Wuhan"]["park_results"]}
    assert wuhan["武汉东湖新技术开发区"]["approximate_boundary"] is True
    assert wuhan["武汉东湖新技术开发区"]["designated"] == 1991
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "development-zone catalogue zones.shp + zones.xlsx" in html


def test_the_attribute_table_saved_as_gbk_csv_reads_like_the_xlsx(tmp_path):
    shp, xlsx = write_catalogue(tmp_path)
    raw = pd.read_excel(xlsx, header=None, dtype=str)
    raw.to_csv(tmp_path / "zones.csv", header=False, index=False, encoding="gb18030")
    a = read_parks(shp, source="catalogue", attributes=xlsx)
    b = read_parks(shp, source="catalogue", attributes=tmp_path / "zones.csv")
    assert b.index.tolist() == a.index.tolist() == [3, 4, 5, 6]
    assert b["name"].tolist() == a["name"].tolist() and b["designated"].tolist() == a["designated"].tolist()
    assert b["approved_area_km2"].tolist() == a["approved_area_km2"].tolist()
    assert b.attrs["rejects"]["detail"].str.replace("zones.csv", "zones.xlsx").tolist() == a.attrs["rejects"]["detail"].tolist()


def test_names_from_the_points_when_the_table_has_only_codes(tmp_path):
    header = ["序号", "代码", "备注", "批准时间", "核准面积（公顷）", "级别", "备注"]
    shp, xlsx = write_catalogue(tmp_path, header=header, stray=None)
    parks = read_parks(shp, source="catalogue", attributes=xlsx)
    assert parks.attrs["load_report"]["name_column"] == "名称"  # the shapefile's
    assert parks["name"].tolist() == [z[1] for z in ZONES[:4]]
    assert "备注 (2)" in parks.columns and parks["备注 (2)"].tolist() == ["湖北", "吉林", "湖北", "吉林"]


def test_the_input_descriptions_run_as_documented():
    import doctest

    from geo.io import _describe

    result = doctest.testmod(_describe)
    assert result.attempted >= 1 and result.failed == 0
    d = _describe.describe_inputs(
        {"file": "/x/hubei.osm.pbf", "source": "osm", "rows_read": 9, "rows_kept": 7, "sector_table": "default",
         "features_by_sector": {"ict": 4, "office": 2, "craft": 1, "a": 1, "b": 1, "c": 1}},
        {"file": "/x/parks.csv", "lon_column": "经度", "lat_column": "纬度", "parks_kept": 3, "features_rejected": 1,
         "approximate_boundaries": 2})
    assert d == {"firms": "OpenStreetMap extract hubei.osm.pbf (tags → sectors by the default table: ict 4, office 2, craft 1, "
                          "a 1, b 1, … (1 more)), 7 firms kept of 9",
                 "parks": "park table parks.csv (points: 经度 / 纬度), 3 parks, 1 rejected; 2 outline(s) approximated as discs "
                          "of the approved area"}
    assert _describe.describe_inputs({}, {"file": None})["parks"] == "no park file: the park stages did not run"


def test_headings_notes_and_a_repeated_header_are_skipped_and_listed(tmp_path):
    """The published layout: 国家级 and 省级 lists in one sheet, each under a heading row, the second under the
    header again, and a note at the end; only the zones are rows, the rest is named in a note."""
    import openpyxl

    shp, xlsx = write_catalogue(tmp_path)
    wb = openpyxl.load_workbook(xlsx)
    ws = wb.active
    ws.insert_rows(3)
    ws.cell(3, 1, "一、国家级开发区")
    ws.insert_rows(6)
    ws.cell(6, 1, "二、省级开发区")
    ws.insert_rows(7)
    for j, h in enumerate(HEADER, start=1):
        ws.cell(7, j, h)
    ws.append(["注：面积单位为公顷。"])
    wb.save(xlsx)
    parks = read_parks(shp, source="catalogue", attributes=xlsx)
    assert parks.index.tolist() == [4, 5, 8, 9]  # the zones' Excel rows
    assert parks["name"].tolist() == [z[1] for z in ZONES[:4]]
    rep = parks.attrs["load_report"]
    assert rep["catalogue"]["skipped_rows"] == [{"row": 3, "text": "一、国家级开发区"}, {"row": 6, "text": "二、省级开发区"},
                                                {"row": 7, "text": "序号 代码 开发区名称 批准时间 核准面积（公顷） 级别 省份"},
                                                {"row": 11, "text": "注：面积单位为公顷。"}]
    assert rep["features_read"] == 6 and parks.attrs["rejects"]["row"].tolist() == [10, 5]
    assert ("zones.xlsx: 4 row(s) that are not zones skipped (a heading or a note in one cell, or the header repeated): "
            "row 3 '一、国家级开发区'; row 6 '二、省级开发区'") in " ".join(rep["notes"])
