"""Compiled helpers (``@njit(cache=True)``) that several numba kernel modules call.

The binary searches of :mod:`geo.io._stacks`, :mod:`geo.parks._kernels` and
:mod:`geo.stats._kd_kernels`, written out once (``np.searchsorted`` in a kernel, or a
closure, costs seconds to compile).  Numba caches each function on disk on its own, so the
kernel modules keep their caches; a kernel that calls these links their compiled code in.

Numba does not track a cached kernel's calls into other modules: after editing a function
here, clear the ``__pycache__`` of the kernel modules (or set ``NUMBA_CACHE_DIR`` to an
empty folder) so that they are compiled again.
"""

from __future__ import annotations

from numba import njit

__all__ = ["search_left", "search_right"]


@njit(cache=True)
def search_left(a, lo, hi, v):
    """``lo + np.searchsorted(a[lo:hi], v, "left")``: the first k in [lo, hi) with a[k] >= v."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def search_right(a, lo, hi, v):
    """``lo + np.searchsorted(a[lo:hi], v, "right")``: the first k in [lo, hi) with a[k] > v."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] <= v:
            lo = mid + 1
        else:
            hi = mid
    return lo
