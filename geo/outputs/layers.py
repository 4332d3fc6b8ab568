"""The GeoPackage of a run (``layers.gpkg``): in process, or in a child process for big layers."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from geo import crs as _crs
from geo.errors import DataFileError
from geo.outputs._write import _temp_beside

__all__ = ["write_layers", "LayerJob", "SPATIAL_INDEX_MAX_FEATURES", "CHILD_MIN_ROWS", "emerging_layer"]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _fast_sqlite() -> Iterator[None]:
    """GDAL settings for writing a GeoPackage that is moved into place only when complete.

    ``OGR_SQLITE_SYNCHRONOUS=OFF`` skips the fsync of every transaction (safe here: a
    crash leaves only the temporary file) and a larger page cache speeds up the spatial index.
    """
    import pyogrio

    from geo._process import policy

    if not policy().gdal_options:  # process-wide settings: only when the run owns its process (geo run)
        yield
        return
    wanted = {"OGR_SQLITE_SYNCHRONOUS": "OFF", "OGR_SQLITE_CACHE": "512"}
    before = {k: pyogrio.get_gdal_config_option(k) for k in wanted}
    pyogrio.set_gdal_config_options(wanted)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(before)


#: layers with more features than this are written without a spatial index (building the
#: R-tree costs more than writing the features: 1M points 6.1 s -> 2.8 s); QGIS offers to
#: create it, or: ogrinfo layers.gpkg -sql "SELECT CreateSpatialIndex('firms', 'geom')"
SPATIAL_INDEX_MAX_FEATURES = 250_000


#: with more rows than this in all layers together, :class:`LayerJob` writes the GeoPackage
#: in a child process while the caller goes on (maps, report): SQLite inserts hold the GIL,
#: so a thread would not overlap; below it the child's start-up (~0.5 s) is not worth it.
CHILD_MIN_ROWS = 200_000


def _prepare_layer(frame: Any) -> tuple[Any, bool]:
    """The frame as it is written (attributes dropped, objects as text) and whether it has geometry.

    A :class:`geo.points.PointFrame` stays one: its points are made where it is written.
    """
    import geopandas as gpd

    from geo.points import PointFrame

    frame = frame.copy(deep=False)  # copy-on-write: the columns replaced below are new arrays
    frame.attrs = {}
    for c in frame.columns:
        if c != "geometry" and frame[c].dtype == object:
            frame[c] = frame[c].astype(str).where(frame[c].notna(), None)
    if isinstance(frame, PointFrame) or (hasattr(frame, "geometry") and "geometry" in frame):
        return frame.reset_index(), True
    return gpd.GeoDataFrame(frame.reset_index(drop=frame.index.name is None)), False


def _prepare_layers(layers: dict[str, Any]) -> list[tuple[str, tuple[Any, bool]]]:
    return [(name, _prepare_layer(frame)) for name, frame in layers.items() if frame is not None]


#: rows per record batch of a point layer handed to the layer writer child: the parent
#: converts, and the child reads and writes, one batch at a time (bounded memory)
CHILD_CHUNK_ROWS = 250_000


def _write_arrow_chunks(table: pd.DataFrame, file: Path) -> None:
    """``table`` as an uncompressed Arrow IPC file of record batches of :data:`CHILD_CHUNK_ROWS` rows."""
    import pyarrow as pa
    schema = None
    with pa.OSFile(str(file), "wb") as sink:
        writer = None
        for start in range(0, max(len(table), 1), CHILD_CHUNK_ROWS):
            batch = pa.Table.from_pandas(table.iloc[start:start + CHILD_CHUNK_ROWS], schema=schema, preserve_index=False)
            if writer is None:
                schema = batch.schema
                writer = pa.ipc.new_file(sink, schema)
            writer.write_table(batch)
        writer.close()


def _free_name(frame: pd.DataFrame, base: str) -> str:
    name = f"__{base}"
    while name in frame.columns:
        name += "_"
    return name


def _write_prepared(prepared: Iterable[tuple[str, Iterable[Any], int]], target: Path) -> None:
    """Write prepared layers, in order, into the GeoPackage ``target`` (the one writer).

    Each layer comes as ``(name, chunks, rows)``: its frames in row order (one frame, or
    slices of a point layer) and its total number of rows, which decides the spatial index.
    """
    import pyogrio

    from geo.points import as_geodataframe

    with _fast_sqlite():
        for name, chunks, rows in prepared:
            for i, out in enumerate(chunks):
                out = as_geodataframe(out)
                big = "geometry" in out and rows > SPATIAL_INDEX_MAX_FEATURES
                options = ({"SPATIAL_INDEX": "NO"} if big else None) if i == 0 else None
                pyogrio.write_dataframe(out, target, layer=name, driver="GPKG", append=target.exists(), use_arrow=True,
                                        layer_options=options)


def write_layers(layers: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write several (Geo)DataFrames as layers of one GeoPackage, atomically.

    Layers go through GDAL's Arrow interface (``use_arrow=True``: columnar, about twice as
    fast as feature by feature on a million firms).  A layer of more than
    :data:`SPATIAL_INDEX_MAX_FEATURES` features gets no spatial index.  ``None`` layers are
    skipped.  :class:`LayerJob` writes the same file in the background.
    """
    return LayerJob(layers, path, child=False).wait()


class LayerJob:
    """A GeoPackage of layers being written, in a child process when it is big.

    ``LayerJob(layers, path)`` prepares the layers, and when they hold more than
    :data:`CHILD_MIN_ROWS` rows hands them (as uncompressed Arrow files beside ``path``)
    to ``python -m geo.outputs._layers_child``, which writes them with the same
    :func:`_write_prepared` as :func:`write_layers`; :meth:`add` hands over more layers
    (written after the first ones, in order); :meth:`wait` returns ``path`` once the file
    is complete and moved into place.  Used as a context manager, an exception before
    :meth:`wait` stops the child and leaves no partial file.  ``child`` forces the choice
    (tests).
    """

    def __init__(self, layers: dict[str, Any], path: str | os.PathLike, *, child: bool | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = _temp_beside(self.path)
        self._proc: subprocess.Popen | None = None
        self._work: Path | None = None
        self._log = None
        self._specs = 0
        try:
            prepared = _prepare_layers(layers)
            rows = sum(len(out) for _, (out, _geo) in prepared)
            from geo._process import policy

            if child is None:  # a child process only when the run owns its process (geo run)
                child = rows > CHILD_MIN_ROWS and policy().child_writer
            if not child:
                _write_prepared([(name, [out], len(out)) for name, (out, _geo) in prepared], self._tmp)
                return
            self._work = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
            spec_path = self._spec(prepared)
            self._log = open(self._work / "child.log", "w+b")  # noqa: SIM115 - closed in _cleanup
            env = dict(os.environ)
            root = str(Path(__file__).resolve().parents[2])  # the folder holding the geo package
            env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
            self._proc = subprocess.Popen([sys.executable, "-m", "geo.outputs._layers_child", str(spec_path)],
                                          stdin=subprocess.PIPE, stdout=self._log, stderr=subprocess.STDOUT, env=env)
            log.debug("write_layers: %d rows handed to child process %d", rows, self._proc.pid)
        except BaseException:
            self.close()
            raise

    def add(self, layers: dict[str, Any]) -> None:
        """Write more layers after the ones given so far (the child gets them at once)."""
        try:
            prepared = _prepare_layers(layers)
            if self._proc is None:
                _write_prepared([(name, [out], len(out)) for name, (out, _geo) in prepared], self._tmp)
                return
            spec_path = self._spec(prepared)
            self._proc.stdin.write(str(spec_path).encode("utf-8") + b"\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            self.wait()  # the child died: raise with its output
        except BaseException:
            self.close()
            raise

    def _spec(self, prepared: list[tuple[str, tuple[Any, bool]]]) -> Path:
        """Arrow files and a spec file (JSON) for the child; returns the spec's path."""
        import json

        from geo.points import PointFrame

        spec: dict[str, Any] = {"target": str(self._tmp), "layers": []}
        for name, (out, geo) in prepared:
            file = self._work / f"{self._specs}_{len(spec['layers'])}.arrow"
            layer: dict[str, Any] = {"name": name, "file": str(file), "geometry": geo}
            if isinstance(out, PointFrame):  # points travel as two float columns: no WKB made twice
                xy = np.column_stack(out.coords())
                table, geometry_name = pd.DataFrame(out, copy=False), "geometry"
            else:
                xy = _crs.plain_point_coords(out.geometry.values) if geo else None
                if xy is not None:
                    table, geometry_name = pd.DataFrame(out, copy=False).drop(columns=out.geometry.name), out.geometry.name
            if xy is not None:
                layer["points"] = {"x": _free_name(table, "x"), "y": _free_name(table, "y"),
                                   "geometry": geometry_name, "crs": out.crs.to_json() if out.crs else None}
                table[layer["points"]["x"]], table[layer["points"]["y"]] = xy[:, 0], xy[:, 1]
                _write_arrow_chunks(table, file)
            else:
                (out if geo else pd.DataFrame(out)).to_feather(file, compression="uncompressed")
            layer["rows"] = len(out)
            spec["layers"].append(layer)
        spec_path = self._work / f"spec_{self._specs}.json"
        self._specs += 1
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        return spec_path

    def wait(self) -> Path:
        """Block until the GeoPackage is complete; move it into place and return its path.

        Raises :class:`~geo.errors.DataFileError` with the child's last output if it failed.
        """
        try:
            if self._proc is not None:
                with contextlib.suppress(BrokenPipeError):
                    self._proc.stdin.close()  # no more layers
                rc = self._proc.wait()
                if rc != 0:
                    self._log.seek(0)
                    tail = self._log.read().decode("utf-8", "replace")[-2000:].strip()
                    raise DataFileError(f"writing {self.path} failed in the layer writer process "
                                        f"(exit code {rc}):\n{tail}")
            os.replace(self._tmp, self.path)
        finally:
            self._cleanup()
        return self.path

    def close(self) -> None:
        """Stop the child if it runs and remove every temporary file; nothing is put in place."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait()
            with contextlib.suppress(BrokenPipeError):
                self._proc.stdin.close()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


def emerging_layer(cells: Any, emerging: Any) -> Any:
    """The ``emerging_hotspots`` layer: the cells (geometry and ``cell_id`` of ``cells``) with the
    per-cell columns of :class:`geo.stats.spacetime.EmergingHotspots` (``category``, the
    Mann–Kendall trend, ``n_hot``, ``first_hot``, ``final_z``, ``final_bin``) and the Gi_Bin of
    each step as ``bin_<step>``."""
    import geopandas as gpd

    tab = emerging.table
    bins = emerging.bins.to_numpy()
    cols = {f"bin_{int(s)}": bins[:, k] for k, s in enumerate(emerging.steps)}
    frame = pd.concat([tab.reset_index(drop=True), pd.DataFrame(cols)], axis=1)
    if "cell_id" in cells:
        frame.insert(0, "cell_id", cells["cell_id"].to_numpy())
    return gpd.GeoDataFrame(frame, geometry=np.asarray(cells.geometry.values), crs=cells.crs)
