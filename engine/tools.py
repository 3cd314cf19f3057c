"""Build (or find) the real-engine tier's tools into a cache keyed by their pinned versions.

`python -m engine.tools` (and `make engine-tools`): first asks the Go module proxy for every pinned
module, failing at once with each one it does not serve; then builds what the cache lacks, one line of
progress and the time per tool. A warm cache answers in about a second.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.builds import GoBuild, all_builds
from engine.installed import installed_dir

Progress = Callable[[str], None]
FIX = "make engine-tools"


class ToolsError(RuntimeError):
    """A tool could not be found or built; the message names what and how to fix it."""


@dataclass(frozen=True)
class Toolbox:
    """Where each binary of the tier is."""

    bin_dirs: tuple[Path, ...]
    """Directories holding the binaries (put first on PATH); each entry's share/ is beside its bin/."""

    def asset(self, relative: str) -> Path:
        """A file kept from a tool's module (share/<relative>); ToolsError if no entry has it."""
        for directory in self.bin_dirs:
            candidate = directory.parent / "share" / relative
            if candidate.is_file():
                return candidate
        raise ToolsError(f"{relative} is not in the engine tools cache: run `{FIX}`")

    def path(self, binary: str) -> Path:
        """The binary's path; ToolsError naming the fix if it is not there."""
        for directory in self.bin_dirs:
            candidate = directory / binary
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
        raise ToolsError(f"{binary} is not built: run `{FIX}`")


def cache_root(environ: Mapping[str, str] = os.environ) -> Path:
    """MLOPS_ENGINE_CACHE, else $XDG_CACHE_HOME (or ~/.cache)/mlops-platform/engine: never in the repo."""
    if environ.get("MLOPS_ENGINE_CACHE"):
        return Path(environ["MLOPS_ENGINE_CACHE"]).expanduser()
    base = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mlops-platform" / "engine"


def go_version() -> str:
    """`go env GOVERSION`; ToolsError if Go is missing (it is part of the machine, not of the project)."""
    if shutil.which("go") is None:
        raise ToolsError("`go` is not on PATH: the engine tier builds its tools with Go >= 1.26")
    return subprocess.run(
        ["go", "env", "GOVERSION"], capture_output=True, text=True, check=True
    ).stdout.strip()


def build_dir(root: Path, build: GoBuild, go: str) -> Path:
    """The cache entry of one build: its name plus a hash of the pins, the flags and the Go version."""
    key = hashlib.sha256(f"{build.fingerprint()}|{go}".encode()).hexdigest()[:12]
    return root / f"{build.name}-{key}"


def _is_complete(entry: Path, build: GoBuild) -> bool:
    return (
        (entry / "complete").is_file()
        and all((entry / "bin" / b).is_file() for _, b in build.binaries)
        and all((entry / "share" / a).is_file() for a in build.assets)
    )


def _go(args: list[str], cwd: Path, env: Mapping[str, str]) -> str:
    result = subprocess.run(["go", *args], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise ToolsError(f"`go {' '.join(args)}` failed in {cwd}:\n{tail}")
    return result.stdout


def check_served(builds: Iterable[GoBuild], scratch: Path) -> dict[str, Path]:
    """Download every pinned module (the proxy's answer comes early); {module: its source directory}.

    ToolsError lists every module@version the proxy refused, not just the first.
    """
    wanted = sorted({f"{m}@{v}" for b in builds for m, v in b.requires})
    scratch.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["go", "mod", "download", "-json", *wanted], cwd=scratch, capture_output=True, text=True
    )
    decoder = json.JSONDecoder()
    text, found, refused = result.stdout, {}, []
    position = 0
    while position < len(text):
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            break
        item, position = decoder.raw_decode(text, position)
        if item.get("Error"):
            refused.append(f"  {item['Path']}@{item['Version']}: {item['Error'].strip().splitlines()[-1]}")
        else:
            found[item["Path"]] = Path(item["Dir"])
    if refused or (result.returncode != 0 and not found):
        detail = "\n".join(refused) or result.stderr.strip()
        raise ToolsError(f"the Go module proxy does not serve what the engine tier pins:\n{detail}")
    return found


def _build_one(build: GoBuild, entry: Path, module_dir: Path) -> None:
    work = entry / "src"
    shutil.rmtree(entry, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "go.mod").write_text(build.go_mod())
    env = {"CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GOWORK": "off"}
    if build.main_go:
        (work / "main.go").write_text(build.main_go)
        if build.prepare is not None:
            build.prepare(work, module_dir)
        _go(["mod", "tidy"], work, env)
    else:
        # No code of ours to tidy: `go get` of the packages completes the requirements.
        _go(["get", *[f"{pkg}@{build.requires[0][1]}" for pkg, _ in build.binaries]], work, env)
    ldflags = " ".join(["-s", "-w", *build.ldflags])
    for package, binary in build.binaries:
        _go(
            ["build", "-trimpath", "-ldflags", ldflags, "-o", str(entry / "bin" / binary), package], work, env
        )
    for asset in build.assets:
        target = entry / "share" / asset
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(module_dir / asset, target)
    (entry / "complete").write_text(build.fingerprint())


def _locate(root: Path, builds: list[GoBuild], go: str) -> tuple[dict[str, Path], list[GoBuild]]:
    """Each build's bin directory (the cache's, else one already installed) and the builds found nowhere."""
    dirs: dict[str, Path] = {}
    missing: list[GoBuild] = []
    for build in builds:
        entry = build_dir(root, build, go)
        if _is_complete(entry, build):
            dirs[build.name] = entry / "bin"
        elif (found := installed_dir(build)) is not None:
            dirs[build.name] = found
        else:
            dirs[build.name] = entry / "bin"
            missing.append(build)
    return dirs, missing


def ensure_tools(
    progress: Progress = print, root: Path | None = None, builds: list[GoBuild] | None = None
) -> Toolbox:
    """Build what neither the cache nor the machine has; the Toolbox of every binary.

    Raises ToolsError naming what failed.
    """
    root = root or cache_root()
    builds = builds if builds is not None else all_builds()
    go = go_version()
    dirs, missing = _locate(root, builds, go)
    if missing:
        progress(f"engine tools: checking {len(missing)} pinned module(s) with the Go module proxy ({go})")
        with tempfile.TemporaryDirectory(prefix="engine-probe-") as scratch:
            sources = check_served(missing, Path(scratch))
        for index, build in enumerate(missing, 1):
            names = ", ".join(b for _, b in build.binaries)
            progress(f"[{index}/{len(missing)}] building {build.name} ({names})...")
            started = time.monotonic()
            # A missing build's directory is its cache entry's bin/ (_locate).
            _build_one(build, dirs[build.name].parent, sources[build.requires[0][0]])
            progress(f"[{index}/{len(missing)}] {build.name} built in {time.monotonic() - started:.0f}s")
    for build in builds:
        if build not in missing:
            progress(f"{build.name}: using {dirs[build.name]}")
    return Toolbox(tuple(dirs[b.name] for b in builds))


def find_tools(root: Path | None = None, builds: list[GoBuild] | None = None) -> Toolbox:
    """The cached tools, building nothing; ToolsError naming the missing ones and the fix."""
    root = root or cache_root()
    builds = builds if builds is not None else all_builds()
    dirs, missing = _locate(root, builds, go_version())
    if missing:
        names = ", ".join(b.name for b in missing)
        raise ToolsError(f"engine tools not built: {names} (run `{FIX}`; cold, about 30 min)")
    return Toolbox(tuple(dirs[b.name] for b in builds))
