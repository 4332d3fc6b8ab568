"""Sector groups: the groups table (geo.io.groups), the assignment, the group comparison, the
in-park difference test and the plain-words answer (geo.parks.groups)."""

from __future__ import annotations

import doctest

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.stats import hypergeom

import geo.io.groups
from geo.datasets import demo_path
from geo.errors import ColumnError, DataFileError, InputError
from geo.io.groups import read_groups
from geo.parks import groups as gs

CRS = "EPSG:32650"
X0, Y0 = 500000.0, 3370000.0


def test_doctests():
    for module in (gs, geo.io.groups):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted >= 3 and result.failed == 0, module.__name__


# ============================================================================ groups table
def test_read_groups_demo_table():
    g = read_groups(demo_path("industry_groups"))
    assert {"industry_code", "sector", "subsector", "group", "description", "group_detail"} <= set(g.columns)
    assert set(g["group"]) == {"high-tech", "traditional"}
    assert g["industry_code"].str.fullmatch(r"\d{4}").all()
    row = g.set_index("industry_code").loc["1711"]
    assert (row["group"], row["group_detail"]) == ("traditional", "traditional: textiles")
    assert g.attrs["path"].endswith("industry_groups.csv")


def test_read_groups_keeps_its_own_detail_and_rejects_bad_tables(tmp_path):
    p = tmp_path / "g.csv"
    p.write_text("industry_code,group,group_detail\n334,high-tech,high-tech: computers\n31,traditional,traditional: food\n",
                 encoding="utf-8")
    g = read_groups(p)
    assert g["group_detail"].tolist() == ["high-tech: computers", "traditional: food"]
    # no sector column and no detail: the detail is the group
    p.write_text("industry_code,group\n334,high-tech\n", encoding="utf-8")
    assert read_groups(p)["group_detail"].tolist() == ["high-tech"]
    p.write_text("code,group\n334,high-tech\n", encoding="utf-8")
    with pytest.raises(ColumnError, match="industry_code"):
        read_groups(p)
    p.write_text("industry_code,group\n26.7,high-tech\n267,traditional\n", encoding="utf-8")
    with pytest.raises(InputError, match="same code more than once"):
        read_groups(p)
    p.write_text("industry_code,group\n334,\n", encoding="utf-8")
    with pytest.raises(InputError, match="without a code or a group"):
        read_groups(p)
    with pytest.raises(DataFileError, match="not found"):
        read_groups(tmp_path / "missing.csv")


def test_read_groups_reads_what_the_firm_table_engine_reads(tmp_path):
    """The table engine of geo.io: GBK, any delimiter, BOM, padded values, quotes, Excel; a row
    with more values than the header is an error naming the row."""
    want = [["3832", "high-tech", "high-tech: optics"], ["0111", "traditional", "traditional"]]
    p = tmp_path / "g.csv"
    p.write_bytes("\ufeff industry_code ; group ; sector\n 3832 ; high-tech ; optics \n\n0111;traditional;\n".encode())
    assert read_groups(p)[["industry_code", "group", "group_detail"]].values.tolist() == want
    p.write_bytes("industry_code,group,sector\n3832,高技术,光学\n".encode("gb18030"))
    assert read_groups(p)["group_detail"].tolist() == ["高技术: 光学"]
    p.write_text('industry_code,group\n334,"high, tech"\n', encoding="utf-8")
    assert read_groups(p)["group"].tolist() == ["high, tech"]
    x = tmp_path / "g.xlsx"
    pd.DataFrame({"industry_code": [3832, 111], "group": ["high-tech", "traditional"]}).to_excel(x, index=False)
    assert read_groups(x)["industry_code"].tolist() == ["3832", "111"]
    p.write_text("industry_code,group\n334,high-tech,extra\n31,traditional\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"more values than columns in data row\(s\) \[1\]"):
        read_groups(p)
    p.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="empty.*industry groups table"):
        read_groups(p)
    q = tmp_path / "g.dat"
    q.write_text("industry_code,group\n334,high-tech\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="Unknown industry groups table format '.dat'"):
        read_groups(q)


def test_assign_groups_exact_prefix_and_unclassified():
    table = pd.DataFrame({
        "industry_code": ["334", "334413", "31", "C26.7", "0111"],
        "group": ["high-tech", "semiconductors", "traditional", "high-tech", "agriculture"],
    })
    codes = ["334413", "334111", "3344", "311811", "541511", None, "", "c26.70", "C2670", "C26.1", "0111", "111"]
    firms = pd.DataFrame({"industry_code": codes}, index=np.arange(100, 100 + len(codes)))
    before = firms.copy()
    g = gs.assign_groups(firms, table)
    assert g.index.equals(firms.index) and g.name == "group"
    assert g.tolist() == [
        "semiconductors",   # exact 6-digit beats the 3-digit prefix
        "high-tech", "high-tech", "traditional",  # prefixes
        "unclassified", "unclassified", "unclassified",  # unmatched, missing, empty
        "high-tech", "high-tech",  # NACE with dots / case / section letter
        "unclassified",  # C26.1 does not start with C267
        "agriculture",  # leading zero kept as text
        "unclassified",  # 111 is not 0111
    ]
    a = g.attrs
    assert a["n_unclassified"] == 5 and a["n_missing_code"] == 2
    assert a["n_exact"] == 2 and a["n_prefix"] == 5
    assert a["unclassified_codes"] == {"541511": 1, "C261": 1, "111": 1}
    assert a["counts"] == {"agriculture": 1, "high-tech": 4, "semiconductors": 1, "traditional": 1, "unclassified": 5}
    pd.testing.assert_frame_equal(firms, before)  # input untouched


def test_assign_groups_numeric_codes_detail_column_and_errors(tmp_path):
    table = pd.DataFrame({"industry_code": ["3832", "17"], "group": ["high-tech", "traditional"],
                          "group_detail": ["high-tech: optics", "traditional: textiles"]})
    firms = pd.DataFrame({"industry_code": [3832.0, 1711.0, np.nan, 9999.0]})  # a float column (NaN present)
    assert gs.assign_groups(firms, table).tolist() == ["high-tech", "traditional", "unclassified", "unclassified"]
    assert gs.assign_groups(firms, table, column="group_detail").tolist()[:2] == ["high-tech: optics", "traditional: textiles"]
    ints = pd.DataFrame({"code": [3832, 1713]})
    assert gs.assign_groups(ints, table, code_column="code").tolist() == ["high-tech", "traditional"]
    with pytest.raises(ColumnError, match="no `industry_code` column"):
        gs.assign_groups(ints, table)
    with pytest.raises(ColumnError, match="no `sector` column"):
        gs.assign_groups(firms, table, column="sector")
    p = tmp_path / "g.csv"
    table.to_csv(p, index=False)
    assert gs.assign_groups(firms, p).tolist()[0] == "high-tech"


def test_assign_groups_on_the_demo_firms():
    firms = pd.read_csv(demo_path("firms"), dtype=str, keep_default_na=False)
    g = gs.assign_groups(firms, read_groups(demo_path("industry_groups")))
    assert g.attrs["n_unclassified"] == 0 and g.attrs["n_exact"] == len(firms)
    high = {"optics", "electronics", "software", "biomedicine"}
    expected = np.where(firms["sector"].isin(high), "high-tech", "traditional")
    assert (g.to_numpy() == expected).all()


# ============================================================================ difference test
def _points_study(n=600, seed=0, park=None):
    rng = np.random.default_rng(seed)
    x = rng.uniform(X0, X0 + 10000, n)
    y = rng.uniform(Y0, Y0 + 10000, n)
    park = park if park is not None else shapely.box(X0, Y0, X0 + 5500, Y0 + 5500)
    firms = gpd.GeoDataFrame({"valley": "V"}, geometry=shapely.points(x, y), crs=CRS, index=np.arange(n))
    parks = gpd.GeoDataFrame({"name": ["P"], "valley": ["V"], "designated": [1991]}, geometry=[park], crs=CRS)
    inside = shapely.intersects_xy(park, x, y)
    return firms, parks, inside


def test_difference_test_hand_example_and_exact_agreement():
    firms, parks, inside = _points_study(400, seed=3)
    rng = np.random.default_rng(1)
    grp = np.where(rng.random(400) < np.where(inside, 0.6, 0.4), "high-tech", "traditional")
    firms = firms.assign(group=grp)
    res = gs.group_difference_test(firms, parks, permutations=4999, seed=2)
    v = res["per_valley"]["V"]
    a, b = grp == "high-tech", grp == "traditional"
    assert (v["n_a"], v["n_b"]) == (a.sum(), b.sum())
    assert (v["in_park_a"], v["in_park_b"]) == ((a & inside).sum(), (b & inside).sum())
    assert v["difference"] == pytest.approx(inside[a].mean() - inside[b].mean(), abs=1e-15)
    dist = hypergeom(400, inside[a | b].sum(), a.sum())
    xa = (a & inside).sum()
    exact = min(1.0, 2 * min(dist.sf(xa - 1), dist.cdf(xa)))
    assert v["p_exact"] == pytest.approx(exact, rel=1e-12)
    # the permutation p estimates the exact one: MC error of a tail from 4999 draws
    se = np.sqrt(max(exact, 1e-3) * (1 - exact) / 4999) * 2
    assert abs(v["p_perm"] - exact) < 4 * se + 2 / 5000
    # one valley: the pooled difference is the valley's
    assert res["pooled"]["difference"] == pytest.approx(v["difference"])
    assert res["pooled"]["p_perm"] == v["p_perm"]
    assert res["alternative"] == "two-sided" and res["permutations"] == 4999


def test_difference_test_equals_explicit_label_shuffling():
    """Drawing the shuffled in-park count from the hypergeometric is the same test as shuffling labels."""
    firms, parks, inside = _points_study(300, seed=5)
    rng = np.random.default_rng(7)
    grp = np.where(rng.random(300) < np.where(inside, 0.55, 0.45), "high-tech", "traditional")
    firms = firms.assign(group=grp)
    R = 3000
    res = gs.group_difference_test(firms, parks, permutations=R, seed=1)["per_valley"]["V"]
    is_a = grp == "high-tech"
    d_obs = inside[is_a].mean() - inside[~is_a].mean()
    sims = np.empty(R)
    for k in range(R):
        lab = rng.permutation(is_a)
        sims[k] = inside[lab].mean() - inside[~lab].mean()
    up, lo = np.sum(sims >= d_obs - 1e-12), np.sum(sims <= d_obs + 1e-12)
    p_shuffle = min(1.0, 2 * min(up + 1, lo + 1) / (R + 1))
    se = np.sqrt(p_shuffle * (1 - p_shuffle) / R) * 2
    assert abs(res["p_perm"] - p_shuffle) < 4 * np.sqrt(2) * se + 0.01


def _two_valleys_confounded():
    """Within each valley the groups are equally often in parks; pooled raw shares differ a lot."""
    frames, parks = [], []
    for v, (share_in, frac_a) in {"A": (0.8, 0.8), "B": (0.1, 0.2)}.items():
        n = 500
        n_in = int(share_in * n)
        x = np.r_[np.full(n_in, X0 + 100.0), np.full(n - n_in, X0 + 5000.0)] + np.arange(n) * 0.01
        y = np.full(n, Y0 + 100.0)
        grp = np.empty(n, dtype=object)
        n_a_in, n_a_out = int(frac_a * n_in), int(frac_a * (n - n_in))
        grp[:n_in] = ["high-tech"] * n_a_in + ["traditional"] * (n_in - n_a_in)
        grp[n_in:] = ["high-tech"] * n_a_out + ["traditional"] * (n - n_in - n_a_out)
        frames.append(gpd.GeoDataFrame({"valley": v, "group": grp}, geometry=shapely.points(x, y), crs=CRS))
        parks.append(gpd.GeoDataFrame({"name": [f"P{v}"], "valley": [v], "designated": [1991]},
                                      geometry=[shapely.box(X0, Y0, X0 + 1000, Y0 + 1000)], crs=CRS))
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=CRS), gpd.GeoDataFrame(pd.concat(parks, ignore_index=True), crs=CRS)


def test_difference_test_is_stratified_by_valley():
    firms, parks = _two_valleys_confounded()
    res = gs.group_difference_test(firms, parks, permutations=999, seed=0)
    for v in ("A", "B"):
        assert res["per_valley"][v]["difference"] == pytest.approx(0.0, abs=1e-12)
    pooled = res["pooled"]
    # raw pooled shares differ (Simpson), the Mantel–Haenszel difference does not
    assert pooled["share_a"] - pooled["share_b"] > 0.3
    assert pooled["difference"] == pytest.approx(0.0, abs=1e-12)
    assert pooled["p_perm"] > 0.5
    # hand check of the MH weights on a valley with a nonzero difference
    firms2 = firms.copy()
    flip = firms2.index[(firms2["valley"] == "B") & (firms2["group"] == "traditional")][:30]
    firms2.loc[flip, "group"] = "high-tech"  # in valley B these are outside-park firms
    r2 = gs.group_difference_test(firms2, parks, permutations=99, seed=0)
    w = {v: e["n_a"] * e["n_b"] / (e["n_a"] + e["n_b"]) for v, e in r2["per_valley"].items()}
    hand = sum(w[v] * r2["per_valley"][v]["difference"] for v in w) / sum(w.values())
    assert r2["pooled"]["difference"] == pytest.approx(hand)


def test_difference_test_skips_and_errors():
    firms, parks, _ = _points_study(100)
    only_a = firms.assign(group="high-tech")
    res = gs.group_difference_test(only_a, parks, permutations=99)
    assert "no 'traditional' firms" in res["per_valley"]["V"]["skipped"]
    assert "skipped" in res["pooled"]
    assert "Not tested" in gs.groups_answer(pd.DataFrame(), res)
    with pytest.raises(InputError, match="must differ"):
        gs.group_difference_test(only_a, parks, group_a="x", group_b="x")
    with pytest.raises(ColumnError, match="`group` column"):
        gs.group_difference_test(firms, parks)
    with pytest.raises(InputError, match="positive int"):
        gs.group_difference_test(only_a, parks, permutations=0)
    with pytest.raises(InputError, match="alternative"):
        gs.group_difference_test(only_a, parks, alternative="bigger")


def _size_rate(reps: int, permutations: int, seed: int) -> tuple[float, float]:
    firms, parks, _ = _points_study(600, seed=seed)
    rng = np.random.default_rng(seed + 1)
    rej_perm = rej_exact = 0
    for r in range(reps):
        grp = np.where(rng.random(600) < 0.5, "high-tech", "traditional")  # independent of position
        res = gs.group_difference_test(firms.assign(group=grp), parks, permutations=permutations, seed=int(rng.integers(2**31)))
        rej_perm += res["pooled"]["p_perm"] <= 0.05
        rej_exact += res["per_valley"]["V"]["p_exact"] <= 0.05
    return rej_perm / reps, rej_exact / reps


def test_difference_test_size_fast():
    reps = 300
    rate, rate_exact = _size_rate(reps, 199, seed=11)
    se = np.sqrt(0.05 * 0.95 / reps)
    # valid (not above alpha beyond MC error); the exact two-sided test is slightly conservative
    assert rate <= 0.05 + 3 * se
    assert rate >= 0.05 - 3 * se - 0.01
    assert abs(rate - rate_exact) <= 0.03


@pytest.mark.slow
def test_difference_test_size_thorough():
    reps = 3000
    rate, _ = _size_rate(reps, 499, seed=21)
    se = np.sqrt(0.05 * 0.95 / reps)
    assert 0.05 - 3 * se - 0.005 <= rate <= 0.05 + 3 * se


def test_difference_test_power_high_tech_planted_in_parks():
    firms, parks, inside = _points_study(600, seed=4)
    rng = np.random.default_rng(9)
    reps, rejections = 30, 0
    for _ in range(reps):
        grp = np.where(rng.random(600) < np.where(inside, 0.65, 0.4), "high-tech", "traditional")
        res = gs.group_difference_test(firms.assign(group=grp), parks, permutations=199, seed=int(rng.integers(2**31)))
        rejections += res["pooled"]["p_perm"] <= 0.05 and res["pooled"]["difference"] > 0
    assert rejections / reps >= 0.9


# ============================================================================ compare_groups
def _group_study():
    """Two valleys: high-tech clustered (inside the park after designation in A; before it in B),
    traditional spread uniformly."""
    frames, parks = [], []
    for v, (dx, before) in {"A": (0.0, False), "B": (100000.0, True)}.items():
        rng = np.random.default_rng(10 if v == "A" else 20)
        n_t, n_h = 900, 300
        tx, ty_ = rng.uniform(X0 + dx, X0 + dx + 15000, n_t), rng.uniform(Y0, Y0 + 15000, n_t)
        cx, cy = X0 + dx + 7500, Y0 + 7500
        hx, hy = cx + rng.normal(0, 600, n_h), cy + rng.normal(0, 600, n_h)
        hf = rng.integers(1980, 1991, n_h) if before else rng.integers(1995, 2025, n_h)
        tf = rng.integers(1980, 2025, n_t)
        frames.append(gpd.GeoDataFrame({
            "valley": v, "group": ["traditional"] * n_t + ["high-tech"] * n_h, "founded": np.r_[tf, hf],
        }, geometry=shapely.points(np.r_[tx, hx], np.r_[ty_, hy]), crs=CRS))
        parks.append(gpd.GeoDataFrame({"name": [f"Park {v}"], "valley": [v], "designated": [1991]},
                                      geometry=[shapely.box(cx - 2500, cy - 2500, cx + 2500, cy + 2500)], crs=CRS))
    return (gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=CRS),
            gpd.GeoDataFrame(pd.concat(parks, ignore_index=True), crs=CRS))


@pytest.fixture(scope="module")
def group_study():
    firms, parks = _group_study()
    table = gs.compare_groups(firms, parks, permutations=99, kd_simulations=19, size=1000, seed=3)
    return firms, parks, table


def test_compare_groups_table_shape_and_exact_columns(group_study):
    firms, parks, table = group_study
    assert list(zip(table["valley"], table["group"])) == [("A", "high-tech"), ("A", "traditional"),
                                                          ("B", "high-tech"), ("B", "traditional")]
    ref_year = int(firms["founded"].max())
    for _, r in table.iterrows():
        f = firms[(firms["valley"] == r["valley"]) & (firms["group"] == r["group"])]
        fv = firms[firms["valley"] == r["valley"]]
        park = parks[parks["valley"] == r["valley"]].geometry.iloc[0]
        ins = shapely.intersects_xy(park, fv.geometry.x, fv.geometry.y)
        gi = (fv["group"] == r["group"]).to_numpy()
        assert r["n_firms"] == len(f)
        assert r["in_park_share"] == pytest.approx(ins[gi].mean())
        assert r["park_lq"] == pytest.approx(ins[gi].mean() / ins.mean())
        assert r["p_labelling"] == pytest.approx(hypergeom(len(fv), gi.sum(), ins.sum()).sf((ins & gi).sum() - 1), rel=1e-9)
        assert r["median_age"] == np.median(ref_year - f["founded"])
        assert r["share_after_designation"] == pytest.approx((f["founded"] >= 1991).mean())
        assert r["designated_ref"] == 1991
    assert table["p_labelling_fdr"].notna().all()
    assert set(table.attrs) >= {"rules", "nulls", "parameters"}


def test_compare_groups_moran_matches_esda_on_the_group_counts(group_study):
    import esda

    from geo.cells.graph import weights
    from geo.cells.grid import aggregate

    firms, _, table = group_study
    fa = firms[firms["valley"] == "A"]
    cells = aggregate(fa, cell="hex", size=1000, by="group")
    w = weights(cells).to_W()
    w.transform = "r"
    for g, col in cells.attrs["by_columns"].items():
        mi = esda.Moran(cells[col].to_numpy(float), w, permutations=0)
        r = table[(table["valley"] == "A") & (table["group"] == g)].iloc[0]
        assert r["moran_I"] == pytest.approx(mi.I, rel=1e-9)
        assert r["n_cells"] == len(cells)


def test_compare_groups_clusters_kd_and_precedence(group_study):
    _, _, table = group_study
    t = table.set_index(["valley", "group"])
    for v in ("A", "B"):
        h, tr = t.loc[(v, "high-tech")], t.loc[(v, "traditional")]
        assert h["moran_I"] > 0.3 and h["moran_p_sim"] <= 0.02
        assert h["hot_share"] > 0.5 and h["n_clusters"] >= 1
        assert h["kd_localised"] and h["kd_from_m"] == 0.0
        assert h["p_labelling"] < 1e-6
        assert tr["hot_share"] < 0.2
        assert h["precedence_park"] == f"Park {v}" and h["precedence_year"] == 1991
    assert t.loc[("A", "high-tech"), "precedence"] == "formed after designation"
    assert t.loc[("A", "high-tech"), "cluster_before"] is False or t.loc[("A", "high-tech"), "cluster_before"] == False  # noqa: E712
    assert t.loc[("B", "high-tech"), "precedence"] == "preceded designation"
    assert bool(t.loc[("B", "high-tech"), "cluster_before"]) is True


def test_compare_groups_hot_cells_are_the_public_chain_on_the_group_counts(group_study):
    """compare_groups goes through the run's chain (geo.parks._hot): its hot-cell and cluster
    counts are those of geo.aggregate -> geo.weights -> geo.hotspots -> geo.cluster_polygons
    called directly on the group's counts, with the seed compare_groups draws for that row."""
    import geo
    from geo._random import check_seed
    from geo.cells.grid import GridInfo
    from geo.crs import to_metric

    firms, _, table = group_study
    rng = check_seed(3)
    seeds = {(v, g): int(rng.integers(0, 2**63 - 1)) for v in ("A", "B") for g in ("high-tech", "traditional")}
    for v in ("A", "B"):
        fm = to_metric(firms[firms["valley"] == v])
        cells = geo.aggregate(fm, cell="hex", size=1000, by="group")
        graph = geo.weights(cells)
        counts = cells[GridInfo.of(cells).column("high-tech")].to_numpy()
        hot = geo.hotspots(cells[["cell_id", "geometry"]].assign(n_firms=counts), "n_firms", graph=graph, statistic="gi*",
                           fdr=True, permutations=99, seed=seeds[(v, "high-tech")])
        clusters = geo.cluster_polygons(hot)
        r = table[(table["valley"] == v) & (table["group"] == "high-tech")].iloc[0]
        is_hot = hot["gi_bin"].to_numpy() >= 2
        assert (r["n_hot_cells"], r["n_clusters"]) == (int(is_hot.sum()), len(clusters)) and r["n_clusters"] >= 1
        assert r["hot_share"] == pytest.approx(counts[is_hot].sum() / counts.sum(), abs=0)
        assert r["precedence_cluster_firms"] == clusters["n_firms"].iloc[0]


def test_compare_groups_gives_the_numbers_of_its_former_chain(group_study):
    """The table compare_groups gave with its own copy of the grid -> weights -> Gi* -> clusters
    chain (before it shared the run's, geo.parks._hot), pinned: same seeds, same numbers."""
    _, _, table = group_study
    assert table["moran_I"].tolist() == pytest.approx(
        [0.5413576009967008, -0.0014713634663129597, 0.5405595125535335, 0.04885773958486678], rel=1e-12)
    assert table["moran_p_sim"].tolist() == [0.02, 0.9, 0.02, 0.14]
    assert table["hot_share"].tolist() == [0.84, 0.0, 0.81, 0.0]
    assert table["n_hot_cells"].tolist() == [6, 0, 6, 0] and table["n_clusters"].tolist() == [1, 0, 1, 0]
    assert table["n_cells"].tolist() == [291] * 4
    assert table["precedence"].tolist() == ["formed after designation", "no cluster", "preceded designation", "no cluster"]
    assert table["precedence_cluster_firms"].tolist() == [252, 0, 243, 0]
    assert table["kd_to_m"].tolist()[::2] == pytest.approx([2363.3674891729893, 2393.212522575251], rel=1e-12)


def test_compare_groups_answer_and_edge_cases(group_study):
    firms, parks, table = group_study
    diff = gs.group_difference_test(firms, parks, permutations=199, seed=0)
    text = gs.groups_answer(table, diff)
    assert text.startswith("Yes: high-tech firms lie inside parks more often than traditional firms")
    assert f"{100 * diff['pooled']['difference']:+.1f} percentage points" in text
    assert "A: formed after designation (Park A, 1991)" in text and "B: preceded designation (Park B, 1991)" in text
    # the opposite direction, and no difference
    rev = gs.group_difference_test(firms, parks, group_a="traditional", group_b="high-tech", permutations=199)
    assert gs.groups_answer(table, rev).startswith("No — the opposite")
    flat = dict(diff, pooled=dict(diff["pooled"], p_perm=0.4))
    assert gs.groups_answer(table, flat).startswith("Not shown")
    # no parks, a missing group, a tiny group: reasons, no crash
    tiny = firms.copy()
    tiny.loc[tiny.index[:5], "group"] = "biotech"
    t2 = gs.compare_groups(tiny[tiny["valley"] == "A"], None, permutations=19, kd_simulations=0, size=1000,
                           groups=["biotech", "high-tech", "software"])
    assert t2["precedence"].tolist() == ["no parks"] * 3
    assert "no firms of this group" in t2.set_index("group").loc["software", "notes"]
    assert t2.set_index("group").loc["biotech", "n_firms"] == 5
    assert t2["kd_verdict"].str.startswith("not computed").all()
    with pytest.raises(ColumnError, match="`group` column"):
        gs.compare_groups(firms.drop(columns="group"), parks)
