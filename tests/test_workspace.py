"""The workspace core through the real CLI: init, lock, lock --check, render, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from promptrail.hashing import canonical_json, content_hash
from promptrail.lock import LockEntry, format_lock, read_lock, write_lock
from promptrail.workspace import Workspace


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_init_passes_lint_and_lock_check(workspace: Path, cli) -> None:
    code, out, _ = cli("-C", str(workspace), "lock", "--check", "--json")
    assert code == 0 and json.loads(out) == {"status": "ok", "problems": []}
    code, out, _ = cli("-C", str(workspace), "lint", "--json")
    assert code == 0, out
    assert json.loads(out)["errors"] == 0


def test_init_refuses_an_existing_workspace(workspace: Path, cli) -> None:
    code, _, err = cli("init", str(workspace))
    assert code == 2 and "already exists" in err


def test_content_hash_is_canonical() -> None:
    a = {"b": 1.0, "a": "x\r\ny", "c": [1, 2]}
    b = {"c": [1, 2], "a": "x\ny", "b": 1}
    assert canonical_json(a) == canonical_json(b)
    # pinned: the same content hashes the same on every machine and Python version
    assert (
        content_hash({"messages": [{"role": "user", "content": "hé"}]})
        == "sha256:"
        + __import__("hashlib")
        .sha256('{"messages":[{"content":"hé","role":"user"}]}'.encode())
        .hexdigest()
    )


def test_hash_ignores_formatting_but_not_content(workspace: Path) -> None:
    before = Workspace(workspace).resolve("faq-answer").content_hash
    p = workspace / "prompts/faq-answer.yaml"
    edit(
        p,
        "description: Answer a customer question from the FAQ",
        "description:   Answer customers from the FAQ   # reworded",
    )
    assert Workspace(workspace).resolve("faq-answer").content_hash == before
    edit(p, "You answer questions", "You kindly answer questions")
    assert Workspace(workspace).resolve("faq-answer").content_hash != before


def test_lock_round_trip(tmp_path: Path) -> None:
    entries = {
        "b": LockEntry("1.0.0", "sha256:" + "b" * 64, {"tone": "1.0.0"}),
        "a": LockEntry("2.1.3", "sha256:" + "a" * 64, {}),
    }
    path = tmp_path / "environments" / "dev.lock"
    assert write_lock(path, "dev", entries) is True
    assert read_lock(path) == entries
    assert write_lock(path, "dev", entries) is False  # unchanged: not rewritten
    text = path.read_text()
    assert text.index("  a:") < text.index("  b:")  # sorted, diff-friendly
    assert text == format_lock("dev", dict(reversed(list(entries.items()))))


def test_content_change_without_bump_is_caught(workspace: Path, cli) -> None:
    edit(workspace / "prompts/faq-answer.yaml", "You answer questions", "You answer all questions")
    code, out, _ = cli("-C", str(workspace), "lock", "--check", "--json")
    assert code == 1
    problems = json.loads(out)["problems"]
    assert [(p["name"], p["kind"]) for p in problems] == [("faq-answer", "unbumped")]
    code, out, _ = cli("-C", str(workspace), "bump", "faq-answer", "--auto", "--json")
    assert code == 0 and json.loads(out)["to"] == "0.1.1"
    code, out, _ = cli("-C", str(workspace), "lock", "--check", "--json")
    assert code == 1 and json.loads(out)["problems"][0]["kind"] == "stale"
    assert cli("-C", str(workspace), "lock")[0] == 0
    assert cli("-C", str(workspace), "lock", "--check")[0] == 0
    assert read_lock(workspace / "environments/dev.lock")["faq-answer"].version == "0.1.1"


def test_component_change_shows_up_in_every_dependent(workspace: Path, cli) -> None:
    p = workspace / "prompts/second.yaml"
    p.write_text(
        (workspace / "prompts/faq-answer.yaml")
        .read_text()
        .replace("name: faq-answer", "name: second")
    )
    (workspace / "suites/second.yaml").write_text(
        (workspace / "suites/faq-answer.yaml").read_text().replace("faq-answer", "second")
    )
    assert cli("-C", str(workspace), "lock")[0] == 0
    edit(workspace / "components/tone.yaml", "warm, concise", "warm, brief")
    code, out, _ = cli("-C", str(workspace), "lock", "--check", "--json")
    assert code == 1
    names = sorted(p["name"] for p in json.loads(out)["problems"])
    assert names == ["faq-answer", "second", "tone"]  # tone itself changed without a bump


def test_range_that_no_longer_resolves(workspace: Path, cli) -> None:
    edit(workspace / "components/safety.yaml", "version: 1.0.0", "version: 2.0.0")
    code, out, _ = cli("-C", str(workspace), "lock", "--check", "--json")
    assert code == 1
    problem = json.loads(out)["problems"][0]
    assert problem["kind"] == "unresolvable" and "outside the declared range" in problem["message"]


def test_gated_env_is_not_locked_by_hand(workspace: Path, cli) -> None:
    code, _, err = cli("-C", str(workspace), "lock", "--env", "production")
    assert code == 2 and "promote" in err


def test_render_openai_and_anthropic(workspace: Path, cli) -> None:
    code, out, _ = cli(
        "-C",
        str(workspace),
        "render",
        "faq-answer",
        "--var",
        "question=Where is my invoice?",
        "--json",
    )
    assert code == 0, out
    req = json.loads(out)["request"]
    assert req["model"] == "gpt-4o-mini"
    assert (
        req["messages"][0]["role"] == "system" and "Safety rules" in req["messages"][0]["content"]
    )
    assert req["messages"][1]["content"] == "Where is my invoice?"
    code, out, _ = cli(
        "-C",
        str(workspace),
        "render",
        "faq-answer",
        "--var",
        "question=Hi",
        "--provider",
        "anthropic",
        "--json",
    )
    req = json.loads(out)["request"]
    assert "Safety rules" in req["system"] and req["messages"][0]["role"] == "user"


def test_render_validates_vars(workspace: Path, cli) -> None:
    code, out, _ = cli(
        "-C", str(workspace), "render", "faq-answer", "--var", "question=3", "--json"
    )
    assert code == 2
    assert "question" in json.loads(out)["error"]["message"]


# -- bad input: exit 2, file and line, no traceback ------------------------------------------
BAD_PROMPTS = [
    ("malformed YAML", "messages:\n  - role: user\n    content: [unclosed\n", "malformed YAML"),
    ("unknown key", None, "did you mean 'description'"),
    ("wrong type", None, "max_tokens"),
]


def _prompt_text(workspace: Path) -> str:
    return (workspace / "prompts/faq-answer.yaml").read_text()


@pytest.mark.parametrize(
    ("case", "replace", "expect"),
    [
        ("unknown key", ("description:", "descripton:"), "did you mean 'description'"),
        ("wrong type", ("max_tokens: 300", "max_tokens: lots"), "max_tokens"),
        ("bad semver", ("version: 0.1.0", "version: 0.1"), "semantic version"),
        (
            "ref outside",
            ("$ref: schemas/faq_answer.json", "$ref: ../../etc/passwd"),
            "leaves the workspace",
        ),
        (
            "missing schema",
            ("$ref: schemas/faq_answer.json", "$ref: schemas/nope.json"),
            "not found",
        ),
    ],
)
def test_bad_prompt_files(
    workspace: Path, cli, case: str, replace: tuple[str, str], expect: str
) -> None:
    edit(workspace / "prompts/faq-answer.yaml", *replace)
    code, out, err = cli("-C", str(workspace), "lock", "--json")
    assert code == 2, (case, out, err)
    error = json.loads(out)["error"]
    assert expect in error["message"], error
    assert error["file"] == "prompts/faq-answer.yaml"
    line = error["line"]
    assert line is not None
    text = (workspace / "prompts/faq-answer.yaml").read_text().splitlines()
    assert (
        replace[1].split(":")[0].strip() in text[line - 1]
        or case == "ref outside"
        or case == "missing schema"
    )
    assert "Traceback" not in err


def test_malformed_yaml_names_the_line(workspace: Path, cli) -> None:
    (workspace / "suites/faq-answer.yaml").write_text("prompt: faq-answer\ncases:\n  - id: [x\n")
    code, out, _ = cli("-C", str(workspace), "gate", "--json", "--cache", "replay")
    assert code == 2
    error = json.loads(out)["error"]
    assert error["file"] == "suites/faq-answer.yaml" and error["line"] in (3, 4)


def test_binary_and_huge_files(workspace: Path, cli) -> None:
    (workspace / "prompts/faq-answer.yaml").write_bytes(b"name: x\x00\x01")
    code, out, _ = cli("-C", str(workspace), "lock", "--json")
    assert code == 2 and "binary" in json.loads(out)["error"]["message"]
    (workspace / "prompts/faq-answer.yaml").write_text("# " + "x" * (1024 * 1024 + 10))
    code, out, _ = cli("-C", str(workspace), "lock", "--json")
    assert code == 2 and "limit" in json.loads(out)["error"]["message"]


def test_unsafe_yaml_tags_are_refused(workspace: Path, cli) -> None:
    edit(
        workspace / "prompts/faq-answer.yaml",
        "description: Answer",
        "description: !!python/object/apply:os.system ['echo pwned'] #",
    )
    code, out, _ = cli("-C", str(workspace), "lock", "--json")
    assert code == 2 and "malformed YAML" in json.loads(out)["error"]["message"]


def test_sandbox_blocks_python_internals(workspace: Path, cli) -> None:
    edit(
        workspace / "prompts/faq-answer.yaml",
        'content: "{{ question }}"',
        'content: "{{ question.__class__.__mro__[1].__subclasses__() }}"',
    )
    code, out, _ = cli(
        "-C", str(workspace), "render", "faq-answer", "--var", "question=hi", "--json"
    )
    assert code == 2
    assert "sandbox" in json.loads(out)["error"]["message"]


def test_no_workspace(tmp_path: Path, cli) -> None:
    code, _, err = cli("-C", str(tmp_path), "lint")
    assert code == 2 and "promptrail init" in err


def test_component_cycle_and_undeclared(workspace: Path, cli) -> None:
    edit(
        workspace / "components/tone.yaml",
        "template: |\n",
        'uses: {safety: "^1.0"}\ntemplate: |\n  {{ component("safety") }}\n',
    )
    edit(
        workspace / "components/safety.yaml",
        "template: |\n",
        'uses: {tone: "^1.0"}\ntemplate: |\n  {{ component("tone") }}\n',
    )
    code, out, _ = cli("-C", str(workspace), "lint", "--json")
    assert code == 1
    rules = {f["rule"] for f in json.loads(out)["findings"]}
    assert "component-cycle" in rules


def test_version_line_rewrite_keeps_comments(workspace: Path, cli) -> None:
    edit(workspace / "prompts/faq-answer.yaml", "version: 0.1.0", "version: 0.1.0   # keep me")
    code, _, _ = cli("-C", str(workspace), "bump", "faq-answer", "--minor")
    assert code == 0
    assert re.search(
        r"^version: 0\.2\.0   # keep me$", (workspace / "prompts/faq-answer.yaml").read_text(), re.M
    )
