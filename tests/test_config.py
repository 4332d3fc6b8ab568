"""Config parsing: defaults, types, unknown keys, relative paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from geo.config import config_from_dict, load_config
from geo.errors import ConfigError


def test_demo_config_loads():
    cfg = load_config(Path(__file__).resolve().parent.parent / "geo" / "datasets" / "data" / "demo.toml")
    assert cfg.run.synthetic is True
    assert [v.name for v in cfg.valleys] == ["Wuhan", "Changchun", "Shenzhen"]
    assert cfg.firms.path.name == "firms_demo.csv" and cfg.firms.path.is_absolute()
    assert cfg.analysis.target_sector == "optics"


def test_unknown_keys_list_valid_ones():
    with pytest.raises(ConfigError, match=r"Unknown key\(s\) \['pth'\] in \[firms\]; valid keys are .*'path'"):
        config_from_dict({"firms": {"pth": "x.csv"}})
    with pytest.raises(ConfigError, match=r"Unknown key\(s\) \['colour'\] in \[top level\]"):
        config_from_dict({"firms": {"path": "x"}, "colour": 1})
    with pytest.raises(ConfigError, match=r"valleys #1"):
        config_from_dict({"firms": {"path": "x"}, "valleys": [{"name": "a", "area": 3}]})



def test_unknown_key_says_where_it_belongs_or_what_it_stands_for():
    """A key in the wrong section names its section; a near-miss names the key it stands for."""
    with pytest.raises(ConfigError, match=r"'target_sector' belongs in \[analysis\], not in \[firms\]\.$"):
        config_from_dict({"firms": {"path": "x", "target_sector": "optics"}})
    with pytest.raises(ConfigError, match=r"'target_sector' belongs in \[analysis\], not in \[top level\]"):
        config_from_dict({"firms": {"path": "x"}, "target_sector": "optics"})
    with pytest.raises(ConfigError, match=r"'analysys': did you mean 'analysis'\?$"):
        config_from_dict({"firms": {"path": "x"}, "analysys": {}})
    with pytest.raises(ConfigError, match=r"'lon_column': did you mean 'lon'\?$"):
        config_from_dict({"firms": {"path": "x", "lon_column": "经度"}})
    with pytest.raises(ConfigError, match=r"'x': did you mean 'lon'\? 'y': did you mean 'lat'\?$"):
        config_from_dict({"firms": {"path": "x", "x": "lng", "y": "lat"}})  # ArcGIS's X/Y fields
    with pytest.raises(ConfigError, match=r"'longitude': did you mean 'lon'\?$"):
        config_from_dict({"firms": {"path": "x", "longitude": "lng"}})
    with pytest.raises(ConfigError, match=r"'sector': did you mean 'target_sector'\?$"):
        config_from_dict({"firms": {"path": "x"}, "analysis": {"sector": "optics"}})
    with pytest.raises(ConfigError, match=r"'city_column': did you mean 'valley_column'\?$"):
        config_from_dict({"firms": {"path": "x", "city_column": "city"}})
    with pytest.raises(ConfigError, match=r"'year_columns' belongs in \[cells\], not in \[firms\]"):
        config_from_dict({"firms": {"path": "x", "year_columns": "optics_{year}"}})
    with pytest.raises(ConfigError) as err:  # nothing close: no hint, the valid keys only
        config_from_dict({"firms": {"path": "x", "colour": 1}})
    assert str(err.value).endswith("'valley_column'].")


def test_types_and_values_checked():
    with pytest.raises(ConfigError, match=r"\[analysis\] permutations must be int; str '999'"):
        config_from_dict({"firms": {"path": "x"}, "analysis": {"permutations": "999"}})
    with pytest.raises(ConfigError, match="cell must be"):
        config_from_dict({"firms": {"path": "x"}, "analysis": {"cell": "triangle"}})
    with pytest.raises(ConfigError, match="alpha must be between"):
        config_from_dict({"firms": {"path": "x"}, "analysis": {"alpha": 5}})
    with pytest.raises(ConfigError, match=r"\[firms\] path is required"):
        config_from_dict({})
    with pytest.raises(ConfigError, match="bbox must be"):
        config_from_dict({"firms": {"path": "x"}, "valleys": [{"name": "a", "bbox": [1, 2]}]})
    with pytest.raises(ConfigError, match="unique"):
        config_from_dict({"firms": {"path": "x"}, "valleys": [{"name": "a"}, {"name": "a"}]})
    cfg = config_from_dict({"firms": {"path": "x"}, "analysis": {"alpha": 0.1, "permutations": 99}})
    assert cfg.analysis.alpha == 0.1 and cfg.analysis.permutations == 99


def test_paths_relative_to_config(tmp_path):
    p = tmp_path / "sub" / "c.toml"
    p.parent.mkdir()
    p.write_text('[firms]\npath = "../f.csv"\n[parks]\npath = "p.gpkg"\n')
    cfg = load_config(p)
    assert cfg.firms.path == (tmp_path / "f.csv").resolve()
    assert cfg.parks.path == (tmp_path / "sub" / "p.gpkg").resolve()


def test_bad_toml_and_missing_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[firms\npath=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)
    with pytest.raises(ConfigError, match="Config file not found"):
        load_config(tmp_path / "none.toml")


def test_dask_engine_checks_the_firm_table_first(tmp_path, monkeypatch):
    import geo
    from geo.errors import DataFileError
    from geo.pipeline import dask_engine

    def no_cluster(*a, **k):
        raise AssertionError("a cluster was started")

    monkeypatch.setattr(dask_engine, "connect", no_cluster)
    cfg = config_from_dict({"run": {"engine": "dask"}, "firms": {"path": str(tmp_path / "x.csv")}})
    with pytest.raises(DataFileError, match="not found"):
        geo.run(cfg)


def test_in_memory_engine_refuses_a_table_too_big(tmp_path):
    import geo
    from geo.errors import InputError
    from geo.pipeline._memory import estimate_rows

    p = tmp_path / "firms.csv"
    p.write_text("firm_id,lon,lat\n" + "".join(f"F{i},114.{i % 1000:03d},30.5\n" for i in range(20_000)), encoding="utf-8")
    assert 15_000 < estimate_rows(p) < 25_000
    cfg = config_from_dict({"run": {"max_memory_gb": 0.01}, "firms": {"path": str(p)}})
    with pytest.raises(InputError, match=r"engine = \"dask\".*--engine dask"):
        geo.run(cfg)
    with pytest.raises(ConfigError, match="max_memory_gb"):
        config_from_dict({"run": {"max_memory_gb": -1.0}, "firms": {"path": str(p)}})
    with pytest.raises(ConfigError, match="sample_firms"):
        config_from_dict({"run": {"sample_firms": 5}, "firms": {"path": str(p)}})


def test_in_memory_engine_points_folders_to_the_dask_engine(tmp_path):
    import geo
    from geo.errors import InputError

    (tmp_path / "parts").mkdir()
    cfg = config_from_dict({"firms": {"path": str(tmp_path / "parts")}})
    with pytest.raises(InputError, match="dask engine reads many"):
        geo.run(cfg)


def test_a_crs_that_names_no_system_stops_with_the_value_meant():
    """crs = "baidu" (the map, not the system) or a typo: a config sentence with the valid values, not a Proj error."""
    with pytest.raises(ConfigError, match=r"^\[firms\] crs = 'baidu' is not a coordinate system: write \"wgs84\" .*"
                                          r"Did you mean crs = 'bd09'\?$"):
        config_from_dict({"firms": {"path": "x", "crs": "baidu"}})
    with pytest.raises(ConfigError, match=r"^\[parks\] crs = 'Gaode' is not .*Did you mean crs = 'gcj02'\?$"):
        config_from_dict({"firms": {"path": "x"}, "parks": {"path": "p", "crs": "Gaode"}})
    with pytest.raises(ConfigError) as err:
        config_from_dict({"firms": {"path": "x", "crs": "EPSG:32650x"}})
    assert "Proj" not in str(err.value) and "Did you mean" not in str(err.value)
    for ok in ("wgs84", "GCJ-02", "bd09", "EPSG:32650", 4490):
        assert config_from_dict({"firms": {"path": "x", "crs": ok}}).firms.crs == ok


def test_a_data_file_given_as_the_config_says_what_geo_takes(tmp_path):
    """`geo check firms.csv` or `geo run grid.tif`: one sentence saying a config is needed, never a traceback."""
    from geo.cli import main

    (tmp_path / "firms.csv").write_text("lon,lat\n114.3,30.5\n", encoding="utf-8")
    (tmp_path / "grid.tif").write_bytes(b"II*\x00\x88\xff\xfe\x00binary")
    with pytest.raises(ConfigError, match=r"is not valid TOML: .*geo check and geo run take the study's config file "
                                          r"\(a \.toml naming 'firms\.csv' under \[firms\] path"):
        load_config(tmp_path / "firms.csv")
    with pytest.raises(ConfigError, match=r"'.*grid\.tif' is not a text file, so not a TOML config\. geo check"):
        load_config(tmp_path / "grid.tif")
    assert main(["check", str(tmp_path / "grid.tif")]) == 2


def test_a_config_saved_in_gbk_says_to_save_it_as_utf8(tmp_path):
    """A config with Chinese text saved by an editor in GBK: the fix in one sentence, not 'not a text file'."""
    (tmp_path / "study.toml").write_text('[run]\ntitle = "武汉光谷"\n[firms]\npath = "企业.csv"\n', encoding="gbk")
    with pytest.raises(ConfigError, match=r"is not UTF-8 \(it reads as GBK/GB18030.*save it again as UTF-8"):
        load_config(tmp_path / "study.toml")


def test_a_config_saved_with_a_utf8_bom_loads(tmp_path):
    """Windows Notepad's "UTF-8" writes a byte-order mark, which TOML parsers reject at line 1, column 1."""
    (tmp_path / "study.toml").write_text('[firms]\npath = "企业.csv"\n', encoding="utf-8-sig")
    assert load_config(tmp_path / "study.toml").firms.path.name == "企业.csv"


@pytest.mark.parametrize(("alpha", "permutations", "ok"), [(0.05, 18, False), (0.05, 19, True), (0.01, 98, False),
                                                           (0.01, 99, True), (0.1, 9, True), (0.05, -1, False)])
def test_too_few_permutations_to_reach_alpha_stop(alpha, permutations, ok):
    """The smallest permutation p-value is 1 / (permutations + 1); below alpha, or the test can never be significant."""
    data = {"firms": {"path": "x"}, "analysis": {"alpha": alpha, "permutations": permutations}}
    if ok:
        assert config_from_dict(data).analysis.permutations == permutations
        return
    with pytest.raises(ConfigError) as err:
        config_from_dict(data)
    assert f"[analysis] permutations = {permutations}" in str(err.value)
    assert f"at least {round(1 / alpha) - 1})." in str(err.value)
    if permutations >= 0:
        assert f"cannot give a p-value below 1/{permutations + 1} = {1 / (permutations + 1):.3g}" in str(err.value)


@pytest.mark.parametrize(("section", "key"), [("analysis", "kd_simulations"), ("analysis", "ripley_simulations"),
                                              ("groups", "kd_simulations")])
def test_a_simulation_envelope_too_small_for_alpha_stops_but_zero_skips(section, key):
    base = {"firms": {"path": "x"}}
    assert getattr(getattr(config_from_dict({**base, section: {key: 0}}), section), key) == 0
    assert getattr(getattr(config_from_dict({**base, section: {key: 19}}), section), key) == 19
    with pytest.raises(ConfigError, match=rf"^\[{section}\] {key} = 5: a simulation envelope of fewer than 19 draws "
                                          r"cannot reach its 5 % level .*use 0 to skip the test"):
        config_from_dict({**base, section: {key: 5}})


@pytest.mark.parametrize(("bbox", "message"), [
    ([30.35, 114.25, 30.65, 114.55], (r"bbox \[30.35, 114.25, 30.65, 114.55\] has latitudes outside ±90, so it looks written "
                                      r"in latitude/longitude order: write \[min_lon, min_lat, max_lon, max_lat\] = "
                                      r"\[114.25, 30.35, 114.55, 30.65\]\.")),
    ([114.25, 30.65, 114.55, 30.35], (r"with each minimum below its maximum; \[114.25, 30.65, 114.55, 30.35\] was given "
                                      r"\(perhaps \[114.25, 30.35, 114.55, 30.65\]\?\)\.")),
    ([500000.0, 3300000.0, 520000.0, 3400000.0], r"in degrees \(longitudes within ±180, latitudes within ±90\)"),
])
def test_a_valley_bbox_in_the_wrong_order_or_units_is_named(bbox, message):
    with pytest.raises(ConfigError, match=r"\[\[valleys\]\] 'Wuhan': " + ".*" + message):
        config_from_dict({"firms": {"path": "x"}, "valleys": [{"name": "Wuhan", "bbox": bbox}]})
    ok = config_from_dict({"firms": {"path": "x"}, "valleys": [{"name": "Wuhan", "bbox": [114.25, 30.35, 114.55, 30.65]}]})
    assert ok.valleys[0].bbox == (114.25, 30.35, 114.55, 30.65)


def test_a_path_written_from_the_current_folder_names_the_path_from_the_config(tmp_path, monkeypatch):
    # the analyst wrote the path from where they start geo, not from the config's folder
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "firms.csv").write_text("lon,lat\n114.4,30.5\n", encoding="utf-8")
    (tmp_path / "configs").mkdir()
    cfg = tmp_path / "configs" / "study.toml"
    cfg.write_text('[firms]\npath = "data/firms.csv"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"\[firms\] path = 'data/firms.csv' is read from the config's folder \(.*configs\), "
                                          r"where it does not exist; .*: write path = '../data/firms.csv' \(relative to the "
                                          r"config\)"):
        load_config(cfg)
    cfg.write_text('[firms]\npath = "../data/firms.csv"\n', encoding="utf-8")
    assert load_config(cfg).firms.path == tmp_path / "data" / "firms.csv"
    # a path missing everywhere is left to the reader's message (with the files nearby)
    cfg.write_text('[firms]\npath = "nowhere.csv"\n', encoding="utf-8")
    assert load_config(cfg).firms.path == tmp_path / "configs" / "nowhere.csv"


def test_a_valley_listed_twice_is_named_with_its_places():
    valleys = [{"name": "武汉市"}, {"name": "长春市"}, {"name": "武汉市", "bbox": [114.2, 30.3, 114.6, 30.7]}]
    with pytest.raises(ConfigError, match=r"^Valley names must be unique: '武汉市' is the name of 2 \[\[valleys\]\] "
                                          r"\(#1, #3\); give each its own name"):
        config_from_dict({"firms": {"path": "x"}, "valleys": valleys})
