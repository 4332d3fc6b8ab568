"""The GCJ-02 shift of the map being drawn: which basemap is current and the coordinates as drawn on it.

:func:`geo.outputs.maps._basemap.on_basemap` sets the current basemap while a map is drawn;
``_geometry`` writes every coordinate through :func:`display_lonlat`, ``_frame`` fits the view
with :func:`display_bounds`.  Kept apart from ``_basemap`` (tiles, fallback outlines), which
itself draws through ``_geometry``: the imports go one way (``_basemap`` -> ``_geometry`` ->
``_shift``).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import numpy as np

__all__ = ["display_bounds", "display_lonlat"]

#: the basemap (a :class:`geo.outputs.maps._basemap.Basemap`) of the map being drawn (None:
#: outside :func:`~geo.outputs.maps._basemap.on_basemap`, or a map not made by geo)
_CURRENT: ContextVar[Any] = ContextVar("geo_basemap", default=None)


def _shifting() -> bool:
    spec = _CURRENT.get()
    return spec is not None and spec.gcj02


def display_lonlat(c: np.ndarray) -> np.ndarray:
    """WGS84 lon/lat rows ``(n, 2)`` as drawn on the current basemap (GCJ-02 on Amap; else as they are)."""
    if not _shifting():
        return c
    from geo.crs import wgs84_to_gcj02

    c = np.asarray(c, dtype=float)
    if c.ndim != 2 or c.shape[1] != 2 or not len(c):
        return c
    lon, lat = wgs84_to_gcj02(c[:, 0], c[:, 1])
    return np.column_stack([lon, lat])


def display_bounds(bounds: list[float]) -> list[float]:
    """(west, south, east, north) as drawn on the current basemap."""
    if not _shifting():
        return bounds
    w, s, e, n = bounds
    c = display_lonlat(np.array([[w, s], [e, n]], dtype=float))
    return [float(c[0, 0]), float(c[0, 1]), float(c[1, 0]), float(c[1, 1])]
