"""The map and report of a run on given units in headless Chromium: no page or console error, text
from the data shown as text (never run as markup), the island drawn, the parks on top.

The units map is drawn by the firm maps' machinery (``geo.outputs.maps``): with the tiles blocked the
note "basemap tiles could not be loaded" shows over the offline outline (the union of the units and
the parks), the legend and the title block are there, a click inside a park opens the park's popup
(no tooltip over it), the Amap map shifts the units to GCJ-02 as :func:`geo.crs.wgs84_to_gcj02`
does, and on a 400 px screen no control covers the map.  Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyogrio
import pytest

from tests.test_browser import (  # skips the module when no Chromium is installed
    XSS,
    Page,
)
from tests.units_fixtures import write_districts, write_parks

GI_LAYER = "Gi* hot/cold spots (optics (count, optics_2015))"

#: the first vertex of a unit's polygon in the page's GeoJSON (as drawn), found by its tooltip
_VERTEX_JS = """(unit) => {
    const map = window[Object.keys(window).find(k => k.startsWith('map_'))];
    let out = null;
    map.eachLayer(l => {
        if (out === null && l.feature && l.getTooltip && l.getTooltip()
            && l.getTooltip().getContent().includes('unit ' + unit + '<')) {
            let c = l.feature.geometry.coordinates;
            while (Array.isArray(c[0])) { c = c[0]; }
            out = c;
        }
    });
    return out;
}"""


@pytest.fixture(scope="module")
def units_run(tmp_path_factory):
    from geo.config import config_from_dict
    from geo.pipeline.units import run_units

    tmp = tmp_path_factory.mktemp("units-browser")
    frame = pyogrio.read_dataframe(write_districts(tmp / "d.gpkg"))
    frame.loc[frame["district_id"] == "D05", "name"] = XSS  # a hot district with a hostile name
    pyogrio.write_dataframe(frame, tmp / "districts.gpkg")
    write_parks(tmp / "parks.gpkg")
    cfg = config_from_dict({"run": {"title": "Units <b>map</b>", "synthetic": True},
                            "analysis": {"target_sector": "optics", "permutations": 99},
                            "cells": {"path": str(tmp / "districts.gpkg"), "id_column": "district_id",
                                      "name_column": "name", "year_columns": "optics_{year}"},
                            "parks": {"path": str(tmp / "parks.gpkg")}})
    res = run_units(cfg)
    assert "D05" in set(next(iter(res.valleys.values())).analysis.units.query("hot").index)
    return res, tmp


@pytest.fixture(scope="module")
def units_output(units_run):
    res, tmp = units_run
    return res.write(tmp / "out")


@pytest.fixture(scope="module")
def basemap_maps(units_run):
    """The valley's map on Amap's tiles and on no tiles (only the map is written)."""
    from geo.config import MapsConfig
    from geo.outputs.maps import save_map
    from geo.outputs.units import units_map

    res, tmp = units_run
    out = {}
    for basemap in ("amap", "none"):
        r = replace(res, config=replace(res.config, maps=MapsConfig(basemap=basemap)))
        out[basemap] = save_map(units_map(r, next(iter(r.valleys))), tmp / f"units-{basemap}.html")
    return out


def test_units_map_in_a_browser(units_run, units_output, browser):
    p = Page(browser, units_output["map_districts"])
    assert p.errors == []
    assert p.overlays() == ["Parks", GI_LAYER, "LISA clusters"]
    # offline: the tile-failure note over the offline outline (the units' union and the two parks, under the tiles)
    note = p.page.locator(".geo-tiles-note")
    note.wait_for(state="visible", timeout=10_000)
    assert "basemap tiles could not be loaded" in note.inner_text()
    assert p.page.locator(".leaflet-geo-fallback-pane path").count() == 3
    p.shot("units-map")
    # the title block and the legend of the firm maps
    title = p.page.locator(".geo-title").inner_text()
    assert "37 units · 2 parks" in title and "synthetic demo data" in title
    assert p.page.locator(".geo-title a").get_attribute("href") == "index.html"
    legend = p.page.locator(".geo-legend").inner_text()
    assert "Parks (by verdict)" in legend and "park on a pre-existing cluster" in legend
    assert "Hot spot, 99 % confidence" in legend and "no neighbour (island)" in legend
    colour = p.page.evaluate("""() => [...document.querySelectorAll('.geo-legend .row')]
        .find(r => r.innerText.includes('park on a pre-existing cluster')).querySelector('span').style.borderTopColor""")
    assert colour == "rgb(123, 50, 148)"  # VERDICT_COLOURS' purple, as on the firm maps
    for box in p.page.locator(".leaflet-control-layers-overlays input[type=checkbox]").all():
        box.check()
    # every feature's own tooltip: each unit in the Gi* layer, the LISA units, each park
    texts = p.page.evaluate("""() => {
        const map = window[Object.keys(window).find(k => k.startsWith('map_'))];
        const out = [];
        map.eachLayer(l => { if (l.feature && l.getTooltip && l.getTooltip()) {
            l.openTooltip(l.getBounds().getCenter()); out.push(l.getTooltip().getElement().innerText); l.closeTooltip(); } });
        return out;
    }""")
    labels = next(iter(units_run[0].valleys.values())).analysis.units["lisa_label"]
    n_lisa = int(labels.isin(["HH", "LL", "LH", "HL"]).sum())
    assert len(texts) == 37 + n_lisa + 2 and n_lisa > 0  # each unit in Gi*, the significant ones in LISA, each park
    assert p.xss() is None
    tips = " ".join(texts)
    assert XSS in tips and "Optics Valley Science Park" in tips  # shown as text
    assert "no neighbour under queen weights" in tips  # the island's tooltip says why it has no statistic
    assert p.errors == []
    p.page.close()


def test_a_click_inside_a_park_opens_its_popup(units_output, browser):
    p = Page(browser, units_output["map_districts"])
    x, y = p.page.evaluate("""() => {
        const map = window[Object.keys(window).find(k => k.startsWith('map_'))];
        let pt = null;
        map.eachLayer(l => { if (pt === null && l.feature && l.getPopup && l.getPopup()
                                 && l.getPopup().getContent().includes('Optics Valley Science Park')) {
            pt = map.latLngToContainerPoint(l.getBounds().getCenter()); } });
        const box = map.getContainer().getBoundingClientRect();
        return [pt.x + box.left, pt.y + box.top];
    }""")
    # inside the park the park's clear fill takes the pointer, above the units
    pane = p.page.evaluate("([x, y]) => document.elementFromPoint(x, y).closest('.leaflet-pane').className", [x, y])
    assert "leaflet-geo-parks-pane" in pane
    p.page.mouse.move(x, y)
    tip = p.page.locator(".leaflet-tooltip")
    tip.wait_for(state="visible")
    assert "Optics Valley Science Park" in tip.inner_text()
    p.page.mouse.click(x, y)
    popup = p.page.locator(".leaflet-popup-content")
    popup.wait_for(state="visible")
    text = popup.inner_text()
    assert "verdict: park on a pre-existing cluster" in text
    assert "of its area lies on hot-spot units" in text and "times the study area's" in text
    assert "precedence: formed before designation" in text and "designated: 2009" in text
    assert not p.page.locator(".leaflet-tooltip-pane").first.is_visible()  # no tooltip over the popup
    assert not p.page.locator(".leaflet-tooltip").first.is_visible()
    p.page.wait_for_timeout(400)  # the popup's fade-in
    p.shot("units-park-popup")
    assert p.errors == [] and p.xss() is None
    p.page.close()


def test_a_narrow_screen_keeps_the_map_visible(units_output, browser):
    p = Page(browser, units_output["map_districts"])
    p.page.set_viewport_size({"width": 400, "height": 800})
    p.page.reload(wait_until="load")
    p.page.wait_for_timeout(500)
    assert p.page.locator(".leaflet-control-layers-expanded").count() == 0  # the layer control collapsed
    assert p.page.evaluate("() => document.querySelector('.geo-legend details').open") is False
    boxes = p.page.evaluate("""() => [...document.querySelectorAll(
            '.leaflet-control, .geo-title, .geo-tiles-note')].map(e => e.getBoundingClientRect())
            .filter(r => r.width > 0).map(r => [r.width, r.height])""")
    assert boxes and max(w * h for w, h in boxes) < 0.1 * 400 * 800  # no control covers the map
    p.shot("units-map-400")
    assert p.errors == []
    p.page.close()


def test_the_overview_links_to_the_valley_map(units_output, browser):
    p = Page(browser, units_output["map_index"])
    assert p.overlays() == ["Parks", "Valleys"]
    title = p.page.locator(".geo-title").inner_text()
    assert "Units <b>map</b>" in title and "1 valley · 37 units · 2 parks" in title and "synthetic demo data" in title
    assert "study area: the union of its units" in p.page.locator(".geo-legend").inner_text()
    assert p.page.locator(".leaflet-geo-fallback-pane path").count() == 4  # the land, the units' union, two parks
    p.shot("units-overview")
    link = p.page.locator("a.geo-valley-link")
    assert link.inner_text().strip() == "● districts" and link.get_attribute("href") == "districts.html"
    link.click()
    p.page.wait_for_url("**/districts.html")
    assert "37 units · 2 parks" in p.page.locator(".geo-title").inner_text()
    assert p.errors == [] and p.xss() is None
    p.page.close()


def test_amap_shifts_the_units_as_geo_crs_does(units_output, basemap_maps, browser):
    from geo.crs import wgs84_to_gcj02

    osm = Page(browser, units_output["map_districts"])
    amap = Page(browser, basemap_maps["amap"])
    wgs = np.array(osm.page.evaluate(_VERTEX_JS, "D01"))
    shown = np.array(amap.page.evaluate(_VERTEX_JS, "D01"))
    gx, gy = wgs84_to_gcj02(np.array([wgs[0]]), np.array([wgs[1]]))
    expected = np.array([gx[0], gy[0]]) - wgs
    assert np.abs(expected).max() > 1e-3  # hundreds of metres near Wuhan
    np.testing.assert_allclose(shown - wgs, expected, atol=2e-6)  # both pages round to 6 decimals
    assert "高德" in amap.page.locator(".leaflet-control-attribution").inner_text()
    assert osm.errors == [] and amap.errors == []
    osm.page.close()
    amap.page.close()


def test_no_basemap_shows_the_outline_and_no_note(basemap_maps, browser):
    p = Page(browser, basemap_maps["none"])
    p.page.wait_for_timeout(300)
    assert not p.page.locator(".geo-tiles-note").is_visible()  # nothing failed
    assert p.page.locator(".leaflet-control-minimap").count() == 0
    assert p.page.locator(".leaflet-geo-fallback-pane path").count() == 3
    p.shot("units-map-none")
    assert p.errors == []
    p.page.close()


def test_units_report_in_a_browser(units_output, browser):
    p = Page(browser, units_output["report"])
    assert p.errors == [] and p.xss() is None
    text = p.page.locator("body").inner_text()
    assert "Input: given units (districts.gpkg, 37 polygons)" in text and XSS in text
    assert "Units <b>map</b>" in text
    # nothing wider than a phone's screen
    p.page.set_viewport_size({"width": 360, "height": 800})
    assert p.page.evaluate("() => document.documentElement.scrollWidth") <= 360
    p.page.close()
