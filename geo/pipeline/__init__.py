"""Running a study: the pipeline that chains the stages, its results, and the dask engine."""

from geo.pipeline.results import Results, ValleyResult
from geo.pipeline.runner import run

__all__ = ["run", "Results", "ValleyResult"]
