"""Preflight: what the machine needs before anything is created, each failure naming its fix.

Commands go through a Runner and files through a reader, so every condition is testable without the tools.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from e2e.runner import NOT_FOUND, Runner

Version = tuple[int, int, int]
ReadText = Callable[[Path], str]
PortFree = Callable[[str, int], bool]

MIN_KIND: Final[Version] = (0, 27, 0)
MIN_PULUMI: Final[Version] = (3, 140, 0)
# The dev stack requests ~2.5 GiB (infra/mlops_platform.py DEV_BUDGET); the kind node itself (kubelet,
# etcd, API server, CoreDNS) needs about 1 GiB more, and image builds need headroom while they run.
MIN_AVAILABLE_MIB: Final = 6 * 1024
KIND_NODE_MIB: Final = 1024
MIN_INOTIFY_WATCHES: Final = 524288
MIN_INOTIFY_INSTANCES: Final = 512
HOST: Final = "127.0.0.1"

MEMINFO: Final = Path("/proc/meminfo")
INOTIFY_WATCHES: Final = Path("/proc/sys/fs/inotify/max_user_watches")
INOTIFY_INSTANCES: Final = Path("/proc/sys/fs/inotify/max_user_instances")

_VERSION = re.compile(r"(?:^|\s)v?(\d+)\.(\d+)\.(\d+)")

INSTALL_FIXES: Final = {
    "docker": "install Docker Engine (https://docs.docker.com/engine/install/)",
    "kind": "install kind >= {min}: https://kind.sigs.k8s.io/docs/user/quick-start/#installation",
    "pulumi": "install the Pulumi CLI >= {min}: curl -fsSL https://get.pulumi.com | sh",
    "kubectl": "install kubectl: https://kubernetes.io/docs/tasks/tools/#kubectl",
}


class Status(StrEnum):
    """Outcome of one check."""

    OK = "ok"
    FAIL = "FAIL"
    SKIP = "skip"


@dataclass(frozen=True)
class Check:
    """One preflight condition and how it came out."""

    name: str
    """What was checked."""
    status: Status
    """ok, FAIL or skip."""
    detail: str
    """What was found."""
    fix: str = ""
    """How to fix a failure."""

    def line(self) -> str:
        """One report line."""
        fix = f" -> fix: {self.fix}" if self.status is Status.FAIL and self.fix else ""
        return f"[{self.status.value:>4}] {self.name}: {self.detail}{fix}"


class PreflightFailed(RuntimeError):
    """At least one check failed; the message lists each failure with its fix."""

    def __init__(self, failures: Sequence[Check]) -> None:
        self.failures = tuple(failures)
        listing = "\n".join(f"  - {c.name}: {c.detail} -> fix: {c.fix}" for c in failures)
        super().__init__(f"{len(failures)} check(s) failed:\n{listing}")


@dataclass(frozen=True)
class Requirements:
    """Thresholds and names the checks compare against."""

    host_ports: tuple[int, ...]
    """Host ports the kind cluster maps."""
    cluster_name: str
    """kind cluster the run creates (must not exist yet)."""
    min_kind: Version = MIN_KIND
    """Oldest kind."""
    min_pulumi: Version = MIN_PULUMI
    """Oldest Pulumi CLI."""
    min_available_mib: int = MIN_AVAILABLE_MIB
    """MemAvailable floor."""
    min_watches: int = MIN_INOTIFY_WATCHES
    """fs.inotify.max_user_watches floor."""
    min_instances: int = MIN_INOTIFY_INSTANCES
    """fs.inotify.max_user_instances floor."""


def parse_version(text: str) -> Version | None:
    """The first `[v]X.Y.Z` word as a tuple: `kind v0.27.0 go1.23.6 linux/amd64` -> (0, 27, 0)."""
    match = _VERSION.search(text)
    if match is None:
        return None
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def _fmt(version: Version) -> str:
    return ".".join(str(part) for part in version)


def check_docker(runner: Runner) -> Check:
    """The Docker daemon answers (kind runs its node in a container; Pulumi builds the images there)."""
    result = runner.run(["docker", "info", "--format", "{{.ServerVersion}}"])
    if result.returncode == NOT_FOUND:
        return Check("docker", Status.FAIL, "docker not found on PATH", INSTALL_FIXES["docker"])
    if not result.ok:
        reason = (result.stderr or result.stdout).strip().splitlines()
        return Check(
            "docker",
            Status.FAIL,
            f"daemon not reachable ({reason[-1] if reason else f'exit {result.returncode}'})",
            "start the daemon (`sudo systemctl start docker`) and let your user reach it "
            "(`sudo usermod -aG docker $USER`, then log in again)",
        )
    return Check("docker", Status.OK, f"daemon {result.stdout.strip() or 'reachable'}")


def check_version(runner: Runner, tool: str, argv: Sequence[str], minimum: Version) -> Check:
    """`tool` is on PATH and reports a version >= minimum."""
    fix = INSTALL_FIXES[tool].format(min=_fmt(minimum))
    result = runner.run(argv)
    if result.returncode == NOT_FOUND:
        return Check(tool, Status.FAIL, f"{tool} not found on PATH", fix)
    found = parse_version(result.stdout) if result.ok else None
    if found is None:
        output = (result.stdout or result.stderr).strip()[:80]
        return Check(tool, Status.FAIL, f"cannot read the version from `{' '.join(argv)}`: {output!r}", fix)
    if found < minimum:
        return Check(tool, Status.FAIL, f"{_fmt(found)} is older than {_fmt(minimum)}", fix)
    return Check(tool, Status.OK, _fmt(found))


def check_kubectl(runner: Runner) -> Check:
    """kubectl is present (the run reads Secrets and collects diagnostics with it)."""
    result = runner.run(["kubectl", "version", "--client"])
    if not result.ok:
        return Check("kubectl", Status.FAIL, "kubectl not usable", INSTALL_FIXES["kubectl"])
    return Check("kubectl", Status.OK, result.lines()[0] if result.lines() else "present")


def check_no_cluster(runner: Runner, cluster_name: str) -> Check:
    """No kind cluster of the run's name exists: the stack would fail to create it (and must not own it)."""
    result = runner.run(["kind", "get", "clusters"])
    if not result.ok:
        return Check("existing cluster", Status.SKIP, "kind unavailable, not checked")
    if cluster_name in result.lines():
        return Check(
            "existing cluster",
            Status.FAIL,
            f"kind cluster {cluster_name!r} already exists (a previous run's leftover?)",
            f"kind delete cluster --name {cluster_name}",
        )
    return Check("existing cluster", Status.OK, f"no kind cluster {cluster_name!r}")


def _read_int(read: ReadText, path: Path) -> int | None:
    try:
        return int(read(path).split()[0])
    except (OSError, ValueError, IndexError):
        return None


def check_memory(read: ReadText, min_mib: int) -> Check:
    """MemAvailable covers the published footprint."""
    try:
        meminfo = read(MEMINFO)
    except OSError:
        return Check("memory", Status.SKIP, f"{MEMINFO} unreadable (not Linux?): check by hand")
    match = re.search(r"^MemAvailable:\s+(\d+)\s*kB", meminfo, re.MULTILINE)
    if match is None:
        return Check("memory", Status.SKIP, f"no MemAvailable in {MEMINFO}")
    available_mib = int(match.group(1)) // 1024
    if available_mib < min_mib:
        return Check(
            "memory",
            Status.FAIL,
            f"{available_mib} MiB available, need >= {min_mib} MiB",
            "free memory (stop other clusters/containers: `kind get clusters`, `docker ps`) or use a machine "
            f"with more RAM; the platform requests ~2.5 GiB plus ~{KIND_NODE_MIB} MiB for the kind node",
        )
    return Check("memory", Status.OK, f"{available_mib} MiB available")


def check_inotify(read: ReadText, path: Path, key: str, minimum: int) -> Check:
    """An inotify limit is high enough (too low and the kind node's kubelet and pods fail with 'too many open
    files')."""
    value = _read_int(read, path)
    if value is None:
        return Check(key, Status.SKIP, f"{path} unreadable (not Linux?)")
    if value < minimum:
        return Check(
            key,
            Status.FAIL,
            f"{value} < {minimum}",
            f"sudo sysctl {key}={minimum} (persist: echo '{key}={minimum}' | "
            "sudo tee /etc/sysctl.d/99-kind.conf)",
        )
    return Check(key, Status.OK, str(value))


def check_port(is_free: PortFree, port: int) -> Check:
    """A host port the kind config maps is free."""
    name = f"port {HOST}:{port}"
    if not is_free(HOST, port):
        return Check(
            name,
            Status.FAIL,
            "in use",
            f"stop what listens there (`ss -ltnp 'sport = :{port}'`, `docker ps`)",
        )
    return Check(name, Status.OK, "free")


def run_checks(runner: Runner, read: ReadText, is_free: PortFree, req: Requirements) -> list[Check]:
    """Every check, in a fixed order (all run, so one report lists every problem)."""
    checks = [
        check_docker(runner),
        check_version(runner, "kind", ["kind", "version"], req.min_kind),
        check_version(runner, "pulumi", ["pulumi", "version"], req.min_pulumi),
        check_kubectl(runner),
        check_no_cluster(runner, req.cluster_name),
        check_memory(read, req.min_available_mib),
        check_inotify(read, INOTIFY_WATCHES, "fs.inotify.max_user_watches", req.min_watches),
        check_inotify(read, INOTIFY_INSTANCES, "fs.inotify.max_user_instances", req.min_instances),
    ]
    checks.extend(check_port(is_free, port) for port in req.host_ports)
    return checks


def preflight(
    runner: Runner, read: ReadText, is_free: PortFree, req: Requirements, echo: Callable[[str], None]
) -> list[Check]:
    """Run and report every check; raise PreflightFailed naming each failure and its fix."""
    checks = run_checks(runner, read, is_free, req)
    for check in checks:
        echo(f"    {check.line()}")
    failures = [c for c in checks if c.status is Status.FAIL]
    if failures:
        raise PreflightFailed(failures)
    return checks


def read_text(path: Path) -> str:
    """The real file reader."""
    return path.read_text(encoding="utf-8")
