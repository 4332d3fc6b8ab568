"""Exceptions raised by geo.

Every error a user can cause is a :class:`GeoError`; the CLI turns it into a one-line
message and exit code 2.  Subclasses also derive from the matching built-in so callers
can catch ``ValueError``/``TypeError``/``FileNotFoundError`` as usual.
"""

from __future__ import annotations

__all__ = [
    "GeoError",
    "InputError",
    "DataFileError",
    "ColumnError",
    "CRSError",
    "ConfigError",
    "StatisticsError",
    "GraphError",
]


class GeoError(Exception):
    """Base class of every error geo raises on purpose."""


class InputError(GeoError, ValueError):
    """Input data or arguments are unusable as given."""


class DataFileError(GeoError, OSError):
    """A data file is missing, unreadable or of an unknown format."""


class ColumnError(InputError):
    """Required columns are missing or ambiguous."""


class CRSError(InputError):
    """A coordinate reference system is missing, unknown or unsuitable."""


class ConfigError(InputError):
    """The TOML configuration is invalid."""


class StatisticsError(InputError):
    """A statistic is undefined for the data given (constant variable, too few cells ...)."""


class GraphError(InputError):
    """A spatial weights graph does not match the data or cannot be built."""
