"""The one registry of extensions: gates, assertions, providers and targets (and the Prefect
flows, which the core reaches only through here: it never imports ``gates`` or ``flows``).

Every kind is found the same way, and the built-ins are no exception:

1. **Entry points** of installed distributions, read once per process: ``promptrail.gates``,
   ``promptrail.assertions``, ``promptrail.providers`` and ``promptrail.targets``. promptrail
   registers its own in ``pyproject.toml`` exactly as a third-party package does.
2. **The workspace's own folders**: ``gates/NAME.py`` and ``assertions/NAME.py`` next to
   ``promptrail.yaml`` (``_`` in the file name is ``-`` in the plugin name). Such a module
   defines one ``Gate`` (or ``Assertion``) subclass. It is imported only when a gate or suite
   names it, never by ``lint`` or ``render``; an installed plugin of the same name wins.
3. **Code**: ``register(kind, name, obj)`` (what ``@assertion("name")`` does).

An assertion name with a colon picks a family and a member: ``deepeval:GEval`` is the
``deepeval`` assertion with ``metric=GEval``.

``promptrail plugins`` lists what is found and where each came from.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from promptrail.errors import UsageError

# plugin kind -> entry-point group
GROUPS = {
    "gate": "promptrail.gates",
    "assertion": "promptrail.assertions",
    "provider": "promptrail.providers",
    "target": "promptrail.targets",
    "flow": "promptrail.flows",  # the Prefect flows the CLI runs in prefect mode
}
# kinds a workspace may add by dropping a module into a folder of that name
FOLDERS = {"gate": "gates", "assertion": "assertions"}


@dataclass(frozen=True)
class Plugin:
    kind: str  # gate | assertion | provider | target | flow
    name: str
    ref: str  # "module:attr", "module", or a workspace file
    source: str  # "promptrail 0.1.0", "acme-gates 1.2", "workspace", "code"
    shadowed_by: str | None = None  # another plugin of the same name that wins

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "name": self.name, "ref": self.ref, "source": self.source}
        if self.shadowed_by:
            out["shadowed_by"] = self.shadowed_by
        return out


_registered: dict[tuple[str, str], tuple[Any, Plugin]] = {}
_loaded: dict[tuple[str, str, str], Any] = {}


def _kind(kind: str) -> str:
    if kind not in GROUPS:
        raise ValueError(f"unknown plugin kind {kind!r} (known: {', '.join(GROUPS)})")
    return kind


@cache
def _entry_points() -> dict[str, dict[str, tuple[Any, Plugin]]]:
    """Every promptrail entry point of every installed distribution, read once."""
    from importlib.metadata import entry_points

    out: dict[str, dict[str, tuple[Any, Plugin]]] = {k: {} for k in GROUPS}
    everything = entry_points()
    for kind, group in GROUPS.items():
        for ep in everything.select(group=group):
            dist = getattr(ep, "dist", None)
            source = f"{dist.name} {dist.version}" if dist is not None else "entry point"
            out[kind].setdefault(ep.name, (ep, Plugin(kind, ep.name, ep.value, source)))
    if "lint" not in out["gate"]:
        # promptrail registers its own gates as entry points; none means the installed
        # metadata predates them (an old editable install), which would look like "unknown".
        raise UsageError(
            "promptrail's installed metadata lists no built-in plugins; reinstall it "
            "(`uv sync` or `pip install -e .`)",
            kind="install",
        )
    return out


def refresh() -> None:
    """Forget what was read (after installing a distribution in this process, and in tests)."""
    _entry_points.cache_clear()
    _loaded.clear()


def _workspace_files(kind: str, root: Path | None) -> dict[str, Path]:
    folder = FOLDERS.get(kind)
    if root is None or folder is None:
        return {}
    base = Path(root) / folder
    if not base.is_dir():
        return {}
    return {
        p.stem.replace("_", "-"): p
        for p in sorted(base.glob("*.py"))
        if not p.name.startswith("_") and p.is_file()
    }


def available(kind: str, root: Path | str | None = None) -> list[Plugin]:
    """What is installed (and, given a workspace root, what its folders add), by name."""
    kind = _kind(kind)
    found: dict[str, Plugin] = {}
    for name, (_, plugin) in _entry_points()[kind].items():
        found[name] = plugin
    out = list(found.values())
    for (k, name), (_, plugin) in _registered.items():
        if k == kind:
            if name in found:
                out.append(_shadow(plugin, found[name]))
            else:
                found[name] = plugin
                out.append(plugin)
    ws_root = Path(root) if root is not None else None
    for name, path in _workspace_files(kind, ws_root).items():
        plugin = Plugin(kind, name, _rel(path, ws_root), "workspace")
        if name in found and _same_file(found[name], path):
            continue  # promptrail's own source tree used as a workspace: the same module
        if name in found:
            out.append(_shadow(plugin, found[name]))
        else:
            found[name] = plugin
            out.append(plugin)
    return sorted(out, key=lambda p: (p.name, p.shadowed_by is not None))


def names(kind: str, root: Path | str | None = None) -> list[str]:
    return sorted({p.name for p in available(kind, root) if p.shadowed_by is None})


def _same_file(plugin: Plugin, path: Path) -> bool:
    try:
        spec = importlib.util.find_spec(plugin.ref.split(":", 1)[0])
    except (ImportError, ValueError):
        return False
    origin = spec.origin if spec is not None else None
    return origin is not None and Path(origin).resolve() == path.resolve()


def _shadow(plugin: Plugin, winner: Plugin) -> Plugin:
    return Plugin(plugin.kind, plugin.name, plugin.ref, plugin.source, winner.source)


def _rel(path: Path, root: Path | None) -> str:
    try:
        return str(path.relative_to(root)) if root is not None else str(path)
    except ValueError:
        return str(path)


def register(kind: str, name: str, obj: Any, source: str = "code") -> None:
    """Add a plugin from code (an application or a test), next to the entry points."""
    kind = _kind(kind)
    ref = f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', name)}"
    _registered[(kind, name)] = (obj, Plugin(kind, name, ref, source))


def unregister(kind: str, name: str) -> None:
    _registered.pop((_kind(kind), name), None)


def find(kind: str, name: str, root: Path | str | None = None) -> Any | None:
    """The plugin object of that name (a class, or a module for providers), or None."""
    kind = _kind(kind)
    eps = _entry_points()[kind]
    if name in eps:
        key = (kind, name, "")
        if key not in _loaded:
            _loaded[key] = eps[name][0].load()
        return _loaded[key]
    if (kind, name) in _registered:
        return _registered[(kind, name)][0]
    ws_root = Path(root) if root is not None else None
    path = _workspace_files(kind, ws_root).get(name)
    if path is None:
        return None
    key = (kind, name, str(path.resolve()))
    if key not in _loaded:
        _loaded[key] = _load_file(kind, name, path)
    return _loaded[key]


def get(kind: str, name: str, root: Path | str | None = None, *, file: str | None = None) -> Any:
    """Like ``find``, but an unknown name is a usage error listing what is known."""
    obj = find(kind, name, root)
    if obj is None:
        known = names(kind, root)
        import difflib

        hint = difflib.get_close_matches(name, known, n=1)
        suffix = f"; did you mean {hint[0]!r}?" if hint else f" (known: {', '.join(known)})"
        where = f" and no {FOLDERS[kind]}/{name}.py" if kind in FOLDERS else ""
        raise UsageError(
            f"unknown {kind} {name!r}: no '{GROUPS[kind]}' entry point{where}{suffix}",
            file=file,
            kind=f"unknown-{kind}",
        )
    return obj


def _load_file(kind: str, name: str, path: Path) -> Any:
    """Import a workspace plugin module and take the one plugin class it defines."""
    from promptrail.assertions.base import Assertion
    from promptrail.gating import Gate

    base: type = Gate if kind == "gate" else Assertion
    module_name = f"promptrail_workspace.{FOLDERS[kind]}.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has one
        raise UsageError(f"cannot import {path.name}", file=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        line = None
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == str(path):
                line = tb.tb_lineno
            tb = tb.tb_next
        if isinstance(exc, SyntaxError):
            line = exc.lineno
        raise UsageError(
            f"cannot import {kind} {name!r}: {type(exc).__name__}: {exc}",
            file=f"{FOLDERS[kind]}/{path.name}",
            line=line,
        ) from None
    classes = [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, base) and obj is not base and obj.__module__ == module_name
    ]
    if len(classes) != 1:
        raise UsageError(
            f"defines {len(classes)} {base.__name__} subclasses; a {kind} module defines one",
            file=f"{FOLDERS[kind]}/{path.name}",
        )
    return classes[0]
