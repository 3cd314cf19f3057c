"""Running commands: a small `Runner` protocol, and the real one built on subprocess.

Everything that shells out (preflight, kind, kubectl, docker) takes a Runner, so the logic above it is tested
with a scripted double instead of real tools. Pulumi is not run through it: the stack is driven by
stacks.workspace (the Automation API), which streams the engine's output itself.
"""

from __future__ import annotations

import itertools
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

NOT_FOUND = 127  # the shell's convention, so "tool missing" looks the same from every Runner
TIMED_OUT = 124  # coreutils `timeout`'s convention
DEFAULT_TIMEOUT = 300.0
_TAIL_LINES = 15


@dataclass(frozen=True)
class Completed:
    """A finished command."""

    argv: tuple[str, ...]
    """What ran."""
    returncode: int
    """Exit status (127: not found, 124: timed out)."""
    stdout: str = ""
    """Standard output."""
    stderr: str = ""
    """Standard error."""

    @property
    def ok(self) -> bool:
        """Exit status 0."""
        return self.returncode == 0

    def lines(self) -> list[str]:
        """Non-empty stdout lines, stripped."""
        return [line.strip() for line in self.stdout.splitlines() if line.strip()]


class CommandFailed(RuntimeError):
    """A command that had to succeed did not."""

    def __init__(self, result: Completed, sensitive: bool = False) -> None:
        self.result = result
        # A sensitive command's stdout holds secret values; its stderr (errors) does not.
        tail = _tail(result.stderr if sensitive else result.stderr or result.stdout)
        detail = f":\n{tail}" if tail else ""
        super().__init__(f"`{' '.join(result.argv)}` exited {result.returncode}{detail}")


def _tail(text: str, lines: int = _TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class Runner(Protocol):
    """Runs one command to completion."""

    def run(self, argv: Sequence[str], *, sensitive: bool = False) -> Completed:
        """Run `argv` to completion within the runner's time bound, capturing stdout and stderr.

        sensitive: the output holds secrets; never log it.
        A missing executable or a timeout is a Completed with status 127 or 124, not an exception.
        """
        ...


def run_checked(runner: Runner, argv: Sequence[str], *, sensitive: bool = False) -> Completed:
    """Run and raise CommandFailed unless the command exits 0."""
    result = runner.run(argv, sensitive=sensitive)
    if not result.ok:
        raise CommandFailed(result, sensitive=sensitive)
    return result


def _slug(argv: Sequence[str]) -> str:
    words = [a for a in argv[:3] if not a.startswith("-")]
    return re.sub(r"[^a-z0-9]+", "-", "-".join(words).lower()).strip("-")[:40] or "command"


class SubprocessRunner:
    """The real Runner: subprocess in the repo root, each command's output written to its own log file."""

    def __init__(
        self, log_dir: Path, cwd: Path, env: Mapping[str, str], timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self._log_dir = log_dir
        self._cwd = cwd
        self._env = dict(env)
        self._timeout = timeout
        self._counter = itertools.count(1)

    def run(self, argv: Sequence[str], *, sensitive: bool = False) -> Completed:
        """See Runner.run."""
        args = tuple(argv)
        log_path = self._log_dir / f"{next(self._counter):03d}-{_slug(args)}.log"
        with log_path.open("w", encoding="utf-8") as log:
            log.write(f"$ {' '.join(args)}\n\n")
            log.flush()
            try:
                result = self._capture(args)
            except FileNotFoundError:
                result = Completed(args, NOT_FOUND, stderr=f"{args[0]}: command not found")
            self._write_captured(log, result, sensitive)
            log.write(f"\n# exit {result.returncode}\n")
        return result

    def _capture(self, argv: tuple[str, ...]) -> Completed:
        # No command may hang the run: a stuck one would also keep teardown from ever starting.
        try:
            proc = subprocess.run(
                argv,
                cwd=self._cwd,
                env=self._env,
                capture_output=True,
                text=True,
                timeout=self._timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return Completed(argv, TIMED_OUT, stderr=f"timed out after {self._timeout:.0f}s")
        return Completed(argv, proc.returncode, proc.stdout, proc.stderr)

    @staticmethod
    def _write_captured(log: IO[str], result: Completed, sensitive: bool) -> None:
        if sensitive:
            log.write(f"<stdout withheld: {len(result.stdout)} bytes that hold secrets>\n")
        else:
            log.write(result.stdout)
        if result.stderr:
            log.write(f"\n# stderr\n{result.stderr}")
