"""Real-cluster end-to-end run: a throwaway kind stack brought up with Pulumi, smoke-checked, torn down.

`python scripts/e2e_kind.py` (or `python -m e2e`); see docs/e2e-kind.md.
"""
