"""Scale sensitivity of the park verdicts (``[analysis] scales``): each park's verdict at each
cell size, re-run on the same firms, study area, CRS and seed as the main run."""

from __future__ import annotations

import pytest

import geo
from geo.errors import ConfigError
from geo.parks.answer import _scale_sentence
from tests.study import make_study


def test_the_demo_reports_every_park_at_three_scales(demo_results):
    sc = demo_results.scale_sensitivity
    assert sc["scales"] == ["0.5×", "1×", "2×"] and sc["skipped"] == {}
    parks = {(r["valley"], r["park"]): r for r in sc["parks"]}
    n = 0
    for name, vr in demo_results.valleys.items():
        grid = sc["grid"][name]
        assert [grid[k]["size_m"] for k in sc["scales"]] == pytest.approx([vr.analysis.grid.size_m * f for f in (0.5, 1, 2)])
        assert grid["0.5×"]["n_cells"] > grid["1×"]["n_cells"] > grid["2×"]["n_cells"]
        ov = vr.analysis.parks_overlay
        for _, row in ov.iterrows():
            r = parks[(name, row["name"])]
            assert r["verdicts"]["1×"] == row["verdict"]  # the main run, not run again
            assert r["park_hot_share"]["1×"] == pytest.approx(row["park_hot_share"])
            assert r["stability"] == ("stable" if len(set(r["verdicts"].values())) == 1 else "scale-dependent")
            n += 1
    assert n == len(sc["parks"]) == 4
    # the planted verdicts hold at half and double the cell size, and the answer says so
    assert sc["scale_dependent"] == []
    assert any("stable to the scale" in c for c in demo_results.answer.conclusions)


def test_a_scale_equals_a_run_at_that_cell_size(tmp_path):
    """The 0.5× verdicts are those of a whole run with half the cell size (same study area and
    seed: the hull, which does not depend on the cell size as the default area does)."""
    study = make_study(tmp_path, n=600, valleys={"Wuhan": "Wuhan"})
    res = geo.run(study.write_config(analysis={"permutations": 99, "kd_simulations": 0, "scales": [0.5, 1],
                                               "study_area": "hull"}))
    vr = res.valleys["Wuhan"]
    half = vr.analysis.grid.size_m / 2
    ref = geo.run(study.write_config(analysis={"permutations": 99, "kd_simulations": 0, "scales": [],
                                               "cell_size": half, "study_area": "hull"}, name="half.toml"))
    assert ref.scale_sensitivity is None
    rov = ref.valleys["Wuhan"].analysis.parks_overlay
    got = {r["park"]: r for r in res.scale_sensitivity["parks"]}
    assert res.scale_sensitivity["grid"]["Wuhan"]["0.5×"]["n_cells"] == len(ref.valleys["Wuhan"].analysis.cells)
    for _, row in rov.iterrows():
        assert got[row["name"]]["verdicts"]["0.5×"] == row["verdict"]
        assert got[row["name"]]["park_hot_share"]["0.5×"] == pytest.approx(row["park_hot_share"])


def test_h3_cells_at_the_nearest_resolution(tmp_path):
    study = make_study(tmp_path, n=600, valleys={"Wuhan": "Wuhan"})
    res = geo.run(study.write_config(analysis={"permutations": 99, "kd_simulations": 0, "scales": [1],
                                               "scale_h3": True}))
    sc = res.scale_sensitivity
    assert sc["scales"] == ["1×", "H3"]
    h3 = sc["grid"]["Wuhan"]["H3"]
    area = res.valleys["Wuhan"].analysis.grid.cell_area_m2
    assert h3["cell"] == "h3" and h3["size"] == geo.cells.grid.h3_resolution_for_area(area)
    assert all(set(r["verdicts"]) == {"1×", "H3"} for r in sc["parks"])


def test_a_changing_verdict_is_named_in_the_answer():
    scales = {"scales": ["0.5×", "1×", "2×"], "parks": [{}], "scale_dependent": [
        {"park": "Optics Park", "verdicts": {"0.5×": "park without a cluster", "1×": "park on a pre-existing cluster",
                                             "2×": "park on a pre-existing cluster"}}]}
    text = _scale_sentence(scales)
    assert text.startswith("1 park verdict changes with the cell size")
    assert "Optics Park (park without a cluster at 0.5×; park on a pre-existing cluster at 1×" in text


@pytest.mark.parametrize("bad", ["1", [0], [0.5, "2"], [True], [50]])
def test_bad_scales_are_refused(bad):
    with pytest.raises(ConfigError, match="scales must be a list of cell-size factors"):
        geo.config.config_from_dict({"firms": {"path": "x.csv"}, "analysis": {"scales": bad}})


def test_the_report_shows_each_park_at_each_scale(demo_results, demo_output):
    import html

    page = (demo_output / "report.html").read_text(encoding="utf-8")
    start = page.index("Verdicts across cell sizes")
    table = page[start:page.index("</table>", start)]
    assert "<th>0.5×</th><th>1×</th><th>2×</th><th>stability</th>" in table
    for r in demo_results.scale_sensitivity["parks"]:
        row = table[table.index(f"<td>{html.escape(r['park'])}</td>"):]
        row = row[:row.index("</tr>")]
        assert row.count(html.escape(r["verdicts"]["1×"])) >= 1 and row.endswith(f"<td>{r['stability']}</td>")


def test_the_api_function_gives_the_runs_table(demo_results):
    """geo.scale_sensitivity on a finished run: the same verdicts as the run's own table."""
    got = geo.scale_sensitivity(demo_results, scales=[2, 1])
    assert got["scales"] == ["1×", "2×"]
    run = {(r["valley"], r["park"]): r for r in demo_results.scale_sensitivity["parks"]}
    for r in got["parks"]:
        ref = run[(r["valley"], r["park"])]
        assert r["verdicts"] == {k: ref["verdicts"][k] for k in ("1×", "2×")}
        assert r["park_hot_share"]["2×"] == pytest.approx(ref["park_hot_share"]["2×"])
    assert geo.scale_sensitivity(demo_results, scales=[1]) is None
    with pytest.raises(ConfigError, match="between 0.1 and 10"):
        geo.scale_sensitivity(demo_results, scales=[0])
