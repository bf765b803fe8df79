"""Assertions on model outputs: deterministic kinds and deepeval metrics, one registry."""

from promptrail.assertions.base import (
    Assertion,
    AssertionContext,
    AssertionResult,
    Judge,
    assertion,
    lookup,
    parse_assertion,
    run_assertions,
)

__all__ = [
    "Assertion",
    "AssertionContext",
    "AssertionResult",
    "Judge",
    "assertion",
    "lookup",
    "parse_assertion",
    "run_assertions",
]
