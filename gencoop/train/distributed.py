"""Data-parallel training with torch.distributed (launched by torchrun; gloo on CPU, NCCL on GPU).

Each rank runs its own Langevin chains on its shard of every global batch; after each group's backward pass the
gradients are averaged over ranks (all-reduce), so all ranks take the same optimiser step and hold identical
parameters; only rank 0 writes files. CPU threads are split between the processes on a machine (two processes
with two threads each on two cores thrash).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup(device: torch.device, threads: int | None = None) -> Dist:
    """Join the process group torchrun describes (WORLD_SIZE > 1), or run alone; set CPU threads either way."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    if threads or local_world > 1:  # alone, torch's own default (or the caller's setting) stands
        torch.set_num_threads(threads or max(1, (os.cpu_count() or 1) // local_world))
    if world == 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size())


def broadcast_parameters(module: nn.Module, ctx: Dist) -> None:
    """Make every rank start from rank 0's parameters and buffers."""
    if ctx.world > 1:
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


def average_gradients(params: list[nn.Parameter], ctx: Dist) -> None:
    """grad ← mean over ranks of grad, one flattened all-reduce per call."""
    if ctx.world == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= ctx.world
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def gather_objects(obj, ctx: Dist) -> list:
    """[obj of rank 0, obj of rank 1, …] on every rank (``[obj]`` alone)."""
    if ctx.world == 1:
        return [obj]
    out = [None] * ctx.world
    dist.all_gather_object(out, obj)
    return out


def barrier(ctx: Dist) -> None:
    if ctx.world > 1:
        dist.barrier()


def teardown(ctx: Dist) -> None:
    if ctx.world > 1 and dist.is_initialized():
        dist.destroy_process_group()
