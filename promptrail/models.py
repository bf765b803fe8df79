"""Pydantic models of every workspace file: config, prompt, component, suite.

Every model forbids unknown keys. ``validate_file`` turns a validation error into a
``UsageError`` that names the file, the line, and for a misspelt key the likely meant one.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from promptrail import semver
from promptrail.errors import UsageError
from promptrail.yamlio import line_of

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, populate_by_name=True)


def _check_version(value: str) -> str:
    semver.parse_version(value)
    return value


def _check_range(value: str) -> str:
    semver.parse_range(value)
    return value


def _as_text(value: Any) -> Any:
    """YAML reads ``version: 1.4`` as a number; check it as the text the user wrote."""
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _check_approver(value: str) -> str:
    from promptrail.approvals import check_approver

    return check_approver(value)


Version = Annotated[str, BeforeValidator(_as_text), AfterValidator(_check_version)]
Approver = Annotated[str, AfterValidator(_check_approver)]
Range = Annotated[str, AfterValidator(_check_range)]


TOOL_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"  # what both OpenAI and Anthropic accept
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


class Settings(Strict):
    """Model settings a prompt may set; which of them a provider takes is checked per
    provider kind (``promptrail.providers.kinds``), never silently dropped."""

    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: list[str] | None = None
    seed: int | None = None
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = (
        None
    )
    thinking_budget: int | None = Field(default=None, ge=1024)
    parallel_tool_calls: bool | None = None

    def params(self) -> dict[str, Any]:
        """The settings that are set, in the neutral form the provider modules translate."""
        return self.model_dump(
            exclude={"provider", "name", "overrides", "structured_output"}, exclude_none=True
        )


class ProviderOverride(Settings):
    """The model and settings for one other provider (nothing is inherited: a setting for
    one provider's model is rarely right for another's)."""

    name: str = Field(min_length=1)
    structured_output: bool | None = None


class ModelSettings(Settings):
    provider: str = Field(pattern=NAME_PATTERN)
    name: str = Field(min_length=1)
    structured_output: bool = True  # ask the provider for output_schema (when there is one)
    overrides: dict[str, ProviderOverride] = Field(default_factory=dict)


class Tool(Strict):
    name: str = Field(pattern=TOOL_NAME_PATTERN)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolChoiceName(Strict):
    name: str


ToolChoice = Literal["auto", "none", "required"] | ToolChoiceName


class ToolCall(Strict):
    """An assistant's call of a tool, in a few-shot example."""

    id: str = Field(min_length=1)
    name: str = Field(pattern=TOOL_NAME_PATTERN)
    arguments: dict[str, Any] = Field(default_factory=dict)


class Message(Strict):
    """A message, or a ``placeholder`` the runtime and suites fill with prior turns."""

    role: Literal["system", "user", "assistant", "tool"] | None = None
    content: str | None = None
    placeholder: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    tool_calls: list[ToolCall] | None = None  # assistant messages only
    tool_call_id: str | None = None  # tool messages only: the call this answers

    @model_validator(mode="after")
    def _shape(self) -> Message:
        if self.placeholder is not None:
            if self.role or self.content is not None or self.tool_calls or self.tool_call_id:
                raise ValueError("a placeholder message has only `placeholder: NAME`")
            return self
        if self.role is None:
            raise ValueError("a message needs a `role` (or is a `placeholder`)")
        if self.tool_calls is not None and self.role != "assistant":
            raise ValueError("only an assistant message has tool_calls")
        if (self.tool_call_id is None) != (self.role != "tool"):
            raise ValueError("a tool message needs tool_call_id (and only a tool message has one)")
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError(f"a {self.role} message needs `content`")
        return self

    def resolved(self, content: str | None) -> dict[str, Any]:
        """The neutral form: {role, content} as before, with tool fields only when set."""
        if self.placeholder is not None:
            return {"placeholder": self.placeholder}
        out: dict[str, Any] = {"role": self.role, "content": content or ""}
        if self.tool_calls:
            out["tool_calls"] = [c.model_dump() for c in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out


class PromptFile(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    version: Version
    description: str = ""
    model: ModelSettings
    uses: dict[str, Range] = Field(default_factory=dict)
    input_schema: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )
    output_schema: dict[str, Any] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    messages: list[Message] = Field(min_length=1)
    gates: dict[str, dict[str, Any]] = Field(default_factory=dict)


class ComponentFile(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    version: Version
    description: str = ""
    template: str
    input_schema: dict[str, Any] | None = None
    uses: dict[str, Range] = Field(default_factory=dict)


class Case(Strict):
    id: str = Field(min_length=1)
    description: str = ""
    vars: dict[str, Any] = Field(default_factory=dict)
    assert_: list[dict[str, Any]] = Field(default_factory=list, alias="assert")
    must_pass: bool = False


class SuiteDefaults(Strict):
    vars: dict[str, Any] = Field(default_factory=dict)
    assert_: list[dict[str, Any]] = Field(default_factory=list, alias="assert")


class SuiteFile(Strict):
    prompt: str
    description: str = ""
    threshold: float = Field(default=1.0, ge=0, le=1)
    repeat: int = Field(default=1, ge=1, le=100)
    max_errors: int = Field(default=0, ge=0)  # errored cases tolerated before the gate errors
    defaults: SuiteDefaults = Field(default_factory=SuiteDefaults)
    cases: list[Case] = Field(default_factory=list)
    dataset: str | None = None


class Target(BaseModel):
    """A deployment target; ``kind`` picks the implementation, the other keys are its own."""

    model_config = ConfigDict(extra="allow")
    kind: str


class Environment(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    gates: list[str] | dict[str, dict[str, Any]] = Field(default_factory=list)
    requires: str | None = None
    approvals: int = Field(default=0, ge=0)
    # who may approve: emails, github:LOGIN, github-team:ORG/TEAM (approvals from anyone
    # else do not count); with approvers and no `approvals`, one approval is needed
    approvers: list[Approver] = Field(default_factory=list)
    # what a promotion needs: "live" (outputs from live model calls, never the cache or a
    # recording) or "recorded" (either); by default live where approvals are required
    evidence: Literal["live", "recorded"] | None = None
    targets: list[Target] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_approval_from_approvers(self) -> Environment:
        if self.approvers and "approvals" not in self.model_fields_set:
            self.approvals = 1
        return self

    def required_evidence(self) -> str:
        return self.evidence or ("live" if self.approvals > 0 else "recorded")

    def gate_names(self) -> list[str]:
        return list(self.gates)

    def gate_overrides(self) -> dict[str, dict[str, Any]]:
        return dict(self.gates) if isinstance(self.gates, dict) else {}


class CacheSettings(Strict):
    path: str = ".promptrail/cache.jsonl"
    mode: Literal["off", "read-write", "replay"] = "read-write"
    # also keep responses in the store (a team store: CI re-runs replay earlier runs' calls)
    store: bool = False


class JudgeSettings(Strict):
    provider: str = Field(default="openai", pattern=NAME_PATTERN)
    name: str = "gpt-4o-mini"


class AlertSettings(Strict):
    webhook: str | None = None
    prefect_block: str | None = None  # a Prefect notification block, e.g. "slack-webhook/ops"


class Limits(Strict):
    """``limits:`` in promptrail.yaml: raise (or lower) a bound on hostile input; see
    docs/security.md (``promptrail.limits`` holds the defaults of the unset ones)."""

    # Datasets are JSONL/CSV rows, read line by line, and a real one is large: their cap is
    # separate from the whole-file cap of the YAML files (file_bytes, 1 MiB).
    dataset_bytes: int = Field(default=256 * 1024 * 1024, ge=1)
    file_bytes: int | None = Field(default=None, gt=0)
    yaml_nodes: int | None = Field(default=None, gt=0)
    template_seconds: float | None = Field(default=None, gt=0)
    template_output_chars: int | None = Field(default=None, gt=0)
    template_range: int | None = Field(default=None, gt=0)
    template_depth: int | None = Field(default=None, gt=0)
    provider_response_bytes: int | None = Field(default=None, gt=0)
    http_seconds: float | None = Field(default=None, gt=0)
    http_response_bytes: int | None = Field(default=None, gt=0)

    def values(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class Webhook(Strict):
    """A receiver of signed event notifications (promptrail/webhooks.py)."""

    url: str = Field(pattern=r"^https?://")
    events: list[Literal["promote", "rollback", "apply", "gate-failed", "drift"]] = Field(
        min_length=1
    )
    secret_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout: float = Field(default=10.0, gt=0, le=120)  # total, all attempts included


class Config(Strict):
    environments: list[Environment] = Field(min_length=1)
    limits: Limits = Field(default_factory=Limits)
    store: str = ".promptrail/promptrail.duckdb"
    cache: CacheSettings = Field(default_factory=CacheSettings)
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    gates: dict[str, dict[str, Any]] = Field(default_factory=dict)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    webhooks: list[Webhook] = Field(default_factory=list)
    token_budget: int | None = None

    @field_validator("environments")
    @classmethod
    def _check_envs(cls, envs: list[Environment]) -> list[Environment]:
        names = [e.name for e in envs]
        for env in envs:
            if names.count(env.name) > 1:
                raise ValueError(f"environment {env.name!r} is listed twice")
            if env.requires is not None and env.requires not in names:
                raise ValueError(f"environment {env.name!r} requires unknown {env.requires!r}")
        return envs

    def environment(self, name: str) -> Environment:
        for env in self.environments:
            if env.name == name:
                return env
        known = ", ".join(e.name for e in self.environments)
        raise UsageError(f"unknown environment {name!r} (known: {known})", file="promptrail.yaml")

    def gate_settings(
        self, gate: str, env: str | None = None, prompt: PromptFile | None = None
    ) -> dict[str, Any]:
        """Workspace settings, overridden per environment, tightened per prompt."""
        settings = dict(self.gates.get(gate, {}))
        if env is not None:
            settings.update(self.environment(env).gate_overrides().get(gate, {}))
        if prompt is not None:
            settings.update(prompt.gates.get(gate, {}))
        return settings


M = TypeVar("M", bound=BaseModel)


def validate_file(model: type[M], data: dict[str, Any], text: str, shown: str | Path) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = _explain(model, err, loc)
        kind = (
            "invalid-semver"
            if "semantic version" in message or "version range" in message
            else "invalid-file"
        )
        raise UsageError(message, file=shown, line=line_of(text, loc), kind=kind) from None


def _explain(model: type[BaseModel], err: Any, loc: tuple[Any, ...]) -> str:
    where = ".".join(str(p) for p in loc) or "file"
    if err["type"] == "extra_forbidden":
        key = str(loc[-1])
        fields = _fields_at(model, loc[:-1])
        hint = difflib.get_close_matches(key, fields, n=1)
        suffix = f"; did you mean {hint[0]!r}?" if hint else ""
        known = f" (known keys: {', '.join(sorted(fields))})" if fields and not hint else ""
        return f"unknown key {key!r}{suffix}{known}"
    if err["type"] == "missing":
        return f"missing required key {where!r}"
    if err["type"] == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"{where}: unknown value {err.get('input')!r} (expected {expected})"
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return f"{where}: {msg}"


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names (with aliases) of the nested model at ``loc``, for "did you mean" hints."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(part) or next(
            (f for f in current.model_fields.values() if f.alias == part), None
        )
        if field is None:
            return []
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None
