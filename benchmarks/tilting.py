"""Exponential tilting: each base generator beside its tilted version, and what the tilting costs.

For each data set and base kind, the base is trained by its baseline recipe (``{kind}-{data}``), then tilted by the
matching recipe (``tilt-{kind}-{data}``: latent Langevin, ε = 0.01, 60 steps in training, 100 when sampling,
early stopping on the harness's metric). Both are evaluated by the harness on held-out data with the same seed,
each number beside its floor (the same metric between training and held-out data): C2ST, within-mode spread and
modes (Gaussian-mixture toys) and MMD on toys; Fréchet distance, C2ST, precision and recall in the project's
classifier features on images. The tilted model is evaluated at early stopping's best weights, on samples (and
reference images) drawn apart from those the weights were picked on; ``--draws K`` averages K such draws (the table
gives means ± standard deviations) and ``--report-samples N`` sizes them, since a Fréchet distance on a few hundred
samples swings by several units from draw to draw. The cost columns give the base's and the tilting's training
steps and wall time.

Each (data set, base) pair is one pipeline, base then tilt. ``--jobs N`` runs N pipelines at once in worker
processes of ``--threads`` threads each (on a GPU they share the device; small-batch chains leave it mostly idle);
the table is printed in the same order either way. ``--resume`` continues the runs already in ``--out`` (a finished
run is evaluated again, not retrained), so an interrupted benchmark loses at most a checkpoint interval; a tilt is
resumed only when its base was kept, not trained on, and a run trained under other settings (a recipe changed
since, another batch size or optimiser) is trained anew. Wall times are each run's training loop (its evaluations
included), summed over resumes.

    python benchmarks/tilting.py                                  # 25gaussians, swissroll, digits
    python benchmarks/tilting.py --data mnist5k fashion --jobs 6       # e.g. on a GPU
    python benchmarks/tilting.py --data digits --bases flow --resume   # one base kind again
    python benchmarks/tilting.py --data fashion --resume --draws 3 --report-samples 2000   # finished runs, re-read
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

import gencoop
from gencoop.config import EvalSettings, load_run_config
from gencoop.data import ArrayDataset
from gencoop.models.base import Model
from gencoop.train import ResumeMismatch, Trainer, build_data, load_run
from gencoop.train.evaluate import draw, evaluate, reference
from gencoop.train.trainer import RUN_IDENTITY, WEIGHT_SETTINGS
from gencoop.viz import plot_2d, save_image_grid

TOYS = ("25gaussians", "swissroll")
TITLES = {"flow": "Glow", "vae": "VAE", "glf": "GLF"}
# Early stopping picks a tilt's weights by the evaluation drawn at the run's seed s. The table draws its samples and
# reference images anew, at s + REPORT_DRAW, so the luck of the draw the pick was made on does not count in the row.
REPORT_DRAW = 1


def kinds(data: str) -> tuple[str, ...]:
    """The paper tilts VAEs and GLFs on toys (a plain flow cannot carve the 25-Gaussians grid), and all three on
    images."""
    return ("vae", "glf") if data in TOYS else ("flow", "vae", "glf")


def report(model: Model, data: ArrayDataset, settings: EvalSettings, seed: int, draws: int = 1,
           samples: int | None = None, floor_data: ArrayDataset | None = None) -> dict:
    """Held-out metrics of ``model`` on ``draws`` draws of their own (seeds ``seed + REPORT_DRAW + k``), each of
    ``samples`` samples (default: the run's ``eval.samples``): every number's mean over the draws, and with two
    draws or more its standard deviation under ``<name>_sd``. ``floor_data`` (the training data) adds each sample
    metric's floor, ``<name>_floor``."""
    if samples is not None:
        settings = settings.model_copy(update={"samples": samples})
    runs = [evaluate(model, data, settings, seed + REPORT_DRAW + k, floor_data) for k in range(draws)]
    out: dict = {}
    for name, value in runs[0].items():
        if not isinstance(value, (int, float)):
            out[name] = value
            continue
        values = torch.tensor([r[name] for r in runs], dtype=torch.float64)
        out[name] = float(values.mean())
        if draws > 1:
            out[f"{name}_sd"] = float(values.std())
    return out


def train(recipe: str | dict, out: Path, seed: int, overrides: list[str], resume: bool = False, draws: int = 1,
          samples: int | None = None) -> tuple[Trainer, dict, bool]:
    """Train ``recipe`` (a recipe's name, or a RunConfig-shaped dict) into ``out`` (``resume``: continue the run
    there, or keep it when finished); returns the trainer (``train_seconds``: its training wall time, summed over
    resumes), held-out metrics at the best (else last) weights on draws of their own (:func:`report`, with the
    floors), and whether this call trained."""
    raw = {**(gencoop.create("recipe", recipe) if isinstance(recipe, str) else recipe), "seed": seed}
    config = load_run_config(raw, overrides, where=f"recipe {recipe!r}" if isinstance(recipe, str) else str(out))
    found = resume and (out / "checkpoint.pt").exists()
    try:
        # a row's weights come from one recipe: a run trained with another batch size or optimiser is not continued
        trainer = Trainer(config, out, quiet=True, resume=found, identity=RUN_IDENTITY + WEIGHT_SETTINGS)
    except ResumeMismatch as stale:  # the recipe changed since: this row must show the recipe as it is now
        changed = ", ".join(field for field, _ in stale.problems)
        print(f"# {out}: trained under other settings ({changed}); training it anew", file=sys.stderr, flush=True)
        trainer = Trainer(config, out, quiet=True)
    trained = trainer.step < config.train.steps and not trainer.stopped_early
    if trained:
        trainer.fit()
    run = load_run(out, which="auto", device=str(trainer.device))  # early stopping's best.pt when there is one
    metrics = report(run.model, build_data(config, "test"), config.eval, config.seed, draws, samples, run.data)
    trainer.model = run.model
    return trainer, metrics, trained


def pipeline(data_name: str, kind: str, out: str, seed: int, base_steps: int | None, tilt_steps: int | None,
             resume: bool, reuse_bases: bool, threads: int, base_set: list[str], tilt_set: list[str],
             tilt_scale: float = 1.0, draws: int = 1, samples: int | None = None) -> dict:
    """Train the base ``{kind}-{data_name}``, then tilt it; the numbers of one table row (picklable: a worker
    process runs this)."""
    torch.set_num_threads(threads)
    base_dir, tilt_dir = Path(out) / data_name / kind, Path(out) / data_name / f"tilt-{kind}"
    steps = [f"train.steps={base_steps}"] if base_steps else []
    base, base_m, base_trained = train(f"{kind}-{data_name}", base_dir, seed, [*steps, *base_set],
                                       resume or reuse_bases, draws, samples)
    if tilt_steps is None and tilt_scale != 1.0:
        tilt_steps = round(gencoop.create("recipe", f"tilt-{kind}-{data_name}")["train"]["steps"] * tilt_scale)
    tilt_over = [f"model.base={base_dir}", *([f"train.steps={tilt_steps}"] if tilt_steps else []), *tilt_set]
    # a tilt holds a copy of its frozen base: resume it only on the base it was trained on (one kept, not retrained)
    tilt, tilt_m, _ = train(f"tilt-{kind}-{data_name}", tilt_dir, seed, tilt_over, resume and not base_trained,
                            draws, samples)
    return {"data": data_name, "kind": kind, "base": base_m, "tilt": tilt_m, "base_steps": base.step,
            "base_wall": base.train_seconds, "tilt_steps": tilt.step, "tilt_wall": tilt.train_seconds}


def _die_with_parent(parent: int) -> None:
    """Worker initialiser: the worker gets SIGTERM when the benchmark process dies (Linux ``PR_SET_PDEATHSIG``), so
    a killed benchmark leaves no orphaned pipeline training on (and writing into ``--out``)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: orphans are possible there
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def cell(m: dict, name: str) -> str:
    """A metric as the table shows it: its mean, ± its standard deviation over the draws when there were several."""
    return f"{m[name]:.4g}" + (f" ± {m[name + '_sd']:.2g}" if f"{name}_sd" in m else "")


def shown_metrics(m: dict) -> tuple[str, ...]:
    """The metrics a row shows: C2ST first (collapse cannot win it), then spread and MMD on toys, FD with
    precision and recall on images."""
    if "fd" in m:
        return ("fd", "c2st", "precision", "recall")
    return ("c2st", *(("spread_ratio",) if "spread_ratio" in m else ()), "mmd")


def table_rows(r: dict) -> list[str]:
    """The table lines of one pipeline's result, one per metric of :func:`shown_metrics`, each beside its floor
    (the metric between training and held-out data). Changes are those of the means over the draws."""
    base_m, tilt_m = r["base"], r["tilt"]
    modes = (f"{base_m['modes_covered']:.3g} → {tilt_m['modes_covered']:.3g} / {base_m['modes_total']:.0f}"
             if "modes_total" in base_m else "—")
    lines = []
    for i, metric in enumerate(shown_metrics(base_m)):
        b, t = base_m[metric], tilt_m[metric]
        change = f"{(t - b) / b * 100:+.1f} %" if metric in ("fd", "mmd") else f"{t - b:+.3f}"
        floor = cell(base_m, f"{metric}_floor") if f"{metric}_floor" in base_m else "—"
        costs = (f"{modes} | {r['base_steps']} / {r['base_wall']:.0f} | {r['tilt_steps']} / {r['tilt_wall']:.0f} | "
                 f"{r['tilt_wall'] / r['base_wall']:.2f} |") if i == 0 else "| | | |"
        lines.append(f"| {r['data']} | {r['kind']} | {metric} | {floor} | {cell(base_m, metric)} | "
                     f"{cell(tilt_m, metric)} | {change} | {costs}")
    return lines


def figure(data_name: str, out: Path, seed: int) -> None:
    """2-D: data, then each model's samples; images: one grid row of 16 per model (data first). The models are
    loaded from their run folders (best weights when early stopping kept some); every base kind with a base and a
    tilt run in ``out`` is drawn, whether this call ran it or not."""
    samples, data = {}, None
    for kind in kinds(data_name):
        if not all((out / data_name / folder / "config.json").exists() for folder in (kind, f"tilt-{kind}")):
            continue
        title = TITLES[kind]
        for label, folder in ((title, kind), (f"{title} + tilting", f"tilt-{kind}")):
            run = load_run(out / data_name / folder, which="auto")
            data = run.data
            torch.manual_seed(seed)
            samples[label] = draw(run.model, 2000 if data.event_shape == (2,) else 16, 500)
    path = out / f"{data_name}.png"
    if data.event_shape == (2,):
        ref = reference(data, 2000, seed)
        plot_2d({f"data ({data_name})": ref, **samples}, path, lim=float(ref.abs().max()) * 1.2)
    else:
        rows = torch.cat([reference(data, 16, seed), *samples.values()])
        save_image_grid(data.to_data_units(rows), path, nrow=16, row_labels=["data", *samples])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=["25gaussians", "swissroll", "digits"])
    parser.add_argument("--bases", nargs="+", choices=["flow", "vae", "glf"],
                        help="base kinds to run (default: all the paper tilts on each data set)")
    parser.add_argument("--base-steps", type=int, help="training steps of each base (default: its recipe's)")
    parser.add_argument("--tilt-steps", type=int, help="tilting steps (default: the tilt recipe's)")
    parser.add_argument("--tilt-steps-scale", type=float, default=1.0, metavar="F",
                        help="each tilt recipe's steps × F (e.g. 2 with half its batch: the same number of samples)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draws", type=int, default=1, metavar="K",
                        help="evaluate each model on K draws of its own; the table gives means ± standard deviations")
    parser.add_argument("--report-samples", type=int, metavar="N",
                        help="samples (and reference points) of each reported draw (default: the runs' eval.samples; "
                             "early stopping keeps those)")
    parser.add_argument("--reuse-bases", action="store_true", help="keep base runs already finished in --out")
    parser.add_argument("--resume", action="store_true",
                        help="continue every run (base and tilt) found in --out; finished ones are kept")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="a config override for every run, base and tilt (repeatable), e.g. eval.samples=200")
    parser.add_argument("--base-set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for the bases only (repeatable)")
    parser.add_argument("--tilt-set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for the tilts only (repeatable), e.g. model.energy.channels=16")
    parser.add_argument("--jobs", type=int, default=1, help="pipelines run at once, each in its own process")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads of each pipeline")
    parser.add_argument("--out", default="benchmarks/out/tilting")
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error(f"--jobs: at least 1; got {args.jobs}")
    if args.draws < 1:
        parser.error(f"--draws: at least 1; got {args.draws}")
    if args.report_samples is not None and args.report_samples < 2:
        parser.error(f"--report-samples: at least 2 (a covariance needs them); got {args.report_samples}")
    if not args.tilt_steps_scale > 0:
        parser.error(f"--tilt-steps-scale: a factor > 0; got {args.tilt_steps_scale}")
    torch.set_num_threads(args.threads)
    out = Path(args.out)

    def bases(data: str) -> tuple[str, ...]:
        return tuple(k for k in kinds(data) if not args.bases or k in args.bases)

    work = [(d, k, str(out), args.seed, args.base_steps, args.tilt_steps, args.resume, args.reuse_bases, args.threads,
             [*args.overrides, *args.base_set], [*args.overrides, *args.tilt_set], args.tilt_steps_scale, args.draws,
             args.report_samples)
            for d in args.data for k in bases(d)]
    if not work:
        parser.error(f"--bases {' '.join(args.bases)}: none of them is tilted on {' '.join(args.data)}")
    scaled = f" × {args.tilt_steps_scale:g}" if args.tilt_steps_scale != 1 else ""
    first = args.seed + REPORT_DRAW
    drawn = (f"drawn at seed {first}" if args.draws == 1 else
             f"means ± sd over {args.draws} draws at seeds {first}–{first + args.draws - 1}")
    drawn += f", {args.report_samples} samples each" if args.report_samples else ", eval.samples each"
    print(f"# Exponential tilting benchmark — seed {args.seed}, torch {torch.__version__}, {platform.machine()}"
          f"{', GPU ' + torch.cuda.get_device_name() if torch.cuda.is_available() else ''}, {args.jobs} job(s) of "
          f"{args.threads} thread(s); base steps {args.base_steps or 'per recipe'}, tilt steps "
          f"{args.tilt_steps or 'per recipe' + scaled}"
          f" (early stopping on draws at seed {args.seed}; this table: {drawn})"
          + "".join(f"; {what} overrides {' '.join(v)}" for what, v in
                    (("all", args.overrides), ("base", args.base_set), ("tilt", args.tilt_set)) if v))
    print("| data | base | metric | floor | base | tilted | change | modes base → tilted | base steps / wall (s) | "
          "tilt steps / wall (s) | tilt wall / base wall |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |", flush=True)
    pool = None
    if args.jobs > 1:  # spawned workers: a fresh interpreter each, no forked torch thread pools
        pool = ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_die_with_parent, initargs=(os.getpid(),))
        futures = [pool.submit(pipeline, *w) for w in work]
    done: dict[str, int] = {}
    failed = 0
    try:
        for i, w in enumerate(work):  # in submission order: each row as soon as it and the rows above it are done
            try:
                r = futures[i].result() if pool else pipeline(*w)
            except Exception as exc:  # one failed pipeline costs its row, not the others
                failed += 1
                print(f"| {w[0]} | {w[1]} | failed: {type(exc).__name__}: {' '.join(str(exc).split())} |", flush=True)
                continue
            print("\n".join(table_rows(r)), flush=True)
            done[r["data"]] = done.get(r["data"], 0) + 1
            if done[r["data"]] == len(bases(r["data"])):
                figure(r["data"], out, args.seed)
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)  # on an interrupt, queued pipelines do not start
    print(f"\nfigures (data, then each base and its tilted version): {out}/<data>.png")
    if failed:
        sys.exit(f"{failed} pipeline(s) failed")


if __name__ == "__main__":
    main()
