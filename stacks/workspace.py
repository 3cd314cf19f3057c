"""One driver of the platform's stacks (select/config/preview/up/destroy/outputs) on the Automation API.

Used by the preview tool, the kind end-to-end run (e2e/) and the real-engine tier. The project is the repo's
own Pulumi.yaml (config schema and all). By default the CLI runs `main: infra/` through the Python language
host, as `pulumi up` does; with `program=` the same program runs inline (in this process, the engine still the
real CLI's), which is how the engine tier drives it where the language host cannot be built.

The Automation API has no time bound per operation, nor a handle on the CLI process it starts (`pulumi cancel`
on a file backend only drops the stack's lock): a bound on `up`/`destroy` is the caller's job timeout.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from pulumi import automation as auto

from infra.schema import REPO_ROOT
from stacks.backend import Backend

OutputSink = Callable[[str], None]


class WorkspaceError(Exception):
    """A Pulumi operation failed: a short message, plus the CLI's whole output for diagnosis."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details
        """Everything the CLI printed (the engine's diagnostics are on stdout, not stderr)."""


@dataclass(frozen=True)
class StackInfo:
    """One stack as `list`, `destroy` and `gc` see it."""

    name: str
    """Stack name."""
    last_update: datetime | None
    """When the last update (up or destroy) finished, UTC; None if none ran."""
    config: Mapping[str, str] = field(default_factory=dict)
    """Fully qualified config key -> value."""


class Workspace(Protocol):
    """The Pulumi operations the tools use (preview commands, the kind end-to-end run)."""

    def select_or_create(self, stack: str) -> None:
        """Create the stack, or select it if it exists."""
        ...

    def set_config(self, stack: str, config: Mapping[str, str]) -> None:
        """Set these fully qualified config keys (plain values) on the stack."""
        ...

    def set_secret_config(self, stack: str, config: Mapping[str, str]) -> None:
        """Set these fully qualified config keys as secrets."""
        ...

    def up(self, stack: str, on_output: OutputSink) -> dict[str, int]:
        """`pulumi up` the stack, streaming the engine's output; the operations by kind."""
        ...

    def outputs(self, stack: str) -> dict[str, object]:
        """The stack's outputs (secrets decrypted: never print them whole)."""
        ...

    def destroy(self, stack: str, on_output: OutputSink, env: Mapping[str, str]) -> None:
        """`pulumi destroy` the stack, with extra environment variables for the CLI and providers."""
        ...

    def remove(self, stack: str, force: bool = False) -> None:
        """Remove the (emptied) stack and its config; `force` also drops state of undeleted resources."""
        ...

    def list_stacks(self, prefix: str) -> list[StackInfo]:
        """Stacks whose names start with `prefix`, with their config and last update time."""
        ...

    def discard_stale_stack_file(self, stack: str) -> bool:
        """Delete the local stack file of a stack the backend does not have; True if there was one."""
        ...


def _failed(err: Exception) -> WorkspaceError:
    """Short message from the CLI's stderr; its stdout was already streamed, but is kept for matching."""
    text = str(err).strip()
    # CommandError's text is "code: N / stdout: ... / stderr: ...".
    stderr = text.rpartition(" stderr: ")[2].strip() if " stderr: " in text else ""
    return WorkspaceError(stderr or text or type(err).__name__, details=text)


class AutomationWorkspace:
    """Workspace on `pulumi.automation`: the repo's Pulumi project, run by the local Pulumi CLI.

    Every call opens its own LocalWorkspace, so one call's extra environment never leaks into the next.
    """

    def __init__(
        self,
        backend: Backend,
        work_dir: Path = REPO_ROOT,
        program: Callable[[], None] | None = None,
        cli_root: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if cli_root is None and shutil.which("pulumi") is None:
            raise WorkspaceError("the pulumi CLI is not on PATH (https://www.pulumi.com/docs/install/)")
        local_dir = backend.local_dir()
        if local_dir is not None:
            # The file backend does not create its root directory itself.
            local_dir.mkdir(parents=True, exist_ok=True)
        self.backend = backend
        self.work_dir = work_dir
        self.program = program
        self.env = dict(env or {})
        # PulumiCommand checks the CLI's version once; every workspace of this driver shares it.
        self.command = auto.PulumiCommand(root=str(cli_root)) if cli_root else None

    def _opts(self, stack: str | None, env: Mapping[str, str] | None = None) -> auto.LocalWorkspaceOptions:
        return auto.LocalWorkspaceOptions(
            work_dir=str(self.work_dir),
            # The stack's own passphrase (backend.py): a workspace is opened per call and per stack.
            env_vars={**self.env, **self.backend.env(stack), **(env or {})},
            pulumi_command=self.command,
            program=self.program,
        )

    def _stack(self, stack: str, env: Mapping[str, str] | None = None) -> auto.Stack:
        return auto.Stack.select(stack, auto.LocalWorkspace(**self._opts(stack, env).__dict__))

    def _workspace(self, stack: str | None = None) -> auto.LocalWorkspace:
        """A workspace for commands on `stack` (its passphrase), or on none (`stack ls`)."""
        return auto.LocalWorkspace(**self._opts(stack).__dict__)

    def stack_file(self, stack: str) -> Path:
        """Where the CLI keeps the stack's config and encryption salt: Pulumi.<stack>.yaml in the work dir."""
        return self.work_dir / f"Pulumi.{stack}.yaml"

    def _restore_config(self, workspace: auto.LocalWorkspace, stack: str) -> None:
        """Recreate a missing Pulumi.<stack>.yaml from the last deployment (a fresh CI checkout has none).

        It also restores the stack's secrets provider salt, which decrypting the state needs.
        """
        if self.stack_file(stack).is_file():
            return
        # Never deployed: there is no config to restore, and nothing to destroy either.
        with contextlib.suppress(auto.CommandError):
            workspace.refresh_config(stack)

    def select_or_create(self, stack: str) -> None:
        """Create the stack, or select it if it exists."""
        try:
            auto.Stack.create_or_select(stack, self._workspace(stack))
        except auto.CommandError as err:
            raise _failed(err) from None

    def set_config(self, stack: str, config: Mapping[str, str]) -> None:
        """Set these fully qualified config keys (plain values) on the stack."""
        try:
            self._stack(stack).set_all_config({k: auto.ConfigValue(value=v) for k, v in config.items()})
        except auto.CommandError as err:
            raise _failed(err) from None

    def set_secret_config(self, stack: str, config: Mapping[str, str]) -> None:
        """Set these fully qualified config keys as secrets (encrypted in the stack file)."""
        try:
            self._stack(stack).set_all_config(
                {k: auto.ConfigValue(value=v, secret=True) for k, v in config.items()}
            )
        except auto.CommandError as err:
            raise _failed(err) from None

    def preview(self, stack: str, on_output: OutputSink, expect_no_changes: bool = False) -> dict[str, int]:
        """`pulumi preview`: the planned operations by kind (create, update, replace, ...)."""
        try:
            result = self._stack(stack).preview(on_output=on_output, expect_no_changes=expect_no_changes)
        except auto.CommandError as err:
            raise _failed(err) from None
        return {str(op): count for op, count in result.change_summary.items()}

    def up(self, stack: str, on_output: OutputSink) -> dict[str, int]:
        """`pulumi up` the stack, streaming the engine's output; the operations it did by kind."""
        try:
            result = self._stack(stack).up(on_output=on_output)
        except auto.CommandError as err:
            raise _failed(err) from None
        return {str(op): count for op, count in (result.summary.resource_changes or {}).items()}

    def outputs(self, stack: str) -> dict[str, object]:
        """The stack's outputs (secrets decrypted)."""
        try:
            return {k: v.value for k, v in self._stack(stack).outputs().items()}
        except auto.CommandError as err:
            raise _failed(err) from None

    def destroy(self, stack: str, on_output: OutputSink, env: Mapping[str, str]) -> None:
        """`pulumi destroy` the stack, with extra environment variables for the CLI and providers."""
        try:
            self._restore_config(self._workspace(stack), stack)
            self._stack(stack, env).destroy(on_output=on_output)
        except auto.CommandError as err:
            raise _failed(err) from None

    def remove(self, stack: str, force: bool = False) -> None:
        """Remove the (emptied) stack and its config; `force` also drops state of undeleted resources."""
        try:
            self._workspace(stack).remove_stack(stack, force=force)
        except auto.CommandError as err:
            raise _failed(err) from None

    def discard_stale_stack_file(self, stack: str) -> bool:
        """Delete the local stack file of a stack the backend does not have; True if there was one.

        Such a file is left by a stack whose state is gone (a killed run, a wiped or other backend). Its
        encryption salt belongs to that stack's passphrase, and `pulumi stack init` reuses the salt of an
        existing file, so creating the stack again would fail with "incorrect passphrase". Only for stack
        files the tools own (Pulumi.preview-*.yaml, git-ignored): a committed stack file is never stale.
        """
        path = self.stack_file(stack)
        if not path.is_file():
            return False
        try:
            known = {s.name for s in self._workspace().list_stacks()}
        except auto.CommandError as err:
            raise _failed(err) from None
        if stack in known:
            return False
        path.unlink()
        return True

    def list_stacks(self, prefix: str) -> list[StackInfo]:
        """Stacks whose names start with `prefix`, with their config and last update time."""
        workspace = self._workspace()
        try:
            summaries = [s for s in workspace.list_stacks() if s.name.startswith(prefix)]
            stacks = []
            for summary in summaries:
                own = self._workspace(summary.name)
                self._restore_config(own, summary.name)
                config = own.get_all_config(summary.name)
                # The SDK parses the CLI's "...Z" timestamps into naive datetimes.
                last = summary.last_update.replace(tzinfo=UTC) if summary.last_update else None
                stacks.append(
                    StackInfo(
                        name=summary.name,
                        last_update=last,
                        config={k: str(v.value) for k, v in config.items()},
                    )
                )
        except auto.CommandError as err:
            raise _failed(err) from None
        return stacks
