"""The whole run: ``run(config) -> Results`` chains the stages; ``Results.write`` saves them.

Each stage is a plain function of the previous stages' outputs.  A stage that needs data the
run does not have (no parks, no founding years ...) records why it was skipped instead of
failing the run.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo import __version__
from geo.config import Config, config_from_dict, load_config
from geo.errors import ColumnError, InputError

__all__ = ["run", "Results", "ValleyResult"]

log = logging.getLogger(__name__)


@dataclass
class ValleyResult:
    """Everything computed for one valley (study area)."""

    name: str
    title: str
    firms: Any  # GeoDataFrame, EPSG:4326
    parks: Any  # GeoDataFrame, EPSG:4326
    metric_crs: str | None = None
    stages: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict:
        bounds = self.firms.total_bounds if len(self.firms) else [np.nan] * 4
        return {
            "name": self.name,
            "title": self.title,
            "n_firms": int(len(self.firms)),
            "n_parks": int(len(self.parks)),
            "parks": self.parks["name"].tolist(),
            "metric_crs": self.metric_crs,
            "bounds_wgs84": [float(b) for b in bounds],
            "skipped": dict(self.skipped),
        }


@dataclass
class Results:
    """The outputs of :func:`run`; :meth:`write` saves them to a folder."""

    config: Config
    firms: Any
    parks: Any
    rejects: pd.DataFrame
    load_report: dict
    parks_report: dict
    valleys: dict[str, ValleyResult]
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def synthetic(self) -> bool:
        return bool(self.config.run.synthetic)

    def summary(self) -> dict:
        """Machine-readable results (the content of ``summary.json``)."""
        return {
            "geo_version": __version__,
            "title": self.config.run.title,
            "synthetic_demo_data": self.synthetic,
            "seed": self.config.run.seed,
            "config": self.config.to_dict(),
            "load": self.load_report,
            "parks_load": self.parks_report,
            "valleys": {k: v.summary() for k, v in self.valleys.items()},
            "warnings": list(self.warnings),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }

    def write(self, out_dir: str | Path = "geo-output") -> dict[str, Path]:
        """Write every output of the run into ``out_dir``; returns the paths written."""
        from geo import io as gio
        from geo import maps

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        t0 = time.perf_counter()
        written["rejects"] = gio.write_csv(self.rejects, out / "rejects.csv")
        layers = {
            "firms": _layer_frame(self.firms),
            "parks": _layer_frame(self.parks),
            "rejects": self.rejects,
        }
        written["layers"] = gio.write_layers(layers, out / "layers.gpkg")
        written.update(maps.write_maps(self, out / "maps"))
        self.timings["write"] = time.perf_counter() - t0
        written["summary"] = gio.write_json(self.summary(), out / "summary.json")
        return written


def _layer_frame(gdf):
    frame = gdf.copy()
    frame.attrs = {}
    return frame


def _as_config(config: Config | str | Path | dict) -> Config:
    if isinstance(config, Config):
        return config
    if isinstance(config, dict):
        return config_from_dict(config)
    return load_config(config)


def _assign_valleys(firms, config: Config, warnings: list[str]):
    """Return (valley labels aligned to firms, ordered valley names)."""
    col = config.firms.valley_column
    configured = [v.name for v in config.valleys]
    labels = pd.Series(pd.NA, index=firms.index, dtype="object")
    if col in firms.columns:
        labels = firms[col].astype("object").where(firms[col].notna(), pd.NA)
        labels = labels.map(lambda v: str(v).strip() if v is not pd.NA else v)
    boxes = [v for v in config.valleys if v.bbox is not None]
    for v in boxes:
        lo_x, lo_y, hi_x, hi_y = v.bbox
        inside = firms["lon"].between(lo_x, hi_x) & firms["lat"].between(lo_y, hi_y)
        labels = labels.where(~(labels.isna() & inside), v.name)
    if not configured:
        if col not in firms.columns and not boxes:
            labels[:] = "Study area"
            return labels, ["Study area"]
        names = [str(x) for x in pd.unique(labels.dropna())]
        return labels, names
    unknown = sorted(set(labels.dropna()) - set(configured))
    if unknown:
        warnings.append(f"firms of valleys not in the config were left out: {unknown}")
    return labels.where(labels.isin(configured), pd.NA), configured


def _parks_for_valley(parks, name: str, firms_v):
    if parks is None or len(parks) == 0:
        return parks
    if parks["valley"].notna().any():
        return parks[parks["valley"] == name]
    if len(firms_v) < 3:
        return parks.iloc[0:0]
    import shapely

    hull = shapely.convex_hull(shapely.multipoints(np.column_stack([firms_v["lon"], firms_v["lat"]])))
    return parks[parks.intersects(hull)]


def run(config: Config | str | Path | dict) -> Results:
    """Run every stage of the analysis described by ``config``.

    Parameters
    ----------
    config : Config, path to a TOML file, or dict
        The run configuration (see :mod:`geo.config`).

    Returns
    -------
    Results
        Call ``results.write(out_dir)`` to save the outputs.

    Examples
    --------
    >>> import geo
    >>> from geo.datasets import demo_files
    >>> res = geo.run(demo_files()["config"])  # doctest: +SKIP
    """
    from geo import crs as gcrs
    from geo.io import read_firms, read_parks

    cfg = _as_config(config)
    timings: dict[str, float] = {}
    warnings: list[str] = []
    t0 = time.perf_counter()
    fc = cfg.firms
    firms = read_firms(
        fc.path, lon=fc.lon, lat=fc.lat, crs=fc.crs, encoding=fc.encoding, sheet=fc.sheet, id=fc.id,
        drop_stacked=fc.drop_stacked, stacked_min=fc.stacked_min,
    )
    load_report = dict(firms.attrs["load_report"])
    rejects = firms.attrs["rejects"]
    firms.attrs = {}
    timings["read_firms"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if cfg.parks.path is not None:
        pc = cfg.parks
        parks = read_parks(pc.path, name=pc.name, valley=pc.valley, designated=pc.designated, crs=pc.crs, layer=pc.layer)
        parks_report = dict(parks.attrs["load_report"])
        parks_report["repairs"] = parks.attrs["repairs"].to_dict(orient="records")
        parks_report["rejects"] = parks.attrs["rejects"].to_dict(orient="records")
        parks.attrs = {}
    else:
        import geopandas as gpd

        parks = gpd.GeoDataFrame({"name": [], "valley": [], "designated": pd.array([], dtype="Int64")}, geometry=[], crs="EPSG:4326")
        parks_report = {"file": None, "parks_kept": 0}
        warnings.append("no park file given: park stages skipped")
    timings["read_parks"] = time.perf_counter() - t0

    labels, names = _assign_valleys(firms, cfg, warnings)
    outside = labels.isna().to_numpy()
    if outside.any():
        extra_rejects = pd.DataFrame(firms.loc[outside].drop(columns="geometry")).reset_index()
        extra_rejects.insert(1, "reason", "outside_valleys")
        extra_rejects.insert(2, "detail", "firm lies in no valley of the run")
        rejects = pd.concat([rejects, extra_rejects], ignore_index=True)
        load_report["rejected_by_reason"]["outside_valleys"] = int(outside.sum())
        load_report["rows_rejected"] += int(outside.sum())
        load_report["rows_kept"] -= int(outside.sum())
    firms = firms.loc[~outside].copy()
    firms["valley"] = labels[~outside].astype(str).to_numpy()
    rejects = rejects.sort_values("row", kind="stable").reset_index(drop=True)

    titles = {v.name: (v.title or v.name) for v in cfg.valleys}
    valleys: dict[str, ValleyResult] = {}
    for name in names:
        fv = firms[firms["valley"] == name]
        pv = _parks_for_valley(parks, name, fv)
        vr = ValleyResult(name=name, title=titles.get(name, name), firms=fv, parks=pv)
        if len(fv):
            vr.metric_crs = gcrs.metric_crs_for(fv).to_string()
        else:
            warnings.append(f"valley {name!r} has no firms")
        valleys[name] = vr
    if len(parks) and parks["valley"].notna().any():
        orphan = sorted(set(parks["valley"].dropna()) - set(names))
        if orphan:
            warnings.append(f"parks of valleys not in the run were left out: {orphan}")
    timings["assign"] = time.perf_counter() - t0
    return Results(
        config=cfg, firms=firms, parks=parks, rejects=rejects, load_report=load_report,
        parks_report=parks_report, valleys=valleys, timings=timings, warnings=warnings,
    )
