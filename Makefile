PYTHON ?= python3

.PHONY: setup demo test

setup:
	bash scripts/setup.sh

# The main job on an embedded default: a toy data set made in-process.
demo: setup
	gencoop train coopflow-25gaussians --out runs/demo

test: setup
	$(PYTHON) -m pytest -q
