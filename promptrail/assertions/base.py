"""Assertions: the types, the registry, and how a suite's specs become assertion objects.

An assertion is a dataclass whose fields are its configuration, with one ``evaluate(ctx)``
method. Kinds are plugins (``promptrail.plugins``): the built-ins are ``promptrail.assertions``
entry points like any third party's, a workspace adds ``assertions/NAME.py``, and code may
register one with ``@assertion("name")``. An exception inside ``evaluate`` is an *error* of
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
    # A synchronous ``evaluate`` runs in a worker thread unless its class says it is cheap:
    # the event loop that times every call in flight must never wait on a slow check.
    inline: ClassVar[bool] = False

    def evaluate(self, ctx: AssertionContext) -> Any:  # AssertionResult, or an awaitable of one
        raise NotImplementedError

    def prepare(self) -> None:
        """Slow one-off set-up (importing a library, say), run before the suite's calls
        start and off the event loop."""

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


def assertion(name: str) -> Callable[[type[Assertion]], type[Assertion]]:
    """Register an assertion kind from code (``promptrail.plugins.register``)."""

    def register(cls: type[Assertion]) -> type[Assertion]:
        from promptrail import plugins

        cls.type = name
        plugins.register("assertion", name, cls)
        return cls

    return register


def lookup(name: str, root: Any = None) -> type[Assertion] | None:
    """The class of assertion kind ``name``; ``family:member`` names the family's class."""
    from promptrail import plugins

    family = name.split(":", 1)[0] if ":" in name else name
    cls: type[Assertion] | None = plugins.find("assertion", family, root)
    return cls


def parse_assertion(spec: dict[str, Any], where: str | None = None, root: Any = None) -> Assertion:
    if not isinstance(spec, dict) or "type" not in spec:
        raise UsageError(f"an assertion needs a `type`, got {spec!r}", file=where)
    name = str(spec["type"])
    cls = lookup(name, root)
    if cls is None:
        from promptrail import plugins

        known = plugins.names("assertion", root)
        hint = difflib.get_close_matches(name, known, n=1)
        suffix = f"; did you mean {hint[0]!r}?" if hint else f" (known: {', '.join(known)})"
        raise UsageError(f"unknown assertion type {name!r}{suffix}", file=where)
    config = {k: v for k, v in spec.items() if k != "type"}
    if ":" in name:
        # a family (deepeval:GEval): the member and the options go to the family's class
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
            if a.inline or inspect.iscoroutinefunction(a.evaluate):
                out = a.evaluate(ctx)
            else:
                out = await asyncio.to_thread(a.evaluate, ctx)
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
