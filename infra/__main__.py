"""Pulumi entry point (`main: infra/`): read and validate config, check tools, declare the platform."""

from infra.program import program

program()
