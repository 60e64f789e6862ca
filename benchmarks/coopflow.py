"""CoopFlow against its baselines on the same budget, and its iteration time against the floor.

For each data set, four models are trained for ``--steps`` steps with the same batch size and seed — the flow
alone (maximum likelihood), the short-run EBM alone (Langevin from noise), CoopFlow (joint from scratch) and
CoopFlow(Pre) (its flow initialised from the flow-alone run) — and evaluated by the harness: high-quality fraction
and modes covered (Gaussian-mixture toys), MMD (toys), Fréchet distance in the project's classifier features
(digits). The iteration-time table compares one CoopFlow training step with its floor: one flow NLL step, K
energy-gradient evaluations and one EBM step, each timed alone on the same batch.

    python benchmarks/coopflow.py                       # 25gaussians, rings, digits; figures in benchmarks/out/coopflow
    python benchmarks/coopflow.py --steps 500 --data 25gaussians
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

import gencoop
from gencoop.components.energies import ebm_loss
from gencoop.config import load_run_config
from gencoop.train import Trainer
from gencoop.train.evaluate import draw, reference
from gencoop.viz import plot_2d, save_image_grid
from sampler_speed import floor_loop  # benchmarks/ is the script's folder, so on sys.path

VARIANTS = ("flow", "ebm", "coopflow", "coopflow-pre")


def configs(data: str, steps: int, seed: int, flow_run: Path) -> dict[str, dict]:
    base = gencoop.create("recipe", "coopflow-digits" if data == "digits" else "coopflow-25gaussians")
    base["data"] = {**base["data"], "name": data} if data != "digits" else base["data"]
    common = {"seed": seed, "data": base["data"], "train": {**base["train"], "steps": steps, "eval_every": 0,
                                                             "sample_every": 0}}
    coop = {**common, "model": base["model"]}
    flow_ref = base["model"]["flow"]
    return {
        "flow": {**common, "model": {"name": "flow", "flow": flow_ref},
                 "train": {**common["train"], "optim": base["train"]["groups"]["flow"]}},
        "ebm": {**common, "model": {**base["model"], "init": "gaussian" if data != "digits" else "uniform",
                                    "init_scale": 3.0 if data != "digits" else 1.0},
                "train": {k: v for k, v in common["train"].items() if k != "groups"}},  # no flow group
        "coopflow": coop,
        "coopflow-pre": {**coop, "model": {**base["model"], "flow_run": str(flow_run)}},
    }


def iteration_times(trainer: Trainer, repeats: int = 15) -> tuple[float, float]:
    """(one CoopFlow training step, its floor): the best of ``repeats`` rounds after a warm-up round. Each round
    times the step and the floor's three parts one after another, so that drift in machine speed hits both."""
    model = trainer.model
    batch = trainer.data.x[:trainer.config.train.batch_size].to(trainer.device)
    k = model.sampler.steps
    opt_e, opt_f = trainer.optimizers["energy"], trainer.optimizers["flow"]
    state = {k_: v.clone() for k_, v in model.state_dict().items()}
    x_rev = model.synthesize(batch.shape[0])[1]  # revised samples, as one training step makes them

    def flow_step():
        opt_f.zero_grad()
        model.flow.fit_loss(x_rev).backward()
        opt_f.step()

    def grads():
        floor_loop(model.energy, x_rev, k)  # the sampler benchmark's floor: K gradient evaluations

    def ebm_step():
        opt_e.zero_grad()
        ebm_loss(model.energy, batch, x_rev, model.energy_reg).backward()
        opt_e.step()

    parts = {"step": trainer.train_step, "flow": flow_step, "grads": grads, "ebm": ebm_step}
    times: dict[str, list[float]] = {key: [] for key in parts}
    for r in range(repeats + 1):
        for key, fn in parts.items():
            t0 = time.perf_counter()
            fn()
            if r:
                times[key].append(time.perf_counter() - t0)
    model.load_state_dict(state)
    best = {key: min(v) for key, v in times.items()}
    return best["step"], best["flow"] + best["grads"] + best["ebm"]


def figure(runs: dict[str, Trainer], data: str, path: Path, seed: int) -> None:
    """One picture: 2-D data beside each model's samples, or one grid row of 16 samples per model for images."""
    samples = {}
    for variant, trainer in runs.items():
        torch.manual_seed(seed)
        model = trainer.evaluation_model()  # the weights the table evaluated (the EMA when the recipe keeps one)
        samples[variant] = draw(model, 2000 if data != "digits" else 16, 500)
    first = next(iter(runs.values())).data
    if first.event_shape == (2,):
        plot_2d({"data": reference(first, 2000, seed), **samples}, path)
    else:
        save_image_grid(first.to_data_units(torch.cat([reference(first, 16, seed), *samples.values()])), path, nrow=16,
                        row_labels=["data", *samples])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--data", nargs="+", default=["25gaussians", "rings", "digits"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timing-only", action="store_true",
                        help="only the iteration-time table (a CoopFlow run of 20 steps per data set)")
    parser.add_argument("--out", default="benchmarks/out/coopflow")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    print(f"# CoopFlow benchmark — {args.steps} steps per model, seed {args.seed}, torch {torch.__version__}, "
          f"{platform.machine()}, {args.threads} thread(s)")
    print("| data | model | hq_fraction | modes | mmd | fd | wall (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    timing = []
    for data in args.data:
        runs = {}
        variants = configs(data, 20 if args.timing_only else args.steps, args.seed, out / data / "flow")
        for variant, raw in variants.items():
            if args.timing_only and variant != "coopflow":
                continue
            t0 = time.perf_counter()
            trainer = Trainer(load_run_config(raw), out / data / variant, quiet=True)
            metrics = trainer.fit()
            wall = time.perf_counter() - t0
            runs[variant] = trainer
            modes = (f"{int(metrics['modes_covered'])}/{int(metrics['modes_total'])}"
                     if "modes_total" in metrics else "—")

            def fmt(key):
                return f"{metrics[key]:.4g}" if key in metrics else "—"

            print(f"| {data} | {variant} | {fmt('hq_fraction')} | {modes} | {fmt('mmd')} | {fmt('fd')} | "
                  f"{wall:.0f} |", flush=True)
        step, floor = iteration_times(runs["coopflow"])
        timing.append((data, step, floor))
        if args.timing_only:
            continue
        print(f"| {data} | iteration time: CoopFlow step {step * 1e3:.1f} ms, floor {floor * 1e3:.1f} ms, "
              f"ratio {step / floor:.3f} | | | | | |", flush=True)  # also here: a stopped run keeps it
        figure(runs, data, out / f"{data}.png", args.seed)
    print("\n| data | CoopFlow step (ms) | floor: flow NLL step + K grads + EBM step (ms) | ratio |")
    print("| --- | --- | --- | --- |")
    for data, step, floor in timing:
        print(f"| {data} | {step * 1e3:.1f} | {floor * 1e3:.1f} | {step / floor:.3f} |")
    if not args.timing_only:
        print(f"\nfigures (data, then each model's samples): {out}/<data>.png")


if __name__ == "__main__":
    main()
