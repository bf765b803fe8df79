"""Compare two resolved prompts: the rendered diff, the interface diff, the bump it calls for.

Output schemas compare as sets of valid outputs: fewer valid outputs (a new required field, a
removed field or enum value, a tighter constraint) is narrower; more is wider.

major: a provider change, a removed or newly required variable, a changed variable type, an
       output schema that is narrower or incompatible, a removed tool, a removed or newly
       required tool parameter (or a changed parameter type), a narrower tool_choice;
minor: a new optional variable, a widened output schema, a model or parameter change, a new
       tool, a new optional tool parameter, a wider tool_choice;
patch: wording only (messages, tool and parameter descriptions).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from promptrail.semver import max_bump

if TYPE_CHECKING:
    from promptrail.resolve import ResolvedPrompt


@dataclass
class Change:
    kind: str
    path: str
    bump: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "path": self.path, "bump": self.bump, "detail": self.detail}


def interface_changes(old: Any, new: Any) -> list[Change]:
    changes: list[Change] = []
    if old.model.get("provider") != new.model.get("provider"):
        changes.append(
            Change(
                "provider",
                "model.provider",
                "major",
                f"{old.model.get('provider')} -> {new.model.get('provider')}",
            )
        )
    for key in sorted(set(old.model) | set(new.model) - {"provider"}):
        if key != "provider" and old.model.get(key) != new.model.get(key):
            changes.append(
                Change(
                    "model",
                    f"model.{key}",
                    "minor",
                    f"{old.model.get(key)!r} -> {new.model.get(key)!r}",
                )
            )
    changes += _input_changes(old.input_schema or {}, new.input_schema or {})
    changes += _output_changes(old.output_schema, new.output_schema)
    changes += tool_changes(getattr(old, "tools", None) or [], getattr(new, "tools", None) or [])
    changes += _choice_changes(getattr(old, "tool_choice", None), getattr(new, "tool_choice", None))
    if old.messages != new.messages:
        changes.append(Change("text", "messages", "patch", "wording changed"))
    return changes


def tool_changes(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[Change]:
    """Tools seen from the model's side of the contract and the code that executes the calls:
    a tool or parameter the code no longer offers, or a parameter it newly insists on, breaks
    callers (major); a new tool or optional parameter is minor; descriptions are wording."""
    out: list[Change] = []
    o = {t["name"]: t for t in old}
    n = {t["name"]: t for t in new}
    for name in sorted(set(o) - set(n)):
        out.append(Change("tool-removed", f"tools.{name}", "major", f"tool {name!r} removed"))
    for name in sorted(set(n) - set(o)):
        out.append(Change("tool-added", f"tools.{name}", "minor", f"tool {name!r} added"))
    for name in sorted(set(o) & set(n)):
        a, b = o[name], n[name]
        if (a.get("description") or "") != (b.get("description") or ""):
            out.append(Change("tool-description", f"tools.{name}", "patch", "description changed"))
        pa, pb = a.get("parameters") or {}, b.get("parameters") or {}
        for c in _input_changes(pa, pb):
            c.path = f"tools.{name}.{c.path.removeprefix('input.')}"
            c.kind = c.kind.replace("variable", "tool-parameter")
            c.detail = c.detail.replace("variable", "parameter")
            out.append(c)
        props_a, props_b = pa.get("properties") or {}, pb.get("properties") or {}
        for key in sorted(set(props_a) & set(props_b)):
            x, y = props_a[key], props_b[key]
            if x.get("description") != y.get("description"):
                out.append(
                    Change(
                        "tool-parameter-description",
                        f"tools.{name}.{key}",
                        "patch",
                        "description changed",
                    )
                )
            rest = {k for k in set(x) | set(y) if k not in ("type", "description", "title")}
            if any(x.get(k) != y.get(k) for k in rest):
                out.append(
                    Change(
                        "tool-parameter-schema",
                        f"tools.{name}.{key}",
                        "major",
                        "parameter schema changed",
                    )
                )
        rest = {k for k in set(pa) | set(pb) if k not in ("properties", "required", "type")}
        for key in sorted(rest):
            if pa.get(key) != pb.get(key):
                out.append(
                    Change(
                        "tool-parameters",
                        f"tools.{name}.parameters.{key}",
                        "major" if key != "description" else "patch",
                        f"{key}: {pa.get(key)!r} -> {pb.get(key)!r}",
                    )
                )
    return out


def _choice_set(choice: Any) -> frozenset[str]:
    """What the model may do under a tool_choice: "-" answer without a tool, "*" any tool,
    or call the one named."""
    if choice is None or choice == "auto":
        return frozenset({"-", "*"})
    if choice == "none":
        return frozenset({"-"})
    if choice == "required":
        return frozenset({"*"})
    return frozenset({f"={choice.get('name')}"})


def _choice_changes(old: Any, new: Any) -> list[Change]:
    if (old or "auto") == (new or "auto"):
        return []
    a, b = _choice_set(old), _choice_set(new)

    def within(x: frozenset[str], y: frozenset[str]) -> bool:
        return all(e in y or (e.startswith("=") and "*" in y) for e in x)

    narrower_or_other = not (within(a, b) and not within(b, a))
    return [
        Change(
            "tool-choice",
            "tool_choice",
            "major" if narrower_or_other else "minor",
            f"{old or 'auto'!r} -> {new or 'auto'!r}"
            + (" (narrower)" if narrower_or_other else " (wider)"),
        )
    ]


def _input_changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    out = []
    op, np_ = old.get("properties", {}) or {}, new.get("properties", {}) or {}
    oreq, nreq = set(old.get("required", []) or []), set(new.get("required", []) or [])
    for var in sorted(set(op) - set(np_)):
        out.append(Change("variable-removed", f"input.{var}", "major", f"variable {var!r} removed"))
    for var in sorted(set(np_) - set(op)):
        if var in nreq:
            out.append(
                Change("variable-added", f"input.{var}", "major", f"new required variable {var!r}")
            )
        else:
            out.append(
                Change("variable-added", f"input.{var}", "minor", f"new optional variable {var!r}")
            )
    for var in sorted(set(op) & set(np_)):
        if var in nreq and var not in oreq:
            out.append(
                Change(
                    "variable-required",
                    f"input.{var}",
                    "major",
                    f"variable {var!r} is now required",
                )
            )
        elif var in oreq and var not in nreq:
            out.append(
                Change(
                    "variable-optional",
                    f"input.{var}",
                    "minor",
                    f"variable {var!r} is now optional",
                )
            )
        if op[var].get("type") != np_[var].get("type"):
            out.append(
                Change(
                    "variable-type",
                    f"input.{var}",
                    "major",
                    f"type {op[var].get('type')!r} -> {np_[var].get('type')!r}",
                )
            )
    return out


def _output_changes(
    old: dict[str, Any] | None, new: dict[str, Any] | None, path: str = "output"
) -> list[Change]:
    """How the promised output changed, seen from a consumer of that output."""
    if old == new:
        return []
    if old is None:
        return [Change("output-schema", path, "minor", "output schema added")]
    if new is None:
        return [Change("output-schema", path, "major", "output schema removed")]
    out: list[Change] = []
    if old.get("type") != new.get("type"):
        return [
            Change("output-type", path, "major", f"type {old.get('type')!r} -> {new.get('type')!r}")
        ]
    oenum, nenum = old.get("enum"), new.get("enum")
    if oenum != nenum:
        if oenum is None or (nenum is not None and set(nenum) < set(oenum)):
            out.append(Change("output-enum", path, "major", f"values narrowed to {nenum}"))
        elif nenum is None or set(nenum) > set(oenum):
            out.append(Change("output-enum", path, "minor", f"values widened to {nenum}"))
        else:
            out.append(Change("output-enum", path, "major", f"values {oenum} -> {nenum}"))
    op, np_ = old.get("properties", {}) or {}, new.get("properties", {}) or {}
    oreq, nreq = set(old.get("required", []) or []), set(new.get("required", []) or [])
    for key in sorted(set(op) - set(np_)):
        out.append(Change("output-removed", f"{path}.{key}", "major", f"field {key!r} removed"))
    for key in sorted(set(np_) - set(op)):
        bump = "major" if key in nreq else "minor"
        out.append(
            Change(
                "output-added",
                f"{path}.{key}",
                bump,
                f"{'required' if key in nreq else 'optional'} field {key!r} added",
            )
        )
    for key in sorted(set(op) & set(np_)):
        if key in nreq and key not in oreq:
            out.append(
                Change(
                    "output-required",
                    f"{path}.{key}",
                    "major",
                    f"field {key!r} is now required (narrower)",
                )
            )
        elif key in oreq and key not in nreq:
            out.append(
                Change(
                    "output-optional",
                    f"{path}.{key}",
                    "minor",
                    f"field {key!r} is now optional (wider)",
                )
            )
        out += _output_changes(op[key], np_[key], f"{path}.{key}")
    if "items" in old or "items" in new:
        out += _output_changes(old.get("items"), new.get("items"), f"{path}[]")
    rest = {
        k
        for k in set(old) | set(new)
        if k
        not in (
            "type",
            "enum",
            "properties",
            "required",
            "items",
            "description",
            "title",
            "$schema",
            "$id",
            "examples",
        )
    }
    for key in sorted(rest):
        if old.get(key) != new.get(key):
            out.append(
                Change(
                    "output-constraint",
                    f"{path}.{key}",
                    "major",
                    f"{key}: {old.get(key)!r} -> {new.get(key)!r}",
                )
            )
    return out


def rendered_text(resolved: ResolvedPrompt) -> list[str]:
    lines = []
    for msg in resolved.messages:
        if "placeholder" in msg:
            lines.append(f"[placeholder: {msg['placeholder']}]")
            continue
        lines.append(f"[{msg['role']}]")
        lines.extend(str(msg.get("content") or "").splitlines())
        for call in msg.get("tool_calls") or []:
            lines.append(f"-> {call['name']}({call.get('arguments')})")
    return lines


def rendered_diff(old: Any, new: Any) -> str:
    return "\n".join(
        difflib.unified_diff(
            rendered_text(old),
            rendered_text(new),
            fromfile=f"{old.name}@{old.version}",
            tofile=f"{new.name}@{new.version}",
            lineterm="",
        )
    )


def compare(old: Any, new: Any) -> dict[str, Any]:
    changes = interface_changes(old, new)
    return {
        "name": new.name,
        "from": {"version": old.version, "content_hash": old.content_hash},
        "to": {"version": new.version, "content_hash": new.content_hash},
        "bump": max_bump(*(c.bump for c in changes)),
        "changes": [c.to_dict() for c in changes],
        "rendered_diff": rendered_diff(old, new),
    }
