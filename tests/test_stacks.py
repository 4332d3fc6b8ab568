"""Tests of geo.io._stacks.find_stacks: stacked geocodes within a radius."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from geo.errors import InputError
from geo.io._stacks import M_PER_DEGREE, Stacks, find_stacks

LON0, LAT0 = 116.4, 39.9  # a city centre (Beijing)
KX0 = M_PER_DEGREE * math.cos(math.radians(LAT0))  # metres per degree of longitude there


def _to_deg(x_m: np.ndarray, y_m: np.ndarray, lon0: float = LON0, lat0: float = LAT0):
    """Local metres east/north of (lon0, lat0) to degrees, with the metric of find_stacks."""
    return lon0 + np.asarray(x_m) / (M_PER_DEGREE * math.cos(math.radians(lat0))), lat0 + np.asarray(y_m) / M_PER_DEGREE


def _disc(rng: np.random.Generator, n: int, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """n points uniform in a disc of ``radius`` metres around the origin (metres)."""
    a = rng.uniform(0, 2 * np.pi, n)
    r = radius * np.sqrt(rng.uniform(0, 1, n))
    return r * np.cos(a), r * np.sin(a)


# A verbatim copy of the logic of geo.io._stacked_groups (the exact rule), so that a change
# there does not silently change what radius 0 is compared with.
def _stacked_groups(x: np.ndarray, y: np.ndarray, stacked_min: int) -> tuple[np.ndarray, int]:
    ok = np.isfinite(x) & np.isfinite(y)
    hit = np.zeros(x.size, dtype=bool)
    if not ok.any():
        return hit, 0
    rx = np.round(x[ok], 7) + 0.0
    ry = np.round(y[ok], 7) + 0.0
    with np.errstate(over="ignore"):
        h = (rx.view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ ry.view(np.uint64)
    ordered = np.sort(h)
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    counts = np.diff(np.r_[starts, ordered.size])
    crowded = ordered[starts[counts >= stacked_min]]
    if crowded.size == 0:
        return hit, 0
    pos = np.minimum(np.searchsorted(crowded, h), crowded.size - 1)
    cand = np.flatnonzero(crowded[pos] == h)
    group, _ = pd.factorize(rx[cand] + 1j * ry[cand])
    size = np.bincount(group)
    keep = size[group] >= stacked_min
    hit[np.flatnonzero(ok)[cand[keep]]] = True
    return hit, int(np.unique(group[keep]).size)


def _reference(lon: np.ndarray, lat: np.ndarray, radius: float, min_size: int) -> tuple[np.ndarray, pd.DataFrame]:
    """The definition by brute force: every pair of locations, no grid, no heap."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    site = np.full(lon.size, -1, dtype=np.int64)
    rows = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
    rx = np.round(lon[rows], 7) + 0.0
    ry = np.round(lat[rows], 7) + 0.0
    order = np.lexsort((rx, ry))  # locations in (lat, lon) order
    new = np.r_[True, (np.diff(rx[order]) != 0) | (np.diff(ry[order]) != 0)]
    loc_of_sorted = np.cumsum(new) - 1
    loc = np.empty(rows.size, dtype=np.int64)
    loc[order] = loc_of_sorted
    llon, llat = rx[order][new], ry[order][new]
    w = np.bincount(loc, minlength=llon.size)
    kx = M_PER_DEGREE * np.cos(np.radians(llat))
    d2 = ((llon[None, :] - llon[:, None]) * kx[:, None]) ** 2 + ((llat[None, :] - llat[:, None]) * M_PER_DEGREE) ** 2
    within = d2 <= radius * radius
    alive = np.ones(llon.size, dtype=bool)
    loc_site = np.full(llon.size, -1, dtype=np.int64)
    table = []
    while alive.any():
        wa = np.where(alive, w, 0)
        n_near = np.where(alive, within.astype(np.int64) @ wa, -1)
        s = np.floor(np.maximum((np.where(within, d2, 0.0)) @ wa, 0.0) * 1e6 + 0.5)
        best = np.lexsort((np.arange(llon.size), s, -n_near))[0]
        if n_near[best] < min_size:
            break
        members = within[best] & alive
        loc_site[members] = len(table)
        alive[members] = False
        table.append((len(table), llon[best], llat[best], int(w[members].sum()), math.sqrt(d2[best][members].max())))
    site[rows] = loc_site[loc]
    sites = pd.DataFrame(table, columns=["site", "lon", "lat", "n", "spread_m"])
    return site, sites


def _mixed_sample(seed: int, lon0: float = LON0, lat0: float = LAT0) -> tuple[np.ndarray, np.ndarray]:
    """~1,300 points in a 300 m square: background, exact stacks, jittered crowds of several
    widths and sizes around min_size, a dense street; lon/lat degrees."""
    rng = np.random.default_rng(seed)
    xs, ys = [rng.uniform(0, 300, 700)], [rng.uniform(0, 300, 700)]
    for size in (4, 9, 10, 11, 30):  # exact stacks
        c = rng.uniform(20, 280, 2)
        xs.append(np.full(size, c[0]))
        ys.append(np.full(size, c[1]))
    for size, width in ((12, 0.5), (40, 0.5), (25, 3.0), (60, 8.0), (20, 15.0), (8, 1.0), (15, 6.0)):
        c = rng.uniform(20, 280, 2)
        dx, dy = _disc(rng, size, width)
        xs.append(c[0] + dx)
        ys.append(c[1] + dy)
    for k in range(3):  # a crowd on a few coordinates 0.5 m apart
        c = rng.uniform(20, 280, 2)
        px, py = _disc(rng, 4, 0.5)
        pick = rng.integers(0, 4, 30)
        xs.append(c[0] + px[pick])
        ys.append(c[1] + py[pick])
    street = np.arange(0, 300, 2.5)  # firms every 2.5 m along a street
    xs.append(street)
    ys.append(np.full(street.size, 150.0))
    x, y = np.concatenate(xs), np.concatenate(ys)
    perm = rng.permutation(x.size)
    return _to_deg(x[perm], y[perm], lon0, lat0)


def _member_distance(lon, lat, res: Stacks) -> np.ndarray:
    """Distance in metres of each stacked row from its site's centre (find_stacks' metric)."""
    hit = np.flatnonzero(res.site >= 0)
    c = res.sites.set_index("site").loc[res.site[hit]]
    rx = np.round(np.asarray(lon)[hit], 7)
    ry = np.round(np.asarray(lat)[hit], 7)
    dx = (rx - c["lon"].to_numpy()) * M_PER_DEGREE * np.cos(np.radians(c["lat"].to_numpy()))
    dy = (ry - c["lat"].to_numpy()) * M_PER_DEGREE
    return np.hypot(dx, dy)


# ----------------------------------------------------------------------------- radius 0
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("min_size", [2, 5, 10])
def test_radius_zero_is_the_exact_rule(seed, min_size):
    rng = np.random.default_rng(seed)
    n = 60_000
    lon = rng.uniform(116.2, 116.6, n)
    lat = rng.uniform(39.7, 40.1, n)
    # planted exact stacks of sizes around min_size, written with raw values that differ
    # below the rounding (so only the rounded coordinate makes them one place)
    at = 0
    for size in (1, min_size - 1, min_size, min_size + 1, 3 * min_size, 500):
        c = (rng.uniform(116.2, 116.6), rng.uniform(39.7, 40.1))
        lon[at:at + size] = np.round(c[0], 7) + rng.uniform(-4e-8, 4e-8, size)
        lat[at:at + size] = np.round(c[1], 7) + rng.uniform(-4e-8, 4e-8, size)
        at += size
    # a coarse lattice: many chance coincidences of every size
    k = 20_000
    lon[at:at + k] = 116.3 + rng.integers(0, 60, k) * 1e-7
    lat[at:at + k] = 39.8 + rng.integers(0, 60, k) * 1e-7
    at += k
    lon[at:at + 50] = np.where(rng.uniform(size=50) < 0.5, 0.0, -0.0)  # -0.0 and 0.0 are one place
    lat[at:at + 50] = 0.0
    at += 50
    lon[at:at + 30] = np.nan  # NaN rows, some at a stacked latitude
    lat[at:at + 15] = 39.8
    lat[at + 30:at + 45] = np.inf
    perm = rng.permutation(n)
    lon, lat = lon[perm], lat[perm]

    hit, nsites = _stacked_groups(lon, lat, min_size)
    res = find_stacks(lon, lat, radius_m=0.0, min_size=min_size)
    assert nsites > 3
    np.testing.assert_array_equal(res.site >= 0, hit)
    assert len(res.sites) == nsites
    # each site is one rounded coordinate, with all its rows
    assert (res.sites["spread_m"] == 0).all()
    np.testing.assert_array_equal(np.bincount(res.site[hit], minlength=nsites), res.sites["n"])


# ----------------------------------------------------------------------------- jittered stacks
def _background_without(rng, n, centre_m, clear_m, half_m=15_000.0):
    """n points uniform in a square of side 2 * half_m, none within clear_m of centre_m."""
    x = rng.uniform(-half_m, half_m, n)
    y = rng.uniform(-half_m, half_m, n)
    keep = np.hypot(x - centre_m[0], y - centre_m[1]) > clear_m
    return x[keep], y[keep]


def test_jittered_stack_on_several_coordinates_is_one_site():
    rng = np.random.default_rng(7)
    centre = np.array([1234.0, -567.0])
    px, py = _disc(rng, 6, 0.5)  # six fallback coordinates within 0.5 m of the centre
    pick = rng.integers(0, 6, 2082)
    bx, by = _background_without(rng, 50_000, centre, 20.0)
    x = np.r_[centre[0] + px[pick], bx]
    y = np.r_[centre[1] + py[pick], by]
    lon, lat = _to_deg(x, y)

    res = find_stacks(lon, lat, radius_m=5.0)
    assert len(res.sites) == 1
    s = res.sites.iloc[0]
    assert s["n"] == 2082
    np.testing.assert_array_equal(np.flatnonzero(res.site == 0), np.arange(2082))
    clon, clat = _to_deg(*centre)
    dist = math.hypot((s["lon"] - clon) * KX0, (s["lat"] - clat) * M_PER_DEGREE)
    assert dist < 1.0
    assert s["spread_m"] <= 1.0 + 1e-9
    # the exact rule splits it into its coordinates
    assert _stacked_groups(lon, lat, 10)[1] == np.unique(pick).size > 1


def test_jittered_stack_every_row_its_own_coordinate():
    rng = np.random.default_rng(11)
    centre = np.array([-3000.0, 2500.0])
    jx, jy = _disc(rng, 2082, 0.5)
    bx, by = _background_without(rng, 50_000, centre, 20.0)
    lon, lat = _to_deg(np.r_[centre[0] + jx, bx], np.r_[centre[1] + jy, by])
    assert _stacked_groups(lon, lat, 10)[1] == 0  # exact matching finds nothing

    res = find_stacks(lon, lat, radius_m=5.0)
    assert len(res.sites) == 1
    s = res.sites.iloc[0]
    assert s["n"] == 2082
    clon, clat = _to_deg(*centre)
    # the centre is the medoid of the crowd: close to its middle, not on its rim
    assert math.hypot((s["lon"] - clon) * KX0, (s["lat"] - clat) * M_PER_DEGREE) < 0.2
    assert 0.4 < s["spread_m"] < 0.7


# ----------------------------------------------------------------------------- no chance stacks
def test_dense_uniform_pattern_has_no_stacks():
    # 100,000 firms uniform in 5 km x 5 km (mean spacing ~16 m).  A site needs a firm with
    # at least 9 others within 5 m; the others within 5 m of a firm are Binomial(n - 1,
    # pi 5^2 / A) (mean 0.31; fewer near the edges), so by the union bound
    # P(any site) <= n * P(Binomial >= 9) ~ 6e-6.
    n, side, radius, min_size = 100_000, 5_000.0, 5.0, 10
    p = math.pi * radius**2 / side**2
    assert n * stats.binom.sf(min_size - 2, n - 1, p) < 1e-4
    rng = np.random.default_rng(2024)
    lon, lat = _to_deg(rng.uniform(0, side, n), rng.uniform(0, side, n))
    res = find_stacks(lon, lat, radius_m=radius, min_size=min_size)
    assert len(res.sites) == 0
    assert (res.site == -1).all()


def test_very_dense_uniform_pattern_only_chance_sized_sites():
    # 100,000 firms in 1 km^2 (mean spacing ~3 m): 7.9 others within 5 m on average, so
    # sites of 10 or more occur by chance.  But a site's rows are within 5 m of its centre,
    # at most 1 + (the firms within 5 m of one firm), and P(some firm has k or more others
    # within 5 m) <= n * P(Binomial >= k) < 1e-6 for the k chosen here: a larger site is
    # not chance (a chain through the pattern would be thousands).
    n, side, radius = 100_000, 1_000.0, 5.0
    p = math.pi * radius**2 / side**2
    k = next(k for k in range(10, 100) if n * stats.binom.sf(k - 1, n - 1, p) < 1e-6)
    rng = np.random.default_rng(99)
    x, y = rng.uniform(0, side, n), rng.uniform(0, side, n)
    lon, lat = _to_deg(x, y)
    res = find_stacks(lon, lat, radius_m=radius)
    assert len(res.sites) > 0  # chance sites exist at this density
    assert res.sites["n"].max() <= k  # n <= 1 + (k - 1) others
    assert (res.sites["spread_m"] <= radius + 1e-9).all()
    assert (_member_distance(lon, lat, res) <= radius + 1e-9).all()


def test_dense_street_does_not_chain():
    # firms every 2 m along a 2 km street: 5 firms within 5 m of any one of them; with
    # min_size 3 the street is covered by sites, each at most 10 m long.  Linking
    # neighbours (single linkage, DBSCAN) would make it one 2 km "stack".
    x = np.arange(0, 2000, 2.0)
    lon, lat = _to_deg(x, np.zeros_like(x))
    res = find_stacks(lon, lat, radius_m=5.0, min_size=3)
    assert len(res.sites) > 100
    assert res.sites["n"].max() <= 5
    assert res.sites["spread_m"].max() <= 5.0 + 1e-9
    for _, g in pd.DataFrame({"x": x, "s": res.site}).query("s >= 0").groupby("s"):
        assert g["x"].max() - g["x"].min() <= 10.0 + 1e-6


# ----------------------------------------------------------------------------- sizes and separation
def test_two_stacks_20_m_apart_stay_two_sites():
    rng = np.random.default_rng(3)
    ax, ay = _disc(rng, 50, 0.5)
    bx, by = _disc(rng, 40, 0.5)
    lon, lat = _to_deg(np.r_[ax, 20.0 + bx], np.r_[ay, by])
    res = find_stacks(lon, lat, radius_m=5.0)
    assert list(res.sites["n"]) == [50, 40]
    np.testing.assert_array_equal(res.site, np.r_[np.zeros(50, int), np.ones(40, int)])
    # with a radius beyond their distance they are one
    assert list(find_stacks(lon, lat, radius_m=25.0).sites["n"]) == [90]


@pytest.mark.parametrize("radius", [0.0, 5.0])
def test_min_size_minus_one_is_not_a_stack(radius):
    rng = np.random.default_rng(5)
    jx, jy = _disc(rng, 10, 0.5 if radius else 0.0)
    lon, lat = _to_deg(jx, jy)
    assert len(find_stacks(lon[:9], lat[:9], radius_m=radius, min_size=10).sites) == 0
    assert (find_stacks(lon[:9], lat[:9], radius_m=radius, min_size=10).site == -1).all()
    res = find_stacks(lon, lat, radius_m=radius, min_size=10)
    assert list(res.sites["n"]) == [10]
    assert (res.site == 0).all()


# ----------------------------------------------------------------------------- NaN and empty
def test_nan_coordinates_are_ignored():
    rng = np.random.default_rng(8)
    jx, jy = _disc(rng, 30, 0.5)
    lon, lat = _to_deg(jx, jy)
    lon = np.r_[lon, np.nan, np.nan, 116.4, np.inf, np.nan]
    lat = np.r_[lat, np.nan, LAT0, np.nan, LAT0, -np.inf]
    lon[[3, 7]] = np.nan  # two stack rows lose their longitude
    res = find_stacks(lon, lat, radius_m=5.0, min_size=10)
    ok = np.isfinite(lon) & np.isfinite(lat)
    assert (res.site[~ok] == -1).all()
    assert list(res.sites["n"]) == [28]
    assert (res.site[ok] == 0).all()
    # the same as without those rows
    alone = find_stacks(lon[ok], lat[ok], radius_m=5.0, min_size=10)
    pd.testing.assert_frame_equal(alone.sites, res.sites)


@pytest.mark.parametrize("n", [0, 5])
def test_empty_and_all_nan_input(n):
    lon = np.full(n, np.nan)
    res = find_stacks(lon, lon.copy())
    assert res.site.shape == (n,) and res.site.dtype == np.int64
    assert (res.site == -1).all()
    assert list(res.sites.columns) == ["site", "lon", "lat", "n", "spread_m"]
    assert len(res.sites) == 0
    assert res.stacked.shape == (n,) and not res.stacked.any()


# ----------------------------------------------------------------------------- the definition
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("radius", [0.0, 0.7, 3.0, 5.0, 12.0])
@pytest.mark.parametrize("min_size", [3, 10])
def test_matches_the_definition_by_brute_force(seed, radius, min_size):
    lon, lat = _mixed_sample(seed)
    site, sites = _reference(lon, lat, radius, min_size)
    res = find_stacks(lon, lat, radius_m=radius, min_size=min_size)
    assert len(sites) > 0
    np.testing.assert_array_equal(res.site, site)
    pd.testing.assert_frame_equal(res.sites, sites, check_dtype=False, rtol=0, atol=1e-9)


@pytest.mark.parametrize(("lon0", "lat0"), [(-73.99, 40.73), (25.0, 65.0), (179.9, -45.0), (0.0, 0.0)])
def test_matches_the_definition_elsewhere_on_the_globe(lon0, lat0):
    lon, lat = _mixed_sample(4, lon0, lat0)
    for radius in (0.0, 5.0):
        site, sites = _reference(lon, lat, radius, 10)
        res = find_stacks(lon, lat, radius_m=radius, min_size=10)
        np.testing.assert_array_equal(res.site, site)
        pd.testing.assert_frame_equal(res.sites, sites, check_dtype=False, rtol=0, atol=1e-9)


@pytest.mark.parametrize("radius", [1.0, 5.0, 12.0])
def test_sites_table_is_consistent(radius):
    lon, lat = _mixed_sample(3)
    res = find_stacks(lon, lat, radius_m=radius, min_size=5)
    s = res.sites
    assert len(s) > 3
    assert list(s.columns) == ["site", "lon", "lat", "n", "spread_m"]
    assert s["site"].tolist() == list(range(len(s)))
    assert s["n"].sum() == (res.site >= 0).sum()
    np.testing.assert_array_equal(np.bincount(res.site[res.site >= 0], minlength=len(s)), s["n"])
    assert (s["n"] >= 5).all() and (np.diff(s["n"]) <= 0).all()
    assert (s["spread_m"] <= radius + 1e-9).all()
    dist = _member_distance(lon, lat, res)
    assert (dist <= radius + 1e-9).all()
    np.testing.assert_allclose(pd.Series(dist).groupby(res.site[res.site >= 0]).max(), s["spread_m"], atol=1e-9)
    # the centre is the rounded coordinate of one of the site's rows
    for row in s.itertuples():
        members = res.site == row.site
        assert ((np.round(lon[members], 7) == row.lon) & (np.round(lat[members], 7) == row.lat)).any()
    # maximal: no location is left with min_size unassigned rows within the radius
    rest = res.site < 0
    _, left = _reference(lon[rest], lat[rest], radius, 5)
    assert len(left) == 0


@pytest.mark.parametrize("radius", [0.5, 5.0, 20.0])
def test_exact_stacks_are_always_stacked(radius):
    lon, lat = _mixed_sample(6)
    hit, _ = _stacked_groups(lon, lat, 10)
    assert hit.any()
    assert (find_stacks(lon, lat, radius_m=radius).site[hit] >= 0).all()


def test_row_order_does_not_matter():
    lon, lat = _mixed_sample(9)
    perm = np.random.default_rng(0).permutation(lon.size)
    a = find_stacks(lon, lat, radius_m=5.0, min_size=4)
    b = find_stacks(lon[perm], lat[perm], radius_m=5.0, min_size=4)
    pd.testing.assert_frame_equal(a.sites, b.sites)
    np.testing.assert_array_equal(a.site[perm], b.site)


def test_near_a_pole():
    rng = np.random.default_rng(12)
    jx, jy = _disc(rng, 20, 0.5)
    lon, lat = _to_deg(jx, jy, 30.0, 89.9999)
    lon = np.r_[lon, -150.0]  # 180 degrees of longitude away, ~22 m across the pole
    lat = np.r_[lat, 89.9999]
    res = find_stacks(lon, lat)
    assert list(res.sites["n"]) == [20] and res.site[-1] == -1


# ----------------------------------------------------------------------------- arguments
@pytest.mark.parametrize(
    "kwargs",
    [
        {"radius_m": -1.0},
        {"radius_m": float("nan")},
        {"radius_m": float("inf")},
        {"min_size": 0},
        {"min_size": 2.5},
        {"min_size": True},
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(InputError):
        find_stacks(np.zeros(3), np.zeros(3), **kwargs)


@pytest.mark.parametrize(
    ("lon", "lat"),
    [
        (np.zeros(3), np.zeros(4)),
        (np.zeros((2, 2)), np.zeros((2, 2))),
        (np.array([500_000.0, 1.0]), np.array([4_000_000.0, 1.0])),  # projected metres
        (np.array([0.0]), np.array([90.5])),
    ],
)
def test_bad_coordinates(lon, lat):
    with pytest.raises(InputError):
        find_stacks(lon, lat)
