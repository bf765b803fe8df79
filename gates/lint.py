"""The lint gate: what can be checked without calling a model.

Each finding has a rule id, a severity, the file and line, and a one-line fix hint.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from promptrail.errors import LOAD_HINTS, UsageError
from promptrail.gating import Gate, GateContext, GateResult
from promptrail.resolve import COMPONENT_CALL, ResolveError
from promptrail.secrets import PATTERNS as SECRET_PATTERNS
from promptrail.yamlio import line_of, line_of_text

DEFAULT_MAX_TOKENS = 4000

JSON_WORD = re.compile(r"\bjson\b", re.IGNORECASE)
COMPONENT_WORD = re.compile(r"\bcomponent\s*\(")


@dataclass
class Finding:
    rule: str
    severity: str  # error | warning
    file: str
    line: int | None
    message: str
    hint: str
    prompt: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "message": self.message,
            "hint": self.hint,
            "prompt": self.prompt,
        }

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.severity}[{self.rule}] {self.message} (fix: {self.hint})"


# A file that does not load: lint lists it, and the lint command exits 2 (bad input).


def var_line(text: str, var: str) -> int | None:
    """The line where a template first uses ``var`` (inside {{ }} or {% %}), not the first
    place its name appears (a description, another word)."""
    m = re.search(r"\{[{%][^}]*?\b" + re.escape(var) + r"\b", text)
    return text.count("\n", 0, m.start()) + 1 if m else None


def content_line(text: str, key_line: int | None, lineno: int) -> int | None:
    """The file line of line ``lineno`` of a message's content whose key is on ``key_line``:
    a block scalar (``content: |``) starts on the next line, an inline one on the same."""
    if key_line is None:
        return None
    lines = text.splitlines()
    head = lines[key_line - 1].split("#", 1)[0].rstrip() if key_line <= len(lines) else ""
    block = head.endswith(("|", ">", "|-", ">-", "|+", ">+"))
    return key_line + lineno - (0 if block else 1)


def lint_workspace(ws: Any, names: list[str] | None = None) -> list[Finding]:
    findings: list[Finding] = []
    targets = names if names else ws.prompt_names()
    for name in targets:
        findings += lint_prompt(ws, name)
    if not names:
        findings += _unused_components(ws)
        findings += _deprecated_config(ws)
    return findings


def _deprecated_config(ws: Any) -> list[Finding]:
    if not ws.config.alerts.webhook:
        return []
    from promptrail.yamlio import line_of

    _, text = ws.load_yaml("promptrail.yaml")
    return [
        Finding(
            "deprecated-alerts-webhook",
            "warning",
            "promptrail.yaml",
            line_of(text, ("alerts", "webhook")),
            "`alerts.webhook` still gets drift alerts, unsigned; webhooks are signed, retried "
            "and cover promote, rollback, apply, gate-failed and drift",
            "replace it with `webhooks: [{url: ..., events: [drift], secret_env: NAME}]` "
            "(docs/release.md)",
        )
    ]


def lint_prompt(ws: Any, name: str) -> list[Finding]:
    try:
        loaded = ws.prompt(name)
    except UsageError as exc:
        if exc.kind not in LOAD_HINTS:
            raise
        return [
            Finding(
                exc.kind, "error", str(exc.file), exc.line, exc.message, LOAD_HINTS[exc.kind], name
            )
        ]
    prompt, path, text = loaded.model, loaded.path, loaded.text
    out: list[Finding] = []

    def add(rule: str, severity: str, message: str, hint: str, line: int | None) -> None:
        out.append(Finding(rule, severity, path, line, message, hint, name))

    def msg_line(i: int) -> int | None:
        return line_of(text, ("messages", i, "content"))

    # components: declared, used, resolvable
    raw_used: set[str] = set()
    for i, msg in enumerate(prompt.messages):
        calls = COMPONENT_CALL.findall(msg.content or "")
        raw_used.update(c for _, c in calls)
        if len(COMPONENT_WORD.findall(msg.content or "")) > len(calls):
            add(
                "component-call-form",
                "error",
                'component() must be called as {{ component("name") }} with a literal name',
                "write the component name as a quoted literal",
                msg_line(i),
            )
    for comp in sorted(set(prompt.uses) - raw_used):
        add(
            "unused-component",
            "warning",
            f"component {comp!r} is declared in `uses` but never used",
            f"remove {comp!r} from `uses` or include it",
            line_of(text, ("uses", comp)),
        )
    try:
        resolved = ws.resolve(name)
    except UsageError as exc:  # a component that cannot be resolved, or does not load
        component_file = str(exc.file or "").startswith("components/")
        if not isinstance(exc, ResolveError) and not (component_file and exc.kind in LOAD_HINTS):
            raise  # promptrail.yaml and the like: the whole command's bad input
        rule = exc.kind
        hints = {
            **LOAD_HINTS,
            "missing-component": "create the component file or fix the name",
            "undeclared-component": "add it to `uses` with a version range",
            "component-cycle": "break the cycle between the components",
            "component-range": "widen the range in `uses` or pin a matching component version",
        }
        out.append(
            Finding(
                rule,
                "error",
                str(exc.file or path),
                exc.line,
                exc.message,
                hints.get(exc.kind, "check the component name"),
                name,
            )
        )
        return out

    # templates: syntax and variables
    used_vars: set[str] = set()
    env = _jinja_env()
    from jinja2 import TemplateSyntaxError, meta

    for i, msg in enumerate(resolved.messages):
        if "placeholder" in msg:
            continue
        try:
            ast = env.parse(msg["content"])
        except TemplateSyntaxError as exc:
            # the line in the prompt file's own text (components are inlined in resolved)
            try:
                env.parse(prompt.messages[i].content)
                line = msg_line(i)  # the error is in an inlined component
            except TemplateSyntaxError as own:
                line = content_line(text, msg_line(i), own.lineno or 1)
            add(
                "template-syntax",
                "error",
                f"template syntax error: {exc.message}",
                "fix the Jinja2 syntax",
                line,
            )
            continue
        used_vars |= meta.find_undeclared_variables(ast)
    props = set((prompt.input_schema or {}).get("properties", {}) or {})
    for var in sorted(used_vars - props):
        add(
            "undeclared-variable",
            "error",
            f"variable {var!r} is used but not declared in input_schema",
            f"add {var!r} to input_schema.properties",
            var_line(text, var) or line_of(text, ("input_schema",)),
        )
    for var in sorted(props - used_vars):
        add(
            "unused-variable",
            "warning",
            f"variable {var!r} is declared but never used",
            f"remove {var!r} from input_schema or use it",
            line_of(text, ("input_schema", "properties", var)),
        )

    # schemas
    for key, schema in (
        ("input_schema", resolved.input_schema),
        ("output_schema", resolved.output_schema),
    ):
        if schema is None:
            continue
        problem = _schema_problem(json.dumps(schema, sort_keys=True))
        if problem:
            add(
                "invalid-json-schema",
                "error",
                f"{key} is not a valid JSON Schema: {problem}",
                "fix the schema (draft 2020-12)",
                line_of(text, (key,)),
            )
    if resolved.output_schema is not None and not any(
        JSON_WORD.search(m.get("content") or "") for m in resolved.messages
    ):
        add(
            "output-schema-without-json",
            "warning",
            "output_schema is set but the prompt never asks for JSON",
            "say in the prompt that the answer is JSON",
            line_of(text, ("output_schema",)),
        )

    # roles the provider rejects
    out += [
        Finding(r, "error", path, msg_line(i), m, h, name)
        for r, i, m, h in _role_problems(resolved, _wire(ws, resolved.provider))
    ]

    # secrets, in the prompt file and in the text components brought in
    for label, pattern in SECRET_PATTERNS:
        for i, msg in enumerate(resolved.messages):
            if pattern.search(msg.get("content") or ""):
                hit = pattern.search(msg.get("content") or "")
                line = line_of_text(text, hit.group(0)) if hit else None
                add(
                    "secret",
                    "error",
                    f"message {i} contains what looks like a {label}",
                    "remove it; pass secrets through the provider SDK's environment variables",
                    line or msg_line(i),
                )
                break

    # token budget
    budget = ws.config.gate_settings("lint", prompt=prompt).get(
        "max_tokens", ws.config.token_budget or DEFAULT_MAX_TOKENS
    )
    # a token covers at least one byte, so only a prompt longer in bytes than the budget
    # needs the tokenizer (whose import alone costs 0.6 s)
    texts = [m.get("content") or "" for m in resolved.messages]
    size = sum(len(t.encode("utf-8")) for t in texts)
    tokens = size
    if size > budget:
        from promptrail.tokens import count_tokens

        tokens = sum(count_tokens(t, resolved.model["name"]) for t in texts)
    if tokens > budget:
        add(
            "token-budget",
            "error",
            f"the prompt is {tokens} tokens before variables; the budget is {budget}",
            "shorten it or raise gates.lint.max_tokens",
            1,
        )

    if ws.exists(f"suites/{name}.yaml") is False:
        add("no-suite", "warning", "no eval suite", f"add suites/{name}.yaml", None)
    else:
        out += _suite_problems(ws, name)
    return out


def _suite_problems(ws: Any, name: str) -> list[Finding]:
    """The suite as the gate loads it: file format, datasets, assertion kinds and options."""
    from promptrail.suites import load_suite

    try:
        load_suite(ws, name)
    except UsageError as exc:
        return [
            Finding(
                "invalid-suite",
                "error",
                str(exc.file or f"suites/{name}.yaml"),
                exc.line,
                exc.message,
                "fix the suite; docs/formats.md lists the assertion kinds and their options",
                name,
            )
        ]
    return []


@lru_cache(maxsize=1024)
def _schema_problem(schema_json: str) -> str | None:
    """Why a schema is invalid, or None; cached because prompts share schemas."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    from promptrail.regex import BadPattern, schema_validator

    try:
        Draft202012Validator.check_schema(json.loads(schema_json))
        schema_validator(json.loads(schema_json))
    except SchemaError as exc:
        return str(exc.message)
    except BadPattern as exc:
        return str(exc)
    return None


def _role_problems(resolved: Any, wire: str) -> list[tuple[str, int, str, str]]:
    # a placeholder's turns are not known here; tool results travel as user turns
    roles = [m.get("role", "placeholder") for m in resolved.messages]
    out = []
    if wire == "anthropic":
        systems = [i for i, r in enumerate(roles) if r == "system"]
        for i in systems:
            if i != 0:
                out.append(
                    (
                        "provider-roles",
                        i,
                        "anthropic takes one system message, first",
                        "merge it into the first system message",
                    )
                )
        rest = [
            (i, "user" if r == "tool" else r)
            for i, r in enumerate(roles)
            if r not in ("system", "placeholder")
        ]
        if rest and rest[0][1] != "user":
            out.append(
                (
                    "provider-roles",
                    rest[0][0],
                    "anthropic needs the first non-system message to be from the user",
                    "start the conversation with a user message",
                )
            )
        for (_, a), (j, b) in zip(rest, rest[1:], strict=False):
            if a == b and not (roles[j] == "tool" or roles[j - 1] == "tool"):
                out.append(
                    (
                        "provider-roles",
                        j,
                        f"anthropic needs user and assistant turns to "
                        f"alternate; two {b} messages in a row",
                        "merge the two messages",
                    )
                )
    if "user" not in roles and "placeholder" not in roles:
        out.append(("provider-roles", len(roles) - 1, "no user message", "add a user message"))
    return out


def _wire(ws: Any, provider: str) -> str:
    """The wire protocol of a provider instance's kind ("openai", "anthropic", ...)."""
    from promptrail.providers.kinds import instance_kind, kind_module

    try:
        module = kind_module(instance_kind(provider, ws.config.providers))
    except UsageError:
        return provider
    return str(getattr(module, "WIRE", provider))


def _unused_components(ws: Any) -> list[Finding]:
    used = set()
    for name in ws.prompt_names():
        try:
            used |= set(ws.prompt(name).model.uses)
        except UsageError:
            return []  # a file that does not load may use any component: say nothing
    for comp_name in ws.component_names():
        try:
            used |= set(ws.component(comp_name).model.uses)
        except UsageError:
            return []
    return [
        Finding(
            "orphan-component",
            "warning",
            f"components/{c}.yaml",
            1,
            f"component {c!r} is used by no prompt",
            "remove it or use it",
        )
        for c in sorted(set(ws.component_names()) - used)
    ]


def _jinja_env() -> Any:
    from promptrail.render import environment

    return environment()


class LintGate(Gate):
    name = "lint"

    def findings(self, ws: Any, names: list[str] | None = None) -> list[Finding]:
        """Every finding in the workspace (or the named prompts): what ``promptrail lint`` shows."""
        return lint_workspace(ws, names)

    def run(self, ctx: GateContext) -> GateResult:
        findings = lint_prompt(ctx.ws, ctx.resolved.name)
        errors = [f for f in findings if f.severity == "error"]
        warnings = len(findings) - len(errors)
        status = "failed" if errors else "passed"
        summary = f"{len(errors)} errors, {warnings} warnings" if findings else "no findings"
        if errors:
            summary += ": " + "; ".join(f"{f.rule}: {f.message}" for f in errors[:3])
        return GateResult(
            "lint",
            status,
            score=float(len(errors)),
            threshold=0.0,
            summary=summary,
            details={"findings": [f.to_dict() for f in findings]},
        )
