"""What a non-editable ``pip install .`` puts in the wheel: every package, every data file."""

from __future__ import annotations

import configparser
import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GEO = ROOT / "geo"


def _package_data() -> dict[str, list[str]]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    return {pkg: [g.strip() for g in globs.replace("\n", ",").split(",") if g.strip()]
            for pkg, globs in cfg["options.package_data"].items()}


def _shipped(path: Path, package_data: dict[str, list[str]]) -> bool:
    """Whether ``path`` (a file under geo/) matches a package_data glob of a package above it."""
    for pkg, globs in package_data.items():
        base = ROOT.joinpath(*pkg.split("."))
        if base in path.parents:
            rel = path.relative_to(base).as_posix()
            # setuptools globs as glob.glob does: '*' does not cross '/'
            if any(fnmatch.fnmatch(rel, g) and rel.count("/") == g.count("/") for g in globs):
                return True
    return False


def _source_files() -> list[Path]:
    return [p for p in GEO.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            and p.suffix not in (".pyc", ".nbi", ".nbc")]


def test_every_data_file_of_geo_is_in_package_data():
    """A file geo reads at run time (the demo data, the offline land outline) that no glob of
    setup.cfg's [options.package_data] matches is missing from the wheel: ``geo demo`` from
    ``pip install .`` would fail on it."""
    package_data = _package_data()
    data = [p for p in _source_files() if p.suffix != ".py"]
    assert any(p.name == "firms_demo.csv" for p in data)  # the scan sees the data at all
    missing = [p.relative_to(ROOT).as_posix() for p in data if not _shipped(p, package_data)]
    assert not missing, f"not in setup.cfg [options.package_data]: {missing}"


def test_the_package_data_check_sees_a_file_without_a_glob():
    """The check above fails on a file no glob covers (a new JS asset, a font)."""
    package_data = _package_data()
    assert _shipped(GEO / "datasets" / "data" / "shapefiles" / "parks_demo.shp", package_data)
    assert not _shipped(GEO / "outputs" / "maps" / "data" / "leaflet.js", package_data)
    assert not _shipped(GEO / "datasets" / "data" / "extra" / "more.csv", package_data)  # '*' stays in its folder


def test_every_folder_of_python_modules_is_a_package():
    """``packages = find:`` keeps only folders with an ``__init__.py``: a module in any other
    folder would be left out of the wheel."""
    folders = {p.parent for p in _source_files() if p.suffix == ".py"}
    assert GEO / "outputs" / "maps" in folders
    assert not [f.relative_to(ROOT).as_posix() for f in folders if not (f / "__init__.py").is_file()]
