"""An MLflow model directory's `MLmodel` file, and the scikit-learn flavor it describes, loaded safely.

Serving and training (scoring the champion) both load registered models through this module only, never
through `mlflow.sklearn.load_model`, which unpickles by default. It accepts only the `skops` serialization
(MLflow 3's default for scikit-learn): skops rebuilds objects from an allow-list instead of executing pickled
code. The allow-list is skops' default (scikit-learn, numpy and scipy types) plus the platform's
SKOPS_TRUSTED_TYPES and what the operator trusts in `MLOPS_TRUSTED_TYPES`; the model's own
`skops_trusted_types` entry is ignored, since a crafted model could trust anything through it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

MLMODEL_FILE = "MLmodel"
SKLEARN_FLAVOR = "sklearn"
SKOPS_FORMAT = "skops"


class ModelFormatError(ValueError):
    """The model is not one the platform loads; the message says what it is and what is needed."""


@dataclass(frozen=True)
class ModelSpec:
    """What the platform reads from `MLmodel`."""

    model_file: str
    """The serialized estimator, relative to the model directory."""
    signature: dict[str, Any] | None
    """MLflow's signature as stored (`inputs`/`outputs` JSON strings), or None."""
    input_names: tuple[str, ...] | None
    """Column names from a column-based signature, in order; None if it has none."""


def parse_mlmodel(text: str | bytes) -> ModelSpec:
    """ModelSpec from MLmodel YAML; ModelFormatError if it has no skops-serialized scikit-learn flavor."""
    try:
        meta = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ModelFormatError(f"{MLMODEL_FILE} is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise ModelFormatError(f"{MLMODEL_FILE} is not a mapping")
    flavor = (meta.get("flavors") or {}).get(SKLEARN_FLAVOR)
    if not isinstance(flavor, dict):
        found = ", ".join(sorted(meta.get("flavors") or {})) or "none"
        raise ModelFormatError(
            f"not a scikit-learn model (flavors: {found}); the platform needs the sklearn flavor"
        )
    fmt = flavor.get("serialization_format")
    if fmt != SKOPS_FORMAT:
        raise ModelFormatError(
            f"serialization_format is {fmt!r}; the platform loads only {SKOPS_FORMAT!r} models "
            "(mlflow.sklearn.log_model's default), never pickle"
        )
    model_file = flavor.get("pickled_model")
    if not isinstance(model_file, str) or not model_file or ".." in model_file.split("/"):
        raise ModelFormatError(
            f"flavors.sklearn.pickled_model is missing or not a plain path ({model_file!r})"
        )
    signature = meta.get("signature")
    signature = signature if isinstance(signature, dict) else None
    return ModelSpec(model_file=model_file, signature=signature, input_names=_input_names(signature))


def _input_names(signature: dict[str, Any] | None) -> tuple[str, ...] | None:
    if not signature or not signature.get("inputs"):
        return None
    try:
        inputs = json.loads(signature["inputs"])
    except (TypeError, ValueError):
        raise ModelFormatError("signature.inputs is not valid JSON") from None
    if not isinstance(inputs, list) or not inputs:
        return None
    names = [spec.get("name") for spec in inputs if isinstance(spec, dict)]
    strings = [n for n in names if isinstance(n, str) and n]
    if len(strings) != len(inputs):
        return None  # a tensor signature: names come from the estimator instead
    return tuple(strings)


def load_estimator(data: bytes, trusted_types: tuple[str, ...] = ()) -> Any:
    """Rebuild a skops-serialized estimator; ModelFormatError names any type outside the allow-list."""
    import skops.io  # imported here: its import walks every scikit-learn estimator (about 0.5 s)
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        # loads() audits every type against the allow-list before building anything.
        return skops.io.loads(data, trusted=list(trusted_types) or None)
    except UntrustedTypesFoundException:
        # Its message carries skops' own notes; name just the types, for MLOPS_TRUSTED_TYPES.
        untrusted = [t for t in skops.io.get_untrusted_types(data=data) if t not in trusted_types]
    raise ModelFormatError(
        f"the model contains types outside the allow-list: {', '.join(untrusted[:10])}; "
        "if you trust them, add them to MLOPS_TRUSTED_TYPES"
    )
