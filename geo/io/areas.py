"""Reading a study-area boundary: a polygon layer (``[analysis] study_area`` or
``[[valleys]] study_area`` of the config; see :mod:`geo.cells.area`)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from geo.errors import CRSError, DataFileError, InputError
from geo.io._text import check_file

__all__ = ["read_study_area"]


def read_study_area(path: str | os.PathLike, *, layer: str | int | None = None):
    """Read the polygons of a study-area boundary.

    Parameters
    ----------
    path : str or path-like
        Any polygon layer GDAL reads (GeoPackage, Shapefile, GeoJSON, KML); it must have a
        coordinate reference system.
    layer : str or int, optional
        Layer of a multi-layer source (default: the first).

    Returns
    -------
    geopandas.GeoDataFrame
        The layer's (Multi)Polygon features in the file's CRS (invalid ones repaired with
        :func:`shapely.make_valid`); features without geometry are left out.

    Raises
    ------
    geo.errors.DataFileError
        The file is missing or GDAL cannot read it.
    geo.errors.InputError
        The layer holds no feature, or features that are not polygons (points, lines).
    geo.errors.CRSError
        The layer has no coordinate reference system.
    """
    import pyogrio
    import shapely

    p = check_file(path, "Study-area file")
    try:
        gdf = pyogrio.read_dataframe(p, **({} if layer is None else {"layer": layer}))
    except Exception as exc:
        msg = f"Cannot read study-area file '{p}' as a polygon layer ({exc}). Check the file opens in QGIS."
        raise DataFileError(msg) from None
    geoms = np.asarray(gdf.geometry.values) if "geometry" in gdf else np.zeros(0, dtype=object)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) if len(geoms) else np.zeros(0, bool)
    if not present.any():
        msg = f"Study-area file '{p.name}' holds no feature with a geometry; a study area must be one or more polygons."
        raise InputError(msg)
    kinds = shapely.get_type_id(geoms[present])
    if not np.isin(kinds, (3, 6)).all():
        found = pd.Series([shapely.GeometryType(int(k)).name.title() for k in kinds]).value_counts()
        listed = ", ".join(f"{k} ({v})" for k, v in found.items())
        msg = (f"Study-area file '{p.name}' must hold polygons; its {int(present.sum())} feature(s) are {listed}. "
               "Give the boundary as polygons (a point or line layer has no area).")
        raise InputError(msg)
    if gdf.crs is None:
        msg = (f"Study-area file '{p.name}' has no coordinate reference system (no .prj?); set one, e.g. in QGIS "
               "(Layer ▸ Set CRS) or with geopandas' set_crs, and save it again.")
        raise CRSError(msg)
    out = gdf.loc[present].copy()
    valid = shapely.is_valid(out.geometry.values)
    if not valid.all():
        out.loc[~valid, out.geometry.name] = shapely.make_valid(out.geometry.values[~valid])
    return out
