"""The bundled demo data (synthetic firms, illustrative parks) and the generator that made it.

The files live inside the package (``geo/datasets/data/``), so ``geo demo`` works from an
installed wheel as from a clone: :func:`demo_files` gives their paths (:mod:`geo.datasets._files`),
:func:`generate_demo` (:mod:`geo.datasets._generate`) made them.
"""

from geo.datasets._files import demo_files, demo_path, load_truth
from geo.datasets._generate import (
    DEMO_SEED,
    EHS_BY_VERDICT,
    GENERATOR_VERSION,
    VERDICTS,
    generate_demo,
)

__all__ = ["DEMO_SEED", "EHS_BY_VERDICT", "GENERATOR_VERSION", "VERDICTS", "demo_path", "demo_files", "load_truth", "generate_demo"]
