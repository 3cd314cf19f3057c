"""The Pulumi program as a function: `infra/__main__.py` runs it, and so can an inline Automation API
stack."""

import pulumi

from infra.config import load_stack_config
from infra.mlops_platform import build, export
from infra.preflight import preflight
from infra.schema import schema_defaults


def program() -> None:
    """Config errors and missing tools stop the program before any resource is declared."""
    cfg = load_stack_config(pulumi.Config(), pulumi.get_stack(), schema_defaults())
    preflight(cfg)
    export(build(cfg))
