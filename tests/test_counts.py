"""Firm counts for the park tests: one code path for both engines, additive over partitions."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.cells.grid import aggregate, cell_positions
from geo.parks import overlay as gp
from geo.stats.autocorr import hotspots

CRS = "EPSG:32650"


def _firms(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    x = np.r_[rng.normal(505_000, 1500, n // 2), rng.uniform(495_000, 515_000, n - n // 2)]
    y = np.r_[rng.normal(3_380_000, 1500, n // 2), rng.uniform(3_370_000, 3_390_000, n - n // 2)]
    x[:40] = np.round(x[:40] / 500) * 500  # points on square-cell edges and corners
    y[:40] = np.round(y[:40] / 500) * 500
    sector = np.where(rng.random(n) < np.r_[np.full(n // 2, 0.6), np.full(n - n // 2, 0.1)], "optics", "other")
    founded = rng.integers(1985, 2024, n).astype(float)
    founded[rng.random(n) < 0.05] = np.nan
    return gpd.GeoDataFrame({"sector": sector, "founded": founded}, geometry=shapely.points(x, y), crs=CRS)


def _parks():
    return gpd.GeoDataFrame(
        {"name": ["A", "B"], "designated": pd.array([1995, 2005], dtype="Int64")},
        geometry=[shapely.box(503_000, 3_378_000, 507_500, 3_382_500),
                  shapely.Point(498_000, 3_373_000).buffer(1200)],
        crs=CRS,
    )


@pytest.mark.parametrize("cell,size", [("hex", 700.0), ("square", 500.0), ("hex", "auto")])
def test_cell_positions_count_like_aggregate(cell, size):
    firms = _firms()
    cells = aggregate(firms, cell=cell, size=size, by="sector")
    x, y = shapely.get_x(firms.geometry.values), shapely.get_y(firms.geometry.values)
    pos = cell_positions(cells, x, y)
    assert (pos >= 0).all()
    assert np.array_equal(np.bincount(pos, minlength=len(cells)), cells["n_firms"].to_numpy())
    optics = (firms["sector"] == "optics").to_numpy()
    assert np.array_equal(np.bincount(pos[optics], minlength=len(cells)), cells["n_optics"].to_numpy())
    # a point far outside: -1; generic polygons use the spatial index with the same answer inside
    assert cell_positions(cells, np.array([0.0]), np.array([0.0]))[0] == -1
    plain = gpd.GeoDataFrame(geometry=cells.geometry.values, crs=cells.crs)
    inner = ~np.isin(np.arange(len(x)), np.arange(40))  # off the shared edges
    assert np.array_equal(cell_positions(plain, x[inner], y[inner]), pos[inner])


def test_firm_counts_add_up_over_partitions():
    firms = _firms()
    cells = aggregate(firms, cell="hex", size=800.0)
    parks = _parks()
    x, y = shapely.get_x(firms.geometry.values), shapely.get_y(firms.geometry.values)
    target = (firms["sector"] == "optics").to_numpy()
    founded = firms["founded"].to_numpy(float)
    pos = cell_positions(cells, x, y)
    rings = gp.park_rings(parks)
    whole = gp.firm_counts(parks, x, y, target, founded, cell_pos=pos, n_cells=len(cells), rings=rings)
    cuts = [0, 700, 701, 1900, len(x)]
    parts = [gp.firm_counts(parks, x[a:b], y[a:b], target[a:b], founded[a:b], cell_pos=pos[a:b], n_cells=len(cells), rings=rings)
             for a, b in zip(cuts[:-1], cuts[1:])]
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    for name in ("n", "k"):
        assert getattr(total, name) == getattr(whole, name)
    for name in ("n_in", "t_in", "n_ring", "years", "year_all", "year_in"):
        assert np.array_equal(getattr(total, name), getattr(whole, name)), name
    assert total.pre_cells.keys() == whole.pre_cells.keys() == {1995, 2005}
    for y_ in whole.pre_cells:
        assert np.array_equal(total.pre_cells[y_], whole.pre_cells[y_])
    # hand counts
    inside_a = shapely.intersects_xy(parks.geometry.iloc[0], x, y)
    assert whole.n_in[0] == inside_a.sum() and whole.t_in[0] == (inside_a & target).sum()
    assert whole.pre_cells[1995].sum() == (target & (founded < 1995)).sum()
    f, ins = whole.entry_arrays(0)
    ok = target & np.isfinite(founded)
    assert np.array_equal(np.sort(f), np.sort(founded[ok]))
    assert ins.sum() == (inside_a & ok).sum()


def test_park_overlay_from_counts_equals_from_firms():
    firms = _firms()
    cells = aggregate(firms, cell="hex", size=800.0, by="sector")
    hot = hotspots(cells, "n_optics", permutations=99, seed=1)
    parks = _parks()
    a = gp.park_overlay(hot, parks, firms, sector="optics", permutations=99, seed=3)
    x, y = shapely.get_x(firms.geometry.values), shapely.get_y(firms.geometry.values)
    counts = gp.firm_counts(parks, x, y, (firms["sector"] == "optics").to_numpy(), firms["founded"].to_numpy(float),
                            cell_pos=cell_positions(hot, x, y), n_cells=len(hot))
    b = gp.park_overlay(hot, parks, None, sector="optics", permutations=99, seed=3, counts=counts)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a["n_target_before"].notna().all() and a["n_firms"].gt(0).all()


def test_union_of_lattice_cells():

    firms = _firms()
    cells = aggregate(firms, cell="hex", size=600.0)
    u_fast = gp._union_cells(cells.geometry.values, cells.attrs)
    u_ref = shapely.union_all(cells.geometry.values)
    assert u_fast.area == pytest.approx(u_ref.area, rel=1e-12)
    assert shapely.symmetric_difference(u_fast, u_ref).area < 1e-6 * u_ref.area
    plain = gp._union_cells(cells.geometry.values, {})  # not a geo lattice: the general union
    assert plain.equals(u_ref)


def test_within_radius_of_anchors_equals_the_direct_formula():
    from geo.parks.models import _within

    rng = np.random.default_rng(5)
    x, y = rng.uniform(0, 10_000, 20_000), rng.uniform(0, 10_000, 20_000)
    ax, ay = rng.uniform(0, 10_000, 40), rng.uniform(0, 10_000, 40)
    x[:40], y[:40] = ax + 2000.0, ay  # exactly on the radius of an anchor
    ref = np.min([(x - a) ** 2 + (y - b) ** 2 for a, b in zip(ax, ay)], axis=0) <= 2000.0**2
    assert np.array_equal(_within(x, y, ax, ay, 2000.0), ref)
    assert not _within(x, y, ax[:0], ay[:0], 2000.0).any()


def test_global_permutation_counts_do_not_depend_on_threads():
    from geo.stats import _kernels

    rng = np.random.default_rng(2)
    n = 3000
    indptr = np.arange(0, 4 * n + 1, 4, dtype=np.int64)
    indices = rng.integers(0, n, 4 * n).astype(np.int64)
    data = np.full(4 * n, 0.25)
    z = rng.normal(size=n)
    obs = float(z @ np.bincount(np.repeat(np.arange(n), 4), weights=data * z[indices], minlength=n))
    one = _kernels.global_perm_counts(indptr, indices, data, z, obs, 1e-9, 999, 7, threads=1)
    two = _kernels.global_perm_counts(indptr, indices, data, z, obs, 1e-9, 999, 7, threads=2)
    three = _kernels.global_perm_counts(indptr, indices, data, z, obs, 1e-9, 999, 7, threads=3)
    assert one[:2] == two[:2] == three[:2] and one[0] + one[1] >= 999
    assert two[2] == pytest.approx(one[2], rel=1e-9)


def test_global_clq_counts_do_not_depend_on_threads():
    # the global CLQ kernel goes through the same permutation splitter as the global Moran one:
    # 3,000 points x 999 permutations is enough work to be split; the counts, and the
    # statistic recomputed in numpy for the unshuffled codes, agree for 1, 2 and 3 threads
    from geo.stats import _clq_kernels, _kernels

    rng = np.random.default_rng(5)
    n, n_sites = 3000, 800
    site = rng.integers(0, n_sites, n).astype(np.int64)
    indptr = np.arange(0, 5 * n_sites + 1, 5, dtype=np.int64)
    indices = rng.integers(0, n_sites, 5 * n_sites).astype(np.int64)
    inv_size = 1.0 / rng.integers(1, 9, n_sites).astype(float)
    code = rng.integers(0, 4, n).astype(np.int8)
    a_s = np.bincount(site, weights=code & 1, minlength=n_sites)
    b_s = np.bincount(site, weights=(code >> 1) & 1, minlength=n_sites)
    ab_s = np.bincount(site, weights=code == 3, minlength=n_sites)
    nb = b_s + np.add.reduceat(b_s[indices], indptr[:-1])
    obs = float(((a_s * nb - ab_s) * inv_size)[a_s > 0].sum())
    counts = [_clq_kernels.global_clq_counts(site, indptr, indices, inv_size, code, obs, 1e-9, 999, 11, threads=t)
              for t in (1, 2, 3)]
    assert counts[0] == counts[1] == counts[2]
    up, lo = counts[0]
    assert 0 < up < 999 and 0 < lo < 999 and up + lo >= 999
    # an empty range counts nothing; two ranges add up to the whole
    assert _clq_kernels.global_clq_range(site, indptr, indices, inv_size, code, obs, 1e-9, 0, 0, 11) == (0, 0)
    ranges = [_clq_kernels.global_clq_range(site, indptr, indices, inv_size, code, obs, 1e-9, a, b, 11)
              for a, b in ((0, 400), (400, 999))]
    assert tuple(map(sum, zip(*ranges))) == (up, lo)
    assert _kernels.split_permutations(lambda a, b: (b - a, 1), 999, n, 3) == (999, 3)


def test_random_placements_equal_brute_force():
    """The batched placements are those drawn one at a time with shapely.affinity from the
    same seed stream (tests.test_parks._placements_brute_force), and the same number tried."""
    from tests.test_parks import _placements_brute_force

    area = shapely.Polygon(np.column_stack([np.cos(np.linspace(0, 6.28, 50)) * 20000, np.sin(np.linspace(0, 6.28, 50)) * 15000]))
    park = shapely.Polygon([(-2000, -500), (3000, -800), (2500, 2500), (-1500, 2000)])
    for n in (300, 999):
        a, ta = gp._random_placements(park, area, None, n, np.random.default_rng(3), 100_000)
        b, tb = _placements_brute_force(park, area, n, np.random.default_rng(3), 100_000)
        assert ta == tb and len(a) == len(b) == n
        assert all(shapely.equals_exact(x, y, 1e-6) for x, y in zip(a, b))
    big = shapely.box(-14000, -10000, 14000, 10000)  # few fit: several batches, fewer than asked
    a, ta = gp._random_placements(big, area, None, 50, np.random.default_rng(4), 2000)
    b, tb = _placements_brute_force(big, area, 50, np.random.default_rng(4), 2000)
    assert ta == tb and len(a) == len(b) and all(shapely.equals_exact(x, y, 1e-6) for x, y in zip(a, b))
    # parks with a hole or several parts: copies of the park given the new coordinates
    holed = shapely.Polygon([(-2000, -1500), (2000, -1500), (2000, 1500), (-2000, 1500)], holes=[[(-500, -500), (500, -500), (0, 700)]])
    multi = shapely.MultiPolygon([shapely.box(-3000, -1000, -1000, 1000), holed])
    for shape in (holed, multi):
        a, ta = gp._random_placements(shape, area, None, 200, np.random.default_rng(5), 100_000)
        b, tb = _placements_brute_force(shape, area, 200, np.random.default_rng(5), 100_000)
        assert ta == tb and len(a) == len(b) == 200
        assert all(x.geom_type == shape.geom_type and shapely.equals_exact(x, y, 1e-6) for x, y in zip(a, b))
        _assert_congruent_and_inside(a, shape, area)
    _assert_congruent_and_inside(gp._random_placements(park, area, None, 300, np.random.default_rng(3), 100_000)[0], park, area)


def _assert_congruent_and_inside(placed, park, region):
    """What a placement is, checked by GEOS alone: the park moved and turned (same area,
    perimeter, parts, holes and edge lengths), inside the region, spread over it in place
    and direction."""
    placed = np.asarray(placed)
    assert shapely.contains(region, placed).all()
    np.testing.assert_allclose(shapely.area(placed), park.area, rtol=1e-9)
    np.testing.assert_allclose(shapely.length(placed), park.length, rtol=1e-9)
    assert (shapely.get_num_geometries(placed) == shapely.get_num_geometries(park)).all()
    first = shapely.get_geometry(placed, 0)
    assert (shapely.get_num_interior_rings(first) == shapely.get_num_interior_rings(shapely.get_geometry(park, 0))).all()

    def edges(ring):
        return np.hypot(*np.diff(shapely.get_coordinates(ring), axis=0).T)

    ref = edges(shapely.get_exterior_ring(shapely.get_geometry(park, 0)))
    for ring in shapely.get_exterior_ring(first):
        np.testing.assert_allclose(edges(ring), ref, rtol=1e-9, atol=1e-6)
    x0, _, x1, _ = region.bounds
    assert np.ptp(shapely.get_x(shapely.centroid(placed))) > 0.2 * (x1 - x0)
    d = np.array([np.diff(shapely.get_coordinates(ring)[:2], axis=0)[0] for ring in shapely.get_exterior_ring(first)])
    assert np.ptp(np.arctan2(d[:, 1], d[:, 0])) > np.pi  # turned every way


def test_park_tests_need_firms_or_counts():
    from geo.errors import InputError

    firms = _firms(300)
    cells = aggregate(firms, cell="hex", size=800.0, by="sector")
    hot = hotspots(cells, "n_optics", permutations=19, seed=1)
    with pytest.raises(InputError, match="`firms` or `counts`"):
        gp.park_overlay(hot, _parks(), None, sector="optics", permutations=9)
    with pytest.raises(InputError, match="`firms` or `counts`"):
        gp.precedence_test(_parks().geometry.iloc[0], hot, year=1995, sector="optics", permutations=9)


def test_overlay_counts_equal_firm_counts_of_all_cells():
    """park_overlay looks up the cells of the early target firms only: the same counts."""
    firms = _firms()
    cells = aggregate(firms, cell="hex", size=800.0)
    x, y = shapely.get_x(firms.geometry.values), shapely.get_y(firms.geometry.values)
    target = (firms["sector"] == "optics").to_numpy()
    founded = firms["founded"].to_numpy(float)
    for parks in (_parks(), _parks().assign(designated=pd.array([pd.NA, 2001], dtype="Int64")), _parks().drop(columns="designated")):
        rings = gp.park_rings(parks)
        whole = gp.firm_counts(parks, x, y, target, founded, cell_pos=cell_positions(cells, x, y), n_cells=len(cells), rings=rings)
        part = gp._overlay_counts(parks, firms, cells, rings=rings, sector="optics", sector_column="sector", founded_column="founded")
        for name in ("n", "k", "has_founded"):
            assert getattr(part, name) == getattr(whole, name)
        for name in ("n_in", "t_in", "n_ring", "years", "year_all", "year_in"):
            assert np.array_equal(getattr(part, name), getattr(whole, name)), name
        assert part.pre_cells.keys() == whole.pre_cells.keys()
        assert all(np.array_equal(part.pre_cells[k], whole.pre_cells[k]) for k in whole.pre_cells)
    assert part.pre_cells == {} == whole.pre_cells  # the last parks have no designation year
