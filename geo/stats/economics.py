"""Cluster economics: how concentrated and how specialised is each valley or park?

* :func:`location_quotient` — LQ of each sector in each region against the union of the
  regions or a reference table.
* :func:`ellison_glaeser` — the Ellison–Glaeser (1997) γ over areal units, with its plant
  Herfindahl H and raw concentration G.
* :func:`shannon_entropy`, :func:`hhi` — diversity / concentration of a sector mix (raw and
  normalised to [0, 1]); :func:`sector_mix` gives both for every region.
* :func:`krugman_dissimilarity` — how different two regions' sector mixes are.

All functions take plain tables (DataFrame, one row per firm or plant, or aggregated rows with
a weight column) and never modify them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from geo.errors import ColumnError, InputError, StatisticsError

__all__ = [
    "location_quotient",
    "ellison_glaeser",
    "shannon_entropy",
    "hhi",
    "krugman_dissimilarity",
    "sector_mix",
]


def _require(table: Any, columns: list[str]) -> None:
    if not isinstance(table, pd.DataFrame):
        msg = f"`table` must be a pandas DataFrame; {type(table).__name__} was given."
        raise InputError(msg)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        msg = (f"Column(s) {', '.join(map(repr, missing))} not found; available columns: "
               f"{', '.join(map(str, table.columns))}.")
        raise ColumnError(msg)


def _weights(table: pd.DataFrame, weights: str | None, name: str = "weights") -> pd.Series:
    if weights is None:
        return pd.Series(1.0, index=table.index)
    _require(table, [weights])
    w = pd.to_numeric(table[weights], errors="coerce")
    bad = ~np.isfinite(w.to_numpy(dtype=float)) | (w.to_numpy(dtype=float) < 0)
    if bad.any():
        msg = (f"`{name}` column '{weights}' must be finite and non-negative; {int(bad.sum())} "
               "values are not. Fill or drop those rows.")
        raise InputError(msg)
    return w.astype(float)


def _shares(counts: Any, name: str = "counts") -> np.ndarray:
    c = np.asarray(counts.values if isinstance(counts, pd.Series) else
                   (list(counts.values()) if isinstance(counts, Mapping) else counts),
                   dtype=float).ravel()
    if c.size == 0:
        msg = f"`{name}` is empty; give one count (or share) per category."
        raise InputError(msg)
    if not np.isfinite(c).all() or (c < 0).any():
        msg = f"`{name}` must be finite and non-negative; got {c.tolist()[:10]}."
        raise InputError(msg)
    total = c.sum()
    if total <= 0:
        msg = f"`{name}` sums to zero; there is no mix to describe."
        raise StatisticsError(msg)
    return c / total


def location_quotient(
    table: pd.DataFrame,
    *,
    region_column: str,
    sector_column: str,
    weights: str | None = None,
    reference: Mapping | pd.Series | None = None,
) -> pd.DataFrame:
    r"""Location quotient of each sector in each region.

    .. math::

        LQ_{rs} = \frac{e_{rs} / e_r}{E_s / E}

    with :math:`e_{rs}` the firms (or the ``weights`` sum, e.g. employment) of sector s in
    region r, :math:`e_r` the region's total, and :math:`E_s/E` the sector's share in the
    reference: by default the union of all regions in ``table`` (rows with a missing region
    or sector are left out), or ``reference`` (sector → share or count, normalised to shares
    over its own sectors).  LQ > 1: the region is specialised in the sector.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per firm, or aggregated rows with a ``weights`` column.
    region_column, sector_column : str
        Region (valley, park ...) and sector columns.
    weights : str, default None
        Column to sum instead of counting rows (employment, firm counts of aggregated rows).
    reference : mapping or Series, default None
        Reference shares or counts by sector; must cover every sector of ``table``.

    Returns
    -------
    pandas.DataFrame
        One row per (region, sector), all combinations (count 0 gives LQ 0): ``region``,
        ``sector``, ``count`` (rows or weight sum), ``share`` (:math:`e_{rs}/e_r`),
        ``reference_share`` and ``LQ``.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"valley": ["A", "A", "A", "B"], "sector": ["x", "x", "y", "y"]})
    >>> location_quotient(t, region_column="valley", sector_column="sector")["LQ"].round(3).tolist()
    [1.333, 0.667, 0.0, 2.0]
    """
    _require(table, [region_column, sector_column])
    w = _weights(table, weights)
    ok = table[region_column].notna() & table[sector_column].notna()
    frame = pd.DataFrame({"region": table.loc[ok, region_column],
                          "sector": table.loc[ok, sector_column], "w": w[ok]})
    if frame.empty:
        msg = "No row has both a region and a sector; nothing to compare."
        raise StatisticsError(msg)
    counts = frame.pivot_table(index="region", columns="sector", values="w", aggfunc="sum",
                               fill_value=0.0, observed=True)
    if reference is None:
        ref = counts.sum(axis=0)
    else:
        ref = pd.Series(reference, dtype=float)
        missing = [s for s in counts.columns if s not in ref.index]
        if missing:
            msg = (f"`reference` lacks sector(s) {', '.join(map(repr, missing[:10]))}; give a "
                   "share or count for every sector of the table.")
            raise InputError(msg)
        if not np.isfinite(ref.to_numpy()).all() or (ref < 0).any() or ref.sum() <= 0:
            msg = "`reference` shares/counts must be finite, non-negative and not all zero."
            raise InputError(msg)
    ref_share = ref / ref.sum()
    totals = counts.sum(axis=1)
    rows = []
    for region in counts.index:
        for sector in counts.columns:
            c = float(counts.loc[region, sector])
            share = c / totals[region] if totals[region] > 0 else np.nan
            rs = float(ref_share[sector])
            lq = share / rs if rs > 0 else np.nan
            rows.append((region, sector, c, share, rs, lq))
    return pd.DataFrame(rows, columns=["region", "sector", "count", "share",
                                       "reference_share", "LQ"])


def ellison_glaeser(
    table: pd.DataFrame,
    *,
    unit_column: str,
    sector_column: str,
    employment_column: str,
) -> pd.DataFrame:
    r"""Ellison–Glaeser (1997) index of geographic concentration γ per sector.

    .. math::

        G = \sum_i (s_i - x_i)^2, \qquad H = \sum_k z_k^2, \qquad
        \gamma = \frac{G - (1 - \sum_i x_i^2) H}{(1 - \sum_i x_i^2)(1 - H)}

    over areal units i (grid cells, districts): :math:`s_i` the sector's employment share in
    unit i (the fraction of the sector's employment located there), :math:`x_i` the unit's
    share of total employment (all sectors), :math:`z_k` plant k's share of the sector's
    employment.  γ ≈ 0 means no more concentration than random ("dartboard") location of the
    plants; γ > 0 concentration (EG's rule of thumb: > 0.05 highly, < 0.02 weakly).

    Parameters
    ----------
    table : pandas.DataFrame
        One row per plant (firm).
    unit_column, sector_column, employment_column : str
        Areal unit, sector and employment columns (employment finite, ≥ 0).

    Returns
    -------
    pandas.DataFrame
        One row per sector: ``sector``, ``n_plants``, ``employment``, ``G``, ``H``,
        ``sum_x2`` (:math:`\sum x_i^2`), ``gamma`` and ``note`` (why γ is NaN: a single
        plant or all employment in one plant gives H = 1; a single unit gives
        :math:`\sum x^2 = 1`).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"cell": [1, 1, 2, 2], "sector": ["a", "a", "b", "b"],
    ...                   "emp": [10, 10, 10, 10]})
    >>> ellison_glaeser(t, unit_column="cell", sector_column="sector",
    ...                 employment_column="emp")["gamma"].tolist()
    [1.0, 1.0]
    """
    _require(table, [unit_column, sector_column, employment_column])
    emp = _weights(table, employment_column, "employment")
    ok = table[unit_column].notna() & table[sector_column].notna()
    frame = pd.DataFrame({"unit": table.loc[ok, unit_column],
                          "sector": table.loc[ok, sector_column], "e": emp[ok]})
    total = frame["e"].sum()
    if total <= 0:
        msg = "Total employment is zero; the Ellison–Glaeser index needs employment."
        raise StatisticsError(msg)
    x = frame.groupby("unit", observed=True)["e"].sum() / total
    sum_x2 = float(np.sum(x.to_numpy() ** 2))
    rows = []
    for sector, g in frame.groupby("sector", observed=True, sort=True):
        e_s = g["e"].sum()
        note = ""
        if e_s <= 0:
            rows.append((sector, len(g), 0.0, np.nan, np.nan, sum_x2, np.nan,
                         "sector has no employment"))
            continue
        s = (g.groupby("unit", observed=True)["e"].sum() / e_s).reindex(x.index, fill_value=0.0)
        G = float(np.sum((s.to_numpy() - x.to_numpy()) ** 2))
        z = g["e"].to_numpy() / e_s
        H = float(np.sum(z**2))
        if H >= 1.0 - 1e-12:
            gamma = np.nan
            note = "all employment in one plant (H = 1)"
        elif sum_x2 >= 1.0 - 1e-12:
            gamma = np.nan
            note = "all employment in one unit (sum x^2 = 1)"
        else:
            gamma = (G - (1.0 - sum_x2) * H) / ((1.0 - sum_x2) * (1.0 - H))
        rows.append((sector, len(g), float(e_s), G, H, sum_x2, gamma, note))
    return pd.DataFrame(rows, columns=["sector", "n_plants", "employment", "G", "H", "sum_x2",
                                       "gamma", "note"])


def shannon_entropy(counts: Any, *, normalised: bool = False) -> float:
    r"""Shannon entropy of a mix, natural logarithm (nats).

    .. math::

        E = -\sum_k p_k \ln p_k \quad (0 \ln 0 = 0), \qquad
        E_{norm} = E / \ln K

    with :math:`p_k` the shares of the K categories given (zeros included in K).  0 means a
    single category; :math:`\ln K` (normalised: 1) an even mix.

    Parameters
    ----------
    counts : array-like, Series or mapping
        Counts or shares per category (normalised to shares), non-negative.
    normalised : bool, default False
        Divide by :math:`\ln K`; needs K ≥ 2.

    Examples
    --------
    >>> round(shannon_entropy([1, 1, 1, 1]), 6) == round(math.log(4), 6)
    True
    """
    p = _shares(counts)
    nz = p[p > 0]
    e = float(-np.sum(nz * np.log(nz)))
    if normalised:
        if p.size < 2:
            msg = "Normalised entropy needs at least 2 categories; 1 was given."
            raise StatisticsError(msg)
        return e / math.log(p.size)
    return e


def hhi(counts: Any, *, normalised: bool = False) -> float:
    r"""Herfindahl–Hirschman index of a mix, on shares (0–1, not the 0–10,000 convention).

    .. math::

        HHI = \sum_k p_k^2, \qquad HHI_{norm} = \frac{HHI - 1/K}{1 - 1/K}

    :math:`1/K` for an even mix of K categories (normalised: 0), 1 for a single category.

    Parameters
    ----------
    counts : array-like, Series or mapping
        Counts or shares per category (normalised to shares), non-negative.
    normalised : bool, default False
        Rescale to [0, 1]; needs K ≥ 2.

    Examples
    --------
    >>> hhi([3, 1])
    0.625
    """
    p = _shares(counts)
    h = float(np.sum(p**2))
    if normalised:
        k = p.size
        if k < 2:
            msg = "Normalised HHI needs at least 2 categories; 1 was given."
            raise StatisticsError(msg)
        return (h - 1.0 / k) / (1.0 - 1.0 / k)
    return h


def krugman_dissimilarity(shares_a: Any, shares_b: Any) -> float:
    r"""Krugman dissimilarity index of two sector mixes.

    .. math::

        KDI = \sum_k |s_{a,k} - s_{b,k}|

    on shares (inputs are normalised to sum to 1, so counts work too).  Range 0 (identical
    mixes) to 2 (no sector in common); some authors halve it to range 0–1, we do not.
    Mappings/Series are aligned on their keys (a missing sector counts 0); arrays must have
    the same length and order.

    Examples
    --------
    >>> krugman_dissimilarity({"x": 1, "y": 1}, {"x": 3, "y": 1})
    0.5
    """
    if isinstance(shares_a, (Mapping, pd.Series)) and isinstance(shares_b, (Mapping, pd.Series)):
        a = pd.Series(shares_a, dtype=float)
        b = pd.Series(shares_b, dtype=float)
        keys = a.index.union(b.index)
        a = a.reindex(keys, fill_value=0.0)
        b = b.reindex(keys, fill_value=0.0)
    else:
        a = np.asarray(shares_a, dtype=float).ravel()
        b = np.asarray(shares_b, dtype=float).ravel()
        if a.shape != b.shape:
            msg = (f"The two mixes must list the same sectors in the same order; lengths "
                   f"{a.size} and {b.size} were given. Pass Series/dicts keyed by sector.")
            raise InputError(msg)
    pa = _shares(a, "shares_a")
    pb = _shares(b, "shares_b")
    return float(np.sum(np.abs(pa - pb)))


def sector_mix(
    table: pd.DataFrame,
    *,
    region_column: str,
    sector_column: str,
    weights: str | None = None,
) -> pd.DataFrame:
    """Entropy and HHI of the sector mix of every region.

    K (the number of categories in the normalised versions) is the number of distinct sectors
    in the whole table, so regions are compared on the same scale.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per firm (or aggregated rows with ``weights``).
    region_column, sector_column : str
    weights : str, default None
        Column to sum instead of counting rows.

    Returns
    -------
    pandas.DataFrame
        One row per region: ``region``, ``n`` (rows or weight sum), ``n_sectors`` (sectors
        present), ``entropy``, ``entropy_norm``, ``hhi``, ``hhi_norm`` (normalised values NaN
        when the table has a single sector); see :func:`shannon_entropy` and :func:`hhi`.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"valley": ["A", "A", "B", "B"], "sector": ["x", "y", "x", "x"]})
    >>> sector_mix(t, region_column="valley", sector_column="sector")["hhi"].tolist()
    [0.5, 1.0]
    """
    _require(table, [region_column, sector_column])
    w = _weights(table, weights)
    ok = table[region_column].notna() & table[sector_column].notna()
    frame = pd.DataFrame({"region": table.loc[ok, region_column],
                          "sector": table.loc[ok, sector_column], "w": w[ok]})
    counts = frame.pivot_table(index="region", columns="sector", values="w", aggfunc="sum",
                               fill_value=0.0, observed=True)
    k = counts.shape[1]
    rows = []
    for region, c in counts.iterrows():
        v = c.to_numpy(dtype=float)
        if v.sum() <= 0:
            rows.append((region, 0.0, 0, np.nan, np.nan, np.nan, np.nan))
            continue
        rows.append((region, float(v.sum()), int((v > 0).sum()), shannon_entropy(v),
                     shannon_entropy(v, normalised=True) if k >= 2 else np.nan,
                     hhi(v), hhi(v, normalised=True) if k >= 2 else np.nan))
    return pd.DataFrame(rows, columns=["region", "n", "n_sectors", "entropy", "entropy_norm",
                                       "hhi", "hhi_norm"])
