"""Numba kernel (``cache=True``) of the global co-location quotient's random labelling.

The local quotient needs no kernel of its own: its conditional random labelling is the
neighbourhood-sum engine of :func:`geo.stats._kernels.local_perm_counts`.  The global
quotient relabels every point at once, which that engine does not do; this kernel does,
with the same per-permutation shuffle as the global Moran kernel
(:func:`geo.stats._kernels._shuffle`: SplitMix64 streams, exactly uniform bounded draws), so
the counts do not depend on how the permutations are split among threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from geo.stats._kernels import _shuffle, split_permutations

__all__ = ["global_clq_counts", "global_clq_range"]


@njit(cache=True, nogil=True)
def global_clq_range(site, indptr, indices, inv_size, code, obs, tol, first, last, seed):
    """Tail counts of the global co-location numerator under random labelling, for the
    permutations ``first .. last - 1``.

    ``code[i]`` holds bit 0 = "point i is of category A" and bit 1 = "of category B";
    ``site[i]`` is the site (distinct coordinate) of point i, and the neighbouring sites of
    site ``s`` are ``indices[indptr[s]:indptr[s+1]]``.  Each permutation shuffles the codes
    over the points (Fisher-Yates, the permutation's own stream), counts ``A_s``, ``B_s``
    and ``AB_s`` (both) per site and recomputes

    ``C = sum_s (A_s (B_s + sum_t B_t) - AB_s) / size_s``

    (each A point sees the other B points of its site and all those of the neighbouring
    sites), in O(n + site edges).  Returns the counts of ``C' >= obs - tol`` and
    ``C' <= obs + tol``.
    """
    n = code.shape[0]
    n_sites = inv_size.shape[0]
    perm = code.copy()
    a_s = np.zeros(n_sites, dtype=np.int64)
    b_s = np.zeros(n_sites, dtype=np.int64)
    ab_s = np.zeros(n_sites, dtype=np.int64)
    up = 0
    lo = 0
    for p in range(first, last):
        _shuffle(perm, code, seed, p)
        a_s[:] = 0
        b_s[:] = 0
        ab_s[:] = 0
        for t in range(n):
            c = perm[t]
            s = site[t]
            a_s[s] += c & 1
            b_s[s] += (c >> 1) & 1
            ab_s[s] += c == 3
        total = 0.0
        for s in range(n_sites):
            if a_s[s] == 0:
                continue
            nb = b_s[s]
            for r in range(indptr[s], indptr[s + 1]):
                nb += b_s[indices[r]]
            total += (a_s[s] * nb - ab_s[s]) * inv_size[s]
        if total >= obs - tol:
            up += 1
        if total <= obs + tol:
            lo += 1
    return up, lo


def global_clq_counts(site, indptr, indices, inv_size, code, obs, tol, permutations, seed, threads=1):
    """:func:`global_clq_range` over all ``permutations``, split over ``threads`` threads
    (:func:`geo.stats._kernels.split_permutations`; the counts are integers, so any split
    gives the same)."""
    return split_permutations(
        lambda first, last: global_clq_range(site, indptr, indices, inv_size, code, obs, tol, first, last, seed),
        permutations, len(code), threads,
    )
