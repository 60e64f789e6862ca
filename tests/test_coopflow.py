"""CoopFlow: the cooperative loop learns, revision moves toward the data, the latent tasks work, the CLI runs."""

import pytest
import torch

import gencoop
from gencoop.cli import main
from gencoop.config import load_run_config
from gencoop.metrics import mmd
from gencoop.models import CoopFlow, NoiseInitializer
from gencoop.train import Trainer


def small_coopflow(dim=2, steps=10, **kw):
    return gencoop.create("model", "coopflow", event_shape=(dim,), energy={"name": "mlp", "hidden": [32, 32]},
                          flow={"name": "realnvp", "num_layers": 2, "hidden": 16},
                          sampler={"name": "langevin", "steps": steps, "step_size": 0.1, "noise": 0.0, "clip": 0.1},
                          **kw)


def test_losses_and_groups():
    model = small_coopflow()
    losses = model.losses(torch.randn(16, 2))
    assert set(losses) == set(model.parameter_groups()) == {"energy", "flow"}
    assert all(v.dim() == 0 and v.requires_grad for v in losses.values())
    # the flow's loss reaches only the flow; the energy's only the energy
    (g,) = torch.autograd.grad(losses["flow"], [next(model.energy.parameters())], allow_unused=True)
    assert g is None


def test_flow_noise_dequantises_the_samples_the_flow_learns_from(monkeypatch):
    model = small_coopflow(flow_noise=0.05)
    seen = []
    monkeypatch.setattr(model.flow, "fit_loss", lambda x: seen.append(x) or x.sum())
    monkeypatch.setattr(model.sampler, "sample", lambda target, x, **kw: x.clamp(-0.1, 0.1))  # a clamped chain
    model.losses(torch.randn(512, 2))
    (x_fit,) = seen
    at_bounds = x_fit.abs().eq(0.1).float().mean().item()
    assert at_bounds == 0 and 0.04 < (x_fit - x_fit.clamp(-0.1, 0.1)).abs().max() < 0.5  # no point masses left
    with pytest.raises(ValueError, match="flow_noise"):
        CoopFlow(model.energy, model.flow, model.sampler, flow_noise=-1.0)


def test_short_run_ebm_is_coopflow_with_noise():
    model = gencoop.create("model", "ebm", event_shape=(2,), sampler={"name": "langevin", "steps": 2})
    assert isinstance(model, CoopFlow) and isinstance(model.flow, NoiseInitializer)
    assert set(model.parameter_groups()) == set(model.losses(torch.randn(4, 2))) == {"energy"}


def test_flow_schedule_freezes_and_thins_updates():
    model = small_coopflow(flow_every=2, flow_frozen_steps=3)
    updates = [model.losses(torch.randn(8, 2))["flow"].requires_grad for _ in range(8)]
    assert updates == [False, False, False, False, True, False, True, False]


def test_sample_steps_sets_the_revision_length_when_sampling_only():
    model = small_coopflow(steps=5, sample_steps=0)
    torch.manual_seed(1)
    proposals = model.flow.sample(8)
    torch.manual_seed(1)
    torch.testing.assert_close(model.sample(8), proposals)  # 0 steps: the flow's proposals, unrevised
    torch.manual_seed(1)
    assert not torch.allclose(model.sample(8, steps=5), proposals)
    assert model.sampler.steps == 5  # training chains keep the sampler's length


def test_revision_lowers_the_energy_along_the_chain():
    torch.manual_seed(0)
    model = small_coopflow(steps=20)
    x_flow, x_rev = model.synthesize(64)
    with torch.no_grad():
        assert model.energy(x_rev).mean() < model.energy(x_flow).mean()


def test_a_short_run_moves_samples_toward_the_data(tmp_path):
    torch.manual_seed(0)
    config = load_run_config({
        "seed": 0, "data": {"name": "8gaussians", "n": 4000},
        "model": {"name": "coopflow", "energy": {"name": "mlp", "hidden": [64, 64], "base_std": 3.0},
                  "energy_reg": 0.01, "flow": {"name": "realnvp", "num_layers": 3, "hidden": 32},
                  "sampler": {"name": "langevin", "steps": 20, "step_size": 0.1, "noise": 0.0, "clip": 0.1,
                              "bounds": [-3, 3]}},
        "train": {"steps": 150, "batch_size": 128, "optim": {"lr": 1e-3, "betas": [0.5, 0.999]}},
        "eval": {"samples": 500},
    })
    trainer = Trainer(config, tmp_path, quiet=True)
    data = trainer.eval_data.x[:500]
    before = float(mmd(trainer.model.sample(500), data))
    trainer.fit()
    after = float(mmd(trainer.model.sample(500), data))
    assert after < 0.9 * before
    x_flow, x_rev = trainer.model.synthesize(500)
    assert float(mmd(x_rev, data)) <= float(mmd(x_flow, data)) * 1.05  # revision does not move away from data


def test_reconstruct_inpaint_interpolate_shapes_and_error():
    torch.manual_seed(0)
    model = small_coopflow(steps=5)
    x = model.sample(6)  # points the model can represent exactly
    z0 = torch.randn_like(x)
    start_err = float((model.sampler.run(model.log_density, model.flow.decode(z0)).x - x).square().mean())
    rec = model.reconstruct(x, iters=60, lr=0.1)
    assert rec.shape == x.shape and float((rec - x).square().mean()) < 0.2 * start_err
    mask = torch.tensor([[1.0, 0.0]])
    filled = model.inpaint(x, mask, n_init=2, iters=5)
    assert filled.shape == (2, *x.shape)
    path = model.interpolate(x[:2], x[2:4], n=5, iters=5)
    assert path.shape == (5, 2, 2)
    assert all(p.grad is None for p in model.parameters())
    with torch.no_grad():  # inference differentiates w.r.t. z even inside no_grad
        assert model.reconstruct(x, iters=2).shape == x.shape


def test_reconstruct_with_injected_noise_is_deterministic():
    model = gencoop.create("model", "coopflow", event_shape=(2,), energy={"name": "mlp", "hidden": [8]},
                           flow={"name": "realnvp", "num_layers": 2, "hidden": 8},
                           sampler={"name": "langevin", "steps": 3, "step_size": 0.1, "noise": 1.0})
    x = torch.randn(3, 2)
    a = model.reconstruct(x, iters=3, seed=5)
    b = model.reconstruct(x, iters=3, seed=5)
    assert torch.equal(a, b)


def test_coopflow_pre_loads_a_flow_run(tmp_path):
    flow_cfg = load_run_config({"data": {"name": "8gaussians", "n": 500},
                                "model": {"name": "flow", "flow": {"name": "realnvp", "num_layers": 2, "hidden": 8}},
                                "train": {"steps": 3}, "eval": {"samples": 50}})
    Trainer(flow_cfg, tmp_path / "flow", quiet=True).fit()
    model = gencoop.create("model", "coopflow", event_shape=(2,), flow_run=str(tmp_path / "flow"),
                           energy={"name": "mlp", "hidden": [8]}, sampler={"name": "langevin", "steps": 2})
    trained = torch.load(tmp_path / "flow" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(trained[f"flow.{k}"], v) for k, v in model.flow.state_dict().items())
    model.prepare(torch.randn(64, 2) * 5 + 3)  # the trainer's data initialisation leaves a pretrained flow alone
    assert all(torch.equal(trained[f"flow.{k}"], v) for k, v in model.flow.state_dict().items())
    with pytest.raises(gencoop.ConfigError):
        gencoop.create("model", "coopflow", event_shape=(2,), flow_every=0)


@pytest.mark.parametrize("image", [False, True], ids=["toy", "digits"])
def test_cli_tasks_on_a_tiny_run(tmp_path, capsys, image):
    if image:
        pytest.importorskip("sklearn")
        sets = ["--set", 'data={"name": "digits", "split": "train"}',
                "--set", 'model.energy={"name": "conv", "channels": 4, "blocks": 1}',
                "--set", 'model.flow={"name": "glow", "levels": 1, "steps_per_level": 1, "hidden_channels": 8}']
    else:
        sets = ["--set", 'model.energy={"name": "mlp", "hidden": [16]}',
                "--set", 'model.flow={"name": "realnvp", "num_layers": 2, "hidden": 8}']
    out = tmp_path / "run"
    assert main(["train", "coopflow-25gaussians", "--out", str(out), "--quiet", "--set", "train.steps=3",
                 "--set", "eval.samples=64", "--set", "model.sampler.steps=3", *sets]) == 0
    assert main(["reconstruct", str(out), "-n", "4", "--iters", "2", "-o", str(tmp_path / "r.png")]) == 0
    assert "reconstruction MSE" in capsys.readouterr().out
    assert main(["interpolate", str(out), "-n", "4", "--iters", "2", "--points", "3",
                 "-o", str(tmp_path / "i.png")]) == 0
    if image:
        assert main(["inpaint", str(out), "-n", "2", "--iters", "2", "--inits", "2",
                     "-o", str(tmp_path / "p.png")]) == 0
    for f in ("r.png", "i.png") + (("p.png",) if image else ()):
        assert (tmp_path / f).read_bytes()[:4] == b"\x89PNG"


def test_cifar_size_recipe_smoke(tmp_path, cifar_npz, one_small_step):
    """The CIFAR-size recipe builds at full size and takes a training step on a tiny stand-in data set."""
    import numpy as np

    config = load_run_config(gencoop.create("recipe", "coopflow-cifar"),
                             [f"data.path={cifar_npz}", *one_small_step, "model.sampler.steps=2"])
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    assert trainer.model.event_shape == (3, 32, 32) and trainer.model.flow.levels == 3
    record = trainer.train_step()
    assert all(np.isfinite(v) for v in record.values())


class ShiftedGaussianEnergy(gencoop.interfaces.Energy):
    """E(x) = ‖x − 0.7‖² / (2·0.6²): exp(−E) ∝ N(0.7, 0.6² I), inside the tails of a fresh flow's samples."""

    def __init__(self, dim=2):
        super().__init__()
        self.event_shape = (dim,)
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):
        return self.scale * (x - 0.7).square().sum(-1) / (2 * 0.6**2)


def test_independence_mh_from_the_flow_targets_the_ebm():
    """Rounds of flow proposals accepted by min(1, w'/w), w = exp(−E)/q, with no Langevin step between them, turn
    the flow's N(0, I)-like samples into draws of exp(−E) = N(0.7, 0.6² I)."""
    torch.manual_seed(0)
    flow = gencoop.create("flow", "realnvp", dim=2, num_layers=2, hidden=16)
    sampler = gencoop.create("sampler", "langevin", steps=0)
    model = CoopFlow(ShiftedGaussianEnergy(), flow, sampler, independence_mh=True, sample_rounds=60)
    x = model.sample(4000)
    assert torch.allclose(x.mean(0), torch.full((2,), 0.7), atol=0.04)
    assert torch.allclose(x.std(0), torch.full((2,), 0.6), atol=0.03)
    _, accepted = model.propose(4000, x)
    assert 0.05 < accepted.float().mean() < 0.95  # some proposals refused, some taken


def test_independence_mh_chains_persist_and_resume_from_a_checkpoint():
    model = small_coopflow(independence_mh=True)
    model.losses(torch.randn(16, 2))
    first = model.chains.clone()
    assert first.shape == (16, 2)
    model.losses(torch.randn(16, 2))
    assert model.chains.shape == (16, 2) and not torch.equal(model.chains, first)  # the chains move on
    assert 0 <= model.metrics(torch.randn(8, 2))["mh_acceptance"] <= 1
    fresh = small_coopflow(independence_mh=True)
    fresh.load_state_dict(model.state_dict())  # an empty buffer takes the saved chains' size
    assert torch.equal(fresh.chains, model.chains)
    with pytest.raises(ValueError, match="independence_mh"):
        gencoop.create("model", "coopflow", event_shape=(2,), init="gaussian", independence_mh=True)


def test_ema_copies_chain_states_instead_of_averaging_them(tmp_path):
    config = load_run_config({
        "seed": 0, "data": {"name": "8gaussians", "n": 512},
        "model": {"name": "coopflow", "energy": {"name": "mlp", "hidden": [16]}, "independence_mh": True,
                  "flow": {"name": "realnvp", "num_layers": 2, "hidden": 8},
                  "sampler": {"name": "langevin", "steps": 2}},
        "train": {"steps": 3, "batch_size": 32, "ema": 0.9}, "eval": {"samples": 64},
    })
    trainer = Trainer(config, tmp_path, quiet=True)
    trainer.fit()
    assert torch.equal(trainer.ema["chains"], trainer.model.chains)
    assert trainer.evaluation_model().chains.shape == (32, 2)


def test_with_bounds_the_ebm_density_lives_on_the_sampler_box():
    """Clamped chains sample exp(−E) restricted to the box: the density is −inf outside, AIS starts uniform on it."""
    model = gencoop.create("model", "coopflow", event_shape=(2,), energy={"name": "mlp", "hidden": [8]},
                           flow={"name": "realnvp", "num_layers": 2, "hidden": 8},
                           sampler={"name": "langevin", "steps": 2, "bounds": [-1, 2]})
    ebm = model.densities()["ebm"]
    x = torch.tensor([[0.0, 1.5], [2.5, 0.0], [-1.2, 0.0]])
    lp = ebm.log_density(x)
    assert torch.isfinite(lp[0]) and torch.isinf(lp[1:]).all() and (lp[1:] < 0).all()
    assert ebm.start.log_prob(x[:1]).item() == pytest.approx(-2 * torch.log(torch.tensor(3.0)).item())
    unbounded = small_coopflow().densities()["ebm"]
    assert unbounded.start is not None and torch.isfinite(unbounded.log_density(x)).all()
