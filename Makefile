PYTHON ?= python3

.PHONY: setup demo test lint test-plugins

setup:
	bash scripts/setup.sh

# The main job on an embedded default: a toy data set made in-process.
demo: setup
	gencoop train coopflow-25gaussians --out runs/demo --overwrite

test: setup
	$(PYTHON) -m pytest -q

# ruff: pyflakes, isort, bugbear, pyupgrade, pycodestyle (settings in pyproject.toml); CI runs it before the tests
lint: setup
	$(PYTHON) -m ruff check .

# The plugin packages (installed by setup) and the checks on them: guide, template, conformance coverage.
test-plugins: setup
	$(PYTHON) -m pytest -q plugins/gencoop-zuko/tests plugins/gencoop-hmc/tests tests/test_plugin_template.py tests/test_meta.py
