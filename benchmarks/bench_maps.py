"""Benchmark of geo.outputs.maps: HTML size and browser open time of a valley map with many firms.

Run by hand:  .venv/bin/python benchmarks/bench_maps.py [--n 10000 100000 1000000] [--repeats 3]
              [--files geo-output/maps/*.html]

For each size, a synthetic valley is built directly as a :class:`geo.pipeline.results.Results`
(running :func:`geo.run` on a million-row CSV would time the statistics, not the maps):
``n`` seeded firms in a 40 km x 40 km window in UTM zone 50N (60 % in 25 Gaussian clusters
with standard deviations of 200-2,000 m, 40 % uniform), 9 sectors, 15 % of them "optics"
(the target sector), founding years 1980-2024; hexagonal cells of 250 m
(:func:`geo.aggregate`), Gi* and LISA hot spots of the optics counts
(:func:`geo.hotspots`, 99 permutations, no FDR correction, so that there are many
significant cells), cluster polygons (:func:`geo.parks.overlay.cluster_polygons`), the density grids of all
firms and of the optics firms (as the pipeline computes them; the maps draw them, computing
none), and three parks with made-up verdicts (the park statistics are not what is measured).

It prints, per size: the time to build the map (:func:`geo.outputs.maps.valley_map`) and to save it
(:func:`geo.outputs.maps.save_map`), the HTML size, how the firm layers were drawn, and the median
open time in headless Chromium (Playwright; navigation to the ``load`` event plus two
animation frames, so the first render is done; tile requests are aborted).  Results are
recorded by hand in docs/benchmarks.md ("Maps").  ``--files`` also times maps already written
(e.g. by ``geo demo``).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

import geo
from geo.cells.grid import aggregate
from geo.config import Config
from geo.outputs import maps
from geo.parks.overlay import cluster_polygons
from geo.pipeline.results import Results, ValleyAnalysis, ValleyResult
from geo.stats.autocorr import hotspots
from geo.stats.density import kernel_density, kernel_density_by

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_model as _cpu_model  # noqa: E402

UTM50 = 32650
X0, Y0 = 220_000.0, 3_350_000.0  # lower-left corner of the window (near Wuhan)
SIDE = 40_000.0
SECTORS = ["automotive", "biomedicine", "business_services", "electronics", "food", "metal_products",
           "optics", "software", "textiles"]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]




def synthetic_results(n: int, *, seed: int = 0) -> Results:
    """A Results object with one valley of ``n`` firms and its hot spots, clusters and parks."""
    rng = np.random.default_rng(seed)
    n_clustered = int(0.6 * n)
    centres = rng.uniform(4_000.0, SIDE - 4_000.0, (25, 2))
    sizes = rng.uniform(200.0, 2_000.0, 25)
    which = rng.integers(0, 25, n_clustered)
    xy = np.vstack([centres[which] + rng.normal(0.0, 1.0, (n_clustered, 2)) * sizes[which, None],
                    rng.uniform(0.0, SIDE, (n - n_clustered, 2))])
    xy = np.clip(xy, 0.0, SIDE) + [X0, Y0]
    # optics firms: mostly in the first 8 clusters
    p_optics = np.full(n, 0.05)
    p_optics[:n_clustered] = np.where(which < 8, 0.4, 0.05)
    optics = rng.random(n) < p_optics
    other = rng.choice([s for s in SECTORS if s != "optics"], n)
    sector = np.where(optics, "optics", other)
    fm = gpd.GeoDataFrame(
        {"firm_id": np.arange(n), "name": [f"Firm {i}" for i in range(n)], "sector": sector,
         "founded": rng.integers(1980, 2025, n), "valley": "Bench"},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=UTM50,
    )
    firms = fm.to_crs(4326)
    firms["lon"], firms["lat"] = firms.geometry.x, firms.geometry.y
    cells = aggregate(fm, cell="hex", size=250, by="sector")
    hot = hotspots(cells, "n_optics", statistic="both", permutations=99, fdr=False, seed=seed)
    clusters = cluster_polygons(hot, sector="optics")
    boxes = [shapely.box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h)
             for x, y, w, h in [(10_000, 10_000, 6_000, 5_000), (25_000, 20_000, 4_000, 8_000), (5_000, 30_000, 3_000, 3_000)]]
    parks = gpd.GeoDataFrame({"name": ["Park A", "Park B", "Park C"], "valley": "Bench", "designated": [1991, 1995, 2005]},
                             geometry=boxes, crs=UTM50).to_crs(4326)
    inside = [fm.within(b) for b in boxes]
    overlay = pd.DataFrame({
        "name": parks["name"], "designated": parks["designated"],
        "n_firms": [int(i.sum()) for i in inside], "n_target": [int((i & optics).sum()) for i in inside],
        "lq": 1.0, "park_hot_share": 0.5, "p_placement_fdr": 0.01, "p_labelling_fdr": 0.001, "cluster_before": False,
        "verdict": ["cluster formed after designation", "park on a pre-existing cluster", "park without a cluster"],
        "verdict_reason": "benchmark", "rate_ratio": 2.0, "rr_lo": 1.5, "rr_hi": 2.5, "p_rate_ratio_fdr": 0.01,
    }, index=parks.index)
    vr = ValleyResult(name="Bench", title=f"Benchmark valley ({n:,} firms)", firms=firms, parks=parks,
                      metric_crs=f"EPSG:{UTM50}", seed=seed)
    # the density grids the maps draw, as the pipeline computes them (geo.pipeline.valley._density)
    vr.analysis = ValleyAnalysis(metric_firms=fm, cells=cells, hotspots=hot, focus_column="n_optics", clusters=clusters,
                                 parks_overlay=overlay, clusters_outside_parks=clusters.iloc[0:0],
                                 density_target=kernel_density_by(fm, "sector", groups=["optics"])["optics"],
                                 density=kernel_density(fm))
    base = Config()
    cfg = replace(base, analysis=replace(base.analysis, target_sector="optics"),
                  run=replace(base.run, title="maps benchmark", synthetic=True))
    return Results(config=cfg, firms=firms, parks=parks, rejects=pd.DataFrame(), load_report={}, parks_report={},
                   valleys={"Bench": vr})


def _open_times(path: Path, repeats: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=ARGS)
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.route("http*://**", lambda route: route.abort())
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            t0 = time.perf_counter()
            page.goto(path.as_uri(), wait_until="load")
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            times.append(time.perf_counter() - t0)
            if errors:
                raise RuntimeError(f"page errors in {path}: {errors}")
            page.close()
        browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--files", type=Path, nargs="*", default=[], help="also time these written maps")
    args = parser.parse_args()
    import folium

    print(f"machine: {_cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
          f"geo {geo.__version__}, folium {folium.__version__}")
    print("| firms | optics firms | hot/cold cells | Gi* layer | firm layers (optics / all) | build (s) | save (s) "
          "| HTML (MB) | open, median (s) | open, min (s) |")
    print("|---:|---:|---:|---|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.n:
            res = synthetic_results(n)
            vr = res.valleys["Bench"]
            n_opt = int((vr.firms["sector"] == "optics").sum())
            n_sig = int((vr.analysis.hotspots["gi_bin"] != 0).sum())
            t0 = time.perf_counter()
            m = maps.valley_map(res, "Bench")
            t1 = time.perf_counter()
            path = maps.save_map(m, Path(tmp) / f"bench_{n}.html")
            t2 = time.perf_counter()
            size = path.stat().st_size / 1e6
            opened = _open_times(path, args.repeats)
            gi = "merged by bin" if n_sig > maps.CELLS_MAX else "one polygon per cell"
            print(f"| {n:,} | {n_opt:,} | {n_sig:,} | {gi} | {maps.firm_layer_mode(n_opt)} / {maps.firm_layer_mode(n)} "
                  f"| {t1 - t0:.1f} | {t2 - t1:.1f} | {size:.2f} | {statistics.median(opened):.2f} | {min(opened):.2f} |",
                  flush=True)
    if args.files:
        print("\n| map | HTML (MB) | open, median (s) | open, min (s) |\n|---|---:|---:|---:|")
        for path in args.files:
            opened = _open_times(path.resolve(), args.repeats)
            print(f"| {path.name} | {path.stat().st_size / 1e6:.2f} | {statistics.median(opened):.2f} | {min(opened):.2f} |")


if __name__ == "__main__":
    main()
