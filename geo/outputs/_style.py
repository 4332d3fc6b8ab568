"""One style for every output: how numbers and p-values are written.

The report (:mod:`geo.outputs.report`), the maps (:mod:`geo.outputs.maps`) and the figures
(:mod:`geo.outputs.figures`) format through these functions, so a number reads the same in
a table, a tooltip and a figure title.  The functions return plain text (not HTML-escaped);
the HTML outputs escape it.  The p-value formatter lives at the ground floor
(:mod:`geo._format`), because the park verdicts write p-values into sentences too; it is
re-exported here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from geo._format import MISSING, format_p, is_missing, p_phrase

__all__ = [
    "MISSING",
    "is_missing",
    "format_p",
    "p_phrase",
    "format_number",
    "format_pct",
    "format_distance",
]


def format_number(value: Any, *, digits: int = 4, decimals: int | None = None) -> str:
    """A number for a table, tooltip or figure: ``digits`` significant digits, thousands separated.

    Parameters
    ----------
    value : Any
        An int, float, bool or missing value; anything else is returned as ``str(value)``.
    digits : int, default 4
        Significant digits of a non-integral number below 1000.
    decimals : int, optional
        Write every finite float with this many decimals instead (``"0.820"`` for a
        correlation-like statistic such as Moran's I, whose figures show 3 decimals).

    Returns
    -------
    str
        Integers (and integral floats) with thousands separators (``"12,345"``); other
        numbers with ``digits`` significant digits below 1000 (``"0.7225"``), one decimal up to
        1e5 (``"1,234.5"``), none above; scientific notation below 1e-3 or from 1e15
        (``"2.500e-04"``); ``"∞"`` / ``"−∞"``; ``"yes"`` / ``"no"`` for booleans;
        :data:`MISSING` for None and NaN.

    Examples
    --------
    >>> format_number(12345), format_number(0.72254667), format_number(0.72254667, digits=3), format_number(None)
    ('12,345', '0.7225', '0.723', '—')
    >>> format_number(0.8202940575, decimals=3)
    '0.820'
    """
    if is_missing(value):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if not isinstance(value, (float, np.floating)):
        return str(value)
    f = float(value)
    if not math.isfinite(f):
        return "∞" if f > 0 else "−∞"
    if decimals is not None:
        return f"{f:,.{decimals}f}"
    if f == int(f) and abs(f) < 1e15:
        return f"{int(f):,}"
    if abs(f) >= 1e15 or abs(f) < 1e-3:
        return f"{f:.{digits - 1}e}"
    return f"{f:,.{digits}g}" if abs(f) < 1000 else f"{f:,.1f}" if abs(f) < 1e5 else f"{f:,.0f}"


def format_pct(share: Any, decimals: int = 1) -> str:
    """A share in [0, 1] as a percentage: ``"12.3 %"``; :data:`MISSING` when missing.

    Examples
    --------
    >>> format_pct(0.1234), format_pct(1.0), format_pct(None)
    ('12.3 %', '100.0 %', '—')
    """
    if is_missing(share):
        return MISSING
    return f"{100 * float(share):.{decimals}f} %"


def format_distance(metres: Any) -> str:
    """A distance: ``"850 m"`` below 1 km, ``"1.23 km"`` from 1 km; :data:`MISSING` when missing.

    Examples
    --------
    >>> format_distance(850.4), format_distance(1234.0), format_distance(None)
    ('850 m', '1.23 km', '—')
    """
    if is_missing(metres):
        return MISSING
    f = float(metres)
    return f"{f / 1000:,.2f} km" if abs(f) >= 1000 else f"{f:,.0f} m"
