"""geo._random: the one seed helper, and the one record of a seed in every result."""

from __future__ import annotations

import doctest

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from libpysal.graph import Graph

import geo._random
from geo._random import check_seed, seed_int, seed_record
from geo.stats.autocorr import global_moran
from geo.stats.colocation import colocation


@pytest.mark.parametrize(("seed", "recorded"), [(3, 3), (np.int64(3), 3), (None, None),
                                                (np.random.default_rng(0), "Generator")])
def test_seed_record(seed, recorded):
    out = seed_record(seed)
    assert out == recorded and type(out) is type(recorded)  # a plain int, never a numpy integer


def test_every_statistic_records_a_generator_the_same_way():
    """Global Moran and the co-location quotient used to record a Generator differently
    ("Generator" and None); both give seed_record's value now, and an int seed as the int."""
    i, j = np.meshgrid(np.arange(6), np.arange(6))
    sq = gpd.GeoSeries(shapely.box(i.ravel(), j.ravel(), i.ravel() + 1, j.ravel() + 1))
    g = Graph.build_contiguity(sq, rook=True)
    y = pd.Series(i.ravel() * 1.0)
    pts = gpd.GeoDataFrame({"s": list("AABBAB")}, geometry=shapely.points([0, 1, 2, 3, 10, 11], 0), crs=3857)
    for seed, recorded in ((np.random.default_rng(5), "Generator"), (np.int64(5), 5)):
        assert global_moran(y, g, permutations=9, seed=seed).seed == recorded
        assert colocation(pts, a="A", b="B", column="s", k=1, permutations=9, seed=seed).seed == recorded


def test_check_seed_and_seed_int():
    assert isinstance(check_seed(1), np.random.Generator)
    assert seed_int(1) == seed_int(1) and 0 <= seed_int(1) < 2**63
    with pytest.raises(TypeError, match="`seed` must be an int"):
        check_seed("1")


def test_doctests():
    result = doctest.testmod(geo._random)
    assert result.attempted >= 1 and result.failed == 0
