"""Real-cluster end-to-end run on kind (docs/e2e-kind.md); the logic is the `e2e` package."""

from e2e.cli import main

raise SystemExit(main())
