"""geo.outputs._style (and geo._format beneath it): one way to write numbers and p-values."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest

from geo import _format
from geo.outputs import _style, maps
from geo.outputs import report as grep
from geo.outputs._write import safe_name
from geo.outputs.maps._html import _js


@pytest.mark.parametrize(
    ("p", "text", "phrase"),
    [
        (0.0, "< 1e-300", "p < 1e-300"),
        (np.float64(0.0), "< 1e-300", "p < 1e-300"),
        (5.284003596737212e-167, "5.28e-167", "p = 5.28e-167"),
        (2e-5, "2.00e-05", "p = 2.00e-05"),
        (0.0004, "0.0004", "p = 0.0004"),
        (0.022, "0.022", "p = 0.022"),
        (0.27104, "0.271", "p = 0.271"),
        (1.0, "1", "p = 1"),
        (None, "—", "p not computed"),
        (float("nan"), "—", "p not computed"),
        (pd.NA, "—", "p not computed"),
    ],
)
def test_p_values(p, text, phrase):
    assert _style.format_p(p) == _format.format_p(p) == text
    assert _style.p_phrase(p) == phrase
    assert grep._p(p) == html.escape(text)


@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [
        (12345, 4, "12,345"), (np.int64(7), 4, "7"), (3.0, 4, "3"), (0.72254667, 4, "0.7225"),
        (0.72254667, 3, "0.723"), (1234.56, 4, "1,234.6"), (123456.7, 4, "123,457"), (0.00025, 4, "2.500e-04"),
        (float("inf"), 4, "∞"), (-np.inf, 4, "−∞"), (True, 4, "yes"), (np.bool_(False), 4, "no"),
        (None, 4, "—"), (np.nan, 4, "—"), (pd.NA, 4, "—"), ("text", 4, "text"),
    ],
)
def test_numbers(value, digits, text):
    assert _style.format_number(value, digits=digits) == text


def test_shares_and_distances():
    assert _style.format_pct(0.1234) == "12.3 %" and _style.format_pct(np.nan) == "—"
    assert _style.format_distance(850.4) == "850 m" and _style.format_distance(12_345.0) == "12.35 km"


@pytest.mark.parametrize("missing", [None, float("nan"), np.float32("nan"), pd.NA, pd.NaT])
def test_every_formatter_writes_one_dash_for_a_missing_value(missing):
    """One rule for missing values (_format.missing_as_dash) in every formatter, and their
    docstring examples (the decorated functions keep their names and docstrings) run."""
    import doctest

    for f in (_format.format_p, _style.format_number, _style.format_pct, _style.format_distance):
        assert f(missing) == _format.MISSING == "—"
    assert _style.format_number(missing, decimals=3) == "—" and _style.format_pct(missing, 2) == "—"
    assert _style.format_pct.__name__ == "format_pct" and "percentage" in _style.format_pct.__doc__
    runner = doctest.DocTestRunner()
    for module in (_format, _style):
        for test in doctest.DocTestFinder().find(module):
            runner.run(test)
    assert runner.summarize(verbose=False).failed == 0 and runner.summarize(verbose=False).attempted >= 10


def test_one_p_value_text_in_every_output(demo_results, demo_output):
    """The demo's underflowed random-labelling p (exactly 0) reads ``< 1e-300`` in the verdict
    sentence (summary.json, notebook), in the report's park card and in the map's tooltip."""
    page = (demo_output / "report.html").read_text(encoding="utf-8")
    n_zero = 0
    for name, vr in demo_results.valleys.items():
        ov = vr.analysis.parks_overlay
        if ov is None:
            continue
        map_page = (demo_output / "maps" / f"{safe_name(name)}.html").read_text(encoding="utf-8")
        for _, row in ov.iterrows():
            p = row["p_labelling_fdr"]
            n_zero += p == 0
            # the verdict reads the labelling test's mid-p (it underflows where the exact p does)
            assert f"random labelling mid-{_style.p_phrase(row['p_labelling_mid_fdr'])} (FDR)" in row["verdict_reason"]
            assert (row["p_labelling_mid_fdr"] == 0) == (p == 0)
            assert html.escape(row["verdict_reason"]) in page
            assert f"<th>random labelling p, FDR-adjusted</th><td>{html.escape(_style.format_p(p))}</td>" in page
            # the map's tooltip quotes the p the verdict reads: the mid-p
            assert _js(f"labelling test (mid-p) {html.escape(_style.p_phrase(row['p_labelling_mid_fdr']))} (FDR)")[1:-1] in map_page
            assert not re.search(r"\bp = 0(?![.\d])", row["verdict_reason"])
    assert n_zero >= 1  # the demo has an exact test that underflows


# ----------------------------------------------------------------------------- one palette
def _palette_of_labels() -> dict[str, str]:
    """Legend text or verdict -> its colour in the palette."""
    out = dict(_style.VERDICT_COLOURS)
    out.update({_style.GI_LABELS[b]: c for b, c in _style.GI_COLOURS.items()})
    out.update({_style.LISA_LABELS[k]: c for k, c in _style.LISA_COLOURS.items()})
    return out


def _unjson(page: str) -> str:
    """The maps' HTML held in JSON strings (``\\u003c``, ``\\"``) as plain HTML."""
    return (page.replace("\\u003c", "<").replace("\\u003e", ">").replace("\\u0026", "&").replace('\\"', '"'))


def _report_colours(page: str) -> list[tuple[str, str]]:
    """(colour, text) of every verdict card and every colour-table row of the report."""
    css = dict(re.findall(r"\.(v-[a-z]+)\{color:(#(?:[0-9a-fA-F]{3}){1,2})\}", page))
    found = [(css[cls], html.unescape(text)) for cls, text in re.findall(r'<div class="verdict (v-[a-z]+)">([^<]+)</div>', page)]
    for row in re.findall(r"<tr>(.*?)</tr>", page):
        swatch = re.search(r"background:(#(?:[0-9a-fA-F]{3}){1,2})", row)
        if swatch:
            found += [(swatch.group(1), html.unescape(t)) for t in re.findall(r"<td>([^<]+)</td>", row)]
    return found


def _map_colours(page: str) -> list[tuple[str, str]]:
    """(colour, text) of every coloured verdict in a tooltip and every legend swatch of a map."""
    page = _unjson(page)
    found = re.findall(r'style="color:(#(?:[0-9a-fA-F]{3}){1,2})">([^<]+)</', page)
    found += re.findall(r'<span class="(?:sw|ln|dot)" style="(?:background|border-top-color):(#(?:[0-9a-fA-F]{3}){1,2});[^"]*"></span>([^<]+)</div>',
                        page)
    return [(c, html.unescape(t)) for c, t in found]


def test_every_output_colours_a_verdict_and_a_class_with_the_palette(demo_results, demo_output):
    palette = _palette_of_labels()
    seen: dict[str, set[str]] = {}
    outputs = {"report.html": _report_colours((demo_output / "report.html").read_text(encoding="utf-8"))}
    for path in sorted((demo_output / "maps").glob("*.html")):
        outputs[f"maps/{path.name}"] = _map_colours(path.read_text(encoding="utf-8"))
    for where, pairs in outputs.items():
        for colour, text in pairs:
            if text in palette:
                seen.setdefault(text, set()).add(colour.lower())
                assert colour.lower() == palette[text], (where, text, colour)
    verdicts = {v for vr in demo_results.valleys.values() if vr.analysis.parks_overlay is not None for v in vr.analysis.parks_overlay["verdict"]}
    assert verdicts and verdicts <= set(seen)  # every verdict of the demo was found coloured
    assert all(len(c) == 1 for c in seen.values()), seen  # one colour per verdict and class across the outputs
    assert {_style.GI_LABELS[3], _style.LISA_LABELS["HH"]} <= set(seen)


def test_outputs_use_the_palette_objects():
    from geo.outputs import figures as gfig

    for name in ("GI_COLOURS", "GI_LABELS", "LISA_COLOURS", "LISA_LABELS", "SECTOR_COLOURS"):
        assert getattr(gfig, name) is getattr(_style, name)
    for name in ("GI_COLOURS", "GI_LABELS", "LISA_COLOURS", "LISA_LABELS", "VERDICT_COLOURS", "SECTOR_COLOURS"):
        assert getattr(maps, name) is getattr(_style, name)
    from geo.parks.overlay import VERDICTS

    assert set(_style.VERDICT_COLOURS) == set(VERDICTS.values())
    assert _style.verdict_colour(None) == _style.verdict_colour("?") == _style.NO_VERDICT_COLOUR
    colours = [*_style.VERDICT_COLOURS.values(), _style.NO_VERDICT_COLOUR]
    assert len(set(colours)) == len(colours)


def test_the_target_sector_keeps_its_colour_in_every_study():
    # hand-made expectations: the target in TARGET_COLOUR, the others by their sorted rank among the others
    a = _style.sector_colours(["software", "optics", "food"], target="optics")
    assert a == {"food": _style.SECTOR_COLOURS[0], "optics": _style.TARGET_COLOUR, "software": _style.SECTOR_COLOURS[1]}
    b = _style.sector_colours(["aaa", "biotech", "zzz"], target="zzz")  # another study, the target sorted last
    assert b["zzz"] == _style.TARGET_COLOUR and b["aaa"] == _style.SECTOR_COLOURS[0] and b["biotech"] == _style.SECTOR_COLOURS[1]
    c = _style.sector_colours(["food"], target="optics")  # a target with no firms still has its colour
    assert c == {"food": _style.SECTOR_COLOURS[0], "optics": _style.TARGET_COLOUR}
    n = len(_style.SECTOR_COLOURS)
    d = _style.sector_colours([f"s{i:02d}" for i in range(n + 2)])  # no target: the palette cycles past its end
    assert d[f"s{n:02d}"] == _style.SECTOR_COLOURS[0] and d[f"s{n + 1:02d}"] == _style.SECTOR_COLOURS[1]
    assert _style.TARGET_COLOUR not in d.values()


def test_no_sector_colour_can_be_taken_for_the_target_a_hot_spot_or_a_marker_cluster():
    def rgb(c):
        return np.array([int(c[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)

    target, hot = rgb(_style.TARGET_COLOUR), [rgb(_style.GI_COLOURS[b]) for b in (1, 2, 3)]
    for c in _style.SECTOR_COLOURS:
        v = rgb(c)
        assert v.max() - v.min() > 60, c  # a clear hue: never one of the marker clusters' greys
        assert np.abs(v - target).max() > 60, c
        assert all(np.abs(v - h).max() > 60 for h in hot), c
    for halo, disc, text in _style.MARKER_CLUSTER_COLOURS.values():
        for css in (halo, disc):
            r, g, b = (float(x) for x in re.findall(r"[\d.]+", css)[:3])
            assert r == g == b, css
