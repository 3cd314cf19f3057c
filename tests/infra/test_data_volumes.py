"""The continuous-training volumes under mocks: claims, retention annotation, training mounts and env."""

from __future__ import annotations

import pytest

from infra.config import ConfigError
from infra.render import MockedStack, platform_program, run_program, stack_config
from mlops_contract.names import INFERENCE_LOG_DIR, TRAINING_DATA_DIR, Env
from tests.infra.conftest import env_of, find, pod_spec

TRAINING_WORKLOADS = (("Job", "training-bootstrap"), ("CronJob", "training-retrain"))


def test_training_mounts_the_snapshot_and_inference_log_claims_read_only(
    stack: MockedStack, mode: str
) -> None:
    manifests = stack.manifests()
    for name in ("training-data", "inference-log"):
        claim = find(manifests, "PersistentVolumeClaim", name)
        assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi", name
    annotations = find(manifests, "PersistentVolumeClaim", "training-data")["metadata"]["annotations"]
    assert annotations["mlops.platform/keep-snapshots"] == "10"
    for kind, name in TRAINING_WORKLOADS:
        spec = pod_spec(find(manifests, kind, name))
        claims = {
            v["name"]: v["persistentVolumeClaim"] for v in spec["volumes"] if "persistentVolumeClaim" in v
        }
        assert claims == {
            "training-data": {"claimName": "training-data", "readOnly": True},
            "inference-log": {"claimName": "inference-log", "readOnly": True},
        }
        (container,) = spec["containers"]
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        assert mounts["training-data"] == {
            "name": "training-data",
            "mountPath": TRAINING_DATA_DIR,
            "readOnly": True,
        }
        assert mounts["inference-log"] == {
            "name": "inference-log",
            "mountPath": INFERENCE_LOG_DIR,
            "readOnly": True,
        }
        env = env_of(container)
        assert env[Env.INFERENCE_LOG_DIR] == INFERENCE_LOG_DIR
        assert env[Env.FEEDBACK_WINDOW_HOURS] == "168.0" and env[Env.FEEDBACK_WEIGHT] == "1.0"
        assert env[Env.DATASET] == "breast_cancer" and Env.TARGET_COLUMN not in env


def test_snapshots_dataset_reads_the_mounted_volume_with_the_configured_settings() -> None:
    cfg = stack_config(
        "dev",
        {
            "trainingDataset": "snapshots",
            "trainingTargetColumn": "species",
            "trainingSnapshotsKeep": "3",
            "trainingDataStorage": "5Gi",
            "feedbackWindowHours": "24",
            "feedbackWeight": "4",
        },
    )
    manifests = run_program(cfg, platform_program).manifests()
    claim = find(manifests, "PersistentVolumeClaim", "training-data")
    assert claim["metadata"]["annotations"]["mlops.platform/keep-snapshots"] == "3"
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    env = env_of(pod_spec(find(manifests, "CronJob", "training-retrain"))["containers"][0])
    assert env[Env.DATASET] == TRAINING_DATA_DIR and env[Env.TARGET_COLUMN] == "species"
    assert env[Env.FEEDBACK_WINDOW_HOURS] == "24.0" and env[Env.FEEDBACK_WEIGHT] == "4.0"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"trainingDataset": "snapshots"},
            "trainingTargetColumn: is required with trainingDataset 'snapshots'",
        ),
        ({"trainingDataset": "s3://b/x.csv"}, "trainingDataset: 's3://b/x.csv' is not one of .*snapshots"),
        ({"trainingSnapshotsKeep": "0"}, "trainingSnapshotsKeep: '0' must be an integer from 1 to 1000"),
        ({"trainingDataStorage": "lots"}, "trainingDataStorage: 'lots' is not a storage quantity"),
        ({"inferenceLogStorage": "1G"}, "inferenceLogStorage: '1G' is not a storage quantity"),
        ({"feedbackWindowHours": "0"}, "feedbackWindowHours: 0.0 must be greater than 0"),
        ({"feedbackWeight": "many"}, "feedbackWeight: 'many' is not a number"),
    ],
)
def test_bad_data_keys_are_named(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=f"mlops-platform:{message}"):
        stack_config("dev", overrides)


def test_an_http_dataset_with_a_target_column_is_accepted() -> None:
    cfg = stack_config(
        "dev", {"trainingDataset": "https://data.example.com/train.csv", "trainingTargetColumn": "y"}
    )
    assert cfg.training_dataset == "https://data.example.com/train.csv" and cfg.training_target_column == "y"
