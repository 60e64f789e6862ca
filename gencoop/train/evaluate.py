"""Evaluation of any composition against held-out data, and its pictures.

Vectors: MMD (and, on Gaussian-mixture toys, the high-quality fraction and modes covered); images: the Fréchet
distance in the features of the project's classifier for that data set (pixels when it has none), on samples
clipped to the data's pixel range, with the fraction of pixels that were outside it. Each model adds
its own metrics (NLL, ELBO, reconstruction error) through ``Model.metrics``. Evaluation runs on its own fixed seed
inside ``torch.random.fork_rng``, so it never shifts the training's random stream (exact resume needs that).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from gencoop.config import EvalSettings
from gencoop.data.dataset import ArrayDataset
from gencoop.metrics import bits_per_dim, frechet_distance, mmd, mode_coverage
from gencoop.models.base import Model, model_device
from gencoop.viz import plot_2d, save_image_grid


def draw(model: Model, n: int, batch_size: int) -> Tensor:
    """``n`` samples from ``model`` in batches, detached, on the CPU."""
    out = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            out.append(model.sample(min(batch_size, n - start)).detach().cpu())
    return torch.cat(out)


def feature_extractor(data_name: str):
    """The project's classifier features for an image data set, or None (then FD is computed on pixels). A data
    set named ``family/split`` (``fashion-mnist/test``) takes its family's classifier."""
    from gencoop.metrics.features import NAMES
    from gencoop.metrics.features import feature_extractor as classifier_features

    family = data_name.split("/", 1)[0]
    return classifier_features(family) if family in NAMES else None


def reference_indices(data: ArrayDataset, n: int, seed: int) -> Tensor:
    """The held-out samples evaluation compares against: ``n`` indices of a seeded permutation."""
    return torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]


def reference(data: ArrayDataset, n: int, seed: int) -> Tensor:
    """``(n, *event)``: the clean held-out samples that sample metrics compare against."""
    return data.x[reference_indices(data, n, seed)]


def levels_bits_per_dim(nll: float, data: ArrayDataset) -> float:
    """Bits per pixel level from the NLL (nats per sample) of a density on dequantised model units.

    A pixel's level v spans a bin of width 2/levels in model units ([−1, 1]), so −log P(v) ≤ E_u[−log p(x̃)] −
    D·log(2/levels): with 256 levels, bpd = the density's own bits/dim + 7 (the standard 8-bit convention).
    """
    assert data.levels is not None
    d = math.prod(data.event_shape)
    return float(bits_per_dim(nll + d * math.log(data.levels / 2), d))


def evaluate(model: Model, data: ArrayDataset, settings: EvalSettings, seed: int = 0) -> dict[str, float]:
    """A flat dict of metrics of ``model`` against held-out ``data``."""
    was_training = model.training
    model.eval()
    device = model_device(model)
    devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            samples = draw(model, settings.samples, settings.batch_size)
            held_out = reference_indices(data, settings.samples, seed)
            ref = data.x[held_out]
            out: dict[str, float] = {}
            if data.scale == "images":
                # FD reads pixels clipped to the data range, [-1, 1], as a picture (or an 8-bit FID pipeline) shows
                # them; how many were outside it (or not finite) is reported, so a generator's blow-ups are not hidden
                out["pixels_out_of_range"] = float((~(samples.abs() <= 1)).double().mean())
            if not torch.isfinite(samples).all():
                out["nonfinite_samples"] = float((~torch.isfinite(samples.flatten(1))).any(-1).sum())
                samples = samples.nan_to_num(0.0, posinf=0.0, neginf=0.0)
            if len(data.event_shape) == 1:
                out["mmd"] = float(mmd(samples, ref))
                if data.modes is not None:
                    cov = mode_coverage(samples, data.modes, data.mode_std)
                    out.update({k: float(cov[k]) for k in ("hq_fraction", "modes_covered", "modes_total")})
            else:
                if data.scale == "images":
                    samples = samples.clamp(-1.0, 1.0)
                features = feature_extractor(data.name)
                out["fd"] = float(frechet_distance(samples, ref, features))
                out["fd_features"] = "classifier" if features is not None else "pixels"  # type: ignore[assignment]
                if settings.inception:
                    from gencoop.metrics.inception import inception_fid

                    out["fid"] = inception_fid(samples, ref, settings.inception)
            with torch.no_grad():  # dequantised when the model was trained on dequantised pixels (a density's NLL)
                x = data.batch(held_out[: settings.batch_size], generator=torch.Generator().manual_seed(seed))
                x = x.to(device)
                out.update(model.metrics(x))
                if data.dequantize and "nll" in out:
                    out["bits_per_dim"] = levels_bits_per_dim(out["nll"], data)
    finally:
        model.train(was_training)
    return out


def model_log_density(model: Model):
    """A (possibly unnormalised) log-density of the model on data space, when it has one."""
    for name in ("log_prob", "log_density"):
        fn = getattr(model, name, None)
        if callable(fn):
            return lambda x: fn(x.to(model_device(model))).cpu()
    return None


def write_picture(samples: Tensor, data: ArrayDataset, path: str | Path, title: str = "samples",
                  log_density=None) -> Path:
    """2-D events: data beside samples (and the model density when given); images: a grid in data units."""
    samples = samples.detach().cpu()
    if data.event_shape == (2,):
        ref = reference(data, len(samples), 0)
        lim = float(max(ref.abs().max(), 1.0)) * 1.3
        return plot_2d({f"data ({data.name})": ref, title: samples}, path, lim=math.ceil(lim * 2) / 2,
                       log_density=log_density)
    if len(data.event_shape) == 3:
        return save_image_grid(data.to_data_units(samples[:64]), path)
    raise ValueError(f"no picture for events of shape {data.event_shape}; use .npy output")
