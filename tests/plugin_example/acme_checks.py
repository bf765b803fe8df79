"""A team's own checks, packaged as a plugin: the example of docs/extending.md.

Registered by entry points (tests/plugin_example/entry_points.txt) or dropped into a
workspace's gates/ and assertions/ folders; tests/test_plugins.py does both.
"""

from __future__ import annotations

from promptrail.assertions import Assertion, AssertionContext, AssertionResult
from promptrail.gating import Gate, GateContext, GateResult


class ReadingLevelGate(Gate):
    """Fails prompts whose system message has a sentence longer than ``max_words``."""

    name = "reading-level"

    def run(self, ctx: GateContext) -> GateResult:
        limit = int(ctx.settings.get("max_words", 40))
        system = ctx.resolved.messages[0]["content"]
        longest = max(len(s.split()) for s in system.split("."))
        status = "passed" if longest <= limit else "failed"
        return GateResult(
            self.name, status, float(longest), float(limit), f"longest sentence: {longest} words"
        )


class WordCount(Assertion):
    """``{type: word-count, max: 50}``: the output has at most ``max`` words."""

    max: int = 50  # an option: typed, checked when the suite loads

    def evaluate(self, ctx: AssertionContext) -> AssertionResult:
        n = len(ctx.output.split())
        return self.result(n <= self.max, f"{n} words (max {self.max})")
