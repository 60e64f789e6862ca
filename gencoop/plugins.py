"""Plugin loading: the built-in modules (DEFAULT_PLUGINS) and third-party entry points, one PluginManager.

Built-in parts register through the same ``register_components`` hook as third-party packages. A third-party
plugin that fails to import is reported (a warning, ``load_errors()`` and ``gencoop list-components``) and skipped.
``GENCOOP_LOAD_PLUGINS`` limits which entry points load: a comma list of entry-point or distribution names;
set but empty means none.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
import warnings
from dataclasses import dataclass

import pluggy

from gencoop import hookspecs

DEFAULT_PLUGINS: tuple[str, ...] = (
    "gencoop.components.flows",
    "gencoop.components.energies",
    "gencoop.components.decoders",
    "gencoop.components.priors",
    "gencoop.samplers.langevin",
    "gencoop.data.datasets",
    "gencoop.data.occlusion",
    "gencoop.models.baselines",
    "gencoop.models.coopflow",
    "gencoop.models.latent_variable",
    "gencoop.models.tilting",
    "gencoop.recipes.baselines",
    "gencoop.recipes.coopflow",
    "gencoop.recipes.latent_variable",
    "gencoop.recipes.tilting",
)

pm = pluggy.PluginManager(hookspecs.PROJECT)
pm.add_hookspecs(hookspecs)


@dataclass(frozen=True)
class PluginError:
    """A plugin that could not be imported or could not register its parts."""

    plugin: str
    source: str
    version: str
    error: str


_state: dict = {"loaded": False, "dists": {}, "errors": []}


def _allowed_entry_points() -> set[str] | None:
    raw = os.environ.get("GENCOOP_LOAD_PLUGINS")
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def load_plugins() -> None:
    """Register DEFAULT_PLUGINS and the allowed ``gencoop`` entry points with ``pm``, once per process."""
    if _state["loaded"]:
        return
    _state["loaded"] = True
    for module_name in DEFAULT_PLUGINS:
        module = importlib.import_module(module_name)
        if not pm.is_registered(module):
            pm.register(module, name=module_name)
    allowed = _allowed_entry_points()
    for ep in importlib.metadata.entry_points(group=hookspecs.PROJECT):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else ep.name
        version = dist.version if dist is not None else ""
        if allowed is not None and ep.name not in allowed and dist_name not in allowed:
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=f"{dist_name}:{ep.name}")
        except Exception as exc:  # a broken plugin never takes the host down
            report(PluginError(ep.name, dist_name, version, f"{type(exc).__name__}: {exc}"))
            continue
        _state["dists"][id(plugin)] = (dist_name, version)


def report(error: PluginError) -> None:
    """Record a plugin that failed to import, once, and warn about it."""
    if error not in _state["errors"]:
        _state["errors"].append(error)
        warn_skipped(error)


def warn_skipped(error: PluginError) -> None:
    warnings.warn(f"gencoop plugin {error.plugin!r} ({error.source}) skipped: {error.error}", stacklevel=4)


def load_errors() -> list[PluginError]:
    return list(_state["errors"])


def source_of(plugin: object) -> tuple[str, str]:
    """(distribution name, version) of a registered plugin; built-ins are ("gencoop", its version)."""
    if id(plugin) in _state["dists"]:
        return _state["dists"][id(plugin)]
    name = pm.get_name(plugin) or repr(plugin)
    if name in DEFAULT_PLUGINS:
        return "gencoop", gencoop_version()
    module = getattr(plugin, "__module__", None) or getattr(plugin, "__name__", "")
    top = (module or "").split(".")[0]
    if top and top in sys.modules:
        for dist in importlib.metadata.packages_distributions().get(top, []):
            try:
                return dist, importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                pass
    return name, ""


def gencoop_version() -> str:
    try:
        return importlib.metadata.version("gencoop")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"
