"""The example studies of data/examples/ (one per input kind) cannot rot: ``geo check`` runs on every
``config.toml`` there, ``geo run`` on some, and ``make_examples.py`` still writes the committed files."""

from __future__ import annotations

import importlib.util
import json

import pytest

from geo.cli import main
from tests.study import ROOT

EXAMPLES = ROOT / "data" / "examples"
CONFIGS = sorted(EXAMPLES.glob("*/config.toml"))

#: the input description (the console's ``input:`` line, summary.json["inputs"]) each kind must give
KINDS = {
    "points": ("firm table firms.csv (csv), 180 firms kept of 180", "park layer parks.geojson, 2 parks"),
    "osm": ("OpenStreetMap extract wuhan.osm.pbf (tags → sectors by the config's table: optics 60, ",
            ("OpenStreetMap extract wuhan.osm.pbf: named industrial areas and high-tech zones, 2 parks")),
    "overture": ("Overture Places places.parquet (categories → sectors by the config's table: optics 57, ",
                 "park layer parks.geojson, 2 parks"),
    "park_points": ("firm table firms.csv", ("park table parks.csv (points: 经度 / 纬度), 2 parks; outlines approximated "
                                             "as discs of the approved area")),
    "catalogue": ("firm table firms.csv", ("development-zone catalogue zones.shp + zones.xlsx (joined on the code), 2 zones, "
                                           "1 rejected; outlines approximated as discs of the approved area")),
}


def test_every_input_kind_has_an_example():
    assert set(KINDS) <= {c.parent.name for c in CONFIGS}
    assert "synthetic" in (EXAMPLES / "README.md").read_text(encoding="utf-8").lower()
    for kind in KINDS:  # tiny: a few KB each
        size = sum(f.stat().st_size for f in (EXAMPLES / kind).iterdir())
        assert size < 40_000, (kind, size)


@pytest.mark.parametrize("config", CONFIGS, ids=[c.parent.name for c in CONFIGS])
def test_geo_check_passes_on_every_example(config, capsys):
    assert main(["check", str(config)]) == 0
    out = capsys.readouterr().out
    assert "check: OK" in out
    if config.parent.name in KINDS:
        firms, parks = KINDS[config.parent.name]
        (line,) = [x for x in out.splitlines() if x.startswith("input: ")]
        assert line.startswith(f"input: firms: {firms}") and f"; parks: {parks}" in line


def _run(kind: str, tmp_path) -> dict:
    out = tmp_path / kind
    assert main(["run", str(EXAMPLES / kind / "config.toml"), "--out", str(out), "-q"]) == 0
    return json.loads((out / "summary.json").read_text(encoding="utf-8")) | {"_out": out}


def _verdicts(summary: dict) -> list[str]:
    return [r["verdict"] for r in summary["valleys"]["Wuhan"]["park_results"]]


def test_geo_run_on_the_catalogue_example(tmp_path):
    s = _run("catalogue", tmp_path)
    # the synthetic truth: the optics cluster predates the first park (1991); the second park has no cluster
    assert _verdicts(s) == ["park on a pre-existing cluster", "park without a cluster"]
    assert s["inputs"]["parks"] == KINDS["catalogue"][1]
    assert (s["_out"] / "parks_rejects.csv").read_text(encoding="utf-8").splitlines()[1].startswith("5,无坐标示例开发区,no_point,")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["points", "osm", "overture", "park_points"])
def test_geo_run_on_the_other_examples(kind, tmp_path):
    s = _run(kind, tmp_path)
    verdicts = _verdicts(s)
    # Overture Places have no founding dates: the precedence test cannot date the cluster
    assert verdicts[1] == "park without a cluster" and (kind == "overture" or verdicts[0] == "park on a pre-existing cluster")


def test_make_examples_still_writes_the_committed_files(tmp_path):
    pytest.importorskip("osmium")  # the [osm] extra writes the .osm.pbf
    spec = importlib.util.spec_from_file_location("make_examples", EXAMPLES / "make_examples.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(tmp_path)
    for kind in mod.KINDS:
        for new in (tmp_path / kind).iterdir():
            if new.suffix in (".toml", ".csv", ".geojson", ".dbf", ".shp", ".prj"):
                assert new.read_bytes() == (EXAMPLES / kind / new.name).read_bytes(), new.name
        assert sorted(p.name for p in (tmp_path / kind).iterdir()) == sorted(p.name for p in (EXAMPLES / kind).iterdir())


@pytest.mark.parametrize("kind", ["osm", "overture"])
def test_the_dask_engine_refuses_open_map_firms_in_one_sentence(kind, capsys, monkeypatch):
    """In the config and with --engine dask on the command line (which replaces the config's engine), before any cluster."""
    from geo.config import config_from_dict
    from geo.errors import ConfigError
    from geo.pipeline import dask_engine as de

    monkeypatch.setattr(de, "connect", lambda *a, **k: (_ for _ in ()).throw(AssertionError("a cluster was started")))
    with pytest.raises(ConfigError, match=rf"\[firms\] source = '{kind}' is read by the in-memory engine: set \[run\] "
                                          r"engine = \"pandas\""):
        config_from_dict({"run": {"engine": "dask"}, "firms": {"path": "x", "source": kind}})
    assert main(["check", str(EXAMPLES / kind / "config.toml"), "--engine", "dask"]) == 2
    err = capsys.readouterr().err
    assert err == (f"geo: error: [firms] source = '{kind}' is read by the in-memory engine: set [run] engine = \"pandas\" (an "
                   "extract of a city or a province fits in memory; the dask engine partitions CSV and Parquet firm tables).\n")


def test_the_readme_configs_per_input_kind_are_those_of_the_examples():
    """Each chunk of README's "Input kinds" block parses as TOML and holds the example's own values."""
    import re
    import tomllib

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Input kinds: one example each"):]
    block = re.search(r"```toml\n(.*?)```", section, re.DOTALL).group(1)
    chunks = re.split(r"^# (\w+)/:.*$", block, flags=re.MULTILINE)[1:]
    shown = dict(zip(chunks[::2], chunks[1::2]))
    assert set(KINDS) <= set(shown)  # a later kind (units/) may add its chunk: checked the same way
    for kind, text in shown.items():
        example = tomllib.loads((EXAMPLES / kind / "config.toml").read_text(encoding="utf-8"))
        for section_name, table in tomllib.loads(text).items():
            for key, value in table.items():
                if isinstance(value, dict):  # [firms.osm_sectors]: a part of the example's table
                    assert value.items() <= example[section_name][key].items(), (kind, key)
                else:
                    assert example[section_name][key] == value, (kind, section_name, key)
