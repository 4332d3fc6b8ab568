"""Rates on given units (geo.stats.rates) against hand-computed cases and esda.smoothing."""

from __future__ import annotations

from fractions import Fraction as F

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from esda.smoothing import Empirical_Bayes, Spatial_Empirical_Bayes
from libpysal.graph import Graph

from geo.errors import GraphError, InputError
from geo.stats.rates import spatial_empirical_bayes, unit_rates

COUNTS = [0, 4, 12, 34]
POP = [10, 20, 20, 50]


def test_raw_rates_and_per():
    r = unit_rates(COUNTS, POP)
    np.testing.assert_allclose(r, [0.0, 0.2, 0.6, 0.68])
    np.testing.assert_allclose(unit_rates(COUNTS, POP, per=1000), [0.0, 200.0, 600.0, 680.0])
    # Series in, plain array out, in the order given
    s = unit_rates(pd.Series(COUNTS, index=list("abcd")), pd.Series(POP, index=list("abcd")))
    assert isinstance(s, np.ndarray)
    np.testing.assert_allclose(s, r)


def test_empirical_bayes_by_hand_four_units():
    # b = 50 / 100 = 1/2; r = 0, 1/5, 3/5, 17/25
    # s2 = (10*(1/2)^2 + 20*(3/10)^2 + 20*(1/10)^2 + 50*(9/50)^2) / 100 = 6.12 / 100
    # a = s2 - b / mean(p) = 0.0612 - 0.5 / 25 = 0.0412
    b = F(1, 2)
    a = F(612, 10000) - b / 25
    assert a == F(412, 10000)
    r = [F(0), F(1, 5), F(3, 5), F(17, 25)]
    w = [a / (a + b / p) for p in POP]
    assert w == [F(103, 228), F(206, 331), F(206, 331), F(103, 128)]
    expected = [float(wi * ri + (1 - wi) * b) for wi, ri in zip(w, r)]
    got = unit_rates(COUNTS, POP, method="empirical_bayes")
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    assert got[0] == pytest.approx(125 / 456)
    # per only scales: the weights are those of the rates per one unit of denominator
    np.testing.assert_allclose(unit_rates(COUNTS, POP, method="empirical_bayes", per=1e4), np.array(expected) * 1e4)


def test_empirical_bayes_truncates_the_prior_variance_at_zero():
    # r = 0.1, 0.2, 0.1, 0.2 around b = 0.16: s2 = 0.24 / 100 = 0.0024 < b / mean(p) = 0.0064
    counts, pop = [1, 4, 3, 8], [10, 20, 30, 40]
    got = unit_rates(counts, pop, method="empirical_bayes")
    np.testing.assert_allclose(got, [0.16] * 4, rtol=1e-14)
    # esda does not truncate: its weights go negative and the rates overshoot b
    with np.errstate(divide="ignore", invalid="ignore"):  # its weight divides by a + b/p_i = 0 for p_i = 40
        esda = Empirical_Bayes(np.array(counts), np.array(pop)).r.ravel()
    assert not np.allclose(esda, 0.16, equal_nan=False)


def test_empirical_bayes_matches_esda_on_random_units():
    rng = np.random.default_rng(7)
    pop = rng.integers(50, 5000, 200)
    lam = rng.gamma(4.0, 0.01 / 4.0, 200)  # the prior variance is positive: esda does not truncate
    counts = rng.poisson(lam * pop)
    ours = unit_rates(counts, pop, method="empirical_bayes", per=1000)
    theirs = Empirical_Bayes(counts, pop).r.ravel() * 1000
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    # shrinkage: the smoothed rates vary less than the raw ones, most for small denominators
    raw = unit_rates(counts, pop, per=1000)
    assert np.var(ours) < np.var(raw)
    b = counts.sum() / pop.sum() * 1000
    small, large = pop < np.median(pop), pop >= np.median(pop)
    moved = np.abs(ours - raw) / np.maximum(np.abs(raw - b), 1e-12)
    assert moved[small].mean() > moved[large].mean()


def test_no_events_give_zero_rates():
    np.testing.assert_array_equal(unit_rates([0, 0, 0], [1, 2, 3], method="empirical_bayes"), [0.0, 0.0, 0.0])


@pytest.mark.parametrize(
    ("counts", "pop", "match"),
    [
        ([1, 2], [1, 2, 3], "2 counts and 3 denominators"),
        ([1, -2, 3], [1, 2, 3], r"non-negative; 1 of 3 units have a negative count \(#1\)"),
        ([1, np.nan, 3], [1, 2, 3], r"1 of 3 units have a missing or infinite count \(#1\)"),
        ([1, 2, 3], [1, 0, -3], r"2 of 3 units .*\(2 zero, negative or infinite: #1, #2\)"),
        ([1, 2, 3], [1, np.nan, 3], r"1 missing, 0 zero"),
        ([], [], "No units"),
        ([[1, 2], [3, 4]], [[1, 2], [3, 4]], "1-dimensional"),
        (["a", "b"], [1, 2], "must be numeric"),
    ],
)
def test_bad_input_is_one_clear_sentence(counts, pop, match):
    with pytest.raises(InputError, match=match):
        unit_rates(counts, pop)


def test_bad_denominators_name_the_units_by_label():
    pop = pd.Series([10.0, 0.0, 5.0, -1.0], index=["Hongshan", "Jiangxia", "Wuchang", "Hanyang"])
    with pytest.raises(InputError, match=r"2 of 4 units .*'Jiangxia', 'Hanyang'"):
        unit_rates(pd.Series([1, 2, 3, 4], index=pop.index), pop)
    with pytest.raises(InputError, match="different indexes"):
        unit_rates(pd.Series([1, 2, 3, 4]), pop)
    with pytest.raises(InputError, match="`method` must be one of 'raw', 'empirical_bayes', 'spatial_empirical_bayes'"):
        unit_rates([1], [1], method="eb")
    with pytest.raises(InputError, match="`per` must be a positive number"):
        unit_rates([1], [1], per=0)


# ----------------------------------------------------------------------------- spatial EB
def _path_graph(weight=1.0):
    return Graph.from_arrays([0, 1, 1, 2], [1, 0, 2, 1], [weight] * 4)


def test_spatial_empirical_bayes_by_hand_path_of_three():
    counts, pop = [20, 60, 10], [100, 200, 100]
    got = spatial_empirical_bayes(counts, pop, _path_graph())
    # unit 0: neighbourhood {0, 1}: m = 80/300 = 4/15, P = 300, n = 2
    #   var = (100 (1/5 - 4/15)^2 + 200 (3/10 - 4/15)^2) / 300 = 1/450; m / (P/n) = 2/1125
    #   a = 1/2250, m / p0 = 6/2250: shrink 1/7; rate = 4/15 + (1/5 - 4/15) / 7 = 9/35
    m0 = F(4, 15)
    var0 = (100 * (F(1, 5) - m0) ** 2 + 200 * (F(3, 10) - m0) ** 2) / 300
    a0 = var0 - m0 / F(300, 2)
    assert (var0, a0) == (F(1, 450), F(1, 2250))
    rate0 = m0 + (F(1, 5) - m0) * a0 / (a0 + m0 / 100)
    assert rate0 == F(9, 35)
    # unit 1: neighbourhood {0, 1, 2}: m = 90/400, var = 2.75/400, a = var - m/(400/3); shrink 83/101
    m1 = F(90, 400)
    var1 = (100 * (F(1, 5) - m1) ** 2 + 200 * (F(3, 10) - m1) ** 2 + 100 * (F(1, 10) - m1) ** 2) / 400
    a1 = var1 - m1 / F(400, 3)
    rate1 = m1 + (F(3, 10) - m1) * a1 / (a1 + m1 / 200)
    assert a1 / (a1 + m1 / 200) == F(83, 101)
    np.testing.assert_allclose(got[:2], [float(rate0), float(rate1)], rtol=1e-14)
    # the weights' values do not matter, only who is a neighbour
    np.testing.assert_allclose(spatial_empirical_bayes(counts, pop, _path_graph(0.5)), got, rtol=1e-14)
    np.testing.assert_allclose(spatial_empirical_bayes(counts, pop, _path_graph(), per=100), got * 100, rtol=1e-14)


def _units(nx=8, ny=6, island=True):
    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="xy")
    geoms = list(shapely.box(i.ravel() * 1000.0, j.ravel() * 1000.0, i.ravel() * 1000.0 + 1000, j.ravel() * 1000.0 + 1000))
    if island:
        geoms.append(shapely.box(50_000, 50_000, 51_000, 51_000))
    return gpd.GeoDataFrame(geometry=geoms, crs="EPSG:32650", index=[f"u{k}" for k in range(len(geoms))])


def test_spatial_empirical_bayes_matches_esda_with_an_island():
    units = _units()
    n = len(units)
    rng = np.random.default_rng(3)
    pop = rng.integers(100, 3000, n)
    counts = rng.poisson(rng.gamma(3.0, 0.02 / 3.0, n) * pop)
    graph = Graph.build_contiguity(units, rook=False)
    assert graph.isolates.tolist() == ["u48"]
    ours = spatial_empirical_bayes(counts, pop, graph)
    w = graph.to_W()
    theirs = Spatial_Empirical_Bayes(counts, pop, w).r.ravel()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    # the island is its own neighbourhood: its raw rate
    assert ours[-1] == pytest.approx(counts[-1] / pop[-1], rel=1e-14)
    # Series are matched to the graph by label: shuffled Series give the same rates per label
    order = rng.permutation(n)
    c_s = pd.Series(counts, index=units.index).iloc[order]
    p_s = pd.Series(pop, index=units.index).iloc[order]
    np.testing.assert_allclose(spatial_empirical_bayes(c_s, p_s, graph), ours[order], rtol=1e-14)


def test_unit_rates_spatial_method_is_spatial_empirical_bayes():
    counts, pop = [20, 60, 10], [100, 200, 100]
    np.testing.assert_array_equal(unit_rates(counts, pop, method="spatial_empirical_bayes", graph=_path_graph(), per=10),
                                  spatial_empirical_bayes(counts, pop, _path_graph(), per=10))
    with pytest.raises(InputError, match="needs the units' neighbours"):
        unit_rates(counts, pop, method="spatial_empirical_bayes")
    with pytest.raises(InputError, match="`graph` is used by method='spatial_empirical_bayes' only"):
        unit_rates(counts, pop, method="empirical_bayes", graph=_path_graph())


def test_spatial_empirical_bayes_bad_graph():
    with pytest.raises(GraphError, match="must be a libpysal.graph.Graph"):
        spatial_empirical_bayes([1, 2, 3], [1, 2, 3], None)
    with pytest.raises(GraphError, match="The graph has 3 ids but 4 units"):
        spatial_empirical_bayes([1, 2, 3, 4], [1, 2, 3, 4], _path_graph())
    with pytest.raises(GraphError, match="2 unit labels are not graph ids"):
        spatial_empirical_bayes(pd.Series([1, 2, 3], index=[0, 7, 8]), pd.Series([1, 2, 3], index=[0, 7, 8]), _path_graph())
    with pytest.raises(InputError, match="zero, negative"):
        spatial_empirical_bayes([1, 2, 3], [1, 0, 3], _path_graph())
    # no event in a neighbourhood: 0, not NaN
    np.testing.assert_array_equal(spatial_empirical_bayes([0, 0, 0], [1, 2, 3], _path_graph()), [0.0, 0.0, 0.0])


def test_doctests():
    import doctest

    import geo.stats.rates

    result = doctest.testmod(geo.stats.rates, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 2 and result.failed == 0


def test_public_api():
    import geo

    assert geo.unit_rates is unit_rates
    assert geo.spatial_empirical_bayes is spatial_empirical_bayes
    assert {"unit_rates", "spatial_empirical_bayes"} <= set(geo.__all__)
