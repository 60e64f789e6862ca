"""gencoop.metrics on cases with known answers: hand-computed values, closed forms, and monotone shifts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gencoop.metrics import (
    DEFAULT_BANDWIDTHS,
    auprc,
    auroc,
    bits_per_dim,
    energy_distance,
    frechet_distance,
    frechet_from_stats,
    gaussian_stats,
    mmd,
    mode_coverage,
    reconstruction_mse,
)


def _gauss(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) + shift


# -- MMD and energy distance -----------------------------------------------------------------------------------

def test_mmd_matches_hand_computed_value():
    # k(a, b) = exp(−(a−b)²/2); x = {0, 1}, y = {0, 3}
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[0.0], [3.0]])
    e = math.exp
    kxx, kyy = e(-0.5), e(-4.5)  # the single off-diagonal pair in each set
    kxy = (1 + e(-4.5) + e(-0.5) + e(-2.0)) / 4
    assert mmd(x, y, (1.0,), scale=1.0).item() == pytest.approx(kxx + kyy - 2 * kxy, abs=1e-6)
    # two bandwidths: the kernels add
    two = mmd(x, y, (1.0, 2.0), scale=1.0).item()
    assert two == pytest.approx(mmd(x, y, (1.0,), scale=1.0).item() + mmd(x, y, (2.0,), scale=1.0).item(), abs=1e-6)


def test_mmd_identical_and_same_distribution_near_zero():
    x = _gauss(400, 3, 0)
    k = len(DEFAULT_BANDWIDTHS)
    same = mmd(x, x).item()
    # y = x exactly: MMD²_u = 2(mean_{i≠j} k − K)/n with K = k(a, a) = number of kernels, so −2K/n ≤ MMD²_u ≤ 0
    assert -2 * k / 400 <= same <= 0
    assert abs(mmd(x, _gauss(400, 3, 1)).item()) < 0.02


@pytest.mark.parametrize("scale", ["median", 1.0])
def test_mmd_and_energy_distance_grow_with_shift(scale):
    x = _gauss(300, 2, 0)
    shifts = [0.0, 0.5, 1.0, 2.0, 4.0]
    m = [mmd(x, _gauss(300, 2, 1, s), scale=scale).item() for s in shifts]
    e = [energy_distance(x, _gauss(300, 2, 1, s)).item() for s in shifts]
    assert all(a < b for a, b in zip(m, m[1:])), m
    assert all(a < b for a, b in zip(e, e[1:])), e
    assert abs(m[0]) < 0.02 and m[2] > 0.2
    assert abs(e[0]) < 0.02 and e[2] > 0.3


def test_mmd_median_scale_is_scale_invariant_and_flattens_events():
    x, y = _gauss(64, 6, 0), _gauss(80, 6, 1, 0.7)
    assert mmd(10 * x, 10 * y).item() == pytest.approx(mmd(x, y).item(), rel=1e-9)
    assert mmd(x.reshape(64, 2, 3), y.reshape(80, 2, 3)).item() == pytest.approx(mmd(x, y).item(), rel=1e-12)
    # absolute bandwidths are not scale invariant
    assert mmd(10 * x, 10 * y, scale=1.0).item() != pytest.approx(mmd(x, y, scale=1.0).item(), rel=1e-3)


def test_energy_distance_hand_computed():
    # x = {0, 1}, y = {5, 6}: E‖X−Y‖ = (5+6+4+5)/4 = 5, E‖X−X′‖ = E‖Y−Y′‖ = 1  ->  2·5 − 1 − 1 = 8
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[5.0], [6.0]])
    assert energy_distance(x, y).item() == pytest.approx(8.0, abs=1e-5)
    # in 2-D with a 3-4-5 triangle: x = {(0,0), (3,4)}, y = {(0,0), (3,4)} is identical: 2·(0+5+5+0)/4 − 5 − 5 = −5
    p = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    assert energy_distance(p, p).item() == pytest.approx(-5.0, abs=1e-5)


def test_sample_distances_are_differentiable_even_for_identical_sets():
    x = _gauss(16, 3, 0).requires_grad_(True)
    for fn in (mmd, energy_distance):
        (g,) = torch.autograd.grad(fn(x, x.detach()), x)
        assert torch.isfinite(g).all()
        (g,) = torch.autograd.grad(fn(x, _gauss(16, 3, 1, 1.0)), x)
        assert torch.isfinite(g).all() and g.abs().sum() > 0


def test_sample_distance_errors():
    with pytest.raises(ValueError, match="same number of elements"):
        mmd(torch.zeros(4, 2), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="at least 2"):
        energy_distance(torch.zeros(1, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="bandwidths"):
        mmd(torch.zeros(4, 2), torch.ones(4, 2), (1.0, -1.0))
    with pytest.raises(ValueError, match="scale"):
        mmd(torch.zeros(4, 2), torch.ones(4, 2), scale="mean")


# -- mode coverage -------------------------------------------------------------------------------------------------

def test_mode_coverage_on_constructed_points():
    centers = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    pts = torch.tensor([
        [0.1, 0.0], [0.0, -0.2], [-0.29, 0.0],    # center 0: three within 3·0.1
        [10.2, 0.1], [9.8, 0.0],                  # center 1: two
        [0.0, 10.31],                             # center 2: just outside 0.3
        [5.0, 5.0], [20.0, 20.0],                 # far from every center
    ])
    out = mode_coverage(pts, centers, std=0.1)
    assert out == {"hq_fraction": 5 / 8, "modes_covered": 2, "modes_total": 4, "hq_per_mode": [3, 2, 0, 0]}
    assert mode_coverage(pts, centers, std=0.1, min_count=3)["modes_covered"] == 1
    assert mode_coverage(pts, centers, std=0.1, threshold=4.0)["modes_covered"] == 3  # 0.31 ≤ 0.4 now counts
    # boundary is inclusive: distance exactly threshold·std (3-4-5 triangle, 5 = 5·1)
    edge = mode_coverage(torch.tensor([[3.0, 4.0]]), torch.zeros(1, 2), std=1.0, threshold=5.0)
    assert edge["hq_fraction"] == 1.0 and edge["modes_covered"] == 1


def test_mode_coverage_of_a_mixture_sample_missing_modes():
    k, std = 8, 0.05
    a = torch.arange(k) * (2 * math.pi / k)
    centers = 2.0 * torch.stack([a.cos(), a.sin()], -1)
    g = torch.Generator().manual_seed(0)
    kept = torch.tensor([0, 2, 3, 5, 6])  # modes 1, 4, 7 dropped
    idx = kept[torch.randint(len(kept), (2000,), generator=g)]
    samples = centers[idx] + std * torch.randn(2000, 2, generator=g)
    out = mode_coverage(samples, centers, std)
    assert out["modes_covered"] == 5 and out["modes_total"] == 8
    assert [j for j, c in enumerate(out["hq_per_mode"]) if c == 0] == [1, 4, 7]
    # ‖ε‖ ≤ 3σ in 2-D: P(χ²₂ ≤ 9) = 1 − e^{−4.5} ≈ 0.9889
    assert out["hq_fraction"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    # replacing a quarter of the samples with points far from all modes lowers hq_fraction by a quarter
    samples[:500] = 50.0
    assert mode_coverage(samples, centers, std)["hq_fraction"] == pytest.approx(0.75 * (1 - math.exp(-4.5)), abs=0.01)


def test_mode_coverage_errors():
    with pytest.raises(ValueError, match="dimension"):
        mode_coverage(torch.zeros(3, 2), torch.zeros(2, 3), 0.1)
    with pytest.raises(ValueError, match="std"):
        mode_coverage(torch.zeros(3, 2), torch.zeros(2, 2), 0.0)


# -- Fréchet distance ------------------------------------------------------------------------------------------------

def test_frechet_from_stats_diagonal_closed_form():
    mu1, mu2 = torch.tensor([0.0, 1.0, -2.0]), torch.tensor([1.0, 1.0, 0.0])
    a, b = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 0.25])
    # ‖μ₁−μ₂‖² + Σ(√a − √b)² = (1 + 0 + 4) + ((1−3)² + (2−1)² + 0) = 10
    assert frechet_from_stats(mu1, torch.diag(a), mu2, torch.diag(b)) == pytest.approx(10.0, abs=1e-10)
    assert frechet_from_stats(mu1, torch.diag(a), mu1, torch.diag(a)) == pytest.approx(0.0, abs=1e-12)


def test_frechet_from_stats_non_commuting_covariances():
    # 2×2 PSD M: tr √M = √(tr M + 2√det M); with M = S₁^{1/2} S₂ S₁^{1/2}: tr M = tr(S₁S₂), det M = det S₁ det S₂
    s1 = torch.tensor([[2.0, 0.8], [0.8, 1.0]], dtype=torch.float64)
    s2 = torch.tensor([[1.0, -0.3], [-0.3, 3.0]], dtype=torch.float64)
    tr_sqrt = math.sqrt((s1 @ s2).trace().item() + 2 * math.sqrt(s1.det().item() * s2.det().item()))
    expected = s1.trace().item() + s2.trace().item() - 2 * tr_sqrt
    z = torch.zeros(2)
    assert frechet_from_stats(z, s1, z, s2) == pytest.approx(expected, abs=1e-10)
    assert frechet_from_stats(z, s2, z, s1) == pytest.approx(expected, abs=1e-10)  # symmetric
    assert expected > 0.1


def test_frechet_distance_of_samples_identical_and_shifted():
    x = _gauss(500, 4, 0)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)
    # y = x + v: same covariance, so FD = ‖v‖² exactly; it grows quadratically with the shift
    for s in (0.5, 1.0, 2.0):
        v = torch.tensor([s, 0.0, -s, 0.0], dtype=torch.float64)
        assert frechet_distance(x, x + v) == pytest.approx(2 * s * s, rel=1e-9)
    # independent samples of N(0, I) vs N(0, 4I): closed form d·(1 − 2)² = 4, up to sampling error
    assert frechet_distance(_gauss(4000, 4, 1), 2 * _gauss(4000, 4, 2)) == pytest.approx(4.0, abs=0.3)


def test_gaussian_stats_streams_batches_exactly():
    x = _gauss(103, 5, 0) @ torch.randn(5, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64) + 3.0
    mu, s = gaussian_stats(x, batch_size=7)  # 103 = 14·7 + 5: uneven last batch
    assert torch.allclose(mu, x.mean(0), atol=1e-12)
    assert torch.allclose(s, torch.cov(x.T), atol=1e-10)  # divisor N − 1
    mu2, s2 = gaussian_stats(iter(x.split(50)))  # any iterable of batches
    assert torch.allclose(mu2, mu, atol=1e-12) and torch.allclose(s2, s, atol=1e-10)


def test_frechet_distance_uses_features_batchwise_without_grad():
    calls = []
    lin = torch.nn.Linear(12, 3).double()

    def feats(b: torch.Tensor) -> torch.Tensor:
        calls.append((b.shape[0], torch.is_grad_enabled()))
        return lin(b.flatten(1))

    x, y = _gauss(50, 12, 0).reshape(50, 3, 4), _gauss(40, 12, 1, 0.5).reshape(40, 3, 4)
    fd = frechet_distance(x, y, feats, batch_size=16)
    assert [c[0] for c in calls] == [16, 16, 16, 2, 16, 16, 8] and not any(c[1] for c in calls)
    with torch.no_grad():
        ref = frechet_distance(lin(x.flatten(1)), lin(y.flatten(1)))
    assert fd == pytest.approx(ref, rel=1e-9)
    # a feature map that ignores the shifted coordinate sees no difference; one that keeps it sees ‖v‖² = 4
    shifted = x.clone()
    shifted[:, 0, 0] += 2.0
    assert frechet_distance(x, shifted, lambda b: b.flatten(1)[:, 1:]) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(x, shifted, lambda b: b.flatten(1)[:, :1]) == pytest.approx(4.0, rel=1e-9)


def test_frechet_errors():
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(torch.zeros(1, 3), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="different sizes"):
        frechet_distance(torch.randn(4, 3), torch.randn(4, 2))


# -- AUROC / AUPRC -------------------------------------------------------------------------------------------------

def test_auroc_auprc_perfect_and_reversed():
    labels = [0, 0, 0, 1, 1]
    up = [0.1, 0.2, 0.3, 0.8, 0.9]
    assert auroc(up, labels) == 1.0 and auprc(up, labels) == 1.0
    down = [-s for s in up]
    assert auroc(down, labels) == 0.0
    # reversed: positives at ranks 4, 5 of 5 -> AP = ½·(1/4) + ½·(2/5) = 0.325
    assert auprc(down, labels) == pytest.approx(0.325)


def test_auroc_auprc_worked_examples():
    # positives 0.8, 0.35; negatives 0.4, 0.1: pairs won 1 + 1 + 0 + 1 = 3 of 4
    # thresholds 0.8 (P=1, R=½), 0.4 (R stays), 0.35 (P=2/3, R=1): AP = ½·1 + ½·⅔ = 5/6
    s, y = [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]
    assert auroc(s, y) == pytest.approx(0.75) and auprc(s, y) == pytest.approx(5 / 6)


def test_auroc_auprc_ties():
    # positives 0.9, 0.5; negatives 0.5, 0.1: the tied pair (0.5, 0.5) counts ½ -> (1 + 1 + ½ + 1)/4 = 0.875
    # ties form one threshold: 0.9 (P=1, R=½), then 0.5 takes both tied samples (P=2/3, R=1): AP = ½ + ⅓ = 5/6
    s, y = [0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0]
    assert auroc(s, y) == pytest.approx(0.875) and auprc(s, y) == pytest.approx(5 / 6)
    # the input order of tied samples never matters
    s2, y2 = [0.5, 0.1, 0.9, 0.5], [0, 0, 1, 1]
    assert auroc(s2, y2) == pytest.approx(0.875) and auprc(s2, y2) == pytest.approx(5 / 6)
    # a constant score: AUROC ½, AP = fraction of positives
    assert auroc([1.0] * 5, [1, 0, 0, 1, 0]) == 0.5 and auprc([1.0] * 5, [1, 0, 0, 1, 0]) == pytest.approx(0.4)


def _auroc_pairs(s: np.ndarray, y: np.ndarray) -> float:
    p, n = s[y == 1][:, None], s[y == 0][None, :]
    return float(((p > n) + 0.5 * (p == n)).mean())


def _ap_thresholds(s: np.ndarray, y: np.ndarray) -> float:
    ap, prev_recall = 0.0, 0.0
    for t in sorted(set(s.tolist()), reverse=True):
        flagged = s >= t
        tp = float((flagged & (y == 1)).sum())
        recall = tp / (y == 1).sum()
        ap += (recall - prev_recall) * tp / flagged.sum()
        prev_recall = recall
    return ap


def test_auroc_auprc_match_definitions_on_random_ties():
    rng = np.random.default_rng(0)
    for _ in range(5):
        y = rng.integers(0, 2, 60)
        y[:2] = [0, 1]
        s = rng.integers(0, 8, 60) + 1.5 * y  # many ties, partial separation
        perm = rng.permutation(60)
        assert auroc(torch.tensor(s), torch.tensor(y)) == pytest.approx(_auroc_pairs(s, y), abs=1e-12)
        assert auprc(s, y) == pytest.approx(_ap_thresholds(s, y), abs=1e-12)
        assert auprc(s[perm], y[perm]) == pytest.approx(_ap_thresholds(s, y), abs=1e-12)
    # bool labels and (N, 1) scores are accepted
    assert auroc(torch.tensor([[0.2], [0.7]]), torch.tensor([False, True])) == 1.0


def test_ranking_errors():
    with pytest.raises(ValueError, match="both classes"):
        auroc([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="positive"):
        auprc([0.1, 0.2], [0, 0])
    with pytest.raises(ValueError, match="0 \\(negative\\) or 1"):
        auroc([0.1, 0.2], [0, 2])
    with pytest.raises(ValueError, match="same number"):
        auroc([0.1, 0.2, 0.3], [0, 1])


# -- reconstruction and bits/dim -----------------------------------------------------------------------------------

def test_reconstruction_mse():
    x = torch.zeros(2, 3, 2)
    x_hat = x.clone()
    x_hat[0, 0, 0], x_hat[1, 2, 1] = 2.0, -1.0
    assert reconstruction_mse(x, x_hat).item() == pytest.approx((4 + 1) / 12)  # mean over all 12 elements
    with pytest.raises(ValueError, match="same shape"):
        reconstruction_mse(x, x_hat[:1])
    mask = torch.zeros(1, 3, 2)
    mask[0, 0, 0] = 1.0  # one entry per example counted, broadcast over the batch
    assert reconstruction_mse(x, x_hat, mask).item() == pytest.approx((4 + 0) / 2)
    with pytest.raises(ValueError, match="mask"):
        reconstruction_mse(x, x_hat, torch.zeros(1, 3, 2))


def test_bits_per_dim():
    d = 3 * 32 * 32
    assert bits_per_dim(8 * d * math.log(2), (3, 32, 32)) == pytest.approx(8.0)
    assert bits_per_dim(d * math.log(2), d) == pytest.approx(1.0)
    nll = torch.tensor([2.0, 4.0]) * math.log(2) * 784
    assert torch.allclose(bits_per_dim(nll, (1, 28, 28)), torch.tensor([2.0, 4.0]))
    with pytest.raises(ValueError):
        bits_per_dim(1.0, (3, 0))


def test_inception_fid_runs_a_users_torchscript_network(tmp_path):
    """FID through a TorchScript file in the usual contract: (B, 3, 299, 299) in [0, 255] -> (B, F)."""
    import warnings

    import pytest

    from gencoop.metrics import frechet_distance, inception_fid
    from gencoop.metrics.inception import inception_features

    class Stand_in(torch.nn.Module):  # a tiny network with the Inception file's calling convention
        def forward(self, x):
            assert x.shape[1:] == (3, 299, 299) and x.min() >= 0 and x.max() <= 255
            return torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1) / 255

    path = tmp_path / "inception.pt"
    with warnings.catch_warnings():  # TorchScript is how such networks ship; torch 2.13 marks it deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(Stand_in()).save(str(path))
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(64, 1, 8, 8, generator=g) * 2 - 1, torch.rand(64, 1, 8, 8, generator=g) * 2 - 1
    same = inception_fid(a, b, path)
    shifted = inception_fid(a, (b + 0.5).clamp(-1, 1), path)
    assert shifted > 10 * same
    assert inception_fid(a, b, path) == pytest.approx(frechet_distance(a, b, inception_features(path)))
    with pytest.raises(FileNotFoundError, match="does not download or ship"):
        inception_fid(a, b, tmp_path / "missing.pt")


def test_frechet_distance_with_fewer_samples_than_pixels_matches_the_covariance_path():
    """FD on raw images (F = 192 > n) runs in sample space (nuclear norm of ABᵀ); it must equal the F × F path."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 3, 8, 8, generator=g)
    y = 0.7 * torch.randn(40, 3, 8, 8, generator=g) + 0.2 * torch.randn(1, 3, 8, 8, generator=g)
    direct = frechet_distance(x, y)
    via_stats = frechet_from_stats(*gaussian_stats(x), *gaussian_stats(y))
    assert direct == pytest.approx(via_stats, rel=1e-6)  # the F × F path rounds its zero eigenvalues
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)
