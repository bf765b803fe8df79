"""``python -m promptrail.cli``: the ``promptrail`` command."""

from promptrail.cli import run

run()
