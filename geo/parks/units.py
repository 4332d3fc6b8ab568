r"""Parks over given units: the park overlay when firms are known only as counts per unit.

Analysts often hold firm counts on given units (districts with yearbook counts, the cells of
a 0.01° grid raster with a band per year) instead of firm points.  :func:`units_overlay` asks
of each park what :func:`geo.parks.overlay.park_overlay` asks with points, with the tests
that aggregated data allow:

* **overlap** — the share of the park's area on hot units (significant Gi* hot spots after
  FDR), and the share of each unit's area inside the park;
* **value inside vs outside** — the count (or rate) in the park and in the rest of the study
  area, the density in the park against the study area's;
* **a unit-permutation test** — the park's density and hot share against the values of the
  units permuted over the units (exact enumeration when the arrangements are few);
* **precedence** — from yearly counts, the first year the park was significantly denser
  than the study area (the same test on that year's counts, FDR over the years), against
  the designation year.

Areal interpolation
-------------------
Every number assumes that the value of a unit is spread uniformly over its area (areal
weighting, the areal-interpolation assumption of Goodchild and Lam 1980): a unit crossing
the park's edge counts by the share of its area inside the park.  A unit with 100 firms and
30 % of its area in the park puts 30 firms in the park.  The units are assumed to be a
partition (no overlaps); the study area is their union.

References
----------
Goodchild, M. F. and Lam, N. S.-N. (1980). Areal interpolation: a variant of the traditional
spatial problem. *Geo-Processing* 1, 297–312.

Openshaw, S. (1984). *The modifiable areal unit problem*. CATMOG 38, Geo Books, Norwich.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from geo._format import MISSING, format_number, is_missing, p_phrase
from geo._random import check_seed, seed_record
from geo.errors import ColumnError, CRSError, InputError
from geo.parks.overlay import VERDICTS, _metric, _ring_buffer

__all__ = [
    "COLUMNS",
    "EXACT_MAX_ARRANGEMENTS",
    "NO_UNITS",
    "PRECEDENCE",
    "TESTS_NOTE",
    "VALUE_KINDS",
    "UnitsFinding",
    "units_answer",
    "units_overlay",
]

log = logging.getLogger(__name__)

#: the verdict of a park that lies on no unit
NO_UNITS = "no units under the park"

#: the precedence of the cluster on the park, from yearly counts
PRECEDENCE = {
    "before": "formed before designation",
    "after": "formed after designation",
    "undetermined": "undetermined",
}

#: ``"count"``: the value is a count spread over the unit's area; ``"rate"``: a rate or density (already per unit)
VALUE_KINDS = ("count", "rate")

#: the unit-permutation test enumerates every arrangement up to this many, else draws permutations
EXACT_MAX_ARRANGEMENTS = 100_000

#: which tests of the point overlay do not apply here, and why (the ``tests`` column)
TESTS_NOTE = (
    "Aggregated units allow the unit-permutation test only: the random-labelling test of target firms inside "
    "vs outside the park needs each firm's location, Ripley's K and Kd need the distances between firm points, "
    "and the random placement of the park would cut units whose firms cannot be placed; every share and density "
    "here depends on the units' boundaries (the modifiable areal unit problem) and assumes firms spread "
    "uniformly within each unit."
)

#: null hypotheses in plain words
NULLS = {
    "permutation": (
        "Unit permutation: the units' values (density or rate, and hot-spot flag together) are "
        "exchangeable over the units; the park is no denser, and no more on hot units, than with "
        "the observed values arranged at random over the units."
    ),
    "precedence": (
        "Yearly counts: the cluster formed before designation when the park (its units, area-weighted) "
        "was significantly denser than the study area in a year before the designation year "
        "(the unit-permutation test on that year's counts, Benjamini-Hochberg over the park's years)."
    ),
}

_KM2 = 1e6

#: random keys drawn at once for the permutations (units x permutations) at most; beyond, row by row
_KEYS_MAX = 2_000_000

#: the columns of :func:`units_overlay`, in order
COLUMNS = ["name", "designated", "area_km2", "n_units", "unit_shares", "covered_share", "share_hot", "value_inside",
           "value_outside", "density_inside", "density_outside", "density_study", "density_ratio", "density_ring",
           "density_ratio_ring", "ring_width_m", "hot_area_in_park", "p", "p_fdr", "p_hot",
           "p_hot_fdr", "p_method", "permutations_done", "first_hot_year", "years_from_designation", "precedence",
           "precedence_reason", "verdict", "verdict_reason", "notes", "tests"]


@dataclass(frozen=True)
class _Units:
    """The units in a canonical order (independent of the order given)."""

    geoms: np.ndarray
    labels: pd.Index
    area: np.ndarray  # km²
    value: np.ndarray  # the value as given
    x: np.ndarray  # intensive value: count per km², or the rate
    hot: np.ndarray  # bool
    years: tuple[int, ...]  # years with counts for every unit, sorted
    yearly: np.ndarray  # (units, years): counts per km², each year contiguous (Fortran order)
    study_yearly: np.ndarray  # (years,): the study area's density each year
    missing_years: tuple[int, ...]  # years given with a missing count
    hot_years: tuple[int, ...] = ()  # years with hot flags, sorted
    hot_yearly: np.ndarray | None = None  # (units, hot_years): 1.0 for a hot unit


# ----------------------------------------------------------------------------- input
def _which(labels: pd.Index, bad: np.ndarray, most: int = 5) -> str:
    names = ", ".join(repr(v) for v in labels[bad[:most]].tolist())
    return names + (f" and {len(bad) - most} more" if len(bad) > most else "")


def _numeric(units, column: str, what: str) -> np.ndarray:
    if column not in units.columns:
        cols = ", ".join(map(str, (c for c in units.columns if c != units.geometry.name)))
        msg = f"The units have no column {column!r} ({what}); their columns are: {cols}."
        raise ColumnError(msg)
    try:
        return pd.to_numeric(units[column], errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        msg = f"Column {column!r} ({what}) must be numeric; dtype {units[column].dtype} was given."
        raise InputError(msg) from None


def _hot_flags(hot: Any, units) -> np.ndarray:
    n = len(units)
    if isinstance(hot, pd.Series):
        if not hot.index.is_unique or not units.index.is_unique:
            msg = "`hot` and the units must have unique index labels to be aligned."
            raise InputError(msg)
        missing = ~units.index.isin(hot.index)
        if missing.any():
            msg = (f"`hot` must have a flag for every unit; {int(missing.sum())} of {n} units have none "
                   f"({_which(units.index, np.flatnonzero(missing))}).")
            raise InputError(msg)
        hot = hot.reindex(units.index)
    values = pd.Series(np.asarray(hot, dtype=object).ravel() if not isinstance(hot, pd.Series) else hot.to_numpy(object))
    if len(values) != n:
        msg = f"`hot` must have one flag per unit; {len(values)} flags for {n} units were given."
        raise InputError(msg)
    ok = values.map(lambda v: isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, np.integer, float, np.floating))
                                                                   and v in (0, 1)))
    if not ok.all():
        bad = np.flatnonzero(~ok.to_numpy(bool))
        msg = (f"`hot` must be True/False per unit (a significant Gi* hot spot after FDR); {len(bad)} units have "
               f"another value ({_which(units.index, bad)}: {values.iloc[bad[0]]!r}).")
        raise InputError(msg)
    return values.to_numpy(dtype=bool)


def _prepare(units, *, value: str, hot: Any, year_columns: Mapping | None, value_kind: str,
             hot_by_year: Mapping | None = None) -> _Units:
    """Validated units in a canonical order (sorted by their bounds, area and value)."""
    import shapely

    if value_kind not in VALUE_KINDS:
        msg = f"`value_kind` must be one of {', '.join(map(repr, VALUE_KINDS))}; {value_kind!r} was given."
        raise InputError(msg)
    if not hasattr(units, "geometry") or not hasattr(units, "crs"):
        msg = f"`units` must be a GeoDataFrame of polygons; {type(units).__name__} was given."
        raise InputError(msg)
    if units.crs is None:
        msg = "The units have no CRS; set it with units.set_crs(...)."
        raise CRSError(msg)
    if not units.crs.is_projected:
        msg = (f"The units must be in a projected metric CRS (areas in m²); {units.crs.name} was given. "
               "Project them with geo.to_metric(units) or units.to_crs(epsg).")
        raise CRSError(msg)
    if len(units) == 0:
        msg = "No units were given: the units layer is empty."
        raise InputError(msg)
    labels = units.index
    geoms = np.asarray(units.geometry.values, dtype=object)
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6)) & ~shapely.is_empty(geoms)
    if not polygonal.all():
        bad = np.flatnonzero(~polygonal)
        msg = (f"Units must be polygons; {len(bad)} of {len(units)} are empty or not polygons "
               f"({_which(labels, bad)}). Drop them or give their outlines.")
        raise InputError(msg)
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        geoms = geoms.copy()
        geoms[invalid] = shapely.make_valid(geoms[invalid])
    area = shapely.area(geoms) / _KM2
    bad = np.flatnonzero(~(area > 0))
    if len(bad):
        msg = f"Units must have an area; {len(bad)} of {len(units)} have none ({_which(labels, bad)})."
        raise InputError(msg)
    v = _numeric(units, value, "the value")
    bad = np.flatnonzero(~np.isfinite(v) | (v < 0))
    if len(bad):
        msg = (f"Column {value!r} must be a finite, non-negative {value_kind} per unit; {len(bad)} of {len(units)} "
               f"units have a missing, infinite or negative value ({_which(labels, bad)}).")
        raise InputError(msg)
    h = _hot_flags(hot, units)
    years, missing, yearly = [], [], []
    for year, column in sorted(dict(year_columns or {}).items(), key=lambda kv: int(kv[0])):
        c = _numeric(units, column, f"the counts of {year}")
        if (c < 0).any():
            bad = np.flatnonzero(c < 0)
            msg = f"Column {column!r} (the counts of {year}) has {len(bad)} negative counts ({_which(labels, bad)})."
            raise InputError(msg)
        if not np.isfinite(c).all():
            missing.append(int(year))
            continue
        years.append(int(year))
        yearly.append(c / area)
    by_year = {int(y): flags for y, flags in dict(hot_by_year or {}).items()}
    hot_years = sorted(by_year)
    hmat = (np.column_stack([_hot_flags(by_year[y], units) for y in hot_years]).astype(float)
            if hot_years else np.zeros((len(v), 0)))
    b = shapely.bounds(geoms)
    order = np.lexsort((np.arange(len(v)), v, area, b[:, 3], b[:, 2], b[:, 1], b[:, 0]))
    x = v / area if value_kind == "count" else v
    ymat = np.asfortranarray(np.column_stack(yearly)[order]) if yearly else np.zeros((len(v), 0))
    study = np.array([float(np.dot(ymat[:, j], area[order])) for j in range(ymat.shape[1])]) / area.sum()
    return _Units(geoms[order], labels[order], area[order], v[order], x[order], h[order], tuple(years), ymat, study,
                  tuple(missing), tuple(hot_years), np.asfortranarray(hmat[order]))


def _designation(value: Any) -> int | None:
    """The designation year as an int (None when missing or not a year)."""
    if value is None:
        return None
    year = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return None if pd.isna(year) else int(year)


# ----------------------------------------------------------------------------- pieces
def _overlap(park, u: _Units, tree) -> tuple[np.ndarray, np.ndarray]:
    """Units under ``park`` (canonical positions, sorted) and the area of each inside it (km²).

    Units only touching the park (an intersection of no area, or a sliver below 1e-9 of the
    unit's area from rounding along a shared edge) are left out.
    """
    import shapely

    pos = np.sort(tree.query(park, predicate="intersects"))
    if len(pos) == 0:
        return pos, np.zeros(0)
    inter = shapely.area(shapely.intersection(u.geoms[pos], park)) / _KM2
    keep = inter > 1e-9 * u.area[pos]
    return pos[keep], inter[keep]


@dataclass(frozen=True)
class _Draws:
    """The arrangements of the units' values on the ``k`` units under a park: rows of unit
    positions, every ordered choice (``exact``) or ``permutations`` random ones."""

    idx: np.ndarray  # (arrangements, k)
    exact: bool


def _draws(n: int, k: int, *, permutations: int, rng: np.random.Generator) -> _Draws:
    """Every ordered choice of ``k`` of ``n`` units when they are few, else seeded random ones."""
    arrangements = math.perm(n, k)
    if arrangements <= max(EXACT_MAX_ARRANGEMENTS, permutations):
        idx = np.fromiter(itertools.chain.from_iterable(itertools.permutations(range(n), k)), dtype=np.int64,
                          count=arrangements * k).reshape(arrangements, k)
        return _Draws(idx, True)
    if n * permutations <= _KEYS_MAX:
        # a uniform random key per unit and permutation: the k smallest keys, in the order of
        # their keys, are a uniformly random ordered choice of k units (all rows at once)
        keys = rng.random((permutations, n))
        part = np.argpartition(keys, k - 1, axis=1)[:, :k]
        idx = np.take_along_axis(part, np.argsort(np.take_along_axis(keys, part, axis=1), axis=1), axis=1)
        return _Draws(idx.astype(np.int64), False)
    idx = np.empty((permutations, k), dtype=np.int64)
    for r in range(permutations):  # many units: Floyd's sampling per row costs O(k), not O(n)
        idx[r] = rng.choice(n, size=k, replace=False)
    return _Draws(idx, False)


def _p(values: np.ndarray, pos: np.ndarray, w: np.ndarray, draws: _Draws, alternative: str) -> tuple[float, float]:
    r"""The park's weighted sum :math:`T = \sum_j w_j v_{pos_j}` and its unit-permutation p-value.

    Exact: the tails :math:`P(T' \ge T)`, :math:`P(T' \le T)` over every arrangement
    (:func:`geo.stats._inference.tail_p`); sampled: :func:`geo.stats._inference.simulated_p`.
    Sums of the same values in another order differ by rounding: ties within ``1e-9`` (relative).
    """
    from geo.stats._inference import simulated_p, tail_p

    obs = float(values[pos] @ w)
    sims = values[draws.idx] @ w
    tol = 1e-9 * max(1.0, abs(obs))
    if draws.exact:
        return obs, float(tail_p(np.mean(sims >= obs - tol), np.mean(sims <= obs + tol), alternative))
    return obs, simulated_p(obs, sims, alternative=alternative, tol=tol)


def _hot_years(u: _Units, pos: np.ndarray, inter: np.ndarray, area: float, draws: _Draws, *, alpha: float,
               min_density_ratio: float, min_share: float) -> tuple[np.ndarray, dict[int, str]]:
    """The years observed (sorted) and, for each hot year, why.

    A year is hot when the park is denser than ``min_density_ratio`` times the study area
    and the year's one-sided unit-permutation p-value, Benjamini–Hochberg-adjusted over the
    park's yearly tests, is below ``alpha``; or (``hot_by_year``) at least ``min_share`` of
    the park lies on hot units with an adjusted p below ``alpha``.  Without the adjustment,
    20 yearly tests at 0.05 would find a "hot" year in 64 % of parks on pure noise.
    """
    from geo.stats._inference import fdr_bh

    covered = inter.sum()
    tests = []  # (year, effect holds, p, words)
    for j, year in enumerate(u.years):
        study = float(u.study_yearly[j])
        obs, p = _p(u.yearly[:, j], pos, inter / covered, draws, "greater")
        ok = study > 0 and obs > min_density_ratio * study
        tests.append((year, ok, p, f"density {obs / study:.2f} times the study area's" if study > 0 else ""))
    for j, year in enumerate(u.hot_years):
        share, p = _p(u.hot_yearly[:, j], pos, inter / area, draws, "greater")
        tests.append((year, share >= min_share, p, f"{share:.0%} on hot units"))
    adjusted = fdr_bh(np.array([t[2] for t in tests], dtype=float)) if tests else np.zeros(0)
    hot: dict[int, str] = {}
    for (year, ok, _, words), q in zip(tests, adjusted):
        if ok and q < alpha and year not in hot:
            hot[year] = f"{words}, {p_phrase(q)} (FDR over the years)"
    return np.array(sorted(set(u.years) | set(u.hot_years)), dtype=np.int64), hot


def _precedence(years: np.ndarray, hot: dict[int, str], designated: int | None, *, missing: tuple[int, ...],
                given: bool, by_hot_units: bool = False) -> dict:
    """First hot year and the precedence of the cluster on the park (see :func:`units_overlay`)."""
    out: dict[str, Any] = {"first_hot_year": None, "years_from_designation": None}
    undetermined = PRECEDENCE["undetermined"]
    if not given:
        return {**out, "precedence": undetermined, "precedence_reason": "no yearly counts were given"}
    if len(years) == 0:
        return {**out, "precedence": undetermined,
                "precedence_reason": f"every year given has missing counts ({_years(missing)})"}
    span = f"{years[0]}–{years[-1]}" if len(years) > 1 else f"{years[0]}"
    if not hot:
        nor = " nor on hot units" if by_hot_units else ""
        reason = f"the park was never significantly denser than the study area{nor} in {span}"
        return {**out, "precedence": undetermined, "precedence_reason": reason}
    first = min(hot)
    out["first_hot_year"] = first
    seen = f"hot first in {first} ({hot[first]})"
    if designated is None:
        return {**out, "precedence": undetermined, "precedence_reason": f"no designation year; {seen}"}
    out["years_from_designation"] = first - designated
    if first < designated:
        return {**out, "precedence": PRECEDENCE["before"],
                "precedence_reason": f"{seen}, {designated - first} years before designation ({designated})"}
    # not hot in any year before designation: an observed year at or after designation, before `first`?
    seen_after = years[(years >= designated) & (years < first)]
    before = years[years < designated]
    if len(seen_after):
        return {**out, "precedence": PRECEDENCE["after"],
                "precedence_reason": f"not hot in {int(seen_after[0])} (designation {designated}); {seen}"}
    if len(before) == 0:
        return {**out, "precedence": undetermined,
                "precedence_reason": f"designation ({designated}) precedes the first year with counts ({years[0]}); {seen}"}
    last = int(before[-1])
    if last == designated - 1:
        return {**out, "precedence": PRECEDENCE["after"],
                "precedence_reason": f"not hot in {last}, the year before designation ({designated}); {seen}"}
    hole = [y for y in range(last + 1, designated)]
    return {**out, "precedence": undetermined,
            "precedence_reason": f"counts missing for {_years(hole)}: not hot in {last}, designation {designated}; {seen}"}


def _years(years) -> str:
    years = sorted(int(y) for y in years)
    if not years:
        return "no year"
    runs, start = [], years[0]
    for a, b in zip(years, years[1:] + [None]):
        if b != a + 1:
            runs.append(f"{start}" if start == a else f"{start}–{a}")
            start = b
    return ", ".join(runs)


def _verdict(row: dict, *, alpha: float, min_share: float) -> tuple[str, str]:
    """The verdict of one park (words of :data:`geo.parks.overlay.VERDICTS`) and its reason."""
    if row["n_units"] == 0:
        return NO_UNITS, "the park lies on none of the units: nothing to measure."
    share, ratio = row["share_hot"], row["density_ratio"]
    p_v, p_h = row["p_fdr"], row["p_hot_fdr"]
    nums = (f"{share:.0%} of the park lies on hot units and its density is {ratio:.2f} times the study area's; "
            f"unit permutation: density {p_phrase(p_v)}, hot share {p_phrase(p_h)} (FDR)")
    if row["covered_share"] < 1 - 1e-9:
        nums += f"; {1 - row['covered_share']:.0%} of the park lies outside the units"
    on_hot = share >= min_share and p_h < alpha
    dense = ratio > 1 and p_v < alpha
    if not (on_hot or dense):
        why = ("the park is not on hot units substantially" if share < min_share else "the overlap is not significant")
        if not (ratio > 1):
            why += " and no denser than the study area"
        elif not (p_v < alpha):
            why += " and its density is not significant"
        return VERDICTS["none"], f"{nums}: {why}."
    precedence = row["precedence"]
    if precedence == PRECEDENCE["before"]:
        return VERDICTS["pre-existing"], f"{nums}; {row['precedence_reason']}."
    if precedence == PRECEDENCE["after"]:
        return VERDICTS["after"], f"{nums}; {row['precedence_reason']}."
    return VERDICTS["undetermined"], f"{nums}; precedence undetermined: {row['precedence_reason']}."


def _notes(row: dict, u: _Units) -> str:
    """What the reader of one park's row should know: units overlapping, the park partly off the
    units, years left out."""
    notes = []
    if row["covered_share"] > 1 + 1e-6:
        notes.append(f"the units under the park overlap (they cover {row['covered_share']:.2f} times its area): "
                     "units should not overlap, the numbers count the overlap twice")
    elif row["n_units"] and row["covered_share"] < 1 - 1e-9:
        notes.append(f"{1 - row['covered_share']:.0%} of the park lies outside the units: its density is that of "
                     "the part on units")
    if u.missing_years:
        notes.append(f"yearly counts missing for {_years(u.missing_years)}: those years are left out")
    return "; ".join(notes)


# ----------------------------------------------------------------------------- overlay
def units_overlay(units, parks, *, value: str, hot: Any, year_columns: Mapping[int, str] | None = None,
                  designated_column: str = "designated", name_column: str = "name", seed=0, permutations: int = 999,
                  value_kind: str = "count", alternative: str = "greater", alpha: float = 0.05,
                  coincide_min_share: float = 0.25, min_density_ratio: float = 1.0,
                  hot_by_year: Mapping[int, Any] | None = None) -> pd.DataFrame:
    r"""One row per park: overlap with hot units, value inside vs outside, a unit-permutation test,
    precedence from yearly counts, and a verdict.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        The given units (polygons: districts, grid cells) in a projected metric CRS, a
        partition of the study area.
    parks : geopandas.GeoDataFrame
        Park polygons (any CRS; brought to the units' CRS) with a name and a designation year.
    value : str
        The units' column of counts (``value_kind="count"``) or rates (``"rate"``).
    hot : pandas.Series or array-like of bool
        Whether each unit is a significant Gi* hot spot after FDR; a Series is aligned to
        the units by index, an array is in the units' order.
    year_columns : mapping of int to str, optional
        Year → the units' column of that year's counts, for the precedence.  A year with a
        missing count in any unit is left out (and named).
    designated_column, name_column : str, default "designated", "name"
        The parks' columns of designation year and name (the index is the name when missing).
    seed : int or numpy.random.Generator, default 0
        Seeds the unit permutations (unused when the test is exact).
    permutations : int, default 999
        Random permutations of the units' values per park, when the arrangements are more
        than :data:`EXACT_MAX_ARRANGEMENTS` (and ``permutations``).
    value_kind : {"count", "rate"}, default "count"
        A count is spread over its unit's area; a rate (or density) is a value per unit
        area or per resident, averaged by area.
    alternative : {"greater", "two-sided", "less"}, default "greater"
        Of the permutation tests: "greater" asks whether the park is denser (more on hot
        units) than random arrangements.
    alpha : float, default 0.05
    coincide_min_share : float, default 0.25
        The share of the park on hot units that counts as a substantial overlap.
    min_density_ratio : float, default 1.0
        A year of ``year_columns`` counts as hot for the precedence when the park's density
        that year exceeds this multiple of the study area's and the year's unit-permutation
        test (one-sided) rejects at ``alpha``.
    hot_by_year : mapping of int to pandas.Series or array-like of bool, optional
        Year → the units' hot-spot flags of that year (e.g. Gi* on each yearly band).  A
        year also counts as hot when at least ``coincide_min_share`` of the park lies on
        hot units and that year's hot-share test rejects at ``alpha``.

    Returns
    -------
    pandas.DataFrame
        One row per park, indexed like ``parks``:

        * ``name``, ``designated``, ``area_km2``;
        * ``n_units`` (units under the park), ``unit_shares`` (unit label → share of the
          unit's area inside the park), ``covered_share`` (share of the park on units);
        * ``share_hot``: share of the park's area on hot units;
        * ``value_inside``, ``value_outside``: counts — the park's area-weighted count and
          the rest of the study area's; rates — the area-weighted mean rate in the park and
          outside it;
        * ``density_inside``, ``density_outside``, ``density_study`` (per km² for counts,
          the rate for rates) and ``density_ratio`` = inside / study area;
          ``density_ring`` (the part on units of the ring of equal area around the park,
          :func:`geo.parks.overlay.park_rings`, ``ring_width_m`` wide) and
          ``density_ratio_ring`` = inside / ring: a park denser than the study area but
          not than its surroundings sits in a dense region rather than on a cluster of its own;
        * ``hot_area_in_park``: share of the hot units' area inside the park;
        * ``p`` (density) and ``p_hot`` (hot share) of the unit-permutation test, each with
          ``*_fdr`` (Benjamini–Hochberg across the parks), ``p_method`` ("exact" or
          "permutation"), ``permutations_done``;
        * ``first_hot_year`` (first hot year of the park, see Notes),
          ``years_from_designation`` (that year minus the designation year: negative =
          before), ``precedence`` (:data:`PRECEDENCE`) and ``precedence_reason``;
        * ``verdict`` (the words of :data:`geo.parks.overlay.VERDICTS`, or
          :data:`NO_UNITS`), ``verdict_reason``, ``notes`` (overlapping units, the part of the
          park off the units, years left out), ``tests`` (:data:`TESTS_NOTE`).

        ``attrs``: ``rules``, ``nulls``, ``assumption``, ``value_kind``, ``seed``.

    Raises
    ------
    geo.errors.CRSError
        Units or parks without a CRS, units not in a projected CRS.
    geo.errors.ColumnError
        ``value`` or a year column missing.
    geo.errors.InputError
        Units that are not polygons or have no area, missing or negative values, ``hot``
        not aligned to the units, bad options.

    Notes
    -----
    With units :math:`i` of area :math:`a_i`, value :math:`v_i` and intensity
    :math:`x_i = v_i / a_i` (counts; :math:`x_i = v_i` for rates), the park :math:`P` of
    area :math:`A_P` overlaps unit :math:`i` by :math:`a_{iP} = |u_i \cap P|`.  Assuming
    firms spread uniformly within each unit (areal weighting),

    .. math::

        \text{share\_hot} = \frac{\sum_i h_i\, a_{iP}}{A_P}, \qquad
        d_P = \frac{\sum_i x_i\, a_{iP}}{\sum_i a_{iP}}, \qquad
        d_S = \frac{\sum_i x_i\, a_i}{\sum_i a_i}, \qquad
        \text{density\_ratio} = d_P / d_S,

    and for counts ``value_inside`` :math:`= \sum_i v_i\, a_{iP} / a_i`.

    The unit-permutation test permutes the pairs :math:`(x_i, h_i)` over the units (the
    values and hot flags travel together; one permutation gives both statistics):
    :math:`T = d_P` and :math:`T_h = \text{share\_hot}` are recomputed with the values of
    a random arrangement on the park's units.  Only the :math:`k` units under the park
    matter, so the distribution has :math:`n!/(n-k)!` equally likely arrangements; it is
    enumerated exactly when they are at most :data:`EXACT_MAX_ARRANGEMENTS`, and sampled
    ``permutations`` times otherwise (pseudo p-value
    :math:`(\#\{T' \ge T\} + 1)/(R + 1)`, :func:`geo.stats._inference.simulated_p`).
    Random arrangements keep the values but not their spatial structure: a park on a large
    cluster is significant, as it should be; the test says nothing about firms within units.

    Precedence: a year is *hot* for the park when the park's area-weighted density that
    year exceeds ``min_density_ratio`` times the study area's and the unit-permutation test
    of that year's densities (the same arrangements, one-sided) rejects at ``alpha`` — or,
    with ``hot_by_year``, when at least ``coincide_min_share`` of the park lies on that
    year's hot units and its hot-share test rejects.  Without the significance, a park a
    little above the average in a noisy year would count as a cluster.

    Verdict: the park *coincides* with a cluster when at least ``coincide_min_share`` of it
    lies on hot units and the hot-share test rejects at ``alpha`` after FDR, or it is denser
    than the study area and the density test rejects.  A coinciding park is "park on a
    pre-existing cluster" when it was hot in a year before the designation year, "cluster
    formed after designation" when it was not hot in an observed year at or after
    designation (or the year just before it) and was later, and
    "undetermined" otherwise (the reason names the missing years or the designation outside
    the years covered).  A park on no unit gets :data:`NO_UNITS`.

    The permutations follow the units in a canonical order (by their bounds, area and
    value), so that the result does not depend on the order of the rows.

    Examples
    --------
    Four 1 km² units holding 10, 20, 30 and 40 firms, the third one hot; the park covers the
    west half of it:

    >>> import geopandas as gpd, shapely
    >>> squares = [shapely.box(x, y, x + 1000, y + 1000) for y in (0, 1000) for x in (0, 1000)]
    >>> units = gpd.GeoDataFrame({"firms": [10, 20, 30, 40]}, geometry=squares, crs="EPSG:32650")
    >>> parks = gpd.GeoDataFrame({"name": ["Optics Park"], "designated": [2005]},
    ...                          geometry=[shapely.box(0, 1000, 500, 2000)], crs="EPSG:32650")
    >>> row = units_overlay(units, parks, value="firms", hot=[False, False, True, False]).iloc[0]
    >>> [float(row[k]) for k in ("share_hot", "value_inside", "density_ratio", "p", "p_hot")]
    [1.0, 15.0, 1.2, 0.5, 0.25]
    >>> row["verdict"]
    'park without a cluster'

    15 firms inside (half of 30), 30 per km² against 25 in the study area; the exact test
    puts each of the 4 densities on the park's unit once, so ``p`` = 2/4 and the hot share
    ``p_hot`` = 1/4: four units cannot make a significant cluster.
    """
    import shapely

    from geo.stats._inference import check_alternative, fdr_bh

    check_alternative(alternative)
    if isinstance(permutations, bool) or not isinstance(permutations, (int, np.integer)) or permutations < 1:
        msg = f"`permutations` must be a positive integer; {permutations!r} was given."
        raise InputError(msg)
    if not (0 < alpha < 1):
        msg = f"`alpha` must be in (0, 1); {alpha!r} was given."
        raise InputError(msg)
    if not (0 < coincide_min_share <= 1):
        msg = f"`coincide_min_share` must be a share in (0, 1]; {coincide_min_share!r} was given."
        raise InputError(msg)
    if not (np.isfinite(min_density_ratio) and min_density_ratio > 0):
        msg = f"`min_density_ratio` must be a positive number (1 = the study area's density); {min_density_ratio!r} was given."
        raise InputError(msg)
    u = _prepare(units, value=value, hot=hot, year_columns=year_columns, value_kind=value_kind, hot_by_year=hot_by_year)
    if u.missing_years:
        log.info("years with missing counts left out of the precedence: %s", _years(u.missing_years))
    if parks.crs is None:
        msg = "The parks have no CRS; set it with parks.set_crs(...)."
        raise CRSError(msg)
    parks_m = _metric(parks, units.crs)
    rng = check_seed(seed)
    tree = shapely.STRtree(u.geoms)
    study_area = u.area.sum()
    total = float((u.x * u.area).sum())
    d_study = total / study_area
    hot_area = float(u.area[u.hot].sum())
    rows = []
    for idx, park in parks_m.iterrows():
        g = park.geometry
        if g is None or shapely.is_empty(g) or shapely.get_type_id(g) not in (3, 6):
            msg = f"Park {park.get(name_column, idx)!r} has no polygon; parks must be polygons."
            raise InputError(msg)
        if not shapely.is_valid(g):
            g = shapely.make_valid(g)
        name = park.get(name_column, idx)
        designated = _designation(park.get(designated_column))
        area = g.area / _KM2
        pos, inter = _overlap(g, u, tree)
        covered = float(inter.sum())
        inside = float((u.x[pos] * inter).sum())
        row: dict[str, Any] = {
            "name": name,
            "designated": designated,
            "area_km2": area,
            "n_units": len(pos),
            "unit_shares": dict(zip(u.labels[pos].tolist(), (inter / u.area[pos]).tolist())),
            "covered_share": covered / area,
            "share_hot": float(inter[u.hot[pos]].sum() / area),
        }
        d_in = inside / covered if covered > 0 else np.nan
        rest = study_area - covered
        d_out = (total - inside) / rest if rest > 1e-12 * study_area else np.nan
        if value_kind == "count":
            row.update(value_inside=inside, value_outside=total - inside)
        else:
            row.update(value_inside=d_in, value_outside=d_out)
        row.update(density_inside=d_in, density_outside=d_out, density_study=d_study,
                   density_ratio=d_in / d_study if d_study > 0 else np.nan)
        ring, ring_d = _ring_buffer(g)
        r_pos, r_inter = _overlap(ring, u, tree)
        d_ring = float((u.x[r_pos] * r_inter).sum() / r_inter.sum()) if r_inter.sum() > 0 else np.nan
        row.update(density_ring=d_ring, density_ratio_ring=d_in / d_ring if d_ring > 0 else np.nan, ring_width_m=ring_d,
                   hot_area_in_park=float(inter[u.hot[pos]].sum() / hot_area) if hot_area > 0 else np.nan)
        if len(pos):
            draws = _draws(len(u.x), len(pos), permutations=permutations, rng=rng)
            _, p = _p(u.x, pos, inter / covered, draws, alternative)
            _, p_hot = _p(u.hot.astype(float), pos, inter / area, draws, alternative)
            row.update(p=p, p_hot=p_hot, p_method="exact" if draws.exact else "permutation",
                       permutations_done=len(draws.idx))
            years, hot_years = _hot_years(u, pos, inter, area, draws, alpha=alpha, min_density_ratio=min_density_ratio,
                                          min_share=coincide_min_share)
            row.update(_precedence(years, hot_years, designated, missing=u.missing_years,
                                   given=bool(year_columns) or bool(hot_by_year), by_hot_units=bool(u.hot_years)))
        else:
            row.update(first_hot_year=None, years_from_designation=None, precedence=PRECEDENCE["undetermined"],
                       precedence_reason=NO_UNITS)
        row["notes"] = _notes(row, u)
        rows.append(row)
    out = pd.DataFrame(rows, index=parks_m.index)
    if len(out) == 0:
        return pd.DataFrame(columns=COLUMNS, index=parks_m.index)
    for col in ("designated", "first_hot_year", "years_from_designation"):
        out[col] = out[col].astype("Int64")
    out.insert(out.columns.get_loc("p") + 1, "p_fdr", fdr_bh(out["p"].to_numpy(float)))
    out.insert(out.columns.get_loc("p_hot") + 1, "p_hot_fdr", fdr_bh(out["p_hot"].to_numpy(float)))
    verdicts = [_verdict(r, alpha=alpha, min_share=coincide_min_share) for r in out.to_dict(orient="records")]
    out["verdict"] = [v for v, _ in verdicts]
    out["verdict_reason"] = [r for _, r in verdicts]
    out["notes"] = out.pop("notes")
    out["tests"] = TESTS_NOTE
    out.attrs["rules"] = {
        "coincides": (f"(share_hot >= {coincide_min_share} and p_hot_fdr < {alpha}) "
                      f"or (density_ratio > 1 and p_fdr < {alpha})"),
        "hot year": (f"density > {min_density_ratio:g} x the study area's and its unit-permutation p < {alpha}"
                     + (f", or share on that year's hot units >= {coincide_min_share} and its p < {alpha}"
                        if hot_by_year else "") + " (p Benjamini-Hochberg-adjusted over the park's years)"),
        "pre-existing": "coincides and the park was hot in a year before designation",
        "after": "coincides and the park was not hot in an observed year at or after designation "
                 "(or the year just before it), and was later",
        "none": "does not coincide",
        "no units": "the park lies on no unit",
    }
    out.attrs["nulls"] = dict(NULLS)
    out.attrs["assumption"] = ("Areal weighting: a unit's value is spread uniformly over its area, so a unit "
                               "crossing the park's edge counts by the share of its area inside the park.")
    out.attrs["value_kind"] = value_kind
    out.attrs["seed"] = seed_record(seed)
    if u.missing_years:
        out.attrs["missing_years"] = list(u.missing_years)
    return out


# ----------------------------------------------------------------------------- the answer in words
@dataclass(frozen=True)
class UnitsFinding:
    """The answer of one valley of a run on given units, in words (:func:`units_answer`).

    Attributes
    ----------
    valley : str
        The valley's name.
    title : str
        Its title.
    sentence : str
        ``"6 of 37 units are hot spots of firms per km² (global Moran's I = 0.4123, p = 0.001)."``;
        when the statistics did not run, why (the valley's ``skipped`` reason, as it was given).
    n_units, n_hot : int or None
        Units with statistics and hot-spot units among them; None when the statistics did not run.
    moran_i, moran_p : float or None
        Global Moran's I of the units' value and its p-value (the permutation p when permutations
        ran, else the randomisation p); None without a global Moran's I.
    parks : tuple of (str, str or None)
        ``(park name, verdict)`` of every park of the valley's overlay (:func:`units_overlay`), in
        its order; empty when the statistics did not run. A missing name is ``""``, a missing verdict None.
    """

    valley: str
    title: str
    sentence: str
    n_units: int | None = None
    n_hot: int | None = None
    moran_i: float | None = None
    moran_p: float | None = None
    parks: tuple[tuple[str, str | None], ...] = ()


def units_answer(valleys: Mapping[str, Any]) -> tuple[UnitsFinding, ...]:
    """The headline of a run on given units: per valley, how many units are hot spots, the global
    Moran's I, and each park's verdict.

    The report of such a run opens with it (:mod:`geo.outputs.units.report` only renders it).

    Parameters
    ----------
    valleys : mapping
        Valley name -> one valley of the run (:class:`geo.pipeline.units.UnitsValley`: its ``title``,
        ``skipped`` reasons and ``analysis`` with ``units`` (a ``hot`` column), ``variable_label``,
        ``global_moran`` (label -> :class:`geo.stats.autocorr.MoranResult`) and ``overlay``).

    Returns
    -------
    tuple of UnitsFinding
        One per valley, in the mapping's order.
    """
    out = []
    for name, vu in valleys.items():
        a = vu.analysis
        if a.units is None or "hot" not in a.units:
            why = vu.skipped.get("statistics") or vu.skipped.get("hotspots", "")
            out.append(UnitsFinding(valley=str(name), title=str(vu.title), sentence=str(why)))
            continue
        n_hot, n = int(a.units["hot"].sum()), len(a.units)
        label = a.variable_label if not is_missing(a.variable_label) else MISSING
        sentence = f"{n_hot} of {n} units are hot spots of {label}"
        moran_i = moran_p = None
        if a.global_moran:
            (gm,) = a.global_moran.values()
            moran_i, moran_p = float(gm.I), float(gm.p_sim if gm.permutations else gm.p_rand)
            sentence += f" (global Moran's I = {format_number(moran_i)}, {p_phrase(moran_p)})"
        parks = ()
        if a.overlay is not None and len(a.overlay):
            parks = tuple(("" if is_missing(r.get("name")) else str(r.get("name")),
                           None if is_missing(r.get("verdict")) else str(r.get("verdict")))
                          for _, r in pd.DataFrame(a.overlay).iterrows())
        out.append(UnitsFinding(valley=str(name), title=str(vu.title), sentence=sentence + ".", n_units=n, n_hot=n_hot,
                                moran_i=moran_i, moran_p=moran_p, parks=parks))
    return tuple(out)
