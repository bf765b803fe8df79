"""The ``promptrail`` command: parse, call the library, print, exit.

Each verb is a small function that calls the same public functions a Python user would.
Heavy libraries are imported inside the verbs that need them, so ``lint``, ``lock --check``
and ``at`` start fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from promptrail.errors import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    EXIT_OPERATIONAL,
    OperationalError,
    PromptrailError,
    UsageError,
)

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(
    name: str,
) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    def register(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = fn
        return fn

    return register


# -- output --------------------------------------------------------------------------------
def _report_error(args: argparse.Namespace, exc: PromptrailError) -> int:
    from promptrail.secrets import redact, redact_text

    if args.json:
        sys.stdout.write(json.dumps(redact(exc.to_json())) + "\n")
    else:
        sys.stderr.write(redact_text(f"promptrail: error: {exc}") + "\n")
    return exc.exit_code


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


# -- verbs ---------------------------------------------------------------------------------
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


def recover(args: argparse.Namespace, ws: Any, envs: list[str] | None) -> list[dict[str, Any]]:
    """Settle promotions a killed or failed process left half done, and say so (stderr)."""
    from promptrail.recovery import pending_envs, recover

    if not pending_envs(ws):  # the usual case: one directory listing, nothing imported
        return []
    done = recover(ws, envs, actor(args))
    _say_recovered(done)
    return done


def _say_recovered(done: list[dict[str, Any]]) -> None:
    for r in done:
        sys.stderr.write(f"promptrail: {r['message']}\n")


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


@command("gate")
def cmd_gate(args: argparse.Namespace) -> int:
    from promptrail import verbs
    from promptrail.progress import Progress

    with Progress(enabled=not args.json) as progress:
        outcome = verbs.gate(
            args.C,
            mode=args.mode,
            names=args.names or None,
            env=args.env,
            changed_since=args.changed_since,
            cache_mode=args.cache,
            keep_going=args.keep_going,
            actor=actor(args),
            progress=progress.callback(),
        )
    result = outcome.to_json()
    emit(args, result, lambda: _print_gate(result))
    return outcome.exit_code


def _print_gate(result: dict[str, Any]) -> None:
    for p in result["prompts"]:
        say(f"{p['name']} {p['version']}: {p['status']}")
        for g in p["gates"]:
            say(f"  {g['gate']:<11} {g['status']:<8} {g['summary']}")
    say(
        f"gate {result['status']}: run {result['run_id']} ({result['mode']}, cache "
        f"{result['cache_mode']}) against {result['env']}"
    )
    reports = result.get("reports") or {}
    if reports:
        say("reports: " + "  ".join(reports[fmt] for fmt in sorted(reports)))


def _print_promotion(r: dict[str, Any]) -> None:
    _say_recovered(r.get("recovered") or [])
    if r["status"] == "promoted":
        say(
            f"{r['kind']}: {r['name']} {r['version']} is live in {r['env']} "
            f"({r['content_hash']}). {r['reason']}"
        )
    else:
        say(f"refused: {r['reason']}")
    for i in r.get("approvals_ignored") or [] if r["status"] == "promoted" else []:
        say(f"  approval ignored: {i['who']}: {i['why']}")


@command("promote")
def cmd_promote(args: argparse.Namespace) -> int:
    from promptrail import verbs
    from promptrail.promote import parse_target, promote

    name, version = parse_target(args.target)
    result = promote(
        workspace(args),
        name,
        version,
        args.to,
        actor(args),
        args.approved_by or [],
        args.reason or "",
        approvals_from=args.approvals_from,
        repo=args.repo,
    )
    emit(args, result, lambda: _print_promotion(result))
    return verbs.promotion(result).exit_code


@command("rollback")
def cmd_rollback(args: argparse.Namespace) -> int:
    from promptrail import verbs
    from promptrail.promote import rollback

    result = rollback(
        workspace(args),
        args.name,
        args.env,
        actor(args),
        args.approved_by or [],
        args.reason or "",
        approvals_from=args.approvals_from,
        repo=args.repo,
    )
    emit(args, result, lambda: _print_promotion(result))
    return verbs.promotion(result).exit_code


def _store(args: argparse.Namespace, read_only: bool = True) -> Any:
    """The workspace's store; read-only verbs open it read-only."""
    return workspace(args).store(read_only=read_only)


@command("at")
def cmd_at(args: argparse.Namespace) -> int:
    from promptrail.timeline import at, parse_time

    when = parse_time(args.time)
    store = _store(args)
    result = at(store, args.env, when, args.name)
    if args.json:
        from promptrail.anchors import vouch

        vouch(workspace(args), store, result["prompts"])

    def human() -> None:
        if not result["prompts"]:
            say(f"nothing was live in {args.env} at {result['time']}")
        for p in result["prompts"]:
            say(f"== {p['name']} {p['version']}  {p['content_hash']}")
            say(
                f"   live in {args.env} since {p['promoted_at']} ({p['kind']} by "
                f"{p['promoted_by']})"
            )
            say(f"   approved by: {', '.join(p['approvals'] or []) or 'nobody'}")
            if p["reason"]:
                say(f"   reason: {p['reason']}")
            for m in p["messages"] or []:
                say(f"--- {m.get('role') or 'placeholder: ' + str(m.get('placeholder'))}")
                say(str(m.get("content") or "").rstrip("\n"))
            say("")

    emit(args, result, human)
    return EXIT_OK


@command("history")
def cmd_history(args: argparse.Namespace) -> int:
    from promptrail.timeline import history

    result = history(_store(args), args.name)

    def human() -> None:
        for e in result["events"]:
            say(f"{e['at'][:19]}  {e['event']:<12} {e.get('version') or '':<8} {e['detail']}")
        if not result["events"]:
            say(f"no history for {args.name}")

    emit(args, result, human)
    return EXIT_OK


@command("audit")
def cmd_audit(args: argparse.Namespace) -> int:
    from promptrail import audit

    store = _store(args)
    if args.action == "verify":
        from promptrail import verbs

        verified = verbs.audit_verify(workspace(args), store, git=args.git)
        result = verified.to_json()
        emit(args, result, lambda: _print_verify(result))
        return verified.exit_code
    out = args.output or f"audit.{args.format}"
    result = audit.export(store, args.format, out)
    emit(args, result, lambda: say(f"exported {result['rows']} audit rows to {result['path']}"))
    return EXIT_OK


def _print_verify(r: dict[str, Any]) -> None:
    head = f", head row {r['head']['seq']}" if r["head"] else ""
    say(f"audit chain: {r['rows']} rows{head}")
    if r["first_bad_seq"] is not None:
        say(f"  first bad row: seq {r['first_bad_seq']} ({r['reason']})")
    anchors = r["anchors"]
    say(
        f"anchors: {anchors['checked']} checked ({'working tree and git history' if anchors['git'] else 'working tree'})"
        + (f", {len(anchors['failed'])} failed" if anchors["failed"] else "")
    )
    if a := r["first_bad_anchor"]:
        say(f"  first failing anchor: {a['where']} ({a['name']} {a['version']}): {a['problem']}")
    for m in r["entries"]["missing"]:
        say(f"  {m['problem']}")
    for b in r["entries"]["behind"]:
        say(
            f"  note: the chain has a newer promotion of {b['name']} into {b['env']} (row "
            f"{b['chain_seq']}, {b['chain_version']}) than environments/{b['env']}.lock "
            f"(row {b['lock_seq']}): this checkout is behind"
        )
    for t in r["tables"]:
        say(f"  {t}")
    for n in r["not_checked"]:
        say(f"  not checked: {n}")
    say(f"audit verify: {r['status']}")


@command("sql")
def cmd_sql(args: argparse.Namespace) -> int:
    cols, rows = _store(args).sql(args.query)
    if args.json:
        emit(args, [dict(zip(cols, r, strict=True)) for r in rows])
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    table = Table(*cols)
    for r in rows:
        table.add_row(*("" if v is None else str(v) for v in r))
    Console().print(table)
    return EXIT_OK


@command("store")
def cmd_store(args: argparse.Namespace) -> int:
    from promptrail.store import copy as store_copy

    if args.action == "prune":
        from promptrail.retention import prune_outputs

        if not args.outputs_older_than:
            raise UsageError("store prune needs --outputs-older-than AGE (e.g. 90d)")
        result = prune_outputs(_store(args, read_only=False), args.outputs_older_than, actor(args))
        emit(
            args,
            result,
            lambda: say(
                f"pruned the inputs and outputs of {result['case_results']} case results "
                f"({result['runs']} runs) created before {result['cutoff']}; audited"
            ),
        )
        return EXIT_OK
    if args.action == "migrate":
        store = _store(args, read_only=False)
        data: dict[str, Any] = {"store": store.label, "applied": store.migrate()}
        emit(args, data, lambda: say(f"{store.label}: schema up to date"))
        return EXIT_OK
    if len(args.places) != 2:
        raise UsageError("use `promptrail store copy SRC DST` (paths or postgresql:// URLs)")
    data = store_copy.copy(args.places[0], args.places[1])
    emit(
        args,
        data,
        lambda: say(
            f"copied {data['rows']} rows from {data['source']} to {data['destination']}; "
            f"audit chain {data['audit']['status']} ({data['audit']['rows']} rows)"
        ),
    )
    return EXIT_OK if data["audit"]["status"] == "ok" else 1  # the copy does not verify


@command("drift")
def cmd_drift(args: argparse.Namespace) -> int:
    from promptrail import verbs
    from promptrail.progress import Progress

    recovered = recover(args, workspace(args), [args.env] if args.env else None)
    with Progress(enabled=not args.json) as progress:
        outcome = verbs.drift(args.C, args.env, args.sweep, actor(args), progress.callback())
    result = outcome.to_json()
    result["recovered"] = recovered

    def human() -> None:
        for i in result.get("swept", []):
            say(
                f"swept {i['env']}: {i['name']} {i['version']}: {i.get('status', '?')}: "
                f"{i.get('detail', '')}"
            )
        for f in result["findings"]:
            say(f"{f['env']}: {f['name']}: {f['kind']} at {f['target']}: {f['detail']}")
        say(
            f"drift {result['status']}: {len(result['findings'])} findings "
            f"({result['alerts_sent']} alerts sent)"
        )

    emit(args, result, human)
    return outcome.exit_code


@command("plan")
def cmd_plan(args: argparse.Namespace) -> int:
    from promptrail.plan import plan, write_plan

    ws = workspace(args)
    recover(args, ws, [args.to])
    result = plan(ws, args.to, args.names or None, actor(args))
    if args.out:
        write_plan(result, args.out)
        result["plan_file"] = args.out

    def human() -> None:
        changes = result["changes"]
        say(
            f"plan: release to {result['env']} (candidates live in {result['source']}): "
            f"{len(changes)} change(s), {result['ready']} ready"
        )
        for c in changes:
            state = "ready" if c["ready"] else "NOT READY"
            say(f"  {c['name']}: {c['from'] or '(new)'} -> {c['to']} ({c['bump']}): {state}")
            d = c.get("diff") or {}
            if d.get("added_lines") is not None:
                say(f"    rendered: +{d['added_lines']} -{d['removed_lines']} lines")
            for i in d.get("interface") or []:
                say(f"    interface: {i}")
            ev = c.get("evidence") or {}
            if ev.get("gates"):
                say(f"    gate evidence for {result['env']}: {ev['status']} {ev['run_id'] or ''}")
            if c["approvals_needed"]:
                say(f"    approvals needed at apply: {c['approvals_needed']}")
            for r in c["reasons"]:
                say(f"    - {r}")
        if args.out:
            say(f"plan written to {args.out}; apply it with `promptrail apply {args.out}`")

    emit(args, result, human)
    return EXIT_OK


@command("apply")
def cmd_apply(args: argparse.Namespace) -> int:
    from promptrail.plan import apply

    result = apply(
        workspace(args),
        args.planfile,
        actor(args),
        args.approved_by or [],
        args.reason or "",
        approvals_from=args.approvals_from,
        repo=args.repo,
    )

    def human() -> None:
        _say_recovered(result.get("recovered") or [])
        for c in result["changes"]:
            say(f"  {c['name']}: {c['from'] or '(new)'} -> {c['to']}: {c['status']}: {c['reason']}")
        if result["status"] == "refused" and not result["changes"]:
            say(f"refused: {result['reason']}")
        else:
            say(f"apply {result['status']} for {result['env']}")

    emit(args, result, human)
    codes = {"applied": EXIT_OK, "refused": EXIT_CHECK_FAILED}
    return codes.get(str(result["status"]), EXIT_OPERATIONAL)


@command("deploy")
def cmd_deploy(args: argparse.Namespace) -> int:
    from promptrail.deploy import deploy

    result = deploy(workspace(args), args.env, args.names or None, actor(args))

    def human() -> None:
        _say_recovered(result["recovered"])
        for t in result["targets"]:
            changed = [f"wrote {n}" for n in t["written"]] + [f"removed {n}" for n in t["removed"]]
            say(f"{t['target']}: {', '.join(changed) or 'already up to date'}")
        if not result["targets"]:
            say(f"{args.env} has no target that promptrail writes to")
        say(f"deployed {args.env}: every target holds what environments/{args.env}.lock pins")

    emit(args, result, human)
    return EXIT_OK


@command("report")
def cmd_report(args: argparse.Namespace) -> int:
    from promptrail.reports import render_report

    fmt = "json" if args.json else args.format
    text = render_report(workspace(args), args.run_id, fmt)
    if args.output:
        from pathlib import Path

        from promptrail.fsutil import write_atomic

        write_atomic(Path(args.output), text)
        sys.stderr.write(f"wrote {args.output}\n")
    else:
        sys.stdout.write(text)
    return EXIT_OK


@command("plugins")
def cmd_plugins(args: argparse.Namespace) -> int:
    from pathlib import Path

    from promptrail import plugins

    root = Path(args.C)
    ws_root = root if (root / "promptrail.yaml").is_file() else None
    kinds = [args.kind] if args.kind else list(plugins.GROUPS)
    found = [p for kind in kinds for p in plugins.available(kind, ws_root)]
    data = {"plugins": [p.to_dict() for p in found]}

    def human() -> None:
        for p in found:
            note = f"  (shadowed by {p.shadowed_by})" if p.shadowed_by else ""
            say(f"{p.kind:<10} {p.name:<16} {p.source:<22} {p.ref}{note}")

    emit(args, data, human)
    return EXIT_OK


@command("dev-server")
def cmd_dev_server(args: argparse.Namespace) -> int:
    from pathlib import Path

    from promptrail.devserver import serve

    outputs = Path(args.outputs) if args.outputs else None
    return serve(args.port, args.latency, outputs, Path(args.C), None, args.print_env)


# -- parser -------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so usage errors honour --json like the rest."""

    def error(self, message: str) -> Any:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def approval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--approved-by",
        action="append",
        metavar="WHO",
        help="an approver (repeatable; the person promoting does not count)",
    )
    p.add_argument(
        "--approvals-from",
        metavar="github:PR",
        help="count the pull request's approving reviews of the head commit that holds this "
        "content (needs GITHUB_TOKEN)",
    )
    p.add_argument(
        "--repo", metavar="OWNER/NAME", help="for --approvals-from (default: $GITHUB_REPOSITORY)"
    )
    p.add_argument("--reason", metavar="TEXT", help="why, recorded in the audit log")


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="machine output on stdout, nothing else there",
    )
    common.add_argument(
        "-C",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="the workspace (default: the current directory)",
    )
    common.add_argument(
        "--actor",
        default=argparse.SUPPRESS,
        help="who acts (default: $PROMPTRAIL_ACTOR, then github:$GITHUB_ACTOR in GitHub "
        "Actions, then git user.email); the audit log records which it was",
    )
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="more logging"
    )
    parser = _Parser(
        prog="promptrail",
        parents=[common],
        description="Prompt operations as code: version, gate, promote and audit LLM prompts.",
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    def verb(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help_, description=help_)

    p = verb("init", "scaffold a workspace: config, example prompt, component, suite, CI")
    p.add_argument("dir", nargs="?", help="where (default: -C or the current directory)")
    p.add_argument(
        "--install",
        metavar="SPEC",
        help="how CI installs promptrail (it is not on PyPI): a repository URL such as "
        "git+https://github.com/OWNER/promptrail@v0.2.0, or any pip requirement "
        "(default: the repository variable PROMPTRAIL_INSTALL)",
    )
    p = verb("lint", "the lint gate alone; no model calls")
    p.add_argument("names", nargs="*", metavar="NAME", help="prompts to lint (default: all)")
    p = verb("render", "the resolved messages as the provider receives them")
    p.add_argument("name", metavar="NAME", help="the prompt")
    p.add_argument("--vars", metavar="FILE", help="YAML or JSON file of variables")
    p.add_argument("--var", action="append", metavar="K=V", help="a variable (repeatable)")
    p.add_argument(
        "--provider", help="a provider instance (default: the prompt's own; others need overrides)"
    )
    p = verb("diff", "rendered diff, interface diff and the semver bump it calls for")
    p.add_argument("name", nargs="?", metavar="NAME", help="the prompt")
    p.add_argument(
        "a",
        nargs="?",
        metavar="A",
        help="a version, an environment, or git:REF (default: the locked version)",
    )
    p.add_argument("b", nargs="?", metavar="B", help="same forms (default: the working tree)")
    p.add_argument("--env", action="append", metavar="E", help="compare two environments")
    p = verb("bump", "raise the version in the prompt (or component) file")
    p.add_argument("name", metavar="NAME", help="the prompt, or a component")
    g = p.add_mutually_exclusive_group()
    for part, what in (
        ("patch", "raise the patch number"),
        ("minor", "raise the minor number"),
        ("major", "raise the major number"),
        ("auto", "the bump the change calls for (the default)"),
    ):
        g.add_argument(f"--{part}", dest="part", action="store_const", const=part, help=what)
    p = verb("lock", "resolve and write lockfiles; --check fails if any disagree")
    p.add_argument(
        "--env", metavar="E", help="only this environment (default: the first; --check: all)"
    )
    p.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if any file or lock disagrees"
    )
    p = verb("gate", "run the gate flow on candidates")
    p.add_argument("names", nargs="*", metavar="NAME", help="prompts to gate (default: all)")
    p.add_argument("--env", metavar="E", help="target environment (default: the first gated)")
    p.add_argument("--changed-since", metavar="REF", help="only prompts changed since a git ref")
    p.add_argument(
        "--cache",
        choices=["off", "read-write", "replay"],
        help="response cache mode (default: promptrail.yaml, else read-write)",
    )
    p.add_argument("--keep-going", action="store_true", help="run later gates after a failure")
    p.add_argument(
        "--mode",
        choices=["auto", "prefect", "in-process"],
        default="auto",
        help="auto: through Prefect when PREFECT_API_URL is set",
    )
    p = verb("promote", "the promotion flow: move a gated version into an environment")
    p.add_argument("target", metavar="NAME@VERSION", help="the prompt and version to promote")
    p.add_argument("--to", required=True, metavar="E", help="the environment to promote into")
    approval_args(p)
    p = verb("rollback", "promote the previously live version again")
    p.add_argument("name", metavar="NAME", help="the prompt")
    p.add_argument("--env", required=True, metavar="E", help="the environment to roll back")
    approval_args(p)
    p = verb("drift", "compare deployed targets with the lock; --sweep re-runs suites live")
    p.add_argument("--env", metavar="E", help="only this environment (default: all with targets)")
    p.add_argument(
        "--sweep", action="store_true", help="also re-run each locked prompt's suite live"
    )
    p = verb("plan", "what a release to ENV would change, and whether each change is ready")
    p.add_argument("--to", required=True, metavar="ENV", help="the environment to release to")
    p.add_argument("names", nargs="*", metavar="NAME", help="only these prompts")
    p.add_argument("--out", metavar="FILE", help="write a plan file for `promptrail apply`")
    p = verb("apply", "promote every ready change of a plan file")
    p.add_argument("planfile", metavar="PLANFILE", help="a file written by `plan --out`")
    approval_args(p)
    p = verb("deploy", "make every target of ENV hold exactly what the lock pins")
    p.add_argument("--env", required=True, metavar="E", help="the environment to deploy")
    p.add_argument("names", nargs="*", metavar="NAME", help="only these prompts")
    p = verb("at", "what was live in ENV at TIME, with full text and hashes")
    p.add_argument("env", metavar="ENV", help="the environment")
    p.add_argument("time", metavar="TIME", help="ISO 8601 (UTC when no zone is given), or `now`")
    p.add_argument("name", nargs="?", metavar="NAME", help="only this prompt")
    p = verb("history", "every version, gate run, promotion and drift finding for one prompt")
    p.add_argument("name", metavar="NAME", help="the prompt")
    p = verb("audit", "verify the chain against the lockfiles' anchors, or export it")
    p.add_argument(
        "action", choices=["verify", "export"], help="verify the chain, or export the log"
    )
    p.add_argument(
        "--git", action="store_true", help="verify: also every anchor in the lockfiles' git history"
    )
    p.add_argument(
        "--format",
        choices=["csv", "json", "parquet"],
        default="csv",
        help="export format (default: csv)",
    )
    p.add_argument("--output", metavar="PATH", help="export to this file (default: audit.FORMAT)")
    p = verb("sql", "run SQL on the store, print a table (or JSON)")
    p.add_argument("query", metavar="QUERY", help="a read-only SQL query (SELECT, EXPLAIN...)")
    p = verb(
        "store",
        "look after the store: prune old model inputs and outputs (audited), copy a history "
        "into another store (file <-> team store), migrate",
    )
    p.add_argument(
        "action",
        choices=["prune", "copy", "migrate"],
        help="prune: clear old inputs and outputs; copy SRC DST; migrate",
    )
    p.add_argument(
        "places", nargs="*", metavar="SRC DST", help="copy: two DuckDB paths or postgresql:// URLs"
    )
    p.add_argument(
        "--outputs-older-than",
        metavar="AGE",
        help="prune: clear the inputs and outputs of case results older than AGE (90d, 12h, 2w)",
    )
    p = verb("plugins", "the gates, assertions, providers and targets found, and where from")
    p.add_argument(
        "--kind",
        choices=["gate", "assertion", "provider", "target", "flow"],
        help="only plugins of this kind (default: all)",
    )
    p = verb("report", "a run's report, rebuilt from the store")
    p.add_argument("run_id", metavar="RUN_ID", help="a run id, or `latest` for the newest run")
    p.add_argument(
        "--format",
        choices=["md", "html", "junit", "sarif", "json"],
        default="md",
        help="md (the PR comment), html, junit, sarif (lint findings) or json (default: md)",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write the report here, not stdout")
    p = verb(
        "dev-server",
        "a stand-in for a model (not an LLM): a local server speaking the OpenAI and Anthropic "
        "wire protocols, for trying promptrail offline",
    )
    p.add_argument("--port", type=int, default=8787, help="the port (default: 8787)")
    p.add_argument("--latency", type=float, default=0.0, help="seconds to wait before answering")
    p.add_argument(
        "--outputs",
        metavar="FILE",
        help="YAML {prompt: {case_id: output}}: answer each suite case of the workspace so",
    )
    p.add_argument(
        "--print-env",
        action="store_true",
        help="print the export lines pointing the SDKs here, and exit",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        if "--json" in argv:
            sys.stdout.write(json.dumps(exc.to_json()) + "\n")
        else:
            sys.stderr.write(f"promptrail: error: {exc}\n")
        return exc.exit_code
    for key, default in (("json", False), ("C", "."), ("actor", None), ("verbose", False)):
        if not hasattr(args, key):
            setattr(args, key, default)
    if not args.verb:
        parser.print_help()
        return EXIT_OK
    from promptrail.secrets import install_log_redaction

    install_log_redaction()
    if args.verbose:  # Prefect and promptrail log at WARNING unless asked
        import logging

        os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        code = COMMANDS[args.verb](args)
        sys.stdout.flush()
        return code
    except PromptrailError as exc:
        return _report_error(args, exc)
    except BrokenPipeError:
        # The reader (`| head`) stopped reading: not an error of ours, and no traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:  # a full disk, a vanished folder, a refused connection: operational
        where = exc.filename if isinstance(exc.filename, str) else None
        return _report_error(
            args, OperationalError(exc.strerror or str(exc), file=where, kind="os")
        )
    except RecursionError:
        return _report_error(args, UsageError("input nested too deeply", kind="too-deep"))
    except MemoryError:
        return _report_error(args, OperationalError("out of memory", kind="memory"))
    except Exception as exc:
        # the store's own errors (a corrupt file, a changed schema) are operational: exit 3,
        # never 1, which `audit verify` uses for a broken chain
        for module in ("duckdb", "psycopg"):
            lib = sys.modules.get(module)
            if lib is not None and isinstance(exc, lib.Error):
                return _report_error(
                    args, OperationalError(f"store error: {exc}".splitlines()[0], kind="store")
                )
        raise
    except KeyboardInterrupt:
        sys.stderr.write("promptrail: interrupted\n")
        return 130
    finally:
        for module in ("promptrail.store.db", "promptrail.store.postgres"):
            if module in sys.modules:  # the command is done with its store
                sys.modules[module].close_all()


def run() -> None:
    """The ``promptrail`` command: ``main``, then a quick exit. Output is flushed, stores
    are closed and atexit handlers run as usual, but the interpreter's teardown of every
    imported module (~0.25 s once the SDKs, DuckDB and pyarrow are loaded) is skipped.
    Not after a Prefect run: its services report the last task runs from the interpreter's
    own shutdown hooks, so that exit is the ordinary one."""
    import atexit
    import threading

    code = main()
    if "prefect" in sys.modules:
        sys.exit(code)
    for thread in threading.enumerate():  # as the interpreter would: wait for its threads
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # logging's flush and close, for one
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, OSError):  # the reader is gone: nothing left to tell it
            pass
    os._exit(code)


if __name__ == "__main__":
    run()
