"""The dask engine gives the in-memory engine's answers, on a 2-worker LocalCluster."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from test_io_fast import _dirty_table

import geo
from geo.errors import DataFileError, InputError
from geo.pipeline import dask_engine as de

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    """Two worker processes on loopback, started and stopped here."""
    c = de.connect(n_workers=2)
    assert len(c.scheduler_info()["workers"]) == 2
    yield c
    cluster = c.cluster
    c.close()
    cluster.close()


def _assert_same_ingest(mem, ing):
    """Rejects, load report and kept firms of the two engines are equal."""
    pd.testing.assert_frame_equal(mem.attrs["rejects"].reset_index(drop=True), ing.rejects.reset_index(drop=True))
    rep = dict(ing.load_report)
    assert rep.pop("partitions") == ing.n_partitions
    assert mem.attrs["load_report"] == rep
    got = ing.gather_firms()
    pd.testing.assert_frame_equal(pd.DataFrame(mem.drop(columns="geometry")), pd.DataFrame(got.drop(columns="geometry")))
    assert got.geometry.geom_equals_exact(mem.geometry, 0).all()


def _far_duplicates(text: str) -> str:
    """Copy some early rows to the end: duplicates in other partitions than their first row."""
    lines = text.splitlines()
    return "\n".join(lines + [lines[1], lines[2], lines[5]]) + "\n"


@pytest.mark.parametrize("rows", [150, 1000, 10_000])
def test_csv_partitions_equal_read_firms(tmp_path, client, rows):
    p = tmp_path / "dirty.csv"
    p.write_text(_far_duplicates(_dirty_table(3000, 0)), encoding="utf-8")
    mem = geo.read_firms(p, stack_radius_m=0)
    ing = de.ingest(client, p, partition_rows=rows)
    if rows < 3000:
        assert ing.n_partitions > 3
    _assert_same_ingest(mem, ing)
    rej = ing.rejects.set_index("row")
    # the far duplicates were found across partitions
    last = mem.attrs["load_report"]["rows_read"]
    assert (rej.loc[[last - 2, last - 1, last], "reason"] == "duplicate").all()
    reasons = set(ing.rejects["reason"])
    assert {"duplicate", "missing_coordinate", "not_a_number", "zero_zero", "out_of_range", "missing_id",
            "malformed_row", "unknown_coord_sys"} <= reasons
    assert ing.load_report["stacked_sites"] >= 1 and ing.load_report["fixed_swapped"] > 0


def test_parquet_row_groups_equal_read_firms(tmp_path, client):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from geo.datasets import demo_files

    frame = pd.read_csv(demo_files()["firms"], dtype=str, keep_default_na=False).head(6000)
    frame["lon"] = pd.to_numeric(frame["lon"], errors="coerce")
    frame["lat"] = pd.to_numeric(frame["lat"], errors="coerce")
    p = tmp_path / "firms.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), p, row_group_size=700)
    mem = geo.read_firms(p, stack_radius_m=0)
    ing = de.ingest(client, p, partition_rows=1000)
    assert ing.n_partitions == 5  # row groups of 700 rows gathered to >= 1000 rows
    _assert_same_ingest(mem, ing)


def test_stacked_drop_and_gcj02_default(tmp_path, client):
    p = tmp_path / "dirty.csv"
    p.write_text(_dirty_table(2000, 1), encoding="utf-8")
    mem = geo.read_firms(p, crs="gcj02", drop_stacked=True, stacked_min=5, stack_radius_m=0)
    ing = de.ingest(client, p, crs="gcj02", drop_stacked=True, stacked_min=5, partition_rows=200)
    _assert_same_ingest(mem, ing)
    assert (ing.rejects["reason"] == "stacked").any()


def test_swap_box_from_partition_extremes_is_numpy_percentile():
    rng = np.random.default_rng(3)
    for n in (5, 7, 60, 999, 20_000):
        values = np.round(rng.normal(114, 0.3, n), 3)  # ties
        lat = rng.normal(30, 0.2, n)
        k = int(np.floor(0.01 * (n - 1))) + 3
        cuts = np.sort(rng.choice(np.arange(1, n), size=min(6, n - 1), replace=False))
        parts = []
        for a, b in zip(np.split(values, cuts), np.split(lat, cuts)):
            def ends(x):
                if x.size <= 2 * k:
                    s = np.sort(x)
                    return s, s
                return np.sort(np.partition(x, k - 1)[:k]), np.sort(np.partition(x, x.size - k)[x.size - k:])
            parts.append((ends(a), ends(b)))
        box = de._box_from_ends(n, k, parts)
        ref = (*np.nanpercentile(values, [1, 99]), *np.nanpercentile(lat, [1, 99]))
        assert box == tuple(float(v) for v in ref)


def test_many_files_number_rows_per_file(tmp_path, client):
    d = tmp_path / "parts"
    d.mkdir()
    text = _dirty_table(900, 2)
    lines = text.splitlines()
    (d / "a.csv").write_text("\n".join(lines[:500]) + "\n", encoding="utf-8")
    (d / "b.csv").write_text("\n".join([lines[0]] + lines[500:] + [lines[1]]) + "\n", encoding="utf-8")
    ing = de.ingest(client, d, partition_rows=200)
    rep = ing.load_report
    a, b = geo.read_firms(d / "a.csv", stack_radius_m=0), geo.read_firms(d / "b.csv", stack_radius_m=0)
    assert rep["rows_read"] == a.attrs["load_report"]["rows_read"] + b.attrs["load_report"]["rows_read"]
    assert rep["rows_read"] == rep["rows_kept"] + rep["rows_rejected"]
    assert set(ing.rejects["file"]) == {"a.csv", "b.csv"}
    last = ing.rejects[(ing.rejects["file"] == "b.csv")].iloc[-1]
    assert last["reason"] == "duplicate" and last["detail"] == "exact duplicate of row 1 of a.csv"


def test_clear_errors(tmp_path, client):
    p = tmp_path / "gbk.csv"
    p.write_bytes("firm_id,lon,lat\n甲,114.3,30.5\n".encode("gb18030"))
    with pytest.raises(DataFileError, match="UTF-8"):
        de.ingest(client, p)
    q = tmp_path / "quoted.csv"
    q.write_text("firm_id,name,lon,lat\n" + "".join(f'{i},"two\nlines",114.3,30.5\n' for i in range(400)), encoding="utf-8")
    with pytest.raises(InputError, match="Parquet"):  # some block boundary falls inside a quoted field
        de.ingest(client, q, partition_rows=10)
    one = tmp_path / "one.csv"  # a quoted line break inside one block is read like read_firms does
    one.write_text('firm_id,name,lon,lat\n1,"two\nlines",114.3,30.5\n' + "".join(f"{i},x,114.3,30.5\n" for i in range(2, 400)),
                   encoding="utf-8")
    _assert_same_ingest(geo.read_firms(one, stack_radius_m=0), de.ingest(client, one, partition_rows=50))
    with pytest.raises(DataFileError, match="No firm tables"):
        de.ingest(client, tmp_path / "nothing*.csv")


# ----------------------------------------------------------------------------- the whole run
def _demo_cfg(**run):
    import dataclasses

    from geo.config import load_config
    from geo.datasets import demo_files

    cfg = load_config(demo_files()["config"])
    an = dataclasses.replace(cfg.analysis, permutations=99, kd_simulations=19, ripley_simulations=9)
    groups = dataclasses.replace(cfg.groups, path=None)
    firms = dataclasses.replace(cfg.firms, stack_radius_m=0.0)  # the dask engine's stacks are exact
    return dataclasses.replace(cfg, analysis=an, groups=groups, firms=firms, run=dataclasses.replace(cfg.run, **run))


def _cells_equal(va, vb):
    """The cells of two valley analyses, and the records of how they were made (``analysis.grid``)."""
    a, b = va.cells, vb.cells
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns="geometry")), pd.DataFrame(b.drop(columns="geometry")))
    assert a.crs == b.crs
    assert np.array_equal(a.geometry.values, b.geometry.values)  # bit for bit
    ra, rb = dataclasses.asdict(va.grid), dataclasses.asdict(vb.grid)
    sa, sb = dict(ra.pop("size_rule")), dict(rb.pop("size_rule"))
    for k in ("median_nn_m", "n_locations"):  # the dask engine does not compute these two records
        sa.pop(k), sb.pop(k)
    sb.pop("note", None)
    assert sa == sb
    assert ra == rb


@pytest.fixture(scope="module")
def engines(client):
    mem = geo.run(_demo_cfg())
    dsk = geo.run(_demo_cfg(engine="dask", scheduler=client.scheduler.address, partition_rows=4000))
    return mem, dsk


def test_dask_run_equals_in_memory_run(engines):
    mem, dsk = engines
    assert dsk.load_report["engine"]["partitions"] >= 8
    rep = dict(dsk.load_report)
    rep.pop("engine"), rep.pop("partitions")
    mem_rep = dict(mem.load_report)
    # the founding dates' note is the partitions' (each decides its own day/month order); the counts are equal
    rep["founded"], mem_rep["founded"] = ({k: v for k, v in r["founded"].items() if k != "note"} for r in (rep, mem_rep))
    assert rep == mem_rep
    pd.testing.assert_frame_equal(mem.rejects, dsk.rejects)
    assert list(mem.valleys) == list(dsk.valleys)
    for name, vm in mem.valleys.items():
        vd = dsk.valleys[name]
        assert not vd.sampled and vd.n_total == vm.n_total
        assert type(vd.firms) is type(vm.firms) and vd.firms.xy == vm.firms.xy  # PointFrames of lon/lat, both engines
        _cells_equal(vm.analysis, vd.analysis)
        pd.testing.assert_frame_equal(vm.analysis.hotspots.drop(columns="geometry"), vd.analysis.hotspots.drop(columns="geometry"))
        if vm.analysis.parks_overlay is not None:
            pd.testing.assert_frame_equal(vm.analysis.parks_overlay, vd.analysis.parks_overlay)
    import json

    from geo.outputs._write import _jsonable

    sm, sd = _jsonable(mem.summary()["valleys"]), _jsonable(dsk.summary()["valleys"])
    for name in sm:  # every number of every valley (NaN written as null); the grid record differs by its note
        diff = {k for k in sm[name] if json.dumps(sm[name][k], sort_keys=True) != json.dumps(sd[name].get(k), sort_keys=True)}
        assert diff <= {"grid"}, diff


def test_dask_run_with_a_sample_keeps_exact_counts(client, engines, tmp_path):
    mem, _ = engines
    dsk = geo.run(_demo_cfg(engine="dask", scheduler=client.scheduler.address, partition_rows=6000, sample_firms=2000))
    for name, vm in mem.valleys.items():
        vd = dsk.valleys[name]
        assert vd.sampled and len(vd.firms) < 3000 and vd.n_total == vm.n_total
        _cells_equal(vm.analysis, vd.analysis)
        if vm.analysis.parks_overlay is not None:
            cols = ["n_firms", "n_target", "density", "density_ring", "lq", "p_labelling", "n_target_before",
                    "n_target_before_in_park", "entries_in_before", "entries_in_after", "rate_ratio", "verdict"]
            pd.testing.assert_frame_equal(vm.analysis.parks_overlay[cols], vd.analysis.parks_overlay[cols])
    assert any("seeded random sample" in w for w in dsk.warnings)
    dsk.write(tmp_path)  # the report and the maps say what was sampled
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "counted on a dask cluster" in html and "seeded random sample of the firms of" in html
    n = dsk.valleys["Wuhan"].n_total
    assert f"{n:,} firms (points: a sample of" in (tmp_path / "maps" / "Wuhan.html").read_text(encoding="utf-8")
    # the same seed gives the same sample, whatever the partitions (the engine's inputs alone:
    # the sample is drawn before any statistic)
    from geo.pipeline.runner import _prepare_dask

    again = _prepare_dask(_demo_cfg(engine="dask", scheduler=client.scheduler.address, partition_rows=9000,
                                    sample_firms=2000), {}, [])
    for name in mem.valleys:
        assert dsk.valleys[name].firms.index.equals(again.valleys[name].firms.index)


def test_kept_firms_as_dask_geopandas(tmp_path, client):
    import dask_geopandas

    p = tmp_path / "dirty.csv"
    p.write_text(_dirty_table(1500, 3), encoding="utf-8")
    ing = de.ingest(client, p, partition_rows=300)
    dgf = ing.to_dask_geopandas()
    assert isinstance(dgf, dask_geopandas.GeoDataFrame) and dgf.npartitions == ing.n_partitions
    got = dgf.compute()
    mem = geo.read_firms(p, stack_radius_m=0)
    assert got.crs == mem.crs and got.index.equals(mem.index)
    assert got.geometry.geom_equals_exact(mem.geometry, 0).all()
    bounds = dgf.total_bounds.compute()
    hilbert = dgf.spatial_shuffle(by="hilbert", total_bounds=bounds, npartitions=3).compute()  # spatially partitioned
    assert len(hilbert) == len(mem) and sorted(hilbert["firm_id"]) == sorted(mem["firm_id"])


def test_cli_engine_and_scheduler_options(tmp_path, client):
    """The command line's --engine/--scheduler, on a small study (the demo runs on dask above)."""
    import json

    from click.testing import CliRunner

    from geo.cli import cli
    from tests.study import make_study

    out = tmp_path / "out"
    cfg_small = make_study(tmp_path / "study", n=200).write_config(analysis={"permutations": 49})
    res = CliRunner().invoke(cli, ["run", str(cfg_small), "--out", str(out), "--engine", "dask", "--scheduler",
                                   client.scheduler.address])
    assert res.exit_code == 0, res.output
    assert "engine: dask, 2 worker(s)" in res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["load"]["engine"]["name"] == "dask" and summary["config"]["run"]["engine"] == "dask"
    bad = CliRunner().invoke(cli, ["run", str(cfg_small), "--scheduler", client.scheduler.address])
    assert bad.exit_code != 0 and "--engine dask" in bad.output


def test_unreachable_scheduler_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(de, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(InputError, match="Cannot reach the dask scheduler at 'tcp://127.0.0.1:1'.*dask scheduler"):
        de.connect("tcp://127.0.0.1:1")


def test_engine_module_imports_dask_only_when_used():
    import subprocess
    import sys

    code = "import sys, geo, geo.pipeline.dask_engine; assert 'dask' not in sys.modules and 'distributed' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dask_engine_refuses_what_it_cannot_do_before_starting(tmp_path, monkeypatch):
    import dataclasses

    monkeypatch.setattr(de, "connect", lambda *a, **k: (_ for _ in ()).throw(AssertionError("a cluster was started")))
    cfg = _demo_cfg(engine="dask")
    with pytest.raises(InputError, match="h3"):
        geo.run(dataclasses.replace(cfg, analysis=dataclasses.replace(cfg.analysis, cell="h3")))
    extra = dataclasses.replace(cfg.valleys[0], firms=cfg.firms.path)
    with pytest.raises(InputError, match="own `firms` table"):
        geo.run(dataclasses.replace(cfg, valleys=(extra, *cfg.valleys[1:])))


def test_parts_with_other_columns_are_an_error(tmp_path, client):
    d = tmp_path / "parts"
    d.mkdir()
    (d / "a.csv").write_text("firm_id,lon,lat\n1,114.3,30.5\n2,114.31,30.51\n", encoding="utf-8")
    (d / "b.csv").write_text("firm_id,lon,lat,sector\n3,114.3,30.5,optics\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="same columns"):
        de.ingest(client, d)
    (d / "b.csv").unlink()
    (d / "c.parquet").write_bytes(b"")
    with pytest.raises(DataFileError, match="mixes CSV and Parquet"):
        de.ingest(client, d)


def test_firms_of_no_valley_are_rejected_verbatim_by_both_engines(tmp_path, client):
    import dataclasses

    from geo.config import load_config
    from tests.study import make_study

    s = make_study(tmp_path, n=200)
    frame = s.frame.astype({"lng": object})
    frame.loc[frame["city"] == "Changchun", "lng"] = frame.loc[frame["city"] == "Changchun", "lng"].map(lambda v: f"{v:.6f}0")
    frame.to_csv(s.firms, index=False)
    cfg = load_config(s.write_config(valleys=[{"name": "Wuhan"}], analysis={"permutations": 19}))
    mem = geo.run(cfg)
    dsk = geo.run(dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, engine="dask", scheduler=client.scheduler.address,
                                                                   partition_rows=70)))
    for res in (mem, dsk):
        out = res.rejects[res.rejects["reason"] == "outside_valleys"]
        assert len(out) == 200 and list(out.columns[3:]) == list(s.frame.columns)  # the user's columns, no others
        assert out["lng"].str.endswith("0").all() and (out["city"] == "Changchun").all()  # as written, trailing zero kept
        assert res.load_report["rejected_by_reason"]["outside_valleys"] == 200
    pd.testing.assert_frame_equal(mem.rejects, dsk.rejects)


def test_founding_dates_are_decided_over_the_whole_column_as_in_memory(tmp_path, client):
    """A column read in parts decides its day/month order and Excel serials once, as read_firms does."""
    rng = np.random.default_rng(3)
    n = 600
    lon, lat = 114.3 + rng.uniform(0, 0.1, n), 30.5 + rng.uniform(0, 0.1, n)
    # the first partitions hold only ambiguous dates (days <= 12); only the last has a day over 12
    days = np.r_[rng.integers(1, 13, n - 5), [25, 26, 27, 28, 29]]
    founded = [f"{d:02d}/{m:02d}/{y}" for d, m, y in zip(days, rng.integers(1, 13, n), rng.integers(1990, 2020, n))]
    # plus a year column with a block of Excel serials in one partition only
    frame = pd.DataFrame({"firm_id": [f"F{i}" for i in range(n)], "lon": lon, "lat": lat, "founded": founded})
    p = tmp_path / "dates.csv"
    frame.to_csv(p, index=False)
    mem = geo.read_firms(p, founded="founded", stack_radius_m=0)
    ing = de.ingest(client, p, partition_rows=100, founded="founded")
    assert ing.n_partitions >= 6
    kept = pd.concat(client.gather(ing.parts))
    assert mem.attrs["load_report"]["founded"]["dm_order"] == "day-first"
    assert ing.load_report["founded"]["dm_order"] == "day-first"
    assert (kept["founded_date"].to_numpy() == mem["founded_date"].to_numpy()).all()
    years = ["2003"] * 250 + ["2001"] * 250 + [str(36230 + i) for i in range(100)]  # serials in the last partition only
    frame.assign(founded=years).to_csv(p, index=False)
    mem = geo.read_firms(p, founded="founded", stack_radius_m=0)
    ing = de.ingest(client, p, partition_rows=100, founded="founded")
    kept = pd.concat(client.gather(ing.parts))
    assert mem.attrs["load_report"]["rows_rejected"] == ing.load_report["rows_rejected"] == 100  # years: serials rejected
    assert kept["founded"].tolist() == mem["founded"].tolist()


def test_catalogue_parks_on_the_dask_engine_equal_the_in_memory_run(client, tmp_path):
    """Parks of every [parks] source are read in memory by both engines: the catalogue example's park results,
    rejects and input description are the same on the dask engine."""
    from geo.config import load_config
    from tests.study import ROOT

    cfg = load_config(ROOT / "data" / "examples" / "catalogue" / "config.toml")
    mem = geo.run(cfg)
    dsk = geo.run(dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, engine="dask", scheduler=client.scheduler.address)))
    assert dsk.load_report["engine"]["name"] == "dask"
    pd.testing.assert_frame_equal(dsk.parks_rejects, mem.parks_rejects)
    assert dsk.summary()["inputs"]["parks"] == mem.summary()["inputs"]["parks"]
    assert [r["verdict"] for r in dsk.summary()["valleys"]["Wuhan"]["park_results"]] == \
        [r["verdict"] for r in mem.summary()["valleys"]["Wuhan"]["park_results"]] == \
        ["park on a pre-existing cluster", "park without a cluster"]
