"""Promotion as compare-and-set: a lease on the registry serialises gates, and the alias moves only if the
champion is still the version the gate compared against.

MLflow has no compare-and-set on aliases, and PostgreSQL advisory locks are out of reach (training talks only
to MLflow's REST API). The one atomic primitive the REST API offers is creating a registered model: names are
unique (a primary key in the backend store), so exactly one concurrent create succeeds and the others get
RESOURCE_ALREADY_EXISTS. The lock is therefore a registered model `<model>.promotion-lock`, created with its
owner and expiry as tags in the same call, and deleted on release.

Limits: a process that dies holding the lock blocks promotion until the lease expires (lock_ttl_seconds);
then the next training breaks it. Breaking is read-owner-then-delete, not atomic: two trainings that both find
the same stale lock can, in a window of one round trip, both proceed. Each still re-reads the champion right
before moving the alias, so the worst case is a re-gate, never a move over a champion the gate did not see
— except that two such moves can interleave inside that same window. A gate (load and score the champion)
must finish within the lease; the owner re-checks it still holds the lease before the move.
"""

from __future__ import annotations

import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlops_contract.names import CHAMPION_ALIAS, Tag

_MISSING = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}


class PromotionLockTimeoutError(RuntimeError):
    """Another training held the promotion lock for longer than this one may wait."""


def lock_name(model_name: str) -> str:
    """The registered model that stands for the promotion lock of model_name."""
    return f"{model_name}.promotion-lock"


@dataclass(frozen=True)
class Lease:
    """A held promotion lock: who holds it and until when (epoch seconds)."""

    client: MlflowClient
    name: str
    owner: str
    expires: float

    def still_held(self) -> bool:
        """True if the lock still exists, is ours, and has not expired."""
        holder = _holder(self.client, self.name)
        return holder is not None and holder[0] == self.owner and time.time() < self.expires


def _holder(client: MlflowClient, name: str) -> tuple[str, float] | None:
    try:
        tags = client.get_registered_model(name).tags
    except MlflowException as exc:
        if exc.error_code in _MISSING:
            return None
        raise
    try:
        return tags.get(Tag.PROMOTION_LOCK_OWNER, ""), float(tags.get(Tag.PROMOTION_LOCK_EXPIRES, "0"))
    except ValueError:
        return tags.get(Tag.PROMOTION_LOCK_OWNER, ""), 0.0


def _try_acquire(client: MlflowClient, name: str, owner: str, ttl: float) -> float | None:
    expires = time.time() + ttl
    try:
        client.create_registered_model(
            name,
            tags={Tag.PROMOTION_LOCK_OWNER: owner, Tag.PROMOTION_LOCK_EXPIRES: f"{expires:.3f}"},
            description="Promotion lock held by a training run; deleted when its gate is done.",
        )
        return expires
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    # A create that succeeded but whose answer was lost (then retried) leaves our own lock behind.
    holder = _holder(client, name)
    return holder[1] if holder is not None and holder[0] == owner else None


def _break_if_stale(client: MlflowClient, name: str, report: Callable[[str], None]) -> None:
    holder = _holder(client, name)
    if holder is None or holder[1] > time.time():
        return
    # Re-read right before deleting, so a lock that someone re-took in between is left alone.
    if _holder(client, name) == holder:
        report(f"breaking the expired promotion lock of {holder[0]!r}")
        try:
            client.delete_registered_model(name)
        except MlflowException as exc:
            if exc.error_code not in _MISSING:
                raise


@contextmanager
def promotion_lock(
    client: MlflowClient,
    model_name: str,
    ttl_seconds: float,
    wait_seconds: float,
    report: Callable[[str], None] = print,
) -> Iterator[Lease]:
    """Hold the model's promotion lock for the body; PromotionLockTimeoutError after wait_seconds."""
    name = lock_name(model_name)
    owner = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + wait_seconds
    delay = 0.2
    waited = False
    while (expires := _try_acquire(client, name, owner, ttl_seconds)) is None:
        _break_if_stale(client, name, report)
        if time.monotonic() >= deadline:
            raise PromotionLockTimeoutError(
                f"the promotion lock of {model_name!r} stayed taken for {wait_seconds:.0f}s "
                f"(another training is gating; a dead one's lock expires after its lease)"
            )
        if not waited:
            report(f"another training is promoting {model_name}; waiting for its lock")
            waited = True
        time.sleep(delay * random.uniform(0.5, 1.5))  # noqa: S311 - jitter, not security
        delay = min(delay * 2, 2.0)
    lease = Lease(client=client, name=name, owner=owner, expires=expires)
    try:
        yield lease
    finally:
        try:
            holder = _holder(client, name)
            if holder is not None and holder[0] == owner:
                client.delete_registered_model(name)
        except MlflowException as exc:
            report(f"could not release the promotion lock ({exc.error_code}); it expires by itself")


def champion_version(client: MlflowClient, model_name: str) -> str | None:
    """The version holding the champion alias right now, or None."""
    try:
        return str(client.get_model_version_by_alias(model_name, CHAMPION_ALIAS).version)
    except MlflowException as exc:
        if exc.error_code in _MISSING:
            return None
        raise


def compare_and_set_champion(lease: Lease, model_name: str, expected: str | None, version: str) -> bool:
    """Move the champion alias to version only if it still points at expected and the lease is still ours."""
    if not lease.still_held():
        return False
    if champion_version(lease.client, model_name) != expected:
        return False
    lease.client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version)
    return True
