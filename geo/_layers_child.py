"""Child process of :class:`geo.io.LayerJob`: write prepared layers into one GeoPackage.

``python -m geo._layers_child SPEC.json`` where the spec names the target file and, in
order, each layer's name, its uncompressed Arrow (Feather) file and whether it has a
geometry column; a layer of plain points comes as two coordinate columns instead of WKB.  The layers go through :func:`geo.io._write_prepared`, the same writer
:func:`geo.io.write_layers` uses in process.  Exit code 0 only when every layer is written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    import geopandas as gpd
    import pandas as pd

    from geo.io import _write_prepared

    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    prepared = []
    for layer in spec["layers"]:
        points = layer.get("points")
        if points:
            import shapely

            table = pd.read_feather(layer["file"])
            geometry = shapely.points(table.pop(points["x"]).to_numpy(), table.pop(points["y"]).to_numpy())
            frame = gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geometry, name=points["geometry"]),
                                     crs=points["crs"])
        elif layer["geometry"]:
            frame = gpd.read_feather(layer["file"])
        else:
            frame = gpd.GeoDataFrame(pd.read_feather(layer["file"]))
        prepared.append((layer["name"], frame))
    _write_prepared(prepared, Path(spec["target"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
