"""Preflight of the e2e run: each failing condition yields a message naming its fix; version parsing.

Unit tests only: docker, kind, the Pulumi CLI and kubectl are replaced by a scripted test double of the
command Runner, /proc by a fake file reader and host ports by a fake prober.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from devloop.process import port_free
from e2e.preflight import (
    KIND_NODE_MIB,
    MIN_AVAILABLE_MIB,
    PreflightFailed,
    Requirements,
    Status,
    parse_version,
    preflight,
    run_checks,
)
from infra.mlops_platform import DEV_BUDGET
from tests.e2e.doubles import ScriptedRunner, healthy_machine, ports, proc_files, reader

REQ = Requirements(host_ports=(5000, 8000, 3000, 9090), cluster_name="mlops-e2e")


def failures(
    runner: ScriptedRunner, files: dict[Path, str] | None = None, busy: set[int] | None = None
) -> dict[str, str]:
    """name -> "detail | fix" of every failing check."""
    checks = run_checks(runner, reader(files or proc_files()), ports(busy), REQ)
    return {c.name: f"{c.detail} | {c.fix}" for c in checks if c.status is Status.FAIL}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kind v0.27.0 go1.23.6 linux/amd64", (0, 27, 0)),
        ("kind v0.29.0 go1.24.2 linux/amd64\n", (0, 29, 0)),
        ("v3.140.0\n", (3, 140, 0)),
        ("v3.141.0-alpha.x1234\n", (3, 141, 0)),
        ("3.272.0", (3, 272, 0)),
        ("no version here", None),
        ("", None),
    ],
)
def test_version_is_the_first_semver_word(text, expected):
    assert parse_version(text) == expected


def test_a_ready_machine_passes_every_check():
    checks = preflight(healthy_machine(), reader(proc_files()), ports(), REQ, echo=lambda _line: None)
    assert {c.status for c in checks} == {Status.OK}
    assert [c.name for c in checks][-4:] == [f"port 127.0.0.1:{p}" for p in (5000, 8000, 3000, 9090)]


def test_missing_docker_names_the_install_page():
    found = failures(healthy_machine().missing("docker"))
    assert "docs.docker.com/engine/install" in found["docker"]


def test_unreachable_docker_daemon_names_how_to_start_it():
    runner = healthy_machine().on(
        "docker",
        "info",
        returncode=1,
        stderr="Cannot connect to the Docker daemon at unix:///var/run/docker.sock",
    )
    found = failures(runner)
    assert "Cannot connect to the Docker daemon" in found["docker"]
    assert "sudo systemctl start docker" in found["docker"]


def test_old_kind_names_the_minimum_and_where_to_get_it():
    found = failures(healthy_machine().on("kind", "version", stdout="kind v0.26.0 go1.23.4 linux/amd64"))
    assert "0.26.0 is older than 0.27.0" in found["kind"]
    assert "install kind >= 0.27.0" in found["kind"]


def test_missing_kind_is_reported_and_the_cluster_check_is_skipped_not_failed():
    runner = healthy_machine().missing("kind")
    found = failures(runner)
    assert "kind not found on PATH" in found["kind"]
    assert "existing cluster" not in found


def test_old_pulumi_names_the_minimum_and_the_installer():
    found = failures(healthy_machine().on("pulumi", "version", stdout="v3.139.2"))
    assert "3.139.2 is older than 3.140.0" in found["pulumi"]
    assert "get.pulumi.com" in found["pulumi"]


def test_unreadable_pulumi_version_is_a_failure_not_a_pass():
    found = failures(healthy_machine().on("pulumi", "version", stdout="garbled"))
    assert "cannot read the version" in found["pulumi"]


def test_missing_kubectl_names_the_install_page():
    found = failures(healthy_machine().missing("kubectl"))
    assert "kubernetes.io/docs/tasks/tools" in found["kubectl"]


def test_an_existing_cluster_of_the_same_name_names_the_delete_command():
    found = failures(healthy_machine().on("kind", "get", "clusters", stdout="mlops\nmlops-e2e\n"))
    assert "kind delete cluster --name mlops-e2e" in found["existing cluster"]


def test_other_kind_clusters_do_not_matter():
    assert failures(healthy_machine().on("kind", "get", "clusters", stdout="mlops\nmlops-e2e-old\n")) == {}


def test_too_little_memory_names_the_need_and_the_fix():
    found = failures(healthy_machine(), files=proc_files(available_kib=4 * 1024 * 1024))
    assert "4096 MiB available, need >= 6144 MiB" in found["memory"]
    assert "free memory" in found["memory"]


def test_no_meminfo_skips_the_memory_check():
    files = proc_files()
    del files[next(p for p in files if p.name == "meminfo")]
    checks = run_checks(healthy_machine(), reader(files), ports(), REQ)
    assert next(c for c in checks if c.name == "memory").status is Status.SKIP


def test_low_inotify_watches_names_the_sysctl():
    found = failures(healthy_machine(), files=proc_files(watches=8192))
    assert "8192 < 524288" in found["fs.inotify.max_user_watches"]
    assert "sudo sysctl fs.inotify.max_user_watches=524288" in found["fs.inotify.max_user_watches"]


def test_low_inotify_instances_names_the_sysctl():
    found = failures(healthy_machine(), files=proc_files(instances=128))
    assert "sudo sysctl fs.inotify.max_user_instances=512" in found["fs.inotify.max_user_instances"]


def test_a_busy_host_port_is_named_with_how_to_find_its_owner():
    found = failures(healthy_machine(), busy={5000, 9090})
    assert set(found) == {"port 127.0.0.1:5000", "port 127.0.0.1:9090"}
    assert "ss -ltnp 'sport = :5000'" in found["port 127.0.0.1:5000"]


def test_every_failure_is_reported_at_once_with_its_fix():
    runner = (
        healthy_machine().missing("pulumi").on("kind", "version", stdout="kind v0.20.0 go1.20 linux/amd64")
    )
    lines: list[str] = []
    with pytest.raises(PreflightFailed) as failed:
        preflight(runner, reader(proc_files(instances=128)), ports({8000}), REQ, echo=lines.append)
    names = [c.name for c in failed.value.failures]
    assert names == ["kind", "pulumi", "fs.inotify.max_user_instances", "port 127.0.0.1:8000"]
    message = str(failed.value)
    assert message.startswith("4 check(s) failed:\n")
    assert "  - kind: 0.20.0 is older than 0.27.0 -> fix: install kind" in message
    assert "-> fix: sudo sysctl fs.inotify.max_user_instances=512" in message
    # The report shows passing checks too, so a reader sees what was looked at.
    assert any(line.strip().startswith("[  ok] docker") for line in lines)
    assert any("[FAIL] pulumi" in line for line in lines)


def test_memory_floor_covers_the_published_footprint_plus_the_kind_node():
    assert DEV_BUDGET.memory_request_mi + KIND_NODE_MIB <= MIN_AVAILABLE_MIB


def test_port_free_sees_a_real_listener():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not port_free("127.0.0.1", port)
    assert port_free("127.0.0.1", port)
