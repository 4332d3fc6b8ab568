"""Emerging hot spot analysis (geo.stats.spacetime), each part against an independent value:
Mann–Kendall against scipy.stats.kendalltau and a hand computation, the categories on
constructed series, the space-time Gi* against a dense computation with hypergeometric
p-values, and the cube against a direct count."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from libpysal.graph import Graph
from scipy import stats

import geo
from geo.errors import ColumnError, GraphError, InputError, StatisticsError
from geo.stats.spacetime import (
    CATEGORIES,
    SpacetimeCube,
    classify,
    emerging_hotspots,
    mann_kendall,
    spacetime_cube,
)

# ---------------------------------------------------------------------------------------
# Mann-Kendall
# ---------------------------------------------------------------------------------------


def _mk_by_hand(x):
    x = [float(v) for v in x if not math.isnan(v)]
    n = len(x)
    s = sum((x[j] > x[i]) - (x[j] < x[i]) for i in range(n) for j in range(i + 1, n))
    ties = Counter(x).values()
    var = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in ties)) / 18
    return s, var


def test_mann_kendall_three_increasing_values_by_hand():
    mk = mann_kendall(np.array([1.0, 2.0, 3.0]))
    # S = 3, Var = 3*2*11/18 = 11/3, Z = (3 - 1)/sqrt(11/3), p = 2 Phi(-Z), tau = 1
    z = 2 / math.sqrt(11 / 3)
    assert mk["s"][0] == 3 and mk["var_s"][0] == pytest.approx(11 / 3)
    assert mk["z"][0] == pytest.approx(z)
    assert mk["p"][0] == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(z / math.sqrt(2)))))
    assert mk["tau"][0] == pytest.approx(1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mann_kendall_with_ties_against_scipy_and_a_hand_count(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 5, size=(6, 14)).astype(float)  # many ties
    mk = mann_kendall(x)
    for row in range(len(x)):
        s, var = _mk_by_hand(list(x[row]))
        assert mk["s"][row] == s
        assert mk["var_s"][row] == pytest.approx(var)
        kt = stats.kendalltau(np.arange(14), x[row], variant="b", method="asymptotic")
        assert mk["tau"][row] == pytest.approx(kt.statistic)
        # scipy's asymptotic p has the same tie-corrected variance, without continuity correction
        assert 2 * stats.norm.sf(abs(s) / math.sqrt(var)) == pytest.approx(kt.pvalue)
        zc = (s - np.sign(s)) / math.sqrt(var)
        assert mk["z"][row] == pytest.approx(zc)
        assert mk["p"][row] == pytest.approx(2 * stats.norm.sf(abs(zc)))


def test_mann_kendall_on_long_series_with_gaps_and_ties_against_a_hand_count_and_scipy():
    # the compiled score and tie sums on 45-step rows (the 1M run's length) with missing steps
    rng = np.random.default_rng(11)
    x = rng.integers(0, 8, size=(40, 45)).astype(float)
    x[rng.random(x.shape) < 0.15] = np.nan
    mk = mann_kendall(x)
    for row in range(len(x)):
        ok = np.isfinite(x[row])
        s, var = _mk_by_hand(list(x[row][ok]))
        assert mk["s"][row] == s and mk["n"][row] == ok.sum()
        assert mk["var_s"][row] == pytest.approx(var, rel=1e-12)
        kt = stats.kendalltau(np.flatnonzero(ok), x[row][ok], variant="b")
        assert mk["tau"][row] == pytest.approx(kt.statistic, rel=1e-12)


def test_mann_kendall_leaves_out_missing_values_and_refuses_short_or_flat_rows():
    x = np.array([[np.nan, 1.0, 3.0, 2.0, 5.0], [1.0, 3.0, 2.0, 5.0, np.nan], [np.nan, np.nan, np.nan, 1.0, 2.0],
                  [2.0, 2.0, 2.0, 2.0, 2.0]])
    mk = mann_kendall(x)
    s, var = _mk_by_hand([1.0, 3.0, 2.0, 5.0])
    assert mk["s"][0] == mk["s"][1] == s and mk["var_s"][0] == pytest.approx(var)
    assert mk["n"].tolist() == [4, 4, 2, 5]
    assert np.isnan(mk["p"][2]) and np.isnan(mk["p"][3]) and np.isnan(mk["tau"][3])


# ---------------------------------------------------------------------------------------
# categories
# ---------------------------------------------------------------------------------------

H, C, o = 1, -1, 0
#: (series of significant bins: +1 hot, -1 cold, 0 not; MK tau; MK p) -> category
CASES = {
    "new hot spot": ([o] * 9 + [H], 0.5, 0.01),
    "consecutive hot spot": ([o] * 7 + [H] * 3, 0.6, 0.01),
    "intensifying hot spot": ([o] + [H] * 9, 0.7, 0.001),
    "diminishing hot spot": ([H] * 10, -0.6, 0.01),
    "persistent hot spot": ([H] * 10, 0.1, 0.6),
    "historical hot spot": ([H] * 9 + [o], -0.5, 0.02),
    "oscillating hot spot": ([o, C, o, o, H, o, o, o, o, H], 0.2, 0.4),
    "sporadic hot spot": ([o, H, o, H, o, o, H, o, H, H], 0.3, 0.2),
    "new cold spot": ([o] * 9 + [C], -0.5, 0.01),
    "consecutive cold spot": ([o] * 8 + [C] * 2, -0.6, 0.01),
    "intensifying cold spot": ([C] * 10, -0.7, 0.001),
    "diminishing cold spot": ([C] * 10, 0.7, 0.001),
    "persistent cold spot": ([C] * 10, 0.0, 1.0),
    "historical cold spot": ([C] * 9 + [o], 0.0, 1.0),
    "oscillating cold spot": ([H, o, o, C, C, o, o, o, o, C], -0.1, 0.7),
    "sporadic cold spot": ([C, o, C, o, o, o, o, o, C, C], -0.1, 0.7),
    "no pattern": ([o] * 10, 0.0, 1.0),
}


def _classify_one(series, tau, p):
    s = np.array([series])
    return classify(s == H, s == C, np.array([tau]), np.array([p]), alpha=0.05)[0]


@pytest.mark.parametrize("category", list(CASES))
def test_each_category_on_a_constructed_series(category):
    series, tau, p = CASES[category]
    assert _classify_one(series, tau, p) == category


def test_every_category_has_a_case():
    assert set(CASES) == set(CATEGORIES)


def test_where_geo_departs_from_sfdep():
    # hot in the past, not at the end, under 90 %: sfdep's sporadic, ArcGIS Pro's (and geo's) no pattern
    assert _classify_one([o, H, o, H, o, o, o, o, o, o], 0.0, 1.0) == "no pattern"
    # cold before, hot now and never hot before: ArcGIS's oscillating, not new
    assert _classify_one([C] + [o] * 8 + [H], 0.4, 0.1) == "oscillating hot spot"
    # 90 % hot but the final bin not hot: historical whatever the trend (sfdep's persistent ignores the final bin)
    assert _classify_one([H] * 9 + [o], 0.0, 1.0) == "historical hot spot"
    # 90 % hot, final hot, a significant rise: intensifying; the same rise not significant: persistent
    assert _classify_one([o] + [H] * 9, 0.5, 0.04) == "intensifying hot spot"
    assert _classify_one([o] + [H] * 9, 0.5, 0.06) == "persistent hot spot"
    # a final run after earlier hot bins is sporadic, not consecutive
    assert _classify_one([H, o, o, o, o, o, o, H, H, H], 0.3, 0.3) == "sporadic hot spot"


def test_classify_refuses_mismatched_matrices():
    with pytest.raises(InputError, match="one shape"):
        classify(np.zeros((3, 4), bool), np.zeros((3, 5), bool), np.zeros(3), np.zeros(3))


# ---------------------------------------------------------------------------------------
# space-time Gi* against a dense computation
# ---------------------------------------------------------------------------------------

NX = 6  # 36 cells


def _lattice():
    i, j = np.meshgrid(np.arange(NX), np.arange(NX))
    i, j = i.ravel(), j.ravel()
    cells = gpd.GeoDataFrame(geometry=shapely.box(i, j, i + 1, j + 1), crs=3857)
    graph = Graph.build_contiguity(cells, rook=True)
    # rook neighbours by arithmetic, independent of libpysal
    nbrs = [[b for b in range(len(i)) if abs(i[a] - i[b]) + abs(j[a] - j[b]) == 1] for a in range(len(i))]
    return cells, graph, nbrs


def _cube(counts):
    counts = np.asarray(counts, dtype=np.int64)
    return SpacetimeCube(counts=counts, steps=np.arange(2000, 2000 + counts.shape[1]), cells=pd.RangeIndex(len(counts)))


def _dense_gi(counts, nbrs, t, lag):
    """z and two-sided exact p of every cell at step t; the window's bins are the universe.
    0/1 counts: the sum of k neighbours drawn without replacement from the other bins is
    hypergeometric."""
    n, _ = counts.shape
    lo = max(0, t - lag)
    bins = [(c, s) for s in range(lo, t + 1) for c in range(n)]
    x = np.array([counts[c, s] for c, s in bins], dtype=float)
    big = len(bins)
    where = {b: k for k, b in enumerate(bins)}
    xbar, s2 = x.mean(), x.var()
    z = np.empty(n)
    p = np.empty(n)
    for c in range(n):
        nb = [(d, t) for d in nbrs[c]] + [(d, s) for s in range(lo, t) for d in [c, *nbrs[c]]]
        w = np.zeros(big)
        for b in nb:
            w[where[b]] = 1.0
        w[where[(c, t)]] = 1.0  # G* self weight
        wi, s1 = w.sum(), (w**2).sum()
        z[c] = (w @ x - xbar * wi) / math.sqrt(s2 * (big * s1 - wi**2) / (big - 1))
        k = len(nb)
        obs = sum(counts[b] for b in nb)
        ones_other = int(x.sum() - counts[c, t])
        dist = stats.hypergeom(big - 1, ones_other, k)
        p[c] = min(1.0, 2 * min(dist.sf(obs - 1), dist.cdf(obs)))
    return z, p


def _binary_counts(seed):
    rng = np.random.default_rng(seed)
    counts = (rng.random((NX * NX, 4)) < 0.25).astype(np.int64)
    counts[:8, 2:] = 1  # a corner that fills up
    return counts


@pytest.mark.parametrize("lag", [0, 1, 2])
def test_spacetime_gi_star_against_a_dense_computation(lag):
    _cells, graph, nbrs = _lattice()
    counts = _binary_counts(lag)
    res = emerging_hotspots(_cube(counts), graph, time_lag=lag, seed=0)
    for t in range(counts.shape[1]):
        z, p = _dense_gi(counts, nbrs, t, lag)
        np.testing.assert_allclose(res.z.iloc[:, t], z, rtol=1e-10)
        np.testing.assert_allclose(res.p.iloc[:, t], p, rtol=1e-9)
        np.testing.assert_allclose(res.p_fdr.iloc[:, t], stats.false_discovery_control(p), rtol=1e-9)
    assert set(res.p_method.stack()) == {"exact"}


def test_without_time_lag_each_step_is_esdas_gi_star():
    from esda.getisord import G_Local

    _cells, graph, _ = _lattice()
    rng = np.random.default_rng(5)
    counts = rng.poisson(1.5, size=(NX * NX, 3))
    res = emerging_hotspots(_cube(counts), graph, time_lag=0, seed=0)
    w = graph.to_W()
    for t in range(3):
        g = G_Local(counts[:, t].astype(float), w, transform="B", star=True, permutations=0)
        np.testing.assert_allclose(res.z.iloc[:, t], g.Zs, rtol=1e-9)


def test_whole_cube_window_against_a_dense_z():
    _cells, graph, nbrs = _lattice()
    counts = _binary_counts(3)
    res = emerging_hotspots(_cube(counts), graph, time_lag=1, window="cube", seed=0)
    n, nt = counts.shape
    x = counts.T.ravel().astype(float)  # bin (c, s) at s * n + c
    xbar, s2, big = x.mean(), x.var(), len(x)
    for t in (0, 3):
        for c in (0, 7, 20):
            w = np.zeros(big)
            for d in nbrs[c]:
                w[t * n + d] = 1
            for s in range(max(0, t - 1), t):
                for d in [c, *nbrs[c]]:
                    w[s * n + d] = 1
            w[t * n + c] = 1
            wi = w.sum()
            z = (w @ x - xbar * wi) / math.sqrt(s2 * (big * wi - wi**2) / (big - 1))
            assert res.z.iloc[c, t] == pytest.approx(z, rel=1e-10)
    for t in range(nt):  # FDR within each step, not over the cube
        np.testing.assert_allclose(res.p_fdr.iloc[:, t], stats.false_discovery_control(res.p.iloc[:, t]), rtol=1e-12)


def test_an_emerging_cluster_is_found_and_a_flat_field_is_not():
    _cells, graph, _ = _lattice()
    rng = np.random.default_rng(1)
    counts = rng.poisson(1.0, size=(NX * NX, 8))
    corner = [0, 1, 2, 6, 7, 8, 12, 13, 14]
    counts[corner, 5:] += np.array([6, 9, 12])  # appears in the last three steps
    res = emerging_hotspots(_cube(counts), graph, seed=0)
    cats = res.table["category"]
    assert (cats.iloc[corner].isin(["new hot spot", "consecutive hot spot"])).sum() >= 5
    assert res.table["first_hot"].iloc[7] >= 2005
    assert res.hot_counts().iloc[:5].sum() <= 3 and res.hot_counts().iloc[-1] >= 5
    same = emerging_hotspots(_cube(counts), graph, seed=0)
    pd.testing.assert_frame_equal(res.table, same.table)


def test_a_constant_window_gives_no_statistic():
    _cells, graph, _ = _lattice()
    counts = np.zeros((NX * NX, 4), dtype=np.int64)
    counts[:5, 2:] = 3
    res = emerging_hotspots(_cube(counts), graph, time_lag=0, seed=0)
    assert res.z.iloc[:, :2].isna().all().all() and (res.p_method.iloc[:, 0] == "constant").all()
    assert res.z.iloc[:, 2:].notna().all().all()


def test_emerging_hotspots_refuses_bad_input():
    _cells, graph, _ = _lattice()
    counts = np.ones((NX * NX, 4), dtype=np.int64)
    with pytest.raises(StatisticsError, match="at least 3 time steps"):
        emerging_hotspots(_cube(counts[:, :2]), graph)
    with pytest.raises(StatisticsError, match="30 cells"):
        emerging_hotspots(_cube(counts[:10]), graph)
    with pytest.raises(GraphError, match="do not match the cube's cells"):
        emerging_hotspots(_cube(counts[:35]), graph)
    with pytest.raises(InputError, match="time_lag"):
        emerging_hotspots(_cube(counts), graph, time_lag=-1)
    with pytest.raises(InputError, match="window"):
        emerging_hotspots(_cube(counts), graph, window="slice")
    with pytest.raises(InputError, match="SpacetimeCube"):
        emerging_hotspots(counts, graph)


# ---------------------------------------------------------------------------------------
# the cube
# ---------------------------------------------------------------------------------------


def _firms(seed, n=400, closed=True):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, NX, n)
    y = rng.uniform(0, NX, n)
    founded = rng.integers(1990, 2011, n).astype(float)
    founded[:7] = np.nan
    data = {"founded": pd.array(np.where(np.isnan(founded), 0, founded).astype(int), dtype="Int64"),
            "sector": np.where(rng.random(n) < 0.5, "optics", "food")}
    data["founded"][:7] = pd.NA
    if closed:
        life = rng.integers(0, 15, n)
        c = founded + life
        c[rng.random(n) < 0.5] = np.nan
        data["closed"] = c
    return gpd.GeoDataFrame(data, geometry=gpd.points_from_xy(x, y), crs=3857), x, y


@pytest.mark.parametrize(("step", "closed"), [(1, True), (3, True), (1, False)])
def test_cube_counts_against_a_direct_count(step, closed):
    cells, _, _ = _lattice()
    firms, x, y = _firms(step, closed=closed)
    cube = spacetime_cube(firms, cells, time_column="founded", step=step,
                          closed_column="closed" if closed else None, by=("sector", "optics"))
    f = firms["founded"].to_numpy(dtype=float, na_value=np.nan)
    c = firms["closed"].to_numpy() if closed else np.full(len(f), np.nan)
    opt = firms["sector"].to_numpy() == "optics"
    cell = np.floor(x).astype(int) + NX * np.floor(y).astype(int)  # box (i, j) is row j * NX + i
    hi = int(np.nanmax(f[opt]))
    assert cube.steps[-1] == hi and np.all(np.diff(cube.steps) == step) and cube.steps[0] - step < np.nanmin(f[opt])
    want = np.zeros(cube.shape, dtype=int)
    for k, t in itertools.product(range(len(f)), range(len(cube.steps))):
        label = cube.steps[t]
        if opt[k] and not np.isnan(f[k]) and f[k] <= label and (np.isnan(c[k]) or label < c[k]):
            want[cell[k], t] += 1
    np.testing.assert_array_equal(cube.counts, want)
    assert cube.n_no_year == int((opt & np.isnan(f)).sum()) and cube.closed is closed
    assert cube.to_frame().shape == cube.shape


def test_closing_dates_as_text_count_by_their_year():
    cells, _, _ = _lattice()
    firms, _, _ = _firms(4)
    years = firms["closed"]
    as_text = years.map(lambda y: None if np.isnan(y) else f"{int(y)}-06-30")
    a = spacetime_cube(firms, cells, time_column="founded", closed_column="closed")
    b = spacetime_cube(firms.assign(closed=as_text), cells, time_column="founded", closed_column="closed")
    np.testing.assert_array_equal(a.counts, b.counts)


def test_monte_carlo_where_exact_p_values_are_out_of_reach_is_seeded():
    _, graph, _ = _lattice()
    rng = np.random.default_rng(7)
    counts = rng.integers(0, 500_000, size=(NX * NX, 3))  # value range too large for the exact convolution
    a = emerging_hotspots(_cube(counts), graph, time_lag=0, permutations=99, seed=3)
    b = emerging_hotspots(_cube(counts), graph, time_lag=0, permutations=99, seed=3)
    assert set(a.p_method.stack()) == {"mc"}
    pd.testing.assert_frame_equal(a.p, b.p)
    assert a.p.min().min() >= 2 / 100  # two-sided pseudo p of 99 draws


def test_cube_start_end_and_its_errors():
    cells, _, _ = _lattice()
    firms, _, _ = _firms(0)
    cube = spacetime_cube(firms, cells, time_column="founded", start=2000, end=2005, step=2)
    assert cube.steps.tolist() == [2001, 2003, 2005]
    with pytest.raises(ColumnError, match="'closing' is not a column"):
        spacetime_cube(firms, cells, time_column="founded", closed_column="closing")
    bad = firms.assign(closed=firms["founded"].astype(float) - 1)
    with pytest.raises(InputError, match="close before they were founded"):
        spacetime_cube(bad, cells, time_column="founded", closed_column="closed")
    with pytest.raises(InputError, match="must hold years"):
        spacetime_cube(firms.assign(founded="soon"), cells, time_column="founded")
    with pytest.raises(InputError, match="must not be after"):
        spacetime_cube(firms, cells, time_column="founded", start=2010, end=2000)
    with pytest.raises(InputError, match="`by` must be a"):
        spacetime_cube(firms, cells, time_column="founded", by="optics")


def test_public_api():
    assert geo.spacetime_cube is spacetime_cube and geo.emerging_hotspots is emerging_hotspots


# ---------------------------------------------------------------------------------------
# parks, config, pipeline
# ---------------------------------------------------------------------------------------


def _emerging_lattice():
    cells, graph, _ = _lattice()
    rng = np.random.default_rng(1)
    counts = rng.poisson(1.0, size=(NX * NX, 8))
    corner = [0, 1, 2, 6, 7, 8, 12, 13, 14]
    counts[corner, 5:] += np.array([6, 9, 12])
    return cells, emerging_hotspots(_cube(counts), graph, seed=0)


def test_park_categories_under_and_around_and_first_hot_step_by_hand():
    from geo.parks.emerging import park_emerging
    from geo.parks.overlay import park_rings

    cells, res = _emerging_lattice()
    parks = gpd.GeoDataFrame({"name": ["corner", "middle"], "designated": [2003, None]},
                             geometry=[shapely.box(0, 0, 2, 2), shapely.box(3, 3, 5, 5)], crs=3857)
    out = park_emerging(parks, cells, res)
    cx, cy = cells.centroid.x.to_numpy(), cells.centroid.y.to_numpy()
    rings = park_rings(parks)
    cats = res.table["category"].to_numpy()
    first = res.table["first_hot"].to_numpy(dtype=float, na_value=np.nan)
    final_hot = (res.p_fdr.iloc[:, -1] <= 0.05) & (res.z.iloc[:, -1] > 0)
    for k in range(2):
        under = shapely.intersects_xy(parks.geometry.iloc[k], cx, cy)
        ring = shapely.intersects_xy(rings[k], cx, cy)
        assert out["ehs_under"].iloc[k] == dict(Counter(cats[under]))
        assert out["ehs_ring"].iloc[k] == dict(Counter(cats[ring]))
        assert out["ehs_hot_final_under"].iloc[k] == int(final_hot[under].sum())
        f = first[under]
        assert (pd.isna(out["ehs_first_hot"].iloc[k]) if np.isnan(f).all()
                else out["ehs_first_hot"].iloc[k] == np.nanmin(f))
    assert out["ehs_main_under"].iloc[0] in ("new hot spot", "consecutive hot spot")
    assert out["ehs_first_hot_vs_designation"].iloc[0] == out["ehs_first_hot"].iloc[0] - 2003
    assert pd.isna(out["ehs_first_hot_vs_designation"].iloc[1])
    assert list(out.index) == list(parks.index)
    with pytest.raises(InputError, match="36 rows for 35 cells"):
        park_emerging(parks, cells.iloc[:35], res)


def test_the_main_categorys_first_hot_year_by_hand():
    """``ehs_main_first_hot`` is the earliest first hot step of the cells *of the main category*
    under the park; ``ehs_first_hot`` of any cell (one hot once long before, an institute alone
    in its cell, moves the latter but not the former); "no pattern" has none."""
    import dataclasses

    from geo.parks.emerging import park_emerging

    cells, res = _emerging_lattice()
    cx, cy = cells.centroid.x.to_numpy(), cells.centroid.y.to_numpy()
    parks = gpd.GeoDataFrame({"name": ["corner", "middle"], "designated": [2003, 1999]},
                             geometry=[shapely.box(0, 0, 2, 2), shapely.box(3, 3, 5, 5)], crs=3857)
    under = np.flatnonzero(shapely.intersects_xy(parks.geometry.iloc[0], cx, cy))
    middle = np.flatnonzero(shapely.intersects_xy(parks.geometry.iloc[1], cx, cy))
    assert len(under) >= 4 and len(middle) >= 1
    table = res.table.copy()
    table["category"] = "no pattern"
    table["first_hot"] = pd.array([pd.NA] * len(table), dtype="Int64")
    cat = table["category"].to_numpy(dtype=object)
    first = np.full(len(table), -1)
    cat[under[:2]] = "consecutive hot spot"
    first[under[:2]] = [2007, 2005]
    cat[under[2]] = "sporadic hot spot"
    first[under[2]] = 2001
    first[under[3]] = 1998  # hot once, no pattern
    first[middle[0]] = 1997  # the middle park: hot once, no pattern
    table["category"] = cat
    table["first_hot"] = pd.array(np.where(first < 0, 0, first), dtype="Int64")
    table.loc[first < 0, "first_hot"] = pd.NA
    out = park_emerging(parks, cells, dataclasses.replace(res, table=table))
    assert out["ehs_main_under"].tolist() == ["consecutive hot spot", "no pattern"]
    assert out["ehs_first_hot"].tolist() == [1998, 1997]
    assert out["ehs_first_hot_vs_designation"].tolist() == [-5, -2]
    assert out["ehs_main_first_hot"].iloc[0] == 2005 and out["ehs_main_first_hot_vs_designation"].iloc[0] == 2
    assert pd.isna(out["ehs_main_first_hot"].iloc[1]) and pd.isna(out["ehs_main_first_hot_vs_designation"].iloc[1])
    assert str(out["ehs_main_first_hot"].dtype) == "Int64"


def test_the_config_keys_are_checked():
    from geo.config import config_from_dict
    from geo.errors import ConfigError

    cfg = config_from_dict({"firms": {"path": "x.csv", "closed_column": "closed"},
                            "analysis": {"time_step": 5, "time_lag": 0}})
    assert (cfg.firms.closed_column, cfg.analysis.time_step, cfg.analysis.time_lag) == ("closed", 5, 0)
    defaults = config_from_dict({"firms": {"path": "x.csv"}})
    assert (defaults.firms.closed_column, defaults.analysis.time_step, defaults.analysis.time_lag) == (None, 1, 1)
    for table, match in (({"analysis": {"time_step": 0}}, "time_step must be a whole number of years >= 1"),
                         ({"analysis": {"time_step": 2.5}}, "time_step must be int"),
                         ({"analysis": {"time_lag": -1}}, "time_lag must be >= 0"),
                         ({"firms": {"closed_column": 3}}, "closed_column must name the column")):
        table.setdefault("firms", {})["path"] = "x.csv"
        with pytest.raises(ConfigError, match=match):
            config_from_dict(table)


def test_a_named_closing_column_must_exist():
    from geo.config import config_from_dict
    from geo.pipeline.checks import resolve_columns

    cfg = config_from_dict({"firms": {"path": "x.csv", "closed_column": "closed"}})
    with pytest.raises(ColumnError, match=r"\[firms\] closed_column 'closed' is not a column"):
        resolve_columns(cfg, ["lon", "lat", "valley", "sector", "founded"], table="x.csv")


def test_the_stage_is_skipped_with_a_reason_without_founding_years():
    from geo.config import config_from_dict
    from geo.pipeline.results import AnalysisDraft, ValleyResult
    from geo.pipeline.valley import _emerging

    cells, graph, _ = _lattice()
    firms, _, _ = _firms(0, closed=False)
    vr = ValleyResult(name="v", title="v", firms=firms.drop(columns="founded"), parks=firms.iloc[:0])
    vr.analysis = AnalysisDraft()
    vr.analysis.cells, vr.analysis.graph = cells, graph
    cfg = config_from_dict({"firms": {"path": "x.csv"}})
    _emerging(vr, cfg, 0, firms.drop(columns="founded"), None)
    assert "no founding years" in vr.skipped["emerging_hotspots"] and vr.analysis.emerging is None
    _emerging(vr, cfg, 0, firms.assign(founded=2000), None)  # one step: the test cannot run
    assert "at least 3 time steps" in vr.skipped["emerging_hotspots"]
    vr.n_firms = 10 * len(firms)  # the dask engine's sample of a bigger valley
    _emerging(vr, cfg, 0, firms, None)
    assert "sample" in vr.skipped["emerging_hotspots"] and vr.analysis.emerging is None


def test_the_demo_run_has_emerging_hot_spots(demo_results, demo_output):
    import json

    import pyogrio

    summary = json.loads((demo_output / "summary.json").read_text(encoding="utf-8"))
    for name, vr in demo_results.valleys.items():
        ehs = vr.analysis.emerging
        assert ehs is not None and len(ehs.table) == len(vr.analysis.cells)
        entry = summary["valleys"][name]["emerging_hotspots"]
        assert sum(entry["categories"].values()) == len(vr.analysis.cells)
        assert entry["survivorship"] and entry["cube"]["first_step"] == 1980
        # the cube's last step counts every target firm of the valley with a founding year in a cell
        assert vr.analysis.spacetime_cube.counts[:, -1].sum() == entry["cube"]["n_firms"]
        park = summary["valleys"][name]["park_results"][0]
        assert {"ehs_under", "ehs_ring", "ehs_first_hot", "ehs_first_hot_vs_designation"} <= set(park)
        assert sum(park["ehs_under"].values()) == park["n_cells_under"]
    layer = pyogrio.read_dataframe(demo_output / "layers.gpkg", layer="emerging_hotspots")
    assert len(layer) == sum(len(vr.analysis.cells) for vr in demo_results.valleys.values())
    assert {"category", "mk_tau", "mk_p", "first_hot", "bin_2024", "valley"} <= set(layer.columns)


def test_the_demo_recovers_the_planted_emerging_hot_spots(demo_results):
    """Each park's main category and when its cells first became hot, against demo_truth.json
    (``parks.<name>.emerging``): Wuhan's cluster formed after designation, Changchun's before it."""
    from geo.datasets import load_truth

    truth = load_truth()["parks"]
    seen = set()
    for vr in demo_results.valleys.values():
        for _, row in vr.analysis.parks_overlay.iterrows():
            t = truth[row["name"]]["emerging"]
            seen.add(row["name"])
            assert row["ehs_main_under"] in t["categories"], (row["name"], row["ehs_under"])
            first = row["ehs_main_first_hot"]
            if t["first_hot"] is None:
                assert pd.isna(first), row["name"]
                continue
            assert int(row["designated"]) == t["designated"]
            assert row["ehs_main_first_hot_vs_designation"] == first - t["designated"]
            if t["first_hot"] == "after designation":
                assert first > t["designated"] and first >= t["cluster_first_founded"], (row["name"], first)
            else:
                assert first < t["designated"], (row["name"], first)
    assert seen == set(truth)
    after = [t for t in truth.values() if t["emerging"]["first_hot"] == "after designation"]
    before = [t for t in truth.values() if t["emerging"]["first_hot"] == "before designation"]
    assert len(after) == len(before) == 1 and after[0]["valley"] != before[0]["valley"]


def test_the_demo_report_map_and_figure_show_them(demo_results, demo_output):
    from geo.outputs.figures import emerging_chart, figure_name

    page = (demo_output / "report.html").read_text(encoding="utf-8")
    assert page.count("<h4>Emerging hot spots</h4>") == len(demo_results.valleys)
    assert "survivorship bias" in page  # the demo has no closing years
    for name in demo_results.valleys:
        assert f"figures/{figure_name(name, 'emerging')}" in page
        html = (demo_output / "maps" / f"{name}.html").read_text(encoding="utf-8")
        assert "Emerging hot spots (optics firms)" in html
    counts = demo_results.valleys["Wuhan"].analysis.emerging.step_counts()
    assert emerging_chart(counts, designated={"<b>park</b>": 1991}, title="$x {")[:8] == b"\x89PNG\r\n\x1a\n"
