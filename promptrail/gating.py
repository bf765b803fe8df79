"""The gate interface and the registry that finds gates.

A gate is a class with a ``name`` and ``run(ctx) -> GateResult``. Built-in gates live in the
top-level ``gates`` package and are ``promptrail.gates`` entry points; a team adds one the same
way, or drops a module with a ``Gate`` subclass into its workspace's ``gates/`` folder. All of
them are found by ``promptrail.plugins``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from promptrail.evaluate import Evaluator, SuiteRun
    from promptrail.resolve import ResolvedPrompt
    from promptrail.workspace import Workspace

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

    ws: Workspace
    resolved: ResolvedPrompt  # the candidate
    env: str | None
    settings: dict[str, Any]  # workspace < environment < prompt settings for this gate
    evaluator: Evaluator | None = None  # None for lint-only runs
    baseline: ResolvedPrompt | None = None  # the version live in env, or None

    def candidate_eval(self) -> SuiteRun:
        if self.evaluator is None:
            raise RuntimeError("this gate needs an evaluation, but the run has no evaluator")
        return self.evaluator.evaluate(self.resolved, role="candidate")

    def baseline_eval(self) -> SuiteRun | None:
        if self.baseline is None or self.evaluator is None:
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
