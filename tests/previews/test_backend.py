"""Backend settings from the environment (pure; no Pulumi CLI is started, so no double is needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.backend import Backend, BackendError, backend_from_env, stack_passphrase


def test_the_default_backend_is_a_file_backend_in_the_repo(tmp_path: Path) -> None:
    backend = backend_from_env({"PULUMI_CONFIG_PASSPHRASE": "s3cret"}, default_dir=tmp_path / "state")
    assert backend.url == f"file://{tmp_path / 'state'}"
    assert backend.local_dir() == tmp_path / "state"
    assert backend.env() == {"PULUMI_BACKEND_URL": backend.url, "PULUMI_CONFIG_PASSPHRASE": "s3cret"}
    assert backend.env("preview-pr-1")["PULUMI_CONFIG_PASSPHRASE"] == "s3cret"


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
    assert "k3y" not in repr(Backend("file:///x", passphrase_key="k3y"))


def test_a_key_gives_every_stack_its_own_passphrase() -> None:
    backend = backend_from_env({"MLOPS_PREVIEW_PASSPHRASE_KEY": "the-key"})
    a, b = backend.env("preview-pr-1"), backend.env("preview-pr-2")
    assert a["PULUMI_CONFIG_PASSPHRASE"] != b["PULUMI_CONFIG_PASSPHRASE"]
    assert a["PULUMI_CONFIG_PASSPHRASE"] == stack_passphrase("the-key", "preview-pr-1")
    # Not the key, and not a function of the stack name alone.
    assert "the-key" not in a["PULUMI_CONFIG_PASSPHRASE"]
    assert stack_passphrase("other-key", "preview-pr-1") != a["PULUMI_CONFIG_PASSPHRASE"]
    # Commands on no stack (stack ls) never fall back to a passphrase inherited from the environment.
    assert backend.env()["PULUMI_CONFIG_PASSPHRASE"] == ""


def test_the_derivation_is_hmac_sha256_of_the_versioned_stack_name() -> None:
    """Pinned: the preview workflow derives the same value in a step of its own (test_workflows.py)."""
    import base64
    import hashlib
    import hmac

    mac = hmac.new(b"k", b"mlops-platform/stack-passphrase/v1/preview-pr-7", hashlib.sha256).digest()
    assert stack_passphrase("k", "preview-pr-7") == base64.urlsafe_b64encode(mac).decode().rstrip("=")
    assert len(stack_passphrase("k", "preview-pr-7")) == 43


def test_a_passphrase_and_a_key_together_are_refused() -> None:
    with pytest.raises(BackendError, match="set only one"):
        backend_from_env({"PULUMI_CONFIG_PASSPHRASE": "p", "MLOPS_PREVIEW_PASSPHRASE_KEY": "k"})
    with pytest.raises(BackendError, match="exactly one"):
        Backend("file:///x", "p", "k")
