"""One trainer for every composition: an optimiser per parameter group, one loss per group.

Per step: draw the next batch; ``losses = model.losses(batch)``; for each group, back-propagate its loss into its
own parameters only, average gradients over ranks, clip, step. Around that: warm-up, EMA, a live progress bar,
JSONL logs, periodic evaluation and pictures, early stopping, atomic checkpoints and exact resume (parameters,
optimisers, schedulers, EMA, every RNG stream, data order and step).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch import Tensor, nn

from gencoop.config import ConfigError, RunConfig
from gencoop.models.base import Model
from gencoop.train import checkpoint, distributed
from gencoop.train.evaluate import cpu_densities, draw, evaluate, write_picture
from gencoop.train.runs import build_data, build_model, resolve_device

Callback = Callable[["Trainer", int, dict[str, float]], None]

# What a run is: resuming under other values of these would load weights into a model they were not trained for
# (the model section includes its sampler and the other settings of its losses). Training settings may change.
RUN_IDENTITY = ("seed", "data", "model")
# The training settings that shape a run's weights, beyond its identity: a benchmark row continued under other values
# of these would mix two recipes (``Trainer(..., identity=RUN_IDENTITY + WEIGHT_SETTINGS)`` refuses that).
WEIGHT_SETTINGS = ("train.batch_size", "train.optim", "train.groups", "train.ema")
# ... except a tilt's base run folder, which may move (the tilt's checkpoint holds its own copy of the base's weights)
RESUME_MAY_CHANGE = frozenset({"model.base"})


class ResumeMismatch(ConfigError):
    """Resuming a run under other seed, data or model settings than it was trained with (``problems`` name them)."""


class BatchStream:
    """Shuffled epochs over ``n`` indices from a seeded generator; rank r of w takes slice r of each global batch.
    Its whole state (generator, permutation, position) goes into checkpoints."""

    def __init__(self, n: int, batch_size: int, seed: int, ctx: distributed.Dist):
        if n < batch_size * ctx.world:
            batch_size = max(1, n // ctx.world)
        self.n, self.batch_size, self.ctx = n, batch_size, ctx
        self.generator = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(n, generator=self.generator)
        self.pos = 0

    def next(self) -> Tensor:
        global_batch = self.batch_size * self.ctx.world
        if self.pos + global_batch > self.n:
            self.perm = torch.randperm(self.n, generator=self.generator)
            self.pos = 0
        start = self.pos + self.ctx.rank * self.batch_size
        self.pos += global_batch
        return self.perm[start:start + self.batch_size]

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "perm": self.perm, "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.perm, self.pos = state["perm"], int(state["pos"])


class Trainer:
    """Train ``config`` into the run folder ``out`` (config.json, checkpoint.pt, metrics.jsonl, samples/).

    ``resume``: continue the checkpoint in ``out``; the config must match it at the dotted paths ``identity``
    (``RUN_IDENTITY``; add ``WEIGHT_SETTINGS`` to refuse another batch size or optimiser as well)."""

    def __init__(self, config: RunConfig, out: str | Path, *, resume: bool = False, quiet: bool = False,
                 callbacks: list[Callback] = (), identity: tuple[str, ...] = RUN_IDENTITY):
        self.config, self.out, self.quiet = config, Path(out), quiet
        self.callbacks = list(callbacks)
        t = config.train
        self.device = resolve_device(t.device)
        self.ctx = distributed.setup(self.device, t.threads)
        torch.manual_seed(config.seed + self.ctx.rank)  # each rank runs its own chains
        self.data = build_data(config, split="train")
        self.eval_data = build_data(config, split="test")
        self.model: Model = build_model(config, self.data).to(self.device)
        self.groups = self.model.parameter_groups()
        unknown = sorted(set(t.groups) - set(self.groups))
        if unknown:
            raise ConfigError("train.groups", [(f"train.groups.{g}", f"no such parameter group; this model has: "
                                                f"{', '.join(self.groups)}") for g in unknown])
        self.optimizers = {g: self._optimizer(g, ps) for g, ps in self.groups.items()}
        self.schedulers = {g: torch.optim.lr_scheduler.LambdaLR(o, self._warmup(g)) for g, o in self.optimizers.items()}
        self.stream = BatchStream(len(self.data), t.batch_size, config.seed, self.ctx)
        self.ema: dict[str, Tensor] | None = None
        self.step, self.best, self.bad_evals, self.stopped_early = 0, None, 0, False
        self.train_seconds = 0.0  # wall time of the training loop (evaluations and checkpoints in it included),
        self._clock: float | None = None  # summed over resumes; the loop's start while fit() runs
        self._tb = None  # TensorBoard writer, opened on first use
        self.ckpt_path = self.out / checkpoint.CHECKPOINT
        if resume and self.ckpt_path.exists():
            self._load(checkpoint.load(self.ckpt_path, self.device), identity)
        else:
            self._prepare()
            if self.ctx.main:  # a fresh run: weights an earlier run left here must not pass for this run's best
                (self.out / checkpoint.BEST).unlink(missing_ok=True)
        distributed.broadcast_parameters(self.model, self.ctx)
        if t.ema and self.ema is None:  # after ActNorm's data initialisation: the average starts where training does
            self.ema = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        if self.ctx.main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.json").write_text(config.model_dump_json(indent=2))
            self._trim_log()

    # -- set-up ------------------------------------------------------------------------------------------------
    def _optimizer(self, group: str, params: list[nn.Parameter]) -> torch.optim.Optimizer:
        o = self.config.train.optim_for(group)
        return torch.optim.Adam(params, lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)

    def _warmup(self, group: str) -> Callable[[int], float]:
        warm = self.config.train.optim_for(group).warmup
        return lambda step: min(1.0, (step + 1) / warm) if warm else 1.0

    def _prepare(self) -> None:
        """Data-dependent initialisation (ActNorm) from a fixed batch, before any step."""
        idx = torch.randperm(len(self.data), generator=torch.Generator().manual_seed(self.config.seed))[:512]
        self.model.prepare(self.data.batch(idx).to(self.device))

    # -- checkpoints -------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything exact resume needs; under DDP (collective: every rank calls it) the RNG state of each rank."""
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        rng = distributed.gather_objects(rng, self.ctx)
        return {
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizers": {g: o.state_dict() for g, o in self.optimizers.items()},
            "schedulers": {g: s.state_dict() for g, s in self.schedulers.items()},
            "ema": self.ema,
            "rng": rng,
            "data": self.stream.state_dict(),
            "best": self.best,
            "bad_evals": self.bad_evals,
            "train_seconds": self._seconds(),
            "config": self.config.model_dump_json(),
        }

    def _load(self, state: dict[str, Any], identity: tuple[str, ...] = RUN_IDENTITY) -> None:
        if state.get("config"):
            _check_resumable(json.loads(state["config"]), self.config, self.ckpt_path, identity)
        self.step = int(state["step"])
        self.model.load_state_dict(state["model"])
        for g, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][g])
        for g, s in self.schedulers.items():
            s.load_state_dict(state["schedulers"][g])
        self._apply_optim_settings()
        self.ema = state["ema"]
        rng = state["rng"][self.ctx.rank] if self.ctx.rank < len(state["rng"]) else state["rng"][0]
        torch.set_rng_state(rng["torch"].cpu())
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"].cpu(), self.device)
        self.stream.load_state_dict(state["data"])
        self.best, self.bad_evals = state["best"], int(state["bad_evals"])
        self.train_seconds = float(state.get("train_seconds", math.nan))  # NaN: a checkpoint that did not count
        rule = self.config.train.early_stopping  # the rule in force now: a resumed stopped run stays stopped
        self.stopped_early = rule is not None and self.bad_evals >= rule.patience  # unless it is relaxed

    def _apply_optim_settings(self) -> None:
        """After a resume the config's ``train.optim`` is in force, not the settings saved with the Adam moments:
        a resumed run told ``lr=5e-4`` trains at 5e-4 (warm-up keeps its place: lr = lr₀ · warmup(step))."""
        for g, o in self.optimizers.items():
            settings, scheduler = self.config.train.optim_for(g), self.schedulers[g]
            scheduler.base_lrs = [settings.lr] * len(o.param_groups)
            lr = settings.lr * scheduler.lr_lambdas[0](scheduler.last_epoch)
            for group in o.param_groups:
                group.update(initial_lr=settings.lr, lr=lr, betas=tuple(settings.betas),
                             weight_decay=settings.weight_decay)

    def _seconds(self) -> float:
        return self.train_seconds + (time.perf_counter() - self._clock if self._clock is not None else 0.0)

    def save(self) -> None:
        state = self.state_dict()  # collective under DDP
        if self.ctx.main:
            checkpoint.save_atomic(state, self.ckpt_path)

    def _trim_log(self) -> None:
        """On resume, drop log lines written after the checkpoint (they will be written again)."""
        log = self.out / "metrics.jsonl"
        if log.exists():
            keep = [ln for ln in log.read_text().splitlines() if ln and json.loads(ln).get("step", 0) <= self.step]
            log.write_text("".join(ln + "\n" for ln in keep))

    def log(self, record: dict[str, Any]) -> None:
        if not self.ctx.main:
            return
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.config.train.tensorboard:
            if self._tb is None:
                try:
                    from torch.utils.tensorboard import SummaryWriter
                except ImportError as exc:
                    raise ImportError("train.tensorboard needs the tensorboard package: "
                                      "pip install tensorboard") from exc
                self._tb = SummaryWriter(str(self.out / "tensorboard"))
            flat = {**{k: v for k, v in record.items() if k != "eval"},
                    **{f"eval/{k}": v for k, v in record.get("eval", {}).items()}}
            for key, value in flat.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._tb.add_scalar(key, value, record["step"])
            self._tb.flush()

    # -- one optimisation step -----------------------------------------------------------------------------------
    def train_step(self) -> dict[str, float]:
        batch = self.data.batch(self.stream.next(), generator=self.stream.generator).to(self.device)
        losses = self.model.losses(batch)
        if set(losses) != set(self.groups):
            raise RuntimeError(f"{type(self.model).__name__}.losses returned groups {sorted(losses)}, "
                               f"but parameter_groups has {sorted(self.groups)}")
        bad = {g: float(v.detach()) for g, v in losses.items() if not torch.isfinite(v.detach()).all()}
        if bad:  # before any update: the last checkpoint stays good for --resume
            raise FloatingPointError(f"non-finite loss at step {self.step + 1}: {bad}; the checkpoint of step "
                                     f"{self.step - self.step % self.config.train.checkpoint_every} is untouched")
        for o in self.optimizers.values():
            o.zero_grad(set_to_none=True)
        names = list(losses)
        for i, g in enumerate(names):  # each loss reaches its own group's parameters only
            if losses[g].requires_grad:
                losses[g].backward(inputs=self.groups[g], retain_graph=i < len(names) - 1)
        out = {}
        for g, params in self.groups.items():
            distributed.average_gradients(params, self.ctx)
            o = self.config.train.optim_for(g)
            if o.grad_clip is not None or o.skip_grad_norm is not None:
                norm = float(nn.utils.clip_grad_norm_(params, o.grad_clip or math.inf))  # norm before clipping
                out[f"grad_norm/{g}"] = norm
                if o.skip_grad_norm is not None and not norm <= o.skip_grad_norm:  # exploding (or NaN): skip
                    out[f"skipped/{g}"] = 1.0
                    continue
            self.optimizers[g].step()
            self.schedulers[g].step()
        if self.ema is not None:
            decay = self.config.train.ema
            with torch.no_grad():
                floats, others = [], []
                chains = set(getattr(self.model, "chain_buffers", ()))
                for k, v in self.model.state_dict().items():
                    if k in chains:  # chain states, not weights: the average holds the latest ones
                        self.ema[k] = v.detach().clone()
                    else:
                        (floats if v.is_floating_point() else others).append((self.ema[k], v))
                if floats:  # ema ← decay·ema + (1 − decay)·v, in one fused call over all tensors
                    torch._foreach_lerp_([e for e, _ in floats], [v for _, v in floats], 1 - decay)
                for e, v in others:
                    e.copy_(v)
        out.update({f"loss/{g}": float(v.detach()) for g, v in losses.items()})
        return out

    # -- evaluation, pictures -------------------------------------------------------------------------------------
    def evaluation_model(self) -> Model:
        """The model to evaluate and sample: the EMA weights when EMA is on."""
        if self.ema is None:
            return self.model
        import copy

        shadow = copy.deepcopy(self.model)
        shadow.load_state_dict(self.ema)
        return shadow

    def evaluate(self) -> dict[str, float]:
        metrics = evaluate(self.evaluation_model(), self.eval_data, self.config.eval, seed=self.config.seed,
                           floor_data=self.data)
        self.log({"step": self.step, "eval": metrics})
        return metrics

    def picture(self, name: str) -> Path | None:
        if not self.ctx.main:
            return None
        model = self.evaluation_model()
        was_training = model.training
        model.eval()
        # the densities draw too (importance samples, AIS): all of it inside the forked stream, so a picture never
        # shifts the training's random stream
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(self.config.seed)
            n = 2000 if len(self.data.event_shape) == 1 else 64
            samples = draw(model, n, self.config.eval.batch_size)
            try:  # held-out data: the panel and the NLLs in the titles
                return write_picture(samples, self.eval_data, self.out / name, title=f"samples (step {self.step})",
                                     densities=cpu_densities(model))
            except ValueError:
                return None
            finally:
                model.train(was_training)

    def _early_stop(self, metrics: dict[str, float]) -> bool:
        rule = self.config.train.early_stopping
        if rule is None:
            return False
        if rule.metric not in metrics:
            raise KeyError(f"train.early_stopping.metric: {rule.metric!r} is not among the metrics {sorted(metrics)}")
        value = float(metrics[rule.metric])
        better = self.best is None or (value < self.best if rule.mode == "min" else value > self.best)
        if better:
            self.best, self.bad_evals = value, 0
            if self.ctx.main:
                weights = self.ema if self.ema is not None else self.model.state_dict()  # what was evaluated
                checkpoint.save_atomic({"step": self.step, "model": weights, "metric": value},
                                       self.out / checkpoint.BEST)
            return False
        self.bad_evals += 1
        return self.bad_evals >= rule.patience

    # -- the loop ---------------------------------------------------------------------------------------------
    def fit(self) -> dict[str, float]:
        t = self.config.train
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn())
        name = self.config.recipe or self.config.model.name
        with Progress(*columns, disable=self.quiet or not self.ctx.main, transient=False) as progress:
            task = progress.add_task(name, total=t.steps, completed=self.step, status="")
            self._clock = time.perf_counter()
            try:
                while self.step < t.steps and not self.stopped_early:
                    record = self.train_step()
                    self.step += 1
                    if self.step % t.log_every == 0 or self.step == t.steps:
                        self.log({"step": self.step, **record})
                    progress.update(task, advance=1, status="  ".join(
                        f"{k.split('/')[-1]} {v:.3g}" for k, v in record.items() if k.startswith("loss/")))
                    for cb in self.callbacks:
                        cb(self, self.step, record)
                    if t.sample_every and self.step % t.sample_every == 0:
                        self.picture(f"samples/step_{self.step:06d}.png")
                    if t.eval_every and self.step % t.eval_every == 0 and self.step < t.steps:
                        if self._early_stop(self.evaluate()):
                            self.stopped_early = True
                            self.save()
                            break
                    if self.step % t.checkpoint_every == 0:
                        self.save()
            except KeyboardInterrupt:
                self.save()  # nothing lost: `--resume` continues from here
                raise
            finally:
                self.train_seconds, self._clock = self._seconds(), None
        self.save()
        final = self.evaluate()
        if not self.stopped_early and t.early_stopping is not None:
            self._early_stop(final)  # the last evaluation may still be the best
            self.save()  # with that verdict: a resumed run compares against this best
        self.picture("samples.png")
        distributed.barrier(self.ctx)
        return final


def _changes(old: Any, new: Any, at: str) -> list[tuple[str, Any, Any]]:
    """The dotted paths under ``at`` where two JSON-like values differ, with the old and new value at each. A key the
    old value lacks was not recorded then (a setting added since, e.g. set now to keep the old behaviour): not
    compared."""
    if isinstance(old, dict) and isinstance(new, dict):
        paths = {k: f"{at}.{k}" for k in sorted(old, key=str)}
        return [c for k, path in paths.items() if path not in RESUME_MAY_CHANGE
                for c in _changes(old[k], new.get(k), path)]
    return [] if old == new else [(at, old, new)]


_UNRECORDED = object()


def _at(tree: Any, path: str) -> Any:
    """``tree["a"]["b"]`` for ``path="a.b"``; ``_UNRECORDED`` where a key is missing."""
    for key in path.split("."):
        tree = tree.get(key, _UNRECORDED) if isinstance(tree, dict) else _UNRECORDED
    return tree


def _check_resumable(saved: dict[str, Any], config: RunConfig, ckpt: Path,
                     identity: tuple[str, ...] = RUN_IDENTITY) -> None:
    """Resuming under other data, model or seed settings would load weights into a model they were not trained
    for (or silently keep a finished run of other settings): refuse, naming each changed field (``identity``: dotted
    paths, ``RUN_IDENTITY`` by default)."""
    now = config.model_dump(mode="json")
    changed = [c for key in identity if (old := _at(saved, key)) is not _UNRECORDED  # not recorded: not compared
               for c in _changes(old, _at(now, key), key)]
    if changed:
        raise ResumeMismatch(
            f"resuming {ckpt} (resume with the run's own settings, `gencoop train RUN/config.json --out RUN "
            "--resume`, or train into a new --out)",
            [(field, f"the run was trained with {old!r}, this config has {new!r}") for field, old, new in changed])
