"""What every sampler needs around its loop: ∇ℓ without parameter gradients, and frozen parameters."""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Iterator

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
    arguments, closure cells and the module-level names its code reads (nested ``depth`` levels)."""
    found: dict[int, nn.Module] = {}

    def visit(obj: Any, level: int) -> None:
        if level > depth or obj is None:
            return
        if isinstance(obj, nn.Module):
            found.setdefault(id(obj), obj)
            return
        if isinstance(obj, functools.partial):
            for item in (obj.func, *obj.args, *obj.keywords.values()):
                visit(item, level + 1)
            return
        visit(getattr(obj, "__self__", None), level + 1)
        func = getattr(obj, "__func__", obj)
        for cell in getattr(func, "__closure__", None) or ():
            try:
                visit(cell.cell_contents, level + 1)
            except ValueError:  # empty cell
                pass
        code, names = getattr(func, "__code__", None), getattr(func, "__globals__", {})
        for name in code.co_names if code is not None else ():  # e.g. `lambda x: -energy(x)` at module level
            visit(names.get(name), level + 1)

    visit(fn, 0)
    return list(found.values())


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
