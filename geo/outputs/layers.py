"""The GeoPackage of a run (``layers.gpkg``): written in the calling thread, or by a child process while the run goes on."""

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

__all__ = [
    "write_layers",
    "LayerJob",
    "SPATIAL_INDEX_MAX_FEATURES",
    "BACKGROUND_MIN_ROWS",
    "emerging_layer",
    "json_columns",
    "first_layers",
    "run_layers",
]

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
#: in a child process (``python -m geo.outputs._layers_child``, at low priority) while the
#: caller goes on (the analysis, maps, report); below it the file is written at once (the
#: child's start-up, ~0.5 s, is not worth it).  Not a thread: pyogrio 0.13 (GDAL 3.12) holds
#: the GIL while GDAL writes, and a writer thread stalled a quiet 1,000,000-firm run's
#: analysis by ~3 s (docs/benchmarks.md, "Session 8").
BACKGROUND_MIN_ROWS = 200_000

#: rows per record batch of a point layer handed to the writer process: the parent
#: converts, and the child reads and writes, one batch at a time (bounded memory)
CHILD_CHUNK_ROWS = 250_000

#: the line the writer process puts last on its standard error when a layer fails
CHILD_ERROR_MARK = "geo-layer-writer-error: "


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


def _prepare_layers(layers: dict[str, Any]) -> list[tuple[str, Any, bool]]:
    """``(name, frame, has_geometry)`` of every layer that is not None, prepared to be written, in order."""
    return [(name, *_prepare_layer(frame)) for name, frame in layers.items() if frame is not None]


def _write_prepared(prepared: Iterable[tuple[str, Iterable[Any], int]], target: Path) -> None:
    """Write prepared layers, in order, into the GeoPackage ``target`` (the one writer: in the
    calling thread and in the writer process alike).

    Each layer comes as ``(name, chunks, rows)``: its frames in row order (one frame, or the
    record batches of a point layer in the writer process) and its number of rows; a layer of
    more than :data:`SPATIAL_INDEX_MAX_FEATURES` features gets no spatial index.
    """
    import pyogrio

    from geo.points import as_geodataframe

    with _fast_sqlite():
        for name, chunks, rows in prepared:
            for i, chunk in enumerate(chunks):
                out = as_geodataframe(chunk)
                big = "geometry" in out and rows > SPATIAL_INDEX_MAX_FEATURES
                options = {"SPATIAL_INDEX": "NO"} if big and i == 0 else None
                pyogrio.write_dataframe(out, target, layer=name, driver="GPKG", append=target.exists(), use_arrow=True,
                                        layer_options=options)


def _in_process(prepared: list[tuple[str, Any, bool]]) -> list[tuple[str, list[Any], int]]:
    return [(name, [out], len(out)) for name, out, _geo in prepared]


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


def write_layers(layers: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write several (Geo)DataFrames as layers of one GeoPackage, atomically.

    Layers go through GDAL's Arrow interface (``use_arrow=True``: columnar, about twice as
    fast as feature by feature on a million firms).  A layer of more than
    :data:`SPATIAL_INDEX_MAX_FEATURES` features gets no spatial index.  ``None`` layers are
    skipped.  :class:`LayerJob` writes the same file in the background.
    """
    return LayerJob(layers, path, background=False).wait()


class LayerJob:
    """A GeoPackage of layers being written, by a child process when it is big.

    ``LayerJob(layers, path)`` prepares the layers and, when they hold more than
    :data:`BACKGROUND_MIN_ROWS` rows and the run owns its process (``geo run``; see
    :mod:`geo._process`), hands them (as uncompressed Arrow files in a hidden folder beside
    ``path``) to ``python -m geo.outputs._layers_child``, which writes them with the same
    :func:`_write_prepared` as :func:`write_layers`; otherwise it writes them at once.
    :meth:`add` hands over more layers (written after the first ones, in order); :meth:`wait`
    returns ``path`` once the file is complete and moved into place, and raises
    :class:`~geo.errors.DataFileError` (one sentence: the exit code and the child's error) if
    the child failed.  Used as a context manager, an exception before :meth:`wait` stops the
    child and leaves no partial file.  ``background`` forces the choice (tests).
    """

    def __init__(self, layers: dict[str, Any], path: str | os.PathLike, *, background: bool | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = _temp_beside(self.path)
        self._proc: subprocess.Popen | None = None
        self._work: Path | None = None
        self._log = None
        self._specs = 0
        try:
            prepared = _prepare_layers(layers)
            if background is None:
                from geo._process import policy

                # a child process only when the run owns its process (geo run), not in a notebook
                background = sum(len(out) for _, out, _geo in prepared) > BACKGROUND_MIN_ROWS and policy().background_writer
            if not background:
                _write_prepared(_in_process(prepared), self._tmp)
                return
            self._work = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent)).absolute()
            spec_path = self._spec(prepared)
            self._log = open(self._work / "child.log", "w+b")  # noqa: SIM115 - closed in _cleanup
            env = dict(os.environ)
            root = str(Path(__file__).resolve().parents[2])  # the folder holding this geo package
            env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
            # -P: the current folder is not put first on the child's path (its geo is this one)
            self._proc = subprocess.Popen([sys.executable, "-P", "-m", "geo.outputs._layers_child", str(spec_path)],
                                          stdin=subprocess.PIPE, stdout=self._log, stderr=subprocess.STDOUT, env=env)
            log.debug("write_layers: %d layers handed to the writer process %d", len(prepared), self._proc.pid)
        except BaseException:
            self.close()
            raise

    def add(self, layers: dict[str, Any]) -> None:
        """Write more layers after the ones given so far (the child gets them at once)."""
        try:
            prepared = _prepare_layers(layers)
            if self._proc is None:
                _write_prepared(_in_process(prepared), self._tmp)
                return
            spec_path = self._spec(prepared)
            self._proc.stdin.write(str(spec_path).encode("utf-8") + b"\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            self.wait()  # the child is gone: raise its error
        except BaseException:
            self.close()
            raise

    def _spec(self, prepared: list[tuple[str, Any, bool]]) -> Path:
        """Arrow files and a spec file (JSON) for the child; returns the spec's path."""
        import json

        from geo.points import PointFrame

        spec: dict[str, Any] = {"target": str(self._tmp.absolute()), "layers": []}
        for name, out, geo in prepared:
            file = self._work / f"{self._specs}_{len(spec['layers'])}.arrow"
            layer: dict[str, Any] = {"name": name, "file": str(file), "geometry": geo, "rows": len(out)}
            xy = None
            if isinstance(out, PointFrame):  # points travel as two float columns: no WKB made twice
                xy = np.column_stack(out.coords())
                table, geometry_name = pd.DataFrame(out, copy=False), "geometry"
            elif geo:
                xy = _crs.plain_point_coords(out.geometry.values)
                if xy is not None:
                    table, geometry_name = pd.DataFrame(out, copy=False).drop(columns=out.geometry.name), out.geometry.name
            if xy is not None:
                layer["points"] = {"x": _free_name(table, "x"), "y": _free_name(table, "y"),
                                   "geometry": geometry_name, "crs": out.crs.to_json() if out.crs else None}
                table[layer["points"]["x"]], table[layer["points"]["y"]] = xy[:, 0], xy[:, 1]
                _write_arrow_chunks(table, file)
            else:
                (out if geo else pd.DataFrame(out)).to_feather(file, compression="uncompressed")
            spec["layers"].append(layer)
        spec_path = self._work / f"spec_{self._specs}.json"
        self._specs += 1
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        return spec_path

    def wait(self) -> Path:
        """Block until the GeoPackage is complete; move it into place and return its path.

        Raises
        ------
        DataFileError
            The writer process failed (its exit code and its error, in one sentence); no
            file is left at ``path``.
        """
        try:
            if self._proc is not None:
                with contextlib.suppress(BrokenPipeError):
                    self._proc.stdin.close()  # no more layers
                rc = self._proc.wait()
                if rc != 0:
                    raise self._failure(rc)
            os.replace(self._tmp, self.path)
        finally:
            self._cleanup()
        return self.path

    def _failure(self, rc: int) -> DataFileError:
        """The child's failure in one sentence (its whole output goes to the debug log)."""
        import signal

        self._log.seek(0)
        output = self._log.read().decode("utf-8", "replace")
        log.debug("layer writer process output:\n%s", output)
        lines = [x.strip() for x in output.splitlines() if x.strip()]
        marked = [x[len(CHILD_ERROR_MARK):] for x in lines if x.startswith(CHILD_ERROR_MARK)]
        error = marked[-1] if marked else (lines[-1] if lines else "")
        how = f"exit code {rc}"
        if rc < 0:
            try:
                how = f"stopped by {signal.Signals(-rc).name}"
            except ValueError:
                how = f"stopped by signal {-rc}"
        return DataFileError(f"Writing {self.path} failed in the layer writer process ({how}); no partial file was left"
                             + (f": {error}" if error else "."))

    def close(self) -> None:
        """Stop the child if it runs and remove every temporary file; nothing is put in place."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait()
            with contextlib.suppress(BrokenPipeError, OSError):
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


# ----------------------------------------------------------------------------- a run's layers
def json_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every column holding a dict, list or tuple written as JSON text.

    A GeoPackage column holds one scalar type; the park overlays (a run's and a run on given
    units') keep some records as dicts.  Values that are not dicts, lists or tuples stay as they
    are (a missing value stays missing, as NaN); values JSON cannot write (a timestamp, a numpy scalar) are written as their ``str``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Not changed.

    Returns
    -------
    pandas.DataFrame
        A shallow copy with the converted columns replaced (``frame`` itself when none is).

    Examples
    --------
    >>> import pandas as pd
    >>> json_columns(pd.DataFrame({"a": [1, 2], "b": [{"x": 1}, "-"], "c": [[1, 2], "t"]})).to_dict("list")
    {'a': [1, 2], 'b': ['{"x": 1}', '-'], 'c': ['[1, 2]', 't']}
    """
    import json

    def nested(v: Any) -> bool:
        return isinstance(v, (dict, list, tuple))

    columns = [c for c in frame.columns if frame[c].map(nested).any()]
    if not columns:
        return frame
    out = frame.copy(deep=False)
    for c in columns:
        out[c] = frame[c].map(lambda v: json.dumps(v, default=str) if nested(v) else v)
    return out


def first_layers(firms, parks, rejects) -> dict:
    """The layers of ``layers.gpkg`` known once the firms are read: firms, parks, rejects
    (as they are: the layer writer drops their ``attrs`` on its own shallow copies).

    Parameters
    ----------
    firms, parks, rejects : geopandas.GeoDataFrame, geopandas.GeoDataFrame, pandas.DataFrame
        The run's inputs as read (:class:`geo.pipeline.results.Results` fields of the same names).

    Returns
    -------
    dict
        Layer name -> frame, in the order of the GeoPackage.
    """
    return {"firms": firms, "parks": parks, "rejects": rejects}


def run_layers(results: Any, *, inputs: bool = True) -> dict[str, Any]:
    """The layers of a run's ``layers.gpkg`` (README's table), in the order they are written.

    Parameters
    ----------
    results : geo.pipeline.results.Results
        A run's results: its inputs, each valley's :class:`geo.pipeline.results.ValleyAnalysis`,
        the groups and the comparison.
    inputs : bool, default True
        Also the input layers (:func:`first_layers`): False when a :class:`LayerJob` of the run
        already has them (``geo.run(config, out=...)`` starts writing them while the run goes on).

    Returns
    -------
    dict
        Layer name -> frame: cells, hot spots, clusters and point clusters in EPSG:4326 (each
        cell layer reprojected once), groups, valleys, co-location (table and significant
        firms), emerging hot spots, the parks with their overlay, the study areas.
    """
    layers = first_layers(results.firms, results.parks, results.rejects) if inputs else {}
    done: dict[str, list] = {name: [] for name in results.valleys}
    for kind in ("cells", "hotspots", "clusters", "point_clusters"):
        frames = [_wgs84_layer(getattr(vr.analysis, kind), done[name]).assign(valley=name)
                  for name, vr in results.valleys.items() if getattr(vr.analysis, kind) is not None]
        if frames:
            layers[kind] = _concat(frames)
    if results.groups is not None:
        gt = results.groups.table.copy(deep=False)
        gt.attrs = {}  # compare_groups' documented record (rules, nulls, parameters): not a layer's
        layers["groups"] = gt
    if results.comparison is not None:
        layers["valleys"] = results.comparison.table.reset_index()
    colo = [vr.analysis.colocation.table.assign(valley=name) for name, vr in results.valleys.items()
            if vr.analysis.colocation is not None]
    if colo:
        layers["colocation"] = pd.concat(colo, ignore_index=True)
    local = [_colocation_layer(vr) for vr in results.valleys.values()
             if vr.analysis.colocation is not None and vr.analysis.colocation.local is not None]
    local = [f for f in local if len(f)]
    if local:
        layers["colocation_local"] = _concat(local)
    emerging = [emerging_layer(_wgs84_layer(vr.analysis.cells, done[name]), vr.analysis.emerging).assign(valley=name)
                for name, vr in results.valleys.items() if vr.analysis.emerging is not None]
    if emerging:
        layers["emerging_hotspots"] = _concat(emerging)
    ov = [_overlay_layer(vr) for vr in results.valleys.values() if vr.analysis.parks_overlay is not None]
    if ov:
        layers["parks_overlay"] = _concat(ov)
    areas = _area_layer(results.valleys)
    if areas is not None:
        layers["study_area"] = areas
    return layers


def _wgs84_layer(frame, done: list):
    """``frame`` in EPSG:4326; the geometry of a frame in ``done`` with the same index and
    exactly the same geometries (the cells and the hot-spot cells) is reused, not reprojected."""
    import shapely

    for src, out in done:
        if (src.crs == frame.crs and src.index.equals(frame.index)
                and shapely.equals_exact(np.asarray(src.geometry.values), np.asarray(frame.geometry.values), tolerance=0).all()):
            return frame.set_geometry(out.geometry.to_numpy(), crs=out.crs)
    out = frame.to_crs("EPSG:4326")
    done.append((frame, out))
    return out


def _concat(frames):
    import geopandas as gpd

    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)


def _area_layer(valleys: dict):
    """One row per valley: its study area's outline (EPSG:4326), rule, description and km²."""
    import geopandas as gpd

    rows, geoms = [], []
    for name, vr in valleys.items():
        sa = vr.analysis.study_area
        if sa is None:
            continue
        rows.append({"valley": name, **{k: v for k, v in sa.to_dict().items() if k != "metric_crs"}})
        geoms.append(gpd.GeoSeries([sa.geometry], crs=sa.crs).to_crs("EPSG:4326").iloc[0])
    if not rows:
        return None
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs="EPSG:4326")


def _colocation_layer(vr):
    """The target firms whose local co-location quotient is significant (FDR), as WGS84 points."""
    import geopandas as gpd

    import shapely

    loc = vr.analysis.colocation.local

    sig = loc[loc["label"] != "ns"]
    firms = vr.firms.loc[sig.index]  # a firm once per relation in which it is significant
    x, y = firms.coords()
    keep = [c for c in ("firm_id", "name") if c in firms.columns]
    frame = pd.DataFrame(firms[keep]).reset_index(drop=True)
    for c in sig.columns:
        frame[c] = sig[c].to_numpy()
    frame["valley"] = vr.name
    return gpd.GeoDataFrame(frame, geometry=shapely.points(x, y), crs=vr.firms.crs)


def _overlay_layer(vr):
    """Park polygons with their overlay metrics, tests and verdict (dict columns as JSON)."""
    import geopandas as gpd

    ov = vr.analysis.parks_overlay.copy()
    if vr.analysis.models is not None:
        md = vr.analysis.models
        for c in ("primary_model", "models"):
            if c in md:
                ov[c] = md[c].map(lambda v: " + ".join(v) if isinstance(v, (list, tuple)) else v).reindex(ov.index)
    ov = json_columns(ov)
    geo = vr.parks.geometry.reindex(ov.index)
    out = gpd.GeoDataFrame(ov.drop(columns=[c for c in ("name", "designated") if c in ov]).join(vr.parks[["name", "designated"]]),
                           geometry=geo.values, crs=vr.parks.crs)
    out["valley"] = vr.name
    return out
