"""The table engine: CSV (pyarrow fast path, :mod:`csv` fallback), Excel, Parquet and vector files
read into raw text columns, and the column helpers the validators share.

When the fast CSV parser cannot guarantee the same records as Python's :mod:`csv` module (quoted
line breaks, quoting the two parsers read differently, NUL bytes, lone carriage returns, a blank
first line, a one-column header, very long lines ...), the file is read with :mod:`csv` instead;
both paths give the same rows, row numbers, values and reasons.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io as _io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.errors import ColumnError, DataFileError, InputError
from geo.io._keys import float_bits

__all__ = []

log = logging.getLogger(__name__)


_TABLE_SUFFIXES = {".csv", ".tsv", ".txt", ".tab"}


_EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls"}


_PARQUET_SUFFIXES = {".parquet", ".pq", ".geoparquet"}


_VECTOR_SUFFIXES = {".gpkg", ".shp", ".geojson", ".json", ".fgb", ".kml", ".gml", ".zip"}


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
def _nearby_files(p: Path) -> str:
    """What the folder of a missing file holds: `` Did you mean 'firms.csv'?``, the files of its kind, or that the folder
    itself is missing."""
    folder = p.parent
    if not folder.is_dir():
        missing = folder
        while not missing.parent.is_dir() and missing.parent != missing:
            missing = missing.parent
        return f" The folder '{missing}' does not exist."
    try:
        names = sorted(f.name for f in folder.iterdir() if not f.name.startswith("."))
    except OSError:  # pragma: no cover - unreadable folder
        return ""
    close = difflib.get_close_matches(p.name, names, n=1, cutoff=0.6)
    if close:
        return f" Did you mean '{close[0]}' (in the same folder)?"
    kind = [n for n in names if n.lower().endswith(p.suffix.lower())] if p.suffix else []
    if kind:
        more = f" and {len(kind) - 5} more" if len(kind) > 5 else ""
        return f" The {p.suffix} files of '{folder}' are: {', '.join(kind[:5])}{more}."
    return f" '{folder}' holds no {p.suffix} file." if p.suffix else ""


def check_file(path: str | os.PathLike, what: str) -> Path:
    """The path of an existing file, or the reader's error naming ``what`` and nearby files.

    Parameters
    ----------
    path : str or os.PathLike
    what : str
        The table's name in the message (``"Firm table"``).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    geo.errors.DataFileError
        When ``path`` does not exist, or is a folder (other than a file geodatabase).
    """
    p = Path(path)
    if not p.exists():
        where = "" if p.is_absolute() else f" (resolved to '{p.resolve()}')"
        msg = (f"{what} not found: '{p}'{where}.{_nearby_files(p.resolve())} Check the path; relative paths are read "
               "from the current folder or, in a config, from the config's folder.")
        raise DataFileError(msg)
    if p.is_dir() and p.suffix.lower() != ".gdb":
        msg = f"{what} '{p}' is a folder; give the path of a file (CSV, Excel, Parquet, GeoPackage, Shapefile or GeoJSON)."
        raise DataFileError(msg)
    return p


def _decode(data: bytes, encoding: str | None, path: Path) -> tuple[str, str]:
    """Decode CSV bytes: BOMs, then UTF-8, then GB18030 (a superset of GBK/GB2312)."""
    if data[:4] == b"PK\x03\x04":
        msg = (f"'{path}' is a zip archive (an Excel .xlsx workbook?), not CSV text: rename it .xlsx, or save it as CSV "
               "from Excel.")
        raise DataFileError(msg)
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


def sniff_delimiter(text: str, suffix: str) -> str:
    """The delimiter of a delimited text, as the whole-file reader guesses it.

    Parameters
    ----------
    text : str
        The start of the text (its first 50 lines are read).
    suffix : str
        The file's lower-case suffix: ``".tsv"`` and ``".tab"`` fall back to a tab, others to a comma.

    Returns
    -------
    str
        One of ``,``, ``;``, tab, ``|``.
    """
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
    #: rows a source's reader rejects (osm, overture): (reason, 0-based positions, details), the first reason wins
    prerejected: list[tuple[str, np.ndarray, np.ndarray]] = field(default_factory=list)
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


def text_array(values: Any):
    """A text column for :func:`duplicate_rows`: a pyarrow large_string array (one chunk, no nulls).

    Parameters
    ----------
    values : array, pyarrow chunked array or list of str

    Returns
    -------
    pyarrow.LargeStringArray
    """
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


def float_text(v: float) -> str:
    """The text of one value of a :class:`FloatColumn`: ``repr(value)``, ``""`` for NaN.

    Examples
    --------
    >>> float_text(0.1), float_text(float("nan"))
    ('0.1', '')
    """
    return "" if v != v else repr(v)


def column_text(col, idx: np.ndarray) -> list[str]:
    """The text of the rows ``idx`` of a :class:`RawTable` column.

    Parameters
    ----------
    col : pyarrow array or FloatColumn
    idx : numpy.ndarray
        0-based row positions.

    Returns
    -------
    list of str
    """
    if isinstance(col, _Floats):
        return [float_text(v) for v in col.values[idx].tolist()]
    pa, _ = _pa()
    return col.take(pa.array(np.asarray(idx, dtype=np.int64))).to_pylist()


def _col_key(col) -> np.ndarray:
    """int64 keys with equal key <=> equal text."""
    if isinstance(col, _Floats):
        return float_bits(col.values).view(np.int64)
    _, pc = _pa()
    return pc.dictionary_encode(col).indices.to_numpy(zero_copy_only=False).astype(np.int64)


def _col_categories(col) -> tuple[np.ndarray, list[str]]:
    """(codes, distinct texts) of a column."""
    if isinstance(col, _Floats):
        codes, uniq = pd.factorize(_col_key(col))
        return codes, [float_text(float(b)) for b in np.asarray(uniq, dtype=np.int64).view(np.float64)]
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
            return pd.array([float_text(x) for x in v.tolist()], dtype="str")
        good = v[~nan]
        if not np.isfinite(good).all() or np.abs(good).max() >= 2.0**53:
            return _exact_infer(name, [float_text(x) for x in v.tolist()])
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


def utf8_prefix(data: bytes, start: int, chars: int) -> str | None:
    """The first ``chars`` characters of UTF-8 ``data[start:]``.

    Parameters
    ----------
    data : bytes
    start : int
        Offset of the text (:func:`utf8_start`).
    chars : int
        Characters wanted (a multi-byte character cut at the end of ``data`` is dropped).

    Returns
    -------
    str or None
        None when the bytes are not UTF-8 there.
    """
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


def read_csv_fast(data: bytes, start: int, delimiter: str) -> _Raw | None:
    """Parse UTF-8 CSV bytes (a header line, then data lines) with pyarrow.

    Parameters
    ----------
    data : bytes
    start : int
        Offset of the header line in ``data``.
    delimiter : str

    Returns
    -------
    RawTable or None
        The same table as :func:`read_csv_text` gives; None when pyarrow's result might differ
        from it (then call :func:`read_csv_text`).
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
        values = _strip(text_array(table.column(0).slice(1)))
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


def read_csv_text(text: str, delimiter: str, path: Path, *, what: str = "firm table") -> _Raw:
    """Parse decoded CSV text with :mod:`csv`: the reference reader.

    Parameters
    ----------
    text : str
        A header line, then data lines.
    delimiter : str
    path : pathlib.Path
        The file, named in errors.
    what : str, default "firm table"
        The table's name in errors.

    Returns
    -------
    RawTable

    Raises
    ------
    geo.errors.InputError
        As :func:`geo.read_firms` for the same text (no header, duplicate names, ...).
    """
    reader = csv.reader(_io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        msg = f"'{path}' is empty: no header row and no data. Export the {what} with a header row."
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
    cols = {name: text_array(list(values)) for name, values in zip(columns, by_column)}
    meta = {"format": "csv", "delimiter": delimiter, "blank_lines_skipped": blank, "parser": "csv"}
    return _Raw(columns=columns, cols=cols, n=n, meta=meta, malformed=malformed)


def utf8_start(data: bytes, encoding: str | None) -> tuple[int | None, str | None]:
    """Where UTF-8 text starts in the first bytes of a file, as the whole-file reader decides.

    Parameters
    ----------
    data : bytes
        The file's first bytes (a megabyte is plenty).
    encoding : str or None
        The encoding the user gave; None: detect.

    Returns
    -------
    tuple of (int or None, str or None)
        ``(offset, encoding name)``: the offset past a byte-order mark and the encoding to
        report when the bytes are to be read as UTF-8 as they are; ``(None, None)`` when they
        are not UTF-8.
    """
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


def _read_text_table(path: Path, encoding: str | None, *, fast: bool = True, what: str = "firm table") -> _Raw:
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
        start, used = utf8_start(data, encoding)
        sample = utf8_prefix(data, start, 65536) if start is not None else None
        if sample is not None:
            tried = used
            raw = read_csv_fast(data, start, sniff_delimiter(sample, suffix))
            if raw is not None:
                raw.meta["encoding"] = used
    if raw is None:
        text, used = _decode(data, encoding, path)
        del data
        delimiter = sniff_delimiter(text, suffix)
        if fast and used != tried:
            raw = read_csv_fast(text.encode("utf-8"), 0, delimiter)
        if raw is None:
            raw = read_csv_text(text, delimiter, path, what=what)
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
            return text_array(pa.array(values.to_numpy()))
        if dtype.kind == "b":
            arr = values.to_numpy()
            return text_array(np.where(arr, "True", "False").tolist())
    elif isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        pa, _ = _pa()
        return _strip(text_array(pa.array(values.array)))
    return text_array(_as_text(values).tolist())


def raw_from_frame(frame: pd.DataFrame, meta: dict, geometry=None, layer_crs=None) -> _Raw:
    """A data frame (a Parquet partition read by pyarrow) as text columns.

    Parameters
    ----------
    frame : pandas.DataFrame
    meta : dict
        The table's format (``{"format": "parquet"}``), kept in ``RawTable.meta``.

    Returns
    -------
    RawTable
        Float columns as :class:`FloatColumn`, the others as their text (as
        :func:`geo.read_firms` reads the same file).
    """
    columns = [str(c) for c in frame.columns]
    cols = {name: _column_from_series(frame.iloc[:, k]) for k, name in enumerate(columns)}
    return _Raw(columns=columns, cols=cols, n=len(frame), meta=meta, geometry=geometry, layer_crs=layer_crs)


def _parquet_schema(path: Path):
    """The schema of the Parquet file ``path``; a DataFileError when it is not one."""
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path)
    except Exception as exc:
        msg = f"Cannot read '{path}' as Parquet ({exc}). Check the file is a Parquet file."
        raise DataFileError(msg) from None


def layer_names(path: Path, *, kind: str = "a vector layer") -> list[str]:
    """The names of the layers of a vector file (pyogrio); a DataFileError naming ``kind`` when it cannot be read.
    The readers of firms, parks and units check with it that a file of several layers is never read silently."""
    import pyogrio

    try:
        return [str(row[0]) for row in pyogrio.list_layers(path)]
    except Exception as exc:
        msg = f"Cannot read '{path}' as {kind} ({exc}). Check the file opens in QGIS."
        raise DataFileError(msg) from None


def _read_vector(read, path: Path):
    """``read(path)`` with a pyogrio reader; a DataFileError when ``path`` is not a vector layer, or holds several
    layers (the first is not necessarily the firms: it is never read silently)."""
    layers = layer_names(path)
    if len(layers) > 1:
        msg = (f"'{Path(path).name}' has {len(layers)} layers ({', '.join(layers[:8])}{' ...' if len(layers) > 8 else ''}): "
               "a firm table is one layer. Save the layer of the firms as a file of its own (QGIS: Export > Save "
               "Features As..., GeoPackage or CSV) and give that path.")
        raise DataFileError(msg)
    try:
        return read(path)
    except Exception as exc:
        msg = f"Cannot read '{path}' as a vector layer ({exc}). Check the file opens in QGIS."
        raise DataFileError(msg) from None


def _read_any_table(path: Path, *, encoding: str | None, sheet: str | int | None, what: str = "firm table") -> _Raw:
    """Read any supported table into text columns (plus geometry for point layers); ``what`` names it in errors."""
    suffix = path.suffix.lower()
    if suffix in _TABLE_SUFFIXES:
        return _read_text_table(path, encoding, what=what)
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
        return raw_from_frame(frame, {"format": "excel", "sheet": str(chosen)})
    if suffix in _PARQUET_SUFFIXES:
        schema = _parquet_schema(path)
        if schema.metadata and b"geo" in schema.metadata:
            import geopandas as gpd

            gdf = gpd.read_parquet(path)
            geom = gdf.geometry
            frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
            return raw_from_frame(frame, {"format": "geoparquet"}, geom.values, gdf.crs)
        frame = pd.read_parquet(path)
        return raw_from_frame(frame, {"format": "parquet"})
    if suffix in _VECTOR_SUFFIXES:
        import pyogrio

        gdf = _read_vector(pyogrio.read_dataframe, path)
        if "geometry" in gdf and (~gdf.geometry.isna()).any():  # a layer (empty points are rejected rows)
            frame = pd.DataFrame(gdf.drop(columns="geometry"))
            return raw_from_frame(frame, {"format": "vector"}, gdf.geometry.values, gdf.crs)
        frame = pd.DataFrame(gdf.drop(columns="geometry", errors="ignore"))
        return raw_from_frame(frame, {"format": "vector-table"})
    osm = Path(path).name.lower().endswith((".osm.pbf", ".osm", ".pbf", ".osm.bz2"))
    msg = (
        f"Unknown {what} format '{suffix}' for '{path}'. Use CSV/TSV, Excel (.xlsx), Parquet, "
        "GeoPackage, Shapefile or GeoJSON."
        + (" It looks like an OpenStreetMap extract: set [firms] source = \"osm\" (or [parks] source = \"osm\") "
           "to read its firms or parks." if osm else "")
    )
    raise DataFileError(msg)


def _find_column(columns: list[str], given: str | None, candidates: tuple[str, ...], what: str, path: Path) -> str:
    if given is not None:
        if given in columns:
            return given
        lowered = {c.lower(): c for c in columns}
        if given.lower() in lowered:
            return lowered[given.lower()]
        key = {"longitude": "lon", "latitude": "lat", "firm id": "id"}.get(what)
        where = f"{what}, [firms] {key} in a config" if key else what
        near = difflib.get_close_matches(given, [str(c) for c in columns], n=1, cutoff=0.6)
        msg = (f"Column {given!r} ({where}) is not in '{path}'; its columns are {columns}."
               + (f" Did you mean {near[0]!r}?" if near else ""))
        raise ColumnError(msg)
    hits = [c for c in columns if c.strip().lower() in candidates]
    if len(hits) > 1:
        msg = (
            f"Several columns in '{path}' could hold the {what}: {hits}. "
            f"Say which with {'lon' if what == 'longitude' else 'lat'}=<column>."
        )
        raise ColumnError(msg)
    if not hits:
        key = "lon" if what == "longitude" else "lat"
        near = _near_candidates(columns, candidates)
        hint = f'Did you mean {near[0]!r}? ' if near else ""
        msg = (
            f"No {what} column in '{path}': looked for {list(candidates)} (any case) among {columns}. "
            f'{hint}Name it with {key}="{near[0] if near else "<column>"}" (in a config: [firms] {key} = ...).'
        )
        raise ColumnError(msg)
    return hits[0]


def _near_candidates(columns: list[str], candidates: tuple[str, ...]) -> list[str]:
    """Columns whose name starts or ends with a candidate name ("X坐标", "经度(GCJ02)", "wgs_lon")."""
    out = []
    for c in columns:
        name = c.strip().lower()
        if any(name.startswith(k) or (len(k) > 1 and name.endswith(k)) for k in candidates):
            out.append(c)
    return out


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


# ----------------------------------------------------------------------------- header only
_HEADER_BYTES = 1 << 20


def table_columns(path: str | os.PathLike, *, encoding: str | None = None, sheet: str | int | None = None) -> list[str]:
    """The column names of a firm table, as :func:`geo.read_firms` will read them, without
    reading the rows (the first MB of a CSV; the schema of Parquet and vector files).

    Lets a run check the columns a config names before it reads millions of rows.
    """
    p = check_file(path, "Firm table")
    suffix = p.suffix.lower()
    if suffix in _TABLE_SUFFIXES:
        with open(p, "rb") as fh:
            data = fh.read(_HEADER_BYTES)
        if len(data) == _HEADER_BYTES:  # cut at a line end, never inside a character
            cut = data.rfind(b"\n")
            data = data[:cut + 1] if cut > 0 else data
        text, _ = _decode(data, encoding, p)
        if not text.strip():
            msg = f"'{p}' is empty: no header row and no data. Export the firm table with a header row."
            raise InputError(msg)
        delimiter = sniff_delimiter(text, suffix)
        header = next(csv.reader(_io.StringIO(text, newline=""), delimiter=delimiter), [])
        return _dedupe([h.strip() for h in header])
    if suffix in _PARQUET_SUFFIXES:
        schema = _parquet_schema(p)
        names = list(schema.names)
        if schema.metadata and b"geo" in schema.metadata:
            import json

            geo_meta = json.loads(schema.metadata[b"geo"])
            names = [n for n in names if n not in geo_meta.get("columns", {})]
        return [str(n) for n in names if not str(n).startswith("__index_level_")]
    if suffix in _VECTOR_SUFFIXES:
        import pyogrio

        return [str(f) for f in _read_vector(pyogrio.read_info, p)["fields"]]
    return list(_read_any_table(p, encoding=encoding, sheet=sheet).columns)  # Excel: small enough to read
