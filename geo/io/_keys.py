"""Row keys of the firm table: float bits, the hash that combines them, a geocode's place.

One definition each, for the in-memory reader (:mod:`geo.io.firms`, :mod:`geo.io._text`),
the stacked-geocode search (:mod:`geo.io._stacks`) and the dask engine
(:mod:`geo.pipeline.dask_engine`), so both engines key rows alike.  numpy only: the dask
workers import it without numba.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GOLDEN", "PLACE_DECIMALS", "float_bits", "mix", "place", "place_hash"]

#: the bits every NaN is keyed by (there are many NaN bit patterns)
_NAN_BITS = np.array([np.nan]).view(np.uint64)[0]

#: 2**64 / golden ratio, odd: the multiplier of Fibonacci hashing
GOLDEN = np.uint64(0x9E3779B97F4A7C15)

#: decimals of the coordinate rounding of the exact stacked-geocode rule (1e-7 degrees, ~1 cm)
PLACE_DECIMALS = 7


def float_bits(values: np.ndarray) -> np.ndarray:
    """uint64 bits of floats, every NaN the same: equal keys <=> equal values (NaN equal to NaN)."""
    bits = values.view(np.uint64).copy()
    bits[np.isnan(values)] = _NAN_BITS
    return bits


def mix(h: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """``(h * GOLDEN) ^ bits`` modulo 2**64: one uint64 key from a key so far and the next field's."""
    with np.errstate(over="ignore"):
        return (h * GOLDEN) ^ bits


def place(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates rounded to 1e-7 degrees, ``-0.0`` made ``0.0``: equal at one place.

    Rows whose rounded coordinates are equal share a place under the exact stacked-geocode
    rule (:func:`geo.io._stacks.find_stacks` at radius 0).
    """
    return np.round(lon, PLACE_DECIMALS) + 0.0, np.round(lat, PLACE_DECIMALS) + 0.0


def place_hash(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """A uint64 per row, equal for rows at one :func:`place` (collisions possible)."""
    rx, ry = place(lon, lat)
    return mix(rx.view(np.uint64), ry.view(np.uint64))
