"""The typed results of a run (geo.pipeline.results): stages hand their results on in named
fields, and the outputs (summary.json, the report, the figures, the maps) read those fields,
never a table's pandas ``.attrs``."""

from __future__ import annotations

import dataclasses
import json
import re

import pandas as pd
import pytest

#: the only ``attrs`` a table of a run's results keeps, by where it is: the public functions'
#: documented records that a later public function reads (docs/architecture.md, "attrs that remain")
KEPT = {
    "groups.table": {"rules", "nulls", "parameters"},  # geo.parks.groups.compare_groups' record
}


def _frames(obj, where: str = "", seen=None, *, depth: int = 99):
    """Every (place, DataFrame or Series) reachable from ``obj`` through dataclass fields, dicts and
    lists, at most ``depth`` dataclasses down."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        yield where, obj
        return
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        if depth <= 0:
            return
        for f in dataclasses.fields(obj):
            yield from _frames(getattr(obj, f.name), f"{where}.{f.name}".lstrip("."), seen, depth=depth - 1)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _frames(v, f"{where}[{k!r}]", seen, depth=depth)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _frames(v, f"{where}[{i}]", seen, depth=depth)


def _bare(obj, memo=None):
    """``obj`` with the ``attrs`` of every table in it emptied: shallow copies, rebuilt dataclasses
    (the shared demo run is left as it is)."""
    memo = {} if memo is None else memo
    if id(obj) in memo:
        return memo[id(obj)]
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        out = obj.copy(deep=False)
        out.attrs = {}
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type) and all(f.init for f in dataclasses.fields(obj)):
        out = dataclasses.replace(obj, **{f.name: _bare(getattr(obj, f.name), memo) for f in dataclasses.fields(obj)})
    elif type(obj) is dict:
        out = {k: _bare(v, memo) for k, v in obj.items()}
    elif type(obj) in (list, tuple):
        out = type(obj)(_bare(v, memo) for v in obj)
    else:
        out = obj
    memo[id(obj)] = out
    return out


def _summary(results) -> dict:
    """``results.summary()`` as ``summary.json`` holds it (the serialiser's JSON form), without the timings."""
    from geo.outputs._write import _jsonable

    s = json.loads(json.dumps(_jsonable(results.summary()), allow_nan=False))
    s.pop("timings_s")
    return s


def test_the_stage_results_of_the_demo_carry_no_attrs_but_the_documented_ones(demo_results):
    """Each stage's result is typed (Colocation, ValleyComparison, GroupComparison) and its tables
    carry no ``attrs`` (a valley's analysis none at all); what a stage records about itself is a named field."""
    from geo.parks.compare import ValleyComparison
    from geo.parks.groups import GroupComparison
    from geo.pipeline._colocation import Colocation

    res = demo_results
    assert isinstance(res.comparison, ValleyComparison) and isinstance(res.groups, GroupComparison)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.comparison.notes = {}  # frozen
    bad = {}
    for name, vr in res.valleys.items():
        a = vr.analysis
        assert isinstance(a.colocation, Colocation) and a.colocation.k == 8
        assert not a.colocation.table.attrs and not a.colocation.local.attrs
        # what the public functions recorded, read where the stage called them (pipeline.results.record_of)
        assert a.hotspot_parameters["fdr"] is res.config.analysis.fdr and a.hotspot_parameters["column"] == a.focus_column
        assert a.clusters_definition == "Gi* bin >= 2" and a.point_cluster_method.startswith("dbscan (eps = ")
        assert set(a.park_rules) >= {"coincides", "pre-existing"} and "placement" in a.park_nulls and "research-led" in a.model_rules
        assert a.ripley_test["correction"] == "border" and a.ripley_test["n"] > 0
        assert a.grid.size_m > 0 and set(a.hot_before) <= set(vr.parks.index) and a.hot_before
        assert all(not t.attrs for t in a.hot_before.values())
        for where, frame in _frames(a, depth=1):  # its own tables (a KdResult's curve is the public kd's)
            if frame.attrs:
                bad[f"{name}: analysis.{where}"] = sorted(frame.attrs)
        # which hot cell is in which cluster, a field: exactly the Gi* hot cells (bin >= 2, the definition),
        # each in one cluster, as many per cluster as the cluster's n_cells
        cc = a.cluster_cells
        assert isinstance(cc, pd.Series) and cc.name == "cluster_id" and not cc.attrs and len(a.clusters)
        assert sorted(cc.index) == sorted(a.hotspots.index[a.hotspots["gi_bin"].to_numpy() >= 2])
        assert cc.value_counts().sort_index().to_dict() == dict(zip(a.clusters["cluster_id"], a.clusters["n_cells"]))
    for where, frame in [*_frames(res.comparison, "comparison", depth=1), *_frames(res.groups, "groups", depth=1)]:
        if frame.attrs and not set(frame.attrs) <= KEPT.get(where, set()):
            bad[where] = sorted(frame.attrs)
    assert bad == {}


def test_the_outputs_read_fields_not_attrs(demo_results):
    """With every table's ``attrs`` emptied after the analysis, summary.json, the report and the
    comparison and groups figures come out the same."""
    from geo.outputs import figures as gfig
    from geo.outputs.report import render_report

    bare = _bare(demo_results)
    assert not any(f.attrs for _, f in _frames(bare))
    assert bare.groups.table.attrs == {} != demo_results.groups.table.attrs
    assert _summary(bare) == _summary(demo_results)
    assert render_report(bare, figures={}) == render_report(demo_results, figures={})

    def drawn(results):
        return {name: fn(*args, **kwargs) for name, _, fn, args, kwargs in gfig._figure_tasks(results)
                if name.startswith(("comparison", "groups"))}

    a, b = drawn(bare), drawn(demo_results)
    assert len(a) == 5 and a == b  # three dimensions, the stock by year, the groups' in-park shares


def test_the_hot_spot_maps_are_told_fdr_from_the_field(demo_results):
    """gi_map and lisa_map read ``fdr`` from ``hotspots.attrs`` only when not told: the run tells them
    from ``ValleyAnalysis.hotspot_parameters`` (the analysis's hot spots have no attrs to read)."""
    from geo.outputs import figures as gfig

    maps = [(args, kwargs) for _, _, fn, args, kwargs in gfig._figure_tasks(demo_results) if fn in (gfig.gi_map, gfig.lisa_map)]
    assert len(maps) == 2 * len(demo_results.valleys)
    for args, kwargs in maps:
        assert not args[0].attrs and kwargs["fdr"] is demo_results.config.analysis.fdr is True
    off = dataclasses.replace(demo_results.valleys["Wuhan"].analysis,
                              hotspot_parameters={**demo_results.valleys["Wuhan"].analysis.hotspot_parameters, "fdr": False})
    one = dataclasses.replace(demo_results, valleys={"Wuhan": dataclasses.replace(demo_results.valleys["Wuhan"], analysis=off)})
    assert {kwargs["fdr"] for _, _, fn, _, kwargs in gfig._figure_tasks(one) if fn in (gfig.gi_map, gfig.lisa_map)} == {False}


def test_summary_json_is_the_serialised_summary(demo_results, demo_output):
    """One serialiser: summary.json is ``Results.summary()`` of the typed fields, written once."""
    written = json.loads((demo_output / "summary.json").read_text(encoding="utf-8"))
    written.pop("timings_s")
    assert written == _summary(demo_results)
    cmp, groups = written["comparison"], written["groups"]
    assert cmp["target_sector"] == demo_results.comparison.target_sector == "optics"
    assert cmp["kd"] == demo_results.comparison.kd and cmp["notes"] == demo_results.comparison.notes
    assert [r["valley"] for r in cmp["table"]] == list(demo_results.comparison.table.index)
    assert groups["answer"] == demo_results.groups.answer and groups["assignment"] == demo_results.groups.assignment


@pytest.mark.slow
def test_every_output_file_is_the_same_without_attrs(demo_results, demo_output, tmp_path):
    """The whole output folder written from the attrs-free results: the same report, summary,
    figures and maps as the demo's (the fast version above checks the summary, the report and
    the comparison figures)."""
    import dataclasses as dc

    from geo._process import owned

    bare = _bare(dc.replace(demo_results, timings=dict(demo_results.timings)))
    with owned():
        bare.write(tmp_path)
    assert (tmp_path / "report.html").read_bytes() == (demo_output / "report.html").read_bytes()
    a = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    b = json.loads((demo_output / "summary.json").read_text(encoding="utf-8"))
    a.pop("timings_s"), b.pop("timings_s")
    assert a == b
    def same(folder: str, name: str) -> bool:
        a, b = (tmp_path / folder / name).read_bytes(), (demo_output / folder / name).read_bytes()
        if folder == "maps":  # folium names its elements with random hex ids (map_<32 hex>)
            a, b = (re.sub(rb"_[0-9a-f]{32}", b"_ID", x) for x in (a, b))
        return a == b

    for folder in ("figures", "maps"):
        names = sorted(p.name for p in (demo_output / folder).iterdir())
        assert sorted(p.name for p in (tmp_path / folder).iterdir()) == names
        assert [n for n in names if (demo_output / folder / n).is_file() and not same(folder, n)] == []


def test_run_summary_orders_the_common_and_the_own_entries():
    """One summary.json writer for firm-point runs and runs on units: the entries every run
    records, read from the run, and the kind's own, in the kind's order; nothing is dropped."""
    from types import SimpleNamespace

    from geo import __version__
    from geo.pipeline.results import SUMMARY_KEYS, run_summary
    from geo.pipeline.units import SUMMARY_KEYS as UNITS_KEYS

    class _Valley:
        def summary(self):
            return {"n": 3}

    cfg = SimpleNamespace(run=SimpleNamespace(title="T", seed=7), to_dict=lambda: {"run": {"seed": 7}})
    run = SimpleNamespace(config=cfg, synthetic=False, load_report={"rows": 5}, parks_report={}, warnings=("w",),
                          valleys={"A": _Valley()}, timings={"read": 0.12345})
    out = run_summary(run, ("seed", "mine", "valleys"), mine=1, later=2)
    assert list(out) == ["seed", "mine", "valleys", "geo_version", "title", "synthetic_demo_data", "config", "load",
                         "parks_load", "warnings", "timings_s", "later"]
    assert out["valleys"] == {"A": {"n": 3}} and out["timings_s"] == {"read": 0.123} and out["warnings"] == ["w"]
    assert out["geo_version"] == __version__ and out["title"] == "T"
    common = {"geo_version", "title", "synthetic_demo_data", "seed", "config", "load", "parks_load", "valleys",
              "warnings", "timings_s"}
    assert common <= set(SUMMARY_KEYS) and common <= set(UNITS_KEYS)
    with pytest.raises(KeyError):
        run_summary(run, ("answer",))


def test_the_run_never_deep_copies_the_parks_records(monkeypatch):
    """park_overlay records each park's founding-year hot spots (a table of cells per park) in
    ``attrs["hot_before"]``; pandas deep-copies ``attrs`` into every frame derived from a frame
    that has them.  The valley stage lifts the records into fields as soon as park_overlay
    returns and empties the overlay's ``attrs``, so the run copies none of them (a plain dict,
    no sharing trick), and the fields hold the tables park_overlay made, without ``attrs``."""
    import pandas.core.generic as generic

    import geo
    from geo.config import load_config
    from geo.datasets import demo_files
    from geo.parks import overlay

    copies, made = [], []
    real_deepcopy, real_overlay = generic.deepcopy, overlay.park_overlay

    def counting_deepcopy(obj, *args, **kwargs):
        if isinstance(obj, dict) and "hot_before" in obj:
            copies.append(sorted(obj))
        return real_deepcopy(obj, *args, **kwargs)

    def recording_overlay(*args, **kwargs):
        out = real_overlay(*args, **kwargs)
        assert type(out.attrs["hot_before"]) is dict and out.attrs["hot_before"]
        made.append(dict(out.attrs["hot_before"]))
        return out

    monkeypatch.setattr(generic, "deepcopy", counting_deepcopy)
    monkeypatch.setattr(overlay, "park_overlay", recording_overlay)
    cfg = load_config(demo_files()["config"])
    cfg = dataclasses.replace(cfg, analysis=dataclasses.replace(
        cfg.analysis, permutations=19, kd_simulations=0, ripley_simulations=0, compare=False, point_clusters="none",
        scales=()))
    res = geo.run(cfg)
    assert copies == []
    kept = [vr.analysis.hot_before for vr in res.valleys.values() if vr.analysis.hot_before]
    assert len(kept) == len(made) >= 2
    for fields, recorded in zip(kept, made):
        assert fields.keys() == recorded.keys()
        assert all(fields[k] is recorded[k] and not fields[k].attrs for k in fields)
    # the check can fail: a frame derived from a frame that still has the record copies it
    frame = pd.DataFrame({"a": [1]})
    frame.attrs["hot_before"] = {0: pd.DataFrame({"z": [0.0]})}
    frame[["a"]]
    assert copies == [["hot_before"]]
