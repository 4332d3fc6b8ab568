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
    assert row["hot_area_in_park"] == pytest.approx(0.5)  # half of the one hot unit
    # the ring of 0.5 km² around the park: units 10, 20, 30 (the other half of u0_1) and 40 by their areas in it
    ring, width = gu._ring_buffer(parks.geometry.iloc[0])
    assert row["ring_width_m"] == pytest.approx(width)
    shares = {k: shapely.intersection(ring, g).area / 1e6 for k, g in zip([10, 20, 30, 40], units.geometry)}
    on_units = sum(shares.values())
    assert row["density_ring"] == pytest.approx(sum(k * a for k, a in shares.items()) / on_units)
    assert row["density_ratio_ring"] == pytest.approx(30 / row["density_ring"])
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
    geoms = [shapely.box(X0 + a, Y0, X0 + b, Y0 + 1000) for a, b in itertools.pairwise(edges)]
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


@pytest.mark.parametrize("sampler", ["keys", "row by row"])
def test_monte_carlo_p_against_the_enumerated_distribution(sampler, monkeypatch):
    # 49 units, the park on 3 of them: 49*48*47 = 110,544 arrangements, sampled (both samplers)
    if sampler == "row by row":
        monkeypatch.setattr(gu, "_KEYS_MAX", 0)
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
    assert "never significantly denser than the study area in 2000–2010" in row["precedence_reason"]
    # a year with a missing count is left out and named
    gap = units.copy()
    gap.loc[gap.index[0], "y2010"] = np.nan
    out = gu.units_overlay(gap, parks, value="n", hot=hot, year_columns={2000: "y2000", 2010: "y2010"})
    assert out.attrs["missing_years"] == [2010]
    only = gu.units_overlay(gap, parks, value="n", hot=hot, year_columns={2010: "y2010"}).iloc[0]
    assert "every year given has missing counts (2010)" in only["precedence_reason"]


def test_a_noisy_year_a_little_above_the_average_is_not_hot():
    units, hot, parks = _yearly_case()
    parks = parks.iloc[:1]
    rng = np.random.default_rng(4)
    units["y2000"] = rng.poisson(20, len(units)).astype(float)
    units["y2005"] = units["y2000"]
    core = hot.to_numpy()
    # the park lies on the 9 core units: set them 10 % above the others' average, within the noise (sd 4.5)
    units.loc[core, "y2005"] = 1.1 * units.loc[~core, "y2005"].mean()
    out = gu.units_overlay(units, parks, value="n", hot=hot, year_columns={2000: "y2000", 2005: "y2005"}, seed=0)
    row = out.iloc[0]
    assert 1.05 < units.loc[core, "y2005"].iloc[0] / units["y2005"].mean() < 1.1
    assert pd.isna(row["first_hot_year"])
    assert "never significantly denser" in row["precedence_reason"]
    # with a lower bar and a real jump it is hot
    units.loc[core, "y2005"] = 60.0
    out = gu.units_overlay(units, parks, value="n", hot=hot, year_columns={2000: "y2000", 2005: "y2005"}, seed=0)
    assert out["first_hot_year"].iloc[0] == 2005
    assert "density" in out["precedence_reason"].iloc[0] and "times the study area's" in out["precedence_reason"].iloc[0]
    # min_density_ratio raises the bar: 60 firms/km² on the core is less than 3 x the study area's
    high = gu.units_overlay(units, parks, value="n", hot=hot, year_columns={2000: "y2000", 2005: "y2005"}, seed=0,
                            min_density_ratio=3.0)
    assert pd.isna(high["first_hot_year"].iloc[0])


def test_hot_flags_by_year():
    units, hot, parks = _yearly_case()
    parks = parks.iloc[:2]  # designated 2008 and 2003
    none = pd.Series(False, index=units.index)
    by_year = {2001: none, 2002: hot, 2009: hot}
    out = gu.units_overlay(units, parks, value="n", hot=hot, hot_by_year=by_year, seed=0)
    assert out["first_hot_year"].tolist() == [2002, 2002]
    assert out["precedence"].tolist() == [gu.PRECEDENCE["before"], gu.PRECEDENCE["before"]]
    assert "100% on hot units" in out["precedence_reason"].iloc[0]
    # with the yearly counts too: the years of both, hot by either
    out = gu.units_overlay(units, parks.iloc[1:], value="n", hot=hot, hot_by_year={2001: none, 2009: hot},
                           year_columns={2000: "y2000", 2010: "y2010"}, seed=0)
    row = out.iloc[0]
    assert row["first_hot_year"] == 2009
    assert row["precedence"] == gu.PRECEDENCE["undetermined"]  # 2002 is missing: 2001 not hot, designated 2003
    assert "counts missing for 2002" in row["precedence_reason"]
    assert "that year's hot units" in out.attrs["rules"]["hot year"]
    with pytest.raises(InputError, match="one flag per unit"):
        gu.units_overlay(units, parks, value="n", hot=hot, hot_by_year={2001: [True]})


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
    with pytest.raises(InputError, match="`coincide_min_share` must be a share"):
        gu.units_overlay(units, parks, value="n", hot=hot, coincide_min_share=25)
    with pytest.raises(InputError, match="`min_density_ratio` must be a positive number"):
        gu.units_overlay(units, parks, value="n", hot=hot, min_density_ratio=0)
    with pytest.raises(InputError, match=r"Column 'y' \(the counts of 2000\) has 1 negative counts \('u0_0'\)"):
        gu.units_overlay(units.assign(y=[-1, 0, 0, 0]), parks, value="n", hot=hot, year_columns={2000: "y"})
    with pytest.raises(InputError, match=r"Column 'name' \(the value\) must be numeric"):
        gu.units_overlay(units.assign(name="a"), parks, value="name", hot=hot)
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


def test_notes_and_doctests():
    import doctest

    units = _grid(2, 2, values=[10, 20, 30, 40])
    units["y2000"] = [1.0, np.nan, 2.0, 3.0]
    overlapping = pd.concat([units, units.iloc[[2]].rename(index={"u0_1": "again"})])
    parks = _parks((0, 1000, 500, 2000), (-500, 0, 500, 1000))
    out = gu.units_overlay(overlapping, parks, value="n", hot=np.zeros(5, bool), year_columns={2000: "y2000"})
    assert "the units under the park overlap (they cover 2.00 times its area)" in out["notes"].iloc[0]
    assert "50% of the park lies outside the units" in out["notes"].iloc[1]
    assert "yearly counts missing for 2000" in out["notes"].iloc[1]
    result = doctest.testmod(gu, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0


def test_public_api():
    import geo

    assert geo.units_overlay is gu.units_overlay
    assert "units_overlay" in geo.__all__


# ----------------------------------------------------------------------------- size under the null
def _null_rejections(replicates: int, *, n=6, permutations=99, seed=0):
    """Share of replicates where the permutation test rejects at 0.05, the values being iid
    (exchangeable over the units: the null holds) and the park fixed on 4 units."""
    rng = np.random.default_rng(seed)
    units = _grid(n, n)
    hot = np.zeros(n * n, bool)
    parks = _parks((1500, 1500, 3500, 3500))  # quarters, halves and one whole unit
    rejected = 0
    for r in range(replicates):
        units["n"] = rng.poisson(10, n * n).astype(float)
        out = gu.units_overlay(units, parks, value="n", hot=hot, permutations=permutations, seed=r)
        assert out["p_method"].iloc[0] == "permutation"
        rejected += int(out["p"].iloc[0] <= 0.05)
    return rejected / replicates


def test_permutation_test_size_under_the_null():
    # the engine units_overlay runs (arrangements, then the park's weighted sum and its p), 2000
    # null replicates: (count + 1) / (R + 1) with R = 99 gives P(p <= 0.05) = 0.05 exactly
    rng = np.random.default_rng(0)
    pos = np.array([7, 8, 13, 14])
    w = np.array([0.25, 0.25, 0.25, 0.25])
    rejected = 0
    for _ in range(2000):
        x = rng.poisson(10, 36).astype(float)
        draws = gu._draws(36, 4, permutations=99, rng=rng)
        assert not draws.exact
        rejected += gu._p(x, pos, w, draws, "greater")[1] <= 0.05
    sd = math.sqrt(0.05 * 0.95 / 2000)
    # ties of Poisson sums make the test a little conservative
    assert 0.05 - 4 * sd <= rejected / 2000 <= 0.05 + 3 * sd


@pytest.mark.slow
def test_permutation_test_size_under_the_null_study():
    rate = _null_rejections(1000, seed=1)
    assert rate <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 1000)


def test_precedence_on_noise_finds_few_hot_years():
    # 10 yearly counts of pure noise: the yearly tests are FDR-adjusted per park, so a park
    # gets a hot year with probability about alpha (unadjusted: 1 - 0.95^10 = 40 %)
    rng = np.random.default_rng(2)
    units = _grid(10, 10, values=rng.poisson(10, 100))
    years = {}
    for y in range(2000, 2010):
        units[f"y{y}"] = rng.poisson(10, 100).astype(float)
        years[y] = f"y{y}"
    boxes = [(x, y, x + 2000, y + 2000) for x in (500, 3500, 6500) for y in (500, 3500, 6500)]
    boxes += [(x, y, x + 1000, y + 1000) for x in (1200, 5200, 8200) for y in (2200, 5200, 8200)]
    parks = _parks(*boxes, designated=[2005] * len(boxes))
    out = gu.units_overlay(units, parks, value="n", hot=np.zeros(100, bool), year_columns=years, permutations=199)
    assert out["first_hot_year"].notna().sum() <= 3  # of 18 parks; Binomial(18, 0.05): P(X > 3) = 0.01
    assert (out["verdict"] == VERDICTS["none"]).all()


# ----------------------------------------------------------------------------- the demo, from counts
def test_demo_verdicts_from_aggregated_counts(demo_results):
    """The demo's four park verdicts (its generator's truth) from what an analyst with a gridded
    yearly raster holds: target firms counted on 1 km squares, stocks every 5 years, no points."""
    import geo
    from geo.cells.grid import cell_positions
    from geo.datasets import load_truth
    from geo.points import point_xy, sector_mask

    truth = load_truth()["parks"]
    years = list(range(1985, 2021, 5))
    seen = {}
    for name, vr in demo_results.valleys.items():
        metric = vr.analysis.metric_firms
        target = metric[sector_mask(metric, "optics", "sector")]
        units = geo.aggregate(target, cell="square", size=1000)
        x, y = point_xy(target)
        pos = cell_positions(units, x, y)
        founded = pd.to_numeric(target["founded"], errors="coerce").to_numpy(float)
        for year in years:
            ok = (pos >= 0) & (founded <= year)
            units[f"y{year}"] = np.bincount(pos[ok], minlength=len(units)).astype(float)
        hot = _gi_hot(units)
        parks = demo_results.parks[demo_results.parks["valley"] == name]
        out = gu.units_overlay(units, parks, value="n_firms", hot=hot, year_columns={y: f"y{y}" for y in years}, seed=0)
        seen.update(dict(zip(out["name"], out["verdict"])))
    assert seen == {park: t["verdict"] for park, t in truth.items()}


def _gi_hot(units):
    import geo

    graph = geo.weights(units, kind="queen")
    hot = geo.hotspots(units, "n_firms", graph=graph, permutations=199, seed=0)
    return pd.Series(hot["gi_bin"].to_numpy() >= 2, index=units.index)


def _answer_valley(hot, *, moran=None, overlay=None, skipped=None, label="firms per km²"):
    from types import SimpleNamespace

    units = None if hot is None else pd.DataFrame({"hot": hot})
    analysis = SimpleNamespace(units=units, variable_label=label, global_moran=moran, overlay=overlay)
    return SimpleNamespace(title="Valley <A>", analysis=analysis, skipped=skipped or {})


def test_units_answer_states_the_counts_the_moran_and_the_verdicts():
    """The headline in words, against sentences written by hand from the hand-made valleys."""
    from types import SimpleNamespace

    perm = SimpleNamespace(I=0.412345, p_sim=0.004, p_rand=0.2, permutations=999)
    analytic = SimpleNamespace(I=-0.05, p_sim=float("nan"), p_rand=0.0, permutations=0)
    overlay = pd.DataFrame({"name": ["North <park>", None], "verdict": [VERDICTS["after"], float("nan")]})
    found = gu.units_answer({
        "a": _answer_valley([True, False, True, False, False], moran={"value": perm}, overlay=overlay),
        "b": _answer_valley([False] * 4, moran={"value": analytic}, label=None),
        "c": _answer_valley(None, skipped={"statistics": "only 9 unit(s): the spatial statistics need at least 30."}),
    })
    a, b, c = found
    assert a.sentence == "2 of 5 units are hot spots of firms per km² (global Moran's I = 0.4123, p = 0.004)."
    assert (a.valley, a.title, a.n_hot, a.n_units, a.moran_i, a.moran_p) == ("a", "Valley <A>", 2, 5, 0.412345, 0.004)
    assert a.parks == (("North <park>", VERDICTS["after"]), ("", None))
    # without permutations the randomisation p; an underflowed 0 is not "p = 0"
    assert b.sentence == "0 of 4 units are hot spots of — (global Moran's I = -0.05, p < 1e-300)." and b.parks == ()
    assert c.sentence == "only 9 unit(s): the spatial statistics need at least 30." and c.n_units is None
    tiny = gu.units_answer({"d": _answer_valley([True], moran={"v": SimpleNamespace(I=0.00012, p_sim=0.5, p_rand=0.4,
                                                                                   permutations=99)})})
    assert tiny[0].sentence == "1 of 1 units are hot spots of firms per km² (global Moran's I = 1.200e-04, p = 0.5)."
    assert (c.moran_i, c.parks) == (None, ())
