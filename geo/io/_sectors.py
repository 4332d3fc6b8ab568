"""Sector tables of the OSM and Overture firm sources: a tag or category -> sector mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geo._words import listing
from geo.errors import ColumnError, InputError

__all__ = ["read_sector_table"]


def read_sector_table(sectors: Any, *, default: Mapping[str, str], what: str) -> dict[str, str]:
    """A sector table as a dict: ``default`` when ``sectors`` is None, a mapping as given, or a
    CSV path of two columns (the tag or category, the sector; a header row is expected)."""
    if sectors is None:
        return dict(default)
    if isinstance(sectors, Mapping):
        table = {str(k).strip(): str(v).strip() for k, v in sectors.items()}
    else:
        import pandas as pd

        from geo.io._text import check_file

        p = check_file(sectors, f"{what} sector table")
        frame = pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        if frame.shape[1] != 2:
            msg = (f"The {what} sector table '{p.name}' must have two columns (the {what} key, the sector); it has "
                   f"{frame.shape[1]}: {listing(frame.columns)}.")
            raise ColumnError(msg)
        table = {str(k).strip(): str(v).strip() for k, v in frame.itertuples(index=False)}
    empty = [k for k, v in table.items() if not k or not v]
    if empty or not table:
        msg = (f"The {what} sector table has an empty key or sector ({listing(repr(k) for k in empty)})." if empty
               else f"The {what} sector table is empty: give at least one entry.")
        raise InputError(msg)
    return table
