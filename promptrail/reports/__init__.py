"""Run reports, built from the store alone so any run can be reported again later.

``gate`` writes every format to ``reports/out/<run_id>/`` (atomically); ``promptrail report
RUN_ID --format md|html|junit|sarif|json`` prints one. Formats:
- ``md``: the pull-request comment (capped under GitHub's comment size limit);
- ``html``: one self-contained file with score and cost history plots (inline SVG);
- ``junit``: one test case per suite case, so CI shows failures natively;
- ``sarif``: lint findings, so code-scanning UIs annotate the prompt file lines.
Templates are Jinja2 files in ``promptrail/reports/templates``; a workspace overrides one by
putting a file of the same name in its ``reports/`` folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptrail.fsutil import write_atomic
from promptrail.reports.model import build

if TYPE_CHECKING:
    from promptrail.store import Store
    from promptrail.workspace import Workspace

FORMATS = {
    "json": "run.json",
    "md": "report.md",
    "html": "report.html",
    "junit": "junit.xml",
    "sarif": "lint.sarif",
}


def render(report: dict[str, Any], fmt: str, ws_root: Path | None = None) -> str:
    """One format of a report (see ``render_all``)."""
    return render_all(report, [fmt], ws_root)[fmt]


def render_all(
    report: dict[str, Any], formats: Iterable[str], ws_root: Path | None = None
) -> dict[str, str]:
    """Formats of a report, redacted of secrets: the data once before (so escaping cannot
    hide a secret from the redactor) and each rendered text after (so a template cannot add
    one)."""
    from promptrail.secrets import redact_text, secret_values

    values = secret_values()
    clean = _clean(report, values)
    return {fmt: redact_text(_render(clean, fmt, ws_root), values) for fmt in formats}


def _clean(report: dict[str, Any], values: list[str]) -> dict[str, Any]:
    """The report redacted (its case views redact their rows as they are read)."""
    from promptrail.secrets import might_change, redact

    return redact(report, values) if might_change(report, values) else report


def _render(report: dict[str, Any], fmt: str, ws_root: Path | None = None) -> str:
    if fmt == "json":
        return json.dumps(report["run"], indent=2, default=str) + "\n"
    if fmt == "junit":
        from promptrail.reports.junit import junit

        return junit(report)
    if fmt == "sarif":
        from promptrail.reports.sarif import sarif

        return sarif(report)
    from promptrail.reports.templating import render_template

    return render_template({"md": "comment.md.j2", "html": "report.html.j2"}[fmt], report, ws_root)


def write_run_reports(
    ws: Workspace, store: Store, run_id: str, result: dict[str, Any]
) -> dict[str, str]:
    """Every format of the run's report into ``reports/out/RUN_ID/``, redacted as
    ``render_all`` does; JUnit, which lists every case, is written a piece at a time."""
    from promptrail.reports.junit import pieces
    from promptrail.secrets import redact_text, secret_values

    values = secret_values()
    clean = _clean(build(store, run_id, ws.root, result), values)
    folder = ws.root / "reports" / "out" / run_id
    paths = {}
    for fmt, name in FORMATS.items():
        write_atomic(
            folder / name,
            (redact_text(piece, values) for piece in pieces(clean))
            if fmt == "junit"
            else redact_text(_render(clean, fmt, ws.root), values),
        )
        paths[fmt] = str((folder / name).relative_to(ws.root))
    return paths


def render_report(ws: Workspace, run_id: str, fmt: str) -> str:
    return render(build(ws.store(read_only=True), run_id, ws.root), fmt, ws.root)
