"""engine.tools without building anything: cache keys, the proxy check's report, cached vs installed tools.

A stand-in `go` (a script on a temp PATH) answers `go env GOVERSION` and `go mod download -json` the way the
real one does: the real Go module proxy cannot be asked for a refusal on demand.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from engine import pins
from engine.builds import GoBuild, all_builds
from engine.tools import Toolbox, ToolsError, build_dir, check_served, find_tools

TINY = GoBuild(name="tiny", requires=(("example.com/tiny", "v1.0.0"),), binaries=((".", "tiny"),))


def _fake_go(bin_dir: Path, downloads: list[dict[str, str]]) -> None:
    script = bin_dir / "go"
    answer = "".join(json.dumps(item, indent=1) + "\n" for item in downloads)
    script.write_text(
        f"#!/bin/sh\nif [ \"$1\" = env ]; then echo go1.26.8; exit 0; fi\ncat <<'EOF'\n{answer}EOF\nexit 1\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def fake_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin:/bin")
    return bin_dir


def test_cache_key_changes_with_pins_flags_and_go_but_not_with_the_callback(tmp_path: Path) -> None:
    key = build_dir(tmp_path, TINY, "go1.26.8")
    assert key.name.startswith("tiny-") and key.parent == tmp_path
    assert build_dir(tmp_path, TINY, "go1.26.8") == key
    assert build_dir(tmp_path, TINY, "go1.27.0") != key
    assert build_dir(tmp_path, replace(TINY, requires=(("example.com/tiny", "v1.0.1"),)), "go1.26.8") != key
    assert build_dir(tmp_path, replace(TINY, ldflags=("-X a.b=c",)), "go1.26.8") != key


def test_every_refused_module_is_named_at_once(fake_path: Path, tmp_path: Path) -> None:
    _fake_go(
        fake_path,
        [
            {"Path": "example.com/a", "Version": "v1.0.0", "Error": "reading example.com/a: 403 Forbidden"},
            {"Path": "example.com/b", "Version": "v2.0.0", "Dir": str(tmp_path)},
            {"Path": "example.com/c", "Version": "v3.0.0", "Error": "not found: 404"},
        ],
    )
    builds = [
        replace(
            TINY,
            requires=(("example.com/a", "v1.0.0"), ("example.com/b", "v2.0.0"), ("example.com/c", "v3.0.0")),
        )
    ]
    with pytest.raises(ToolsError) as refused:
        check_served(builds, tmp_path / "scratch")
    text = str(refused.value)
    assert "example.com/a@v1.0.0: reading example.com/a: 403 Forbidden" in text
    assert "example.com/c@v3.0.0: not found: 404" in text
    assert "example.com/b" not in text


def test_missing_tools_name_the_fix_and_cached_ones_are_found(
    fake_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_go(fake_path, [])
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "no-pulumi-home"))
    with pytest.raises(ToolsError) as missing:
        find_tools(root=tmp_path / "cache", builds=[TINY])
    assert "tiny" in str(missing.value) and "make engine-tools" in str(missing.value)
    entry = build_dir(tmp_path / "cache", TINY, "go1.26.8")
    (entry / "bin").mkdir(parents=True)
    (entry / "bin" / "tiny").write_text("")
    (entry / "complete").write_text(TINY.fingerprint())
    toolbox = find_tools(root=tmp_path / "cache", builds=[TINY])
    assert toolbox.bin_dirs == (entry / "bin",)


def test_toolbox_names_the_fix_for_a_missing_binary(tmp_path: Path) -> None:
    with pytest.raises(ToolsError) as missing:
        Toolbox((tmp_path,)).path("kube-apiserver")
    assert "make engine-tools" in str(missing.value)


def test_pins_agree_with_the_locked_sdks_and_the_kind_node_image() -> None:
    lock = (Path(__file__).resolve().parents[2] / "uv.lock").read_text()
    assert f'name = "pulumi-kubernetes"\nversion = "{pins.KUBERNETES_PROVIDER}"' in lock
    yaml_text = (Path(__file__).resolve().parents[2] / "Pulumi.yaml").read_text()
    minor = ".".join(pins.KUBERNETES.split(".")[:2])
    assert f"kindest/node:v{minor}." in yaml_text
    # The CLI is at least as new as the SDK (the Automation API refuses an older one).
    locked = lock.split('name = "pulumi"\nversion = "', 1)[1].split('"', 1)[0]
    assert tuple(map(int, pins.PULUMI.split("."))) >= tuple(map(int, locked.split(".")))
    assert [b.name for b in all_builds()] == [
        "etcd",
        "kubernetes",
        "kwok",
        "pulumi",
        "pulumi-resource-kubernetes",
    ]
