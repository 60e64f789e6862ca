"""Exponential tilting: each base generator beside its tilted version, and what the tilting costs.

For each data set and base kind, the base is trained by its baseline recipe (``{kind}-{data}``), then tilted by the
matching recipe (``tilt-{kind}-{data}``: latent Langevin, ε = 0.01, 60 steps in training, 100 when sampling,
early stopping on the harness's metric). Both are evaluated by the harness on held-out data with the same seed:
high-quality fraction and modes (Gaussian-mixture toys), MMD (toys), Fréchet distance in the project's classifier
features (images). The tilted model is evaluated at early stopping's best weights. The cost columns give the base's
and the tilting's training steps and wall time.

    python benchmarks/tilting.py                                  # 25gaussians, swissroll, digits
    python benchmarks/tilting.py --data mnist5k fashion --base-steps 3000
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

import gencoop
from gencoop.config import load_run_config
from gencoop.train import Trainer, build_data, load_run
from gencoop.train.evaluate import draw, evaluate, reference
from gencoop.viz import plot_2d, save_image_grid

TOYS = ("25gaussians", "swissroll")


def kinds(data: str) -> tuple[str, ...]:
    """The paper tilts VAEs and GLFs on toys (a plain flow cannot carve the 25-Gaussians grid), and all three on
    images."""
    return ("vae", "glf") if data in TOYS else ("flow", "vae", "glf")


def train(recipe: str, out: Path, seed: int, overrides: list[str], reuse: bool = False
          ) -> tuple[Trainer, dict, float]:
    """Train ``recipe`` into ``out`` (``reuse``: keep a finished run there); returns the trainer, held-out metrics
    at the best (else last) weights, and the wall time of training (NaN for a reused run)."""
    raw = {**gencoop.create("recipe", recipe), "seed": seed}
    config = load_run_config(raw, overrides, where=f"recipe {recipe!r}")
    t0 = time.perf_counter()
    done = reuse and (out / "checkpoint.pt").exists()
    trainer = Trainer(config, out, quiet=True, resume=done)
    if not done or trainer.step < config.train.steps:
        trainer.fit()
    wall = time.perf_counter() - t0 if not done else float("nan")
    run = load_run(out, which="auto")  # early stopping's best.pt when there is one
    metrics = evaluate(run.model, build_data(config, "test"), config.eval, config.seed)
    trainer.model = run.model
    return trainer, metrics, wall


def figure(data_name: str, models: dict[str, torch.nn.Module], data, path: Path, seed: int) -> None:
    """2-D: data, then each model's samples; images: one grid row of 16 per model (data first)."""
    samples = {}
    for label, model in models.items():
        torch.manual_seed(seed)
        samples[label] = draw(model, 2000 if data.event_shape == (2,) else 16, 500)
    if data.event_shape == (2,):
        plot_2d({f"data ({data_name})": reference(data, 2000, seed), **samples}, path,
                lim=float(reference(data, 2000, seed).abs().max()) * 1.2)
    else:
        rows = torch.cat([reference(data, 16, seed), *samples.values()])
        save_image_grid(data.to_data_units(rows), path, nrow=16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=["25gaussians", "swissroll", "digits"])
    parser.add_argument("--base-steps", type=int, help="training steps of each base (default: its recipe's)")
    parser.add_argument("--tilt-steps", type=int, help="tilting steps (default: the tilt recipe's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse-bases", action="store_true", help="keep base runs already finished in --out")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/out/tilting")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    print(f"# Exponential tilting benchmark — seed {args.seed}, torch {torch.__version__}, {platform.machine()}, "
          f"{args.threads} thread(s); base steps {args.base_steps or 'per recipe'}, tilt steps "
          f"{args.tilt_steps or 'per recipe (early stopping on)'}")
    print("| data | base | metric | base | tilted | change | modes base → tilted | base steps / wall (s) | "
          "tilt steps / wall (s) | tilt wall / base wall |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for data_name in args.data:
        models = {}
        data = None
        for kind in kinds(data_name):
            base_dir, tilt_dir = out / data_name / kind, out / data_name / f"tilt-{kind}"
            steps = [f"train.steps={args.base_steps}"] if args.base_steps else []
            base, base_m, base_wall = train(f"{kind}-{data_name}", base_dir, args.seed, steps, args.reuse_bases)
            tilt_over = [f"model.base={base_dir}"] + ([f"train.steps={args.tilt_steps}"] if args.tilt_steps else [])
            tilt, tilt_m, tilt_wall = train(f"tilt-{kind}-{data_name}", tilt_dir, args.seed, tilt_over)
            data = base.data
            models[f"{kind}"], models[f"{kind} + tilting"] = base.model, tilt.model
            metric = "hq_fraction" if "hq_fraction" in base_m else ("fd" if "fd" in base_m else "mmd")
            b, t = base_m[metric], tilt_m[metric]
            change = f"{t - b:+.3f}" if metric == "hq_fraction" else f"{(t - b) / b * 100:+.1f} %"
            modes = (f"{int(base_m['modes_covered'])} → {int(tilt_m['modes_covered'])} / {int(base_m['modes_total'])}"
                     if "modes_total" in base_m else "—")
            print(f"| {data_name} | {kind} | {metric} | {b:.4g} | {t:.4g} | {change} | {modes} | "
                  f"{base.step} / {base_wall:.0f} | {tilt.step} / {tilt_wall:.0f} | {tilt_wall / base_wall:.2f} |",
                  flush=True)
            if metric != "mmd" and "mmd" in base_m:
                print(f"| {data_name} | {kind} | mmd | {base_m['mmd']:.4g} | {tilt_m['mmd']:.4g} | "
                      f"{(tilt_m['mmd'] - base_m['mmd']) / base_m['mmd'] * 100:+.1f} % | | | | |", flush=True)
        figure(data_name, models, data, out / f"{data_name}.png", args.seed)
    print(f"\nfigures (data, then each base and its tilted version): {out}/<data>.png")


if __name__ == "__main__":
    main()
