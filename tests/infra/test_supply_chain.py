"""What runs is pinned: every image by digest, Dockerfile bases and the kind node image too; Pod Security
Standards pinned to the cluster's version; Grafana's signing key from a Secret."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from infra.components.images import SPECS
from infra.schema import REPO_ROOT
from tests.infra.conftest import MODES, built, config_for, env_of, find, pod_specs

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# Own images loaded into kind/minikube nodes (no registry, so no repository digest exists): content-hash tags.
OWN_NAMES = "|".join(spec.name for spec in SPECS)
LOADED_OWN_IMAGE = re.compile(rf"^({OWN_NAMES}):[0-9a-f]{{12}}$")


def _images(mode: str) -> set[str]:
    manifests = built(mode).manifests()
    return {
        c["image"]
        for _, spec in pod_specs(manifests)
        for c in [*spec["containers"], *spec.get("initContainers", [])]
    }


@pytest.mark.parametrize("mode", MODES)
def test_every_image_is_referenced_by_digest(mode: str) -> None:
    pushed = config_for(mode).image_registry is not None
    for image in _images(mode):
        if pushed or not LOADED_OWN_IMAGE.match(image):
            assert DIGEST.search(image), f"{mode}: {image} is not pinned by digest"


def test_pushed_images_are_deployed_by_the_digest_the_registry_returned() -> None:
    own = {i for i in _images("existing") if "/mlops-" in i}
    assert len(own) == len(SPECS)
    assert all(i.startswith("registry.example.com/mlops/") and DIGEST.search(i) for i in own)


def test_dockerfile_bases_and_the_kind_node_image_are_pinned_by_digest() -> None:
    for spec in SPECS:
        text = (REPO_ROOT / spec.dockerfile).read_text()
        bases = re.findall(r"^ARG BASE_IMAGE=(\S+)$", text, flags=re.M)
        froms = re.findall(r"^FROM (\S+)", text, flags=re.M)
        assert froms == ["${BASE_IMAGE}"] and len(bases) == 1, spec.dockerfile
        assert DIGEST.search(bases[0]), f"{spec.dockerfile}: base {bases[0]} is not pinned by digest"
    schema = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())
    node = schema["config"]["kindNodeImage"]["default"]
    assert DIGEST.search(node) and config_for("kind").kind_node_image == node


@pytest.mark.parametrize("mode", MODES)
def test_pod_security_is_pinned_to_the_cluster_version(mode: str) -> None:
    namespace = next(m for m in built(mode).manifests() if m["kind"] == "Namespace")
    labels = namespace["metadata"]["labels"]
    for level in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{level}"] == "restricted"
        assert (
            labels[f"pod-security.kubernetes.io/{level}-version"] == "v" + config_for(mode).kubernetes_version
        )


def _renovate_managers() -> list[tuple[re.Pattern[str], list[re.Pattern[str]]]]:
    """(file pattern, match patterns) of renovate.json's regex managers, in Python's regex dialect."""
    config = json.loads((REPO_ROOT / "renovate.json").read_text())
    managers = []
    for manager in config["customManagers"]:
        assert manager["datasourceTemplate"] == "docker"
        files = [re.compile(p.strip("/")) for p in manager["managerFilePatterns"]]
        matches = [re.compile(m.replace("(?<", "(?P<")) for m in manager["matchStrings"]]
        managers += [(f, matches) for f in files]
    return managers


def test_renovate_keeps_every_digest_pin_current() -> None:
    """Every image pinned by digest in the program, the Dockerfiles and Pulumi.yaml is found by one of
    renovate.json's managers (with its tag and digest, so an update PR rewrites both); actions and the uv
    lock are covered by Renovate's own managers."""
    config = json.loads((REPO_ROOT / "renovate.json").read_text())
    assert {"github-actions", "pep621", "custom.regex"} <= set(config["enabledManagers"])
    assert config["lockFileMaintenance"]["enabled"] is True
    tracked = subprocess.run(
        ["git", "ls-files", "infra", "services", "training", "Pulumi.yaml"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    managers = _renovate_managers()
    pinned = 0
    for rel in tracked:
        text = (REPO_ROOT / rel).read_text(errors="replace")
        digests = set(re.findall(r"sha256:[0-9a-f]{64}", text))
        if not digests:
            continue
        found = {
            m["currentDigest"]
            for files, matches in managers
            if files.search(rel)
            for pattern in matches
            for m in pattern.finditer(text)
            if m["depName"] and m["currentValue"]
        }
        assert digests <= found, f"{rel}: {digests - found} not updated by renovate.json"
        pinned += len(digests)
    assert pinned >= 1 + 5 + len(SPECS)  # node image, five third-party images, each Dockerfile's base


@pytest.mark.parametrize("mode", ["kind", "existing"])
def test_grafana_signs_with_a_generated_secret_key_from_its_secret(mode: str) -> None:
    stack = built(mode)
    manifests = stack.manifests()
    grafana = find(manifests, "Deployment", "grafana")["spec"]["template"]["spec"]["containers"][0]
    ref = env_of(grafana)["GF_SECURITY_SECRET_KEY"]["secretKeyRef"]
    secret = find(manifests, "Secret", ref["name"])
    key = secret["stringData"][ref["key"]]
    assert key == "placeholder-monitoring-grafana-secret-key"  # a RandomPassword's result (render.py mocks)
    generated = stack.by_name("monitoring-grafana-secret-key")
    assert generated.type == "random:index/randomPassword:RandomPassword" and generated.inputs["length"] >= 32
