"""The one seed helper: every stochastic function normalises its ``seed`` here."""

from __future__ import annotations

import numpy as np

__all__ = ["check_seed", "seed_int", "seed_record"]


def check_seed(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` for ``seed``.

    Parameters
    ----------
    seed : int, numpy.random.Generator or None
        An int seeds a new PCG64 generator; a Generator is returned unchanged; None gives
        fresh OS entropy (not reproducible).  Global NumPy state is never touched.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.default_rng(seed)
    msg = f"`seed` must be an int, a numpy.random.Generator or None; {type(seed).__name__} was given."
    raise TypeError(msg)


def seed_record(seed: int | np.random.Generator | None) -> int | str | None:
    """The seed as results record it: the int given (a plain ``int``), None, or ``"Generator"``
    for a Generator (its state is not a number worth recording).

    Examples
    --------
    >>> seed_record(np.int64(7)), seed_record(None), seed_record(np.random.default_rng(1))
    (7, None, 'Generator')
    """
    if seed is None:
        return None
    return int(seed) if isinstance(seed, (int, np.integer)) else "Generator"


def seed_int(seed: int | np.random.Generator | None) -> int:
    """Draw a 63-bit integer seed (for numba kernels) from ``seed``."""
    return int(check_seed(seed).integers(0, 2**63 - 1))
