"""The side-by-side comparison of valleys: development stage, technology, composition.

One row per valley, three groups of columns matching the three comparisons of the study:

* ``stage_*`` — development stage: firm stock, entry rate, median age, share founded after
  the park was designated, growth phase, the year the target sector first became
  significantly localised (Duranton–Overman Kd);
* ``tech_*`` — technological conditions: R&D share, optional technology columns (patents
  ...), share of firms in high-technology sub-sectors;
* ``comp_*`` — industrial composition: the target sector's sub-sector shares, location
  quotients, entropy / HHI of the sector mix, the leading sub-sectors;

and a ``focus`` line: the sub-sectors where the valley has a comparative advantage
(LQ > 1 against the union of valleys *and* significantly localised by Kd).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from geo.errors import ColumnError, GeoError, InputError

__all__ = ["ValleyComparison", "compare_valleys", "growth_phase", "PHASE_RULE"]

log = logging.getLogger(__name__)

PHASE_RULE = (
    "From the target sector's entries per year: 'emerging' when the median firm is younger than "
    "8 years (most of the stock is recent); otherwise 'mature' when the entry rate of the last 5 "
    "years has fallen below half of the highest 5-year entry rate (the cumulative-entry curve is "
    "flattening: the top of the S), else 'growing'."
)


@dataclass(frozen=True)
class ValleyComparison:
    """The valleys side by side (:func:`compare_valleys`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per valley (index = valley name): the ``stage_*``, ``tech_*`` and ``comp_*``
        columns, ``focus`` and ``kd_target`` (labelled in :mod:`geo.outputs._labels`).
    krugman : pandas.DataFrame
        Valley × valley Krugman dissimilarity of the target sector's sub-sector mix (0 =
        the same mix, 2 = no sub-sector in common); all NaN with one valley (see ``notes``).
    lq : pandas.DataFrame
        Tidy location quotients: the sectors among all firms (``level`` "sector") and the
        target sector's sub-sectors within it (``level`` "<target> sub-sector").
    stock_by_year : pandas.DataFrame
        Columns ``valley``, ``year``, ``stock``: the cumulative number of target-sector
        firms founded by each year.
    kd : dict
        ``{valley: {sub-sector: Kd verdict or the reason it was not tested}}``; the whole
        target sector under its own name, or ``"<target> (whole sector)"`` when a sub-sector
        has the sector's name.
    notes : dict
        Item -> why it was skipped (a missing column, one valley only, no Kd ...).
    rules : dict
        Measure -> its rule in words (growth phase, focus, first localised year).
    target_sector : str
        The sector compared.
    """

    table: pd.DataFrame
    krugman: pd.DataFrame
    lq: pd.DataFrame
    stock_by_year: pd.DataFrame
    kd: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)
    rules: dict = field(default_factory=dict)
    target_sector: str | None = None


def growth_phase(founded: Any, *, reference_year: int | None = None) -> dict:
    """Growth phase from founding years (see :data:`PHASE_RULE`).

    Returns a dict with ``phase``, ``median_age``, ``recent_rate`` (entries per year over
    the last 5 years), ``peak_rate`` (highest 5-year mean) and ``peak_window``.
    """
    f = pd.to_numeric(pd.Series(founded), errors="coerce").dropna().astype(int)
    if len(f) == 0:
        return {"phase": "undetermined", "reason": "no founding years", "median_age": np.nan,
                "recent_rate": np.nan, "peak_rate": np.nan, "peak_window": None}
    ref = int(f.max()) if reference_year is None else int(reference_year)
    years = np.arange(int(f.min()), ref + 1)
    counts = f.value_counts().reindex(years, fill_value=0).to_numpy(float)
    window = min(5, len(years))
    rolling = np.convolve(counts, np.ones(window) / window, mode="valid")
    peak_i = int(np.argmax(rolling))
    recent = float(rolling[-1])
    peak = float(rolling[peak_i])
    median_age = float(np.median(ref - f.to_numpy()))
    if median_age < 8:
        phase = "emerging"
    elif peak > 0 and recent < 0.5 * peak:
        phase = "mature"
    else:
        phase = "growing"
    return {"phase": phase, "median_age": median_age, "recent_rate": recent, "peak_rate": peak,
            "peak_window": [int(years[peak_i]), int(years[peak_i + window - 1])]}


#: the firm-count column of the aggregated tables given to the economics measures
_N = "__firms__"


def _firm_counts(table: pd.DataFrame, region_column: str, sector_column: str) -> pd.DataFrame:
    """One row per (region, sector) present with its number of firms (float) in ``_N``.

    ``location_quotient`` / ``sector_mix`` with ``weights=_N`` on it sum exactly what they
    count over the firm rows (rows with a missing region or sector are left out either way),
    at the cost of one group-by instead of one per measure.
    """
    return (table.groupby([region_column, sector_column], observed=True, sort=False).size()
            .rename(_N).astype(float).reset_index())


def _kd_localised(result) -> bool:
    return bool(result is not None and getattr(result, "localised", None))


def _first_localised_year(points, target_mask, founded, *, years, simulations, seed) -> tuple[int | None, dict]:
    """The first year in ``years`` at which the target sector was localised (Kd, sites then)."""
    from geo.stats.pointpattern import RUN_MAX_SECTOR, kd

    trace = {}
    for y in years:
        alive = founded <= y
        tm = target_mask & alive
        if tm.sum() < 10 or alive.sum() < 20:
            trace[int(y)] = "fewer than 10 target firms"
            continue
        try:
            res = kd(points.loc[alive], sector=tm[alive], simulations=simulations, seed=seed,
                     max_sector=RUN_MAX_SECTOR)
        except GeoError as exc:
            trace[int(y)] = str(exc)
            continue
        trace[int(y)] = res.verdict
        if _kd_localised(res):
            return int(y), trace
    return None, trace


def compare_valleys(
    firms,
    parks=None,
    *,
    valley_column: str = "valley",
    sector_column: str = "sector",
    subsector_column: str = "subsector",
    target_sector: str | None = None,
    founded_column: str = "founded",
    rd_column: str = "rd",
    tech_columns: tuple[str, ...] = ("patents",),
    high_tech_subsectors: tuple[str, ...] | None = None,
    simulations: int = 199,
    seed=0,
    kd_results: dict | None = None,
    kd_years: Any = "auto",
    reference_year: int | None = None,
    kd_target: dict | None = None,
    metric_firms: dict | None = None,
) -> ValleyComparison:
    """Compare valleys side by side: development stage, technology, composition, focus.

    Parameters
    ----------
    firms : geopandas.GeoDataFrame or geo.points.PointFrame
        Firms of all valleys (any CRS; each valley is projected to its own UTM zone for Kd).
    parks : geopandas.GeoDataFrame, optional
        Parks with ``valley`` and ``designated``: the earliest designation year of a valley
        is the reference for ``stage_share_after_designation``.
    target_sector : str, optional
        The sector compared (e.g. "optics"); its sub-sectors (``subsector_column``) make the
        composition columns.  Default: the most frequent sector.
    tech_columns : tuple of str
        Optional technology attributes (e.g. patents); a column absent from the table is
        skipped with the reason in ``notes``.
    high_tech_subsectors : tuple of str, optional
        Sub-sectors counted as high technology (default: every sub-sector of the target
        sector).
    simulations : int, default 199
        Kd simulations per sub-sector (0 skips Kd: ``focus`` then uses LQ alone, stated).
    kd_results : dict, optional
        Precomputed ``{valley: {subsector: KdResult}}``.
    kd_target : dict, optional
        Precomputed ``{valley: KdResult}`` of the whole target sector (e.g. the pipeline's
        per-valley Kd, same seed and simulations), used instead of computing it again; the
        sub-sectors are still computed.
    metric_firms : dict, optional
        ``{valley: GeoDataFrame}``: the valley's firms already projected to its metric CRS
        (the rows of ``firms`` of that valley, in order), used instead of projecting again.
    kd_years : "auto", list of int or None
        Years at which to test whether the target sector was already localised ("auto":
        every 5 years); None skips it.

    Returns
    -------
    ValleyComparison
        ``table``: one row per valley (index = valley name); ``krugman`` (pairwise
        Krugman dissimilarity of the target sector's sub-sector mix, a DataFrame),
        ``lq`` (tidy LQ table), ``stock_by_year`` (valley × year cumulative stock of the
        target sector), ``kd`` ({valley: {subsector: verdict}}), ``notes`` (skipped items
        with reasons), ``rules`` and ``target_sector``.

    Notes
    -----
    Tiny inputs never crash: a valley with fewer than 10 firms of a sub-sector gets the
    reason in place of a Kd verdict; a single valley gets no Krugman matrix (stated).

    ``kd`` holds the whole target sector under its own name, or under
    ``"<target> (whole sector)"`` when one of its sub-sectors has the sector's name (each is
    then tested on its own firms).  Kd subsamples sectors above ``max_sector`` firms (the run's
    fixed budget ``RUN_MAX_SECTOR``, 2,000; see :func:`geo.stats.pointpattern.kd`), so each test costs about half a second of CPU
    at any size; the groups of a valley share one reading and sorting of its sites.
    """
    from geo import crs as gcrs
    from geo.stats.economics import (
        hhi,
        krugman_dissimilarity,
        location_quotient,
        sector_mix,
        shannon_entropy,
    )

    for col in (valley_column, sector_column):
        if col not in firms.columns:
            msg = f"compare_valleys needs a `{col}` column; the firm table has {list(firms.columns)}."
            raise ColumnError(msg)
    if len(firms) == 0:
        msg = "compare_valleys got an empty firm table."
        raise InputError(msg)
    # only the attribute columns compared (not a copy of every column of a large table)
    wanted = [valley_column, sector_column, subsector_column, founded_column, rd_column, *tech_columns]
    from geo.points import PointFrame

    geometry = None if isinstance(firms, PointFrame) else firms.geometry.name
    keep = [c for c in dict.fromkeys(wanted) if c in firms.columns and c != geometry]
    table = pd.DataFrame(firms[keep])
    table[valley_column] = table[valley_column].astype(str)
    if target_sector is None:
        target_sector = str(table[sector_column].mode().iloc[0])
    has_sub = subsector_column in table.columns
    notes: dict[str, str] = {}
    if not has_sub:
        notes["subsectors"] = f"no `{subsector_column}` column: composition uses sectors"
        subsector_column = sector_column
    is_target = table[sector_column].astype(str) == str(target_sector)
    tgt = table.loc[is_target]
    valleys = [str(v) for v in pd.unique(table[valley_column])]  # order of appearance
    subs = sorted(tgt[subsector_column].astype(str).unique()) if len(tgt) else []
    high = set(high_tech_subsectors) if high_tech_subsectors is not None else set(subs)
    founded = pd.to_numeric(table[founded_column], errors="coerce") if founded_column in table else None
    if founded is None:
        notes["founded"] = f"no `{founded_column}` column: development-stage columns skipped"
    ref_year = reference_year if reference_year is not None else (int(founded.max()) if founded is not None and founded.notna().any() else None)

    # location quotients: the target sector among all sectors, sub-sectors within the target
    # (from the firm counts per valley and sector: the same sums as over the firm rows)
    by_sector = _firm_counts(table, valley_column, sector_column)
    lq_sector = location_quotient(by_sector, region_column=valley_column, sector_column=sector_column, weights=_N)
    lq_sub = location_quotient(_firm_counts(tgt, valley_column, subsector_column), region_column=valley_column,
                               sector_column=subsector_column, weights=_N) if len(tgt) else pd.DataFrame()
    mix = sector_mix(by_sector, region_column=valley_column, sector_column=sector_column,
                     weights=_N).set_index("region") if len(valleys) else None

    # Kd per valley and sub-sector (random location among the valley's firm sites)
    kd_verdicts: dict[str, dict[str, str]] = {}
    kd_local: dict[str, dict[str, bool]] = {}
    first_year: dict[str, Any] = {}
    # the whole target sector's entry; renamed when a sub-sector has the sector's own name
    target_key = str(target_sector)
    if has_sub and target_key in subs:
        target_key = f"{target_sector} (whole sector)"
    rng_seeds = np.random.SeedSequence(seed if isinstance(seed, int) else 0).generate_state(max(len(valleys), 1))
    valley_of = firms[valley_column].astype(str)
    for v, vseed in zip(valleys, rng_seeds):
        kd_verdicts[v], kd_local[v] = {}, {}
        if kd_results is not None and v in kd_results:
            for s, res in kd_results[v].items():
                kd_verdicts[v][s] = res.verdict if hasattr(res, "verdict") else str(res)
                kd_local[v][s] = _kd_localised(res)
            continue
        if simulations <= 0:
            notes["kd"] = "simulations = 0: Kd not computed; focus uses LQ alone"
            continue
        from geo.stats.pointpattern import RUN_MAX_SECTOR, kd_sectors

        in_v = (valley_of == v).to_numpy()
        if metric_firms is not None and v in metric_firms and len(metric_firms[v]) == int(in_v.sum()):
            fm = metric_firms[v]
        else:
            fm = gcrs.to_metric(firms.loc[in_v])
        target_mask = (fm[sector_column].astype(str) == str(target_sector)).to_numpy()
        groups = {target_key: target_mask}
        if has_sub:
            sub_v = fm[subsector_column].astype(str)
            for s in subs:
                groups[s] = target_mask & (sub_v == s).to_numpy()
        # one Kd per group, as kd(fm, sector=mask, ...) gives it, the sites sorted once
        todo = {s: mask for s, mask in groups.items()
                if mask.sum() >= 10 and not (s == target_key and kd_target and v in kd_target)}
        try:
            done = (kd_sectors(fm, todo, simulations=simulations, seed=int(vseed), max_sector=RUN_MAX_SECTOR)
                    if todo else {})
        except GeoError as exc:
            done = dict.fromkeys(todo, exc)
        for s, mask in groups.items():
            res = kd_target[v] if s not in todo and mask.sum() >= 10 else done.get(s)
            if res is None:
                kd_verdicts[v][s] = f"not tested: {int(mask.sum())} firms (at least 10 needed)"
                kd_local[v][s] = False
            elif isinstance(res, GeoError):
                kd_verdicts[v][s] = f"not tested: {res}"
                kd_local[v][s] = False
            else:
                kd_verdicts[v][s] = res.verdict
                kd_local[v][s] = _kd_localised(res)
        if kd_years is not None and founded is not None:
            f_v = pd.to_numeric(fm[founded_column], errors="coerce").to_numpy(float) if founded_column in fm else None
            if f_v is not None:
                if kd_years == "auto":
                    lo = int(np.nanmin(f_v)) if np.isfinite(f_v).any() else ref_year
                    years = list(range(lo + (5 - lo % 5) % 5, ref_year + 1, 5)) if ref_year else []
                else:
                    years = [int(y) for y in kd_years]
                first_year[v], _ = _first_localised_year(fm, target_mask, np.nan_to_num(f_v, nan=np.inf),
                                                         years=years, simulations=max(simulations // 2, 19), seed=int(vseed))

    rows = []
    stock_rows = []
    for v in valleys:
        tv = table[table[valley_column] == v]
        tt = tgt[tgt[valley_column] == v]
        row: dict[str, Any] = {"valley": v, "n_firms": len(tv), "n_target": len(tt)}
        # development stage
        if founded is not None:
            fv = pd.to_numeric(tt[founded_column], errors="coerce").dropna()
            gp = growth_phase(fv, reference_year=ref_year)
            row["stage_median_age"] = gp["median_age"]
            row["stage_entry_rate_5y"] = gp["recent_rate"]
            row["stage_peak_entry_rate_5y"] = gp["peak_rate"]
            row["stage_phase"] = gp["phase"]
            row["stage_entry_share_5y"] = float((fv > ref_year - 5).mean()) if len(fv) else np.nan
            design = None
            if parks is not None and len(parks) and "valley" in parks:
                yrs = pd.to_numeric(parks.loc[parks["valley"].astype(str) == v, "designated"], errors="coerce").dropna()
                design = int(yrs.min()) if len(yrs) else None
            row["stage_designated"] = design
            row["stage_share_after_designation"] = float((fv >= design).mean()) if design is not None and len(fv) else np.nan
            if v in first_year:  # Kd run by year (not with simulations = 0: no year was checked)
                row["stage_first_localised_year"] = first_year[v]
            for y, c in fv.astype(int).value_counts().sort_index().cumsum().items():
                stock_rows.append({"valley": v, "year": int(y), "stock": int(c)})
        # technology
        if rd_column in table.columns:
            rd = pd.to_numeric(tv[rd_column], errors="coerce")
            row["tech_rd_share"] = float(rd.mean())
            row["tech_rd_share_target"] = float(pd.to_numeric(tt[rd_column], errors="coerce").mean()) if len(tt) else np.nan
        else:
            notes["rd"] = f"no `{rd_column}` column: R&D share skipped"
        for col in tech_columns:
            if col in table.columns:
                row[f"tech_{col}_per_firm"] = float(pd.to_numeric(tv[col], errors="coerce").mean())
            else:
                notes[f"tech_{col}"] = f"no `{col}` column in the firm table: skipped"
        row["tech_high_tech_share"] = float(tt[subsector_column].astype(str).isin(high).sum() / len(tv)) if len(tv) else np.nan
        # composition
        if len(tt):
            shares = tt[subsector_column].astype(str).value_counts(normalize=True)
            for s in subs:
                row[f"comp_share_{s}"] = float(shares.get(s, 0.0))
            counts = tt[subsector_column].astype(str).value_counts().reindex(subs, fill_value=0).to_numpy()
            row["comp_subsector_entropy"] = shannon_entropy(counts, normalised=True) if counts.sum() and len(counts) > 1 else np.nan
            row["comp_subsector_hhi"] = hhi(counts) if counts.sum() else np.nan
            row["comp_leading"] = ", ".join(shares.index[:2])
        lqs = lq_sector[(lq_sector["region"] == v) & (lq_sector["sector"].astype(str) == str(target_sector))]["LQ"]
        row["comp_lq_target"] = float(lqs.iloc[0]) if len(lqs) else np.nan
        if len(lq_sub):
            for s in subs:
                q = lq_sub[(lq_sub["region"] == v) & (lq_sub["sector"].astype(str) == s)]["LQ"]
                row[f"comp_lq_{s}"] = float(q.iloc[0]) if len(q) else np.nan
        if mix is not None and v in mix.index:
            row["comp_sector_entropy"] = float(mix.loc[v, "entropy_norm"])
            row["comp_sector_hhi"] = float(mix.loc[v, "hhi"])
        # focus: comparative advantage and localised
        loc = kd_local.get(v, {})
        focus = [s for s in subs if row.get(f"comp_lq_{s}", 0) > 1 and (loc.get(s, False) or not loc)]
        row["focus"] = ", ".join(focus) if focus else "none"
        row["kd_target"] = kd_verdicts.get(v, {}).get(target_key, "not computed")
        rows.append(row)
    out = pd.DataFrame(rows).set_index("valley")

    kr = pd.DataFrame(index=valleys, columns=valleys, dtype=float)
    if len(valleys) > 1 and len(tgt):
        mixes = {v: tgt[tgt[valley_column] == v][subsector_column].astype(str).value_counts(normalize=True).reindex(subs, fill_value=0.0).to_numpy() for v in valleys}
        for a in valleys:
            for b in valleys:
                kr.loc[a, b] = krugman_dissimilarity(mixes[a], mixes[b]) if mixes[a].sum() and mixes[b].sum() else np.nan
    else:
        notes["krugman"] = "one valley only: no pairwise Krugman dissimilarity"
    lq = (pd.concat([lq_sector.assign(level="sector"), lq_sub.assign(level=f"{target_sector} sub-sector")], ignore_index=True)
          if len(lq_sub) else lq_sector.assign(level="sector"))
    rules = {
        "growth_phase": PHASE_RULE,
        "focus": "sub-sectors with LQ > 1 against the union of valleys and localised by Kd (global band, 5 %)",
        "first_localised_year": "first year (every 5 years) at which Kd of the target firms founded by then, against the firm sites existing by then, exceeds the global upper band",
    }
    return ValleyComparison(table=out, krugman=kr, lq=lq, stock_by_year=pd.DataFrame(stock_rows, columns=["valley", "year", "stock"]),
                            kd=kd_verdicts, notes=notes, rules=rules, target_sector=target_sector)
