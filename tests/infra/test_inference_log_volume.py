"""The inference-log PVC: only when the stack turns the log on, mounted writable into serving with the
matching environment, retained like the artifact volume under protectVolumes."""

from __future__ import annotations

from infra.render import platform_program, run_program, stack_config
from mlops_contract.names import INFERENCE_LOG_CLAIM, INFERENCE_LOG_MOUNT_PATH, Env
from tests.infra.conftest import built, env_of, find, pod_spec


def test_the_log_is_off_by_default_and_serving_gets_no_volume() -> None:
    manifests = built("kind").manifests()
    assert not [
        m
        for m in manifests
        if m["kind"] == "PersistentVolumeClaim" and m["metadata"]["name"] == INFERENCE_LOG_CLAIM
    ]
    serving = pod_spec(find(manifests, "Deployment", "serving"))
    assert Env.INFERENCE_LOG_DIR not in env_of(serving["containers"][0])


def test_the_claim_is_mounted_into_serving_with_its_settings() -> None:
    stack = built("existing")  # inferenceLogEnabled, ReadWriteMany class, sample rate 0.1
    manifests = stack.manifests()
    claim = find(manifests, "PersistentVolumeClaim", INFERENCE_LOG_CLAIM)
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["storageClassName"] == "nfs-rwx"
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    serving = pod_spec(find(manifests, "Deployment", "serving"))
    volume = next(v for v in serving["volumes"] if v.get("persistentVolumeClaim"))
    assert volume["persistentVolumeClaim"] == {"claimName": INFERENCE_LOG_CLAIM, "readOnly": False}
    container = serving["containers"][0]
    mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
    assert mount["mountPath"] == INFERENCE_LOG_MOUNT_PATH and not mount.get("readOnly")
    env = env_of(container)
    assert env[Env.INFERENCE_LOG_DIR] == INFERENCE_LOG_MOUNT_PATH
    assert env[Env.INFERENCE_LOG_SAMPLE_RATE] == "0.1"
    assert env[Env.INFERENCE_LOG_MAX_BYTES] == "1073741824"
    component = next(r for r in stack.resources if r.name == "inference-log")
    pvc = next(r for r in stack.resources if r.name == "inference-log-claim")
    assert pvc.parent_type == component.type


def test_the_claim_is_kept_on_destroy_only_when_volumes_are_protected() -> None:
    for protect in ("true", "false"):
        cfg = stack_config("dev", {"inferenceLogEnabled": "true", "protectVolumes": protect})
        stack = run_program(cfg, platform_program)
        pvc = next(r for r in stack.resources if r.name == "inference-log-claim")
        assert pvc.retain_on_delete is (protect == "true")
        # On one node (kind) the default ReadWriteOnce claim is shared by every serving pod.
        claim = find(stack.manifests(), "PersistentVolumeClaim", INFERENCE_LOG_CLAIM)
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
