"""Write the example studies of this folder (synthetic data, a few KB each).

Run from the repository root after changing it (the files are committed; a test runs
``geo check`` on every ``config.toml`` here and ``geo run`` on two):

    python data/examples/make_examples.py

Each folder is one kind of input: ``points/`` (a firm CSV with its own column names, park
polygons), ``osm/`` (an OpenStreetMap extract: firms and parks), ``overture/`` (Overture
Places GeoParquet), ``park_points/`` (parks as points with an approved area),
``catalogue/`` (the development-zone catalogue: a point shapefile and an .xlsx, in GCJ-02).
One synthetic valley, "Wuhan": 60 "optics" firms, 50 of them clustered on the Optics Valley
park and founded 1982–1990 (before the park, designated 1991), among 120 firms of other sectors spread over the valley; a
second park, designated 2010, lies away from the cluster.  Nothing here is real data.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent

CENTRE = (114.40, 30.50)
#: the two parks: name, Chinese name, centre, half side (degrees), designation date, approved area (ha)
PARKS = [
    ("Optics Valley High-Tech Zone", "光谷高新技术开发区", CENTRE, 0.015, "1991年3月", 900),
    ("South Lake Industrial Park", "南湖工业园", (114.46, 30.44), 0.008, "2010年", 250),
]
SECTORS = ("software", "food", "metal")
#: sector -> OSM tags of its firms / Overture category
OSM_TAGS = {"optics": {"craft": "optician"}, "software": {"office": "it"}, "food": {"shop": "bakery"},
            "metal": {"craft": "metal_construction"}}
OVERTURE_CATEGORIES = {"optics": "b2b_electronic_equipment", "software": "software_development", "food": "bakery",
                       "metal": "metal_fabricator"}


def firms(seed: int = 0) -> pd.DataFrame:
    """The valley's 180 firms: name, lon, lat, sector, founding year (WGS84)."""
    rng = np.random.default_rng(seed)
    cx, cy = CENTRE
    k, scattered, others = 60, 10, 120
    x = np.r_[cx + rng.normal(0, 0.006, k - scattered), cx + rng.uniform(-0.08, 0.08, scattered + others)]
    y = np.r_[cy + rng.normal(0, 0.006, k - scattered), cy + rng.uniform(-0.08, 0.08, scattered + others)]
    sector = ["optics"] * k + list(rng.choice(SECTORS, others))
    founded = np.r_[rng.integers(1982, 1991, k - scattered), rng.integers(1985, 2021, scattered + others)]
    return pd.DataFrame({"name": [f"Firm {i:03d}" for i in range(k + others)], "lon": np.round(x, 6),
                         "lat": np.round(y, 6), "sector": sector, "founded": founded})


def firm_csv(path: Path, f: pd.DataFrame) -> None:
    """A firm table as a registry export comes: Chinese column names, a founding date."""
    pd.DataFrame({"企业名称": f["name"], "经度": f["lon"], "纬度": f["lat"], "城市": "Wuhan", "行业": f["sector"],
                  "成立日期": [f"{y}-06-01" for y in f["founded"]]}).to_csv(path, index=False, encoding="utf-8")


def park_polygons(path: Path) -> None:
    import geopandas as gpd
    import shapely

    gpd.GeoDataFrame({"name": [p[0] for p in PARKS], "valley": "Wuhan",
                      "designated": [int(p[4][:4]) for p in PARKS]},
                     geometry=[shapely.box(c[0] - d, c[1] - d, c[0] + d, c[1] + d) for _, _, c, d, _, _ in PARKS],
                     crs=4326).to_file(path, driver="GeoJSON", COORDINATE_PRECISION=6)


def firm_config(*, parks: str, firms_keys: str = "", target: str = "optics", extra: str = "") -> str:
    return f"""[run]
title = "Example: {{kind}} (synthetic data)"
synthetic = true

[firms]
{firms_keys or 'path = "firms.csv"  # columns found by name: 经度/纬度, 企业名称; the others named here'}
{'' if firms_keys else 'valley_column = "城市"' + chr(10) + 'sector_column = "行业"' + chr(10) + 'founded_column = "成立日期"'}

[parks]
{parks}
{extra}
[analysis]
target_sector = "{target}"
permutations = 99
kd_simulations = 0
ripley_simulations = 0
point_clusters = "none"
compare = false
scales = []

[maps]
basemap = "none"

[[valleys]]
name = "Wuhan"
bbox = [114.30, 30.40, 114.50, 30.60]
"""


def write_points(folder: Path, f: pd.DataFrame) -> None:
    folder.mkdir(exist_ok=True)
    firm_csv(folder / "firms.csv", f)
    park_polygons(folder / "parks.geojson")
    (folder / "config.toml").write_text(firm_config(parks='path = "parks.geojson"').replace("{kind}", "firm table + park polygons"),
                                        encoding="utf-8")


def write_osm(folder: Path, f: pd.DataFrame) -> None:
    import osmium

    folder.mkdir(exist_ok=True)
    path = folder / "wuhan.osm.pbf"
    path.unlink(missing_ok=True)
    w = osmium.SimpleWriter(str(path))
    nid = 1
    try:
        for r in f.itertuples():
            w.add_node(osmium.osm.mutable.Node(id=nid, location=(r.lon, r.lat),
                                               tags={**OSM_TAGS[r.sector], "name": r.name, "start_date": str(r.founded)}))
            nid += 1
        corners = {}
        for i, (name, _, c, d, date, _) in enumerate(PARKS):
            ring = [(c[0] - d, c[1] - d), (c[0] + d, c[1] - d), (c[0] + d, c[1] + d), (c[0] - d, c[1] + d)]
            ids = []
            for x, y in ring:
                w.add_node(osmium.osm.mutable.Node(id=nid, location=(x, y), tags={}))
                ids.append(nid)
                nid += 1
            corners[i] = ids + ids[:1]
        for i, (name, _, _, _, date, _) in enumerate(PARKS):
            w.add_way(osmium.osm.mutable.Way(id=100 + i, nodes=corners[i],
                                             tags={"landuse": "industrial", "name": name, "start_date": date[:4]}))
    finally:
        w.close()
    sectors = "\n".join(f'"{k}={v}" = "{s}"' for s, t in OSM_TAGS.items() for k, v in t.items())
    (folder / "config.toml").write_text(
        firm_config(parks='source = "osm"\npath = "wuhan.osm.pbf"  # its named industrial areas and high-tech zones',
                    firms_keys='source = "osm"\npath = "wuhan.osm.pbf"',
                    extra=f"\n[firms.osm_sectors]  # OSM tag -> sector (replaces geo.io.osm.DEFAULT_SECTORS)\n{sectors}\n")
        .replace("{kind}", "OpenStreetMap extract"), encoding="utf-8")


def write_overture(folder: Path, f: pd.DataFrame) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import shapely

    folder.mkdir(exist_ok=True)
    geoms = shapely.points(f["lon"], f["lat"])
    bbox_type = pa.struct([(k, pa.float32()) for k in ("xmin", "xmax", "ymin", "ymax")])
    table = pa.table({
        "id": pa.array([f"08f{i:013x}" for i in range(len(f))], pa.string()),
        "geometry": pa.array(shapely.to_wkb(geoms).tolist(), pa.binary()),
        "bbox": pa.array([{"xmin": g.x, "xmax": g.x, "ymin": g.y, "ymax": g.y} for g in geoms], bbox_type),
        "names": pa.array([{"primary": n, "common": None} for n in f["name"]],
                          pa.struct([("primary", pa.string()), ("common", pa.map_(pa.string(), pa.string()))])),
        "categories": pa.array([{"primary": OVERTURE_CATEGORIES[s], "alternate": None} for s in f["sector"]],
                               pa.struct([("primary", pa.string()), ("alternate", pa.list_(pa.string()))])),
        "confidence": pa.array([0.3 if i % 20 == 0 else 0.9 for i in range(len(f))], pa.float64()),
    })
    meta = {"version": "1.1.0", "primary_column": "geometry",
            "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"]}}}
    pq.write_table(table.replace_schema_metadata({b"geo": json.dumps(meta).encode()}), folder / "places.parquet",
                   compression="zstd")
    park_polygons(folder / "parks.geojson")
    cats = "\n".join(f'{c} = "{s}"' for s, c in OVERTURE_CATEGORIES.items())
    (folder / "config.toml").write_text(
        firm_config(parks='path = "parks.geojson"',
                    firms_keys='source = "overture"\npath = "places.parquet"\nmin_confidence = 0.5  # every 20th place is below: rejected',
                    extra=f"\n[firms.overture_sectors]  # Overture category -> sector\n{cats}\n")
        .replace("{kind}", "Overture Places"), encoding="utf-8")


def write_park_points(folder: Path, f: pd.DataFrame) -> None:
    folder.mkdir(exist_ok=True)
    firm_csv(folder / "firms.csv", f)
    pd.DataFrame({"名称": [p[1] for p in PARKS], "城市": "Wuhan", "经度": [p[2][0] for p in PARKS],
                  "纬度": [p[2][1] for p in PARKS], "批准时间": [p[4] for p in PARKS],
                  "核准面积": [p[5] / 100 for p in PARKS], "级别": ["国家级", "省级"]}) \
        .to_csv(folder / "parks.csv", index=False, encoding="utf-8")
    (folder / "config.toml").write_text(
        firm_config(parks='path = "parks.csv"  # points (经度/纬度) with an approved area (核准面积, km²): discs of that area')
        .replace("{kind}", "parks as points"), encoding="utf-8")


def write_catalogue(folder: Path, f: pd.DataFrame) -> None:
    """The catalogue's layout: zones.shp (代码, 名称; points in GCJ-02 as digitised on a Chinese web map)
    and zones.xlsx (a title row, Chinese headers, hectares), with one row without a point."""
    import geopandas as gpd
    import openpyxl
    import shapely

    from geo import crs as gcrs

    folder.mkdir(exist_ok=True)
    firm_csv(folder / "firms.csv", f)
    codes = ["G421001", "S421017"]
    x, y = gcrs.wgs84_to_gcj02(np.array([p[2][0] for p in PARKS]), np.array([p[2][1] for p in PARKS]))
    for old in folder.glob("zones.*"):
        if old.suffix != ".xlsx":
            old.unlink()
    gpd.GeoDataFrame({"代码": codes, "名称": [p[1] for p in PARKS]}, geometry=shapely.points(np.round(x, 6), np.round(y, 6)),
                     crs=4326).to_file(folder / "zones.shp", engine="pyogrio", encoding="UTF-8")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["开发区审核公告目录（示例：合成数据）"])
    ws.append(["序号", "代码", "开发区名称", "批准时间", "核准面积（公顷）", "级别", "省份", "所在地"])
    ws.append([1, codes[0], PARKS[0][1], PARKS[0][4], PARKS[0][5], "国家级", "湖北", "武汉市"])
    ws.append([2, codes[1], PARKS[1][1], datetime.datetime(2010, 6, 18), PARKS[1][5], "省级", "湖北", "武汉市"])
    ws.append([3, "S421099", "无坐标示例开发区", "2006年", 120, "省级", "湖北", "武汉市"])  # no point: a recorded reject
    wb.properties.creator = "geo examples"
    wb.properties.created = wb.properties.modified = datetime.datetime(2024, 1, 1)
    wb.save(folder / "zones.xlsx")
    (folder / "config.toml").write_text(
        firm_config(parks='source = "catalogue"\npath = "zones.shp"\nattributes = "zones.xlsx"  # joined on 代码\n'
                          'crs = "gcj02"  # the points were digitised on a Chinese web map')
        .replace("{kind}", "development-zone catalogue"), encoding="utf-8")


#: the folders this script writes (data/examples/units/ is written by hand)
KINDS = {"points": write_points, "osm": write_osm, "overture": write_overture, "park_points": write_park_points,
         "catalogue": write_catalogue}


def main(out: Path = HERE) -> None:
    """Write every example folder into ``out`` (this folder by default)."""
    f = firms()
    for kind, write in KINDS.items():
        write(out / kind, f)


if __name__ == "__main__":
    main()
