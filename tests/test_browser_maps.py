"""The demo's valley maps in headless Chromium: they open on the finding, and the finding answers.

The shared demo run (``demo_output``) is opened offline, as in ``tests/test_browser.py``
(whose :class:`Page` records console and page errors).  What a user sees is measured in
the browser: which overlays are on, which element lies under the mouse, which tooltip and
popup are visible, where the slider's caption ends, the colours Chromium computed.
"""

from __future__ import annotations

import io
import re

import geopandas as gpd
import numpy as np
import pytest

from geo.outputs import _style
from tests.test_browser import Page

VALLEYS = ["Wuhan", "Changchun", "Shenzhen"]
FINDING = ["Parks", "Gi* hot/cold spots (optics firms)", "Clusters"]
MAP = "window[Object.keys(window).find(k => k.startsWith('map_'))]"


def _open(browser, demo_output, valley: str, width: int = 1400, height: int = 900) -> Page:
    p = Page(browser, demo_output / "maps" / f"{valley}.html")
    p.page.set_viewport_size({"width": width, "height": height})
    p.page.evaluate(f"() => {{ {MAP}.invalidateSize(); }}")  # returns nothing: the map object would be serialised
    return p


def _checked(p: Page) -> list[str]:
    labels = p.page.locator(".leaflet-control-layers-overlays label")
    return [labels.nth(i).inner_text().strip() for i in range(labels.count())
            if labels.nth(i).locator("input").is_checked()]


def _toggle(p: Page, name: str) -> None:
    p.page.locator(".leaflet-control-layers-overlays label", has_text=name).locator("input").click()


def _rgb(css: str) -> tuple[float, ...]:
    """(r, g, b[, a]) of a CSS ``rgb()``/``rgba()`` or ``#rrggbb`` colour."""
    if css.startswith("#"):
        return tuple(int(css[i:i + 2], 16) for i in (1, 3, 5))
    return tuple(float(v) for v in re.findall(r"[\d.]+", css))


def _inside_park_on_hot_cell(demo_results, valley: str) -> tuple[float, float, str]:
    """(lat, lon, park name) of a point inside both a park and a hot cell of the valley (GEOS)."""
    vr = demo_results.valleys[valley]
    hot = vr.analysis.hotspots
    cells = hot.loc[hot["gi_bin"] > 0]
    parks = vr.parks.to_crs(cells.crs)
    for name, park in zip(parks["name"], parks.geometry):
        pieces = cells.geometry.intersection(park.buffer(-30))  # 30 m inside the park's outline
        pieces = pieces[~pieces.is_empty]
        if len(pieces):
            piece = pieces.iloc[int(np.argmax(pieces.area.to_numpy()))]
            pt = piece.buffer(-20).representative_point() if piece.buffer(-20).area > 0 else piece.representative_point()
            ll = gpd.GeoSeries([pt], crs=cells.crs).to_crs(4326).iloc[0]
            return ll.y, ll.x, name
    raise AssertionError(f"no hot cell inside a park of {valley}")


def _outside_parks_on_hot_cell(demo_results, valley: str) -> tuple[float, float]:
    """(lat, lon) of the centre of a hot cell that touches no park (GEOS)."""
    vr = demo_results.valleys[valley]
    hot = vr.analysis.hotspots
    cells = hot.loc[hot["gi_bin"] > 0]
    parks = vr.parks.to_crs(cells.crs).union_all()
    free = cells.loc[~cells.geometry.buffer(50).intersects(parks)]
    assert len(free), f"every hot cell of {valley} touches a park"
    pt = free.geometry.iloc[0].centroid
    ll = gpd.GeoSeries([pt], crs=cells.crs).to_crs(4326).iloc[0]
    return ll.y, ll.x


def _centre_on(p: Page, lat: float, lon: float, zoom: int = 15) -> tuple[float, float]:
    """Centre the map on (lat, lon); its position on the page."""
    return tuple(p.page.evaluate(f"""() => {{ const map = {MAP}; map.setView([{lat}, {lon}], {zoom}, {{animate: false}});
        const q = map.latLngToContainerPoint([{lat}, {lon}]), r = map.getContainer().getBoundingClientRect();
        return [r.left + q.x, r.top + q.y]; }}"""))


def _visible_texts(p: Page, selector: str) -> list[str]:
    loc = p.page.locator(selector)
    return [loc.nth(i).inner_text() for i in range(loc.count()) if loc.nth(i).is_visible()]


# ----------------------------------------------------------------------------- the default view
@pytest.mark.parametrize("valley", VALLEYS)
def test_valley_maps_open_on_the_finding_layers_only(demo_output, browser, valley):
    p = _open(browser, demo_output, valley)
    assert _checked(p) == FINDING  # parks by verdict, Gi* cells, cluster outlines; firms and the rest off
    drawn = p.page.evaluate("""() => Object.fromEntries(['geo-park-tint', 'geo-cells', 'geo-parks', 'geo-clusters',
        'geo-firms', 'geo-park-lines', 'geo-stacks'].map(n => [n, document.querySelectorAll(`.leaflet-${n}-pane path`).length]))""")
    assert drawn["geo-firms"] == drawn["geo-stacks"] == 0  # no firm marker covers the finding
    assert p.page.locator(".marker-cluster").count() == 0
    assert drawn["geo-cells"] > 0 and drawn["geo-clusters"] > 0
    assert drawn["geo-park-tint"] == drawn["geo-parks"] == drawn["geo-park-lines"] > 0
    # every cluster outline is in the view the map opens on
    inside = p.page.evaluate(f"""() => {{ const map = {MAP}, view = map.getBounds(); let all = true;
        map.eachLayer(l => {{ if (l.options && l.options.pane === 'geo-clusters' && l.getBounds)
            {{ all = all && view.contains(l.getBounds()); }} }}); return all; }}""")
    assert inside
    p.shot(f"finding-{valley}")
    assert p.errors == []
    p.page.close()


def test_map_colours_are_the_palette_of_the_report_and_figures(demo_results, demo_output, browser):
    """What Chromium draws and the legend shows are the colours of geo.outputs._style, exactly."""
    p = _open(browser, demo_output, "Wuhan")
    strokes = p.page.evaluate("""() => Object.fromEntries(['geo-clusters', 'geo-park-lines', 'geo-cells'].map(n =>
        [n, [...new Set([...document.querySelectorAll(`.leaflet-${n}-pane path`)].map(e => e.getAttribute(n === 'geo-cells' ? 'fill' : 'stroke')))]]))""")
    assert strokes["geo-clusters"] == [_style.CLUSTER_COLOUR]
    verdicts = demo_results.valleys["Wuhan"].analysis.parks_overlay["verdict"]
    assert set(strokes["geo-park-lines"]) == {_style.verdict_colour(v) for v in verdicts}
    bins = demo_results.valleys["Wuhan"].analysis.hotspots["gi_bin"]
    assert set(strokes["geo-cells"]) == {_style.GI_COLOURS[int(b)] for b in bins if b != 0}
    legend = p.page.evaluate("""() => [...document.querySelectorAll('.geo-legend .row')].map(r => {
        const s = r.querySelector('span'); const cs = getComputedStyle(s);
        return [r.innerText.trim(), s.className === 'sw' ? cs.backgroundColor : cs.borderTopColor]; })""")
    colours = {text: _rgb(c)[:3] for text, c in legend}
    assert colours["cluster polygon (1)"] == _rgb(_style.CLUSTER_COLOUR)
    for v in set(verdicts):
        assert colours[v] == _rgb(_style.verdict_colour(v))
    for b in {int(b) for b in bins if b != 0}:
        assert colours[_style.GI_LABELS[b]] == _rgb(_style.GI_COLOURS[b])
    # the target sector's firms in the target colour, in the firm legend and on the markers
    _toggle(p, "Firms: optics")
    p.page.wait_for_timeout(200)
    legend = p.page.locator(".geo-legend").inner_text()
    assert "Firms: optics" in legend
    fills = p.page.evaluate("() => [...new Set([...document.querySelectorAll('.leaflet-geo-firms-pane path')].map(e => e.getAttribute('fill')))]")
    assert fills == [_style.TARGET_COLOUR]
    assert p.errors == []
    p.page.close()


# ----------------------------------------------------------------------------- parks answer inside
def test_a_park_answers_hover_and_click_over_the_hot_cells_in_it(demo_results, demo_output, browser):
    lat, lon, park = _inside_park_on_hot_cell(demo_results, "Wuhan")
    p = _open(browser, demo_output, "Wuhan")
    x, y = _centre_on(p, lat, lon)
    # under the mouse: the park's clear fill, above the hot cell drawn under it
    under = p.page.evaluate(f"""() => document.elementsFromPoint({x}, {y}).filter(e => e.tagName === 'path')
        .map(e => e.closest('.leaflet-pane').className.match(/leaflet-([a-z-]+)-pane/)[1])""")
    assert under[0] == "geo-parks" and "geo-cells" in under  # there is a hot cell under the park
    p.page.mouse.move(x - 3, y - 3)
    p.page.mouse.move(x, y)
    p.page.wait_for_timeout(150)
    tips = _visible_texts(p, ".leaflet-tooltip")
    assert len(tips) == 1 and park in tips[0] and "verdict" in tips[0], tips
    assert "Hot spot" not in tips[0]
    # a click opens the park's popup, and no tooltip stays over it
    p.page.mouse.click(x, y)
    p.page.wait_for_timeout(150)
    pops = _visible_texts(p, ".leaflet-popup-content")
    assert len(pops) == 1 and park in pops[0] and "Hot spot" not in pops[0]
    assert _visible_texts(p, ".leaflet-tooltip") == []
    p.page.mouse.move(x + 4, y + 4)  # moving inside the park does not bring the tooltip back over the popup
    p.page.wait_for_timeout(150)
    assert _visible_texts(p, ".leaflet-tooltip") == []
    p.shot("park-popup")
    # closed, the tooltips come back
    p.page.locator(".leaflet-popup-close-button").click()
    p.page.mouse.move(x, y)
    p.page.mouse.move(x + 1, y + 1)
    p.page.wait_for_timeout(150)
    tips = _visible_texts(p, ".leaflet-tooltip")
    assert len(tips) == 1 and park in tips[0]
    assert p.errors == []
    p.page.close()


def test_a_hot_cell_outside_every_park_still_answers(demo_results, demo_output, browser):
    """The park layer takes the pointer only inside the parks: elsewhere the cells answer."""
    lat, lon = _outside_parks_on_hot_cell(demo_results, "Shenzhen")
    p = _open(browser, demo_output, "Shenzhen")
    x, y = _centre_on(p, lat, lon)
    p.page.mouse.move(x - 2, y - 2)
    p.page.mouse.move(x, y)
    p.page.wait_for_timeout(150)
    tips = _visible_texts(p, ".leaflet-tooltip")
    assert len(tips) == 1 and "Hot spot" in tips[0] and "Gi* z" in tips[0], tips
    assert p.errors == []
    p.page.close()


# ----------------------------------------------------------------------------- what is written in full
@pytest.mark.parametrize("width", [1400, 400])
def test_slider_caption_is_never_cut(demo_results, demo_output, browser, width):
    for valley in VALLEYS:
        p = _open(browser, demo_output, valley, width=width)
        slider = p.page.locator(".leaflet-timeline-control input.time-slider")
        years = [int(slider.get_attribute("max"))]
        years += sorted({int(y) for y in demo_results.valleys[valley].parks["designated"].dropna()})
        for year in years:  # the last year (all parks named) and each designation year
            slider.fill(str(year))
            box = p.page.evaluate("""() => {
                const c = document.querySelector('.leaflet-timeline-control'), d = c.querySelector('.geo-des');
                const a = c.getBoundingClientRect(), b = d.getBoundingClientRect();
                return {c: [a.left, a.top, a.right, a.bottom], d: [b.left, b.top, b.right, b.bottom],
                        vw: window.innerWidth, vh: window.innerHeight, text: d.innerText,
                        sw: d.scrollWidth, cw: d.clientWidth, sh: d.scrollHeight, ch: d.clientHeight}; }""")
            c, d = box["c"], box["d"]
            assert c[0] <= d[0] and c[1] <= d[1] and d[2] <= c[2] and d[3] <= c[3], (valley, year, box)
            assert 0 <= c[0] and c[2] <= box["vw"] and 0 <= c[1] and c[3] <= box["vh"], (valley, year, box)
            assert box["sw"] <= box["cw"] and box["sh"] <= box["ch"], (valley, year, box)  # nothing clipped
            names = demo_results.valleys[valley].parks["name"]
            assert all(n in box["text"] for n, y in zip(names, demo_results.valleys[valley].parks["designated"])
                       if y <= year)
        if width == 400:
            p.shot(f"slider-{valley}-400")
        assert p.errors == []
        p.page.close()


# ----------------------------------------------------------------------------- nothing mistaken for data
def test_marker_clusters_are_neutral_grey(demo_output, browser):
    p = _open(browser, demo_output, "Wuhan")
    _toggle(p, "Firms: all sectors (clustered)")
    p.page.wait_for_selector(".marker-cluster")
    colours = p.page.evaluate("""() => [...document.querySelectorAll('.marker-cluster')].flatMap(e =>
        [getComputedStyle(e).backgroundColor, getComputedStyle(e.querySelector('div')).backgroundColor, e.className])""")
    assert len(colours) >= 6
    sizes = {m.group(1) if (m := re.search(r"geo-mcluster-(\w+)", c)) else c for c in colours[2::3]}
    assert sizes and sizes <= {"small", "medium", "large"}, sizes  # our icons, not markercluster's coloured ones
    for css in [c for i, c in enumerate(colours) if i % 3 != 2]:
        r, g, b = _rgb(css)[:3]
        assert max(r, g, b) - min(r, g, b) <= 8, css  # a grey (every sector colour has a hue: tests/test_style.py)
    assert p.errors == []
    p.page.close()


def test_parks_by_development_model_leave_the_hot_cells_readable(demo_results, demo_output, browser):
    """Turning the development models on changes the colour of a hot cell inside a park by little."""
    from PIL import Image

    lat, lon, _ = _inside_park_on_hot_cell(demo_results, "Wuhan")
    p = _open(browser, demo_output, "Wuhan")
    x, y = _centre_on(p, lat, lon)
    away = p.page.locator(".geo-title")  # the mouse off the map: no tooltip over the pixel
    away.hover()

    def pixel():
        png = p.page.screenshot(clip={"x": x - 1, "y": y - 1, "width": 3, "height": 3})
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float).reshape(-1, 3).mean(axis=0)

    before = pixel()
    _toggle(p, "Parks by development model")
    away.hover()
    p.page.wait_for_timeout(150)
    after = pixel()
    assert np.abs(after - before).max() <= 12, (before, after)
    # hovered, its tooltip (with the model's long summary) wraps inside the window
    p.page.mouse.move(x - 2, y - 2)
    p.page.mouse.move(x, y)
    p.page.wait_for_timeout(150)
    tip = p.page.locator(".leaflet-tooltip").filter(has_text="development model")
    assert tip.count() == 1 and tip.is_visible()
    box, vw = tip.bounding_box(), p.page.evaluate("() => window.innerWidth")
    assert 0 <= box["x"] and box["x"] + box["width"] <= vw and box["width"] <= 360 + 14, box  # 360 px of text, padding and border
    assert p.errors == []
    p.page.close()


def test_a_long_sector_name_keeps_the_layer_control_in_its_column(tmp_path, browser):
    # a registry's industry class as the target sector (GB/T 4754 major group 39) made the expanded layer control
    # ~750 px wide at 1400 px, over the valley; the fit leaves 290 px on the right for it and the legend
    import geo
    from tests.study import make_study

    long = "计算机、通信和其他电子设备制造业"
    s = make_study(tmp_path, valleys={"Wuhan": "Wuhan"})
    f = s.frame.copy()
    f[s.columns["sector"]] = f[s.columns["sector"]].replace({s.target: long})
    f.to_csv(s.firms, index=False)
    cfg = s.write_config(firms={"crs": "wgs84"}, analysis={"target_sector": long, "scales": []})
    geo.run(cfg).write(tmp_path / "out")
    p = Page(browser, tmp_path / "out" / "maps" / "Wuhan.html")
    p.page.set_viewport_size({"width": 1400, "height": 900})
    box = p.page.evaluate("""() => {
        const r = e => { const b = document.querySelector(e).getBoundingClientRect(); return [b.left, b.right]; };
        return {layers: r('.leaflet-top.leaflet-right .leaflet-control-layers'), slider: r('.leaflet-timeline-control'),
                labels: [...document.querySelectorAll('.leaflet-control-layers-overlays label')].map(l => l.innerText)}; }""")
    assert any(long in t for t in box["labels"])  # the long name is there, wrapped, not cut
    assert box["layers"][1] - box["layers"][0] <= 320 and box["layers"][0] >= 1400 - 330, box  # 290 px + padding
    assert box["slider"][1] - box["slider"][0] >= 500, box  # the slider below keeps its width
    assert p.errors == []
    p.page.close()
