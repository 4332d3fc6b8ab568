"""The headline answer of a run: how many parks got each verdict, how many clusters lie
outside every park, and the sentences that state those counts and only what they imply.

:func:`research_answer` summarises the park verdicts (:func:`geo.parks.overlay.park_overlay`),
the clusters outside parks (:func:`geo.parks.clusters.clusters_outside_parks`) and the valley
comparison's first Kd-localised year (:func:`geo.parks.compare.compare_valleys`) of every
valley, and — when they are significant — the emerging hot spot pattern under each park
against its designation year (:mod:`geo.parks.emerging`) and the co-location of the target
firms with research anchors (the co-location stage, :mod:`geo.stats.colocation`).
``Results.answer`` computes it once for the report, which opens with it, and for
``summary.json``, which holds it under ``"answer"`` (:meth:`Answer.to_dict`): both read the
same object.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from geo._format import format_number, is_missing, p_phrase
from geo.parks.clusters import clusters_outside_parks
from geo.parks.overlay import VERDICTS

__all__ = ["Answer", "research_answer", "park_tests"]

#: the default minimum of target firms of a "large" cluster (the overlay's ``min_cluster_firms``)
_MIN_CLUSTER_FIRMS = 10


@dataclass(frozen=True)
class Answer:
    """The counts that answer the research question, and the sentences that state them.

    Attributes
    ----------
    n_parks : int
        Parks of the run (assessed or not).
    verdicts : dict
        Verdict text (``geo.parks.overlay.VERDICTS``, in that order, every verdict present)
        -> tuple of ``(valley, park name)``.
    not_assessed : tuple
        ``(valley, park name, reason)`` of the parks whose valley's park stage did not run.
    n_clusters : int
        Clusters (contiguous Gi* hot cells) over all valleys.
    n_clusters_outside_parks : int
        Clusters with less than :attr:`outside_max_share` of their area in any park.
    n_firms_in_clusters_outside_parks : int
        Firms in those clusters.
    n_large_clusters_outside_parks : int
        Those with at least :attr:`min_cluster_firms` target-sector firms (all firms without
        a target sector).
    min_cluster_firms : int
        The park overlay's minimum number of firms of a cluster.
    outside_max_share : float
        A cluster with less than this share of its area in a park lies outside parks.
    target_sector : str or None
    kd_localised_before_designation, kd_localised_from_designation : tuple of str
        Valleys whose target sector the Kd test first finds localised before / from the
        designation year of their first park.
    facts : tuple of str
        Sentences that state the counts.
    conclusions : tuple of str
        Sentences that state what the counts imply, and nothing more.
    emerging : tuple of dict
        One per park whose main emerging hot spot category is a hot spot (significant bins at
        ``alpha`` after FDR): ``valley``, ``park``, ``category``, ``n_cells`` (cells of that
        category under the park), ``n_cells_under``, ``first_hot`` (the first year a cell of
        that category was hot), ``designated`` and ``timing`` (``"after designation"``,
        ``"in the designation year"``, ``"before designation"``, or None without a year).
    colocation : tuple of dict
        One per valley whose global CLQ(target firms → research anchors) is significant at
        ``alpha``: ``valley``, ``clq``, ``p``, ``relation`` (``"colocated"`` above 1,
        ``"isolated"`` below), ``n_local`` (target firms whose local CLQ towards the anchors
        is significant after FDR with the same sign; None without the local table) and
        ``n_firms`` (the target firms tested).
    """

    n_parks: int
    verdicts: dict[str, tuple[tuple[str, str], ...]]
    not_assessed: tuple[tuple[str, str, str], ...]
    n_clusters: int
    n_clusters_outside_parks: int
    n_firms_in_clusters_outside_parks: int
    n_large_clusters_outside_parks: int
    min_cluster_firms: int
    outside_max_share: float
    target_sector: str | None
    kd_localised_before_designation: tuple[str, ...]
    kd_localised_from_designation: tuple[str, ...]
    facts: tuple[str, ...]
    conclusions: tuple[str, ...]
    emerging: tuple[dict, ...] = ()
    colocation: tuple[dict, ...] = ()

    @property
    def sentences(self) -> tuple[str, ...]:
        """:attr:`facts` then :attr:`conclusions`: the answer in the order the report gives it."""
        return self.facts + self.conclusions

    @property
    def verdict_counts(self) -> dict[str, int]:
        """Verdict text -> number of parks."""
        return {v: len(parks) for v, parks in self.verdicts.items()}

    def to_dict(self) -> dict:
        """The JSON-ready form (``summary.json["answer"]``, described in ``docs/summary_schema.md``)."""
        return {
            "n_parks": self.n_parks,
            "verdict_counts": self.verdict_counts,
            "verdicts": {v: [{"valley": valley, "park": park} for valley, park in parks] for v, parks in self.verdicts.items()},
            "not_assessed": [{"valley": valley, "park": park, "reason": reason} for valley, park, reason in self.not_assessed],
            "n_clusters": self.n_clusters,
            "n_clusters_outside_parks": self.n_clusters_outside_parks,
            "n_firms_in_clusters_outside_parks": self.n_firms_in_clusters_outside_parks,
            "n_large_clusters_outside_parks": self.n_large_clusters_outside_parks,
            "min_cluster_firms": self.min_cluster_firms,
            "outside_max_share": self.outside_max_share,
            "target_sector": self.target_sector,
            "kd_localised_before_designation": list(self.kd_localised_before_designation),
            "kd_localised_from_designation": list(self.kd_localised_from_designation),
            "emerging": [dict(e) for e in self.emerging],
            "colocation": [dict(c) for c in self.colocation],
            "facts": list(self.facts),
            "conclusions": list(self.conclusions),
            "sentences": list(self.sentences),
        }


def research_answer(valleys: Mapping[str, Any], *, target_sector: str | None = None, founded_column: str = "founded",
                    comparison: Any = None, synthetic: bool = False, scales: Mapping | None = None,
                    alpha: float | None = None) -> Answer:
    """Counts of verdicts and of clusters outside parks, and the sentences that state only them.

    Parameters
    ----------
    valleys : mapping of str to geo.pipeline.results.ValleyResult
        Valley name -> its results; read are ``parks`` (a frame with a ``name`` column),
        ``skipped`` (stage -> reason) and the ``analysis`` fields ``parks_overlay`` (with the
        ``ehs_*`` columns of :func:`geo.parks.emerging.park_emerging` when the emerging hot
        spots ran), ``clusters``, ``clusters_outside_parks``, ``metric_firms``, ``colocation``
        (the co-location stage, :class:`geo.pipeline._colocation.Colocation`: the row of its
        ``table`` of ``relation`` ``"anchors"``, and the rows of its ``local`` table towards
        ``"research anchors"``) and ``emerging``.
    target_sector : str, optional
        The target sector of the run (None: all firms).
    founded_column : str, default "founded"
        The firms' founding-year column (the last year is named in a conclusion).
    comparison : pandas.DataFrame, optional
        The table of :func:`geo.parks.compare.compare_valleys` (``ValleyComparison.table``: its
        ``stage_first_localised_year`` and ``stage_designated`` columns), indexed by valley.
    synthetic : bool, default False
        Whether the run used synthetic data (a last sentence says so).
    scales : mapping, optional
        The scale sensitivity of the verdicts (``Results.scale_sensitivity``): a conclusion
        names every park whose verdict changes with the cell size, or says that none does.
    alpha : float, optional
        Significance level of the co-location sentence (None: the level the valleys'
        emerging hot spots recorded, else 0.05).  The emerging hot spot categories and the
        local co-location labels carry the run's level already.

    Returns
    -------
    Answer
        Its facts end with one sentence per park whose main emerging hot spot category is a
        hot spot (when its cells of that category first became hot, against the designation
        year) and one on the valleys whose target firms are significantly co-located with, or
        kept apart from, research anchors; parks with no pattern and valleys without a
        significant CLQ add no sentence.

    Examples
    --------
    >>> import geo
    >>> from geo.datasets import demo_files
    >>> res = geo.run(demo_files()["config"])  # doctest: +SKIP
    >>> res.answer.verdict_counts["cluster formed after designation"]  # doctest: +SKIP
    1
    """
    verdicts, not_assessed, min_firms = _verdicts(valleys)
    outside = _outside(valleys, target_sector, min_firms)
    before, after, kd_text = _kd_timing(comparison)
    what = f"{target_sector} firms" if target_sector else "firms"
    n_parks = sum(len(v) for v in verdicts.values()) + len(not_assessed)
    facts = _facts(verdicts, not_assessed, n_parks, outside, min_firms, what, kd_text)
    emerging = _emerging(valleys)
    colocated = _colocation(valleys, _alpha(valleys, alpha))
    facts += [_emerging_sentence(e) for e in emerging]
    if colocated:
        facts.append(_colocation_sentence(colocated, what))
    conclusions = _conclusions(verdicts, outside, min_firms, what, before, after, _last_year(valleys, founded_column), synthetic)
    if scales and scales.get("parks"):
        conclusions.insert(len(conclusions) - int(synthetic), _scale_sentence(scales))
    return Answer(
        n_parks=n_parks,
        verdicts={v: tuple(parks) for v, parks in verdicts.items()},
        not_assessed=tuple(not_assessed),
        n_clusters=outside["n_clusters"],
        n_clusters_outside_parks=outside["n_outside"],
        n_firms_in_clusters_outside_parks=outside["firms"],
        n_large_clusters_outside_parks=outside["large"],
        min_cluster_firms=min_firms,
        outside_max_share=_outside_max_share(),
        target_sector=target_sector,
        kd_localised_before_designation=tuple(before),
        kd_localised_from_designation=tuple(after),
        facts=tuple(facts),
        conclusions=tuple(conclusions),
        emerging=tuple(emerging),
        colocation=tuple(colocated),
    )


def _outside_max_share() -> float:
    """The default ``max_share`` of :func:`geo.parks.clusters.clusters_outside_parks` (the pipeline's)."""
    return float(inspect.signature(clusters_outside_parks).parameters["max_share"].default)


def _verdicts(valleys) -> tuple[dict[str, list[tuple[str, str]]], list[tuple[str, str, str]], int]:
    """(verdict text -> [(valley, park)], [(valley, park, reason)] not assessed, min_cluster_firms)."""
    verdicts: dict[str, list[tuple[str, str]]] = {v: [] for v in VERDICTS.values()}
    not_assessed: list[tuple[str, str, str]] = []
    min_firms = _MIN_CLUSTER_FIRMS
    for name, vr in valleys.items():
        ov = vr.analysis.parks_overlay
        if ov is not None and len(ov):
            for row in pd.DataFrame(ov, copy=False).to_dict(orient="records"):
                text = str(row.get("verdict"))
                verdicts[text if text in verdicts else VERDICTS["undetermined"]].append((name, str(row.get("name"))))
                if not is_missing(row.get("min_cluster_firms")):
                    min_firms = int(row["min_cluster_firms"])
        elif len(vr.parks):
            reason = (vr.skipped.get("statistics") or vr.skipped.get("hotspots")
                      or next(iter(vr.skipped.values()), "the park stage did not run"))
            not_assessed.extend((name, str(p), reason) for p in vr.parks["name"])
    return verdicts, not_assessed, min_firms


def _outside(valleys, target_sector: str | None, min_firms: int) -> dict[str, int]:
    """Clusters, clusters outside parks, their firms, and those with at least ``min_firms`` target firms; the valleys
    counted (``n_valleys``) and those where no hot spot test ran (``untested``: (valley, why) pairs)."""
    out: dict[str, Any] = {"n_clusters": 0, "n_outside": 0, "firms": 0, "large": 0, "artefacts": 0, "untested": [],
                           "n_valleys": 0}
    for name, vr in valleys.items():
        if target_sector is not None and "target_sector" in vr.skipped:
            continue  # its clusters are of all firms, not of the target sector
        out["n_valleys"] += 1
        why = vr.skipped.get("statistics") or vr.skipped.get("hotspots")
        if why:  # no hot spot test ran: its "no cluster" is not a finding
            out["untested"].append((str(name), str(why)))
        cl = vr.analysis.clusters
        if cl is not None:
            out["n_clusters"] += len(cl)
        outside = vr.analysis.clusters_outside_parks
        if outside is None or not len(outside):
            continue
        out["n_outside"] += len(outside)
        out["firms"] += int(pd.to_numeric(outside["n_firms"], errors="coerce").fillna(0).sum())
        has_target = target_sector is not None and "n_target" in outside and outside["n_target"].notna().any()
        col = "n_target" if has_target else "n_firms"
        large = (pd.to_numeric(outside[col], errors="coerce").fillna(0) >= min_firms).to_numpy()
        artefact = outside["artefact"].fillna("").astype(str).ne("").to_numpy() if "artefact" in outside else np.zeros(len(outside), bool)
        out["large"] += int((large & ~artefact).sum())  # a cluster that may be a stacked geocode proves nothing
        out["artefacts"] += int((large & artefact).sum())
    return out


def _last_year(valleys, founded_column: str) -> int | None:
    """The latest founding year among the valleys' firms (None: no years)."""
    years = []
    for vr in valleys.values():
        fm = vr.analysis.metric_firms
        if fm is not None and founded_column in fm:
            y = pd.to_numeric(fm[founded_column], errors="coerce").max()
            if not is_missing(y):
                years.append(int(y))
    return max(years) if years else None


def _kd_timing(comparison) -> tuple[list[str], list[str], list[str]]:
    """(valleys localised before their first park, from it on, and the text of each valley)."""
    before: list[str] = []
    after: list[str] = []
    parts: list[str] = []
    if not (isinstance(comparison, pd.DataFrame) and {"stage_first_localised_year", "stage_designated"} <= set(comparison.columns)):
        return before, after, parts
    for valley, row in comparison.iterrows():
        first, design = row["stage_first_localised_year"], row["stage_designated"]
        if is_missing(design):
            continue
        if is_missing(first):
            parts.append(f"{valley}: not localised in any year checked (first park {int(design)})")
            continue
        parts.append(f"{valley} by {int(first)} (first park {int(design)})")
        (before if int(first) < int(design) else after).append(str(valley))
    return before, after, parts


_VERDICT_PHRASES = {
    "pre-existing": "{n} {sit} on a cluster that existed before designation",
    "after": "{n} saw a cluster form after designation",
    "none": "{n} {do} not coincide with a significant cluster",
    "undetermined": "{n} {coincide} with a cluster but the timing is undetermined (see each park's reason)",
}


def _facts(verdicts, not_assessed, n_parks: int, outside: dict[str, Any], min_firms: int, what: str,
           kd_text: list[str]) -> list[str]:
    """The sentences that state the counts."""
    s: list[str] = []
    if n_parks == 0:
        s.append("No parks were analysed in this run, so it cannot say whether parks coincide with clusters.")
    else:
        parts = []
        for key, fmt in _VERDICT_PHRASES.items():
            n = len(verdicts[VERDICTS[key]])
            if n:
                parts.append(fmt.format(n=n, sit="sits" if n == 1 else "sit", do="does" if n == 1 else "do",
                                        coincide="coincides" if n == 1 else "coincide"))
        if not_assessed:
            parts.append(f"{len(not_assessed)} could not be assessed")
        s.append(f"Of {n_parks} park{'s' if n_parks != 1 else ''}, " + _join(parts) + ".")
    n_clusters, n_outside, large = outside["n_clusters"], outside["n_outside"], outside["large"]
    untested = outside["untested"]
    if untested:
        reasons: dict[str, list[str]] = {}
        for v, why in untested:
            reasons.setdefault(why.strip().rstrip("."), []).append(v)
        why = ("; ".join(reasons) if len(reasons) == 1 else
               "; ".join(f"{_join(vs)}: {r}" for r, vs in reasons.items()))
        s.append(f"No hot spot test ran in {_join([v for v, _ in untested])} ({why}), so the run says nothing about "
                 "clusters there.")
    if n_clusters == 0 and len(untested) < outside["n_valleys"]:
        s.append(f"No significant cluster of {what} (contiguous Gi* hot cells at ≥ 95 % confidence) was found"
                 + (" in the other valleys." if untested else "."))
    elif n_clusters:
        s.append(
            f"{n_outside} of {n_clusters} cluster{'s' if n_clusters != 1 else ''} of {what} (contiguous Gi* hot cells at ≥ 95 % "
            f"confidence) lie outside any park (less than {_outside_max_share():.0%} of the cluster's area in a park)"
            + (f", holding {outside['firms']:,} firms; {large} of them hold{'s' if large == 1 else ''} at least "
               f"{min_firms} {what}." if n_outside else ".")
        )
    if kd_text:
        s.append(f"The grid-free Duranton–Overman test first finds {what} localised in " + _join(kd_text)
                 + "; the years checked are multiples of 5.")
    return s


def _conclusions(verdicts, outside: dict[str, int], min_firms: int, what: str, kd_before: list[str], kd_after: list[str],
                 last_year: int | None, synthetic: bool) -> list[str]:
    """The sentences that state what the counts imply, and nothing more."""
    s: list[str] = []
    if outside["large"]:
        s.append("Clusters exist without a park, so in these data a park is not a precondition for a cluster.")
    if outside.get("artefacts"):
        n = outside["artefacts"]
        what_is = "a geocoding artefact (a stacked geocode) and is" if n == 1 else "geocoding artefacts (stacked geocodes) and are"
        s.append(f"{n} cluster{'s' if n != 1 else ''} outside parks may be {what_is} not counted as evidence.")
    pre, after, none = (verdicts[VERDICTS[k]] for k in ("pre-existing", "after", "none"))
    # the park names end the sentence: a name ending in ")" is not wrapped in a second parenthesis
    if pre:
        s.append(f"Where a park sits on a cluster that predates it, the cluster came first: {_join(_park_names(pre, verdicts))}.")
    if after:
        s.append("Where the cluster formed after designation, the timing is consistent with a park effect but does not "
                 f"prove one, as other causes are not tested: {_join(_park_names(after, verdicts))}.")
    if kd_before:
        s.append(f"By the Kd test, {what} were already localised before the first park was designated in {_join(kd_before)}.")
    if kd_after:
        s.append(f"By the Kd test, {what} became localised only from the first park's designation on in {_join(kd_after)} "
                 "(within the 5-year resolution of the check).")
    if none:
        last = f" by {last_year}" if last_year is not None else ""
        n = len(none)
        s.append(f"{n} park{'s' if n != 1 else ''} {'do' if n != 1 else 'does'} not coincide with a significant cluster of "
                 f"{what}{last} (no cluster overlaps {'them' if n != 1 else 'it'}, or the overlap is no larger than chance).")
    if synthetic:
        s.append("These are synthetic demo data: the statements describe the simulation, not the real valleys.")
    return s


def _alpha(valleys, alpha: float | None) -> float:
    """The given level, else the one the valleys' emerging hot spots recorded, else 0.05."""
    if alpha is not None:
        return float(alpha)
    for vr in valleys.values():
        ehs = getattr(vr.analysis, "emerging", None)
        if ehs is not None and not is_missing(ehs.options.get("alpha")):
            return float(ehs.options["alpha"])
    return 0.05


def _emerging(valleys) -> list[dict]:
    """The parks whose main emerging hot spot category is a hot spot, with its first hot year."""
    out: list[dict] = []
    for name, vr in valleys.items():
        ov = vr.analysis.parks_overlay
        if ov is None or not len(ov) or "ehs_main_first_hot" not in ov:
            continue
        for row in pd.DataFrame(ov, copy=False).to_dict(orient="records"):
            category, first = str(row.get("ehs_main_under")), row.get("ehs_main_first_hot")
            if not category.endswith(" hot spot") or is_missing(first):
                continue
            under = row.get("ehs_under") if isinstance(row.get("ehs_under"), Mapping) else {}
            designated = None if is_missing(row.get("designated")) else int(row["designated"])
            timing = None
            if designated is not None:
                gap = int(first) - designated
                timing = "after designation" if gap > 0 else "before designation" if gap < 0 else "in the designation year"
            out.append({"valley": str(name), "park": str(row.get("name")), "category": category,
                        "n_cells": int(under.get(category, 0)), "n_cells_under": int(sum(under.values())),
                        "first_hot": int(first), "designated": designated, "timing": timing})
    return out


#: how the cells of each hot spot category behaved from their first hot year on
_EHS_VERBS = {
    "new hot spot": "became a hot spot in {y}",
    "consecutive hot spot": "became a hot spot in {y} and have stayed one",
    "intensifying hot spot": "have been a hot spot nearly throughout since {y}",
    "persistent hot spot": "have been a hot spot nearly throughout since {y}",
    "diminishing hot spot": "have been a hot spot nearly throughout since {y}",
    "historical hot spot": "were a hot spot nearly throughout from {y} but no longer are",
    "oscillating hot spot": "were first a hot spot in {y}, on and off since",
    "sporadic hot spot": "were first a hot spot in {y}, on and off since",
}


def _emerging_sentence(e: Mapping[str, Any]) -> str:
    """``In Wuhan the cells under <park> became a hot spot in 1996 ..., 5 years after its designation in 1991: ...``."""
    y, d = e["first_hot"], e["designated"]
    when = ""
    if d is not None:
        gap = abs(y - d)
        when = (f", in the year of its designation ({d})" if gap == 0 else
                f", {gap} year{'s' if gap != 1 else ''} {'after' if y > d else 'before'} its designation in {d}")
    cat = e["category"]
    article = "an" if cat[:1] in "aeiou" else "a"
    # no ") (": a park name may end in a parenthesis (the report's rule)
    return (f"In {e['valley']} the cells under {e['park']} {_EHS_VERBS[cat].format(y=y)}{when}: "
            f"{article} {cat}, {e['n_cells']} of its {e['n_cells_under']} cells (emerging hot spot analysis).")


def _colocation(valleys, alpha: float) -> list[dict]:
    """The valleys whose global CLQ(target firms → research anchors) is significant at ``alpha``."""
    out: list[dict] = []
    for name, vr in valleys.items():
        co = vr.analysis.colocation  # geo.pipeline._colocation.Colocation
        table = co.table if co is not None else None
        if table is None or not len(table) or "relation" not in table:
            continue
        rows = table[table["relation"] == "anchors"]
        if not len(rows):
            continue
        clq, p = rows["clq"].iloc[0], rows["p"].iloc[0]
        if is_missing(clq) or is_missing(p) or not float(p) < alpha or float(clq) == 1.0:
            continue
        relation = "colocated" if float(clq) > 1.0 else "isolated"
        n_local = n_firms = None
        local = co.local
        if local is not None and {"b", "label"} <= set(local.columns):
            part = local[local["b"] == "research anchors"]
            if len(part):
                n_local, n_firms = int((part["label"] == relation).sum()), len(part)
        out.append({"valley": str(name), "clq": float(clq), "p": float(p), "relation": relation,
                    "n_local": n_local, "n_firms": n_firms})
    return out


def _colocation_sentence(rows: list[Mapping[str, Any]], what: str) -> str:
    """``Optics firms sit next to research anchors in Changchun (CLQ 6.6, p = 0.002; ...).``"""
    def part(r: Mapping[str, Any]) -> str:
        local = ""
        if r["n_local"]:
            local = f"; {r['n_local']:,} of its {r['n_firms']:,} {what} significantly so by their local CLQ after FDR"
        return f"{r['valley']} (CLQ {r['clq']:.2f}, {p_phrase(r['p'])}{local})"

    near = [part(r) for r in rows if r["relation"] == "colocated"]
    apart = [part(r) for r in rows if r["relation"] == "isolated"]
    subject = what[:1].upper() + what[1:]
    clauses = []
    if near:
        clauses.append(f"sit next to research institutes and universities more often than chance in {_join(near)}")
    if apart:
        clauses.append(f"keep away from them in {_join(apart)}" if near else
                       f"keep away from research institutes and universities in {_join(apart)}")
    return f"{subject} " + ", and ".join(clauses) + ", by the co-location quotient of the 8 nearest neighbours."


def _scale_sentence(scales: Mapping) -> str:
    """Which park verdicts change with the cell size ("scale-dependent"), or that none does."""
    labels = list(scales["scales"])
    span = f"{labels[0]}–{labels[-1]}" if len(labels) > 1 else labels[0]
    moving = list(scales.get("scale_dependent") or [])
    if not moving:
        return f"Every park's verdict is the same at cell sizes {span} the chosen size (stable to the scale)."
    parts = []
    for r in moving:
        by = "; ".join(f"{v} at {k}" for k, v in r["verdicts"].items())
        parts.append(f"{r['park']} ({by})")
    n = len(moving)
    return (f"{n} park verdict{'s' if n != 1 else ''} change{'' if n != 1 else 's'} with the cell size, so "
            f"{'they hold' if n != 1 else 'it holds'} only at the chosen scale: {_join(parts)}.")


def _park_names(pairs: list[tuple[str, str]], verdicts: Mapping[str, list[tuple[str, str]]]) -> list[str]:
    """The parks of ``pairs`` (valley, park) by name, with ``in <valley>`` where two valleys have a park of that name
    (``高新技术产业开发区`` is the name of many cities' high-tech zones)."""
    valleys_of: dict[str, set[str]] = {}
    for parks in verdicts.values():
        for valley, park in parks:
            valleys_of.setdefault(park, set()).add(valley)
    return [f"{p} in {v}" if len(valleys_of.get(p, ())) > 1 else p for v, p in pairs]


def _join(items: list[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _fdr_p(row: Mapping[str, Any], key: str) -> tuple[Any, str]:
    """(p, "after FDR" or "") of a test: the FDR-adjusted p when the row has it, else the raw one."""
    adjusted = row.get(f"{key}_fdr")
    if not is_missing(adjusted):
        return adjusted, " after FDR"
    return row.get(key), ""


def park_tests(row: Mapping[str, Any], *, alpha: float = 0.05, what: str = "target-sector firms",
               scale: Mapping[str, Any] | None = None) -> tuple[tuple[str, str], ...]:
    """The three park tests of one park in words: random labelling, random placement, precedence.

    The report's park cards open with these sentences under the verdict; they state each
    test's outcome at ``alpha`` with its p-value (Benjamini–Hochberg adjusted when the row
    holds ``p_<test>_fdr``) and nothing more.

    Parameters
    ----------
    row : mapping
        One row of :func:`geo.parks.overlay.park_overlay` (``p_labelling``, ``p_placement``,
        their ``_fdr`` columns, ``n_firms``, ``n_target``, ``mean_z``, ``sim_mean_z``,
        ``cluster_before``, ``designated``, ``hot_share_before``, ``precedence_skipped``).
    alpha : float, default 0.05
        The significance level of the run (``[analysis] alpha``).
    what : str, default "target-sector firms"
        The firms tested, as words (``"optics firms"``).
    scale : mapping, optional
        The park's record of the scale sensitivity (``Results.scale_sensitivity["parks"]``:
        ``verdicts`` by scale label, ``stability``); a fourth sentence, ``"Cell size"``, says
        whether the verdict holds at every scale.

    Returns
    -------
    tuple of (str, str)
        ``(test name, sentence)`` for ``"Random labelling"``, ``"Random placement"`` and
        ``"Precedence"``, in that order (then ``"Cell size"`` with ``scale``).

    Examples
    --------
    >>> row = {"p_labelling": 0.001, "p_labelling_fdr": 0.002, "n_firms": 50, "n_target": 30,
    ...        "p_placement": 0.4, "mean_z": 0.2, "sim_mean_z": 0.1, "designated": 1991, "cluster_before": False}
    >>> [s for _, s in park_tests(row, what="optics firms")][0]
    'Optics firms are over-represented inside the park (30 of its 50 firms; p = 0.002 after FDR).'
    """
    def num(key: str, **style: Any) -> str:
        v = row.get(key)
        return format_number(v if is_missing(v) else float(v), **style)

    def significant(p: Any) -> bool:
        return not is_missing(p) and float(p) < alpha

    mid = not (is_missing(row.get("p_labelling_mid")) and is_missing(row.get("p_labelling_mid_fdr")))
    p, adj = _fdr_p(row, "p_labelling_mid" if mid else "p_labelling")
    if mid and not is_missing(p):
        adj = f" (mid-p){adj}"
    if is_missing(p):
        lab = "not computed (no firms inside the park)."
    else:
        lab = (f"{what[:1].upper() + what[1:]} {'are' if significant(p) else 'are not'} over-represented inside the park "
               f"({num('n_target')} of its {num('n_firms')} firms; {p_phrase(p)}{adj}).")
    p, adj = _fdr_p(row, "p_placement")
    if is_missing(p):
        place = "not computed (the park is outside the study area or too large to place at random)."
    else:
        place = (f"The cells under the park are {'hotter' if significant(p) else 'no hotter'} than under randomly placed copies "
                 f"of it (mean Gi* z {num('mean_z', decimals=2)} vs {num('sim_mean_z', decimals=2)}; {p_phrase(p)}{adj}).")
    before, year = row.get("cluster_before"), row.get("designated")
    if is_missing(before) or is_missing(year):
        why = row.get("precedence_skipped")
        prec = f"not run ({why if not is_missing(why) and str(why) else 'no designation year'})."
    elif bool(before):
        share = row.get("hot_share_before")
        prec = (f"A significant cluster of {what} already covered the park before {int(year)}"
                + ("" if is_missing(share) else f" ({float(share):.0%} of its cells hot)") + ".")
    else:
        prec = f"No significant cluster of {what} covered the park before {int(year)}."
    out = (("Random labelling", lab), ("Random placement", place), ("Precedence", prec))
    verdicts = dict((scale or {}).get("verdicts") or {})
    if verdicts:
        labels = _join(list(verdicts))
        if len(set(verdicts.values())) == 1:
            out += (("Cell size", f"The same verdict at {labels} the chosen cell size."),)
        else:
            by = "; ".join(f"{v} at {k}" for k, v in verdicts.items())
            out += (("Cell size", f"The verdict changes with the cell size ({by}): it holds only at the chosen scale."),)
    return out
