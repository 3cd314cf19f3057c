"""`python -m training.snapshots`: atomic adds, retention, validation, and the cluster upload's kubectl steps."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import kubernetes_validate
import pytest

from mlops_contract.names import TRAINING_DATA_DIR
from training import snapshots
from training.config import ConfigError
from training.snapshots import add_to_cluster, add_to_directory, upload_pod
from training.sources import list_snapshots

CSV = b"a,b,label\n1.0,2.0,cat\n2.0,1.0,dog\n"


def test_add_writes_a_dated_snapshot_and_keeps_only_the_newest(tmp_path: Path) -> None:
    for day in range(1, 5):
        added = add_to_directory(io.BytesIO(CSV), tmp_path, f"2026010{day}T000000Z.csv", keep=2)
    assert added.removed == ("20260102T000000Z.csv",)
    assert [p.name for p in list_snapshots(tmp_path)] == ["20260103T000000Z.csv", "20260104T000000Z.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20260103T000000Z.csv", "20260104T000000Z.csv"]
    with pytest.raises(ConfigError, match="exists already"):
        add_to_directory(io.BytesIO(CSV), tmp_path, "20260104T000000Z.csv", keep=2)


def test_a_file_training_would_refuse_never_becomes_a_snapshot(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="column 'species' not in"):
        add_to_directory(io.BytesIO(CSV), tmp_path, "20260101T000000Z.csv", keep=2, validate_target="species")
    assert list(tmp_path.iterdir()) == []  # no partial file either


def test_cli_adds_from_a_file_and_prints_name_digest_and_removals(tmp_path: Path) -> None:
    data = tmp_path / "new.csv"
    data.write_bytes(CSV)
    snaps = tmp_path / "snaps"
    snaps.mkdir()
    (snaps / "20200101T000000Z.csv").write_bytes(CSV)
    run = subprocess.run(
        [sys.executable, "-m", "training.snapshots", "add", str(data), "--dir", str(snaps), "--keep", "1",
         "--label", "nov", "--target-column", "label"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    (only,) = list_snapshots(snaps)
    assert only.name.endswith("Z-nov.csv") and only.read_bytes() == CSV
    assert f"added snapshot {only.name} (sha256 " in run.stdout
    assert "removed snapshot 20200101T000000Z.csv (keeping the newest 1)" in run.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "training.snapshots", "add", str(data), "--dir", str(tmp_path / "nope")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert (
        bad.returncode == 2
        and bad.stderr.strip() == f"error: --dir: '{tmp_path / 'nope'}' is not a directory"
    )


CRONJOB: dict[str, Any] = {
    "spec": {
        "jobTemplate": {
            "spec": {
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/name": "training"}},
                    "spec": {
                        "serviceAccountName": "training",
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 10001,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [
                            {
                                "name": "training",
                                "image": "mlops-training:abc",
                                "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]},
                                },
                            }
                        ],
                        "volumes": [
                            {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
                            {
                                "name": "inference-log",
                                "persistentVolumeClaim": {"claimName": "inference-log"},
                            },
                        ],
                    },
                }
            }
        }
    }
}


class PodStandIn:
    """Stands in for kubectl and a running pod (no kubelet here): `exec` runs the in-pod command locally with
    the volume's mount path mapped to a directory; every call is recorded."""

    def __init__(self, volume: Path) -> None:
        self.volume = volume
        self.calls: list[list[str]] = []
        self.manifest: dict[str, Any] = {}

    def __call__(self, args: Sequence[str], stdin: IO[bytes] | None) -> str:
        self.calls.append(list(args))
        match args[0]:
            case "get" if args[1] == "pvc":
                return json.dumps({"metadata": {"annotations": {"mlops.platform/keep-snapshots": "2"}}})
            case "get":
                return json.dumps(CRONJOB)
            case "create":
                self.manifest = json.loads(Path(args[2]).read_text())
                return ""
            case "exec":
                command = [
                    a.replace(TRAINING_DATA_DIR, str(self.volume)) for a in args[args.index("--") + 4 :]
                ]
                out = io.StringIO()
                sys_stdout, sys.stdout = sys.stdout, out
                try:
                    assert snapshots.main(command, stdin=stdin) == 0
                finally:
                    sys.stdout = sys_stdout
                return out.getvalue()
            case _:
                return ""


def test_cluster_add_goes_through_a_hardened_pod_honours_the_claims_retention_and_cleans_up(
    tmp_path: Path,
) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    for day in (1, 2):
        (volume / f"2026010{day}T000000Z.csv").write_bytes(CSV)
    data = tmp_path / "data.csv"
    data.write_bytes(CSV)
    kubectl = PodStandIn(volume)

    report = add_to_cluster(kubectl, data, "20260103T000000Z-x.csv", keep=None)
    assert "added snapshot 20260103T000000Z-x.csv" in report
    assert [p.name for p in list_snapshots(volume)] == ["20260102T000000Z.csv", "20260103T000000Z-x.csv"]
    verbs = [c[0] for c in kubectl.calls]
    assert verbs == ["get", "get", "create", "wait", "exec", "delete"]
    pod = kubectl.manifest
    assert pod["metadata"]["name"] == kubectl.calls[-1][2]
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "mlops-training:abc"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {v["name"] for v in pod["spec"]["volumes"]} == {"tmp", "training-data"}
    assert {"name": "training-data", "mountPath": TRAINING_DATA_DIR} in container["volumeMounts"]
    kubernetes_validate.validate(pod, "1.33", strict=True)


def test_cluster_add_deletes_the_pod_when_the_upload_fails(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_bytes(CSV)
    calls: list[str] = []

    def failing(args: Sequence[str], _stdin: IO[bytes] | None) -> str:
        calls.append(args[0])
        if args[0] == "wait":
            raise ConfigError("kubectl wait --for=condition=Ready failed: timed out")
        return json.dumps(CRONJOB) if args[0] == "get" else ""

    with pytest.raises(ConfigError, match="timed out"):
        add_to_cluster(failing, data, "20260103T000000Z.csv", keep=3)
    assert calls == ["get", "create", "wait", "delete"]


def test_upload_pod_has_no_api_token_and_a_deadline() -> None:
    pod = upload_pod(CRONJOB, "p")
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert pod["spec"]["activeDeadlineSeconds"] == 900
