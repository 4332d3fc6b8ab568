"""The study's other comparisons: high-tech vs traditional clusters, and park development models.

Two questions the study asks before it turns to the optical valleys:

* **High-tech vs traditional.**  Industry codes are mapped to groups by a configuration
  table (:func:`read_groups`, :func:`assign_groups`); :func:`compare_groups` measures each
  group in each valley (global Moran's I, Gi* hot cells, Duranton–Overman Kd, the park
  tests, age structure) in one tidy table; :func:`group_difference_test` tests whether one
  group lies inside parks more often than the other (a permutation test of the in-park
  share difference); :func:`groups_answer` puts the answer in plain words.
* **Development model of each park–cluster pair.**  :func:`classify_models` classifies each
  park by measured indicators into the models of the literature — market-led /
  spontaneous, government-led / planned, research-led, multinational/FDI-led — with every
  indicator, a score per model and the rule in ``attrs["rules"]``.  A model whose
  indicator is missing from the data is "undetermined", with the reason: never a guess.

Examples
--------
>>> from geo.datasets import demo_path
>>> groups = read_groups(demo_path("industry_groups"))
>>> sorted(groups["group"].unique())
['high-tech', 'traditional']
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo._format import p_phrase
from geo._random import check_seed
from geo.errors import ColumnError, CRSError, GeoError, InputError
from geo.points import point_xy

__all__ = [
    "UNCLASSIFIED",
    "MODELS",
    "DEFAULT_THRESHOLDS",
    "read_groups",
    "assign_groups",
    "compare_groups",
    "group_difference_test",
    "groups_answer",
    "classify_models",
]

log = logging.getLogger(__name__)

#: the group of a firm whose industry code matches no row of the groups table
UNCLASSIFIED = "unclassified"

#: development models: short name -> long name (as the literature calls them)
MODELS = {
    "market-led": "market-led / spontaneous",
    "government-led": "government-led / planned",
    "research-led": "research-led",
    "FDI-led": "multinational / FDI-led",
}
_KEYS = {"market-led": "market_led", "government-led": "government_led", "research-led": "research_led", "FDI-led": "fdi_led"}

#: thresholds of :func:`classify_models` (override any of them with ``thresholds=``)
DEFAULT_THRESHOLDS = {
    "outside_share": 0.4,   # market-led: share of the main cluster (area or firms) outside the park
    "rd_ratio": 1.5,        # research-led: R&D share near the anchor(s) / the R&D share elsewhere in the valley
    "foreign_share": 0.3,   # FDI-led: share of foreign-invested target firms of the pair
    "foreign_ratio": 1.5,   # FDI-led: that share / the share among the valley's other target firms
    "min_firms": 20,        # fewest firms behind a share (R&D near anchors, FDI) to use it
}

_NONE_VERDICT = "park without a cluster"
_AFTER_VERDICT = "cluster formed after designation"
_TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y"})


# ============================================================================ groups table
def _code_key(value: Any) -> str:
    """Industry code as comparison text: no spaces, dots, hyphens or slashes; upper case."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return ""
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else str(value).replace(".", "")
    text = str(value).strip().upper()
    for ch in (" ", ".", "-", "/", "\t"):
        text = text.replace(ch, "")
    return text


def _read_table(p: Path) -> pd.DataFrame:
    """A small configuration table as text: CSV/TSV (UTF-8, else GB18030; delimiter sniffed) or Excel."""
    from geo.errors import DataFileError

    if not p.is_file():
        msg = f"Industry groups table not found: '{p}' (resolved to '{p.resolve()}'). Check the path."
        raise DataFileError(msg)
    try:
        if p.suffix.lower() in {".xlsx", ".xlsm", ".xls"}:
            return pd.read_excel(p, dtype=str, keep_default_na=False)
        data = p.read_bytes()
        for enc in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        else:
            msg = f"Could not decode '{p}' as UTF-8 or GBK/GB18030; save it as UTF-8."
            raise DataFileError(msg)
        import csv
        import io

        try:
            sep = csv.Sniffer().sniff("\n".join(text.splitlines()[:20]), delimiters=",;\t|").delimiter
        except csv.Error:
            sep = "\t" if p.suffix.lower() in {".tsv", ".tab"} else ","
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        if isinstance(exc, DataFileError):
            raise
        msg = f"Cannot read the industry groups table '{p}' ({type(exc).__name__}: {exc}); give a CSV or .xlsx file."
        raise DataFileError(msg) from None


def read_groups(path: str | Path) -> pd.DataFrame:
    """Read the table that maps industry codes to groups (e.g. ``data/industry_groups.csv``).

    Parameters
    ----------
    path : str or pathlib.Path
        A CSV/TSV (UTF-8 or GBK; the delimiter is detected) or Excel file with at least the
        columns ``industry_code`` and ``group``.  Optional columns are kept:
        ``sector``, ``subsector``, ``description``, ``group_detail``.

    Returns
    -------
    pandas.DataFrame
        The rows as text, with ``industry_code`` stripped and a ``group_detail`` column
        (read from the file, or made as ``"<group>: <sector>"`` when the file has a
        ``sector`` column, else equal to ``group``).  ``attrs["path"]`` records the file.

    Raises
    ------
    geo.errors.DataFileError
        The file is missing or unreadable.
    geo.errors.ColumnError
        ``industry_code`` or ``group`` is missing.
    geo.errors.InputError
        Empty codes or groups, or two rows with the same code.

    Notes
    -----
    **Codes.**  Any classification works — GB/T 4754-2017 (the demo), NAICS, NACE, ISIC —
    because codes are matched as text.  :func:`assign_groups` compares codes after removing
    spaces, dots, hyphens and slashes and upper-casing (``"26.70"`` → ``"2670"``,
    ``"c26.7"`` → ``"C267"``), and a firm's code matches the **longest** code of the table
    that is a prefix of it: an exact match first, then a coarser level.  So a NAICS table
    may list the 3-digit subsector ``334`` for every ``334xxx`` firm and override one
    6-digit industry, and a NACE table may list ``26.7`` for firms coded ``26.70``.  Write
    the codes in the same form in both tables (with or without NACE's section letter), and
    read firm tables with codes as text so leading zeros survive.

    Examples
    --------
    >>> from geo.datasets import demo_path
    >>> g = read_groups(demo_path("industry_groups"))
    >>> g.loc[g["industry_code"] == "3832", ["group", "group_detail"]].values.tolist()
    [['high-tech', 'high-tech: optics']]
    """
    p = Path(path)
    frame = _read_table(p)
    frame = frame.rename(columns={c: str(c).strip() for c in frame.columns})
    missing = [c for c in ("industry_code", "group") if c not in frame.columns]
    if missing:
        msg = (
            f"The industry groups table '{p}' needs the columns industry_code and group; "
            f"{', '.join(missing)} missing (its columns: {list(frame.columns)}). "
            "See data/industry_groups.csv for the format."
        )
        raise ColumnError(msg)
    out = frame.copy()
    for c in out.columns:
        out[c] = out[c].map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else
                            (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v).strip()))
    bad = out.index[(out["industry_code"] == "") | (out["group"] == "")]
    if len(bad):
        msg = (
            f"The industry groups table '{p}' has {len(bad)} row(s) without a code or a group "
            f"(data rows {[int(i) + 1 for i in bad[:10]]}); fill or delete them."
        )
        raise InputError(msg)
    keys = out["industry_code"].map(_code_key)
    dup = keys[keys.duplicated(keep=False)]
    if len(dup):
        shown = sorted(set(out.loc[dup.index, "industry_code"]))[:10]
        msg = (
            f"The industry groups table '{p}' lists the same code more than once "
            f"(after removing spaces and dots): {shown}. Keep one row per code."
        )
        raise InputError(msg)
    if "group_detail" not in out.columns or (out["group_detail"] == "").all():
        if "sector" in out.columns:
            out["group_detail"] = [f"{g}: {s}" if s else g for g, s in zip(out["group"], out["sector"])]
        else:
            out["group_detail"] = out["group"]
    out.attrs = {"path": str(p)}
    return out


def assign_groups(firms: pd.DataFrame, groups: pd.DataFrame | str | Path, *, code_column: str = "industry_code",
                  column: str = "group") -> pd.Series:
    """The group of each firm from its industry code (exact or longest-prefix match).

    Parameters
    ----------
    firms : pandas.DataFrame or geopandas.GeoDataFrame
        The firm table; not modified.
    groups : pandas.DataFrame, str or pathlib.Path
        Output of :func:`read_groups`, or its path.
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
    Matching rule (see :func:`read_groups`): codes are compared as text after removing
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
    table = {_code_key(k): str(v) for k, v in zip(groups["industry_code"], groups[column])}
    table.pop("", None)
    lengths = sorted({len(k) for k in table}, reverse=True)
    codes = firms[code_column]
    keys = codes.map(_code_key)
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


# ============================================================================ helpers
def _flag(values: pd.Series) -> np.ndarray:
    """Truthy flags: numbers != 0, True, or the words 1/true/t/yes/y (missing = False).

    Vectorised by dtype (numeric and boolean columns directly; text by lower-cased lookup),
    so million-row tables need no Python loop.
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


def _known_flag(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(flag, known) for a 0/1-like column: missing or empty values are unknown."""
    known = ~(values.isna() | (values.astype(str).str.strip() == "")).to_numpy()
    return _flag(values) & known, known


def _to(gdf, crs, what: str):
    if gdf.crs is None:
        msg = f"The {what} layer has no CRS; set it with gdf.set_crs(...)."
        raise CRSError(msg)
    return gdf if gdf.crs == crs else gdf.to_crs(crs)


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


def _valid(geom):
    import shapely

    return geom if shapely.is_valid(geom) else shapely.make_valid(geom)


def _inside(geom, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Points inside ``geom`` (boundary counts as inside)."""
    import shapely

    if geom is None or shapely.is_empty(geom) or len(x) == 0:
        return np.zeros(len(x), dtype=bool)
    g = _valid(geom)
    shapely.prepare(g)
    return shapely.intersects_xy(g, x, y)


def _num(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return f


def _isnan(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _valley_parks(parks, valley: str | None):
    if parks is None or len(parks) == 0:
        return parks
    if valley is not None and "valley" in parks.columns and parks["valley"].notna().any():
        return parks[parks["valley"].astype(str) == str(valley)]
    return parks


def _seed_record(seed: Any) -> int | str | None:
    """The seed as recorded in results: an int, None, or "Generator"."""
    if seed is None:
        return None
    return int(seed) if isinstance(seed, (int, np.integer)) else "Generator"


def _pct(x: float) -> str:
    return "n/a" if _isnan(x) else f"{100 * x:.0f} %"


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
                   min_cluster_firms: int = 10) -> pd.DataFrame:
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
    from geo.cells.graph import weights
    from geo.cells.grid import aggregate
    from geo.parks.overlay import (
        NULLS,
        cluster_polygons,
        labelling_test,
        precedence_test,
    )
    from geo.stats._inference import fdr_bh
    from geo.stats.autocorr import global_moran, hotspots

    if group_column not in firms.columns:
        msg = (f"compare_groups needs a `{group_column}` column; add it with "
               "firms.assign(group=geo.parks.typology.assign_groups(firms, read_groups(path))).")
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
        try:
            fm_g = fm.assign(**{"_group": np.where(gv == "", None, gv)})
            cells = aggregate(fm_g, cell=cell, size=size, by="_group")
            graph = weights(cells)
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
            row["cell_size_m"] = float(cells.attrs.get("size_m", np.nan)) if cells is not None else np.nan
            row.update(moran_I=np.nan, moran_z=np.nan, moran_p_sim=np.nan, hot_share=np.nan, n_hot_cells=0, n_clusters=0)
            hot_g = clusters = None
            if mask.sum() == 0:
                notes.append("no firms of this group in the valley")
            elif cells is not None:
                col = cells.attrs.get("by_columns", {}).get(str(g))
                counts = cells[col].to_numpy() if col is not None else np.zeros(len(cells), int)
                try:
                    gm = global_moran(counts, graph, permutations=permutations, seed=s)
                    row.update(moran_I=gm.I, moran_z=gm.z, moran_p_sim=gm.p_sim)
                except GeoError as exc:
                    notes.append(f"Moran's I: {exc}")
                try:
                    gcells = cells[["cell_id", "geometry"]].assign(n_firms=counts)
                    hot_g = hotspots(gcells, "n_firms", graph=graph, statistic="gi*", alpha=alpha, fdr=True,
                                     permutations=permutations, seed=s)
                    hot = hot_g["gi_bin"].to_numpy() >= 2
                    row["hot_share"] = float(counts[hot].sum() / counts.sum()) if counts.sum() else np.nan
                    row["n_hot_cells"] = int(hot.sum())
                    clusters = cluster_polygons(hot_g)
                    row["n_clusters"] = int(len(clusters))
                except GeoError as exc:
                    notes.append(f"Gi*: {exc}")
            # Kd
            row.update(kd_localised=None, kd_from_m=np.nan, kd_to_m=np.nan, kd_intervals="", kd_verdict="not computed")
            if kd_simulations > 0 and mask.sum() >= 10:
                from geo.stats.pointpattern import kd

                try:
                    row.update(_kd_summary(kd(fm, sector=mask, simulations=kd_simulations, seed=s)))
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
                               "size": size, "seed": _seed_record(seed),
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
    from scipy.stats import hypergeom

    from geo.stats._inference import check_alternative, pseudo_p

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
        up = int(np.sum(d_sim >= d - tol))
        lo = int(np.sum(d_sim <= d + tol))
        dist = hypergeom(na + nb, m, na)
        p_up, p_lo = float(dist.sf(xa - 1)), float(dist.cdf(xa))
        p_exact = {"two-sided": min(1.0, 2 * min(p_up, p_lo)), "greater": p_up, "less": p_lo}[alternative]
        entry.update(share_a=xa / na, share_b=xb / nb, difference=d,
                     p_perm=float(pseudo_p(up, lo, permutations, alternative)), p_exact=float(p_exact))
        per[v] = entry
        w = na * nb / (na + nb)
        strata.append((w, d, d_sim))
    pooled: dict[str, Any] = {"valleys": [v for v in order if "skipped" not in per[v]]}
    if strata:
        wsum = sum(w for w, _, _ in strata)
        D = sum(w * d for w, d, _ in strata) / wsum
        D_sim = sum(w * ds for w, _, ds in strata) / wsum
        up = int(np.sum(D_sim >= D - tol))
        lo = int(np.sum(D_sim <= D + tol))
        na = sum(per[v]["n_a"] for v in pooled["valleys"])
        nb = sum(per[v]["n_b"] for v in pooled["valleys"])
        xa = sum(per[v]["in_park_a"] for v in pooled["valleys"])
        xb = sum(per[v]["in_park_b"] for v in pooled["valleys"])
        pooled.update(n_a=na, n_b=nb, share_a=xa / na, share_b=xb / nb, difference=float(D),
                      p_perm=float(pseudo_p(up, lo, permutations, alternative)))
    else:
        pooled["skipped"] = f"no valley has firms of both {group_a!r} and {group_b!r}"
    return {
        "group_a": str(group_a),
        "group_b": str(group_b),
        "permutations": int(permutations),
        "seed": _seed_record(seed),
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
        f"{head} ({where}: {_pct(pooled['share_a'])} of {pooled['n_a']:,} {a} firms vs {_pct(pooled['share_b'])} of "
        f"{pooled['n_b']:,} {b} firms inside a park; within-valley difference {100 * d:+.1f} percentage points, "
        f"stratified permutation {p_phrase(p)}, {diff['alternative']}, {diff['permutations']} permutations)."
    )
    parts = []
    for v, e in diff["per_valley"].items():
        if "skipped" in e:
            parts.append(f"{v}: not tested ({e['skipped']})")
        else:
            parts.append(f"{v} {_pct(e['share_a'])} vs {_pct(e['share_b'])} ({p_phrase(e['p_perm'])})")
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
                hs.append(f"{g} " + ", ".join(f"{r['valley']} {_pct(r['hot_share'])}" for _, r in t.iterrows()))
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


# ============================================================================ development models
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
        flag = _flag(firms_v[anchor_column])
        sub = firms_v.loc[flag]
        ax, ay = point_xy(sub)
        names = sub["name"].astype(str).tolist() if "name" in sub.columns else [str(i) for i in sub.index]
        return ax, ay, names, f"firm-table column `{anchor_column}`"
    return (f"no anchor information: give a points layer of research institutes/universities (anchors=) or an "
            f"`{anchor_column}` flag column in the firm table")


def classify_models(overlay: pd.DataFrame, clusters, firms, parks, *, anchors=None, anchor_column: str = "anchor",
                    rd_column: str = "rd", ownership_column: str = "ownership", foreign_value: str = "foreign",
                    radius_m: float = 2000.0, thresholds: Mapping[str, float] | None = None, sector: str | None = None,
                    sector_column: str = "sector", hotspots=None, valley_column: str = "valley") -> pd.DataFrame:
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
        Overrides of :data:`DEFAULT_THRESHOLDS` (``outside_share`` 0.4, ``rd_ratio`` 1.5,
        ``foreign_share`` 0.3, ``foreign_ratio`` 1.5, ``min_firms`` 20).
    sector : str, optional
        The target sector of the overlay (its firms are the "target firms"); None: all firms.
    sector_column : str, default "sector"
    hotspots : geopandas.GeoDataFrame, optional
        The hotspot table the clusters came from: locates each cluster's peak cell (highest
        Gi* z) as a second core point besides the centroid.
    valley_column : str, default "valley"
        When both ``firms`` and ``parks`` have it, each park's shares use its own valley's firms.

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
    * **research-led** — a research anchor lies within ``radius_m`` of the core, and the
      R&D share of the firms within ``radius_m`` of those anchors is at least
      ``rd_ratio`` (1.5) times the R&D share of the valley's other firms:

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
    >>> m = classify_models(vr.stages["parks_overlay"], vr.stages["clusters"], vr.stages["metric_firms"],
    ...                     vr.parks, sector="optics", hotspots=vr.stages["hotspots"])  # doctest: +SKIP
    >>> m["models"].iloc[0]  # doctest: +SKIP
    ['market-led', 'research-led']
    """
    import shapely

    th = _thresholds(thresholds)
    radius_m = _num(radius_m)
    if not (math.isfinite(radius_m) and radius_m > 0):
        msg = f"`radius_m` must be a positive number of metres; {radius_m!r} was given."
        raise InputError(msg)
    need = ["verdict", "cluster_before", "main_cluster", "max_cluster_share"]
    missing = [c for c in need if c not in overlay.columns]
    if missing:
        msg = f"`overlay` must be the output of geo.park_overlay; columns {missing} are missing."
        raise ColumnError(msg)
    if len(overlay) == 0:
        out = pd.DataFrame(columns=["name", "models", "primary_model"])
        out.attrs["rules"] = _model_rules(th, radius_m)
        return out
    crs = clusters.crs if clusters is not None and clusters.crs is not None else None
    if crs is None:
        msg = "`clusters` must be the GeoDataFrame of geo.cluster_polygons with its (metric) CRS."
        raise CRSError(msg)
    fm_all = _to(firms, crs, "firms")
    pm = _to(parks, crs, "parks")
    cl_geom = {int(c): g for c, g in zip(clusters["cluster_id"], clusters.geometry.values)} if len(clusters) else {}
    peaks: dict[int, Any] = {}
    if hotspots is not None and len(clusters) and "cell_cluster" in clusters.attrs and "gi_z" in hotspots:
        hm = _to(hotspots, crs, "hotspots")
        cc = clusters.attrs["cell_cluster"]
        for cid in cl_geom:
            idx = cc.index[cc.to_numpy() == cid]
            idx = idx[idx.isin(hm.index)]
            if len(idx):
                peaks[cid] = shapely.centroid(hm.geometry.loc[hm.loc[idx, "gi_z"].astype(float).idxmax()])

    rows = []
    for idx, ov in overlay.iterrows():
        park_geom = _valid(pm.geometry.loc[idx]) if idx in pm.index else None
        valley = pm.loc[idx, valley_column] if idx in pm.index and valley_column in pm.columns else None
        fv = fm_all
        if valley is not None and not _isnan(valley) and valley_column in fm_all.columns:
            fv = fm_all[fm_all[valley_column].astype(str) == str(valley)]
        x, y = point_xy(fv)
        target = (fv[sector_column].astype(str) == str(sector)).to_numpy() if sector is not None and sector_column in fv.columns \
            else np.ones(len(fv), bool)
        is_anchor = _flag(fv[anchor_column]) if anchor_column in fv.columns else np.zeros(len(fv), bool)
        in_park = _inside(park_geom, x, y) if park_geom is not None else np.zeros(len(fv), bool)
        verdict = str(ov.get("verdict"))
        cb = ov.get("cluster_before")
        cb = None if _isnan(cb) else bool(cb)
        mc = ov.get("main_cluster")
        main = None if _isnan(mc) or (not _isnan(mc) and int(mc) not in cl_geom) else int(mc)
        pair = verdict != _NONE_VERDICT and main is not None
        row: dict[str, Any] = {
            "name": ov.get("name", str(idx)), "valley": valley, "designated": ov.get("designated"), "verdict": verdict,
            "main_cluster": main, "cluster_before": cb, "pair": pair,
        }
        no_pair = (f"no cluster coincides with the park (overlay verdict: {verdict})" if verdict == _NONE_VERDICT
                   else "no cluster overlaps the park")
        cg = cl_geom.get(main) if main is not None else None
        in_cl = _inside(cg, x, y) if cg is not None else np.zeros(len(fv), bool)
        # ---- indicators: location of the main cluster
        inside_area = _num(ov.get("max_cluster_share")) if main is not None else np.nan
        row["cluster_area_inside"] = inside_area
        row["cluster_area_outside"] = 1.0 - inside_area if not _isnan(inside_area) else np.nan
        n_cl_t = int((in_cl & target).sum())
        row["cluster_target_firms"] = n_cl_t
        row["cluster_firms_outside"] = float((in_cl & target & ~in_park).sum() / n_cl_t) if n_cl_t else np.nan
        outside = np.nanmax([row["cluster_area_outside"], row["cluster_firms_outside"]]) \
            if not (_isnan(row["cluster_area_outside"]) and _isnan(row["cluster_firms_outside"])) else np.nan
        row["cluster_outside_share"] = float(outside) if not _isnan(outside) else np.nan
        # ---- market-led
        res: dict[str, tuple[str, float, str, float]] = {}
        year = ov.get("designated")
        ytxt = f"{int(year)}" if not _isnan(year) and not pd.isna(year) else "designation"
        if not pair:
            res["market-led"] = ("no", 0.0, no_pair, np.nan)
            res["government-led"] = ("no", 0.0, no_pair, np.nan)
        elif cb is None:
            why = str(ov.get("precedence_skipped") or "precedence test not run")
            res["market-led"] = ("undetermined", np.nan, f"whether the cluster preceded designation is unknown: {why}", np.nan)
            res["government-led"] = res["market-led"]
        else:
            r_out = _cond(row["cluster_outside_share"], th["outside_share"])
            if cb:
                ok = r_out >= 1
                res["market-led"] = (
                    "yes" if ok else "no", min(1.0, r_out),
                    f"a significant cluster covered the park before {ytxt}; {_pct(row['cluster_area_outside'])} of the main "
                    f"cluster's area and {_pct(row['cluster_firms_outside'])} of its target firms lie outside the park "
                    f"({'≥' if ok else '<'} {_pct(th['outside_share'])})", r_out)
                res["government-led"] = ("no", 0.0, f"a significant cluster already covered the park before {ytxt}", np.nan)
            else:
                res["market-led"] = ("no", 0.0, f"no significant cluster on the park before {ytxt}", np.nan)
                ok = verdict == _AFTER_VERDICT
                res["government-led"] = (
                    "yes" if ok else "no", 1.0 if ok else 0.0,
                    f"no significant cluster on the park before {ytxt}, and a cluster inside it after "
                    f"({_pct(inside_area)} of the main cluster's area in the park)" if ok else
                    f"no significant cluster before {ytxt}, but the verdict is {verdict!r}", 1.0 if ok else np.nan)
        # ---- research-led
        row.update(anchor_source=None, n_anchors=0, nearest_anchor=None, anchor_core_distance_m=np.nan, n_anchors_at_core=0,
                   n_firms_near_anchor=0, rd_share_near_anchor=np.nan, rd_share_elsewhere=np.nan, rd_share_valley=np.nan,
                   rd_ratio=np.nan, p_rd_near_anchor=np.nan)
        anc = _anchor_points(fv, anchors, anchor_column, crs)
        if isinstance(anc, str):
            anchor_reason = anc
            ax = ay = np.zeros(0)
            names: list[str] = []
        else:
            ax, ay, names, src = anc
            anchor_reason = None
            row["anchor_source"] = src
            row["n_anchors"] = len(ax)
        if not pair:
            res["research-led"] = ("no", 0.0, no_pair, np.nan)
        elif anchor_reason is not None:
            res["research-led"] = ("undetermined", np.nan, anchor_reason, np.nan)
        elif len(ax) == 0:
            res["research-led"] = ("no", 0.0, f"no research anchor in the data ({row['anchor_source']})", np.nan)
        else:
            core = [shapely.centroid(cg)] + ([peaks[main]] if main in peaks else [])
            dist = np.min([np.hypot(ax - c.x, ay - c.y) for c in core], axis=0)
            j = int(np.argmin(dist))
            row["nearest_anchor"] = names[j]
            row["anchor_core_distance_m"] = float(dist[j])
            at_core = dist <= radius_m
            row["n_anchors_at_core"] = int(at_core.sum())
            r_dist = radius_m / dist[j] if dist[j] > 0 else float("inf")
            where = f"{names[j]} is {dist[j]:,.0f} m from the cluster's core"
            if not at_core.any():
                res["research-led"] = ("no", min(1.0, r_dist), f"{where} (> {radius_m:,.0f} m)", np.nan)
            elif rd_column not in fv.columns:
                res["research-led"] = ("undetermined", np.nan, f"{where}, but the firm table has no `{rd_column}` column "
                                       "(R&D firms near the anchor cannot be counted)", np.nan)
            else:
                rd, known = _known_flag(fv[rd_column])
                firm = ~is_anchor & known
                near = firm & _within(x, y, ax[at_core], ay[at_core], radius_m)
                rest = firm & ~near
                n_near, n_rest = int(near.sum()), int(rest.sum())
                row["n_firms_near_anchor"] = n_near
                if n_near < th["min_firms"] or n_rest < th["min_firms"]:
                    res["research-led"] = ("undetermined", np.nan, f"{where}, but only {n_near} firms with a known "
                                           f"`{rd_column}` lie within {radius_m:,.0f} m of it and {n_rest} farther away "
                                           f"(at least {th['min_firms']:.0f} needed for each share)", np.nan)
                else:
                    s_near, s_rest, s_all, ratio, p = _share_contrast(rd, near, rest, firm)
                    row["rd_share_near_anchor"] = s_near
                    row["rd_share_elsewhere"] = s_rest
                    row["rd_share_valley"] = s_all
                    row["rd_ratio"] = ratio
                    row["p_rd_near_anchor"] = p
                    r_rd = _cond(row["rd_ratio"], th["rd_ratio"]) if not _isnan(row["rd_ratio"]) else 0.0
                    ok = r_rd >= 1
                    res["research-led"] = (
                        "yes" if ok else "no", min(1.0, min(r_dist, r_rd)),
                        f"{where} (≤ {radius_m:,.0f} m); {_pct(s_near)} of the {n_near:,} firms within {radius_m:,.0f} m "
                        f"do R&D, {row['rd_ratio']:.2f} × the {_pct(s_rest)} of the valley's other firms ({'≥' if ok else '<'} "
                        f"{th['rd_ratio']:g} ×)", min(r_dist, r_rd) if ok else np.nan)
        # ---- FDI-led
        row.update(n_pair_target_firms=0, foreign_share=np.nan, foreign_share_elsewhere=np.nan, foreign_share_valley=np.nan,
                   foreign_ratio=np.nan, p_foreign=np.nan)
        if not pair:
            res["FDI-led"] = ("no", 0.0, no_pair, np.nan)
        elif ownership_column not in fv.columns:
            res["FDI-led"] = ("undetermined", np.nan, f"the firm table has no `{ownership_column}` column", np.nan)
        else:
            own = fv[ownership_column]
            known = ~(own.isna() | (own.astype(str).str.strip() == "")).to_numpy()
            foreign = (own.astype(str).str.strip().str.lower() == str(foreign_value).lower()).to_numpy() & known
            pop = target & ~is_anchor & known
            grp = pop & (in_park | in_cl)
            rest = pop & ~grp
            n_grp, n_rest = int(grp.sum()), int(rest.sum())
            row["n_pair_target_firms"] = n_grp
            if n_grp < th["min_firms"] or n_rest < th["min_firms"]:
                res["FDI-led"] = ("undetermined", np.nan, f"only {n_grp} target firms with a known `{ownership_column}` in the "
                                  f"park and its cluster and {n_rest} elsewhere in the valley (at least "
                                  f"{th['min_firms']:.0f} needed for each share)", np.nan)
            else:
                s_grp, s_rest, s_all, ratio, p = _share_contrast(foreign, grp, rest, pop)
                row["foreign_share"] = s_grp
                row["foreign_share_elsewhere"] = s_rest
                row["foreign_share_valley"] = s_all
                row["foreign_ratio"] = ratio
                row["p_foreign"] = p
                r1 = _cond(s_grp, th["foreign_share"])
                r2 = _cond(row["foreign_ratio"], th["foreign_ratio"]) if not _isnan(row["foreign_ratio"]) else 0.0
                ok = r1 >= 1 and r2 >= 1
                res["FDI-led"] = (
                    "yes" if ok else "no", min(1.0, r1, r2),
                    f"{_pct(s_grp)} of the pair's {n_grp:,} target firms are foreign-invested ({'≥' if r1 >= 1 else '<'} "
                    f"{_pct(th['foreign_share'])}), {row['foreign_ratio']:.2f} × the {_pct(s_rest)} of the valley's "
                    f"other target firms "
                    f"({'≥' if r2 >= 1 else '<'} {th['foreign_ratio']:g} ×)", min(r1, r2) if ok else np.nan)
        # ---- assemble
        applying = []
        undetermined = []
        for m in MODELS:
            status, score, reason, margin = res[m]
            k = _KEYS[m]
            row[f"status_{k}"] = status
            row[f"score_{k}"] = float(score) if not _isnan(score) else np.nan
            row[f"reason_{k}"] = reason
            if status == "yes":
                applying.append((m, margin))
            elif status == "undetermined":
                undetermined.append(m)
        row["models"] = [m for m, _ in applying]
        path = [m for m, _ in applying if m in ("market-led", "government-led")]
        if path:
            primary = path[0]
        elif applying:
            primary = max(applying, key=lambda t: (-1 if _isnan(t[1]) else t[1]))[0]
        elif undetermined:
            primary = "undetermined"
        else:
            primary = "none"
        row["primary_model"] = primary
        if applying:
            row["summary"] = " + ".join(row["models"]) + ". " + " ".join(
                f"{m}: {res[m][2]}." for m in row["models"])
        elif undetermined:
            row["summary"] = "undetermined: " + " ".join(f"{m}: {res[m][2]}." for m in undetermined)
        else:
            row["summary"] = "none of the models applies: " + (no_pair + "." if not pair else " ".join(
                f"{m}: {res[m][2]}." for m in MODELS))
        rows.append(row)
    out = pd.DataFrame(rows, index=overlay.index)
    out.attrs["rules"] = _model_rules(th, radius_m)
    out.attrs["thresholds"] = dict(th)
    out.attrs["radius_m"] = radius_m
    return out


def _model_rules(th: Mapping[str, float], radius_m: float) -> dict[str, str]:
    return {
        "pair": "every model needs a cluster coinciding with the park (overlay verdict other than 'park without a cluster'); "
                "the main cluster is the one overlapping the park most",
        "market-led": (f"cluster_before is True (significant cluster on the park before designation) and at least "
                       f"{th['outside_share']:g} of the main cluster (the larger of its area share and target-firm share) "
                       f"lies outside the park"),
        "government-led": "cluster_before is False and the overlay verdict is 'cluster formed after designation'",
        "research-led": (f"a research anchor within {radius_m:g} m of the main cluster's core (centroid or peak Gi* cell) and "
                         f"the R&D share of the firms within {radius_m:g} m of those anchors >= {th['rd_ratio']:g} x the "
                         f"R&D share of the valley's other firms (at least {th['min_firms']:g} firms in each)"),
        "FDI-led": (f"foreign-invested share of the pair's target firms (in the park or its main cluster) >= "
                    f"{th['foreign_share']:g} and >= {th['foreign_ratio']:g} x the share among the valley's other target "
                    f"firms (at least {th['min_firms']:g} firms in each)"),
        "undetermined": "a model whose indicator is missing from the data (no designation year, no anchor information, "
                        "no R&D or ownership column, too few firms for a share) is undetermined, with the reason",
        "score": "each condition's indicator / threshold capped at 1 (yes/no conditions 1 or 0); a model's score is its "
                 "weakest condition's; it applies when the score is 1",
        "primary_model": "the development path (market-led or government-led) when one applies; otherwise the applying model "
                         "whose weakest condition clears its threshold by the widest factor; 'none' if none applies; "
                         "'undetermined' if none applies and some model is undetermined",
    }
