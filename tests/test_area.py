"""The study area (geo.cells.area): random park placements stay in it, the default rule leaves out
the gaps the convex hull spans (areas checked by hand), a boundary file through ``geo run``, and
bad boundary files stopped with one sentence."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

import geo
from geo.cells.area import BUFFER_SHARE, StudyArea, keys_area, study_area
from geo.cells.grid import aggregate, lattice_keys
from geo.cli import main
from geo.config import config_from_dict
from geo.errors import ConfigError, CRSError, DataFileError, InputError
from geo.parks import overlay as gp
from tests.study import CENTRES, make_study

X0, Y0 = 500_000.0, 3_300_000.0  # a UTM 50N origin on the 1 km lattice
#: area of the 8-segments-per-quarter circle of radius 1 that shapely's buffer draws (inscribed 32-gon)
CORNERS = 16 * math.sin(math.pi / 16)


# ----------------------------------------------------------------------------- placements
def _c_shape():
    """A 10 km square with a bay cut from its east side (the sea) and a 1 km lake inside."""
    outer = shapely.box(0, 0, 10_000, 10_000)
    bay = shapely.box(3_000, 3_000, 10_000, 7_000)
    lake = shapely.box(1_000, 1_000, 2_000, 2_000)
    return shapely.difference(shapely.difference(outer, bay), lake), bay, lake


def _cells_500(z_of):
    """500 m square cells over the 10 km square, ``gi_z`` given by ``z_of(cx, cy)``."""
    i, j = np.meshgrid(np.arange(20), np.arange(20))
    x0, y0 = i.ravel() * 500.0, j.ravel() * 500.0
    cells = gpd.GeoDataFrame(geometry=shapely.box(x0, y0, x0 + 500, y0 + 500), crs=32650)
    z = z_of(x0 + 250, y0 + 250)
    cells["gi_z"] = z
    cells["gi_bin"] = np.where(z > 2.58, 3, 0)
    return cells


def test_placements_never_land_in_the_bay_or_the_lake():
    area, bay, lake = _c_shape()
    park = shapely.Polygon([(0, 0), (1500, 0), (1500, 900), (0, 900)])
    sims, tries = gp._random_placements(park, area, None, 400, np.random.default_rng(3), 10**6)
    assert len(sims) == 400 and tries > 400  # some candidates fell in the bay and were redrawn
    xy = np.concatenate([shapely.get_coordinates(s) for s in sims])
    # by coordinates and areas, not by the predicate the sampler used
    assert xy.min() >= 0 and xy.max() <= 10_000
    assert max(shapely.intersection(s, bay).area for s in sims) < 1e-6
    assert max(shapely.intersection(s, lake).area for s in sims) < 1e-6
    assert all(s.area == pytest.approx(park.area) for s in sims)


def test_placement_test_sees_no_cell_of_the_bay():
    """Cells over the bay have z = 10, the rest 0: a park placed in the C-shaped area never
    covers a bay cell (the random mean z is exactly 0); placed in the full square it does."""
    area, bay, _ = _c_shape()
    in_bay = lambda x, y: np.where((x > 3_000) & (y > 3_000) & (y < 7_000), 10.0, 0.0)  # noqa: E731
    cells = _cells_500(in_bay)
    park = shapely.box(500, 7_500, 2_000, 9_000)
    res = gp.placement_test(park, cells, study_area=area, permutations=199, seed=0)
    assert res["permutations_done"] == 199 and res["sim_mean_z"] == 0.0 and res["mean_z"] == 0.0
    full = gp.placement_test(park, cells, study_area=shapely.box(0, 0, 10_000, 10_000), permutations=199, seed=0)
    assert full["sim_mean_z"] > 1.0  # the convex hull would let the parks into the sea


# ----------------------------------------------------------------------------- the default rule
def _two_blobs(gap_km: int = 37):
    """Firms on the centres of two blocks of 3 x 3 one-km cells, ``gap_km`` km apart."""
    cx = np.r_[np.arange(500, 3000, 1000), np.arange(500, 3000, 1000) + (3 + gap_km) * 1000.0]
    x = np.repeat(cx, 3) + X0
    y = np.tile([500.0, 1500.0, 2500.0], 6) + Y0
    return gpd.GeoDataFrame({"sector": ["optics", "food"] * 9}, geometry=shapely.points(x, y), crs=32650)


def test_cells_area_of_two_blobs_by_hand():
    firms = _two_blobs()
    cells_area = study_area(firms, cell="square", size=1000)
    hull = study_area(firms, rule="hull", cell="square", size=1000)
    # each block: its 3 x 3 km, four 3 km x 1 km sides and four quarter circles of 1 km
    b = BUFFER_SHARE  # one cell, less a millionth
    assert cells_area.area_km2 == pytest.approx(2 * (9 + 4 * 3 * b + CORNERS * b * b), rel=1e-12)
    # the hull of the points: 42 km (500 .. 42,500 m) by 2 km
    assert hull.area_km2 == pytest.approx(42 * 2, rel=1e-12)
    gap = shapely.Point(X0 + 21_500, Y0 + 1_500)
    assert shapely.contains(hull.geometry, gap) and not shapely.intersects(cells_area.geometry, gap)
    assert len(shapely.get_parts(cells_area.geometry)) == 2
    assert cells_area.rule == "cells" and "buffered by one cell" in cells_area.description
    assert cells_area.size_m == 1000.0 and cells_area.crs == "EPSG:32650"


def test_cells_of_two_blobs_leave_out_the_gap():
    firms = _two_blobs()
    area = study_area(firms, cell="square", size=1000)
    cells = aggregate(firms, cell="square", size=1000, by="sector", extent=area)
    # per block: the 3 x 3 cells and the ring of 16 around them (the corner cells overlap the
    # rounded corners); the ring beyond only touches the buffer
    assert len(cells) == 2 * 25
    cx = shapely.get_x(shapely.centroid(cells.geometry.values)) - X0
    assert not ((cx > 4_000) & (cx < 39_000)).any()  # block B: cells 40..42 km, its ring from 39 km
    assert cells["n_firms"].sum() == 18 and cells.attrs["n_outside"] == 0
    assert cells.attrs["extent_area_m2"] == pytest.approx(area.geometry.area)
    hull_cells = aggregate(firms, cell="square", size=1000, by="sector")
    assert len(hull_cells) == 43 * 3  # 500 .. 42,500 m by 500 .. 2,500 m


def test_hull_rule_gives_the_cells_of_earlier_versions():
    rng = np.random.default_rng(5)
    pts = shapely.points(X0 + rng.uniform(0, 8000, 300), Y0 + rng.uniform(0, 5000, 300))
    firms = gpd.GeoDataFrame(geometry=pts, crs=32650)
    for cell in ("hex", "square"):
        old = aggregate(firms, cell=cell)
        new = aggregate(firms, cell=cell, extent=study_area(firms, rule="hull", cell=cell))
        assert np.array_equal(old.geometry.values, new.geometry.values)
        pd.testing.assert_frame_equal(pd.DataFrame(old.drop(columns="geometry")), pd.DataFrame(new.drop(columns="geometry")))
        assert old.attrs == new.attrs


def test_cells_area_keeps_the_automatic_size_and_holds_every_firm():
    rng = np.random.default_rng(7)
    x = np.r_[rng.normal(0, 800, 400), rng.normal(15_000, 800, 400)] + X0
    y = rng.normal(0, 800, 800) + Y0
    firms = gpd.GeoDataFrame(geometry=shapely.points(x, y), crs=32650)
    area = study_area(firms)
    cells = aggregate(firms, extent=area)
    assert cells.attrs["size_m"] == area.size_m == aggregate(firms).attrs["size_m"]  # sized on the hull, as before
    assert cells.attrs["size_rule"] == area.size_rule and "convex hull" in area.size_rule["sized_on"]
    assert area.size_rule["extent_area_m2"] == pytest.approx(study_area(firms, rule="hull").area_km2 * 1e6)
    assert shapely.intersects_xy(area.geometry, x, y).all() and cells["n_firms"].sum() == 800
    # the lattice-key form (the dask engine's) draws the same polygon
    a, b = lattice_keys(x, y, "hex", area.size_m)
    assert shapely.equals_exact(keys_area(a, b, cell="hex", size_m=area.size_m), area.geometry, tolerance=0)
    # no empty cell joins the grid by a rounding error: each overlaps the area by a real share
    empty = cells["n_firms"].to_numpy() == 0
    overlap = shapely.area(shapely.intersection(cells.geometry.values[empty], area.geometry))
    assert overlap.min() > 0.01 * cells.attrs["cell_area_m2"]
    # a hole left by the buffer is filled: the area has no interior ring
    assert all(len(p.interiors) == 0 for p in shapely.get_parts(area.geometry))


def test_study_area_rejects_an_unknown_rule():
    with pytest.raises(InputError, match=r"`rule` must be one of 'cells', 'hull'.*'concave' was given"):
        study_area(_two_blobs(), rule="concave")


# ----------------------------------------------------------------------------- config
def test_config_rules_and_paths(tmp_path):
    base = {"firms": {"path": "f.csv"}}
    assert config_from_dict(base).analysis.study_area == "cells"
    cfg = config_from_dict({**base, "analysis": {"study_area": "hull"},
                            "valleys": [{"name": "A", "study_area": "a.gpkg"}, {"name": "B"}]}, base=tmp_path)
    assert cfg.analysis.study_area == "hull"
    assert cfg.valleys[0].study_area == (tmp_path / "a.gpkg").resolve() and cfg.valleys[1].study_area is None
    assert cfg.to_dict()["valleys"][0]["study_area"] == str((tmp_path / "a.gpkg").resolve())
    with pytest.raises(ConfigError, match=r"\[analysis\] study_area must be \"cells\".*5 was given"):
        config_from_dict({**base, "analysis": {"study_area": 5}})
    with pytest.raises(ConfigError, match=r"\[\[valleys\]\] 'A': study_area must be"):
        config_from_dict({**base, "valleys": [{"name": "A", "study_area": ""}]})


# ----------------------------------------------------------------------------- a boundary file through geo run
def _box(valley: str, half: float = 0.1, east: float | None = None):
    lon, lat = CENTRES[valley]
    return shapely.box(lon - half, lat - half, lon + half if east is None else east, lat + half)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    s = make_study(tmp_path_factory.mktemp("area"), n=300)
    gpd.GeoDataFrame({"name": ["Wuhan"]}, geometry=[_box("Wuhan")], crs=4326).to_file(s.folder / "wuhan_area.gpkg")
    return s


def test_a_boundary_file_through_geo_run(study, capsys):
    cfg = study.write_config(valleys=[{"name": "Wuhan", "study_area": "wuhan_area.gpkg"}, {"name": "Changchun"}],
                             name="with_area.toml")
    out = study.folder / "out_area"
    assert main(["run", str(cfg), "--out", str(out), "-q"]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    wuhan, changchun = summary["valleys"]["Wuhan"], summary["valleys"]["Changchun"]
    assert wuhan["study_area"]["rule"] == "file" and wuhan["study_area"]["source"].endswith("wuhan_area.gpkg")
    # the box's area on the ellipsoid (pyproj.Geod), against the run's in UTM 50N (scale ~1.0004 here)
    geodesic = abs(pyproj.Geod(ellps="WGS84").geometry_area_perimeter(_box("Wuhan"))[0]) / 1e6
    assert wuhan["study_area"]["area_km2"] == pytest.approx(geodesic, rel=2e-3)
    assert wuhan["grid"]["extent_area_m2"] / 1e6 == pytest.approx(wuhan["study_area"]["area_km2"], rel=1e-12)
    assert wuhan["grid"]["extent"] == "polygon layer wuhan_area.gpkg (1 polygon)" and wuhan["grid"]["n_outside"] == 0
    assert changchun["study_area"]["rule"] == "cells"
    # the placements and the valley density use the file's area: firms per km² of the box
    park = wuhan["park_results"][0]
    assert park["density_valley"] == pytest.approx(300 / wuhan["study_area"]["area_km2"], rel=1e-9)
    layer = gpd.read_file(out / "layers.gpkg", layer="study_area")
    assert layer["valley"].tolist() == ["Wuhan", "Changchun"] and layer["rule"].tolist() == ["file", "cells"]
    assert shapely.equals_exact(layer.geometry.iloc[0].normalize(), _box("Wuhan").normalize(), tolerance=1e-9)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "polygon layer wuhan_area.gpkg (1 polygon)" in html and "cells holding firms (hex," in html


def _write_layer(path, geoms, crs=4326):
    gpd.GeoDataFrame({"id": range(len(geoms))}, geometry=list(geoms), crs=crs).to_file(path)
    return path.name


def _one_line(capsys, cfg) -> str:
    assert main(["check", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("geo: error: ") and err.count("\n") == 1  # one sentence, no traceback
    return err


def test_a_missing_boundary_file(study, capsys):
    cfg = study.write_config(valleys=[{"name": "Wuhan", "study_area": "nowhere.gpkg"}, {"name": "Changchun"}],
                             name="missing.toml")
    assert "Study-area file not found: " in _one_line(capsys, cfg) and "nowhere.gpkg" in _one_line(capsys, cfg)
    with pytest.raises(DataFileError, match="Study-area file not found"):
        geo.check(cfg)


def test_a_point_layer_is_not_a_study_area(study, capsys):
    name = _write_layer(study.folder / "points.gpkg", shapely.points([114.4, 114.41, 114.42], [30.5, 30.5, 30.5]))
    cfg = study.write_config(analysis={"study_area": name}, name="points.toml")
    err = _one_line(capsys, cfg)
    assert "Study-area file 'points.gpkg' must hold polygons; its 3 feature(s) are Point (3)" in err
    with pytest.raises(InputError, match="must hold polygons"):
        geo.run(cfg)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_a_boundary_without_crs(study, capsys):
    gpd.GeoDataFrame({"id": [0]}, geometry=[_box("Wuhan")]).to_file(study.folder / "nocrs.shp")
    cfg = study.write_config(valleys=[{"name": "Wuhan", "study_area": "nocrs.shp"}, {"name": "Changchun"}],
                             name="nocrs.toml")
    assert "'nocrs.shp' has no coordinate reference system" in _one_line(capsys, cfg)
    with pytest.raises(CRSError, match="no coordinate reference system"):
        geo.check(cfg)


def test_firms_outside_the_boundary_are_counted(study, capsys):
    lon, _ = CENTRES["Wuhan"]
    _write_layer(study.folder / "west.gpkg", [_box("Wuhan", east=lon)])  # the western half only
    cfg = study.write_config(valleys=[{"name": "Wuhan", "study_area": "west.gpkg"}, {"name": "Changchun"}],
                             name="west.toml")
    f = study.frame[study.frame[study.columns["valley"]] == "Wuhan"]
    n_out = int((f[study.columns["lon"]] > lon).sum())  # by the coordinates, not by GEOS
    assert 50 < n_out < 250
    err = _one_line(capsys, cfg)
    assert "The study area of valley 'Wuhan' (west.gpkg, " in err and f"leaves out {n_out} of its 300 firms" in err
    with pytest.raises(InputError, match=f"leaves out {n_out} of its 300 firms"):
        geo.check(cfg)


def test_a_study_wide_layer_takes_the_polygons_of_each_valley(study, capsys):
    name = _write_layer(study.folder / "both.gpkg", [_box("Wuhan"), _box("Changchun"), shapely.box(0, 0, 1, 1)])
    cfg = study.write_config(analysis={"study_area": name}, name="both.toml")
    res = geo.check(cfg)
    assert [v.name for v in res.valleys] == ["Wuhan", "Changchun"]
    only = _write_layer(study.folder / "only_wuhan.gpkg", [_box("Wuhan")])
    cfg = study.write_config(analysis={"study_area": only}, name="only.toml")
    err = _one_line(capsys, cfg)
    assert "No polygon of the study-area layer only_wuhan.gpkg holds any of the 300 firms of valley 'Changchun'" in err


def test_the_dask_engine_refuses_a_boundary_file(study):
    cfg = study.write_config(valleys=[{"name": "Wuhan", "study_area": "wuhan_area.gpkg"}, {"name": "Changchun"}],
                             name="dask.toml")
    text = cfg.read_text(encoding="utf-8")
    cfg.write_text('[run]\nengine = "dask"\n' + text, encoding="utf-8")
    with pytest.raises(InputError, match="not available with the dask engine"):
        geo.check(cfg)


def test_a_study_area_in_another_crs_is_reprojected():
    sa = StudyArea(shapely.box(0, 0, 1000, 1000), "EPSG:32650", "file", "box")
    ll = sa.in_crs(4326)
    back = pyproj.Transformer.from_crs(4326, 32650, always_xy=True).transform(*shapely.get_coordinates(ll).T)
    assert np.allclose(np.column_stack(back), shapely.get_coordinates(sa.geometry), atol=1e-6)
    assert sa.in_crs("EPSG:32650") is sa.geometry


def test_group_grids_cover_the_study_area():
    """compare_groups' grid (the groups' hot-spot shares) covers the run's study area, not the hull."""
    from geo.parks.groups import compare_groups

    firms = _two_blobs().assign(group=["high-tech", "traditional"] * 9)
    area = study_area(firms, cell="square", size=1000)
    kw = dict(valley_column=None, permutations=9, kd_simulations=0, cell="square", size=1000)
    assert set(compare_groups(firms, **kw)["n_cells"]) == {43 * 3}
    assert set(compare_groups(firms, study_areas={"all": area}, **kw)["n_cells"]) == {2 * 25}


def test_h3_cells_keep_the_resolution_the_area_was_drawn_with():
    rng = np.random.default_rng(11)
    lon, lat = 114.40 + rng.normal(0, 0.02, 400), 30.50 + rng.normal(0, 0.02, 400)
    firms = gpd.GeoDataFrame(geometry=shapely.points(lon, lat), crs=4326)
    area = study_area(firms, cell="h3")
    res = area.size
    assert isinstance(res, int) and area.size_rule["h3_resolution"] == res
    cells = aggregate(firms, cell="h3", extent=area)
    assert cells.attrs["size"] == res and cells.attrs["size_rule"] == area.size_rule
    assert cells["n_firms"].sum() == 400 and cells.attrs["extent_area_m2"] == pytest.approx(area.geometry.area)
    # the area is drawn with the hexagon lattice of the resolution's spacing
    assert area.size_m == pytest.approx(math.sqrt(cells.attrs["cell_area_m2"] / (math.sqrt(3) / 2)))


def test_the_report_escapes_the_boundary_file_name():
    from geo.cells.grid import GridInfo
    from geo.outputs.report._valleys import _grid_block

    firms = _two_blobs()
    sa = StudyArea(shapely.box(X0 - 1000, Y0 - 1000, X0 + 45_000, Y0 + 4000), "EPSG:32650", "file",
                   "polygon layer <script>x</script>.gpkg (1 polygon)")
    cells = aggregate(firms, cell="square", size=1000, extent=sa)
    html = _grid_block(cells, GridInfo.of(cells))
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;.gpkg (1 polygon)" in html
    assert "study area size</th><td>230" in html  # 46 km x 5 km


# ----------------------------------------------------------------------------- a coastal city through geo.run
BAY = (113.98, 22.52, 114.10, 22.58)  # lon/lat box of the sea, open to the east


@pytest.fixture(scope="module")
def coastal(tmp_path_factory):
    """Firms all around a bay (a C of land, 20 km across) as in Shenzhen, a cluster of optics
    firms on a park in the north-west; the run with the default study area and with the hull."""
    folder = tmp_path_factory.mktemp("coast")
    rng = np.random.default_rng(21)
    lon, lat = rng.uniform(113.90, 114.10, 9000), rng.uniform(22.45, 22.65, 9000)
    land = ~((lon > BAY[0]) & (lat > BAY[1]) & (lat < BAY[3]))
    lon, lat = lon[land][:3000], lat[land][:3000]
    clon, clat = 113.93 + rng.normal(0, 0.004, 300), 22.61 + rng.normal(0, 0.004, 300)
    frame = pd.DataFrame({"lon": np.r_[lon, clon], "lat": np.r_[lat, clat], "valley": "Bay",
                          "sector": ["food"] * len(lon) + ["optics"] * 300,
                          "founded": np.r_[rng.integers(1990, 2020, len(lon)), rng.integers(1985, 1995, 300)]})
    frame.to_csv(folder / "firms.csv", index=False)
    park = shapely.box(113.915, 22.595, 113.945, 22.625)
    gpd.GeoDataFrame({"name": ["Coast Park"], "valley": ["Bay"], "designated": [2000]}, geometry=[park],
                     crs=4326).to_file(folder / "parks.gpkg")

    def run(rule):
        return geo.run({"firms": {"path": str(folder / "firms.csv")}, "parks": {"path": str(folder / "parks.gpkg")},
                        "analysis": {"target_sector": "optics", "permutations": 199, "kd_simulations": 0,
                                     "ripley_simulations": 0, "point_clusters": "none", "compare": False,
                                     "study_area": rule},
                        "valleys": [{"name": "Bay"}]})

    return run("cells"), run("hull")


def test_the_default_study_area_leaves_the_sea_out(coastal):
    cells_run, hull_run = (r.valleys["Bay"] for r in coastal)
    a, h = cells_run.analysis.study_area, hull_run.analysis.study_area
    sea = gpd.GeoSeries([shapely.box(*BAY)], crs=4326).to_crs(a.crs).iloc[0]
    size = a.size_m
    open_sea = shapely.buffer(sea, -2 * size)  # more than a buffered cell from any firm on the shore
    assert h.rule == "hull" and shapely.intersection(h.geometry, open_sea).area == pytest.approx(open_sea.area)
    assert a.rule == "cells" and shapely.intersection(a.geometry, open_sea).area == 0.0
    # and no cell of the grid lies in the open sea
    centres = shapely.centroid(cells_run.analysis.cells.geometry.values)
    assert not shapely.intersects(open_sea, centres).any()
    assert shapely.intersects(open_sea, shapely.centroid(hull_run.analysis.cells.geometry.values)).sum() > 50
    # the park sits on the cluster either way; fewer candidate placements fit in the C of land
    pa, ph = cells_run.analysis.parks_overlay.iloc[0], hull_run.analysis.parks_overlay.iloc[0]
    assert pa["placement_acceptance"] < ph["placement_acceptance"]
    assert pa["verdict"] == ph["verdict"] == "park on a pre-existing cluster"
    # the valley density divides by the study area's km² (here the sea left out and a ring of one
    # cell added around the outer edge: 457 km² against the hull's 454 km²)
    assert pa["density_valley"] == pytest.approx(3300 / a.area_km2, rel=1e-12)
    assert ph["density_valley"] == pytest.approx(3300 / h.area_km2, rel=1e-12)


def test_the_overview_map_outlines_the_study_area(coastal):
    """The overview's valley outline is the study area (simplified for the map), not the hull."""
    import folium
    from shapely.geometry import shape

    from geo.outputs import maps

    res = coastal[0]
    m = maps.overview_map(res)
    m.get_root().render()
    (fg,) = [c for c in m._children.values() if getattr(c, "layer_name", None) == "Valleys"]
    (layer,) = [c for c in fg._children.values() if c._name == "GeoJsonLayer"]
    (feature,) = json.loads(layer.data_js)["features"]
    outline = shape(feature["geometry"])
    area_ll = res.valleys["Bay"].analysis.study_area.in_crs(4326)
    assert isinstance(m, folium.Map)
    assert shapely.area(shapely.symmetric_difference(outline, area_ll)) < 0.01 * area_ll.area
    open_sea = shapely.buffer(shapely.box(*BAY), -0.02)  # about 2 km off the shore
    assert shapely.intersection(outline, open_sea).area < 1e-4 * open_sea.area


@pytest.mark.parametrize("span", [3, 400, 10**7, 2**40])
def test_unique_keys_are_the_sorted_distinct_rows(span):
    # independent reference: numpy's row-wise unique (sorted by a, then b); both code paths
    # (a flag per box cell, a sort of the codes) and the fallback for codes past int64
    from geo.cells.area import _unique_keys

    rng = np.random.default_rng(span % 97)
    a = rng.integers(-span, span, 5_000)
    b = rng.integers(-2 * span, span, 5_000)
    a[:100], b[:100] = a[100:200], b[100:200]  # repeats
    want = np.unique(np.column_stack([a, b]), axis=0)
    ka, kb = _unique_keys(a, b)
    assert np.array_equal(ka, want[:, 0]) and np.array_equal(kb, want[:, 1])
    empty = np.array([], dtype=np.int64)
    assert [len(k) for k in _unique_keys(empty, empty)] == [0, 0]


def test_a_layer_of_metres_read_as_degrees_is_named(study, capsys):
    # a GeoJSON saved without its CRS (Web Mercator metres) is read as longitude/latitude (RFC 7946)
    boxes = gpd.GeoSeries([_box("Wuhan"), _box("Changchun")], crs=4326).to_crs(3857)
    with pytest.warns(UserWarning, match="'crs' was not provided"):  # what the analyst's tool did
        gpd.GeoDataFrame({"id": [0, 1]}, geometry=list(boxes)).to_file(study.folder / "mercator.geojson")
    x0, y0, x1, y1 = boxes.total_bounds
    cfg = study.write_config(analysis={"study_area": "mercator.geojson"}, name="mercator.toml")
    err = _one_line(capsys, cfg)
    assert (f"The study-area layer mercator.geojson holds coordinates that are not degrees (x {x0:,.0f}–{x1:,.0f}, y "
            f"{y0:,.0f}–{y1:,.0f}) although its CRS is EPSG:4326") in err
    assert "save the layer with the CRS it was made in" in err


def test_a_layer_away_from_the_firms_names_where_both_lie(study, capsys):
    only = _write_layer(study.folder / "only_wuhan2.gpkg", [_box("Wuhan")])
    err = _one_line(capsys, study.write_config(analysis={"study_area": only}, name="only2.toml"))
    lon, lat = CENTRES["Wuhan"]
    f = study.frame[study.frame[study.columns["valley"]] == "Changchun"]
    assert (f"(the layer spans lon {lon - 0.1:.3f}–{lon + 0.1:.3f}, lat {lat - 0.1:.3f}–{lat + 0.1:.3f}; the firms lie at lon "
            f"{f['lng'].min():.3f}–{f['lng'].max():.3f}, lat {f['lat'].min():.3f}–{f['lat'].max():.3f})") in err
