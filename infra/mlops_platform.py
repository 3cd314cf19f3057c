"""The platform of one stack: cluster -> provider -> images -> namespace -> MLflow -> training -> serving.

(Named mlops_platform, not platform: infra/ is first on sys.path when Pulumi runs it, and `platform` is a
standard-library module.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pulumi
import pulumi_command as command
import pulumi_kubernetes as k8s
from pulumi import Output, ResourceOptions

from infra.components.cluster import (
    KIND_API_SERVER_PORT,
    MINIKUBE_API_SERVER_PORT,
    NODE_PORTS,
    Cluster,
    ClusterArgs,
    Runner,
    cluster_exists,
    run_local,
)
from infra.components.data_volumes import TrainingDataVolume, TrainingDataVolumeArgs
from infra.components.images import Delivery, Images, ImagesArgs
from infra.components.inference_log import InferenceLogVolume, InferenceLogVolumeArgs
from infra.components.mlflow_identities import (
    PROMETHEUS,
    SERVING,
    TRAINING,
    MlflowIdentities,
    MlflowIdentitiesArgs,
    Workload,
)
from infra.components.mlflow_maintenance import MlflowMaintenance, MlflowMaintenanceArgs
from infra.components.mlflow_server import (
    ADMIN_USER,
    SECRET_ADMIN_PASSWORD,
    SECRET_ADMIN_USER,
    MlflowCredentials,
    MlflowServer,
    MlflowServerArgs,
)
from infra.components.monitoring import Monitoring, MonitoringArgs
from infra.components.namespace import (
    GRAFANA_APP,
    GRAFANA_PORT,
    PROMETHEUS_APP,
    PROMETHEUS_PORT,
    RETRAIN_TRIGGER_APP,
    Namespace,
    NamespaceArgs,
)
from infra.components.namespace_limits import NamespaceLimits, NamespaceLimitsArgs
from infra.components.network_policies import LOCAL_POD_CIDR, NetworkArgs
from infra.components.pod_security import Resources
from infra.components.retrain_admission import RetrainAdmission, RetrainAdmissionArgs
from infra.components.service import cluster_url
from infra.components.serving import Serving, ServingArgs, ServingLogArgs
from infra.components.training_jobs import TrainingJobs, TrainingJobsArgs
from infra.components.workloads import MlflowClientArgs
from infra.config import SNAPSHOTS_DATASET, ClusterMode, SecretValue, StackConfig
from mlops_contract.names import (
    DEFAULT_EXPERIMENT,
    MLFLOW_PORT,
    MLFLOW_SERVICE_NAME,
    SERVING_PORT,
    SERVING_SERVICE_NAME,
    TRAINING_DATA_DIR,
)

# Published in the README; tests hold the dev stack to it.
DEV_BUDGET = Resources(cpu_request_m=1500, memory_request_mi=2560, cpu_limit_m=0, memory_limit_mi=0)


@dataclass
class Platform:
    """Handles on what `build` created, for stack outputs and tests."""

    cluster: Cluster
    provider: k8s.Provider
    images: Images
    namespace: Namespace
    mlflow: MlflowServer
    maintenance: MlflowMaintenance
    training: TrainingJobs
    serving: Serving
    monitoring: Monitoring
    urls: dict[str, Output[str]]
    requests: dict[str, Resources]

    def total_requests(self) -> Resources:
        """Sum over every component's containers."""
        total = Resources(0, 0, 0, 0)
        for part in self.requests.values():
            total = total + part
        return total

    def outputs(self) -> dict[str, object]:
        """What the stack exports (`pulumi stack output`); names are what docs and the e2e script use."""
        total = self.total_requests()
        return {
            "namespace": self.namespace.name,
            "clusterMode": self.cluster.mode.value,
            "mlflowUrl": self.urls["mlflow"],
            "servingUrl": self.urls["serving"],
            "grafanaUrl": self.urls["grafana"],
            "prometheusUrl": self.urls["prometheus"],
            "grafanaAdminSecret": self.monitoring.grafana_secret,
            "mlflowInClusterUrl": self.mlflow.url,
            "servingInClusterUrl": self.serving.url,
            "mlflowCredentialsSecret": self.mlflow.credentials_secret,
            "images": self.images.refs,
            "retrainCronJob": self.training.cronjob_name,
            "backupCronJob": self.maintenance.backup_cronjob,
            "resourceRequests": {
                name: {"cpu": f"{r.cpu_request_m}m", "memory": f"{r.memory_request_mi}Mi"}
                for name, r in self.requests.items()
            },
            "resourceRequestsTotal": {
                "cpu": f"{total.cpu_request_m}m",
                "memory": f"{total.memory_request_mi}Mi",
            },
        }


def _provider(cfg: StackConfig, cluster: Cluster) -> k8s.Provider:
    return k8s.Provider(
        "k8s",
        kubeconfig=cluster.kubeconfig,
        context=cluster.context,
        # Every namespaced object names its namespace explicitly; this catches one that forgets.
        namespace=cfg.namespace,
        # A kind cluster recreated after an out-of-band deletion has a new CA, so this Provider and every
        # object are replaced; the old objects went with the old cluster, so their deletes must not wait
        # for it. Only for clusters the stack owns: on a shared cluster an outage must stay an error.
        delete_unreachable=True if cluster.created else None,
        opts=ResourceOptions(depends_on=cluster.created),
    )


def _node_ip(cfg: StackConfig, cluster: Cluster) -> Output[str] | None:
    """minikube's node IP, where its NodePorts are published; None where users reach localhost or nothing."""
    if not (cfg.node_ports and cfg.cluster_mode is ClusterMode.MINIKUBE):
        return None
    return command.local.Command(
        "minikube-ip",
        create=f"minikube -p {cfg.cluster_name} ip",
        # A recreated profile may get another IP.
        triggers=[cluster.identity] if cluster.identity is not None else None,
        opts=ResourceOptions(parent=cluster, depends_on=cluster.created),
    ).stdout.apply(lambda out: out.strip())


def _host_urls(cfg: StackConfig, node_ip: Output[str] | None) -> dict[str, Output[str]]:
    """Where a user on the host reaches each service."""
    services = {
        "mlflow": (MLFLOW_SERVICE_NAME, MLFLOW_PORT),
        "serving": (SERVING_SERVICE_NAME, SERVING_PORT),
        "grafana": (GRAFANA_APP, GRAFANA_PORT),
        "prometheus": (PROMETHEUS_APP, PROMETHEUS_PORT),
    }
    in_cluster = {key: cluster_url(service, cfg.namespace, port) for key, (service, port) in services.items()}
    if not cfg.node_ports:
        # Shared or remote cluster: nothing is published; `kubectl port-forward` reaches the Services.
        return {key: Output.from_input(url) for key, url in in_cluster.items()}
    if cfg.cluster_mode is ClusterMode.KIND:
        ports = cfg.host_ports
        return {
            "mlflow": Output.from_input(f"http://localhost:{ports.mlflow}"),
            "serving": Output.from_input(f"http://localhost:{ports.serving}"),
            "grafana": Output.from_input(f"http://localhost:{ports.grafana}"),
            "prometheus": Output.from_input(f"http://localhost:{ports.prometheus}"),
        }
    # minikube: NodePorts on the profile's node IP.
    assert node_ip is not None
    return {key: Output.concat("http://", node_ip, f":{NODE_PORTS[key]}") for key in services}


def _utc_stamp(moment: datetime | None) -> str | None:
    """ISO-8601 UTC with a Z, to the second (as the preview tool writes expiresAt)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None


def _secret(value: SecretValue | None) -> Output[str] | None:
    return value.output() if value is not None else None


def _mlflow_credentials(cfg: StackConfig) -> MlflowCredentials:
    given = cfg.credentials
    return MlflowCredentials(
        postgres_password=_secret(given.postgres_password),
        admin_password=_secret(given.mlflow_admin_password),
        flask_secret_key=_secret(given.mlflow_flask_secret_key),
    )


def _identity_passwords(cfg: StackConfig) -> dict[str, Output[str]]:
    given = cfg.credentials
    values = {
        SERVING.user: _secret(given.mlflow_serving_password),
        TRAINING.user: _secret(given.mlflow_training_password),
        PROMETHEUS.user: _secret(given.mlflow_prometheus_password),
    }
    return {user: value for user, value in values.items() if value is not None}


def _delivery(cfg: StackConfig) -> Delivery:
    if cfg.cluster_mode is ClusterMode.MINIKUBE:
        return Delivery.MINIKUBE_LOAD
    if cfg.cluster_mode is ClusterMode.EXISTING and cfg.image_registry is not None:
        return Delivery.PUSH
    # kind, and previews without a registry: they share the dev stack's kind cluster (`clusterName`).
    return Delivery.KIND_LOAD


def _code_version(ref: str) -> str:
    """What training records as its code version: the image digest, else the content-hash tag."""
    return ref.rsplit("@", 1)[1] if "@" in ref else ref.rsplit(":", 1)[-1]


def build(cfg: StackConfig, run: Runner = run_local) -> Platform:
    """Declare every resource of the stack. Call inside a Pulumi program (or under mocks).

    `run` executes the read-only probe that tells whether a kind cluster / minikube profile still exists.
    Every component is a child of the stack, declared by one function below: a component moved under another
    parent would get a new URN, i.e. be deleted and recreated (tests/infra/test_urns.py holds them).
    """
    cluster = _cluster(cfg, run)
    provider = _provider(cfg, cluster)
    node_ip = _node_ip(cfg, cluster)
    images = _images(cfg, cluster)
    scope = _Scope(cfg, _namespace(cfg, provider), images, provider)
    mlflow = _mlflow(scope, node_ip)
    identities = _identities(scope, mlflow)
    training_data = _training_data(scope)
    maintenance = _maintenance(scope, mlflow)
    inference_log = _inference_log(scope)
    training = _training(scope, mlflow, identities, training_data, inference_log)
    serving = _serving(scope, mlflow, identities, training, inference_log)
    _limits(scope)
    # Cluster-scoped, so a namespace-scoped deployer cannot create it; on such previews the cluster's preview
    # guard (previews/access.py) refuses every Job the trigger asks for instead.
    if cfg.deployer is None:
        _retrain_admission(scope, training)
    monitoring = _monitoring(scope, mlflow, identities, training)
    return Platform(
        cluster=cluster,
        provider=provider,
        images=images,
        namespace=scope.namespace,
        mlflow=mlflow,
        maintenance=maintenance,
        training=training,
        serving=serving,
        monitoring=monitoring,
        urls=_host_urls(cfg, node_ip),
        requests={**mlflow.requests, **training.requests, **serving.requests, **monitoring.requests},
    )


@dataclass(frozen=True)
class _Scope:
    """What every component in the stack's namespace is declared against."""

    cfg: StackConfig
    namespace: Namespace
    images: Images
    provider: k8s.Provider

    def opts(self, *depends_on: pulumi.Resource) -> ResourceOptions:
        """Fresh options: the stack's Kubernetes provider, and what must exist first."""
        return ResourceOptions(providers={"kubernetes": self.provider}, depends_on=list(depends_on) or None)

    def node_port(self, service: str) -> int | None:
        """The service's NodePort where the stack publishes on the host, else None."""
        return NODE_PORTS[service] if self.cfg.node_ports else None


def _cluster(cfg: StackConfig, run: Runner) -> Cluster:
    return Cluster(
        "cluster",
        ClusterArgs(
            mode=cfg.cluster_mode,
            name=cfg.cluster_name,
            kind_node_image=cfg.kind_node_image,
            host_ports=cfg.host_ports,
            kubeconfig_path=cfg.kubeconfig,
            context=cfg.kube_context,
            exists=cluster_exists(cfg.cluster_mode, cfg.cluster_name, run),
        ),
    )


def _images(cfg: StackConfig, cluster: Cluster) -> Images:
    return Images(
        "images",
        ImagesArgs(
            delivery=_delivery(cfg),
            cluster_name=cfg.cluster_name,
            registry=cfg.image_registry,
            cluster_ready=cluster.created,
            cluster_identity=cluster.identity,
            platform=cfg.image_platform,
            prebuilt=cfg.prebuilt_images,
        ),
    )


def _namespace(cfg: StackConfig, provider: k8s.Provider) -> Namespace:
    return Namespace(
        "namespace",
        NamespaceArgs(
            name=cfg.namespace,
            stack=cfg.stack,
            kubernetes_version=cfg.kubernetes_version,
            network=_network(cfg),
            retain_on_delete=cfg.protect_volumes,
            preview=cfg.preview,
            expires_at=_utc_stamp(cfg.expires_at),
            deployer=cfg.deployer,
        ),
        opts=ResourceOptions(providers={"kubernetes": provider}),
    )


def _mlflow(scope: _Scope, node_ip: Output[str] | None) -> MlflowServer:
    cfg = scope.cfg
    return MlflowServer(
        "mlflow",
        MlflowServerArgs(
            namespace=scope.namespace.name,
            namespace_name=cfg.namespace,
            stack=cfg.stack,
            image=scope.images.refs["mlops-mlflow"],
            postgres_storage=cfg.postgres_storage,
            artifact_storage=cfg.artifact_storage,
            storage_class=cfg.storage_class,
            protect_volumes=cfg.protect_volumes,
            node_port=scope.node_port("mlflow"),
            credentials=_mlflow_credentials(cfg),
            node_host=node_ip,
        ),
        opts=scope.opts(),
    )


def _identities(scope: _Scope, mlflow: MlflowServer) -> MlflowIdentities:
    return MlflowIdentities(
        "mlflow-identities",
        MlflowIdentitiesArgs(
            namespace=scope.namespace.name,
            stack=scope.cfg.stack,
            image=scope.images.refs["mlops-mlflow"],
            tracking_uri=mlflow.url,
            admin_secret=mlflow.credentials_secret,
            admin_user=ADMIN_USER,
            admin_password_key=SECRET_ADMIN_PASSWORD,
            experiment=DEFAULT_EXPERIMENT,
            model_name=scope.cfg.model_name,
            mlflow_ready=[mlflow],
            passwords=_identity_passwords(scope.cfg),
        ),
        opts=scope.opts(),
    )


def _training_data(scope: _Scope) -> TrainingDataVolume:
    cfg = scope.cfg
    return TrainingDataVolume(
        "training-data",
        TrainingDataVolumeArgs(
            namespace=scope.namespace.name,
            stack=cfg.stack,
            storage=cfg.training_data_storage,
            keep_snapshots=cfg.training_snapshots_keep,
            storage_class=cfg.storage_class,
            protect=cfg.protect_volumes,
        ),
        opts=scope.opts(),
    )


def _maintenance(scope: _Scope, mlflow: MlflowServer) -> MlflowMaintenance:
    """Backups and `mlflow gc`. Maintenance holds the database password (pg_dump, gc): MLflow's admin login
    adds little to that."""
    cfg = scope.cfg
    return MlflowMaintenance(
        "mlflow-maintenance",
        MlflowMaintenanceArgs(
            namespace=scope.namespace.name,
            stack=cfg.stack,
            mlflow_image=scope.images.refs["mlops-mlflow"],
            # `mlflow gc` deletes any experiment's artifacts through the server: the admin login.
            mlflow=MlflowClientArgs(
                tracking_uri=mlflow.url,
                credentials_secret=mlflow.credentials_secret,
                username_key=SECRET_ADMIN_USER,
                password_key=SECRET_ADMIN_PASSWORD,
            ),
            credentials_secret=mlflow.credentials_secret,
            backup_schedule=cfg.backup_schedule,
            backup_keep=cfg.backup_retention,
            backup_storage=cfg.backup_storage,
            storage_class=cfg.storage_class,
            protect_volumes=cfg.protect_volumes,
            gc_schedule=cfg.gc_schedule,
            gc_older_than_days=cfg.gc_retention_days,
        ),
        opts=scope.opts(),
    )


def _inference_log(scope: _Scope) -> ServingLogArgs | None:
    """The inference-log volume and what serving needs to write it, when the stack turns the log on."""
    cfg = scope.cfg
    log = cfg.inference_log
    if not log.enabled:
        return None
    volume = InferenceLogVolume(
        "inference-log",
        InferenceLogVolumeArgs(
            namespace=scope.namespace.name,
            stack=cfg.stack,
            storage=log.storage,
            storage_class=log.storage_class or cfg.storage_class,
            access_mode=log.access_mode.value,
            protect=cfg.protect_volumes,
        ),
        opts=scope.opts(),
    )
    return ServingLogArgs(claim_name=volume.claim_name, sample_rate=log.sample_rate, max_bytes=log.max_bytes)


def _client(mlflow: MlflowServer, identities: MlflowIdentities, workload: Workload) -> MlflowClientArgs:
    """How a workload reaches MLflow: with its own login, never the admin's."""
    return MlflowClientArgs(tracking_uri=mlflow.url, credentials_secret=identities.secrets[workload.user])


def _training(
    scope: _Scope,
    mlflow: MlflowServer,
    identities: MlflowIdentities,
    training_data: TrainingDataVolume,
    inference_log: ServingLogArgs | None,
) -> TrainingJobs:
    cfg = scope.cfg
    image = scope.images.refs["mlops-training"]
    return TrainingJobs(
        "training",
        TrainingJobsArgs(
            namespace=scope.namespace.name,
            stack=cfg.stack,
            image=image,
            mlflow=_client(mlflow, identities, TRAINING),
            model_name=cfg.model_name,
            # `snapshots` names the volume; training sees it as the directory it is mounted at.
            dataset=TRAINING_DATA_DIR if cfg.training_dataset == SNAPSHOTS_DATASET else cfg.training_dataset,
            target_column=cfg.training_target_column,
            training_data_claim=training_data.claim_name,
            # Retraining learns from the labelled requests serving logs (read-only here).
            inference_log_claim=None if inference_log is None else inference_log.claim_name,
            feedback_window_hours=cfg.feedback_window_hours,
            feedback_weight=cfg.feedback_weight,
            promotion_margin=cfg.promotion_margin,
            promotion_floor=cfg.promotion_floor,
            validation=cfg.training_validation,
            trusted_holdout=cfg.training_trusted_holdout,
            schedule=cfg.retrain_schedule,
            code_version=image.apply(_code_version),
        ),
        opts=scope.opts(identities.job),
    )


def _serving(
    scope: _Scope,
    mlflow: MlflowServer,
    identities: MlflowIdentities,
    training: TrainingJobs,
    inference_log: ServingLogArgs | None,
) -> Serving:
    cfg = scope.cfg
    return Serving(
        "serving",
        ServingArgs(
            namespace=scope.namespace.name,
            stack=cfg.stack,
            image=scope.images.refs["mlops-serving"],
            mlflow=_client(mlflow, identities, SERVING),
            model_name=cfg.model_name,
            replicas=cfg.serving_replicas,
            max_replicas=cfg.serving_max_replicas,
            reload_interval_seconds=cfg.reload_interval_seconds,
            max_in_flight=cfg.serving_max_in_flight,
            node_port=scope.node_port("serving"),
            depends_on=[training.bootstrap_job],
            inference_log=inference_log,
        ),
        opts=scope.opts(identities.job),
    )


def _limits(scope: _Scope) -> NamespaceLimits:
    return NamespaceLimits(
        "limits",
        NamespaceLimitsArgs(namespace=scope.namespace.name, stack=scope.cfg.stack),
        opts=scope.opts(),
    )


def _retrain_admission(scope: _Scope, training: TrainingJobs) -> RetrainAdmission:
    return RetrainAdmission(
        "retrain-admission",
        RetrainAdmissionArgs(
            namespace=scope.cfg.namespace,
            stack=scope.cfg.stack,
            trigger_service_account=RETRAIN_TRIGGER_APP,
            pod_template=training.pod_template,
            namespace_uid=scope.namespace.uid,
        ),
        # Before the trigger exists: there is no moment in which it may create any Job it likes.
        opts=scope.opts(scope.namespace),
    )


def _monitoring(
    scope: _Scope, mlflow: MlflowServer, identities: MlflowIdentities, training: TrainingJobs
) -> Monitoring:
    cfg = scope.cfg
    return Monitoring(
        "monitoring",
        MonitoringArgs(
            namespace=scope.namespace.name,
            namespace_name=cfg.namespace,
            stack=cfg.stack,
            trigger_image=scope.images.refs["mlops-retrain-trigger"],
            retrain_cronjob=training.cronjob_name,
            grafana_node_port=scope.node_port("grafana"),
            prometheus_node_port=scope.node_port("prometheus"),
            grafana_admin_password=_secret(cfg.credentials.grafana_admin_password),
            grafana_secret_key=_secret(cfg.credentials.grafana_secret_key),
            mlflow_scrape_secret=identities.secrets[PROMETHEUS.user],
            retrain_trigger_token=_secret(cfg.credentials.retrain_trigger_token),
            thresholds=cfg.thresholds,
        ),
        opts=scope.opts(mlflow, identities.job),
    )


def _network(cfg: StackConfig) -> NetworkArgs:
    """What the NetworkPolicies know of the cluster: kind/minikube's pod network and API server port."""
    if cfg.cluster_mode is ClusterMode.EXISTING:
        # The pod network and the API server's address are the cluster's own: limited by port only.
        return NetworkArgs(host_exposed=False, pod_cidr=None, api_server_ports=(443, 6443))
    api_port = KIND_API_SERVER_PORT if cfg.cluster_mode is ClusterMode.KIND else MINIKUBE_API_SERVER_PORT
    return NetworkArgs(host_exposed=cfg.node_ports, pod_cidr=LOCAL_POD_CIDR, api_server_ports=(443, api_port))


def export(platform: Platform) -> None:
    """Publish the stack outputs."""
    for key, value in platform.outputs().items():
        pulumi.export(key, value)
