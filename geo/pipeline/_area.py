"""Each valley's study area from the config (:mod:`geo.cells.area`): the rule it follows, the
polygon layers read and checked before any statistic (``geo check`` runs the same checks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from geo.config import Config
from geo.errors import InputError

__all__ = ["area_rule", "read_given_areas", "valley_area", "refuse_given_areas"]


def area_rule(cfg: Config, name: str) -> str | Path:
    """The study-area rule of valley ``name``: its ``[[valleys]] study_area``, else ``[analysis] study_area``."""
    for v in cfg.valleys:
        if v.name == name and v.study_area is not None:
            return v.study_area
    return cfg.analysis.study_area


def _is_file(rule: Any) -> bool:
    return isinstance(rule, Path)


def refuse_given_areas(cfg: Config) -> None:
    """The dask engine builds the ``"cells"`` and ``"hull"`` areas only: a polygon layer stops the run."""
    files = [str(r) for r in {area_rule(cfg, v.name) for v in cfg.valleys} | {cfg.analysis.study_area} if _is_file(r)]
    if files:
        msg = (f"A study area from a polygon layer ({files[0]}) is not available with the dask engine: use "
               "study_area = \"cells\" or \"hull\", or engine = \"pandas\".")
        raise InputError(msg)


def read_given_areas(cfg: Config, valleys: dict) -> None:
    """Read the polygon layers of the valleys whose study area is a file; each becomes the
    valley's ``extent`` (a :class:`geo.cells.area.StudyArea` in its metric CRS).

    A layer given in ``[[valleys]]`` is the valley's area as a whole; the layer of ``[analysis]``
    serves every valley without its own: each valley takes the polygons that hold any of its
    firms.  Stops with :class:`geo.errors.InputError` when the area leaves out firms of the
    valley (naming how many, and the first one's position).
    """
    from geo.cells.area import given_area
    from geo.io.areas import read_study_area

    layers: dict[Path, Any] = {}
    for name, vr in valleys.items():
        rule = area_rule(cfg, name)
        if not _is_file(rule) or not len(vr.firms) or vr.metric_crs is None:
            continue
        if rule not in layers:
            layers[rule] = read_study_area(rule)
        layer = layers[rule]
        own = any(v.name == name and v.study_area is not None for v in cfg.valleys)
        x, y = _metric_xy(vr.firms, vr.metric_crs)
        if not own:  # a study-wide layer: the polygons holding firms of this valley
            import shapely

            polys = np.asarray(layer.to_crs(vr.metric_crs).geometry.values)
            tree = shapely.STRtree(polys)
            hit = np.unique(tree.query(shapely.points(x, y), predicate="intersects")[1])
            if not len(hit):
                raise InputError(_no_polygon(rule.name, layer, vr.firms, name))
            layer_v = layer.iloc[hit]
        else:
            layer_v = layer
        area = given_area(layer_v, metric_crs=vr.metric_crs, source=str(rule))
        _check_covers(area, x, y, vr.firms, name)
        vr.extent = area


def _no_polygon(file: str, layer, firms, name: str) -> str:
    """The sentence for a study-wide layer none of whose polygons holds a firm of valley ``name``: where the layer
    and the firms lie, in degrees; or that the layer's degrees are not degrees (metres in a file whose CRS says
    longitude/latitude, as a GeoJSON without a ``crs`` member is read)."""
    lon, lat = firms["lon"].to_numpy(float), firms["lat"].to_numpy(float)
    at = f"the {len(lon):,} firms of valley {name!r} lie at lon {lon.min():.3f}–{lon.max():.3f}, lat {lat.min():.3f}–{lat.max():.3f}"
    x0, y0, x1, y1 = (float(b) for b in layer.total_bounds)
    if layer.crs is not None and layer.crs.is_geographic and max(abs(x0), abs(x1), abs(y0), abs(y1)) > 180:
        return (f"The study-area layer {file} holds coordinates that are not degrees (x {x0:,.0f}–{x1:,.0f}, y {y0:,.0f}–"
                f"{y1:,.0f}) although its CRS is {layer.crs.to_string()} (a GeoJSON without a crs member is read as "
                f"longitude/latitude), so no polygon holds a firm ({at}): save the layer with the CRS it was made in.")
    b = layer.to_crs("EPSG:4326").total_bounds
    return (f"No polygon of the study-area layer {file} holds any of the {len(lon):,} firms of valley {name!r} (the layer "
            f"spans lon {b[0]:.3f}–{b[2]:.3f}, lat {b[1]:.3f}–{b[3]:.3f}; the firms lie at lon {lon.min():.3f}–"
            f"{lon.max():.3f}, lat {lat.min():.3f}–{lat.max():.3f}); give the valley its own boundary ([[valleys]] "
            "study_area = \"...\") or use study_area = \"cells\".")


def _metric_xy(firms, metric_crs: str) -> tuple[np.ndarray, np.ndarray]:
    import pyproj

    tr = pyproj.Transformer.from_crs("EPSG:4326", metric_crs, always_xy=True)
    x, y = tr.transform(firms["lon"].to_numpy(float), firms["lat"].to_numpy(float))
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def _check_covers(area, x: np.ndarray, y: np.ndarray, firms, name: str) -> None:
    """Every firm of the valley lies in its study area (boundary included), or one sentence says how many do not."""
    import shapely

    out = ~shapely.intersects_xy(area.geometry, x, y)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        lon, lat = float(firms["lon"].to_numpy(float)[i]), float(firms["lat"].to_numpy(float)[i])
        src = Path(area.source).name if area.source else "the given layer"
        msg = (f"The study area of valley {name!r} ({src}, {area.area_km2:,.1f} km²) leaves out {int(out.sum()):,} of its "
               f"{len(x):,} firms (the first at lon {lon:.5f}, lat {lat:.5f}): give a boundary that covers every firm of "
               "the valley, or use study_area = \"cells\" (the cells holding firms).")
        raise InputError(msg)


def valley_area(vr, cfg: Config, metric_firms):
    """The valley's :class:`~geo.cells.area.StudyArea`: the layer read for it, the one the dask
    engine built, or the ``"cells"`` / ``"hull"`` rule on its firms (in their metric CRS)."""
    from geo.cells.area import StudyArea, study_area

    if isinstance(vr.extent, StudyArea):
        return vr.extent
    prepared = getattr(vr.prepared, "study_area", None)
    if prepared is not None:
        return prepared
    an = cfg.analysis
    return study_area(metric_firms, rule=str(area_rule(cfg, vr.name)), cell=an.cell, size=an.cell_size)
