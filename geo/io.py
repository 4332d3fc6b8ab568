"""Reading firm tables and park boundaries, with row-by-row validation; atomic writers.

Only this module reads data files.  Every input row ends up either in the returned frame
or in its rejects table with its 1-based row number, its raw values and a reason, so that
``rows_read == rows_kept + rows_rejected`` always holds.

Firm tables are validated column by column: CSV is parsed by :mod:`pyarrow.csv` (every
column as text) and Parquet by pyarrow, every check is vectorised over whole columns, and
only rejected rows are visited one by one (to write their detail).  When the fast CSV parser
cannot guarantee the same records as Python's :mod:`csv` module (quoted line breaks, quoting
the two parsers read differently, NUL bytes, lone carriage returns, a blank first line, a
one-column header, very long lines ...), the file is read with :mod:`csv` instead; both
paths give the same rows, row numbers, values and reasons.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io as _io
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from geo import _gc
from geo import crs as _crs
from geo.errors import ColumnError, CRSError, DataFileError, InputError

__all__ = [
    "read_firms",
    "read_parks",
    "REJECT_REASONS",
    "LON_CANDIDATES",
    "LAT_CANDIDATES",
    "atomic_path",
    "write_csv",
    "write_json",
]

log = logging.getLogger(__name__)

LON_CANDIDATES = ("lon", "lng", "long", "longitude", "x", "经度")
LAT_CANDIDATES = ("lat", "latitude", "y", "纬度")

#: reason key -> what it means (also documented in docs/ and the report)
REJECT_REASONS = {
    "malformed_row": "the row has more fields than the header",
    "duplicate": "exact duplicate of an earlier row (every field equal)",
    "missing_coordinate": "longitude or latitude is empty",
    "not_a_number": "longitude or latitude is not a number",
    "unknown_coord_sys": "the row's coord_sys value is not wgs84, gcj02 or bd09",
    "zero_zero": "coordinates are exactly (0, 0), a geocoder failure",
    "out_of_range": "longitude outside [-180, 180] or latitude outside [-90, 90]",
    "not_a_point": "the feature's geometry is not a single point",
    "missing_id": "the firm id is empty",
    "outside_valleys": "the firm lies in no valley of the run",
}

_TABLE_SUFFIXES = {".csv", ".tsv", ".txt", ".tab"}
_EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls"}
_PARQUET_SUFFIXES = {".parquet", ".pq", ".geoparquet"}
_VECTOR_SUFFIXES = {".gpkg", ".shp", ".geojson", ".json", ".fgb", ".kml", ".gml", ".zip"}

_STACKED_MIN = 10

#: every character ``str.strip()`` removes (``str.isspace``), for pyarrow's ``utf8_trim``;
#: written out (building it from all code points cost 0.2 s per import; a test checks it)
_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
               "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
#: numbers pyarrow's cast and pandas' ``to_numeric`` read identically (checked in tests):
#: integers of at most 15 digits, decimals and exponents of at most 2 digits, 20 characters
_STRICT_NUMBER = (r"^[+-]?([0-9]{1,15}|([0-9]+\.[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,2})?|[0-9]+[eE][+-]?[0-9]{1,2})$")
_DIGITS = r"^[+-]?[0-9]+$"
_DECIMAL_MAX_CHARS = 20
_UTF8_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 26  # bytes per step when scanning a file with numpy (bounds temporary memory)


# ----------------------------------------------------------------------------- helpers
def _check_file(path: str | os.PathLike, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        msg = f"{what} not found: '{p}' (resolved to '{p.resolve()}'). Check the path; relative paths are read from the current folder or, in a config, from the config's folder."
        raise DataFileError(msg)
    if p.is_dir() and p.suffix.lower() != ".gdb":
        msg = f"{what} '{p}' is a folder; give the path of a file (CSV, Excel, Parquet, GeoPackage, Shapefile or GeoJSON)."
        raise DataFileError(msg)
    return p


def _decode(data: bytes, encoding: str | None, path: Path) -> tuple[str, str]:
    """Decode CSV bytes: BOMs, then UTF-8, then GB18030 (a superset of GBK/GB2312)."""
    if encoding is not None:
        try:
            return data.decode(encoding), encoding
        except LookupError:
            msg = f"Unknown encoding {encoding!r} for '{path}'. Use e.g. 'utf-8', 'gbk' or 'gb18030'."
            raise DataFileError(msg) from None
        except UnicodeDecodeError as exc:
            msg = f"'{path}' is not valid {encoding} (byte {exc.start}); try encoding=None to detect it, or 'gb18030' / 'utf-8'."
            raise DataFileError(msg) from None
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        msg = f"Could not decode '{path}' as UTF-8 or GBK/GB18030; pass encoding= (e.g. encoding='big5' or 'latin-1')."
        raise DataFileError(msg) from None


def _sniff_delimiter(text: str, suffix: str) -> str:
    sample = "\n".join(text[:65536].splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return "\t" if suffix in {".tsv", ".tab"} else ","


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        name = name or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out


def _as_text(values: pd.Series) -> pd.Series:
    """Raw cell values as stripped strings ('' for missing), for uniform validation."""
    def conv(v: Any) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
            return ""
        if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
            return repr(v)
        return str(v).strip()

    return values.map(conv).astype(object)


# ----------------------------------------------------------------------------- text columns
# A raw table is a dict of columns, each holding every cell *as text* (stripped, "" when
# missing): a pyarrow large_string array without nulls, or -- for float columns of
# Parquet/Excel/layers -- a ``_Floats`` whose text is ``repr(v)`` ("" for NaN), kept as
# numbers so that nothing is formatted unless a row is rejected.
class _Floats:
    """A float column whose text is ``repr(v)``, or "" for NaN (what ``_as_text`` makes of it)."""

    __slots__ = ("values",)

    def __init__(self, values: np.ndarray) -> None:
        self.values = np.asarray(values, dtype=np.float64)

    def __len__(self) -> int:
        return int(self.values.size)


@dataclass
class _Raw:
    """A firm table as text columns, before validation."""

    columns: list[str]
    cols: dict[str, Any]
    n: int
    meta: dict
    malformed: dict[int, int] = field(default_factory=dict)  # 0-based position -> number of fields
    geometry: Any = None
    layer_crs: Any = None


def _release_arrow_memory() -> None:
    """Hand memory pyarrow freed back to the system (its allocator keeps it otherwise)."""
    pa, _ = _pa()
    pa.default_memory_pool().release_unused()


def _pa():
    import pyarrow as pa
    import pyarrow.compute as pc

    return pa, pc


def _text_array(values: Any):
    """A pyarrow large_string array (one chunk, no nulls) from an array, chunked array or list."""
    pa, pc = _pa()
    if isinstance(values, list):
        return pa.array(values, type=pa.large_string())
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if values.type != pa.large_string():
        values = values.cast(pa.large_string())
    if values.null_count:
        values = pc.fill_null(values, "")
    return values


def _strip(arr):
    """``str.strip()`` of every value, exactly (Python's whitespace set)."""
    _, pc = _pa()
    return pc.utf8_trim(arr, characters=_WHITESPACE)


def _to_bool(mask) -> np.ndarray:
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)


def _col_empty(col) -> np.ndarray:
    if isinstance(col, _Floats):
        return np.isnan(col.values)
    _, pc = _pa()
    return _to_bool(pc.equal(col, ""))


def _float_text(v: float) -> str:
    return "" if v != v else repr(v)


def _col_take_text(col, idx: np.ndarray) -> list[str]:
    """The text of the rows ``idx`` (Python strings)."""
    if isinstance(col, _Floats):
        return [_float_text(v) for v in col.values[idx].tolist()]
    pa, _ = _pa()
    return col.take(pa.array(np.asarray(idx, dtype=np.int64))).to_pylist()


_NAN_BITS = np.array([np.nan]).view(np.int64)[0]


def _col_key(col) -> np.ndarray:
    """int64 keys with equal key <=> equal text."""
    if isinstance(col, _Floats):
        bits = col.values.view(np.int64).copy()
        bits[np.isnan(col.values)] = _NAN_BITS
        return bits
    _, pc = _pa()
    return pc.dictionary_encode(col).indices.to_numpy(zero_copy_only=False).astype(np.int64)


def _col_categories(col) -> tuple[np.ndarray, list[str]]:
    """(codes, distinct texts) of a column."""
    if isinstance(col, _Floats):
        codes, uniq = pd.factorize(_col_key(col))
        return codes, [_float_text(float(b)) for b in np.asarray(uniq, dtype=np.int64).view(np.float64)]
    _, pc = _pa()
    enc = pc.dictionary_encode(col)
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), enc.dictionary.to_pylist()


def _text_series_values(arr):
    """pandas "str" values of a text array (what a column of Python strings becomes)."""
    return arr.to_pandas().array if hasattr(arr, "to_pandas") else pd.array(arr, dtype="str")


def _strict_numbers(arr) -> np.ndarray:
    """Mask of values whose pyarrow cast to float64 equals pandas' ``to_numeric``."""
    _, pc = _pa()
    return _to_bool(pc.and_(pc.match_substring_regex(arr, _STRICT_NUMBER),
                            pc.less_equal(pc.utf8_length(arr), _DECIMAL_MAX_CHARS)))


def _all_integers(arr) -> bool:
    """True when every (strict) value is an integer: pandas then returns int64, not float64."""
    _, pc = _pa()
    return not pc.any(pc.match_substring_regex(arr, "[.eE]")).as_py()


def _canonical_ints(arr) -> np.ndarray | None:
    """int64 values when every value is a canonical integer ("0", "-12"; no "+", "-0", "007")."""
    pa, pc = _pa()
    try:
        ints = pc.cast(arr, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if not pc.all(pc.equal(pc.cast(ints, pa.large_string()), arr)).as_py():
        return None
    return ints.to_numpy(zero_copy_only=False)


def _cast_float(arr, mask: np.ndarray) -> np.ndarray:
    pa, pc = _pa()
    out = np.full(len(arr), np.nan)
    if mask.any():
        out[mask] = pc.cast(arr.filter(pa.array(mask)), pa.float64()).to_numpy(zero_copy_only=False)
    return out


def _col_numeric(col) -> np.ndarray:
    """``pd.to_numeric(text.str.replace("，", "."), errors="coerce")`` as floats, vectorised.

    Values of the strict grammars are cast by pyarrow (identical results); the rest are
    given to pandas, or the whole column is when a long integer could change pandas' result type.
    """
    if isinstance(col, _Floats):
        return col.values.copy()  # to_numeric(repr(v)) == v; "" (NaN) stays NaN
    pa, pc = _pa()
    arr = col
    if pc.any(pc.match_substring(arr, "，")).as_py():
        arr = pc.replace_substring(arr, "，", ".")
    strict = _strict_numbers(arr)
    out = _cast_float(arr, strict)
    other = ~strict & _to_bool(pc.not_equal(arr, ""))
    if other.any():
        values = arr.filter(pa.array(other))
        if pc.any(pc.match_substring_regex(values, _DIGITS)).as_py():
            whole = pd.Series(arr.to_pylist(), dtype=object)
            return pd.to_numeric(whole, errors="coerce").to_numpy(dtype=float)
        out[other] = pd.to_numeric(pd.Series(values.to_pylist(), dtype=object), errors="coerce").to_numpy(dtype=float)
    elif strict.all() and _all_integers(arr):
        out = out + 0.0  # pandas returns int64 here: "-0" is 0.0, not -0.0
    return out


def _is_textual_name(name: str) -> bool:
    lname = str(name).lower()
    return lname == "id" or lname.endswith(("_id", "id")) or "code" in lname


def _exact_infer(name: str, texts: list[str]):
    """The reference ``_infer_types`` on one column (used when the fast rules cannot decide)."""
    out = _infer_types(pd.DataFrame({name: pd.Series(texts, dtype=object)}))[name]
    if out.dtype == object:
        return pd.array(texts, dtype="str")
    return out.array


def _output_column(name: str, col, kept: np.ndarray):
    """Column ``name`` of the kept rows (boolean mask ``kept``), typed like :func:`_infer_types`.

    Wholly numeric text becomes int64 (Int64 with empty cells) or float64; ids, codes and
    anything else stay text (pandas "str").
    """
    pa, pc = _pa()
    if isinstance(col, _Floats):
        v = col.values[kept]
        nan = np.isnan(v)
        if _is_textual_name(name) or nan.all():
            return pd.array([_float_text(x) for x in v.tolist()], dtype="str")
        good = v[~nan]
        if not np.isfinite(good).all() or np.abs(good).max() >= 2.0**53:
            return _exact_infer(name, [_float_text(x) for x in v.tolist()])
        if np.all(np.mod(good, 1) == 0):
            if nan.any():
                return pd.arrays.IntegerArray(np.where(nan, 0, v).astype(np.int64), nan)
            return v.astype(np.int64)
        return v
    sub = col if kept.all() else col.filter(pa.array(kept))
    if _is_textual_name(name):
        return _text_series_values(sub)
    empty = _col_empty(sub)
    if empty.all():
        return _text_series_values(sub)
    ne = sub.filter(pa.array(~empty))
    # a text column shows itself in its first values: one that pandas cannot read decides
    if pd.to_numeric(pd.Series(ne.slice(0, 64).to_pylist(), dtype=object), errors="coerce").isna().any():
        return _text_series_values(sub)
    ints = _canonical_ints(ne)  # the common case of a count or a year column
    if ints is not None and (not empty.any() or np.abs(ints).max() < 2**53):
        return _int_output(ints, empty)
    if pc.any(pc.match_substring_regex(ne, r"^[+-]?0\d")).as_py():
        return _text_series_values(sub)
    strict = _strict_numbers(ne)
    if not strict.all():
        others = pc.unique(ne.filter(pa.array(~strict)))
        witnesses = others.slice(0, 32).to_pylist()
        if pd.to_numeric(pd.Series(witnesses, dtype=object), errors="coerce").isna().any():
            return _text_series_values(sub)
        return _exact_infer(name, sub.to_pylist())
    vals = _cast_float(ne, strict)
    if not np.all(np.mod(vals, 1) == 0):
        out = np.full(len(sub), np.nan)
        out[~empty] = vals
        return out
    if np.abs(vals).max() >= 2.0**53:
        return _exact_infer(name, sub.to_pylist())
    return _int_output(vals.astype(np.int64), empty)


def _int_output(values: np.ndarray, empty: np.ndarray):
    """int64 for the kept rows, or Int64 with <NA> at empty cells."""
    if not empty.any():
        return values
    ints = np.zeros(empty.size, dtype=np.int64)
    ints[~empty] = values
    return pd.arrays.IntegerArray(ints, empty)


# ----------------------------------------------------------------------------- CSV
def _find_byte(arr: np.ndarray, value: int) -> np.ndarray:
    """Positions of one byte value, scanned in chunks (bounded temporary memory)."""
    parts = [np.flatnonzero(arr[i:i + _CHUNK] == value) + i for i in range(0, arr.size, _CHUNK)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _utf8_prefix(data: bytes, start: int, chars: int) -> str | None:
    """The first ``chars`` characters of UTF-8 ``data[start:]`` (None if not UTF-8 there)."""
    dec = codecs.getincrementaldecoder("utf-8")("strict")
    stop = start + 4 * chars + 4
    try:
        return dec.decode(data[start:stop], final=stop >= len(data))[:chars]
    except UnicodeDecodeError:
        return None


def _parse_lines(data: bytes, start: int, begins: np.ndarray, ends: np.ndarray, delimiter: str) -> list[list[str]] | None:
    """Parse single lines with :mod:`csv` (None if a record does not stay on its line)."""
    if begins.size == 0:
        return []
    try:
        text = b"\n".join([data[start + b:start + e] for b, e in zip(begins.tolist(), ends.tolist())]).decode("utf-8") + "\n"
    except UnicodeDecodeError:
        return None
    records = list(csv.reader(_io.StringIO(text, newline=""), delimiter=delimiter))
    # as many records as lines means no line break was quoted, except possibly the last one
    if len(records) != begins.size or any("\n" in f or "\r" in f for f in records[-1]):
        return None
    return records


def _irregular_quote_lines(arr: np.ndarray, nl: np.ndarray, begins: np.ndarray, ends: np.ndarray, delim: int) -> np.ndarray:
    """Lines whose quoting is not plain RFC 4180 (and so must be checked against :mod:`csv`).

    A line is regular when it holds an even number of quote characters and, counting them
    in order, every opening quote (1st, 3rd, ...) starts a field (line start, after a
    delimiter, or right after a closing quote: a doubled ``""``) and every closing quote
    ends one (line end, before a delimiter, or right before an opening quote).  Both
    parsers read such a line the same way: fields split at delimiters outside quotes,
    quotes removed, ``""`` read as ``"``.  Scanned in slices of whole lines.
    """
    out = []
    n_lines = begins.size
    step = max(1, int(n_lines * _CHUNK / max(arr.size, 1)))
    for lo in range(0, n_lines, step):
        hi = min(n_lines, lo + step)
        b0, b1 = int(begins[lo]), int(ends[hi - 1])
        q = np.flatnonzero(arr[b0:b1] == 34) + b0
        if q.size == 0:
            continue
        line = np.searchsorted(nl, q)
        new_line = np.empty(q.size, dtype=bool)
        new_line[0] = True
        new_line[1:] = line[1:] != line[:-1]
        heads = np.flatnonzero(new_line)
        rank = np.arange(q.size) - np.repeat(heads, np.diff(np.append(heads, q.size)))
        opening = rank % 2 == 0
        prev = arr[np.maximum(q - 1, 0)]
        nxt = arr[np.minimum(q + 1, arr.size - 1)]
        ok = np.where(
            opening,
            (q == begins[line]) | (prev == delim) | (prev == 34),
            (q + 1 == ends[line]) | (nxt == delim) | (nxt == 34),
        )
        bad_lines = line[~ok]
        counts = np.bincount(line - lo, minlength=hi - lo)
        odd = np.flatnonzero(counts % 2 == 1) + lo
        out.append(np.union1d(bad_lines, odd))
    return np.unique(np.concatenate(out)) if out else np.zeros(0, dtype=np.int64)


def _decline(why: str) -> None:
    log.debug("fast CSV parser declined (%s); reading with the csv module", why)


def _read_csv_fast(data: bytes, start: int, delimiter: str) -> _Raw | None:
    """Parse UTF-8 CSV bytes with pyarrow; None when the result might differ from :mod:`csv`.

    Every non-empty physical line must be one record for both parsers; lines holding a
    quote character are parsed again by :mod:`csv` and must agree field by field; records
    pyarrow finds with the wrong number of fields (short, long or whitespace-only lines)
    are parsed by :mod:`csv` and handled like :func:`_read_csv_slow` does.
    """
    pa, pc = _pa()
    import pyarrow.csv as pacsv

    size = len(data) - start
    if size <= 0 or data.find(b"\x00", start) >= 0 or data.startswith(_UTF8_BOM, start):
        return _decline("empty file, NUL byte or byte-order mark")
    n_cr = data.count(b"\r", start)
    if n_cr and n_cr != data.count(b"\r\n", start):
        return _decline("carriage return outside CRLF")
    arr = np.frombuffer(data, dtype=np.uint8, offset=start)
    nl = _find_byte(arr, 10)
    begins = np.concatenate([[0], nl + 1])
    ends = nl
    if begins[-1] < size:
        ends = np.append(nl, size)
    else:
        begins = begins[:-1]
    if n_cr:
        ends = ends - ((ends > begins) & (arr[np.maximum(ends - 1, 0)] == 13))
    length = ends - begins
    if length.size == 0 or length[0] == 0 or length.max() > csv.field_size_limit():
        return _decline("blank first line or a line longer than csv.field_size_limit()")
    nonempty = np.flatnonzero(length > 0)
    header = _parse_lines(data, start, begins[:1], ends[:1], delimiter)
    if not header or len(header[0]) < 2:
        return _decline("header with fewer than two fields or a quoted line break")
    width = len(header[0])
    names = [f"f{i}" for i in range(width)]

    invalid: list[int | None] = []

    def handler(row) -> str:
        invalid.append(row.number)
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.py_buffer(memoryview(data)[start:]),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True, use_threads=False, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char='"', double_quote=True, escape_char=False,
                                             newlines_in_values=False, ignore_empty_lines=True, invalid_row_handler=handler),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in names}, strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False, check_utf8=True, auto_dict_encode=False),
        )
    except (pa.ArrowException, ValueError, TypeError) as exc:
        return _decline(f"pyarrow: {exc}")
    if table.column_names != names or table.num_rows + len(invalid) != nonempty.size or None in invalid or table.num_rows == 0:
        return _decline("records are not one per line")
    inv_rec = np.asarray(invalid, dtype=np.int64) - 1  # 0-based record (= non-empty line) index, header 0
    if inv_rec.size and (inv_rec.min() < 1 or np.unique(inv_rec).size != inv_rec.size):
        return _decline("unexpected invalid-row numbers")
    is_inv = np.zeros(nonempty.size, dtype=bool)
    is_inv[inv_rec] = True
    table_pos = np.cumsum(~is_inv) - 1  # row of the pyarrow table holding each valid record
    # lines holding a quote: csv must read the same fields as pyarrow
    if data.find(b'"', start) >= 0:
        q_line = _irregular_quote_lines(arr, nl, begins, ends, ord(delimiter))
        rank = np.cumsum(length > 0) - 1
        q_rec = rank[q_line]
        q_rec = q_rec[~is_inv[q_rec]]
        q_lines = nonempty[q_rec]
        parsed = _parse_lines(data, start, begins[q_lines], ends[q_lines], delimiter)
        if parsed is None:
            return _decline("a quoted line break")
        got = table.take(pa.array(table_pos[q_rec])).to_pylist()
        for fields, row in zip(parsed, got):
            if fields != [row[c] for c in names]:
                return _decline("the parsers read a quoted line differently")
    first = [table.column(c)[0].as_py() for c in names]
    if first != header[0]:
        return _decline("the parsers read the header differently")

    # records pyarrow skipped: blank (whitespace-only) lines, short rows, long rows
    inv_rec.sort()
    inv_lines = nonempty[inv_rec]
    inv_fields = _parse_lines(data, start, begins[inv_lines], ends[inv_lines], delimiter)
    if inv_fields is None:
        return _decline("a quoted line break in a short or long row")
    blank_rec: list[int] = []
    extra_rec: list[int] = []
    extra_rows: list[list[str]] = []
    malformed_at: dict[int, int] = {}
    for rec, fields in zip(inv_rec.tolist(), inv_fields):
        if not fields or (len(fields) == 1 and fields[0].strip() == ""):
            blank_rec.append(rec)
            continue
        if len(fields) == width:
            return _decline("the parsers count the fields of a line differently")
        extra_rec.append(rec)
        if len(fields) > width and any(f.strip() for f in fields[width:]):
            malformed_at[rec] = len(fields)
            extra_rows.append(fields[:width])
        else:
            fields = (fields + [""] * (width - len(fields)))[:width]
            extra_rows.append([f.strip() for f in fields])

    keep = np.ones(nonempty.size, dtype=bool)
    keep[0] = False
    keep[np.asarray(blank_rec, dtype=np.int64)] = False
    kept_rec = np.flatnonzero(keep)
    # the kept short/long rows go between the valid rows: valid_rec[:at[k]] come before extra k
    valid_rec = np.flatnonzero(~is_inv)[1:]
    at = np.searchsorted(valid_rec, np.asarray(extra_rec, dtype=np.int64))
    position = np.full(nonempty.size, -1, dtype=np.int64)
    position[kept_rec] = np.arange(kept_rec.size)
    malformed = {int(position[r]): k for r, k in malformed_at.items()}

    columns = _dedupe([h.strip() for h in header[0]])
    cols: dict[str, Any] = {}
    for k, name in enumerate(columns):
        values = _strip(_text_array(table.column(0).slice(1)))
        table = table.drop_columns([names[k]])  # frees the parsed column: one column copy at a time
        if extra_rec:
            extra = pa.array([row[k] for row in extra_rows], type=pa.large_string())
            values = _interleave(values, extra, at)
        cols[name] = values
    del table
    _release_arrow_memory()
    blank = int((length == 0).sum()) + len(blank_rec)
    meta = {"format": "csv", "delimiter": delimiter, "blank_lines_skipped": blank, "parser": "pyarrow"}
    n = int(kept_rec.size)
    return _Raw(columns=columns, cols=cols, n=n, meta=meta, malformed=malformed)


def _interleave(values, extra, at: np.ndarray):
    """``values`` with ``extra[k]`` inserted before ``values[at[k]]`` (``at`` sorted)."""
    pa, _ = _pa()
    parts = []
    start = 0
    for k, stop in enumerate(at.tolist()):
        if stop > start:
            parts.append(values.slice(start, stop - start))
        parts.append(extra.slice(k, 1))
        start = stop
    if start < len(values):
        parts.append(values.slice(start))
    return pa.concat_arrays(parts)


def _read_csv_slow(text: str, delimiter: str, path: Path) -> _Raw:
    """Parse decoded CSV text with :mod:`csv` (the reference reader)."""
    reader = csv.reader(_io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        msg = f"'{path}' is empty: no header row and no data. Export the firm table with a header row."
        raise InputError(msg) from None
    header = [h.strip() for h in header]
    width = len(header)
    rows: list[list[str]] = []
    malformed: dict[int, int] = {}
    blank = 0
    n = 0
    for fields in reader:
        if not fields or (len(fields) == 1 and fields[0].strip() == ""):
            blank += 1
            continue
        n += 1
        if len(fields) > width and any(f.strip() for f in fields[width:]):
            malformed[n - 1] = len(fields)
            rows.append(fields[:width])
            continue
        if len(fields) < width:
            fields = fields + [""] * (width - len(fields))
        rows.append([f.strip() for f in fields[:width]])
    columns = _dedupe(header)
    by_column = list(zip(*rows)) if rows else [() for _ in columns]
    cols = {name: _text_array(list(values)) for name, values in zip(columns, by_column)}
    meta = {"format": "csv", "delimiter": delimiter, "blank_lines_skipped": blank, "parser": "csv"}
    return _Raw(columns=columns, cols=cols, n=n, meta=meta, malformed=malformed)


def _utf8_start(data: bytes, encoding: str | None) -> tuple[int | None, str | None]:
    """(offset, encoding name) when ``data`` is to be read as UTF-8 bytes as they are."""
    if encoding is not None:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            return None, None
        return (0, encoding) if codec == "utf-8" else (None, None)
    if data.startswith(_UTF8_BOM):
        return 3, "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, None
    return 0, "utf-8"


def _read_text_table(path: Path, encoding: str | None, *, fast: bool = True) -> _Raw:
    """Read a CSV/TSV file: decode (BOMs, UTF-8, GB18030), sniff the delimiter, parse.

    UTF-8 bytes go to the fast parser as they are; other encodings are decoded and
    re-encoded as UTF-8 first.  When the fast parser declines, :mod:`csv` reads the text.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        msg = f"Cannot read '{path}': {exc.strerror}. Check the file's permissions."
        raise DataFileError(msg) from None
    suffix = path.suffix.lower()
    raw = None
    tried = None
    if fast:
        start, used = _utf8_start(data, encoding)
        sample = _utf8_prefix(data, start, 65536) if start is not None else None
        if sample is not None:
            tried = used
            raw = _read_csv_fast(data, start, _sniff_delimiter(sample, suffix))
            if raw is not None:
                raw.meta["encoding"] = used
    if raw is None:
        text, used = _decode(data, encoding, path)
        del data
        delimiter = _sniff_delimiter(text, suffix)
        if fast and used != tried:
            raw = _read_csv_fast(text.encode("utf-8"), 0, delimiter)
        if raw is None:
            raw = _read_csv_slow(text, delimiter, path)
        raw.meta["encoding"] = used
    log.debug("parsed %s with %s", path, raw.meta["parser"])
    raw.meta = {"format": "csv", "encoding": raw.meta["encoding"], "delimiter": raw.meta["delimiter"],
                "blank_lines_skipped": raw.meta["blank_lines_skipped"]}
    return raw


# ----------------------------------------------------------------------------- other formats
def _column_from_series(values: pd.Series):
    """One column of a pandas frame as text, exactly as ``_as_text`` makes it."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind == "f":
            return _Floats(values.to_numpy(dtype=np.float64))
        if dtype.kind in "iu":
            pa, _ = _pa()
            return _text_array(pa.array(values.to_numpy()))
        if dtype.kind == "b":
            arr = values.to_numpy()
            return _text_array(np.where(arr, "True", "False").tolist())
    elif isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        pa, _ = _pa()
        return _strip(_text_array(pa.array(values.array)))
    return _text_array(_as_text(values).tolist())


def _raw_from_frame(frame: pd.DataFrame, meta: dict, geometry=None, layer_crs=None) -> _Raw:
    columns = [str(c) for c in frame.columns]
    cols = {name: _column_from_series(frame.iloc[:, k]) for k, name in enumerate(columns)}
    return _Raw(columns=columns, cols=cols, n=len(frame), meta=meta, geometry=geometry, layer_crs=layer_crs)


def _read_any_table(path: Path, *, encoding: str | None, sheet: str | int | None) -> _Raw:
    """Read any supported firm table into text columns (plus geometry for point layers)."""
    suffix = path.suffix.lower()
    if suffix in _TABLE_SUFFIXES:
        return _read_text_table(path, encoding)
    if suffix in _EXCEL_SUFFIXES:
        try:
            import openpyxl  # noqa: F401
        except ImportError:  # pragma: no cover - declared dependency
            msg = "Reading Excel needs openpyxl: pip install openpyxl."
            raise DataFileError(msg) from None
        try:
            book = pd.ExcelFile(path)
        except Exception as exc:  # openpyxl raises many types
            msg = f"Cannot read '{path}' as an Excel workbook ({type(exc).__name__}: {exc}). Save it as .xlsx or CSV."
            raise DataFileError(msg) from None
        sheets = book.sheet_names
        chosen = sheets[0] if sheet is None else sheet
        if isinstance(chosen, int):
            if not 0 <= chosen < len(sheets):
                msg = f"'{path}' has {len(sheets)} sheet(s) {sheets}; sheet={chosen} does not exist."
                raise DataFileError(msg)
            chosen = sheets[chosen]
        if chosen not in sheets:
            msg = f"'{path}' has no sheet {chosen!r}; its sheets are {sheets}. Pass sheet= one of them."
            raise DataFileError(msg)
        frame = pd.read_excel(book, sheet_name=chosen, dtype=object, keep_default_na=False, na_values=[])
        frame.columns = _dedupe([str(c).strip() for c in frame.columns])
        frame = frame.dropna(how="all")
        frame = frame.reset_index(drop=True)
        return _raw_from_frame(frame, {"format": "excel", "sheet": str(chosen)})
    if suffix in _PARQUET_SUFFIXES:
        import pyarrow.parquet as pq

        try:
            schema = pq.read_schema(path)
        except Exception as exc:
            msg = f"Cannot read '{path}' as Parquet ({exc}). Check the file is a Parquet file."
            raise DataFileError(msg) from None
        if schema.metadata and b"geo" in schema.metadata:
            import geopandas as gpd

            gdf = gpd.read_parquet(path)
            geom = gdf.geometry
            frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
            return _raw_from_frame(frame, {"format": "geoparquet"}, geom.values, gdf.crs)
        frame = pd.read_parquet(path)
        return _raw_from_frame(frame, {"format": "parquet"})
    if suffix in _VECTOR_SUFFIXES:
        import pyogrio

        try:
            gdf = pyogrio.read_dataframe(path)
        except Exception as exc:
            msg = f"Cannot read '{path}' as a vector layer ({exc}). Check the file opens in QGIS."
            raise DataFileError(msg) from None
        if "geometry" in gdf and gdf.geometry.notna().any():
            frame = pd.DataFrame(gdf.drop(columns="geometry"))
            return _raw_from_frame(frame, {"format": "vector"}, gdf.geometry.values, gdf.crs)
        frame = pd.DataFrame(gdf.drop(columns="geometry", errors="ignore"))
        return _raw_from_frame(frame, {"format": "vector-table"})
    msg = (
        f"Unknown firm table format '{suffix}' for '{path}'. Use CSV/TSV, Excel (.xlsx), Parquet, "
        "GeoPackage, Shapefile or GeoJSON."
    )
    raise DataFileError(msg)


def _find_column(columns: list[str], given: str | None, candidates: tuple[str, ...], what: str, path: Path) -> str:
    if given is not None:
        if given in columns:
            return given
        lowered = {c.lower(): c for c in columns}
        if given.lower() in lowered:
            return lowered[given.lower()]
        msg = f"Column {given!r} ({what}) is not in '{path}'; its columns are {columns}."
        raise ColumnError(msg)
    hits = [c for c in columns if c.strip().lower() in candidates]
    if len(hits) > 1:
        msg = (
            f"Several columns in '{path}' could hold the {what}: {hits}. "
            f"Say which with {'lon' if what == 'longitude' else 'lat'}=<column>."
        )
        raise ColumnError(msg)
    if not hits:
        msg = (
            f"No {what} column in '{path}': looked for {list(candidates)} (any case) among {columns}. "
            f"Name it with {'lon' if what == 'longitude' else 'lat'}=<column>."
        )
        raise ColumnError(msg)
    return hits[0]


_SYSTEM_ALIASES = {
    "wgs84": "wgs84", "wgs-84": "wgs84", "wgs 84": "wgs84", "epsg:4326": "wgs84", "4326": "wgs84",
    "gcj02": "gcj02", "gcj-02": "gcj02", "gcj": "gcj02", "mars": "gcj02", "amap": "gcj02",
    "bd09": "bd09", "bd-09": "bd09", "baidu": "bd09", "bd09ll": "bd09",
}


def _normalise_systems(col, default: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Per-row coordinate systems: (system array, bad-value mask, codes, distinct texts)."""
    codes, texts = _col_categories(col)
    out, bad = [], []
    for t in texts:
        key = t.strip().lower()
        mapped = _SYSTEM_ALIASES.get(key)
        bad.append(key != "" and mapped is None)
        out.append(default if mapped is None else mapped)
    systems = np.array(out, dtype=object)[codes] if len(texts) else np.zeros(0, dtype=object)
    return systems, np.array(bad, dtype=bool)[codes], codes, texts


def _infer_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn text columns that are wholly numeric into numbers (ids and codes stay text).

    The reference rules; :func:`_output_column` applies them column by column, vectorised.
    """
    out = {}
    for name in frame.columns:
        col = frame[name]
        lname = str(name).lower()
        if col.dtype != object or lname == "id" or lname.endswith(("_id", "id")) or "code" in lname:
            out[name] = col
            continue
        text = col.astype(str)
        nonempty = text[text != ""]
        if nonempty.empty or nonempty.str.match(r"^[+-]?0\d").any():
            out[name] = col
            continue
        num = pd.to_numeric(nonempty, errors="coerce")
        if num.isna().any():
            out[name] = col
            continue
        full = pd.to_numeric(text.where(text != ""), errors="coerce")
        with np.errstate(invalid="ignore"):  # inf % 1 is nan: not integral
            integral = np.all(np.mod(num.to_numpy(dtype=float), 1) == 0)
        if integral:
            full = full.astype("Int64") if full.isna().any() else full.astype("int64")
        out[name] = full
    return pd.DataFrame(out, index=frame.index)


def _swap_inputs(lon: np.ndarray, lat: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) of the valid, in-range, non-(0, 0) rows: they set the swap-check extent."""
    in_range = ok & (np.abs(lon) <= 180) & (np.abs(lat) <= 90) & ~((lon == 0) & (lat == 0))
    return lon[in_range], lat[in_range]


def _swap_box(lon: np.ndarray, lat: np.ndarray) -> tuple[float, float, float, float] | None:
    """The 1st and 99th percentiles of lon and lat of the rows of :func:`_swap_inputs`."""
    if lon.size < 5:
        return None
    lo_lon, hi_lon = np.nanpercentile(lon, [1, 99])
    lo_lat, hi_lat = np.nanpercentile(lat, [1, 99])
    return float(lo_lon), float(hi_lon), float(lo_lat), float(hi_lat)


def _swap_apply(lon: np.ndarray, lat: np.ndarray, ok: np.ndarray, box: tuple[float, float, float, float] | None) -> np.ndarray:
    """Rows whose lon/lat are swapped, judged by the extent ``box`` of the other rows (see read_firms)."""
    if box is None:
        return np.zeros_like(ok)
    lo_lon, hi_lon, lo_lat, hi_lat = box
    pad_lon = max(0.5 * (hi_lon - lo_lon), 0.5)
    pad_lat = max(0.5 * (hi_lat - lo_lat), 0.5)

    def inside(x, y):
        return (x >= lo_lon - pad_lon) & (x <= hi_lon + pad_lon) & (y >= lo_lat - pad_lat) & (y <= hi_lat + pad_lat)

    swapped_ok = ok & (np.abs(lat) <= 180) & (np.abs(lon) <= 90) & inside(lat, lon)
    return swapped_ok & ~inside(lon, lat)


def _duplicates(cols: list, n: int, prefilter: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(duplicate mask, index of the first equal row) for rows equal in every column.

    Exact grouping, refined one column at a time: after each column only rows that still
    share their group with another row stay candidates, so after the first (most distinct)
    columns the remaining work is on a handful of rows.  ``prefilter``, when given, is a
    uint64 key per row that is equal for equal rows (e.g. the bits of the parsed
    coordinates): rows whose key no other row has are dropped first, with one sort.
    """
    pa, pc = _pa()
    idx = np.arange(n)
    if prefilter is not None and n > 1:
        ordered = np.sort(prefilter)
        repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
        if repeated.size:
            pos = np.minimum(np.searchsorted(repeated, prefilter), repeated.size - 1)
            idx = np.flatnonzero(repeated[pos] == prefilter)
        else:
            idx = idx[:0]
    group = np.zeros(idx.size, dtype=np.int64)
    for col in cols:
        if idx.size == 0:
            break
        if isinstance(col, _Floats):
            key = _col_key(_Floats(col.values[idx]))
        elif idx.size == n:
            key = _col_key(col)
        else:
            key = _col_key(col.take(pa.array(idx)))
        kc, uniq = pd.factorize(key)
        group, _ = pd.factorize(group * np.int64(len(uniq) + 1) + kc)
        shared = np.bincount(group)[group] > 1
        idx = idx[shared]
        group, _ = pd.factorize(group[shared])
    dup = np.zeros(n, dtype=bool)
    first = np.arange(n)
    if idx.size:
        g, heads = _first_of_groups(group)
        dup[idx] = heads[g] != np.arange(idx.size)
        first[idx] = idx[heads[g]]
    return dup, first


def _float_bits(values: np.ndarray) -> np.ndarray:
    """uint64 bits of floats, every NaN the same."""
    bits = values.view(np.uint64).copy()
    bits[np.isnan(values)] = np.uint64(_NAN_BITS)
    return bits


def _first_of_groups(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group of each row, first row of each group), groups numbered in order of appearance."""
    group, _ = pd.factorize(key)
    if group.size == 0:
        return group, np.zeros(0, dtype=np.int64)
    running = np.maximum.accumulate(group)
    new = np.empty(group.size, dtype=bool)
    new[0] = True
    new[1:] = running[1:] > running[:-1]
    return group, np.flatnonzero(new)


def _stacked_groups(x: np.ndarray, y: np.ndarray, stacked_min: int) -> tuple[np.ndarray, int]:
    """Rows sharing an exact (x, y) (rounded to 1e-7 degrees) with >= stacked_min rows; number of sites.

    One sort of a 64-bit hash of each pair finds the candidates (a hash is equal for equal
    pairs, so no stacked row is missed); the candidates are then grouped exactly.
    """
    ok = np.isfinite(x) & np.isfinite(y)
    hit = np.zeros(x.size, dtype=bool)
    if not ok.any():
        return hit, 0
    rx = np.round(x[ok], 7) + 0.0  # + 0.0: -0.0 and 0.0 are one place
    ry = np.round(y[ok], 7) + 0.0
    with np.errstate(over="ignore"):
        h = (rx.view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ ry.view(np.uint64)
    ordered = np.sort(h)
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    counts = np.diff(np.r_[starts, ordered.size])
    crowded = ordered[starts[counts >= stacked_min]]
    if crowded.size == 0:
        return hit, 0
    pos = np.minimum(np.searchsorted(crowded, h), crowded.size - 1)
    cand = np.flatnonzero(crowded[pos] == h)
    group, _ = pd.factorize(rx[cand] + 1j * ry[cand])
    size = np.bincount(group)
    keep = size[group] >= stacked_min
    hit[np.flatnonzero(ok)[cand[keep]]] = True
    return hit, int(np.unique(group[keep]).size)


# ----------------------------------------------------------------------------- firms
def read_firms(
    path: str | os.PathLike,
    *,
    lon: str | None = None,
    lat: str | None = None,
    crs: Any = "wgs84",
    encoding: str | None = None,
    sheet: str | int | None = None,
    id: str | None = None,  # noqa: A002 - the public API name
    drop_stacked: bool = False,
    stacked_min: int = _STACKED_MIN,
    coord_sys_column: str = "coord_sys",
    geometry: bool = True,
):
    """Read a geocoded firm table, validate every row and return firms in WGS84.

    Parameters
    ----------
    path : str or path-like
        CSV/TSV (delimiter sniffed), Excel (.xlsx), Parquet/GeoParquet, GeoPackage,
        Shapefile or GeoJSON.  Point layers use their geometry; tables use coordinate columns.
    lon, lat : str, optional
        Coordinate columns.  Found automatically when not given among
        ``lon/lng/long/longitude/x/经度`` and ``lat/latitude/y/纬度`` (any case);
        more than one candidate is an error listing them.
    crs : str, int or pyproj.CRS, default "wgs84"
        Coordinate system of the input: "wgs84", "gcj02" (Amap, Tencent), "bd09" (Baidu) or
        any EPSG code / pyproj CRS (projected x/y are transformed).  A per-row
        ``coord_sys`` column, when present, overrides it row by row.
    encoding : str, optional
        Text encoding of a CSV.  Detected when not given: BOMs (UTF-8, UTF-16), then UTF-8,
        then GB18030 (which reads GBK/GB2312 exports of Chinese Excel).
    sheet : str or int, optional
        Excel sheet (default the first).
    id : str, optional
        Firm id column (default ``firm_id`` when present, else ids are the row numbers).
        Rows with an empty id are rejected.
    drop_stacked : bool, default False
        Reject stacked geocodes instead of flagging them.
    stacked_min : int, default 10
        A coordinate shared exactly by at least this many different firms is a stacked
        geocode (typically a geocoder's fallback to a district or city centre).
    geometry : bool, default True
        False: return a :class:`geo.points.PointFrame` (the same table, its points the
        ``lon``/``lat`` columns) instead of a GeoDataFrame, without a shapely point per firm
        (about 200 bytes each; what ``geo run`` does).  Every stage accepts either.

    Returns
    -------
    geopandas.GeoDataFrame or geo.points.PointFrame
        One row per kept firm in EPSG:4326, indexed by the 1-based input row number
        (``row``; the header is not counted).  Columns: the input's columns (wholly numeric
        text columns converted to numbers; ids, codes and other text as pandas strings),
        ``lon`` and ``lat`` in WGS84, ``coord_sys`` (the system the row was read in),
        ``swapped`` (lat/lon fixed) and ``stacked``.  ``attrs["rejects"]`` is a DataFrame of
        every rejected row (``row``, ``reason``, ``detail`` and the raw values) and
        ``attrs["load_report"]`` a dict of counts by outcome;
        ``rows_read == rows_kept + rows_rejected``.

    Notes
    -----
    Checks, in order, each row getting the first reason that applies (see
    :data:`REJECT_REASONS`): malformed row, exact duplicate of an earlier row, missing id,
    missing coordinate, not a number, unknown ``coord_sys``, (0, 0), out of range.
    A row whose latitude and longitude are swapped is *fixed*, not rejected, when the
    swapped pair is valid and lies within the extent of the other rows (1st–99th
    percentile box widened by half its size) while the pair as given does not.

    Blank lines of a CSV are skipped (and counted in the load report); they get no row
    number.  Large tables are read column by column (pyarrow) and validated with vectorised
    checks; 1,000,000 rows take a few seconds (see ``docs/benchmarks.md``).

    Examples
    --------
    >>> import geo
    >>> from geo.datasets import demo_files
    >>> firms = geo.read_firms(demo_files()["firms"])
    >>> r = firms.attrs["load_report"]
    >>> r["rows_read"] == r["rows_kept"] + r["rows_rejected"]
    True
    """
    p = _check_file(path, "Firm table")
    t0 = time.perf_counter()
    raw = _read_any_table(p, encoding=encoding, sheet=sheet)
    if raw.n == 0:
        msg = f"'{p}' has a header but no data rows. Check the export."
        raise InputError(msg)
    system_default = _crs.parse_crs(crs)
    t1 = time.perf_counter()
    firms = _validate(raw, p, lon=lon, lat=lat, system_default=system_default, id=id, drop_stacked=drop_stacked,
                      stacked_min=stacked_min, coord_sys_column=coord_sys_column, geometry=geometry)
    log.debug("read_firms %s: parse %.2f s, validate %.2f s", p, t1 - t0, time.perf_counter() - t1)
    return firms


class _Validation:
    """The validation of one raw table, in steps.

    :func:`_validate` runs every step on a whole table.  The steps that depend on other rows
    (exact duplicates, the swapped-coordinates box, stacked geocodes) take their decision
    as an argument, so that the dask engine (:mod:`geo.dask_engine`) can run the row-wise
    steps on each partition and make those decisions over all partitions, with identical
    results.  ``rows`` are the 1-based row numbers in the whole file.
    """

    keys = list(REJECT_REASONS) + ["stacked"]

    def __init__(self, raw: _Raw, p: Path, *, lon, lat, system_default, id, coord_sys_column, row_offset: int = 0):  # noqa: A002
        self.raw = raw
        self.p = p
        self.lon, self.lat = lon, lat
        self.system_default = system_default
        self.id = id
        self.coord_sys_column = coord_sys_column
        n = raw.n
        self.n = n
        self.rows = np.arange(row_offset + 1, row_offset + n + 1)
        self.code = np.zeros(n, dtype=np.int8)  # 0: kept; k: keys[k - 1]
        self.detail = np.full(n, "", dtype=object)
        self.numeric: dict[str, np.ndarray] = {}
        self.meta = dict(raw.meta)
        self.swapped = np.zeros(n, dtype=bool)
        self.stacked = np.zeros(n, dtype=bool)
        self.stacked_sites = 0
        self.lon_col = self.lat_col = self.id_col = None
        for i, k in sorted(raw.malformed.items()):
            self.code[i] = self.keys.index("malformed_row") + 1
            self.detail[i] = f"{k} fields, header has {len(raw.columns)}"

    def reject(self, mask: np.ndarray, key: str, info: str | Callable[[np.ndarray], list[str]] | None = None) -> None:
        code, detail = self.code, self.detail
        idx = np.flatnonzero(mask & (code == 0))
        if idx.size == 0:
            return
        code[idx] = self.keys.index(key) + 1
        if info is None:
            detail[idx] = REJECT_REASONS[key]
        elif isinstance(info, str):
            detail[idx] = info
        else:
            values = np.empty(idx.size, dtype=object)
            values[:] = info(idx)
            detail[idx] = values

    # -- duplicates ---------------------------------------------------------------------
    def duplicate_keys(self) -> tuple[list, np.ndarray | None]:
        """(key columns, prefilter) of the exact-duplicate check.

        Equal rows have equal parsed coordinates, so the (likely) coordinate columns give
        a uint64 prefilter key that is equal for equal rows.
        """
        raw = self.raw
        columns, cols = raw.columns, raw.cols
        coord_like = [c for c in columns if c in (self.lon, self.lat) or c.strip().lower() in LON_CANDIDATES + LAT_CANDIDATES][:2]
        prefilter = None
        with np.errstate(over="ignore"):
            for c in coord_like:
                if c not in self.numeric:
                    self.numeric[c] = _col_numeric(cols[c])
                bits = _float_bits(self.numeric[c])
                prefilter = bits if prefilter is None else (prefilter * np.uint64(0x9E3779B97F4A7C15)) ^ bits
        preferred = [c for c in columns if c.lower() in ("firm_id", "id")]
        preferred += [c for c in coord_like if c not in preferred]
        key_cols = [cols[c] for c in preferred] + [cols[c] for c in columns if c not in preferred]
        if raw.geometry is not None:
            import shapely

            wkb = shapely.to_wkb(raw.geometry, hex=True)
            key_cols.insert(0, _text_array([w if w is not None else "" for w in wkb]))
        return key_cols, prefilter

    def duplicates(self, dup: np.ndarray, first_row: np.ndarray) -> None:
        """Reject ``dup`` rows as exact duplicates of the rows ``first_row`` (row numbers)."""
        self.reject(dup, "duplicate", lambda idx: [f"exact duplicate of row {r}" for r in first_row[idx].tolist()])

    # -- row-wise checks ----------------------------------------------------------------
    def row_checks(self) -> None:
        """Firm id, coordinates present and numeric, coord_sys values, (0, 0)."""
        raw, p = self.raw, self.p
        columns, cols, n = raw.columns, raw.cols, self.n
        geometry = raw.geometry
        lon, lat, id = self.lon, self.lat, self.id  # noqa: A001
        if id is not None:
            id_col = _find_column(columns, id, (id.lower(),), "firm id", p)
        else:
            id_col = next((c for c in columns if c.lower() in ("firm_id", "id")), None)
        self.id_col = id_col
        if id_col is not None:
            self.reject(_col_empty(cols[id_col]), "missing_id")

        self.systems_given = self.coord_sys_column in columns
        if geometry is not None and lon is None and lat is None:
            import shapely

            gtype = shapely.get_type_id(geometry)
            missing = shapely.is_missing(geometry) | shapely.is_empty(geometry)
            notpoint = ~missing & (gtype != 0)
            self.reject(notpoint, "not_a_point", lambda idx: [
                f"geometry is {shapely.get_type_id(g) if g is None else g.geom_type}, expected Point" for g in geometry[idx]])
            self.reject(missing, "missing_coordinate", "feature has no geometry")
            ok_geom = ~missing & ~notpoint
            x = np.full(n, np.nan)
            y = np.full(n, np.nan)
            x[ok_geom] = shapely.get_x(geometry[ok_geom])
            y[ok_geom] = shapely.get_y(geometry[ok_geom])
            if self.system_default in ("gcj02", "bd09") or self.systems_given:
                src = self.system_default
            elif raw.layer_crs is not None:
                src = _crs.parse_crs(raw.layer_crs)
            else:
                src = self.system_default
            self.meta["geometry"] = "point layer"
        else:
            lon_col = _find_column(columns, lon, LON_CANDIDATES, "longitude", p)
            lat_col = _find_column(columns, lat, LAT_CANDIDATES, "latitude", p)
            self.lon_col, self.lat_col = lon_col, lat_col
            missing = _col_empty(cols[lon_col]) | _col_empty(cols[lat_col])
            self.reject(missing, "missing_coordinate")
            numeric = self.numeric
            x = numeric[lon_col] if lon_col in numeric else _col_numeric(cols[lon_col])
            y = numeric[lat_col] if lat_col in numeric else _col_numeric(cols[lat_col])
            numeric.clear()
            nan = ~np.isfinite(x) | ~np.isfinite(y)

            def nan_info(idx: np.ndarray) -> list[str]:
                a, b = _col_take_text(cols[lon_col], idx), _col_take_text(cols[lat_col], idx)
                return [f"lon={u!r}, lat={v!r}" for u, v in zip(a, b)]

            self.reject(nan & ~missing, "not_a_number", nan_info)
            src = self.system_default
        self.src = src

        if isinstance(src, str):
            if self.systems_given:
                systems, bad_sys, sys_codes, sys_texts = _normalise_systems(cols[self.coord_sys_column], src)
                self.reject(bad_sys, "unknown_coord_sys",
                            lambda idx: [f"coord_sys={sys_texts[c]!r}; use wgs84, gcj02 or bd09" for c in sys_codes[idx].tolist()])
            else:
                systems = np.full(n, src, dtype=object)
        else:
            systems = np.full(n, "epsg", dtype=object)
        self.systems = systems
        self.reject((x == 0) & (y == 0), "zero_zero")
        self.x, self.y = x, y

    # -- swapped coordinates, range, conversion -----------------------------------------
    def swap_candidates(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(lon, lat) of the rows that set the extent of the swapped-coordinates check."""
        if not isinstance(self.src, str):
            return None
        return _swap_inputs(self.x, self.y, self.code == 0)

    def convert(self, box: tuple[float, float, float, float] | None) -> None:
        """Fix swapped pairs (given the extent ``box``), reject out-of-range, convert to WGS84."""
        x, y, n, src = self.x, self.y, self.n, self.src
        pending = self.code == 0
        lon_w = np.full(n, np.nan)
        lat_w = np.full(n, np.nan)
        if isinstance(src, str):
            swapped = _swap_apply(x, y, pending, box)
            x, y = np.where(swapped, y, x), np.where(swapped, x, y)
            out = pending & ((np.abs(x) > 180) | (np.abs(y) > 90))
            self.reject(out, "out_of_range", lambda idx: [f"lon={a}, lat={b}" for a, b in zip(x[idx], y[idx])])
            pending = self.code == 0
            if pending.any():
                lon_w[pending], lat_w[pending] = _crs.to_wgs84_per_row(x[pending], y[pending], self.systems[pending])
            self.swapped = swapped
        else:
            from pyproj import Transformer

            tr = Transformer.from_crs(src, "EPSG:4326", always_xy=True)
            if pending.any():
                lon_w[pending], lat_w[pending] = tr.transform(x[pending], y[pending])
            out = pending & (~np.isfinite(lon_w) | ~np.isfinite(lat_w) | (np.abs(lon_w) > 180) | (np.abs(lat_w) > 90))
            self.reject(out, "out_of_range", f"outside the valid area of {src.to_string()}")
            self.systems = np.full(n, src.to_string(), dtype=object)
        self.x = self.y = None
        self.lon_w, self.lat_w = lon_w, lat_w

    # -- stacked geocodes ---------------------------------------------------------------
    def set_stacked(self, hit: np.ndarray, sites: int, drop: bool) -> None:
        """Flag (or with ``drop`` reject) the rows ``hit`` as stacked geocodes."""
        self.stacked = hit
        self.stacked_sites = int(sites)
        if drop:
            self.reject(hit, "stacked", "stacked geocode (dropped by drop_stacked=True)")

    # -- outputs ------------------------------------------------------------------------
    def rejects(self) -> pd.DataFrame:
        cols = self.raw.cols
        rej_idx = np.flatnonzero(self.code != 0)
        rejects = pd.DataFrame({c: pd.Series(_col_take_text(cols[c], rej_idx), dtype=object) for c in self.raw.columns})
        reason = np.array(self.keys, dtype=object)[self.code[rej_idx] - 1] if rej_idx.size else np.zeros(0, dtype=object)
        rejects.insert(0, "detail", self.detail[rej_idx])
        rejects.insert(0, "reason", reason)
        rejects.insert(0, "row", self.rows[rej_idx])
        return rejects.reset_index(drop=True)

    def firms(self, *, geometry: bool = True):
        """The kept firms (releases the raw columns).  ``geometry=False``: a plain DataFrame."""
        import geopandas as gpd

        raw = self.raw
        columns, cols = raw.columns, raw.cols
        kept = self.code == 0
        kept_idx = np.flatnonzero(kept)
        drop = {c for c in (self.lon_col, self.lat_col) if c is not None} | {"lon", "lat", "coord_sys", "swapped", "stacked"}
        index = pd.Index(self.rows[kept_idx], name="row")
        # each text column is released once typed: the kept rows are a copy of it
        body = pd.DataFrame({c: _output_column(c, cols.pop(c), kept) for c in columns if c not in drop}, index=index)
        cols.clear()
        _release_arrow_memory()
        if self.id_col is None:
            pa, pc = _pa()
            body.insert(0, "firm_id", _text_series_values(pc.cast(pa.array(self.rows[kept_idx]), pa.large_string())))
        body["lon"] = self.lon_w[kept_idx]
        body["lat"] = self.lat_w[kept_idx]
        body["coord_sys"] = self.systems[kept_idx]
        body["swapped"] = self.swapped[kept_idx]
        body["stacked"] = self.stacked[kept_idx]
        if not geometry:
            return body
        return gpd.GeoDataFrame(body, geometry=_gc.points(self.lon_w[kept_idx], self.lat_w[kept_idx]), crs="EPSG:4326")

    def counts(self) -> dict:
        """The additive parts of the load report."""
        kept = self.code == 0
        reasons = np.array(self.keys, dtype=object)[self.code[~kept] - 1]
        by_reason = pd.Series(reasons, dtype=object).value_counts().to_dict()
        sys_counts = pd.Series(self.systems[kept], dtype=object).value_counts().to_dict() if kept.any() else {}
        return {
            "rows_read": int(self.n),
            "rows_kept": int(kept.sum()),
            "rows_rejected": int((~kept).sum()),
            "rejected_by_reason": {str(k): int(v) for k, v in by_reason.items()},
            "fixed_swapped": int(self.swapped[kept].sum()),
            "stacked_rows": int(self.stacked[kept].sum()),
            "coord_systems": {str(k): int(v) for k, v in sys_counts.items()},
        }

    def columns_used(self) -> dict:
        return {"lon_column": self.lon_col, "lat_column": self.lat_col, "id_column": self.id_col}


def _load_report(p, meta: dict, columns_used: dict, system_default, counts: dict, stacked_sites: int) -> dict:
    """The load report of a whole table from the summed counts of its parts."""
    sys_counts = counts["coord_systems"]
    report = {
        "file": str(p),
        **meta,
        **columns_used,
        "crs": system_default if isinstance(system_default, str) else system_default.to_string(),
        "rows_read": counts["rows_read"],
        "rows_kept": counts["rows_kept"],
        "rows_rejected": counts["rows_rejected"],
        "rejected_by_reason": {str(k): int(v) for k, v in sorted(counts["rejected_by_reason"].items())},
        "fixed_swapped": counts["fixed_swapped"],
        "stacked_rows": counts["stacked_rows"],
        "stacked_sites": int(stacked_sites),
        "converted": {str(k): int(v) for k, v in sorted(sys_counts.items()) if k != "wgs84"},
        "coord_systems": {str(k): int(v) for k, v in sorted(sys_counts.items())},
    }
    if report["rows_read"] != report["rows_kept"] + report["rows_rejected"]:  # pragma: no cover - invariant
        msg = "internal error: rows read != kept + rejected"
        raise AssertionError(msg)
    return report


def _add_counts(total: dict, part: dict) -> dict:
    """Sum two :meth:`_Validation.counts` dicts."""
    out = dict(total)
    for k in ("rows_read", "rows_kept", "rows_rejected", "fixed_swapped", "stacked_rows"):
        out[k] = total.get(k, 0) + part[k]
    for k in ("rejected_by_reason", "coord_systems"):
        d = dict(total.get(k, {}))
        for key, v in part[k].items():
            d[key] = d.get(key, 0) + v
        out[k] = d
    return out


def _validate(raw: _Raw, p: Path, *, lon, lat, system_default, id, drop_stacked, stacked_min, coord_sys_column,  # noqa: A002
              geometry: bool = True):
    """Validate the rows of a raw table, convert coordinates and build the firm frame."""
    v = _Validation(raw, p, lon=lon, lat=lat, system_default=system_default, id=id, coord_sys_column=coord_sys_column)
    key_cols, prefilter = v.duplicate_keys()
    if key_cols:
        dup, first = _duplicates(key_cols, v.n, prefilter)
        v.duplicates(dup, v.rows[first])
    del key_cols, prefilter
    v.row_checks()
    cand = v.swap_candidates()
    v.convert(_swap_box(*cand) if cand is not None else None)
    pending = v.code == 0
    hit = np.zeros(v.n, dtype=bool)
    sites = 0
    if pending.any():
        h, sites = _stacked_groups(v.lon_w[pending], v.lat_w[pending], stacked_min)
        hit[np.flatnonzero(pending)[h]] = True
    v.set_stacked(hit, sites, drop_stacked)
    rejects = v.rejects()
    if geometry:
        firms = v.firms()
    else:
        from geo.points import PointFrame

        firms = PointFrame(v.firms(geometry=False), crs="EPSG:4326", xy=("lon", "lat"))
    report = _load_report(p, v.meta, v.columns_used(), system_default, v.counts(), v.stacked_sites)
    firms.attrs["load_report"] = report
    firms.attrs["rejects"] = rejects
    log.info("read %s: %d rows, %d kept, %d rejected", p, v.n, report["rows_kept"], report["rows_rejected"])
    return firms


# ----------------------------------------------------------------------------- parks
_PARK_NAME = ("name", "park", "park_name", "parkname", "名称", "园区", "园区名称")
_PARK_VALLEY = ("valley", "city", "region", "城市")
_PARK_YEAR = ("designated", "designation_year", "year", "established", "设立年份", "批准年份")


def _pick(columns: list[str], given: str | None, candidates: tuple[str, ...], what: str, path: Path, *, required: bool):
    if given is not None:
        return _find_column(columns, given, candidates, what, path)
    hits = [c for c in columns if c.strip().lower() in candidates]
    if len(hits) > 1:
        msg = f"Several columns in '{path}' could hold the park {what}: {hits}. Say which with {what}=<column>."
        raise ColumnError(msg)
    if not hits:
        if required:
            msg = f"No park {what} column in '{path}': looked for {list(candidates)} among {columns}. Name it with {what}=<column>."
            raise ColumnError(msg)
        return None
    return hits[0]


def read_parks(
    path: str | os.PathLike,
    *,
    name: str | None = None,
    valley: str | None = None,
    designated: str | None = None,
    crs: Any = None,
    layer: str | int | None = None,
):
    """Read science & technology park boundaries.

    Parameters
    ----------
    path : str or path-like
        Any polygon layer GDAL reads: Shapefile, GeoPackage, GeoJSON, KML.
    name, valley, designated : str, optional
        Columns holding the park name, its valley (study area) and the year it was
        designated.  Found automatically when not given (``name``/``park``/``名称``,
        ``valley``/``city``, ``designated``/``year``/``established``).  ``valley`` and
        ``designated`` are optional: without a year the precedence test is skipped.
    crs : str, int or pyproj.CRS, optional
        The layer's coordinate system when the file has none (an error otherwise), or
        "gcj02"/"bd09" when the polygons were digitised on a Chinese web map.
    layer : str or int, optional
        Layer of a multi-layer source (GeoPackage).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``name``, ``valley``, ``designated`` (nullable Int64), the other input
        attributes, and polygon ``geometry`` in EPSG:4326.  Invalid geometries are repaired
        with :func:`shapely.make_valid` and listed in ``attrs["repairs"]``; features that
        are not polygons are rejected and listed in ``attrs["rejects"]``;
        ``attrs["load_report"]`` counts both.
    """
    import geopandas as gpd
    import pyogrio
    import shapely

    p = _check_file(path, "Park boundary file")
    try:
        kwargs = {} if layer is None else {"layer": layer}
        gdf = pyogrio.read_dataframe(p, **kwargs)
    except Exception as exc:
        msg = f"Cannot read '{p}' as a polygon layer ({exc}). Check the file opens in QGIS."
        raise DataFileError(msg) from None
    if "geometry" not in gdf or len(gdf) == 0:
        msg = f"'{p}' holds no features with geometry; park boundaries must be polygons."
        raise InputError(msg)
    columns = [c for c in gdf.columns if c != "geometry"]
    name_col = _pick(columns, name, _PARK_NAME, "name", p, required=True)
    valley_col = _pick(columns, valley, _PARK_VALLEY, "valley", p, required=False)
    year_col = _pick(columns, designated, _PARK_YEAR, "designated", p, required=False)

    system = None if crs is None else _crs.parse_crs(crs)
    if gdf.crs is None and system is None:
        msg = f"'{p}' has no coordinate reference system (no .prj?). Pass crs= (e.g. crs='wgs84', 'gcj02' or an EPSG code)."
        raise CRSError(msg)

    geoms = gdf.geometry.values
    n = len(gdf)
    rows = np.arange(1, n + 1)
    gtype = np.asarray(shapely.get_type_id(geoms))
    missing = np.asarray(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    is_poly = np.isin(gtype, (3, 6)) & ~missing
    reject_rows = []
    for i in np.flatnonzero(~is_poly):
        reject_rows.append(
            {
                "row": int(rows[i]),
                "name": str(gdf[name_col].iloc[i]),
                "reason": "not_a_polygon" if not missing[i] else "missing_geometry",
                "detail": "feature has no geometry" if missing[i] else f"geometry is {geoms[i].geom_type}; parks must be polygons",
            }
        )
    keep = is_poly
    out = gdf.loc[keep].copy()
    out.index = pd.Index(rows[keep], name="row")
    geoms = out.geometry.values

    valid = np.asarray(shapely.is_valid(geoms))
    repairs = []
    if (~valid).any():
        reasons = shapely.is_valid_reason(geoms)
        fixed = shapely.make_valid(geoms[~valid])
        fixed = np.array([_polygonal(g) for g in fixed], dtype=object)
        for r, nm, why in zip(out.index[~valid], out[name_col].to_numpy()[~valid], np.asarray(reasons)[~valid]):
            repairs.append({"row": int(r), "name": str(nm), "problem": str(why), "action": "repaired with shapely.make_valid"})
        geoms = geoms.copy()
        geoms[~valid] = fixed

    if isinstance(system, str) and system in ("gcj02", "bd09"):
        geoms = _crs.transform_geometries(geoms, system)
        src_crs = "EPSG:4326"
    elif system is not None and gdf.crs is None:
        src_crs = "EPSG:4326" if system == "wgs84" else system
    else:
        src_crs = gdf.crs

    result = gpd.GeoDataFrame(
        {
            "name": out[name_col].astype(str).str.strip().to_numpy(),
            "valley": (out[valley_col].astype(str).str.strip().to_numpy() if valley_col else pd.array([pd.NA] * len(out), dtype="string")),
        },
        index=out.index,
        geometry=gpd.GeoSeries(geoms, index=out.index, crs=src_crs).to_crs("EPSG:4326").values,
        crs="EPSG:4326",
    )
    year_problems = []
    if year_col is not None:
        yr = pd.to_numeric(out[year_col], errors="coerce")
        bad = yr.notna() & ((yr < 1900) | (yr > 2100) | (yr % 1 != 0))
        for r, v in zip(out.index[bad | (yr.isna() & out[year_col].notna())], out[year_col][bad | (yr.isna() & out[year_col].notna())]):
            year_problems.append({"row": int(r), "value": str(v)})
        result["designated"] = yr.where(~bad).astype("Int64").to_numpy()
    else:
        result["designated"] = pd.array([pd.NA] * len(out), dtype="Int64")
    for c in columns:
        if c not in (name_col, valley_col, year_col) and c not in result.columns:
            result[c] = out[c].to_numpy()
    result = result[["name", "valley", "designated", *[c for c in result.columns if c not in ("name", "valley", "designated", "geometry")], "geometry"]]

    dup_names = result["name"][result["name"].duplicated()].tolist()
    report = {
        "file": str(p),
        "name_column": name_col,
        "valley_column": valley_col,
        "designated_column": year_col,
        "crs_in": str(system) if system is not None else (gdf.crs.to_string() if gdf.crs else None),
        "features_read": int(n),
        "parks_kept": int(len(result)),
        "features_rejected": len(reject_rows),
        "geometries_repaired": len(repairs),
        "missing_designation_year": int(result["designated"].isna().sum()),
        "bad_designation_year": year_problems,
        "duplicate_names": dup_names,
    }
    result.attrs["load_report"] = report
    result.attrs["rejects"] = pd.DataFrame(reject_rows, columns=["row", "name", "reason", "detail"])
    result.attrs["repairs"] = pd.DataFrame(repairs, columns=["row", "name", "problem", "action"])
    if repairs:
        log.warning("repaired %d invalid park geometries in %s", len(repairs), p)
    return result


def _polygonal(geom):
    """Keep the polygonal part of a make_valid result (drops stray lines/points)."""
    import shapely

    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else geom


# ----------------------------------------------------------------------------- writers
def _temp_beside(target: Path) -> Path:
    """A free temporary file name in ``target``'s folder (hidden, same suffix)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    os.unlink(tmp)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(target)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table as UTF-8 CSV with a BOM (so Excel shows Chinese text), atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n")
    return Path(path)


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write JSON (UTF-8, sorted keys, NaN as null), atomically."""
    import json

    text = json.dumps(_jsonable(obj), ensure_ascii=False, indent=2, sort_keys=True, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return Path(path)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if np.isfinite(v) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, pd.DataFrame):
        return [_jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, Path):
        return str(obj)
    return obj


@contextlib.contextmanager
def _fast_sqlite() -> Iterator[None]:
    """GDAL settings for writing a GeoPackage that is moved into place only when complete.

    ``OGR_SQLITE_SYNCHRONOUS=OFF`` skips the fsync of every transaction (safe here: a
    crash leaves only the temporary file) and a larger page cache speeds up the spatial index.
    """
    import pyogrio

    wanted = {"OGR_SQLITE_SYNCHRONOUS": "OFF", "OGR_SQLITE_CACHE": "512"}
    before = {k: pyogrio.get_gdal_config_option(k) for k in wanted}
    pyogrio.set_gdal_config_options(wanted)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(before)


#: layers with more features than this are written without a spatial index (building the
#: R-tree costs more than writing the features: 1M points 6.1 s -> 2.8 s); QGIS offers to
#: create it, or: ogrinfo layers.gpkg -sql "SELECT CreateSpatialIndex('firms', 'geom')"
SPATIAL_INDEX_MAX_FEATURES = 250_000

#: with more rows than this in all layers together, :class:`LayerJob` writes the GeoPackage
#: in a child process while the caller goes on (maps, report): SQLite inserts hold the GIL,
#: so a thread would not overlap; below it the child's start-up (~0.5 s) is not worth it.
CHILD_MIN_ROWS = 200_000


def _prepare_layer(frame: Any) -> tuple[Any, bool]:
    """The frame as it is written (attributes dropped, objects as text) and whether it has geometry.

    A :class:`geo.points.PointFrame` stays one: its points are made where it is written.
    """
    import geopandas as gpd

    from geo.points import PointFrame

    frame = frame.copy(deep=False)  # copy-on-write: the columns replaced below are new arrays
    frame.attrs = {}
    for c in frame.columns:
        if c != "geometry" and frame[c].dtype == object:
            frame[c] = frame[c].astype(str).where(frame[c].notna(), None)
    if isinstance(frame, PointFrame) or (hasattr(frame, "geometry") and "geometry" in frame):
        return frame.reset_index(), True
    return gpd.GeoDataFrame(frame.reset_index(drop=frame.index.name is None)), False


def _prepare_layers(layers: dict[str, Any]) -> list[tuple[str, tuple[Any, bool]]]:
    return [(name, _prepare_layer(frame)) for name, frame in layers.items() if frame is not None]


#: rows per record batch of a point layer handed to the layer writer child: the parent
#: converts, and the child reads and writes, one batch at a time (bounded memory)
CHILD_CHUNK_ROWS = 250_000


def _write_arrow_chunks(table: pd.DataFrame, file: Path) -> None:
    """``table`` as an uncompressed Arrow IPC file of record batches of :data:`CHILD_CHUNK_ROWS` rows."""
    pa, _ = _pa()
    schema = None
    with pa.OSFile(str(file), "wb") as sink:
        writer = None
        for start in range(0, max(len(table), 1), CHILD_CHUNK_ROWS):
            batch = pa.Table.from_pandas(table.iloc[start:start + CHILD_CHUNK_ROWS], schema=schema, preserve_index=False)
            if writer is None:
                schema = batch.schema
                writer = pa.ipc.new_file(sink, schema)
            writer.write_table(batch)
        writer.close()


def _free_name(frame: pd.DataFrame, base: str) -> str:
    name = f"__{base}"
    while name in frame.columns:
        name += "_"
    return name


def _write_prepared(prepared: Iterable[tuple[str, Iterable[Any], int]], target: Path) -> None:
    """Write prepared layers, in order, into the GeoPackage ``target`` (the one writer).

    Each layer comes as ``(name, chunks, rows)``: its frames in row order (one frame, or
    slices of a point layer) and its total number of rows, which decides the spatial index.
    """
    import pyogrio

    from geo.points import as_geodataframe

    with _fast_sqlite():
        for name, chunks, rows in prepared:
            for i, out in enumerate(chunks):
                out = as_geodataframe(out)
                big = "geometry" in out and rows > SPATIAL_INDEX_MAX_FEATURES
                options = ({"SPATIAL_INDEX": "NO"} if big else None) if i == 0 else None
                pyogrio.write_dataframe(out, target, layer=name, driver="GPKG", append=target.exists(), use_arrow=True,
                                        layer_options=options)


def write_layers(layers: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write several (Geo)DataFrames as layers of one GeoPackage, atomically.

    Layers go through GDAL's Arrow interface (``use_arrow=True``: columnar, about twice as
    fast as feature by feature on a million firms).  A layer of more than
    :data:`SPATIAL_INDEX_MAX_FEATURES` features gets no spatial index.  ``None`` layers are
    skipped.  :class:`LayerJob` writes the same file in the background.
    """
    return LayerJob(layers, path, child=False).wait()


class LayerJob:
    """A GeoPackage of layers being written, in a child process when it is big.

    ``LayerJob(layers, path)`` prepares the layers, and when they hold more than
    :data:`CHILD_MIN_ROWS` rows hands them (as uncompressed Arrow files beside ``path``)
    to ``python -m geo._layers_child``, which writes them with the same
    :func:`_write_prepared` as :func:`write_layers`; :meth:`add` hands over more layers
    (written after the first ones, in order); :meth:`wait` returns ``path`` once the file
    is complete and moved into place.  Used as a context manager, an exception before
    :meth:`wait` stops the child and leaves no partial file.  ``child`` forces the choice
    (tests).
    """

    def __init__(self, layers: dict[str, Any], path: str | os.PathLike, *, child: bool | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = _temp_beside(self.path)
        self._proc: subprocess.Popen | None = None
        self._work: Path | None = None
        self._log = None
        self._specs = 0
        try:
            prepared = _prepare_layers(layers)
            rows = sum(len(out) for _, (out, _geo) in prepared)
            if not (rows > CHILD_MIN_ROWS if child is None else child):
                _write_prepared([(name, [out], len(out)) for name, (out, _geo) in prepared], self._tmp)
                return
            self._work = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
            spec_path = self._spec(prepared)
            self._log = open(self._work / "child.log", "w+b")  # noqa: SIM115 - closed in _cleanup
            env = dict(os.environ)
            root = str(Path(__file__).resolve().parent.parent)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
            self._proc = subprocess.Popen([sys.executable, "-m", "geo._layers_child", str(spec_path)],
                                          stdin=subprocess.PIPE, stdout=self._log, stderr=subprocess.STDOUT, env=env)
            log.debug("write_layers: %d rows handed to child process %d", rows, self._proc.pid)
        except BaseException:
            self.close()
            raise

    def add(self, layers: dict[str, Any]) -> None:
        """Write more layers after the ones given so far (the child gets them at once)."""
        try:
            prepared = _prepare_layers(layers)
            if self._proc is None:
                _write_prepared([(name, [out], len(out)) for name, (out, _geo) in prepared], self._tmp)
                return
            spec_path = self._spec(prepared)
            self._proc.stdin.write(str(spec_path).encode("utf-8") + b"\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            self.wait()  # the child died: raise with its output
        except BaseException:
            self.close()
            raise

    def _spec(self, prepared: list[tuple[str, tuple[Any, bool]]]) -> Path:
        """Arrow files and a spec file (JSON) for the child; returns the spec's path."""
        import json

        from geo.points import PointFrame

        spec: dict[str, Any] = {"target": str(self._tmp), "layers": []}
        for name, (out, geo) in prepared:
            file = self._work / f"{self._specs}_{len(spec['layers'])}.arrow"
            layer: dict[str, Any] = {"name": name, "file": str(file), "geometry": geo}
            if isinstance(out, PointFrame):  # points travel as two float columns: no WKB made twice
                xy = np.column_stack(out.coords())
                table, geometry_name = pd.DataFrame(out, copy=False), "geometry"
            else:
                xy = _crs.plain_point_coords(out.geometry.values) if geo else None
                if xy is not None:
                    table, geometry_name = pd.DataFrame(out, copy=False).drop(columns=out.geometry.name), out.geometry.name
            if xy is not None:
                layer["points"] = {"x": _free_name(table, "x"), "y": _free_name(table, "y"),
                                   "geometry": geometry_name, "crs": out.crs.to_json() if out.crs else None}
                table[layer["points"]["x"]], table[layer["points"]["y"]] = xy[:, 0], xy[:, 1]
                _write_arrow_chunks(table, file)
            else:
                (out if geo else pd.DataFrame(out)).to_feather(file, compression="uncompressed")
            layer["rows"] = len(out)
            spec["layers"].append(layer)
        spec_path = self._work / f"spec_{self._specs}.json"
        self._specs += 1
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        return spec_path

    def wait(self) -> Path:
        """Block until the GeoPackage is complete; move it into place and return its path.

        Raises :class:`~geo.errors.DataFileError` with the child's last output if it failed.
        """
        try:
            if self._proc is not None:
                with contextlib.suppress(BrokenPipeError):
                    self._proc.stdin.close()  # no more layers
                rc = self._proc.wait()
                if rc != 0:
                    self._log.seek(0)
                    tail = self._log.read().decode("utf-8", "replace")[-2000:].strip()
                    raise DataFileError(f"writing {self.path} failed in the layer writer process "
                                        f"(exit code {rc}):\n{tail}")
            os.replace(self._tmp, self.path)
        finally:
            self._cleanup()
        return self.path

    def close(self) -> None:
        """Stop the child if it runs and remove every temporary file; nothing is put in place."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait()
            with contextlib.suppress(BrokenPipeError):
                self._proc.stdin.close()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


_SAFE = re.compile(r"[^0-9A-Za-z_\-]+")


def safe_name(text: str) -> str:
    """A file-name-safe slug of ``text`` (valley names in output paths)."""
    return _SAFE.sub("_", str(text)).strip("_") or "valley"
