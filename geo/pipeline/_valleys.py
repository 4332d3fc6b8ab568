"""Which valley each firm belongs to, and the parks of a valley (shared by both engines)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.config import Config
from geo.errors import InputError

__all__ = []


def _valley_rows(firms, name: str):
    """The firms of one valley, sharing the columns (copy-on-write) when they are one block
    of rows (a registry sorted by city) instead of copying them (a million firms: ~0.2 GB)."""
    idx = np.flatnonzero((firms["valley"] == name).to_numpy())
    if len(idx) and idx[-1] - idx[0] + 1 == len(idx):
        return firms.iloc[idx[0]:idx[-1] + 1]
    return firms.iloc[idx]


def _column_labels(frame, col: str) -> pd.Series:
    """The valley column as stripped text (NA where empty), aligned to ``frame``.

    The distinct values are stripped once (a registry repeats a few city names a million
    times), then taken back to the rows.
    """
    codes, uniques = pd.factorize(frame[col], use_na_sentinel=True)
    text = pd.Index(uniques).astype(str).str.strip().to_numpy(dtype=object)
    text[text == ""] = pd.NA
    table = np.append(text, pd.NA).astype(object)  # code -1 (missing) takes the last slot
    return pd.Series(table[codes], index=frame.index, dtype="object")


def _valley_labels(firms, config: Config, *, fill: str | None = None, column: pd.Series | None = None):
    """(valley label per firm or NA, ordered valley names, unknown labels) of a firm frame.

    Works on any frame with ``lon``/``lat`` (and the valley column): a whole table, or one
    partition of the dask engine (whose names and unknown labels are then merged in order).
    The valley column decides first, then the valleys' bboxes; ``fill`` names the valley of
    every firm still without one (a one-valley study whose table has no valley column).
    ``column``: :func:`_column_labels` of the frame when already made.
    """
    col = config.firms.valley_column
    configured = [v.name for v in config.valleys]
    labels = pd.Series(pd.NA, index=firms.index, dtype="object")
    if col in firms.columns:
        labels = _column_labels(firms, col) if column is None else column
    boxes = [v for v in config.valleys if v.bbox is not None]
    for v in boxes:
        lo_x, lo_y, hi_x, hi_y = v.bbox
        inside = firms["lon"].between(lo_x, hi_x) & firms["lat"].between(lo_y, hi_y)
        labels = labels.where(~(labels.isna() & inside), v.name)
    if fill is not None:
        labels = labels.where(labels.notna(), fill)
    if not configured:
        if col not in firms.columns and not boxes:
            labels[:] = "Study area"
            return labels, ["Study area"], []
        names = [str(x) for x in pd.unique(labels.dropna())]
        folded: dict[str, str] = {}
        for n in names:  # valleys from the data: 'Wuhan' and 'wuhan' would share their output files
            if n.casefold() in folded:
                msg = (f"The valley column {col!r} holds {folded[n.casefold()]!r} and {n!r}: one place written two ways? "
                       "Write it the same way in every row, or list the valleys to analyse with [[valleys]].")
                raise InputError(msg)
            folded[n.casefold()] = n
        return labels, names, []
    present = set(pd.unique(labels.to_numpy(dtype=object)[labels.notna().to_numpy()]))
    unknown = sorted(present - set(configured))
    return labels.where(labels.isin(configured), pd.NA), configured, unknown


def fill_valley(config: Config, columns) -> str | None:
    """The valley of every firm of a table without a valley column, when the study has one
    valley told by that column (``[[valleys]] name`` without a bbox), else None."""
    by_column = [v.name for v in config.valleys if v.bbox is None and v.firms is None]
    if config.firms.valley_column in columns or len(by_column) != 1:
        return None
    return by_column[0]


class ValleySelector:
    """:func:`geo.read_firms`'s ``select``: keeps the firms of the run's valleys.

    After the call: ``labels`` (the valley of each kept firm, in order), ``names`` (the
    run's valleys in order), ``unknown`` (valley labels not in the config), ``counts``
    (value counts of the valley column over the valid rows; None without the column), and
    with ``strays=True`` the ``far`` rows (a firm geocoded to another city: see
    :func:`far_from_valley`) with their ``far_detail``.
    """

    detail = "firm lies in no valley of the run"

    def __init__(self, config: Config, *, fill: str | None = None, strays: bool = True) -> None:
        self.config = config
        self.fill = fill
        self.strays = strays
        self.columns = [config.firms.valley_column]
        self.labels = None
        self.names: list[str] = []
        self.unknown: list[str] = []
        self.counts: pd.Series | None = None
        self.far: np.ndarray | None = None
        self.far_detail: list[str] = []

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        col = self.config.firms.valley_column
        column = _column_labels(frame, col) if col in frame.columns else None
        if column is not None:
            self.counts = column.value_counts()
        labels, self.names, self.unknown = _valley_labels(frame, self.config, fill=self.fill, column=column)
        keep = labels.notna().to_numpy().copy()
        if self.strays and keep.any():
            far, detail = far_from_valley(frame["lon"].to_numpy(), frame["lat"].to_numpy(), labels.to_numpy(dtype=object))
            self.far, self.far_detail = far, detail
            keep &= ~far
        self.labels = labels[keep].astype(str).to_numpy()
        return keep


#: a firm farther than this many times the distance holding 98 % of its valley's firms from their
#: centre (and at least FAR_MIN_KM beyond it) is a stray geocode: a firm geocoded to another city
FAR_FACTOR = 3.0
FAR_MIN_KM = 20.0
FAR_MIN_FIRMS = 50


def far_from_valley(lon: np.ndarray, lat: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Firms geocoded far away from the rest of their valley (to another city, a country centre).

    For each valley of at least :data:`FAR_MIN_FIRMS` firms: the centre is the median
    lon/lat, ``d98`` the distance within which 98 % of its firms lie; a firm farther than
    ``max(FAR_FACTOR * d98, d98 + FAR_MIN_KM)`` is a stray.  A handful of strays would
    otherwise stretch the study area (and the automatic cell size) over a country.

    Returns the mask of strays (aligned to the inputs) and one detail text per stray.
    """
    far = np.zeros(len(lon), dtype=bool)
    detail: list[str] = []
    codes, names = pd.factorize(pd.Series(labels, dtype=object), use_na_sentinel=True)
    km = np.full(len(lon), np.nan)
    d98_of = {}
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(len(names) + 1))
    for k, name in enumerate(names):
        sel = order[starts[k]:starts[k + 1]]
        if len(sel) < FAR_MIN_FIRMS:
            continue
        cx, cy = np.median(lon[sel]), np.median(lat[sel])
        d = np.hypot((lon[sel] - cx) * (111.32 * np.cos(np.radians(cy))), (lat[sel] - cy) * 111.32)
        d98 = float(np.quantile(d, 0.98))
        out = d > max(FAR_FACTOR * d98, d98 + FAR_MIN_KM)
        if out.any():
            far[sel[out]] = True
            km[sel[out]] = d[out]
            d98_of[str(name)] = d98
    for i in np.flatnonzero(far):
        name = str(names[codes[i]])
        detail.append(f"{km[i]:,.0f} km from the centre of the valley {name!r}, whose firms lie within "
                      f"{d98_of[name]:,.0f} km of it (98 %): geocoded to another place?")
    return far, detail


def _parks_for_valley(parks, name: str, firms_v):
    if parks is None or len(parks) == 0:
        return parks
    if parks["valley"].notna().any():
        return parks[parks["valley"] == name]
    if len(firms_v) < 3:
        return parks.iloc[0:0]
    from geo.cells.grid import _convex_hull

    hull = _convex_hull(firms_v["lon"].to_numpy(float), firms_v["lat"].to_numpy(float))
    return parks[parks.intersects(hull)]
