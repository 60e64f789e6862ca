"""Exponential tilting in plain Python: train a small VAE, freeze it, tilt its latent by a data-space energy.

    python examples/tilting.py                          # a few minutes on 2 CPU cores, writes tilting_example.png
    python examples/tilting.py --base runs/vae-25gaussians   # tilt the VAE of a finished run instead
    python examples/tilting.py --smoke                  # a few steps (what the test runs)
"""

import argparse

import torch

import gencoop
from gencoop.metrics import mode_coverage
from gencoop.models import VAE, ExponentialTilting
from gencoop.viz import plot_2d


def train_vae(data: torch.Tensor, steps: int) -> VAE:
    """A VAE with a 2-D latent, trained briefly by its negative ELBO (the base generator)."""
    vae = gencoop.create("model", "vae", event_shape=(2,), latent_dim=2, sigma=0.1,
                         encoder={"name": "mlp", "hidden": [128, 128]}, decoder={"name": "mlp", "hidden": [128, 128]})
    opt = torch.optim.Adam(vae.parameters(), lr=1e-3)
    for _ in range(steps):
        loss = vae.losses(data[torch.randint(len(data), (256,))])["vae"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return vae


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", help="a finished run folder of a generator (vae, glf, flow) to tilt")
    parser.add_argument("--base-steps", type=int, default=3000)
    parser.add_argument("--steps", type=int, default=600, help="tilting steps")
    parser.add_argument("--smoke", action="store_true", help="run a handful of steps")
    parser.add_argument("--out", default="tilting_example.png")
    args = parser.parse_args()
    torch.manual_seed(0)
    data = gencoop.create("dataset", "25gaussians", n=20_000)

    # 1. the base: a finished run, or a VAE trained here; it is frozen from now on
    if args.base:
        from gencoop.train import load_run

        base = load_run(args.base).model
    else:
        base = train_vae(data.x, 5 if args.smoke else args.base_steps)

    # 2. the parts of the tilt: a data-space energy and the paper's latent Langevin (ε = 0.01 ⇒ s = 0.1)
    energy = gencoop.create("energy", "mlp", dim=2, hidden=(128, 128), activation="leaky_relu")
    sampler = gencoop.create("sampler", "langevin", steps=5 if args.smoke else 60, step_size=0.1)
    model = ExponentialTilting(base, energy, sampler, energy_reg=0.1, sample_steps=5 if args.smoke else 100)

    # 3. a plain loop: only the energy learns (the base's parameters are frozen)
    opt = torch.optim.Adam(model.parameter_groups()["energy"], lr=5e-3, betas=(0.5, 0.999))
    for step in range(3 if args.smoke else args.steps):
        loss = model.losses(data.x[torch.randint(len(data), (256,))])["energy"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0:
            print(f"step {step}: energy loss {loss.item():.3f}")

    # 4. base and tilted samples side by side
    with torch.no_grad():
        x_base = base.sample(2000)
    x_tilted = model.sample(2000)
    for name, x in (("base", x_base), ("tilted", x_tilted)):
        cov = mode_coverage(x, data.modes, data.mode_std)
        print(f"{name}: high-quality fraction {float(cov['hq_fraction']):.3f}, "
              f"modes {int(cov['modes_covered'])}/{int(cov['modes_total'])}")
    plot_2d({"data": data.x[:2000], "base (VAE)": x_base, "tilted": x_tilted}, args.out, lim=3.0)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
