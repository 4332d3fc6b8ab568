"""Kernel density of firms on a regular grid, and zonal statistics of a density grid.

:func:`kernel_density` estimates the density of firms on a regular grid in a projected CRS
(metres) and returns a :class:`DensityGrid`; :func:`zonal_stats` summarises the density per
park.  Writing grids (GeoTIFF, PNG overlays) is :mod:`geo.outputs.raster`'s.

Units and conventions
---------------------
* Density is in **firms per km²** (weighted firms per km² when ``weights`` are given).
  Summing ``density × cell area (km²)`` over a region gives the expected number of firms
  in it, so the grid integrates to the number of points inside the extent, less the kernel
  mass that falls outside the grid (hence the default padding of the extent).
* Row 0 of every array is the northern edge (GDAL's "north-up" convention); the
  ``affine.Affine`` transform maps (col, row) to (x, y) of the cell's upper-left corner.
* In memory, cells without data (outside an extent polygon) are NaN; in the GeoTIFF they
  are ``NODATA = -9999.0``, a value a density can never take (every explicit nodata value
  is understood by GDAL, QGIS and ArcGIS, which is not true of NaN for all of them).

The algorithm
-------------
The points are *linearly binned* to the grid (each point's unit mass is shared between
the four nearest cell centres with bilinear weights, which keeps every point's centre of
mass exact; Wand 1994) and the binned counts are convolved with the kernel sampled at the
cell offsets by FFT (``scipy.signal.fftconvolve``, or its overlap-add variant
``oaconvolve`` for grids over a million cells).  The cost is ``O(n + G log G)`` for ``n``
points and ``G`` cells instead of ``O(n G)`` for the direct sum.  The approximation error
is of order ``(cell/σ)²`` (σ the kernel's per-axis standard deviation); the sampled
Gaussian is narrowed by the variance that linear binning adds on average (cell²/6 per axis),
which removes most of it.  Measured against the direct sum of kernels at the cell centres
(``tests/test_raster.py``): at the default cell size (σ/4) about 0.1 % of the maximum for
the Gaussian and 0.3-0.5 % for the quartic kernel on clustered points; the worst case, a
single isolated point, is about 1 % (2 % at a cell of σ/3).

References
----------
Silverman, B. W. (1986). *Density Estimation for Statistics and Data Analysis*. London:
Chapman and Hall.

Scott, D. W. (1992). *Multivariate Density Estimation*. New York: Wiley.

Esri (2024). "How Kernel Density works", ArcGIS Pro tool reference,
https://pro.arcgis.com/en/pro-app/latest/tool-reference/spatial-analyst/how-kernel-density-works.htm

Wand, M. P. (1994). Fast computation of multivariate kernel estimators. *Journal of
Computational and Graphical Statistics* 3(4), 433-445.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyproj

from geo.errors import ColumnError, CRSError, InputError, StatisticsError

if TYPE_CHECKING:
    import affine
    import geopandas as gpd

__all__ = [
    "UNITS",
    "BANDWIDTH_RULES",
    "KERNELS",
    "ZONAL_STATS",
    "DensityGrid",
    "bandwidth",
    "kernel_density",
    "kernel_density_by",
    "zonal_stats",
]

logger = logging.getLogger(__name__)


#: the unit of every density this module returns
UNITS: str = "firms per km²"


#: the automatic bandwidth rules of :func:`bandwidth`
BANDWIDTH_RULES: tuple[str, ...] = ("silverman", "scott")


#: the kernels of :func:`kernel_density`
KERNELS: tuple[str, ...] = ("gaussian", "quartic")


#: the statistics :func:`zonal_stats` can compute
ZONAL_STATS: tuple[str, ...] = ("mean", "max", "min", "std", "median", "sum", "count", "area_km2")


#: the grid of an automatic cell size has at most this many cells
MAX_AUTO_CELLS: int = 4_000_000


#: a grid of a cell size given by the user may have at most this many cells
MAX_CELLS: int = 40_000_000


#: the extent of the points is padded by this many bandwidths (Gaussian kernel)
PAD_BANDWIDTHS: float = 3.0


#: the sampled Gaussian kernel is truncated at this many standard deviations
_GAUSS_TRUNCATE: float = 4.0


#: grids larger than this use overlap-add FFT convolution
_OA_CELLS: int = 1_000_000


_SQRT_INV_LN2 = math.sqrt(1.0 / math.log(2.0))


_REDUCERS = {"mean": np.mean, "max": np.max, "min": np.min, "std": np.std, "median": np.median}


_M2_PER_KM2 = 1.0e6


# ----------------------------------------------------------------------------- result
@dataclasses.dataclass(frozen=True, eq=False)
class DensityGrid:
    """A kernel density surface on a north-up grid in a projected CRS.

    Attributes
    ----------
    array : numpy.ndarray
        Density in firms per km², shape ``(rows, cols)``, float64, read-only; row 0 is the
        northern edge; NaN marks cells without data (outside an extent polygon).
    transform : affine.Affine
        Maps ``(col, row)`` to the ``(x, y)`` of the cell's upper-left corner, in metres.
    crs : pyproj.CRS
        The projected CRS of the grid.
    bandwidth_m : float
        The kernel bandwidth in metres: the standard deviation σ of the Gaussian kernel or
        the radius of the quartic kernel.
    cell_size_m : float
        The side of a (square) cell in metres.
    n_points : int
        The number of points given (including any outside the extent).
    kernel : str
        ``"gaussian"`` or ``"quartic"``.
    bandwidth_rule : str, default "user"
        How the bandwidth was chosen: ``"silverman"``, ``"scott"`` or ``"user"``.
    total_weight : float, default nan
        The sum of the point weights (``n_points`` without weights).
    units : str, default "firms per km²"
    """

    array: np.ndarray
    transform: affine.Affine
    crs: pyproj.CRS
    bandwidth_m: float
    cell_size_m: float
    n_points: int
    kernel: str
    bandwidth_rule: str = "user"
    total_weight: float = math.nan
    units: str = UNITS

    def __post_init__(self) -> None:
        array = np.array(self.array, dtype=np.float64)  # an owned copy, then frozen
        array.flags.writeable = False
        object.__setattr__(self, "array", array)
        object.__setattr__(self, "crs", pyproj.CRS.from_user_input(self.crs))
        if math.isnan(self.total_weight):
            object.__setattr__(self, "total_weight", float(self.n_points))

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)``."""
        return self.array.shape  # type: ignore[return-value]

    @property
    def cell_area_km2(self) -> float:
        """The area of one cell in km²."""
        return self.cell_size_m**2 / _M2_PER_KM2

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)`` of the grid in its CRS."""
        rows, cols = self.shape
        left, top = self.transform.c, self.transform.f
        return (left, top - rows * self.cell_size_m, left + cols * self.cell_size_m, top)

    def total(self) -> float:
        """The integral of the density over the grid: expected number of firms in it.

        .. math:: \\sum_{\\text{cells}} \\hat f_c \\, a, \\qquad a = \\text{cell area in km}^2
        """
        return float(np.nansum(self.array) * self.cell_area_km2)

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """The x (cols,) and y (rows,) coordinates of the cell centres, in metres."""
        rows, cols = self.shape
        x = self.transform.c + (np.arange(cols) + 0.5) * self.cell_size_m
        y = self.transform.f - (np.arange(rows) + 0.5) * self.cell_size_m
        return x, y

    def tags(self) -> dict[str, str]:
        """The metadata written to the GeoTIFF (strings)."""
        return {
            "units": self.units,
            "kernel": self.kernel,
            "bandwidth_m": repr(float(self.bandwidth_m)),
            "bandwidth_rule": self.bandwidth_rule,
            "cell_size_m": repr(float(self.cell_size_m)),
            "n_points": str(int(self.n_points)),
            "total_weight": repr(float(self.total_weight)),
        }



# ----------------------------------------------------------------------------- inputs
def _as_crs(crs: Any, what: str) -> pyproj.CRS:
    try:
        return pyproj.CRS.from_user_input(crs)
    except (pyproj.exceptions.CRSError, TypeError, ValueError) as err:
        msg = f"{what} must be a CRS (an EPSG code such as 32650, or a WKT/PROJ string); {crs!r} was given ({err})."
        raise CRSError(msg) from None


def _check_metric(crs: pyproj.CRS, what: str) -> None:
    if crs.is_geographic or not crs.is_projected:
        msg = (
            f"{what} must be in a projected CRS in metres; it is in {crs.to_string()} ({crs.name}), "
            "which is not projected. Reproject it first with geo.to_metric(firms) (the local UTM zone) "
            "or gdf.to_crs(<projected EPSG>)."
        )
        raise CRSError(msg)
    units = {axis.unit_name for axis in crs.axis_info}
    if not units <= {"metre", "meter"}:
        msg = (
            f"{what} must be in a CRS whose unit is the metre; {crs.to_string()} ({crs.name}) uses "
            f"{', '.join(sorted(units))}. Reproject it with geo.to_metric(...) first."
        )
        raise CRSError(msg)


def _points_xy(points: Any, crs: Any, weights: Any) -> tuple[np.ndarray, np.ndarray | None, pyproj.CRS]:
    """Validate ``points`` and return a (2, n) float64 array of x and y rows, weights or None, CRS.

    The x and y rows are contiguous (``xy[0]``, ``xy[1]``): every step of the density reads
    them column by column, which is several times faster than strided columns of an (n, 2) array.
    """
    import geopandas as gpd
    import shapely

    from geo.points import PointFrame

    if isinstance(points, (gpd.GeoDataFrame, gpd.GeoSeries, PointFrame)):
        frame = isinstance(points, PointFrame)
        geoms = None if frame else points.geometry
        if (points.crs if frame else geoms.crs) is None:
            msg = "`points` has no CRS; set it (gdf.set_crs(...)) and reproject with geo.to_metric(...)."
            raise CRSError(msg)
        pcrs = pyproj.CRS.from_user_input(points.crs if frame else geoms.crs)
        if crs is not None and _as_crs(crs, "`crs`") != pcrs:
            msg = (
                f"`crs` ({_as_crs(crs, '`crs`').to_string()}) differs from the CRS of `points` "
                f"({pcrs.to_string()}); `crs` is only for coordinate arrays: omit it."
            )
            raise CRSError(msg)
        _check_metric(pcrs, "`points`")
        values = np.asarray(geoms.values) if not frame else np.zeros(0, dtype=object)
        kinds = shapely.get_type_id(values)  # -1: missing
        if len(values) and (kinds != 0).any():
            _check_missing_or_empty(values)
            other = sorted(set(shapely.get_type_id(values[kinds != 0]).tolist()))
            names = {
                1: "LineString",
                2: "LinearRing",
                3: "Polygon",
                4: "MultiPoint",
                5: "MultiLineString",
                6: "MultiPolygon",
                7: "GeometryCollection",
            }
            msg = (
                "`points` must be Point geometries; "
                f"{', '.join(names.get(k, str(k)) for k in other)} geometries were given. "
                "Use their centroids (gdf.centroid) or explode multi-points first."
            )
            raise InputError(msg)
        # every geometry is a Point: get_x/get_y give the coordinates of get_coordinates
        # (GEOS refuses an empty point, which is looked for only then)
        if frame:  # coordinate columns (a NaN is refused below with the others)
            xy = np.empty((2, len(points)))
            xy[0], xy[1] = points.coords()
        else:
            xy = np.empty((2, len(values)))
            try:
                xy[0] = shapely.get_x(values)
                xy[1] = shapely.get_y(values)
            except shapely.errors.GEOSException:
                _check_missing_or_empty(values)
                raise
        if isinstance(weights, str):
            if not isinstance(points, (gpd.GeoDataFrame, PointFrame)) or weights not in points.columns:
                cols = list(points.columns) if isinstance(points, (gpd.GeoDataFrame, PointFrame)) else []
                msg = f"`weights` column {weights!r} is not in `points`; the columns are {cols}."
                raise ColumnError(msg)
            weights = points[weights].to_numpy()
    else:
        try:
            arr = np.array(points, dtype=np.float64)
        except (TypeError, ValueError):
            msg = f"`points` must be a GeoDataFrame/GeoSeries of points or an (n, 2) array; {type(points).__name__} was given."
            raise InputError(msg) from None
        if arr.ndim != 2 or arr.shape[1] != 2:
            msg = f"`points` as an array must have shape (n, 2) (x, y in metres); shape {arr.shape} was given."
            raise InputError(msg)
        if crs is None:
            msg = "`crs` is required with a coordinate array: pass the projected CRS of the points, e.g. crs=32650."
            raise CRSError(msg)
        pcrs = _as_crs(crs, "`crs`")
        _check_metric(pcrs, "`points`")
        if isinstance(weights, str):
            msg = f"`weights` may name a column only when `points` is a GeoDataFrame; {weights!r} was given with an array."
            raise ColumnError(msg)
        xy = np.ascontiguousarray(arr.T)
    if not np.isfinite(xy).all():
        finite = np.isfinite(xy).all(axis=0)
        msg = (
            f"`points` must have finite coordinates; {int((~finite).sum())} of {xy.shape[1]} are NaN or "
            "infinite. Drop them first."
        )
        raise InputError(msg)
    w = None
    if weights is not None:
        try:
            w = np.array(weights, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            msg = "`weights` must be numbers (one per point) or the name of a numeric column."
            raise InputError(msg) from None
        if w.shape[0] != xy.shape[1]:
            msg = f"`weights` must have one value per point ({xy.shape[1]}); {w.shape[0]} were given."
            raise InputError(msg)
        if not (np.isfinite(w).all() and (w >= 0).all()):
            msg = "`weights` must be finite and non-negative (e.g. employees per firm); NaN, infinite or negative values were given."
            raise InputError(msg)
    return xy, w, pcrs


def _check_missing_or_empty(values: np.ndarray) -> None:
    """Raise if some of ``values`` are missing or empty."""
    import shapely

    bad = shapely.is_missing(values) | shapely.is_empty(values)
    if bad.any():
        msg = (
            f"`points` must all be non-empty Point geometries; {int(bad.sum())} of {len(values)} "
            "are missing or empty. Drop them first (points[~points.is_empty & points.geometry.notna()])."
        )
        raise InputError(msg)


def _weighted_median(values: np.ndarray, weights: np.ndarray | None) -> float:
    """The median; with weights, the value where the cumulative weight reaches half.

    With equal weights it equals :func:`numpy.median` (the two middle values are averaged
    when the cumulative weight hits exactly one half).
    """
    if weights is None:
        return float(np.median(values))
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    keep = w > 0
    v, w = v[keep], w[keep]
    cum = np.cumsum(w)
    half = cum[-1] / 2.0
    k = int(np.searchsorted(cum, half, side="left"))
    if math.isclose(cum[k], half, rel_tol=1e-12) and k + 1 < len(v):
        return float((v[k] + v[k + 1]) / 2.0)
    return float(v[k])


def _sequential_sum(v: np.ndarray) -> float:
    """The sum of ``v`` added one value after the other (not pairwise).

    It is what ``a.sum(axis=0)`` of an ``(n, 2)`` C-ordered array gives per column, the way
    the weighted mean centre of :func:`_rule_bandwidth` has always been computed.
    """
    return float(np.cumsum(v)[-1])


def _rule_bandwidth(xy: np.ndarray, w: np.ndarray | None, rule: str) -> float:
    """The bandwidth of ``rule`` for points ``xy`` (x and y rows of a (2, n) array)."""
    n = xy.shape[1]
    n_pos = n if w is None else int((w > 0).sum())
    if n_pos < 2:
        msg = (
            f"The {rule!r} bandwidth rule needs at least 2 points (with positive weight); {n_pos} "
            "was given. Pass a bandwidth in metres instead, e.g. bandwidth=500."
        )
        raise StatisticsError(msg)
    if rule == "silverman":
        # the same operations, in the same order, as the (n, 2) array computation
        # ``centre = (w[:, None] * xy).sum(axis=0) / total``, ``d2 = ((xy - centre) ** 2).sum(axis=1)``
        # (w = 1 without weights: multiplying by 1 changes nothing), on contiguous rows
        x, y = xy
        total = float(n) if w is None else float(w.sum())
        cx = _sequential_sum(x if w is None else w * x) / total
        cy = _sequential_sum(y if w is None else w * y) / total
        d2 = (x - cx) ** 2 + (y - cy) ** 2
        sd = math.sqrt(float((d2 if w is None else w * d2).sum()) / total)
        dm = _weighted_median(np.sqrt(d2), w)
        n_h = float(n) if w is None else total
        h = 0.9 * min(sd, _SQRT_INV_LN2 * dm) * n_h ** -0.2
    elif rule == "scott":
        # np.cov of the transposed (n, 2) array, as it always was (the memory order of
        # the rows decides how numpy sums them)
        cov = np.atleast_2d(np.cov(np.column_stack([xy[0], xy[1]]).T, aweights=w))
        sigma = math.sqrt(max(float(np.trace(cov)) / 2.0, 0.0))
        n_eff = float(n) if w is None else float(w.sum() ** 2 / (w**2).sum())
        h = sigma * n_eff ** (-1.0 / 6.0)
    else:  # pragma: no cover - validated by the caller
        raise AssertionError(rule)
    if not (math.isfinite(h) and h > 0.0):
        msg = (
            f"The {rule!r} bandwidth rule gives {h!r} m for these points: they are all at the same "
            "place (or more than half of them are at their mean centre). Pass a bandwidth in "
            "metres instead, e.g. bandwidth=500."
        )
        raise StatisticsError(msg)
    return float(h)


def bandwidth(
    points: Any,
    *,
    rule: str = "silverman",
    weights: Any = None,
    crs: Any = None,
) -> float:
    """The automatic kernel bandwidth, in metres, of a set of points.

    ``"silverman"`` is the spatial variant of Silverman's rule of thumb that ArcGIS Pro's
    Kernel Density tool uses for its default search radius (Esri, "How Kernel Density
    works"), robust to spatial outliers through the median distance:

    .. math::

        h = 0.9 \\, \\min\\left(SD, \\sqrt{1/\\ln 2}\\; D_m\\right) n^{-1/5}

    where :math:`SD = \\sqrt{\\sum_i w_i \\lVert p_i - \\bar p \\rVert^2 / \\sum_i w_i}` is the
    standard distance, :math:`D_m` the (weighted) median distance to the (weighted) mean
    centre :math:`\\bar p`, and :math:`n` the number of points, or the sum of the weights
    when weights are given (ArcGIS' population field).

    ``"scott"`` is Scott's normal-reference rule in two dimensions (for ``d = 2`` it
    coincides with Silverman's normal-reference rule :math:`(n(d+2)/4)^{-1/(d+4)}`):

    .. math::

        h = \\bar\\sigma \\, n_{\\text{eff}}^{-1/6}, \\qquad
        \\bar\\sigma = \\sqrt{(s_x^2 + s_y^2)/2}

    with :math:`s_x^2, s_y^2` the (weighted) sample variances of the coordinates
    (:func:`numpy.cov` with ``aweights``) and :math:`n_{\\text{eff}} = (\\sum w)^2/\\sum w^2`
    (Kish's effective sample size, ``n`` without weights) — the conventions of
    :class:`scipy.stats.gaussian_kde` with ``bw_method="scott"``, made isotropic.

    The same value serves as the Gaussian kernel's standard deviation and as the quartic
    kernel's radius (:func:`kernel_density`); with ``kernel="quartic"`` the ``"silverman"``
    rule therefore reproduces ArcGIS' default search radius.

    Parameters
    ----------
    points : GeoDataFrame, GeoSeries, geo.points.PointFrame or array of shape (n, 2)
        Points in a projected CRS in metres.
    rule : {"silverman", "scott"}, default "silverman"
    weights : array-like or str, optional
        Non-negative weight per point, or a column name of ``points``.
    crs : CRS-like, optional
        The CRS of an array of coordinates (required then).

    Returns
    -------
    float

    Raises
    ------
    geo.errors.StatisticsError
        With fewer than two points, or when the rule gives 0 (all points at one place).
    geo.errors.CRSError
        If the points are not in a projected CRS in metres.

    Examples
    --------
    >>> import numpy as np
    >>> xy = np.array([[0.0, 0.0], [400.0, 0.0], [0.0, 400.0], [400.0, 400.0], [200.0, 200.0]])
    >>> round(bandwidth(xy, crs=32650), 2)   # 0.9 * sqrt(6.4e4) * 5**-0.2
    165.02
    """
    if rule not in BANDWIDTH_RULES:
        msg = f"`rule` must be one of {BANDWIDTH_RULES}; {rule!r} was given."
        raise InputError(msg)
    xy, w, _ = _points_xy(points, crs, weights)
    return _rule_bandwidth(xy, w, rule)


# ----------------------------------------------------------------------------- grid
@dataclasses.dataclass(frozen=True)
class _GridSpec:
    left: float
    top: float
    cell: float
    rows: int
    cols: int
    mask: np.ndarray | None = None  # True = cell has data

    @property
    def transform(self) -> affine.Affine:
        from affine import Affine

        return Affine(self.cell, 0.0, self.left, 0.0, -self.cell, self.top)


def _kernel_sd(bw: float, kernel: str) -> float:
    """The per-axis standard deviation of the kernel (σ; the quartic's is h/√8)."""
    return bw if kernel == "gaussian" else bw / math.sqrt(8.0)


def _kernel_reach(bw: float, kernel: str) -> float:
    """The distance beyond which the (truncated) kernel is zero."""
    return _GAUSS_TRUNCATE * bw if kernel == "gaussian" else bw


def _extent_geometry(extent: Any, crs: pyproj.CRS) -> Any | None:
    """A shapely (multi)polygon in ``crs`` for a polygon-like extent, else None."""
    import geopandas as gpd
    import shapely

    if isinstance(extent, (gpd.GeoDataFrame, gpd.GeoSeries)):
        geoms = extent.geometry
        if geoms.crs is None:
            msg = "`extent` has no CRS; set it with .set_crs(...) (it is reprojected to the CRS of the points)."
            raise CRSError(msg)
        geoms = geoms.to_crs(crs)
        geom = shapely.union_all(np.asarray(geoms.values))
    elif isinstance(extent, shapely.Geometry):
        geom = extent
    else:
        return None
    if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        kind = "empty" if geom is None or geom.is_empty else geom.geom_type
        msg = f"`extent` as a geometry must be a non-empty Polygon or MultiPolygon; {kind} was given."
        raise InputError(msg)
    return geom


def _auto_cell(width: float, height: float, bw: float, kernel: str) -> float:
    def n_cells(cell: float) -> int:  # + 1: snapping to cell multiples may add a row/column
        return (math.ceil(width / cell) + 1) * (math.ceil(height / cell) + 1)

    cell = _kernel_sd(bw, kernel) / 4.0
    if n_cells(cell) > MAX_AUTO_CELLS:
        cell = math.sqrt(width * height / MAX_AUTO_CELLS)
        while n_cells(cell) > MAX_AUTO_CELLS:
            cell *= 1.001
        logger.info("kernel_density: cell size raised to %.1f m to keep the grid within %d cells", cell, MAX_AUTO_CELLS)
    return cell


def _resolve_bandwidth(xy, w, bandwidth) -> tuple[float, str]:
    """(bandwidth in metres, rule name): a rule name is applied to the points; a number is the user's."""
    if isinstance(bandwidth, str):
        return _rule_bandwidth(xy, w, bandwidth), bandwidth
    return float(bandwidth), "user"


def _grid_spec(xy: np.ndarray, crs: pyproj.CRS, bw: float, kernel: str, cell_size: Any, extent: Any) -> _GridSpec:
    if cell_size is not None:
        try:
            cell_size = float(cell_size)
        except (TypeError, ValueError):
            msg = f"`cell_size` must be a positive number of metres or None; {cell_size!r} was given."
            raise InputError(msg) from None
        if not (math.isfinite(cell_size) and cell_size > 0):
            msg = f"`cell_size` must be a positive number of metres or None; {cell_size!r} was given."
            raise InputError(msg)
    geom = None if extent is None else _extent_geometry(extent, crs)
    snap = True
    if extent is None:
        if xy.shape[1] == 0:
            msg = "kernel_density needs at least one point (or an `extent`) to place the grid; 0 points were given."
            raise InputError(msg)
        pad = PAD_BANDWIDTHS * bw if kernel == "gaussian" else bw
        minx, miny = xy[0].min() - pad, xy[1].min() - pad
        maxx, maxy = xy[0].max() + pad, xy[1].max() + pad
    elif geom is not None:
        minx, miny, maxx, maxy = geom.bounds
    else:
        try:
            minx, miny, maxx, maxy = (float(v) for v in extent)
        except (TypeError, ValueError):
            msg = (
                "`extent` must be None, (minx, miny, maxx, maxy) in the CRS of the points, or a "
                f"polygon; {extent!r} was given."
            )
            raise InputError(msg) from None
        if not (all(map(math.isfinite, (minx, miny, maxx, maxy))) and minx < maxx and miny < maxy):
            msg = f"`extent` must satisfy minx < maxx and miny < maxy with finite values; {extent!r} was given."
            raise InputError(msg)
        snap = False
    width, height = maxx - minx, maxy - miny
    cell = _auto_cell(width, height, bw, kernel) if cell_size is None else cell_size
    if snap:  # align the grid to multiples of the cell size (grids of one run line up)
        minx, miny = math.floor(minx / cell) * cell, math.floor(miny / cell) * cell
        maxx, maxy = math.ceil(maxx / cell) * cell, math.ceil(maxy / cell) * cell
    cols = max(1, math.ceil((maxx - minx) / cell - 1e-9))
    rows = max(1, math.ceil((maxy - miny) / cell - 1e-9))
    if rows * cols > MAX_CELLS:
        msg = (
            f"The grid would have {rows} x {cols} = {rows * cols:,} cells (at most {MAX_CELLS:,}); "
            f"cell_size={cell:g} m is too small for this extent. Use a larger cell_size or cell_size=None."
        )
        raise InputError(msg)
    if cell > _kernel_sd(bw, kernel) / 3.0:
        logger.warning(
            "kernel_density: cell size %.1f m exceeds a third of the kernel's standard deviation "
            "(%.1f m); the gridded surface is a coarse approximation",
            cell,
            _kernel_sd(bw, kernel),
        )
    spec = _GridSpec(minx, maxy, cell, rows, cols)
    if geom is not None:
        from rasterio.features import geometry_mask

        mask = geometry_mask([geom], out_shape=(rows, cols), transform=spec.transform, invert=True)
        spec = dataclasses.replace(spec, mask=mask)
    return spec


def _kernel_array(bw: float, kernel: str, cell: float) -> np.ndarray:
    """The kernel sampled at cell offsets, normalised to sum 1 (unit mass per point)."""
    r = max(1, math.ceil(_kernel_reach(bw, kernel) / cell))
    off = np.arange(-r, r + 1) * cell
    d2 = off[:, None] ** 2 + off[None, :] ** 2
    if kernel == "gaussian":
        # linear binning spreads a point over the cell by an average variance of cell²/6
        # per axis; sampling a Gaussian narrower by that much makes the binned, smoothed
        # surface have variance bw² on average (it divides the error by 2-10 in tests)
        var = bw**2 - min(cell**2 / 6.0, bw**2 / 2.0)
        k = np.exp(-0.5 * d2 / var)
        k[d2 > (_GAUSS_TRUNCATE * bw) ** 2] = 0.0
    else:
        u2 = d2 / bw**2
        k = np.where(u2 < 1.0, (1.0 - u2) ** 2, 0.0)
    total = k.sum()
    if total <= 0:  # quartic radius smaller than half a cell: all mass on the cell itself
        k = np.zeros_like(k)
        k[r, r] = 1.0
        total = 1.0
    return k / total


def _linear_bin(
    xy: np.ndarray, w: np.ndarray | None, left: float, top: float, cell: float, rows: int, cols: int
) -> np.ndarray:
    """Share each point's weight among the four nearest cell centres (bilinear).

    ``xy`` holds the x and y rows of a (2, n) array.  The corners are added one after the
    other (``np.bincount`` each), so the sums are the same to the last bit whether or not
    every point is inside the grid (then no point needs to be masked out).
    """
    fx = (xy[0] - left) / cell - 0.5
    fy = (top - xy[1]) / cell - 0.5
    j0 = np.floor(fx)
    i0 = np.floor(fy)
    tx = fx - j0
    ty = fy - i0
    j0 = j0.astype(np.int64)
    i0 = i0.astype(np.int64)
    n = len(j0)
    inside = n == 0 or (int(i0.min()) >= 0 and int(i0.max()) + 1 < rows
                        and int(j0.min()) >= 0 and int(j0.max()) + 1 < cols)
    out = np.zeros(rows * cols)
    if inside:  # the usual case: the grid is padded by the kernel reach around the points
        key = i0 * cols + j0
        for di, wy in ((0, 1.0 - ty), (1, ty)):
            wyb = wy if w is None else w * wy
            for dj, wx in ((0, 1.0 - tx), (1, tx)):
                out += np.bincount(key + (di * cols + dj), weights=wyb * wx, minlength=rows * cols)
        return out.reshape(rows, cols)
    base = np.ones(n) if w is None else w
    for di, wy in ((0, 1.0 - ty), (1, ty)):
        for dj, wx in ((0, 1.0 - tx), (1, tx)):
            i = i0 + di
            j = j0 + dj
            ok = (i >= 0) & (i < rows) & (j >= 0) & (j < cols)
            out += np.bincount(i[ok] * cols + j[ok], weights=(base * wy * wx)[ok], minlength=rows * cols)
    return out.reshape(rows, cols)


def _density(xy: np.ndarray, w: np.ndarray | None, spec: _GridSpec, bw: float, kernel: str) -> np.ndarray:
    from scipy import signal

    k = _kernel_array(bw, kernel, spec.cell)
    r = (k.shape[0] - 1) // 2
    # bin onto the grid widened by the kernel reach, so points just outside the extent
    # still contribute; a 'valid' convolution then returns exactly the extent's cells
    pad = r * spec.cell
    binned = _linear_bin(xy, w, spec.left - pad, spec.top + pad, spec.cell, spec.rows + 2 * r, spec.cols + 2 * r)
    if binned.size > _OA_CELLS:
        dens = signal.oaconvolve(binned, k, mode="valid")
    else:
        dens = signal.fftconvolve(binned, k, mode="valid")
    # FFT round-off leaves ~1e-16 * max noise where the density is 0: clip it
    dens[dens < 1e-12 * max(float(np.abs(dens).max(initial=0.0)), 1e-300)] = 0.0
    dens /= spec.cell**2 / _M2_PER_KM2
    if spec.mask is not None:
        dens[~spec.mask] = np.nan
    return dens


def _check_options(bandwidth_: Any, kernel: str) -> None:
    if kernel not in KERNELS:
        msg = f"`kernel` must be one of {KERNELS}; {kernel!r} was given."
        raise InputError(msg)
    if isinstance(bandwidth_, str):
        if bandwidth_ not in BANDWIDTH_RULES:
            msg = f"`bandwidth` must be one of {BANDWIDTH_RULES} or a positive number of metres; {bandwidth_!r} was given."
            raise InputError(msg)
        return
    try:
        value = float(bandwidth_)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(bandwidth_, bool) or not (math.isfinite(value) and value > 0):
        msg = f"`bandwidth` must be one of {BANDWIDTH_RULES} or a positive number of metres; {bandwidth_!r} was given."
        raise InputError(msg)


def kernel_density(
    points: Any,
    *,
    bandwidth: str | float = "silverman",
    cell_size: float | None = None,
    extent: Any = None,
    weights: Any = None,
    kernel: str = "gaussian",
    crs: Any = None,
) -> DensityGrid:
    """Kernel density of points, in firms per km², on a grid in their projected CRS.

    .. math::

        \\hat f(s) = 10^6 \\sum_{i=1}^{n} w_i \\, K_h(\\lVert s - p_i \\rVert)
        \\quad [\\text{km}^{-2}],

    .. math::

        K_h^{\\text{gauss}}(d) = \\frac{1}{2\\pi h^2} e^{-d^2 / 2h^2}, \\qquad
        K_h^{\\text{quartic}}(d) = \\frac{3}{\\pi h^2}\\left(1 - \\frac{d^2}{h^2}\\right)^2
        \\mathbf 1[d < h],

    with :math:`w_i = 1` without weights and distances in metres.  Each kernel integrates
    to one, so :math:`\\sum_c \\hat f_c \\, a_c` (density times cell area in km²) is the
    expected number of firms in a region; over the whole grid it is the number of points,
    less the kernel mass that falls outside the grid.  ``h`` is the Gaussian standard
    deviation or the quartic radius (ArcGIS' "search radius"; its quartic kernel is the
    one above).  The Gaussian is truncated at 4h (mass lost < 0.03 %, put back by
    normalising the sampled kernel to unit sum).

    The surface is computed by linear binning and FFT convolution (see the module
    docstring): at the default cell size it is within about 0.1-0.5 % of the maximum of the
    direct sum on clustered points, and about 1 % around an isolated point.

    Parameters
    ----------
    points : GeoDataFrame, GeoSeries, geo.points.PointFrame or array of shape (n, 2)
        Point locations in a projected CRS in metres (use :func:`geo.to_metric` first);
        not modified.
    bandwidth : {"silverman", "scott"} or float, default "silverman"
        A rule of :func:`bandwidth` or a bandwidth in metres.
    cell_size : float, optional
        The cell side in metres.  By default a quarter of the kernel's per-axis standard
        deviation (``h/4`` Gaussian, ``h/(4√8)`` quartic), enlarged if needed so that the
        grid has at most 4,000,000 cells.  A cell over a third of that standard deviation
        is logged as a warning (the grid is then a coarse approximation).
    extent : tuple, shapely Polygon, GeoSeries or GeoDataFrame, optional
        * None: the bounding box of the points padded by 3 h (Gaussian; 99.7 % of an edge
          point's mass stays inside) or by h (quartic: all of it), snapped outwards to
          multiples of the cell size.
        * ``(minx, miny, maxx, maxy)`` in the points' CRS: the grid starts at the
          upper-left corner ``(minx, maxy)``; the last row/column may extend up to one
          cell beyond ``maxx``/``miny``.  Points outside still contribute their kernel
          mass inside.
        * a polygon (shapely geometry in the points' CRS, or GeoSeries/GeoDataFrame with
          a CRS, unioned and reprojected): the grid covers its bounds (snapped) and cells
          whose centre lies outside it are NaN (nodata).
    weights : array-like or str, optional
        Non-negative weight per point (e.g. employees), or the name of a column of
        ``points``.  The density is then in weighted firms per km².
    kernel : {"gaussian", "quartic"}, default "gaussian"
    crs : CRS-like, optional
        The CRS of an array of coordinates (required then; not used with GeoDataFrames).

    Returns
    -------
    DensityGrid

    Raises
    ------
    geo.errors.CRSError
        Points without a CRS, or in a geographic (longitude/latitude) CRS.
    geo.errors.InputError
        No points without an extent, non-point geometries, NaN coordinates, bad options.
    geo.errors.StatisticsError
        A bandwidth rule on fewer than two points or on points all at one place.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> xy = rng.normal(0.0, 1000.0, size=(500, 2))
    >>> grid = kernel_density(xy, crs=32650, bandwidth=200.0)
    >>> grid.cell_size_m, grid.units
    (50.0, 'firms per km²')
    >>> round(grid.total())   # the density integrates to the number of points
    500
    """
    _check_options(bandwidth, kernel)
    xy, w, pcrs = _points_xy(points, crs, weights)
    if xy.shape[1] == 0 and extent is None:
        msg = "kernel_density needs at least one point; 0 points were given."
        raise InputError(msg)
    bw, rule = _resolve_bandwidth(xy, w, bandwidth)
    spec = _grid_spec(xy, pcrs, bw, kernel, cell_size, extent)
    dens = _density(xy, w, spec, bw, kernel)
    total = float(xy.shape[1]) if w is None else float(w.sum())
    logger.debug(
        "kernel_density: %d points, h=%.1f m (%s), %d x %d cells of %.1f m",
        xy.shape[1], bw, rule, spec.rows, spec.cols, spec.cell,
    )
    return DensityGrid(
        array=dens,
        transform=spec.transform,
        crs=pcrs,
        bandwidth_m=bw,
        cell_size_m=spec.cell,
        n_points=xy.shape[1],
        kernel=kernel,
        bandwidth_rule=rule,
        total_weight=total,
    )


def kernel_density_by(
    points: gpd.GeoDataFrame,
    by: str,
    *,
    groups: Iterable[Any] | None = None,
    bandwidth: str | float = "silverman",
    cell_size: float | None = None,
    extent: Any = None,
    weights: Any = None,
    kernel: str = "gaussian",
) -> dict[Any, DensityGrid]:
    """Kernel density per group (e.g. per sector) on one common grid and bandwidth.

    The bandwidth (a rule is applied to *all* points), the grid and its mask are those of
    ``kernel_density(points, ...)`` with the same options, so the group surfaces line up
    cell for cell, are comparable, and sum to the all-firms surface.

    Parameters
    ----------
    points : geopandas.GeoDataFrame or geo.points.PointFrame
        Points in a projected CRS in metres, with the column ``by``.
    by : str
        The grouping column (e.g. ``"sector"``).
    groups : iterable, optional
        The groups to compute, in order (default: every value of ``by``, sorted).  A
        group without points gives an all-zero grid with ``n_points == 0``.
    bandwidth, cell_size, extent, weights, kernel
        As in :func:`kernel_density`.

    Returns
    -------
    dict
        Group value -> :class:`DensityGrid`.

    Examples
    --------
    >>> import geopandas as gpd, numpy as np, shapely
    >>> rng = np.random.default_rng(1)
    >>> xy = rng.normal(0.0, 800.0, size=(300, 2))
    >>> firms = gpd.GeoDataFrame({"sector": rng.choice(["lasers", "fibre"], 300)},
    ...                          geometry=shapely.points(xy), crs=32650)
    >>> grids = kernel_density_by(firms, "sector", bandwidth=150.0)
    >>> sorted(grids), sum(g.n_points for g in grids.values())
    (['fibre', 'lasers'], 300)
    """
    import geopandas as gpd

    from geo.points import PointFrame

    if not isinstance(points, (gpd.GeoDataFrame, PointFrame)):
        msg = f"`points` must be a GeoDataFrame with the column {by!r}; {type(points).__name__} was given."
        raise InputError(msg)
    if by not in points.columns:
        msg = f"`by` column {by!r} is not in `points`; the columns are {list(points.columns)}."
        raise ColumnError(msg)
    _check_options(bandwidth, kernel)
    xy, w, pcrs = _points_xy(points, None, weights)
    if xy.shape[1] == 0:
        msg = "kernel_density_by needs at least one point; 0 points were given."
        raise InputError(msg)
    bw, rule = _resolve_bandwidth(xy, w, bandwidth)
    spec = _grid_spec(xy, pcrs, bw, kernel, cell_size, extent)
    if groups is None:
        labels = points[by].to_numpy()
        groups = sorted(pd.unique(labels[pd.notna(labels)]).tolist(), key=str)
    selector = _group_selector(points[by])
    out: dict[Any, DensityGrid] = {}
    for g in groups:
        sel = selector(g)
        gw = None if w is None else w[sel]
        dens = _density(xy[:, sel], gw, spec, bw, kernel)
        out[g] = DensityGrid(
            array=dens,
            transform=spec.transform,
            crs=pcrs,
            bandwidth_m=bw,
            cell_size_m=spec.cell,
            n_points=int(sel.sum()),
            kernel=kernel,
            bandwidth_rule=rule,
            total_weight=float(sel.sum()) if gw is None else float(gw.sum()),
        )
    return out


def _group_selector(labels: pd.Series):
    """``g -> labels.to_numpy() == g`` (a boolean array).

    Strings are compared on their distinct values (``pd.factorize``) instead of as a million
    Python objects; a missing label equals nothing, as ``NaN == g`` is False.
    """
    dt = labels.dtype
    text = isinstance(dt, pd.StringDtype) or (
        dt == object and pd.api.types.infer_dtype(labels, skipna=True) in ("string", "empty")
    )
    if not text:
        values = labels.to_numpy()

        def equal(g: Any) -> np.ndarray:
            return values == g

        return equal
    codes, uniques = pd.factorize(labels)
    distinct = [str(u) for u in uniques]

    def select(g: Any) -> np.ndarray:
        hit = np.array([isinstance(g, str) and u == g for u in distinct] + [False], dtype=bool)
        return hit[codes]  # code -1 (missing) picks the last entry

    return select


def zonal_stats(
    grid: DensityGrid,
    zones: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    id_column: str | None = "name",
    stats: Sequence[str] = ("mean", "max", "sum", "count"),
    all_touched: bool = False,
) -> pd.DataFrame:
    """Statistics of the density inside each zone (e.g. each park).

    The zones are reprojected to the grid's CRS; a cell belongs to a zone when its centre
    is inside it (``all_touched=True``: when the zone touches it).  NaN (nodata) cells are
    ignored.  Statistics:

    * ``mean``, ``max``, ``min``, ``std``, ``median``: of the density, firms per km²;
    * ``sum``: the expected number of firms in the zone,
      :math:`\\sum_{c \\in z} \\hat f_c \\, a` with :math:`a` the cell area in km²;
    * ``count``: the number of cells in the zone; ``area_km2``: ``count × a``.

    A zone that covers no cell centre (outside the grid, or smaller than a cell) has
    ``count`` 0, ``sum`` 0 and NaN for the others.

    Parameters
    ----------
    grid : DensityGrid
    zones : geopandas.GeoDataFrame or GeoSeries
        (Multi)polygons with a CRS (any; reprojected); not modified.
    id_column : str or None, default "name"
        A column of ``zones`` copied to the result (None: none; a GeoSeries has none).
    stats : sequence of str, default ("mean", "max", "sum", "count")
        Any of ``ZONAL_STATS``.
    all_touched : bool, default False

    Returns
    -------
    pandas.DataFrame
        One row per zone, aligned to ``zones.index``: ``id_column`` then ``stats``.

    Examples
    --------
    >>> import geopandas as gpd, numpy as np, shapely
    >>> xy = np.random.default_rng(2).uniform(0.0, 1000.0, size=(400, 2))
    >>> grid = kernel_density(xy, crs=32650, bandwidth=50.0)
    >>> parks = gpd.GeoDataFrame({"name": ["inner"]}, geometry=[shapely.box(200, 200, 800, 800)], crs=32650)
    >>> table = zonal_stats(grid, parks)
    >>> list(table.columns), round(table.loc[0, "sum"] / 10) * 10   # ~ 0.36 * 400 firms
    (['name', 'mean', 'max', 'sum', 'count'], 140)
    """
    import geopandas as gpd
    import shapely
    from affine import Affine
    from rasterio.features import geometry_mask

    if not isinstance(grid, DensityGrid):
        msg = f"`grid` must be a DensityGrid (from kernel_density); {type(grid).__name__} was given."
        raise InputError(msg)
    if isinstance(stats, str):
        stats = (stats,)
    stats = tuple(stats)
    unknown = [s for s in stats if s not in ZONAL_STATS]
    if unknown or not stats:
        msg = f"`stats` must be a non-empty selection of {ZONAL_STATS}; {list(stats)!r} was given."
        raise InputError(msg)
    if not isinstance(zones, (gpd.GeoDataFrame, gpd.GeoSeries)):
        msg = f"`zones` must be a GeoDataFrame or GeoSeries of polygons; {type(zones).__name__} was given."
        raise InputError(msg)
    if zones.crs is None:
        msg = "`zones` has no CRS; set it with .set_crs(...) (e.g. .set_crs(4326) for longitude/latitude)."
        raise CRSError(msg)
    ids = None
    if id_column is not None and isinstance(zones, gpd.GeoDataFrame):
        if id_column not in zones.columns:
            msg = f"`id_column` {id_column!r} is not in `zones`; the columns are {list(zones.columns)} (or pass id_column=None)."
            raise ColumnError(msg)
        ids = zones[id_column].to_numpy()
    geoms = np.asarray(zones.geometry.to_crs(grid.crs).values)
    rows, cols = grid.shape
    left, top, cell = grid.transform.c, grid.transform.f, grid.cell_size_m
    a = grid.cell_area_km2
    records = []
    for geom in geoms:
        values = np.empty(0)
        if geom is not None and not shapely.is_empty(geom):
            if geom.geom_type not in ("Polygon", "MultiPolygon"):
                msg = f"`zones` must be (multi)polygons; a {geom.geom_type} was given."
                raise InputError(msg)
            minx, miny, maxx, maxy = geom.bounds
            c0 = max(0, math.floor((minx - left) / cell))
            c1 = min(cols, math.ceil((maxx - left) / cell))
            r0 = max(0, math.floor((top - maxy) / cell))
            r1 = min(rows, math.ceil((top - miny) / cell))
            if c1 > c0 and r1 > r0:
                h, wd = r1 - r0, c1 - c0
                win_transform = Affine(cell, 0.0, left + c0 * cell, 0.0, -cell, top - r0 * cell)
                inside = geometry_mask(
                    [geom], out_shape=(h, wd), transform=win_transform, invert=True, all_touched=all_touched
                )
                block = grid.array[r0 : r0 + h, c0 : c0 + wd]
                values = block[inside & ~np.isnan(block)]
        n = values.size
        row: dict[str, float] = {}
        for s in stats:
            if s == "count":
                row[s] = n
            elif s == "area_km2":
                row[s] = n * a
            elif s == "sum":
                row[s] = float(values.sum() * a)
            elif n == 0:
                row[s] = math.nan
            else:
                row[s] = float(_REDUCERS[s](values))
        records.append(row)
    table = pd.DataFrame.from_records(records, index=zones.index, columns=list(stats))
    if "count" in table:
        table["count"] = table["count"].astype(np.int64)
    if ids is not None:
        table.insert(0, id_column, ids)
    return table
