"""The platform's Services: one HTTP port, NodePort on local clusters (host-mapped), else ClusterIP."""

from __future__ import annotations

import pulumi_kubernetes as k8s
from pulumi import Input, ResourceOptions

from infra.components.pod_security import selector


def cluster_url(service: str, namespace: str, port: int) -> str:
    """A Service's in-cluster base URL (its fully qualified DNS name)."""
    return f"http://{service}.{namespace}.svc.cluster.local:{port}"


def http_service(
    resource_name: str,
    app: str,
    namespace: Input[str],
    labels: dict[str, str],
    port: int,
    target_port: int | str,
    node_port: int | None,
    opts: ResourceOptions,
) -> k8s.core.v1.Service:
    """A Service named after `app` selecting its pods."""
    return k8s.core.v1.Service(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=app, namespace=namespace, labels=labels),
        spec=k8s.core.v1.ServiceSpecArgs(
            type="NodePort" if node_port else "ClusterIP",
            selector=selector(app),
            ports=[
                k8s.core.v1.ServicePortArgs(
                    name="http", port=port, target_port=target_port, node_port=node_port
                )
            ],
        ),
        opts=opts,
    )
