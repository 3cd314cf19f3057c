"""The Pulumi CLI commands of a run's stack lifecycle, as argument lists."""

from __future__ import annotations

from e2e.config import E2eConfig


def stack_init(cfg: E2eConfig) -> list[str]:
    """Create the stack with passphrase-encrypted secrets (no Pulumi Cloud)."""
    return ["pulumi", "stack", "init", cfg.stack, "--secrets-provider", "passphrase"]


def config_set(cfg: E2eConfig, key: str, value: str) -> list[str]:
    """Set one config key of the stack (Pulumi adds the project prefix)."""
    return ["pulumi", "config", "set", "--stack", cfg.stack, key, value]


def up(cfg: E2eConfig) -> list[str]:
    """Create everything, without a preview (the run is non-interactive)."""
    return ["pulumi", "up", "--stack", cfg.stack, "--yes", "--skip-preview", "--non-interactive"]


def outputs(cfg: E2eConfig) -> list[str]:
    """The stack outputs as JSON, secrets included."""
    return ["pulumi", "stack", "output", "--stack", cfg.stack, "--json", "--show-secrets"]


def destroy(cfg: E2eConfig) -> list[str]:
    """Delete everything the stack created (the kind cluster last: everything else depends on it)."""
    return ["pulumi", "destroy", "--stack", cfg.stack, "--yes", "--skip-preview", "--non-interactive"]


def stack_rm(cfg: E2eConfig, force: bool = False) -> list[str]:
    """Remove the stack and its Pulumi.<stack>.yaml; `force` drops state of resources destroy could not
    delete (the kind cluster is then deleted directly)."""
    return ["pulumi", "stack", "rm", cfg.stack, "--yes", *(["--force"] if force else [])]
