"""The maps and the report as a user sees them: headless Chromium (Playwright) on a small self-made study
and on the shared demo run (the report: the answer on the first screen, no sideways scroll from 360 to
1600 px, no raw key in the visible text).

The study is run through ``geo.run`` and ``Results.write``; the index and valley maps are
opened from disk with every network request aborted (basemap tiles then fail to load,
which is expected; any other console error or page error fails the test).  Screenshots
go to ``test-artifacts/`` (not in git).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or (
    "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
if CHROMIUM is None:
    pytest.skip("no Chromium browser installed (make test installs Debian's chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")

import geo  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
XSS = '<img src=x onerror="window.__xss=1">'
NASTY = [XSS, "</script><script>window.__xss=2</script>", "`tick` ${window.__xss=3}", "Tom & Jerry <b>Bold</b>"]
PARK_A = XSS + " Photonics Park"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Valley A: 430 firms, an optics cluster inside park A that grew after 1995; valley B: 20 firms."""
    tmp = tmp_path_factory.mktemp("study")
    rng = np.random.default_rng(7)
    n_bg, n_cl = 300, 130
    lon = np.r_[114.40 + rng.uniform(-0.06, 0.06, n_bg), 114.42 + rng.normal(0, 0.003, n_cl)]
    lat = np.r_[30.50 + rng.uniform(-0.05, 0.05, n_bg), 30.51 + rng.normal(0, 0.003, n_cl)]
    sector = np.r_[rng.choice(["optics", "food", "software"], n_bg, p=[0.1, 0.45, 0.45]), ["optics"] * n_cl]
    founded = np.r_[rng.integers(1980, 2024, n_bg), rng.integers(1996, 2024, n_cl)]
    names = [f"Firm {i}" for i in range(n_bg + n_cl)]
    names[n_bg : n_bg + len(NASTY)] = NASTY  # optics firms in the cluster: shown as points with name tooltips
    names[: len(NASTY)] = NASTY
    a = pd.DataFrame({"firm_id": [f"A{i}" for i in range(len(names))], "name": names, "lon": lon.round(6),
                      "lat": lat.round(6), "valley": "A", "sector": sector, "founded": founded})
    b = pd.DataFrame({"firm_id": [f"B{i}" for i in range(20)], "name": [XSS] + [f"B firm {i}" for i in range(19)],
                      "lon": (125.3 + rng.normal(0, 0.01, 20)).round(6), "lat": (43.86 + rng.normal(0, 0.01, 20)).round(6),
                      "valley": "B", "sector": ["optics", "food"] * 10, "founded": rng.integers(1990, 2020, 20)})
    pd.concat([a, b]).to_csv(tmp / "firms.csv", index=False)
    parks = gpd.GeoDataFrame(
        {"name": [PARK_A, "Quiet Park"], "valley": ["A", "B"], "designated": [1995, 2001]},
        geometry=[shapely.box(114.405, 30.495, 114.435, 30.525), shapely.box(125.29, 43.85, 125.31, 43.87)], crs=4326)
    parks.to_file(tmp / "parks.gpkg")
    (tmp / "study.toml").write_text(
        '[run]\ntitle = "Browser <test> study"\nsynthetic = true\n'
        '[firms]\npath = "firms.csv"\n[parks]\npath = "parks.gpkg"\n'
        '[analysis]\ntarget_sector = "optics"\npermutations = 99\n'
        '[[valleys]]\nname = "A"\ntitle = "Valley A"\n[[valleys]]\nname = "B"\n', encoding="utf-8")
    res = geo.run(tmp / "study.toml")
    out = tmp / "out"
    written = res.write(out)
    return res, out, written


class Page:
    """A page opened offline that records console errors and page errors."""

    def __init__(self, browser, path: Path):
        self.page = browser.new_page(viewport={"width": 1280, "height": 800})
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.page.route("http*://**", lambda route: route.abort())  # no network: tiles fail, nothing else may
        self.page.goto(path.as_uri(), wait_until="load")
        self.page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")

    def _console(self, msg):
        if msg.type == "error" and "Failed to load resource" not in msg.text:
            self.errors.append(f"console: {msg.text}")

    def overlays(self) -> list[str]:
        return [t.strip() for t in self.page.locator(".leaflet-control-layers-overlays label").all_inner_texts()]

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"maps-{name}.png"))

    def open_everything(self) -> int:
        """Turn every overlay on, then open every tooltip and popup of every layer on the map."""
        for box in self.page.locator(".leaflet-control-layers-overlays input[type=checkbox]").all():
            if not box.is_checked():
                box.check()
        return self.page.evaluate("""() => {
            const map = window[Object.keys(window).find(k => k.startsWith('map_'))];
            let n = 0;
            map.eachLayer(l => { if (l.getTooltip && l.getTooltip()) { l.openTooltip(); n++; } });
            map.eachLayer(l => { if (l.getPopup && l.getPopup()) { l.openPopup(); n++; } });
            return n;
        }""")

    def xss(self):
        self.page.wait_for_timeout(300)  # image error events fire asynchronously
        return self.page.evaluate("() => window.__xss")


VALLEY_A_LAYERS = ["Parks", "Parks by development model", "Gi* hot/cold spots (optics firms)", "LISA clusters",
                   "Emerging hot spots (optics firms)", "Clusters", "Firms: optics", "Firms: all sectors",
                   "Local co-location: optics → optics", "Founding years (optics firms)", "Firm density (KDE)",
                   "Firm density (KDE, optics)"]


def test_index_map(study, browser):
    _, out, _ = study
    p = Page(browser, out / "maps" / "index.html")
    p.shot("index")
    assert p.errors == []
    assert p.overlays() == ["Parks", "Valleys"]
    assert p.page.locator(".geo-legend").is_visible()
    title = p.page.locator(".geo-title").inner_text()
    assert "Browser <test> study" in title and "synthetic demo data" in title
    assert p.open_everything() >= 4  # two valley outlines, two parks (tooltip and popup each)
    assert p.xss() is None
    tips = " ".join(p.page.locator(".leaflet-tooltip").all_inner_texts())
    assert PARK_A in tips  # the park's name is shown as text
    # the valley label links to the valley's own map (relative link)
    p.page.locator('a.geo-valley-link[href="A.html"]').click()
    p.page.wait_for_url("**/maps/A.html")
    assert p.page.locator(".leaflet-control-layers-overlays").count() == 1
    assert p.errors == []
    p.page.close()


def test_valley_map(study, browser):
    res, out, _ = study
    assert res.valleys["A"].analysis.hotspots is not None  # the study is large enough for every layer
    p = Page(browser, out / "maps" / "A.html")
    p.shot("valley-A")
    assert p.errors == []
    assert p.overlays() == VALLEY_A_LAYERS
    assert p.page.locator(".leaflet-control-fullscreen, .leaflet-control-zoom-fullscreen").count() >= 1
    assert p.page.locator(".leaflet-control-minimap").count() == 1
    assert p.page.locator(".leaflet-control-scale").count() == 1
    # the founding-year slider: present, spans founding and designation years, names the park in 1995
    slider = p.page.locator(".leaflet-timeline-control input.time-slider")
    assert slider.count() == 1
    assert int(slider.get_attribute("min")) <= 1995 <= int(slider.get_attribute("max"))
    slider.fill("1995")
    text = p.page.locator(".leaflet-timeline-control .time-text").inner_text()
    assert "1995" in text and "designated this year: " + PARK_A in text
    # moving the slider turned the founding-years layer on
    assert p.page.locator(".leaflet-control-layers-overlays label", has_text="Founding years").locator("input").is_checked()
    # the map is zoomed to the valley (about 0.12 degrees wide), not to the whole world
    zoom = p.page.evaluate("() => window[Object.keys(window).find(k => k.startsWith('map_'))].getZoom()")
    assert 11 <= zoom <= 15
    # the legend follows the layers: the LISA section appears when LISA is turned on
    legend = p.page.locator(".geo-legend")
    assert "High-High" not in legend.inner_text()
    p.page.locator(".leaflet-control-layers-overlays label", has_text="LISA clusters").locator("input").check()
    assert "LISA clusters" in legend.inner_text()
    p.shot("valley-A-lisa")
    assert p.errors == []
    p.page.close()


def test_valley_map_names_render_as_text_and_run_nothing(study, browser):
    _, out, _ = study
    p = Page(browser, out / "maps" / "A.html")
    assert p.xss() is None
    # hover a real firm marker of the optics layer first, as a user would
    p.page.evaluate("""() => {
        const map = window[Object.keys(window).find(k => k.startsWith('map_'))];
        map.setView([30.51, 114.42], 16);
    }""")
    p.page.wait_for_timeout(300)
    marker = p.page.locator(".folium-map > .leaflet-map-pane path.leaflet-interactive").last  # not the minimap's
    marker.hover(force=True)
    assert p.open_everything() > 400  # every firm, cell, cluster, park and founding-year circle
    for year in range(1990, 2024, 3):  # the slider writes the park names into its label
        p.page.locator(".leaflet-timeline-control input.time-slider").fill(str(year))
    assert p.xss() is None
    tips = p.page.locator(".leaflet-tooltip").all_inner_texts()
    for name in NASTY:
        assert any(name in t for t in tips), name  # shown literally
    assert any(PARK_A in t for t in tips)
    p.shot("valley-A-tooltips")
    assert p.errors == []
    p.page.close()


def test_small_valley_map_without_statistics(study, browser):
    res, out, _ = study
    assert res.valleys["B"].analysis.hotspots is None
    p = Page(browser, out / "maps" / "B.html")
    p.shot("valley-B")
    assert p.errors == []
    # no density stage ran: no density layer (the map computes none of its own), the legend says so
    assert p.overlays() == ["Parks", "Firms: optics", "Firms: all sectors", "Founding years (optics firms)"]
    p.open_everything()
    assert p.xss() is None
    legend = p.page.locator(".geo-legend").inner_text()
    assert "only 20 firms" in legend
    assert "Firm density (KDE, optics): no density grid in the results" in legend
    p.page.close()


# ----------------------------------------------------------------------------- the demo itself
def test_demo_report_and_maps_in_browser(demo_output, browser):
    """The demo's own outputs (firm names with <script>, <img onerror>) open cleanly, offline."""
    dialogs = []
    for rel in ("report.html", "maps/index.html", "maps/Wuhan.html"):
        p = Page(browser, demo_output / rel)
        p.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        if rel != "report.html":
            p.open_everything()
            assert "Founding years (optics firms)" in p.overlays() or rel.endswith("index.html")
        p.shot("demo-" + rel.replace("/", "-").replace(".html", ""))
        assert p.errors == [], (rel, p.errors)
        assert p.xss() is None
        p.page.close()
    assert dialogs == []  # no alert() from a firm name ran
    page = (demo_output / "report.html").read_text(encoding="utf-8")
    assert "SYNTHETIC DEMO DATA" in page


# ----------------------------------------------------------------------------- the demo report: the answer first, no sideways scroll, no raw keys
#: visible text tokens that look like code keys, outside <code>, <pre> and closed <details> (a summary is visible),
#: file names excepted
RAW_KEYS = """() => {
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const el = walk.currentNode.parentElement;
    if (!el || el.closest('code, pre, script, style') || !el.checkVisibility()) continue;
    const d = el.closest('details');
    if (d && !d.open && !el.closest('summary')) continue;
    const text = walk.currentNode.textContent;
    for (const m of text.matchAll(/[a-z]+_[a-z_]+/g)) {
      // a file name is not a key (the data-quality line names the firm table: firms_demo.csv)
      if (!/^[a-z0-9_]*\\.(csv|tsv|txt|gpkg|shp|geojson|tif|html|json|xlsx|parquet|toml|pbf)\\b/.test(text.slice(m.index))) out.push(m[0]);
    }
  }
  return out;
}"""


def _report(browser, path: Path, width: int):
    page = browser.new_page(viewport={"width": width, "height": 1000})
    page.route("http*://**", lambda route: route.abort())
    page.goto(path.as_uri(), wait_until="load")
    return page


def test_demo_report_answer_is_on_the_first_screen(demo_output, browser):
    """At 1400 px wide the answer (its sentences and the verdict table) ends within the first 1,000 px."""
    page = _report(browser, demo_output / "report.html", 1400)
    box = page.evaluate("""() => { const a = document.getElementById('answer'), t = a.querySelector('table.verdicts');
        return {end: a.getBoundingClientRect().bottom + window.scrollY, table: t.getBoundingClientRect().bottom + window.scrollY,
                height: document.scrollingElement.scrollHeight}; }""")
    assert box["table"] <= box["end"] <= 1000, box
    assert box["height"] > 3 * 1000  # the rest of the report follows
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-first-screen-1400.png"))
    page.close()


@pytest.mark.parametrize("width", [360, 400, 900, 1600])
def test_demo_report_does_not_scroll_sideways(demo_output, browser, width):
    """From 360 to 1600 px the page is never wider than the window; wide tables scroll inside their own container."""
    page = _report(browser, demo_output / "report.html", width)
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")  # the widest content too
    size = page.evaluate("() => ({scroll: document.scrollingElement.scrollWidth, inner: window.innerWidth})")
    assert size["scroll"] <= size["inner"], size
    if width <= 400:  # not vacuous: some tables are wider than the screen, and scroll in their box
        wider = page.evaluate("() => [...document.querySelectorAll('.scroll')].filter(e => e.scrollWidth > e.clientWidth).length")
        assert wider > 0
        # the verdict table of the first screen fits: its verdicts wrap rather than squeeze the park names
        fit = page.evaluate("() => { const t = document.querySelector('table.verdicts');"
                            " return [t.scrollWidth, t.parentElement.clientWidth]; }")
        assert fit[0] <= fit[1], fit
    page.close()


def test_demo_report_shows_no_raw_key(demo_output, browser):
    """No snake_case key (stage_median_age, main_cluster, …) in the text a reader sees without opening a details block."""
    page = _report(browser, demo_output / "report.html", 1400)
    assert page.evaluate(RAW_KEYS) == []
    page.evaluate("() => { const p = document.createElement('p'); p.textContent = 'stage_median_age'; document.body.append(p); }")
    assert page.evaluate(RAW_KEYS) == ["stage_median_age"]  # the scan does see one
    page.evaluate("() => { const p = document.createElement('p'); p.textContent = 'read my_firms.csv, then my_key'; "
                  "document.body.append(p); }")
    assert page.evaluate(RAW_KEYS) == ["stage_median_age", "my_key"]  # and tells a file name from a key
    page.close()
