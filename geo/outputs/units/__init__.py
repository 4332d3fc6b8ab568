"""The outputs of a run on given units (``[cells] path``): ``layers.gpkg``, one map per valley and
their overview (``maps/``), ``report.html`` and ``rejects.csv`` (``summary.json`` is written by
:meth:`geo.pipeline.units.UnitsResults.write`).

The modules: :mod:`~geo.outputs.units.layers` (the layers of ``layers.gpkg``),
:mod:`~geo.outputs.units.maps` (one map per valley and their overview),
:mod:`~geo.outputs.units.report` (the page and :func:`write_units_outputs`).
"""

from __future__ import annotations

from geo.outputs.units.maps import MAP_UNITS_MAX, units_map, units_overview_map
from geo.outputs.units.report import (
    SYNTHETIC_UNITS_BANNER,
    WHY_NOT_POINT_TESTS,
    render_units_report,
    write_units_outputs,
)

__all__ = ["MAP_UNITS_MAX", "SYNTHETIC_UNITS_BANNER", "WHY_NOT_POINT_TESTS", "render_units_report", "units_map",
           "units_overview_map", "write_units_outputs"]
