"""Pipeline internals (the whole run is tested through the demo in test_report / test_cli)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.mark.parametrize("valleys", [["A"] * 6, ["B", "A", "A", "A", "B", "B"], ["A", "B", "A", "B", "A", "B"],
                                     ["B"] * 6])
def test_valley_rows_equal_the_boolean_selection(valleys):
    from geo.pipeline import _valley_rows

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


def test_quiet_gc_freezes_and_gives_back():
    import gc

    from geo.pipeline import _QuietGC

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
