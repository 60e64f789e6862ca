"""CoopFlow against its baselines, each number beside its floor, and its iteration time against the floor.

For each data set the models are trained by their recipes with the same seed: the flow alone (maximum likelihood,
CoopFlow's flow and optimiser), the short-run EBM (CoopFlow's energy and sampler, chains from noise), CoopFlow,
CoopFlow(ref) (the reference code's noise-free revision, toys only) and, on toys, a tilted VAE (the VAE baseline,
then `tilt-vae-25gaussians` on it). Each is evaluated by the harness on a draw of its own (seed + 1, apart from the
draws training evaluated), beside the floor row: the same metrics between the training data and the held-out data
(for NLLs, the true density's on mixtures). Columns: C2ST (k-NN, 0.5 = indistinguishable), the within-mode spread
ratio, modes covered and the smallest mode's share (mixtures), the held-out NLL (2-D, nats) of the EBM by
quadrature (a tilted VAE's: its importance-sampled likelihood under the tilted prior, normalised by AIS) and of the
flow exactly (a tilted VAE's base: the VAE's importance-sampled likelihood), MMD (toys), FD and precision / recall
in classifier features, density / coverage (digits; NLLs there in bits/dim, an EBM's by AIS with
``--ais-steps``). The iteration-time table compares one CoopFlow training step with its floor: one flow NLL step,
K energy-gradient evaluations and one EBM step, each timed alone on the same batch.

    python benchmarks/coopflow.py --threads 1 --resume        # the four toys and digits; figures in --out
    python benchmarks/coopflow.py --data 25gaussians --variants coopflow coopflow-ref --steps 500
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch
from sampler_speed import floor_loop  # benchmarks/ is the script's folder, so on sys.path
from tilting import train as train_run

import gencoop
from gencoop.components.energies import ebm_loss
from gencoop.config import load_run_config
from gencoop.train import Trainer
from gencoop.train.evaluate import draw, reference
from gencoop.viz import plot_2d, save_image_grid

TOYS = ("25gaussians", "rings", "swissroll", "checkerboard")
VARIANTS = ("flow", "ebm", "coopflow", "coopflow-ref", "tilt-vae")


def configs(data: str, seed: int) -> dict[str, dict]:
    """Each variant's RunConfig-shaped dict (or, for the tilted VAE, its base's and its own), built on the CoopFlow
    recipe of ``data``."""
    toy = data in TOYS
    base = gencoop.create("recipe", f"coopflow-{data}")
    common = {"seed": seed, "data": base["data"], "eval": base.get("eval", {})}
    noise = {"init": "gaussian", "init_scale": 3.0} if toy else {"init": "uniform", "init_scale": 1.0}
    out = {
        "flow": {**common, "model": {"name": "flow", "flow": base["model"]["flow"]},
                 "train": {**{k: v for k, v in base["train"].items() if k not in ("groups", "ema")},
                           "optim": base["train"]["groups"]["flow"]}},
        "ebm": {**common, "model": {**base["model"], **noise, "independence_mh": False},  # no flow to propose
                "train": {k: v for k, v in base["train"].items() if k != "groups"}},  # no flow group
        "coopflow": base,
    }
    if toy:
        out["coopflow-ref"] = gencoop.create("recipe", f"coopflow-ref-{data}")
        vae = gencoop.create("recipe", "vae-25gaussians")
        out["vae"] = {**vae, "data": base["data"]}
        out["tilt-vae"] = gencoop.create("recipe", "tilt-vae-25gaussians")
    return out


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


def figure(models: dict, data, path: Path, seed: int) -> None:
    """One picture: 2-D data beside each model's samples, or one grid row of 16 samples per model for images."""
    samples = {}
    for variant, model in models.items():
        torch.manual_seed(seed)
        samples[variant] = draw(model, 2000 if data.event_shape == (2,) else 16, 500)
    if data.event_shape == (2,):
        plot_2d({"data": reference(data, 2000, seed), **samples}, path)
    else:
        save_image_grid(data.to_data_units(torch.cat([reference(data, 16, seed), *samples.values()])), path,
                        nrow=16, row_labels=["data", *samples])


COLUMNS = ("C2ST", "spread", "modes", "min share", "EBM NLL", "flow / base NLL", "MMD", "FD", "precision / recall",
           "density / coverage")


def cells(m: dict, floor: bool = False) -> list[str]:
    """A row's cells in the order of ``COLUMNS``: the model's metrics, or (``floor``) their floors."""
    def get(key: str, fmt: str = ".3g") -> str:
        key = f"{key}_floor" if floor else key
        return format(m[key], fmt) if key in m else "—"

    modes = (f"{get('modes_covered', '.0f')}/{m['modes_total']:.0f}" if "modes_total" in m else "—")
    nll = (lambda k: f"{m['true_nll']:.3g}" if "true_nll" in m else "—") if floor else (lambda k: get(k))
    pr = f"{get('precision')} / {get('recall')}" if "precision" in m else "—"
    dc = f"{get('density')} / {get('coverage')}" if "density" in m else "—"
    def first(*keys: str) -> str:
        return nll(keys[0]) if floor else next((nll(k) for k in keys if k in m), "—")
    # images: NLLs in bits/dim of dequantised data (AIS for an EBM with --ais-steps)
    return [get("c2st"), get("spread_ratio"), modes, get("min_mode_share"),
            first("ebm_bits_per_dim", "ebm_nll", "tilted_nll"),
            first("flow_bits_per_dim", "flow_nll", "base_nll", "vae_nll"), get("mmd"), get("fd"), pr, dc]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, help="training steps of every model but the tilt (default: recipes')")
    parser.add_argument("--data", nargs="+", default=[*TOYS, "digits"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--resume", action="store_true", help="continue (or just re-read) the runs in --out")
    parser.add_argument("--no-timing", action="store_true", help="skip the iteration-time table")
    parser.add_argument("--ais-steps", type=int, default=0,
                        help="images: AIS temperatures for each EBM's held-out NLL (bits/dim; 0: none)")
    parser.add_argument("--ais-chains", type=int, default=64)
    parser.add_argument("--out", default="benchmarks/out/coopflow")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    print(f"# CoopFlow benchmark — seed {args.seed} (rows evaluated on draws at seed {args.seed + 1}), steps "
          f"{args.steps or 'per recipe'}, torch {torch.__version__}, {platform.machine()}, {args.threads} thread(s)")
    print("| data | model | " + " | ".join(COLUMNS) + " | steps / wall (s) |")
    print("|" + " --- |" * (len(COLUMNS) + 3))
    steps = [f"train.steps={args.steps}"] if args.steps else []
    timing = []
    for data in args.data:
        raw = configs(data, args.seed)
        if args.ais_steps and data not in TOYS:  # an EBM's log Z beyond 2-D: AIS from its chains' start
            for cfg in raw.values():
                cfg["eval"] = {**cfg.get("eval", {}), "ais_steps": args.ais_steps, "ais_chains": args.ais_chains}
        models, floor_printed = {}, False
        for variant in [v for v in VARIANTS if v in args.variants and v in raw]:
            if variant == "tilt-vae":
                train_run(raw["vae"], out / data / "vae", args.seed, steps, args.resume)
                trainer, m, _ = train_run(raw["tilt-vae"], out / data / variant, args.seed,
                                          [f"model.base={out / data / 'vae'}"], args.resume)
            else:
                trainer, m, _ = train_run(raw[variant], out / data / variant, args.seed, steps, args.resume)
            if not floor_printed:
                print(f"| {data} | floor: training vs held-out data | " + " | ".join(cells(m, floor=True)) + " | |")
                floor_printed = True
            models[variant] = trainer.model
            cost = f"{trainer.step} / {trainer.train_seconds:.0f}"
            print(f"| {data} | {variant} | " + " | ".join(cells(m)) + f" | {cost} |", flush=True)
        figure(models, trainer.data, out / f"{data}.png", args.seed)
        if "coopflow" in raw and "coopflow" in args.variants and not args.no_timing:  # a fresh model, not resumed
            timer = Trainer(load_run_config({**raw["coopflow"], "seed": args.seed}), out / data / "timing", quiet=True)
            timing.append((data, *iteration_times(timer)))
    if timing:
        print("\n| data | CoopFlow step (ms) | floor: flow NLL step + K grads + EBM step (ms) | ratio |")
        print("| --- | --- | --- | --- |")
        for data, step, floor in timing:
            print(f"| {data} | {step * 1e3:.1f} | {floor * 1e3:.1f} | {step / floor:.3f} |")
    print(f"\nfigures (data, then each model's samples): {out}/<data>.png")


if __name__ == "__main__":
    main()
