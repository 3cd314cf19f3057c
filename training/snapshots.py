"""`python -m training.snapshots`: add a dated training-data snapshot to a directory or the cluster volume.

    python -m training.snapshots add data.csv --dir ./snapshots [--label L] [--keep N] [--target-column C]
    python -m training.snapshots add data.csv --namespace mlops [--context kind-mlops] [--label L]
    python -m training.snapshots list --dir ./snapshots | --namespace mlops [--context CTX]

A snapshot is written under a dotfile name and renamed when complete, so training never reads a half-written
one; then only the newest `--keep` snapshots stay. In the cluster the file goes through a short-lived pod
that mounts the `training-data` claim (built from the retraining CronJob's own hardened pod template) via
`kubectl exec`, and `--keep` defaults to the claim's `mlops.platform/keep-snapshots` annotation (stack config
`trainingSnapshotsKeep`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from mlops_contract.names import (
    CONTAINER_TMP_DIR,
    RETRAIN_CRONJOB_NAME,
    TRAINING_DATA_CLAIM,
    TRAINING_DATA_DIR,
)
from training.config import ConfigError
from training.data import load_csv
from training.sources import list_snapshots, sha256_file, snapshot_name

DEFAULT_KEEP = 10
KEEP_ANNOTATION = "mlops.platform/keep-snapshots"
POD_READY_TIMEOUT = "120s"


@dataclass(frozen=True)
class Added:
    """The snapshot written and the ones retention removed."""

    name: str
    sha256: str
    removed: tuple[str, ...]


def add_to_directory(
    source: IO[bytes], directory: Path, name: str, keep: int, validate_target: str | None = None
) -> Added:
    """Write `source` as snapshot `name` atomically, then keep only the newest `keep` snapshots."""
    if keep < 1:
        raise ConfigError(f"--keep: must be >= 1 (got {keep})")
    if not directory.is_dir():
        raise ConfigError(f"--dir: {str(directory)!r} is not a directory")
    final = directory / name
    if final.exists():
        raise ConfigError(f"snapshot {name} exists already in {directory} (snapshots are never overwritten)")
    partial = directory / f".{name}.{uuid.uuid4().hex[:8]}"
    try:
        with partial.open("wb") as out:
            shutil.copyfileobj(source, out)
            out.flush()
            os.fsync(out.fileno())
        if validate_target is not None:
            load_csv(partial, validate_target)  # refuse what training would refuse, before it is visible
        partial.rename(final)
    finally:
        partial.unlink(missing_ok=True)
    return Added(name, sha256_file(final), prune(directory, keep))


def prune(directory: Path, keep: int) -> tuple[str, ...]:
    """Delete all but the newest `keep` snapshots; returns the names deleted."""
    snapshots = list_snapshots(directory)
    removed = snapshots[: max(len(snapshots) - keep, 0)]
    for path in removed:
        path.unlink()
    return tuple(p.name for p in removed)


Kubectl = Callable[[Sequence[str], IO[bytes] | None], str]
"""Runs `kubectl ARGS` (stdin optional) and returns its stdout; raises ConfigError on failure."""


def kubectl_runner(context: str | None, namespace: str) -> Kubectl:
    """The real kubectl, pinned to one context and namespace."""
    prefix = ["kubectl", *(["--context", context] if context else []), "--namespace", namespace]

    def run(args: Sequence[str], stdin: IO[bytes] | None = None) -> str:
        try:
            done = subprocess.run(
                [*prefix, *args], stdin=stdin, capture_output=True, timeout=300, check=False
            )
        except FileNotFoundError:
            raise ConfigError("kubectl is not installed (it is needed for --namespace)") from None
        except subprocess.TimeoutExpired:
            raise ConfigError(f"kubectl {' '.join(args[:2])} did not finish in 300s") from None
        if done.returncode != 0:
            detail = done.stderr.decode(errors="replace").strip().splitlines()
            raise ConfigError(
                f"kubectl {' '.join(args[:2])} failed: {detail[-1] if detail else done.returncode}"
            )
        return done.stdout.decode(errors="replace")

    return run


def upload_pod(cronjob: dict[str, Any], pod_name: str) -> dict[str, Any]:
    """A pod that only waits, with the retraining pod's image and hardening, mounting the claim writable."""
    template = cronjob["spec"]["jobTemplate"]["spec"]["template"]
    spec = template["spec"]
    container = spec["containers"][0]
    tmp = [v for v in spec.get("volumes", []) if v.get("emptyDir") is not None and v["name"] == "tmp"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name,
            "labels": {
                **template.get("metadata", {}).get("labels", {}),
                "mlops.platform/role": "snapshot-upload",
            },
        },
        "spec": {
            "restartPolicy": "Never",
            "serviceAccountName": spec.get("serviceAccountName"),
            "automountServiceAccountToken": False,
            "securityContext": spec.get("securityContext"),
            # Bounded even if this command dies before it deletes the pod.
            "activeDeadlineSeconds": 900,
            "containers": [
                {
                    "name": "upload",
                    "image": container["image"],
                    "imagePullPolicy": container.get("imagePullPolicy", "IfNotPresent"),
                    "command": ["python", "-c", "import time; time.sleep(600)"],
                    "env": [{"name": "HOME", "value": CONTAINER_TMP_DIR}],
                    "resources": container.get("resources"),
                    "securityContext": container.get("securityContext"),
                    "volumeMounts": [
                        *[{"name": v["name"], "mountPath": CONTAINER_TMP_DIR} for v in tmp],
                        {"name": "training-data", "mountPath": TRAINING_DATA_DIR},
                    ],
                }
            ],
            "volumes": [
                *tmp,
                {"name": "training-data", "persistentVolumeClaim": {"claimName": TRAINING_DATA_CLAIM}},
            ],
        },
    }


def add_to_cluster(kubectl: Kubectl, file: Path, name: str, keep: int | None) -> str:
    """Copy `file` into the training-data volume through a short-lived pod; returns the pod's report."""
    if keep is None:
        annotations = json.loads(kubectl(["get", "pvc", TRAINING_DATA_CLAIM, "-o", "json"], None))["metadata"]
        keep = int(annotations.get("annotations", {}).get(KEEP_ANNOTATION, DEFAULT_KEEP))
    cronjob = json.loads(kubectl(["get", "cronjob", RETRAIN_CRONJOB_NAME, "-o", "json"], None))
    pod_name = f"training-data-upload-{uuid.uuid4().hex[:8]}"
    with tempfile.NamedTemporaryFile("w", suffix=".json") as manifest:
        json.dump(upload_pod(cronjob, pod_name), manifest)
        manifest.flush()
        kubectl(["create", "-f", manifest.name], None)
    try:
        kubectl(["wait", "--for=condition=Ready", f"pod/{pod_name}", f"--timeout={POD_READY_TIMEOUT}"], None)
        with file.open("rb") as data:
            return kubectl(
                [
                    "exec", "-i", pod_name, "--", "python", "-m", "training.snapshots", "add", "-",
                    "--dir", TRAINING_DATA_DIR, "--name", name, "--keep", str(keep),
                ],
                data,
            )  # fmt: skip
    finally:
        kubectl(["delete", "pod", pod_name, "--wait=false"], None)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    """The command line (documented in docs/training.md)."""
    p = _Parser(prog="python -m training.snapshots", description="Manage dated training-data snapshots.")
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="add a CSV file as the newest snapshot")
    add.add_argument("file", help="CSV file to add ('-' reads standard input)")
    where = add.add_mutually_exclusive_group(required=True)
    where.add_argument("--dir", help="a local snapshot directory")
    where.add_argument("--namespace", help="the stack's namespace: add to its training-data volume")
    add.add_argument("--context", help="kubectl context (with --namespace)")
    add.add_argument("--label", help="suffix of the snapshot name (letters, digits, . _ -)")
    add.add_argument("--name", help=argparse.SUPPRESS)  # the in-pod half of a cluster upload
    add.add_argument(
        "--keep", type=int, help=f"snapshots to keep (default: the claim's setting, else {DEFAULT_KEEP})"
    )
    add.add_argument("--target-column", help="check the file is a valid training set with this target first")
    listing = sub.add_parser("list", help="list the snapshots of a local directory, oldest first")
    listing.add_argument("--dir", required=True, help="a local snapshot directory")
    return p


def main(argv: Sequence[str] | None = None, stdin: IO[bytes] | None = None) -> int:
    """Entry point; 0 on success, 2 with a one-line error on bad input."""
    try:
        args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
        if args.command == "list":
            for path in list_snapshots(Path(args.dir)):
                print(path.name)
            return 0
        name = args.name or snapshot_name(datetime.now(UTC), args.label)
        if args.namespace:
            file = Path(args.file)
            if args.target_column:
                load_csv(file, args.target_column)
            if not file.is_file():
                raise ConfigError(f"file: {args.file!r} does not exist")
            print(add_to_cluster(kubectl_runner(args.context, args.namespace), file, name, args.keep), end="")
            return 0
        keep = DEFAULT_KEEP if args.keep is None else args.keep
        if args.file == "-":
            added = add_to_directory(
                stdin or sys.stdin.buffer, Path(args.dir), name, keep, args.target_column
            )
        else:
            if not Path(args.file).is_file():
                raise ConfigError(f"file: {args.file!r} does not exist")
            with Path(args.file).open("rb") as source:
                added = add_to_directory(source, Path(args.dir), name, keep, args.target_column)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"added snapshot {added.name} (sha256 {added.sha256})")
    for removed in added.removed:
        print(f"removed snapshot {removed} (keeping the newest {keep})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
