"""The gate interface and the registry that finds gates.

A gate is a class with a ``name`` and ``run(ctx) -> GateResult``. Built-in gates live in the
top-level ``gates`` package and are ``promptrail.gates`` entry points; a team adds one the same
way, or drops a module with a ``Gate`` subclass into its workspace's ``gates/`` folder. All of
them are found by ``promptrail.plugins``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

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


def load_gate(name: str, root: Any = None) -> Gate:
    """A gate by name: a ``promptrail.gates`` entry point, or ``gates/NAME.py`` in the
    workspace at ``root`` (``promptrail.plugins``)."""
    from promptrail import plugins

    obj = plugins.get("gate", name, root, file="promptrail.yaml")
    gate = obj() if isinstance(obj, type) else obj
    if not getattr(gate, "name", ""):
        gate.name = name
    return gate  # type: ignore[no-any-return]
