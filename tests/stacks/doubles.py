"""A test double of stacks.workspace.Workspace, shared by the tools' tests (previews, the kind e2e run).

The Pulumi CLI (which the Automation API drives) cannot run here, so the tools run against `FakeWorkspace`:
an in-memory backend of stacks that records every call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from stacks.workspace import OutputSink, StackInfo, WorkspaceError

NOW = datetime(2030, 1, 10, 12, 0, 0, tzinfo=UTC)


@dataclass
class FakeStack:
    """A stack in the double's backend."""

    config: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    last_update: datetime | None = None
    deployed: bool = False


class FakeWorkspace:
    """In-memory stand-in for the Automation API workspace; records every call.

    `up_outputs`: what a successful `up` leaves as the stack's outputs. `up_error`, `destroy_errors` and
    `fail` make operations raise WorkspaceError like a failing CLI does.
    """

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now
        self.stacks: dict[str, FakeStack] = {}
        self.outputs_of: dict[str, dict[str, object]] = {}
        self.up_outputs: dict[str, object] = {}
        self.calls: list[tuple[str, str]] = []
        self.destroy_envs: list[dict[str, str]] = []
        self.destroy_errors: list[str] = []  # raised by the next destroy calls, in order
        self.up_error: str | None = None
        self.fail: set[str] = set()  # operations (method names) that raise WorkspaceError
        self.forced_removes: list[str] = []
        self.stale_files: set[str] = set()  # stacks with a local stack file (kept when the stack exists)

    def add(self, name: str, config: Mapping[str, str], last_update: datetime | None = None) -> None:
        """A stack that already exists and was deployed."""
        self.stacks[name] = FakeStack(dict(config), last_update=last_update, deployed=True)

    def _call(self, op: str, stack: str) -> None:
        self.calls.append((op, stack))
        if op in self.fail:
            raise WorkspaceError(f"error: {op} failed", details=f"{op} failed (fake)")

    def select_or_create(self, stack: str) -> None:
        self._call("select_or_create", stack)
        self.stacks.setdefault(stack, FakeStack())

    def set_config(self, stack: str, config: Mapping[str, str]) -> None:
        self._call("set_config", stack)
        self.stacks[stack].config.update(config)

    def set_secret_config(self, stack: str, config: Mapping[str, str]) -> None:
        self._call("set_secret_config", stack)
        self.stacks[stack].secrets.update(config)

    def up(self, stack: str, on_output: OutputSink) -> dict[str, int]:
        self._call("up", stack)
        on_output("Updating (fake)")
        self.stacks[stack].last_update = self.now
        if self.up_error:
            raise WorkspaceError(self.up_error)
        self.stacks[stack].deployed = True
        self.outputs_of[stack] = dict(self.up_outputs)
        return {"create": 1}

    def outputs(self, stack: str) -> dict[str, object]:
        self._call("outputs", stack)
        return dict(self.outputs_of.get(stack, {}))

    def destroy(self, stack: str, on_output: OutputSink, env: Mapping[str, str]) -> None:
        self._call("destroy", stack)
        self.destroy_envs.append(dict(env))
        on_output("Destroying (fake)")
        if self.destroy_errors:
            raise WorkspaceError("error: update failed", details=self.destroy_errors.pop(0))
        self.stacks[stack].deployed = False
        self.outputs_of.pop(stack, None)

    def remove(self, stack: str, force: bool = False) -> None:
        self._call("remove", stack)
        if self.stacks[stack].deployed and not force:
            # What `pulumi stack rm` says about a stack whose state still lists resources.
            raise WorkspaceError(f"error: '{stack}' still has resources; removal rejected")
        if force:
            self.forced_removes.append(stack)
        del self.stacks[stack]

    def discard_stale_stack_file(self, stack: str) -> bool:
        self._call("discard_stale_stack_file", stack)
        if stack in self.stale_files and stack not in self.stacks:
            self.stale_files.discard(stack)
            return True
        return False

    def list_stacks(self, prefix: str) -> list[StackInfo]:
        return [
            StackInfo(name, s.last_update, dict(s.config))
            for name, s in self.stacks.items()
            if name.startswith(prefix)
        ]
