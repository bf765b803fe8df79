"""Optional parts of promptrail and the one-line hint when one is missing.

The core (workspace, lint, lock, render, diff, gate in-process, promote, at, history, audit,
sql) needs none of them. A verb that needs a missing extra stops with exit 2 and says which
extra to install, never with an ImportError.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from promptrail.errors import UsageError

EXTRAS = {
    "prefect": "Prefect flows, deployments and workers",
    "deepeval": "deepeval metrics in suites (`deepeval:<Metric>` assertions)",
    "analytics": "pandas DataFrames (promptrail.analytics)",
    "postgres": "a PostgreSQL team store",
    "s3": "the S3 deploy target",
}


class MissingExtra(UsageError):
    def __init__(self, extra: str, needed_for: str | None = None) -> None:
        what = needed_for or EXTRAS.get(extra, extra)
        super().__init__(
            f"{what} needs promptrail's '{extra}' extra, which is not installed: run "
            f"`uv sync --extra {extra}` (or `pip install -e '.[{extra}]'`) in your promptrail "
            "checkout",
            kind="missing-extra",
        )


def require(module: str, extra: str, needed_for: str | None = None) -> ModuleType:
    """Import ``module`` (part of ``extra``) or stop with the install hint."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        if exc.name is not None and exc.name.split(".")[0] != top:
            raise  # the extra is there but broken: a real bug, keep its traceback
        raise MissingExtra(extra, needed_for) from None


def ensure(module: str, extra: str, needed_for: str | None = None) -> None:
    """Check that ``module`` could be imported, without importing it (cheap, for load time)."""
    import importlib.util
    import sys

    if module in sys.modules:
        if sys.modules[module] is None:
            raise MissingExtra(extra, needed_for)
        return
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingExtra(extra, needed_for)
