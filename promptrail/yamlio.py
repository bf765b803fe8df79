"""Safe YAML loading that can point at a line.

Files load with the fast C loader; line numbers are worked out only when something needs one
(an error or a lint finding), by composing the node tree of the same text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from promptrail.errors import UsageError

MAX_FILE_BYTES = 1024 * 1024

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


FILES = "prompt, component, suite, schema and config files"


def read_text(
    path: Path,
    display: str | Path | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    what: str = FILES,
) -> str:
    """Read a workspace file as UTF-8 text, refusing huge and binary files."""
    shown = display or path
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise UsageError("file not found", file=shown) from None
    check_size(size, max_bytes, shown, what)
    data = path.read_bytes()
    return decode(data, shown)


def check_size(size: int, max_bytes: int, shown: str | Path, what: str = FILES) -> None:
    if size > max_bytes:
        raise UsageError(
            f"file is {size:,} bytes; the limit for {what} is {max_bytes:,}", file=shown
        )


def decode(data: bytes, shown: str | Path) -> str:
    if b"\x00" in data:
        raise UsageError("binary file (contains NUL bytes); expected UTF-8 text", file=shown)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageError("not valid UTF-8 text", file=shown, line=line) from None


def parse(text: str, shown: str | Path) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - the safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or str(exc)
        raise UsageError(f"malformed YAML: {problem}", file=shown, line=line) from None
    except yaml.YAMLError as exc:
        raise UsageError(f"malformed YAML: {exc}", file=shown) from None


def load_mapping(path: Path, display: str | Path | None = None) -> tuple[dict[str, Any], str]:
    shown = display or path
    text = read_text(path, shown)
    data = parse(text, shown)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(
            f"expected a mapping at the top level, got {type(data).__name__}", file=shown, line=1
        )
    return data, text


def line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the value at ``loc`` (keys and list indexes), or its nearest parent."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return None
    best = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    best = key.start_mark.line + 1
                    node = value
                    break
            else:
                return best
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return best
            node = node.value[part]
            best = node.start_mark.line + 1
        else:
            return best
    return best


def line_of_text(text: str, needle: str) -> int | None:
    """The 1-based line where ``needle`` first appears in ``text``."""
    idx = text.find(needle)
    if idx < 0:
        return None
    return text.count("\n", 0, idx) + 1
