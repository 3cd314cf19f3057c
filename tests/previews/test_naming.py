"""Branch / pull request -> preview stack and namespace names (pure functions, no doubles needed)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from previews.naming import (
    MAX_NAMESPACE_LENGTH,
    NamingError,
    from_stack,
    is_preview_stack,
    preview_name,
)

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize(
    ("ref", "stack", "namespace"),
    [
        ("feature/Login-Page", "preview-feature-login-page", "mlops-preview-feature-login-page"),
        ("refs/heads/fix__crash!!", "preview-fix-crash", "mlops-preview-fix-crash"),
        ("--Dev--Branch--", "preview-dev-branch", "mlops-preview-dev-branch"),
        ("42", "preview-pr-42", "mlops-preview-pr-42"),
        ("#42", "preview-pr-42", "mlops-preview-pr-42"),
        ("refs/pull/42/merge", "preview-pr-42", "mlops-preview-pr-42"),
        ("PR-42", "preview-pr-42", "mlops-preview-pr-42"),
    ],
)
def test_branches_and_pull_requests_map_to_lowercase_dns_names(ref: str, stack: str, namespace: str) -> None:
    name = preview_name(ref)
    assert (name.stack, name.namespace) == (stack, namespace)


def test_a_long_branch_is_cut_to_63_characters_with_a_hash_suffix() -> None:
    name = preview_name("feature/" + "very-long-descriptive-branch-name-" * 4)
    # At most 63; one shorter when the cut lands on a '-' (a label never has '--' before the hash).
    assert MAX_NAMESPACE_LENGTH - 1 <= len(name.namespace) <= MAX_NAMESPACE_LENGTH
    assert DNS_LABEL.match(name.namespace)
    assert re.search(r"-[0-9a-f]{6}$", name.namespace)
    assert name.stack == "preview-" + name.namespace.removeprefix("mlops-preview-")


def test_two_long_branches_with_a_common_prefix_do_not_collide() -> None:
    prefix = "feature/" + "x" * 80
    first, second = preview_name(prefix + "-alpha"), preview_name(prefix + "-beta")
    assert first.namespace != second.namespace
    assert first.stack != second.stack
    # Stable: the same branch always gets the same name.
    assert preview_name(prefix + "-alpha") == first


@pytest.mark.parametrize("ref", ["///", "", "   ", "---", "__", "refs/heads/"])
def test_a_ref_with_nothing_usable_is_a_naming_error(ref: str) -> None:
    with pytest.raises(NamingError, match="no letters or digits"):
        preview_name(ref)


@given(st.text(min_size=1, max_size=200))
def test_every_usable_ref_gives_a_valid_namespace(ref: str) -> None:
    try:
        name = preview_name(ref)
    except NamingError:
        return
    assert len(name.namespace) <= MAX_NAMESPACE_LENGTH
    assert DNS_LABEL.match(name.namespace)
    assert "--" not in name.namespace


def test_stack_names_round_trip_and_other_stacks_are_not_previews() -> None:
    name = preview_name("feature/x")
    assert from_stack(name.stack) == name
    assert is_preview_stack("preview-pr-1")
    for other in ("dev", "prod", "preview-", "preview-Bad_Name"):
        assert not is_preview_stack(other)
    with pytest.raises(NamingError):
        from_stack("dev")
