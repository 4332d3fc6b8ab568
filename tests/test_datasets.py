"""Tests of geo.datasets: the committed demo data is exactly what the generator makes, and
its truth (dirt counts, scenarios) is what an independent reading of the files finds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

import geo.datasets as ds
from geo.crs import wgs84_to_gcj02
from geo.datasets import DEMO_SEED, demo_files, demo_path, generate_demo, load_truth
from geo.errors import DataFileError, InputError

DATA = Path(__file__).resolve().parent.parent / "geo" / "datasets" / "data"
GENERATED = [
    "firms_demo.csv",
    "industry_groups.csv",
    "demo_truth.json",
    *(f"shapefiles/parks_demo{ext}" for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg")),
]
COLUMNS = [
    "firm_id", "name", "lon", "lat", "coord_sys", "valley", "industry_code", "sector",
    "subsector", "founded", "employees", "rd", "ownership", "anchor",
]


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("demo")
    return out, generate_demo(out)


@pytest.fixture(scope="module")
def firms() -> pd.DataFrame:
    return pd.read_csv(DATA / "firms_demo.csv", dtype=str, keep_default_na=False, encoding="utf-8")


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads((DATA / "demo_truth.json").read_text(encoding="utf-8"))


def _num(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce")


def _valid_rows(firms: pd.DataFrame) -> pd.DataFrame:
    """Rows with usable coordinates, each firm once (duplicates and stacked rows dropped)."""
    lon, lat = _num(firms["lon"]), _num(firms["lat"])
    ok = lon.between(-180, 180) & lat.between(-90, 90) & ~((lon == 0) & (lat == 0))
    out = firms[ok & ~firms.duplicated(keep="first")].assign(x=lon[ok], y=lat[ok])
    counts = out.groupby(["lon", "lat"])["firm_id"].transform("size")
    return out[counts < 10].assign(founded=lambda d: d["founded"].astype(int))


def _metres(lon, lat, lon0, lat0):
    """Local east/north metres (adequate at the km scale of these checks)."""
    ky = 111_132.0
    kx = 111_320.0 * np.cos(np.radians(lat0))
    return (np.asarray(lon) - lon0) * kx, (np.asarray(lat) - lat0) * ky


# --- reproducibility ------------------------------------------------------------------


@pytest.mark.parametrize("rel", GENERATED)
def test_committed_files_are_what_the_generator_makes(regenerated, rel):
    out, _ = regenerated
    assert (DATA / rel).is_file(), f"committed demo file {rel} missing"
    assert (out / rel).read_bytes() == (DATA / rel).read_bytes(), (
        f"{rel} differs from a fresh generate_demo(); run "
        "python -c \"from geo.datasets import generate_demo; generate_demo('geo/datasets/data')\""
    )


def test_generator_is_deterministic_and_seed_dependent(regenerated, tmp_path):
    out, first = regenerated
    second = generate_demo(tmp_path / "again", seed=DEMO_SEED)
    assert second == first
    for rel in GENERATED:
        assert (tmp_path / "again" / rel).read_bytes() == (out / rel).read_bytes(), rel
    other = generate_demo(tmp_path / "other", seed=DEMO_SEED + 1)
    assert other["generator"]["seed"] == DEMO_SEED + 1
    fresh = (tmp_path / "other" / "firms_demo.csv").read_bytes()
    assert fresh != (out / "firms_demo.csv").read_bytes()
    assert other["rows"] != first["rows"]


def test_dbf_header_date_is_pinned(regenerated):
    out, _ = regenerated
    header = (out / "shapefiles" / "parks_demo.dbf").read_bytes()[:4]
    assert header[0] == 0x03  # dBASE III without memo
    assert tuple(header[1:4]) == (100, 1, 1)  # 2000-01-01, not today


def test_returned_truth_is_the_written_truth(regenerated):
    out, returned = regenerated
    assert returned == json.loads((out / "demo_truth.json").read_text(encoding="utf-8"))
    assert returned["generator"]["seed"] == DEMO_SEED


def test_generate_demo_rejects_a_non_int_seed(tmp_path):
    with pytest.raises(InputError, match="`seed` must be an int"):
        generate_demo(tmp_path, seed=np.random.default_rng(0))
    with pytest.raises(InputError, match="`seed` must be an int"):
        generate_demo(tmp_path, seed="1")


# --- the firm table -------------------------------------------------------------------


def test_csv_format(firms):
    raw = (DATA / "firms_demo.csv").read_bytes()
    assert b"\r\n" not in raw
    assert not raw.startswith(b"\xef\xbb\xbf")
    raw.decode("utf-8")
    assert len(raw) < 6_000_000
    assert list(firms.columns) == COLUMNS
    assert set(firms["valley"]) == {"Wuhan", "Changchun", "Shenzhen"}
    assert 30_000 <= len(firms) <= 45_000
    for v, n in firms["valley"].value_counts().items():
        assert 10_000 <= n <= 14_000, v
    assert set(firms["coord_sys"]) == {"wgs84", "gcj02"}
    assert set(firms["rd"]) == {"0", "1"} and set(firms["anchor"]) == {"0", "1"}
    assert set(firms["ownership"]) == {"domestic", "foreign"}
    founded = firms["founded"].astype(int)
    assert founded.min() == 1980 and founded.max() == 2024
    assert firms["employees"].astype(int).min() >= 1
    assert firms["firm_id"].str.fullmatch(r"(WH|CC|SZ)\d{6}").all()
    # the id is unique except for exact duplicate records
    dedup = firms.drop_duplicates()
    assert dedup["firm_id"].is_unique
    # valid coordinates carry 6 decimals
    valid = _valid_rows(firms)
    assert valid["lon"].str.fullmatch(r"-?\d+\.\d{6}").all()


def test_growth_and_heavy_tails(firms):
    dedup = firms.drop_duplicates()
    founded = dedup["founded"].astype(int)
    assert (founded >= 2010).sum() > 3 * (founded < 1995).sum()
    emp = dedup["employees"].astype(int)
    assert emp.max() > 50 * emp.median()
    # research and development is more common in optics than in business services
    rd = dedup.groupby("sector")["rd"].apply(lambda s: (s == "1").mean())
    assert rd["optics"] > 3 * rd["business_services"]
    # Shenzhen has the highest foreign-invested share
    foreign = dedup.groupby("valley")["ownership"].apply(lambda s: (s == "foreign").mean())
    assert foreign.idxmax() == "Shenzhen"


def test_industry_groups_cover_every_code(firms):
    groups = pd.read_csv(DATA / "industry_groups.csv", dtype=str, keep_default_na=False)
    assert list(groups.columns) == ["industry_code", "sector", "subsector", "group", "description"]
    assert groups["industry_code"].is_unique
    assert groups["industry_code"].str.fullmatch(r"\d{4}").all()
    assert set(groups["group"]) == {"high-tech", "traditional"}
    assert set(groups["industry_code"]) == set(firms["industry_code"])
    merged = firms.merge(groups, on="industry_code", suffixes=("", "_g"), validate="many_to_one")
    assert (merged["sector"] == merged["sector_g"]).all()
    assert (merged["subsector"] == merged["subsector_g"]).all()
    optics = firms[firms["sector"] == "optics"]
    assert set(optics["subsector"]) == {
        "lasers", "optical_fibre", "optoelectronic_devices", "optical_instruments", "displays_led",
    }
    others = firms[firms["sector"] != "optics"]
    assert (others["subsector"] == others["sector"]).all()
    assert (groups.loc[groups["sector"] == "optics", "group"] == "high-tech").all()


def test_subsector_mix_differs_by_valley(firms):
    opt = firms[firms["sector"] == "optics"].drop_duplicates()
    top = opt.groupby("valley")["subsector"].agg(lambda s: s.value_counts().idxmax())
    assert top["Wuhan"] == "optical_fibre"
    assert top["Changchun"] == "optical_instruments"
    assert top["Shenzhen"] == "displays_led"


def test_html_names_are_present(firms, truth):
    names = set(firms["name"])
    for name in truth["html_names"]:
        assert name in names
    for fragment in ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "</script>",
                     "`", "${alert(1)}", '"', "&"):
        assert firms["name"].str.contains(fragment, regex=False).any(), fragment
    assert firms["name"].str.contains(r"[\u4e00-\u9fff]").mean() > 0.3
    assert firms["name"].str.fullmatch(r"[ -~]+").mean() > 0.3


# --- dirt: counted independently here, compared with the truth -------------------------


def test_dirt_counts_match_truth(firms, truth):
    dirt = truth["dirt"]
    assert truth["rows"] == len(firms)
    for v, vt in truth["valleys"].items():
        assert vt["n_rows"] == (firms["valley"] == v).sum()
        assert vt["n_firms"] == firms.loc[firms["valley"] == v, "firm_id"].nunique()

    missing = (firms["lon"] == "") | (firms["lat"] == "")
    lon, lat = _num(firms["lon"]), _num(firms["lat"])
    not_a_number = ~missing & (lon.isna() | lat.isna())
    numeric = ~missing & ~not_a_number
    zero = numeric & (lon == 0) & (lat == 0)
    in_range = lon.between(-180, 180) & lat.between(-90, 90)
    swapped = numeric & ~in_range & lat.between(-180, 180) & lon.between(-90, 90)
    out_of_range = numeric & ~in_range & ~swapped
    duplicate = firms.duplicated(keep="first")

    assert missing.sum() == dirt["missing_coordinate"]
    assert not_a_number.sum() == dirt["not_a_number"]
    assert out_of_range.sum() == dirt["out_of_range"]
    assert zero.sum() == dirt["zero_zero"]
    assert swapped.sum() == dirt["swapped"]
    assert duplicate.sum() == dirt["duplicate"]
    for key in ("missing_coordinate", "not_a_number", "out_of_range", "zero_zero", "swapped",
                "duplicate"):
        assert dirt[key] >= 1, key
    # swapped rows become valid (and land in their valley) when swapped back
    back = firms[swapped]
    assert back["valley"].nunique() == 1
    blon, blat = _num(back["lat"]), _num(back["lon"])
    bbox = truth["valleys"][back["valley"].iloc[0]]["bbox"]
    assert blon.between(bbox[0], bbox[2]).all() and blat.between(bbox[1], bbox[3]).all()
    # the ids in the truth are the rows found here
    assert set(firms.loc[missing, "firm_id"]) == set(truth["dirt_firm_ids"]["missing_coordinate"])
    assert set(firms.loc[swapped, "firm_id"]) == set(truth["dirt_firm_ids"]["swapped"])
    assert set(firms.loc[duplicate, "firm_id"]) == set(truth["dirt_firm_ids"]["duplicate"])

    # a stacked fallback geocode: many different firms on exactly one coordinate
    st = dirt["stacked"]
    at = firms[(firms["lon"] == f"{st['lon']:.6f}") & (firms["lat"] == f"{st['lat']:.6f}")]
    assert at["firm_id"].nunique() == st["n"] >= 50
    assert set(at["valley"]) == {st["valley"]}
    shared = firms[numeric & in_range & ~zero & ~duplicate].groupby(["lon", "lat"]).size()
    assert shared.max() == st["n"]
    assert (shared >= 2).sum() == 1  # no other coordinate is shared

    # one whole valley in GCJ-02
    gcj = firms["coord_sys"] == "gcj02"
    assert gcj.sum() == dirt["gcj02_rows"]
    assert set(firms.loc[gcj, "valley"]) == {"Changchun"}
    assert (firms.loc[firms["valley"] == "Changchun", "coord_sys"] == "gcj02").all()

    total = sum(dirt[k] for k in ("missing_coordinate", "not_a_number", "out_of_range",
                                  "zero_zero", "swapped", "duplicate")) + st["n"]
    assert 0.01 * len(firms) < total < 0.05 * len(firms)


def test_gcj02_rows_are_shifted_true_positions(firms, truth):
    for anchor in truth["valleys"]["Changchun"]["anchors"]:
        row = firms[firms["firm_id"] == anchor["firm_id"]].iloc[0]
        glon, glat = wgs84_to_gcj02(anchor["lon"], anchor["lat"])
        assert row["lon"] == f"{float(glon):.6f}" and row["lat"] == f"{float(glat):.6f}"
        assert row["anchor"] == "1"
    for anchor in truth["valleys"]["Wuhan"]["anchors"]:
        row = firms[firms["firm_id"] == anchor["firm_id"]].iloc[0]
        assert (row["lon"], row["lat"]) == (f"{anchor['lon']:.6f}", f"{anchor['lat']:.6f}")


# --- parks ------------------------------------------------------------------------------


def test_parks_layer(truth):
    path = DATA / "shapefiles" / "parks_demo.shp"
    info = pyogrio.read_info(path)
    assert info["crs"] == "EPSG:4326"
    assert info["encoding"] == "UTF-8"
    assert list(info["fields"]) == ["name", "valley", "designated", "illustrati", "note"]
    assert (DATA / "shapefiles" / "parks_demo.cpg").read_text() == "UTF-8"
    parks = pyogrio.read_dataframe(path)
    assert parks.crs.to_epsg() == 4326
    assert set(parks.geom_type) == {"Polygon"}
    assert (parks["illustrati"] == 1).all()
    assert parks["note"].str.contains("illustrative boundary, not official").all()
    assert set(parks["valley"]) == {"Wuhan", "Changchun", "Shenzhen"}
    assert set(parks["name"]) == set(truth["parks"])
    for _, p in parks.iterrows():
        t = truth["parks"][p["name"]]
        assert p["designated"] == t["designated"] and p["valley"] == t["valley"]
        assert t["verdict"] in truth["verdicts"]
    invalid = parks[~parks.is_valid]
    assert list(invalid["name"]) == [truth["dirt"]["self_intersecting_park"]]
    assert "Self-intersection" in shapely.is_valid_reason(invalid.geometry.iloc[0])
    verdicts = {p["valley"]: p["verdict"] for p in truth["parks"].values() if p["target_cluster"]}
    assert verdicts == {
        "Wuhan": "cluster formed after designation",
        "Changchun": "park on a pre-existing cluster",
    }
    main_sz = truth["valleys"]["Shenzhen"]["main_park"]
    assert truth["parks"][main_sz]["verdict"] == "park without a cluster"


# --- the scenarios, checked from the files alone -----------------------------------------


@pytest.fixture(scope="module")
def parks_geom() -> dict:
    parks = pyogrio.read_dataframe(DATA / "shapefiles" / "parks_demo.shp")
    return {n: shapely.make_valid(g) for n, g in zip(parks["name"], parks.geometry, strict=True)}


def _optics(valid: pd.DataFrame, valley: str) -> pd.DataFrame:
    return valid[(valid["valley"] == valley) & (valid["sector"] == "optics")]


def test_wuhan_cluster_formed_inside_park_after_designation(firms, truth, parks_geom):
    valid = _valid_rows(firms)
    park_name = truth["valleys"]["Wuhan"]["main_park"]
    park = truth["parks"][park_name]
    year = park["designated"]
    opt = _optics(valid, "Wuhan")
    inside = shapely.contains_xy(parks_geom[park_name], opt["x"].to_numpy(), opt["y"].to_numpy())
    before = opt["founded"].to_numpy() < year
    assert (inside & before).sum() == park["n_target_firms_inside_before_designation"] <= 5
    anchors = opt["anchor"].to_numpy() == "1"
    assert (inside & before & anchors).sum() == park["n_target_anchors_inside_before_designation"]
    assert (inside & ~before).sum() >= 800
    assert inside.sum() == park["n_target_firms_inside"]
    # there are early optics firms, but spread like the background, not in the park
    assert before.sum() >= 30
    assert (inside & before).sum() / before.sum() < 0.1
    cl = truth["valleys"]["Wuhan"]["clusters"][0]
    assert cl["park_relation"] == "inside" and cl["inside_park"] == park_name
    assert cl["founded_range"][0] > year and cl["n_before_reference_year"] == 0


def test_changchun_cluster_predates_park_and_straddles_it(firms, truth, parks_geom):
    vt = truth["valleys"]["Changchun"]
    cl = vt["clusters"][0]
    year = truth["parks"][vt["main_park"]]["designated"]
    valid = _valid_rows(firms)
    opt = _optics(valid, "Changchun")
    # the file is GCJ-02: measure around the GCJ-02 image of the true centre
    glon, glat = wgs84_to_gcj02(*cl["centre"])
    x, y = _metres(opt["x"], opt["y"], float(glon), float(glat))
    near = np.hypot(x, y) <= 2010.0
    early = opt["founded"].to_numpy() < year
    assert (near & early).sum() >= 150
    assert (near & early).sum() >= cl["n_before_reference_year_within_2km"] >= 150
    assert 0.3 <= cl["share_inside_park"] <= 0.7
    assert cl["park_relation"] == "partly_inside" and cl["inside_park"] == vt["main_park"]
    assert any(a["name"].endswith("(CIOMP)") for a in vt["anchors"])
    assert vt["coord_sys"] == "gcj02"


def test_shenzhen_main_cluster_lies_outside_the_park(firms, truth, parks_geom):
    vt = truth["valleys"]["Shenzhen"]
    park_name = vt["main_park"]
    valid = _valid_rows(firms)
    opt = _optics(valid, "Shenzhen")
    inside = shapely.contains_xy(parks_geom[park_name], opt["x"].to_numpy(), opt["y"].to_numpy())
    assert inside.sum() == truth["parks"][park_name]["n_target_firms_inside"]
    main = max(vt["clusters"], key=lambda c: c["n_firms"])
    assert main["id"] in vt["clusters_outside_parks"]
    assert set(vt["clusters_outside_parks"]) == {c["id"] for c in vt["clusters"]}
    x, y = _metres(opt["x"], opt["y"], *main["centre"])
    near = np.hypot(x, y) <= 2000.0
    assert near.sum() >= 20 * max(inside.sum(), 1)
    centroid = parks_geom[park_name].centroid
    dx, dy = _metres(centroid.x, centroid.y, *main["centre"])
    assert np.hypot(dx, dy) > 15_000


def test_clusters_recorded_in_truth_are_in_the_file(firms, truth):
    valid = _valid_rows(firms)
    for v, vt in truth["valleys"].items():
        for c in vt["clusters"] + vt["other_clusters"]:
            lon, lat = c["centre"]
            if vt["coord_sys"] == "gcj02":
                lon, lat = (float(a) for a in wgs84_to_gcj02(lon, lat))
            sel = valid[(valid["valley"] == v) & (valid["sector"] == c["sector"])]
            x, y = _metres(sel["x"], sel["y"], lon, lat)
            d = np.hypot(x, y)
            # cluster members plus the background of the same sector nearby (the 10 m slack
            # absorbs this test's cruder metric and the GCJ-02 shift's variation)
            assert (d <= 2010.0).sum() >= c["n_firms_within_2km"], c["id"]
            assert (d <= 1990.0).sum() <= 1.3 * c["n_firms_within_2km"] + 30, c["id"]


# --- the loader ---------------------------------------------------------------------------


def test_demo_files_and_truth():
    files = demo_files()
    assert set(files) == {"firms", "parks", "industry_groups", "truth", "config"}
    assert all(p.is_file() for p in files.values())
    assert files["firms"] == DATA / "firms_demo.csv"
    assert demo_path("parks") == DATA / "shapefiles" / "parks_demo.shp"
    assert load_truth() == json.loads((DATA / "demo_truth.json").read_text(encoding="utf-8"))


def test_demo_path_errors(monkeypatch, tmp_path):
    with pytest.raises(InputError, match="Unknown demo file 'nope'"):
        demo_path("nope")
    monkeypatch.setattr(ds._files, "_DATA_DIR", tmp_path / "missing")
    with pytest.raises(DataFileError, match="expected it at .*missing.*firms_demo.csv"):
        demo_path("firms")
    with pytest.raises(DataFileError, match="generate_demo"):
        demo_files()
    with pytest.raises(DataFileError):
        load_truth()
