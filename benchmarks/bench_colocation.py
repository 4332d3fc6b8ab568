"""Benchmark of the co-location quotients (geo.colocation, geo.local_colocation).

Run by hand:  .venv/bin/python benchmarks/bench_colocation.py [--n 100000] [--permutations 999] [--repeats 3]

Data (seeded): ``n`` points uniform over a 30 km x 30 km square in metres (EPSG:32650),
five categories with shares 20/10/30/20/20 %, drawn at random (the null of random
labelling).  Two layouts:

* ``uniform``: every point on its own coordinate;
* ``stacked``: as bench_stacks.py, five exact stacks of 3,000, 1,500, 800, 400 and 50 firms
  on one coordinate each (5.75 % of 100,000 firms), the rest uniform.

Timed after one warm-up call on 2,000 points (which loads or compiles the numba kernels):
the site neighbourhoods (``_sites``), the global CLQ(A→B) with ``permutations`` random
labellings and the local CLQ of every A point with ``permutations`` conditional
relabellings (k = 8).  Prints the median (and range) of ``repeats`` runs as a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from geo.stats.colocation import _sites, colocation, local_colocation

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line

SIDE = 30_000.0
STACKS = (3000, 1500, 800, 400, 50)


def make_points(n: int, layout: str, seed: int = 0) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, SIDE, n)
    y = rng.uniform(0, SIDE, n)
    if layout == "stacked":
        at = 0
        for size in STACKS:
            x[at:at + size], y[at:at + size] = rng.uniform(0, SIDE, 2)
            at += size
    cats = rng.choice(list("ABCDE"), n, p=[0.2, 0.1, 0.3, 0.2, 0.2])
    return gpd.GeoDataFrame({"sector": cats}, geometry=shapely.points(x, y), crs=32650)


def _time(fn, repeats: int) -> tuple[float, float, float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times), max(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--permutations", type=int, default=999)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--k", type=int, default=8)
    args = ap.parse_args()
    warm = make_points(2_000, "stacked")
    colocation(warm, a="A", b="B", column="sector", permutations=9)
    local_colocation(warm, a="A", b="B", column="sector", permutations=9)
    print(f"Machine: {machine_line()}; load average {os.getloadavg()[0]:.1f} at the start.")
    print(f"n = {args.n:,}, k = {args.k}, permutations = {args.permutations}, median (min–max) of {args.repeats} runs\n")
    print("| layout | sites | neighbourhoods (s) | global CLQ + test (s) | CLQ(A→B) | p | local CLQ + tests (s) | A points | share p ≤ 0.05 | significant after FDR |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for layout in ("uniform", "stacked"):
        pts = make_points(args.n, layout)
        xy = shapely.get_coordinates(pts.geometry.values)
        ts = _time(lambda: _sites(xy, args.k), args.repeats)
        tg = _time(lambda: colocation(pts, a="A", b="B", column="sector", k=args.k,
                                      permutations=args.permutations, seed=1), args.repeats)
        tl = _time(lambda: local_colocation(pts, a="A", b="B", column="sector", k=args.k,
                                            permutations=args.permutations, seed=1), args.repeats)
        g, loc = tg[3], tl[3]
        print(f"| {layout} | {len(ts[3].m):,} | {ts[0]:.2f} ({ts[1]:.2f}–{ts[2]:.2f}) "
              f"| {tg[0]:.2f} ({tg[1]:.2f}–{tg[2]:.2f}) | {g.clq:.4f} | {g.p:.3f} "
              f"| {tl[0]:.2f} ({tl[1]:.2f}–{tl[2]:.2f}) | {len(loc):,} | {(loc['p'] <= 0.05).mean():.3f} "
              f"| {(loc['label'] != 'ns').sum():,} |")
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end.")


if __name__ == "__main__":
    main()
