"""The verbs for extending and trying promptrail: plugins, dev-server."""

from __future__ import annotations

import argparse

from promptrail.cli.shared import (
    command,
    emit,
    say,
)
from promptrail.errors import (
    EXIT_OK,
)


@command("plugins")
def cmd_plugins(args: argparse.Namespace) -> int:
    from pathlib import Path

    from promptrail import plugins

    root = Path(args.C)
    ws_root = root if (root / "promptrail.yaml").is_file() else None
    kinds = [args.kind] if args.kind else list(plugins.GROUPS)
    found = [p for kind in kinds for p in plugins.available(kind, ws_root)]
    data = {"plugins": [p.to_dict() for p in found]}

    def human() -> None:
        for p in found:
            note = f"  (shadowed by {p.shadowed_by})" if p.shadowed_by else ""
            say(f"{p.kind:<10} {p.name:<16} {p.source:<22} {p.ref}{note}")

    emit(args, data, human)
    return EXIT_OK


@command("dev-server")
def cmd_dev_server(args: argparse.Namespace) -> int:
    from pathlib import Path

    from promptrail.devserver import serve

    outputs = Path(args.outputs) if args.outputs else None
    return serve(args.port, args.latency, outputs, Path(args.C), None, args.print_env)
