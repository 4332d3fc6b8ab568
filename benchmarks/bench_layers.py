"""Who writes ``layers.gpkg`` in ``geo run``: the main thread or the writer process.

Run by hand (several minutes; the machine should be as quiet as it can be)::

    .venv/bin/python benchmarks/bench_layers.py [--config demo|PATH] [--rounds 5]
        [--modes main,child] [--work /tmp/bench-layers]

Each measurement is one whole ``geo run`` (``run(config, out=...)`` inside
``geo._process.owned()``, as the CLI does) in a fresh process, with ``layers.gpkg`` written
one of two ways:

* ``main``: in the calling thread (the layer job's in-process path: the first layers are
  written before the analysis, the rest after the other outputs);
* ``child``: by :class:`geo.outputs.layers.LayerJob`'s writer process (``python -m
  geo.outputs._layers_child``: what ``geo run`` does for layers of more than
  ``BACKGROUND_MIN_ROWS`` rows; forced here for smaller runs too), overlapping the analysis
  and the other outputs.

In sessions 7 and 8 ``geo run`` wrote big layers in a background thread instead; a mode
``thread`` needs that code (a tree of main before the child came back, with ``--baseline``:
mode ``base``).  docs/benchmarks.md ("Session 7", "Session 8") has the numbers.

The modes are interleaved (main, child, then child, main, ...) over ``--rounds`` rounds,
so a change of the machine's load falls on every mode alike. Per run: wall time of the whole
run, of the output step after the analysis (``Results.timings["write"]``), the peak
resident memory of the main process (``ru_maxrss``) and the peak of the main process and
its children together (``VmRSS`` sampled every 50 ms, from ``bench_pipeline.child_geo``).

A first section measures whether pyogrio releases the GIL while GDAL writes: a pure-Python
loop runs in the main thread while ``pyogrio.raw.write_arrow`` writes 1,000,000 points in a
second thread; the loop's rate is compared with its rate alone.

Prints the medians as a markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _machine import machine_line


def child(mode: str, config: str, out: str) -> dict:
    """One ``geo run`` with the layers written the ``mode`` way (in a fresh process)."""
    import resource

    from geo.outputs import layers as glayers

    if mode == "main":
        glayers.BACKGROUND_MIN_ROWS = float("inf")
    elif mode == "child":
        glayers.BACKGROUND_MIN_ROWS = 0
    elif mode == "base":
        pass  # another tree's geo (``--baseline``), as it is
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    from bench_pipeline import child_geo

    res = child_geo(config, out)
    import pyogrio

    layers = pyogrio.list_layers(Path(out) / "layers.gpkg")
    res["layers"] = {str(name): int(pyogrio.read_info(Path(out) / "layers.gpkg", layer=str(name))["features"])
                     for name, _ in layers}
    res["children_maxrss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    res.pop("log", None)
    return res


def _set_mode(mode: str, original: dict) -> None:
    """Make ``geo.outputs.layers`` write the ``mode`` way (in this process)."""
    from geo.outputs import layers as glayers

    if mode == "main":
        glayers.BACKGROUND_MIN_ROWS = float("inf")
    elif mode == "child":
        glayers.BACKGROUND_MIN_ROWS = 0
    else:
        raise SystemExit(f"unknown mode {mode!r}")


def write_only(config: str, modes: list[str], rounds: int, work: str) -> dict[str, list[dict]]:
    """The analysis once, then ``Results.write`` (the whole output step: layers, maps, rasters,
    report, figures) ``rounds`` times per mode, interleaved, in this process.

    Every layer, the firm layer included, reaches the layer job at the start of the output
    step, and the main thread draws the maps, rasters and report meanwhile.  Peaks are the
    largest ``VmRSS`` sampled every 20 ms during each write: this process, and this process
    with its children (the layer writer).
    """
    from _machine import children_rss_mb, rss_mb

    from geo._process import owned
    from geo.outputs import layers as glayers
    from geo.pipeline.runner import run

    original = {"BACKGROUND_MIN_ROWS": glayers.BACKGROUND_MIN_ROWS}
    t0 = time.perf_counter()
    with owned():
        res = run(config)
    print(f"# analysis once: {time.perf_counter() - t0:.1f} s; firms {len(res.firms):,}; cells "
          f"{sum(len(vr.analysis.cells) for vr in res.valleys.values() if vr.analysis.cells is not None):,}", flush=True)
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    me = os.getpid()
    for r in range(rounds):
        for m in modes:
            _set_mode(m, original)
            before = rss_mb(me)
            peak = {"main": before, "all": before}
            stop = threading.Event()

            def poll(peak=peak, stop=stop) -> None:
                while not stop.is_set():
                    mb = rss_mb(me)
                    peak["main"] = max(peak["main"], mb)
                    peak["all"] = max(peak["all"], mb + children_rss_mb(me))
                    time.sleep(0.02)

            sampler = threading.Thread(target=poll, daemon=True)
            sampler.start()
            c0, t0 = time.process_time(), time.perf_counter()
            with owned():
                written = res.write(str(Path(work) / m))
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            stop.set()
            sampler.join()
            import pyogrio

            layers = {str(n): int(pyogrio.read_info(written["layers"], layer=str(n))["features"])
                      for n, _ in pyogrio.list_layers(written["layers"])}
            runs[m].append({"seconds": wall, "cpu_main": cpu, "rss_before_mb": before, "peak_mb": peak["main"],
                            "peak_with_children_mb": peak["all"], "layers": layers})
            print(f"# round {r + 1} {m}: write {wall:.2f} s (main process CPU {cpu:.2f} s), peak {peak['main']:.0f} MB "
                  f"main (before {before:.0f}), {peak['all']:.0f} MB with children; load {os.getloadavg()[0]:.1f}",
                  flush=True)
    glayers.BACKGROUND_MIN_ROWS = original["BACKGROUND_MIN_ROWS"]
    return runs


def gil_probe(n: int = 1_000_000, repeats: int = 3) -> list[dict]:
    """The main thread's pure-Python rate while a thread writes ``n`` points with GDAL."""
    import tempfile

    import geopandas as gpd
    import numpy as np
    import pyarrow as pa
    import shapely
    from pyogrio.raw import write_arrow

    rng = np.random.default_rng(0)
    gdf = gpd.GeoDataFrame({"a": rng.integers(0, 100, n), "s": rng.integers(0, 100, n).astype(str)},
                           geometry=shapely.points(rng.uniform(0, 1, n), rng.uniform(0, 1, n)), crs=4326)
    table = pa.table(gdf.to_arrow(geometry_encoding="WKB"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-layers-gil-"))

    def write(path: Path) -> None:
        path.unlink(missing_ok=True)
        write_arrow(table, path, layer="f", driver="GPKG", geometry_name="geometry", geometry_type="Point",
                    crs="EPSG:4326", layer_options={"SPATIAL_INDEX": "NO"})

    def spin_for(seconds: float) -> float:
        t0, k = time.perf_counter(), 0
        while time.perf_counter() - t0 < seconds:
            for _ in range(10_000):
                k += 1
        return k / seconds

    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        write(tmp / "alone.gpkg")
        alone = time.perf_counter() - t0
        rate = spin_for(2.0)
        th = threading.Thread(target=write, args=(tmp / "thread.gpkg",))
        t0, k = time.perf_counter(), 0
        th.start()
        while th.is_alive():
            for _ in range(10_000):
                k += 1
        both = time.perf_counter() - t0
        out.append({"write_alone_s": alone, "write_in_thread_s": both, "loop_share": (k / both) / rate})
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()
    return out


def _run_child(mode: str, config: str, out: str, tree: Path = ROOT) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", mode, config, out],
                          check=False, capture_output=True, text=True, env=env, cwd=str(tree))
    if proc.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _table(runs: dict[str, list[dict]], seconds: str, third: str, value) -> None:
    """The markdown table of the modes' medians: ``seconds`` (with every run), ``third`` (``value`` of
    a run), and the peak memory of the main process and with its children."""
    print(f"\n| mode | {seconds} | runs (s) | {third} | peak RSS main (MB) | peak RSS main + children (MB) |")
    print("|---|---:|---|---:|---:|---:|")
    for m, rs in runs.items():
        print(f"| {m} | {statistics.median(x['seconds'] for x in rs):.2f} | "
              f"{', '.join(format(x['seconds'], '.2f') for x in rs)} | "
              f"{statistics.median(value(x) for x in rs):.2f} | "
              f"{statistics.median(x['peak_mb'] for x in rs):.0f} | "
              f"{statistics.median(x['peak_with_children_mb'] for x in rs):.0f} |")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="demo", help="a geo config, or 'demo' for the bundled demo")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--modes", default="main,child")
    ap.add_argument("--work", default="/tmp/bench-layers")
    ap.add_argument("--skip-gil", action="store_true")
    ap.add_argument("--baseline", default=None, help="another work tree of geo: adds the mode 'base' (its geo as it is)")
    ap.add_argument("--warmup", action="store_true", help="one unrecorded run per tree first (numba caches)")
    ap.add_argument("--write-only", action="store_true",
                    help="analyse once, then time Results.write alone per mode, in this process")
    ap.add_argument("--child", nargs=3, metavar=("MODE", "CONFIG", "OUT"))
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    import pyogrio

    print(f"# {machine_line()}; pyogrio {pyogrio.__version__}, GDAL {pyogrio.__gdal_version_string__}")
    if not args.skip_gil:
        probe = gil_probe()
        for p in probe:
            print(f"# GIL probe: write_arrow 1M points alone {p['write_alone_s']:.2f} s, in a thread "
                  f"{p['write_in_thread_s']:.2f} s; the main thread's Python loop meanwhile ran at "
                  f"{p['loop_share']:.0%} of its rate alone", flush=True)
    config = args.config
    if config == "demo":
        from geo.datasets import demo_files

        config = str(demo_files()["config"])
    modes = args.modes.split(",")
    if args.write_only:
        runs = write_only(config, modes, args.rounds, args.work)
        layers = {m: runs[m][-1]["layers"] for m in modes}
        same = all(layers[m] == layers[modes[0]] for m in modes)
        print(f"\n# layers (features): {layers[modes[0]]} - {'the same' if same else 'DIFFERENT'} in every mode")
        _table(runs, "output step, median (s)", "main-process CPU (s)", lambda x: x["cpu_main"])
        return
    trees = {m: Path(args.baseline) if m == "base" else ROOT for m in modes}
    if args.warmup:
        for tree in dict.fromkeys(trees.values()):
            m = next(m for m in modes if trees[m] == tree)
            _run_child(m, config, str(Path(args.work) / "warmup"), tree)
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    for r in range(args.rounds):
        for m in modes if r % 2 == 0 else modes[::-1]:  # no mode always first
            out = str(Path(args.work) / m)
            res = _run_child(m, config, out, trees[m])
            runs[m].append(res)
            print(f"# round {r + 1} {m}: {res['seconds']:.2f} s (write {res['timings'].get('write', 0):.2f} s), "
                  f"peak {res['peak_mb']:.0f} MB main, {res['peak_with_children_mb']:.0f} MB with children; "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    layers = {m: runs[m][-1]["layers"] for m in modes}
    same = all(layers[m] == layers[modes[0]] for m in modes)
    print(f"\n# layers (features): {layers[modes[0]]} - {'the same' if same else 'DIFFERENT'} in every mode")
    if args.baseline:
        print(f"# base = {args.baseline}")
    _table(runs, "whole run, median (s)", "output step after the analysis (s)",
           lambda x: x["timings"].get("write", 0.0))


if __name__ == "__main__":
    main()
