"""Metrics for generative models: sample distances, mode coverage, Fréchet distance, detection scores, bits/dim.

* :func:`mmd`, :func:`energy_distance`: unbiased two-sample distances, 0-dim differentiable tensors.
* :func:`c2st`: classifier two-sample test accuracy (k-NN or MLP; 0.5 = indistinguishable).
* :func:`mode_coverage`: high-quality fraction and modes covered for a known Gaussian mixture (a dict);
  :func:`mode_spread`: within-mode spread as a ratio to the components' std, and per-mode shares.
* :func:`precision_recall`: k-NN manifold precision and recall (Kynkäänniemi et al. 2019) in any feature space;
  :func:`density_coverage` (Naeem et al. 2020), the same from the data's balls only (outlying samples buy nothing).
* :func:`grid_log_z` / :func:`grid_nll`: an energy's log Z and held-out NLL by quadrature on 2-D;
  :func:`ais_log_z`: log Z by annealed importance sampling in any dimension.
* :func:`frechet_distance` / :func:`frechet_from_stats` / :func:`gaussian_stats`: FD with any feature extractor.
* :func:`auroc`, :func:`auprc`: anomaly-detection scores (label 1 = anomaly, higher score = more anomalous).
* :func:`reconstruction_mse`, :func:`bits_per_dim`.
* :func:`feature_extractor` / :func:`classifier` / :func:`image_fd`: the shipped digits, MNIST-5k and Fashion-MNIST
  classifiers, for image FD offline.
* :func:`inception_fid`: FID through a TorchScript Inception network the user already has (none is shipped).

Every function takes batches first, ``(B, *event_shape)``, and flattens events where it needs vectors.
"""

from gencoop.metrics.density import LogZ, ais_log_z, grid_log_z, grid_nll
from gencoop.metrics.features import classifier, feature_extractor, image_fd
from gencoop.metrics.frechet import frechet_distance, frechet_from_stats, gaussian_stats
from gencoop.metrics.inception import inception_fid
from gencoop.metrics.likelihood import bits_per_dim, reconstruction_mse
from gencoop.metrics.modes import mode_coverage, mode_spread
from gencoop.metrics.precision_recall import density_coverage, precision_recall
from gencoop.metrics.ranking import auprc, auroc
from gencoop.metrics.sample_distance import DEFAULT_BANDWIDTHS, energy_distance, mmd
from gencoop.metrics.two_sample import c2st

__all__ = [
    "DEFAULT_BANDWIDTHS",
    "LogZ",
    "ais_log_z",
    "c2st",
    "grid_log_z",
    "grid_nll",
    "mode_spread",
    "precision_recall",
    "density_coverage",
    "auprc",
    "auroc",
    "bits_per_dim",
    "classifier",
    "energy_distance",
    "feature_extractor",
    "frechet_distance",
    "frechet_from_stats",
    "gaussian_stats",
    "image_fd",
    "inception_fid",
    "mmd",
    "mode_coverage",
    "reconstruction_mse",
]
