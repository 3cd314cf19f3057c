"""Reading a Kubernetes Secret with kubectl, without its values ever reaching a log."""

from __future__ import annotations

import base64
import binascii
import json

from e2e.runner import Runner, run_checked


class SecretError(RuntimeError):
    """The Secret is missing, malformed or lacks a key."""


def read_secret(runner: Runner, context: str, namespace: str, name: str) -> dict[str, str]:
    """The Secret's data, base64-decoded."""
    result = run_checked(
        runner,
        ["kubectl", "--context", context, "--namespace", namespace, "get", "secret", name, "-o", "json"],
        sensitive=True,
    )
    try:
        data = json.loads(result.stdout).get("data") or {}
        return {key: base64.b64decode(value).decode() for key, value in data.items()}
    except (json.JSONDecodeError, AttributeError, binascii.Error, UnicodeDecodeError) as err:
        # The message names the Secret and the error type only: the text may quote secret bytes.
        raise SecretError(f"Secret {namespace}/{name}: cannot decode ({type(err).__name__})") from None


def secret_value(data: dict[str, str], key: str, where: str) -> str:
    """One key of a decoded Secret; the error names the keys present, never their values."""
    if key not in data:
        raise SecretError(f"Secret {where} has no key {key!r} (keys: {', '.join(sorted(data)) or 'none'})")
    return data[key]
