"""Conformance checks: does a part keep DESIGN.md's contract?

Each ``check_*`` works on a perturbed float64 copy (a freshly built flow is often the identity, which would hide a
wrong log-det) and raises ``AssertionError`` naming the property that failed. The part passed in is not modified.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from gencoop.interfaces import Decoder, Encoder, Energy, Flow, Prior, Sampler, module_device, standard_normal_log_prob

JACOBIAN_MAX_EVENT = 256  # compare log-dets with the autograd Jacobian up to this event size


def _fail(check: str, prop: str, detail: str) -> None:
    raise AssertionError(f"{check}: property '{prop}' failed: {detail}")


def _close(check: str, prop: str, actual: Tensor, expected: Tensor, atol: float, rtol: float) -> None:
    if actual.shape != expected.shape:
        _fail(check, prop, f"shape {tuple(actual.shape)} != expected {tuple(expected.shape)}")
    if not torch.allclose(actual, expected, atol=atol, rtol=rtol):
        err = (actual - expected).abs().max().item()
        _fail(check, prop, f"max abs error {err:.3g} exceeds atol={atol:g}, rtol={rtol:g}")


def _expect(check: str, prop: str, ok: bool, detail: str) -> None:
    if not ok:
        _fail(check, prop, detail)


def perturbed_copy(module: nn.Module, scale: float = 0.1, seed: int = 0, dtype: torch.dtype = torch.float64):
    """A deep copy in ``dtype``, eval mode, with N(0, scale²) noise added to every parameter."""
    m = copy.deepcopy(module).to(dtype).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype).to(p.device))
    return m


def _randn(shape, seed: int, device, dtype=torch.float64, scale: float = 1.0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(shape, generator=g, dtype=dtype)).to(device)


def _batch_independent(check: str, fn: Callable[[Tensor], Any], inp: Tensor, out: Tensor, atol: float) -> None:
    """Row i of fn(inp) must not depend on the other rows: compare with the reversed batch and with row 0 alone."""
    flipped = fn(inp.flip(0))
    flipped = flipped[0] if isinstance(flipped, tuple) else flipped
    _close(check, "batch independence", flipped.flip(0), out, atol, atol)
    alone = fn(inp[:1])
    alone = alone[0] if isinstance(alone, tuple) else alone
    _close(check, "batch independence", alone, out[:1], atol, atol)


def check_flow(flow: Flow, *, batch_size: int = 4, perturb: float = 0.1, seed: int = 0,
               atol: float = 1e-6, rtol: float = 1e-6) -> None:
    """Invertibility, log-det convention and value (vs the autograd Jacobian), log_prob, batch independence,
    dtype/device, sample shape."""
    name = "check_flow"
    f = perturbed_copy(flow, perturb, seed)
    event = tuple(f.event_shape)
    d = math.prod(event)
    dev = module_device(f)
    z = _randn((batch_size, *event), seed + 1, dev)
    x_data = _randn((batch_size, *event), seed + 2, dev, scale=1.5)
    with torch.no_grad():
        x, ld_fwd = f(z)
        _expect(name, "forward shape", tuple(x.shape) == (batch_size, *event) and tuple(ld_fwd.shape) == (batch_size,),
                f"forward returned x {tuple(x.shape)}, logdet {tuple(ld_fwd.shape)}; "
                f"expected {(batch_size, *event)} and {(batch_size,)}")
        _expect(name, "finite", bool(torch.isfinite(x).all() and torch.isfinite(ld_fwd).all()),
                "forward produced NaN or Inf")
        z_back, ld_inv = f.inverse(x)
        _close(name, "inverse(forward(z)) == z", z_back, z, atol, rtol)
        _close(name, "forward and inverse log-dets cancel", ld_fwd + ld_inv, torch.zeros_like(ld_fwd), atol, rtol)
        z_data, ld_data = f.inverse(x_data)
        x_back, ld_back = f(z_data)
        _close(name, "forward(inverse(x)) == x", x_back, x_data, atol, rtol)
        _close(name, "forward and inverse log-dets cancel", ld_data + ld_back, torch.zeros_like(ld_data), atol, rtol)
        expected_lp = standard_normal_log_prob(z_data, event) + ld_data
        _close(name, "log_prob == log N(inverse(x)) + inverse log-det", f.log_prob(x_data), expected_lp, atol, rtol)
        _batch_independent(name, f, z, x, atol)
        _batch_independent(name, f.inverse, x_data, z_data, atol)
        _batch_independent(name, lambda t: f(t)[1], z, ld_fwd, atol)
    if d <= JACOBIAN_MAX_EVENT:
        for i in range(min(batch_size, 2)):
            for direction, fn, point, logdet in (("forward", f, z, ld_fwd), ("inverse", f.inverse, x_data, ld_data)):
                jac = torch.autograd.functional.jacobian(
                    lambda v, fn=fn: fn(v.reshape(1, *event))[0].reshape(-1), point[i].reshape(-1)
                )
                sign, logabsdet = torch.linalg.slogdet(jac)
                _close(name, f"{direction} log-det == log|det| of the autograd Jacobian",
                       logdet[i].detach(), logabsdet, 1e-5, 1e-5)
    with torch.no_grad():
        for dtype in (torch.float32, torch.float64):
            g = copy.deepcopy(f).to(dtype)
            out, ld = g(z[:2].to(dtype))
            back, ld2 = g.inverse(out)
            ok = all(t.dtype == dtype and t.device == z.device for t in (out, ld, back, ld2, g.log_prob(out)))
            _expect(name, "dtype and device kept", ok, f"outputs for {dtype} inputs came back in another dtype/device")
        s = f.sample(3)
        _expect(name, "sample shape", tuple(s.shape) == (3, *event), f"sample(3) has shape {tuple(s.shape)}")
        _expect(name, "sample shape", s.dtype == torch.float64 and bool(torch.isfinite(s).all()),
                "sample(3) is not finite float64 for a float64 flow")


def check_energy(energy: Energy, *, batch_size: int = 4, perturb: float = 0.1, seed: int = 0,
                 atol: float = 1e-8) -> None:
    """E(x) has shape (B,), is finite and differentiable in x, keeps dtype/device, is batch-independent."""
    name = "check_energy"
    e = perturbed_copy(energy, perturb, seed)
    event = tuple(e.event_shape)
    x = _randn((batch_size, *event), seed + 1, module_device(e)).requires_grad_(True)
    out = e(x)
    _expect(name, "output shape", tuple(out.shape) == (batch_size,), f"E(x) has shape {tuple(out.shape)}")
    _expect(name, "finite", bool(torch.isfinite(out).all()), "E(x) has NaN or Inf")
    (grad,) = torch.autograd.grad(out.sum(), x)
    _expect(name, "differentiable in x", grad.shape == x.shape and bool(torch.isfinite(grad).all()),
            "∇ₓE is missing or not finite")
    with torch.no_grad():
        _batch_independent(name, e, x.detach(), out.detach(), atol)
        out32 = copy.deepcopy(e).float()(x.detach().float())
        _expect(name, "dtype and device kept", out32.dtype == torch.float32 and out.dtype == torch.float64
                and out.device == x.device, "E(x) changed dtype or device")


def check_decoder(decoder: Decoder, *, batch_size: int = 4, perturb: float = 0.1, seed: int = 0,
                  atol: float = 1e-8) -> None:
    """x = decoder(z) has shape (B, *event_shape), is finite, keeps dtype/device, is batch-independent."""
    name = "check_decoder"
    dec = perturbed_copy(decoder, perturb, seed)
    z = _randn((batch_size, *dec.latent_shape), seed + 1, module_device(dec))
    with torch.no_grad():
        x = dec(z)
        _expect(name, "output shape", tuple(x.shape) == (batch_size, *dec.event_shape),
                f"decoder(z) has shape {tuple(x.shape)}, expected {(batch_size, *dec.event_shape)}")
        _expect(name, "finite", bool(torch.isfinite(x).all()), "decoder output has NaN or Inf")
        _expect(name, "dtype and device kept", x.dtype == z.dtype and x.device == z.device, "dtype/device changed")
        _batch_independent(name, dec, z, x, atol)


def check_encoder(encoder: Encoder, *, batch_size: int = 4, perturb: float = 0.1, seed: int = 0,
                  atol: float = 1e-8) -> None:
    """(mean, log_std) = encoder(x), each (B, *latent_shape), finite, dtype kept, batch-independent."""
    name = "check_encoder"
    enc = perturbed_copy(encoder, perturb, seed)
    x = _randn((batch_size, *enc.event_shape), seed + 1, module_device(enc))
    with torch.no_grad():
        mean, log_std = enc(x)
        want = (batch_size, *enc.latent_shape)
        _expect(name, "output shape", tuple(mean.shape) == want and tuple(log_std.shape) == want,
                f"encoder returned {tuple(mean.shape)} and {tuple(log_std.shape)}, expected {want} each")
        _expect(name, "finite", bool(torch.isfinite(mean).all() and torch.isfinite(log_std).all()), "NaN or Inf")
        _expect(name, "dtype and device kept", mean.dtype == x.dtype and mean.device == x.device, "dtype changed")
        _batch_independent(name, lambda t: enc(t)[0], x, mean, atol)
        _batch_independent(name, lambda t: enc(t)[1], x, log_std, atol)


def check_prior(prior: Prior, *, batch_size: int = 4, perturb: float = 0.1, seed: int = 0,
                atol: float = 1e-8) -> None:
    """sample(n) has shape (n, *latent_shape); log_prob is (B,), finite, batch-independent; fit_loss is a finite
    scalar that gives every trainable parameter a finite gradient."""
    name = "check_prior"
    p = perturbed_copy(prior, perturb, seed)
    shape = tuple(p.latent_shape)
    torch.manual_seed(seed)
    z = p.sample(batch_size)
    _expect(name, "sample shape", tuple(z.shape) == (batch_size, *shape),
            f"sample({batch_size}) has shape {tuple(z.shape)}, expected {(batch_size, *shape)}")
    _expect(name, "finite", bool(torch.isfinite(z).all()), "samples have NaN or Inf")
    _expect(name, "dtype and device kept", z.dtype == torch.float64, f"a float64 prior sampled {z.dtype}")
    z = z.detach()
    with torch.no_grad():
        lp = p.log_prob(z)
        _expect(name, "log_prob shape", tuple(lp.shape) == (batch_size,), f"log_prob has shape {tuple(lp.shape)}")
        _expect(name, "finite", bool(torch.isfinite(lp).all()), "log_prob has NaN or Inf")
        _batch_independent(name, p.log_prob, z, lp, atol)
    loss = p.fit_loss(z)
    _expect(name, "fit_loss is a scalar", loss.dim() == 0 and bool(torch.isfinite(loss)),
            f"fit_loss returned shape {tuple(loss.shape)}, value {loss}")
    params = [q for q in p.parameters() if q.requires_grad]
    if params:
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        _expect(name, "fit_loss reaches the parameters", any(g is not None for g in grads),
                "fit_loss has no gradient w.r.t. any parameter")
        _expect(name, "finite", all(bool(torch.isfinite(g).all()) for g in grads if g is not None),
                "fit_loss gradient has NaN or Inf")


class _Quadratic(nn.Module):
    """log N(x; 0, I) up to a constant, written with a parameter so that stray gradients are visible."""

    def __init__(self):
        super().__init__()
        self.precision = nn.Parameter(torch.ones((), dtype=torch.float64))

    def forward(self, x: Tensor) -> Tensor:
        return -0.5 * self.precision * x.flatten(1).square().sum(-1)


def check_sampler(sampler: Sampler, *, batch_size: int = 64, dim: int = 2, seed: int = 0) -> None:
    """On N(0, I) from x0 = 3: shape/dtype kept, detached output, no parameter gradients left, requires_grad
    flags restored, reproducible with a generator, moves toward the target."""
    name = "check_sampler"
    target = _Quadratic()
    x0 = torch.full((batch_size, dim), 3.0, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    out = sampler.sample(target, x0, generator=gen)
    _expect(name, "shape and dtype kept", out.shape == x0.shape and out.dtype == x0.dtype,
            f"returned {tuple(out.shape)} {out.dtype} for {tuple(x0.shape)} {x0.dtype}")
    _expect(name, "detached output", not out.requires_grad, "the samples still require grad")
    _expect(name, "no parameter gradients left", target.precision.grad is None,
            "the log-density's parameter has a .grad after sampling")
    _expect(name, "requires_grad restored", target.precision.requires_grad, "parameter requires_grad was changed")
    _expect(name, "input untouched", bool((x0 == 3.0).all()), "x0 was modified in place")
    _expect(name, "finite", bool(torch.isfinite(out).all()), "samples have NaN or Inf")
    again = sampler.sample(target, x0, generator=torch.Generator().manual_seed(seed))
    _expect(name, "reproducible with a generator", torch.equal(out, again), "same seed gave different samples")
    before = x0.square().sum(-1).mean()
    after = out.square().sum(-1).mean()
    _expect(name, "moves toward the target", bool(after < before),
            f"mean squared norm went from {before:.3f} to {after:.3f} on N(0, I)")


CHECKS: dict[str, Callable[..., None]] = {
    "flow": check_flow,
    "energy": check_energy,
    "decoder": check_decoder,
    "encoder": check_encoder,
    "prior": check_prior,
    "sampler": check_sampler,
}


def check_part(kind: str, part: Any, **kwargs: Any) -> None:
    """Run the conformance check for ``kind`` on ``part``; a Flow registered as a prior is checked as both."""
    if kind not in CHECKS:
        raise ValueError(f"no conformance check for kind {kind!r}; kinds with checks: {', '.join(CHECKS)}")
    if kind == "sampler":
        kwargs.pop("perturb", None)
        kwargs.pop("batch_size", None)
    CHECKS[kind](part, **kwargs)
    if kind == "prior" and isinstance(part, Flow):
        check_flow(part, **kwargs)
