"""The plugin's own tests: installed and registered, every part conforms, the part does what it says."""

import importlib.metadata
import json

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import gencoop
import gencoop_template
from gencoop.cli import main
from gencoop.testing import check_registered, registered_parts, spec_id

DIST = "gencoop-template"  # the distribution name in pyproject.toml
PARTS = registered_parts(source=DIST)


def test_the_entry_point_registers_the_parts():
    """Fails until the package is installed (`pip install -e .`): gencoop finds plugins by their entry point."""
    assert [(s.kind, s.name) for s in PARTS] == [("energy", "template-gaussian")]
    assert all(s.version == gencoop_template.__version__ == importlib.metadata.version(DIST) for s in PARTS)


@pytest.mark.parametrize("spec", PARTS, ids=spec_id)
@given(data=st.data())
def test_every_part_conforms(spec, data):
    check_registered(spec, data)


def test_the_energy_is_a_gaussian():
    energy = gencoop.create("energy", "template-gaussian", dim=2, scale=2.0)
    with torch.no_grad():
        energy.mean.copy_(torch.tensor([1.0, -1.0]))
        x = torch.tensor([[1.0, -1.0], [3.0, -1.0], [1.0, 1.0]])
        assert energy(x).tolist() == pytest.approx([0.0, 0.5, 0.5])


def test_list_components_shows_the_plugin(capsys):
    assert main(["list-components", "--json"]) == 0
    rows = [r for r in json.loads(capsys.readouterr().out) if r["source"] == DIST]
    assert {r["name"] for r in rows} == {s.name for s in PARTS}
