"""The real subprocess Runner: exit codes for missing tools and timeouts, per-command logs, secrets withheld.

Unit tests with a stand-in command (this Python interpreter): the tools the e2e run drives (kind, docker, a
cluster) cannot run here; the rest of the e2e package is tested with a test double of the Runner.
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
def runner(tmp_path: Path) -> SubprocessRunner:
    return SubprocessRunner(tmp_path, tmp_path, {"PATH": "/usr/bin:/bin", "E2E_X": "hello"}, timeout=0.5)


def logs(tmp_path: Path) -> list[str]:
    return [p.read_text() for p in sorted(tmp_path.glob("*.log"))]


def test_captured_output_and_env_reach_the_command_and_its_log(runner, tmp_path):
    result = runner.run([PY, "-c", "import os; print(os.environ['E2E_X'])"])
    assert result.ok
    assert result.stdout.strip() == "hello"
    (log,) = logs(tmp_path)
    assert "hello" in log
    assert "# exit 0" in log


def test_env_values_are_not_logged(tmp_path):
    run = SubprocessRunner(tmp_path, tmp_path, {"PULUMI_CONFIG_PASSPHRASE": "s3cret-value"})
    run.run([PY, "-c", "pass"])
    assert "s3cret-value" not in logs(tmp_path)[0]


def test_a_missing_executable_is_exit_127_not_an_exception(runner):
    result = runner.run(["definitely-not-a-tool-e2e"])
    assert result.returncode == NOT_FOUND
    assert "command not found" in result.stderr


def test_no_command_runs_unbounded(runner):
    result = runner.run([PY, "-c", "import time; time.sleep(5)"])
    assert result.returncode == TIMED_OUT
    assert "timed out after" in result.stderr


def test_sensitive_output_is_withheld_from_the_log(runner, tmp_path):
    # The secret is assembled at run time, so only the command's output (not its argv) holds it.
    result = runner.run([PY, "-c", "print('password=' + 'hunter' + '2')"], sensitive=True)
    assert "hunter2" in result.stdout
    assert all("hunter2" not in log for log in logs(tmp_path))
    assert "stdout withheld" in logs(tmp_path)[0]


def test_each_command_gets_its_own_numbered_log(runner, tmp_path):
    runner.run([PY, "-c", "pass"])
    runner.run(["definitely-not-a-tool-e2e", "get", "clusters"])
    names = sorted(p.name for p in tmp_path.glob("*.log"))
    assert names[0].startswith("001-")
    assert names[1] == "002-definitely-not-a-tool-e2e-get-clusters.log"


def test_run_checked_names_the_command_and_the_error_tail():
    fake = ScriptedRunner().on("kind", "delete", returncode=1, stderr="error: permission denied\n")
    with pytest.raises(CommandFailed, match=r"`kind delete cluster` exited 1:\nerror: permission denied"):
        run_checked(fake, ["kind", "delete", "cluster"])


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
