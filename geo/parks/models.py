"""The development model of each park–cluster pair: market-led, government-led, research-led, FDI-led.

:func:`classify_models` classifies each park by measured indicators into the models of the
literature — market-led / spontaneous, government-led / planned, research-led,
multinational/FDI-led — with every indicator, a score per model and the rule in
``attrs["rules"]``.  A model whose indicator is missing from the data is "undetermined", with
the reason: never a guess.

The models are a table of rules (:data:`_RULES`): each names the indicator columns it reports,
the function that assesses one park–cluster pair (its condition, score, reason, and when it is
undetermined), whether it is a development path, and the rule in words.  One loop evaluates
every rule on every park (:func:`_classify_park`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from geo._format import format_pct, p_phrase
from geo.errors import ColumnError, CRSError, InputError
from geo.parks._common import _inside, _isnan, _to, _valid
from geo.points import point_xy

__all__ = ["DEFAULT_THRESHOLDS", "MODELS", "classify_models", "truthy_flags"]

#: development models: short name -> long name (as the literature calls them)
MODELS = {
    "market-led": "market-led / spontaneous",
    "government-led": "government-led / planned",
    "research-led": "research-led",
    "FDI-led": "multinational / FDI-led",
}

#: thresholds of :func:`classify_models` (override any of them with ``thresholds=``)
DEFAULT_THRESHOLDS = {
    "outside_share": 0.4,   # market-led: share of the main cluster (area or firms) outside the park
    "anchor_clq": 1.5,      # research-led: co-location quotient CLQ(the pair's target firms → research anchors)
    "rd_ratio": 1.5,        # research-led: R&D share near the anchor(s) / the R&D share elsewhere in the valley
    "foreign_share": 0.3,   # FDI-led: share of foreign-invested target firms of the pair
    "foreign_ratio": 1.5,   # FDI-led: that share / the share among the valley's other target firms
    "min_firms": 20,        # fewest firms behind a share (R&D near anchors, FDI) to use it
}

_NONE_VERDICT = "park without a cluster"
#: neighbours per firm of the research-led co-location quotient
_CLQ_K = 8
_AFTER_VERDICT = "cluster formed after designation"
_TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y"})
#: the row's entries of the research-led and FDI-led share contrasts (:func:`_contrast`)
_RD_KEYS = ("n_firms_near_anchor", "rd_share_near_anchor", "rd_share_elsewhere", "rd_share_valley", "rd_ratio",
            "p_rd_near_anchor")
_FOREIGN_KEYS = ("n_pair_target_firms", "foreign_share", "foreign_share_elsewhere", "foreign_share_valley",
                 "foreign_ratio", "p_foreign")


# ============================================================================ helpers
def truthy_flags(values: pd.Series) -> np.ndarray:
    """A flag column (R&D, research anchor) as booleans: numbers != 0, True, or the words
    1/true/t/yes/y in any case (missing = False).

    Vectorised by dtype (numeric and boolean columns directly; text by lower-cased lookup),
    so million-row tables need no Python loop.  The development models and the run's
    co-location stage (:mod:`geo.pipeline._colocation`) read their anchor flags with it.

    Parameters
    ----------
    values : pandas.Series or array-like

    Returns
    -------
    numpy.ndarray of bool
        One per value, in order.

    Examples
    --------
    >>> truthy_flags(["Yes", "no", "1", None, "T"]).tolist()
    [True, False, True, False, True]
    >>> truthy_flags(pd.Series([0, 2.5, float("nan")])).tolist()
    [False, True, False]
    """
    values = pd.Series(values)
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.fillna(False).to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(values.dtype):
        num = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        return np.isfinite(num) & (num != 0)

    def one(v: Any) -> bool:
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            return False
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, (int, float, np.integer, np.floating)):
            return v != 0
        return str(v).strip().lower() in _TRUE_WORDS

    # object/text columns: decide once per distinct value, then broadcast
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    table = np.fromiter((one(v) for v in uniques), dtype=bool, count=len(uniques))
    out = np.zeros(len(values), dtype=bool)
    ok = codes >= 0
    out[ok] = table[codes[ok]]
    return out


def _known(values: pd.Series) -> np.ndarray:
    """Rows whose value is known: neither missing nor empty."""
    return ~(values.isna() | (values.astype(str).str.strip() == "")).to_numpy()


def _known_flag(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(flag, known) for a 0/1-like column: missing or empty values are unknown."""
    known = _known(values)
    return truthy_flags(values) & known, known


def _share_contrast(flag: np.ndarray, grp: np.ndarray, rest: np.ndarray, pop: np.ndarray) -> tuple:
    """Share of ``flag`` in the group, in the rest and in the population; their ratio; and the
    one-sided hypergeometric p-value of the group's count (:func:`geo.parks.overlay.labelling_test`)."""
    from geo.parks.overlay import labelling_test

    s_grp = float(flag[grp].mean())
    s_rest = float(flag[rest].mean())
    ratio = s_grp / s_rest if s_rest > 0 else (float("inf") if s_grp > 0 else np.nan)
    p = labelling_test(int(grp.sum()), int(flag[grp].sum()), int(pop.sum()), int(flag[pop].sum()))
    return s_grp, s_rest, float(flag[pop].mean()), ratio, p


def _within(x: np.ndarray, y: np.ndarray, ax: np.ndarray, ay: np.ndarray, radius: float) -> np.ndarray:
    """Points within ``radius`` (squared distance <= radius**2) of any of the anchors (ax, ay).

    A k-d tree finds each point's nearest anchor (a hair beyond the radius); the squared
    distance to it is then computed as the direct formula does.  O(n log m) time and O(n)
    memory instead of an n x m array.
    """
    from scipy.spatial import cKDTree

    out = np.zeros(len(x), dtype=bool)
    if len(x) == 0 or len(ax) == 0:
        return out
    tree = cKDTree(np.column_stack([ax, ay]))
    dist, idx = tree.query(np.column_stack([x, y]), k=1, distance_upper_bound=radius * (1 + 1e-9) + 1e-9)
    hit = np.isfinite(dist)
    j = idx[hit]
    out[hit] = (x[hit] - ax[j]) ** 2 + (y[hit] - ay[j]) ** 2 <= radius**2
    return out

def _num(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return f


def _thresholds(thresholds: Mapping[str, float] | None) -> dict[str, float]:
    th = dict(DEFAULT_THRESHOLDS)
    if thresholds is None:
        return th
    unknown = sorted(set(thresholds) - set(th))
    if unknown:
        msg = f"Unknown threshold(s) {unknown}; valid keys are {sorted(th)}."
        raise InputError(msg)
    for k, v in thresholds.items():
        f = _num(v)
        if not (math.isfinite(f) and f >= 0):
            msg = f"Threshold {k!r} must be a non-negative number; {v!r} was given."
            raise InputError(msg)
        th[k] = f
    return th


def _cond(value: float, threshold: float) -> float:
    """Fulfilment ratio of ``value >= threshold`` (uncapped; NaN stays NaN)."""
    if _isnan(value):
        return float("nan")
    if threshold <= 0:
        return float("inf") if value >= 0 else 0.0
    return float(value) / threshold


def _anchor_points(firms_v, anchors, anchor_column: str, crs):
    """(x, y, names, source) of the anchors, or a reason string when there is no anchor information."""
    if anchors is not None:
        am = _to(anchors, crs, "anchors")
        ax, ay = point_xy(am)
        names = am["name"].astype(str).tolist() if "name" in am.columns else [f"anchor {i}" for i in am.index]
        return ax, ay, names, "anchors layer"
    if anchor_column in firms_v.columns:
        flag = truthy_flags(firms_v[anchor_column])
        sub = firms_v.loc[flag]
        ax, ay = point_xy(sub)
        names = sub["name"].astype(str).tolist() if "name" in sub.columns else [str(i) for i in sub.index]
        return ax, ay, names, f"firm-table column `{anchor_column}`"
    return (f"no anchor information: give a points layer of research institutes/universities (anchors=) or an "
            f"`{anchor_column}` flag column in the firm table")


# ============================================================================ one park–cluster pair
@dataclass(frozen=True)
class _Options:
    """The options of one :func:`classify_models` call, as the rules read them."""

    th: dict[str, float]
    radius_m: float
    anchors: Any
    anchor_column: str
    rd_column: str
    ownership_column: str
    foreign_value: str
    sector: str | None
    sector_column: str
    valley_column: str
    crs: Any
    alpha: float = 0.05
    permutations: int = 999
    seed: Any = 0


@dataclass(frozen=True)
class _Layers:
    """The layers in the clusters' (metric) CRS: firms, parks, cluster polygons and their peak cells."""

    firms: Any
    parks: Any
    clusters: dict[int, Any]  # cluster_id -> polygon
    peaks: dict[int, Any]  # cluster_id -> centroid of its highest-Gi* cell


@dataclass(frozen=True)
class _Pair:
    """One park and its main cluster, as the rules see them."""

    opts: _Options
    idx: Any  # the park's label in the overlay
    overlay: pd.Series  # the park's overlay row
    valley: Any
    verdict: str
    cluster_before: bool | None
    main: int | None  # cluster_id of the main cluster
    cluster: Any  # its polygon (None without one)
    peak: Any  # its peak cell's centroid (None without hot spots)
    is_pair: bool  # a cluster coincides with the park: every model needs one
    no_pair: str  # the reason when it does not
    year: str  # the designation year as text ("designation" when unknown)
    firms: Any  # the valley's firms
    x: np.ndarray
    y: np.ndarray
    target: np.ndarray  # firms of the target sector
    is_anchor: np.ndarray  # rows that are research anchors (institutes, not firms)
    in_park: np.ndarray
    in_cluster: np.ndarray  # inside the main cluster
    anchors: tuple | str  # (x, y, names, source) of the anchors, or why there is no anchor information


def _layers(firms, parks, clusters, hotspots, crs, cluster_cells) -> _Layers:
    import shapely

    from geo.parks.clusters import _cluster_cells

    fm_all = _to(firms, crs, "firms")
    pm = _to(parks, crs, "parks")
    cl_geom = {int(c): g for c, g in zip(clusters["cluster_id"], clusters.geometry.values)} if len(clusters) else {}
    peaks: dict[int, Any] = {}
    if hotspots is not None and len(clusters) and "gi_z" in hotspots:
        cc = _cluster_cells(clusters, cluster_cells, cells=hotspots.index, cells_name="`hotspots`")
    else:
        cc = None
    if cc is not None:
        hm = _to(hotspots, crs, "hotspots")
        for cid in cl_geom:
            idx = cc.index[cc.to_numpy() == cid]
            if len(idx):
                peaks[cid] = shapely.centroid(hm.geometry.loc[hm.loc[idx, "gi_z"].astype(float).idxmax()])
    return _Layers(fm_all, pm, cl_geom, peaks)


def _valley_firms(idx, layers: _Layers, valley_column: str):
    """(valley of the park, the firms of that valley): all firms when either layer lacks the column."""
    pm, fm_all = layers.parks, layers.firms
    valley = pm.loc[idx, valley_column] if idx in pm.index and valley_column in pm.columns else None
    if valley is not None and not _isnan(valley) and valley_column in fm_all.columns:
        return valley, fm_all[fm_all[valley_column].astype(str) == str(valley)]
    return valley, fm_all


def _main_cluster(mc: Any, clusters: dict[int, Any]) -> int | None:
    return None if _isnan(mc) or (not _isnan(mc) and int(mc) not in clusters) else int(mc)


def _year_text(year: Any) -> str:
    return f"{int(year)}" if not _isnan(year) and not pd.isna(year) else "designation"


def _no_pair_reason(verdict: str) -> str:
    return (f"no cluster coincides with the park (overlay verdict: {verdict})" if verdict == _NONE_VERDICT
            else "no cluster overlaps the park")


def _pair(idx, ov: pd.Series, layers: _Layers, opts: _Options) -> _Pair:
    pm = layers.parks
    park_geom = _valid(pm.geometry.loc[idx]) if idx in pm.index else None
    valley, fv = _valley_firms(idx, layers, opts.valley_column)
    x, y = point_xy(fv)
    target = (fv[opts.sector_column].astype(str) == str(opts.sector)).to_numpy() \
        if opts.sector is not None and opts.sector_column in fv.columns else np.ones(len(fv), bool)
    is_anchor = truthy_flags(fv[opts.anchor_column]) if opts.anchor_column in fv.columns else np.zeros(len(fv), bool)
    in_park = _inside(park_geom, x, y) if park_geom is not None else np.zeros(len(fv), bool)
    verdict = str(ov.get("verdict"))
    cb = ov.get("cluster_before")
    main = _main_cluster(ov.get("main_cluster"), layers.clusters)
    cg = layers.clusters.get(main) if main is not None else None
    return _Pair(
        opts=opts, idx=idx, overlay=ov, valley=valley, verdict=verdict, cluster_before=None if _isnan(cb) else bool(cb),
        main=main, cluster=cg, peak=layers.peaks.get(main) if main is not None else None,
        is_pair=verdict != _NONE_VERDICT and main is not None, no_pair=_no_pair_reason(verdict),
        year=_year_text(ov.get("designated")), firms=fv, x=x, y=y, target=target, is_anchor=is_anchor, in_park=in_park,
        in_cluster=_inside(cg, x, y) if cg is not None else np.zeros(len(fv), bool),
        anchors=_anchor_points(fv, opts.anchors, opts.anchor_column, opts.crs),
    )


def _describe(p: _Pair) -> dict[str, Any]:
    """The park, its main cluster, and where that cluster lies (inside or outside the park)."""
    ov = p.overlay
    row: dict[str, Any] = {
        "name": ov.get("name", str(p.idx)), "valley": p.valley, "designated": ov.get("designated"), "verdict": p.verdict,
        "main_cluster": p.main, "cluster_before": p.cluster_before, "pair": p.is_pair,
    }
    inside_area = _num(ov.get("max_cluster_share")) if p.main is not None else np.nan
    area_outside = 1.0 - inside_area if not _isnan(inside_area) else np.nan
    n_cl_t = int((p.in_cluster & p.target).sum())
    firms_outside = float((p.in_cluster & p.target & ~p.in_park).sum() / n_cl_t) if n_cl_t else np.nan
    outside = np.nanmax([area_outside, firms_outside]) if not (_isnan(area_outside) and _isnan(firms_outside)) else np.nan
    row.update(cluster_area_inside=inside_area, cluster_area_outside=area_outside, cluster_target_firms=n_cl_t,
               cluster_firms_outside=firms_outside, cluster_outside_share=float(outside) if not _isnan(outside) else np.nan)
    return row


# ============================================================================ the rules
class _Outcome(NamedTuple):
    """A model's assessment of one pair.  ``margin``: the factor by which its weakest condition
    clears its threshold (breaks the tie between applying models; NaN unless it applies)."""

    status: str  # "yes" / "no" / "undetermined"
    score: float  # 0-1, NaN when undetermined
    reason: str
    margin: float = np.nan


def _no(reason: str, score: float = 0.0) -> _Outcome:
    return _Outcome("no", score, reason)


def _undetermined(reason: str) -> _Outcome:
    return _Outcome("undetermined", np.nan, reason)


def _decide(ok: bool, score: float, reason: str, margin: float) -> _Outcome:
    return _Outcome("yes" if ok else "no", score, reason, margin if ok else np.nan)


def _ge(ok: bool) -> str:
    return "≥" if ok else "<"


class _Contrast(NamedTuple):
    """A share contrast that has enough firms on both sides (:func:`_contrast`)."""

    n_grp: int
    s_grp: float
    s_rest: float
    ratio: float
    r_ratio: float  # fulfilment of ratio >= its threshold; 0 when both shares are 0


def _contrast(row: dict[str, Any], keys: tuple[str, ...], flag: np.ndarray, grp: np.ndarray, rest: np.ndarray,
              pop: np.ndarray, th: Mapping[str, float], ratio_key: str,
              too_few: Callable[[int, int], str]) -> _Contrast | _Outcome:
    """The share of ``flag`` in the group against the rest, the condition of the research-led and
    FDI-led models: the group's size is recorded as ``row[keys[0]]``; with fewer than
    ``th["min_firms"]`` firms on either side the outcome is undetermined (``too_few(n_grp, n_rest)``
    says where), otherwise :func:`_share_contrast` is recorded under ``keys[1:]`` and the ratio
    is held to ``th[ratio_key]`` (a ratio of 0 / 0 fails it)."""
    n_grp, n_rest = int(grp.sum()), int(rest.sum())
    row[keys[0]] = n_grp
    if n_grp < th["min_firms"] or n_rest < th["min_firms"]:
        return _undetermined(f"{too_few(n_grp, n_rest)} (at least {th['min_firms']:.0f} needed for each share)")
    shares = _share_contrast(flag, grp, rest, pop)
    row.update(zip(keys[1:], shares))
    s_grp, s_rest, _, ratio, _ = shares
    r_ratio = _cond(ratio, th[ratio_key]) if not _isnan(ratio) else 0.0
    return _Contrast(n_grp, s_grp, s_rest, ratio, r_ratio)


def _no_indicators(p: _Pair) -> dict[str, Any]:
    return {}


def _precedence_unknown(p: _Pair) -> _Outcome:
    why = str(p.overlay.get("precedence_skipped") or "precedence test not run")
    return _undetermined(f"whether the cluster preceded designation is unknown: {why}")


def _market_led(p: _Pair, row: dict[str, Any]) -> _Outcome:
    """A significant cluster before designation, and much of the main cluster outside the park."""
    if p.cluster_before is None:
        return _precedence_unknown(p)
    if not p.cluster_before:
        return _no(f"no significant cluster on the park before {p.year}")
    threshold = p.opts.th["outside_share"]
    r_out = _cond(row["cluster_outside_share"], threshold)
    ok = r_out >= 1
    return _decide(ok, min(1.0, r_out),
                   f"a significant cluster covered the park before {p.year}; {format_pct(row['cluster_area_outside'])} of the main "
                   f"cluster's area and {format_pct(row['cluster_firms_outside'])} of its target firms lie outside the park "
                   f"({_ge(ok)} {format_pct(threshold)})", r_out)


def _market_text(th: Mapping[str, float], radius_m: float) -> str:
    return (f"cluster_before is True (significant cluster on the park before designation) and at least "
            f"{th['outside_share']:g} of the main cluster (the larger of its area share and target-firm share) "
            f"lies outside the park")


def _government_led(p: _Pair, row: dict[str, Any]) -> _Outcome:
    """No significant cluster before designation, a cluster inside the park after it."""
    if p.cluster_before is None:
        return _precedence_unknown(p)
    if p.cluster_before:
        return _no(f"a significant cluster already covered the park before {p.year}")
    if p.verdict != _AFTER_VERDICT:
        return _no(f"no significant cluster before {p.year}, but the verdict is {p.verdict!r}")
    return _Outcome("yes", 1.0, f"no significant cluster on the park before {p.year}, and a cluster inside it after "
                                f"({format_pct(row['cluster_area_inside'])} of the main cluster's area in the park)", 1.0)


def _government_text(th: Mapping[str, float], radius_m: float) -> str:
    return "cluster_before is False and the overlay verdict is 'cluster formed after designation'"


def _anchor_indicators(p: _Pair) -> dict[str, Any]:
    """The research-led indicators; the anchors are counted for every park, pair or not."""
    row: dict[str, Any] = {
        "anchor_source": None, "n_anchors": 0, "nearest_anchor": None, "anchor_core_distance_m": np.nan,
        "n_anchors_at_core": 0, "n_clq_target_firms": 0, "clq_target_anchors": np.nan, "p_clq_target_anchors": np.nan,
        "n_anchors_colocated": 0, "n_firms_near_anchor": 0, "rd_share_near_anchor": np.nan, "rd_share_elsewhere": np.nan,
        "rd_share_valley": np.nan, "rd_ratio": np.nan, "p_rd_near_anchor": np.nan,
    }
    if not isinstance(p.anchors, str):
        ax, _, _, source = p.anchors
        row.update(anchor_source=source, n_anchors=len(ax))
    return row


def _research_led(p: _Pair, row: dict[str, Any]) -> _Outcome:
    """The pair's target firms co-located with research anchors, and R&D firms over-represented
    around those anchors."""
    import shapely

    if isinstance(p.anchors, str):
        return _undetermined(p.anchors)
    ax, ay, names, _ = p.anchors
    if len(ax) == 0:
        return _no(f"no research anchor in the data ({row['anchor_source']})")
    # where the anchors are: reported, not part of the rule
    core = [shapely.centroid(p.cluster)] + ([p.peak] if p.peak is not None else [])
    dist = np.min([np.hypot(ax - c.x, ay - c.y) for c in core], axis=0)
    j = int(np.argmin(dist))
    row.update(nearest_anchor=names[j], anchor_core_distance_m=float(dist[j]),
               n_anchors_at_core=int((dist <= p.opts.radius_m).sum()))
    colocated = _anchor_colocation(p, row)
    if isinstance(colocated, _Outcome):
        return colocated
    th, alpha = p.opts.th, p.opts.alpha
    clq, pv = row["clq_target_anchors"], row["p_clq_target_anchors"]
    r_clq = _cond(clq, th["anchor_clq"])
    sig = pv <= alpha
    where = (f"CLQ(the pair's {row['n_clq_target_firms']:,} target firms → research anchors) = {clq:.2f} "
             f"({_ge(r_clq >= 1)} {th['anchor_clq']:g}; one-sided {p_phrase(pv)}, {'≤' if sig else '>'} {alpha:g})")
    if not (r_clq >= 1 and sig):
        return _no(where, min(1.0, r_clq) if sig else 0.0)
    if p.opts.rd_column not in p.firms.columns:
        return _undetermined(f"{where}, but the firm table has no `{p.opts.rd_column}` column "
                             "(R&D firms near the anchors cannot be counted)")
    return _rd_near_anchors(p, row, ax[colocated], ay[colocated], where, r_clq)


def _anchor_colocation(p: _Pair, row: dict[str, Any]) -> np.ndarray | _Outcome:
    """CLQ(the pair's target firms → research anchors) over the valley's firms (and the anchors
    layer's points), tested by random labelling (one-sided, co-location); the anchors among the
    neighbours of those firms (:func:`geo.stats.colocation.neighbours_of`) are returned."""
    from geo.errors import GeoError
    from geo.points import PointFrame
    from geo.stats.colocation import RUN_MAX_POINTS, colocation, neighbours_of

    ax, ay, _, source = p.anchors
    layer = source == "anchors layer"
    x, y = (np.r_[p.x, ax], np.r_[p.y, ay]) if layer else (p.x, p.y)
    if len(x) > RUN_MAX_POINTS:
        return _undetermined(f"the co-location test of the pair's target firms towards the anchors is not run on "
                             f"{len(x):,} points, above the run's budget of {RUN_MAX_POINTS:,} "
                             "(geo.stats.colocation.RUN_MAX_POINTS)")
    extra = np.ones(len(ax), dtype=bool) if layer else np.zeros(0, dtype=bool)
    anchor = np.r_[np.zeros(len(p.x), dtype=bool), extra] if layer else p.is_anchor
    pair = np.r_[p.target & ~p.is_anchor & (p.in_park | p.in_cluster), np.zeros(len(extra), dtype=bool)]
    row["n_clq_target_firms"] = int(pair.sum())
    pts = PointFrame(pd.DataFrame({"x": x, "y": y}), crs=p.opts.crs, xy=("x", "y"))
    try:
        r = colocation(pts, a=pair, b=anchor, k=_CLQ_K, permutations=p.opts.permutations, seed=p.opts.seed,
                       alternative="greater")
    except GeoError as exc:
        return _undetermined(f"the co-location quotient of the pair's target firms towards the anchors is undefined: {exc}")
    near = neighbours_of(np.column_stack([x, y]), pair, k=_CLQ_K) & anchor
    row.update(clq_target_anchors=r.clq, p_clq_target_anchors=r.p, n_anchors_colocated=int(near.sum()))
    # over the points of p.anchors: the layer's points, or the flagged firm rows in order
    return near[len(p.x):] if layer else near[np.flatnonzero(p.is_anchor)]


def _rd_near_anchors(p: _Pair, row: dict[str, Any], ax: np.ndarray, ay: np.ndarray, where: str, r_clq: float) -> _Outcome:
    """The R&D share of the firms within ``radius_m`` of the co-located anchors against the valley's other firms."""
    th, radius_m, rd_column = p.opts.th, p.opts.radius_m, p.opts.rd_column
    rd, known = _known_flag(p.firms[rd_column])
    firm = ~p.is_anchor & known
    near = firm & _within(p.x, p.y, ax, ay, radius_m)
    c = _contrast(row, _RD_KEYS, rd, near, firm & ~near, firm, th, "rd_ratio",
                  lambda n_near, n_rest: f"{where}, but only {n_near} firms with a known `{rd_column}` lie within "
                                         f"{radius_m:,.0f} m of the co-located anchors and {n_rest} farther away")
    if isinstance(c, _Outcome):
        return c
    ok = c.r_ratio >= 1
    return _decide(ok, min(1.0, min(r_clq, c.r_ratio)),
                   f"{where}; {format_pct(c.s_grp)} of the {c.n_grp:,} firms within {radius_m:,.0f} m of the co-located anchors "
                   f"do R&D, {c.ratio:.2f} × the {format_pct(c.s_rest)} of the valley's other firms ({_ge(ok)} "
                   f"{th['rd_ratio']:g} ×)", min(r_clq, c.r_ratio))


def _research_text(th: Mapping[str, float], radius_m: float) -> str:
    return (f"the pair's target firms (in the park or its main cluster) are co-located with research anchors: "
            f"the co-location quotient CLQ(those firms → anchors) over each firm's {_CLQ_K} nearest neighbours "
            f"(Leslie & Kronenfeld 2011) >= {th['anchor_clq']:g} and significant (one-sided random-labelling "
            f"p <= alpha) -- it replaces the former rule 'an anchor within {radius_m:g} m of the cluster's core', "
            f"whose distance is still reported (anchor_core_distance_m); and the R&D share of the firms within "
            f"{radius_m:g} m of the anchors among those firms' neighbours >= {th['rd_ratio']:g} x the R&D share of "
            f"the valley's other firms (at least {th['min_firms']:g} firms in each)")


def _foreign_indicators(p: _Pair) -> dict[str, Any]:
    return {"n_pair_target_firms": 0, "foreign_share": np.nan, "foreign_share_elsewhere": np.nan,
            "foreign_share_valley": np.nan, "foreign_ratio": np.nan, "p_foreign": np.nan}


def _fdi_led(p: _Pair, row: dict[str, Any]) -> _Outcome:
    """Many foreign-invested target firms in the park and its cluster, more than elsewhere in the valley."""
    th, column = p.opts.th, p.opts.ownership_column
    if column not in p.firms.columns:
        return _undetermined(f"the firm table has no `{column}` column")
    own = p.firms[column]
    known = _known(own)
    foreign = (own.astype(str).str.strip().str.lower() == str(p.opts.foreign_value).lower()).to_numpy() & known
    pop = p.target & ~p.is_anchor & known
    grp = pop & (p.in_park | p.in_cluster)
    c = _contrast(row, _FOREIGN_KEYS, foreign, grp, pop & ~grp, pop, th, "foreign_ratio",
                  lambda n_grp, n_rest: f"only {n_grp} target firms with a known `{column}` in the park and its "
                                        f"cluster and {n_rest} elsewhere in the valley")
    if isinstance(c, _Outcome):
        return c
    r1 = _cond(c.s_grp, th["foreign_share"])
    r2 = c.r_ratio
    return _decide(r1 >= 1 and r2 >= 1, min(1.0, r1, r2),
                   f"{format_pct(c.s_grp)} of the pair's {c.n_grp:,} target firms are foreign-invested ({_ge(r1 >= 1)} "
                   f"{format_pct(th['foreign_share'])}), {c.ratio:.2f} × the {format_pct(c.s_rest)} of the valley's other target "
                   f"firms ({_ge(r2 >= 1)} {th['foreign_ratio']:g} ×)", min(r1, r2))


def _fdi_text(th: Mapping[str, float], radius_m: float) -> str:
    return (f"foreign-invested share of the pair's target firms (in the park or its main cluster) >= "
            f"{th['foreign_share']:g} and >= {th['foreign_ratio']:g} x the share among the valley's other target "
            f"firms (at least {th['min_firms']:g} firms in each)")


@dataclass(frozen=True)
class _Rule:
    """One development model."""

    model: str  # its short name (a key of MODELS)
    key: str  # its column suffix: status_<key>, score_<key>, reason_<key>
    path: bool  # a development path (market- or government-led): leads the primary model when it applies
    indicators: Callable[[_Pair], dict[str, Any]]  # its indicator columns, as reported before (or without) assessment
    assess: Callable[[_Pair, dict[str, Any]], _Outcome]  # on a park–cluster pair: fills its indicators, decides
    text: Callable[[Mapping[str, float], float], str]  # the rule in words (attrs["rules"])


#: the development models, in the order of :data:`MODELS` (and of the output columns)
_RULES = (
    _Rule("market-led", "market_led", True, _no_indicators, _market_led, _market_text),
    _Rule("government-led", "government_led", True, _no_indicators, _government_led, _government_text),
    _Rule("research-led", "research_led", False, _anchor_indicators, _research_led, _research_text),
    _Rule("FDI-led", "fdi_led", False, _foreign_indicators, _fdi_led, _fdi_text),
)
_PATHS = frozenset(r.model for r in _RULES if r.path)


def _classify_park(p: _Pair) -> dict[str, Any]:
    """Every rule on one park: its row of the output."""
    row = _describe(p)
    outcomes: dict[str, _Outcome] = {}
    for rule in _RULES:
        row.update(rule.indicators(p))
        outcomes[rule.model] = rule.assess(p, row) if p.is_pair else _no(p.no_pair)
    for rule in _RULES:
        o = outcomes[rule.model]
        row[f"status_{rule.key}"] = o.status
        row[f"score_{rule.key}"] = float(o.score) if not _isnan(o.score) else np.nan
        row[f"reason_{rule.key}"] = o.reason
    applying = [(m, o.margin) for m, o in outcomes.items() if o.status == "yes"]
    undetermined = [m for m, o in outcomes.items() if o.status == "undetermined"]
    row["models"] = [m for m, _ in applying]
    row["primary_model"] = _primary(applying, undetermined)
    row["summary"] = _summary(p, outcomes, row["models"], undetermined)
    return row


def _primary(applying: list[tuple[str, float]], undetermined: list[str]) -> str:
    """The development path when one applies; else the widest margin; else "undetermined" or "none"."""
    path = [m for m, _ in applying if m in _PATHS]
    if path:
        return path[0]
    if applying:
        return max(applying, key=lambda t: (-1 if _isnan(t[1]) else t[1]))[0]
    return "undetermined" if undetermined else "none"


def _summary(p: _Pair, outcomes: dict[str, _Outcome], models: list[str], undetermined: list[str]) -> str:
    def said(names) -> str:
        return " ".join(f"{m}: {outcomes[m].reason}." for m in names)

    if models:
        return " + ".join(models) + ". " + said(models)
    if undetermined:
        return "undetermined: " + said(undetermined)
    return "none of the models applies: " + (p.no_pair + "." if not p.is_pair else said(outcomes))


def _model_rules(th: Mapping[str, float], radius_m: float) -> dict[str, str]:
    return {
        "pair": "every model needs a cluster coinciding with the park (overlay verdict other than 'park without a cluster'); "
                "the main cluster is the one overlapping the park most",
        **{rule.model: rule.text(th, radius_m) for rule in _RULES},
        "undetermined": "a model whose indicator is missing from the data (no designation year, no anchor information, "
                        "no R&D or ownership column, too few firms for a share) is undetermined, with the reason",
        "score": "each condition's indicator / threshold capped at 1 (yes/no conditions 1 or 0); a model's score is its "
                 "weakest condition's; it applies when the score is 1",
        "primary_model": "the development path (market-led or government-led) when one applies; otherwise the applying model "
                         "whose weakest condition clears its threshold by the widest factor; 'none' if none applies; "
                         "'undetermined' if none applies and some model is undetermined",
    }


def _check_inputs(overlay: pd.DataFrame, radius_m: float) -> None:
    if not (math.isfinite(radius_m) and radius_m > 0):
        msg = f"`radius_m` must be a positive number of metres; {radius_m!r} was given."
        raise InputError(msg)
    need = ["verdict", "cluster_before", "main_cluster", "max_cluster_share"]
    missing = [c for c in need if c not in overlay.columns]
    if missing:
        msg = f"`overlay` must be the output of geo.park_overlay; columns {missing} are missing."
        raise ColumnError(msg)


# ============================================================================ classify_models

def classify_models(overlay: pd.DataFrame, clusters, firms, parks, *, anchors=None, anchor_column: str = "anchor",
                    rd_column: str = "rd", ownership_column: str = "ownership", foreign_value: str = "foreign",
                    radius_m: float = 2000.0, thresholds: Mapping[str, float] | None = None, sector: str | None = None,
                    sector_column: str = "sector", hotspots=None, cluster_cells: pd.Series | None = None,
                    valley_column: str = "valley", alpha: float = 0.05, permutations: int = 999,
                    seed: Any = 0) -> pd.DataFrame:
    """Development model of each park–cluster pair, from measured indicators.

    Parameters
    ----------
    overlay : pandas.DataFrame
        Output of :func:`geo.park_overlay` for one valley (``name``, ``designated``,
        ``verdict``, ``cluster_before``, ``main_cluster``, ``max_cluster_share``), indexed
        like ``parks``.
    clusters : geopandas.GeoDataFrame
        Output of :func:`geo.cluster_polygons` (the same clusters as the overlay), metric CRS.
    firms : geopandas.GeoDataFrame or geo.points.PointFrame
        The valley's firms (any CRS).  Columns used when present: ``sector_column``,
        ``anchor_column``, ``rd_column``, ``ownership_column``, ``name``.
    parks : geopandas.GeoDataFrame
        The parks of the overlay (any CRS).
    anchors : geopandas.GeoDataFrame, optional
        Points of research institutes / universities (``name`` used when present).  When
        given it replaces the firm-table flag ``anchor_column``.
    anchor_column : str, default "anchor"
        Firm-table flag (1/true/yes) of research anchors.  Anchor rows are left out of the
        R&D and foreign-ownership shares (they are institutes, not firms).
    rd_column : str, default "rd"
        0/1 flag of firms doing R&D.
    ownership_column : str, default "ownership"
        Ownership; a firm is foreign-invested when the value equals ``foreign_value``
        (case-insensitive).  Missing values are left out of the shares.
    foreign_value : str, default "foreign"
    radius_m : float, default 2000
        "Near": an anchor at the cluster's core, and the firms around an anchor.
    thresholds : mapping, optional
        Overrides of :data:`DEFAULT_THRESHOLDS` (``outside_share`` 0.4, ``anchor_clq`` 1.5, ``rd_ratio`` 1.5,
        ``foreign_share`` 0.3, ``foreign_ratio`` 1.5, ``min_firms`` 20).
    sector : str, optional
        The target sector of the overlay (its firms are the "target firms"); None: all firms.
    sector_column : str, default "sector"
    hotspots : geopandas.GeoDataFrame, optional
        The hotspot table the clusters came from: locates each cluster's peak cell (highest
        Gi* z) as a second core point besides the centroid.
    cluster_cells : pandas.Series, optional
        Which hot cell is in which cluster, for the peak cells: index = the cells' index in
        ``hotspots``, value = the ``cluster_id`` (the record ``attrs["cell_cluster"]`` of
        :func:`geo.cluster_polygons`, read from ``clusters`` when not given; without either,
        the cores are the centroids only).
    valley_column : str, default "valley"
        When both ``firms`` and ``parks`` have it, each park's shares use its own valley's firms.
    alpha : float, default 0.05
        Level of the research-led co-location test.
    permutations : int, default 999
        Random labellings of that test.
    seed : int, numpy.random.Generator or None, default 0
        Seed of the random labellings.

    Returns
    -------
    pandas.DataFrame
        One row per park (index of ``overlay``): ``name``, ``valley``, ``designated``,
        ``verdict``, ``main_cluster``, ``cluster_before``, every indicator (below), and per
        model ``status_<m>`` ("yes" / "no" / "undetermined"), ``score_<m>`` (0–1, NaN when
        undetermined), ``reason_<m>`` (the rule's numbers in words), for ``m`` in
        ``market_led``, ``government_led``, ``research_led``, ``fdi_led``; ``models`` (list
        of the models that apply), ``primary_model`` and ``summary``.  ``attrs``:
        ``rules``, ``thresholds``, ``radius_m``.

    Notes
    -----
    A development model describes a **park–cluster pair**: every model needs a cluster
    that coincides with the park (the overlay verdict is not "park without a cluster");
    the *main cluster* is the one overlapping the park most (``main_cluster``).  Its
    *core* is its centroid and, when ``hotspots`` is given, its peak cell's centroid.

    * **market-led / spontaneous** — the park's location was a significant cluster before
      designation (``cluster_before`` True, the precedence test) and much of the main
      cluster lies outside the park: the larger of the shares of its area and of its
      target firms outside the park is at least ``outside_share`` (0.4).
    * **government-led / planned** — no significant cluster before designation
      (``cluster_before`` False) and a cluster inside the park after it (verdict "cluster
      formed after designation").
    * **research-led** — the pair's target firms (inside the park or its main cluster)
      are co-located with the research anchors: the co-location quotient
      CLQ(those firms → anchors) over each firm's 8 nearest neighbours
      (:func:`geo.colocation`; the valley's firms, plus the anchors layer's points when
      given, are the population) is at least ``anchor_clq`` (1.5) and significant
      (one-sided random-labelling p ≤ ``alpha``); this replaces the former distance rule
      (an anchor within ``radius_m`` of the core), whose distance is still reported.  And
      the R&D share of the firms within ``radius_m`` of the anchors among those firms'
      neighbours is at least ``rd_ratio`` (1.5) times the R&D share of the valley's other
      firms:

      .. math:: \\frac{\\#\\{\\text{R\\&D firms near}\\} / \\#\\{\\text{firms near}\\}}
                      {\\#\\{\\text{R\\&D firms elsewhere}\\} / \\#\\{\\text{firms elsewhere}\\}} \\ge 1.5

    * **multinational / FDI-led** — among the pair's target firms (inside the park or its
      main cluster), the foreign-invested share is at least ``foreign_share`` (0.3) and at
      least ``foreign_ratio`` (1.5) times that share among the valley's other target firms.

    The comparison is with the *rest* of the valley, not the whole valley: a cluster that
    holds a fraction :math:`f` of the valley's target firms can never reach a ratio above
    :math:`1/f` against the whole valley (a cluster with 80 % of the firms, all of them
    foreign, would be 1.25 × the valley's share).  The whole-valley shares are reported too
    (``rd_share_valley``, ``foreign_share_valley``).

    **Undetermined, never guessed.**  Without a designation year (``cluster_before``
    missing) market- and government-led are undetermined; without anchor information
    (no ``anchors`` layer and no ``anchor_column``) or without ``rd_column``,
    research-led is undetermined; without ``ownership_column``, FDI-led is undetermined;
    a share behind fewer than ``min_firms`` firms is not used (undetermined).  A condition
    that is measured and fails makes the model "no" even when another is missing.

    **Scores.**  Each condition's fulfilment is its indicator over its threshold (for the
    anchor distance: ``radius_m`` over the distance), capped at 1; yes/no conditions count
    1 or 0.  A model's score is its weakest condition's fulfilment, so it applies exactly
    when its score is 1.  The hypergeometric p-values of the R&D and foreign shares
    (``p_rd_near_anchor``, ``p_foreign``; one-sided, over-representation) are shown but are
    not part of the rules.

    **Primary model.**  Every applying model scores 1, so the tie is broken as follows:
    the development path (market-led or government-led; they exclude each other) when one
    applies — it answers whether the cluster came before the park; otherwise the applying
    model whose weakest condition clears its threshold by the widest factor.  "none" when
    no model applies and none is undetermined, "undetermined" when none applies and at
    least one is undetermined.

    Examples
    --------
    >>> vr = results.valleys["Changchun"]  # doctest: +SKIP
    >>> m = classify_models(vr.analysis.parks_overlay, vr.analysis.clusters, vr.analysis.metric_firms,
    ...                     vr.parks, sector="optics", hotspots=vr.analysis.hotspots,
    ...                     cluster_cells=vr.analysis.cluster_cells)  # doctest: +SKIP
    >>> m["models"].iloc[0]  # doctest: +SKIP
    ['market-led', 'research-led']
    """
    th = _thresholds(thresholds)
    radius_m = _num(radius_m)
    _check_inputs(overlay, radius_m)
    if len(overlay) == 0:
        out = pd.DataFrame(columns=["name", "models", "primary_model"])
        out.attrs["rules"] = _model_rules(th, radius_m)
        return out
    crs = clusters.crs if clusters is not None and clusters.crs is not None else None
    if crs is None:
        msg = "`clusters` must be the GeoDataFrame of geo.cluster_polygons with its (metric) CRS."
        raise CRSError(msg)
    layers = _layers(firms, parks, clusters, hotspots, crs, cluster_cells)
    opts = _Options(th=th, radius_m=radius_m, anchors=anchors, anchor_column=anchor_column, rd_column=rd_column,
                    ownership_column=ownership_column, foreign_value=foreign_value, sector=sector,
                    sector_column=sector_column, valley_column=valley_column, crs=crs, alpha=float(alpha),
                    permutations=int(permutations), seed=seed)
    rows = [_classify_park(_pair(idx, ov, layers, opts)) for idx, ov in overlay.iterrows()]
    out = pd.DataFrame(rows, index=overlay.index)
    out.attrs["rules"] = _model_rules(th, radius_m)
    out.attrs["thresholds"] = dict(th)
    out.attrs["radius_m"] = radius_m
    return out
