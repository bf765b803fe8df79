"""A team's own checks, packaged as a plugin: the example of docs/extending.md.

Registered by entry points (tests/plugin_example/entry_points.txt) or, for the gate and the
assertion, dropped into a workspace's gates/ and assertions/ folders; tests/test_custom_gate.py
does both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from promptrail.assertions import Assertion, AssertionContext, AssertionResult
from promptrail.fsutil import write_atomic
from promptrail.gating import Gate, GateContext, GateResult
from promptrail.targets import Target, TargetError


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


class ManifestTarget(Target):
    """``{kind: manifest, path: dist/prompts.json}``: every promoted bundle in one JSON file."""

    kind = "manifest"

    @property
    def path(self) -> Path:
        return Path(self.ws.root) / str(self.ws.inside(str(self.spec["path"]), "promptrail.yaml"))

    def deployed(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TargetError(f"{self.path}: {exc}", kind="garbage") from None
        return dict(data)

    def deploy(self, bundle: dict[str, Any]) -> None:
        self._write({**self.deployed(), bundle["name"]: bundle})

    def remove(self, name: str) -> None:
        self._write({k: v for k, v in self.deployed().items() if k != name})

    def _write(self, bundles: dict[str, dict[str, Any]]) -> None:
        write_atomic(self.path, json.dumps(bundles, indent=2, sort_keys=True) + "\n")
