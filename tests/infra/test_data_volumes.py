"""The training-data volume and the training pods' data mounts under mocks (claim, retention, env)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from infra.components.training_jobs import TrainingJobs, TrainingJobsArgs
from infra.components.workloads import MlflowClientArgs
from infra.config import ConfigError, StackConfig
from infra.render import MockedStack, platform_program, run_program, stack_config
from mlops_contract.names import INFERENCE_LOG_MOUNT_PATH, TRAINING_DATA_DIR, Env
from tests.infra.conftest import env_of, find, pod_spec

TRAINING_WORKLOADS = (("Job", "training-bootstrap"), ("CronJob", "training-retrain"))


def test_training_mounts_the_snapshot_claim_read_only(stack: MockedStack, mode: str) -> None:
    manifests = stack.manifests()
    claim = find(manifests, "PersistentVolumeClaim", "training-data")
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert claim["metadata"]["annotations"]["mlops.platform/keep-snapshots"] == "10"
    # The stack shapes differ in whether they keep an inference log (tests/infra/conftest.py).
    log_on = any(
        m["kind"] == "PersistentVolumeClaim" and m["metadata"]["name"] == "inference-log" for m in manifests
    )
    for kind, name in TRAINING_WORKLOADS:
        spec = pod_spec(find(manifests, kind, name))
        claims = {
            v["name"]: v["persistentVolumeClaim"] for v in spec["volumes"] if "persistentVolumeClaim" in v
        }
        expected = {"training-data": {"claimName": "training-data", "readOnly": True}}
        if log_on:
            # Retraining also reads the labelled requests serving logs, never writes them.
            expected["inference-log"] = {"claimName": "inference-log", "readOnly": True}
        assert claims == expected
        (container,) = spec["containers"]
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        assert mounts["training-data"] == {
            "name": "training-data",
            "mountPath": TRAINING_DATA_DIR,
            "readOnly": True,
        }
        env = env_of(container)
        assert env[Env.FEEDBACK_WINDOW_HOURS] == "168.0" and env[Env.FEEDBACK_WEIGHT] == "1.0"
        assert env[Env.DATASET] == "breast_cancer" and Env.TARGET_COLUMN not in env
        # No trusted holdout configured: the gate scores on the training data's own holdout.
        assert Env.EVAL_DATASET not in env
        if log_on:
            assert env[Env.INFERENCE_LOG_DIR] == INFERENCE_LOG_MOUNT_PATH
        else:
            # No inference log in this stack: training must not look for one.
            assert Env.INFERENCE_LOG_DIR not in env


def _training_jobs(cfg: StackConfig) -> Mapping[str, Any]:
    jobs = TrainingJobs(
        "training",
        TrainingJobsArgs(
            namespace="ns",
            stack=cfg.stack,
            image="mlops-training:abc",
            mlflow=MlflowClientArgs(tracking_uri="http://mlflow:5000", credentials_secret="creds"),
            model_name="m",
            dataset=TRAINING_DATA_DIR,
            target_column="species",
            training_data_claim="training-data",
            feedback_window_hours=24.0,
            feedback_weight=2.0,
            validation="standard",
            promotion_margin=0.0,
            promotion_floor=0.5,
            schedule="0 3 * * *",
            code_version="abc",
            inference_log_claim="inference-log",
        ),
    )
    return {"cronjob": jobs.cronjob_name}


def test_with_an_inference_log_claim_training_mounts_it_read_only_and_reads_it() -> None:
    manifests = run_program(stack_config("dev"), _training_jobs).manifests()
    for kind, name in TRAINING_WORKLOADS:
        spec = pod_spec(find(manifests, kind, name))
        claims = {
            v["name"]: v["persistentVolumeClaim"] for v in spec["volumes"] if "persistentVolumeClaim" in v
        }
        assert claims["inference-log"] == {"claimName": "inference-log", "readOnly": True}
        (container,) = spec["containers"]
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        assert mounts["inference-log"] == {
            "name": "inference-log",
            "mountPath": INFERENCE_LOG_MOUNT_PATH,
            "readOnly": True,
        }
        assert env_of(container)[Env.INFERENCE_LOG_DIR] == INFERENCE_LOG_MOUNT_PATH


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
    ("overrides", "holdout"),
    [
        ({"trainingTrustedHoldout": "https://data.example.com/pinned.csv", "trainingTargetColumn": "target"},
         "https://data.example.com/pinned.csv"),
        ({"trainingDataset": "snapshots", "trainingTargetColumn": "target", "trainingTrustedHoldout": "breast_cancer"},
         "breast_cancer"),
    ],
)  # fmt: skip
def test_the_trusted_holdout_reaches_the_bootstrap_job_and_every_retraining(
    overrides: dict[str, str], holdout: str
) -> None:
    manifests = run_program(stack_config("dev", overrides), platform_program).manifests()
    for kind, name in TRAINING_WORKLOADS:
        env = env_of(pod_spec(find(manifests, kind, name))["containers"][0])
        assert env[Env.EVAL_DATASET] == holdout, kind
        assert env[Env.TARGET_COLUMN] == "target", kind


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"trainingTrustedHoldout": "/data/pinned.csv"},
            "trainingTrustedHoldout: '/data/pinned.csv' is not one of breast_cancer, wine, iris, digits, or an "
            "http\\(s\\):// URL",
        ),
        (
            {"trainingTrustedHoldout": "breast_cancer"},
            "trainingTrustedHoldout: 'breast_cancer' is trainingDataset itself",
        ),
        (
            {"trainingTrustedHoldout": "wine"},
            "trainingTrustedHoldout: 'wine' has other feature columns than trainingDataset 'breast_cancer'",
        ),
        (
            {"trainingTrustedHoldout": "https://data.example.com/pinned.csv"},
            "trainingTargetColumn: is required with trainingTrustedHoldout 'https://data.example.com/pinned.csv'",
        ),
        (
            {"trainingDataset": "snapshots"},
            "trainingTargetColumn: is required with trainingDataset 'snapshots'",
        ),
        ({"trainingDataset": "s3://b/x.csv"}, "trainingDataset: 's3://b/x.csv' is not one of .*snapshots"),
        ({"trainingSnapshotsKeep": "0"}, "trainingSnapshotsKeep: '0' must be an integer from 1 to 1000"),
        ({"trainingDataStorage": "lots"}, "trainingDataStorage: 'lots' is not a storage quantity"),
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
