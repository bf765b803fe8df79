"""Load promoted prompts in an application, with the hash check that ties "what the registry
says" to "what actually ran".

    from promptrail.runtime import PromptSet
    prompts = PromptSet("dist/production", lockfile="environments/production.lock")
    p = prompts.get("support-reply")
    messages = p.render(customer="Ana", ticket="Site down")
    log.info("served by %s %s", p.version, p.content_hash)

A bundle whose content does not hash to what it claims, or to its lockfile entry, is refused.
When a bundle changes on disk it is reloaded; if the new file is unreadable or does not
verify, the last good one keeps serving. Importing this module is cheap: json, hashlib and
Jinja2's sandbox, nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptrail.hashing import CONTENT_KEYS, OPTIONAL_CONTENT_KEYS, content_hash

OPTIONAL_KEYS = OPTIONAL_CONTENT_KEYS  # hashed only when present (see ResolvedPrompt)


class BundleError(Exception):
    """A bundle that cannot be served: unreadable, or its content fails the hash check."""


@dataclass(frozen=True)
class RuntimePrompt:
    name: str
    version: str
    content_hash: str
    bundle: dict[str, Any]

    def render(self, **variables: Any) -> list[dict[str, Any]]:
        """The messages with variables filled in; a placeholder (say ``history``) takes the
        prior turns as a list of ``{role, content}``."""
        from types import SimpleNamespace

        from promptrail.render import render_messages, validate_vars

        view = SimpleNamespace(
            name=self.name,
            path=self.name,
            messages=self.bundle["messages"],
            input_schema=self.bundle.get("input_schema") or {},
        )
        validate_vars(view, variables)
        return render_messages(view, variables)

    def payload(self, provider: str | None = None, **variables: Any) -> dict[str, Any]:
        """The request body for ``provider`` (default: the prompt's own; another one needs
        a ``model.overrides`` entry), variables filled. ``provider`` is an instance name the
        bundle was built for, or a provider kind."""
        from promptrail.providers.calls import call_parts
        from promptrail.providers.kinds import kind_module

        b = self.bundle
        instance, model_name, params = call_parts(
            b["model"], b.get("tools"), b.get("tool_choice"), b.get("output_schema"), provider
        )
        kind = (b.get("provider_kinds") or {}).get(instance, instance)
        return kind_module(kind).payload(model_name, self.render(**variables), params)  # type: ignore[no-any-return]


def bundle_hash(bundle: dict[str, Any]) -> str:
    """The hash of what a bundle actually contains (not what it claims)."""
    content = {k: bundle.get(k) for k in CONTENT_KEYS}
    content.update({k: bundle[k] for k in OPTIONAL_KEYS if bundle.get(k) is not None})
    return content_hash(content)


def verify(bundle: dict[str, Any], expected: str | None = None) -> str:
    actual = bundle_hash(bundle)
    if actual != bundle.get("content_hash"):
        raise BundleError(
            f"{bundle.get('name')}: content hashes to {actual}, not the "
            f"{bundle.get('content_hash')} it claims (edited after promotion?)"
        )
    if expected is not None and actual != expected:
        raise BundleError(
            f"{bundle.get('name')}: {actual} does not match the lockfile's {expected}"
        )
    return actual


class PromptSet:
    def __init__(self, bundle_dir: str | Path, lockfile: str | Path | None = None) -> None:
        self.dir = Path(bundle_dir)
        self.lockfile = Path(lockfile) if lockfile else None
        self._good: dict[str, tuple[float, RuntimePrompt]] = {}
        self.errors: dict[str, str] = {}  # the last problem seen per prompt

    def _expected(self, name: str) -> str | None:
        if self.lockfile is None:
            return None
        import yaml

        data = yaml.safe_load(self.lockfile.read_text(encoding="utf-8")) or {}
        entry = (data.get("prompts") or {}).get(name)
        if entry is None:
            raise BundleError(f"{name} is not in {self.lockfile}")
        return str(entry["content_hash"])

    def get(self, name: str) -> RuntimePrompt:
        path = self.dir / f"{name}.json"
        try:
            mtime = path.stat().st_mtime
        except OSError as exc:
            return self._fallback(name, f"{path}: {exc}")
        cached = self._good.get(name)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        try:
            bundle = json.loads(path.read_text(encoding="utf-8"))
            digest = verify(bundle, self._expected(name))
        except (OSError, ValueError, KeyError, BundleError) as exc:
            return self._fallback(name, str(exc))
        prompt = RuntimePrompt(bundle["name"], bundle["version"], digest, bundle)
        self._good[name] = (mtime, prompt)
        self.errors.pop(name, None)
        return prompt

    def _fallback(self, name: str, problem: str) -> RuntimePrompt:
        self.errors[name] = problem
        cached = self._good.get(name)
        if cached is None:
            raise BundleError(problem)
        return cached[1]  # keep serving the last good bundle

    def manifest(self) -> list[dict[str, str]]:
        """What an application's /promptrail endpoint serves for drift checks."""
        out = []
        for path in sorted(self.dir.glob("*.json")):
            try:
                p = self.get(path.stem)
            except BundleError:
                continue
            out.append({"name": p.name, "version": p.version, "content_hash": p.content_hash})
        return out
