"""Text for the map pages: escaping data strings, JSON safe inside ``<script>``, numbers for tooltips."""

from __future__ import annotations

import html
import json
import math
from typing import Any

import pandas as pd

from geo.outputs._style import format_number, p_phrase

__all__ = ["escape"]


# ----------------------------------------------------------------------------- escaping
_JS_TEMPLATE_CHARS = str.maketrans({"`": "&#96;", "$": "&#36;", "\\": "&#92;", "{": "&#123;", "}": "&#125;"})


def escape(value: Any) -> str:
    """HTML-escape a value from the data for a tooltip, popup, legend or layer name.

    ``& < > " '`` become character references (``html.escape``), and so do the
    characters that are special inside JavaScript template literals (backtick, ``$`` and
    backslash), because folium writes tooltip and popup HTML into such literals, and the
    braces, because folium parses what its elements render once more as a Jinja template
    (a name like ``{{ 7*7 }}`` would otherwise be evaluated).  The result renders as the
    original text.  Missing values (None, NaN, ``pd.NA``) give "".

    Parameters
    ----------
    value : Any

    Returns
    -------
    str

    Examples
    --------
    >>> escape('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    >>> escape("${alert(1)} `x`")
    '&#36;&#123;alert(1)&#125; &#96;x&#96;'
    """
    if _missing(value):
        return ""
    return html.escape(str(value), quote=True).translate(_JS_TEMPLATE_CHARS)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    kind = type(value)
    if kind is float:  # the common cases first: pd.isna is NaN for a float, False for these
        return value != value
    if kind is int or kind is str or kind is bool:
        return False
    try:
        return bool(pd.api.types.is_scalar(value) and pd.isna(value))
    except (TypeError, ValueError):
        return False


#: ``json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)``, made once
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _js(obj: Any) -> str:
    """Compact JSON safe to embed in a ``<script>`` element (``<``, ``>``, ``&`` escaped)."""
    text = _JSON.encode(obj)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


# ----------------------------------------------------------------------------- formatting
def _num(v: Any) -> str:
    """A number for a tooltip (:func:`geo.outputs._style.format_number`, escaped)."""
    return escape(format_number(v))


def _p(v: Any) -> str:
    """``p = 0.032`` / ``p < 1e-300`` for a tooltip (:func:`geo.outputs._style.p_phrase`, escaped)."""
    return escape(p_phrase(v))


def _year(v: Any) -> int | None:
    if _missing(v):
        return None
    try:
        y = float(v)
    except (TypeError, ValueError):
        return None
    return int(y) if math.isfinite(y) else None
