"""What README.md says about the outputs, the notebook and the Makefile is what they are."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")


def _layer_table() -> dict[str, str]:
    """The README's table of the layers of layers.gpkg: layer -> geometry as written there."""
    section = README.split("The layers of `layers.gpkg`", 1)[1].split("\n\n", 2)[1]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in section.splitlines() if line.startswith("| `")]
    return {re.fullmatch(r"`(\w+)`", r[0]).group(1): r[1] for r in rows}


def test_the_readme_lists_the_layers_the_demo_writes(demo_output):
    """Every layer of the demo's layers.gpkg is in the README's table, with its geometry, and no other."""
    import pyogrio

    written = {name: geom for name, geom in pyogrio.list_layers(demo_output / "layers.gpkg")}
    listed = _layer_table()
    assert set(listed) == set(written)
    kind = {None: "none (table)", "Point": "point", "Polygon": "polygon", "MultiPolygon": "polygon"}
    assert {name: kind[geom] for name, geom in written.items()} == listed


def test_the_readme_says_where_to_start_and_what_needs_the_internet():
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "open `geo-output/report.html`" in quick and "the answer" in quick
    assert "Open `report.html` first" in README
    assert 'basemap = "none"' in README and re.search(r"tiles\s+need\s+(the\s+)?internet", README)


def test_the_readme_tells_how_to_open_and_rerun_the_notebook():
    nb = README.split("### The tutorial notebook", 1)[1].split("\n## ", 1)[0]
    assert "pip install jupyterlab" in nb and "jupyter lab notebooks/optical_valleys.ipynb" in nb and "make notebook" in nb
    assert (ROOT / "notebooks" / "optical_valleys.ipynb").exists()
    assert re.search(r"^notebook: .*\n\t\$\(BIN\)/python notebooks/run_notebook\.py$", MAKEFILE, flags=re.MULTILINE)
    assert "notebook" in re.search(r"^\.PHONY: (.*)$", MAKEFILE, flags=re.MULTILINE).group(1).split()


def test_the_readme_says_make_test_installs_chromium_and_fonts_as_root():
    dev = README.split("## Development", 1)[1]
    assert "run as root" in dev and "`chromium`" in dev and "`fonts-noto-cjk`" in dev
    test_target = re.search(r"^test: (.*)$", MAKEFILE, flags=re.MULTILINE).group(1).split()
    assert "browser" in test_target and "fonts" in test_target
    assert "apt-get install -y -qq chromium" in MAKEFILE and "apt-get install -y -qq fonts-noto-cjk" in MAKEFILE
