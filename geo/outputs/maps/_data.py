"""What the maps read from the results: a valley's firms as arrays, computed once per valley.

:class:`_ValleyData` holds one valley's coordinates, sector codes and target-sector mask;
:class:`_RunData` what every valley's map reads from the whole run.  The sector helpers
work on the distinct values of a column, without a Python object per firm.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import numpy as np
import pandas as pd

from geo.outputs.maps._geometry import _robust_bounds, _to_wgs84

__all__: list[str] = []

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- valleys
def _valley(results, valley: str):
    try:
        return results.valleys[valley]
    except KeyError:
        from geo.errors import InputError

        msg = f"No valley {valley!r} in these results; valleys are {list(results.valleys)}."
        raise InputError(msg) from None


class _ValleyData:
    """What the maps read from one valley's firms, each computed once when first needed.

    :func:`write_maps` makes one per valley and hands it to both the overview and the
    valley map; :func:`valley_map` and :func:`overview_map` called alone make their own.
    """

    def __init__(self, vr, results, run: _RunData | None = None):
        self.vr, self.results = vr, results
        self.run = _RunData(results) if run is None else run

    @functools.cached_property
    def _coords(self) -> tuple[np.ndarray, np.ndarray]:
        return _firm_coords(self.vr.firms)

    @functools.cached_property
    def lonlat(self) -> np.ndarray:
        """Every lon/lat of the firms' geometries."""
        return self._coords[0]

    @functools.cached_property
    def located(self) -> tuple[np.ndarray, np.ndarray]:
        """``_located`` of the firms: the lon/lat of each firm with a point, and its position."""
        return _located(*self._coords, len(self.vr.firms))

    @functools.cached_property
    def bounds(self) -> list[float] | None:
        """``_robust_bounds`` of :attr:`lonlat`."""
        return _robust_bounds(self.lonlat)

    @functools.cached_property
    def located_bounds(self) -> list[float] | None:
        """``_robust_bounds`` of the located firms (:attr:`bounds` when they are the same array)."""
        ll = self.located[0]
        return self.bounds if ll is self.lonlat else _robust_bounds(ll)

    @functools.cached_property
    def sectors(self) -> tuple[np.ndarray, list] | None:
        """``_text_factorize`` of the firms' sector column (None: no such column, or not text)."""
        sc = self.results.config.firms.sector_column
        return _text_factorize(self.vr.firms[sc]) if sc in self.vr.firms else None

    @functools.cached_property
    def metric_firms(self):
        return _metric_firms(self.vr)

    @functools.cached_property
    def target_mask(self) -> np.ndarray | None:
        """Which metric firms are of the target sector (None: no target or no sector column)."""
        fm, sc = self.metric_firms, self.results.config.firms.sector_column
        target = self.results.config.analysis.target_sector
        if fm is None or target is None or sc not in fm:
            return None
        if sc in self.vr.firms and _same_values(fm[sc], self.vr.firms[sc]):  # to_metric shares the columns
            return _str_equals(fm[sc], target, factorized=self.sectors)
        return _str_equals(fm[sc], target)

    @functools.cached_property
    def target_xy(self) -> tuple[np.ndarray, bool]:
        """(``get_coordinates`` of the target-sector metric firms, whether each is one point).

        When every metric firm is a point, the coordinates of all of them are read (in
        memory order, several times faster than of a scattered subset) and then selected.
        """
        import shapely

        from geo.crs import plain_point_coords
        from geo.points import PointFrame

        mask = self.target_mask
        if isinstance(self.metric_firms, PointFrame):
            xy = np.column_stack(self.metric_firms.coords())[mask]
            return xy, bool(np.isfinite(xy).all())
        geoms = np.asarray(self.metric_firms.geometry.values)
        xy = plain_point_coords(geoms)  # all plain points: reading all in order is faster
        if xy is not None:
            return xy[mask], True
        sub = geoms[mask]
        xy = shapely.get_coordinates(sub)
        return xy, bool(len(xy) == len(sub) and (shapely.get_type_id(sub) == 0).all())


class _RunData:
    """What the maps of every valley read from the whole run, computed once."""

    def __init__(self, results):
        self.results = results
        self._sectors: set[str] | None = None

    def sectors(self, data: _ValleyData) -> set[str]:
        """The sector labels (``_sector_codes``) present among all the run's firms.

        ``data`` is the valley asking: when its firms' sector column is the run's (one
        valley), its factorization is used.
        """
        if self._sectors is None:
            sc = self.results.config.firms.sector_column
            if sc not in self.results.firms:
                self._sectors = set()
                return self._sectors
            values = self.results.firms[sc]
            same = sc in data.vr.firms and _same_values(values, data.vr.firms[sc])
            codes, names = _sector_codes(values, factorized=data.sectors if same else None)
            self._sectors = set(np.asarray(names, dtype=object)[_used_codes(codes)].tolist())
        return self._sectors


def _metric_firms(vr):
    fm = vr.analysis.metric_firms
    if fm is not None:
        return fm
    if len(vr.firms) == 0:
        return None
    from geo.crs import to_metric
    from geo.errors import GeoError

    try:
        return to_metric(vr.firms)
    except GeoError as exc:  # pragma: no cover - firms always have a CRS after read_firms
        log.info("no metric firms for the maps: %s", exc)
        return None


# ----------------------------------------------------------------------------- columns
def _same_values(a: pd.Series, b: pd.Series) -> bool:
    """Whether two columns are views of the same memory, so that their values are equal.

    Cheap and conservative (False when unsure): the same array, NumPy arrays at the same
    address with the same layout, or Arrow arrays whose chunks have the same type, offset,
    length and buffers, as the columns of a copy-on-write copy or of a slice of all rows are.
    """
    if len(a) != len(b) or a.dtype != b.dtype:
        return False
    ea, eb = a.array, b.array
    if ea is eb:
        return True
    if isinstance(ea, pd.arrays.NumpyExtensionArray) and isinstance(eb, pd.arrays.NumpyExtensionArray):
        na, nb = np.asarray(ea), np.asarray(eb)  # the arrays themselves, not copies
        return (na.dtype == nb.dtype and na.shape == nb.shape and na.strides == nb.strides
                and na.__array_interface__["data"][0] == nb.__array_interface__["data"][0])
    if not (hasattr(ea, "__arrow_array__") and hasattr(eb, "__arrow_array__")):
        return False
    try:
        ca, cb = ea.__arrow_array__(), eb.__arrow_array__()
    except Exception:  # an extension array that cannot give Arrow data: unsure
        return False
    if ca is cb:
        return True
    chunks_a, chunks_b = getattr(ca, "chunks", [ca]), getattr(cb, "chunks", [cb])
    if len(chunks_a) != len(chunks_b):
        return False
    for x, y in zip(chunks_a, chunks_b):
        if x.type != y.type or x.offset != y.offset or len(x) != len(y):
            return False
        bx, by = x.buffers(), y.buffers()
        if len(bx) != len(by):
            return False
        for p, q in zip(bx, by):
            if (p is None) != (q is None) or (p is not None and (p.address != q.address or p.size != q.size)):
                return False
    return True


def _used_codes(codes: np.ndarray) -> np.ndarray:
    """``np.unique(codes)`` of non-negative integer codes, by counting."""
    return np.flatnonzero(np.bincount(codes)) if len(codes) else np.empty(0, dtype=np.int64)


def _distinct_as_text(values: pd.Series) -> bool:
    """Whether values that ``pd.factorize`` tells apart are exactly those whose ``str`` differ.

    True for strings, integers, booleans and categoricals of those; False for floats
    (``-0.0 == 0.0``) and mixed object columns (``3 == 3.0``), which are converted first.
    """
    dt = values.dtype
    if isinstance(dt, pd.CategoricalDtype):
        return _distinct_as_text(pd.Series(dt.categories))
    if dt == object:
        return pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")
    return bool(pd.api.types.is_string_dtype(dt) or pd.api.types.is_integer_dtype(dt) or pd.api.types.is_bool_dtype(dt))


def _text_factorize(values) -> tuple[np.ndarray, list] | None:
    """``pd.factorize(values)`` (codes, distinct values) when :func:`_distinct_as_text`, else None."""
    values = pd.Series(values)
    if not _distinct_as_text(values):
        return None
    codes, uniques = pd.factorize(values)
    return codes, list(uniques)


def _sector_codes(values, *, factorized: tuple[np.ndarray, list] | None = None) -> tuple[np.ndarray, list[str]]:
    """Sector of each firm as a code into a list of names, without a Python object per firm.

    The same labels as ``values.astype(object).where(values.notna(), "unknown").astype(str)``
    (each distinct value as ``str``, missing values as ``"unknown"``), computed on the
    distinct values only: ``names[codes[i]]`` is firm ``i``'s label.  ``factorized`` is
    ``_text_factorize(values)`` when it was already computed.
    """
    if factorized is None:
        factorized = _text_factorize(values)
    if factorized is None:  # e.g. 3 and 3.0 in one object column: labels "3" and "3.0"
        values = pd.Series(values)
        values = values.astype("object").where(values.notna(), "unknown").astype(str)
        factorized = pd.factorize(values)
    codes, uniques = factorized
    labels = [str(u) for u in uniques] + ["unknown"]  # code -1 (missing) picks the last entry
    names = list(dict.fromkeys(labels))
    where = {n: i for i, n in enumerate(names)}
    remap = np.array([where[label] for label in labels], dtype=np.int64)
    return remap[codes], names


def _str_equals(values, value: Any, *, factorized: tuple[np.ndarray, list] | None = None) -> np.ndarray:
    """``(values.astype(str) == str(value)).to_numpy()`` on the distinct values only (missing: False).

    ``factorized`` is ``_text_factorize(values)`` when it was already computed.
    """
    if factorized is None:
        factorized = _text_factorize(values)
    if factorized is None:
        return (pd.Series(values).astype(str) == str(value)).to_numpy(dtype=bool)
    codes, uniques = factorized
    hit = np.array([str(u) == str(value) for u in uniques] + [False], dtype=bool)
    return hit[codes]


def _park_rows(parks, overlay):
    """(index, park row, overlay row or None) for each park."""
    for idx, park in parks.iterrows():
        row = None
        if overlay is not None and idx in overlay.index:
            row = overlay.loc[idx]
            if isinstance(row, pd.DataFrame):  # duplicated index: take the first
                row = row.iloc[0]
        yield idx, park, row


# ----------------------------------------------------------------------------- firm coordinates
def _firm_coords(firms) -> tuple[np.ndarray, np.ndarray]:
    """Every lon/lat of the firms' geometries and the position of its firm (``get_coordinates``)."""
    import shapely

    from geo.points import PointFrame

    if len(firms) == 0:
        return np.empty((0, 2)), np.empty(0, dtype=np.int64)
    if isinstance(firms, PointFrame):  # a NaN coordinate is a firm without a point
        xy = np.column_stack(_to_wgs84(firms).coords())
        ok = np.isfinite(xy).all(axis=1)
        return (xy, np.arange(len(xy))) if ok.all() else (xy[ok], np.flatnonzero(ok))
    return shapely.get_coordinates(_to_wgs84(firms).geometry.values, return_index=True)


def _located(coords: np.ndarray, idx: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(lon/lat of each located firm, their positions) from :func:`_firm_coords` of ``n`` firms.

    Firms without a point are left out; ``coords`` itself is returned when each firm has one.
    """
    if n == 0:
        return np.empty((0, 2)), np.empty(0, dtype=np.int64)
    if len(idx) == n and (len(idx) == 0 or (idx[0] == 0 and np.all(np.diff(idx) == 1))):
        return coords, np.arange(n)
    first = np.r_[True, np.diff(idx) != 0] if len(idx) else np.zeros(0, dtype=bool)
    return coords[first], idx[first]
