"""Execute ``optical_valleys.ipynb`` in place and keep its outputs (``make notebook``).

The notebook is committed with its outputs, so that it reads as a tutorial where notebooks
are shown without running them.  This script runs it top to bottom with nbclient (as the
test suite does) and drops what changes on every run without saying anything: execution
timings, the kernel's version details, the random ids folium gives the elements of a map
(numbered in order instead) and the split of a cell's printed text into chunks.

    python notebooks/run_notebook.py [NOTEBOOK]
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

__all__ = ["NOTEBOOK", "execute"]

#: the tutorial notebook
NOTEBOOK = Path(__file__).resolve().parent / "optical_valleys.ipynb"
#: the checkout this script is in: the kernel imports its ``geo`` first
REPO = Path(__file__).resolve().parent.parent


def execute(path: str | Path = NOTEBOOK, *, write: bool = True, timeout: int = 600) -> nbformat.NotebookNode:
    """Run the notebook at ``path`` with nbclient; return it executed (written back when ``write``).

    A cell that raises stops the run with nbclient's ``CellExecutionError`` (the cell and
    its traceback), and the file is left as it was.  The kernel runs in the notebook's folder
    and imports the ``geo`` of this checkout (``PYTHONPATH``), whichever copy is installed.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    path_env = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    client.execute(env={**os.environ, "PYTHONPATH": path_env})
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = _steady(cell.outputs)
    nb.metadata.pop("widgets", None)
    nb.metadata["language_info"] = {"name": "python"}
    if write:
        nbformat.write(nb, path)
    return nb


#: the ids folium draws from uuid4 for every element of a map (``map_<32 hex>``, ``tile_layer_<32 hex>``)
_ELEMENT_ID = re.compile(r"(?<=_)[0-9a-f]{32}(?![0-9a-f])")


#: an object's memory address in its repr (``<folium.folium.Map at 0x7f2a6c529d90>``)
_ADDRESS = re.compile(r" at 0x[0-9a-f]+>")


def _steady(outputs: list) -> list:
    """The outputs of one cell, the same on every run: printed chunks joined, map ids numbered, no addresses."""
    out: list = []
    for o in outputs:
        if o.output_type == "stream" and out and out[-1].output_type == "stream" and out[-1].name == o.name:
            out[-1].text += o.text
            continue
        plain = o.get("data", {}).get("text/plain")
        if plain:
            o.data["text/plain"] = _ADDRESS.sub(">", plain)
        html = o.get("data", {}).get("text/html")
        if html:
            o.data["text/html"] = _numbered(html)
        out.append(o)
    return out


def _numbered(html: str) -> str:
    """``html`` with each distinct folium id replaced by its number in order of appearance (same length)."""
    ids: dict[str, str] = {}
    return _ELEMENT_ID.sub(lambda m: ids.setdefault(m.group(), f"{len(ids) + 1:032x}"), html)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else NOTEBOOK
    t0 = time.perf_counter()
    execute(target)
    print(f"executed {target} in {time.perf_counter() - t0:.0f} s ({target.stat().st_size / 1e6:.1f} MB)")
