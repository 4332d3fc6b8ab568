"""The drawing plumbing of the static figures: the style, a fresh Agg figure, the fixed layout
and the deterministic PNG.

Shared by :mod:`geo.outputs.figures` (the valley figures) and :mod:`geo.outputs.compare_figures`
(the valley comparison), which import it from here rather than from each other.  Every
figure is drawn on a fresh :class:`matplotlib.figure.Figure` (pyplot's global state is never
touched) with its axes placed once (:func:`_arrange`, no layout engine), rendered by Agg and
written as an RGB PNG with no metadata but its resolution (:func:`_png`).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from geo.outputs._fonts import font_family, note_missing_cjk

__all__ = ["DPI", "_arrange", "_new", "_png", "_style", "_text"]

#: resolution of every figure (dots per inch)
DPI = 110


@contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    rc = {
        "font.family": font_family(),  # DejaVu Sans, then the installed CJK fonts as fallbacks
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
    with matplotlib.rc_context(rc), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from")
        warnings.filterwarnings("ignore", message=r".*findfont.*")
        yield


def _new(width: float, height: float, *, ncols: int = 1, nrows: int = 1, dpi: int = DPI, **kw):
    """A figure (Agg canvas, at the resolution it is saved at) and its ``nrows × ncols`` axes.

    No layout engine: :func:`_png` places the axes once (see :func:`_arrange`).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


#: space around the decorations of each axes and at the figure's edges, inches (constrained
#: layout's default ``w_pad`` / ``h_pad``)
_PAD = 3 / 72
#: a colorbar is this fraction of its axes' height, and its height / width ratio is ``_CB_ASPECT``
_CB_SHRINK = 0.8
_CB_ASPECT = 20


def _extents(ax, renderer, outside) -> list:
    """Bounding boxes (pixels) of what is drawn around ``ax``: tick labels, axis labels, the
    title's height, texts and the legends in ``outside``.

    As in constrained layout, the long side of axis labels and titles does not count here
    (axis labels may run past their axes; :func:`_arrange` keeps titles in the figure).
    """
    out = []
    for axis in (ax.xaxis, ax.yaxis):
        bb = axis.get_tightbbox(renderer, for_layout_only=True)
        if bb is not None:
            out.append(bb)
    if ax.title.get_text():
        bb = ax.title.get_window_extent(renderer)
        off = ax.yaxis.offsetText  # set by get_tightbbox above
        if off.get_visible() and off.get_text():  # the title may be lifted above it (e.g. "1e6")
            bb = bb.translated(0, max(0.0, off.get_window_extent(renderer).y1 - ax.bbox.y1))
        x = (bb.x0 + bb.x1) / 2
        out.append(type(bb).from_extents(x - 0.5, bb.y0, x + 0.5, bb.y1))
    for t in ax.texts:
        if t.get_visible() and t.get_text() and not t.get_clip_on():
            out.append(t.get_window_extent(renderer))
    for leg in outside:
        if leg is not None and leg.axes is ax:
            out.append(leg.get_window_extent(renderer))
    return [b for b in out if np.isfinite(b.extents).all()]


def _arrange(fig, *, suptitle=None, outside=(), colorbars=None) -> None:
    """Place the figure's grid of axes so their decorations fit in the figure.

    A fixed layout from one measurement (constrained layout measures every decoration
    several times: a quarter of the time of the report's figures): the axes are first put
    in their whole grid cells (so they are at least as large as in the end, and their tick
    labels at least as dense), what sticks out of each is measured, and the axes are then
    sized so that the widest decoration of each grid column and the tallest of each grid
    row fit, with :data:`_PAD` around each; columns (rows) get equal widths (heights), and
    a title wider than its axes stays in the figure.  Equal-aspect axes shrink inside their
    place, centred, as in constrained layout.  The suptitle is at the top; a colorbar
    (``colorbars``: axes -> colorbar axes) stands right of its axes.
    """
    from matplotlib.transforms import Bbox

    colorbars = colorbars or {}
    renderer = fig.canvas.get_renderer()
    W, H = fig.bbox.width, fig.bbox.height
    pad = _PAD * fig.dpi
    grid = {}
    for ax in fig.axes:
        spec = ax.get_subplotspec()
        if spec is not None and ax not in colorbars.values():
            grid[(spec.rowspan.start, spec.colspan.start)] = ax
    if not grid:
        return
    nrows = 1 + max(r for r, _ in grid)
    ncols = 1 + max(c for _, c in grid)
    top = 0.0
    if suptitle is not None and suptitle.get_text():
        suptitle.set_y(1.0 - pad / H)
        suptitle.set_verticalalignment("top")
        top = 2 * pad + suptitle.get_window_extent(renderer).height
    # 1. each axes in its whole cell: what sticks out of it (pixels: left, right, bottom, top)
    cw, ch = W / ncols, (H - top) / nrows
    over = {}
    title_w = [0.0] * ncols  # the widest axes title of each column
    for (r, c), ax in grid.items():
        ax.set_position([c * cw / W, (H - top - (r + 1) * ch) / H, cw / W, ch / H])
        ax.apply_aspect()
        box = ax.get_window_extent(renderer)
        bbs = _extents(ax, renderer, outside)
        if ax.title.get_text():
            title_w[c] = max(title_w[c], ax.title.get_window_extent(renderer).width)
        u = Bbox.union([box, *bbs])
        o = (box.x0 - u.x0, u.x1 - box.x1, box.y0 - u.y0, u.y1 - box.y1)
        cax = colorbars.get(ax)
        if cax is not None:  # it stands by the axes' place, not by their (aspect-adjusted) box
            _place_colorbar(ax, cax)
            place = ax.get_position(original=True).transformed(fig.transFigure)
            bb = cax.yaxis.get_tightbbox(renderer, for_layout_only=True)
            u = Bbox.union([place, cax.get_window_extent(renderer), *([bb] if bb is not None else [])])
            o = (o[0], max(o[1], u.x1 - place.x1), o[2], o[3])
        over[(r, c)] = o
    # 2. the widest decoration of each column, the tallest of each row
    left = [max((o[0] for (_, c), o in over.items() if c == j), default=0.0) for j in range(ncols)]
    right = [max((o[1] for (_, c), o in over.items() if c == j), default=0.0) for j in range(ncols)]
    below = [max((o[2] for (r, _), o in over.items() if r == i), default=0.0) for i in range(nrows)]
    above = [max((o[3] for (r, _), o in over.items() if r == i), default=0.0) for i in range(nrows)]
    h = (H - top - sum(below) - sum(above) - 2 * pad * nrows) / nrows
    w = w0 = (W - sum(left) - sum(right) - 2 * pad * ncols) / ncols
    if w <= 0 or h <= 0:  # decorations larger than the figure: matplotlib's default places
        for ax in grid.values():
            ax.set_position(ax.get_subplotspec().get_position(fig))
        return
    # a title is centred on its axes, which are centred in their place: it sticks out of that
    # place by half the difference of the widths on each side (room is made for it as long
    # as its axes keep half their width; a longer title runs past the axes, as with
    # constrained layout)
    for _ in range(8):
        out = [max(0.0, (t - w) / 2) for t in title_w]
        lw = [max(lj, o) for lj, o in zip(left, out)]
        rw = [max(rj, o) for rj, o in zip(right, out)]
        narrower = (W - sum(lw) - sum(rw) - 2 * pad * ncols) / ncols
        if narrower < 0.5 * w0 or narrower >= w - 0.5:
            break
        left, right, w = lw, rw, narrower
    xs = np.cumsum([0.0] + [left[j] + w + right[j] + 2 * pad for j in range(ncols)])
    ys = np.cumsum([0.0] + [above[i] + h + below[i] + 2 * pad for i in range(nrows)])
    for (r, c), ax in grid.items():
        x0 = xs[c] + pad + left[c]
        y1 = H - top - ys[r] - pad - above[r]
        ax.set_position([x0 / W, (y1 - h) / H, w / W, h / H])
        if ax in colorbars:
            _place_colorbar(ax, colorbars[ax])


def _place_colorbar(ax, cax) -> None:
    """The colorbar axes right of ``ax``'s place (not its aspect-adjusted box), vertically
    centred, :data:`_CB_SHRINK` of its height: where constrained layout put it."""
    pos = ax.get_position(original=True)
    w_in, h_in = ax.get_figure().get_size_inches()
    h = _CB_SHRINK * pos.height
    w = h * h_in / _CB_ASPECT / w_in
    cax.set_position([pos.x1 + 0.02 * pos.width, pos.y0 + (pos.height - h) / 2, w, h])


#: zlib level of the PNGs: 3 writes them about a third faster than PIL's default 6, and as
#: RGB (no alpha channel: the figures are opaque) they are still smaller than matplotlib's RGBA
_PNG_LEVEL = 3


def _png(fig, *, dpi: int = DPI, suptitle=None, outside=(), colorbars=None) -> bytes:
    """The figure, its axes placed by :func:`_arrange`, as RGB PNG bytes (no metadata but the
    resolution, so the same figure gives the same bytes)."""
    from PIL import Image

    fig.set_dpi(dpi)
    _arrange(fig, suptitle=suptitle, outside=outside, colorbars=colorbars)
    fig.canvas.draw()
    rgb = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())).convert("RGB")
    buf = io.BytesIO()
    rgb.save(buf, format="png", compress_level=_PNG_LEVEL, dpi=(dpi, dpi))
    return buf.getvalue()


def _text(value: Any, limit: int = 70) -> str:
    s = "" if value is None else str(value)
    note_missing_cjk((s,))  # Chinese text without a CJK font: said once
    return s if len(s) <= limit else s[: limit - 1] + "…"
