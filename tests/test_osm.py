"""OpenStreetMap extracts (.osm.pbf, written here with pyosmium's writer) as firm points and as
parks: tags to sectors, rejects with their reasons, `geo check` and `geo run`, one-sentence errors."""

from __future__ import annotations

import json
import sys

import osmium  # the [osm] extra, also in the test extra
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from study import CENTRES, make_study

from geo.cli import cli, main
from geo.config import config_from_dict
from geo.errors import ConfigError, DataFileError, InputError
from geo.io.firms import read_firms
from geo.io.parks import read_parks


class PBF:
    """A small .osm.pbf: nodes with tags, and closed ways (areas) given by their corners."""

    def __init__(self) -> None:
        self.nodes: list[tuple[int, float, float, dict]] = []
        self.ways: list[tuple[int, list[int], dict]] = []
        self.relations: list[tuple[int, list[int], dict]] = []
        self._next = 1_000_000

    def node(self, nid: int, lon: float, lat: float, **tags) -> None:
        self.nodes.append((nid, lon, lat, tags))

    def way(self, wid: int, corners: list[tuple[float, float]], *, closed: bool = True, **tags) -> None:
        ids = []
        for lon, lat in corners:
            self._next += 1
            self.nodes.append((self._next, lon, lat, {}))
            ids.append(self._next)
        self.ways.append((wid, ids + ids[:1] if closed else ids, tags))

    def multipolygon(self, rid: int, outer_way: int, **tags) -> None:
        """A multipolygon relation whose outer ring is the (untagged) way ``outer_way``."""
        self.relations.append((rid, [outer_way], dict(tags, type="multipolygon")))

    def write(self, path):
        if path.exists():
            path.unlink()
        w = osmium.SimpleWriter(str(path))
        try:
            for nid, lon, lat, tags in sorted(self.nodes, key=lambda n: n[0]):
                w.add_node(osmium.osm.mutable.Node(id=nid, location=(lon, lat), tags=tags))
            for wid, ids, tags in sorted(self.ways, key=lambda w: w[0]):
                w.add_way(osmium.osm.mutable.Way(id=wid, nodes=ids, tags=tags))
            for rid, ways, tags in sorted(self.relations, key=lambda r: r[0]):
                w.add_relation(osmium.osm.mutable.Relation(id=rid, members=[("w", m, "outer") for m in ways], tags=tags))
        finally:
            w.close()
        return path


def _square(cx, cy, d):
    return [(cx - d, cy - d), (cx + d, cy - d), (cx + d, cy + d), (cx - d, cy + d)]


def small_extract(path):
    x = PBF()
    x.node(1, 114.40, 30.50, office="it", name="Photon Soft", start_date="1999-03-11")
    x.node(2, 114.41, 30.51, office="company", name="Holding", start_date="~1950")  # OSM's approximate date: left empty
    x.node(3, 114.42, 30.52, shop="bakery", name="Bread")
    x.node(4, 114.43, 30.53, amenity="cafe", name="Not a firm")  # no firm key: not a row
    x.node(5, 114.44, 30.54, office="government", name="Tax office")
    x.node(6, 114.45, 30.55, man_made="works", name="Steel works")  # an entry of the table, not a firm key
    x.way(101, _square(114.46, 30.56, 0.001), craft="optician", name="Lens Craft", building="yes")
    x.way(102, [(114.47, 30.57), (114.48, 30.58)], closed=False, office="company")  # a line: not a firm
    x.way(110, [(114.47, 30.57), (114.49, 30.59)], closed=False, man_made="pipeline")  # a line, and not a firm tag either
    x.way(103, _square(114.40, 30.50, 0.02), landuse="industrial", name="Optics Valley Industrial Park", start_date="1988")
    x.way(104, _square(114.50, 30.60, 0.01), landuse="commercial", name="Donghu High-Tech Zone")
    x.way(105, _square(114.60, 30.70, 0.01), landuse="industrial")  # unnamed: left out
    x.way(106, _square(114.70, 30.80, 0.01), landuse="residential", name="Garden Estate")  # not a park
    x.way(107, _square(114.80, 30.90, 0.01), industrial="factory", name="Works No. 3", start_date="about 1950")
    x.way(108, _square(114.90, 31.00, 0.002))  # the outline of relation 1: an office campus
    x.multipolygon(1, 108, office="research", name="Institute of Optics")
    x.way(109, _square(115.00, 31.10, 0.01))  # the outline of relation 2: a named zone
    x.multipolygon(2, 109, landuse="industrial", name="东湖高新区")
    return x.write(path)


#: sector table of the tests: exact entries win over key=*, whatever their order
TABLE = {"office=*": "office", "office=it": "ict", "craft=*": "craft", "man_made=works": "industry"}


def test_tags_to_sectors_and_rejects(tmp_path):
    firms = read_firms(small_extract(tmp_path / "x.osm.pbf"), source="osm", sectors=TABLE, founded="founded")
    report, rejects = firms.attrs["load_report"], firms.attrs["rejects"]
    # rows: the firm nodes (1, 2, 3, 5, 6) in file order, then the areas of ways 101 and 107 (industrial=factory)
    # and of relation 1
    assert report["rows_read"] == 8 == report["rows_kept"] + report["rows_rejected"]
    assert firms["firm_id"].tolist() == ["node/1", "node/2", "node/5", "node/6", "way/101", "relation/1"]
    assert firms["sector"].tolist() == ["ict", "office", "office", "industry", "craft", "office"]
    assert firms["osm_tag"].tolist() == ["office=it", "office=company", "office=government", "man_made=works",
                                         "craft=optician", "office=research"]
    rel = firms[firms["firm_id"] == "relation/1"]
    assert rel["lon"].iloc[0] == pytest.approx(114.90, abs=1e-9) and rel["lat"].iloc[0] == pytest.approx(31.00, abs=1e-9)
    assert dict(zip(rejects["row"], rejects["reason"])) == {3: "no_sector_tag", 7: "no_sector_tag"}
    assert rejects["detail"].tolist() == ["tags shop=bakery match no entry of the sector table",
                                          "tags industrial=factory match no entry of the sector table"]
    assert firms.loc[1, "founded"] == 1999 and pd.isna(firms.loc[2, "founded"])
    # an area's point is its centroid: the centre of the square
    way = firms[firms["firm_id"] == "way/101"]
    assert way["lon"].iloc[0] == pytest.approx(114.46, abs=1e-9) and way["lat"].iloc[0] == pytest.approx(30.56, abs=1e-9)
    assert report["source"] == "osm" and report["open_ways_skipped"] == 1
    assert report["start_dates_not_read"] == {"~1950": 1, "about 1950": 1}  # node 2, way 107
    assert report["features_by_sector"] == {"office": 3, "ict": 1, "industry": 1, "craft": 1}


def test_default_table_keeps_every_firm_key(tmp_path):
    firms = read_firms(small_extract(tmp_path / "x.osm.pbf"), source="osm")
    assert firms.attrs["load_report"]["rows_rejected"] == 0
    assert dict(zip(firms["firm_id"], firms["sector"])) == {"node/1": "ict", "node/2": "office", "node/3": "retail",
                                                           "node/5": "office", "node/6": "industry", "way/101": "craft",
                                                           "way/107": "industry", "relation/1": "research"}


def test_parks_from_named_industrial_areas_and_high_tech_zones(tmp_path):
    parks = read_parks(small_extract(tmp_path / "x.osm.pbf"), source="osm")
    assert parks["name"].tolist() == ["Optics Valley Industrial Park", "Donghu High-Tech Zone", "Works No. 3", "东湖高新区"]
    assert parks["osm_id"].tolist() == ["way/103", "way/104", "way/107", "relation/2"]
    years = parks["designated"]
    assert years.iloc[0] == 1988 and years.iloc[1:].isna().all()
    # the outline is the way's (OSM stores coordinates to 1e-7 degrees)
    square = shapely.Polygon(_square(114.40, 30.50, 0.02))
    assert parks.geometry.iloc[0].symmetric_difference(square).area < 1e-9 * square.area
    report = parks.attrs["load_report"]
    assert report["source"] == "osm" and report["parks_kept"] == 4
    assert any("1 industrial areas without a name were left out" in n for n in report["notes"])
    assert any("about 1950" in n for n in report["notes"])  # a start_date that is not a year is said, not guessed


def test_bad_osm_input_is_one_sentence(tmp_path, monkeypatch):
    with pytest.raises(DataFileError, match="Firm table not found: 'nope.osm.pbf'"):
        read_firms("nope.osm.pbf", source="osm")
    x = PBF()
    x.node(1, 114.4, 30.5, highway="bus_stop")
    x.node(2, 114.5, 30.6, highway="traffic_signals")
    x.node(3, 114.6, 30.7, amenity="school", name="School")
    empty = x.write(tmp_path / "roads.osm.pbf")
    with pytest.raises(InputError, match=r"'roads.osm.pbf' holds no firm: no node or area has a firm key \(office, craft, "
                                         r"industrial, shop, company\) or a tag of the sector table; it has tag keys highway \(2\), amenity \(1\), name \(1\)"):
        read_firms(empty, source="osm")
    with pytest.raises(InputError, match=r"holds no named industrial area or high-tech zone .*tag keys highway \(2\)"):
        read_parks(empty, source="osm")
    (tmp_path / "fake.osm.pbf").write_bytes(b"firm_id,lon,lat\n1,114,30\n")
    with pytest.raises(DataFileError, match="Cannot read 'fake.osm.pbf' as an OpenStreetMap file"):
        read_firms(tmp_path / "fake.osm.pbf", source="osm")
    (tmp_path / "firms.csv").write_text("firm_id,lon,lat\n1,114,30\n")
    with pytest.raises(DataFileError, match=r"'firms.csv' is not an OpenStreetMap extract: source = \"osm\" reads .osm.pbf"):
        read_firms(tmp_path / "firms.csv", source="osm")
    with pytest.raises(InputError, match=r"entry '=it' has no key"):
        read_firms(empty, source="osm", sectors={"=it": "ict"})
    monkeypatch.setitem(sys.modules, "osmium", None)  # as if pyosmium were not installed
    with pytest.raises(DataFileError, match=r'needs pyosmium, which is not installed: pip install "geo-clusters\[osm\]"'):
        read_firms(empty, source="osm")


def test_osm_config_keys(tmp_path):
    cfg = config_from_dict({"firms": {"path": "x.osm.pbf", "source": "osm", "osm_sectors": {"office=it": "ict"}},
                            "parks": {"path": "x.osm.pbf", "source": "osm"}}, base=tmp_path)
    assert cfg.firms.osm_sectors == {"office=it": "ict"} and cfg.parks.source == "osm"
    with pytest.raises(ConfigError, match=r"\[parks\] source must be \"file\", \"osm\" or \"catalogue\"; 'overture' was given"):
        config_from_dict({"firms": {"path": "x.csv"}, "parks": {"path": "p.gpkg", "source": "overture"}})
    with pytest.raises(ConfigError, match=r"\[parks\] source = \"osm\" needs \[parks\] path"):
        config_from_dict({"firms": {"path": "x.csv"}, "parks": {"source": "osm"}})


#: the study's sectors as OSM tags (food firms are restaurants: amenity, no firm key, not rows)
TAGS = {"optics": {"office": "company", "industry": "optics"}, "software": {"office": "it"}, "metal": {"craft": "metal_construction"},
        "food": {"amenity": "restaurant"}}


@pytest.fixture()
def osm_study(tmp_path):
    """The two valleys of tests/study.py as one OSM extract: the firms as tagged nodes (every 7th
    shop a bakery), the parks as named industrial areas."""
    st = make_study(tmp_path, n=300)
    x = PBF()
    shops = 0
    for i, r in enumerate(st.frame.to_dict("records"), start=1):
        name = "<b>Lens</b> & Co" if i == 1 else r["company"]  # text from the map data that reaches HTML
        x.node(i, r["lng"], r["lat"], name=name, start_date=str(r["year_founded"]), **TAGS[r["industry"]])
        if i % 7 == 0:
            shops += 1
            x.node(100_000 + i, r["lng"] + 0.0005, r["lat"], shop="bakery")
    for k, (key, (cx, cy)) in enumerate(CENTRES.items()):
        x.way(900 + k, _square(cx, cy, 0.015), landuse="industrial", name=f"{key} High-Tech Park", start_date="2000")
    x.write(tmp_path / "city.osm.pbf")
    cfg = st.write_config(
        firms={"path": "city.osm.pbf", "source": "osm", "valley_column": None, "sector_column": None,
               "founded_column": None},
        parks={"path": "city.osm.pbf", "source": "osm"},
        valleys=[{"name": "Wuhan", "bbox": [114.2, 30.3, 114.6, 30.7]}, {"name": "Changchun", "bbox": [125.1, 43.6, 125.5, 44.1]}])
    table = ('[firms.osm_sectors]\n"industry=optics" = "optics"\n"office=it" = "software"\n'
             '"craft=metal_construction" = "metal"\n')
    cfg.write_text(cfg.read_text().replace("[parks]", table + "[parks]", 1))
    n_firms = int((st.frame["industry"] != "food").sum())
    return cfg, {"firms": n_firms, "shops": shops}


def test_osm_study_through_geo_check_and_geo_run(osm_study, tmp_path):
    cfg, expected = osm_study
    read = expected["firms"] + expected["shops"]
    res = CliRunner().invoke(cli, ["check", str(cfg)])
    assert res.exit_code == 0, res.output
    assert f"{read:,} rows read, {expected['firms']:,} kept, {expected['shops']:,} rejected" in res.output
    assert "firms from OpenStreetMap: sectors from the config's table: optics (" in res.output
    assert "parks (OpenStreetMap: named industrial areas and high-tech zones): 2 kept" in res.output
    assert "no conversion" not in res.output  # OSM points are WGS84: no crs hint
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["run", str(cfg), "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    load = summary["load"]
    assert load["rows_read"] == read == load["rows_kept"] + load["rows_rejected"]
    assert load["rejected_by_reason"] == {"no_sector_tag": expected["shops"]}
    assert summary["valleys"]["Wuhan"]["n_firms"] + summary["valleys"]["Changchun"]["n_firms"] == expected["firms"]
    assert summary["valleys"]["Wuhan"]["n_parks"] == 1 == summary["valleys"]["Changchun"]["n_parks"]
    page = (out / "maps" / "Wuhan.html").read_text(encoding="utf-8")
    assert "Lens" in page and "<b>Lens</b>" not in page  # OSM names are escaped like any firm name


def test_osm_study_of_roads_only_stops_in_check(osm_study, tmp_path, capsys):
    cfg, _ = osm_study
    x = PBF()
    x.node(1, 114.4, 30.5, highway="bus_stop")
    x.write(tmp_path / "city.osm.pbf")
    assert main(["check", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "'city.osm.pbf' holds no firm: no node or area has a firm key" in err and "highway (1)" in err


def test_a_sector_table_that_maps_no_firm_stops_in_check(osm_study, capsys):
    cfg, expected = osm_study
    text = cfg.read_text()
    start, end = text.index("[firms.osm_sectors]"), text.index("[parks]")
    cfg.write_text(text[:start] + '[firms.osm_sectors]\n"office=lawyer" = "law"\n' + text[end:])
    assert main(["check", str(cfg)]) == 2
    err = capsys.readouterr().err
    n = expected["firms"] + expected["shops"]
    assert err.count("\n") == 1
    assert f"No firm of city.osm.pbf is left (no_sector_tag: {n:,}): their tags or categories match no entry" in err
