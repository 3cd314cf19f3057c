"""A small real model and an in-memory loader (unit tests only: the registry side is covered by integration)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from mlops_contract.profile import build_profile
from services.serving.app import create_app
from services.serving.model import LoadedModel, VersionRef
from services.serving.settings import Settings


@dataclass(frozen=True)
class TinyModel:
    """Iris logistic regression: real sklearn, trains in milliseconds."""

    estimator: Pipeline
    features: pd.DataFrame

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self.features.columns)


@pytest.fixture(scope="session")
def tiny_model() -> TinyModel:
    data = load_iris(as_frame=True)
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(data.data, data.target)
    return TinyModel(estimator=estimator, features=data.data)


@dataclass
class MemoryLoader:
    """Registry stand-in: tests move `alias_version`, make versions fail to load, or take the registry down."""

    model: TinyModel
    alias_version: str = "1"
    registry_up: bool = True
    broken_versions: set[str] = field(default_factory=set)
    input_example: dict[str, Any] | None = None
    loads: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def resolve(self, name: str, alias: str) -> VersionRef:
        if not self.registry_up:
            raise ConnectionError("registry unreachable")
        return VersionRef(name, self.alias_version, alias, f"run-{self.alias_version}", time.time() - 3600)

    def load(self, ref: VersionRef) -> LoadedModel:
        with self.lock:
            self.loads.append(ref.version)
        if ref.version in self.broken_versions:
            raise OSError(f"artifact for version {ref.version} is corrupt")
        names = self.model.names
        return LoadedModel(
            ref=ref,
            estimator=self.model.estimator,
            feature_names=names,
            loaded_at=time.time(),
            profile=build_profile(self.model.features.to_numpy(), names),
            signature={"inputs": "..."},
            input_example=self.input_example,
        )


@pytest.fixture
def loader(tiny_model: TinyModel) -> MemoryLoader:
    return MemoryLoader(model=tiny_model)


@pytest.fixture
def settings() -> Settings:
    return Settings(
        reload_interval_seconds=0.05, retry_initial_seconds=0.02, max_batch_rows=50, max_body_bytes=4096
    )


@pytest.fixture
def client_factory(settings: Settings) -> Iterator[Callable[[MemoryLoader], TestClient]]:
    clients: list[TestClient] = []

    def make(loader: MemoryLoader) -> TestClient:
        client = TestClient(create_app(settings, loader))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def scrape(client: TestClient) -> str:
    """What the metrics listener (services/serving/metrics_server.py) would serve for this app."""
    return generate_latest(client.app.state.metrics.registry).decode()  # type: ignore[attr-defined]


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def in_distribution_rows(model: TinyModel, n: int, seed: int = 0) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    picked = model.features.to_numpy()[rng.integers(0, len(model.features), size=n)]
    return picked.tolist()
