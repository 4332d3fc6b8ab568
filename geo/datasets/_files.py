"""The bundled demo data's files: their paths (:func:`demo_path`, :func:`demo_files`) and the
known truth of the scenarios (:func:`load_truth`).  The files live in ``geo/datasets/data/``;
:mod:`geo.datasets._generate` made them.

Examples
--------
>>> from geo.datasets import demo_files, load_truth
>>> sorted(demo_files())
['config', 'firms', 'industry_groups', 'parks', 'truth']
>>> load_truth()["parks"]["East Lake High-Tech Zone (Optics Valley)"]["verdict"]
'cluster formed after designation'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from geo.errors import DataFileError, InputError

__all__ = ["demo_files", "demo_path", "load_truth"]

_DATA_DIR = Path(__file__).resolve().parent / "data"

#: bundled file name -> path inside the data folder
_FILES = {
    "firms": "firms_demo.csv",
    "parks": "shapefiles/parks_demo.shp",
    "industry_groups": "industry_groups.csv",
    "truth": "demo_truth.json",
    "config": "demo.toml",
}

# ---------------------------------------------------------------------------------------
# Paths to the bundled files
# ---------------------------------------------------------------------------------------


def _data_dir() -> Path:
    return _DATA_DIR


def demo_path(name: str) -> Path:
    """Path of one bundled demo file.

    Parameters
    ----------
    name : str
        ``"firms"`` (``firms_demo.csv``), ``"parks"`` (``shapefiles/parks_demo.shp``),
        ``"industry_groups"`` (``industry_groups.csv``), ``"truth"`` (``demo_truth.json``) or
        ``"config"`` (``demo.toml``).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    InputError
        For an unknown name.
    DataFileError
        When the file is not where the demo data is expected (e.g. the package was installed
        without its ``data/`` folder).

    Examples
    --------
    >>> demo_path("firms").name
    'firms_demo.csv'
    """
    try:
        rel = _FILES[name]
    except (KeyError, TypeError):
        msg = f"Unknown demo file {name!r}; expected one of {sorted(_FILES)}."
        raise InputError(msg) from None
    path = _data_dir() / rel
    if not path.is_file():
        msg = (
            f"Demo data file {rel!r} not found: expected it at '{path}'. The demo data ships inside "
            "the package (geo/datasets/data/); reinstall geo, or regenerate it with "
            "geo.datasets.generate_demo('<repo>/geo/datasets/data')."
        )
        raise DataFileError(msg)
    return path


def demo_files() -> dict[str, Path]:
    """Paths of all bundled demo files, keyed by :func:`demo_path` name.

    Raises
    ------
    DataFileError
        When any of them is missing.

    Examples
    --------
    >>> demo_files()["parks"].suffix
    '.shp'
    """
    return {name: demo_path(name) for name in _FILES}


def load_truth() -> dict[str, Any]:
    """The known truth of the demo scenarios (``geo/datasets/data/demo_truth.json``).

    Examples
    --------
    >>> load_truth()["valleys"]["Shenzhen"]["clusters_outside_parks"]
    ['SZ-OPT-1', 'SZ-OPT-2']
    """
    path = demo_path("truth")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        msg = f"Cannot read the demo truth '{path}': {exc}. Regenerate it with generate_demo()."
        raise DataFileError(msg) from exc
