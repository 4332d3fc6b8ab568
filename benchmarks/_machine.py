"""Shared helpers of the benchmark scripts: what machine they ran on, process memory."""

from __future__ import annotations

import os
import platform
import subprocess


def cpu_model() -> str:
    """The CPU model name from ``lscpu`` (or the platform's processor string)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def machine_line() -> str:
    """One line for docs/benchmarks.md: CPU, cores, Python."""
    return f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (``VmRSS`` of /proc), 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def children_rss_mb(pid: int) -> float:
    """Resident memory of the direct children of ``pid`` in MB (e.g. the layer writer)."""
    total = 0.0
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as fh:
            kids = [int(k) for k in fh.read().split()]
    except OSError:
        return 0.0
    for k in kids:
        total += rss_mb(k)
    return total
