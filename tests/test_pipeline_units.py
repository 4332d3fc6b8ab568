"""A run on given units (geo.pipeline.units, geo.outputs.units, the CLI): the statistics on the
units checked against esda, islands NaN with a reason, exact p-values for integer counts, the
point stages skipped with their reason, the outputs and the one-line errors."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pyogrio
import pytest

from geo.cli import main
from geo.config import config_from_dict
from geo.pipeline.units import NO_POINTS, POINT_STAGES, run_units
from tests.units_fixtures import GRID_YEARS, HOT_DISTRICTS, write_districts, write_grid


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("units-run")
    return {"districts": write_districts(d / "districts.gpkg"), "grid": write_grid(d / "grid.tif"), "dir": d}


def _cfg(path, permutations=99, parks=None, **cells):
    data = {"run": {"seed": 3, "title": "Units <test>", "synthetic": True},
            "analysis": {"target_sector": "optics", "permutations": permutations}, "cells": {"path": str(path), **cells}}
    if parks is not None:
        data["parks"] = {"path": str(parks)}
    return config_from_dict(data)


@pytest.fixture(scope="module")
def districts(files):
    return run_units(_cfg(files["districts"], id_column="district_id", name_column="name", year_columns="optics_{year}"))


@pytest.fixture(scope="module")
def grid(files):
    return run_units(_cfg(files["grid"], band_years=list(GRID_YEARS)))


def _only(res):
    (vu,) = res.valleys.values()
    return vu


def test_global_moran_equals_esda_with_an_island(districts):
    import esda

    a = _only(districts).analysis
    assert a.islands == ("D37",)
    w = a.graph.to_W()
    y = a.units["value"].reindex(w.id_order).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # esda: "the weights matrix is not fully connected"
        ref = esda.Moran(y, w, transformation="r", permutations=0)
    (gm,) = a.global_moran.values()
    assert gm.I == pytest.approx(ref.I, rel=1e-12) and gm.z_rand == pytest.approx(ref.z_rand, rel=1e-10)
    assert gm.n == 37 and gm.I > 0.4  # the synthetic cluster of growing districts


def test_local_statistics_equal_esda_on_the_grid(grid):
    import esda

    a = _only(grid).analysis
    assert a.islands == () and len(a.units) == 139
    w = a.graph.to_W()
    y = a.units["value"].reindex(w.id_order).to_numpy()
    g = esda.G_Local(y, w, star=True, transform="B", permutations=0)
    np.testing.assert_allclose(a.units["gi_z"].reindex(w.id_order), g.Zs, rtol=1e-10)
    lm = esda.Moran_Local(y, w, transformation="r", permutations=0)
    n = len(y)  # ours is Anselin's I_i; esda's Is is I_i (n - 1) / n
    np.testing.assert_allclose(a.units["lisa_I"].reindex(w.id_order), lm.Is * n / (n - 1), rtol=1e-10)


def test_integer_counts_get_exact_p_values(grid, districts):
    for res in (grid, districts):
        a = _only(res).analysis
        assert a.integer and set(a.hotspot_parameters["gi_p_method"]) <= {"exact", "exact_wr", "island"}
        assert a.hotspot_parameters["gi_p_method"].get("exact", 0) + a.hotspot_parameters["gi_p_method"].get("exact_wr", 0) > 0


def test_islands_are_nan_with_a_reason_never_zero(districts):
    vu = _only(districts)
    u = vu.analysis.units
    isl = u.loc["D37"]
    for c in ("gi_z", "gi_p", "gi_p_fdr", "lisa_I", "lisa_p"):
        assert np.isnan(isl[c]), c
    assert pd.isna(isl["gi_bin"]) and isl["lisa_label"] == "island" and "no neighbour under queen" in isl["note"]
    assert not isl["hot"] and not isl["cold"]
    assert any("D37" in w and "without a neighbour" in w for w in districts.warnings)
    assert vu.summary()["islands"] == ["D37"]
    # every other unit has its statistics
    assert u.drop(index="D37")[["gi_z", "lisa_I"]].notna().all().all()


def test_hot_spots_are_the_synthetic_cluster(districts):
    u = _only(districts).analysis.units
    hot_ids = {f"D{j * 6 + i + 1:02d}" for i, j in HOT_DISTRICTS}
    found = set(u.index[u["hot"]])
    assert found and found <= hot_ids  # no hot spot outside the made-up cluster
    assert not u["cold"].any()


def test_knn_weights_leave_no_island(files):
    res = run_units(_cfg(files["districts"], id_column="district_id", year_columns="optics_{year}", weights="knn", k=4))
    a = _only(res).analysis
    assert a.islands == () and a.graph.cardinalities.min() >= 4


def test_point_stages_skipped_with_the_reason(districts):
    vu = _only(districts)
    for key in POINT_STAGES:
        assert vu.skipped[key].startswith(NO_POINTS)
    s = districts.summary()
    assert s["input_kind"] == "given units" and s["input"].startswith("Input: given units (districts.gpkg, 37 polygons)")


def test_outputs_layers_report_summary(districts, tmp_path):
    written = districts.write(tmp_path)
    units = pyogrio.read_dataframe(written["layers"], layer="units")
    assert len(units) == 37 and {"gi_z", "gi_p_fdr", "lisa_label", "hot", "island", "note", "count"} <= set(units.columns)
    assert units.loc[units["unit_id"] == "D37", "gi_z"].isna().all()
    rejects = pd.read_csv(written["rejects"])
    assert rejects["row"].tolist() == [38, 39] and rejects["reason"].tolist() == ["empty_geometry", "negative_count"]
    page = written["report"].read_text(encoding="utf-8")
    assert "Input: given units (districts.gpkg, 37 polygons); the point tests (Ripley, Kd, labelling) need firm points" in page
    assert "East Lake &lt;Hi-Tech&gt; &amp; Co" in page and "<Hi-Tech>" not in page
    assert "Units &lt;test&gt;" in page and "SYNTHETIC DATA" in page
    assert "D37 (Island district)" in page and "D31 (District 31)" in page  # the island and the multipart unit, named
    summary = json.loads(written["summary"].read_text())
    assert summary["valleys"]["districts"]["islands"] == ["D37"]
    assert summary["inputs"]["units"] == "polygons districts.gpkg, 37 units kept of 39"
    assert summary["load"]["units_read"] == summary["load"]["units_loaded"] + summary["load"]["units_rejected"]
    m = written["map_districts"].read_text(encoding="utf-8")
    # the tooltip text is escaped before folium writes it as JSON (& as \u0026): it renders as text, not markup
    assert "East Lake \\u0026lt;Hi-Tech\\u0026gt;" in m and "<Hi-Tech>" not in m


# ----------------------------------------------------------------------------- the command line
def _toml(tmp_path, path, **cells):
    lines = ["[run]", "seed = 1", "[analysis]", "permutations = 49", "[cells]", f"path = {json.dumps(str(path))}"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in cells.items()]
    p = tmp_path / "units.toml"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_cli_run_and_check(files, tmp_path, capsys):
    cfg = _toml(tmp_path, files["grid"], band_years=list(GRID_YEARS))
    assert main(["check", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "units (grid cells of a GeoTIFF): 140 read, 139 kept, 1 rejected (nodata_some_years: 1)" in out
    assert "nodata cells (not units): 4" in out and "no statistic was computed" in out
    assert ("input: units: grid cells of a GeoTIFF grid.tif, 139 units kept of 140, 4 nodata cells not units; parks: no "
            "park file: the park stages did not run") in out.splitlines()
    assert main(["run", str(cfg), "--out", str(tmp_path / "out"), "-q"]) == 0
    assert (tmp_path / "out" / "report.html").is_file() and (tmp_path / "out" / "maps" / "index.html").is_file()


def test_check_runs_no_statistic_on_units(files, tmp_path, monkeypatch, capsys):
    import geo.cells.graph
    import geo.stats.autocorr

    def boom(*a, **k):
        raise AssertionError("geo check computed a statistic")

    for mod, name in [(geo.stats.autocorr, "global_moran"), (geo.stats.autocorr, "hotspots"), (geo.cells.graph, "weights")]:
        monkeypatch.setattr(mod, name, boom)
    cfg = _toml(tmp_path, files["districts"], id_column="district_id", year_columns="optics_{year}")
    assert main(["check", str(cfg)]) == 0
    assert "no statistic was computed" in capsys.readouterr().out


@pytest.mark.parametrize("cells, message", [
    ({"count_column": "nope"}, "geo: error: [cells] count_column 'nope' is not a column of 'districts.gpkg'; its columns are"),
    ({"count_column": "optics_2015", "crs": 32650}, "geo: error: [cells] crs = 32650 but the layer 'districts.gpkg' says it is in EPSG:4326"),
])
def test_cli_bad_input_is_one_line(files, tmp_path, capsys, cells, message):
    cfg = _toml(tmp_path, files["districts"], **cells)
    assert main(["run", str(cfg), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and "Traceback" not in err


# ----------------------------------------------------------------------------- rates and parks on the units
def test_rates_per_km2_raw_and_empirical_bayes(files):
    import esda
    from pyproj import Geod

    raw = run_units(_cfg(files["grid"], band_years=list(GRID_YEARS), denominator="area"))
    a = _only(raw).analysis
    assert a.variable == "rate" and "per km²" in a.variable_label and not a.integer
    # independent: each 0.01° cell's area on the ellipsoid (the run's UTM areas agree within 0.1 %)
    geod = Geod(ellps="WGS84")
    u4326 = a.units.to_crs(4326)
    km2 = np.array([abs(geod.geometry_area_perimeter(g)[0]) / 1e6 for g in u4326.geometry])
    np.testing.assert_allclose(a.units["value"], a.units["count"] / km2, rtol=1e-3)
    # rates are not integer counts: permutation p-values, seeded
    assert set(a.hotspot_parameters["gi_p_method"]) == {"mc"}
    eb = run_units(_cfg(files["grid"], band_years=list(GRID_YEARS), denominator="area", smoothing="empirical_bayes"))
    b = _only(eb).analysis
    assert "empirical-Bayes" in b.variable_label
    ref = esda.smoothing.Empirical_Bayes(b.units["count"].to_numpy(), b.units["area_km2"].to_numpy())
    np.testing.assert_allclose(b.units["value"], np.asarray(ref.r).ravel(), rtol=1e-9)
    again = run_units(_cfg(files["grid"], band_years=list(GRID_YEARS), denominator="area", smoothing="empirical_bayes"))
    np.testing.assert_array_equal(_only(again).analysis.units["gi_p"], b.units["gi_p"])  # seeded


def test_rates_per_population_column(files):
    res = run_units(_cfg(files["districts"], id_column="district_id", year_columns="optics_{year}",
                         denominator="population", per=10000.0))
    a = _only(res).analysis
    raw = pyogrio.read_dataframe(files["districts"]).set_index("district_id")
    ids = a.units.index
    np.testing.assert_allclose(a.units["value"], raw.loc[ids, "optics_2015"] / raw.loc[ids, "population"] * 10000)
    assert "per 10000 population" in a.variable_label


@pytest.fixture(scope="module")
def with_parks(files):
    from tests.units_fixtures import write_parks

    parks = write_parks(files["dir"] / "parks.gpkg")
    return run_units(_cfg(files["districts"], permutations=199, parks=parks, id_column="district_id", name_column="name",
                          year_columns="optics_{year}")), parks


def test_parks_on_units_area_weighted_with_precedence(with_parks):
    import geopandas as gpd

    res, parks_path = with_parks
    vu = _only(res)
    ov = vu.analysis.overlay.set_index("name")
    assert ov.loc["Optics Valley Science Park", "verdict"] == "park on a pre-existing cluster"
    assert ov.loc["Optics Valley Science Park", "first_hot_year"] < 2009  # the cluster grows from 2007, the park is 2009
    assert ov.loc["Lakeside Park", "verdict"] == "park without a cluster"
    # a district crossing the park's edge counts by the share of its area inside (checked with shapely here)
    parks = gpd.read_file(parks_path).to_crs(vu.metric_crs).set_index("name")
    units = vu.analysis.units
    park = parks.geometry["Optics Valley Science Park"]
    shares = ov.loc["Optics Valley Science Park", "unit_shares"]
    d05 = units.geometry["D05"]
    assert 0 < shares["D05"] < 1
    assert shares["D05"] == pytest.approx(d05.intersection(park).area / d05.area, rel=1e-9)
    assert "labelling" in ov.loc["Lakeside Park", "tests"] or "random-labelling" in ov.loc["Lakeside Park", "tests"]


def test_parks_in_the_outputs(with_parks, tmp_path):
    res, _ = with_parks
    written = res.write(tmp_path)
    layer = pyogrio.read_dataframe(written["layers"], layer="parks_overlay")
    assert set(layer["name"]) == {"Optics Valley Science Park", "Lakeside Park"} and layer.geometry.notna().all()
    page = written["report"].read_text(encoding="utf-8")
    assert "Which tests apply." in page and "park on a pre-existing cluster" in page
    assert "units crossing its edge" in page
    s = json.loads(written["summary"].read_text())
    assert {r["name"] for r in s["valleys"]["districts"]["park_results"]} == {"Optics Valley Science Park", "Lakeside Park"}
    assert "nulls" in s["valleys"]["districts"]["park_tests"]


# ----------------------------------------------------------------------------- the committed example and README
def test_readme_config_runs_on_the_committed_example(tmp_path):
    import re
    import tomllib
    from pathlib import Path

    import geo
    from geo.config import config_from_dict

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Counts on given units", 1)[1]
    block = re.search(r"```toml\n(.*?)```", section, re.DOTALL).group(1)
    data = tomllib.loads(block)
    data["analysis"]["permutations"] = 99
    example = root / "data" / "examples" / "units"
    cfg = config_from_dict(data, base=example)
    chk = geo.check(cfg)
    assert chk.input_kind == "given units" and chk.load_report["units_loaded"] == 37
    res = geo.run(cfg, out=tmp_path)
    assert isinstance(res, geo.UnitsResults) and set(res.valleys) == {"Wuhan"}
    assert (tmp_path / "report.html").is_file() and res.written["layers"].is_file()
    # the committed example stays small
    assert sum(p.stat().st_size for p in example.iterdir()) < 40_000


def test_distance_weights_in_metres(files):
    res = run_units(_cfg(files["grid"], band_years=list(GRID_YEARS), weights="distance", distance=1200.0))
    a = _only(res).analysis
    # 0.01° cells near 30.5°N are ~0.96 km wide and ~1.11 km tall: a 1.2 km band links the 4 rook neighbours only
    assert a.graph.cardinalities.max() == 4 and a.islands == ()


def test_fewer_than_30_units_skip_the_statistics_with_the_reason(tmp_path):
    import geopandas as gpd
    import shapely

    frame = gpd.GeoDataFrame({"n": np.arange(9)}, geometry=[shapely.box(114 + 0.01 * (i % 3), 30 + 0.01 * (i // 3),
                                                                           114.01 + 0.01 * (i % 3), 30.01 + 0.01 * (i // 3))
                                                             for i in range(9)], crs=4326)
    frame.to_file(tmp_path / "nine.gpkg")
    res = run_units(_cfg(tmp_path / "nine.gpkg", count_column="n"))
    vu = _only(res)
    assert vu.skipped["statistics"].startswith("only 9 unit(s): the spatial statistics need at least 30")
    assert vu.analysis.global_moran is None and any("only 9 unit(s)" in w for w in res.warnings)
    written = res.write(tmp_path / "out")  # the outputs still tell what was read and why nothing was computed
    assert "only 9 unit(s)" in written["report"].read_text(encoding="utf-8")


def test_big_grids_draw_only_the_significant_units(grid, tmp_path, monkeypatch):
    import geo.outputs.units as ou
    from geo.outputs.units import maps as drawn_by  # the module whose MAP_UNITS_MAX units_map reads

    monkeypatch.setattr(drawn_by, "MAP_UNITS_MAX", 50)
    m = ou.units_map(grid, next(iter(grid.valleys)))
    html = m.get_root().render()
    a = _only(grid).analysis
    n_sig = int(((a.units["gi_bin"].fillna(0) != 0) | (a.units["lisa_label"] != "ns")).sum())
    assert 0 < n_sig < 139
    assert f"139 units: only the {n_sig} significant ones and the islands are drawn" in html


def test_the_map_of_a_valley_not_in_the_run_is_one_sentence(grid):
    import geo.outputs.units as ou
    from geo.errors import InputError

    name = next(iter(grid.valleys))
    with pytest.raises(InputError, match=rf"^No valley 'Nowhere' in these results; valleys are \['{name}'\]\.$"):
        ou.units_map(grid, "Nowhere")


def test_yearly_hot_spots_for_the_precedence(with_parks):
    res, _ = with_parks
    u = _only(res).analysis.units
    assert {f"hot_{y}" for y in range(2005, 2016)} <= set(u.columns)
    # the last year's hot spots are the main ones (same counts, graph, seed and FDR)
    assert u["hot_2015"].tolist() == u["hot"].tolist()
    assert not u.loc["D37", [f"hot_{y}" for y in range(2005, 2016)]].any()  # the island is never hot
    assert u["hot_2005"].sum() <= u["hot_2015"].sum()  # the made-up cluster grows from 2007


def test_spatial_empirical_bayes_rates(files):
    import esda

    res = run_units(_cfg(files["grid"], band_years=list(GRID_YEARS), denominator="area",
                         smoothing="spatial_empirical_bayes"))
    a = _only(res).analysis
    w = a.graph.to_W()
    u = a.units.loc[list(w.id_order)]
    ref = esda.smoothing.Spatial_Empirical_Bayes(u["count"].to_numpy(), u["area_km2"].to_numpy(), w)
    np.testing.assert_allclose(u["value"], np.asarray(ref.r).ravel(), rtol=1e-9)
    assert "spatial empirical-Bayes" in a.variable_label


def test_one_valley_per_file(files, tmp_path):
    cfg = config_from_dict({
        "analysis": {"permutations": 49},
        "cells": {"id_column": "district_id", "year_columns": "optics_{year}"},
        "valleys": [{"name": "North", "cells": str(files["districts"])},
                    {"name": "South", "cells": str(files["districts"])}]})
    assert cfg.input_kind == "given units" and cfg.cells.path is None
    res = run_units(cfg)
    assert list(res.valleys) == ["North", "South"]
    lr = res.load_report
    assert lr["units_read"] == 78 and lr["units_loaded"] + lr["units_rejected"] == lr["units_read"]
    assert len(lr["files"]) == 2 and lr["rejected_by_reason"] == {"empty_geometry": 2, "negative_count": 2}
    assert res.rejects["file"].tolist() == ["districts.gpkg"] * 4
    # the same ids in both files: prefixed by the valley, each valley analysed on its own units
    assert res.valleys["North"].analysis.units.index[0] == "North:D01" and len(res.valleys["South"].units) == 37
    assert res.valleys["North"].analysis.islands == ("North:D37",)
    assert res.input_sentence().startswith("Input: given units (districts.gpkg, districts.gpkg, 74 polygons)")


def test_cli_empty_layer_and_every_unit_rejected(tmp_path, capsys):
    import geopandas as gpd
    import shapely

    gpd.GeoDataFrame({"n": pd.Series([], dtype=int)}, geometry=[], crs=4326).to_file(tmp_path / "empty.gpkg")
    gpd.GeoDataFrame({"n": [-1, -2]}, geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
                     crs=4326).to_file(tmp_path / "negative.gpkg")
    for path, message in [(tmp_path / "empty.gpkg", "geo: error: The unit layer 'empty.gpkg' is empty: no features."),
                          (tmp_path / "negative.gpkg", ("geo: error: Every one of the 2 units of 'negative.gpkg' was "
                                                        "rejected (row 1: n = -1; row 2: n = -2): check [cells] "
                                                        "count_column and the layer."))]:
        cfg = _toml(tmp_path, path, count_column="n")
        assert main(["check", str(cfg)]) == 2
        err = capsys.readouterr().err
        assert err.strip() == message


def test_point_options_are_named_as_unused(files):
    cfg = config_from_dict({"analysis": {"permutations": 49, "cell_size": 500, "weights": "rook"},
                            "firms": {"sector_column": "industry"},
                            "cells": {"path": str(files["districts"]), "year_columns": "optics_{year}"}})
    res = run_units(cfg)
    assert ("[analysis] cell_size, weights apply to firm points and are not used on given units (the units are the "
            "cells) ([cells] weights sets the units' weights)") in res.warnings
    assert "[firms] sector_column are not used: the run starts from the units of [cells]" in res.warnings


@pytest.mark.slow
def test_a_city_sized_grid_end_to_end(tmp_path):
    """A 100 x 100 GeoTIFF of 0.01° cells (a city in the Gridded Establishment Dataset), five years: the run, the
    thinned map and the layers (the default run checks the same on 139 cells with MAP_UNITS_MAX lowered)."""
    import rasterio
    from rasterio.transform import from_origin

    import geo.outputs.units as ou

    n = 100
    rng = np.random.default_rng(1)
    r, c = np.mgrid[0:n, 0:n]
    hot = ((r - 50) ** 2 + (c - 30) ** 2) < 144
    bands = np.stack([rng.poisson(np.where(hot, 5 + 2 * b, 1.0)) for b in range(5)]).astype("float32")
    bands[:, :10, :10] = -9999
    path = tmp_path / "city.tif"
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=5, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(114.0, 31.0, 0.01, 0.01), nodata=-9999) as dst:
        dst.write(bands)
    res = run_units(_cfg(path, permutations=199, band_years=[2010, 2011, 2012, 2013, 2014]))
    a = _only(res).analysis
    assert len(a.units) == n * n - 100 and res.load_report["nodata_cells"] == 100
    assert a.integer and a.units["hot"].sum() >= hot.sum() * 0.8
    written = res.write(tmp_path / "out")
    assert len(a.units) > ou.MAP_UNITS_MAX and written[f"map_{next(iter(res.valleys))}"].stat().st_size < 5e6
    assert len(pyogrio.read_dataframe(written["layers"], layer="units", read_geometry=False)) == len(a.units)


def test_units_of_valleys_not_in_the_config_are_counted(files, tmp_path):
    frame = pyogrio.read_dataframe(files["districts"])
    frame.loc[frame["district_id"].isin(["D01", "D02"]), "valley"] = "Elsewhere"
    pyogrio.write_dataframe(frame, tmp_path / "two.gpkg")
    cfg = config_from_dict({"analysis": {"permutations": 49}, "valleys": [{"name": "Wuhan"}],
                            "cells": {"path": str(tmp_path / "two.gpkg"), "id_column": "district_id",
                                      "year_columns": "optics_{year}", "valley_column": "valley"}})
    res = run_units(cfg)
    assert list(res.valleys) == ["Wuhan"] and len(res.valleys["Wuhan"].units) == 35
    assert "2 units of valleys not in the config were left out: 'Elsewhere' (2)" in res.warnings


def test_the_report_answers_first(with_parks, tmp_path):
    res, _ = with_parks
    page = res.write(tmp_path)["report"].read_text(encoding="utf-8")
    answer = page.index("<h2>Answer</h2>")
    assert page.index("Input: given units") < answer < page.index("<h2>What this input allows</h2>")
    section = page[answer:page.index("<h2>What this input allows</h2>")]
    assert "Optics Valley Science Park: <b>park on a pre-existing cluster</b>" in section
    assert "Lakeside Park: <b>park without a cluster</b>" in section


def test_the_report_and_map_say_p_methods_and_the_count_band_in_words(districts, grid, tmp_path, capsys):
    """No raw key (``exact 36``, ``mc 139``) or bare band name (``count column 2014``) in the units' report."""
    import re

    import geo.outputs.units as ou
    from geo.outputs.units.report import _p_methods_text

    page = ou.render_units_report(districts)
    text = re.sub(r"<[^>]+>", " ", page)
    assert "p-values: exact (without replacement) for 36 units, no neighbours (no p-value) for 1 unit." in text
    assert "exact 36" not in text and "island 1." not in text
    assert "LISA: not significant 30, HH 6, no neighbour 1." in text
    gpage = re.sub(r"<[^>]+>", " ", ou.render_units_report(grid))
    assert "Monte Carlo" not in gpage and "exact (without replacement) for" in gpage  # integer counts: exact p-values
    assert re.search(r"count band\s+band 5 of 5, the year 2014", gpage) and "count column" not in gpage
    # the island swatch only where a unit has no neighbour
    assert "no neighbour (island)" in ou.units_map(districts, "districts").get_root().render()
    assert "no neighbour (island)" not in ou.units_map(grid, next(iter(grid.valleys))).get_root().render()
    assert _p_methods_text({"mc": 139}, 999) == "Monte Carlo (999 seeded permutations) for 139 units"
    cfg = _toml(tmp_path, grid.load_report["file"], band_years=list(GRID_YEARS))
    assert main(["check", str(cfg)]) == 0
    assert "counts: the 2014 band of grid.tif; years 2010–2014; integer" in capsys.readouterr().out


def test_a_target_sector_the_counts_do_not_mention_is_named(files):
    """On units target_sector selects nothing: a sector the count columns do not mention is a warning, not a silent label."""
    from geo.pipeline.units import check_units

    def cfg(target):
        return config_from_dict({"analysis": {"target_sector": target},
                                 "cells": {"path": str(files["districts"]), "id_column": "district_id",
                                           "year_columns": "optics_{year}"}})

    said = [w for w in check_units(cfg("software")).warnings if "target_sector" in w]
    assert said == [("[analysis] target_sector = 'software' only labels the counts on given units (it selects nothing): "
                     "the counts are column 'optics_2015' of districts.gpkg, whose names do not mention 'software'; "
                     "check that they count software firms, or correct target_sector")]
    assert not [w for w in check_units(cfg("Optics")).warnings if "target_sector" in w]  # in the columns, any case
    grid = config_from_dict({"analysis": {"target_sector": "optics"},
                             "cells": {"path": str(files["grid"]), "band_years": list(GRID_YEARS)}})
    assert any("the counts are the 2014 band of grid.tif" in w for w in check_units(grid).warnings)


def test_every_unit_rejected_is_said_once_not_also_logged(tmp_path, caplog):
    """The CLI prints the library's WARNING records: the error that follows must not be preceded by a log line
    saying the same (two lines where the user should read one sentence)."""
    import logging

    import geopandas as gpd
    import shapely

    from geo.errors import InputError
    from geo.pipeline.units import check_units

    gpd.GeoDataFrame({"n": [-1, -2]}, geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
                     crs=4326).to_file(tmp_path / "negative.gpkg")
    with caplog.at_level(logging.WARNING, logger="geo"), pytest.raises(InputError, match="Every one of the 2 units"):
        check_units(config_from_dict({"cells": {"path": str(tmp_path / "negative.gpkg"), "count_column": "n"}}))
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_stages_not_run_are_named_in_words(districts):
    """The units report's "Stages not run" shows no stage key (ripley_k, stack_artefacts, hotspots[2005])."""
    import html
    import re

    import geo.outputs.units as ou

    page = ou.render_units_report(districts)
    box = page[page.index("<summary>Stages not run</summary>"):]
    box = html.unescape(re.sub(r"<[^>]+>", "|", box[:box.index("</details>")]))
    assert "Ripley's K/L (the points' pattern at each distance)|" in box
    assert "needs firm points; this run has counts on given units" in box
    assert not re.search(r"\b[a-z]+_[a-z_]+\b|\w+\[\w+\]", box.replace("given units", ""))


def test_geo_run_on_units_prints_each_parks_verdict(tmp_path, capsys):
    """The console of `geo run` on the districts example names each park's verdict, as the report's answer does."""
    import shutil
    from pathlib import Path

    shutil.copytree(Path(__file__).resolve().parents[1] / "data" / "examples" / "units", tmp_path / "units")
    assert main(["run", str(tmp_path / "units" / "config.toml"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert ("answer (Wuhan): Optics Valley Science Park: park on a pre-existing cluster; Lakeside Park: park without a "
            "cluster") in out.splitlines()


def test_verdict_rules_name_the_park_table_columns_in_words(with_parks):
    """The rules under "The tests on units" read as the park table's heads, not as snake_case columns."""
    import html
    import re

    import geo.outputs.units as ou

    page = html.unescape(re.sub(r"<[^>]+>", "|", ou.render_units_report(with_parks[0])))
    rules = [line for line in page.split("|") if ">= 0.25" in line]
    assert any(r.startswith("(share on hot units >= 0.25 and p hot share (FDR) < 0.05) or (density / study area > 1") for r in rules)
    assert not any(re.search(r"\b(share_hot|p_hot_fdr|density_ratio|p_fdr)\b", r) for r in rules)


def test_the_report_renders_the_answer_of_the_parks_stage_escaped():
    """report.html's answer is geo.parks.units.units_answer's words: the sentence, each park's verdict in its colour;
    names from the data escaped."""
    from types import SimpleNamespace

    from geo.outputs._style import verdict_colour
    from geo.outputs.units.report import _answer
    from geo.parks.units import UnitsFinding

    found = (UnitsFinding(valley="v", title="V <1>", sentence="3 of 40 units are hot spots of count_2014.",
                          n_units=40, n_hot=3, parks=(("P & <Q>", "none"), ("R", None))),
             UnitsFinding(valley="w", title="W", sentence="only 9 unit(s)."))
    page = _answer(SimpleNamespace(answer=found))
    assert page == (
        "<h2>Answer</h2><ul><li><b>V &lt;1&gt;</b>: 3 of 40 units are hot spots of <code>count_2014</code>."
        f'<ul><li><span style="color:{verdict_colour("none")}">&#9632;</span> P &amp; &lt;Q&gt;: <b>none</b></li>'
        f'<li><span style="color:{verdict_colour(None)}">&#9632;</span> R: <b></b></li></ul></li>'
        "<li><b>W</b>: only 9 unit(s).</li></ul>")

