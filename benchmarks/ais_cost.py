"""What one AIS transition costs against one bare gradient evaluation of the same energy.

``ais_log_z`` makes one MALA transition per temperature. Its floor is the gradient evaluation that any transition
needs (forward + backward w.r.t. x of ℓ = −E, parameters frozen: ``floor_loop`` of ``sampler_speed.py``). The
"AIS" column runs ``ais_log_z`` with a given MALA sampler for K temperatures and divides by K: it includes the
start's evaluation, the proposal, the accept test, the tempering with N(0, I) and the importance weights. "AIS +
pilot" is the default call, which first tunes the step sizes on a pilot run (a quarter of the chains through a
quarter of the temperatures).
A cell gives the best time per transition (ms) and, in brackets, the median over interleaved rounds of its time
over the floor's in the same round (``timed_rounds``/``paired_ratio`` of ``sampler_speed.py``).

    python benchmarks/ais_cost.py               # CPU, 1 thread (stated in the output)
    python benchmarks/ais_cost.py --threads 2
"""

from __future__ import annotations

import argparse
import platform

import torch
from sampler_speed import floor_loop, paired_ratio, timed_rounds
from torch.distributions import Independent, Normal

import gencoop
from gencoop.metrics import ais_log_z
from gencoop.samplers.langevin import Langevin


def cases() -> list[tuple[str, torch.nn.Module, tuple[int, ...], int]]:
    """(name, energy, event shape, chains): the toy recipes' MLP energy, and ConvNet energies on 8×8 and 28×28."""
    torch.manual_seed(0)
    return [
        ("mlp 256×3, 2-D", gencoop.create("energy", "mlp", dim=2, hidden=(256, 256, 256),
                                          activation="leaky_relu", base_std=3.0), (2,), 1000),
        ("conv 16ch, 1×8×8", gencoop.create("energy", "conv", shape=(1, 8, 8), channels=16, blocks=2),
         (1, 8, 8), 256),
        ("conv 32ch, 1×28×28", gencoop.create("energy", "conv", shape=(1, 28, 28), channels=32, blocks=2),
         (1, 28, 28), 64),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=200, help="AIS temperatures (= transitions) per timed call")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved timed rounds after one warm-up")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    print(f"# AIS transition cost: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.threads} thread(s), {args.steps} temperatures per call, {args.repeats} rounds")
    print("| energy | chains | floor: ∇ℓ (ms) | AIS (ms / transition) | AIS + pilot (ms / transition) |")
    print("| --- | --- | --- | --- | --- |")
    for name, energy, shape, chains in cases():
        energy.requires_grad_(False)
        d = shape
        x0 = torch.randn(chains, *d, generator=torch.Generator().manual_seed(0))
        init = Independent(Normal(torch.zeros(d), torch.ones(d)), len(d))
        log_density = lambda x, e=energy: -e(x)  # noqa: E731
        mala = Langevin(steps=1, step_size=0.05, metropolis=True)
        k = args.steps
        methods = {
            "floor": lambda: floor_loop(energy, x0, k),
            "ais": lambda: ais_log_z(log_density, init, steps=k, chains=chains, sampler=mala,
                                     generator=torch.Generator().manual_seed(1)),
            "pilot": lambda: ais_log_z(log_density, init, steps=k, chains=chains,
                                       generator=torch.Generator().manual_seed(1)),
        }
        times = timed_rounds(methods, device, args.repeats)

        def cell(key: str) -> str:
            return f"{1e3 * min(times[key]) / k:.3g} ({paired_ratio(times, key, 'floor'):.2f}×)"

        print(f"| {name} | {chains} | {1e3 * min(times['floor']) / k:.3g} | {cell('ais')} | {cell('pilot')} |")


if __name__ == "__main__":
    main()
