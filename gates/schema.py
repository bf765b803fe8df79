"""The schema gate: every output parses as JSON and conforms to the prompt's output_schema."""

from __future__ import annotations

import json

from gates._eval import candidate_or_verdict
from promptrail.gating import Gate, GateContext, GateResult
from promptrail.outputs import parse_json_output


class SchemaGate(Gate):
    name = "schema"
    needs_eval = True

    def run(self, ctx: GateContext) -> GateResult:
        schema = ctx.resolved.output_schema
        if schema is None:
            return GateResult(self.name, "skipped", summary="the prompt has no output_schema")
        run, verdict = candidate_or_verdict(ctx, self.name)
        if verdict is not None:
            return verdict
        from promptrail.errors import UsageError
        from promptrail.regex import BadPattern, schema_validator

        try:
            validator = schema_validator(schema)  # patterns on RE2: linear time
        except BadPattern as exc:
            raise UsageError(f"output_schema: {exc}", file=ctx.resolved.path) from None
        threshold = float(ctx.settings.get("threshold", 1.0))
        failures = []
        outputs = [c for c in run.cases if c.output is not None]
        for case in outputs:
            try:
                data, _ = parse_json_output(case.output)
            except json.JSONDecodeError as exc:
                failures.append(
                    {
                        "case": case.case_id,
                        "repeat": case.repeat,
                        "message": f"not JSON: {exc.msg} at line {exc.lineno}",
                    }
                )
                continue
            errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
            if errors:
                err = errors[0]
                path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.path)
                failures.append(
                    {
                        "case": case.case_id,
                        "repeat": case.repeat,
                        "message": f"{path}: {err.message}",
                    }
                )
        if not outputs:
            return GateResult(
                self.name, "failed", 0.0, threshold, "no outputs to check (every case errored)"
            )
        rate = 1 - len(failures) / len(outputs)
        status = "passed" if rate >= threshold else "failed"
        summary = (
            f"{len(outputs) - len(failures)}/{len(outputs)} outputs conform "
            f"({rate:.0%}, threshold {threshold:.0%})"
        )
        if failures:
            summary += f"; first: {failures[0]['case']}: {failures[0]['message']}"
        return GateResult(self.name, status, rate, threshold, summary, {"failures": failures})
