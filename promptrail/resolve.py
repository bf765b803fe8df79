"""Resolve a prompt: inline its components, load its schemas, and hash the result.

A component is inlined where a template says ``{{ component("name") }}``; the prompt (or the
component including it) must declare the name in ``uses`` with a range the component's version
satisfies. The content hash covers exactly what reaches the model and what the output must be:
messages, model settings, input and output schemas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from promptrail import semver
from promptrail.errors import UsageError
from promptrail.hashing import CONTENT_KEYS, OPTIONAL_CONTENT_KEYS, content_hash
from promptrail.yamlio import line_of, line_of_text

if TYPE_CHECKING:
    from promptrail.workspace import Workspace

COMPONENT_CALL = re.compile(r"\{\{-?\s*component\(\s*(['\"])([^'\"]+)\1\s*\)\s*-?\}\}")


class ResolveError(UsageError):
    """A component reference that cannot be resolved (missing, undeclared, out of range, cyclic)."""

    def __init__(
        self, message: str, file: str | None = None, line: int | None = None, kind: str = "resolve"
    ) -> None:
        super().__init__(message, file, line, kind)


@dataclass
class ResolvedPrompt:
    name: str
    version: str
    description: str
    model: dict[str, Any]  # provider, name and the sampling parameters that are set
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    messages: list[dict[str, Any]]  # components inlined, variables still templated
    components: dict[str, str] = field(default_factory=dict)  # every component used, transitively
    path: str = ""
    tools: list[dict[str, Any]] | None = None  # [{name, description, parameters}]
    tool_choice: Any = None  # auto | none | required | {name: TOOL}

    @property
    def provider(self) -> str:
        return str(self.model["provider"])

    def content(self) -> dict[str, Any]:
        """What the hash covers: ``hashing.CONTENT_KEYS``, and the keys added later
        (``OPTIONAL_CONTENT_KEYS``: tools, tool_choice) only when set, so older prompts hash as
        before. A deployed bundle is verified on exactly these."""
        out = {key: getattr(self, key) for key in CONTENT_KEYS}
        for key in OPTIONAL_CONTENT_KEYS:
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @property
    def content_hash(self) -> str:
        return content_hash(self.content())

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            **self.content(),
            "components": self.components,
            "content_hash": self.content_hash,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResolvedPrompt:
        return cls(
            name=data["name"],
            version=data["version"],
            description=data.get("description", ""),
            model=data["model"],
            input_schema=data["input_schema"],
            output_schema=data.get("output_schema"),
            messages=data["messages"],
            components=data.get("components", {}),
            tools=data.get("tools"),
            tool_choice=data.get("tool_choice"),
        )


def check_cycles(ws: Workspace, name: str, uses: dict[str, str], path: str, text: str) -> None:
    """A cycle among the declared components is an error even when the prompt never
    includes the component that leads into it."""
    done: set[str] = set()

    def walk(comp: str, chain: tuple[str, ...]) -> None:
        if comp in chain:
            cycle = " -> ".join((*chain[chain.index(comp) :], comp))
            raise ResolveError(
                f"component cycle: {cycle} (declared in `uses`)",
                file=path,
                line=line_of(text, ("uses", chain[0] if chain else comp)),
                kind="component-cycle",
            )
        if comp in done or not ws.exists(f"components/{comp}.yaml"):
            return
        for inner in ws.component(comp, referrer=path).model.uses:
            walk(inner, (*chain, comp))
        done.add(comp)

    for comp in uses:
        walk(comp, ())


def resolve(ws: Workspace, name: str) -> ResolvedPrompt:
    loaded = ws.prompt(name)
    prompt = loaded.model
    check_cycles(ws, name, prompt.uses, loaded.path, loaded.text)
    used: dict[str, str] = {}
    messages = []
    for i, msg in enumerate(prompt.messages):
        where = (loaded.path, loaded.text, ("messages", i, "content"))
        content = (
            _inline(ws, msg.content, prompt.uses, where, (name,), used)
            if msg.content is not None
            else None
        )
        messages.append(msg.resolved(content))
    model = model_dict(prompt.model)
    resolved = ResolvedPrompt(
        name=prompt.name,
        version=prompt.version,
        description=prompt.description,
        model=model,
        input_schema=prompt.input_schema,
        output_schema=load_schema(ws, prompt.output_schema, loaded),
        messages=messages,
        components=dict(sorted(used.items())),
        path=loaded.path,
        tools=[t.model_dump() for t in prompt.tools] if prompt.tools is not None else None,
        tool_choice=(
            prompt.tool_choice.model_dump()
            if hasattr(prompt.tool_choice, "model_dump")
            else prompt.tool_choice
        ),
    )
    if getattr(ws, "ref", None) is None:  # versions in git history were accepted as they were
        from promptrail.callcheck import check_calls

        check_calls(ws, loaded, resolved)
    return resolved


def model_dict(settings: Any) -> dict[str, Any]:
    """The model settings as resolved (and hashed): provider, name, the settings that are set,
    and structured_output / overrides only when they say something."""
    model = {"provider": settings.provider, "name": settings.name, **settings.params()}
    if settings.structured_output is False:
        model["structured_output"] = False
    if settings.overrides:
        model["overrides"] = {
            p: {
                "name": o.name,
                **o.params(),
                **(
                    {"structured_output": o.structured_output}
                    if o.structured_output is not None
                    else {}
                ),
            }
            for p, o in sorted(settings.overrides.items())
        }
    return model


def _inline(
    ws: Workspace,
    text: str,
    uses: dict[str, str],
    where: tuple[str, str, tuple[Any, ...]],
    chain: tuple[str, ...],
    used: dict[str, str],
) -> str:
    """Replace component calls in ``text``; ``where`` (file, its text, YAML path) gives the
    line for an error, worked out only when there is one."""
    if "component" not in text:
        return text

    def replace(m: re.Match[str]) -> str:
        comp_name = m.group(2)
        file = where[0]

        def line() -> int | None:
            return line_of(where[1], where[2])

        if comp_name not in uses:
            raise ResolveError(
                f"component {comp_name!r} is used but not declared in `uses`",
                file=file,
                line=line(),
                kind="undeclared-component",
            )
        if comp_name in chain:
            cycle = " -> ".join((*chain, comp_name))
            raise ResolveError(
                f"component cycle: {cycle}", file=file, line=line(), kind="component-cycle"
            )
        if not ws.exists(f"components/{comp_name}.yaml"):
            raise ResolveError(
                f"component {comp_name!r} not found (expected components/{comp_name}.yaml)",
                file=file,
                line=line(),
                kind="missing-component",
            )
        comp_loaded = ws.component(comp_name, referrer=file)
        comp = comp_loaded.model
        rng = semver.parse_range(uses[comp_name])
        if not rng.allows(comp.version):
            raise ResolveError(
                f"component {comp_name!r} is at {comp.version}, outside the declared range "
                f"{uses[comp_name]!r}",
                file=file,
                line=line(),
                kind="component-range",
            )
        used[comp_name] = comp.version
        inner_where = (comp_loaded.path, comp_loaded.text, ("template",))
        inner = _inline(ws, comp.template, comp.uses, inner_where, (*chain, comp_name), used)
        return inner.rstrip("\n")

    return COMPONENT_CALL.sub(replace, text)


def load_schema(ws: Workspace, schema: dict[str, Any] | None, loaded: Any) -> dict[str, Any] | None:
    """An inline schema, or the file a lone ``$ref`` names (relative to the workspace root)."""
    if schema is None:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and len(schema) == 1 and not ref.startswith("#"):
        line = line_of_text(loaded.text, ref)
        try:
            data = ws.load_json(ref, referrer=loaded.path)
        except UsageError as exc:
            if exc.file == loaded.path and exc.line is None:
                exc.line = line
            raise
        if not isinstance(data, dict):
            raise UsageError(f"schema {ref!r} is not a JSON object", file=loaded.path, line=line)
        return data
    return schema
