"""The MLflow tracking server's REST API, limited to the read-only calls serving makes.

Why not the mlflow-skinny client: importing `mlflow` (and pandas, which it requires and scikit-learn then
imports too) was about 1.5 s of serving's 3.3 s start, 118 MB of its 497 MB image (databricks-sdk,
opentelemetry, gitpython, cryptography ...) and 58 MiB of each worker's 229 MiB, all for three GET requests
against MLflow's public, versioned REST API
(https://mlflow.org/docs/latest/api_reference/rest-api.html). Training still uses the MLflow client; the
integration tests run this module against a real `mlflow server` of the version training uses.

Artifacts are read through the server's artifact proxy (`mlflow-artifacts:` URIs, `mlflow server`'s default),
the store the platform deploys; a registry that hands out direct store URIs (s3://, file:) is refused with a
message saying so.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

API = "/api/2.0/mlflow"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"
PROXIED_SCHEME = "mlflow-artifacts"


def is_http_url(uri: str) -> bool:
    """What a tracking URI must be for this client: http(s) with a host."""
    parts = urlsplit(uri)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


class RegistryError(RuntimeError):
    """A failed registry call; the message names the request and MLflow's error, never a credential."""


class NotFound(RegistryError):
    """The alias, version, run or artifact does not exist (HTTP 404)."""


@dataclass(frozen=True)
class Connection:
    """How to reach the tracking server (serving's Settings builds it from MLflow's own variables)."""

    tracking_uri: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    """Bearer token; takes precedence over username/password, as in MLflow's client."""
    verify: bool | str = True
    """TLS verification: True, False, or a CA bundle path."""
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class ModelVersion:
    """The fields of an MLflow ModelVersion that serving uses."""

    name: str
    version: str
    run_id: str
    creation_timestamp_ms: int


class RegistryClient:
    """Synchronous client for one tracking server. The watcher calls it from a worker thread."""

    def __init__(self, connection: Connection) -> None:
        if not is_http_url(connection.tracking_uri):
            raise RegistryError(f"tracking URI must be an http(s) URL, got {connection.tracking_uri!r}")
        self._base = connection.tracking_uri.rstrip("/")
        self._netloc = urlsplit(connection.tracking_uri).netloc.lower()
        auth: httpx.Auth | None = None
        headers: dict[str, str] = {}
        if connection.token:
            headers["Authorization"] = f"Bearer {connection.token}"
        elif connection.username:
            auth = httpx.BasicAuth(connection.username, connection.password or "")
        verify: bool | ssl.SSLContext = (
            connection.verify
            if isinstance(connection.verify, bool)
            else (ssl.create_default_context(cafile=connection.verify))
        )
        self._http = httpx.Client(
            auth=auth, headers=headers, verify=verify, timeout=connection.timeout_seconds
        )

    def model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """`GET registered-models/alias`: the version an alias points to."""
        body = self._json(f"{API}/registered-models/alias", {"name": name, "alias": alias})
        version = body.get("model_version") or {}
        return ModelVersion(
            name=str(version.get("name", name)),
            version=str(version["version"]),
            run_id=str(version.get("run_id") or ""),
            creation_timestamp_ms=int(version.get("creation_timestamp") or 0),
        )

    def model_version_artifact_uri(self, name: str, version: str) -> str:
        """`GET model-versions/get-download-uri`: where the version's model files are."""
        return str(
            self._json(f"{API}/model-versions/get-download-uri", {"name": name, "version": version})[
                "artifact_uri"
            ]
        )

    def run_artifact_uri(self, run_id: str) -> str:
        """`GET runs/get`: the run's artifact root."""
        return str(self._json(f"{API}/runs/get", {"run_id": run_id})["run"]["info"]["artifact_uri"])

    def read_artifact(self, artifact_uri: str, path: str) -> bytes:
        """One file under an artifact root, through the server's artifact proxy."""
        url = self._artifact_url(artifact_uri, path)
        response = self._get(url, None)
        return response.content

    def _artifact_url(self, artifact_uri: str, path: str) -> str:
        parts = urlsplit(artifact_uri)
        if parts.scheme != PROXIED_SCHEME:
            raise RegistryError(
                f"artifact location {artifact_uri!r} is not served by the tracking server: serving reads "
                "artifacts through MLflow's artifact proxy (run `mlflow server` with --serve-artifacts, "
                "the default, and a `mlflow-artifacts:` artifact root)"
            )
        # `mlflow-artifacts://host:port/path` names a server; `mlflow-artifacts:/path` means this one. The
        # credentials go with every request, so a URI naming any other host (a registry entry anyone with
        # write access could craft) is refused rather than sent our password.
        if parts.netloc and parts.netloc.lower() != self._netloc:
            raise RegistryError(
                f"artifact location names the host {parts.hostname!r}, not the tracking server "
                f"{urlsplit(self._base).hostname!r}: serving sends its credentials only to the latter"
            )
        base = self._base
        relative = "/".join(p for p in (parts.path.strip("/"), path.strip("/")) if p)
        return f"{base}{ARTIFACTS_API}/{quote(relative)}"

    def _json(self, endpoint: str, params: dict[str, str]) -> dict[str, Any]:
        response = self._get(f"{self._base}{endpoint}", params)
        try:
            body = response.json()
        except ValueError:
            raise RegistryError(f"GET {endpoint}: the response is not JSON") from None
        if not isinstance(body, dict):
            raise RegistryError(f"GET {endpoint}: unexpected response shape")
        return body

    def _get(self, url: str, params: dict[str, str] | None) -> httpx.Response:
        endpoint = urlsplit(url).path
        try:
            response = self._http.get(url, params=params)
        except httpx.HTTPError as exc:
            raise RegistryError(f"GET {endpoint}: {type(exc).__name__}: {exc}") from None
        if response.status_code == httpx.codes.OK:
            return response
        detail = _mlflow_error(response)
        if response.status_code == httpx.codes.NOT_FOUND:
            raise NotFound(f"GET {endpoint}: not found{detail}")
        raise RegistryError(f"GET {endpoint}: HTTP {response.status_code}{detail}")


def _mlflow_error(response: httpx.Response) -> str:
    """MLflow's `{"error_code", "message"}` body, shortened; empty if the body is something else."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict) or "error_code" not in body:
        return ""
    message = str(body.get("message", ""))[:200]
    return f" ({body['error_code']}: {message})"
