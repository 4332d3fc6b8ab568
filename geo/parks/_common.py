"""What the park modules share: the four verdicts' words (:data:`VERDICTS`), layers brought to
one CRS, points in a polygon, missing values as the group study (:mod:`geo.parks.groups`) and the
development models (:mod:`geo.parks.models`) test them (numbers and percentages are written by
:mod:`geo._format`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from geo.errors import CRSError

#: the four park verdicts: key -> the words every output shows (re-exported by :mod:`geo.parks.overlay`)
VERDICTS = {
    "pre-existing": "park on a pre-existing cluster",
    "after": "cluster formed after designation",
    "none": "park without a cluster",
    "undetermined": "undetermined",
}

__all__ = []


def _to(gdf, crs, what: str):
    """``gdf`` in ``crs``; a layer without a CRS is an error naming ``what``."""
    if gdf.crs is None:
        msg = f"The {what} layer has no CRS; set it with gdf.set_crs(...)."
        raise CRSError(msg)
    return gdf if gdf.crs == crs else gdf.to_crs(crs)


def _metric(gdf, crs):
    if gdf.crs is None:
        from geo.errors import CRSError

        msg = "A layer without CRS was given; set it with gdf.set_crs(...)."
        raise CRSError(msg)
    return gdf if gdf.crs == crs else gdf.to_crs(crs)


def _valid(geom):
    import shapely

    return geom if shapely.is_valid(geom) else shapely.make_valid(geom)


def _inside(geom, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Points inside ``geom`` (boundary counts as inside)."""
    import shapely

    if geom is None or shapely.is_empty(geom) or len(x) == 0:
        return np.zeros(len(x), dtype=bool)
    g = _valid(geom)
    shapely.prepare(g)
    return shapely.intersects_xy(g, x, y)


def _isnan(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
