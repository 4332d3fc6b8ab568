"""Overture Places (GeoParquet) as firm points: the same firm frame as the CSV path, rejects with
their reasons, `geo check` and `geo run` on two valleys, and one-sentence errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from study import make_study

from geo.cli import cli, main
from geo.config import config_from_dict
from geo.errors import ColumnError, ConfigError, DataFileError, InputError
from geo.io.firms import read_firms

_BBOX = ("xmin", "xmax", "ymin", "ymax")


def write_places(path, places: list[dict], *, schema: str = "categories", drop: tuple[str, ...] = ()):
    """An Overture Places GeoParquet in the release schema: id, geometry (WKB), bbox, names{primary},
    categories{primary, alternate} (or taxonomy{primary, hierarchy, alternates}), confidence."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    geoms = [p.get("geometry", shapely.Point(p["lon"], p["lat"]) if p.get("lon") is not None else None) for p in places]
    names_type = pa.struct([("primary", pa.string()), ("common", pa.map_(pa.string(), pa.string()))])
    cols = {
        "id": pa.array([p["id"] for p in places], pa.string()),
        "geometry": pa.array([None if g is None else shapely.to_wkb(g) for g in geoms], pa.binary()),
        "bbox": pa.array([None if g is None else dict(zip(_BBOX, (g.bounds[0], g.bounds[2], g.bounds[1], g.bounds[3])))
                          for g in geoms], pa.struct([(k, pa.float32()) for k in _BBOX])),
        "names": pa.array([{"primary": p.get("name"), "common": None} for p in places], names_type),
        "confidence": pa.array([p.get("confidence") for p in places], pa.float64()),
    }
    if schema == "categories":
        cols["categories"] = pa.array([{"primary": p.get("category"), "alternate": p.get("alternate")} for p in places],
                                      pa.struct([("primary", pa.string()), ("alternate", pa.list_(pa.string()))]))
    else:
        cols["taxonomy"] = pa.array(
            [{"primary": p.get("category"), "hierarchy": [p.get("category")], "alternates": p.get("alternate")} for p in places],
            pa.struct([("primary", pa.string()), ("hierarchy", pa.list_(pa.string())), ("alternates", pa.list_(pa.string()))]))
    for c in drop:
        cols.pop(c)
    table = pa.table(cols)
    geo_meta = {"version": "1.1.0", "primary_column": "geometry",
                "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"]}}}
    pq.write_table(table.replace_schema_metadata({b"geo": json.dumps(geo_meta).encode()}), path)
    return path


#: eight places, one per case; the expected outcome of each (row number -> reason, or its sector)
PLACES = [
    {"id": "08f1", "name": "Photon Ltd", "category": "b2b_electronic_equipment", "lon": 114.40, "lat": 30.50, "confidence": 0.9},
    {"id": "08f2", "name": "Noodle Bar", "category": "restaurant", "alternate": ["bar"], "lon": 114.41, "lat": 30.51,
     "confidence": 0.95},
    {"id": "08f3", "name": "Code & Co", "category": "bakery", "alternate": ["cafe", "software_development"], "lon": 114.42,
     "lat": 30.52, "confidence": 0.7},
    {"id": "08f4", "name": "Maybe Works", "category": "industrial_company", "lon": 114.43, "lat": 30.53, "confidence": 0.2},
    {"id": "08f5", "name": "Unknown Works", "category": "industrial_company", "lon": 114.44, "lat": 30.54, "confidence": None},
    {"id": "08f6", "name": "Nowhere", "category": "industrial_company", "lon": None, "lat": None, "confidence": 0.8},
    {"id": "08f7", "name": "Campus", "category": "industrial_company", "confidence": 0.8,
     "geometry": shapely.box(114.4, 30.5, 114.41, 30.51)},
    {"id": "08f8", "name": "No category", "category": None, "lon": 114.45, "lat": 30.55, "confidence": 0.9},
]
EXPECTED_REJECTS = {2: "no_sector_tag", 4: "low_confidence", 6: "missing_coordinate", 7: "not_a_point", 8: "no_sector_tag"}
EXPECTED_SECTORS = {1: "electronics", 3: "ict", 5: "manufacturing"}


def test_places_become_the_firm_frame_of_the_csv_path(tmp_path):
    path = write_places(tmp_path / "places.parquet", PLACES)
    firms = read_firms(path, source="overture", founded="founded")
    report, rejects = firms.attrs["load_report"], firms.attrs["rejects"]
    assert report["rows_read"] == len(PLACES) == report["rows_kept"] + report["rows_rejected"]
    assert dict(zip(rejects["row"], rejects["reason"])) == EXPECTED_REJECTS
    assert firms["sector"].to_dict() == EXPECTED_SECTORS
    assert report["source"] == "overture" and report["category_column"] == "categories"
    assert report["places_mapped_by_sector"] == {"electronics": 1, "ict": 1, "manufacturing": 1}
    detail = dict(zip(rejects["row"], rejects["detail"]))
    assert detail[4] == "confidence 0.2 < min_confidence 0.5"
    assert "'restaurant'" in detail[2] and detail[8].startswith("no category")
    assert detail[7] == "geometry is Polygon, expected Point"

    # the same places written as a CSV by hand go through the table path to the same frame
    kept = [PLACES[r - 1] for r in EXPECTED_SECTORS]
    csv = pd.DataFrame({"firm_id": [p["id"] for p in kept], "name": [p["name"] for p in kept],
                        "sector": list(EXPECTED_SECTORS.values()), "category": [p["category"] for p in kept],
                        "confidence": [p["confidence"] for p in kept], "lon": [p["lon"] for p in kept],
                        "lat": [p["lat"] for p in kept]})
    csv.to_csv(tmp_path / "same.csv", index=False)
    ref = read_firms(tmp_path / "same.csv")
    ours = firms.drop(columns="geometry").reset_index(drop=True)
    theirs = ref.drop(columns="geometry").reset_index(drop=True)
    assert list(ours.columns) == list(theirs.columns)
    for col in ("firm_id", "name", "sector", "category", "coord_sys", "swapped", "stacked"):
        assert ours[col].astype(str).tolist() == theirs[col].astype(str).tolist(), col
    np.testing.assert_allclose(ours[["lon", "lat", "confidence"]].to_numpy(float),
                               theirs[["lon", "lat", "confidence"]].to_numpy(float), equal_nan=True)
    assert firms.geometry.x.tolist() == [114.40, 114.42, 114.44]


def test_min_confidence_and_own_sector_table(tmp_path):
    path = write_places(tmp_path / "places.parquet", PLACES)
    firms = read_firms(path, source="overture", min_confidence=0.1, sectors={"industrial_company": "metal"})
    rejects = firms.attrs["rejects"]
    # the own table replaces the default: electronics and software are no longer mapped
    assert dict(zip(rejects["row"], rejects["reason"])) == {1: "no_sector_tag", 2: "no_sector_tag", 3: "no_sector_tag",
                                                            6: "missing_coordinate", 7: "not_a_point", 8: "no_sector_tag"}
    assert firms["sector"].to_dict() == {4: "metal", 5: "metal"}
    # the same table as a CSV of two columns
    (tmp_path / "sectors.csv").write_text("category,sector\nindustrial_company,metal\n", encoding="utf-8")
    again = read_firms(path, source="overture", min_confidence=0.1, sectors=tmp_path / "sectors.csv")
    assert again["sector"].to_dict() == {4: "metal", 5: "metal"}


def test_taxonomy_schema_of_newer_releases(tmp_path):
    path = write_places(tmp_path / "places.parquet", PLACES, schema="taxonomy")
    firms = read_firms(path, source="overture")
    assert firms["sector"].to_dict() == EXPECTED_SECTORS
    assert firms.attrs["load_report"]["category_column"] == "taxonomy"


def test_bad_overture_input_is_one_sentence(tmp_path):
    with pytest.raises(DataFileError, match="Firm table not found: 'nope.parquet'"):
        read_firms("nope.parquet", source="overture")
    path = write_places(tmp_path / "nocat.parquet", PLACES, drop=("categories",))
    with pytest.raises(ColumnError, match=r"'nocat.parquet' is not an Overture Places file: it has no 'categories' column; "
                                          r"its columns are id, geometry, bbox, names, confidence\."):
        read_firms(path, source="overture")
    (tmp_path / "text.parquet").write_text("not parquet")
    with pytest.raises(DataFileError, match="Cannot read .* as Parquet"):
        read_firms(tmp_path / "text.parquet", source="overture")
    with pytest.raises(InputError, match=r"source must be one of \['table', 'osm', 'overture'\]; 'overtur' was given"):
        read_firms(path, source="overtur")


def test_config_keys_of_the_sources(tmp_path):
    cfg = config_from_dict({"firms": {"path": "p.parquet", "source": "overture", "min_confidence": 0.7,
                                      "overture_sectors": {"software_development": "ict"}}}, base=tmp_path)
    assert cfg.firms.source == "overture" and cfg.firms.overture_sectors == {"software_development": "ict"}
    cfg = config_from_dict({"firms": {"path": "p.parquet", "source": "overture", "overture_sectors": "s.csv"}}, base=tmp_path)
    assert cfg.firms.overture_sectors == (tmp_path / "s.csv").resolve()
    with pytest.raises(ConfigError, match=r"\[firms\] source must be \"table\", \"osm\" or \"overture\"; 'overtrue' was given"):
        config_from_dict({"firms": {"path": "p.parquet", "source": "overtrue"}})
    with pytest.raises(ConfigError, match=r"\[firms\] lon, crs read a table and do not apply to source = 'overture'"):
        config_from_dict({"firms": {"path": "p.parquet", "source": "overture", "lon": "x", "crs": "gcj02"}})
    with pytest.raises(ConfigError, match=r"min_confidence must be between 0 and 1; 1.5 was given"):
        config_from_dict({"firms": {"path": "p.parquet", "source": "overture", "min_confidence": 1.5}})
    with pytest.raises(ConfigError, match=r"overture_sectors must be a table of sectors"):
        config_from_dict({"firms": {"path": "p.parquet", "source": "overture", "overture_sectors": {"a": 1}}})
    with pytest.raises(ConfigError, match=r"engine = \"pandas\""):
        config_from_dict({"run": {"engine": "dask"}, "firms": {"path": "p.parquet", "source": "overture"}})


#: the study's sectors as Overture categories (food places are restaurants: not in the table)
CATEGORIES = {"optics": "b2b_electronic_equipment", "software": "software_development", "metal": "metal_fabricator",
              "food": "restaurant"}


@pytest.fixture()
def overture_study(tmp_path):
    """The two valleys of tests/study.py as an Overture extract (every 10th place of low confidence)."""
    st = make_study(tmp_path, n=300)
    f = st.frame
    places = [{"id": f"08f{i:05d}", "name": r["company"], "category": CATEGORIES[r["industry"]], "lon": r["lng"],
               "lat": r["lat"], "confidence": 0.3 if i % 10 == 0 else 0.9} for i, r in enumerate(f.to_dict("records"))]
    write_places(tmp_path / "places.parquet", places)
    cfg = st.write_config(
        firms={"path": "places.parquet", "source": "overture", "valley_column": None, "sector_column": None,
               "founded_column": None},
        valleys=[{"name": "Wuhan", "bbox": [114.2, 30.3, 114.6, 30.7]}, {"name": "Changchun", "bbox": [125.1, 43.6, 125.5, 44.1]}])
    table = ('\n[firms.overture_sectors]\nb2b_electronic_equipment = "optics"\nsoftware_development = "software"\n'
             'metal_fabricator = "metal"\n')
    text = cfg.read_text().replace("[parks]", table.strip() + "\n[parks]", 1)
    cfg.write_text(text)
    expected = {"read": len(f), "low": int(np.sum(np.arange(len(f)) % 10 == 0)),
                "food": int(((f["industry"] == "food") & (np.arange(len(f)) % 10 != 0)).sum())}
    return cfg, expected


def test_overture_study_through_geo_check_and_geo_run(overture_study, tmp_path):
    cfg, expected = overture_study
    res = CliRunner().invoke(cli, ["check", str(cfg)])
    assert res.exit_code == 0, res.output
    kept = expected["read"] - expected["low"] - expected["food"]
    assert f"{expected['read']:,} rows read, {kept:,} kept, {expected['low'] + expected['food']:,} rejected" in res.output
    source_line = ("firms from Overture Places (categories from 'categories', min_confidence 0.5): sectors from the "
                   "config's table: optics (")
    assert source_line in res.output
    assert "no conversion" not in res.output  # Overture points are WGS84: no crs hint
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["run", str(cfg), "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    load = summary["load"]
    assert load["rows_read"] == load["rows_kept"] + load["rows_rejected"] == expected["read"]
    assert load["rejected_by_reason"] == {"low_confidence": expected["low"], "no_sector_tag": expected["food"]}
    assert summary["valleys"]["Wuhan"]["n_firms"] + summary["valleys"]["Changchun"]["n_firms"] == kept
    rejects = pd.read_csv(out / "rejects.csv", encoding="utf-8-sig")
    assert set(rejects["reason"]) == {"low_confidence", "no_sector_tag"}


def test_overture_study_without_categories_stops_in_check(overture_study, tmp_path, capsys):
    cfg, _ = overture_study
    write_places(tmp_path / "places.parquet", PLACES, drop=("categories",))
    assert main(["check", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "is not an Overture Places file: it has no 'categories' column; its columns are id, geometry" in err


def test_the_readme_example_of_open_map_data_is_a_valid_config(tmp_path):
    import re
    import tomllib

    from study import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### OpenStreetMap and Overture"):readme.index("### When something is wrong")]
    toml = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    cfg = config_from_dict(tomllib.loads(toml), base=tmp_path)
    assert cfg.firms.source == "overture" and cfg.firms.min_confidence == 0.6 and cfg.parks.source == "osm"
    assert cfg.firms.overture_sectors == {"b2b_electronic_equipment": "optics", "software_development": "software"}
    assert cfg.valleys[0].bbox == (114.2, 30.3, 114.7, 30.7)


def test_packed_wkb_points_read_as_shapely_reads_them():
    """Overture's 21-byte little-endian WKB points are read packed; anything else goes through shapely."""
    import pyarrow as pa

    from geo.io.overture import _points

    rng = np.random.default_rng(4)
    pts = shapely.points(rng.uniform(-180, 180, 50), rng.uniform(-90, 90, 50))
    packed = pa.chunked_array([pa.array(shapely.to_wkb(pts[:20]).tolist(), pa.binary()),
                               pa.array(shapely.to_wkb(pts[20:]).tolist(), pa.binary())])
    x, y, ok, _ = _points(packed)
    assert ok.all() and (x == shapely.get_x(pts)).all() and (y == shapely.get_y(pts)).all()
    big_endian = pa.array(shapely.to_wkb(pts, byte_order=0).tolist(), pa.large_binary())
    x2, y2, ok2, _ = _points(big_endian)
    assert ok2.all() and (x2 == x).all() and (y2 == y).all()
    mixed = pa.array([shapely.to_wkb(pts[0]), None, shapely.to_wkb(shapely.box(0, 0, 1, 1))], pa.binary())
    x3, _, ok3, kinds3 = _points(mixed)
    assert ok3.tolist() == [True, False, False] and kinds3.tolist() == ["Point", "missing", "Polygon"]
    assert x3[0] == x[0] and np.isnan(x3[1:]).all()


def test_a_bad_sector_table_is_one_sentence(tmp_path):
    path = write_places(tmp_path / "places.parquet", PLACES)
    (tmp_path / "three.csv").write_text("category,sector,note\nbakery,food,x\n", encoding="utf-8")
    with pytest.raises(ColumnError, match=r"sector table 'three.csv' must have two columns \(the Overture category key, the "
                                          r"sector\); it has 3: category, sector, note\."):
        read_firms(path, source="overture", sectors=tmp_path / "three.csv")
    with pytest.raises(InputError, match=r"sector table has an empty key or sector \('bakery'\)"):
        read_firms(path, source="overture", sectors={"bakery": " "})
    with pytest.raises(DataFileError, match="Overture category sector table not found: 'nope.csv'"):
        read_firms(path, source="overture", sectors="nope.csv")


def test_overture_runs_say_the_data_carry_no_founding_dates(overture_study, tmp_path):
    """Emerging hot spots are skipped because Overture Places have no founding dates, not because a column was misnamed."""
    cfg, _ = overture_study
    out = tmp_path / "out"
    assert CliRunner().invoke(cli, ["run", str(cfg), "--out", str(out)]).exit_code == 0
    summary = json.loads((out / "summary.json").read_text())
    for name in ("Wuhan", "Changchun"):
        assert summary["valleys"][name]["skipped"]["emerging_hotspots"] == "Overture Places data carry no founding dates"
