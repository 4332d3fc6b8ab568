"""How a p-value is written in words: one formatter for every stage and output.

The park verdicts (:mod:`geo.parks.overlay`) and the groups' answer
(:mod:`geo.parks.groups`) write p-values into sentences; the report, the maps and the
figures print them in tables, tooltips and titles (through :mod:`geo.outputs._style`,
which re-exports these functions).  This module sits at the ground floor so that every
stage can import it.

A p-value of exactly 0 cannot come from a permutation test (the smallest pseudo p-value is
``1 / (permutations + 1)``), but an exact test can underflow to 0 in double precision: it
is written ``< 1e-300``, never ``0``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

__all__ = ["MISSING", "is_missing", "missing_as_dash", "format_p", "p_phrase"]

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
