"""`python -m e2e`: the real-cluster end-to-end run."""

from e2e.cli import main

raise SystemExit(main())
