"""geo._docs: shared docstring sections, filled where a line holds only ``{name}``."""

from __future__ import annotations

import doctest

import pytest

import geo._docs
from geo._docs import fill_doc, shared_doc


def test_a_section_takes_the_indentation_of_its_line():
    doc = """Title.

        Parameters
        ----------
        {xy}
        z : int
            Other.
        """
    out = fill_doc(doc, xy="""
        x, y : float
            The numbers.""")
    assert out.splitlines() == ["Title.", "", "Parameters", "----------", "x, y : float", "    The numbers.",
                                "z : int", "    Other."]


def test_braces_inside_a_line_are_left_alone():
    doc = """Formula.

        .. math::

            I = \\frac{n}{S_0}
            {x}
        """
    out = fill_doc(doc, x="x = 1")
    assert "\\frac{n}{S_0}" in out
    assert out.splitlines()[-1] == "    x = 1"


def test_append_and_an_unknown_section():
    assert fill_doc("One line.", append="More.") == "One line.\nMore."
    with pytest.raises(KeyError, match="missing"):
        fill_doc("Doc.\n\n    {missing}\n")


def test_the_decorator_returns_the_same_function():
    def f():
        """Doc.

        {s}
        """

    g = shared_doc(s="Shared.")(f)
    assert g is f and f.__doc__ == "Doc.\n\nShared."


def test_doctests():
    result = doctest.testmod(geo._docs)
    assert result.attempted >= 1 and result.failed == 0
