"""Hypothesis strategies for conformance tests of registered parts (built-in and third-party)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from gencoop.registry import ComponentSpec

VECTOR_SIZE_FIELDS = ("dim", "latent_dim")


def batch_sizes(max_size: int = 6) -> st.SearchStrategy[int]:
    return st.integers(min_value=1, max_value=max_size)


def perturbations() -> st.SearchStrategy[float]:
    """Scale of the N(0, scale²) noise added to every parameter before checking."""
    return st.floats(min_value=0.0, max_value=0.3, allow_nan=False)


def seeds() -> st.SearchStrategy[int]:
    return st.integers(min_value=0, max_value=2**16)


def example_params(spec: ComponentSpec, max_dim: int = 6) -> st.SearchStrategy[dict[str, Any]]:
    """The spec's example configuration with its vector sizes (``dim``, ``latent_dim``) redrawn in [2, max_dim]."""
    base = dict(spec.example_params or {})
    fields = spec.config.model_fields
    drawn = {
        k: st.integers(min_value=2, max_value=max_dim)
        for k in VECTOR_SIZE_FIELDS
        if k in fields and isinstance(base.get(k, fields[k].default), int)
    }
    return st.fixed_dictionaries({k: st.just(v) for k, v in base.items() if k not in drawn} | drawn)


def check_kwargs() -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments for a ``check_*`` call: batch size, perturbation and seed."""
    return st.fixed_dictionaries({"batch_size": batch_sizes(), "perturb": perturbations(), "seed": seeds()})
