"""Every Job pod of the platform is built by infra.components.job_pod, so every one is the same restricted
run-to-completion pod."""

from __future__ import annotations

import pulumi_kubernetes as k8s
import pytest

from infra.components.job_pod import JobContainer, job_pod_spec
from infra.components.pod_security import Resources, tmp_dir, writable_dir
from infra.render import MockedStack
from mlops_contract.names import CONTAINER_TMP_DIR
from tests.infra.conftest import pod_spec

JOB_KINDS = frozenset({"Job", "CronJob"})


def test_every_job_pod_runs_once_without_a_token_and_writes_only_to_its_tmp(stack: MockedStack) -> None:
    jobs = [m for m in stack.manifests() if m["kind"] in JOB_KINDS]
    names = {m["metadata"]["name"] for m in jobs}
    assert {
        "mlflow-identities",
        "training-bootstrap",
        "training-retrain",
        "mlflow-backup",
        "mlflow-gc",
    } <= names
    assert any(name.startswith("mlflow-db-upgrade-") for name in names)
    for job in jobs:
        where = f"{job['kind']}/{job['metadata']['name']}"
        spec = pod_spec(job)
        assert spec["restartPolicy"] == "Never", where
        assert spec["automountServiceAccountToken"] is False, where
        (container,) = spec["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, where
        tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == CONTAINER_TMP_DIR)
        volume = next(v for v in spec["volumes"] if v["name"] == tmp["name"])
        assert "sizeLimit" in volume["emptyDir"], where
        # Each mount names a volume of the pod, each volume is mounted.
        assert [m["name"] for m in container["volumeMounts"]] == [v["name"] for v in spec["volumes"]], where


def test_a_job_pod_without_a_writable_tmp_is_refused() -> None:
    container = JobContainer(name="x", image="img:1", resources=Resources(10, 10, 10, 10))
    with pytest.raises(ValueError, match=f"'x'.*{CONTAINER_TMP_DIR}"):
        job_pod_spec("x", container, volumes=[writable_dir("data", "/data")])
    spec = job_pod_spec("x", container, volumes=[writable_dir("data", "/data"), tmp_dir(64)])
    volumes = spec.volumes
    assert isinstance(volumes, list)
    assert [v.name for v in volumes if isinstance(v, k8s.core.v1.VolumeArgs)] == ["data", "tmp"]
