"""Run the pipeline's steps as Prefect tasks: a task per prompt, and one per gate inside it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import task
from prefect.cache_policies import NONE

from promptrail.pipeline import Hooks


class PrefectHooks(Hooks):
    mode = "prefect"

    def map(self, fn: Callable[[str], Any], items: list[str]) -> list[Any]:
        step = task(
            name="gate-prompt",
            cache_policy=NONE,
            task_run_name="gate:{name}" if _first_param(fn) == "name" else None,
        )(fn)
        futures = [step.submit(item) for item in items]
        return [f.result() for f in futures]

    def step(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        return task(name=name, cache_policy=NONE)(fn)(*args)


def _first_param(fn: Callable[..., Any]) -> str | None:
    import inspect

    params = list(inspect.signature(fn).parameters)
    return params[0] if params else None
