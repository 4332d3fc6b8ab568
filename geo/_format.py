"""How a number, a percentage and a p-value are written: one formatter each for every stage
and output.

The park verdicts (:mod:`geo.parks.overlay`), the development models
(:mod:`geo.parks.models`), the groups' answer (:mod:`geo.parks.groups`) and the headline
(:mod:`geo.parks.answer`) write numbers, shares and p-values into sentences; the report, the
maps and the figures print them in tables, tooltips and titles (through
:mod:`geo.outputs._style`, which re-exports these functions).  This module sits at the
ground floor so that every stage can import it.

A p-value of exactly 0 cannot come from a permutation test (the smallest pseudo p-value is
``1 / (permutations + 1)``), but an exact test can underflow to 0 in double precision: it
is written ``< 1e-300``, never ``0``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["MISSING", "is_missing", "missing_as_dash", "format_p", "p_phrase", "format_number", "format_pct"]

#: the text of a missing value in tables and tooltips
MISSING = "—"

#: an underflowed p-value of 0 is below this
_P_FLOOR = "1e-300"


def is_missing(value: Any) -> bool:
    """Whether ``value`` is None, NaN, ``pd.NA`` or ``pd.NaT`` (plain text, no pandas import)."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    kind = type(value).__name__
    if kind in ("NAType", "NaTType"):
        return True
    try:
        return bool(value != value)  # NaN of numpy floats
    except (TypeError, ValueError):
        return False


def missing_as_dash(formatter: Callable[..., str]) -> Callable[..., str]:
    """Decorator: the formatter writes :data:`MISSING` for a missing value (:func:`is_missing`
    of its first argument) and formats only values.

    Examples
    --------
    >>> @missing_as_dash
    ... def metres(x):
    ...     return f"{x:.0f} m"
    >>> metres(12.4), metres(None), metres(float("nan"))
    ('12 m', '—', '—')
    """

    @functools.wraps(formatter)
    def format_or_dash(value: Any, *args: Any, **kwargs: Any) -> str:
        return MISSING if is_missing(value) else formatter(value, *args, **kwargs)

    return format_or_dash


@missing_as_dash
def format_p(p: Any) -> str:
    """A p-value as plain text: 3 significant digits, ``< 1e-300`` for an underflowed 0.

    Parameters
    ----------
    p : float or None

    Returns
    -------
    str
        ``"0.032"``, ``"1"``, ``"2.00e-05"`` (below 1e-4), ``"< 1e-300"`` (exactly 0) or
        :data:`MISSING` (None or NaN).  Not HTML-escaped (``<``).

    Examples
    --------
    >>> format_p(0.0321), format_p(1.0), format_p(5.284e-167), format_p(0.0), format_p(float("nan"))
    ('0.0321', '1', '5.28e-167', '< 1e-300', '—')
    """
    f = float(p)
    if f == 0.0:
        return f"< {_P_FLOOR}"
    if f < 1e-4:
        return f"{f:.2e}"
    return f"{f:.3g}"


def p_phrase(p: Any, *, name: str = "p") -> str:
    """``"p = 0.032"`` for a sentence; ``"p < 1e-300"`` for an underflowed 0.

    Parameters
    ----------
    p : float or None
    name : str, default "p"
        The symbol written before the value (``"p_sim"``, ...).

    Returns
    -------
    str
        ``"<name> = <format_p(p)>"``, ``"<name> < 1e-300"``, or ``"<name> not computed"``
        when ``p`` is missing.  Not HTML-escaped.

    Examples
    --------
    >>> p_phrase(0.022), p_phrase(0.0), p_phrase(None), p_phrase(0.002, name="p_sim")
    ('p = 0.022', 'p < 1e-300', 'p not computed', 'p_sim = 0.002')
    """
    if is_missing(p):
        return f"{name} not computed"
    text = format_p(p)
    return f"{name} {text}" if text.startswith("<") else f"{name} = {text}"


@missing_as_dash
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


@missing_as_dash
def format_pct(share: Any, decimals: int = 1) -> str:
    """A share in [0, 1] as a percentage: ``"12.3 %"``, a whole percentage without decimals
    (``"100 %"``, a threshold ``"40 %"``); :data:`MISSING` when missing.

    Examples
    --------
    >>> format_pct(0.1234), format_pct(1.0), format_pct(0.4), format_pct(0.1201), format_pct(None)
    ('12.3 %', '100 %', '40 %', '12.0 %', '—')
    """
    pct = 100 * float(share)
    if math.isfinite(pct) and round(pct, 9).is_integer():
        return f"{round(pct):.0f} %"
    return f"{pct:.{decimals}f} %"
