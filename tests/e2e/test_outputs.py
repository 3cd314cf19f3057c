"""The stack outputs and config the e2e run relies on are the ones the real Pulumi program exports and accepts.

Unit tests only: `pulumi stack output` cannot run here, so the real program runs under Pulumi's mocks
(infra.render) and its resolved outputs stand in for the workspace's answer.
"""

from __future__ import annotations

import pytest

from e2e.config import HOST_PORT_KEYS, STACK_SETTINGS, E2eConfig
from e2e.outputs import OUTPUT_KEYS, OutputsError, StackOutputs
from e2e.preflight import KIND_NODE_MIB, MIN_AVAILABLE_MIB
from infra.config import PROJECT, ClusterMode
from infra.render import MockedStack, platform_program, run_program, stack_config
from infra.schema import schema_defaults
from stacks.backend import Backend

_STACK: dict[str, MockedStack] = {}


def e2e_stack() -> MockedStack:
    """The program built with exactly the config the e2e run sets (built once: it takes a few seconds)."""
    if "stack" not in _STACK:
        _STACK["stack"] = run_program(stack_config("e2e-x", STACK_SETTINGS), platform_program)
    return _STACK["stack"]


def test_every_output_key_the_run_reads_is_exported_by_the_program():
    exported = set(e2e_stack().outputs)
    missing = sorted(set(OUTPUT_KEYS) - exported)
    assert not missing, f"the e2e run reads outputs the program does not export: {missing}"


def test_the_program_exports_parse_into_stack_outputs():
    outs = StackOutputs.from_outputs(e2e_stack().outputs)
    assert outs.mlflow_url == "http://localhost:5000"
    assert outs.serving_url == "http://localhost:8000"
    assert outs.mlflow_credentials_secret == "mlflow-credentials"
    assert outs.namespace == "mlops"


def test_the_config_the_run_sets_is_the_settings_with_the_project_prefix(tmp_path):
    cfg = E2eConfig(
        stack="e2e-x",
        repo_root=tmp_path,
        run_dir=tmp_path,
        backend=Backend(url="file:///tmp/x", passphrase="p"),
        model_name="m",
        host_ports=(),
    )
    assert cfg.stack_config() == {f"{PROJECT}:{key}": value for key, value in STACK_SETTINGS.items()}
    assert set(cfg.stack_settings()) <= set(schema_defaults())


def test_the_stack_settings_are_valid_config_for_a_disposable_kind_cluster():
    cfg = stack_config("e2e-x", STACK_SETTINGS)
    assert cfg.cluster_mode is ClusterMode.KIND
    assert cfg.cluster_name == "mlops-e2e"
    assert cfg.protect_volumes is False


def test_host_ports_come_from_the_schema_and_are_the_documented_ones():
    defaults = schema_defaults()
    assert [int(defaults[key]) for key in HOST_PORT_KEYS] == [5000, 8000, 3000, 9090]


def test_stack_outputs_parse_and_trim_trailing_slashes():
    outs = StackOutputs.from_outputs(
        {
            "namespace": "mlops",
            "mlflowUrl": "http://localhost:5000/",
            "mlflowCredentialsSecret": "mlflow-credentials",
            "servingUrl": "http://localhost:8000",
            "prometheusUrl": "http://localhost:9090",
            "grafanaUrl": "http://localhost:3000",
            "images": {"mlops-serving": "mlops-serving:abc"},
        }
    )
    assert outs.mlflow_url == "http://localhost:5000"
    assert outs.urls()["grafana"] == "http://localhost:3000"


def test_missing_outputs_are_named():
    with pytest.raises(OutputsError, match=r"lack \(or have non-string\) prometheusUrl, grafanaUrl"):
        StackOutputs.from_outputs(
            {
                "namespace": "mlops",
                "mlflowUrl": "http://localhost:5000",
                "mlflowCredentialsSecret": "mlflow-credentials",
                "servingUrl": "http://localhost:8000",
            }
        )


@pytest.mark.parametrize("value", [None, 5000, {"url": "x"}, ""])
def test_non_string_outputs_are_refused_without_quoting_values(value):
    data: dict[str, object] = dict.fromkeys(OUTPUT_KEYS, "http://localhost:1")
    data["grafanaUrl"] = value
    with pytest.raises(OutputsError, match="grafanaUrl") as err:
        StackOutputs.from_outputs(data)
    assert "localhost:1" not in str(err.value)


def test_the_preflight_memory_floor_covers_what_the_stack_requests_plus_the_kind_node():
    total = e2e_stack().outputs["resourceRequestsTotal"]["memory"]
    assert total.endswith("Mi")
    assert int(total.removesuffix("Mi")) + KIND_NODE_MIB <= MIN_AVAILABLE_MIB
