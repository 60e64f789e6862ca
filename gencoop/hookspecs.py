"""The one pluggy hook through which every part, built-in or third-party, is registered."""

from __future__ import annotations

from collections.abc import Callable

import pluggy

PROJECT = "gencoop"
"""pluggy project name and the entry-point group plugins declare (``[project.entry-points.gencoop]``)."""

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_components(register: Callable[..., None]) -> None:
    """Register parts by calling ``register(kind, name, factory, *, config=None, summary="", example=None)``.

    ``kind`` is one of ``gencoop.registry.KINDS``; ``factory(**params)`` builds the part; ``config`` is a pydantic
    model of the factory's parameters (derived from its signature when omitted); ``example`` is a small
    configuration (a dict) that tests build the part with.
    """
