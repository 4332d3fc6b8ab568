"""geo.outputs.maps._basemap: [maps] basemap, the GCJ-02 shift on Amap's tiles, Tianditu's key, the fallback.

The maps are the small hand-built Results of test_maps.py (no browser; the tile-failure note
is checked in test_browser.py).
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import replace

import folium
import numpy as np
import pytest
from folium.raster_layers import ImageOverlay
from test_maps import _results

from geo.cli import main
from geo.config import Config, MapsConfig, config_from_dict
from geo.crs import wgs84_to_gcj02
from geo.errors import ConfigError
from geo.outputs import maps
from geo.outputs.maps import _basemap

#: a published WGS84 -> GCJ-02 pair (wandergis/coordtransform README.md: wgs84togcj02(116.404, 39.915), as in
#: tests/test_crs.py), lon/lat
WGS = (116.404, 39.915)
GCJ = (116.41024449916938, 39.91640428150164)


def _pixel(lon: float, lat: float, zoom: int) -> tuple[float, float]:
    """Global pixel of a lon/lat on the Web Mercator tile grid (256-pixel tiles) at ``zoom``."""
    size = 256 * 2**zoom
    x = (lon + 180.0) / 360.0 * size
    y = (1.0 - math.log(math.tan(math.radians(lat)) + 1.0 / math.cos(math.radians(lat))) / math.pi) / 2.0 * size
    return x, y


def _on(res, basemap: str, **kw):
    return replace(res, config=replace(res.config, maps=MapsConfig(basemap=basemap, **kw)))


@pytest.fixture(scope="module")
def res():
    """test_maps' results, with valley B's first firm ("B0") at the test vector's WGS84 point."""
    r = copy.deepcopy(_results())
    fb = r.valleys["B"].firms
    fb.loc[fb.index[0], ["lon", "lat"]] = WGS
    fb.geometry.values[0] = __import__("shapely").Point(*WGS)
    return r


def _descendants(m) -> list:
    return _basemap._descendants(m)


def _point_rows(m) -> list[list]:
    return [row for el in _descendants(m) if getattr(el, "_name", "") == "PointsLayer" for row in json.loads(el.rows_js)]


def _geojson_coords(m, pane: str | None = None) -> np.ndarray:
    """The coordinates of the map's GeoJSON layers in ``pane``; None: of every layer but the offline fallback."""
    import shapely

    out = []
    for el in _descendants(m):
        if getattr(el, "_name", "") == "GeoJsonLayer" and (el.pane == pane if pane else el.pane != "geo-fallback"):
            if not el.data_js.lstrip().startswith("{"):
                continue  # a layer drawing another layer's features (the parks' tint and outline share them)
            for f in json.loads(el.data_js)["features"]:
                out.append(shapely.get_coordinates(shapely.from_geojson(json.dumps(f["geometry"]))))
    return np.concatenate(out)


def test_amap_draws_a_known_point_on_its_gcj02_pixel(res):
    m = maps.valley_map(_on(res, "amap"), "B")
    rows = [r for r in _point_rows(m) if "<b>B0</b>" in r[3]]
    assert len(rows) == 2 and rows[0] == rows[1]  # an optics firm: in the optics and the all-sectors layers
    lat, lon = rows[0][0], rows[0][1]
    for zoom in (12, 18):
        drawn, expected, wgs = _pixel(lon, lat, zoom), _pixel(*GCJ, zoom), _pixel(*WGS, zoom)
        assert abs(drawn[0] - expected[0]) < 0.5 and abs(drawn[1] - expected[1]) < 0.5
    assert math.hypot(drawn[0] - wgs[0], drawn[1] - wgs[1]) > 500  # ~ 560 m at ~0.46 m a pixel: the shift is real
    page = m.get_root().render()
    assert f"[{lat},{lon}," in page and f"[{WGS[1]},{WGS[0]}," not in page
    # the data stay WGS84; on OpenStreetMap the point is drawn where it is
    assert tuple(res.valleys["B"].firms.loc[res.valleys["B"].firms.index[0], ["lon", "lat"]]) == WGS
    rows = [r for r in _point_rows(maps.valley_map(res, "B")) if "<b>B0</b>" in r[3]]
    assert [(r[1], r[0]) for r in rows] == [WGS, WGS]


def test_amap_shifts_every_layer_and_the_view(res):
    osm, amap = maps.valley_map(res, "A"), maps.valley_map(_on(res, "amap"), "A")
    a, b = _geojson_coords(osm), _geojson_coords(amap)
    assert a.shape == b.shape and len(a) > 50
    lon, lat = wgs84_to_gcj02(a[:, 0], a[:, 1])
    assert np.abs(np.column_stack([lon, lat]) - b).max() < 2e-6  # rounded to 6 decimals on both sides
    assert np.abs(a - b).min() > 1e-3  # every coordinate moved (some 500 m)
    ov_a = [el.bounds for el in _descendants(osm) if isinstance(el, ImageOverlay)]
    ov_b = [el.bounds for el in _descendants(amap) if isinstance(el, ImageOverlay)]
    assert len(ov_a) == len(ov_b) == 2
    for ((s, w), (n, e)), ((s2, w2), (n2, e2)) in zip(ov_a, ov_b):  # added in the same order
        x, y = wgs84_to_gcj02(np.array([w, e]), np.array([s, n]))
        assert np.allclose([w2, e2, s2, n2], [*x, *y], atol=1e-9)
    assert np.allclose(amap.location, wgs84_to_gcj02(osm.location[1], osm.location[0])[::-1], atol=1e-9)
    # the markers of the overview (valley labels) too
    ma = [el.location for el in _descendants(maps.overview_map(res)) if isinstance(el, folium.Marker)]
    mb = [el.location for el in _descendants(maps.overview_map(_on(res, "amap"))) if isinstance(el, folium.Marker)]
    assert len(ma) == len(mb) > 0
    for (la, lo), (lb, lob) in zip(ma, mb):
        x, y = wgs84_to_gcj02(lo, la)
        assert abs(lob - float(x)) < 1e-6 and abs(lb - float(y)) < 1e-6


def _tiles(m) -> list[folium.TileLayer]:
    return [el for el in m._children.values() if isinstance(el, folium.TileLayer)]


def test_basemaps_tiles_and_attributions(res, monkeypatch):
    assert "openstreetmap.org" in _tiles(maps.valley_map(res, "A"))[0].tiles
    amap = _tiles(maps.valley_map(_on(res, "amap"), "A"))
    assert "autonavi.com" in amap[0].tiles and "高德" in amap[0].options["attribution"]
    monkeypatch.setenv("TIANDITU_KEY", "k123")
    tdt = _tiles(maps.valley_map(_on(res, "tianditu"), "A"))
    assert [("vec_w" in t.tiles, "cva_w" in t.tiles) for t in tdt] == [(True, False), (False, True)]
    assert all("tk=k123" in t.tiles and "天地图" in t.options["attribution"] for t in tdt)
    tdt_page = maps.valley_map(_on(res, "tianditu"), "B").get_root().render()
    assert f"[{WGS[1]},{WGS[0]}," in tdt_page  # CGCS2000 ~ WGS84: no shift
    url = "https://tiles.example.org/{z}/{x}/{y}.png"
    (t,) = _tiles(maps.valley_map(_on(res, url, attribution="<Example> tiles"), "A"))
    assert t.tiles == url and t.options["attribution"] == "&lt;Example&gt; tiles"
    none = maps.valley_map(_on(res, "none"), "A")
    page = none.get_root().render()
    assert not _tiles(none) and "geo-basemap-none" in page
    assert not any(type(el).__name__ == "MiniMap" for el in _descendants(none))


def test_tianditu_needs_a_key(res, monkeypatch):
    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"needs a Tianditu key: set \[maps\] tianditu_key or the TIANDITU_KEY"):
        maps.valley_map(_on(res, "tianditu"), "A")
    base = {"firms": {"path": "f.csv"}}
    with pytest.raises(ConfigError, match="needs a Tianditu key"):
        config_from_dict({**base, "maps": {"basemap": "tianditu"}})
    cfg = config_from_dict({**base, "maps": {"basemap": "tianditu", "tianditu_key": "secret"}})
    assert cfg.maps.tianditu_key == "secret" and cfg.to_dict()["maps"]["tianditu_key"] == "(set)"  # not in summary.json
    monkeypatch.setenv("TIANDITU_KEY", "fromenv")
    assert config_from_dict({**base, "maps": {"basemap": "tianditu"}}).maps.basemap == "tianditu"


@pytest.mark.parametrize(("basemap", "match"), [
    ("google", r"must be one of \['osm', 'amap', 'tianditu', 'none'\] or a tile URL template; 'google' was given"
     .replace("template;", "template \\(https://.../\\{z\\}/\\{x\\}/\\{y\\}.png\\);")),
    ("https://t.example/{z}/{x}.png", r"must contain \{x\}, \{y\} and \{z\}; .* lacks \{y\}"),
    ("https://t.example/{{z}}/{x}/{y}.png", "cannot hold spaces, quotes"),
    ("https://t.example/{z}/{x}/{y}.png?a=\"b\"", "cannot hold spaces, quotes"),
])
def test_bad_basemaps_are_one_sentence(basemap, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict({"firms": {"path": "f.csv"}, "maps": {"basemap": basemap}})


def test_cli_basemap_option(capsys):
    assert main(["demo", "--out", "unused", "--basemap", "bing"]) == 2
    err = capsys.readouterr().err
    assert "Invalid value for --basemap: must be one of" in err and "'bing' was given" in err
    from geo.cli import _with_basemap

    cfg = _with_basemap(Config(), "amap")
    assert cfg.maps.basemap == "amap" and cfg.is_given("maps", "basemap")


def test_the_fallback_outlines_the_study_area_and_parks_under_the_tiles(res):
    m = maps.valley_map(res, "A")
    (pane,) = [el for el in _descendants(m) if type(el).__name__ == "CustomPane" and el.name == "geo-fallback"]
    assert pane.z_index == 150  # under the tiles (Leaflet's tile pane is at 200): seen where tiles are missing
    coords = _geojson_coords(m, pane="geo-fallback")
    fa = res.valleys["A"].firms
    # the study area's box holds (nearly) all its firms; the park's corners are there
    assert coords[:, 0].min() <= np.quantile(fa["lon"], 0.005) and coords[:, 0].max() >= np.quantile(fa["lon"], 0.995)
    for corner in ([114.39, 30.49], [114.41, 30.51]):
        assert np.abs(coords - corner).sum(axis=1).min() < 1e-6
    page = m.get_root().render()
    assert f"n >= {_basemap.TILE_ERRORS_NOTE}" in page and _basemap.TILES_NOTE in page and "tileerror" in page


def test_the_overview_fallback_has_the_land_around_the_valleys(res):
    import shapely

    m = maps.overview_map(res)
    (layer,) = [el for el in _descendants(m) if getattr(el, "_name", "") == "GeoJsonLayer" and el.pane == "geo-fallback"]
    feats = json.loads(layer.data_js)["features"]
    assert [f["properties"]["k"] for f in feats] == ["land", "area", "park", "area"]
    land = shapely.from_geojson(json.dumps(feats[0]["geometry"]))
    # Wuhan and Changchun are inland, the East China Sea and the Yellow Sea are not; Japan is land
    assert shapely.contains_xy(land, [114.4, 125.3, 139.7], [30.5, 43.86, 35.7]).all()
    assert not shapely.contains_xy(land, [125.0, 123.5], [30.0, 36.0]).any()
    assert len(layer.data_js) < 60_000  # the land of the region around the valleys only
    assert "land" not in [f["properties"]["k"] for el in _descendants(maps.valley_map(res, "A"))
                          if getattr(el, "_name", "") == "GeoJsonLayer" and el.pane == "geo-fallback"
                          for f in json.loads(el.data_js)["features"]]
