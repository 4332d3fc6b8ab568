"""Fonts of the figures: a CJK-capable fallback when one is installed, a note when none is.

Park, valley and sector names are often Chinese.  matplotlib's default font (DejaVu Sans)
has no CJK glyph, so such a name would be drawn as boxes ("tofu").  :func:`font_family`
is the ``font.family`` list the figures set inside their own ``rc_context``: DejaVu Sans
first, then every CJK-capable family installed (Noto Sans CJK, Source Han Sans,
WenQuanYi, Microsoft YaHei, PingFang, ...), which matplotlib falls back to glyph by glyph.
Nothing is set process-wide.

matplotlib keeps a cache of the fonts it found when it was first imported, so a CJK font
installed later (``apt-get install fonts-noto-cjk``) is unknown to it.  When its cache holds
no CJK family, :func:`cjk_families` looks in the system's font folders (without running
``fc-list``) for CJK font files and registers them with matplotlib's font manager, as a
rebuilt cache would; no other matplotlib setting changes.

When no CJK font is installed and the text to draw holds CJK characters,
:func:`cjk_font_note` gives the sentence the run adds to its warnings (with the install
hint), and :func:`note_missing_cjk` logs it once per process for figures drawn outside a run.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
from collections.abc import Iterable
from typing import Any

__all__ = ["CJK_FAMILIES", "INSTALL_HINT", "cjk_families", "cjk_font_note", "font_family", "has_cjk",
           "note_missing_cjk"]

log = logging.getLogger(__name__)

#: CJK-capable families, the ones for simplified Chinese first (the first installed draws a glyph)
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Zen Hei",
                "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC", "Heiti SC", "SimHei", "Noto Sans CJK TC",
                "Noto Sans CJK JP", "Source Han Sans", "Noto Sans CJK KR", "AR PL UMing CN", "AR PL UKai CN")

#: how to get one
INSTALL_HINT = ("install a CJK font, e.g. `apt-get install fonts-noto-cjk` on Debian/Ubuntu "
                "(`make test` does it when run as root) or Noto Sans CJK SC from fonts.google.com")

#: file names of CJK sans-serif font files (looked for when matplotlib's cache knows none)
_CJK_FILES = re.compile(r"(?i)(notosanscjk|notosanssc|sourcehansans|wqy|wenquanyi|msyh|pingfang|simhei|uming|ukai)")

#: Han ideographs (with extensions A and B-F), kana, Hangul, CJK punctuation and full-width forms
_CJK = re.compile("[\u2e80-\u2fdf\u3000-\u30ff\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
                  "\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003134f]")


def has_cjk(text: Any) -> bool:
    """Whether ``text`` (any value, as ``str``) holds a CJK character.

    Examples
    --------
    >>> has_cjk("东湖高新区"), has_cjk("Optics Valley"), has_cjk(None)
    (True, False, False)
    """
    return text is not None and _CJK.search(str(text)) is not None


def _font_dirs() -> list[str]:
    from matplotlib import font_manager

    dirs = [*font_manager.X11FontDirectories, *font_manager.OSXFontDirectories,
            os.path.join(os.environ.get("WINDIR", r"C:\Windows"), "Fonts"),
            os.path.join(os.environ.get("LOCALAPPDATA", ""), "Microsoft", "Windows", "Fonts")]
    return [d for d in dict.fromkeys(dirs) if d and os.path.isdir(d)]


_LOCK = threading.Lock()


@functools.cache
def cjk_families() -> tuple[str, ...]:
    """The CJK-capable font families matplotlib can use here, in :data:`CJK_FAMILIES` order.

    Read once per process.  When matplotlib's font cache has none of them, CJK font files
    in the system's font folders are registered with its font manager first.

    Returns
    -------
    tuple of str
        Empty when no CJK font is installed.
    """
    from matplotlib import font_manager

    with _LOCK:
        fm = font_manager.fontManager
        have = {f.name for f in fm.ttflist}
        if not have & set(CJK_FAMILIES):
            known = {f.fname for f in fm.ttflist}
            for path in font_manager.findSystemFonts(fontpaths=_font_dirs()):
                if path not in known and _CJK_FILES.search(os.path.basename(path)):
                    try:
                        fm.addfont(path)
                    except (OSError, RuntimeError, ValueError) as exc:  # a damaged or unsupported file
                        log.debug("font %s not usable: %s", path, exc)
            have = {f.name for f in fm.ttflist}
            if have & set(CJK_FAMILIES):
                log.info("registered CJK fonts not in matplotlib's font cache: %s",
                         sorted(have & set(CJK_FAMILIES)))
        return tuple(f for f in CJK_FAMILIES if f in have)


def font_family() -> list[str]:
    """The figures' ``font.family``: DejaVu Sans, then the installed CJK families as fallbacks."""
    return ["DejaVu Sans", *cjk_families()]


def cjk_font_note(texts: Iterable[Any]) -> str | None:
    """The warning to give when ``texts`` hold CJK characters and no CJK font is installed.

    Parameters
    ----------
    texts : iterable
        The strings the figures will draw (names of parks, valleys, sectors, titles).

    Returns
    -------
    str or None
        None when a CJK font is installed or no text holds a CJK character.
    """
    sample = next((str(t) for t in texts if has_cjk(t)), None)
    if sample is None or cjk_families():
        return None
    return (f"no CJK font is installed: Chinese names in the figures (e.g. {sample[:30]!r}) are drawn as empty boxes; "
            f"{INSTALL_HINT}")


_NOTED = False


def note_missing_cjk(texts: Iterable[Any], *, logged: bool = True) -> str | None:
    """:func:`cjk_font_note`, logged as a warning the first time in this process only.

    ``logged=False`` marks the note as given without logging it (the run adds it to its
    warnings, which the command line prints).
    """
    global _NOTED
    note = cjk_font_note(texts)
    if note is not None and not _NOTED:
        _NOTED = True
        if logged:
            log.warning("%s", note)
    return note
