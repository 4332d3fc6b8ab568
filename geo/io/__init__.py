"""Reading the inputs: firm tables (validated row by row, with rejects) and park boundaries.

Only this subpackage reads data files (``geo.config`` reads the TOML).
"""

from geo.io.firms import LAT_CANDIDATES, LON_CANDIDATES, REJECT_REASONS, read_firms
from geo.io.parks import read_parks

__all__ = ["read_firms", "read_parks", "REJECT_REASONS", "LON_CANDIDATES", "LAT_CANDIDATES"]
