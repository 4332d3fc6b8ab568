"""The firm-table reader in parts: what an engine that reads a table in partitions needs of io.

:func:`geo.io.firms.read_firms` reads and validates a whole table at once.  An engine that
reads the same table in partitions (:mod:`geo.pipeline.dask_engine`) must reach the very same
rows, rejects and report, so it uses the same steps: it parses each partition with the same
text readers, validates it with the same :class:`Validation` (whose row-wise steps run on a
partition, while the decisions that need every row — exact duplicates, the swapped-coordinates
box, stacked geocodes, the founding dates' format — are made over all partitions and handed
back to each), and sums the partitions' counts into the same load report.  This module is that
small public face; the readers themselves stay private in :mod:`geo.io._text` and
:mod:`geo.io.firms`.

Types
-----
:class:`RawTable`
    A table as text columns before validation: ``columns`` (names), ``cols`` (name -> a text
    column or a :class:`FloatColumn`), ``n`` (rows), ``meta`` (format, encoding, delimiter,
    ...), ``malformed`` (0-based row -> number of fields).
:class:`FloatColumn`
    A float column whose text is ``repr(v)``, or ``""`` for NaN (a Parquet or Excel float
    column), with its values in ``values``.
:class:`Validation`
    The validation of one raw table, in steps (see its docstring): ``duplicate_keys``,
    ``duplicates``, ``row_checks``, ``swap_candidates``, ``convert``, ``founded_values``,
    ``parse_founded``, ``set_stacked``, ``select``, ``rejects``, ``firms``, ``counts``,
    ``columns_used``.

Constants
---------
:data:`STACKED_MIN`
    Firms at one place from which a place is a stacked geocode (``read_firms``' default).
:data:`STACKS_LISTED`
    Stacked places listed in the load report.

The row keys (:func:`float_bits`, :func:`mix`, :func:`place`, :func:`place_hash`), the
date parser (:func:`parse_dates`) and the stacked-geocode finder (:func:`find_stacks`) are
those of the whole-table reader, re-exported here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.io import _text
from geo.io import firms as _firms
from geo.io._dates import parse_dates
from geo.io._keys import float_bits, mix, place, place_hash
from geo.io._stacks import find_stacks

__all__ = [
    "RawTable",
    "FloatColumn",
    "Validation",
    "STACKED_MIN",
    "STACKS_LISTED",
    "check_file",
    "utf8_start",
    "utf8_prefix",
    "sniff_delimiter",
    "read_csv_fast",
    "read_csv_text",
    "raw_from_frame",
    "column_text",
    "float_text",
    "text_array",
    "duplicate_rows",
    "add_counts",
    "load_report",
    "float_bits",
    "mix",
    "place",
    "place_hash",
    "parse_dates",
    "find_stacks",
]

#: a table as text columns, before validation (see the module docstring)
RawTable = _text._Raw
#: a float column written as ``repr(v)`` ("" for NaN)
FloatColumn = _text._Floats
#: the validation of one raw table, in steps
Validation = _firms._Validation
#: firms at one place from which the place is a stacked geocode (``read_firms``' default)
STACKED_MIN: int = _firms._STACKED_MIN
#: stacked places listed in the load report
STACKS_LISTED: int = _firms._STACKS_LISTED


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
    return _text._check_file(path, what)


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
    return _text._utf8_start(data, encoding)


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
    return _text._utf8_prefix(data, start, chars)


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
    return _text._sniff_delimiter(text, suffix)


def read_csv_fast(data: bytes, start: int, delimiter: str) -> RawTable | None:
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
    return _text._read_csv_fast(data, start, delimiter)


def read_csv_text(text: str, delimiter: str, path: Path, *, what: str = "firm table") -> RawTable:
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
    return _text._read_csv_slow(text, delimiter, path, what=what)


def raw_from_frame(frame: pd.DataFrame, meta: dict) -> RawTable:
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
    return _text._raw_from_frame(frame, meta)


def column_text(col: Any, idx: np.ndarray) -> list[str]:
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
    return _text._col_take_text(col, idx)


def float_text(value: float) -> str:
    """The text of one value of a :class:`FloatColumn`: ``repr(value)``, ``""`` for NaN.

    Examples
    --------
    >>> float_text(0.1), float_text(float("nan"))
    ('0.1', '')
    """
    return _text._float_text(value)


def text_array(values: Any) -> Any:
    """A text column for :func:`duplicate_rows`: a pyarrow large_string array (one chunk, no nulls).

    Parameters
    ----------
    values : array, pyarrow chunked array or list of str

    Returns
    -------
    pyarrow.LargeStringArray
    """
    return _text._text_array(values)


def duplicate_rows(cols: list, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows equal in every column, as the whole-table reader finds them.

    Parameters
    ----------
    cols : list
        Key columns of ``n`` rows each (text arrays from :func:`text_array`, or
        :class:`FloatColumn`).
    n : int
        Rows.

    Returns
    -------
    tuple of (numpy.ndarray, numpy.ndarray)
        ``(duplicate, first)``: whether each row repeats an earlier one, and the position of
        the first row equal to it.
    """
    return _firms._duplicates(cols, n)


def add_counts(total: dict, part: dict) -> dict:
    """The sum of two :meth:`Validation.counts` dicts (rows read, kept, rejected by reason, ...).

    Parameters
    ----------
    total, part : dict
        ``total`` may be empty (the first partition).

    Returns
    -------
    dict
        A new dict; neither argument is changed.
    """
    return _firms._add_counts(total, part)


def load_report(path: Any, meta: dict, columns_used: dict, system_default: Any, counts: dict,
                stacked_sites: int) -> dict:
    """The load report of a whole table from the summed counts of its partitions.

    Parameters
    ----------
    path : str or pathlib.Path
        The table, as the report names it.
    meta : dict
        The table's format, encoding and delimiter (:attr:`RawTable.meta`).
    columns_used : dict
        :meth:`Validation.columns_used` of a partition.
    system_default : str or None
        The coordinate system of rows without their own.
    counts : dict
        The partitions' counts summed with :func:`add_counts`.
    stacked_sites : int
        Stacked places found over the whole table.

    Returns
    -------
    dict
        The report :func:`geo.read_firms` keeps in ``attrs["load_report"]`` for the same table.
    """
    return _firms._load_report(path, meta, columns_used, system_default, counts, stacked_sites)
