"""The quality metrics flag the failures they exist for: collapse, a dropped mode, memorisation, a uniform EBM;
AIS and quadrature agree with known normalising constants."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Independent, Normal

from gencoop.data.toy import MIXTURES, sample_toy
from gencoop.metrics import ais_log_z, c2st, grid_log_z, grid_nll, mode_coverage, mode_spread, precision_recall
from gencoop.samplers.langevin import Langevin

CENTRES, STD = MIXTURES["25gaussians"][0](), MIXTURES["25gaussians"][1]


def _collapsed(n: int, seed: int, shrink: float = 0.1) -> torch.Tensor:
    """Samples of the 25-Gaussians toy with every mode shrunk toward its centre by ``shrink``."""
    x = sample_toy("25gaussians", n, seed)
    c = CENTRES[torch.cdist(x, CENTRES).argmin(1)]
    return c + shrink * (x - c)


def test_c2st_is_chance_for_data_and_flags_collapse():
    data, other = sample_toy("25gaussians", 2000, 1), sample_toy("25gaussians", 2000, 2)
    assert abs(c2st(other, data) - 0.5) < 0.04
    assert c2st(_collapsed(2000, 3), data) >= 0.8


def test_c2st_mlp_separates_shifted_gaussians_and_not_equal_ones():
    g = torch.Generator().manual_seed(0)
    x, y, z = (torch.randn(600, 5, generator=g) for _ in range(3))
    assert abs(c2st(x, y, "mlp", mlp_steps=300) - 0.5) < 0.06
    assert c2st(x + torch.tensor([1.0, 0, 0, 0, 0]), z, "mlp", mlp_steps=300) > 0.65


def test_c2st_rejects_bad_arguments():
    x = torch.randn(50, 2)
    with pytest.raises(ValueError, match="classifier"):
        c2st(x, x, "svm")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="neighbours"):
        c2st(x[:10], x[:10], neighbours=40)


def test_spread_ratio_is_one_for_data_and_small_for_collapse():
    assert 0.9 < mode_spread(sample_toy("25gaussians", 5000, 1), CENTRES, STD)["spread_ratio"] < 1.05
    collapsed = mode_spread(_collapsed(5000, 1, shrink=0.3), CENTRES, STD)
    assert collapsed["spread_ratio"] <= 0.5
    blurred = CENTRES[torch.randint(25, (5000,))] + 1.8 * STD * torch.randn(5000, 2)
    assert mode_spread(blurred, CENTRES, STD)["spread_ratio"] > 1.25


def test_a_dropped_mode_is_flagged():
    x = sample_toy("25gaussians", 5000, 1)
    full = mode_spread(x, CENTRES, STD)
    assert full["min_mode_share"] > 0.7 and full["mode_chi2_p"] > 0.001
    dropped = x[torch.cdist(x, CENTRES).argmin(1) != 7]
    stats = mode_spread(dropped, CENTRES, STD)
    assert stats["min_mode_share"] == 0.0 and stats["mode_chi2_p"] < 1e-6
    assert mode_coverage(dropped, CENTRES, STD)["modes_covered"] == 24


def test_precision_and_recall_see_memorisation_and_blur():
    real, held_out = sample_toy("swissroll", 1000, 1), sample_toy("swissroll", 1000, 2)
    fair = precision_recall(real, held_out)
    assert fair["precision"] > 0.9 and fair["recall"] > 0.9
    memorised = real[:50][torch.randint(50, (1000,), generator=torch.Generator().manual_seed(0))]
    mem = precision_recall(memorised, held_out)
    assert mem["precision"] > 0.8 and mem["recall"] < 0.2
    blur = precision_recall(held_out + 0.4 * torch.randn(1000, 2), real)
    assert blur["precision"] < 0.7


def test_density_and_coverage_are_not_bought_by_outliers():
    """Samples on one third of the swiss roll plus a few far outliers: the outliers' huge k-NN balls swallow the
    data, so recall looks fair; coverage, from the data's own balls, sees the two missing thirds."""
    from gencoop.metrics import density_coverage

    real, held_out = sample_toy("swissroll", 1000, 1), sample_toy("swissroll", 1000, 2)
    fair = density_coverage(real, held_out)
    assert 0.8 < fair["density"] < 1.2 and fair["coverage"] > 0.9
    part = real[real[:, 0].argsort()][:330]  # the left third
    outliers = 6 * torch.randn(670, 2, generator=torch.Generator().manual_seed(0)) + 8  # far off, spread out
    gamed = torch.cat([part, outliers])
    assert precision_recall(gamed, held_out)["recall"] > 0.6
    dc = density_coverage(gamed, held_out)
    assert dc["coverage"] < 0.45 and dc["density"] < 0.5
    piled = density_coverage(real[:50].repeat(20, 1), held_out)  # piled onto a few training points
    assert piled["coverage"] < 0.35  # 50 points reach about five data balls each


def test_grid_nll_of_a_uniform_energy_is_log_area():
    flat = lambda x: torch.zeros(x.shape[0])  # noqa: E731
    held_out = sample_toy("25gaussians", 2000, 1)
    assert grid_nll(flat, held_out, -3, 3, 300) == pytest.approx(math.log(36), abs=0.1)


def test_grid_log_z_of_a_gaussian_and_true_mixture_nll():
    s = 0.05  # one component of the toy: Z = 2πs² e^{−1}
    energy = lambda x: ((x - 0.3) ** 2).sum(-1) / (2 * s * s) + 1.0  # noqa: E731
    assert grid_log_z(energy, -3, 3, 600) == pytest.approx(math.log(2 * math.pi * s * s) - 1.0, abs=1e-3)

    def mixture_energy(x):  # the 25-Gaussians density itself: its quadrature NLL is the true NLL
        sq = torch.cdist(x.double(), CENTRES.double()).square()
        return -(torch.logsumexp(-sq / (2 * STD**2), 1) - math.log(25 * 2 * math.pi * STD**2))

    held_out = sample_toy("25gaussians", 2000, 1)
    exact = float(mixture_energy(held_out).mean())
    assert grid_nll(mixture_energy, held_out, -3, 3, 600) == pytest.approx(exact, abs=0.01)
    assert exact < 0.2  # the floor of every NLL on this toy: about 0.06


@pytest.mark.parametrize("d, steps", [(10, 1000), (100, 3000)])
def test_ais_recovers_the_normaliser_of_a_gaussian(d, steps):
    mu, sd, c = torch.linspace(-1, 1, d), torch.linspace(0.5, 1.2, d), 3.0
    log_density = lambda x: Normal(mu, sd).log_prob(x).sum(-1) + c  # noqa: E731  Z = e^c
    init = Independent(Normal(torch.zeros(d), 1.5 * torch.ones(d)), 1)
    est = ais_log_z(log_density, init, steps=steps, chains=128, generator=torch.Generator().manual_seed(0))
    assert est.stderr < 0.15
    assert abs(est.log_z - c) < 3 * est.stderr + 0.05


def test_ais_agrees_with_quadrature_in_2d():
    a = torch.arange(8) * (2 * math.pi / 8)
    centres = 2 * torch.stack([a.cos(), a.sin()], -1)
    energy = lambda x: -torch.logsumexp(-((x[:, None] - centres) ** 2).sum(-1) / (2 * 0.15**2), 1)  # noqa: E731
    init = Independent(Normal(torch.zeros(2), 2.0 * torch.ones(2)), 1)
    est = ais_log_z(lambda x: -energy(x), init, steps=500, chains=512, generator=torch.Generator().manual_seed(1))
    assert est.log_z == pytest.approx(grid_log_z(energy, -4, 4, 800), abs=0.05)


def test_ais_with_a_given_sampler_and_a_flow_start():
    import gencoop

    flow = gencoop.create("flow", "realnvp", dim=2, num_layers=2, hidden=8)
    log_density = lambda x: -0.5 * (x**2).sum(-1)  # noqa: E731  Z = 2π
    sampler = Langevin(steps=1, step_size=0.5, metropolis=True)
    est = ais_log_z(log_density, flow, steps=200, chains=256, sampler=sampler,
                    generator=torch.Generator().manual_seed(0))
    assert est.log_z == pytest.approx(math.log(2 * math.pi), abs=max(0.05, 3 * est.stderr))
    with pytest.raises(TypeError, match="init/step"):
        ais_log_z(log_density, flow, steps=5, chains=4, sampler=object())
    with pytest.raises(ValueError, match="metropolis=True"):  # an unadjusted chain would bias Z
        ais_log_z(log_density, flow, steps=5, chains=4, sampler=Langevin(steps=1, step_size=0.5))


def test_langevin_step_matches_run_without_noise():
    target = lambda x: -0.5 * (x**2).sum(-1)  # noqa: E731
    sampler = Langevin(steps=1, step_size=0.3, noise=0.0, clip=0.05)
    x0 = torch.randn(16, 3, generator=torch.Generator().manual_seed(0))
    state, accept = sampler.step(target, sampler.init(target, x0))
    assert accept.all()
    torch.testing.assert_close(state.x, sampler.run(target, x0).x)
    torch.testing.assert_close(state.grad, -state.x)


# -- the harness: every sample metric beside its floor, every density's NLL -------------------------------------

def test_evaluate_reports_floors_and_density_nlls(tmp_path, capsys):
    import json

    from gencoop.cli import main

    out = tmp_path / "run"
    assert main(["train", "coopflow-25gaussians", "--out", str(out), "--quiet", "--set", "train.steps=2",
                 "--set", "eval.samples=200", "--set", "eval.quadrature_cells=100", "--set", "model.sampler.steps=2",
                 "--set", 'model.energy={"name": "mlp", "hidden": [16]}',
                 "--set", 'model.flow={"name": "realnvp", "num_layers": 2, "hidden": 8}']) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    for key in ("c2st", "spread_ratio", "min_mode_share", "mmd", "hq_fraction"):
        assert key in metrics and f"{key}_floor" in metrics
    assert abs(metrics["c2st_floor"] - 0.5) < 0.1 and metrics["c2st"] > 0.55  # two training steps: far from data
    assert 0.85 < metrics["spread_ratio_floor"] < 1.1
    assert metrics["true_nll"] < 0.3 < metrics["ebm_nll"] and metrics["flow_nll"] > 1.0
    assert main(["evaluate", str(out)]) == 0
    table = capsys.readouterr().out
    assert "floor" in table and "true_nll" not in table  # the true density's NLL is the NLLs' floor column


def test_evaluate_on_images_reports_precision_recall_and_floors():
    import gencoop
    from gencoop.config import EvalSettings
    from gencoop.data.datasets import digits_dataset
    from gencoop.models.baselines import FlowModel
    from gencoop.train.evaluate import evaluate

    pytest.importorskip("sklearn")
    train, test = digits_dataset(split="train"), digits_dataset(split="test")
    flow = FlowModel(gencoop.create("flow", "glow", shape=(1, 8, 8), levels=1, steps_per_level=1, hidden_channels=8))

    m = evaluate(flow, test, EvalSettings(samples=200, batch_size=100), floor_data=train)
    for key in ("fd", "c2st", "precision", "recall", "density", "coverage"):
        assert f"{key}_floor" in m
    assert m["fd_floor"] < m["fd"] and m["c2st_floor"] < m["c2st"]  # an untrained flow is far from the data
    assert m["precision_floor"] > 0.5 and m["recall_floor"] > 0.5


def test_evaluate_gives_an_image_ebm_an_ais_nll_from_its_flow():
    import gencoop
    from gencoop.config import EvalSettings
    from gencoop.data.datasets import digits_dataset
    from gencoop.train.evaluate import evaluate

    pytest.importorskip("sklearn")
    test = digits_dataset(split="test", dequantize=True)
    model = gencoop.create("model", "coopflow", event_shape=(1, 8, 8),
                           energy={"name": "conv", "channels": 4, "blocks": 1},
                           flow={"name": "glow", "levels": 1, "steps_per_level": 1, "hidden_channels": 8},
                           sampler={"name": "langevin", "steps": 2, "step_size": 0.03, "noise": 0.0, "bounds": [-1, 1]})
    plain = evaluate(model, test, EvalSettings(samples=50, batch_size=50))
    assert "ebm_nll" not in plain and "flow_bits_per_dim" in plain  # AIS only when asked for
    m = evaluate(model, test, EvalSettings(samples=50, batch_size=50, ais_steps=20, ais_chains=8))
    assert math.isfinite(m["ebm_nll"]) and m["ebm_log_z_stderr"] >= 0
    assert m["ebm_bits_per_dim"] == pytest.approx(m["ebm_nll"] / (64 * math.log(2)) + math.log2(17 / 2) * 1, rel=1e-6)


def test_a_picture_leaves_the_training_stream_alone(tmp_path):
    """A VAE's picture draws importance samples for its density panel: inside the trainer's forked stream."""
    import gencoop
    from gencoop.config import load_run_config
    from gencoop.train import Trainer

    config = load_run_config(gencoop.create("recipe", "vae-25gaussians"), ["train.steps=1", "eval.samples=50"])
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    before = torch.get_rng_state()
    assert trainer.picture("p.png") is not None
    assert torch.equal(before, torch.get_rng_state()) and trainer.model.training


def test_ais_from_a_box_uniform_normalises_on_the_box_and_the_short_run_ebm_has_a_start():
    """From U[−2, 2]³, AIS gives Z of exp(−‖x‖²/2) restricted to the box (the truncated Gaussian's, in closed form),
    so a short-run EBM started from uniform noise (chains clamped to the box) is normalised where it lives."""
    import gencoop

    box = 3 * math.log(math.sqrt(2 * math.pi) * math.erf(2 / math.sqrt(2)))  # ∫ over [−2, 2]³
    ebm = gencoop.create("model", "ebm", event_shape=(3,), init="uniform", init_scale=2.0)
    start = ebm.densities()["ebm"].start
    est = ais_log_z(lambda x: -0.5 * x.square().sum(-1), start, steps=300, chains=256,
                    generator=torch.Generator().manual_seed(0))
    assert est.log_z == pytest.approx(box, abs=max(0.03, 3 * est.stderr))
    assert abs(box - 1.5 * math.log(2 * math.pi)) > 0.1  # the untruncated Z is told apart
    gaussian = gencoop.create("model", "ebm", event_shape=(3,), init="gaussian", init_scale=2.0)
    assert gaussian.densities()["ebm"].start.log_prob(torch.zeros(1, 3)).item() == pytest.approx(
        -1.5 * math.log(2 * math.pi * 4))
