"""Evaluation of any composition against held-out data, each number beside its floor, and its pictures.

Vectors: a k-NN classifier two-sample test (C2ST, 0.5 = indistinguishable) and MMD; on Gaussian-mixture toys also
the high-quality fraction, modes covered, the within-mode spread (ratio to the components' std) and the smallest
mode's share; on 2-D, the held-out NLL of an energy-based model by quadrature (``ebm_nll``) and, for mixtures,
the true density's (``true_nll``). Images: the Fréchet distance, C2ST, precision and recall in the features of the
project's classifier for that data set (pixels when it has none), on samples clipped to the data's pixel range,
with the fraction of pixels that were outside it. Each model adds its own metrics (NLL, ELBO, reconstruction error)
through ``Model.metrics``.

The floor of a sample metric (``<name>_floor``) is the same metric between a draw of the training data (an
independent draw of the toy, or the training split) and the held-out data: how far from perfect a number is.
Evaluation runs on its own fixed seed inside ``torch.random.fork_rng``, so it never shifts the training's random
stream (exact resume needs that).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from gencoop.config import EvalSettings
from gencoop.data.dataset import ArrayDataset
from gencoop.interfaces import module_device
from gencoop.metrics import ais_log_z, bits_per_dim, c2st, frechet_distance, grid_nll, mmd, mode_coverage, mode_spread
from gencoop.metrics._utils import batched_features
from gencoop.metrics.precision_recall import density_coverage, precision_recall
from gencoop.models.base import Density, Model
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


def sample_metrics(samples: Tensor, ref: Tensor, data: ArrayDataset) -> dict[str, float]:
    """The metrics of ``samples`` against held-out ``ref`` that need no model: what a floor is computed with."""
    out: dict[str, float] = {}
    if len(data.event_shape) == 1:
        out["c2st"] = c2st(samples, ref)
        out["mmd"] = float(mmd(samples, ref))
        if data.modes is not None:
            cov = mode_coverage(samples, data.modes, data.mode_std)
            out.update({k: float(cov[k]) for k in ("hq_fraction", "modes_covered", "modes_total")})
            spread = mode_spread(samples, data.modes, data.mode_std)
            out.update({k: spread[k] for k in ("spread_ratio", "min_mode_share", "mode_chi2_p")})
        return out
    extractor = feature_extractor(data.name)  # features once, for FD, C2ST, P/R and D/C alike
    fs, fr = batched_features(samples, extractor), batched_features(ref, extractor)
    out["fd"] = float(frechet_distance(fs, fr))
    out["c2st"] = c2st(fs, fr)
    out.update(precision_recall(fs, fr))
    out.update(density_coverage(fs, fr))
    return out


def mixture_nll(x: Tensor, data: ArrayDataset) -> float:
    """NLL (nats per sample) of ``x: (n, d)`` under the true equal-weight mixture of ``data.modes`` with
    ``data.mode_std``."""
    modes, s = data.modes.double(), float(data.mode_std)
    d = x.shape[1]
    sq = torch.cdist(x.double(), modes).square()  # (n, k)
    log_p = torch.logsumexp(-sq / (2 * s * s), 1) - math.log(len(modes)) - d * math.log(s * math.sqrt(2 * math.pi))
    return float(-log_p.mean())


def quadrature_box(ref: Tensor) -> tuple[float, float]:
    """Where a 2-D density is integrated: the square [−h, h]² with h = max(3, ⌈1.25·max|x|⌉) of the held-out
    data ([−3, 3]² for every shipped toy but the swiss roll's [−4, 4]²). Mass outside it is not counted."""
    half = max(3.0, float(math.ceil(1.25 * float(ref.abs().max()))))
    return -half, half


def model_densities(model: Model) -> dict[str, Density]:
    """The model's :meth:`~gencoop.models.base.Model.densities` (none for a duck-typed model without them)."""
    return getattr(model, "densities", dict)()


def on_cpu(densities: dict[str, Density], device: torch.device) -> dict[str, Density]:
    """``densities`` of a model on ``device``, taking and returning CPU tensors."""
    return {name: Density(lambda x, f=d.log_density: f(x.to(device)).cpu(), d.normalized, d.start)
            for name, d in densities.items()}


def cpu_densities(model: Model) -> dict[str, Density]:
    """The model's densities, taking and returning CPU tensors."""
    return on_cpu(model_densities(model), module_device(model))


def ais_nlls(densities: dict[str, Density], x: Tensor, settings: EvalSettings, data: ArrayDataset
             ) -> dict[str, float]:
    """``<name>_nll`` of each unnormalised density with a ``start`` on the held-out batch ``x`` (on the densities'
    device), log Z by :func:`~gencoop.metrics.ais_log_z` from that start (``eval.ais_steps`` temperatures,
    ``eval.ais_chains`` chains), with ``<name>_log_z_stderr`` (and ``<name>_bits_per_dim`` on dequantised data)."""
    out: dict[str, float] = {}
    for name, d in densities.items():
        if d.normalized or d.start is None:
            continue
        log_z, stderr = ais_log_z(d.log_density, d.start, steps=settings.ais_steps, chains=settings.ais_chains)
        with torch.no_grad():
            out[f"{name}_nll"] = -float(d.log_density(x).double().mean()) + log_z
        out[f"{name}_log_z_stderr"] = stderr
        if data.dequantize:
            out[f"{name}_bits_per_dim"] = levels_bits_per_dim(out[f"{name}_nll"], data)
    return out


def density_nlls(densities: dict[str, Density], ref: Tensor, cells: int = 600) -> dict[str, float]:
    """``<name>_nll`` (nats per sample) of each density on held-out points ``ref`` (CPU): exact for a normalised
    one, by quadrature on :func:`quadrature_box` for an unnormalised one (an EBM; 2-D only)."""
    lo, hi = quadrature_box(ref) if ref.shape[1:] == (2,) else (None, None)
    out = {}
    for name, d in densities.items():
        with torch.no_grad():
            out[f"{name}_nll"] = (-float(d.log_density(ref).double().mean()) if d.normalized
                                  else grid_nll(lambda x, f=d.log_density: -f(x), ref, lo, hi, cells))
    return out


def evaluate(model: Model, data: ArrayDataset, settings: EvalSettings, seed: int = 0,
             floor_data: ArrayDataset | None = None) -> dict[str, float]:
    """A flat dict of metrics of ``model`` against held-out ``data``; with ``floor_data`` (the training data) each
    sample metric also gets its floor, ``<name>_floor`` (not when ``floor_data`` has hidden, non-finite values)."""
    was_training = model.training
    model.eval()
    device = module_device(model)
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
            if data.scale == "images":
                samples = samples.clamp(-1.0, 1.0)
            out.update(sample_metrics(samples, ref, data))
            if len(data.event_shape) > 1:
                features = "classifier" if feature_extractor(data.name) is not None else "pixels"
                out["fd_features"] = features  # type: ignore[assignment]
                if settings.inception:
                    from gencoop.metrics.inception import inception_fid

                    out["fid"] = inception_fid(samples, ref, settings.inception)
            if floor_data is not None and bool(torch.isfinite(floor_data.x).all()):  # occluded data have none
                floor_ref = floor_data.x[reference_indices(floor_data, settings.samples, seed + 1)]
                floors = sample_metrics(floor_ref, ref, data)
                out.update({f"{k}_floor": v for k, v in floors.items() if k != "modes_total"})
            if data.modes is not None:
                out["true_nll"] = mixture_nll(ref, data)  # the floor of any NLL on a mixture toy
            with torch.no_grad():  # dequantised when the model was trained on dequantised pixels (a density's NLL)
                x = data.batch(held_out[: settings.batch_size], generator=torch.Generator().manual_seed(seed))
                x = x.to(device)
                out.update(model.metrics(x))
                if data.dequantize and "nll" in out:
                    out["bits_per_dim"] = levels_bits_per_dim(out["nll"], data)
            densities = model_densities(model)  # once: a tilted VAE's runs AIS to normalise its prior
            if data.event_shape == (2,):
                out.update(density_nlls(on_cpu(densities, device), ref, settings.quadrature_cells))
            else:  # the normalised densities on the held-out batch; an EBM's needs AIS with a start of its own
                normalised = {k: d for k, d in on_cpu(densities, device).items() if d.normalized}
                for name, value in density_nlls(normalised, x.cpu()).items():
                    out[name] = value
                    if data.dequantize:
                        out[name.replace("_nll", "_bits_per_dim")] = levels_bits_per_dim(value, data)
                if settings.ais_steps:
                    out.update(ais_nlls(densities, x, settings, data))
    finally:
        model.train(was_training)
    return out


def write_picture(samples: Tensor, data: ArrayDataset, path: str | Path, title: str = "samples",
                  densities: dict[str, Density] | None = None) -> Path:
    """2-D events: data beside samples, then each of ``densities`` normalised on the picture's grid and titled with
    its held-out NLL (the true density's beside it on a mixture toy); images: a grid in data units."""
    samples = samples.detach().cpu()
    if data.event_shape == (2,):
        ref = reference(data, len(samples), 0)
        lim = math.ceil(float(max(ref.abs().max(), 1.0)) * 1.3 * 2) / 2
        maps = {}
        if densities:
            nlls = {k[: -len("_nll")]: v for k, v in density_nlls(densities, ref).items()}
            floor = f" (true {mixture_nll(ref, data):.2f})" if data.modes is not None else ""
            maps = {f"{name.upper() if name == 'ebm' else name} density, NLL {nlls[name]:.2f}{floor}": d.log_density
                    for name, d in densities.items()}
        return plot_2d({f"data ({data.name})": ref, title: samples}, path, lim=lim, densities=maps)
    if len(data.event_shape) == 3:
        return save_image_grid(data.to_data_units(samples[:64]), path)
    raise ValueError(f"no picture for events of shape {data.event_shape}; use .npy output")
