"""PointFrame: firms as coordinate columns give the same results as a GeoDataFrame of points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

import geo
from geo.errors import CRSError, InputError
from geo.points import PointFrame, point_xy


@pytest.fixture(scope="module")
def demo_pair():
    """The demo firms read both ways: (GeoDataFrame, PointFrame)."""
    from geo.datasets import demo_files

    path = demo_files()["firms"]
    return geo.read_firms(path), geo.read_firms(path, geometry=False)


@pytest.fixture(scope="module")
def wuhan_pair(demo_pair):
    """Wuhan's firms in metres, both ways: (GeoDataFrame, PointFrame)."""
    gdf, pf = demo_pair
    return geo.to_metric(gdf[gdf["valley"] == "Wuhan"]), geo.to_metric(pf[pf["valley"] == "Wuhan"])


def _frame(n=5, seed=0):
    rng = np.random.default_rng(seed)
    return PointFrame(pd.DataFrame({"lon": 114 + rng.random(n), "lat": 30 + rng.random(n), "s": list("ababa")[:n]}),
                      crs=4326, xy=("lon", "lat"))


def test_selections_keep_the_type_the_crs_and_the_coordinate_columns():
    pf = _frame()
    for sub in (pf.iloc[1:], pf[pf["s"] == "a"], pf.loc[[0, 2]], pf.assign(z=1), pf.copy(), pf.reset_index(drop=True),
                pf.sort_values("lat")):
        assert isinstance(sub, PointFrame) and sub.crs.to_epsg() == 4326 and sub.xy == ("lon", "lat")
    x, y = pf[pf["s"] == "a"].coords()
    assert x.tolist() == pf["lon"][pf["s"] == "a"].tolist() and y.tolist() == pf["lat"][pf["s"] == "a"].tolist()
    assert pf.total_bounds.tolist() == [pf["lon"].min(), pf["lat"].min(), pf["lon"].max(), pf["lat"].max()]


def test_clear_errors_for_geometry_attributes_and_dropped_coordinates():
    pf = _frame()
    with pytest.raises(AttributeError, match=r"to_geodataframe\(\)"):
        pf.geometry  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        pf.nonsense  # noqa: B018
    with pytest.raises(InputError, match="coordinate columns"):
        pf[["s"]].coords()
    with pytest.raises(CRSError, match="no CRS"):
        PointFrame(pd.DataFrame({"a": [1.0]})).coords()


def test_to_crs_and_to_geodataframe_equal_geopandas():
    pf = _frame(5)
    gdf = pf.to_geodataframe()
    assert list(gdf.columns) == ["lon", "lat", "s", "geometry"] and gdf.crs.to_epsg() == 4326
    assert shapely.equals_exact(gdf.geometry.values, shapely.points(pf["lon"], pf["lat"]), tolerance=0).all()
    m = pf.to_crs(32650)
    ref = gdf.to_crs(32650)
    assert m.xy == ("x", "y") and m.crs.to_epsg() == 32650
    np.testing.assert_array_equal(np.column_stack(m.coords()), shapely.get_coordinates(ref.geometry.values))
    # names apart from the other columns
    taken = pf.assign(x=1, y=2).to_crs(32650)
    assert taken.xy == ("x_m", "y_m") and taken["x"].eq(1).all()


def test_read_firms_without_geometry_is_the_same_table(demo_pair):
    gdf, pf = demo_pair
    assert isinstance(pf, PointFrame) and pf.xy == ("lon", "lat") and pf.crs.to_epsg() == 4326
    assert pf.attrs["load_report"] == gdf.attrs["load_report"]
    pd.testing.assert_frame_equal(pf.attrs["rejects"], gdf.attrs["rejects"])
    back = pf.to_geodataframe()
    pd.testing.assert_frame_equal(pd.DataFrame(back.drop(columns="geometry")), pd.DataFrame(gdf.drop(columns="geometry")))
    assert shapely.equals_exact(back.geometry.values, gdf.geometry.values, tolerance=0).all()


def test_to_metric_gives_the_same_coordinates_bit_for_bit(wuhan_pair):
    gm, pm = wuhan_pair
    assert pm.attrs["metric_crs"] == gm.attrs["metric_crs"] and pm.attrs["metric_crs_rule"] == gm.attrs["metric_crs_rule"]
    assert pm.crs == gm.crs
    x, y = pm.coords()
    np.testing.assert_array_equal(x, shapely.get_x(gm.geometry.values))
    np.testing.assert_array_equal(y, shapely.get_y(gm.geometry.values))
    np.testing.assert_array_equal(np.column_stack(point_xy(gm)), np.column_stack(point_xy(pm)))
    assert geo.crs.metric_crs_for(pm[pm["valley"] == "Wuhan"]) == gm.crs


def test_aggregate_and_hotspot_stages_are_equal(wuhan_pair):
    gm, pm = wuhan_pair
    a = geo.aggregate(gm, by="sector")
    b = geo.aggregate(pm, by="sector")
    pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns="geometry")), pd.DataFrame(b.drop(columns="geometry")))
    assert a.geometry.geom_equals_exact(b.geometry, tolerance=0).all() and a.attrs["size_m"] == b.attrs["size_m"]
    # WGS84 input is projected inside, the same way
    gdf_w = gm.to_crs(4326)
    c = geo.aggregate(pm.to_crs(4326, xy=("lon", "lat")), by="sector")
    assert c["n_firms"].sum() == geo.aggregate(gdf_w, by="sector")["n_firms"].sum() == len(pm)


def test_a_nan_coordinate_is_a_missing_point_in_aggregate(wuhan_pair):
    _, pm = wuhan_pair
    bad = pm.copy()
    bad.loc[bad.index[0], bad.xy[0]] = np.nan
    cells = geo.aggregate(bad, by="sector")
    assert cells["n_firms"].sum() == len(pm) - 1


def test_park_and_point_pattern_stages_are_equal(wuhan_pair):
    from geo.parks import overlay as gparks
    from geo.stats.density import kernel_density, kernel_density_by

    gm, pm = wuhan_pair
    cells = geo.aggregate(gm, by="sector")
    graph = geo.weights(cells)
    hot = geo.hotspots(cells, "n_optics", graph=graph, statistic="both", permutations=99, seed=1)
    demo_parks = geo.read_parks(geo.datasets.demo_files()["parks"])
    wuhan_parks = demo_parks[demo_parks["valley"] == "Wuhan"]
    kw = {"sector": "optics", "permutations": 99, "seed": 3, "graph": graph}
    a = gparks.park_overlay(hot, wuhan_parks, gm, **kw)
    b = gparks.park_overlay(hot, wuhan_parks, pm, **kw)
    pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))
    pa_ = gparks.point_clusters(gm, sector="optics")
    pb_ = gparks.point_clusters(pm, sector="optics")
    assert pa_.geometry.geom_equals_exact(pb_.geometry, tolerance=0).all()
    pd.testing.assert_series_equal(pa_.attrs["labels"], pb_.attrs["labels"])
    ka = kernel_density(gm)
    kb = kernel_density(pm)
    np.testing.assert_array_equal(ka.array, kb.array)
    ga, gb = kernel_density_by(gm, "sector", groups=["optics"]), kernel_density_by(pm, "sector", groups=["optics"])
    np.testing.assert_array_equal(ga["optics"].array, gb["optics"].array)
    mask = (gm["sector"] == "optics").to_numpy()
    da = geo.kd(gm, sector=mask, simulations=19, seed=2)
    db = geo.kd(pm, sector=mask, simulations=19, seed=2)
    pd.testing.assert_frame_equal(da.curve, db.curve)
    with pytest.raises(CRSError, match="geographic"):
        geo.kd(pm.to_crs(4326, xy=("lon", "lat")), sector=mask, simulations=19, seed=2)
    bad = pm.copy()
    bad.loc[bad.index[0], bad.xy[1]] = np.nan
    with pytest.raises(InputError, match="NaN"):
        geo.kd(bad, sector=mask, simulations=19, seed=2)
    with pytest.raises(InputError, match="NaN"):
        kernel_density(bad)


def test_comparison_and_groups_are_equal(demo_pair):
    from geo.datasets import demo_files
    from geo.io.groups import read_groups
    from geo.parks import groups as gs

    gdf, pf = demo_pair
    parks = geo.read_parks(demo_files()["parks"])
    kw = {"valley_column": "valley", "sector_column": "sector", "subsector_column": "subsector",
          "target_sector": "optics", "simulations": 19, "seed": 0}
    a = geo.compare_valleys(gdf, parks, **kw)
    b = geo.compare_valleys(pf, parks, **kw)
    pd.testing.assert_frame_equal(a.table, b.table)
    pd.testing.assert_frame_equal(a.krugman, b.krugman)
    pd.testing.assert_frame_equal(a.stock_by_year, b.stock_by_year)
    assert (a.kd, a.notes, a.target_sector) == (b.kd, b.notes, b.target_sector)
    groups = read_groups(demo_files()["industry_groups"])
    la = gs.assign_groups(gdf, groups, code_column="industry_code")
    lb = gs.assign_groups(pf, groups, code_column="industry_code")
    pd.testing.assert_series_equal(la, lb)
    ga, gb = gdf.assign(group=la.to_numpy()), pf.assign(group=lb.to_numpy())
    ta = gs.compare_groups(ga, parks, permutations=49, seed=0, kd_simulations=19)
    tb = gs.compare_groups(gb, parks, permutations=49, seed=0, kd_simulations=19)
    pd.testing.assert_frame_equal(ta, tb)


def test_the_layer_writer_writes_a_point_frame_as_points(demo_pair, tmp_path):
    import pyogrio

    from geo.outputs.layers import LayerJob, write_layers

    gdf, pf = demo_pair
    ref = write_layers({"firms": gdf}, tmp_path / "ref.gpkg")
    for background in (False, True):
        out = LayerJob({"firms": pf}, tmp_path / f"pf_{background}.gpkg", background=background).wait()
        x = pyogrio.read_dataframe(ref, layer="firms", use_arrow=True)
        y = pyogrio.read_dataframe(out, layer="firms", use_arrow=True)
        pd.testing.assert_frame_equal(pd.DataFrame(x.drop(columns="geometry")), pd.DataFrame(y.drop(columns="geometry")))
        assert x.geometry.geom_equals_exact(y.geometry, tolerance=0).all() and x.crs == y.crs


def test_the_pipeline_carries_point_frames(demo_results):
    assert isinstance(demo_results.firms, PointFrame)
    for vr in demo_results.valleys.values():
        assert isinstance(vr.firms, PointFrame) and isinstance(vr.analysis.metric_firms, PointFrame)
        assert vr.analysis.metric_firms.crs.to_string() == vr.metric_crs


def test_maps_leave_out_firms_without_a_point(demo_results):
    """A NaN coordinate in a PointFrame is a firm without a point: the map layers skip it."""
    import dataclasses
    import re

    from geo.outputs import maps

    vr = demo_results.valleys["Wuhan"]
    fm = vr.analysis.metric_firms.copy()
    rows = fm.index[np.flatnonzero((fm["sector"] == "optics").to_numpy())[:3]]
    fm.loc[rows, fm.xy[0]] = np.nan
    firms = vr.firms.copy()
    firms.loc[rows, "lon"] = np.nan
    v2 = dataclasses.replace(vr, firms=firms, analysis=dataclasses.replace(vr.analysis, metric_firms=fm))
    html = maps.valley_map(dataclasses.replace(demo_results, valleys={"Wuhan": v2}), "Wuhan").get_root().render()
    ref = maps.valley_map(dataclasses.replace(demo_results, valleys={"Wuhan": vr}), "Wuhan").get_root().render()
    assert "Firm density (KDE, optics)" in html and "Founding years" in html
    count = re.compile(r"([\d,]+) optics firms with a founding year")
    n_ref, n_new = (int(count.search(h).group(1).replace(",", "")) for h in (ref, html))
    assert n_new == n_ref - 3
