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


def test_kd_default_max_sector_subsamples_and_reports_error(caplog):
    rng = np.random.default_rng(3)
    xy = np.vstack([rng.uniform(0, 20_000, (4000, 2)),
                    np.array([6_000.0, 7_000.0]) + rng.normal(0, 800, (2000, 2))])
    mask = np.zeros(len(xy), bool)
    mask[rng.choice(4000, 1000, replace=False)] = True
    mask[4000 + rng.choice(2000, 1400, replace=False)] = True  # 2,400 firms, partly clustered
    r = np.linspace(0, 10_000, 51)
    with caplog.at_level(logging.INFO, logger="geo.stats.pointpattern"):
        sub = pp.kd(xy, sector=mask, distances=r, bandwidth=400.0, simulations=0, seed=0)
    assert sub.subsample == 2000 and sub.n_sector == 2400
    assert "subsample of 2000 of 2400 sector firms" in sub.notes
    assert "max_sector=2000" in caplog.text
    # the error estimate is reported, positive and small (< 5 % of the curve maximum)
    assert 0 < sub.subsample_error < 0.05
    # the subsampled curve estimates the full sector's (same bandwidth) within that error
    full = pp.kd(xy, sector=mask, distances=r, bandwidth=400.0, simulations=0, seed=0,
                 max_sector=2400)
    assert full.subsample is None
    top = sub.curve["kd"].max()
    gap = np.max(np.abs(sub.curve["kd"] - full.curve["kd"]))
    assert 0 < gap <= 4 * sub.subsample_error * top
    # deterministic with the seed
    again = pp.kd(xy, sector=mask, distances=r, bandwidth=400.0, simulations=0, seed=0)
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
    got = pp._kd_sectors(pts, sectors, simulations=19, seed=4)
    assert list(got) == list(sectors)
    for key, sector in sectors.items():
        if key == "few":
            with pytest.raises(StatisticsError, match="at least 10 firms") as err:
                pp.kd(pts, sector=sector, simulations=19, seed=4)
            assert isinstance(got[key], StatisticsError) and str(got[key]) == str(err.value)
            continue
        _same_kd(got[key], pp.kd(pts, sector=sector, simulations=19, seed=4))
    with pytest.raises(CRSError):  # a problem of the sites themselves is raised at once
        pp._kd_sectors(pts.set_crs(4326, allow_override=True), sectors, simulations=19)


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
        with pytest.raises(InputError, match="`max_pairs` must be an int"):
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
