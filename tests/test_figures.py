"""geo.figures drawing helpers: the fast paths against the straightforward implementations.

(The report's figures as a whole are tested in test_report.py.)
"""

from __future__ import annotations

import io

import geopandas as gpd
import numpy as np
import pytest
import shapely
from matplotlib.path import Path
from PIL import Image

from geo import figures as gfig


def _hexes(nx: int, ny: int, size: float = 100.0) -> np.ndarray:
    """A pointy-top hexagonal tiling (nx columns, ny rows) of cells of circumradius ``size``."""
    w = np.sqrt(3.0) * size
    ang = np.deg2rad(30 + 60 * np.arange(6))
    ring = np.column_stack([np.cos(ang), np.sin(ang)]) * size
    cells = []
    for j in range(ny):
        for i in range(nx):
            cx, cy = i * w + (w / 2 if j % 2 else 0.0), j * 1.5 * size
            cells.append(shapely.Polygon(ring + [cx, cy]))
    return np.array(cells, dtype=object)


def _polygons_reference(geoms):
    """The exterior rings via get_parts / get_exterior_ring (the general path)."""
    parts, idx = shapely.get_parts(geoms, return_index=True)
    coords, ridx = shapely.get_coordinates(shapely.get_exterior_ring(parts), return_index=True)
    starts = np.flatnonzero(np.r_[True, np.diff(ridx) != 0])
    return coords, np.r_[starts, len(ridx)], idx[ridx[starts]]


def test_polygons_fast_path_matches_the_ring_path():
    cells = _hexes(30, 20)
    got, ref = gfig._polygons(cells), _polygons_reference(cells)
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)
    # holes and multipolygons take the general path: exterior rings only, one row per part
    holed = shapely.box(0, 0, 10, 10).difference(shapely.box(2, 2, 4, 4))
    multi = shapely.MultiPolygon([shapely.box(20, 0, 21, 1), shapely.box(22, 0, 23, 1)])
    mixed = np.array([cells[0], holed, multi, cells[1]], dtype=object)
    coords, offsets, rows = gfig._polygons(mixed)
    assert rows.tolist() == [0, 1, 2, 2, 3] and len(offsets) == 6
    for a, b in zip((coords, offsets, rows), _polygons_reference(mixed)):
        np.testing.assert_array_equal(a, b)


def _drawn_rings(ax) -> dict[tuple, list[np.ndarray]]:
    """(face colour, zorder) -> rings (closing vertex included) of every path drawn on ``ax``."""
    out: dict[tuple, list[np.ndarray]] = {}
    for coll in ax.collections:
        key = (tuple(np.round(coll.get_facecolor()[0], 4)), coll.get_zorder())
        for path in coll.get_paths():
            starts = np.flatnonzero(path.codes == Path.MOVETO)
            for a, b in zip(starts, [*starts[1:], len(path.codes)]):
                assert path.codes[b - 1] == Path.CLOSEPOLY
                out.setdefault(key, []).append(path.vertices[a:b])
    return out


def test_draw_cells_draws_every_cell_once_in_its_colour_and_order(monkeypatch):
    from matplotlib.colors import to_rgba
    from matplotlib.figure import Figure

    monkeypatch.setattr(gfig, "_RINGS_PER_PATH", 37)  # several paths per colour
    cells = _hexes(25, 16)
    rng = np.random.default_rng(2)
    bins = rng.choice([-2, 0, 0, 0, 1, 3], len(cells))
    colours = np.array([gfig.GI_COLOURS[b] for b in bins], dtype=object)
    ax = Figure().subplots()
    gfig._draw_cells(ax, cells, colours, np.abs(bins))
    drawn = _drawn_rings(ax)
    for b in np.unique(bins):
        key = (tuple(np.round(to_rgba(gfig.GI_COLOURS[b]), 4)), 1 + 0.01 * abs(b))
        rings = drawn.pop(key)
        expected = [shapely.get_coordinates(c) for c in cells[bins == b]]
        assert len(rings) == len(expected)
        for got, ref in zip(rings, expected):
            np.testing.assert_array_equal(got, ref)
    assert drawn == {}
    assert all(not p.should_simplify for c in ax.collections for p in c.get_paths())


def _render(draw, cells, colours, order) -> np.ndarray:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3))
    ax = fig.add_axes((0, 0, 1, 1))
    draw(ax, cells, colours, order)
    x0, y0, x1, y1 = shapely.total_bounds(cells)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_axis_off()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, facecolor="white")
    return np.asarray(Image.open(buf).convert("RGB")).astype(int)


def _draw_cells_one_by_one(ax, geoms, colours, order) -> None:
    """The former drawing: one polygon per cell in PolyCollections (the look to keep)."""
    from matplotlib.collections import PolyCollection

    for r in np.unique(order):
        sel = np.flatnonzero(order == r)
        verts = [shapely.get_coordinates(g)[:-1] for g in geoms[sel]]
        pc = PolyCollection(verts, closed=True, facecolors=list(colours[sel]), edgecolors=list(colours[sel]),
                            linewidths=0.3, zorder=1 + 0.01 * float(r))
        ax.add_collection(pc)


def test_draw_cells_looks_like_drawing_the_cells_one_by_one():
    cells = _hexes(60, 40, size=10.0)  # cells a few pixels wide, as in a valley map
    rng = np.random.default_rng(4)
    bins = rng.choice([-3, -1, 0, 0, 0, 0, 2, 3], len(cells))
    colours = np.array([gfig.GI_COLOURS[b] for b in bins], dtype=object)
    new = _render(gfig._draw_cells, cells, colours, np.abs(bins))
    old = _render(_draw_cells_one_by_one, cells, colours, np.abs(bins))
    # inside the cells (a pixel and its 8 neighbours of one colour) the pictures agree; on the
    # edge between two colours either colour may be on top (drawn by colour, not by row)
    same = np.ones(old.shape[:2], dtype=bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            same[1:-1, 1:-1] &= (old[1 + dy : old.shape[0] - 1 + dy, 1 + dx : old.shape[1] - 1 + dx] == old[1:-1, 1:-1]).all(axis=2)
    same[[0, -1], :] = same[:, [0, -1]] = False
    assert same.mean() > 0.3
    diff = np.abs(new - old).max(axis=2)
    assert np.mean(diff[same] > 8) < 0.002
    assert np.abs(new.mean(axis=(0, 1)) - old.mean(axis=(0, 1))).max() < 1.5  # same colours overall


def _hot(nx: int = 80, ny: int = 70) -> gpd.GeoDataFrame:
    cells = _hexes(nx, ny)
    n = len(cells)
    rng = np.random.default_rng(9)
    gi = np.zeros(n, dtype=int)
    gi[rng.choice(n, 300, replace=False)] = rng.choice([3, 2, 1, -1, -2, -3], 300)
    lisa = np.full(n, "ns", dtype=object)
    lisa[rng.choice(n, 200, replace=False)] = rng.choice(["HH", "LL", "LH", "HL"], 200)
    return gpd.GeoDataFrame({"gi_bin": gi, "lisa_label": lisa}, geometry=cells, crs=32650)


def test_gi_and_lisa_maps_share_one_footprint_within_the_report(monkeypatch):
    hot = _hot()  # over 5,000 cells: the not-significant ones are drawn as the footprint
    alone = (gfig.gi_map(hot, title="t"), gfig.lisa_map(hot, title="t"))
    calls = []
    real = gfig._footprint
    monkeypatch.setattr(gfig, "_footprint", lambda cells: calls.append(len(cells)) or real(cells))
    token = gfig._FOOTPRINTS.set({})
    try:
        shared = (gfig.gi_map(hot, title="t"), gfig.lisa_map(hot, title="t"))
        other = hot.copy()  # another table: its own footprint
        gfig.gi_map(other, title="t")
    finally:
        gfig._FOOTPRINTS.reset(token)
    assert shared == alone  # byte-identical PNGs
    assert calls == [len(hot), len(hot)]  # once for hot, once for its copy
    gfig.gi_map(hot, title="t")
    assert len(calls) == 3  # outside report_figures nothing is kept
    assert gfig._FOOTPRINTS.get() is None


def test_footprint_memo_is_dropped_after_report_figures(monkeypatch):
    seen = []
    monkeypatch.setattr(gfig, "_figure_tasks", lambda results: seen.append(gfig._FOOTPRINTS.get()) or [])
    assert gfig.report_figures(object()) == {}
    assert seen == [{}] and gfig._FOOTPRINTS.get() is None

    def boom(results):
        raise ZeroDivisionError

    monkeypatch.setattr(gfig, "_figure_tasks", boom)
    with pytest.raises(ZeroDivisionError):
        gfig.report_figures(object())
    assert gfig._FOOTPRINTS.get() is None


def _scatter_png(x, y) -> np.ndarray:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 3))
    ax = fig.add_axes((0.1, 0.1, 0.85, 0.85))
    ax.scatter(x, y, s=6, c="#444444", alpha=0.45, linewidths=0)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, facecolor="white")
    return np.asarray(Image.open(buf).convert("RGB")).astype(int)


def test_stacked_points_draw_the_same_scatter():
    rng = np.random.default_rng(6)
    counts = rng.poisson(rng.gamma(0.5, 4.0, 4000))  # counts per cell: many repeated values
    x = (counts - counts.mean()) / counts.std()
    y = np.round(x * 0.8 + rng.normal(0, 0.3, len(x)), 1)
    px, py = gfig._stacked_points(x, y)
    assert len(px) < len(x) / 2
    pts, n = np.unique(np.column_stack([x, y]), axis=0, return_counts=True)
    kept, m = np.unique(np.column_stack([px, py]), axis=0, return_counts=True)
    np.testing.assert_array_equal(kept, pts)  # every point is drawn ...
    np.testing.assert_array_equal(m, np.minimum(n, gfig._STACK_MAX))  # ... as often as it shows
    full, stacked = _scatter_png(x, y), _scatter_png(px, py)
    diff = np.abs(full - stacked).max(axis=2)
    # only the anti-aliased rims of stacks of more than _STACK_MAX points are a little lighter
    # (drawing each point at most 3 times instead of 12 changes five times as many pixels)
    assert np.mean(diff > 8) < 0.006 and np.mean(diff > 32) < 0.003
    assert gfig._stacked_points(np.array([]), np.array([]))[0].size == 0


def _fake_png(i: int) -> bytes:
    return f"png {i}".encode()


def test_draw_tasks_in_workers_match_drawing_here_even_when_a_worker_dies(caplog):
    import os

    parent = os.getpid()

    def dies_in_a_worker(i):
        if os.getpid() != parent:
            os._exit(3)
        return _fake_png(i)

    def fails(i):
        raise ValueError(f"figure {i} <failed>")

    tasks = [(f"f{i}.png", f"g{i // 2}", _fake_png, (i,), {}) for i in range(6)]
    tasks += [("bad.png", "bad", fails, (7,), {}), ("none.png", "none", lambda: None, (), {})]
    want = {f"f{i}.png": _fake_png(i) for i in range(6)}
    for workers in (1, 2, 3):
        errors: dict[str, str] = {}
        got = gfig._draw_tasks(tasks, errors, workers)
        assert got == want and list(got) == list(want)
        assert errors == {"bad.png": "ValueError: figure 7 <failed>"}
        with pytest.raises(ValueError, match="figure 7"):
            gfig._draw_tasks(tasks, None, workers)
    dying = tasks[:6] + [("die.png", "die", dies_in_a_worker, (9,), {})]
    with caplog.at_level("WARNING", logger="geo.figures"):
        assert gfig._draw_tasks(dying, {}, 2) == {**want, "die.png": _fake_png(9)}
    assert "a figure worker process died" in caplog.text
