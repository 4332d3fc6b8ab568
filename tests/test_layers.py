"""geo.outputs.layers: the layers of a run's GeoPackage, and how records become columns."""

from __future__ import annotations

import json

import pandas as pd

from geo.outputs.layers import json_columns


def test_json_columns_writes_records_as_json_and_leaves_the_rest():
    """Dict, list and tuple values become JSON text (decoded back: the same record); scalars,
    missing values and the other columns stay, and the input frame is not changed."""
    ts = pd.Timestamp("2020-01-02")
    frame = pd.DataFrame({"n": [1, 2, 3], "rules": [{"a": 1, "b": [1, 2]}, None, "text"],
                          "pair": [(1, 2), [3], {"t": ts}]}, index=["x", "y", "z"])
    frame.attrs["kept"] = True
    out = json_columns(frame)
    assert out.index.tolist() == ["x", "y", "z"] and out["n"].tolist() == [1, 2, 3]
    assert json.loads(out.loc["x", "rules"]) == {"a": 1, "b": [1, 2]}
    assert pd.isna(out.loc["y", "rules"]) and out.loc["z", "rules"] == "text"
    assert [json.loads(v) for v in out["pair"]] == [[1, 2], [3], {"t": "2020-01-02 00:00:00"}]
    assert isinstance(frame.loc["x", "rules"], dict) and frame.loc["x", "pair"] == (1, 2)  # the input is unchanged
    plain = pd.DataFrame({"a": [1.0, 2.0]})
    assert json_columns(plain) is plain


def test_json_columns_docstring_example_runs():
    import doctest

    from geo.outputs import layers

    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(layers.json_columns, "json_columns", module=layers, globs=vars(layers).copy()):
        runner.run(test)
    assert runner.summarize(verbose=False).attempted >= 2 and runner.summarize(verbose=False).failed == 0
