"""The Gaussian noise ε of the eager Langevin loop: drawn a chunk of steps per call, ahead of the chain.

On a CPU the draw is not free: 100 k normals cost ~0.35 ms, 6–7 % of a gradient step of a 100-D, 256-256 MLP
energy at batch 1024 on one core (``benchmarks/sampler_speed.py``, "noise 0" column). When torch's intra-op
threads leave a core idle, a helper thread draws the next chunks while the chain computes its gradients, so the
draw costs no wall time. Prefetching must not change the numbers: on a CPU the noise comes from a generator of its
own, seeded by one draw from the caller's (or torch's default) generator and used only in step order. So one seed
gives one chain, with or without the helper thread, and the caller's generator stays free for MALA's accept test.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterator

import torch
from torch import Tensor

# Several steps per call (fewer calls), up to 512 k elements (2 MB fp32, ~1.7 ms to draw: the first chunk is ready
# before the chain's first gradient). One size with or without prefetch: the chunking decides the numbers.
CHUNK_ELEMENTS = 1 << 19
PREFETCH_DEPTH = 2  # chunks in flight ahead of the chain

_executor: tuple[int, ThreadPoolExecutor] | None = None  # (pid, executor): a forked child makes its own
_executor_lock = threading.Lock()


def spare_core() -> bool:
    """Whether torch's intra-op threads leave a CPU core of this process idle."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return torch.get_num_threads() < cores


def _helper() -> ThreadPoolExecutor:
    """The one helper thread of this process (made on first use, again after a fork)."""
    global _executor
    with _executor_lock:
        if _executor is None or _executor[0] != os.getpid():
            _executor = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="gencoop-noise"))
        return _executor[1]


class NoiseStream:
    """ε ~ N(0, I) of ``like``'s shape, dtype and device for each of ``steps`` steps: ``next(stream)``.

    ``prefetch=None`` draws on the helper thread when ``like`` is on a CPU and :func:`spare_core` holds.
    On CUDA, draws are asynchronous kernels already; they come straight from ``generator`` there.
    """

    def __init__(self, like: Tensor, steps: int, generator: torch.Generator | None, prefetch: bool | None = None):
        self.shape, self.dtype, self.device = tuple(like.shape), like.dtype, like.device
        cpu = like.device.type == "cpu"
        self.generator = generator
        if cpu:  # a private generator: its stream depends on the seed alone, not on who else draws meanwhile
            seed = int(torch.randint(0, 2**62, (), generator=generator))
            self.generator = torch.Generator().manual_seed(seed)
        self.prefetch = cpu and (spare_core() if prefetch is None else prefetch)
        self.chunk = max(1, min(steps, CHUNK_ELEMENTS // max(like.numel(), 1)))
        self.undrawn = steps  # steps whose noise is neither drawn nor requested
        self.pending: deque[Future[Tensor]] = deque()  # requested chunks, in step order
        self.ready: Iterator[Tensor] = iter(())  # the current chunk's steps
        if self.prefetch:
            for _ in range(PREFETCH_DEPTH):
                self._request()

    def _draw(self, n: int) -> Tensor:
        return torch.randn((n, *self.shape), generator=self.generator, device=self.device, dtype=self.dtype)

    def _take(self) -> int:
        n = min(self.chunk, self.undrawn)
        self.undrawn -= n
        return n

    def _request(self) -> None:
        if self.undrawn > 0:
            self.pending.append(_helper().submit(self._draw, self._take()))

    def __iter__(self) -> NoiseStream:
        return self

    def __next__(self) -> Tensor:
        try:
            return next(self.ready)
        except StopIteration:
            if self.pending:
                chunk = self.pending.popleft().result()
                self._request()
            elif self.undrawn > 0:
                chunk = self._draw(self._take())
            else:
                raise
            self.ready = iter(chunk.unbind(0))
            return next(self.ready)
