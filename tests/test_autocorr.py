"""Tests of geo.stats.autocorr and geo.stats._inference: statistics, moments, p-values, ties, exact
distributions, FDR, seeds, hot spots, incremental autocorrelation, errors."""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys
import textwrap
import warnings
from math import comb

import geopandas as gpd
import numba
import numpy as np
import pandas as pd
import pytest
import scipy.stats
import shapely
from libpysal.graph import Graph

from geo.errors import GraphError, InputError, StatisticsError
from geo.stats import _inference, _kernels, autocorr
from geo.stats.autocorr import (
    global_moran,
    hotspots,
    incremental_moran,
    local_g,
    local_moran,
)

warnings.filterwarnings("ignore", category=FutureWarning)


# ---------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------


def lattice(nx: int, ny: int, *, rook: bool = False) -> tuple[gpd.GeoDataFrame, Graph]:
    i, j = np.meshgrid(np.arange(nx), np.arange(ny))
    i, j = i.ravel(), j.ravel()
    cells = gpd.GeoDataFrame(
        {"i": i, "j": j}, geometry=shapely.box(i * 100.0, j * 100.0, (i + 1) * 100.0, (j + 1) * 100.0), crs=32650
    )
    return cells, Graph.build_contiguity(cells.geometry, rook=rook)


@pytest.fixture(scope="module")
def grid20():
    return lattice(20, 20)


@pytest.fixture(scope="module")
def continuous(grid20):
    cells, _ = grid20
    rng = np.random.default_rng(11)
    smooth = np.sin(cells["i"] / 3.0) + np.cos(cells["j"] / 4.0)
    return pd.Series(smooth + rng.normal(0, 0.8, len(cells)), index=cells.index, name="v")


@pytest.fixture(scope="module")
def zero_heavy(grid20):
    """Firm counts: a hot corner, a few scattered firms, mostly zeros."""
    cells, _ = grid20
    rng = np.random.default_rng(3)
    y = np.zeros(len(cells), dtype=np.int64)
    hot = ((cells["i"] < 5) & (cells["j"] < 5)).to_numpy()
    y[hot] = rng.poisson(4, hot.sum())
    y[rng.choice(len(cells), 30, replace=False)] += rng.poisson(1, 30)
    return pd.Series(y, index=cells.index, name="n_firms")


def esda_w(graph: Graph):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return graph.to_W()


# ---------------------------------------------------------------------------------------
# equality with esda: statistics and analytic moments
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("transform", ["r", "b"])
def test_global_moran_equals_esda(grid20, continuous, transform):
    import esda

    _, g = grid20
    ours = global_moran(continuous, g, permutations=0, transform=transform)
    ref = esda.Moran(continuous.to_numpy(), esda_w(g), transformation=transform, permutations=0)
    for name in ("I", "EI", "VI_norm", "VI_rand", "z_norm", "z_rand", "p_norm", "p_rand"):
        assert getattr(ours, name) == pytest.approx(getattr(ref, name), rel=1e-10, abs=1e-14), name
    assert ours.z == ours.z_rand
    assert ours.n == 400 and np.isnan(ours.p_sim)


def test_local_moran_equals_esda(grid20, continuous):
    import esda

    _, g = grid20
    n = len(continuous)
    ours = local_moran(continuous, g, permutations=0)
    ref = esda.Moran_Local(continuous.to_numpy(), esda_w(g), transformation="r", permutations=0)
    # convention: ours is Anselin/spdep I_i; esda's Is = I_i (n - 1) / n
    np.testing.assert_allclose(ours["I"], ref.Is * n / (n - 1), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours["EI"], ref.EI, rtol=1e-12)
    np.testing.assert_allclose(ours["VI"], ref.VI, rtol=1e-12)
    np.testing.assert_array_equal(ours["quadrant"], ref.q)
    np.testing.assert_allclose(ours["z"], (ours["I"] - ref.EI) / np.sqrt(ref.VI), rtol=1e-12)


@pytest.mark.parametrize("star", [True, False])
def test_local_g_binary_equals_esda(grid20, continuous, star):
    import esda

    _, g = grid20
    x = continuous - continuous.min() + 1.0
    ours = local_g(x, g, star=star, transform="b", permutations=0)
    ref = esda.G_Local(x.to_numpy(), esda_w(g), transform="B", star=star, permutations=0)
    np.testing.assert_allclose(ours["G"], ref.Gs, rtol=1e-12)
    np.testing.assert_allclose(ours["EG"], ref.EGs, rtol=1e-12)
    np.testing.assert_allclose(ours["VG"], ref.VGs, rtol=1e-9)
    np.testing.assert_allclose(ours["z"], ref.Zs, rtol=1e-9)
    # our p_norm is two-sided; esda's G p_norm is one-sided
    np.testing.assert_allclose(ours["p_norm"], np.minimum(1, 2 * ref.p_norm), rtol=1e-9)


def test_local_g_star_row_standardised_closed_form(grid20, continuous):
    import esda

    _, g = grid20
    x = (continuous - continuous.min() + 1.0).to_numpy()
    n = len(x)
    ours = local_g(pd.Series(x), g, star=True, transform="r", permutations=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # esda: "assuming self-weight = row max"
        ref = esda.G_Local(x, esda_w(g), transform="R", star=True, permutations=0)
    np.testing.assert_allclose(ours["G"], ref.Gs, rtol=1e-12)
    np.testing.assert_allclose(ours["EG"], ref.EGs, rtol=1e-12)
    # closed form: weights 1/(k_i + 1) on the k_i neighbours and the cell itself
    a = g.sparse.toarray()
    k = a.sum(axis=1)
    local_mean = (a @ x + x) / (k + 1)
    s = x.std()  # population standard deviation
    w_i, s1_i = 1.0, 1.0 / (k + 1)
    z = (local_mean - x.mean() * w_i) / (s * np.sqrt((n * s1_i - w_i**2) / (n - 1)))
    np.testing.assert_allclose(ours["z"], z, rtol=1e-10)
    vg = s**2 * (n * s1_i - 1) / ((n - 1) * n**2 * x.mean() ** 2)
    np.testing.assert_allclose(ours["VG"], vg, rtol=1e-10)
    # esda's analytic z assumes binary weights and is wrong here
    assert not np.allclose(ref.Zs, z, rtol=1e-3)


def test_g_star_row_standardised_moments_by_simulation():
    """E[G*] and V[G*] under total randomisation, by brute-force permutation."""
    _, g = lattice(8, 8)
    rng = np.random.default_rng(5)
    x = rng.gamma(2.0, 1.0, 64)
    res = local_g(pd.Series(x), g, star=True, transform="r", permutations=0)
    a = g.sparse.toarray()
    w = (a + np.eye(64)) / (a.sum(axis=1) + 1)[:, None]
    perms = np.array([rng.permutation(x) for _ in range(40_000)])
    sims = perms @ w.T / x.sum()  # G*_i for every permutation
    for i in (0, 9, 27):
        assert sims[:, i].mean() == pytest.approx(res["EG"].iloc[i], rel=0.01)
        assert sims[:, i].var() == pytest.approx(res["VG"].iloc[i], rel=0.05)


def test_local_moran_moments_by_simulation():
    """EI and VI are the moments of the returned I_i under total randomisation."""
    _, g = lattice(6, 6)
    rng = np.random.default_rng(9)
    y = rng.normal(size=36) ** 2
    res = local_moran(pd.Series(y), g, permutations=0)
    a = g.sparse.toarray()
    w = a / a.sum(axis=1)[:, None]
    perms = np.array([rng.permutation(y) for _ in range(60_000)])
    z = perms - y.mean()
    m2 = (z**2).mean(axis=1, keepdims=True)
    sims = z * (z @ w.T) / m2
    for i in (0, 7, 14):
        assert sims[:, i].mean() == pytest.approx(res["EI"].iloc[i], abs=0.01)
        assert sims[:, i].var() == pytest.approx(res["VI"].iloc[i], rel=0.05)


# ---------------------------------------------------------------------------------------
# hand-computed 3 x 3 rook lattice, y = 1..9 (row by row)
# ---------------------------------------------------------------------------------------


def _three_by_three():
    _, g = lattice(3, 3, rook=True)
    y = np.arange(1.0, 10.0)  # cell (i, j) = j * 3 + i  ->  y = 1 + index
    d = autocorr._Data(y=y, index=pd.RangeIndex(9), pos=np.arange(9), name="y")
    return g, d


def test_hand_computed_global_moran_3x3():
    g, d = _three_by_three()
    w = autocorr._weights(g, "b")
    st = autocorr._global_stats(d.y, autocorr._w_matrix(w))
    # z = y - 5 = -4..4; sum z^2 = 60; 12 rook edges, S0 = 24
    # horizontal edges: 12 + 6 + 0 + 0 + 6 + 12 = 36; vertical: 4 - 2 + 0 + 0 - 2 + 4 = 4
    # sum_ij w_ij z_i z_j = 2 * 40 = 80  ->  I = 9 / 24 * 80 / 60
    assert st["I"] == pytest.approx(9 / 24 * 80 / 60)  # 0.5
    assert st["EI"] == pytest.approx(-1 / 8)
    # S1 = 1/2 * 24 * 2^2 = 48; S2 = 4*(2*2)^2 + 4*(2*3)^2 + (2*4)^2 = 272
    vi_norm = (81 * 48 - 9 * 272 + 3 * 24**2) / (8 * 10 * 24**2) - (1 / 8) ** 2
    assert st["VI_norm"] == pytest.approx(vi_norm)  # 0.053125
    assert st["VI_norm"] == pytest.approx(0.053125)


def test_hand_computed_local_moran_3x3():
    g, d = _three_by_three()
    w = autocorr._weights(g, "r")
    tails = autocorr._conditional_tails(d.y, w, 0, 0, False)
    res = autocorr._local_moran_frame(d, w, tails, 0, 0, "two-sided", True, 0.05, False)
    m2 = 60 / 9
    # corner 0 (z = -4), neighbours 1 (z = -3) and 3 (z = -1): lag = -2
    assert res["I"].iloc[0] == pytest.approx(-4 * -2 / m2)  # 1.2
    # edge cell 1 (z = -3), neighbours 0, 2, 4 (z = -4, -2, 0): lag = -2
    assert res["I"].iloc[1] == pytest.approx(-3 * -2 / m2)  # 0.9
    # centre (z = 0): I = 0
    assert res["I"].iloc[4] == pytest.approx(0.0)
    # moments of the corner: w_i = 1, w_i(2) = 1/2, b2 = m4 / m2^2 = (708/9) / (60/9)^2 = 1.77
    b2 = (708 / 9) / m2**2
    assert b2 == pytest.approx(1.77)
    vi = 0.5 * (9 - b2) / 8 + (1 - 0.5) * (2 * b2 - 9) / (8 * 7) - 1 / 64
    assert res["EI"].iloc[0] == pytest.approx(-1 / 8)
    assert res["VI"].iloc[0] == pytest.approx(vi)  # 0.3875
    assert res["VI"].iloc[0] == pytest.approx(0.3875)
    assert res["z"].iloc[0] == pytest.approx((1.2 + 1 / 8) / math.sqrt(0.3875))
    assert res["quadrant"].iloc[0] == 3 and res["quadrant"].iloc[8] == 1


def test_hand_computed_gi_star_3x3():
    g, d = _three_by_three()
    w = autocorr._weights(g, "b", self_weight="star")
    tails = autocorr._conditional_tails(d.y, w, 0, 0, False)
    res = autocorr._local_g_frame(d, w, tails, True, 0, 0, "two-sided", True, 0.05, False)
    # corner 0: itself + neighbours 1, 3: y = 1 + 2 + 4 = 7; W = S1 = 3; total 45; mean 5
    s = math.sqrt(60 / 9)
    assert res["G"].iloc[0] == pytest.approx(7 / 45)
    assert res["EG"].iloc[0] == pytest.approx(3 / 9)
    assert res["z"].iloc[0] == pytest.approx((7 - 5 * 3) / (s * math.sqrt((9 * 3 - 3**2) / 8)))
    # centre 4: itself + 1, 3, 5, 7: 5 + 2 + 4 + 6 + 8 = 25 = mean * W -> z = 0
    assert res["G"].iloc[4] == pytest.approx(25 / 45)
    assert res["z"].iloc[4] == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------------------------------
# permutation p-values: esda equivalence, ties, exact distributions, seeds
# ---------------------------------------------------------------------------------------

_ESDA_SCRIPT = textwrap.dedent(
    """
    import sys, warnings
    import numpy as np
    warnings.filterwarnings("ignore")
    import esda, esda.crand
    esda.crand.boolean = np.bool_  # esda's pure-Python path (NUMBA_DISABLE_JIT=1)
    from libpysal.graph import Graph
    d = np.load(sys.argv[1])
    g = Graph.from_arrays(d["focal"], d["neighbor"], d["weight"])
    w = g.to_W()
    lm = esda.Moran_Local(d["y"], w, transformation="r", permutations=999, seed=7, n_jobs=1)
    lg = esda.G_Local(d["x"], w, transform="B", star=True, permutations=999, seed=7, n_jobs=1)
    np.savez(sys.argv[2], lisa=lm.p_sim, g=lg.p_sim)
    """
)


def test_permutation_p_equivalent_to_esda(grid20, continuous, tmp_path):
    """Continuous data: our two-sided p_sim vs esda's folded p_sim (one-sided in the
    direction of the statistic, so two-sided = 2 x) — same share significant within MC
    error.  esda runs in a subprocess without JIT (its JIT costs ~30 s per process)."""
    _, g = grid20
    x = continuous - continuous.min() + 1.0
    adj = g.adjacency.reset_index()
    np.savez(
        tmp_path / "in.npz", focal=adj["focal"].to_numpy(), neighbor=adj["neighbor"].to_numpy(),
        weight=adj["weight"].to_numpy(), y=continuous.to_numpy(), x=x.to_numpy(),
    )
    script = tmp_path / "run_esda.py"
    script.write_text(_ESDA_SCRIPT)
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    subprocess.run(
        [sys.executable, str(script), str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
        check=True, env=env, capture_output=True, timeout=120,
    )
    ref = np.load(tmp_path / "out.npz")
    lm = local_moran(continuous, g, permutations=999, seed=1)
    lg = local_g(x, g, permutations=999, seed=1)
    assert set(lm["p_method"]) == {"mc"} and set(lg["p_method"]) == {"mc"}
    n = len(continuous)
    for ours, theirs in ((lm["p_sim"].to_numpy(), ref["lisa"]), (lg["p_sim"].to_numpy(), ref["g"])):
        theirs2 = np.minimum(1.0, 2 * theirs)
        share_o, share_e = (ours <= 0.05).mean(), (theirs2 <= 0.05).mean()
        # Monte Carlo error of the share: per-cell p has sd <= sqrt(0.05 * 0.95 / 999) * 2
        assert share_o > 0.05  # the data are clustered: a meaningful comparison
        assert abs(share_o - share_e) <= 3 * math.sqrt(2 * share_e * (1 - share_e) / n)
        assert np.abs(ours - theirs2).mean() < 0.02
        assert np.corrcoef(ours, theirs2)[0, 1] > 0.99


def _zero_neighbourhoods(g: Graph, y: pd.Series) -> np.ndarray:
    return ((y.to_numpy() == 0) & (g.sparse @ y.to_numpy() == 0))


@pytest.mark.parametrize("exact", ["auto", False])
def test_zero_cell_with_zero_neighbourhood_is_not_significant(grid20, zero_heavy, exact):
    """Ties: an all-zero neighbourhood around a zero cell is as extreme as every permuted
    neighbourhood that is also all zero; it must not be significant (esda's G_Local marks
    such cells p = 0.001 because floating-point noise puts the ties on one side)."""
    _, g = grid20
    y = zero_heavy
    zero_nb = _zero_neighbourhoods(g, y)
    assert zero_nb.sum() > 100
    n = len(y)
    n0 = int((y == 0).sum())
    k = g.cardinalities.to_numpy()
    # exact: P(T <= 0) = P(all k neighbours drawn from the other n0 - 1 zeros), P(T >= 0) = 1
    p_lower = np.array([comb(n0 - 1, kk) / comb(n - 1, kk) for kk in k])
    p_expected = np.minimum(1.0, 2 * p_lower)
    lm = local_moran(y, g, exact=exact, seed=2)
    lg = local_g(y, g, exact=exact, seed=2)
    for res in (lm, lg):
        p = res["p_sim"].to_numpy()
        assert p[zero_nb].min() > 0.5
        if exact == "auto":
            assert set(res["p_method"]) == {"exact"}
            np.testing.assert_allclose(p[zero_nb], p_expected[zero_nb], rtol=1e-10)
        else:
            assert np.abs(p[zero_nb] - p_expected[zero_nb]).max() < 5 * 2 * math.sqrt(0.25 / 999) + 0.01
    assert (lm["label"].to_numpy()[zero_nb] == "ns").all()
    assert (lg["bin"].to_numpy()[zero_nb] == 0).all()
    # the hot corner is found: its interior cells are hot spots (99 % with exact p-values;
    # 999 permutations cannot give p < 0.002, so after FDR over 400 cells only 95 %)
    cells, _ = grid20
    corner = (cells["i"].between(1, 3) & cells["j"].between(1, 3)).to_numpy()
    assert (lg["bin"].to_numpy()[corner] == (3 if exact == "auto" else 2)).all()


def test_ties_with_float_data_use_relative_tolerance(grid20, zero_heavy):
    """The same counts scaled to non-integers: zero neighbourhoods are still ties."""
    _, g = grid20
    y = zero_heavy * 0.1 + 0.0
    zero_nb = _zero_neighbourhoods(g, zero_heavy)
    res = local_g(y, g, seed=2)
    assert set(res["p_method"]) == {"mc"}
    assert res["p_sim"].to_numpy()[zero_nb].min() > 0.5


def test_sum_pmf_without_replacement_matches_enumeration():
    values = np.array([0, 1, 3, 4])
    counts = np.array([5, 2, 3, 1])
    urn = np.repeat(values, counts)
    for k in (1, 3, 5):
        pmf = _kernels.sum_pmf_without_replacement(values, counts, k)
        brute = np.zeros(k * 4 + 1)
        combos = list(itertools.combinations(range(len(urn)), k))
        for c in combos:
            brute[urn[list(c)].sum()] += 1
        np.testing.assert_allclose(pmf, brute / len(combos), atol=1e-15)


def test_convolution_paths_agree():
    rng = np.random.default_rng(0)
    p = rng.random(40)
    p /= p.sum()
    ref = p.copy()
    for _ in range(5):
        ref = np.convolve(ref, p)
    direct = _inference.convolve_power(p, 6)
    np.testing.assert_allclose(direct, ref, rtol=1e-12, atol=1e-300)
    # the FFT path (long supports) agrees in absolute terms
    old = _inference.DIRECT_CONV_MAX_LEN
    try:
        _inference.DIRECT_CONV_MAX_LEN = 10
        fft, used = _inference._wr_pmf(p, 6)
    finally:
        _inference.DIRECT_CONV_MAX_LEN = old
    assert used
    np.testing.assert_allclose(fft, ref, atol=1e-15)


def _tail_z(p_exact: np.ndarray, p_mc: np.ndarray, r: int) -> np.ndarray:
    """z-scores of Monte Carlo tails (count + 1)/(r + 1) around the exact tails."""
    expected = (p_exact * r + 1) / (r + 1)
    sd = np.sqrt(p_exact * (1 - p_exact) * r) / (r + 1)
    ok = sd > 0
    out = np.zeros_like(p_exact)
    out[ok] = (p_mc[ok] - expected[ok]) / sd[ok]
    # degenerate tails (p = 1) must match exactly
    assert np.allclose(p_mc[~ok], expected[~ok])
    return out


def _exact_vs_mc(nx: int, r: int, seed: int, expected_method: str) -> None:
    _, g = lattice(nx, nx)
    rng = np.random.default_rng(seed)
    y = rng.negative_binomial(0.4, 0.3, nx * nx).astype(float)
    w = autocorr._weights(g, "b")
    ex = autocorr._conditional_tails(y, w, 0, 0, "auto")
    assert set(ex.method) == {expected_method}
    mc = autocorr._conditional_tails(y, w, r, seed, False)
    assert set(mc.method) == {"mc"}
    for a, b in ((ex.p_upper, mc.p_upper), (ex.p_lower, mc.p_lower)):
        z = _tail_z(a, b, r)
        # max of ~2n roughly normal z-scores
        assert np.abs(z).max() < 5.0
        assert abs(z.mean()) < 0.2 and 0.7 < z.std() < 1.3


def test_exact_p_values_match_long_monte_carlo():
    """10 x 10 queen lattice of negative-binomial counts: exact (without replacement)
    tails vs 99,999 conditional permutations per cell."""
    _exact_vs_mc(10, 99_999, 4, "exact")


@pytest.mark.slow
def test_exact_p_values_match_long_monte_carlo_thorough():
    """20 x 20 lattice (exact DP) and 80 x 80 lattice (with-replacement approximation,
    n > 5000), 99,999 permutations per cell."""
    _exact_vs_mc(20, 99_999, 5, "exact")
    _exact_vs_mc(80, 99_999, 6, "exact_wr")


def test_exact_p_values_below_permutation_floor(grid20, zero_heavy):
    _, g = grid20
    lg = local_g(zero_heavy, g)
    # exact p-values resolve far below 1/1000, so FDR can reject
    assert lg["p_sim"].min() < 1e-6
    assert (lg["p_fdr"] <= 0.01).sum() >= 5


def test_exact_true_requires_integer_data(grid20, continuous):
    _, g = grid20
    with pytest.raises(StatisticsError, match="exact=True"):
        local_moran(continuous, g, exact=True)


def test_seeds_reproduce_bit_for_bit(grid20, continuous):
    _, g = grid20
    a = local_moran(continuous, g, permutations=199, seed=123)
    b = local_moran(continuous, g, permutations=199, seed=123)
    c = local_moran(continuous, g, permutations=199, seed=124)
    assert np.array_equal(a["p_sim"].to_numpy(), b["p_sim"].to_numpy())
    assert not np.array_equal(a["p_sim"].to_numpy(), c["p_sim"].to_numpy())
    # independent of the number of threads
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        d = local_moran(continuous, g, permutations=199, seed=123)
    finally:
        numba.set_num_threads(threads)
    assert np.array_equal(a["p_sim"].to_numpy(), d["p_sim"].to_numpy())
    g1 = global_moran(continuous, g, permutations=99, seed=5)
    g2 = global_moran(continuous, g, permutations=99, seed=5)
    assert g1 == g2
    # a Generator seed is accepted
    rng_res = local_moran(continuous, g, permutations=99, seed=np.random.default_rng(1))
    assert rng_res["p_sim"].notna().all()


def test_share_significant_varies_like_independent_tests(grid20, continuous):
    """Independent draws per cell: across seeds, the share of significant cells varies
    by about the Monte Carlo error of independent tests (shared draws inflate it)."""
    _, g = grid20
    seeds = range(30)
    sig = np.array([(local_moran(continuous, g, permutations=99, seed=s)["p_sim"] <= 0.05).to_numpy() for s in seeds])
    share = sig.mean(axis=1)
    pi = sig.mean(axis=0)
    predicted = (pi * (1 - pi)).sum() / sig.shape[1] ** 2 * len(seeds) / (len(seeds) - 1)
    assert 0.3 < share.var(ddof=1) / predicted < 2.5


def test_alternatives_are_consistent(grid20, zero_heavy, continuous):
    _, g = grid20
    for y, exact in ((zero_heavy, "auto"), (continuous, False)):
        two = local_g(y, g, seed=3, exact=exact)
        gt = local_g(y, g, seed=3, exact=exact, alternative="greater")
        lt = local_g(y, g, seed=3, exact=exact, alternative="less")
        np.testing.assert_allclose(two["p_sim"], np.minimum(1, 2 * np.minimum(gt["p_sim"], lt["p_sim"])))
        assert (gt["bin"] >= 0).all() and (lt["bin"] <= 0).all()
        np.testing.assert_allclose(gt["p_norm"], scipy.stats.norm.sf(two["z"]))
    m_two = local_moran(continuous, g, seed=3)
    m_gt = local_moran(continuous, g, seed=3, alternative="greater")
    m_lt = local_moran(continuous, g, seed=3, alternative="less")
    np.testing.assert_allclose(m_two["p_sim"], np.minimum(1, 2 * np.minimum(m_gt["p_sim"], m_lt["p_sim"])))
    # positive local autocorrelation (HH/LL) is what "greater" detects
    sig_gt = m_gt["p_sim"] <= 0.01
    assert (m_gt.loc[sig_gt, "I"] > m_gt.loc[sig_gt, "EI"]).all()


def test_global_moran_permutation_p(grid20, continuous):
    _, g = grid20
    gm = global_moran(continuous, g, permutations=999, seed=0)
    assert gm.z_rand > 5 and gm.p_sim == pytest.approx(2 / 1000)  # two-sided, nothing as extreme
    gm_gt = global_moran(continuous, g, permutations=999, seed=0, alternative="greater")
    assert gm_gt.p_sim == pytest.approx(1 / 1000)
    # white noise: p_sim roughly uniform -> not tiny
    noise = pd.Series(np.random.default_rng(2).normal(size=400))
    gn = global_moran(noise, g, permutations=999, seed=0)
    assert gn.p_sim > 0.01 and abs(gn.p_sim - gn.p_rand) < 0.1


# ---------------------------------------------------------------------------------------
# inference helpers
# ---------------------------------------------------------------------------------------


def test_fdr_bh_hand_example_and_scipy():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted 0.005, 0.01, 0.03, 0.04 -> m p / j = 0.02, 0.02, 0.04, 0.04 (then running min from the top)
    np.testing.assert_allclose(_inference.fdr_bh(p), [0.02, 0.04, 0.04, 0.02])
    p2 = np.array([0.5, 0.01, 0.2, 0.011])
    # sorted 0.01, 0.011, 0.2, 0.5 -> 0.04, 0.022, 0.2667, 0.5 -> min from top: 0.022, 0.022, 0.2667, 0.5
    np.testing.assert_allclose(_inference.fdr_bh(p2), [0.5, 0.022, 0.8 / 3, 0.022])
    rng = np.random.default_rng(0)
    pr = np.concatenate([rng.uniform(size=500), rng.uniform(0, 0.001, 50)])
    np.testing.assert_allclose(_inference.fdr_bh(pr), scipy.stats.false_discovery_control(pr, method="bh"))
    with_nan = np.array([0.01, np.nan, 0.04, 0.03, 0.005])
    out = _inference.fdr_bh(with_nan)
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2, 3, 4]], [0.02, 0.04, 0.04, 0.02])


def test_pseudo_p_convention():
    # 999 permutations, 10 at least as large, 990 at most as large (1 tie)
    assert _inference.pseudo_p(10, 990, 999) == pytest.approx(2 * 11 / 1000)
    assert _inference.pseudo_p(10, 990, 999, "greater") == pytest.approx(11 / 1000)
    assert _inference.pseudo_p(10, 990, 999, "less") == pytest.approx(991 / 1000)
    # all ties: p = 1
    assert _inference.pseudo_p(999, 999, 999) == 1.0
    assert _inference.normal_p(1.959963984540054) == pytest.approx(0.05)
    with pytest.raises(InputError, match="`alternative` must be one of"):
        _inference.normal_p(1.0, "both")


# ---------------------------------------------------------------------------------------
# hot spots, islands, alignment
# ---------------------------------------------------------------------------------------


def test_hotspots_columns_counts_and_consistency(grid20, zero_heavy):
    cells, g = grid20
    cells = cells.assign(n_firms=zero_heavy.to_numpy())
    cells.attrs["cell"] = "square"
    before = cells.copy()
    hot = hotspots(cells, "n_firms", graph=g, statistic="both", seed=4)
    pd.testing.assert_frame_equal(cells, before)
    for col in ("gi_G", "gi_z", "gi_p", "gi_p_fdr", "gi_bin", "lisa_I", "lisa_p", "lisa_p_fdr", "lisa_label"):
        assert col in hot.columns
    lg = local_g(cells["n_firms"], g, seed=4)
    lm = local_moran(cells["n_firms"], g, seed=4)
    np.testing.assert_allclose(hot["gi_z"], lg["z"])
    np.testing.assert_allclose(hot["gi_p"], lg["p_sim"])
    np.testing.assert_array_equal(hot["gi_bin"], lg["bin"])
    np.testing.assert_allclose(hot["lisa_p"], lm["p_sim"])
    np.testing.assert_array_equal(hot["lisa_label"], lm["label"])
    info = hot.attrs["hotspots"]
    assert hot.attrs["cell"] == "square"
    assert info["seed"] == 4 and info["permutations"] == 999 and info["column"] == "n_firms"
    sig = hot["gi_p_fdr"] <= 0.05
    assert info["n_hot"] == int((sig & (hot["gi_bin"] > 0)).sum()) > 0
    assert info["n_cold"] == int((sig & (hot["gi_bin"] < 0)).sum())
    assert info["lisa_labels"]["HH"] == int((hot["lisa_label"] == "HH").sum()) > 0


def test_hotspots_builds_queen_graph(grid20, zero_heavy):
    cells, g = grid20
    cells = cells.assign(n_firms=zero_heavy.to_numpy())
    a = hotspots(cells, "n_firms", seed=1)
    b = hotspots(cells, "n_firms", graph=g, seed=1)
    np.testing.assert_allclose(a["gi_p"], b["gi_p"])
    assert "lisa_I" not in a.columns
    with pytest.raises(Exception, match="`column` must be a column"):
        hotspots(cells, "n_jobs")


def test_islands_get_nan_and_ns():
    cells, _ = lattice(6, 6)
    extra = gpd.GeoDataFrame({"i": [99], "j": [99]}, geometry=[shapely.box(5000, 5000, 5100, 5100)], crs=32650)
    cells = pd.concat([cells, extra], ignore_index=True)
    from geo.cells.graph import weights

    g = weights(cells, kind="queen", islands="keep")
    y = pd.Series(np.random.default_rng(1).poisson(2, len(cells)))
    lm = local_moran(y, g, seed=0)
    lg = local_g(y, g, seed=0)
    assert lm["p_method"].iloc[-1] == "island" and np.isnan(lm["p_sim"].iloc[-1])
    assert lm["label"].iloc[-1] == "ns" and lg["bin"].iloc[-1] == 0
    assert lm["p_sim"].iloc[:-1].notna().all()


def test_output_aligned_to_y_index(grid20, continuous):
    _, g = grid20
    shuffled = continuous.sample(frac=1.0, random_state=3)
    a = local_g(continuous, g, seed=1, permutations=99)
    b = local_g(shuffled, g, seed=1, permutations=99)
    assert b.index.equals(shuffled.index)
    pd.testing.assert_frame_equal(a, b.loc[a.index], check_like=True)


# ---------------------------------------------------------------------------------------
# incremental spatial autocorrelation
# ---------------------------------------------------------------------------------------


def test_incremental_moran_matches_global_moran(grid20, continuous):
    cells, _ = grid20
    gdf = cells.assign(v=continuous.to_numpy())
    curve = incremental_moran(gdf, "v", n_bands=4)
    # lattice: start = increment = 100 m
    np.testing.assert_allclose(curve["distance"], [100.0, 200.0, 300.0, 400.0])
    for dist, row in zip(curve["distance"], curve.itertuples()):
        gd = Graph.build_distance_band(gdf.centroid, threshold=dist * (1 + 1e-9))
        ref = global_moran(gdf["v"], gd, permutations=0)
        assert row.I == pytest.approx(ref.I, rel=1e-10)
        assert row.z == pytest.approx(ref.z_rand, rel=1e-10)
        assert row.p == pytest.approx(ref.p_rand, rel=1e-8, abs=1e-300)
    assert curve.attrs["start"] == pytest.approx(100.0)


def test_peaks():
    assert autocorr._peaks([1.0, 3.0, 2.0, 5.0, 4.0]) == [1, 3]
    assert autocorr._peaks([1.0, 2.0, 3.0]) == []
    # stripes 4 cells (400 m) wide, period 800 m: z peaks at the stripe scale and again
    # past one period
    cells, _ = lattice(24, 24)
    v = np.where((cells["i"] // 4) % 2 == 0, 0.0, 5.0) + np.random.default_rng(0).normal(0, 1, len(cells))
    curve = incremental_moran(cells.assign(v=v), "v", distances=np.arange(1, 13) * 100.0)
    assert autocorr._peaks(curve["z"].to_numpy()) == [2, 10]
    assert curve.attrs["first_peak"] == 300.0 and curve.attrs["max_peak"] == 300.0
    assert curve.attrs["first_peak_z"] == pytest.approx(curve["z"].iloc[2])
    # no peak on a monotone curve
    flat = incremental_moran(cells.assign(v=cells["i"] * 1.0), "v", distances=[100.0, 200.0, 300.0])
    assert flat.attrs["first_peak"] is None and flat.attrs["max_peak"] is None


# ---------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------

_FUNCS = [
    pytest.param(lambda y, g: global_moran(y, g, permutations=0), id="global_moran"),
    pytest.param(lambda y, g: local_moran(y, g, permutations=0), id="local_moran"),
    pytest.param(lambda y, g: local_g(y, g, permutations=0), id="local_g"),
]


@pytest.mark.parametrize("func", _FUNCS)
def test_errors(func, grid20, continuous):
    _, g = grid20
    _, small = lattice(5, 5)
    with pytest.raises(StatisticsError, match="At least 30 cells"):
        func(pd.Series(np.arange(25.0)), small)
    with pytest.raises(StatisticsError, match="constant"):
        func(pd.Series(np.full(400, 3.0)), g)
    with_nan = continuous.copy()
    with_nan.iloc[5] = np.nan
    with pytest.raises(InputError, match="NaN"):
        func(with_nan, g)
    with pytest.raises(GraphError, match="do not match"):
        func(continuous.set_axis(continuous.index + 1000), g)
    with pytest.raises(GraphError, match="do not match"):
        func(continuous.iloc[:-1], g)
    with pytest.raises(GraphError, match="graph has 400 ids"):
        func(continuous.to_numpy()[:-1], g)
    with pytest.raises(GraphError, match="libpysal.graph.Graph"):
        func(continuous, esda_w(g))


def test_option_errors(grid20, continuous):
    _, g = grid20
    with pytest.raises(InputError, match="`alternative` must be one of"):
        local_moran(continuous, g, alternative="two")
    with pytest.raises(InputError, match="`permutations` must be"):
        local_moran(continuous, g, permutations=-1)
    with pytest.raises(InputError, match="`transform` must be one of"):
        local_g(continuous, g, transform="v")
    with pytest.raises(InputError, match="`exact` must be"):
        local_g(continuous, g, exact="yes")


def test_docstring_examples_run_with_their_shared_sections():
    """The statistics' shared sections (geo._docs) are filled in, and the examples they open run."""
    import doctest

    for f in (autocorr.global_moran, autocorr.local_moran, autocorr.local_g):
        assert "{" + "lattice}" not in f.__doc__ and ">>> sq = gpd.GeoSeries(shapely.box(" in f.__doc__
    assert "y : pandas.Series or array_like" in autocorr.local_moran.__doc__
    assert "geo.errors.GraphError" in autocorr.global_moran.__doc__
    result = doctest.testmod(autocorr, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 15 and result.failed == 0
