"""What every verb uses: the verb registry, output (``--json`` or text), the workspace, the
actor, the store, and settling promotions a killed process left half done."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(
    name: str,
) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    def register(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = fn
        return fn

    return register


def emit(args: argparse.Namespace, data: Any, human: Callable[[], None] | None = None) -> None:
    if args.json:
        sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
    elif human is not None:
        human()
    else:
        sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def workspace(args: argparse.Namespace) -> Any:
    from promptrail.workspace import Workspace

    return Workspace(args.C)


def actor(args: argparse.Namespace) -> str:
    from promptrail.identity import current_actor

    return current_actor(getattr(args, "actor", None), args.C)


def recover(args: argparse.Namespace, ws: Any, envs: list[str] | None) -> list[dict[str, Any]]:
    """Settle promotions a killed or failed process left half done, and say so (stderr)."""
    from promptrail.recovery import pending_envs, recover

    if not pending_envs(ws):  # the usual case: one directory listing, nothing imported
        return []
    done = recover(ws, envs, actor(args))
    say_recovered(done)
    return done


def say_recovered(done: list[dict[str, Any]]) -> None:
    for r in done:
        sys.stderr.write(f"promptrail: {r['message']}\n")


def open_store(args: argparse.Namespace, read_only: bool = True) -> Any:
    """The workspace's store; read-only verbs open it read-only."""
    return workspace(args).store(read_only=read_only)
