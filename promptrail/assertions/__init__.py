"""Assertions on model outputs: deterministic kinds and deepeval metrics, one registry."""

from promptrail.assertions import builtin as _builtin  # noqa: F401 - registers the built-ins
from promptrail.assertions.base import (
    REGISTRY,
    Assertion,
    AssertionContext,
    AssertionResult,
    Judge,
    assertion,
    parse_assertion,
    run_assertions,
)

__all__ = [
    "REGISTRY",
    "Assertion",
    "AssertionContext",
    "AssertionResult",
    "Judge",
    "assertion",
    "parse_assertion",
    "run_assertions",
]
