"""Progress of a run: a rich progress bar on a terminal, a few plain lines in CI."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any


class Progress:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.tty = enabled and sys.stderr.isatty()
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}
        self._last: dict[str, int] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> Progress:
        if self.tty:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def callback(self) -> Callable[[str, int, int], None] | None:
        return self.update if self.enabled else None

    def update(self, label: str, done: int, total: int) -> None:
        with self._lock:
            if self._bar is not None:
                if label not in self._tasks:
                    self._tasks[label] = self._bar.add_task(label, total=total)
                self._bar.update(self._tasks[label], completed=done)
                return
            # plain lines: at the end, and at 25% steps for large suites
            step = total // 4 if total >= 100 else total
            if done == total or done // step > self._last.get(label, 0) // step:
                self._last[label] = done
                sys.stderr.write(f"{label}: {done}/{total} cases\n")
