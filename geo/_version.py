"""The package version, on floor 0 so that every stage can record it without importing ``geo``."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
