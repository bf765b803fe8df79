"""A team's own gates and assertions run without touching promptrail's code: dropped into the
workspace's gates/ (or assertions/) folder, or installed as a distribution with entry points.
The plugin is tests/plugin_example/acme_checks.py, the example of docs/extending.md."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from promptrail import plugins
from promptrail.errors import UsageError
from promptrail.gating import load_gate

EXAMPLE = Path(__file__).parent / "plugin_example"


def install_dist(site: Path, name: str, modules: list[Path], entry_points: str) -> None:
    """A real installed distribution: modules plus a ``.dist-info`` with ``entry_points.txt``,
    on ``sys.path`` (what ``pip install`` leaves in site-packages)."""
    site.mkdir(parents=True, exist_ok=True)
    for module in modules:
        shutil.copy(module, site / module.name)
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def acme_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    site = tmp_path / "site"
    install_dist(
        site,
        "acme-checks",
        [EXAMPLE / "acme_checks.py"],
        (EXAMPLE / "entry_points.txt").read_text(),
    )
    monkeypatch.syspath_prepend(str(site))
    plugins.refresh()
    yield site
    plugins.refresh()
    sys.modules.pop("acme_checks", None)


def _use_reading_level(root: Path) -> None:
    cfg = root / "promptrail.yaml"
    cfg.write_text(
        cfg.read_text().replace(
            "  - name: staging\n    gates: [lint, schema, regression, cost]",
            "  - name: staging\n    gates: {lint: {}, reading-level: {max_words: 5}}",
        )
    )


def test_workspace_gates_folder_runs_in_the_flow(
    workspace: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTRAIL_DB", str(workspace / "s.duckdb"))
    (workspace / "gates").mkdir()
    shutil.copy(EXAMPLE / "acme_checks.py", workspace / "gates" / "reading_level.py")
    _use_reading_level(workspace)
    # the module also defines an assertion: a gates/ module's one Gate subclass is the gate
    code, out, err = cli("-C", str(workspace), "gate", "--env", "staging", "--json")
    assert code == 1, err
    gate_results = json.loads(out)["prompts"][0]["gates"]
    assert [(g["gate"], g["status"]) for g in gate_results] == [
        ("lint", "passed"),
        ("reading-level", "failed"),
    ]
    assert "longest sentence" in gate_results[1]["summary"]
    code, out, _ = cli("-C", str(workspace), "plugins", "--kind", "gate", "--json")
    listed = {p["name"]: p for p in json.loads(out)["plugins"]}
    assert listed["reading-level"]["source"] == "workspace"
    assert listed["reading-level"]["ref"] == "gates/reading_level.py"
    assert listed["lint"]["source"].startswith("promptrail ")


def test_a_broken_workspace_gate_is_a_usage_error_naming_its_file(
    workspace: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTRAIL_DB", str(workspace / "s.duckdb"))
    (workspace / "gates").mkdir()
    (workspace / "gates" / "reading_level.py").write_text("import os\n\ndef broken(:\n")
    _use_reading_level(workspace)
    code, _, err = cli("-C", str(workspace), "gate", "--env", "staging")
    assert code == 2
    assert "gates/reading_level.py:3" in err and "SyntaxError" in err
    assert "Traceback" not in err


def test_installed_distribution_adds_gate_and_assertion(acme_installed, workspace: Path, cli):
    gate = load_gate("reading-level")
    assert type(gate).__name__ == "ReadingLevelGate" and gate.name == "reading-level"
    code, out, _ = cli("-C", str(workspace), "plugins", "--json")
    listed = {(p["kind"], p["name"]): p for p in json.loads(out)["plugins"]}
    assert listed[("gate", "reading-level")]["source"] == "acme-checks 1.0"
    assert listed[("assertion", "word-count")]["ref"] == "acme_checks:WordCount"
    assert listed[("provider", "openai")]["source"].startswith("promptrail ")


def test_builtins_load_through_the_same_registry() -> None:
    assert [load_gate(n).name for n in ("lint", "schema", "regression", "cost")] == [
        "lint",
        "schema",
        "regression",
        "cost",
    ]
    with pytest.raises(UsageError, match="unknown gate 'nope'"):
        load_gate("nope")
    builtin = {p.name: p for p in plugins.available("assertion")}
    assert builtin["json-path"].source.startswith("promptrail ")
    assert {p.name for p in plugins.available("target")} >= {"file", "http"}


def test_workspace_assertions_folder_feeds_suites(workspace: Path) -> None:
    import asyncio

    from promptrail.assertions import AssertionContext, run_assertions
    from promptrail.suites import load_suite
    from promptrail.workspace import Workspace

    (workspace / "assertions").mkdir()
    shutil.copy(EXAMPLE / "acme_checks.py", workspace / "assertions" / "word_count.py")
    suite = workspace / "suites" / "faq-answer.yaml"
    suite.write_text(
        suite.read_text().replace(
            "{type: json-schema}]", "{type: json-schema}, {type: word-count, max: 3}]"
        )
    )
    loaded = load_suite(Workspace(workspace), "faq-answer")
    assert loaded is not None
    word_count = loaded.cases[0].assertions[2]  # defaults first, then the case's own
    assert type(word_count).__name__ == "WordCount" and word_count.type == "word-count"
    ctx = AssertionContext(output="one two three four", vars={})
    [r] = asyncio.run(run_assertions([word_count], ctx))
    assert r.status == "failed" and r.reason == "4 words (max 3)"


def test_installed_target_kind_receives_verified_bundles(acme_installed, workspace: Path) -> None:
    from promptrail.runtime import verify
    from promptrail.targets import load_target, make_bundle
    from promptrail.workspace import Workspace

    ws = Workspace(workspace)
    target = load_target({"kind": "manifest", "path": "dist/prompts.json"}, ws)
    assert type(target).__name__ == "ManifestTarget" and target.label.startswith("manifest:")
    resolved = ws.resolve("faq-answer")
    target.deploy(make_bundle(resolved, "production", "2026-01-01T00:00:00Z", "tester"))
    deployed = load_target({"kind": "manifest", "path": "dist/prompts.json"}, ws).deployed()
    assert verify(deployed["faq-answer"], resolved.content_hash) == resolved.content_hash
    target.remove("faq-answer")
    assert target.deployed() == {}
    with pytest.raises(UsageError, match="unknown target 'manifst'.*did you mean 'manifest'"):
        load_target({"kind": "manifst", "path": "x"}, ws)
