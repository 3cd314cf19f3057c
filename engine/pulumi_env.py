"""The environment the tier runs the Pulumi CLI in: its own PULUMI_HOME, offline plugins, a file backend.

Plugins are registered from the locally built binaries under exactly the versions the Python SDKs request,
and automatic plugin downloads are off: a missing plugin is an error here, never a download attempt.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from engine import pins
from engine.installed import plugin_dir
from engine.tools import Toolbox, ToolsError, cache_root

PLUGINS = (("kubernetes", pins.KUBERNETES_PROVIDER, "pulumi-resource-kubernetes"),)
"""(name, version, binary) of every resource plugin the tier registers."""


@dataclass(frozen=True)
class PulumiEnv:
    """Everything a CLI call of the tier needs."""

    toolbox: Toolbox
    """Where the CLI and the control plane's binaries are."""
    home: Path
    """PULUMI_HOME: plugins and the CLI's own state, apart from the user's ~/.pulumi."""
    backend_dir: Path
    """The file backend's directory (stack state)."""
    passphrase: str = field(repr=False)
    """Encrypts the stacks' secrets."""

    @property
    def cli_root(self) -> Path:
        """The directory whose bin/ holds `pulumi` (what the Automation API's PulumiCommand takes)."""
        return self.toolbox.path("pulumi").parent.parent

    def env(self) -> dict[str, str]:
        """Variables for the CLI, its plugins and the Automation API."""
        # Only the CLI's directory: a provider binary on PATH would be used instead of the registered plugin.
        path = os.pathsep.join([str(self.toolbox.path("pulumi").parent), os.environ.get("PATH", "")])
        return {
            "PATH": path,
            "PULUMI_HOME": str(self.home),
            "PULUMI_BACKEND_URL": f"file://{self.backend_dir}",
            "PULUMI_CONFIG_PASSPHRASE": self.passphrase,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            # Colour codes and progress bars only clutter captured output.
            "PULUMI_SKIP_CONFIRMATIONS": "true",
            "NO_COLOR": "1",
        }


def default_home() -> Path:
    """The tier's PULUMI_HOME, beside its tools in the cache."""
    return cache_root() / "pulumi-home"


def register_plugins(toolbox: Toolbox, home: Path) -> None:
    """`pulumi plugin install resource NAME VERSION --file BINARY` for each plugin not yet registered."""
    for name, version, binary in PLUGINS:
        if (plugin_dir(home, name, version) / binary).is_file():
            continue
        result = subprocess.run(
            [
                str(toolbox.path("pulumi")),
                "plugin",
                "install",
                "resource",
                name,
                version,
                "--file",
                str(toolbox.path(binary)),
            ],
            env={**os.environ, "PULUMI_HOME": str(home), "PULUMI_SKIP_UPDATE_CHECK": "true"},
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ToolsError(f"registering the {name} plugin v{version} failed: {result.stderr.strip()}")
