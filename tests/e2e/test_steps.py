"""The e2e step runner: order, timing, teardown after any failure, and the exit code naming the failing step.

Unit tests only: steps are plain Python callables here; no command runs (the commands' Runner is a test
double elsewhere).
"""

from __future__ import annotations

import pytest

from e2e.steps import Phase, Status, Step, StepSkipped, run_steps
from tests.e2e.doubles import FakeClock


class Journal:
    """Records which actions ran, in order."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def ok(self, name: str) -> Step:
        return Step(name, f"run {name}", lambda: self.ran.append(name))

    def fail(self, name: str, message: str = "boom") -> Step:
        def action() -> None:
            self.ran.append(name)
            raise RuntimeError(message)

        return Step(name, f"run {name}", action)

    def skip(self, name: str) -> Step:
        def action() -> None:
            self.ran.append(name)
            raise StepSkipped("nothing to do")

        return Step(name, f"run {name}", action)

    def on_failure(self, name: str) -> Step:
        return Step(name, f"run {name}", lambda: self.ran.append(name), only_on_failure=True)


def test_all_steps_pass_then_teardown_runs_in_order_and_the_exit_code_is_zero():
    j = Journal()
    report = run_steps(
        [j.ok("a"), j.ok("b")],
        [j.on_failure("diagnostics"), j.ok("destroy"), j.ok("rm")],
        echo=lambda _line: None,
    )
    assert j.ran == ["a", "b", "destroy", "rm"]
    assert report.exit_code == 0
    assert report.summary()[-1].startswith("e2e passed")


def test_a_failing_step_stops_the_run_runs_teardown_in_order_and_names_the_step():
    j = Journal()
    report = run_steps(
        [j.ok("preflight"), j.fail("pulumi-up", "`pulumi up` exited 255"), j.ok("smoke")],
        [j.on_failure("diagnostics"), j.ok("destroy"), j.ok("stack-rm"), j.ok("kind-delete")],
        echo=lambda _line: None,
    )
    assert j.ran == ["preflight", "pulumi-up", "diagnostics", "destroy", "stack-rm", "kind-delete"]
    assert report.exit_code == 1
    assert report.failed_step is not None
    assert report.failed_step.name == "pulumi-up"
    assert "e2e FAILED at step 'pulumi-up': `pulumi up` exited 255" in report.summary()


def test_a_failing_teardown_step_does_not_skip_the_next_and_fails_the_run():
    j = Journal()
    report = run_steps(
        [j.ok("a")],
        [j.fail("destroy", "destroy exited 1"), j.ok("stack-rm"), j.ok("kind-delete")],
        echo=lambda _line: None,
    )
    assert j.ran == ["a", "destroy", "stack-rm", "kind-delete"]
    assert report.exit_code == 1
    assert report.failed_step is None
    assert [r.name for r in report.failed_teardown] == ["destroy"]
    assert "e2e teardown FAILED at step 'destroy': destroy exited 1" in report.summary()


def test_a_skipped_step_is_not_a_failure():
    j = Journal()
    report = run_steps([j.ok("a")], [j.skip("kind-delete")], echo=lambda _line: None)
    assert report.exit_code == 0
    assert report.results[-1].status is Status.SKIPPED
    assert report.results[-1].error == "nothing to do"


def test_ctrl_c_during_a_step_still_runs_teardown():
    j = Journal()

    def interrupted() -> None:
        raise KeyboardInterrupt

    report = run_steps([Step("pulumi-up", "pulumi up", interrupted)], [j.ok("destroy")], echo=lambda _l: None)
    assert j.ran == ["destroy"]
    assert report.failed_step is not None
    assert report.failed_step.error == "KeyboardInterrupt"


def test_each_step_prints_its_name_what_it_runs_and_its_duration():
    j = Journal()
    lines: list[str] = []
    clock = FakeClock(step=1.5)
    run_steps([j.ok("preflight")], [j.ok("destroy")], echo=lines.append, clock=clock)
    assert lines == [
        "==> [1/1] preflight: run preflight",
        "<== preflight ok in 1.5s",
        "==> [teardown 1/1] destroy: run destroy",
        "<== destroy ok in 1.5s",
    ]


def test_results_keep_phase_and_duration():
    j = Journal()
    report = run_steps([j.fail("a")], [j.ok("b")], echo=lambda _l: None, clock=FakeClock(step=2.0))
    assert [(r.name, r.phase, r.status) for r in report.results] == [
        ("a", Phase.RUN, Status.FAILED),
        ("b", Phase.TEARDOWN, Status.OK),
    ]
    assert [r.seconds for r in report.results] == pytest.approx([2.0, 2.0])
