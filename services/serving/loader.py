"""Model loading behind a small interface: the MLflow registry in production, anything in tests."""

from __future__ import annotations

import tempfile
import time
import warnings
from typing import Any, Protocol

from mlops_contract.names import REFERENCE_PROFILE_ARTIFACT
from mlops_contract.profile import ReferenceProfile
from services.serving.model import LoadedModel, VersionRef


class ModelLoader(Protocol):
    """Resolve an alias cheaply; load a version expensively. Both may raise; the watcher handles it."""

    def resolve(self, name: str, alias: str) -> VersionRef:
        """What version the alias points to now."""
        ...

    def load(self, ref: VersionRef) -> LoadedModel:
        """Fetch and deserialise that version."""
        ...


class MlflowLoader:
    """Loads `models:/<name>/<version>` from an MLflow tracking server (imports mlflow lazily)."""

    def __init__(self, tracking_uri: str | None) -> None:
        self._tracking_uri = tracking_uri
        self._client: Any = None

    def _mlflow_client(self) -> Any:
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self._tracking_uri)
        return self._client

    def resolve(self, name: str, alias: str) -> VersionRef:
        """Registry lookup of name@alias."""
        version = self._mlflow_client().get_model_version_by_alias(name, alias)
        return VersionRef(
            name=name,
            version=str(version.version),
            alias=alias,
            run_id=str(version.run_id or ""),
            created_at=float(version.creation_timestamp or 0) / 1000.0,
        )

    def load(self, ref: VersionRef) -> LoadedModel:
        """Download the model once, read its signature, load the sklearn flavor and the run's profile."""
        import mlflow.artifacts
        import mlflow.sklearn
        from mlflow.models import Model

        with tempfile.TemporaryDirectory(prefix="model-") as tmp:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{ref.name}/{ref.version}",
                dst_path=tmp,
                tracking_uri=self._tracking_uri,
            )
            meta = Model.load(local)
            estimator = mlflow.sklearn.load_model(local)
        signature = meta.signature.to_dict() if meta.signature is not None else None
        names = _feature_names(meta, estimator)
        profile = self._profile(ref.run_id)
        if profile is not None and profile.feature_names != list(names):
            profile = None  # a profile for other features would report nonsense drift
        return LoadedModel(
            ref=ref,
            estimator=estimator,
            feature_names=names,
            loaded_at=time.time(),
            profile=profile,
            signature=signature,
        )

    def _profile(self, run_id: str) -> ReferenceProfile | None:
        import mlflow.artifacts
        from mlflow.exceptions import MlflowException

        if not run_id:
            return None
        try:
            text = mlflow.artifacts.load_text(f"runs:/{run_id}/{REFERENCE_PROFILE_ARTIFACT}")
        except (MlflowException, OSError):
            return None
        return ReferenceProfile.from_json(text)


def _feature_names(meta: Any, estimator: Any) -> tuple[str, ...]:
    if meta.signature is not None and meta.signature.inputs.has_input_names():
        return tuple(str(n) for n in meta.signature.inputs.input_names())
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
