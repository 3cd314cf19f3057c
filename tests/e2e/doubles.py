"""Test doubles for the e2e package: a scripted command Runner, fake files, ports and clock.

kind, docker and a cluster cannot run on this machine, so the e2e logic is driven through these (and the
stack's workspace through the shared double in tests/stacks/doubles.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from e2e.preflight import INOTIFY_INSTANCES, INOTIFY_WATCHES, MEMINFO
from e2e.runner import NOT_FOUND, Completed

Reply = Completed | Callable[[tuple[str, ...]], Completed]


@dataclass(frozen=True)
class Call:
    """One command the code under test ran."""

    argv: tuple[str, ...]
    sensitive: bool


@dataclass
class ScriptedRunner:
    """A Runner that answers from a script keyed by argv prefix (longest match wins) and records calls."""

    replies: dict[tuple[str, ...], Reply] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    absent: set[str] = field(default_factory=set)

    def on(self, *prefix: str, stdout: str = "", returncode: int = 0, stderr: str = "") -> ScriptedRunner:
        """Answer commands starting with `prefix`."""
        self.replies[prefix] = Completed(prefix, returncode, stdout, stderr)
        return self

    def on_call(self, *prefix: str, reply: Callable[[tuple[str, ...]], Completed]) -> ScriptedRunner:
        """Answer commands starting with `prefix` by calling `reply(argv)`."""
        self.replies[prefix] = reply
        return self

    def missing(self, tool: str) -> ScriptedRunner:
        """`tool` is not on PATH (whatever else is scripted for it)."""
        self.absent.add(tool)
        return self

    def run(self, argv: Sequence[str], *, sensitive: bool = False) -> Completed:
        args = tuple(argv)
        self.calls.append(Call(args, sensitive))
        if args[0] in self.absent:
            return Completed(args, NOT_FOUND, stderr=f"{args[0]}: command not found")
        matches = [p for p in self.replies if args[: len(p)] == p]
        if not matches:
            return Completed(args, 0)
        reply = self.replies[max(matches, key=len)]
        if callable(reply):
            return reply(args)
        return Completed(args, reply.returncode, reply.stdout, reply.stderr)

    def argvs(self, tool: str | None = None) -> list[tuple[str, ...]]:
        """Commands run so far (of one tool)."""
        return [c.argv for c in self.calls if tool is None or c.argv[0] == tool]

    def ran(self, *prefix: str) -> bool:
        """Whether a command starting with `prefix` ran."""
        return any(c.argv[: len(prefix)] == prefix for c in self.calls)


def healthy_machine() -> ScriptedRunner:
    """Every preflight command answers as on a ready machine."""
    return (
        ScriptedRunner()
        .on("docker", "info", stdout="27.3.1\n")
        .on("kind", "version", stdout="kind v0.29.0 go1.24.2 linux/amd64\n")
        .on("pulumi", "version", stdout="v3.272.0\n")
        .on("kubectl", "version", stdout="Client Version: v1.33.1\nKustomize Version: v5.6.0\n")
        .on("kind", "get", "clusters", stdout="", stderr="No kind clusters found.\n")
    )


def proc_files(
    available_kib: int = 12 * 1024 * 1024, watches: int = 524288, instances: int = 512
) -> dict[Path, str]:
    """/proc contents of a machine with enough memory and inotify limits (override to break one)."""
    return {
        MEMINFO: f"MemTotal:       16384000 kB\nMemFree:         1000000 kB\nMemAvailable:   {available_kib} kB\n",
        INOTIFY_WATCHES: f"{watches}\n",
        INOTIFY_INSTANCES: f"{instances}\n",
    }


def reader(files: Mapping[Path, str]) -> Callable[[Path], str]:
    """A file reader over `files`; other paths raise FileNotFoundError like a missing /proc entry."""

    def read(path: Path) -> str:
        if path not in files:
            raise FileNotFoundError(path)
        return files[path]

    return read


def ports(busy: set[int] | None = None) -> Callable[[str, int], bool]:
    """A port prober where only `busy` ports are taken."""
    taken = busy or set()
    return lambda _host, port: port not in taken


class FakeClock:
    """A clock that advances only when slept on (or ticked)."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 0.0
        self.step = step
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        self.now += self.step
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
