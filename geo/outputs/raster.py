"""Writing density grids: tiled, compressed GeoTIFFs (local UTM) and RGBA PNG overlays for the maps.

In the GeoTIFF, cells without data (NaN in memory) are ``NODATA = -9999.0``, a value a density can
never take (every explicit nodata value is understood by GDAL, QGIS and ArcGIS, which is not true
of NaN for all of them).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import pyproj

from geo.errors import InputError
from geo.stats.density import DensityGrid

if TYPE_CHECKING:
    import affine


__all__ = ["NODATA", "write_geotiff", "density_to_png"]


logger = logging.getLogger(__name__)


#: nodata value written to GeoTIFFs (cells without data are NaN in memory)
NODATA: float = -9999.0


# ----------------------------------------------------------------------------- output
def _rio_crs(crs: pyproj.CRS):
    from rasterio.crs import CRS as RioCRS

    epsg = crs.to_epsg()
    return RioCRS.from_epsg(epsg) if epsg is not None else RioCRS.from_wkt(crs.to_wkt())


def write_geotiff(grid: DensityGrid, path: str | os.PathLike, *, overviews: bool = False) -> Path:
    """Write a :class:`DensityGrid` as a GeoTIFF that GDAL/QGIS/ArcGIS read as is.

    One float32 band, tiled 256 × 256, DEFLATE-compressed with the floating-point
    predictor (3), nodata ``-9999.0`` (the NaN cells of the grid), CRS and transform set,
    and the metadata tags ``units``, ``kernel``, ``bandwidth_m``, ``bandwidth_rule``,
    ``cell_size_m``, ``n_points`` and ``total_weight`` (also the band's unit and
    description).  The file is written to a temporary name and moved into place only
    when complete, so a crash never leaves a truncated file.

    Parameters
    ----------
    grid : DensityGrid
    path : str or os.PathLike
        The output file (``.tif``); parent folders are created.
    overviews : bool, default False
        Also build internal overviews for fast display of large grids: factor 2, and 4,
        8, 16 while the overview keeps at least 256 pixels on its longer side (average
        resampling).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import rasterio
    from rasterio.enums import Resampling

    from geo.outputs._write import atomic_path

    data = np.where(np.isnan(grid.array), NODATA, grid.array).astype(np.float32)
    rows, cols = grid.shape
    profile = {
        "driver": "GTiff",
        "width": cols,
        "height": rows,
        "count": 1,
        "dtype": "float32",
        "crs": _rio_crs(grid.crs),
        "transform": grid.transform,
        "nodata": NODATA,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "predictor": 3,
    }
    with atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(data, 1)
            dst.update_tags(**grid.tags())
            dst.set_band_description(1, "kernel density")
            dst.set_band_unit(1, grid.units)
            if overviews:
                factors = [f for f in (2, 4, 8, 16) if max(rows, cols) / f >= 256 or f == 2]
                dst.build_overviews(factors, Resampling.average)
                dst.update_tags(ns="rio_overview", resampling="average")
    logger.info("write_geotiff: %s (%d x %d)", path, rows, cols)
    return Path(path)


def _warp(grid: DensityGrid, dst_crs: str, max_size: int) -> tuple[np.ndarray, affine.Affine]:
    """Reproject the grid (bilinear; NaN nodata) to ``dst_crs``, at most ``max_size`` px a side."""
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.warp import reproject, transform_bounds

    rows, cols = grid.shape
    src_crs = _rio_crs(grid.crs)
    # the whole grid's footprint (edges densified), square pixels of about the source's
    # number of pixels, at most max_size a side
    west, south, east, north = transform_bounds(src_crs, dst_crs, *grid.bounds, densify_pts=51)
    res = math.sqrt((east - west) * (north - south) / (rows * cols))
    res = max(res, (east - west) / max_size, (north - south) / max_size)
    width = max(1, min(max_size, math.ceil((east - west) / res - 1e-9)))
    height = max(1, min(max_size, math.ceil((north - south) / res - 1e-9)))
    transform = Affine(res, 0.0, west, 0.0, -res, north)
    out = np.full((height, width), np.nan, dtype=np.float64)
    reproject(
        source=np.asarray(grid.array, dtype=np.float64),
        destination=out,
        src_transform=grid.transform,
        src_crs=src_crs,
        src_nodata=np.nan,
        dst_transform=transform,
        dst_crs=dst_crs,
        dst_nodata=np.nan,
        resampling=Resampling.bilinear,
    )
    return out, transform


def density_to_png(
    grid: DensityGrid,
    path_or_buffer: str | os.PathLike | BinaryIO,
    *,
    cmap: str = "magma",
    max_percentile: float = 99.5,
    min_fraction: float = 0.02,
    dst_crs: str = "EPSG:3857",
    max_size: int = 2048,
) -> list[list[float]]:
    """Render the density as an RGBA PNG for a Folium/Leaflet image overlay.

    A projected (e.g. UTM) grid is not aligned with longitude/latitude, so its corners
    cannot simply be handed to a web map.  The grid is first reprojected with
    :func:`rasterio.warp.reproject` (bilinear).  Leaflet stretches an overlay *linearly in
    Web Mercator* between its south-west and north-east corners, so the default target is
    EPSG:3857, whose pixel rows are then exactly where Leaflet draws them; its corners are
    converted to longitude/latitude for the bounds (the Mercator axes are independent,
    so an axis-aligned EPSG:3857 rectangle is an axis-aligned lon/lat one).
    ``dst_crs="EPSG:4326"`` gives an equirectangular image instead (Google Earth
    ``GroundOverlay``, ``folium.raster_layers.ImageOverlay(mercator_project=True)`` with
    an array); in Leaflet it is placed up to ~20 m off for a 40 km extent at 30° N.

    Colours: the density is scaled by its ``max_percentile`` percentile (higher values
    saturate) and mapped through ``cmap``; nodata cells, cells outside the grid after
    reprojection and cells below ``min_fraction`` of that percentile are fully
    transparent, the others opaque (set the overlay's ``opacity`` in Folium).

    Parameters
    ----------
    grid : DensityGrid
    path_or_buffer : str, os.PathLike or binary file object
        Where to write the PNG (paths are written atomically).
    cmap : str, default "magma"
        A Matplotlib colormap name.
    max_percentile : float, default 99.5
    min_fraction : float, default 0.02
    dst_crs : {"EPSG:3857", "EPSG:4326"}, default "EPSG:3857"
    max_size : int, default 2048
        The longest side of the image in pixels (the resolution is coarsened beyond).

    Returns
    -------
    list
        ``[[south, west], [north, east]]`` in degrees (WGS84), the ``bounds`` argument of
        ``folium.raster_layers.ImageOverlay``.

    Examples
    --------
    >>> import io, numpy as np
    >>> xy = np.random.default_rng(3).normal([500_000, 3_380_000], 800, size=(200, 2))
    >>> grid = kernel_density(xy, crs=32650, bandwidth=200.0)
    >>> (south, west), (north, east) = density_to_png(grid, io.BytesIO())
    >>> round((south + north) / 2, 2), round((west + east) / 2, 2)   # around 117° E, 30.55° N
    (30.55, 117.0)
    """
    import matplotlib
    import matplotlib.image

    if not isinstance(grid, DensityGrid):
        msg = f"`grid` must be a DensityGrid (from kernel_density); {type(grid).__name__} was given."
        raise InputError(msg)
    if dst_crs not in ("EPSG:3857", "EPSG:4326"):
        msg = f"`dst_crs` must be 'EPSG:3857' (Leaflet/Folium) or 'EPSG:4326'; {dst_crs!r} was given."
        raise InputError(msg)
    if not (0.0 < float(max_percentile) <= 100.0):
        msg = f"`max_percentile` must be in (0, 100]; {max_percentile!r} was given."
        raise InputError(msg)
    if not (0.0 <= float(min_fraction) < 1.0):
        msg = f"`min_fraction` must be in [0, 1); {min_fraction!r} was given."
        raise InputError(msg)
    if int(max_size) < 1:
        msg = f"`max_size` must be a positive number of pixels; {max_size!r} was given."
        raise InputError(msg)
    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError:
        msg = f"`cmap` must be a Matplotlib colormap name such as 'magma' or 'viridis'; {cmap!r} was given."
        raise InputError(msg) from None

    valid = grid.array[~np.isnan(grid.array)]
    vmax = float(np.percentile(valid, max_percentile)) if valid.size else 0.0
    if not vmax > 0.0:
        vmax = float(valid.max()) if valid.size else 0.0
    warped, transform = _warp(grid, dst_crs, int(max_size))
    height, width = warped.shape
    rgba = np.zeros((height, width, 4), dtype=np.uint8)
    if vmax > 0.0:
        scaled = np.clip(np.nan_to_num(warped, nan=0.0) / vmax, 0.0, 1.0)
        rgba = colormap(scaled, bytes=True)
        transparent = np.isnan(warped) | (np.nan_to_num(warped, nan=0.0) < min_fraction * vmax)
        rgba[..., 3] = np.where(transparent, 0, 255).astype(np.uint8)
    else:
        logger.warning("density_to_png: the density is zero everywhere; the image is fully transparent")

    west, north = transform.c, transform.f
    east, south = west + width * transform.a, north + height * transform.e
    if dst_crs == "EPSG:3857":
        to_ll = pyproj.Transformer.from_crs(3857, 4326, always_xy=True)
        (west, east), (south, north) = to_ll.transform([west, east], [south, north])
    if isinstance(path_or_buffer, (str, os.PathLike)):
        from geo.outputs._write import atomic_path

        with atomic_path(path_or_buffer) as tmp:
            matplotlib.image.imsave(tmp, rgba, format="png")
    else:
        matplotlib.image.imsave(path_or_buffer, rgba, format="png")
    return [[float(south), float(west)], [float(north), float(east)]]
