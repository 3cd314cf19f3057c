"""MLflow dataset sources for what a run read, so the MLflow UI shows each dataset input and where it is."""

from __future__ import annotations

import warnings
from typing import Any

from training.sources import ResolvedSource, SourceKind


def dataset_source(origin: ResolvedSource | None, fallback: str) -> Any:
    """An MLflow DatasetSource: HTTP for URLs, a local file (the snapshot read) otherwise; `fallback` when
    the data has no origin (built in memory) or is bundled."""
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.http_dataset_source import HTTPDatasetSource

    if origin is None or origin.kind is SourceKind.BUNDLED:
        return CodeDatasetSource(tags={"loader": fallback if origin is None else origin.location})
    if origin.kind is SourceKind.HTTP:
        return HTTPDatasetSource(origin.location)  # type: ignore[no-untyped-call]
    with warnings.catch_warnings():
        # MLflow registers its local-file source under two schemes and warns that both match; they are one.
        warnings.simplefilter("ignore")
        return resolve_dataset_source(f"file://{origin.location}")


def inference_log_source(log_dir: str) -> Any:
    """The inference log directory the labelled traffic came from."""
    from mlflow.data.dataset_source_registry import resolve_dataset_source

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return resolve_dataset_source(f"file://{log_dir}")
