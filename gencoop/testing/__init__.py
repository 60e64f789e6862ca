"""Conformance kit for part authors: ``check_flow`` & co. and hypothesis strategies.

    from gencoop.testing import check_flow
    check_flow(MyFlow(dim=3))          # raises AssertionError naming the property that failed

``registered_parts``, ``check_registered`` and ``load_hypothesis_profile`` run the kit on every part a plugin
registers (see docs/plugins.md).
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
from gencoop.testing.registered import check_registered, load_hypothesis_profile, registered_parts, spec_id

__all__ = [
    "CHECKS",
    "check_decoder",
    "check_encoder",
    "check_energy",
    "check_flow",
    "check_part",
    "check_prior",
    "check_registered",
    "check_sampler",
    "load_hypothesis_profile",
    "perturbed_copy",
    "registered_parts",
    "spec_id",
]
