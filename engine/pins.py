"""Versions of the real-engine tier's Go-built tools: the one place they are pinned.

Each is the closest the Go module proxy serves to what the Python SDKs in uv.lock request (tests hold the
two together): the Pulumi CLI to the `pulumi` SDK, the kubernetes provider to `pulumi-kubernetes`. One
Kubernetes minor (the kind node image's, and the schema validation's) for the control plane.
"""

from __future__ import annotations

PULUMI = "3.274.1"
"""github.com/pulumi/pulumi/pkg/v3 (cmd/pulumi) and sdk/v3."""

KUBERNETES_PROVIDER = "4.25.0"
"""The version the provider plugin is registered under (pulumi-kubernetes' Python SDK requests it)."""
KUBERNETES_PROVIDER_MODULE_VERSION = "v4.0.0-20260115033456-f47bc2d6f199"
"""provider/v4 has no module tags: the proxy serves the v4.25.0 release commit as a pseudo-version."""

KUBERNETES = "1.33.13"
"""kube-apiserver, kube-controller-manager, kube-scheduler (k8s.io/kubernetes) and its staging modules."""

ETCD = "3.5.35"
"""The etcd minor Kubernetes 1.33 is tested with."""

KWOK = "0.8.0"
"""kwok (simulated nodes and pods) and kwokctl (starts the control plane from local binaries)."""
