"""Tests of geo.cells.grid.aggregate: binning, empty cells, extent, categories, auto size, H3."""

from __future__ import annotations

import math
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.spatial import cKDTree

from geo.cells.grid import MAX_AUTO_CELLS, MIN_AUTO_CELLS, aggregate, auto_cell_size
from geo.errors import ColumnError, CRSError, InputError


@pytest.fixture
def firms() -> gpd.GeoDataFrame:
    rng = np.random.default_rng(42)
    n = 600
    x = 500_000 + np.concatenate([rng.normal(0, 400, n // 2), rng.uniform(-3000, 3000, n // 2)])
    y = 3_380_000 + np.concatenate([rng.normal(0, 400, n // 2), rng.uniform(-3000, 3000, n // 2)])
    sector = rng.choice(["Optics & Lasers", "bio-tech", "software"], n)
    return gpd.GeoDataFrame(
        {"firm_id": np.arange(n), "sector": sector}, geometry=shapely.points(x, y), crs=32650
    )


def _xy(gdf: gpd.GeoDataFrame) -> np.ndarray:
    return np.column_stack([gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()])


def test_square_counts_match_floor_binning(firms):
    cells = aggregate(firms, cell="square", size=250.0)
    xy = _xy(firms)
    i = np.floor(xy[:, 0] / 250.0).astype(int)
    j = np.floor(xy[:, 1] / 250.0).astype(int)
    expected = pd.Series(1, index=[f"sq_{a}_{b}" for a, b in zip(i, j)]).groupby(level=0).sum()
    got = cells.set_index("cell_id")["n_firms"]
    assert got.sum() == len(firms)
    assert (got.loc[expected.index] == expected).all()
    assert (got.drop(expected.index) == 0).all()
    # square geometry: side 250, area 62 500
    assert np.allclose(cells.geometry.area, 250.0**2)


def test_hex_assignment_is_nearest_centre(firms):
    s = 300.0
    cells = aggregate(firms, cell="hex", size=s)
    cent = np.column_stack([cells.geometry.centroid.x, cells.geometry.centroid.y])
    # a point lies in the hexagon whose centre is nearest (Voronoi property of hex grids)
    _, nearest = cKDTree(cent).query(_xy(firms))
    expected = np.bincount(nearest, minlength=len(cells))
    assert np.array_equal(cells["n_firms"].to_numpy(), expected)
    # hexagon of spacing s: area sqrt(3)/2 s^2, adjacent centres s apart
    assert np.allclose(cells.geometry.area, math.sqrt(3) / 2 * s**2)
    d, _ = cKDTree(cent).query(cent, k=2)
    assert np.allclose(d[:, 1], s)
    # each firm is covered by the polygon of its cell
    joined = gpd.sjoin(firms, cells, predicate="within")
    assert len(joined) == len(firms)
    assert (joined.groupby("index_right").size() == cells["n_firms"][cells["n_firms"] > 0]).all()


def test_empty_cells_are_kept_and_cover_the_extent(firms):
    cells = aggregate(firms, cell="hex", size=400.0)
    hull = shapely.convex_hull(shapely.multipoints(_xy(firms)))
    assert (cells["n_firms"] == 0).sum() > 0
    # every cell intersects the extent, and the cells cover it
    assert shapely.intersects(cells.geometry.values, hull).all()
    assert hull.difference(cells.geometry.union_all()).area < 1e-6 * hull.area
    assert cells.attrs["extent"].startswith("convex hull")
    assert cells.attrs["n_outside"] == 0
    assert cells.index.equals(pd.RangeIndex(len(cells)))
    assert cells["cell_id"].is_unique


def test_by_columns_are_sanitised_and_sum_to_total(firms):
    f = firms.copy()
    f.loc[f.index[:7], "sector"] = None
    f.loc[f.index[7:10], "sector"] = "optics-lasers"  # collides with "Optics & Lasers"
    cells = aggregate(f, cell="square", size=500.0, by="sector")
    mapping = cells.attrs["by_columns"]
    assert mapping == {
        "Optics & Lasers": "n_optics_lasers",
        "bio-tech": "n_bio_tech",
        "optics-lasers": "n_optics_lasers_2",
        "software": "n_software",
    }
    cols = list(mapping.values())
    assert list(cells.columns) == ["cell_id", "n_firms", *cols, "geometry"]
    assert cells.attrs["n_by_missing"] == 7
    assert int(cells[cols].to_numpy().sum()) == len(f) - 7
    assert int(cells["n_firms"].sum()) == len(f)
    # per-category counts equal the counts of the category's firms alone
    only = aggregate(f[f["sector"] == "software"], cell="square", size=500.0, extent=cells.geometry.union_all())
    merged = cells.set_index("cell_id")["n_software"]
    assert (only.set_index("cell_id")["n_firms"].reindex(merged.index, fill_value=0) == merged).all()


def test_extent_polygon_and_outside_firms_are_recorded(firms):
    box = shapely.box(498_000, 3_378_000, 502_000, 3_382_000)
    xy = _xy(firms)
    inside = shapely.intersects_xy(box, xy[:, 0], xy[:, 1])
    cells = aggregate(firms, cell="hex", size=250.0, extent=box)
    assert cells.attrs["n_outside"] == int((~inside).sum()) > 0
    assert cells.attrs["n_counted"] == int(inside.sum()) == int(cells["n_firms"].sum())
    assert shapely.intersects(cells.geometry.values, box).all()
    assert abs(cells.attrs["extent_area_m2"] - box.area) < 1e-6


def test_extent_geoseries_in_other_crs_is_reprojected(firms):
    box = shapely.box(498_000, 3_378_000, 502_000, 3_382_000)
    ext = gpd.GeoSeries([box], crs=32650).to_crs(4326)
    a = aggregate(firms, cell="square", size=500.0, extent=ext)
    b = aggregate(firms, cell="square", size=500.0, extent=box)
    assert a.attrs["n_outside"] == b.attrs["n_outside"]
    assert abs(a.attrs["extent_area_m2"] - box.area) / box.area < 1e-4


def test_geographic_input_is_projected_to_utm():
    rng = np.random.default_rng(1)
    lon = 114.40 + rng.normal(0, 0.01, 300)
    lat = 30.50 + rng.normal(0, 0.01, 300)
    firms = gpd.GeoDataFrame(geometry=shapely.points(lon, lat), crs=4326)
    cells = aggregate(firms, cell="square", size=500.0)
    assert cells.attrs["metric_crs"] == "EPSG:32650"
    assert cells.crs.to_epsg() == 32650
    assert int(cells["n_firms"].sum()) == 300
    # same counts as binning the projected points directly
    proj = firms.to_crs(32650)
    direct = aggregate(proj, cell="square", size=500.0)
    m = direct.set_index("cell_id")["n_firms"]
    assert (cells.set_index("cell_id")["n_firms"].reindex(m.index, fill_value=0) == m).all()


def test_auto_size_rule_hand_computed():
    # 20 x 20 lattice of firms 50 m apart; hull 950 m x 950 m; 400 firms:
    # cell area = 2 * A / n = 2 * 902500 / 400 = 4512.5 m2 -> side sqrt(4512.5) = 67.175... -> 67.2
    i, j = np.meshgrid(np.arange(20), np.arange(20))
    x, y = 1000 + 50.0 * i.ravel(), 2000 + 50.0 * j.ravel()
    firms = gpd.GeoDataFrame(geometry=shapely.points(x, y), crs=32650)
    cells = aggregate(firms, cell="square")
    rule = cells.attrs["size_rule"]
    assert rule["median_nn_m"] == pytest.approx(50.0)
    assert cells.attrs["size"] == pytest.approx(67.2)
    hexes = aggregate(firms, cell="hex")
    assert hexes.attrs["size"] == pytest.approx(72.2)  # sqrt(4512.5 / (sqrt(3) / 2)) = 72.18...
    area = 950.0 * 950.0  # convex hull of the lattice
    assert rule["extent_area_m2"] == pytest.approx(area)
    assert rule["max_size_m"] == pytest.approx(math.sqrt(area / MIN_AUTO_CELLS))
    assert rule["min_size_m"] == pytest.approx(math.sqrt(area / MAX_AUTO_CELLS))
    assert "2 x extent_area / n_firms" in rule["rule"]


def test_auto_size_is_clamped_to_cell_count_bounds():
    # a million firms in 1 km2: sqrt(2A/n) = 1.4 m is below the 100,000-cell bound (3.2 m)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1000, 1_000_000)
    y = rng.uniform(0, 1000, 1_000_000)
    size, rec = auto_cell_size(x, y, extent_area=1.0e6, cell="square")
    assert rec["clamped"] == "min"
    assert size == pytest.approx(math.sqrt(1.0e6 / MAX_AUTO_CELLS))
    # also when the raw rule is computed from few firms in a huge area... (see below)
    x = np.concatenate([rng.normal(0, 0.01, 50), rng.normal(50_000, 0.01, 50)])
    y = np.concatenate([rng.normal(0, 0.01, 50), rng.normal(50_000, 0.01, 50)])
    size, rec = auto_cell_size(x, y, extent_area=1.0e9, cell="square")
    assert rec["clamped"] is None and size == pytest.approx(_round3(math.sqrt(2e9 / 100)))
    # few scattered firms: 2 x median NN larger than the 30-cell bound -> clamped there
    size, rec = auto_cell_size(np.array([0.0, 9000.0]), np.array([0.0, 0.0]), extent_area=1.0e6, cell="hex")
    assert rec["clamped"] == "max"
    assert size == pytest.approx(math.sqrt(1.0e6 / (MIN_AUTO_CELLS * math.sqrt(3) / 2)))


def test_h3_cells_counts_and_geometry():
    import h3

    rng = np.random.default_rng(7)
    lon = 125.30 + rng.normal(0, 0.01, 400)
    lat = 43.90 + rng.normal(0, 0.01, 400)
    firms = gpd.GeoDataFrame(geometry=shapely.points(lon, lat), crs=4326)
    cells = aggregate(firms, cell="h3", size=8)
    assert cells.attrs["cell"] == "h3" and cells.attrs["size"] == 8
    assert cells.crs.to_epsg() == 32651
    assert int(cells["n_firms"].sum()) == 400
    expected = pd.Series([h3.latlng_to_cell(a, b, 8) for a, b in zip(lat, lon)]).value_counts()
    got = cells.set_index("cell_id")["n_firms"]
    assert (got.loc[expected.index] == expected).all()
    assert (got.drop(expected.index) == 0).all()
    assert all(h3.get_resolution(c) == 8 for c in cells["cell_id"])
    # polygons: projected H3 cells, area close to H3's own cell area
    one = cells["cell_id"].iloc[0]
    assert cells.geometry.iloc[0].area == pytest.approx(h3.cell_area(one, unit="m^2"), rel=0.01)


def test_h3_auto_resolution_is_recorded():
    rng = np.random.default_rng(3)
    firms = gpd.GeoDataFrame(
        geometry=shapely.points(114.4 + rng.normal(0, 0.02, 500), 30.5 + rng.normal(0, 0.02, 500)), crs=4326
    )
    cells = aggregate(firms, cell="h3")
    res = cells.attrs["size"]
    assert isinstance(res, int) and 0 <= res <= 15
    assert cells.attrs["size_rule"]["h3_resolution"] == res
    assert MIN_AUTO_CELLS <= cells.attrs["extent_area_m2"] / cells.attrs["cell_area_m2"] <= MAX_AUTO_CELLS


def test_input_is_not_mutated(firms):
    before = firms.copy()
    attrs = dict(firms.attrs)
    aggregate(firms, cell="hex", by="sector")
    pd.testing.assert_frame_equal(firms, before)
    assert firms.attrs == attrs


def test_missing_geometry_is_recorded(firms):
    f = firms.copy()
    f.loc[f.index[:3], "geometry"] = None
    cells = aggregate(f, cell="square", size=500.0)
    assert cells.attrs["n_missing_geometry"] == 3
    assert int(cells["n_firms"].sum()) == len(f) - 3


def test_errors(firms):
    with pytest.raises(CRSError, match="no CRS"):
        aggregate(firms.set_crs(None, allow_override=True))
    with pytest.raises(InputError, match="`cell` must be one of"):
        aggregate(firms, cell="triangle")
    with pytest.raises(InputError, match="positive number of metres"):
        aggregate(firms, cell="hex", size=-5)
    with pytest.raises(InputError, match="H3 resolution 0-15"):
        aggregate(firms, cell="h3", size=250.0)
    with pytest.raises(ColumnError, match="`by` must be a column"):
        aggregate(firms, by="industry")
    lines = firms.copy()
    lines["geometry"] = shapely.buffer(firms.geometry.values, 5)
    with pytest.raises(InputError, match="must contain Point geometries"):
        aggregate(lines)
    with pytest.raises(InputError, match="would need about"):
        aggregate(firms, cell="square", size=0.5)
    one = firms.iloc[[0, 0]].copy()
    with pytest.raises(InputError, match="share one location"):
        aggregate(one)


def _round3(v):
    return float(f"{v:.3g}")


# ---------------------------------------------------------------------------------------
# aggregate against a lattice built without geo: shapely cells, geopandas sjoin counts
# ---------------------------------------------------------------------------------------
# The reference builds the documented lattice (squares [is, (i+1)s) x [js, (j+1)s);
# pointy-top hexagons of edge a = s / sqrt(3) centred at (s (q + r / 2), sqrt(3) / 2 s r))
# as shapely polygons over the extent, keeps those that overlap it, and counts each firm
# in the cell geopandas' sjoin puts it in; the size is the documented rule.  Nothing of
# geo.cells.grid is used but aggregate's result.

_C = {"square": 1.0, "hex": math.sqrt(3.0) / 2.0}  # cell area = c * s**2 (aggregate's docstring)


def _auto_size_expected(x, y, extent_area, cell):
    """The documented automatic size and its record: sqrt(2A / (n c)) to 3 digits, clamped."""
    c = _C[cell]
    s_min, s_max = math.sqrt(extent_area / (100_000 * c)), math.sqrt(extent_area / (30 * c))
    loc = np.unique(np.column_stack([x, y]), axis=0)
    if len(x) < 2 or len(loc) < 2:
        return s_max, {"n_firms": len(x), "n_locations": len(loc), "median_nn_m": None, "raw_size_m": None,
                       "clamped": "max", "min_size_m": s_min, "max_size_m": s_max}
    raw = _round3(math.sqrt(2.0 * extent_area / (len(x) * c)))
    clamped = "min" if raw < s_min else "max" if raw > s_max else None
    return min(max(raw, s_min), s_max), {
        "n_firms": len(x), "n_locations": len(loc), "median_nn_m": float(np.median(cKDTree(loc).query(loc, k=2)[0][:, 1])),
        "raw_size_m": raw, "clamped": clamped, "min_size_m": s_min, "max_size_m": s_max}


def _assert_auto_size(got, expected):
    size, rec = got
    want, record = expected
    assert size == pytest.approx(want, rel=1e-12)
    for key, value in record.items():
        assert rec[key] == (value if value is None or isinstance(value, str) else pytest.approx(value, rel=1e-12)), key


def _lattice(kind: str, s: float, bounds) -> gpd.GeoDataFrame:
    """Every cell of the documented lattice over ``bounds`` (one cell of margin), as shapely polygons."""
    x0, y0, x1, y1 = bounds
    if kind == "square":
        i, j = np.meshgrid(np.arange(math.floor(x0 / s) - 1, math.floor(x1 / s) + 2),
                           np.arange(math.floor(y0 / s) - 1, math.floor(y1 / s) + 2))
        i, j = i.ravel(), j.ravel()
        return gpd.GeoDataFrame({"cell_id": [f"sq_{a}_{b}" for a, b in zip(i, j)], "a": i, "b": j},
                                geometry=shapely.box(i * s, j * s, (i + 1) * s, (j + 1) * s))
    h, a = math.sqrt(3.0) / 2.0 * s, s / math.sqrt(3.0)  # row spacing, edge
    r = np.arange(math.floor(y0 / h) - 1, math.floor(y1 / h) + 2)
    q0 = np.floor(x0 / s - r / 2.0).astype(int) - 1
    width = math.ceil((x1 - x0) / s) + 3
    q = (q0[:, None] + np.arange(width)[None, :]).ravel()
    r = np.repeat(r, width)
    cx, cy = s * (q + r / 2.0), h * r
    # pointy top: vertices at 30, 90, ..., 330 degrees, a from the centre
    dx = np.array([s / 2.0, 0.0, -s / 2.0, -s / 2.0, 0.0, s / 2.0])
    dy = np.array([a / 2.0, a, a / 2.0, -a / 2.0, -a, -a / 2.0])
    rings = np.stack([cx[:, None] + dx, cy[:, None] + dy], axis=-1)
    return gpd.GeoDataFrame({"cell_id": [f"hex_{u}_{v}" for u, v in zip(q, r)], "a": q, "b": r},
                            geometry=shapely.polygons(rings))


def _assert_aggregate_equals_lattice_reference(got, firms, *, extent=None, by=None):
    """``got`` (aggregate's cells of ``firms``) against the reference of the comment above."""
    from geo.cells.grid import cell_positions

    kind, s = got.attrs["cell"], float(got.attrs["size_m"])
    pts = gpd.GeoDataFrame(firms.drop(columns=firms.geometry.name), geometry=firms.geometry.values, crs=firms.crs)
    pts = pts.reset_index(drop=True)
    ext = shapely.convex_hull(shapely.multipoints(shapely.get_coordinates(pts.geometry.values))) if extent is None else extent
    inside = shapely.covers(ext, pts.geometry.values)
    counted = pts[inside]
    assert got.attrs["n_counted"] == len(counted) and got.attrs["n_outside"] == int((~inside).sum())
    assert got.attrs["extent_area_m2"] == pytest.approx(ext.area, rel=1e-12)
    if got.attrs["size_rule"].get("raw_size_m") is not None or got.attrs["size_rule"].get("clamped"):
        xy = shapely.get_coordinates(counted.geometry.values)
        _assert_auto_size((s, got.attrs["size_rule"]), _auto_size_expected(xy[:, 0], xy[:, 1], ext.area, kind))
    lattice = _lattice(kind, s, ext.bounds).set_crs(got.crs)
    # the cells of the extent: those overlapping it (not merely touching it)
    over = shapely.intersects(lattice.geometry.values, ext) & ~shapely.touches(lattice.geometry.values, ext)
    # the cell of each counted firm: the one polygon holding it; on a shared edge, the square
    # whose lower-left corner is nearest (half-open cells), or for hexagons any of them
    pairs = gpd.sjoin(counted, lattice, predicate="intersects", how="inner")
    px, py = pairs.geometry.x.to_numpy(), pairs.geometry.y.to_numpy()
    own = lattice.geometry.values[pairs["index_right"].to_numpy()]
    holders = pairs.groupby(level=0).size()
    assert holders.index.equals(counted.index)  # every counted firm lies in a cell of the lattice
    if kind == "square":
        bx0, by0, bx1, by1 = shapely.bounds(own).T
        half_open = (bx0 <= px) & (px < bx1) & (by0 <= py) & (py < by1)
        assert pairs[half_open].index.is_unique and len(pairs[half_open]) == len(counted)
        cell_of = pd.Series(pairs["cell_id"].to_numpy()[half_open], index=pairs.index[half_open])
    else:
        chosen = got["cell_id"].to_numpy()[cell_positions(got, *shapely.get_coordinates(counted.geometry.values).T)]
        allowed = set(zip(pairs.index, pairs["cell_id"]))
        assert all((i, c) in allowed for i, c in zip(counted.index, chosen))  # on an edge: one of its cells
        cell_of = pd.Series(chosen, index=counted.index)
    keep = over | lattice["cell_id"].isin(set(cell_of)).to_numpy()
    ref = lattice[keep].sort_values(["b", "a"])  # south to north, then west to east
    assert got["cell_id"].tolist() == ref["cell_id"].tolist()
    assert got.index.equals(pd.RangeIndex(len(got)))
    np.testing.assert_array_less(shapely.hausdorff_distance(got.geometry.values, ref.geometry.values), 1e-9 * s + 1e-6)
    n = cell_of.value_counts().reindex(ref["cell_id"], fill_value=0)
    np.testing.assert_array_equal(got["n_firms"].to_numpy(), n.to_numpy())
    if by is not None:
        values = counted.loc[cell_of.index, by]
        assert got.attrs["n_by_missing"] == int(values.isna().sum())
        assert set(got.attrs["by_columns"]) == set(values.dropna())
        for value, column in got.attrs["by_columns"].items():
            nv = cell_of[values == value].value_counts().reindex(ref["cell_id"], fill_value=0)
            np.testing.assert_array_equal(got[column].to_numpy(), nv.to_numpy())


def _assert_same_cells(got: gpd.GeoDataFrame, ref: gpd.GeoDataFrame) -> None:
    assert list(got.columns) == list(ref.columns)
    pd.testing.assert_frame_equal(
        pd.DataFrame(got.drop(columns="geometry")), pd.DataFrame(ref.drop(columns="geometry"))
    )
    assert np.array_equal(shapely.get_num_coordinates(got.geometry.values), shapely.get_num_coordinates(ref.geometry.values))
    assert np.array_equal(shapely.get_coordinates(got.geometry.values), shapely.get_coordinates(ref.geometry.values))
    assert shapely.equals_exact(got.geometry.values, ref.geometry.values, tolerance=0).all()
    assert got.crs == ref.crs
    assert got.attrs == ref.attrs


def _random_firms(pattern: str, n: int, seed: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    if pattern == "uniform":
        x, y = rng.uniform(0, 10_000, n), rng.uniform(0, 10_000, n)
    elif pattern == "clustered":
        c = rng.uniform(0, 20_000, (5, 2))
        k = rng.integers(0, 5, n)
        x, y = c[k, 0] + rng.normal(0, 500, n), c[k, 1] + rng.normal(0, 300, n)
    elif pattern == "snapped":  # duplicated locations, many firms on the hull's edges
        x, y = np.round(rng.uniform(0, 5000, (2, n)) / 100) * 100
    else:  # UTM-sized coordinates, a skewed elongated valley
        x = 500_000 + rng.standard_exponential(n) * 2000
        y = 3_380_000 + rng.normal(0, 3000, n) + 0.3 * x
    sector = rng.choice(np.array(["optics", "bio", "software", None], dtype=object), n)
    return gpd.GeoDataFrame({"sector": sector}, geometry=shapely.points(x, y), crs=32650)


@pytest.mark.parametrize("pattern", ["uniform", "clustered", "snapped", "valley"])
@pytest.mark.parametrize("cell", ["hex", "square"])
def test_aggregate_equals_shapely_lattice_and_sjoin(pattern, cell):
    firms = _random_firms(pattern, 4000, seed=len(pattern))
    x, y = firms.geometry.x.to_numpy(), firms.geometry.y.to_numpy()
    mx, my = float(np.median(x)), float(np.median(y))
    # a non-convex study area (an L) that leaves some firms outside
    ell = shapely.union_all([shapely.box(mx - 3000, my - 3000, mx + 500, my + 3000), shapely.box(mx - 3000, my - 3000, mx + 3000, my)])
    for kw in ({"size": "auto"}, {"size": 237.5}, {"size": "auto", "extent": ell}, {"size": 400.0, "extent": ell}):
        got = aggregate(firms, cell=cell, by="sector", **kw)
        _assert_aggregate_equals_lattice_reference(got, firms, extent=kw.get("extent"), by="sector")
    assert got.attrs["n_outside"] > 0 and (got["n_firms"] == 0).any()


def test_aggregate_equals_shapely_lattice_and_sjoin_on_demo_data():
    import geo
    from geo.crs import to_metric
    from geo.datasets import demo_files

    firms = to_metric(geo.read_firms(demo_files()["firms"]), epsg=32650)  # three cities: one zone chosen
    firms = gpd.GeoDataFrame(firms[["sector"]], geometry=firms.geometry.values, crs=firms.crs)
    for cell in ("hex", "square"):
        got = aggregate(firms, cell=cell, by="sector")
        _assert_aggregate_equals_lattice_reference(got, firms, by="sector")
        assert len(got) > 100


@pytest.mark.parametrize("pattern", ["uniform", "clustered", "valley"])
@pytest.mark.parametrize("cell", ["hex", "square"])
def test_aggregate_counts_equal_geos_point_in_polygon(pattern, cell):
    """Independent of the binning arithmetic: GEOS says which cell polygon holds each firm.

    The cells are congruent regular hexagons (area sqrt(3)/2 s², s across the flats) or
    squares (s²) that do not overlap and cover the extent; each counted firm lies in exactly
    one cell (no firm of these patterns lies on an edge), and counting the firms by the cell
    GEOS puts them in gives ``n_firms``, the ``n_<sector>`` columns, ``n_counted`` and
    ``n_outside``; :func:`cell_positions` finds the same cells.
    """
    from geo.cells.grid import cell_positions

    firms = _random_firms(pattern, 4000, seed=len(pattern))
    pts = np.asarray(firms.geometry.values)
    x, y = _xy(firms).T
    mx, my = float(np.median(x)), float(np.median(y))
    ell = shapely.union_all([shapely.box(mx - 3000, my - 3000, mx + 500, my + 3000), shapely.box(mx - 3000, my - 3000, mx + 3000, my)])
    hull = shapely.convex_hull(shapely.multipoints(pts))
    sector = firms["sector"].to_numpy()
    for kw, ext in (({"size": "auto"}, hull), ({"size": 237.5}, hull), ({"size": 400.0, "extent": ell}, ell)):
        got = aggregate(firms, cell=cell, by="sector", **kw)
        s = float(got.attrs["size_m"])
        polys = np.asarray(got.geometry.values)
        area = math.sqrt(3.0) / 2.0 * s * s if cell == "hex" else s * s
        np.testing.assert_allclose(shapely.area(polys), area, rtol=1e-9)
        assert shapely.get_num_coordinates(polys).tolist() == [7 if cell == "hex" else 5] * len(polys)
        union = shapely.union_all(polys)
        assert union.area == pytest.approx(area * len(polys), rel=1e-9)  # no two cells overlap
        assert shapely.difference(ext, union).area < 1e-9 * ext.area  # the cells cover the extent
        inside = shapely.covers(ext, pts)
        assert got.attrs["n_counted"] == int(inside.sum()) and got.attrs["n_outside"] == int((~inside).sum())
        firm, held_by = shapely.STRtree(polys).query(pts, predicate="within")
        counted = inside[firm]
        assert np.array_equal(np.sort(firm[counted]), np.flatnonzero(inside))  # one cell per counted firm
        np.testing.assert_array_equal(got["n_firms"].to_numpy(), np.bincount(held_by[counted], minlength=len(got)))
        for value, column in got.attrs["by_columns"].items():
            of_value = counted & (sector[firm] == value)
            np.testing.assert_array_equal(got[column].to_numpy(), np.bincount(held_by[of_value], minlength=len(got)))
        where = np.full(len(pts), -1)
        where[firm] = held_by
        np.testing.assert_array_equal(cell_positions(got, x, y), where)
    assert got.attrs["n_outside"] > 0


def test_hull_from_candidate_points_equals_geos_hull():
    from geo.cells.grid import _HULL_FILTER_MIN, _convex_hull, _hull_candidates

    rng = np.random.default_rng(7)
    n = 3 * _HULL_FILTER_MIN
    t = rng.uniform(0, 1, n)
    sets = {
        "uniform": rng.uniform(-1, 1, (2, n)),
        "gaussian": rng.normal(0, 1, (2, n)) * [[3.0], [0.5]] + [[5e5], [3.4e6]],
        # a lattice: long runs of collinear points on every hull edge, and duplicates
        "lattice": np.round(rng.uniform(0, 20, (2, n))),
        # points exactly on a triangle's edges plus points inside it
        "triangle": np.vstack([np.concatenate([t[: n // 2] * 4, rng.uniform(1, 2, n - n // 2)]),
                               np.concatenate([np.zeros(n // 2), rng.uniform(0.1, 0.5, n - n // 2)])]),
        "thin": np.vstack([t * 1e4, t * 1e4 * 0.5 + rng.normal(0, 1e-6, n)]),
    }
    for name, (x, y) in sets.items():
        x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
        keep = _hull_candidates(x, y)
        if name != "thin":  # (its eight extreme points are the two ends: nothing to filter with)
            assert keep is not None and keep.sum() < n, name  # the filter does drop points
        got = _convex_hull(x, y)
        ref = shapely.convex_hull(shapely.multipoints(np.column_stack([x, y])))
        assert np.array_equal(shapely.get_coordinates(got), shapely.get_coordinates(ref)), name
        assert got.area == ref.area
    # all collinear: no octagon to filter with, same (degenerate) hull
    x = np.arange(n, dtype=float)
    assert _hull_candidates(x, 2 * x) is None
    assert _convex_hull(x, 2 * x).equals_exact(shapely.convex_hull(shapely.multipoints(np.column_stack([x, 2 * x]))), 0)



def test_default_window_and_valley_hull_are_geos_hull():
    """geo.stats.pointpattern's default window and the valley hull that picks a valley's parks
    (geo.pipeline._valleys) come from grid._convex_hull: the GEOS hull of all points, exactly."""
    import geopandas as gpd

    from geo.cells.grid import _HULL_FILTER_MIN
    from geo.pipeline._valleys import _parks_for_valley
    from geo.stats.pointpattern import _window

    rng = np.random.default_rng(11)
    n = 3 * _HULL_FILTER_MIN
    xy = np.ascontiguousarray(rng.normal(0, 1, (n, 2)) * [3e3, 1e3] + [5e5, 3.4e6])
    ref = shapely.convex_hull(shapely.multipoints(xy))
    win, how = _window(None, xy, None)
    assert how == "convex hull of the points"
    assert np.array_equal(shapely.get_coordinates(win), shapely.get_coordinates(ref))

    ll = rng.normal(0, 1, (n, 2)) * [0.05, 0.03] + [114.4, 30.5]
    firms_v = pd.DataFrame({"lon": ll[:, 0], "lat": ll[:, 1]})
    hull = shapely.convex_hull(shapely.multipoints(ll))
    boxes = [shapely.box(x, y, x + 0.01, y + 0.01) for x, y in rng.normal(0, 1, (200, 2)) * [0.1, 0.06] + [114.4, 30.5]]
    parks = gpd.GeoDataFrame({"valley": [None] * len(boxes)}, geometry=boxes, crs=4326)
    picked = _parks_for_valley(parks, "Wuhan", firms_v)
    assert 0 < len(picked) < len(parks)
    assert picked.index.equals(parks.index[shapely.intersects(parks.geometry.values, hull)])

def test_unique_locations_and_median_nn_distance_equal_reference():
    from geo.cells.grid import _median_nn_distance, _unique_xy

    rng = np.random.default_rng(3)
    x = np.round(rng.normal(5e5, 300, 5000), 1)
    y = np.round(rng.normal(3.4e6, 300, 5000), 1)
    x[:10] = 0.0
    x[10:20] = -0.0  # the same location as 0.0
    y[:20] = 1.0
    ref = np.unique(np.column_stack([x, y]), axis=0)
    got = _unique_xy(x, y)
    assert len(got) == len(ref)
    assert np.array_equal(np.unique(got, axis=0), ref)
    dist, _ = cKDTree(ref).query(ref, k=2)
    assert _median_nn_distance(got) == float(np.median(dist[:, 1]))


@pytest.mark.parametrize("pattern", ["uniform", "snapped", "valley"])
def test_grid_nearest_neighbours_equal_cKDTree(pattern):
    from geo.cells.grid import _nn_squared_grid, _unique_xy

    firms = _random_firms(pattern, 20_000, seed=5)
    xy = _unique_xy(firms.geometry.x.to_numpy(), firms.geometry.y.to_numpy())
    d2 = _nn_squared_grid(xy[:, 0], xy[:, 1])
    assert d2 is not None  # (tight clusters far apart are left to cKDTree: see below)
    dist, _ = cKDTree(xy).query(xy, k=2)
    assert np.array_equal(np.sort(np.sqrt(d2)), np.sort(dist[:, 1]))


def test_auto_size_with_grid_search_equals_reference(monkeypatch):
    from geo.cells import grid as G

    firms = _random_firms("valley", 6000, seed=9)
    x, y = firms.geometry.x.to_numpy(), firms.geometry.y.to_numpy()
    monkeypatch.setattr(G, "_NN_GRID_MIN", 2)  # the grid search even for few points
    got = auto_cell_size(x, y, extent_area=4.0e8, cell="hex")
    _assert_auto_size(got, _auto_size_expected(x, y, 4.0e8, "hex"))
    # a grid too unbalanced for the search (all but two points in one spot): cKDTree
    x2, y2 = np.concatenate([np.full(500, 10.0) + np.arange(500) * 1e-3, [0.0, 5e4]]), np.concatenate([np.full(500, 10.0), [0.0, 5e4]])
    assert G._nn_squared_grid(*G._unique_xy(x2, y2).T) is None
    _assert_auto_size(auto_cell_size(x2, y2, extent_area=1e8), _auto_size_expected(x2, y2, 1e8, "hex"))


def test_string_and_object_category_columns_give_the_same_cells():
    firms = _random_firms("clustered", 3000, seed=2)
    firms["sector"] = firms["sector"].astype("str")
    assert isinstance(firms["sector"].dtype, pd.StringDtype) and firms["sector"].isna().any()
    as_object = firms.assign(sector=firms["sector"].astype(object))
    ext = shapely.box(*firms.total_bounds).buffer(-500)  # some firms outside
    for kw in ({}, {"extent": ext}):
        a = aggregate(firms, cell="hex", size=300.0, by="sector", **kw)
        b = aggregate(as_object, cell="hex", size=300.0, by="sector", **kw)
        _assert_same_cells(a, b)
    assert a.attrs["n_outside"] > 0 and a.attrs["n_by_missing"] > 0


# ---------------------------------------------------------------------------------------
# compiled kernels, arrow ids and the interior shortcut equal the code they replaced
# ---------------------------------------------------------------------------------------


def _compiled_everywhere(m) -> None:
    """Route even small inputs through the compiled paths of geo.grid."""
    from geo.cells import grid as G

    m.setattr(G, "_NN_GRID_MIN", 2)
    m.setattr(G, "_KERNEL_MIN", 0)


@pytest.mark.parametrize("pattern", ["uniform", "clustered", "snapped", "valley"])
def test_compiled_paths_give_the_reference_cells(monkeypatch, pattern):
    firms = _random_firms(pattern, 3000, seed=len(pattern) + 1)
    plain = {c: aggregate(firms, cell=c, by="sector") for c in ("hex", "square")}
    with monkeypatch.context() as m:
        _compiled_everywhere(m)
        for c in ("hex", "square"):
            got = aggregate(firms, cell=c, by="sector")
            _assert_aggregate_equals_lattice_reference(got, firms, by="sector")
            _assert_same_cells(got, plain[c])  # and the numpy paths' cells, bit for bit


def _ref_nn(xy: np.ndarray) -> np.ndarray:
    u = np.unique(xy, axis=0)
    return np.sort(cKDTree(u).query(u, k=2)[0][:, 1]), len(u)


@pytest.mark.parametrize("pattern", ["uniform", "valley", "clustered"])
def test_grid_nearest_neighbours_of_repeated_locations_equal_cKDTree(pattern):
    from geo.cells.grid import _nn_squared_grid

    firms = _random_firms(pattern, 8000, seed=8)
    xy = np.round(_xy(firms) - _xy(firms).min(axis=0), 0)  # metre grid: some locations shared
    rng = np.random.default_rng(1)
    xy = np.concatenate([xy, xy[rng.integers(0, len(xy), 3000)]])  # and repeats
    xy[:5] = [0.0, 1e3]
    xy[5:9] = [-0.0, 1e3]  # the same location as 0.0
    xy = xy[rng.permutation(len(xy))]
    d2 = _nn_squared_grid(np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1]))
    assert d2 is not None
    dist, n_loc = _ref_nn(np.where(xy == 0.0, 0.0, xy))
    assert len(d2) == n_loc < len(xy)
    assert np.array_equal(np.sort(np.sqrt(d2)), dist)


def test_auto_size_on_repeated_locations_equals_reference(monkeypatch):
    from geo.cells import grid as G

    firms = _random_firms("clustered", 5000, seed=4)
    x, y = np.round(firms.geometry.x.to_numpy(), -1), np.round(firms.geometry.y.to_numpy(), -1)
    again = np.random.default_rng(0).integers(0, len(x), 1000)
    x, y = np.concatenate([x, x[again]]), np.concatenate([y, y[again]])
    assert len(np.unique(np.column_stack([x, y]), axis=0)) < len(x) * 0.9
    assert G._nn_squared_grid(x, y) is not None
    monkeypatch.setattr(G, "_NN_GRID_MIN", 2)
    for cell in ("hex", "square"):
        _assert_auto_size(auto_cell_size(x, y, extent_area=3.0e8, cell=cell), _auto_size_expected(x, y, 3.0e8, cell))


@pytest.mark.parametrize("n", [1, 2, 7, 10, 1001])
def test_median_of_square_roots(n):
    from geo.cells.grid import _median_sqrt

    d2 = np.random.default_rng(n).uniform(0, 1e4, n) ** 3
    assert _median_sqrt(d2) == float(np.median(np.sqrt(d2)))


@pytest.mark.parametrize("s", [136.21543777735002, 100.0, 1.0, 0.37])
def test_hex_binning_kernel_equals_numpy(monkeypatch, s):
    from geo.cells import grid as G

    rng = np.random.default_rng(2)
    x, y = rng.uniform(-1e6, 1e6, 20_000), rng.uniform(3e6, 4e6, 20_000)
    # points on ties of the cube rounding: vertices, edge midpoints and centres of cells
    q, r = rng.integers(-500, 500, 3000), rng.integers(-500, 500, 3000)
    a = s / math.sqrt(3.0)
    vx = np.array([1, 0, -1, 1, 0, 2, 1, 3, 2])
    vy = np.array([1, 2, 1, 0, 0, 0, -1, 0, 3])
    tx = (math.sqrt(3.0) / 2.0 * a) * ((2 * q + r)[:, None] + vx)
    ty = (a / 2.0) * ((3 * r)[:, None] + vy)
    x = np.concatenate([x, tx.ravel(), np.arange(-500, 500) * (s / 2.0)])
    y = np.concatenate([y, ty.ravel(), np.zeros(1000)])
    ref = G._hex_axial_numpy(x, y, s)
    monkeypatch.setattr(G, "_KERNEL_MIN", 0)
    got = G._hex_axial(x, y, s)
    assert got[0].dtype == ref[0].dtype == np.int64
    assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])


def test_hull_filter_kernel_equals_numpy(monkeypatch):
    from geo.cells import grid as G

    rng = np.random.default_rng(5)
    for x, y in (rng.normal(0, 1, (2, 10_000)) * [[3.0], [0.5]] + [[5e5], [3.4e6]], np.round(rng.uniform(0, 20, (2, 10_000)))):
        x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
        ref = G._hull_candidates(x, y)
        monkeypatch.setattr(G, "_KERNEL_MIN", 0)
        got = G._hull_candidates(x, y)
        monkeypatch.undo()
        assert ref is not None and ref.sum() < len(x)
        assert np.array_equal(got, ref)


@pytest.mark.parametrize("cell", ["hex", "square"])
def test_interior_cells_equal_contains_properly(cell):
    from geo.cells import grid as G

    ell = shapely.union_all([shapely.box(0, 0, 9000, 3000), shapely.box(0, 0, 3000, 9000)])
    holed = shapely.Polygon(shapely.box(0, 0, 8000, 8000).exterior.coords, holes=[shapely.box(3000, 3000, 5000, 4000).exterior.coords])
    two = shapely.union_all([shapely.box(0, 0, 4000, 4000), shapely.box(4700, 0, 9000, 6000)])
    disc = shapely.Point(2e5, 3.4e6).buffer(5000)
    thin = shapely.box(0, 0, 9000, 150)  # thinner than two cells: no interior shortcut
    used = 0
    for ext in (ell, holed, two, disc, thin):
        shapely.prepare(ext)
        a, b = G._candidates(ext, cell, 97.3)
        polys = G._square_polygons(a, b, 97.3) if cell == "square" else G._hex_polygons(a, b, 97.3)
        ref = shapely.contains_properly(ext, polys)
        assert np.array_equal(G._interior_cells(ext, a, b, polys, cell, 97.3), ref)
        inner = ext.buffer(-1.1 * 97.3)
        used += not inner.is_empty
    assert used == 4


def test_lattice_ids_equal_python_strings():
    from geo.cells.grid import _lattice_ids

    a = np.array([-12283, 0, 5, -1, 2**40], dtype=np.int64)
    b = np.array([28454, -0, -7, 0, -(2**40)], dtype=np.int64)
    ref = pd.Series([f"hex_{u}_{v}" for u, v in zip(a.tolist(), b.tolist())])
    got = pd.Series(_lattice_ids("hex", a, b))
    pd.testing.assert_series_equal(got, ref)
    assert got.dtype == ref.dtype and type(got.array) is type(ref.array)
    assert _lattice_ids("sq", a[:0], b[:0]) == []


def _cell_positions_by_geos(cells, x, y):
    """The row of the cell polygon holding each point (GEOS), -1 outside every cell."""
    point, row = shapely.STRtree(cells.geometry.values).query(shapely.points(x, y), predicate="within")
    assert len(np.unique(point)) == len(point)  # no point of these tests on a cell edge
    out = np.full(len(x), -1, dtype=np.int64)
    out[point] = row
    return out


@pytest.mark.parametrize("cell", ["hex", "square"])
def test_cell_positions_from_parsed_ids_equal_geos(cell):
    from geo.cells.grid import _parse_lattice_ids, cell_positions

    firms = _random_firms("valley", 4000, seed=3)
    cells = aggregate(firms, cell=cell, size=150.0)
    x, y = _xy(firms).T
    x, y = np.ascontiguousarray(x) + 1000.0, np.ascontiguousarray(y)  # some fall outside
    ref = _cell_positions_by_geos(cells, x, y)
    assert (ref >= 0).any() and (ref < 0).any()
    shuffled = cells.sample(frac=1.0, random_state=1)
    as_object = cells.assign(cell_id=cells["cell_id"].astype(object))
    for v in (cells, shuffled, as_object):
        assert np.array_equal(cell_positions(v, x, y), _cell_positions_by_geos(v, x, y))
    prefix = "hex_" if cell == "hex" else "sq_"
    # ids the parser does not take: pandas splits them, the same cells
    extra = cells.assign(cell_id=cells["cell_id"] + "_9")
    assert _parse_lattice_ids(extra["cell_id"], prefix) is None
    assert np.array_equal(cell_positions(extra, x, y), ref)
    plus = cells.assign(cell_id=cells["cell_id"].str.replace(f"{prefix}", f"{prefix}+", regex=False))
    assert _parse_lattice_ids(plus["cell_id"], prefix) is None
    with pytest.raises(ValueError):  # "+12_-3" -> ["+12", "-3"] parses; a word does not
        cell_positions(cells.assign(cell_id=cells["cell_id"].str.replace(prefix, f"{prefix}x", regex=False)), x, y)


def test_missing_empty_and_non_point_geometries():
    firms = _random_firms("uniform", 2000, seed=6)
    holed = firms.copy()
    holed.loc[holed.index[:4], "geometry"] = None
    holed.loc[holed.index[4:7], "geometry"] = shapely.Point()
    got = aggregate(holed, cell="hex", size=400.0, by="sector", extent=shapely.box(0, 0, 10_000, 10_000))
    ref = aggregate(firms.iloc[7:], cell="hex", size=400.0, by="sector", extent=shapely.box(0, 0, 10_000, 10_000))
    assert got.attrs["n_missing_geometry"] == 7 and got.attrs["n_input"] == len(firms)
    pd.testing.assert_frame_equal(pd.DataFrame(got.drop(columns="geometry")), pd.DataFrame(ref.drop(columns="geometry")))
    lines = holed.copy()
    lines.loc[lines.index[10], "geometry"] = shapely.LineString([(0, 0), (1, 1)])
    with pytest.raises(InputError, match="found LINESTRING"):
        aggregate(lines, cell="hex", size=400.0)
    nan_y = firms.copy()
    nan_y.loc[nan_y.index[0], "geometry"] = shapely.Point(1.0, np.nan)
    with pytest.raises(CRSError, match="non-finite"):
        aggregate(nan_y, cell="hex", size=400.0)


@pytest.mark.parametrize("cell", ["hex", "square"])
@pytest.mark.parametrize("size", ["auto", 400.0])
def test_plan_lattice_is_aggregates_plan(firms, cell, size):
    """The dask engine's plan (from hull vertices and a count) is aggregate's: one planner."""
    from geo.cells.grid import cells_from_counts, lattice_keys, plan_lattice

    xy = _xy(firms)
    hull = shapely.get_coordinates(shapely.convex_hull(shapely.multipoints(xy)))
    plan = plan_lattice(hull[:, 0], hull[:, 1], len(xy), cell=cell, size=size, metric=firms.crs)
    cells = aggregate(firms, cell=cell, size=size)
    assert plan.size_m == cells.attrs["size_m"]
    assert plan.extent_rule == cells.attrs["extent"] and plan.extent.area == cells.attrs["extent_area_m2"]
    rule, ref = dict(plan.rule), dict(cells.attrs["size_rule"])
    for k in ("median_nn_m", "n_locations"):
        ref.pop(k, None), rule.pop(k, None)
    assert rule.pop("note", None) == (None if size != "auto" else "n_locations and median_nn_m are not computed by the dask engine")
    assert rule == ref
    a, b = lattice_keys(xy[:, 0], xy[:, 1], cell, plan.size_m)
    got = cells_from_counts(plan, a, b, np.ones(len(a), dtype=np.int64), None, n_input=len(xy))
    assert got["cell_id"].tolist() == cells["cell_id"].tolist() and got["n_firms"].tolist() == cells["n_firms"].tolist()
    assert np.array_equal(got.geometry.values, cells.geometry.values)


def test_plan_lattice_and_aggregate_refuse_alike(firms):
    from geo.cells.grid import plan_lattice

    x = np.array([0.0, 10.0, 20.0])
    for size, match in (("big", "`size` must be 'auto' or a number; 'big' was given."),
                        (-5.0, "`size` must be 'auto' or a positive number of metres; -5.0 was given.")):
        with pytest.raises(InputError, match=re.escape(match)):
            plan_lattice(x, x, 3, size=size, metric=32650)
        with pytest.raises(InputError, match=re.escape(match)):
            aggregate(firms, size=size)
    # collinear firms with a given size: the hull buffered by half a cell, in both
    line = gpd.GeoDataFrame(geometry=shapely.points(500_000 + x, 3_380_000 + x), crs=32650)
    plan = plan_lattice(500_000 + x, 3_380_000 + x, 3, size=100.0, metric=32650)
    cells = aggregate(line, size=100.0)
    assert plan.extent_rule == cells.attrs["extent"] == "convex hull of the firms (degenerate), buffered by half a cell"
    assert plan.extent.area == cells.attrs["extent_area_m2"]
