"""StackConfig validation: defaults from Pulumi.yaml, and an error naming the key for every bad value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from infra.config import ClusterMode, ConfigError, StackConfig, load_stack_config
from infra.schema import PULUMI_YAML, REPO_ROOT, project_config_schema, schema_defaults


def load(**values: str) -> StackConfig:
    return load_stack_config(values, "test", schema_defaults())


def test_defaults_come_from_the_pulumi_yaml_schema() -> None:
    cfg = load()
    schema = project_config_schema()
    assert cfg.cluster_mode is ClusterMode(schema["clusterMode"]["default"])
    assert cfg.serving_replicas == schema["servingReplicas"]["default"] == 2
    assert cfg.namespace == schema["namespace"]["default"]
    assert schema["protectVolumes"]["default"] == "auto"
    assert cfg.protect_volumes is False  # auto on kind
    assert cfg.kubernetes_version == "1.33"


def test_every_schema_key_is_typed_described_and_read() -> None:
    schema = project_config_schema()
    read: list[str] = []

    class Recording(dict[str, str]):
        def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
            read.append(key)
            return super().get(key, default)

    load_stack_config(Recording(), "test", schema_defaults())
    for key, spec in schema.items():
        assert spec["type"] in {"string", "integer", "boolean"}, key
        assert len(spec["description"]) > 10, key
        assert "default" in spec, key
        assert key in read, f"Pulumi.yaml declares {key} but StackConfig never reads it"


def test_pulumi_project_runs_infra_with_uv() -> None:
    project = yaml.safe_load(PULUMI_YAML.read_text())
    assert project["main"] == "infra/"
    assert project["runtime"]["options"]["toolchain"] == "uv"
    assert (REPO_ROOT / "infra" / "__main__.py").is_file()
    dev = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())
    assert dev["config"]["mlops-platform:clusterMode"] == "kind"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("clusterMode", "docker-desktop", "mlops-platform:clusterMode: 'docker-desktop' is not one of kind, minikube, existing"),
        ("servingReplicas", "two", "mlops-platform:servingReplicas: 'two' is not an integer"),
        ("servingReplicas", "0", "must be an integer from 1 to 20"),
        ("servingReplicas", "1.5", "must be an integer from 1 to 20"),
        ("servingMaxReplicas", "1", "mlops-platform:servingMaxReplicas: 1 must be >= servingReplicas (2)"),
        ("servingMaxInFlight", "0", "mlops-platform:servingMaxInFlight: '0' must be an integer from 1 to 10000"),
        ("namespace", "Bad_Name", "mlops-platform:namespace: 'Bad_Name' is not a DNS label"),
        ("retrainSchedule", "every day", "mlops-platform:retrainSchedule: 'every day' is not a 5-field cron"),
        ("backupSchedule", "nightly", "mlops-platform:backupSchedule: 'nightly' is not a 5-field cron"),
        ("gcSchedule", "* * *", "mlops-platform:gcSchedule: '* * *' is not a 5-field cron"),
        ("backupRetention", "0", "mlops-platform:backupRetention: '0' must be an integer from 1 to 365"),
        ("gcRetentionDays", "-1", "mlops-platform:gcRetentionDays: '-1' must be an integer from 0 to 3650"),
        ("backupStorage", "4GB", "mlops-platform:backupStorage: '4GB' is not a storage quantity"),
        ("promotionFloor", "1.5", "mlops-platform:promotionFloor: '1.5' must be between 0.0 and 1.0"),
        ("promotionMargin", "lots", "mlops-platform:promotionMargin: 'lots' is not a number"),
        ("protectVolumes", "yes", "mlops-platform:protectVolumes: 'yes' is not one of auto, true, false"),
        ("trainingValidation", "off", "mlops-platform:trainingValidation: 'off' is not one of strict, standard, lenient"),
        ("trainingDataset", "mnist", "mlops-platform:trainingDataset: 'mnist' is not one of breast_cancer"),
        ("kindNodeImage", "kindest/node:latest", "mlops-platform:kindNodeImage: 'kindest/node:latest' is not"),
        ("postgresStorage", "1GB", "mlops-platform:postgresStorage: '1GB' is not a storage quantity"),
        ("expiresAt", "tomorrow", "mlops-platform:expiresAt: 'tomorrow' is not an ISO-8601 time"),
        ("expiresAt", "2030-01-01T00:00:00", "mlops-platform:expiresAt: '2030-01-01T00:00:00' needs a time zone"),
        ("servingHostPort", "70000", "mlops-platform:servingHostPort: '70000' must be an integer from 1 to 65535"),
        ("servingHostPort", "5000", "mlops-platform:mlflowHostPort: host ports must differ"),
        ("imagePlatform", "amd64", "mlops-platform:imagePlatform: 'amd64' is not a platform os/arch[/variant]"),
        ("imagePlatform", "linux/amd64/v3/x", "mlops-platform:imagePlatform: 'linux/amd64/v3/x' is not a platform"),
        ("inferenceLogEnabled", "yes", "mlops-platform:inferenceLogEnabled: 'yes' is not a boolean"),
        ("inferenceLogSampleRate", "2", "mlops-platform:inferenceLogSampleRate: '2' must be between 0.0 and 1.0"),
        ("inferenceLogMaxBytes", "lots", "mlops-platform:inferenceLogMaxBytes: 'lots' is not an integer"),
        ("inferenceLogMaxBytes", "3000000000", "mlops-platform:inferenceLogMaxBytes: 3000000000 must be at most 90% of inferenceLogStorage (2Gi)"),
        ("inferenceLogStorage", "2GB", "mlops-platform:inferenceLogStorage: '2GB' is not a storage quantity"),
        ("inferenceLogAccessMode", "ReadOnlyMany", "mlops-platform:inferenceLogAccessMode: 'ReadOnlyMany' is not one of ReadWriteOnce, ReadWriteMany"),
        ("driftPsi", "high", "mlops-platform:driftPsi: 'high' is not a number"),
        ("driftShare", "0", "mlops-platform:driftShare: '0' must be between 0.01 and 1.0"),
        ("driftFeaturePsi", "0.1", "mlops-platform:driftFeaturePsi: 0.1 must be >= driftPsi (0.2)"),
        ("driftMinRows", "5", "mlops-platform:driftMinRows: '5' must be an integer from 10 to 1000000"),
    ],
)  # fmt: skip
def test_bad_values_name_the_key_and_what_is_allowed(key: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(**{key: value})
    assert expected in str(info.value)
    assert "Traceback" not in str(info.value)


def test_existing_cluster_needs_a_registry_unless_preview() -> None:
    with pytest.raises(
        ConfigError, match="mlops-platform:imageRegistry: is required with clusterMode existing"
    ):
        load(clusterMode="existing", kubeContext="prod")
    assert load(clusterMode="existing", kubeContext="kind-mlops", preview="true").image_registry is None
    given = load(clusterMode="existing", kubeContext="prod", imageRegistry="r.example/x/")
    assert given.image_registry == "r.example/x"


def test_node_ports_only_on_local_clusters() -> None:
    assert load().node_ports is True
    assert load(exposeOnHost="false").node_ports is False
    assert load(clusterMode="existing", kubeContext="prod", imageRegistry="r.example/x").node_ports is False


def test_config_error_is_a_clean_pulumi_error() -> None:
    """RunError is what the Pulumi runtime prints as a message without a stack trace."""
    import pulumi

    assert issubclass(ConfigError, pulumi.RunError)


def test_mlflow_image_pins_what_the_tests_run() -> None:
    """The MLflow server image installs the versions the test suite exercises (from uv.lock)."""
    import re
    import tomllib

    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    locked = {p["name"]: p["version"] for p in lock["package"]}
    group = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["dependency-groups"]["mlflow-server"]
    pins = dict(re.findall(r"^([a-z-]+)(?:\[[a-z,]+\])?==([0-9.]+)$", "\n".join(group), flags=re.M))
    assert pins == {name: locked[name] for name in ("mlflow", "psycopg", "prometheus-flask-exporter")}


DIGEST = "sha256:" + "0f" * 32
PREBUILT = {
    "servingImage": f"registry.example.com/mlops/mlops-serving@{DIGEST}",
    "trainingImage": f"registry.example.com/mlops/mlops-training:v1@{DIGEST}",
    "mlflowImage": f"localhost:5000/mlops-mlflow@{DIGEST}",
    "retrainTriggerImage": f"mlops-retrain-trigger@{DIGEST}",
}


def test_image_platform_accepts_os_arch_and_variant() -> None:
    assert load().image_platform is None
    assert load(imagePlatform="linux/amd64").image_platform == "linux/amd64"
    assert load(imagePlatform="linux/arm64/v8").image_platform == "linux/arm64/v8"


def test_prebuilt_images_are_all_or_nothing() -> None:
    assert load().prebuilt_images is None
    cfg = load(**PREBUILT)
    assert cfg.prebuilt_images == {
        "mlops-serving": PREBUILT["servingImage"],
        "mlops-training": PREBUILT["trainingImage"],
        "mlops-mlflow": PREBUILT["mlflowImage"],
        "mlops-retrain-trigger": PREBUILT["retrainTriggerImage"],
    }
    partial = {k: v for k, v in PREBUILT.items() if k not in {"mlflowImage", "retrainTriggerImage"}}
    with pytest.raises(ConfigError) as info:
        load(**partial)
    assert str(info.value).startswith("mlops-platform:mlflowImage: prebuilt images need all of")
    assert "missing: mlflowImage, retrainTriggerImage" in str(info.value)


@pytest.mark.parametrize(
    "ref",
    [
        "registry.example.com/mlops/mlops-serving:1.0",  # a tag can move
        "registry.example.com/mlops/mlops-serving:latest",
        "registry.example.com/mlops/mlops-serving@sha256:abc",  # not 64 hex
        f"Registry.Example.com/Serving@{DIGEST}",  # repositories are lowercase
        f"serving @{DIGEST}",
    ],
)
def test_prebuilt_images_must_be_pinned_by_digest(ref: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(**{**PREBUILT, "servingImage": ref})
    assert str(info.value) == (
        f"mlops-platform:servingImage: {ref!r} is not an image reference by digest "
        "(<repo>[:tag]@sha256:<64 hex>)"
    )


def test_existing_cluster_with_prebuilt_images_needs_no_registry() -> None:
    cfg = load(clusterMode="existing", kubeContext="kind-mlops", **PREBUILT)
    assert cfg.image_registry is None and cfg.prebuilt_images is not None


SECRET_KEYS = (
    "postgresPassword",
    "mlflowAdminPassword",
    "mlflowFlaskSecretKey",
    "grafanaAdminPassword",
    "mlflowServingPassword",
    "mlflowTrainingPassword",
    "mlflowPrometheusPassword",
    "retrainTriggerToken",
)


def test_credentials_default_to_generated() -> None:
    given = load().credentials
    assert given.postgres_password is None and given.mlflow_admin_password is None
    assert given.mlflow_flask_secret_key is None and given.grafana_admin_password is None
    for key in SECRET_KEYS:
        assert "pulumi config set --secret" in project_config_schema()[key]["description"], key


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_a_short_credential_names_the_key_without_echoing_it(key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(**{key: "hunter2-short"})
    assert str(info.value) == f"mlops-platform:{key}: must be at least 16 characters (it has 13)"


def test_the_postgres_password_must_survive_a_database_url() -> None:
    with pytest.raises(ConfigError) as info:
        load(postgresPassword="p@ss/word:with-specials")
    assert "mlops-platform:postgresPassword: may contain only letters, digits" in str(info.value)
    assert "p@ss" not in str(info.value)
    # Other credentials never reach a URL: any characters.
    assert load(grafanaAdminPassword="p@ss/word:with-specials").credentials.grafana_admin_password


def test_given_credentials_stay_out_of_reprs() -> None:
    cfg = load(**dict.fromkeys(SECRET_KEYS, "s3cret-value-0123456789"))
    assert cfg.credentials.postgres_password is not None
    assert cfg.credentials.postgres_password.value == "s3cret-value-0123456789"
    assert "s3cret" not in repr(cfg)


def test_existing_cluster_needs_an_explicit_context() -> None:
    with pytest.raises(ConfigError) as info:
        load(clusterMode="existing", imageRegistry="r.example/x")
    message = str(info.value)
    assert message.startswith("mlops-platform:kubeContext: is required with clusterMode existing")
    assert "kubectl config get-contexts" in message
    # Clusters the stack creates name their own context.
    assert load(clusterMode="kind").kube_context is None


def test_a_relative_kubeconfig_starts_at_the_project_directory(tmp_path: Path) -> None:
    (tmp_path / "clusters").mkdir()
    (tmp_path / "clusters" / "prod.yaml").write_text("apiVersion: v1\nkind: Config\n")
    values = {"clusterMode": "existing", "kubeContext": "prod", "imageRegistry": "r.example/x"}
    cfg = load_stack_config(
        {**values, "kubeconfig": "clusters/prod.yaml"}, "test", schema_defaults(), project_dir=tmp_path
    )
    assert cfg.kubeconfig == str(tmp_path / "clusters" / "prod.yaml")
    with pytest.raises(ConfigError) as info:
        load_stack_config({**values, "kubeconfig": "clusters/gone.yaml"}, "t", schema_defaults(), tmp_path)
    assert str(info.value).startswith("mlops-platform:kubeconfig: 'clusters/gone.yaml' is not a file")


def test_a_kubeconfig_in_home_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "prod").write_text("apiVersion: v1\nkind: Config\n")
    cfg = load(clusterMode="existing", kubeContext="prod", imageRegistry="r.x/y", kubeconfig="~/.kube/prod")
    assert cfg.kubeconfig == str(tmp_path / ".kube" / "prod")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, False),
        ({"clusterMode": "minikube"}, False),
        ({"clusterMode": "existing", "kubeContext": "prod", "imageRegistry": "r.x/y"}, True),
        ({"clusterMode": "existing", "kubeContext": "prod", "imageRegistry": "r.x/y", "protectVolumes": "false"}, False),
        ({"protectVolumes": "true"}, True),
        ({"protectVolumes": "TRUE"}, True),
        ({"clusterMode": "existing", "kubeContext": "kind-mlops", "preview": "true"}, False),
    ],
)  # fmt: skip
def test_protect_volumes_auto_keeps_data_only_on_existing_clusters(
    values: dict[str, str], expected: bool
) -> None:
    assert load(**values).protect_volumes is expected


def test_a_preview_never_keeps_its_volumes() -> None:
    with pytest.raises(ConfigError, match="mlops-platform:protectVolumes: cannot be true on a preview stack"):
        load(clusterMode="existing", kubeContext="kind-mlops", preview="true", protectVolumes="true")


def test_stack_files_of_tool_made_stacks_are_ignored_and_dev_is_not() -> None:
    """Preview and e2e stacks write Pulumi.<stack>.yaml (with their own salt) into the repo while they live."""
    import subprocess

    names = [
        "Pulumi.preview-pr-1.yaml",
        "Pulumi.e2e-20300101-000000.yaml",
        "Pulumi.dev.yaml",
        "Pulumi.prod.yaml",
    ]
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", *names],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.split() == names[:2]


def test_drift_thresholds_and_the_log_come_from_config() -> None:
    default = load()
    assert default.inference_log.enabled is False
    assert (default.thresholds.drift_psi, default.thresholds.drift_share) == (0.2, 0.5)
    cfg = load(
        driftPsi="0.1",
        driftShare="0.3",
        driftFeaturePsi="0.8",
        driftMinRows="500",
        inferenceLogEnabled="true",
    )
    t = cfg.thresholds
    assert (t.drift_psi, t.drift_share, t.drift_feature_psi, t.drift_min_rows) == (0.1, 0.3, 0.8, 500)
    assert cfg.inference_log.enabled is True
