"""geo: do science & technology parks coincide with industrial clusters of firms?

The public API is re-exported here lazily (PEP 562), so ``import geo`` is cheap and a
command-line run pays only for the stages it uses.  Names and signatures are the contract
in ``DESIGN.md``.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

# one version, on floor 0 (every stage records it from there); `as` marks the re-export
from geo._version import __version__ as __version__

logging.getLogger(__name__).addHandler(logging.NullHandler())

#: public name -> module that defines it
_API = {
    "read_firms": "geo.io.firms",
    "read_parks": "geo.io.parks",
    "to_metric": "geo.crs",
    "aggregate": "geo.cells.grid",
    "weights": "geo.cells.graph",
    "global_moran": "geo.stats.autocorr",
    "local_moran": "geo.stats.autocorr",
    "local_g": "geo.stats.autocorr",
    "hotspots": "geo.stats.autocorr",
    "incremental_moran": "geo.stats.autocorr",
    "spacetime_cube": "geo.stats.spacetime",
    "emerging_hotspots": "geo.stats.spacetime",
    "park_overlay": "geo.parks.overlay",
    "cluster_polygons": "geo.parks.clusters",
    "ripley_k": "geo.stats.pointpattern",
    "kd": "geo.stats.pointpattern",
    "compare_valleys": "geo.parks.compare",
    "run": "geo.pipeline.runner",
    "check": "geo.pipeline.runner",
    "scale_sensitivity": "geo.pipeline.runner",
    "Results": "geo.pipeline.results",
    "GeoError": "geo.errors",
    "marcon_puech_m": "geo.stats.pointpattern",
    "kernel_density": "geo.stats.density",
    "location_quotient": "geo.stats.economics",
    "colocation": "geo.stats.colocation",
    "local_colocation": "geo.stats.colocation",
    "PointFrame": "geo.points",
    "unit_rates": "geo.stats.rates",
    "spatial_empirical_bayes": "geo.stats.rates",
    "units_overlay": "geo.parks.units",
    "read_units": "geo.io.units",
    "UnitsResults": "geo.pipeline.units",
}

__all__ = sorted([*_API, "__version__"])


#: submodules reachable as ``geo.<name>`` without an explicit import (loaded on first use)
_SUBMODULES = {
    "io", "cells", "stats", "parks", "pipeline", "outputs", "crs", "points", "config", "datasets", "cli", "errors",
}


def __getattr__(name: str) -> Any:
    # public functions win over submodules of the same name (geo.weights is the function)
    if name not in _API and name in _SUBMODULES:
        return importlib.import_module(f"geo.{name}")
    try:
        module = _API[name]
    except KeyError:
        msg = f"module 'geo' has no attribute {name!r}"
        raise AttributeError(msg) from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *_SUBMODULES})
