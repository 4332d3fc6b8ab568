"""The house rules of the package layout (docs/architecture.md): stages import only downward,
no import circle, no module too big to read, no process-wide state outside the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GEO = Path(__file__).resolve().parents[1] / "geo"

#: the floor of each stage (a module may import its own floor and those below)
FLOORS = {"errors": 0, "_docs": 0, "_random": 0, "_gc": 0, "_format": 0, "_words": 0, "_process": 0, "_crs_kernels": 0,
          "_numba_util": 0, "crs": 1, "points": 1, "config": 1, "datasets": 1, "io": 2, "cells": 2, "stats": 3, "parks": 4,
          "outputs": 5, "pipeline": 6, "cli": 7}


def _modules():
    for p in sorted(GEO.rglob("*.py")):
        parts = p.relative_to(GEO.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, p


def _floor(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "geo":
        return None
    return 8 if len(parts) == 1 else FLOORS.get(parts[1])


def _imports(path: Path) -> list[tuple[str, int]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("geo") and node.level == 0:
            if node.module == "geo":
                out += [(f"geo.{a.name}", node.lineno) for a in node.names]
            else:
                out.append((node.module, node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.startswith("geo")]
    return out


def test_every_module_has_a_floor():
    assert [m for m, _ in _modules() if _floor(m) is None] == []


def test_stages_import_only_downward():
    up = []
    for module, path in _modules():
        if module == "geo":
            continue
        for target, line in _imports(path):
            if _floor(target) is not None and _floor(target) > _floor(module):
                up.append(f"{path.relative_to(GEO.parent)}:{line} imports {target}")
    assert up == []


def test_no_import_circle_at_module_level():
    graph = {}
    known = {m for m, _ in _modules()}
    for module, path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        deps = set()
        for node in tree.body:  # module level only: imports inside functions run late
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("geo.") and node.level == 0:
                for a in node.names:  # `from geo.pipeline import checks` depends on the submodule, not the package
                    deps.add(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("geo.")}
        graph[module] = {d for d in deps if d != module}
    seen, stack, cycles = set(), [], []

    def visit(m):
        if m in stack:
            cycles.append(stack[stack.index(m):] + [m])
            return
        if m in seen or m not in graph:
            return
        seen.add(m)
        stack.append(m)
        for d in sorted(graph[m]):
            visit(d)
        stack.pop()

    for m in sorted(graph):
        visit(m)
    assert cycles == []


@pytest.mark.parametrize(("module", "path"), list(_modules()))
def test_no_module_over_1500_lines(module, path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 1500, module


def test_process_state_is_touched_only_under_the_cli_policy():
    """gc.freeze, gc.disable, GDAL options, child processes and the layer writer thread live behind geo._process.policy()."""
    allowed = {"geo/_gc.py", "geo/outputs/figures.py", "geo/outputs/layers.py"}
    found = []
    for module, path in _modules():
        text = path.read_text(encoding="utf-8")
        rel = str(path.relative_to(GEO.parent))
        for call in ("gc.freeze(", "gc.disable(", "set_gdal_config_options(", "subprocess.Popen(", "initializer=gc.freeze"):
            if call in text and rel not in allowed:
                found.append(f"{rel}: {call}")
    assert found == []
    for rel in allowed:
        assert "policy()" in (GEO.parent / rel).read_text(encoding="utf-8"), rel
