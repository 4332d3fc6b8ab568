"""The HTML report and its figures, on a small self-made study (3 valleys, 3 parks).

The study plants, in valley A, a cluster of target-sector firms founded after its park's
designation and a second cluster outside any park; in valley B a cluster founded before its
park's designation; valley C has too few firms for the statistics.  Park, valley, run and
sector names carry HTML/JS injection attempts.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import geo
from geo.io.firms import REJECT_REASONS
from geo.outputs import figures as gfig
from geo.outputs import report as grep
from geo.outputs._write import safe_name

XSS_PARK = "<img src=x onerror=alert(1)>"
XSS_PARK2 = "</script><script>alert(2)</script>"
XSS_FIRM = "<img src=x onerror=alert(3)> </script>"
XSS_VALLEY = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
TARGET = "opt<b>ics</b>"
RUN_TITLE = 'Test <study> & "co"'
ROOT = Path(__file__).resolve().parents[1]


def _make_study(tmp: Path) -> Path:
    rng = np.random.default_rng(7)
    rows = []

    def add(n, valley, lon0, lat0, spread, sector, years, uniform=False):
        if uniform:
            lon, lat = lon0 + rng.uniform(-spread, spread, n), lat0 + rng.uniform(-spread, spread, n)
        else:
            lon, lat = lon0 + rng.normal(0, spread, n), lat0 + rng.normal(0, spread, n)
        sec = np.full(n, sector, dtype=object) if isinstance(sector, str) else rng.choice(sector, n)
        for i in range(n):
            rows.append((valley, lon[i], lat[i], sec[i], int(rng.integers(*years))))

    add(300, "A", 114.40, 30.50, 0.06, [TARGET, "food", "textiles"], (1980, 2024), uniform=True)
    add(90, "A", 114.38, 30.48, 0.003, TARGET, (1995, 2024))  # in park A, after its designation (1991)
    add(60, "A", 114.44, 30.54, 0.003, TARGET, (1980, 2024))  # outside any park
    add(250, "B", 125.30, 43.86, 0.06, [TARGET, "food"], (1980, 2024), uniform=True)
    add(80, "B", 125.30, 43.86, 0.003, TARGET, (1980, 1999))  # in park B, before its designation (2000)
    add(20, "C", 120.0, 36.0, 0.01, [TARGET, "food"], (1980, 2024))  # too few firms for statistics
    df = pd.DataFrame(rows, columns=["valley", "lon", "lat", "sector", "founded"])
    df.insert(0, "firm_id", [f"F{i}" for i in range(len(df))])
    df.insert(1, "name", [XSS_FIRM if i % 7 == 0 else f"Firm {i}" for i in range(len(df))])
    df.loc[3, "lon"] = np.nan  # one rejected row
    df.to_csv(tmp / "firms.csv", index=False)
    parks = gpd.GeoDataFrame(
        {"name": [XSS_PARK, XSS_PARK2, "Park B"], "valley": ["A", "A", "B"], "designated": [1991, None, 2000]},
        geometry=[shapely.box(114.37, 30.47, 114.39, 30.49), shapely.box(114.33, 30.44, 114.35, 30.46),
                  shapely.box(125.29, 43.85, 125.31, 43.87)],
        crs=4326,
    )
    parks.to_file(tmp / "parks.gpkg")
    valley_title = XSS_VALLEY.replace('"', '\\"')
    cfg = tmp / "study.toml"
    cfg.write_text(
        f"[run]\ntitle = '{RUN_TITLE}'\nseed = 1\n"
        "[firms]\npath = 'firms.csv'\n[parks]\npath = 'parks.gpkg'\n"
        f"[analysis]\ntarget_sector = '{TARGET}'\npermutations = 99\nkd_simulations = 19\nripley_simulations = 19\n"
        f'[[valleys]]\nname = "A"\ntitle = "{valley_title}"\n[[valleys]]\nname = "B"\n[[valleys]]\nname = "C"\n',
        encoding="utf-8",
    )
    return cfg


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    res = geo.run(_make_study(tmp))
    figs = gfig.report_figures(res)
    out = tmp / "out"
    path = grep.write_report(res, out, figures=figs)
    return {"res": res, "figs": figs, "out": out, "path": path, "page": path.read_text(encoding="utf-8")}


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Tags:
    p = _Tags()
    p.feed(page)
    return p


def _with_synthetic(res, flag: bool):
    cfg = res.config
    return dataclasses.replace(res, config=dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, synthetic=flag)))


# ----------------------------------------------------------------------------- the file
def test_report_and_figures_written(study):
    out, path = study["out"], study["path"]
    assert path == out / "report.html" and path.is_file()
    written = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert written == sorted(study["figs"])
    for name in written:
        assert (out / "figures" / name).read_bytes() == study["figs"][name]
    assert not [p for p in out.rglob(".*") if p.is_file()], "temporary files left behind"
    # the figures every valley with statistics must have, and none for the valley without
    for v in ("A", "B"):
        for kind in ("gi", "lisa", "moran"):
            assert gfig.figure_name(v, kind) in study["figs"]
    assert not [n for n in study["figs"] if n.startswith("C_")]
    # a park with a designation year has its entries chart and before/after map; one without has none
    res = study["res"]
    for name, vr in res.valleys.items():
        ov = vr.analysis.parks_overlay
        for idx, row in ([] if ov is None else ov.iterrows()):
            has_year = not pd.isna(row["designated"])
            assert (gfig.figure_name(name, "entries", idx) in study["figs"]) == has_year
            assert (gfig.figure_name(name, "before", idx) in study["figs"]) == has_year


def test_self_contained(study):
    page = study["page"]
    tags = _parse(page).tags
    for tag, attrs in tags:
        if tag in ("script", "link", "img", "iframe", "source", "embed", "object", "video", "audio", "image"):
            for key in ("src", "href", "data"):
                val = attrs.get(key) or ""
                assert not re.match(r"\s*(https?:)?//", val), f"external resource in <{tag} {key}={val[:60]}>"
    assert "<script" not in page.lower()  # no JavaScript at all
    assert "<link" not in page.lower()
    assert "@import" not in page and "url(" not in page
    # links to the maps are relative and point at the files write_maps makes
    hrefs = {a.get("href") for t, a in tags if t == "a"}
    expected = {"maps/index.html"} | {f"maps/{safe_name(n)}.html" for n, vr in study["res"].valleys.items() if len(vr.firms)}
    assert expected <= hrefs
    assert not [h for h in hrefs if h and "://" in h]
    # every table-of-contents entry points at an existing anchor, and anchors are unique
    ids = [a["id"] for _, a in tags if "id" in a]
    assert len(ids) == len(set(ids))
    toc = [h[1:] for h in hrefs if h and h.startswith("#")]
    assert toc and set(toc) <= set(ids)


def test_figures_embedded_as_data_uris(study):
    imgs = [a["src"] for t, a in _parse(study["page"]).tags if t == "img"]
    assert imgs and all(s.startswith("data:image/png;base64,") for s in imgs)
    decoded = sorted(base64.b64decode(s.split(",", 1)[1]) for s in imgs)
    assert decoded == sorted(study["figs"].values())
    for png in decoded:
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"matplotlib" not in png.lower()  # no Software/version metadata


def test_banner_present_iff_synthetic(study):
    res, figs = study["res"], study["figs"]
    assert not res.synthetic
    assert grep.SYNTHETIC_BANNER not in study["page"]
    page = grep.render_report(_with_synthetic(res, True), figures=figs)
    assert page.count(grep.SYNTHETIC_BANNER) == 1
    assert page.index(grep.SYNTHETIC_BANNER) < page.index("<h1>")
    assert "synthetic demo data" in " ".join(_with_synthetic(res, True).answer.sentences).lower()
    assert "synthetic demo data" not in " ".join(res.answer.sentences).lower()


def test_sections_present(study):
    page = study["page"]
    for title in ("Answer to the research question", "Data quality", "Firm table", "Park boundaries", "Warnings",
                  "Valleys: global and local statistics", "Parks versus clusters", "Tests and their null hypotheses",
                  "Verdict rules", "Interactive maps and other outputs", "Run and parameters", "Colours and conventions",
                  "Global Moran's I", "Gi* hot and cold spots (cells per bin)", "Cluster polygons", "Contents"):
        assert title in page, title
    # the optional sections appear iff the results hold their data
    res = study["res"]
    assert ("Valley comparison" in page) == (res.comparison is not None)
    has_pp = any(getattr(vr.analysis, k) is not None for vr in res.valleys.values() for k in ("kd", "ripley"))
    assert ("Point patterns" in page) == has_pp


def test_numbers_in_the_report(study):
    res, page = study["res"], study["page"]
    lr = res.load_report
    assert f"<th>rows read</th><td>{lr['rows_read']:,}</td>" in page
    assert f"<th>rows rejected</th><td>{lr['rows_rejected']:,}</td>" in page
    for reason, n in lr["rejected_by_reason"].items():
        assert f"<td>{html.escape(REJECT_REASONS[reason])}</td><td class=\"num\">{n:,}</td>" in page
    assert f"geo version</th><td>{geo.__version__}" in page
    assert "/study.toml" in page  # config source path
    for name, vr in res.valleys.items():
        if vr.analysis.global_moran is None:
            continue
        for label, gm in vr.analysis.global_moran.items():
            rows = re.findall(rf"<tr><td>{re.escape(html.escape(label))}</td>(.*?)</tr>", page)
            cells = f'<td class="num">{grep._num(gm.I)}</td><td class="num">{grep._num(gm.EI)}</td>'
            assert any(r.startswith(cells) and f">{grep._p(gm.p_sim)}<" in r for r in rows), (name, label)
        hot = vr.analysis.hotspots
        n_hot3 = int((hot["gi_bin"] == 3).sum())
        assert f"<td>Hot spot, 99 % confidence</td><td class=\"num\">{n_hot3:,}</td>" in page
        assert f"<th>cells</th><td>{len(vr.analysis.cells):,}</td>" in page
        assert f"<th>metric CRS</th><td>{vr.metric_crs}</td>" in page


def test_park_verdicts_numbers_and_nulls(study):
    res, page = study["res"], study["page"]
    n = 0
    for vr in res.valleys.values():
        ov = vr.analysis.parks_overlay
        if ov is None:
            continue
        for _, row in ov.iterrows():
            n += 1
            assert html.escape(row["verdict"]) in page
            assert html.escape(row["verdict_reason"]) in page
            assert f"<td>{grep._p(row['p_labelling'])}</td>" in page
            assert (f"<th>random labelling mid-p, FDR-adjusted</th>"
                    f"<td>{grep._p(row['p_labelling_mid_fdr'])}</td>") in page
            assert f"<td>{grep._p(row['p_placement_fdr'])}</td>" in page
        for text in vr.analysis.park_nulls.values():
            assert html.escape(text.split(": ", 1)[-1]) in page
        for rule in vr.analysis.park_rules.values():
            assert html.escape(rule) in page
    assert n == 3
    # each verdict in large type inside its park card
    assert page.count('<div class="verdict ') == n


def test_point_patterns_say_which_firms_were_analysed(study):
    res, page = study["res"], study["page"]
    seen = 0
    for vr in res.valleys.values():
        kd, rk = vr.analysis.kd, vr.analysis.ripley
        if kd is not None:
            assert kd.exact  # the study's sectors fit the run's budget
            seen += 1
        if rk is not None:
            assert vr.analysis.ripley_test["exact"]
    assert seen and page.count("<th>firms analysed</th><td>all (exact)</td>") == seen
    assert grep._analysed(2000, 15650, 0.0213) == "a random subsample of 2,000 of 15,650; estimated relative error 2.1 %"


def test_names_from_the_data_are_escaped(study):
    page = study["page"]
    for raw in (XSS_PARK, XSS_PARK2, XSS_VALLEY, TARGET, RUN_TITLE):
        assert raw not in page, raw
        assert html.escape(raw, quote=True) in page
    assert not re.search(r"<[^>]*onerror", page, flags=re.I)
    assert "<b>ics</b>" not in page
    # the figures draw such names as plain text, and a name with `$` does not break mathtext
    assert XSS_FIRM not in page  # firm names never reach the report


def test_answer_states_the_counts(study):
    res, page = study["res"], study["page"]
    ans = res.answer
    from geo.parks.overlay import VERDICTS

    expected = {v: 0 for v in VERDICTS.values()}
    for vr in res.valleys.values():
        ov = vr.analysis.parks_overlay
        for v in ([] if ov is None else ov["verdict"]):
            expected[v] += 1
    assert ans.verdict_counts == expected and list(ans.verdicts) == list(VERDICTS.values())
    assert ans.n_parks == len(res.parks)
    n_clusters = sum(len(vr.analysis.clusters) for vr in res.valleys.values() if vr.analysis.clusters is not None)
    outside = [vr.analysis.clusters_outside_parks for vr in res.valleys.values() if vr.analysis.clusters_outside_parks is not None]
    assert ans.n_clusters == n_clusters and ans.n_clusters_outside_parks == sum(len(o) for o in outside)
    large = sum(int((o["n_target"] >= ans.min_cluster_firms).sum()) for o in outside)
    assert ans.n_large_clusters_outside_parks == large
    assert (any("not a precondition" in s for s in ans.conclusions)) == (large > 0)
    assert f"Of {ans.n_parks} parks" in page
    assert f"{ans.n_clusters_outside_parks} of {ans.n_clusters} cluster" in page
    for lst in ans.verdicts.values():
        for _, park in lst:
            assert html.escape(park) in page


def test_missing_stages_explained(study):
    page, res = study["page"], study["res"]
    assert res.valleys["C"].skipped["statistics"]
    assert html.escape(res.valleys["C"].skipped["statistics"]) in page
    assert "No park tests: no parks in this valley." in page
    assert "no designation year: precedence test skipped" in page
    assert 'class="skipped"><b>Stages not run</b>' in page


def test_optional_sections_appear_with_their_data(study):
    res = study["res"]
    vb = res.valleys["B"]
    r = np.linspace(0, 5000, 51)
    kd_curve = pd.DataFrame({"r": r, "kd": np.exp(-r / 1500) / 1500, "lo": np.full(51, 1e-4), "hi": np.full(51, 2e-4),
                             "global_lo": np.full(51, 5e-5), "global_hi": np.full(51, 3e-4)})
    l_table = pd.DataFrame({"r": r, "L": r * 1.2, "L_lo": r * 0.9, "L_hi": r * 1.1})
    bare = dataclasses.replace(vb.analysis, kd=None, ripley=None)
    res0 = dataclasses.replace(res, valleys={"B": dataclasses.replace(vb, analysis=bare)}, comparison=None)
    page0 = grep.render_report(res0, figures={})
    assert "Valley comparison" not in page0 and "Point patterns" not in page0
    vb2 = dataclasses.replace(vb, analysis=dataclasses.replace(bare, kd={TARGET: kd_curve}, ripley=l_table))
    from geo.parks.compare import ValleyComparison

    cmp = ValleyComparison(table=pd.DataFrame({"valley": ["B", XSS_PARK], "gini": [0.3, 0.4]}), krugman=pd.DataFrame(),
                           lq=pd.DataFrame(), stock_by_year=pd.DataFrame(columns=["valley", "year", "stock"]),
                           kd={XSS_PARK: {"optics": XSS_PARK}}, notes={"rd": XSS_PARK}, target_sector=XSS_PARK)
    res2 = dataclasses.replace(res, valleys={"B": vb2}, comparison=cmp)
    errors: dict[str, str] = {}
    figs = gfig.report_figures(res2, errors=errors)
    assert not errors
    assert gfig.figure_name("B", f"kd_{TARGET}") in figs and gfig.figure_name("B", "l") in figs
    page = grep.render_report(res2, figures=figs)
    assert "Valley comparison" in page and "Point patterns" in page
    assert XSS_PARK not in page and html.escape(XSS_PARK) in page
    assert "<td class=\"num\">0.4</td>" in page


def test_figure_failure_is_reported_not_fatal(study, monkeypatch):
    res = study["res"]
    res2 = dataclasses.replace(res, valleys={"A": res.valleys["A"]})

    def broken(*args, **kwargs):
        raise RuntimeError("no <canvas> today")

    monkeypatch.setattr(gfig, "gi_map", broken)
    errors: dict[str, str] = {}
    figs = gfig.report_figures(res2, errors=errors)
    name = gfig.figure_name("A", "gi")
    assert list(errors) == [name] and name not in figs and gfig.figure_name("A", "lisa") in figs
    page = grep.render_report(res2, figures=figs, figure_errors=errors)
    assert "could not be drawn: RuntimeError: no &lt;canvas&gt; today" in page
    with pytest.raises(RuntimeError, match="canvas"):
        gfig.report_figures(res2)


def test_figures_drawn_by_worker_processes_are_identical(study, monkeypatch, owner):
    import os

    res = dataclasses.replace(study["res"], valleys={"A": study["res"].valleys["A"]})
    every = gfig._figure_tasks
    keep = {gfig.figure_name("A", k) for k in ("gi", "kd", "l")} | {"comparison_stock.png"}  # four, to be quick
    monkeypatch.setattr(gfig, "_figure_tasks", lambda r: [t for t in every(r) if t[0] in keep])
    serial = gfig.report_figures(res, workers=1)
    parallel = gfig.report_figures(res, workers=2)
    assert list(parallel) == list(serial) and parallel == serial and len(serial) >= 4
    # failures are reported alike; and the figures really are drawn by other processes
    monkeypatch.setattr(gfig, "gi_map", lambda *a, **k: (_ for _ in ()).throw(ValueError("bad <gi>")))
    monkeypatch.setattr(gfig, "kd_chart", lambda *a, **k: str(os.getpid()).encode())
    errs1, errs2 = {}, {}
    one, two = gfig.report_figures(res, errors=errs1, workers=1), gfig.report_figures(res, errors=errs2, workers=2)
    assert errs1 == errs2 == {gfig.figure_name("A", "gi"): "ValueError: bad <gi>"}
    kd = gfig.figure_name("A", "kd")
    assert one[kd] == str(os.getpid()).encode() and two[kd] != one[kd]
    assert {k: v for k, v in one.items() if k != kd} == {k: v for k, v in two.items() if k != kd}
    with pytest.raises(ValueError, match="bad <gi>"):
        gfig.report_figures(res, workers=2)


def test_report_is_deterministic(study, tmp_path):
    """A second write (figures recomputed) gives byte-identical files."""
    path = grep.write_report(study["res"], tmp_path)
    assert path.read_bytes() == study["path"].read_bytes()
    for name, png in study["figs"].items():
        assert (tmp_path / "figures" / name).read_bytes() == png


# ----------------------------------------------------------------------------- figure helpers
def test_entries_per_year_by_hand():
    t = gfig.entries_per_year([2000, 2001, 2001, np.nan, 2003], [True, False, True, True, False])
    assert t.index.tolist() == [2000, 2001, 2002, 2003]
    assert t["inside"].tolist() == [1, 1, 0, 0] and t["outside"].tolist() == [0, 1, 0, 1]
    t = gfig.entries_per_year([1999, 2005], [True, False], first=2000, last=2004)
    assert t.index.tolist() == list(range(2000, 2005)) and t.to_numpy().sum() == 0


def test_entries_chart_counts_match_the_overlay(study):
    """The chart's yearly counts add up to the entry counts of the precedence test."""
    res = study["res"]
    checked = 0
    for vr in res.valleys.values():
        ov = vr.analysis.parks_overlay
        for idx, row in ([] if ov is None else ov.iterrows()):
            if pd.isna(row["designated"]):
                continue
            founded, inside, _ = gfig.park_entries(res, vr, idx)
            t = gfig.entries_per_year(founded, inside)
            pre = t.index < int(row["designated"])
            assert t["inside"][pre].sum() == row["entries_in_before"]
            assert t["inside"][~pre].sum() == row["entries_in_after"]
            assert t["outside"][pre].sum() == row["entries_out_before"]
            assert t["outside"][~pre].sum() == row["entries_out_after"]
            checked += 1
    assert checked == 2


def test_moran_scatter_slope_is_morans_i(study):
    """The scatterplot's lag: least-squares slope through the origin equals the global Moran's I."""
    res = study["res"]
    for vr in res.valleys.values():
        if vr.analysis.global_moran is None:
            continue
        cells, graph = vr.analysis.cells, vr.analysis.graph
        for label, col in gfig._variable_columns(vr).items():
            z, lag = gfig._row_standardised_lag(cells[col], graph)
            assert float(z @ lag / (z @ z)) == pytest.approx(vr.analysis.global_moran[label].I, rel=1e-9)


def test_maps_are_deterministic_and_accept_awkward_names(study):
    vr = study["res"].valleys["A"]
    hot = vr.analysis.hotspots
    parks = vr.parks.copy()
    parks["name"] = ["cost $5 & $x^", "a_b $\\frac{1}{"]  # unbalanced mathtext would raise if parsed
    one = gfig.gi_map(hot, parks, clusters=vr.analysis.clusters, title="$broken {")
    two = gfig.gi_map(hot, parks, clusters=vr.analysis.clusters, title="$broken {")
    assert one == two and one[:8] == b"\x89PNG\r\n\x1a\n"
    assert gfig.lisa_map(hot, parks, title="$") [:8] == b"\x89PNG\r\n\x1a\n"
    # a map without parks or clusters, and a hotspot table with no significant cell, still draws
    flat = hot.assign(gi_bin=0, lisa_label="ns")
    assert gfig.gi_map(flat)[:8] == b"\x89PNG\r\n\x1a\n"


def test_palettes_are_complete():
    assert sorted(gfig.GI_COLOURS) == [-3, -2, -1, 0, 1, 2, 3] == sorted(gfig.GI_LABELS)
    assert set(gfig.LISA_COLOURS) == {"HH", "LL", "LH", "HL", "ns"} == set(gfig.LISA_LABELS)
    assert len(set(gfig.GI_COLOURS.values())) == 7


# ----------------------------------------------------------------------------- summary.json schema doc
def test_schema_doc_mentions_every_summary_key(study):
    doc = (ROOT / "docs" / "summary_schema.md").read_text(encoding="utf-8")
    s = study["res"].summary()

    def missing(keys):
        return sorted(k for k in keys if f"`{k}`" not in doc)

    assert missing(s) == []
    assert missing(s["answer"]) == []
    assert "## `answer`" in doc
    assert missing(s["config"]) == []
    assert missing(s["load"]) == []
    assert missing(s["parks_load"]) == []
    assert missing(s["config"]["analysis"]) == []
    if s["comparison"] is not None:
        assert missing(s["comparison"]) == []
        row = s["comparison"]["table"][0]
        generic = {k for k in row if re.match(r"comp_(share|lq)_|tech_.*_per_firm", k) and k != "comp_lq_target"}
        assert missing(set(row) - generic) == []
    for v in s["valleys"].values():
        assert missing(v) == []
        if "grid" in v:
            assert missing(v["grid"]) == [] and missing(v["grid"]["size_rule"]) == []
            assert missing(v["hotspots"]) == [] and missing(v["hotspots"]["parameters"]) == []
            for gm in v["global_moran"].values():
                assert missing(gm) == []
            for c in v["clusters"]:
                assert missing(c) == []
        for key in ("kd", "ripley"):
            if key in v:
                assert missing(v[key]) == []
        if v.get("park_rules"):
            for p in v["park_results"]:
                assert missing(p) == []
            assert missing(v["park_rules"]) == [] and missing(v["park_nulls"]) == []


# ----------------------------------------------------------------------------- in a browser
def test_report_in_headless_chromium(study, tmp_path):
    """The page renders in Chromium and the injected handlers do not run."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no Chromium on this machine: the browser check needs /usr/bin/chromium (apt-get install chromium)")
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000", "--dump-dom",
           study["path"].as_uri()]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("Chromium did not finish within 60 s: an injected alert() dialog blocks headless Chromium")
    dom = done.stdout
    assert "Answer to the research question" in dom, done.stderr[-2000:]
    assert 'data-pwned="1"' not in dom  # the valley title's onerror handler did not run
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom  # shown as text
    assert "<img src=\"x\"" not in dom


def test_relative_links_resolve_next_to_the_other_outputs(study, tmp_path):
    """Written beside Results.write's outputs, every relative link of the report points at a file."""
    study["res"].write(tmp_path)
    path = grep.write_report(study["res"], tmp_path, figures=study["figs"])
    hrefs = {a["href"] for t, a in _parse(path.read_text(encoding="utf-8")).tags if t == "a" and "href" in a}
    files = [h for h in hrefs if not h.startswith("#")]
    assert {"maps/index.html", "summary.json", "rejects.csv"} <= set(files)
    assert [h for h in files if not (tmp_path / h).is_file()] == []


def _answer_block(page: str) -> tuple[str, list[str], list[list[str]]]:
    """The report's opening answer: the paragraph of facts, the conclusions, the verdict table's rows."""
    section = page.split("Answer to the research question</h2>", 1)[1]
    block = re.search(r'<div class="answer"><p>(.*?)</p>(?:<ul>(.*?)</ul>)?</div>', section, re.S)
    facts = html.unescape(block.group(1))
    conclusions = [html.unescape(x) for x in re.findall(r"<li>(.*?)</li>", block.group(2) or "", re.S)]
    table = re.search(r'<table class="verdicts">(.*?)</table>', section, re.S).group(1)
    rows = [[html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
            for r in re.findall(r"<tr>(.*?)</tr>", table, re.S)]
    return facts, conclusions, [r for r in rows if r]


def test_report_opens_with_the_answer_of_summary_json(demo_output):
    """The report and summary.json read the same answer: sentences, verdict counts and park lists."""
    import json

    answer = json.loads((demo_output / "summary.json").read_text(encoding="utf-8"))["answer"]
    facts, conclusions, rows = _answer_block((demo_output / "report.html").read_text(encoding="utf-8"))
    assert facts == " ".join(answer["facts"])
    assert conclusions == answer["conclusions"]
    assert answer["sentences"] == answer["facts"] + answer["conclusions"]
    assert {r[0]: int(r[1]) for r in rows} == answer["verdict_counts"]
    for verdict, parks in answer["verdicts"].items():
        (row,) = [r for r in rows if r[0] == verdict]
        assert row[2] == ("; ".join(f"{p['valley']}: {p['park']}" for p in parks) or "—")
    assert answer["n_parks"] == sum(answer["verdict_counts"].values()) + len(answer["not_assessed"])
    assert answer["verdict_counts"]["cluster formed after designation"] == 1  # the demo's truth


def test_answer_lists_parks_that_could_not_be_assessed(study):
    """Valley C has too few firms for the statistics; a park there is "not assessed" with the reason."""
    res = study["res"]
    vr = res.valleys["C"]
    park = res.parks.iloc[[0]].assign(name="Park C")
    changed = dataclasses.replace(res, valleys={**res.valleys, "C": dataclasses.replace(vr, parks=park)})
    ans = changed.answer
    assert ans.not_assessed == (("C", "Park C", vr.skipped["statistics"]),)
    assert ans.n_parks == res.answer.n_parks + 1
    assert changed.summary()["answer"]["not_assessed"] == [{"valley": "C", "park": "Park C", "reason": vr.skipped["statistics"]}]
    assert "1 could not be assessed" in ans.facts[0]


# ----------------------------------------------------------------------------- glitches seen in the demo report
def _visible_text(page: str) -> str:
    return " ".join(t for t in _parse(page).text if t.strip())


def test_groups_table_shows_a_kd_value_wherever_the_summary_has_one(demo_results, demo_output):
    """The demo's Changchun "traditional" group is not localised: its Kd cell was blank."""
    page = (demo_output / "report.html").read_text(encoding="utf-8")
    section = page.split("High-tech versus traditional clusters</h2>", 1)[1]
    table = re.search(r'<table class="wide">(.*?)</table>', section, re.S).group(1)
    rows = [[html.unescape(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)] for r in re.findall(r"<tr>(.*?)</tr>", table, re.S)]
    head, body = rows[0], rows[1:]
    kd = next(i for i, h in enumerate(head) if h.startswith("Kd"))
    summary = demo_results.summary()["groups"]["table"]
    assert len(body) == len(summary)
    assert any(not r["kd_intervals"] for r in summary)  # the case that was blank
    for cells, r in zip(body, summary):
        assert cells[:2] == [r["valley"], r["group"]]
        cell = cells[kd]
        assert cell.strip() and cell != "—", (r["valley"], r["group"])
        assert cell == r["kd_intervals"] if r["kd_intervals"] else r["kd_verdict"] in cell


def test_no_double_parentheses_in_the_demo_report(demo_output):
    """Titles already ending in a parenthesis are not followed by a second one ("… (East Lake High-Tech Zone) (Wuhan)")."""
    text = _visible_text((demo_output / "report.html").read_text(encoding="utf-8"))
    assert "East Lake High-Tech Zone" in text
    assert re.findall(r"[^()]{0,40}\)\s*\([^()]{0,40}", text) == []
    assert re.findall(r"[^()]{0,40}\)\)[^()]{0,40}", text) == []  # nor a name ending in ")" inside parentheses


def test_valley_heading():
    assert grep._valley_heading("Wuhan Optics Valley (East Lake High-Tech Zone)", "Wuhan") == "Wuhan Optics Valley (East Lake High-Tech Zone)"
    assert grep._valley_heading("Optics Valley (East Lake High-Tech Zone)", "WH") == "Optics Valley (East Lake High-Tech Zone) — WH"
    assert grep._valley_heading("Valley A", "A") == "Valley A"
    assert grep._valley_heading("Photonics cluster", "A") == "Photonics cluster (A)"
    assert grep._valley_heading("B", "B") == "B"


# ----------------------------------------------------------------------------- labels (geo/outputs/_labels.py) and the schema doc
def _doc_rows(doc: str, heading: str) -> list[list[str]]:
    """The table rows (cells) of the section of docs/summary_schema.md under ``heading``."""
    section = doc.split(heading, 1)[1].split("\n#", 1)[0]
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in section.splitlines()
            if line.startswith("| `")]


def test_labels_match_the_schema_doc():
    """Every park_results and comparison key of the schema doc has a label with the doc's unit, and no label is undocumented."""
    from geo.outputs import _labels

    doc = (ROOT / "docs" / "summary_schema.md").read_text(encoding="utf-8")
    documented = {}
    for cells in _doc_rows(doc, "### `valleys.<name>.park_results`"):
        for key in re.findall(r"`([^`]+)`", cells[0]):
            documented[key] = cells[1]
    assert set(documented) == set(_labels.PARK_RESULTS)
    assert {k: lab.unit for k, lab in _labels.PARK_RESULTS.items()} == documented
    (table_row,) = [c for c in _doc_rows(doc, "## `comparison`") if c[0] == "`table`"]
    keys = set(re.findall(r"`([^`]+)`", table_row[2])) - {"emerging", "growing", "mature"}  # values of stage_phase
    assert keys == set(_labels.COMPARISON) | {doc_name for _, doc_name, _ in _labels.COMPARISON_PATTERNS}
    # a label is words, never the key again
    for lab in [*_labels.PARK_RESULTS.values(), *_labels.COMPARISON.values()]:
        assert not re.search(r"[a-z]+_[a-z_]+", lab.text), lab


def test_labels_cover_every_key_of_the_run(demo_results):
    """The demo's park rows and comparison columns all have labels (patterned keys by their data name)."""
    from geo.outputs import _labels

    s = demo_results.summary()
    rows = [p for v in s["valleys"].values() for p in v.get("park_results", [])]
    assert rows and {k for r in rows for k in r} <= set(_labels.PARK_RESULTS)
    cols = {k for r in s["comparison"]["table"] for k in r}
    assert [k for k in cols if _labels.comparison_label(k) is None] == []
    assert _labels.label("comp_lq_optical_fibre", table="comparison") == "location quotient of optical fibre"
    assert _labels.label("tech_patents_per_firm", table="comparison") == "patents per firm"
    assert _labels.label("comp_lq_target", table="comparison") == "location quotient of the target sector"


def test_park_tests_in_words():
    """Each test's sentence follows its (FDR-adjusted when present) p against alpha, and states the numbers."""
    from geo.parks.answer import park_tests

    row = {"p_labelling": 0.001, "p_labelling_fdr": 0.06, "n_firms": 50, "n_target": 30, "p_placement": 0.049,
           "mean_z": 2.5, "sim_mean_z": 0.25, "designated": 1991.0, "cluster_before": True, "hot_share_before": 0.4}
    (n1, lab), (n2, place), (n3, prec) = park_tests(row, alpha=0.05, what="optics firms")
    assert (n1, n2, n3) == ("Random labelling", "Random placement", "Precedence")
    assert lab == "Optics firms are not over-represented inside the park (30 of its 50 firms; p = 0.06 after FDR)."  # the FDR p decides
    assert place == "The cells under the park are hotter than under randomly placed copies of it (mean Gi* z 2.50 vs 0.25; p = 0.049)."
    assert prec == "A significant cluster of optics firms already covered the park before 1991 (40% of its cells hot)."
    (_, lab), (_, place), (_, prec) = park_tests({**row, "p_labelling_fdr": 0.01, "p_placement": 0.05, "cluster_before": False},
                                                 alpha=0.05, what="optics firms")
    assert lab.startswith("Optics firms are over-represented") and "no hotter" in place  # p = alpha is not below alpha
    assert prec == "No significant cluster of optics firms covered the park before 1991."
    (_, lab), (_, place), (_, prec) = park_tests({"precedence_skipped": "no founding years"})
    assert lab.startswith("not computed") and place.startswith("not computed") and prec == "not run (no founding years)."
    stable = {"verdicts": {"0.5×": "park without a cluster", "1×": "park without a cluster", "2×": "park without a cluster"}}
    assert park_tests(row, scale=stable)[3] == ("Cell size", "The same verdict at 0.5×, 1× and 2× the chosen cell size.")
    moving = {"verdicts": {"0.5×": "undetermined", "1×": "park without a cluster"}}
    assert park_tests(row, scale=moving)[3][1] == ("The verdict changes with the cell size (undetermined at 0.5×; park without a cluster "
                                                   "at 1×): it holds only at the chosen scale.")
    assert len(park_tests(row, scale={"verdicts": {}})) == 3


# ----------------------------------------------------------------------------- the page's order: the answer first
def test_the_page_opens_with_the_answer(study):
    """Title, contents bar, then the answer and its verdict table before any other section; the bar links every section."""
    main = study["page"].split("<main>", 1)[1]
    assert main.index("<h1>") < main.index('<nav class="bar"') < main.index('<section id="answer">')
    answer_end = main.index("</section>")
    assert main.index('<table class="verdicts">') < answer_end
    assert [m.start() for m in re.finditer(r"<h2 ", main) if m.start() < answer_end] == [main.index("<h2 ")]  # only its own
    bar = re.search(r'<nav class="bar".*?</nav>', main, re.S).group(0)
    assert re.findall(r'href="#(s\d+)"', bar) == re.findall(r'<h2 id="(s\d+)"', main)
    assert "Methods" in bar and "Parks" in bar


def _cards(page: str) -> list[str]:
    starts = [m.start() for m in re.finditer(r'<div class="card ', page)]
    return [page[a:b] for a, b in zip(starts, [*starts[1:], len(page)])]


def test_park_cards_open_with_the_verdict_and_the_tests_in_words(study):
    """Each card's first line is its verdict, then the three tests as geo.parks.answer.park_tests words them; the null
    hypotheses are stated once (Methods), not per card; the verdict table links each park to its card."""
    from geo.parks.answer import park_tests
    from geo.parks.overlay import NULLS, VERDICTS

    res, page = study["res"], study["page"]
    cards = _cards(page)
    rows = [(name, row) for name, vr in res.valleys.items() if vr.analysis.parks_overlay is not None
            for _, row in vr.analysis.parks_overlay.iterrows()]
    assert len(cards) == len(rows) == 3
    for card, (valley, row) in zip(cards, rows):
        first = re.match(r'<div class="card (v-[a-z-]+)" id="(park-\d+)">\n<div class="verdict (v-[a-z-]+)">(.*?)</div>', card)
        assert first and first.group(1) == first.group(3) and html.unescape(first.group(4)) == row["verdict"]
        # the card's class is named after the verdict's key (and coloured by the style sheet)
        key = next(k for k, v in VERDICTS.items() if v == row["verdict"])
        assert first.group(1) == f"v-{key}" and f".card.v-{key}{{border-left-color:" in page
        scale = next(r for r in res.scale_sensitivity["parks"] if r["valley"] == valley and r["park"] == row["name"])
        sentences = park_tests(row.to_dict(), alpha=res.config.analysis.alpha, what=f"{TARGET} firms", scale=scale)
        assert [name for name, _ in sentences] == ["Random labelling", "Random placement", "Precedence", "Cell size"]
        at = [card.index(html.escape(s)) for _, s in sentences]
        assert at == sorted(at)
        assert f'href="#{first.group(2)}">{html.escape(valley)}: {html.escape(row["name"])}</a>' in page.split("</section>", 1)[0]
    for text in NULLS.values():
        assert page.count(html.escape(text.split(": ", 1)[-1])) == 1


def test_comparison_is_a_figure_and_a_short_labelled_table(demo_results, demo_output):
    """The valley comparison: three small-multiple figures (stage, technology, composition) and a short table whose
    rows are labelled measures with the comparison's own numbers; the full table is collapsed."""
    from geo.outputs._style import format_number, format_pct
    from geo.outputs.compare_figures import DIMENSIONS, comparison_figure_name

    page = (demo_output / "report.html").read_text(encoding="utf-8")
    section = page.split("Valley comparison</h2>", 1)[1].split("<h2 ", 1)[0]
    for d in DIMENSIONS:
        assert f"figures/{comparison_figure_name(d)}" in section and (demo_output / "figures" / comparison_figure_name(d)).is_file()
    shown = section.split("<details>", 1)[0]
    assert not re.search(r"\b(stage|tech|comp)_[a-z_]+", re.sub(r"<[^>]+>", " ", shown))
    table = re.search(r"<table>(.*?)</table>", shown, re.S).group(1)
    rows = {html.unescape(r[0]): r[1:] for r in ([re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, re.S)]
                                                 for tr in re.findall(r"<tr>(.*?)</tr>", table, re.S))}
    cmp = demo_results.comparison.table
    assert rows["measure"] == [str(v) for v in cmp.index]
    assert 8 <= len(rows) - 1 <= 15 < len(cmp.columns)  # short: the full table has every column
    assert rows["median age of the target firms (years)"] == [format_number(v) for v in cmp["stage_median_age"]]
    assert rows["share founded after the first park"] == [format_pct(v) for v in cmp["stage_share_after_designation"]]
    assert rows["first park designated"] == [str(int(v)) for v in cmp["stage_designated"]]
    assert f"All {len(cmp.columns)} measures of the comparison" in section


def test_comparison_chart():
    """Each dimension draws the measures the table holds numbers for; deterministic PNG; a bad dimension is one sentence."""
    from geo.outputs.compare_figures import comparison_chart, comparison_measures

    # a valley or sub-sector name is drawn as text, never as mathtext
    t = pd.DataFrame({"valley": ["A", r"B<b> $\frac$"], "stage_median_age": [9.0, 16.0], "stage_entry_rate_5y": [np.nan, np.nan],
                      "stage_designated": [1991, 1996], "stage_first_localised_year": [1995, np.nan], "tech_rd_share": [0.2, 0.3],
                      "tech_patents_per_firm": [1.5, 0.5], "comp_share_lasers": [0.4, 0.1], "comp_share_fibre_$x$": [0.6, 0.9],
                      "comp_lq_target": [0.9, 1.2], "stage_phase": ["growing", "emerging"]})
    assert comparison_measures(t, "stage") == ["stage_median_age"]  # the all-missing rate is left out
    assert comparison_measures(t, "technology") == ["tech_rd_share", "tech_patents_per_firm"]
    assert comparison_measures(t, "composition") == ["comp_lq_target"]
    for d in ("stage", "technology", "composition"):
        png = comparison_chart(t, d)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and comparison_chart(t, d) == png
    assert comparison_chart(t[["valley", "stage_phase"]], "technology")[:4] == b"\x89PNG"  # nothing to draw: says so
    with pytest.raises(ValueError, match="dimension must be one of stage, technology, composition; 'size' was given"):
        comparison_chart(t, "size")
