"""The ``promptrail`` command: parse, call the library, print, exit.

The verbs live in modules named for what they work on (``authoring``, ``release``,
``records``, ``tools``), each registering itself with ``shared.command``; ``parser`` holds
the grammar; this module runs one command and turns every error into its exit code.

Each verb is a small function that calls the same public functions a Python user would.
Heavy libraries are imported inside the verbs that need them, so ``lint``, ``lock --check``
and ``at`` start fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from promptrail.cli import authoring, records, release, tools  # noqa: F401 - each registers its verbs
from promptrail.cli.parser import build_parser
from promptrail.cli.shared import COMMANDS
from promptrail.errors import (
    EXIT_OK,
    OperationalError,
    PromptrailError,
    UsageError,
)

__all__ = ["COMMANDS", "build_parser", "main", "run"]


def _report_error(args: argparse.Namespace, exc: PromptrailError) -> int:
    from promptrail.secrets import redact, redact_text

    if args.json:
        sys.stdout.write(json.dumps(redact(exc.to_json())) + "\n")
    else:
        sys.stderr.write(redact_text(f"promptrail: error: {exc}") + "\n")
    return exc.exit_code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        if "--json" in argv:
            sys.stdout.write(json.dumps(exc.to_json()) + "\n")
        else:
            sys.stderr.write(f"promptrail: error: {exc}\n")
        return exc.exit_code
    for key, default in (("json", False), ("C", "."), ("actor", None), ("verbose", False)):
        if not hasattr(args, key):
            setattr(args, key, default)
    if not args.verb:
        parser.print_help()
        return EXIT_OK
    from promptrail.secrets import install_log_redaction

    install_log_redaction()
    if args.verbose:  # Prefect and promptrail log at WARNING unless asked
        import logging

        os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        code = COMMANDS[args.verb](args)
        sys.stdout.flush()
        return code
    except PromptrailError as exc:
        return _report_error(args, exc)
    except BrokenPipeError:
        # The reader (`| head`) stopped reading: not an error of ours, and no traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:  # a full disk, a vanished folder, a refused connection: operational
        where = exc.filename if isinstance(exc.filename, str) else None
        return _report_error(
            args, OperationalError(exc.strerror or str(exc), file=where, kind="os")
        )
    except RecursionError:
        return _report_error(args, UsageError("input nested too deeply", kind="too-deep"))
    except MemoryError:
        return _report_error(args, OperationalError("out of memory", kind="memory"))
    except Exception as exc:
        # the store's own errors (a corrupt file, a changed schema) are operational: exit 3,
        # never 1, which `audit verify` uses for a broken chain
        for module in ("duckdb", "psycopg"):
            lib = sys.modules.get(module)
            if lib is not None and isinstance(exc, lib.Error):
                return _report_error(
                    args, OperationalError(f"store error: {exc}".splitlines()[0], kind="store")
                )
        raise
    except KeyboardInterrupt:
        sys.stderr.write("promptrail: interrupted\n")
        return 130
    finally:
        for module in ("promptrail.store.db", "promptrail.store.postgres"):
            if module in sys.modules:  # the command is done with its store
                sys.modules[module].close_all()


def run() -> None:
    """The ``promptrail`` command: ``main``, then a quick exit. Output is flushed, stores
    are closed and atexit handlers run as usual, but the interpreter's teardown of every
    imported module (~0.25 s once the SDKs, DuckDB and pyarrow are loaded) is skipped.
    Not after a Prefect run: its services report the last task runs from the interpreter's
    own shutdown hooks, so that exit is the ordinary one, but with every object frozen first
    (``gc.freeze``): the teardown's garbage collections then skip the SDKs', deepeval's and
    Prefect's objects, which took 0.65 s of the example's gate through a Prefect server."""
    import atexit
    import threading

    code = main()
    if "prefect" in sys.modules:
        import gc

        gc.freeze()
        sys.exit(code)
    for thread in threading.enumerate():  # as the interpreter would: wait for its threads
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # logging's flush and close, for one
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, OSError):  # the reader is gone: nothing left to tell it
            pass
    os._exit(code)
