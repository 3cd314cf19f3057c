"""`python -m devloop` as a user runs it: ready and printing URLs, Ctrl-C stops every child, a restart keeps
the registered champion (no retraining), bad flags give one line and exit 2."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from devloop.process import port_free
from tests.conftest import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _argv(state: Path, mlflow_port: int, serving_port: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "devloop", "--state-dir", str(state), "--mlflow-port", str(mlflow_port),
        "--serving-port", str(serving_port), "--serving-metrics-port", str(free_port()), "--no-prometheus",
        *extra,
    ]  # fmt: skip


def test_ctrl_c_stops_everything_and_a_restart_keeps_the_champion(tmp_path: Path) -> None:
    state, mlflow_port, serving_port = tmp_path / "state", free_port(), free_port()
    proc = subprocess.Popen(
        _argv(state, mlflow_port, serving_port), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 180
        for line in proc.stdout:
            lines.append(line)
            if "platform ready in" in line or time.monotonic() > deadline:
                break
        ready = [line for line in lines if "platform ready in" in line]
        assert ready, "".join(lines)
        seconds = float(ready[0].split("platform ready in ")[1].split("s")[0])
        print(f"devloop from nothing to ready: {seconds:.1f}s")
        assert seconds <= 60
        body = {"rows": [[0.0] * 30]}
        assert (
            httpx.post(f"http://127.0.0.1:{serving_port}/v1/predict", json=body, timeout=10).status_code
            == 200
        )
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=60)[0]
        assert proc.returncode == 0, rest
        assert "stopping serving" in rest and "stopping mlflow" in rest
        assert port_free("127.0.0.1", mlflow_port) and port_free("127.0.0.1", serving_port)
    finally:
        # A failed assertion above must not leave the platform running (it did: MLflow, serving and their
        # workers outlived the test run by hours).
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()

    again = subprocess.run(
        _argv(state, mlflow_port, serving_port, "--check"),
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert "-> predictions: [" in again.stdout and "check passed" in again.stdout
    assert "found in the registry: no bootstrap training" in again.stdout
    assert "training:" not in again.stdout


def test_bad_flag_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devloop", "--serving-port", "99999"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error:") and "99999" in result.stderr
    assert "Traceback" not in result.stderr
    taken = free_port()
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", taken))
        sock.listen()
        busy = subprocess.run(
            _argv(tmp_path / "s", taken, free_port(), "--exit-when-ready"),
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
    assert busy.returncode == 1
    assert f"port {taken} on 127.0.0.1 is in use" in busy.stderr and "--mlflow-port" in busy.stderr
