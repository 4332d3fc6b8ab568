"""The development model of each park–cluster pair (geo.parks.models): constructed cases whose
indicators are recomputed by hand, and the demo's truth."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.datasets import load_truth
from geo.errors import ColumnError, InputError
from geo.parks.models import classify_models

CRS = "EPSG:32650"
X0, Y0 = 500000.0, 3370000.0


# ============================================================================ development models
def _model_study(kind: str, seed: int = 1):
    """A 20 x 20 km valley: a Thomas-like optics cluster and a park P designated in 1991.

    market: 60 % of the cluster founded 1980-1990, the park's east edge through the cluster
    centre (half the cluster outside).  government: the cluster founded 1995-2024, wholly
    inside the park.  A second park Q far from the cluster holds no cluster."""
    rng = np.random.default_rng(seed)
    n_bg, n_c = 2000, 350
    bx, by = rng.uniform(X0, X0 + 20000, n_bg), rng.uniform(Y0, Y0 + 20000, n_bg)
    bf = rng.integers(1980, 2025, n_bg)
    bs = np.where(rng.random(n_bg) < 0.05, "optics", "other")
    cx, cy = X0 + 10000, Y0 + 10000
    x, y = cx + rng.normal(0, 700, n_c), cy + rng.normal(0, 700, n_c)
    if kind == "market":
        f = np.where(rng.random(n_c) < 0.6, rng.integers(1980, 1991, n_c), rng.integers(1991, 2025, n_c))
        park = shapely.box(cx - 6000, cy - 3000, cx, cy + 3000)
    else:
        f = rng.integers(1995, 2025, n_c)
        park = shapely.box(cx - 3000, cy - 3000, cx + 3000, cy + 3000)
    firms = gpd.GeoDataFrame({
        "name": [f"firm {i}" for i in range(n_bg + n_c)],
        "sector": np.r_[bs, np.full(n_c, "optics")], "founded": np.r_[bf, f],
        "in_cluster": np.r_[np.zeros(n_bg, bool), np.ones(n_c, bool)],
    }, geometry=shapely.points(np.r_[bx, x], np.r_[by, y]), crs=CRS)
    parks = gpd.GeoDataFrame({"name": ["P", "Q"], "designated": [1991, 1991]},
                             geometry=[park, shapely.box(X0 + 1000, Y0 + 1000, X0 + 4000, Y0 + 4000)], crs=CRS)
    return firms, parks, (cx, cy)


def _overlay(firms, parks):
    from geo.cells.graph import weights
    from geo.cells.grid import aggregate
    from geo.parks.overlay import cluster_polygons, park_overlay
    from geo.stats.autocorr import hotspots

    cells = aggregate(firms, cell="hex", size=1000, by="sector")
    g = weights(cells)
    hot = hotspots(cells, "n_optics", graph=g, permutations=99, seed=0)
    cl = cluster_polygons(hot, sector="optics")
    ov = park_overlay(hot, parks, firms, sector="optics", permutations=99, seed=0, graph=g, clusters=cl)
    return hot, cl, ov


@pytest.fixture(scope="module")
def market_case():
    firms, parks, c = _model_study("market")
    return (firms, parks, c, *_overlay(firms, parks))


@pytest.fixture(scope="module")
def government_case():
    firms, parks, c = _model_study("government")
    return (firms, parks, c, *_overlay(firms, parks))


def _neutral(firms, seed=0):
    """Attribute columns that favour no model: R&D and foreign shares independent of place, no anchor."""
    rng = np.random.default_rng(seed)
    n = len(firms)
    return firms.assign(rd=(rng.random(n) < 0.2).astype(int), anchor=0,
                        ownership=np.where(rng.random(n) < 0.1, "foreign", "domestic"))


def test_market_led_from_a_pre_existing_cluster_half_outside(market_case):
    firms, parks, _, hot, cl, ov = market_case
    assert ov.loc[0, "verdict"] == "park on a pre-existing cluster"  # the construction worked
    m = classify_models(ov, cl, _neutral(firms), parks, sector="optics", hotspots=hot)
    p = m.loc[0]
    assert p["models"] == ["market-led"] and p["primary_model"] == "market-led"
    assert p["status_government_led"] == "no" and p["status_research_led"] == "no" and p["status_fdi_led"] == "no"
    # the indicator and its score, recomputed
    main = cl.set_index("cluster_id").geometry[int(p["main_cluster"])]
    park = parks.geometry[0]
    area_out = 1 - shapely.intersection(main, park).area / main.area
    assert p["cluster_area_outside"] == pytest.approx(area_out)
    inc = shapely.intersects_xy(main, firms.geometry.x, firms.geometry.y) & (firms["sector"] == "optics").to_numpy()
    inp = shapely.intersects_xy(park, firms.geometry.x, firms.geometry.y)
    assert p["cluster_firms_outside"] == pytest.approx((inc & ~inp).sum() / inc.sum())
    assert p["cluster_outside_share"] == pytest.approx(max(area_out, (inc & ~inp).sum() / inc.sum()))
    assert p["score_market_led"] == 1.0 and p["score_government_led"] == 0.0
    assert "lie outside the park" in p["reason_market_led"]
    # a stricter threshold turns it off, with a partial score
    strict = classify_models(ov, cl, _neutral(firms), parks, sector="optics", thresholds={"outside_share": 0.9}).loc[0]
    assert strict["status_market_led"] == "no" and strict["models"] == [] and strict["primary_model"] == "none"
    assert strict["score_market_led"] == pytest.approx(p["cluster_outside_share"] / 0.9)
    # park Q has no cluster: every model "no", primary "none"
    q = m.loc[1]
    assert q["models"] == [] and q["primary_model"] == "none"
    assert all(q[f"status_{k}"] == "no" for k in ("market_led", "government_led", "research_led", "fdi_led"))
    assert "park without a cluster" in q["reason_research_led"]


def test_government_led_from_a_cluster_formed_inside_the_park_after_designation(government_case):
    firms, parks, _, hot, cl, ov = government_case
    assert ov.loc[0, "verdict"] == "cluster formed after designation"
    p = classify_models(ov, cl, _neutral(firms), parks, sector="optics", hotspots=hot).loc[0]
    assert p["models"] == ["government-led"] and p["primary_model"] == "government-led"
    assert p["score_government_led"] == 1.0 and p["status_market_led"] == "no"
    assert p["cluster_area_inside"] == pytest.approx(ov.loc[0, "max_cluster_share"])


def _with_anchor(firms, at, *, rd_near=0.75, rd_far=0.15, seed=2):
    rng = np.random.default_rng(seed)
    d = np.hypot(firms.geometry.x - at[0], firms.geometry.y - at[1]).to_numpy()
    rd = (rng.random(len(firms)) < np.where(d <= 2000, rd_near, rd_far)).astype(int)
    anchor_row = gpd.GeoDataFrame({"name": ["Institute of Optics"], "sector": ["optics"], "founded": [1980], "rd": [1],
                                   "anchor": [1], "ownership": ["domestic"]},
                                  geometry=[shapely.Point(*at)], crs=firms.crs)
    out = _neutral(firms).assign(rd=rd)
    return gpd.GeoDataFrame(pd.concat([out, anchor_row], ignore_index=True), crs=firms.crs)


def test_research_led_from_an_anchor_at_the_core_with_rd_firms_around(government_case):
    firms, parks, (cx, cy), hot, cl, ov = government_case
    f = _with_anchor(firms, (cx + 150, cy - 100))
    m = classify_models(ov, cl, f, parks, sector="optics", hotspots=hot)
    p = m.loc[0]
    assert p["models"] == ["government-led", "research-led"]
    assert p["primary_model"] == "government-led"  # the development path leads
    assert p["nearest_anchor"] == "Institute of Optics" and p["n_anchors"] == 1 and p["n_anchors_at_core"] == 1
    assert p["anchor_source"] == "firm-table column `anchor`"
    # the R&D indicator, recomputed (anchor row excluded)
    firm = f["anchor"].to_numpy() == 0
    near = firm & (np.hypot(f.geometry.x - (cx + 150), f.geometry.y - (cy - 100)).to_numpy() <= 2000)
    assert p["n_firms_near_anchor"] == near.sum()
    assert p["rd_share_near_anchor"] == pytest.approx(f["rd"].to_numpy()[near].mean())
    assert p["rd_share_elsewhere"] == pytest.approx(f["rd"].to_numpy()[firm & ~near].mean())
    assert p["rd_share_valley"] == pytest.approx(f["rd"].to_numpy()[firm].mean())
    assert p["rd_ratio"] == pytest.approx(p["rd_share_near_anchor"] / p["rd_share_elsewhere"])
    centroid = shapely.centroid(cl.set_index("cluster_id").geometry[int(p["main_cluster"])])
    assert p["anchor_core_distance_m"] <= np.hypot(centroid.x - cx - 150, centroid.y - cy + 100) + 1e-6
    assert p["p_rd_near_anchor"] < 1e-6
    # the same anchor as a separate points layer (in another CRS) gives the same result
    layer = gpd.GeoDataFrame({"name": ["Institute of Optics"]}, geometry=[shapely.Point(cx + 150, cy - 100)], crs=CRS).to_crs(4326)
    m2 = classify_models(ov, cl, f.drop(columns="anchor"), parks, sector="optics", hotspots=hot, anchors=layer).loc[0]
    assert m2["models"] == p["models"] and m2["anchor_source"] == "anchors layer"
    assert m2["anchor_core_distance_m"] == pytest.approx(p["anchor_core_distance_m"], abs=0.01)
    # the co-location quotient CLQ(pair's target firms -> anchors), recomputed with a plain k-d tree:
    # each pair firm's 8 nearest other rows; the anchor's share among them over 1 / (N - 1)
    from scipy.spatial import cKDTree

    xy = np.column_stack([f.geometry.x, f.geometry.y])
    main = cl.set_index("cluster_id").geometry[int(p["main_cluster"])]
    pair = ((f["sector"] == "optics").to_numpy() & firm
            & (shapely.intersects_xy(parks.geometry[0], xy[:, 0], xy[:, 1]) | shapely.intersects_xy(main, xy[:, 0], xy[:, 1])))
    _, nb = cKDTree(xy).query(xy[pair], k=9)
    hits = (nb[:, 1:] == np.flatnonzero(~firm)[0]).sum()
    assert p["n_clq_target_firms"] == pair.sum() and p["n_anchors_colocated"] == 1
    assert p["clq_target_anchors"] == pytest.approx(hits / 8 / (pair.sum() / (len(f) - 1)), rel=1e-9)
    assert p["p_clq_target_anchors"] <= 0.05 and "CLQ(the pair's" in p["reason_research_led"]
    # an anchor 6 km away: none of the pair's firms has it among its neighbours: "no" (not significant: score 0)
    far = _with_anchor(firms, (cx + 6000, cy))
    q = classify_models(ov, cl, far, parks, sector="optics", hotspots=hot).loc[0]
    assert q["status_research_led"] == "no" and q["clq_target_anchors"] == 0.0 and q["n_anchors_colocated"] == 0
    assert "= 0.00 (< 1.5; one-sided p = 1, > 0.05)" in q["reason_research_led"]
    assert q["score_research_led"] == 0.0
    assert q["anchor_core_distance_m"] > 2000  # still reported, no longer part of the rule
    # an anchor at the core but without R&D around it: "no"
    flat = _with_anchor(firms, (cx, cy), rd_near=0.2, rd_far=0.2)
    r = classify_models(ov, cl, flat, parks, sector="optics").loc[0]
    assert r["status_research_led"] == "no" and r["rd_ratio"] < 1.5
    assert r["score_research_led"] == pytest.approx(min(1.0, r["rd_ratio"] / 1.5))


def test_fdi_led_from_many_foreign_firms(government_case):
    firms, parks, _, hot, cl, ov = government_case
    rng = np.random.default_rng(5)
    f = _neutral(firms)
    f["ownership"] = np.where(rng.random(len(f)) < np.where(f["in_cluster"], 0.6, 0.05), "Foreign", "domestic")
    p = classify_models(ov, cl, f, parks, sector="optics", hotspots=hot).loc[0]
    assert p["models"] == ["government-led", "FDI-led"] and p["primary_model"] == "government-led"
    # the indicator, recomputed: target firms in the park or its main cluster
    main = cl.set_index("cluster_id").geometry[int(p["main_cluster"])]
    x, y = f.geometry.x.to_numpy(), f.geometry.y.to_numpy()
    tgt = (f["sector"] == "optics").to_numpy()
    pair = tgt & (shapely.intersects_xy(parks.geometry[0], x, y) | shapely.intersects_xy(main, x, y))
    fo = (f["ownership"] == "Foreign").to_numpy()
    assert p["n_pair_target_firms"] == pair.sum()
    assert p["foreign_share"] == pytest.approx(fo[pair].mean())
    assert p["foreign_share_elsewhere"] == pytest.approx(fo[tgt & ~pair].mean())
    assert p["foreign_share_valley"] == pytest.approx(fo[tgt].mean())
    # against the whole valley (which the pair dominates) the ratio could not reach 1.5: 1 / share of the pair
    assert fo[pair].mean() / fo[tgt].mean() < 1.5 <= p["foreign_ratio"]
    assert p["score_fdi_led"] == 1.0 and p["p_foreign"] < 1e-6
    # neutral ownership: "no" with the weakest condition as the score
    n = classify_models(ov, cl, _neutral(firms), parks, sector="optics").loc[0]
    assert n["status_fdi_led"] == "no"
    assert n["score_fdi_led"] == pytest.approx(min(1.0, n["foreign_share"] / 0.3, n["foreign_ratio"] / 1.5))


def test_missing_indicators_are_undetermined_with_reasons(government_case, market_case):
    firms, parks, (cx, cy), hot, cl, ov = government_case
    bare = firms[["name", "sector", "founded", "geometry"]]
    p = classify_models(ov, cl, bare, parks, sector="optics").loc[0]
    assert p["status_research_led"] == "undetermined" and "no anchor information" in p["reason_research_led"]
    assert p["status_fdi_led"] == "undetermined" and "no `ownership` column" in p["reason_fdi_led"]
    assert np.isnan(p["score_research_led"]) and np.isnan(p["score_fdi_led"])
    assert p["models"] == ["government-led"] and p["primary_model"] == "government-led"
    # an anchor at the core but no R&D column: undetermined (never guessed)
    f = _with_anchor(firms, (cx, cy)).drop(columns="rd")
    q = classify_models(ov, cl, f, parks, sector="optics").loc[0]
    assert q["status_research_led"] == "undetermined" and "no `rd` column" in q["reason_research_led"]
    # too few firms behind a share
    few = classify_models(ov, cl, _with_anchor(firms, (cx, cy)), parks, sector="optics", thresholds={"min_firms": 10**6}).loc[0]
    assert few["status_research_led"] == "undetermined" and few["status_fdi_led"] == "undetermined"
    assert "at least 1000000 needed" in few["reason_fdi_led"]
    # no designation year: the path models are undetermined; research-led still decides the primary
    ov2 = ov.copy()
    ov2["cluster_before"] = ov2["cluster_before"].astype(object)
    ov2.loc[0, "cluster_before"] = None
    ov2.loc[0, "verdict"] = "undetermined"
    ov2.loc[0, "precedence_skipped"] = "no designation year: precedence test skipped"
    r = classify_models(ov2, cl, _with_anchor(firms, (cx, cy)), parks, sector="optics").loc[0]
    assert r["status_market_led"] == r["status_government_led"] == "undetermined"
    assert "no designation year" in r["reason_market_led"]
    assert r["models"] == ["research-led"] and r["primary_model"] == "research-led"
    s = classify_models(ov2, cl, bare, parks, sector="optics").loc[0]
    assert s["models"] == [] and s["primary_model"] == "undetermined"
    assert s["summary"].startswith("undetermined:")


def test_primary_model_without_a_path_is_the_widest_margin(government_case):
    firms, parks, (cx, cy), hot, cl, ov = government_case
    ov2 = ov.copy()
    ov2["cluster_before"] = ov2["cluster_before"].astype(object)
    ov2.loc[0, "cluster_before"] = None
    ov2.loc[0, "verdict"] = "undetermined"
    rng = np.random.default_rng(8)
    f = _with_anchor(firms, (cx, cy))
    for p_foreign, expected in ((0.95, "FDI-led"), (0.45, "research-led")):
        f["ownership"] = np.where(rng.random(len(f)) < np.where(f["in_cluster"].fillna(False).astype(bool), p_foreign, 0.05),
                                  "foreign", "domestic")
        r = classify_models(ov2, cl, f, parks, sector="optics").loc[0]
        assert set(r["models"]) == {"research-led", "FDI-led"}
        margin_fdi = min(r["foreign_share"] / 0.3, r["foreign_ratio"] / 1.5)
        margin_rd = min(r["clq_target_anchors"] / 1.5, r["rd_ratio"] / 1.5)
        assert r["primary_model"] == ("FDI-led" if margin_fdi > margin_rd else "research-led") == expected


def test_classify_models_rules_and_errors(government_case):
    firms, parks, _, hot, cl, ov = government_case
    m = classify_models(ov, cl, _neutral(firms), parks, sector="optics", radius_m=1500, thresholds={"rd_ratio": 2})
    assert set(m.attrs["rules"]) >= {"market-led", "government-led", "research-led", "FDI-led", "primary_model", "undetermined"}
    assert "1500 m" in m.attrs["rules"]["research-led"] and "2 x" in m.attrs["rules"]["research-led"]
    assert m.attrs["thresholds"]["rd_ratio"] == 2 and m.attrs["radius_m"] == 1500
    assert m.index.equals(ov.index)
    with pytest.raises(InputError, match="Unknown threshold"):
        classify_models(ov, cl, firms, parks, thresholds={"rd": 2})
    with pytest.raises(InputError, match="non-negative"):
        classify_models(ov, cl, firms, parks, thresholds={"rd_ratio": -1})
    with pytest.raises(InputError, match="radius_m"):
        classify_models(ov, cl, firms, parks, radius_m=0)
    with pytest.raises(ColumnError, match="park_overlay"):
        classify_models(ov.drop(columns="cluster_before"), cl, firms, parks)
    empty = classify_models(ov.iloc[0:0], cl, firms, parks)
    assert len(empty) == 0 and "primary_model" in empty.columns


def test_the_cluster_membership_is_given_or_read_from_the_clusters_record(government_case):
    """The main cluster's peak cell (a core point of the anchor distance) needs which hot cell is in
    which cluster: given as ``cluster_cells`` (as the run passes it) or read from the record of
    geo.cluster_polygons; the same table either way, the centroid alone without either."""
    firms, parks, _, hot, cl, ov = government_case
    main = cl.set_index("cluster_id").geometry[int(ov.loc[0, "main_cluster"])]
    # the peak, by hand: the hot cell (Gi* bin >= 2) of highest z whose centre lies in the main cluster
    centre = hot.geometry.centroid
    inside = (hot["gi_bin"].to_numpy() >= 2) & shapely.within(np.asarray(centre.values), main)
    peak = centre[hot["gi_z"].where(inside).idxmax()]
    f = _with_anchor(firms, (peak.x, peak.y))  # an anchor on the peak cell's centre
    from_record = classify_models(ov, cl, f, parks, sector="optics", hotspots=hot)
    assert from_record.loc[0, "anchor_core_distance_m"] == pytest.approx(0.0, abs=1e-6)
    bare = cl.copy()
    bare.attrs = {}
    given = classify_models(ov, bare, f, parks, sector="optics", hotspots=hot, cluster_cells=cl.attrs["cell_cluster"])
    pd.testing.assert_frame_equal(given, from_record)
    centroid = shapely.centroid(main)
    without = classify_models(ov, bare, f, parks, sector="optics", hotspots=hot).loc[0, "anchor_core_distance_m"]
    assert without == pytest.approx(math.hypot(centroid.x - peak.x, centroid.y - peak.y)) and without > 1.0
    cc = cl.attrs["cell_cluster"]
    with pytest.raises(InputError, match=r"^`cluster_cells` names 1 of its [0-9,]+ cells that are not cells of "
                                         r"`hotspots` \(it has [0-9,]+\): -5; give the cluster_cells"):
        classify_models(ov, bare, f, parks, sector="optics", hotspots=hot, cluster_cells=cc.rename(index={cc.index[0]: -5}))
    with pytest.raises(InputError, match=r"cluster ids that `clusters` does not hold \(0;"):
        classify_models(ov, bare, f, parks, sector="optics", hotspots=hot, cluster_cells=cc * 0)


def test_the_rules_table_has_one_rule_per_model_in_order():
    from geo.parks.models import _RULES, MODELS

    assert [r.model for r in _RULES] == list(MODELS)
    assert {r.model for r in _RULES if r.path} == {"market-led", "government-led"}
    assert len({r.key for r in _RULES}) == len(_RULES)


# ============================================================================ the demo's truth
def test_demo_models_equal_truth(demo_results):
    truth = load_truth()["parks"]
    target = demo_results.config.analysis.target_sector
    seen = {}
    for vr in demo_results.valleys.values():
        st = vr.analysis
        m = classify_models(st.parks_overlay, st.clusters, st.metric_firms, vr.parks, sector=target,
                               hotspots=st.hotspots, cluster_cells=st.cluster_cells)
        for _, r in m.iterrows():
            seen[r["name"]] = (sorted(r["models"]), r["primary_model"])
            # no model is undetermined on the demo: every indicator is in the data
            assert "undetermined" not in {r[f"status_{k}"] for k in ("market_led", "government_led", "research_led", "fdi_led")}
    assert seen == {name: (sorted(t["models"]), t["model"]) for name, t in truth.items()}


# ============================================================================ the remaining branches, by hand
def test_zero_thresholds_any_sector_and_the_foreign_value_by_hand(market_case):
    """Zero thresholds make every measured condition hold (a ratio >= 0); ``sector=None`` takes
    every firm as a target firm; ``foreign_value`` is matched without case: the indicators
    recomputed from the firms with shapely and numpy."""
    firms, parks, _, hot, cl, ov = market_case
    f = _neutral(firms)
    zero = {"rd_ratio": 0, "foreign_share": 0, "foreign_ratio": 0, "outside_share": 0}
    p = classify_models(ov, cl, f, parks, sector="optics", hotspots=hot, thresholds=zero).loc[0]
    assert p["status_market_led"] == "yes" and p["score_market_led"] == 1.0  # pre-existing; outside share >= 0
    assert p["status_government_led"] == "no" and "already covered the park" in p["reason_government_led"]
    assert p["status_fdi_led"] == "yes" and p["score_fdi_led"] == 1.0  # share >= 0 and ratio >= 0
    assert p["status_research_led"] == "no" and "no research anchor in the data" in p["reason_research_led"]
    assert p["models"] == ["market-led", "FDI-led"] and p["primary_model"] == "market-led"  # the path leads
    # every firm a target firm, the ownership value in capitals, no hot spots, a 10 m radius
    q = classify_models(ov, cl, f, parks, sector=None, hotspots=None, radius_m=10.0, foreign_value="FOREIGN").loc[0]
    main = cl.set_index("cluster_id").geometry[int(q["main_cluster"])]
    x, y = f.geometry.x.to_numpy(), f.geometry.y.to_numpy()
    pair = shapely.intersects_xy(parks.geometry[0], x, y) | shapely.intersects_xy(main, x, y)
    foreign = (f["ownership"] == "foreign").to_numpy()
    assert q["n_pair_target_firms"] == pair.sum() > (pair & (f["sector"] == "optics").to_numpy()).sum()
    assert q["foreign_share"] == pytest.approx(foreign[pair].mean())
    assert q["foreign_share_elsewhere"] == pytest.approx(foreign[~pair].mean())
    assert q["foreign_share_valley"] == pytest.approx(foreign.mean())
    assert q["foreign_ratio"] == pytest.approx(foreign[pair].mean() / foreign[~pair].mean())
    # neutral ownership (10 % everywhere): below the 30 % share, "no" with the weaker condition as the score
    assert q["status_fdi_led"] == "no"
    assert q["score_fdi_led"] == pytest.approx(min(1.0, q["foreign_share"] / 0.3, q["foreign_ratio"] / 1.5))
    assert q["status_market_led"] == "yes"  # the path does not depend on the sector argument here
    assert classify_models(ov, cl, f, parks, sector=None, foreign_value="Foreign").loc[0, "foreign_share"] == q["foreign_share"]


def _classify(vr, cfg):
    """classify_models called as the pipeline calls it (geo.pipeline.valley._models)."""
    st = vr.analysis
    mc = cfg.models
    return classify_models(st.parks_overlay, st.clusters, st.metric_firms, vr.parks, anchors=None,
                           anchor_column=mc.anchor_column, rd_column=mc.rd_column, ownership_column=mc.ownership_column,
                           foreign_value=mc.foreign_value, radius_m=mc.radius_m, sector=cfg.analysis.target_sector,
                           sector_column=cfg.firms.sector_column, hotspots=st.hotspots, cluster_cells=st.cluster_cells,
                           alpha=cfg.analysis.alpha, permutations=cfg.analysis.permutations, seed=vr.seed)


def test_the_pipeline_stores_the_same_models(demo_results):
    """The run's own stage (valley._models) is the same frame as the direct call."""
    cfg = demo_results.config
    for vr in demo_results.valleys.values():
        direct = _classify(vr, cfg)
        pd.testing.assert_frame_equal(vr.analysis.models, direct)
        assert vr.analysis.model_rules == direct.attrs["rules"]
