"""Who is acting, and where that name came from, so an auditor can weigh it.

The actor is ``--actor`` (source ``flag``), else ``PROMPTRAIL_ACTOR`` (``env``), else, inside
GitHub Actions, ``github:$GITHUB_ACTOR`` (``github-actions``: GitHub authenticated that user),
else git's ``user.email`` (``git``), else ``$USER`` (``user``). None of these is proof of
identity except the Actions one; the audit log records the source beside the name.
A caller of the library that passes a plain string is recorded as ``caller``.
"""

from __future__ import annotations

import os
import subprocess

SOURCES = ("flag", "env", "github-actions", "git", "user", "caller")


class Actor(str):
    """A name that remembers where it came from (a ``str``, so every API takes it)."""

    source: str

    def __new__(cls, name: str, source: str) -> Actor:
        obj = super().__new__(cls, name)
        obj.source = source
        return obj


def source_of(actor: str) -> str:
    return getattr(actor, "source", "caller")


def current_actor(flag: str | None = None, cwd: str = ".") -> Actor:
    if flag:
        return Actor(flag, "flag")
    if os.environ.get("PROMPTRAIL_ACTOR"):
        return Actor(os.environ["PROMPTRAIL_ACTOR"], "env")
    if os.environ.get("GITHUB_ACTIONS") == "true" and os.environ.get("GITHUB_ACTOR"):
        return Actor(f"github:{os.environ['GITHUB_ACTOR']}", "github-actions")
    try:
        proc = subprocess.run(
            ["git", "-C", cwd, "config", "user.email"], capture_output=True, text=True, timeout=10
        )
        email = proc.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        email = ""
    if email:
        return Actor(email, "git")
    return Actor(os.environ.get("USER", "unknown"), "user")
