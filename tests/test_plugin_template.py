"""plugins/template: a package made from it by the README's copy-and-rename recipe installs and passes its own
tests unchanged (pytester-style, in a subprocess, against this checkout's gencoop)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parents[1] / "plugins" / "template"
JUNK = shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache", ".hypothesis", "build", "dist")


def readme_renames(new: str) -> list[tuple[str, str]]:
    """The ``sed -e 's/OLD/NEW/g'`` pairs of the template README's recipe, with its example name replaced."""
    text = (TEMPLATE / "README.md").read_text()
    pairs = re.findall(r"-e 's/([^/]+)/([^/]+)/g'", text)
    assert len(pairs) >= 3, "the README's rename recipe is missing"
    return [(old, repl.replace("myparts", new)) for old, repl in pairs]


def make_plugin(dest: Path, new: str) -> Path:
    """Copy the template and apply the README's renames to every file and to the package directory."""
    pkg = dest / f"gencoop-{new}"
    shutil.copytree(TEMPLATE, pkg, ignore=JUNK)
    (pkg / "gencoop_template").rename(pkg / f"gencoop_{new}")
    renames = readme_renames(new)
    for path in pkg.rglob("*"):
        if path.is_file():
            text = path.read_text()
            for old, repl in renames:
                text = text.replace(old, repl)
            path.write_text(text)
    return pkg


def test_the_readme_recipe_renames_every_identifier(tmp_path):
    pkg = make_plugin(tmp_path, "demo")
    leftovers = [p for p in pkg.rglob("*")
                 if p.is_file() and re.search(r"gencoop[-_]template|template-", p.read_text())]
    assert leftovers == []
    assert 'name = "gencoop-demo"' in (pkg / "pyproject.toml").read_text()
    assert '"demo-gaussian"' in (pkg / "gencoop_demo" / "__init__.py").read_text()


@pytest.mark.slow
def test_a_plugin_made_from_the_template_passes_its_tests(tmp_path):
    pkg = make_plugin(tmp_path, "demo")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(pkg)], check=True, capture_output=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
               HYPOTHESIS_PROFILE="ci")
    env.pop("GENCOOP_LOAD_PLUGINS", None)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=pkg, env=env,
                         capture_output=True, text=True)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert re.search(r"\b\d+ passed\b", out) and not re.search(r"\b\d+ (failed|skipped|errors?)\b", out), out
