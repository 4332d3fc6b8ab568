"""Numba kernel (``cache=True``) of the global co-location quotient's random labelling.

The local quotient needs no kernel of its own: its conditional random labelling is the
neighbourhood-sum engine of :func:`geo.stats._kernels.local_perm_counts`.  The global
quotient relabels every point at once, which that engine does not do; this kernel does,
with the same per-permutation SplitMix64 streams (:func:`geo.stats._kernels._stream_start`,
exactly uniform bounded draws by :func:`geo.stats._kernels._bounded`), so the counts do
not depend on how the permutations are split among threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from geo.stats._kernels import _bounded, _stream_start

__all__ = ["global_clq_counts", "global_clq_range"]


@njit(cache=True, nogil=True)
def global_clq_range(indptr, indices, data, code, obs, tol, first, last, seed):
    """Tail counts of ``C = sum_i a_i sum_j w_ij b_j`` under random labelling, for the
    permutations ``first .. last - 1``.

    ``code[i]`` holds bit 0 = "point i is of category A" and bit 1 = "of category B";
    each permutation shuffles the codes over the points (Fisher-Yates, the permutation's
    own stream) and recomputes ``C``.  Returns the counts of ``C' >= obs - tol`` and
    ``C' <= obs + tol``.
    """
    n = code.shape[0]
    perm = code.copy()
    up = 0
    lo = 0
    for p in range(first, last):
        state = _stream_start(seed, p)
        for t in range(n):
            perm[t] = code[t]
        for t in range(n - 1, 0, -1):
            state, s = _bounded(state, t + 1)
            tmp = perm[t]
            perm[t] = perm[s]
            perm[s] = tmp
        c = 0.0
        for i in range(n):
            if perm[i] & 1:
                acc = 0.0
                for r in range(indptr[i], indptr[i + 1]):
                    if perm[indices[r]] & 2:
                        acc += data[r]
                c += acc
        if c >= obs - tol:
            up += 1
        if c <= obs + tol:
            lo += 1
    return up, lo


def global_clq_counts(indptr, indices, data, code, obs, tol, permutations, seed, threads=1):
    """:func:`global_clq_range` over all ``permutations``, split over ``threads`` threads
    (the kernel releases the GIL; the counts are integers, so any split gives the same)."""
    threads = max(1, min(int(threads), permutations))
    if threads == 1 or len(code) * permutations < 2_000_000:
        return global_clq_range(indptr, indices, data, code, obs, tol, 0, permutations, seed)
    from concurrent.futures import ThreadPoolExecutor
    from itertools import pairwise

    bounds = np.linspace(0, permutations, threads + 1).astype(np.int64)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        parts = list(pool.map(lambda ab: global_clq_range(indptr, indices, data, code, obs, tol, int(ab[0]), int(ab[1]), seed),
                              pairwise(bounds)))
    return sum(q[0] for q in parts), sum(q[1] for q in parts)
