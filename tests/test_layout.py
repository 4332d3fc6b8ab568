"""The house rules of the package layout (docs/architecture.md): stages import only downward,
no import circle, no module too big to read, no process-wide state outside the CLI.

Each rule is a function over source text (``_edges``, ``_upward``, ``_cycles``,
``_process_calls``), run on the package and, in the ``test_the_checker_*`` tests, on planted
sources that must fail: a check that cannot fail checks nothing.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

GEO = Path(__file__).resolve().parents[1] / "geo"

#: the floor of each stage (a module may import its own floor and those below)
FLOORS = {"errors": 0, "_docs": 0, "_random": 0, "_gc": 0, "_format": 0, "_words": 0, "_process": 0, "_crs_kernels": 0,
          "_numba_util": 0, "_version": 0, "crs": 1, "points": 1, "config": 1, "datasets": 1, "io": 2, "cells": 2,
          "stats": 3, "parks": 4, "outputs": 5, "pipeline": 6, "cli": 7}

#: the floor of ``geo`` itself (its ``__init__``: the public API, re-exported from every stage)
TOP = 8


def _modules():
    for p in sorted(GEO.rglob("*.py")):
        parts = p.relative_to(GEO.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, p


def _package_sources() -> dict[str, tuple[str, bool]]:
    """module name -> (source, is a package ``__init__``) for every module of ``geo`` (a new dict each call)."""
    return dict(_read_package())


@functools.lru_cache(maxsize=1)
def _read_package() -> tuple[tuple[str, tuple[str, bool]], ...]:
    return tuple((m, (p.read_text(encoding="utf-8"), p.name == "__init__.py")) for m, p in _modules())


def _floor(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "geo":
        return None
    return TOP if len(parts) == 1 else FLOORS.get(parts[1])


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` of a Name/Attribute chain ('' for anything else)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


@functools.lru_cache(maxsize=1024)
def _parse(source: str) -> ast.Module:
    return ast.parse(source)


def _edges(source: str, module: str, *, is_package: bool, known: set[str]) -> list[tuple[str, int]]:
    """Every module of ``geo`` that ``module`` imports, anywhere in its source, with the line.

    Imports inside functions count as much as those at the top.  ``from P import x`` depends on
    the module ``P.x`` when that is a module, else on ``P`` (so ``from geo import run`` and
    ``from geo import __version__`` are imports of ``geo`` itself, the top floor); relative
    imports are resolved against ``module``; ``importlib.import_module("geo....")`` and
    ``__import__("geo....")`` with a literal name are imports of that module.
    """
    package = module if is_package else module.rpartition(".")[0]
    out = []
    for node in ast.walk(_parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target != "geo" and not target.startswith("geo."):
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.append((sub if sub in known else target, node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name == "geo" or a.name.startswith("geo.")]
        elif (isinstance(node, ast.Call) and _dotted(node.func).rpartition(".")[2] in ("import_module", "__import__")
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            name = node.args[0].value
            if name == "geo" or name.startswith("geo."):
                out.append((name, node.lineno))
    return out


def _graph(sources: dict[str, tuple[str, bool]]) -> dict[str, list[tuple[str, int]]]:
    known = set(sources)
    return {m: _edges(src, m, is_package=pkg, known=known) for m, (src, pkg) in sources.items()}


def _upward(sources: dict[str, tuple[str, bool]]) -> list[str]:
    """``module:line imports target`` for every import of a higher floor (``geo`` itself excepted)."""
    up = []
    for module, edges in _graph(sources).items():
        if module == "geo":
            continue
        for target, line in edges:
            floor = _floor(target)
            if floor is None or floor > _floor(module):
                up.append(f"{module}:{line} imports {target}")
    return up


def _cycles(sources: dict[str, tuple[str, bool]]) -> list[list[str]]:
    """Import circles between modules (each strongly connected component of two or more, or a self-import)."""
    graph = {m: sorted({t for t, _ in edges if t in sources}) for m, edges in _graph(sources).items()}
    index, low, on_stack, stack, components = {}, {}, set(), [], []

    def connect(v):  # Tarjan; the package has ~150 modules, recursion is shallow enough
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph[v]:
                components.append(sorted(comp))

    for m in sorted(graph):
        if m not in index:
            connect(m)
    return sorted(components)


#: calls that change the process (a dotted name, matched on its last parts: ``Thread`` matches
#: ``threading.Thread`` and ``Thread`` after ``from threading import Thread``)
PROCESS_CALLS = ("gc.freeze", "gc.disable", "gc.set_threshold", "set_gdal_config_options", "SetConfigOption", "Popen",
                 "Thread", "Process", "Pool", "ProcessPoolExecutor", "environ.update", "environ.setdefault",
                 "environ.pop", "environ.clear", "putenv", "chdir", "basicConfig", "random.seed")

#: (file, call) pairs allowed: the CLI's, and the library's gated by ``geo._process.policy()`` in that file
PROCESS_ALLOWED = {
    # the collector helpers (_gc.paused, _gc.QuietGC): each asks policy().freeze_gc itself and
    # does nothing under the library's policy
    ("geo/_gc.py", "gc.freeze"),
    ("geo/_gc.py", "gc.disable"),
    # the forked figure workers (_figure_pool._draw_tasks, called by figures.report_figures): only when
    # policy().fork_workers (geo run); each worker freezes the heap it inherits (initializer=gc.freeze)
    ("geo/outputs/_figure_pool.py", "ProcessPoolExecutor"),
    ("geo/outputs/_figure_pool.py", "gc.freeze"),
    # the GeoPackage writer process (LayerJob starts python -m geo.outputs._layers_child): only
    # when policy().background_writer; a spawned interpreter, not a fork of the threaded run
    ("geo/outputs/layers.py", "Popen"),
    # fast SQLite writes through process-wide GDAL options: only when policy().gdal_options
    ("geo/outputs/layers.py", "set_gdal_config_options"),
    # the command owns its process: it configures logging (-v / -q), as rasterio's rio does
    ("geo/cli.py", "basicConfig"),
}


def _process_calls(source: str) -> list[tuple[str, int]]:
    """(what, line) for every step in ``source`` that changes the process.

    The calls of :data:`PROCESS_CALLS` (also passed as a value, as in ``initializer=gc.freeze``),
    and assignments to or deletions of ``os.environ[...]``.
    """
    found = []
    for node in ast.walk(_parse(source)):
        if isinstance(node, ast.Call):
            for ref in (node.func, *(k.value for k in node.keywords)):
                name = _dotted(ref)
                for call in PROCESS_CALLS:
                    if name == call or name.endswith(f".{call}"):
                        found.append((call, node.lineno))
        targets = []
        if isinstance(node, (ast.Assign, ast.Delete)):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for t in targets:
            if isinstance(t, ast.Subscript) and _dotted(t.value).endswith("environ"):
                found.append(("os.environ[...] =", node.lineno))
    return found


# --- the rules, on the package ------------------------------------------------------------------

def test_every_module_has_a_floor():
    assert [m for m, _ in _modules() if _floor(m) is None] == []


def test_stages_import_only_downward():
    assert _upward(_package_sources()) == []


def test_no_import_circle():
    """No circle between modules, through imports at any level (inside functions too), within a stage too."""
    assert _cycles(_package_sources()) == []


@pytest.mark.parametrize(("module", "path"), list(_modules()))
def test_no_module_over_1500_lines(module, path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 1500, module


def test_process_state_is_touched_only_under_the_cli_policy():
    """gc.freeze, gc.disable, GDAL options, child processes, threads and the environment live behind geo._process.policy()."""
    found = set()
    for _, path in _modules():
        rel = str(path.relative_to(GEO.parent))
        found |= {(rel, call) for call, _ in _process_calls(path.read_text(encoding="utf-8"))}
    assert found - PROCESS_ALLOWED == set()
    assert PROCESS_ALLOWED - found == set(), "an allowed step is gone: drop it from PROCESS_ALLOWED"
    for rel in {rel for rel, _ in PROCESS_ALLOWED} - {"geo/cli.py"}:
        assert "policy()" in (GEO.parent / rel).read_text(encoding="utf-8"), rel


def _unnamed(doc: str) -> list[str]:
    """Modules whose name does not appear in ``doc`` in backticks: as `name`, `name/` (a
    package) or `geo/path.py` (the last part of the name only: `_data` names both ``_data``
    modules)."""
    out = []
    for module, path in _modules():
        last = module.rpartition(".")[2]
        rel = path.relative_to(GEO.parent).as_posix()
        names = (last, rel, *((f"{last}/", f"{rel.rpartition('/')[0]}/") if path.name == "__init__.py" else ()))
        if not any(f"`{w}`" in doc for w in names):
            out.append(module)
    return out


def test_the_architecture_names_every_module():
    assert _unnamed((GEO.parent / "docs" / "architecture.md").read_text(encoding="utf-8")) == []


def test_the_name_check_finds_an_unnamed_module():
    doc = (GEO.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert _unnamed(doc.replace("`_shift`", "shift")) == ["geo.outputs.maps._shift"]
    assert _unnamed(doc.replace("`_version`", "version")) == ["geo._version"]


# --- the checker can fail -----------------------------------------------------------------------

def _planted(module: str, code: str) -> dict[str, tuple[str, bool]]:
    """The package's sources with ``code`` appended to ``module``."""
    sources = _package_sources()
    src, pkg = sources[module]
    sources[module] = (f"{src}\n{code}\n", pkg)
    return sources


KNOWN = {"geo", "geo.io", "geo.io.firms", "geo.io.parks", "geo.outputs", "geo.outputs._style", "geo.outputs.maps",
         "geo.outputs.maps._basemap", "geo.outputs.report", "geo.outputs.report._html", "geo.pipeline",
         "geo.pipeline.runner", "geo.crs", "geo._version"}


@pytest.mark.parametrize(("code", "module", "is_package", "expected"), [
    ("from geo import run", "geo.io.firms", False, ["geo"]),
    ("from geo import __version__", "geo.outputs.report", True, ["geo"]),
    ("from geo import crs, run", "geo.io.firms", False, ["geo.crs", "geo"]),
    ("import geo", "geo.io.firms", False, ["geo"]),
    ("import geo.pipeline.runner", "geo.io.firms", False, ["geo.pipeline.runner"]),
    ("from geo.pipeline import runner, run", "geo.io.firms", False, ["geo.pipeline.runner", "geo.pipeline"]),
    ("from ..pipeline import runner", "geo.io.firms", False, ["geo.pipeline.runner"]),
    ("from . import parks", "geo.io.firms", False, ["geo.io.parks"]),
    ("from .parks import read_parks", "geo.io.firms", False, ["geo.io.parks"]),
    ("from .. import _style", "geo.outputs.maps._basemap", False, ["geo.outputs._style"]),
    ("from . import _html", "geo.outputs.report", True, ["geo.outputs.report._html"]),
    ("from ...pipeline.runner import run", "geo.outputs.maps._basemap", False, ["geo.pipeline.runner"]),
    ("def f():\n    from geo.pipeline import runner", "geo.io.firms", False, ["geo.pipeline.runner"]),
    ("import importlib\nimportlib.import_module('geo.pipeline.runner')", "geo.io.firms", False, ["geo.pipeline.runner"]),
    ("from importlib import import_module\nimport_module('geo.pipeline')", "geo.io.firms", False, ["geo.pipeline"]),
    ("__import__('geo.crs')", "geo.io.firms", False, ["geo.crs"]),
    ("import importlib\nimportlib.import_module('numpy')\nimport numpy\nfrom numpy import geo", "geo.io.firms", False, []),
])
def test_the_checker_resolves_imports(code, module, is_package, expected):
    """Hand-resolved targets: the package, the submodule, relative and literal importlib imports."""
    assert [t for t, _ in _edges(code, module, is_package=is_package, known=KNOWN)] == expected


@pytest.mark.parametrize("code", [
    "from geo import run",  # the API of geo itself: the top floor
    "from geo import __version__",
    "from ..pipeline import runner",  # relative
    "def f():\n    from ..pipeline import runner",
    "import importlib\n\ndef f():\n    return importlib.import_module('geo.pipeline.runner')",
    "def f():\n    import geo.outputs.figures",
])
def test_the_checker_finds_an_upward_import(code):
    assert _upward(_planted("geo.stats.autocorr", code)) != []


def test_the_checker_finds_a_circle_inside_functions_within_a_stage():
    """Plant the reverse of a real import between two modules of one stage, inside a function."""
    sources = _package_sources()
    a, b = next((m, t) for m, edges in sorted(_graph(sources).items()) for t, _ in edges
                if t in sources and t != m and not sources[m][1] and not sources[t][1] and _floor(m) == _floor(t))
    package, _, name = a.rpartition(".")
    cycles = _cycles(_planted(b, f"def _planted():\n    from {package} import {name}"))
    assert any(a in c and b in c for c in cycles), (a, b, cycles)


@pytest.mark.parametrize(("module", "code", "other"), [  # the four circles a review found, planted back
    ("geo.cells.grid", "def _extent():\n    from geo.cells.area import StudyArea", "geo.cells.area"),
    ("geo.io.catalogue", "def _read_sheet():\n    from geo.io.parks import _PARK_NAME", "geo.io.parks"),
    ("geo.outputs.compare_figures", "def chart():\n    from geo.outputs.figures import _png", "geo.outputs.figures"),
    ("geo.outputs.maps._geometry", "from geo.outputs.maps._basemap import display_lonlat", "geo.outputs.maps._basemap"),
])
def test_the_checker_finds_the_circles_a_review_found(module, code, other):
    assert any(module in c and other in c for c in _cycles(_planted(module, code)))


def test_the_checker_finds_a_circle_through_relative_and_importlib_imports():
    sources = _planted("geo.errors", "def _a():\n    from .io import firms")
    assert any("geo.errors" in c and "geo.io.firms" in c for c in _cycles(sources))
    sources = _planted("geo.errors", "import importlib\n\ndef _a():\n    importlib.import_module('geo.crs')")
    assert any("geo.errors" in c and "geo.crs" in c for c in _cycles(sources))


def test_the_checker_finds_a_three_module_circle():
    sources = {"geo.cells.a": ("from geo.cells import b", False), "geo.cells.b": ("def f():\n    from . import c", False),
               "geo.cells.c": ("import geo.cells.a", False), "geo.cells.d": ("from geo.cells import a", False)}
    assert _cycles(sources) == [["geo.cells.a", "geo.cells.b", "geo.cells.c"]]


@pytest.mark.parametrize(("code", "expected"), [
    ("import os\nos.environ['GDAL_CACHEMAX'] = '512'", "os.environ[...] ="),
    ("import os\nos.environ['X'] += 'a'", "os.environ[...] ="),
    ("from os import environ\ndel environ['X']", "os.environ[...] ="),
    ("import os\nos.environ.update(X='1')", "environ.update"),
    ("from osgeo import gdal\ngdal.SetConfigOption('OGR_SQLITE_SYNCHRONOUS', 'OFF')", "SetConfigOption"),
    ("import threading\n\ndef f():\n    threading.Thread(target=print).start()", "Thread"),
    ("from concurrent.futures import ProcessPoolExecutor\nProcessPoolExecutor(2)", "ProcessPoolExecutor"),
    ("import concurrent.futures as cf\ncf.ProcessPoolExecutor(2, initializer=None)", "ProcessPoolExecutor"),
    ("import gc\ngc.freeze()", "gc.freeze"),
    ("import gc\nrun(initializer=gc.freeze)", "gc.freeze"),
    ("import pyogrio\npyogrio.set_gdal_config_options({})", "set_gdal_config_options"),
    ("import multiprocessing as mp\nmp.Process(target=print).start()", "Process"),
    ("import numpy as np\nnp.random.seed(0)", "random.seed"),
])
def test_the_checker_finds_a_process_change(code, expected):
    assert expected in [what for what, _ in _process_calls(code)]


@pytest.mark.parametrize("call", PROCESS_CALLS)
def test_the_checker_finds_every_listed_call(call):
    for code in (f"{call}(1)", f"import x\n\ndef f():\n    x.y.{call}()", f"run(initializer={call})"):
        assert call in [what for what, _ in _process_calls(code)], code


def test_the_checker_lets_reading_the_process_pass():
    code = ("import os, gc, threading\nos.environ.get('X')\nx = os.environ['X']\ngc.collect()\nthreading.Lock()\n"
            "np.random.default_rng(0)\nthreading.current_thread()")
    assert _process_calls(code) == []
