"""zuko's normalizing flows as gencoop Flows: ``zuko-maf``, ``zuko-nsf`` and ``zuko-bpf``.

Direction convention. A zuko flow's transform T maps data to noise (z = T(x), the density direction), while a
gencoop :class:`~gencoop.Flow` generates (x = g(z)). :class:`ZukoFlow` therefore sets g = T⁻¹:

* ``inverse(x) = (T(x), log|det ∂T/∂x|)``: one pass of the autoregressive network (fast), used by ``log_prob``;
* ``forward(z) = (T⁻¹(z), −log|det ∂T/∂x| at x = T⁻¹(z))``: zuko's iterative inverse (``dim`` passes of the
  network for a fully autoregressive flow, plus bisection for Bernstein polynomials), used by ``sample``.

The base is always N(0, I) on ``(dim,)`` (gencoop's convention); a zuko flow handed to :class:`ZukoFlow` must
have that base, and only its transform is kept. Events are vectors; contexts (conditional flows) are not used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import torch
import zuko
from pydantic import Field
from torch import Tensor
from zuko.flows.autoregressive import MAF as _ZukoMAF
from zuko.lazy import LazyTransform
from zuko.transforms import BoundedBernsteinTransform

import gencoop

__version__ = "0.1.0"

__all__ = ["ZukoFlow", "zuko_maf", "zuko_nsf", "zuko_bpf", "register_components", "__version__"]

Dim = Annotated[int, Field(ge=1, description="event size")]
Positive = Annotated[int, Field(ge=1)]
Hidden = tuple[Annotated[int, Field(ge=1)], ...]


class ZukoFlow(gencoop.Flow):
    """A gencoop Flow on ``(features,)`` around a zuko flow (or its lazy transform), generating with T⁻¹.

    ``flow``: a ``zuko.flows.Flow`` whose base is N(0, I) (its transform is kept, the base dropped), or a
    ``zuko.lazy.LazyTransform`` mapping data to noise. Shapes: ``forward(z: (B, features)) -> ((B, features), (B,))``
    and likewise ``inverse``.
    """

    def __init__(self, flow: zuko.flows.Flow | LazyTransform, features: int):
        super().__init__()
        if isinstance(flow, zuko.flows.Flow):
            _require_standard_normal_base(flow, features)
            flow = flow.transform
        if not isinstance(flow, LazyTransform):
            raise TypeError(f"flow: expected a zuko Flow or LazyTransform, got {type(flow).__name__}")
        self.transform = flow
        self.event_shape = (features,)

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """z = T(x) and log|det ∂z/∂x|, each per row: ``(B, d) -> ((B, d), (B,))``."""
        return self.transform().call_and_ladj(x)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """x = T⁻¹(z) and log|det ∂x/∂z| = −log|det ∂T/∂x|: ``(B, d) -> ((B, d), (B,))``."""
        t = self.transform()
        x = t.inv(z)
        _, ladj = t.call_and_ladj(x)  # the density direction's log-det at x, so forward and inverse cancel exactly
        return x, -ladj


def _require_standard_normal_base(flow: zuko.flows.Flow, features: int) -> None:
    base = flow.base()
    if tuple(base.event_shape) != (features,):
        raise ValueError(f"flow: its base has event shape {tuple(base.event_shape)}, expected ({features},)")
    mean, std = base.mean, base.stddev
    if not (torch.allclose(mean, torch.zeros_like(mean)) and torch.allclose(std, torch.ones_like(std))):
        raise ValueError("flow: gencoop Flows have a standard-normal base; this zuko flow's base is not N(0, I)")


def _bisection_tolerance(theta: Tensor) -> float:
    """Absolute tolerance of zuko's bisection inverse: as tight as the dtype allows (float64 round trips to 1e-6)."""
    return 1e-6 if theta.dtype in (torch.float16, torch.bfloat16, torch.float32) else 1e-11


def _bernstein(*theta: Tensor) -> BoundedBernsteinTransform:
    """zuko's bounded Bernstein polynomial on [−5, 5] (identity outside), with a dtype-aware inverse tolerance."""
    return BoundedBernsteinTransform(*theta, eps=_bisection_tolerance(theta[0]))


def _maf_kwargs(dim: int, transforms: int, hidden: Hidden, randperm: bool, passes: int | None) -> dict:
    return dict(features=dim, context=0, transforms=transforms, randperm=randperm, passes=passes,
                hidden_features=tuple(hidden))


# -- registered factories: settings are validated from these signatures ----------------------------------------------

def zuko_maf(dim: Dim = 2, transforms: Positive = 3, hidden: Hidden = (64, 64), randperm: bool = False,
             passes: Positive | None = None) -> ZukoFlow:
    """Masked autoregressive flow (affine). ``passes=None`` is fully autoregressive; ``passes=2`` is coupling."""
    return ZukoFlow(zuko.flows.MAF(**_maf_kwargs(dim, transforms, hidden, randperm, passes)), dim)


def zuko_nsf(dim: Dim = 2, transforms: Positive = 3, hidden: Hidden = (64, 64), bins: Annotated[int, Field(ge=2)] = 8,
             randperm: bool = False, passes: Positive | None = None) -> ZukoFlow:
    """Neural spline flow: monotonic rational-quadratic splines on [−5, 5], identity outside."""
    return ZukoFlow(zuko.flows.NSF(bins=bins, **_maf_kwargs(dim, transforms, hidden, randperm, passes)), dim)


def zuko_bpf(dim: Dim = 2, transforms: Positive = 3, hidden: Hidden = (64, 64),
             degree: Annotated[int, Field(ge=2)] = 16, randperm: bool = False,
             passes: Positive | None = None) -> ZukoFlow:
    """Bernstein polynomial flow: bounded Bernstein polynomials of ``degree`` on [−5, 5], identity outside;
    inverted by bisection."""
    flow = _ZukoMAF(univariate=_bernstein, shapes=[(degree + 1,)],
                    **_maf_kwargs(dim, transforms, hidden, randperm, passes))
    return ZukoFlow(flow, dim)


FACTORIES: dict[str, tuple[Callable[..., ZukoFlow], str]] = {
    "zuko-maf": (zuko_maf, "zuko's masked autoregressive flow, affine (vectors)"),
    "zuko-nsf": (zuko_nsf, "zuko's neural spline flow, rational-quadratic (vectors)"),
    "zuko-bpf": (zuko_bpf, "zuko's Bernstein polynomial flow (vectors)"),
}


@gencoop.hookimpl
def register_components(register: Callable[..., None]) -> None:
    """Register the three zuko flows as kind ``flow``; examples are small enough for the conformance kit."""
    for name, (factory, summary) in FACTORIES.items():
        example = {"dim": 3, "transforms": 2, "hidden": (16, 16)}
        if name == "zuko-bpf":
            example["degree"] = 8
        register("flow", name, factory, summary=summary, example=example)

