"""The verbs that read and keep the record: at, history, audit, sql, store."""

from __future__ import annotations

import argparse
from typing import Any

from promptrail.cli.shared import (
    actor,
    command,
    emit,
    open_store,
    say,
    workspace,
)
from promptrail.errors import (
    EXIT_OK,
    UsageError,
)


@command("at")
def cmd_at(args: argparse.Namespace) -> int:
    from promptrail.timeline import at, parse_time

    when = parse_time(args.time)
    store = open_store(args)
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

    result = history(open_store(args), args.name)

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

    store = open_store(args)
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
    cols, rows = open_store(args).sql(args.query)
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
        result = prune_outputs(
            open_store(args, read_only=False), args.outputs_older_than, actor(args)
        )
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
        store = open_store(args, read_only=False)
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
