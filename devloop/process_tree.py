"""A process and its descendants, read from /proc: what a server started, and the memory it all holds."""

from __future__ import annotations

from pathlib import Path

_PROC = Path("/proc")


def process_tree(root: int) -> list[int]:
    """root and every descendant, found by parent pid (a pid's own `children` file lists only the children of
    its main thread)."""
    children: dict[int, list[int]] = {}
    for stat in _PROC.glob("[0-9]*/stat"):
        try:
            # The command name may hold spaces and parentheses: the fields after its last ")" are fixed.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited while we looked
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def command_line(pid: int) -> str:
    """The process' argv joined by spaces; empty if it has exited."""
    try:
        return (_PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def rss_bytes(pids: list[int]) -> int:
    """Resident memory of these processes together (those that have exited count 0)."""
    total = 0
    for pid in pids:
        try:
            status = (_PROC / str(pid) / "status").read_text()
        except OSError:
            continue
        total += next(
            (int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0
        )
    return total
