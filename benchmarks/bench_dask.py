"""The dask engine on a national-registry-sized table: 20,000,000 firms as partitioned Parquet.

Run by hand (tens of minutes; nothing else should run on the machine)::

    .venv/bin/python benchmarks/bench_dask.py [--n 20000000] [--workers 2] [--work /tmp/geo-bench]
        [--permutations 999] [--memory-limit 8GB]

What it does:

1. ``benchmarks/make_big.py --formats parts`` writes ``n`` seeded synthetic firms of one valley
   as one Parquet file per million rows (``firms_parts/part-*.parquet``) with parks and a
   ``config_dask.toml`` (``engine = "dask"``).
2. Starts a ``LocalCluster`` of ``--workers`` worker processes (one thread each) on loopback
   and runs ``geo run`` on it (``pipeline.run`` + ``Results.write``) in this process, the
   driver.  A sampler thread reads the resident memory (``/proc/<pid>/status`` VmRSS) of the
   driver and of every worker process every 0.2 s: the peaks are reported per process.
3. Asks the in-memory engine for the same table: it must refuse (the memory check), and the
   message is recorded.

Prints a JSON record and a markdown summary for docs/benchmarks.md ("The dask engine").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _machine import machine_line, rss_mb  # noqa: E402


def _rss_mb(pid: int) -> float:
    return rss_mb(pid)


class Sampler(threading.Thread):
    """Peak resident memory of the driver and of the cluster's worker processes."""

    def __init__(self, client, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.interval = interval
        self.peaks: dict[str, float] = {}
        self.stop = threading.Event()
        self.pids = {"driver": os.getpid()}
        info = client.run(os.getpid)  # worker address -> pid
        for i, (addr, pid) in enumerate(sorted(info.items())):
            self.pids[f"worker {i + 1} ({addr})"] = pid

    def run(self) -> None:
        while not self.stop.is_set():
            for name, pid in self.pids.items():
                self.peaks[name] = max(self.peaks.get(name, 0.0), _rss_mb(pid))
            time.sleep(self.interval)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", default="/tmp/geo-bench")
    ap.add_argument("--permutations", type=int, default=999)
    ap.add_argument("--memory-limit", default="8GB", help="per worker (the nanny restarts a worker above it)")
    args = ap.parse_args(argv)

    from make_big import make_big

    t0 = time.perf_counter()
    paths = make_big(args.n, Path(args.work) / "data", formats=("parts",), permutations=args.permutations)
    t_gen = time.perf_counter() - t0
    files = sorted(Path(paths["parts"]).glob("*.parquet"))
    size_mb = sum(f.stat().st_size for f in files) / 2**20

    import dataclasses

    from distributed import Client, LocalCluster

    import geo
    from geo.config import load_config
    from geo.errors import InputError

    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, memory_limit=args.memory_limit)
    client = Client(cluster)
    cfg = load_config(paths["config_dask"])
    cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, scheduler=cluster.scheduler_address))
    sampler = Sampler(client)
    sampler.start()
    t0 = time.perf_counter()
    res = geo.run(cfg)
    t_run = time.perf_counter() - t0
    out = Path(args.work) / f"dask-output-{args.n}"
    t0 = time.perf_counter()
    res.write(out)
    t_write = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    client.close()
    cluster.close()

    # the in-memory engine on the same table: refused before reading, naming the dask engine
    from geo.pipeline._memory import (
        _BASE_BYTES,
        _BYTES_PER_FIRM,
        _available_memory,
        estimate_rows,
    )

    rows = sum(estimate_rows(f) or 0 for f in files)
    avail = _available_memory()
    refusal = f"{rows:,} rows in the parts, estimated need {(_BASE_BYTES + rows * _BYTES_PER_FIRM) / 2**30:.1f} GB" + (
        f", {avail / 2**30:.1f} GB available" if avail is not None else "")
    try:
        geo.run(dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, engine="pandas")))
        refusal += "; NOT refused"
    except InputError as exc:
        refusal += f"; refused: {exc}"

    vr = next(iter(res.valleys.values()))
    record = {
        "machine": machine_line(),
        "n": args.n,
        "files": len(files),
        "parquet_mb": round(size_mb, 1),
        "generate_s": round(t_gen, 1),
        "workers": args.workers,
        "run_s": round(t_run, 1),
        "write_s": round(t_write, 1),
        "timings": {k: round(v, 2) for k, v in res.timings.items()},
        "valley_timings": {k: round(v, 2) for k, v in (vr.analysis.timings or {}).items()},
        "rows_read": res.load_report["rows_read"],
        "rows_kept": res.load_report["rows_kept"],
        "rejected_by_reason": res.load_report["rejected_by_reason"],
        "partitions": res.load_report["engine"]["partitions"],
        "cells": int(len(vr.analysis.cells)) if vr.analysis.cells is not None else None,
        "sample": int(len(vr.firms)),
        "peak_rss_mb": {k: round(v) for k, v in sampler.peaks.items()},
        "in_memory_engine": refusal,
    }
    print(json.dumps(record, indent=2))
    print()
    print("| firms | files | workers | geo run (s) | write (s) | peak RSS driver (MB) | peak RSS per worker (MB) |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    workers = ", ".join(f"{v:,}" for k, v in record["peak_rss_mb"].items() if k != "driver")
    print(f"| {args.n:,} | {len(files)} | {args.workers} | {t_run:.1f} | {t_write:.1f} | "
          f"{record['peak_rss_mb']['driver']:,} | {workers} |")


if __name__ == "__main__":
    main()
