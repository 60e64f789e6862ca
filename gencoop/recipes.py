"""Built-in recipes: named run configurations (``gencoop train RECIPE``), registered as kind ``recipe``.

A recipe factory returns a plain dict in the shape of :class:`gencoop.config.RunConfig`; any field can be changed
from the command line (``--set data.name=rings --set train.steps=500 --set seed=3``).
"""

from __future__ import annotations

from typing import Any, Callable

from gencoop.hookspecs import hookimpl

TOY_TRAIN = {"steps": 3000, "batch_size": 256, "eval_every": 1000, "sample_every": 1000, "checkpoint_every": 500}
IMAGE_TRAIN = {"steps": 3000, "batch_size": 128, "eval_every": 1000, "sample_every": 1000, "checkpoint_every": 500}
MLP = {"hidden": [128, 128]}

# CoopFlow on 2-D toys: a LeakyReLU MLP energy (piecewise linear: it can carve the sharp wells the 25-Gaussians
# grid needs; a smooth SiLU MLP of the same size stayed at a high-quality fraction of 0.1 in 3,000 steps) with a
# Gaussian base (keeps chains from running off), noise-free Langevin with the reference code's per-element drift
# clip and a clamp to the data's box; Adam (0.5, 0.999) for the EBM.
COOP_TOY_MODEL = {
    "name": "coopflow",
    "energy": {"name": "mlp", "hidden": [256, 256, 256], "activation": "leaky_relu", "base_std": 3.0},
    "energy_reg": 0.001,
    "flow": {"name": "realnvp", "num_layers": 6, "hidden": 128},
    "sampler": {"name": "langevin", "steps": 30, "step_size": 0.5, "noise": 0.0, "clip": 0.1, "bounds": [-3, 3]},
}
COOP_TOY_TRAIN = {**TOY_TRAIN, "optim": {"lr": 1e-3, "betas": [0.5, 0.999]},
                  "groups": {"flow": {"lr": 1e-3, "betas": [0.9, 0.999], "grad_clip": 10.0}}}
# CoopFlow on images, the paper's settings: 30 steps, s = 0.03, no noise, drift clip 0.1, x clamped to [-1, 1].
COOP_IMAGE_MODEL = {
    "name": "coopflow", "energy": {"name": "conv", "channels": 32, "blocks": 2},
    "flow": {"name": "glow", "levels": 2, "steps_per_level": 4, "hidden_channels": 64},
    "sampler": {"name": "langevin", "steps": 30, "step_size": 0.03, "noise": 0.0, "clip": 0.1, "bounds": [-1, 1]},
}
COOP_IMAGE_TRAIN = {**IMAGE_TRAIN, "optim": {"lr": 1e-4, "betas": [0.5, 0.999], "skip_grad_norm": 1e6},
                    "groups": {"flow": {"lr": 1e-4, "betas": [0.9, 0.999], "grad_clip": 50.0, "warmup": 100}}}


def _recipe(name: str, data: dict[str, Any], model: dict[str, Any], train: dict[str, Any],
            evaluation: dict[str, Any] | None = None) -> Callable[[], dict[str, Any]]:
    def factory() -> dict[str, Any]:
        cfg = {"recipe": name, "data": dict(data), "model": dict(model), "train": dict(train)}
        if evaluation:
            cfg["eval"] = dict(evaluation)
        return cfg

    factory.__name__ = f"recipe_{name.replace('-', '_')}"
    return factory


def _lr(lr: float, **extra: Any) -> dict[str, Any]:
    return {"optim": {"lr": lr, **extra}}


RECIPES: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
    "flow-25gaussians": ("RealNVP by maximum likelihood on the 25-Gaussians grid", _recipe(
        "flow-25gaussians", {"name": "25gaussians", "n": 20000},
        {"name": "flow", "flow": {"name": "realnvp", "num_layers": 6, "hidden": 128}},
        {**TOY_TRAIN, **_lr(1e-3, grad_clip=10.0)})),
    "vae-25gaussians": ("VAE (latent 2, σ_x 0.1) on the 25-Gaussians grid", _recipe(
        "vae-25gaussians", {"name": "25gaussians", "n": 20000},
        {"name": "vae", "latent_dim": 2, "sigma": 0.1, "encoder": {"name": "mlp", **MLP},
         "decoder": {"name": "mlp", **MLP}},
        {**TOY_TRAIN, **_lr(1e-3)})),
    "glf-25gaussians": ("GLF: autoencoder (latent 2) + RealNVP prior on the 25-Gaussians grid", _recipe(
        "glf-25gaussians", {"name": "25gaussians", "n": 20000},
        {"name": "glf", "latent_dim": 2, "encoder": {"name": "mlp", **MLP}, "decoder": {"name": "mlp", **MLP},
         "flow": {"name": "realnvp", "num_layers": 6, "hidden": 64}},
        {**TOY_TRAIN, **_lr(1e-3)})),
    "ebm-25gaussians": ("Short-run EBM (Langevin from N(0, 4I)) on the 25-Gaussians grid", _recipe(
        "ebm-25gaussians", {"name": "25gaussians", "n": 20000},
        {"name": "ebm", "energy": {"name": "mlp", **MLP}, "init_scale": 2.0, "energy_reg": 0.01,
         "sampler": {"name": "langevin", "steps": 60, "step_size": 0.05, "clip": 0.1}},
        {**TOY_TRAIN, **_lr(1e-4, betas=[0.5, 0.999])})),
    **{f"coopflow-{toy}": (f"CoopFlow on {toy}: RealNVP proposes, 30 Langevin steps revise toward an MLP EBM",
                           _recipe(f"coopflow-{toy}", {"name": toy, "n": 20000}, COOP_TOY_MODEL, COOP_TOY_TRAIN))
       for toy in ("25gaussians", "rings", "swissroll", "checkerboard")},
    "coopflow-long-25gaussians": ("CoopFlow(Long): 100 Langevin steps per revision", _recipe(
        "coopflow-long-25gaussians", {"name": "25gaussians", "n": 20000},
        {**COOP_TOY_MODEL, "sampler": {**COOP_TOY_MODEL["sampler"], "steps": 100}}, COOP_TOY_TRAIN)),
    "coopflow-pre-25gaussians": ("CoopFlow(Pre): the flow starts from a flow run (--set model.flow_run=RUN)",
                                 _recipe("coopflow-pre-25gaussians", {"name": "25gaussians", "n": 20000},
                                         {**COOP_TOY_MODEL, "flow_run": "runs/flow-25gaussians"}, COOP_TOY_TRAIN)),
    **{f"coopflow-{name}": (f"CoopFlow on {title}: Glow proposes, 30 Langevin steps (s=0.03, no noise) revise",
                            _recipe(f"coopflow-{name}", {"name": data, "split": "train"}, COOP_IMAGE_MODEL,
                                    COOP_IMAGE_TRAIN, {"samples": 1000}))
       for name, data, title in (("digits", "digits", "digits 8×8"), ("mnist5k", "mnist5k", "MNIST-5k 28×28"),
                                 ("fashion", "fashion-mnist", "Fashion-MNIST 28×28"))},
    "coopflow-cifar": ("CoopFlow at CIFAR-10 size (3×32×32) for a GPU: --set data.path=YOUR.npz", _recipe(
        "coopflow-cifar", {"name": "npz", "path": "cifar10.npz", "scale": "images"},
        {**COOP_IMAGE_MODEL, "energy": {"name": "conv", "channels": 64, "blocks": 3},
         "flow": {"name": "glow", "levels": 3, "steps_per_level": 8, "hidden_channels": 256}},
        {**COOP_IMAGE_TRAIN, "steps": 100000, "batch_size": 64, "checkpoint_every": 1000, "eval_every": 5000,
         "sample_every": 1000}, {"samples": 10000})),
    "flow-digits": ("Glow by maximum likelihood on scikit-learn digits (8×8)", _recipe(
        "flow-digits", {"name": "digits", "split": "train", "dequantize": True},
        {"name": "flow", "flow": {"name": "glow", "levels": 2, "steps_per_level": 4, "hidden_channels": 64}},
        {**IMAGE_TRAIN, **_lr(1e-3, grad_clip=50.0, warmup=100)}, {"samples": 1000})),
    "vae-digits": ("Conv VAE (latent 16) on scikit-learn digits (8×8)", _recipe(
        "vae-digits", {"name": "digits", "split": "train"},
        {"name": "vae", "latent_dim": 16, "sigma": 0.2, "encoder": {"name": "conv", "channels": 32},
         "decoder": {"name": "conv", "channels": 32}},
        {**IMAGE_TRAIN, **_lr(1e-3)}, {"samples": 1000})),
    "glf-digits": ("GLF: conv autoencoder (latent 16) + RealNVP prior on digits (8×8)", _recipe(
        "glf-digits", {"name": "digits", "split": "train"},
        {"name": "glf", "latent_dim": 16, "encoder": {"name": "conv", "channels": 32},
         "decoder": {"name": "conv", "channels": 32}, "flow": {"name": "realnvp", "num_layers": 6, "hidden": 128}},
        {**IMAGE_TRAIN, **_lr(1e-3)}, {"samples": 1000})),
    "vae-mnist5k": ("Conv VAE (latent 32) on MNIST-5k (28×28)", _recipe(
        "vae-mnist5k", {"name": "mnist5k", "split": "train"},
        {"name": "vae", "latent_dim": 32, "sigma": 0.2, "encoder": {"name": "conv", "channels": 32},
         "decoder": {"name": "conv", "channels": 32}},
        {**IMAGE_TRAIN, **_lr(1e-3)}, {"samples": 1000})),
    "vae-fashion": ("Conv VAE (latent 32) on Fashion-MNIST (28×28)", _recipe(
        "vae-fashion", {"name": "fashion-mnist", "split": "train"},
        {"name": "vae", "latent_dim": 32, "sigma": 0.2, "encoder": {"name": "conv", "channels": 32},
         "decoder": {"name": "conv", "channels": 32}},
        {**IMAGE_TRAIN, **_lr(1e-3)}, {"samples": 1000})),
}


@hookimpl
def register_components(register) -> None:
    for name, (summary, factory) in RECIPES.items():
        register("recipe", name, factory, summary=summary)
