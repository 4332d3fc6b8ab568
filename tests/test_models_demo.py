"""classify_models on the demo run's inputs equals the values captured from the implementation
it replaced (the 348-line function of geo/parks/typology.py at commit a73c496): every status,
score, reason, indicator, models list, primary model, summary and ``attrs``.

The expected values live in ``tests/data/models_demo.json``.  They were written by this file's
capture mode (``GEO_CAPTURE_MODELS=1 pytest tests/test_models_demo.py``) before the refactor.
If an upstream stage changes the demo's overlay, the input check below fails first: the
captured values then no longer apply and must be captured again (from a trusted version).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

EXPECTED = Path(__file__).parent / "data" / "models_demo.json"

#: the overlay columns classify_models reads: checked first, so that a change upstream is not
#: mistaken for a change of the classifier
_INPUT_COLUMNS = ["name", "designated", "verdict", "cluster_before", "main_cluster", "max_cluster_share",
                  "precedence_skipped"]


def _cell(v):
    """A value as [type, JSON value]: exact floats (repr round-trips), NaN/inf spelled out."""
    if v is None or v is getattr(np, "NA", None):
        return ["none", None]
    if isinstance(v, (bool, np.bool_)):
        return ["bool", bool(v)]
    if isinstance(v, (int, np.integer)):
        return ["int", int(v)]
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return ["float", f if math.isfinite(f) else repr(f)]
    if isinstance(v, str):
        return ["str", v]
    if isinstance(v, (list, tuple)):
        return ["list", [_cell(x) for x in v]]
    return [type(v).__name__, repr(v)]


def _dumps(observed: dict) -> str:
    """JSON with one line per column (diffs stay readable)."""
    lines = ["{"]
    for i, (key, entry) in enumerate(sorted(observed.items())):
        lines.append(f"{json.dumps(key)}: {{")
        frame = entry["frame"]
        lines.append(f' "inputs": {json.dumps(entry["inputs"], ensure_ascii=False, sort_keys=True)},')
        lines.append(f' "attrs": {json.dumps(entry["attrs"], ensure_ascii=False, sort_keys=True)},')
        lines.append(' "frame": {')
        for k in ("index", "columns", "dtypes"):
            lines.append(f"  {json.dumps(k)}: {json.dumps(frame[k], ensure_ascii=False)},")
        lines.append('  "values": {')
        cols = list(frame["values"])
        for j, c in enumerate(cols):
            comma = "," if j < len(cols) - 1 else ""
            lines.append(f"   {json.dumps(c)}: {json.dumps(frame['values'][c], ensure_ascii=False)}{comma}")
        lines.append("  }")
        lines.append(" }")
        lines.append("}," if i < len(observed) - 1 else "}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _frame(df) -> dict:
    return {
        "index": [_cell(i) for i in df.index],
        "columns": [str(c) for c in df.columns],
        "dtypes": [str(t) for t in df.dtypes],
        "values": {str(c): [_cell(v) for v in df[c].tolist()] for c in df.columns},
    }


def _attrs(attrs: dict) -> dict:
    return {"rules": dict(attrs["rules"]), "thresholds": {k: _cell(v) for k, v in attrs["thresholds"].items()},
            "radius_m": _cell(attrs["radius_m"])}


def _inputs(vr) -> dict:
    st = vr.stages
    ov = st["parks_overlay"]
    return {
        "overlay": _frame(ov[[c for c in _INPUT_COLUMNS if c in ov.columns]]),
        "n_clusters": len(st["clusters"]),
        "n_firms": len(st["metric_firms"]),
        "n_parks": len(vr.parks),
    }


def _classify(vr, cfg, *, drop=(), overlay=None, **options):
    """classify_models called as the pipeline calls it (geo.pipeline.runner._models), with changes."""
    from geo.parks.typology import classify_models

    st = vr.stages
    mc = cfg.models
    kwargs = {"anchors": None, "anchor_column": mc.anchor_column, "rd_column": mc.rd_column,
              "ownership_column": mc.ownership_column, "foreign_value": mc.foreign_value, "radius_m": mc.radius_m,
              "sector": cfg.analysis.target_sector, "sector_column": cfg.firms.sector_column, "hotspots": st["hotspots"]}
    kwargs.update(options)
    firms = st["metric_firms"].drop(columns=list(drop))
    return classify_models(st["parks_overlay"] if overlay is None else overlay(st["parks_overlay"]), st["clusters"],
                           firms, vr.parks, **kwargs)


def _unknown_precedence(ov):
    """The overlay without designation years: the path models become undetermined."""
    ov = ov.copy()
    ov["cluster_before"] = None
    ov["precedence_skipped"] = "no designation year: precedence test skipped"
    return ov


#: the pipeline's call, and variants of it on the same inputs that reach every branch of the
#: rules (undetermined models, zero thresholds, no sector, no hot spots, a far radius)
VARIANTS = {
    "pipeline": {},
    "strict": {"thresholds": {"min_firms": 10**6, "outside_share": 0.9}, "radius_m": 500.0},
    "bare": {"drop": ("rd", "ownership", "anchor")},
    "no_rd": {"drop": ("rd",)},
    "no_precedence": {"overlay": _unknown_precedence},
    "zero_thresholds": {"thresholds": {"rd_ratio": 0, "foreign_share": 0, "foreign_ratio": 0, "outside_share": 0}},
    "all_sectors": {"sector": None, "hotspots": None, "radius_m": 10.0, "foreign_value": "FOREIGN"},
}


def _observed(demo_results) -> dict:
    cfg = demo_results.config
    out = {}
    for variant, options in VARIANTS.items():
        for name, vr in demo_results.valleys.items():
            m = _classify(vr, cfg, **options)
            out[f"{variant}/{name}"] = {"inputs": _inputs(vr), "frame": _frame(m), "attrs": _attrs(m.attrs)}
    return out


def test_classify_models_on_the_demo_equals_the_captured_values(demo_results):
    observed = _observed(demo_results)
    if os.environ.get("GEO_CAPTURE_MODELS") == "1":
        EXPECTED.write_text(_dumps(observed), encoding="utf-8")
        pytest.skip(f"captured {EXPECTED}")
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    assert sorted(observed) == sorted(expected)
    for name, exp in expected.items():
        got = observed[name]
        assert got["inputs"] == exp["inputs"], (
            f"{name}: the demo's overlay/clusters/firms changed upstream; the captured values no longer apply")
        assert got["frame"]["index"] == exp["frame"]["index"]
        assert got["frame"]["columns"] == exp["frame"]["columns"]
        assert got["frame"]["dtypes"] == exp["frame"]["dtypes"]
        for col in exp["frame"]["columns"]:
            assert got["frame"]["values"][col] == exp["frame"]["values"][col], f"{name}: column {col!r}"
        assert got["attrs"] == exp["attrs"]


def test_the_pipeline_stores_the_same_models(demo_results):
    """The run's own stage (runner._models) is the same frame as the direct call."""
    import pandas as pd

    cfg = demo_results.config
    for vr in demo_results.valleys.values():
        direct = _classify(vr, cfg)
        pd.testing.assert_frame_equal(vr.stages["models"], direct)
        assert vr.stages["models"].attrs["rules"] == direct.attrs["rules"]
