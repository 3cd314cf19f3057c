"""What the current champion was trained on (feature profile, label set): the reference for validation."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlops_contract.names import CHAMPION_ALIAS, REFERENCE_PROFILE_ARTIFACT, TRAINING_PROFILE_ARTIFACT, Tag
from mlops_contract.profile import ReferenceProfile
from training.validation import Reference, parse_label_set


def champion_reference(client: MlflowClient, model_name: str) -> Reference | None:
    """None without a champion; its profile or labels are None when it was logged without them."""
    try:
        version = client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException as exc:
        if exc.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            return None
        raise
    labels = parse_label_set(version.tags.get(Tag.DATASET_LABELS))
    profile = None
    if version.run_id:
        # The profile of its training rows; versions logged before that artifact existed profiled them as
        # their drift reference.
        for artifact in (TRAINING_PROFILE_ARTIFACT, REFERENCE_PROFILE_ARTIFACT):
            profile = _profile(client, version.run_id, artifact)
            if profile is not None:
                break
    return Reference(version=str(version.version), profile=profile, labels=labels)


def _profile(client: MlflowClient, run_id: str, artifact: str) -> ReferenceProfile | None:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, artifact, tmp)
            return ReferenceProfile.from_json(Path(path).read_text())
        except (MlflowException, OSError, ValueError):
            return None
