"""Approvals from a code-review system: ``promote --approvals-from github:PR_NUMBER``.

GitHub: the pull request's reviews (``GET /repos/{repo}/pulls/{n}/reviews``), counting each
reviewer whose latest review approves. The repository is ``--repo`` or ``GITHUB_REPOSITORY``;
the token is ``GITHUB_TOKEN`` (or ``GH_TOKEN``); ``GITHUB_API_URL`` points at GitHub
Enterprise (or a local stand-in in tests). The token is sent, never stored or logged.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

from promptrail.errors import OperationalError, UsageError


def approvals_from(source: str, repo: str | None = None) -> list[str]:
    kind, _, ref = source.partition(":")
    if kind != "github" or not ref.isdigit():
        raise UsageError(f"--approvals-from takes github:PR_NUMBER, got {source!r}")
    return github_approvals(int(ref), repo)


def github_approvals(pr: int, repo: str | None = None) -> list[str]:
    repo = repo or os.environ.get("GITHUB_REPOSITORY")
    if not repo:
        raise UsageError("which repository? set GITHUB_REPOSITORY=owner/name (or --repo)")
    token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    if not token:
        raise UsageError("GITHUB_TOKEN is not set: reading pull-request reviews needs a token")
    api = os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    reviews: list[dict[str, Any]] = []
    page = 1
    while True:
        url = f"{api}/repos/{repo}/pulls/{pr}/reviews?per_page=100&page={page}"
        req = urllib.request.Request(
            url,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "promptrail",
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:  # noqa: S310
                batch = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403, 404):
                raise UsageError(
                    f"GitHub refused the reviews of {repo}#{pr} (HTTP {exc.code}): "
                    "check the token's access and the PR number"
                ) from None
            raise OperationalError(f"GitHub answered HTTP {exc.code} for {repo}#{pr}") from None
        except (OSError, ValueError) as exc:
            raise OperationalError(f"cannot read the reviews of {repo}#{pr}: {exc}") from None
        if not isinstance(batch, list):
            raise OperationalError(f"unexpected answer for the reviews of {repo}#{pr}")
        reviews += batch
        if len(batch) < 100:
            break
        page += 1
    latest: dict[str, str] = {}
    for review in reviews:  # in submission order: a later review replaces an earlier one
        login = (review.get("user") or {}).get("login")
        state = review.get("state")
        if login and state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[login] = state
    return sorted(login for login, state in latest.items() if state == "APPROVED")
