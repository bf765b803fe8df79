"""The schema gate: every output parses as JSON and conforms to the prompt's output_schema
(structured outputs included), and every tool call's arguments conform to that tool's
parameters schema. Outputs that were tool calls are counted as tool calls, not as outputs."""

from __future__ import annotations

import json
from typing import Any

from gates._eval import candidate_or_verdict
from promptrail.gating import Gate, GateContext, GateResult
from promptrail.outputs import parse_json_output


class SchemaGate(Gate):
    name = "schema"
    needs_eval = True

    def run(self, ctx: GateContext) -> GateResult:
        schema = ctx.resolved.output_schema
        tools = {t["name"]: t for t in (getattr(ctx.resolved, "tools", None) or [])}
        if schema is None and not tools:
            return GateResult(
                self.name, "skipped", summary="the prompt has no output_schema and no tools"
            )
        run, verdict = candidate_or_verdict(ctx, self.name)
        if verdict is not None:
            return verdict
        from jsonschema import Draft202012Validator

        from promptrail.errors import UsageError
        from promptrail.regex import BadPattern, schema_validator

        threshold = float(ctx.settings.get("threshold", 1.0))
        failures: list[dict[str, Any]] = []  # the first SHOWN of each kind, tool calls first
        try:  # patterns on RE2: linear time
            validator = schema_validator(schema) if schema is not None else None
        except BadPattern as exc:
            raise UsageError(f"output_schema: {exc}", file=ctx.resolved.path) from None
        # two passes over the cases, none held: a big suite's are read back from disk
        calls = call_failures = 0
        for case in run.cases:
            for call in getattr(case, "tool_calls", None) or []:
                calls += 1
                problem = _call_problem(call, tools, Draft202012Validator)
                if problem:
                    call_failures += 1
                    if call_failures <= SHOWN:
                        failures.append(_failure(case, problem))
        outputs = output_failures = 0
        for case in run.cases:
            if (
                case.output is None
                or validator is None
                or (getattr(case, "tool_calls", None) and not case.output)
            ):
                continue
            outputs += 1
            problem = _output_problem(case.output, validator)
            if problem:
                output_failures += 1
                if output_failures <= SHOWN:
                    failures.append(_failure(case, problem))
        checked = outputs + calls
        if not checked:
            return GateResult(
                self.name, "failed", 0.0, threshold, "no outputs to check (every case errored)"
            )
        rate = 1 - (output_failures + call_failures) / checked
        status = "passed" if rate >= threshold else "failed"
        parts = []
        if schema is not None:
            parts.append(f"{outputs - output_failures}/{outputs} outputs conform")
        if calls or schema is None:
            parts.append(f"{calls - call_failures}/{calls} tool calls' arguments conform")
        summary = f"{', '.join(parts)} ({rate:.0%}, threshold {threshold:.0%})"
        if failures:
            summary += f"; first: {failures[0]['case']}: {failures[0]['message']}"
        return GateResult(
            self.name,
            status,
            rate,
            threshold,
            summary,
            {
                "failures": failures,
                "outputs": outputs,
                "tool_calls": calls,
                "failed_outputs": output_failures,
                "failed_tool_calls": call_failures,
            },
        )


SHOWN = 100  # failures of each kind kept in the gate's details; all are counted


def _failure(case: Any, message: str) -> dict[str, Any]:
    return {"case": case.case_id, "repeat": case.repeat, "message": message}


def _output_problem(output: str, validator: Any) -> str | None:
    try:
        data, _ = parse_json_output(output)
    except json.JSONDecodeError as exc:
        return f"not JSON: {exc.msg} at line {exc.lineno}"
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    if not errors:
        return None
    err = errors[0]
    path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.path)
    return f"{path}: {err.message}"


def _call_problem(call: dict[str, Any], tools: dict[str, Any], validator_cls: Any) -> str | None:
    name = call.get("name")
    if name not in tools:
        return f"called {name!r}, which is not one of the prompt's tools"
    args = call.get("arguments")
    if not isinstance(args, dict):
        return f"{name}: arguments are not a JSON object"
    errors = sorted(
        validator_cls(tools[name].get("parameters") or {}).iter_errors(args),
        key=lambda e: list(e.path),
    )
    if errors:
        err = errors[0]
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.path)
        return f"{name} arguments {path}: {err.message}"
    return None
