"""Built-in recipes: named run configurations (``gencoop train RECIPE``), registered as kind ``recipe``.

One module per composition (``baselines``, ``coopflow``, …) holds a ``RECIPES`` table and registers it with
:func:`register_recipes`; this module holds what they share. A recipe factory returns a plain dict in the shape of
:class:`gencoop.config.RunConfig`; any field can be changed from the command line
(``--set data.name=rings --set train.steps=500 --set seed=3``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TOY_TRAIN = {"steps": 3000, "batch_size": 256, "eval_every": 1000, "sample_every": 1000, "checkpoint_every": 500}
IMAGE_TRAIN = {"steps": 3000, "batch_size": 128, "eval_every": 1000, "sample_every": 1000, "checkpoint_every": 500}
MLP = {"hidden": [128, 128]}


def recipe(name: str, data: dict[str, Any] | None, model: dict[str, Any], train: dict[str, Any],
           evaluation: dict[str, Any] | None = None) -> Callable[[], dict[str, Any]]:
    """A factory returning a fresh RunConfig-shaped dict (copies, so a caller's edits never leak between runs).
    ``data=None``: the run takes the data set of the run its ``model.base`` names (exponential tilting)."""

    def factory() -> dict[str, Any]:
        cfg = {"recipe": name, "model": dict(model), "train": dict(train)}
        if data is not None:
            cfg["data"] = dict(data)
        if evaluation:
            cfg["eval"] = dict(evaluation)
        return cfg

    factory.__name__ = f"recipe_{name.replace('-', '_')}"
    return factory


def lr(lr: float, **extra: Any) -> dict[str, Any]:
    """The ``train.optim`` fragment: learning rate and any other optimiser setting."""
    return {"optim": {"lr": lr, **extra}}


Recipes = dict[str, tuple[str, Callable[[], dict[str, Any]]]]


def register_recipes(register: Callable[..., None], recipes: Recipes) -> None:
    """Register each ``name: (summary, factory)`` of a recipe table as kind ``recipe``."""
    for name, (summary, factory) in recipes.items():
        register("recipe", name, factory, summary=summary)
