"""Tools a machine already has: a Pulumi CLI, its kubernetes plugin, a control plane on PATH.

A user who has them should not wait for a build. Each is taken only at a version the tier can vouch for:
a CLI at least as new as the pinned one, the pinned provider version, and the same Kubernetes, etcd and kwok
minors as the pins. kwok is always built: the tier also needs its default stage files (engine/cluster.py),
which come from its module.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from engine import pins
from engine.builds import GoBuild

_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


def _version_of(binary: str, args: list[str]) -> tuple[int, int, int] | None:
    path = shutil.which(binary)
    if path is None:
        return None
    try:
        out = subprocess.run([path, *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION.search(out.stdout + out.stderr)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def _pin(version: str) -> tuple[int, int, int]:
    major, minor, patch = (int(part) for part in version.split("."))
    return major, minor, patch


def _same_minor(found: tuple[int, int, int] | None, pinned: str) -> bool:
    return found is not None and found[:2] == _pin(pinned)[:2]


def _all_on_path(binaries: list[str], check: Callable[[str], bool]) -> Path | None:
    """The directory of the first binary, if every binary is on PATH in that same directory and passes."""
    paths = [shutil.which(b) for b in binaries]
    if None in paths or len({Path(p).parent for p in paths if p}) != 1:
        return None
    if not all(check(b) for b in binaries):
        return None
    return Path(str(paths[0])).parent


def plugin_dir(home: Path, name: str, version: str) -> Path:
    """Where `pulumi plugin install resource NAME VERSION` puts a plugin under PULUMI_HOME."""
    return home / "plugins" / f"resource-{name}-v{version}"


def installed_dir(build: GoBuild, environ: Mapping[str, str] = os.environ) -> Path | None:
    """A directory already holding every binary of `build` at an acceptable version, or None."""
    binaries = [b for _, b in build.binaries]
    match build.name:
        case "pulumi":
            found = _version_of("pulumi", ["version"])
            return _all_on_path(binaries, lambda _: found is not None and found >= _pin(pins.PULUMI))
        case "kubernetes" | "etcd":
            pinned = pins.KUBERNETES if build.name == "kubernetes" else pins.ETCD
            return _all_on_path(binaries, lambda b: _same_minor(_version_of(b, ["--version"]), pinned))
        case "pulumi-resource-kubernetes":
            home = Path(environ.get("PULUMI_HOME") or Path.home() / ".pulumi")
            plugin = plugin_dir(home, "kubernetes", pins.KUBERNETES_PROVIDER)
            return plugin if (plugin / "pulumi-resource-kubernetes").is_file() else None
    return None
