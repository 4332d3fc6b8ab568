"""Running a study: the pipeline that chains the stages, its results, and the dask engine."""

from geo.pipeline.inputs import StudyCheck
from geo.pipeline.results import Results, ValleyAnalysis, ValleyResult
from geo.pipeline.runner import check, run

__all__ = ["run", "check", "Results", "ValleyResult", "ValleyAnalysis", "StudyCheck"]
