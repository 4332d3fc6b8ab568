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


def test_one_p_value_text_in_every_output(demo_results, demo_output):
    """The demo's underflowed random-labelling p (exactly 0) reads ``< 1e-300`` in the verdict
    sentence (summary.json, notebook), in the report's park card and in the map's tooltip."""
    page = (demo_output / "report.html").read_text(encoding="utf-8")
    n_zero = 0
    for name, vr in demo_results.valleys.items():
        ov = vr.stages.get("parks_overlay")
        if ov is None:
            continue
        map_page = (demo_output / "maps" / f"{safe_name(name)}.html").read_text(encoding="utf-8")
        for _, row in ov.iterrows():
            p = row["p_labelling_fdr"]
            n_zero += p == 0
            assert f"random labelling {_style.p_phrase(p)} (FDR)" in row["verdict_reason"]
            assert html.escape(row["verdict_reason"]) in page
            assert f"<th>random labelling p, FDR-adjusted</th><td>{html.escape(_style.format_p(p))}</td>" in page
            assert maps._js(f"labelling test {html.escape(_style.p_phrase(p))} (FDR)")[1:-1] in map_page
            assert not re.search(r"\bp = 0(?![.\d])", row["verdict_reason"])
    assert n_zero >= 1  # the demo has an exact test that underflows
