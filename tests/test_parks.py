"""Parks vs clusters: cluster polygons, overlay metrics, the three tests, verdicts."""

from __future__ import annotations

import math
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.stats import hypergeom

from geo.parks import overlay as gp

CRS = "EPSG:32650"


def _square_cells(nx=30, ny=30, size=500.0, x0=500000.0, y0=3370000.0):
    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="xy")
    i, j = i.ravel(), j.ravel()
    geoms = shapely.box(x0 + i * size, y0 + j * size, x0 + (i + 1) * size, y0 + (j + 1) * size)
    return gpd.GeoDataFrame({"i": i, "j": j}, geometry=geoms, crs=CRS)


def _bump_field(cells, cx, cy, sigma=1500.0, height=6.0):
    c = cells.geometry.centroid
    d2 = (c.x - cx) ** 2 + (c.y - cy) ** 2
    return height * np.exp(-d2 / (2 * sigma**2))


# ----------------------------------------------------------------------------- clusters
def test_cluster_polygons_components_and_ids():
    cells = _square_cells(10, 10)
    bins = np.zeros(100, dtype=int)
    block_a = (cells.i.between(1, 3) & cells.j.between(1, 3)).to_numpy()  # 9 cells
    block_b = (cells.i.between(7, 8) & cells.j.between(7, 8)).to_numpy()  # 4 cells
    diag = ((cells.i == 4) & (cells.j == 4)).to_numpy()  # touches block_a at a corner only
    bins[block_a | block_b | diag] = 3
    cells["gi_bin"] = bins
    cells["gi_z"] = np.where(bins > 0, 3.5, 0.1)
    cells["n_firms"] = np.where(block_b, 50, np.where(bins > 0, 2, 0))
    cells["n_optics"] = np.where(bins > 0, 1, 0)
    cl = gp.cluster_polygons(cells, sector="optics")
    assert len(cl) == 2
    # ids ordered by firms: block B (4 cells x 50 firms) first
    assert cl.cluster_id.tolist() == [1, 2]
    assert cl.n_cells.tolist() == [4, 10]
    assert cl.n_firms.tolist() == [200, 20]
    assert cl.n_target.tolist() == [4, 10]
    assert cl.area_km2.iloc[0] == pytest.approx(4 * 0.25)
    # the record: hot cell (index of the cells) -> cluster id, named like the clusters' column
    cc = cl.attrs["cell_cluster"]
    assert cc.name == "cluster_id" and cl.attrs["definition"] == "Gi* bin >= 2"
    assert cc.sort_index().to_dict() == {**dict.fromkeys(cells.index[block_b], 1), **dict.fromkeys(cells.index[block_a | diag], 2)}
    none = gp.cluster_polygons(cells.assign(gi_bin=0))
    assert len(none) == 0
    assert none.attrs["cell_cluster"].name == "cluster_id" and len(none.attrs["cell_cluster"]) == 0


def test_cluster_polygons_lisa_and_bad_input():
    cells = _square_cells(5, 5)
    cells["lisa_label"] = np.where(cells.i < 2, "HH", "ns")
    cells["n_firms"] = 1
    cl = gp.cluster_polygons(cells, by="lisa")
    assert len(cl) == 1 and cl.n_cells.iloc[0] == 10
    with pytest.raises(ValueError, match="no `gi_bin` column"):
        gp.cluster_polygons(cells)
    with pytest.raises(ValueError, match="'gi' or 'lisa'"):
        gp.cluster_polygons(cells, by="kde")


# ----------------------------------------------------------------------------- labelling test
@pytest.mark.parametrize("n_in,t_in,N,K", [(50, 20, 1000, 100), (10, 0, 500, 50), (30, 30, 200, 40), (5, 2, 20, 6)])
def test_labelling_test_is_exact_hypergeometric(n_in, t_in, N, K):
    # by hand: P(X >= t) = sum_k C(K,k) C(N-K, n-k) / C(N, n)
    hand = sum(math.comb(K, k) * math.comb(N - K, n_in - k) for k in range(t_in, min(n_in, K) + 1)) / math.comb(N, n_in)
    assert gp.labelling_test(n_in, t_in, N, K) == pytest.approx(hand, rel=1e-9)
    assert gp.labelling_test(n_in, t_in, N, K) == pytest.approx(hypergeom(N, K, n_in).sf(t_in - 1), rel=1e-12)
    two = gp.labelling_test(n_in, t_in, N, K, alternative="two-sided")
    low = gp.labelling_test(n_in, t_in, N, K, alternative="less")
    assert two == pytest.approx(min(1, 2 * min(hand, low)))


# ----------------------------------------------------------------------------- entry rate ratio
def test_entry_rate_ratio_hand_example():
    # inside: 10 entries 1980-1990 (11 years before 1991), 40 after; outside: 100 and 100
    founded = np.r_[np.full(10, 1985), np.full(40, 2000), np.full(100, 1985), np.full(100, 2000)]
    inside = np.r_[np.ones(50, bool), np.zeros(200, bool)]
    rr = gp.entry_rate_ratio(founded, inside, 1991, first=1980, last=2024)
    assert rr["rate_ratio"] == pytest.approx((40 * 100) / (10 * 100))
    se = math.sqrt(1 / 10 + 1 / 40 + 1 / 100 + 1 / 100)
    assert rr["rr_lo"] == pytest.approx(4 * math.exp(-1.959963984540054 * se))
    assert rr["rr_hi"] == pytest.approx(4 * math.exp(1.959963984540054 * se))
    assert rr["years_before"] == 11 and rr["years_after"] == 34
    assert rr["rate_in_before"] == pytest.approx(10 / 11)
    # a zero count gets the 0.5 correction, stated
    rr0 = gp.entry_rate_ratio(np.r_[2000, 2001, 1985, 2000], np.r_[True, True, False, False], 1991)
    assert "0.5 added" in rr0["correction"] and rr0["rate_ratio"] == pytest.approx((2.5 * 1.5) / (0.5 * 1.5))


def test_ring_buffer_has_equal_area():
    s = 2000.0
    park = shapely.box(0, 0, s, s)
    ring, d = gp._ring_buffer(park)
    # closed form for a square: 4 s d + pi d^2 = s^2 (round joins)
    d_exact = (-4 * s + math.sqrt(16 * s * s + 4 * math.pi * s * s)) / (2 * math.pi)
    assert d == pytest.approx(d_exact, rel=2e-3)
    assert ring.area == pytest.approx(park.area, rel=5e-3)


# ----------------------------------------------------------------------------- placement test
def _field_cells():
    cells = _square_cells(30, 30)
    cx, cy = 500000 + 7500, 3370000 + 7500
    z = _bump_field(cells, cx, cy)
    cells["gi_z"] = z
    cells["gi_bin"] = np.where(z > 2.58, 3, np.where(z > 1.96, 2, 0))
    cells["n_firms"] = np.round(z * 5).astype(int)
    return cells, (cx, cy)


def test_placement_test_power_on_planted_cluster():
    cells, (cx, cy) = _field_cells()
    park = shapely.box(cx - 1200, cy - 800, cx + 1200, cy + 800)
    area = shapely.union_all(cells.geometry.values)
    res = gp.placement_test(park, cells, study_area=area, permutations=199, seed=1)
    assert res["p_placement"] <= 0.02
    assert res["hot_share_cells"] == 1.0 and res["permutations_done"] == 199
    # same seed, same answer
    assert gp.placement_test(park, cells, study_area=area, permutations=199, seed=1) == res


def test_placement_test_size_under_independence():
    """A park placed at random (independently of the field) is rejected ~5 % of the time."""
    cells, _ = _field_cells()
    area = shapely.union_all(cells.geometry.values)
    shape = shapely.box(0, 0, 2000, 1200)
    rng = np.random.default_rng(42)
    reps = 120
    parks, _ = gp._random_placements(shape, area, None, reps, rng, max_tries=100000)
    p = np.array([gp.placement_test(pk, cells, study_area=area, permutations=99, seed=k)["p_placement"] for k, pk in enumerate(parks)])
    rate = np.mean(p <= 0.05)
    # binomial MC error: sd = sqrt(.05*.95/120) = 0.02; allow 3 sd
    assert abs(rate - 0.05) < 3 * math.sqrt(0.05 * 0.95 / reps)
    # and p is roughly uniform: mean 0.5
    assert abs(p.mean() - 0.5) < 3 * math.sqrt(1 / 12 / reps) + 0.01


def test_placements_lie_inside_area_and_mask():
    area = shapely.box(0, 0, 10000, 10000)
    mask = shapely.box(0, 0, 5000, 10000)
    park = shapely.Polygon([(0, 0), (1000, 0), (1000, 300), (0, 300)])
    sims, _ = gp._random_placements(park, area, mask, 50, np.random.default_rng(0), 10000)
    assert len(sims) == 50
    assert all(shapely.contains(mask, s) for s in sims)
    assert all(s.area == pytest.approx(park.area) for s in sims)


def _square_acceptance(s, L):
    """Exact share of placements of a square park of side ``s`` (uniform angle about its
    centre, centre uniform in the square study area of side ``L >= s * sqrt(2)``) that fit.

    At angle t the park's half-width is w = s/2 (|cos t| + |sin t|) and it fits when its
    centre lies in a square of side L - 2w; E|cos t| + |sin t| = 4/pi and
    E(|cos t| + |sin t|)^2 = 1 + 2/pi, so E(L - 2w)^2 / L^2 = 1 - 8s/(pi L) + (s/L)^2 (1 + 2/pi).
    """
    return 1 - 8 * s / (math.pi * L) + (s / L) ** 2 * (1 + 2 / math.pi)


def _square_centre_cdf(x, s, L):
    """CDF of the accepted centres' x in the same setting: a mixture over the angle of
    uniforms on [w, L - w], weighted by the area (L - 2w)^2 of the feasible centres."""
    t = (np.arange(4096) + 0.5) * (math.pi / 2) / 4096  # w has period pi/2: midpoint rule
    w = s / 2 * (np.abs(np.cos(t)) + np.abs(np.sin(t)))
    side = L - 2 * w
    x = np.atleast_1d(np.asarray(x, dtype=float))
    return (side * np.clip(x[:, None] - w, 0, side)).mean(axis=1) / (side**2).mean()


def _placements_one_by_one(park, area, mask, n, rng, max_tries=10**7):
    """The reference sampler: one candidate at a time (a uniform angle about the centroid,
    the centroid moved to a uniform point of the bounding box of the study area within the
    mask), kept if it lies inside; returns the placements and the candidates tried."""
    region = area if mask is None else shapely.intersection(area, mask)
    x0, y0, x1, y1 = region.bounds
    c = shapely.centroid(park)
    out, tries = [], 0
    while len(out) < n and tries < max_tries:
        theta = rng.uniform(0, 2 * math.pi)
        tx, ty = rng.uniform(x0, x1), rng.uniform(y0, y1)
        tries += 1
        cand = shapely.affinity.rotate(park, theta, origin=c, use_radians=True)
        cand = shapely.affinity.translate(cand, tx - c.x, ty - c.y)
        if region.contains(cand):
            out.append(cand)
    return out, tries


def _acceptance_sd(a, k):
    """Standard error of k / tries with tries the candidates drawn until k fitted
    (negative binomial tries: var(tries) = k (1 - a) / a^2, then the delta method)."""
    return a * math.sqrt((1 - a) / k)


@pytest.mark.parametrize("side", [1500.0, 4500.0])
def test_placement_acceptance_equals_closed_form(side):
    """The reported acceptance is the share of candidates that fitted (was 0.5 for every park:
    whole batches were counted as tried)."""
    cells = _square_cells(30, 30)  # a 15 km square
    cells["gi_z"] = 0.0
    cells["gi_bin"] = 0
    L = 15000.0
    area = shapely.box(500000.0, 3370000.0, 500000.0 + L, 3370000.0 + L)
    park = shapely.box(0, 0, side, side)
    k = 1999
    res = gp.placement_test(park, cells, study_area=area, permutations=k, seed=11)
    exact = _square_acceptance(side, L)  # 0.762 and 0.383
    assert res["permutations_done"] == k
    assert abs(res["placement_acceptance"] - exact) < 4 * _acceptance_sd(exact, k)
    # the tries are whole candidates: k / acceptance is an integer
    assert k / res["placement_acceptance"] == pytest.approx(round(k / res["placement_acceptance"]), abs=1e-6)


def test_batched_placements_equal_one_by_one_in_distribution():
    """The batched sampler keeps uniform placements: the accepted centres follow the exact
    distribution (square park, square study area) and that of the one-at-a-time reference
    sampler, and both samplers' acceptance rates agree with each other and the closed form."""
    from scipy.stats import ks_2samp, kstest

    L, s, n = 10000.0, 3000.0, 2000
    area = shapely.box(0, 0, L, L)
    park = shapely.box(20000, 20000, 20000 + s, 20000 + s)  # anywhere: only its shape matters
    fast, fast_tries = gp._random_placements(park, area, None, n, np.random.default_rng(1), 10**6)
    slow, slow_tries = _placements_one_by_one(park, area, None, n, np.random.default_rng(2))
    assert len(fast) == len(slow) == n
    exact = _square_acceptance(s, L)  # 0.498: several batches
    sd = _acceptance_sd(exact, n)
    assert abs(n / fast_tries - exact) < 4 * sd and abs(n / slow_tries - exact) < 4 * sd
    assert abs(n / fast_tries - n / slow_tries) < 4 * math.sqrt(2) * sd
    fc, sc = shapely.centroid(fast), shapely.centroid(slow)
    for get in (shapely.get_x, shapely.get_y):
        assert kstest(get(fc), lambda x: _square_centre_cdf(x, s, L)).pvalue > 0.01
        assert ks_2samp(get(fc), get(sc)).pvalue > 0.01
    # the tests have power: centres uniform in the box (no rejection) are told apart
    uniform = np.random.default_rng(3).uniform(0, L, n)
    assert kstest(uniform, lambda x: _square_centre_cdf(x, s, L)).pvalue < 1e-6
    assert ks_2samp(uniform, shapely.get_x(sc)).pvalue < 1e-6


def test_batched_placements_with_mask_and_holes_equal_one_by_one():
    """A holed, asymmetric park in an L-shaped study area cut by a mask: the batched sampler
    (the path for holes) and the reference give the same centres, angles and acceptance."""
    from scipy.stats import ks_2samp

    area = shapely.union_all([shapely.box(0, 0, 20000, 14000), shapely.box(0, 0, 14000, 20000)])
    mask = shapely.Point(0, 0).buffer(21000, 64)  # cuts the outer corner
    park = shapely.affinity.scale(_shapes()["holed"], 0.5, 0.5)
    n = 1500
    fast, fast_tries = gp._random_placements(park, area, mask, n, np.random.default_rng(4), 10**6)
    slow, slow_tries = _placements_one_by_one(park, area, mask, n, np.random.default_rng(5))
    assert len(fast) == len(slow) == n
    a = n / slow_tries  # 0.65: one batch and a part of the next
    assert abs(n / fast_tries - a) < 4 * math.sqrt(2) * _acceptance_sd(a, n)

    def angles(geoms):  # the angle of the first vertex about the centroid (the park's starts at -143 deg)
        xy = shapely.get_coordinates(shapely.get_exterior_ring(geoms))[::5]
        c = shapely.centroid(geoms)
        return np.arctan2(xy[:, 1] - shapely.get_y(c), xy[:, 0] - shapely.get_x(c))

    fc, sc = shapely.centroid(fast), shapely.centroid(slow)
    for f, r in ((shapely.get_x(fc), shapely.get_x(sc)), (shapely.get_y(fc), shapely.get_y(sc)),
                 (angles(np.asarray(fast)), angles(np.asarray(slow)))):
        assert ks_2samp(f, r).pvalue > 0.01


def test_precedence_with_given_before_hotspots():
    cells, (cx, cy) = _field_cells()
    park = shapely.box(cx - 1000, cy - 1000, cx + 1000, cy + 1000)
    rng = np.random.default_rng(5)
    n = 400
    xy = np.column_stack([rng.uniform(500000, 515000, n), rng.uniform(3370000, 3385000, n)])
    firms = gpd.GeoDataFrame({"sector": "optics", "founded": rng.integers(1980, 2024, n)}, geometry=shapely.points(xy), crs=CRS)
    before_cold = cells.assign(gi_z=0.0, gi_bin=0)
    res = gp.precedence_test(park, cells, firms, year=1991, sector="optics", hot_before=before_cold)
    assert res["cluster_before"] is False and res["hot_share_now"] == 1.0
    res2 = gp.precedence_test(park, cells, firms, year=1991, sector="optics", hot_before=cells)
    n_pre = int(((firms.founded < 1991) & _inside_geos(shapely.union_all(cells[cells.gi_bin >= 2].geometry.values), xy[:, 0], xy[:, 1])).sum())
    assert res2["firms_in_cluster_before"] == n_pre
    assert res2["cluster_before"] is (n_pre >= 10) and res2["hot_share_before"] == 1.0
    # a hot spot made of too few early firms is not a cluster
    res3 = gp.precedence_test(park, cells, firms, year=1991, sector="optics", hot_before=cells, min_cluster_firms=n_pre + 1)
    assert res3["cluster_before"] is False
    inside = _inside_geos(park, xy[:, 0], xy[:, 1])
    assert res["entries_in_before"] + res["entries_in_after"] == inside.sum()


@pytest.mark.parametrize(
    "row,expected",
    [
        ({"max_cluster_share": 0.6, "park_hot_share": 0.1, "p_placement_fdr": 0.01, "p_labelling_fdr": 0.2, "cluster_before": True,
          "hot_share_before": 0.5, "firms_in_cluster_before": 50, "designated": 1991}, "park on a pre-existing cluster"),
        ({"max_cluster_share": 0.9, "park_hot_share": 0.05, "p_placement_fdr": 0.3, "p_labelling_fdr": 1e-9, "cluster_before": False,
          "hot_share_before": 0.0, "designated": 1991}, "cluster formed after designation"),
        ({"max_cluster_share": 0.6, "park_hot_share": 0.6, "p_placement_fdr": 0.30, "p_labelling_fdr": 0.4, "cluster_before": True,
          "designated": 1991}, "park without a cluster"),
        ({"max_cluster_share": 0.05, "park_hot_share": 0.02, "p_placement_fdr": 0.001, "p_labelling_fdr": 0.001, "cluster_before": False,
          "designated": 1991}, "park without a cluster"),
        ({"max_cluster_share": 0.3, "park_hot_share": 0.6, "p_placement_fdr": 0.01, "p_labelling_fdr": 0.01, "cluster_before": None,
          "precedence_skipped": "no designation year"}, "undetermined"),
    ],
)
def test_verdict_rules(row, expected):
    v, reason = gp.verdict(row)
    assert v == expected
    assert "%" in reason and "p = " in reason


def test_verdict_writes_an_underflowed_p_as_below_1e_300():
    """An exact test can underflow to p = 0: the sentence says p < 1e-300, as the report's tables do."""
    row = {"max_cluster_share": 0.9, "park_hot_share": 0.1, "p_placement_fdr": 0.022, "p_labelling_fdr": 0.0,
           "cluster_before": False, "hot_share_before": 0.0, "designated": 1991}
    v, reason = gp.verdict(row)
    assert v == "cluster formed after designation"
    assert "random placement p = 0.022, random labelling p < 1e-300 (FDR)" in reason
    assert not re.search(r"p = 0(?![.\d])", reason)
    _, reason = gp.verdict({**row, "p_labelling_fdr": 2e-5, "p_placement_fdr": np.nan})
    assert "random placement p not computed, random labelling p = 2.00e-05 (FDR)" in reason


def test_verdict_uses_the_labelling_mid_p():
    """The mid-p decides (the exact p beside it is conservative); without it, the exact p."""
    row = {"max_cluster_share": 0.9, "park_hot_share": 0.1, "p_placement_fdr": 0.3, "p_labelling_fdr": 0.07,
           "p_labelling_mid_fdr": 0.04, "cluster_before": False, "hot_share_before": 0.0, "designated": 1991}
    v, reason = gp.verdict(row)
    assert v == "cluster formed after designation"
    assert "random labelling mid-p = 0.04 (FDR)" in reason
    v, reason = gp.verdict({k: x for k, x in row.items() if k != "p_labelling_mid_fdr"})
    assert v == "park without a cluster" and "random labelling p = 0.07 (FDR)" in reason
    v, _ = gp.verdict({**row, "p_labelling_fdr": 0.01, "p_labelling_mid_fdr": 0.06})
    assert v == "park without a cluster"


def test_labelling_mid_p_is_half_the_observed_count_less():
    for n_in, t_in, N, K in [(50, 20, 1000, 100), (10, 0, 500, 50), (30, 30, 200, 40), (5, 2, 20, 6)]:
        d = hypergeom(N, K, n_in)
        mid = gp.labelling_test(n_in, t_in, N, K, mid_p=True)
        assert mid == pytest.approx(d.sf(t_in) + 0.5 * d.pmf(t_in), rel=1e-12)
        assert mid == pytest.approx(gp.labelling_test(n_in, t_in, N, K) - 0.5 * d.pmf(t_in), rel=1e-12, abs=1e-300)
    assert gp.labelling_test(0, 0, 100, 10, mid_p=True) == 1.0  # no firm in the park: nothing to test


def test_clusters_outside_parks():
    cells = _square_cells(10, 10)
    cells["gi_bin"] = np.where((cells.i < 3) & (cells.j < 3) | (cells.i > 6) & (cells.j > 6), 3, 0)
    cells["gi_z"] = cells["gi_bin"].astype(float)
    cells["n_firms"] = 1
    cl = gp.cluster_polygons(cells)
    x0, y0 = 500000.0, 3370000.0
    parks = gpd.GeoDataFrame({"name": ["P"]}, geometry=[shapely.box(x0, y0, x0 + 1500, y0 + 1500)], crs=CRS)
    out = gp.clusters_outside_parks(cl, parks)
    assert len(out) == 1 and out.share_in_parks.iloc[0] == 0.0


# ----------------------------------------------------------------------------- the demo's truth
def test_demo_verdicts_equal_truth(demo_results):
    from geo.datasets import load_truth

    truth = load_truth()
    seen = {}
    for name, vr in demo_results.valleys.items():
        ov = vr.analysis.parks_overlay
        for _, row in ov.iterrows():
            seen[row["name"]] = row["verdict"]
    assert seen == {p: t["verdict"] for p, t in truth["parks"].items()}


def test_demo_clusters_outside_parks_match_truth(demo_results):
    """Each valley's true outside-park clusters are found as cluster polygons outside every park."""
    import shapely

    from geo.datasets import load_truth

    truth = load_truth()
    for name, vr in demo_results.valleys.items():
        outside = vr.analysis.clusters_outside_parks.to_crs(4326)
        true_ids = set(truth["valleys"][name]["clusters_outside_parks"])
        clusters = {c["id"]: c for c in truth["valleys"][name]["clusters"]}
        for cid in true_ids:
            x, y = clusters[cid]["centre"]
            # the true cluster's centre lies in (or within 1 km of) a detected outside-park cluster
            d = outside.to_crs(vr.analysis.hotspots.crs).distance(
                gpd.GeoSeries([shapely.Point(x, y)], crs=4326).to_crs(vr.analysis.hotspots.crs).iloc[0])
            assert len(d) and d.min() < 1000, (name, cid)
        if not true_ids:
            # no sizeable target cluster outside the parks (small noise clusters allowed)
            assert (outside["n_target"].fillna(0) < 50).all(), (name, outside[["cluster_id", "n_target"]])


# ----------------------------------------------------------------------------- awkward parks
def test_overlay_handles_awkward_parks():
    """No firms inside, no designation year, outside the study area, overlapping: clear notes, no crash."""
    cells, (cx, cy) = _field_cells()
    rng = np.random.default_rng(8)
    n = 600
    xy = np.column_stack([rng.normal(cx, 900, n), rng.normal(cy, 900, n)])
    firms = gpd.GeoDataFrame({"sector": np.where(rng.random(n) < 0.5, "optics", "food"),
                              "founded": rng.integers(1980, 2024, n)}, geometry=shapely.points(xy), crs=CRS)
    x0, y0 = 500000.0, 3370000.0
    parks = gpd.GeoDataFrame(
        {"name": ["on cluster, no year", "empty corner", "far away", "overlapping"],
         "designated": pd.array([pd.NA, 2000, 2000, 1995], dtype="Int64")},
        geometry=[shapely.box(cx - 1500, cy - 1500, cx + 1500, cy + 1500), shapely.box(x0 + 100, y0 + 100, x0 + 900, y0 + 900),
                  shapely.box(x0 + 90000, y0, x0 + 91000, y0 + 1000), shapely.box(cx, cy, cx + 2500, cy + 2500)],
        crs=CRS,
    )
    ov = gp.park_overlay(cells, parks, firms, sector="optics", permutations=99, seed=0)
    assert list(ov["name"]) == list(parks["name"])
    r = ov.set_index("name")
    assert r.loc["on cluster, no year", "verdict"] == "undetermined"
    assert "no designation year" in r.loc["on cluster, no year", "verdict_reason"]
    assert r.loc["empty corner", "n_firms"] == 0 and "no firms inside the park" in r.loc["empty corner", "notes"]
    assert r.loc["empty corner", "verdict"] == "park without a cluster"
    assert r.loc["far away", "outside_study_area"] and "outside the study area" in r.loc["far away", "notes"]
    assert "overlaps on cluster, no year" in r.loc["overlapping", "notes"]
    # FDR columns exist and ignore the untestable park
    assert np.isnan(r.loc["far away", "p_placement_fdr"]) and np.isfinite(r.loc["empty corner", "p_placement_fdr"])
    # the labelling test's mid-p beside the exact p, each FDR-adjusted; the verdict rule reads the mid-p
    pmf = [hypergeom(len(firms), int((firms.sector == "optics").sum()), int(n)).pmf(int(t))
           for n, t in zip(r["n_firms"], r["n_target"])]
    np.testing.assert_allclose(r["p_labelling_mid"], r["p_labelling"] - 0.5 * np.where(r["n_firms"] > 0, pmf, 0.0),
                               rtol=1e-12, atol=1e-15)
    assert r["p_labelling_mid_fdr"].notna().all() and "p_labelling_mid_fdr" in ov.attrs["rules"]["coincides"]
    # a notebook user's chain: geo.cluster_polygons, then park_overlay with those clusters, with or
    # without their record in attrs (park_overlay reads the polygons only): the same table as its own clusters
    cl = gp.cluster_polygons(cells, sector="optics")
    bare = cl.copy()
    bare.attrs = {}
    for clusters in (cl, bare):
        pd.testing.assert_frame_equal(gp.park_overlay(cells, parks, firms, sector="optics", permutations=99, seed=0,
                                                      clusters=clusters), ov)


def test_labelling_test_size_under_random_labels():
    """Random labelling: the exact test rejects at most ~5 % of the time (discrete, so conservative)."""
    rng = np.random.default_rng(11)
    N, K, n_in, reps = 500, 60, 80, 2000
    rejections = 0
    for _ in range(reps):
        labels = np.zeros(N, bool)
        labels[rng.choice(N, K, replace=False)] = True
        t_in = int(labels[:n_in].sum())
        rejections += gp.labelling_test(n_in, t_in, N, K) <= 0.05
    rate = rejections / reps
    assert rate <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / reps)
    assert rate > 0.02  # not absurdly conservative either


def test_point_clusters_grid_free_definition():
    rng = np.random.default_rng(4)
    x0, y0 = 500000.0, 3370000.0
    tight = np.column_stack([rng.normal(x0 + 3000, 150, 120), rng.normal(y0 + 3000, 150, 120)])
    loose = np.column_stack([rng.uniform(x0, x0 + 15000, 200), rng.uniform(y0, y0 + 15000, 200)])
    xy = np.r_[tight, loose]
    firms = gpd.GeoDataFrame({"sector": ["optics"] * len(xy)}, geometry=shapely.points(xy), crs=CRS)
    pc = gp.point_clusters(firms, sector="optics", eps=300, min_samples=15)
    assert len(pc) >= 1 and pc.point_cluster_id.iloc[0] == 1
    assert 100 <= pc.n_firms.iloc[0] <= 140  # the tight clump (plus a few background firms near it)
    assert shapely.contains_xy(pc.geometry.iloc[0], x0 + 3000, y0 + 3000)
    h = gp.point_clusters(firms, sector="optics", method="hdbscan", eps=300, min_samples=30)
    assert h.n_firms.max() >= 100
    ov = pd.DataFrame({"name": ["on", "off"], "verdict": ["cluster formed after designation", "park without a cluster"]}, index=[1, 2])
    parks = gpd.GeoDataFrame({"name": ["on", "off"]}, index=[1, 2],
                             geometry=[shapely.box(x0 + 2000, y0 + 2000, x0 + 4000, y0 + 4000), shapely.box(x0 + 10000, y0 + 10000, x0 + 11000, y0 + 11000)], crs=CRS)
    agree = gp.point_cluster_agreement(ov, pc, parks)
    assert agree.loc[1, "point_cluster_share"] > 0.8 and agree["grid_free_agrees"].all()
    with pytest.raises(ValueError, match="'dbscan' or 'hdbscan'"):
        gp.point_clusters(firms, method="kmeans")


def _rr_rejection_rate(reps, seed, ratio=1.0):
    rng = np.random.default_rng(seed)
    rej = 0
    for _ in range(reps):
        # Poisson entries: inside 4/yr, outside 20/yr before 1991 (11 years) and after (34 years)
        a, c = rng.poisson(4 * 11), rng.poisson(20 * 11)
        b, d = rng.poisson(4 * 34 * ratio), rng.poisson(20 * 34)
        founded = np.r_[np.full(a, 1985), np.full(b, 2000), np.full(c, 1985), np.full(d, 2000)]
        inside = np.r_[np.ones(a + b, bool), np.zeros(c + d, bool)]
        rej += gp.entry_rate_ratio(founded, inside, 1991, first=1980, last=2024)["p_rate_ratio"] <= 0.05
    return rej / reps


def test_entry_rate_ratio_size_and_power():
    reps = 400
    rate = _rr_rejection_rate(reps, 1)
    assert abs(rate - 0.05) < 3 * math.sqrt(0.05 * 0.95 / reps)
    assert _rr_rejection_rate(200, 2, ratio=2.0) > 0.8  # entries inside doubled after designation


@pytest.mark.slow
def test_entry_rate_ratio_size_thorough():
    reps = 5000
    rate = _rr_rejection_rate(reps, 3)
    assert abs(rate - 0.05) < 3 * math.sqrt(0.05 * 0.95 / reps)


@pytest.mark.slow
def test_placement_test_size_thorough():
    cells, _ = _field_cells()
    area = shapely.union_all(cells.geometry.values)
    shape = shapely.Polygon([(0, 0), (2500, 0), (2500, 800), (1200, 1500), (0, 800)])
    reps = 600
    parks, _ = gp._random_placements(shape, area, None, reps, np.random.default_rng(99), max_tries=10**6)
    p = np.array([gp.placement_test(pk, cells, study_area=area, permutations=199, seed=k)["p_placement"] for k, pk in enumerate(parks)])
    assert abs(np.mean(p <= 0.05) - 0.05) < 3 * math.sqrt(0.05 * 0.95 / reps)


# ----------------------------------------------------------------------------- cells under a polygon
def _inside_geos(geom, x, y):
    """Centroids inside ``geom`` (its boundary counts), by GEOS on every point: geopandas' ``intersects``."""
    return gpd.GeoSeries(shapely.points(x, y)).intersects(geom).to_numpy()


def _under_geos(geom, cx, cy, z, hot):
    """Mean z and hot share of the cells whose centroid is in ``geom`` (GEOS); when none is,
    the cell whose centroid is nearest the polygon's centroid (scipy's KD-tree)."""
    from scipy.spatial import cKDTree

    inside = _inside_geos(geom, cx, cy)
    if not inside.any():
        c = shapely.centroid(geom)
        inside = np.zeros(len(cx), dtype=bool)
        inside[cKDTree(np.column_stack([cx, cy])).query([c.x, c.y])[1]] = True
    return float(np.mean(z[inside])), float(np.mean(hot[inside])), int(inside.sum())


def _same_under(got, want) -> bool:
    return got[2] == want[2] and got[:2] == pytest.approx(want[:2], rel=1e-12, abs=1e-12)


def _hex_cells(n=400, seed=2, size=350.0):
    from geo.cells.grid import aggregate

    rng = np.random.default_rng(seed)
    xy = np.column_stack([rng.normal(505_000, 2500, n), rng.normal(3_378_000, 2500, n)])
    firms = gpd.GeoDataFrame(geometry=shapely.points(xy), crs=CRS)
    return aggregate(firms, cell="hex", size=size)


def _shapes():
    """Parks of every kind the kernel takes (centred on 0, 0) and a few it leaves to GEOS."""
    ring = [(-1500, -900), (1800, -600), (600, 200), (1500, 1300), (-1200, 1000)]  # concave
    holed = shapely.Polygon([(-2000, -1500), (2000, -1500), (2000, 1500), (-2000, 1500)],
                            holes=[[(-800, -600), (900, -500), (700, 800), (-900, 500)]])
    multi = shapely.MultiPolygon([shapely.box(-2500, -1000, -500, 1000),
                                  shapely.Polygon([(0, -1500), (2500, -1500), (2500, 1500), (0, 1500)],
                                                  holes=[[(800, -500), (1800, -500), (1800, 500), (800, 500)]])])
    return {
        "concave": shapely.Polygon(ring),
        "holed": holed,
        "multi": multi,
        "round": shapely.Point(0, 0).buffer(1800, 64),  # many vertices
        "tiny": shapely.box(-5, -5, 5, 5),  # often no centroid inside: the nearest cell
        "bowtie": shapely.Polygon([(-1500, -1500), (1500, 1500), (1500, -1500), (-1500, 1500)]),  # invalid: GEOS
    }


def _exact_cases(cx, cy):
    """Polygons with edges and vertices exactly on cell centroids (on the boundary: inside)."""
    xs, ys = np.unique(cx), np.unique(np.round(cy, 6))
    i, j = len(xs) // 3, len(ys) // 3
    a, b, c = (xs[i], ys[j]), (xs[2 * i], ys[j]), (xs[i], ys[2 * j])
    k = np.argsort((cx - cx.mean()) ** 2 + (cy - cy.mean()) ** 2)[:3]  # three centroids near the middle
    return [
        shapely.box(xs[i], ys[j], xs[2 * i], ys[2 * j]),  # edges along rows and columns of centroids
        shapely.Polygon([a, b, c]),  # a slanted edge through centroids
        shapely.Polygon([(cx[k[0]], cy[k[0]]), (cx[k[1]], cy[k[1]]), (cx[k[2]], cy[k[2]])]),  # vertices on centroids
        shapely.Polygon([(cx[k[0]], cy[k[0]]), (cx[k[0]] + 900, cy[k[0]]), (cx[k[0]] + 900, cy[k[0]] + 0.5),
                         (cx[k[0]], cy[k[0]] + 1e-9)]),  # a sliver along a row
        # an invalid bow tie (GEOS alone decides) with its corners, the bounding box's, on centroids
        shapely.Polygon([(xs[i], ys[j]), (xs[2 * i], ys[2 * j]), (xs[2 * i], ys[j]), (xs[i], ys[2 * j])]),
    ]


@pytest.mark.parametrize("cells", ["square", "hex", "hex shuffled", "scattered"])
@pytest.mark.parametrize("tol", [None, 1e-3])
def test_cells_under_equal_geos_one_by_one(cells, tol, monkeypatch):
    """The row kernel gives GEOS's cells (geopandas ``intersects``) and the means over them."""
    near = shapely.Polygon([(501_234.567, 3_375_012.345), (508_765.4321, 3_376_543.21), (504_321.0987, 3_381_987.654)])
    if cells == "square":
        cx, cy = gp._cell_xy(_square_cells(40, 40, size=250.0, x0=502_500.0, y0=3_375_500.0))
    elif cells.startswith("hex"):
        cx, cy = gp._cell_xy(_hex_cells())
        if cells == "hex shuffled":  # cell order not row by row: positions sorted by marks
            perm = np.random.default_rng(0).permutation(len(cx))
            cx, cy = cx[perm], cy[perm]
    else:  # no lattice: (nearly) every centroid its own row
        rng = np.random.default_rng(1)
        cx, cy = rng.uniform(500_000, 510_000, 3000), rng.uniform(3_373_000, 3_383_000, 3000)
        cy[:300] = cy[300:600]  # shared rows
        # centroids on (up to rounding) and within 1e-9 m of the slanted edges of `near`
        xy = shapely.get_coordinates(near)
        t = rng.random((len(xy) - 1, 60))
        ex = (1 - t) * xy[:-1, :1] + t * xy[1:, :1] + rng.choice([0.0, 0.0, 1e-9, -1e-9], t.shape)
        ey = (1 - t) * xy[:-1, 1:] + t * xy[1:, 1:]
        cx, cy = np.r_[cx, ex.ravel()], np.r_[cy, ey.ravel()]
    if tol is not None:  # most cells near an edge: the point-by-point test and GEOS decide
        monkeypatch.setattr(gp, "_ORIENT_TOL", tol)
    grid = gp._cell_grid(cx, cy)
    assert grid.identity == (cells in ("square", "hex"))
    rng = np.random.default_rng(5)
    z = rng.normal(size=len(cx))
    h = (rng.random(len(cx)) < 0.3).astype(float)
    area = shapely.box(cx.min(), cy.min(), cx.max(), cy.max())
    geoms = _exact_cases(cx, cy) + [near]
    for shape in _shapes().values():
        placed, _ = gp._random_placements(shape, area, None, 40, rng, 100_000)
        geoms += [shape] + placed  # the shape itself lies outside the cells: nearest cell
    assert sum(bool(shapely.intersects_xy(shapely.boundary(g), cx, cy).any()) for g in geoms) >= 2
    under = gp._under_many(geoms, grid, [z, h])
    for g, idx, got in zip(geoms, gp._cells_in(geoms, grid), under):
        assert np.array_equal(idx, np.flatnonzero(_inside_geos(g, cx, cy)))
        assert _same_under(got, _under_geos(g, cx, cy, z, h))


def test_cell_grid_rows_and_nonfinite_centroids():
    cx = np.array([3.0, 1.0, np.nan, 2.0, 1.0, 5.0])
    cy = np.array([0.0, 0.0, 1.0, 7.0, 7.0 + 1e-12, 0.0])
    grid = gp._cell_grid(cx, cy)
    assert grid.order.tolist() == [1, 0, 5, 4, 3]  # by row, then x; the NaN cell left out
    assert grid.row_start.tolist() == [0, 3, 5] and not grid.identity
    assert next(gp._cells_in([shapely.box(0, -1, 10, 10)], grid)).tolist() == [0, 1, 3, 4, 5]


def _placements_brute_force(park, region, n, rng, max_tries):
    """Random placements drawn one at a time by shapely.affinity, from the documented stream.

    Batches of ``max(64, n)`` candidates: angles uniform in [0, 2 pi), then centroid x and y
    uniform in the region's bounding box; a candidate (the park turned about its centroid and
    moved there) is kept when the region contains it; the candidates tried count up to the
    last one kept.
    """
    from shapely import affinity

    c = shapely.centroid(park)
    x0, y0, x1, y1 = region.bounds
    out, tries, batch = [], 0, max(64, n)
    while len(out) < n and tries < max_tries:
        draws = zip(rng.uniform(0, 2 * np.pi, batch), rng.uniform(x0, x1, batch), rng.uniform(y0, y1, batch))
        for theta, x, y in draws:
            tries += 1
            cand = affinity.translate(affinity.rotate(park, theta, origin=c, use_radians=True), x - c.x, y - c.y)
            if region.contains(cand):
                out.append(cand)
                if len(out) == n:
                    break
    return out, tries


def test_placement_test_equals_brute_force():
    """placement_test's numbers from placements drawn by shapely.affinity one at a time (the
    same seed stream), GEOS's cells under each and the p-value formula of its docstring."""
    for cells in (_field_cells()[0], _hex_cells(size=500.0)):
        c = shapely.centroid(shapely.union_all(cells.geometry.values))
        if "gi_z" not in cells:
            z = _bump_field(cells, c.x + 800, c.y - 300, sigma=2000.0)
            cells = cells.assign(gi_z=z, gi_bin=np.where(z > 2.58, 3, np.where(z > 1.96, 2, 0)))
        area = shapely.union_all(cells.geometry.values)
        cx, cy = shapely.get_coordinates(shapely.centroid(cells.geometry.values)).T
        z = cells["gi_z"].to_numpy(float)
        h = (cells["gi_bin"].to_numpy() >= 2).astype(float)
        for shape in (_shapes()["concave"], _shapes()["multi"], _shapes()["holed"]):
            park = shapely.affinity.translate(shape, c.x, c.y)
            res = gp.placement_test(park, cells, study_area=area, permutations=99, seed=7)
            sims, tries = _placements_brute_force(park, area, 99, np.random.default_rng(7), 200 * 99)
            obs_z, obs_hot, n_cells = _under_geos(park, cx, cy, z, h)
            sim = np.array([_under_geos(g, cx, cy, z, h)[:2] for g in sims])
            K = len(sims)
            assert K > 10
            want = {
                "mean_z": obs_z, "hot_share_cells": obs_hot, "n_cells_under": n_cells,
                "p_placement": float((np.sum(sim[:, 0] >= obs_z - 1e-9 * max(1.0, abs(obs_z))) + 1) / (K + 1)),
                "p_placement_hot": float((np.sum(sim[:, 1] >= obs_hot - 1e-12) + 1) / (K + 1)),
                "sim_mean_z": float(np.mean(sim[:, 0])), "permutations_done": K, "placement_acceptance": K / tries,
            }
            assert res == pytest.approx(want, rel=1e-9, abs=1e-12)


def _cluster_polygons_reference(hot, *, by="gi", min_bin=2, sector=None, z_column="gi_z"):
    """cluster_polygons from networkx and GEOS: the hot cells, their components in the graph of
    cells that touch (an edge or a vertex: shapely ``touches``), each dissolved by shapely's
    ``union_all``; ids by decreasing firms, ties west to east then south to north."""
    import networkx as nx

    mask = (hot["gi_bin"] >= min_bin) if by == "gi" else (hot["lisa_label"] == "HH")
    sel = hot.loc[mask.to_numpy()]
    geoms = np.asarray(sel.geometry.values)
    g = nx.Graph()
    g.add_nodes_from(range(len(sel)))
    a, b = shapely.STRtree(geoms).query(geoms, predicate="touches")
    g.add_edges_from(zip(a.tolist(), b.tolist()))
    target = f"n_{sector}" if sector is not None else None
    rows, members = [], []
    for comp in nx.connected_components(g):
        part = sel.iloc[sorted(comp)]
        geom = shapely.union_all(part.geometry.values)
        z = part[z_column].to_numpy(float) if z_column in part else np.full(len(part), np.nan)
        c = shapely.centroid(geom)
        rows.append({"n_cells": len(part), "area_km2": geom.area / 1e6,
                     "n_firms": int(np.nansum(part["n_firms"].to_numpy(float))),
                     "n_target": int(part[target].sum()) if target and target in part else None,
                     "peak_z": float(np.nanmax(z)) if np.isfinite(z).any() else np.nan,
                     "mean_z": float(np.nanmean(z)) if np.isfinite(z).any() else np.nan,
                     "_x": c.x, "_y": c.y, "geometry": geom})
        members.append(part.index)
    order = sorted(range(len(rows)), key=lambda k: (-rows[k]["n_firms"], rows[k]["_x"], rows[k]["_y"]))
    out = pd.DataFrame([rows[k] for k in order]).drop(columns=["_x", "_y"])
    out.insert(0, "cluster_id", np.arange(1, len(out) + 1))
    cell_cluster = pd.concat([pd.Series(i + 1, index=members[k]) for i, k in enumerate(order)])
    return out, cell_cluster


def test_cluster_polygons_equal_networkx_components_and_shapely_union():
    from geo.stats.autocorr import hotspots

    cells = _hex_cells(n=3000, size=300.0)
    rng = np.random.default_rng(3)
    cells["n_optics"] = rng.binomial(cells["n_firms"].to_numpy(), 0.4)
    hot = hotspots(cells, "n_firms", statistic="both", permutations=99, seed=2)
    hot.index = hot.index * 3 + 10  # not a range index
    odd = hot.assign(n_firms=hot["n_firms"].astype(float).where(rng.random(len(hot)) > 0.1),  # NaN counts: pandas sums
                     n_optics=pd.array(hot["n_optics"], dtype="Int64"), gi_z=hot["gi_z"].where(rng.random(len(hot)) > 0.1))
    n = 0
    for frame in (hot, odd):
        for kw in ({"sector": "optics"}, {"by": "lisa"}, {"min_bin": 1, "sector": "optics"}, {"z_column": "missing"}):
            new = gp.cluster_polygons(frame, **kw)
            ref, cell_cluster = _cluster_polygons_reference(frame, **kw)
            assert list(new.columns) == [*ref.columns]
            pd.testing.assert_frame_equal(pd.DataFrame(new.drop(columns=["geometry", "area_km2"])),
                                          ref.drop(columns=["geometry", "area_km2"]), check_dtype=False)
            np.testing.assert_allclose(new["area_km2"], ref["area_km2"], rtol=1e-12)
            g_new, g_ref = np.asarray(new.geometry.values), np.asarray(ref["geometry"].values)
            assert (shapely.area(shapely.symmetric_difference(g_new, g_ref)) < 1e-6 * shapely.area(g_ref)).all()
            got = new.attrs["cell_cluster"]
            assert got.name == "cluster_id"
            pd.testing.assert_series_equal(got.sort_index(), cell_cluster.sort_index(), check_names=False, check_dtype=False)
            n += len(new)
    assert n > 20  # several clusters in each case


# ----------------------------------------------------------------------------- labelling test: size study
def _null_valley_tests(valleys: int, labellings: int, seed: int) -> dict:
    """Random labelling in simulated null valleys, through the overlay's own steps.

    Each valley: 800–3,000 firms (half uniform in a 10 km square, half in three clusters),
    16 square parks of side 1.8–2.5 km (one in each 2.5 km slot of a 4 x 4 grid) and a
    target sector of 10–30 % of the firms.  Each labelling draws the target firms at random
    among all firms (the null), counts them with ``firm_counts`` and tests each park with
    ``labelling_test`` (exact and mid-p; the p-value of a count is computed once per park).
    Returns the rejection rates at 0.05, the number of tests and the expected rates: the
    sizes of both tests for each park's (N, K, n_in), from scipy's pmf.
    """
    from scipy.stats import hypergeom as hg

    rng = np.random.default_rng(seed)
    rejected = {"exact": 0, "mid": 0}
    expected = {"exact": 0.0, "mid": 0.0}
    tests = 0
    for _ in range(valleys):
        N = int(rng.integers(800, 3000))
        centres = rng.uniform(2_000, 8_000, (3, 2))
        xy = np.vstack([rng.uniform(0, 10_000, (N - N // 2, 2)),
                        centres[rng.integers(0, 3, N // 2)] + rng.normal(0, 700, (N // 2, 2))])
        side = rng.uniform(1_800, 2_500, 16)
        corner = (np.array([(i, j) for i in range(4) for j in range(4)]) * 2_500.0
                  + rng.uniform(0, 1, (16, 2)) * (2_500 - side[:, None]))
        parks = gpd.GeoDataFrame({"name": [f"p{i}" for i in range(16)]}, crs=32650,
                                 geometry=shapely.box(*corner.T, *(corner + side[:, None]).T))
        rings = gp.park_rings(parks)
        K = int(N * rng.uniform(0.1, 0.3))
        memo: dict = {}
        for _ in range(labellings):
            labels = np.zeros(N, bool)
            labels[rng.choice(N, K, replace=False)] = True
            c = gp.firm_counts(parks, xy[:, 0], xy[:, 1], labels, None, cell_pos=np.full(N, -1), n_cells=1,
                               rings=rings)
            assert (c.n, c.k) == (N, K)
            for key in zip(c.n_in.tolist(), c.t_in.tolist()):
                if key not in memo:
                    memo[key] = (gp.labelling_test(*key, N, K), gp.labelling_test(*key, N, K, mid_p=True))
                rejected["exact"] += memo[key][0] <= 0.05
                rejected["mid"] += memo[key][1] <= 0.05
                tests += 1
        for n_in in c.n_in.tolist():  # the parks hold the same firms in every labelling
            x = np.arange(0, min(K, n_in) + 1)
            pmf = hg.pmf(x, N, K, n_in)
            expected["exact"] += labellings * pmf[hg.sf(x - 1, N, K, n_in) <= 0.05].sum()
            expected["mid"] += labellings * pmf[hg.sf(x, N, K, n_in) + pmf / 2 <= 0.05].sum()
    return {"tests": tests, **{k: v / tests for k, v in rejected.items()},
            **{f"expected_{k}": v / tests for k, v in expected.items()}}


def _check_size_study(s: dict, width: float) -> None:
    se = math.sqrt(0.05 * 0.95 / s["tests"])
    # the Monte Carlo rates are the sizes the two tests have for these parks (independent
    # check of the p-values: scipy's pmf and tails, not geo's code)
    for k in ("exact", "mid"):
        assert abs(s[k] - s[f"expected_{k}"]) <= 3 * math.sqrt(s[f"expected_{k}"] / s["tests"])
    # the mid-p test rejects at about 5 %; the exact test on the same valleys does not
    assert abs(s["mid"] - 0.05) <= width * se
    assert s["exact"] < 0.05 - width * se


def test_labelling_mid_p_size_in_null_valleys():
    s = _null_valley_tests(valleys=8, labellings=50, seed=1)
    assert s["tests"] == 6_400
    _check_size_study(s, width=2.5)  # 2.5 standard errors of 0.27 %: [4.3 %, 5.7 %]


@pytest.mark.slow
def test_labelling_mid_p_size_in_null_valleys_thorough():
    s = _null_valley_tests(valleys=40, labellings=60, seed=2)
    assert s["tests"] == 38_400
    _check_size_study(s, width=3.0)  # 3 standard errors of 0.11 %: [4.67 %, 5.33 %]
