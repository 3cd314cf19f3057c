"""The real subprocess Runner: exit codes for missing tools and timeouts, per-command logs, secrets withheld.

Unit tests with a stand-in command (this Python interpreter): the tools the e2e run drives (the Pulumi CLI,
kind, a cluster) cannot run here; the rest of the e2e package is tested with a test double of the Runner.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from e2e.kube import SecretError, read_secret, secret_value
from e2e.runner import NOT_FOUND, TIMED_OUT, CommandFailed, Completed, SubprocessRunner, run_checked
from tests.e2e.doubles import ScriptedRunner

PY = sys.executable


@pytest.fixture
def runner(tmp_path: Path) -> tuple[SubprocessRunner, list[str]]:
    lines: list[str] = []
    return SubprocessRunner(tmp_path, tmp_path, {"PATH": "/usr/bin:/bin"}, lines.append), lines


def logs(tmp_path: Path) -> list[str]:
    return [p.read_text() for p in sorted(tmp_path.glob("*.log"))]


def test_captured_output_and_env_reach_the_command_and_its_log(runner, tmp_path):
    run, _ = runner
    result = run.run([PY, "-c", "import os; print(os.environ['E2E_X'])"], env={"E2E_X": "hello"})
    assert result.ok
    assert result.stdout.strip() == "hello"
    (log,) = logs(tmp_path)
    assert "hello" in log
    assert "# added env: E2E_X" in log
    assert "# exit 0" in log


def test_env_values_are_not_logged(runner, tmp_path):
    run, _ = runner
    run.run([PY, "-c", "pass"], env={"PULUMI_CONFIG_PASSPHRASE": "s3cret-value"})
    assert "s3cret-value" not in logs(tmp_path)[0]


def test_a_missing_executable_is_exit_127_not_an_exception(runner):
    run, _ = runner
    result = run.run(["definitely-not-a-tool-e2e"])
    assert result.returncode == NOT_FOUND
    assert "command not found" in result.stderr


def test_a_captured_command_that_overruns_is_exit_124(runner):
    run, _ = runner
    assert run.run([PY, "-c", "import time; time.sleep(5)"], timeout=0.5).returncode == TIMED_OUT


def test_no_command_runs_unbounded(tmp_path):
    run = SubprocessRunner(tmp_path, tmp_path, {}, lambda _line: None, default_timeout=0.5)
    assert run.run([PY, "-c", "import time; time.sleep(5)"]).returncode == TIMED_OUT


def test_a_streamed_command_echoes_lines_and_is_stopped_at_its_timeout(runner):
    run, lines = runner
    code = "import time\nprint('creating cluster', flush=True)\ntime.sleep(5)"
    result = run.run([PY, "-c", code], timeout=1.0, stream=True)
    assert result.returncode == TIMED_OUT
    assert lines == ["    creating cluster"]
    assert "creating cluster" in result.stdout


def test_a_streamed_command_merges_stderr_and_keeps_its_exit_code(runner):
    run, lines = runner
    code = "import sys\nprint('out', flush=True)\nprint('err', file=sys.stderr, flush=True)\nsys.exit(3)"
    result = run.run([PY, "-c", code], stream=True)
    assert result.returncode == 3
    assert sorted(lines) == ["    err", "    out"]


def test_sensitive_output_is_withheld_from_log_and_console(runner, tmp_path):
    run, lines = runner
    # The secret is assembled at run time, so only the command's output (not its argv) holds it.
    code = "print('password=' + 'hunter' + '2')"
    run.run([PY, "-c", code], sensitive=True)
    run.run([PY, "-c", code], sensitive=True, stream=True)
    assert all("hunter2" not in log for log in logs(tmp_path))
    assert lines == []


def test_each_command_gets_its_own_numbered_log(runner, tmp_path):
    run, _ = runner
    run.run([PY, "-c", "pass"])
    run.run(["definitely-not-a-tool-e2e", "get", "clusters"])
    names = sorted(p.name for p in tmp_path.glob("*.log"))
    assert names[0].startswith("001-")
    assert names[1] == "002-definitely-not-a-tool-e2e-get-clusters.log"


def test_run_checked_names_the_command_and_the_error_tail():
    fake = ScriptedRunner().on("pulumi", "up", returncode=255, stderr="error: update failed\n")
    with pytest.raises(CommandFailed, match=r"`pulumi up --yes` exited 255:\nerror: update failed"):
        run_checked(fake, ["pulumi", "up", "--yes"])


def test_a_sensitive_failure_shows_stderr_but_never_stdout():
    failed = CommandFailed(Completed(("kubectl",), 1, stdout="c2VjcmV0", stderr="NotFound"), sensitive=True)
    assert "NotFound" in str(failed)
    assert "c2VjcmV0" not in str(failed)


def test_read_secret_decodes_the_data():
    fake = ScriptedRunner().on(
        "kubectl", stdout='{"data": {"admin-password": "czNjcmV0", "admin-username": "YWRtaW4="}}'
    )
    data = read_secret(fake, "kind-mlops-e2e", "mlops", "mlflow-credentials")
    assert data == {"admin-password": "s3cret", "admin-username": "admin"}
    assert fake.calls[0].argv == (
        "kubectl",
        "--context",
        "kind-mlops-e2e",
        "--namespace",
        "mlops",
        "get",
        "secret",
        "mlflow-credentials",
        "-o",
        "json",
    )
    assert fake.calls[0].sensitive


def test_a_missing_key_names_the_keys_present_not_their_values():
    with pytest.raises(SecretError, match=r"no key 'admin-password' \(keys: user\)") as err:
        secret_value({"user": "admin-value"}, "admin-password", "mlops/grafana-admin")
    assert "admin-value" not in str(err.value)


def test_an_undecodable_secret_does_not_quote_its_bytes():
    fake = ScriptedRunner().on("kubectl", stdout='{"data": {"k": "!!notbase64"}}')
    with pytest.raises(SecretError, match="cannot decode") as err:
        read_secret(fake, "ctx", "ns", "name")
    assert "notbase64" not in str(err.value)
