"""The fused path on a real GPU: Triton kernels compiled for CUDA and the chain captured in a CUDA graph.
Skipped without CUDA (CI has none); `bash scripts/gpu_check.sh` runs these and the GPU benchmark rows."""

import pytest
import torch

pytest.importorskip("triton")
if not torch.cuda.is_available():
    pytest.skip("needs a CUDA device", allow_module_level=True)

import gencoop  # noqa: E402
from gencoop.samplers.langevin import Langevin  # noqa: E402

DEVICE = torch.device("cuda")


def test_graph_replay_equals_eager_without_noise():
    energy = gencoop.create("energy", "mlp", dim=8, hidden=(32, 32)).to(DEVICE)
    x0 = torch.randn(256, 8, device=DEVICE)
    kw = dict(steps=20, step_size=0.1, noise=0.0, clip=0.1, bounds=(-3.0, 3.0))
    eager = Langevin(backend="eager", **kw).sample(lambda v: -energy(v), x0)
    sampler = Langevin(backend="fused", **kw)
    first = sampler.sample(lambda v: -energy(v), x0)  # captures
    again = sampler.sample(lambda v: -energy(v), x0)  # replays the cached graph
    torch.testing.assert_close(first, eager, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(again, eager, atol=1e-5, rtol=1e-5)


def test_replay_sees_new_parameters_and_new_seeds():
    energy = gencoop.create("energy", "mlp", dim=4, hidden=(16,)).to(DEVICE)
    sampler = Langevin(steps=10, step_size=0.1, backend="fused")
    x0 = torch.zeros(128, 4, device=DEVICE)
    a = sampler.sample(lambda v: -energy(v), x0, generator=torch.Generator().manual_seed(0))
    b = sampler.sample(lambda v: -energy(v), x0, generator=torch.Generator().manual_seed(0))
    c = sampler.sample(lambda v: -energy(v), x0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    with torch.no_grad():
        for p in energy.parameters():
            p.add_(0.5)  # in place: same storage, the graph must read the new values
    d = sampler.sample(lambda v: -energy(v), x0, generator=torch.Generator().manual_seed(0))
    e = Langevin(steps=10, step_size=0.1, noise=0.0, backend="eager").sample(lambda v: -energy(v), x0)
    f = Langevin(steps=10, step_size=0.1, noise=0.0, backend="fused").sample(lambda v: -energy(v), x0)
    assert not torch.equal(a, d)
    torch.testing.assert_close(f, e, atol=1e-5, rtol=1e-5)


def test_closure_over_a_fresh_batch_is_never_replayed_stale():
    decoder = gencoop.create("decoder", "mlp", latent_dim=4, dim=8, hidden=(16,)).to(DEVICE)
    sampler = Langevin(steps=5, step_size=0.1, noise=0.0, backend="fused")
    for _ in range(6):
        x = torch.randn(64, 8, device=DEVICE)

        def log_joint(z, x=x):
            return -0.5 * z.square().sum(-1) - (x - decoder(z)).square().sum(-1)

        z0 = torch.zeros(64, 4, device=DEVICE)
        got = sampler.sample(log_joint, z0)
        want = Langevin(steps=5, step_size=0.1, noise=0.0, backend="eager").sample(log_joint, z0)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_capture_failure_falls_back_with_a_warning():
    def syncing(v):  # .item() synchronises: not capturable
        return -0.5 * v.square().sum(-1) * (1.0 + 0.0 * v.sum().item())

    x0 = torch.randn(32, 2, device=DEVICE)
    sampler = Langevin(steps=5, step_size=0.1, noise=0.0, backend="fused")
    with pytest.warns(UserWarning, match="capture failed"):
        out = sampler.sample(syncing, x0)
    want = Langevin(steps=5, step_size=0.1, noise=0.0, backend="eager").sample(syncing, x0)
    torch.testing.assert_close(out, want, atol=1e-5, rtol=1e-5)


def test_mala_on_gpu_targets_the_right_distribution():
    run = Langevin(steps=200, step_size=1.2, metropolis=True, backend="fused").run(
        lambda v: -0.5 * v.square().sum(-1), torch.zeros(4096, 2, device=DEVICE))
    torch.testing.assert_close(run.x.var(0).cpu(), torch.ones(2), atol=0.08, rtol=0)


def test_latent_chains_of_a_tilted_vae_are_captured_in_a_graph():
    """Tilting: ℓ(z) = log N(z) − E(G(z)) through a prior and a decoder; the chain is captured once, then replayed.
    (A flow base built on nflows' LU layers is not capturable: nflows copies host tensors; it runs the fused
    kernels without a graph.)"""
    import warnings

    from gencoop.models import ExponentialTilting
    from gencoop.samplers import fused

    torch.manual_seed(0)
    base = gencoop.create("model", "vae", event_shape=(2,), latent_dim=2, encoder={"name": "mlp", "hidden": [16]},
                          decoder={"name": "mlp", "hidden": [16]}).to(DEVICE)
    energy = gencoop.create("energy", "mlp", dim=2, hidden=(16,)).to(DEVICE)
    model = ExponentialTilting(base, energy, Langevin(steps=10, step_size=0.1, backend="fused"), sample_steps=10)
    fused._graphs.clear()  # the cache holds 8 chains: earlier tests may have filled it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x = model.sample(256)
        y = model.sample(256)
    failed = [str(w.message) for w in caught if "capture failed" in str(w.message)]
    assert not failed, failed
    assert len(fused._graphs) == 1  # captured once, replayed
    assert x.shape == y.shape == (256, 2) and torch.isfinite(x).all() and not torch.equal(x, y)
