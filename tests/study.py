"""A small study of one's own, written as a new user would: a firm CSV with any column names,
park polygons, a config.  Tests change one thing (a slip) and run ``geo check`` / ``geo run``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

#: the repository (README.md is read by a test)
ROOT = Path(__file__).resolve().parents[1]

#: the valleys of the default study: centre (lon, lat) of the cluster and its park
CENTRES = {"Wuhan": (114.40, 30.50), "Changchun": (125.30, 43.85)}
#: canonical field -> column name in the default study's CSV
COLUMNS = {"name": "company", "lon": "lng", "lat": "lat", "valley": "city", "sector": "industry", "founded": "year_founded"}


@dataclass
class Study:
    """Files of a generated study; ``write_config`` writes the TOML with any changes."""

    folder: Path
    firms: Path
    parks: Path
    columns: dict
    valleys: list[str]
    target: str
    frame: pd.DataFrame
    config_lines: dict = field(default_factory=dict)

    def write_config(self, *, firms: dict | None = None, analysis: dict | None = None, parks: dict | None = None,
                     valleys: list[dict] | None = None, name: str = "study.toml") -> Path:
        """The study's config, with ``firms``/``analysis``/``parks`` keys replaced (None drops a key)."""
        fk = {"path": self.firms.name, "valley_column": self.columns["valley"], "sector_column": self.columns["sector"],
              "founded_column": self.columns["founded"]}
        fk.update(firms or {})
        ak = {"target_sector": self.target, "permutations": 99, "kd_simulations": 0, "ripley_simulations": 0,
              "point_clusters": "none", "compare": False}
        ak.update(analysis or {})
        pk = {"path": self.parks.name}
        pk.update(parks or {})
        vs = valleys if valleys is not None else [{"name": v} for v in self.valleys]

        def table(title: str, d: dict) -> list[str]:
            return [title] + [f"{k} = {_toml(v)}" for k, v in d.items() if v is not None]

        lines = table("[firms]", fk) + table("[parks]", pk) + table("[analysis]", ak)
        for v in vs:
            lines += table("[[valleys]]", v)
        path = self.folder / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def make_study(folder: Path, *, n: int = 500, valleys: dict[str, str] | None = None, target: str = "optics",
               other: tuple[str, ...] = ("software", "food", "metal"), columns: dict | None = None,
               park_names: dict[str, str] | None = None, seed: int = 0) -> Study:
    """Write ``firms.csv`` (``n`` firms per valley: a third of the target sector clustered on its
    park, founded 1985–2020, the clustered ones earlier) and ``parks.gpkg`` (one 3 km square
    park per valley, designated 2000) into ``folder``.

    ``valleys`` maps the default valley names (Wuhan, Changchun) to the names written (e.g. 武汉).
    """
    import geopandas as gpd
    import shapely

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = valleys or {k: k for k in CENTRES}
    cols = dict(COLUMNS, **(columns or {}))
    rows = []
    parks = []
    for i, (key, label) in enumerate(names.items()):
        cx, cy = CENTRES[key]
        k = n // 3
        # target firms: a tight cluster on the park (founded early) plus a few scattered ones
        tx = np.r_[cx + rng.normal(0, 0.006, k - 20), cx + rng.uniform(-0.08, 0.08, 20)]
        ty = np.r_[cy + rng.normal(0, 0.006, k - 20), cy + rng.uniform(-0.08, 0.08, 20)]
        ox = cx + rng.uniform(-0.08, 0.08, n - k)
        oy = cy + rng.uniform(-0.08, 0.08, n - k)
        sectors = [target] * k + list(rng.choice(list(other), n - k))
        founded = np.r_[rng.integers(1985, 1998, k), rng.integers(1985, 2021, n - k)]
        for j in range(n):
            x, y = (tx[j], ty[j]) if j < k else (ox[j - k], oy[j - k])
            rows.append({cols["name"]: f"{label} firm {j}", cols["lon"]: round(float(x), 6), cols["lat"]: round(float(y), 6),
                         cols["valley"]: label, cols["sector"]: sectors[j], cols["founded"]: int(founded[j])})
        d = 0.015
        pname = (park_names or {}).get(key, f"{key} High-Tech Park")
        parks.append({"name": pname, "valley": label, "designated": 2000,
                      "geometry": shapely.box(cx - d, cy - d, cx + d, cy + d)})
    frame = pd.DataFrame(rows)
    firms = folder / "firms.csv"
    frame.to_csv(firms, index=False)
    ppath = folder / "parks.gpkg"
    gpd.GeoDataFrame(parks, crs="EPSG:4326").to_file(ppath)
    return Study(folder=folder, firms=firms, parks=ppath, columns=cols, valleys=list(names.values()), target=target,
                 frame=frame)


def make_registry(folder: Path, *, n: int = 3000, dates: str = "year", stack: int = 300, stack_at: str = "cluster",
                  seed: int = 1) -> dict:
    """A registry-like table as public enterprise samples come: ``latitude``, ``longitude``,
    ``registration_date`` and ``industry``, no id and no name column.

    A third of the firms are "optics", clustered on "Optics Park" (designated 2005) and
    registered early.  A geocoder's fallback to a district centre puts ``stack`` optics firms,
    registered 2012–2014, within 0.5 m of one point (six distinct coordinates: a jittered stack):
    ``stack_at="cluster"`` inside the densest part of the cluster (its cell is then a hot cell
    made of the stack), ``"district"`` at the centre of "District Park" (designated 2005), away
    from any real cluster.  ``dates``: "year" (a year-only
    export, so the stack holds exact duplicate rows), "iso" (1999-03-11), "dmy"
    ("11/03/1999 00:00:00", day first, decided by days over 12), "chinese" (1999年3月11日),
    "compact" (19990311) or "excel" (serial numbers).  Returns the paths and the truth.
    """
    import geopandas as gpd
    import shapely

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cx, cy = CENTRES["Wuhan"]
    k = n // 3
    lon = np.r_[cx + rng.normal(0, 0.008, k), cx + rng.uniform(-0.1, 0.1, n - k)]
    lat = np.r_[cy + rng.normal(0, 0.008, k), cy + rng.uniform(-0.1, 0.1, n - k)]
    industry = np.r_[np.full(k, "optics"), rng.choice(["software", "food", "metal", "services"], n - k)].astype(object)
    day = pd.to_datetime("1985-01-01") + pd.to_timedelta(rng.integers(0, 35 * 365, n), unit="D")
    day = day.where(np.arange(n) >= k, pd.to_datetime("1985-01-01") + pd.to_timedelta(rng.integers(0, 18 * 365, n), unit="D"))
    # the fallback stack: `stack` optics firms at a district centre, jittered by decimetres over 6 coordinates
    sx, sy = (cx + 0.003, cy - 0.002) if stack_at == "cluster" else (cx + 0.07, cy - 0.06)
    jit = rng.integers(0, 6, stack)
    lon_s = sx + (jit - 2.5) * 1e-6
    lat_s = sy + (jit % 3 - 1) * 1e-6
    lon, lat = np.r_[lon, lon_s], np.r_[lat, lat_s]
    industry = np.r_[industry, np.full(stack, "optics", dtype=object)]
    day = day.append(pd.to_datetime("2012-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365, stack), unit="D"))
    if dates == "year":
        reg = day.year.astype(str)
    elif dates == "iso":
        reg = day.strftime("%Y-%m-%d")
    elif dates == "dmy":
        reg = day.strftime("%d/%m/%Y 00:00:00")
    elif dates == "chinese":
        reg = [f"{d.year}年{d.month}月{d.day}日" for d in day]
    elif dates == "compact":
        reg = day.strftime("%Y%m%d")
    elif dates == "excel":
        reg = ((day - pd.Timestamp("1899-12-30")).days).astype(str)
    else:  # pragma: no cover - a test's typo
        raise ValueError(dates)
    frame = pd.DataFrame({"latitude": np.round(lat, 7), "longitude": np.round(lon, 7), "registration_date": list(reg),
                          "industry": industry})
    path = folder / f"registry_{dates}.csv"
    frame.to_csv(path, index=False)
    d, e = 0.02, 0.01
    parks = folder / "registry_parks.gpkg"
    gpd.GeoDataFrame({"name": ["Optics Park", "District Park"], "designated": [2005, 2005]},
                     geometry=[shapely.box(cx - d, cy - d, cx + d, cy + d), shapely.box(sx - e, sy - e, sx + e, sy + e)],
                     crs="EPSG:4326").to_file(parks)
    config = folder / f"registry_{dates}.toml"
    config.write_text(
        f'[firms]\npath = "{path.name}"\nsector_column = "industry"\nfounded_column = "registration_date"\n'
        'drop_stacked = "sensitivity"\n'
        f'[parks]\npath = "{parks.name}"\n'
        '[analysis]\ntarget_sector = "optics"\ntarget = 0\n'.replace("target = 0\n", "")
        + 'permutations = 99\nkd_simulations = 0\nripley_simulations = 0\npoint_clusters = "none"\ncompare = false\n'
        '[[valleys]]\nname = "Wuhan"\n', encoding="utf-8")
    return {"config": config, "firms": path, "parks": parks, "frame": frame, "stack_centre": (sx, sy), "n": n + stack,
            "stack": stack, "days": day}
