"""Readable labels, units and one-line meanings of the result keys a reader sees.

One dictionary per table of results: :data:`PARK_RESULTS` (the columns of
:func:`geo.parks.overlay.park_overlay`, ``summary.json["valleys"][name]["park_results"]``),
:data:`COMPARISON` (the columns of :func:`geo.parks.compare.compare_valleys`,
``summary.json["comparison"]["table"]``, whose per-sub-sector and per-column keys follow
:data:`COMPARISON_PATTERNS`) and :data:`LOAD_REPORT` (the firm table's load report,
``summary.json["load"]``).  The report labels every value with them, and
``docs/summary_schema.md`` lists the same keys with the same units
(``tests/test_report.py::test_labels_match_the_schema_doc`` keeps them in step).

The stages also describe their rules in sentences (the automatic cell size, the development
models, the point-cluster method) that name their inputs by code name; :data:`TERMS` and
:func:`words` put those names in words for the report (``summary.json`` keeps the sentences
as the stages wrote them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Label", "PARK_RESULTS", "COMPARISON", "COMPARISON_PATTERNS", "LOAD_REPORT", "SIZE_RULE", "HOTSPOT_PARAMETERS",
           "P_METHODS", "STAGES", "TERMS", "label", "comparison_label",
           "humanise", "stage_label", "words"]


@dataclass(frozen=True)
class Label:
    """How a result key is shown.

    Attributes
    ----------
    text : str
        The label (a few words, no unit).
    unit : str
        The unit as ``docs/summary_schema.md`` writes it (``"–"`` for none).
    meaning : str
        One line saying what the value is.
    """

    text: str
    unit: str
    meaning: str


def _l(text: str, unit: str, meaning: str) -> Label:
    return Label(text, unit, meaning)


#: the columns of the park overlay (one row per park)
PARK_RESULTS: dict[str, Label] = {
    "name": _l("park", "–", "park name"),
    "designated": _l("designation year", "year", "year the park was designated (missing when unknown)"),
    "area_km2": _l("area", "km²", "park area"),
    "approximate_boundary": _l("approximate boundary", "bool",
                               "the park was given as a point: its outline is a disc of the approved area"),
    "n_firms": _l("firms inside", "firms", "firms inside the park"),
    "n_target": _l("target-sector firms inside", "firms", "target-sector firms inside the park"),
    "density": _l("firms per km² inside", "firms/km²", "firm density inside the park"),
    "density_valley": _l("firms per km² in the valley", "firms/km²", "firm density of the valley (study area)"),
    "density_ring": _l("firms per km² in the ring around the park", "firms/km²",
                       "firm density in a ring around the park of the park's own area"),
    "ring_width_m": _l("ring width", "m", "width of that ring"),
    "density_ratio_valley": _l("density ratio park / valley", "ratio", "density inside over density of the valley"),
    "density_ratio_ring": _l("density ratio park / ring", "ratio", "density inside over density in the ring"),
    "outside_study_area": _l("outside the study area", "bool", "the park does not touch the valley's cells (tests skipped)"),
    "lq": _l("location quotient of the target sector", "ratio", "target-sector share inside over its share in the valley"),
    "park_hot_share": _l("share of the park covered by hot cells (Gi* ≥ 95 %)", "share",
                         "share of the park's area covered by hot cells (Gi* bin ≥ 2)"),
    "hot_area_in_park": _l("share of all hot-cell area inside the park", "share", "share of all hot-cell area inside the park"),
    "jaccard": _l("Jaccard index park vs clusters", "[0, 1]", "overlap of the park and the union of hot cells (Jaccard)"),
    "dice": _l("Dice coefficient park vs clusters", "[0, 1]", "overlap of the park and the union of hot cells (Dice)"),
    "cluster_shares": _l("share of each overlapping cluster inside the park", "object id → share",
                         "for each cluster overlapping the park, the share of its area inside the park"),
    "main_cluster": _l("cluster overlapping the park most", "id", "the cluster with the largest overlap (by area) with the park"),
    "max_cluster_share": _l("largest share of one cluster's area inside the park", "share",
                            "the share of the main cluster's area inside the park (0 if none)"),
    "dist_cluster_edge_m": _l("distance to the nearest cluster's edge", "m", "0 when overlapping"),
    "dist_cluster_centroid_m": _l("distance to the nearest cluster's centroid", "m", "0 when overlapping"),
    "nearest_cluster": _l("nearest cluster", "–", "id of the nearest cluster"),
    "p_labelling": _l("random labelling p (hypergeometric, exact)", "p",
                      "are target firms over-represented inside the park? (one-sided)"),
    "mean_z": _l("mean Gi* z of the cells under the park", "z", "the random placement statistic"),
    "hot_share_cells": _l("share of the park's cells that are hot", "share", "cells under the park with Gi* bin ≥ 2"),
    "n_cells_under": _l("cells under the park", "cells", "cells whose centre lies in the park"),
    "p_placement": _l("random placement p (mean z)", "p", "one-sided pseudo p of the mean Gi* z under random placements"),
    "p_placement_hot": _l("random placement p (hot-cell coverage)", "p", "the same test on the hot-cell coverage"),
    "sim_mean_z": _l("mean Gi* z under randomly placed copies", "z", "mean of the statistic over the random placements"),
    "permutations_done": _l("random placements done", "–", "random placements that fitted in the study area"),
    "placement_acceptance": _l("share of tried placements inside the study area", "share", "share of tried placements that fitted"),
    "cluster_before": _l("cluster on the park before designation", "bool or null",
                         "was the park's location a significant cluster of target firms founded before designation"),
    "hot_share_before": _l("share of the park's cells hot before designation", "share", "Gi* of the firms founded before"),
    "hot_share_now": _l("share of the park's cells hot now", "share", "Gi* of all target firms"),
    "mean_z_before": _l("mean Gi* z under the park before designation", "z", "Gi* of the firms founded before"),
    "mean_z_now": _l("mean Gi* z under the park now", "z", "Gi* of all target firms"),
    "n_target_before": _l("target firms founded before designation (valley)", "firms", "in the whole valley"),
    "n_target_before_in_park": _l("… of them inside the park", "firms", "target firms founded before designation, inside"),
    "cluster_before_if_undated_before": _l("cluster before, counting undated firms as before", "bool or absent",
                                           "the precedence test with undated target firms counted as founded before"),
    "n_target_dated": _l("target firms with a founding year", "firms", "in the valley"),
    "n_target_undated": _l("target firms without a founding year", "firms", "in the valley"),
    "firms_in_cluster_before": _l("target firms in the pre-designation cluster touching the park", "firms",
                                  "the largest pre-designation cluster touching the park"),
    "min_cluster_firms": _l("minimum firms for a pre-designation cluster", "firms", "the minimum for such a cluster to count"),
    "entries_in_before": _l("entries inside, before", "firms", "target firms founded inside before designation"),
    "entries_in_after": _l("entries inside, from designation on", "firms", "target firms founded inside from the designation year on"),
    "entries_out_before": _l("entries outside, before", "firms", "target firms founded outside before designation"),
    "entries_out_after": _l("entries outside, from designation on", "firms", "target firms founded outside from the designation year on"),
    "years_before": _l("years before", "years", "length of the period before designation"),
    "years_after": _l("years from designation on", "years", "length of the period from designation on"),
    "rate_in_before": _l("entries per year inside, before", "firms/year", "entry rate"),
    "rate_in_after": _l("entries per year inside, after", "firms/year", "entry rate"),
    "rate_out_before": _l("entries per year outside, before", "firms/year", "entry rate"),
    "rate_out_after": _l("entries per year outside, after", "firms/year", "entry rate"),
    "rate_ratio": _l("rate ratio (95 % CI)", "ratio", "difference-in-differences entry-rate ratio"),
    "rr_lo": _l("rate ratio, lower 95 % bound", "ratio", "Wald interval"),
    "rr_hi": _l("rate ratio, upper 95 % bound", "ratio", "Wald interval"),
    "p_rate_ratio": _l("p of the rate ratio (two-sided Wald)", "p", "null: ratio = 1"),
    "correction": _l("correction", "–", "zero-count correction applied to the rate ratio, if any"),
    "precedence_skipped": _l("precedence test skipped", "–", "why the precedence test did not run"),
    "notes": _l("notes", "–", "remarks (no firms inside, park outside the study area, fewer placements than asked)"),
    "artefact": _l("possible geocoding artefact", "–", "why the hot cells under the park may be made by one stacked geocode"),
    "p_labelling_fdr": _l("random labelling p, FDR-adjusted", "p", "Benjamini–Hochberg across the valley's parks"),
    "p_labelling_mid": _l("random labelling mid-p", "p", "P(X > x) + P(X = x)/2: the discreteness remedy the verdict uses"),
    "p_labelling_mid_fdr": _l("random labelling mid-p, FDR-adjusted", "p", "the labelling p the verdict reads"),
    "p_placement_fdr": _l("random placement p, FDR-adjusted", "p", "Benjamini–Hochberg across the valley's parks"),
    "p_rate_ratio_fdr": _l("p of the rate ratio, FDR-adjusted", "p", "Benjamini–Hochberg across the valley's parks"),
    "ehs_under": _l("emerging hot spot categories under the park", "category → cells", "space-time Gi* and Mann–Kendall, per cell"),
    "ehs_ring": _l("emerging hot spot categories in the ring", "category → cells", "the ring of equal area around the park"),
    "ehs_main_under": _l("main emerging hot spot category under the park", "–", "the most frequent category other than no pattern"),
    "ehs_first_hot": _l("first year hot under the park", "year", "first step with a hot cell under the park (95 % after FDR)"),
    "ehs_first_hot_vs_designation": _l("first hot year minus designation year", "years", "negative: hot before designation"),
    "ehs_hot_final_under": _l("hot cells under the park in the final step", "cells", "space-time Gi*, 95 % after FDR"),
    "ehs_main_first_hot": _l("first year hot of the main category", "year",
                             "first step with a hot cell of the park's main category under it"),
    "ehs_main_first_hot_vs_designation": _l("main category's first hot year minus designation year", "years",
                                            "negative: the park's pattern began before designation"),
    "verdict": _l("verdict", "–", "what the three tests say together"),
    "verdict_reason": _l("why", "–", "the verdict in plain words with the numbers behind it"),
}

#: the columns of the valley comparison with a fixed name (the development stage, technology and composition)
COMPARISON: dict[str, Label] = {
    "valley": _l("valley", "–", "valley name"),
    "n_firms": _l("firms", "firms", "firms of the valley"),
    "n_target": _l("target-sector firms", "firms", "target-sector firms of the valley"),
    "stage_median_age": _l("median age of the target firms", "years", "half the target firms are younger"),
    "stage_entry_rate_5y": _l("entries per year, last 5 years", "firms/year", "target firms founded per year lately"),
    "stage_peak_entry_rate_5y": _l("peak entries per year, 5-year window", "firms/year", "the highest 5-year entry rate"),
    "stage_phase": _l("development phase", "–", "emerging, growing or mature (see the rules)"),
    "stage_entry_share_5y": _l("share founded in the last 5 years", "share", "of the target firms"),
    "stage_designated": _l("first park designated", "year", "designation year of the valley's first park"),
    "stage_share_after_designation": _l("share founded after the first park", "share", "target firms founded from then on"),
    "stage_first_localised_year": _l("first year Kd finds the sector localised", "year", "checked every 5 years"),
    "tech_rd_share": _l("R&D share, all firms", "share", "firms doing R&D"),
    "tech_rd_share_target": _l("R&D share, target firms", "share", "target firms doing R&D"),
    "tech_high_tech_share": _l("high-tech share", "share", "share of the firms in the high-tech sub-sectors of the target sector"),
    "comp_subsector_entropy": _l("sub-sector diversity (entropy)", "0–1", "normalised Shannon entropy of the sub-sector mix"),
    "comp_subsector_hhi": _l("sub-sector concentration (HHI)", "0–1", "Herfindahl index of the sub-sector mix"),
    "comp_leading": _l("leading sub-sectors", "–", "the largest sub-sectors"),
    "comp_lq_target": _l("location quotient of the target sector", "ratio", "against the union of the valleys"),
    "comp_sector_entropy": _l("sector diversity (entropy)", "0–1", "normalised Shannon entropy of the sector mix"),
    "comp_sector_hhi": _l("sector concentration (HHI)", "0–1", "Herfindahl index of the sector mix"),
    "focus": _l("specialisation (LQ > 1 and localised)", "–", "sub-sectors with LQ > 1 that Kd finds localised"),
    "kd_target": _l("Kd of the target sector", "–", "Duranton–Overman verdict"),
}

#: the entries of the firm table's load report (``geo.read_firms(...).attrs["load_report"]``, ``summary.json["load"]``)
LOAD_REPORT: dict[str, Label] = {
    "file": _l("file", "–", "the firm table read"),
    "format": _l("format", "–", "the table's format"),
    "encoding": _l("encoding", "–", "text tables: the encoding used"),
    "delimiter": _l("delimiter", "–", "text tables: the delimiter found"),
    "blank_lines_skipped": _l("blank lines skipped", "lines", "text tables: blank lines skipped"),
    "sheet": _l("Excel sheet", "–", "Excel: the sheet read"),
    "geometry": _l("coordinates from", "–", "point layers: the coordinates come from the geometry"),
    "lon_column": _l("longitude column", "–", "the column the longitudes came from"),
    "lat_column": _l("latitude column", "–", "the column the latitudes came from"),
    "id_column": _l("id column", "–", "the firm id column"),
    "crs": _l("input coordinate system", "–", "the coordinate system of the input"),
    "rows_read": _l("rows read", "rows", "data rows in the file"),
    "rows_kept": _l("rows kept", "rows", "rows used by the run"),
    "rows_rejected": _l("rows rejected", "rows", "rows not used, each in rejects.csv with its reason"),
    "rejected_by_reason": _l("rejected rows by reason", "reason → rows", "rejected rows per reason"),
    "fixed_swapped": _l("swapped latitude/longitude fixed", "rows", "rows whose latitude and longitude were swapped"),
    "stacked_rows": _l("firms in stacked geocodes", "rows", "kept rows on a stacked geocode"),
    "stacked_sites": _l("stacked geocodes", "sites", "number of stacked geocodes"),
    "stack_radius_m": _l("stack radius", "m", "the radius of a stacked geocode"),
    "stacks": _l("the biggest stacked geocodes", "–", "their id, centre, rows and spread"),
    "duplicates": _l("exact duplicate rows", "–", "what exact duplicate rows became (drop, flag or keep)"),
    "duplicates_kept": _l("exact duplicate rows kept", "rows", "duplicates kept, flagged or not"),
    "founded": _l("founding dates", "–", "the founding-date column as parsed"),
    "converted": _l("rows converted to WGS84", "system → rows", "per Chinese coordinate system"),
    "coord_systems": _l("rows by input coordinate system", "system → rows", "kept rows per system"),
    "partitions": _l("partitions", "partitions", "dask engine: the partitions the table was read in"),
    "engine": _l("engine", "–", "dask engine: the cluster that read the table"),
    "source": _l("open map data source", "–", "OpenStreetMap or Overture"),
    "sector_table": _l("sector table", "–", "the tag or category → sector table used (default, config or a file)"),
    "features_by_sector": _l("OpenStreetMap features by sector", "sector → features", "the features passed on"),
    "open_ways_skipped": _l("open OpenStreetMap ways skipped", "ways", "ways that enclose no area"),
    "start_dates_not_read": _l("start dates not read", "value → features", "the most frequent unreadable start_date values"),
    "start_dates_not_read_count": _l("start dates not read (all)", "features", "features whose start date was not read"),
    "category_column": _l("category column", "–", "Overture: the category column read"),
    "min_confidence": _l("minimum confidence", "[0, 1]", "Overture: places below it are rejected"),
    "places_mapped_by_sector": _l("Overture places by sector", "sector → places", "the places passed on"),
    "projected_values_look_like_degrees": _l("projected coordinates in degrees' range", "x min, x max, y min, y max",
                                             "the coordinates given as metres all fit in degrees' range (a wrong crs?)"),
    "extra_tables": _l("firm tables of reference valleys", "–", "the load report of each valley's own firm table"),
}

#: the inputs of the automatic cell size (``summary.json["valleys"][name]["grid"]["size_rule"]`` besides ``rule``)
SIZE_RULE: dict[str, Label] = {
    "n_firms": _l("firms", "firms", "the firms the size is chosen for"),
    "n_locations": _l("distinct locations", "locations", "firms on distinct coordinates (recorded only)"),
    "extent_area_m2": _l("area the size was chosen on", "m²", "the study area, or the firms' convex hull (see sized on)"),
    "median_nn_m": _l("median nearest-neighbour distance", "m", "recorded only"),
    "raw_size_m": _l("size by the rule, before clamping", "m", "2 firms per cell on average"),
    "min_size_m": _l("smallest size allowed", "m", "the study area in at most 100,000 cells"),
    "max_size_m": _l("largest size allowed", "m", "the study area in at least 30 cells"),
    "clamped": _l("clamped to", "–", "min or max when the rule's size was out of bounds, else null"),
    "sized_on": _l("sized on", "–", "with the cells study area: the size was chosen on the firms' convex hull"),
}

#: the hot-spot options the report states (``ValleyAnalysis.hotspot_parameters``), as words
HOTSPOT_PARAMETERS: dict[str, str] = {
    "column": "count column",
    "alpha": "α",
    "fdr": "FDR",
    "permutations": "permutations",
    "alternative": "alternative",
    "gi_statistic": "Gi statistic",
    "exact": "exact p-values",
}

#: how a cell's p-value was computed (the ``p_method`` columns of geo.stats)
P_METHODS: dict[str, str] = {
    "exact": "exact (without replacement)",
    "exact_wr": "exact, with-replacement approximation",
    "mc": "Monte Carlo",
    "normal": "normal approximation",
    "island": "no neighbours (no p-value)",
    "constant": "constant values (no p-value)",
}

#: the stages of a valley's analysis, as the "Stages not run" box names them (``ValleyResult.skipped`` keys)
STAGES: dict[str, str] = {
    "statistics": "spatial statistics",
    "target_sector": "target sector",
    "global_moran": "global Moran's I",
    "hotspots": "hot spots (Gi*, local Moran)",
    "parks": "park tests",
    "emerging_hotspots": "emerging hot spots",
    "stack_artefacts": "hot spots made by stacked geocodes",
    "models": "development models",
    "colocation": "co-location",
    "density": "kernel density",
    "point_patterns": "point patterns",
    "kd": "Duranton–Overman Kd",
    "ripley_k": "Ripley's K",
    "anchors": "research anchors",
}

#: code names in the stages' rule sentences, and the words the report shows for them (longest first)
TERMS: dict[str, str] = {
    "cluster_before is True (significant cluster on the park before designation)":
        "a significant cluster covered the park before designation (the precedence test)",
    "cluster_before is False": "no significant cluster covered the park before designation (the precedence test)",
    "anchor_core_distance_m": "the distance from the cluster's core to the nearest anchor",
    "primary_model": "primary model",
    "extent_area / cell_area": "the number of cells the study area holds",
    "extent_area_m2": "whose area is given here",
    "extent_area": "the study area",
    "cell_area": "the cell area",
    "n_firms": "the number of firms",
    "min_samples": "minimum firms around a core point",
    "eps": "radius",
    "dbscan": "DBSCAN",
    "hdbscan": "HDBSCAN",
    "2 x": "2 ×",
}

#: keys named after the data: (regular expression, doc spelling, label template with {name})
COMPARISON_PATTERNS: tuple[tuple[str, str, Label], ...] = (
    (r"comp_share_(.+)", "comp_share_<sub-sector>", _l("share of {name}", "share", "share of the target firms in this sub-sector")),
    (r"comp_lq_(.+)", "comp_lq_<sub-sector>", _l("location quotient of {name}", "ratio", "against the union of the valleys")),
    (r"tech_(.+)_per_firm", "tech_<column>_per_firm", _l("{name} per firm", "per firm", "the column's mean over the firms")),
)


def humanise(code: object) -> str:
    """A code from the data as words: ``"optical_fibre"`` -> ``"optical fibre"`` (not escaped)."""
    return re.sub(r"\s+", " ", str(code).replace("_", " ")).strip()


def words(text: object) -> str:
    """A stage's rule sentence with its code names in words (:data:`TERMS`; not escaped).

    Examples
    --------
    >>> words("cell area = 2 x extent_area / n_firms")
    'cell area = 2 × the study area / the number of firms'
    """
    out = str(text)
    for term in sorted(TERMS, key=len, reverse=True):
        out = re.sub(rf"(?<![\w.]){re.escape(term)}(?![\w])", TERMS[term], out)
    return out


def stage_label(key: str) -> str:
    """The name of a stage (a ``ValleyResult.skipped`` key) in words: ``"colocation[anchors]"`` -> "co-location: anchors".

    Examples
    --------
    >>> stage_label("emerging_hotspots"), stage_label("hotspots[all firms]"), stage_label("optics → food")
    ('emerging hot spots', 'hot spots (Gi*, local Moran): all firms', 'optics → food')
    """
    m = re.fullmatch(r"([a-z_]+)\[(.+)\]", str(key))
    if m and m.group(1) in STAGES:
        return f"{STAGES[m.group(1)]}: {m.group(2)}"
    return STAGES.get(str(key), humanise(key))


def comparison_label(key: str) -> Label | None:
    """The :class:`Label` of a comparison column (fixed or patterned); None for an unknown key."""
    if key in COMPARISON:
        return COMPARISON[key]
    for pattern, _doc, lab in COMPARISON_PATTERNS:
        m = re.fullmatch(pattern, key)
        if m:
            return Label(lab.text.format(name=humanise(m.group(1))), lab.unit, lab.meaning)
    return None


def label(key: str, *, table: str = "park_results") -> str:
    """The label of ``key`` in ``table`` (``"park_results"``, ``"comparison"`` or ``"load"``); an unknown key as words.

    Examples
    --------
    >>> label("outside_study_area"), label("comp_lq_optical_fibre", table="comparison")
    ('outside the study area', 'location quotient of optical fibre')
    """
    found = {"park_results": PARK_RESULTS.get, "comparison": comparison_label, "load": LOAD_REPORT.get}[table](key)
    return found.text if found is not None else humanise(key)
