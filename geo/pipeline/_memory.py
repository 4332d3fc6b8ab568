"""How much memory an in-memory run would need, and refusing one that would not fit."""

from __future__ import annotations

from pathlib import Path

from geo.config import Config
from geo.errors import InputError

__all__ = ["estimate_rows", "check_memory"]


#: peak memory of the in-memory engine: a base plus so much per firm read (measured peaks,
#: the run and its layer writer together: 1.5 GB at 1M firms, 3.3 GB at 5M, i.e. ~1 GB plus
#: ~470 bytes per firm; docs/benchmarks.md, with a margin), and the least bytes per CSV row
#: assumed when the row count is estimated from the file size
_BYTES_PER_FIRM = 700


_BASE_BYTES = 2**30


_CSV_BYTES_PER_ROW_MIN = 8


def estimate_rows(path: Path) -> int | None:
    """Rows of a firm table, read from Parquet metadata or estimated from a CSV's size."""
    p = Path(path)
    if not p.is_file():
        return None
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(p).metadata.num_rows)
        except Exception:  # noqa: BLE001 - read_firms reports a bad file clearly
            return None
    if suffix in (".csv", ".tsv", ".txt", ".tab"):
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(1 << 20)
        lines = max(head.count(b"\n"), 1)
        per_row = max(len(head) / lines, _CSV_BYTES_PER_ROW_MIN)
        return int(size / per_row)
    return None


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_memory(cfg: Config) -> None:
    """Refuse an in-memory run that would not fit in this machine's memory.

    The need is estimated from the number of rows (Parquet metadata, or the size of a CSV)
    times the measured peak bytes per firm; the limit is ``[run] max_memory_gb`` or the
    memory available now.  The message names the dask engine.
    """
    tables = [cfg.firms.path] + [v.firms for v in cfg.valleys if v.firms is not None]
    for t in tables:
        text = str(t)
        if t is not None and (Path(text).is_dir() or any(ch in text for ch in "*?[")):
            msg = (f"[firms] path {text!r} is a folder or a pattern of many files: the in-memory engine reads one "
                   "file; the dask engine reads many (set engine = \"dask\" in [run], or `--engine dask`).")
            raise InputError(msg)
    rows = [estimate_rows(t) for t in tables if t is not None]
    n = sum(r for r in rows if r)
    if not n:
        return
    need = _BASE_BYTES + n * _BYTES_PER_FIRM
    limit = cfg.run.max_memory_gb * 2**30 if cfg.run.max_memory_gb > 0 else _available_memory()
    if limit is None or need <= limit:
        return
    msg = (
        f"About {n:,} firms: the in-memory engine would need about {need / 2**30:.1f} GB, more than the "
        f"{limit / 2**30:.1f} GB {'allowed by [run] max_memory_gb' if cfg.run.max_memory_gb > 0 else 'available'}. "
        "Use the dask engine: set engine = \"dask\" in [run] (and scheduler = \"tcp://host:8786\" for a cluster), "
        "or run `geo run CONFIG --engine dask --scheduler ADDRESS`."
    )
    raise InputError(msg)
