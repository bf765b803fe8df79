"""Render report templates (a workspace's ``reports/<name>`` overrides the packaged one).

A workspace template is untrusted (a pull request can change it): it runs in the same bounded
sandbox as prompts (``promptrail.sandbox``), and what it may include or import is limited to
regular files inside ``reports/``: no absolute paths, no ``..``, no link that leads out (so no
``/proc/self/environ``). Any failure is exit 2 naming the template.
"""

from __future__ import annotations

from html import escape
from pathlib import Path, PurePosixPath
from typing import Any

from promptrail.errors import UsageError

COMMENT_LIMIT = 65_536  # GitHub's limit on a comment body
COMMENT_BUDGET = 60_000  # stay well under it
ICONS = {"passed": "✅", "failed": "❌", "error": "⚠️", "skipped": "⏭️"}


def _reports_loader(ws_root: Path) -> Any:
    from jinja2 import BaseLoader, TemplateNotFound

    from promptrail.yamlio import read_text

    folder = ws_root / "reports"

    class ReportsLoader(BaseLoader):
        """Templates from the workspace's reports/ folder, and nothing outside it."""

        def get_source(self, environment: Any, template: str) -> tuple[str, str, Any]:
            shown = f"reports/{template}"
            pure = PurePosixPath(template)
            if "\x00" in template or "\\" in template:
                raise UsageError(f"bad template name {template!r}", file=shown)
            if pure.is_absolute() or ".." in pure.parts:
                raise UsageError(
                    f"template {template!r} is outside reports/ (only names inside it)",
                    file=shown,
                )
            path = folder / pure
            if not (path.is_symlink() or path.exists()):
                raise TemplateNotFound(template)
            try:
                real = path.resolve()
            except (OSError, RuntimeError):
                raise UsageError("cannot resolve the template (a link loop?)", file=shown) from None
            if not real.is_relative_to(folder.resolve()):
                raise UsageError(
                    f"template {template!r} leads outside reports/ (through a link)", file=shown
                )
            return read_text(path, shown), str(path), lambda: True

    return ReportsLoader()


def _env(ws_root: Path | None) -> Any:
    from jinja2 import ChoiceLoader, PackageLoader, select_autoescape

    from promptrail import sandbox

    loaders: list[Any] = [_reports_loader(ws_root)] if ws_root else []
    loaders.append(PackageLoader("promptrail.reports", "templates"))
    env = sandbox.environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(["html", "html.j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        num=_num,
        icon=lambda s: ICONS.get(s, ""),
        cell=_cell,
        usd=_usd,
        pct=_pct,
        short=lambda h: (h or "")[:19],
    )
    env.globals.update(svg_line=svg_line)
    return env


def _missing(v: Any) -> bool:
    from jinja2 import Undefined

    return v is None or isinstance(v, Undefined)


def _num(v: Any) -> str:
    return "" if _missing(v) else f"{v:.4g}"


def _usd(v: Any) -> str:
    return "–" if _missing(v) else f"${v:.4f}"


def _pct(v: Any) -> str:
    return "–" if _missing(v) else f"{v:.1%}"


def _cell(text: Any) -> str:
    return str(text or "").replace("|", "\\|").replace("\n", " ")


def _relative(filename: str | None, ws_root: Path | None) -> str | None:
    if filename and ws_root is not None and filename.startswith(str(ws_root) + "/"):
        return filename[len(str(ws_root)) + 1 :]
    return filename


def _shown(template: Any, ws_root: Path | None) -> str:
    filename = getattr(template, "filename", None)
    if filename and ws_root is not None and filename.startswith(str(ws_root) + "/"):
        return str(_relative(filename, ws_root))
    return f"promptrail/reports/templates/{template.name}"


def _render(template: Any, context: dict[str, Any], ws_root: Path | None) -> str:
    from promptrail.sandbox import TemplateProblem, render

    try:
        return render(template, context)
    except TemplateProblem as exc:
        raise UsageError(
            exc.message, file=_shown(template, ws_root), line=exc.line, kind=exc.kind
        ) from None


def render_template(name: str, report: dict[str, Any], ws_root: Path | None = None) -> str:
    from jinja2 import TemplateError

    env = _env(ws_root)
    try:
        template = env.get_template(name)
    except TemplateError as exc:
        raise UsageError(
            f"template error: {exc}",
            file=_relative(getattr(exc, "filename", None), ws_root) or f"reports/{name}",
            line=getattr(exc, "lineno", None),
            kind="template",
        ) from None
    if not name.startswith("comment"):
        return _render(template, report, ws_root)
    # the pull-request comment must fit: full, then compact, then cut with a pointer
    for compact in (False, True):
        text = _render(template, {**report, "compact": compact}, ws_root)
        if len(text) <= COMMENT_BUDGET:
            return text
    pointer = (
        f"\n\n… truncated to fit a comment; the full report is "
        f"`reports/out/{report['run']['run_id']}/report.html`\n"
    )
    return text[: COMMENT_BUDGET - len(pointer)] + pointer


def svg_line(
    rows: list[dict[str, Any]],
    x: str,
    y: str,
    title: str,
    fmt: str = "pct",
    width: int = 360,
    height: int = 160,
) -> str:
    """A small self-contained line chart (no scripts, no network) of ``y`` per ``x``."""
    values = [(str(r[x]), float(r[y])) for r in rows if r.get(y) is not None]
    pad_l, pad_b, pad_t, pad_r = 48, 28, 22, 12
    w, h = width - pad_l - pad_r, height - pad_b - pad_t
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text x="{pad_l}" y="14" class="title">{escape(title)}</text>',
    ]
    if not values:
        out.append(f'<text x="{pad_l}" y="{pad_t + h / 2}">no data yet</text></svg>')
        return "".join(out)
    top = 1.0 if fmt == "pct" else max(v for _, v in values) * 1.15 or 1.0
    n = len(values)

    def xy(i: int, v: float) -> tuple[float, float]:
        px = pad_l + (w * i / (n - 1) if n > 1 else w / 2)
        return px, pad_t + h - (v / top) * h

    def label(v: float) -> str:
        return f"{v:.0%}" if fmt == "pct" else f"${v:.3g}"

    out.append(
        f'<line x1="{pad_l}" y1="{pad_t + h}" x2="{pad_l + w}" y2="{pad_t + h}" class="axis"/>'
    )
    out.append(f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{pad_t + h}" class="axis"/>')
    out.append(
        f'<text x="4" y="{pad_t + 4}">{label(top)}</text>'
        f'<text x="4" y="{pad_t + h}">{label(0)}</text>'
    )
    pts = " ".join(f"{px:.1f},{py:.1f}" for px, py in (xy(i, v) for i, (_, v) in enumerate(values)))
    out.append(f'<polyline points="{pts}" class="series"/>')
    for i, (name, v) in enumerate(values):
        px, py = xy(i, v)
        out.append(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" class="point">'
            f"<title>{escape(name)}: {label(v)}</title></circle>"
            f'<text x="{px:.1f}" y="{pad_t + h + 16}" text-anchor="middle">'
            f"{escape(name)}</text>"
        )
    out.append("</svg>")
    return "".join(out)
