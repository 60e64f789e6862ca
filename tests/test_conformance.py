"""Every registered part passes its conformance check: a new part is tested with no new test."""

import copy

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import gencoop
from gencoop.interfaces import Flow
from gencoop.testing import check_flow, check_part, check_registered, registered_parts, spec_id

SPECS = registered_parts()  # every kind the kit checks, built-in and installed plugins alike


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
@given(data=st.data())
def test_registered_part_conforms(spec, data):
    check_registered(spec, data)


def test_registry_has_the_required_parts():
    counts = {k: len(gencoop.components(k)) for k in ("flow", "energy", "decoder", "prior", "sampler")}
    assert counts["flow"] >= 4 and counts["energy"] >= 2 and counts["decoder"] >= 2
    assert counts["prior"] >= 2 and counts["sampler"] >= 1


class _Shifted(Flow):
    """A correct flow whose reported log-det is off by ``forward_off`` / ``inverse_off``."""

    def __init__(self, base, forward_off, inverse_off):
        super().__init__()
        self.base, self.event_shape = base, base.event_shape
        self.forward_off, self.inverse_off = forward_off, inverse_off

    def forward(self, z):
        x, ld = self.base(z)
        return x, ld + self.forward_off

    def inverse(self, x):
        z, ld = self.base.inverse(x)
        return z, ld + self.inverse_off


@pytest.mark.parametrize("name", ["realnvp", "maf", "nsf", "glow"])
def test_check_flow_catches_a_log_det_off_by_a_tenth(name):
    base = gencoop.get("flow", name).example()
    check_flow(_Shifted(copy.deepcopy(base), 0.0, 0.0))  # the wrapper alone is fine
    with pytest.raises(AssertionError, match="autograd Jacobian"):  # consistent but wrong
        check_flow(_Shifted(copy.deepcopy(base), 0.1, -0.1))
    with pytest.raises(AssertionError, match="log-dets cancel"):  # inconsistent
        check_flow(_Shifted(copy.deepcopy(base), 0.1, 0.0))


def test_check_flow_catches_a_wrong_inverse_and_batch_coupling():
    base = gencoop.get("flow", "realnvp").example()

    class BadInverse(_Shifted):
        def inverse(self, x):
            z, ld = self.base.inverse(x)
            return z * 1.001, ld

    with pytest.raises(AssertionError, match=r"inverse\(forward\(z\)\) == z"):
        check_flow(BadInverse(base, 0.0, 0.0))

    class BatchCoupled(_Shifted):
        def forward(self, z):
            x, ld = self.base(z)
            return x + 1e-3 * z.mean(0, keepdim=True), ld

        def inverse(self, x):
            return self.base.inverse(x)

    with pytest.raises(AssertionError):
        check_flow(BatchCoupled(base, 0.0, 0.0))


def test_check_energy_catches_batch_coupling():
    class Coupled(gencoop.Energy):
        event_shape = (2,)

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(2))

        def forward(self, x):
            return (x * self.w).sum(-1) - x.mean()

    with pytest.raises(AssertionError, match="batch independence"):
        gencoop.testing.check_energy(Coupled())


def test_check_leaves_the_part_untouched():
    flow = gencoop.get("flow", "realnvp").example()
    before = {k: v.clone() for k, v in flow.state_dict().items()}
    check_flow(flow, perturb=0.3)
    after = flow.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert next(flow.parameters()).dtype == torch.float32


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)], ids=["1x8x8", "1x28x28", "3x32x32"])
def test_image_parts_at_the_sizes_the_papers_use(shape):
    """Glow, the ConvNet energy and the DCGAN-style decoder/encoder keep their contracts at full image sizes."""
    glow = gencoop.create("flow", "glow", shape=shape, levels=3, steps_per_level=1, hidden_channels=4)
    check_flow(glow, batch_size=2)  # the autograd-Jacobian check runs where the event has ≤ 256 entries
    check_part("energy", gencoop.create("energy", "conv", shape=shape, channels=4), batch_size=2)
    check_part("decoder", gencoop.create("decoder", "conv", shape=shape, latent_dim=8, channels=4), batch_size=2)
    check_part("encoder", gencoop.create("encoder", "conv", shape=shape, latent_dim=8, channels=4), batch_size=2)


@pytest.mark.parametrize("name, shape", [("mlp", (3,)), ("conv", (1, 4, 4))])
def test_a_bound_adds_a_box_base_measure_flat_inside_the_box(name, shape):
    from gencoop.components.energies import box_penalty

    kw = {"dim": 3} if name == "mlp" else {"shape": shape, "channels": 4, "blocks": 1}
    torch.manual_seed(0)
    plain = gencoop.create("energy", name, **kw)
    boxed = gencoop.create("energy", name, **kw, bound=1.0)
    boxed.load_state_dict(plain.state_dict())
    inside = 2 * torch.rand(8, *shape) - 1  # in [-1, 1): the box adds nothing
    assert torch.equal(boxed(inside), plain(inside))
    outside = inside.clone()
    outside.view(8, -1)[:, 0] = 1.3  # one element 0.3 past the bound: + 0.3² / (2·0.1²) = 4.5
    assert torch.allclose(boxed(outside) - plain(outside), torch.full((8,), 4.5), atol=1e-4)
    x = outside.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(box_penalty(x, 1.0).sum(), x)
    assert g.view(8, -1)[:, 0].gt(0).all() and g.view(8, -1)[:, 1:].eq(0).all()  # pushes back toward the box
