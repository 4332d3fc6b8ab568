"""The report's figures drawn in parallel: forked worker processes, each drawing whole groups of
figures (:func:`geo.outputs.figures.report_figures` makes the tasks and calls :func:`_draw_tasks`).

A task is ``(file name, group, function, args, kwargs)``.  The workers are forked only when the
process policy allows it (``geo._process.policy().fork_workers``: under ``geo run``, never from a
notebook) and on Linux; they read the tasks from :data:`_POOL_TASKS` as it was when they forked
(nothing is pickled but the PNGs and exceptions coming back), freeze the heap they inherit
(``initializer=gc.freeze``), and a group a worker could not return is drawn in this process, so
the PNGs are byte-identical to a serial run.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

__all__ = ["MAX_WORKERS"]

log = logging.getLogger(__name__)


@contextmanager
def _old_objects_frozen() -> Iterator[None]:
    """Keep the garbage collector off the objects that exist now until the end.

    The figures make many short-lived objects; each full collection triggered by them would
    walk every object of the run (millions with a million firms: a third of a second each).
    Young garbage is still collected.  Nothing is done when objects are already frozen (the
    caller's) or the collector is off (see :class:`geo._gc.QuietGC`).
    """
    from geo._gc import QuietGC

    with QuietGC() as quiet:
        quiet.freeze()
        yield


#: processes drawing the report's figures are at most this (each forked worker copies the
#: pages it touches: a few hundred MB with a million firms)
MAX_WORKERS = 2
#: fewer figures than this are drawn in this process (forking would not pay)
_MIN_PARALLEL_TASKS = 4


def _workers(workers: int | None) -> int:
    import multiprocessing
    import sys

    if not sys.platform.startswith("linux") or multiprocessing.current_process().daemon:
        return 1  # fork is only safe on Linux; daemonic processes cannot have children
    if workers is None:
        return 1
    return max(1, int(workers))


def _draw_one(task) -> tuple[bytes | None, BaseException | None, str | None]:
    """(PNG or None, exception, its message) of one task."""
    _fname, _group, fn, args, kwargs = task
    try:
        return fn(*args, **kwargs), None, None
    except Exception as exc:  # noqa: BLE001 - reported by the caller
        return None, exc, f"{type(exc).__name__}: {exc}"


#: the tasks of the running report_figures, read by the forked workers (nothing is pickled)
_POOL_TASKS: list | None = None
_POOL_LOCK = threading.Lock()


def _pool_draw(indices: list[int]) -> list[tuple[int, bytes | None, BaseException | None, str | None]]:
    import pickle

    out = []
    for i in indices:
        png, exc, msg = _draw_one(_POOL_TASKS[i])
        if exc is not None:
            try:
                pickle.dumps(exc)
            except Exception:  # noqa: BLE001 - an exception that cannot travel back: keep its text
                exc = RuntimeError(msg)
        out.append((i, png, exc, msg))
    return out


def _draw_tasks(tasks: list, errors: dict[str, str] | None, workers: int,
                cost: Mapping[Any, float] | None = None) -> dict[str, bytes]:
    """File name -> PNG of every task that gave one, in the tasks' order; groups of tasks go to forked
    workers when ``workers`` > 1 and the policy allows it (the costliest first, by ``cost``: function ->
    rough relative cost, 1 when not listed).  A failed figure raises, or, with ``errors``, is logged
    and its message stored there under its file name."""
    done: dict[int, tuple[bytes | None, BaseException | None, str | None]] = {}
    groups: dict[str, list[int]] = {}
    for i, task in enumerate(tasks):
        groups.setdefault(task[1], []).append(i)
    from geo._process import policy

    if workers > 1 and len(tasks) >= _MIN_PARALLEL_TASKS and len(groups) > 1 and policy().fork_workers:
        done.update(_draw_forked(tasks, list(groups.values()), min(workers, len(groups)), cost or {}))
    for i, task in enumerate(tasks):  # in order: whatever the pool did not draw, and the outcome
        if i not in done:
            done[i] = _draw_one(task)
        png, exc, msg = done[i]
        if exc is not None:
            if errors is None:
                raise exc
            log.warning("figure %s failed: %s", task[0], msg)
            errors[task[0]] = msg
    return {tasks[i][0]: done[i][0] for i in range(len(tasks)) if done[i][0] is not None}


def _draw_forked(tasks: list, groups: list[list[int]], workers: int, cost: Mapping[Any, float]) -> dict[int, tuple]:
    """Draw groups of tasks in forked processes; groups that could not be drawn are left out."""
    import gc
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    global _POOL_TASKS
    order = sorted(groups, key=lambda g: -sum(cost.get(tasks[i][2], 1.0) for i in g))
    done: dict[int, tuple] = {}
    with _POOL_LOCK:  # one pool at a time: the workers read _POOL_TASKS as it was when they forked
        _POOL_TASKS = tasks
        try:
            # gc.freeze in the workers: a collection there would touch (and copy) every object of this process
            with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                                     initializer=gc.freeze) as pool:
                futures = [pool.submit(_pool_draw, g) for g in order]
                broken = False
                for fut in futures:
                    try:
                        for i, png, exc, msg in fut.result():
                            done[i] = (png, exc, msg)
                    except BrokenProcessPool:  # a worker died: the figures it did not return are drawn here
                        broken = True
                if broken:
                    log.warning("a figure worker process died; its figures are drawn in this process")
        except OSError as exc:  # cannot fork (e.g. out of memory): draw everything here
            log.warning("cannot start figure worker processes (%s); drawing the figures in this process", exc)
        finally:
            _POOL_TASKS = None
    return done
