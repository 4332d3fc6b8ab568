"""The report's text is words: no code name, snake_case key or Python repr outside <code>/<pre>.

The labels of the keys come from one dictionary (``geo.outputs._labels``); names the reader
types or looks up (config settings, columns, file and layer names) are shown as code.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: elements whose text is not prose: code, preformatted text, scripts and styles
_NOT_PROSE = {"code", "pre", "script", "style", "svg", "template"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
SNAKE = re.compile(r"\b[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+\b")
#: a file name is allowed in prose (firms_demo.csv, layers.gpkg): the snake_case token before its extension
FILE = re.compile(r"\.(?:csv|tsv|txt|gpkg|shp|shx|dbf|geojson|tif|html|json|xlsx|parquet|toml|pbf)\b")
REPR = re.compile(r"\{'|\['|\{\"|\bnan\b|\bNaN\b|\bNone\b|\bTrue\b|\bFalse\b|<NA>|\bNaT\b|\barray\(|\bdtype\b|\bnp\.|\bnumpy\.")


class _Prose(HTMLParser):
    """The text of a page outside the elements of :data:`_NOT_PROSE` (every <details> counts, open or not)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in _VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if tag in self.open:
            while self.open.pop() != tag:
                pass

    def handle_data(self, data):
        if not _NOT_PROSE.intersection(self.open):
            self.texts.append(data)


def raw_strings(page: str) -> list[str]:
    """Every snake_case token or Python repr in the prose of ``page``, with 50 characters around it."""
    parser = _Prose()
    parser.feed(page)
    found = []
    for text in parser.texts:
        for m in [*SNAKE.finditer(text), *REPR.finditer(text)]:
            if m.re is SNAKE and FILE.match(text, m.end()):
                continue
            found.append(text[max(0, m.start() - 50):m.end() + 50].strip())
    return found


def test_the_detector_finds_what_it_should_and_spares_code():
    page = ("<p>rows: n_rows_read</p><table><tr><td>{'no pattern': 3}</td><td>nan</td><td>None</td></tr></table>"
            "<details><summary>x</summary><p>stack_policy = drop</p></details>"
            "<p>set <code>[firms] closed_column</code>; see <code>layers.gpkg</code></p><pre>a_b = True</pre>"
            "<script>var a_b = null;</script><p>Nothing here: optics firms, Gi* ≥ 95 %, 1,234 rows, firms_demo.csv.</p>"
            "<p>but a_b.c is code</p>")
    found = raw_strings(page)
    assert len(found) == 6
    assert [f for f in found if "closed_column" in f or "a_b = True" in f or "var a_b" in f or "Nothing" in f] == []
    assert "but a_b.c is code" in found  # only a file's extension makes a name allowed


def test_the_demo_report_shows_no_raw_strings(demo_output):
    """The rendered demo report: every <details> included, no snake_case key, code name or Python repr in its prose."""
    page = (demo_output / "report.html").read_text(encoding="utf-8")
    assert page.count("<details") > 20  # the collapsed sections are read too
    assert raw_strings(page) == []
    # the options are stated in words too, even where they were code before
    assert "FDR yes" in page and "with-replacement approximation" in page and "exact_wr" not in page
    assert "= True" not in page and "<code></code>" not in page
    # a year is written as a year, a cluster as C<id>, wherever the park card shows one
    from geo.outputs._labels import PARK_RESULTS

    years = [re.findall(rf"<th>{re.escape(lab.text)}</th><td>([^<]*)</td>", page) for lab in PARK_RESULTS.values() if lab.unit == "year"]
    assert [v for found in years for v in found if not re.fullmatch(r"\d{4}|—", v)] == []
    assert sum(map(len, years)) >= 4
    clusters = re.findall(rf"<th>{re.escape(PARK_RESULTS['main_cluster'].text)}</th><td>([^<]*)</td>", page)
    assert clusters and all(re.fullmatch(r"C\d+|—", v) for v in clusters)


@pytest.mark.parametrize("kind", ["points", "osm", "overture", "park_points", "catalogue", "units"])
def test_the_example_reports_show_no_raw_strings(kind, tmp_path):
    """The other input kinds (data/examples/): their load-report entries, skipped stages and inputs in words too
    (the given units' report is its own page: geo.outputs.units)."""
    import geo
    from geo.outputs import report

    res = geo.run(ROOT / "data" / "examples" / kind / "config.toml")
    if kind == "units":
        page = res.write(tmp_path)["report"].read_text(encoding="utf-8")
    else:
        page = report.write_report(res, tmp_path, figures={}).read_text(encoding="utf-8")
    assert "Stages not run" in page  # the examples are small: some stages do not run, and say why
    assert raw_strings(page) == []
    if kind in ("osm", "overture"):
        assert "Other entries of the load report" in page and "open map data source</th><td>O" in page


def test_load_report_labels_match_the_schema_doc():
    """Every key of summary.json["load"] in the doc has a label in words, and no label is undocumented."""
    from geo.outputs import _labels

    doc = (ROOT / "docs" / "summary_schema.md").read_text(encoding="utf-8")
    section = doc.split("## `load`", 1)[1].split("\n#", 1)[0]
    documented = {key for line in section.splitlines() if line.startswith("| `")
                  for key in re.findall(r"`([^`]+)`", line.split("|")[1])}
    assert documented == set(_labels.LOAD_REPORT)
    assert [lab.text for lab in _labels.LOAD_REPORT.values() if SNAKE.search(lab.text)] == []


def test_load_report_keys_of_the_demo_are_labelled(demo_results):
    from geo.outputs import _labels

    assert set(demo_results.load_report) <= set(_labels.LOAD_REPORT)
    assert _labels.label("open_ways_skipped", table="load") == "open OpenStreetMap ways skipped"


def test_words_put_the_stages_code_names_in_words():
    from geo.cells.grid import _AUTO_RULE
    from geo.outputs._labels import words
    from geo.parks.models import _model_rules

    assert SNAKE.search(_AUTO_RULE) and not SNAKE.search(words(_AUTO_RULE))
    assert "the number of cells the study area holds lies in [30, 100000]" in words(_AUTO_RULE)
    th = {"outside_share": 0.4, "anchor_clq": 1.5, "rd_ratio": 1.5, "min_firms": 20, "foreign_share": 0.3, "foreign_ratio": 1.5}
    rules = _model_rules(th, 2000.0)
    assert [k for k, text in rules.items() if SNAKE.search(words(text)) or re.search(r"\b(True|False)\b", words(text))] == []
    assert words("dbscan (eps = 500 m, min_samples = 20)") == "DBSCAN (radius = 500 m, minimum firms around a core point = 20)"
    assert words("n_firms_total") == "n_firms_total"  # only whole names are replaced
    from geo.outputs._labels import stage_label

    assert stage_label("colocation[anchors]") == "co-location: anchors" and stage_label("ripley_k") == "Ripley's K"
    assert stage_label("optics → food") == "optics → food" and stage_label("new_stage") == "new stage"


def test_prose_puts_code_in_code_and_escapes_the_rest():
    from geo.outputs.report._data import _entry, _problem
    from geo.outputs.report._html import _counts, _prose

    html = _prose('120 firms of 武汉_firms.csv (drop_stacked = "sensitivity"); [firms] closed_column; shapely.make_valid <b>')
    assert html == ('120 firms of <code>武汉_firms.csv</code> (<code>drop_stacked = &quot;sensitivity&quot;</code>); '
                    "<code>[firms] closed_column</code>; <code>shapely.make_valid</code> &lt;b&gt;")
    assert _prose("the firm table has no `rd_flag` column") == "the firm table has no <code>rd_flag</code> column"
    assert _counts({"no pattern": 244, "sporadic_hot_spot": 6}) == "no pattern 244 · sporadic hot spot 6"
    assert _problem("Self-intersection[114.172 30.5]") == "self-intersection at 114.172, 30.5"
    assert _problem("Ring Self-intersection") == "Ring Self-intersection"
    extra = [{"valley": "Hsinchu", "file": "/d/hsinchu_firms.csv", "rows_read": 1200, "rows_kept": 1190, "rows_rejected": 10}]
    assert _entry(extra) == "Hsinchu: <code>/d/hsinchu_firms.csv</code>, 1,200 rows read, 1,190 kept, 10 rejected"
    assert _entry({"ict": 12, "craft": 3}) == "ict 12 · craft 3" and _entry(True) == "yes"
    assert raw_strings(f"<p>{_entry([114.1, 114.5, 30.2, 30.6])}</p>") == []


def test_size_rule_labels_match_the_schema_doc():
    """The inputs of the automatic cell size the doc lists are those the report labels, in words and with a unit."""
    from geo.outputs import _labels
    from geo.outputs.report._valleys import _rule_input

    doc = (ROOT / "docs" / "summary_schema.md").read_text(encoding="utf-8")
    (row,) = [line for line in doc.split("### `valleys.<name>.grid`", 1)[1].split("\n#", 1)[0].splitlines()
              if line.startswith("| `size_rule`")]
    documented = set(re.findall(r"`([^`]+)`", row.split("|", 4)[3])) - {"rule", "null", '"min"', '"max"', '"cells"'}
    assert documented == set(_labels.SIZE_RULE)
    assert _rule_input("extent_area_m2", 1_579_740_690.0) == "area the size was chosen on 1,579.7 km²"
    assert _rule_input("clamped", "min") == "clamped to the smallest size"
    assert _rule_input("raw_size_m", 576.0) == "size by the rule, before clamping 576 m"
    assert _rule_input("new_input", 3) == "<code>new_input = 3</code>"
