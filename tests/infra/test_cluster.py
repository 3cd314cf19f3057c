"""The kind cluster / minikube profile lifecycle: resource options under mocks, and the generated command
strings executed with /bin/sh against stand-in kind, minikube and docker executables.

pulumi-command runs `update` (or `create` when no update is given) whenever a non-trigger input changes and
replaces the resource when `triggers` (or a `replace_on_changes` property) change: the commands must be
idempotent, and a cluster that vanished must be recreated and get its images loaded again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from infra.components.cluster import (
    Cluster,
    ClusterArgs,
    cluster_exists,
    kind_commands,
    kind_config,
    minikube_commands,
)
from infra.config import ClusterMode, HostPorts, StackConfig
from infra.render import PLACEHOLDER_KUBECONFIG, MockedStack, run_program
from tests.infra.conftest import built, config_for
from tests.infra.tool_doubles import Tools, install

PORTS = HostPorts(mlflow=5000, serving=8000, grafana=3000, prometheus=9090)
NODE_IMAGE = "kindest/node:v1.33.1"


@pytest.fixture
def tools(tmp_path: Path) -> Tools:
    """kind, minikube and docker stand-ins on a temporary PATH."""
    return install(tmp_path)


def _args(mode: ClusterMode, exists: bool, name: str = "mlops") -> ClusterArgs:
    return ClusterArgs(mode=mode, name=name, kind_node_image=NODE_IMAGE, host_ports=PORTS, exists=exists)


def _cluster_only(args: ClusterArgs) -> MockedStack:
    def program(_cfg: StackConfig) -> Mapping[str, Any]:
        cluster = Cluster("cluster", args)
        return {"identity": cluster.identity}

    return run_program(config_for("kind"), program)


# --- resource options (mocks) ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [ClusterMode.KIND, ClusterMode.MINIKUBE])
def test_cluster_command_is_idempotent_and_replaced_delete_first(mode: ClusterMode) -> None:
    cmd = _cluster_only(_args(mode, exists=True)).by_name(f"cluster-{mode.value}")
    # An input change that is not a replacement runs `update`: the same create-or-adopt command.
    assert cmd.inputs["update"] == cmd.inputs["create"]
    # Same cluster name before and after: the old one must go first.
    assert cmd.delete_before_replace is True
    # kind: node image, host ports and name are all in the kind config (stdin); minikube: the create flags.
    assert ("stdin" if mode is ClusterMode.KIND else "create") in cmd.replace_on_changes
    assert "triggers[*]" in cmd.replace_on_changes  # pulumi-command's own: a new trigger replaces


def test_kind_config_carries_every_change_that_needs_a_new_cluster() -> None:
    base = kind_config(_args(ClusterMode.KIND, True))
    assert "kindest/node:v1.33.1" in base and "hostPort: 8000" in base and "name: mlops" in base
    other_ports = ClusterArgs(
        mode=ClusterMode.KIND,
        name="mlops",
        kind_node_image=NODE_IMAGE,
        host_ports=HostPorts(mlflow=5001, serving=8000, grafana=3000, prometheus=9090),
    )
    assert kind_config(other_ports) != base
    assert kind_config(_args(ClusterMode.KIND, True, name="other")) != base


@pytest.mark.parametrize("mode", [ClusterMode.KIND, ClusterMode.MINIKUBE])
def test_present_cluster_ignores_the_recreate_token_so_a_rerun_shows_no_diff(mode: ClusterMode) -> None:
    cmd = _cluster_only(_args(mode, exists=True)).by_name(f"cluster-{mode.value}")
    assert cmd.ignore_changes == ["triggers"]
    assert cmd.inputs["triggers"] == ["present"]


@pytest.mark.parametrize("mode", [ClusterMode.KIND, ClusterMode.MINIKUBE])
def test_vanished_cluster_gets_a_fresh_token_so_it_is_replaced(mode: ClusterMode) -> None:
    first = _cluster_only(_args(mode, exists=False)).by_name(f"cluster-{mode.value}")
    second = _cluster_only(_args(mode, exists=False)).by_name(f"cluster-{mode.value}")
    assert first.ignore_changes == []
    (token,) = first.inputs["triggers"]
    assert token.startswith("absent-")
    # Whatever was recorded before (the token of the run that created it), this one differs.
    assert second.inputs["triggers"] != first.inputs["triggers"]


def test_kind_kubeconfig_is_secret_and_never_logged() -> None:
    stack = _cluster_only(_args(ClusterMode.KIND, exists=True))
    cmd = stack.by_name("cluster-kind")
    assert cmd.additional_secret_outputs == ["stdout"]
    # pulumi_command.local.Logging.STDERR: kind's progress is shown, the kubeconfig (stdout) is not.
    assert cmd.inputs["logging"] == "stderr"


def test_identity_is_a_fingerprint_of_what_the_create_printed() -> None:
    stack = _cluster_only(_args(ClusterMode.KIND, exists=True))
    assert stack.outputs["identity"] == hashlib.sha256(PLACEHOLDER_KUBECONFIG.encode()).hexdigest()[:16]
    assert "client" not in stack.outputs["identity"]


def test_image_loads_are_triggered_by_the_cluster_identity() -> None:
    for mode in ("kind", "minikube"):
        stack = built(mode)
        cluster = stack.by_name(f"cluster-{mode}")
        loads = [r for r in stack.resources if r.type == "command:local:Command" and r.name.endswith("-load")]
        assert len(loads) == 4
        for load in loads:
            ref, identity = load.inputs["triggers"]
            assert ref.rsplit(":", 1)[0] in load.inputs["create"]
            assert len(identity) == 16
            assert cluster.name in load.depends_on


def test_objects_of_a_vanished_owned_cluster_are_dropped_not_awaited() -> None:
    for mode in ("kind", "minikube", "existing"):
        provider = next(r for r in built(mode).resources if r.type == "pulumi:providers:kubernetes")
        owned = mode != "existing"
        assert provider.inputs.get("deleteUnreachable") == ("true" if owned else None), mode


def test_whole_program_probes_presence_only_for_clusters_it_manages() -> None:
    asked: list[str] = []

    def run(cmd: str) -> str:
        asked.append(cmd)
        return ""

    assert cluster_exists(ClusterMode.EXISTING, "mlops", run) is True
    assert asked == []
    assert cluster_exists(ClusterMode.KIND, "mlops", run) is False
    assert asked == ["kind get clusters"]


# --- the command strings, executed ----------------------------------------------------------------------


def _kind_config() -> str:
    return kind_config(_args(ClusterMode.KIND, True))


@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/bash"])
def test_kind_create_twice_succeeds_and_creates_once(tools: Tools, shell: str) -> None:
    ensure, _ = kind_commands("mlops")
    first = tools.sh(ensure, stdin=_kind_config(), shell=shell)
    assert first.returncode == 0, first.stderr
    second = tools.sh(ensure, stdin=_kind_config(), shell=shell)  # what an update (any input change) runs
    assert second.returncode == 0, second.stderr
    assert len(tools.calls("kind create cluster")) == 1
    assert "node(s) already exist" not in second.stderr
    # stdout is the kubeconfig alone (kind's progress goes to stderr), the same cluster both times.
    assert first.stdout.startswith("apiVersion: v1") and first.stdout == second.stdout
    assert "Creating cluster" not in first.stdout


def test_kind_create_passes_the_config_on_stdin(tools: Tools) -> None:
    ensure, _ = kind_commands("mlops")
    assert tools.sh(ensure, stdin=_kind_config()).returncode == 0
    assert (tools.state / "kind" / "mlops.config").read_text() == _kind_config()


def test_kind_delete_then_create_recreates_with_a_new_identity(tools: Tools) -> None:
    ensure, delete = kind_commands("mlops")
    before = tools.sh(ensure, stdin=_kind_config()).stdout
    assert tools.sh(delete).returncode == 0
    assert tools.sh(delete).returncode == 0  # deleting an absent cluster succeeds, like kind
    after = tools.sh(ensure, stdin=_kind_config())
    assert after.returncode == 0, after.stderr
    assert len(tools.calls("kind create cluster")) == 2
    assert after.stdout != before  # new CA: the fingerprint the image loads are triggered by changes


def test_kind_create_fails_loudly_when_kind_cannot_list(tools: Tools) -> None:
    (tools.bin_dir / "kind").write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    ensure, _ = kind_commands("mlops")
    assert tools.sh(ensure, stdin=_kind_config()).returncode != 0


def test_kind_presence_probe_sees_clusters_deleted_by_hand(tools: Tools) -> None:
    def run(cmd: str) -> str:
        return tools.sh(cmd).stdout

    ensure, _ = kind_commands("mlops")
    assert cluster_exists(ClusterMode.KIND, "mlops", run) is False
    tools.sh(ensure, stdin=_kind_config())
    assert cluster_exists(ClusterMode.KIND, "mlops", run) is True
    assert cluster_exists(ClusterMode.KIND, "mlops-other", run) is False
    tools.sh("kind delete cluster --name mlops")  # out of band
    assert cluster_exists(ClusterMode.KIND, "mlops", run) is False


def test_kind_cluster_deleted_out_of_band_is_recreated_and_images_reloaded(tools: Tools) -> None:
    """The sequence the engine runs: up; cluster deleted by hand; up (replacement, then the load again)."""
    ensure, delete = kind_commands("mlops")
    load = "kind load docker-image mlops-serving:0123456789ab --name mlops"
    created = tools.sh(ensure, stdin=_kind_config())
    assert tools.sh(load).returncode == 0
    tools.sh("kind delete cluster --name mlops")
    # Next `pulumi up`: the probe says absent -> fresh token -> replace, delete first (old delete command).
    assert cluster_exists(ClusterMode.KIND, "mlops", lambda cmd: tools.sh(cmd).stdout) is False
    assert tools.sh(delete).returncode == 0
    recreated = tools.sh(ensure, stdin=_kind_config())
    assert recreated.returncode == 0
    # The identity (fingerprint of stdout) moved, so the load Command's triggers changed: it runs again.
    assert recreated.stdout != created.stdout
    assert tools.sh(load).returncode == 0
    first, second = tools.loads()
    assert first.split()[1] != second.split()[1]  # loaded into the new cluster


def test_minikube_start_twice_then_recreate(tools: Tools) -> None:
    ensure, delete = minikube_commands("mlops-mk", "v1.33.1")

    def run(cmd: str) -> str:
        return tools.sh(cmd).stdout

    assert cluster_exists(ClusterMode.MINIKUBE, "mlops-mk", run) is False  # no profiles at all
    first = tools.sh(ensure)
    second = tools.sh(ensure)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.strip() and first.stdout == second.stdout  # node container id: same profile
    assert cluster_exists(ClusterMode.MINIKUBE, "mlops-mk", run) is True
    assert cluster_exists(ClusterMode.MINIKUBE, "other", run) is False
    tools.sh("minikube delete -p mlops-mk")  # out of band
    assert cluster_exists(ClusterMode.MINIKUBE, "mlops-mk", run) is False
    assert tools.sh(delete).returncode == 0
    third = tools.sh(ensure)
    assert third.returncode == 0 and third.stdout != first.stdout


def test_minikube_probe_never_guesses_absent_from_unreadable_output() -> None:
    assert cluster_exists(ClusterMode.MINIKUBE, "mlops-mk", lambda _cmd: "E1129 something odd") is True
    assert cluster_exists(ClusterMode.MINIKUBE, "mlops-mk", lambda _cmd: "") is False


def test_generated_load_commands_run_against_the_stand_ins(tools: Tools) -> None:
    """The exact load strings the program declares (kind and minikube) succeed once the cluster exists."""
    for mode, ensure, stdin in (
        ("kind", kind_commands("mlops")[0], _kind_config()),
        ("minikube", minikube_commands("mlops-mk", "v1.33.1")[0], ""),
    ):
        assert tools.sh(ensure, stdin=stdin).returncode == 0
        loads = [r for r in built(mode).resources if r.name.endswith("-load")]
        for load in loads:
            result = tools.sh(load.inputs["create"])
            assert result.returncode == 0, result.stderr
    assert len(tools.loads()) == 8
