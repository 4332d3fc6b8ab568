"""Whole ``geo run`` of two work trees (a baseline commit and now), interleaved, like for like.

Run by hand (several minutes per round at 1,000,000 firms; check the baseline out first)::

    git worktree add --detach /tmp/geo-base 7d46ba3
    .venv/bin/python benchmarks/bench_run_ab.py --baseline /tmp/geo-base \\
        --config /tmp/geo-bench/data/1000000/config.toml [--rounds 3] [--modes base,like,full]

Modes (each run is ``run(config, out=...)`` inside ``geo._process.owned()``, as the CLI, in a
fresh process whose ``geo`` comes from one tree through ``PYTHONPATH``):

* ``base``: the baseline tree on ``--config`` as it is;
* ``full``: this tree on ``--config`` as it is (every stage on by default);
* ``like``: this tree doing the baseline's work: a copy of the config with ``scales = []``
  (no scale-sensitivity reruns) and the emerging-hot-spot stage left out in the benchmark's
  process (``geo.pipeline.valley._emerging`` replaced by a no-op there; the stages the
  baseline lacks, so the analysis, and the layers written, are the baseline's);
* ``--like-tree NAME=PATH`` (repeatable) adds a mode ``NAME``: ``like`` with the ``geo`` of
  another work tree (e.g. a ``git archive`` of an earlier commit: the same work written
  another way).

The modes alternate (A B C, C B A, ...), so a change of the machine's load falls on all
alike.  Per run: wall time, CPU time of the process and its children (``/usr/bin/time``), the
peak resident memory, ``Results.timings`` and the valleys' stage timings, and the load
average before the run.  Prints one JSON line per run and a markdown table of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _machine import machine_line


def child(config: str, out: str, *, no_emerging: bool) -> dict:
    """One run in this process (the ``geo`` on ``sys.path``); its times and timings."""
    import resource
    import time

    if no_emerging:
        from geo.pipeline import valley

        valley._emerging = lambda *a, **k: None  # the baseline has no emerging hot spots
    from geo._process import owned
    from geo.pipeline.runner import run

    c0, t0 = time.process_time(), time.perf_counter()
    with owned():
        res = run(config, out=out)
    wall = time.perf_counter() - t0
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall": wall, "cpu": time.process_time() - c0 + kids.ru_utime + kids.ru_stime,
            "timings": {k: float(v) for k, v in res.timings.items()},
            "valleys": {k: {s: float(v) for s, v in (vr.analysis.timings or {}).items()} for k, vr in res.valleys.items()},
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}


def like_config(config: Path, work: Path) -> Path:
    """A copy of ``config`` in ``work`` with ``scales = []``, its relative file paths made absolute."""
    import re
    import tomllib

    text = config.read_text(encoding="utf-8")
    has_scales = "scales" in tomllib.loads(text).get("analysis", {})

    def absolute(m: re.Match) -> str:
        value = m.group(2)
        target = config.parent / value
        if Path(value).is_absolute() or not value or not target.exists():
            return m.group(0)
        return f'{m.group(1)}"{target.resolve()}"'

    text = re.sub(r'^(\s*\w+\s*=\s*)"([^"\n]*)"', absolute, text, flags=re.MULTILINE)
    if has_scales:
        text = re.sub(r"^(\s*scales\s*=\s*)\[[^\]]*\]", r"\1[]", text, count=1, flags=re.MULTILINE)
    else:
        text = re.sub(r"^\[analysis\][^\n]*\n", lambda m: m.group(0) + "scales = []\n", text, count=1, flags=re.MULTILINE)
    if tomllib.loads(text)["analysis"].get("scales") != []:
        raise SystemExit(f"could not set [analysis] scales = [] in {config}")
    out = work / "like.toml"
    out.write_text(text, encoding="utf-8")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", required=False, help="another work tree of geo (mode 'base')")
    ap.add_argument("--config", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--modes", default="base,like,full")
    ap.add_argument("--work", default=None, help="output folder (default: a temporary one)")
    ap.add_argument("--like-tree", action="append", default=[], metavar="NAME=PATH",
                    help="a mode NAME: 'like' with the geo of the work tree PATH (repeatable)")
    ap.add_argument("--child", nargs=3, metavar=("CONFIG", "OUT", "NO_EMERGING"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child[0], a.child[1], no_emerging=a.child[2] == "1")))
        return
    modes = a.modes.split(",")
    if "base" in modes and not a.baseline:
        raise SystemExit("mode 'base' needs --baseline")
    like_trees = {}
    for item in a.like_tree:
        name, _, path = item.partition("=")
        if not name or not path or name in ("base", "like", "full"):
            raise SystemExit(f"--like-tree wants NAME=PATH with a new NAME, not {item!r}")
        like_trees[name] = Path(path).resolve()
        if name not in modes:
            modes.append(name)
    work = Path(a.work or tempfile.mkdtemp(prefix="bench-run-ab-"))
    work.mkdir(parents=True, exist_ok=True)
    config = Path(a.config).resolve()
    like = like_config(config, work) if "like" in modes or like_trees else None
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    print(f"# {machine_line()}", flush=True)
    for r in range(a.rounds):
        for m in modes if r % 2 == 0 else modes[::-1]:
            tree = Path(a.baseline).resolve() if m == "base" else like_trees.get(m, ROOT)
            is_like = m == "like" or m in like_trees
            cfg = like if is_like else config
            env = dict(os.environ, PYTHONPATH=str(tree))
            load = os.getloadavg()[0]
            # the script itself runs as the child, from /tmp, so that only PYTHONPATH decides the tree
            p = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--config", str(config), "--child",
                                str(cfg), str(work / f"out-{m}"), "1" if is_like else "0"],
                               env=env, cwd=tempfile.gettempdir(), capture_output=True, text=True, check=False)
            lines = [x for x in p.stdout.splitlines() if x.startswith("{")]
            if p.returncode or not lines:
                raise SystemExit(f"{m} failed:\n{p.stderr[-3000:]}")
            rec = json.loads(lines[-1]) | {"mode": m, "round": r, "load_before": load}
            runs[m].append(rec)
            print(json.dumps(rec), flush=True)
    print("\n| mode | whole run, median (s) | runs (s) | CPU, median (s) | analysis (s) | write (s) | peak RSS (MB) |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for m, rs in runs.items():
        med = lambda key, rs=rs: statistics.median(x[key] for x in rs)
        tm = lambda key, rs=rs: statistics.median(x["timings"].get(key, 0.0) for x in rs)
        walls = ", ".join(f"{x['wall']:.2f}" for x in rs)
        print(f"| {m} | {med('wall'):.2f} | {walls} | {med('cpu'):.2f} | "
              f"{tm('analysis'):.2f} | {tm('write'):.2f} | {med('peak_mb'):,.0f} |")
    loads = [x["load_before"] for rs in runs.values() for x in rs]
    print(f"\nload average before the runs: {min(loads):.1f}-{max(loads):.1f}")


if __name__ == "__main__":
    main()
