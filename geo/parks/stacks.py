"""Hot spots made by a stacked geocode: cells, clusters and park verdicts that rest on one point.

A geocoder that falls back to a district centre puts hundreds of unrelated firms on one
point (:func:`geo.io._stacks.find_stacks` finds them).  Inside a hot cell such a stack can
*be* the hot spot.  :func:`stack_shares` measures, for every cell, how many of the firms the
statistic counted sit on the cell's biggest stack; a hot cell of which more than
:data:`DOMINANT` of the firms are one stack is flagged, and so are the clusters and the
park verdicts that rest on such cells ("hot spot may be a geocoding artefact: 2,082 of
2,310 firms sit on one fallback location").  The flags are warnings, not corrections: the
sensitivity run (``[firms] drop_stacked = "sensitivity"``) gives the verdicts without the
stacked firms.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.points import point_xy

__all__ = ["DOMINANT", "stack_shares", "cluster_artefacts", "park_artefacts"]

#: a cell, cluster or park is flagged when more than this share of its firms sit on one stack
DOMINANT = 0.5


def stack_shares(hot, firms_m, counted: np.ndarray | None = None, *, stack_column: str = "stack") -> pd.DataFrame:
    """Per cell of ``hot``: the firms of its biggest stack, the stack's id and centre, the artefact flag.

    Parameters
    ----------
    hot : GeoDataFrame
        Cells with ``gi_bin`` (the output of :func:`geo.hotspots`), metric CRS.
    firms_m : DataFrame or PointFrame
        The firms, in the CRS of ``hot``, with the ``stack`` column of
        :func:`geo.read_firms` (the stack id, -1 for none).
    counted : ndarray of bool, optional
        The firms the statistic counted (the target sector); default all.

    Returns
    -------
    DataFrame aligned to ``hot``: ``stack_id`` (-1: none), ``stack_firms`` (counted firms
    of that stack in the cell), ``cell_firms`` (counted firms in the cell), ``stack_share``
    and ``artefact`` (a hot cell, Gi* bin >= 2, with ``stack_share > DOMINANT``).
    """
    from geo.cells.grid import cell_positions

    n = len(hot)
    out = pd.DataFrame({"stack_id": np.full(n, -1, dtype=np.int64), "stack_firms": np.zeros(n, dtype=np.int64),
                        "cell_firms": np.zeros(n, dtype=np.int64)}, index=hot.index)
    if stack_column not in firms_m.columns or n == 0:
        out["stack_share"] = 0.0
        out["artefact"] = False
        return out
    sel = np.ones(len(firms_m), dtype=bool) if counted is None else np.asarray(counted, dtype=bool)
    x, y = point_xy(firms_m)
    stack = firms_m[stack_column].to_numpy()
    pos_all = cell_positions(hot, x[sel], y[sel])
    cell_firms = np.bincount(pos_all[pos_all >= 0], minlength=n)
    on = sel & (stack >= 0)
    if on.any():
        pos = cell_positions(hot, x[on], y[on])
        ok = pos >= 0
        pairs = pd.DataFrame({"cell": pos[ok], "stack": stack[on][ok]}).value_counts().reset_index(name="n")
        best = pairs.sort_values(["cell", "n"], ascending=[True, False], kind="stable").drop_duplicates("cell")
        out.iloc[best["cell"].to_numpy(), out.columns.get_loc("stack_id")] = best["stack"].to_numpy()
        out.iloc[best["cell"].to_numpy(), out.columns.get_loc("stack_firms")] = best["n"].to_numpy()
    out["cell_firms"] = cell_firms
    share = np.divide(out["stack_firms"].to_numpy(float), cell_firms, out=np.zeros(n), where=cell_firms > 0)
    out["stack_share"] = share
    out["artefact"] = (hot["gi_bin"].to_numpy() >= 2) & (share > DOMINANT)
    return out


def _note(stack_firms: int, firms: int) -> str:
    return (f"hot spot may be a geocoding artefact: {stack_firms:,} of {firms:,} firms sit on one fallback location "
            "(a stacked geocode)")


def _cells_note(cells: pd.DataFrame) -> str:
    """The note for a group of cells: dominated by one stack, or holding artefact cells ("" if neither)."""
    firms = int(cells["cell_firms"].sum())
    per_stack = cells[cells["stack_id"] >= 0].groupby("stack_id")["stack_firms"].sum()
    top = int(per_stack.max()) if len(per_stack) else 0
    if firms and top > DOMINANT * firms:
        return _note(top, firms)
    bad = cells[cells["artefact"]]
    if not len(bad):
        return ""
    worst = bad.sort_values("stack_firms", ascending=False).iloc[0]
    k = len(bad)
    return (f"{k} of its hot cells may be {'a geocoding artefact' if k == 1 else 'geocoding artefacts'}: in "
            f"{'it' if k == 1 else 'the biggest'}, {int(worst['stack_firms']):,} of {int(worst['cell_firms']):,} firms sit on "
            "one fallback location (a stacked geocode)")


def cluster_artefacts(clusters, shares: pd.DataFrame, *, cluster_cells: pd.Series | None = None) -> pd.Series:
    """Per cluster: a note when one stack holds more than :data:`DOMINANT` of its firms, or when some of its
    hot cells are artefacts (``""`` otherwise).

    Parameters
    ----------
    clusters : geopandas.GeoDataFrame
        Output of :func:`geo.cluster_polygons` (``cluster_id``).
    shares : pandas.DataFrame
        :func:`stack_shares` of the hot spots the clusters were made from.
    cluster_cells : pandas.Series, optional
        Which hot cell is in which cluster: index = the cells' index in ``shares``, value = the
        ``cluster_id`` (the record ``attrs["cell_cluster"]`` of :func:`geo.cluster_polygons`, read
        from ``clusters`` when not given; without either, no cluster is flagged).

    Returns
    -------
    pandas.Series
        The note of each cluster, aligned to ``clusters``.

    Raises
    ------
    geo.errors.InputError
        When ``cluster_cells`` (or the record read instead) names cells that are not in
        ``shares``, cluster ids that are not in ``clusters``, or a cell twice.
    """
    from geo.parks.clusters import _cluster_cells

    notes = pd.Series("", index=clusters.index, dtype=object)
    if not len(clusters):
        return notes
    cell_cluster = _cluster_cells(clusters, cluster_cells, cells=shares.index, cells_name="`shares`")
    if cell_cluster is None or not len(cell_cluster):
        return notes
    cc = cell_cluster.reindex(shares.index)
    for i, cid in zip(clusters.index, clusters["cluster_id"]):
        cells = shares[(cc == cid).to_numpy()]
        if len(cells):
            notes[i] = _cells_note(cells)
    return notes


def park_artefacts(overlay: pd.DataFrame, parks_m, hot, shares: pd.DataFrame, clusters, cluster_notes: pd.Series) -> pd.Series:
    """Per park: a note when the hot cells under it rest on one stack or include artefact cells, or
    when the cluster it overlaps most does (``""`` otherwise)."""
    import shapely

    from geo.parks.overlay import _cell_grid, _cell_xy, _cells_in

    notes = pd.Series("", index=overlay.index, dtype=object)
    if not len(parks_m):
        return notes
    grid = _cell_grid(*_cell_xy(hot))
    hot_mask = hot["gi_bin"].to_numpy() >= 2
    for (i, park), idx in zip(parks_m.iterrows(), _cells_in(list(parks_m.geometry.values), grid)):
        if i not in notes.index:
            continue
        note = _cells_note(shares.iloc[idx][hot_mask[idx]])
        if note:
            notes[i] = note
            continue
        main = overlay.loc[i].get("main_cluster") if "main_cluster" in overlay else None
        if main is not None and not pd.isna(main) and len(clusters):
            hit = clusters.index[clusters["cluster_id"] == main]
            if len(hit) and cluster_notes.get(hit[0]):
                notes[i] = f"its main cluster's {cluster_notes[hit[0]]}"
        elif len(clusters):
            for j, geom in zip(clusters.index, clusters.geometry.values):
                if cluster_notes.get(j) and shapely.intersects(geom, park.geometry):
                    notes[i] = f"an overlapping cluster's {cluster_notes[j]}"
                    break
    return notes
