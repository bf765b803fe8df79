"""The workspace: promptrail.yaml, prompts/, components/, suites/ and schemas/ under one root.

Files are read from the working tree, or from a git commit (``ref``) when comparing with an
older version. Every path a file refers to must stay inside the workspace.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from promptrail.errors import UsageError
from promptrail.models import ComponentFile, Config, PromptFile, SuiteFile, validate_file
from promptrail.yamlio import (
    FILES,
    check_size,
    decode,
    load_mapping,
    parse,
    read_text,
)

if TYPE_CHECKING:
    from promptrail.resolve import ResolvedPrompt

CONFIG_FILE = "promptrail.yaml"


@dataclass
class Loaded:
    """A validated file with its path (relative to the root) and text, for line lookups."""

    path: str
    text: str
    model: Any


class Workspace:
    def __init__(self, root: str | Path = ".", ref: str | None = None) -> None:
        self.root = Path(root).resolve()
        self.ref = ref
        self._prompts: dict[str, Loaded] = {}
        self._components: dict[str, Loaded] = {}
        self._resolved: dict[str, ResolvedPrompt] = {}
        self.loaded_suites: dict[str, Any] = {}  # suites.load_suite memo: parsed once
        self._limits_applied = False
        if ref is None and not (self.root / CONFIG_FILE).exists():
            raise UsageError(
                f"no {CONFIG_FILE} here; run `promptrail init` or pass -C DIR",
                file=self.root / CONFIG_FILE,
            )

    # -- reading files -------------------------------------------------------------------
    def inside(self, rel: str, referrer: str | None = None) -> str:
        """Normalise a workspace-relative path, refusing any that would leave the workspace."""
        if "\x00" in rel:
            raise UsageError(f"path {rel!r} contains a NUL byte", file=referrer)
        pure = PurePosixPath(rel.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts:
            raise UsageError(f"path {rel!r} leaves the workspace", file=referrer)
        if self.ref is None:
            full = (self.root / pure).resolve()
            if not full.is_relative_to(self.root):
                raise UsageError(
                    f"path {rel!r} leaves the workspace (through a link)", file=referrer
                )
        return str(pure)

    def exists(self, rel: str) -> bool:
        """Whether the workspace has an entry at ``rel``: a FIFO, a device or a link (even a
        dangling one) counts, so reading it is an error rather than a silent skip."""
        if self.ref is None:
            path = self.root / rel
            return path.is_symlink() or (path.exists() and not path.is_dir())
        return rel in self._git_files()

    def path(self, rel: str) -> Path:
        """The file at ``rel``, refusing one that resolves (through links) outside the root."""
        full = self.root / rel
        try:
            real = full.resolve()
        except (OSError, RuntimeError):  # a link loop
            raise UsageError("cannot resolve the path (a link loop?)", file=rel) from None
        if not real.is_relative_to(self.root):
            raise UsageError(f"{rel} leaves the workspace (through a link to {real})", file=rel)
        return full

    def apply_limits(self) -> None:
        """Put this workspace's ``limits:`` in force before reading its other files."""
        if self._limits_applied:
            return
        self._limits_applied = True
        try:
            self.config  # noqa: B018 - loading it configures the limits
        except UsageError:
            pass  # reported by whatever needs the config

    def read(self, rel: str, max_bytes: int | None = None, what: str = FILES) -> str:
        """A file's text; ``max_bytes`` defaults to ``limits.file_bytes``."""
        if rel != CONFIG_FILE:
            self.apply_limits()
        if self.ref is None:
            return read_text(self.path(rel), rel, max_bytes, what)
        out = self._git("show", f"{self.ref}:./{rel}", binary=True)
        if out is None:
            raise UsageError(f"not in git at {self.ref}", file=rel)
        from promptrail import limits

        check_size(len(out), max_bytes or limits.current().file_bytes, rel, what)
        return decode(out, rel)

    def listdir(self, folder: str, suffix: str = ".yaml") -> list[str]:
        if self.ref is None:
            base = self.root / folder
            # every entry but folders: a FIFO or a link out is an error when read, not skipped
            return sorted(
                f"{folder}/{p.name}"
                for p in base.glob(f"*{suffix}")
                if p.is_symlink() or not p.is_dir()
            )
        return sorted(
            f
            for f in self._git_files()
            if f.startswith(folder + "/") and f.count("/") == 1 and f.endswith(suffix)
        )

    def _git(self, *args: str, binary: bool = False) -> Any:
        proc = subprocess.run(["git", "-C", str(self.root), *args], capture_output=True)
        if proc.returncode != 0:
            return None
        return proc.stdout if binary else proc.stdout.decode()

    @cached_property
    def _git_file_set(self) -> frozenset[str]:
        out = self._git("ls-tree", "-r", "--name-only", self.ref or "HEAD") or ""
        return frozenset(out.splitlines())

    def _git_files(self) -> frozenset[str]:
        return self._git_file_set

    def load_yaml(self, rel: str) -> tuple[dict[str, Any], str]:
        if rel != CONFIG_FILE:
            self.apply_limits()
        if self.ref is None:
            return load_mapping(self.path(rel), rel)
        text = self.read(rel)
        data = parse(text, rel) or {}
        if not isinstance(data, dict):
            raise UsageError("expected a mapping at the top level", file=rel, line=1)
        return data, text

    def load_json(self, rel: str, referrer: str | None = None) -> Any:
        rel = self.inside(rel, referrer)
        if not self.exists(rel):
            raise UsageError(f"schema file {rel!r} not found", file=referrer)
        text = self.read(rel)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"invalid JSON: {exc.msg}", file=rel, line=exc.lineno) from None

    # -- the files -------------------------------------------------------------------------
    @cached_property
    def config(self) -> Config:
        from promptrail import limits

        limits.configure(None)  # this workspace's limits, not a previous one's
        data, text = self.load_yaml(CONFIG_FILE)
        config = validate_file(Config, data, text, CONFIG_FILE)
        if config.providers:
            from promptrail.providers.kinds import instance_settings

            for name, spec in config.providers.items():
                instance_settings(name, spec, text)  # unknown keys name the line
        limits.configure(config.limits.values())
        return config

    def prompt_names(self) -> list[str]:
        return [PurePosixPath(p).stem for p in self.listdir("prompts")]

    def component_names(self) -> list[str]:
        return [PurePosixPath(p).stem for p in self.listdir("components")]

    def prompt(self, name: str) -> Loaded:
        if name not in self._prompts:
            rel = f"prompts/{name}.yaml"
            if not self.exists(rel):
                raise UsageError(
                    f"no prompt named {name!r}{_suggest(name, self.prompt_names())}", file=rel
                )
            self._prompts[name] = self._load(rel, PromptFile, name)
        return self._prompts[name]

    def component(self, name: str, referrer: str | None = None) -> Loaded:
        if name not in self._components:
            rel = f"components/{name}.yaml"
            if not self.exists(rel):
                raise UsageError(f"component {name!r} not found (expected {rel})", file=referrer)
            self._components[name] = self._load(rel, ComponentFile, name)
        return self._components[name]

    def _load(self, rel: str, model: type, stem: str) -> Loaded:
        data, text = self.load_yaml(rel)
        obj: Any = validate_file(model, data, text, rel)
        if obj.name != stem:
            from promptrail.yamlio import line_of

            raise UsageError(
                f"name {obj.name!r} does not match the file name {stem!r}",
                file=rel,
                line=line_of(text, ("name",)),
            )
        return Loaded(rel, text, obj)

    def prompts(self) -> list[Loaded]:
        return [self.prompt(n) for n in self.prompt_names()]

    def components(self) -> list[Loaded]:
        return [self.component(n) for n in self.component_names()]

    def suite(self, name: str) -> Loaded | None:
        rel = f"suites/{name}.yaml"
        if not self.exists(rel):
            return None
        data, text = self.load_yaml(rel)
        suite = validate_file(SuiteFile, data, text, rel)
        if suite.prompt != name:
            raise UsageError(
                f"suite is for {suite.prompt!r} but the file is named for {name!r}",
                file=rel,
                line=1,
            )
        return Loaded(rel, text, suite)

    def resolve(self, name: str) -> ResolvedPrompt:
        """The resolved prompt (components inlined, schemas loaded) with its content hash."""
        if name not in self._resolved:
            from promptrail.resolve import resolve

            self._resolved[name] = resolve(self, name)
        return self._resolved[name]

    def lock_path(self, env: str) -> Path:
        return self.root / "environments" / f"{env}.lock"

    def store_target(self) -> Any:
        """Where the store is (``store.target.Target``): ``PROMPTRAIL_DB``, else ``store:``
        (a path relative to the workspace, or a postgresql:// URL)."""
        import os

        from promptrail.store.target import is_url, parse

        override = os.environ.get("PROMPTRAIL_DB")
        if override:
            return parse(override, origin="the PROMPTRAIL_DB environment variable")
        value = self.config.store
        if is_url(value):
            from promptrail.yamlio import line_of

            text = self.read(CONFIG_FILE)
            return parse(value, origin=CONFIG_FILE, line=line_of(text, ("store",)))
        return parse(self.root / value)

    def store_path(self) -> Path:
        """The DuckDB file of a file store (a PostgreSQL store has none: see store_target)."""
        target = self.store_target()
        return target.path if target.path is not None else self.root / ".promptrail" / "none"

    def store(self, read_only: bool = False) -> Any:
        """The workspace's store; ``read_only`` for verbs that only read it."""
        from promptrail.store import Store

        return Store(self.store_target(), read_only=read_only)


def _suggest(name: str, known: list[str]) -> str:
    import difflib

    hint = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {hint[0]!r}?" if hint else ""
