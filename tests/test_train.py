"""The training harness: baselines learn, resume is exact, DDP ranks agree, configs fail clearly, the CLI works."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import gencoop
from gencoop.cli import main
from gencoop.config import ConfigError, load_run_config
from gencoop.train import Trainer, load_run


def tiny(model: dict, steps: int = 20, **train) -> dict:
    return {
        "seed": 1,
        "data": {"name": "8gaussians", "n": 2000},
        "model": model,
        "train": {"steps": steps, "batch_size": 64, "checkpoint_every": 5, "log_every": 5, **train},
        "eval": {"samples": 200, "batch_size": 200},
    }


FLOW = {"name": "flow", "flow": {"name": "realnvp", "num_layers": 2, "hidden": 16}}
EBM = {"name": "ebm", "energy": {"name": "mlp", "hidden": [16, 16]},
       "sampler": {"name": "langevin", "steps": 4, "step_size": 0.1}}


class Stop(Exception):
    pass


def _interrupt_at(step: int, exc: type[BaseException]):
    def callback(trainer, at, record):
        if at == step:
            raise exc()
    return callback


def _state(trainer):
    return {**{f"model.{k}": v for k, v in trainer.model.state_dict().items()},
            **{f"opt.{g}": o.state_dict()["state"] for g, o in trainer.optimizers.items()}}


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], torch.Tensor):
            assert torch.equal(a[k], b[k]), k
        else:  # optimiser state: {param index: {name: tensor}}
            for i in a[k]:
                for name in a[k][i]:
                    assert torch.equal(torch.as_tensor(a[k][i][name]), torch.as_tensor(b[k][i][name])), (k, i, name)


def test_the_weight_average_starts_from_the_data_initialised_model(tmp_path):
    trainer = Trainer(load_run_config(tiny(FLOW, ema=0.99)), tmp_path, quiet=True)
    actnorm = [k for k in trainer.ema if k.endswith("log_scale") or k.endswith("shift")]
    assert actnorm and any(trainer.model.state_dict()[k].abs().sum() > 0 for k in actnorm)  # ActNorm was initialised
    assert all(torch.equal(v, trainer.model.state_dict()[k]) for k, v in trainer.ema.items())


@pytest.mark.parametrize("model", [FLOW, EBM], ids=["flow", "ebm"])
@pytest.mark.parametrize("how", ["keyboard-interrupt", "crash"])
def test_killed_and_resumed_run_equals_uninterrupted(tmp_path, model, how):
    config = load_run_config(tiny(model, ema=0.9))
    full = Trainer(config, tmp_path / "full", quiet=True)
    full.fit()
    exc = KeyboardInterrupt if how == "keyboard-interrupt" else Stop
    broken = Trainer(config, tmp_path / "cut", quiet=True, callbacks=[_interrupt_at(13, exc)])
    with pytest.raises(exc):
        broken.fit()
    saved_at = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["step"]
    assert saved_at == (13 if how == "keyboard-interrupt" else 10)  # a crash loses the steps since the last save
    resumed = Trainer(config, tmp_path / "cut", resume=True, quiet=True)
    assert resumed.step == saved_at
    counted = resumed.train_seconds  # the training time up to the checkpoint, kept across the interruption
    assert counted > 0 and full.train_seconds > 0
    resumed.fit()
    assert resumed.train_seconds > counted
    _assert_same(_state(full), _state(resumed))
    assert all(torch.equal(full.ema[k], resumed.ema[k]) for k in full.ema)
    log = [json.loads(line) for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in log if "eval" not in r]
    assert steps == sorted(set(steps))  # lines after the checkpoint were trimmed, not duplicated


def test_resuming_under_another_model_data_or_seed_is_refused_naming_the_fields(tmp_path, capsys):
    Trainer(load_run_config(tiny(FLOW, steps=5)), tmp_path, quiet=True).fit()
    wider = {**FLOW, "flow": {**FLOW["flow"], "hidden": 32}}
    with pytest.raises(ConfigError, match=r"model\.flow\.hidden: the run was trained with 16, this config has 32"):
        Trainer(load_run_config(tiny(wider, steps=10)), tmp_path, resume=True, quiet=True)
    with pytest.raises(ConfigError, match=r"(?s)own settings.*seed: .* 1, .* 2\n.*data\.n: .* 2000, .* 500$"):
        Trainer(load_run_config({**tiny(FLOW, steps=10), "seed": 2, "data": {"name": "8gaussians", "n": 500}}),
                tmp_path, resume=True, quiet=True)
    # a setting the run did not record (added since) may be set now, e.g. to keep the behaviour it was trained with
    unrecorded = {**FLOW, "flow": {**FLOW["flow"], "activation": "relu"}}
    assert Trainer(load_run_config(tiny(unrecorded, steps=10)), tmp_path, resume=True, quiet=True).step == 5
    longer = Trainer(load_run_config(tiny(FLOW, steps=10, log_every=1)), tmp_path, resume=True, quiet=True)
    assert longer.step == 5  # training settings may change: more steps, another cadence
    # the way the refusal points to: the run's own config.json, with training settings changed on the command line
    assert main(["train", str(tmp_path / "config.json"), "--set", "train.steps=8", "--out", str(tmp_path),
                 "--resume", "--quiet"]) == 0
    assert load_run(tmp_path).step == 8


def test_a_resumed_run_trains_with_the_optimiser_settings_its_config_has_now(tmp_path):
    Trainer(load_run_config(tiny(FLOW, steps=5)), tmp_path, quiet=True).fit()  # lr 1e-3, betas (0.9, 0.999)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["optimizers"]
    changed = {"lr": 5e-3, "betas": [0.5, 0.9], "weight_decay": 0.01, "warmup": 10}
    resumed = Trainer(load_run_config(tiny(FLOW, steps=10, optim=changed)), tmp_path, resume=True, quiet=True)
    for g, o in resumed.optimizers.items():
        for group in o.param_groups:  # warm-up keeps its place: 5 steps done, lr = 5e-3 · 6/10
            assert group["lr"] == pytest.approx(3e-3) and group["betas"] == (0.5, 0.9)
            assert group["weight_decay"] == 0.01
        _assert_same({"s": saved[g]["state"]}, {"s": o.state_dict()["state"]})  # the Adam moments are kept
    resumed.fit()
    for o in resumed.optimizers.values():  # and the schedule goes on from the new rate: 5e-3 · min(1, 11/10)
        assert o.param_groups[0]["lr"] == pytest.approx(5e-3)


def test_an_interrupted_cli_run_prints_the_command_that_resumes_it(tmp_path, monkeypatch, capsys):
    def interrupt(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "fit", interrupt)
    config = tmp_path / "my run.toml"
    config.write_text('seed = 1\n[data]\nname = "8gaussians"\nn = 500\n[model]\nname = "flow"\n'
                      '[model.flow]\nname = "realnvp"\nnum_layers = 2\nhidden = 16\n[train]\nsteps = 5\n')
    assert main(["train", str(config), "--set", "train.batch_size=32", "--out", str(tmp_path / "out")]) == 130
    hint = capsys.readouterr().err.split("continue with: ")[1].strip()
    assert hint == f"gencoop train '{config}' --set train.batch_size=32 --out {tmp_path / 'out'} --resume"


def test_early_stopping_keeps_the_best_weights_and_a_resumed_stopped_run_stays_stopped(tmp_path, monkeypatch):
    config = load_run_config(tiny(FLOW, steps=40, eval_every=5, early_stopping={"metric": "score", "patience": 2}))
    scores = iter([3.0, 1.0, 2.0, 2.5])  # best at step 10, then two evaluations without improvement
    monkeypatch.setattr(Trainer, "evaluate", lambda self: {"score": next(scores, 9.0)})
    trainer = Trainer(config, tmp_path, quiet=True)
    trainer.fit()
    assert trainer.stopped_early and trainer.step == 20
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert best["step"] == 10 and best["metric"] == 1.0
    resumed = Trainer(config, tmp_path, resume=True, quiet=True)
    assert resumed.stopped_early and resumed.step == 20
    resumed.fit()
    assert resumed.step == 20  # not trained on past the stop
    assert torch.load(tmp_path / "best.pt", weights_only=True)["step"] == 10
    patient = load_run_config(tiny(FLOW, steps=25, eval_every=5, early_stopping={"metric": "score", "patience": 5}))
    relaxed = Trainer(patient, tmp_path, resume=True, quiet=True)
    assert not relaxed.stopped_early  # a relaxed rule lets the run go on
    relaxed.fit()
    assert relaxed.step == 25
    Trainer(config, tmp_path, quiet=True)  # a fresh run in the same folder
    assert not (tmp_path / "best.pt").exists()  # the earlier run's best weights would pass for its own


def test_checkpoint_loads_with_weights_only(tmp_path):
    pytest.importorskip("tensorboard")
    Trainer(load_run_config(tiny(FLOW, steps=5, tensorboard=True)), tmp_path, quiet=True).fit()
    assert any((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["step"] == 5 and "model" in state and "rng" in state
    run = load_run(tmp_path)
    assert run.step == 5 and isinstance(run.model, gencoop.models.FlowModel)


@pytest.mark.parametrize("recipe", ["flow-25gaussians", "vae-25gaussians", "glf-25gaussians", "ebm-25gaussians"])
def test_baseline_recipes_learn(tmp_path, recipe):
    """A short run lowers the model's loss against its start (each baseline, its own recipe, smaller)."""
    config = load_run_config(gencoop.create("recipe", recipe), [
        "train.steps=150", "train.log_every=10", "eval.samples=300", "data.n=3000", "train.batch_size=128"])
    trainer = Trainer(config, tmp_path, quiet=True)
    metrics = trainer.fit()
    log = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [r for r in log if "eval" not in r]
    key = next(k for k in losses[0] if k.startswith("loss/"))
    if recipe == "ebm-25gaussians":  # the EBM loss is a difference of energies; check samples moved instead
        assert metrics["mmd"] < 0.5
    else:
        assert losses[-1][key] < losses[0][key]
    assert (tmp_path / "samples.png").stat().st_size > 10_000
    assert {"mmd", "hq_fraction", "modes_covered", "modes_total"} <= set(metrics)


def test_bad_config_lists_every_field():
    with pytest.raises(ConfigError) as info:
        load_run_config(gencoop.create("recipe", "flow-25gaussians"),
                        ["train.stepz=3", "data.n=abc", "train.optim.lr=-1", "data.name=rings"])
    fields = [f for f, _ in info.value.problems]
    assert set(fields) == {"train.stepz", "train.optim.lr", "data.n"}
    assert "valid parameters are: steps" in str(info.value)


def test_a_bad_field_of_a_part_is_named_by_its_path_in_the_config():
    from gencoop.train import build_data, build_model

    config = load_run_config(gencoop.create("recipe", "coopflow-digits"), ["model.energy.chanels=16"])
    with pytest.raises(ConfigError) as info:
        build_model(config, build_data(config))
    assert [f for f, _ in info.value.problems] == ["model.energy.chanels"]
    assert "valid parameters are: shape, channels" in str(info.value)


def test_cli_bad_config_exits_2_without_traceback(capsys):
    assert main(["train", "flow-25gaussians", "--set", "train.steps=-1"]) == 2
    err = capsys.readouterr().err
    assert "train.steps" in err and "Traceback" not in err
    assert main(["train", "no-such-recipe"]) == 2
    assert "no recipe named 'no-such-recipe'" in capsys.readouterr().err


def test_cli_train_sample_evaluate(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "flow-25gaussians", "--out", str(out), "--quiet", "--set", "train.steps=10",
                 "--set", "eval.samples=200", "--set", 'model.flow={"name": "realnvp", "num_layers": 2}']) == 0
    assert main(["sample", str(out), "-n", "100", "-o", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["sample", str(out), "-n", "50", "-o", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (50, 2)
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json", "--samples", "200"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"hq_fraction", "modes_covered", "modes_total", "mmd", "step"} <= set(metrics)
    assert metrics["modes_total"] == 25 and metrics["step"] == 10
    assert main(["recipes"]) == 0 and "vae-25gaussians" in capsys.readouterr().out


def test_toml_config_and_image_data(tmp_path):
    pytest.importorskip("sklearn")
    cfg = tmp_path / "digits.toml"
    cfg.write_text("""
seed = 2
[data]
name = "digits"
split = "train"
[model]
name = "vae"
latent_dim = 4
encoder = {name = "conv", channels = 4}
decoder = {name = "conv", channels = 4}
[train]
steps = 3
batch_size = 32
[eval]
samples = 100
""")
    assert main(["train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])["eval"]
    assert metrics["fd"] > 0 and "recon_mse" in metrics
    assert (tmp_path / "run" / "samples.png").exists()


@pytest.mark.slow
def test_ddp_ranks_hold_identical_parameters(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).parent.parent))
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          str(Path(__file__).parent / "ddp_worker.py"), str(tmp_path)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["world"] == r1["world"] == 2
    for k in r0["final"]:
        assert torch.equal(r0["final"][k], r1["final"][k]), k
    assert any(not torch.equal(r0["initial"][k], r0["final"][k]) for k in r0["final"])  # it trained
    assert torch.equal(r0["batch"], r1["batch"])  # one shared order; each rank took its own slice of it
    assert (tmp_path / "run" / "checkpoint.pt").exists()


def test_non_finite_loss_stops_before_touching_the_checkpoint(tmp_path):
    config = load_run_config(tiny(FLOW))
    trainer = Trainer(config, tmp_path, quiet=True)

    def poison(t, step, record):
        if step == 7:  # from the next step on, the flow's log-density is NaN everywhere
            next(t.model.parameters()).data.fill_(float("nan"))
    trainer.callbacks.append(poison)
    with pytest.raises(FloatingPointError, match="non-finite loss at step 8"):
        trainer.fit()
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["step"] == 5 and all(torch.isfinite(v).all() for v in state["model"].values())


def test_unknown_parameter_group_is_named():
    config = load_run_config(tiny(FLOW), ["train.groups.enrgy.lr=0.5"])
    with pytest.raises(ConfigError, match="train.groups.enrgy"):
        Trainer(config, "/tmp/unused-run", quiet=True)


def test_swapping_the_data_set_keeps_what_still_applies():
    recipe = gencoop.create("recipe", "flow-25gaussians")
    toy = load_run_config(recipe, ["data.name=rings", "train.steps=500", "seed=3"])
    assert (toy.data.name, toy.data.params, toy.train.steps, toy.seed) == ("rings", {"n": 20000}, 500, 3)
    digits = load_run_config(recipe, ["data.name=digits"])  # `n` means nothing to digits: dropped
    assert digits.data.name == "digits" and digits.data.params == {}
    with pytest.raises(ConfigError, match="data.n"):  # but a setting the user gives is checked, not dropped
        load_run_config(recipe, ["data.name=digits", "data.n=5"])


class _Replay(torch.nn.Module):
    """A 'model' whose samples are given images (first ``n``), for testing the evaluation alone."""

    def __init__(self, x: torch.Tensor):
        super().__init__()
        self.x = x

    def sample(self, n: int) -> torch.Tensor:
        return self.x[:n]

    def metrics(self, x: torch.Tensor) -> dict[str, float]:
        return {}


def test_image_fd_reads_samples_clipped_to_the_pixel_range():
    from gencoop.config import EvalSettings
    from gencoop.data.dataset import ArrayDataset
    from gencoop.train.evaluate import evaluate

    g = torch.Generator().manual_seed(0)
    data = ArrayDataset(torch.randint(0, 17, (64, 1, 4, 4), generator=g) / 8.0 - 1.0, scale="images", levels=17,
                        name="noise-images")
    samples = data.x[torch.randperm(64, generator=g)].clone()
    blown = samples.clone()
    blown[:4, 0, 0, 0] = 1e12  # a generator's blow-ups: as a picture shows them, these pixels are white
    settings = EvalSettings(samples=64, batch_size=64)
    clean, clipped = evaluate(_Replay(samples.clamp(-1, 1)), data, settings), evaluate(_Replay(blown), data, settings)
    assert clean["pixels_out_of_range"] == 0
    assert clipped["pixels_out_of_range"] == pytest.approx(4 / blown.numel())
    expected = evaluate(_Replay(blown.clamp(-1, 1)), data, settings)["fd"]
    assert clipped["fd"] == pytest.approx(expected) and clipped["fd"] < 1e3


class _UniformDensity(_Replay):
    """The uniform density on [−1, 1]^D: −log p = D·log 2 everywhere; records what metrics() was given."""

    def metrics(self, x: torch.Tensor) -> dict[str, float]:
        self.seen = x
        return {"nll": math.prod(x.shape[1:]) * math.log(2.0)}


def test_bits_per_dim_counts_pixel_levels_on_dequantised_held_out_data():
    from gencoop.config import EvalSettings
    from gencoop.data.datasets import digits_dataset
    from gencoop.train.evaluate import evaluate

    data = digits_dataset(split="test", dequantize=True)  # 17 levels
    model = _UniformDensity(data.x[:50].clone())
    out = evaluate(model, data, EvalSettings(samples=50, batch_size=40))
    assert out["bits_per_dim"] == pytest.approx(math.log2(17))  # uniform over the levels: log2(levels) bits
    assert model.seen.shape == (40, 1, 8, 8)
    grid = data.to_data_units(model.seen) * 16  # clean pixels sit on the levels v/16
    assert (grid - grid.round()).abs().max() > 0.1  # dequantised: spread inside the levels' bins
    assert "bits_per_dim" not in evaluate(model, digits_dataset(split="test"), EvalSettings(samples=50))


def test_image_grids_enlarge_small_tiles(tmp_path):
    from PIL import Image

    from gencoop.viz import save_image_grid

    strip = save_image_grid(torch.rand(7 * 16, 1, 8, 8), tmp_path / "strip.png", nrow=16)  # a wide grid of 8×8 digits
    assert Image.open(strip).size == (4 * (16 * 9 + 1), 4 * (7 * 9 + 1))  # tiles of 32 px
    big = save_image_grid(torch.rand(4, 3, 64, 64), tmp_path / "big.png", nrow=2)
    assert Image.open(big).size == (2 * 65 + 1, 2 * 65 + 1)  # already large: left as drawn


def test_image_grid_rows_can_be_labelled_on_the_left(tmp_path):
    from PIL import Image

    from gencoop.viz import save_image_grid

    images = torch.rand(3 * 4, 1, 8, 8)
    plain = Image.open(save_image_grid(images, tmp_path / "plain.png", nrow=4))
    labelled = Image.open(save_image_grid(images, tmp_path / "labelled.png", nrow=4, row_labels=["data", "a", "b"]))
    assert labelled.size[1] == plain.size[1] and labelled.size[0] > plain.size[0] + 20
    margin = np.asarray(labelled)[:, : labelled.size[0] - plain.size[0]]
    assert (margin < 128).any()  # the labels are drawn in the margin
    with pytest.raises(ValueError, match="row_labels: one label per row of the grid \\(3 rows\\), got 2"):
        save_image_grid(images, tmp_path / "bad.png", nrow=4, row_labels=["data", "a"])


def test_config_error_survives_pickling():
    """A worker process (benchmarks/tilting.py --jobs) hands its ConfigError back to the parent pickled."""
    import pickle

    with pytest.raises(ConfigError) as caught:
        load_run_config(tiny(FLOW), ["train.stepz=3"])
    again = pickle.loads(pickle.dumps(caught.value))
    assert again.problems == caught.value.problems and str(again) == str(caught.value)


def test_the_tilting_benchmark_trains_a_stale_run_anew_on_resume(tmp_path, capsys, monkeypatch):
    """benchmarks/tilting.py --resume keeps a finished run of the recipe as it is, retrains one of other settings."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("tilting_benchmark", Path(__file__).parents[1] / "benchmarks" /
                                                  "tilting.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    quick = ["train.steps=2", "train.batch_size=32", "eval.samples=50", "eval.batch_size=50"]
    out = tmp_path / "vae"
    first, _, trained = bench.train("vae-25gaussians", out, 0, quick, resume=True)
    assert trained and first.step == 2
    _, _, trained = bench.train("vae-25gaussians", out, 0, quick, resume=True)
    assert not trained  # finished under the same settings: evaluated again, not retrained
    _, _, trained = bench.train("vae-25gaussians", out, 0, [*quick, "model.sigma=0.3"], resume=True)
    assert trained and "trained under other settings (model.sigma)" in capsys.readouterr().err
    assert json.loads((out / "config.json").read_text())["model"]["sigma"] == 0.3
    _, _, trained = bench.train("vae-25gaussians", out, 0, [*quick, "model.sigma=0.3", "train.optim.lr=5e-4"],
                                resume=True)
    assert trained and "trained under other settings (train.optim.lr)" in capsys.readouterr().err
    seeds, sizes, real = [], [], bench.evaluate
    monkeypatch.setattr(bench, "evaluate", lambda model, data, settings, seed, floor_data=None: seeds.append(seed)
                        or sizes.append(settings.samples) or real(model, data, settings, seed, floor_data))
    bench.train("vae-25gaussians", out, 0, [*quick, "model.sigma=0.3", "train.optim.lr=5e-4"], resume=True)
    assert seeds == [bench.REPORT_DRAW] != [0]  # the row's draw is not the one early stopping picked weights on
    seeds.clear()
    sizes.clear()
    _, metrics, _ = bench.train("vae-25gaussians", out, 0, [*quick, "model.sigma=0.3", "train.optim.lr=5e-4"],
                                resume=True, draws=3, samples=40)
    assert seeds == [1, 2, 3] and sizes == [40, 40, 40]  # three draws of their own, of 40 samples
    assert metrics["mmd_sd"] > 0  # the draws differ
    row = bench.table_rows({"data": "25gaussians", "kind": "vae", "base": metrics, "tilt": metrics, "base_steps": 2,
                            "base_wall": 1.0, "tilt_steps": 2, "tilt_wall": 1.0})[0]
    assert row.startswith("| 25gaussians | vae | c2st |")  # the row leads with the metric collapse cannot win
    assert f"{metrics['c2st']:.4g} ± {metrics['c2st_sd']:.2g}" in row and "+0.000" in row
    assert f"{metrics['c2st_floor']:.4g}" in row  # beside its floor


def test_every_recipe_round_trips_through_its_saved_config():
    """The config.json a run writes reloads into the same settings, optimiser groups included (tilt recipes need a
    base run folder and are left out here)."""
    from gencoop.registry import components

    names = [c.name for c in components("recipe") if not c.name.startswith("tilt-")]
    assert len(names) > 20
    for name in names:
        cfg = load_run_config(gencoop.create("recipe", name), where=name)
        again = load_run_config(json.loads(cfg.model_dump_json()), where=f"{name}'s config.json")
        assert again == cfg, name
        for group in {*cfg.train.groups, "energy"}:
            assert again.train.optim_for(group) == cfg.train.optim_for(group), (name, group)


def test_the_cli_never_overwrites_a_run_silently(tmp_path, capsys):
    tiny = ["--set", "train.steps=3", "--set", "train.batch_size=32", "--set", "data.n=256",
            "--set", "eval.samples=64", "--quiet"]
    run = tmp_path / "run"
    assert main(["train", "flow-25gaussians", "--out", str(run), *tiny]) == 0
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}

    def unchanged() -> bool:
        return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before

    capsys.readouterr()
    assert main(["train", "flow-25gaussians", "--out", str(run), *tiny]) == 2  # a run is there: say so
    err = capsys.readouterr().err
    assert "holds a run" in err and "--resume" in err and "--overwrite" in err and len(err.splitlines()) == 1
    assert unchanged()
    assert main(["train", "flow-25gaussians", "--out", str(run), *tiny, "--resume"]) == 0  # finished: nothing to do
    assert "already finished at step 3" in capsys.readouterr().out and unchanged()
    assert main(["train", "flow-25gaussians", "--out", str(tmp_path / "typo"), *tiny, "--resume"]) == 2
    assert "holds no checkpoint.pt" in capsys.readouterr().err and not (tmp_path / "typo").exists()
    assert main(["train", "flow-25gaussians", "--out", str(run), *tiny, "--overwrite", "--set", "seed=5"]) == 0
    assert json.loads((run / "config.json").read_text())["seed"] == 5


def test_a_malformed_config_file_is_named_with_its_line_and_column(tmp_path, capsys):
    bad_json, bad_toml = tmp_path / "config.json", tmp_path / "run.toml"
    bad_json.write_text('{\n  "seed": 0,\n  "data": {"name" "rings"}\n}\n')
    bad_toml.write_text('seed = 0\n[data]\nname = "rings\n')
    assert main(["train", str(bad_json), "--out", str(tmp_path / "a")]) == 2
    assert f"{bad_json}:3:" in capsys.readouterr().err
    assert main(["train", str(bad_toml), "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert str(bad_toml) in err and "line 3" in err and len(err.strip().splitlines()) == 1
