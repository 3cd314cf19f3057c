"""Where preview stacks keep their state, read once from the environment at the CLI's edge.

A local file backend: no Pulumi Cloud account is needed. The passphrase encrypts the stacks' secrets (the
generated MLflow and PostgreSQL passwords, the kubeconfig), so it is required, never defaulted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from infra.schema import REPO_ROOT

BACKEND_VAR = "PULUMI_BACKEND_URL"
PASSPHRASE_VAR = "PULUMI_CONFIG_PASSPHRASE"  # noqa: S105 - a variable name, not a secret
DEFAULT_STATE_DIR = REPO_ROOT / ".state" / "pulumi"


class BackendError(ValueError):
    """The environment does not say where state lives or how to decrypt it."""


@dataclass(frozen=True)
class Backend:
    """The state backend and secrets passphrase every Pulumi command of the tool runs with."""

    url: str
    """PULUMI_BACKEND_URL, e.g. file:///srv/previews/pulumi."""
    passphrase: str = field(repr=False)
    """PULUMI_CONFIG_PASSPHRASE (kept out of repr so it never reaches a log)."""

    def env(self) -> dict[str, str]:
        """Environment for the Pulumi CLI."""
        return {BACKEND_VAR: self.url, PASSPHRASE_VAR: self.passphrase}

    def local_dir(self) -> Path | None:
        """The directory of a file:// backend (None for other backends)."""
        if not self.url.startswith("file://"):
            return None
        return Path(self.url.removeprefix("file://")).expanduser()


def backend_from_env(environ: Mapping[str, str], default_dir: Path = DEFAULT_STATE_DIR) -> Backend:
    """The backend from PULUMI_BACKEND_URL (default: file://<repo>/.state/pulumi) and the passphrase."""
    passphrase = environ.get(PASSPHRASE_VAR, "")
    # An empty value is what CI passes for an undefined secret: refuse it rather than encrypt with "".
    if not passphrase:
        raise BackendError(
            f"{PASSPHRASE_VAR} is not set (or empty): it encrypts the preview stacks' secrets; "
            f"export it (CI: a repository secret of the same name)"
        )
    url = environ.get(BACKEND_VAR, "").strip() or f"file://{default_dir}"
    return Backend(url=url, passphrase=passphrase)
