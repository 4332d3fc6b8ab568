"""The bundled demo data (synthetic firms, illustrative parks) and the generator that made it.

The files live inside the package (``geo/datasets/data/``), so ``geo demo`` works from an
installed wheel as from a clone: :func:`demo_files` gives their paths.
"""

from geo.datasets._demo import (
    DEMO_SEED,
    EHS_BY_VERDICT,
    GENERATOR_VERSION,
    VERDICTS,
    demo_files,
    demo_path,
    generate_demo,
    load_truth,
)

__all__ = ["DEMO_SEED", "EHS_BY_VERDICT", "GENERATOR_VERSION", "VERDICTS", "demo_path", "demo_files", "load_truth", "generate_demo"]
