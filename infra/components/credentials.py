"""A credential the stack brings, or one pulumi-random generates: the choice components make per secret."""

from __future__ import annotations

import pulumi
import pulumi_random as random
from pulumi import Output, ResourceOptions


def given_or_generated(
    name: str, given: Output[str] | None, length: int, parent: pulumi.Resource
) -> Output[str]:
    """`given` (a secret from stack config) as is; else a RandomPassword `name` child of `parent`.

    A given value creates no RandomPassword at all, so dropping it later generates a new password (and
    a PostgreSQL volume initialised with the old one stops accepting the server: see docs/infra.md).
    """
    if given is not None:
        return Output.secret(given)
    generated = random.RandomPassword(name, length=length, special=False, opts=ResourceOptions(parent=parent))
    return generated.result
