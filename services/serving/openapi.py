"""The OpenAPI document of the served model: request bodies name its columns, types, limits and example.

FastAPI's generated document only knows the generic request models (`rows: list[list[number]] | ...`). Here
every predict route's body is rewritten from the loaded model's signature: columns as required properties
with no others allowed, rows as fixed-length arrays, at most `max_batch_rows` rows, values within the bound
validation enforces, path parameters limited to the served name and version, and the model's logged input
example. The document is rebuilt whenever a different model version is being served (first load, hot
reload), so `/openapi.json` and `/docs` always describe what the server accepts right now.

Where JSON Schema cannot state a rule the server checks (a V2 tensor's `shape` against its data length,
equal-length columns), the document describes the subset it can state exactly (V2: one row per request;
column-oriented `inputs`: left out), so every request valid under it is accepted.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from mlops_contract.names import Route
from services.serving.protocols import kserve_v1, mlflow_scoring, oip_v2
from services.serving.settings import Settings
from services.serving.signature import Feature, features
from services.serving.state import Served
from services.serving.validation import FEATURE_LIMIT, InputError

_JSON = "application/json"
_REF = "#/components/schemas/"


def install(app: FastAPI) -> None:
    """Make app.openapi() describe the model being served, regenerated when that model changes."""
    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        served: Served | None = app.state.serving.current
        key = "none" if served is None else f"{served.model.ref.name}/{served.model.ref.version}/{id(served)}"
        if cache.get("key") != key:
            generated = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            base = hoist_defs(generated)
            cache["schema"] = base if served is None else for_model(base, served, app.state.settings)
            cache["key"] = key
        schema: dict[str, Any] = cache["schema"]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def hoist_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """Move the `$defs` of bodies given as pydantic JSON schemas to components, where `$ref`s resolve."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            for name, definition in node.pop("$defs", {}).items():
                components.setdefault(name, walk(definition))
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                node["$ref"] = _REF + ref.removeprefix("#/$defs/")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        return node

    walk(schema.get("paths", {}))
    return schema


def for_model(base: dict[str, Any], served: Served, settings: Settings) -> dict[str, Any]:
    """base with every predict body, path parameter and example specific to the served model."""
    schema = copy.deepcopy(base)
    cols = features(served.model)
    max_rows = settings.max_batch_rows
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ModelRow"] = _row(cols)
    components["ModelRecord"] = _record(cols)
    row, record = {"$ref": f"{_REF}ModelRow"}, {"$ref": f"{_REF}ModelRecord"}
    rows = _batch(row, max_rows)
    records = _batch(record, max_rows)
    example = _example_rows(served, max_rows)
    names = [c.name for c in cols]

    _body(schema, Route.PREDICT, _object({"rows": {"anyOf": [rows, records]}}), example and {"rows": example})
    _body(
        schema,
        kserve_v1.PREDICT,
        _object({"instances": {"anyOf": [rows, records]}}),
        example and {"instances": example},
    )
    split = _object(
        {
            "columns": {
                "type": ["array", "null"],
                "items": {"enum": names},
                "uniqueItems": True,
                "minItems": len(names),
                "maxItems": len(names),
                "description": "the model's columns, in any order; the values in each row follow it",
            },
            "data": rows,
            "index": {"type": ["array", "null"], "items": {"type": ["integer", "string"]}},
        },
        required=["data"],
    )
    params = {"type": ["object", "null"], "description": "accepted and unused"}
    formats = {
        "dataframe_split": split,
        "dataframe_records": records,
        "instances": {"anyOf": [rows, records]},
        "inputs": {"anyOf": [rows, records]},
    }
    invocations = {
        "anyOf": [_object({key: value, "params": params}, required=[key]) for key, value in formats.items()]
    }
    logged = served.model.input_example if example else None
    fallback = example and {"dataframe_split": {"columns": names, "data": example}}
    _body(schema, mlflow_scoring.INVOCATIONS, invocations, logged or fallback)
    infer = _object(
        {
            "id": {"type": ["string", "null"]},
            "parameters": {"type": ["object", "null"]},
            "inputs": _tensors(cols),
            "outputs": {
                "type": ["array", "null"],
                "items": _object(
                    {"name": {"enum": _outputs(served)}, "parameters": {"type": ["object", "null"]}},
                    required=["name"],
                ),
            },
        },
        required=["inputs"],
    )
    infer_example = example and {
        "inputs": [
            {"name": c.name, "shape": [1], "datatype": c.datatype, "data": [example[0][j]]}
            for j, c in enumerate(cols)
        ]
    }
    for path in ("/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"):
        _body(schema, path, infer, infer_example)
    _path_parameters(schema, served)
    return schema


def _number(feature: Feature) -> dict[str, Any]:
    return {"type": feature.json_type, "minimum": -FEATURE_LIMIT, "maximum": FEATURE_LIMIT}


def _row(cols: Sequence[Feature]) -> dict[str, Any]:
    n = len(cols)
    kinds = {c.json_type for c in cols}
    described = f"the {n} column values in signature order: {', '.join(c.name for c in cols)}"
    row: dict[str, Any]
    if len(kinds) == 1:
        row = {"type": "array", "items": _number(cols[0])}
    else:
        row = {"type": "array", "prefixItems": [_number(c) for c in cols], "items": False}
    return {**row, "minItems": n, "maxItems": n, "description": described}


def _record(cols: Sequence[Feature]) -> dict[str, Any]:
    return _object({c.name: _number(c) for c in cols}, description="one row keyed by column name")


def _batch(item: dict[str, Any], max_rows: int) -> dict[str, Any]:
    return {"type": "array", "items": item, "minItems": 1, "maxItems": max_rows}


def _object(
    properties: dict[str, Any], required: list[str] | None = None, description: str | None = None
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }
    if description:
        obj["description"] = description
    return obj


def _tensors(cols: Sequence[Feature]) -> dict[str, Any]:
    """One V2 tensor per column, in signature order, one row each (see the module docstring)."""
    tensors = [
        _object(
            {
                "name": {"const": c.name},
                "shape": {"const": [1]},
                "datatype": {"const": c.datatype},
                "data": {"type": "array", "items": _number(c), "minItems": 1, "maxItems": 1},
                "parameters": {"type": ["object", "null"]},
            },
            required=["name", "shape", "datatype", "data"],
        )
        for c in cols
    ]
    return {
        "type": "array",
        "prefixItems": tensors,
        "items": False,
        "minItems": len(cols),
        "maxItems": len(cols),
        "description": "one tensor per column, shape [rows]; or one [rows, columns] tensor",
    }


def _outputs(served: Served) -> list[str]:
    return [o["name"] for o in oip_v2.metadata(served)["outputs"]]


def _body(schema: dict[str, Any], path: str, body: dict[str, Any], example: Any) -> None:
    operation = schema["paths"][path]["post"]
    media: dict[str, Any] = {"schema": body}
    if example:
        media["example"] = example
    content = operation["requestBody"]["content"]
    content[_JSON] = media
    if mlflow_scoring.CSV in content:
        # A CSV body's rules (header = columns, numeric cells) are not expressible as a string schema:
        # described in words, not offered as a schema test tools would fill with arbitrary text.
        del content[mlflow_scoring.CSV]
        operation["description"] = (
            operation.get("description", "")
            + "\n\nAlso accepts `text/csv`: a header row naming the columns (any order), then numeric rows."
        )


def _path_parameters(schema: dict[str, Any], served: Served) -> None:
    """`name` and `version` can only be the served model's: say so (other values are 404s)."""
    allowed = {"name": [served.model.ref.name], "version": [served.model.ref.version]}
    for operations in schema["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter.get("name") in allowed:
                    parameter["schema"] = {"type": "string", "enum": allowed[parameter["name"]]}


def _example_rows(served: Served, max_rows: int) -> list[list[float]] | None:
    """The logged input example as rows in signature order (None without a usable example)."""
    example = served.model.input_example
    if example is None:
        return None
    try:
        matrix = mlflow_scoring.parse_json(json.dumps(example).encode(), served.model.feature_names, max_rows)
    except (mlflow_scoring.ScoringError, InputError):
        return None
    rows: list[list[float]] = matrix.tolist()
    return rows
