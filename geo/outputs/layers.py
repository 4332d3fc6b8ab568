"""The GeoPackage of a run (``layers.gpkg``): written in the calling thread, or by a thread while the run goes on."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from geo.outputs._write import _temp_beside

__all__ = ["write_layers", "LayerJob", "SPATIAL_INDEX_MAX_FEATURES", "BACKGROUND_MIN_ROWS", "emerging_layer"]

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
#: in a background thread while the caller goes on (the analysis, maps, report); below it the
#: file is written at once.  pyogrio 0.13 (GDAL 3.12) holds the GIL while GDAL writes, so the
#: thread overlaps only the caller's GIL-free work (numba kernels, numpy, forked figure
#: workers); measured against a child process (which wrote the layers until session 7), the
#: thread was as fast or faster at 200,000 and 1,000,000 firms with no second copy of the
#: layers in memory (docs/benchmarks.md, "Session 7"; benchmarks/bench_layers.py).
BACKGROUND_MIN_ROWS = 200_000


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


def _prepare_layers(layers: dict[str, Any]) -> list[tuple[str, Any]]:
    """``(name, frame)`` of every layer that is not None, prepared to be written, in order."""
    return [(name, _prepare_layer(frame)[0]) for name, frame in layers.items() if frame is not None]


def _write_prepared(prepared: Iterable[tuple[str, Any]], target: Path) -> None:
    """Write prepared layers, in order, into the GeoPackage ``target`` (the one writer).

    A layer of more than :data:`SPATIAL_INDEX_MAX_FEATURES` features gets no spatial index.
    """
    import pyogrio

    from geo.points import as_geodataframe

    with _fast_sqlite():
        for name, frame in prepared:
            out = as_geodataframe(frame)
            big = "geometry" in out and len(out) > SPATIAL_INDEX_MAX_FEATURES
            pyogrio.write_dataframe(out, target, layer=name, driver="GPKG", append=target.exists(), use_arrow=True,
                                    layer_options={"SPATIAL_INDEX": "NO"} if big else None)


def write_layers(layers: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write several (Geo)DataFrames as layers of one GeoPackage, atomically.

    Layers go through GDAL's Arrow interface (``use_arrow=True``: columnar, about twice as
    fast as feature by feature on a million firms).  A layer of more than
    :data:`SPATIAL_INDEX_MAX_FEATURES` features gets no spatial index.  ``None`` layers are
    skipped.  :class:`LayerJob` writes the same file in the background.
    """
    return LayerJob(layers, path, background=False).wait()


class LayerJob:
    """A GeoPackage of layers being written, by a background thread when it is big.

    ``LayerJob(layers, path)`` prepares the layers and, when they hold more than
    :data:`BACKGROUND_MIN_ROWS` rows and the run owns its process (``geo run``; see
    :mod:`geo._process`), hands them to a thread that writes them with the same
    :func:`_write_prepared` as :func:`write_layers`; otherwise it writes them at once.
    :meth:`add` hands over more layers (written after the first ones, in order); :meth:`wait`
    returns ``path`` once the file is complete and moved into place, and raises the writer's
    error if it failed.  Used as a context manager, an exception before :meth:`wait` lets the
    thread finish the layer it is writing, skips the rest and leaves no partial file.
    ``background`` forces the choice (tests).
    """

    def __init__(self, layers: dict[str, Any], path: str | os.PathLike, *, background: bool | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = _temp_beside(self.path)
        self._thread: threading.Thread | None = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._stop = False
        try:
            prepared = _prepare_layers(layers)
            if background is None:
                from geo._process import policy

                # a thread only when the run owns its process (geo run), not in a notebook
                background = sum(len(out) for _, out in prepared) > BACKGROUND_MIN_ROWS and policy().background_writer
            if not background:
                _write_prepared(prepared, self._tmp)
                return
            self._queue.put(prepared)
            self._thread = threading.Thread(target=self._run, name="geo-layers", daemon=True)
            self._thread.start()
            log.debug("write_layers: %d layers handed to the writer thread", len(prepared))
        except BaseException:
            self.close()
            raise

    def _run(self) -> None:
        while (prepared := self._queue.get()) is not None:
            if self._error is not None or self._stop:
                continue  # failed or abandoned: the rest is not written
            try:
                _write_prepared(prepared, self._tmp)
            except BaseException as exc:  # noqa: BLE001 - raised by wait()
                self._error = exc

    def add(self, layers: dict[str, Any]) -> None:
        """Write more layers after the ones given so far (the thread gets them at once)."""
        try:
            prepared = _prepare_layers(layers)
            if self._thread is None:
                _write_prepared(prepared, self._tmp)
            else:
                self._queue.put(prepared)
        except BaseException:
            self.close()
            raise

    def _join(self) -> None:
        if self._thread is not None:
            self._queue.put(None)  # no more layers
            self._thread.join()
            self._thread = None

    def wait(self) -> Path:
        """Block until the GeoPackage is complete; move it into place and return its path.

        Raises the writer thread's error (as :func:`write_layers` would have raised it) if it failed.
        """
        try:
            self._join()
            if self._error is not None:
                raise self._error
            os.replace(self._tmp, self.path)
        finally:
            self._cleanup()
        return self.path

    def close(self) -> None:
        """Let the thread finish its current layer, skip the rest, and remove the temporary file."""
        self._stop = True
        self._join()
        self._cleanup()

    def _cleanup(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()
        for suffix in ("-journal", "-wal", "-shm"):  # SQLite's side files, if a write was cut short
            with contextlib.suppress(FileNotFoundError):
                Path(f"{self._tmp}{suffix}").unlink()

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
