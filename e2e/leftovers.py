"""After teardown: prove nothing of the run is left on the machine (cluster, context, containers, volumes,
stack file), each leftover with the command that removes it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from e2e.runner import Runner

KIND_LABEL = "io.x-k8s.kind.cluster"


@dataclass(frozen=True)
class Leftover:
    """Something the run created that is still there (or could not be checked)."""

    what: str
    """Kind of leftover."""
    detail: str
    """Which ones."""
    fix: str
    """Command that removes it."""

    def line(self) -> str:
        """One report line."""
        return f"{self.what}: {self.detail} -> fix: {self.fix}"


class LeftoversFound(RuntimeError):
    """Teardown left something behind."""

    def __init__(self, leftovers: Sequence[Leftover]) -> None:
        self.leftovers = tuple(leftovers)
        listing = "\n".join(f"  - {item.line()}" for item in leftovers)
        super().__init__(f"{len(leftovers)} leftover(s):\n{listing}")


def _listing(runner: Runner, argv: list[str], what: str) -> tuple[list[str], Leftover | None]:
    """The command's output lines, or a Leftover saying the check itself failed (unknown is not clean)."""
    result = runner.run(argv)
    if not result.ok:
        reason = (result.stderr or result.stdout).strip().splitlines()
        detail = f"`{' '.join(argv)}` failed: {reason[-1] if reason else f'exit {result.returncode}'}"
        return [], Leftover(f"{what} (unchecked)", detail, "check by hand")
    return result.lines(), None


def find_leftovers(
    runner: Runner, cluster_name: str, stack_file: Path, exists: Callable[[Path], bool] = Path.exists
) -> list[Leftover]:
    """Every leftover of the run's cluster and stack."""
    found: list[Leftover] = []

    clusters, problem = _listing(runner, ["kind", "get", "clusters"], "kind cluster")
    # With no clusters kind prints "No kind clusters found." on stderr and nothing on stdout.
    if cluster_name in clusters:
        found.append(Leftover("kind cluster", cluster_name, f"kind delete cluster --name {cluster_name}"))
    found.extend([problem] if problem else [])

    context = f"kind-{cluster_name}"
    contexts, problem = _listing(runner, ["kubectl", "config", "get-contexts", "-o", "name"], "kube context")
    if context in contexts:
        found.append(
            Leftover(
                "kube context",
                context,
                f"kubectl config delete-context {context} && kubectl config delete-cluster {context} "
                f"&& kubectl config delete-user {context}",
            )
        )
    found.extend([problem] if problem else [])

    label = f"label={KIND_LABEL}={cluster_name}"
    containers, problem = _listing(
        runner, ["docker", "ps", "-a", "--filter", label, "--format", "{{.Names}}"], "docker container"
    )
    if containers:
        found.append(
            Leftover("docker container", ", ".join(containers), f"docker rm -f {' '.join(containers)}")
        )
    found.extend([problem] if problem else [])

    volumes, problem = _listing(
        runner, ["docker", "volume", "ls", "--filter", label, "--format", "{{.Name}}"], "docker volume"
    )
    if volumes:
        found.append(Leftover("docker volume", ", ".join(volumes), f"docker volume rm {' '.join(volumes)}"))
    found.extend([problem] if problem else [])

    if exists(stack_file):
        found.append(Leftover("stack config file", str(stack_file), f"rm {stack_file}"))
    return found
