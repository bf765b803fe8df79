"""Safe YAML loading that can point at a line.

Files load with the fast C parser; line numbers are worked out only when something needs one
(an error or a lint finding), by composing the node tree of the same text. Hostile files are
refused with a clear error naming the file: too big, binary or not UTF-8, a key given twice
(both lines named), or an alias bomb (a few lines that expand to millions of nodes; the
expanded size is measured on the node graph before anything is built).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from promptrail import limits
from promptrail.errors import UsageError

MAX_FILE_BYTES = limits.DEFAULTS.file_bytes
FILES = "prompt, component, suite, schema and config files"

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Loader = _Base  # composing only (line lookups)


class DuplicateKey(yaml.YAMLError):  # type: ignore[misc]
    def __init__(self, key: str, first: int, second: int) -> None:
        super().__init__(f"key {key!r} appears twice (lines {first} and {second})")
        self.key, self.first, self.second = key, first, second


class _StrictLoader(_Base):  # type: ignore[misc]
    """The safe loader, refusing duplicate keys in any mapping."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                    key_node, yaml.ScalarNode
                ):
                    continue
                key = (key_node.tag, key_node.value)
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise DuplicateKey(str(key_node.value), seen[key], line)
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_bytes(
    path: Path,
    display: str | Path | None = None,
    max_bytes: int | None = None,
    what: str = FILES,
) -> bytes:
    """A workspace file's bytes: a regular file under the size limit (checked before opening,
    so a FIFO or a device never blocks or streams forever)."""
    shown = display or path
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UsageError("file not found", file=shown) from None
    except OSError as exc:
        raise UsageError(f"cannot read: {exc.strerror}", file=shown) from None
    if not stat.S_ISREG(st.st_mode):
        raise UsageError("not a regular file (a FIFO, device or folder)", file=shown)
    limit = max_bytes if max_bytes is not None else limits.current().file_bytes
    check_size(
        st.st_size, limit, shown, what if max_bytes is not None else f"{what} (limits.file_bytes)"
    )
    try:
        with open(path, "rb") as fh:
            # sized by the file, not the limit (read(n) allocates n bytes up front: a 256 MB
            # dataset limit was a 256 MB buffer); a file grown since stat() reads on
            data = fh.read(min(limit, st.st_size) + 1)
            if len(data) > st.st_size:
                data += fh.read(limit + 1 - len(data))
    except OSError as exc:
        raise UsageError(f"cannot read: {exc.strerror}", file=shown) from None
    if len(data) > limit:
        raise UsageError(f"file is over the limit of {limit:,} bytes", file=shown)
    return data


def read_text(
    path: Path,
    display: str | Path | None = None,
    max_bytes: int | None = None,
    what: str = FILES,
) -> str:
    """Read a workspace file as UTF-8 text, refusing huge, special and binary files
    (``max_bytes`` defaults to ``limits.file_bytes``)."""
    shown = display or path
    return decode(read_bytes(path, shown, max_bytes, what), shown)


def check_size(size: int, max_bytes: int, shown: str | Path, what: str = FILES) -> None:
    if size > max_bytes:
        raise UsageError(
            f"file is {size:,} bytes; the limit for {what} is {max_bytes:,}", file=shown
        )


def decode(data: bytes, shown: str | Path) -> str:
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise UsageError(
            "binary file (contains NUL bytes); expected UTF-8 text", file=shown, line=line
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageError("not valid UTF-8 text", file=shown, line=line) from None


def expanded_size(node: Any, limit: int) -> int:
    """How many nodes ``node`` stands for once aliases are expanded (stops past ``limit``).
    Each distinct node is measured once, so this is linear in the file, not in the bomb."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()

    def size(n: Any) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in on_path:  # a recursive alias: infinite once expanded
            return limit + 1
        total = 1
        if isinstance(n, (yaml.MappingNode, yaml.SequenceNode)):
            on_path.add(key)
            children = (
                [c for pair in n.value for c in pair]
                if isinstance(n, yaml.MappingNode)
                else n.value
            )
            for child in children:
                total += size(child)
                if total > limit:
                    break
            on_path.discard(key)
        sizes[key] = total
        return total

    return size(node)


def parse(text: str, shown: str | Path) -> Any:
    limit = limits.current().yaml_nodes
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if expanded_size(node, limit) > limit:
            raise UsageError(
                f"the YAML expands to more than {limit:,} nodes (aliases included; an alias "
                "bomb?); the limit is limits.yaml_nodes",
                file=shown,
                line=1,
                kind="too-big",
            )
        return loader.construct_document(node)
    except DuplicateKey as exc:
        raise UsageError(
            f"duplicate key: {exc}", file=shown, line=exc.second, kind="duplicate-key"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or str(exc)
        raise UsageError(f"malformed YAML: {problem}", file=shown, line=line) from None
    except yaml.YAMLError as exc:
        raise UsageError(f"malformed YAML: {exc}", file=shown) from None
    except RecursionError:
        raise UsageError("the YAML is nested too deeply", file=shown, line=1) from None
    finally:
        loader.dispose()


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
    except (yaml.YAMLError, RecursionError):
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
