"""Run a rendered pod's container as a local process: its entrypoint, args and env, as the kubelet would.

Kubernetes names (Services) map to 127.0.0.1 ports and mount paths to local directories; everything else
(variable names, secret keys, arguments, probe paths) is taken from the rendered manifest unchanged, so a
name that drifts between infra and code fails here.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def secrets_of(manifests: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(secret name, key) -> value, from the rendered Secrets' stringData."""
    return {
        (m["metadata"]["name"], key): str(value)
        for m in manifests
        if m["kind"] == "Secret"
        for key, value in m.get("stringData", {}).items()
    }


def entrypoint(dockerfile: str) -> list[str]:
    """The exec-form ENTRYPOINT of a project Dockerfile, with this interpreter's tools substituted."""
    text = (REPO / dockerfile).read_text()
    match = re.search(r"^ENTRYPOINT (\[.*\])$", text, re.MULTILINE)
    assert match, f"{dockerfile} has no exec-form ENTRYPOINT"
    argv: list[str] = json.loads(match.group(1))
    local = {"python": sys.executable, "mlflow": str(Path(sys.executable).with_name("mlflow"))}
    return [local.get(argv[0], argv[0]), *argv[1:]]


class LocalPod:
    """Rewrites of one manifest's world onto this machine."""

    def __init__(self, hosts: Mapping[str, str], mounts: Mapping[str, Path]) -> None:
        self.hosts = dict(hosts)
        """e.g. "mlflow.mlops.svc.cluster.local:5000" -> "127.0.0.1:41234" (longest first when applied)."""
        self.mounts = dict(mounts)
        """container path -> local directory."""

    def rewrite(self, text: str) -> str:
        """Apply host and mount-path mappings to one string."""
        for name in sorted(self.hosts, key=len, reverse=True):
            text = text.replace(name, self.hosts[name])
        if not self.mounts:
            return text
        # One pass over whole paths only (at the start, after a separator or a URI's "///", before "/" or
        # the end), so a local directory that itself starts like a mount path is not rewritten again.
        paths = "|".join(re.escape(p) for p in sorted(self.mounts, key=len, reverse=True))
        pattern = rf"(?:^|(?<=[\s'\"=:,])|(?<=///))({paths})(?=/|$|[\s'\",])"
        return re.sub(pattern, lambda m: str(self.mounts[m.group(1)]), text)

    def env(self, container: Mapping[str, Any], secrets: Mapping[tuple[str, str], str]) -> dict[str, str]:
        """The container's env: literal values, secretKeyRefs resolved, $(VAR) expanded in order."""
        out: dict[str, str] = {}
        for var in container.get("env", []):
            if "value" in var:
                value = str(var["value"])
            else:
                ref = var["valueFrom"]["secretKeyRef"]
                value = secrets[(ref["name"], ref["key"])]
            value = _VAR_REF.sub(lambda m: out.get(m.group(1), m.group(0)), value)
            out[var["name"]] = self.rewrite(value)
        return out

    def args(self, container: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
        """command/args with $(VAR) expanded from the container env, then rewritten."""
        raw = [*container.get("command", []), *container.get("args", [])]
        return [self.rewrite(_VAR_REF.sub(lambda m: env.get(m.group(1), m.group(0)), a)) for a in raw]


def process_env(container_env: Mapping[str, str], tmp: Path) -> dict[str, str]:
    """A clean process environment: PATH and locale from here, nothing MLflow/MLOPS-related leaks in."""
    base = {k: v for k, v in os.environ.items() if k in {"PATH", "LANG", "LC_ALL", "SYSTEMROOT"}}
    return {**base, "HOME": str(tmp), "TMPDIR": str(tmp), **container_env}


def secret_file(
    pod: Mapping[str, Any], container: Mapping[str, Any], path: str, secrets: Mapping[tuple[str, str], str]
) -> str:
    """The content of `path` in the container when it is a key of a mounted Secret volume (a `*_FILE` env)."""
    volumes = {v["name"]: v["secret"] for v in pod.get("volumes", []) if "secret" in v}
    for mount in container.get("volumeMounts", []):
        source = volumes.get(mount["name"])
        prefix = mount["mountPath"].rstrip("/") + "/"
        if source is None or not path.startswith(prefix):
            continue
        relative = path.removeprefix(prefix)
        items = {item["path"]: item["key"] for item in source.get("items", [])} or {relative: relative}
        return secrets[(source["secretName"], items[relative])]
    raise KeyError(f"{path} is not in a mounted Secret")


def postgres_password(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    env: Mapping[str, str],
    secrets: Mapping[tuple[str, str], str],
) -> str:
    """The password the official PostgreSQL image sets: POSTGRES_PASSWORD, else the file POSTGRES_PASSWORD_FILE."""
    if "POSTGRES_PASSWORD" in env:
        return env["POSTGRES_PASSWORD"]
    return secret_file(pod, container, env["POSTGRES_PASSWORD_FILE"], secrets)


def materialize_volumes(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    manifests: list[dict[str, Any]],
    secrets: Mapping[tuple[str, str], str],
    root: Path,
) -> dict[str, Path]:
    """The container's ConfigMap, Secret and projected volumes written as files under `root`, as the kubelet
    mounts them: mount path -> local directory. Other volume kinds (claims, emptyDir) are the caller's mapping.
    """
    config_maps = {m["metadata"]["name"]: m.get("data", {}) for m in manifests if m["kind"] == "ConfigMap"}

    def secret_items(source: Mapping[str, Any], name_key: str) -> dict[str, str]:
        name = source[name_key]
        keys = [item["key"] for item in source.get("items", [])] or [k for (n, k) in secrets if n == name]
        paths = {item["key"]: item["path"] for item in source.get("items", [])}
        return {paths.get(key, key): secrets[(name, key)] for key in keys}

    def files_of(volume: Mapping[str, Any]) -> dict[str, str] | None:
        if "configMap" in volume:
            data = config_maps[volume["configMap"]["name"]]
            paths = {item["key"]: item["path"] for item in volume["configMap"].get("items", [])}
            return {paths.get(k, k): v for k, v in data.items() if not paths or k in paths}
        if "secret" in volume:
            return secret_items(volume["secret"], "secretName")
        if "projected" in volume:
            files: dict[str, str] = {}
            for source in volume["projected"]["sources"]:
                if "secret" in source:
                    files.update(secret_items(source["secret"], "name"))
                elif "configMap" in source:
                    files.update(config_maps[source["configMap"]["name"]])
            return files
        return None

    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts: dict[str, Path] = {}
    for mount in container.get("volumeMounts", []):
        files = files_of(volumes[mount["name"]])
        if files is None:
            continue
        directory = root / mount["name"]
        directory.mkdir(parents=True, exist_ok=True)
        for relative, content in files.items():
            (directory / relative).write_text(content)
        mounts[mount["mountPath"]] = directory
    return mounts
