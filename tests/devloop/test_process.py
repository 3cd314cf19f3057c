"""ManagedProcess.stop gives a child its shutdown grace; the dev loop gives serving all of its grace period."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from devloop.config import parse_args
from devloop.local_platform import LocalPlatform
from devloop.process import ManagedProcess
from mlops_contract.names import SERVING_SHUTDOWN_GRACE_SECONDS

# A child that, like uvicorn, finishes its work for a while after SIGTERM and then exits cleanly.
GRACEFUL_CHILD = """
import signal, sys, time
from pathlib import Path
stopping = []
signal.signal(signal.SIGTERM, lambda *_: stopping.append(time.monotonic()))
Path(sys.argv[1]).with_suffix(".ready").write_text("ready")
while not stopping:
    time.sleep(0.05)
time.sleep(1.5)
Path(sys.argv[1]).write_text("drained")
"""


def _run_and_stop(tmp_path: Path, stop_timeout: float) -> bool:
    marker = tmp_path / f"drained-{stop_timeout}"
    proc = ManagedProcess(
        name="child",
        argv=[sys.executable, "-c", GRACEFUL_CHILD, str(marker)],
        ready_url="http://127.0.0.1:9/unused",
        log_path=tmp_path / "child.log",
        stop_timeout=stop_timeout,
    ).start()
    deadline = time.monotonic() + 30
    while not marker.with_suffix(".ready").exists():
        assert time.monotonic() < deadline, proc.log_tail()
        time.sleep(0.05)
    proc.stop()
    return marker.exists()


def test_stop_waits_for_the_childs_grace_before_killing(tmp_path: Path) -> None:
    assert _run_and_stop(tmp_path, stop_timeout=15)
    assert not _run_and_stop(tmp_path, stop_timeout=0.3)


def test_dev_loop_gives_serving_more_than_its_shutdown_grace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the process spec is under test: starting it would need a registry.
    monkeypatch.setattr(ManagedProcess, "start", lambda self: self)
    platform = LocalPlatform(parse_args(["--state-dir", str(tmp_path)]), report=lambda _line: None)
    serving = platform.start_serving()
    assert serving.stop_timeout > SERVING_SHUTDOWN_GRACE_SECONDS
