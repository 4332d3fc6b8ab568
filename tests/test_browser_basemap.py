"""The basemap offline, as a user sees it: headless Chromium (Playwright) with every tile request aborted.

The maps are test_maps.py's hand-built results written by ``write_maps`` (no analysis runs).
With the tiles blocked, the note "basemap tiles could not be loaded" appears, the fallback
outlines (the study area and its park) are drawn in their pane under the tiles, and the
minimap is hidden.  Screenshots go to ``test-artifacts/`` (not in git).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_browser import ARTIFACTS
from test_maps import _results

from geo.config import MapsConfig
from geo.outputs import maps
from geo.outputs.maps import _basemap


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    res = _results()
    out = {}
    for basemap in ("osm", "amap", "none"):
        folder = tmp_path_factory.mktemp(basemap)
        maps.write_maps(replace(res, config=replace(res.config, maps=MapsConfig(basemap=basemap))), folder)
        out[basemap] = folder
    return out


def _open(browser, path):
    """The page with every network request aborted; (page, tile URLs requested, page errors)."""
    page = browser.new_page(viewport={"width": 1100, "height": 750})
    requested, errors = [], []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "Failed to load" not in m.text else None)

    page.on("request", lambda r: requested.append(r.url) if r.url.startswith("http") else None)
    page.route("http*://**", lambda route: route.abort())  # offline: every tile fails
    page.goto(path.as_uri(), wait_until="load")
    return page, requested, errors


@pytest.mark.parametrize(("name", "outlines", "pixels"), [("A.html", 2, 300), ("index.html", 4, 300)])
def test_blocked_tiles_show_the_note_and_the_fallback_outline(written, browser, name, outlines, pixels):
    page, requested, errors = _open(browser, written["osm"] / name)
    note = page.locator(".geo-tiles-note")
    note.wait_for(state="visible", timeout=10_000)
    assert _basemap.TILES_NOTE in note.inner_text()
    assert len([u for u in requested if "tile.openstreetmap.org" in u]) >= _basemap.TILE_ERRORS_NOTE
    # the study areas' boxes (A; A and B on the overview, with the land around them) and A's park, under the tiles
    assert page.locator(".leaflet-geo-fallback-pane path").count() == outlines
    z = page.evaluate("() => [getComputedStyle(document.querySelector('.leaflet-geo-fallback-pane')).zIndex,"
                      " getComputedStyle(document.querySelector('.leaflet-tile-pane')).zIndex]")
    assert int(z[0]) < int(z[1])
    boxes = [p.bounding_box() for p in page.locator(".leaflet-geo-fallback-pane path").all()]
    assert max(b["width"] for b in boxes) > pixels  # on screen: the study area (valley map), the land (overview)
    assert not page.locator(".leaflet-control-minimap").is_visible()  # its tiles fail too: hidden
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"basemap-offline-{name.removesuffix('.html')}.png"))
    assert errors == []
    page.close()


def test_amap_tiles_are_requested_and_fail_the_same_way(written, browser):
    page, requested, errors = _open(browser, written["amap"] / "A.html")
    page.locator(".geo-tiles-note").wait_for(state="visible", timeout=10_000)
    tiles = [u for u in requested if "autonavi.com/appmaptile" in u]
    assert tiles and all("style=8" in u for u in tiles)
    assert not [u for u in requested if "openstreetmap" in u]
    assert "高德" in page.locator(".leaflet-control-attribution").inner_text()
    assert page.locator(".leaflet-geo-fallback-pane path").count() == 2
    assert errors == []
    page.close()


def test_no_basemap_requests_no_tile_and_shows_the_outline(written, browser):
    page, requested, errors = _open(browser, written["none"] / "A.html")
    page.wait_for_timeout(500)
    assert requested == []
    assert not page.locator(".geo-tiles-note").is_visible()  # nothing failed
    assert page.locator(".leaflet-control-minimap").count() == 0
    assert page.locator(".leaflet-geo-fallback-pane path").count() == 2
    assert errors == []
    page.close()
