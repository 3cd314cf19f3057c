"""A managed child process that is ready when an HTTP endpoint answers, and stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Self


class ProcessFailedError(RuntimeError):
    """The child exited or did not become ready in time."""


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True if GET url answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback URLs we built
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def port_free(host: str, port: int) -> bool:
    """True if nothing listens on host:port (binding succeeds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Without SO_REUSEADDR a closed connection in TIME_WAIT would look like a listener.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@dataclass
class ManagedProcess:
    """A subprocess with a readiness URL; its output goes to a log file so failures can be shown."""

    name: str
    argv: Sequence[str]
    ready_url: str
    log_path: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    stop_timeout: float = 15.0
    """How long stop() waits after SIGTERM before SIGKILL: longer than the child's own shutdown grace."""
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def pid(self) -> int | None:
        """PID of the running child, if any."""
        return self._proc.pid if self._proc else None

    def start(self) -> Self:
        """Start the child (in its own process group, so stop() reaches its workers too)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        merged_env = {**os.environ, **(self.env or {})}
        self._proc = subprocess.Popen(
            list(self.argv),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=merged_env,
            cwd=self.cwd,
            start_new_session=True,
        )
        return self

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Block until ready_url answers; return seconds waited. Raise with the log tail on failure."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self._proc is None or self._proc.poll() is not None:
                raise ProcessFailedError(f"{self.name} exited early:\n{self.log_tail()}")
            if http_ok(self.ready_url):
                return time.monotonic() - started
            time.sleep(0.2)
        raise ProcessFailedError(
            f"{self.name} not ready at {self.ready_url} after {timeout:.0f}s:\n{self.log_tail()}"
        )

    def running(self) -> bool:
        """True while the child is alive."""
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM the process group, then SIGKILL if it lingers past timeout (default: stop_timeout)."""
        timeout = self.stop_timeout if timeout is None else timeout
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
            except ProcessLookupError:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the child's output."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
