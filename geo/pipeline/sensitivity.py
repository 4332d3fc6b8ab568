"""Sensitivity reruns of a finished run's cell and park stages: at other cell sizes
(:func:`scale_sensitivity`, ``[analysis] scales``) and without the stacked geocodes
(``[firms] drop_stacked = "sensitivity"``)."""

from __future__ import annotations

import dataclasses


from geo.config import Config
from geo.pipeline.results import Results, ValleyResult

from geo.pipeline.valley import _analyse_valley

__all__ = ["scale_sensitivity"]


def _rerun(vr: ValleyResult, cfg: Config, *, cell: str, size, firms=None) -> ValleyResult:
    """The cell and park stages of valley ``vr`` again, on ``cell`` cells of ``size`` (metres,
    or the H3 resolution) and, when given, other ``firms``; the same study area, CRS, parks and
    seed as the main run (the sensitivity analyses: only what they vary differs)."""
    same = dataclasses.replace(cfg, analysis=dataclasses.replace(cfg.analysis, cell=cell, cell_size=size))
    alt = ValleyResult(name=vr.name, title=vr.title, firms=vr.firms if firms is None else firms, parks=vr.parks,
                       metric_crs=vr.metric_crs, seed=vr.seed, extent=vr.analysis.study_area)
    _analyse_valley(alt, same, int(vr.seed), [], metric=vr.analysis.metric_firms if firms is None else None,
                    cells_only=True)
    return alt


def _scale_label(scale: float) -> str:
    return f"{scale:g}×"


def scale_sensitivity(results: Results, *, scales=(0.5, 1.0, 2.0), h3: bool = False) -> dict | None:
    """The park verdicts of a run at other cell sizes: each park's verdict at each scale.

    The cell and park stages of each valley of ``results`` run again at each factor of the
    valley's chosen cell size (1: the run itself, not run again), and on H3 cells at the
    resolution nearest its cell area with ``h3=True``, on the same firms, study area, CRS,
    parks and seed (``geo run`` does this with ``[analysis] scales`` and ``scale_h3``).

    Parameters
    ----------
    results : Results
        A run (:func:`run`).
    scales : sequence of float, default (0.5, 1, 2)
        Factors of each valley's cell size, between 0.1 and 10.
    h3 : bool, default False
        Also on H3 cells.

    Returns
    -------
    dict or None
        As ``Results.scale_sensitivity`` (``scales``, ``parks`` with ``verdicts``,
        ``park_hot_share`` and ``stability`` per park, ``scale_dependent``, ``grid``,
        ``skipped``); None when no other scale is asked.

    Examples
    --------
    >>> import geo
    >>> from geo.datasets import demo_files
    >>> res = geo.run(demo_files()["config"])  # doctest: +SKIP
    >>> geo.scale_sensitivity(res, scales=[0.5, 1, 3])["scale_dependent"]  # doctest: +SKIP
    []
    """
    from geo.errors import ConfigError

    bad = [s for s in scales if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0.1 <= s <= 10]
    if bad:
        msg = f"scales must be cell-size factors between 0.1 and 10 (scales=[0.5, 1, 2]); {bad!r} was given."
        raise ConfigError(msg)
    cfg = dataclasses.replace(results.config, analysis=dataclasses.replace(
        results.config.analysis, scales=tuple(sorted({float(s) for s in scales})), scale_h3=bool(h3)))
    return _scale_sensitivity(results.valleys, cfg)


def _scale_sensitivity(valleys: dict, cfg: Config) -> dict | None:
    """The cell and park stages again at other cell sizes; each park's verdict at each scale.

    ``[analysis] scales`` are factors of each valley's chosen cell size (1 is the main run,
    not run again); ``scale_h3`` adds H3 cells at the resolution nearest that size.  Each
    valley keeps its firms (projected once), parks, study area and seed.  A park's verdict is
    *stable* when it is the same at every scale, else *scale-dependent*.

    Returns ``{"scales": labels, "parks": [per park: valley, park, verdict and hot share per
    scale, stability], "scale_dependent": those parks, "grid": per valley and scale the cell
    size and count, "skipped": valley -> reason}``, or None when no scale but 1 is asked.
    """
    from geo.cells.grid import h3_resolution_for_area

    an = cfg.analysis
    runs = [(_scale_label(s), an.cell, s) for s in an.scales]
    if an.scale_h3 and an.cell != "h3":
        runs.append(("H3", "h3", 1.0))
    if not [r for r in runs if not (r[1] == an.cell and r[2] == 1.0)]:
        return None
    labels = [label for label, _, _ in runs]
    if _scale_label(1.0) not in labels:
        labels.insert(0, _scale_label(1.0))
        runs.insert(0, (_scale_label(1.0), an.cell, 1.0))
    records, grids, skipped = [], {}, {}
    for name, vr in valleys.items():
        ov = vr.analysis.parks_overlay
        if ov is None or not len(ov):
            continue
        if vr.prepared is not None:
            skipped[name] = "the dask engine counts the cells on the cluster at one size (engine = \"pandas\" runs the scales)"
            continue
        grid = vr.analysis.grid
        by_label = {}
        grids[name] = {}
        for label, cell, s in runs:
            if cell == an.cell and s == 1.0:
                alt_ov, alt_grid, n_cells = ov, grid, len(vr.analysis.cells)
            else:
                # the cell area scales with s²; H3 takes the resolution nearest that area
                size = h3_resolution_for_area(grid.cell_area_m2 * s * s) if cell == "h3" else grid.size_m * s
                alt = _rerun(vr, cfg, cell=cell, size=size)
                alt_ov, alt_grid = alt.analysis.parks_overlay, alt.analysis.grid
                n_cells = len(alt.analysis.cells) if alt.analysis.cells is not None else 0
                if alt_ov is None:
                    skipped[f"{name} at {label}"] = (alt.skipped.get("statistics") or alt.skipped.get("hotspots")
                                                     or alt.skipped.get("parks") or "the park stage did not run")
            by_label[label] = alt_ov
            grids[name][label] = {"cell": cell, "size": alt_grid.size if alt_grid is not None else None,
                                  "size_m": alt_grid.size_m if alt_grid is not None else None, "n_cells": int(n_cells)}
        for idx, row in ov.iterrows():
            verdicts, shares = {}, {}
            for label in labels:
                o = by_label.get(label)
                r = o.loc[idx] if o is not None and idx in o.index else None
                verdicts[label] = str(r["verdict"]) if r is not None else "not computed"
                shares[label] = float(r["park_hot_share"]) if r is not None and "park_hot_share" in r else None
            stable = len(set(verdicts.values())) == 1
            records.append({"valley": name, "park": str(row.get("name", idx)), "verdicts": verdicts,
                            "park_hot_share": shares, "stability": "stable" if stable else "scale-dependent"})
    return {"scales": labels, "parks": records, "scale_dependent": [r for r in records if r["stability"] != "stable"],
            "grid": grids, "skipped": skipped}


def _stack_sensitivity(valleys: dict, cfg: Config, warnings: list[str]) -> dict:
    """The cell and park stages again without the stacked firms; the verdicts side by side.

    Each valley keeps its seed, its cells (the same size, study area and CRS) and its parks;
    only the firms on stacked geocodes are left out (a valley without any is not run again).
    Returns ``{"dropped": firms left out, "parks": [one record per park], "changed": the
    records whose verdict changes, "grid": per valley the cell size and cell counts}``.
    """
    from geo.points import PointFrame

    records, dropped, grids = [], 0, {}
    for name, vr in valleys.items():
        ov = vr.analysis.parks_overlay
        if "stacked" not in vr.firms.columns or ov is None or not len(ov) or vr.sampled:
            continue
        keep = ~vr.firms["stacked"].to_numpy(dtype=bool)
        if keep.all():
            continue  # no stacked firm in this valley: nothing to compare
        dropped += int((~keep).sum())
        # the same grid (cell size, study area, CRS) and seed: only the stacked firms differ
        cells = vr.analysis.cells
        grid = vr.analysis.grid
        fv = PointFrame(vr.firms.loc[keep], crs="EPSG:4326", xy=("lon", "lat"))
        alt = _rerun(vr, cfg, cell=cfg.analysis.cell, size=grid.size if cfg.analysis.cell == "h3" else grid.size_m,
                     firms=fv)
        alt_cells = alt.analysis.cells
        grids[name] = {"size_m": vr.analysis.grid.size_m, "n_cells": int(len(cells)),
                       "n_cells_without_stacked": int(len(alt_cells)) if alt_cells is not None else None}
        alt_ov = alt.analysis.parks_overlay
        for idx, row in ov.iterrows():
            other = alt_ov.loc[idx] if alt_ov is not None and idx in alt_ov.index else None
            after = str(other["verdict"]) if other is not None else (alt.skipped.get("statistics") or "not computed")
            records.append({"valley": name, "park": str(row.get("name", idx)), "verdict": str(row["verdict"]),
                            "verdict_without_stacked": after, "changed": after != str(row["verdict"]),
                            "park_hot_share": row.get("park_hot_share"),
                            "park_hot_share_without_stacked": other.get("park_hot_share") if other is not None else None})
    changed = [r for r in records if r["changed"]]
    for r in changed:
        warnings.append(f"valley {r['valley']!r}, park {r['park']!r}: the verdict changes without the stacked geocodes "
                        f"({r['verdict']!r} -> {r['verdict_without_stacked']!r})")
    return {"dropped": dropped, "parks": records, "changed": changed, "grid": grids}
