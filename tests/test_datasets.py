"""Datasets: their own size cap (configurable), apart from the 1 MiB cap on YAML files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptrail.errors import UsageError

PROMPT = """name: echo
version: 1.0.0
model: {provider: openai, name: gpt-4o-mini}
messages:
  - {role: user, content: 'Ticket {{ ticket }}'}
"""


def workspace(root: Path, rows: int, limits: str = "") -> Path:
    (root / "prompts").mkdir(parents=True)
    (root / "suites/data").mkdir(parents=True)
    (root / "promptrail.yaml").write_text(f"environments: [{{name: dev}}]\n{limits}")
    (root / "prompts/echo.yaml").write_text(PROMPT)
    (root / "suites/echo.yaml").write_text(
        "prompt: echo\ndefaults:\n  assert:\n    - {type: contains, value: Ticket}\n"
        "dataset: data/rows.jsonl\n"
    )
    padding = "x" * 200
    with (root / "suites/data/rows.jsonl").open("w") as fh:
        for i in range(rows):
            fh.write(json.dumps({"id": f"r{i}", "vars": {"ticket": f"{i} {padding}"}}) + "\n")
    return root


def test_a_dataset_over_one_mebibyte_loads(tmp_path: Path) -> None:
    from promptrail.suites import load_suite
    from promptrail.workspace import Workspace

    root = workspace(tmp_path / "ws", rows=6000)
    assert (root / "suites/data/rows.jsonl").stat().st_size > 1024 * 1024
    suite = load_suite(Workspace(str(root)), "echo")
    assert suite is not None and len(suite.cases) == 6000
    assert suite.cases[5999].vars["ticket"].startswith("5999 ")
    assert [a.type for a in suite.cases[0].assertions] == ["contains"]


def test_the_dataset_cap_is_configurable_and_named(tmp_path: Path, cli) -> None:
    root = workspace(tmp_path / "ws", rows=100, limits="limits: {dataset_bytes: 4096}\n")
    from promptrail.suites import load_suite
    from promptrail.workspace import Workspace

    with pytest.raises(UsageError) as err:
        load_suite(Workspace(str(root)), "echo")
    assert err.value.file == "suites/data/rows.jsonl"
    assert "limit for datasets (limits.dataset_bytes) is 4,096" in err.value.message
    code, out, stderr = cli("-C", str(root), "gate", "--cache", "replay")
    assert code == 2 and "suites/data/rows.jsonl" in stderr and "Traceback" not in stderr


def test_yaml_files_keep_their_one_mebibyte_cap(tmp_path: Path, cli) -> None:
    root = workspace(tmp_path / "ws", rows=1)
    big = "\n".join(f"  - {{id: c{i}, vars: {{ticket: '{'y' * 200}'}}}}" for i in range(6000))
    (root / "suites/echo.yaml").write_text(f"prompt: echo\ncases:\n{big}\n")
    code, out, stderr = cli("-C", str(root), "gate", "--cache", "replay")
    assert code == 2 and "suites/echo.yaml" in stderr and "1,048,576" in stderr
