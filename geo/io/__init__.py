"""Reading the inputs: firm tables (validated row by row, with rejects), park boundaries and
the industry groups table.

Only this subpackage reads data files (``geo.config`` reads the TOML).
"""

from geo.io.firms import LAT_CANDIDATES, LON_CANDIDATES, REJECT_REASONS, read_firms
from geo.io.groups import read_groups
from geo.io.parks import read_parks

__all__ = ["read_firms", "read_parks", "read_groups", "REJECT_REASONS", "LON_CANDIDATES", "LAT_CANDIDATES"]
