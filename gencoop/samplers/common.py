"""What every sampler needs around its loop: ∇ℓ without parameter gradients, and frozen parameters."""

from __future__ import annotations

import contextlib
import dis
import functools
import math
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from gencoop.interfaces import LogDensity


def value_and_grad(log_density: LogDensity, x: Tensor, create_graph: bool = False,
                   autocast: torch.dtype | None = None) -> tuple[Tensor, Tensor]:
    """ℓ(x) ``(B,)`` and ∇ₓℓ(x) ``(B, *event)``; only x is differentiated (no ``.grad`` is written).

    Detached by default; with ``create_graph=True`` both stay attached to x's graph, so a chain of updates can be
    differentiated w.r.t. its start (the Langevin flow as a map, for reconstruction). ``autocast`` (e.g.
    ``torch.bfloat16``) evaluates ℓ under ``torch.autocast``; ℓ and ∇ℓ come back in x's dtype.
    """
    with torch.enable_grad():
        if not create_graph or not x.requires_grad:
            x = x.detach().requires_grad_(True)
        if autocast is None:
            lp = log_density(x)
        else:
            with torch.autocast(x.device.type, dtype=autocast):
                lp = log_density(x)
            lp = lp.to(x.dtype)
        (grad,) = torch.autograd.grad(lp.sum(), x, create_graph=create_graph)
    return (lp, grad) if create_graph else (lp.detach(), grad)


def records_trajectory(sampler: Any) -> bool:
    """Whether ``sampler.run(..., return_trajectory=k)`` exists (the Langevin family's; not every Sampler's)."""
    import inspect

    run = getattr(sampler, "run", None)
    return callable(run) and "return_trajectory" in inspect.signature(run).parameters


def modules_of(fn: Any, depth: int = 3) -> list[nn.Module]:
    """The nn.Modules a log-density callable reaches: itself, a bound method's owner, ``functools.partial``
    arguments, and a Python function's closure cells and the module-level names it loads (nested ``depth``
    levels; e.g. ``lambda x: -energy(x)`` in a script). Modules held in containers, or read only by nested code (a
    generator expression inside the function), are not found."""
    found: dict[int, nn.Module] = {}
    seen: set[int] = set()

    def visit(obj: Any, level: int) -> None:
        if level > depth or obj is None or id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, nn.Module):
            found.setdefault(id(obj), obj)
        elif isinstance(obj, functools.partial):
            for item in (obj.func, *obj.args, *obj.keywords.values()):
                visit(item, level + 1)
        elif isinstance(obj, types.MethodType):
            visit(obj.__self__, level + 1)
            visit(obj.__func__, level + 1)
        elif isinstance(obj, types.FunctionType):
            for cell in obj.__closure__ or ():
                try:
                    visit(cell.cell_contents, level + 1)
                except ValueError:  # empty cell
                    pass
            for name in _global_names(obj.__code__):
                visit(obj.__globals__.get(name), level + 1)
        else:  # a builtin method's owner, say (guarded: a class's __getattr__ may raise anything)
            try:
                owner = getattr(obj, "__self__", None)
            except Exception:
                owner = None
            visit(owner, level + 1)

    visit(fn, 0)
    return list(found.values())


@functools.lru_cache(maxsize=4096)
def _global_names(code: types.CodeType) -> tuple[str, ...]:
    """The module-level names ``code`` loads (``LOAD_GLOBAL``; attribute names are not among them)."""
    return tuple(dict.fromkeys(i.argval for i in dis.get_instructions(code) if i.opname == "LOAD_GLOBAL"))


@contextlib.contextmanager
def frozen_parameters(fn: Any) -> Iterator[list[nn.Parameter]]:
    """Turn off ``requires_grad`` on the parameters ``fn`` reaches (so sampling records no parameter graph) and
    restore each flag on exit, whatever happens."""
    params: dict[int, nn.Parameter] = {}
    for module in modules_of(fn):
        for p in module.parameters():
            params.setdefault(id(p), p)
    saved = [(p, p.requires_grad) for p in params.values()]
    try:
        for p, _ in saved:
            p.requires_grad_(False)
        yield [p for p, _ in saved]
    finally:
        for p, flag in saved:
            p.requires_grad_(flag)


# -- what the eager and fused Langevin paths share ------------------------------------------------------------

@dataclass
class LangevinResult:
    """Output of :meth:`Langevin.run`.

    ``x``: final states ``(B, *event)`` (fewer rows with ``on_nonfinite="drop"``; ``kept`` indexes them).
    ``trajectory``: ``(T, B, *event)``, x0 then every k-th state, when ``return_trajectory=k``.
    ``diagnostics``: per-chain ``(B,)`` tensors ``log_density_start``, ``log_density_end``, ``grad_norm`` (mean
    ‖∇ℓ‖ over steps), ``acceptance`` (MALA), and ``nonfinite`` (chains reset or dropped).
    """

    x: Tensor
    trajectory: Tensor | None = None
    diagnostics: dict[str, Tensor] = field(default_factory=dict)
    kept: Tensor | None = None


def mh_select(x, lp, grad, proposal, lp_new, grad_new, forward, backward, sigma: float, u):
    """Metropolis–Hastings for the Langevin proposal, given ``forward`` = ‖x' − x − drift(x)‖² and ``backward`` =
    ‖x − x' − drift(x')‖² per chain: accept where log u < ℓ(x') − ℓ(x) + (forward − backward)/(2σ²).
    Returns the selected (x, ℓ, ∇ℓ) and the accept mask ``(B,)``; shared by the eager and fused paths."""
    log_alpha = (lp_new - lp + (forward - backward).to(lp.dtype) / (2 * sigma**2)).nan_to_num(nan=-math.inf)
    accept = torch.log(u).to(lp.dtype) < log_alpha
    mask = accept.view(-1, *([1] * (x.dim() - 1)))
    return (torch.where(mask, proposal, x), torch.where(accept, lp_new, lp),
            torch.where(mask, grad_new, grad), accept)


def raise_if_nonfinite(x: Tensor, lps: list[Tensor]) -> None:
    """Raise, naming chains and the first step, if any chain's ℓ or final state is NaN/Inf (one check per run)."""
    final = x.flatten(1).sum(-1)  # a non-finite element makes its chain's sum non-finite
    history = torch.stack(lps)
    if bool(torch.isfinite(final).all()) and bool(torch.isfinite(history).all()):
        return
    bad_hist = ~torch.isfinite(history)
    bad_hist[-1] |= ~torch.isfinite(final)
    chains = bad_hist.any(0).nonzero().flatten().tolist()
    first = [int(bad_hist[:, c].nonzero()[0]) for c in chains]
    shown = ", ".join(f"{c} (step {k})" for c, k in list(zip(chains, first))[:10]) + (" …" if len(chains) > 10 else "")
    raise FloatingPointError(
        f"Langevin: non-finite values in chain(s) {shown}; lower step_size, set clip or bounds, "
        "or pass on_nonfinite='reset' or 'drop'"
    )
