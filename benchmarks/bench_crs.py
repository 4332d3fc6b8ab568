"""Benchmark of the GCJ-02 / BD-09 conversions in geo.crs on 1,000,000 points.

Run by hand:  .venv/bin/python benchmarks/bench_crs.py [--n 1000000] [--repeats 5]

Prints the median wall time of ``repeats`` runs of each forward and inverse transform on
``n`` seeded random points in mainland China, the throughput, the ratio inverse/forward,
and the largest round-trip error in metres.  Results are recorded by hand in
docs/benchmarks.md ("Coordinate conversion").
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from geo.crs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_model as _cpu_model  # noqa: E402

EARTH_RADIUS_M = 6371008.8


def _haversine_m(lon1, lat1, lon2, lat2):
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    h = np.sin((lat2 - lat1) / 2) ** 2
    h = h + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(h))


def _median_seconds(func, lon, lat, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        func(lon, lat)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    lon = rng.uniform(73.5, 134.8, args.n)
    lat = rng.uniform(18.2, 53.5, args.n)
    gcj = wgs84_to_gcj02(lon, lat)
    bd_from_gcj = gcj02_to_bd09(lon, lat)
    bd = wgs84_to_bd09(lon, lat)

    cases = [
        ("wgs84_to_gcj02", "forward", wgs84_to_gcj02, (lon, lat), None),
        ("gcj02_to_wgs84", "inverse", gcj02_to_wgs84, gcj, (lon, lat)),
        ("gcj02_to_bd09", "forward", gcj02_to_bd09, (lon, lat), None),
        ("bd09_to_gcj02", "inverse", bd09_to_gcj02, bd_from_gcj, (lon, lat)),
        ("wgs84_to_bd09", "forward", wgs84_to_bd09, (lon, lat), None),
        ("bd09_to_wgs84", "inverse", bd09_to_wgs84, bd, (lon, lat)),
    ]
    print(f"# geo.crs benchmark: n={args.n:,} points, median of {args.repeats} runs")
    print(f"# CPU: {_cpu_model()}; nproc: {os.cpu_count()}; numpy {np.__version__}; "
          f"python {platform.python_version()}")
    print()
    print("| function | kind | median (s) | min (s) | Mpoints/s | vs forward "
          "| max round-trip error (m) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    forward_median = None
    for name, kind, func, (x, y), truth in cases:
        median, best = _median_seconds(func, x, y, args.repeats)
        if kind == "forward":
            forward_median = median
            ratio = "1.0"
            err = "—"
        else:
            ratio = f"{median / forward_median:.1f}"
            out = func(x, y)
            err = f"{np.max(_haversine_m(truth[0], truth[1], out[0], out[1])):.1e}"
        print(f"| `{name}` | {kind} | {median:.3f} | {best:.3f} | {args.n / median / 1e6:.2f} "
              f"| {ratio} | {err} |")


if __name__ == "__main__":
    main()
