"""Latent variable model (LFBM / LEBM / ABP): posterior inference, learning, occluded data, tasks, recipes, CLI."""

import numpy as np
import pytest
import torch

import gencoop
from gencoop.cli import main
from gencoop.config import load_run_config
from gencoop.data.occlusion import OccludedDataset, observed, occlusion_mask
from gencoop.metrics import auprc
from gencoop.models.latent_variable import LatentVariableModel
from gencoop.recipes.latent_variable import RECIPES
from gencoop.train import Trainer

PRIORS = {
    "flow": {"name": "flow", "flow_params": {"num_layers": 2, "hidden": 16}},
    "ebm": {"name": "ebm", "hidden": [16, 16], "steps": 10},
    "gaussian": {"name": "gaussian"},
}


def small_lvm(prior="flow", dim=8, latent=2, steps=10, inference="mcmc", sigma=0.1):
    return gencoop.create("model", "lvm", event_shape=(dim,), latent_dim=latent, prior=PRIORS[prior],
                          decoder={"name": "mlp", "hidden": [32, 32]}, inference=inference,
                          encoder={"name": "mlp", "hidden": [32]},
                          sampler={"name": "langevin", "steps": steps, "step_size": 0.1}, sigma=sigma)


def toy_config(prior: str, steps: int, inference: str = "mcmc", **data) -> dict:
    return {
        "seed": 0, "data": {"name": "lifted", "n": 2000, **data},
        "model": {"name": "lvm", "latent_dim": 2, "prior": PRIORS[prior], "sigma": 0.1, "inference": inference,
                  "decoder": {"name": "mlp", "hidden": [32, 32]}, "encoder": {"name": "mlp", "hidden": [32]},
                  "sampler": {"name": "langevin", "steps": 10, "step_size": 0.1}},
        "train": {"steps": steps, "batch_size": 64, "optim": {"lr": 3e-3, "betas": [0.5, 0.999]}},
        "eval": {"samples": 200, "batch_size": 200},
    }


# -- groups and losses ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prior,inference,groups", [
    ("flow", "mcmc", {"prior", "decoder"}), ("ebm", "mcmc", {"prior", "decoder"}),
    ("gaussian", "mcmc", {"decoder"}), ("flow", "vae", {"prior", "decoder", "encoder"}),
    ("gaussian", "vae", {"decoder", "encoder"})])
def test_one_loss_per_group_and_each_reaches_its_own_part(prior, inference, groups):
    torch.manual_seed(0)
    model = small_lvm(prior, inference=inference)
    losses = model.losses(torch.randn(16, 8))
    assert set(losses) == set(model.parameter_groups()) == groups
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    dec = next(model.decoder.parameters())
    if "prior" in losses:  # the prior's loss does not reach the decoder (posterior samples are detached)
        (g,) = torch.autograd.grad(losses["prior"], [dec], allow_unused=True, retain_graph=True)
        assert g is None
    (g,) = torch.autograd.grad(losses["decoder"], [dec], retain_graph=True)
    assert g.abs().sum() > 0


def test_parts_must_fit_together():
    prior = gencoop.create("prior", "gaussian", latent_shape=3)
    decoder = gencoop.create("decoder", "mlp", latent_dim=2, dim=4)
    with pytest.raises(ValueError, match="prior: latent shape"):
        LatentVariableModel(prior, decoder, gencoop.create("sampler", "langevin"))
    with pytest.raises(TypeError, match="inference"):
        LatentVariableModel(gencoop.create("prior", "gaussian", latent_shape=2), decoder, torch.nn.Identity())
    with pytest.raises(gencoop.ConfigError, match="inference"):
        gencoop.create("model", "lvm", inference="gibbs")


# -- posterior inference ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prior", ["flow", "ebm", "gaussian"])
def test_posterior_langevin_lowers_the_negative_log_joint_along_the_chain(prior):
    torch.manual_seed(0)
    model = small_lvm(prior, steps=30)
    x = model.sample(64) + 0.05 * torch.randn(64, 8)  # data the model can explain
    res = model.posterior_chain(x, steps=30, seed=1, every=10)
    assert res.trajectory.shape == (4, 64, 2)
    with torch.no_grad():
        nlj = torch.stack([-model.log_joint(x, z).mean() for z in res.trajectory])  # (4,)
    assert bool((nlj[1:] < nlj[:-1]).all()), nlj
    assert res.diagnostics["log_density_end"].mean() > res.diagnostics["log_density_start"].mean()


def test_infer_warm_start_and_seed():
    model = small_lvm()
    x = torch.randn(5, 8)
    z0 = torch.randn(5, 2)
    assert torch.equal(model.infer(x, z0=z0, steps=0), z0)  # a warm start is where the chain begins
    assert torch.equal(model.infer(x, seed=3), model.infer(x, seed=3))
    assert not torch.equal(model.infer(x, seed=3), model.infer(x, seed=4))
    with pytest.raises(ValueError, match="z0"):
        model.infer(x, z0=torch.randn(4, 2))


# -- priors learn from posterior samples ---------------------------------------------------------------------------

@pytest.mark.parametrize("name,params", [
    ("gaussian", {"latent_shape": 2, "learnable": True}),
    ("flow", {"latent_dim": 2, "flow_params": {"num_layers": 2, "hidden": 16}}),
    ("ebm", {"latent_dim": 2, "hidden": [32, 32], "steps": 20, "step_size": 0.4}),
])
def test_fit_loss_moves_each_prior_toward_a_known_target(name, params):
    torch.manual_seed(0)
    prior = gencoop.create("prior", name, **params)
    target = torch.tensor([1.5, -1.0])
    opt = torch.optim.Adam(prior.parameters(), lr=2e-2, betas=(0.5, 0.999))

    def mean_error() -> float:
        with torch.no_grad():
            return float((prior.sample(500).mean(0) - target).norm())

    before = mean_error()
    for _ in range(150):
        z = target + 0.5 * torch.randn(128, 2)  # "posterior samples" from N(target, 0.25 I)
        opt.zero_grad()
        prior.fit_loss(z).backward()
        opt.step()
    assert mean_error() < 0.4 * before


def test_a_fixed_gaussian_prior_has_no_group_and_trains_with_the_trainer(tmp_path):
    trainer = Trainer(load_run_config(toy_config("gaussian", 3)), tmp_path, quiet=True)
    assert set(trainer.optimizers) == {"decoder"}
    trainer.fit()


# -- learning -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prior,inference", [("flow", "mcmc"), ("gaussian", "mcmc"), ("ebm", "mcmc"),
                                             ("flow", "vae")])
def test_a_short_run_on_a_toy_improves_reconstruction(tmp_path, prior, inference):
    trainer = Trainer(load_run_config(toy_config(prior, 120, inference)), tmp_path, quiet=True)
    x = trainer.eval_data.x[:256]
    before = float((trainer.model.reconstruct(x) - x).square().mean())
    metrics = trainer.fit()
    after = float((trainer.model.reconstruct(x) - x).square().mean())
    assert after < 0.3 * before, (before, after)
    assert metrics["recon_mse"] < 0.3 * before and np.isfinite(metrics["neg_log_joint"])


@pytest.mark.parametrize("inference", ["mcmc", "vae"])
def test_masked_training_ignores_the_masked_pixels(inference):
    model = small_lvm("ebm", inference=inference)
    x = torch.randn(16, 8)
    mask = (torch.rand(16, 8) > 0.4).float()
    other = torch.where(mask > 0, x, 100 * torch.randn(16, 8))  # different values behind the mask
    nan = torch.where(mask > 0, x, torch.full((), float("nan")))  # hidden entries as NaN

    def losses_and_grads(batch, m):
        torch.manual_seed(0)
        losses = model.losses(batch, m)
        grads = {g: torch.autograd.grad(losses[g], ps, retain_graph=True, allow_unused=True)
                 for g, ps in model.parameter_groups().items()}
        return losses, grads

    ref_l, ref_g = losses_and_grads(x, mask)
    for batch, m in ((other, mask), (nan, None)):
        losses, grads = losses_and_grads(batch, m)
        for g in ref_l:
            assert torch.allclose(losses[g], ref_l[g]), g
            assert all((a is None and b is None) or torch.allclose(a, b)
                       for a, b in zip(grads[g], ref_g[g])), g
    torch.manual_seed(0)  # and the mask matters: all observed gives another loss
    assert not torch.allclose(model.losses(other)["decoder"], ref_l["decoder"])


def test_anomaly_score_of_a_trained_toy_model_separates_a_far_away_cluster(tmp_path):
    trainer = Trainer(load_run_config(toy_config("flow", 150)), tmp_path, quiet=True)
    trainer.fit()
    normal = trainer.eval_data.x[:300]
    far = gencoop.create("dataset", "lifted", n=30, seed=5).x
    far = far + 4.0 * torch.nn.functional.normalize(far.mean(0, keepdim=True) - normal.mean(0), dim=-1)
    scores = trainer.model.anomaly_score(torch.cat([normal, far]))
    assert scores.shape == (330,)
    labels = torch.cat([torch.zeros(300), torch.ones(30)])
    assert auprc(scores, labels) > 0.9


# -- tasks --------------------------------------------------------------------------------------------------------

def test_inpaint_recover_and_sample_shapes():
    torch.manual_seed(0)
    model = small_lvm()
    x = torch.randn(4, 8)
    mask = torch.tensor([[1.0, 1, 1, 1, 0, 0, 0, 0]])
    filled = model.inpaint(x, mask, n_init=3, steps=5)
    assert filled.shape == (3, 4, 8)
    assert torch.equal(filled[:, :, :4], x[:, :4].expand(3, 4, 4))  # observed entries kept
    assert not torch.allclose(filled[0], filled[1])  # independent initialisations
    nan = torch.where(mask > 0, x, torch.full((), float("nan")))
    assert torch.equal(model.recover(nan, steps=5), model.recover(x, mask, steps=5))
    assert model.sample(7).shape == (7, 8) and model.reconstruct(x, steps=3).shape == (4, 8)
    with pytest.raises(ValueError, match="mask"):
        model.recover(x, torch.ones(3, 8))


def test_occlusion_masks_and_the_occluded_dataset():
    sp = occlusion_mask(200, (1, 28, 28), "salt_pepper", fraction=0.3, seed=0)
    assert abs(float(1 - sp.mean()) - 0.3) < 0.02
    sq = occlusion_mask(5, (3, 16, 16), "square", size=6, seed=0)
    assert torch.equal((1 - sq).sum((1, 2, 3)), torch.full((5,), 3 * 36.0))
    assert torch.equal(occlusion_mask(5, (3, 16, 16), "square", size=6, seed=0), sq)
    with pytest.raises(ValueError, match="size"):
        occlusion_mask(1, (1, 8, 8), "square", size=9)
    data = gencoop.create("dataset", "occluded", data={"name": "lifted", "n": 100}, fraction=0.25)
    assert isinstance(data, OccludedDataset) and torch.equal(torch.isnan(data.x), data.mask == 0)
    assert torch.equal(observed(data.x)[1], data.mask)
    clean = gencoop.create("dataset", "occluded", data={"name": "lifted", "n": 100}, split="test")
    assert bool(torch.isfinite(clean.x).all())  # held-out data stay clean for evaluation
    assert not torch.equal(clean.x, data.clean)  # and are held out: a toy's test set is a fresh draw


# -- recipes and the command line ----------------------------------------------------------------------------------

def test_every_recipe_validates_and_builds():
    for name in RECIPES:
        config = load_run_config(gencoop.create("recipe", name))
        shape = {"lifted": (8,), "8gaussians": (2,), "digits": (1, 8, 8), "npz": (3, 64, 64) if "celeba" in name
                 else (3, 32, 32)}.get(config.data.name, (1, 28, 28))
        model = gencoop.create("model", "lvm", event_shape=shape, **config.model.params)
        assert isinstance(model, LatentVariableModel) and model.event_shape == shape
    assert {"lfbm-mnist5k", "lebm-mnist5k", "abp-mnist5k", "lfbm-vae-mnist5k", "lfbm-cifar"} <= set(RECIPES)


def test_paper_size_recipe_takes_a_step(tmp_path, cifar_npz, one_small_step):
    config = load_run_config(gencoop.create("recipe", "lfbm-svhn"),
                             [f"data.path={cifar_npz}", *one_small_step, "model.sampler.steps=2"])
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    assert trainer.model.latent_shape == (100,) and set(trainer.optimizers) == {"prior", "decoder"}
    assert all(np.isfinite(v) for v in trainer.train_step().values())


def test_cli_tasks_on_tiny_runs(tmp_path, capsys):
    pytest.importorskip("sklearn")
    tiny = ["--quiet", "--set", "train.steps=3", "--set", "eval.samples=32", "--set", "model.sampler.steps=3",
            "--set", 'model.decoder={"name": "conv", "channels": 4}', "--set", "model.latent_dim=4",
            "--set", 'model.prior={"name": "flow", "flow_params": {"num_layers": 2, "hidden": 8}}']
    run = tmp_path / "digits"
    assert main(["train", "lfbm-digits", "--out", str(run), *tiny]) == 0
    assert main(["reconstruct", str(run), "-n", "4", "--iters", "2", "-o", str(tmp_path / "r.png")]) == 0
    assert "reconstruction MSE" in capsys.readouterr().out
    assert main(["inpaint", str(run), "-n", "2", "--inits", "2", "-o", str(tmp_path / "p.png")]) == 0
    assert "inpainting MSE" in capsys.readouterr().out
    assert main(["recover", str(run), "-n", "3", "--occlusion", "square", "-o", str(tmp_path / "s.png")]) == 0
    assert "held-out images" in capsys.readouterr().out
    occluded = tmp_path / "occluded"
    assert main(["train", "lfbm-digits", "--out", str(occluded), *tiny, "--set",
                 'data={"name": "occluded", "data": {"name": "digits"}, "fraction": 0.3}']) == 0
    assert main(["recover", str(occluded), "-n", "3", "-o", str(tmp_path / "o.png")]) == 0
    assert "training images, occluded" in capsys.readouterr().out
    for f in ("r.png", "p.png", "s.png", "o.png"):
        assert (tmp_path / f).read_bytes()[:4] == b"\x89PNG"
