"""Every resource keeps its URN, the engine's identity for it in stack state.

A changed URN (a renamed resource, or one moved under another parent component) makes `pulumi up` delete the
old resource and create a new one: for the PostgreSQL StatefulSet or a PVC that is data loss. The expected
URNs are committed in tests/infra/urns/<shape>.txt, one per stack shape of conftest.STACK_OVERRIDES, taken
from the program as deployed. A refactor leaves them as they are; a change that must move a resource gives it
`aliases=[...]` for its old URN and rewrites the files on purpose:

    MLOPS_WRITE_URNS=1 uv run --frozen pytest tests/infra/test_urns.py

The URNs are computed from each resource's type, name and parent chain as the engine does
(infra.render.run_program); the engine itself cannot run here.
"""

from __future__ import annotations

import os
from pathlib import Path

from infra.render import MockedStack
from tests.infra.conftest import config_for

EXPECTED_DIR = Path(__file__).parent / "urns"


def _expected(mode: str) -> list[str]:
    return (EXPECTED_DIR / f"{mode}.txt").read_text().splitlines()


def test_no_resource_changes_its_urn(mode: str, stack: MockedStack) -> None:
    actual = stack.urns()
    if os.environ.get("MLOPS_WRITE_URNS") == "1":
        (EXPECTED_DIR / f"{mode}.txt").write_text("".join(f"{urn}\n" for urn in actual))
    expected = _expected(mode)
    gone = sorted(set(expected) - set(actual))
    new = sorted(set(actual) - set(expected))
    assert not gone, (
        f"{mode}: these URNs are gone, so `pulumi up` would delete (and recreate) their resources; keep the "
        f"name and parent, or add aliases and rewrite the expected URNs:\n" + "\n".join(gone)
    )
    assert not new, f"{mode}: resources not in {EXPECTED_DIR}/{mode}.txt (new? rewrite it):\n" + "\n".join(
        new
    )


def test_a_child_urn_carries_its_whole_parent_chain(stack: MockedStack) -> None:
    """Grandchildren (Monitoring > AppDeployment > Deployment) name both ancestors, as the engine writes it."""
    grafana = stack.by_name("monitoring-grafana-deployment")
    assert grafana.urn.split("::")[2] == (
        "mlops:index:Monitoring$mlops:index:AppDeployment$kubernetes:apps/v1:Deployment"
    )
    assert grafana.urn.startswith("urn:pulumi:") and grafana.urn.endswith("::monitoring-grafana-deployment")


def test_a_top_level_urn_leaves_the_stack_out(mode: str, stack: MockedStack) -> None:
    """Resources without a parent hang under the stack, whose type the engine leaves out of the URN."""
    name = config_for(mode).stack
    assert stack.by_name("cluster").urn == f"urn:pulumi:{name}::mlops-platform::mlops:index:Cluster::cluster"
