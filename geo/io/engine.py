"""The firm-table reader in parts: what an engine that reads a table in partitions needs of io.

:func:`geo.io.firms.read_firms` reads and validates a whole table at once.  An engine that
reads the same table in partitions (:mod:`geo.pipeline.dask_engine`) must reach the very same
rows, rejects and report, so it uses the same steps: it parses each partition with the same
text readers, validates it with the same :class:`Validation` (whose row-wise steps run on a
partition, while the decisions that need every row — exact duplicates, the swapped-coordinates
box, stacked geocodes, the founding dates' format — are made over all partitions and handed
back to each), and sums the partitions' counts into the same load report.  This module is that
small public face: the text readers (:mod:`geo.io._text`) and the duplicate and count helpers
(:mod:`geo.io.firms`) are re-exported from where they are defined and documented.

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

from typing import Any

from geo.io import _text
from geo.io import firms as _firms
from geo.io._dates import parse_dates
from geo.io._keys import float_bits, mix, place, place_hash
from geo.io._stacks import find_stacks
from geo.io._text import (
    check_file,
    column_text,
    float_text,
    raw_from_frame,
    read_csv_fast,
    read_csv_text,
    sniff_delimiter,
    text_array,
    utf8_prefix,
    utf8_start,
)
from geo.io.firms import add_counts, duplicate_rows

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
