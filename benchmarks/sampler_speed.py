"""Langevin sampler speed: gencoop against its floor, a naive loop, and torchebm (when installed).

The floor is K bare energy-gradient evaluations (forward + backward w.r.t. x only, parameters frozen): no sampler
can do K Langevin steps with less. "noise 0" runs the same sampler without noise: the difference between the two
gencoop columns is what drawing the Gaussian noise (B·D·K numbers, which the floor does not include) costs in wall
time.
"naive" is a loop in the style of published reference code (a fresh ``requires_grad`` tensor, the energy's
parameters left trainable, ``randn_like`` noise every step). On a GPU, "fused" is the Triton + CUDA-graph backend
(float32; image states channels-last) and "fused, bf16" the same with ``precision="bfloat16"`` (ℓ and ∇ℓ under
autocast); "eager / fused" is the speed-up over the eager loop. Convolutions use torch's default (cuDNN's heuristic
algorithm choice) unless ``--cudnn-benchmark`` lets cuDNN time its algorithms, for every column alike.
Every sampler runs K steps of the same energy from the same start, in interleaved rounds after one warm-up
(``--repeats`` of them, more for fast rows: until the floor has run ``--min-seconds``; "rounds" says how many).
A cell gives the best time (ms) and, in brackets, the median over rounds of its time over the floor's in the same
round: a paired ratio, which interference hitting a whole round leaves alone. On a CPU with a core that
torch's threads leave idle, gencoop draws the noise on a helper thread (``Langevin(prefetch_noise=None)``, the
default): the draw then runs on that core beside the floor's one, so the floor bounds the chain's work on the
gradient's cores, not its total CPU time. ``--threads`` set to the core count leaves no core idle, and the draw is
inline.

    python benchmarks/sampler_speed.py                # CPU, 1 thread (stated in the output)
    python benchmarks/sampler_speed.py --threads 2
    python benchmarks/sampler_speed.py --device cuda  # GPU rows only
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import torch

import gencoop
from gencoop.samplers.common import frozen_parameters
from gencoop.samplers.langevin import Langevin
from gencoop.samplers.noise import spare_core, usable_cores

STEP = 0.01


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed_rounds(methods: dict[str, Callable[[], object]], device: torch.device, repeats: int,
                 min_seconds: float = 0.0) -> dict[str, list[float]]:
    """Wall times of each method, one per round. The methods are interleaved round by round, so a round's times
    share the machine's state of the moment, and their order rotates from round to round, so no method always
    runs first; one warm-up round first (compilation, graph capture), not returned.
    Rounds: at least ``repeats``, and on until the floor has run ``min_seconds`` in all."""
    times: dict[str, list[float]] = {k: [] for k in methods}
    keys = list(methods)
    r = 0
    while r <= repeats or sum(times["floor"]) < min_seconds:
        for key in keys[r % len(keys):] + keys[: r % len(keys)]:  # each method takes each place in turn
            _sync(device)
            t0 = time.perf_counter()
            methods[key]()
            _sync(device)
            if r:
                times[key].append(time.perf_counter() - t0)
        r += 1
    return times


def paired_ratio(times: dict[str, list[float]], key: str, base: str) -> float:
    """Median over rounds of ``key``'s time over ``base``'s in the same round: interference that hits a round
    slows both and cancels, where a ratio of two best times would compare different moments of the machine."""
    return statistics.median(a / b for a, b in zip(times[key], times[base]))


def floor_loop(energy, x0: torch.Tensor, steps: int) -> torch.Tensor:
    """K gradient evaluations w.r.t. x and nothing else, the energy's parameters frozen."""
    with frozen_parameters(energy):
        for _ in range(steps):
            x = x0.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(energy(x).sum(), x)
    return g


def naive_loop(energy, x0: torch.Tensor, steps: int) -> torch.Tensor:
    """Langevin as research code often writes it: parameters stay trainable, new noise tensor each step."""
    x = x0.clone()
    for _ in range(steps):
        x.requires_grad_(True)
        e = energy(x)
        g = torch.autograd.grad(e.sum(), x)[0]
        x = x.detach() - 0.5 * STEP**2 * g + STEP * torch.randn_like(x)
    return x


def torchebm_loop():
    try:
        from torchebm.core import BaseModel
        from torchebm.samplers import LangevinDynamics
    except Exception:
        return None

    def run(energy, x0, steps):
        class Wrapped(BaseModel):
            def __init__(self):
                super().__init__()
                self.inner = energy

            def forward(self, x):
                return self.inner(x)

        sampler = LangevinDynamics(Wrapped(), step_size=STEP, noise_scale=1.0, device=x0.device)
        return sampler.sample(x=x0.clone(), n_steps=steps)

    return run


def cases(device: torch.device) -> list[tuple[str, torch.nn.Module, tuple[int, ...], list[int]]]:
    mlp2 = gencoop.create("energy", "mlp", dim=2, hidden=(128, 128))
    mlp100 = gencoop.create("energy", "mlp", dim=100, hidden=(256, 256))
    conv28 = gencoop.create("energy", "conv", shape=(1, 28, 28), channels=16, blocks=3)
    out = [
        ("MLP 2-D (128-128)", mlp2, (1024, 2), [60, 100]),
        ("MLP 100-D (256-256)", mlp100, (1024, 100), [60, 100]),
        ("ConvNet 1x28x28 (16 ch)", conv28, (1024 if device.type == "cuda" else 64, 1, 28, 28), [60]),
    ]
    if device.type == "cuda":
        conv32 = gencoop.create("energy", "conv", shape=(3, 32, 32), channels=64, blocks=3)
        out.append(("ConvNet 3x32x32", conv32, (256, 3, 32, 32), [60]))
    return [(n, e.to(device), shape, steps) for n, e, shape, steps in out]


# glibc's malloc hands blocks above a (moving) threshold back to the OS on every free, so every large activation
# costs page faults, and how many depends on the allocation history of the process. That noise (up to ±20 % here)
# swamps the few per-step operations a sampler adds. Raising the thresholds keeps freed memory in the heap: no page
# faults after warm-up, the same allocator for every method. ``--default-malloc`` measures without it.
ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": str(2**32), "MALLOC_TRIM_THRESHOLD_": str(2**32),
                 "MALLOC_TOP_PAD_": str(2**29)}


def main() -> None:
    if "--default-malloc" not in sys.argv and any(os.environ.get(k) != v for k, v in ALLOCATOR_ENV.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **ALLOCATOR_ENV})
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--repeats", type=int, default=7, help="at least this many timed rounds per row (default 7)")
    parser.add_argument("--min-seconds", type=float, default=3.0,
                        help="more rounds for fast rows, until the floor has run this long in all (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=["all", "cpu", "cuda"], default="all",
                        help="which devices get rows (default: CPU, plus CUDA when available)")
    parser.add_argument("--cudnn-benchmark", action="store_true",
                        help="torch.backends.cudnn.benchmark = True for every column (GPU convolutions)")
    parser.add_argument("--default-malloc", action="store_true", help="keep glibc's default malloc thresholds")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible; use --device cpu")
    devices = [torch.device(d) for d in ("cpu", "cuda") if args.device in (d, "all")]
    devices = [d for d in devices if d.type == "cpu" or torch.cuda.is_available()]
    ebm = torchebm_loop()
    noise_where = "on a helper thread" if spare_core() else "inline"
    print(f"# Langevin sampler speed — torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{args.threads} CPU thread(s) of {usable_cores()} cores (CPU noise drawn {noise_where}), seed {args.seed}, "
          f"≥ {args.repeats} interleaved rounds and ≥ {args.min_seconds:g} s of floor per row "
          "(best time; median paired ratio), "
          f"step size {STEP}, malloc: "
          f"{'default' if args.default_malloc else 'thresholds raised (' + ', '.join(ALLOCATOR_ENV) + ')'}")
    if any(d.type == "cuda" for d in devices):
        print(f"# GPU: {torch.cuda.get_device_name()}; cudnn.benchmark {'on' if args.cudnn_benchmark else 'off'} "
              "for every column")
    print("| device | energy | batch | steps | rounds | floor (ms) | gencoop eager | gencoop eager, noise 0 | "
          "gencoop fused | eager / fused | gencoop fused, bf16 | eager / fused bf16 | naive loop | torchebm |")
    print("|" + " --- |" * 14)
    for device in devices:
        for name, energy, shape, step_list in cases(device):
            torch.manual_seed(args.seed)
            x0 = torch.randn(shape, device=device)
            for steps in step_list:
                eager = Langevin(steps=steps, step_size=STEP, backend="eager")
                quiet = Langevin(steps=steps, step_size=STEP, noise=0.0, backend="eager")
                methods = {
                    "floor": lambda: floor_loop(energy, x0, steps),
                    "eager": lambda: eager.sample(lambda v: -energy(v), x0),
                    "eager0": lambda: quiet.sample(lambda v: -energy(v), x0),
                    "naive": lambda: naive_loop(energy, x0, steps),
                }
                if device.type == "cuda":
                    fused = Langevin(steps=steps, step_size=STEP, backend="fused")
                    methods["fused"] = lambda: fused.sample(lambda v: -energy(v), x0)
                    half = Langevin(steps=steps, step_size=STEP, backend="fused", precision="bfloat16")
                    methods["fused16"] = lambda: half.sample(lambda v: -energy(v), x0)
                if ebm is not None:
                    methods["torchebm"] = lambda: ebm(energy, x0, steps)
                times = timed_rounds(methods, device, args.repeats, args.min_seconds)

                def cell(key: str) -> str:
                    if key not in times:
                        return "—"
                    return f"{min(times[key]) * 1e3:.1f} ({paired_ratio(times, key, 'floor'):.3f}×)"

                def speedup(key: str) -> str:
                    return f"{1 / paired_ratio(times, key, 'eager'):.2f}×" if key in times else "—"

                print(f"| {device.type} | {name} | {shape[0]} | {steps} | {len(times['floor'])} | "
                      f"{min(times['floor']) * 1e3:.1f} | "
                      f"{cell('eager')} | {cell('eager0')} | {cell('fused')} | {speedup('fused')} | "
                      f"{cell('fused16')} | {speedup('fused16')} | {cell('naive')} | "
                      f"{cell('torchebm') if ebm else 'not installed'} |", flush=True)


if __name__ == "__main__":
    main()
