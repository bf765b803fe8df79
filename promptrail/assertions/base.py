"""Assertions: the types, the registry, and how a suite's specs become assertion objects.

An assertion is a pydantic model whose fields are its options (typed, checked when the suite
loads: an unknown or mistyped option is a usage error naming the suite's file and line, never a
TypeError mid-run), with one ``evaluate(ctx)`` method. Kinds are plugins (``promptrail.plugins``): the built-ins are ``promptrail.assertions``
entry points like any third party's, a workspace adds ``assertions/NAME.py``, and code may
register one with ``@assertion("name")``. An exception inside ``evaluate`` is an *error* of
that assertion, never a failure.
"""

from __future__ import annotations

import asyncio
import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

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
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # {name, arguments}
    tools: list[dict[str, Any]] = field(default_factory=list)  # the prompt's tools
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


class Assertion(BaseModel):
    """Subclass, declare the options as annotated fields, implement ``evaluate``."""

    model_config = ConfigDict(extra="forbid", strict=True, arbitrary_types_allowed=True)
    _type: str = PrivateAttr(default="")
    # A synchronous ``evaluate`` runs in a worker thread unless its class says it is cheap:
    # the event loop that times every call in flight must never wait on a slow check.
    inline: ClassVar[bool] = False
    # Which way is better for this assertion's score: "higher" (a quality score, compared
    # with the baseline by the regression gate) or "lower" (a budget such as latency or cost,
    # judged by its own threshold and never as a fall in quality).
    direction: ClassVar[str] = "higher"

    @property
    def type(self) -> str:
        """The name the suite used (``json-path``, ``deepeval:GEval``)."""
        return self._type or type(self).__name__

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

        plugins.register("assertion", name, cls)
        return cls

    return register


def lookup(name: str, root: Any = None) -> type[Assertion] | None:
    """The class of assertion kind ``name``; ``family:member`` names the family's class."""
    from promptrail import plugins

    family = name.split(":", 1)[0] if ":" in name else name
    cls: type[Assertion] | None = plugins.find("assertion", family, root)
    return cls


def direction_of(name: str, root: Any = None) -> str:
    """The direction of an assertion kind's score; an unknown kind counts as a quality score."""
    if name.startswith("deepeval:"):
        return "higher"  # every deepeval metric scores 0..1, higher is better
    try:
        cls = lookup(name, root)
    except Exception:  # noqa: BLE001 - a kind that no longer loads: treat it as quality
        return "higher"
    return str(getattr(cls, "direction", "higher")) if cls is not None else "higher"


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
        config = {"metric": name.split(":", 1)[1], "options": config}
    try:
        obj: Assertion = cls.model_validate(config)
    except ValidationError as exc:
        raise option_error(name, cls, exc, where) from None
    obj._type = name
    try:
        obj.check(AssertionContext(output="", vars={}))
    except ValueError as exc:
        raise UsageError(f"{name}: {exc}", file=where) from None
    return obj


class OptionError(UsageError):
    """A wrong option of an assertion; ``option`` names it, for the line in the suite."""

    def __init__(self, message: str, file: str | None, option: str | None) -> None:
        super().__init__(message, file=file, kind="assertion-option")
        self.option = option


def option_error(name: str, cls: Any, exc: ValidationError, where: str | None) -> OptionError:
    errors = exc.errors()
    # an unknown key first: a typo ('valeu') also makes the real option look missing
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = [str(p) for p in err["loc"]]
    fields = list(getattr(cls, "model_fields", {}))
    if err["type"] == "extra_forbidden":
        key = loc[0]
        hint = difflib.get_close_matches(key, fields, n=1)
        suffix = (
            f"; did you mean {hint[0]!r}?"
            if hint
            else f" (it takes: {', '.join(sorted(fields)) or 'nothing'})"
        )
        return OptionError(f"{name}: unknown option {key!r}{suffix}", where, key)
    option = loc[0] if loc else None
    # a union type (text, a number, or a list of them) fails once per member: say them all
    msgs: list[str] = []
    for e in errors:
        if e["loc"][:1] == err["loc"][:1] and e["msg"] not in msgs:
            msgs.append(e["msg"])
    msg = msgs[0]
    if len(msgs) > 1 and all(m.startswith("Input should be ") for m in msgs):
        msg = "Input should be " + " or ".join(m.removeprefix("Input should be ") for m in msgs)
    shown = "" if err["type"] == "missing" else f" (got {spec_value(exc, option)!r})"
    what = f"option {option!r}: " if option else ""
    return OptionError(f"{name}: {what}{msg}{shown}", where, option)


def spec_value(exc: ValidationError, option: str | None) -> Any:
    """The value the suite gave for ``option`` (not a union member's view of it)."""
    for e in exc.errors():
        if option is not None and e["loc"][:1] == (option,) and len(e["loc"]) == 1:
            return e.get("input")
    return next((e.get("input") for e in exc.errors() if e["loc"][:1] == (option,)), None)


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
            if not isinstance(out, AssertionResult):
                raise TypeError(f"evaluate returned {type(out).__name__}, not an AssertionResult")
            return out
        except OperationalError:
            raise
        except Exception as exc:  # noqa: BLE001 - an evaluator's exception is an error
            return AssertionResult(a.type, "error", None, None, f"{type(exc).__name__}: {exc}")

    if len(assertions) == 1 or not any(a.type.startswith("deepeval:") for a in assertions):
        return [await one(a) for a in assertions]
    return list(await asyncio.gather(*(one(a) for a in assertions)))
