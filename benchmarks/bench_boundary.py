"""Benchmark of Ripley's border distances (``geo.stats._kd_kernels.boundary_distances``): the
edge tree against the loop over every edge, on a study-area outline like the 1M run's.

Run by hand:  .venv/bin/python benchmarks/bench_boundary.py [--points 1000000] [--rounds 5]
              [--layers PATH/layers.gpkg]

Data (seeded):

* the window: the study area of a 1,000,000-firm synthetic valley (the firm positions of
  ``benchmarks/make_big.py``, seed 0), ``geo.cells.area.occupied_area`` on the hexagon
  lattice of spacing 136.2 m (the spacing of the 1M run's 102,554 cells); or, with
  ``--layers``, the ``study_area`` layer of a ``geo run`` output in its UTM zone;
* ``points`` uniform points in the window (``_csr``, seed 1).

* main case: ``boundary_distances`` with the tree and with the loop over every edge,
  interleaved (loop, tree, tree, loop, ...) for ``rounds`` rounds after one warm-up each;
  medians of wall and CPU time; the two results compared with each other and, on the first
  200,000 points, with ``shapely.distance(points, window.boundary)`` (bit for bit);
* shapely 2's ``STRtree(segments).query_nearest(points, return_distance=True)`` on the
  first 200,000 points (the alternative the loop could have been replaced with);
* crossover: regular polygons of 4 to 1,024 edges (radius 10 km), 200,000 points each, the
  two methods interleaved, medians of 5;
* ``ripley_k`` as ``geo run`` calls it (border correction, 51 distances to 5 km, 39
  simulations, ``max_pairs`` 5,000,000, seed 0) on the synthetic valley's optics firms (about
  180,000) in the outline, with the tree and with the loop forced (``BOUNDARY_TREE_EDGES``
  set above the number of edges), interleaved, medians of ``rounds``;
* the isotropic correction's circle fractions: ``circle_fractions`` (any window) for 20,000
  circles of radius 500 m centred at points of the window, on the outline and on its convex
  hull, over the edge tree and over every edge; ``k_isotropic_sums`` on the outline (5,000
  points, 21 distances to 2 km), tree and loop, medians of 3; and ``_convex_fraction`` (convex windows) on regular polygons of 8 to 1,024 edges.

Results are recorded by hand in docs/benchmarks.md (Session 7, "Ripley's border distances").
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import shapely

from geo.cells.area import occupied_area
from geo.stats import _kd_kernels as K
from geo.stats import pointpattern as pp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line  # noqa: E402
from make_big import _positions  # noqa: E402

#: centre-to-centre spacing of the 1M run's hexagons (median cell 16,069 m2 = sqrt(3)/2 s^2)
SPACING_M = 136.2


def _cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def synthetic_valley(n: int = 1_000_000) -> tuple[shapely.Polygon, np.ndarray]:
    """The outline of the synthetic valley's cells and its optics firms (metres)."""
    x, y, sector = _positions(np.random.default_rng(0), n)
    optics = np.column_stack([x, y])[sector == "optics"]
    return occupied_area(x, y, cell="hex", size_m=SPACING_M), optics


def synthetic_outline(n: int = 1_000_000) -> shapely.Polygon:
    return synthetic_valley(n)[0]


def layer_outline(path: str) -> shapely.Polygon:
    import geopandas as gpd

    g = gpd.read_file(path, layer="study_area")
    return g.to_crs(g.estimate_utm_crs()).geometry.iloc[0]


def ngon(k: int, radius: float = 10_000.0) -> shapely.Polygon:
    t = np.linspace(0.0, 2.0 * np.pi, k + 1)[:-1]
    return shapely.Polygon(np.column_stack([radius * np.cos(t), radius * np.sin(t)]))


def interleaved(fns: dict, rounds: int) -> dict:
    """Median wall and CPU seconds of each function, in alternating order, after a warm-up."""
    for fn in fns.values():
        fn()
    walls = {k: [] for k in fns}
    cpus = {k: [] for k in fns}
    names = list(fns)
    for i in range(rounds):
        for name in (names if i % 2 == 0 else names[::-1]):
            t0, c0 = time.perf_counter(), _cpu()
            fns[name]()
            walls[name].append(time.perf_counter() - t0)
            cpus[name].append(_cpu() - c0)
    return {k: (statistics.median(walls[k]), statistics.median(cpus[k]), walls[k]) for k in fns}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--layers", default=None)
    parser.add_argument("--cases", default="main,strtree,ripley,crossover,fractions",
                        help="comma-separated cases to run")
    args = parser.parse_args()
    cases = set(args.cases.split(","))
    print(machine_line(), flush=True)

    t0 = time.perf_counter()
    window, optics = synthetic_valley()
    if args.layers:
        window = layer_outline(args.layers)
    edges = pp._edges(window)
    print(f"window: {len(edges[0]):,} edges, {window.area / 1e6:.1f} km2, "
          f"hull {len(pp._edges(window.convex_hull)[0])} edges "
          f"(built in {time.perf_counter() - t0:.1f} s)", flush=True)
    pts = pp._csr(window, args.points, np.random.default_rng(1))

    if "main" in cases:
        main_case(window, edges, pts, args.rounds)
    if "strtree" in cases:
        strtree_case(window, edges, pts)
    if "ripley" in cases and not args.layers:
        ripley_case(window, optics, args.rounds)
    if "crossover" in cases:
        crossover_case()
    if "fractions" in cases:
        fractions_case(window, pts)


def main_case(window, edges, pts, rounds):
    x, y = np.ascontiguousarray(pts[:, 0]), np.ascontiguousarray(pts[:, 1])
    res = interleaved({"loop": lambda: K.boundary_distances(x, y, *edges, tree=False),
                       "tree": lambda: K.boundary_distances(x, y, *edges, tree=True)},
                      rounds)
    for name, (wall, cpu, runs) in res.items():
        print(f"{name}: median {wall:.3f} s wall, {cpu:.3f} s CPU "
              f"({', '.join(f'{v:.3f}' for v in runs)})")
    print(f"speed-up: {res['loop'][0] / res['tree'][0]:.1f}x wall, "
          f"{res['loop'][1] / res['tree'][1]:.1f}x CPU")
    a = K.boundary_distances(x, y, *edges, tree=False)
    b = K.boundary_distances(x, y, *edges, tree=True)
    ref = shapely.distance(shapely.points(pts[:200_000]), window.boundary)
    print(f"tree == loop: {np.array_equal(a, b)}; tree == shapely (200,000 points): "
          f"{np.array_equal(b[:200_000], ref)}", flush=True)


def strtree_case(window, edges, pts):
    x, y = np.ascontiguousarray(pts[:, 0]), np.ascontiguousarray(pts[:, 1])
    b = K.boundary_distances(x[:200_000], y[:200_000], *edges, tree=True)
    segs = shapely.linestrings(np.stack([np.column_stack(edges[:2]), np.column_stack(edges[2:])],
                                        axis=1))
    t0 = time.perf_counter()
    idx, d = shapely.STRtree(segs).query_nearest(shapely.points(pts[:200_000]),
                                                 return_distance=True, all_matches=False)
    t_str = time.perf_counter() - t0
    st = np.empty(200_000)
    st[idx[0]] = d
    t0 = time.perf_counter()
    K.boundary_distances(x[:200_000], y[:200_000], *edges, tree=True)
    t_tree = time.perf_counter() - t0
    print(f"STRtree.query_nearest, 200,000 points: {t_str:.3f} s (tree {t_tree:.3f} s); "
          f"equal: {np.array_equal(st, b[:200_000])}", flush=True)


def ripley_case(window, optics, rounds):
    r = np.linspace(0, min(5000.0, np.sqrt(window.area) / 4), 51)
    default = K.BOUNDARY_TREE_EDGES

    def ripley(limit):
        def call():
            K.BOUNDARY_TREE_EDGES = limit
            try:
                return pp.ripley_k(optics, window=window, distances=r, correction="border",
                                   simulations=39, seed=0, max_pairs=pp.RUN_MAX_PAIRS)
            finally:
                K.BOUNDARY_TREE_EDGES = default
        return call

    res = interleaved({"loop": ripley(10**12), "tree": ripley(default)}, rounds)
    print(f"ripley_k as geo run calls it, {len(optics):,} optics firms:")
    for name, (wall, cpu, runs) in res.items():
        print(f"  {name}: median {wall:.3f} s wall, {cpu:.3f} s CPU "
              f"({', '.join(f'{v:.3f}' for v in runs)})")
    k_loop = ripley(10**12)()
    k_tree = ripley(default)()
    print(f"  same table: {k_loop.equals(k_tree)}; subsample {k_tree.attrs.get('subsample')}",
          flush=True)


def crossover_case():
    print("crossover (200,000 points, medians of 5): edges, loop s, tree s")
    for k in (4, 8, 16, 32, 48, 64, 96, 128, 256, 1024):
        w = ngon(k)
        e = pp._edges(w)
        q = pp._csr(w, 200_000, np.random.default_rng(2))
        qx, qy = np.ascontiguousarray(q[:, 0]), np.ascontiguousarray(q[:, 1])
        r = interleaved({"loop": lambda qx=qx, qy=qy, e=e: K.boundary_distances(qx, qy, *e,
                                                                               tree=False),
                         "tree": lambda qx=qx, qy=qy, e=e: K.boundary_distances(qx, qy, *e,
                                                                               tree=True)}, 5)
        print(f"  {k:5d}  {r['loop'][0]:.4f}  {r['tree'][0]:.4f}", flush=True)


def fractions_case(window, pts):
    print("circle fractions, 20,000 circles of 500 m (median of 3): window, edges, s")
    c = pts[:20_000]
    cx, cy = np.ascontiguousarray(c[:, 0]), np.ascontiguousarray(c[:, 1])
    rad = np.full(len(c), 500.0)
    for name, w in (("outline", window), ("convex hull", window.convex_hull)):
        e = pp._edges(w)
        r = interleaved({"loop": lambda e=e: K.circle_fractions(cx, cy, rad, *e, tree=False),
                         "tree": lambda e=e: K.circle_fractions(cx, cy, rad, *e, tree=True)}, 3)
        same = np.array_equal(K.circle_fractions(cx, cy, rad, *e, tree=False),
                              K.circle_fractions(cx, cy, rad, *e, tree=True))
        print(f"  circle_fractions {name}: {len(e[0])} edges, loop {r['loop'][0]:.3f} s, "
              f"tree {r['tree'][0]:.3f} s, same: {same}", flush=True)
    # k_isotropic_sums on the outline (not convex): 5,000 of the points, distances to 2 km
    e = pp._edges(window)
    q = pts[:5_000]
    qx, qy = np.ascontiguousarray(q[:, 0]), np.ascontiguousarray(q[:, 1])
    b = K.boundary_distances(qx, qy, *e)
    dist = np.linspace(0, 2_000.0, 21)
    default = K.BOUNDARY_TREE_EDGES

    def sums(limit):
        def call():
            K.BOUNDARY_TREE_EDGES = limit
            try:
                return K.k_isotropic_sums(qx, qy, b, dist, 100.0, *e)
            finally:
                K.BOUNDARY_TREE_EDGES = default
        return call

    r = interleaved({"loop": sums(10**12), "tree": sums(default)}, 3)
    print(f"  k_isotropic_sums, 5,000 points to 2 km on the outline: loop {r['loop'][0]:.3f} s, "
          f"tree {r['tree'][0]:.3f} s, same: {np.array_equal(sums(10**12)(), sums(default)())}",
          flush=True)
    for k in (8, 64, 256, 1024):
        w = ngon(k)
        lines = pp._convex_lines(pp._edges(w))
        q = pp._csr(w, 20_000, np.random.default_rng(3))
        buf = np.empty(4 * len(lines) + 4)

        def run(q=q, lines=lines, buf=buf):
            for i in range(len(q)):
                K._convex_fraction(q[i, 0], q[i, 1], 500.0, lines, buf)

        r = interleaved({"f": run}, 3)
        print(f"  _convex_fraction {k}-gon: {r['f'][0]:.3f} s", flush=True)


if __name__ == "__main__":
    main()
