"""Preview namespaces whose stack is gone: found by their own labels, deleted once their expiry has passed.

A preview namespace carries `mlops.platform/preview=true`, its stack (`mlops.platform/stack`) and its expiry
(annotation `mlops.platform/expires-at`, set by the program from the stack's expiresAt). When the stack itself
is lost (state deleted, `pulumi stack rm --force`, a failed create), `gc` cannot see the preview through
Pulumi; these labels let it still clean up, without ever touching a namespace it cannot prove is an expired
preview.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from infra.components.namespace import EXPIRES_AT_ANNOTATION, PREVIEW_LABEL
from infra.components.pod_security import STACK_LABEL
from previews.expiry import GcPlan, select_expired
from previews.naming import NAMESPACE_PREFIX
from stacks.leftovers import REQUEST_TIMEOUT, KubeApi, LeftoverCheckError


@dataclass(frozen=True)
class PreviewNamespace:
    """A namespace labelled as a preview."""

    name: str
    """Namespace name."""
    stack: str | None
    """The stack it was created by (its label), if any."""
    expires_at: str | None
    """Its expiry annotation as stored, if any."""


def preview_namespaces(api: KubeApi) -> list[PreviewNamespace]:
    """Every namespace labelled as a preview and named like one, sorted by name."""
    try:
        found = api.list_namespace(
            label_selector=f"{PREVIEW_LABEL}=true", _request_timeout=REQUEST_TIMEOUT
        ).items
    except Exception as err:  # the client raises urllib3, ApiException and config errors alike
        raise LeftoverCheckError(f"could not list preview namespaces: {err}") from None
    out = []
    for ns in found:
        meta = ns.metadata
        # A label alone could be copied onto anything; the name must be a preview's too.
        if not meta.name.startswith(NAMESPACE_PREFIX):
            continue
        out.append(
            PreviewNamespace(
                name=meta.name,
                stack=(meta.labels or {}).get(STACK_LABEL),
                expires_at=(meta.annotations or {}).get(EXPIRES_AT_ANNOTATION),
            )
        )
    return sorted(out, key=lambda n: n.name)


def select_orphans(namespaces: list[PreviewNamespace], stacks: Collection[str], now: datetime) -> GcPlan:
    """Namespaces of no known stack, sorted into expired (to delete), alive and unknown (kept) at `now`."""
    orphans = {ns.name: ns.expires_at for ns in namespaces if ns.stack not in stacks}
    return select_expired(orphans, now)


def delete_namespace(api: KubeApi, name: str) -> None:
    """Ask the API server to delete a namespace (it terminates asynchronously, with everything in it)."""
    try:
        api.delete_namespace(name, _request_timeout=REQUEST_TIMEOUT)
    except Exception as err:
        raise LeftoverCheckError(f"could not delete namespace {name}: {err}") from None
