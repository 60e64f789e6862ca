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
    **{f"{kind}-swissroll": (f"{kind.upper()} (latent 2) on the swiss roll (a base for tilting)", recipe(
        f"{kind}-swissroll", {"name": "swissroll", "n": 20000},
        {"name": kind, "latent_dim": 2, "encoder": {"name": "mlp", **MLP}, "decoder": {"name": "mlp", **MLP},
         **({"sigma": 0.1} if kind == "vae" else {"flow": {"name": "realnvp", "num_layers": 6, "hidden": 64}})},
        {**TOY_TRAIN, **lr(1e-3)})) for kind in ("vae", "glf")},
    **{f"flow-{name}": (f"Glow by maximum likelihood on {title}", recipe(
        f"flow-{name}", {"name": data, "split": "train", "dequantize": True},
        {"name": "flow", "flow": {"name": "glow", "levels": 2, "steps_per_level": 8, "hidden_channels": 64}},
        {**IMAGE_TRAIN, **lr(5e-4, grad_clip=50.0, warmup=100)}, {"samples": 1000}))
       for name, data, title in (("mnist5k", "mnist5k", "MNIST-5k (28×28)"),
                                 ("fashion", "fashion-mnist", "Fashion-MNIST (28×28)"))},
    # GLF's latents have no prior pulling them in (the flow's NLL stops at the encoder): at lr 1e-3 on MNIST-5k they
    # grew to a scale of about 76 and the tanh decoder saturated on the background (reconstruction MSE stuck at 0.446
    # from step 400 on); at 3e-4 the latents stay at about 18 and after 1,500 steps the MSE is 0.024, FD 244.8.
    **{f"glf-{name}": (f"GLF: conv autoencoder (latent 32) + RealNVP prior on {title}", recipe(
        f"glf-{name}", {"name": data, "split": "train"},
        {"name": "glf", "latent_dim": 32, "encoder": {"name": "conv", "channels": 32},
         "decoder": {"name": "conv", "channels": 32}, "flow": {"name": "realnvp", "num_layers": 6, "hidden": 256}},
        {**IMAGE_TRAIN, **lr(3e-4)}, {"samples": 1000}))
       for name, data, title in (("mnist5k", "mnist5k", "MNIST-5k (28×28)"),
                                 ("fashion", "fashion-mnist", "Fashion-MNIST (28×28)"))},
    # CIFAR-10 size, for a GPU user with a copy of the data (--set data.path=YOUR.npz); the tilting papers' sizes
    "flow-cifar": ("Glow at CIFAR-10 size (3×32×32) for a GPU: --set data.path=YOUR.npz", recipe(
        "flow-cifar", {"name": "npz", "path": "cifar10.npz", "scale": "images", "dequantize": True},
        {"name": "flow", "flow": {"name": "glow", "levels": 3, "steps_per_level": 32, "hidden_channels": 256}},
        {**IMAGE_TRAIN, "steps": 200000, "batch_size": 64, **lr(5e-4, grad_clip=50.0, warmup=1000)},
        {"samples": 10000})),
    **{f"{kind}-cifar": (f"{kind.upper()} (latent {dim}) at CIFAR-10 size for a GPU: --set data.path=YOUR.npz",
                         recipe(f"{kind}-cifar", {"name": "npz", "path": "cifar10.npz", "scale": "images"},
                                {"name": kind, "latent_dim": dim, "encoder": {"name": "conv", "channels": 64},
                                 "decoder": {"name": "conv", "channels": 64},
                                 **({"sigma": 0.1} if kind == "vae" else
                                    {"flow": {"name": "realnvp", "num_layers": 4, "hidden": 256}})},
                                {**IMAGE_TRAIN, "steps": 100000, "batch_size": 128, **lr(1e-3)}, {"samples": 10000}))
       for kind, dim in (("vae", 100), ("glf", 64))},
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
