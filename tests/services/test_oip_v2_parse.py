"""V2 infer's plain-request path agrees with the validated path: never accepts more, never differs."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.serving.protocols.oip_v2 import InferRequest, V2Error, _bounded, to_matrix
from services.serving.protocols.oip_v2_plain import plain_request
from services.serving.signature import Feature, TensorHeads
from services.serving.validation import InputError

COLS = (Feature("a", "double"), Feature("b", "double"), Feature("c", "long"))
HEADS = TensorHeads(tuple(c.name for c in COLS), tuple(c.datatype for c in COLS))
MAX_ROWS = 50


def _tensor(col: Feature, data: list[Any]) -> dict[str, Any]:
    return {"name": col.name, "shape": [len(data)], "datatype": col.datatype, "data": data}


def _validated(raw: bytes) -> tuple[np.ndarray, str | None] | None:
    """What the validated path makes of raw: the matrix and id, or None if it refuses."""
    try:
        body = InferRequest.model_validate_json(raw)
        return to_matrix(body, COLS, MAX_ROWS), body.id
    except (ValidationError, V2Error, InputError):
        return None


def test_the_common_request_takes_the_plain_path_and_matches_the_validated_one() -> None:
    doc = {"id": "r1", "inputs": [_tensor(c, [1.5, -2, 3e3]) for c in COLS]}
    raw = json.dumps(doc).encode()
    plain = plain_request(raw, HEADS)
    assert plain is not None
    validated = _validated(raw)
    assert validated is not None
    assert np.array_equal(plain[0], validated[0]) and plain[1] == validated[1] == "r1"
    assert plain[0].shape == (3, 3) and plain[0].dtype == np.float64


JSON_VALUES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=2),
)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    """A valid request, then some of the ways a client gets one wrong (or unusual but valid)."""
    rows = draw(st.integers(min_value=0, max_value=3))
    inputs: list[Any] = [
        _tensor(
            c,
            draw(
                st.lists(
                    JSON_VALUES if draw(st.booleans()) else st.floats(-9, 9), min_size=rows, max_size=rows
                )
            ),
        )
        for c in COLS
    ]
    if draw(st.booleans()):
        inputs = draw(st.permutations(inputs))
    if draw(st.booleans()):
        victim = inputs[draw(st.integers(0, len(inputs) - 1))]
        key = draw(st.sampled_from(["name", "shape", "datatype", "data", "parameters", "extra"]))
        victim[key] = draw(st.one_of(JSON_VALUES, st.lists(st.integers(0, 4), max_size=3), st.just({})))
    if draw(st.booleans()):
        inputs = inputs[: draw(st.integers(0, len(inputs)))]
    doc: dict[str, Any] = {"inputs": inputs}
    if draw(st.booleans()):
        doc["id"] = draw(JSON_VALUES)
    if draw(st.booleans()):
        doc[draw(st.sampled_from(["outputs", "parameters", "other"]))] = draw(
            st.one_of(st.just([]), st.just({}))
        )
    return doc


@settings(max_examples=400, deadline=None)
@given(requests())
def test_the_plain_path_accepts_nothing_the_validated_path_refuses(doc: dict[str, Any]) -> None:
    raw = json.dumps(doc).encode()
    plain = plain_request(raw, HEADS)
    if plain is None:
        return  # the validated path takes it: nothing to compare
    validated = _validated(raw)
    try:
        matrix = _bounded(plain[0], MAX_ROWS)  # the row and value checks both paths share
    except (V2Error, InputError):
        assert validated is None, "the validated path accepts what the shared checks refuse"
        return
    assert validated is not None, "plain path accepted what the validated path refuses"
    assert np.array_equal(matrix, validated[0]) and matrix.shape == validated[0].shape
    assert plain[1] == validated[1]


def test_booleans_never_pass_for_numbers() -> None:
    doc = {"inputs": [_tensor(c, [True]) for c in COLS]}
    raw = json.dumps(doc).encode()
    assert plain_request(raw, HEADS) is None and _validated(raw) is None


def test_a_tensor_with_any_other_key_takes_the_validated_path() -> None:
    """Only name, datatype, shape and data are read: a fifth key (allowed `parameters`, or an unknown one the
    validated path refuses) must not be ignored by the plain path."""
    for key, value in (("parameters", {"content_type": "np"}), ("extra", 1)):
        doc = {"inputs": [_tensor(c, [1.0]) for c in COLS]}
        doc["inputs"][1][key] = value
        assert plain_request(json.dumps(doc).encode(), HEADS) is None


def test_only_json_numbers_pass_for_values() -> None:
    """Strings, nulls, booleans and nested lists take the validated path (which refuses them), whatever
    numpy would make of them."""
    for value in ("1.5", None, True, False, [1.0], {"v": 1}):
        doc = {"inputs": [_tensor(c, [1.0, 2.0]) for c in COLS]}
        doc["inputs"][2]["data"][1] = value
        raw = json.dumps(doc).encode()
        assert plain_request(raw, HEADS) is None and _validated(raw) is None, value


def test_a_feature_named_like_a_json_literal_takes_the_plain_path() -> None:
    heads = TensorHeads(("true", "false", "null"), ("FP64", "FP64", "INT64"))
    doc = {
        "inputs": [
            {"name": n, "shape": [1], "datatype": d, "data": [1.0]} for n, d in zip(*heads, strict=True)
        ]
    }
    plain = plain_request(json.dumps(doc).encode(), heads)
    assert plain is not None and plain[0].tolist() == [[1.0, 1.0, 1.0]]


def test_numbers_at_float64s_edges_agree_and_overflow_leaves_the_plain_path() -> None:
    """msgspec refuses what overflows float64 (the plain path then steps aside); what it parses, both paths
    read alike, and both refuse values out of the features' range."""
    for edge, in_range in (("1e15", True), ("-1e15", True), (str(2**63), False), ("9" * 300, False)):
        raw = json.dumps({"inputs": [_tensor(c, [0.5]) for c in COLS]}).replace("0.5", edge, 1).encode()
        plain = plain_request(raw, HEADS)
        assert plain is not None and plain[0][0, 0] == float(edge), edge
        validated = _validated(raw)
        if in_range:
            assert validated is not None and np.array_equal(_bounded(plain[0], MAX_ROWS), validated[0]), edge
        else:
            assert validated is None, edge
            with pytest.raises(InputError):
                _bounded(plain[0], MAX_ROWS)
    for overflow in ("1e400", "-1e400", "9" * 400, "1.8e308"):
        raw = json.dumps({"inputs": [_tensor(c, [0.5]) for c in COLS]}).replace("0.5", overflow, 1).encode()
        assert plain_request(raw, HEADS) is None and _validated(raw) is None, overflow


def test_one_row_is_read_as_a_c_ordered_row_like_the_validated_path() -> None:
    doc = {"inputs": [_tensor(c, [v]) for c, v in zip(COLS, (0.1, -7, 2.5e-3), strict=True)]}
    raw = json.dumps(doc).encode()
    plain = plain_request(raw, HEADS)
    validated = _validated(raw)
    assert plain is not None and validated is not None
    assert plain[0].tolist() == validated[0].tolist() == [[0.1, -7.0, 2.5e-3]]
    assert plain[0].flags.c_contiguous and plain[0].dtype == np.float64 and plain[1] is None


def test_escaped_and_non_ascii_names_are_matched_after_decoding() -> None:
    """The signature's names are compared as decoded strings: a client escaping them (or not) is the same."""
    heads = TensorHeads(("mean radius", "größe"), ("FP64", "FP64"))
    doc = {"inputs": [{"name": n, "shape": [1], "datatype": "FP64", "data": [1.0]} for n in heads.names]}
    for raw in (json.dumps(doc).encode(), json.dumps(doc, ensure_ascii=False).encode()):
        escaped = raw.replace(b"mean radius", b"mean\\u0020radius")
        for body in (raw, escaped):
            plain = plain_request(body, heads)
            assert plain is not None and plain[0].tolist() == [[1.0, 1.0]], body


def test_duplicate_keys_read_as_the_validated_path_reads_them() -> None:
    """JSON leaves duplicate keys to the parser: where the plain path takes such a body, it must read the
    same matrix as the validated path (the last value wins in both), or step aside."""
    one = json.dumps({"inputs": [_tensor(c, [1.0]) for c in COLS]})
    bodies = [
        one.replace('"data": [1.0]', '"data": [9.0], "data": [1.0]', 1),
        one.replace('"data": [1.0]', '"data": [1.0], "data": [2.0]', 1),
        one.replace('"name": "a"', '"name": "b", "name": "a"', 1),
        '{"inputs": [], ' + one[1:],
        one[:-1] + ', "id": "x", "id": "y"}',
    ]
    taken = 0
    for body in bodies:
        raw = body.encode()
        plain, validated = plain_request(raw, HEADS), _validated(raw)
        if plain is None:
            continue
        taken += 1
        assert validated is not None, body
        assert np.array_equal(plain[0], validated[0]) and plain[1] == validated[1], body
    assert taken > 0, "no duplicate-key body took the plain path: the test compared nothing"


def test_anything_but_the_signatures_tensors_in_order_steps_aside() -> None:
    """Wrong order, another datatype, a shape of [rows, 1], an output list: the validated path's to judge."""
    base = {"inputs": [_tensor(c, [1.0]) for c in COLS]}
    variants: list[dict[str, Any]] = [
        {"inputs": base["inputs"][::-1]},
        {"inputs": [{**t, "datatype": "FP32"} for t in base["inputs"]]},
        {"inputs": [{**t, "shape": [1, 1]} for t in base["inputs"]]},
        {"inputs": [{**t, "shape": [2]} for t in base["inputs"]]},
        {**base, "outputs": [{"name": "predict"}]},
        {"inputs": base["inputs"][:2]},
    ]
    for doc in variants:
        assert plain_request(json.dumps(doc).encode(), HEADS) is None, doc
    assert plain_request(b'{"inputs": [' + b"1" * 10 + b"}", HEADS) is None  # not JSON at all
