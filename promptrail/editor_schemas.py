"""JSON Schemas of the workspace file formats, for editors.

`promptrail init` writes them to ``.schemas/`` and starts each file with a
``# yaml-language-server: $schema=...`` line, so editors complete keys and flag typos as
you type — the same models that validate the files at run time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from promptrail.models import ComponentFile, Config, PromptFile, SuiteFile

FOLDER = ".schemas"
SCHEMAS: dict[str, Any] = {
    "config": Config,
    "prompt": PromptFile,
    "component": ComponentFile,
    "suite": SuiteFile,
}


def schemas() -> dict[str, str]:
    """File name -> the schema's JSON text."""
    out = {}
    for name, model in SCHEMAS.items():
        schema = model.model_json_schema(by_alias=True)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = f"promptrail {name} file"
        out[f"{name}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def write(root: Path) -> list[str]:
    from promptrail.fsutil import write_atomic

    written = []
    for name, text in schemas().items():
        write_atomic(root / FOLDER / name, text)
        written.append(f"{FOLDER}/{name}")
    return written
