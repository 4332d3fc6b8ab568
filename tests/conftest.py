"""Shared fixtures: one run of the whole pipeline on the bundled demo data per test session."""

from __future__ import annotations

import dataclasses

import pytest


@pytest.fixture(scope="session")
def demo_results():
    """The demo study as ``geo demo`` runs it (fewer permutations, to keep the suite fast)."""
    import geo
    from geo._process import owned
    from geo.config import load_config
    from geo.datasets import demo_files

    cfg = load_config(demo_files()["config"])
    cfg = dataclasses.replace(cfg, analysis=dataclasses.replace(cfg.analysis, permutations=199, kd_simulations=99, ripley_simulations=19))
    with owned():  # as geo demo runs it
        return geo.run(cfg)


@pytest.fixture(scope="session")
def demo_output(demo_results, tmp_path_factory):
    """The demo's output folder (report, maps, layers, rasters, summary.json)."""
    from geo._process import owned

    out = tmp_path_factory.mktemp("demo-output")
    with owned():  # as geo demo writes it
        demo_results.write(out)
    return out


@pytest.fixture
def owner():
    """The test runs as ``geo run`` does: owning its process (gc freezes, child writer, forked workers)."""
    from geo._process import owned

    with owned() as policy:
        yield policy


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by playwright (the browser tests; they skip without it)."""
    from tests.test_browser import ARGS, CHROMIUM, sync_api  # skips the test when no Chromium is installed

    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()
