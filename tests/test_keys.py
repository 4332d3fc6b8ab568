"""geo.io._keys: the row keys both engines share, against the copies they replaced."""

from __future__ import annotations

import numpy as np

from geo.io import _keys
from geo.io._text import _col_key, _Floats

_OLD_NAN_BITS = np.array([np.nan]).view(np.int64)[0]
_OLD_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _values(rng: np.random.Generator, n: int = 5000) -> np.ndarray:
    v = rng.normal(0, 1e3, n)
    v[rng.uniform(size=n) < 0.1] = np.nan
    v[rng.uniform(size=n) < 0.05] = -0.0
    v[:3] = [np.inf, -np.inf, 0.0]
    v[3] = np.frombuffer(np.uint64(0x7FF8000000000001).tobytes(), dtype=np.float64)[0]  # another NaN
    return v


def test_float_bits_equal_the_old_copies():
    v = _values(np.random.default_rng(0))
    old_firms = v.view(np.uint64).copy()  # geo.io.firms._float_bits until a73c496
    old_firms[np.isnan(v)] = np.uint64(_OLD_NAN_BITS)
    old_text = v.view(np.int64).copy()  # geo.io._text._col_key of floats until a73c496
    old_text[np.isnan(v)] = _OLD_NAN_BITS
    bits = _keys.float_bits(v)
    assert bits.dtype == np.uint64 and np.array_equal(bits, old_firms)
    key = _col_key(_Floats(v))
    assert key.dtype == np.int64 and np.array_equal(key, old_text)
    assert len(np.unique(bits[np.isnan(v)])) == 1  # every NaN one key


def test_mix_and_place_hash_equal_the_old_copies():
    rng = np.random.default_rng(1)
    lon = np.round(rng.uniform(113.9, 114.6, 20_000), rng.integers(4, 9))
    lat = np.round(rng.uniform(30.3, 30.8, 20_000), 6)
    lon[:50] = -0.0
    lat[50:100] = 0.0
    # geo.pipeline.dask_engine._rounded and _pair_hash until a73c496
    rx, ry = np.round(lon, 7) + 0.0, np.round(lat, 7) + 0.0
    with np.errstate(over="ignore"):
        old = (rx.view(np.uint64) * _OLD_GOLDEN) ^ ry.view(np.uint64)
    px, py = _keys.place(lon, lat)
    assert np.array_equal(px.view(np.uint64), rx.view(np.uint64)) and np.array_equal(py.view(np.uint64), ry.view(np.uint64))
    assert not np.signbit(px[:50]).any()  # -0.0 and 0.0 are one place
    assert np.array_equal(_keys.place_hash(lon, lat), old)
    h = _keys.float_bits(lon)
    with np.errstate(over="ignore"):
        assert np.array_equal(_keys.mix(h, _keys.float_bits(lat)), (h * _OLD_GOLDEN) ^ _keys.float_bits(lat))
