"""The ``gencoop`` command line."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from gencoop import registry


def _format_params(spec: registry.ComponentSpec) -> str:
    parts = []
    for name, info in spec.params().items():
        parts.append(f"{name}" if info["required"] else f"{name}={json.dumps(info['default'])}")
    return ", ".join(parts)


def list_components(kind: str | None, as_json: bool) -> int:
    specs = registry.components(kind)
    errors = registry.plugin_errors()
    if as_json:
        rows = [
            {"kind": s.kind, "name": s.name, "summary": s.summary, "params": s.params(), "source": s.source,
             "version": s.version}
            for s in specs
        ]
        print(json.dumps(rows, indent=2))
        for e in errors:
            print(f"broken plugin {e.plugin!r} ({e.source} {e.version}): {e.error}", file=sys.stderr)
        return 0
    console = Console()
    for k in registry.KINDS:
        group = [s for s in specs if s.kind == k]
        if not group:
            continue
        table = Table(title=f"{k} ({len(group)})", title_justify="left", show_lines=False, expand=False)
        table.add_column("name", style="bold cyan", no_wrap=True)
        table.add_column("summary")
        table.add_column("parameters (defaults)", style="dim")
        table.add_column("source", no_wrap=True)
        for s in group:
            table.add_row(s.name, s.summary, _format_params(s), f"{s.source} {s.version}".strip())
        console.print(table)
    if errors:
        table = Table(title="broken plugins (skipped)", title_justify="left", style="red")
        table.add_column("plugin")
        table.add_column("source")
        table.add_column("error")
        for e in errors:
            table.add_row(e.plugin, f"{e.source} {e.version}".strip(), e.error)
        console.print(table)
    return 0


def _fail(command: str, exc: BaseException) -> int:
    """One clear message, no traceback, exit status 2."""
    print(f"gencoop {command}: {exc}", file=sys.stderr)
    return 2


def _run_config(source: str, overrides: list[str]):
    """A TOML file, a run's config.json or a recipe name, with --set overrides, validated."""
    from pathlib import Path

    import tomllib

    from gencoop.config import load_run_config

    path = Path(source)
    if path.suffix in (".toml", ".json") or path.exists():
        if not path.exists():
            raise FileNotFoundError(f"no such config file: {source}")
        if path.suffix == ".json":  # a run folder's config.json: its recipe is the run's name
            try:
                raw = json.loads(path.read_text())
            except json.JSONDecodeError as exc:  # file, line and column, not just the parser's words
                raise ValueError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
            return load_run_config(raw, overrides, where=str(path)), str(raw.get("recipe") or path.parent.name)
        try:
            raw = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:  # its message ends in "(at line L, column C)"
            raise ValueError(f"{path}: not valid TOML: {exc}") from None
        return load_run_config(raw, overrides, where=str(path)), path.stem
    return load_run_config(registry.create("recipe", source), overrides, where=f"recipe {source!r}"), source


def cmd_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gencoop.train import Trainer

    config, stem = _run_config(args.config, args.set or [])
    out = args.out or f"runs/{stem}"
    held = [name for name in ("checkpoint.pt", "metrics.jsonl") if (Path(out) / name).exists()]
    if args.resume and "checkpoint.pt" not in held:
        raise FileNotFoundError(f"--resume: {out} holds no checkpoint.pt to continue (a misspelt --out?); "
                                "drop --resume to start a new run there")
    if held and not (args.resume or args.overwrite):
        raise FileExistsError(f"--out: {out} holds a run ({', '.join(held)}); pass --resume to continue it or "
                              "--overwrite to start it over")
    trainer = Trainer(config, out, resume=args.resume, quiet=args.quiet)
    if args.resume and (trainer.step >= config.train.steps or trainer.stopped_early):
        why = "stopped early" if trainer.stopped_early else f"reached train.steps={config.train.steps}"
        print(f"{out} already finished at step {trainer.step} ({why}); nothing to do "
              "(raise train.steps with --set to train on)")
        return 0
    try:
        metrics = trainer.fit()
    except KeyboardInterrupt:
        sets = "".join(f" --set {shlex.quote(kv)}" for kv in args.set or [])
        print(f"\ninterrupted at step {trainer.step}; checkpoint saved — continue with: "
              f"gencoop train {shlex.quote(args.config)}{sets} --out {shlex.quote(str(out))} --resume", file=sys.stderr)
        return 130
    if trainer.ctx.main:
        _print_metrics(metrics, f"{stem} after {trainer.step} steps")
        print(f"wrote {out}/samples.png, {out}/metrics.jsonl, {out}/checkpoint.pt")
    return 0


def _print_metrics(metrics: dict, title: str) -> None:
    """One row per metric; a metric with a floor (``<name>_floor``: the same metric between training and held-out
    data, or for an NLL the true density's) shows it in a column beside it."""
    def fmt(v) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    floors = {k[: -len("_floor")]: v for k, v in metrics.items() if k.endswith("_floor")}
    if "true_nll" in metrics:
        floors.update({k: metrics["true_nll"] for k in metrics if k.endswith("nll") and k != "true_nll"})
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("floor", justify="right")
    for k, v in metrics.items():
        if k.endswith("_floor") or (k == "true_nll" and len(floors) > 0):
            continue
        table.add_row(k, fmt(v), fmt(floors[k]) if k in floors else "")
    Console().print(table)


def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from gencoop.train import load_run
    from gencoop.train.evaluate import draw, write_picture

    run = load_run(args.run, which=args.checkpoint)
    torch.manual_seed(args.seed)
    samples = draw(run.model, args.n, run.config.eval.batch_size)
    if args.output.endswith(".npy"):
        np.save(args.output, run.data.to_data_units(samples).numpy())  # raw samples, in data units
    else:
        write_picture(samples, run.data, args.output, title=f"samples (step {run.step})")
    print(f"wrote {args.n} samples to {args.output}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from gencoop.train import build_data, load_run
    from gencoop.train.evaluate import evaluate

    run = load_run(args.run, which=args.checkpoint)
    settings = run.config.eval.model_copy(update={"samples": args.samples} if args.samples else {})
    metrics = {"step": run.step, **evaluate(run.model, build_data(run.config, "test"), settings, run.config.seed,
                                            floor_data=run.data)}
    if args.json:
        print(json.dumps(metrics))
    else:
        _print_metrics(metrics, f"{args.run} (step {run.step})")
    return 0


def cmd_recipes(args: argparse.Namespace) -> int:
    table = Table(title="recipes (gencoop train NAME)", title_justify="left")
    table.add_column("name", style="bold cyan", no_wrap=True)
    table.add_column("summary")
    table.add_column("data")
    table.add_column("model")
    for spec in registry.components("recipe"):
        cfg = spec.create()
        data = cfg["data"]["name"] if "data" in cfg else "the base run's"
        table.add_row(spec.name, spec.summary, data, cfg["model"]["name"])
    Console().print(table)
    return 0


def _task_inputs(args: argparse.Namespace, method: str):
    """The run, its model (which must have ``method``) and ``args.n`` held-out examples."""
    import inspect

    import torch

    from gencoop.train import build_data, load_run

    run = load_run(args.run, which=args.checkpoint)
    fn = getattr(run.model, method, None)
    if fn is None:
        having = {"reconstruct": "CoopFlow, VAE, GLF and latent variable models", "inpaint": "CoopFlow and latent "
                  "variable models", "interpolate": "CoopFlow models", "recover": "latent variable models"}
        raise ValueError(f"a {type(run.model).__name__} model has no {method}(); {having.get(method, 'other models')}"
                         " do")
    data = build_data(run.config, "test")
    g = torch.Generator().manual_seed(args.seed)
    x = data.x[torch.randperm(len(data), generator=g)[: args.n]]
    params = inspect.signature(fn).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    # --iters: CoopFlow's gradient steps (``iters``) or a latent variable model's posterior Langevin steps
    # (``steps``); unset, each model uses its own default
    given = (("iters", args.iters, takes_any), ("steps", args.iters, False), ("seed", args.seed, takes_any))
    kw = {k: v for k, v, loose in given if v is not None and (k in params or loose)}
    return run, data, x, fn, kw


def _save_rows(rows: list, data, path: str, titles: list[str]) -> None:
    """Images: one grid row per tensor in ``rows``, titled on the left; 2-D events: one scatter panel per row."""
    import torch

    from gencoop.viz import plot_2d, save_image_grid

    if len(data.event_shape) == 3:
        save_image_grid(data.to_data_units(torch.cat(rows)), path, nrow=len(rows[0]), row_labels=titles)
    else:
        plot_2d(dict(zip(titles, rows)), path)


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from gencoop.metrics.likelihood import reconstruction_mse

    run, data, x, fn, kw = _task_inputs(args, "reconstruct")
    rec = fn(x, **kw)
    _save_rows([x, rec], data, args.output, ["held-out data", "reconstruction"])
    print(f"reconstruction MSE {float(reconstruction_mse(x, rec)):.5f} on {len(x)} held-out examples; "
          f"wrote {args.output} (top: data, bottom: reconstruction)")
    return 0


def cmd_inpaint(args: argparse.Namespace) -> int:
    import torch

    from gencoop.metrics.likelihood import reconstruction_mse

    run, data, x, fn, kw = _task_inputs(args, "inpaint")
    if len(data.event_shape) != 3:
        raise ValueError("inpaint works on images")
    c, h, w = data.event_shape
    mask = torch.ones(1, c, h, w)
    mask[..., h // 4: h - h // 4, w // 4: w - w // 4] = 0  # hide the centre square
    completions = fn(x, mask, n_init=args.inits, **kw)
    masked = x * mask + (1 - mask) * 0.0
    _save_rows([masked, *completions, x], data, args.output,
               ["masked", *(f"completion {i + 1}" for i in range(len(completions))), "original"])
    err = float(reconstruction_mse(x, completions.mean(0), 1 - mask))  # on the hidden pixels
    print(f"inpainting MSE on the hidden pixels {err:.5f}; wrote {args.output} "
          f"(rows: masked input, {args.inits} completions, original)")
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    """Recover occluded images: the run's own occluded training images (a run trained on ``occluded`` data), or
    held-out images occluded here by ``--occlusion``."""
    import torch

    from gencoop.data.occlusion import OccludedDataset, occlusion_mask
    from gencoop.metrics.likelihood import reconstruction_mse
    from gencoop.train import build_data

    run, data, x, fn, kw = _task_inputs(args, "recover")
    train = build_data(run.config, "train")
    if isinstance(train, OccludedDataset) and args.occlusion is None:
        idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed))[: args.n]
        clean, mask, source = train.clean[idx], train.mask[idx], "training images, occluded as the run saw them"
    else:
        side = args.size or max(1, min(data.event_shape[-2:]) // 2)
        mask = occlusion_mask(len(x), data.event_shape, args.occlusion or "salt_pepper", fraction=args.fraction,
                              size=side, seed=args.seed)
        clean, source = x, "held-out images"
    recovered = fn(torch.where(mask > 0, clean, torch.full((), float("nan"))), **kw)
    hidden = 1 - mask
    if hidden.sum() == 0:
        raise ValueError("--fraction/--size: the occlusion hides no pixel; raise it")
    err = float(reconstruction_mse(clean, recovered, hidden))
    if len(data.event_shape) == 3:
        _save_rows([clean * mask - hidden, recovered, clean], data, args.output,  # hidden pixels shown black
                   ["occluded", "recovered", "original"])
        rows = "rows: occluded input (hidden pixels black), recovery, original"
    else:
        _save_rows([recovered, clean], data, args.output, ["recovered", "original"])
        rows = "panels: recovery, original"
    print(f"recovery MSE on the hidden entries {err:.5f} over {len(clean)} {source}; wrote {args.output} ({rows})")
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    run, data, x, fn, kw = _task_inputs(args, "interpolate")
    half = len(x) // 2
    if half == 0:
        raise ValueError("-n: interpolate needs at least 2 examples")
    path = fn(x[:half], x[half: 2 * half], n=args.points, **kw)  # (points, pairs, *event)
    rows = [path[:, i] for i in range(half)]
    _save_rows(rows, data, args.output, [f"pair {i}" for i in range(half)])
    print(f"wrote {args.output} ({half} interpolations of {args.points} points)")
    return 0


def cmd_trajectory(args: argparse.Namespace) -> int:
    import math

    import torch

    from gencoop.train import load_run
    from gencoop.train.evaluate import reference
    from gencoop.viz import plot_trajectories, save_image_grid

    if args.every < 1:
        raise ValueError(f"--every: keep a state every k ≥ 1 steps, got {args.every}")
    run = load_run(args.run, which=args.checkpoint)
    if not hasattr(run.model, "trajectory"):
        raise ValueError(f"a {type(run.model).__name__} model records no Langevin trajectory; tilting models do")
    torch.manual_seed(args.seed)
    traj = run.model.trajectory(args.n, every=args.every, steps=args.steps).cpu()  # (T, n, *event)
    if len(run.data.event_shape) == 3:  # one row per chain, time left to right
        frames = run.data.to_data_units(traj.transpose(0, 1).flatten(0, 1))
        save_image_grid(frames, args.output, nrow=traj.shape[0])
    elif run.data.event_shape == (2,):
        ref = reference(run.data, 2000, 0)
        lim = math.ceil(float(max(ref.abs().max(), traj.abs().max(), 1.0)) * 1.1 * 2) / 2
        plot_trajectories(traj, args.output, background=ref, lim=lim)
    else:
        raise ValueError(f"no trajectory picture for events of shape {run.data.event_shape}")
    print(f"wrote {args.output}: {args.n} chains, a state every {args.every} steps ({traj.shape[0]} per chain)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gencoop", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list-components", help="list registered parts (built-in and plugins)")
    p.add_argument("--kind", choices=registry.KINDS, help="only this kind")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of tables")

    p = sub.add_parser("train", help="train a recipe or a TOML config into a run folder")
    p.add_argument("config", help="recipe name (see `gencoop recipes`), a .toml file or a run's config.json")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting, e.g. train.steps=500")
    p.add_argument("--out", help="run folder (default: runs/NAME)")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    p.add_argument("--overwrite", action="store_true", help="start over in a run folder that holds a run")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("sample", help="draw samples from a run: a picture (.png) or raw samples (.npy)")
    p.add_argument("run")
    p.add_argument("-n", type=int, default=64)
    p.add_argument("-o", "--output", default="samples.png")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", choices=["auto", "best", "checkpoint"], default="auto")

    p = sub.add_parser("evaluate", help="metrics of a run against held-out data")
    p.add_argument("run")
    p.add_argument("--json", action="store_true", help="print one flat JSON object")
    p.add_argument("--samples", type=int, help="number of samples (default: the run's eval.samples)")
    p.add_argument("--checkpoint", choices=["auto", "best", "checkpoint"], default="auto")

    sub.add_parser("recipes", help="list the built-in and plugin recipes")

    for name, helptext, default_n in (("reconstruct", "reconstruct held-out examples (picture + MSE)", 8),
                                      ("inpaint", "fill in the hidden centre of held-out images", 6),
                                      ("interpolate", "interpolate between held-out examples in latent space", 8),
                                      ("recover", "recover occluded images (latent variable models)", 8)):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("run")
        p.add_argument("-n", type=int, default=default_n, help="held-out examples to use")
        p.add_argument("-o", "--output", default=f"{name}.png")
        p.add_argument("--iters", type=int, help="latent inference steps: CoopFlow's gradient steps (default 100), "
                                                "a latent variable model's Langevin steps (default: its sampler's)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--checkpoint", choices=["auto", "best", "checkpoint"], default="auto")
        if name == "inpaint":
            p.add_argument("--inits", type=int, default=3, help="initialisations (one row each)")
        if name == "interpolate":
            p.add_argument("--points", type=int, default=8, help="points along each interpolation")
        if name == "recover":
            p.add_argument("--occlusion", choices=["salt_pepper", "square"],
                           help="occlude held-out images this way (default: the run's own occluded training images "
                                "when it has them, else salt_pepper)")
            p.add_argument("--fraction", type=float, default=0.5, help="salt_pepper: share of hidden pixels")
            p.add_argument("--size", type=int, help="square: side in pixels (default: half the image side)")

    p = sub.add_parser("trajectory", help="picture of Langevin chains every k steps (tilting runs)")
    p.add_argument("run")
    p.add_argument("-n", type=int, default=8, help="chains")
    p.add_argument("--every", type=int, default=10, help="keep a state every k steps")
    p.add_argument("--steps", type=int, help="chain length (default: the model's sampling length)")
    p.add_argument("-o", "--output", default="trajectory.png")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", choices=["auto", "best", "checkpoint"], default="auto")

    args = parser.parse_args(argv)
    from gencoop.config import ConfigError

    commands = {"train": cmd_train, "sample": cmd_sample, "evaluate": cmd_evaluate, "recipes": cmd_recipes,
                "reconstruct": cmd_reconstruct, "inpaint": cmd_inpaint, "interpolate": cmd_interpolate,
                "recover": cmd_recover,
                "trajectory": cmd_trajectory}
    try:
        if args.command == "list-components":
            return list_components(args.kind, args.json)
        return commands[args.command](args)
    except (ConfigError, FileNotFoundError, FileExistsError, KeyError, ValueError) as exc:
        return _fail(args.command, exc)


if __name__ == "__main__":
    sys.exit(main())
