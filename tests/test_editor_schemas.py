"""The JSON Schemas editors use agree with the models that validate files at run time."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from promptrail import editor_schemas

REPO = Path(__file__).parent.parent


def test_committed_schemas_are_current() -> None:
    for name, text in editor_schemas.schemas().items():
        assert (REPO / ".schemas" / name).read_text() == text, (
            f"regenerate: python -c 'from promptrail import editor_schemas; "
            f'editor_schemas.write(__import__("pathlib").Path("."))\' ({name})'
        )


@pytest.mark.parametrize(
    ("folder", "kind"), [("prompts", "prompt"), ("components", "component"), ("suites", "suite")]
)
def test_example_files_validate_and_typos_do_not(folder: str, kind: str) -> None:
    schema = json.loads((REPO / ".schemas" / f"{kind}.schema.json").read_text())
    files = sorted((REPO / folder).glob("*.yaml"))
    assert files
    for f in files:
        text = f.read_text()
        assert text.startswith(f"# yaml-language-server: $schema=../.schemas/{kind}.schema.json")
        jsonschema.validate(yaml.safe_load(text), schema)
    data = yaml.safe_load(files[0].read_text())
    data["descripton"] = "typo"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def test_init_writes_schemas(workspace: Path) -> None:
    assert sorted(p.name for p in (workspace / ".schemas").iterdir()) == [
        "component.schema.json",
        "config.schema.json",
        "prompt.schema.json",
        "suite.schema.json",
    ]
