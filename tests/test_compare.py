"""compare_valleys: the three comparisons, focus line, tiny inputs."""

from __future__ import annotations

from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.parks.compare import compare_valleys, growth_phase


def _firms(seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    centres = {"A": (114.40, 30.50), "B": (125.30, 43.86)}
    for v, (x0, y0) in centres.items():
        # background of food firms, plus a tight cluster of optics (lasers in A, fibre in B)
        n_bg, n_cl = 300, 80
        sub = "lasers" if v == "A" else "optical_fibre"
        xs = np.r_[x0 + rng.uniform(-0.1, 0.1, n_bg), x0 + rng.normal(0, 0.004, n_cl)]
        ys = np.r_[y0 + rng.uniform(-0.1, 0.1, n_bg), y0 + rng.normal(0, 0.004, n_cl)]
        sector = ["food"] * n_bg + ["optics"] * n_cl
        subsector = ["food"] * n_bg + [sub] * n_cl
        founded = np.r_[rng.integers(1980, 2024, n_bg), rng.integers(2015 if v == "A" else 1980, 2024, n_cl)]
        for i in range(n_bg + n_cl):
            rows.append({"valley": v, "sector": sector[i], "subsector": subsector[i], "founded": int(founded[i]),
                         "rd": int(sector[i] == "optics"), "geometry": shapely.Point(xs[i], ys[i])})
    return gpd.GeoDataFrame(rows, crs=4326)


def test_growth_phase_rules():
    # all firms founded in the last 5 years: emerging
    assert growth_phase([2020, 2021, 2022, 2023, 2024] * 5)["phase"] == "emerging"
    # an old stock whose entries stopped: mature (recent rate 0 < half the peak)
    old = list(range(1980, 2000)) * 3
    g = growth_phase(old, reference_year=2024)
    assert g["phase"] == "mature" and g["recent_rate"] == 0.0 and g["peak_rate"] == pytest.approx(3.0)
    # steady entries over 40 years: growing (median age 20, recent == peak)
    g = growth_phase(list(range(1985, 2025)) * 2)
    assert g["phase"] == "growing" and g["median_age"] == pytest.approx(19.5)
    assert growth_phase([])["phase"] == "undetermined"


def test_compare_two_valleys():
    f = _firms()
    parks = gpd.GeoDataFrame({"name": ["P"], "valley": ["A"], "designated": [2010]}, geometry=[shapely.box(114.3, 30.4, 114.5, 30.6)], crs=4326)
    res = compare_valleys(f, parks, target_sector="optics", simulations=39, kd_years=None, seed=1)
    c = res.table
    assert list(c.index) == ["A", "B"]
    assert c.loc["A", "n_target"] == 80 and c.loc["A", "n_firms"] == 380
    # sub-sector composition and LQs, by hand: A is all lasers, B all fibre
    assert c.loc["A", "comp_share_lasers"] == 1.0 and c.loc["B", "comp_share_lasers"] == 0.0
    assert c.loc["A", "comp_lq_lasers"] == pytest.approx(1 / 0.5)
    assert res.krugman.loc["A", "B"] == pytest.approx(2.0)
    # development stage: all of A's optics firms founded after its park's designation (2010)
    assert c.loc["A", "stage_share_after_designation"] == 1.0 and c.loc["A", "stage_designated"] == 2010
    assert np.isnan(c.loc["B", "stage_share_after_designation"])
    # technology: R&D share of all firms = 80 / 380
    assert c.loc["A", "tech_rd_share"] == pytest.approx(80 / 380)
    assert "tech_patents" in res.notes
    # the tight clusters are localised, so the focus names each valley's own sub-sector
    assert c.loc["A", "kd_target"].startswith("localised")
    assert c.loc["A", "focus"] == "lasers" and c.loc["B", "focus"] == "optical_fibre"
    stock = res.stock_by_year
    assert stock[stock.valley == "A"]["stock"].iloc[-1] == 80


def test_tiny_inputs_give_reasons_not_crashes():
    f = _firms()
    one = f[f.valley == "A"].iloc[list(range(300)) + [300, 301, 302]]  # 3 optics firms only
    res = compare_valleys(one, None, target_sector="optics", simulations=19, kd_years=None)
    c = res.table
    assert len(c) == 1
    assert "at least 10" in res.kd["A"]["optics"]
    assert "one valley only" in res.notes["krugman"]
    with pytest.raises(ValueError, match="needs a `valley` column"):
        compare_valleys(f.drop(columns="valley"))


def test_subsector_named_like_the_target_sector():
    # target "optics" with sub-sectors "lasers" (a tight cluster founded 1990-1999) and
    # "optics" (spread evenly, founded 2005-2023): each is tested on its own firms, the whole
    # sector keeps its own entry, and the first localised year is the whole sector's
    rng = np.random.default_rng(4)
    x0, y0 = 114.40, 30.50
    n_bg, n_cl, n_sp = 300, 80, 80
    xs = np.r_[x0 + rng.uniform(-0.1, 0.1, n_bg), x0 + rng.normal(0, 0.004, n_cl), x0 + rng.uniform(-0.1, 0.1, n_sp)]
    ys = np.r_[y0 + rng.uniform(-0.1, 0.1, n_bg), y0 + rng.normal(0, 0.004, n_cl), y0 + rng.uniform(-0.1, 0.1, n_sp)]
    sector = ["food"] * n_bg + ["optics"] * (n_cl + n_sp)
    subsector = ["food"] * n_bg + ["lasers"] * n_cl + ["optics"] * n_sp
    founded = np.r_[rng.integers(1980, 2024, n_bg), rng.integers(1990, 2000, n_cl), rng.integers(2005, 2024, n_sp)]
    f = gpd.GeoDataFrame({"valley": "A", "sector": sector, "subsector": subsector, "founded": founded},
                         geometry=gpd.points_from_xy(xs, ys), crs=4326)
    res = compare_valleys(f, None, target_sector="optics", simulations=39, kd_years=[1995, 2010, 2020], seed=1)
    c = res.table
    kd = res.kd["A"]
    assert set(kd) == {"optics (whole sector)", "lasers", "optics"}
    assert kd["optics (whole sector)"].startswith("localised")
    assert kd["lasers"].startswith("localised")
    assert not kd["optics"].startswith("localised")  # the spread sub-sector, on its own firms
    assert c.loc["A", "kd_target"] == kd["optics (whole sector)"]
    # by 1995 the lasers cluster (about half of the 1990s entrants) makes the sector localised
    assert c.loc["A", "stage_first_localised_year"] == 1995
    # a precomputed Kd of the whole sector is used for the whole sector only
    fake = SimpleNamespace(verdict="precomputed whole-sector verdict", localised=[(0.0, 1.0)])
    c2 = compare_valleys(f, None, target_sector="optics", simulations=39, kd_years=None, seed=1, kd_target={"A": fake})
    assert c2.kd["A"]["optics (whole sector)"] == "precomputed whole-sector verdict"
    assert c2.kd["A"]["optics"] == kd["optics"]


def test_kd_verdicts_are_kds_own():
    # every group's verdict is what kd gives for that group's firms (same seed per valley),
    # though the groups of a valley share one reading and sorting of its sites
    from geo.crs import to_metric
    from geo.stats.pointpattern import kd

    f = _firms(3)
    f.loc[f.index[::7], "subsector"] = "lasers"  # a second sub-sector in both valleys
    f.loc[f.sector != "optics", "subsector"] = "food"
    res = compare_valleys(f, None, target_sector="optics", simulations=19, kd_years=None, seed=2)
    seeds = np.random.SeedSequence(2).generate_state(2)
    for v, vseed in zip(["A", "B"], seeds):
        fm = to_metric(f[f.valley == v])
        target = (fm["sector"] == "optics").to_numpy()
        groups = {"optics": target}
        for s in sorted(f.loc[f.sector == "optics", "subsector"].unique()):
            groups[s] = target & (fm["subsector"] == s).to_numpy()
        want = {}
        for s, mask in groups.items():
            if mask.sum() < 10:
                want[s] = f"not tested: {int(mask.sum())} firms (at least 10 needed)"
            else:
                want[s] = kd(fm, sector=mask, simulations=19, seed=int(vseed)).verdict
        assert res.kd[v] == want


def test_counts_table_gives_the_row_level_lq_and_mix():
    # the comparison feeds the economics measures one row per (valley, sector) with its
    # firm count: the same tables as from one row per firm (missing labels left out)
    from geo.parks.compare import _N, _firm_counts
    from geo.stats.economics import location_quotient, sector_mix

    rng = np.random.default_rng(5)
    t = pd.DataFrame({"valley": rng.choice(["A", "B", "C"], 500),
                      "sector": rng.choice(["x", "y", "z", "w"], 500, p=[0.5, 0.3, 0.15, 0.05])})
    t.loc[t.index[:7], "sector"] = None
    t.loc[t.index[7:9], "valley"] = None
    agg = _firm_counts(t, "valley", "sector")
    assert agg[_N].sum() == 491
    pd.testing.assert_frame_equal(
        location_quotient(agg, region_column="valley", sector_column="sector", weights=_N),
        location_quotient(t, region_column="valley", sector_column="sector"))
    pd.testing.assert_frame_equal(
        sector_mix(agg, region_column="valley", sector_column="sector", weights=_N),
        sector_mix(t, region_column="valley", sector_column="sector"))
