"""The served model's input columns and their types, read from its MLflow signature (for metadata/schemas)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import NamedTuple

from services.serving.model import LoadedModel

# MLflow column types -> JSON Schema type and Open Inference Protocol datatype. Every column reaches the
# estimator as float64, so anything unlisted (or no signature at all) is described as a double.
_JSON_TYPES = {"double": "number", "float": "number", "long": "integer", "integer": "integer"}
_OIP_TYPES = {"double": "FP64", "float": "FP32", "long": "INT64", "integer": "INT32"}


@dataclass(frozen=True)
class Feature:
    """One input column."""

    name: str
    mlflow_type: str

    @functools.cached_property
    def json_type(self) -> str:
        """JSON Schema type of the column's values."""
        return _JSON_TYPES.get(self.mlflow_type, "number")

    @functools.cached_property
    def datatype(self) -> str:
        """Open Inference Protocol tensor datatype."""
        return _OIP_TYPES.get(self.mlflow_type, "FP64")


def features(model: LoadedModel) -> tuple[Feature, ...]:
    """The model's inputs in signature order, typed from the signature where it says."""
    return _features(*_cache_key(model))


class TensorHeads(NamedTuple):
    """The inputs' names and Open Inference Protocol datatypes, in signature order (hashable: V2's plain
    request decoders are cached by it)."""

    names: tuple[str, ...]
    datatypes: tuple[str, ...]


def tensor_heads(model: LoadedModel) -> TensorHeads:
    """Name and Open Inference Protocol datatype of each input, in signature order."""
    return _tensor_heads(*_cache_key(model))


def _cache_key(model: LoadedModel) -> tuple[tuple[str, ...], str | None]:
    """What the inputs are derived from: the feature names and the signature's inputs JSON, if any."""
    raw = (model.signature or {}).get("inputs")
    return model.feature_names, raw if isinstance(raw, str) else None


@functools.lru_cache(maxsize=8)
def _tensor_heads(names: tuple[str, ...], raw_inputs: str | None) -> TensorHeads:
    inputs = _features(names, raw_inputs)
    return TensorHeads(tuple(f.name for f in inputs), tuple(f.datatype for f in inputs))


# Per request on the V2 path: parsing the signature again each time cost as much as predicting one row.
@functools.lru_cache(maxsize=8)
def _features(names: tuple[str, ...], raw_inputs: str | None) -> tuple[Feature, ...]:
    declared: dict[str, str] = {}
    try:
        specs = json.loads(raw_inputs) if raw_inputs is not None else []
    except ValueError:
        specs = []
    if isinstance(specs, list):
        for spec in specs:
            if isinstance(spec, dict) and isinstance(spec.get("name"), str):
                declared[spec["name"]] = str(spec.get("type", "double"))
    return tuple(Feature(name, declared.get(name, "double")) for name in names)
