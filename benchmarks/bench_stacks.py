"""Benchmark of stacked-geocode detection: the exact rule against find_stacks' radius rule.

Run by hand:  .venv/bin/python benchmarks/bench_stacks.py [--n 1000000] [--repeats 5]

Data (seeded): ``n`` firms in WGS84, uniform over a 30 km x 30 km city (Beijing), with
five exact stacks (3,000, 1,500, 800, 400 and 50 firms on one coordinate) and five
jittered stacks of 2,082 firms within 0.5 m of a centre: three on six coordinates each,
two with a coordinate per firm.

Timed, after one warm-up run each (the warm-up loads or compiles the numba kernels), in
interleaved rounds so that load from other processes hits all three alike:

* exact: the exact rule as ``read_firms`` ran it before ``find_stacks`` (``_stacked_groups`` below,
  rows sharing a coordinate rounded to 1e-7 degrees): the baseline;
* radius 5 m: ``geo.io._stacks.find_stacks(radius_m=5)``;
* radius 0: ``geo.io._stacks.find_stacks(radius_m=0)`` (the exact rule by the same code).

Prints the median (and range) wall time of ``repeats`` runs and the sites found.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from geo.io._stacks import M_PER_DEGREE, find_stacks

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line


def _stacked_groups(x: np.ndarray, y: np.ndarray, stacked_min: int) -> tuple[np.ndarray, int]:
    """The exact rule of geo.io.read_firms before find_stacks (kept here as the baseline)."""
    import pandas as pd

    ok = np.isfinite(x) & np.isfinite(y)
    hit = np.zeros(x.size, dtype=bool)
    if not ok.any():
        return hit, 0
    rx = np.round(x[ok], 7) + 0.0
    ry = np.round(y[ok], 7) + 0.0
    with np.errstate(over="ignore"):
        h = (rx.view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ ry.view(np.uint64)
    ordered = np.sort(h)
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    counts = np.diff(np.r_[starts, ordered.size])
    crowded = ordered[starts[counts >= stacked_min]]
    if crowded.size == 0:
        return hit, 0
    pos = np.minimum(np.searchsorted(crowded, h), crowded.size - 1)
    cand = np.flatnonzero(crowded[pos] == h)
    group, _ = pd.factorize(rx[cand] + 1j * ry[cand])
    size = np.bincount(group)
    keep = size[group] >= stacked_min
    hit[np.flatnonzero(ok)[cand[keep]]] = True
    return hit, int(np.unique(group[keep]).size)


LON0, LAT0 = 116.4, 39.9
HALF_M = 15_000.0


def make_firms(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """lon, lat of ``n`` firms: uniform background, exact and jittered stacks (shuffled)."""
    rng = np.random.default_rng(seed)
    kx = M_PER_DEGREE * math.cos(math.radians(LAT0))
    x = rng.uniform(-HALF_M, HALF_M, n)
    y = rng.uniform(-HALF_M, HALF_M, n)
    at = 0
    for size in (3000, 1500, 800, 400, 50):
        x[at:at + size], y[at:at + size] = rng.uniform(-0.8 * HALF_M, 0.8 * HALF_M, 2)
        at += size
    for k in range(5):
        c = rng.uniform(-0.8 * HALF_M, 0.8 * HALF_M, 2)
        a = rng.uniform(0, 2 * np.pi, 2082)
        r = 0.5 * np.sqrt(rng.uniform(0, 1, 2082))
        jx, jy = r * np.cos(a), r * np.sin(a)
        if k < 3:  # six coordinates
            pick = rng.integers(0, 6, 2082)
            jx, jy = jx[:6][pick], jy[:6][pick]
        x[at:at + 2082], y[at:at + 2082] = c[0] + jx, c[1] + jy
        at += 2082
    perm = rng.permutation(n)
    return LON0 + x[perm] / kx, LAT0 + y[perm] / M_PER_DEGREE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    lon, lat = make_firms(args.n)
    runs = {
        "exact rule (baseline)": lambda: _stacked_groups(lon, lat, 10),
        "find_stacks radius 5 m": lambda: find_stacks(lon, lat, radius_m=5.0),
        "find_stacks radius 0": lambda: find_stacks(lon, lat, radius_m=0.0),
    }
    results = {name: f() for name, f in runs.items()}  # warm-up
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, f in runs.items():
            t = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t)

    print(f"{args.n:,} firms; {machine_line()}")
    base = statistics.median(times["exact rule (baseline)"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:28s} median {med * 1000:7.1f} ms  (range {min(ts) * 1000:.1f}-{max(ts) * 1000:.1f}; "
              f"{med / base:.2f} x exact) over {len(ts)} runs")
    hit, nsites = results["exact rule (baseline)"]
    print(f"exact rule: {nsites} sites, {int(hit.sum()):,} rows")
    for name in ("find_stacks radius 5 m", "find_stacks radius 0"):
        s = results[name].sites
        print(f"{name}: {len(s)} sites, {int(s['n'].sum()):,} rows; n = {s['n'].tolist()}; "
              f"largest spread {s['spread_m'].max():.2f} m")


if __name__ == "__main__":
    main()
