"""Backend settings from the environment (pure; no Pulumi CLI is started, so no double is needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.backend import Backend, BackendError, backend_from_env


def test_the_default_backend_is_a_file_backend_in_the_repo(tmp_path: Path) -> None:
    backend = backend_from_env({"PULUMI_CONFIG_PASSPHRASE": "s3cret"}, default_dir=tmp_path / "state")
    assert backend.url == f"file://{tmp_path / 'state'}"
    assert backend.local_dir() == tmp_path / "state"
    assert backend.env() == {"PULUMI_BACKEND_URL": backend.url, "PULUMI_CONFIG_PASSPHRASE": "s3cret"}


def test_pulumi_backend_url_wins_and_home_is_expanded() -> None:
    backend = backend_from_env(
        {"PULUMI_CONFIG_PASSPHRASE": "x", "PULUMI_BACKEND_URL": "file://~/.mlops-previews/pulumi"}
    )
    assert backend.local_dir() == Path.home() / ".mlops-previews" / "pulumi"
    assert Backend("s3://bucket", "x").local_dir() is None


@pytest.mark.parametrize("environ", [{}, {"PULUMI_CONFIG_PASSPHRASE": ""}])
def test_a_missing_passphrase_names_the_variable(environ: dict[str, str]) -> None:
    with pytest.raises(BackendError, match="PULUMI_CONFIG_PASSPHRASE"):
        backend_from_env(environ)


def test_the_passphrase_stays_out_of_repr() -> None:
    assert "s3cret" not in repr(Backend("file:///x", "s3cret"))
