"""Model serving: Deployment of the FastAPI service, Service, PodDisruptionBudget, HPA, scrape annotations.

Rolling updates never drop below the desired replicas (maxUnavailable 0), pods leave the Service before they
stop (preStop sleep, then SIGTERM lets in-flight requests finish within the grace period).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi import Input, Output, ResourceOptions

from infra.components.inference_log import inference_log_volume
from infra.components.namespace import SERVING_APP
from infra.components.pod_security import (
    Resources,
    container_security_context,
    http_probe,
    labels,
    pod_security_context,
    selector,
    service_account,
    tmp_dir,
)
from infra.components.service import cluster_url, http_service
from infra.components.workloads import MlflowClientArgs, mlflow_client_env, plain_env
from mlops_contract.names import (
    CHAMPION_ALIAS,
    INFERENCE_LOG_MOUNT_PATH,
    SERVING_METRICS_PORT,
    SERVING_PORT,
    SERVING_SERVICE_NAME,
    SERVING_SHUTDOWN_GRACE_SECONDS,
    Env,
    Route,
)

SERVING_RESOURCES = Resources(100, 256, 1000, 512)
# Endpoints take a moment to drop a terminating pod; keep serving until they have.
PRE_STOP_SLEEP_SECONDS = 5
# The grace covers the preStop sleep, serving's own shutdown budget and a margin.
TERMINATION_GRACE_SECONDS = PRE_STOP_SLEEP_SECONDS + SERVING_SHUTDOWN_GRACE_SECONDS + 5
HPA_CPU_UTILIZATION = 70


@dataclass(frozen=True)
class ServingLogArgs:
    """The inference log serving writes (docs/serving.md)."""

    claim_name: Input[str]
    """The inference-log PVC."""
    sample_rate: float
    """Share of prediction requests logged."""
    max_bytes: int
    """Cap on the log's total size."""


@dataclass(frozen=True)
class ServingArgs:
    """What to serve and how many replicas."""

    namespace: Input[str]
    """Target namespace."""
    stack: str
    """Stack name (labels)."""
    image: Input[str]
    """Serving image."""
    mlflow: MlflowClientArgs
    """Registry and credentials."""
    model_name: str
    """Registered model to serve (its `champion` alias)."""
    replicas: int
    """The HPA minimum (the Deployment itself leaves the count to the HPA)."""
    max_replicas: int
    """HPA maximum."""
    reload_interval_seconds: int
    """How often the alias is checked."""
    max_in_flight: int
    """Requests one replica admits at once (the rest get 503 + Retry-After); sized for SERVING_RESOURCES."""
    node_port: int | None
    """Expose on this NodePort (kind/minikube), None for ClusterIP only."""
    depends_on: list[pulumi.Resource]
    """Start only after these (the bootstrap training Job, so a champion exists)."""
    inference_log: ServingLogArgs | None = None
    """Log sampled requests to this volume (None: no log, no feedback)."""


def serving_env(args: ServingArgs) -> list[k8s.core.v1.EnvVarArgs]:
    """Exactly what services.serving.settings reads."""
    return [
        *mlflow_client_env(args.mlflow),
        *plain_env(
            {
                Env.MODEL_NAME: args.model_name,
                Env.MODEL_ALIAS: CHAMPION_ALIAS,
                Env.RELOAD_INTERVAL_SECONDS: str(args.reload_interval_seconds),
                Env.MAX_IN_FLIGHT: str(args.max_in_flight),
                Env.SERVING_HOST: "0.0.0.0",  # noqa: S104 - the pod's own interface, behind the Service
                Env.SERVING_PORT: str(SERVING_PORT),
                Env.SERVING_METRICS_PORT: str(SERVING_METRICS_PORT),
                Env.LOG_LEVEL: "INFO",
                **_log_env(args.inference_log),
            }
        ),
    ]


def _log_env(log: ServingLogArgs | None) -> dict[Env, str]:
    if log is None:
        return {}
    return {
        Env.INFERENCE_LOG_DIR: INFERENCE_LOG_MOUNT_PATH,
        Env.INFERENCE_LOG_SAMPLE_RATE: str(log.sample_rate),
        Env.INFERENCE_LOG_MAX_BYTES: str(log.max_bytes),
    }


class Serving(pulumi.ComponentResource):
    """The serving Deployment and what keeps it available and scraped."""

    url: Output[str]
    """In-cluster base URL."""
    requests: dict[str, Resources]
    """Per-pod resources times the HPA minimum, for the stack's budget output."""

    def __init__(self, name: str, args: ServingArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("mlops:index:Serving", name, None, opts)
        ns = args.namespace
        meta_labels = labels(args.stack, SERVING_APP, "serving")
        account = service_account(f"{name}-serving", SERVING_APP, ns, meta_labels, self)
        tmp_vol, tmp_mount = tmp_dir(512)
        volumes, mounts = [tmp_vol], [tmp_mount]
        if args.inference_log is not None:
            log_vol, log_mount = inference_log_volume(args.inference_log.claim_name, read_only=False)
            volumes.append(log_vol)
            mounts.append(log_mount)

        def probe(route: Route, period: int, failures: int) -> k8s.core.v1.ProbeArgs:
            return http_probe(route.value, "http", period, failures)

        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SERVING_APP, namespace=ns, labels=meta_labels),
            # No `replicas`: the HPA owns the count (minReplicas = args.replicas). Under server-side apply a
            # replicas field here would be ours too, conflicting with the HPA controller's writes, and each
            # `pulumi up` would reset a scaled-out Deployment. A new Deployment starts at 1; the HPA lifts it.
            spec=k8s.apps.v1.DeploymentSpecArgs(
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(SERVING_APP)),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=meta_labels,
                        annotations={
                            "prometheus.io/scrape": "true",
                            # The metrics listener, not the public port (the NetworkPolicy opens only it).
                            "prometheus.io/port": str(SERVING_METRICS_PORT),
                            "prometheus.io/path": Route.METRICS.value,
                        },
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=account,
                        automount_service_account_token=False,
                        security_context=pod_security_context(),
                        termination_grace_period_seconds=TERMINATION_GRACE_SECONDS,
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="serving",
                                image=args.image,
                                image_pull_policy="IfNotPresent",
                                ports=[
                                    k8s.core.v1.ContainerPortArgs(name="http", container_port=SERVING_PORT),
                                    k8s.core.v1.ContainerPortArgs(
                                        name="metrics", container_port=SERVING_METRICS_PORT
                                    ),
                                ],
                                env=serving_env(args),
                                resources=SERVING_RESOURCES.args(),
                                security_context=container_security_context(),
                                # Loading the model from the registry may take a while on a cold node.
                                startup_probe=probe(Route.HEALTHZ, 2, 60),
                                readiness_probe=probe(Route.READYZ, 5, 2),
                                liveness_probe=probe(Route.HEALTHZ, 15, 4),
                                lifecycle=k8s.core.v1.LifecycleArgs(
                                    pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                                        sleep=k8s.core.v1.SleepActionArgs(seconds=PRE_STOP_SLEEP_SECONDS)
                                    )
                                ),
                                volume_mounts=mounts,
                            )
                        ],
                        volumes=volumes,
                    ),
                ),
            ),
            opts=ResourceOptions(parent=self, depends_on=args.depends_on),
        )
        service = http_service(
            f"{name}-service",
            SERVING_SERVICE_NAME,
            ns,
            meta_labels,
            SERVING_PORT,
            "http",
            args.node_port,
            ResourceOptions(parent=self, depends_on=[deployment]),
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SERVING_APP, namespace=ns, labels=meta_labels),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                # With one replica a minAvailable of 1 would block node drains forever.
                min_available=1 if args.replicas > 1 else 0,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(SERVING_APP)),
            ),
            opts=ResourceOptions(parent=self),
        )
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SERVING_APP, namespace=ns, labels=meta_labels),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=SERVING_APP
                ),
                min_replicas=args.replicas,
                max_replicas=args.max_replicas,
                metrics=[
                    k8s.autoscaling.v2.MetricSpecArgs(
                        type="Resource",
                        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                            name="cpu",
                            target=k8s.autoscaling.v2.MetricTargetArgs(
                                type="Utilization", average_utilization=HPA_CPU_UTILIZATION
                            ),
                        ),
                    )
                ],
            ),
            opts=ResourceOptions(parent=self, depends_on=[deployment]),
        )
        self.url = Output.all(service.id, ns).apply(
            lambda parts: cluster_url(SERVING_SERVICE_NAME, str(parts[1]), SERVING_PORT)
        )
        self.requests = {"serving": SERVING_RESOURCES.times(args.replicas)}
        self.register_outputs({"url": self.url})
