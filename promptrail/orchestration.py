"""How ``promptrail gate`` (and promote, drift) run: through Prefect, or in-process.

Through Prefect when an API is configured (``PREFECT_API_URL``, e.g. a running
``prefect server start``); otherwise the same pipeline runs in this process with a thread
pool, without starting Prefect's temporary server (20 s and lost task records per process).
"""

from __future__ import annotations

import os
from pathlib import Path

from promptrail.errors import OperationalError


def prefect_env(workspace_root: Path) -> None:
    """Quiet, offline Prefect defaults with its home inside the workspace, unless set."""
    os.environ.setdefault("PREFECT_HOME", str(workspace_root / ".promptrail" / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def choose_mode(requested: str = "auto") -> str:
    if requested != "auto":
        return requested
    return "prefect" if os.environ.get("PREFECT_API_URL") else "in-process"


def check_api() -> None:
    """Fail fast (exit 3) when the configured Prefect API does not answer."""
    import urllib.request

    url = os.environ.get("PREFECT_API_URL", "").rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - a local API URL
            if resp.status == 200:
                return
    except OSError as exc:
        raise OperationalError(
            f"the Prefect API at {url} does not answer ({exc}); unset "
            "PREFECT_API_URL to run in-process"
        ) from None
    raise OperationalError(f"the Prefect API at {url} is unhealthy")
