"""The map and report of a run on given units in headless Chromium: no page or console error, text
from the data shown as text (never run as markup), the island drawn, the parks on top."""

from __future__ import annotations

import pyogrio
import pytest

from tests.test_browser import (  # skips the module when no Chromium is installed
    XSS,
    Page,
)
from tests.units_fixtures import write_districts, write_parks


@pytest.fixture(scope="module")
def units_output(tmp_path_factory):
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
    return res.write(tmp / "out")


def test_units_map_in_a_browser(units_output, browser):
    p = Page(browser, units_output["map_index"])
    p.shot("units-map")
    assert p.errors == []
    assert p.overlays() == ["Gi* hot/cold spots (optics (count, optics_2015))", "LISA clusters", "Parks"]
    for box in p.page.locator(".leaflet-control-layers-overlays input[type=checkbox]").all():
        box.check()
    # each GeoJSON layer has one tooltip for its features: open it on every feature, keep the text shown
    texts = p.page.evaluate("""() => {
        const map = window[Object.keys(window).find(k => k.startsWith('map_'))];
        const out = [];
        map.eachLayer(g => { if (g.eachLayer && g.getTooltip && g.getTooltip()) {
            g.eachLayer(f => { f.fire('mouseover', {latlng: f.getBounds().getCenter()}, true); out.push(g.getTooltip().getElement().innerText); }); } });
        return out;
    }""")
    assert len(texts) == 37 * 2 + 2  # every unit in the Gi* and LISA layers, each park
    assert p.xss() is None
    tips = " ".join(texts)
    assert XSS in tips and "Optics Valley Science Park" in tips  # shown as text
    assert "no neighbour under queen weights" in tips  # the island's tooltip says why it has no statistic
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
