"""The verbs that work on the workspace's files: init, lint, render, diff, bump, lock."""

from __future__ import annotations

import argparse
import json
from typing import Any

from promptrail.cli.shared import (
    command,
    emit,
    recover,
    say,
    workspace,
)
from promptrail.errors import (
    EXIT_OK,
    UsageError,
)


@command("init")
def cmd_init(args: argparse.Namespace) -> int:
    from promptrail.scaffold import init

    target = args.dir if args.dir else args.C
    result = init(target, args.install)

    def human() -> None:
        say(f"Scaffolded a promptrail workspace in {result['root']}:")
        for f in result["files"]:
            say(f"  {f}")
        say("Next: promptrail lint && promptrail lock --check")

    emit(args, result, human)
    return EXIT_OK


@command("lint")
def cmd_lint(args: argparse.Namespace) -> int:
    from promptrail import verbs

    result = verbs.lint(workspace(args), args.names or None)
    data = result.to_json()

    def human() -> None:
        for finding in result.items:
            say(str(finding))
        say(f"lint {data['status']}: {data['errors']} errors, {data['warnings']} warnings")

    emit(args, data, human)
    return result.exit_code


def _vars(args: argparse.Namespace) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    if args.vars:
        from pathlib import Path

        from promptrail.yamlio import load_mapping

        variables.update(load_mapping(Path(args.vars), args.vars)[0])
    for item in args.var or []:
        if "=" not in item:
            raise UsageError(f"--var takes KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            variables[key] = json.loads(value)
        except json.JSONDecodeError:
            variables[key] = value
    return variables


@command("render")
def cmd_render(args: argparse.Namespace) -> int:
    from promptrail.providers.base import provider_module
    from promptrail.providers.calls import resolved_parts
    from promptrail.render import render_messages, validate_vars

    ws = workspace(args)
    resolved = ws.resolve(args.name)
    variables = _vars(args)
    if args.vars or args.var or resolved.input_schema.get("required"):
        validate_vars(resolved, variables, args.vars)
    messages = (
        render_messages(resolved, variables) if (args.vars or args.var) else resolved.messages
    )
    provider, model_name, params = resolved_parts(resolved, args.provider)
    module = provider_module(provider, ws.config.providers)
    body = module.payload(model_name, messages, params)
    data = {
        "name": resolved.name,
        "version": resolved.version,
        "provider": provider,
        "content_hash": resolved.content_hash,
        "request": body,
    }

    def human() -> None:
        say(f"# {resolved.name} {resolved.version} ({resolved.content_hash}) -> {provider}")
        say(json.dumps(body, indent=2, ensure_ascii=False))

    emit(args, data, human)
    return EXIT_OK


@command("diff")
def cmd_diff(args: argparse.Namespace) -> int:
    from promptrail.compare import diff_envs, diff_prompt

    ws = workspace(args)
    if args.env:
        if len(args.env) != 2 or args.name:
            raise UsageError("use `diff --env E1 --env E2` (two environments, no name)")
        data: Any = diff_envs(ws, args.env[0], args.env[1])
        emit(args, data, lambda: _print_env_diff(data))
        return EXIT_OK
    if not args.name:
        raise UsageError("diff needs a prompt NAME (or --env E1 --env E2)")
    data = diff_prompt(ws, args.name, args.a, args.b)
    emit(args, data, lambda: _print_diff(data))
    return EXIT_OK


def _print_diff(d: dict[str, Any]) -> None:
    say(
        f"{d['name']}: {d['from']['version']} -> {d['to']['version']}  bump: {d['bump']}"
        f"{'  (version bump is enough)' if d.get('bump_ok') else ''}"
    )
    if d.get("against"):
        say(f"  compared with {d['against']}")
    if d.get("bump_ok") is False:
        say(f"  the version bump is {d['version_bump']}, the change calls for {d['bump']}")
    for c in d["changes"]:
        say(f"  {c['bump']:>5}  {c['path']}: {c['detail']}")
    if d["rendered_diff"]:
        say("")
        say(d["rendered_diff"])


def _print_env_diff(data: dict[str, Any]) -> None:
    for d in data["prompts"]:
        if d.get("status") != "changed":
            say(f"{d['name']}: {d['status']}")
            continue
        _print_diff(d)
        say("")


@command("bump")
def cmd_bump(args: argparse.Namespace) -> int:
    from promptrail.compare import bump

    part = args.part or "auto"
    data = bump(workspace(args), args.name, part)
    emit(args, data, lambda: say(data["message"]))
    return EXIT_OK


@command("lock")
def cmd_lock(args: argparse.Namespace) -> int:
    from promptrail import lock

    ws = workspace(args)
    recovered = recover(args, ws, [args.env] if args.env else None)
    if args.check:
        from promptrail import verbs

        check = verbs.lock_check(ws, [args.env] if args.env else None)
        data = check.to_json()
        problems = data["problems"]
        if recovered:
            data["recovered"] = recovered

        def human() -> None:
            for p in problems:
                say(f"{p['env'] or '-'}: {p['name']}: {p['kind']}: {p['message']}")
            say(
                f"lock check: {check.status}" + (f" ({len(problems)} problems)" if problems else "")
            )

        emit(args, data, human)
        return check.exit_code
    result = lock.lock(ws, args.env)

    def human_lock() -> None:
        for c in result["changes"]:
            say(f"  {c['name']}: {c['from'] or '(new)'} -> {c['to'] or '(removed)'}")
        say(f"{result['path']}: {'written' if result['written'] else 'up to date'}")

    emit(args, result, human_lock)
    return EXIT_OK
