"""The example workspace's fake model: answers each suite case with its fixture output.

Used to record ``recordings/cache.jsonl`` and by the end-to-end tests. The map is keyed by the
rendered last user message, which is unique per case.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from fakeserver import last_user

from promptrail.render import render_messages
from promptrail.suites import load_suite
from promptrail.workspace import Workspace

FIXTURES = Path(__file__).parent / "fixtures" / "example_outputs.yaml"


def outputs_by_message(root: Path, edit: Callable[[str, str, str], str] | None = None) -> \
        dict[str, str]:
    """Rendered user message -> the fixture output (optionally edited per prompt and case)."""
    outputs = yaml.safe_load(FIXTURES.read_text())
    ws = Workspace(root)
    table = {}
    for name in ws.prompt_names():
        suite = load_suite(ws, name)
        if suite is None:
            continue
        resolved = ws.resolve(name)
        for case in suite.cases:
            messages = render_messages(resolved, case.vars)
            user = [m["content"] for m in messages if m["role"] == "user"][-1]
            out = outputs.get(name, {}).get(case.id, "")
            table[user] = edit(name, case.id, out) if edit else out
    return table


def responder(root: Path, edit: Callable[[str, str, str], str] | None = None) -> \
        Callable[[dict[str, Any], str], str]:
    table = outputs_by_message(root, edit)

    def answer(body: dict[str, Any], protocol: str) -> str:
        return table.get(last_user(body), "I don't know.")

    return answer
