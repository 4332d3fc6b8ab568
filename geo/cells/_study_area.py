"""The record of a valley's study area (:class:`StudyArea`), apart from the rules that make it.

:mod:`geo.cells.area` makes study areas (and re-exports the class); :mod:`geo.cells.grid` takes
one as ``extent`` and keeps the size it was made with.  Both import it from here, so neither
imports the other's module back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyproj
import shapely

__all__ = ["StudyArea"]


@dataclass(frozen=True)
class StudyArea:
    """A valley's study area: its polygon and how it was made.

    Attributes
    ----------
    geometry : shapely Polygon or MultiPolygon
        In ``crs`` (metres).
    crs : str
        The metric CRS of ``geometry``.
    rule : {"cells", "hull", "file"}
    description : str
        The rule in plain words, with its length (e.g. ``"cells holding firms (hex, 1,230 m),
        buffered by one cell"``).
    cell : str, optional
        The cell kind the rule used (``hex``, ``square``, ``h3``); None for a file.
    size : float or int, optional
        The cell size the rule used, as :func:`geo.cells.grid.aggregate` takes it (metres,
        or the H3 resolution); None for a file (the cells are sized on its area).
    size_m : float, optional
        The centre-to-centre spacing of those cells (metres).
    size_rule : dict, optional
        How that size was chosen (``aggregate``'s ``attrs["size_rule"]``).
    source : str, optional
        The file a given area was read from.
    """

    geometry: Any
    crs: str
    rule: str
    description: str
    cell: str | None = None
    size: float | int | None = None
    size_m: float | None = None
    size_rule: dict | None = None
    source: str | None = None

    @property
    def area_km2(self) -> float:
        """The area of :attr:`geometry` in km²."""
        return float(self.geometry.area) / 1e6

    def in_crs(self, crs: Any) -> Any:
        """:attr:`geometry` in ``crs`` (the same object when it is already there)."""
        target = pyproj.CRS.from_user_input(crs)
        if target == pyproj.CRS.from_user_input(self.crs):
            return self.geometry
        tr = pyproj.Transformer.from_crs(self.crs, target, always_xy=True)
        return shapely.transform(self.geometry, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))

    def to_dict(self) -> dict:
        """JSON-ready record (``summary.json``: ``valleys.<name>.study_area``)."""
        return {"rule": self.rule, "description": self.description, "area_km2": self.area_km2,
                "cell_size_m": self.size_m, "source": self.source, "metric_crs": self.crs}
