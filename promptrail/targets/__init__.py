"""Deployment targets: where a promoted bundle goes, and where drift checks look.

A target kind is a class with ``deploy(bundle)``, ``deployed() -> {name: bundle}`` and
``remove(name)``. Built-ins (``file``, ``http``) register under the ``promptrail.targets``
entry point like any third-party kind.
"""

from __future__ import annotations

from typing import Any

from promptrail.errors import UsageError

BUNDLE_VERSION = 1


class TargetError(Exception):
    """A target could not be read: ``kind`` is ``unreachable`` or ``garbage``."""

    def __init__(self, message: str, kind: str = "unreachable") -> None:
        super().__init__(message)
        self.kind = kind


class Target:
    kind = ""

    def __init__(self, spec: dict[str, Any], ws: Any) -> None:
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


def load_target(spec: dict[str, Any], ws: Any) -> Target:
    """A target of ``spec['kind']``: a ``promptrail.targets`` entry point."""
    from promptrail import plugins

    cls = plugins.get("target", str(spec.get("kind")), file="promptrail.yaml")
    return cls(spec, ws)  # type: ignore[no-any-return]


def make_bundle(resolved: Any, env: str, promoted_at: str, promoted_by: str) -> dict[str, Any]:
    """What a target receives: the resolved prompt, ready for each provider, and its hash."""
    from promptrail.providers.anthropic import payload as anthropic_payload
    from promptrail.providers.openai import payload as openai_payload
    from promptrail.secrets import contains_secret

    params = {k: v for k, v in resolved.model.items() if k not in ("provider", "name")}
    bundle = {
        "bundle_version": BUNDLE_VERSION,
        "name": resolved.name,
        "version": resolved.version,
        "content_hash": resolved.content_hash,
        "env": env,
        **resolved.content(),
        "components": resolved.components,
        "providers": {
            "openai": openai_payload(resolved.model["name"], resolved.messages, params),
            "anthropic": anthropic_payload(resolved.model["name"], resolved.messages, params),
        },
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
