"""The NetworkPolicy matrix: derived from the rendered policies of every stack shape and compared with the table
in docs/security.md, so the documented matrix is the enforced one (and neither can widen unnoticed)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from infra.schema import REPO_ROOT
from tests.infra.conftest import MODES, built

SECURITY_DOC = REPO_ROOT / "docs" / "security.md"
APP_LABEL = "app.kubernetes.io/name"
EVERY_POD = "every pod"
NODE = "node (host port)"
DNS = "cluster DNS"
API = "API server"
API_BY_PORT = "API server (by port only)"

Flow = tuple[str, str, str]  # (client, server, "port/PROTO")


def _policies(mode: str) -> list[dict[str, Any]]:
    return [m for m in built(mode).manifests() if m["kind"] == "NetworkPolicy"]


def _selected(policy: dict[str, Any]) -> str:
    labels = policy["spec"]["podSelector"].get("matchLabels") or {}
    return str(labels[APP_LABEL]) if labels else EVERY_POD


def _ports(rule: dict[str, Any]) -> list[str]:
    assert rule.get("ports"), f"a rule without ports allows every port: {rule}"
    return [f"{p['port']}/{p['protocol']}" for p in rule["ports"]]


def _ingress_peer(peer: dict[str, Any]) -> str:
    if "podSelector" in peer and "namespaceSelector" not in peer:
        return str(peer["podSelector"]["matchLabels"][APP_LABEL])
    if "ipBlock" in peer:
        assert peer["ipBlock"]["except"], "an ipBlock without the pod network admits other namespaces' pods"
        return NODE
    raise AssertionError(f"unexpected ingress peer {peer}")


def _egress_peer(peer: dict[str, Any] | None) -> str:
    if peer is None:
        return API_BY_PORT
    if "namespaceSelector" in peer:
        assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kube-system"}
        assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
        return DNS
    if "ipBlock" in peer:
        assert peer["ipBlock"]["except"], "an ipBlock without the pod network reaches other namespaces' pods"
        return API
    return str(peer["podSelector"]["matchLabels"][APP_LABEL])


def derive(policies: list[dict[str, Any]]) -> tuple[set[Flow], set[Flow]]:
    """(ingress flows, egress flows) the policies allow."""
    ingress: set[Flow] = set()
    egress: set[Flow] = set()
    for policy in policies:
        target = _selected(policy)
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("from"), f"{policy['metadata']['name']}: ingress from anywhere"
            ingress |= {(_ingress_peer(p), target, port) for p in rule["from"] for port in _ports(rule)}
        for rule in policy["spec"].get("egress", []):
            peers = rule.get("to") or [None]
            egress |= {(target, _egress_peer(p), port) for p in peers for port in _ports(rule)}
    return ingress, egress


def documented(mode: str) -> set[Flow]:
    """The rows of the matrix table in docs/security.md that apply to `mode`."""
    text = SECURITY_DOC.read_text()
    table = text.split("<!-- network-matrix -->")[1]
    flows: set[Flow] = set()
    for line in table.strip().splitlines()[2:]:
        client, server, ports, stacks = (c.strip().strip("`") for c in line.strip("|").split("|"))
        modes = MODES if stacks == "all" else tuple(s.strip() for s in stacks.split(","))
        assert set(modes) <= set(MODES), f"unknown stack shape in {line!r}"
        if mode in modes:
            flows |= {(client, server, p.strip()) for p in ports.split(",")}
    return flows


@pytest.mark.parametrize("mode", MODES)
def test_rendered_policies_allow_exactly_the_documented_matrix(mode: str) -> None:
    ingress, egress = derive(_policies(mode))
    # Every flow inside the namespace is open at both ends, else it is dead in one direction.
    assert {f for f in egress if f[1] not in (DNS, API, API_BY_PORT)} == {f for f in ingress if f[0] != NODE}
    assert ingress | egress == documented(mode)


@pytest.mark.parametrize("mode", MODES)
def test_everything_else_is_denied(mode: str) -> None:
    deny = next(p for p in _policies(mode) if p["metadata"]["name"] == "default-deny")
    assert deny["spec"]["podSelector"] == {}
    assert sorted(deny["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]


def test_the_node_path_is_open_only_where_services_are_on_the_host() -> None:
    for mode in MODES:
        ingress, _ = derive(_policies(mode))
        exposed = {server for client, server, _ in ingress if client == NODE}
        on_host = mode in ("kind", "minikube")
        assert exposed == ({"mlflow", "serving", "grafana", "prometheus"} if on_host else set())
    # Preview namespaces share the dev cluster: only Grafana may query Prometheus, from inside the namespace.
    ingress, _ = derive(_policies("preview"))
    assert {c for c, s, _ in ingress if s == "prometheus"} == {"grafana"}


def test_the_derivation_sees_a_widened_policy() -> None:
    """The comparison can fail: an ingress rule from any namespace's pods shows up as a new flow."""
    policies = _policies("kind")
    widened = [dict(p) for p in policies]
    target = next(p for p in widened if p["metadata"]["name"] == "allow-ingress-prometheus")
    peer = {"podSelector": {"matchLabels": {APP_LABEL: "serving"}}}
    rule = {"from": [peer], "ports": [{"port": 9090, "protocol": "TCP"}]}
    target["spec"] = {**target["spec"], "ingress": [*target["spec"]["ingress"], rule]}
    ingress, egress = derive(widened)
    assert ingress | egress != documented("kind")
    assert re.search(r"\| `serving` \| `prometheus`", SECURITY_DOC.read_text()) is None
