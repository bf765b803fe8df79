"""Docs that cannot rot: every verb has help and appears in the README and SPEC's table."""

from __future__ import annotations

import argparse
from pathlib import Path

from promptrail.cli import COMMANDS, build_parser

README = (Path(__file__).parent.parent / "README.md").read_text()


def verbs() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_verb_has_help_and_a_handler() -> None:
    for name, p in verbs().items():
        assert p.description, name
        assert name in COMMANDS, name


def test_every_verb_is_in_the_readme() -> None:
    missing = [v for v in verbs() if f"promptrail {v}" not in README]
    assert missing == [], missing


def test_readme_opens_with_the_two_commands() -> None:
    block = README.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert "uv sync --frozen" in block[0] and "promptrail gate --cache replay" in block[0]
    assert block[1].startswith("python -m pytest")


def test_every_option_of_every_verb_has_help() -> None:
    missing = [
        f"{name} {action.dest}"
        for name, p in verbs().items()
        for action in p._actions
        if not isinstance(action, argparse._HelpAction) and not action.help
    ]
    assert missing == [], missing


def test_usage_errors_honour_json(cli) -> None:
    import json

    code, out, err = cli("gate", "--no-such-flag", "--json")
    assert code == 2
    assert json.loads(out)["error"]["kind"] == "usage"
    assert "--no-such-flag" in json.loads(out)["error"]["message"]
    code, out, err = cli("bump")
    assert code == 2 and out == "" and "required" in err and "Traceback" not in err


def test_every_verb_is_in_the_cli_reference() -> None:
    reference = (Path(__file__).parent.parent / "docs" / "cli.md").read_text()
    missing = [v for v in verbs() if f"| `{v}" not in reference]
    assert missing == [], f"add these verbs to docs/cli.md: {missing}"


def test_docs_do_not_point_outside_the_repository() -> None:
    root = Path(__file__).parent.parent
    for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        assert "../shared" not in doc.read_text(), doc.name
        assert "SPEC.md" not in doc.read_text(), doc.name
