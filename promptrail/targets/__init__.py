"""Deployment targets: where a promoted bundle goes, and where drift checks look.

A target kind is a class with ``deploy(bundle)``, ``deployed() -> {name: bundle}`` and
``remove(name)``. Built-ins (``file``, ``http``) register under the ``promptrail.targets``
entry point like any third-party kind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promptrail.errors import UsageError

if TYPE_CHECKING:
    from promptrail.resolve import ResolvedPrompt
    from promptrail.workspace import Workspace

BUNDLE_VERSION = 1


class TargetError(Exception):
    """A target could not be read: ``kind`` is ``unreachable`` or ``garbage``."""

    def __init__(self, message: str, kind: str = "unreachable") -> None:
        super().__init__(message)
        self.kind = kind


class Target:
    kind = ""
    writes = True  # deploy() puts bundles there (an http target only reports what it serves)
    holds_bundles = True  # deployed() returns whole bundles, not just {name, version, hash}

    def __init__(self, spec: dict[str, Any], ws: Workspace) -> None:
        self.spec, self.ws = spec, ws

    @property
    def label(self) -> str:
        where = self.spec.get("path") or self.spec.get("url") or ""
        return f"{self.kind}:{where}"

    def deploy(self, bundle: dict[str, Any]) -> None:
        raise UsageError(f"target kind {self.kind!r} cannot be deployed to")

    def deployed(self) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    def remove(self, name: str) -> None:
        raise UsageError(f"target kind {self.kind!r} cannot remove bundles")

    def names(self) -> list[str]:
        """The prompts that have a bundle here."""
        return sorted(self.deployed())

    def fetch(self, name: str, stamp: str | None = None) -> tuple[str, bytes | None]:
        """For ``promptrail.runtime``: the raw bundle of ``name`` and a stamp that changes
        when it does, or ``(stamp, None)`` when the given ``stamp`` is still current.
        ``TargetError`` when it cannot be read (a missing bundle included)."""
        raise UsageError(f"target kind {self.kind!r} cannot be read by promptrail.runtime")


def load_target(spec: dict[str, Any], ws: Workspace) -> Target:
    """A target of ``spec['kind']``: a ``promptrail.targets`` entry point."""
    from promptrail import plugins

    kind = str(spec.get("kind"))
    try:
        cls = plugins.get("target", kind, file="promptrail.yaml")
        return cls(spec, ws)  # type: ignore[no-any-return]
    except UsageError as exc:
        if exc.file == "promptrail.yaml" and exc.line is None:
            exc.line = _line_of_kind(ws, kind)
        raise


def _line_of_kind(ws: Any, kind: str) -> int | None:
    """The line of promptrail.yaml declaring a target of this kind (for the error message)."""
    import re
    from pathlib import Path

    try:
        text = (Path(ws.root) / "promptrail.yaml").read_text(encoding="utf-8")
    except (OSError, AttributeError, TypeError):
        return None
    pattern = re.compile(rf"\bkind:\s*['\"]?{re.escape(kind)}['\"]?\s*[,}}\n]")
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        if pattern.search(line):
            return number
    return None


def provider_payloads(
    resolved: ResolvedPrompt, configured: dict[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """A request (variables still templated) for every provider the prompt has a model for:
    its own and each of ``model.overrides``; never one provider's model name sent to another."""
    from promptrail.providers.base import provider_module
    from promptrail.providers.calls import providers_of, resolved_parts

    out = {}
    for provider in providers_of(resolved.model):
        instance, model_name, params = resolved_parts(resolved, provider)
        module = provider_module(instance, configured)
        out[instance] = module.payload(
            model_name, [m for m in resolved.messages if "placeholder" not in m], params
        )
    return out


def make_bundle(
    resolved: ResolvedPrompt,
    env: str,
    promoted_at: str,
    promoted_by: str,
    configured: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What a target receives: the resolved prompt, ready for each provider, and its hash."""
    from promptrail.providers.calls import providers_of
    from promptrail.providers.kinds import instance_kind
    from promptrail.secrets import contains_secret

    bundle = {
        "bundle_version": BUNDLE_VERSION,
        "name": resolved.name,
        "version": resolved.version,
        "content_hash": resolved.content_hash,
        "env": env,
        **resolved.content(),
        "components": resolved.components,
        "providers": provider_payloads(resolved, configured),
        "provider_kinds": {p: instance_kind(p, configured) for p in providers_of(resolved.model)},
        "promoted_at": promoted_at,
        "promoted_by": promoted_by,
    }
    # a bundle is verified by its content hash, so a secret cannot be redacted out of it:
    # one that holds a secret is not deployed at all
    if contains_secret(bundle):
        raise UsageError(
            f"{resolved.name} {resolved.version}: the bundle holds what looks like a secret "
            "(a key, token or password); refusing to deploy it",
            file=resolved.path or None,
            kind="secret",
        )
    return bundle
