"""Point patterns at scale: bounded cost by seeded subsampling, unchanged results below it.

The pinned numbers below were computed with the code as it was before subsampling by
default (commit d9ad659: ``kd`` with ``max_sector=20_000``, ``ripley_k`` over stored pair
lists); below the thresholds the results must not move.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd
import pytest
import shapely

from geo.errors import CRSError, InputError, StatisticsError
from geo.stats import _kd_kernels
from geo.stats import pointpattern as pp

UNIT = shapely.box(0.0, 0.0, 1.0, 1.0)
L_BIG = shapely.Polygon([(0, 0), (10_000, 0), (10_000, 4_000), (4_000, 4_000), (4_000, 10_000),
                         (0, 10_000)],
                        holes=[[(1_000, 1_000), (2_000, 1_000), (2_000, 2_000), (1_000, 2_000)]])


def _kd_case():
    """4,000 sites in a 30 km square (half uniform, half in 3 clusters); a 1,500-firm sector."""
    rng = np.random.default_rng(7)
    uni = rng.uniform(0, 30_000, (2000, 2))
    centres = np.array([[8_000, 9_000], [20_000, 22_000], [15_000, 6_000]])
    cl = centres[rng.integers(0, 3, 2000)] + rng.normal(0, 900, (2000, 2))
    xy = np.vstack([uni, cl])
    mask = np.zeros(4000, bool)
    mask[:500] = True
    mask[2000:3000] = True
    return xy, mask


def _k_case(n):
    """n points in L_BIG: half uniform, half in clusters of sd 300 m."""
    rng = np.random.default_rng(11)
    pts = pp._csr(L_BIG, n, rng)
    par = pp._csr(L_BIG, n // 20, rng)
    kids = par[rng.integers(0, len(par), n)] + rng.normal(0, 300, (n, 2))
    keep = shapely.contains_xy(L_BIG, kids[:, 0], kids[:, 1])
    return np.vstack([pts[: n // 2], kids[keep][: n // 2]])


# --------------------------------------------------------------------------------------
# Kd
# --------------------------------------------------------------------------------------


def test_kd_below_max_sector_unchanged():
    xy, mask = _kd_case()
    res = pp.kd(xy, sector=mask, simulations=19, seed=3)
    assert res.subsample is None and res.subsample_error is None
    c = res.curve
    # numba fastmath kernels: the last bits may differ on another CPU, hence rtol 1e-12
    np.testing.assert_allclose(c["kd"].to_numpy()[[0, 100, 200]],
                               [2.8955137301137683e-05, 5.035255876925558e-05,
                                2.819384268798668e-05], rtol=1e-12)
    np.testing.assert_allclose(c["lo"].to_numpy()[[0, 100, 200]],
                               [1.5678570715129928e-05, 4.421752480836311e-05,
                                3.639121751428338e-05], rtol=1e-12)
    np.testing.assert_allclose(c["global_hi"].to_numpy()[[0, 100, 200]],
                               [1.8623466184127235e-05, 4.861918073169694e-05,
                                4.0758674460521434e-05], rtol=1e-12)
    assert res.bandwidth == pytest.approx(396.59089029243404, rel=1e-12)
    assert res.max_distance == pytest.approx(13880.026438240851, rel=1e-12)
    assert res.gamma == pytest.approx(0.0007504340246842461, rel=1e-9)
    assert res.verdict == "localised at distances 0–3.19 km, 6.45–8.26 km (Γ = 0.00075)"


def test_kd_max_sector_subsamples_and_reports_error(caplog):
    rng = np.random.default_rng(3)
    xy = np.vstack([rng.uniform(0, 20_000, (4000, 2)),
                    np.array([6_000.0, 7_000.0]) + rng.normal(0, 800, (2000, 2))])
    mask = np.zeros(len(xy), bool)
    mask[rng.choice(4000, 1000, replace=False)] = True
    mask[4000 + rng.choice(2000, 1400, replace=False)] = True  # 2,400 firms, partly clustered
    r = np.linspace(0, 10_000, 51)
    with caplog.at_level(logging.WARNING, logger="geo.stats.pointpattern"):
        sub = pp.kd(xy, sector=mask, distances=r, bandwidth=400.0, simulations=0, seed=0,
                    max_sector=2000)
    assert sub.subsample == 2000 and sub.n_sector == 2400 and not sub.exact
    assert sub.budget["max_sector"] == 2000
    assert "subsample of 2000 of 2400 sector firms" in sub.notes
    assert "max_sector=2000" in caplog.text
    # the error estimate is reported, positive and small (< 5 % of the curve maximum)
    assert 0 < sub.subsample_error < 0.05
    # the subsampled curve estimates the full sector's (same bandwidth) within that error;
    # the default (time budget) analyses all 2,400 firms
    full = pp.kd(xy, sector=mask, distances=r, bandwidth=400.0, simulations=0, seed=0)
    assert full.subsample is None and full.exact and full.subsample_error is None
    assert full.budget["max_sector"] is None and full.budget["estimated_s"] <= pp.TIME_BUDGET
    top = sub.curve["kd"].max()
    gap = np.max(np.abs(sub.curve["kd"] - full.curve["kd"]))
    assert 0 < gap <= 4 * sub.subsample_error * top
    # deterministic with the seed
    again = pp.kd(xy, sector=mask, distances=r, bandwidth=400.0, simulations=0, seed=0,
                  max_sector=2000)
    np.testing.assert_array_equal(again.curve["kd"], sub.curve["kd"])
    assert again.subsample_error == sub.subsample_error


def test_kd_subsampled_test_keeps_its_size():
    # random location with a subsample: the test is exact as a test on the random subset
    rng = np.random.default_rng(5)
    xy = np.vstack([rng.uniform(0, 10_000, (700, 2)),
                    np.array([3_000.0, 6_000.0]) + rng.normal(0, 500, (300, 2))])
    r = np.linspace(0, 4_000, 41)
    loc = disp = 0
    for k in range(30):
        mask = np.zeros(len(xy), bool)
        mask[rng.choice(len(xy), 80, replace=False)] = True  # H0 true
        res = pp.kd(xy, sector=mask, distances=r, simulations=99, seed=k, max_sector=30)
        assert res.subsample == 30
        loc += bool(res.localised)
        disp += bool(res.dispersed)
    # nominal 5 % each; 30 draws: P(Bin(30, .05) > 6) < 0.001
    assert loc <= 6 and disp <= 6


def _same_kd(a, b):
    for f in dataclasses.fields(a):
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if isinstance(va, pd.DataFrame):
            assert va.equals(vb) and va.attrs == vb.attrs, f.name
        elif isinstance(va, float) and np.isnan(va):
            assert np.isnan(vb), f.name
        elif isinstance(va, tuple) and f.name == "global_percentiles":
            np.testing.assert_array_equal(va, vb)
        else:
            assert va == vb, f.name


def test_kd_sectors_equal_separate_calls():
    """The comparison's Kd of several sectors (sites read and sorted once) is kd's, number
    for number, errors included."""
    import geopandas as gpd

    xy, mask = _kd_case()
    rng = np.random.default_rng(1)
    pts = gpd.GeoDataFrame({"sector": np.where(mask, "a", "b")},
                           geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=32650)
    other = np.zeros(len(xy), bool)
    other[rng.choice(len(xy), 300, replace=False)] = True
    sectors = {"big": mask, "other": other, "few": np.arange(len(xy)) < 5, "b": "b"}
    got = pp.kd_sectors(pts, sectors, simulations=19, seed=4)
    assert list(got) == list(sectors)
    for key, sector in sectors.items():
        if key == "few":
            with pytest.raises(StatisticsError, match="at least 10 firms") as err:
                pp.kd(pts, sector=sector, simulations=19, seed=4)
            assert isinstance(got[key], StatisticsError) and str(got[key]) == str(err.value)
            continue
        _same_kd(got[key], pp.kd(pts, sector=sector, simulations=19, seed=4))
    with pytest.raises(CRSError):  # a problem of the sites themselves is raised at once
        pp.kd_sectors(pts.set_crs(4326, allow_override=True), sectors, simulations=19)


def test_median_pair_distance_is_remembered_by_content():
    rng = np.random.default_rng(2)
    xs, ys = rng.uniform(0, 1_000, 300), rng.uniform(0, 1_000, 300)
    want = pp._pair_summary(xs, ys)[4]
    assert pp._median_pair_distance(xs, ys) == want
    assert pp._median_pair_distance(xs.copy(), ys.copy()) == want  # same content: reused
    ys2 = ys.copy()
    ys2[0] += 400.0  # one point moved: not reused
    assert pp._median_pair_distance(xs, ys2) == pp._pair_summary(xs, ys2)[4] != want
    for k in range(40):
        pp._median_pair_distance(xs[: 20 + k], ys[: 20 + k])
    assert len(pp._MEDIAN_MEMO) <= pp._MEDIAN_MEMO_SIZE


# --------------------------------------------------------------------------------------
# Ripley's K: compiled pair counts
# --------------------------------------------------------------------------------------


def _brute_counts(xy, r, stop, border):
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    i, j = np.nonzero(~np.eye(len(xy), dtype=bool) & (d <= r[-1]))
    k = np.searchsorted(r, d[i, j], side="left")
    if not border:
        return np.bincount(k, minlength=len(r) + 1)
    keep = k < stop[i]
    return (np.bincount(k[keep], minlength=len(r) + 1)
            - np.bincount(stop[i][keep], minlength=len(r) + 1))


@pytest.mark.parametrize("border", [False, True])
def test_k_pair_counts_match_brute_force(border):
    rng = np.random.default_rng(2)
    # random points, a unit lattice (distances 1, sqrt 2, 2, 5 fall exactly on grid values)
    # and duplicated points (distance 0)
    lattice = np.array([(x, y) for x in range(8) for y in range(8)], dtype=float) + 20.0
    xy = np.vstack([rng.uniform(0, 40, (300, 2)), lattice, lattice[:5]])
    r = np.array([0.0, 0.5, 1.0, np.sqrt(2.0), 2.0, 2.5, 3.0, 5.0])
    stop = rng.integers(0, len(r) + 1, len(xy)).astype(np.int64)
    got = _kd_kernels.k_pair_counts(xy[:, 0].copy(), xy[:, 1].copy(), r, stop, border)
    np.testing.assert_array_equal(got, _brute_counts(xy, r, stop, border))
    # tiny distances against a huge extent: the cell list is capped at ~2048 cells a side
    far = np.vstack([rng.uniform(0, 1e7, (200, 2)), np.array([[5.0, 5.0], [5.3, 5.4]])])
    r2 = np.array([0.25, 0.5, 1.0])
    stop2 = rng.integers(0, 4, len(far)).astype(np.int64)
    stop2[-2:] = len(r2)  # the close pair counts with the border correction too
    got2 = _kd_kernels.k_pair_counts(far[:, 0].copy(), far[:, 1].copy(), r2, stop2, border)
    np.testing.assert_array_equal(got2, _brute_counts(far, r2, stop2, border))
    assert np.cumsum(got2)[len(r2) - 1] == 2  # the pair 0.5 m apart, both ways


@pytest.mark.parametrize(("correction", "rmax", "n", "want"), [
    ("border", 1800.0, 3000, {
        "K": [449606.06204082124, 3903766.7882729038, 10055687.225083012],
        "lo": [400547.9749049713, 3548150.458755069, 9892459.98666222],
        "hi": [412994.49008569773, 3740943.359950067, 10317439.146382127],
        "global_hi": [462346.228467032, 3821233.327822054, 10429661.63542045]}),
    ("none", 2500.0, 3000, {
        "K": [795381.1270423474, 5852494.831610537, 13572764.254751584],
        "lo": [719797.9326442147, 5542669.55651884, 13219748.582860954],
        "hi": [738116.0386795598, 5684942.980993665, 13585942.647549184],
        "global_hi": [784358.8474177123, 5759526.053659961, 13585942.64754918]}),
    ("isotropic", 2500.0, 300, {
        "K": [1427493.7477638344, 8494709.772034029, 21166303.983652532],
        "lo": [725387.7318674595, 6770611.253051888, 18950578.622697756],
        "hi": [871931.7991868951, 7322398.315977317, 20009994.770819314],
        "global_hi": [938532.4503686647, 7465114.812300262, 20236101.555215724]}),
])
def test_k_below_pair_budget_unchanged(correction, rmax, n, want):
    k = pp.ripley_k(_k_case(n), window=L_BIG, distances=np.linspace(0, rmax, 26),
                    correction=correction, simulations=19, seed=5)
    assert k.attrs["subsample"] is None and k.attrs["subsample_error"] is None
    assert k.attrs["p_value"] == 0.05
    for col, vals in want.items():
        got = k[col].to_numpy()[[5, 15, 25]]
        if correction == "isotropic":  # summed edge weights: allow the last bits
            np.testing.assert_allclose(got, vals, rtol=1e-12)
        else:  # integer pair counts times one factor: bit for bit
            np.testing.assert_array_equal(got, vals)


# --------------------------------------------------------------------------------------
# Ripley's K: subsampling above the pair budget
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("correction", ["border", "none"])
def test_k_subsamples_above_pair_budget(correction, caplog, monkeypatch):
    pts = _k_case(3000)
    n = len(pts)
    r = np.linspace(0, 1500, 16)
    budget = 300_000
    pairs = pp._pairs_within(pts, 1500.0)  # exact below 20,000 points
    assert pairs > budget
    m = int(n * np.sqrt(budget / pairs))
    sizes = []
    csr = pp._csr
    monkeypatch.setattr(pp, "_csr", lambda w, k, rng: sizes.append(k) or csr(w, k, rng))
    with caplog.at_level(logging.INFO, logger="geo.stats.pointpattern"):
        sub = pp.ripley_k(pts, window=L_BIG, distances=r, correction=correction,
                          simulations=19, seed=2, max_pairs=budget)
    assert sub.attrs["subsample"] == m and sub.attrs["n"] == n
    assert sizes == [m] * 19  # every CSR pattern has as many points as the subsample
    assert "random subsample of %d points" % m in caplog.text
    err = sub.attrs["subsample_error"]
    assert 0 < err < 0.05
    full = pp.ripley_k(pts, window=L_BIG, distances=r, correction=correction)
    assert full.attrs["subsample"] is None
    ok = np.isfinite(full["L"]) & np.isfinite(sub["L"])
    gap = np.max(np.abs(sub["L"][ok] - full["L"][ok]))
    assert 0 < gap <= 4 * err * sub["L"][ok].max()
    again = pp.ripley_k(pts, window=L_BIG, distances=r, correction=correction,
                        simulations=19, seed=2, max_pairs=budget)
    assert again.equals(sub)


def test_k_subsampled_global_test_keeps_its_size():
    rng = np.random.default_rng(9)
    r = np.linspace(0, 0.1, 11)
    ps, ms = [], set()
    for s in range(60):
        k = pp.ripley_k(rng.uniform(0, 1, (400, 2)), window=UNIT, distances=r,
                        correction="none", simulations=19, seed=s, max_pairs=800)
        ps.append(k.attrs["p_value"])
        ms.add(k.attrs["subsample"])
    assert all(m is not None and m < 400 for m in ms)
    # exact Monte Carlo test on the subsample: P(p <= 0.05) = 1/20; P(Bin(60, .05) > 9) < 0.002
    assert np.sum(np.array(ps) <= 0.05) <= 9


def test_k_pair_count_estimate_for_large_patterns():
    rng = np.random.default_rng(4)
    xy = np.vstack([rng.uniform(0, 10_000, (20_000, 2)),
                    np.array([5_000.0, 5_000.0]) + rng.normal(0, 400, (10_000, 2))])
    est = pp._pairs_within(xy, 150.0)
    tree = pp.cKDTree(xy)
    exact = tree.count_neighbors(tree, 150.0) - len(xy)
    assert est == pytest.approx(exact, rel=0.05)


def test_k_max_pairs_errors():
    xy = np.random.default_rng(0).uniform(0, 1, (30, 2))
    for bad in (0, 50, True, 1.5e6):
        with pytest.raises(InputError, match="`max_pairs` must be None or an int"):
            pp.ripley_k(xy, window=UNIT, max_pairs=bad)


@pytest.mark.parametrize("correction", ["border", "none"])
def test_k_curves_batched_equal_one_at_a_time(correction):
    rng = np.random.default_rng(8)
    edges = pp._edges(L_BIG)
    r = np.linspace(0, 1_500, 16)
    pats = [pp._csr(L_BIG, n, rng) for n in (400, 250, 400, 12)] + [_k_case(600)]
    got = pp._k_curves(pats, r, L_BIG.area, correction, edges)
    for p, pat in enumerate(pats):
        np.testing.assert_array_equal(got[p], pp._k_curve(pat, r, L_BIG.area, correction, edges))


def test_k_points_on_the_window_boundary_are_inside():
    verts = shapely.get_coordinates(L_BIG.exterior)[:-1]
    mids = (verts + np.roll(verts, -1, axis=0)) / 2
    pts = np.vstack([verts, mids, _k_case(200)])
    k = pp.ripley_k(pts, window=L_BIG, distances=[0.0, 500.0], correction="border")
    assert k.attrs["n"] == len(pts)
    # a millimetre out: beyond the tolerance (1e-9 of the window scale, about 1e-5 m)
    outside = np.vstack([pts, [[10_000.0 + 1e-3, 10.0]]])
    with pytest.raises(InputError, match="1 of .* points lie outside `window`"):
        pp.ripley_k(outside, window=L_BIG, distances=[0.0, 500.0], correction="border")


def test_kd_sites_sort_is_numpys_stable_order():
    xy = np.random.default_rng(3).uniform(0, 100, (500, 2))
    xy[10:20, 0] = xy[9, 0]  # ties in x
    order, sx, sy = pp._kd_sites(xy)
    ref = np.argsort(xy[:, 0], kind="stable")
    np.testing.assert_array_equal(order, ref)
    np.testing.assert_array_equal(sx, xy[ref, 0])
    np.testing.assert_array_equal(sy, xy[ref, 1])
    assert not sx.flags.writeable


# --------------------------------------------------------------------------------------
# exact by default: subsample only beyond the time budget
# --------------------------------------------------------------------------------------


def _rect_fraction(px, py, d, w, h):
    """Fraction of the circle (px, py, d) inside the rectangle [0, w] x [0, h] in closed form
    (d below half of either side): the circle outside a convex window is the union of the arcs
    beyond each side's line, 2 acos(s/d) each for a side at distance s < d; the arcs beyond two
    adjacent sides overlap by acos(s1/d) + acos(s2/d) - pi/2 when the corner is within d."""
    s = np.stack([px, w - px, py, h - py])  # left, right, bottom, top
    a = np.arccos(np.clip(s / d, -1.0, 1.0))  # half-angle of each arc (0 when s >= d)
    outside = 2.0 * a.sum(axis=0)
    for side_x in (0, 1):
        for side_y in (2, 3):
            outside -= np.maximum(a[side_x] + a[side_y] - np.pi / 2, 0.0)
    return 1.0 - outside / (2.0 * np.pi)


def _k_isotropic_numpy(xy, r, w, h):
    """Plain O(n^2) Ripley isotropic K in the rectangle (independent of geo's kernels)."""
    n = len(xy)
    dx = xy[:, None, 0] - xy[None, :, 0]
    dy = xy[:, None, 1] - xy[None, :, 1]
    d = np.hypot(dx, dy)
    i, j = np.nonzero(~np.eye(n, dtype=bool))
    dij = d[i, j]
    e = 1.0 / _rect_fraction(xy[i, 0], xy[i, 1], dij, w, h)
    return np.array([w * h / (n * (n - 1.0)) * e[dij <= rk].sum() for rk in r])


def test_k_isotropic_default_equals_a_plain_numpy_k():
    rng = np.random.default_rng(31)
    w, h = 3_000.0, 2_000.0
    xy = np.vstack([rng.uniform(0, [w, h], (250, 2)),
                    np.clip(np.array([400.0, 300.0]) + rng.normal(0, 150, (150, 2)), 0, [w, h])])
    r = np.linspace(0, 500, 26)
    got = pp.ripley_k(xy, window=shapely.box(0, 0, w, h), distances=r)
    assert got.attrs["exact"] and got.attrs["subsample"] is None
    want = _k_isotropic_numpy(xy, r, w, h)
    np.testing.assert_allclose(got["K"], want, rtol=1e-12, atol=0)
    # the edge correction matters here (else this would not test it): no correction is lower
    plain = pp.ripley_k(xy, window=shapely.box(0, 0, w, h), distances=r, correction="none")
    assert plain["K"].iloc[-1] < 0.95 * want[-1]


def _valley_15650():
    """15,650 clustered points in a 20 km square (40 Gaussian clusters of sd 800 m and a
    uniform fifth), seeded: the size of the issue's registration window."""
    rng = np.random.default_rng(20)
    side = 20_000.0
    parents = rng.uniform(0, side, (40, 2))
    kids = parents[rng.integers(0, 40, 16_000)] + rng.normal(0, 800.0, (16_000, 2))
    pts = np.vstack([kids, rng.uniform(0, side, (4_000, 2))])
    pts = pts[(pts >= 0).all(axis=1) & (pts <= side).all(axis=1)]
    return pts[rng.permutation(len(pts))[:15_650]], shapely.box(0, 0, side, side)


def test_k_default_is_exact_on_a_15650_point_window():
    xy, win = _valley_15650()
    k = pp.ripley_k(xy, window=win)  # isotropic, 51 distances to 5 km
    at = k.attrs
    assert at["n"] == 15_650 and at["exact"] and at["subsample"] is None
    assert at["subsample_error"] is None
    b = at["budget"]
    assert b["max_pairs"] is None and b["time_budget_s"] == pp.TIME_BUDGET
    # the pairs within 5 km were counted for the estimate, which fits the budget
    tree = pp.cKDTree(xy)
    assert b["pairs"] == tree.count_neighbors(tree, 5_000.0) - len(xy) > 4e7
    assert b["estimated_s"] == pytest.approx(b["pairs"] * pp._K_SECONDS_PER_PAIR["isotropic"])
    assert b["estimated_s"] <= pp.TIME_BUDGET


@pytest.mark.slow
def test_k_default_equals_exact_on_a_15650_point_window():
    xy, win = _valley_15650()
    default = pp.ripley_k(xy, window=win)
    exact = pp.ripley_k(xy, window=win, time_budget=None)
    assert exact.attrs["exact"] and default.attrs["exact"]
    np.testing.assert_array_equal(default["K"], exact["K"])
    # a subsample (the old default) is off by a visible amount
    sub = pp.ripley_k(xy, window=win, max_pairs=5_000_000)
    assert sub.attrs["subsample"] is not None
    assert np.nanmax(np.abs(sub["K"][1:] / exact["K"][1:] - 1)) > 1e-3


def test_k_subsamples_beyond_the_time_budget(caplog, monkeypatch):
    pts = _k_case(3000)
    n = len(pts)
    r = np.linspace(0, 1500, 16)
    full = pp.ripley_k(pts, window=L_BIG, distances=r)
    assert full.attrs["exact"] and full.attrs["budget"]["pairs"] is None  # all pairs fit 0.5 s
    pairs = pp._pairs_within(pts, 1500.0)
    # a machine 10,000 times slower: the exact work no longer fits 10 s
    cost = 1e4 * pp._K_SECONDS_PER_PAIR["isotropic"]
    monkeypatch.setitem(pp._K_SECONDS_PER_PAIR, "isotropic", cost)
    with caplog.at_level(logging.WARNING, logger="geo.stats.pointpattern"):
        sub = pp.ripley_k(pts, window=L_BIG, distances=r, seed=2)
    at = sub.attrs
    assert at["budget"]["pairs"] == pairs
    assert at["budget"]["estimated_s"] == pytest.approx(pairs * cost) and pairs * cost > 10
    m = int(n * np.sqrt(10.0 / (pairs * cost)))
    assert at["subsample"] == m and not at["exact"]
    assert 0 < at["subsample_error"] < 0.05
    assert f"time_budget=10 s; analysed a random subsample of {m} points" in caplog.text
    ok = np.isfinite(full["L"]) & (full["r"] > 0)
    gap = np.max(np.abs(sub["L"][ok] - full["L"][ok]))
    assert 0 < gap <= 4 * at["subsample_error"] * sub["L"][ok].max()
    # time_budget=None: exact whatever the estimate
    again = pp.ripley_k(pts, window=L_BIG, distances=r, time_budget=None)
    assert again.attrs["exact"]
    np.testing.assert_array_equal(again["K"], full["K"])


def test_k_time_budget_counts_the_simulations(monkeypatch):
    pts = _k_case(600)
    r = np.linspace(0, 1000, 11)
    k0 = pp.ripley_k(pts, window=L_BIG, distances=r, correction="border")
    est0 = k0.attrs["budget"]["estimated_s"]
    # each CSR simulation adds the share pi r^2 / |W| of all pairs
    k = pp.ripley_k(pts, window=L_BIG, distances=r, correction="border", simulations=19)
    n = len(pts)
    share = np.pi * 1000.0**2 / L_BIG.area
    assert k.attrs["budget"]["estimated_s"] == pytest.approx(
        est0 + 19 * n * (n - 1) * share * pp._K_SECONDS_PER_PAIR["border"])


def test_kd_subsamples_beyond_the_time_budget(caplog, monkeypatch):
    xy, mask = _kd_case()  # 1,500 firms
    r = np.linspace(0, 8_000, 41)
    full = pp.kd(xy, sector=mask, distances=r, bandwidth=400.0, simulations=19, seed=1)
    assert full.exact and full.budget["estimated_s"] == pytest.approx(
        20 * 1500 * 1499 / 2 * pp._KD_SECONDS_PER_PAIR)
    monkeypatch.setattr(pp, "_KD_SECONDS_PER_PAIR", 1e-6)  # 1,000 times slower
    with caplog.at_level(logging.WARNING, logger="geo.stats.pointpattern"):
        sub = pp.kd(xy, sector=mask, distances=r, bandwidth=400.0, simulations=19, seed=1)
    # the most firms whose 20 curves and 5 error curves fit 10 s: m (m - 1) / 2 <= 10 / (25e-6)
    m = int((1 + np.sqrt(1 + 8 * 10.0 / 25e-6)) / 2)
    assert sub.subsample == m == 894 and not sub.exact
    assert sub.budget["estimated_s"] == pytest.approx(20 * 1500 * 1499 / 2 * 1e-6)
    assert 0 < sub.subsample_error < 0.1
    assert f"would take about 22.5 s > time_budget=10 s; analysed a random subsample of {m}" \
        in caplog.text
    top = full.curve["kd"].max()
    assert np.max(np.abs(sub.curve["kd"] - full.curve["kd"])) <= 4 * sub.subsample_error * top


def test_budget_errors():
    xy = np.random.default_rng(0).uniform(0, 1, (30, 2))
    mask = np.arange(30) < 12
    for bad in (0, -1.0, float("nan"), True, "10"):
        with pytest.raises(InputError, match="`time_budget` must be a positive number"):
            pp.ripley_k(xy, window=UNIT, time_budget=bad)
        with pytest.raises(InputError, match="`time_budget` must be a positive number"):
            pp.kd(xy, sector=mask, simulations=0, time_budget=bad)
    with pytest.raises(InputError, match="`max_sector` must be None or an int >= 10"):
        pp.kd(xy, sector=mask, simulations=0, max_sector=5)
