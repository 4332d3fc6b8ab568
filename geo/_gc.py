"""Keeping the cyclic garbage collector off the run's millions of objects.

:class:`QuietGC` freezes long-lived objects (the firm table, the metric frames, the
results while they are written) so full collections skip them; :func:`paused` turns the
collector off while geometries are created in bulk.

Every shapely geometry is a garbage-collected Python object: making a million of them
triggers hundreds of collections, some of them full passes over every live object of the
run (a million points: 0.13 s with the collector paused, 0.3-0.5 s without).  Creating
geometries from coordinate arrays makes no reference cycles, so pausing is safe.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """Turn the cyclic collector off for the block (back on after, if it was on), when the
    run owns its process (:mod:`geo._process`); otherwise leave it alone."""
    from geo._process import policy

    if not policy().freeze_gc:
        yield
        return
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def points(x, y):
    """``shapely.points(x, y)`` with the collector paused."""
    import shapely

    with paused():
        return shapely.points(x, y)


class QuietGC:
    """Keep full garbage collections off the run's long-lived objects (``gc.freeze``).

    A million firms are millions of shapely and Python objects; every full collection walks
    them all (a third of a second each; ~1.3 s per run at 1M).  :meth:`freeze` moves the
    objects alive now out of the collector's view (call it after big, lasting allocations:
    the firm table, the metric frames); :meth:`close` gives them back.  Nothing is done when
    the collector is off or the caller has frozen objects already (then they are theirs).
    Reference counting still frees everything as usual; only cycles among frozen objects
    wait for :meth:`close`.  Only when the run owns its process (``geo run``; see
    :mod:`geo._process`): called from a notebook it does nothing.
    """

    def __init__(self) -> None:
        from geo._process import policy

        self.active = policy().freeze_gc and gc.isenabled() and gc.get_freeze_count() == 0

    def freeze(self) -> None:
        if self.active:
            gc.freeze()

    def close(self) -> None:
        if self.active:
            gc.unfreeze()
            self.active = False

    def __enter__(self) -> QuietGC:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
