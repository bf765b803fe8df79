"""The command line's grammar: argparse, raising a usage error (exit 2) instead of exiting."""

from __future__ import annotations

import argparse
from typing import Any

from promptrail.errors import (
    UsageError,
)


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
