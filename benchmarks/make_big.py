"""Seeded generator of a large synthetic firm registry for the scale benchmarks.

Run by hand:  .venv/bin/python benchmarks/make_big.py --n 1000000 [--out /tmp/geo-big] [--seed 0]

Writes, into ``OUT/<n>/`` (default ``/tmp/geo-big/<n>/``, never into the repository):

* ``firms.csv``      -- UTF-8 CSV, 14 columns like the demo table (``firm_id, name, lon, lat,
  coord_sys, valley, industry_code, sector, subsector, founded, employees, rd, ownership,
  anchor``); about 60 % of the rows are stored in GCJ-02 (``coord_sys = gcj02``), 35 % in
  WGS84 and 5 % leave ``coord_sys`` empty (the config's default, WGS84);
* ``firms.parquet``  -- the same rows as typed Parquet (coordinates float64, counts int64);
* ``parks.gpkg``     -- three park polygons in WGS84 with designation years;
* ``config.toml`` / ``config_parquet.toml`` -- ``geo run`` configurations for the two tables
  (one valley, target sector ``optics``, 999 permutations);
* with ``--formats parts``: ``firms_parts/part-00000.parquet`` ... -- the rows as partitioned
  Parquet (one file per million rows), and ``config_dask.toml`` (the dask engine on that
  folder).

The firms are one valley (a 40 km x 40 km window around Wuhan's East Lake): an urban
background (a Gaussian city centre plus a uniform floor) and Thomas clusters of sectors, one
optics cluster inside the first park, one optics cluster outside every park and a biotech
cluster in the second park.  A small share of the rows (``dirt``, default 0.3 %) is dirtied
the way real registries are: missing, non-numeric, (0, 0), out-of-range and swapped
coordinates, exact duplicate rows, an empty id, an unknown ``coord_sys``, stacked geocodes
(many firms on one point), rows with more fields than the header and blank lines (the
last two only in the CSV).  The counts of each kind are returned and written to
``truth.json``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["make_big", "VALLEY", "PARKS", "GENERATOR_VERSION"]

#: bump when the generated files change on purpose (files of another version are rewritten)
GENERATOR_VERSION = "2"
_CHUNK_ROWS = 1_000_000  # rows generated and written at a time (bounded memory for 5M+ firms)
_COLUMNS = ["firm_id", "name", "lon", "lat", "coord_sys", "valley", "industry_code", "sector", "subsector",
            "founded", "employees", "rd", "ownership", "anchor"]

#: the valley's centre (WGS84) and half-width of the window in metres
VALLEY = {"name": "Wuhan", "lon0": 114.40, "lat0": 30.50, "half_m": 20_000.0}

#: park polygons as (name, designated, ring of (x, y) metres in the valley's local frame)
PARKS = [
    ("East Lake High-Tech Zone", 1991, [(-2000, -5000), (7000, -5000), (8000, 1000), (3000, 4000), (-3000, 1500)]),
    ("Future Science City", 2010, [(9000, -9000), (15000, -9000), (15000, -3000), (9000, -3000)]),
    ("Hankou Software Park", 2000, [(-16000, 9000), (-11000, 9000), (-11000, 14000), (-16000, 14000)]),
]

_SECTORS = np.array(["optics", "biotech", "software", "manufacturing", "metal_products", "food",
                     "business_services", "retail"])
_SECTOR_P = np.array([0.04, 0.05, 0.16, 0.15, 0.12, 0.10, 0.20, 0.18])
_CODE_BASE = {"optics": 3976, "biotech": 2760, "software": 6510, "manufacturing": 3420, "metal_products": 3340,
              "food": 1411, "business_services": 7231, "retail": 5211}
_NAME_A = np.array(list("华光科中瑞星海东新天金长恒信博达宏远通泰"), dtype=object)
_NAME_B = np.array(list("兴创源盛辰宇锐明科联晶智泽安嘉永"), dtype=object)
_NAME_SECTOR = {"optics": "光电", "biotech": "生物", "software": "软件", "manufacturing": "制造", "metal_products": "金属制品",
                "food": "食品", "business_services": "商务咨询", "retail": "商贸"}


def _to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local metres (equirectangular about the valley centre) to WGS84 degrees."""
    lat0 = VALLEY["lat0"]
    return VALLEY["lon0"] + x / (111_320.0 * math.cos(math.radians(lat0))), lat0 + y / 110_574.0


def _thomas(rng: np.random.Generator, n: int, centre: tuple[float, float], sigma_parent: float,
            sigma_child: float, n_parents: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` offspring of a Thomas process: parents N(centre, sigma_parent), children N(parent, sigma_child)."""
    px = centre[0] + rng.normal(0, sigma_parent, n_parents)
    py = centre[1] + rng.normal(0, sigma_parent, n_parents)
    which = rng.integers(0, n_parents, n)
    return px[which] + rng.normal(0, sigma_child, n), py[which] + rng.normal(0, sigma_child, n)


def _positions(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Firm positions (local metres) and sectors: background plus sector clusters."""
    half = VALLEY["half_m"]
    sector = rng.choice(_SECTORS, size=n, p=_SECTOR_P).astype(object)
    x = np.empty(n)
    y = np.empty(n)
    # component of each firm: 0 uniform floor, 1 city centre, 2 optics in park, 3 optics outside, 4 biotech in park 2
    comp = rng.choice(5, size=n, p=[0.30, 0.45, 0.12, 0.06, 0.07])
    sector[comp == 2] = "optics"
    sector[comp == 3] = "optics"
    sector[comp == 4] = "biotech"
    for k, (spec) in enumerate([
        None,
        ("gauss", (-6000.0, 3000.0), 6000.0),
        ("thomas", (2500.0, -1500.0), 1800.0, 300.0, 60),
        ("thomas", (-9000.0, -11000.0), 1200.0, 250.0, 25),
        ("thomas", (12000.0, -6000.0), 1000.0, 250.0, 20),
    ]):
        m = comp == k
        c = int(m.sum())
        if spec is None:
            x[m] = rng.uniform(-half, half, c)
            y[m] = rng.uniform(-half, half, c)
        elif spec[0] == "gauss":
            x[m] = spec[1][0] + rng.normal(0, spec[2], c)
            y[m] = spec[1][1] + rng.normal(0, spec[2], c)
        else:
            x[m], y[m] = _thomas(rng, c, spec[1], spec[2], spec[3], spec[4])
    # keep the window: points that fall out are redrawn uniformly
    out = (np.abs(x) > half) | (np.abs(y) > half)
    x[out] = rng.uniform(-half, half, int(out.sum()))
    y[out] = rng.uniform(-half, half, int(out.sum()))
    return x, y, sector


def _founded(rng: np.random.Generator, sector: np.ndarray, comp_park: np.ndarray) -> np.ndarray:
    """Founding years 1980-2024 with growth; the optics cluster in the park mostly after 1991."""
    n = sector.size
    years = np.arange(1980, 2025)
    w = np.exp(0.06 * (years - 1980))
    founded = rng.choice(years, size=n, p=w / w.sum())
    late = years >= 1992
    wl = w * late
    k = int(comp_park.sum())
    founded[comp_park] = rng.choice(years, size=k, p=wl / wl.sum())
    return founded


def _fmt(values: np.ndarray) -> np.ndarray:
    """Coordinates as text with 6 decimals (object array)."""
    return pd.Series(values).map("{:.6f}".format).to_numpy(dtype=object)


def _table(n: int, rng: np.random.Generator, first_id: int = 1) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The clean table (all text) plus the true WGS84 coordinates; ids start at ``first_id``."""
    from geo.crs import wgs84_to_gcj02

    x, y, sector = _positions(rng, n)
    lon, lat = _to_lonlat(x, y)
    systems = rng.choice(np.array(["gcj02", "wgs84", ""], dtype=object), size=n, p=[0.60, 0.35, 0.05])
    gx, gy = wgs84_to_gcj02(lon, lat)
    is_gcj = systems == "gcj02"
    lon_in = np.where(is_gcj, gx, lon)
    lat_in = np.where(is_gcj, gy, lat)
    in_park1 = (sector == "optics") & (np.hypot(x - 2500, y + 1500) < 5000)
    founded = _founded(rng, sector, in_park1)
    codes = np.array([_CODE_BASE[s] for s in _SECTORS])
    sec_idx = np.searchsorted(_SECTORS, sector.astype(str), sorter=np.argsort(_SECTORS))
    sec_idx = np.argsort(_SECTORS)[sec_idx]
    code = codes[sec_idx] + rng.integers(0, 4, n)
    # a few codes with a leading zero (e.g. agriculture 0xxx) so that codes stay text
    code_txt = pd.Series(code).astype(str).to_numpy(dtype=object)
    zero = rng.random(n) < 0.01
    code_txt[zero] = "0" + pd.Series(rng.integers(100, 999, int(zero.sum()))).astype(str).to_numpy(dtype=object)
    sub = sector + np.where(rng.random(n) < 0.5, "", "_other")
    name_sector = np.array([_NAME_SECTOR[s] for s in _SECTORS], dtype=object)[sec_idx]
    name = "武汉" + _NAME_A[rng.integers(0, _NAME_A.size, n)] + _NAME_B[rng.integers(0, _NAME_B.size, n)] + name_sector + "有限公司"
    english = rng.random(n) < 0.05  # some English names with a comma, so the CSV needs quotes
    name[english] = "Wuhan " + pd.Series(np.flatnonzero(english) + first_id).astype(str).to_numpy(dtype=object) + " Photonics Co., Ltd."
    employees = np.maximum(1, np.round(rng.lognormal(2.5, 1.2, n))).astype(np.int64)
    table = pd.DataFrame({
        "firm_id": ("WH" + pd.Series(np.arange(first_id, first_id + n)).astype(str).str.zfill(8)).to_numpy(dtype=object),
        "name": name,
        "lon": _fmt(lon_in),
        "lat": _fmt(lat_in),
        "coord_sys": systems,
        "valley": np.full(n, VALLEY["name"], dtype=object),
        "industry_code": code_txt,
        "sector": sector,
        "subsector": sub,
        "founded": pd.Series(founded).astype(str).to_numpy(dtype=object),
        "employees": pd.Series(employees).astype(str).to_numpy(dtype=object),
        "rd": np.where(rng.random(n) < 0.2, "1", "0").astype(object),
        "ownership": rng.choice(np.array(["domestic", "foreign", "state"], dtype=object), size=n, p=[0.8, 0.12, 0.08]),
        "anchor": np.where(rng.random(n) < 0.001, "1", "0").astype(object),
    })
    return table, lon, lat


def _dirty(table: pd.DataFrame, rng: np.random.Generator, share: float) -> dict[str, Any]:
    """Dirty ``share`` of the rows in place, value by value; returns the counts of each kind."""
    n = len(table)
    k = max(1, int(round(n * share / 10)))  # rows per kind (ten kinds)
    pool = rng.permutation(np.arange(1, n))  # row 0 stays clean
    picks = {}
    start = 0
    for kind in ("missing", "not_a_number", "zero_zero", "out_of_range", "swapped", "duplicate", "missing_id",
                 "unknown_coord_sys", "stacked"):
        picks[kind] = np.sort(pool[start:start + k])
        start += k
    lon = table["lon"].to_numpy(dtype=object).copy()
    lat = table["lat"].to_numpy(dtype=object).copy()
    sysc = table["coord_sys"].to_numpy(dtype=object).copy()
    fid = table["firm_id"].to_numpy(dtype=object).copy()
    half = picks["missing"].size // 2
    lon[picks["missing"][:half]] = ""
    lat[picks["missing"][half:]] = ""
    lon[picks["not_a_number"]] = "n/a"
    lon[picks["zero_zero"]] = "0"
    lat[picks["zero_zero"]] = "0"
    lat[picks["out_of_range"]] = "300.000000"
    s = picks["swapped"]
    lon[s], lat[s] = lat[s].copy(), lon[s].copy()
    fid[picks["missing_id"]] = ""
    sysc[picks["unknown_coord_sys"]] = "mercator"
    # stacked: groups of 15 firms on one district-centre point (WGS84)
    st = picks["stacked"]
    sites = max(1, st.size // 15)
    site_lon, site_lat = _to_lonlat(rng.uniform(-15000, 15000, sites), rng.uniform(-15000, 15000, sites))
    which = np.arange(st.size) % sites
    lon[st] = _fmt(site_lon)[which]
    lat[st] = _fmt(site_lat)[which]
    sysc[st] = "wgs84"
    table["lon"] = lon
    table["lat"] = lat
    table["coord_sys"] = sysc
    table["firm_id"] = fid
    # exact duplicates: copy an earlier (clean) row over the picked row
    d = picks["duplicate"]
    src = np.maximum(0, d - 1 - rng.integers(0, 1000, d.size))
    dirty_rows = np.concatenate([picks[k] for k in picks if k != "duplicate"])
    src = np.where(np.isin(src, dirty_rows), 0, src)
    table.iloc[d] = table.iloc[src].to_numpy()
    return {kind: int(v.size) for kind, v in picks.items()}


def _csv_bytes(table: pd.DataFrame, rng: np.random.Generator, share: float, header: bool) -> tuple[bytes, dict[str, int]]:
    """CSV text of one chunk with rows with extra fields and blank lines inserted; their counts."""
    text = table.to_csv(index=False, header=header, lineterminator="\n")  # quotes only where needed, like Excel
    lines = text.encode("utf-8").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    first = 1 if header else 0
    n = len(lines) - first
    k = max(1, int(round(n * share / 10)))
    where = np.sort(rng.choice(np.arange(first + 1, first + n), size=min(2 * k, n - 1), replace=False))
    malformed_at = set(where[:k].tolist())
    blank_at = set(where[k:].tolist())
    out = lines[:first]
    for i in range(first, first + n):
        if i in blank_at:
            out.append(b"")
        line = lines[i]
        if i in malformed_at:
            line = line + b",extra,fields"
        out.append(line)
    return b"\n".join(out) + b"\n", {"malformed_row": len(malformed_at), "blank_lines": len(blank_at)}


def _typed(table: pd.DataFrame):
    """The chunk as a typed pyarrow table (coordinates float64, counts int64)."""
    import pyarrow as pa

    typed = table.copy()
    for c in ("lon", "lat"):
        typed[c] = pd.to_numeric(typed[c], errors="coerce")
    for c in ("founded", "employees", "rd", "anchor"):
        typed[c] = pd.to_numeric(typed[c]).astype("int64")
    for c in typed.columns:
        if typed[c].dtype == object:
            typed[c] = typed[c].astype(str)
    return pa.Table.from_pandas(typed, preserve_index=False)


def _write_parks(path: Path) -> None:
    import geopandas as gpd
    import shapely

    geoms = []
    for _, _, ring in PARKS:
        xy = np.asarray(ring, dtype=float)
        lon, lat = _to_lonlat(xy[:, 0], xy[:, 1])
        geoms.append(shapely.Polygon(np.column_stack([lon, lat])))
    gdf = gpd.GeoDataFrame({"name": [p[0] for p in PARKS], "valley": VALLEY["name"], "designated": [p[1] for p in PARKS]},
                           geometry=geoms, crs="EPSG:4326")
    if path.exists():
        path.unlink()
    gdf.to_file(path, driver="GPKG")


def _write_config(path: Path, firms: str, permutations: int, engine: str = "pandas") -> None:
    path.write_text(
        "# geo run configuration for the synthetic scale benchmark (benchmarks/make_big.py)\n"
        f"[run]\ntitle = \"Scale benchmark (synthetic)\"\nseed = 0\nsynthetic = true\nengine = \"{engine}\"\n\n"
        f"[firms]\npath = \"{firms}\"\ncrs = \"wgs84\"\nid = \"firm_id\"\nvalley_column = \"valley\"\n"
        "sector_column = \"sector\"\nsubsector_column = \"subsector\"\nfounded_column = \"founded\"\n\n"
        "[parks]\npath = \"parks.gpkg\"\nname = \"name\"\nvalley = \"valley\"\ndesignated = \"designated\"\n\n"
        f"[analysis]\ntarget_sector = \"optics\"\npermutations = {permutations}\n\n"
        f"[[valleys]]\nname = \"{VALLEY['name']}\"\n",
        encoding="utf-8",
    )


def _existing(folder: Path, n: int, seed: int, dirt: float, formats, permutations: int) -> dict[str, Path] | None:
    """The paths of an earlier identical run in ``folder``, or None."""
    try:
        truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if [truth.get(k) for k in ("n", "seed", "dirt", "permutations", "generator_version")] != [
            n, seed, dirt, permutations, GENERATOR_VERSION]:
        return None
    if not set(formats) <= set(truth.get("formats", [])):
        return None
    paths = {"parks": folder / "parks.gpkg", "truth": folder / "truth.json"}
    if "csv" in formats:
        paths.update(csv=folder / "firms.csv", config=folder / "config.toml")
    if "parquet" in formats:
        paths.update(parquet=folder / "firms.parquet", config_parquet=folder / "config_parquet.toml")
    if "parts" in formats:
        paths.update(parts=folder / "firms_parts", config_dask=folder / "config_dask.toml")
    return paths if all(p.exists() for p in paths.values()) else None


def make_big(n: int, out_dir: str | Path = "/tmp/geo-big", *, seed: int = 0, dirt: float = 0.003,
             formats: tuple[str, ...] = ("csv", "parquet"), permutations: int = 999,
             overwrite: bool = False) -> dict[str, Path]:
    """Write ``n`` synthetic firms of one valley (plus parks and configs) into ``out_dir/<n>/``.

    Parameters
    ----------
    n : int
        Number of data rows (before the inserted blank lines).
    out_dir : str or path-like, default "/tmp/geo-big"
        Parent folder; the files go to ``out_dir/<n>/``.
    seed : int, default 0
        Seed of the generator (same seed, same files).
    dirt : float, default 0.003
        Share of dirty rows, spread evenly over the kinds listed in the module docstring.
    formats : tuple of str, default ("csv", "parquet")
        Which firm tables to write.
    permutations : int, default 999
        ``[analysis] permutations`` in the written configs.
    overwrite : bool, default False
        Write the files again even when ``out_dir/<n>/`` already holds them for the same
        ``n``, ``seed``, ``dirt`` and ``permutations`` (they are reused otherwise).

    Returns
    -------
    dict
        Paths: ``csv``, ``parquet`` (as requested), ``parks``, ``config``, ``config_parquet``, ``truth``.
    """
    folder = Path(out_dir) / str(n)
    folder.mkdir(parents=True, exist_ok=True)
    paths = _existing(folder, n, seed, dirt, formats, permutations) if not overwrite else None
    if paths is not None:
        return paths
    import pyarrow.parquet as pq

    counts: dict[str, int] = {}
    paths: dict[str, Path] = {}
    csv_file = open(folder / "firms.csv", "wb") if "csv" in formats else None  # noqa: SIM115
    writer = None
    try:
        for k, first in enumerate(range(0, n, _CHUNK_ROWS)):
            rng = np.random.default_rng([seed, k])
            table, _, _ = _table(min(_CHUNK_ROWS, n - first), rng, first_id=first + 1)
            for key, v in _dirty(table, rng, dirt).items():
                counts[key] = counts.get(key, 0) + v
            if csv_file is not None:
                data, extra = _csv_bytes(table, rng, dirt, header=k == 0)
                csv_file.write(data)
                for key, v in extra.items():
                    counts[key] = counts.get(key, 0) + v
            if "parquet" in formats:
                typed = _typed(table)
                if writer is None:
                    writer = pq.ParquetWriter(folder / "firms.parquet", typed.schema)
                writer.write_table(typed.cast(writer.schema))
            if "parts" in formats:
                (folder / "firms_parts").mkdir(exist_ok=True)
                pq.write_table(_typed(table), folder / "firms_parts" / f"part-{k:05d}.parquet")
            del table
    finally:
        if csv_file is not None:
            csv_file.close()
        if writer is not None:
            writer.close()
    if "csv" in formats:
        paths["csv"] = folder / "firms.csv"
        _write_config(folder / "config.toml", "firms.csv", permutations)
        paths["config"] = folder / "config.toml"
    if "parquet" in formats:
        paths["parquet"] = folder / "firms.parquet"
        _write_config(folder / "config_parquet.toml", "firms.parquet", permutations)
        paths["config_parquet"] = folder / "config_parquet.toml"
    if "parts" in formats:
        paths["parts"] = folder / "firms_parts"
        _write_config(folder / "config_dask.toml", "firms_parts", permutations, engine="dask")
        paths["config_dask"] = folder / "config_dask.toml"
    _write_parks(folder / "parks.gpkg")
    paths["parks"] = folder / "parks.gpkg"
    truth = {"n": n, "seed": seed, "dirt": dirt, "permutations": permutations, "formats": list(formats),
             "generator_version": GENERATOR_VERSION, "counts": counts, "columns": _COLUMNS}
    (folder / "truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    paths["truth"] = folder / "truth.json"
    return paths


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--out", default="/tmp/geo-big")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dirt", type=float, default=0.003)
    ap.add_argument("--formats", default="csv,parquet")
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    paths = make_big(args.n, args.out, seed=args.seed, dirt=args.dirt, formats=tuple(args.formats.split(",")),
                     overwrite=args.overwrite)
    for k, v in paths.items():
        print(f"{k}: {v}")


if __name__ == "__main__":
    main()
