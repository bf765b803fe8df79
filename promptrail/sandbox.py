"""The one Jinja2 sandbox every template runs in: prompts and report templates alike.

Jinja2's ``SandboxedEnvironment`` stops a template reaching Python internals; this adds the
bounds a hostile template needs (``promptrail.limits``), each a ``TemplateLimitError``:
- ``template_seconds``: wall time of one render (a watchdog interrupts a render that runs
  longer, e.g. two nested ``range(10000)`` loops);
- ``template_output_chars``: what a render may produce, checked on the output as it streams
  and before anything big is built (``'a' * 2000000000``, ``'x'.ljust(10**9)``,
  ``'%2000000000d' % 1``, ``'x' | center(10**9)``);
- ``template_range``: items one ``range()`` may produce;
- ``template_depth``: nested calls (a macro calling itself).

``render`` turns every failure of a template (a syntax error, an include of a missing file, a
recursion, a bound) into one ``TemplateProblem`` with a line where Jinja knows it; callers
name the file.
"""

from __future__ import annotations

import ctypes
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from promptrail import limits
from promptrail.errors import PromptrailError

_BIG_NUMBER = re.compile(r"\d{7,}")


class TemplateProblem(Exception):
    """A template failed: ``kind`` is sandbox, vars, template or limit."""

    def __init__(self, message: str, kind: str = "template", line: int | None = None) -> None:
        super().__init__(message)
        self.message, self.kind, self.line = message, kind, line


class TemplateLimitError(Exception):
    """A bound of ``promptrail.limits`` was passed while rendering."""


class _Timeout(BaseException):
    """Raised inside the rendering thread by the watchdog (a BaseException, so a template
    cannot swallow it and nothing between catches it by accident)."""


# -- the watchdog ----------------------------------------------------------------------------
class _Watchdog:
    """One daemon thread that interrupts renders past their deadline."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active: dict[int, tuple[int, float]] = {}  # token -> (thread id, deadline)
        self._fired: set[int] = set()
        self._next = 0
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for token, (tid, deadline) in list(self._active.items()):
                    if deadline <= now and token not in self._fired:
                        self._fired.add(token)
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(
                            ctypes.c_ulong(tid), ctypes.py_object(_Timeout)
                        )
                pending = [d for t, (_, d) in self._active.items() if t not in self._fired]
                self._cond.wait(max(0.005, min(pending) - now) if pending else None)

    @contextmanager
    def guard(self, seconds: float) -> Iterator[None]:
        tid = threading.get_ident()
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="promptrail-template-watchdog", daemon=True
                )
                self._thread.start()
            self._next += 1
            token = self._next
            deadline = time.monotonic() + seconds
            # the watchdog sleeps until the earliest deadline: wake it only if this one is
            # earlier (renders share one limit, so that is when it was idle)
            wake = all(d > deadline for t, (_, d) in self._active.items() if t not in self._fired)
            self._active[token] = (tid, deadline)
            if wake:
                self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                del self._active[token]
                if token in self._fired:
                    self._fired.discard(token)
                    # the exception may not have been delivered yet: take it back
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), None)


_WATCHDOG = _Watchdog()


# -- the environment ---------------------------------------------------------------------------
_depth = threading.local()


def _too_long(n: int) -> TemplateLimitError:
    cap = limits.current().template_output_chars
    return TemplateLimitError(
        f"the template would build {n:,} characters; the limit is {cap:,} "
        "(limits.template_output_chars)"
    )


def _check_size(value: Any) -> Any:
    cap = limits.current().template_output_chars
    if isinstance(value, (str, bytes, list, tuple)) and len(value) > cap:
        raise _too_long(len(value))
    return value


def _check_ints(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """A width, count or size argument bigger than any output may be: refused up front."""
    cap = limits.current().template_output_chars
    for v in (*args, *kwargs.values()):
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > cap:
            raise _too_long(abs(v))


def _check_format(fmt: Any) -> None:
    """A format string with a field width bigger than any output may be: refused up front."""
    if isinstance(fmt, str) and _BIG_NUMBER.search(fmt):
        n = max(int(m) for m in _BIG_NUMBER.findall(fmt))
        if n > limits.current().template_output_chars:
            raise _too_long(n)


def _bounded_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        pass_arg = getattr(fn, "jinja_pass_arg", None)
        value_at = 1 if pass_arg is not None else 0  # after the context or environment
        _check_ints(args[value_at + 1 :], kwargs)
        if name == "format" and len(args) > value_at:
            _check_format(args[value_at])
        return _check_size(fn(*args, **kwargs))

    if hasattr(fn, "jinja_pass_arg"):  # keep Jinja's pass_context/pass_environment marker
        wrapper.jinja_pass_arg = fn.jinja_pass_arg  # type: ignore[attr-defined]
    return wrapper


def _bounded_range(*args: int) -> range:
    rng = range(*args)
    cap = limits.current().template_range
    if len(rng) > cap:
        raise TemplateLimitError(
            f"range() of {len(rng):,} items; the limit is {cap:,} (limits.template_range)"
        )
    return rng


def environment(**options: Any) -> Any:
    """A bounded sandboxed environment (``options`` go to Jinja2)."""
    from jinja2.sandbox import SandboxedEnvironment

    class BoundedSandbox(SandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "+", "%"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            cap = limits.current().template_output_chars
            if operator == "*":
                seq, n = (left, right) if isinstance(right, int) else (right, left)
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int):
                    if len(seq) * n > cap:
                        raise _too_long(len(seq) * n)
            elif operator == "**":
                if isinstance(right, int) and isinstance(left, int) and abs(left) > 1:
                    bits = abs(left).bit_length() * right
                    if bits > cap * 4:
                        raise TemplateLimitError("the template computes a number too large")
            elif operator == "+":
                if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
                    if len(left) + len(right) > cap:
                        raise _too_long(len(left) + len(right))
            elif operator == "%":
                _check_format(left)
            return _check_size(super().call_binop(context, operator, left, right))

        def wrap_str_format(self, value: Any) -> Any:
            wrapped = super().wrap_str_format(value)
            if wrapped is not None:  # str.format / format_map: a huge field width
                _check_format(value.__self__)
            return wrapped

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
            _check_ints(args, kwargs)
            depth = getattr(_depth, "n", 0) + 1
            cap = limits.current().template_depth
            if depth > cap:
                raise TemplateLimitError(
                    f"calls nested more than {cap} deep (limits.template_depth)"
                )
            _depth.n = depth
            try:
                return _check_size(super().call(__context, __obj, *args, **kwargs))
            finally:
                _depth.n = depth - 1

    env = BoundedSandbox(**options)
    env.filters = {name: _bounded_filter(name, fn) for name, fn in env.filters.items()}
    env.globals["range"] = _bounded_range
    return env


def render(template: Any, context: dict[str, Any]) -> str:
    """Render within the bounds; every failure is a ``TemplateProblem``."""
    from jinja2 import TemplateError
    from jinja2.exceptions import SecurityError, UndefinedError

    lim = limits.current()
    parts: list[str] = []
    size = 0
    _depth.n = 0
    try:
        with _WATCHDOG.guard(lim.template_seconds):
            for chunk in template.generate(**context):
                size += len(chunk)
                if size > lim.template_output_chars:
                    raise _too_long(size)
                parts.append(chunk)
    except PromptrailError:  # e.g. an include the loader refused: already names the file
        raise
    except _Timeout:
        raise TemplateProblem(
            f"rendering took longer than {lim.template_seconds:g}s (limits.template_seconds)",
            kind="limit",
        ) from None
    except TemplateLimitError as exc:
        raise TemplateProblem(str(exc), kind="limit", line=_line(exc)) from None
    except SecurityError as exc:
        raise TemplateProblem(f"blocked by the sandbox: {exc}", kind="sandbox") from None
    except UndefinedError as exc:
        raise TemplateProblem(str(exc.message), kind="vars", line=_line(exc)) from None
    except TemplateError as exc:
        raise TemplateProblem(
            f"template error: {exc}", line=getattr(exc, "lineno", None) or _line(exc)
        ) from None
    except RecursionError:
        raise TemplateProblem("the template recurses too deeply", kind="limit") from None
    except MemoryError:
        raise TemplateProblem("the template ran out of memory", kind="limit") from None
    except Exception as exc:  # noqa: BLE001 - anything a template does is its input's fault
        raise TemplateProblem(
            f"template error: {type(exc).__name__}: {exc}", line=_line(exc)
        ) from None
    return "".join(parts)


def compile_source(env: Any, source: str) -> Any:
    """``env.from_string`` with a syntax error as a ``TemplateProblem``."""
    from jinja2 import TemplateSyntaxError

    try:
        return env.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"template error: {exc.message}", line=exc.lineno) from None
    except RecursionError:
        raise TemplateProblem("the template is nested too deeply", kind="limit") from None


def _line(exc: BaseException) -> int | None:
    """The template line of the frame that raised, from Jinja's rewritten traceback."""
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in ("<template>",) or tb.tb_frame.f_globals.get(
            "__jinja_template__"
        ):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
