"""geo.io.engine: the public face the dask engine reads firm tables through, and the
stages' engines using only public names of the stages below them."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import geo
from geo.io import engine
from geo.io import firms as gfirms

ROOT = Path(geo.__file__).parent


def _private_uses(path: Path, package: str) -> list[str]:
    """Private names of ``package`` (modules or names starting with ``_``) that ``path`` imports
    or reads as attributes of a module of ``package`` it imported."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found, aliases = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and (node.module + ".").startswith(package + "."):
            parts = node.module.split(".")
            for a in node.names:
                if any(p.startswith("_") for p in parts[2:]) or a.name.startswith("_"):
                    found.append(f"{node.module}.{a.name}")
                aliases.add(a.asname or a.name)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if (a.name + ".").startswith(package + "."):
                    aliases.add(a.asname or a.name)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_")):
            found.append(f"{node.value.id}.{node.attr}")
    return found


@pytest.mark.parametrize(("module", "package"), [
    ("pipeline/dask_engine.py", "geo.io"),
    ("pipeline/_colocation.py", "geo.parks.models"),
    ("parks/compare.py", "geo.stats.pointpattern"),
])
def test_engines_use_only_public_names_of_the_stages_below(module, package):
    assert _private_uses(ROOT / module, package) == []


def test_the_private_use_finder_finds_private_uses(tmp_path):
    """The check above can fail: a module that reaches into io's privates is caught."""
    p = tmp_path / "m.py"
    p.write_text("from geo.io import firms as gio\nfrom geo.io._keys import mix\nfrom geo.io import _text\n"
                 "def f():\n    return gio._Validation, gio.read_firms\n", encoding="utf-8")
    assert sorted(_private_uses(p, "geo.io")) == ["geo.io._keys.mix", "geo.io._text", "gio._Validation"]


def test_the_engine_api_is_the_readers_own():
    """One implementation: the engine's names are the whole-table reader's objects."""
    assert engine.Validation is gfirms._Validation
    assert engine.STACKED_MIN == gfirms._STACKED_MIN == 10
    assert set(engine.__all__) <= set(dir(engine))


def test_fast_and_reference_csv_readers_agree():
    """pyarrow's parse and the csv module's give the same text columns (a quoted comma, an empty field)."""
    data = b'id,name,lon,lat\n1,"Acme, Ltd",114.1,30.5\n2,,114.2,\n'
    fast = engine.read_csv_fast(data, 0, ",")
    slow = engine.read_csv_text(data.decode(), ",", Path("t.csv"))
    assert fast is not None and fast.columns == slow.columns == ["id", "name", "lon", "lat"] and fast.n == slow.n == 2
    for c in fast.columns:
        assert engine.column_text(fast.cols[c], np.arange(2)) == engine.column_text(slow.cols[c], np.arange(2))
    assert engine.column_text(slow.cols["name"], np.arange(2)) == ["Acme, Ltd", ""]
    assert engine.sniff_delimiter("a;b;c\n1;2;3\n", ".csv") == ";"
    assert engine.utf8_start(b"\xef\xbb\xbfid,x\n", None) == (3, "utf-8-sig")


def test_duplicate_rows_by_hand():
    """Rows 0 and 2 are equal in both columns, row 3 equals row 1 in one column only."""
    cols = [engine.text_array(["a", "b", "a", "b"]), engine.FloatColumn(np.array([1.0, 2.0, 1.0, 3.0]))]
    dup, first = engine.duplicate_rows(cols, 4)
    assert dup.tolist() == [False, False, True, False]
    assert int(first[2]) == 0
    assert engine.float_text(0.1) == "0.1" and engine.float_text(float("nan")) == ""
