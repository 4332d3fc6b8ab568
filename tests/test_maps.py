"""geo.outputs.maps on small synthetic Results built by hand (no browser; see test_browser.py)."""

from __future__ import annotations

import base64
import copy
import inspect
import io
import json
import re
from dataclasses import replace

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from folium import plugins

from geo.config import Config
from geo.crs import to_metric
from geo.errors import InputError
from geo.outputs import maps
from geo.outputs._style import format_distance
from geo.outputs.maps import _assets, _data, _geometry, _html
from geo.outputs.maps import firms as map_firms
from geo.outputs.maps import layers as map_layers
from geo.outputs.maps import timeline as map_timeline
from geo.outputs.raster import density_to_png
from geo.pipeline.results import Results, ValleyAnalysis, ValleyResult
from geo.stats.density import kernel_density, kernel_density_by

NASTY = [
    '<img src=x onerror="window.__xss=1">',
    "</script><script>window.__xss=2</script>",
    "`tick` ${window.__xss=3}",
    "back\\slash \\u0041 'quote' \"dq\" & amp",
]
BINS = [3, 3, 3, 2, 2, 1, -1, -1, -2, -3]
LABELS = ["HH", "HH", "HH", "HH", "LL", "LL", "LH", "HL"]


def _results(*, names=None, park_name="East <Lake> Park", sector_b="food", target="optics", n_a=240, title="Valley <A>"):
    """Valley A: firms, 6x6 cells with hot/cold bins and LISA labels, a cluster, a park with a verdict.
    Valley B: 20 firms, no statistics (too few firms)."""
    rng = np.random.default_rng(0)
    lon = 114.40 + rng.normal(0, 0.02, n_a)
    lat = 30.50 + rng.normal(0, 0.02, n_a)
    sector = np.where(np.arange(n_a) % 3 == 0, "optics", sector_b)
    firm_names = [f"Firm {i}" for i in range(n_a)]
    if names is not None:
        firm_names[: len(names)] = names  # the first firms are optics firms (i % 3 == 0) or not
        firm_names[3 : 3 + len(names)] = names
    firms_a = gpd.GeoDataFrame(
        {"name": firm_names, "sector": sector, "founded": 1985 + np.arange(n_a) % 35, "valley": "A", "lon": lon, "lat": lat},
        geometry=gpd.points_from_xy(lon, lat), crs=4326,
    )
    fm = to_metric(firms_a)
    cx, cy = float(fm.geometry.x.mean()), float(fm.geometry.y.mean())
    boxes = [shapely.box(cx + i * 1000.0, cy + j * 1000.0, cx + (i + 1) * 1000.0, cy + (j + 1) * 1000.0)
             for j in range(-3, 3) for i in range(-3, 3)]
    k = len(boxes)
    hot = gpd.GeoDataFrame({
        "cell_id": [f"c{i}" for i in range(k)], "n_firms": np.arange(k) + 5, "n_optics": np.arange(k) % 7,
        "gi_z": np.linspace(4.0, -4.0, k), "gi_p_fdr": np.linspace(0.0001, 0.9, k), "gi_bin": BINS + [0] * (k - len(BINS)),
        "lisa_I": np.linspace(1, -1, k), "lisa_p_fdr": np.linspace(0.001, 0.9, k),
        "lisa_label": LABELS + ["ns"] * (k - len(LABELS)),
    }, geometry=boxes, crs=fm.crs)
    clusters = gpd.GeoDataFrame({"cluster_id": [1], "n_cells": [3], "area_km2": [3.0], "n_firms": [50], "n_target": [30],
                                 "peak_z": [5.2], "mean_z": [4.1]}, geometry=[shapely.union_all(boxes[:3])], crs=fm.crs)
    parks = gpd.GeoDataFrame({"name": [park_name], "valley": ["A"], "designated": [1995]},
                             geometry=[shapely.box(114.39, 30.49, 114.41, 30.51)], crs=4326, index=[7])
    overlay = pd.DataFrame({
        "name": [park_name], "designated": [1995], "n_firms": [120], "n_target": [40], "lq": [1.8], "park_hot_share": [0.4],
        "p_placement_fdr": [0.01], "p_labelling_fdr": [0.0004], "cluster_before": [False],
        "verdict": ["cluster formed after designation"], "verdict_reason": ["because <b>the numbers</b> say so"],
        "rate_ratio": [3.0], "rr_lo": [1.5], "rr_hi": [6.0], "p_rate_ratio_fdr": [0.002],
    }, index=[7])
    vr_a = ValleyResult(name="A", title=title, firms=firms_a, parks=parks, metric_crs=str(fm.crs), seed=1)
    # the density stages as the pipeline computes them (geo.pipeline.valley._density)
    vr_a.analysis = ValleyAnalysis(metric_firms=fm, hotspots=hot, focus_column="n_optics", clusters=clusters,
                                   parks_overlay=overlay, clusters_outside_parks=clusters.iloc[0:0],
                                   density_target=kernel_density_by(fm, "sector", groups=[target])[target],
                                   density=kernel_density(fm))
    lon_b = 125.3 + rng.normal(0, 0.01, 20)
    lat_b = 43.86 + rng.normal(0, 0.01, 20)
    firms_b = gpd.GeoDataFrame({"name": [f"B{i}" for i in range(20)], "sector": ["optics", "food"] * 10,
                                "founded": 2000 + np.arange(20), "valley": "B", "lon": lon_b, "lat": lat_b},
                               geometry=gpd.points_from_xy(lon_b, lat_b), crs=4326)
    no_parks = parks.iloc[0:0]
    vr_b = ValleyResult(name="B", title="Valley B", firms=firms_b, parks=no_parks)
    vr_b.skipped["statistics"] = "only 20 firms: at least 30 are needed for the spatial statistics"
    base = Config()
    cfg = replace(base, analysis=replace(base.analysis, target_sector=target), run=replace(base.run, synthetic=True))
    all_firms = gpd.GeoDataFrame(pd.concat([firms_a, firms_b]), crs=4326)
    return Results(config=cfg, firms=all_firms, parks=parks, rejects=pd.DataFrame(), load_report={}, parks_report={},
                   valleys={"A": vr_a, "B": vr_b})


@pytest.fixture(scope="module")
def res():
    return _results()


def _overlays(m) -> list[str]:
    """The overlay names of the map's layer control (as rendered)."""
    m.get_root().render()
    (lc,) = [c for c in m._children.values() if isinstance(c, folium.LayerControl)]
    return list(lc.overlays)


def _group(m, name):
    (fg,) = [c for c in m._children.values() if getattr(c, "layer_name", None) == name]
    return fg


def _features(fg) -> list[dict]:
    """The features of the group's GeoJSON layers (a layer that draws another's features again holds none)."""
    out = []
    for child in fg._children.values():
        if child._name == "GeoJsonLayer" and child.features_of is None:
            out.extend(json.loads(child.data_js)["features"])
    return out


VALLEY_A_LAYERS = [
    "Parks", "Gi* hot/cold spots (optics firms)", "LISA clusters", "Clusters", "Firms: optics", "Firms: all sectors",
    "Founding years (optics firms)", "Firm density (KDE)", "Firm density (KDE, optics)",
]


def test_valley_map_has_every_layer_in_the_layer_control(res):
    m = maps.valley_map(res, "A")
    assert isinstance(m, folium.Map)
    assert _overlays(m) == VALLEY_A_LAYERS
    kinds = {type(c).__name__ for c in m._children.values()}
    assert {"Fullscreen", "MiniMap", "TimelineSlider"} <= kinds
    assert any(getattr(c, "_name", "") == "FitValley" for c in m._children.values())
    assert m.control_scale is True


def test_layers_hold_the_expected_features(res):
    m = maps.valley_map(res, "A")
    gi = _features(_group(m, "Gi* hot/cold spots (optics firms)"))
    assert sorted(int(f["properties"]["k"]) for f in gi) == sorted(BINS)  # bin-0 cells are omitted
    lisa = _features(_group(m, "LISA clusters"))
    assert sorted(f["properties"]["k"] for f in lisa) == sorted(LABELS)  # "ns" omitted
    parks = _features(_group(m, "Parks"))
    assert len(parks) == 1  # one copy of the park: the clear interactive fill ...
    drawn = [c for c in _group(m, "Parks")._children.values() if c._name == "GeoJsonLayer"]
    assert [c.pane for c in drawn] == ["geo-parks", "geo-park-tint", "geo-park-lines"]
    assert drawn[1].features_of is drawn[0] and drawn[2].features_of is drawn[0]  # ... drawn again as tint and outline
    assert drawn[1].data_js == drawn[2].data_js == ""
    tip = parks[0]["properties"]["t"]
    assert "East &lt;Lake&gt; Park" in tip and "designated: 1995" in tip and "cluster formed after designation" in tip
    assert "LQ 1.8" in tip and "40 optics" in tip and "labelling test p = 0.0004 (FDR)" in tip
    assert "because &lt;b&gt;the numbers&lt;/b&gt; say so" in parks[0]["properties"]["p"]
    (cl,) = _features(_group(m, "Clusters"))
    assert "Cluster 1" in cl["properties"]["t"] and "peak Gi* z 5.2" in cl["properties"]["t"]
    # the parks are coloured by verdict
    assert cl["properties"]["k"] == "in"
    assert parks[0]["properties"]["k"] == maps.VERDICT_COLOURS["cluster formed after designation"]


def test_legends_present(res):
    page = maps.valley_map(res, "A").get_root().render()
    for b in (3, 2, 1, -1, -2, -3):
        assert maps.GI_LABELS[b] in page and maps.GI_COLOURS[b] in page
    assert maps.GI_LABELS[0] not in page  # not-significant cells are neither drawn nor in the legend
    assert "not significant cells are not drawn" in page
    for lab in ("HH", "LL", "LH", "HL"):
        assert maps.LISA_LABELS[lab] in page and maps.LISA_COLOURS[lab] in page
    assert "cluster formed after designation" in page and maps.VERDICT_COLOURS["cluster formed after designation"] in page
    assert "firms per km" in page  # the density colour ramp
    # the time slider's legend (legend HTML is JSON in the page: its & is written \u0026)
    assert _html._js("Parks designated: East &lt;Lake&gt; Park (1995)")[1:-1] in page


def test_escape():
    assert maps.escape('<img src=x onerror="alert(1)">') == "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"
    assert maps.escape("`a` ${b} c\\d 'e' & f") == "&#96;a&#96; &#36;&#123;b&#125; c&#92;d &#x27;e&#x27; &amp; f"
    assert maps.escape(None) == "" and maps.escape(float("nan")) == "" and maps.escape(pd.NA) == ""
    assert maps.escape(12) == "12"


def test_embedded_json_cannot_close_a_script():
    assert _html._js({"a": "</script><!--", "b": "x\u2028y"}) == '{"a":"\\u003c/script\\u003e\\u003c!--","b":"x\\u2028y"}'
    assert _html._js("Ta & b") == '"Ta \\u0026 b"'


def _script_tags(page: str) -> tuple[int, int]:
    low = page.lower()
    return low.count("<script"), low.count("</script")


def test_data_strings_are_escaped_everywhere():
    nasty = _results(names=NASTY, park_name=NASTY[0] + " Park", sector_b="</script>food", title=NASTY[1])
    plain = _results(names=[f"plain {i}" for i in range(len(NASTY))], park_name="plain park", sector_b="food", title="t")
    for valley in ("A", "B"):
        page = maps.valley_map(nasty, valley).get_root().render()
        for raw in ("<img src=x onerror", "</script><script>window.__xss", "${window.__xss", "`tick`", "back\\slash",
                    "</script>food"):
            assert raw not in page
        # same number of script elements as with harmless names: nothing closed or opened a script
        assert _script_tags(page) == _script_tags(maps.valley_map(plain, valley).get_root().render())
    page = maps.valley_map(nasty, "A").get_root().render()
    # the names are there, escaped (inside JSON the escaped text's & is written \u0026)
    for name in NASTY + [NASTY[0] + " Park", "</script>food"]:
        assert _html._js(maps.escape(name))[1:-1] in page
    overview = maps.overview_map(nasty).get_root().render()
    assert "<img src=x onerror" not in overview and "</script><script>window.__xss" not in overview
    assert _script_tags(overview) == _script_tags(maps.overview_map(plain).get_root().render())


def test_template_syntax_in_the_data_is_shown_not_evaluated(tmp_path):
    """folium parses what its elements render as a Jinja template: names must reach the page as text."""
    jinja = ["{{ 6*7 }}", "{% raw %}", "{# open comment", "{{ self }}"]
    res = _results(names=jinja, park_name="{{ 7*7 }} Park", sector_b="{{ 8*8 }}", target="{{ 8*8 }}", title="{% if %}")
    maps_ = [maps.valley_map(res, v) for v in ("A", "B")] + [maps.overview_map(res)]
    pages = [m.get_root().render() for m in maps_]
    for page in pages:
        for raw in (*jinja, "{{ 7*7 }}", "{{ 8*8 }}", "{% if %}"):
            assert raw not in page
    page = pages[0]
    for name in (*jinja, "{{ 7*7 }} Park", "{{ 8*8 }}"):
        assert _html._js(maps.escape(name))[1:-1] in page  # tooltips, sector names (JSON)
    assert "Firms: &#123;&#123; 8*8 &#125;&#125;" in _overlays(maps_[0])  # the target sector in a layer name
    assert "Firms: 64" not in page and "49 Park" not in page
    maps.write_maps(res, tmp_path)  # the whole files render too


def test_big_layers_are_not_reparsed_and_keep_their_data(res, monkeypatch):
    monkeypatch.setattr(map_firms, "POINTS_MAX", 50)
    monkeypatch.setattr(map_firms, "CLUSTER_MAX", 100)  # optics (80 firms): clusters; all sectors (240): heat map
    m = maps.valley_map(res, "A")
    page = m.get_root().render()
    assert "__geo_data_" not in page
    (heat,) = [c for c in _group(m, "Firms: all sectors (heat map)")._children.values() if isinstance(c, plugins.HeatMap)]
    (cl,) = [c for c in _group(m, "Firms: optics (clustered)")._children.values()
             if isinstance(c, plugins.FastMarkerCluster)]
    got = re.search(rf"var {heat.get_name()} = L\.heatLayer\(\s*(\[.*?\]\]),", page, re.S).group(1)
    assert json.loads(got) == heat.data and len(heat.data) > 10
    got = re.search(r"var data = (\[.*?\]\]);", page, re.S).group(1)
    assert json.loads(got) == cl.data and len(cl.data) == 80


def test_firm_layer_rows_match_the_firms(res, monkeypatch):
    """The vectorised sector codes give each marker its firm's position and sector."""
    monkeypatch.setattr(map_firms, "POINTS_MAX", 10)
    m = maps.valley_map(res, "A")
    (cl,) = [c for c in _group(m, "Firms: all sectors (clustered)")._children.values()
             if isinstance(c, plugins.FastMarkerCluster)]
    firms = res.valleys["A"].firms
    sectors = sorted(set(res.firms["sector"].astype(str)))
    assert [[r[0], r[1]] for r in cl.data] == np.round(np.column_stack([firms.geometry.y, firms.geometry.x]), 6).tolist()
    assert [sectors[r[2]] for r in cl.data] == firms["sector"].astype(str).tolist()


def test_firms_without_a_location_are_left_out():
    res = _results()
    vr = res.valleys["A"]
    firms = vr.firms.copy()
    firms.loc[firms.index[:5], "geometry"] = None
    firms.loc[firms.index[5], "geometry"] = shapely.Point()
    m = maps.valley_map(replace(res, valleys={"A": replace(vr, firms=firms)}), "A")
    (pts,) = [c for c in _group(m, "Firms: all sectors")._children.values() if c._name == "PointsLayer"]
    rows = json.loads(pts.rows_js)
    assert len(rows) == 234  # 240 firms, 6 without a point
    assert rows[0][3].startswith("<b>Firm 6</b>") and not any(r[3].startswith("<b>Firm 0</b>") for r in rows)
    located = firms.iloc[6:]
    assert [[r[0], r[1]] for r in rows] == np.round(np.column_stack([located.geometry.y, located.geometry.x]), 6).tolist()


def _messy_sectors() -> list[pd.Series]:
    base = ["optics", None, "food", np.nan, "unknown", "optics", pd.NA, "3", 3, 3.0, "food"]
    return [
        pd.Series(base, dtype=object),
        pd.Series(["b", "a", None, "b"], dtype="str"),
        pd.Series(["b", "a", None, "b"], dtype="string[pyarrow]"),
        pd.Series(pd.Categorical(["x", None, "y", "x"])),
        pd.Series([1.0, np.nan, 2.0, 1.0]),
        pd.Series([5, 7, 5]),
        pd.Series([], dtype=object),
    ]


def test_sector_codes_match_the_string_labels():
    for s in _messy_sectors():
        codes, names = _data._sector_codes(s)
        expected = s.astype("object").where(s.notna(), "unknown").astype(str).tolist()
        assert [names[c] for c in codes] == expected
        assert len(set(names)) == len(names)
        factorized = _data._text_factorize(s)  # computed once, handed to both (None: not text-like)
        assert _data._sector_codes(s, factorized=factorized)[0].tolist() == codes.tolist()
        for value in ("optics", "3", 3, "unknown", "nan", "b", 1.0, 5):
            expected = (s.astype(str) == str(value)).tolist()
            assert _data._str_equals(s, value).tolist() == expected
            assert _data._str_equals(s, value, factorized=factorized).tolist() == expected


def test_dense_unique_matches_numpy(monkeypatch):
    rng = np.random.default_rng(3)
    for keys in (rng.integers(0, 50, 1000), rng.integers(0, 10**6, 5000), np.array([7]), np.array([0, 0, 0])):
        ref = np.unique(keys, return_inverse=True, return_counts=True)
        for dense_max in (_geometry._DENSE_KEYS_MAX, 10):  # counting, and the sorting fallback
            monkeypatch.setattr(_geometry, "_DENSE_KEYS_MAX", dense_max)
            inv, counts = _geometry._dense_unique(keys)
            assert inv.tolist() == ref[1].ravel().tolist() and counts.tolist() == ref[2].tolist()


def test_convex_hull_matches_shapely():
    rng = np.random.default_rng(5)
    cases = [rng.normal(0, 1, (3000, 2)), np.round(rng.uniform(0, 10, (2000, 2))),
             np.column_stack([rng.uniform(0, 1, 500), np.full(500, 2.0)]), rng.normal(0, 1, (10, 2)),
             np.array([[1.0, 1.0]] * 100), np.column_stack([114 + rng.normal(0, 0.05, 5000), 30 + rng.normal(0, 0.05, 5000)])]
    for xy in cases:
        ref = shapely.convex_hull(shapely.multipoints(xy))
        assert shapely.equals_exact(_geometry._convex_hull(xy), ref, tolerance=0)


def test_target_sector_name_is_escaped_in_layer_names():
    res = _results(target="<i>optics</i>", sector_b="<i>optics</i>")
    names = _overlays(maps.valley_map(res, "A"))
    assert "Firms: &lt;i&gt;optics&lt;/i&gt;" in names
    assert not any("<i>" in n for n in names)


def test_firm_layer_mode_thresholds(monkeypatch):
    assert maps.firm_layer_mode(maps.POINTS_MAX) == "points"
    assert maps.firm_layer_mode(maps.POINTS_MAX + 1) == "clusters"
    assert maps.firm_layer_mode(maps.CLUSTER_MAX) == "clusters"
    assert maps.firm_layer_mode(maps.CLUSTER_MAX + 1) == "heatmap"
    monkeypatch.setattr(map_firms, "POINTS_MAX", 10)
    assert maps.firm_layer_mode(11) == "clusters"


def _plugin_kinds(fg) -> set[str]:
    return {type(c).__name__ for c in fg._children.values()}


def test_firm_layers_switch_to_clusters_then_heat_map(res, monkeypatch):
    # 240 firms in valley A, 80 of them optics
    monkeypatch.setattr(map_firms, "POINTS_MAX", 100)
    m = maps.valley_map(res, "A")
    assert "PointsLayer" in _plugin_kinds(_group(m, "Firms: optics"))
    assert "FastMarkerCluster" in _plugin_kinds(_group(m, "Firms: all sectors (clustered)"))
    monkeypatch.setattr(map_firms, "POINTS_MAX", 50)
    monkeypatch.setattr(map_firms, "CLUSTER_MAX", 100)
    m = maps.valley_map(res, "A")
    assert "FastMarkerCluster" in _plugin_kinds(_group(m, "Firms: optics (clustered)"))
    heat_group = _group(m, "Firms: all sectors (heat map)")
    (heat,) = [c for c in heat_group._children.values() if isinstance(c, plugins.HeatMap)]
    assert len(heat.data) <= maps.HEAT_BINS_MAX
    assert "(clustered)" not in " ".join(_overlays(m)).replace("optics (clustered)", "")


def test_hidden_firm_clusters_stay_hidden(res, monkeypatch):
    """FastMarkerCluster adds itself to the map; it must sit in a feature group that honours show=False."""
    monkeypatch.setattr(map_firms, "POINTS_MAX", 100)
    m = maps.valley_map(res, "A")
    fg = _group(m, "Firms: all sectors (clustered)")
    assert fg.show is False and isinstance(fg, folium.FeatureGroup)


def test_heat_bins_cap_and_conserve_firms():
    rng = np.random.default_rng(1)
    ll = np.column_stack([114.3 + rng.random(20_000) * 0.4, 30.4 + rng.random(20_000) * 0.3])
    bins, cell = map_firms._heat_bins(ll, max_bins=500)
    assert len(bins) <= 500 and cell > 50.0
    assert bins[:, 2].sum() == 20_000
    assert bins[:, 0].min() >= 30.4 - 1e-5 and bins[:, 0].max() <= 30.7 + 1e-5  # mean positions stay inside
    fine, cell_fine = map_firms._heat_bins(ll, max_bins=25_000)
    assert cell_fine <= cell and fine[:, 2].sum() == 20_000


def test_cells_merged_by_bin_above_the_cap(res, monkeypatch):
    monkeypatch.setattr(map_layers, "CELLS_MAX", 4)
    m = maps.valley_map(res, "A")
    gi = _features(_group(m, "Gi* hot/cold spots (optics firms)"))
    assert sorted(int(f["properties"]["k"]) for f in gi) == sorted(set(BINS))
    assert all("cells (merged)" in f["properties"]["t"] for f in gi)
    # the merged polygons cover exactly the significant cells
    hot = res.valleys["A"].analysis.hotspots
    sig = hot[hot["gi_bin"] != 0].to_crs(4326)
    for f in gi:
        b = int(f["properties"]["k"])
        merged = shapely.from_geojson(json.dumps(f["geometry"]))
        cells = sig.geometry.values[(sig["gi_bin"] == b).to_numpy()]
        assert shapely.area(merged) == pytest.approx(shapely.area(cells).sum(), rel=1e-4)
    assert "merged by bin" in m.get_root().render()


def test_coordinates_rounded_to_six_decimals(res):
    m = maps.valley_map(res, "A")
    blobs = []
    for fg in m._children.values():
        for child in getattr(fg, "_children", {}).values():
            blobs += [getattr(child, "data_js", ""), getattr(child, "rows_js", "")]
    text = "".join(blobs)
    assert len(text) > 1000
    assert re.search(r"\d\.\d{7,}", text) is None


def test_timeline_cells_cumulative_counts():
    xy = np.array([[50.0, 10.0], [60.0, 20.0], [70.0, 30.0], [150.0, 10.0]])
    years = np.array([2000, 2000, 2005, 2003])
    cells, cell = map_timeline._timeline_cells(xy, years, cell_m=100.0, max_features=10)
    assert cell == 100.0
    got = cells.sort_values(["x", "start"]).to_dict(orient="records")
    assert got == [
        {"x": 50.0, "y": 50.0, "start": 2000, "end": 2005, "n": 2},
        {"x": 50.0, "y": 50.0, "start": 2005, "end": 2006, "n": 3},
        {"x": 150.0, "y": 50.0, "start": 2003, "end": 2006, "n": 1},
    ]
    # over the cap the grid coarsens (one 200 m cell: three years), and stops when one cell is left
    cells, cell = map_timeline._timeline_cells(xy, years, cell_m=100.0, max_features=2)
    assert cell == 200.0 and cells["n"].tolist() == [2, 3, 4]


def test_time_slider_spans_founding_and_designation_years(res):
    m = maps.valley_map(res, "A")
    (slider,) = [c for c in m._children.values() if isinstance(c, plugins.TimelineSlider)]
    assert slider.options["start"] == 1985 and slider.options["end"] == 2019
    (tl,) = [c for c in _group(m, "Founding years (optics firms)")._children.values() if isinstance(c, plugins.Timeline)]
    feats = tl.data["features"]
    park = [f for f in feats if f["properties"].get("park")]
    assert len(park) == 1 and park[0]["properties"]["start"] == 1995
    firms = [f for f in feats if not f["properties"].get("park")]
    # the cumulative counts of the last features of each cell add up to the optics firms
    last = {}
    for f in firms:
        key = tuple(f["geometry"]["coordinates"])
        if f["properties"]["start"] >= last.get(key, (0, 0))[0]:
            last[key] = (f["properties"]["start"], f["properties"]["n"])
    assert sum(n for _, n in last.values()) == 80


def test_valley_without_statistics_still_renders(res):
    m = maps.valley_map(res, "B")
    # no density stage ran (20 firms): no density layer, and the legend says why
    assert _overlays(m) == ["Firms: optics", "Firms: all sectors", "Founding years (optics firms)"]
    page = m.get_root().render()
    assert "only 20 firms: at least 30 are needed" in page
    for name in ("Firm density (KDE)", "Firm density (KDE, optics)"):
        assert _html._js(f"{name}: no density grid in the results (the density stage did not run for this valley)")[1:-1] in page


def test_valley_without_firm_years_or_sectors():
    res = _results()
    vr = res.valleys["B"]
    vr2 = replace(vr, firms=vr.firms.drop(columns=["founded", "sector"]))
    res2 = replace(res, valleys={"B": vr2})
    assert _overlays(maps.valley_map(res2, "B")) == ["Firms: all sectors"]
    page = maps.valley_map(res2, "B").get_root().render()  # no sector column: no target-sector layer to miss
    assert _html._js("Firm density (KDE): no density grid")[1:-1] in page and "Firm density (KDE, optics)" not in page


def test_valley_without_firms_or_parks_renders(res):
    vr = res.valleys["B"]
    empty = replace(vr, firms=vr.firms.iloc[0:0], parks=vr.parks.iloc[0:0])
    res2 = replace(res, valleys={"A": res.valleys["A"], "E": empty})
    assert _overlays(maps.valley_map(res2, "E")) == []
    assert _overlays(maps.overview_map(res2)) == ["Parks", "Valleys"]


def _kde_overlays(m) -> dict[str, folium.raster_layers.ImageOverlay]:
    return {c.layer_name: c for c in m._children.values() if isinstance(c, folium.raster_layers.ImageOverlay)}


def _png_uri(grid) -> tuple[str, list]:
    buf = io.BytesIO()
    bounds = density_to_png(grid, buf, cmap=map_layers.KDE_CMAP, max_size=map_layers.KDE_MAX_PX)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), bounds


def _assert_kde_layers_draw_the_grids(m, vr, target):
    kde = _kde_overlays(m)
    assert sorted(kde) == sorted(["Firm density (KDE)", f"Firm density (KDE, {target})"])
    page = m.get_root().render()
    for name, stage in (("Firm density (KDE)", "density"), (f"Firm density (KDE, {target})", "density_target")):
        uri, bounds = _png_uri(getattr(vr.analysis, stage))
        assert kde[name].url == uri and kde[name].bounds == bounds, name  # the raster's surface, pixel for pixel
    # the legend gives the grids' own bandwidths: the target sector's is the all-firms one (one grid)
    bw = format_distance(vr.analysis.density.bandwidth_m)
    assert vr.analysis.density_target.bandwidth_m == vr.analysis.density.bandwidth_m
    assert page.count(f"bandwidth {bw} (silverman rule") == 2
    assert "(silverman rule on all firms)" in page


def test_density_layers_draw_the_runs_grids(res, monkeypatch):
    """The map draws vr.analysis.density / ["density_target"] as they are and computes no density."""
    from geo.stats import density

    def fail(*args, **kwargs):
        raise AssertionError("the maps must not compute a density")

    monkeypatch.setattr(density, "kernel_density", fail)
    monkeypatch.setattr(density, "kernel_density_by", fail)
    _assert_kde_layers_draw_the_grids(maps.valley_map(res, "A"), res.valleys["A"], "optics")


def test_demo_density_layers_are_the_rasters_surfaces(demo_results):
    for name in ("Wuhan", "Shenzhen"):
        vr = demo_results.valleys[name]
        _assert_kde_layers_draw_the_grids(maps.valley_map(demo_results, name), vr, "optics")


def test_missing_density_grids_are_named_in_the_legend(res):
    vr = res.valleys["A"]
    for missing in (["density_target"], ["density", "density_target"]):
        analysis = replace(vr.analysis, **{k: None for k in missing})
        m = maps.valley_map(replace(res, valleys={"A": replace(vr, analysis=analysis)}), "A")
        drawn = sorted(_kde_overlays(m))
        names = {"density": "Firm density (KDE)", "density_target": "Firm density (KDE, optics)"}
        assert drawn == sorted(n for k, n in names.items() if k not in missing)
        page = m.get_root().render()
        assert _html._js("<b>Not shown</b>")[1:-1] in page
        for k in missing:
            assert _html._js(f"{names[k]}: no density grid in the results")[1:-1] in page
    # a target sector absent from the valley: its grid has no firms and is not drawn
    empty = replace(vr.analysis.density_target, array=np.zeros(vr.analysis.density_target.shape), n_points=0)
    m = maps.valley_map(replace(res, valleys={"A": replace(vr, analysis=replace(vr.analysis, density_target=empty))}), "A")
    assert sorted(_kde_overlays(m)) == ["Firm density (KDE)"]
    assert _html._js("Firm density (KDE, optics): no firms on its grid")[1:-1] in m.get_root().render()


def test_draws_onto_a_given_map(res):
    m = folium.Map(location=[30.5, 114.4], zoom_start=9)
    folium.FeatureGroup(name="My layer").add_to(m)
    out = maps.valley_map(res, "A", m=m)
    assert out is m
    assert _overlays(m) == ["My layer", *VALLEY_A_LAYERS]
    assert not any(getattr(c, "_name", "") == "FitValley" for c in m._children.values())  # the user's view is kept
    # a second valley on the same map: one layer control, clashing names get the valley's name
    maps.valley_map(res, "B", m=m)
    names = _overlays(m)
    assert sum(isinstance(c, folium.LayerControl) for c in m._children.values()) == 1
    assert "Firms: optics (B)" in names and len(names) == len(set(names))


def test_does_not_mutate_results(res):
    before = copy.deepcopy(res)
    maps.valley_map(res, "A")
    maps.valley_map(res, "B")
    maps.overview_map(res)
    for name, vr in res.valleys.items():
        old = before.valleys[name]
        pd.testing.assert_frame_equal(pd.DataFrame(vr.firms), pd.DataFrame(old.firms))
        pd.testing.assert_frame_equal(pd.DataFrame(vr.parks), pd.DataFrame(old.parks))
        assert vr.skipped == old.skipped
        for key in ("hotspots", "clusters", "metric_firms"):
            assert (getattr(vr.analysis, key) is None) == (getattr(old.analysis, key) is None)
            if getattr(vr.analysis, key) is not None:
                pd.testing.assert_frame_equal(pd.DataFrame(getattr(vr.analysis, key)), pd.DataFrame(getattr(old.analysis, key)))
    pd.testing.assert_frame_equal(pd.DataFrame(res.firms), pd.DataFrame(before.firms))


def test_unknown_valley(res):
    with pytest.raises(InputError, match=r"No valley 'Nowhere' in these results; valleys are \['A', 'B'\]"):
        maps.valley_map(res, "Nowhere")


def test_overview_links_and_summaries(res):
    m = maps.overview_map(res)
    assert _overlays(m) == ["Parks", "Valleys"]
    page = m.get_root().render()
    assert 'href=\\"A.html\\"' in page and 'href=\\"B.html\\"' in page  # DivIcon html is JSON in the script
    (valleys,) = [c for c in _group(m, "Valleys")._children.values() if c._name == "GeoJsonLayer"]
    feats = json.loads(valleys.data_js)["features"]
    assert len(feats) == 2
    tip_a = feats[0]["properties"]["t"]
    assert "Valley &lt;A&gt;" in tip_a and "240 firms, 80 optics" in tip_a and "cluster formed after designation" in tip_a
    assert "only 20 firms" in feats[1]["properties"]["t"]


def test_write_maps_files_are_self_contained(res, tmp_path):
    written = maps.write_maps(res, tmp_path / "maps")
    assert sorted(p.name for p in written.values()) == ["A.html", "B.html", "index.html"]
    for path in written.values():
        page = path.read_text(encoding="utf-8")
        assert re.search(r'<script src="https?://', page) is None
        assert re.search(r'<link rel="stylesheet" href="https?://', page) is None
        assert "L.map(" in page or "L.map (" in page or "L.map" in page
    assert written["map_A"].stat().st_size < 5_000_000


#: a reference to a local file: an attribute (also inside JSON: ``href=\\"A.html\\"``) or a CSS url()
_LOCAL_REF = re.compile(r"""(?:\b(?:src|href)=\\?["']|url\(\s*["']?)([^"'()\\\s>]+)""")


def _local_refs(page: str) -> set[str]:
    """Every relative URL of a page: not a data: URI, not on the network, not an anchor."""
    refs = set(_LOCAL_REF.findall(page))
    return {r for r in refs if not re.match(r"(?i)(data:|https?:|//|#|javascript:|mailto:|about:)", r)}


def test_written_maps_reference_no_missing_local_file(res, tmp_path):
    """Opened from disk, a map loads nothing that is not there (the minimap's toggle icon was a 404)."""
    written = maps.write_maps(res, tmp_path / "maps")
    for path in written.values():
        page = path.read_text(encoding="utf-8")
        missing = sorted(r for r in _local_refs(page) if not (path.parent / r.split("?")[0].split("#")[0]).is_file())
        assert missing == [], (path.name, missing)
    page = written["map_A"].read_text(encoding="utf-8")
    assert "leaflet-control-minimap-toggle-display" in page  # the minimap (and its toggle) is there
    assert "index.html" in _local_refs(page)  # the check does see relative links


def test_inline_assets(monkeypatch):
    url = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"
    page = f'<head><script src="{url}"></script><script src="https://example.invalid/x.js"></script></head>'
    out = maps.inline_assets(page)
    assert url not in out and "https://example.invalid/x.js" in out  # unknown assets keep their link
    assert out.count("<script>") == 1 and "Leaflet 1.9.3" in out
    # an asset containing "</script" cannot end its inline script element early
    monkeypatch.setattr(_assets, "_asset_cache", lambda: {"https://x.test/a.js": 'var s = "</script><b>";',
                                                      "https://x.test/a.css": "a::after { content: '</style>'; }"})
    out = maps.inline_assets('<script src="https://x.test/a.js"></script><link rel="stylesheet" href="https://x.test/a.css"/>')
    assert out == '<script>var s = "<\\/script><b>";</script><style>a::after { content: \'<\\/style>\'; }</style>'


def test_every_plugin_asset_is_available_offline(res, monkeypatch):
    monkeypatch.setattr(map_firms, "POINTS_MAX", 10)
    monkeypatch.setattr(map_firms, "CLUSTER_MAX", 100)  # points, clusters and heat map all in one map
    page = maps.valley_map(res, "A").get_root().render()
    urls = re.findall(r'<script src="(https?://[^"]+)"', page) + re.findall(r'<link rel="stylesheet" href="(https?://[^"]+)"', page)
    assert urls
    cache = _assets._asset_cache()
    assert [u for u in urls if u not in cache] == []


# ----------------------------------------------------------------------------- fast paths equal the plain ones
def _timeline_by_counting(xy, years, cell, cap):
    """The documented timeline cells, counted in plain Python: squares [i c, (i + 1) c) x
    [j c, (j + 1) c), the side doubled until at most ``cap`` (cell, year) rows remain or one
    cell holds every firm; per cell and founding year the firms founded up to that year,
    until the cell's next year (or the last year + 1); rows by column, row and year."""
    import math
    from collections import Counter

    last = int(max(years))
    while True:
        per = Counter((math.floor(x / cell), math.floor(y / cell), int(t)) for (x, y), t in zip(xy.tolist(), years.tolist()))
        if len(per) <= cap or len({(i, j) for i, j, _ in per}) == 1:
            break
        cell *= 2.0
    rows, n, ordered = [], 0, sorted(per)
    for k, (i, j, t) in enumerate(ordered):
        n = (n if k and ordered[k - 1][:2] == (i, j) else 0) + per[(i, j, t)]
        same = k + 1 < len(ordered) and ordered[k + 1][:2] == (i, j)
        rows.append(((i + 0.5) * cell, (j + 0.5) * cell, t, ordered[k + 1][2] if same else last + 1, n))
    return pd.DataFrame(rows, columns=["x", "y", "start", "end", "n"]), cell


def test_timeline_cells_equal_counting_in_python():
    rng = np.random.default_rng(8)
    for trial in range(60):
        n = int(rng.integers(1, 600))
        xy = np.abs(rng.normal(rng.uniform(0.0, 8e5, 2), rng.choice([20.0, 400.0, 6000.0]), (n, 2)))
        if trial % 5 == 0:
            xy = np.round(xy / 250.0) * 250.0  # points on cell edges
        years = rng.integers(1950, 2021, n).astype(float)
        cell, cap = float(rng.choice([37.5, 100.0, 250.0])), int(rng.choice([1, 3, 40, 4000]))
        got, got_cell = map_timeline._timeline_cells(xy, years, cell_m=cell, max_features=cap)
        ref, ref_cell = _timeline_by_counting(xy, years, cell, cap)
        assert got_cell == ref_cell
        pd.testing.assert_frame_equal(got, ref, check_exact=True, check_dtype=False)
    # exactly as many (cell, year) rows as allowed: the grid is kept
    rows = len(_timeline_by_counting(xy, years, 100.0, 10**9)[0])
    assert map_timeline._timeline_cells(xy, years, cell_m=100.0, max_features=rows)[1] == 100.0
    assert map_timeline._timeline_cells(xy, years, cell_m=100.0, max_features=rows - 1)[1] > 100.0


def test_timeline_cells_stop_when_coarser_cells_change_nothing():
    # points on both sides of 0 never share one cell (cells -1 and 0): stop instead of doubling forever
    xy = np.array([[-10.0, -10.0], [10.0, 10.0], [-10.0, 10.0]])
    cells, cell = map_timeline._timeline_cells(xy, np.array([2000.0, 2001.0, 2002.0]), cell_m=100.0, max_features=1)
    assert cell == 100.0 and len(cells) == 3 and cells["n"].sum() == 3


def _heat_bins_by_grouping(lonlat, max_bins):
    """The documented heat-map bins in plain Python: squares of side 50 m x 1.5^k in metres at
    the mean latitude (x = lon x M cos(lat0), y = lat x M), the smallest side with at most
    ``max_bins`` occupied squares (any side when there are at most ``max_bins`` points); per
    square the points' mean lat, lon (5 decimals) and their number, sorted."""
    import math
    from collections import defaultdict

    m = _geometry._M_PER_DEG
    kx = m * max(math.cos(math.radians(float(np.mean(lonlat[:, 1])))), 0.05)
    xy = [(lon * kx, lat * m) for lon, lat in lonlat.tolist()]
    cell = 50.0
    while len(xy) > max_bins and len({(math.floor(x / cell), math.floor(y / cell)) for x, y in xy}) > max_bins:
        cell *= 1.5
    groups = defaultdict(list)
    for (x, y), (lon, lat) in zip(xy, lonlat.tolist()):
        groups[(math.floor(x / cell), math.floor(y / cell))].append((lat, lon))
    rows = [(round(float(np.mean([p[0] for p in g])), 5), round(float(np.mean([p[1] for p in g])), 5), float(len(g)))
            for g in groups.values()]
    return np.array(sorted(rows)), cell


def test_heat_bins_equal_grouping_in_python_at_every_cell_size():
    rng = np.random.default_rng(9)
    cases = ((30_000, 500, 0.05), (30_000, 2000, 0.2), (12_000, 100, 0.01), (5_000, 25_000, 0.05), (400, 50, 0.3))
    for n, max_bins, sd in cases:
        ll = np.column_stack([114.3 + rng.normal(0, sd, n), 30.5 + rng.normal(0, sd, n)])
        got, cell = map_firms._heat_bins(ll, max_bins=max_bins)  # with a sample first when n > 8 * max_bins
        ref, ref_cell = _heat_bins_by_grouping(ll, max_bins)
        assert cell == ref_cell and got.shape == ref.shape
        got = got[np.lexsort(got.T[::-1])]  # rows sorted by lat, lon, count, as the reference's
        np.testing.assert_allclose(got, ref, rtol=0, atol=1.01e-5)  # (the means may round the other way)


def test_same_values_only_for_shared_memory():
    s = pd.Series(["a", "b", None, "a"] * 5, dtype="str")
    assert _data._same_values(s, s) and _data._same_values(s, s.copy(deep=False))
    assert _data._same_values(s, s.iloc[0:len(s)])  # a slice of every row shares the buffers
    assert not _data._same_values(s, s.iloc[1:])
    assert not _data._same_values(s, pd.Series(s.tolist(), dtype="str"))  # equal, but other memory: unsure
    assert not _data._same_values(s, s.astype(object))
    o = pd.Series(["a", "b"], dtype=object)
    assert _data._same_values(o, o) and not _data._same_values(o, o.copy())
    firms = _results().valleys["A"].firms
    assert not _data._same_values(_results().valleys["A"].firms["sector"], firms["sector"])
    shallow = firms.copy(deep=False)  # as geo.crs.to_metric copies the columns besides the geometry
    assert _data._same_values(shallow["sector"], firms["sector"])


def test_target_coordinates_are_those_of_the_target_points():
    res = _results()
    vr = res.valleys["A"]
    data = _data._ValleyData(vr, res)
    fm = vr.analysis.metric_firms
    mask = (fm["sector"] == "optics").to_numpy()
    xy, points_only = data.target_xy
    assert points_only and np.array_equal(xy, shapely.get_coordinates(fm.geometry.values[mask]))
    # an empty point or a multi-point among them: coordinates as read, flagged (the founding-years layer then reads the points)
    for odd in (shapely.Point(), shapely.MultiPoint([(1.0, 2.0)])):
        geoms = fm.geometry.copy()
        geoms.iloc[0] = odd  # firm 0 is an optics firm
        data = _data._ValleyData(replace(vr, analysis=replace(vr.analysis, metric_firms=fm.set_geometry(geoms))), res)
        xy, points_only = data.target_xy
        assert not points_only and np.array_equal(xy, shapely.get_coordinates(geoms.values[mask]))


def _normalised(page: str) -> str:
    """A page with folium's random element ids numbered in order of appearance."""
    seen: dict[str, str] = {}
    return re.sub(r"[0-9a-f]{32}", lambda mt: seen.setdefault(mt.group(0), f"id{len(seen)}"), page)


def test_write_maps_writes_the_maps_of_the_public_functions(tmp_path):
    # write_maps reads each valley's firms once for both maps; the pages are those of
    # overview_map / valley_map, also with firms that have no point (fewer located firms)
    res = _results()
    vr = res.valleys["A"]
    firms = vr.firms.copy()
    firms.loc[firms.index[:3], "geometry"] = None
    res = replace(res, valleys={**res.valleys, "A": replace(vr, firms=firms)})
    written = maps.write_maps(res, tmp_path / "maps")
    expected = {"map_index": maps.overview_map(res), "map_A": maps.valley_map(res, "A"),
                "map_B": maps.valley_map(res, "B")}
    for key, m in expected.items():
        page = maps.save_map(m, tmp_path / f"{key}.html").read_text(encoding="utf-8")
        assert _normalised(written[key].read_text(encoding="utf-8")) == _normalised(page), key


def test_the_park_tooltip_quotes_the_labelling_p_the_verdict_reads(demo_results):
    """The verdict reads the FDR-adjusted mid-p of the labelling test: the park's tooltip quotes that one."""
    from geo.outputs.maps._html import _p
    from geo.outputs.maps.layers import _park_html

    vr = demo_results.valleys["Wuhan"]
    ov = vr.analysis.parks_overlay
    idx = ov.index[0]
    row = ov.loc[idx].to_dict()
    tip = _park_html(vr.parks.loc[idx], row, "optics", long=False)
    assert f"labelling test (mid-p) {_p(row['p_labelling_mid_fdr'])} (FDR)" in tip
    assert row["p_labelling_mid_fdr"] <= row["p_labelling_fdr"]


def test_stages_not_shown_are_named_in_words(res):
    """The legend's "Not shown" note names a skipped stage as the report does, not by its key."""
    vr = res.valleys["A"]
    skipped = {**vr.skipped, "colocation[anchors]": "no `anchor` column and no anchors layer"}
    page = maps.valley_map(replace(res, valleys={"A": replace(vr, skipped=skipped)}), "A").get_root().render()
    assert _html._js("co-location: anchors: no anchor column and no anchors layer")[1:-1] in page
    assert "colocation[anchors]" not in page


def test_the_map_functions_share_their_docstring_sections():
    """The ``m`` parameter, the return and the valley error are written once (``_frame._MAP_DOC``)
    and filled into the firm maps' and the units maps' docstrings alike."""
    from geo.outputs import units as out_units

    m_doc = "m : folium.Map, optional\n    Draw onto this map instead of a new one (its view, basemap"
    valley_error = "Raises\n------\ngeo.errors.InputError\n    ``valley`` is not a valley of the run."
    for f in (maps.valley_map, maps.overview_map, out_units.units_map, out_units.units_overview_map):
        assert "{" + "m}" not in f.__doc__ and "{" + "returns}" not in f.__doc__, f.__name__
        assert m_doc in f.__doc__ and "Returns\n-------\nfolium.Map" in f.__doc__, f.__name__
    for f in (maps.valley_map, out_units.units_map):
        assert valley_error in f.__doc__, f.__name__
    # the units maps are decorated directly: their own name and signature, and `m` is keyword-only
    assert out_units.units_map.__name__ == "units_map"
    assert list(inspect.signature(out_units.units_overview_map).parameters) == ["res", "m"]
