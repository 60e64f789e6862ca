"""Recipes of the baselines: flow, VAE, GLF and the short-run EBM, on toys and images."""

from __future__ import annotations

from gencoop.hookspecs import hookimpl
from gencoop.recipes import IMAGE_TRAIN, MLP, TOY_TRAIN, Recipes, lr, recipe, register_recipes

RECIPES: Recipes = {
    "flow-25gaussians": ("RealNVP by maximum likelihood on the 25-Gaussians grid", recipe(
        "flow-25gaussians", {"name": "25gaussians", "n": 20000},
        {"name": "flow", "flow": {"name": "realnvp", "num_layers": 6, "hidden": 128}},
        {**TOY_TRAIN, **lr(1e-3, grad_clip=10.0)})),
    "vae-25gaussians": ("VAE (latent 2, σ_x 0.1) on the 25-Gaussians grid", recipe(
        "vae-25gaussians", {"name": "25gaussians", "n": 20000},
        {"name": "vae", "latent_dim": 2, "sigma": 0.1, "encoder": {"name": "mlp", **MLP},
         "decoder": {"name": "mlp", **MLP}},
        {**TOY_TRAIN, **lr(1e-3)})),
    "glf-25gaussians": ("GLF: autoencoder (latent 2) + RealNVP prior on the 25-Gaussians grid", recipe(
        "glf-25gaussians", {"name": "25gaussians", "n": 20000},
        {"name": "glf", "latent_dim": 2, "encoder": {"name": "mlp", **MLP}, "decoder": {"name": "mlp", **MLP},
         "flow": {"name": "realnvp", "num_layers": 6, "hidden": 64}},
        {**TOY_TRAIN, **lr(1e-3)})),
    "ebm-25gaussians": ("Short-run EBM (Langevin from N(0, 4I)) on the 25-Gaussians grid", recipe(
        "ebm-25gaussians", {"name": "25gaussians", "n": 20000},
        {"name": "ebm", "energy": {"name": "mlp", **MLP}, "init_scale": 2.0, "energy_reg": 0.01,
         "sampler": {"name": "langevin", "steps": 60, "step_size": 0.05, "clip": 0.1}},
        {**TOY_TRAIN, **lr(1e-4, betas=[0.5, 0.999])})),
    "flow-digits": ("Glow by maximum likelihood on scikit-learn digits (8×8)", recipe(
        "flow-digits", {"name": "digits", "split": "train", "dequantize": True},
        {"name": "flow", "flow": {"name": "glow", "levels": 2, "steps_per_level": 4, "hidden_channels": 64}},
        {**IMAGE_TRAIN, **lr(1e-3, grad_clip=50.0, warmup=100)}, {"samples": 1000})),
    "vae-digits": ("Conv VAE (latent 16) on scikit-learn digits (8×8)", recipe(
        "vae-digits", {"name": "digits", "split": "train"},
        {"name": "vae", "latent_dim": 16, "sigma": 0.2, "encoder": {"name": "conv", "channels": 32},
         "decoder": {"name": "conv", "channels": 32}},
        {**IMAGE_TRAIN, **lr(1e-3)}, {"samples": 1000})),
    "glf-digits": ("GLF: conv autoencoder (latent 16) + RealNVP prior on digits (8×8)", recipe(
        "glf-digits", {"name": "digits", "split": "train"},
        {"name": "glf", "latent_dim": 16, "encoder": {"name": "conv", "channels": 32},
         "decoder": {"name": "conv", "channels": 32}, "flow": {"name": "realnvp", "num_layers": 6, "hidden": 128}},
        {**IMAGE_TRAIN, **lr(1e-3)}, {"samples": 1000})),
    "vae-mnist5k": ("Conv VAE (latent 32) on MNIST-5k (28×28)", recipe(
        "vae-mnist5k", {"name": "mnist5k", "split": "train"},
        {"name": "vae", "latent_dim": 32, "sigma": 0.2, "encoder": {"name": "conv", "channels": 32},
         "decoder": {"name": "conv", "channels": 32}},
        {**IMAGE_TRAIN, **lr(1e-3)}, {"samples": 1000})),
    "vae-fashion": ("Conv VAE (latent 32) on Fashion-MNIST (28×28)", recipe(
        "vae-fashion", {"name": "fashion-mnist", "split": "train"},
        {"name": "vae", "latent_dim": 32, "sigma": 0.2, "encoder": {"name": "conv", "channels": 32},
         "decoder": {"name": "conv", "channels": 32}},
        {**IMAGE_TRAIN, **lr(1e-3)}, {"samples": 1000})),
}


@hookimpl
def register_components(register) -> None:
    register_recipes(register, RECIPES)
