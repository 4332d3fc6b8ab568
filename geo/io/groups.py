"""Reading the table that maps industry codes to sector groups (e.g. high-tech / traditional).

The file is read by the package's table engine (:mod:`geo.io._text`: CSV/TSV in UTF-8 or
GBK with the delimiter detected, Excel, Parquet), like the firm table; the group study itself
(:func:`geo.parks.groups.assign_groups`, ...) lives in :mod:`geo.parks.groups`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.errors import ColumnError, DataFileError, InputError
from geo.io._text import _Floats, _read_any_table, check_file

__all__ = ["code_key", "read_groups"]


def code_key(value: Any) -> str:
    """An industry code as comparison text: no spaces, dots, hyphens or slashes; upper case.

    Integers (and integral floats) are written without a decimal part; a missing value or a
    boolean is the empty key.

    Examples
    --------
    >>> code_key(" 26.70"), code_key("c26-7"), code_key(3832.0), code_key(None)
    ('2670', 'C267', '3832', '')
    """
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return ""
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else str(value).replace(".", "")
    text = str(value).strip().upper()
    for ch in (" ", ".", "-", "/", "\t"):
        text = text.replace(ch, "")
    return text


def _texts(col) -> list[str]:
    """A column of the engine as text; a number column's integral values without ".0" (a code
    read as the float 3832.0 is the code "3832", not "3832.0")."""
    if isinstance(col, _Floats):
        return ["" if math.isnan(v) else (str(int(v)) if v.is_integer() else repr(v)) for v in col.values.tolist()]
    return col.to_pylist()


def _read_table(p: Path) -> pd.DataFrame:
    """The groups table as text columns ("" for missing, values stripped), one row per data row."""
    raw = _read_any_table(p, encoding=None, sheet=None, what="industry groups table")
    if raw.malformed:
        rows = sorted(raw.malformed)[:10]
        msg = (
            f"The industry groups table '{p}' has more values than columns in data row(s) {[r + 1 for r in rows]}; "
            "quote values that hold the delimiter, or delete the extra values."
        )
        raise DataFileError(msg)
    return pd.DataFrame({name: pd.Series(_texts(raw.cols[name]), dtype=str) for name in raw.columns},
                        index=pd.RangeIndex(raw.n), columns=raw.columns)


def read_groups(path: str | os.PathLike) -> pd.DataFrame:
    """Read the table that maps industry codes to groups (e.g. ``geo/datasets/data/industry_groups.csv``).

    Parameters
    ----------
    path : str or os.PathLike
        A CSV/TSV (UTF-8 or GBK; the delimiter is detected), Excel or Parquet file with at
        least the columns ``industry_code`` and ``group``.  Optional columns are kept:
        ``sector``, ``subsector``, ``description``, ``group_detail``.

    Returns
    -------
    pandas.DataFrame
        The rows as text, with ``industry_code`` stripped and a ``group_detail`` column
        (read from the file, or made as ``"<group>: <sector>"`` when the file has a
        ``sector`` column, else equal to ``group``).  ``attrs["path"]`` records the file.

    Raises
    ------
    geo.errors.DataFileError
        The file is missing or unreadable, or a row has more values than the header.
    geo.errors.ColumnError
        ``industry_code`` or ``group`` is missing.
    geo.errors.InputError
        Empty codes or groups, or two rows with the same code.

    Notes
    -----
    **Codes.**  Any classification works — GB/T 4754-2017 (the demo), NAICS, NACE, ISIC —
    because codes are matched as text.  :func:`geo.parks.groups.assign_groups` compares codes
    after removing spaces, dots, hyphens and slashes and upper-casing (:func:`code_key`:
    ``"26.70"`` → ``"2670"``, ``"c26.7"`` → ``"C267"``), and a firm's code matches the
    **longest** code of the table that is a prefix of it: an exact match first, then a
    coarser level.  So a NAICS table may list the 3-digit subsector ``334`` for every
    ``334xxx`` firm and override one 6-digit industry, and a NACE table may list ``26.7``
    for firms coded ``26.70``.  Write the codes in the same form in both tables (with or
    without NACE's section letter), and read firm tables with codes as text so leading
    zeros survive.

    Examples
    --------
    >>> from geo.datasets import demo_path
    >>> g = read_groups(demo_path("industry_groups"))
    >>> g.loc[g["industry_code"] == "3832", ["group", "group_detail"]].values.tolist()
    [['high-tech', 'high-tech: optics']]
    >>> sorted(g["group"].unique())
    ['high-tech', 'traditional']
    """
    p = check_file(path, "Industry groups table")
    frame = _read_table(p)
    frame = frame.rename(columns={c: str(c).strip() for c in frame.columns})
    missing = [c for c in ("industry_code", "group") if c not in frame.columns]
    if missing:
        msg = (
            f"The industry groups table '{p}' needs the columns industry_code and group; "
            f"{', '.join(missing)} missing (its columns: {list(frame.columns)}). "
            "See geo/datasets/data/industry_groups.csv for the format."
        )
        raise ColumnError(msg)
    out = frame.copy()
    for c in out.columns:
        out[c] = out[c].map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else
                            (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v).strip()))
    bad = out.index[(out["industry_code"] == "") | (out["group"] == "")]
    if len(bad):
        msg = (
            f"The industry groups table '{p}' has {len(bad)} row(s) without a code or a group "
            f"(data rows {[int(i) + 1 for i in bad[:10]]}); fill or delete them."
        )
        raise InputError(msg)
    keys = out["industry_code"].map(code_key)
    dup = keys[keys.duplicated(keep=False)]
    if len(dup):
        shown = sorted(set(out.loc[dup.index, "industry_code"]))[:10]
        msg = (
            f"The industry groups table '{p}' lists the same code more than once "
            f"(after removing spaces and dots): {shown}. Keep one row per code."
        )
        raise InputError(msg)
    if "group_detail" not in out.columns or (out["group_detail"] == "").all():
        if "sector" in out.columns:
            out["group_detail"] = [f"{g}: {s}" if s else g for g, s in zip(out["group"], out["sector"])]
        else:
            out["group_detail"] = out["group"]
    out.attrs = {"path": str(p)}
    return out
