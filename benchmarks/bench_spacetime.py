"""Benchmark of the emerging hot spot analysis (run by hand).

    .venv/bin/python benchmarks/bench_spacetime.py [--sides 100 316] [--steps 35] [--esda-steps 3] [--demo]

On square queen lattices of ``side**2`` cells and ``--steps`` yearly steps of counts of
firms alive (founding years drawn per cell on a smooth intensity surface that grows,
plus a cluster that appears half-way, about 60 % zero bins at the start), it times

* ``geo.emerging_hotspots(cube, graph)`` with the defaults (time lag 1, window "step",
  exact p-values, 999 permutations where Monte Carlo is needed), steady state;
* the plain loop one would write with esda: ``esda.G_Local(y_t, w, star=True,
  transform="B", permutations=999)`` per step (cross-sectional only: no time lag), then a
  Mann–Kendall test per cell with ``scipy.stats.kendalltau``.  At large sizes esda runs
  ``--esda-steps`` steps and the total is extrapolated (marked so).

``--demo`` also times the demo's three valleys (optics firms, 1980-2024).  Prints markdown
tables to paste into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)


def queen_graph(side: int):
    from libpysal.graph import Graph

    i, j = np.meshgrid(np.arange(side), np.arange(side))
    i, j = i.ravel(), j.ravel()
    f, nb = [], []
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di == 0 and dj == 0:
                continue
            ii, jj = i + di, j + dj
            ok = (ii >= 0) & (ii < side) & (jj >= 0) & (jj < side)
            f.append((j * side + i)[ok])
            nb.append((jj * side + ii)[ok])
    f, nb = np.concatenate(f), np.concatenate(nb)
    o = np.lexsort((nb, f))
    return Graph.from_arrays(f[o], nb[o], np.ones(len(f)))


def cube_counts(side: int, steps: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    i, j = np.meshgrid(np.linspace(0, 1, side), np.linspace(0, 1, side))
    surface = 0.15 + 1.2 * np.exp(-((i - 0.3) ** 2 + (j - 0.6) ** 2) / 0.02)
    late = 1.5 * np.exp(-((i - 0.75) ** 2 + (j - 0.25) ** 2) / 0.005)
    births = np.empty((side * side, steps), dtype=np.int64)
    for t in range(steps):
        lam = surface.ravel() * (0.1 + 0.02 * t) + (late.ravel() * 0.2 if t >= steps // 2 else 0.0)
        births[:, t] = rng.poisson(lam)
    return np.cumsum(births, axis=1)


def time_geo(counts: np.ndarray, graph, repeats: int) -> tuple[float, dict]:
    import pandas as pd

    from geo.stats.spacetime import SpacetimeCube, emerging_hotspots

    cube = SpacetimeCube(counts=counts, steps=np.arange(1990, 1990 + counts.shape[1]), cells=pd.RangeIndex(len(counts)))
    emerging_hotspots(cube, graph)  # warm-up (numba cache, imports)
    times, cpu, res = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        res = emerging_hotspots(cube, graph)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    methods = {k: v for k, v in res.p_method.stack().value_counts().to_dict().items() if v}
    return float(np.median(times)), {"categories": res.category_counts(), "methods": methods, "cpu": float(np.median(cpu)),
                                     "hot_last": int(res.hot_counts().iloc[-1])}


def time_esda(counts: np.ndarray, graph, steps: int) -> tuple[float, float, bool]:
    from esda.getisord import G_Local
    from scipy import stats

    w = graph.to_W()
    nt = counts.shape[1]
    run = min(steps, nt)
    z = np.empty((counts.shape[0], run))
    t0 = time.perf_counter()
    for t in range(nt - run, nt):
        g = G_Local(counts[:, t].astype(float), w, transform="B", star=True, permutations=999, n_jobs=1)
        z[:, t - (nt - run)] = g.Zs
    gi = (time.perf_counter() - t0) * nt / run
    t0 = time.perf_counter()
    tt = np.arange(nt)
    zz = np.tile(z, (1, nt // run + 1))[:, :nt]
    for row in zz:
        stats.kendalltau(tt, row)
    mk = time.perf_counter() - t0
    return gi, mk, run < nt


def time_demo(repeats: int) -> None:
    """The demo's valleys: cube + emerging hot spots of the optics firms (best of ``repeats``)."""
    import geo
    from geo.datasets import demo_files
    from geo.stats.spacetime import emerging_hotspots, spacetime_cube

    firms = geo.read_firms(demo_files()["config"].parent / "firms_demo.csv", founded="founded", geometry=False)
    print("| valley | cells x steps | cube (s) | emerging_hotspots (s) | total wall (s) | CPU (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for valley in ("Wuhan", "Changchun", "Shenzhen"):
        fm = geo.to_metric(firms[firms["valley"] == valley])
        cells = geo.aggregate(fm, by="sector")
        graph = geo.weights(cells)
        by = ("sector", "optics")
        emerging_hotspots(spacetime_cube(fm, cells, time_column="founded", by=by), graph)  # warm-up
        runs = []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            cube = spacetime_cube(fm, cells, time_column="founded", by=by)
            t1 = time.perf_counter()
            emerging_hotspots(cube, graph, seed=0)
            runs.append((time.perf_counter() - t0, t1 - t0, time.process_time() - c0))
        wall, cube_s, cpu = min(runs)
        print(f"| {valley} | {cube.shape[0]:,} x {cube.shape[1]} | {cube_s:.2f} | {wall - cube_s:.2f} | {wall:.2f} | {cpu:.2f} |")
    print()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sides", type=int, nargs="+", default=[100, 316])
    ap.add_argument("--steps", type=int, default=35)
    ap.add_argument("--esda-steps", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-esda", action="store_true")
    ap.add_argument("--demo", action="store_true", help="also time the demo's three valleys")
    a = ap.parse_args()
    from _machine import machine_line

    print(f"Machine: {machine_line()}\n")
    if a.demo:
        time_demo(a.repeats)
    print(f"load average at the start: {os.getloadavg()[0]:.1f}\n")
    print("| cells | steps | geo emerging_hotspots (s) | its CPU time (s) | esda G_Local loop (s) | scipy MK loop (s) | "
          "hot cells, last step | p-values |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for side in a.sides:
        counts = cube_counts(side, a.steps)
        graph = queen_graph(side)
        tg, info = time_geo(counts, graph, a.repeats)
        if a.no_esda:
            te = tm = float("nan")
            extra = False
        else:
            esda_steps = a.steps if side * side <= 10_000 else a.esda_steps
            te, tm, extra = time_esda(counts, graph, esda_steps)
        star = " (extrapolated)" if extra else ""
        print(f"| {side * side:,} | {a.steps} | {tg:.2f} | {info['cpu']:.2f} | {te:.1f}{star} | {tm:.1f} | {info['hot_last']} | "
              f"{', '.join(f'{k}: {v}' for k, v in info['methods'].items())} |")
        print(f"<!-- categories {side * side}: {info['categories']} -->")


if __name__ == "__main__":
    main()
