"""Monitoring in the stack namespace: Prometheus, Alertmanager, the retrain trigger, kube-state-metrics and
Grafana with provisioned datasource and dashboards. Rules, scrape config, routing and dashboards come from
monitoring/ (the same code the local dev loop and the tests use).

Everything is namespace-scoped (Roles, not ClusterRoles), so preview stacks on one cluster never collide.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml
from pulumi import Input, Output, ResourceOptions

from infra.components.app_deployment import AppDeployment, AppSpec
from infra.components.mlflow_server import ADMIN_USER, CREDENTIALS_SECRET, SECRET_ADMIN_PASSWORD
from infra.components.namespace import (
    ALERTMANAGER_APP,
    GRAFANA_APP,
    GRAFANA_PORT,
    KUBE_STATE_APP,
    KUBE_STATE_PORT,
    PROMETHEUS_APP,
    PROMETHEUS_PORT,
    RETRAIN_TRIGGER_APP,
)
from infra.components.pod_security import Resources, labels, secret_env
from mlops_contract.names import (
    MLFLOW_PORT,
    MLFLOW_SERVICE_NAME,
    RETRAIN_TRIGGER_PORT,
    Env,
    Route,
)
from monitoring.alertmanager_config import alertmanager_config
from monitoring.dashboards import DATASOURCE_UID, build, dashboards
from monitoring.prometheus_config import ALERTMANAGER_PORT, cluster_layout, prometheus_config
from monitoring.rules import rules_document

PROMETHEUS_IMAGE = "quay.io/prometheus/prometheus:v2.55.1"
ALERTMANAGER_IMAGE = "quay.io/prometheus/alertmanager:v0.28.1"
GRAFANA_IMAGE = "docker.io/grafana/grafana:11.6.0"
KUBE_STATE_IMAGE = "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.15.0"
NOBODY = 65534  # the uid the Prometheus, Alertmanager and kube-state-metrics images run as
# Grafana runs as any uid when its writable paths are volumes (as here); a high uid avoids host conflicts.
GRAFANA_UID = 10472

PROMETHEUS_RESOURCES = Resources(100, 256, 500, 512)
ALERTMANAGER_RESOURCES = Resources(10, 32, 100, 64)
GRAFANA_RESOURCES = Resources(50, 128, 500, 256)
TRIGGER_RESOURCES = Resources(10, 64, 200, 128)
KUBE_STATE_RESOURCES = Resources(10, 32, 100, 64)

GRAFANA_SECRET = "grafana-admin"  # noqa: S105 - a Secret name
GRAFANA_ADMIN_USER_KEY = "admin-user"
GRAFANA_ADMIN_PASSWORD_KEY = "admin-password"  # noqa: S105 - a key name
MLFLOW_PASSWORD_DIR = "/etc/prometheus/mlflow"  # noqa: S105 - a mount path
RULES_DIR = "/etc/prometheus/rules"
CONFIG_DIR = "/etc/prometheus/config"


@dataclass(frozen=True)
class MonitoringArgs:
    """What to watch and where."""

    namespace: Input[str]
    namespace_name: str
    stack: str
    trigger_image: Input[str]
    retrain_cronjob: Input[str]
    grafana_node_port: int | None
    prometheus_node_port: int | None


def _checksum(*texts: str) -> str:
    return hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16]


class Monitoring(pulumi.ComponentResource):
    """The monitoring apps; `grafana_secret` holds the generated admin password."""

    grafana_secret: Output[str]
    requests: dict[str, Resources]

    def __init__(self, name: str, args: MonitoringArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("mlops:index:Monitoring", name, None, opts)
        ns = args.namespace

        def child(extra: ResourceOptions | None = None) -> ResourceOptions:
            return ResourceOptions.merge(ResourceOptions(parent=self), extra)

        def config_map(resource: str, map_name: str, app: str, data: dict[str, str]) -> k8s.core.v1.ConfigMap:
            return k8s.core.v1.ConfigMap(
                f"{name}-{resource}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=map_name, namespace=ns, labels=labels(args.stack, app, "monitoring")
                ),
                data=data,
                opts=child(),
            )

        # Prometheus: discovers serving pods in this namespace only; scrapes MLflow with basic auth.
        prom_yaml = yaml.safe_dump(
            prometheus_config(
                cluster_layout(
                    args.namespace_name,
                    f"{RULES_DIR}/rules.yml",
                    ADMIN_USER,
                    f"{MLFLOW_PASSWORD_DIR}/{SECRET_ADMIN_PASSWORD}",
                    f"{MLFLOW_SERVICE_NAME}:{MLFLOW_PORT}",
                )
            ),
            sort_keys=False,
        )
        rules_yaml = yaml.safe_dump(rules_document(), sort_keys=False)
        prom_config = config_map(
            "prometheus-config", "prometheus-config", PROMETHEUS_APP, {"prometheus.yml": prom_yaml}
        )
        prom_rules = config_map(
            "prometheus-rules", "prometheus-rules", PROMETHEUS_APP, {"rules.yml": rules_yaml}
        )
        read = ["get", "list", "watch"]
        prometheus = AppDeployment(
            f"{name}-prometheus",
            AppSpec(
                app=PROMETHEUS_APP,
                component="monitoring",
                image=PROMETHEUS_IMAGE,
                port=PROMETHEUS_PORT,
                resources=PROMETHEUS_RESOURCES,
                uid=NOBODY,
                args=[
                    f"--config.file={CONFIG_DIR}/prometheus.yml",
                    "--storage.tsdb.path=/prometheus",
                    # Laptop-sized: two days or 400 MB, whichever comes first (the emptyDir holds 512 MiB).
                    "--storage.tsdb.retention.time=2d",
                    "--storage.tsdb.retention.size=400MB",
                ],
                ready_path="/-/ready",
                live_path="/-/healthy",
                writable={"/prometheus": 512},
                config_mounts=[
                    ("config", "prometheus-config", CONFIG_DIR),
                    ("rules", "prometheus-rules", RULES_DIR),
                ],
                secret_mounts=[
                    ("mlflow-password", CREDENTIALS_SECRET, SECRET_ADMIN_PASSWORD, MLFLOW_PASSWORD_DIR)
                ],
                rbac_rules=[k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods"], verbs=read)],
                api_reason="Prometheus discovers serving pods through the API (read-only Role on pods)",
                node_port=args.prometheus_node_port,
                annotations={"checksum/config": _checksum(prom_yaml, rules_yaml)},
            ),
            ns,
            args.stack,
            opts=child(ResourceOptions(depends_on=[prom_config, prom_rules])),
        )

        # Alertmanager: drift alerts -> retrain trigger.
        trigger_url = f"http://{RETRAIN_TRIGGER_APP}:{RETRAIN_TRIGGER_PORT}"
        am_yaml = yaml.safe_dump(alertmanager_config(trigger_url), sort_keys=False)
        am_config = config_map(
            "alertmanager-config", "alertmanager-config", ALERTMANAGER_APP, {"alertmanager.yml": am_yaml}
        )
        AppDeployment(
            f"{name}-alertmanager",
            AppSpec(
                app=ALERTMANAGER_APP,
                component="monitoring",
                image=ALERTMANAGER_IMAGE,
                port=ALERTMANAGER_PORT,
                resources=ALERTMANAGER_RESOURCES,
                uid=NOBODY,
                args=[
                    "--config.file=/etc/alertmanager/alertmanager.yml",
                    "--storage.path=/alertmanager",
                    "--cluster.listen-address=",  # one replica: no gossip
                ],
                ready_path="/-/ready",
                live_path="/-/healthy",
                writable={"/alertmanager": 64},
                config_mounts=[("config", "alertmanager-config", "/etc/alertmanager")],
                annotations={"checksum/config": _checksum(am_yaml)},
            ),
            ns,
            args.stack,
            opts=child(ResourceOptions(depends_on=[am_config])),
        )

        # Retrain trigger: may read the retraining CronJob and create Jobs, nothing else.
        AppDeployment(
            f"{name}-retrain-trigger",
            AppSpec(
                app=RETRAIN_TRIGGER_APP,
                component="retraining",
                image=args.trigger_image,
                port=RETRAIN_TRIGGER_PORT,
                resources=TRIGGER_RESOURCES,
                env=[
                    k8s.core.v1.EnvVarArgs(name=Env.TRIGGER_BACKEND, value="kubernetes"),
                    k8s.core.v1.EnvVarArgs(name=Env.NAMESPACE, value=args.namespace_name),
                    k8s.core.v1.EnvVarArgs(name=Env.RETRAIN_CRONJOB, value=args.retrain_cronjob),
                    k8s.core.v1.EnvVarArgs(name=Env.TRIGGER_HOST, value="0.0.0.0"),  # noqa: S104 - pod IP
                    k8s.core.v1.EnvVarArgs(name=Env.TRIGGER_PORT, value=str(RETRAIN_TRIGGER_PORT)),
                ],
                ready_path=Route.HEALTHZ.value,
                live_path=Route.HEALTHZ.value,
                rbac_rules=[
                    k8s.rbac.v1.PolicyRuleArgs(
                        api_groups=["batch"],
                        resources=["cronjobs"],
                        resource_names=[args.retrain_cronjob],
                        verbs=["get"],
                    ),
                    k8s.rbac.v1.PolicyRuleArgs(api_groups=["batch"], resources=["jobs"], verbs=["create"]),
                ],
                api_reason="reads the retraining CronJob and creates Jobs from it (Role: only that)",
            ),
            ns,
            args.stack,
            opts=child(),
        )

        # kube-state-metrics for this namespace only: training Jobs, serving and PostgreSQL readiness.
        AppDeployment(
            f"{name}-kube-state-metrics",
            AppSpec(
                app=KUBE_STATE_APP,
                component="monitoring",
                image=KUBE_STATE_IMAGE,
                port=KUBE_STATE_PORT,
                resources=KUBE_STATE_RESOURCES,
                uid=NOBODY,
                args=[
                    f"--namespaces={args.namespace_name}",
                    "--resources=jobs,cronjobs,deployments,statefulsets",
                    f"--port={KUBE_STATE_PORT}",
                    "--telemetry-port=8081",
                ],
                ready_path="/readyz",
                live_path="/livez",
                api_reason="kube-state-metrics lists/watches Jobs, Deployments, StatefulSets (read-only)",
                rbac_rules=[
                    k8s.rbac.v1.PolicyRuleArgs(
                        api_groups=["batch"], resources=["jobs", "cronjobs"], verbs=["list", "watch"]
                    ),
                    k8s.rbac.v1.PolicyRuleArgs(
                        api_groups=["apps"],
                        resources=["deployments", "statefulsets"],
                        verbs=["list", "watch"],
                    ),
                ],
            ),
            ns,
            args.stack,
            opts=child(),
        )

        # Grafana: generated admin password, provisioned datasource and dashboards (built in Python).
        password = random.RandomPassword(f"{name}-grafana-password", length=24, special=False, opts=child())
        secret = k8s.core.v1.Secret(
            f"{name}-grafana-secret",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=GRAFANA_SECRET, namespace=ns, labels=labels(args.stack, GRAFANA_APP, "monitoring")
            ),
            type="Opaque",
            string_data={GRAFANA_ADMIN_USER_KEY: "admin", GRAFANA_ADMIN_PASSWORD_KEY: password.result},
            opts=child(),
        )
        datasources = yaml.safe_dump(
            {
                "apiVersion": 1,
                "datasources": [
                    {
                        "name": "Prometheus",
                        "uid": DATASOURCE_UID,
                        "type": "prometheus",
                        "access": "proxy",
                        "url": f"http://{PROMETHEUS_APP}:{PROMETHEUS_PORT}",
                        "isDefault": True,
                        "editable": False,
                    }
                ],
            }
        )
        providers = yaml.safe_dump(
            {
                "apiVersion": 1,
                "providers": [
                    {
                        "name": "mlops-platform",
                        "type": "file",
                        "disableDeletion": True,
                        "allowUiUpdates": False,
                        "options": {"path": "/var/lib/grafana-dashboards"},
                    }
                ],
            }
        )
        dashboard_files = {
            f"{spec.uid}.json": json.dumps(build(spec), sort_keys=True) for spec in dashboards()
        }
        maps = [
            config_map(
                "grafana-datasources", "grafana-datasources", GRAFANA_APP, {"datasources.yaml": datasources}
            ),
            config_map(
                "grafana-providers",
                "grafana-dashboard-providers",
                GRAFANA_APP,
                {"dashboards.yaml": providers},
            ),
            config_map("grafana-dashboards", "grafana-dashboards", GRAFANA_APP, dashboard_files),
        ]

        AppDeployment(
            f"{name}-grafana",
            AppSpec(
                app=GRAFANA_APP,
                component="monitoring",
                image=GRAFANA_IMAGE,
                port=GRAFANA_PORT,
                resources=GRAFANA_RESOURCES,
                uid=GRAFANA_UID,
                env=[
                    secret_env("GF_SECURITY_ADMIN_USER", GRAFANA_SECRET, GRAFANA_ADMIN_USER_KEY),
                    secret_env("GF_SECURITY_ADMIN_PASSWORD", GRAFANA_SECRET, GRAFANA_ADMIN_PASSWORD_KEY),
                    k8s.core.v1.EnvVarArgs(name="GF_PATHS_DATA", value="/var/lib/grafana"),
                    k8s.core.v1.EnvVarArgs(name="GF_PATHS_LOGS", value="/var/log/grafana"),
                    k8s.core.v1.EnvVarArgs(name="GF_PATHS_PLUGINS", value="/var/lib/grafana/plugins"),
                    k8s.core.v1.EnvVarArgs(name="GF_ANALYTICS_REPORTING_ENABLED", value="false"),
                    k8s.core.v1.EnvVarArgs(name="GF_ANALYTICS_CHECK_FOR_UPDATES", value="false"),
                    k8s.core.v1.EnvVarArgs(name="GF_USERS_ALLOW_SIGN_UP", value="false"),
                    k8s.core.v1.EnvVarArgs(
                        name="GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH",
                        value="/var/lib/grafana-dashboards/mlops-serving.json",
                    ),
                ],
                ready_path="/api/health",
                live_path="/api/health",
                writable={"/var/lib/grafana": 256, "/var/log/grafana": 32},
                config_mounts=[
                    ("datasources", "grafana-datasources", "/etc/grafana/provisioning/datasources"),
                    ("providers", "grafana-dashboard-providers", "/etc/grafana/provisioning/dashboards"),
                    ("dashboards", "grafana-dashboards", "/var/lib/grafana-dashboards"),
                ],
                node_port=args.grafana_node_port,
                annotations={"checksum/config": _checksum(datasources, providers, *dashboard_files.values())},
            ),
            ns,
            args.stack,
            opts=child(ResourceOptions(depends_on=[secret, *maps, prometheus])),
        )
        self.grafana_secret = Output.all(secret.id, GRAFANA_SECRET).apply(lambda parts: str(parts[1]))
        self.requests = {
            "prometheus": PROMETHEUS_RESOURCES,
            "alertmanager": ALERTMANAGER_RESOURCES,
            "grafana": GRAFANA_RESOURCES,
            "retrain-trigger": TRIGGER_RESOURCES,
            "kube-state-metrics": KUBE_STATE_RESOURCES,
        }
        self.register_outputs({"grafana_secret": self.grafana_secret})
