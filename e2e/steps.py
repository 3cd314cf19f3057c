"""The step runner: named steps in order, then teardown steps that run whatever happened before.

Each step prints its name, what it runs and how long it took. The first failing step stops the run; every
teardown step still runs (one failing does not skip the next), and the report names the failing step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

Echo = Callable[[str], None]
Clock = Callable[[], float]


class StepSkipped(Exception):
    """Raised by a step's action when it has nothing to do (e.g. teardown of a stack never created)."""


class Phase(StrEnum):
    """Where a step belongs."""

    RUN = "run"
    TEARDOWN = "teardown"


class Status(StrEnum):
    """How a step ended."""

    OK = "ok"
    FAILED = "FAILED"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Step:
    """One named unit of work."""

    name: str
    """Short name, used in the report and the failure message."""
    runs: str
    """What it runs (commands or requests), printed before it starts."""
    action: Callable[[], None]
    """The work; raises on failure, StepSkipped when there is nothing to do."""
    only_on_failure: bool = False
    """Teardown only: run just when an earlier step failed (diagnostics)."""


@dataclass(frozen=True)
class StepResult:
    """How one step went."""

    name: str
    """Step name."""
    phase: Phase
    """run or teardown."""
    status: Status
    """ok, FAILED or skipped."""
    seconds: float
    """Wall time."""
    error: str = ""
    """Failure message, or why it was skipped."""


@dataclass(frozen=True)
class RunReport:
    """Every step's result, in order."""

    results: tuple[StepResult, ...]
    """Run steps, then teardown steps."""

    @property
    def failed_step(self) -> StepResult | None:
        """The run step that stopped the run."""
        return next((r for r in self.results if r.phase is Phase.RUN and r.status is Status.FAILED), None)

    @property
    def failed_teardown(self) -> list[StepResult]:
        """Teardown steps that failed."""
        return [r for r in self.results if r.phase is Phase.TEARDOWN and r.status is Status.FAILED]

    @property
    def exit_code(self) -> int:
        """0 when every step succeeded (or was skipped), else 1."""
        return 1 if self.failed_step or self.failed_teardown else 0

    def summary(self) -> list[str]:
        """The closing report lines."""
        lines = [
            f"  {r.phase.value:<8} {r.name:<28} {r.status.value:<7} {r.seconds:7.1f}s"
            + (f"  {_first_line(r.error)}" if r.error else "")
            for r in self.results
        ]
        total = sum(r.seconds for r in self.results)
        failed = self.failed_step
        if failed is not None:
            lines.append(f"e2e FAILED at step '{failed.name}': {failed.error}")
        for broken in self.failed_teardown:
            lines.append(f"e2e teardown FAILED at step '{broken.name}': {broken.error}")
        if self.exit_code == 0:
            lines.append(f"e2e passed in {total:.0f}s")
        return lines


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _execute(step: Step, phase: Phase, index: str, echo: Echo, clock: Clock) -> StepResult:
    echo(f"==> [{index}] {step.name}: {step.runs}")
    start = clock()
    status, error = Status.OK, ""
    try:
        step.action()
    except StepSkipped as skip:
        status, error = Status.SKIPPED, str(skip)
    # Broad on purpose: whatever goes wrong (Ctrl-C included), teardown must still run.
    except (Exception, KeyboardInterrupt) as err:
        status, error = Status.FAILED, str(err) or type(err).__name__
    seconds = clock() - start
    # One line here; the closing summary repeats a failure in full.
    suffix = f": {_first_line(error)}" if error else ""
    echo(f"<== {step.name} {status.value} in {seconds:.1f}s{suffix}")
    return StepResult(step.name, phase, status, seconds, error)


def run_steps(
    steps: Sequence[Step], teardown: Sequence[Step], echo: Echo, clock: Clock = time.monotonic
) -> RunReport:
    """Run `steps` until one fails, then every teardown step in order."""
    results: list[StepResult] = []
    for number, step in enumerate(steps, 1):
        result = _execute(step, Phase.RUN, f"{number}/{len(steps)}", echo, clock)
        results.append(result)
        if result.status is Status.FAILED:
            break
    failed = any(r.status is Status.FAILED for r in results)
    for number, step in enumerate(teardown, 1):
        if step.only_on_failure and not failed:
            continue
        results.append(_execute(step, Phase.TEARDOWN, f"teardown {number}/{len(teardown)}", echo, clock))
    return RunReport(tuple(results))
