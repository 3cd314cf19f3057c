"""`python -m previews`: the preview-stack CLI."""

from previews.cli import main

raise SystemExit(main())
