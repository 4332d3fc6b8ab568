"""The dask engine: read, validate, convert and reduce firm tables partition by partition.

``geo run`` with ``engine = "dask"`` (config) or ``--engine dask --scheduler ADDRESS`` (CLI)
sends the work that grows with the number of firms to a dask.distributed cluster: reading
(CSV byte blocks, Parquet row groups, many files), validation and rejects, coordinate
conversion, valley assignment, park membership and the counts per cell.  The driver (the
process running ``geo run``) makes the few decisions that need every row -- exact duplicates,
the extent of the swapped-coordinates check, stacked geocodes -- from small summaries the
partitions send, and receives back the reduced tables: the rejects, the cell counts, the park
counts and a bounded, seeded sample of the kept firms.  The statistics then run on the
driver as in the in-memory engine.

Same answers: each partition runs the same validation steps as :func:`geo.read_firms`
(:class:`geo.io.engine.Validation`), and the whole-table decisions are exact (hash candidates,
then exact grouping of the candidates; exact order statistics for the percentile box), so
the rejects, the load report and the kept firms equal the in-memory engine's on the same
input (``tests/test_dask_engine.py`` checks it on a 2-worker ``LocalCluster``).

The partition state (the parsed text of the partition and its validation arrays) stays on
the worker that read it, as a future; only arrays of hashes, candidate rows and counts
travel.  The driver holds one 8-byte hash per row for the two whole-table checks (160 MB at
20,000,000 rows).
"""

from __future__ import annotations

import copy
import dataclasses
import glob
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.errors import DataFileError, InputError
from geo.io import engine as gio
from geo.io.engine import float_bits, mix, place, place_hash
from geo.pipeline._area import area_rule
from geo.points import PointFrame

__all__ = ["connect", "ingest", "partition_specs", "Ingest"]

log = logging.getLogger(__name__)

#: rows per partition aimed at (CSV byte blocks are sized from the mean line length)
DEFAULT_PARTITION_ROWS = 1_000_000
#: how long to try to reach a scheduler before the run stops with a message
CONNECT_TIMEOUT = "10s"


def _require():
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:  # pragma: no cover - declared dependency
        msg = "The dask engine needs dask.distributed: pip install 'dask[distributed]' dask-geopandas."
        raise InputError(msg) from None


def connect(scheduler: str | None = None, *, n_workers: int | None = None):
    """A ``distributed.Client``: to the scheduler at ``scheduler``, or a new local cluster.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running dask.distributed scheduler (``tcp://host:8786``).  Without it a
        ``LocalCluster`` of worker processes is started on this machine (loopback only).
    n_workers : int, optional
        Workers of the local cluster (default: the number of CPUs).
    """
    _require()
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            msg = (f"Cannot reach the dask scheduler at {scheduler!r} ({exc}). Start one with "
                   "`dask scheduler` and workers with `dask worker ADDRESS`, or leave the address out "
                   "to run a local cluster.")
            raise InputError(msg) from None
    cluster = LocalCluster(n_workers=n_workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None)
    return Client(cluster)


# ----------------------------------------------------------------------------- partitions
@dataclass(frozen=True)
class Spec:
    """One partition: a byte block of a CSV file or row groups of a Parquet file."""

    path: str
    kind: str  # "csv" | "parquet"
    file_index: int
    start: int = 0  # csv: byte range [start, stop) of data lines; parquet: first row group
    stop: int = 0
    header: bytes = b""
    delimiter: str = ","
    encoding: str = "utf-8"


def _files(path: str | os.PathLike) -> list[Path]:
    text = str(path)
    if any(ch in text for ch in "*?["):
        found = sorted(Path(p) for p in glob.glob(text))
    elif Path(text).is_dir():
        found = sorted(p for p in Path(text).iterdir() if p.suffix.lower() in (".csv", ".tsv", ".txt", ".parquet", ".pq"))
    else:
        found = [gio.check_file(text, "Firm table")]
    if not found:
        msg = f"No firm tables match {text!r}. Give a CSV/Parquet file, a folder of them, or a glob pattern."
        raise DataFileError(msg)
    kinds = {_kind(p) for p in found}
    if len(kinds) > 1:
        msg = f"{text!r} mixes CSV and Parquet files; give one kind."
        raise DataFileError(msg)
    return found


def _kind(p: Path) -> str:
    s = p.suffix.lower()
    if s in (".csv", ".tsv", ".txt", ".tab"):
        return "csv"
    if s in (".parquet", ".pq"):
        return "parquet"
    msg = f"The dask engine reads CSV and Parquet firm tables; '{p}' is neither. Convert it, or use engine = \"pandas\"."
    raise DataFileError(msg)


def _csv_specs(p: Path, index: int, rows: int, encoding: str | None) -> list[Spec]:
    size = p.stat().st_size
    with open(p, "rb") as fh:
        head = fh.read(min(size, 1 << 20))
    start, used = gio.utf8_start(head, encoding)
    sample = gio.utf8_prefix(head, start, 65536) if start is not None else None
    if sample is None:
        msg = (f"'{p}' is not UTF-8 text: the dask engine splits CSV files into byte blocks and reads UTF-8 only. "
               "Convert it (e.g. `iconv -f GB18030 -t UTF-8`), write it as Parquet, or use engine = \"pandas\".")
        raise DataFileError(msg)
    delimiter = gio.sniff_delimiter(sample, p.suffix.lower())
    nl = head.find(b"\n", start)
    if nl < 0:
        msg = f"'{p}' has a header but no data rows. Check the export."
        raise InputError(msg)
    header = head[start:nl + 1]
    body = head[nl + 1:]
    lines = body.count(b"\n")
    mean_line = (len(body) / lines) if lines else 100.0
    block = max(int(mean_line * rows), 256)
    specs = []
    pos = nl + 1
    with open(p, "rb") as fh:
        while pos < size:
            stop = min(pos + block, size)
            if stop < size:
                fh.seek(stop)
                rest = fh.read(1 << 20)
                k = rest.find(b"\n")
                while k < 0 and len(rest) and stop + len(rest) < size:
                    stop += len(rest)
                    rest = fh.read(1 << 20)
                    k = rest.find(b"\n")
                stop = size if k < 0 else stop + k + 1
            specs.append(Spec(str(p), "csv", index, pos, stop, header, delimiter, used or "utf-8"))
            pos = stop
    return specs or [Spec(str(p), "csv", index, nl + 1, nl + 1, header, delimiter, used or "utf-8")]


def _parquet_specs(p: Path, index: int, rows: int) -> list[Spec]:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(p).metadata
    except Exception as exc:
        msg = f"Cannot read '{p}' as Parquet ({exc}). Check the file is a Parquet file."
        raise DataFileError(msg) from None
    specs, first, acc = [], 0, 0
    for g in range(meta.num_row_groups):
        acc += meta.row_group(g).num_rows
        if acc >= rows or g == meta.num_row_groups - 1:
            specs.append(Spec(str(p), "parquet", index, first, g + 1))
            first, acc = g + 1, 0
    return specs


def partition_specs(path: str | os.PathLike, *, rows: int = DEFAULT_PARTITION_ROWS, encoding: str | None = None) -> list[Spec]:
    """The partitions of a firm table (a file, a folder of files or a glob), in row order."""
    specs: list[Spec] = []
    for i, p in enumerate(_files(path)):
        specs += _csv_specs(p, i, rows, encoding) if _kind(p) == "csv" else _parquet_specs(p, i, rows)
    return specs


def _read_spec(spec: Spec) -> gio.RawTable:
    """Parse one partition into text columns, exactly as the whole-file reader would."""
    p = Path(spec.path)
    if spec.kind == "parquet":
        import pyarrow.parquet as pq

        table = pq.ParquetFile(p).read_row_groups(list(range(spec.start, spec.stop)))
        if table.schema.metadata and b"geo" in table.schema.metadata:
            msg = f"'{p}' is GeoParquet: the dask engine reads tables with coordinate columns; use engine = \"pandas\"."
            raise DataFileError(msg)
        return gio.raw_from_frame(table.to_pandas(), {"format": "parquet"})
    with open(p, "rb") as fh:
        fh.seek(spec.start)
        block = fh.read(spec.stop - spec.start)
    if block.count(b'"') % 2:
        msg = (f"'{p}' has a quoted field across lines (or an unbalanced quote) near byte {spec.start}: the dask "
               "engine cannot split it into blocks. Write the table as Parquet, or use engine = \"pandas\".")
        raise InputError(msg)
    data = spec.header + block
    raw = gio.read_csv_fast(data, 0, spec.delimiter)
    if raw is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            msg = f"'{p}' is not valid UTF-8 near byte {spec.start}. Convert it to UTF-8 or Parquet."
            raise DataFileError(msg) from None
        raw = gio.read_csv_text(text, spec.delimiter, p)
    raw.meta = {"format": "csv", "encoding": spec.encoding, "delimiter": raw.meta["delimiter"],
                "blank_lines_skipped": raw.meta["blank_lines_skipped"]}
    return raw


# ----------------------------------------------------------------------------- worker steps
# Each step takes the partition's _Validation (a future living on a worker), changes it and
# returns it as a new future; its small result is left in ``v._out`` for ``_w_out``.  The
# driver only ever uses the newest future of a partition: should the scheduler copy a state
# to another worker to run a step there, the copy is the one carried on.
def _w_parse(spec: Spec, opts: dict) -> gio.Validation:
    raw = _read_spec(spec)
    v = gio.Validation(raw, Path(spec.path), lon=opts["lon"], lat=opts["lat"], system_default=opts["system_default"],
                        id=opts["id"], coord_sys_column=opts["coord_sys_column"], name=opts.get("name"),
                        duplicates=opts.get("duplicates", "auto"), founded=opts.get("founded"))
    v.spec = spec
    v.select_fn = opts.get("select")
    return v


def _w_out(v: gio.Validation):
    return v._out


def _w_info(v: gio.Validation) -> gio.Validation:
    v._out = {"n": v.n, "columns": list(v.raw.columns), "meta": dict(v.raw.meta)}
    return v


def _text_hash(col) -> np.ndarray:
    if isinstance(col, gio.FloatColumn):
        return float_bits(col.values)
    return pd.util.hash_array(np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)).astype(np.uint64)


def _w_dup_hash(v: gio.Validation, offset: int) -> gio.Validation:
    """Set the row numbers; a uint64 per row, equal for rows equal in every field."""
    v.rows = np.arange(offset + 1, offset + v.n + 1)
    key_cols, prefilter = v.duplicate_keys()
    h = np.zeros(v.n, dtype=np.uint64) if prefilter is None else prefilter
    if key_cols:
        h = mix(h, _text_hash(key_cols[0]))
    v._hash = v._out = h
    return v


def _w_dup_candidates(v: gio.Validation, repeated: np.ndarray) -> gio.Validation:
    """The rows whose hash another row shares: positions and every key field."""
    h = v._hash
    pos = np.minimum(np.searchsorted(repeated, h), max(repeated.size - 1, 0))
    idx = np.flatnonzero(repeated[pos] == h) if repeated.size else np.zeros(0, dtype=np.int64)
    key_cols, _ = v.duplicate_keys()
    fields = []
    for col in key_cols:
        if isinstance(col, gio.FloatColumn):
            fields.append(("f", col.values[idx]))
        else:
            fields.append(("t", gio.column_text(col, idx)))
    v._out = {"idx": idx, "rows": v.rows[idx], "fields": fields}
    return v


def _w_set_duplicates(v: gio.Validation, idx: np.ndarray, first_rows: list) -> gio.Validation:
    """Reject the rows ``idx`` as duplicates of ``first_rows`` (row numbers, or "12 of a.csv")."""
    dup = np.zeros(v.n, dtype=bool)
    dup[idx] = True
    first = np.zeros(v.n, dtype=object)
    first[idx] = first_rows
    v.duplicates(dup, first)
    v._hash = v._out = None
    return v


def _w_row_checks(v: gio.Validation, k: int) -> gio.Validation:
    """Row-wise checks; the k smallest and largest lon and lat of the swap-check rows."""
    v.row_checks()
    cand = v.swap_candidates()
    if cand is None:
        v._out = {"n": 0, "parts": None}
        return v
    lon, lat = cand

    def ends(a):
        if a.size <= 2 * k:
            s = np.sort(a)
            return s, s
        lo = np.partition(a, k - 1)[:k]
        hi = np.partition(a, a.size - k)[a.size - k:]
        return np.sort(lo), np.sort(hi)

    v._out = {"n": int(lon.size), "parts": (ends(lon), ends(lat))}
    return v


def _w_convert(v: gio.Validation, box) -> gio.Validation:
    """Swap fix, range check, conversion; the founding dates' distinct values with their counts."""
    v.convert(box)
    v._out = v.founded_values()
    return v


def _w_founded(v: gio.Validation, decided: dict | None) -> gio.Validation:
    """Founding dates (with the column-wide decisions), the valleys' selection; hashes of the rounded WGS84 pairs of kept rows."""
    v.parse_founded(decided)
    v.selected = {}
    if getattr(v, "select_fn", None) is not None:  # the firms of the run's valleys (geo.read_firms' select), before the stacks
        sel = copy.copy(v.select_fn)
        v.select(sel)
        v.selected = {"valley_counts": sel.counts, "unknown": list(sel.unknown)}
    pending = v.code == 0
    v._stack_pos = np.flatnonzero(pending)
    v._hash = v._out = place_hash(v.lon_w[pending], v.lat_w[pending])
    return v


def _w_stacked_candidates(v: gio.Validation, crowded: np.ndarray) -> gio.Validation:
    h = v._hash
    pos = np.minimum(np.searchsorted(crowded, h), max(crowded.size - 1, 0))
    sel = np.flatnonzero(crowded[pos] == h) if crowded.size else np.zeros(0, dtype=np.int64)
    idx = v._stack_pos[sel]
    rx, ry = place(v.lon_w[idx], v.lat_w[idx])  # as find_stacks at radius 0
    v._out = {"idx": idx, "rx": rx, "ry": ry}
    return v


def _w_set_stacked(v: gio.Validation, idx: np.ndarray, drop: bool, site_ids: np.ndarray | None = None,
                   table: pd.DataFrame | None = None) -> gio.Validation:
    hit = np.zeros(v.n, dtype=bool)
    hit[idx] = True
    site = np.full(v.n, -1, dtype=np.int64)
    site[idx] = site_ids if site_ids is not None else 0
    v.set_stacked(hit, 0, drop, site, table)
    v.meta["stack_radius_m"] = 0.0
    v._hash = v._out = None
    return v


def _w_finish(v: gio.Validation, file_label: str | None) -> gio.Validation:
    """Rejects and counts of the partition; the kept firms stay on the worker (``v.kept``)."""
    selected = getattr(v, "selected", {})
    rejects = v.rejects()
    if file_label is not None:
        rejects.insert(1, "file", file_label)
    counts = v.counts()
    v.kept = v.firms(geometry=False)
    if file_label is not None:
        v.kept["file"] = file_label
    v.raw = None
    v._out = {"rejects": rejects, "counts": counts, "columns_used": v.columns_used(), "meta": v.meta, "dates": v.dates_report,
              **selected}
    return v


def _date_decisions(parts: list) -> dict | None:
    """The day/month order and the Excel-serial decision of the whole founding-date column,
    from each partition's distinct values and counts (as one parse of the whole column decides)."""
    from geo.io.engine import parse_dates

    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return None
    counts = pd.concat(parts).groupby(level=0, dropna=False, sort=False).sum()
    whole = parse_dates(np.asarray(counts.index, dtype=object), counts=counts.to_numpy())
    return {"dm_order": whole.dm_order, "serial": bool(whole.excel_serial)}


def _merge_dates(parts: list[dict]) -> dict:
    """The founding-date report of the whole table from its partitions' (each decides its own day/month order)."""
    formats: dict[str, int] = {}
    for d in parts:
        for k, n in d["formats"].items():
            formats[k] = formats.get(k, 0) + n
    orders = {d["day_first"] for d in parts if d["day_first"] is not None}
    dm = {d["dm_order"] for d in parts if d["dm_order"] is not None}
    return {"column": parts[0]["column"], "formats": formats, "day_first": orders.pop() if len(orders) == 1 else None,
            "dm_order": dm.pop() if len(dm) == 1 else ("conflict" if dm else None),
            "ambiguous": sum(d["ambiguous"] for d in parts),
            "missing": sum(d["missing"] for d in parts), "unparseable": sum(d["unparseable"] for d in parts),
            "note": "; ".join(sorted({d["note"] for d in parts}))[:500]}


def _w_kept(v: gio.Validation) -> pd.DataFrame:
    return v.kept


# ----------------------------------------------------------------------------- driver
def _empty_like(df: pd.DataFrame) -> pd.DataFrame:
    return df.iloc[:0]


def _replay_partition(spec, opts, offset, dup_idx, dup_first, box, stacked_idx, drop, label, site_ids=None,
                      table=None, decided=None) -> pd.DataFrame:
    """The kept firms of one partition, from the file and the ingest's whole-table decisions."""
    v = _w_parse(spec, opts)
    _w_dup_hash(v, offset)
    _w_set_duplicates(v, dup_idx, dup_first)
    _w_row_checks(v, 3)
    _w_convert(v, box)
    _w_founded(v, decided)
    _w_set_stacked(v, stacked_idx, drop, site_ids, table)
    return _w_finish(v, label).kept


def _replay_points(args):
    return _with_points(_replay_partition(*args))


def _with_points(df: pd.DataFrame):
    import geopandas as gpd

    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326")


class _Chain:
    """The newest future of each partition's state; ``step`` runs a worker step on all."""

    def __init__(self, client, states: list, out=None) -> None:
        self.client = client
        self.states = states
        self.out = out or _w_out

    def step(self, fn, *per_partition: list) -> list:
        """Run ``fn(state, *args)`` on every partition; return the gathered small results."""
        self.states = self.client.map(fn, self.states, *per_partition, pure=False)
        return self.client.gather(self.client.map(self.out, self.states, pure=False))

    def step_all(self, fn, *shared) -> list:
        """Like :meth:`step`, with the same arguments for every partition."""
        return self.step(fn, *[[a] * len(self.states) for a in shared])


@dataclass
class Ingest:
    """What the ingest leaves: futures of the kept firms per partition, rejects, report."""

    client: Any
    parts: list  # futures of pandas DataFrames (kept firms, index ``row``; no geometry)
    rejects: pd.DataFrame
    load_report: dict
    n_partitions: int
    file_index: list  # the file (position in the sorted file list) of each partition
    _replay: dict = None  # the whole-table decisions, to re-make a partition (to_dask_geopandas)
    #: with ``select``: value counts of the valley column over the valid rows, and labels not in the config
    valley_counts: pd.Series | None = None
    unknown: list = field(default_factory=list)

    def to_dask_geopandas(self):
        """The kept firms as a lazy ``dask_geopandas.GeoDataFrame`` (points, EPSG:4326).

        For work beyond ``geo run`` on the same cluster, e.g.
        ``ing.to_dask_geopandas().spatial_shuffle(by="hilbert", total_bounds=...)`` before
        joins with other layers.  Each partition re-reads its part of the table and replays
        the validation with the whole-table decisions this ingest made, so it holds exactly
        the kept firms of that part.
        """
        import dask.dataframe as dd
        import dask_geopandas

        args = [(spec, self._replay["opts"], off, self._replay["dup_idx"].get(i, np.zeros(0, np.int64)),
                 self._replay["dup_first"].get(i, []), self._replay["box"], self._replay["stacked"].get(i, np.zeros(0, np.int64)),
                 self._replay["drop"], self._replay["labels"][i],
                 self._replay["site_ids"].get(i, np.zeros(0, np.int64)), self._replay["table"], self._replay["decided"])
                for i, (spec, off) in enumerate(zip(self._replay["specs"], self._replay["offsets"]))]
        meta = _with_points(_replay_partition(*args[0]).iloc[:0])
        frame = dd.from_map(_replay_points, args, meta=meta, enforce_metadata=False)
        return dask_geopandas.from_dask_dataframe(frame)

    def gather_firms(self):
        """All kept firms as one GeoDataFrame (for tests and small inputs)."""
        import geopandas as gpd

        frames = self.client.gather(self.parts)
        df = pd.concat(frames) if frames else pd.DataFrame()
        return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326")


def _box_from_ends(n: int, k: int, parts: list) -> tuple[float, float, float, float] | None:
    """np.nanpercentile(values, [1, 99]) of lon and lat from each partition's extremes.

    The order statistics the percentiles read lie among the k smallest / largest values of
    the whole column, which are among the union of each partition's k smallest / largest.
    A stand-in array with the same values at those ranks gives numpy's exact result.
    """
    if n < 5:
        return None
    out = []
    for axis in (0, 1):
        lo = np.sort(np.concatenate([p[axis][0] for p in parts]))
        hi = np.sort(np.concatenate([p[axis][1] for p in parts]))
        if lo.size >= n or n < 2 * k:  # every partition sent all its values
            stand_in = lo
        else:
            stand_in = np.full(n, lo[k - 1])
            stand_in[:k] = lo[:k]
            stand_in[n - k:] = hi[hi.size - k:]
        q1 = np.percentile(stand_in, 1)
        q99 = np.percentile(stand_in, 99)
        out += [float(q1), float(q99)]
    return out[0], out[1], out[2], out[3]


def _exact_duplicates(cands: list[dict], labels: list[str | None]) -> tuple[dict[int, np.ndarray], dict[int, list]]:
    """Group the candidate rows exactly; per partition: duplicate positions and first rows.

    Rows are in partition order (files, then blocks), then position.  The first row is a
    row number, or "<row> of <file>" when the first row is in another file (``labels``).
    """
    if not cands or sum(len(c["idx"]) for c in cands) == 0:
        return {}, {}
    part_of = np.concatenate([np.full(len(c["idx"]), i) for i, c in enumerate(cands)])
    local = np.concatenate([c["idx"] for c in cands])
    rows = np.concatenate([c["rows"] for c in cands])
    # global order: partition order (files then blocks), then position
    sort = np.lexsort((local, part_of))
    n_fields = len(cands[0]["fields"])
    key_cols = []
    for k in range(n_fields):
        kinds = {c["fields"][k][0] for c in cands if len(c["idx"])}
        if kinds == {"f"}:
            key_cols.append(gio.FloatColumn(np.concatenate([c["fields"][k][1] for c in cands])[sort]))
        else:
            texts: list[str] = []
            for c in cands:
                kind, vals = c["fields"][k]
                texts += [gio.float_text(x) for x in vals.tolist()] if kind == "f" else list(vals)
            key_cols.append(gio.text_array([texts[i] for i in sort]))
    dup, first = gio.duplicate_rows(key_cols, len(sort))
    dup_sorted = np.flatnonzero(dup)
    idx_by: dict[int, list] = {}
    first_by: dict[int, list] = {}
    for j in dup_sorted:
        i, f = sort[j], sort[first[j]]
        pi, pf = int(part_of[i]), int(part_of[f])
        idx_by.setdefault(pi, []).append(int(local[i]))
        same_file = labels[pi] == labels[pf]
        first_by.setdefault(pi, []).append(int(rows[f]) if same_file else f"{int(rows[f])} of {labels[pf]}")
    return {k: np.asarray(v, dtype=np.int64) for k, v in idx_by.items()}, first_by


def ingest(client, path, *, lon=None, lat=None, crs: Any = "wgs84", encoding: str | None = None, id: str | None = None,  # noqa: A002
           drop_stacked: bool = False, stacked_min: int = gio.STACKED_MIN, coord_sys_column: str = "coord_sys",
           partition_rows: int = DEFAULT_PARTITION_ROWS, specs: list[Spec] | None = None, name: str | None = None,
           duplicates: str = "auto", founded: str | None = None, select: Any = None) -> Ingest:
    """Read, validate and convert a firm table on the cluster of ``client``.

    Same rules and results as :func:`geo.read_firms` (see there); the table may also be a
    folder or glob of CSV/Parquet files (rows are then numbered per file and the rejects
    carry a ``file`` column).  Returns an :class:`Ingest` whose ``parts`` are futures of the
    kept firms, partition by partition, on the workers.  ``specs``: the table's
    :func:`partition_specs` when already made.  Stacked geocodes are exact (radius 0); founding
    dates decide their day/month order per partition.  ``select`` (as in :func:`geo.read_firms`)
    rejects the firms of no valley of the run with their raw values, partition by partition.
    """
    from geo import crs as _crs

    system_default = _crs.parse_crs(crs)
    if specs is None:
        specs = partition_specs(path, rows=partition_rows, encoding=encoding)
    files = sorted({s.path for s in specs})
    multi = len(files) > 1
    opts = {"lon": lon, "lat": lat, "system_default": system_default, "id": id, "coord_sys_column": coord_sys_column,
            "name": name, "duplicates": duplicates, "founded": founded, "select": select}
    chain = _Chain(client, client.map(_w_parse, specs, opts=opts, pure=False))
    infos = chain.step(_w_info)
    n_total = sum(i["n"] for i in infos)
    if n_total == 0:
        msg = f"'{path}' has a header but no data rows. Check the export."
        raise InputError(msg)
    columns = infos[0]["columns"]
    for s, i in zip(specs, infos):
        if i["columns"] != columns:
            msg = f"'{s.path}' has columns {i['columns']}, other parts {columns}: all parts must have the same columns."
            raise DataFileError(msg)
    offsets, acc, last_file = [], 0, None
    for s, i in zip(specs, infos):
        if s.file_index != last_file:
            acc, last_file = 0, s.file_index
        offsets.append(acc)
        acc += i["n"]

    # exact duplicates: hash candidates, exact grouping of the candidates on the driver
    all_h = np.concatenate(chain.step(_w_dup_hash, offsets))
    ordered = np.sort(all_h)
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del all_h, ordered
    idx_by: dict = {}
    first_by: dict = {}
    if repeated.size:
        cands = chain.step(_w_dup_candidates, [client.scatter(repeated, broadcast=True)] * len(specs))
        idx_by, first_by = _exact_duplicates(cands, [Path(s.path).name for s in specs])
    empty = np.zeros(0, np.int64)
    chain.step(_w_set_duplicates, [idx_by.get(i, empty) for i in range(len(specs))],
               [first_by.get(i, []) for i in range(len(specs))])

    # row-wise checks; the swap box from each partition's extremes
    k = int(math.floor(0.01 * (n_total - 1))) + 3
    ends = chain.step(_w_row_checks, [k] * len(specs))
    n_in = sum(e["n"] for e in ends)
    box = _box_from_ends(n_in, k, [e["parts"] for e in ends if e["parts"] is not None and e["n"]])

    # conversion; the founding dates' column-wide decisions from the distinct values of every partition
    decided = _date_decisions(chain.step(_w_convert, [box] * len(specs)))
    # founding dates, the valleys; stacked geocodes: hash counts, exact grouping of the crowded candidates
    all_h = np.concatenate(chain.step(_w_founded, [decided] * len(specs)))
    from geo.io.engine import find_stacks

    sites = 0
    hits: dict = {}
    site_ids: dict = {}
    table = find_stacks(np.zeros(0), np.zeros(0), radius_m=0.0, min_size=stacked_min).sites
    if all_h.size:
        ordered = np.sort(all_h)
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        counts = np.diff(np.r_[starts, ordered.size])
        crowded = ordered[starts[counts >= stacked_min]]
        del ordered, starts, counts
        if crowded.size:
            cands = chain.step(_w_stacked_candidates, [client.scatter(crowded, broadcast=True)] * len(specs))
            part_of = np.concatenate([np.full(len(c["idx"]), i) for i, c in enumerate(cands)])
            local = np.concatenate([c["idx"] for c in cands])
            rx = np.concatenate([c["rx"] for c in cands])
            ry = np.concatenate([c["ry"] for c in cands])
            st = find_stacks(rx, ry, radius_m=0.0, min_size=stacked_min)  # the candidates hold every stack whole
            keep = st.stacked
            sites, table = len(st.sites), st.sites
            hits = {i: local[keep & (part_of == i)] for i in range(len(specs))}
            site_ids = {i: st.site[keep & (part_of == i)] for i in range(len(specs))}
    del all_h
    chain.step(_w_set_stacked, [hits.get(i, empty) for i in range(len(specs))], [drop_stacked] * len(specs),
               [site_ids.get(i, empty) for i in range(len(specs))], [table] * len(specs))
    replay = {"opts": opts, "specs": specs, "offsets": offsets, "dup_idx": idx_by, "dup_first": first_by, "box": box,
              "stacked": hits, "site_ids": site_ids, "table": table, "drop": drop_stacked, "decided": decided}

    labels = [Path(s.path).name if multi else None for s in specs]
    replay["labels"] = labels
    done = chain.step(_w_finish, labels)
    parts = client.map(_w_kept, chain.states, pure=False)
    counts: dict = {}
    for d in done:
        counts = gio.add_counts(counts, d["counts"])
    meta = dict(done[0]["meta"])
    if "blank_lines_skipped" in meta:
        meta["blank_lines_skipped"] = sum(d["meta"].get("blank_lines_skipped", 0) for d in done)
    report = gio.load_report(path if not multi else f"{len(files)} files: {path}", meta, done[0]["columns_used"],
                              system_default, counts, sites)
    report["stacks"] = table.head(gio.STACKS_LISTED).to_dict(orient="records")
    dates = [d["dates"] for d in done if d.get("dates")]
    if dates:
        report["founded"] = _merge_dates(dates)
    report["partitions"] = len(specs)
    # partitions without rejects are left out: their empty columns would make the others' text columns object
    rejects = pd.concat([d["rejects"] for d in done if len(d["rejects"])] or [done[0]["rejects"]], ignore_index=True)
    vcounts = [d["valley_counts"] for d in done if d.get("valley_counts") is not None]
    valley_counts = pd.concat(vcounts).groupby(level=0, sort=False).sum() if vcounts else None
    unknown = sorted({u for d in done for u in d.get("unknown", [])})
    log.info("dask ingest %s: %d partitions, %d rows, %d kept, %d rejected", path, len(specs), report["rows_read"],
             report["rows_kept"], report["rows_rejected"])
    return Ingest(client=client, parts=parts, rejects=rejects, load_report=report, n_partitions=len(specs),
                  file_index=[s.file_index for s in specs], _replay=replay, valley_counts=valley_counts, unknown=unknown)


# ----------------------------------------------------------------------------- valleys
# After the ingest, each partition's kept firms (a pandas DataFrame on a worker) go through
# the per-valley reductions: labels, metric coordinates, hull, lattice keys, park counts and
# a sample.  The partition state is a dict, carried from step to step like the validation.
def _p_out(st: dict):
    return st["_out"]


def _p_label(df: pd.DataFrame, file_index: int, config, seed: int, fill: str | None = None) -> dict:
    """Valley labels; per valley: firm count, lon/lat sums, sector values.

    The ingest's ``select`` left only the firms of the run's valleys (:class:`ValleySelector`).
    """
    from geo.pipeline._valleys import _valley_labels

    labels, names, _ = _valley_labels(df, config, fill=fill)
    if labels.isna().any():  # pragma: no cover - the ingest selected the rows
        msg = "internal error: firms in no valley after the ingest's selection"
        raise AssertionError(msg)
    df = df.copy(deep=False)  # a new column without copying (or changing) the ingest's frame
    df["valley"] = labels.astype(str).to_numpy()
    sc = config.firms.sector_column
    sector_counts = df.loc[df[sc].notna(), sc].astype(str).str.strip().value_counts() if sc in df.columns else None
    stats = {}
    for name, part in df.groupby("valley", sort=False):
        stats[name] = {
            "n": len(part), "sum_lon": float(part["lon"].sum()), "sum_lat": float(part["lat"].sum()),
            "sectors": pd.unique(part[sc].dropna()) if sc in part else None,
        }
    # a uniform number per firm from its file and row: the sample does not depend on the partitioning
    key = df.index.to_numpy(dtype=np.int64) + (np.int64(1) << np.int64(40)) * np.int64(file_index)
    u = pd.util.hash_array(key, hash_key=f"{int(seed) % 10**16:016d}") / float(2**64)
    return {"df": df, "u": u, "_out": {"names": names, "stats": stats, "sector_counts": sector_counts}}


def _p_project(st: dict, valleys: dict, sample_p: dict) -> dict:
    """Metric x, y per valley (kept on the worker); hull vertices and the sample rows."""
    import pyproj
    import shapely

    from geo.cells.grid import _convex_hull

    df = st["df"]
    xy, hulls, hulls_ll, samples = {}, {}, {}, {}
    for name, (crs, *_rest) in valleys.items():
        sel = (df["valley"] == name).to_numpy()
        if not sel.any():
            continue
        tr = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        x, y = tr.transform(df["lon"].to_numpy()[sel], df["lat"].to_numpy()[sel])
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        xy[name] = (np.flatnonzero(sel), x, y)
        # the hull of the partition's points (only candidates near the boundary become shapely points)
        hulls[name] = shapely.get_coordinates(_convex_hull(x, y))
        lon, lat = df["lon"].to_numpy()[sel], df["lat"].to_numpy()[sel]
        hulls_ll[name] = shapely.get_coordinates(_convex_hull(lon, lat))
        take = st["u"][sel] < sample_p[name]
        samples[name] = df.loc[sel].loc[take]
    st["xy"] = xy
    st["_out"] = {"hulls": hulls, "hulls_ll": hulls_ll, "samples": samples}
    return st


def _p_keys(st: dict, plans: dict, categories: dict, sector_column: str) -> dict:
    """Occupied lattice cells per valley: unique (a, b, category) keys with their counts."""
    from geo.cells.grid import lattice_keys

    df = st["df"]
    out = {}
    for name, (idx, x, y) in st["xy"].items():
        plan = plans[name]
        pa, pb = lattice_keys(x, y, plan.cell, plan.size_m)
        cats = categories.get(name)
        if cats is not None and sector_column in df:
            codes = pd.Categorical(df[sector_column].to_numpy()[idx], categories=cats).codes.astype(np.int64)
        else:
            codes = np.full(len(x), -1, dtype=np.int64)
        table = pd.DataFrame({"a": pa, "b": pb, "c": codes}).value_counts(sort=False).reset_index()
        out[name] = (table["a"].to_numpy(np.int64), table["b"].to_numpy(np.int64), table["c"].to_numpy(np.int64),
                     table["count"].to_numpy(np.int64))
    st["_out"] = out
    return st


def _p_park_counts(st: dict, cells_by: dict, parks_by: dict, sectors: dict, config) -> dict:
    """FirmCounts of each valley's parks (see geo.parks.overlay.firm_counts)."""
    from geo.cells.grid import cell_positions
    from geo.parks.overlay import firm_counts

    df = st["df"]
    fc = config.firms
    out = {}
    for name, (idx, x, y) in st["xy"].items():
        if name not in parks_by:
            continue
        parks_m, rings = parks_by[name]
        cells = cells_by[name]
        part = df.iloc[idx]
        target = sectors.get(name)
        tmask = (part[fc.sector_column].astype(str) == str(target)).to_numpy() if target is not None and fc.sector_column in part \
            else np.ones(len(part), bool)
        founded = pd.to_numeric(part[fc.founded_column], errors="coerce").to_numpy(float) if fc.founded_column in part else None
        out[name] = firm_counts(parks_m, x, y, tmask, founded, cell_pos=cell_positions(cells, x, y), n_cells=len(cells), rings=rings)
    st["_out"] = out
    return st


@dataclass
class ValleyInputs:
    """What the driver gets for one valley: exact cells and park counts, and a firm sample."""

    name: str
    firms: Any  # geo.points.PointFrame (lon/lat, EPSG:4326): every firm, or a seeded sample of them
    n_firms: int  # all firms of the valley
    metric_crs: str
    cells: Any  # GeoDataFrame: the exact cell table (as geo.cells.grid.aggregate makes it)
    study_area: Any = None  # geo.cells.area.StudyArea: the cells' extent (as geo.cells.area.study_area makes it)
    counts: Any = None  # geo.parks.overlay.FirmCounts of the valley's parks (None without parks)
    parks: Any = None

    @property
    def sampled(self) -> bool:
        return len(self.firms) < self.n_firms


def _valley_area(plan, a: np.ndarray, b: np.ndarray, rule: str) -> tuple:
    """The plan with the valley's study area as its extent, and that area (a
    :class:`geo.cells.area.StudyArea`): the convex hull of the plan, or the ``"cells"`` rule on
    the counted lattice keys (the same polygon :func:`geo.cells.area.study_area` draws around
    the firms themselves)."""
    from geo.cells.area import StudyArea, cells_words, hull_sized, keys_area

    if rule == "cells":
        plan = dataclasses.replace(plan, extent=keys_area(a, b, cell=plan.cell, size_m=plan.size_m),
                                   extent_rule=cells_words(plan.cell, plan.size_m), rule=hull_sized(plan.rule))
    area = StudyArea(plan.extent, plan.metric_crs, rule, plan.extent_rule, plan.cell, plan.size_m, plan.size_m,
                     dict(plan.rule))
    return plan, area


def _merge_names(outs: list[dict], configured: list[str]) -> list[str]:
    if configured:
        return list(configured)
    names: list[str] = []
    for o in outs:
        names += [n for n in o["names"] if n not in names]
    return names


def reduce_valleys(ing: Ingest, config, parks, *, seed: int, sample_firms: int, parks_for_valley,
                   fill: str | None = None) -> tuple:
    """Per valley on the cluster: labels, cells, park counts; a sample comes back.

    Returns ``(inputs, names, sector_counts)``: a dict of :class:`ValleyInputs`, the valley
    names in order, and the value counts of the sector column over the firms of the run's
    valleys (None without the column).  ``fill``: see :func:`geo.pipeline._valleys._valley_labels`.
    """
    from geo.cells import grid
    from geo.crs import utm_crs_for
    from geo.parks.overlay import park_rings

    client = ing.client
    an = config.analysis
    fc = config.firms
    import time

    clock = [time.perf_counter()]

    def lap(what: str) -> None:
        now = time.perf_counter()
        log.info("dask reduce: %s %.2f s", what, now - clock[0])
        clock[0] = now

    chain = _Chain(client, client.map(_p_label, ing.parts, ing.file_index, config=config, seed=seed, fill=fill, pure=False),
                   out=_p_out)
    outs = client.gather(client.map(_p_out, chain.states, pure=False))

    def merged(key: str) -> pd.Series | None:
        parts = [o[key] for o in outs if o[key] is not None]
        return pd.concat(parts).groupby(level=0, sort=False).sum() if parts else None

    sector_counts = merged("sector_counts")
    lap("labels")
    ing.parts = []  # the labelled partitions replace the ingest's (their memory is released)
    names = _merge_names(outs, [v.name for v in config.valleys])
    stats: dict[str, dict] = {}
    for o in outs:
        for name, s in o["stats"].items():
            t = stats.setdefault(name, {"n": 0, "sum_lon": 0.0, "sum_lat": 0.0, "sectors": None})
            t["n"] += s["n"]
            t["sum_lon"] += s["sum_lon"]
            t["sum_lat"] += s["sum_lat"]
            if s["sectors"] is not None:
                t["sectors"] = (t["sectors"] or []) + [np.asarray(s["sectors"], dtype=object)]
    valleys = {}
    sample_p = {}
    for name in names:
        s = stats.get(name)
        if not s:
            continue
        crs = utm_crs_for(np.array([s["sum_lon"] / s["n"]]), np.array([s["sum_lat"] / s["n"]]))
        valleys[name] = (crs.to_string(),)
        sample_p[name] = 2.0 if s["n"] <= sample_firms else sample_firms / s["n"]
    res = res_p = chain.step_all(_p_project, valleys, sample_p)
    lap("project, hulls, sample")
    by = fc.sector_column
    plans, categories, samples = {}, {}, {}
    for name, (crs,) in valleys.items():
        hull = np.concatenate([r["hulls"][name] for r in res if name in r["hulls"]])
        plans[name] = grid.plan_lattice(hull[:, 0], hull[:, 1], stats[name]["n"], cell=an.cell, size=an.cell_size, metric=crs)
        sectors = stats[name]["sectors"]
        if sectors is not None:
            values = np.concatenate(sectors) if sectors else np.zeros(0, dtype=object)
            categories[name] = pd.factorize(pd.Series(values), sort=True)[1]
        frames = [r["samples"][name] for r in res if name in r["samples"]]
        samples[name] = pd.concat(frames) if frames else None
    lap("plans")
    res = chain.step_all(_p_keys, plans, categories, by)
    lap("lattice keys")
    inputs: dict[str, ValleyInputs] = {}
    target = an.target_sector
    sectors_key, parks_by, cells_by = {}, {}, {}
    for name, (crs,) in valleys.items():
        parts = [r[name] for r in res if name in r]
        a, b, c, w = (np.concatenate([p[k] for p in parts]) for k in range(4))
        plan, area = _valley_area(plans[name], a, b, str(area_rule(config, name)))
        cells = grid.cells_from_counts(plan, a, b, w, c, categories.get(name), n_input=stats[name]["n"],
                                       by=by if name in categories else None)
        df = samples[name]
        firms = PointFrame(df, crs="EPSG:4326", xy=("lon", "lat"))  # as the in-memory engine's firms
        vi = ValleyInputs(name=name, firms=firms, n_firms=stats[name]["n"], metric_crs=crs, cells=cells, study_area=area)
        inputs[name] = vi
        tcol = cells.attrs.get("by_columns", {}).get(target) if target is not None else None
        sectors_key[name] = target if tcol is not None else None
        # the parks of the valley: as the in-memory engine picks them from the firms' hull
        hull_ll = np.unique(np.concatenate([r["hulls_ll"][name] for r in res_p if name in r["hulls_ll"]]), axis=0)
        stand_in = firms if not vi.sampled else pd.DataFrame({"lon": hull_ll[:, 0], "lat": hull_ll[:, 1]})
        pv = parks_for_valley(parks, name, stand_in) if parks is not None else None
        vi.parks = pv
        if pv is not None and len(pv):
            parks_m = pv.to_crs(cells.crs)
            parks_by[name] = (parks_m, park_rings(parks_m))
            ids = pd.DataFrame({"cell_id": cells["cell_id"].to_numpy()})  # the lattice needs no geometry
            ids.attrs = dict(cells.attrs)
            cells_by[name] = ids
    lap("cells")
    if parks_by:
        shared = client.scatter([cells_by, parks_by], broadcast=True)  # a list: one future per object
        res = chain.step_all(_p_park_counts, shared[0], shared[1], sectors_key, config)
        for name in parks_by:
            total = None
            for r in res:
                if name in r:
                    total = r[name] if total is None else total + r[name]
            inputs[name].counts = total
        lap("park counts")
    return inputs, names, sector_counts

