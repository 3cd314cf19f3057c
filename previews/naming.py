"""Branch or pull request -> preview stack name and namespace.

The stack and the namespace share one slug, so either names the other. Namespaces are DNS labels (at most 63
characters); long slugs are cut and given a hash of the whole slug, so two long branches that share a prefix
still get different namespaces.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

STACK_PREFIX = "preview-"
NAMESPACE_PREFIX = "mlops-preview-"
MAX_NAMESPACE_LENGTH = 63
HASH_LENGTH = 6
MAX_SLUG_LENGTH = MAX_NAMESPACE_LENGTH - len(NAMESPACE_PREFIX)

_PULL_REF = re.compile(r"^(?:refs/)?pull/(\d+)(?:/(?:merge|head))?$")
_PR_NUMBER = re.compile(r"^(?:#|pr-?|pr/)?(\d+)$", re.IGNORECASE)
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_SLUG = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class NamingError(ValueError):
    """A branch, pull request or stack name that yields no usable preview name."""


@dataclass(frozen=True)
class PreviewName:
    """The names of one preview environment."""

    slug: str
    """DNS-label-safe identifier shared by the stack and the namespace."""

    @property
    def stack(self) -> str:
        """Pulumi stack name, e.g. preview-pr-42."""
        return f"{STACK_PREFIX}{self.slug}"

    @property
    def namespace(self) -> str:
        """Kubernetes namespace, e.g. mlops-preview-pr-42."""
        return f"{NAMESPACE_PREFIX}{self.slug}"


def _canonical(ref: str) -> str:
    """Pull requests in any spelling (42, #42, refs/pull/42/merge) become pr-42; branches drop refs/heads/."""
    text = ref.strip()
    pull = _PULL_REF.match(text)
    if pull:
        return f"pr-{pull.group(1)}"
    number = _PR_NUMBER.match(text)
    if number:
        return f"pr-{number.group(1)}"
    return text.removeprefix("refs/heads/")


def slugify(text: str) -> str:
    """Lowercase, runs of anything but [a-z0-9] to one '-', trimmed; cut with a hash suffix if too long."""
    slug = _NOT_SLUG.sub("-", text.lower()).strip("-")
    if not slug:
        raise NamingError(f"{text!r} has no letters or digits to name a preview after")
    if len(slug) <= MAX_SLUG_LENGTH:
        return slug
    # Hash the whole slug, not the original text: names stay a function of the slug alone.
    digest = hashlib.sha256(slug.encode()).hexdigest()[:HASH_LENGTH]
    head = slug[: MAX_SLUG_LENGTH - HASH_LENGTH - 1].rstrip("-")
    return f"{head}-{digest}"


def preview_name(ref: str) -> PreviewName:
    """The preview names of a branch (`feature/x`, `refs/heads/feature/x`) or pull request (`42`, `#42`)."""
    return PreviewName(slug=slugify(_canonical(ref)))


def is_preview_stack(stack: str) -> bool:
    """A stack this tool manages (dev, prod and other stacks never are)."""
    return stack.startswith(STACK_PREFIX) and bool(_SLUG.match(stack.removeprefix(STACK_PREFIX)))


def from_stack(stack: str) -> PreviewName:
    """The names of an existing preview stack, e.g. from `list` output."""
    if not is_preview_stack(stack):
        raise NamingError(f"{stack!r} is not a preview stack name ({STACK_PREFIX}<slug>)")
    slug = stack.removeprefix(STACK_PREFIX)
    if len(slug) > MAX_SLUG_LENGTH:
        raise NamingError(f"{stack!r}: the slug is longer than {MAX_SLUG_LENGTH} characters")
    return PreviewName(slug=slug)
