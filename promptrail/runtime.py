"""Load promoted prompts in an application, with the hash check that ties "what the registry
says" to "what actually ran".

    from promptrail.runtime import PromptSet
    prompts = PromptSet("dist/production", lockfile="environments/production.lock")
    # or PromptSet("s3://acme-prompts/production", endpoint_url=..., lockfile=...)
    p = prompts.get("support-reply")
    messages = p.render(customer="Ana", ticket="Site down")
    log.info("served by %s %s", p.version, p.content_hash)

A bundle whose content does not hash to what it claims, or to its lockfile entry, is refused.
When a bundle changes on disk it is reloaded; if the new file is unreadable or does not
verify, the last good one keeps serving. Bundles are read through the deploy target that wrote
them (``promptrail.targets``: a folder, S3, or any target plugin that writes). Importing this
module is cheap: json, hashlib and Jinja2's sandbox, nothing else (boto3 only for s3).
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


@dataclass(frozen=True)
class Verdict:
    """What ``check_bundle`` found: ``problem`` is None for a good bundle, else ``garbage``
    (not a bundle), ``modified`` (its content does not hash to what it claims) or
    ``mismatch`` (it is intact but not the content expected, e.g. the lock's)."""

    problem: str | None
    actual: str | None
    claimed: str | None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_bundle(bundle: Any, expected: str | None = None, content: bool = True) -> Verdict:
    """The one bundle verifier: the runtime, drift and deploy all judge bundles here.

    ``content=False`` is for a manifest entry (an http target reports name, version and hash
    but not the content): only its claim is compared with ``expected``."""
    if not isinstance(bundle, dict) or not isinstance(bundle.get("content_hash"), str):
        return Verdict("garbage", None, None, "not a promptrail bundle (no content_hash)")
    claimed = bundle["content_hash"]
    actual = bundle_hash(bundle) if content else claimed
    if actual != claimed:
        return Verdict(
            "modified",
            actual,
            claimed,
            f"its content hashes to {actual}, not the {claimed} it claims "
            "(edited after promotion?)",
        )
    if expected is not None and actual != expected:
        return Verdict(
            "mismatch",
            actual,
            claimed,
            f"{bundle.get('version')} ({actual}) does not match the lockfile's {expected}",
        )
    return Verdict(None, actual, claimed)


def verify(bundle: dict[str, Any], expected: str | None = None) -> str:
    """The bundle's content hash, or ``BundleError`` if it fails ``check_bundle``."""
    verdict = check_bundle(bundle, expected)
    if not verdict.ok:
        name = bundle.get("name") if isinstance(bundle, dict) else "?"
        raise BundleError(f"{name}: {verdict.detail}")
    return str(verdict.actual)


class _Place:
    """What a target needs of a workspace when an application has none: a root folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def inside(self, rel: str, referrer: str | None = None) -> str:
        return rel  # the application chose the path; no workspace to stay inside


class PromptSet:
    """Promoted prompts, loaded from where a promotion deployed them.

    ``source`` is a folder of bundles (what a ``file`` target writes), an
    ``s3://bucket/prefix`` URL (with ``endpoint_url=`` for an S3-compatible store), or a target
    spec as written in promptrail.yaml (``{"kind": "s3", "bucket": ..., "prefix": ...}``) of
    any target kind that writes. A bundle is re-read when it changes (a folder: at every
    ``get``; a remote target: at most every ``refresh`` seconds, default 5, with a conditional
    request)."""

    def __init__(
        self,
        source: str | Path | dict[str, Any],
        lockfile: str | Path | None = None,
        *,
        endpoint_url: str | None = None,
        refresh: float | None = None,
        root: str | Path = ".",
    ) -> None:
        from promptrail.targets import load_target

        if isinstance(source, dict):
            spec = dict(source)
        elif str(source).startswith("s3://"):
            bucket, _, prefix = str(source)[len("s3://") :].partition("/")
            spec = {"kind": "s3", "bucket": bucket, "prefix": prefix}
            if endpoint_url:
                spec["endpoint_url"] = endpoint_url
        else:
            spec = {"kind": "file", "path": str(Path(root) / source)}
        place: Any = _Place(root)  # all a target needs of a workspace here
        self.target = load_target(spec, place)
        self.lockfile = Path(lockfile) if lockfile else None
        self.refresh = refresh if refresh is not None else (0.0 if spec["kind"] == "file" else 5.0)
        self._good: dict[str, tuple[str, RuntimePrompt]] = {}
        self._checked: dict[str, float] = {}
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
        import time

        from promptrail.targets import TargetError

        cached = self._good.get(name)
        now = time.monotonic()
        if cached is not None and self.refresh and now - self._checked.get(name, 0) < self.refresh:
            return cached[1]
        try:
            stamp, raw = self.target.fetch(name, cached[0] if cached else None)
        except (OSError, TargetError) as exc:
            return self._fallback(name, str(exc))
        self._checked[name] = now
        if raw is None and cached is not None:  # the last good bundle is what is there
            self.errors.pop(name, None)
            return cached[1]
        try:
            bundle = json.loads(raw or b"")
            digest = verify(bundle, self._expected(name))
            prompt = RuntimePrompt(bundle["name"], bundle["version"], digest, bundle)
        except (OSError, ValueError, KeyError, TypeError, BundleError) as exc:
            return self._fallback(name, str(exc))
        self._good[name] = (stamp, prompt)
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
        for name in self.target.names():
            try:
                p = self.get(name)
            except BundleError:
                continue
            out.append({"name": p.name, "version": p.version, "content_hash": p.content_hash})
        return out
