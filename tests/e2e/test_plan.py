"""The whole e2e run composed from its steps: Pulumi lifecycle, smoke checks, teardown and leftovers.

Unit tests only: the Pulumi CLI, kind, kubectl and docker cannot run here, so a small simulated machine stands
in: the stack's workspace is the shared Workspace double (tests/stacks/doubles.py) and kind, kubectl and docker
a scripted test double of the command Runner (the cluster exists between `up` and its deletion). The
platform's HTTP endpoints are an httpx.MockTransport.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx
import pytest

from e2e.config import E2eConfig
from e2e.plan import E2eRun
from e2e.runner import Completed
from e2e.smoke import Retry
from e2e.steps import RunReport, Status, run_steps
from stacks.backend import Backend
from stacks.workspace import OutputSink, Workspace, WorkspaceError
from tests.e2e.doubles import FakeClock, healthy_machine, ports, proc_files, reader
from tests.stacks.doubles import FakeWorkspace

MODEL = "mlops-classifier"
MLFLOW_PASSWORD = "mlflow-pw"
GRAFANA_PASSWORD = "grafana-pw"
KUBECONFIG = "apiVersion: v1\nusers: [{user: {token: kubeconfig-token}}]"
OUTPUTS: dict[str, object] = {
    "namespace": "mlops",
    "clusterMode": "kind",
    "mlflowUrl": "http://localhost:5000",
    "servingUrl": "http://localhost:8000/",
    "prometheusUrl": "http://localhost:9090",
    "grafanaUrl": "http://localhost:3000",
    "mlflowCredentialsSecret": "mlflow-credentials",
    # A secret output arrives decrypted from the workspace: it must never reach the console or a log.
    "kubeconfig": KUBECONFIG,
    "images": {"mlops-serving": "mlops-serving:abc"},
}


def secret_json(data: dict[str, str]) -> str:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return json.dumps({"apiVersion": "v1", "kind": "Secret", "data": encoded})


class MachineWorkspace(FakeWorkspace):
    """The workspace double, with the effects the stack has on the machine (the kind cluster, the stack file)."""

    def __init__(self, machine: Machine) -> None:
        super().__init__()
        self.machine = machine
        self.up_outputs = dict(OUTPUTS)
        self.destroy_keeps_cluster = False

    def select_or_create(self, stack: str) -> None:
        super().select_or_create(stack)
        self.machine.stack_file = True

    def set_config(self, stack: str, config: Mapping[str, str]) -> None:
        super().set_config(stack, config)
        self.machine.config.update(config)

    def up(self, stack: str, on_output: OutputSink) -> dict[str, int]:
        # The cluster is the first resource: a failing `up` has usually created it already.
        self.machine.cluster = True
        return super().up(stack, on_output)

    def destroy(self, stack: str, on_output: OutputSink, env: Mapping[str, str]) -> None:
        self.machine.events.append("destroy")
        super().destroy(stack, on_output, env)
        if not self.destroy_keeps_cluster:
            self.machine.cluster = False

    def remove(self, stack: str, force: bool = False) -> None:
        super().remove(stack, force)
        self.machine.stack_file = False


class Machine:
    """A simulated host: what the workspace and the commands of the run create and delete."""

    def __init__(self, cfg: E2eConfig) -> None:
        self.cfg = cfg
        self.cluster = False
        self.stack_file = False
        self.events: list[str] = []
        self.config: dict[str, str] = {}
        self.opened = 0
        self.workspace = MachineWorkspace(self)
        self.runner = healthy_machine()
        r = self.runner
        r.on_call("kind", "get", "clusters", reply=self._clusters)
        r.on_call("kubectl", "config", "get-contexts", reply=self._contexts)
        r.on_call("kind", "delete", "cluster", reply=self._kind_delete)
        context = ("kubectl", "--context", "kind-mlops-e2e", "--namespace", "mlops", "get", "secret")
        r.on(
            *context,
            "mlflow-credentials",
            stdout=secret_json({"admin-username": "admin", "admin-password": MLFLOW_PASSWORD}),
        )
        r.on(
            *context,
            "grafana-admin",
            stdout=secret_json({"admin-user": "admin", "admin-password": GRAFANA_PASSWORD}),
        )

    def fail(self, operation: str) -> None:
        """Make a workspace operation fail like the CLI does."""
        if operation == "up":
            self.workspace.up_error = "error: update failed"
        elif operation == "destroy":
            self.workspace.destroy_errors.append("error: deleting cluster-kind failed")
        else:
            self.workspace.fail.add(operation)

    def open_workspace(self) -> Workspace:
        self.opened += 1
        return self.workspace

    def _clusters(self, argv: tuple[str, ...]) -> Completed:
        return Completed(
            argv, 0, "mlops-e2e\n" if self.cluster else "", "" if self.cluster else "No kind clusters"
        )

    def _contexts(self, argv: tuple[str, ...]) -> Completed:
        return Completed(argv, 0, "kind-mlops-e2e\n" if self.cluster else "")

    def _kind_delete(self, argv: tuple[str, ...]) -> Completed:
        self.events.append("kind-delete")
        self.cluster = False
        return Completed(argv, 0, "Deleting cluster\n")


def healthy_platform(request: httpx.Request) -> httpx.Response:
    """The platform's HTTP endpoints as they answer after a good `pulumi up`."""
    port, path = request.url.port, request.url.path
    if (port, path) == (5000, "/health"):
        return httpx.Response(200, text="OK")
    if (port, path) == (5000, "/api/2.0/mlflow/registered-models/alias"):
        expected = "Basic " + base64.b64encode(f"admin:{MLFLOW_PASSWORD}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return httpx.Response(401, text="unauthorized")
        assert request.url.params["name"] == MODEL
        assert request.url.params["alias"] == "champion"
        return httpx.Response(200, json={"model_version": {"name": MODEL, "version": "1"}})
    if (port, path) == (8000, "/readyz"):
        return httpx.Response(200, json={"status": "ready"})
    if (port, path) == (8000, "/v1/predict"):
        rows = json.loads(request.content)["rows"]
        assert len(rows) == 1
        assert len(rows[0]) == 30
        return httpx.Response(
            200,
            json={
                "predictions": [0],
                "probabilities": [[0.9, 0.1]],
                "classes": [0, 1],
                "model_name": MODEL,
                "model_version": "1",
            },
        )
    if (port, path) == (9090, "/api/v1/targets"):
        targets = [{"labels": {"job": "serving"}, "health": "up", "lastError": ""}]
        return httpx.Response(200, json={"status": "success", "data": {"activeTargets": targets}})
    if (port, path) == (9090, "/api/v1/rules"):
        return httpx.Response(200, json={"status": "success", "data": {"groups": [{"name": "serving"}]}})
    if (port, path) == (3000, "/api/health"):
        return httpx.Response(200, json={"database": "ok", "version": "12.0.0"})
    if (port, path) == (3000, "/api/search"):
        expected = "Basic " + base64.b64encode(f"admin:{GRAFANA_PASSWORD}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return httpx.Response(401, json={"message": "Unauthorized"})
        return httpx.Response(200, json=[{"title": "Serving"}, {"title": "Model"}])
    return httpx.Response(404, text=f"no route {path}")


@pytest.fixture
def cfg(tmp_path: Path) -> E2eConfig:
    return E2eConfig(
        stack="e2e-20250131-184501",
        repo_root=tmp_path,
        run_dir=tmp_path / ".state" / "e2e" / "e2e-20250131-184501",
        backend=Backend(url="file:///tmp/mlops-e2e-pulumi-x", passphrase="test-passphrase"),
        model_name=MODEL,
        host_ports=(5000, 8000, 3000, 9090),
        smoke_timeout=30.0,
        poll_interval=5.0,
    )


def execute(
    cfg: E2eConfig,
    machine: Machine,
    platform: Callable[[httpx.Request], httpx.Response] = healthy_platform,
    busy: set[int] | None = None,
) -> tuple[RunReport, list[str]]:
    lines: list[str] = []
    clock = FakeClock()
    with httpx.Client(transport=httpx.MockTransport(platform)) as http:
        run = E2eRun(
            cfg=cfg,
            open_workspace=machine.open_workspace,
            runner=machine.runner,
            http=http,
            echo=lines.append,
            read=reader(proc_files()),
            is_free=ports(busy),
            retry=Retry(
                timeout=cfg.smoke_timeout, interval=cfg.poll_interval, sleep=clock.sleep, clock=clock
            ),
            exists=lambda _path: machine.stack_file,
        )
        report = run_steps(run.steps(), run.teardown(), lines.append, clock=clock)
    return report, lines


def statuses(report: RunReport) -> dict[str, Status]:
    return {r.name: r.status for r in report.results}


def test_a_good_run_goes_up_passes_every_smoke_check_and_leaves_nothing(cfg):
    machine = Machine(cfg)
    report, _ = execute(cfg, machine)
    assert report.exit_code == 0, report.summary()
    assert statuses(report) == {
        "preflight": Status.OK,
        "stack-init": Status.OK,
        "stack-config": Status.OK,
        "pulumi-up": Status.OK,
        "stack-outputs": Status.OK,
        "mlflow-health": Status.OK,
        "champion-registered": Status.OK,
        "serving-ready": Status.OK,
        "serving-predict": Status.OK,
        "prometheus-targets": Status.OK,
        "prometheus-rules": Status.OK,
        "grafana-health": Status.OK,
        "grafana-dashboards": Status.OK,
        "pulumi-destroy": Status.OK,
        "stack-rm": Status.OK,
        "kind-delete (last resort)": Status.SKIPPED,
        "leftovers": Status.OK,
    }
    assert not machine.cluster
    assert not machine.stack_file


def test_the_stack_lifecycle_goes_through_the_workspace_in_order(cfg):
    machine = Machine(cfg)
    execute(cfg, machine)
    stack = cfg.stack
    assert machine.opened == 1
    assert machine.workspace.calls == [
        ("select_or_create", stack),
        ("set_config", stack),
        ("up", stack),
        ("outputs", stack),
        ("destroy", stack),
        ("remove", stack),
    ]
    assert machine.workspace.destroy_envs == [{}]
    assert machine.workspace.forced_removes == []


def test_the_stack_gets_the_e2e_settings_as_fully_qualified_config(cfg):
    machine = Machine(cfg)
    execute(cfg, machine)
    assert machine.config == {
        "mlops-platform:clusterMode": "kind",
        "mlops-platform:clusterName": "mlops-e2e",
        "mlops-platform:protectVolumes": "false",
    }
    assert ("set_secret_config", cfg.stack) not in machine.workspace.calls


def test_up_and_destroy_stream_the_engine_output_to_the_console_and_their_logs(cfg):
    machine = Machine(cfg)
    _, lines = execute(cfg, machine)
    assert "    Updating (fake)" in lines
    assert "    changes: create=1" in lines
    assert "    Destroying (fake)" in lines
    assert (cfg.run_dir / "pulumi-up.log").read_text() == "Updating (fake)\n"
    assert (cfg.run_dir / "pulumi-destroy.log").read_text() == "Destroying (fake)\n"


def test_outputs_are_parsed_and_secret_values_are_never_printed(cfg):
    machine = Machine(cfg)
    report, lines = execute(cfg, machine)
    assert report.exit_code == 0
    assert "    serving: http://localhost:8000" in lines  # trailing slash trimmed
    assert "    mlflow: http://localhost:5000" in lines
    logs = "".join(p.read_text() for p in cfg.run_dir.glob("*.log"))
    for secret in ("kubeconfig-token", MLFLOW_PASSWORD, GRAFANA_PASSWORD, "test-passphrase"):
        assert all(secret not in line for line in lines), secret
        assert secret not in logs
        assert secret not in "\n".join(report.summary())


def test_outputs_missing_a_key_fail_the_run_naming_it_and_still_tear_down(cfg):
    machine = Machine(cfg)
    del machine.workspace.up_outputs["grafanaUrl"]
    report, _ = execute(cfg, machine)
    assert report.failed_step is not None
    assert report.failed_step.name == "stack-outputs"
    assert "grafanaUrl" in report.failed_step.error
    assert KUBECONFIG not in report.failed_step.error
    assert statuses(report)["pulumi-destroy"] is Status.OK
    assert not machine.cluster


def test_a_workspace_that_cannot_open_fails_stack_init_and_tears_nothing_down(cfg):
    machine = Machine(cfg)

    def no_cli() -> Workspace:
        raise WorkspaceError("the pulumi CLI is not on PATH (https://www.pulumi.com/docs/install/)")

    machine.open_workspace = no_cli  # type: ignore[method-assign]
    report, _ = execute(cfg, machine)
    assert report.failed_step is not None
    assert report.failed_step.name == "stack-init"
    assert "pulumi CLI is not on PATH" in report.failed_step.error
    teardown = {r.name: r.status for r in report.results if r.phase.value == "teardown"}
    assert teardown["pulumi-destroy"] is Status.SKIPPED
    assert teardown["stack-rm"] is Status.SKIPPED
    assert machine.workspace.calls == []


def test_secrets_are_read_from_the_kind_context_without_logging(cfg):
    machine = Machine(cfg)
    execute(cfg, machine)
    reads = [c for c in machine.runner.calls if c.argv[:1] == ("kubectl",) and "secret" in c.argv]
    assert [c.argv[-3] for c in reads] == ["mlflow-credentials", "grafana-admin"]
    assert all(c.sensitive for c in reads)
    assert all(c.argv[1:3] == ("--context", "kind-mlops-e2e") for c in reads)


def test_a_failing_up_still_tears_down_in_order_and_names_the_step(cfg):
    machine = Machine(cfg)
    machine.fail("up")
    report, lines = execute(cfg, machine)
    assert report.exit_code == 1
    assert report.failed_step is not None
    assert report.failed_step.name == "pulumi-up"
    assert "==> [teardown 2/5] pulumi-destroy: pulumi destroy" in "\n".join(lines)
    teardown = [r.name for r in report.results if r.phase.value == "teardown"]
    assert teardown == ["diagnostics", "pulumi-destroy", "stack-rm", "kind-delete (last resort)", "leftovers"]
    assert machine.runner.ran("kind", "export", "logs")
    assert not machine.cluster
    assert any(line.startswith("e2e FAILED at step 'pulumi-up'") for line in report.summary())


def test_a_failing_destroy_forces_stack_rm_and_deletes_the_cluster_directly(cfg):
    machine = Machine(cfg)
    machine.fail("destroy")
    report, _ = execute(cfg, machine)
    assert statuses(report)["pulumi-destroy"] is Status.FAILED
    assert "update failed" in next(r.error for r in report.results if r.name == "pulumi-destroy")
    assert statuses(report)["stack-rm"] is Status.OK
    assert statuses(report)["kind-delete (last resort)"] is Status.OK
    assert statuses(report)["leftovers"] is Status.OK
    assert machine.workspace.forced_removes == [cfg.stack]
    assert machine.events == ["destroy", "kind-delete"]
    assert not machine.stack_file
    assert report.exit_code == 1
    assert [r.name for r in report.failed_teardown] == ["pulumi-destroy"]


def test_a_failed_preflight_creates_nothing_and_touches_no_existing_cluster(cfg):
    machine = Machine(cfg)
    machine.cluster = True  # someone's cluster of the same name: not ours to delete
    report, _ = execute(cfg, machine, busy={9090})
    assert report.failed_step is not None
    assert report.failed_step.name == "preflight"
    assert "kind delete cluster --name mlops-e2e" in report.failed_step.error
    assert "127.0.0.1:9090" in report.failed_step.error
    assert machine.opened == 0
    assert machine.workspace.calls == []
    assert not machine.runner.ran("kind", "delete")
    assert machine.cluster
    assert {r.status for r in report.results if r.phase.value == "teardown"} == {Status.SKIPPED}


def test_a_smoke_check_that_never_passes_fails_within_its_bound_and_tears_down(cfg):
    def no_model(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/readyz":
            return httpx.Response(503, json={"status": "not ready", "detail": "no model loaded"})
        return healthy_platform(request)

    machine = Machine(cfg)
    report, _ = execute(cfg, machine, platform=no_model)
    assert report.failed_step is not None
    assert report.failed_step.name == "serving-ready"
    assert "gave up after" in report.failed_step.error
    assert "503" in report.failed_step.error
    assert statuses(report)["pulumi-destroy"] is Status.OK
    assert not machine.cluster


def test_leftovers_after_teardown_fail_the_run(cfg):
    machine = Machine(cfg)
    # destroy "succeeds" but leaves the cluster running (e.g. the delete command was lost).
    machine.workspace.destroy_keeps_cluster = True
    machine.runner.on("kind", "delete", "cluster", returncode=1, stderr="permission denied")
    report, _ = execute(cfg, machine)
    assert statuses(report)["kind-delete (last resort)"] is Status.FAILED
    assert statuses(report)["leftovers"] is Status.FAILED
    leftovers = next(r for r in report.results if r.name == "leftovers")
    assert "kind delete cluster --name mlops-e2e" in leftovers.error
    assert "kubectl config delete-context kind-mlops-e2e" in leftovers.error
    assert report.exit_code == 1
