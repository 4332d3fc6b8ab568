"""Side-by-side timing of two work trees of geo (a baseline commit and now), interleaved.

Run by hand (check the baseline out in a separate detached work tree first)::

    git worktree add --detach /tmp/geo-base <commit>
    .venv/bin/python benchmarks/bench_ab.py --baseline /tmp/geo-base [--cases autocorr,kd] [--rounds 5]

Each case runs in a fresh process whose ``geo`` is imported from one tree (``PYTHONPATH``),
alternating baseline and current (A B, B A, A B, ...) over ``--rounds`` rounds, so a change in
the machine's load falls on both alike and neither always runs second; the data generators are this tree's (the same for both).
Inside a process: one unrecorded call (numba cache load or compile), then ``--repeats``
timed calls; the process reports their median wall and CPU time.  The table gives, per case,
the median over the rounds of those per-process medians and the ratio current / baseline.

Cases (the workloads of ``bench_autocorr.py`` and ``bench_kd.py``):

* ``lisa_gi``: ``local_moran`` + ``local_g`` with the defaults (exact p-values for counts) on
  the 316 x 316 queen lattice of firm counts of ``bench_autocorr.py`` (99,856 cells);
* ``hotspots_both``: ``hotspots(statistic="both")`` on the same lattice;
* ``lisa_gi_mc``: ``local_moran`` + ``local_g`` with ``exact=False`` (999 Monte Carlo draws per cell);
* ``kd``: ``pointpattern.kd`` on ``bench_kd.py``'s 50,000 sites and localised 2,000-firm
  sector, 999 simulations, seed 0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _machine import machine_line

CASES = ("lisa_gi", "hotspots_both", "lisa_gi_mc", "kd")


def _timed(fn, repeats: int) -> dict:
    fn()  # numba cache load / compile, first-call imports
    walls, cpus = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {"wall": statistics.median(walls), "cpu": statistics.median(cpus), "walls": walls}


def child(case: str, repeats: int) -> dict:
    """Time ``case`` with the ``geo`` on ``sys.path`` (the tree under test)."""
    import geo

    if case in ("lisa_gi", "hotspots_both", "lisa_gi_mc"):
        import bench_autocorr as ba
        import geopandas as gpd
        import numpy as np
        import pandas as pd

        from geo.stats.autocorr import hotspots, local_g, local_moran

        side = 316
        g = ba.queen_graph(side)
        y = pd.Series(ba.counts(side))
        if case == "lisa_gi":
            fn = lambda: (local_moran(y, g), local_g(y, g))
        elif case == "lisa_gi_mc":
            fn = lambda: (local_moran(y, g, exact=False), local_g(y, g, exact=False))
        else:
            n = side * side
            cells = gpd.GeoDataFrame({"n_firms": y.to_numpy()}, geometry=gpd.points_from_xy(np.zeros(n), np.zeros(n)),
                                     crs=32650)
            fn = lambda: hotspots(cells, "n_firms", graph=g, statistic="both")
    elif case == "kd":
        import bench_kd as bk

        from geo.stats import pointpattern as pp

        xy, mask = bk.make_sites(50_000, 2_000, 0)
        fn = lambda: pp.kd(xy, sector=mask, simulations=999, seed=0)
    else:
        raise SystemExit(f"unknown case {case!r}; cases: {', '.join(CASES)}")
    out = _timed(fn, repeats)
    out["geo"] = str(Path(geo.__file__).resolve().parents[1])
    return out


def _run(tree: Path, case: str, repeats: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", case, str(repeats)],
                          check=False, capture_output=True, text=True, env=env, cwd=str(tree))
    if proc.returncode != 0:
        raise SystemExit(f"{case} in {tree} failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    if Path(res["geo"]) != tree.resolve():
        raise SystemExit(f"{case}: imported geo from {res['geo']}, not from {tree}")
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", help="the baseline work tree (a checkout of the baseline commit)")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3, help="timed calls in each process")
    ap.add_argument("--child", nargs=2, metavar=("CASE", "REPEATS"))
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]))))
        return
    if not args.baseline:
        ap.error("--baseline is required")
    base = Path(args.baseline)
    commit = subprocess.run(["git", "-C", str(base), "rev-parse", "--short", "HEAD"], check=False, capture_output=True,
                            text=True).stdout.strip()
    now = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], check=False, capture_output=True,
                         text=True).stdout.strip()
    print(f"# {machine_line()}; baseline {commit} ({base}), current {now} ({ROOT}); "
          f"load average at start {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    for case in args.cases.split(","):
        runs: dict[str, list[dict]] = {"base": [], "now": []}
        for r in range(args.rounds):
            pair = (("base", base), ("now", ROOT))
            for name, tree in pair if r % 2 == 0 else pair[::-1]:  # A B, B A, A B, ...: no side always second
                res = _run(tree, case, args.repeats)
                runs[name].append(res)
                print(f"# {case} round {r + 1} {name}: wall {res['wall']:.3f} s, cpu {res['cpu']:.3f} s; "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
        b = statistics.median(x["wall"] for x in runs["base"])
        n = statistics.median(x["wall"] for x in runs["now"])
        bc = statistics.median(x["cpu"] for x in runs["base"])
        nc = statistics.median(x["cpu"] for x in runs["now"])
        rows.append((case, b, n, bc, nc, len(runs["base"]), runs))
    print("\n| benchmark | baseline median wall (s) | current median wall (s) | ratio | "
          "baseline CPU (s) | current CPU (s) | CPU ratio | runs |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for case, b, n, bc, nc, k, _ in rows:
        print(f"| {case} | {b:.3f} | {n:.3f} | {n / b:.2f} | {bc:.3f} | {nc:.3f} | {nc / bc:.2f} | {k} + {k} |")


if __name__ == "__main__":
    main()
