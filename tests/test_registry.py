"""The registry: in-process plugins, broken plugins, duplicates, validation, and a real pip-installed plugin."""

import json
import os
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch

import gencoop
from gencoop import hookimpl
from gencoop.cli import main
from gencoop.plugins import pm


class ConstantEnergy(gencoop.Energy):
    def __init__(self, dim: int = 2, value: float = 0.0):
        super().__init__()
        self.event_shape = (dim,)
        self.value = torch.nn.Parameter(torch.tensor(value))

    def forward(self, x):
        return self.value + 0 * x.sum(-1)


class GoodPlugin:
    @hookimpl
    def register_components(self, register):
        register("energy", "constant", ConstantEnergy, summary="E(x) = c", example={"dim": 3})


class BrokenPlugin:
    @hookimpl
    def register_components(self, register):
        register("energy", "half-registered", ConstantEnergy)
        raise RuntimeError("boom while registering")


class DuplicatePlugin:
    @hookimpl
    def register_components(self, register):
        register("flow", "realnvp", ConstantEnergy)


def test_in_process_plugin_is_listed_and_created(capsys):
    plugin = GoodPlugin()
    pm.register(plugin, name="good-test-plugin")
    try:
        spec = gencoop.get("energy", "constant")
        assert spec.summary == "E(x) = c" and spec.source == "good-test-plugin"
        assert set(spec.params()) == {"dim", "value"}
        energy = gencoop.create("energy", "constant", dim=4, value=1.5)
        assert energy.event_shape == (4,) and energy(torch.zeros(2, 4)).tolist() == [1.5, 1.5]
        assert spec.example().event_shape == (3,)
        assert main(["list-components", "--kind", "energy", "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        row = next(r for r in rows if r["name"] == "constant")
        assert {"kind": "energy", "name": "constant"}.items() <= row.items()
    finally:
        pm.unregister(plugin)
    assert "constant" not in [s.name for s in gencoop.components("energy")]


def test_broken_plugin_is_reported_and_skipped():
    plugin = BrokenPlugin()
    pm.register(plugin, name="broken-test-plugin")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            names = [s.name for s in gencoop.components("energy")]
        assert "half-registered" not in names and "mlp" in names  # atomic: nothing of it lands; the host works
        errors = [e for e in gencoop.plugin_errors() if e.plugin == "broken-test-plugin"]
        assert errors and "boom while registering" in errors[0].error
        assert any("broken-test-plugin" in str(w.message) for w in caught)
    finally:
        pm.unregister(plugin)


def test_duplicate_registration_names_both_sources():
    plugin = DuplicatePlugin()
    pm.register(plugin, name="dup-test-plugin")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (error,) = [e for e in gencoop.plugin_errors() if e.plugin == "dup-test-plugin"]
        assert "registered twice" in error.error
        assert "gencoop" in error.error and "dup-test-plugin" in error.error
        assert isinstance(gencoop.create("flow", "realnvp"), gencoop.Flow)  # the built-in keeps its name
    finally:
        pm.unregister(plugin)


def test_create_names_the_bad_field():
    with pytest.raises(gencoop.ConfigError) as info:
        gencoop.create("flow", "realnvp", dim=1, num_layerz=3)
    fields = [f for f, _ in info.value.problems]
    assert fields == ["dim", "num_layerz"]
    assert "valid parameters are" in str(info.value) and "num_layers" in str(info.value)
    with pytest.raises(KeyError, match="Did you mean 'realnvp'"):
        gencoop.create("flow", "realnvpp")


def test_config_is_derived_from_the_signature():
    def factory(width: int, scale: float = 0.5, name="x"):
        return (width, scale, name)

    class Plugin:
        @hookimpl
        def register_components(self, register):
            register("energy", "derived", factory)

    plugin = Plugin()
    pm.register(plugin, name="derived-test-plugin")
    try:
        spec = gencoop.get("energy", "derived")
        assert spec.params()["width"]["required"] and spec.params()["scale"]["default"] == 0.5
        assert spec.create(width="3") == (3, 0.5, "x")  # validated and coerced
        with pytest.raises(gencoop.ConfigError, match="width: required parameter is missing"):
            spec.create()
    finally:
        pm.unregister(plugin)


def test_a_bad_example_is_a_registration_error():
    class Plugin:
        @hookimpl
        def register_components(self, register):
            register("energy", "bad-example", ConstantEnergy, example={"dimm": 3})

    plugin = Plugin()
    pm.register(plugin, name="bad-example-plugin")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (error,) = [e for e in gencoop.plugin_errors() if e.plugin == "bad-example-plugin"]
        assert "dimm" in error.error
    finally:
        pm.unregister(plugin)


def test_list_components_table_and_json(capsys):
    assert main(["list-components"]) == 0
    out = capsys.readouterr().out
    for word in ("flow", "realnvp", "glow", "langevin", "gencoop"):
        assert word in out
    assert main(["list-components", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"kind", "name", "summary", "params", "source", "version"} <= set(rows[0])
    assert sum(r["kind"] == "flow" for r in rows) >= 4


PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "{version}"

[project.entry-points.gencoop]
{module} = "{module}"

[tool.setuptools]
py-modules = ["{module}"]
"""

GOOD_MODULE = """
import torch
import gencoop

class Quadratic(gencoop.Energy):
    def __init__(self, dim: int = 2):
        super().__init__()
        self.event_shape = (dim,)
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):
        return 0.5 * self.scale * x.square().sum(-1)

@gencoop.hookimpl
def register_components(register):
    register("energy", "quadratic-ext", Quadratic, summary="an external energy")
"""


def _write_plugin(root, name, version, module, source):
    pkg = root / name
    pkg.mkdir()
    (pkg / "pyproject.toml").write_text(PLUGIN_PYPROJECT.format(name=name, version=version, module=module))
    (pkg / f"{module}.py").write_text(textwrap.dedent(source))
    return pkg


@pytest.mark.slow
def test_pip_installed_plugin_appears_with_its_distribution(tmp_path):
    good = _write_plugin(tmp_path, "gencoop-ext-demo", "0.3.1", "gencoop_ext_demo", GOOD_MODULE)
    bad = _write_plugin(tmp_path, "gencoop-ext-broken", "0.0.1", "gencoop_ext_broken",
                        "raise ImportError('this plugin is broken on purpose')\n")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(good), str(bad)], check=True, capture_output=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    env.pop("GENCOOP_LOAD_PLUGINS", None)

    def list_json(extra_env=None):
        run = subprocess.run([sys.executable, "-m", "gencoop.cli", "list-components", "--json"],
                             env=dict(env, **(extra_env or {})), capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout), run.stderr

    rows, stderr = list_json()
    (ext,) = [r for r in rows if r["name"] == "quadratic-ext"]
    assert (ext["source"], ext["version"], ext["kind"]) == ("gencoop-ext-demo", "0.3.1", "energy")
    assert "gencoop-ext-broken" in stderr and "broken on purpose" in stderr
    assert any(r["name"] == "realnvp" for r in rows)  # the host still lists its own parts

    table = subprocess.run([sys.executable, "-m", "gencoop.cli", "list-components"], env=env,
                           capture_output=True, text=True)
    assert table.returncode == 0 and "broken plugins" in table.stdout and "quadratic-ext" in table.stdout

    rows, stderr = list_json({"GENCOOP_LOAD_PLUGINS": ""})  # set but empty: no entry points
    assert not any(r["name"] == "quadratic-ext" for r in rows) and "broken" not in stderr
    rows, stderr = list_json({"GENCOOP_LOAD_PLUGINS": "gencoop-ext-demo"})  # only the named one
    assert any(r["name"] == "quadratic-ext" for r in rows) and "broken" not in stderr


def test_a_new_plugin_is_seen_even_when_it_reuses_a_dead_plugins_id():
    class Plugin:
        def __init__(self, name):
            self.name = name

        @hookimpl
        def register_components(self, register):
            register("energy", self.name, ConstantEnergy)

    for t in range(20):
        plugin = Plugin(f"toy{t}")
        pm.register(plugin, name=f"toy-plugin-{t}")
        try:
            assert f"toy{t}" in [s.name for s in gencoop.components("energy")]
        finally:
            pm.unregister(plugin)
        del plugin
