"""A latent variable model with a flow prior (LFBM) from parts, in plain Python; swap the prior in one line.

    python examples/latent_flow_prior.py                  # flow prior, ~2 minutes on 1 CPU core
    python examples/latent_flow_prior.py --prior ebm      # the same model with Pang et al.'s energy-based prior
    python examples/latent_flow_prior.py --prior gaussian # ... or with N(0, I) (alternating back-propagation)
    python examples/latent_flow_prior.py --smoke          # a few steps (what the test runs)

Writes a picture: held-out digits, their reconstructions, the same digits with the centre hidden, the completions
from the observed pixels, and samples.
"""

import argparse

import torch

import gencoop
from gencoop.data import digits_dataset
from gencoop.models.latent_variable import LatentVariableModel
from gencoop.viz import save_image_grid


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prior", choices=["flow", "ebm", "gaussian"], default="flow")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--smoke", action="store_true", help="run a handful of steps")
    parser.add_argument("--out", default="latent_flow_prior.png")
    args = parser.parse_args()
    steps = 5 if args.smoke else args.steps
    torch.set_num_threads(1)
    torch.manual_seed(0)
    latent = 16

    # 1. the parts, each found by name in the registry; the prior is the one line to change
    prior = {
        "flow": lambda: gencoop.create("prior", "flow", latent_dim=latent,
                                       flow_params={"num_layers": 5, "hidden": 64, "zero_init": True}),
        "ebm": lambda: gencoop.create("prior", "ebm", latent_dim=latent, hidden=(200, 200), steps=60, step_size=0.4),
        "gaussian": lambda: gencoop.create("prior", "gaussian", latent_shape=latent),
    }[args.prior]()
    decoder = gencoop.create("decoder", "conv", latent_dim=latent, shape=(1, 8, 8), channels=32)
    posterior = gencoop.create("sampler", "langevin", steps=20, step_size=0.1)  # short-run posterior Langevin

    # 2. the composition: x = g(z) + 0.3·ε, z ~ prior
    model = LatentVariableModel(prior, decoder, posterior, sigma=0.3)
    train, test = digits_dataset(split="train"), digits_dataset(split="test")

    # 3. a plain training loop: one optimiser per parameter group, one loss per group
    groups = model.parameter_groups()  # {"prior", "decoder"}; a fixed N(0, I) has no "prior" group
    optimizers = {g: torch.optim.Adam(ps, lr=2e-5 if (g, args.prior) == ("prior", "ebm") else 1e-3,
                                      betas=(0.5, 0.999)) for g, ps in groups.items()}
    for step in range(steps):
        batch = train.x[torch.randint(len(train), (64,))]
        losses = model.losses(batch)  # posterior samples by Langevin, then each group's loss
        for g, loss in losses.items():
            optimizers[g].zero_grad()
            loss.backward(inputs=groups[g])
            optimizers[g].step()
        if step % 250 == 0:
            print(f"step {step}: " + ", ".join(f"{g} {v.item():.3f}" for g, v in losses.items()))

    # 4. the tasks: reconstruction, inpainting from observed pixels only, ancestral samples
    x = test.x[:16]
    rec = model.reconstruct(x, steps=40)
    mask = torch.ones(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 0  # hide the centre
    filled = model.inpaint(x, mask, n_init=1, steps=40)[0]
    print(f"held-out reconstruction MSE {float((rec - x).square().mean()):.4f}, "
          f"inpainting MSE on the hidden pixels {float(((filled - x) * (1 - mask)).square().sum() / (16 * 16)):.4f}")
    rows = torch.cat([x, rec, x * mask - (1 - mask), filled, model.sample(16)])
    save_image_grid(test.to_data_units(rows), args.out, nrow=16,
                    row_labels=["data", "reconstructed", "masked", "completed", "samples"])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
