"""Parks and emerging hot spots: the categories of the cells under and around each park,
and when the cells under it first became hot relative to the park's designation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from geo.errors import InputError
from geo.parks import overlay as _ov

__all__ = ["park_emerging", "EMERGING_COLUMNS"]

#: the columns :func:`park_emerging` adds to the overlay table
EMERGING_COLUMNS = ("ehs_under", "ehs_ring", "ehs_main_under", "ehs_first_hot", "ehs_first_hot_vs_designation",
                    "ehs_hot_final_under", "ehs_main_first_hot", "ehs_main_first_hot_vs_designation")
_YEAR_COLUMNS = ("ehs_first_hot", "ehs_first_hot_vs_designation", "ehs_main_first_hot", "ehs_main_first_hot_vs_designation")


def _counts(categories: np.ndarray) -> dict[str, int]:
    vals, cnt = np.unique(categories.astype(str), return_counts=True) if len(categories) else ([], [])
    return {str(v): int(c) for v, c in sorted(zip(vals, cnt), key=lambda kv: (-kv[1], kv[0]))}


def _main(counts: dict[str, int]) -> str:
    """The most frequent category other than "no pattern" (ties: the first in the order of
    :data:`geo.stats.spacetime.CATEGORIES`), or "no pattern"."""
    from geo.stats.spacetime import CATEGORIES

    patterned = {c: n for c, n in counts.items() if c != "no pattern"}
    if not patterned:
        return "no pattern"
    top = max(patterned.values())
    return next(c for c in CATEGORIES if patterned.get(c) == top)


def _first(years: np.ndarray) -> float:
    """The earliest of the cells' first hot steps (NaN: none was ever hot)."""
    return float(np.nanmin(years)) if np.isfinite(years).any() else np.nan


def park_emerging(parks: Any, cells: Any, emerging: Any) -> pd.DataFrame:
    """Emerging-hot-spot facts of each park, one row per park (aligned to ``parks``).

    The cells *under* a park are those whose centroid lies in it (the nearest cell for a
    park smaller than a cell), as in :func:`geo.park_overlay`; the *ring* is the band of
    equal area around the park (:func:`geo.parks.overlay.park_rings`).

    Parameters
    ----------
    parks : geopandas.GeoDataFrame
        The parks (``designated`` years used when present), any CRS.
    cells : geopandas.GeoDataFrame
        The cells of the cube, in the order of ``emerging.table``.
    emerging : geo.stats.spacetime.EmergingHotspots

    Returns
    -------
    pandas.DataFrame
        ``ehs_under`` and ``ehs_ring`` (dicts: category -> number of cells, most frequent first),
        ``ehs_main_under`` (the most frequent category under the park other than "no
        pattern"), ``ehs_first_hot`` (the first step in which a cell under the park was a
        hot spot at ``alpha`` after FDR; <NA> if never), ``ehs_first_hot_vs_designation``
        (that step minus the designation year: negative when the cells were hot before
        the park was designated), ``ehs_hot_final_under`` (cells under the park hot in
        the final step), ``ehs_main_first_hot`` (the first step in which a cell under the park
        *of its main category* was hot: when the park's pattern began; <NA> for "no pattern")
        and ``ehs_main_first_hot_vs_designation`` (that step minus the designation year).
        ``ehs_first_hot`` counts any cell, also one hot once decades before the cluster (a
        research institute alone in its cell); ``ehs_main_first_hot`` is the year the
        report's answer cites.
    """
    tab = emerging.table
    if len(tab) != len(cells) or not tab.index.equals(cells.index):
        msg = (f"`emerging` must be the emerging hot spots of `cells` (one row per cell, in the same order); it has "
               f"{len(tab)} rows for {len(cells)} cells.")
        raise InputError(msg)
    parks_m = _ov._metric(parks, cells.crs)
    grid = _ov._cell_grid(*_ov._cell_xy(cells))
    cats = tab["category"].to_numpy()
    first = tab["first_hot"].to_numpy(dtype=float, na_value=np.nan)
    alpha = emerging.options.get("alpha", 0.05)
    final_hot = (emerging.p_fdr.iloc[:, -1].to_numpy() <= alpha) & (emerging.z.iloc[:, -1].to_numpy() > 0)
    geoms = parks_m.geometry.values
    rings = _ov.park_rings(parks_m)
    designated = (pd.to_numeric(parks_m["designated"], errors="coerce").to_numpy(float) if "designated" in parks_m
                  else np.full(len(parks_m), np.nan))
    rows = []
    for k, (idx, ring_idx) in enumerate(zip(_ov._cells_in(geoms, grid), _ov._cells_in(rings, grid))):
        if len(idx) == 0:
            import shapely

            c = shapely.centroid(geoms[k])
            idx = np.array([int(np.argmin((grid.x - c.x) ** 2 + (grid.y - c.y) ** 2))])
        under = _counts(cats[idx])
        main = _main(under)
        fh = _first(first[idx])
        mfh = _first(first[idx][cats[idx] == main]) if main != "no pattern" else np.nan
        rows.append({
            "ehs_under": under, "ehs_ring": _counts(cats[ring_idx]),
            "ehs_main_under": main, "ehs_first_hot": fh,
            "ehs_first_hot_vs_designation": fh - designated[k], "ehs_hot_final_under": int(final_hot[idx].sum()),
            "ehs_main_first_hot": mfh, "ehs_main_first_hot_vs_designation": mfh - designated[k],
        })
    out = pd.DataFrame(rows, index=parks.index, columns=list(EMERGING_COLUMNS))
    for c in _YEAR_COLUMNS:
        vals = out[c].to_numpy(dtype=float)
        arr = pd.array(np.where(np.isfinite(vals), vals, 0).astype(np.int64), dtype="Int64")
        arr[~np.isfinite(vals)] = pd.NA
        out[c] = arr
    return out
