"""Vectorised parsing of founding / registration dates as firm registries deliver them.

One column in, plain arrays out: :func:`parse_dates` reads a whole column at once and
returns a :class:`ParsedDates` with the year, the date (when the day is known), the
precision, the missing and unparseable rows with a reason each, the formats found and one
sentence for the load report.

Registries repeat values a great deal, so the column is factorised first and only its
distinct values are parsed (pyarrow's RE2 regular expressions on the distinct strings,
numpy on the distinct numbers); the results are then taken back to the rows.

Forms read (digits may be full-width, ``０``-``９``; surrounding whitespace is ignored):

=====================  =========================================  =========  ==============
form                   examples                                   precision  format name
=====================  =========================================  =========  ==============
plain year             ``1999``, ``1999.0``, ``"1999"``,          year       ``year``
                       ``"1999.0"``
year and month         ``1999-03``, ``1999/3``, ``1999.03``       month      ``YYYY-MM`` ...
month and year         ``03/1999``, ``3-1999``                    month      ``MM/YYYY`` ...
ISO date               ``1999-03-11``, ``1999/03/11``,            day        ``YYYY-MM-DD``,
                       ``1999.3.11``, with an optional time                  ``YYYY/MM/DD``,
                       ``1999-03-11 00:00:00``,                              ``YYYY.MM.DD``
                       ``1999-03-11T08:30:00``
day/month first        ``11/03/1999``, ``11-03-1999 00:00:00``,   day or     ``DD/MM/YYYY``,
                       ``11.03.1999``, ``03/11/1999``             year       ``MM/DD/YYYY``
Chinese                ``1999年3月11日``, ``1999年03月``,           day, month ``YYYY年MM月DD日``,
                       ``1999年``                                 or year    ``YYYY年MM月``,
                                                                             ``YYYY年``
compact                ``19990311``, ``199903`` (numbers or text) day, month ``YYYYMMDD``,
                                                                             ``YYYYMM``
Excel serial           ``36230`` (= 1999-03-11, 1900 system)      day        ``Excel serial``
date values            ``datetime64`` columns, ``datetime.date``, day        ``date value``
                       ``datetime.datetime``, ``pd.Timestamp``
=====================  =========================================  =========  ==============

Times of day are checked (hours 0-23, minutes and seconds 0-59) and then dropped.  The
separators of one value must agree (``1999-03/11`` is not a date).

Decisions taken from the whole column
-------------------------------------
*Day/month order* of ``NN/NN/YYYY`` values: a value that is a valid date in one order only
(``31/03/1999``: day first; ``03/31/1999``: month first) is evidence.  Evidence one way
only decides the column.  With no evidence the order is *ambiguous*; with evidence both
ways it is a *conflict*: then each value that fits one order only is read in that order and
the others are ambiguous.  Ambiguous rows keep their year (it never depends on the order),
have no date and precision ``'year'`` and are flagged in :attr:`ParsedDates.ambiguous`
(a value with day = month, ``05/05/1999``, has a date whatever the order).

*Years or Excel serials* for numbers (and numeric text): the column is read as Excel
serials when at least one value lies in 10000-79999 (five digits: never a year) and the
rows whose values could be serials (1-79999) but are not plausible years outnumber the
rows holding plausible years (whole numbers in ``min_year..max_year``).  A serial column
reads every value in 1-79999 as a serial (so ``2000`` is 1905-06-22 there); a year column
rejects five-digit values.  Serials follow Excel's 1900 date system with its leap-year bug:
1 is 1900-01-01, 59 is 1900-02-28, 60 is Excel's 1900-02-29 (a day that does not exist:
rejected), 61 is 1900-03-01, and from 61 on a serial ``n`` is 1899-12-30 + ``n`` days.
A fraction (a time of day) is dropped.  Six- and eight-digit whole numbers are read as
``YYYYMM`` and ``YYYYMMDD`` in either kind of column.

Missing and unparseable
-----------------------
``None``, ``NaN``, ``NaT``, ``pd.NA``, empty or whitespace-only text, and the texts that
software writes for a missing value (``nan``, ``NaN``, ``NaT``, ``None``, ``null``,
``NULL``, ``<NA>``) are *missing*.  Everything else that cannot be read -- unrecognised
text, impossible dates (``1999-02-30``, ``13/13/1999``), invalid times, years outside
``min_year..max_year``, fractional years, other types -- is *bad*, with a short reason.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import numbers
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo.errors import InputError

__all__ = ["PRECISIONS", "ParsedDates", "excel_serial_to_date", "parse_dates"]

#: precision labels, indexed by the internal precision code (0 = nothing known)
PRECISIONS: tuple[str, ...] = ("", "year", "month", "day")
_NONE, _YEAR, _MONTH, _DAY = 0, 1, 2, 3

_NAT = np.datetime64("NaT", "D")
_SERIAL_EPOCH = np.datetime64("1899-12-30", "D")  # serials >= 61
_SERIAL_EPOCH_EARLY = np.datetime64("1899-12-31", "D")  # serials 1..59
_SERIAL_MIN_EVIDENCE = 10_000  # a five-digit number can only be a serial
_SERIAL_END = 80_000  # serials considered: 1 <= v < 80000 (up to 2119)

_MISSING_TEXTS = frozenset({"nan", "nat", "none", "null", "<na>"})
# full-width ASCII (U+FF01..U+FF5E) and the ideographic space, to ASCII
_FULLWIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}

_SEPS = ("-", "/", ".")
_TIME_BODY = (
    r"(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?"
    r"(?:\s*[AaPp][Mm])?(?:\s*(?:Z|[+-]\d{2}:?\d{2}))?"
)
_TIME_ANY = r"(?:(?:T|\s+)" + _TIME_BODY + ")?"  # "1999-03-11 08:30", "...T08:30:00Z"
_TIME_CN = r"(?:\s*" + _TIME_BODY + ")?"  # "1999年3月11日08:30" too
# year and month: the month must not be 0/00 so that "1999.0" stays a number (a year)
_RE_YM = r"^(?P<y>\d{4})(?P<s>[-/.])(?P<m>0?[1-9]|[1-9]\d)$"
_RE_MY = r"^(?P<m>\d{1,2})(?P<s>[-/.])(?P<y>\d{4})$"
_RE_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
_RE_ISO = r"^(?P<y>\d{4})(?P<s1>[-/.])(?P<m>\d{1,2})(?P<s2>[-/.])(?P<d>\d{1,2})" + _TIME_ANY + "$"
_RE_DMY = r"^(?P<a>\d{1,2})(?P<s1>[-/.])(?P<b>\d{1,2})(?P<s2>[-/.])(?P<y>\d{4})" + _TIME_ANY + "$"
_RE_CN = (
    r"^(?P<y>\d{4})\s*年(?:\s*(?P<m>\d{1,2})\s*月(?:\s*(?P<d>\d{1,2})\s*[日号])?)?"
    + _TIME_CN + "$"
)


# ----------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class ParsedDates:
    """A parsed date column: one entry per input row, in input order.

    Attributes
    ----------
    year : numpy.ndarray
        float64 year (whole numbers), NaN where missing or bad.  Ambiguous day/month rows
        have their year.
    month : numpy.ndarray
        float64 month 1-12 where the precision is ``'month'`` or ``'day'``, NaN elsewhere.
    date : numpy.ndarray
        ``datetime64[D]``; NaT unless the precision is ``'day'``.
    precision : numpy.ndarray
        ``<U5`` strings: ``'day'``, ``'month'``, ``'year'``, or ``''`` (missing or bad).
    missing : numpy.ndarray
        bool: the input is empty (``None``, NaN, NaT, ``""``, whitespace ...).
    bad : numpy.ndarray
        bool: not empty and unparseable (``year`` is NaN, ``reasons`` says why).
    ambiguous : numpy.ndarray
        bool: a ``NN/NN/YYYY`` value whose day/month order could not be decided; the year
        is known, the date is not (precision ``'year'``).
    reasons : numpy.ndarray
        object: the reason text of bad rows, ``None`` elsewhere.
    formats : dict of str to int
        Format name -> number of rows read in that format (missing and bad rows are not
        counted), most frequent first, e.g. ``{"YYYY-MM-DD": 9812, "DD/MM/YYYY": 188}``.
    day_first : bool or None
        The day/month order decided for ``NN/NN/YYYY`` values; None when the column has
        none, or when the order is ambiguous or conflicting (see `dm_order`).
    dm_order : {'day-first', 'month-first', 'ambiguous', 'conflict'} or None
        How the day/month order came out; None when the column has no such value.
    excel_serial : bool
        The numbers of the column were read as Excel serial dates.
    note : str
        One sentence for the load report.
    """

    year: np.ndarray
    month: np.ndarray
    date: np.ndarray
    precision: np.ndarray
    missing: np.ndarray
    bad: np.ndarray
    ambiguous: np.ndarray
    reasons: np.ndarray
    formats: dict[str, int]
    day_first: bool | None
    dm_order: Literal["day-first", "month-first", "ambiguous", "conflict"] | None
    excel_serial: bool
    note: str

    def __len__(self) -> int:
        return int(self.year.size)


def excel_serial_to_date(serial: Any) -> np.ndarray:
    """Dates of Excel serial numbers (1900 date system, Excel's leap-year bug honoured).

    Parameters
    ----------
    serial : array_like
        Serial numbers; a fraction (time of day) is dropped.

    Returns
    -------
    numpy.ndarray
        ``datetime64[D]``; NaT for serials below 1, for 60 (Excel's non-existent
        1900-02-29) and for non-finite values.
    """
    v = np.asarray(serial, dtype=np.float64)
    ok = np.isfinite(v) & (v >= 1) & (v < 2_958_466)  # up to 9999-12-31
    n = np.where(ok, np.floor(np.where(ok, v, 1)), 1).astype(np.int64)
    out = np.where(n >= 61, _SERIAL_EPOCH + n, _SERIAL_EPOCH_EARLY + n)
    out[~ok | (n == 60)] = _NAT
    return out


# ----------------------------------------------------------------------------- work area
class _Work:
    """Per-distinct-value results; the last slot stands for the missing rows (code -1)."""

    def __init__(self, n_u: int, shown, min_year: int, max_year: int, dm_order: str | None = None,
                 serial: bool | None = None) -> None:
        size = n_u + 1
        self.forced_dm, self.forced_serial = dm_order, serial
        self.year = np.full(size, np.nan)
        self.month = np.full(size, np.nan)
        self.date = np.full(size, _NAT)
        self.prec = np.zeros(size, dtype=np.int8)
        self.empty = np.zeros(size, dtype=bool)
        self.empty[-1] = True
        self.bad = np.zeros(size, dtype=bool)
        self.amb = np.zeros(size, dtype=bool)
        self.reason = np.full(size, None, dtype=object)
        self.fmt = np.full(size, -1, dtype=np.int32)
        self.fmt_names: list[str] = []
        self.shown = shown  # idx array -> list of display texts of those values
        self.lo, self.hi = min_year, max_year
        self.day_first: bool | None = None
        self.dm_order: str | None = None
        self.dm_example: dict[str, str] = {}
        self.dm_names: set[str] = set()  # DD/MM/YYYY, MM/DD/YYYY names
        self.excel_serial = False

    def code(self, name: str) -> int:
        try:
            return self.fmt_names.index(name)
        except ValueError:
            self.fmt_names.append(name)
            return len(self.fmt_names) - 1

    def fail(self, idx: np.ndarray, reasons: list[str]) -> None:
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size:
            self.bad[idx] = True
            self.reason[idx] = np.array(reasons + [None], dtype=object)[:-1]

    def year_reason(self, y: np.ndarray, shown: list[str] | None) -> list[str]:
        rng = f"{self.lo}–{self.hi}"
        if shown is None:
            return [f"year {int(v)} is outside {rng}" for v in y.tolist()]
        return [f"{s}: year {int(v)} is outside {rng}" for s, v in zip(shown, y.tolist())]

    def put(self, idx, y, m, d, prec, fmt, *, plain_year: bool = False, amb=None) -> None:
        """Validate and store (year, month, day) of the values ``idx``.

        ``m``/``d`` are ignored below the precision that needs them; ``prec``/``fmt`` are
        scalars or arrays.  Invalid months or days and years out of range become bad.
        """
        idx = np.asarray(idx, dtype=np.int64)
        if not idx.size:
            return
        y = np.asarray(y, dtype=np.int64)
        m = np.broadcast_to(np.asarray(m, dtype=np.int64), idx.shape)
        d = np.broadcast_to(np.asarray(d, dtype=np.int64), idx.shape)
        prec = np.broadcast_to(np.asarray(prec, dtype=np.int8), idx.shape)
        fmt = np.broadcast_to(np.asarray(fmt, dtype=np.int32), idx.shape)
        valid = _valid_ymd(y, m, d, prec)
        in_range = (y >= self.lo) & (y <= self.hi)
        if not valid.all():
            w = np.flatnonzero(~valid)
            what = np.where(prec[w] == _MONTH, "year-month", "date")
            self.fail(idx[w], [f"{s} is not a valid {k}" for s, k in zip(self.shown(idx[w]), what.tolist())])
        out = valid & ~in_range
        if out.any():
            w = np.flatnonzero(out)
            self.fail(idx[w], self.year_reason(y[w], None if plain_year else self.shown(idx[w])))
        ok = valid & in_range
        i, y, m, d, prec, fmt = idx[ok], y[ok], m[ok], d[ok], prec[ok], fmt[ok]
        self.year[i] = y
        has_m = prec >= _MONTH
        self.month[i[has_m]] = m[has_m]
        has_d = prec == _DAY
        self.date[i[has_d]] = _ymd_to_date(y[has_d], m[has_d], d[has_d])
        self.prec[i] = prec
        self.fmt[i] = fmt
        if amb is not None:
            self.amb[i] = np.broadcast_to(amb, idx.shape)[ok]

    def put_dates(self, idx, dates: np.ndarray, fmt: int, shown: list[str] | None = None) -> None:
        """Store whole dates (``datetime64[D]``), checking the year range."""
        idx = np.asarray(idx, dtype=np.int64)
        if not idx.size:
            return
        nat = np.isnat(dates)
        y, m, d = _date_parts(np.where(nat, np.datetime64("2000-01-01", "D"), dates))
        if nat.any():  # not expected from the callers; kept safe
            self.fail(idx[nat], [f"{s} is not a date" for s in self.shown(idx[nat])])
        keep = ~nat
        self.put(idx[keep], y[keep], m[keep], d[keep], _DAY, fmt)


def _ymd_to_date(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    months = ((y - 1970) * 12 + (m - 1)).astype("datetime64[M]")
    return months.astype("datetime64[D]") + (d - 1).astype("timedelta64[D]")


def _date_parts(dates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    months = dates.astype("datetime64[M]")
    y = months.astype("datetime64[Y]").astype(np.int64) + 1970
    m = months.astype(np.int64) % 12 + 1
    d = (dates - months.astype("datetime64[D]")).astype(np.int64) + 1
    return y, m, d


def _valid_ymd(y: np.ndarray, m: np.ndarray, d: np.ndarray, prec: np.ndarray) -> np.ndarray:
    """Month 1-12 where the precision needs it, day within its month where it needs it."""
    need_m = prec >= _MONTH
    ok_m = ~need_m | ((m >= 1) & (m <= 12))
    need_d = prec == _DAY
    ok_d = ~need_d
    if need_d.any():
        yy = np.clip(y, 1, 9999)
        mm = np.where(ok_m & need_d, m, 1)
        start = ((yy - 1970) * 12 + (mm - 1)).astype("datetime64[M]")
        dim = ((start + 1).astype("datetime64[D]") - start.astype("datetime64[D]")).astype(np.int64)
        ok_d = ok_d | ((d >= 1) & (d <= dim))
    return ok_m & ok_d


# ----------------------------------------------------------------------------- factorise
def _factorize(values: Any) -> tuple[np.ndarray, Any]:
    """(codes with -1 for NA, distinct values) of a 1-D column."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        values = pd.arrays.ArrowExtensionArray(values)
    elif isinstance(values, (list, tuple)):
        values = pd.Series(values, dtype=None if values else object)
    elif isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise InputError(f"parse_dates expects one column (a 1-D array), got an array of shape {values.shape}")
        if values.dtype.kind in "US":
            values = values.astype(object)
    elif isinstance(values, pd.DataFrame):
        raise InputError("parse_dates expects one column (a Series), got a DataFrame")
    elif np.ndim(values) == 0:
        raise InputError(f"parse_dates expects a column of values, got {type(values).__name__}")
    try:
        codes, uniq = pd.factorize(values, use_na_sentinel=True)
    except TypeError:  # unhashable values (lists, dicts): each is a distinct bad value
        objs = np.array(list(values), dtype=object) if not isinstance(values, np.ndarray) else values.copy()
        for i, v in enumerate(objs.tolist()):
            try:
                hash(v)
            except TypeError:
                objs[i] = _Unhashable(v)
        codes, uniq = pd.factorize(objs, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.intp), uniq


class _Unhashable:
    """Stands for an unhashable cell (compared by identity) so that it can be factorised."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"{self.value!r} ({type(self.value).__name__})"


def _is_datetime(dtype: Any) -> bool:
    return pd.api.types.is_datetime64_any_dtype(dtype)


def _is_number(dtype: Any) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _show_number(v: float) -> str:
    if np.isnan(v):
        return "nan"
    if v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    return repr(v)


def _show(v: Any) -> str:
    if isinstance(v, str):
        return f"'{v.strip()}'"
    if isinstance(v, (float, np.floating)):
        return _show_number(float(v))
    if isinstance(v, (pd.Timestamp, _dt.datetime, _dt.date, np.datetime64)):
        return f"'{v}'"
    return repr(v) if not isinstance(v, (int, np.integer)) else str(v)


# ----------------------------------------------------------------------------- parse
def parse_dates(
    values: Any,
    *,
    min_year: int = 1800,
    max_year: int | None = None,
    label: str = "dates",
    counts: Any = None,
    dm_order: str | None = None,
    serial: bool | None = None,
) -> ParsedDates:
    """Parse a column of founding / registration dates in any of the usual forms.

    Parameters
    ----------
    values : array_like
        One column: a numpy array, a pandas Series / Index / extension array (any dtype:
        ``object``, ``str``, ``string[pyarrow]``, ``Int64``, float, ``datetime64`` with or
        without a time zone, categorical), a pyarrow array, or a list.  The results are
        positional (a Series' index is not kept).
    min_year, max_year : int, optional
        Plausible years, inclusive; ``max_year`` defaults to the current year + 1.  Years
        outside are bad rows.  They also decide which numbers are years (see the module
        documentation for the year / Excel serial decision).
    label : str, optional
        What the column holds, to begin :attr:`ParsedDates.note` (``"founding dates"``).
    counts : array_like of int, optional
        How many rows each value stands for (distinct values of a column read in parts:
        the decisions below are then those of the whole column).
    dm_order, serial : optional
        The column-wide decisions taken elsewhere (``ParsedDates.dm_order`` and
        ``.excel_serial`` of a parse of the whole column's distinct values): the day/month
        order (``"day-first"``, ``"month-first"``, ``"ambiguous"``, ``"conflict"``) and
        whether numbers are Excel serials.  Default: decided from ``values``.

    Returns
    -------
    ParsedDates
        Per-row year, month, date, precision, missing / bad / ambiguous flags and reasons,
        plus the formats found, the day/month order and a one-sentence note.

    Raises
    ------
    geo.errors.InputError
        ``values`` is not one column, or ``min_year > max_year``.

    Examples
    --------
    >>> r = parse_dates(["1999-03-11", "2001", "", "31/12/2005", "unknown"])
    >>> r.year
    array([1999., 2001.,   nan, 2005.,   nan])
    >>> r.precision.tolist()
    ['day', 'year', '', 'day', '']
    >>> r.reasons[4]
    "'unknown' is not a recognised date"
    """
    if max_year is None:
        max_year = _dt.date.today().year + 1
    min_year, max_year = int(min_year), int(max_year)
    if min_year > max_year:
        raise InputError(f"min_year ({min_year}) is after max_year ({max_year})")
    codes, uniq = _factorize(values)
    n_u = len(uniq)
    dtype = getattr(uniq, "dtype", None)
    weights = None
    if counts is not None:
        counts = np.asarray(counts, dtype=np.int64)
        if counts.shape != (len(codes),):
            raise InputError(f"counts has {counts.shape[0] if counts.ndim else 1} values for {len(codes)} rows")
        weights = np.bincount(codes[codes >= 0], weights=counts[codes >= 0], minlength=n_u).astype(np.int64)
    if dm_order not in (None, "day-first", "month-first", "ambiguous", "conflict"):
        raise InputError(f"dm_order must be 'day-first', 'month-first', 'ambiguous', 'conflict' or None; {dm_order!r} was given")

    if dtype is not None and _is_datetime(dtype):
        w = _Work(n_u, lambda idx: [f"'{v}'" for v in np.asarray(uniq, dtype=object)[idx]], min_year, max_year)
        di = pd.DatetimeIndex(uniq)
        w.put(np.arange(n_u), di.year.to_numpy(np.int64), di.month.to_numpy(np.int64),
              di.day.to_numpy(np.int64), _DAY, w.code("date value"))
    elif dtype is not None and _is_number(dtype):
        nums = np.asarray(pd.array(uniq).to_numpy(dtype=np.float64, na_value=np.nan))
        w = _Work(n_u, lambda idx: [_show_number(v) for v in nums[idx].tolist()], min_year, max_year, dm_order, serial)
        counts = np.bincount(codes[codes >= 0], minlength=n_u) if weights is None else weights
        _parse_numbers(w, np.arange(n_u), nums, counts)
    else:
        objs = np.asarray(uniq, dtype=object)
        w = _Work(n_u, lambda idx: [_show(v) for v in objs[idx]], min_year, max_year, dm_order, serial)
        counts = np.bincount(codes[codes >= 0], minlength=n_u) if weights is None else weights
        _parse_objects(w, objs, counts)

    return _finish(w, codes, label)


def _parse_objects(w: _Work, objs: np.ndarray, counts: np.ndarray) -> None:
    """Distinct values of an object / text column: split by type, then parse each kind."""
    n_u = objs.size
    if pd.api.types.infer_dtype(objs, skipna=False) == "string":  # C speed
        is_str = np.ones(n_u, dtype=bool)
    else:
        is_str = np.fromiter((type(v) is str for v in objs), dtype=bool, count=n_u)
    num_idx: list[np.ndarray] = []
    num_val: list[np.ndarray] = []
    if is_str.all():
        str_idx = np.arange(n_u)
    else:
        str_idx_l, date_idx, ymd, other = [], [], [], []
        nums_i, nums_v = [], []
        for i in np.flatnonzero(~is_str).tolist():
            v = objs[i]
            if isinstance(v, str):  # str subclasses
                str_idx_l.append(i)
            elif isinstance(v, bytes):
                try:
                    objs[i] = v.decode("utf-8")
                    str_idx_l.append(i)
                except UnicodeDecodeError:
                    other.append(i)
            elif isinstance(v, (bool, np.bool_)):
                other.append(i)
            elif isinstance(v, (numbers.Real, decimal.Decimal)):
                nums_i.append(i)
                nums_v.append(float(v))
            elif isinstance(v, (_dt.date, np.datetime64)):  # datetime, Timestamp are dates
                t = pd.Timestamp(v) if isinstance(v, np.datetime64) else v
                if t is pd.NaT:
                    w.empty[i] = True
                else:
                    date_idx.append(i)
                    ymd.append((t.year, t.month, t.day))
            else:
                other.append(i)
        str_idx = np.sort(np.concatenate([np.flatnonzero(is_str), np.array(str_idx_l, dtype=np.int64)])).astype(np.int64)
        if date_idx:
            a = np.array(ymd, dtype=np.int64)
            w.put(np.array(date_idx), a[:, 0], a[:, 1], a[:, 2], _DAY, w.code("date value"))
        if other:
            w.fail(np.array(other), [f"{objs[i]!r} is not a date" if isinstance(objs[i], _Unhashable)
                                     else f"{_show(objs[i])} ({type(objs[i]).__name__}) is not a date" for i in other])
        if nums_i:
            num_idx.append(np.array(nums_i, dtype=np.int64))
            num_val.append(np.array(nums_v, dtype=np.float64))
    if str_idx.size:
        ni, nv = _parse_strings(w, str_idx, objs[str_idx])
        num_idx.append(ni)
        num_val.append(nv)
    if num_idx:
        idx = np.concatenate(num_idx)
        if idx.size:
            _parse_numbers(w, idx, np.concatenate(num_val), counts[idx])


def _normalise(texts: np.ndarray) -> pa.Array:
    """Stripped text with full-width characters (digits, ``／－．：``, U+3000) as ASCII."""
    arr = pa.array(texts, type=pa.string(), from_pandas=True)
    ascii_ = pc.string_is_ascii(arr)
    if not pc.all(ascii_).as_py():
        non = np.flatnonzero(~ascii_.to_numpy(zero_copy_only=False))
        py = arr.to_pylist()
        for i in non.tolist():
            py[i] = py[i].translate(_FULLWIDTH)
        arr = pa.array(py, type=pa.string())
    return pc.utf8_trim_whitespace(arr)


def _extract(arr: pa.Array, pattern: str) -> tuple[np.ndarray, pa.StructArray | None]:
    """(mask of matches, struct of the groups of the matching values).

    A plain match first (RE2's fast automaton), then the groups of the matches only.
    """
    hit_arr = pc.match_substring_regex(arr, pattern)
    if not pc.any(hit_arr).as_py():
        return np.zeros(len(arr), dtype=bool), None
    hit = hit_arr.to_numpy(zero_copy_only=False)
    sub = arr if hit.all() else arr.filter(hit_arr)
    return hit, pc.extract_regex(sub, pattern)


def _ints(field: pa.Array, missing: int = -1) -> np.ndarray:
    """Digits of a group as int64, ``missing`` where the group did not take part."""
    empty = pc.equal(field, "")
    filled = pc.if_else(empty, "0", field)
    vals = pc.cast(filled, pa.int64()).to_numpy(zero_copy_only=False)
    return np.where(empty.to_numpy(zero_copy_only=False), missing, vals)


def _sep_code(field: pa.Array) -> np.ndarray:
    code = np.zeros(len(field), dtype=np.int64)
    for k, s in enumerate(_SEPS[1:], start=1):
        code[pc.equal(field, s).to_numpy(zero_copy_only=False)] = k
    return code


def _time_ok(g: pa.StructArray) -> np.ndarray:
    h, mi, s = _ints(g.field("H")), _ints(g.field("M")), _ints(g.field("S"))
    return (h <= 23) & (mi <= 59) & (s <= 59)


def _parse_strings(w: _Work, idx: np.ndarray, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parse distinct strings; return (indices, values) of the numeric ones for the
    column-wide year / Excel serial decision."""
    arr = _normalise(texts)
    left = np.ones(idx.size, dtype=bool)  # not yet classified

    lower = pc.utf8_lower(arr)
    empty = pc.or_(pc.equal(arr, ""), pc.is_in(lower, value_set=pa.array(sorted(_MISSING_TEXTS)))).to_numpy(zero_copy_only=False)
    w.empty[idx[empty]] = True
    left &= ~empty

    def take(pattern: str) -> tuple[np.ndarray, pa.StructArray | None]:
        if not left.any():
            return np.zeros(0, dtype=np.int64), None
        pos = np.flatnonzero(left)
        sub = arr if pos.size == idx.size else arr.take(pa.array(pos))
        hit, groups = _extract(sub, pattern)
        at = pos[hit]
        left[at] = False
        return at, groups

    def bad_time(at: np.ndarray, g: pa.StructArray) -> np.ndarray:
        ok = _time_ok(g)
        if not ok.all():
            w.fail(idx[at[~ok]], [f"{s} is not a valid time" for s in w.shown(idx[at[~ok]])])
        return ok

    def one_separator(at: np.ndarray, g: pa.StructArray) -> tuple[np.ndarray, np.ndarray]:
        """The code of the first separator, and which values use it twice and have a valid time."""
        s1, s2 = _sep_code(g.field("s1")), _sep_code(g.field("s2"))
        same = s1 == s2
        w.fail(idx[at[~same]], [f"{s} is not a recognised date (mixed separators)" for s in w.shown(idx[at[~same]])])
        return s1, same & bad_time(at, g)

    # year-month, month-year ("1999.03", "03/1999"): before numbers ("1999.0" is a year)
    for pattern, fmt in ((_RE_YM, "YYYY{s}MM"), (_RE_MY, "MM{s}YYYY")):
        at, g = take(pattern)
        if at.size:
            codes = np.array([w.code(fmt.format(s=s)) for s in _SEPS])[_sep_code(g.field("s"))]
            w.put(idx[at], _ints(g.field("y")), _ints(g.field("m")), 0, _MONTH, codes)

    # numbers (years, YYYYMM, YYYYMMDD, serials): decided with the column's other numbers
    num_at, _ = take(_RE_NUMBER)
    num_val = pc.cast(arr.take(pa.array(num_at, type=pa.int64())), pa.float64()).to_numpy(zero_copy_only=False) if num_at.size else np.zeros(0)

    # ISO dates
    at, g = take(_RE_ISO)
    if at.size:
        s1, ok = one_separator(at, g)
        codes = np.array([w.code(f"YYYY{s}MM{s}DD") for s in _SEPS])[s1]
        w.put(idx[at[ok]], _ints(g.field("y"))[ok], _ints(g.field("m"))[ok], _ints(g.field("d"))[ok], _DAY, codes[ok])

    # NN/NN/YYYY: the order is decided below, from all such values
    at, g = take(_RE_DMY)
    if at.size:
        s1, ok = one_separator(at, g)
        _parse_dm(w, idx[at[ok]], _ints(g.field("a"))[ok], _ints(g.field("b"))[ok], _ints(g.field("y"))[ok], s1[ok])

    # Chinese
    at, g = take(_RE_CN)
    if at.size:
        m, d = _ints(g.field("m")), _ints(g.field("d"))
        prec = np.where(d >= 0, _DAY, np.where(m >= 0, _MONTH, _YEAR)).astype(np.int8)
        codes = np.array([0, w.code("YYYY年"), w.code("YYYY年MM月"), w.code("YYYY年MM月DD日")])[prec]
        ok = bad_time(at, g)
        w.put(idx[at[ok]], _ints(g.field("y"))[ok], m[ok], d[ok], prec[ok], codes[ok])

    rest = np.flatnonzero(left)
    if rest.size:
        w.fail(idx[rest], [f"{s} is not a recognised date" for s in w.shown(idx[rest])])
    return idx[num_at], num_val


def _parse_dm(w: _Work, idx: np.ndarray, a: np.ndarray, b: np.ndarray, y: np.ndarray, sep: np.ndarray) -> None:
    """``NN/NN/YYYY`` values: decide the day/month order from the whole column."""
    in_range = (y >= w.lo) & (y <= w.hi)
    if not in_range.all():
        out = np.flatnonzero(~in_range)
        w.fail(idx[out], w.year_reason(y[out], w.shown(idx[out])))
        idx, a, b, y, sep = idx[in_range], a[in_range], b[in_range], y[in_range], sep[in_range]
    if not idx.size:
        return
    day = np.full(idx.shape, _DAY, dtype=np.int8)
    fits_df = _valid_ymd(y, b, a, day)  # a = day, b = month
    fits_mf = _valid_ymd(y, a, b, day)
    neither = ~fits_df & ~fits_mf
    if neither.any():
        w.fail(idx[neither], [f"{s} is not a valid date" for s in w.shown(idx[neither])])
    only_df, only_mf = fits_df & ~fits_mf, fits_mf & ~fits_df
    both = fits_df & fits_mf
    has_df, has_mf = bool(only_df.any()), bool(only_mf.any())
    if has_df:
        w.dm_example["df"] = w.shown(idx[np.flatnonzero(only_df)[:1]])[0]
    if has_mf:
        w.dm_example["mf"] = w.shown(idx[np.flatnonzero(only_mf)[:1]])[0]
    if w.forced_dm is not None:  # the whole column's decision (a column read in parts)
        has_df = w.forced_dm in ("day-first", "conflict")
        has_mf = w.forced_dm in ("month-first", "conflict")

    w.dm_names.update(f"{o}{s}YYYY" for s in _SEPS for o in (f"DD{s}MM", f"MM{s}DD"))
    df_codes = np.array([w.code(f"DD{s}MM{s}YYYY") for s in _SEPS]) if has_df else None
    mf_codes = np.array([w.code(f"MM{s}DD{s}YYYY") for s in _SEPS]) if has_mf else None
    if has_df and not has_mf:
        w.day_first, w.dm_order = True, "day-first"
        ok = fits_df
        w.put(idx[ok], y[ok], b[ok], a[ok], _DAY, df_codes[sep[ok]])
        return
    if has_mf and not has_df:
        w.day_first, w.dm_order = False, "month-first"
        ok = fits_mf
        w.put(idx[ok], y[ok], a[ok], b[ok], _DAY, mf_codes[sep[ok]])
        return
    # ambiguous (no evidence) or conflict (evidence both ways)
    w.dm_order = "conflict" if has_df else "ambiguous"
    if has_df:
        w.put(idx[only_df], y[only_df], b[only_df], a[only_df], _DAY, df_codes[sep[only_df]])
        w.put(idx[only_mf], y[only_mf], a[only_mf], b[only_mf], _DAY, mf_codes[sep[only_mf]])
    amb_codes = np.array([w.code(f"DD{s}MM{s}YYYY or MM{s}DD{s}YYYY") for s in _SEPS])
    same = both & (a == b)  # 05/05/1999 is the same date in either order
    w.put(idx[same], y[same], a[same], b[same], _DAY, amb_codes[sep[same]])
    und = both & (a != b)
    w.put(idx[und], y[und], 0, 0, _YEAR, amb_codes[sep[und]], amb=True)


def _parse_numbers(w: _Work, idx: np.ndarray, v: np.ndarray, counts: np.ndarray) -> None:
    """Distinct numbers (and numeric text) of the column: years, YYYYMM, YYYYMMDD or
    Excel serials, decided from all of them together."""
    nan = np.isnan(v)
    if nan.any():
        w.empty[idx[nan]] = True
        idx, v, counts = idx[~nan], v[~nan], counts[~nan]
    finite = np.isfinite(v)
    if not finite.all():
        w.fail(idx[~finite], [f"{s} is not a date" for s in w.shown(idx[~finite])])
        idx, v, counts = idx[finite], v[finite], counts[finite]
    if not idx.size:
        return
    whole = v == np.floor(v)
    yearlike = whole & (v >= w.lo) & (v <= w.hi)
    in_serial = (v >= 1) & (v < _SERIAL_END)
    evidence = (v >= _SERIAL_MIN_EVIDENCE) & in_serial
    # serials when there is a five-digit value and the five-digit values outnumber the plausible years
    serial_col = bool(evidence.any()) and int(counts[evidence & ~yearlike].sum()) > int(counts[yearlike].sum())
    if w.forced_serial is not None:  # the whole column's decision (a column read in parts)
        serial_col = bool(w.forced_serial)
    w.excel_serial = serial_col
    vi = np.where(whole, v, 0).astype(np.int64)
    done = np.zeros(idx.size, dtype=bool)

    eight = whole & (v >= 10_000_000) & (v < 100_000_000)
    if eight.any():
        x = vi[eight]
        w.put(idx[eight], x // 10_000, x // 100 % 100, x % 100, _DAY, w.code("YYYYMMDD"))
        done |= eight
    six = whole & (v >= 100_000) & (v < 1_000_000)
    if six.any():
        x = vi[six]
        w.put(idx[six], x // 100, x % 100, 0, _MONTH, w.code("YYYYMM"))
        done |= six
    if serial_col:
        ser = in_serial & ~done
        if ser.any():
            dates = excel_serial_to_date(v[ser])
            nat = np.isnat(dates)  # serial 60
            pos = np.flatnonzero(ser)
            if nat.any():
                w.fail(idx[pos[nat]], [f"Excel serial {s} is Excel's 1900-02-29, a day that does not exist" for s in w.shown(idx[pos[nat]])])
            if (~nat).any():
                shown = [f"Excel serial {s} ({d})" for s, d in zip(w.shown(idx[pos[~nat]]), dates[~nat].astype(str))]
                y, m, d = _date_parts(dates[~nat])
                in_range = (y >= w.lo) & (y <= w.hi)
                if not in_range.all():
                    w.fail(idx[pos[~nat][~in_range]], w.year_reason(y[~in_range], [s for s, ok in zip(shown, in_range) if not ok]))
                w.put(idx[pos[~nat][in_range]], y[in_range], m[in_range], d[in_range], _DAY, w.code("Excel serial"))
            done |= ser
    rest = ~done
    if rest.any():
        frac = rest & ~whole
        if frac.any():
            w.fail(idx[frac], [f"{s} is not a whole year" for s in w.shown(idx[frac])])
        fiver = rest & whole & evidence  # year column: a few serial-like values
        if fiver.any():
            w.fail(idx[fiver], [f"{s} is not a year in {w.lo}–{w.hi} (the column is read as years, not Excel serials)" for s in w.shown(idx[fiver])])
        yr = rest & whole & ~evidence
        if yr.any():
            w.put(idx[yr], vi[yr], 0, 0, _YEAR, w.code("year"), plain_year=True)


# ----------------------------------------------------------------------------- finish
def _finish(w: _Work, codes: np.ndarray, label: str) -> ParsedDates:
    """Take the per-value results back to the rows and write the note."""
    # -1 (NA) takes the last slot, which stands for a missing value
    year = w.year[codes]
    month = w.month[codes]
    date = w.date[codes]
    prec_codes = w.prec[codes]
    missing = w.empty[codes]
    bad = w.bad[codes]
    ambiguous = w.amb[codes]
    reasons = w.reason[codes]
    precision = np.array(PRECISIONS, dtype="<U5")[prec_codes]

    n_u = w.year.size - 1
    counts = np.bincount(codes + 1, minlength=n_u + 1)  # slot 0: NA rows
    per_value = np.append(counts[1:], counts[0])  # aligned with the work slots
    has_fmt = w.fmt >= 0
    fmt_counts = np.bincount(w.fmt[has_fmt], weights=per_value[has_fmt], minlength=len(w.fmt_names))
    formats = {w.fmt_names[k]: int(c) for k, c in sorted(enumerate(fmt_counts), key=lambda kc: (-kc[1], kc[0])) if c > 0}

    n_missing = int(per_value[w.empty].sum())
    n_bad = int(per_value[w.bad].sum())
    n_amb = int(per_value[w.amb].sum())
    parts = []
    for name, c in formats.items():
        text = f"{c:,} as {name}"
        if name in w.dm_names and w.dm_order in ("day-first", "month-first"):
            key = "df" if w.dm_order == "day-first" else "mf"
            text += f" ({w.dm_order.replace('-', ' ')}: values such as {w.dm_example.get(key, 'those of the whole column')})"
        elif " or " in name:
            if w.dm_order == "conflict":
                text += (f" (day/month order conflicts: both {w.dm_example.get('df', 'DD/MM')} and {w.dm_example.get('mf', 'MM/DD')} occur;"
                         f" {n_amb:,} of undecidable order kept as years only)")
            else:
                text += f" (day/month order ambiguous: no value has a day above 12; {n_amb:,} kept as years only)"
        elif name == "Excel serial":
            text += " (1900 date system)"
        parts.append(text)
    if w.dm_order == "conflict" and not any(" or " in n for n in formats):
        parts.append(f"day/month order conflicts (both {w.dm_example.get('df', 'DD/MM')} and {w.dm_example.get('mf', 'MM/DD')} occur)")
    body = ", ".join(parts) if parts else "none read"
    tail = []
    if n_bad:
        first = int(np.flatnonzero(bad)[0])
        tail.append(f"{n_bad:,} unparseable (e.g. {reasons[first]})")
    if n_missing:
        tail.append(f"{n_missing:,} missing")
    if not codes.size:
        note = f"{label}: no rows"
    else:
        note = f"{label}: " + "; ".join([body, *tail])

    return ParsedDates(
        year=year, month=month, date=date, precision=precision, missing=missing, bad=bad,
        ambiguous=ambiguous, reasons=reasons, formats=formats, day_first=w.day_first,
        dm_order=w.dm_order, excel_serial=w.excel_serial, note=note,
    )
