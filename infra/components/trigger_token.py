"""The retrain trigger's bearer token: a Secret both Alertmanager and the trigger mount as a file."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
from pulumi import Input, Output, ResourceOptions

from infra.components.credentials import given_or_generated
from infra.components.namespace import RETRAIN_TRIGGER_APP
from infra.components.pod_security import labels

TOKEN_SECRET = "retrain-trigger-token"  # noqa: S105 - a Secret name
TOKEN_KEY = "token"  # noqa: S105 - a key name


def trigger_token_secret(
    name: str, namespace: Input[str], stack: str, given: Output[str] | None, parent: pulumi.Resource
) -> Output[str]:
    """The Secret's name (resolves once it exists); the token is `given` or generated (40 characters)."""
    token = given_or_generated(f"{name}-value", given, 40, parent)
    secret = k8s.core.v1.Secret(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=TOKEN_SECRET, namespace=namespace, labels=labels(stack, RETRAIN_TRIGGER_APP, "retraining")
        ),
        type="Opaque",
        string_data={TOKEN_KEY: token},
        opts=ResourceOptions(parent=parent),
    )
    return Output.all(secret.id, TOKEN_SECRET).apply(lambda parts: str(parts[1]))
