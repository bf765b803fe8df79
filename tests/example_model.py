"""The example workspace's fake model: answers each suite case with its fixture output.

Used to record ``recordings/cache.jsonl`` and by the end-to-end tests.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fakeserver import Responder, outputs_responder

FIXTURES = Path(__file__).parent / "fixtures" / "example_outputs.yaml"


def responder(root: Path, edit: Callable[[str, str, str], str] | None = None) -> Responder:
    return outputs_responder(FIXTURES, root, edit)
