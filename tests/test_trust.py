"""A new user's slips on their own data: each stops with one sentence naming what was wrong and
what the data hold (exit 2), in ``geo check``, in ``geo run`` and in the Python API.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

import geo
from geo.cli import main
from geo.errors import InputError
from tests.study import make_study


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return make_study(tmp_path_factory.mktemp("trust"))


def _cli(capsys, command: str, config) -> tuple[int, str, str]:
    code = main([command, str(config)] + (["--out", str(config.parent / "out"), "-q"] if command == "run" else []))
    out = capsys.readouterr()
    return code, out.out, out.err


# each slip: config changes, what the one-line message must name
SLIPS = {
    "sector column misspelt": (dict(firms={"sector_column": "sektor"}),
                               ["[firms] sector_column 'sektor' is not a column of firms.csv", "industry", "city"]),
    "target sector not in the data": (dict(analysis={"target_sector": "optic"}),
                                      ["target_sector = 'optic'", "optics (332)", "software (", "Did you mean 'optics'?"]),
    "valley column misspelt": (dict(firms={"valley_column": "cty"}),
                               ["[firms] valley_column 'cty' is not a column", "Did you mean 'city'?"]),
    "valley name matches no firm": (dict(valleys=[{"name": "Wuhn"}, {"name": "Changchun"}]),
                                    ["Valley 'Wuhn' matches no firm", "Wuhan (500)", "Changchun (500)",
                                     "Did you mean 'Wuhan'?"]),
    "founded column misspelt": (dict(firms={"founded_column": "founding_year"}),
                                ["[firms] founded_column 'founding_year' is not a column", "year_founded"]),
}


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize("slip", list(SLIPS))
def test_a_slip_stops_the_cli_with_one_sentence(study, capsys, command, slip):
    changes, expected = SLIPS[slip]
    cfg = study.write_config(**changes, name=f"{slip.replace(' ', '_')}.toml")
    code, out, err = _cli(capsys, command, cfg)
    assert code == 2
    assert err.startswith("geo: error: ") and err.count("\n") == 1  # one line, no traceback
    for text in expected:
        assert text in err
    assert not (cfg.parent / "out" / "report.html").exists()


@pytest.mark.parametrize("api", ["check", "run"])
@pytest.mark.parametrize("slip", list(SLIPS))
def test_a_slip_raises_the_same_error_in_the_api(study, api, slip):
    changes, expected = SLIPS[slip]
    cfg = study.write_config(**changes, name=f"api_{slip.replace(' ', '_')}.toml")
    with pytest.raises(InputError) as err:
        getattr(geo, api)(cfg)
    for text in expected:
        assert text in str(err.value)


def test_the_study_without_slips_checks_clean(study, capsys):
    code, out, _ = _cli(capsys, "check", study.write_config(firms={"crs": "wgs84"}, name="clean.toml"))
    assert code == 0
    assert "valley Wuhan: 500 firms, 166 optics firms (33%), 1 park(s), founding year for 166 of 166" in out
    assert "valley Changchun: 500 firms" in out
    assert "check: OK; no statistic was computed" in out


def test_one_valley_without_a_valley_column_analyses_every_firm(tmp_path, capsys):
    s = make_study(tmp_path, valleys={"Wuhan": "Wuhan"})
    s.frame.drop(columns=s.columns["valley"]).to_csv(s.firms, index=False)
    cfg = s.write_config(firms={"valley_column": None})
    code, out, _ = _cli(capsys, "check", cfg)
    assert code == 0 and "valley Wuhan: 500 firms" in out
    res = geo.run(cfg)
    assert res.valleys["Wuhan"].n_total == 500 and res.load_report["rows_rejected"] == 0


def test_two_valleys_without_a_valley_column_say_how_to_tell_them_apart(study, tmp_path):
    study.frame.drop(columns=study.columns["valley"]).to_csv(tmp_path / "firms.csv", index=False)
    cfg = study.write_config(firms={"valley_column": None, "path": str(tmp_path / "firms.csv")}, name="novalley.toml")
    with pytest.raises(InputError, match="valley_column 'valley' is not a column .*told apart by it.*bbox"):
        geo.check(cfg)


def _utm(study, tmp_path):
    from pyproj import Transformer

    f = study.frame[study.frame[study.columns["valley"]] == "Wuhan"].copy()
    x, y = Transformer.from_crs(4326, 32650, always_xy=True).transform(f["lng"].to_numpy(), f["lat"].to_numpy())
    f["lng"], f["lat"] = np.round(x, 1), np.round(y, 1)
    path = tmp_path / "utm.csv"
    f.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("command", ["check", "run"])
def test_projected_metres_read_as_degrees_are_diagnosed(study, tmp_path, capsys, command):
    path = _utm(study, tmp_path)
    cfg = study.write_config(firms={"path": str(path)}, valleys=[{"name": "Wuhan"}], name="utm.toml")
    code, _, err = _cli(capsys, command, cfg)
    assert code == 2
    assert "every row of utm.csv was rejected (out_of_range: 500)" in err
    assert "look like projected metres" in err and "x 2." in err and "y 3.3" in err and "crs" in err
    # the fix the message gives works
    fixed = study.write_config(firms={"path": str(path), "crs": "EPSG:32650"}, valleys=[{"name": "Wuhan"}], name="utm_ok.toml")
    assert geo.check(fixed).valleys[0].n_firms == 500


def test_most_rows_rejected_stops_but_a_few_do_not(study, tmp_path):
    f = study.frame.astype({"lng": object})
    f.loc[f.index % 5 < 3, "lng"] = "n/a"  # 60 % of the rows of each valley
    f.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputError, match=r"600 of the 1,000 rows \(60%\) of bad.csv were rejected \(not_a_number: 600\)"):
        geo.check(study.write_config(firms={"path": str(tmp_path / "bad.csv")}, name="bad.toml"))
    # a limit the user raised lets the run go on
    chk = geo.check(study.write_config(firms={"path": str(tmp_path / "bad.csv"), "max_rejected_share": 0.7}, name="bad2.toml"))
    assert chk.load_report["rows_kept"] == 400


def test_a_valley_without_founding_years_is_undetermined_not_government_led(study, tmp_path):
    f = study.frame.copy()
    f.loc[f["city"] == "Changchun", "year_founded"] = None  # a blank export for one valley
    f.to_csv(tmp_path / "blank.csv", index=False)
    res = geo.run(study.write_config(firms={"path": str(tmp_path / "blank.csv")}, name="blank.toml"))
    assert any("valley 'Changchun': no founding year for any of its 166 'optics' firms" in w for w in res.warnings)
    cc = res.valleys["Changchun"].analysis.parks_overlay.iloc[0]
    assert cc["cluster_before"] is None and "no founding year" in cc["precedence_skipped"]
    assert cc["verdict"] == "undetermined" and "no founding year" in cc["verdict_reason"]
    models = res.valleys["Changchun"].analysis.models.iloc[0]
    assert models["status_market_led"] == "undetermined" and models["status_government_led"] == "undetermined"
    # the valley with its years keeps a verdict
    wh = res.valleys["Wuhan"].analysis.parks_overlay.iloc[0]
    assert bool(wh["cluster_before"]) and wh["verdict"] == "park on a pre-existing cluster"


def test_partly_missing_founding_years_are_named_in_the_verdict(study, tmp_path):
    f = study.frame.copy()
    wuhan_target = f.index[(f["city"] == "Wuhan") & (f["industry"] == "optics")]
    f.loc[wuhan_target[:40], "year_founded"] = None
    f.to_csv(tmp_path / "some.csv", index=False)
    res = geo.run(study.write_config(firms={"path": str(tmp_path / "some.csv")}, name="some.toml"))
    wh = res.valleys["Wuhan"].analysis.parks_overlay.iloc[0]
    assert wh["n_target_undated"] == 40
    assert "founding years missing for 40 of 166 target firms" in wh["verdict_reason"]
    assert any("40 of its 166 'optics' firms (24%) have no founding year" in w for w in res.warnings)


def test_a_park_file_of_points_stops(study, tmp_path, capsys):
    import geopandas as gpd

    p = gpd.read_file(study.parks)
    p["geometry"] = p.geometry.to_crs(32650).centroid.to_crs(4326)
    p.to_file(tmp_path / "points.gpkg")
    cfg = study.write_config(parks={"path": str(tmp_path / "points.gpkg")}, name="points.toml")
    code, _, err = _cli(capsys, "check", cfg)
    assert code == 2 and "'points.gpkg' holds no polygon" in err and "Point (2)" in err


def test_rejected_parks_are_listed_on_the_console_and_in_parks_rejects_csv(study, tmp_path, capsys):
    import geopandas as gpd
    import shapely

    p = gpd.read_file(study.parks)
    line = gpd.GeoDataFrame({"name": ["Road park"], "valley": ["Wuhan"], "designated": [2005]},
                            geometry=[shapely.LineString([(114.3, 30.4), (114.5, 30.6)])], crs=4326)
    pd.concat([p, line]).to_file(tmp_path / "mixed.gpkg")
    cfg = study.write_config(parks={"path": str(tmp_path / "mixed.gpkg")}, name="mixed.toml")
    code, out, _ = _cli(capsys, "check", cfg)
    assert code == 0
    assert "parks: 2 kept, 1 rejected" in out
    assert "warning: park rejected: row 3 of mixed.gpkg ('Road park'): geometry is LineString" in out
    assert _cli(capsys, "run", cfg)[0] == 0
    rejects = pd.read_csv(cfg.parent / "out" / "parks_rejects.csv")
    assert rejects.to_dict(orient="records") == [
        {"row": 3, "name": "Road park", "reason": "not_a_polygon", "detail": "geometry is LineString; parks must be polygons"}]


def test_park_year_columns_are_recognised_or_named(study, tmp_path, capsys):
    import geopandas as gpd

    p = gpd.read_file(study.parks)
    p.rename(columns={"designated": "approved_year"}).to_file(tmp_path / "approved.gpkg")
    code, out, _ = _cli(capsys, "check", study.write_config(parks={"path": str(tmp_path / "approved.gpkg")}, name="ap.toml"))
    assert code == 0 and "designation year from column 'approved_year'" in out and "without a designation year" not in out
    p.rename(columns={"designated": "yr_ok"}).to_file(tmp_path / "yr.gpkg")
    code, out, _ = _cli(capsys, "check", study.write_config(parks={"path": str(tmp_path / "yr.gpkg")}, name="yr.toml"))
    assert code == 0 and "no designation year column found; candidates: ['yr_ok']" in out
    assert "(1 without a designation year)" in out


def test_parks_of_no_valley_of_the_run_stop(study, tmp_path):
    import geopandas as gpd

    p = gpd.read_file(study.parks)
    p["valley"] = p["valley"].map({"Wuhan": "武汉", "Changchun": "长春"})
    p.to_file(tmp_path / "zh.gpkg")
    with pytest.raises(InputError, match=r"No park of zh.gpkg belongs to a valley of the run: .*武汉 \(1\).*Wuhan, Changchun"):
        geo.check(study.write_config(parks={"path": str(tmp_path / "zh.gpkg")}, name="zh.toml"))


def test_a_valley_of_parks_spelt_otherwise_stops_when_its_parks_lie_among_a_parkless_valley(study, tmp_path, capsys):
    import geopandas as gpd

    p = gpd.read_file(study.parks)
    p["valley"] = p["valley"].map({"Wuhan": "武汉", "Changchun": "Changchun"})
    p.to_file(tmp_path / "half.gpkg")
    cfg = study.write_config(parks={"path": str(tmp_path / "half.gpkg")}, name="half.toml")
    code, _, err = _cli(capsys, "check", cfg)
    assert code == 2 and err.count("\n") == 1
    wuhan = p.loc[p["valley"] == "武汉", "name"].iloc[0]
    assert (f"The 1 park of half.gpkg labelled '武汉' ({wuhan}) lies among the firms of valley 'Wuhan', which has no "
            "park of its own" in err)
    assert "Write 'Wuhan' in that column" in err
    # parks of a valley left out of the run that lie elsewhere stay a warning
    p["valley"] = p["valley"].map({"武汉": "Wuhan", "Changchun": "Changchun"})
    far = p.iloc[[0]].copy()
    far["valley"], far["name"] = "Shenzhen", "Far park"
    far["geometry"] = far.translate(xoff=-10, yoff=-8)
    pd.concat([p, far]).to_file(tmp_path / "far.gpkg")
    summary = geo.check(study.write_config(parks={"path": str(tmp_path / "far.gpkg")}, name="far.toml"))
    assert any("parks of valleys not in the run were left out: ['Shenzhen']" in w for w in summary.warnings)


def test_check_runs_no_statistic(study, monkeypatch, capsys):
    import geo.cells.graph
    import geo.parks.overlay
    import geo.stats.autocorr

    def boom(*a, **k):
        raise AssertionError("geo check computed a statistic")

    for mod, name in [(geo.stats.autocorr, "global_moran"), (geo.stats.autocorr, "hotspots"), (geo.stats.autocorr, "local_g"),
                      (geo.stats.autocorr, "local_moran"), (geo.parks.overlay, "park_overlay"), (geo.cells.graph, "weights")]:
        monkeypatch.setattr(mod, name, boom)
    code, out, _ = _cli(capsys, "check", study.write_config(name="nostat.toml"))
    assert code == 0 and "no statistic was computed" in out


def test_check_strict_turns_warnings_into_exit_1(study, tmp_path, capsys):
    import geopandas as gpd

    p = gpd.read_file(study.parks)
    p.drop(columns="designated").to_file(tmp_path / "noyear.gpkg")
    cfg = study.write_config(parks={"path": str(tmp_path / "noyear.gpkg")}, name="strict.toml")
    assert main(["check", str(cfg)]) == 0
    assert main(["check", "--strict", str(cfg)]) == 1
    assert "warning: noyear.gpkg: no designation year column found" in capsys.readouterr().out


def test_a_study_in_chinese_writes_one_set_of_outputs_per_valley(tmp_path, capsys):
    s = make_study(tmp_path, valleys={"Wuhan": "武汉", "Changchun": "长春"}, target="光电", other=("软件", "食品"),
                   columns={"name": "企业名称", "lon": "经度", "lat": "纬度", "valley": "城市", "sector": "行业",
                            "founded": "成立年份"},
                   park_names={"Wuhan": "东湖高新区", "Changchun": "长春高新区"})
    cfg = s.write_config(analysis={"compare": True, "kd_simulations": 19})
    code, out, _ = _cli(capsys, "check", cfg)
    assert code == 0 and "valley 武汉: 500 firms, 166 光电 firms" in out
    assert main(["run", str(cfg), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    out_dir = tmp_path / "out"
    for v in ("武汉", "长春"):
        assert (out_dir / "maps" / f"{v}.html").is_file()
        assert (out_dir / "rasters" / f"{v}_density.tif").is_file()
        assert (out_dir / "rasters" / f"{v}_光电_density.tif").is_file()
        assert (out_dir / "figures" / f"{v}_gi.png").is_file()
        assert f"maps/{v}.html" in printed
    wuhan, changchun = ((out_dir / "maps" / f"{v}.html").read_bytes() for v in ("武汉", "长春"))
    assert wuhan != changchun
    index = (out_dir / "maps" / "index.html").read_text(encoding="utf-8")
    from urllib.parse import quote

    assert quote("武汉.html") in index and quote("长春.html") in index
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    assert set(summary["valleys"]) == {"武汉", "长春"}
    assert summary["valleys"]["武汉"]["hotspots"]["variable"] == "n_光电"


def test_file_names_are_unique_and_readable_for_any_name():
    from geo.outputs._write import safe_name

    assert safe_name("武汉") == "武汉" and safe_name("Wuhan") == "Wuhan" and safe_name("光电") == "光电"
    names = ["East Lake (Optics Valley)", "East Lake Optics Valley", "East_Lake_Optics_Valley", "a/b", "a_b", "a b", "", "CON"]
    stems = [safe_name(n) for n in names]
    assert len(set(stems)) == len(names)
    assert stems[0].startswith("East_Lake_Optics_Valley-") and stems[2] == "East_Lake_Optics_Valley"
    assert safe_name("East Lake (Optics Valley)") == stems[0]  # stable
    assert all("/" not in s and s and not s.startswith(".") for s in stems)


def test_api_functions_refuse_a_missing_column_or_value(study):
    from geo.crs import to_metric

    firms = to_metric(geo.read_firms(study.firms).query("city == 'Wuhan'"))
    with pytest.raises(InputError, match="'sektor'"):
        geo.aggregate(firms, by="sektor")
    cells = geo.aggregate(firms, by="industry")
    hot = geo.hotspots(cells, "n_optics", permutations=99)
    parks = geo.read_parks(study.parks).query("valley == 'Wuhan'")
    with pytest.raises(InputError, match="'optic'.*optics"):
        geo.park_overlay(hot, parks, firms, sector="optic", sector_column="industry", permutations=9)
    with pytest.raises(InputError, match="'sector'.*industry"):
        geo.park_overlay(hot, parks, firms, sector="optics", permutations=9)
    with pytest.raises(InputError, match="'optic'"):
        geo.kd(firms, sector="optic", sector_column="industry", simulations=9)
    with pytest.raises(InputError, match="sector_column"):
        geo.kd(firms, sector="optics", simulations=9)


def test_the_readme_example_of_your_own_data_checks(tmp_path, capsys):
    """The 5-row firm table and the config of README's "Your own data", as written there."""
    import re

    import geopandas as gpd
    import shapely

    from tests.study import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Your own data"):readme.index("### When something is wrong")]
    csv = re.search(r"```csv\n(.*?)```", section, re.S).group(1)
    toml = re.search(r"```toml\n(\[run\].*?)```", section, re.S).group(1)
    (tmp_path / "firms.csv").write_text(csv, encoding="utf-8")
    (tmp_path / "study.toml").write_text(toml, encoding="utf-8")
    gpd.GeoDataFrame({"name": ["东湖高新区", "长春高新区"], "城市": ["武汉", "长春"], "批准年份": [1991, 1991]},
                     geometry=[shapely.box(114.38, 30.46, 114.45, 30.52), shapely.box(125.27, 43.83, 125.33, 43.88)],
                     crs=4326).to_file(tmp_path / "parks.gpkg")
    assert main(["check", str(tmp_path / "study.toml")]) == 0
    out = capsys.readouterr().out
    assert "firms: 5 rows read, 5 kept, 0 rejected" in out
    assert "valley 武汉: 3 firms, 2 光电 firms (67%), 1 park(s), founding year for 2 of 2" in out
    assert "valley 长春: 2 firms, 1 光电 firms (50%), 1 park(s)" in out
    assert "designation year from column '批准年份'" in out


# --- slips found by a new user's trial and a review ---------------------------------------------------------------


def test_a_few_stray_geocodes_are_rejected_not_spread_over_the_country(tmp_path, capsys):
    s = make_study(tmp_path, valleys={"Wuhan": "Wuhan"}, n=600)
    strays = pd.DataFrame({"company": [f"stray {i}" for i in range(5)], "lng": [116.40, 121.47, 113.26, 116.41, 121.48],
                           "lat": [39.90, 31.23, 23.13, 39.91, 31.22], "city": "Wuhan", "industry": "optics",
                           "year_founded": 2001})
    pd.concat([s.frame, strays]).to_csv(s.firms, index=False)
    cfg = s.write_config(valleys=[{"name": "Wuhan"}])
    res = geo.run(cfg)
    assert res.load_report["rejected_by_reason"] == {"far_from_valley": 5}
    rej = res.rejects[res.rejects["reason"] == "far_from_valley"]
    assert sorted(rej["row"]) == [601, 602, 603, 604, 605] and rej["detail"].str.contains("km from the centre").all()
    assert any("5 firm(s) of firms.csv lie far from the other firms of their valley" in w for w in res.warnings)
    clean = make_study(tmp_path / "clean", valleys={"Wuhan": "Wuhan"}, n=600)
    ref = geo.run(clean.write_config(valleys=[{"name": "Wuhan"}]))
    assert res.valleys["Wuhan"].analysis.grid.size_m == ref.valleys["Wuhan"].analysis.grid.size_m


def test_degrees_given_a_projected_crs_stop(study):
    cfg = study.write_config(firms={"crs": "EPSG:32650"}, name="deg_as_utm.toml")
    with pytest.raises(InputError, match=r"crs = 'EPSG:32650' is a projected system \(metres\), but every coordinate .* look "
                                         r"like longitude/latitude degrees\. Set crs = \"wgs84\""):
        geo.check(cfg)


def test_parks_away_from_their_firms_stop(study, tmp_path):
    path = _utm(study, tmp_path)  # Wuhan in UTM 50N, read as UTM 49N: the firms move 6 degrees west
    cfg = study.write_config(firms={"path": str(path), "crs": "EPSG:32649"}, valleys=[{"name": "Wuhan"}], name="zone.toml")
    with pytest.raises(InputError, match=r"The parks of valley 'Wuhan' lie away from its firms: the firms span lon 108\..*"
                                         r"its parks lon 114\..*Is \[firms\] crs \(now 'EPSG:32649'\)"):
        geo.check(cfg)


def test_a_sector_or_a_valley_written_two_ways_stops(study, tmp_path):
    f = study.frame.copy()
    f.loc[f.index[::7], "industry"] = f.loc[f.index[::7], "industry"].str.capitalize()
    f.to_csv(tmp_path / "case.csv", index=False)
    with pytest.raises(InputError, match=r"target_sector = 'optics', but the sector column 'industry' also holds 'Optics' "
                                         r"\(\d+ firms\) beside 'optics'"):
        geo.check(study.write_config(firms={"path": str(tmp_path / "case.csv")}, name="case.toml"))
    g = study.frame.copy()
    g.loc[g.index[::9], "city"] = g.loc[g.index[::9], "city"].str.lower()
    g.to_csv(tmp_path / "vcase.csv", index=False)
    with pytest.raises(InputError, match=r"Valley 'Wuhan': the valley column 'city' also holds 'wuhan'"):
        geo.check(study.write_config(firms={"path": str(tmp_path / "vcase.csv")}, name="vcase.toml"))


def test_a_valley_whose_rows_were_all_rejected_says_so(study, tmp_path):
    f = study.frame.astype({"lng": object})
    f.loc[f["city"] == "Wuhan", "lng"] = "n/a"  # half the rows: under the mass-rejection limit
    f.to_csv(tmp_path / "halfbad.csv", index=False)
    with pytest.raises(InputError, match=r"Valley 'Wuhan': all 500 of its rows were rejected \(not_a_number: 500\)"):
        geo.check(study.write_config(firms={"path": str(tmp_path / "halfbad.csv")}, name="halfbad.toml"))


def test_a_numeric_valley_column_with_blanks(tmp_path):
    s = make_study(tmp_path, n=200)
    f = s.frame.assign(city=s.frame["city"].map({"Wuhan": 420100, "Changchun": 220100}).astype("Int64"))
    f.loc[3, "city"] = pd.NA
    f.to_csv(s.firms, index=False)
    chk = geo.check(s.write_config(valleys=[{"name": "420100"}, {"name": "220100"}], parks={"path": None}))
    assert [v.n_firms for v in chk.valleys] == [199, 200]


def test_a_reference_valley_table_spelled_otherwise_is_matched(tmp_path):
    s = make_study(tmp_path, n=200)
    cc = s.frame[s.frame["city"] == "Changchun"].drop(columns="city").rename(
        columns={"industry": "Industry", "year_founded": "Year_Founded"})
    cc.to_csv(tmp_path / "cc.csv", index=False)
    s.frame[s.frame["city"] == "Wuhan"].to_csv(s.firms, index=False)
    res = geo.run(s.write_config(valleys=[{"name": "Wuhan"}, {"name": "Changchun", "firms": "cc.csv"}]))
    facts = {v.name: v for v in geo.check(s.write_config(valleys=[{"name": "Wuhan"},
                                                                   {"name": "Changchun", "firms": "cc.csv"}])).valleys}
    assert facts["Changchun"].n_target == 66 and facts["Changchun"].n_founded == 66
    assert res.valleys["Changchun"].analysis.parks_overlay.iloc[0]["n_target_dated"] == 66


def test_a_future_designation_year_is_not_taken(study, tmp_path):
    import geopandas as gpd

    p = gpd.read_file(study.parks)
    p["designated"] = p["designated"].astype(object)
    p.loc[1, "designated"] = "2031"
    p.to_file(tmp_path / "future.gpkg")
    chk = geo.check(study.write_config(parks={"path": str(tmp_path / "future.gpkg")}, name="future.toml"))
    assert any("designation year '2031' not understood (year 2031 is outside" in w for w in chk.warnings)
    assert any("park 'Changchun High-Tech Park' has no designation year" in w for w in chk.warnings)


def test_nan_points_of_a_point_layer_are_rejected(tmp_path):
    import geopandas as gpd
    import shapely

    s = make_study(tmp_path, valleys={"Wuhan": "Wuhan"}, n=200)
    pts = gpd.GeoDataFrame(s.frame.drop(columns=["lng", "lat"]),
                           geometry=shapely.points(s.frame["lng"], s.frame["lat"]), crs=4326)
    pts.loc[[0, 1, 2], "geometry"] = shapely.points([np.nan] * 3, [np.nan] * 3)
    pts.to_file(tmp_path / "pts.gpkg")
    chk = geo.check(s.write_config(firms={"path": "pts.gpkg"}, valleys=[{"name": "Wuhan"}]))
    assert chk.load_report["rejected_by_reason"] == {"missing_coordinate": 3}


@pytest.mark.parametrize(("key", "value", "message"), [
    ("cell_size", "500m", r"\[analysis\] cell_size must be \"auto\" or a number of metres"),
    ("target_sector", ["optics", "lasers"], r"\[analysis\] target_sector must be one sector value, as text"),
])
def test_config_values_check_and_run_refuse_alike(study, capsys, key, value, message):
    cfg = study.write_config(analysis={key: value}, name=f"bad_{key}.toml")
    for command in ("check", "run"):
        code, _, err = _cli(capsys, command, cfg)
        assert code == 2 and re.search(message, err)


def test_a_precedence_answer_that_hangs_on_undated_firms_is_undetermined(study, tmp_path):
    f = study.frame.copy()
    cluster = f.index[(f["city"] == "Wuhan") & (f["industry"] == "optics")][:146]  # the firms of the cluster on the park
    f.loc[cluster[:80], "year_founded"] = 2005  # after the designation (2000)
    f.loc[cluster[80:140], "year_founded"] = None  # 60 without a year: 36 % of the valley's 166 target firms
    f.to_csv(tmp_path / "undated.csv", index=False)
    res = geo.run(study.write_config(firms={"path": str(tmp_path / "undated.csv")}, name="undated.toml"))
    row = res.valleys["Wuhan"].analysis.parks_overlay.iloc[0]
    assert row["cluster_before"] is None and row["cluster_before_if_undated_before"]
    assert "the answer hangs on the 60 target firms without a founding year" in row["precedence_skipped"]
    assert row["verdict"] == "undetermined"
    # with the undated firms known to be after, it would have been "formed after designation"
    g = f.copy()
    g.loc[cluster[80:140], "year_founded"] = 2006
    g.to_csv(tmp_path / "dated.csv", index=False)
    ref = geo.run(study.write_config(firms={"path": str(tmp_path / "dated.csv")}, name="dated.toml"))
    assert ref.valleys["Wuhan"].analysis.parks_overlay.iloc[0]["verdict"] == "cluster formed after designation"


def test_valley_names_that_differ_only_in_case_stop(study, tmp_path):
    from geo.errors import ConfigError

    with pytest.raises(ConfigError, match="Valley names must differ in more than letter case: 'Wuhan' and 'WUHAN'"):
        geo.check(study.write_config(valleys=[{"name": "Wuhan"}, {"name": "WUHAN"}], name="case_names.toml"))
    f = study.frame.copy()
    f.loc[f.index[:3], "city"] = "wuhan"
    f.to_csv(tmp_path / "nocfg.csv", index=False)
    cfg = tmp_path / "nocfg.toml"
    cfg.write_text('[firms]\npath = "nocfg.csv"\nvalley_column = "city"\n')
    with pytest.raises(InputError, match="The valley column 'city' holds 'wuhan' and 'Wuhan'|holds 'Wuhan' and 'wuhan'"):
        geo.check(cfg)


def test_coordinate_columns_with_other_names_are_suggested(tmp_path):
    """'X坐标'/'Y坐标' are not taken silently, but named in the message with the setting to use."""
    from geo.errors import ColumnError
    from geo.io.firms import read_firms

    path = tmp_path / "企业.csv"
    path.write_text("公司,X坐标,Y坐标\n甲,117.1,31.8\n乙,117.2,31.9\n", encoding="utf-8")
    with pytest.raises(ColumnError) as err:
        read_firms(path)
    text = str(err.value)
    assert "No longitude column" in text and "Did you mean 'X坐标'?" in text and 'lon="X坐标"' in text
    assert read_firms(path, lon="X坐标", lat="Y坐标")["lat"].tolist() == [31.8, 31.9]


def test_coordinates_taken_as_wgs84_without_a_crs_are_said_to_be_assumed(study, tmp_path, capsys):
    """GCJ-02 coordinates (Amap) read as WGS84 raise no error: the run says what it assumed, in check and run."""
    from geo.crs import wgs84_to_gcj02

    df = pd.read_csv(study.firms)
    lon, lat = study.columns.get("lon", "lon"), study.columns.get("lat", "lat")
    df[lon], df[lat] = wgs84_to_gcj02(df[lon].to_numpy(), df[lat].to_numpy())
    df.to_csv(tmp_path / "amap.csv", index=False)
    assumed = "the coordinates of amap.csv were taken as WGS84 (GPS) because [firms] crs is not set"
    cfg = study.write_config(firms={"path": str(tmp_path / "amap.csv")}, name="amap.toml")
    code, out, _ = _cli(capsys, "check", cfg)
    assert code == 0 and f"warning: {assumed}" in out and 'set [firms] crs = "gcj02"' in out
    res = geo.run(cfg)
    assert sum(assumed in w for w in res.warnings) == 1  # once, in the warnings the report lists
    told = study.write_config(firms={"path": str(tmp_path / "amap.csv"), "crs": "wgs84"}, name="told.toml")
    assert not any("were taken as WGS84" in w for w in geo.check(told).warnings)
    far = df.assign(**{lon: df[lon] - 230.0})  # the Americas: outside China, where GCJ-02 is not used
    far.to_csv(tmp_path / "far.csv", index=False)
    chk = geo.check(study.write_config(firms={"path": str(tmp_path / "far.csv")}, parks={"path": None}, name="far.toml"))
    assert not any("were taken as WGS84" in w for w in chk.warnings)


def test_open_map_data_read_as_a_plain_table_names_the_source_key(tmp_path):
    """An .osm.pbf or an Overture GeoParquet given without [firms] source: the message names the key that reads it."""
    import shutil
    from pathlib import Path

    from geo.errors import ColumnError, DataFileError

    examples = Path(__file__).resolve().parents[1] / "data" / "examples"
    with pytest.raises(DataFileError, match=r"It looks like an OpenStreetMap extract: set \[firms\] source = \"osm\""):
        geo.read_firms(examples / "osm" / "wuhan.osm.pbf")
    shutil.copytree(examples / "overture", tmp_path / "overture")
    cfg = tmp_path / "overture" / "config.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('source = "overture"', ""), encoding="utf-8")
    with pytest.raises(ColumnError, match=r"These are the columns of Overture Places: set \[firms\] source = \"overture\""):
        geo.check(cfg)
    code = main(["check", str(cfg)])
    assert code == 2


@pytest.mark.parametrize("kind, wrong, right, message", [
    ("osm", '"craft=optician" = "optics"', '"craft=opticain" = "optics"',
     ("The [firms.osm_sectors] tag mapped to 'optics' ('craft=opticain') matched no feature of wuhan.osm.pbf: check "
      "their spelling (OpenStreetMap tags are key=value")),
    ("overture", "b2b_electronic_equipment = ", "b2b_electronics_equipment = ",
     ("The [firms.overture_sectors] category mapped to 'optics' ('b2b_electronics_equipment') matched no feature of "
      "places.parquet")),
    ("osm", 'target_sector = "optics"', 'target_sector = "optic"',
     ("No entry of [firms.osm_sectors] maps a tag to 'optic': add one (tag = \"optic\"), or set target_sector to one "
      "of the table's sectors. Did you mean 'optics'?")),
])
def test_a_misspelt_open_data_sector_table_entry_is_named(tmp_path, kind, wrong, right, message):
    """OpenStreetMap / Overture: a tag or category misspelt in the config's sector table matches nothing; the error
    names that entry, not only the sectors that remain."""
    import shutil
    from pathlib import Path

    shutil.copytree(Path(__file__).resolve().parents[1] / "data" / "examples" / kind, tmp_path / kind)
    cfg = tmp_path / kind / "config.toml"
    text = cfg.read_text(encoding="utf-8")
    assert wrong in text
    cfg.write_text(text.replace(wrong, right), encoding="utf-8")
    with pytest.raises(InputError) as err:
        geo.check(cfg)
    assert message in str(err.value)


def test_a_catalogue_zone_without_a_point_is_one_warning_not_also_a_log_line(caplog):
    """`geo check` on the catalogue example: the unjoined zone is a warning of the run (console and report), not a
    WARNING log record printed above the output as well."""
    import logging
    from pathlib import Path

    cfg = Path(__file__).resolve().parents[1] / "data" / "examples" / "catalogue" / "config.toml"
    with caplog.at_level(logging.WARNING, logger="geo"):
        chk = geo.check(cfg)
    assert any("no point of zones.shp has code 'S421099'" in w for w in chk.warnings)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_geo_run_prints_the_answer_not_only_counts(tmp_path, capsys):
    """The console of `geo run` on the points example ends with the answer's first sentence, as the report opens."""
    import shutil
    from pathlib import Path

    shutil.copytree(Path(__file__).resolve().parents[1] / "data" / "examples" / "points", tmp_path / "points")
    assert main(["run", str(tmp_path / "points" / "config.toml"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    answer = [line for line in out.splitlines() if line.startswith("answer: ")]
    assert answer == [("answer: Of 2 parks, 1 sits on a cluster that existed before designation and 1 does not "
                       "coincide with a significant cluster.")]


def test_valley_names_unlike_the_data_are_named_not_blamed_on_a_few_bad_rows(study, tmp_path, capsys):
    # a registry export says 武汉市 where the config says 武汉: every row lies outside the valleys, and the few
    # (0, 0) rows were the only "faults" left, so the run blamed the geocoding for all of them
    f = study.frame.copy()
    f.loc[f.index[:3], ["lng", "lat"]] = 0.0
    f.to_csv(tmp_path / "zero.csv", index=False)
    cfg = study.write_config(firms={"path": str(tmp_path / "zero.csv")},
                             valleys=[{"name": "Wuhan City"}, {"name": "Changchun City"}], name="city.toml")
    code, _, err = _cli(capsys, "check", cfg)
    assert code == 2 and err.count("\n") == 1
    assert "Valley 'Wuhan City' matches no firm" in err and "Wuhan (" in err and "Did you mean 'Wuhan'?" in err
    assert "(0, 0)" not in err


def test_a_firm_id_on_two_rows_is_named_in_a_warning(study, tmp_path, capsys):
    # a registry export lists a renamed firm twice: one credit code, two names; not an exact copy, so kept twice
    f = study.frame.copy()
    f.insert(0, "credit_code", [f"91420100MA{i:08d}" for i in range(len(f))])
    again = f.iloc[[3, 4]].assign(company=lambda d: d["company"] + " (renamed)")
    pd.concat([f, again]).to_csv(tmp_path / "ids.csv", index=False)
    cfg = study.write_config(firms={"path": str(tmp_path / "ids.csv"), "id": "credit_code", "crs": "wgs84",
                                    "name_column": "company"}, name="ids.toml")
    code, out, _ = _cli(capsys, "check", cfg)
    assert code == 0
    warning = next(line for line in out.splitlines() if "repeat the firm id" in line)
    assert "2 row(s) of ids.csv repeat the firm id of another row (column 'credit_code'; e.g. '91420100MA00000003'" in warning
    assert f"{f['company'].iloc[3]!r} and {f['company'].iloc[3] + ' (renamed)'!r}" in warning
    # a table without repeats says nothing
    f.to_csv(tmp_path / "ids.csv", index=False)
    code, out, _ = _cli(capsys, "check", cfg)
    assert code == 0 and "check: OK" in out and "repeat the firm id" not in out


def test_closing_dates_as_a_registry_writes_them_feed_the_space_time_history(tmp_path):
    # 注销日期 as Qichacha exports it: dates in several forms, empty for open firms; one not a date, one too early
    s = make_study(tmp_path, valleys={"Wuhan": "Wuhan"})
    f = s.frame.copy()
    founded = f[s.columns["founded"]].to_numpy()
    closed = np.full(len(f), "", dtype=object)
    closed[::4] = [f"{y + 3}-06-30" for y in founded[::4]]
    closed[1::8] = [f"{y + 2}年3月1日" for y in founded[1::8]]
    closed[2] = "unknown"
    closed[6] = f"{founded[6] - 5}/1/1"
    f["closed_on"] = closed
    f.to_csv(s.firms, index=False)
    cfg = s.write_config(firms={"closed_column": "closed_on", "crs": "wgs84"})
    chk = geo.check(cfg)
    assert any("1 closing dates of firms.csv (column 'closed_on') are not dates (e.g. 'unknown'" in w for w in chk.warnings)
    assert any(f"1 firms of firms.csv close before they were founded (column 'closed_on'; e.g. founded {founded[6]}, "
               f"closed {founded[6] - 5})" in w for w in chk.warnings)
    n_closed = sum(1 for i, c in enumerate(closed) if c and i not in (2, 6))  # the dates read, less the two faults
    assert any(w.startswith(f"{n_closed:,} firms of firms.csv have a closing date (column 'closed_on'): the emerging hot "
                            "spot analysis counts them only while open, but the cells, hot spots and park tests count "
                            "every firm") for w in chk.warnings)
    res = geo.run(cfg)
    vr = res.valleys["Wuhan"]
    assert "emerging_hotspots" not in vr.skipped
    assert vr.analysis.spacetime_cube.closed


def test_without_kd_simulations_the_answer_claims_no_kd_timing(study, tmp_path):
    # kd_simulations = 0 skips Kd, also the comparison's Kd by year: the answer said "the grid-free
    # Duranton–Overman test first finds ... not localised in any year checked" of a test never run
    cfg = study.write_config(analysis={"compare": True, "kd_simulations": 0, "scales": []}, name="nokd.toml")
    res = geo.run(cfg)
    assert res.comparison is not None and "stage_designated" in res.comparison.table
    assert "stage_first_localised_year" not in res.comparison.table
    assert not any("Duranton" in s or "localised" in s for s in res.answer.sentences)
    # (with simulations the column is there: tests/test_compare.py::test_subsector_named_like_the_target_sector)


@pytest.mark.parametrize(("size", "warned"), [(20, True), ("auto", False)])
def test_a_cell_size_that_leaves_every_firm_alone_is_named(tmp_path, size, warned):
    # cell_size = 20 (metres, meant as 20 cells? 2 km?): every firm alone in its cell, no hot spot anywhere,
    # and the answer "no park coincides with a cluster" would describe the grid
    s = make_study(tmp_path, valleys={"Wuhan": "Wuhan"})
    res = geo.run(s.write_config(firms={"crs": "wgs84"}, analysis={"cell_size": size, "scales": []}))
    found = [w for w in res.warnings if "hold a single firm" in w]
    if not warned:
        assert not found
        return
    cells = res.valleys["Wuhan"].analysis.cells["n_firms"].to_numpy()
    share = np.mean(cells[cells > 0] == 1)  # counted independently of the warning
    assert share >= 0.95
    assert found == [(f"valley 'Wuhan': with [analysis] cell_size = 20 m, {share:.0%} of the {int((cells > 0).sum()):,} "
                      "cells holding firms hold a single firm, so Gi* compares cells of 0 and 1 firm and misses clusters a "
                      "few cells wide: the hot spots and park verdicts describe the grid more than the firms; cell_size = "
                      "\"auto\" gives about two firms per cell")]


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_cell_size_of_a_few_metres_stops_in_check_naming_the_valley(study, capsys, command):
    cfg = study.write_config(analysis={"cell_size": 5}, name="cell5.toml")
    code, _, err = _cli(capsys, command, cfg)
    assert code == 2 and err.count("\n") == 1
    # the Wuhan firms of the study span about 0.3° x 0.3° (independently: the frame's box, in km)
    w = study.frame[study.frame["city"] == "Wuhan"]
    km_x = (w["lng"].max() - w["lng"].min()) * 111.32 * np.cos(np.radians(w["lat"].mean()))
    km_y = (w["lat"].max() - w["lat"].min()) * 110.574
    n = km_x * km_y * 1e6 / (np.sqrt(3) / 2 * 25)
    assert n > 5_000_000
    m = re.search(r"\[analysis\] cell_size = 5 \(metres\) would cut valley 'Wuhan', whose firms span ([\d.]+) × ([\d.]+) km, "
                  r"into about ([\d,]+) cells \(at most 5,000,000\): cell_size is in metres", err)
    assert m, err
    assert float(m[1]) == pytest.approx(km_x, abs=0.1) and float(m[2]) == pytest.approx(km_y, abs=0.1)
    assert int(m[3].replace(",", "")) == pytest.approx(n, rel=0.01)


def test_a_cell_size_wider_than_the_valley_is_a_warning_in_check(study, capsys):
    cfg = study.write_config(analysis={"cell_size": 50000}, name="cell50k.toml")
    code, out, _ = _cli(capsys, "check", cfg)
    assert code == 0
    lines = [line for line in out.splitlines() if "[analysis] cell_size = 50000 m is more than a third" in line]
    assert [line.split("valley ")[1].split(" ")[0] for line in lines] == ["'Wuhan'", "'Changchun'"]
    # the study's valleys span about 0.3 degrees (~ 30 km): 50 km cells are wider; 500 m cells are not
    code, out, _ = _cli(capsys, "check", study.write_config(analysis={"cell_size": 500}, name="cell500.toml"))
    assert code == 0 and "more than a third" not in out


def test_a_time_step_that_leaves_fewer_than_three_steps_is_a_warning_in_check(study, capsys):
    w = study.frame[(study.frame["city"] == "Wuhan") & (study.frame["industry"] == study.target)]["year_founded"]
    lo, hi = int(w.min()), int(w.max())
    step = (hi - lo) // 2 + 1  # (hi - lo) // step + 1 = 2 steps: one too few for the Mann–Kendall trend
    code, out, _ = _cli(capsys, "check", study.write_config(analysis={"time_step": step}, name="step.toml"))
    assert code == 0
    assert (f"warning: valley 'Wuhan': its 'optics' firms were founded {lo}–{hi}, so [analysis] time_step = {step} gives "
            f"2 time step(s), fewer than the 3 the emerging hot spot analysis needs: it will be skipped; time_step = "
            f"{(hi - lo) // 2} or less gives 3 or more") in out
    code, out, _ = _cli(capsys, "check", study.write_config(analysis={"time_step": step - 1}, name="step2.toml"))
    assert "valley 'Wuhan': its 'optics' firms were founded" not in out


def test_outputs_that_would_overwrite_an_input_stop_before_anything_is_written(tmp_path, capsys):
    # --out pointed at the data folder, whose firm table is called rejects.csv: the run replaced it with its rejects
    from geo.pipeline.results import check_out_folder

    s = make_study(tmp_path, valleys={"Wuhan": "Wuhan"})
    s.firms.rename(tmp_path / "rejects.csv")
    cfg = s.write_config(firms={"path": "rejects.csv", "crs": "wgs84"})
    before = (tmp_path / "rejects.csv").read_bytes()
    assert main(["run", str(cfg), "--out", str(tmp_path), "-q"]) == 2
    err = capsys.readouterr().err
    assert err == (f"geo: error: The output folder {tmp_path} holds the input rejects.csv ([firms] path), which the run's "
                   f"own output of that name would overwrite: write the outputs to another folder (geo run --out "
                   f"{tmp_path.name}-results) or rename the input.\n")
    assert (tmp_path / "rejects.csv").read_bytes() == before and not (tmp_path / "report.html").exists()
    # an input under maps/ is refused too; a data folder without such names is a valid output folder
    (tmp_path / "maps").mkdir()
    (tmp_path / "rejects.csv").rename(tmp_path / "maps" / "firms.csv")
    cfg = s.write_config(firms={"path": "maps/firms.csv", "crs": "wgs84"})
    with pytest.raises(geo.errors.ConfigError, match=r"holds the input maps/firms.csv \(\[firms\] path\)"):
        geo.run(cfg, out=tmp_path)
    check_out_folder(geo.config.load_config(cfg), tmp_path / "elsewhere")
    (tmp_path / "maps" / "firms.csv").rename(tmp_path / "firms.csv")
    check_out_folder(geo.config.load_config(s.write_config(firms={"crs": "wgs84"})), tmp_path)


def test_a_study_of_one_sector_says_the_labelling_test_cannot_run(tmp_path):
    # a registry export of optics firms only: random labelling among the valley's firms has no other firm to swap
    s = make_study(tmp_path, valleys={"Wuhan": "Wuhan"})
    f = s.frame.copy()
    f[s.columns["sector"]] = s.target
    f.to_csv(s.firms, index=False)
    res = geo.run(s.write_config(firms={"crs": "wgs84"}, analysis={"scales": []}))
    ov = res.valleys["Wuhan"].analysis.parks_overlay
    assert ov["p_labelling"].isna().all() and ov["p_labelling_mid"].isna().all()
    for _, row in ov.iterrows():
        assert "random labelling not computed: every firm of the valley is of the target sector" in row["notes"]
        assert "random labelling mid-p not computed" in row["verdict_reason"]
    # with two sectors it is computed (the hypergeometric test itself: tests/test_parks.py)
    res = geo.run(make_study(tmp_path / "two", valleys={"Wuhan": "Wuhan"}).write_config(firms={"crs": "wgs84"},
                                                                                     analysis={"scales": []}))
    assert res.valleys["Wuhan"].analysis.parks_overlay["p_labelling"].notna().all()


def test_a_park_designated_outside_the_founding_years_says_what_the_data_cannot_show(tmp_path):
    import geopandas as gpd

    s = make_study(tmp_path, valleys={"Wuhan": "Wuhan"})
    years = s.frame.loc[s.frame["industry"] == s.target, "year_founded"]
    parks = gpd.read_file(s.parks)
    for designated, expected in ((int(years.max()) + 1, "after the last founding year of the target firms"),
                                 (int(years.min()), "no later than the first founding year of the target firms"),
                                 (int(years.min()) + 3, None)):
        parks.assign(designated=designated).to_file(s.parks)
        res = geo.run(s.write_config(firms={"crs": "wgs84"}, analysis={"scales": []}))
        notes = res.valleys["Wuhan"].analysis.parks_overlay["notes"].iloc[0]
        if expected is None:
            assert "founding year of the target firms" not in notes
        else:
            assert f"designated in {designated}, {expected}" in notes


def test_a_status_column_given_as_closed_column_stops(tmp_path, capsys):
    # 经营状态 (存续 / 注销 / 吊销) instead of 注销日期: no value is a date, so no firm would ever close
    s = make_study(tmp_path, valleys={"Wuhan": "Wuhan"})
    f = s.frame.copy()
    f["status"] = np.where(np.arange(len(f)) % 3 == 0, "注销", "存续")
    f.to_csv(s.firms, index=False)
    code, _, err = _cli(capsys, "check", s.write_config(firms={"closed_column": "status", "crs": "wgs84"}))
    n_closed = int((np.arange(len(f)) % 3 == 0).sum())
    assert code == 2 and err == (f"geo: error: [firms] closed_column = 'status' holds no date (存续 ({len(f) - n_closed:,}), "
                                 f"注销 ({n_closed:,})): it should name the column of closing (deregistration) dates, such "
                                 "as 注销日期 or 吊销日期; a status column cannot tell when a firm closed.\n")


def test_parks_not_assessed_for_one_reason_show_it_once(study, tmp_path):
    # cell_size = 50000: every park "not assessed" for the same reason, written five times, each ending ".."
    res = geo.run(study.write_config(analysis={"cell_size": 50000, "scales": []}, name="wide.toml"))
    res.write(tmp_path / "out")
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    row = re.search(r"<tr><td>not assessed</td><td class=\"num\">2</td><td>(.*?)</td></tr>", page)
    assert row, "no not-assessed row"
    reason = res.valleys["Wuhan"].skipped["hotspots"].rstrip(".")
    assert row[1].count(reason) == 1 and row[1].startswith("Wuhan: ") and "Changchun: " in row[1]
    assert f"No park tests: {reason}.</p>" in page and ".." not in re.sub(r"<[^>]+>", " ", page.split("<h2")[1])
