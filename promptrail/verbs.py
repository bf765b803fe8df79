"""The verbs as library calls: each takes plain arguments and returns a ``Result``.

``promptrail.cli`` parses, calls one of these, renders the result and exits with its
``exit_code``; a Python user, a test or a Prefect flow calls the same function. Heavy modules
are imported inside each verb.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptrail.results import Result

if TYPE_CHECKING:
    from collections.abc import Callable

    from promptrail.store import Store
    from promptrail.workspace import Workspace


def lint(ws: Workspace, names: list[str] | None = None) -> Result:
    """The lint gate over the workspace (or the named prompts); its suites too."""
    from promptrail.gating import load_gate

    findings = load_gate("lint", ws.root).findings(ws, names)  # type: ignore[attr-defined]
    errors = sum(f.severity == "error" for f in findings)
    status = "failed" if errors else "passed"
    document = {
        "status": status,
        "errors": errors,
        "warnings": len(findings) - errors,
        "findings": [f.to_dict() for f in findings],
    }
    # a file that does not load is bad input (exit 2), as from every verb; lint still lists it
    from promptrail.errors import LOAD_HINTS

    invalid = any(f.rule == "invalid-suite" or f.rule in LOAD_HINTS for f in findings)
    return Result(status, document, "invalid" if invalid else None, findings)


def lock_check(ws: Workspace, envs: list[str] | None = None) -> Result:
    from promptrail import lock

    problems = lock.check(ws, envs)
    status = "stale" if problems else "ok"
    return Result(status, {"status": status, "problems": [p.to_dict() for p in problems]})


def gate(
    root: str | Path,
    *,
    mode: str = "auto",
    names: list[str] | None = None,
    env: str | None = None,
    changed_since: str | None = None,
    cache_mode: str | None = None,
    keep_going: bool = False,
    actor: str = "unknown",
    progress: Callable[..., Any] | None = None,
) -> Result:
    """Gate candidates, in this process or through Prefect (``mode``: auto, prefect,
    in-process); both run ``pipeline.run_gate`` and record the same rows."""
    from promptrail.orchestration import check_api, choose_mode, prefect_env

    root = Path(root).resolve()
    kwargs: dict[str, Any] = dict(
        names=names,
        env=env,
        changed_since=changed_since,
        cache_mode=cache_mode,
        keep_going=keep_going,
        actor=actor,
    )
    if choose_mode(mode) == "prefect":
        prefect_env(root)
        from promptrail.extras import require

        require("prefect", "prefect", "running the gate through Prefect (PREFECT_API_URL)")
        check_api()
        from promptrail import plugins

        # the flow run's state is the verdict (Failed for a failed gate) and carries the result
        state = plugins.get("flow", "gate")(workspace=str(root), return_state=True, **kwargs)
        outcome = state.result(raise_on_failure=False)
        if isinstance(outcome, BaseException):
            raise outcome  # an operational or usage error inside the flow run
        document = outcome
    else:
        from promptrail.pipeline import run_gate

        document = run_gate(str(root), progress=progress, **kwargs)
    return Result(str(document["status"]), document)


def promotion(document: dict[str, Any]) -> Result:
    """The result of ``promote.promote`` or ``promote.rollback``."""
    return Result(str(document["status"]), document)


def drift(
    root: str | Path,
    env: str | None = None,
    sweep: bool = False,
    actor: str = "unknown",
    progress: Callable[..., Any] | None = None,
) -> Result:
    from promptrail.drift import run_drift

    document = run_drift(str(root), env, sweep, actor, progress)
    status = str(document["status"])
    return Result(status, document, "error" if document.get("operational") else None)


def audit_verify(ws: Workspace, store: Store, git: bool = False) -> Result:
    from promptrail.anchors import verify

    document = verify(ws, store, git=git)
    return Result(str(document["status"]), document)
