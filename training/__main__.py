"""`python -m training`: parse config, train, print the decision; one-line errors, documented exit codes."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Sequence
from dataclasses import replace

from training.config import ConfigError, TrainConfig
from training.tracking import TrackingUnavailableError
from training.train import TrainResult, train

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_TRACKING_UNAVAILABLE = 3


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _summary(result: TrainResult) -> str:
    champion = (
        "none"
        if result.champion_score is None
        else f"{result.champion_score:.4f} (v{result.champion_version_before})"
    )
    verdict = "PROMOTED to champion" if result.promoted else "NOT promoted"
    return (
        f"{result.model_name} v{result.model_version}: {verdict}: {result.reason}\n"
        f"  candidate {result.gate_metric}={result.candidate_score:.4f}, "
        f"champion {result.gate_metric}={champion}\n"
        f"  run {result.run_id}, trained in {result.duration_seconds:.1f}s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    # Targets are integer class labels by design; MLflow's hint about missing integers does not apply.
    warnings.filterwarnings("ignore", message=r".*Hint: Inferred schema contains integer column")
    # A path-like dataset source matches two equivalent MLflow source types; either is right.
    warnings.filterwarnings("ignore", message=r"The specified dataset source can be interpreted in multiple")
    # MLflow's INFO chatter (uv project detection, registration waits) buries the lines that matter; our own
    # report says what was registered and decided. Its pip-version probe fails harmlessly in uv venvs.
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)
    try:
        cfg = TrainConfig.from_sources(sys.argv[1:] if argv is None else argv, os.environ)
        if cfg.git_commit is None:
            cfg = replace(cfg, git_commit=_git_commit())
        result = train(cfg, report=lambda line: print(line, flush=True))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except TrackingUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_TRACKING_UNAVAILABLE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # one line, no traceback: the run itself is already marked FAILED in MLflow
        print(f"error: training failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(_summary(result), flush=True)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
