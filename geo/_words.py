"""Wording shared by the error messages: lists, counted values, the closest match."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import pandas as pd

__all__ = ["listing", "counted", "suggest"]

_SHOW = 30  # items listed in a message at most


def listing(items: Sequence[Any], *, limit: int = _SHOW) -> str:
    """``a, b, c`` (``… and 12 more`` past ``limit``)."""
    items = [str(i) for i in items]
    head = ", ".join(items[:limit])
    return head + (f" … and {len(items) - limit:,} more" if len(items) > limit else "")


def counted(counts: pd.Series, *, limit: int = 10) -> str:
    """``optics (3,026), software (2,641)`` for the most frequent values of ``counts``."""
    top = counts.sort_values(ascending=False, kind="stable")
    text = ", ".join(f"{k} ({int(v):,})" for k, v in top.iloc[:limit].items())
    return text + (f" … and {len(top) - limit:,} more values" if len(top) > limit else "")


def suggest(value: Any, choices: Sequence[Any]) -> str:
    """`` Did you mean 'optics'?`` when one of ``choices`` is close to ``value`` (any case), else ``""``."""
    by_lower: dict[str, str] = {}
    for c in choices:
        by_lower.setdefault(str(c).strip().lower(), str(c))
    want = str(value).strip().lower()
    if want in by_lower and by_lower[want] != str(value):
        return f" Did you mean {by_lower[want]!r}?"
    close = difflib.get_close_matches(want, list(by_lower), n=1, cutoff=0.6)
    return f" Did you mean {by_lower[close[0]]!r}?" if close else ""
