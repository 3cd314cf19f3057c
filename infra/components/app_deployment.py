"""One small hardened app: ServiceAccount (+ namespaced RBAC when it calls the API), Deployment, Service.

The monitoring components are five such apps; this builds them the same way (hardening from pod_security).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi import Input, Output, ResourceOptions

from infra.components.pod_security import (
    Resources,
    container_security_context,
    http_probe,
    labels,
    pod_security_context,
    selector,
    tmp_dir,
    writable_dir,
)
from infra.components.service import http_service


@dataclass(frozen=True)
class AppSpec:
    """What differs between the small apps."""

    app: str
    """App name: Deployment, Service, ServiceAccount and selector."""
    component: str
    """app.kubernetes.io/component label."""
    image: Input[str]
    port: int
    resources: Resources
    args: list[str] = field(default_factory=list)
    env: list[k8s.core.v1.EnvVarArgs] = field(default_factory=list)
    uid: int = 10001
    ready_path: str = "/"
    live_path: str = "/"
    writable: dict[str, int] = field(default_factory=dict)
    """Extra emptyDir mounts: path -> size in MiB (besides /tmp)."""
    config_mounts: list[tuple[str, str, str]] = field(default_factory=list)
    """(volume name, ConfigMap name, mount path)."""
    secret_mounts: list[tuple[str, Input[str], str, str]] = field(default_factory=list)
    """(volume name, Secret name, key, mount path): one key of a Secret as a file, nothing else of it."""
    rbac_rules: list[k8s.rbac.v1.PolicyRuleArgs] = field(default_factory=list)
    """Namespaced API access; empty means no API token is mounted at all."""
    api_reason: str = ""
    """Why the app calls the Kubernetes API (required with rbac_rules; recorded as checkov's skip reason)."""
    node_port: int | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    """Pod template annotations (e.g. a config checksum to roll pods when config changes)."""


class AppDeployment(pulumi.ComponentResource):
    """The Deployment and Service of one AppSpec."""

    service_name: Output[str]

    def __init__(
        self,
        name: str,
        spec: AppSpec,
        namespace: Input[str],
        stack: str,
        opts: ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlops:index:AppDeployment", name, None, opts)
        meta_labels = labels(stack, spec.app, spec.component)
        needs_api = bool(spec.rbac_rules)
        if needs_api and not spec.api_reason:
            raise ValueError(f"{spec.app}: rbac_rules need an api_reason")
        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=spec.app, namespace=namespace, labels=meta_labels),
            automount_service_account_token=needs_api,
            opts=ResourceOptions(parent=self),
        )
        depends: list[pulumi.Resource] = [account]
        if needs_api:
            role = k8s.rbac.v1.Role(
                f"{name}-role",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=spec.app, namespace=namespace, labels=meta_labels),
                rules=spec.rbac_rules,
                opts=ResourceOptions(parent=self),
            )
            binding = k8s.rbac.v1.RoleBinding(
                f"{name}-rolebinding",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=spec.app, namespace=namespace, labels=meta_labels),
                role_ref=k8s.rbac.v1.RoleRefArgs(
                    api_group="rbac.authorization.k8s.io", kind="Role", name=spec.app
                ),
                subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=spec.app, namespace=namespace)],
                opts=ResourceOptions(parent=self, depends_on=[role]),
            )
            depends.append(binding)
        tmp_vol, tmp_mount = tmp_dir(64)
        volumes, mounts = [tmp_vol], [tmp_mount]
        for index, (path, size) in enumerate(spec.writable.items()):
            vol, mount = writable_dir(f"data-{index}", path, size)
            volumes.append(vol)
            mounts.append(mount)
        for vol_name, config_map, path in spec.config_mounts:
            volumes.append(
                k8s.core.v1.VolumeArgs(
                    name=vol_name, config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=config_map)
                )
            )
            mounts.append(k8s.core.v1.VolumeMountArgs(name=vol_name, mount_path=path, read_only=True))
        for vol_name, secret, key, path in spec.secret_mounts:
            volumes.append(
                k8s.core.v1.VolumeArgs(
                    name=vol_name,
                    secret=k8s.core.v1.SecretVolumeSourceArgs(
                        secret_name=secret, items=[k8s.core.v1.KeyToPathArgs(key=key, path=key)]
                    ),
                )
            )
            mounts.append(k8s.core.v1.VolumeMountArgs(name=vol_name, mount_path=path, read_only=True))

        # checkov's CKV_K8S_38 (token mounted) is right by default; where the app needs the API, say why.
        skip = {"checkov.io/skip1": f"CKV_K8S_38={spec.api_reason}"} if needs_api else None
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=spec.app, namespace=namespace, labels=meta_labels, annotations=skip
            ),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                # Single replica with emptyDir state: replace rather than run two side by side.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(spec.app)),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=meta_labels, annotations=spec.annotations or None
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=spec.app,
                        automount_service_account_token=needs_api,
                        security_context=pod_security_context(spec.uid),
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name=spec.app,
                                image=spec.image,
                                image_pull_policy="IfNotPresent",
                                args=spec.args or None,
                                env=spec.env or None,
                                ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=spec.port)],
                                resources=spec.resources.args(),
                                security_context=container_security_context(spec.uid),
                                readiness_probe=http_probe(spec.ready_path, "http", 10, 3),
                                liveness_probe=http_probe(spec.live_path, "http", 20, 3),
                                volume_mounts=mounts,
                            )
                        ],
                        volumes=volumes,
                    ),
                ),
            ),
            opts=ResourceOptions(parent=self, depends_on=depends),
        )
        service = http_service(
            f"{name}-service",
            spec.app,
            namespace,
            meta_labels,
            spec.port,
            "http",
            spec.node_port,
            ResourceOptions(parent=self, depends_on=[deployment]),
        )
        self.service_name = Output.all(service.id, spec.app).apply(lambda parts: str(parts[1]))
        self.register_outputs({"service_name": self.service_name})
