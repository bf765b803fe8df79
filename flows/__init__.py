"""Prefect flows: gate, promote, sweep. Thin wrappers over the plain functions in promptrail.

Importing this package sets Prefect's quiet, offline defaults (no analytics, warnings only)
unless the environment already says otherwise.
"""

import os

for _key, _value in {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
}.items():
    os.environ.setdefault(_key, _value)

from promptrail.secrets import install_log_redaction  # noqa: E402 - after the defaults

install_log_redaction()  # no secret in a flow's logs, whichever handler sends them
