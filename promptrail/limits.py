"""Bounds on the work hostile input can cause: one place for every limit and its default.

Everything a pull request can change is untrusted, so each kind of work it can trigger is
bounded; going over a bound is a clear error naming the file (exit 2) or the provider or target
(exit 3), never a hang. A workspace raises (or lowers) them in the ``limits:`` section of
``promptrail.yaml``; ``docs/security.md`` lists them. The values in force are process-wide and
set when a workspace's config is loaded (``configure``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class Limits:
    # files
    file_bytes: int = 1024 * 1024  # a workspace file read whole (YAML, JSON, template)
    dataset_bytes: int = 256 * 1024 * 1024  # a suite's JSONL/CSV dataset
    yaml_nodes: int = 1_000_000  # YAML nodes after aliases are expanded (alias bombs)
    # templates (prompts and report templates)
    template_seconds: float = 10.0  # wall time of one render
    template_output_chars: int = 2_000_000  # characters one render may produce
    template_range: int = 10_000  # items one range() may produce
    template_depth: int = 50  # nested calls (macros, recursion)
    # network: providers, http targets, webhooks
    provider_response_bytes: int = 16 * 1024 * 1024  # per response, compressed or not
    http_seconds: float = 10.0  # total deadline of one http target or webhook request
    http_response_bytes: int = 5 * 1024 * 1024  # per response, compressed or not


DEFAULTS = Limits()
_current = DEFAULTS


def current() -> Limits:
    return _current


def configure(values: dict[str, Any] | Limits | None) -> Limits:
    """Set the limits in force from a ``limits:`` mapping (unset keys keep their default)."""
    global _current
    if isinstance(values, Limits):
        _current = values
    else:
        _current = replace(DEFAULTS, **(values or {}))
    return _current


def names() -> list[str]:
    return [f.name for f in fields(Limits)]
