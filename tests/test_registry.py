"""Real enterprise registries: no id or name column, registration dates in many forms, geocoder
fallbacks that jitter, and the hot spots they make (issue: registries)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import geo
from geo.cli import main
from tests.study import make_registry


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    """The year-only export, the stack inside the densest part of the cluster, written as `geo run` does."""
    reg = make_registry(tmp_path_factory.mktemp("registry"), dates="year", stack_at="cluster")
    out = reg["config"].parent / "out"
    assert main(["run", str(reg["config"]), "--out", str(out), "-q"]) == 0
    return reg, out, json.loads((out / "summary.json").read_text(encoding="utf-8"))


def test_identical_rows_without_an_id_are_kept_and_flagged(cluster_run):
    reg, out, summary = cluster_run
    frame = reg["frame"]
    n_dup = int(frame.duplicated().sum())  # every field equal to an earlier row
    assert n_dup > 100  # the year-only export of the stack: many identical rows
    load = summary["load"]
    assert load["duplicates"] == "flag" and load["duplicates_kept"] == n_dup
    assert load["rows_kept"] == reg["n"] and load["rows_rejected"] == 0
    assert any(f"{n_dup:,} of the {reg['n']:,} rows of registry_year.csv" in w and "duplicate_unverifiable" in w
               for w in summary["warnings"])
    firms = geo.read_firms(reg["firms"], founded="registration_date")
    assert int(firms["duplicate_unverifiable"].sum()) == n_dup


def test_identical_rows_are_dropped_with_an_id_or_name_column_or_when_asked(tmp_path):
    reg = make_registry(tmp_path, dates="year", n=600, stack=50)
    n_dup = int(reg["frame"].duplicated().sum())
    asked = geo.read_firms(reg["firms"], duplicates="drop")
    assert asked.attrs["load_report"]["rejected_by_reason"]["duplicate"] == n_dup
    named = reg["frame"].assign(name="same name")  # a name column: an identical row is the same firm twice
    named.to_csv(tmp_path / "named.csv", index=False)
    got = geo.read_firms(tmp_path / "named.csv")
    assert got.attrs["load_report"]["duplicates"] == "drop"
    assert got.attrs["load_report"]["rejected_by_reason"]["duplicate"] == n_dup
    kept = geo.read_firms(reg["firms"], duplicates="keep")
    assert "duplicate_unverifiable" not in kept and kept.attrs["load_report"]["duplicates_kept"] == n_dup


def test_a_jittered_fallback_stack_is_one_stack(cluster_run):
    reg, out, summary = cluster_run
    load = summary["load"]
    top = load["stacks"][0]
    sx, sy = reg["stack_centre"]
    assert top["n"] >= reg["stack"] and top["n"] <= reg["stack"] + 3  # the stack (and a real firm by chance at most)
    assert abs(top["lon"] - sx) * 96_000 < 1 and abs(top["lat"] - sy) * 111_000 < 1  # within a metre
    assert load["stack_radius_m"] == 5.0 and load["stacked_sites"] == 1
    # the exact rule sees only the pieces: six coordinates of about 50 firms
    exact = geo.read_firms(reg["firms"], stack_radius_m=0)
    assert exact.attrs["load_report"]["stacked_sites"] == 6
    assert max(s["n"] for s in exact.attrs["load_report"]["stacks"]) < reg["stack"] / 3


def test_the_stack_is_named_on_the_hot_cell_its_cluster_and_the_parks(cluster_run):
    import geopandas as gpd

    reg, out, summary = cluster_run
    hot = gpd.read_file(out / "layers.gpkg", layer="hotspots")
    flagged = hot[hot["artefact"].astype(bool)]
    assert len(flagged) == 1 and flagged["gi_bin"].iloc[0] >= 2 and flagged["stack_share"].iloc[0] > 0.5
    clusters = summary["valleys"]["Wuhan"]["clusters"]
    assert any("may be a geocoding artefact" in (c.get("artefact") or "") for c in clusters)
    optics = next(r for r in summary["valleys"]["Wuhan"]["park_results"] if r["name"] == "Optics Park")
    assert "Caution: 1 of its hot cells may be a geocoding artefact" in optics["verdict_reason"]
    assert f"{reg['stack']:,} of" in optics["artefact"]
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "Registry checks: duplicates, stacked geocodes, dates" in report
    assert "may be a geocoding artefact" in report and "duplicate_unverifiable" in report
    vmap = (out / "maps" / "Wuhan.html").read_text(encoding="utf-8")
    assert "Stacked geocodes" in vmap and f"{reg['stack']:,} firms within 5 m of this point" in vmap


def test_the_sensitivity_run_lists_the_verdicts_a_stack_changes(tmp_path):
    reg = make_registry(tmp_path, dates="iso", stack_at="district")
    res = geo.run(reg["config"])
    sens = res.stack_sensitivity
    assert sens["dropped"] == res.load_report["stacked_rows"] >= reg["stack"]
    by_park = {r["park"]: r for r in sens["parks"]}
    # one cell of 300 firms inflates the variance: the real cluster on Optics Park is not hot with the stack, and is without it
    assert by_park["Optics Park"]["verdict"] == "park without a cluster"
    assert by_park["Optics Park"]["verdict_without_stacked"] == "park on a pre-existing cluster"
    assert sens["changed"] == [by_park["Optics Park"]]
    grid = sens["grid"]["Wuhan"]  # the same cells: only the stacked firms differ
    assert grid["size_m"] == res.valleys["Wuhan"].analysis.grid.size_m
    assert grid["n_cells"] == grid["n_cells_without_stacked"] == len(res.valleys["Wuhan"].analysis.cells)
    assert any("the verdict changes without the stacked geocodes" in w for w in res.warnings)
    out = tmp_path / "out"
    res.write(out)
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "The verdicts without the stacked firms" in report and "1 verdict(s) change." in report
    assert json.loads((out / "summary.json").read_text())["stack_sensitivity"]["changed"][0]["park"] == "Optics Park"


@pytest.mark.parametrize("dates", ["year", "iso", "dmy", "chinese", "compact", "excel"])
def test_every_date_form_gives_the_registration_year(tmp_path, dates):
    reg = make_registry(tmp_path, dates=dates, n=300, stack=20)
    firms = geo.read_firms(reg["firms"], founded="registration_date", duplicates="keep")
    assert firms.attrs["load_report"]["rows_rejected"] == 0
    years = firms["registration_date"].to_numpy(dtype=float)
    assert np.array_equal(years, np.asarray(reg["days"].year, dtype=float))
    founded = firms.attrs["load_report"]["founded"]
    assert founded["unparseable"] == 0 and founded["missing"] == 0
    if dates in ("iso", "dmy", "chinese", "compact", "excel"):  # full dates are kept as dates
        assert (firms["registration_date_date"].to_numpy() == reg["days"].to_numpy().astype("datetime64[D]")).all()
    if dates == "dmy":
        assert founded["day_first"] is True


def test_unparseable_dates_are_rejected_with_row_and_reason(tmp_path):
    reg = make_registry(tmp_path, dates="iso", n=300, stack=20)
    frame = reg["frame"].copy()
    frame.loc[4, "registration_date"] = "2001-02-30"
    frame.loc[9, "registration_date"] = "unknown"
    frame.loc[11, "registration_date"] = ""  # missing is kept, not rejected
    frame.to_csv(reg["firms"], index=False)
    assert main(["run", str(reg["config"]), "--out", str(tmp_path / "out"), "-q"]) == 0
    rejects = pd.read_csv(tmp_path / "out" / "rejects.csv", dtype=str, keep_default_na=False)
    bad = rejects[rejects["reason"] == "bad_date"]
    assert bad["row"].tolist() == ["5", "10"]  # 1-based data rows
    assert "2001-02-30" in bad["detail"].iloc[0] and "not a valid date" in bad["detail"].iloc[0]
    assert bad["registration_date"].tolist() == ["2001-02-30", "unknown"]  # the user's values, verbatim
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["load"]["founded"]["missing"] == 1 and summary["load"]["rows_rejected"] == 2


def test_an_undecidable_day_month_order_is_reported(tmp_path):
    frame = pd.DataFrame({"lon": 114.3 + np.arange(40) * 1e-3, "lat": 30.5 + np.arange(40) * 1e-3,
                          "founded": [f"{d:02d}/{m:02d}/20{y:02d}" for d, m, y in zip(np.arange(40) % 12 + 1,
                                                                                       (np.arange(40) * 7) % 12 + 1,
                                                                                       np.arange(40) % 20)]})
    frame.to_csv(tmp_path / "f.csv", index=False)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[firms]\npath = "f.csv"\n[analysis]\npermutations = 19\n[[valleys]]\nname = "A"\n')
    chk = geo.check(cfg)
    assert chk.load_report["founded"]["day_first"] is None
    assert any("day/month order of 20 founding dates of f.csv could not be decided (no date has a day above 12)" in w
               for w in chk.warnings)
