"""Exponential tilting: the base stays frozen, training separates data from base samples, E ≡ 0 leaves the base
unchanged, and the latent and data-space forms sample the same distribution."""

import json

import pytest
import torch
from torch import nn

import gencoop
from gencoop.cli import main
from gencoop.interfaces import Energy
from gencoop.models.baselines import FlowModel
from gencoop.models.tilting import ExponentialTilting


class Quadratic(Energy):
    """E(x) = a·‖x − c‖²/2 (a = 0: the zero energy)."""

    def __init__(self, centre, a=1.0):
        super().__init__()
        self.event_shape = (len(centre),)
        self.register_buffer("c", torch.tensor(centre))
        self.a = a
        self.dummy = nn.Parameter(torch.zeros(()))  # the model needs a trainable group

    def forward(self, x):
        return 0.5 * self.a * (x - self.c).square().sum(-1) + 0 * self.dummy


def small_vae():
    return gencoop.create("model", "vae", event_shape=(2,), latent_dim=2, encoder={"name": "mlp", "hidden": [16]},
                          decoder={"name": "mlp", "hidden": [16]})


def small_flow():
    torch.manual_seed(0)
    flow = FlowModel(gencoop.create("flow", "realnvp", dim=2, num_layers=2, hidden=16))
    with torch.no_grad():  # a non-trivial bijection: randomise the zero-initialised last layers
        for p in flow.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return flow


def test_training_leaves_the_base_bit_identical_and_lowers_the_energy_of_data():
    torch.manual_seed(0)
    base = small_vae()
    before = {k: v.clone() for k, v in base.state_dict().items()}
    energy = gencoop.create("energy", "mlp", dim=2, hidden=[32, 32])
    model = ExponentialTilting(base, energy, gencoop.create("sampler", "langevin", steps=10, step_size=0.1),
                               energy_reg=0.01)
    assert set(model.parameter_groups()) == {"energy"}
    assert all(not p.requires_grad for p in base.parameters())
    data = 0.3 * torch.randn(512, 2) + torch.tensor([1.5, -1.0])  # far from what the untrained base draws
    opt = torch.optim.Adam(model.parameter_groups()["energy"], lr=1e-2)
    model.train()
    gap = []
    for _ in range(30):
        loss = model.losses(data[torch.randint(512, (128,))])["energy"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        m = model.metrics(data[:256])
        gap.append(m["energy_data"] - m["energy_base"])
    assert not base.training  # train() keeps the base in eval mode
    for k, v in base.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert gap[-1] < gap[0] - 1.0, gap


def test_zero_energy_samples_the_base_prior():
    torch.manual_seed(0)
    base = small_vae()
    sampler = gencoop.create("sampler", "langevin", steps=50, step_size=0.3, metropolis=True)
    model = ExponentialTilting(base, Quadratic([0.0, 0.0], a=0.0), sampler)
    z = model.sample_latent(8000)
    assert z.mean(0).abs().max() < 0.05
    torch.testing.assert_close(torch.cov(z.T), torch.eye(2), atol=0.06, rtol=0)
    x = model.sample(16)
    assert x.shape == (16, 2)


def test_a_flow_keeps_one_prior_per_device():  # a new prior per call would copy host memory in CUDA graph capture
    base = small_flow()
    assert base.prior is base.prior


def test_latent_and_data_forms_agree_on_a_flow_base():
    """p(z)·exp(−E(G(z))) pushed through G equals p_base(x)·exp(−E(x)): same moments from both chains (MALA)."""
    base = small_flow()
    energy = Quadratic([0.5, -0.5], a=2.0)
    moments = []
    for space in ("latent", "data"):
        torch.manual_seed(1)
        sampler = gencoop.create("sampler", "langevin", steps=200, step_size=0.25, metropolis=True)
        x = ExponentialTilting(base, energy, sampler, space=space).sample(6000)
        moments.append((x.mean(0), torch.cov(x.T)))
    (m1, c1), (m2, c2) = moments
    torch.testing.assert_close(m1, m2, atol=0.04, rtol=0)
    torch.testing.assert_close(c1, c2, atol=0.04, rtol=0)
    # and the tilt matters: the tilted mean moved toward the energy's centre from the base's
    base_mean = base.sample(6000).mean(0)
    assert (m1 - torch.tensor([0.5, -0.5])).norm() < (base_mean - torch.tensor([0.5, -0.5])).norm() - 0.1


def test_trajectory_starts_at_decoded_prior_samples_and_keeps_every_kth_state():
    torch.manual_seed(0)
    base = small_vae()
    model = ExponentialTilting(base, gencoop.create("energy", "mlp", dim=2, hidden=[8]),
                               gencoop.create("sampler", "langevin", steps=20, step_size=0.1), sample_steps=30)
    traj = model.trajectory(5, every=10)
    assert traj.shape == (4, 5, 2)  # x0 and steps 10, 20, 30
    assert torch.isfinite(traj).all()


def test_bad_bases_are_named():
    energy = gencoop.create("energy", "mlp", dim=2, hidden=[8])
    sampler = gencoop.create("sampler", "langevin", steps=2)
    with pytest.raises(TypeError, match="base: a generator needs"):
        ExponentialTilting(nn.Linear(2, 2), energy, sampler)
    with pytest.raises(TypeError, match="space: 'data' needs a base with a tractable log_prob"):
        ExponentialTilting(small_vae(), energy, sampler, space="data")


def test_recipe_takes_the_base_run_and_its_data(tmp_path, capsys):
    base = tmp_path / "vae"
    tiny = ["--set", "train.steps=4", "--set", "train.batch_size=32", "--set", "eval.samples=64", "--quiet"]
    assert main(["train", "vae-25gaussians", "--out", str(base), "--set", "data.n=256", *tiny]) == 0
    out = tmp_path / "tilt"
    assert main(["train", "tilt-vae-25gaussians", "--out", str(out), "--set", f"model.base={base}",
                 "--set", "model.sampler.steps=3", "--set", "model.sample_steps=4", *tiny]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["data"] == json.loads((base / "config.json").read_text())["data"]
    assert (out / "samples.png").exists()
    assert main(["trajectory", str(out), "-n", "3", "--every", "2", "-o", str(tmp_path / "chains.png")]) == 0
    assert (tmp_path / "chains.png").exists()
    capsys.readouterr()
    assert main(["train", "tilt-vae-25gaussians", "--out", str(tmp_path / "x"),
                 "--set", f"model.base={tmp_path / 'missing'}"]) == 2
    assert "model.base" in capsys.readouterr().err


def test_sample_returns_the_trajectory_on_request():
    torch.manual_seed(0)
    model = ExponentialTilting(small_vae(), gencoop.create("energy", "mlp", dim=2, hidden=[8]),
                               gencoop.create("sampler", "langevin", steps=4, step_size=0.1), sample_steps=6)
    x, traj = model.sample(3, return_trajectory=3)
    assert x.shape == (3, 2) and traj.shape == (3, 3, 2)  # x0, step 3, step 6
    torch.testing.assert_close(traj[-1], x)


@pytest.mark.parametrize("kind", ["flow", "vae", "glf"])
def test_cifar_size_tilting_recipes_smoke(kind, tmp_path, cifar_npz, one_small_step):
    """The CIFAR-size base and tilt recipes build at full size and take a training step on a tiny stand-in."""
    import numpy as np

    from gencoop.config import load_run_config
    from gencoop.train import Trainer

    path, small = cifar_npz, one_small_step
    # the full 3 × 32-step Glow is slow on CPU; the tilt, not the base, is under test here
    glow = '{"name": "glow", "levels": 3, "steps_per_level": 1, "hidden_channels": 8}'
    lighter = [f"model.flow={glow}"] if kind == "flow" else []
    base = Trainer(load_run_config(gencoop.create("recipe", f"{kind}-cifar"), [f"data.path={path}", *small, *lighter]),
                   tmp_path / "base", quiet=True)
    base.train_step()
    base.save()  # a run folder with weights (no evaluation: FD on 3,072 pixels is slow on CPU)
    config = load_run_config(gencoop.create("recipe", f"tilt-{kind}-cifar"),
                             [f"model.base={tmp_path / 'base'}", "model.sampler.steps=2", *small])
    assert config.data.name == "npz"  # carried over from the base run
    trainer = Trainer(config, tmp_path / "tilt", quiet=True)
    assert trainer.model.event_shape == (3, 32, 32)
    record = trainer.train_step()
    assert all(np.isfinite(v) for v in record.values())


def test_clear_errors_for_mismatched_energy_and_bad_trajectory_requests():
    base = small_vae()
    sampler = gencoop.create("sampler", "langevin", steps=2)
    with pytest.raises(ValueError, match="energy: its event_shape"):
        ExponentialTilting(base, gencoop.create("energy", "mlp", dim=3, hidden=[8]), sampler)
    model = ExponentialTilting(base, gencoop.create("energy", "mlp", dim=2, hidden=[8]), sampler)
    with pytest.raises(ValueError, match="return_trajectory"):
        model.sample(2, return_trajectory=0)

    class NoTrajectory(gencoop.Sampler):  # a sampler with a run() of its own, without trajectories (like HMC's)
        def sample(self, log_density, x0, *, steps=None, generator=None):
            return x0

        def run(self, log_density, x0, *, steps=None, generator=None):
            return x0

    other = ExponentialTilting(base, gencoop.create("energy", "mlp", dim=2, hidden=[8]), NoTrajectory())
    with pytest.raises(TypeError, match="records no trajectory"):
        other.trajectory(2, every=1)


def test_a_tilting_run_loads_from_another_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tiny = ["--set", "train.steps=2", "--set", "train.batch_size=16", "--set", "eval.samples=32", "--quiet"]
    assert main(["train", "vae-25gaussians", "--out", "runs/vae-25gaussians", "--set", "data.n=128", *tiny]) == 0
    assert main(["train", "tilt-vae-25gaussians", "--out", "runs/tilt", "--set", "model.sampler.steps=2",
                 "--set", "model.sample_steps=2", *tiny]) == 0  # model.base defaults to runs/vae-25gaussians
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    from gencoop.train import load_run

    assert isinstance(load_run("../runs/tilt").model, ExponentialTilting)


def test_a_flow_prior_is_unfolded_to_its_gaussian_noise():
    """GLF: chains run on u ~ N(0, I) below the flow prior z = f(u); ℓ_u(u) = ℓ_z(f(u)) + log|det ∂f/∂u|, the same
    tilted model by a change of variables."""
    torch.manual_seed(0)
    base = gencoop.create("model", "glf", event_shape=(2,), latent_dim=2, encoder={"name": "mlp", "hidden": [16]},
                          decoder={"name": "mlp", "hidden": [16]}, flow={"name": "realnvp", "num_layers": 2})
    with torch.no_grad():  # a non-trivial flow prior
        for p in base.flow.parameters():
            p.add_(0.2 * torch.randn_like(p))
    sampler = gencoop.create("sampler", "langevin", steps=5, step_size=0.1)
    noise = ExponentialTilting(base, Quadratic([0.5, -0.5]), sampler)
    on_z = ExponentialTilting(base, Quadratic([0.5, -0.5]), sampler, latent="prior")
    assert on_z.latent_prior is base.flow and noise.latent_prior is not base.flow
    u = torch.randn(64, 2)
    z, logdet = base.flow.forward(u)
    assert torch.allclose(noise.decode(u), base.decoder(z))
    assert torch.allclose(noise.latent_log_density(u), on_z.latent_log_density(z) + logdet, atol=1e-5)
    want = -0.5 * u.square().sum(-1) - torch.log(torch.tensor(2 * torch.pi))
    assert torch.allclose(noise.latent_prior.log_prob(u), want)
    assert noise.sample(16).shape == (16, 2) and noise.sample_latent(16).shape == (16, 2)
    with pytest.raises(ValueError, match="latent"):
        ExponentialTilting(base, Quadratic([0.0, 0.0]), sampler, latent="z")
    lebm = gencoop.create("model", "lvm", event_shape=(2,), latent_dim=2, prior={"name": "ebm"},
                          decoder={"name": "mlp", "hidden": [16]})  # an EBM prior is no generator: chains stay on z
    assert ExponentialTilting(lebm, Quadratic([0.0, 0.0]), sampler).latent_prior is lebm.prior


class Linear(Energy):
    """E(x) = −a·x₁: falls without bound along x₁."""

    def __init__(self, a):
        super().__init__()
        self.event_shape = (2,)
        self.a = nn.Parameter(torch.tensor(float(a)))

    def forward(self, x):
        return -self.a * x[:, 0]


class IdentityGenerator(nn.Module):
    """z ~ N(0, I), x = G(z) = z."""

    def __init__(self):
        super().__init__()
        from gencoop.components.priors import GaussianPrior

        self.prior, self.latent_shape, self.event_shape = GaussianPrior((2,)), (2,), (2,)

    def decode(self, z):
        return z

    def sample(self, n):
        return self.prior.sample(n)


def test_clamp_makes_the_energy_read_clipped_samples():
    """With clamp=c the tilted latent is N(z)·exp(a·clip(z₁, −c, c)) (G = id): its mean, by quadrature, is far
    below the a of the unclipped tilt N(z − a·e₁); MALA chains sample it, and the loss and metrics read clipped x."""
    a, c = 2.0, 0.5
    energy = Linear(a)
    sampler = gencoop.create("sampler", "langevin", steps=150, step_size=0.6, metropolis=True)
    model = ExponentialTilting(IdentityGenerator(), energy, sampler, clamp=c, sample_steps=150)
    x = torch.tensor([[3.0, 0.0], [-0.2, 5.0]])
    torch.testing.assert_close(model.tilt(x), torch.tensor([-a * c, 0.2 * a]))
    assert model.metrics(x)["energy_data"] == pytest.approx(-a * (c - 0.2) / 2)
    model.losses(x)["energy"].backward()
    # ∂/∂a of mean E(x_data) − mean E(x_model) + 0.1·(mean E² + mean E²) with E = −a·clip(x₁): each term's |∂E/∂a| is
    # at most c and |E| at most a·c, so |∂loss/∂a| ≤ 2c + 0.1·2·2·a·c² (unclipped, the data's mean x₁ alone gives 1.4)
    assert 0 < energy.a.grad.abs() <= 2 * c + 0.4 * a * c * c + 1e-6

    grid = torch.linspace(-8.0, 10.0, 20001, dtype=torch.float64)
    w = torch.exp(-0.5 * grid.square() + a * grid.clamp(-c, c))
    exact = float((grid * w).sum() / w.sum())
    assert exact < 0.6 * a
    torch.manual_seed(0)
    z = model.sample(4000)
    assert float(z[:, 0].mean()) == pytest.approx(exact, abs=0.06)
    assert float(z[:, 1].mean()) == pytest.approx(0.0, abs=0.06)
    with pytest.raises(ValueError, match="clamp"):
        ExponentialTilting(IdentityGenerator(), energy, sampler, clamp=0.0)


def test_image_tilt_recipes_read_clipped_images_without_a_base_measure():
    names = [c.name for c in gencoop.registry.components("recipe")
             if c.name.startswith("tilt-") and c.name.split("-")[-1] in ("digits", "mnist5k", "fashion", "cifar")]
    assert len(names) == 12
    for name in names:
        model = gencoop.create("recipe", name)["model"]
        assert model["clamp"] == 1.0, name
        assert not {"bound", "base_std"} & set(model["energy"]), name


def test_a_tilted_vae_has_a_normalised_density_on_data():
    """A constant energy tilts nothing: the tilted likelihood (its prior normalised by AIS) equals the VAE's own.
    The VAE's importance-sampled likelihood bounds the ELBO from above."""
    torch.manual_seed(0)
    base = small_vae()
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(2)
    assert float(base.log_marginal(x, samples=256).mean()) >= float(-base.negative_elbo(x).mean().detach()) - 0.05

    class Constant(Quadratic):
        def forward(self, x):
            return super().forward(x) + 3.0

    flat = ExponentialTilting(base, Constant([0.0, 0.0], a=0.0), gencoop.create("sampler", "langevin", steps=5))
    torch.manual_seed(3)
    log_z = flat.latent_log_z()
    assert log_z.log_z == pytest.approx(-3.0, abs=max(0.02, 3 * log_z.stderr))
    densities = flat.densities()
    assert set(densities) == {"tilted", "base"} and all(d.normalized for d in densities.values())
    torch.manual_seed(4)
    tilted = float(densities["tilted"].log_density(x).mean())
    torch.manual_seed(4)
    assert tilted == pytest.approx(float(densities["base"].log_density(x).mean()), abs=0.05)
