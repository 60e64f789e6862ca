"""The Gaussian noise ε of the eager Langevin loop: drawn a chunk of steps per call, ahead of the chain.

On a CPU the draw is not free: 100 k normals cost ~0.35 ms, 6–7 % of a gradient step of a 100-D, 256-256 MLP energy
at batch 1024 on one core (drawn inline, 60 Langevin steps cost 1.07× as much as 60 bare gradients). When torch's
intra-op threads leave a core idle, a helper thread draws the next chunks while the chain computes its gradients, so
the draw costs no wall time. Prefetching must not change the numbers: on a CPU the noise comes from a generator of
its own, seeded by one draw from the caller's (or torch's default) generator and used only in step order. So one
seed gives one chain, with or without the helper thread, and the caller's generator stays free for MALA's accept
test.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import torch
from torch import Tensor

# Several steps per call (fewer calls), up to 512 k elements (2 MB fp32, ~1.7 ms to draw: the first chunk is ready
# before the chain's first gradient). One size with or without prefetch: the chunking decides the numbers.
CHUNK_ELEMENTS = 1 << 19
PREFETCH_DEPTH = 2  # chunks in flight ahead of the chain

_executor: ThreadPoolExecutor | None = None  # the helper thread, made on first use
_executor_lock = threading.Lock()


def _forget_helper() -> None:  # a forked child has no helper thread, and maybe a lock held by a vanished thread
    global _executor, _executor_lock
    _executor, _executor_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_helper)


def usable_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def spare_core() -> bool:
    """Whether torch's intra-op threads leave a core of this process idle. It cannot see other processes: each of
    several one-thread processes on a machine (DDP ranks, DataLoader workers) decides so on its own; the helper
    thread's work is small (the draw alone), but ``prefetch_noise=False`` turns it off."""
    return torch.get_num_threads() < usable_cores()


def _helper() -> ThreadPoolExecutor:
    """The one helper thread of this process."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gencoop-noise")
        return _executor


class NoiseStream:
    """ε ~ N(0, I) of ``like``'s shape, dtype and device for each of ``steps`` steps: ``next(stream)``.

    On a CPU, ``generator`` (or torch's default one) only seeds the stream's own generator, with one draw (none
    when ``steps`` is 0). ``prefetch=None`` draws on the helper thread when :func:`spare_core` holds; off a CPU
    ``prefetch`` is ignored and the draws come straight from ``generator`` (CUDA kernels are asynchronous already).
    """

    def __init__(self, like: Tensor, steps: int, generator: torch.Generator | None, prefetch: bool | None = None):
        self.shape, self.dtype, self.device = tuple(like.shape), like.dtype, like.device
        cpu = like.device.type == "cpu"
        self.generator = generator
        if cpu and steps > 0:  # a private generator: its stream depends on the seed alone, not on who else draws
            seed = int(torch.randint(0, 2**62, (), generator=generator, device="cpu"))
            self.generator = torch.Generator().manual_seed(seed)
        self.prefetch = cpu and (spare_core() if prefetch is None else prefetch)
        self.chunk = max(1, min(steps, CHUNK_ELEMENTS // max(like.numel(), 1)))
        self.undrawn = steps  # steps whose noise is neither drawn nor requested
        self.pending: deque[Future[Tensor]] = deque()  # requested chunks, in step order
        self.ready: Iterator[Tensor] = iter(())  # the current chunk's steps
        for _ in range(PREFETCH_DEPTH):
            self._request()

    def _draw(self, n: int) -> Tensor:
        return torch.randn((n, *self.shape), generator=self.generator, device=self.device, dtype=self.dtype)

    def _request(self) -> None:
        """With prefetch, ask the helper thread for the next chunk."""
        n = min(self.chunk, self.undrawn)
        if n == 0 or not self.prefetch:
            return
        try:
            self.pending.append(_helper().submit(self._draw, n))
        except RuntimeError:  # no new work at interpreter exit (an atexit hook that samples): draw inline
            self.prefetch = False
            return
        self.undrawn -= n

    def __iter__(self) -> NoiseStream:
        return self

    def __next__(self) -> Tensor:
        try:
            return next(self.ready)
        except StopIteration:
            if self.pending:  # inline draws start only once every requested chunk is in: one user at a time
                chunk = self.pending.popleft().result()
                self._request()
            elif self.undrawn > 0:
                chunk = self._draw(n := min(self.chunk, self.undrawn))
                self.undrawn -= n
            else:
                raise
            self.ready = iter(chunk.unbind(0))
            return next(self.ready)
