"""Parks versus clusters: per-park overlay metrics, tests and verdicts.

The clusters themselves (cluster polygons, point clusters, clusters outside parks) are
delineated in :mod:`geo.parks.clusters`; their names are re-imported here for one release.

This module answers the package's question for each park:

* does the park coincide with a cluster of firms (overlap metrics and a random-placement
  test that keeps the firms' own spatial structure), and is the target sector
  over-represented inside it (an exact random-labelling test)?
* was the cluster already there before the park was designated (the precedence test:
  hotspots recomputed on the firms founded before the designation year, and entries per
  year inside and outside the park before and after designation)?

Everything is computed in the metric CRS of the hotspot cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from geo._format import p_phrase
from geo._random import check_seed
from geo.errors import InputError
from geo.parks._common import VERDICTS, _metric
from geo.parks.clusters import (  # noqa: F401  (the cluster functions, re-imported for one release)
    _cluster_cells,
    _cluster_polygons,
    _components,
    _hot_mask,
    _union_cells,
    cluster_polygons,
    clusters_outside_parks,
    point_cluster_agreement,
    point_clusters,
)
from geo.points import point_xy, sector_mask

__all__ = [
    "park_overlay",
    "placement_test",
    "labelling_test",
    "precedence_test",
    "entry_rate_ratio",
    "verdict",
    "firm_counts",
    "FirmCounts",
    "VERDICTS",
    "APPROXIMATE_NOTE",
]


#: added to the verdict reason of a park known only by a point and its approved area
#: (``approximate_boundary``, :func:`geo.io.parks.approximate_discs`)
APPROXIMATE_NOTE = ("The park has an approximate boundary (a disc of the approved area): the overlap shares, the "
                    "placement and the precedence tests depend on the outline.")

#: null hypotheses in plain words (for docstrings, summary.json and the report)
NULLS = {
    "labelling": (
        "Random labelling: given where all firms are, the target-sector firms are a random "
        "subset of them, so the number inside the park follows a hypergeometric distribution."
    ),
    "placement": (
        "Random placement: the park could have been placed anywhere in the study area, at any "
        "rotation; the firms' spatial pattern is kept as observed. The park is no more on the "
        "cluster than a randomly placed park of the same shape and size."
    ),
    "precedence": (
        "The park's location was not a significant cluster of target-sector firms founded "
        "before the designation year (Gi* recomputed on those firms, same cells and weights)."
    ),
    "entry_ratio": (
        "Entries per year inside and outside the park changed by the same factor after "
        "designation (difference-in-differences rate ratio = 1; Poisson counts)."
    ),
}


# ----------------------------------------------------------------------------- helpers
def _cell_xy(cells) -> tuple[np.ndarray, np.ndarray]:
    import shapely

    c = shapely.centroid(np.asarray(cells.geometry.values))  # a plain array: no pandas ufunc detour (5x)
    return shapely.get_x(c), shapely.get_y(c)


def _inside(geom, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Points inside ``geom``, with a bounding-box prefilter (boundary counts as inside)."""
    import shapely

    x0, y0, x1, y1 = geom.bounds
    box = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    out = np.zeros(len(x), dtype=bool)
    if box.any():
        idx = np.flatnonzero(box)
        out[idx] = shapely.intersects_xy(geom, x[idx], y[idx])
    return out


# ----------------------------------------------------------------------------- tests
def labelling_test(n_in: int, target_in: int, n_total: int, target_total: int, *, alternative: str = "greater",
                   mid_p: bool = False) -> float:
    """Exact random-labelling (hypergeometric) test of target-sector over-representation.

    Given ``n_total`` firms of which ``target_total`` are in the target sector, the number
    of target firms among the ``n_in`` firms inside the park is hypergeometric under
    random labelling.

    .. math:: p = P(X \\ge x), \\qquad p_{mid} = P(X > x) + \\tfrac12 P(X = x),
              \\quad X \\sim \\mathrm{Hypergeom}(N, K, n)

    The default is one-sided (``alternative="greater"``: over-represented), because the
    question is directional; ``"two-sided"`` doubles the smaller tail (capped at 1) and
    ``"less"`` gives the lower tail.  ``mid_p=True`` gives the mid-p value (Lancaster 1961),
    which counts the observed count by half: the exact test is conservative when few target
    firms are expected in the park (over 38,400 park tests in 40 simulated null valleys it
    rejected 3.6 % at ``alpha`` = 0.05), the mid-p test rejects close to ``alpha`` (4.8 %;
    tests/test_parks.py, the size study).  :func:`park_overlay` reports both and its verdict
    uses the mid-p.  1.0 when the park holds no firm or the sector none (nothing to test).
    """
    from geo.stats._inference import hypergeom_p

    if n_in == 0 or target_total == 0:
        return 1.0
    return hypergeom_p(target_in, n_total, target_total, n_in, alternative=alternative, mid_p=mid_p)


def _random_placements(park, area, mask, n: int, rng: np.random.Generator, max_tries: int):
    """Up to n rotated + translated copies of ``park`` lying inside ``area`` (and ``mask``).

    Candidates (a uniform angle about the park's centroid, the centroid moved to a uniform
    point of the bounding box of the region) are drawn and tested in batches, and kept in
    the order drawn until ``n`` fit: the same placements as drawing and testing one
    candidate at a time from the same sequence of candidates.  Returns the placements and
    the number of candidates that sequential sampler would have tried: every candidate up
    to and including the last one kept (the rest of the last batch is not counted), or all
    candidates drawn when fewer than ``n`` fitted within ``max_tries``.
    """
    import shapely

    region = area if mask is None else shapely.intersection(area, mask)
    shapely.prepare(region)
    c = shapely.centroid(park)
    coords = shapely.get_coordinates(park) - [c.x, c.y]
    ax0, ay0, ax1, ay1 = region.bounds
    # a polygon without holes: the copies are built from coordinate arrays in one call;
    # other shapes (holes, several parts): copies of the park given the new coordinates
    simple = shapely.get_type_id(park) == 3 and shapely.get_num_interior_rings(park) == 0
    wkb = None if simple else shapely.to_wkb(park)
    out = []
    tries = 0
    batch = max(64, n)
    while len(out) < n and tries < max_tries:
        theta = rng.uniform(0, 2 * np.pi, batch)
        tx = rng.uniform(ax0, ax1, batch)
        ty = rng.uniform(ay0, ay1, batch)
        # the whole batch at once (the same candidates, in the same order, as one by one);
        # math.cos/sin as the one-by-one loop had (numpy's may differ in the last bit)
        ct = np.array([math.cos(t) for t in theta.tolist()])[:, None]
        st = np.array([math.sin(t) for t in theta.tolist()])[:, None]
        rx = coords[None, :, 0] * ct - coords[None, :, 1] * st + tx[:, None]
        ry = coords[None, :, 0] * st + coords[None, :, 1] * ct + ty[:, None]
        if simple:
            cands = shapely.polygons(np.stack([rx, ry], axis=-1))
        else:
            cands = shapely.set_coordinates(shapely.from_wkb(np.full(batch, wkb, dtype=object)),
                                            np.stack([rx, ry], axis=-1).reshape(-1, 2))
        ok = np.flatnonzero(shapely.contains(region, cands))
        need = n - len(out)
        # a batch that completes the n placements counts only up to the last one kept
        tries += int(ok[need - 1]) + 1 if len(ok) >= need else batch
        out.extend(cands[ok[:need]])
    return out, tries


@dataclass(frozen=True)
class _CellGrid:
    """Cell centroids in rows, for the point-in-polygon kernel.

    The cells with finite centroids, sorted by row and by x within a row (ties by
    position): ``order`` their positions in the cell table, ``ox``/``oy`` their
    coordinates.  A row is a run of centroids whose sorted y values are less than
    ``delta`` apart (a row of a hexagon or square lattice, whose centroids differ by
    rounding only); row ``r`` holds the slots ``row_start[r]:row_start[r + 1]`` and
    spans ``row_lo[r]..row_hi[r]`` in y.  ``identity``: the slots are the positions.
    """

    x: np.ndarray
    y: np.ndarray
    order: np.ndarray
    ox: np.ndarray
    oy: np.ndarray
    row_start: np.ndarray
    row_lo: np.ndarray
    row_hi: np.ndarray
    identity: bool


def _cell_grid(cx: np.ndarray, cy: np.ndarray) -> _CellGrid:
    """The rows of cell centroids (see :class:`_CellGrid`)."""
    cx = np.ascontiguousarray(cx, dtype=np.float64)
    cy = np.ascontiguousarray(cy, dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(cx) & np.isfinite(cy))
    by_y = ok[np.argsort(cy[ok], kind="stable")]
    ys = cy[by_y]
    delta = 1e-9 * float(np.abs(ys).max()) if len(ys) else 0.0
    new_row = np.r_[True, np.diff(ys) > delta] if len(ys) else np.zeros(0, bool)
    row = np.empty(len(cx), dtype=np.int64)
    row[by_y] = np.cumsum(new_row) - 1
    order = ok[np.lexsort((cx[ok], row[ok]))].astype(np.int64)
    heads = np.flatnonzero(new_row)
    row_start = np.r_[heads, len(ys)].astype(np.int64)
    row_lo = ys[heads] if len(ys) else np.zeros(0)
    row_hi = ys[row_start[1:] - 1] if len(ys) else np.zeros(0)
    identity = len(order) == len(cx) and bool(np.array_equal(order, np.arange(len(cx))))
    return _CellGrid(cx, cy, order, cx[order], cy[order], row_start, np.ascontiguousarray(row_lo),
                     np.ascontiguousarray(row_hi), identity)


#: relative size of the band around an edge where the point-in-polygon kernel does not
#: trust its floating-point side test (the rounding errors are below 1e-15 of it)
_ORIENT_TOL = 1e-12

#: polygons per call of the kernel: its output stays small (a few MB) and is reused
_UNDER_CHUNK = 64


def _cells_in(geoms, grid: _CellGrid):
    """Sorted positions of the cells whose centroid lies in each geometry (boundary included).

    Yields, geometry by geometry, the same cells as
    ``np.flatnonzero(_inside(geom, grid.x, grid.y))``: valid (Multi)Polygons go through
    :func:`geo.parks._kernels.under_kernel` (GEOS decides the few cells the kernel is unsure of); other
    geometries through :func:`_inside` itself.
    """
    import shapely

    from geo.parks._kernels import under_kernel

    geoms = np.asarray(geoms, dtype=object)
    cap = 4096
    for c0 in range(0, len(geoms), _UNDER_CHUNK):
        chunk = geoms[c0:c0 + _UNDER_CHUNK]
        fast = np.isin(shapely.get_type_id(chunk), (3, 6)) & ~shapely.is_empty(chunk) & shapely.is_valid(chunk)
        sel = np.flatnonzero(fast)
        if len(sel):
            parts, part_of = shapely.get_parts(chunk[sel], return_index=True)
            rings, ring_of = shapely.get_rings(parts, return_index=True)
            coords, coord_of = shapely.get_coordinates(rings, return_index=True)
            ring_start = np.searchsorted(part_of[ring_of], np.arange(len(sel) + 1)).astype(np.int64)
            coord_start = np.searchsorted(coord_of, np.arange(len(rings) + 1)).astype(np.int64)
            ins, ins_start, uns, uns_start = under_kernel(
                ring_start, coord_start, np.ascontiguousarray(coords[:, 0]), np.ascontiguousarray(coords[:, 1]), len(grid.x),
                grid.order, grid.ox, grid.oy, grid.row_start, grid.row_lo, grid.row_hi, grid.identity, _ORIENT_TOL, cap)
            cap = max(cap, int(1.25 * len(ins)))
        j = 0
        for k, g in enumerate(chunk):
            if not fast[k]:
                yield np.flatnonzero(_inside(g, grid.x, grid.y))
                continue
            idx = ins[ins_start[j]:ins_start[j + 1]]
            unsure = uns[uns_start[j]:uns_start[j + 1]]
            if len(unsure):
                idx = np.sort(np.concatenate([idx, unsure[shapely.intersects_xy(g, grid.x[unsure], grid.y[unsure])]]))
            j += 1
            yield idx


def _under_many(geoms, grid: _CellGrid, values: list[np.ndarray]) -> list[tuple]:
    """For each geometry: the mean of each array of ``values`` over the cells whose centroids
    lie in it, and the number of those cells.

    A park smaller than a cell may contain no centroid: then the cell nearest to the
    park's centroid stands for it.  The means are ``np.mean`` of the cells' values in the
    order of the cells, as with a boolean mask.
    """
    import shapely

    out = []
    for g, idx in zip(geoms, _cells_in(geoms, grid)):
        if len(idx) == 0:
            c = shapely.centroid(g)
            idx = np.array([int(np.argmin((grid.x - c.x) ** 2 + (grid.y - c.y) ** 2))])
        n = len(idx)
        # np.mean's own steps (np.add.reduce, then / n) without its overhead: the same floats
        out.append(tuple(float(np.add.reduce(v[idx]) / n) for v in values) + (n,))
    return out


def placement_test(park, hot, *, study_area, mask=None, permutations: int = 999, seed=0, min_bin: int = 2) -> dict:
    """Random-placement test: is the park on the cluster more than a random park would be?

    The park polygon is rotated by a uniform random angle about its centroid and moved to
    a uniform random position such that the whole polygon lies inside the study area (and
    the optional ``mask`` of developable land), ``permutations`` times.  The statistic is
    the mean Gi* z-score of the cells whose centroids fall inside the polygon; the hot-cell
    share of those cells is reported alongside.  The pseudo p-value is one-sided (the park
    sits on *higher* z than random placements):

    .. math:: p = \\frac{\\#\\{T_k \\ge T_{obs}\\} + 1}{K + 1}

    Null hypothesis: see ``NULLS["placement"]``.  If the park is so large that few random
    positions fit, fewer placements are made (``permutations_done``) and the p-value uses
    that number.  ``placement_acceptance`` is the share of candidate placements (angle and
    position drawn uniformly, the position in the bounding box of the study area within
    the mask) that fitted: ``permutations_done`` over the candidates tried.
    """
    return _placement(park, hot, _cell_grid(*_cell_xy(hot)), study_area=study_area, mask=mask, permutations=permutations,
                      rng=check_seed(seed), min_bin=min_bin)


def _placement(park, hot, grid: _CellGrid, *, study_area, mask, permutations: int, rng: np.random.Generator, min_bin: int) -> dict:
    """:func:`placement_test` on the cell centroids of ``grid`` (made once per overlay)."""
    from geo.stats._inference import simulated_p

    z = hot["gi_z"].to_numpy(float)
    h = (hot["gi_bin"].to_numpy() >= min_bin).astype(float)
    (obs_z, obs_hot, n_cells), = _under_many([park], grid, [z, h])
    sims, tries = _random_placements(park, study_area, mask, permutations, rng, max_tries=200 * max(permutations, 1))
    under = _under_many(sims, grid, [z, h])
    sim_z = np.array([u[0] for u in under], dtype=float)
    sim_hot = np.array([u[1] for u in under], dtype=float)
    K = len(sims)
    # ties count as "as extreme"; z values are floats: compare with a relative tolerance
    tol = 1e-9 * max(1.0, abs(obs_z))
    p_z = simulated_p(obs_z, sim_z, alternative="greater", tol=tol)
    p_hot = simulated_p(obs_hot, sim_hot, alternative="greater", tol=1e-12)
    return {
        "mean_z": obs_z,
        "hot_share_cells": obs_hot,
        "n_cells_under": n_cells,
        "p_placement": float(p_z),
        "p_placement_hot": float(p_hot),
        "sim_mean_z": float(np.mean(sim_z)) if K else np.nan,
        "permutations_done": K,
        "placement_acceptance": K / tries if tries else np.nan,
    }


def _data_span_notes(year: int, years_before: Any, years_after: Any, n_dated: Any) -> list[str]:
    """Notes for a designation year outside the founding years of the target firms: the precedence test then
    compares the data with nothing on one side (a park designated after the registry's last entry, or before
    its first)."""
    if not n_dated:
        return []
    notes = []
    if years_after == 0:
        notes.append(f"designated in {year}, after the last founding year of the target firms: the data show nothing "
                     "after designation")
    if years_before == 0:
        notes.append(f"designated in {year}, no later than the first founding year of the target firms: the data hold no "
                     "target firm from before designation")
    return notes


def entry_rate_ratio(founded: np.ndarray, inside: np.ndarray, year: int, *, first: int | None = None, last: int | None = None) -> dict:
    """Difference-in-differences rate ratio of entries inside vs outside a park.

    With ``a``/``b`` entries inside the park before/after designation and ``c``/``d``
    outside, over ``T0`` years before and ``T1`` years from the designation year on:

    .. math::
        RR = \\frac{(b/T_1)/(a/T_0)}{(d/T_1)/(c/T_0)} = \\frac{b\\,c}{a\\,d},\\qquad
        \\mathrm{SE}(\\log RR) = \\sqrt{1/a + 1/b + 1/c + 1/d}

    (Poisson counts; a 95 % Wald interval on the log scale).  A zero count gets 0.5 added
    to all four (Haldane–Anscombe), stated in ``correction``.  RR > 1: entries grew faster
    inside the park than outside after designation.
    """
    founded = np.asarray(founded, dtype=float)
    ok = np.isfinite(founded)
    f = founded[ok]
    ins = np.asarray(inside, dtype=bool)[ok]
    first = int(np.min(f)) if first is None and len(f) else first
    last = int(np.max(f)) if last is None and len(f) else last
    pre = f < year
    a = int(np.sum(ins & pre))
    b = int(np.sum(ins & ~pre))
    c = int(np.sum(~ins & pre))
    d = int(np.sum(~ins & ~pre))
    t0 = max(year - first, 0) if first is not None else 0
    t1 = max(last - year + 1, 0) if last is not None else 0
    res = {
        "entries_in_before": a, "entries_in_after": b, "entries_out_before": c, "entries_out_after": d,
        "years_before": t0, "years_after": t1,
        "rate_in_before": a / t0 if t0 else np.nan, "rate_in_after": b / t1 if t1 else np.nan,
        "rate_out_before": c / t0 if t0 else np.nan, "rate_out_after": d / t1 if t1 else np.nan,
        "rate_ratio": np.nan, "rr_lo": np.nan, "rr_hi": np.nan, "p_rate_ratio": np.nan, "correction": "",
    }
    if t0 == 0 or t1 == 0 or (a + c) == 0 or (b + d) == 0:
        res["correction"] = "no entries before or after designation: ratio undefined"
        return res
    aa, bb, cc, dd = float(a), float(b), float(c), float(d)
    if min(a, b, c, d) == 0:
        aa, bb, cc, dd = aa + 0.5, bb + 0.5, cc + 0.5, dd + 0.5
        res["correction"] = "0.5 added to each count (a zero count)"
    log_rr = math.log(bb * cc / (aa * dd))
    se = math.sqrt(1 / aa + 1 / bb + 1 / cc + 1 / dd)
    from geo.stats._inference import normal_p

    res.update(
        rate_ratio=math.exp(log_rr), rr_lo=math.exp(log_rr - 1.959963984540054 * se),
        rr_hi=math.exp(log_rr + 1.959963984540054 * se), p_rate_ratio=normal_p(log_rr / se, "two-sided"),
    )
    return res


def precedence_test(park, hot, firms=None, *, year, graph=None, sector=None, sector_column="sector", founded_column="founded",
                    permutations=999, seed=0, alpha=0.05, fdr=True, min_bin=2, min_cluster_firms=10, hot_before=None,
                    counts: FirmCounts | None = None, park_index: int = 0) -> dict:
    """Was the park's location already a significant cluster before designation?

    Gi* is recomputed on the same cells and weights, counting only the (target-sector)
    firms founded before ``year``; contiguous cells hot at ≥ 95 % (bin ≥ ``min_bin``,
    FDR-adjusted like the main run) form the pre-designation clusters.  The location was a
    cluster before designation (``cluster_before``) when such a cluster touches the park
    (overlaps it, or holds the cell nearest its centroid) *and* holds at least
    ``min_cluster_firms`` target firms founded before ``year``.  The minimum matters on
    sparse early data: one or two firms (a research institute) among empty cells are a
    significant local excess by Gi*, but not a cluster of firms (ArcGIS asks for 30 incidents
    before a hot spot analysis; 10 firms is our stated floor).

    Also reported: the share of the park's cells hot before and now, their mean z, and the
    difference-in-differences entry-rate ratio of :func:`entry_rate_ratio`.
    Null hypothesis: ``NULLS["precedence"]``; Gi* p-values are two-sided.
    """
    if counts is None:
        if firms is None:
            msg = "precedence_test needs `firms` or `counts`."
            raise InputError(msg)
        if founded_column not in firms:
            return {"cluster_before": None, "skipped": f"no `{founded_column}` column in the firm table"}
        import geopandas as gpd

        from geo.cells.grid import cell_positions

        fx, fy = point_xy(firms)
        founded = pd.to_numeric(firms[founded_column], errors="coerce").to_numpy(float)
        is_target = (firms[sector_column].astype(str) == str(sector)).to_numpy() if sector is not None else np.ones(len(firms), bool)
        one = gpd.GeoDataFrame({"designated": [int(year)]}, geometry=[park], crs=hot.crs)
        counts = firm_counts(one, fx, fy, is_target, founded, cell_pos=cell_positions(hot, fx, fy), n_cells=len(hot),
                             rings=[park])
        park_index = 0
    return _precedence(park, hot, _cell_grid(*_cell_xy(hot)), year=year, graph=graph, founded_column=founded_column,
                       permutations=permutations, seed=seed, alpha=alpha, fdr=fdr, min_bin=min_bin,
                       min_cluster_firms=min_cluster_firms, hot_before=hot_before, counts=counts, park_index=park_index)


#: the precedence test needs founding years for at least this share of the target firms: a test on
#: the few dated firms of a registry that mostly lacks them says little about what was there before
MIN_DATED_SHARE = 0.5


def _precedence(park, hot, grid: _CellGrid, *, year, graph, founded_column, permutations, seed, alpha, fdr, min_bin,
                min_cluster_firms, hot_before, counts: FirmCounts, park_index: int) -> dict:
    """:func:`precedence_test` from the firm counts, on the cell centroids of ``grid``."""

    if not counts.has_founded:
        return {"cluster_before": None, "skipped": f"no `{founded_column}` column in the firm table"}
    dated = int(counts.year_all.sum())  # target firms with a founding year
    coverage = {"n_target_dated": dated, "n_target_undated": int(counts.k) - dated}
    if dated == 0:
        return {"cluster_before": None, **coverage,
                "skipped": f"no founding year for any of the {counts.k:,} target firms (column `{founded_column}` is empty): "
                           "no evidence of what was there before designation"}
    if dated < MIN_DATED_SHARE * counts.k:
        return {"cluster_before": None, **coverage,
                "skipped": f"founding years for only {dated:,} of the {counts.k:,} target firms ({dated / counts.k:.0%}; "
                           f"column `{founded_column}`): too few to tell what was there before designation"}
    before = counts.years < year
    n_pre = int(counts.year_all[before].sum())
    n_pre_in = int(counts.year_in[park_index][before].sum())
    counts_cells = counts.pre_cells[int(year)]
    state = partial(_before_state, park, hot, grid, graph=graph, permutations=permutations, seed=seed, alpha=alpha, fdr=fdr,
                    min_bin=min_bin)
    hb, share_pre, mz_pre, share_now, mz_now, firms_in_clusters = state(counts_cells, hot_before, n_pre)
    cluster_before = bool(firms_in_clusters >= min_cluster_firms)
    out = {}
    undated = counts.undated_cells
    if coverage["n_target_undated"] and undated is not None and undated.sum():
        # the same test with the undated firms counted as founded before designation: the answer must not hang on them
        *_, firms_upper = state(counts_cells + undated, None, n_pre + int(undated.sum()))
        upper = bool(firms_upper >= min_cluster_firms)
        out["cluster_before_if_undated_before"] = upper
        if upper != cluster_before:
            return {"cluster_before": None, **coverage, "cluster_before_if_undated_before": upper,
                    "skipped": f"the answer hangs on the {coverage['n_target_undated']:,} target firms without a founding year: "
                               f"counted as founded before {int(year)} they make a cluster of {firms_upper:,} on the park, "
                               f"counted as after {'a cluster of ' + format(firms_in_clusters, ',') if cluster_before else 'none'}"
                               f" (at least {int(min_cluster_firms)} needed)"}
    rr = entry_rate_ratio(*counts.entry_arrays(park_index), int(year))
    return {
        "cluster_before": cluster_before,
        "hot_share_before": share_pre,
        "hot_share_now": share_now,
        "mean_z_before": mz_pre,
        "mean_z_now": mz_now,
        "n_target_before": n_pre,
        "n_target_before_in_park": n_pre_in,
        "firms_in_cluster_before": int(firms_in_clusters),
        "min_cluster_firms": int(min_cluster_firms),
        **coverage,
        **out,
        **rr,
        "_hot_before": hb,
    }


def _before_state(park, hot, grid: _CellGrid, counts_cells: np.ndarray, hot_before, n_before: int, *, graph, permutations,
                  seed, alpha, fdr, min_bin) -> tuple:
    """Gi* of the firms founded before designation (per-cell ``counts_cells``) around ``park``:
    (hot cells before, hot share and mean z under the park before and now, firms of the
    largest cluster before that touches the park)."""
    import shapely

    if hot_before is None:
        cells = hot[["geometry"]].copy()
        cells["n_firms"] = counts_cells
        if n_before < 3 or np.all(counts_cells == counts_cells[0]):
            hot_before = cells.assign(gi_z=0.0, gi_bin=0)
        else:
            from geo.stats.autocorr import hotspots

            hot_before = hotspots(cells, "n_firms", graph=graph, permutations=permutations, seed=seed, alpha=alpha, fdr=fdr)
    hb = hot_before.assign(n_firms=counts_cells)
    z_now = hot["gi_z"].to_numpy(float)
    h_now = (hot["gi_bin"].to_numpy() >= min_bin).astype(float)
    z_pre = hb["gi_z"].to_numpy(float)
    h_pre = (hb["gi_bin"].to_numpy() >= min_bin).astype(float)
    (mz_now, share_now, mz_pre, share_pre, _), = _under_many([park], grid, [z_now, h_now, z_pre, h_pre])
    clusters, cell_cluster = _cluster_polygons(hb, by="gi", min_bin=min_bin, sector=None, z_column="gi_z")
    touching = []
    if len(clusters):
        c = shapely.centroid(park)
        near = int(np.argmin((grid.x - c.x) ** 2 + (grid.y - c.y) ** 2))
        near_id = cell_cluster.get(hb.index[near])
        for cl in clusters.itertuples():
            if shapely.intersects(cl.geometry, park) or cl.cluster_id == near_id:
                touching.append((int(cl.cluster_id), int(cl.n_firms)))
    firms_in_clusters = max((n for _, n in touching), default=0)
    return hb, share_pre, mz_pre, share_now, mz_now, firms_in_clusters


# ----------------------------------------------------------------------------- overlay
# ----------------------------------------------------------------------------- firm counts
@dataclass
class FirmCounts:
    """What the park tests need from the firms of a valley: additive counts.

    Made by :func:`firm_counts` from firm coordinates (in memory), or summed over partitions
    by the dask engine (``a + b``); :func:`park_overlay` takes either, so that both engines
    give the same park numbers.  Arrays are per park (in the order of the parks), per cell
    (in the order of the cells) or per founding year of target firms (``years``).
    """

    n: int  # all firms
    k: int  # target-sector firms
    n_in: np.ndarray  # firms inside each park
    t_in: np.ndarray  # target firms inside each park
    n_ring: np.ndarray  # firms in the ring of equal area around each park
    years: np.ndarray  # distinct finite founding years of target firms, sorted
    year_all: np.ndarray  # target firms founded in each year
    year_in: np.ndarray  # (parks, years): target firms founded in each year inside each park
    pre_cells: dict  # designation year -> target firms founded before it, per cell
    has_founded: bool = True
    undated_cells: np.ndarray | None = None  # target firms without a founding year, per cell

    def __add__(self, other: FirmCounts) -> FirmCounts:
        years = np.union1d(self.years, other.years)

        def spread(fc: FirmCounts, arr: np.ndarray) -> np.ndarray:
            out = np.zeros(arr.shape[:-1] + (years.size,), dtype=np.int64)
            out[..., np.searchsorted(years, fc.years)] = arr
            return out

        pre = {y: self.pre_cells[y] + other.pre_cells[y] for y in self.pre_cells}
        return FirmCounts(
            self.n + other.n, self.k + other.k, self.n_in + other.n_in, self.t_in + other.t_in,
            self.n_ring + other.n_ring, years, spread(self, self.year_all) + spread(other, other.year_all),
            spread(self, self.year_in) + spread(other, other.year_in), pre, self.has_founded and other.has_founded,
            None if self.undated_cells is None or other.undated_cells is None else self.undated_cells + other.undated_cells,
        )

    def entry_arrays(self, p: int) -> tuple[np.ndarray, np.ndarray]:
        """(founded, inside park ``p``) of the target firms with a founding year (any order)."""
        n_in_y = self.year_in[p]
        n_out_y = self.year_all - n_in_y
        founded = np.concatenate([np.repeat(self.years, n_in_y), np.repeat(self.years, n_out_y)])
        inside = np.r_[np.ones(int(n_in_y.sum()), bool), np.zeros(int(n_out_y.sum()), bool)]
        return founded, inside


def park_rings(parks_m) -> list:
    """The ring of equal area around each park (metric CRS), as :func:`park_overlay` uses."""
    return [_ring_buffer(g)[0] for g in parks_m.geometry.values]


def firm_counts(parks_m, x: np.ndarray, y: np.ndarray, target: np.ndarray, founded: np.ndarray | None, *,
                cell_pos: np.ndarray, n_cells: int, rings: list | None = None) -> FirmCounts:
    """Count firms for the park tests (see :class:`FirmCounts`).

    Parameters
    ----------
    parks_m : GeoDataFrame
        The parks in the metric CRS of ``x``/``y`` (``designated`` years used when present).
    x, y : ndarray
        Firm coordinates (metres).
    target : ndarray of bool
        Target-sector firms.
    founded : ndarray of float, optional
        Founding years (NaN unknown); None when the table has no founding year.
    cell_pos : ndarray of int
        Position of each firm's cell (:func:`geo.cells.grid.cell_positions`), -1 outside.
    n_cells : int
    rings : list of geometries, optional
        :func:`park_rings` of ``parks_m`` (computed when not given).
    """
    geoms = list(parks_m.geometry.values)
    rings = park_rings(parks_m) if rings is None else rings
    target = np.asarray(target, dtype=bool)
    n_p = len(geoms)
    n_in = np.zeros(n_p, dtype=np.int64)
    t_in = np.zeros(n_p, dtype=np.int64)
    n_ring = np.zeros(n_p, dtype=np.int64)
    inside = []
    for i, (g, r) in enumerate(zip(geoms, rings)):
        ins = _inside(g, x, y)
        inside.append(ins)
        n_in[i] = int(ins.sum())
        t_in[i] = int((ins & target).sum())
        n_ring[i] = int(_inside(r, x, y).sum())
    has_founded = founded is not None
    f = np.asarray(founded, dtype=float) if has_founded else np.full(len(x), np.nan)
    ok = target & np.isfinite(f)
    years, codes = np.unique(f[ok], return_inverse=True)
    year_all = np.bincount(codes, minlength=years.size).astype(np.int64)
    year_in = np.zeros((n_p, years.size), dtype=np.int64)
    for i, ins in enumerate(inside):
        year_in[i] = np.bincount(codes[ins[ok]], minlength=years.size)
    pre_cells = {}
    designated = parks_m["designated"] if "designated" in parks_m else pd.Series([None] * n_p)
    for yr in pd.unique(pd.to_numeric(designated, errors="coerce").dropna()):
        pre = target & (f < int(yr)) & (cell_pos >= 0)
        pre_cells[int(yr)] = np.bincount(cell_pos[pre], minlength=n_cells).astype(np.int64)
    undated = None
    if has_founded:
        und = target & ~np.isfinite(f) & (cell_pos >= 0)
        undated = np.bincount(cell_pos[und], minlength=n_cells).astype(np.int64)
    return FirmCounts(int(len(x)), int(target.sum()), n_in, t_in, n_ring, years, year_all, year_in, pre_cells, has_founded,
                      undated)


def _overlay_counts(parks_m, firms_m, hot, *, rings: list, sector, sector_column: str, founded_column: str) -> FirmCounts:
    """:func:`firm_counts` of the firms for :func:`park_overlay` (all in the metric CRS of ``hot``).

    The cells are only looked up for the target firms founded before the last designation
    year: the only firms :attr:`FirmCounts.pre_cells` counts (the others keep -1, "no
    cell", which nothing else reads).
    """
    from geo.cells.grid import cell_positions

    fx, fy = point_xy(firms_m)
    target = sector_mask(firms_m, sector, sector_column) if sector is not None else np.ones(len(firms_m), bool)
    founded = pd.to_numeric(firms_m[founded_column], errors="coerce").to_numpy(float) if founded_column in firms_m else None
    cell_pos = np.full(len(fx), -1, dtype=np.int64)
    years = pd.to_numeric(parks_m["designated"], errors="coerce").dropna() if "designated" in parks_m else []
    if founded is not None and len(years):
        need = np.flatnonzero(target & ((founded < max(int(y) for y in years)) | ~np.isfinite(founded)))
        cell_pos[need] = cell_positions(hot, fx[need], fy[need])
    return firm_counts(parks_m, fx, fy, target, founded, cell_pos=cell_pos, n_cells=len(hot), rings=rings)


def _ring_buffer(geom, *, tol: float = 1e-3):
    """The ring around ``geom`` whose area equals the park's (bisection on the distance)."""
    import shapely

    area = geom.area
    lo, hi = 0.0, math.sqrt(area)
    while shapely.buffer(geom, hi).area - area < area:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        if shapely.buffer(geom, mid).area - area < area:
            lo = mid
        else:
            hi = mid
        if hi - lo < tol * max(hi, 1.0):
            break
    return shapely.difference(shapely.buffer(geom, hi), geom), hi


@dataclass(frozen=True)
class _Ctx:
    hot: Any
    clusters: Any
    union: Any
    study_area: Any
    crs: Any


def park_overlay(hotspots, parks, firms=None, *, sector: str | None = None, permutations: int = 999, seed=0,
                 study_area=None, mask=None, graph=None, clusters=None, sector_column: str = "sector",
                 founded_column: str = "founded", alpha: float = 0.05, min_bin: int = 2,
                 coincide_min_share: float = 0.25, min_cluster_firms: int = 10, counts: FirmCounts | None = None):
    """One row per park: overlay metrics, the three tests, and a verdict.

    Parameters
    ----------
    hotspots : geopandas.GeoDataFrame
        Output of :func:`geo.hotspots` for the valley (metric CRS; ``gi_z``, ``gi_bin``,
        ``n_firms``).
    parks : geopandas.GeoDataFrame
        Parks of the valley (``name``, ``designated``), any CRS.
    firms : geopandas.GeoDataFrame or geo.points.PointFrame
        The valley's firms (any CRS; ``sector`` and ``founded`` columns used when present).
    sector : str, optional
        Target sector (e.g. "optics"); None uses all firms.
    permutations : int, default 999
        Random placements of each park, and permutations of the recomputed Gi*.
    seed : int or numpy.random.Generator, default 0
    study_area : shapely geometry, optional
        The valley's study area in the metric CRS (:mod:`geo.cells.area`; ``geo.run`` passes
        its valley's): random placements lie inside it, ``density_valley`` divides by its
        area.  Default: the union of the cells.
    mask : shapely geometry, optional
        Developable land: random placements must also lie inside it.
    clusters : GeoDataFrame, optional
        Output of :func:`cluster_polygons` (computed when not given).
    counts : FirmCounts, optional
        The firm counts of :func:`firm_counts` for ``parks`` in this order and the cells of
        ``hotspots`` (the dask engine sums them over partitions); made from ``firms`` when
        not given.  One of ``firms`` and ``counts`` is needed.

    Returns
    -------
    pandas.DataFrame
        One row per park, indexed like ``parks``.  Metrics: ``n_firms``, ``n_target``,
        ``area_km2``, ``density``, ``density_ratio_valley``, ``density_ratio_ring``,
        ``lq`` (target-sector location quotient), ``park_hot_share`` (share of the park's
        area covered by hot cells), ``hot_area_in_park`` (share of all hot-cell area inside
        the park), ``cluster_shares`` (per cluster id: share of its area inside the park),
        ``main_cluster`` (the cluster with the largest overlap) and ``max_cluster_share``
        (the share of that cluster's area inside the park), ``jaccard``, ``dice``,
        ``dist_cluster_edge_m``, ``dist_cluster_centroid_m``.
        Tests: ``p_labelling`` (exact hypergeometric, one-sided) and ``p_labelling_mid`` (its
        mid-p value, which the verdict uses: see :func:`labelling_test`), ``p_placement``
        (random placement, one-sided pseudo p), ``cluster_before`` and entry-rate ratio
        columns (precedence), each with ``*_fdr`` Benjamini–Hochberg-adjusted across the
        parks.  ``verdict`` and ``verdict_reason`` in plain words; ``approximate_boundary``
        is true for a park given as a point and its approved area (a disc), whose verdict
        reason then says so (:data:`APPROXIMATE_NOTE`).

    Notes
    -----
    Verdict rules (also in ``attrs["rules"]``): the park *coincides* with a cluster when
    they overlap substantially — at least ``coincide_min_share`` of the area of the cluster
    overlapping the park most lies inside the park, or at least that share of the park is covered by hot cells (Gi* bin ≥
    ``min_bin``) — and the association is significant: the random-placement test or the
    random-labelling test (its mid-p value) rejects at ``alpha`` after FDR.  The mid-p, not
    the exact p, because the exact hypergeometric test is conservative when few target firms
    are expected in a park (its size was 3.6 % at ``alpha`` = 0.05 in simulated null
    valleys) while the mid-p test's size stays close to ``alpha`` (4.8 %) (Lancaster 1961; Agresti
    2002, section 1.4.5; the size study in tests/test_parks.py); the exact p is reported
    beside it.  (The placement test alone has
    little power for a park that covers a large part of the study area: random copies of a
    big park overlap the cluster often.)  A
    coinciding park whose location was already hot before designation is "park on a
    pre-existing cluster"; one that was not is "cluster formed after designation"; a park
    that does not coincide is "park without a cluster".  Without a designation year a
    coinciding park is "undetermined" (precedence test skipped, reason stated).
    """
    import shapely

    from geo.stats._inference import fdr_bh

    if len(parks) == 0:
        return pd.DataFrame()
    crs = hotspots.crs
    hot_mask = hotspots["gi_bin"].to_numpy() >= min_bin
    parks_m = _metric(parks, crs)
    rings = [_ring_buffer(g) for g in parks_m.geometry.values]
    if counts is None:
        if firms is None:
            msg = "park_overlay needs `firms` or `counts`."
            raise InputError(msg)
        counts = _overlay_counts(parks_m, _metric(firms, crs), hotspots, rings=[r for r, _ in rings], sector=sector,
                                 sector_column=sector_column, founded_column=founded_column)
    if clusters is None:
        clusters = cluster_polygons(hotspots, min_bin=min_bin, sector=sector)
    union = _union_cells(hotspots.geometry.values[hot_mask], hotspots.attrs) if hot_mask.any() else None
    if study_area is None:
        study_area = _union_cells(hotspots.geometry.values, hotspots.attrs)
    N, K = counts.n, counts.k
    valley_area = study_area.area
    rng = check_seed(seed)
    grid = _cell_grid(*_cell_xy(hotspots))
    rows = []
    extra = {}
    for i, (idx, park) in enumerate(parks_m.iterrows()):
        g = park.geometry
        name = park.get("name", str(idx))
        n_in, t_in = int(counts.n_in[i]), int(counts.t_in[i])
        area = g.area
        ring, ring_d = rings[i]
        row: dict[str, Any] = {
            "name": name,
            "designated": park.get("designated"),
            "area_km2": area / 1e6,
            "approximate_boundary": _flag(park.get("approximate_boundary")),
            "n_firms": n_in,
            "n_target": t_in,
            "density": n_in / (area / 1e6),
            "density_valley": N / (valley_area / 1e6),
            "density_ring": int(counts.n_ring[i]) / (ring.area / 1e6),
            "ring_width_m": ring_d,
            "outside_study_area": bool(not shapely.intersects(g, study_area)),
        }
        row["density_ratio_valley"] = row["density"] / row["density_valley"] if row["density_valley"] else np.nan
        row["density_ratio_ring"] = row["density"] / row["density_ring"] if row["density_ring"] else np.nan
        row["lq"] = (t_in / n_in) / (K / N) if n_in and K else np.nan
        if union is not None:
            inter = shapely.intersection(g, union).area
            row["park_hot_share"] = inter / area
            row["hot_area_in_park"] = inter / union.area
            row["jaccard"] = inter / shapely.union(g, union).area
            row["dice"] = 2 * inter / (area + union.area)
            inter_by = {int(c.cluster_id): shapely.intersection(c.geometry, g).area for c in clusters.itertuples()}
            areas = dict(zip(clusters.cluster_id.astype(int), clusters.geometry.area))
            row["cluster_shares"] = {k: v / areas[k] for k, v in inter_by.items() if v > 0}
            # the cluster with the largest overlap (by area) speaks for the park: a tiny
            # cluster wholly inside must not outweigh the main cluster half outside
            main = max(inter_by, key=inter_by.get) if inter_by and max(inter_by.values()) > 0 else None
            row["main_cluster"] = main
            row["max_cluster_share"] = inter_by[main] / areas[main] if main is not None else 0.0
            d_edge = [shapely.distance(g, c) for c in clusters.geometry.values]
            d_cent = [shapely.distance(g, shapely.centroid(c)) for c in clusters.geometry.values]
            row["dist_cluster_edge_m"] = float(min(d_edge))
            row["dist_cluster_centroid_m"] = float(min(d_cent))
            row["nearest_cluster"] = int(clusters.cluster_id.iloc[int(np.argmin(d_edge))])
        else:
            row.update(park_hot_share=0.0, hot_area_in_park=np.nan, jaccard=0.0, dice=0.0, cluster_shares={}, max_cluster_share=0.0, main_cluster=None,
                       dist_cluster_edge_m=np.nan, dist_cluster_centroid_m=np.nan, nearest_cluster=None)
        # with every firm (or none) of the target sector, relabelling changes nothing: no test
        labelled = sector is not None and 0 < K < N
        row["p_labelling"] = labelling_test(n_in, t_in, N, K) if labelled else np.nan
        row["p_labelling_mid"] = labelling_test(n_in, t_in, N, K, mid_p=True) if labelled else np.nan
        notes = []
        if sector is not None and K == N:
            notes.append("random labelling not computed: every firm of the valley is of the target sector, so no other "
                         "firm could take its place")
        if n_in == 0:
            notes.append("no firms inside the park")
        if row["outside_study_area"]:
            notes.append("park lies outside the study area")
            row.update(mean_z=np.nan, p_placement=np.nan, permutations_done=0)
        else:
            pt = _placement(g, hotspots, grid, study_area=study_area, mask=mask, permutations=permutations, rng=rng, min_bin=min_bin)
            row.update(pt)
            if pt["permutations_done"] < permutations:
                notes.append(f"only {pt['permutations_done']} random placements fit in the study area")
        year = park.get("designated")
        if year is None or pd.isna(year):
            row["cluster_before"] = None
            row["precedence_skipped"] = "no designation year: precedence test skipped"
        elif row["outside_study_area"]:
            row["cluster_before"] = None
            row["precedence_skipped"] = "park outside the study area"
        else:
            pr = _precedence(g, hotspots, grid, year=int(year), graph=graph, founded_column=founded_column, permutations=permutations,
                             seed=rng, alpha=alpha, fdr=True, min_bin=min_bin, min_cluster_firms=min_cluster_firms, hot_before=None,
                             counts=counts, park_index=i)
            extra[idx] = pr.pop("_hot_before", None)
            row.update(pr)
            row["precedence_skipped"] = pr.get("skipped", "")
            notes.extend(_data_span_notes(int(year), pr.get("years_before"), pr.get("years_after"),
                                          pr.get("n_target_dated")))
        others = [str(o.get("name", j)) for j, o in parks_m.iterrows()
                  if j != idx and shapely.intersection(g, o.geometry).area > 0.01 * min(area, o.geometry.area)]
        if others:
            notes.append("overlaps " + ", ".join(others) + " (each park is tested on its own)")
        row["notes"] = "; ".join(notes)
        rows.append(row)
    out = pd.DataFrame(rows, index=parks_m.index)
    for col in ("p_labelling", "p_labelling_mid", "p_placement", "p_rate_ratio"):
        if col in out:
            out[f"{col}_fdr"] = fdr_bh(out[col].to_numpy(float))
    v = [verdict(r, alpha=alpha, min_share=coincide_min_share) for r in out.to_dict(orient="records")]
    out["verdict"] = [x[0] for x in v]
    out["verdict_reason"] = [x[1] for x in v]
    approx = out["approximate_boundary"].to_numpy(bool)
    out.loc[approx, "verdict_reason"] = out.loc[approx, "verdict_reason"] + " " + APPROXIMATE_NOTE
    out.attrs["rules"] = {
        "coincides": (
            f"(max_cluster_share >= {coincide_min_share} or park_hot_share >= {coincide_min_share}) "
            f"and (p_placement_fdr < {alpha} or p_labelling_mid_fdr < {alpha})"
        ),
        "pre-existing": "coincides and the park's location was hot (Gi* bin >= 2) before designation",
        "after": "coincides and the park's location was not hot before designation",
        "none": "does not coincide",
    }
    out.attrs["nulls"] = dict(NULLS)
    out.attrs["hot_before"] = extra
    return out


def _flag(value) -> bool:
    """A park's ``approximate_boundary`` as a bool (missing: False)."""
    return False if value is None or (not isinstance(value, (bool, np.bool_)) and pd.isna(value)) else bool(value)


def verdict(row: dict, *, alpha: float = 0.05, min_share: float = 0.25) -> tuple[str, str]:
    """The verdict for one park from its overlay row, with the numbers behind it (see park_overlay)."""

    def num(key):
        v = row.get(key)
        return float(v) if v is not None and not (isinstance(v, float) and np.isnan(v)) else np.nan

    share = num("park_hot_share")
    share = 0.0 if np.isnan(share) else share
    cshare = num("max_cluster_share")
    cshare = 0.0 if np.isnan(cshare) else cshare
    p_pl = num("p_placement_fdr") if "p_placement_fdr" in row else num("p_placement")
    # the labelling test's mid-p (calibrated; the exact p is conservative), else the exact p
    p_lab = next((num(k) for k in ("p_labelling_mid_fdr", "p_labelling_fdr", "p_labelling_mid", "p_labelling")
                  if k in row), np.nan)
    mid = "mid-" if "p_labelling_mid_fdr" in row or "p_labelling_mid" in row else ""
    overlap = cshare >= min_share or share >= min_share
    significant = (p_pl < alpha) or (p_lab < alpha)
    nums = (
        f"{cshare:.0%} of the cluster overlapping it most lies in the park and {share:.0%} of the park is hot "
        f"(Gi* ≥ 95 %); random placement {p_phrase(p_pl)}, random labelling {mid}{p_phrase(p_lab)} (FDR)"
    )
    if not (overlap and significant):
        why = "no cluster overlaps the park substantially" if not overlap else "the overlap is not significant"
        return VERDICTS["none"], f"{nums}: {why}."
    before = row.get("cluster_before")
    if before is None or (isinstance(before, float) and np.isnan(before)):
        return VERDICTS["undetermined"], f"{nums}; {row.get('precedence_skipped') or 'precedence test not run'}."
    y = int(row["designated"])
    undated = num("n_target_undated")
    if not np.isnan(undated) and undated > 0:
        dated = num("n_target_dated")
        nums += f"; founding years missing for {int(undated):,} of {int(undated + dated):,} target firms"
    nb = num("firms_in_cluster_before")
    nb = "?" if np.isnan(nb) else int(nb)
    hb = num("hot_share_before")
    if before:
        return VERDICTS["pre-existing"], (
            f"{nums}; before {y} a significant cluster of {nb} target firms already covered the park "
            f"({hb:.0%} of its cells hot)."
        )
    floor = row.get("min_cluster_firms", 10)
    floor = 10 if floor is None or (isinstance(floor, float) and np.isnan(floor)) else int(floor)
    return VERDICTS["after"], f"{nums}; no significant cluster (of at least {floor} firms) on the park before {y}."
