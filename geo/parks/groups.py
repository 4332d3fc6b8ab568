"""High-tech vs traditional: do the clusters of one sector group coincide with parks more than another's?

Industry codes are mapped to groups by a configuration table (:func:`geo.io.groups.read_groups`,
:func:`assign_groups`); :func:`compare_groups` measures each group in each valley (global
Moran's I, Gi* hot cells, Duranton–Overman Kd, the park tests, age structure) in one tidy
table; :func:`group_difference_test` tests whether one group lies inside parks more often
than the other (a permutation test of the in-park share difference); :func:`groups_answer`
puts the answer in plain words.

Examples
--------
>>> from geo.datasets import demo_path
>>> from geo.io.groups import read_groups
>>> import pandas as pd
>>> firms = pd.read_csv(demo_path("firms"), dtype=str, keep_default_na=False)
>>> assign_groups(firms, read_groups(demo_path("industry_groups"))).attrs["n_unclassified"]
0
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo._format import format_pct, p_phrase
from geo._random import check_seed, seed_record
from geo.errors import ColumnError, CRSError, GeoError, InputError
from geo.io.groups import code_key, read_groups
from geo.parks._common import _inside, _isnan, _to, _valid
from geo.points import point_xy

__all__ = [
    "UNCLASSIFIED",
    "GroupComparison",
    "assign_groups",
    "compare_groups",
    "group_difference_test",
    "groups_answer",
]

log = logging.getLogger(__name__)

#: the group of a firm whose industry code matches no row of the groups table
UNCLASSIFIED = "unclassified"


def assign_groups(firms: pd.DataFrame, groups: pd.DataFrame | str | Path, *, code_column: str = "industry_code",
                  column: str = "group") -> pd.Series:
    """The group of each firm from its industry code (exact or longest-prefix match).

    Parameters
    ----------
    firms : pandas.DataFrame or geopandas.GeoDataFrame
        The firm table; not modified.
    groups : pandas.DataFrame, str or pathlib.Path
        Output of :func:`geo.io.groups.read_groups`, or its path.
    code_column : str, default "industry_code"
        The firms' industry code column.
    column : str, default "group"
        The column of ``groups`` to return (e.g. ``"group_detail"`` for
        "high-tech: optics").

    Returns
    -------
    pandas.Series
        Aligned to ``firms.index``, named ``column``.  Firms whose code matches no row
        (or is missing) get ``"unclassified"``.  ``attrs``: ``counts`` (firms per group),
        ``n_unclassified``, ``n_missing_code``, ``n_exact``, ``n_prefix`` (matched at a
        coarser level) and ``unclassified_codes`` (the 20 most frequent unmatched codes
        with their counts).

    Notes
    -----
    Matching rule (see :func:`geo.io.groups.read_groups`): codes are compared as text after removing
    spaces, dots, hyphens and slashes and upper-casing; the longest table code that is a
    prefix of the firm's code wins.  A numeric code column is turned into integers first
    (a code read as a number has lost any leading zero: read codes as text).

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"industry_code": ["334", "334413", "31"],
    ...                       "group": ["high-tech", "semiconductors", "traditional"]})
    >>> firms = pd.DataFrame({"industry_code": ["334413", "334111", "311811", "541511", None]})
    >>> g = assign_groups(firms, table)
    >>> g.tolist()
    ['semiconductors', 'high-tech', 'traditional', 'unclassified', 'unclassified']
    >>> g.attrs["n_unclassified"], g.attrs["n_missing_code"], g.attrs["n_prefix"]
    (2, 1, 2)
    """
    if isinstance(groups, (str, Path)):
        groups = read_groups(groups)
    if code_column not in firms.columns:
        msg = (f"The firm table has no `{code_column}` column to assign groups from; its columns are "
               f"{[c for c in firms.columns if c != 'geometry']}. Pass code_column=.")
        raise ColumnError(msg)
    for c in ("industry_code", column):
        if c not in groups.columns:
            msg = f"The groups table has no `{c}` column (its columns: {list(groups.columns)}); read it with read_groups()."
            raise ColumnError(msg)
    table = {code_key(k): str(v) for k, v in zip(groups["industry_code"], groups[column])}
    table.pop("", None)
    lengths = sorted({len(k) for k in table}, reverse=True)
    codes = firms[code_column]
    keys = codes.map(code_key)
    uniq = pd.unique(keys)
    lookup: dict[str, tuple[str, str]] = {}
    for k in uniq:
        if k == "":
            lookup[k] = (UNCLASSIFIED, "missing")
            continue
        if k in table:
            lookup[k] = (table[k], "exact")
            continue
        hit = next((k[:n] for n in lengths if n < len(k) and k[:n] in table), None)
        lookup[k] = (table[hit], "prefix") if hit is not None else (UNCLASSIFIED, "none")
    how = keys.map(lambda k: lookup[k][1])
    out = pd.Series([lookup[k][0] for k in keys], index=firms.index, name=column, dtype=object)
    unmatched = keys[how == "none"]
    out.attrs = {
        "counts": {str(k): int(v) for k, v in out.value_counts().sort_index().items()},
        "n_unclassified": int((out == UNCLASSIFIED).sum()),
        "n_missing_code": int((how == "missing").sum()),
        "n_exact": int((how == "exact").sum()),
        "n_prefix": int((how == "prefix").sum()),
        "unclassified_codes": {str(k): int(v) for k, v in unmatched.value_counts().head(20).items()},
    }
    if out.attrs["n_unclassified"]:
        log.warning("assign_groups: %d firms unclassified (%d without a code); most frequent unmatched codes: %s",
                    out.attrs["n_unclassified"], out.attrs["n_missing_code"], out.attrs["unclassified_codes"])
    return out


@dataclass(frozen=True)
class GroupComparison:
    """High-tech versus traditional, as a run gives it (``Results.groups``).

    Made by the run's groups stage (``[groups]`` of the config) from :func:`assign_groups`,
    :func:`compare_groups`, :func:`group_difference_test` and :func:`groups_answer`; the
    ``groups`` layer of ``layers.gpkg``, ``summary.json``'s ``groups`` and the report's groups
    section are written from its fields.

    Attributes
    ----------
    table : pandas.DataFrame
        :func:`compare_groups`: one row per (valley, group).
    difference : dict
        :func:`group_difference_test` of ``group_a`` against ``group_b``.
    answer : str
        :func:`groups_answer`: the answer in plain words, a sentence per line.
    assignment : dict
        How the firms were matched to groups (:func:`assign_groups`' record: ``counts``,
        ``n_unclassified``, ``n_missing_code``, ``n_exact``, ``n_prefix``,
        ``unclassified_codes``).
    group_a, group_b : str
        The two groups compared.
    """

    table: pd.DataFrame
    difference: dict
    answer: str
    assignment: dict = field(default_factory=dict)
    group_a: str = "high-tech"
    group_b: str = "traditional"


# ============================================================================ helpers
def _valley_parks(parks, valley: str | None):
    if parks is None or len(parks) == 0:
        return parks
    if valley is not None and "valley" in parks.columns and parks["valley"].notna().any():
        return parks[parks["valley"].astype(str) == str(valley)]
    return parks





# ============================================================================ compare_groups
def _kd_summary(res) -> dict:
    iv = [(float(a), float(b)) for a, b in res.localised]
    return {
        "kd_localised": bool(iv),
        "kd_from_m": min(a for a, _ in iv) if iv else np.nan,
        "kd_to_m": max(b for _, b in iv) if iv else np.nan,
        "kd_intervals": "; ".join(f"{a / 1000:.2f}–{b / 1000:.2f} km" for a, b in iv),
        "kd_verdict": res.verdict,
    }


def compare_groups(firms, parks=None, *, group_column: str = "group", valley_column: str | None = "valley",
                   founded_column: str = "founded", permutations: int = 999, seed: int | np.random.Generator | None = 0,
                   cell: str = "hex", size: str | float = "auto", alpha: float = 0.05, kd_simulations: int = 99,
                   groups: Sequence[str] | None = None, reference_year: int | None = None,
                   min_cluster_firms: int = 10, study_areas: Mapping[str, Any] | None = None,
                   weights: str = "queen") -> pd.DataFrame:
    """Each sector group in each valley: autocorrelation, hot spots, Kd, the park tests, age.

    Parameters
    ----------
    firms : geopandas.GeoDataFrame or geo.points.PointFrame
        Firm points of one or more valleys (any CRS; each valley is projected to its own
        UTM zone with :func:`geo.crs.to_metric`) with a ``group_column`` (from
        :func:`assign_groups`).  Not modified.
    parks : geopandas.GeoDataFrame, optional
        Parks (``name``, ``designated``, and ``valley`` to tell which valley each belongs
        to; without a ``valley`` column every park is used for every valley).
    group_column : str, default "group"
    valley_column : str or None, default "valley"
        None: all firms form one valley named "all".
    founded_column : str, default "founded"
    permutations : int, default 999
        Permutations of global Moran's I, Gi* and the precedence test's Gi*.
    seed : int, numpy.random.Generator or None, default 0
        One seed per (valley, group) is drawn from it in table order.
    cell, size : default "hex", "auto"
        The grid (:func:`geo.aggregate`); one grid per valley, shared by its groups.
    alpha : float, default 0.05
    kd_simulations : int, default 99
        Random-location simulations of Kd (0 skips Kd).
    groups : sequence of str, optional
        Groups to report (default: every group present, sorted).
    reference_year : int, optional
        The year ages are measured to (default: the latest founding year in ``firms``).
    min_cluster_firms : int, default 10
        Fewest group firms founded before designation for a pre-designation cluster
        (:func:`geo.parks.overlay.precedence_test`).
    study_areas : mapping, optional
        Valley name -> its study area (a :class:`geo.cells.area.StudyArea`, as the run's
        valleys have, or a polygon GeoSeries): the cells of the valley's grid cover it (and
        keep its cell size), as in the main analysis.  Default: the convex hull of the
        valley's firms (``geo.aggregate``'s default extent).
    weights : str, default "queen"
        The cells' spatial weights (:func:`geo.weights`' ``kind``; the run's ``[analysis]
        weights``).  The grid, its graph, Gi* and the cluster polygons are made as in the
        run's valley analysis (:mod:`geo.parks._hot`).

    Returns
    -------
    pandas.DataFrame
        One row per (valley, group), columns:

        * ``valley``, ``group``, ``n_firms``, ``n_cells``, ``cell_size_m``;
        * ``moran_I``, ``moran_z``, ``moran_p_sim`` — global Moran's I of the group's cell
          counts (queen contiguity, row-standardised; ``p_sim`` two-sided permutation);
        * ``hot_share`` — share of the group's firms in Gi* hot cells (bin ≥ +2: hot at
          95 % after Benjamini–Hochberg FDR), ``n_hot_cells``, ``n_clusters``;
        * ``kd_localised``, ``kd_from_m``, ``kd_to_m``, ``kd_intervals``, ``kd_verdict`` —
          Duranton–Overman Kd of the group against random location among all the valley's
          firm sites (localised where Kd exceeds the global upper band);
        * ``in_park_share`` — share of the group's firms inside any park of the valley;
          ``park_lq`` — that share over the share of all firms inside parks;
          ``p_labelling`` — exact hypergeometric test that the group is over-represented
          inside the parks (one-sided; null: the group's firms are a random subset of the
          valley's firms), ``p_labelling_fdr`` (BH across the table);
        * ``precedence`` — did the group's park cluster precede designation?  Of the
          group's Gi* cluster polygons (hot cells at 95 % after FDR, dissolved) and the
          valley's parks, the (cluster, park) pair with the largest overlap area is tested
          with :func:`geo.parks.overlay.precedence_test` (Gi* recomputed on the group's firms
          founded before the park's designation year): "preceded designation",
          "formed after designation", or the reason it is not tested ("no cluster",
          "clusters outside every park", "no designation year", "no founding years");
          ``cluster_before`` (True/False/None), ``precedence_park``, ``precedence_year``,
          ``precedence_cluster_firms`` (the group's firms in that cluster);
        * ``median_age`` (years to ``reference_year``), ``share_after_designation``
          (founded in or after ``designated_ref``, the valley's earliest designation year);
        * ``notes`` — skipped statistics with reasons.

        ``attrs``: ``rules``, ``nulls``, ``parameters``.

    Notes
    -----
    Global Moran's I (two-sided):

    .. math:: I = \\frac{n}{S_0} \\frac{\\sum_{ij} w_{ij} z_i z_j}{\\sum_i z_i^2}

    The park over-representation test uses, for a valley with :math:`N` firms of which
    :math:`K` in the group and :math:`n` inside parks, :math:`x` of them in the group,

    .. math:: p = P(X \\ge x), \\quad X \\sim \\mathrm{Hypergeom}(N, K, n).

    A statistic that cannot be computed (fewer than 30 cells, a constant count, fewer
    than 10 firms for Kd ...) is NaN with the reason in ``notes``; the table never fails
    because one group is small.

    Examples
    --------
    >>> import geo  # doctest: +SKIP
    >>> firms = firms.assign(group=assign_groups(firms, read_groups(path)))  # doctest: +SKIP
    >>> table = compare_groups(firms, parks, permutations=199)  # doctest: +SKIP
    """
    import shapely

    from geo import crs as gcrs
    from geo.parks._hot import hot_clusters, valley_grid
    from geo.parks.overlay import NULLS, labelling_test, precedence_test
    from geo.stats._inference import fdr_bh
    from geo.stats.autocorr import global_moran

    if group_column not in firms.columns:
        msg = (f"compare_groups needs a `{group_column}` column; add it with "
               "firms.assign(group=geo.parks.groups.assign_groups(firms, geo.io.groups.read_groups(path))).")
        raise ColumnError(msg)
    if valley_column is not None and valley_column not in firms.columns:
        msg = f"compare_groups: no `{valley_column}` column in the firm table; pass valley_column=None for one study area."
        raise ColumnError(msg)
    if len(firms) == 0:
        msg = "compare_groups got an empty firm table."
        raise InputError(msg)
    if firms.crs is None:
        msg = "The firm table has no CRS; set it with firms.set_crs(...)."
        raise CRSError(msg)
    rng = check_seed(seed)
    valleys = ["all"] if valley_column is None else [str(v) for v in pd.unique(firms[valley_column].dropna().astype(str))]
    present = sorted({str(g) for g in firms[group_column].dropna()})
    wanted = list(groups) if groups is not None else present
    has_founded = founded_column in firms.columns
    f_all = pd.to_numeric(firms[founded_column], errors="coerce") if has_founded else None
    ref_year = reference_year if reference_year is not None else (
        int(f_all.max()) if f_all is not None and f_all.notna().any() else None)

    rows = []
    for v in valleys:
        sel = np.ones(len(firms), bool) if valley_column is None else (firms[valley_column].astype(str) == v).to_numpy()
        fv = firms.loc[sel]
        fm = gcrs.to_metric(fv)
        gv = np.where(fm[group_column].isna().to_numpy(), "", fm[group_column].astype(str).to_numpy()).astype(object)
        pv = _valley_parks(parks, v if valley_column is not None else None)
        pv_m = _to(pv, fm.crs, "parks") if pv is not None and len(pv) else None
        x, y = point_xy(fm)
        if pv_m is not None:
            union = shapely.union_all([_valid(g) for g in pv_m.geometry.values])
            in_parks = _inside(union, x, y)
        else:
            in_parks = np.zeros(len(fm), bool)
        has_years = pv_m is not None and "designated" in pv_m
        years = pd.to_numeric(pv_m["designated"], errors="coerce").dropna() if has_years else pd.Series(dtype=float)
        design_ref = int(years.min()) if len(years) else None
        valley_notes: list[str] = []
        cells = graph = None
        try:  # the run's chain (geo.parks._hot): one grid per valley, shared by its groups
            fm_g = fm.assign(**{"_group": np.where(gv == "", None, gv)})
            vg = valley_grid(fm_g, cell=cell, size=size, by="_group", extent=(study_areas or {}).get(v), kind=weights)
            cells, graph, grid = vg.cells, vg.graph, vg.grid
        except GeoError as exc:
            valley_notes.append(f"grid: {exc}")
        N = len(fm)
        n_in_all = int(in_parks.sum())
        founded = pd.to_numeric(fm[founded_column], errors="coerce").to_numpy(float) if has_founded else None
        for g in wanted:
            mask = gv == str(g)
            s = int(rng.integers(0, 2**63 - 1))
            notes = list(valley_notes)
            row: dict[str, Any] = {"valley": v, "group": str(g), "n_firms": int(mask.sum())}
            row["n_cells"] = int(len(cells)) if cells is not None else 0
            row["cell_size_m"] = float(grid.size_m or np.nan) if cells is not None else np.nan
            row.update(moran_I=np.nan, moran_z=np.nan, moran_p_sim=np.nan, hot_share=np.nan, n_hot_cells=0, n_clusters=0)
            hot_g = clusters = None
            if mask.sum() == 0:
                notes.append("no firms of this group in the valley")
            elif cells is not None:
                col = grid.column(g)
                counts = cells[col].to_numpy() if col is not None else np.zeros(len(cells), int)
                try:
                    gm = global_moran(counts, graph, permutations=permutations, seed=s)
                    row.update(moran_I=gm.I, moran_z=gm.z, moran_p_sim=gm.p_sim)
                except GeoError as exc:
                    notes.append(f"Moran's I: {exc}")
                try:
                    gcells = cells[["cell_id", "geometry"]].assign(n_firms=counts)
                    hc = hot_clusters(gcells, "n_firms", graph=graph, statistic="gi*", alpha=alpha, fdr=True,
                                      permutations=permutations, seed=s)
                    hot_g, clusters = hc.hotspots, hc.clusters
                    hot = hot_g["gi_bin"].to_numpy() >= 2
                    row["hot_share"] = float(counts[hot].sum() / counts.sum()) if counts.sum() else np.nan
                    row["n_hot_cells"] = int(hot.sum())
                    row["n_clusters"] = int(len(clusters))
                except GeoError as exc:
                    notes.append(f"Gi*: {exc}")
            # Kd
            row.update(kd_localised=None, kd_from_m=np.nan, kd_to_m=np.nan, kd_intervals="", kd_verdict="not computed")
            if kd_simulations > 0 and mask.sum() >= 10:
                from geo.stats.pointpattern import RUN_MAX_SECTOR, kd

                try:
                    row.update(_kd_summary(kd(fm, sector=mask, simulations=kd_simulations, seed=s,
                                              max_sector=RUN_MAX_SECTOR)))
                except GeoError as exc:
                    row["kd_verdict"] = f"not computed: {exc}"
            elif kd_simulations <= 0:
                row["kd_verdict"] = "not computed: kd_simulations = 0"
            else:
                row["kd_verdict"] = f"not computed: {int(mask.sum())} firms (at least 10 needed)"
            # parks
            K = int(mask.sum())
            k_in = int((mask & in_parks).sum())
            if pv_m is None:
                row.update(in_park_share=np.nan, park_lq=np.nan, p_labelling=np.nan)
                notes.append("no parks in the valley")
            else:
                row["in_park_share"] = k_in / K if K else np.nan
                row["park_lq"] = (k_in / K) / (n_in_all / N) if K and n_in_all else np.nan
                row["p_labelling"] = labelling_test(n_in_all, k_in, N, K) if K else np.nan
            row.update(precedence="", cluster_before=None, precedence_park=None, precedence_year=None, precedence_cluster_firms=0)
            if pv_m is None:
                row["precedence"] = "no parks"
            elif clusters is None or len(clusters) == 0:
                row["precedence"] = "no cluster"
            else:
                pgeoms = [_valid(pg) for pg in pv_m.geometry.values]
                overlap = np.array([[shapely.intersection(cg, pg).area for pg in pgeoms] for cg in clusters.geometry.values])
                if overlap.max() <= 0:
                    row["precedence"] = "clusters outside every park"
                else:
                    ci, j = np.unravel_index(int(np.argmax(overlap)), overlap.shape)
                    row["precedence_cluster_firms"] = int(clusters["n_firms"].iloc[ci])
                    park = pv_m.iloc[j]
                    row["precedence_park"] = str(park.get("name", pv_m.index[j]))
                    yr = park.get("designated")
                    if _isnan(yr) or pd.isna(yr):
                        row["precedence"] = "no designation year"
                    elif not has_founded:
                        row["precedence"] = "no founding years"
                    else:
                        row["precedence_year"] = int(yr)
                        pr = precedence_test(_valid(park.geometry), hot_g, fm.assign(**{"_group": gv}), year=int(yr),
                                             graph=graph, sector=str(g), sector_column="_group", founded_column=founded_column,
                                             permutations=permutations, seed=s, alpha=alpha, min_cluster_firms=min_cluster_firms)
                        cb = pr.get("cluster_before")
                        row["cluster_before"] = cb
                        row["precedence"] = ("preceded designation" if cb else "formed after designation") if cb is not None \
                            else str(pr.get("skipped", "not tested"))
            # age
            row["designated_ref"] = design_ref
            if founded is not None and K:
                fg = founded[mask]
                fg = fg[np.isfinite(fg)]
                row["median_age"] = float(np.median(ref_year - fg)) if len(fg) and ref_year is not None else np.nan
                row["share_after_designation"] = (float(np.mean(fg >= design_ref))
                                                  if len(fg) and design_ref is not None else np.nan)
            else:
                row["median_age"] = np.nan
                row["share_after_designation"] = np.nan
                if founded is None:
                    notes.append(f"no `{founded_column}` column: age structure skipped")
            row["notes"] = "; ".join(dict.fromkeys(notes))
            rows.append(row)
    out = pd.DataFrame(rows)
    if len(out):
        out["p_labelling_fdr"] = fdr_bh(out["p_labelling"].to_numpy(float))
    out.attrs["rules"] = {
        "hot_share": "share of the group's firms in cells with Gi* bin >= +2 (hot at 95 % after BH-FDR)",
        "kd": "localised where the group's Kd exceeds the global upper band of random location among the valley's firm sites",
        "in_park": "a firm is in a park when its point lies in (or on the boundary of) any park of its valley",
        "precedence": (f"the group's cluster and the park that overlap most by area: the park's location was a significant "
                       f"Gi* cluster of at least {min_cluster_firms} group firms founded before the park's designation year"),
        "age": "median age to the reference year; share founded in or after the valley's earliest designation year",
    }
    out.attrs["nulls"] = {
        "moran": "no spatial autocorrelation of the group's cell counts (conditional permutation, two-sided)",
        "labelling": "the group's firms are a random subset of the valley's firms (hypergeometric, one-sided: over-represented)",
        "precedence": NULLS["precedence"],
    }
    out.attrs["parameters"] = {"permutations": permutations, "kd_simulations": kd_simulations, "alpha": alpha, "cell": cell,
                               "size": size, "weights": weights, "seed": seed_record(seed),
                               "reference_year": ref_year, "groups": wanted}
    return out


# ============================================================================ difference test
def _in_valley_parks(firms, parks, valley_column: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(valley label, in any park of its valley) per firm, computed in each valley's metric CRS."""
    import shapely

    from geo import crs as gcrs

    labels = np.full(len(firms), "all", dtype=object) if valley_column is None else firms[valley_column].astype(str).to_numpy()
    inside = np.zeros(len(firms), dtype=bool)
    if parks is None or len(parks) == 0:
        return labels, inside
    for v in pd.unique(labels):
        sel = labels == v
        fm = gcrs.to_metric(firms.loc[sel])
        pv = _valley_parks(parks, v if valley_column is not None else None)
        if pv is None or len(pv) == 0:
            continue
        pm = _to(pv, fm.crs, "parks")
        union = shapely.union_all([_valid(g) for g in pm.geometry.values])
        x, y = point_xy(fm)
        inside[sel] = _inside(union, x, y)
    return labels, inside


def group_difference_test(firms, parks, *, group_a: str = "high-tech", group_b: str = "traditional",
                          permutations: int = 999, seed: int | np.random.Generator | None = 0,
                          group_column: str = "group", valley_column: str | None = "valley",
                          alternative: str = "two-sided") -> dict:
    """Permutation test: is the in-park share of group A different from group B's?

    For each valley, with :math:`n_A, n_B` firms of the two groups and :math:`x_A, x_B`
    of them inside a park of the valley, the statistic is the difference of in-park shares

    .. math:: d = \\frac{x_A}{n_A} - \\frac{x_B}{n_B}.

    Pooled over valleys it is the Mantel–Haenszel weighted difference

    .. math:: D = \\frac{\\sum_v w_v d_v}{\\sum_v w_v}, \\qquad w_v = \\frac{n_{A,v}\\, n_{B,v}}{n_{A,v} + n_{B,v}},

    which compares the groups within each valley (a valley with more parks and more
    high-tech firms cannot make the difference alone).

    Null hypothesis: the group labels are exchangeable among the firms of the two groups
    of a valley — being inside a park does not depend on the group.  Labels are shuffled
    among the two groups' firms within each valley (stratified), ``permutations`` times.
    After a shuffle only the number of group-A firms inside parks matters, and it follows
    the hypergeometric distribution :math:`\\mathrm{Hypergeom}(n_A + n_B, x_A + x_B, n_A)`;
    each permutation draws that number directly (``numpy.random.Generator.hypergeometric``),
    which is the same test as shuffling the labels, at a fraction of the cost.

    The p-value is **two-sided** by default (``alternative``: "two-sided", "greater" = A
    more often in parks, "less"): with :math:`P_\\ge = (\\#\\{d' \\ge d\\} + 1)/(R + 1)` and
    :math:`P_\\le` likewise, :math:`p = \\min\\{1, 2\\min(P_\\ge, P_\\le)\\}` (ties within
    :math:`10^{-12}` count on both sides).  The exact two-sided p-value of each valley
    (doubled smaller hypergeometric tail) is reported alongside as ``p_exact``.

    Parameters
    ----------
    firms : geopandas.GeoDataFrame or geo.points.PointFrame
        Firms with ``group_column`` and ``valley_column`` (any CRS).
    parks : geopandas.GeoDataFrame
        Parks (``valley`` column used to match valleys when present).
    group_a, group_b : str, default "high-tech", "traditional"
    permutations : int, default 999
    seed : int, numpy.random.Generator or None, default 0
    group_column : str, default "group"
    valley_column : str or None, default "valley"
    alternative : {"two-sided", "greater", "less"}, default "two-sided"

    Returns
    -------
    dict
        ``group_a``, ``group_b``, ``permutations``, ``seed``, ``alternative``, ``null``,
        ``statistic`` (its definition), ``per_valley`` ({valley: ``n_a``, ``n_b``,
        ``in_park_a``, ``in_park_b``, ``share_a``, ``share_b``, ``difference``, ``p_perm``,
        ``p_exact``, or ``skipped`` with the reason}) and ``pooled`` (``n_a``, ``n_b``,
        ``share_a``, ``share_b`` (raw pooled shares), ``difference`` (Mantel–Haenszel),
        ``p_perm``, ``valleys``).

    Examples
    --------
    >>> res = group_difference_test(firms, parks, permutations=999)  # doctest: +SKIP
    >>> res["pooled"]["difference"], res["pooled"]["p_perm"]  # doctest: +SKIP
    """
    from geo.stats._inference import check_alternative, hypergeom_p, simulated_p

    check_alternative(alternative)
    if not isinstance(permutations, (int, np.integer)) or isinstance(permutations, bool) or permutations < 1:
        msg = f"`permutations` must be a positive int; {permutations!r} was given."
        raise InputError(msg)
    if group_column not in firms.columns:
        msg = f"group_difference_test needs a `{group_column}` column; add it with assign_groups()."
        raise ColumnError(msg)
    if valley_column is not None and valley_column not in firms.columns:
        msg = f"group_difference_test: no `{valley_column}` column; pass valley_column=None for one study area."
        raise ColumnError(msg)
    if group_a == group_b:
        msg = f"`group_a` and `group_b` must differ; both are {group_a!r}."
        raise InputError(msg)
    rng = check_seed(seed)
    grp = firms[group_column].astype(str).to_numpy()
    keep = (grp == str(group_a)) | (grp == str(group_b))
    labels, inside = _in_valley_parks(firms, parks, valley_column)
    per: dict[str, dict] = {}
    strata = []
    tol = 1e-12
    order = [str(v) for v in pd.unique(labels)]
    for v in order:
        sel = keep & (labels == v)
        is_a = grp[sel] == str(group_a)
        ins = inside[sel]
        na, nb = int(is_a.sum()), int((~is_a).sum())
        xa, xb = int((is_a & ins).sum()), int((~is_a & ins).sum())
        entry: dict[str, Any] = {"n_a": na, "n_b": nb, "in_park_a": xa, "in_park_b": xb}
        if na == 0 or nb == 0:
            missing = group_a if na == 0 else group_b
            entry["skipped"] = f"no {missing!r} firms in this valley"
            per[v] = entry
            continue
        m = xa + xb
        d = xa / na - xb / nb
        draws = rng.hypergeometric(m, na + nb - m, na, size=permutations) if m > 0 else np.zeros(permutations, dtype=np.int64)
        d_sim = draws / na - (m - draws) / nb
        entry.update(share_a=xa / na, share_b=xb / nb, difference=d,
                     p_perm=simulated_p(d, d_sim, alternative=alternative, tol=tol),
                     p_exact=hypergeom_p(xa, na + nb, m, na, alternative=alternative))
        per[v] = entry
        w = na * nb / (na + nb)
        strata.append((w, d, d_sim))
    pooled: dict[str, Any] = {"valleys": [v for v in order if "skipped" not in per[v]]}
    if strata:
        wsum = sum(w for w, _, _ in strata)
        D = sum(w * d for w, d, _ in strata) / wsum
        D_sim = sum(w * ds for w, _, ds in strata) / wsum
        na = sum(per[v]["n_a"] for v in pooled["valleys"])
        nb = sum(per[v]["n_b"] for v in pooled["valleys"])
        xa = sum(per[v]["in_park_a"] for v in pooled["valleys"])
        xb = sum(per[v]["in_park_b"] for v in pooled["valleys"])
        pooled.update(n_a=na, n_b=nb, share_a=xa / na, share_b=xb / nb, difference=float(D),
                      p_perm=simulated_p(D, D_sim, alternative=alternative, tol=tol))
    else:
        pooled["skipped"] = f"no valley has firms of both {group_a!r} and {group_b!r}"
    return {
        "group_a": str(group_a),
        "group_b": str(group_b),
        "permutations": int(permutations),
        "seed": seed_record(seed),
        "alternative": alternative,
        "statistic": ("difference of in-park shares, share(A) - share(B); pooled: Mantel-Haenszel weighted "
                      "mean of the valleys' differences, weights nA*nB/(nA+nB)"),
        "null": ("group labels exchangeable among the two groups' firms within each valley (being in a park does "
                 "not depend on the group); labels shuffled within valleys"),
        "per_valley": per,
        "pooled": pooled,
    }


def groups_answer(table: pd.DataFrame, diff: dict, *, alpha: float = 0.05) -> str:
    """The plain-words answer to "do high-tech clusters coincide with parks more than traditional ones?".

    Built only from the numbers of :func:`compare_groups` (``table``) and
    :func:`group_difference_test` (``diff``): the pooled and per-valley in-park shares
    and the permutation test of their difference, the groups' over-representation in
    parks (hypergeometric, FDR), their hot-cell shares, and whether their clusters
    preceded designation.  The first sentence says "Yes" only when the pooled difference
    is positive and significant at ``alpha``, "No — the opposite" when it is negative and
    significant, and otherwise that the data do not show a difference.

    Returns
    -------
    str
        A few sentences, separated by newlines.
    """
    a, b = diff["group_a"], diff["group_b"]
    pooled = diff.get("pooled", {})
    lines = []
    if "skipped" in pooled or "difference" not in pooled:
        return (f"Do {a} clusters coincide with parks more than {b} ones? Not tested: "
                f"{pooled.get('skipped', 'no valley has firms of both groups')}.")
    d, p = pooled["difference"], pooled["p_perm"]
    nv = len(pooled["valleys"])
    where = f"in {nv} valley{'s' if nv != 1 else ''}"
    if p < alpha and d > 0:
        head = f"Yes: {a} firms lie inside parks more often than {b} firms"
    elif p < alpha and d < 0:
        head = f"No — the opposite: {b} firms lie inside parks more often than {a} firms"
    else:
        head = f"Not shown: the in-park shares of {a} and {b} firms do not differ significantly"
    lines.append(
        f"{head} ({where}: {format_pct(pooled['share_a'])} of {pooled['n_a']:,} {a} firms vs {format_pct(pooled['share_b'])} of "
        f"{pooled['n_b']:,} {b} firms inside a park; within-valley difference {100 * d:+.1f} percentage points, "
        f"stratified permutation {p_phrase(p)}, {diff['alternative']}, {diff['permutations']} permutations)."
    )
    parts = []
    for v, e in diff["per_valley"].items():
        if "skipped" in e:
            parts.append(f"{v}: not tested ({e['skipped']})")
        else:
            parts.append(f"{v} {format_pct(e['share_a'])} vs {format_pct(e['share_b'])} ({p_phrase(e['p_perm'])})")
    lines.append("By valley, in-park share of " + a + " vs " + b + ": " + "; ".join(parts) + ".")
    if table is not None and len(table):
        over = []
        for g in (a, b):
            t = table[table["group"] == g]
            pcol = "p_labelling_fdr" if "p_labelling_fdr" in t else "p_labelling"
            sig = [str(r["valley"]) for _, r in t.iterrows() if not _isnan(r.get(pcol)) and r[pcol] < alpha]
            over.append(f"{g} in {', '.join(sig)}" if sig else f"{g} in no valley")
        lines.append(f"Over-represented inside parks (hypergeometric, FDR < {alpha:g}): " + "; ".join(over) + ".")
        hs = []
        for g in (a, b):
            t = table[(table["group"] == g) & table["hot_share"].notna()]
            if len(t):
                hs.append(f"{g} " + ", ".join(f"{r['valley']} {format_pct(r['hot_share'])}" for _, r in t.iterrows()))
        if hs:
            lines.append("Share of firms in Gi* hot cells: " + "; ".join(hs) + ".")
        prec = []
        for g in (a, b):
            t = table[table["group"] == g]
            items = []
            for _, r in t.iterrows():
                if not r.get("precedence"):
                    continue
                yr = r.get("precedence_year")
                tested = not _isnan(yr) and not pd.isna(yr)
                items.append(f"{r['valley']}: {r['precedence']}" + (f" ({r['precedence_park']}, {int(yr)})" if tested else ""))
            if items:
                prec.append(f"{g} — " + "; ".join(items))
        if prec:
            lines.append("Cluster on a park vs its designation: " + " | ".join(prec) + ".")
    return "\n".join(lines)
