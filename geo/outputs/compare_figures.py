"""The valley comparison as small multiples: one figure per dimension of the comparison.

:func:`comparison_chart` draws one dimension of :func:`geo.parks.compare.compare_valleys`'
``table`` — the development stage (``stage_*``), the technological conditions (``tech_*``) or the
industrial composition (``comp_*``) — as a column of small dot plots, one per measure, each
on its own axis (the measures have different units), one row per valley.  The composition
adds the sub-sector mix as a stacked bar per valley.  Labels come from
:mod:`geo.outputs._labels`, colours from :mod:`geo.outputs._style`; the report shows the
three PNGs side by side (``comparison_stage.png``, ``comparison_technology.png``,
``comparison_composition.png``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from geo.outputs._draw import DPI, _new, _png, _style, _text
from geo.outputs._labels import comparison_label, humanise
from geo.outputs._style import SECTOR_COLOURS, format_number

__all__ = ["DIMENSIONS", "comparison_measures", "comparison_chart", "comparison_figure_name"]

#: the dimensions of the comparison: key -> (title, the fixed measures drawn, in order)
DIMENSIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "stage": ("Development stage", ("stage_median_age", "stage_entry_rate_5y", "stage_entry_share_5y",
                                     "stage_share_after_designation")),
    "technology": ("Technological conditions", ("tech_rd_share", "tech_rd_share_target", "tech_high_tech_share")),
    "composition": ("Industrial composition", ("comp_lq_target", "comp_subsector_entropy", "comp_subsector_hhi")),
}
_YEARS = ("stage_designated", "stage_first_localised_year")
_SHARE_UNITS = {"share"}


def comparison_figure_name(dimension: str) -> str:
    """``comparison_<dimension>.png``."""
    return f"comparison_{dimension}.png"


def _frame(table) -> pd.DataFrame:
    from geo.parks.compare import ValleyComparison

    frame = pd.DataFrame(table.table if isinstance(table, ValleyComparison) else table, copy=False)
    if "valley" in frame.columns:
        frame = frame.set_index("valley")
    frame.index = frame.index.astype(str)
    return frame


def _numeric(frame: pd.DataFrame, key: str) -> np.ndarray | None:
    if key not in frame.columns:
        return None
    values = pd.to_numeric(frame[key], errors="coerce").to_numpy(float)
    return values if np.isfinite(values).any() else None


def comparison_measures(table: pd.DataFrame, dimension: str) -> list[str]:
    """The measures of ``dimension`` present (with a number) in the comparison table, in drawing order.

    The technology dimension adds every ``tech_<column>_per_firm`` column of the table.
    """
    frame = _frame(table)
    keys = list(DIMENSIONS[dimension][1])
    if dimension == "technology":
        keys += sorted(c for c in frame.columns if re.fullmatch(r"tech_.+_per_firm", str(c)))
    return [k for k in keys if _numeric(frame, k) is not None]


def _subsector_shares(frame: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in frame.columns if str(c).startswith("comp_share_")]
    shares = frame[cols].apply(pd.to_numeric, errors="coerce").fillna(0.0)
    shares.columns = [humanise(str(c)[len("comp_share_"):]) for c in cols]
    return shares


def _strip(ax, valleys: list[str], values: np.ndarray, key: str, colours: list[str]) -> None:
    """One measure: a dot per valley on its own axis, the value written beside the dot."""
    lab = comparison_label(key)
    share = lab is not None and lab.unit in _SHARE_UNITS
    shown = values * 100 if share else values
    y = np.arange(len(valleys))[::-1]
    finite = np.isfinite(shown)
    hi = float(np.nanmax(shown[finite])) if finite.any() else 1.0
    lo = min(0.0, float(np.nanmin(shown[finite]))) if finite.any() else 0.0
    ax.hlines(y, lo, np.where(finite, shown, lo), color="#dddddd", lw=1.0, zorder=1)
    ax.scatter(np.where(finite, shown, np.nan), y, c=colours, s=42, zorder=2, edgecolors="black", linewidths=0.5)
    right = 100.0 if share else (hi * 1.3 if hi > 0 else 1.0)
    for yy, v, ok in zip(y, shown, finite):
        text = (format_number(v, digits=3) + (" %" if share else "")) if ok else "—"
        inside = ok and v > lo + 0.75 * (right - lo)  # near the right edge: the value goes left of the dot
        ax.annotate(text, (v if ok else lo, yy), xytext=(-6 if inside else 6, 0), textcoords="offset points", va="center",
                    ha="right" if inside else "left", fontsize=8)
    ax.set_xlim(lo, right)
    ax.set_yticks(y, valleys, parse_math=False)
    ax.set_ylim(-0.6, len(valleys) - 0.4)
    unit = "%" if share else (lab.unit if lab is not None and lab.unit not in ("–", "ratio") else "")
    title = (lab.text if lab is not None else humanise(key)) + (f" ({unit})" if unit else "")
    ax.set_title(title, fontsize=9, parse_math=False)
    ax.tick_params(axis="x", labelsize=7)


def _years(ax, frame: pd.DataFrame, valleys: list[str]):
    """First park designation (square) and first Kd-localised year (diamond) per valley, on one year axis."""
    from matplotlib.ticker import MaxNLocator

    y = np.arange(len(valleys))[::-1]
    design = pd.to_numeric(frame.get("stage_designated"), errors="coerce") if "stage_designated" in frame else None
    first = pd.to_numeric(frame.get("stage_first_localised_year"), errors="coerce") if "stage_first_localised_year" in frame else None
    if design is not None:
        ax.scatter(design.to_numpy(float), y, marker="s", s=40, color="#333333", label="first park designated", zorder=2)
    if first is not None:
        ax.scatter(first.to_numpy(float), y, marker="D", s=40, color=SECTOR_COLOURS[0], label="first year Kd finds localisation",
                   zorder=3)
    ax.set_yticks(y, valleys, parse_math=False)
    ax.set_ylim(-0.6, len(valleys) - 0.4)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    span = np.concatenate([s.to_numpy(float) for s in (design, first) if s is not None])
    if np.isfinite(span).any():
        ax.set_xlim(np.nanmin(span) - 2, np.nanmax(span) + 2)
    leg = ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, handletextpad=0.2,
                    columnspacing=0.8)
    ax.set_title("Timing: first park and localisation (year)", fontsize=9, parse_math=False)
    ax.tick_params(axis="x", labelsize=7)
    return leg


def _mix(ax, shares: pd.DataFrame, valleys: list[str]):
    """The target sector's sub-sector mix: a stacked horizontal bar per valley."""
    y = np.arange(len(valleys))[::-1]
    left = np.zeros(len(valleys))
    for k, col in enumerate(shares.columns):
        vals = shares[col].reindex(valleys).fillna(0.0).to_numpy(float) * 100
        ax.barh(y, vals, left=left, color=SECTOR_COLOURS[k % len(SECTOR_COLOURS)], edgecolor="white", linewidth=0.5,
                label=col[:28].replace("$", r"\$"))
        left += vals
    ax.set_xlim(0, 100)
    ax.set_yticks(y, valleys, parse_math=False)
    ax.set_ylim(-0.6, len(valleys) - 0.4)
    leg = ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2)
    ax.set_title("Sub-sector mix of the target firms (%)", fontsize=9, parse_math=False)
    ax.tick_params(axis="x", labelsize=7)
    return leg


def comparison_chart(table, dimension: str, *, title: str = "", dpi: int | None = None) -> bytes:
    """One dimension of the valley comparison as small multiples (PNG bytes).

    Parameters
    ----------
    table : geo.parks.compare.ValleyComparison or pandas.DataFrame
        :func:`geo.parks.compare.compare_valleys`, or its ``table`` (a ``valley`` column or
        index).
    dimension : {"stage", "technology", "composition"}
    title : str, optional
        Figure title (default: the dimension's name).
    dpi : int, optional
        Resolution (default :data:`geo.outputs.figures.DPI`).

    Returns
    -------
    bytes
        The PNG.

    Raises
    ------
    ValueError
        For an unknown ``dimension``.
    """
    if dimension not in DIMENSIONS:
        msg = f"dimension must be one of {', '.join(DIMENSIONS)}; {dimension!r} was given."
        raise ValueError(msg)
    dpi = DPI if dpi is None else dpi
    frame = _frame(table)
    valleys = [_text(v, 18) for v in frame.index]
    frame.index = valleys
    colours = [SECTOR_COLOURS[i % len(SECTOR_COLOURS)] for i in range(len(valleys))]
    panels: list[tuple[str, Any]] = []
    if dimension == "stage" and any(_numeric(frame, k) is not None for k in _YEARS):
        panels.append(("years", None))
    if dimension == "composition" and any(str(c).startswith("comp_share_") for c in frame.columns):
        panels.append(("mix", _subsector_shares(frame)))
    panels += [(k, _numeric(frame, k)) for k in comparison_measures(frame, dimension)]
    # _arrange gives every row the height of the tallest decorations: the legends under the
    # timing and mix panels count for every row
    row_h = 0.3 * max(len(valleys), 1) + 0.75 + (0.45 if any(kind in ("years", "mix") for kind, _ in panels) else 0.0)
    legends = []
    with _style():
        fig, axes = _new(4.6, row_h * max(len(panels), 1) + 0.4, nrows=max(len(panels), 1), dpi=dpi)
        for ax, (kind, values) in zip(axes[:, 0], panels):
            if kind == "years":
                legends.append(_years(ax, frame, valleys))
            elif kind == "mix":
                legends.append(_mix(ax, values, valleys))
            else:
                _strip(ax, valleys, values, kind, colours)
        if not panels:
            axes[0, 0].text(0.5, 0.5, "no measure of this dimension in the data", ha="center", va="center")
            axes[0, 0].set_axis_off()
        sup = fig.suptitle(_text(title or DIMENSIONS[dimension][0], 60), fontsize=11, fontweight="bold", parse_math=False)
        return _png(fig, dpi=dpi, suptitle=sup, outside=legends)
