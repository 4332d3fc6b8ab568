"""Benchmark of geo.raster: kernel density of 1,000,000 firms in a 40 km window.

Run by hand:  .venv/bin/python benchmarks/bench_raster.py [--n 1000000] [--repeats 3]

The points are seeded: 60 % in 25 Gaussian clusters (standard deviations 200-2,000 m) and
40 % uniform over a 40 km x 40 km window in UTM zone 50N.  For each kernel at default
settings (Silverman/ArcGIS bandwidth, cell = kernel standard deviation / 4), and for a
fixed 100 m Gaussian bandwidth (a 2.6-million-cell grid), it prints the
median wall time of ``repeats`` runs of :func:`geo.stats.density.kernel_density`, of
:func:`geo.outputs.raster.write_geotiff` (to a temporary folder), of
:func:`geo.stats.density.zonal_stats` (10 parks) and of :func:`geo.outputs.raster.density_to_png`, the
grid size and file size, and, as a reference, the estimated time of the direct sum of
Gaussians (vectorised NumPy over the points, timed on a sample of cells and extrapolated
to the grid).
Results are recorded by hand in docs/benchmarks.md ("Density rasters").
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import scipy
import shapely

from geo.outputs.raster import density_to_png, write_geotiff
from geo.stats.density import kernel_density, zonal_stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_model as _cpu_model  # noqa: E402

UTM50 = 32650
X0, Y0 = 220_000.0, 3_350_000.0  # lower-left corner of the window (near Wuhan)
SIDE = 40_000.0




def _points(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n_clustered = int(0.6 * n)
    centres = rng.uniform(4_000.0, SIDE - 4_000.0, (25, 2))
    sizes = rng.uniform(200.0, 2_000.0, 25)
    which = rng.integers(0, 25, n_clustered)
    clustered = centres[which] + rng.normal(0.0, 1.0, (n_clustered, 2)) * sizes[which, None]
    background = rng.uniform(0.0, SIDE, (n - n_clustered, 2))
    xy = np.vstack([clustered, background])
    xy = xy[(xy >= 0).all(axis=1) & (xy <= SIDE).all(axis=1)]
    return xy + [X0, Y0]


def _median(func, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = func()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--direct-cells", type=int, default=200, help="cells for the direct-sum estimate")
    args = parser.parse_args()

    xy = _points(args.n, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    parks = gpd.GeoDataFrame(
        {"name": [f"park{i}" for i in range(10)]},
        geometry=[shapely.Point(X0 + x, Y0 + y).buffer(r) for x, y, r in zip(rng.uniform(5e3, 35e3, 10), rng.uniform(5e3, 35e3, 10), rng.uniform(500, 3000, 10))],
        crs=UTM50,
    )
    print(f"# geo.raster benchmark: n={len(xy):,} points in a {SIDE / 1000:.0f} km window, median of {args.repeats} runs")
    print(f"# CPU: {_cpu_model()}; nproc: {os.cpu_count()}; numpy {np.__version__}; scipy {scipy.__version__}; python {platform.python_version()}")
    print()
    print("| kernel | bandwidth | bandwidth (m) | cell (m) | grid (rows x cols) | density (s) | GeoTIFF write (s) | file (MB) | zonal_stats, 10 parks (s) | PNG overlay (s) | integral / n | direct sum, estimated (s) | direct / FFT |")
    print("|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for kernel, bw in (("gaussian", "silverman"), ("quartic", "silverman"), ("gaussian", 100.0)):
            t_dens, grid = _median(lambda: kernel_density(xy, crs=UTM50, kernel=kernel, bandwidth=bw), args.repeats)
            path = Path(tmp) / f"{kernel}.tif"
            t_write, _ = _median(lambda: write_geotiff(grid, path), args.repeats)
            t_zonal, _ = _median(lambda: zonal_stats(grid, parks), args.repeats)
            t_png, _ = _median(lambda: density_to_png(grid, io.BytesIO()), args.repeats)
            rows, cols = grid.shape
            direct = "—"
            ratio = "—"
            if kernel == "gaussian":
                x, y = grid.cell_centres()
                pts = np.vstack([rng.choice(x, args.direct_cells), rng.choice(y, args.direct_cells)])
                t0 = time.perf_counter()
                _direct_sum(xy, pts, grid.bandwidth_m)
                per_cell = (time.perf_counter() - t0) / args.direct_cells
                est = per_cell * rows * cols
                direct = f"{est:,.0f}"
                ratio = f"{est / t_dens:,.0f}"
            print(
                f"| {kernel} | {bw} | {grid.bandwidth_m:.0f} | {grid.cell_size_m:.1f} | {rows} x {cols} | {t_dens:.2f} | {t_write:.2f} "
                f"| {path.stat().st_size / 1e6:.1f} | {t_zonal:.3f} | {t_png:.2f} | {grid.total() / len(xy):.4f} | {direct} | {ratio} |"
            )


def _direct_sum(xy: np.ndarray, pts: np.ndarray, h: float) -> np.ndarray:
    """The direct O(n) sum of Gaussian kernels at each evaluation point (the naive method)."""
    out = np.empty(pts.shape[1])
    for k in range(pts.shape[1]):
        d2 = (xy[:, 0] - pts[0, k]) ** 2 + (xy[:, 1] - pts[1, k]) ** 2
        out[k] = np.exp(-0.5 * d2 / h**2).sum() / (2 * np.pi * h**2) * 1e6
    return out


if __name__ == "__main__":
    main()
