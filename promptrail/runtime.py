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

from promptrail.hashing import content_hash

CONTENT_KEYS = ("messages", "model", "input_schema", "output_schema")


class BundleError(Exception):
    """A bundle that cannot be served: unreadable, or its content fails the hash check."""


@dataclass(frozen=True)
class RuntimePrompt:
    name: str
    version: str
    content_hash: str
    bundle: dict[str, Any]

    def render(self, **variables: Any) -> list[dict[str, str]]:
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
        """The request body for ``provider`` (default: the prompt's own), variables filled."""
        from promptrail.providers.base import provider_module

        model = self.bundle["model"]
        provider = provider or model["provider"]
        params = {k: v for k, v in model.items() if k not in ("provider", "name")}
        module = provider_module(provider)
        return module.payload(model["name"], self.render(**variables), params)  # type: ignore


def bundle_hash(bundle: dict[str, Any]) -> str:
    """The hash of what a bundle actually contains (not what it claims)."""
    return content_hash({k: bundle.get(k) for k in CONTENT_KEYS})


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
