"""Fused Langevin for CUDA: one Triton kernel per step, the K-step chain captured in a CUDA graph.

The gradient ∇ℓ still comes from autograd (the log-density is any torch code). Everything element-wise around it —
drift (s²/2)·∇ℓ, per-element clip, Philox noise drawn inside the kernel, clamp to bounds, and for MALA the
per-chain squared norms of the proposal terms and the uniform for the accept test — is one kernel launch. With
static shapes the whole chain (autograd included) is captured once in a CUDA graph and replayed; a capture that
fails falls back to launching the kernels eagerly, with a warning.

A captured graph bakes in the addresses of every tensor it reads. The cache key therefore includes the
log-density's code, the modules and tensors it reaches (closure cells, bound ``self``) and their storage; a
log-density that reads Python state other than tensors (a float attribute that changes, say) must use
``cuda_graph=False``. A log-density whose key changes on every call (it closes over a fresh batch) stops being
captured after a few misses.

On CPU, ``TRITON_INTERPRET=1`` (set before this module is imported) runs the same kernels in Triton's
interpreter; tests use it. Noise comes from Philox, not torch's generator: a run is reproducible from the seed
drawn from ``generator``, but does not equal the eager path's noise.
"""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from typing import Any

import torch
from torch import Tensor, nn

from gencoop.interfaces import LogDensity, Sampler
from gencoop.samplers.common import LangevinResult, mh_select, raise_if_nonfinite, value_and_grad

try:
    import triton
    import triton.language as tl

    _TRITON_ERROR = ""
except Exception as exc:  # not installed, or no usable backend
    triton = tl = None
    _TRITON_ERROR = f"Triton is not importable ({type(exc).__name__}: {exc}); pip install 'gencoop[cuda]'"

BLOCK = 1024
GRAPH_CACHE_SIZE = 8
GRAPH_MISSES_BEFORE_GIVING_UP = 4


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def fused_available(x: Tensor, explicit: bool = False) -> tuple[bool, str]:
    """Whether the fused path can run on ``x``: CUDA and Triton (or, when asked explicitly, Triton's interpreter)."""
    if triton is None:
        return False, _TRITON_ERROR
    if x.is_cuda:
        return True, ""
    if explicit and interpreting():
        return True, ""
    return False, "the tensors are not on a CUDA device (on CPU set TRITON_INTERPRET=1 to interpret the kernels)"


if triton is not None:

    # Triton folds an int argument equal to 1 into a constant (and 0 into nothing): `step` must stay a runtime int64.
    @triton.jit(do_not_specialize=["step"])
    def _step_kernel(x_ptr, g_ptr, out_ptr, sq_ptr, u_ptr, seed_ptr, n, rows, c, sigma, clip, lo, hi, step,
                     HAS_NOISE: tl.constexpr, HAS_CLIP: tl.constexpr, HAS_BOUNDS: tl.constexpr,
                     MALA: tl.constexpr, BLOCK_SIZE: tl.constexpr):
        """out = clamp(x + clip(c·g) + σ·ε) over the flat batch; MALA also writes sq = (out − x − clip(c·g))²
        per element and one uniform u per chain."""
        offs = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
        mask = offs < n
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        drift = c * g
        if HAS_CLIP:
            drift = tl.minimum(tl.maximum(drift, -clip), clip)
        out = x + drift
        key = tl.load(seed_ptr) + step.to(tl.int64) * 4294967296  # one Philox key per (seed, step), step above bit 31
        if HAS_NOISE:
            out = out + sigma * tl.randn(key, offs)
        if HAS_BOUNDS:
            out = tl.minimum(tl.maximum(out, lo), hi)
        tl.store(out_ptr + offs, out.to(out_ptr.dtype.element_ty), mask=mask)
        if MALA:
            r = out - x - drift
            tl.store(sq_ptr + offs, r * r, mask=mask)
            u = tl.rand(key, n + offs)  # counters past the noise's
            tl.store(u_ptr + offs, u, mask=offs < rows)

    @triton.jit
    def _reverse_kernel(x_ptr, prop_ptr, g_ptr, sq_ptr, n, c, clip,
                        HAS_CLIP: tl.constexpr, BLOCK_SIZE: tl.constexpr):
        """MALA: sq = (x − x' − clip(c·∇ℓ(x')))² per element (the reverse proposal's exponent, times −2σ²)."""
        offs = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
        mask = offs < n
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        p = tl.load(prop_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        drift = c * g
        if HAS_CLIP:
            drift = tl.minimum(tl.maximum(drift, -clip), clip)
        r = x - p - drift
        tl.store(sq_ptr + offs, r * r, mask=mask)


def _chain(sampler: Sampler, log_density: LogDensity, x0: Tensor, steps: int, seed: Tensor):
    """The K-step chain with fused updates; returns (x, per-step ℓ history (K+1, B), acceptances or None).
    No host synchronisation inside, so it can be captured in a CUDA graph. Images run channels-last (cuDNN's fast
    layout on tensor-core GPUs); every buffer the kernels index shares x's strides, so flat offsets line up."""
    layout = torch.channels_last if x0.dim() == 4 else torch.contiguous_format
    x = x0.contiguous(memory_format=layout).clone()
    if sampler.bounds is not None:
        x.clamp_(*sampler.bounds)
    b, n = x.shape[0], x.numel()
    grid = (triton.cdiv(n, BLOCK),)
    lo, hi = sampler.bounds if sampler.bounds is not None else (0.0, 0.0)
    clip = sampler.clip if sampler.clip is not None else 0.0
    flags = dict(HAS_CLIP=sampler.clip is not None, BLOCK_SIZE=BLOCK)
    lp, grad = value_and_grad(log_density, x, autocast=sampler.autocast)
    lps = [lp]
    accepted = torch.zeros_like(lp) if sampler.metropolis else None
    sq = torch.empty_like(x, dtype=torch.float32) if sampler.metropolis else x
    u = torch.empty(b, device=x.device, dtype=torch.float32) if sampler.metropolis else x
    for k, s in enumerate(sampler.step_sizes(steps)):
        c, sigma = 0.5 * s * s, sampler.noise * s
        proposal = torch.empty_like(x)
        _step_kernel[grid](x, grad.contiguous(memory_format=layout), proposal, sq, u, seed, n, b, c, sigma, clip,
                           lo, hi, k, HAS_NOISE=sigma > 0, HAS_BOUNDS=sampler.bounds is not None,
                           MALA=sampler.metropolis, **flags)
        if sampler.metropolis:
            forward = sq.flatten(1).sum(-1)
            lp_new, grad_new = value_and_grad(log_density, proposal, autocast=sampler.autocast)
            _reverse_kernel[grid](x, proposal, grad_new.contiguous(memory_format=layout), sq, n, c, clip, **flags)
            backward = sq.flatten(1).sum(-1)
            x, lp, grad, accept = mh_select(x, lp, grad, proposal, lp_new, grad_new, forward, backward, sigma, u)
            x = x.contiguous(memory_format=layout)  # a per-chain select may come back in the default layout
            accepted += accept
        else:
            x = proposal
            if k < steps - 1:
                lp, grad = value_and_grad(log_density, x, autocast=sampler.autocast)
        lps.append(lp)
    return x, torch.stack(lps), accepted


class _Captured:
    """A chain captured in a CUDA graph, with its static input, seed and outputs."""

    def __init__(self, sampler, log_density, x0: Tensor, steps: int):
        self.x0 = x0.clone()
        self.seed = torch.zeros(1, dtype=torch.int64, device=x0.device)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up: compiles the kernels, primes autograd and the allocator
            for _ in range(2):
                _chain(sampler, log_density, self.x0, steps, self.seed)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.out = _chain(sampler, log_density, self.x0, steps, self.seed)

    def __call__(self, x0: Tensor, seed: Tensor):
        self.x0.copy_(x0)
        self.seed.copy_(seed)
        self.graph.replay()
        x, history, accepted = self.out
        return x.clone(), history.clone(), accepted.clone() if accepted is not None else None


_graphs: OrderedDict[tuple, _Captured] = OrderedDict()
_misses: dict[Any, int] = {}
_failed: set = set()


def _graph_key(sampler, log_density, x0: Tensor, steps: int) -> tuple | None:
    """What a captured chain depends on, or None when the log-density reaches state a key cannot pin down.

    Capture is allowed for a Module, a bound method of a Module, or a function whose closure holds only Modules,
    Tensors and plain numbers or strings; the key holds the code, every Module's identity, mode and tensor storage
    (parameters and buffers), and every closed-over Tensor's identity, storage and shape.
    """
    func = getattr(log_density, "__func__", log_density)
    owner = getattr(log_density, "__self__", None)
    if isinstance(log_density, nn.Module):
        reached, code = [log_density], type(log_density)
    elif owner is not None:
        if not isinstance(owner, nn.Module):
            return None
        reached, code = [owner], func.__code__
    elif hasattr(func, "__code__"):
        reached, code = [], func.__code__
        for cell in func.__closure__ or ():
            try:
                reached.append(cell.cell_contents)
            except ValueError:
                continue
    else:
        return None  # functools.partial and other callables: not captured
    parts = []
    for obj in reached:
        if isinstance(obj, nn.Module):
            parts.append(("m", id(obj), tuple(m.training for m in obj.modules()),
                          tuple(t.data_ptr() for t in [*obj.parameters(), *obj.buffers()])))
        elif isinstance(obj, Tensor):
            parts.append(("t", id(obj), obj.data_ptr(), tuple(obj.shape)))
        elif isinstance(obj, (int, float, str, bool, type(None))):
            parts.append(("v", obj))
        else:
            return None
    settings = (sampler.step_size, sampler.noise, sampler.clip, sampler.bounds, sampler.metropolis,
                sampler.schedule, sampler.final_step_size, sampler.precision)
    return (code, tuple(parts), tuple(x0.shape), x0.dtype, x0.device, steps, settings)


def run_fused(sampler: Sampler, log_density: LogDensity, x0: Tensor, steps: int,
              generator: torch.Generator | None) -> LangevinResult:
    """``steps`` fused steps of ``sampler`` (a :class:`~gencoop.samplers.langevin.Langevin`, read for its settings:
    step sizes, noise, clip, bounds, metropolis), as :meth:`Langevin.run` returns them without a trajectory."""
    if x0.numel() >= 2**31:
        raise ValueError("fused Langevin: more than 2³¹ elements per batch; split the batch")
    seed = torch.randint(0, 2**31 - 1024, (1,), generator=generator, device=generator.device if generator else "cpu")
    seed = seed.to(x0.device)
    x0 = x0.detach()
    runner = None
    if sampler.cuda_graph and x0.is_cuda and steps > 0:
        runner = _graph_runner(sampler, log_density, x0, steps)
    if runner is not None:
        x, history, accepted = runner(x0, seed)
    else:
        x, history, accepted = _chain(sampler, log_density, x0, steps, seed)
    x = x.contiguous()  # hand back the caller's (default) layout
    raise_if_nonfinite(x, list(history))
    diagnostics = {"acceptance": accepted / max(steps, 1)} if accepted is not None else {}
    return LangevinResult(x, None, diagnostics, None)


def _graph_runner(sampler, log_density, x0, steps) -> _Captured | None:
    key = _graph_key(sampler, log_density, x0, steps)
    if key is None:
        return None
    if key in _graphs:
        _graphs.move_to_end(key)
        return _graphs[key]
    code = (key[0], id(getattr(log_density, "__self__", None)))  # this code on this model: failures stay local
    if code in _failed or _misses.get(code, 0) >= GRAPH_MISSES_BEFORE_GIVING_UP:
        return None
    _misses[code] = _misses.get(code, 0) + 1
    try:
        captured = _Captured(sampler, log_density, x0, steps)
    except Exception as exc:  # capture is not possible for this log-density: launch the kernels eagerly
        _failed.add(code)
        warnings.warn(f"fused Langevin: CUDA graph capture failed ({type(exc).__name__}: {exc}); "
                      "running the fused kernels without a graph", stacklevel=4)
        return None
    _graphs[key] = captured
    if len(_graphs) > GRAPH_CACHE_SIZE:
        _graphs.popitem(last=False)
    return captured
