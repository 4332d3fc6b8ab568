"""The co-location stage of one valley: a table of global co-location quotients and the
local quotients of the target firms (:mod:`geo.stats.colocation`).

Rows of the table (each a global CLQ(a→b) over the valley's firms, k = 8, tested by random
labelling with the run's permutations and seed):

* target firms → research anchors, when the firm table has the anchor flag column or the
  config gives an anchors points layer (its points then join the population);
* target firms → target firms (the sector's own co-location);
* target firms → each other sector with at least :data:`MIN_FIRMS` firms (composition);
* target firms inside parks → target firms, and outside parks → target firms, when the
  valley has parks and each group has at least :data:`MIN_FIRMS` firms.

The local table holds the local CLQ of every target firm towards its own sector and, with
anchors, towards the anchors (columns ``a`` and ``b`` name the relation), with FDR-adjusted
p-values at the run's ``alpha``.  With a handful of anchors in a valley of thousands of
firms, a single firm can hardly be significant after the FDR adjustment (one anchor among
its 8 neighbours has a probability of about ``8 n_anchors / n``), so the map shows the
target sector's own local co-location.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["COLOCATION_K", "MIN_FIRMS", "Colocation", "colocation_stage", "local_summary"]

#: neighbours per firm of every co-location quotient of the run
COLOCATION_K = 8
#: fewest firms of a category for a row of the table
MIN_FIRMS = 20

_COLUMNS = ["relation", "a", "b", "clq", "p", "n", "n_a", "n_b", "k", "mean_neighbours", "permutations"]


@dataclass(frozen=True)
class Colocation:
    """The co-location stage of one valley (``ValleyAnalysis.colocation``).

    Attributes
    ----------
    table : pandas.DataFrame
        One global CLQ(a→b) per relation: ``relation``, ``a``, ``b``, ``clq``, ``p``, ``n``,
        ``n_a``, ``n_b``, ``k``, ``mean_neighbours``, ``permutations``.
    local : pandas.DataFrame or None
        The local CLQ of the target firms (:func:`geo.local_colocation`) towards each ``b``,
        stacked and indexed like the valley's firms (a firm once per relation), with columns
        ``a`` and ``b``; None when none could be computed.
    k : int
        Neighbours per firm (:data:`COLOCATION_K`).
    anchor_source : str or None
        Where the research anchors came from ("anchors layer", "firm-table column `x`"), or
        None without anchor information.
    alternative : str
        The alternative of every p-value ("two-sided").
    alpha : float
        The FDR level of the local table's ``label``.
    permutations : int
        Random labellings of every test.
    """

    table: pd.DataFrame
    local: pd.DataFrame | None
    k: int
    anchor_source: str | None
    alternative: str
    alpha: float
    permutations: int


def _population(fm, anchors, anchor_column: str):
    """(points, n_firms, anchor mask, anchor source): the firms plus the anchors layer's points."""
    from geo.parks._common import _to
    from geo.parks.models import truthy_flags
    from geo.points import PointFrame, point_xy

    x, y = point_xy(fm)
    n_firms = len(x)
    flag = np.zeros(n_firms, dtype=bool)
    source = None
    if anchors is not None and len(anchors):
        ax, ay = point_xy(_to(anchors, fm.crs, "anchors"))
        x, y = np.r_[x, ax], np.r_[y, ay]
        flag = np.r_[flag, np.ones(len(ax), dtype=bool)]
        source = "anchors layer"
    elif anchor_column in fm.columns:
        flag = truthy_flags(fm[anchor_column])
        source = f"firm-table column `{anchor_column}`"
    pts = PointFrame(pd.DataFrame({"x": x, "y": y}), crs=fm.crs, xy=("x", "y"))
    return pts, n_firms, flag, source


def _in_parks(parks, fm, n: int) -> np.ndarray | None:
    from geo.parks._common import _inside, _to
    from geo.points import point_xy

    if parks is None or not len(parks):
        return None
    import shapely

    x, y = point_xy(fm)
    union = shapely.union_all(np.asarray(_to(parks, fm.crs, "parks").geometry.values))
    return np.r_[_inside(union, x, y), np.zeros(n - len(x), dtype=bool)]


def colocation_stage(fm, parks, *, target: str | None, sector_column: str, anchors: Any, anchor_column: str,
                     permutations: int, seed: int, alpha: float) -> tuple[Colocation | None, dict]:
    """The valley's co-location table and local table, and the rows that could not be computed.

    Parameters
    ----------
    fm : geo.points.PointFrame
        The valley's firms in its metric CRS.
    parks : GeoDataFrame or None
        The valley's parks (any CRS).
    target, sector_column : str
        The target sector and the sector column.
    anchors : GeoDataFrame or None
        The anchors points layer (``[models] anchors``); None: the ``anchor_column`` flag.
    permutations, seed, alpha
        The run's.

    Returns
    -------
    colocation : Colocation or None
        The table (one row per relation, :data:`_COLUMNS`), the local table and the test's
        settings; None when no relation could be set up (the reason is in ``skipped``).
    skipped : dict
        relation -> why it was not computed.
    """
    from geo.errors import GeoError
    from geo.stats.colocation import RUN_MAX_POINTS, colocation, local_colocation

    skipped: dict[str, str] = {}
    if target is None or sector_column not in fm.columns:
        return None, {"colocation": "no target sector configured"}
    pts, n_firms, anchor, source = _population(fm, anchors, anchor_column)
    n = len(pts)
    if n > RUN_MAX_POINTS:
        return None, {"colocation": (
            f"{n:,} firms: above the run's budget of {RUN_MAX_POINTS:,} for the co-location stage (each relation's "
            "permutation test would take minutes); call geo.colocation on the firms of interest")}
    sector = np.r_[fm[sector_column].astype(str).str.strip().to_numpy(dtype=object), np.full(n - n_firms, None, object)]
    known = np.r_[fm[sector_column].notna().to_numpy(), np.zeros(n - n_firms, bool)]
    firm = ~anchor
    tmask = (sector == str(target).strip()) & known & firm
    if tmask.sum() < MIN_FIRMS:
        return None, {"colocation": f"only {int(tmask.sum())} firms of {target!r} (at least {MIN_FIRMS} needed)"}
    rel: list[tuple[str, str, str, np.ndarray, np.ndarray]] = []
    if anchor.any():
        rel.append(("anchors", target, "research anchors", tmask, anchor))
    else:
        skipped["anchors"] = (f"no anchor information: no `{anchor_column}` column and no anchors layer"
                              if source is None else f"no research anchor in this valley ({source})")
    rel.append(("sector", target, target, tmask, tmask))
    counts = pd.Series(sector[known & firm]).value_counts()
    for other, c in counts.items():
        if other != str(target).strip() and c >= MIN_FIRMS:
            rel.append(("sector", target, str(other), tmask, (sector == other) & known & firm))
    inside = _in_parks(parks, fm, n)
    if inside is not None:
        for where, m in (("in parks", tmask & inside), ("outside parks", tmask & ~inside)):
            if m.sum() >= MIN_FIRMS:
                rel.append(("parks", f"{target} {where}", target, m, tmask))
            else:
                skipped[f"{target} {where}"] = f"only {int(m.sum())} {target} firms {where} (at least {MIN_FIRMS} needed)"
    rows = []
    for kind, a_name, b_name, am, bm in rel:
        try:
            r = colocation(pts, a=am, b=bm, k=COLOCATION_K, permutations=permutations, seed=seed)
        except GeoError as exc:
            skipped[f"{a_name} → {b_name}"] = str(exc)
            continue
        rows.append({"relation": kind, "a": a_name, "b": b_name, "clq": r.clq, "p": r.p, "n": r.n, "n_a": r.n_a,
                     "n_b": r.n_b, "k": r.k, "mean_neighbours": r.mean_neighbours, "permutations": r.permutations})
    table = pd.DataFrame(rows, columns=_COLUMNS)
    locals_ = []
    targets = [(tmask, target)] + ([(anchor, "research anchors")] if anchor.any() else [])
    for b_local, b_name in targets:
        try:
            local = local_colocation(pts, a=tmask, b=b_local, k=COLOCATION_K, permutations=permutations, seed=seed,
                                     alpha=alpha)
        except GeoError as exc:
            skipped[f"local {target} → {b_name}"] = str(exc)
            continue
        local.index = fm.index[local.index.to_numpy()]
        local.attrs = {}  # its settings are the stage's (Colocation's fields)
        local.insert(0, "b", b_name)
        local.insert(0, "a", target)
        locals_.append(local)
    result = Colocation(table=table, local=pd.concat(locals_) if locals_ else None, k=COLOCATION_K, anchor_source=source,
                        alternative="two-sided", alpha=float(alpha), permutations=int(permutations))
    return result, skipped


def local_summary(colocation: Colocation) -> list[dict] | None:
    """The counts of the local table for ``summary.json``: one entry per relation."""
    local = colocation.local
    if local is None:
        return None
    out = []
    for (a, b), grp in local.groupby(["a", "b"], sort=False):
        labels = grp["label"].value_counts()
        out.append({"a": a, "b": b, "n_points": len(grp), "n_colocated": int(labels.get("colocated", 0)),
                    "n_isolated": int(labels.get("isolated", 0)), "median_clq": float(grp["clq"].median()),
                    "alpha": colocation.alpha, "k": colocation.k, "permutations": colocation.permutations})
    return out
