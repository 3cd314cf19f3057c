"""Stand-ins for kind, minikube and docker on a temporary PATH, so the cluster and image-load command strings
the program generates can be executed for real (with /bin/sh, as pulumi-command runs them).

They keep their state in a directory and behave like the real tools where the commands depend on it:
`kind create cluster` refuses an existing cluster, `kind delete cluster` succeeds when there is none, a
recreated cluster gets a new CA (so a new kubeconfig), `minikube start` is idempotent, and every call is
appended to `calls`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# Every stand-in starts with this: its state directory, its arguments, and (kind, minikube) a call log line.
_PRELUDE = r"""
import json, os, sys, uuid
from pathlib import Path

state = Path(os.environ["TOOL_DOUBLES_STATE"])
args = sys.argv[1:]
"""
_LOG_CALL = r"""
with open(state / "calls", "a") as log:
    log.write(TOOL + " " + " ".join(args) + "\n")
"""

_KIND = r"""
clusters = state / "kind"
clusters.mkdir(parents=True, exist_ok=True)
name = args[args.index("--name") + 1] if "--name" in args else "kind"
verb = " ".join(args[:2])
if verb == "create cluster":
    if (clusters / name).exists():
        sys.exit(f'ERROR: failed to create cluster: node(s) already exist for a cluster with the name "{name}"')
    config = sys.stdin.read() if "--config" in args and args[args.index("--config") + 1] == "-" else ""
    (clusters / name).write_text(uuid.uuid4().hex)
    (clusters / f"{name}.config").write_text(config)
    print(f"Creating cluster {name!r} ...", file=sys.stderr)
elif verb == "get clusters":
    names = sorted(p.name for p in clusters.iterdir() if not p.name.endswith(".config"))
    print("\n".join(names)) if names else print("No kind clusters found.", file=sys.stderr)
elif verb == "delete cluster":
    print(f"Deleting cluster {name!r} ...", file=sys.stderr)
    for path in (clusters / name, clusters / f"{name}.config"):
        path.unlink(missing_ok=True)
elif verb == "get kubeconfig":
    if not (clusters / name).exists():
        sys.exit(f'ERROR: could not locate any control plane nodes for cluster named "{name}"')
    ca = (clusters / name).read_text()
    print(f"apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n"
          f"    server: https://127.0.0.1:6443\n  name: kind-{name}\nusers:\n- name: kind-{name}\n"
          f"  user:\n    client-key-data: SECRET-KEY-{ca}")
elif verb == "load docker-image":
    if not (clusters / name).exists():
        sys.exit(f"ERROR: no nodes found for cluster {name!r}")
    with open(state / "loads", "a") as loads:
        loads.write(f"{name} {(clusters / name).read_text()} {args[2]}\n")
else:
    sys.exit(f"kind double: unsupported {args}")
"""

_MINIKUBE = r"""
profiles = state / "minikube"
profiles.mkdir(parents=True, exist_ok=True)
name = args[args.index("-p") + 1] if "-p" in args else "minikube"
rest = [a for i, a in enumerate(args) if a != "-p" and (i == 0 or args[i - 1] != "-p")]
if rest[0] == "start":
    if not (profiles / name).exists():
        (profiles / name).write_text(uuid.uuid4().hex)  # the node container id
    print(f"Done! kubectl is now configured to use {name!r}", file=sys.stderr)
elif rest[0] == "delete":
    (profiles / name).unlink(missing_ok=True)
    print(f"Removed all traces of the {name!r} cluster.", file=sys.stderr)
elif rest[:2] == ["profile", "list"]:
    names = sorted(p.name for p in profiles.iterdir())
    if not names:
        sys.exit("* No minikube profile was found.")
    print(json.dumps({"invalid": [], "valid": [{"Name": n, "Status": "OK"} for n in names]}))
elif rest[:2] == ["image", "load"]:
    with open(state / "loads", "a") as loads:
        loads.write(f"{name} {(profiles / name).read_text()} {rest[2]}\n")
elif rest[0] == "ip":
    print("192.168.49.2")
else:
    sys.exit(f"minikube double: unsupported {args}")
"""

_DOCKER = r"""
if args[:1] == ["inspect"] and args[1] == "--format" and args[2] == "{{.Id}}":
    node = state / "minikube" / args[3]
    if not node.exists():
        sys.exit(f"Error: No such object: {args[3]}")
    print(node.read_text())
else:
    sys.exit(f"docker double: unsupported {args}")
"""


@dataclass
class Tools:
    """The stand-ins' directory and state, and a way to run a command string the way pulumi-command does."""

    bin_dir: Path
    state: Path

    def sh(self, script: str, stdin: str = "", shell: str = "/bin/sh") -> subprocess.CompletedProcess[str]:
        """Run `script` with `shell` -c (/bin/sh: pulumi-command's default) with the stand-ins first on PATH."""
        env = {
            **os.environ,
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "TOOL_DOUBLES_STATE": str(self.state),
        }
        return subprocess.run(
            [shell, "-c", script], input=stdin, capture_output=True, text=True, env=env, check=False
        )

    def calls(self, prefix: str = "") -> list[str]:
        """Every recorded invocation starting with `prefix`."""
        path = self.state / "calls"
        lines = path.read_text().splitlines() if path.exists() else []
        return [line for line in lines if line.startswith(prefix)]

    def loads(self) -> list[str]:
        """`<cluster> <cluster id> <image>` per image load."""
        path = self.state / "loads"
        return path.read_text().splitlines() if path.exists() else []


def install(root: Path) -> Tools:
    """Write the kind, minikube and docker stand-ins under `root`."""
    bin_dir, state = root / "bin", root / "state"
    bin_dir.mkdir(parents=True)
    state.mkdir()
    for tool, logs, body in (
        ("kind", True, _KIND),
        ("minikube", True, _MINIKUBE),
        ("docker", False, _DOCKER),
    ):
        script = bin_dir / tool
        log = f"TOOL = {tool!r}\n{_LOG_CALL}" if logs else ""
        script.write_text(f"#!{sys.executable}\n{_PRELUDE}{log}{body}")
        script.chmod(0o755)
    return Tools(bin_dir=bin_dir, state=state)
