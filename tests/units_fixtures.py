"""Synthetic counts on given units, in the published formats (``[cells]`` input): a district
polygon layer with yearly count columns (as yearbooks and the economic census give them), a
0.01° GeoTIFF with one band per year (as the Gridded Establishment Dataset of Dong et al. 2021
is published) and a park layer.

Everything is made up (seeded): the places are near Wuhan's Optics Valley only so that the
coordinates are plausible.  The layers hold the cases the readers and the statistics must
handle: an island district (no neighbour under contiguity), a multipart district, a park
crossing district edges, one district with an empty geometry and one with a negative count
(recorded rejections), GeoTIFF cells that are nodata in every band (a lake: not units) and
one cell nodata in one band only (a rejection).

``python -m tests.units_fixtures DIR`` writes the committed example (``data/examples/units``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

__all__ = ["DISTRICT_YEARS", "GRID_YEARS", "HOT_DISTRICTS", "write_districts", "write_grid", "write_parks"]

DISTRICT_YEARS = tuple(range(2005, 2016))
GRID_YEARS = (2010, 2011, 2012, 2013, 2014)
#: (column i, row j) of the districts of the synthetic cluster (south-east of the grid)
HOT_DISTRICTS = {(i, j) for i in (3, 4, 5) for j in (0, 1, 2)}
_X0, _Y0, _STEP = 114.30, 30.44, 0.02


def _district_frame(seed: int = 0):
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(seed)
    vx = _X0 + _STEP * np.arange(7)[:, None] + np.zeros((7, 7))
    vy = _Y0 + _STEP * np.arange(7)[None, :] + np.zeros((7, 7))
    inner = np.zeros((7, 7), dtype=bool)
    inner[1:-1, 1:-1] = True
    vx[inner] += rng.uniform(-0.004, 0.004, inner.sum())
    vy[inner] += rng.uniform(-0.004, 0.004, inner.sum())
    rows = []
    for j in range(6):
        for i in range(6):
            ring = [(vx[i, j], vy[i, j]), (vx[i + 1, j], vy[i + 1, j]), (vx[i + 1, j + 1], vy[i + 1, j + 1]),
                    (vx[i, j + 1], vy[i, j + 1])]
            geom = shapely.Polygon(np.round(ring, 6))
            if (i, j) == (0, 5):  # a district with an exclave across the lake: multipart, kept whole
                piece = shapely.box(_X0 - 0.018, _Y0 + 0.105, _X0 - 0.008, _Y0 + 0.115)
                geom = shapely.MultiPolygon([geom, piece])
            lam0 = 2.0 + 0.2 * rng.random()
            counts = {}
            for y in DISTRICT_YEARS:
                lam = lam0 + (4.0 * max(0, y - 2006) if (i, j) in HOT_DISTRICTS else 0.1 * (y - 2005))
                counts[f"optics_{y}"] = int(rng.poisson(lam))
            rows.append({"district_id": f"D{j * 6 + i + 1:02d}", "name": f"District {j * 6 + i + 1}",
                         "valley": "Wuhan", "population": int(rng.integers(20_000, 200_000)), **counts, "geometry": geom})
    rows[10]["name"] = "East Lake <Hi-Tech> & Co"  # a hot district whose name the report and map must escape
    island = shapely.box(_X0 + 0.16, _Y0 + 0.05, _X0 + 0.175, _Y0 + 0.065)  # an island district: no neighbour
    rows.append({"district_id": "D37", "name": "Island district", "valley": "Wuhan", "population": 5_000,
                 **{f"optics_{y}": int(rng.poisson(1.0)) for y in DISTRICT_YEARS}, "geometry": island})
    empty = {**rows[0], "district_id": "D38", "name": "Empty geometry", "geometry": shapely.Polygon()}
    negative = {**rows[1], "district_id": "D39", "name": "Negative count", "optics_2015": -1,
                "geometry": shapely.box(_X0 + 0.20, _Y0, _X0 + 0.21, _Y0 + 0.01)}
    rows += [empty, negative]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def write_districts(path: str | Path, *, seed: int = 0, driver: str | None = None) -> Path:
    """A district layer (36 districts on a jittered grid + an island + 2 rejected rows): yearly
    counts ``optics_2005`` ... ``optics_2015``, ``population``, ``valley``."""
    import pyogrio

    p = Path(path)
    frame = _district_frame(seed)
    if p.suffix.lower() == ".geojson":
        frame["geometry"] = frame.geometry.set_precision(1e-6)
    pyogrio.write_dataframe(frame, p, driver=driver, **({"layer": "districts"} if p.suffix.lower() == ".gpkg" else {}))
    return p


def write_parks(path: str | Path) -> Path:
    """Two parks: one designated in 2009 over the cluster (crossing district edges), one in 2005 on the cold side."""
    import geopandas as gpd
    import pyogrio
    import shapely

    parks = gpd.GeoDataFrame(
        {"name": ["Optics Valley Science Park", "Lakeside Park"], "designated": [2009, 2005],
         "valley": ["Wuhan", "Wuhan"]},
        geometry=[shapely.box(114.371, 30.445, 114.409, 30.489), shapely.box(114.305, 30.535, 114.33, 30.555)],
        crs="EPSG:4326")
    pyogrio.write_dataframe(parks, Path(path))
    return Path(path)


def grid_counts(seed: int = 0) -> tuple[np.ndarray, float]:
    """The GeoTIFF's bands (year, row, col) as float32 with nodata -9999, and the nodata value."""
    rng = np.random.default_rng(seed)
    nodata = -9999.0
    bands = np.empty((len(GRID_YEARS), 12, 12), dtype=np.float32)
    r, c = np.mgrid[0:12, 0:12]
    hot = (r >= 7) & (r <= 10) & (c >= 7) & (c <= 10)
    for b, y in enumerate(GRID_YEARS):
        lam = np.where(hot, 6.0 + 3.0 * (y - 2010), 1.0)
        bands[b] = rng.poisson(lam)
    bands[:, 0:2, 0:2] = nodata  # a lake: nodata in every year, not units
    bands[2, 5, 5] = nodata  # one cell missing in 2012 only: a recorded rejection
    return bands, nodata


def write_grid(path: str | Path, *, seed: int = 0) -> Path:
    """A 12 × 12 GeoTIFF of 0.01° cells (EPSG:4326), one band per year of :data:`GRID_YEARS`."""
    import rasterio
    from rasterio.transform import from_origin

    bands, nodata = grid_counts(seed)
    p = Path(path)
    with rasterio.open(p, "w", driver="GTiff", width=12, height=12, count=len(GRID_YEARS), dtype="float32",
                       crs="EPSG:4326", transform=from_origin(114.30, 30.56, 0.01, 0.01), nodata=nodata,
                       compress="deflate") as dst:
        dst.write(bands)
        for b, y in enumerate(GRID_YEARS, start=1):
            dst.set_band_description(b, str(y))
    return p


def write_example(folder: str | Path) -> list[Path]:
    """The committed example of ``data/examples/units``: districts, grid and parks."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    return [write_districts(out / "districts.geojson"), write_grid(out / "optics_grid.tif"),
            write_parks(out / "parks.geojson")]


if __name__ == "__main__":  # pragma: no cover
    for written in write_example(sys.argv[1] if len(sys.argv) > 1 else "data/examples/units"):
        print(written, written.stat().st_size)
