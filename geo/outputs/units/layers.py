"""The layers of a run on given units (``layers.gpkg``): the units with their statistics, the parks, the
rejects and the park overlay, in EPSG:4326."""

from __future__ import annotations

from typing import Any

import pandas as pd

from geo.outputs.layers import json_columns

__all__: list[str] = []


# ----------------------------------------------------------------------------- layers
def _unit_layer(vu) -> Any:
    """The units of one valley with their statistics, in EPSG:4326 (no index, dicts as JSON)."""
    a = vu.analysis
    frame = a.units if a.units is not None else vu.units
    out = frame.to_crs("EPSG:4326").reset_index(drop=True)
    if "gi_bin" in out:
        out["gi_bin"] = out["gi_bin"].astype("float64")
    out["valley"] = vu.name
    return out


def _overlay_layer(vu) -> Any:
    import geopandas as gpd

    ov = json_columns(pd.DataFrame(vu.analysis.overlay).copy())
    ov.attrs = {}
    geo = vu.parks.geometry.reindex(ov.index).to_numpy()  # the overlay is indexed like the parks (names may repeat)
    out = gpd.GeoDataFrame(ov.reset_index(drop=True), geometry=list(geo), crs=vu.parks.crs)
    out["valley"] = vu.name
    return out


def _layers(res) -> dict[str, Any]:
    import geopandas as gpd

    layers: dict[str, Any] = {}
    units = [_unit_layer(vu) for vu in res.valleys.values()]
    if units:
        layers["units"] = gpd.GeoDataFrame(pd.concat(units, ignore_index=True), crs="EPSG:4326")
    if res.parks is not None and len(res.parks):
        layers["parks"] = res.parks
    layers["rejects"] = res.rejects
    ov = [_overlay_layer(vu) for vu in res.valleys.values() if vu.analysis.overlay is not None]
    if ov:
        layers["parks_overlay"] = pd.concat(ov, ignore_index=True)
    return layers
