"""The run as steps: preflight, stack up, smoke checks; then teardown and the leftover check.

The stack is driven through stacks.workspace (the Automation API), like every tool's stacks; kind, kubectl and
docker through the command Runner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from e2e import smoke
from e2e.config import E2eConfig
from e2e.kube import read_secret, secret_value
from e2e.leftovers import LeftoversFound, find_leftovers
from e2e.outputs import StackOutputs
from e2e.preflight import PortFree, ReadText, Requirements, preflight
from e2e.runner import Runner, run_checked
from e2e.smoke import Retry
from e2e.steps import Echo, Step, StepSkipped
from infra.components.mlflow_server import SECRET_ADMIN_PASSWORD, SECRET_ADMIN_USER
from infra.components.monitoring import GRAFANA_ADMIN_PASSWORD_KEY, GRAFANA_ADMIN_USER_KEY, GRAFANA_SECRET
from mlops_contract.names import CHAMPION_ALIAS
from monitoring.sources import Job
from stacks.workspace import OutputSink, Workspace


@dataclass
class RunState:
    """What the run has created so far: teardown undoes only that."""

    workspace: Workspace | None = None
    """The stack's workspace, once opened (after the preflight found the Pulumi CLI)."""
    stack_created: bool = False
    """`pulumi stack init` succeeded."""
    up_started: bool = False
    """`pulumi up` started (the kind cluster may exist and is ours)."""
    destroy_failed: bool = False
    """`pulumi destroy` did not finish (state still lists resources)."""
    outputs: StackOutputs | None = None
    """Stack outputs, once read."""


@dataclass
class E2eRun:
    """Builds the steps of one run over its collaborators."""

    cfg: E2eConfig
    """The run's settings."""
    open_workspace: Callable[[], Workspace]
    """Opens the Pulumi workspace of the stack (stacks.workspace.AutomationWorkspace)."""
    runner: Runner
    """Runs kind, kubectl and docker (and the preflight's version probes)."""
    http: httpx.Client
    """Talks to the platform's services on the host ports."""
    echo: Echo
    """Prints a progress line."""
    read: ReadText
    """Reads /proc files for the preflight."""
    is_free: PortFree
    """Tells whether a host port is free."""
    retry: Retry
    """Bound and pace of every smoke check."""
    exists: Callable[[Path], bool] = Path.exists
    """Tells whether a file exists (the stack config file, for the leftover check)."""
    state: RunState = field(default_factory=RunState)
    """What the run has created so far."""

    # -- helpers -------------------------------------------------------------------------------------------

    def _workspace(self) -> Workspace:
        if self.state.workspace is None:
            self.state.workspace = self.open_workspace()
        return self.state.workspace

    @contextmanager
    def _streamed(self, operation: str) -> Iterator[OutputSink]:
        """Echo the engine's output lines as they come, and keep them in <run_dir>/pulumi-<operation>.log."""
        self.cfg.run_dir.mkdir(parents=True, exist_ok=True)
        with (self.cfg.run_dir / f"pulumi-{operation}.log").open("w", encoding="utf-8") as log:

            def sink(line: str) -> None:
                log.write(line + "\n")
                log.flush()
                self.echo(f"    {line}")

            yield sink

    def _outputs(self) -> StackOutputs:
        if self.state.outputs is None:
            raise RuntimeError("stack outputs were not read")
        return self.state.outputs

    def _poll(self, check: Callable[[], object], note: str) -> None:
        result = smoke.poll(check, self.retry)
        if result is not None:
            self.echo(f"    {note}: {result}")

    # -- run steps -----------------------------------------------------------------------------------------

    def _preflight(self) -> None:
        req = Requirements(host_ports=self.cfg.host_ports, cluster_name=self.cfg.cluster_name)
        preflight(self.runner, self.read, self.is_free, req, self.echo)

    def _stack_init(self) -> None:
        self._workspace().select_or_create(self.cfg.stack)
        self.state.stack_created = True

    def _stack_config(self) -> None:
        self._workspace().set_config(self.cfg.stack, self.cfg.stack_config())

    def _up(self) -> None:
        self.state.up_started = True
        with self._streamed("up") as sink:
            changes = self._workspace().up(self.cfg.stack, sink)
        self.echo(f"    changes: {_counts(changes)}")

    def _read_outputs(self) -> None:
        # Secret outputs arrive decrypted: only the parsed URLs are echoed, never the mapping.
        self.state.outputs = StackOutputs.from_outputs(self._workspace().outputs(self.cfg.stack))
        for name, url in self.state.outputs.urls().items():
            self.echo(f"    {name}: {url}")

    def _mlflow_health(self) -> None:
        self._poll(lambda: smoke.mlflow_health(self.http, self._outputs().mlflow_url), "mlflow")

    def _champion(self) -> None:
        out = self._outputs()
        where = f"{out.namespace}/{out.mlflow_credentials_secret}"
        data = read_secret(self.runner, self.cfg.kube_context, out.namespace, out.mlflow_credentials_secret)
        auth = (
            secret_value(data, SECRET_ADMIN_USER, where),
            secret_value(data, SECRET_ADMIN_PASSWORD, where),
        )
        self._poll(
            lambda: smoke.champion_version(self.http, out.mlflow_url, self.cfg.model_name, auth),
            "champion version",
        )

    def _serving_ready(self) -> None:
        self._poll(lambda: smoke.serving_ready(self.http, self._outputs().serving_url), "serving")

    def _predict(self) -> None:
        row = smoke.breast_cancer_row()
        self._poll(
            lambda: smoke.predict(self.http, self._outputs().serving_url, row, self.cfg.model_name),
            "predicted by version",
        )

    def _targets(self) -> None:
        self._poll(
            lambda: smoke.target_up(self.http, self._outputs().prometheus_url, Job.SERVING.value),
            "serving targets up",
        )

    def _rules(self) -> None:
        self._poll(lambda: smoke.rules_loaded(self.http, self._outputs().prometheus_url), "rule groups")

    def _grafana_health(self) -> None:
        self._poll(lambda: smoke.grafana_health(self.http, self._outputs().grafana_url), "grafana")

    def _dashboards(self) -> None:
        out = self._outputs()
        where = f"{out.namespace}/{GRAFANA_SECRET}"
        data = read_secret(self.runner, self.cfg.kube_context, out.namespace, GRAFANA_SECRET)
        auth = (
            secret_value(data, GRAFANA_ADMIN_USER_KEY, where),
            secret_value(data, GRAFANA_ADMIN_PASSWORD_KEY, where),
        )
        self._poll(lambda: smoke.dashboards(self.http, out.grafana_url, auth), "dashboards")

    # -- teardown steps ------------------------------------------------------------------------------------

    def _diagnostics(self) -> None:
        """Best effort: what the cluster looked like when the run failed (uploaded by CI)."""
        if not self.state.up_started:
            raise StepSkipped("no cluster was created")
        context = self.cfg.kube_context
        self.runner.run(
            ["kind", "export", "logs", str(self.cfg.run_dir / "kind-logs"), "--name", self.cfg.cluster_name]
        )
        self.runner.run(["kubectl", "--context", context, "get", "all,pvc,events", "-A", "-o", "wide"])
        self.runner.run(["kubectl", "--context", context, "describe", "pods", "-A"])

    def _destroy(self) -> None:
        if not self.state.stack_created:
            raise StepSkipped("no stack was created")
        try:
            with self._streamed("destroy") as sink:
                self._workspace().destroy(self.cfg.stack, sink, {})
        except (Exception, KeyboardInterrupt):
            self.state.destroy_failed = True
            raise

    def _stack_rm(self) -> None:
        """Remove the stack and its Pulumi.<stack>.yaml; `--force` drops state of resources destroy could not
        delete (the kind cluster is then deleted directly)."""
        if not self.state.stack_created:
            raise StepSkipped("no stack was created")
        self._workspace().remove(self.cfg.stack, force=self.state.destroy_failed)

    def _kind_delete(self) -> None:
        """Last resort: the cluster is ours (the stack created it) and outlived destroy."""
        if not self.state.up_started:
            raise StepSkipped("no cluster was created")
        clusters = self.runner.run(["kind", "get", "clusters"])
        if clusters.ok and self.cfg.cluster_name not in clusters.lines():
            raise StepSkipped(f"kind cluster {self.cfg.cluster_name!r} is gone")
        run_checked(self.runner, ["kind", "delete", "cluster", "--name", self.cfg.cluster_name])

    def _leftovers(self) -> None:
        if not self.state.stack_created:
            raise StepSkipped("nothing was created")
        found = find_leftovers(self.runner, self.cfg.cluster_name, self.cfg.stack_file, self.exists)
        for item in found:
            self.echo(f"    leftover: {item.line()}")
        if found:
            raise LeftoversFound(found)

    # -- composition ---------------------------------------------------------------------------------------

    def steps(self) -> list[Step]:
        """The run, in order."""
        cfg = self.cfg
        ports = ", ".join(str(p) for p in cfg.host_ports)
        settings = " ".join(f"{k}={v}" for k, v in cfg.stack_settings().items())
        timeout = f"(retried up to {self.retry.timeout:.0f}s)"
        return [
            Step(
                "preflight",
                "docker info; kind version; pulumi version; kubectl version --client; kind get clusters; "
                f"/proc/meminfo; /proc/sys/fs/inotify; bind 127.0.0.1:{{{ports}}}",
                self._preflight,
            ),
            Step("stack-init", f"pulumi stack init {cfg.stack} (or select it)", self._stack_init),
            Step("stack-config", f"pulumi config set-all --stack {cfg.stack} {settings}", self._stack_config),
            Step("pulumi-up", f"pulumi up --stack {cfg.stack} --yes --skip-preview", self._up),
            Step(
                "stack-outputs",
                f"pulumi stack output --stack {cfg.stack} --json --show-secrets (values not printed)",
                self._read_outputs,
            ),
            Step("mlflow-health", f"GET <mlflowUrl>/health {timeout}", self._mlflow_health),
            Step(
                "champion-registered",
                "kubectl get secret <mlflowCredentialsSecret>; "
                "GET <mlflowUrl>/api/2.0/mlflow/registered-models/alias"
                f"?name={cfg.model_name}&alias={CHAMPION_ALIAS} {timeout}",
                self._champion,
            ),
            Step("serving-ready", f"GET <servingUrl>/readyz {timeout}", self._serving_ready),
            Step(
                "serving-predict",
                f"POST <servingUrl>/v1/predict (breast_cancer row 0) {timeout}",
                self._predict,
            ),
            Step(
                "prometheus-targets",
                f'GET <prometheusUrl>/api/v1/targets: job="{Job.SERVING.value}" up {timeout}',
                self._targets,
            ),
            Step(
                "prometheus-rules", f"GET <prometheusUrl>/api/v1/rules: groups loaded {timeout}", self._rules
            ),
            Step("grafana-health", f"GET <grafanaUrl>/api/health {timeout}", self._grafana_health),
            Step(
                "grafana-dashboards",
                f"kubectl get secret {GRAFANA_SECRET}; GET <grafanaUrl>/api/search?type=dash-db: "
                f">= {smoke.MIN_DASHBOARDS} dashboards {timeout}",
                self._dashboards,
            ),
        ]

    def teardown(self) -> list[Step]:
        """What always runs after the steps (each only if the run got far enough to need it)."""
        cfg = self.cfg
        return [
            Step(
                "diagnostics",
                f"kind export logs {cfg.run_dir / 'kind-logs'}; kubectl get all,pvc,events -A; "
                "kubectl describe pods -A",
                self._diagnostics,
                only_on_failure=True,
            ),
            Step("pulumi-destroy", f"pulumi destroy --stack {cfg.stack} --yes --skip-preview", self._destroy),
            Step(
                "stack-rm", f"pulumi stack rm {cfg.stack} --yes (--force if destroy failed)", self._stack_rm
            ),
            Step(
                "kind-delete (last resort)",
                f"kind delete cluster --name {cfg.cluster_name} (only if it still exists)",
                self._kind_delete,
            ),
            Step(
                "leftovers",
                f"kind get clusters; kubectl config get-contexts -o name; docker ps -a / docker volume ls "
                f"--filter label=io.x-k8s.kind.cluster={cfg.cluster_name}; {cfg.stack_file.name} removed",
                self._leftovers,
            ),
        ]


def _counts(changes: dict[str, int]) -> str:
    """create=12, same=3 (the engine's summary of an update)."""
    return ", ".join(f"{op}={n}" for op, n in sorted(changes.items())) or "none"
