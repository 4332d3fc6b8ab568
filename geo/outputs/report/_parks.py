"""The parks: one card per park (the verdict, the three tests in words, two figures, every
measure in a collapsible table), the clusters outside parks and the grid-free check."""

from __future__ import annotations

from typing import Any, Mapping

from geo.outputs._labels import PARK_RESULTS, label, words
from geo.outputs.report._html import (
    VERDICT_CLASS,
    _counts,
    _Ctx,
    _details,
    _dist,
    _e,
    _figure,
    _h,
    _Html,
    _kv,
    _missing,
    _num,
    _p,
    _pct,
    _plain,
    _shares,
    _table,
    _value_text,
    _verdict_key,
    _yesno,
)
from geo.outputs.report._valleys import _clusters_table

__all__ = ["card_anchors", "section_parks"]

# park card: the measures shown under 'All measures', by group: (column, formatter); labels from _labels.PARK_RESULTS
_CARD_GROUPS: list[tuple[str, list[tuple[str, Any]]]] = [
    ("Firms and density", [
        ("designated", _plain),
        ("area_km2", _num),
        ("n_firms", _num),
        ("n_target", _num),
        ("density", _num),
        ("density_valley", _num),
        ("density_ratio_valley", _num),
        ("density_ring", _num),
        ("ring_width_m", _dist),
        ("density_ratio_ring", _num),
        ("lq", _num),
    ]),
    ("Overlap with the clusters", [
        ("park_hot_share", _pct),
        ("hot_area_in_park", _pct),
        ("max_cluster_share", _pct),
        ("cluster_shares", _shares),
        ("jaccard", _num),
        ("dice", _num),
        ("dist_cluster_edge_m", _dist),
        ("dist_cluster_centroid_m", _dist),
        ("nearest_cluster", lambda v: "—" if _missing(v) else f"C{int(v)}"),
    ]),
    ("Coincidence tests (one-sided)", [
        ("p_labelling", _p),
        ("p_labelling_fdr", _p),
        ("p_labelling_mid", _p),
        ("p_labelling_mid_fdr", _p),
        ("mean_z", _num),
        ("sim_mean_z", _num),
        ("hot_share_cells", _pct),
        ("p_placement", _p),
        ("p_placement_fdr", _p),
        ("p_placement_hot", _p),
        ("permutations_done", _num),
        ("placement_acceptance", _pct),
    ]),
    ("Precedence: was the cluster there before designation?", [
        ("cluster_before", _yesno),
        ("n_target_before", _num),
        ("n_target_before_in_park", _num),
        ("firms_in_cluster_before", _num),
        ("min_cluster_firms", _num),
        ("hot_share_before", _pct),
        ("hot_share_now", _pct),
        ("mean_z_before", _num),
        ("mean_z_now", _num),
    ]),
    ("Entries before and after designation (difference in differences)", [
        ("entries_in_before", _num),
        ("entries_in_after", _num),
        ("entries_out_before", _num),
        ("entries_out_after", _num),
        ("years_before", _num),
        ("years_after", _num),
        ("rate_in_before", _num),
        ("rate_in_after", _num),
        ("rate_out_before", _num),
        ("rate_out_after", _num),
        ("rate_ratio", None),
        ("p_rate_ratio", _p),
        ("p_rate_ratio_fdr", _p),
        ("correction", lambda v: "—" if _missing(v) or v == "" else _e(v)),
    ]),
]
_CARD_SHOWN = {c for _, g in _CARD_GROUPS for c, _ in g} | {
    "name", "verdict", "verdict_reason", "notes", "precedence_skipped", "rr_lo", "rr_hi", "skipped", "artefact",
    "approximate_boundary"}
#: units written after a plain number's label (the others are in the value: %, m, p)
_SHOW_UNIT = {"km²", "firms/km²", "firms/year"}


def _label(col: str) -> str:
    lab = PARK_RESULTS.get(col)
    if lab is None:
        return label(col)
    return f"{lab.text} ({lab.unit})" if lab.unit in _SHOW_UNIT else lab.text


def _rate_ratio(row: Mapping[str, Any]) -> str:
    rr = row.get("rate_ratio")
    if _missing(rr):
        return "—"
    return f"{_num(rr)} ({_num(row.get('rr_lo'))}–{_num(row.get('rr_hi'))})"


def card_anchors(results) -> dict[tuple[str, Any], str]:
    """The anchors of the park cards, in page order (``park-1``, ``park-2``, …): keyed by
    (valley, row index of the overlay) for the cards and by (valley, park name) for the links
    of the answer's verdict table (a repeated name links to its first card)."""
    out: dict[tuple[str, Any], str] = {}
    n = 0
    for name, vr in results.valleys.items():
        ov = vr.analysis.parks_overlay
        if ov is None or "name" not in ov:
            continue
        for idx, park in zip(ov.index, ov["name"]):
            n += 1
            out[("row", str(name), idx)] = f"park-{n}"
            out.setdefault((str(name), str(park)), f"park-{n}")
    return out


def _measures(row: Mapping[str, Any]) -> str:
    """Every measure of the park, by group, labelled (the 'All measures' block)."""
    tables = []
    for title, specs in _CARD_GROUPS:
        rows = []
        for col, fmt in specs:
            if col not in row:
                continue
            value = _rate_ratio(row) if col == "rate_ratio" else fmt(row.get(col))
            rows.append((_label(col), _Html(value)))
        if rows:
            tables.append(f"<div><h4>{_e(title)}</h4>{_kv(rows)}</div>")
    other = [(_label(k), _other(k, v)) for k, v in row.items() if k not in _CARD_SHOWN]
    if other:
        tables.append("<div><h4>Other values</h4>" + _kv(other) + "</div>")
    return '<div class="grid2">' + "".join(tables) + "</div>"


def _other(key: str, value: Any) -> Any:
    """A measure without a group of its own, formatted by its unit (:data:`PARK_RESULTS`): a year
    without a thousands separator, a cluster as ``C<id>``, counts per category as words."""
    if isinstance(value, Mapping):
        return _Html(_counts(value))
    unit = getattr(PARK_RESULTS.get(key), "unit", None)
    if unit == "year":
        return _Html(_plain(value))
    if unit == "id":
        return "—" if _missing(value) else f"C{_plain(value)}"
    return _value_text(value)


def _park_card(results, vname: str, idx: Any, row: Mapping[str, Any], ctx: _Ctx, anchor: str) -> str:
    """The card: the verdict first, the park, the three tests in words, why, the figures, every measure."""
    from geo.outputs.figures import figure_name
    from geo.parks.answer import park_tests

    key = _verdict_key(row.get("verdict"))
    cls = VERDICT_CLASS[key]
    vr = results.valleys[vname]
    target = results.config.analysis.target_sector
    what = f"{target} firms" if target else "firms"
    out = [f'<div class="card {cls}" id="{anchor}">']
    out.append(f'<div class="verdict {cls}">{_e(row.get("verdict", "—"))}</div>')
    year = row.get("designated")
    facts = [_e(vr.title), "no designation year" if _missing(year) else f"designated {int(year)}"]
    if not _missing(row.get("area_km2")):
        if row.get("approximate_boundary") is True:
            facts.append(f"≈ {_num(row.get('area_km2'), 3)} km², approximate boundary (a disc of the approved area)")
        else:
            facts.append(f"{_num(row.get('area_km2'), 3)} km²")
    if not _missing(row.get("n_firms")):
        n_in, n_target = row.get("n_firms"), row.get("n_target")
        inside = f"{_num(n_in)} firm{'' if n_in == 1 else 's'} inside"
        if target and not _missing(n_target):
            inside += f" ({_num(n_target)} {_e(what if n_target != 1 else f'{target} firm')})"
        facts.append(inside)
    out.append(f"<h3>{_e(row.get('name', idx))}</h3><div class=\"meta\">{' · '.join(facts)}</div>")
    scales = getattr(results, "scale_sensitivity", None) or {}
    scale = next((r for r in scales.get("parks") or [] if str(r.get("valley")) == str(vname) and str(r.get("park")) == str(row.get("name"))),
                 None)
    tests = park_tests(row, alpha=float(results.config.analysis.alpha), what=what, scale=scale)
    out.append('<ul class="tests">' + "".join(f"<li><b>{_e(name)}</b>: {_e(text)}</li>" for name, text in tests) + "</ul>")
    out.append(f'<p class="note"><b>Why this verdict:</b> {_e(row.get("verdict_reason", ""))}</p>')
    for k, title in (("artefact", "Possible geocoding artefact"), ("notes", "Notes"), ("skipped", "Skipped")):
        v = row.get(k)
        if not _missing(v) and v is not False and str(v):
            out.append(f'<p class="skipped"><b>{title}:</b> {_e(v)}</p>')
    figs = [
        _figure(ctx.figures, ctx.errors, figure_name(vname, "entries", idx),
                "Entries per year of the target sector inside (top) and outside (bottom) the park; the vertical line "
                "marks designation, dashed lines the mean entries per year before and after.", "Entries per year"),
        _figure(ctx.figures, ctx.errors, figure_name(vname, "before", idx),
                "Gi* of the target-sector firms founded before the designation year (left) and of all of them "
                "(right), on the same cells and weights, around the park.", "Gi* before designation and now"),
    ]
    if any(figs):
        out.append('<div class="figs">' + "".join(figs) + "</div>")
    out.append(_details("All measures of this park (densities, overlap, tests, precedence, entries)", _measures(row)))
    out.append("</div>")
    return "\n".join(out)


def _outside_parks(results, vr) -> str:
    share = results.answer.outside_max_share
    outside = vr.analysis.clusters_outside_parks
    out = [f"<h4>Clusters outside any park — {_e(vr.title)}</h4>"]
    if outside is None:
        out.append('<p class="skipped">Not computed (no clusters: see the stages not run for this valley).</p>')
    elif not len(outside):
        out.append(f"<p>No cluster lies outside the parks: every cluster has at least {share:.0%} of its area in a park.</p>")
    else:
        if "share_in_parks" not in outside:
            outside = outside.assign(share_in_parks=0.0)
        out.append(f'<p class="note">Clusters with less than {share:.0%} of their area inside any park.</p>')
        out.append(_clusters_table(outside, share=True))
    return "\n".join(out)


def _grid_free(vr) -> str:
    agree = vr.analysis.point_cluster_agreement
    if agree is None or not len(agree):
        return ""
    method = vr.analysis.point_cluster_method or ""
    body = ('<p class="note">Density-based clusters of the firm points themselves, independent of the grid. '
            f"Method: {_e(words(method))}. Does a point cluster lie in the park (at least 25 % of its area) "
            "exactly when the grid verdict says the park has a cluster?</p>"
            + _table(["park", "grid verdict", "point-cluster share in park", "agrees"],
                     [[r["name"], r["verdict"], _pct(r["point_cluster_share"]), _yesno(r["grid_free_agrees"])]
                      for r in agree.to_dict(orient="records")]))
    agrees = agree["grid_free_agrees"].dropna().astype(bool)
    return _details(f"Grid-free check — {vr.title}: the point clusters agree with {int(agrees.sum())} of {len(agrees)} "
                    "grid verdicts", body)


def section_parks(results, ctx: _Ctx) -> str:
    """Parks versus clusters: per valley, the park cards, the clusters outside parks, the grid-free check."""
    out = [_h(ctx.toc, 1, "Parks versus clusters", short="Parks")]
    out.append('<p class="note">One card per park: the verdict, the three tests in words (what each tests: see '
               "Methods), why, and two figures; every measure under “All measures”.</p>")
    for name, vr in results.valleys.items():
        ov = vr.analysis.parks_overlay
        out.append(_h(ctx.toc, 2, f"Parks of {vr.title}"))
        if ov is None or not len(ov):
            if not len(vr.parks):
                reason = vr.skipped.get("parks") or "no parks in this valley"
            else:
                reason = vr.skipped.get("statistics") or vr.skipped.get("hotspots") or vr.skipped.get("parks") or "the park stage did not run"
            out.append(f'<p class="skipped">No park tests: {_e(str(reason).rstrip("."))}.</p>')
        else:
            for idx, row in ov.iterrows():
                anchor = ctx.cards[("row", str(name), idx)]
                out.append(_park_card(results, name, idx, row.to_dict(), ctx, anchor))
        out.append(_outside_parks(results, vr))
        out.append(_grid_free(vr))
    out.append(_scale_table(results, ctx))
    return "\n".join(b for b in out if b)


def _scale_table(results, ctx: _Ctx) -> str:
    """Every park's verdict at each cell size of the scale sensitivity, and whether it is stable."""
    sc = getattr(results, "scale_sensitivity", None)
    if not sc or not sc.get("parks"):
        return ""
    labels = list(sc["scales"])
    out = [_h(ctx.toc, 2, "Verdicts across cell sizes")]
    out.append('<p class="note">The cell and park stages run again at each factor of the valley\'s chosen cell size, '
               "on the same firms, study area and seed (the modifiable areal unit problem: another cell size can tell "
               "another story). A verdict is <b>stable</b> when it is the same at every size; the share is that of the "
               "park's area under hot cells.</p>")
    sizes = sc.get("grid") or {}
    rows = []
    for r in sc["parks"]:
        grid = sizes.get(r["valley"], {})
        cells = []
        for k in labels:
            share = (r.get("park_hot_share") or {}).get(k)
            size = (grid.get(k) or {}).get("size_m")
            extra = [x for x in (_dist(size) if size is not None else None, _pct(share) if share is not None else None) if x]
            cells.append(_Html(f"{_e(r['verdicts'].get(k, '—'))}" + (f'<br><span class="note">{" · ".join(extra)}</span>'
                                                                  if extra else "")))
        rows.append([r["park"], *cells, r["stability"]])
    out.append(_table(["park", *labels, "stability"], rows))
    for where, why in (sc.get("skipped") or {}).items():
        out.append(f'<p class="skipped">Not run for {_e(where)}: {_e(why)}.</p>')
    return "\n".join(out)
