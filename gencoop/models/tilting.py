"""Exponential tilting of a frozen generator by a data-space energy (Xiao, Yan and Amit, 2020).

A generator (prior p(z), decoder G; any Flow, VAE, GLF, trained latent variable model, or a plugin's) is frozen and
tilted by an energy E_θ on data space:

    p_θ(z) ∝ p(z)·exp(−E_θ(G(z)))                    (latent form: the tilted latent, decoded by G)
    p_θ(x) ∝ p_base(x)·exp(−E_θ(x))                  (data form: needs a base with tractable log p_base(x))

Training (one call of :meth:`ExponentialTilting.losses`):

1. z₀ ~ p(z); z = K(z₀): short-run Langevin on ℓ(z) = log p(z) − E(G(z))   (model samples, base frozen)
2. energy loss = E(x_data).mean() − E(G(z)).mean() + reg·mean(E²)          (the MLE gradient of θ)

Sampling runs the same chain, usually longer (``sample_steps``; the paper: 60 in training, 100 when sampling, with
ε = 0.01, i.e. s² = ε in :class:`~gencoop.samplers.langevin.Langevin`'s convention).

Which latent the chains run on (``latent``): a base whose prior is itself a generator (a GLF's or an LFBM's flow
prior z = f(u), u ~ N(0, I)) is unfolded down to its Gaussian noise u by default (``"noise"``), so the chains
sample p_θ(u) ∝ N(u; 0, I)·exp(−E(G(f(u)))). That is the same tilted model (its push-forward through f is p_θ(z)),
but the chain sees a unit-scale, isotropic latent for which the paper's ε suits; a GLF's latents have a scale of
their own (about 7 per dimension on digits), which a step of √ε = 0.1 hardly moves. ``"prior"`` runs on z.

``clamp=c`` makes the energy read images clipped to the data range, E(clip(x, −c, c)), as the Fréchet distance and
pictures read them. A ConvNet energy is then bounded, so chains cannot follow it off to huge images, and nothing
pulls a base's out-of-range pixels back in through the latent (a flow's outliers): pixel range is not what tilting
should spend its energy on.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from gencoop.components.energies import ebm_loss
from gencoop.config import PartRef
from gencoop.hookspecs import hookimpl
from gencoop.interfaces import Energy, Generator, Prior, Sampler, Shape, module_device
from gencoop.models.base import Density, Model, build_part, default_part, trainable
from gencoop.samplers.common import records_trajectory


class ExponentialTilting(Model):
    """An energy ``energy`` on data space tilting the frozen generator ``base``; loss {"energy"}.

    ``space="latent"``: chains run on z (any generator: ``prior``, ``latent_shape``, ``decode``);
    ``space="data"``: chains run on x from base samples, on log p_base(x) − E(x) (a base with ``log_prob``).
    ``sample_steps``: chain length at sampling time (default: the sampler's own ``steps``).
    ``latent``: ``"noise"`` unfolds a prior that is itself a generator (a flow prior) down to its Gaussian noise;
    ``"prior"`` runs on the base's own latent z (module doc).
    ``clamp``: the energy reads x clipped to [−clamp, clamp] (the data range; module doc); None reads x as it is.
    """

    def __init__(self, base: nn.Module, energy: Energy, sampler: Sampler, *, energy_reg: float = 0.1,
                 sample_steps: int | None = None, space: Literal["latent", "data"] = "latent",
                 latent: Literal["noise", "prior"] = "noise", clamp: float | None = None):
        super().__init__()
        if clamp is not None and not clamp > 0:
            raise ValueError(f"clamp: the half-width of the data range the energy reads, > 0 (or None); got {clamp}")
        if latent not in ("noise", "prior"):
            raise ValueError(f"latent: 'noise' (a flow prior's Gaussian noise) or 'prior' (the base's z); got "
                             f"{latent!r}")
        for attr in ("prior", "latent_shape", "decode"):
            if not hasattr(base, attr):
                raise TypeError(f"base: a generator needs `prior`, `latent_shape` and `decode`; "
                                f"{type(base).__name__} has no `{attr}`")
        if space == "data" and not callable(getattr(base, "log_prob", None)):
            raise TypeError(f"space: 'data' needs a base with a tractable log_prob(x); {type(base).__name__} has "
                            "none (use space='latent')")
        if hasattr(base, "event_shape") and tuple(energy.event_shape) != tuple(base.event_shape):
            raise ValueError(f"energy: its event_shape {tuple(energy.event_shape)} differs from the base's "
                             f"{tuple(base.event_shape)}; the energy scores the base's samples")
        self.base, self.energy, self.sampler = base, energy, sampler
        self.base.requires_grad_(False).eval()  # frozen: never trained, never in train mode
        self.energy_reg, self.sample_steps, self.space, self.latent = energy_reg, sample_steps, space, latent
        self.clamp = clamp
        self.event_shape = tuple(energy.event_shape)
        # the base, then (latent="noise") each prior that is itself a generator, outermost first; found once, as
        # the frozen base's structure never changes (a plain list: these modules are registered under the base)
        self._generators = [base]
        while latent == "noise" and isinstance(self._generators[-1].prior, Generator):
            self._generators.append(self._generators[-1].prior)

    def train(self, mode: bool = True) -> ExponentialTilting:
        super().train(mode)
        self.base.eval()  # dropout / batch statistics of the base stay as trained
        return self

    # -- the chains' latent -----------------------------------------------------------------------------------------
    @property
    def latent_prior(self) -> Prior:
        """p of the chains' latent: N(0, I) below a flow prior (``latent="noise"``), else the base's prior."""
        return self._generators[-1].prior

    def decode(self, z: Tensor) -> Tensor:
        """G(z): the chains' latent ``(B, *latent)`` to data ``(B, *event)``, through the flow prior first."""
        for generator in reversed(self._generators):
            z = generator.decode(z)
        return z

    # -- the tilted densities --------------------------------------------------------------------------------------
    def tilt(self, x: Tensor) -> Tensor:
        """The tilting energy E(x), ``(B, *event) -> (B,)``; with ``clamp``, E(clip(x, −clamp, clamp))."""
        return self.energy(x if self.clamp is None else x.clamp(-self.clamp, self.clamp))

    def latent_log_density(self, z: Tensor) -> Tensor:
        """ℓ(z) = log p(z) − E(G(z)), ``(B, *latent) -> (B,)``; unnormalised (z: the chains' latent)."""
        return self.latent_prior.log_prob(z) - self.tilt(self.decode(z))

    def data_log_density(self, x: Tensor) -> Tensor:
        """ℓ(x) = log p_base(x) − E(x), ``(B, *event) -> (B,)``; unnormalised (data form)."""
        return self.base.log_prob(x) - self.tilt(x)

    @property
    def log_density(self):
        """ℓ(x) on data space (pictures, evaluation) when the base has a tractable log_prob; else None."""
        return self.data_log_density if callable(getattr(self.base, "log_prob", None)) else None

    # -- sampling --------------------------------------------------------------------------------------------------
    def _chain(self, n: int, steps: int | None, return_trajectory: int | None = None):
        """Start from the base (z ~ p(z), or x ~ p_base in the data form) and run the sampler on the tilted ℓ."""
        with torch.no_grad():
            start = self.latent_prior.sample(n) if self.space == "latent" else self.base.sample(n)
        start = start.to(module_device(self.energy))
        target = self.latent_log_density if self.space == "latent" else self.data_log_density
        if return_trajectory is None:
            return self.sampler.sample(target, start, steps=steps), None
        if return_trajectory < 1:
            raise ValueError(f"return_trajectory: keep a state every k ≥ 1 steps, got {return_trajectory}")
        if not records_trajectory(self.sampler):
            raise TypeError(f"return_trajectory: the sampler {type(self.sampler).__name__} records no trajectory; "
                            "use the `langevin` sampler")
        result = self.sampler.run(target, start, steps=steps, return_trajectory=return_trajectory)
        return result.x, result.trajectory

    def _to_data(self, v: Tensor) -> Tensor:
        if self.space == "data":
            return v
        with torch.no_grad():
            return self.decode(v)

    def sample(self, n: int, steps: int | None = None, return_trajectory: int | None = None):
        """``(n, *event)``: decoded tilted latents (data form: the chain's states); ``steps`` defaults to
        ``sample_steps``. With ``return_trajectory=k`` returns ``(x, trajectory)``, the trajectory ``(T, n, *event)``
        in data space: the start and every k-th state (the paper's Langevin visualisation)."""
        v, traj = self._chain(n, steps if steps is not None else self.sample_steps, return_trajectory)
        if return_trajectory is None:
            return self._to_data(v)
        return self._to_data(v), torch.stack([self._to_data(t) for t in traj])

    def sample_latent(self, n: int, steps: int | None = None) -> Tensor:
        """``(n, *latent)``: samples of the tilted latent (the flow prior's noise u with ``latent="noise"``)."""
        if self.space != "latent":
            raise ValueError("sample_latent: this model runs its chains on data space (space='data')")
        return self._chain(n, steps if steps is not None else self.sample_steps)[0]

    def trajectory(self, n: int, every: int, steps: int | None = None) -> Tensor:
        """``(T, n, *event)``: the chains in data space at step 0 and every ``every`` steps."""
        return self.sample(n, steps, return_trajectory=every)[1]

    # -- training --------------------------------------------------------------------------------------------------
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"energy": trainable(self.energy)}

    def losses(self, batch: Tensor) -> dict[str, Tensor]:
        x_model = self._to_data(self._chain(batch.shape[0], None)[0])  # training chains: the sampler's steps
        return {"energy": ebm_loss(self.tilt, batch, x_model, self.energy_reg)}

    def densities(self) -> dict[str, Density]:
        """With a base of tractable density (a flow): the tilted p_base(x)·exp(−E(x)) (unnormalised) and the
        base's own. With a VAE base: its importance-sampled likelihood (``log_marginal``) under the tilted prior,
        normalised by AIS in latent space, and under its own. None for a GLF (no density on data space)."""
        if callable(getattr(self.base, "log_prob", None)):
            start = getattr(self.base, "flow", self.base)  # a flow baseline's flow: the start AIS draws from
            return {"tilted": Density(self.data_log_density, False, start), "base": Density(self.base.log_prob, True)}
        if callable(getattr(self.base, "log_marginal", None)):  # a VAE: its likelihood under the tilted prior
            log_z = self.latent_log_z().log_z

            def tilted(x: Tensor) -> Tensor:
                return self.base.log_marginal(x, lambda z: self.latent_log_density(z) - log_z)
            return {"tilted": Density(tilted, True), "base": Density(self.base.log_marginal, True)}
        return {}

    def latent_log_z(self, steps: int = 500, chains: int = 256):
        """log Z of the tilted latent p(z)·exp(−E(G(z))) by AIS from p(z) (:func:`~gencoop.metrics.ais_log_z`),
        with its standard error."""
        from gencoop.metrics.density import ais_log_z

        return ais_log_z(self.latent_log_density, self.latent_prior, steps=steps, chains=chains)

    def metrics(self, x: Tensor) -> dict[str, float]:
        """Mean energy of held-out data and of base samples: training pushes the first below the second."""
        with torch.no_grad():
            base = self.base.sample(x.shape[0]).to(x.device)
            return {"energy_data": self.tilt(x).mean().item(), "energy_base": self.tilt(base).mean().item()}


# -- registered factory ---------------------------------------------------------------------------------------------



def load_base(base: str | nn.Module, event_shape: Shape | None = None) -> nn.Module:
    """A generator from a finished run folder (its best or last weights) or an already built module."""
    if isinstance(base, nn.Module):
        return base
    from gencoop.train.runs import load_run

    model = load_run(base).model
    if event_shape is not None and tuple(model.event_shape) != tuple(event_shape):
        raise ValueError(f"base: the run {base} models events of shape {tuple(model.event_shape)}, not "
                         f"{tuple(event_shape)}")
    return model


def tilting_model(
    base: str,
    event_shape: Shape = (2,),
    energy: PartRef | None = None,
    sampler: PartRef = PartRef(name="langevin", steps=60, step_size=0.1),
    sample_steps: Annotated[int, Field(ge=0)] | None = 100,
    energy_reg: Annotated[float, Field(ge=0)] = 0.1,
    space: Literal["latent", "data"] = "latent",
    latent: Literal["noise", "prior"] = "noise",
    clamp: Annotated[float, Field(gt=0)] | None = None,
) -> ExponentialTilting:
    """Exponential tilting of the generator of the finished run ``base`` (a run folder). The energy defaults to
    ``mlp`` for vectors and ``conv`` for images; the sampler to the paper's latent Langevin (ε = 0.01: s = 0.1,
    noise 1, 60 steps in training, ``sample_steps`` = 100 when sampling). ``clamp``: the energy reads samples
    clipped to [−clamp, clamp] (images: 1, their range)."""
    return ExponentialTilting(load_base(base, event_shape),
                              build_part("energy", default_part(energy, event_shape), event_shape),
                              build_part("sampler", sampler), energy_reg=energy_reg, sample_steps=sample_steps,
                              space=space, latent=latent, clamp=clamp)


@hookimpl
def register_components(register) -> None:
    register("model", "tilting", tilting_model,
             summary="Exponential tilting: a data-space EBM on the latent of a frozen generator (--set model.base=RUN)")
