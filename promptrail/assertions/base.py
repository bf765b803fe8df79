"""Assertions: the types, the registry, and how a suite's specs become assertion objects.

An assertion is a dataclass whose fields are its configuration, with one ``evaluate(ctx)``
method. Built-ins register with ``@assertion("name")``, exactly as third parties do (or through
the ``promptrail.assertions`` entry point). An exception inside ``evaluate`` is an *error* of
that assertion, never a failure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from promptrail.errors import OperationalError, UsageError


class Judge(Protocol):
    model_name: str

    async def generate(self, prompt: str) -> str: ...


@dataclass
class AssertionContext:
    output: str
    vars: dict[str, Any]
    input_text: str = ""
    output_schema: dict[str, Any] | None = None
    latency_ms: float | None = None
    cost_usd: float | None = None
    judge: Judge | None = None


@dataclass
class AssertionResult:
    type: str
    status: str  # passed | failed | error
    score: float | None
    threshold: float | None
    reason: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"


class Assertion:
    type: ClassVar[str] = ""

    def evaluate(self, ctx: AssertionContext) -> Any:  # AssertionResult, or an awaitable of one
        raise NotImplementedError

    def check(self, ctx: AssertionContext) -> None:
        """Validate configuration at load time; raise ValueError with a clear message."""

    def result(
        self, ok: bool, reason: str, score: float | None = None, threshold: float | None = None
    ) -> AssertionResult:
        return AssertionResult(
            self.type,
            "passed" if ok else "failed",
            score if score is not None else (1.0 if ok else 0.0),
            threshold,
            reason,
        )


REGISTRY: dict[str, type[Assertion]] = {}


def assertion(name: str) -> Callable[[type[Assertion]], type[Assertion]]:
    def register(cls: type[Assertion]) -> type[Assertion]:
        cls.type = name
        REGISTRY[name] = cls
        return cls

    return register


def _lookup(name: str) -> type[Assertion] | None:
    if name in REGISTRY:
        return REGISTRY[name]
    if name.startswith("deepeval:"):
        from promptrail.assertions.deepeval_metrics import DeepEvalMetric

        return DeepEvalMetric
    from importlib.metadata import entry_points

    for ep in entry_points(group="promptrail.assertions"):
        if ep.name == name:
            cls = ep.load()
            REGISTRY[name] = cls
            cls.type = name
            return cls
    return None


def parse_assertion(spec: dict[str, Any], where: str | None = None) -> Assertion:
    if not isinstance(spec, dict) or "type" not in spec:
        raise UsageError(f"an assertion needs a `type`, got {spec!r}", file=where)
    name = str(spec["type"])
    cls = _lookup(name)
    if cls is None:
        hint = difflib.get_close_matches(name, list(REGISTRY), n=1)
        suffix = (
            f"; did you mean {hint[0]!r}?"
            if hint
            else f" (known: {', '.join(sorted(REGISTRY))}, deepeval:<Metric>)"
        )
        raise UsageError(f"unknown assertion type {name!r}{suffix}", file=where)
    config = {k: v for k, v in spec.items() if k != "type"}
    if name.startswith("deepeval:"):
        obj: Assertion = cls(metric=name.split(":", 1)[1], options=config)  # type: ignore[call-arg]
    else:
        fields: set[str] = (
            {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
        )
        unknown = set(config) - fields
        if unknown:
            key = sorted(unknown)[0]
            hint = difflib.get_close_matches(key, list(fields), n=1)
            suffix = (
                f"; did you mean {hint[0]!r}?"
                if hint
                else f" (it takes: {', '.join(sorted(fields)) or 'nothing'})"
            )
            raise UsageError(f"{name}: unknown option {key!r}{suffix}", file=where)
        try:
            obj = cls(**config)
        except TypeError as exc:
            raise UsageError(f"{name}: {exc}", file=where) from None
    try:
        obj.type = name  # type: ignore[misc]
        obj.check(AssertionContext(output="", vars={}))
    except ValueError as exc:
        raise UsageError(f"{name}: {exc}", file=where) from None
    return obj


async def run_assertions(
    assertions: list[Assertion], ctx: AssertionContext
) -> list[AssertionResult]:
    async def one(a: Assertion) -> AssertionResult:
        try:
            out = a.evaluate(ctx)
            if inspect.isawaitable(out):
                out = await out
            return out
        except OperationalError:
            raise
        except Exception as exc:  # noqa: BLE001 - an evaluator's exception is an error
            return AssertionResult(a.type, "error", None, None, f"{type(exc).__name__}: {exc}")

    if len(assertions) == 1 or not any(a.type.startswith("deepeval:") for a in assertions):
        return [await one(a) for a in assertions]
    return list(await asyncio.gather(*(one(a) for a in assertions)))
