"""The whole e2e run composed from its steps: Pulumi lifecycle, smoke checks, teardown and leftovers.

Unit tests only: the Pulumi CLI, kind, kubectl and docker cannot run here, so a scripted test double of the
command Runner plays a small simulated machine (the cluster exists between `pulumi up` and its deletion), and
the platform's HTTP endpoints are an httpx.MockTransport.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from e2e.config import E2eConfig
from e2e.plan import E2eRun
from e2e.runner import Completed
from e2e.smoke import Retry
from e2e.steps import RunReport, Status, run_steps
from tests.e2e.doubles import FakeClock, healthy_machine, ports, proc_files, reader

MODEL = "mlops-classifier"
MLFLOW_PASSWORD = "mlflow-pw"
GRAFANA_PASSWORD = "grafana-pw"
OUTPUTS = {
    "namespace": "mlops",
    "clusterMode": "kind",
    "mlflowUrl": "http://localhost:5000",
    "servingUrl": "http://localhost:8000/",
    "prometheusUrl": "http://localhost:9090",
    "grafanaUrl": "http://localhost:3000",
    "mlflowCredentialsSecret": "mlflow-credentials",
}


def secret_json(data: dict[str, str]) -> str:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return json.dumps({"apiVersion": "v1", "kind": "Secret", "data": encoded})


class Machine:
    """A simulated host: what the commands of the run create and delete."""

    def __init__(self, cfg: E2eConfig) -> None:
        self.cfg = cfg
        self.cluster = False
        self.stack_file = False
        self.fail: set[str] = set()
        self.runner = healthy_machine()
        r = self.runner
        r.on_call("kind", "get", "clusters", reply=self._clusters)
        r.on_call("kubectl", "config", "get-contexts", reply=self._contexts)
        r.on_call("pulumi", "stack", "init", reply=self._stack_init)
        r.on_call("pulumi", "up", reply=self._up)
        r.on("pulumi", "stack", "output", stdout=json.dumps(OUTPUTS))
        r.on_call("pulumi", "destroy", reply=self._destroy)
        r.on_call("pulumi", "stack", "rm", reply=self._stack_rm)
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

    def _result(self, argv: tuple[str, ...], name: str, effect: Callable[[], None]) -> Completed:
        if name in self.fail:
            return Completed(argv, 255, f"error: {name} failed\n")
        effect()
        return Completed(argv, 0, f"{name} done\n")

    def _clusters(self, argv: tuple[str, ...]) -> Completed:
        return Completed(
            argv, 0, "mlops-e2e\n" if self.cluster else "", "" if self.cluster else "No kind clusters"
        )

    def _contexts(self, argv: tuple[str, ...]) -> Completed:
        return Completed(argv, 0, "kind-mlops-e2e\n" if self.cluster else "")

    def _stack_init(self, argv: tuple[str, ...]) -> Completed:
        return self._result(argv, "stack-init", lambda: setattr(self, "stack_file", True))

    def _up(self, argv: tuple[str, ...]) -> Completed:
        # The cluster is the first resource: a failing `up` has usually created it already.
        self.cluster = True
        return self._result(argv, "up", lambda: None)

    def _destroy(self, argv: tuple[str, ...]) -> Completed:
        return self._result(argv, "destroy", lambda: setattr(self, "cluster", False))

    def _stack_rm(self, argv: tuple[str, ...]) -> Completed:
        if "destroy" in self.fail and "--force" not in argv:
            return Completed(argv, 255, "error: stack still has resources; use --force")
        return self._result(argv, "stack-rm", lambda: setattr(self, "stack_file", False))

    def _kind_delete(self, argv: tuple[str, ...]) -> Completed:
        return self._result(argv, "kind-delete", lambda: setattr(self, "cluster", False))


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
        backend_url="file:///tmp/mlops-e2e-pulumi-x",
        passphrase="test-passphrase",
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


def test_pulumi_runs_the_lifecycle_in_order_on_a_private_backend(cfg):
    machine = Machine(cfg)
    execute(cfg, machine)
    pulumi = [c for c in machine.runner.calls if c.argv[0] == "pulumi" and c.argv[1] != "version"]
    stack = cfg.stack
    assert [c.argv for c in pulumi] == [
        ("pulumi", "stack", "init", stack, "--secrets-provider", "passphrase"),
        ("pulumi", "config", "set", "--stack", stack, "clusterMode", "kind"),
        ("pulumi", "config", "set", "--stack", stack, "clusterName", "mlops-e2e"),
        ("pulumi", "config", "set", "--stack", stack, "protectVolumes", "false"),
        ("pulumi", "up", "--stack", stack, "--yes", "--skip-preview", "--non-interactive"),
        ("pulumi", "stack", "output", "--stack", stack, "--json", "--show-secrets"),
        ("pulumi", "destroy", "--stack", stack, "--yes", "--skip-preview", "--non-interactive"),
        ("pulumi", "stack", "rm", stack, "--yes"),
    ]
    for call in pulumi:
        assert call.env["PULUMI_BACKEND_URL"] == "file:///tmp/mlops-e2e-pulumi-x"
        assert call.env["PULUMI_CONFIG_PASSPHRASE"] == "test-passphrase"
    up = next(c for c in pulumi if c.argv[1] == "up")
    assert up.stream
    assert up.timeout == cfg.up_timeout


def test_secrets_are_read_from_the_kind_context_without_logging(cfg):
    machine = Machine(cfg)
    execute(cfg, machine)
    reads = [c for c in machine.runner.calls if c.argv[:1] == ("kubectl",) and "secret" in c.argv]
    assert [c.argv[-3] for c in reads] == ["mlflow-credentials", "grafana-admin"]
    assert all(c.sensitive for c in reads)
    assert all(c.argv[1:3] == ("--context", "kind-mlops-e2e") for c in reads)


def test_a_failing_up_still_tears_down_in_order_and_names_the_step(cfg):
    machine = Machine(cfg)
    machine.fail.add("up")
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
    machine.fail.add("destroy")
    report, _ = execute(cfg, machine)
    assert statuses(report)["pulumi-destroy"] is Status.FAILED
    assert statuses(report)["stack-rm"] is Status.OK
    assert statuses(report)["kind-delete (last resort)"] is Status.OK
    assert statuses(report)["leftovers"] is Status.OK
    assert machine.runner.ran("pulumi", "stack", "rm", cfg.stack, "--yes", "--force")
    order = [c.argv[:3] for c in machine.runner.calls]
    assert order.index(("pulumi", "destroy", "--stack")) < order.index(("kind", "delete", "cluster"))
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
    assert not machine.runner.ran("pulumi", "stack")
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
    machine.runner.on("pulumi", "destroy", stdout="done\n")
    machine.runner.on("kind", "delete", "cluster", returncode=1, stderr="permission denied")
    report, _ = execute(cfg, machine)
    assert statuses(report)["kind-delete (last resort)"] is Status.FAILED
    assert statuses(report)["leftovers"] is Status.FAILED
    leftovers = next(r for r in report.results if r.name == "leftovers")
    assert "kind delete cluster --name mlops-e2e" in leftovers.error
    assert "kubectl config delete-context kind-mlops-e2e" in leftovers.error
    assert report.exit_code == 1
