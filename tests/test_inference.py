"""geo.stats._inference: every p-value and FDR adjustment, against its definition (by hand, scipy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from geo.errors import InputError
from geo.stats import _inference


def _fdr_bh_by_definition(p) -> np.ndarray:
    """Benjamini–Hochberg by its step-up definition, pair by pair (O(m²), no sorting):
    with ``r_j = #{k: p_k <= p_j}`` among the ``m`` non-missing p-values,
    ``p~_i = min(1, min over j with p_j >= p_i of m p_j / r_j)``; NaN stays NaN."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    pv = p[ok]
    m = pv.size
    if m == 0:
        return out
    at_most = pv[None, :] <= pv[:, None]  # [j, k]: p_k <= p_j
    step = pv * m / at_most.sum(axis=1)  # m p_j / r_j
    out[ok] = np.minimum(1.0, np.where(at_most.T, step[None, :], np.inf).min(axis=1))  # [i, j]: p_j >= p_i
    return out


def _random_p(rng: np.random.Generator, n: int, case: int) -> np.ndarray:
    p = rng.uniform(size=n) ** rng.uniform(0.2, 5.0)  # from mostly small to mostly large
    if case % 3 == 0:
        p = np.round(p, 2)  # many ties
    elif case % 3 == 1:
        p = (rng.integers(0, 1000, size=n) + 1.0) / 1000.0  # pseudo p-values of 999 permutations
    p[rng.uniform(size=n) < rng.uniform(0.0, 0.5)] = np.nan
    if case % 7 == 0 and n:
        p[: n // 2] = 1.0
    return p


@pytest.mark.parametrize("case", range(60))
def test_fdr_bh_equals_the_definition(case):
    rng = np.random.default_rng(case)
    n = int(rng.integers(0, 3000)) if case else 0
    p = _random_p(rng, n, case)
    new = _inference.fdr_bh(p)
    ref = _fdr_bh_by_definition(p)
    assert new.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(new), np.isnan(p))  # NaN in -> NaN out, nothing else NaN
    # p m / r (the definition) and p (m / r) (scipy) round differently: a couple of ulps at most
    np.testing.assert_allclose(new, ref, rtol=4 * np.finfo(float).eps, atol=0.0)


def test_fdr_bh_shapes_and_all_nan():
    rng = np.random.default_rng(1)
    p = _random_p(rng, 600, 2).reshape(20, 30)
    np.testing.assert_allclose(_inference.fdr_bh(p), _fdr_bh_by_definition(p), rtol=4 * np.finfo(float).eps)
    assert np.isnan(_inference.fdr_bh(np.full(5, np.nan))).all()
    assert _inference.fdr_bh(np.array([])).shape == (0,)
    assert _inference.fdr_bh(np.array([0.3])).tolist() == [0.3]


def test_fdr_bh_non_missing_adjusted_among_themselves():
    rng = np.random.default_rng(2)
    p = _random_p(rng, 1000, 4)
    ok = ~np.isnan(p)
    np.testing.assert_array_equal(_inference.fdr_bh(p)[ok],
                                  scipy.stats.false_discovery_control(p[ok], method="bh"))


def test_fdr_bh_hand_example_with_nan_and_ties():
    p = np.array([0.02, np.nan, 0.02, 0.5, 0.001])
    # the m = 4 non-missing, sorted: 0.001, 0.02, 0.02, 0.5
    # m p / j: 0.004, 0.04, 0.0266.., 0.5; running minimum from the top: 0.004, 0.0266.., 0.0266.., 0.5
    out = _inference.fdr_bh(p)
    np.testing.assert_allclose(out, [0.08 / 3, np.nan, 0.08 / 3, 0.5, 0.004], rtol=1e-15)
    assert out[0] == out[2]  # ties get one adjusted value


def test_fdr_bh_rejects_what_is_not_a_p_value():
    with pytest.raises(InputError, match=r"p-values must lie in \[0, 1\].*1 do not, e.g. 1.5"):
        _inference.fdr_bh([0.1, 1.5, np.nan])
    with pytest.raises(InputError, match="Pass p-values, not statistics"):
        _inference.fdr_bh([-0.2, 0.5])


def test_pseudo_tails_are_the_old_arithmetic():
    rng = np.random.default_rng(3)
    up = rng.integers(0, 1000, size=500)
    lo = rng.integers(0, 1000, size=500)
    pu, pl = _inference.pseudo_tails(up, lo, 999)
    r1 = 999 + 1.0
    np.testing.assert_array_equal(pu, (up + 1.0) / r1)
    np.testing.assert_array_equal(pl, (lo + 1.0) / r1)


@pytest.mark.parametrize("seed", range(20))
def test_simulated_p_is_the_old_placement_and_envelope_arithmetic(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 400))
    sims = np.round(rng.normal(size=k), int(rng.integers(1, 4)))  # ties with the observed value
    obs = float(sims[0]) if seed % 2 else float(rng.normal())
    tol = 1e-9 * max(1.0, abs(obs))
    # geo.parks.overlay placement test and geo.stats.pointpattern global envelope until a73c496
    assert _inference.simulated_p(obs, sims, alternative="greater", tol=tol) == (np.sum(sims >= obs - tol) + 1) / (k + 1)
    assert _inference.simulated_p(obs, sims, alternative="greater") == float((1 + np.sum(sims >= obs)) / (k + 1))
    up, lo = np.sum(sims >= obs), np.sum(sims <= obs)
    assert _inference.simulated_p(obs, sims) == _inference.pseudo_p(up, lo, k)
    assert _inference.simulated_p(obs, sims, alternative="less") == (lo + 1) / (k + 1)


def test_simulated_p_without_simulations_is_nan():
    assert math.isnan(_inference.simulated_p(1.0, np.array([]), alternative="greater"))
    with pytest.raises(InputError, match="`alternative` must be one of"):
        _inference.simulated_p(1.0, [0.0], alternative="up")


@pytest.mark.parametrize("x,N,K,n", [(20, 1000, 100, 50), (0, 500, 50, 10), (30, 200, 40, 30), (2, 20, 6, 5),
                                     (1, 10, 1, 1), (7, 60, 7, 7)])
def test_hypergeom_p_is_the_old_labelling_arithmetic(x, N, K, n):
    dist = scipy.stats.hypergeom(N, K, n)
    upper, lower = float(dist.sf(x - 1)), float(dist.cdf(x))
    assert _inference.hypergeom_p(x, N, K, n, alternative="greater") == upper
    assert _inference.hypergeom_p(x, N, K, n, alternative="less") == lower
    assert _inference.hypergeom_p(x, N, K, n) == min(1.0, 2 * min(upper, lower))
    # by hand: P(X >= x) = sum_k C(K,k) C(N-K, n-k) / C(N, n)
    hand = sum(math.comb(K, k) * math.comb(N - K, n - k) for k in range(x, min(n, K) + 1)) / math.comb(N, n)
    assert _inference.hypergeom_p(x, N, K, n, alternative="greater") == pytest.approx(hand, rel=1e-9)


def test_normal_p_is_the_old_rate_ratio_arithmetic():
    for z in (-3.1, -0.2, 0.0, 0.7, 1.959963984540054, 8.0):
        assert _inference.normal_p(z, "two-sided") == float(2 * scipy.stats.norm.sf(abs(z)))


def test_hypergeom_mid_p_by_hand():
    # N = 10, K = 4, n = 3: P(X = k) = C(4, k) C(6, 3 - k) / C(10, 3) = (20, 60, 36, 4) / 120
    assert _inference.hypergeom_p(2, 10, 4, 3, alternative="greater", mid_p=True) == pytest.approx((4 + 36 / 2) / 120, rel=1e-12)
    assert _inference.hypergeom_p(2, 10, 4, 3, alternative="less", mid_p=True) == pytest.approx((20 + 60 + 36 / 2) / 120, rel=1e-12)
    assert _inference.hypergeom_p(2, 10, 4, 3, mid_p=True) == pytest.approx(2 * 22 / 120, rel=1e-12)
    # the exact p counts the observed value whole
    assert _inference.hypergeom_p(2, 10, 4, 3, alternative="greater") == pytest.approx(40 / 120, rel=1e-12)


@pytest.mark.parametrize("N,K,n", [(10, 4, 3), (500, 60, 80), (2000, 300, 25), (40, 1, 7)])
def test_hypergeom_mid_p_has_mean_one_half_under_the_null(N, K, n):
    # closed forms: the two one-sided mid-p values of any count add up to 1, and under the
    # null the mid-p has mean exactly 1/2 (as a uniform p-value; the exact p's mean is larger)
    xs = range(max(0, n - (N - K)), min(n, K) + 1)
    pmf = {x: math.comb(K, x) * math.comb(N - K, n - x) / math.comb(N, n) for x in xs}
    up = {x: _inference.hypergeom_p(x, N, K, n, alternative="greater", mid_p=True) for x in xs}
    lo = {x: _inference.hypergeom_p(x, N, K, n, alternative="less", mid_p=True) for x in xs}
    assert all(up[x] + lo[x] == pytest.approx(1.0, abs=1e-12) for x in xs)
    assert sum(pmf[x] * up[x] for x in xs) == pytest.approx(0.5, abs=1e-12)
    exact = sum(pmf[x] * _inference.hypergeom_p(x, N, K, n, alternative="greater") for x in xs)
    assert exact == pytest.approx(0.5 + 0.5 * sum(p * p for p in pmf.values()), abs=1e-12)


def test_normal_p_equals_scipys_normal_distribution_bit_for_bit():
    # normal_p calls scipy.special.ndtr itself; scipy.stats.norm (with its argument checks)
    # is the reference, at tails, zero, infinities and NaN
    z = np.r_[np.linspace(-40, 40, 2001), [0.0, -0.0, 1e-300, np.inf, -np.inf, np.nan]]
    want = {"two-sided": np.minimum(2.0 * scipy.stats.norm.sf(np.abs(z)), 1.0),
            "greater": scipy.stats.norm.sf(z), "less": scipy.stats.norm.cdf(z)}
    for alternative, p in want.items():
        assert np.array_equal(_inference.normal_p(z, alternative), p, equal_nan=True)
    assert np.isnan(_inference.normal_p(np.nan)) and isinstance(_inference.normal_p(2.0), float)


def test_method_names_share_one_string():
    names = _inference.method_names(5, "exact")
    assert names.dtype == object and names.tolist() == ["exact"] * 5
    assert len({id(v) for v in names}) == 1 and len(_inference.method_names(0, "mc")) == 0
