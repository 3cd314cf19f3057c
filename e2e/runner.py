"""Running commands: a small `Runner` protocol, and the real one built on subprocess.

Everything that shells out (preflight, Pulumi, kind, kubectl, docker) takes a Runner, so the logic above it is
tested with a scripted double instead of real tools.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

Echo = Callable[[str], None]

NOT_FOUND = 127  # the shell's convention, so "tool missing" looks the same from every Runner
TIMED_OUT = 124  # coreutils `timeout`'s convention
DEFAULT_TIMEOUT = 300.0
INTERRUPT_GRACE = 300.0
_TAIL_LINES = 15


@dataclass(frozen=True)
class Completed:
    """A finished command."""

    argv: tuple[str, ...]
    """What ran."""
    returncode: int
    """Exit status (127: not found, 124: timed out)."""
    stdout: str = ""
    """Standard output (merged with stderr when streamed)."""
    stderr: str = ""
    """Standard error (empty when streamed)."""

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

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        stream: bool = False,
        sensitive: bool = False,
    ) -> Completed:
        """Run `argv` with `env` added to the environment.

        stream: echo output lines as they come (long commands) instead of capturing stdout/stderr apart.
        sensitive: the output holds secrets; never log or echo it.
        timeout: seconds before the command is stopped (None: the runner's default bound).
        A missing executable or a timeout is a Completed with status 127 or 124, not an exception.
        """
        ...


def run_checked(
    runner: Runner,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    stream: bool = False,
    sensitive: bool = False,
) -> Completed:
    """Run and raise CommandFailed unless the command exits 0."""
    result = runner.run(argv, env=env, timeout=timeout, stream=stream, sensitive=sensitive)
    if not result.ok:
        raise CommandFailed(result, sensitive=sensitive)
    return result


def _slug(argv: Sequence[str]) -> str:
    words = [a for a in argv[:3] if not a.startswith("-")]
    return re.sub(r"[^a-z0-9]+", "-", "-".join(words).lower()).strip("-")[:40] or "command"


class SubprocessRunner:
    """The real Runner: subprocess in the repo root, each command's output written to its own log file."""

    def __init__(
        self,
        log_dir: Path,
        cwd: Path,
        base_env: Mapping[str, str],
        echo: Echo,
        default_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._log_dir = log_dir
        self._cwd = cwd
        self._base_env = dict(base_env)
        self._echo = echo
        self._default_timeout = default_timeout
        self._counter = itertools.count(1)

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        stream: bool = False,
        sensitive: bool = False,
    ) -> Completed:
        """See Runner.run."""
        args = tuple(argv)
        # No command may hang the run: a stuck one would also keep teardown from ever starting.
        timeout = self._default_timeout if timeout is None else timeout
        log_path = self._log_dir / f"{next(self._counter):03d}-{_slug(args)}.log"
        full_env = {**self._base_env, **(env or {})}
        with log_path.open("w", encoding="utf-8") as log:
            # Only the names of the added variables: their values include the state passphrase.
            log.write(f"$ {' '.join(args)}\n# added env: {', '.join(sorted(env or {})) or '-'}\n\n")
            log.flush()
            try:
                if stream:
                    result = self._stream(args, full_env, timeout, log, sensitive)
                else:
                    result = self._capture(args, full_env, timeout)
                    self._write_captured(log, result, sensitive)
            except FileNotFoundError:
                result = Completed(args, NOT_FOUND, stderr=f"{args[0]}: command not found")
                log.write(result.stderr + "\n")
            log.write(f"\n# exit {result.returncode}\n")
        return result

    def _capture(self, argv: tuple[str, ...], env: dict[str, str], timeout: float | None) -> Completed:
        try:
            proc = subprocess.run(
                argv, cwd=self._cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return Completed(argv, TIMED_OUT, stderr=f"timed out after {timeout:.0f}s")
        return Completed(argv, proc.returncode, proc.stdout, proc.stderr)

    @staticmethod
    def _write_captured(log: IO[str], result: Completed, sensitive: bool) -> None:
        if sensitive:
            log.write(f"<stdout withheld: {len(result.stdout)} bytes that hold secrets>\n")
        else:
            log.write(result.stdout)
        if result.stderr:
            log.write(f"\n# stderr\n{result.stderr}")

    def _stream(
        self,
        argv: tuple[str, ...],
        env: dict[str, str],
        timeout: float | None,
        log: IO[str],
        sensitive: bool,
    ) -> Completed:
        proc = subprocess.Popen(
            argv,
            cwd=self._cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            # SIGTERM, not SIGKILL: Pulumi then cancels cleanly and writes its state before exiting.
            proc.terminate()

        timer = threading.Timer(timeout, expire) if timeout else None
        if timer is not None:
            timer.start()
        collected: list[str] = []
        try:
            assert proc.stdout is not None  # stdout=PIPE
            for line in proc.stdout:
                collected.append(line)
                if not sensitive:
                    log.write(line)
                    log.flush()
                    self._echo(f"    {line.rstrip()}")
            returncode = proc.wait()
        except KeyboardInterrupt:
            # The child got the same Ctrl-C; Pulumi then cancels cleanly. Let it finish before teardown
            # runs Pulumi on the same stack.
            try:
                proc.wait(timeout=INTERRUPT_GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if expired.is_set():
            log.write(f"\n# timed out after {timeout:.0f}s\n")
            return Completed(argv, TIMED_OUT, "".join(collected))
        return Completed(argv, returncode, "".join(collected))
