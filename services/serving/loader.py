"""Model loading behind a small interface: the MLflow registry in production, anything in tests."""

from __future__ import annotations

import json
import time
import warnings
from typing import Any, Protocol

from mlops_contract.mlmodel import MLMODEL_FILE, load_estimator, parse_mlmodel
from mlops_contract.names import REFERENCE_PROFILE_ARTIFACT
from mlops_contract.profile import ReferenceProfile
from services.serving.model import LoadedModel, VersionRef
from services.serving.registry import Connection, NotFound, RegistryClient

# Where mlflow.<flavor>.log_model(input_example=...) writes the example as a scoring-protocol request body.
SERVING_INPUT_EXAMPLE = "serving_input_example.json"


class ModelLoader(Protocol):
    """Resolve an alias cheaply; load a version expensively. Both may raise; the watcher handles it."""

    def resolve(self, name: str, alias: str) -> VersionRef:
        """What version the alias points to now."""
        ...

    def load(self, ref: VersionRef) -> LoadedModel:
        """Fetch and deserialise that version."""
        ...


class MlflowLoader:
    """Loads registered versions from an MLflow tracking server, in memory (nothing is written to disk)."""

    def __init__(self, connection: Connection, trusted_types: tuple[str, ...] = ()) -> None:
        self._registry = RegistryClient(connection)
        self._trusted_types = trusted_types

    def resolve(self, name: str, alias: str) -> VersionRef:
        """Registry lookup of name@alias."""
        version = self._registry.model_version_by_alias(name, alias)
        return VersionRef(
            name=name,
            version=version.version,
            alias=alias,
            run_id=version.run_id,
            created_at=version.creation_timestamp_ms / 1000.0,
        )

    def load(self, ref: VersionRef) -> LoadedModel:
        """Read MLmodel, then the estimator it names, then the run's drift reference profile."""
        location = self._registry.model_version_artifact_uri(ref.name, ref.version)
        spec = parse_mlmodel(self._registry.read_artifact(location, MLMODEL_FILE))
        blob = self._registry.read_artifact(location, spec.model_file)
        estimator = load_estimator(blob, self._trusted_types)
        names = spec.input_names or _estimator_feature_names(estimator)
        example = self._input_example(location)
        profile = self._profile(ref.run_id)
        if profile is not None and profile.feature_names != list(names):
            profile = None  # a profile for other features would report nonsense drift
        return LoadedModel(
            ref=ref,
            estimator=estimator,
            feature_names=names,
            loaded_at=time.time(),
            profile=profile,
            signature=spec.signature,
            input_example=example,
        )

    def _input_example(self, location: str) -> dict[str, Any] | None:
        """The serving input example MLflow logs next to the model; None if absent or not a JSON object."""
        try:
            example = json.loads(self._registry.read_artifact(location, SERVING_INPUT_EXAMPLE))
        except (NotFound, ValueError):
            return None
        return example if isinstance(example, dict) else None

    def _profile(self, run_id: str) -> ReferenceProfile | None:
        """The training run's reference profile; None (no drift metrics) if the run has none."""
        if not run_id:
            return None
        try:
            root = self._registry.run_artifact_uri(run_id)
            text = self._registry.read_artifact(root, REFERENCE_PROFILE_ARTIFACT)
        except NotFound:
            return None
        return ReferenceProfile.from_json(text.decode())


def _estimator_feature_names(estimator: Any) -> tuple[str, ...]:
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        return tuple(str(n) for n in names)
    count = int(getattr(estimator, "n_features_in_", 0))
    if count <= 0:
        raise ValueError("model has no signature and no feature count; cannot validate inputs")
    return tuple(f"f{i}" for i in range(count))


def quiet_sklearn() -> None:
    """Models are fitted on named frames and served on arrays in signature order: the name check is moot."""
    warnings.filterwarnings("ignore", message="X does not have valid feature names")
