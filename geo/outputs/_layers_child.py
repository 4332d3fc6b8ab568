"""The writer process of :class:`geo.outputs.layers.LayerJob`: prepared layers into one GeoPackage.

``python -m geo.outputs._layers_child SPEC.json`` where the spec names the target file and, in
order, each layer's name, its uncompressed Arrow (Feather) file, its number of rows and
whether it has a geometry column; a layer of plain points comes as two coordinate columns
instead of WKB, in record batches that are read and written one at a time (bounded memory).
Then each line of standard input names one more spec (more layers, appended in order) until
the input ends.  The layers go through :func:`geo.outputs.layers._write_prepared`, the same
writer :func:`geo.outputs.layers.write_layers` uses in process.  Exit code 0 only when every
layer is written; on an error the last line of standard error is
:data:`geo.outputs.layers.CHILD_ERROR_MARK` and the error in one line, which
:meth:`LayerJob.wait <geo.outputs.layers.LayerJob.wait>` reports.

This process is geo's own (started by ``geo run`` only): it lowers its priority, pauses the
collector while it makes points and sets GDAL's SQLite options, as the command may.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _chunks(layer: dict[str, Any]) -> Iterator[Any]:
    """The layer's frames, in row order: batch by batch for a point layer, else whole."""
    import geopandas as gpd
    import pandas as pd

    points = layer.get("points")
    if points:
        import pyarrow as pa

        from geo import _gc

        # read, not memory-mapped: a mapped file's pages stay resident in this process as
        # they are touched (5M firms: ~1 GB); a read batch is freed once written
        reader = pa.ipc.open_file(pa.OSFile(layer["file"]))
        for i in range(reader.num_record_batches):
            table = reader.get_batch(i).to_pandas()
            geometry = _gc.points(table.pop(points["x"]).to_numpy(), table.pop(points["y"]).to_numpy())
            yield gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geometry, name=points["geometry"]), crs=points["crs"])
    elif layer["geometry"]:
        yield gpd.read_feather(layer["file"])
    else:
        yield gpd.GeoDataFrame(pd.read_feather(layer["file"]))


def main(argv: list[str]) -> int:
    """Write the layers of the spec ``argv[0]`` and of every spec named on standard input.

    Parameters
    ----------
    argv : list of str
        The first spec's path.

    Returns
    -------
    int
        The exit code: 0 when every layer is written, 1 on an error (reported on standard error).
    """
    import os
    import traceback

    from geo.outputs.layers import CHILD_ERROR_MARK, _write_prepared

    if hasattr(os, "nice"):
        # below the analysis it runs beside: the parent's parallel kernels keep both cores
        # and the writer takes the cycles they leave
        os.nice(10)
    try:
        spec_path = argv[0]
        while spec_path:
            spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
            _write_prepared(((layer["name"], _chunks(layer), layer["rows"]) for layer in spec["layers"]),
                            Path(spec["target"]))
            spec_path = sys.stdin.readline().strip()  # the next spec, or end of input: done
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it as one sentence
        traceback.print_exc()
        message = " ".join(str(exc).split()) or "(no message)"
        print(f"{CHILD_ERROR_MARK}{type(exc).__name__}: {message}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    from geo._process import owned

    with owned():  # this process is geo's own: GDAL options and the collector are its to set
        sys.exit(main(sys.argv[1:]))
