"""Suites: the cases of a prompt's eval suite, with defaults and dataset rows merged in."""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from promptrail.errors import UsageError
from promptrail.models import Case
from promptrail.yamlio import line_of

if TYPE_CHECKING:
    from promptrail.workspace import Workspace


@dataclass(slots=True)
class SuiteCase:
    id: str
    vars: dict[str, Any]
    assertions: list[Any]  # parsed promptrail.assertions objects
    must_pass: bool = False
    specs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Suite:
    prompt: str
    path: str
    threshold: float
    repeat: int
    cases: Sequence[SuiteCase]  # a big dataset's spill to disk (promptrail.spill)
    max_errors: int = 0

    @cached_property
    def slow_checks(self) -> bool:
        """Whether a case has a check that is not inline (deepeval's, a plugin's)."""
        return any(not a.inline for case in self.cases for a in case.assertions)


def load_suite(ws: Workspace, name: str) -> Suite | None:
    """The suite's cases, parsed once per workspace object (a gate's input check, the lint
    gate and the evaluator all ask)."""
    if name not in ws.loaded_suites:
        ws.loaded_suites[name] = _load_suite(ws, name)
    return ws.loaded_suites[name]  # type: ignore[no-any-return]


def _load_suite(ws: Workspace, name: str) -> Suite | None:
    loaded = ws.suite(name)
    if loaded is None:
        return None
    model, path, text = loaded.model, loaded.path, loaded.text
    from promptrail.assertions import parse_assertion

    raw_cases: Iterable[tuple[Case, str, int | None]] = [
        (c, path, line_of(text, ("cases", i))) for i, c in enumerate(model.cases)
    ]
    if model.dataset:  # read row by row: a row's dict and model go before the next is read
        rel = ws.inside(str(PurePosixPath(path).parent / model.dataset), path)
        raw_cases = itertools.chain(raw_cases, _dataset(ws, rel))
    # The defaults' checks are parsed once and shared by every case: a check holds only its
    # configuration, and a 100,000-row dataset should not hold 100,000 copies of them.
    defaults = []
    for i, spec in enumerate(model.defaults.assert_):
        try:
            defaults.append(parse_assertion(spec, path, ws.root))
        except UsageError as exc:
            if exc.line is None:
                exc.line = _spec_line(
                    text, True, 0, None, spec, i, len(model.defaults.assert_), exc
                )
            raise
    default_specs = list(model.defaults.assert_)
    default_vars = model.defaults.vars
    cases, seen = _case_list(defaults, default_specs), set()
    for index, (case, where, line) in enumerate(raw_cases):
        if case.id in seen:
            raise UsageError(f"case id {case.id!r} appears twice", file=where, line=line)
        seen.add(case.id)
        assertions, specs = defaults, default_specs
        if case.assert_:
            assertions = list(defaults)
            specs = default_specs + list(case.assert_)
            for k, spec in enumerate(case.assert_):
                try:
                    assertions.append(parse_assertion(spec, where, ws.root))
                except UsageError as exc:
                    if exc.line is None:
                        j = len(default_specs) + k
                        exc.line = _spec_line(
                            text, where == path, index, line, spec, j, len(default_specs), exc
                        )
                    raise
        case_vars = {**default_vars, **case.vars} if default_vars else case.vars
        cases.append(SuiteCase(case.id, case_vars, assertions, case.must_pass, specs))
    return Suite(name, path, model.threshold, model.repeat, cases, model.max_errors)


def _case_list(defaults: list[Any], default_specs: list[Any]) -> Any:
    """A list for the suite's cases that spills to disk when the dataset is big (see
    ``promptrail.spill``). A case's checks are written as the index of its group: the
    defaults' (shared by every case without checks of its own) or its own, kept here."""
    from promptrail.spill import SpillList

    groups: list[tuple[list[Any], list[Any]]] = [(defaults, default_specs)]
    index = {id(defaults): 0}

    def flatten(case: SuiteCase) -> tuple[Any, ...]:
        group = index.get(id(case.assertions))
        if group is None:
            group = index[id(case.assertions)] = len(groups)
            groups.append((case.assertions, case.specs))
        return case.id, case.vars, case.must_pass, group

    def build(row: tuple[Any, ...]) -> SuiteCase:
        case_id, case_vars, must_pass, group = row
        assertions, specs = groups[group]
        return SuiteCase(case_id, case_vars, assertions, must_pass, specs)

    return SpillList(flatten, build)


def _spec_line(
    text: str,
    in_suite: bool,
    index: int,
    case_line: int | None,
    spec: Any,
    j: int,
    n_defaults: int,
    exc: UsageError,
) -> int | None:
    """The line of the assertion spec (or of its bad option) that made ``exc``: in the suite's
    defaults or its ``index``-th case; for a dataset row, the row's line."""
    from promptrail.assertions.base import OptionError

    if j < n_defaults:
        loc: tuple[Any, ...] = ("defaults", "assert", j)
    elif in_suite:
        loc = ("cases", index, "assert", j - n_defaults)
    else:
        return case_line
    option = exc.option if isinstance(exc, OptionError) else None
    if option is not None and isinstance(spec, dict) and option in spec:
        loc = (*loc, option)
    return line_of(text, loc) or case_line


def _dataset(ws: Workspace, rel: str) -> Iterator[tuple[Case, str, int]]:
    """The dataset's rows as cases, one at a time (a 100,000-row file is never held as
    100,000 dicts and models at once: that peak was ten times the cases it made)."""
    from pydantic import ValidationError

    if not ws.exists(rel):
        raise UsageError(f"dataset {rel!r} not found", file=rel)
    if not rel.endswith((".jsonl", ".csv")):
        raise UsageError("a dataset is .jsonl or .csv", file=rel)
    text = ws.read(rel, ws.config.limits.dataset_bytes, "datasets (limits.dataset_bytes)")
    for row, n in _rows(text, rel):
        row.setdefault("id", f"row-{n}")
        try:
            yield Case.model_validate(row), rel, n
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise UsageError(f"{loc}: {err['msg']}", file=rel, line=n) from None


def _lines(text: str) -> Iterator[str]:
    """The text's lines, one at a time, ends kept (``io.StringIO`` would copy a 100,000-row
    file into a buffer four bytes a character first)."""
    start, end = 0, len(text)
    while start < end:
        stop = text.find("\n", start)
        stop = end if stop < 0 else stop + 1
        yield text[start:stop]
        start = stop


def _rows(text: str, rel: str) -> Iterator[tuple[dict[str, Any], int]]:
    if rel.endswith(".csv"):
        for n, row in enumerate(csv.DictReader(_lines(text)), 2):
            case_id = row.pop("id", None) or f"row-{n - 1}"
            yield {"id": case_id, "vars": row}, n
        return
    for n, line in enumerate(_lines(text), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"invalid JSON: {exc.msg}", file=rel, line=n) from None
        if not isinstance(row, dict):
            raise UsageError("each line must be a JSON object", file=rel, line=n)
        yield row, n
