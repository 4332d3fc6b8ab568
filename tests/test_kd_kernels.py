"""The compiled kernels of geo.stats._kd_kernels against plain NumPy / shapely references.

The kernels were rewritten for speed (sliced rows, unsigned histogram offsets, per-thread
histograms, a radix sort, batched pair counts, a compiled boundary distance) with the same
numbers: sorts, counts and histograms are compared exactly, sums within rounding.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
import shapely

from geo.stats import _kd_kernels as K
from geo.stats import pointpattern as pp

L_HOLE = shapely.Polygon([(0, 0), (10, 0), (10, 4), (4, 4), (4, 10), (0, 10)],
                         holes=[[(1, 1), (2, 1), (2, 2), (1, 2)]])
TWO = shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(2, 0, 3.5, 1.3)])


# --------------------------------------------------------------------------------------
# stable argsort
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [
    np.random.default_rng(0).normal(0, 1e5, 5_000),
    np.random.default_rng(1).integers(0, 7, 3_000).astype(float),  # many ties
    np.array([0.0, -0.0, 3.0, -0.0, -1e300, 1e300, 5e-324, -5e-324, 0.0, -2.5, -2.5]),
    np.array([2.0]),
    np.empty(0),
], ids=["normal", "ties", "signed-zero-and-extremes", "one", "empty"])
def test_stable_argsort_is_numpys(values):
    np.testing.assert_array_equal(K.stable_argsort(values), np.argsort(values, kind="stable"))


# --------------------------------------------------------------------------------------
# pair-distance summary (bandwidth, median)
# --------------------------------------------------------------------------------------


def _brute_summary(xs, ys, nq, dmax):
    i, j = np.triu_indices(len(xs), 1)
    d = np.sqrt((xs[j] - xs[i]) ** 2 + (ys[j] - ys[i]) ** 2)
    b = np.minimum((d * (nq / dmax)).astype(np.int64), nq - 1)
    return np.array([d.size, d.sum(), (d * d).sum()]), np.bincount(b, minlength=nq)


def test_distance_summary_matches_brute_force_whatever_the_threads():
    rng = np.random.default_rng(3)
    xs = np.sort(rng.uniform(0, 1_000, 700))
    ys = rng.normal(0, 300, 700)
    xs[5:9] = xs[4]  # ties and a duplicate point
    ys[8] = ys[7]
    nq, dmax = 4_096, 3_000.0
    sums, hist = _brute_summary(xs, ys, nq, dmax)
    before = numba.get_num_threads()
    got = []
    try:
        for threads in sorted({1, before}):
            numba.set_num_threads(threads)
            got.append(K.distance_summary(xs, ys, nq, dmax))
            got.append(K.distance_summary(xs, ys, nq, dmax, False))
    finally:
        numba.set_num_threads(before)
    for s, h in got:
        np.testing.assert_array_equal(h, hist)  # counts: exact
        assert s[0] == sums[0]
    for s, _h in got[::2]:
        np.testing.assert_allclose(s, sums, rtol=1e-12)
        # the sums are taken in a fixed order: the same bits on any number of threads
        np.testing.assert_array_equal(s, got[0][0])
    for s, _h in got[1::2]:
        assert s[1] == 0.0 and s[2] == 0.0  # moments not computed


# --------------------------------------------------------------------------------------
# moment histograms of the Kd kernel
# --------------------------------------------------------------------------------------


def _brute_moments(xs, ys, ws, delta, nbins, weighted):
    i, j = np.triu_indices(len(xs), 1)
    d = np.sqrt((xs[j] - xs[i]) ** 2 + (ys[j] - ys[i]) ** 2)
    b = np.minimum((d * (1.0 / delta)).astype(np.int64), nbins)
    e = d - (b + 0.5) * delta
    w = ws[i] * ws[j] if weighted else np.ones(d.size)
    keep = b < nbins
    out = np.zeros((nbins, 3))
    for c, v in enumerate((w, w * e, w * e * e)):
        out[:, c] = np.bincount(b[keep], weights=v[keep], minlength=nbins)
    return out


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("cells", [False, True])
def test_pair_moments_match_brute_force(weighted, cells):
    rng = np.random.default_rng(4)
    xy = np.vstack([rng.uniform(0, 5_000, (400, 2)), rng.normal(2_500, 150, (200, 2))])
    xy = xy[np.argsort(xy[:, 0], kind="stable")]
    xs, ys = xy[:, 0].copy(), xy[:, 1].copy()
    ws = rng.gamma(2.0, 5.0, len(xs))
    delta = 12.5
    nbins = 80  # reach 1 km: many pairs fall in the overflow rows
    hist = np.full((nbins + K.OVERFLOW_ROWS, 4), np.nan)
    run = K.pair_moments_cells if cells else K.pair_moments
    run(xs, ys, ws, delta, nbins, nbins * delta, hist, weighted)
    want = _brute_moments(xs, ys, ws, delta, nbins, weighted)
    if not weighted:
        np.testing.assert_array_equal(hist[:nbins, 0], want[:, 0])  # pair counts: exact
    np.testing.assert_allclose(hist[:nbins, :3], want, rtol=1e-10, atol=1e-9 * delta**2)


def test_kernel_band_is_the_reflected_normal_and_its_derivatives():
    """Bin b of grid point r holds, at the bin centre c = (b + 1/2) delta, K(c) = phi((r - c) / h)
    + phi((r + c) / h) (scipy's normal density), K'(c) and K''(c) / 2 (central differences of
    K); the bands hold every bin where K is not negligible, and lie end to end."""
    from scipy.stats import norm

    for r, h, nbins in [(np.linspace(0, 14_500, 201), 341.2, 974),
                        (np.array([0.0, 1.0, 2.0, 2.5]), 0.3, 400),
                        (np.sort(np.random.default_rng(5).uniform(0, 1e4, 57)), 120.0, 1_900)]:
        delta = h / 20
        lo, hi, off, kv = pp._kernel_band(r, h, delta, nbins)
        widths = hi - lo
        assert (widths >= 0).all() and (lo >= 0).all() and (hi <= nbins).all()
        np.testing.assert_array_equal(off, np.r_[0, np.cumsum(widths)[:-1]])
        assert len(kv) == widths.sum()

        def kernel(rg, c, h=h):
            return norm.pdf((rg - c) / h) + norm.pdf((rg + c) / h)

        g = np.repeat(np.arange(len(r)), widths)
        c = (np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)]) + 0.5) * delta
        rg = r[g]
        np.testing.assert_allclose(kv[:, 0], kernel(rg, c), rtol=1e-12, atol=1e-300)
        eps = 1e-3 * h
        d1 = (kernel(rg, c + eps) - kernel(rg, c - eps)) / (2 * eps)
        d2 = (kernel(rg, c + eps) - 2 * kernel(rg, c) + kernel(rg, c - eps)) / eps**2
        np.testing.assert_allclose(kv[:, 1], d1, rtol=0, atol=1e-6 / h)
        np.testing.assert_allclose(kv[:, 2], d2 / 2, rtol=0, atol=1e-5 / h**2)
        # outside its band no bin of a grid point carries more than 1e-7 of the kernel's peak
        centres = (np.arange(nbins) + 0.5) * delta
        for k in range(len(r)):
            out = np.ones(nbins, dtype=bool)
            out[lo[k]:hi[k]] = False
            assert kernel(r[k], centres[out]).max(initial=0.0) < 1e-7 * norm.pdf(0)


# --------------------------------------------------------------------------------------
# Ripley: batched pair counts, boundary distances
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("border", [False, True])
def test_k_pair_counts_many_equal_one_at_a_time(border):
    rng = np.random.default_rng(6)
    r = np.linspace(0.0, 2.0, 9)
    pats = [rng.uniform(0, 10, (n, 2)) for n in (300, 0, 1, 2, 150)]
    pats.append(np.array([(x, y) for x in range(6) for y in range(6)], dtype=float))  # ties
    stops = [rng.integers(0, len(r) + 1, len(p)).astype(np.int64) for p in pats]
    xy = np.concatenate(pats)
    starts = np.concatenate([[0], np.cumsum([len(p) for p in pats])])
    got = K.k_pair_counts_many(xy[:, 0].copy(), xy[:, 1].copy(), starts, r,
                               np.concatenate(stops), border)
    for p, (pat, stop) in enumerate(zip(pats, stops)):
        want = K.k_pair_counts(pat[:, 0].copy(), pat[:, 1].copy(), r, stop, border)
        np.testing.assert_array_equal(got[p], want)
    assert not got[1].any() and not got[2].any()  # no pair among fewer than two points


@pytest.mark.parametrize("window", [L_HOLE, TWO, shapely.box(0, 0, 1, 1)],
                         ids=["L-with-hole", "two-parts", "square"])
def test_boundary_distances_are_shapelys(window):
    rng = np.random.default_rng(7)
    xmin, ymin, xmax, ymax = window.bounds
    pts = rng.uniform([xmin - 1, ymin - 1], [xmax + 1, ymax + 1], (20_000, 2))
    verts = shapely.get_coordinates(window.boundary)
    pts = np.vstack([pts, verts, (verts[:-1] + verts[1:]) / 2])  # on vertices and edges
    got = K.boundary_distances(pts[:, 0].copy(), pts[:, 1].copy(), *pp._edges(window))
    want = shapely.distance(shapely.points(pts), window.boundary)
    # GEOS's point-to-segment arithmetic, reproduced: the same numbers, bit for bit
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("window", [
    shapely.box(0, 0, 3, 2),
    shapely.Polygon([(1000 * np.cos(t), 1000 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 7)[:-1]]),
    shapely.Polygon([(0, 0), (0, 3), (4, 3), (4, 0), (2, 0)]),  # clockwise, with a collinear vertex
])
def test_convex_circle_fractions_equal_the_crossing_algorithm(window):
    """Convex windows: one arc per edge line (the isotropic kernel's fast path) gives the
    fractions of the crossing-and-inside-test algorithm, boundary centres and circles larger
    than the window included."""
    from geo.stats import pointpattern as pp

    rng = np.random.default_rng(5)
    edges = pp._edges(window)
    lines = pp._convex_lines(edges)
    assert lines is not None and len(lines) == len(edges[0])
    c = pp._csr(window, 2000, rng)
    c[:20] = shapely.get_coordinates(window.exterior.interpolate(rng.uniform(0, window.length, 20)))
    xmin, ymin, xmax, ymax = window.bounds
    d = rng.uniform(0, 1.2 * max(xmax - xmin, ymax - ymin), len(c))
    want = K.circle_fractions(c[:, 0].copy(), c[:, 1].copy(), d, *edges)
    buf = np.empty(4 * len(lines) + 4)
    got = np.array([K._convex_fraction(x, y, r, lines, buf) for (x, y), r in zip(c, d)])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-11)
    assert (want == 0).any() and (want == 1).any() and ((want > 0) & (want < 1)).sum() > 1000


def test_convex_lines_only_for_convex_single_rings():
    from geo.stats import pointpattern as pp

    l_shape = shapely.Polygon([(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)])
    holed = shapely.box(0, 0, 3, 3).difference(shapely.box(1, 1, 2, 2))
    two = shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(2, 0, 3, 1)])
    for w in (l_shape, holed, two):
        assert pp._convex_lines(pp._edges(w)) is None
    # the unit square: outward normals and offsets by hand (c - n.p >= 0 inside)
    lines = pp._convex_lines(pp._edges(shapely.box(0, 0, 1, 1)))
    rows = {(round(nx), round(ny)): c for nx, ny, c, _t in lines}
    assert rows == {(1, 0): 1.0, (0, 1): 1.0, (-1, 0): 0.0, (0, -1): 0.0}


@pytest.mark.parametrize("convex", [True, False])
def test_isotropic_sums_do_not_depend_on_the_thread_count(convex):
    """16 fixed chunks, each summed in a fixed order: 1 thread and 2 give the same bits."""
    from geo.stats import pointpattern as pp

    window = shapely.box(0, 0, 10, 10) if convex else L_HOLE
    rng = np.random.default_rng(12)
    xy = pp._csr(window, 6_000, rng)  # above K_SERIAL_POINTS: the parallel kernel
    edges = pp._edges(window)
    lines = pp._convex_lines(edges)
    assert (lines is not None) == convex
    x, y = xy[:, 0].copy(), xy[:, 1].copy()
    b = K.boundary_distances(x, y, *edges)
    r = np.linspace(0, 2.5, 26)
    before = numba.get_num_threads()
    try:
        got = []
        for t in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(t)
            got.append(K.k_isotropic_sums(x, y, b, r, 100.0, *edges, lines))
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(got[0], got[1])
    assert got[0][:-1].sum() > len(xy)  # pairs were counted and weighted
