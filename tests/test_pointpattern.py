"""Tests of geo.stats.pointpattern: Ripley K/L, Duranton–Overman Kd, Marcon–Puech M.

References: pointpats (K, L without edge correction), closed forms (E K = pi r^2 under CSR,
the fraction of a circle inside a rectangle), shapely (circle fractions in a polygon with a
hole), hand-computed small examples, and the exact pairwise Kd.
"""

from __future__ import annotations

import logging
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pointpats
import pytest
import shapely

from geo.errors import ColumnError, CRSError, InputError, StatisticsError
from geo.stats import _kd_kernels
from geo.stats import pointpattern as pp

UNIT = shapely.box(0.0, 0.0, 1.0, 1.0)
L_SHAPE = shapely.Polygon([(0, 0), (10, 0), (10, 4), (4, 4), (4, 10), (0, 10)],
                          holes=[[(1, 1), (2, 1), (2, 2), (1, 2)]])


def _uniform_in(window, n, rng):
    return pp._csr(window, n, rng)


# --------------------------------------------------------------------------------------
# Ripley's K
# --------------------------------------------------------------------------------------


def test_k_none_matches_pointpats():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 1000, size=(120, 2))
    r = np.linspace(0, 250, 26) + 0.123  # avoid ties with pair distances (d < r vs d <= r)
    bbox = shapely.box(*xy.min(axis=0), *xy.max(axis=0))
    ours = pp.ripley_k(xy, window=bbox, distances=r, correction="none")
    _, k_pp = pointpats.k(xy, support=r)
    _, l_pp = pointpats.l(xy, support=r)
    n = len(xy)
    # pointpats uses lambda^2 = n^2 / A^2, we use n (n - 1) / A^2
    np.testing.assert_allclose(ours["K"] * (n - 1) / n, k_pp, rtol=1e-12)
    np.testing.assert_allclose(ours["L"] * math.sqrt((n - 1) / n), l_pp, rtol=1e-12)


def test_k_hand_computed_line():
    # 10 points 1 m apart on a line, far from the edges of a 200 m square window
    xy = np.column_stack([np.arange(10.0), np.zeros(10)])
    win = shapely.box(-100, -100, 100, 100)
    area = 200.0 * 200.0
    for corr in ("none", "border", "isotropic"):
        k = pp.ripley_k(xy, window=win, distances=[0.5, 1.0, 2.0], correction=corr)
        # ordered pairs within r: 0; 2 * 9 neighbours at 1 m; 2 * (9 + 8) within 2 m
        np.testing.assert_allclose(k["K"], [0.0, area * 18 / 90, area * 34 / 90])
        np.testing.assert_allclose(k["L"], np.sqrt(k["K"] / math.pi))
        np.testing.assert_allclose(k["K_csr"], math.pi * np.array([0.25, 1.0, 4.0]))


def _rect_fraction(x, y, r, w=1.0, h=1.0):
    """Closed form: fraction of the circle inside [0, w] x [0, h], for r < min(w, h) / 2."""
    d = [x, w - x, y, h - y]  # left, right, bottom, top
    a = [math.acos(min(di / r, 1.0)) for di in d]
    outside = 2 * sum(a)
    for i, j in ((0, 2), (0, 3), (1, 2), (1, 3)):  # corners: overlapping outside arcs
        outside -= max(0.0, a[i] + a[j] - math.pi / 2)
    return 1.0 - outside / (2 * math.pi)


def test_circle_fraction_rectangle_closed_form():
    rng = np.random.default_rng(3)
    c = rng.uniform(0, 1, size=(300, 2))
    r = rng.uniform(0.01, 0.49, size=300)
    got = _kd_kernels.circle_fractions(c[:, 0].copy(), c[:, 1].copy(), r, *pp._edges(UNIT))
    want = [_rect_fraction(x, y, rr) for (x, y), rr in zip(c, r)]
    np.testing.assert_allclose(got, want, atol=1e-12)
    # a hand case: centre at a corner-free edge midpoint, r small: half the circle inside
    half = _kd_kernels.circle_fractions(np.array([0.5]), np.array([0.0]), np.array([0.1]),
                                        *pp._edges(UNIT))
    assert half[0] == pytest.approx(0.5)


@pytest.mark.parametrize("tree", [False, True], ids=["every-edge", "edge-tree"])
def test_circle_fraction_polygon_with_hole_matches_shapely(tree):
    """The one circle-fraction kernel, over the one-leaf tree (every edge) and over the edge
    tree, against the length of a 4,096-gon ring inside the window (shapely)."""
    rng = np.random.default_rng(1)
    c = _uniform_in(L_SHAPE, 120, rng)
    r = rng.uniform(0.1, 6.0, size=len(c))
    got = _kd_kernels.circle_fractions(c[:, 0].copy(), c[:, 1].copy(), r, *pp._edges(L_SHAPE),
                                       tree=tree)
    ring = shapely.buffer(shapely.points(c), r, quad_segs=1024)
    want = shapely.length(shapely.intersection(shapely.get_exterior_ring(ring), L_SHAPE))
    np.testing.assert_allclose(got, want / (2 * np.pi * r), atol=1e-5)


@pytest.mark.parametrize("window", [UNIT, L_SHAPE], ids=["square", "L-with-hole"])
def test_isotropic_k_unbiased_under_csr(window):
    rng = np.random.default_rng(11)
    scale = math.sqrt(window.area)
    r = np.linspace(0.02, 0.25, 8) * scale
    ks = np.array([pp.ripley_k(_uniform_in(window, 40, rng), window=window, distances=r)["K"]
                   for _ in range(150)])
    mean = ks.mean(axis=0)
    se = ks.std(axis=0, ddof=1) / math.sqrt(len(ks))
    z = (mean - np.pi * r**2) / se
    assert np.all(np.abs(z) < 4), z
    # and the uncorrected estimator is visibly biased low at the largest r
    k_none = np.array([pp.ripley_k(_uniform_in(window, 40, rng), window=window, distances=r,
                                   correction="none")["K"] for _ in range(50)])
    assert k_none.mean(axis=0)[-1] < 0.9 * np.pi * r[-1] ** 2


def test_border_k_unbiased_under_csr():
    rng = np.random.default_rng(5)
    r = np.linspace(0.02, 0.2, 6)
    ks = np.array([pp.ripley_k(rng.uniform(0, 1, (60, 2)), window=UNIT, distances=r,
                               correction="border")["K"] for _ in range(150)])
    z = (ks.mean(axis=0) - np.pi * r**2) / (ks.std(axis=0, ddof=1) / math.sqrt(len(ks)))
    assert np.all(np.abs(z) < 4), z


def test_k_envelopes_and_global_test():
    rng = np.random.default_rng(2)
    r = np.linspace(0, 0.2, 21)
    # strongly clustered: 10 tight clusters of 8
    centres = rng.uniform(0.15, 0.85, size=(10, 2))
    clustered = np.clip(np.repeat(centres, 8, axis=0) + rng.normal(0, 0.01, (80, 2)), 0, 1)
    k = pp.ripley_k(clustered, window=UNIT, distances=r, simulations=39, seed=4)
    assert {"lo", "hi", "global_lo", "global_hi", "L_global_hi"} <= set(k.columns)
    assert k.attrs["p_value"] == pytest.approx(1 / 40)
    assert (k["L"] > k["L_global_hi"]).any()
    assert (k["K"] > k["hi"]).iloc[1:8].all()
    assert k.attrs["pointwise_level"] == pytest.approx(2 / 40)
    np.testing.assert_allclose(k["L_lo"], np.sqrt(k["lo"] / np.pi))
    # consistency of the global envelope and its p-value, on CSR patterns
    for s in range(6):
        xy = rng.uniform(0, 1, (60, 2))
        k = pp.ripley_k(xy, window=UNIT, distances=r, simulations=39, seed=s)
        p = k.attrs["p_value"]
        assert 1 / 40 <= p <= 1
        pos = k["r"] > 0
        outside = ((k["L"] < k["L_global_lo"]) | (k["L"] > k["L_global_hi"]))[pos].any()
        assert outside == (p <= 0.05)
        assert (k["global_lo"] <= k["global_hi"]).all()
    # seeded: same seed, same envelope; the caller's window is left as it was
    win = shapely.box(0.0, 0.0, 1.0, 1.0)
    a = pp.ripley_k(xy, window=win, distances=r, simulations=19, seed=9)
    assert not shapely.is_prepared(win)
    b = pp.ripley_k(xy, window=UNIT, distances=r, simulations=19, seed=9)
    pd.testing.assert_frame_equal(a, b)


def test_k_default_window_and_distances_are_stated():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 500, (50, 2))
    k = pp.ripley_k(xy)
    hull = shapely.convex_hull(shapely.multipoints(xy))
    assert k.attrs["window"] == "convex hull of the points"
    assert k.attrs["window_area"] == pytest.approx(hull.area)
    xmin, ymin, xmax, ymax = hull.bounds
    assert k["r"].iloc[-1] == pytest.approx(0.25 * min(xmax - xmin, ymax - ymin))


def test_k_geodataframe_input_and_crs_errors():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 1000, (30, 2))
    gdf = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=32650)
    win = shapely.box(0, 0, 1000, 1000)
    a = pp.ripley_k(gdf, window=win, distances=[10, 100])
    b = pp.ripley_k(xy, window=win, distances=[10, 100])
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(CRSError, match="to_metric"):
        pp.ripley_k(gdf.set_crs(4326, allow_override=True), window=win)
    with pytest.raises(CRSError, match="no CRS"):
        pp.ripley_k(gdf.set_crs(None, allow_override=True), window=win)
    with pytest.raises(CRSError, match="differs"):
        pp.ripley_k(gdf, window=gpd.GeoSeries([win], crs=32651))


def test_k_input_errors():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 1, (30, 2))
    with pytest.raises(StatisticsError, match="at least 10 points"):
        pp.ripley_k(xy[:9], window=UNIT)
    with pytest.raises(InputError, match="outside `window`"):
        pp.ripley_k(xy + 5, window=UNIT)
    with pytest.raises(InputError, match="correction"):
        pp.ripley_k(xy, window=UNIT, correction="ripley")
    with pytest.raises(InputError, match="at least 19 simulations"):
        pp.ripley_k(xy, window=UNIT, simulations=10)
    with pytest.raises(InputError, match="strictly increasing"):
        pp.ripley_k(xy, window=UNIT, distances=[0.2, 0.1])
    with pytest.raises(InputError, match=r"shape \(n, 2\)"):
        pp.ripley_k(np.zeros((12, 3)))
    # pointwise-only envelopes are fine with few simulations
    k = pp.ripley_k(xy, window=UNIT, simulations=5, envelope="pointwise")
    assert "lo" in k and "global_hi" not in k


# --------------------------------------------------------------------------------------
# Duranton–Overman Kd
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sites():
    """2,000 firm sites in a 20 km square: 1,500 uniform, 500 in a 600 m blob."""
    rng = np.random.default_rng(42)
    uni = rng.uniform(0, 20_000, (1500, 2))
    blob = np.array([5_000.0, 5_000.0]) + rng.normal(0, 600, (500, 2))
    xy = np.vstack([uni, blob])
    sector = np.array(["other"] * 2000, dtype=object)
    sector[1500:1620] = "lasers"  # 120 firms of the blob: localised
    sector[rng.choice(1500, 150, replace=False)] = "optics"  # 150 uniform firms
    emp = rng.integers(1, 200, 2000).astype(float)
    return gpd.GeoDataFrame({"sector": sector, "emp": emp},
                            geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=32650)


def test_kd_exact_reference_by_hand():
    # right triangle: pair distances 3, 4, 5; h = 1; evaluate at d = 4
    xy = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])

    def f(u):
        return math.exp(-u * u / 2) / math.sqrt(2 * math.pi)

    want = (f(4 - 3) + f(4 + 3) + f(4 - 4) + f(4 + 4) + f(4 - 5) + f(4 + 5)) / (3 * 1.0)
    assert pp._kd_exact(xy, np.array([4.0]), 1.0)[0] == pytest.approx(want)
    # weighted: w = (1, 2, 3): pairs (0,1)=3 w2, (0,2)=4 w3, (1,2)=5 w6
    want_w = (2 * (f(1) + f(7)) + 3 * (f(0) + f(8)) + 6 * (f(-1) + f(9))) / (11 * 1.0)
    got_w = pp._kd_exact(xy, np.array([4.0]), 1.0, weights=np.array([1.0, 2.0, 3.0]))[0]
    assert got_w == pytest.approx(want_w)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("cells", [False, True])
def test_kd_binned_matches_exact(sites, weighted, cells):
    xy = shapely.get_coordinates(sites.geometry.values)
    mask = (sites["sector"] == "lasers").to_numpy() | (sites["sector"] == "optics").to_numpy()
    w = sites["emp"].to_numpy() if weighted else None
    res = pp.kd(sites, sector=mask, simulations=0, weights=w)
    r = res.curve["r"].to_numpy()
    exact = pp._kd_exact(xy[mask], r, res.bandwidth, None if w is None else w[mask])
    assert np.abs(res.curve["kd"].to_numpy() - exact).max() < 1e-5 * exact.max()
    # and the other pair-visiting strategy gives the same curve
    order = np.argsort(xy[:, 0], kind="stable")
    ws = None if w is None else w[order]
    idx = np.nonzero(mask[order])[0]
    pw = (0.5 * (ws[idx].sum() ** 2 - (ws[idx] ** 2).sum())) if weighted else \
        len(idx) * (len(idx) - 1) / 2
    eng = pp._KdEngine(np.ascontiguousarray(xy[order, 0]), np.ascontiguousarray(xy[order, 1]),
                       r, res.bandwidth, pw, use_cells=cells)
    curve = eng.curves(idx[None, :], None if ws is None else ws[idx][None, :])[0]
    assert np.abs(curve - exact).max() < 1e-5 * exact.max()


def test_kd_binned_matches_exact_small_bandwidth_and_short_grid(sites):
    # cell list chosen automatically when the reach is small against the extent
    xy = shapely.get_coordinates(sites.geometry.values)
    mask = (sites["sector"] == "optics").to_numpy()
    r = np.linspace(0, 2_000, 41)
    res = pp.kd(sites, sector="optics", distances=r, bandwidth=150.0, simulations=0)
    assert res.method == "cell list"
    exact = pp._kd_exact(xy[mask], r, 150.0)
    assert np.abs(res.curve["kd"].to_numpy() - exact).max() < 1e-5 * exact.max()


def test_kd_integrates_to_one_and_silverman(sites):
    xy = shapely.get_coordinates(sites.geometry.values)
    mask = (sites["sector"] == "optics").to_numpy()
    sub = xy[mask]
    iu, ju = np.triu_indices(len(sub), 1)
    d = np.hypot(*(sub[iu] - sub[ju]).T)
    q75, q25 = np.percentile(d, [75, 25])
    h = 0.9 * min(d.std(ddof=1), (q75 - q25) / 1.34) * len(d) ** -0.2
    r = np.linspace(0, d.max() + 8 * h, 4001)
    res = pp.kd(sites, sector="optics", distances=r, simulations=0)
    assert res.bandwidth == pytest.approx(h, rel=1e-3)
    total = np.trapezoid(res.curve["kd"], r)
    assert total == pytest.approx(1.0, abs=1e-4)


def test_kd_default_max_distance_is_median_site_distance(sites):
    xy = shapely.get_coordinates(sites.geometry.values)
    iu, ju = np.triu_indices(len(xy), 1)
    med = np.median(np.hypot(*(xy[iu] - xy[ju]).T))
    res = pp.kd(sites, sector="optics", simulations=0)
    assert res.max_distance == pytest.approx(med, rel=1e-3)
    assert res.curve["r"].iloc[-1] == pytest.approx(res.max_distance)
    assert len(res.curve) == 201


def test_kd_localised_cluster(sites):
    r = np.linspace(0, 8_000, 81)
    res = pp.kd(sites, sector="lasers", distances=r, simulations=199, seed=1)
    assert res.localised and res.localised[0][0] == 0.0
    assert res.gamma > 0 and res.psi == 0 and res.dispersed == []
    assert res.verdict.startswith("localised at distances 0–")
    assert f"Γ = {res.gamma:.3g}" in res.verdict
    c = res.curve
    assert (c["global_hi"] >= c["hi"]).all() and (c["global_lo"] <= c["lo"]).all()
    assert (c["lo"] <= c["hi"]).all()
    assert res.n_sector == 120 and res.n_sites == 2000 and res.simulations == 199
    expected_gamma = np.maximum(c["kd"] - c["global_hi"], 0).sum()
    assert res.gamma == pytest.approx(expected_gamma)
    # reproducible from the seed
    again = pp.kd(sites, sector="lasers", distances=r, simulations=199, seed=1)
    pd.testing.assert_frame_equal(res.curve, again.curve)
    other = pp.kd(sites, sector="lasers", distances=r, simulations=199, seed=2)
    assert not np.allclose(other.curve["hi"], res.curve["hi"])


def test_kd_dispersed_sector():
    # sites: dense uniform; sector: a regular lattice (no two firms closer than 2 km)
    rng = np.random.default_rng(3)
    uni = rng.uniform(0, 20_000, (3000, 2))
    g = np.arange(1_000.0, 20_000.0, 2_000.0)
    lattice = np.array([(a, b) for a in g for b in g])  # 100 firms
    xy = np.vstack([uni, lattice])
    mask = np.r_[np.zeros(3000, bool), np.ones(100, bool)]
    res = pp.kd(xy, sector=mask, distances=np.linspace(0, 6_000, 61), simulations=99,
                seed=0)
    assert not res.localised
    assert res.dispersed and res.dispersed[0][0] == 0.0
    assert res.psi > 0 and res.gamma == 0
    assert res.verdict.startswith("dispersed at distances 0–")


def test_do_global_band_by_brute_force():
    rng = np.random.default_rng(0)
    sims = rng.normal(size=(199, 30)).cumsum(axis=1)  # correlated curves
    allowed = math.floor(0.05 * 199)
    for upper in (True, False):
        band, _pct = pp._do_global_band(sims, 0.05, upper=upper)
        # brute force: the most inclusive k-th extreme band crossed by <= 5 % of the curves
        srt = np.sort(sims, axis=0)[::-1] if upper else np.sort(sims, axis=0)
        best = None
        for k in range(1, 200):
            b = srt[k - 1]
            crossed = ((sims > b) if upper else (sims < b)).any(axis=1).sum()
            if crossed <= allowed:
                best = b
        np.testing.assert_array_equal(band, best)
        crossed = ((sims > band) if upper else (sims < band)).any(axis=1).sum()
        assert 0 < crossed <= allowed


def test_kd_large_sector_subsample_is_logged(sites, caplog):
    r = np.linspace(0, 5_000, 26)
    with caplog.at_level(logging.INFO, logger="geo.stats.pointpattern"):
        res = pp.kd(sites, sector="optics", distances=r, simulations=19, seed=0,
                    max_sector=60)
    assert res.subsample == 60 and res.n_sector == 150
    assert 0 < res.subsample_error < 1
    assert "subsample" in caplog.text


def test_kd_label_and_mask_agree_and_gdf(sites):
    r = np.linspace(0, 5_000, 26)
    before = sites.copy()
    a = pp.kd(sites, sector="optics", distances=r, simulations=19, seed=3)
    pd.testing.assert_frame_equal(sites, before)
    xy = shapely.get_coordinates(sites.geometry.values)
    b = pp.kd(xy, sector=(sites["sector"] == "optics").to_numpy(), distances=r,
              simulations=19, seed=3)
    pd.testing.assert_frame_equal(a.curve, b.curve, check_like=True, check_exact=False)
    c = pp.kd(sites, sector="optics", distances=r, simulations=19, seed=3, weights="emp")
    assert c.weighted and not a.weighted


def test_kd_errors(sites):
    few = sites.copy()
    few.loc[few.index[:1500], "sector"] = "other"
    few.loc[few.index[:9], "sector"] = "tiny"
    with pytest.raises(StatisticsError, match="at least 10 firms"):
        pp.kd(few, sector="tiny")
    with pytest.raises(InputError, match="No firm has sector == 'biotech'; the most frequent values are: other"):
        pp.kd(sites, sector="biotech")
    with pytest.raises(ColumnError, match="'industry' is not a column"):
        pp.kd(sites, sector="optics", sector_column="industry")
    with pytest.raises(InputError, match="`sector` is required"):
        pp.kd(sites)
    with pytest.raises(CRSError, match="to_metric"):
        pp.kd(sites.set_crs(4326, allow_override=True), sector="optics")
    with pytest.raises(InputError, match="non-negative"):
        pp.kd(sites, sector="optics", weights=-sites["emp"].to_numpy())
    # a point with NaN coordinates (not empty to GEOS) is refused, not fed to the kernels
    nan = sites.copy()
    nan.loc[nan.index[3], "geometry"] = shapely.Point(np.nan, np.nan)
    with pytest.raises(InputError, match="NaN or infinite coordinates"):
        pp.kd(nan, sector="optics")
    empty = sites.copy()
    empty.loc[empty.index[3], "geometry"] = shapely.Point()
    with pytest.raises(InputError, match="1 of .* rows are missing, empty or not points"):
        pp.kd(empty, sector="optics")


# --------------------------------------------------------------------------------------
# Marcon–Puech M
# --------------------------------------------------------------------------------------


def _line():
    xy = np.column_stack([np.arange(20.0), np.zeros(20)])
    mask = np.arange(20) % 2 == 0  # sector A at x = 0, 2, ..., 18; others at 1, 3, ..., 19
    return xy, mask


def test_m_hand_computed():
    xy, mask = _line()
    m = pp.marcon_puech_m(xy, sector=mask, distances=[0.5, 1.0, 2.0], simulations=0)
    assert np.isnan(m["M"].iloc[0])  # no neighbour within 0.5 m
    assert m["M"].iloc[1] == 0.0  # within 1 m every neighbour of an A firm is a B firm
    # within 2 m: A at 0 sees B1, A2 -> 1/2; A at 2..16 see 2 B + 2 A -> 1/2; A at 18 -> 1/3
    num = 1 / 2 + 8 * (1 / 2) + 1 / 3
    den = 10 * (10 - 1) / (20 - 1)
    assert m["M"].iloc[2] == pytest.approx(num / den)


def test_m_weighted_hand_computed():
    xy, mask = _line()
    w = np.where(mask, 2.0, 1.0)  # A firms weigh 2, B firms 1: W_S = 20, W = 30
    m = pp.marcon_puech_m(xy, sector=mask, distances=[2.0], simulations=0, weights=w)
    # A at 0: (2)/(1 + 2); interior A: (2 + 2)/(1 + 1 + 2 + 2); A at 18: 2/(2 + 1 + 1)
    num = 2 / 3 + 8 * (4 / 6) + 2 / 4
    den = 10 * (20 - 2) / (30 - 2)
    assert m["M"].iloc[0] == pytest.approx(num / den)


def test_m_is_one_under_random_labelling():
    rng = np.random.default_rng(8)
    xy = rng.uniform(0, 1000, (400, 2))
    r = np.array([50.0, 100.0, 200.0])
    vals = []
    for _ in range(200):
        mask = np.zeros(400, bool)
        mask[rng.choice(400, 40, replace=False)] = True
        vals.append(pp.marcon_puech_m(xy, sector=mask, distances=r, simulations=0)["M"])
    vals = np.array(vals)
    z = (vals.mean(axis=0) - 1) / (vals.std(axis=0, ddof=1) / math.sqrt(len(vals)))
    assert np.all(np.abs(z) < 4), z


def test_m_envelope_and_cluster(sites):
    r = np.array([500.0, 1000.0, 2000.0, 4000.0])
    m = pp.marcon_puech_m(sites, sector="lasers", distances=r, simulations=99, seed=0)
    assert list(m.columns) == ["r", "M", "lo", "hi"]
    assert (m["M"] > m["hi"]).all()
    assert (m["lo"] <= 1).all() and (m["hi"] >= 1).all()
    rand = pp.marcon_puech_m(sites, sector="optics", distances=r, simulations=99, seed=0)
    assert (rand["lo"] < 1).all() and (rand["hi"] > 1).all()
    w = pp.marcon_puech_m(sites, sector="lasers", distances=r, simulations=19, seed=0,
                          weights="emp")
    assert w.attrs["weighted"] and (w["M"] > 1).all()


def test_m_errors(sites):
    xy, mask = _line()
    with pytest.raises(StatisticsError, match="at least 10 firms"):
        pp.marcon_puech_m(xy[:15], sector=mask[:15], distances=[1.0])
    with pytest.raises(InputError, match="strictly increasing"):
        pp.marcon_puech_m(xy, sector=mask, distances=[2.0, 1.0])
    with pytest.raises(InputError, match="boolean mask"):
        pp.marcon_puech_m(xy, sector="A", distances=[1.0])


# --------------------------------------------------------------------------------------
# size of the tests under their null hypotheses
# --------------------------------------------------------------------------------------


def _kd_rejection_counts(reps: int, seed: int) -> tuple[int, int]:
    rng = np.random.default_rng(seed)
    xy = np.vstack([rng.uniform(0, 10_000, (700, 2)),
                    np.array([3_000.0, 6_000.0]) + rng.normal(0, 500, (300, 2))])
    r = np.linspace(0, 4_000, 41)
    loc = disp = 0
    for k in range(reps):
        mask = np.zeros(len(xy), bool)
        mask[rng.choice(len(xy), 40, replace=False)] = True  # random location: H0 true
        res = pp.kd(xy, sector=mask, distances=r, simulations=99, seed=k)
        loc += bool(res.localised)
        disp += bool(res.dispersed)
    return loc, disp


def test_kd_size_under_random_location_fast():
    loc, disp = _kd_rejection_counts(30, 0)
    # nominal 5 % each; 30 draws: P(Bin(30, .05) > 6) < 0.001
    assert loc <= 6 and disp <= 6


@pytest.mark.slow
def test_kd_size_under_random_location():
    loc, disp = _kd_rejection_counts(300, 1)
    # P(Bin(300, .05) > 27) ~ 0.001 and P(< 5) ~ 0.001: bands neither liberal nor useless
    assert 5 <= loc <= 27
    assert disp <= 27


@pytest.mark.slow
def test_k_global_test_size_under_csr():
    rng = np.random.default_rng(12)
    r = np.linspace(0, 0.2, 11)
    ps = np.array([pp.ripley_k(rng.uniform(0, 1, (50, 2)), window=UNIT, distances=r,
                               simulations=39, seed=s).attrs["p_value"] for s in range(300)])
    # exact Monte Carlo test: P(p <= 0.05) = 2/40 = 0.05; P(Bin(300, .05) > 27) ~ 0.001
    assert 3 <= np.sum(ps <= 0.05) <= 27


def test_kd_result_documents_every_field():
    """Each field of KdResult is named in its docstring's Attributes (numpydoc ``name : type``)."""
    import dataclasses
    import inspect
    import re

    doc = inspect.getdoc(pp.KdResult).split("Attributes\n----------\n", 1)[1]
    documented = {name for line in re.findall(r"^(\w+(?:, \w+)*) :", doc, re.MULTILINE) for name in line.split(", ")}
    assert {f.name for f in dataclasses.fields(pp.KdResult)} == documented
