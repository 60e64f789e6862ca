"""The one registry: every part, built-in or third-party, found by (kind, name).

The table is rebuilt from the plugin manager whenever its set of plugins changes, so a plugin registered
in-process with ``gencoop.plugins.pm.register(...)`` shows up at once and disappears when unregistered.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from gencoop import plugins
from gencoop.settings import ConfigError, config_from_signature, describe_fields, validate

KINDS: tuple[str, ...] = ("energy", "flow", "decoder", "encoder", "prior", "sampler", "model", "dataset", "recipe")


class RegistrationError(ValueError):
    """A ``register(...)`` call that cannot be honoured (bad kind, duplicate name, bad example)."""


class UnknownComponentError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


@dataclass(frozen=True)
class ComponentSpec:
    """A registered part: how to build it, what it takes, where it came from."""

    kind: str
    name: str
    factory: Callable[..., Any]
    config: type[BaseModel]
    summary: str = ""
    example_params: dict[str, Any] | None = None
    source: str = "gencoop"
    version: str = ""
    plugin: str = field(default="", compare=False)

    def create(self, **params: Any) -> Any:
        """Validate ``params`` against ``config`` and call the factory; :class:`ConfigError` names bad fields."""
        cfg = validate(self.config, params, where=f"{self.kind} '{self.name}'")
        return self.factory(**{k: getattr(cfg, k) for k in type(cfg).model_fields})

    def example(self) -> Any:
        """A small instance: from the example configuration, or from the defaults when none was given."""
        return self.create(**(self.example_params or {}))

    def params(self) -> dict[str, dict[str, Any]]:
        """``{field: {"type", "default", "required"}}``."""
        return describe_fields(self.config)


@dataclass
class _Table:
    key: tuple
    specs: dict[tuple[str, str], ComponentSpec]
    errors: list[plugins.PluginError]


_cache: dict[str, _Table] = {}


def _table() -> _Table:
    plugins.load_plugins()
    impls = plugins.pm.hook.register_components.get_hookimpls()
    key = tuple(impl.plugin for impl in impls)  # the plugins themselves: ids of dead ones can be reused
    cached = _cache.get("table")
    if cached is not None and len(cached.key) == len(key) and all(a is b for a, b in zip(cached.key, key)):
        return cached
    specs: dict[tuple[str, str], ComponentSpec] = {}
    errors: list[plugins.PluginError] = []
    for impl in impls:  # registration order: built-ins first, so they keep their names
        source, version = plugins.source_of(impl.plugin)
        staged: dict[tuple[str, str], ComponentSpec] = {}

        def register(
            kind: str,
            name: str,
            factory: Callable[..., Any],
            *,
            config: type[BaseModel] | None = None,
            summary: str = "",
            example: dict[str, Any] | None = None,
            _staged: dict = staged,
            _source: str = source,
            _version: str = version,
            _plugin: str = impl.plugin_name,
        ) -> None:
            if kind not in KINDS:
                raise RegistrationError(f"unknown kind {kind!r} for {name!r}; kinds are: {', '.join(KINDS)}")
            if not callable(factory):
                raise RegistrationError(f"{kind} {name!r}: factory must be callable, got {factory!r}")
            for owner in (specs.get((kind, name)), _staged.get((kind, name))):
                if owner is not None:
                    raise RegistrationError(
                        f"{kind} {name!r} is registered twice: by {owner.source} (plugin {owner.plugin!r}) "
                        f"and by {_source} (plugin {_plugin!r}); rename one of them"
                    )
            model = config or config_from_signature(factory, f"{_camel(name)}{kind.capitalize()}Config")
            if example is not None:
                try:
                    validate(model, example, where=f"example of {kind} {name!r}")
                except ConfigError as exc:
                    raise RegistrationError(str(exc)) from None
            _staged[(kind, name)] = ComponentSpec(
                kind, name, factory, model, summary, example, _source, _version, _plugin
            )

        try:
            impl.function(register=register)
        except Exception as exc:  # reported and skipped, never fatal
            err = plugins.PluginError(impl.plugin_name, source, version, f"{type(exc).__name__}: {exc}")
            errors.append(err)
            plugins.warn_skipped(err)
            continue
        specs.update(staged)
    table = _Table(key, specs, errors)
    _cache["table"] = table
    return table


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))


def components(kind: str | None = None) -> list[ComponentSpec]:
    """Every registered part (of one ``kind`` if given), sorted by kind then name."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; kinds are: {', '.join(KINDS)}")
    specs = _table().specs.values()
    return sorted((s for s in specs if kind is None or s.kind == kind), key=lambda s: (KINDS.index(s.kind), s.name))


def get(kind: str, name: str) -> ComponentSpec:
    """The spec of ``(kind, name)``; an unknown name raises an error that lists what there is."""
    specs = _table().specs
    spec = specs.get((kind, name))
    if spec is None:
        if kind not in KINDS:
            raise UnknownComponentError(f"unknown kind {kind!r}; kinds are: {', '.join(KINDS)}")
        names = sorted(n for k, n in specs if k == kind)
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownComponentError(f"no {kind} named {name!r}.{hint} Registered: {', '.join(names) or 'none'}")
    return spec


def create(kind: str, name: str, **params: Any) -> Any:
    """Build the part ``(kind, name)`` from validated ``params`` (e.g. ``create("flow", "realnvp", dim=2)``)."""
    return get(kind, name).create(**params)


def plugin_errors() -> list[plugins.PluginError]:
    """Plugins that failed to import or to register, with their errors."""
    return plugins.load_errors() + _table().errors
