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
