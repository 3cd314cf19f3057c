"""Load a registered version to score it, through the same skops allow-list as serving (never pickle).

`mlflow.sklearn.load_model` unpickles whatever the version's MLmodel names; a version someone registered
with cloudpickle would run its code here, in a pod holding training's MLflow login. This reads MLmodel and
the skops file itself and hands them to mlops_contract.mlmodel, which refuses anything else.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import mlflow.artifacts
from mlflow import MlflowClient

from mlops_contract.mlmodel import MLMODEL_FILE, load_estimator, parse_mlmodel
from mlops_contract.names import SKOPS_TRUSTED_TYPES


def load_version(client: MlflowClient, model_name: str, version: str) -> Any:
    """The version's estimator; ModelFormatError (nothing deserialised) if it is not a skops sklearn model."""
    root = client.get_model_version_download_uri(model_name, version).rstrip("/")
    with tempfile.TemporaryDirectory(prefix="champion-") as scratch:

        def fetch(relative: str) -> bytes:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{root}/{relative}", dst_path=scratch, tracking_uri=client.tracking_uri
            )
            return Path(local).read_bytes()

        spec = parse_mlmodel(fetch(MLMODEL_FILE))
        return load_estimator(fetch(spec.model_file), SKOPS_TRUSTED_TYPES)
