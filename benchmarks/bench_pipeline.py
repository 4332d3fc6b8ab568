"""End-to-end ``geo run`` at scale versus the plain geopandas + libpysal + esda + folium script.

Run by hand (several minutes; nothing else should run on the machine)::

    .venv/bin/python benchmarks/bench_pipeline.py [--n 1000000] [--plain-n 1000000]
        [--read-repeats 3] [--geo-repeats 1] [--baseline-io /tmp/io_old.py]
        [--only read,geo,plain] [--work /tmp/geo-bench]

What it does, in one run:

1. ``benchmarks/make_big.py`` writes ``n`` seeded synthetic firms of one valley (clustered,
   with three parks, 0.3 % dirty rows, ~60 % GCJ-02 rows) as CSV and Parquet into ``/tmp``.
2. **read**: ``geo.read_firms`` (load + validate + convert) on the CSV and the Parquet file,
   each in a fresh process, median of ``--read-repeats``; with ``--baseline-io FILE`` (an
   older ``geo/io.py``, e.g. ``git show dc2622d:geo/io.py > /tmp/io_old.py``) the same for
   that implementation ("before").
3. **geo**: the whole ``geo run`` (``geo.pipeline.runner.run(config)`` then ``Results.write``, as
   the CLI does) with 999 permutations, in a fresh process: wall time, ``Results.timings``,
   the per-valley ``stages["timings"]`` and peak memory (``ru_maxrss``).
4. **plain**: :func:`plain_script` -- the same steps written the usual way with pandas,
   geopandas, libpysal, esda and folium -- in a fresh process, step by step, on the same
   CSV and parks, on the lattice geo chose (same hexagon size).  With ``--plain-n`` smaller
   than ``n`` the point steps are measured at ``plain-n`` firms and scaled linearly to ``n``
   (the lattice steps do not depend on ``n`` at a fixed cell size); the report says so.

Prints a JSON record and a markdown summary to paste into docs/benchmarks.md
("Pipeline at scale").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _machine import children_rss_mb, cpu_model, machine_line, rss_mb  # noqa: E402


# ----------------------------------------------------------------------------- helpers
def _maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _rss_mb(pid: int) -> float:
    return rss_mb(pid)


def _child(args: list[str], timeout: float, mem_limit_gb: float = 14.0) -> dict:
    """Run this file as a child process; return the JSON it prints last.

    A watchdog kills the child when its resident memory passes ``mem_limit_gb`` (the
    machine is shared: better a recorded failure than the kernel's OOM killer).
    """
    import tempfile

    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, text=True)
        t0 = time.perf_counter()
        peak = 0.0
        killed = None
        while proc.poll() is None:
            peak = max(peak, _rss_mb(proc.pid))
            if peak > mem_limit_gb * 1024:
                killed = f"killed by the benchmark: resident memory passed {mem_limit_gb} GB"
            elif time.perf_counter() - t0 > timeout:
                killed = f"killed by the benchmark: no result after {timeout:.0f} s"
            if killed:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.2)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if killed or proc.returncode != 0:
        return {"error": killed or stderr[-3000:], "stderr_tail": stderr[-3000:], "returncode": proc.returncode,
                "peak_mb_polled": peak, "seconds_until_stop": time.perf_counter() - t0}
    res = json.loads(stdout.strip().splitlines()[-1])
    res["peak_mb_polled"] = peak
    return res


# ----------------------------------------------------------------------------- children
def child_read(path: str, module: str | None) -> dict:
    """Time read_firms (the current one, or an older io.py given as a file)."""
    if module:
        import importlib.util

        spec = importlib.util.spec_from_file_location("io_baseline", module)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        read_firms = mod.read_firms
    else:
        from geo.io.firms import read_firms
    import geopandas  # noqa: F401 - imported by read_firms; not part of the timing

    t0, c0 = time.perf_counter(), time.process_time()
    firms = read_firms(path)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rep = firms.attrs["load_report"]
    return {"seconds": wall, "cpu_seconds": cpu, "rows_read": rep["rows_read"], "rows_kept": rep["rows_kept"],
            "rejected_by_reason": rep["rejected_by_reason"], "peak_mb": _maxrss_mb()}


def child_geo(config: str, out: str) -> dict:
    """``geo run CONFIG --out OUT`` in-process: ``run(config, out=out)``, what the CLI does
    (the big layers of layers.gpkg are written by a child process during the analysis).

    A thread samples the resident memory every 50 ms and the library's log messages are
    kept with their times, so the peak can be placed after the stage that caused it.
    """
    import logging
    import threading

    from geo._process import owned
    from geo.pipeline.runner import run

    t0 = time.perf_counter()
    events: list[tuple[float, str]] = []
    peak = {"mb": 0.0, "t": 0.0, "children_mb": 0.0, "total_mb": 0.0}
    stop = threading.Event()

    class _Log(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            t = time.perf_counter() - t0
            events.append((t, f"{record.name}: {record.getMessage()[:100]}"))
            # also now, to stderr: the last lines say where a killed run was
            print(f"{t:8.1f} s {_rss_mb(os.getpid()):8.0f} MB  {events[-1][1]}", file=sys.stderr, flush=True)

    def _poll() -> None:
        while not stop.is_set():
            mb = _rss_mb(os.getpid())
            kids = children_rss_mb(os.getpid())
            if mb > peak["mb"]:
                peak.update(mb=mb, t=time.perf_counter() - t0)
            peak["children_mb"] = max(peak["children_mb"], kids)
            peak["total_mb"] = max(peak["total_mb"], mb + kids)
            time.sleep(0.05)

    handler = _Log(level=logging.INFO)
    logging.getLogger("geo").addHandler(handler)
    logging.getLogger("geo").setLevel(logging.INFO)
    sampler = threading.Thread(target=_poll, daemon=True)
    sampler.start()
    with owned():  # as the CLI: gc freezes, the child layer writer, forked figure workers
        res = run(config, out=out)
    t2 = time.perf_counter()
    t1 = t2 - res.timings.get("write", 0.0)  # the writing after the analysis
    stop.set()
    sampler.join()
    before = [m for t, m in events if t <= peak["t"]]
    valleys = {}
    for name, vr in res.valleys.items():
        cells = vr.analysis.cells
        valleys[name] = {
            "n_firms": int(len(vr.firms)),
            "timings": {k: float(v) for k, v in (vr.analysis.timings or {}).items()},
            "n_cells": None if cells is None else int(len(cells)),
            "cell_size_m": None if cells is None else cells.attrs.get("size_m"),
            "skipped": dict(vr.skipped),
        }
    return {"seconds": t2 - t0, "run_seconds": t1 - t0, "write_seconds": t2 - t1,
            "timings": {k: float(v) for k, v in res.timings.items()}, "valleys": valleys,
            "rows_kept": int(res.load_report["rows_kept"]), "peak_mb": _maxrss_mb(),
            "peak_sampled_mb": peak["mb"], "peak_at_s": peak["t"],
            "peak_children_mb": peak["children_mb"], "peak_with_children_mb": peak["total_mb"], "peak_after_log": before[-1] if before else None,
            "log": [(round(t, 2), m) for t, m in events]}


def child_plain(csv: str, parks: str, out: str, cell_size: float, permutations: int) -> dict:
    steps = plain_script(csv, parks, out, cell_size=cell_size, permutations=permutations)
    return {"seconds": sum(v for k, v in steps.items() if not k.startswith("n_")), "steps": steps, "peak_mb": _maxrss_mb()}


# ----------------------------------------------------------------------------- the plain script
def plain_script(csv_path: str, parks_path: str, out_dir: str, *, cell_size: float, permutations: int = 999,
                 seed: int = 0, target: str = "optics") -> dict[str, float]:
    """The pipeline written the usual way: pandas, geopandas, libpysal, esda, folium.

    Same steps as ``geo run``, each as an analyst would write it from the libraries'
    documentation: ``pd.read_csv``; drop rows with missing/non-numeric/(0, 0)/out-of-range
    coordinates, missing ids and exact duplicates; GCJ-02 rows shifted back to WGS84 with
    the widely used closed-form approximation (one evaluation of the offset, ~1-5 m error);
    ``geopandas`` points and ``to_crs`` to UTM; a hexagon grid of the given flat-to-flat
    size over the firms' extent, cells kept when they touch the convex hull; counts by
    ``gpd.sjoin``; ``libpysal.weights.Queen``; ``esda.Moran`` (all firms and the target
    sector), ``esda.Moran_Local`` and ``esda.G_Local(star=True)`` of the target sector and
    ``G_Local`` of all firms, each with ``permutations`` and ``n_jobs=1``; Benjamini-Hochberg
    at 5 %; hot-spot clusters by dissolving significant hot cells; per-park firm counts
    (``sjoin``), cluster overlap (``gpd.overlay``) and a hypergeometric test of the target
    sector's share inside each park; a folium map of the non-empty cells (Gi* bins), the
    clusters and the parks; the cells and clusters written to a GeoPackage and a JSON summary.

    Returns the seconds of each step (and a few counts, keys ``n_*``).
    """
    import warnings

    warnings.filterwarnings("ignore")
    import esda
    import folium
    import geopandas as gpd
    import libpysal
    import numpy as np
    import pandas as pd
    import shapely
    from scipy import stats

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    steps: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        steps[name] = now - t
        t = now

    # load
    df = pd.read_csv(csv_path, dtype={"firm_id": str, "industry_code": str}, on_bad_lines="skip")
    lap("read_csv")
    # validate
    df["lon"] = pd.to_numeric(df["lon"], errors="coerce")
    df["lat"] = pd.to_numeric(df["lat"], errors="coerce")
    df = df.dropna(subset=["firm_id", "lon", "lat"]).drop_duplicates()
    df = df[~((df["lon"] == 0) & (df["lat"] == 0)) & df["lon"].between(-180, 180) & df["lat"].between(-90, 90)]
    df = df[df["coord_sys"].fillna("wgs84").str.lower().isin(["wgs84", "gcj02", "gcj-02"])]
    lap("validate")
    # convert GCJ-02 -> WGS84 (closed-form approximation), points, to UTM
    gcj = df["coord_sys"].fillna("").str.lower().str.startswith("gcj").to_numpy()
    lon, lat = df["lon"].to_numpy().copy(), df["lat"].to_numpy().copy()
    dlon, dlat = _gcj_offset(lon[gcj], lat[gcj])
    lon[gcj] -= dlon
    lat[gcj] -= dlat
    firms = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    utm = firms.estimate_utm_crs()
    firms = firms.to_crs(utm)
    lap("convert")
    # aggregate: hexagon grid + spatial join
    hull = shapely.convex_hull(shapely.multipoints(shapely.get_coordinates(firms.geometry.values)))
    hexes = _hex_grid(firms.total_bounds, cell_size, utm)
    hexes = hexes[hexes.intersects(hull)].reset_index(drop=True)
    joined = gpd.sjoin(firms[["sector", "geometry"]], hexes, predicate="within", how="inner")
    hexes["n_firms"] = joined.groupby("index_right").size().reindex(hexes.index, fill_value=0).to_numpy()
    hexes["n_target"] = joined[joined["sector"] == target].groupby("index_right").size().reindex(hexes.index, fill_value=0).to_numpy()
    lap("aggregate")
    w = libpysal.weights.Queen.from_dataframe(hexes, use_index=False, silence_warnings=True)
    w.transform = "r"
    lap("weights")
    rng_seed = seed
    mo_all = esda.Moran(hexes["n_firms"].to_numpy(float), w, permutations=permutations)
    mo_t = esda.Moran(hexes["n_target"].to_numpy(float), w, permutations=permutations)
    lap("global_moran")
    y = hexes["n_target"].to_numpy(float)
    lisa = esda.Moran_Local(y, w, transformation="r", permutations=permutations, n_jobs=1, seed=rng_seed,
                            keep_simulations=False)
    lap("local_moran")
    gi = esda.G_Local(y, w, transform="B", permutations=permutations, star=True, n_jobs=1, seed=rng_seed,
                      keep_simulations=False)
    gi_all = esda.G_Local(hexes["n_firms"].to_numpy(float), w, transform="B", permutations=permutations, star=True,
                          n_jobs=1, seed=rng_seed, keep_simulations=False)
    lap("local_g")
    for name, p in (("lisa", lisa.p_sim), ("gi", gi.p_sim), ("gi_all", gi_all.p_sim)):
        hexes[f"{name}_sig"] = p <= esda.fdr(p, 0.05)
    hexes["lisa_q"] = lisa.q
    hexes["gi_z"] = gi.Zs
    hexes["gi_hot"] = hexes["gi_sig"] & (gi.Zs > 0)
    hot = hexes[hexes["gi_hot"]]
    clusters = hot.dissolve().explode(index_parts=False).reset_index(drop=True) if len(hot) else hot
    lap("hotspots_fdr_clusters")
    # parks: membership, overlap, a hypergeometric test of the target share
    parks = gpd.read_file(parks_path).to_crs(utm)
    inside = gpd.sjoin(firms[["sector", "geometry"]], parks[["name", "geometry"]], predicate="within", how="inner")
    per_park = inside.groupby("name").agg(n_firms=("sector", "size"), n_target=("sector", lambda s: int((s == target).sum())))
    n_all, n_t = len(firms), int((firms["sector"] == target).sum())
    per_park["p_hypergeom"] = [stats.hypergeom.sf(k - 1, n_all, n_t, m) for k, m in zip(per_park["n_target"], per_park["n_firms"])]
    if len(clusters):
        ov = gpd.overlay(clusters[["geometry"]], parks[["name", "geometry"]], how="intersection")
        per_park["cluster_overlap_m2"] = ov.assign(a=ov.area).groupby("name")["a"].sum().reindex(per_park.index, fill_value=0.0)
    lap("park_overlay")
    # map
    m = folium.Map(location=[float(np.mean(lat)), float(np.mean(lon))], zoom_start=11, tiles="OpenStreetMap")
    shown = hexes[hexes["n_firms"] > 0].to_crs(4326)
    folium.GeoJson(shown[["n_firms", "n_target", "gi_z", "gi_hot", "geometry"]], name="cells",
                   style_function=lambda f: {"fillColor": "#d7301f" if f["properties"]["gi_hot"] else "#cccccc",
                                             "weight": 0, "fillOpacity": 0.5}).add_to(m)
    if len(clusters):
        folium.GeoJson(clusters.to_crs(4326)[["geometry"]], name="clusters").add_to(m)
    folium.GeoJson(parks.to_crs(4326)[["name", "geometry"]], name="parks").add_to(m)
    folium.LayerControl().add_to(m)
    m.save(str(out / "map.html"))
    lap("map")
    # outputs
    layers = out / "layers.gpkg"
    if layers.exists():
        layers.unlink()
    hexes.drop(columns=["lisa_sig", "gi_sig", "gi_all_sig"]).to_file(layers, layer="cells", driver="GPKG")
    if len(clusters):
        clusters[["geometry"]].to_file(layers, layer="clusters", driver="GPKG")
    summary = {"n_firms": int(n_all), "n_cells": int(len(hexes)), "moran_all": [float(mo_all.I), float(mo_all.p_sim)],
               "moran_target": [float(mo_t.I), float(mo_t.p_sim)], "n_hot": int(hexes["gi_hot"].sum()),
               "parks": per_park.reset_index().to_dict(orient="records")}
    (out / "summary.json").write_text(json.dumps(summary, default=float, indent=1))
    lap("write")
    steps["n_firms"] = float(n_all)
    steps["n_cells"] = float(len(hexes))
    return steps


def _gcj_offset(lon, lat):
    """The widely copied GCJ-02 offset (Krasovsky 1940 ellipsoid), evaluated once."""
    import numpy as np

    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * np.pi
    magic = 1 - ee * np.sin(rad) ** 2
    sq = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((a * (1 - ee)) / (magic * sq) * np.pi)
    dlon = (dlon * 180.0) / (a / sq * np.cos(rad) * np.pi)
    return dlon, dlat


def _hex_grid(bounds, size: float, crs):
    """Flat-topped hexagons of flat-to-flat width ``size`` covering ``bounds``."""
    import geopandas as gpd
    import numpy as np
    import shapely

    r = size / np.sqrt(3.0)  # circumradius = edge
    dx, dy = 1.5 * r, size
    x0, y0, x1, y1 = bounds
    cols = np.arange(int((x1 - x0) / dx) + 3)
    rows = np.arange(int((y1 - y0) / dy) + 3)
    cx, cy = np.meshgrid(x0 - dx + cols * dx, y0 - dy + rows * dy)
    cy = cy + np.where(cols % 2 == 1, dy / 2.0, 0.0)[None, :]
    cx, cy = cx.ravel(), cy.ravel()
    ang = np.deg2rad(np.arange(0, 360, 60))
    ring = np.stack([cx[:, None] + r * np.cos(ang), cy[:, None] + r * np.sin(ang)], axis=-1)
    ring = np.concatenate([ring, ring[:, :1]], axis=1)
    return gpd.GeoDataFrame(geometry=shapely.polygons(ring), crs=crs)


# ----------------------------------------------------------------------------- main
def _median(runs: list[dict], key: str = "seconds") -> float | None:
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else None


def _scale_plain(plain: dict, factor: float) -> dict:
    """Point steps scale with n at a fixed lattice; lattice steps do not."""
    point_steps = {"read_csv", "validate", "convert", "aggregate", "park_overlay"}
    steps = {k: (v * factor if k in point_steps else v) for k, v in plain["steps"].items() if not k.startswith("n_")}
    return {"seconds": sum(steps.values()), "steps": steps}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--plain-n", type=int, default=None, help="firms for the plain script (default n)")
    ap.add_argument("--read-repeats", type=int, default=3)
    ap.add_argument("--geo-repeats", type=int, default=1)
    ap.add_argument("--baseline-io", default=None, help="an older geo/io.py to time read_firms against")
    ap.add_argument("--baseline-repeats", type=int, default=3)
    ap.add_argument("--only", default="read,geo,plain")
    ap.add_argument("--work", default="/tmp/geo-bench")
    ap.add_argument("--permutations", type=int, default=999)
    ap.add_argument("--timeout", type=float, default=7200.0)
    ap.add_argument("--mem-limit-gb", type=float, default=14.0, help="kill a child whose RSS passes this")
    ap.add_argument("--child", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)

    if args.child:
        kind, *rest = args.child
        if kind == "read":
            res = child_read(rest[0], rest[1] if len(rest) > 1 and rest[1] else None)
        elif kind == "geo":
            res = child_geo(rest[0], rest[1])
        else:
            res = child_plain(rest[0], rest[1], rest[2], float(rest[3]), int(rest[4]))
        print(json.dumps(res, default=str))
        return

    from make_big import make_big

    only = set(args.only.split(","))
    work = Path(args.work)
    record: dict = {"n": args.n, "machine": {"nproc": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version(),
                                             "line": machine_line()}}
    t0 = time.perf_counter()
    paths = make_big(args.n, work / "data", permutations=args.permutations)
    record["generate_seconds"] = time.perf_counter() - t0
    record["files_mb"] = {k: round(paths[k].stat().st_size / 1e6, 1) for k in ("csv", "parquet")}

    if "read" in only:
        for fmt in ("csv", "parquet"):
            runs = [_child(["read", str(paths[fmt]), ""], args.timeout, args.mem_limit_gb) for _ in range(args.read_repeats)]
            record[f"read_{fmt}"] = {"median_s": _median(runs), "median_cpu_s": _median(runs, "cpu_seconds"),
                                     "peak_mb": max((r.get("peak_mb", 0) for r in runs), default=None), "runs": runs}
            if args.baseline_io:
                base = [_child(["read", str(paths[fmt]), args.baseline_io], args.timeout, args.mem_limit_gb) for _ in range(args.baseline_repeats)]
                record[f"read_{fmt}_baseline"] = {"median_s": _median(base), "median_cpu_s": _median(base, "cpu_seconds"),
                                                  "peak_mb": max((r.get("peak_mb", 0) for r in base), default=None), "runs": base}
            print(f"read {fmt}: {record[f'read_{fmt}']['median_s']}", file=sys.stderr)

    cell_size = None
    if "geo" in only:
        runs = [_child(["geo", str(paths["config"]), str(work / "geo-output")], args.timeout, args.mem_limit_gb) for _ in range(args.geo_repeats)]
        record["geo"] = {"median_s": _median(runs), "runs": runs}
        good = [r for r in runs if "valleys" in r]
        if good:
            cell_size = next((v["cell_size_m"] for v in good[0]["valleys"].values() if v["cell_size_m"]), None)
        print(f"geo: {record['geo']['median_s']}", file=sys.stderr)

    if "plain" in only:
        plain_n = args.plain_n or args.n
        small = make_big(plain_n, work / "data", permutations=args.permutations) if plain_n != args.n else paths
        if cell_size is None:
            cell_size = float(os.environ.get("GEO_BENCH_CELL", "136"))
        plain = _child(["plain", str(small["csv"]), str(small["parks"]), str(work / "plain-output"), str(cell_size),
                        str(args.permutations)], args.timeout, args.mem_limit_gb)
        record["plain"] = {"n": plain_n, "cell_size_m": cell_size, **plain}
        if plain_n != args.n and "steps" in plain:
            record["plain_extrapolated"] = {"n": args.n, **_scale_plain(plain, args.n / plain_n)}
        print(f"plain: {plain.get('seconds')}", file=sys.stderr)

    print(json.dumps(record, indent=1, default=str))


if __name__ == "__main__":
    main()
