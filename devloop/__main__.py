"""`python -m devloop`: the whole platform as local processes, until Ctrl-C."""

from __future__ import annotations

import io
import signal
import sys
import time
from types import FrameType

from devloop.adaptation import require_fresh_state, run_demo
from devloop.config import DevLoopConfigError, parse_args
from devloop.local_platform import DevLoopError, LocalPlatform


class _Stop(Exception):
    """SIGTERM/SIGINT: leave the wait loop and tear down."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001 - signal handler signature
    raise _Stop


def main(argv: list[str] | None = None) -> int:
    """0 after a clean stop (or a passed --check), 1 if a step failed, 2 on bad flags."""
    try:
        cfg = parse_args(sys.argv[1:] if argv is None else argv)
    except DevLoopConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Progress lines as they happen, also into a pipe (CI logs, a test waiting for "platform ready").
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    platform = LocalPlatform(cfg)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    try:
        if cfg.demo_drift is not None:
            require_fresh_state(platform)
        platform.up()
        ready_in = time.monotonic() - platform.started_at
        print(f"\nplatform ready in {ready_in:.1f}s (state kept in {cfg.state_dir})")
        for name, url in platform.urls().items():
            print(f"  {name:<13} {url}")
        print(
            f"\ntry: curl -s -X POST {cfg.serving_url}/v1/predict -H 'content-type: application/json' "
            "-d @examples/predict.json"
        )
        try:
            print(f"  -> predictions: {platform.predict_example()}\n")
        except DevLoopError as exc:
            # A custom --dataset may not fit the example's columns: only the check must have predictions.
            if cfg.exit_when_ready:
                raise
            print(f"  -> {exc}\n")
        if cfg.demo_drift is not None:
            passed = run_demo(platform, cfg.demo_drift)
            if cfg.exit_when_ready:
                return 0 if passed else 1
        elif cfg.exit_when_ready:
            print("check passed: the README example returned predictions")
            return 0
        print("Ctrl-C stops everything (registered models are kept for the next start).")
        while True:
            platform.check_alive()
            time.sleep(1)
    except _Stop:
        print("\nstopping...")
        return 0
    except DevLoopError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        # Ignore a second Ctrl-C during teardown so no child is left behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        platform.stop()


if __name__ == "__main__":
    raise SystemExit(main())
