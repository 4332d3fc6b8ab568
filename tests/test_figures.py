"""geo.outputs.figures drawing helpers: the fast paths against the straightforward implementations.

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

from geo.outputs import figures as gfig
from geo.pipeline.results import ValleyAnalysis


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


def _draw_cells_with_geopandas(ax, geoms, colours, order) -> None:
    """The cells drawn by geopandas (GeoSeries.plot: one patch per polygon), face and edge in
    the cell's colour, in increasing ``order``."""
    for r in np.unique(order):
        sel = np.flatnonzero(order == r)
        gpd.GeoSeries(geoms[sel]).plot(ax=ax, color=list(colours[sel]), edgecolor=list(colours[sel]), linewidth=0.3,
                                       zorder=1 + 0.01 * float(r), aspect=None)


def test_draw_cells_looks_like_geopandas_drawing_the_cells():
    cells = _hexes(60, 40, size=10.0)  # cells a few pixels wide, as in a valley map
    rng = np.random.default_rng(4)
    bins = rng.choice([-3, -1, 0, 0, 0, 0, 2, 3], len(cells))
    colours = np.array([gfig.GI_COLOURS[b] for b in bins], dtype=object)
    new = _render(gfig._draw_cells, cells, colours, np.abs(bins))
    old = _render(_draw_cells_with_geopandas, cells, colours, np.abs(bins))
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
    token = gfig._MEMO.set({})
    try:
        shared = (gfig.gi_map(hot, title="t"), gfig.lisa_map(hot, title="t"))
        other = hot.copy()  # another table: its own footprint
        gfig.gi_map(other, title="t")
    finally:
        gfig._MEMO.reset(token)
    assert shared == alone  # byte-identical PNGs
    assert calls == [len(hot), len(hot)]  # once for hot, once for its copy
    gfig.gi_map(hot, title="t")
    assert len(calls) == 3  # outside report_figures nothing is kept
    assert gfig._MEMO.get() is None


def test_footprint_memo_is_dropped_after_report_figures(monkeypatch):
    seen = []
    monkeypatch.setattr(gfig, "_figure_tasks", lambda results: seen.append(gfig._MEMO.get()) or [])
    assert gfig.report_figures(object()) == {}
    assert seen == [{}] and gfig._MEMO.get() is None

    def boom(results):
        raise ZeroDivisionError

    monkeypatch.setattr(gfig, "_figure_tasks", boom)
    with pytest.raises(ZeroDivisionError):
        gfig.report_figures(object())
    assert gfig._MEMO.get() is None


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


def test_draw_tasks_in_workers_match_drawing_here_even_when_a_worker_dies(caplog, owner):
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
    with caplog.at_level("WARNING", logger="geo.outputs.figures"):
        assert gfig._draw_tasks(dying, {}, 2) == {**want, "die.png": _fake_png(9)}
    assert "a figure worker process died" in caplog.text


# ----------------------------------------------------------------------------- layout and PNG
def _boxes_around(fig, ax):
    """Pixel boxes of what is drawn around ``ax`` (tick labels, axis labels, title, texts, legend)."""
    r = fig.canvas.get_renderer()
    out = [ax.get_window_extent(r)]
    for axis in (ax.xaxis, ax.yaxis):
        bb = axis.get_tightbbox(r)
        if bb is not None:
            out.append(bb)
    if ax.title.get_text():
        out.append(ax.title.get_window_extent(r))
    out += [t.get_window_extent(r) for t in ax.texts]
    if ax.get_legend() is not None:
        out.append(ax.get_legend().get_window_extent(r))
    return out


def _laid_out(fig, **kw):
    from PIL import Image

    png = gfig._png(fig, **kw)
    fig.canvas.draw()  # the positions as drawn (equal-aspect axes shrunk into their places)
    return np.asarray(Image.open(io.BytesIO(png)))


def test_arrange_keeps_decorations_in_the_figure_and_apart():
    from matplotlib.transforms import Bbox

    with gfig._style():
        # two panels: wide y tick labels, titles wider than their axes, a legend outside the second
        fig, axes = gfig._new(6.0, 3.0, ncols=2)
        for i, ax in enumerate(axes[0]):
            ax.plot([0, 1e6 * (i + 1)], [0, 12345678.0])
            ax.set_ylabel("a long label of the y axis")
            ax.set_xlabel("x")
            ax.set_title("a title wider than its axes" + ", much wider" * (3 * i), fontsize=8)
        leg = axes[0, 1].legend(["a line with a long name"], loc="upper left", bbox_to_anchor=(1.01, 1.0))
        st = fig.suptitle("Suptitle of the figure")
        img = _laid_out(fig, suptitle=st, outside=[leg])
        assert img.shape[:2] == (330, 660)
        W, H = fig.bbox.width, fig.bbox.height
        boxes = [_boxes_around(fig, ax) for ax in axes[0]]
        for bbs in boxes:
            u = Bbox.union(bbs)
            assert u.x0 >= -0.5 and u.y0 >= -0.5 and u.x1 <= W + 0.5 and u.y1 <= H + 0.5, u
        left, right = Bbox.union(boxes[0]), Bbox.union(boxes[1])
        assert left.x1 <= right.x0  # the panels' decorations do not overlap
        stb = st.get_window_extent(fig.canvas.get_renderer())
        assert stb.y1 <= H and all(ax.title.get_window_extent().y1 <= stb.y0 for ax in axes[0])
        assert all(ax.get_window_extent().width > 0.12 * W for ax in axes[0])  # and the axes are not squeezed away

        # two rows sharing x, a text above the top axes (the entries chart)
        fig, axes = gfig._new(5.0, 4.0, nrows=2, sharex=True)
        for ax in axes[:, 0]:
            ax.bar(np.arange(1990, 2020), np.arange(30) * 1000.0)
            ax.set_ylabel("entries")
        axes[0, 0].text(2000, 1.0, "designated 2000", transform=axes[0, 0].get_xaxis_transform(), va="bottom")
        axes[1, 0].set_xlabel("year")
        st = fig.suptitle("Two lines\nof suptitle", fontsize=9)
        _laid_out(fig, suptitle=st)
        top, bottom = (Bbox.union(_boxes_around(fig, ax)) for ax in axes[:, 0])
        assert bottom.y1 <= top.y0 and bottom.y0 >= -0.5 and top.y1 <= st.get_window_extent().y0


def test_arrange_puts_colorbars_beside_equal_aspect_maps():
    from matplotlib.transforms import Bbox

    with gfig._style():
        fig, axes = gfig._new(8.0, 3.5, ncols=2)
        bars = {}
        for ax, shape in zip(axes[0], [(50, 30), (20, 60)]):  # a wide and a tall map
            im = ax.imshow(np.arange(np.prod(shape), dtype=float).reshape(shape))
            gfig._map_axes(ax, (0, 0, shape[1], shape[0]), "EPSG:32650")
            bars[ax] = fig.add_axes((0, 0, 0.01, 0.01))
            fig.colorbar(im, cax=bars[ax]).set_label("firms per km²")
        _laid_out(fig, suptitle=fig.suptitle("maps"), colorbars=bars)
        W = fig.bbox.width
        previous = 0.0
        for ax in axes[0]:
            box, cb = ax.get_window_extent(), bars[ax].get_window_extent()
            place = ax.get_position(original=True).transformed(fig.transFigure)
            assert box.x1 < cb.x0 and place.y0 < cb.y0 < cb.y1 < place.y1  # right of its map, as high as its place allows
            assert abs((cb.y0 + cb.y1) - (box.y0 + box.y1)) < 1  # and level with it
            u = Bbox.union(_boxes_around(fig, ax) + [bars[ax].get_tightbbox()])
            assert u.x0 >= previous - 0.5 and u.x1 <= W + 0.5
            previous = u.x1
        assert not axes[0, 0].get_xticks().size and not axes[0, 0].get_yticks().size  # maps carry no ticks


def test_png_is_the_figure_savefig_draws_without_its_alpha_channel():
    from PIL import Image

    with gfig._style():
        fig, axes = gfig._new(4.0, 3.0)
        axes[0, 0].plot([0, 1, 2], [2, 0, 1], color="#D62F27", alpha=0.6, lw=3)
        axes[0, 0].fill_between([0, 2], [0, 0], [1, 2], color="#4575B5", alpha=0.3)
        st = fig.suptitle("t")
        png = gfig._png(fig, suptitle=st)
        ref = io.BytesIO()
        fig.savefig(ref, format="png", dpi=gfig.DPI, facecolor="white")  # same figure, same positions
    got, want = Image.open(io.BytesIO(png)), Image.open(ref)
    assert got.mode == "RGB" and want.mode == "RGBA"
    rgba = np.asarray(want)
    assert (rgba[..., 3] == 255).all()  # opaque: nothing is lost with the alpha channel
    np.testing.assert_array_equal(np.asarray(got), rgba[..., :3])
    assert round(got.info["dpi"][0]) == gfig.DPI and b"Software" not in png and b"tEXt" not in png


def test_bars_draw_what_ax_bar_draws(monkeypatch):
    rng = np.random.default_rng(3)
    founded = rng.integers(1980, 2025, 5000).astype(float)
    founded[:7] = np.nan
    inside = rng.random(5000) < 0.2
    fast = gfig.entries_chart(founded, inside, 2001, title="t")

    def with_ax_bar(ax, x, height, *, width, color, alpha, label=""):
        return ax.bar(x, height, width=width, color=color, alpha=alpha, label=label)

    monkeypatch.setattr(gfig, "_bars", with_ax_bar)
    assert gfig.entries_chart(founded, inside, 2001, title="t") == fast  # byte-identical PNGs


def test_stacked_points_keeps_np_unique_order_with_ties_nans_and_signed_zeros():
    x = np.array([1.0, np.nan, 0.0, -0.0, 1.0, 1.0, 2.0, np.nan, -1.0, 1.0])
    y = np.array([2.0, 1.0, 3.0, 3.0, 2.0, 0.5, 2.0, 1.0, 5.0, 2.0])
    x, y = np.tile(x, 3), np.tile(y, 3)
    pts, counts = np.unique(np.column_stack([x, y]), axis=0, return_counts=True)  # numpy's order, as documented
    ref = np.repeat(pts, np.minimum(counts, gfig._STACK_MAX), axis=0)
    px, py = gfig._stacked_points(x, y)
    np.testing.assert_array_equal(np.column_stack([px, py]), ref)  # NaN rows equal, and in the same places


# ----------------------------------------------------------------------------- shared work in a report
def _entries_setup(n: int = 3000):
    from types import SimpleNamespace

    rng = np.random.default_rng(11)
    edges = [(100, 200), (300, 150), (200, 100), (300, 300), (400, 450), (500, 550), (600, 600), (0, 850), (1000, 0)]
    xy = np.vstack([rng.uniform(0, 1000, (n, 2)), edges])  # and firms on the parks' edges (in them)
    sector = np.r_[rng.choice(["optics", "food"], n), ["optics"] * len(edges)]
    firms = gpd.GeoDataFrame({"sector": sector, "founded": rng.integers(1980, 2024, len(xy))},
                             geometry=shapely.points(xy), crs=32650)
    parks = gpd.GeoDataFrame({"name": ["square", "holed", "two parts"]}, geometry=[
        shapely.box(100, 100, 300, 300),
        shapely.box(400, 400, 700, 700).difference(shapely.box(500, 500, 600, 600)),
        shapely.MultiPolygon([shapely.box(0, 800, 50, 900), shapely.box(900, 0, 1000, 50)]),
    ], index=[4, 7, 9], crs=32650)
    config = SimpleNamespace(firms=SimpleNamespace(founded_column="founded", sector_column="sector"),
                             analysis=SimpleNamespace(target_sector="optics"))
    vr = SimpleNamespace(analysis=ValleyAnalysis(metric_firms=firms), parks=parks, skipped={})
    return SimpleNamespace(config=config), vr, firms


def test_park_entries_tests_every_firm_and_reads_the_firms_once_per_report(monkeypatch):
    results, vr, firms = _entries_setup()
    optics = (firms["sector"] == "optics").to_numpy()
    g = firms.geometry.values[optics]
    expected = {}
    for idx in vr.parks.index:  # the straightforward way: every firm tested against the park
        park = vr.parks.loc[[idx]].to_crs(firms.crs).geometry.values[0]
        expected[idx] = shapely.intersects_xy(park, shapely.get_x(g), shapely.get_y(g))
        assert expected[idx].any()
    calls = []
    real = gfig._entry_firms
    monkeypatch.setattr(gfig, "_entry_firms", lambda *a: calls.append(1) or real(*a))
    token = gfig._MEMO.set({})
    try:
        for idx in vr.parks.index:
            founded, inside, what = gfig.park_entries(results, vr, idx)
            np.testing.assert_array_equal(inside, expected[idx])
            np.testing.assert_array_equal(founded, firms["founded"].to_numpy(float)[optics])
            assert what == "optics firms"
    finally:
        gfig._MEMO.reset(token)
    assert len(calls) == 1  # one read of the firms for the three parks
    gfig.park_entries(results, vr, 4)
    assert len(calls) == 2  # outside report_figures nothing is kept


def test_precedence_map_draws_the_background_once_and_like_every_cell(monkeypatch):
    from PIL import Image

    cells = _hexes(40, 36, size=10.0)
    rng = np.random.default_rng(5)
    before, now = np.zeros(len(cells), dtype=int), np.zeros(len(cells), dtype=int)
    now[rng.choice(len(cells), 120, replace=False)] = rng.choice([3, 2, 1, -2], 120)
    hot_now = gpd.GeoDataFrame({"gi_bin": now}, geometry=cells, crs=32650)
    hot_before = gpd.GeoDataFrame({"gi_bin": before}, geometry=shapely.from_wkb(shapely.to_wkb(cells)), crs=32650)
    park = gpd.GeoDataFrame({"name": ["p"]}, geometry=[shapely.box(150, 150, 450, 400)], crs=32650)
    calls = []
    real = gfig._footprint
    monkeypatch.setattr(gfig, "_footprint", lambda g: calls.append(len(g)) or real(g))
    monkeypatch.setattr(gfig, "_BACKGROUND_MIN_CELLS", 100)
    fast = gfig.precedence_map(hot_before, hot_now, park, year=2000, title="t")
    assert len(calls) == 1  # the same cells in both panels (equal, not the same objects): one footprint
    other = hot_before.copy()
    other.geometry = other.geometry.translate(1e-3, 0)
    gfig.precedence_map(other, hot_now, park, year=2000, title="t")
    assert len(calls) == 3  # other cells: their own footprint
    monkeypatch.setattr(gfig, "_BACKGROUND_MIN_CELLS", 10**9)
    every = gfig.precedence_map(hot_before, hot_now, park, year=2000, title="t")
    new, old = (np.asarray(Image.open(io.BytesIO(p))).astype(int) for p in (fast, every))
    assert new.shape == old.shape
    diff = np.abs(new - old).max(axis=2)
    # the same picture but for anti-aliasing along the cells' edges
    assert np.mean(diff > 8) < 0.01 and np.abs(new.mean(axis=(0, 1)) - old.mean(axis=(0, 1))).max() < 0.5


def test_report_figures_freezes_the_objects_it_found_and_only_those(monkeypatch, owner):
    import gc

    seen, calls = [], []
    monkeypatch.setattr(gfig, "_figure_tasks", lambda results: seen.append(gc.get_freeze_count()) or [])
    for name in ("freeze", "unfreeze"):
        real = getattr(gc, name)
        monkeypatch.setattr(gc, name, lambda real=real, name=name: calls.append(name) or real())
    assert gc.get_freeze_count() == 0
    gfig.report_figures(object())
    assert seen[-1] > 0 and gc.get_freeze_count() == 0  # frozen while drawing, thawed after
    assert calls == ["freeze", "unfreeze"]
    draw_tasks = gfig._draw_tasks
    monkeypatch.setattr(gfig, "_draw_tasks", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        gfig.report_figures(object())
    monkeypatch.setattr(gfig, "_draw_tasks", draw_tasks)
    assert gc.get_freeze_count() == 0 and calls == ["freeze", "unfreeze"] * 2  # thawed after a failure too
    gc.freeze()  # the caller's own frozen objects stay frozen
    try:
        gfig.report_figures(object())
        assert seen[-1] > 0 and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    gc.disable()
    try:
        gfig.report_figures(object())
        assert seen[-1] == 0 and not gc.isenabled()
    finally:
        gc.enable()
    assert calls == ["freeze", "unfreeze"] * 3  # the test's own pair; none by report_figures


# ----------------------------------------------------------------------------- CJK fonts
def _park_named(name: str) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": [name]}, geometry=[shapely.box(2000, 2000, 5000, 4500)], crs=32650)


def test_chinese_park_names_are_drawn_with_cjk_glyphs(monkeypatch):
    from geo.outputs import _fonts

    if not _fonts.cjk_families():
        pytest.skip("no CJK font installed (make test installs Debian's fonts-noto-cjk as root)")
    hot = _hot(20, 20)
    # every missing glyph is the same box: two names of the same length then draw the same PNG
    drawn = {n: gfig.gi_map(hot, _park_named(n), title="Gi*") for n in ("光谷", "谷光", "东湖")}
    assert len(set(drawn.values())) == 3
    monkeypatch.setattr(_fonts, "cjk_families", lambda: ())  # no CJK fallback: the boxes (the test can fail)
    monkeypatch.setattr(_fonts, "_NOTED", True)
    tofu = {n: gfig.gi_map(hot, _park_named(n), title="Gi*") for n in ("光谷", "谷光")}
    assert len(set(tofu.values())) == 1
    assert tofu["光谷"] != drawn["光谷"]


def test_the_cjk_font_is_a_fallback_set_inside_the_figures_only():
    import matplotlib

    from geo.outputs import _fonts

    before = list(matplotlib.rcParams["font.family"])
    with gfig._style():
        inside = list(matplotlib.rcParams["font.family"])
    assert inside == ["DejaVu Sans", *_fonts.cjk_families()]
    assert list(matplotlib.rcParams["font.family"]) == before  # nothing set process-wide
    assert _fonts.has_cjk("武汉·光谷") and _fonts.has_cjk("ソフト") and not _fonts.has_cjk("Optics Valley (East Lake)")


def test_no_cjk_font_is_said_once_with_the_install_hint(monkeypatch, caplog):
    from types import SimpleNamespace

    from geo.outputs import _fonts
    from geo.pipeline import runner

    monkeypatch.setattr(_fonts, "cjk_families", lambda: ())
    monkeypatch.setattr(_fonts, "_NOTED", False)
    hot = _hot(20, 20)
    with caplog.at_level("WARNING", logger="geo.outputs._fonts"):
        gfig.gi_map(hot, _park_named("Optics Park"), title="Valley A")  # no CJK text: nothing to say
        assert not caplog.records
        gfig.gi_map(hot, _park_named("光谷"), title="武汉")
        gfig.lisa_map(hot, _park_named("光谷"), title="武汉")
    assert len(caplog.records) == 1
    assert "no CJK font" in caplog.records[0].getMessage() and "fonts-noto-cjk" in caplog.records[0].getMessage()
    # a run adds it to its warnings (printed by geo run, listed in the report), whatever was logged before
    cfg = SimpleNamespace(run=SimpleNamespace(title="Parks"), analysis=SimpleNamespace(target_sector="optics"))
    prep = SimpleNamespace(config=cfg, valleys={"Wuhan": SimpleNamespace(title="Wuhan")},
                           parks=gpd.GeoDataFrame({"name": ["Park A", "东湖高新区"]}, geometry=[None, None]))
    warnings: list[str] = []
    runner._font_warning(prep, warnings)
    assert len(warnings) == 1 and "东湖高新区" in warnings[0] and "apt-get install fonts-noto-cjk" in warnings[0]
    prep.parks = prep.parks.iloc[:1]
    runner._font_warning(prep, warnings)
    assert len(warnings) == 1  # English names only: no warning
    monkeypatch.setattr(_fonts, "cjk_families", lambda: ("Noto Sans CJK SC",))
    assert _fonts.cjk_font_note(["东湖高新区"]) is None  # a CJK font is installed: no warning


def test_cjk_fonts_missing_from_matplotlibs_cache_are_found_in_the_font_folders(monkeypatch):
    """matplotlib's font cache predates a CJK font installed later (apt-get install fonts-noto-cjk)."""
    import copy

    from matplotlib import font_manager

    from geo.outputs import _fonts

    if not _fonts.cjk_families():
        pytest.skip("no CJK font installed (make test installs Debian's fonts-noto-cjk as root)")
    stale = copy.copy(font_manager.fontManager)
    stale.ttflist = [f for f in font_manager.fontManager.ttflist if not _fonts._CJK_FILES.search(f.fname.rsplit("/", 1)[-1])]
    assert not {f.name for f in stale.ttflist} & set(_fonts.CJK_FAMILIES)
    monkeypatch.setattr(font_manager, "fontManager", stale)
    _fonts.cjk_families.cache_clear()
    try:
        found = _fonts.cjk_families()
        assert found and set(found) <= {f.name for f in stale.ttflist}  # registered with the (stale) manager
        assert all(_fonts._CJK_FILES.search(f.fname.rsplit("/", 1)[-1]) for f in stale.ttflist if f.name in found)
    finally:
        monkeypatch.undo()
        _fonts.cjk_families.cache_clear()


def test_the_entries_chart_labels_whole_years(monkeypatch):
    # 17 years of entries (1995-2011) gave ticks at 1995.0, 1997.5, 2000.0 ...
    rng = np.random.default_rng(8)
    founded = rng.integers(1995, 2012, 400).astype(float)
    inside = rng.random(400) < 0.3
    seen = {}

    def keep(fig, **kw):
        fig.canvas.draw()
        seen["ticks"] = [t.get_text() for t in fig.axes[1].get_xticklabels() if t.get_text()]
        return b""

    monkeypatch.setattr(gfig, "_png", keep)
    gfig.entries_chart(founded, inside, 2000, title="t")
    assert seen["ticks"] and all(t.replace("\N{MINUS SIGN}", "-").lstrip("-").isdigit() for t in seen["ticks"]), seen
