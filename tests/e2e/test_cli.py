"""The command line's edge: the run's private backend and passphrase, handed to the stack's workspace.

Unit tests only: no Pulumi command runs; the config is built as `main` builds it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from e2e.cli import _passphrase, build_config


def test_the_run_gets_a_private_file_backend_and_keeps_the_passphrase_out_of_repr(tmp_path: Path) -> None:
    backend_dir = tmp_path / "state"
    cfg = build_config(
        "e2e-x", tmp_path, backend_dir, "s3cret-passphrase", argparse.Namespace(smoke_timeout=60.0)
    )
    assert cfg.backend.url == backend_dir.as_uri()
    assert cfg.backend.env()["PULUMI_CONFIG_PASSPHRASE"] == "s3cret-passphrase"
    assert "s3cret-passphrase" not in repr(cfg)
    assert cfg.smoke_timeout == 60.0


def test_an_unset_passphrase_is_generated_and_not_printed() -> None:
    lines: list[str] = []
    value = _passphrase({}, lines.append)
    assert len(value) >= 32
    assert all(value not in line for line in lines)
    assert _passphrase({"PULUMI_CONFIG_PASSPHRASE": "mine"}, lines.append) == "mine"
