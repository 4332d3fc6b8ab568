"""Global and local spatial autocorrelation: Moran's I, LISA, Getis–Ord G / G*, hot spots.

All statistics take a variable ``y`` (a Series aligned to the graph ids, or an array in
graph order) and a :class:`libpysal.graph.Graph`, and are computed from the graph's CSR
arrays by the numba kernels of :mod:`geo.stats._kernels`.  Every p-value comes from
:mod:`geo.stats._inference`; the default is **two-sided** everywhere (``alternative=`` gives
``"greater"`` or ``"less"``).

Conditional randomisation and ties
----------------------------------
For a focal cell ``i`` the local statistics (:math:`I_i`, :math:`G_i`, :math:`G_i^*`) are,
for fixed ``i``, monotone functions of the neighbourhood sum
:math:`S_i = \\sum_{j \\ne i} w_{ij} y_j` (increasing for G and G*, and for
:math:`I_i` with the sign of :math:`y_i - \\bar y`; constant when :math:`y_i = \\bar y`).
The conditional-randomisation p-value of the statistic is therefore the tail
probability of :math:`S_i` when the neighbours' values are drawn without replacement
from the other ``n - 1`` cells.  Ties count as "as extreme" exactly: with integer data
and equal weights within the row the sums are compared in exact integer arithmetic;
otherwise a permuted sum within :math:`10^{-12} \\sum_j |w_{ij}| \\max_k |y_k - \\bar y|`
of the observed one is a tie.  (esda compares floating-point statistics computed two
different ways, so on zero-heavy count grids rounding noise puts ties on one side and
marks empty cells in empty neighbourhoods significant at p = 0.001.)

Exact p-values (``exact="auto"``)
---------------------------------
For integer data and rows whose off-diagonal weights are all equal (binary, or
row-standardised binary weights), :math:`S_i` is a multiple of the sum of :math:`k_i`
values drawn without replacement from the other cells, whose distribution is computed
exactly (see :func:`geo.stats._inference.exact_tails`): the exact without-replacement
distribution for ``n <= 5000``, the with-replacement approximation (``k_i``-fold
convolution of the other cells' value distribution) where ``n`` is larger and
:math:`k_i/(n-1) \\le 1\\%`.  Other cells use Monte Carlo with ``permutations``
independent, seeded draws per cell.  The ``p_method`` column says which was used:
``"exact"``, ``"exact_wr"``, ``"mc"``, ``"normal"`` (no permutations: ``p_norm`` used)
or ``"island"`` (no neighbours: NaN).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numba
import numpy as np
import pandas as pd
import pyproj
import shapely
from libpysal.graph import Graph
from scipy import sparse
from scipy.spatial import cKDTree

from geo._docs import shared_doc
from geo._random import seed_int, seed_record
from geo.errors import ColumnError, CRSError, GraphError, InputError, StatisticsError
from geo.stats import _inference, _kernels

__all__ = [
    "global_moran",
    "local_moran",
    "local_g",
    "hotspots",
    "incremental_moran",
    "MoranResult",
    "MIN_CELLS",
    "TIE_RTOL",
]

logger = logging.getLogger(__name__)

#: statistics refuse fewer cells than this
MIN_CELLS = 30
#: relative tolerance for ties of float data (see module docstring)
TIE_RTOL = 1e-12
_QUAD_NAMES = np.array(["", "HH", "LH", "LL", "HL"], dtype=object)
_TRANSFORMS = ("r", "b", "o")
_EXACT_METHODS = ("exact", "exact_wr")

#: the docstring sections the statistics share (``{name}`` lines, :func:`geo._docs.shared_doc`)
_DOC = {
    "data": """
        y : pandas.Series or array_like
            The variable: a Series indexed by the graph ids (any order), or an array in graph
            order.
        graph : libpysal.graph.Graph
            Spatial weights (self-weights are ignored).""",
    "raises": """
        geo.errors.InputError
            NaN values or bad options.
        geo.errors.GraphError
            Graph ids that do not match ``y``.""",
    # an 8 x 8 lattice of unit squares (i: column, j: row)
    "lattice": """
        >>> import numpy as np, pandas as pd, geopandas as gpd, shapely
        >>> from libpysal.graph import Graph
        >>> i, j = np.meshgrid(np.arange(8), np.arange(8))
        >>> sq = gpd.GeoSeries(shapely.box(i.ravel(), j.ravel(), i.ravel() + 1, j.ravel() + 1))""",
    # the queen graph of the lattice and a block of 3 x 3 fives in one corner (the locals' example)
    "hot_corner": """
        >>> g = Graph.build_contiguity(sq, rook=False)
        >>> y = pd.Series(((i < 3) & (j < 3)).ravel() * 5)""",
}


# =======================================================================================
# input preparation
# =======================================================================================


@dataclass
class _Data:
    y: np.ndarray  # float64 values in graph order
    index: pd.Index  # output index (order of the input y)
    pos: np.ndarray  # graph position of each output row
    name: Any


@dataclass
class _W:
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray  # off-diagonal weights
    diag: np.ndarray  # self weights
    k: np.ndarray  # number of off-diagonal neighbours
    equal: np.ndarray  # off-diagonal weights of the row all equal
    transform: str


def _prepare(y: Any, graph: Any) -> _Data:
    if not isinstance(graph, Graph):
        msg = (
            "`graph` must be a libpysal.graph.Graph (e.g. from geo.weights(cells)); "
            f"{type(graph).__name__} was given."
        )
        raise GraphError(msg)
    ids = graph.unique_ids
    n = len(ids)
    if isinstance(y, pd.DataFrame):
        msg = "`y` must be one column (a Series or 1-d array), not a DataFrame; pass cells['n_firms']."
        raise InputError(msg)
    if isinstance(y, pd.Series):
        name = y.name
        if not y.index.is_unique:
            msg = "`y` has a duplicated index; its labels must be the graph ids, each once."
            raise GraphError(msg)
        pos = ids.get_indexer(y.index)
        missing_in_graph = int((pos < 0).sum())
        if missing_in_graph or len(y) != n:
            not_in_y = int((~ids.isin(y.index)).sum())
            msg = (
                f"The graph ids do not match the index of `y`: {missing_in_graph} labels of "
                f"`y` are not graph ids and {not_in_y} graph ids are not in `y` (graph has "
                f"{n} ids, y has {len(y)} rows). Build the graph from the same table "
                "(geo.weights(cells)) or subset the graph with graph.subgraph(ids)."
            )
            raise GraphError(msg)
        try:
            vals = y.to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError):
            msg = f"`y` must be numeric; dtype {y.dtype} was given."
            raise InputError(msg) from None
        index = y.index
    else:
        name = None
        try:
            vals = np.asarray(y, dtype=float).ravel()
        except (TypeError, ValueError):
            msg = "`y` must be numeric (a Series or 1-d array of numbers)."
            raise InputError(msg) from None
        if len(vals) != n:
            msg = (
                f"`y` has {len(vals)} values but the graph has {n} ids; they must match "
                "(pass a Series indexed like the graph ids, or an array in graph order)."
            )
            raise GraphError(msg)
        pos = np.arange(n)
        index = ids
    _check_values(vals)
    yg = np.empty(n)
    yg[pos] = vals
    return _Data(y=yg, index=index, pos=pos, name=name)


def _check_values(vals: np.ndarray) -> None:
    """NaN, size and constancy checks shared by every statistic."""
    n = len(vals)
    bad = ~np.isfinite(vals)
    if bad.any():
        msg = (
            f"`y` has {int(bad.sum())} NaN or infinite values; the statistics need a value "
            "for every cell. Fill them (e.g. 0 for counts) or drop those cells and rebuild "
            "the graph."
        )
        raise InputError(msg)
    if n < MIN_CELLS:
        msg = (
            f"At least {MIN_CELLS} cells are needed for spatial autocorrelation; {n} were "
            "given. Use a smaller cell size or a larger extent."
        )
        raise StatisticsError(msg)
    if np.ptp(vals) == 0:
        msg = (
            f"`y` is constant (every value is {vals[0]:g}); Moran's I and G are undefined "
            "for a variable without variation."
        )
        raise StatisticsError(msg)


def _check_transform(transform: str, allowed: tuple[str, ...] = _TRANSFORMS) -> str:
    t = str(transform).lower()
    if t not in allowed:
        msg = f"`transform` must be one of {', '.join(map(repr, allowed))}; {transform!r} was given."
        raise InputError(msg)
    return t


def _check_common(permutations: Any, alternative: str, alpha: float | None = None, exact: Any = "auto") -> int:
    _inference.check_alternative(alternative)
    if isinstance(permutations, bool) or not isinstance(permutations, (int, np.integer)) or permutations < 0:
        msg = f"`permutations` must be a nonnegative integer; {permutations!r} was given."
        raise InputError(msg)
    if alpha is not None and not (0 < alpha < 1):
        msg = f"`alpha` must be in (0, 1); {alpha!r} was given."
        raise InputError(msg)
    if exact not in ("auto", True, False):
        msg = f"`exact` must be 'auto', True or False; {exact!r} was given."
        raise InputError(msg)
    return int(permutations)


def _setup(
    y: Any, graph: Any, *, permutations: Any, alternative: str, transform: str, allowed: tuple[str, ...] = _TRANSFORMS,
    self_weight: str | None = None, alpha: float | None = None, exact: Any = "auto",
) -> tuple[int, _Data, _W]:
    """What every statistic starts with: its options checked (permutations, alternative, alpha,
    exact, then ``transform`` among ``allowed``), ``y`` aligned to the graph and the weights."""
    permutations = _check_common(permutations, alternative, alpha, exact)
    transform = _check_transform(transform, allowed)
    d = _prepare(y, graph)
    return permutations, d, _weights(graph, transform, self_weight=self_weight)


def _csr(graph: Graph) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Off-diagonal CSR arrays (indptr, indices, data) and the diagonal, graph order."""
    a = sparse.csr_array(graph.sparse, dtype=float)
    a.sum_duplicates()  # canonical: sorted indices, no duplicates
    n = a.shape[0]
    v = a.data
    if (v < 0).any() or not np.isfinite(v).all():
        msg = "The graph has negative or non-finite weights; spatial weights must be >= 0."
        raise GraphError(msg)
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(a.indptr))
    cols = a.indices.astype(np.int64)
    on = cols == rows
    diag = np.zeros(n)
    diag[rows[on]] = v[on]
    keep = (v != 0) & ~on
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[keep], minlength=n), out=indptr[1:])
    return indptr, cols[keep], v[keep].astype(float), diag


def _row_reduce(indptr: np.ndarray, vals: np.ndarray, how: str) -> np.ndarray:
    n = len(indptr) - 1
    k = np.diff(indptr)
    out = np.zeros(n)
    has = k > 0
    if vals.size:
        f = {"sum": np.add, "max": np.maximum, "min": np.minimum}[how]
        red = f.reduceat(vals, indptr[:-1][has])
        out[has] = red
    return out


def _weights(graph: Graph, transform: str, *, self_weight: str | None = None) -> _W:
    """Transformed weights.  ``self_weight``: None drops the diagonal (Moran, G); "star"
    sets the self weight to 1 ("b") or the row maximum ("r"/"o"; 1 for binary graphs)
    before transforming (the esda convention for G*)."""
    indptr, indices, data, diag = _csr(graph)
    k = np.diff(indptr)
    if self_weight == "star":
        rowmax = _row_reduce(indptr, data, "max")
        diag = np.where(rowmax > 0, rowmax, 1.0) if transform != "b" else np.ones(len(k))
    else:
        diag = np.zeros(len(k))
    if transform == "b":
        data = np.ones_like(data)
        diag = (diag != 0).astype(float)
    elif transform == "r":
        rs = _row_reduce(indptr, data, "sum") + diag
        safe = np.where(rs > 0, rs, 1.0)
        data = data / np.repeat(safe, k)
        diag = diag / safe
    rmax = _row_reduce(indptr, data, "max")
    rmin = _row_reduce(indptr, data, "min")
    equal = (rmax - rmin) <= 1e-12 * np.maximum(rmax, 1e-300)
    return _W(indptr, indices.astype(np.int64), data.astype(float), diag, k.astype(np.int64), equal, transform)


def _lag(w: _W, x: np.ndarray, *, weighted: bool = True) -> np.ndarray:
    """Off-diagonal spatial lag ``sum_{j != i} w_ij x_j`` (``weighted=False``: plain sum of
    the neighbours' values, exact for integer ``x``)."""
    n = len(w.k)
    data = w.data if weighted else np.ones(len(w.indices), dtype=x.dtype)
    return sparse.csr_array((data, w.indices, w.indptr), shape=(n, n)) @ x


def _is_integer(x: np.ndarray) -> bool:
    return bool(np.all(x == np.rint(x)) and np.abs(x).max() < 2.0**50)


# =======================================================================================
# conditional randomisation: tails of the neighbourhood sum
# =======================================================================================


@dataclass
class _Tails:
    p_upper: np.ndarray  # P(S' >= S) (NaN for islands / normal)
    p_lower: np.ndarray
    method: np.ndarray  # object array of method names
    integer: bool


def _conditional_tails(x: np.ndarray, w: _W, permutations: int, seed: Any, exact: Any) -> _Tails:
    n = len(x)
    pu = np.full(n, np.nan)
    pl = np.full(n, np.nan)
    method = _inference.method_names(n, "island")
    has = w.k > 0
    integer = _is_integer(x)
    if exact is not False and integer:
        cand = np.flatnonzero(has & w.equal)
        if cand.size:
            xmin = x.min()
            v = np.rint(x - xmin).astype(np.int64)
            t = _lag(w, v.astype(np.int64), weighted=False)
            if int(v.max()) * int(w.k.max()) <= 4_000_000:
                eu, el, em = _inference.exact_tails(v, w.k, t, cand)
                pu[cand], pl[cand], method[cand] = eu, el, em
            else:
                logger.info("exact p-values skipped: value range too large for convolution")
    need = has & ~np.isin(method, _EXACT_METHODS)
    if exact is True and need.any():
        msg = (
            f"exact=True, but exact p-values are not available for {int(need.sum())} cells: "
            "they need integer data, equal weights within each neighbourhood (binary or "
            "row-standardised binary weights) and a manageable value range. Use exact='auto'."
        )
        raise StatisticsError(msg)
    cells = np.flatnonzero(need)
    if cells.size:
        if permutations > 0:
            if integer:
                xs = x.copy()
            else:
                xs = x - x.mean()
            absmax = np.abs(xs).max()
            absw = _row_reduce(w.indptr, np.abs(w.data), "sum")
            scale = np.where(w.equal, w.k, absw) * absmax
            tol = np.where(integer & w.equal, 0.0, TIE_RTOL * scale)
            up, lo = _mc_counts(w, xs, cells.astype(np.int64), tol, permutations, seed_int(seed))
            pu[cells], pl[cells] = _inference.pseudo_tails(up, lo, permutations)
            method[cells] = "mc"
        else:
            method[cells] = "normal"
    return _Tails(pu, pl, method, integer)


def _mc_counts(w: _W, x: np.ndarray, cells: np.ndarray, tol: np.ndarray, permutations: int, seed: int):
    """Run the Monte Carlo kernel over chunks of cells in a thread pool (the kernel releases
    the GIL; each cell has its own stream, so the result does not depend on the chunks)."""
    m = len(cells)
    upper = np.zeros(m, dtype=np.int64)
    lower = np.zeros(m, dtype=np.int64)
    threads = max(1, min(numba.get_num_threads(), m))

    def work(sl: slice) -> None:
        _kernels.local_perm_counts(
            w.indptr, w.indices, w.data, x, cells[sl], w.equal, tol, permutations, seed,
            upper[sl], lower[sl],
        )

    if threads == 1 or m * permutations < 200_000:
        work(slice(0, m))
        return upper, lower
    nchunks = threads * 8
    bounds = np.linspace(0, m, nchunks + 1).astype(int)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(work, [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]))
    return upper, lower


def _sign_exact(y: np.ndarray, integer: bool) -> np.ndarray:
    """Sign of y_i - mean(y), exact for integer data."""
    n = len(y)
    if integer:
        yi = np.rint(y).astype(np.int64)
        tot = int(yi.sum())
        diff = n * yi - tot  # int64: |n * y| < 2**63 for realistic counts
        return np.sign(diff).astype(np.int64)
    z = y - y.mean()
    tol = TIE_RTOL * np.abs(z).max()
    return np.where(z > tol, 1, np.where(z < -tol, -1, 0)).astype(np.int64)


def _used_p(p_sim: np.ndarray, p_norm: np.ndarray, method: np.ndarray) -> np.ndarray:
    return np.where(method == "normal", p_norm, p_sim)


def _frame(d: _Data, cols: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame({k: np.asarray(v)[d.pos] for k, v in cols.items()}, index=d.index)


def _counts(values: np.ndarray) -> dict[str, int]:
    vc = pd.Series(values, copy=False).value_counts(sort=False)
    return {str(a): int(b) for a, b in sorted(vc.items(), key=lambda kv: str(kv[0]))}




def _local_options(w: _W, n: int, alternative: str, permutations: int, seed: Any, exact: Any, fdr: bool,
                   alpha: float) -> dict[str, Any]:
    """The options both local statistics record in their frame's ``attrs``, in that order."""
    return {
        "transform": w.transform,
        "alternative": alternative,
        "permutations": permutations,
        "seed": seed_record(seed),
        "exact": exact,
        "fdr": bool(fdr),
        "alpha": float(alpha),
        "n": int(n),
    }


# =======================================================================================
# global Moran's I
# =======================================================================================


@dataclass(frozen=True)
class MoranResult:
    """Global Moran's I and its inference.

    Attributes
    ----------
    I, EI : float
        Statistic and its expectation :math:`-1/(n-1)`.
    VI_norm, VI_rand : float
        Variance under normality and under randomisation.
    z_norm, z_rand : float
        z-scores under normality / randomisation.
    p_norm, p_rand : float
        Analytic p-values of ``alternative`` (two-sided by default).
    p_sim : float
        Permutation pseudo p-value of ``alternative``; two-sided:
        :math:`\\min\\{1, 2\\min(\\#\\{I' \\ge I\\}+1, \\#\\{I' \\le I\\}+1)/(R+1)\\}`
        (NaN when ``permutations == 0``).
    permutations, seed, n : int, int|None, int
    alternative, transform : str
    """

    I: float  # noqa: E741
    EI: float
    VI_norm: float
    VI_rand: float
    z_norm: float
    z_rand: float
    p_norm: float
    p_rand: float
    p_sim: float
    permutations: int
    seed: Any
    n: int
    alternative: str = "two-sided"
    transform: str = "r"

    @property
    def z(self) -> float:
        """The z-score under randomisation (``z_rand``), as ArcGIS reports it."""
        return self.z_rand

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict (for summary.json)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["seed"] = self.seed if isinstance(self.seed, (int, type(None))) else str(self.seed)
        return {k: (float(v) if isinstance(v, (np.floating,)) else v) for k, v in out.items()}


def _moran_moments(z: np.ndarray, a: sparse.csr_array) -> dict[str, float]:
    n = len(z)
    s0 = float(a.sum())
    at = a.T.tocsr()
    s1 = 0.5 * float((a + at).power(2).sum())
    rs = np.asarray(a.sum(axis=1)).ravel()
    cs = np.asarray(a.sum(axis=0)).ravel()
    s2 = float(((rs + cs) ** 2).sum())
    ei = -1.0 / (n - 1)
    n2 = n * n
    s02 = s0 * s0
    vi_norm = (n2 * s1 - n * s2 + 3 * s02) / ((n - 1) * (n + 1) * s02) - ei**2
    m2 = float((z**2).sum() / n)
    m4 = float((z**4).sum() / n)
    b2 = m4 / m2**2
    aa = n * ((n2 - 3 * n + 3) * s1 - n * s2 + 3 * s02)
    bb = b2 * ((n2 - n) * s1 - 2 * n * s2 + 6 * s02)
    vi_rand = (aa - bb) / ((n - 1) * (n - 2) * (n - 3) * s02) - ei**2
    return {"S0": s0, "S1": s1, "S2": s2, "EI": ei, "VI_norm": vi_norm, "VI_rand": vi_rand}


def _global_stats(y: np.ndarray, a: sparse.csr_array) -> dict[str, Any]:
    """Moran's I, its moments and z-scores for values ``y`` and weights matrix ``a``."""
    n = len(y)
    z = y - y.mean()
    mom = _moran_moments(z, a)
    if mom["S0"] <= 0:
        msg = "The graph has no links (every cell is an island); Moran's I is undefined."
        raise GraphError(msg)
    q = float(z @ (a @ z))
    stat = n / mom["S0"] * q / float(z @ z)
    z_norm = (stat - mom["EI"]) / np.sqrt(mom["VI_norm"]) if mom["VI_norm"] > 0 else np.nan
    z_rand = (stat - mom["EI"]) / np.sqrt(mom["VI_rand"]) if mom["VI_rand"] > 0 else np.nan
    tol = TIE_RTOL * mom["S0"] * float(np.abs(z).max()) ** 2
    return {**mom, "I": stat, "z_norm": z_norm, "z_rand": z_rand, "Q": q, "z": z, "n": n, "tol": tol}


def _w_matrix(w: _W) -> sparse.csr_array:
    n = len(w.k)
    a = sparse.csr_array((w.data, w.indices, w.indptr), shape=(n, n))
    if np.any(w.diag != 0):
        a = a + sparse.diags_array(w.diag)
    return sparse.csr_array(a)


@shared_doc(**_DOC)
def global_moran(
    y: Any,
    graph: Graph,
    *,
    permutations: int = 999,
    seed: int | np.random.Generator | None = 0,
    transform: str = "r",
    alternative: str = "two-sided",
) -> MoranResult:
    """Global Moran's I with analytic (normality, randomisation) and permutation inference.

    .. math::

        I = \\frac{n}{S_0} \\frac{\\sum_i \\sum_j w_{ij} z_i z_j}{\\sum_i z_i^2},
        \\quad z_i = y_i - \\bar y, \\quad E[I] = -\\frac{1}{n-1}

    with :math:`S_0 = \\sum_{ij} w_{ij}`, :math:`S_1 = \\tfrac12 \\sum_{ij}(w_{ij} + w_{ji})^2`,
    :math:`S_2 = \\sum_i (w_{i\\cdot} + w_{\\cdot i})^2`;

    .. math::

        V_N[I] = \\frac{n^2 S_1 - n S_2 + 3 S_0^2}{(n^2 - 1) S_0^2} - E[I]^2, \\qquad
        V_R[I] = \\frac{n[(n^2-3n+3)S_1 - nS_2 + 3S_0^2] - b_2[(n^2-n)S_1 - 2nS_2 + 6S_0^2]}
                      {(n-1)(n-2)(n-3)S_0^2} - E[I]^2

    with kurtosis :math:`b_2 = m_4/m_2^2` (Cliff & Ord 1981; identical to esda's
    ``Moran``).  **p-values are two-sided by default**: analytic
    :math:`2\\Phi(-|z|)`; permutation :math:`\\min\\{1, 2\\min(P_\\ge, P_\\le)\\}` with
    :math:`P_\\ge = (\\#\\{I' \\ge I\\} + 1)/(R + 1)` and likewise :math:`P_\\le`, ties
    (within :math:`10^{-12}` relative) counting on both sides.  ``alternative="greater"``
    (clustering) or ``"less"`` (dispersion) gives one-sided p-values.

    Parameters
    ----------
    {data}
    permutations : int, default 999
        Random permutations for ``p_sim`` (0 to skip).
    seed : int, numpy.random.Generator or None, default 0
        Seed of the permutations; results are reproducible bit for bit.
    transform : {"r", "b", "o"}, default "r"
        Row-standardised, binary or original weights.
    alternative : {"two-sided", "greater", "less"}, default "two-sided"

    Returns
    -------
    MoranResult
        Frozen dataclass (``I``, ``EI``, ``VI_norm``, ``VI_rand``, ``z_norm``, ``z_rand``,
        ``p_norm``, ``p_rand``, ``p_sim`` ...; ``.z`` is ``z_rand``).

    Raises
    ------
    geo.errors.StatisticsError
        Fewer than 30 cells or a constant ``y``.
    {raises}

    Examples
    --------
    {lattice}
    >>> g = Graph.build_contiguity(sq, rook=True)
    >>> gm = global_moran(pd.Series(i.ravel() * 1.0), g, permutations=99, seed=1)
    >>> round(gm.I, 4), gm.p_sim
    (0.9375, 0.02)
    """
    permutations, d, w = _setup(y, graph, permutations=permutations, alternative=alternative, transform=transform)
    st = _global_stats(d.y, _w_matrix(w))
    p_sim = np.nan
    if permutations:
        up, lo, _, _ = _kernels.global_perm_counts(
            w.indptr, w.indices, w.data, st["z"], st["Q"], st["tol"], permutations, seed_int(seed),
            threads=numba.get_num_threads(),
        )
        p_sim = float(_inference.pseudo_p(up, lo, permutations, alternative))
    return MoranResult(
        I=float(st["I"]),
        EI=float(st["EI"]),
        VI_norm=float(st["VI_norm"]),
        VI_rand=float(st["VI_rand"]),
        z_norm=float(st["z_norm"]),
        z_rand=float(st["z_rand"]),
        p_norm=float(_inference.normal_p(st["z_norm"], alternative)),
        p_rand=float(_inference.normal_p(st["z_rand"], alternative)),
        p_sim=p_sim,
        permutations=permutations,
        seed=seed_record(seed),
        n=int(st["n"]),
        alternative=alternative,
        transform=transform,
    )


# =======================================================================================
# local Moran (LISA)
# =======================================================================================


@shared_doc(**_DOC)
def local_moran(
    y: Any,
    graph: Graph,
    *,
    permutations: int = 999,
    seed: int | np.random.Generator | None = 0,
    alternative: str = "two-sided",
    fdr: bool = True,
    alpha: float = 0.05,
    transform: str = "r",
    exact: str | bool = "auto",
) -> pd.DataFrame:
    """Local Moran's I (LISA) with analytic and conditional-randomisation inference.

    .. math::

        I_i = \\frac{z_i}{m_2} \\sum_{j \\ne i} w_{ij} z_j, \\quad z_i = y_i - \\bar y,
        \\quad m_2 = \\frac{1}{n}\\sum_k z_k^2

    This is Anselin's (1995) :math:`I_i` as in R ``spdep::localmoran``; esda's
    ``Moran_Local.Is`` is :math:`I_i (n-1)/n`.  The moments are those of this
    :math:`I_i` under total randomisation (Sokal et al. 1998, eqs. A3-A4, equal to
    esda's ``EI`` and ``VI``), with :math:`w_i = \\sum_j w_{ij}`,
    :math:`w_{i(2)} = \\sum_j w_{ij}^2`, :math:`b_2 = m_4/m_2^2`:

    .. math::

        E[I_i] = -\\frac{w_i}{n-1}, \\qquad
        V[I_i] = \\frac{w_{i(2)}(n - b_2)}{n-1}
               + \\frac{(w_i^2 - w_{i(2)})(2b_2 - n)}{(n-1)(n-2)} - \\frac{w_i^2}{(n-1)^2}

    and ``z = (I - EI) / sqrt(VI)``.

    **p-values are two-sided by default.** ``p_norm`` is :math:`2\\Phi(-|z|)`; ``p_sim`` is
    the conditional-randomisation p-value (``y_i`` fixed, the other values permuted),
    :math:`\\min\\{1, 2\\min(P_\\ge, P_\\le)\\}` in the direction of :math:`I_i`, exact
    where possible and Monte Carlo otherwise (see the module docstring; column
    ``p_method``).  ``p_fdr`` holds Benjamini–Hochberg adjusted p-values (of ``p_sim``,
    or of ``p_norm`` where no permutation p-value exists).  ``alternative="greater"``
    tests positive local autocorrelation (HH/LL), ``"less"`` negative (HL/LH).

    Parameters
    ----------
    {data}
    permutations : int, default 999
        Monte Carlo draws per cell where exact p-values are not used.
    seed : int, numpy.random.Generator or None, default 0
        Seed; each cell gets an independent stream, reproducible bit for bit.
    alternative : {"two-sided", "greater", "less"}, default "two-sided"
    fdr : bool, default True
        Use ``p_fdr`` (else the unadjusted p-value) for ``label``.
    alpha : float, default 0.05
        Significance level of ``label``.
    transform : {"r", "b", "o"}, default "r"
        Row-standardised, binary or original weights.
    exact : {"auto", True, False}, default "auto"
        Exact conditional-randomisation p-values where valid (integer ``y``, equal
        weights in the row); ``True`` requires them for every cell; ``False`` always
        uses Monte Carlo.

    Returns
    -------
    pandas.DataFrame
        Aligned to ``y``'s index: ``I``, ``EI``, ``VI``, ``z``, ``p_norm``, ``p_sim``,
        ``p_fdr``, ``quadrant`` (1=HH, 2=LH, 3=LL, 4=HL; "high" means
        :math:`z_i > 0`, a positive lag), ``label`` ("HH", "LL", "HL", "LH" where
        significant at ``alpha``, else "ns"), ``p_method``.  ``attrs`` hold the
        parameters and label counts.

    Raises
    ------
    geo.errors.StatisticsError
        Fewer than 30 cells, constant ``y``, or ``exact=True`` where not available.
    {raises}

    Examples
    --------
    {lattice}
    {hot_corner}
    >>> lm = local_moran(y, g, seed=0)
    >>> lm["label"].value_counts().to_dict()
    {'ns': 58, 'HH': 6}
    """
    permutations, d, w = _setup(y, graph, permutations=permutations, alternative=alternative, transform=transform,
                                alpha=alpha, exact=exact)
    tails = _conditional_tails(d.y, w, permutations, seed, exact)
    return _local_moran_frame(d, w, tails, permutations, seed, alternative, fdr, alpha, exact)


def _local_moran_frame(d, w, tails, permutations, seed, alternative, fdr, alpha, exact) -> pd.DataFrame:
    y = d.y
    n = len(y)
    z = y - y.mean()
    m2 = float((z**2).sum() / n)
    lag = _lag(w, z)
    stat = z * lag / m2
    wi = _row_reduce(w.indptr, w.data, "sum")
    wi2 = _row_reduce(w.indptr, w.data**2, "sum")
    b2 = float((z**4).sum() / n) / m2**2
    ei = -wi / (n - 1)
    vi = wi2 * (n - b2) / (n - 1) + (wi**2 - wi2) * (2 * b2 - n) / ((n - 1) * (n - 2)) - wi**2 / (n - 1) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        zs = np.where(vi > 0, (stat - ei) / np.sqrt(np.where(vi > 0, vi, 1.0)), np.nan)
    p_norm = _inference.normal_p(zs, alternative)
    # quadrants (esda convention: "high" means strictly above the mean / positive lag)
    zp = z > 0
    lp = lag > 0
    quad = np.where(zp & lp, 1, np.where(~zp & lp, 2, np.where(~zp & ~lp, 3, 4)))
    # statistic tails from the neighbourhood-sum tails
    sign = _sign_exact(y, tails.integer)
    pu = np.where(sign > 0, tails.p_upper, np.where(sign < 0, tails.p_lower, 1.0))
    pl = np.where(sign > 0, tails.p_lower, np.where(sign < 0, tails.p_upper, 1.0))
    pu = np.where(np.isnan(tails.p_upper), np.nan, pu)
    pl = np.where(np.isnan(tails.p_lower), np.nan, pl)
    p_sim = _inference.tail_p(pu, pl, alternative)
    p_used = _used_p(p_sim, p_norm, tails.method)
    p_fdr = _inference.fdr_bh(p_used)
    p_label = p_fdr if fdr else p_used
    sig = np.nan_to_num(p_label, nan=1.0) <= alpha
    labels = np.where(sig, _QUAD_NAMES[quad], "ns").astype(object)
    out = _frame(
        d,
        {
            "I": stat, "EI": ei, "VI": vi, "z": zs, "p_norm": p_norm, "p_sim": p_sim,
            "p_fdr": p_fdr, "quadrant": quad.astype(np.int64), "label": labels,
            "p_method": tails.method,
        },
    )
    out.attrs = {
        "statistic": "local Moran's I (Anselin 1995 / spdep convention; esda Is = I (n-1)/n)",
        "variable": None if d.name is None else str(d.name),
        **_local_options(w, n, alternative, permutations, seed, exact, fdr, alpha),
        "labels": _counts(labels),
        "p_method": _counts(tails.method),
    }
    return out


# =======================================================================================
# Getis-Ord G and G*
# =======================================================================================


@shared_doc(**_DOC)
def local_g(
    y: Any,
    graph: Graph,
    *,
    star: bool = True,
    permutations: int = 999,
    seed: int | np.random.Generator | None = 0,
    alternative: str = "two-sided",
    fdr: bool = True,
    alpha: float = 0.05,
    transform: str = "b",
    exact: str | bool = "auto",
) -> pd.DataFrame:
    """Getis–Ord local G (``star=False``) or G* (``star=True``) hot-spot statistics.

    With weights :math:`w_{ij}` (for G* including the self weight :math:`w_{ii}`, 1 for
    binary weights, set before row standardisation as in esda), :math:`W_i = \\sum_j
    w_{ij}` and :math:`S_{1i} = \\sum_j w_{ij}^2` over the same ``j``:

    .. math::

        G_i^* = \\frac{\\sum_j w_{ij} x_j}{\\sum_j x_j}, \\quad E[G_i^*] = \\frac{W_i}{n},
        \\quad z_i = \\frac{\\sum_j w_{ij} x_j - \\bar x W_i}
                     {s \\sqrt{(n S_{1i} - W_i^2)/(n-1)}}

    with :math:`\\bar x` and :math:`s^2 = \\frac1n\\sum_j (x_j - \\bar x)^2` over all
    cells (Ord & Getis 1995); :math:`V[G_i^*] = s^2 (n S_{1i} - W_i^2) / ((n-1) n^2
    \\bar x^2)`.  This z is valid for any weights: for binary weights it equals esda's
    (and ArcGIS's) :math:`G^*` z; for row-standardised weights esda's analytic z (which
    assumes :math:`S_{1i} = W_i`) is wrong and this one is right.  For :math:`G_i`
    (``star=False``) ``j`` runs over :math:`j \\ne i` and :math:`n, \\bar x, s` are
    replaced by :math:`n-1` and the mean and variance of the other cells.

    **p-values are two-sided by default.** ``p_norm`` is :math:`2\\Phi(-|z|)` (esda's
    ``G_Local.p_norm`` is one-sided); ``p_sim`` is the conditional-randomisation p-value
    :math:`\\min\\{1, 2\\min(P_\\ge, P_\\le)\\}` of the neighbourhood sum (``x_i`` fixed),
    exact where possible and Monte Carlo otherwise (column ``p_method``, see the module
    docstring); ``p_fdr`` the Benjamini–Hochberg adjusted p-values.
    ``alternative="greater"`` tests for hot spots only, ``"less"`` for cold spots.

    ``bin`` follows ArcGIS's Gi_Bin: +3/+2/+1 for hot spots at 99/95/90 % confidence
    (p <= 0.01/0.05/0.10 of ``p_fdr`` when ``fdr`` else of ``p_sim``, or ``p_norm``
    without permutations), -3/-2/-1 for cold spots, 0 otherwise.  The direction is the
    smaller permutation tail (the sign of ``z`` for normal p-values).

    Parameters
    ----------
    y : pandas.Series or array_like
        The variable (counts or other values; the z-score does not need positivity).
    graph : libpysal.graph.Graph
        Spatial weights.
    star : bool, default True
        G* (the focal cell included) or G.
    permutations, seed, alternative, fdr, alpha, exact
        As in :func:`local_moran`.  ``alpha`` is reported in ``attrs``; ``bin`` uses the
        three ArcGIS levels.
    transform : {"b", "r"}, default "b"
        Binary (ArcGIS's default for Gi*) or row-standardised weights.

    Returns
    -------
    pandas.DataFrame
        Aligned to ``y``'s index: ``G``, ``EG``, ``VG``, ``z``, ``p_norm``, ``p_sim``,
        ``p_fdr``, ``bin``, ``p_method``; parameters and bin counts in ``attrs``.

    Raises
    ------
    geo.errors.StatisticsError, geo.errors.InputError, geo.errors.GraphError
        As :func:`local_moran`.

    Examples
    --------
    {lattice}
    {hot_corner}
    >>> lg = local_g(y, g, seed=0)
    >>> int((lg["bin"] == 3).sum())
    5
    """
    permutations, d, w = _setup(y, graph, permutations=permutations, alternative=alternative, transform=transform,
                                allowed=("b", "r"), self_weight="star" if star else None, alpha=alpha, exact=exact)
    tails = _conditional_tails(d.y, w, permutations, seed, exact)
    return _local_g_frame(d, w, tails, bool(star), permutations, seed, alternative, fdr, alpha, exact)


def _local_g_frame(d, w, tails, star, permutations, seed, alternative, fdr, alpha, exact) -> pd.DataFrame:
    cols = _local_g_columns(d.y, w, tails, star, alternative, fdr)
    out = _frame(d, cols)
    out.attrs = {
        "statistic": "Getis-Ord G*" if star else "Getis-Ord G",
        "variable": None if d.name is None else str(d.name),
        "star": star,
        **_local_options(w, len(d.y), alternative, permutations, seed, exact, fdr, alpha),
        "bins": {str(b): int(c) for b, c in zip(*np.unique(cols["bin"], return_counts=True))},
        "p_method": _counts(tails.method),
    }
    return out


def _local_g_columns(x: np.ndarray, w: _W, tails: _Tails, star: bool, alternative: str, fdr: bool) -> dict[str, np.ndarray]:
    """The columns of :func:`local_g` for every position of ``x`` (graph order): ``G``, ``EG``,
    ``VG``, ``z``, ``p_norm``, ``p_sim``, ``p_fdr``, ``bin``, ``p_method``."""
    n = len(x)
    lag = _lag(w, x)
    w_off = _row_reduce(w.indptr, w.data, "sum")
    s1_off = _row_reduce(w.indptr, w.data**2, "sum")
    total = float(x.sum())
    xbar = total / n
    ss = float(((x - xbar) ** 2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        if star:
            num = lag + w.diag * x
            wi = w_off + w.diag
            s1 = s1_off + w.diag**2
            g = num / total
            eg = wi / n
            s2 = ss / n
            q = (n * s1 - wi**2) / (n - 1)
            vg = s2 * q / (n**2 * xbar**2)
            zs = (num - xbar * wi) / np.sqrt(s2 * q)
        else:
            nn = n - 1
            xbar_i = (total - x) / nn
            ss_i = (ss - (x - xbar) ** 2) - nn * (xbar_i - xbar) ** 2
            s2_i = ss_i / nn
            wi, s1 = w_off, s1_off
            g = lag / (total - x)
            eg = wi / nn
            q = (nn * s1 - wi**2) / (nn - 1)
            vg = s2_i * q / (nn**2 * xbar_i**2)
            zs = (lag - xbar_i * wi) / np.sqrt(s2_i * q)
    zs = np.where(w.k > 0, zs, np.nan)
    p_norm = _inference.normal_p(zs, alternative)
    p_sim = _inference.tail_p(tails.p_upper, tails.p_lower, alternative)
    p_used = _used_p(p_sim, p_norm, tails.method)
    p_fdr = _inference.fdr_bh(p_used)
    p_bin = np.nan_to_num(p_fdr if fdr else p_used, nan=1.0)
    if alternative == "greater":
        direction = np.ones(n, dtype=np.int64)
    elif alternative == "less":
        direction = -np.ones(n, dtype=np.int64)
    else:
        direction = np.where(
            tails.method == "normal",
            np.sign(np.nan_to_num(zs)),
            np.where(tails.p_upper < tails.p_lower, 1, np.where(tails.p_lower < tails.p_upper, -1, 0)),
        ).astype(np.int64)
    level = np.where(p_bin <= 0.01, 3, np.where(p_bin <= 0.05, 2, np.where(p_bin <= 0.10, 1, 0)))
    bins = (direction * level).astype(np.int64)
    return {"G": g, "EG": eg, "VG": vg, "z": zs, "p_norm": p_norm, "p_sim": p_sim,
            "p_fdr": p_fdr, "bin": bins, "p_method": tails.method}


# =======================================================================================
# hot spots
# =======================================================================================

_HOT_STATISTICS = ("gi*", "gi", "lisa", "both")
#: the columns :func:`hotspots` adds -> the column of :func:`local_g` / :func:`local_moran` they copy
_GI_COLUMNS = {"gi_G": "G", "gi_z": "z", "gi_p_norm": "p_norm", "gi_p": "p_sim", "gi_p_fdr": "p_fdr",
               "gi_bin": "bin", "gi_p_method": "p_method"}
_LISA_COLUMNS = {"lisa_I": "I", "lisa_z": "z", "lisa_p": "p_sim", "lisa_p_fdr": "p_fdr",
                 "lisa_quadrant": "quadrant", "lisa_label": "label"}


def hotspots(
    cells: gpd.GeoDataFrame,
    column: str,
    *,
    graph: Graph | None = None,
    kind: str = "queen",
    statistic: str = "gi*",
    alpha: float = 0.05,
    fdr: bool = True,
    permutations: int = 999,
    seed: int | np.random.Generator | None = 0,
    alternative: str = "two-sided",
    exact: str | bool = "auto",
) -> gpd.GeoDataFrame:
    """Hot and cold spots of a cell variable: Gi* and/or LISA columns on a copy of ``cells``.

    Parameters
    ----------
    cells : geopandas.GeoDataFrame
        Cells (e.g. from :func:`geo.aggregate`); not modified.
    column : str
        The variable, e.g. ``"n_firms"``.
    graph : libpysal.graph.Graph, optional
        Weights with ids = ``cells.index``; built with ``geo.weights(cells, kind=kind)``
        when omitted.
    kind : str, default "queen"
        Weights kind when ``graph`` is omitted.
    statistic : {"gi*", "gi", "lisa", "both"}, default "gi*"
        ``"both"`` adds Gi* and LISA columns.
    alpha : float, default 0.05
        Significance level of the LISA labels and of the hot/cold counts.
    fdr : bool, default True
        Benjamini–Hochberg adjusted p-values for labels, bins and counts.
    permutations, seed, alternative, exact
        As in :func:`local_g`; **p-values are two-sided by default**.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy of ``cells`` with, for Gi/Gi*: ``gi_G``, ``gi_z``, ``gi_p_norm``, ``gi_p``
        (conditional-randomisation p), ``gi_p_fdr``, ``gi_bin``, ``gi_p_method``; for
        LISA: ``lisa_I``, ``lisa_z``, ``lisa_p``, ``lisa_p_fdr``, ``lisa_quadrant``,
        ``lisa_label``.  ``attrs["hotspots"]`` records the parameters, the seed and the
        number of hot and cold cells (Gi*: ``p <= alpha`` with positive / negative
        direction) and of each LISA label.

    Examples
    --------
    >>> import numpy as np, geopandas as gpd, shapely
    >>> i, j = np.meshgrid(np.arange(8), np.arange(8))
    >>> cells = gpd.GeoDataFrame({"n_firms": (((i < 3) & (j < 3)) * 5).ravel()},
    ...                          geometry=shapely.box(i.ravel(), j.ravel(), i.ravel() + 1, j.ravel() + 1),
    ...                          crs=32650)
    >>> hot = hotspots(cells, "n_firms", statistic="both")
    >>> hot.attrs["hotspots"]["n_hot"], hot.attrs["hotspots"]["lisa_labels"]["HH"]
    (6, 6)
    """
    if not isinstance(cells, gpd.GeoDataFrame):
        msg = f"`cells` must be a GeoDataFrame; {type(cells).__name__} was given."
        raise InputError(msg)
    if column not in cells.columns:
        msg = (
            f"`column` must be a column of `cells`; {column!r} was given. Available: "
            f"{', '.join(map(str, cells.columns))}."
        )
        raise ColumnError(msg)
    if statistic not in _HOT_STATISTICS:
        msg = f"`statistic` must be one of {', '.join(map(repr, _HOT_STATISTICS))}; {statistic!r} was given."
        raise InputError(msg)
    permutations = _check_common(permutations, alternative, alpha, exact)
    if graph is None:
        from geo.cells.graph import weights as _build

        graph = _build(cells, kind=kind)
        kind_used = kind
    else:
        kind_used = "given"
    y = cells[column]
    d = _prepare(y, graph)
    out = cells.copy()
    info: dict[str, Any] = {
        "column": column,
        "statistic": statistic,
        "weights": kind_used,
        "alpha": float(alpha),
        "fdr": bool(fdr),
        "permutations": permutations,
        "seed": seed_record(seed),
        "alternative": alternative,
        "exact": exact,
    }
    base_seed = seed_int(seed) if isinstance(seed, np.random.Generator) else seed
    shared: tuple[_W, _Tails] | None = None
    if statistic in ("gi*", "gi", "both"):
        star = statistic != "gi"
        wg = _weights(graph, "b", self_weight="star" if star else None)
        tg = _conditional_tails(d.y, wg, permutations, base_seed, exact)
        shared = (wg, tg)
        lg = _local_g_frame(d, wg, tg, star, permutations, seed, alternative, fdr, alpha, exact)
        for name, col in _GI_COLUMNS.items():
            out[name] = lg[col].to_numpy()
        p_use = lg["p_fdr"] if fdr else np.where(lg["p_method"] == "normal", lg["p_norm"], lg["p_sim"])
        sig = np.nan_to_num(np.asarray(p_use, dtype=float), nan=1.0) <= alpha
        info["gi_statistic"] = "G*" if star else "G"
        info["n_hot"] = int((sig & (lg["bin"].to_numpy() > 0)).sum())
        info["n_cold"] = int((sig & (lg["bin"].to_numpy() < 0)).sum())
        info["gi_bins"] = lg.attrs["bins"]
        info["gi_p_method"] = lg.attrs["p_method"]
    if statistic in ("lisa", "both"):
        wm = _weights(graph, "r")
        if shared is not None and _same_sums(shared[0], wm):
            tm = shared[1]  # identical neighbourhood sums: reuse the exact/MC tails
        else:
            tm = _conditional_tails(d.y, wm, permutations, base_seed, exact)
        lm = _local_moran_frame(d, wm, tm, permutations, seed, alternative, fdr, alpha, exact)
        for name, col in _LISA_COLUMNS.items():
            out[name] = lm[col].to_numpy()
        info["lisa_labels"] = {k: lm.attrs["labels"].get(k, 0) for k in ("HH", "LL", "HL", "LH", "ns")}
        info["lisa_p_method"] = lm.attrs["p_method"]
    out.attrs = dict(cells.attrs)
    out.attrs["hotspots"] = info
    return out


def _same_sums(a: _W, b: _W) -> bool:
    """Both weight sets have the same neighbours and equal weights within every row, so
    the conditional tails of their neighbourhood sums coincide."""
    return (
        np.array_equal(a.indptr, b.indptr)
        and np.array_equal(a.indices, b.indices)
        and bool(np.all(a.equal[a.k > 0]))
        and bool(np.all(b.equal[b.k > 0]))
    )


# =======================================================================================
# incremental spatial autocorrelation
# =======================================================================================


def incremental_moran(
    cells_or_points: gpd.GeoDataFrame,
    y: str | Any,
    *,
    distances: Any = None,
    n_bands: int = 10,
    start: float | None = None,
    increment: float | None = None,
    transform: str = "r",
    alternative: str = "two-sided",
) -> pd.DataFrame:
    """Global Moran's I over increasing distance bands (ArcGIS *Incremental Spatial
    Autocorrelation*), with the first and the highest peak of its z-score.

    For each distance band ``d`` the weights link centroids at most ``d`` apart
    (binary, then ``transform``, row-standardised by default as in ArcGIS) and global
    Moran's I, E[I], the randomisation variance, ``z`` and its p-value (two-sided by
    default) are computed (see :func:`global_moran`).  A *peak* is a band whose ``z``
    exceeds that of both adjacent bands; peaks mark distances at which the spatial
    processes promoting clustering are most pronounced.

    Parameters
    ----------
    cells_or_points : geopandas.GeoDataFrame
        Cells or points; geographic data are projected to the local metric CRS.
    y : str or array_like
        A column name, or values aligned to the rows (a Series by index).
    distances : array_like, optional
        Increasing band distances in metres.  Default: ``n_bands`` bands
        ``start + j * increment``.
    n_bands : int, default 10
    start : float, optional
        Default: the largest nearest-neighbour distance, so every feature has at least
        one neighbour (ArcGIS's default beginning distance).
    increment : float, optional
        Default: the mean nearest-neighbour distance.
    transform : {"r", "b"}, default "r"
    alternative : {"two-sided", "greater", "less"}, default "two-sided"

    Returns
    -------
    pandas.DataFrame
        One row per band: ``distance``, ``I``, ``EI``, ``VI``, ``z``, ``p``,
        ``mean_neighbours``, ``n_islands``.  ``attrs``: ``first_peak`` and
        ``max_peak`` (distance or None), ``first_peak_z``, ``max_peak_z``, ``start``,
        ``increment``, ``metric_crs``.

    Examples
    --------
    >>> import numpy as np, geopandas as gpd, shapely
    >>> i, j = np.meshgrid(np.arange(20), np.arange(20))
    >>> pts = gpd.GeoDataFrame({"v": np.sin(i.ravel() / 3.0) + np.cos(j.ravel() / 3.0)},
    ...                        geometry=shapely.points(i.ravel() * 100.0, j.ravel() * 100.0), crs=32650)
    >>> curve = incremental_moran(pts, "v", n_bands=5)
    >>> curve["distance"].tolist()
    [100.0, 200.0, 300.0, 400.0, 500.0]
    """
    transform = _check_transform(transform, ("r", "b"))
    _inference.check_alternative(alternative)
    if not isinstance(cells_or_points, gpd.GeoDataFrame):
        msg = f"`cells_or_points` must be a GeoDataFrame; {type(cells_or_points).__name__} was given."
        raise InputError(msg)
    gdf = cells_or_points
    if isinstance(y, str):
        if y not in gdf.columns:
            msg = f"`y` must be a column of the table; {y!r} was given."
            raise ColumnError(msg)
        vals = gdf[y].to_numpy(dtype=float)
    elif isinstance(y, pd.Series):
        if not y.index.equals(gdf.index):
            if set(y.index) != set(gdf.index) or not y.index.is_unique:
                msg = "`y` must be indexed like the table (same labels)."
                raise InputError(msg)
            y = y.reindex(gdf.index)
        vals = y.to_numpy(dtype=float)
    else:
        vals = np.asarray(y, dtype=float).ravel()
        if len(vals) != len(gdf):
            msg = f"`y` has {len(vals)} values for {len(gdf)} rows."
            raise InputError(msg)
    if gdf.crs is None:
        msg = "`cells_or_points` has no CRS; set it first."
        raise CRSError(msg)
    crs = pyproj.CRS.from_user_input(gdf.crs)
    cent = shapely.centroid(np.asarray(gdf.geometry.values))
    cx, cy = shapely.get_x(cent), shapely.get_y(cent)
    metric = crs
    if not crs.is_projected:
        from geo.crs import metric_crs_for

        metric = metric_crs_for(gdf)
        cx, cy = pyproj.Transformer.from_crs(crs, metric, always_xy=True).transform(cx, cy)
    xy = np.column_stack([cx, cy])
    if not np.isfinite(xy).all():
        msg = "Some geometries are missing or empty; drop them first."
        raise InputError(msg)
    _check_values(vals)
    tree = cKDTree(xy)
    dist, _ = tree.query(xy, k=2)
    nn = dist[:, 1]
    if distances is None:
        st = float(nn.max()) if start is None else float(start)
        inc = float(nn.mean()) if increment is None else float(increment)
        if not (st > 0 and inc > 0) or n_bands < 1:
            msg = "`start`, `increment` and `n_bands` must be positive."
            raise InputError(msg)
        bands = st + inc * np.arange(int(n_bands))
    else:
        bands = np.asarray(distances, dtype=float).ravel()
        if bands.size == 0 or np.any(~np.isfinite(bands)) or np.any(bands <= 0) or np.any(np.diff(bands) <= 0):
            msg = "`distances` must be positive and strictly increasing."
            raise InputError(msg)
        st, inc = float(bands[0]), (float(np.diff(bands).mean()) if bands.size > 1 else float("nan"))
    n = len(vals)
    rows = []
    for dband in bands:
        pairs = tree.query_pairs(dband * (1 + 1e-9), output_type="ndarray")
        r = np.concatenate([pairs[:, 0], pairs[:, 1]])
        c = np.concatenate([pairs[:, 1], pairs[:, 0]])
        a = sparse.csr_array((np.ones(len(r)), (r, c)), shape=(n, n))
        deg = np.asarray(a.sum(axis=1)).ravel()
        if transform == "r":
            inv = np.where(deg > 0, 1.0 / np.where(deg > 0, deg, 1.0), 0.0)
            a = sparse.csr_array(sparse.diags_array(inv) @ a)
        if a.nnz == 0:
            rows.append((dband, np.nan, -1.0 / (n - 1), np.nan, np.nan, np.nan, 0.0, n))
            continue
        gs = _global_stats(vals, a)
        rows.append((dband, gs["I"], gs["EI"], gs["VI_rand"], gs["z_rand"],
                     _inference.normal_p(gs["z_rand"], alternative), float(deg.mean()), int((deg == 0).sum())))
    out = pd.DataFrame(rows, columns=["distance", "I", "EI", "VI", "z", "p", "mean_neighbours", "n_islands"])
    zv = out["z"].to_numpy()
    peaks = _peaks(zv)
    first = peaks[0] if peaks else None
    best = max(peaks, key=lambda j: zv[j]) if peaks else None
    out.attrs = {
        "first_peak": None if first is None else float(out["distance"].iloc[first]),
        "first_peak_z": None if first is None else float(zv[first]),
        "max_peak": None if best is None else float(out["distance"].iloc[best]),
        "max_peak_z": None if best is None else float(zv[best]),
        "start": float(st),
        "increment": float(inc),
        "transform": transform,
        "alternative": alternative,
        "metric_crs": metric.to_string(),
        "peak_rule": "z greater than at both adjacent bands",
    }
    if not peaks:
        logger.info("incremental_moran: no peak in z over %d bands", len(bands))
    return out


def _peaks(z: np.ndarray) -> list[int]:
    """Positions whose value exceeds both neighbours (interior points only)."""
    z = np.asarray(z, dtype=float)
    return [j for j in range(1, len(z) - 1) if z[j] > z[j - 1] and z[j] > z[j + 1]]
