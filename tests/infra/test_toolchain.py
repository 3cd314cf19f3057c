"""What Pulumi's uv toolchain installs (a plain `uv sync`) and what the images install (their `uv export`).

Pulumi runs `uv sync` without extras or groups before the program: the default groups must carry the Pulumi
SDKs. The images must not: their export lines leave every dependency group out. Both are read from the real
lock file with the real uv.
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib

import pytest

from infra.components.images import SPECS, ImageSpec
from infra.schema import REPO_ROOT

PULUMI_SDKS = {"pulumi", "pulumi-kubernetes", "pulumi-command", "pulumi-docker", "pulumi-random"}
DEV_ONLY = {"pytest", "mypy", "ruff", "kubernetes-validate", "hypothesis"}


def _export(args: list[str]) -> dict[str, str]:
    """name -> version of what `uv export ARGS` lists (markers dropped)."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH (https://docs.astral.sh/uv/)")
    out = subprocess.run(
        [uv, "export", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=120
    ).stdout
    pins = {}
    for line in out.splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, _, rest = line.partition("==")
            pins[name.strip().lower()] = rest.split(";")[0].strip()
    return pins


def test_a_plain_uv_sync_installs_the_pulumi_sdks() -> None:
    """`uv export --frozen` with no selection lists what `uv sync --frozen` (Pulumi's toolchain) installs."""
    pins = _export(["--frozen", "--no-emit-project", "--no-hashes"])
    assert pins.keys() >= PULUMI_SDKS | {"grafana-foundation-sdk", "pyyaml", "kubernetes"}
    # The provider the real-engine tier builds is v4.25.0: SDK and plugin versions must match.
    assert pins["pulumi-kubernetes"] == "4.25.0"
    assert tuple(int(p) for p in pins["pulumi"].split(".")[:2]) >= (3, 272)
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert set(project["tool"]["uv"]["default-groups"]) == {"dev", "infra"}
    assert "infra" not in project["project"].get("optional-dependencies", {})


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_images_install_no_dev_or_infra_dependencies(spec: ImageSpec) -> None:
    """What each image installs (its staged requirements, infra/components/images.py) leaves the default
    groups out: an extra on the base dependencies, or the MLflow server's own group alone."""
    assert "--no-default-groups" in spec.requirements or spec.requirements[:2] == (
        "--only-group",
        "mlflow-server",
    )
    pins = _export(["--frozen", "--no-emit-project", *spec.requirements])
    assert pins, spec.name
    assert not pins.keys() & (PULUMI_SDKS | DEV_ONLY), spec.name
