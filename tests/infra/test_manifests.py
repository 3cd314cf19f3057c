"""Every rendered Kubernetes object validates strictly against the pinned Kubernetes version and passes
checkov. Rendering runs the real program under Pulumi's mocks (the engine cannot run here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from infra.render import main as render_main
from infra.schema import REPO_ROOT
from tests.infra.conftest import MODES, config_for

CHECKOV_CONFIG = REPO_ROOT / ".checkov.yaml"


def _render_to(tmp_path: Path, mode: str, stack: str) -> list[Path]:
    """Render through the CLI users run, so its file output is what gets validated."""
    from tests.infra.conftest import STACK_OVERRIDES

    _, overrides = STACK_OVERRIDES[mode]
    argv = ["--stack", stack, "--out", str(tmp_path)]
    for key, value in overrides.items():
        argv += ["--set", f"{key}={value}"]
    assert render_main(argv) == 0
    files = sorted(tmp_path.glob("*.yaml"))
    assert len(files) > 20
    return files


@pytest.mark.parametrize("mode", MODES)
def test_manifests_validate_strictly(tmp_path: Path, mode: str) -> None:
    cfg = config_for(mode)
    errors = []
    for path in _render_to(tmp_path, mode, cfg.stack):
        manifest = yaml.safe_load(path.read_text())
        try:
            kubernetes_validate.validate(manifest, cfg.kubernetes_version, strict=True)
        except kubernetes_validate.ValidationError as err:
            errors.append(f"{path.name}: {err.message}")
    assert cfg.kubernetes_version == "1.33"
    assert errors == []


def test_strict_validation_rejects_an_unknown_field() -> None:
    """The validator really is strict (so the test above can fail)."""
    bad = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "y"},
        "data": {},
        "dataa": {},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, "1.33", strict=True)


def _checkov() -> str:
    for candidate in (os.environ.get("CHECKOV"), str(REPO_ROOT / ".state/tools/checkov/bin/checkov")):
        if candidate and Path(candidate).is_file():
            return candidate
    found = shutil.which("checkov")
    if found is None:
        pytest.fail("checkov not installed: run `scripts/setup.sh tools`")
    return found


@pytest.mark.parametrize("mode", MODES)
def test_checkov_finds_no_failures(tmp_path: Path, mode: str) -> None:
    _render_to(tmp_path, mode, config_for(mode).stack)
    result = subprocess.run(
        [_checkov(), "-d", str(tmp_path), "--config-file", str(CHECKOV_CONFIG), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [
        f"{check['check_id']} {check['resource']}"
        for r in reports
        for check in r.get("results", {}).get("failed_checks", [])
    ]
    passed = sum(r.get("summary", {}).get("passed", 0) for r in reports)
    assert failed == []
    assert passed > 100


def test_every_checkov_skip_is_documented() -> None:
    lines = CHECKOV_CONFIG.read_text().splitlines()
    skips = yaml.safe_load(CHECKOV_CONFIG.read_text())["skip-check"]
    assert skips
    for check in skips:
        index = next(i for i, line in enumerate(lines) if line.strip() == f"- {check}")
        reason = lines[index - 1].strip()
        assert reason.startswith("#") and len(reason) > 40, f"{check} has no reason above it"


def test_checkov_finds_no_failures_in_the_dockerfiles(tmp_path: Path) -> None:
    """Every image's Dockerfile, with only inline skips that say why (no project-wide skip applies here)."""
    from infra.components.images import SPECS

    for spec in SPECS:
        target = tmp_path / spec.dockerfile
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / spec.dockerfile, target)
    result = subprocess.run(
        [_checkov(), "-d", str(tmp_path), "--framework", "dockerfile", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,  # checkov reads a .checkov.yaml from its working directory: none here
    )
    report = json.loads(result.stdout)
    results = report.get("results", {})
    assert [c["check_id"] for c in results.get("failed_checks", [])] == []
    assert report["summary"]["passed"] > 100
    for skipped in results.get("skipped_checks", []):
        reason = skipped.get("check_result", {}).get("suppress_comment") or ""
        assert len(reason) > 40, f"{skipped['check_id']}: skip without a reason"
