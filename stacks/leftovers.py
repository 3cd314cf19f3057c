"""After `destroy`: ask the Kubernetes API what of the preview is still there.

`pulumi destroy` succeeding means Pulumi deleted what its state knew about. Volumes are where that and "gone"
part ways: StatefulSet claims are created by the controller (not Pulumi), and a PersistentVolume outlives its
claim while its reclaim policy runs or when it is Retain. So the check looks at Namespaces labelled with the
stack, every PVC in the preview namespace, and every PV bound to a claim in it.

PVCs are listed only while the namespace exists (none outlives it): a namespace-scoped preview identity loses
its rights in the namespace with its RoleBinding, before the namespace itself is deleted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from infra.components.pod_security import STACK_LABEL

# Seconds per API request: an unreachable API server must fail the check, not hang it.
REQUEST_TIMEOUT = 15


class LeftoverCheckError(Exception):
    """The cluster could not be asked (no kubeconfig, unreachable API server, forbidden)."""


class KubeApi(Protocol):
    """The part of kubernetes.client.CoreV1Api the check uses (tests pass a fake)."""

    def list_namespace(
        self, *, label_selector: str = ..., field_selector: str = ..., _request_timeout: float = ...
    ) -> Any:
        """Namespaces matching a label or field selector."""
        ...

    def list_namespaced_persistent_volume_claim(
        self, namespace: str, *, _request_timeout: float = ...
    ) -> Any:
        """PVCs in one namespace."""
        ...

    def list_persistent_volume(self, *, _request_timeout: float = ...) -> Any:
        """All PersistentVolumes (cluster-scoped)."""
        ...

    def delete_namespace(self, name: str, *, _request_timeout: float = ...) -> Any:
        """Delete a namespace (`gc` of orphaned previews)."""
        ...


@dataclass(frozen=True)
class Leftover:
    """One object of a destroyed preview that still exists."""

    kind: str
    """Namespace, PersistentVolumeClaim or PersistentVolume."""
    name: str
    """Object name."""
    namespace: str | None = None
    """Namespace of a namespaced object."""
    detail: str = ""
    """Phase and, for a PV, the claim it was bound to."""

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}" + (f" ({self.detail})" if self.detail else "")


def _phase(obj: Any) -> str:
    status = getattr(obj, "status", None)
    return str(getattr(status, "phase", None) or "")


def _claims(api: KubeApi, namespace: str) -> list[Any]:
    """PVCs in a namespace that still exists; none listed when forbidden (the namespace is reported)."""
    try:
        return list(
            api.list_namespaced_persistent_volume_claim(namespace, _request_timeout=REQUEST_TIMEOUT).items
        )
    except Exception as err:
        if getattr(err, "status", None) == 403:
            return []
        raise


def find_leftovers(api: KubeApi, stack: str, namespace: str) -> list[Leftover]:
    """Everything of preview `stack` (namespace `namespace`) still in the cluster; [] when clean."""
    selector = f"{STACK_LABEL}={stack}"
    try:
        namespaces = [
            *api.list_namespace(label_selector=selector, _request_timeout=REQUEST_TIMEOUT).items,
            *api.list_namespace(
                field_selector=f"metadata.name={namespace}", _request_timeout=REQUEST_TIMEOUT
            ).items,
        ]
        claims = _claims(api, namespace) if any(ns.metadata.name == namespace for ns in namespaces) else []
        volumes = api.list_persistent_volume(_request_timeout=REQUEST_TIMEOUT).items
    except Exception as err:  # the client raises urllib3, ApiException and config errors alike
        raise LeftoverCheckError(f"could not list objects in the cluster: {err}") from None
    found: list[Leftover] = []
    seen: set[str] = set()
    for ns in namespaces:
        if ns.metadata.name not in seen:
            seen.add(ns.metadata.name)
            found.append(Leftover("Namespace", ns.metadata.name, detail=_phase(ns)))
    found.extend(
        Leftover("PersistentVolumeClaim", pvc.metadata.name, namespace, _phase(pvc)) for pvc in claims
    )
    for pv in volumes:
        ref = getattr(pv.spec, "claim_ref", None)
        labels = pv.metadata.labels or {}
        if (ref is not None and ref.namespace == namespace) or labels.get(STACK_LABEL) == stack:
            claim = f"claim {ref.namespace}/{ref.name}, " if ref is not None else ""
            found.append(Leftover("PersistentVolume", pv.metadata.name, detail=f"{claim}{_phase(pv)}"))
    return found


def wait_for_cleanup(
    check: Callable[[], list[Leftover]],
    timeout: float,
    interval: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[Leftover]:
    """Re-check until nothing is left or `timeout` seconds pass; returns what is left at the end.

    Namespace termination and volume reclaim run asynchronously after the API accepted the deletes, so a
    first look right after `destroy` can see objects that are already on their way out.
    """
    deadline = clock() + timeout
    left = check()
    while left and clock() < deadline:
        sleep(min(interval, max(deadline - clock(), 0.0)))
        left = check()
    return left


def api_client_for(context: str | None) -> Any:
    """A kubernetes ApiClient for a kubeconfig context (None: the current context)."""
    # Imported here: only a real cluster check needs the client, and it is slow to import.
    from kubernetes import config

    try:
        return config.new_client_from_config(context=context)  # type: ignore[no-untyped-call]
    except Exception as err:  # ConfigException, missing file, bad YAML
        raise LeftoverCheckError(f"no usable kubeconfig for context {context!r}: {err}") from None


def core_api(context: str | None) -> KubeApi:
    """A CoreV1Api for a kubeconfig context (None: the current context)."""
    from kubernetes import client

    api: KubeApi = client.CoreV1Api(api_client_for(context))
    return api
