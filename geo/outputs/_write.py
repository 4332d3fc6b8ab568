"""Writing files atomically (CSV, JSON) and safe file names for outputs."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["atomic_path", "write_csv", "write_json", "safe_name", "url_name"]


# ----------------------------------------------------------------------------- writers
def _temp_beside(target: Path) -> Path:
    """A free temporary file name in ``target``'s folder (hidden, same suffix)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    os.unlink(tmp)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(target)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table as UTF-8 CSV with a BOM (so Excel shows Chinese text), atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n")
    return Path(path)


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write JSON (UTF-8, sorted keys, NaN as null), atomically."""
    import json

    text = json.dumps(_jsonable(obj), ensure_ascii=False, indent=2, sort_keys=True, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return Path(path)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if np.isfinite(v) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, pd.DataFrame):
        return [_jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, Path):
        return str(obj)
    return obj


_UNSAFE = re.compile(r"[^\w\-]+")  # \w is Unicode: letters and digits of any script (武汉, Zürich) stay
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
_MAX_STEM = 60


def safe_name(text: Any) -> str:
    """A readable file-name stem for ``text`` (valley, sector and park names in output paths).

    Letters and digits of any script, ``_`` and ``-`` are kept (``武汉`` stays ``武汉``); every
    other run of characters becomes ``_``.  When that loses anything (spaces, punctuation, a
    name over 60 characters, a name Windows reserves), a short stable hash of the name is
    appended, so different names never share a file: ``"East Lake (Optics Valley)"`` ->
    ``East_Lake_Optics_Valley-3b8c0e``.  The same name always gives the same stem.
    """
    import hashlib
    import unicodedata

    name = unicodedata.normalize("NFC", str(text))
    stem = _UNSAFE.sub("_", name).strip("_")
    lossy = stem != name
    if len(stem) > _MAX_STEM:
        stem, lossy = stem[:_MAX_STEM].rstrip("_"), True
    if not stem or stem.lower() in _RESERVED:
        stem, lossy = stem or "name", True
    if not lossy:
        return stem
    return f"{stem}-{hashlib.sha1(name.encode('utf-8')).hexdigest()[:6]}"


def url_name(path: str) -> str:
    """A relative path percent-encoded for a link in HTML (``maps/武汉.html`` -> ``maps/%E6%AD%A6%E6%B1%89.html``)."""
    from urllib.parse import quote

    return quote(path)
