"""Numba kernels (``cache=True``) of the spatial statistics engine, nothing else.

Everything here works on plain arrays: the CSR arrays of a weights matrix (``indptr``,
``indices``, ``data``; diagonal removed), float64 data vectors and integer seeds.  The
statistics, their conventions and all p-values are assembled in :mod:`geo.stats.autocorr` and
:mod:`geo.stats._inference`.

Random numbers
--------------
The kernels carry their own generator so that results are reproducible bit for bit
whatever the number of threads: every focal cell ``i`` (and every global permutation
``p``) gets its own SplitMix64 stream whose starting state is a hash of the 63-bit base
seed and ``i``.  Draws are therefore independent across cells (not one shared
permutation reused for every cell, as in esda) and do not depend on how cells are split
among threads (the local kernel releases the GIL; :mod:`geo.stats.autocorr` runs chunks of
cells in a thread pool).  Bounded integers use Lemire's multiply-and-reject method, so they
are exactly uniform.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "local_perm_counts",
    "global_perm_counts",
    "global_perm_range",
    "split_permutations",
    "sum_pmf_without_replacement",
    "mann_kendall_sums",
]

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S32 = np.uint64(32)
_MASK32 = np.uint64(0xFFFFFFFF)
_TWO32 = np.uint64(1) << np.uint64(32)


@njit(cache=True)
def _mix(z):
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit(cache=True)
def _stream_start(seed, i):
    """Starting state of the SplitMix64 stream of item ``i`` under base ``seed``."""
    return _mix(np.uint64(seed) ^ _mix(np.uint64(i) * _GAMMA + _GAMMA))


@njit(cache=True)
def _bounded(state, m):
    """Advance ``state`` and draw an exactly uniform integer in ``[0, m)`` (m < 2**32).

    Returns ``(new_state, value)``.
    """
    mm = np.uint64(m)
    while True:
        state = state + _GAMMA
        r = _mix(state) >> _S32
        prod = r * mm
        low = prod & _MASK32
        if low >= mm:
            return state, np.int64(prod >> _S32)
        threshold = (_TWO32 - mm) % mm
        if low >= threshold:
            return state, np.int64(prod >> _S32)


@njit(cache=True)
def _shuffle(out, src, seed, p):
    """Write into ``out`` the Fisher-Yates shuffle of ``src`` drawn from the stream of permutation ``p``.

    Any starting order gives a uniform permutation, but starting from ``src`` (not from the
    previous permutation) makes each permutation depend on its own stream only, so ranges of
    permutations can run in threads and give the same results whatever the split.
    :mod:`geo.stats._clq_kernels` calls it too: after editing it, clear that module's numba
    cache (its ``__pycache__``), which does not track calls into other modules.
    """
    state = _stream_start(seed, p)
    n = src.shape[0]
    for a in range(n):
        out[a] = src[a]
    for a in range(n - 1, 0, -1):
        state, b = _bounded(state, a + 1)
        tmp = out[a]
        out[a] = out[b]
        out[b] = tmp


@njit(cache=True, nogil=True)
def local_perm_counts(indptr, indices, data, x, cells, equal, tol, permutations, seed, upper, lower):
    """Conditional-randomisation tail counts of the neighbourhood sum of ``cells``.

    For focal cell ``i`` with ``k_i`` neighbours, each permutation draws ``k_i``
    distinct cells uniformly from the other ``n - 1`` (``x_i`` stays in place) and
    assigns their values to the neighbour weights in draw order.  The permuted
    neighbourhood sum ``S'`` (unweighted when ``equal[i]``, so integer data give exact
    integer sums) is compared with the observed ``S``:

    ``upper = #{S' >= S - tol_i}``, ``lower = #{S' <= S + tol_i}``

    so ties count as "as extreme" on both sides.  Results are written into ``upper`` and
    ``lower`` (aligned to ``cells``); nothing of size n x permutations is kept.  The GIL
    is released, so callers may run disjoint chunks of ``cells`` in threads; each cell's
    stream depends only on ``seed`` and ``i``, so results do not depend on the chunking.
    """
    n = x.shape[0]
    m = cells.shape[0]
    mark = np.zeros(n, dtype=np.int64)
    stamp = 0
    for t in range(m):
        i = cells[t]
        start = indptr[i]
        k = indptr[i + 1] - start
        if k == 0 or k >= n:
            upper[t] = permutations
            lower[t] = permutations
            continue
        eq = equal[i]
        obs = 0.0
        for p in range(start, start + k):
            if eq:
                obs += x[indices[p]]
            else:
                obs += data[p] * x[indices[p]]
        tol_i = tol[i]
        state = _stream_start(seed, i)
        up = 0
        lo = 0
        for _ in range(permutations):
            stamp += 1
            s = 0.0
            for q in range(k):
                while True:
                    state, j = _bounded(state, n - 1)
                    if j >= i:
                        j += 1
                    if mark[j] != stamp:
                        mark[j] = stamp
                        break
                if eq:
                    s += x[j]
                else:
                    s += data[start + q] * x[j]
            if s >= obs - tol_i:
                up += 1
            if s <= obs + tol_i:
                lo += 1
        upper[t] = up
        lower[t] = lo


@njit(cache=True, nogil=True)
def global_perm_range(indptr, indices, data, z, obs, tol, first, last, seed):
    """Tail counts of the global cross-product ``Q = sum_ij w_ij z_i z_j`` under full
    permutation of ``z``, for permutations ``first .. last - 1`` (each has its own seeded
    stream, so ranges can run in threads -- the GIL is released -- and the counts do not
    depend on the split).

    Returns ``(upper, lower, sum_q, sum_q2)``: counts of ``Q' >= Q - tol`` and
    ``Q' <= Q + tol`` and the first two moments of ``Q'``.
    """
    n = z.shape[0]
    up = 0
    lo = 0
    s1 = 0.0
    s2 = 0.0
    zp = z.copy()
    for p in range(first, last):
        _shuffle(zp, z, seed, p)
        q = 0.0
        for i in range(n):
            acc = 0.0
            for r in range(indptr[i], indptr[i + 1]):
                acc += data[r] * zp[indices[r]]
            q += zp[i] * acc
        if q >= obs - tol:
            up += 1
        if q <= obs + tol:
            lo += 1
        s1 += q
        s2 += q * q
    return up, lo, s1, s2


def split_permutations(run, permutations: int, n: int, threads: int) -> tuple:
    """``run(first, last)`` over the permutations ``0 .. permutations - 1``, split into
    ``threads`` consecutive ranges run in a thread pool (the range kernels release the GIL)
    when there is enough work (``n * permutations`` of at least 2,000,000); the ranges'
    results are summed entry by entry, in range order.

    Every permutation has its own stream (:func:`_shuffle`), so integer counts are the same
    for any number of threads.
    """
    threads = max(1, min(int(threads), permutations))
    if threads == 1 or n * permutations < 2_000_000:
        return tuple(run(0, permutations))
    from concurrent.futures import ThreadPoolExecutor
    from itertools import pairwise

    bounds = np.linspace(0, permutations, threads + 1).astype(np.int64)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        parts = list(pool.map(lambda ab: run(int(ab[0]), int(ab[1])), pairwise(bounds)))
    return tuple(sum(entry) for entry in zip(*parts))


def global_perm_counts(indptr, indices, data, z, obs, tol, permutations, seed, threads=1):
    """:func:`global_perm_range` over all ``permutations``, split over ``threads`` threads
    (:func:`split_permutations`).

    The tail counts are integers, so the result is the same for any number of threads.
    """
    return split_permutations(
        lambda first, last: global_perm_range(indptr, indices, data, z, obs, tol, first, last, seed),
        permutations, len(z), threads,
    )


@njit(cache=True)
def _log_choose(a, b):
    return math.lgamma(a + 1.0) - math.lgamma(b + 1.0) - math.lgamma(a - b + 1.0)


@njit(cache=True)
def sum_pmf_without_replacement(values, counts, k):
    """Exact pmf of the sum of ``k`` values drawn without replacement.

    The urn holds ``counts[g]`` items of integer value ``values[g] >= 0``.  Groups are
    processed one at a time: with ``R`` items left in the urn and ``r`` still to draw,
    the number taken from a group of size ``c`` is hypergeometric,
    ``C(c, m) C(R - c, r - m) / C(R, r)``, and the rest is again a uniform draw from
    the remaining items.  All terms are probabilities (no overflow, no cancellation),
    so tail probabilities keep full relative precision.

    Returns an array ``pmf`` with ``pmf[s] = P(sum = s)`` for ``s = 0 .. k * max(values)``.
    """
    ng = values.shape[0]
    vmax = 0
    total = 0
    for g in range(ng):
        if values[g] > vmax:
            vmax = values[g]
        total += counts[g]
    smax = k * vmax
    # f[r, s]: probability that r items remain to be drawn and the sum so far is s
    f = np.zeros((k + 1, smax + 1))
    f[k, 0] = 1.0
    remaining = total
    reach = 0  # highest sum reached so far
    for g in range(ng):
        c = counts[g]
        v = values[g]
        if c == 0:
            continue
        rest = remaining - c
        new = np.zeros((k + 1, smax + 1))
        for r in range(k + 1):
            # probability of taking m of the r from this group
            lr = _log_choose(remaining, r)
            mlo = max(0, r - rest)
            mhi = min(c, r)
            for mm in range(mlo, mhi + 1):
                h = math.exp(_log_choose(c, mm) + _log_choose(rest, r - mm) - lr)
                if h == 0.0:
                    continue
                shift = mm * v
                for s in range(reach + 1):
                    val = f[r, s]
                    if val != 0.0:
                        new[r - mm, s + shift] += val * h
        f = new
        remaining = rest
        reach = min(smax, reach + min(c, k) * v)
    return f[0].copy()


@njit(cache=True, nogil=True)
def mann_kendall_sums(x, s, tie_var, tie_pairs):
    """Per row of ``x`` (float64, shape (m, T)): the Mann–Kendall score and the tie terms.

    ``s[r] = sum_{i<j} sign(x[r, j] - x[r, i])`` over the pairs of finite values;
    ``tie_var[r] = sum_g t_g (t_g - 1) (2 t_g + 5)`` and ``tie_pairs[r] = sum_g t_g (t_g - 1) / 2``
    over the groups of equal values (NaN equal to nothing).  Whole numbers, so the sums are
    exact in floating point whatever their order.
    """
    m, t = x.shape
    for r in range(m):
        acc = 0
        for i in range(t - 1):
            xi = x[r, i]
            if not np.isfinite(xi):
                continue
            for j in range(i + 1, t):
                xj = x[r, j]
                ok = np.isfinite(xj)
                acc += (ok & (xj > xi)) - (ok & (xj < xi))  # branch-free: the signs are random
        s[r] = acc
        srt = np.sort(x[r])  # NaN last
        tv = 0.0
        tp = 0.0
        g = 1.0
        for j in range(1, t + 1):
            if j < t and srt[j] == srt[j - 1]:
                g += 1.0
                continue
            if g > 1.0:
                tv += g * (g - 1.0) * (2.0 * g + 5.0)
                tp += g * (g - 1.0) / 2.0
            g = 1.0
        tie_var[r] = tv
        tie_pairs[r] = tp
