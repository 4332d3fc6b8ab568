"""Pipeline internals (the whole run is tested through the demo in test_report / test_cli)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.mark.parametrize("valleys", [["A"] * 6, ["B", "A", "A", "A", "B", "B"], ["A", "B", "A", "B", "A", "B"],
                                     ["B"] * 6])
def test_valley_rows_equal_the_boolean_selection(valleys):
    from geo.pipeline._valleys import _valley_rows

    firms = pd.DataFrame({"valley": valleys, "n": np.arange(6), "name": [f"f{i}" for i in range(6)]},
                         index=np.arange(10, 16))
    got = _valley_rows(firms, "A")
    pd.testing.assert_frame_equal(got, firms[firms["valley"] == "A"])
    if len(got):
        got.loc[got.index[0], "n"] = -1  # copy-on-write: the firms table is not changed
        assert firms["n"].tolist() == list(range(6))
    block = ["A"] * 6
    if valleys == block:
        assert np.shares_memory(_valley_rows(firms, "A")["n"].to_numpy(), firms["n"].to_numpy())  # not copied


def test_quiet_gc_freezes_and_gives_back(owner):
    import gc

    from geo._gc import QuietGC as _QuietGC

    assert gc.get_freeze_count() == 0
    keep = [[i] for i in range(1000)]
    with _QuietGC() as quiet:
        quiet.freeze()
        assert gc.get_freeze_count() >= len(keep)
    assert gc.get_freeze_count() == 0
    # the caller's own freeze is left alone
    gc.freeze()
    try:
        with _QuietGC() as quiet:
            assert not quiet.active
            quiet.freeze()
        assert gc.get_freeze_count() > 0  # still the caller's freeze
    finally:
        gc.unfreeze()
    # collector off: nothing frozen
    gc.disable()
    try:
        with _QuietGC() as quiet:
            quiet.freeze()
            assert gc.get_freeze_count() == 0
    finally:
        gc.enable()


def test_run_leaves_nothing_frozen(demo_results):
    import gc

    assert gc.get_freeze_count() == 0


def test_run_with_out_writes_what_write_writes(demo_results, demo_output, tmp_path, monkeypatch, owner):
    """``run(config, out=...)`` (the CLI) starts layers.gpkg before the analysis: same files.

    The analysis is the shared demo run's (``demo_results``): ``_analyse_all`` hands it back, so
    this checks the writing of ``run(out=...)``, not the statistics again.  The firm, park and
    reject layers are this run's own, read afresh and handed to the layer job first."""
    import dataclasses
    import json

    import pyogrio

    import geo
    from geo.outputs import layers as glayers
    from geo.pipeline import runner

    monkeypatch.setattr(glayers, "BACKGROUND_MIN_ROWS", 0)  # the demo's layers go to the writer process, as a big run's
    events, added = [], []
    add, init = glayers.LayerJob.add, glayers.LayerJob.__init__
    monkeypatch.setattr(glayers.LayerJob, "add", lambda self, layers: (added.append(list(layers)), add(self, layers)))

    def started(self, layers, path, **kw):
        init(self, layers, path, **kw)
        events.append(("job", list(layers), self._proc is not None))

    def analysed(prep, timings, warnings, quiet=None):
        events.append(("analysis",))
        # the run read the shared run's inputs: its results are the shared run's
        pd.testing.assert_frame_equal(pd.DataFrame(prep.firms), pd.DataFrame(demo_results.firms))
        assert list(prep.valleys) == list(demo_results.valleys) and prep.config == demo_results.config
        return dataclasses.replace(demo_results, timings=dict(demo_results.timings))  # write() records its time there

    monkeypatch.setattr(glayers.LayerJob, "__init__", started)
    monkeypatch.setattr(runner, "_analyse_all", analysed)
    res = geo.run(demo_results.config, out=tmp_path)
    assert events == [("job", ["firms", "parks", "rejects"], True), ("analysis",)]  # the writer process had them first
    assert len(added) == 1 and added[0][:2] == ["cells", "hotspots"]  # firms, parks, rejects went first
    assert {"layers", "report", "summary", "rejects"} <= set(res.written)
    assert res.written["layers"] == tmp_path / "layers.gpkg" and res.written["report"].exists()
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == sorted(p.name for p in (demo_output / "maps").iterdir())
    ref = demo_output / "layers.gpkg"
    assert [tuple(x) for x in pyogrio.list_layers(tmp_path / "layers.gpkg")] == [tuple(x) for x in pyogrio.list_layers(ref)]
    for name, _ in pyogrio.list_layers(ref):
        pd.testing.assert_frame_equal(pd.DataFrame(pyogrio.read_dataframe(tmp_path / "layers.gpkg", layer=name)),
                                      pd.DataFrame(pyogrio.read_dataframe(ref, layer=name)))
    a = json.loads((tmp_path / "summary.json").read_text())
    b = json.loads((demo_output / "summary.json").read_text())
    a.pop("timings_s"), b.pop("timings_s")
    assert a == b


def test_gc_paused_points_are_shapely_points_and_restore_the_collector():
    import gc

    import shapely

    from geo import _gc

    x, y = np.array([1.0, 2.5, np.nan]), np.array([3.0, -1.0, 4.0])
    got = _gc.points(x, y)
    assert shapely.equals_exact(got[:2], shapely.points(x, y)[:2], tolerance=0).all() and gc.isenabled()
    gc.disable()
    try:
        _gc.points(x, y)
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()
    with pytest.raises(ValueError), _gc.paused():
        raise ValueError("inside")
    assert gc.isenabled()


def test_the_library_leaves_the_process_alone(monkeypatch, tmp_path):
    """geo.run() and Results.write() from a notebook: no gc freeze or pause, no child process (the layer writer's
    included), no fork, no GDAL option."""
    import gc
    import subprocess
    from concurrent.futures import ProcessPoolExecutor

    import pyogrio

    import geo
    from geo.outputs import layers as glayers

    def refuse(what):
        def f(*a, **k):
            raise AssertionError(f"library code called {what}")
        return f

    monkeypatch.setattr(gc, "freeze", refuse("gc.freeze"))
    monkeypatch.setattr(gc, "disable", refuse("gc.disable"))
    monkeypatch.setattr(subprocess, "Popen", refuse("subprocess.Popen"))
    monkeypatch.setattr(ProcessPoolExecutor, "__init__", refuse("ProcessPoolExecutor"))
    monkeypatch.setattr(pyogrio, "set_gdal_config_options", refuse("pyogrio.set_gdal_config_options"))
    monkeypatch.setattr(glayers, "BACKGROUND_MIN_ROWS", 0)  # even layers big enough for the writer process are written at once
    from tests.study import make_study

    s = make_study(tmp_path / "s", n=200)
    res = geo.run(s.write_config())
    res.write(tmp_path / "out")
    assert (tmp_path / "out" / "layers.gpkg").is_file() and gc.isenabled()


def test_the_run_sets_point_pattern_budgets_and_reports_subsamples(tmp_path, monkeypatch):
    """geo run passes its fixed budgets to Kd and Ripley K; a subsample becomes a run warning
    and is recorded (subsample, error, budget) in summary.json; within the budget all is exact."""
    import json

    import geo
    from geo.stats import pointpattern as pp
    from study import make_study

    st = make_study(tmp_path, n=300, valleys={"Wuhan": "Wuhan"})
    cfg = st.write_config(analysis={"kd_simulations": 19, "ripley_simulations": 19, "permutations": 19})
    res = geo.run(cfg)
    s = json.loads(json.dumps(res.summary(), default=str))["valleys"]["Wuhan"]
    assert s["kd"]["exact"] and s["kd"]["subsample"] is None
    assert s["kd"]["budget"]["max_sector"] == pp.RUN_MAX_SECTOR
    assert s["ripley"]["exact"] and s["ripley"]["budget"]["max_pairs"] == pp.RUN_MAX_PAIRS
    assert not any("random subsample" in w for w in res.warnings)

    monkeypatch.setattr(pp, "RUN_MAX_SECTOR", 40)
    monkeypatch.setattr(pp, "RUN_MAX_PAIRS", 2_000)
    res = geo.run(cfg)
    s = res.summary()["valleys"]["Wuhan"]
    assert s["kd"]["subsample"] == 40 and not s["kd"]["exact"] and s["kd"]["subsample_error"] > 0
    assert s["kd"]["budget"] == {"max_sector": 40, "time_budget_s": None, "estimated_s": s["kd"]["budget"]["estimated_s"]}
    m = s["ripley"]["subsample"]
    assert m is not None and m < s["ripley"]["n"] and s["ripley"]["subsample_error"] > 0
    assert s["ripley"]["budget"]["max_pairs"] == 2_000
    kd_w = [w for w in res.warnings if "Kd analysed a random subsample of 40 of" in w]
    k_w = [w for w in res.warnings if f"Ripley's K analysed a random subsample of {m} of" in w]
    assert len(kd_w) == 1 and "max_sector = 40" in kd_w[0] and "valley 'Wuhan'" in kd_w[0]
    assert len(k_w) == 1 and "max_pairs = 2,000" in k_w[0]
