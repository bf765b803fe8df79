"""Approvals: who approved, whether it counts, and approvals read from GitHub reviews.

An approval is a name and where it came from: ``--approved-by WHO`` (``flag``; anyone can
type it, so it is only a claim) or a pull request's reviews read from GitHub (``github``,
recorded as ``github:LOGIN``; GitHub authenticated the reviewer). ``decide`` sorts them into
the ones that count and the ones ignored, each with the reason, against the environment's
``approvers`` list (emails, ``github:LOGIN``, ``github-team:ORG/TEAM``) when it has one.

A review counts only if it approves the PR's head commit (or a later one) and the prompt at
that commit resolves to the exact content hash being promoted.

GitHub: ``GET /repos/{repo}/pulls/{n}`` (the head) and ``/reviews``, team members from
``GET /orgs/{org}/teams/{team}/members``. The repository is ``--repo`` or
``GITHUB_REPOSITORY``; the token is ``GITHUB_TOKEN`` (or ``GH_TOKEN``); ``GITHUB_API_URL``
points at GitHub Enterprise (or a local stand-in in tests). The token is sent, never stored
or logged. GitHub unreachable is exit 3, never an approval.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from promptrail.errors import OperationalError, UsageError

EMAIL = re.compile(r"^[^@\s:]+@[^@\s]+\.[^@\s]+$")
GITHUB_LOGIN = re.compile(r"^github:[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
GITHUB_TEAM = re.compile(r"^github-team:[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9_.-]+$")


def check_approver(value: str) -> str:
    """An ``approvers:`` item: an email, ``github:LOGIN`` or ``github-team:ORG/TEAM``."""
    if not (EMAIL.match(value) or GITHUB_LOGIN.match(value) or GITHUB_TEAM.match(value)):
        raise ValueError(
            f"unknown approver form {value!r}: use an email (lead@acme.com), "
            "github:LOGIN or github-team:ORG/TEAM"
        )
    return value


@dataclass(frozen=True)
class Approval:
    who: str  # an email as typed, or github:LOGIN
    via: str = "flag"  # flag | github


@dataclass
class Decision:
    counted: list[str] = field(default_factory=list)
    ignored: list[dict[str, str]] = field(default_factory=list)

    def ignore(self, who: str, why: str) -> None:
        if not any(i["who"] == who for i in self.ignored):
            self.ignored.append({"who": who, "why": why})

    def explain(self) -> str:
        return "; ".join(f"{i['who']} ({i['why']})" for i in self.ignored)


def decide(
    ws: Any,
    environment: Any,
    actor: str,
    resolved: Any,
    approvals: Sequence[str | Approval] | None = None,
    approvals_from: str | None = None,
    repo: str | None = None,
) -> Decision:
    """Which approvals count for promoting ``resolved`` into ``environment``, and why the
    others do not."""
    decision = Decision()
    given = [a if isinstance(a, Approval) else Approval(str(a).strip()) for a in approvals or []]
    given = [a for a in given if a.who]
    if approvals_from:
        found, stale = pull_request_approvals(ws, approvals_from, repo, resolved)
        given += found
        for who, why in stale:
            decision.ignore(who, why)
    allowed = list(environment.approvers or [])
    teams: dict[str, set[str]] = {}
    for a in given:
        if a.who.lower() == str(actor).lower():
            decision.ignore(a.who, "the person promoting does not count")
        elif a.via == "flag" and a.who.startswith(("github:", "github-team:")):
            decision.ignore(
                a.who,
                "typed with --approved-by; a GitHub approval counts only when read from "
                "GitHub (--approvals-from github:PR)",
            )
        elif allowed and not _allowed(a, allowed, teams):
            decision.ignore(a.who, f"not one of {environment.name}'s approvers")
        elif a.who not in decision.counted:
            decision.counted.append(a.who)
    decision.counted.sort()
    return decision


def approval_refusal(environment: Any, actor: str, decision: Decision) -> str:
    """Why a promotion lacks approvals: how many, from whom, and whose were ignored."""
    need, got = environment.approvals, decision.counted
    who = (
        f"its approvers ({', '.join(environment.approvers)}) other than {actor}"
        if environment.approvers
        else f"people other than {actor}"
    )
    text = f"{environment.name} needs {need} approval(s) from {who}; got {len(got)}" + (
        f" ({', '.join(got)})" if got else ""
    )
    if decision.ignored:
        text += f"; ignored: {decision.explain()}"
    return text + ": add --approved-by WHO or --approvals-from github:PR"


def _allowed(a: Approval, allowed: list[str], teams: dict[str, set[str]]) -> bool:
    who = a.who.lower()
    for entry in allowed:
        if entry.lower() == who and (a.via == "github") == entry.startswith("github:"):
            return True
        if entry.startswith("github-team:") and a.via == "github":
            if entry not in teams:
                org, _, team = entry.removeprefix("github-team:").partition("/")
                teams[entry] = {m.lower() for m in team_members(org, team)}
            if who.removeprefix("github:") in teams[entry]:
                return True
    return False


# -- GitHub --------------------------------------------------------------------------------
def _get(path: str, what: str) -> Any:
    token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    if not token:
        raise UsageError("GITHUB_TOKEN is not set: reading pull-request reviews needs a token")
    api = os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    req = urllib.request.Request(
        api + path,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "promptrail",
        },
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=15) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403, 404):
            raise UsageError(
                f"GitHub refused {what} (HTTP {exc.code}): check the token's access "
                "and the name or number"
            ) from None
        raise OperationalError(f"GitHub answered HTTP {exc.code} for {what}") from None
    except (OSError, ValueError) as exc:
        raise OperationalError(f"cannot read {what} from GitHub: {exc}") from None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an HTTPError: the token never follows it elsewhere


def _pages(path: str, what: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        batch = _get(f"{path}?per_page=100&page={page}", what)
        if not isinstance(batch, list):
            raise OperationalError(f"unexpected answer for {what}")
        items += batch
        if len(batch) < 100:
            return items
        page += 1


def team_members(org: str, team: str) -> list[str]:
    members = _pages(f"/orgs/{org}/teams/{team}/members", f"the members of {org}/{team}")
    return [str(m.get("login")) for m in members if m.get("login")]


def latest_reviews(pr: int, repo: str) -> dict[str, dict[str, Any]]:
    """Each reviewer's latest deciding review (approved, changes requested or dismissed)."""
    latest: dict[str, dict[str, Any]] = {}
    for review in _pages(f"/repos/{repo}/pulls/{pr}/reviews", f"the reviews of {repo}#{pr}"):
        login = (review.get("user") or {}).get("login")
        if login and review.get("state") in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[login] = review  # in submission order: a later review replaces one before
    return latest


def pull_request_approvals(
    ws: Any, source: str, repo: str | None, resolved: Any
) -> tuple[list[Approval], list[tuple[str, str]]]:
    """The PR's approving reviews that are tied to ``resolved``'s content, and the approving
    reviews that are not, each with the reason."""
    kind, _, ref = source.partition(":")
    if kind != "github" or not ref.isdigit():
        raise UsageError(f"--approvals-from takes github:PR_NUMBER, got {source!r}")
    pr = int(ref)
    repo = repo or os.environ.get("GITHUB_REPOSITORY")
    if not repo:
        raise UsageError("which repository? set GITHUB_REPOSITORY=owner/name (or --repo)")
    head = (_get(f"/repos/{repo}/pulls/{pr}", f"pull request {repo}#{pr}").get("head") or {}).get(
        "sha"
    )
    if not isinstance(head, str) or not head:
        raise OperationalError(f"GitHub gave no head commit for {repo}#{pr}")
    counted, ignored = [], []
    hashes: dict[str, str] = {}
    for login, review in sorted(latest_reviews(pr, repo).items()):
        if review.get("state") != "APPROVED":
            continue
        who = f"github:{login}"
        commit = str(review.get("commit_id") or "")
        why = _stale(ws, resolved, head, commit, pr, hashes)
        if why:
            ignored.append((who, why))
        else:
            counted.append(Approval(who, "github"))
    return counted, ignored


def _stale(
    ws: Any, resolved: Any, head: str, commit: str, pr: int, hashes: dict[str, Any]
) -> str | None:
    """Why a review of ``commit`` does not vouch for ``resolved`` (None: it does)."""
    if not commit:
        return "GitHub did not say which commit the review approved"
    if not _has_commit(ws, commit):
        return f"approved commit {commit[:10]}, which is not in this clone (git fetch origin pull/{pr}/head)"
    if commit != head and not _is_ancestor(ws, head, commit):
        return (
            f"approved commit {commit[:10]}, not the pull request's head {head[:10]}: "
            "the pull request changed after the review"
        )
    if commit not in hashes:
        from promptrail.workspace import Workspace

        try:
            hashes[commit] = Workspace(ws.root, ref=commit).resolve(resolved.name).content_hash
        except UsageError as exc:
            hashes[commit] = f"unresolvable ({exc})"
    found = hashes[commit]
    if found != resolved.content_hash:
        return (
            f"at the approved commit {commit[:10]}, {resolved.name} resolves to {found[:19]}…, "
            f"not the {resolved.content_hash[:19]}… being promoted"
        )
    return None


def _git_ok(ws: Any, *args: str) -> bool:
    proc = subprocess.run(["git", "-C", str(ws.root), *args], capture_output=True)
    return proc.returncode == 0


def _has_commit(ws: Any, commit: str) -> bool:
    return _git_ok(ws, "cat-file", "-e", f"{commit}^{{commit}}")


def _is_ancestor(ws: Any, older: str, newer: str) -> bool:
    return _has_commit(ws, older) and _git_ok(ws, "merge-base", "--is-ancestor", older, newer)
