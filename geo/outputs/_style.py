"""One style for every output: the palette, and how numbers and p-values are written.

The report (:mod:`geo.outputs.report`), the maps (:mod:`geo.outputs.maps`) and the figures
(:mod:`geo.outputs.figures`) take their colours from here and format through these
functions, so a verdict has one colour and a number reads the same in a table, a tooltip
and a figure title.  The functions return plain text (not HTML-escaped); the HTML outputs
escape it.  The number, percentage and p-value formatters live at the ground floor
(:mod:`geo._format`), because the park verdicts and the answer write numbers into sentences
too; they are re-exported here.

Palette
-------
* Park verdicts (:data:`VERDICT_COLOURS`): pre-existing cluster purple ``#7b3294``, cluster
  formed after designation green ``#1a9641``, no cluster grey ``#4d4d4d``, undetermined dark
  gold ``#b8860b``; a park without statistics blue ``#0571b0`` (:data:`NO_VERDICT_COLOUR`).
* Gi* hot/cold spots (:data:`GI_COLOURS`), keyed by the ArcGIS ``Gi_Bin`` convention:
  +3/+2/+1 = hot spot at 99/95/90 % confidence, −1/−2/−3 = cold spot, 0 = not significant.
  The six significant classes use the colours of ArcGIS Pro's hot spot renderer
  (red ``#d62f27`` / ``#ed7551`` / ``#fab984``, blue ``#c0ccbe`` / ``#849eba`` / ``#4575b5``);
  "not significant" is light grey ``#e8e8e8`` instead of ArcGIS's pale yellow, so the
  significant cells stand out on a neutral background (the maps do not draw them).
* LISA clusters (:data:`LISA_COLOURS`), GeoDa's colours: HH red ``#ff0000``, LL blue
  ``#0000ff``, LH light blue ``#a7adf9``, HL pink ``#f4ada8``, not significant light grey
  ``#e8e8e8`` (not drawn on the maps).
* Emerging hot spot categories (:data:`EHS_COLOURS`): hot spots in reds from the Gi* ramp
  (intensifying darkest ``#a50f15``, persistent ``#d62f27``, consecutive ``#ed7551``, new
  ``#f4a582``, diminishing ``#fab984``, sporadic ``#fcd5b5``, historical greyed ``#d9b8b0``,
  oscillating magenta ``#c2185b``: it was a cold spot too), cold spots in the mirrored blues;
  "no pattern" light grey (not drawn on the maps).  ArcGIS Pro's renderer also hatches some
  classes; the maps use flat fills.
* The target sector: one fixed colour in every study, magenta ``#dd3497``
  (:data:`TARGET_COLOUR`), on the firm layers and the founding-years layer of the maps.
* The other sectors (:data:`SECTOR_COLOURS`, assigned in sorted order by
  :func:`sector_colours`): eight hues without red, brown, pink or grey, so that no sector
  can be taken for the target sector, a hot spot or a marker cluster.
* Cluster polygons (contiguous hot cells): dark red ``#67001f`` (:data:`CLUSTER_COLOUR`),
  dashed, on the maps and the figures; the figures outline parks in ``#111111``
  (:data:`PARK_EDGE_COLOUR`), the maps in their verdict's colour.
* Marker clusters of the maps' firm layers (:data:`MARKER_CLUSTER_COLOURS`): a grey ramp
  by size, neutral so that a bubble cannot be read as a sector.
* Development models (:data:`MODEL_COLOURS`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from geo._format import MISSING, format_number, format_p, format_pct, is_missing, missing_as_dash, p_phrase
from geo.parks.overlay import VERDICTS

__all__ = [
    "VERDICT_COLOURS",
    "NO_VERDICT_COLOUR",
    "verdict_colour",
    "GI_COLOURS",
    "GI_LABELS",
    "EHS_COLOURS",
    "EHS_LABELS",
    "LISA_COLOURS",
    "LISA_LABELS",
    "TARGET_COLOUR",
    "SECTOR_COLOURS",
    "sector_colours",
    "CLUSTER_COLOUR",
    "PARK_EDGE_COLOUR",
    "MARKER_CLUSTER_COLOURS",
    "MODEL_COLOURS",
    "MISSING",
    "is_missing",
    "format_p",
    "p_phrase",
    "format_number",
    "format_pct",
    "format_distance",
]

# ----------------------------------------------------------------------------- palette
#: park verdict (the text of ``geo.parks.overlay.VERDICTS``) -> colour of the park on the maps
#: and of the verdict in the report
VERDICT_COLOURS = {
    VERDICTS["pre-existing"]: "#7b3294",
    VERDICTS["after"]: "#1a9641",
    VERDICTS["none"]: "#4d4d4d",
    VERDICTS["undetermined"]: "#b8860b",
}
#: a park without a verdict (its valley's park statistics did not run)
NO_VERDICT_COLOUR = "#0571b0"

#: Gi* bin (ArcGIS ``Gi_Bin``) -> colour (ArcGIS Pro hot spot renderer; not significant in light grey)
GI_COLOURS = {3: "#d62f27", 2: "#ed7551", 1: "#fab984", 0: "#e8e8e8", -1: "#c0ccbe", -2: "#849eba", -3: "#4575b5"}
#: Gi* bin -> legend text
GI_LABELS = {
    3: "Hot spot, 99 % confidence",
    2: "Hot spot, 95 % confidence",
    1: "Hot spot, 90 % confidence",
    0: "Not significant",
    -1: "Cold spot, 90 % confidence",
    -2: "Cold spot, 95 % confidence",
    -3: "Cold spot, 99 % confidence",
}
#: LISA label -> colour (GeoDa's cluster-map colours)
LISA_COLOURS = {"HH": "#ff0000", "LL": "#0000ff", "LH": "#a7adf9", "HL": "#f4ada8", "ns": "#e8e8e8"}
#: LISA label -> legend text
LISA_LABELS = {
    "HH": "High-High (cluster)",
    "LL": "Low-Low (cluster)",
    "LH": "Low-High (outlier)",
    "HL": "High-Low (outlier)",
    "ns": "Not significant",
}

#: emerging hot spot category -> colour (geo.stats.spacetime.CATEGORIES)
EHS_COLOURS = {
    "intensifying hot spot": "#a50f15", "persistent hot spot": "#d62f27", "consecutive hot spot": "#ed7551",
    "new hot spot": "#f4a582", "diminishing hot spot": "#fab984", "sporadic hot spot": "#fcd5b5",
    "oscillating hot spot": "#c2185b", "historical hot spot": "#d9b8b0",
    "intensifying cold spot": "#08306b", "persistent cold spot": "#4575b5", "consecutive cold spot": "#6f8fbf",
    "new cold spot": "#849eba", "diminishing cold spot": "#a9bdd6", "sporadic cold spot": "#d0dcea",
    "oscillating cold spot": "#6a51a3", "historical cold spot": "#b8c4d6",
    "no pattern": "#e8e8e8",
}
#: emerging hot spot category -> legend text
EHS_LABELS = {c: c[0].upper() + c[1:] for c in EHS_COLOURS}

#: the target sector's firms, in every study (the maps' firm and founding-years layers)
TARGET_COLOUR = "#dd3497"

#: qualitative palette for the other sectors (and the valleys of the figures), assigned in sorted
#: order: ColorBrewer Set1's blue, green, purple and orange, Tableau's cyan and olive, a dark
#: purple and gold; no red or brown (hot spots), pink (the target) or grey (marker clusters)
SECTOR_COLOURS = ["#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#17becf", "#bcbd22", "#6a3d9a", "#e6ab02"]

#: cluster polygons (contiguous hot cells) on the maps and the figures, drawn dashed
CLUSTER_COLOUR = "#67001f"

#: park outlines on the figures (the maps draw a park in its verdict's colour)
PARK_EDGE_COLOUR = "#111111"

#: marker-cluster bubbles of the maps by size (fewer than 10, 100, more firms) ->
#: (halo, disc, text): a grey ramp that no sector colour resembles
MARKER_CLUSTER_COLOURS = {
    "small": ("rgba(217, 217, 217, 0.7)", "rgba(189, 189, 189, 0.9)", "#222222"),
    "medium": ("rgba(189, 189, 189, 0.7)", "rgba(150, 150, 150, 0.9)", "#111111"),
    "large": ("rgba(150, 150, 150, 0.7)", "rgba(99, 99, 99, 0.9)", "#ffffff"),
}

#: development model (``geo.parks.models.MODELS``) -> colour of the park on the maps
MODEL_COLOURS = {
    "market-led": "#1b9e77",
    "government-led": "#7570b3",
    "research-led": "#d95f02",
    "FDI-led": "#e7298a",
    "none": "#999999",
    "undetermined": "#666666",
}


def verdict_colour(verdict: Any) -> str:
    """The colour of a park verdict (its text); :data:`NO_VERDICT_COLOUR` for a missing or unknown one.

    Examples
    --------
    >>> verdict_colour("cluster formed after designation"), verdict_colour(None)
    ('#1a9641', '#0571b0')
    """
    if is_missing(verdict):
        return NO_VERDICT_COLOUR
    return VERDICT_COLOURS.get(str(verdict), NO_VERDICT_COLOUR)


def sector_colours(sectors: Iterable[Any], *, target: Any = None) -> dict[str, str]:
    """A colour for each sector: :data:`TARGET_COLOUR` for the target, :data:`SECTOR_COLOURS` for the others.

    The other sectors take the palette's colours in sorted order (cycling past its end), so
    a sector has the same colour on every valley's map of a run, and the target sector the
    same colour in every study, whatever its name and rank.

    Parameters
    ----------
    sectors : iterable
        The sector names (converted to ``str``; duplicates are ignored).
    target : Any, optional
        The target sector; it gets :data:`TARGET_COLOUR` (also when not among ``sectors``).

    Returns
    -------
    dict
        sector name -> colour, in sorted order of the names.

    Examples
    --------
    >>> sector_colours(["software", "optics", "food"], target="optics")
    {'food': '#377eb8', 'optics': '#dd3497', 'software': '#4daf4a'}
    """
    names = sorted({str(s) for s in sectors})
    tgt = None if is_missing(target) else str(target)
    others = [s for s in names if s != tgt]
    colours = {s: SECTOR_COLOURS[i % len(SECTOR_COLOURS)] for i, s in enumerate(others)}
    if tgt is not None:
        colours[tgt] = TARGET_COLOUR
    return {s: colours[s] for s in sorted(colours)}


# ----------------------------------------------------------------------------- numbers


@missing_as_dash
def format_distance(metres: Any) -> str:
    """A distance: ``"850 m"`` below 1 km, ``"1.23 km"`` from 1 km; :data:`MISSING` when missing.

    Examples
    --------
    >>> format_distance(850.4), format_distance(1234.0), format_distance(None)
    ('850 m', '1.23 km', '—')
    """
    f = float(metres)
    return f"{f / 1000:,.2f} km" if abs(f) >= 1000 else f"{f:,.0f} m"
