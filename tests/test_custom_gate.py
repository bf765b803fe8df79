"""A team's own gate runs without touching promptrail's code: dropped into gates/, or
registered under the promptrail.gates entry point."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

import gates
from promptrail.errors import UsageError
from promptrail.gating import load_gate

GATE = textwrap.dedent('''
    from promptrail.gating import Gate, GateResult


    class ReadingLevelGate(Gate):
        """Fails prompts whose system message has sentences over 40 words."""

        name = "reading-level"

        def run(self, ctx):
            system = ctx.resolved.messages[0]["content"]
            longest = max(len(s.split()) for s in system.split("."))
            status = "passed" if longest <= ctx.settings.get("max_words", 40) else "failed"
            return GateResult(self.name, status, float(longest),
                              float(ctx.settings.get("max_words", 40)),
                              f"longest sentence: {longest} words")
''')


@pytest.fixture
def dropped_gate(tmp_path: Path):
    """A module dropped into the gates package (a temporary folder on its search path)."""
    folder = tmp_path / "extra_gates"
    folder.mkdir()
    (folder / "reading_level.py").write_text(GATE)
    gates.__path__.append(str(folder))
    yield
    gates.__path__.remove(str(folder))
    sys.modules.pop("gates.reading_level", None)


def test_dropped_in_gate_runs_in_the_flow(
    dropped_gate, workspace: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTRAIL_DB", str(workspace / "s.duckdb"))
    cfg = workspace / "promptrail.yaml"
    cfg.write_text(
        cfg.read_text().replace(
            "  - name: staging\n    gates: [lint, schema, regression, cost]",
            "  - name: staging\n    gates: {lint: {}, reading-level: {max_words: 5}}",
        )
    )
    code, out, err = cli("-C", str(workspace), "gate", "--env", "staging", "--json")
    assert code == 1, err
    gate_results = json.loads(out)["prompts"][0]["gates"]
    assert [(g["gate"], g["status"]) for g in gate_results] == [
        ("lint", "passed"),
        ("reading-level", "failed"),
    ]
    assert "longest sentence" in gate_results[1]["summary"]


def test_entry_point_gate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from importlib import metadata

    (tmp_path / "team_gates.py").write_text(GATE)
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = metadata.EntryPoint(
        name="reading-level", value="team_gates:ReadingLevelGate", group="promptrail.gates"
    )
    real = metadata.entry_points
    monkeypatch.setattr(
        metadata,
        "entry_points",
        lambda **kw: [ep] if kw.get("group") == "promptrail.gates" else real(**kw),
    )
    assert type(load_gate("reading-level")).__name__ == "ReadingLevelGate"


def test_builtins_load_through_the_same_registry() -> None:
    assert [load_gate(n).name for n in ("lint", "schema", "regression", "cost")] == [
        "lint",
        "schema",
        "regression",
        "cost",
    ]
    with pytest.raises(UsageError, match="unknown gate 'nope'"):
        load_gate("nope")
