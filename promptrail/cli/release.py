"""The verbs that gate and release: gate, promote, rollback, drift, plan, apply, deploy,
report."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from promptrail.cli.shared import (
    actor,
    command,
    emit,
    recover,
    say,
    say_recovered,
    workspace,
)
from promptrail.errors import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    EXIT_OPERATIONAL,
)


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
    say_recovered(r.get("recovered") or [])
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
    from promptrail.promote import parse_target, promote

    name, version = parse_target(args.target)
    return _promotion(args, promote, name, version, args.to)


@command("rollback")
def cmd_rollback(args: argparse.Namespace) -> int:
    from promptrail.promote import rollback

    return _promotion(args, rollback, args.name, args.env)


def _promotion(args: argparse.Namespace, verb: Any, *what: str) -> int:
    """``promote`` or ``rollback`` of ``what``, with the approvals, reason and actor both
    take; printed (or ``--json``) alike."""
    from promptrail import verbs

    result = verb(
        workspace(args),
        *what,
        actor(args),
        args.approved_by or [],
        args.reason or "",
        approvals_from=args.approvals_from,
        repo=args.repo,
    )
    emit(args, result, lambda: _print_promotion(result))
    return verbs.promotion(result).exit_code


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
        say_recovered(result.get("recovered") or [])
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
        say_recovered(result["recovered"])
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
