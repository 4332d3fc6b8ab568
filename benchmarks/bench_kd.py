"""Benchmark of the Duranton–Overman Kd in geo.stats.pointpattern against the naive version.

Run by hand:  .venv/bin/python benchmarks/bench_kd.py [--sites 50000] [--sector 2000]
              [--simulations 999] [--repeats 3] [--naive-sims 3]

Data (seeded): ``sites`` firm sites in a 50 km x 50 km window, 60 % uniform and 40 % in 30
Gaussian clusters (sd 0.5–3 km); the sector has ``sector`` firms, 60 % of them taken from the
sites of 3 clusters and 40 % from all sites (a localised sector).

* fast: ``geo.stats.pointpattern.kd`` with the defaults (Silverman bandwidth, 201 distances up to
  the median site distance) and ``simulations`` random-location draws; median wall time of
  ``repeats`` runs after one warm-up run (the warm-up loads or compiles the numba kernels).
* naive: the Gaussian kernel over every pair for every distance (``_kd_exact``) on
  ``naive-sims`` random draws, timed per simulation and extrapolated to ``simulations + 1``
  curves (the observed one and the simulations).
* accuracy: largest |fast − exact| over the observed curve, relative to its maximum.
* scaling: time per simulation for larger sectors (O(n^2) pairs), and the cell list on a
  short distance range.

Results are recorded by hand in docs/benchmarks.md ("Point patterns (Kd)").
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np

from geo.stats import pointpattern as pp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_model as _cpu_model  # noqa: E402

WINDOW = 50_000.0




def make_sites(n_sites: int, n_sector: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_uni = int(0.6 * n_sites)
    centres = rng.uniform(5_000, WINDOW - 5_000, size=(30, 2))
    sds = rng.uniform(500, 3_000, size=30)
    which = rng.integers(0, 30, size=n_sites - n_uni)
    clustered = centres[which] + rng.normal(size=(len(which), 2)) * sds[which, None]
    xy = np.clip(np.vstack([rng.uniform(0, WINDOW, (n_uni, 2)), clustered]), 0, WINDOW)
    in_three = np.nonzero(np.isin(np.r_[np.full(n_uni, -1), which], [0, 1, 2]))[0]
    n_loc = min(int(0.6 * n_sector), len(in_three))
    pick = rng.choice(in_three, size=n_loc, replace=False)
    rest = np.setdiff1d(np.arange(n_sites), pick)
    pick = np.r_[pick, rng.choice(rest, size=n_sector - n_loc, replace=False)]
    mask = np.zeros(n_sites, dtype=bool)
    mask[pick] = True
    return xy, mask


def _time(func, repeats: int) -> tuple[float, float, float, object]:
    """Median and min wall time, median CPU time (all threads), last result."""
    times, cpu = [], []
    out = None
    for _ in range(repeats):
        c0 = time.process_time()
        t0 = time.perf_counter()
        out = func()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(times), min(times), statistics.median(cpu), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=50_000)
    parser.add_argument("--sector", type=int, default=2_000)
    parser.add_argument("--simulations", type=int, default=999)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-sims", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    xy, mask = make_sites(args.sites, args.sector, args.seed)
    print(f"# geo.stats.pointpattern.kd benchmark: {args.sites:,} sites in a 50 km window, sector of "
          f"{args.sector:,}, {args.simulations} simulations")
    print(f"# CPU: {_cpu_model()}; nproc: {os.cpu_count()}; numba threads: "
          f"{numba.get_num_threads()}; numba {numba.__version__}; numpy {np.__version__}; "
          f"python {platform.python_version()}")

    t0 = time.perf_counter()
    res = pp.kd(xy, sector=mask, simulations=args.simulations, seed=args.seed)
    warm = time.perf_counter() - t0
    med, best, cpu, res = _time(lambda: pp.kd(xy, sector=mask, simulations=args.simulations,
                                              seed=args.seed), args.repeats)
    print(f"# bandwidth {res.bandwidth:.1f} m, max distance {res.max_distance:.0f} m, "
          f"method: {res.method}; verdict: {res.verdict}")

    # naive: Gaussian over every pair at every distance, for a few random draws
    r = res.curve["r"].to_numpy()
    rng = np.random.default_rng(args.seed + 1)
    naive_times = []
    for _ in range(args.naive_sims):
        draw = xy[rng.choice(len(xy), size=args.sector, replace=False)]
        t0 = time.perf_counter()
        pp._kd_exact(draw, r, res.bandwidth)
        naive_times.append(time.perf_counter() - t0)
    per_sim = statistics.median(naive_times)
    naive_total = per_sim * (args.simulations + 1)
    exact = pp._kd_exact(xy[mask], r, res.bandwidth)
    err = np.abs(res.curve["kd"].to_numpy() - exact).max() / exact.max()

    print()
    print("| version | median wall (s) | min wall (s) | CPU, all threads (s) "
          "| per simulation (ms) | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| fast (`kd`, {args.simulations} simulations, warm) | {med:.2f} | {best:.2f} | "
          f"{cpu:.2f} | {1000 * med / (args.simulations + 1):.2f} | {naive_total / med:,.0f}× |")
    print(f"| fast, first call (kernel cache load) | {warm:.2f} | — | — | — | — |")
    print(f"| naive (Gaussian over every pair; {args.naive_sims} draws, extrapolated) | "
          f"{naive_total:,.0f} | — | — | {1000 * per_sim:,.0f} | 1× |")
    print()
    print(f"Largest |fast − exact| on the observed curve: {err:.1e} of its maximum.")

    # scaling with sector size, and the cell list on a short range
    print()
    print("| case | simulations | wall (s) | CPU (s) | per simulation (ms) | method |")
    print("|---|---:|---:|---:|---:|---|")
    for n_sec, sims in ((2_000, args.simulations), (5_000, 99), (10_000, 29)):
        _, m2 = make_sites(args.sites, n_sec, args.seed)
        t, _, c, rr = _time(lambda m2=m2, sims=sims: pp.kd(xy, sector=m2, simulations=sims,
                                                            seed=0), 1)
        print(f"| sector {n_sec:,}, default distances | {sims} | {t:.2f} | {c:.2f} | "
              f"{1000 * t / (sims + 1):.2f} | {rr.method} |")
    short = np.linspace(0, 3_000, 61)
    for cells in (False, True):
        # force the strategy through the engine to compare like with like
        orig = pp._KdEngine.__init__

        def init(self, *a, _cells=cells, **k):
            k["use_cells"] = _cells
            orig(self, *a, **k)

        pp._KdEngine.__init__ = init
        try:
            t, _, c, rr = _time(lambda: pp.kd(xy, sector=mask, distances=short,
                                              simulations=args.simulations, seed=0),
                                args.repeats)
        finally:
            pp._KdEngine.__init__ = orig
        print(f"| sector {args.sector:,}, distances 0–3 km | {args.simulations} | {t:.2f} | "
              f"{c:.2f} | {1000 * t / (args.simulations + 1):.2f} | {rr.method} |")


if __name__ == "__main__":
    main()
