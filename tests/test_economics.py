"""Tests of geo.stats.economics against hand-computed examples (arithmetic written out)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from geo.errors import ColumnError, InputError, StatisticsError
from geo.stats.economics import (
    ellison_glaeser,
    hhi,
    krugman_dissimilarity,
    location_quotient,
    sector_mix,
    shannon_entropy,
)


@pytest.fixture
def firms() -> pd.DataFrame:
    # valley A: 3 optics, 1 laser; valley B: 1 optics, 3 lasers, 2 software; one row unassigned
    return pd.DataFrame({
        "valley": ["A"] * 4 + ["B"] * 6 + [None],
        "sector": ["optics"] * 3 + ["laser"] + ["optics"] + ["laser"] * 3 + ["software"] * 2
        + ["optics"],
        "emp": [10, 10, 20, 60, 5, 5, 5, 10, 40, 40, 99],
    })


def _lq(df: pd.DataFrame, region: str, sector: str) -> float:
    row = df[(df["region"] == region) & (df["sector"] == sector)]
    assert len(row) == 1
    return float(row["LQ"].iloc[0])


def test_location_quotient_union_reference(firms):
    lq = location_quotient(firms, region_column="valley", sector_column="sector")
    # union of A and B (10 firms): optics 4/10, laser 4/10, software 2/10
    assert _lq(lq, "A", "optics") == pytest.approx((3 / 4) / (4 / 10))
    assert _lq(lq, "A", "laser") == pytest.approx((1 / 4) / (4 / 10))
    assert _lq(lq, "A", "software") == 0.0
    assert _lq(lq, "B", "optics") == pytest.approx((1 / 6) / (4 / 10))
    assert _lq(lq, "B", "laser") == pytest.approx((3 / 6) / (4 / 10))
    assert _lq(lq, "B", "software") == pytest.approx((2 / 6) / (2 / 10))
    assert len(lq) == 6
    assert set(lq.columns) >= {"region", "sector", "count", "LQ"}
    assert lq.loc[(lq["region"] == "B") & (lq["sector"] == "laser"), "count"].item() == 3


def test_location_quotient_weights_and_reference(firms):
    lq = location_quotient(firms, region_column="valley", sector_column="sector", weights="emp",
                           reference={"optics": 2, "laser": 1, "software": 1})
    # A employment: optics 10+10+20 = 40, laser 60 -> 100; reference shares 1/2, 1/4, 1/4
    assert _lq(lq, "A", "optics") == pytest.approx((40 / 100) / (2 / 4))
    assert _lq(lq, "A", "laser") == pytest.approx((60 / 100) / (1 / 4))
    # B employment: optics 5, laser 5+5+10 = 20, software 80 -> 105
    assert _lq(lq, "B", "software") == pytest.approx((80 / 105) / (1 / 4))


def test_location_quotient_does_not_mutate_and_checks(firms):
    before = firms.copy()
    location_quotient(firms, region_column="valley", sector_column="sector")
    pd.testing.assert_frame_equal(firms, before)
    with pytest.raises(ColumnError, match="'park' not found"):
        location_quotient(firms, region_column="park", sector_column="sector")
    with pytest.raises(InputError, match="lacks sector"):
        location_quotient(firms, region_column="valley", sector_column="sector",
                          reference={"optics": 1.0})


def test_ellison_glaeser_hand_computed():
    t = pd.DataFrame({
        "unit": [1, 1, 2, 2, 3, 3],
        "sector": ["a", "a", "a", "b", "b", "b"],
        "emp": [30, 10, 10, 20, 20, 10],
    })
    eg = ellison_glaeser(t, unit_column="unit", sector_column="sector",
                         employment_column="emp").set_index("sector")
    # x: unit shares of all 100 employees
    x1, x2, x3 = 40 / 100, 30 / 100, 30 / 100
    sx2 = x1**2 + x2**2 + x3**2  # 0.34
    # sector a (50 employees): s = (40/50, 10/50, 0)
    g_a = (40 / 50 - x1) ** 2 + (10 / 50 - x2) ** 2 + (0 - x3) ** 2
    h_a = (30 / 50) ** 2 + (10 / 50) ** 2 + (10 / 50) ** 2
    gamma_a = (g_a - (1 - sx2) * h_a) / ((1 - sx2) * (1 - h_a))
    # sector b (50 employees): s = (0, 20/50, 30/50)
    g_b = (0 - x1) ** 2 + (20 / 50 - x2) ** 2 + (30 / 50 - x3) ** 2
    h_b = (20 / 50) ** 2 + (20 / 50) ** 2 + (10 / 50) ** 2
    gamma_b = (g_b - (1 - sx2) * h_b) / ((1 - sx2) * (1 - h_b))
    assert eg.loc["a", "G"] == pytest.approx(g_a)
    assert eg.loc["a", "H"] == pytest.approx(h_a)
    assert eg.loc["a", "gamma"] == pytest.approx(gamma_a)
    assert eg.loc["b", "gamma"] == pytest.approx(gamma_b)
    assert eg.loc["a", "sum_x2"] == pytest.approx(0.34)
    assert gamma_a == pytest.approx(-0.0304 / 0.3696)  # worked by hand: (.26-.2904)/(.66*.56)
    assert gamma_b == pytest.approx(0.0224 / 0.4224)


def test_ellison_glaeser_single_plant_is_nan_with_note():
    t = pd.DataFrame({"unit": [1, 2, 2], "sector": ["a", "b", "b"], "emp": [5, 3, 4]})
    eg = ellison_glaeser(t, unit_column="unit", sector_column="sector",
                         employment_column="emp").set_index("sector")
    assert np.isnan(eg.loc["a", "gamma"])
    assert "H = 1" in eg.loc["a", "note"]
    assert np.isfinite(eg.loc["b", "gamma"])


def test_ellison_glaeser_dartboard_has_mean_zero():
    # EG's property: plants thrown at units with probabilities x give E[gamma] = 0.
    rng = np.random.default_rng(7)
    x = np.array([0.4, 0.3, 0.2, 0.1])
    rows = [{"unit": u, "sector": "base", "emp": 1e6 * p} for u, p in enumerate(x)]
    for s in range(400):
        sizes = rng.integers(1, 4, size=6).astype(float)
        units = rng.choice(4, size=6, p=x)
        rows += [{"unit": int(u), "sector": f"s{s}", "emp": e} for u, e in zip(units, sizes)]
    eg = ellison_glaeser(pd.DataFrame(rows), unit_column="unit", sector_column="sector",
                         employment_column="emp")
    g = eg.loc[eg["sector"] != "base", "gamma"].to_numpy()
    se = g.std(ddof=1) / math.sqrt(len(g))
    assert abs(g.mean()) < 4 * se


def test_entropy_and_hhi_by_hand():
    c = [2, 1, 1, 0]
    p = [0.5, 0.25, 0.25]
    e = -(p[0] * math.log(p[0]) + p[1] * math.log(p[1]) + p[2] * math.log(p[2]))
    assert shannon_entropy(c) == pytest.approx(e)
    assert shannon_entropy(c, normalised=True) == pytest.approx(e / math.log(4))
    assert shannon_entropy([5]) == 0.0
    h = 0.5**2 + 0.25**2 + 0.25**2  # 0.375
    assert hhi(c) == pytest.approx(h)
    assert hhi(c, normalised=True) == pytest.approx((h - 1 / 4) / (1 - 1 / 4))
    assert hhi([1, 1, 1, 1], normalised=True) == pytest.approx(0.0)
    assert hhi(pd.Series({"a": 1.0, "b": 0.0}), normalised=True) == pytest.approx(1.0)
    with pytest.raises(StatisticsError, match="at least 2 categories"):
        hhi([3], normalised=True)
    with pytest.raises(StatisticsError, match="sums to zero"):
        shannon_entropy([0, 0])
    with pytest.raises(InputError, match="non-negative"):
        hhi([1, -1])


def test_krugman_dissimilarity_by_hand():
    a = {"optics": 3, "laser": 1}  # shares .75 .25
    b = {"laser": 1, "software": 1}  # shares .5 .5
    assert krugman_dissimilarity(a, b) == pytest.approx(abs(0.75 - 0) + abs(0.25 - 0.5)
                                                        + abs(0 - 0.5))
    assert krugman_dissimilarity({"x": 1}, {"y": 1}) == pytest.approx(2.0)
    assert krugman_dissimilarity([0.2, 0.8], [0.2, 0.8]) == pytest.approx(0.0)
    with pytest.raises(InputError, match="same sectors"):
        krugman_dissimilarity([1, 2], [1, 2, 3])


def test_sector_mix_by_hand(firms):
    mix = sector_mix(firms, region_column="valley", sector_column="sector").set_index("region")
    # A: 3 optics, 1 laser of K = 3 sectors in the table
    pa = [3 / 4, 1 / 4]
    ea = -(pa[0] * math.log(pa[0]) + pa[1] * math.log(pa[1]))
    assert mix.loc["A", "entropy"] == pytest.approx(ea)
    assert mix.loc["A", "entropy_norm"] == pytest.approx(ea / math.log(3))
    ha = pa[0] ** 2 + pa[1] ** 2
    assert mix.loc["A", "hhi"] == pytest.approx(ha)
    assert mix.loc["A", "hhi_norm"] == pytest.approx((ha - 1 / 3) / (1 - 1 / 3))
    assert mix.loc["A", "n_sectors"] == 2
    assert mix.loc["B", "hhi"] == pytest.approx((1 / 6) ** 2 + (3 / 6) ** 2 + (2 / 6) ** 2)
    assert mix.loc["B", "n"] == 6
