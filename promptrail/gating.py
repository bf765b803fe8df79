"""The gate interface and the registry that finds gates.

A gate is a class with a ``name`` and ``run(ctx) -> GateResult``. Built-in gates live in the
top-level ``gates`` package; a team adds one by dropping a module with a ``Gate`` subclass into
``gates/`` or by registering it under the ``promptrail.gates`` entry point. Both paths go
through ``load_gate``; the built-ins are registered as entry points too.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any, ClassVar

from promptrail.errors import UsageError

STATUSES = ("passed", "failed", "error", "skipped")


@dataclass
class GateResult:
    gate: str
    status: str  # passed | failed | error | skipped
    score: float | None = None
    threshold: float | None = None
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "status": self.status,
            "score": self.score,
            "threshold": self.threshold,
            "summary": self.summary,
        }


@dataclass
class GateContext:
    """What a gate sees: the candidate, where it is going, and lazily run evaluations."""

    ws: Any
    resolved: Any  # the candidate ResolvedPrompt
    env: str | None
    settings: dict[str, Any]  # workspace < environment < prompt settings for this gate
    evaluator: Any = None  # promptrail.evaluate.Evaluator, or None for lint-only runs
    baseline: Any = None  # the ResolvedPrompt live in env, or None

    def candidate_eval(self) -> Any:
        return self.evaluator.evaluate(self.resolved, role="candidate")

    def baseline_eval(self) -> Any:
        if self.baseline is None:
            return None
        return self.evaluator.evaluate(self.baseline, role="baseline")


class Gate:
    name: ClassVar[str] = ""
    needs_eval: ClassVar[bool] = False

    def run(self, ctx: GateContext) -> GateResult:  # pragma: no cover - interface
        raise NotImplementedError


def load_gate(name: str) -> Gate:
    """A gate by name: a module in ``gates/`` or a ``promptrail.gates`` entry point."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="promptrail.gates"):
        if ep.name == name:
            return _instantiate(ep.load(), name)
    try:
        module = importlib.import_module(f"gates.{name.replace('-', '_')}")
    except ModuleNotFoundError as exc:
        if exc.name not in (f"gates.{name.replace('-', '_')}", "gates"):
            raise
        raise UsageError(
            f"unknown gate {name!r}: no module gates/{name}.py and no "
            "'promptrail.gates' entry point of that name",
            file="promptrail.yaml",
        ) from None
    for _, obj in inspect.getmembers(module, inspect.isclass):
        if issubclass(obj, Gate) and obj is not Gate and obj.__module__ == module.__name__:
            return _instantiate(obj, name)
    raise UsageError(f"gates/{name}.py defines no Gate subclass", file=f"gates/{name}.py")


def _instantiate(obj: Any, name: str) -> Gate:
    gate = obj() if isinstance(obj, type) else obj
    if not getattr(gate, "name", ""):
        gate.name = name
    return gate
