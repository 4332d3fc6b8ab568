"""Firms as coordinate columns: :class:`PointFrame`, and one way to read point coordinates.

A shapely point costs about 200 bytes of memory (a Python object and a GEOS geometry);
five million firms in WGS84 and again in metres hold about 2 GB of them.  The pipeline
therefore carries the firm table as a :class:`PointFrame`: a pandas DataFrame whose
points are two float columns and a CRS.  Every stage that takes firms (``aggregate``,
``park_overlay``, ``kd``, ``kernel_density``, ...) accepts a PointFrame as well as a
GeoDataFrame of points, and gives the same result for both; geometries are made only
where a layer is written (:meth:`PointFrame.to_geodataframe`).

>>> import pandas as pd
>>> pf = PointFrame(pd.DataFrame({"lon": [114.3, 114.4], "lat": [30.5, 30.6]}), crs=4326, xy=("lon", "lat"))
>>> pf.iloc[1:].coords()[0].tolist(), pf.iloc[1:].crs.to_epsg()
([114.4], 4326)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyproj

from geo.errors import CRSError, InputError

__all__ = ["PointFrame", "point_xy", "as_geodataframe", "sector_mask"]


class PointFrame(pd.DataFrame):
    """A DataFrame of points kept as two coordinate columns (``xy``) in a CRS (``crs``).

    Row selections (``iloc``, ``loc``, boolean masks), ``assign`` and copies keep the type,
    the CRS and the coordinate column names (pandas ``_metadata``).

    Parameters
    ----------
    data : DataFrame or anything pandas.DataFrame accepts
        The table, with the two coordinate columns.
    crs : any pyproj CRS input
        The CRS of the coordinates.
    xy : (str, str)
        The names of the x (longitude, easting) and y (latitude, northing) columns.
    """

    _metadata = ["crs", "xy"]

    def __init__(self, data: Any = None, *args: Any, crs: Any = None, xy: tuple[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(data, *args, **kwargs)
        if isinstance(data, PointFrame):
            crs = data.crs if crs is None else crs
            xy = data.xy if xy is None else xy
        self.crs = None if crs is None else pyproj.CRS.from_user_input(crs)
        self.xy = None if xy is None else (str(xy[0]), str(xy[1]))

    @property
    def _constructor(self):
        return PointFrame

    def coords(self) -> tuple[np.ndarray, np.ndarray]:
        """The x and y coordinates as float64 arrays."""
        if self.crs is None or self.xy is None:
            msg = "This PointFrame has no CRS or coordinate columns; make it with PointFrame(df, crs=..., xy=(x, y))."
            raise CRSError(msg)
        missing = [c for c in self.xy if c not in self.columns]
        if missing:
            msg = f"The coordinate columns {missing} of this PointFrame were dropped; keep {list(self.xy)} in the selection."
            raise InputError(msg)
        return self[self.xy[0]].to_numpy(dtype=np.float64), self[self.xy[1]].to_numpy(dtype=np.float64)

    @property
    def total_bounds(self) -> np.ndarray:
        """``[minx, miny, maxx, maxy]`` of the finite coordinates (NaN when there are none)."""
        x, y = self.coords()
        ok = np.isfinite(x) & np.isfinite(y)
        if not ok.any():
            return np.full(4, np.nan)
        return np.array([x[ok].min(), y[ok].min(), x[ok].max(), y[ok].max()])

    def to_crs(self, crs: Any, xy: tuple[str, str] | None = None) -> PointFrame:
        """The points in ``crs``: the same columns (shared, copy-on-write) plus new coordinate
        columns ``xy``; by default ``x``/``y``, or ``x_m``/``y_m`` ... when another column
        has that name (columns of the old coordinates' names are replaced)."""
        xy = self._free_xy() if xy is None else xy
        target = pyproj.CRS.from_user_input(crs)
        x, y = self.coords()
        if target != self.crs:
            x, y = pyproj.Transformer.from_crs(self.crs, target, always_xy=True).transform(x, y)
        out = self.copy(deep=False)
        out[xy[0]] = np.asarray(x, dtype=np.float64)
        out[xy[1]] = np.asarray(y, dtype=np.float64)
        out.crs = target
        out.xy = (xy[0], xy[1])
        return out

    def _free_xy(self) -> tuple[str, str]:
        taken = set(map(str, self.columns)) - set(self.xy or ())
        x, y = "x", "y"
        while x in taken or y in taken:
            x, y = (x + "_m", y + "_m") if not x.endswith(("_m", "_")) else (x + "_", y + "_")
        return x, y

    def to_geodataframe(self):
        """A GeoDataFrame of the same rows and columns with shapely points as its geometry."""
        import geopandas as gpd

        from geo import _gc

        x, y = self.coords()
        frame = pd.DataFrame(self, copy=False)
        return gpd.GeoDataFrame(frame, geometry=_gc.points(x, y), crs=self.crs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name in _GEO_ONLY:
                msg = (f"'PointFrame' has no attribute {name!r}: its points are the columns {self.xy} in "
                       f"{self.crs}; call .to_geodataframe() for a GeoDataFrame with point geometries.")
                raise AttributeError(msg) from None
            raise


#: GeoDataFrame attributes a PointFrame lacks: asking for one says how to get a GeoDataFrame
_GEO_ONLY = frozenset({"geometry", "explore", "to_file", "set_crs", "sjoin", "cx", "buffer", "within", "intersects",
                       "distance", "area", "centroid"})


def point_xy(points: Any) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of a PointFrame, or of a GeoDataFrame/GeoSeries of points (``shapely.get_x``/
    ``get_y``: NaN for a missing or non-point geometry)."""
    if isinstance(points, PointFrame):
        return points.coords()
    import shapely

    g = np.asarray(points.geometry.values)
    return shapely.get_x(g), shapely.get_y(g)


def as_geodataframe(points: Any):
    """``points`` as a GeoDataFrame: a PointFrame is converted, anything else returned as is."""
    return points.to_geodataframe() if isinstance(points, PointFrame) else points


def sector_mask(frame: Any, sector: Any, column: str) -> np.ndarray:
    """Which rows of ``frame`` are of ``sector`` (the text of ``frame[column]``, stripped).

    Raises
    ------
    ColumnError
        ``column`` is not a column of ``frame`` (the columns are listed).
    InputError
        No row has the value (the most frequent values are listed, with the closest one):
        a sector that matches nothing is a slip, never "all firms".
    """
    from geo._words import counted, listing, suggest
    from geo.errors import ColumnError

    if column not in frame.columns:
        cols = [str(c) for c in frame.columns]
        msg = (f"The sector column {column!r} is not a column of the firms; their columns are: {listing(cols)}."
               f"{suggest(column, cols)} Set `sector_column=`.")
        raise ColumnError(msg)
    values = frame[column]
    text = values.astype(str).str.strip()
    mask = (text == str(sector).strip()).to_numpy() & values.notna().to_numpy()
    if not mask.any():
        counts = text[values.notna()].value_counts()
        msg = (f"No firm has {column} == {sector!r}; the most frequent values are: {counted(counts)}."
               f"{suggest(sector, list(counts.index))}")
        raise InputError(msg)
    return mask
