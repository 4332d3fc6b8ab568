"""Benchmark of exact-by-default point patterns: Ripley's K on a 15,650-point window and the
cost per pair behind the time budget of ``ripley_k`` and ``kd`` (geo.stats.pointpattern).

Run by hand:  .venv/bin/python benchmarks/bench_exact.py [--repeats 3]

Data (seeded, as in tests/test_pointpattern_scale.py::_valley_15650): 15,650 points in a
20 km square, four fifths in 40 Gaussian clusters (sd 800 m), one fifth uniform.

* ``ripley_k`` default call (isotropic, 51 distances to 5 km, no simulations): median wall
  time of ``repeats`` runs after a warm-up, CPU time, peak memory of the process, the
  ordered pairs within 5 km and the wall/CPU nanoseconds per pair; whether the call was exact.
* the same with ``correction="border"``.
* the old default (``max_pairs=5_000_000``): points analysed and the largest relative
  difference of its K from the exact K (r > 0).
* ``kd``: a sector of 2,000 of 40,000 sites, 99 simulations, ``max_sector=None``: wall and
  CPU nanoseconds per pair and curve.

Results are recorded by hand in docs/benchmarks.md ("Exact Ripley K and Kd").
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import shapely
from scipy.spatial import cKDTree

from geo.stats import pointpattern as pp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line  # noqa: E402


def valley_15650() -> tuple[np.ndarray, shapely.Polygon]:
    rng = np.random.default_rng(20)
    side = 20_000.0
    parents = rng.uniform(0, side, (40, 2))
    kids = parents[rng.integers(0, 40, 16_000)] + rng.normal(0, 800.0, (16_000, 2))
    pts = np.vstack([kids, rng.uniform(0, side, (4_000, 2))])
    pts = pts[(pts >= 0).all(axis=1) & (pts <= side).all(axis=1)]
    return pts[rng.permutation(len(pts))[:15_650]], shapely.box(0, 0, side, side)


def _cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def timed(fn, repeats: int):
    fn()  # warm-up: loads or compiles the numba kernels
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), _cpu()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(_cpu() - c0)
    return out, statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(machine_line(), "| load average", " ".join(f"{v:.1f}" for v in os.getloadavg()))
    xy, win = valley_15650()
    tree = cKDTree(xy)
    pairs = tree.count_neighbors(tree, 5_000.0) - len(xy)
    print(f"{len(xy):,} points, {pairs:,} ordered pairs within 5 km")
    for corr in ("isotropic", "border"):
        k, wall, cpu = timed(lambda c=corr: pp.ripley_k(xy, window=win, correction=c), args.repeats)
        print(f"ripley_k {corr}: exact={k.attrs['exact']} wall {wall:.2f} s, CPU {cpu:.2f} s, "
              f"{1e9 * wall / pairs:.1f} ns/pair wall, {1e9 * cpu / pairs:.1f} ns/pair CPU, "
              f"estimated {k.attrs['budget']['estimated_s']:.2f} s")
        if corr == "isotropic":
            exact = k["K"].to_numpy()
    old = pp.ripley_k(xy, window=win, max_pairs=5_000_000)
    rel = np.max(np.abs(old["K"].to_numpy()[1:] / exact[1:] - 1))
    print(f"old default max_pairs=5e6: {old.attrs['subsample']:,} points, K off by up to {100 * rel:.1f} % "
          f"(estimated error of L {100 * old.attrs['subsample_error']:.2g} %)")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")

    rng = np.random.default_rng(3)
    sites = np.vstack([rng.uniform(0, 30_000, (24_000, 2)),
                       rng.uniform(5_000, 25_000, (40, 2))[rng.integers(0, 40, 16_000)]
                       + rng.normal(0, 800, (16_000, 2))])
    mask = np.zeros(len(sites), bool)
    mask[rng.choice(len(sites), 2_000, replace=False)] = True
    sims = 99
    res, wall, cpu = timed(lambda: pp.kd(sites, sector=mask, simulations=sims), args.repeats)
    per = (sims + 1) * 2_000 * 1_999 / 2
    print(f"kd 2,000 of {len(sites):,} sites, {sims} simulations: exact={res.exact} wall {wall:.2f} s, "
          f"CPU {cpu:.2f} s, {1e9 * wall / per:.2f} ns/pair/curve wall, {1e9 * cpu / per:.2f} CPU, "
          f"estimated {res.budget['estimated_s']:.2f} s")


if __name__ == "__main__":
    main()
