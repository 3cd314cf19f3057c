"""Property-based bad input: whatever JSON arrives, the server answers < 500 and never echoes values."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.serving.app import create_app
from services.serving.settings import Settings
from tests.services.conftest import MemoryLoader, TinyModel, wait_for

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.integers(min_value=-(10**400), max_value=10**400),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=10), inner, max_size=6),
    max_leaves=40,
)
rowish = st.lists(
    st.lists(st.one_of(st.floats(allow_nan=False), st.integers(), st.text(max_size=3)), max_size=6),
    max_size=5,
)
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"rows": json_values}),
    st.fixed_dictionaries({"rows": rowish}),
    st.fixed_dictionaries(
        {
            "rows": st.lists(
                st.dictionaries(
                    st.sampled_from(
                        [
                            "sepal length (cm)",
                            "sepal width (cm)",
                            "petal length (cm)",
                            "petal width (cm)",
                            "x",
                        ]
                    ),
                    st.floats(allow_nan=False) | st.integers(),
                    max_size=5,
                ),
                min_size=1,
                max_size=4,
            )
        }
    ),
)


def test_no_input_produces_a_server_error_or_a_null_prediction(tiny_model: TinyModel) -> None:
    app = create_app(
        Settings(reload_interval_seconds=60, max_body_bytes=65536), MemoryLoader(model=tiny_model)
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200)

        @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(body=bodies)
        def check(body: object) -> None:
            raw = json.dumps(body).encode()
            response = client.post("/v1/predict", content=raw, headers={"content-type": "application/json"})
            assert response.status_code < 500, (body, response.text)
            if response.status_code == 200:
                payload = response.json()
                assert None not in payload["predictions"]
                assert len(payload["predictions"]) == len(body["rows"])  # type: ignore[index]

        check()
        raw_bytes = st.binary(max_size=200)

        @settings(max_examples=100, deadline=None)
        @given(raw=raw_bytes)
        def check_bytes(raw: bytes) -> None:
            response = client.post("/v1/predict", content=raw, headers={"content-type": "application/json"})
            assert response.status_code < 500

        check_bytes()
