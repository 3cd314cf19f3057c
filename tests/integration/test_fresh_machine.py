"""The README's commands on a fresh machine: a clean clone, no uv on PATH, an empty Python user base, only
python3 and the system tools. `make dev ARGS=--check` must set up and answer the README's curl example, and
the test targets must then find the same uv, with no PATH change."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]

REPO = Path(__file__).resolve().parents[2]
SYSTEM_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
# How this machine reaches the network (a proxy, a site CA): part of the machine, so kept.
NETWORK_VARS = (
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "PIP_CERT", "PIP_INDEX_URL", "UV_INDEX_URL",
    "UV_DEFAULT_INDEX", "UV_NATIVE_TLS", "UV_SYSTEM_CERTS", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
    "http_proxy", "https_proxy", "no_proxy",
)  # fmt: skip


def _fresh_path(bin_dir: Path) -> str:
    """System dirs without any uv, plus python3 (the interpreter these tests run on) alone in its own dir."""
    bin_dir.mkdir()
    # The base interpreter, not .venv's: a fresh machine has no project venv yet.
    (bin_dir / "python3").symlink_to((Path(sys.base_prefix) / "bin" / "python3").resolve())
    dirs = [str(bin_dir), *(d for d in SYSTEM_DIRS if not (Path(d) / "uv").exists())]
    path = os.pathsep.join(dirs)
    assert shutil.which("uv", path=path) is None
    assert shutil.which("make", path=path) and shutil.which("git", path=path)
    return path


def _fresh_env(tmp_path: Path) -> dict[str, str]:
    """No inherited virtualenv or uv settings; a new HOME and an empty user base; the machine's network."""
    user_base, home = tmp_path / "userbase", tmp_path / "home"
    user_base.mkdir()
    home.mkdir()
    env = {
        "PATH": _fresh_path(tmp_path / "bin"),
        "HOME": str(home),
        "PYTHONUSERBASE": str(user_base),
        "LANG": "C.UTF-8",
        **{name: os.environ[name] for name in NETWORK_VARS if name in os.environ},
    }
    # Only the download cache is shared, so a warm run is fast; a cold one (no cache) must pass too.
    cache = (
        os.environ.get("UV_CACHE_DIR")
        or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "uv"
    )
    if Path(cache).is_dir():
        env["UV_CACHE_DIR"] = str(cache)
    return env


def _clone(tmp_path: Path) -> Path:
    """A clean clone of HEAD (or of MLOPS_FRESH_CLONE_REF, to show the test fails on an older commit)."""
    ref = os.environ.get("MLOPS_FRESH_CLONE_REF", "HEAD")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(REPO), str(clone)], check=True)
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", ref], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", commit], check=True)
    return clone


def test_make_dev_then_the_test_targets_work_without_uv_on_path(tmp_path: Path) -> None:
    clone, env = _clone(tmp_path), _fresh_env(tmp_path)
    ports = {
        flag: str(free_port())
        for flag in (
            "--mlflow-port",
            "--serving-port",
            "--serving-metrics-port",
            "--prometheus-port",
            "--alertmanager-port",
            "--trigger-port",
        )
    }
    args = " ".join(["--check", *(f"{flag} {port}" for flag, port in ports.items())])
    started = time.monotonic()
    dev = subprocess.run(
        ["make", "dev", f"ARGS={args}"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    print(f"make dev --check on a fresh clone: {time.monotonic() - started:.0f}s")
    output = dev.stdout + dev.stderr
    assert dev.returncode == 0, output[-4000:]
    assert "-> predictions: [" in dev.stdout and "check passed" in dev.stdout, output[-4000:]
    assert not any(Path(env["PYTHONUSERBASE"]).iterdir()), "setup installed into the user base"

    # `make test` in this state: the same uv, found without PATH; test-fast stands in for the whole suite.
    dry = subprocess.run(
        ["make", "-n", "test"], cwd=clone, env=env, capture_output=True, text=True, check=True
    )
    assert f"{clone}/.state/tools/uv/bin/uv run --frozen pytest" in dry.stdout, dry.stdout
    fast = subprocess.run(
        ["make", "test-fast"],
        cwd=clone, env={**env, "PYTEST_ADDOPTS": "-q tests/devloop"}, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert fast.returncode == 0, (fast.stdout + fast.stderr)[-4000:]
