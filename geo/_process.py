"""Who may change the Python process: the command line, not the library.

``geo run`` owns its process, so it may freeze the garbage collector's view of the run's
millions of objects, write the GeoPackage in a child process, draw figures in forked
workers and set GDAL options.  ``geo.run()`` called from a notebook must do none of that:
the notebook's collector, its threads (fork is unsafe beside them) and its GDAL settings
are the user's.  The CLI enters :func:`owned` around its work; library code asks
:func:`policy` before any such step, and by default gets "no".
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["Policy", "policy", "owned"]


@dataclass(frozen=True)
class Policy:
    """What a run may do to its process."""

    freeze_gc: bool = False  # gc.freeze the long-lived objects; pause the collector while making geometries
    background_writer: bool = False  # write big GeoPackages in a child process while the run goes on
    fork_workers: bool = False  # draw figures in forked worker processes
    gdal_options: bool = False  # set process-wide GDAL options (fast SQLite writes)


LIBRARY = Policy()
OWNER = Policy(freeze_gc=True, background_writer=True, fork_workers=True, gdal_options=True)

_current: contextvars.ContextVar[Policy] = contextvars.ContextVar("geo_process_policy", default=LIBRARY)


def policy() -> Policy:
    """The policy in force (:data:`LIBRARY` unless inside :func:`owned`)."""
    return _current.get()


@contextmanager
def owned(p: Policy = OWNER) -> Iterator[Policy]:
    """Run the block as the owner of the process (what ``geo run`` and ``geo demo`` do)."""
    token = _current.set(p)
    try:
        yield p
    finally:
        _current.reset(token)
