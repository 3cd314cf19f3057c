"""The REST registry client and the settings that configure it, against a real `mlflow server`."""

from __future__ import annotations

import base64
import contextlib
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import mlflow
import mlflow.sklearn
import pytest
from mlflow import MlflowClient
from sklearn.datasets import load_breast_cancer

from mlops_contract.mlmodel import ModelFormatError
from mlops_contract.names import CHAMPION_ALIAS, Env
from services.serving.loader import MlflowLoader
from services.serving.registry import Connection, NotFound, RegistryClient, RegistryError
from services.serving.settings import SettingsError, load_settings
from tests.services.conftest import TinyModel
from training.config import TrainConfig
from training.train import TrainResult, train

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trained(mlflow_server: str) -> TrainResult:
    return train(
        TrainConfig(tracking_uri=mlflow_server, model_name="registry-client"), report=lambda _l: None
    )


def test_alias_resolves_to_the_version_mlflow_reports(mlflow_server: str, trained: TrainResult) -> None:
    client = RegistryClient(Connection(mlflow_server))
    version = client.model_version_by_alias("registry-client", CHAMPION_ALIAS)
    expected = MlflowClient(tracking_uri=mlflow_server).get_model_version_by_alias(
        "registry-client", CHAMPION_ALIAS
    )
    assert (version.version, version.run_id) == (str(expected.version), expected.run_id)
    assert version.creation_timestamp_ms == expected.creation_timestamp


def test_missing_alias_model_and_artifact_carry_mlflow_error(
    mlflow_server: str, trained: TrainResult
) -> None:
    client = RegistryClient(Connection(mlflow_server))
    # MLflow answers a missing alias with 400 INVALID_PARAMETER_VALUE, the rest with 404.
    with pytest.raises(RegistryError, match=r"INVALID_PARAMETER_VALUE: .*alias no-such-alias not found"):
        client.model_version_by_alias("registry-client", "no-such-alias")
    with pytest.raises(NotFound, match="RESOURCE_DOES_NOT_EXIST: Registered Model with name=no-such-model"):
        client.model_version_by_alias("no-such-model", CHAMPION_ALIAS)
    root = client.run_artifact_uri(trained.run_id)
    with pytest.raises(NotFound, match="No such artifact"):
        client.read_artifact(root, "no-such-file.json")
    with pytest.raises(NotFound, match=r"Run with id=0+ not found"):
        client.run_artifact_uri("0" * 32)


def test_loader_reads_model_signature_and_profile(mlflow_server: str, trained: TrainResult) -> None:
    loader = MlflowLoader(Connection(mlflow_server))
    ref = loader.resolve("registry-client", CHAMPION_ALIAS)
    model = loader.load(ref)
    assert model.ref.version == trained.model_version
    assert model.profile is not None and model.profile.feature_names == list(model.feature_names)
    assert len(model.feature_names) == 30 and model.signature is not None
    # The same estimator MLflow's own loader rebuilds: identical probabilities.
    rows = load_breast_cancer().data[:50]
    mlflow.set_tracking_uri(mlflow_server)
    reference = mlflow.sklearn.load_model(f"models:/registry-client/{trained.model_version}")
    predictions, probabilities = model.predict(rows)
    assert predictions == reference.predict(rows).tolist()
    assert probabilities == reference.predict_proba(rows).tolist()


def test_a_pickled_version_is_refused(mlflow_server: str, tiny_model: TinyModel) -> None:
    mlflow.set_tracking_uri(mlflow_server)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            tiny_model.estimator,
            name="model",
            serialization_format="cloudpickle",
            registered_model_name="registry-pickled",
        )
    MlflowClient(tracking_uri=mlflow_server).set_registered_model_alias(
        "registry-pickled", CHAMPION_ALIAS, info.registered_model_version
    )
    loader = MlflowLoader(Connection(mlflow_server))
    with pytest.raises(ModelFormatError, match="serialization_format is 'cloudpickle'"):
        loader.load(loader.resolve("registry-pickled", CHAMPION_ALIAS))


def test_direct_store_uris_are_refused_with_the_reason(mlflow_server: str) -> None:
    client = RegistryClient(Connection(mlflow_server))
    with pytest.raises(RegistryError, match="artifact proxy"):
        client.read_artifact("s3://bucket/models/m-1/artifacts", "MLmodel")


def test_unreachable_server_is_a_registry_error_not_a_hang() -> None:
    client = RegistryClient(Connection("http://127.0.0.1:9", timeout_seconds=2))
    with pytest.raises(RegistryError, match=r"GET /api/2.0/mlflow/registered-models/alias: ConnectError"):
        client.model_version_by_alias("m", CHAMPION_ALIAS)


class _Recorder(BaseHTTPRequestHandler):
    """Answers 401 and remembers the Authorization header it was sent."""

    seen: list[str | None] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.headers.get("Authorization"))
        body = b'{"error_code": "UNAUTHENTICATED", "message": "bad credentials"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[str | None]]]:
    with _recording() as port:
        yield f"http://127.0.0.1:{port}", _Recorder.seen


@contextlib.contextmanager
def _recording(tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """A fresh _Recorder on a free port (behind TLS if given) for the duration; yields the port."""
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def test_credentials_come_from_mlflow_variables_and_never_reach_messages(
    recorder: tuple[str, list[str | None]],
) -> None:
    url, seen = recorder
    settings = load_settings(
        {Env.TRACKING_URI: url, Env.TRACKING_USERNAME: "svc", Env.TRACKING_PASSWORD: "s3cret"}
    )
    with pytest.raises(RegistryError) as caught:
        RegistryClient(settings.connection()).model_version_by_alias("m", CHAMPION_ALIAS)
    assert "HTTP 401 (UNAUTHENTICATED: bad credentials)" in str(caught.value)
    assert "s3cret" not in str(caught.value) + repr(settings) + repr(settings.connection())
    assert seen[-1] == "Basic " + base64.b64encode(b"svc:s3cret").decode()

    token = load_settings({Env.TRACKING_URI: url, Env.TRACKING_USERNAME: "svc", Env.TRACKING_TOKEN: "tok"})
    with pytest.raises(RegistryError):
        RegistryClient(token.connection()).model_version_by_alias("m", CHAMPION_ALIAS)
    assert seen[-1] == "Bearer tok"


@pytest.fixture
def tls_recorder(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The recorder behind TLS with a fresh self-signed certificate for 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
    subprocess.run(
        [
            "openssl",
            *request,
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with _recording(context) as port:
        yield f"https://127.0.0.1:{port}", cert


def test_tls_is_verified_against_the_configured_ca_or_skipped_when_told(
    tls_recorder: tuple[str, Path],
) -> None:
    url, cert = tls_recorder

    def call(extra: dict[str, str]) -> str:
        settings = load_settings({Env.TRACKING_URI: url, **extra})
        with pytest.raises(RegistryError) as caught:
            RegistryClient(settings.connection()).model_version_by_alias("m", CHAMPION_ALIAS)
        return str(caught.value)

    assert "CERTIFICATE_VERIFY_FAILED" in call({})
    assert "HTTP 401" in call({Env.TRACKING_CA_BUNDLE: str(cert)})
    assert "HTTP 401" in call({Env.TRACKING_INSECURE_TLS: "true"})


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({Env.TRACKING_URI: "file:///tmp/mlruns"}, Env.TRACKING_URI),
        ({Env.TRACKING_URI: "databricks"}, Env.TRACKING_URI),
        ({Env.TRUSTED_TYPES: "not a type"}, Env.TRUSTED_TYPES),
        ({Env.HTTP_REQUEST_TIMEOUT: "0"}, Env.HTTP_REQUEST_TIMEOUT),
        ({Env.TRACKING_CA_BUNDLE: "/no/such/ca.pem"}, Env.TRACKING_CA_BUNDLE),
    ],
)
def test_bad_registry_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=f"^{variable}: "):
        load_settings(env)


def test_trusted_types_extend_the_platform_defaults() -> None:
    settings = load_settings({Env.TRUSTED_TYPES: "mypkg.features.Clipper, other.Thing"})
    assert settings.trusted_types[-2:] == ("mypkg.features.Clipper", "other.Thing")
    assert "sklearn.tree._tree.Tree" in settings.trusted_types


def test_serving_without_a_tracking_uri_exits_2_naming_it(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "services.serving"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {Env.TRACKING_URI}: required")
    assert "Traceback" not in result.stderr


def test_loading_a_model_never_imports_mlflow(mlflow_server: str, trained: TrainResult) -> None:
    """Guards the start-up budget (docs/serving.md); the serving image test checks mlflow is not even installed."""
    script = (
        "import sys\n"
        "from services.serving.__main__ import main\n"
        "from services.serving.loader import MlflowLoader\n"
        "from services.serving.registry import Connection\n"
        f"loader = MlflowLoader(Connection({mlflow_server!r}))\n"
        "model = loader.load(loader.resolve('registry-client', 'champion'))\n"
        "print(model.ref.version, sorted({m.split('.')[0] for m in sys.modules} & {'mlflow'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [trained.model_version, "[]"]
