"""The valleys compared, high-tech versus traditional clusters, the cluster models."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from geo.outputs._labels import comparison_label, humanise, label, words
from geo.outputs.report._html import (
    _Ctx,
    _details,
    _e,
    _figure,
    _h,
    _Html,
    _missing,
    _Num,
    _num,
    _p,
    _pct,
    _plain,
    _prose,
    _table,
    _yesno,
)

__all__ = ["section_comparison", "section_groups", "section_models"]

#: the short table of the comparison: the measures a reader compares first, by dimension
_SHORT = (
    ("Development stage", ("n_target", "stage_phase", "stage_median_age", "stage_entry_rate_5y", "stage_designated",
                           "stage_first_localised_year", "stage_share_after_designation")),
    ("Technological conditions", ("tech_rd_share_target", "tech_high_tech_share")),
    ("Industrial composition", ("comp_leading", "comp_lq_target", "focus", "kd_target")),
)
#: columns whose text holds sub-sector codes (shown as words)
_CODES = {"comp_leading", "focus"}


def _measure_label(key: str) -> str:
    """The label of a comparison column with its unit (years, firms/year …), from :mod:`geo.outputs._labels`."""
    lab = comparison_label(key)
    if lab is None:
        return humanise(key)
    return f"{lab.text} ({lab.unit})" if lab.unit in ("years", "firms/year", "per firm") else lab.text


def _measure_cell(key: str, v: Any) -> _Html:
    lab = comparison_label(key)
    if lab is not None and lab.unit == "share" and not isinstance(v, (bool, np.bool_)) and not _missing(v):
        return _Num(_e(_pct(v)))
    if key in _CODES and isinstance(v, str):
        return _Html(_e(", ".join(humanise(x.strip()) for x in v.split(","))))
    return _compare_cell(key, v)


def _comparison_frame(cmp: pd.DataFrame) -> pd.DataFrame:
    frame = cmp.drop(columns=[c for c in cmp.columns if str(c) == "geometry"])
    if isinstance(frame.index, pd.RangeIndex) and "valley" in frame.columns:
        frame = frame.set_index("valley")
    return frame


def _measures_table(frame: pd.DataFrame, keys) -> str:
    """One row per measure (labelled), one column per valley."""
    rows = [[_measure_label(str(k))] + [_measure_cell(str(k), v) for v in frame[k].tolist()] for k in keys if k in frame.columns]
    return _table(["measure", *[str(v) for v in frame.index]], rows)


def _comparison_details(cmp, frame: pd.DataFrame) -> str:
    """Every measure, the Krugman dissimilarities, Kd per sub-sector, the rules and what was not computed
    (the fields of a :class:`geo.parks.compare.ValleyComparison`)."""
    out = [_details(f"All {len(frame.columns)} measures of the comparison", _measures_table(frame, list(frame.columns)))]
    kr = cmp.krugman
    if isinstance(kr, pd.DataFrame) and kr.size:
        body = (_table(["", *[str(c) for c in kr.columns]],
                       [[str(i)] + [_Html(_num(v)) for v in r] for i, r in zip(kr.index, kr.to_numpy().tolist())],
                       num_cols=range(1, len(kr.columns) + 1))
                + '<p class="note">0 = identical mix, 2 = no sub-sector in common.</p>')
        out.append(_details("Krugman dissimilarity of the target sector's sub-sector mix", body))
    kd = cmp.kd
    if isinstance(kd, Mapping) and kd:
        kd_rows = [[v, humanise(s), verdict] for v, d in kd.items() if isinstance(d, Mapping) for s, verdict in d.items()]
        if kd_rows:
            out.append(_details("Duranton–Overman Kd per sub-sector", _table(["valley", "sub-sector", "Kd verdict"], kd_rows)))
    rules = cmp.rules
    if isinstance(rules, Mapping) and rules:
        out.append(_details("Rules", _table(["measure", "rule"], [[humanise(k), v] for k, v in rules.items()])))
    notes = cmp.notes
    if isinstance(notes, Mapping) and notes:
        out.append('<div class="skipped"><b>Not computed</b><ul>'
                   + "".join(f"<li><b>{_e(label(str(k) + ('_per_firm' if str(k).startswith('tech_') else ''), table='comparison'))}</b>: "
                             f"{_e(v)}</li>" for k, v in notes.items()) + "</ul></div>")
    return "\n".join(b for b in out if b)


def section_comparison(results, ctx: _Ctx) -> str:
    """The valleys compared: the three dimensions as small multiples, a short labelled table, the rest collapsed."""
    from geo.outputs.compare_figures import DIMENSIONS, comparison_figure_name

    cmp = getattr(results, "comparison", None)
    if cmp is None:
        return ""
    out = [_h(ctx.toc, 1, "Valley comparison", short="Valleys compared")]
    target = cmp.target_sector
    out.append("<p>The third part of the study: how the valleys differ in development stage, technological conditions "
               "and industrial composition" + (f" of the {_e(target)} sector" if target is not None else "") + ".</p>")
    figs = [_figure(ctx.figures, ctx.errors, comparison_figure_name(d), _e(title) + ": one dot per valley, each measure on its own axis.",
                    title) for d, (title, _) in DIMENSIONS.items()]
    if any(figs):
        out.append('<div class="figs">' + "".join(figs) + "</div>")
    frame = _comparison_frame(cmp.table)
    short = [k for _, keys in _SHORT for k in keys if k in frame.columns]
    if short:
        out.append(_measures_table(frame, short))
    out.append(_figure(ctx.figures, ctx.errors, "comparison_stock.png",
                       "Cumulative number of target-sector firms founded by each year, per valley; the dot marks the "
                       "valley's first park designation.", "Stock of firms by year"))
    out.append(_comparison_details(cmp, frame))
    return "\n".join(b for b in out if b)


def _compare_cell(column: str, v: Any) -> _Html:
    if isinstance(v, (bool, np.bool_)):
        return _Html(_yesno(v))
    if isinstance(v, (int, float, np.integer, np.floating)) or _missing(v):
        return _Num(_plain(v) if ("year" in column or "designated" in column) else _num(v))
    if isinstance(v, Mapping):
        return _Html(_e("; ".join(f"{k}: {x}" for k, x in v.items())))
    return _Html(_e(v))


def section_groups(results, ctx: _Ctx) -> str:
    """High-tech vs traditional clusters: the group × valley table, the difference test, the answer."""
    g = getattr(results, "groups", None)
    if g is None:
        return ""
    out = [_h(ctx.toc, 1, "High-tech versus traditional clusters", short="High-tech vs traditional")]
    out.append("<p>Do high-tech clusters coincide with parks more than traditional ones?</p>")
    out.append('<div class="answer">' + "".join(f"<p>{_e(line)}</p>" for line in str(g.answer).split("\n") if line.strip()) + "</div>")
    diff = g.difference
    null = diff.get("null")
    if null:
        out.append(f'<p class="note">Null hypothesis of the difference test: {_e(null)}</p>')
    t = g.table
    cols = [("valley", "valley"), ("group", "group"), ("n_firms", "firms"), ("moran_I", "Moran's I"), ("moran_p_sim", "p (perm.)"),
            ("hot_share", "in Gi* hot cells"), ("kd_intervals", "Kd: localised at"), ("in_park_share", "in parks"),
            ("park_lq", "park LQ"), ("p_labelling_fdr", "over-represented in parks, p (FDR)"), ("precedence", "cluster vs designation"),
            ("median_age", "median age"), ("share_after_designation", "founded after designation")]
    rows = []
    for r in t.to_dict(orient="records"):
        row = []
        for key, _ in cols:
            v = r.get(key)
            if key in ("hot_share", "in_park_share", "share_after_designation"):
                row.append(_pct(v))
            elif key == "kd_intervals":
                row.append(_kd_cell(r))
            elif key.startswith("p_") or key == "moran_p_sim":
                row.append(_p(v))
            elif isinstance(v, float):
                row.append(_num(v, 3))
            else:
                row.append("" if v is None else v)
        rows.append(row)
    out.append(_table([c for _, c in cols], rows, cls="wide"))
    if ctx.figures:
        out.append(_figure(ctx.figures, ctx.errors, "groups_in_parks.png",
                           "Share of each group's firms inside a park, per valley; p of the within-valley permutation test under each valley.",
                           "in-park share by group and valley"))
    notes = [f"{r['valley']} / {r['group']}: {r['notes']}" for r in t.to_dict(orient="records") if r.get("notes")]
    if notes:
        out.append("<ul class=\"note\">" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    return "\n".join(out)


def _kd_cell(row: Mapping[str, Any]) -> str:
    """The Kd cell of the groups table: the distances where the group is localised, else the
    Kd verdict (dispersed, neither, or why Kd was not computed), so that it is never blank."""
    intervals = row.get("kd_intervals")
    if isinstance(intervals, str) and intervals.strip():
        return intervals
    verdict = row.get("kd_verdict")
    if _missing(verdict) or not str(verdict).strip():
        return "—"
    verdict = str(verdict)
    if verdict.startswith(("not ", "neither ")):
        return verdict
    return f"not localised: {verdict}"


def section_models(results, ctx: _Ctx) -> str:
    """Cluster models: the development model of each park–cluster pair, every indicator shown."""
    tables = [(vr, vr.analysis.models) for vr in results.valleys.values()]
    tables = [(vr, md) for vr, md in tables if md is not None and len(md)]
    if not tables:
        return ""
    from geo.parks.models import MODELS

    out = [_h(ctx.toc, 1, "Cluster models")]
    out.append("<p>How did each park–cluster pair develop? Each model is scored from measured indicators; "
               "a pair may show more than one, and a model whose indicator is missing from the data is "
               "<i>undetermined</i> with the reason, never guessed.</p>")
    rules = tables[0][0].analysis.model_rules or {}
    if rules:
        out.append(_details("Rules of the models",
                            _table(["model", "rule"], [[MODELS.get(k, words(k)), _Html(_prose(words(v)))]
                                                       for k, v in rules.items() if isinstance(v, str)])))
    for vr, md in tables:
        out.append(f"<h3>{_e(vr.title)}</h3>")
        for r in md.to_dict(orient="records"):
            models = r.get("models") or []
            out.append(f"<h4>{_e(r.get('name'))}: {_e(r.get('primary_model'))}</h4>")
            summary = str(r.get("summary") or "")
            out.append(f"<p>Models shown: {_e(', '.join(models) if models else 'none')}"
                       f"{'; ' + _prose(summary) if summary else ''}.</p>".replace("..</p>", ".</p>"))
            rows = []
            for key, name in (("market_led", "market-led"), ("government_led", "government-led"),
                              ("research_led", "research-led"), ("fdi_led", "FDI-led")):
                rows.append([MODELS.get(name, name), r.get(f"status_{key}"), _num(r.get(f"score_{key}"), 2),
                             _Html(_prose(r.get(f"reason_{key}")))])
            out.append(_details("Scores, indicators and reasons", _table(["model", "status", "score", "indicators and reason"], rows)))
    return "\n".join(out)
