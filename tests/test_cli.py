"""The geo command on a small self-made study: outputs, exit codes, one-line errors."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

from geo.cli import cli, main


@pytest.fixture()
def study(tmp_path):
    rng = np.random.default_rng(3)
    n = 400
    valley = np.where(np.arange(n) < 250, "A", "B")
    lon = np.where(valley == "A", 114.4, 125.3) + rng.normal(0, 0.03, n)
    lat = np.where(valley == "A", 30.5, 43.86) + rng.normal(0, 0.03, n)
    df = pd.DataFrame({
        "firm_id": [f"F{i}" for i in range(n)],
        "name": [f"Firm <b>{i}</b>" for i in range(n)],
        "lon": lon.round(6), "lat": lat.round(6), "valley": valley,
        "sector": rng.choice(["optics", "food"], n), "founded": rng.integers(1980, 2024, n),
    })
    df.loc[5, "lon"] = np.nan
    df.loc[6, "valley"] = "C"
    firms = tmp_path / "firms.csv"
    df.to_csv(firms, index=False)
    parks = gpd.GeoDataFrame(
        {"name": ["Park A", "Park B", "Park Z"], "valley": ["A", "B", "Z"], "designated": [1991, 1995, 2000]},
        geometry=[shapely.box(114.38, 30.48, 114.42, 30.52), shapely.box(125.28, 43.84, 125.32, 43.88),
                  shapely.box(100.0, 20.0, 100.1, 20.1)], crs=4326,
    )
    parks.to_file(tmp_path / "parks.gpkg")
    cfg = tmp_path / "study.toml"
    cfg.write_text(
        '[run]\ntitle = "test"\n[firms]\npath = "firms.csv"\n[parks]\npath = "parks.gpkg"\n'
        '[[valleys]]\nname = "A"\n[[valleys]]\nname = "B"\n'
    )
    return cfg


def test_run_writes_outputs(study, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", str(study), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "400 rows read, 398 kept, 2 rejected" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["load"]["rows_read"] == 400
    assert summary["load"]["rejected_by_reason"] == {"missing_coordinate": 1, "outside_valleys": 1}
    assert summary["valleys"]["A"]["n_firms"] + summary["valleys"]["B"]["n_firms"] == 398
    assert summary["valleys"]["A"]["metric_crs"] == "EPSG:32650"
    # a park of a valley that is not in the run is reported, not silently used or crashed on
    assert any("parks of valleys not in the run were left out: ['Z']" in w for w in summary["warnings"])
    rejects = pd.read_csv(out / "rejects.csv", encoding="utf-8-sig")
    assert rejects["row"].tolist() == [6, 7] and rejects["reason"].tolist() == ["missing_coordinate", "outside_valleys"]
    layers = gpd.list_layers(out / "layers.gpkg")["name"].tolist()
    assert {"firms", "parks", "rejects"} <= set(layers)
    firms = gpd.read_file(out / "layers.gpkg", layer="firms")
    assert len(firms) == 398
    for name in ("index", "A", "B"):
        html = (out / "maps" / f"{name}.html").read_text()
        assert "leaflet" in html.lower()
    import rasterio

    with rasterio.open(out / "rasters" / "A_density.tif") as src:
        assert src.crs.to_epsg() == 32650 and src.profile["tiled"]
    assert "zonal_density" in summary["valleys"]["A"]
    # names from the data are escaped in the map
    assert "Firm <b>1</b>" not in (out / "maps" / "A.html").read_text()


def test_check_command(study):
    result = CliRunner().invoke(cli, ["check", str(study)])
    assert result.exit_code == 0 and "check: OK" in result.output and "no statistic was computed" in result.output


def test_user_errors_are_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[firms]\npath = "nope.csv"\nextra = 1\n')
    assert main(["run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("geo: error: Unknown key(s) ['extra'] in [firms]")
    ok = tmp_path / "ok.toml"
    ok.write_text('[firms]\npath = "nope.csv"\n')
    assert main(["run", str(ok)]) == 2
    err = capsys.readouterr().err
    assert "Firm table not found" in err and "Traceback" not in err
    assert main(["run", str(tmp_path / "missing.toml")]) == 2


def test_geo_demo_end_to_end(demo_output):
    """The demo's outputs (the session's shared run, written as `geo demo` writes them) are
    every output, consistent with the bundled inputs.

    The command's own wiring is covered without a second demo run: `geo demo` hands the demo
    config to the runner (test_demo_takes_the_engine_options) and the runner writes a study's
    outputs from the command line (test_run_writes_outputs).
    """
    import rasterio

    from geo.datasets import demo_files, load_truth

    out = demo_output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["synthetic_demo_data"] is True
    n_rows = len(pd.read_csv(demo_files()["firms"], dtype=str, keep_default_na=False))
    load = summary["load"]
    assert load["rows_read"] == n_rows == load_truth()["rows"]
    assert load["rows_read"] == load["rows_kept"] + load["rows_rejected"]
    rejects = pd.read_csv(out / "rejects.csv", encoding="utf-8-sig")
    assert len(rejects) == load["rows_rejected"] and rejects["row"].is_unique
    firms = gpd.read_file(out / "layers.gpkg", layer="firms")
    assert len(firms) == load["rows_kept"]
    layers = set(gpd.list_layers(out / "layers.gpkg")["name"])
    assert {"firms", "parks", "rejects", "cells", "hotspots", "clusters", "parks_overlay", "valleys"} <= layers
    for valley in ("Wuhan", "Changchun", "Shenzhen"):
        assert (out / "maps" / f"{valley}.html").stat().st_size > 10_000
        with rasterio.open(out / "rasters" / f"{valley}_density.tif") as src:
            assert src.crs is not None and src.read(1).max() > 0
        assert summary["valleys"][valley]["n_firms"] == int((firms["valley"] == valley).sum())
    # the development model of each park (issue 8) equals the demo's truth, and the groups ran
    truth = load_truth()["parks"]
    models = {m["name"]: m["primary_model"] for v in summary["valleys"].values() for m in v.get("models", [])}
    assert models == {name: t["model"] for name, t in truth.items()}
    assert {r["group"] for r in summary["groups"]["table"]} == {"high-tech", "traditional"}
    assert summary["groups"]["difference"]["pooled"]
    overlay = gpd.read_file(out / "layers.gpkg", layer="parks_overlay")
    assert "primary_model" in overlay.columns
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "SYNTHETIC DEMO DATA" in page and "East Lake High-Tech Zone" in page
    assert "Cluster models" in page and "High-tech versus traditional clusters" in page
    assert any((out / "figures").glob("*.png"))


def test_reference_valley_with_its_own_firm_table(study, tmp_path):
    """An extra valley (e.g. Hsinchu) brings its own firm table and joins every comparison."""
    rng = np.random.default_rng(5)
    n = 120
    c = pd.DataFrame({"firm_id": [f"C{i}" for i in range(n)], "name": [f"Hsinchu firm {i}" for i in range(n)],
                      "lon": (121.0 + rng.normal(0, 0.02, n)).round(6), "lat": (24.78 + rng.normal(0, 0.02, n)).round(6),
                      "sector": rng.choice(["optics", "food"], n), "founded": rng.integers(1980, 2024, n)})
    c["lat"] = c["lat"].astype(str)
    c.loc[3, "lat"] = "abc"
    c.to_csv(study.parent / "hsinchu.csv", index=False)
    cfg = study.parent / "with_ref.toml"
    cfg.write_text(study.read_text() + '[[valleys]]\nname = "Hsinchu"\nfirms = "hsinchu.csv"\n')
    out = tmp_path / "ref"
    assert main(["run", str(cfg), "--out", str(out), "-q"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["valleys"]["Hsinchu"]["n_firms"] == n - 1
    assert s["load"]["rows_read"] == 400 + n and s["load"]["rows_rejected"] == 2 + 1
    assert [t["valley"] for t in s["load"]["extra_tables"]] == ["Hsinchu"]
    assert "Hsinchu" in {r["valley"] for r in s["comparison"]["table"]}
    rejects = pd.read_csv(out / "rejects.csv", encoding="utf-8-sig")
    assert set(rejects["source"]) == {"firms.csv", "hsinchu.csv"}


def test_demo_takes_the_engine_options(monkeypatch, tmp_path):
    from geo import cli as gcli

    seen = {}

    def fake(config, out, quiet):
        seen["config"] = config

    monkeypatch.setattr(gcli, "_run_and_write", fake)
    res = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path), "--engine", "dask", "--scheduler", "tcp://127.0.0.1:1"])
    assert res.exit_code == 0, res.output
    assert seen["config"].run.engine == "dask" and seen["config"].run.scheduler == "tcp://127.0.0.1:1"
    CliRunner().invoke(cli, ["demo", "--out", str(tmp_path)])
    assert not hasattr(seen["config"], "run")  # no override: the demo config file as it is
    from geo.datasets import demo_files

    assert seen["config"] == demo_files()["config"]


@pytest.mark.parametrize(("verbose", "quiet", "shown"), [(0, False, {"geo warning"}), (0, True, set()),
                                                          (1, False, {"geo warning", "geo info"}),
                                                          (2, False, {"geo warning", "geo info", "dask info"})])
def test_log_levels_hold_for_dask_loggers_too(verbose, quiet, shown):
    """dask.distributed sets its loggers to INFO: its chatter shows only with -vv, nothing but errors with -q."""
    import subprocess
    import sys

    code = ("import logging; from geo.cli import _setup_logging; "
            f"logging.getLogger('distributed.scheduler').setLevel(logging.INFO); _setup_logging({verbose}, {quiet}); "
            "logging.getLogger('geo.x').warning('geo warning'); logging.getLogger('geo.x').info('geo info'); "
            "logging.getLogger('distributed.scheduler').info('dask info')")
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr
    assert {m for m in ("geo warning", "geo info", "dask info") if m in err} == shown
