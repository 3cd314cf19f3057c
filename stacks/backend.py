"""Where preview stacks keep their state, and the passphrase of each stack's secrets.

A local file backend: no Pulumi Cloud account is needed. The passphrase encrypts a stack's secrets (the
generated MLflow and PostgreSQL passwords, the kubeconfig), so it is required, never defaulted. It comes
either as one passphrase (PULUMI_CONFIG_PASSPHRASE, what `pulumi` itself reads) or as a key from which each
stack's own passphrase is derived (MLOPS_PREVIEW_PASSPHRASE_KEY): then one stack's passphrase opens no other
stack, and only a holder of the key (destroy, gc) can open them all (docs/security.md, "Workflows").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from infra.schema import REPO_ROOT

BACKEND_VAR = "PULUMI_BACKEND_URL"
PASSPHRASE_VAR = "PULUMI_CONFIG_PASSPHRASE"  # noqa: S105 - a variable name, not a secret
PASSPHRASE_KEY_VAR = "MLOPS_PREVIEW_PASSPHRASE_KEY"  # noqa: S105 - a variable name, not a secret
DEFAULT_STATE_DIR = REPO_ROOT / ".state" / "pulumi"
# Versioned, so a changed derivation can never silently produce a different passphrase for the same stack.
_DERIVATION = "mlops-platform/stack-passphrase/v1/"


class BackendError(ValueError):
    """The environment does not say where state lives or how to decrypt it."""


def stack_passphrase(key: str, stack: str) -> str:
    """The passphrase of `stack`: HMAC-SHA256(key, versioned stack name), base64url (43 characters).

    The preview workflow computes the same value in a step of its own (.github/workflows/preview.yml), so the
    job that runs a pull request's code gets its stack's passphrase and never the key.
    """
    if not key:
        raise BackendError(f"{PASSPHRASE_KEY_VAR} is empty")
    digest = hmac.new(key.encode(), (_DERIVATION + stack).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class Backend:
    """The state backend, and how every Pulumi command of the tool gets its stack's passphrase."""

    url: str
    """PULUMI_BACKEND_URL, e.g. file:///srv/previews/pulumi."""
    passphrase: str = field(default="", repr=False)
    """One passphrase for every stack (PULUMI_CONFIG_PASSPHRASE); out of repr, so it never reaches a log."""
    passphrase_key: str = field(default="", repr=False)
    """Instead of `passphrase`: the key each stack's own passphrase is derived from (stack_passphrase)."""

    def __post_init__(self) -> None:
        if bool(self.passphrase) == bool(self.passphrase_key):
            raise BackendError(f"exactly one of {PASSPHRASE_VAR} and {PASSPHRASE_KEY_VAR} must be set")

    def passphrase_of(self, stack: str) -> str:
        """The passphrase that encrypts `stack`'s secrets."""
        return stack_passphrase(self.passphrase_key, stack) if self.passphrase_key else self.passphrase

    def env(self, stack: str | None = None) -> dict[str, str]:
        """Environment for the Pulumi CLI: for a command on `stack`, with that stack's passphrase.

        Without a stack (`pulumi stack ls`, which decrypts nothing) a derived-passphrase backend passes an
        empty passphrase, so a PULUMI_CONFIG_PASSPHRASE inherited from the caller's environment is never used.
        """
        if stack is None:
            return {BACKEND_VAR: self.url, PASSPHRASE_VAR: self.passphrase}
        return {BACKEND_VAR: self.url, PASSPHRASE_VAR: self.passphrase_of(stack)}

    def local_dir(self) -> Path | None:
        """The directory of a file:// backend (None for other backends)."""
        if not self.url.startswith("file://"):
            return None
        return Path(self.url.removeprefix("file://")).expanduser()


def backend_from_env(environ: Mapping[str, str], default_dir: Path = DEFAULT_STATE_DIR) -> Backend:
    """The backend from PULUMI_BACKEND_URL (default: file://<repo>/.state/pulumi) and the passphrase source.

    Exactly one of PULUMI_CONFIG_PASSPHRASE (one passphrase) and MLOPS_PREVIEW_PASSPHRASE_KEY (one derived per
    stack) must be set: with both, which one encrypted a stack would depend on the command.
    """
    passphrase = environ.get(PASSPHRASE_VAR, "")
    key = environ.get(PASSPHRASE_KEY_VAR, "")
    # An empty value is what CI passes for an undefined secret: refuse it rather than encrypt with "".
    if not passphrase and not key:
        raise BackendError(
            f"{PASSPHRASE_VAR} is not set (or empty): it encrypts the preview stacks' secrets; export it, "
            f"or {PASSPHRASE_KEY_VAR} to derive one passphrase per stack (CI: docs/previews.md)"
        )
    if passphrase and key:
        raise BackendError(
            f"both {PASSPHRASE_VAR} and {PASSPHRASE_KEY_VAR} are set: set only one (a stack's passphrase "
            "or the key every stack's passphrase is derived from)"
        )
    url = environ.get(BACKEND_VAR, "").strip() or f"file://{default_dir}"
    return Backend(url=url, passphrase=passphrase, passphrase_key=key)
