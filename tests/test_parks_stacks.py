"""Hot spots made by a stacked geocode (geo.parks.stacks): the clusters' notes, with the cluster
membership given as ``cluster_cells`` or read from the record of geo.cluster_polygons."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.errors import InputError
from geo.parks import stacks
from geo.parks.overlay import cluster_polygons

CRS = "EPSG:32650"
SIZE = 500.0
X0, Y0 = 500000.0, 3370000.0


@pytest.fixture(scope="module")
def stacked():
    """10 x 10 square cells; hot block A (3 x 3 cells and one touching at a corner: 10 cells) and hot
    block B (2 x 2 cells).  Every hot cell holds 3 firms at distinct points; one cell of B also holds
    40 firms on one point (stack 7).  B: 52 firms, 40 on the stack (cluster 1); A: 30 firms, none stacked."""
    i, j = (a.ravel() for a in np.meshgrid(np.arange(10), np.arange(10), indexing="xy"))
    cells = gpd.GeoDataFrame({"i": i, "j": j}, geometry=shapely.box(X0 + i * SIZE, Y0 + j * SIZE, X0 + (i + 1) * SIZE,
                                                                     Y0 + (j + 1) * SIZE), crs=CRS)
    cells.index = cells.index + 1000  # not positions
    block_a = (cells.i.between(1, 3) & cells.j.between(1, 3)) | ((cells.i == 4) & (cells.j == 4))
    block_b = cells.i.between(7, 8) & cells.j.between(7, 8)
    hot = (block_a | block_b).to_numpy()
    stack_cell = cells.index[block_b.to_numpy()][0]
    xs, ys, stack = [], [], []
    for idx, cell in cells[hot].iterrows():
        x0, y0 = X0 + cell.i * SIZE, Y0 + cell.j * SIZE
        xs += [x0 + 100, x0 + 250, x0 + 400]
        ys += [y0 + 100, y0 + 250, y0 + 400]
        stack += [-1, -1, -1]
        if idx == stack_cell:
            xs += [x0 + 300] * 40
            ys += [y0 + 200] * 40
            stack += [7] * 40
    firms = gpd.GeoDataFrame({"stack": stack}, geometry=shapely.points(xs, ys), crs=CRS)
    _, cell_of = cells.sindex.query(firms.geometry, predicate="within")  # every firm lies inside one cell
    cells["n_firms"] = np.bincount(cell_of, minlength=len(cells))
    cells["gi_bin"] = np.where(hot, 3, 0)
    cells["gi_z"] = np.where(hot, 3.5, 0.0)
    clusters = cluster_polygons(cells)
    return cells, firms, clusters, stacks.stack_shares(cells, firms)


def test_cluster_notes_from_cluster_cells_or_the_clusters_record(stacked):
    cells, firms, clusters, shares = stacked
    assert clusters["n_firms"].tolist() == [52, 30] and clusters["n_cells"].tolist() == [4, 10]
    from_record = stacks.cluster_artefacts(clusters, shares)
    # by hand: cluster 1 (block B) rests on stack 7, 40 of its 52 firms; cluster 2 has no stack
    assert from_record.tolist() == [
        "hot spot may be a geocoding artefact: 40 of 52 firms sit on one fallback location (a stacked geocode)", ""]
    bare = clusters.copy()
    bare.attrs = {}
    given = stacks.cluster_artefacts(bare, shares, cluster_cells=clusters.attrs["cell_cluster"])
    pd.testing.assert_series_equal(given, from_record)
    # without a membership no cluster can be flagged (as before: clusters read back from a file)
    assert stacks.cluster_artefacts(bare, shares).tolist() == ["", ""]
    # the membership decides: the stacked cell moved to cluster 2 flags cluster 2 (its 40 of 30 + 3 firms)
    cc = clusters.attrs["cell_cluster"].copy()
    stack_cell = shares.index[shares["stack_id"].to_numpy() == 7][0]
    cc[stack_cell] = 2
    moved = stacks.cluster_artefacts(bare, shares, cluster_cells=cc)
    assert moved.tolist() == [
        "", "hot spot may be a geocoding artefact: 40 of 73 firms sit on one fallback location (a stacked geocode)"]


def _one_sentence(exc) -> str:
    text = str(exc.value)
    assert "\n" not in text and text.endswith(".") and text.count(". ") == 0
    return text


def test_a_wrong_cluster_membership_is_one_sentence(stacked):
    cells, firms, clusters, shares = stacked
    cc = clusters.attrs["cell_cluster"]
    with pytest.raises(InputError, match=r"`cluster_cells` names 2 of its 14 cells that are not cells of `shares` "
                                         r"\(it has 100\): 7, 8; give the cluster_cells of the hot spots") as exc:
        stacks.cluster_artefacts(clusters, shares, cluster_cells=cc.rename(index={cc.index[0]: 7, cc.index[1]: 8}))
    _one_sentence(exc)
    with pytest.raises(InputError, match=r"cluster ids that `clusters` does not hold \(9; it holds ids 1, 2\)") as exc:
        stacks.cluster_artefacts(clusters, shares, cluster_cells=cc.where(cc != 2, 9))
    _one_sentence(exc)
    with pytest.raises(InputError, match=r"more than one cluster \(" + str(cc.index[0]) + r"\)") as exc:
        twice = pd.concat([cc, pd.Series([3 - cc.iloc[0]], index=cc.index[:1])])  # the first cell in the other cluster too
        stacks.cluster_artefacts(clusters, shares, cluster_cells=twice)
    _one_sentence(exc)
    with pytest.raises(InputError, match=r"`cluster_cells` must be a pandas Series .*; a dict was given") as exc:
        stacks.cluster_artefacts(clusters, shares, cluster_cells=cc.to_dict())
    _one_sentence(exc)
    # the record itself is checked the same way when it is what is read
    broken = clusters.copy()
    broken.attrs["cell_cluster"] = cc.where(cc != 2, 9)
    with pytest.raises(InputError, match=r"^`clusters.attrs\['cell_cluster'\]` puts cells in cluster ids"):
        stacks.cluster_artefacts(broken, shares)
