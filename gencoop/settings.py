"""Validated settings: pydantic models derived from factory signatures, and readable errors.

Below the registry (which validates every part's settings with it) and the run-config schema (:mod:`gencoop.config`,
which looks parts up in the registry).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model


class ConfigError(ValueError):
    """Invalid settings. ``problems`` holds one ``(field, message)`` pair per invalid field."""

    def __init__(self, where: str, problems: list[tuple[str, str]]):
        self.where = where
        self.problems = problems
        lines = "\n".join(f"  {field}: {message}" for field, message in problems)
        super().__init__(f"invalid settings for {where}:\n{lines}")

    def __reduce__(self):  # rebuilt from its fields, so it survives pickling (a worker process hands it back)
        return type(self), (self.where, self.problems)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=())


def config_from_signature(factory: Callable[..., Any], model_name: str) -> type[BaseModel]:
    """A pydantic model with one field per keyword parameter of ``factory`` (annotations and defaults kept).

    ``*args`` and ``**kwargs`` are skipped; unannotated parameters accept anything.
    """
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception:  # unresolvable forward references: fall back to raw annotations
        hints = {}
    fields: dict[str, Any] = {}
    for p in inspect.signature(factory).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        annotation = hints.get(p.name, p.annotation if p.annotation is not p.empty else Any)
        if isinstance(annotation, str):
            annotation = Any
        default = ... if p.default is p.empty else p.default
        fields[p.name] = (annotation, default)
    return create_model(model_name, __base__=_Strict, **fields)


def validate(config: type[BaseModel], params: dict[str, Any], where: str) -> BaseModel:
    """Build ``config`` from ``params`` or raise :class:`ConfigError` naming each bad field and the fix."""
    try:
        return config(**params)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(settings)"
            if err["type"] == "extra_forbidden":
                valid = ", ".join(_fields_at(config, err["loc"][:-1])) or "none"
                message = f"unknown parameter; valid parameters are: {valid}"
            elif err["type"] == "missing":
                message = "required parameter is missing"
            else:
                message = f"{err['msg']} (got {err.get('input')!r})"
            problems.append((field, message))
        raise ConfigError(where, problems) from None


def _fields_at(config: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the (nested) settings model at ``loc``, for "valid parameters are" hints."""
    model: Any = config
    for key in loc:
        field = getattr(model, "model_fields", {}).get(key)
        if field is None:
            return []
        model = field.annotation
        for arg in typing.get_args(model):  # Optional[Sub] and friends
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                model = arg
    return list(getattr(model, "model_fields", {}))


def describe_fields(config: type[BaseModel]) -> dict[str, dict[str, Any]]:
    """``{field: {"type": str, "default": value or None, "required": bool}}`` for listings and JSON."""
    out = {}
    for name, f in config.model_fields.items():
        ann = f.annotation
        type_name = getattr(ann, "__name__", None) if isinstance(ann, type) else None
        out[name] = {
            "type": type_name or str(ann).replace("typing.", ""),
            "default": None if f.is_required() else _jsonable(f.get_default(call_default_factory=True)),
            "required": f.is_required(),
        }
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return repr(value)
