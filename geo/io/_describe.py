"""The input kind of a run in words, from the load reports (``summary.json["inputs"]``, the report, the console)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["describe_inputs"]


def _name(path: Any) -> str:
    return Path(str(path)).name if path else "—"


def _sectors(counts: Mapping[str, int] | None, k: int = 5) -> str:
    items = list((counts or {}).items())
    shown = ", ".join(f"{s} {n:,}" for s, n in items[:k])
    return (shown + (f", … ({len(items) - k} more)" if len(items) > k else "")) or "none"


def _table(lr: Mapping[str, Any]) -> str:
    t = lr.get("sector_table")
    return {"default": "the default table", "config": "the config's table", None: "the default table"}.get(t, _name(t))


def _firms(lr: Mapping[str, Any]) -> str:
    counts = f"{lr.get('rows_kept', 0):,} firms kept of {lr.get('rows_read', 0):,}"
    source = lr.get("source")
    if source == "osm":
        return (f"OpenStreetMap extract {_name(lr.get('file'))} (tags → sectors by {_table(lr)}: "
                f"{_sectors(lr.get('features_by_sector'))}), {counts}")
    if source == "overture":
        return (f"Overture Places {_name(lr.get('file'))} (categories → sectors by {_table(lr)}: "
                f"{_sectors(lr.get('places_mapped_by_sector'))}; min_confidence {lr.get('min_confidence')}), {counts}")
    return f"firm table {_name(lr.get('file'))} ({lr.get('format', 'table')}), {counts}"


def _parks(pr: Mapping[str, Any]) -> str:
    if not pr.get("file"):
        return "no park file: the park stages did not run"
    kept, rejected, approx = pr.get("parks_kept", 0), pr.get("features_rejected", 0), pr.get("approximate_boundaries", 0)
    tail = f", {rejected:,} rejected" if rejected else ""
    if pr.get("source") == "catalogue":
        cat = pr.get("catalogue") or {}
        head = (f"development-zone catalogue {_name(cat.get('points'))} + {_name(cat.get('attributes'))} "
                f"(joined on the {cat.get('join', 'code')}), {kept:,} zones{tail}")
    elif pr.get("source") == "osm":
        head = f"OpenStreetMap extract {_name(pr.get('file'))}: named industrial areas and high-tech zones, {kept:,} parks{tail}"
    elif pr.get("lon_column"):
        head = f"park table {_name(pr.get('file'))} (points: {pr['lon_column']} / {pr.get('lat_column')}), {kept:,} parks{tail}"
    else:
        head = f"park layer {_name(pr.get('file'))}, {kept:,} parks{tail}"
    if approx and approx == kept:
        return head + "; outlines approximated as discs of the approved area"
    if approx:
        return head + f"; {approx:,} outline(s) approximated as discs of the approved area"
    return head


def describe_inputs(load_report: Mapping[str, Any], parks_report: Mapping[str, Any]) -> dict[str, str]:
    """The kind of each input of a run, in one phrase each.

    Parameters
    ----------
    load_report : mapping
        The firm table's load report (``summary.json["load"]``).
    parks_report : mapping
        The parks' load report (``summary.json["parks_load"]``).

    Returns
    -------
    dict
        ``{"firms": ..., "parks": ...}``, e.g. ``"OpenStreetMap extract wuhan.osm.pbf (tags → sectors by the
        default table: ict 40, manufacturing 12), 52 firms kept of 60"`` and ``"development-zone catalogue
        zones.shp + zones.xlsx (joined on the code), 12 zones, 1 rejected; outlines approximated as discs of
        the approved area"``.

    Examples
    --------
    >>> describe_inputs({"file": "/d/firms.csv", "format": "csv", "rows_read": 10, "rows_kept": 9},
    ...                 {"file": "/d/parks.gpkg", "parks_kept": 2})
    {'firms': 'firm table firms.csv (csv), 9 firms kept of 10', 'parks': 'park layer parks.gpkg, 2 parks'}
    """
    return {"firms": _firms(load_report or {}), "parks": _parks(parks_report or {})}
