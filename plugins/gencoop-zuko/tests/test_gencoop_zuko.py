"""gencoop-zuko: every registered flow passes gencoop's conformance kit, matches zuko's own density, and trains
inside CoopFlow in place of the built-in flow."""

import importlib.metadata
import json

import gencoop_zuko
import pytest
import torch
import zuko
from hypothesis import given
from hypothesis import strategies as st
from zuko.distributions import DiagNormal
from zuko.lazy import UnconditionalDistribution

import gencoop
from gencoop.cli import main
from gencoop.testing import check_flow, check_registered, registered_parts, spec_id

DIST = "gencoop-zuko"
SPECS = registered_parts(source=DIST)


def test_the_entry_point_registers_every_flow():
    assert sorted(s.name for s in SPECS) == sorted(gencoop_zuko.FACTORIES)
    assert all(s.kind == "flow" and s.version == gencoop_zuko.__version__ for s in SPECS)


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
@given(data=st.data())
def test_registered_flow_conforms(spec, data):
    check_registered(spec, data)


@pytest.mark.parametrize("make", [zuko.flows.MAF, zuko.flows.NSF, zuko.flows.BPF])
def test_density_and_direction_match_zuko(make):
    """log_prob is zuko's log_prob; forward is zuko's sampling map T⁻¹ (z ↦ x), inverse its density map T."""
    torch.manual_seed(0)
    flow = make(3, transforms=2, hidden_features=(16, 16)).double()
    ours = gencoop_zuko.ZukoFlow(flow, 3)
    x = 1.5 * torch.randn(5, 3, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(ours.log_prob(x), flow().log_prob(x))
        z = torch.randn(5, 3, dtype=torch.float64)
        torch.testing.assert_close(ours(z)[0], flow().transform.inv(z), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ours.inverse(x)[0], flow().transform(x))


def test_a_zuko_flow_with_another_base_is_refused():
    flow = zuko.flows.MAF(2)
    flow.base = UnconditionalDistribution(DiagNormal, loc=torch.ones(2), scale=torch.ones(2), buffer=True)
    with pytest.raises(ValueError, match="standard-normal base"):
        gencoop_zuko.ZukoFlow(flow, 2)
    with pytest.raises(ValueError, match="event shape"):
        gencoop_zuko.ZukoFlow(zuko.flows.MAF(3), 2)


def test_bad_settings_name_the_field():
    with pytest.raises(gencoop.ConfigError) as info:
        gencoop.create("flow", "zuko-nsf", dim=2, bins=1, hiden=(8,))
    assert [f for f, _ in info.value.problems] == ["bins", "hiden"]


def test_list_components_shows_the_distribution_and_version(capsys):
    assert main(["list-components", "--kind", "flow", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    version = importlib.metadata.version(DIST)
    for name in gencoop_zuko.FACTORIES:
        assert (rows[name]["source"], rows[name]["version"]) == (DIST, version)
    assert "realnvp" in rows  # next to the built-ins


def test_coopflow_trains_with_a_zuko_flow(tmp_path):
    """CoopFlow with zuko's NSF as its initialiser: both groups learn and the samples move toward the data."""
    from gencoop.config import load_run_config
    from gencoop.metrics import mmd
    from gencoop.train import Trainer

    torch.manual_seed(0)
    config = load_run_config({
        "seed": 0, "data": {"name": "8gaussians", "n": 2000},
        "model": {"name": "coopflow", "energy": {"name": "mlp", "hidden": [64, 64], "base_std": 3.0},
                  "energy_reg": 0.01, "flow": {"name": "zuko-nsf", "transforms": 2, "hidden": [32, 32], "passes": 2},
                  "sampler": {"name": "langevin", "steps": 20, "step_size": 0.1, "noise": 0.0, "clip": 0.1,
                              "bounds": [-3, 3]}},
        "train": {"steps": 80, "batch_size": 128, "optim": {"lr": 1e-3, "betas": [0.5, 0.999]}},
        "eval": {"samples": 400},
    })
    trainer = Trainer(config, tmp_path, quiet=True)
    model = trainer.model
    assert isinstance(model.flow, gencoop_zuko.ZukoFlow) and set(model.parameter_groups()) == {"energy", "flow"}
    data = trainer.eval_data.x[:400]
    flow_before = {k: v.clone() for k, v in model.flow.state_dict().items()}
    torch.manual_seed(1)
    before = float(mmd(model.sample(400), data))
    trainer.fit()
    assert any(not torch.equal(flow_before[k], v) for k, v in model.flow.state_dict().items())  # the flow learned
    torch.manual_seed(1)
    after = float(mmd(model.sample(400), data))
    assert after < 0.6 * before  # 0.40 -> 0.18 at this seed
    check_flow(model.flow)  # still a correct flow after training
