"""CoopFlow recipes: 2-D toys, its Long and Pre variants, digits, MNIST-5k, Fashion-MNIST, CIFAR size."""

from __future__ import annotations

from gencoop.hookspecs import hookimpl
from gencoop.recipes import IMAGE_TRAIN, TOY_TRAIN, Recipes, recipe, register_recipes

TOYS = ("25gaussians", "rings", "swissroll", "checkerboard")

# The reference code's setting on the 2-D toys (recipes `coopflow-ref-*`): a LeakyReLU MLP energy (piecewise
# linear, for the sharp wells of the 25-Gaussians grid) with a Gaussian base (keeps chains from running off),
# noise-free Langevin (gradient ascent: an optimiser, not an MCMC, so it piles samples into the wells' bottoms)
# with the per-element drift clip and a clamp to the data's box; Adam (0.5, 0.999) for the EBM, 100-step revisions
# when sampling, samples from an EMA of the weights. Its numbers beside the floors: README, Benchmarks.
COOP_REF_TOY_MODEL = {
    "name": "coopflow",
    "energy": {"name": "mlp", "hidden": [256, 256, 256], "activation": "leaky_relu", "base_std": 3.0},
    "energy_reg": 0.001,
    "flow": {"name": "realnvp", "num_layers": 6, "hidden": 128},
    "sampler": {"name": "langevin", "steps": 30, "step_size": 0.5, "noise": 0.0, "clip": 0.1, "bounds": [-3, 3]},
    "sample_steps": 100,
}
COOP_REF_TOY_TRAIN = {**TOY_TRAIN, "optim": {"lr": 1e-3, "betas": [0.5, 0.999]}, "ema": 0.995,
                      "groups": {"flow": {"lr": 1e-3, "betas": [0.9, 0.999], "grad_clip": 10.0}}}
# CoopFlow on the toys as the paper's equations write it: Langevin with noise (30 steps of s = 0.05 in training,
# 100 when sampling; drift clip and box as above), with a spline flow (NSF) and 0.05·E². Chains move samples within
# a mode, not between modes, so alone they leave each mode's share to the flow, and the EBM's maximum-likelihood
# gradient turns a share error into a wrong well depth; so the chains persist and take the flow's proposals by
# independence Metropolis–Hastings (`independence_mh`), which corrects the shares toward exp(−E). The EBM's NLL was
# still falling at 3,000 steps, hence 6,000. Chosen on seed 0; the README's numbers are on seed 1.
COOP_TOY_MODEL = {
    **COOP_REF_TOY_MODEL,
    "energy_reg": 0.05,
    "flow": {"name": "nsf", "num_layers": 6, "hidden": 128, "num_bins": 16},
    "sampler": {"name": "langevin", "steps": 30, "step_size": 0.05, "noise": 1.0, "clip": 0.1, "bounds": [-3, 3]},
    "independence_mh": True,
}
COOP_TOY_TRAIN = {**COOP_REF_TOY_TRAIN, "steps": 6000}
# CoopFlow on images, the paper's settings: 30 steps, s = 0.03, no noise, drift clip 0.1, x clamped to [-1, 1].
# The data are dequantised (uniform noise one grey level wide), as for the flow baselines: on the 17 grey levels of
# the digits, Glow alone fitted the discrete values and its samples blew up (FD 2.6e20 after 1,500 steps). The flow
# learns from revised samples with a little noise (`flow_noise`, about a grey level) for the same reason: a clamped
# chain piles background pixels on −1.
COOP_IMAGE_MODEL = {
    "name": "coopflow", "energy": {"name": "conv", "channels": 32, "blocks": 2},
    "flow": {"name": "glow", "levels": 2, "steps_per_level": 4, "hidden_channels": 64},
    "sampler": {"name": "langevin", "steps": 30, "step_size": 0.03, "noise": 0.0, "clip": 0.1, "bounds": [-1, 1]},
    "flow_noise": 0.01,
}
COOP_IMAGE_TRAIN = {**IMAGE_TRAIN, "optim": {"lr": 1e-4, "betas": [0.5, 0.999], "skip_grad_norm": 1e6},
                    "groups": {"flow": {"lr": 1e-4, "betas": [0.9, 0.999], "grad_clip": 50.0, "warmup": 100}}}
# Digits (8×8, 17 grey levels), tuned on CPU: at s = 0.03 the chains hardly moved the flow's samples (0.006 per pixel
# and step) and the flow collapsed onto one image within 500 steps (FD 475); with s = 0.3 (the drift mostly at its
# 0.1 clip), flow noise of 0.4 grey level (0.05), a 16-channel energy and an EMA of the weights, FD fell to 239 by step
# 500 (seed 0).
COOP_DIGITS_MODEL = {**COOP_IMAGE_MODEL, "energy": {"name": "conv", "channels": 16, "blocks": 2},
                     "sampler": {**COOP_IMAGE_MODEL["sampler"], "step_size": 0.3}, "flow_noise": 0.05}
COOP_DIGITS_TRAIN = {**COOP_IMAGE_TRAIN, "ema": 0.995}


RECIPES: Recipes = {
    **{f"coopflow-{toy}": (f"CoopFlow on {toy}: a spline flow proposes, 30 noisy Langevin steps revise toward an "
                           "MLP EBM", recipe(f"coopflow-{toy}", {"name": toy, "n": 20000}, COOP_TOY_MODEL,
                                             COOP_TOY_TRAIN))
       for toy in TOYS},
    **{f"coopflow-ref-{toy}": (f"CoopFlow on {toy}, the reference code's setting: 30 noise-free (gradient-ascent) "
                               "steps with a clipped drift", recipe(f"coopflow-ref-{toy}", {"name": toy, "n": 20000},
                                                                    COOP_REF_TOY_MODEL, COOP_REF_TOY_TRAIN))
       for toy in TOYS},
    "coopflow-long-25gaussians": ("CoopFlow(Long): 100 Langevin steps per revision", recipe(
        "coopflow-long-25gaussians", {"name": "25gaussians", "n": 20000},
        {**COOP_TOY_MODEL, "sampler": {**COOP_TOY_MODEL["sampler"], "steps": 100}}, COOP_TOY_TRAIN)),
    "coopflow-pre-25gaussians": ("CoopFlow(Pre): the flow starts from a flow run (--set model.flow_run=RUN)",
                                 recipe("coopflow-pre-25gaussians", {"name": "25gaussians", "n": 20000},
                                         {**COOP_TOY_MODEL, "flow_run": "runs/flow-25gaussians"},
                                         COOP_TOY_TRAIN)),
    "coopflow-digits": ("CoopFlow on digits 8×8: Glow proposes, 30 Langevin steps (s=0.3, no noise) revise", recipe(
        "coopflow-digits", {"name": "digits", "split": "train", "dequantize": True}, COOP_DIGITS_MODEL,
        COOP_DIGITS_TRAIN, {"samples": 1000})),
    **{f"coopflow-{name}": (f"CoopFlow on {title}: Glow proposes, 30 Langevin steps (s=0.03, no noise) revise",
                            recipe(f"coopflow-{name}", {"name": data, "split": "train", "dequantize": True},
                                   COOP_IMAGE_MODEL, COOP_IMAGE_TRAIN, {"samples": 1000}))
       for name, data, title in (("mnist5k", "mnist5k", "MNIST-5k 28×28"), ("fashion", "fashion-mnist",
                                                                             "Fashion-MNIST 28×28"))},
    "coopflow-cifar": ("CoopFlow at CIFAR-10 size (3×32×32) for a GPU: --set data.path=YOUR.npz", recipe(
        "coopflow-cifar", {"name": "npz", "path": "cifar10.npz", "scale": "images", "dequantize": True},
        {**COOP_IMAGE_MODEL, "energy": {"name": "conv", "channels": 64, "blocks": 3},
         "flow": {"name": "glow", "levels": 3, "steps_per_level": 8, "hidden_channels": 256}},
        {**COOP_IMAGE_TRAIN, "steps": 100000, "batch_size": 64, "checkpoint_every": 1000, "eval_every": 5000,
         "sample_every": 1000}, {"samples": 10000})),
}


@hookimpl
def register_components(register) -> None:
    register_recipes(register, RECIPES)
