"""`python -m engine`: build (or find) the engine tier's tools; exit 1 naming what failed."""

from __future__ import annotations

import sys
import time

from engine.tools import ToolsError, ensure_tools


def main() -> int:
    """0 when every tool is in the cache, 1 with the reason otherwise."""
    started = time.monotonic()
    try:
        toolbox = ensure_tools(progress=lambda line: print(line, flush=True))
    except ToolsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"engine tools ready in {time.monotonic() - started:.0f}s:")
    for directory in toolbox.bin_dirs:
        print(f"  {directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
