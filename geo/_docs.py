"""Docstring sections that several functions share, written once (the idea of pandas' ``@doc``).

A docstring names a shared section by a line that holds only ``{name}``; :func:`shared_doc`
replaces that line by the section, indented as the line was.  Only such whole lines are
replaced, so the braces of the formulas in ``.. math::`` blocks are left alone.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Callable
from typing import TypeVar

__all__ = ["fill_doc", "shared_doc"]

F = TypeVar("F", bound=Callable)

_PLACEHOLDER = re.compile(r"^([ \t]*)\{(\w+)\}[ \t]*$", re.MULTILINE)


def fill_doc(doc: str, /, *, append: str = "", **sections: str) -> str:
    """``doc`` with each line that is only ``{name}`` replaced by ``sections[name]``.

    Parameters
    ----------
    doc : str
        A docstring (as written in the source: its body indented).
    append : str, default ""
        Text added after the (dedented) docstring, e.g. the sections every function of a
        family ends with.
    **sections : str
        The shared sections by name; each is dedented, then indented as its placeholder line.

    Returns
    -------
    str
        The completed docstring, dedented (as :func:`inspect.cleandoc` gives it).

    Raises
    ------
    KeyError
        A placeholder names no section (a mistake in the source, found at import).

    Examples
    --------
    >>> print(fill_doc('''Sum.
    ...
    ...     Parameters
    ...     ----------
    ...     {xy}
    ...     ''', xy="x, y : float\\n    The numbers."))
    Sum.
    <BLANKLINE>
    Parameters
    ----------
    x, y : float
        The numbers.
    """

    def section(m: re.Match) -> str:
        return textwrap.indent(textwrap.dedent(sections[m.group(2)]).strip("\n"), m.group(1))

    text = inspect.cleandoc(_PLACEHOLDER.sub(section, doc))
    return text + "\n" + append if append else text


def shared_doc(*, append: str = "", **sections: str) -> Callable[[F], F]:
    """Decorator: complete the function's docstring with :func:`fill_doc`.

    Parameters
    ----------
    append : str, default ""
        Text added after the function's own docstring.
    **sections : str
        The shared sections its ``{name}`` lines stand for.

    Returns
    -------
    callable
        The decorator; it returns the same function with its ``__doc__`` completed.
    """

    def document(func: F) -> F:
        func.__doc__ = fill_doc(func.__doc__ or "", append=append, **sections)
        return func

    return document
