"""Docker helpers for the image tests: start the engine, build on the local base, run with pod security."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.components.images import SPECS, stage_context

REPO = Path(__file__).resolve().parents[2]
TEST_BASE_IMAGE = "mlops-test-base:bookworm"


def docker_unavailable() -> str | None:
    """None if the engine answers, else why not (the docker CLI's own error)."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed (scripts/setup.sh system installs docker.io)"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if info.returncode == 0:
        return None
    errors = [line for line in info.stderr.splitlines() if line.strip()]
    return errors[-1] if errors else f"`docker info` exited {info.returncode}"


def ensure_docker_engine(log_path: Path, timeout: float = 60.0) -> str | None:
    """Start dockerd in the background if it is installed, we are root, and it is not running.

    Returns None once the engine answers, else the reason it does not (with dockerd's last log lines).
    """
    reason = docker_unavailable()
    if reason is None:
        return None
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        return f"{reason}; dockerd is not installed (scripts/setup.sh system installs docker.io)"
    if os.geteuid() != 0:
        return f"{reason}; not root, so dockerd was not started (scripts/setup.sh system as root starts it)"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        subprocess.Popen([dockerd], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reason = docker_unavailable()
        if reason is None:
            return None
        time.sleep(1)
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-5:])
    return f"dockerd started but did not answer within {timeout:.0f}s: {reason}\n{log_path}:\n{tail}"


def build_base_image() -> None:
    """The python:3.11-slim stand-in (see scripts/build_test_base_image.sh); cached after the first run."""
    subprocess.run([str(REPO / "scripts/build_test_base_image.sh"), TEST_BASE_IMAGE], check=True)


def build_image(dockerfile: str, tag: str) -> float:
    """Build a project Dockerfile on the test base, from the context Pulumi builds it from (only the image's
    inputs, staged by infra.components.images); return seconds taken."""
    spec = next(spec for spec in SPECS if spec.dockerfile == dockerfile)
    context = stage_context(spec)
    started = time.monotonic()
    subprocess.run(
        [
            "docker",
            "build",
            "-q",
            "-f",
            str(context / spec.dockerfile),
            "-t",
            tag,
            "--build-arg",
            f"BASE_IMAGE={TEST_BASE_IMAGE}",
            str(context),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.monotonic() - started


def image_size_mb(tag: str) -> float:
    """Uncompressed image size in MB."""
    out = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Size}}", tag], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip()) / 1e6


def run_flags_from_pod(
    pod_spec: Mapping[str, Any], container: Mapping[str, Any], secrets: Mapping[tuple[str, str], str]
) -> list[str]:
    """`docker run` flags reproducing a rendered pod's security settings, writable mounts and env.

    emptyDir mounts become tmpfs (the only writable paths, as in the cluster); secretKeyRef values come from
    `secrets` keyed by (secret name, key), so a missing one fails loudly here rather than silently in the app.
    """
    pod_sc = pod_spec.get("securityContext", {})
    sc = {**pod_sc, **container.get("securityContext", {})}
    flags: list[str] = []
    uid, gid = sc.get("runAsUser"), sc.get("runAsGroup")
    if uid is not None:
        flags += ["--user", f"{uid}:{gid if gid is not None else uid}"]
    if sc.get("readOnlyRootFilesystem"):
        flags.append("--read-only")
    for cap in sc.get("capabilities", {}).get("drop", []):
        flags += ["--cap-drop", str(cap)]
    if sc.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    empty_dirs = {v["name"] for v in pod_spec.get("volumes", []) if "emptyDir" in v}
    for mount in container.get("volumeMounts", []):
        if mount["name"] in empty_dirs:
            owner = f",uid={uid},gid={gid if gid is not None else uid}" if uid is not None else ""
            flags += ["--tmpfs", f"{mount['mountPath']}:rw,exec,size=256m{owner}"]
    limits = container.get("resources", {}).get("limits", {})
    if "memory" in limits:
        flags += ["--memory", _docker_memory(str(limits["memory"]))]
    for var in container.get("env", []):
        if "value" in var:
            flags += ["-e", f"{var['name']}={var['value']}"]
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            flags += ["-e", f"{var['name']}={secrets[(ref['name'], ref['key'])]}"]
    return flags


def _docker_memory(quantity: str) -> str:
    for suffix, unit in (("Gi", "g"), ("Mi", "m"), ("Ki", "k")):
        if quantity.endswith(suffix):
            return quantity[: -len(suffix)] + unit
    return quantity
