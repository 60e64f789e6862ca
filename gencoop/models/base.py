"""What every composition offers the generic trainer, and how a composition builds its parts from settings.

A composition (``model`` part) is an ``nn.Module`` with

* ``parameter_groups() -> {group: [params]}``: one optimiser per group;
* ``losses(batch) -> {group: loss}``: one scalar per group; the trainer back-propagates each loss into its own
  group's parameters only (``loss.backward(inputs=group)``), so a loss may read other parts freely;
* ``sample(n) -> (n, *event_shape)``;
* optionally ``prepare(x)`` (data-dependent initialisation before training, e.g. ActNorm),
  ``metrics(x) -> {name: float}`` (model-specific evaluation on held-out data, e.g. NLL) and
  ``densities() -> {name: Density}`` (its log-densities on data space: evaluation reports each one's held-out NLL,
  by quadrature on 2-D when unnormalised, and pictures draw them).
"""

from __future__ import annotations

import abc
import math
from typing import Any, NamedTuple

from torch import Tensor, nn

from gencoop.config import ConfigError, PartRef
from gencoop.interfaces import LogDensity, Shape


class Density(NamedTuple):
    """A log-density on data space, ``(B, *event) -> (B,)``, and whether it is normalised (else it is known up
    to a constant, as an EBM's −E(x)); ``start``: a normalised distribution near it (``sample(n, generator)``,
    ``log_prob``; a Flow), from which AIS can estimate its normaliser."""

    log_density: LogDensity
    normalized: bool
    start: Any = None


class Model(nn.Module, abc.ABC):
    """A trainable composition of parts (see the module doc)."""

    event_shape: Shape
    chain_buffers: tuple[str, ...] = ()  # state_dict entries holding persistent chain states, not weights (no EMA)

    @abc.abstractmethod
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]: ...

    @abc.abstractmethod
    def losses(self, batch: Tensor) -> dict[str, Tensor]: ...

    @abc.abstractmethod
    def sample(self, n: int) -> Tensor: ...

    def prepare(self, x: Tensor) -> None:
        """Data-dependent initialisation from a batch of training data (default: nothing)."""

    def metrics(self, x: Tensor) -> dict[str, float]:
        """Model-specific metrics on held-out data ``x`` (default: none). ``x`` is dequantised when the data set
        dequantises. An ``"nll"`` (mean −log p(x) in nats, model units) of such data gains ``bits_per_dim`` per
        pixel level in the harness."""
        return {}

    def densities(self) -> dict[str, Density]:
        """The model's log-densities on data space by name (``"ebm"``, ``"flow"``, …); default: none."""
        return {}


def default_part(ref: PartRef | dict | str | None, event_shape: Shape, vector: str = "mlp",
                 image: str = "conv") -> PartRef | dict | str:
    """``ref``, or when it is None the part named ``vector`` for vector events ``(d,)`` and ``image`` for images."""
    return ref if ref is not None else PartRef(name=image if len(event_shape) > 1 else vector)


def build_part(kind: str, ref: PartRef | dict | str, event_shape: Shape | None = None, **defaults: Any) -> Any:
    """Create the part ``ref`` names; sizes it does not set are filled from ``event_shape`` and ``defaults``.
    The model's setting that holds ``ref`` is named ``kind`` (``energy``, ``flow``, ...): a bad field is reported
    as ``kind.field``.

    A vector event ``(d,)`` fills a ``dim`` setting, an image event ``(C, H, W)`` fills ``shape``; ``defaults``
    (e.g. ``latent_dim=...``) fill any other setting the part has and the reference leaves unset.
    """
    from gencoop.registry import get

    if isinstance(ref, str):
        ref = PartRef(name=ref)
    elif isinstance(ref, dict):
        ref = PartRef(**ref)
    spec = get(kind, ref.name)
    fields = spec.config.model_fields
    params = ref.params
    fill = dict(defaults)
    if event_shape is not None:
        if len(event_shape) == 1:
            fill.setdefault("dim", event_shape[0])
        else:
            fill.setdefault("shape", tuple(event_shape))
    for key, value in fill.items():
        if key in fields and key not in params:
            params[key] = value
    try:
        return spec.create(**params)
    except ConfigError as exc:  # name each field by its place in the model's settings: energy.channels
        raise ConfigError(exc.where, [(f"{kind}.{f}", m) for f, m in exc.problems]) from None


def gaussian_log_likelihood(x: Tensor, mean: Tensor, sigma: float, mask: Tensor | None = None) -> Tensor:
    """log N(x; mean, σ² I) summed over the event: ``(B, *event) -> (B,)``.

    With a ``mask`` (1 = observed, broadcastable to x), only the D_obs observed entries count:
    −Σ_obs (x − mean)² / (2σ²) − D_obs·log σ − (D_obs/2)·log 2π.
    """
    if mask is None:
        d = x[0].numel()
        sq = (x - mean).flatten(1).square().sum(-1)
    else:
        mask = mask.expand_as(x)
        d = mask.flatten(1).sum(-1)
        sq = ((x - mean).square() * mask).flatten(1).sum(-1)
    return -sq / (2 * sigma**2) - d * math.log(sigma) - 0.5 * d * math.log(2 * math.pi)


def trainable(*modules: nn.Module) -> list[nn.Parameter]:
    return [p for m in modules for p in m.parameters() if p.requires_grad]


