"""The tutorial notebook is committed executed (it reads as a tutorial without running it), and runs.

``make notebook`` (``notebooks/run_notebook.py``) re-executes it in place.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NB = ROOT / "notebooks" / "optical_valleys.ipynb"


def _runner():
    spec = importlib.util.spec_from_file_location("run_notebook", ROOT / "notebooks" / "run_notebook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _outputs(nb, kind: str | None = None) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if kind is None or kind in o.get("data", {})]


def _text(nb) -> str:
    return "".join(str(o.get("data", {}).get("text/plain", "")) + str(o.get("text", "")) for o in _outputs(nb))


def test_the_committed_notebook_holds_its_outputs():
    """Every code cell ran (in order) and shows something; no error; one map, one figure; small, no timing noise."""
    nb = nbformat.read(NB, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) >= 10
    assert [c for c in code if not c.outputs] == []
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    assert [o for o in _outputs(nb) if o.output_type == "error"] == []
    assert [o for o in _outputs(nb) if o.output_type == "stream" and o.name == "stderr"] == []
    assert not [c for c in nb.cells if "execution" in c.metadata]  # nbclient's timings are stripped
    maps = [o for o in _outputs(nb, "text/html") if "leaflet" in o["data"]["text/html"].lower()]
    assert len(maps) == 1
    assert len(_outputs(nb, "image/png")) == 1
    assert NB.stat().st_size < 3_000_000
    # nothing that changes on every run without saying anything: folium's random ids, object addresses
    html = "".join(o["data"]["text/html"] for o in maps)
    ids = set(re.findall(r"(?<=_)[0-9a-f]{32}(?![0-9a-f])", html))
    assert ids and max(int(i, 16) for i in ids) == len(ids)
    assert " at 0x" not in _text(nb)


def _story(nb) -> list[str]:
    """The text outputs of each code cell (printed and plain), the work folder's path left out."""
    return [re.sub(r"\S*geo-notebook", "<WORK>", "".join(str(o.get("data", {}).get("text/plain", "")) + str(o.get("text", ""))
                                                       for o in c.outputs))
            for c in nb.cells if c.cell_type == "code"]


def test_the_committed_notebook_walks_the_users_own_data_path():
    """Chinese columns and valleys, the check, one-sentence errors caught, the answer, verdicts, stages, outputs."""
    nb = nbformat.read(NB, as_version=4)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for call in ("geo.check(", "geo.run(", "geo.spacetime_cube(", "geo.emerging_hotspots(", "geo.colocation(",
                 "except geo.GeoError", ".write("):
        assert call in source, call
    text = _text(nb)
    assert "rows read" in text and "rejected" in text
    # the slips end in one sentence each, with the data's own values named
    errors = re.findall(r"^  (\w+Error): (.+)$", text, flags=re.MULTILINE)
    assert len(errors) == 3 and {e for e, _ in errors} <= {"InputError", "ColumnError"}
    assert all(msg.count(". ") <= 2 and "Traceback" not in msg for _, msg in errors)
    assert "Did you mean '行业'?" in text and re.search(r"holds 武汉 \([\d,]+\), 长春 \([\d,]+\)", text)
    # the answer and one verdict per park, from the run
    assert "Of 3 parks" in text
    for verdict in ("cluster formed after designation", "park without a cluster", "park on a pre-existing cluster"):
        assert verdict in text
    assert "report.html" in text and "layers.gpkg" in text and "maps/武汉.html" in text


@pytest.mark.slow
def test_the_notebook_executes(tmp_path):
    """Re-executed with nbclient (as ``make notebook`` does) on a copy: no cell errors, the committed text outputs.

    A difference means the committed notebook is stale: ``make notebook`` brings it up to date.
    """
    copy = tmp_path / NB.name
    shutil.copy(NB, copy)
    nb = _runner().execute(copy, write=False)
    assert [o for o in _outputs(nb) if o.output_type == "error"] == []
    assert all(c.outputs for c in nb.cells if c.cell_type == "code")
    assert "Of 3 parks" in _text(nb)
    assert _story(nb) == _story(nbformat.read(NB, as_version=4))
