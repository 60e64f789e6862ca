"""Conformance kit for part authors: ``check_flow`` & co. and hypothesis strategies.

    from gencoop.testing import check_flow
    check_flow(MyFlow(dim=3))          # raises AssertionError naming the property that failed
"""

from gencoop.testing.checks import (
    CHECKS,
    check_decoder,
    check_encoder,
    check_energy,
    check_flow,
    check_part,
    check_prior,
    check_sampler,
    perturbed_copy,
)

__all__ = [
    "CHECKS",
    "check_decoder",
    "check_encoder",
    "check_energy",
    "check_flow",
    "check_part",
    "check_prior",
    "check_sampler",
    "perturbed_copy",
]
