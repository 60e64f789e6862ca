"""Run the conformance kit on registered parts: what a plugin's test suite needs in three lines.

    import pytest
    from hypothesis import given, strategies as st
    from gencoop.testing import check_registered, registered_parts, spec_id

    @pytest.mark.parametrize("spec", registered_parts(source="my-dist"), ids=spec_id)
    @given(data=st.data())
    def test_my_parts_conform(spec, data):
        check_registered(spec, data)

hypothesis is imported lazily, so ``gencoop.testing``'s checks work without it.
"""

from __future__ import annotations

import os
from typing import Any

from gencoop.registry import ComponentSpec, components
from gencoop.testing.checks import CHECKS, check_part


def registered_parts(source: str | None = None, kinds: tuple[str, ...] | None = None) -> list[ComponentSpec]:
    """Registered parts of the kinds the kit checks (``CHECKS``), optionally only those of one distribution
    (``source``, e.g. ``"gencoop-zuko"``; built-ins are ``"gencoop"``) or of some ``kinds``."""
    wanted = set(CHECKS) if kinds is None else set(kinds) & set(CHECKS)
    return [s for s in components() if s.kind in wanted and (source is None or s.source == source)]


def spec_id(spec: ComponentSpec) -> str:
    """A readable pytest id: ``flow-zuko-nsf``."""
    return f"{spec.kind}-{spec.name}"


def check_registered(spec: ComponentSpec, data: Any) -> None:
    """Draw settings (the spec's example, vector sizes redrawn) and check arguments with hypothesis ``data``
    (``st.data()``), build the part and run its kind's conformance check."""
    from gencoop.testing import strategies as gst

    params = data.draw(gst.example_params(spec), label="params")
    kwargs = data.draw(gst.check_kwargs(), label="check")
    check_part(spec.kind, spec.create(**params), **kwargs)


def load_hypothesis_profile(name: str | None = None) -> str:
    """Register gencoop's hypothesis profiles and load one; returns its name.

    ``ci``: 8 derandomised examples, no deadline (shared CI cores make timings meaningless); ``dev``: 20 examples.
    The default is ``$HYPOTHESIS_PROFILE``, else ``ci`` when ``$CI`` is set, else ``dev``. Call it from a plugin's
    ``tests/conftest.py`` so that its tests run as many examples as gencoop's own.
    """
    from hypothesis import HealthCheck, settings

    settings.register_profile("ci", max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                              derandomize=True)
    settings.register_profile("dev", max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    chosen = name or os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
    settings.load_profile(chosen)
    return chosen
