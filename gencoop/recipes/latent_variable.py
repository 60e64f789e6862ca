"""Latent variable model recipes: the same model (``lvm``) with a flow prior (LFBM), an energy-based prior (LEBM,
Pang et al.) or N(0, I) (ABP), on 2-D and 8-D toys, digits, MNIST-5k, Fashion-MNIST, occluded MNIST-5k, and at the
paper's SVHN / CIFAR-10 / CelebA sizes for a GPU.

Paper settings (the LFBM reference code, see shared/papers/README.md): prior flow of 5 × [ActNorm, invertible
linear, affine coupling with a zero-initialised MLP of width 64]; posterior Langevin s = 0.1 (ξ = s²/2), 20–40
steps, from N(0, I) each time; σ = 0.3; Adam (0.5, 0.999), lr 3e-4–4e-4. LEBM prior: MLP energy 200-200, prior
Langevin s = 0.4, 60 steps, lr 2e-5.
"""

from __future__ import annotations

from typing import Any

from gencoop.hookspecs import hookimpl
from gencoop.recipes import IMAGE_TRAIN, TOY_TRAIN, Recipes, recipe, register_recipes

PAPER_FLOW = {"flow": "realnvp", "flow_params": {"num_layers": 5, "hidden": 64, "zero_init": True}}
PRIORS: dict[str, dict[str, Any]] = {
    "lfbm": {"name": "flow", **PAPER_FLOW},
    "lebm": {"name": "ebm", "hidden": [200, 200], "steps": 60, "step_size": 0.4},
    "abp": {"name": "gaussian"},
}
TITLES = {"lfbm": "flow prior (LFBM)", "lebm": "energy-based prior (LEBM)", "abp": "N(0, I) prior (ABP)"}
PAPER_LANGEVIN = {"name": "langevin", "steps": 20, "step_size": 0.1}
ADAM = {"betas": [0.5, 0.999]}


def _groups(prior: str, image: bool) -> dict[str, Any]:
    """Per-group optimiser overrides: the EBM prior learns slowly (Pang et al.); N(0, I) has no prior group."""
    if prior == "lebm":
        return {"groups": {"prior": {"lr": 2e-5 if image else 1e-4}}}
    return {}


def _toy(prior: str, data: dict[str, Any], dim_note: str) -> tuple[str, Any]:
    name = f"{prior}-{data['name'] if data['name'] != 'lifted' else 'lifted8'}"
    model = {"name": "lvm", "latent_dim": 2, "prior": PRIORS[prior] if prior != "lfbm" else
             {"name": "flow", "flow": "realnvp", "flow_params": {"num_layers": 4, "hidden": 64}},
             "decoder": {"name": "mlp", "hidden": [128, 128]}, "sigma": 0.1,
             "sampler": {"name": "langevin", "steps": 30, "step_size": 0.1}}
    if prior == "lebm":
        model["prior"] = {**PRIORS["lebm"], "hidden": [64, 64], "steps": 30}
    train = {**TOY_TRAIN, "batch_size": 128, "optim": {"lr": 1e-3, **ADAM}, **_groups(prior, False)}
    return name, (f"Latent variable model, {TITLES[prior]}, latent 2, on {dim_note}",
                  recipe(name, data, model, train))


def _image(prior: str, key: str, data: dict[str, Any], latent: int, title: str, **model_extra: Any) -> tuple[str, Any]:
    name = f"{prior}-{key}"
    model = {"name": "lvm", "latent_dim": latent, "prior": PRIORS[prior],
             "decoder": {"name": "conv", "channels": 32}, "sigma": 0.3, "sampler": PAPER_LANGEVIN, **model_extra}
    train = {**IMAGE_TRAIN, "batch_size": 100, "optim": {"lr": 3e-4, **ADAM}, **_groups(prior, True)}
    return name, (f"Latent variable model, {TITLES[prior]}, latent {latent}, on {title}",
                  recipe(name, data, model, train, {"samples": 1000}))


def _paper(key: str, path: str, latent: int, channels: int, steps: int, title: str) -> tuple[str, Any]:
    """The paper's setting at SVHN / CIFAR-10 / CelebA size, for a GPU: --set data.path=YOUR.npz."""
    name = f"lfbm-{key}"
    model = {"name": "lvm", "latent_dim": latent, "prior": PRIORS["lfbm"],
             "decoder": {"name": "conv", "channels": channels}, "sigma": 0.3,
             "sampler": {**PAPER_LANGEVIN, "steps": steps}}
    train = {**IMAGE_TRAIN, "steps": 100_000, "batch_size": 100, "checkpoint_every": 1000, "eval_every": 5000,
             "sample_every": 1000, "optim": {"lr": 3e-4, **ADAM}, "groups": {"prior": {"lr": 4e-4}}}
    summary = f"LFBM at {title} size for a GPU (latent {latent}, {steps} Langevin steps): --set data.path=YOUR.npz"
    return name, (summary, recipe(name, {"name": "npz", "path": path, "scale": "images"}, model, train,
                                  {"samples": 10000}))


RECIPES: Recipes = dict([
    *(_toy(p, {"name": "8gaussians", "n": 20000}, "2-D 8 Gaussians") for p in PRIORS),
    *(_toy(p, {"name": "lifted", "toy": "8gaussians", "dim": 8, "n": 20000}, "8 Gaussians lifted to 8-D")
      for p in PRIORS),
    *(_image(p, "digits", {"name": "digits", "split": "train"}, 16, "digits 8×8") for p in PRIORS),
    *(_image(p, "mnist5k", {"name": "mnist5k", "split": "train"}, 32, "MNIST-5k 28×28") for p in PRIORS),
    *(_image(p, "fashion", {"name": "fashion-mnist", "split": "train"}, 32, "Fashion-MNIST 28×28") for p in PRIORS),
    _image("lfbm", "vae-mnist5k", {"name": "mnist5k", "split": "train"}, 32,
           "MNIST-5k with a jointly trained encoder (LFBM-VAE)", inference="vae", encoder={"name": "conv"}),
    *(_image(p, "occluded-mnist5k",
             {"name": "occluded", "data": {"name": "mnist5k"}, "kind": "salt_pepper", "fraction": 0.5}, 32,
             "MNIST-5k with 50% salt-and-pepper occlusion (--set data.kind=square --set data.size=14; "
             "recover with `gencoop recover RUN`)") for p in PRIORS),
    _paper("svhn", "svhn.npz", 100, 64, 20, "SVHN (3×32×32)"),
    _paper("cifar", "cifar10.npz", 128, 64, 40, "CIFAR-10 (3×32×32)"),
    _paper("celeba", "celeba64.npz", 100, 64, 40, "CelebA (3×64×64)"),
])


@hookimpl
def register_components(register) -> None:
    register_recipes(register, RECIPES)
