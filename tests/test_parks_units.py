"""Parks over given units (geo.parks.units): hand-computed overlaps, exact and permutation
p-values against brute-force enumeration, precedence from yearly counts, verdicts."""

from __future__ import annotations

import itertools
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.errors import ColumnError, CRSError, InputError
from geo.parks import units as gu
from geo.parks.overlay import VERDICTS

CRS = "EPSG:32650"
X0, Y0 = 500_000.0, 3_370_000.0


def _grid(nx, ny, size=1000.0, values=None, **columns):
    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="xy")
    i, j = i.ravel(), j.ravel()
    geoms = shapely.box(X0 + i * size, Y0 + j * size, X0 + (i + 1) * size, Y0 + (j + 1) * size)
    data = {"i": i, "j": j, "n": np.zeros(nx * ny) if values is None else np.asarray(values, dtype=float), **columns}
    return gpd.GeoDataFrame(data, geometry=geoms, crs=CRS, index=[f"u{i_}_{j_}" for i_, j_ in zip(i, j)])


def _parks(*boxes, designated=None, names=None):
    geoms = [shapely.box(X0 + a, Y0 + b, X0 + c, Y0 + d) for a, b, c, d in boxes]
    names = names or [f"P{k}" for k in range(len(geoms))]
    designated = designated or [2005] * len(geoms)
    return gpd.GeoDataFrame({"name": names, "designated": designated}, geometry=geoms, crs=CRS)


# ----------------------------------------------------------------------------- hand-computed overlaps
def test_two_by_two_squares_park_over_exactly_half_a_unit():
    # units (1 km²): u0_0 = 10, u1_0 = 20, u0_1 = 30, u1_1 = 40 firms; u0_1 is hot
    units = _grid(2, 2, values=[10, 20, 30, 40])
    hot = pd.Series([False, False, True, False], index=units.index)
    parks = _parks((0, 1000, 500, 2000))  # the west half of u0_1
    row = gu.units_overlay(units, parks, value="n", hot=hot).iloc[0]
    assert row["area_km2"] == pytest.approx(0.5)
    assert row["n_units"] == 1
    assert row["unit_shares"] == {"u0_1": pytest.approx(0.5)}
    assert row["covered_share"] == pytest.approx(1.0)
    assert row["share_hot"] == pytest.approx(1.0)
    assert row["value_inside"] == pytest.approx(15.0)  # half of 30 firms, spread uniformly
    assert row["value_outside"] == pytest.approx(85.0)
    assert row["density_inside"] == pytest.approx(30.0)
    assert row["density_study"] == pytest.approx(25.0)  # 100 firms on 4 km²
    assert row["density_outside"] == pytest.approx(85.0 / 3.5)
    assert row["density_ratio"] == pytest.approx(1.2)
    # exact: the park's one unit gets each of the 4 densities once: P(x >= 30) = 2/4, P(hot) = 1/4
    assert row["p_method"] == "exact"
    assert row["permutations_done"] == 4
    assert row["p"] == pytest.approx(0.5)
    assert row["p_hot"] == pytest.approx(0.25)
    # nothing can be significant with 4 units
    assert row["verdict"] == VERDICTS["none"]
    assert "not significant" in row["verdict_reason"]


def test_a_unit_crossing_the_park_edge_counts_by_its_area_share():
    units = _grid(2, 2, values=[10, 20, 30, 40])
    hot = np.array([True, False, False, False])  # an array in the units' order
    # the park straddles the edge between u0_0 and u1_0: a quarter of u0_0 and three quarters of u1_0
    parks = _parks((750, 0, 1750, 1000))
    row = gu.units_overlay(units, parks, value="n", hot=hot).iloc[0]
    assert row["unit_shares"] == {"u0_0": pytest.approx(0.25), "u1_0": pytest.approx(0.75)}
    assert row["value_inside"] == pytest.approx(0.25 * 10 + 0.75 * 20)
    assert row["density_inside"] == pytest.approx(17.5)  # 17.5 firms on 1 km²
    assert row["share_hot"] == pytest.approx(0.25)
    # exact: ordered pairs (a, b) of distinct densities on (u0_0, u1_0): T = a/4 + 3b/4 >= 17.5
    pairs = list(itertools.permutations([10, 20, 30, 40], 2))
    t = [a / 4 + 3 * b / 4 for a, b in pairs]
    assert row["permutations_done"] == 12
    assert row["p"] == pytest.approx(sum(v >= 17.5 - 1e-9 for v in t) / 12)
    # hot share 1/4 on u0_0 alone: any arrangement with the hot flag on u0_0 (3 of 12) gives 1/4, on u1_0 gives 3/4
    assert row["p_hot"] == pytest.approx(6 / 12)


def test_rates_are_averaged_by_area():
    units = _grid(2, 2, values=[1.0, 2.0, 3.0, 4.0])
    hot = np.zeros(4, bool)
    row = gu.units_overlay(units, _parks((750, 0, 1750, 1000)), value="n", hot=hot, value_kind="rate").iloc[0]
    assert row["value_inside"] == pytest.approx(0.25 * 1 + 0.75 * 2)
    # outside: (1 * 0.75 + 2 * 0.25 + 3 + 4) / 3 km²
    assert row["value_outside"] == pytest.approx((0.75 + 0.5 + 3 + 4) / 3)
    assert row["density_study"] == pytest.approx(2.5)
    assert row["density_ratio"] == pytest.approx(1.75 / 2.5)


def test_park_over_no_unit_and_park_half_outside():
    units = _grid(2, 2, values=[10, 20, 30, 40])
    hot = np.zeros(4, bool)
    parks = _parks((5000, 5000, 6000, 6000), (-500, 0, 500, 1000), (2000, 0, 3000, 1000),
                   names=["far", "half out", "touching"])
    out = gu.units_overlay(units, parks, value="n", hot=hot)
    far = out.iloc[0]
    assert far["verdict"] == gu.NO_UNITS
    assert far["n_units"] == 0 and far["unit_shares"] == {}
    assert np.isnan(far["p"]) and np.isnan(far["density_ratio"])
    assert far["precedence"] == gu.PRECEDENCE["undetermined"]
    half = out.iloc[1]
    assert half["covered_share"] == pytest.approx(0.5)
    assert half["value_inside"] == pytest.approx(5.0)
    assert half["density_inside"] == pytest.approx(10.0)  # over the covered half only
    assert "50% of the park lies outside the units" in half["verdict_reason"]
    # sharing only an edge is not an overlap
    assert out.iloc[2]["verdict"] == gu.NO_UNITS
    # FDR only among the parks with a p-value
    assert np.isnan(out["p_fdr"].iloc[0]) and out["p_fdr"].iloc[1] == pytest.approx(out["p"].iloc[1])


def test_islands_and_multipolygon_units():
    # a 3 x 3 grid, a detached island unit and a unit of two parts
    units = _grid(3, 3, values=np.arange(1, 10) * 10.0)
    island = gpd.GeoDataFrame({"i": [9, 10], "j": [9, 10], "n": [50.0, 60.0]},
                              geometry=[shapely.box(X0 + 20_000, Y0, X0 + 22_000, Y0 + 1000),
                                        shapely.MultiPolygon([shapely.box(X0 + 30_000, Y0, X0 + 31_000, Y0 + 1000),
                                                              shapely.box(X0 + 40_000, Y0, X0 + 41_000, Y0 + 1000)])],
                              crs=CRS, index=["island", "split"])
    units = pd.concat([units, island])
    hot = pd.Series(False, index=units.index)
    hot["island"] = True
    parks = _parks((20_000, 0, 21_000, 1000), (40_000, 0, 41_000, 1000), names=["on island", "on part"])
    out = gu.units_overlay(units, parks, value="n", hot=hot)
    a, b = out.iloc[0], out.iloc[1]
    assert a["unit_shares"] == {"island": pytest.approx(0.5)}
    assert a["value_inside"] == pytest.approx(25.0)
    assert a["share_hot"] == pytest.approx(1.0)
    assert a["density_inside"] == pytest.approx(25.0)  # 50 firms on 2 km²
    assert b["unit_shares"] == {"split": pytest.approx(0.5)}
    assert b["density_inside"] == pytest.approx(30.0)
    # 11 units on 13 km²: 450 + 110 firms
    assert a["density_study"] == pytest.approx(560 / 13)


# ----------------------------------------------------------------------------- p-values
def test_exact_p_equals_a_brute_force_enumeration_of_all_orderings():
    # 5 units of different sizes (a row of rectangles 1, 2, 1, 3, 1 km wide); the park covers
    # half of unit 1 (1 km²) and a third of unit 3 (1 km²)
    widths = [1000, 2000, 1000, 3000, 1000]
    edges = np.cumsum([0] + widths)
    geoms = [shapely.box(X0 + a, Y0, X0 + b, Y0 + 1000) for a, b in zip(edges[:-1], edges[1:])]
    counts = np.array([3.0, 10.0, 1.0, 12.0, 7.0])
    flags = np.array([False, True, False, True, True])
    units = gpd.GeoDataFrame({"n": counts}, geometry=geoms, crs=CRS)
    park = gpd.GeoDataFrame({"name": ["p"], "designated": [2000]},
                            geometry=[shapely.box(X0 + 2000, Y0, X0 + 5000, Y0 + 1000)], crs=CRS)
    row = gu.units_overlay(units, park, value="n", hot=flags).iloc[0]
    # by hand: the park is 3 km²: 1 km² of unit 1, 1 km² of unit 2 (all of it), 1 km² of unit 3
    assert row["unit_shares"] == {1: pytest.approx(0.5), 2: pytest.approx(1.0), 3: pytest.approx(1 / 3)}
    dens = counts / (np.array(widths) / 1000)  # 3, 5, 1, 4, 7 per km²
    obs = (dens[1] + dens[2] + dens[3]) / 3
    assert row["density_inside"] == pytest.approx(obs)
    obs_hot = (1 + 0 + 1) / 3
    assert row["share_hot"] == pytest.approx(obs_hot)
    # every one of the 5! orderings of the (density, flag) pairs over the units, equally likely
    t, th = [], []
    for perm in itertools.permutations(range(5)):
        d, h = dens[list(perm)], flags.astype(int)[list(perm)]
        t.append((d[1] + d[2] + d[3]) / 3)
        th.append((h[1] + h[2] + h[3]) / 3)
    t, th = np.array(t), np.array(th)
    assert row["p_method"] == "exact" and row["permutations_done"] == math.perm(5, 3)
    assert row["p"] == pytest.approx(np.mean(t >= obs - 1e-12), abs=1e-15)
    assert row["p_hot"] == pytest.approx(np.mean(th >= obs_hot - 1e-12), abs=1e-15)
    two = gu.units_overlay(units, park, value="n", hot=flags, alternative="two-sided").iloc[0]
    assert two["p"] == pytest.approx(min(1.0, 2 * min(np.mean(t >= obs - 1e-12), np.mean(t <= obs + 1e-12))))


def _cluster_case(n=7, seed=1):
    """A n x n grid of counts (1 km² units) with a bump in the middle, hot on its 3 x 3 core."""
    rng = np.random.default_rng(seed)
    units = _grid(n, n)
    c = (n - 1) / 2
    bump = 30 * np.exp(-((units["i"] - c) ** 2 + (units["j"] - c) ** 2) / 2.0)
    units["n"] = rng.poisson(5 + bump).astype(float)
    hot = pd.Series(((units["i"] - c) ** 2 + (units["j"] - c) ** 2 <= 2).to_numpy(), index=units.index)
    # core: 2 x 2 km centred on the bump (9 units, the middle one whole); west: halves of 2 units;
    # edge: 2 x 2 km across the bump's east edge (9 units, 3 of them hot)
    parks = _parks((c * 1000 - 500, c * 1000 - 500, c * 1000 + 1500, c * 1000 + 1500),
                   (c * 1000 - 500, c * 1000, c * 1000 + 500, c * 1000 + 1000),
                   (c * 1000 + 1500, c * 1000 - 500, c * 1000 + 3500, c * 1000 + 1500), names=["core", "west", "edge"])
    return units, hot, parks


def test_monte_carlo_p_against_the_enumerated_distribution():
    # 49 units, the park on 3 of them: 49*48*47 = 110,544 arrangements, sampled
    units, hot, parks = _cluster_case()
    parks = parks.iloc[:1]
    parks = gpd.GeoDataFrame({"name": ["strip"], "designated": [2005]},
                             geometry=[shapely.box(X0 + 2000, Y0 + 3000, X0 + 5000, Y0 + 3600)], crs=CRS)
    R = 4999
    row = gu.units_overlay(units, parks, value="n", hot=hot, permutations=R, seed=5).iloc[0]
    assert row["p_method"] == "permutation" and row["permutations_done"] == R
    dens = units["n"].to_numpy()  # 1 km² units
    pos = [units.index.get_loc(f"u{i}_3") for i in (2, 3, 4)]
    obs = dens[pos].mean()
    assert row["density_inside"] == pytest.approx(obs)
    t = np.array([dens[list(p)].mean() for p in itertools.permutations(range(49), 3)])
    exact = np.mean(t >= obs - 1e-9)
    # (count + 1) / (R + 1) is within 4 binomial standard errors of the exact tail
    se = math.sqrt(exact * (1 - exact) / R)
    assert abs(row["p"] - exact) <= 4 * se + 1 / (R + 1)
    assert exact < 0.05  # the bump's core is dense


def test_seed_reproducibility_and_unit_order_invariance():
    units, hot, parks = _cluster_case()
    a = gu.units_overlay(units, parks, value="n", hot=hot, seed=11, permutations=199)
    b = gu.units_overlay(units, parks, value="n", hot=hot, seed=11, permutations=199)
    pd.testing.assert_frame_equal(a, b)
    c = gu.units_overlay(units, parks, value="n", hot=hot, seed=12, permutations=199)
    assert (a["p"] != c["p"]).any() or (a["p_hot"] != c["p_hot"]).any()
    # rows shuffled (the hot flags follow by index): the same table, p-values included
    order = np.random.default_rng(0).permutation(len(units))
    d = gu.units_overlay(units.iloc[order], parks, value="n", hot=hot.iloc[order[::-1]], seed=11, permutations=199)
    pd.testing.assert_frame_equal(a, d)
    # a Generator is accepted as the seed
    e = gu.units_overlay(units, parks, value="n", hot=hot, seed=np.random.default_rng(11), permutations=199)
    assert e["p"].notna().all()


def test_a_park_on_the_cluster_coincides():
    units, hot, parks = _cluster_case()
    out = gu.units_overlay(units, parks, value="n", hot=hot, seed=0)
    core = out.iloc[0]
    assert core["share_hot"] == pytest.approx(1.0)
    assert core["density_ratio"] > 2
    assert core["p_fdr"] < 0.05 and core["p_hot_fdr"] < 0.05
    assert core["verdict"] == VERDICTS["undetermined"]  # no yearly counts
    assert "no yearly counts" in core["verdict_reason"]
    assert list(out.columns) == gu.COLUMNS
    assert out.attrs["value_kind"] == "count" and out.attrs["seed"] == 0
    assert "uniformly" in out.attrs["assumption"]
    note = core["tests"]
    assert "labelling" in note and "Ripley" in note and "Kd" in note and "modifiable areal unit problem" in note


# ----------------------------------------------------------------------------- precedence
def _yearly_case():
    """7 x 7 units, the core park on the bump; the core's counts by year: 2000, 2005, 2010 given."""
    units, hot, parks = _cluster_case()
    core = hot.to_numpy()
    base = np.full(len(units), 2.0)
    units["y2000"] = np.where(core, 2.0, base)  # flat in 2000
    units["y2005"] = np.where(core, 3.0, base)  # denser in 2005
    units["y2010"] = np.where(core, 9.0, base)
    geom = parks.geometry.iloc[0]
    designs = [2008, 2003, 2000, 1995, 2011, None]
    names = ["before", "after", "at first year", "early", "late", "no year"]
    p = gpd.GeoDataFrame({"name": names, "designated": designs}, geometry=[geom] * len(names), crs=CRS)
    return units, hot, p


def test_precedence_from_yearly_counts():
    units, hot, parks = _yearly_case()
    years = {2000: "y2000", 2005: "y2005", 2010: "y2010"}
    out = gu.units_overlay(units, parks, value="n", hot=hot, year_columns=years, seed=0).set_index("name")
    assert out["first_hot_year"].tolist() == [2005] * 6
    assert out.loc["before", "precedence"] == gu.PRECEDENCE["before"]
    assert out.loc["before", "years_from_designation"] == -3
    assert out.loc["before", "verdict"] == VERDICTS["pre-existing"]
    # designated 2003: the last year before it (2000) was flat, but 2001-2002 are missing
    assert out.loc["after", "precedence"] == gu.PRECEDENCE["undetermined"]
    assert "counts missing for 2001–2002" in out.loc["after", "precedence_reason"]
    # designated 2000: not denser in 2000, denser in 2005
    assert out.loc["at first year", "precedence"] == gu.PRECEDENCE["after"]
    assert out.loc["at first year", "verdict"] == VERDICTS["after"]
    assert out.loc["at first year", "years_from_designation"] == 5
    # designated 1995, not dense in 2000 (an observed year after designation): formed after
    assert out.loc["early", "precedence"] == gu.PRECEDENCE["after"]
    assert out.loc["late", "precedence"] == gu.PRECEDENCE["before"]
    assert out.loc["no year", "precedence"] == gu.PRECEDENCE["undetermined"]
    assert "no designation year" in out.loc["no year", "precedence_reason"]
    assert pd.isna(out.loc["no year", "designated"])


def test_precedence_undetermined_cases():
    units, hot, parks = _yearly_case()
    parks = parks.iloc[:1].assign(designated=[1995])
    # dense already in the first year given, designation before it
    units["y2000"] = units["y2010"]
    row = gu.units_overlay(units, parks, value="n", hot=hot, year_columns={2000: "y2000", 2010: "y2010"}).iloc[0]
    assert row["precedence"] == gu.PRECEDENCE["undetermined"]
    assert "designation (1995) precedes the first year with counts (2000)" in row["precedence_reason"]
    # never denser than the study area
    flat = units.assign(y2000=2.0, y2010=2.0)
    row = gu.units_overlay(flat, parks, value="n", hot=hot, year_columns={2000: "y2000", 2010: "y2010"}).iloc[0]
    assert row["precedence"] == gu.PRECEDENCE["undetermined"] and pd.isna(row["first_hot_year"])
    assert "never denser than the study area in 2000–2010" in row["precedence_reason"]
    # a year with a missing count is left out and named
    gap = units.copy()
    gap.loc[gap.index[0], "y2010"] = np.nan
    out = gu.units_overlay(gap, parks, value="n", hot=hot, year_columns={2000: "y2000", 2010: "y2010"})
    assert out.attrs["missing_years"] == [2010]
    only = gu.units_overlay(gap, parks, value="n", hot=hot, year_columns={2010: "y2010"}).iloc[0]
    assert "every year given has missing counts (2010)" in only["precedence_reason"]


# ----------------------------------------------------------------------------- bad input
def test_bad_input_is_one_clear_sentence():
    units = _grid(2, 2, values=[10, 20, 30, 40])
    hot = np.zeros(4, bool)
    parks = _parks((0, 0, 500, 500))
    with pytest.raises(CRSError, match="no CRS"):
        gu.units_overlay(units.set_crs(None, allow_override=True), parks, value="n", hot=hot)
    with pytest.raises(CRSError, match="projected metric CRS"):
        gu.units_overlay(units.to_crs(4326), parks, value="n", hot=hot)
    with pytest.raises(ColumnError, match=r"no column 'firms' \(the value\); their columns are: i, j, n"):
        gu.units_overlay(units, parks, value="firms", hot=hot)
    with pytest.raises(InputError, match=r"2 of 4 units have a missing, infinite or negative value \('u1_0', 'u0_1'\)"):
        gu.units_overlay(units.assign(n=[1, np.nan, -1, 3]), parks, value="n", hot=hot)
    with pytest.raises(InputError, match="3 flags for 4 units"):
        gu.units_overlay(units, parks, value="n", hot=[True, False, True])
    with pytest.raises(InputError, match=r"1 of 4 units have none \('u1_1'\)"):
        gu.units_overlay(units, parks, value="n", hot=pd.Series(False, index=units.index[:3]))
    with pytest.raises(InputError, match="True/False per unit"):
        gu.units_overlay(units, parks, value="n", hot=[0.5, 0, 0, 0])
    with pytest.raises(ColumnError, match=r"no column 'n2001' \(the counts of 2001\)"):
        gu.units_overlay(units, parks, value="n", hot=hot, year_columns={2001: "n2001"})
    with pytest.raises(InputError, match="must be polygons; 1 of 4"):
        gu.units_overlay(units.set_geometry([shapely.Point(0, 0)] + list(units.geometry.iloc[1:]), crs=CRS), parks,
                         value="n", hot=hot)
    with pytest.raises(InputError, match="`value_kind` must be one of"):
        gu.units_overlay(units, parks, value="n", hot=hot, value_kind="density")
    with pytest.raises(InputError, match="`permutations` must be a positive integer"):
        gu.units_overlay(units, parks, value="n", hot=hot, permutations=0)
    with pytest.raises(InputError, match="`alternative` must be one of"):
        gu.units_overlay(units, parks, value="n", hot=hot, alternative="bigger")
    with pytest.raises(CRSError, match="parks have no CRS"):
        gu.units_overlay(units, parks.set_crs(None, allow_override=True), value="n", hot=hot)


def test_parks_in_another_crs_and_no_parks():
    units = _grid(2, 2, values=[10, 20, 30, 40])
    hot = np.zeros(4, bool)
    parks = _parks((0, 1000, 500, 2000))
    a = gu.units_overlay(units, parks, value="n", hot=hot)
    b = gu.units_overlay(units, parks.to_crs(4326), value="n", hot=hot)
    assert b["value_inside"].iloc[0] == pytest.approx(a["value_inside"].iloc[0], rel=1e-6)
    empty = gu.units_overlay(units, parks.iloc[:0], value="n", hot=hot)
    assert len(empty) == 0 and list(empty.columns) == gu.COLUMNS


def test_public_api():
    import geo

    assert geo.units_overlay is gu.units_overlay
    assert "units_overlay" in geo.__all__
