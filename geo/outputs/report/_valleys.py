"""Per valley: the grid, global and local statistics, densities, point patterns."""

from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np
import pandas as pd

from geo.outputs._labels import (
    HOTSPOT_PARAMETERS,
    P_METHODS,
    SIZE_RULE,
    humanise,
    words,
)
from geo.outputs._style import (
    GI_LABELS,
    LISA_LABELS,
    p_phrase,
)
from geo.outputs.report._html import (
    _Ctx,
    _details,
    _dist,
    _e,
    _figure,
    _h,
    _Html,
    _kv,
    _num,
    _p,
    _pct,
    _plain,
    _skipped_box,
    _table,
)

__all__ = ["section_valleys"]


def _moran_table(gm: Mapping[str, Any]) -> str:
    rows = []
    for label, r in gm.items():
        rows.append([label, _Html(_num(r.I)), _Html(_num(r.EI)), _Html(_num(getattr(r, "z_rand", np.nan))),
                     _Html(_p(getattr(r, "p_rand", np.nan))), _Html(_num(getattr(r, "z_norm", np.nan))),
                     _Html(_p(getattr(r, "p_norm", np.nan))), _Html(_p(getattr(r, "p_sim", np.nan))),
                     getattr(r, "permutations", None), getattr(r, "n", None)])
    return _table(["variable", "I", "E[I]", "z (randomisation)", "p (randomisation)", "z (normality)", "p (normality)",
                   "p (permutations)", "permutations", "cells"], rows, num_cols=range(1, 10))


def _grid_block(cells, grid) -> str:
    """``grid``: the cells' :class:`geo.cells.grid.GridInfo`."""
    rule = grid.size_rule
    rows = [
        ("cell kind", grid.cell or "—"),
        ("cell size", f"{_num(grid.size)}" + (f" (≈ {_num(grid.size_m)} m)" if grid.cell == "h3" else " m")),
        ("cell area", f"{_num((grid.cell_area_m2 or np.nan) / 1e6)} km²"),
        ("cells", len(cells)),
        ("study area", grid.extent or "—"),
        ("study area size", f"{_num((grid.extent_area_m2 or np.nan) / 1e6)} km²"),
        ("firms counted", grid.n_counted),
        ("firms outside the study area", grid.n_outside),
    ]
    if isinstance(rule, Mapping):
        rows.append(("size rule", words(rule.get("rule", "—"))))
        details = "<br>".join(_rule_input(k, v) for k, v in rule.items() if k != "rule" and v is not None)
        if details:
            rows.append(("size rule inputs", _Html(details)))
    elif rule:
        rows.append(("size rule", words(rule)))
    return _kv(rows)


def _parameter(key: str, value: Any) -> str:
    """A hot-spot option's value as words (escaped): a column as code, a flag as yes/no."""
    if key == "column":
        return f"<code>{_e(value)}</code>"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return _num(value) if isinstance(value, (int, float, np.number)) else _e(value)


def _rule_input(key: str, value: Any) -> str:
    """One input of the automatic cell size in words (:data:`geo.outputs._labels.SIZE_RULE`), escaped."""
    lab = SIZE_RULE.get(key)
    if lab is None:
        return f"<code>{_e(key)} = {_e(value)}</code>"
    if lab.unit == "m":
        text = _dist(value)
    elif lab.unit == "m²":
        text = f"{_num(float(value) / 1e6)} km²"
    elif isinstance(value, (int, float, np.number)):
        text = _num(value)
    else:
        text = _e(words({"min": "the smallest size", "max": "the largest size"}.get(str(value), value)))
    return f"{_e(lab.text)} {text}"


def _counts_table(hot, what: str, pars: Mapping | None) -> str:
    """``pars``: the hot-spot record (``ValleyAnalysis.hotspot_parameters``)."""
    out = []
    gi_cols = [(c, lab) for c, lab in (("gi_bin", what), ("all_gi_bin", "all firms")) if c in hot]
    rows = []
    for b in (3, 2, 1, 0, -1, -2, -3):
        rows.append([f"{b:+d}" if b else "0", GI_LABELS[b]] + [int((pd.to_numeric(hot[c], errors="coerce") == b).sum()) for c, _ in gi_cols])
    if gi_cols:
        out.append("<h4>Gi* hot and cold spots (cells per bin)</h4>")
        out.append(_table(["bin", "meaning", *(f"cells ({lab})" for _, lab in gi_cols)], rows, num_cols=range(2, 2 + len(gi_cols))))
    if "lisa_label" in hot:
        lab = hot["lisa_label"].astype(str)
        rows = [[k, LISA_LABELS[k], int((lab == k).sum())] for k in ("HH", "LL", "LH", "HL", "ns")]
        out.append(f"<h4>Local Moran (LISA) clusters and outliers of {_e(what)} (cells)</h4>")
        out.append(_table(["label", "meaning", "cells"], rows, num_cols=[2]))
    if pars:
        keep = [f"{_e(HOTSPOT_PARAMETERS[k])} {_parameter(k, pars[k])}" for k in HOTSPOT_PARAMETERS if k in pars]
        if "gi_p_method" in pars and isinstance(pars["gi_p_method"], Mapping):
            keep.append("Gi* p-values of the cells: " + ", ".join(f"{_e(P_METHODS.get(k, humanise(k)))} {_num(v)}"
                                                                 for k, v in pars["gi_p_method"].items()))
        out.append('<p class="note">Parameters: ' + "; ".join(keep) + "</p>")
    return "\n".join(out)


def _clusters_table(cl, *, share: bool = False) -> str:
    cols = ["cluster_id", "n_cells", "area_km2", "n_firms", "n_target", "peak_z", "mean_z"] + (["share_in_parks"] if share else [])
    heads = ["cluster", "cells", "area km²", "firms", "target firms", "peak z", "mean z"] + (["share in parks"] if share else [])
    rows = []
    for r in cl.itertuples():
        row = [f"C{int(r.cluster_id)}"]
        for c in cols[1:]:
            v = getattr(r, c, None)
            row.append(_Html(_pct(v)) if c == "share_in_parks" else v)
        rows.append(row)
    return _table(heads, rows, num_cols=range(1, len(cols)))


def _analysed(subsample, n, error) -> str:
    """"all (exact)" or "a random subsample of m of n (estimated error e %)" for Kd and Ripley K."""
    if subsample is None:
        return "all (exact)"
    err = f"; estimated relative error {100 * error:.2g} %" if error is not None else ""
    return f"a random subsample of {_num(subsample)} of {_num(n)}{err}"


def _point_patterns(vr, figures, errors, name: str, target: str | None = None) -> str:
    from geo.outputs.figures import _k_tables, _kd_items, figure_name

    st = vr.analysis
    kd = st.kd
    kt = st.ripley
    if kd is None and kt is None:
        return ""
    out = ["<h4>Point patterns</h4>"]
    for label, (_curve, obj) in _kd_items(kd).items():
        kind = "kd" if label == "" else f"kd_{label}"
        if label:
            out.append(f"<p><b>Kd of {_e(label)}</b></p>")
        if hasattr(obj, "verdict"):
            sector = getattr(obj, "sector", None)
            if sector is None or not isinstance(sector, str) or sector == "mask":
                sector = label or target or "—"
            out.append(_kv([
                ("sector", sector),
                ("verdict", getattr(obj, "verdict", "—")),
                ("firms of the sector / all firm sites", f"{_num(getattr(obj, 'n_sector', None))} / {_num(getattr(obj, 'n_sites', None))}"),
                ("localised at distances", _Html("; ".join(f"{_dist(a)} – {_dist(b)}" for a, b in getattr(obj, "localised", []) or []) or "—")),
                ("dispersed at distances", _Html("; ".join(f"{_dist(a)} – {_dist(b)}" for a, b in getattr(obj, "dispersed", []) or []) or "—")),
                ("Γ (localisation) / Ψ (dispersion)", f"{_num(getattr(obj, 'gamma', None))} / {_num(getattr(obj, 'psi', None))}"),
                ("bandwidth", _Html(_dist(getattr(obj, "bandwidth", None)))),
                ("simulations", getattr(obj, "simulations", None)),
                ("firms analysed", _analysed(getattr(obj, "subsample", None), getattr(obj, "n_sector", None),
                                             getattr(obj, "subsample_error", None))),
            ]))
        out.append(_figure(figures, errors, figure_name(name, kind),
                           "Duranton–Overman K-density of bilateral distances (red) with the local band (grey) and global band "
                           "(dashed) under random location among all firm sites.", "Kd curve"))
    for label, table in _k_tables(kt).items():
        kind = "l" if label == "" else f"l_{label}"
        at = st.ripley_test or {}
        bits = []
        if at.get("p_value") is not None:
            bits.append(f"global envelope test of complete spatial randomness: {_e(p_phrase(at['p_value']))}")
        if at.get("simulations") is not None:
            bits.append(f"{_num(at['simulations'])} simulations")
        if at.get("correction"):
            bits.append(f"{_e(at['correction'])} edge correction")
        if at.get("n") is not None:
            bits.append(f"{_num(at['n'])} firms")
        if at.get("subsample") is not None:
            bits.append(_e(_analysed(at["subsample"], at.get("n"), at.get("subsample_error"))))
        if bits:
            out.append(f'<p class="note">Ripley K/L{" of " + _e(label) if label else ""}: ' + "; ".join(bits) + ".</p>")
        out.append(_figure(figures, errors, figure_name(name, kind),
                           "Besag's L(r) − r (red) with pointwise (grey) and global (dashed) envelopes under complete spatial "
                           "randomness; above the envelope = clustering at that distance.", "L function"))
    return "\n".join(out)


def _density_block(results, vr, name: str, figures, errors) -> str:
    from geo.outputs._write import safe_name, url_name
    from geo.outputs.figures import figure_name

    st = vr.analysis
    g = st.density
    if g is None:
        return ""
    target = results.config.analysis.target_sector
    out = ["<h4>Kernel density</h4>"]
    f = f"rasters/{safe_name(name)}_density.tif"
    files = [f'<a href="{_e(url_name(f))}"><code>{_e(f)}</code></a> (all firms)']
    if st.density_target is not None and target is not None:
        f = f"rasters/{safe_name(name)}_{safe_name(target)}_density.tif"
        files.append(f'<a href="{_e(url_name(f))}"><code>{_e(f)}</code></a> ({_e(target)} firms)')
    out.append(_kv([
        ("kernel", getattr(g, "kernel", "—")),
        ("bandwidth", _Html(_dist(getattr(g, "bandwidth_m", None)) + f" ({_e(getattr(g, 'bandwidth_rule', '—'))} rule)")),
        ("raster cell size", _Html(_dist(getattr(g, "cell_size_m", None)))),
        ("units", getattr(g, "units", "—")),
        ("GeoTIFF", _Html("<br>".join(files))),
    ]))
    zs = st.zonal
    if isinstance(zs, pd.DataFrame) and len(zs):
        cols = [c for c in zs.columns if c not in ("name", "target_name")]
        labels = {"mean": "mean density (firms/km²)", "max": "peak density (firms/km²)", "sum": "expected firms (density × area)",
                  "count": "raster cells", "min": "min density", "std": "std of density", "median": "median density",
                  "area_km2": "area km²"}

        def head(c: str) -> str:
            if c.startswith("target_"):
                return f"{target} firms: " + labels.get(c[len("target_"):], c[len("target_"):])
            return "all firms: " + labels.get(c, c)

        rows = [[r.get("name", i)] + [r.get(c) for c in cols] for i, r in zip(zs.index, zs.to_dict(orient="records"))]
        out.append("<p class=\"note\">Density inside each park (zonal statistics of the rasters).</p>")
        out.append('<div class="wide">' + _table(["park", *[head(c) for c in cols]], rows, num_cols=range(1, len(cols) + 1)) + "</div>")
    out.append(_figure(figures, errors, figure_name(name, "density"),
                       "Kernel density of all firms and of the target sector (firms per km², square-root colour scale), "
                       "park boundaries in black.", "Kernel density"))
    return "\n".join(out)


def _summary_line(results, vr, name: str, what: str) -> str:
    """One line: firms, parks, Moran's I and hot cells of the focus variable, clusters, the map link."""
    from geo.outputs._write import safe_name, url_name

    st = vr.analysis
    bits = [f"{_num(getattr(vr, 'n_total', len(vr.firms)))} firms", f"{len(vr.parks)} park{'s' if len(vr.parks) != 1 else ''}"]
    gm = st.global_moran or {}
    focus = gm.get(what) or next(iter(gm.values()), None)
    if focus is not None:
        bits.append(f"Moran's I of {_e(what if what in gm else next(iter(gm)))} {_num(focus.I, 3)} "
                    f"({_e(p_phrase(getattr(focus, 'p_sim', None), name='permutation p'))})")
    hot = st.hotspots
    if hot is not None and "gi_bin" in hot:
        n_hot = int((pd.to_numeric(hot["gi_bin"], errors="coerce") >= 2).sum())
        bits.append(f"{_num(n_hot)} of {_num(len(hot))} cells hot (Gi* ≥ 95 %)")
    if st.clusters is not None:
        bits.append(f"{len(st.clusters)} cluster{'s' if len(st.clusters) != 1 else ''}")
    if len(vr.firms):
        f = f"maps/{safe_name(name)}.html"
        bits.append(f'<a href="{_e(url_name(f))}">interactive map</a>')
    return '<p class="meta">' + " · ".join(bits) + "</p>"


def _valley_facts(vr, name: str) -> str:
    from geo.outputs._write import safe_name, url_name

    facts = [
        ("firms", getattr(vr, "n_total", len(vr.firms))),
        *([("firms in the sample of the point-based stages", len(vr.firms))] if getattr(vr, "sampled", False) else []),
        ("parks", _Html(", ".join(_e(p) for p in vr.parks["name"]) if len(vr.parks) else "none")),
        ("metric CRS", vr.metric_crs or "—"),
        ("seed of this valley", _Html(_plain(vr.seed))),
    ]
    if len(vr.firms):
        f = f"maps/{safe_name(name)}.html"
        facts.append(("interactive map", _Html(f'<a href="{_e(url_name(f))}">{_e(f)}</a>')))
    return _kv(facts)


def _statistics_block(results, vr, name: str, ctx: _Ctx, what: str) -> str:
    """The valley, its grid, global Moran's I and the local statistics' counts (for the details block)."""
    from geo.outputs.figures import figure_name

    st = vr.analysis
    out = [_valley_facts(vr, name), "<h4>Grid</h4>", _grid_block(st.cells, st.grid)]
    gm = st.global_moran
    out.append("<h4>Global Moran's I</h4>")
    if gm:
        out.append(_moran_table(gm))
        out.append(f'<p class="note">Firm counts per cell; {_e(results.config.analysis.weights)} contiguity weights, '
                   "row-standardised; analytic p-values two-sided; the permutation p is two-sided too, "
                   "smallest possible 2/(permutations + 1).</p>")
        out.append(_figure(ctx.figures, ctx.errors, figure_name(name, "moran"),
                           "Moran scatterplots: each cell's standardised count against the mean of its neighbours "
                           "(row-standardised spatial lag); the slope of the red line is Moran's I.", "Moran scatterplot"))
    else:
        out.append('<p class="skipped">Not computed (see the stages not run).</p>')
    if st.hotspots is not None:
        out.append(_counts_table(st.hotspots, what, st.hotspot_parameters))
    return "\n".join(out)


def section_valleys(results, ctx: _Ctx) -> str:
    """Per valley: a summary line, the Gi* and LISA maps, and the statistics, densities, clusters
    and point patterns in collapsible blocks."""
    from geo.outputs.figures import figure_name, focus_label

    out = [_h(ctx.toc, 1, "Valleys: global and local statistics", short="Valley statistics")]
    if not results.valleys:
        out.append('<p class="skipped">No valley in this run.</p>')
    for name, vr in results.valleys.items():
        st = vr.analysis
        what = focus_label(vr)
        out.append(_h(ctx.toc, 2, _valley_heading(vr.title, name)))
        out.append(_summary_line(results, vr, name, what))
        out.append(_skipped_box(vr.skipped))
        if st.cells is None:
            out.append('<p class="note">No grid, statistics or park tests for this valley (see the reason above).</p>')
            out.append(_details("The valley", _valley_facts(vr, name)))
            continue
        hot = st.hotspots
        if hot is None:
            out.append('<p class="skipped">Hot spots not computed: ' + _e(vr.skipped.get("hotspots", "see above")) + "</p>")
        else:
            out.append('<div class="figs">'
                       + _figure(ctx.figures, ctx.errors, figure_name(name, "gi"),
                                 f"Getis–Ord Gi* hot and cold spots of {_e(what)} per cell (bins from FDR-adjusted p-values "
                                 "when FDR is on), park boundaries in black, cluster polygons dashed (C&lt;id&gt; as in the "
                                 "cluster table).", "Gi* hot spot map")
                       + _figure(ctx.figures, ctx.errors, figure_name(name, "lisa"),
                                 f"Local Moran (LISA) cluster map of {_e(what)}: HH red, LL blue, LH light blue, HL pink, "
                                 "not significant grey; park boundaries in black.", "LISA cluster map")
                       + "</div>")
        out.append(_details("Grid, global Moran's I and hot-spot counts", _statistics_block(results, vr, name, ctx, what)))
        out.append(_details("Kernel density", _density_block(results, vr, name, ctx.figures, ctx.errors)))
        cl = st.clusters
        if cl is not None:
            body = (f'<h4>Cluster polygons</h4><p class="note">Definition: {_e(st.clusters_definition or "contiguous hot cells")}; '
                    "cells touching at an edge or a vertex form one cluster.</p>"
                    + (_clusters_table(cl) if len(cl) else "<p>No cluster.</p>"))
            out.append(_details(f"Cluster polygons ({len(cl)})", body))
        pp = _point_patterns(vr, ctx.figures, ctx.errors, name, results.config.analysis.target_sector)
        out.append(_details("Point patterns: Duranton–Overman Kd and Ripley's L", pp))
        co = _colocation_block(vr)
        if co:
            out.append(_details("Co-location quotients", co))
        eh = _emerging_block(vr, name, ctx.figures, ctx.errors)
        if eh:
            out.append(_details("Emerging hot spots (space-time Gi*)", eh))
    return "\n".join(b for b in out if b)


def _emerging_block(vr, name: str, figures, errors) -> str:
    """Emerging hot spots of a valley: the cube, the survivorship caveat, categories, the parks."""
    from geo.outputs.figures import figure_name, focus_label

    ehs, cube = vr.analysis.emerging, vr.analysis.spacetime_cube
    if ehs is None or cube is None:
        return ""
    what = _e(focus_label(vr))
    o = ehs.options
    out = ["<h4>Emerging hot spots</h4>",
           (f'<p class="note">{what} alive per cell in {len(ehs.steps)} steps of {o["step_years"]} year(s) ending '
           f"{int(ehs.steps[0])}–{int(ehs.steps[-1])} ({_num(cube.n_firms)} firms; {_num(cube.n_no_year)} without a "
           f"founding year left out); space-time Gi* with the {o['time_lag']} step(s) before as neighbours, exact "
           "conditional-randomisation p-values, hot or cold at 95 % after FDR per step; Mann–Kendall trend of each "
           "cell's z series; categories as ArcGIS's Emerging Hot Spot Analysis.</p>")]
    if not cube.closed:
        out.append('<p class="warn">No closing years (<code>[firms] closed_column</code>): a firm counts from its founding year on '
                   "to the end, so the history is that of the firms that survived to the data's date (survivorship "
                   "bias): early clusters of firms that have since closed do not show.</p>")
    counts = ehs.category_counts()
    out.append(_table(["category", "cells"], [[c, n] for c, n in counts.items()], num_cols=[1]))
    ov = vr.analysis.parks_overlay
    if ov is not None and "ehs_main_under" in ov:
        main = "ehs_main_first_hot" in ov  # the answer cites the main category's first hot step
        rows = [[r.get("name", i), _Html(_plain(r.get("designated"))), r["ehs_main_under"],
                 *([_Html(_plain(r["ehs_main_first_hot"])), _Html(_plain(r["ehs_main_first_hot_vs_designation"]))]
                   if main else []),
                 _Html(_plain(r["ehs_first_hot"])), _Html(_plain(r["ehs_first_hot_vs_designation"])),
                 r["ehs_hot_final_under"]]
                for i, r in pd.DataFrame(ov, copy=False).iterrows()]
        heads = ["park", "designated", "main category under it",
                 *(["main category first hot", "years vs designation"] if main else []),
                 "first hot step (any cell)", "years vs designation", "hot cells under it now"]
        out.append(_table(heads, rows, num_cols=[len(heads) - 3, len(heads) - 2, len(heads) - 1]))
    out.append(_figure(figures, errors, figure_name(name, "emerging"),
                       f"Hot and cold cells of {what} per step (space-time Gi*, 95 % after FDR); dashed: park "
                       "designations.", "Emerging hot spots per step"))
    return "\n".join(out)


def _colocation_block(vr) -> str:
    """The valley's co-location quotients (:mod:`geo.pipeline._colocation`): one row per relation."""
    co = vr.analysis.colocation  # geo.pipeline._colocation.Colocation
    if co is None or not len(co.table):
        return ""
    t, local = co.table, co.local
    sig = {} if local is None else {(a, b): int((g["label"] == "colocated").sum())
                                    for (a, b), g in local.groupby(["a", "b"], sort=False)}
    rows = [[humanise(r["a"]), humanise(r["b"]), _num(r["clq"], 3), _Html(_p(r["p"])), r["n_a"], r["n_b"], sig.get((r["a"], r["b"]), "—")]
            for r in t.to_dict(orient="records")]
    return ("<h4>Co-location quotients</h4>"
            + _table(["a", "b", "CLQ(a → b)", "p", "firms of a", "of b", "firms locally co-located"], rows,
                     num_cols=(2, 4, 5, 6))
            + f'<p class="note">CLQ(a → b): the share of b among the {_num(t["k"].iloc[0])} nearest neighbours of the '
              "firms of a over the share of b among all other firms (Leslie &amp; Kronenfeld 2011); 1 is what random "
              "labelling gives. p: two-sided random-labelling pseudo p-value. Locally co-located: firms whose local "
              "CLQ (Gaussian kernel, Wang et al. 2017) is above 1 at FDR ≤ alpha; see the map's co-location layers "
              "and the layers <code>colocation</code> and <code>colocation_local</code> of <code>layers.gpkg</code>.</p>")


def _valley_heading(title: str, name: str) -> str:
    """The valley's title, followed by its name when the title does not already hold it.

    A title that ends in a parenthesis gets the name after a dash, not a second parenthesis:
    ``"Optics Valley (East Lake) — Wuhan"``, never ``"Optics Valley (East Lake) (Wuhan)"``.
    """
    title, name = str(title), str(name)
    if title == name or re.search(rf"(?<!\w){re.escape(name)}(?!\w)", title):
        return title
    return f"{title} — {name}" if title.rstrip().endswith(")") else f"{title} ({name})"


