"""Leftover check after teardown: each kind of leftover is reported with the command that removes it.

Unit tests only: kind, kubectl and docker are replaced by a scripted test double of the command Runner.
"""

from __future__ import annotations

from pathlib import Path

from e2e.leftovers import find_leftovers
from tests.e2e.doubles import ScriptedRunner

STACK_FILE = Path("/repo/Pulumi.e2e-20250131-184501.yaml")
LABEL = "label=io.x-k8s.kind.cluster=mlops-e2e"


def clean() -> ScriptedRunner:
    """A machine where teardown removed everything (other clusters and contexts are not ours)."""
    return (
        ScriptedRunner()
        .on("kind", "get", "clusters", stdout="mlops\n")
        .on("kubectl", "config", "get-contexts", stdout="kind-mlops\nprod\n")
        .on("docker", "ps", stdout="")
        .on("docker", "volume", "ls", stdout="")
    )


def leftovers(runner: ScriptedRunner, stack_file_exists: bool = False) -> dict[str, str]:
    found = find_leftovers(runner, "mlops-e2e", STACK_FILE, exists=lambda _path: stack_file_exists)
    return {item.what: item.line() for item in found}


def test_a_clean_machine_has_no_leftovers():
    runner = clean()
    assert leftovers(runner) == {}
    assert runner.argvs() == [
        ("kind", "get", "clusters"),
        ("kubectl", "config", "get-contexts", "-o", "name"),
        ("docker", "ps", "-a", "--filter", LABEL, "--format", "{{.Names}}"),
        ("docker", "volume", "ls", "--filter", LABEL, "--format", "{{.Name}}"),
    ]


def test_a_remaining_kind_cluster_names_kind_delete():
    found = leftovers(clean().on("kind", "get", "clusters", stdout="mlops\nmlops-e2e\n"))
    assert list(found) == ["kind cluster"]
    assert "kind delete cluster --name mlops-e2e" in found["kind cluster"]


def test_a_remaining_kube_context_names_kubectl_config_delete():
    found = leftovers(clean().on("kubectl", "config", "get-contexts", stdout="kind-mlops\nkind-mlops-e2e\n"))
    assert list(found) == ["kube context"]
    assert "kubectl config delete-context kind-mlops-e2e" in found["kube context"]


def test_remaining_containers_are_named_with_docker_rm():
    found = leftovers(clean().on("docker", "ps", stdout="mlops-e2e-control-plane\n"))
    assert list(found) == ["docker container"]
    assert "docker rm -f mlops-e2e-control-plane" in found["docker container"]


def test_remaining_volumes_are_named_with_docker_volume_rm():
    found = leftovers(clean().on("docker", "volume", "ls", stdout="3f2a9c\n7bd01e\n"))
    assert list(found) == ["docker volume"]
    assert "docker volume rm 3f2a9c 7bd01e" in found["docker volume"]


def test_a_remaining_stack_file_is_reported():
    found = leftovers(clean(), stack_file_exists=True)
    assert list(found) == ["stack config file"]
    assert f"rm {STACK_FILE}" in found["stack config file"]


def test_a_check_that_cannot_run_is_not_taken_as_clean():
    found = leftovers(clean().on("docker", "ps", returncode=1, stderr="Cannot connect to the Docker daemon"))
    assert list(found) == ["docker container (unchecked)"]
    assert "Cannot connect to the Docker daemon" in found["docker container (unchecked)"]


def test_everything_left_is_reported_together():
    runner = (
        ScriptedRunner()
        .on("kind", "get", "clusters", stdout="mlops-e2e\n")
        .on("kubectl", "config", "get-contexts", stdout="kind-mlops-e2e\n")
        .on("docker", "ps", stdout="mlops-e2e-control-plane\n")
        .on("docker", "volume", "ls", stdout="abc\n")
    )
    assert list(leftovers(runner, stack_file_exists=True)) == [
        "kind cluster",
        "kube context",
        "docker container",
        "docker volume",
        "stack config file",
    ]
