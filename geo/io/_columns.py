"""Column names shared by several readers of ``geo.io``, one definition each.

:mod:`geo.io.parks` reads a park layer and hands a catalogue to :mod:`geo.io.catalogue`, whose
attribute table is searched for the same park-name headers: both import the names from here.
"""

from __future__ import annotations

__all__ = ["PARK_NAME"]

#: park-name headers, best first
PARK_NAME = ("name", "park", "park_name", "parkname", "名称", "园区", "园区名称", "开发区名称")
