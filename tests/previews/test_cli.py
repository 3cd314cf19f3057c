"""Each `python -m previews` command, end to end through `main`, against test doubles.

The Pulumi CLI and a Kubernetes cluster cannot run here: the commands run against `FakeWorkspace` (a test
double of stacks.workspace.Workspace) and `FakeKubeApi` (a fake CoreV1Api answering with real kubernetes
client models); see conftest.py. Everything above those two seams is the real code.
"""

from __future__ import annotations

import re

import pytest

from previews.cli import DELETE_UNREACHABLE_VAR, main
from tests.previews.conftest import UNREACHABLE, Harness, hours, preview_stack_config
from tests.stacks.doubles import NOW

ELAPSED = re.compile(r"^\[\s*\d+\.\d+s\] ", re.MULTILINE)


# --- create ------------------------------------------------------------------------------------------------


def test_create_sets_exactly_the_preview_config_and_runs_up(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    assert harness.run("create", "feature/Login-Page", "--ttl", "3d") == 0
    stack = harness.workspace.stacks["preview-feature-login-page"]
    assert stack.config == {
        "mlops-platform:clusterMode": "existing",
        "mlops-platform:kubeContext": "kind-mlops",
        "mlops-platform:clusterName": "mlops",
        "mlops-platform:namespace": "mlops-preview-feature-login-page",
        "mlops-platform:preview": "true",
        "mlops-platform:protectVolumes": "false",
        "mlops-platform:exposeOnHost": "false",
        "mlops-platform:servingReplicas": "1",
        "mlops-platform:servingMaxReplicas": "1",
        "mlops-platform:expiresAt": "2030-01-13T12:00:00Z",
    }
    assert harness.workspace.calls == [
        ("discard_stale_stack_file", "preview-feature-login-page"),
        ("select_or_create", "preview-feature-login-page"),
        ("set_config", "preview-feature-login-page"),
        ("up", "preview-feature-login-page"),
    ]
    out = capsys.readouterr().out
    assert ELAPSED.search(out), out
    assert "Updating (fake)" in out  # Pulumi's output is streamed through
    assert "mlops-preview-feature-login-page" in out


def test_create_removes_the_stale_stack_file_of_a_stack_the_backend_lost(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    harness.workspace.stale_files.add("preview-pr-42")
    assert harness.run("create", "42") == 0
    assert "removed Pulumi.preview-pr-42.yaml: the backend has no stack" in capsys.readouterr().out
    assert harness.workspace.stale_files == set()


def test_create_keeps_the_stack_file_of_an_existing_stack(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    harness.workspace.add("preview-pr-42", {})
    harness.workspace.stale_files.add("preview-pr-42")
    assert harness.run("create", "42") == 0
    assert "removed" not in capsys.readouterr().out
    assert harness.workspace.stale_files == {"preview-pr-42"}


def test_create_defaults_to_72h_and_takes_a_context(harness: Harness) -> None:
    assert harness.run("create", "42", "--context", "kind-other", "--cluster-name", "other") == 0
    config = harness.workspace.stacks["preview-pr-42"].config
    assert config["mlops-platform:expiresAt"] == "2030-01-13T12:00:00Z"
    assert config["mlops-platform:kubeContext"] == "kind-other"
    assert config["mlops-platform:clusterName"] == "other"


def test_create_takes_further_config_and_secrets_from_the_environment(harness: Harness) -> None:
    ref = "registry.example.com/mlops/mlops-serving@sha256:" + "a" * 64
    harness.environ["PG"] = "from-the-environment-0123"
    assert harness.run("create", "42", "--set", f"servingImage={ref}", "--secret", "postgresPassword=PG") == 0
    stack = harness.workspace.stacks["preview-pr-42"]
    assert stack.config["mlops-platform:servingImage"] == ref
    assert "mlops-platform:postgresPassword" not in stack.config
    assert stack.secrets == {"mlops-platform:postgresPassword": "from-the-environment-0123"}
    assert ("set_secret_config", "preview-pr-42") in harness.workspace.calls


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--set", "noSuchKey=1"], "noSuchKey: not a config key of Pulumi.yaml"),
        (["--set", "namespace=mine"], "namespace: set by the preview tool itself"),
        (["--set", "servingImage"], "--set 'servingImage': expected KEY=VALUE"),
        (["--secret", "postgresPassword=UNSET_VAR"], "environment variable UNSET_VAR is not set"),
    ],
)
def test_create_refuses_bad_extra_config_before_touching_pulumi(
    harness: Harness, capsys: pytest.CaptureFixture[str], option: list[str], message: str
) -> None:
    assert harness.run("create", "42", *option) == 2
    assert message in capsys.readouterr().err
    assert harness.workspace.calls == []


def test_create_again_updates_the_same_stack_and_extends_the_expiry(harness: Harness) -> None:
    assert harness.run("create", "feature/x", "--ttl", "1h") == 0
    harness.now = NOW + hours(5)
    assert harness.run("create", "refs/heads/feature/x", "--ttl", "1h") == 0
    assert list(harness.workspace.stacks) == ["preview-feature-x"]
    assert harness.workspace.stacks["preview-feature-x"].config["mlops-platform:expiresAt"] == (
        "2030-01-10T18:00:00Z"
    )


@pytest.mark.parametrize(("argv", "message"), [(["create", "///"], "no letters or digits"),
                                                (["create", "feature/x", "--ttl", "forever"], "--ttl")])  # fmt: skip
def test_bad_input_exits_2_without_touching_pulumi(
    harness: Harness, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert harness.run(*argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert harness.opened == 0


def test_unknown_command_exits_2(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    assert harness.run("deploy", "x") == 2
    assert "invalid choice" in capsys.readouterr().err


def test_a_failed_up_exits_1_with_the_error_and_how_to_clean_up(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    harness.workspace.up_error = "error: update failed: Job training-bootstrap failed"
    assert harness.run("create", "feature/x") == 1
    captured = capsys.readouterr()
    assert "Job training-bootstrap failed" in captured.err and "Traceback" not in captured.err
    assert "python -m previews destroy preview-feature-x" in captured.out


@pytest.mark.parametrize("environ", [{}, {"PULUMI_CONFIG_PASSPHRASE": ""}])
def test_a_missing_passphrase_exits_2_naming_the_variable(
    capsys: pytest.CaptureFixture[str], environ: dict[str, str]
) -> None:
    assert main(["list"], environ=environ) == 2
    assert "PULUMI_CONFIG_PASSPHRASE" in capsys.readouterr().err


# --- destroy -----------------------------------------------------------------------------------------------


def _existing(harness: Harness, name: str = "preview-pr-42", expires: str = "2030-01-13T12:00:00Z") -> str:
    namespace = "mlops-" + name
    harness.workspace.add(name, preview_stack_config(namespace, expires), last_update=NOW - hours(3))
    return namespace


def test_destroy_removes_the_stack_and_checks_the_cluster(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    _existing(harness)
    assert harness.run("destroy", "42", "--wait-leftovers", "0") == 0
    assert harness.workspace.calls == [("destroy", "preview-pr-42"), ("remove", "preview-pr-42")]
    assert harness.workspace.destroy_envs == [{}]
    assert harness.contexts == ["kind-mlops"]  # the stack's own kubeContext
    assert "nothing left" in capsys.readouterr().out


@pytest.mark.parametrize("ref", ["preview-pr-42", "42", "#42", "refs/pull/42/merge"])
def test_destroy_accepts_the_stack_name_or_the_pull_request(harness: Harness, ref: str) -> None:
    _existing(harness)
    assert harness.run("destroy", ref, "--wait-leftovers", "0") == 0
    assert "preview-pr-42" not in harness.workspace.stacks


def test_destroy_reports_leftovers_and_exits_1(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    namespace = _existing(harness)
    harness.kube.add_namespace(namespace, stack="preview-pr-42", phase="Terminating")
    harness.kube.add_claim(namespace, "data-mlflow-postgres-0")
    harness.kube.add_volume("pvc-1234", namespace, "data-mlflow-postgres-0")
    harness.kube.add_volume("pvc-other", "mlops", "artifacts")  # the dev stack's: not a leftover
    assert harness.run("destroy", "42", "--wait-leftovers", "0") == 1
    err = capsys.readouterr().err
    assert "3 object(s) are still in the cluster" in err
    assert f"Namespace {namespace} (Terminating)" in err
    assert f"PersistentVolumeClaim {namespace}/data-mlflow-postgres-0" in err
    assert f"PersistentVolume pvc-1234 (claim {namespace}/data-mlflow-postgres-0, Released)" in err
    assert "pvc-other" not in err
    assert f"kubectl --context kind-mlops delete namespace {namespace}" in err
    assert "Traceback" not in err


def test_destroy_waits_for_asynchronous_deletion_to_finish(harness: Harness) -> None:
    namespace = _existing(harness)
    harness.kube.add_namespace(namespace, stack="preview-pr-42", phase="Terminating")
    harness.kube.vanish_after = 2
    assert harness.run("destroy", "42", "--wait-leftovers", "60") == 0
    assert harness.kube.checks == 3
    assert harness.clock.sleeps == [5.0, 5.0]


def test_destroy_on_an_unreachable_cluster_retries_with_delete_unreachable(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    _existing(harness)
    harness.workspace.destroy_errors = [UNREACHABLE]
    harness.kube.error = ConnectionRefusedError("connection refused")
    assert harness.run("destroy", "42", "--wait-leftovers", "0") == 0
    assert harness.workspace.destroy_envs == [{}, {DELETE_UNREACHABLE_VAR: "true"}]
    assert harness.workspace.calls[-1] == ("remove", "preview-pr-42")
    out = capsys.readouterr().out
    assert f"retrying with {DELETE_UNREACHABLE_VAR}=true" in out
    assert "cannot check the cluster" in out


def test_destroy_after_unreachable_still_reports_leftovers_if_the_cluster_answers(harness: Harness) -> None:
    namespace = _existing(harness)
    harness.workspace.destroy_errors = [UNREACHABLE]
    harness.kube.add_namespace(namespace, stack="preview-pr-42")
    assert harness.run("destroy", "42", "--wait-leftovers", "0") == 1


def test_a_destroy_failure_that_is_not_unreachable_is_not_retried(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    _existing(harness)
    harness.workspace.destroy_errors = ["error: the stack is currently locked by 1 lock(s)"]
    assert harness.run("destroy", "42") == 1
    assert harness.workspace.destroy_envs == [{}]
    assert "preview-pr-42" in harness.workspace.stacks  # kept, so destroy can be run again
    err = capsys.readouterr().err
    assert "destroying preview-pr-42 failed" in err and "Traceback" not in err


def test_destroy_of_a_missing_stack_only_checks_for_leftovers(harness: Harness) -> None:
    assert harness.run("destroy", "feature/gone", "--wait-leftovers", "0") == 0
    assert harness.workspace.calls == []
    harness.kube.add_namespace("mlops-preview-feature-gone", stack="preview-feature-gone")
    assert harness.run("destroy", "feature/gone", "--wait-leftovers", "0") == 1


def test_destroy_fails_when_the_cluster_cannot_be_checked(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    _existing(harness)
    harness.kube.error = ConnectionRefusedError("connection refused")
    assert harness.run("destroy", "42", "--wait-leftovers", "0") == 1
    assert "could not verify that nothing is left behind" in capsys.readouterr().err


# --- list --------------------------------------------------------------------------------------------------


def test_list_shows_age_and_expiry(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    _existing(harness, "preview-pr-42", expires="2030-01-12T12:00:00Z")
    _existing(harness, "preview-feature-x", expires="2030-01-10T10:00:00Z")
    harness.workspace.add("preview-manual", {}, last_update=None)
    assert harness.run("list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["STACK", "NAMESPACE", "AGE", "EXPIRES"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert rows["preview-pr-42"].split()[1:4] == ["mlops-preview-pr-42", "3h", "in"]
    assert "in 2d (2030-01-12T12:00:00Z)" in rows["preview-pr-42"]
    assert "expired 2h ago" in rows["preview-feature-x"]
    assert rows["preview-manual"].split()[1:] == ["-", "-", "-"]
    assert harness.workspace.calls == []  # read-only


def test_list_with_no_previews(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    assert harness.run("list") == 0
    assert "no preview stacks" in capsys.readouterr().out


# --- gc ----------------------------------------------------------------------------------------------------


def _fleet(harness: Harness) -> None:
    _existing(harness, "preview-expired-a", expires="2030-01-10T11:00:00Z")
    _existing(harness, "preview-expired-b", expires="2030-01-01T00:00:00Z")
    _existing(harness, "preview-alive", expires="2030-01-11T00:00:00Z")
    _existing(harness, "preview-no-expiry", expires="")
    # A preview-named stack this tool did not mark as a preview: never collected.
    harness.workspace.add(
        "preview-handmade", {"mlops-platform:expiresAt": "2020-01-01T00:00:00Z"}, last_update=NOW
    )


def test_gc_destroys_only_expired_previews(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    _fleet(harness)
    assert harness.run("gc", "--wait-leftovers", "0") == 0
    destroyed = [stack for call, stack in harness.workspace.calls if call == "destroy"]
    assert destroyed == ["preview-expired-a", "preview-expired-b"]
    assert set(harness.workspace.stacks) == {"preview-alive", "preview-no-expiry", "preview-handmade"}
    out = capsys.readouterr().out
    assert "2 expired, 1 alive, 2 without a valid expiresAt" in out
    assert "skipping preview-no-expiry" in out and "skipping preview-handmade" in out


def test_gc_dry_run_destroys_nothing(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    _fleet(harness)
    assert harness.run("gc", "--dry-run") == 0
    assert harness.workspace.calls == []
    assert "would destroy preview-expired-a" in capsys.readouterr().out


def test_gc_goes_on_after_a_failure_and_exits_1(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    _fleet(harness)
    harness.workspace.destroy_errors = ["error: the stack is currently locked"]
    assert harness.run("gc", "--wait-leftovers", "0") == 1
    assert "preview-expired-b" not in harness.workspace.stacks
    assert "not cleanly destroyed: preview-expired-a" in capsys.readouterr().err


def _orphans(harness: Harness) -> None:
    """Preview namespaces as the program labels them; only preview-alive still has a stack."""
    _existing(harness, "preview-alive", expires="2030-01-11T00:00:00Z")
    kube = harness.kube
    kube.add_namespace(
        "mlops-preview-alive", "preview-alive", preview=True, expires_at="2030-01-11T00:00:00Z"
    )
    kube.add_namespace("mlops-preview-lost", "preview-lost", preview=True, expires_at="2030-01-10T11:00:00Z")
    kube.add_claim("mlops-preview-lost", "data-mlflow-postgres-0")
    kube.add_namespace(
        "mlops-preview-young", "preview-young", preview=True, expires_at="2030-01-12T00:00:00Z"
    )
    kube.add_namespace("mlops-preview-nostamp", "preview-nostamp", preview=True)
    # Expired-looking but not a preview namespace by name, or not labelled a preview: never touched.
    kube.add_namespace("team-x", "preview-team", preview=True, expires_at="2020-01-01T00:00:00Z")
    kube.add_namespace("mlops-preview-unlabelled", "preview-unlabelled", expires_at="2020-01-01T00:00:00Z")


def test_gc_deletes_expired_preview_namespaces_whose_stack_is_gone(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    _orphans(harness)
    assert harness.run("gc", "--wait-leftovers", "0") == 0
    assert harness.kube.deleted == ["mlops-preview-lost"]
    assert harness.kube.claims == []
    assert {n.metadata.name for n in harness.kube.namespaces if n.metadata} == {
        "mlops-preview-alive", "mlops-preview-young", "mlops-preview-nostamp", "team-x", "mlops-preview-unlabelled"
    }  # fmt: skip
    assert harness.contexts[-1] == "kind-mlops"
    out = capsys.readouterr().out
    assert "orphaned preview namespaces: 1 expired, 1 not yet expired, 1 without a valid expiry" in out
    assert "deleting orphaned namespace mlops-preview-lost (stack preview-lost is gone, expired)" in out
    assert "deleted orphaned namespace mlops-preview-lost: nothing left in the cluster" in out
    assert "keeping orphaned namespace mlops-preview-nostamp" in out


def test_gc_dry_run_only_names_orphaned_namespaces(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    _orphans(harness)
    assert harness.run("gc", "--dry-run", "--context", "kind-other") == 0
    assert harness.kube.deleted == []
    assert harness.contexts == ["kind-other"]
    assert "would delete orphaned namespace mlops-preview-lost" in capsys.readouterr().out


def test_gc_reports_what_an_orphaned_namespace_left_behind(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    _orphans(harness)
    harness.kube.add_volume("pvc-kept", "mlops-preview-lost", "data-mlflow-postgres-0", phase="Released")
    assert harness.run("gc", "--wait-leftovers", "0") == 1
    err = capsys.readouterr().err
    assert "PersistentVolume pvc-kept" in err
    assert "not cleanly destroyed: mlops-preview-lost" in err


def test_gc_fails_when_it_cannot_look_for_orphans(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    harness.kube.error = RuntimeError("connection refused")
    assert harness.run("gc", "--wait-leftovers", "0") == 1
    assert "could not look for orphaned preview namespaces" in capsys.readouterr().err
