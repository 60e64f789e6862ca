"""Runs on disk: build data and model from a RunConfig, and load a finished (or interrupted) run back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gencoop.config import ConfigError, RunConfig, validate
from gencoop.data.dataset import ArrayDataset
from gencoop.models.base import Model
from gencoop.registry import get
from gencoop.train import checkpoint


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def held_out_params(spec, params: dict[str, Any]) -> dict[str, Any]:
    """The settings of a data set's held-out part: its test split, or (toys) a fresh draw with the seed + 10,000."""
    fields = spec.config.model_fields
    params = dict(params)
    if "split" in fields:
        params["split"] = "test"
    elif "seed" in fields:
        params["seed"] = int(params.get("seed", fields["seed"].default or 0)) + 10_000
    return params


def build_data(config: RunConfig, split: str = "train") -> ArrayDataset:
    """The configured data set; for ``split="test"`` its held-out part (images: the test split; toys: a fresh
    draw with another seed)."""
    spec = get("dataset", config.data.name)
    params = held_out_params(spec, config.data.params) if split == "test" else config.data.params
    try:
        return spec.create(**params)
    except ConfigError as exc:
        raise ConfigError(f"data ({exc.where})", [(f"data.{f}", m) for f, m in exc.problems]) from None


def build_model(config: RunConfig, data: ArrayDataset) -> Model:
    """The configured model, its ``event_shape`` taken from the data unless the config sets it."""
    spec = get("model", config.model.name)
    params = config.model.params
    if "event_shape" in spec.config.model_fields:
        params.setdefault("event_shape", tuple(data.event_shape))
    try:
        return spec.create(**params)
    except ConfigError as exc:
        raise ConfigError(f"model ({exc.where})", [(f"model.{f}", m) for f, m in exc.problems]) from None


@dataclass
class Run:
    path: Path
    config: RunConfig
    model: Model
    data: ArrayDataset
    step: int


def load_run(path: str | Path, *, which: str = "auto", device: str = "cpu") -> Run:
    """Rebuild the model of the run folder ``path`` from its config and weights.

    ``which``: "checkpoint" (the last), "best" (early stopping's best), or "auto" (best when it exists).
    """
    path = Path(path)
    cfg_file = path / "config.json"
    if not cfg_file.exists():
        raise FileNotFoundError(f"{path} is not a gencoop run folder (no config.json); train one with `gencoop train`")
    config: RunConfig = validate(RunConfig, json.loads(cfg_file.read_text()), str(cfg_file))  # type: ignore
    data = build_data(config)
    model = build_model(config, data)
    best = path / checkpoint.BEST
    ckpt = best if which == "best" or (which == "auto" and best.exists()) else path / checkpoint.CHECKPOINT
    if not ckpt.exists():
        raise FileNotFoundError(f"{ckpt} does not exist; the run has not saved weights yet")
    state: dict[str, Any] = checkpoint.load(ckpt, device)
    weights = state["ema"] if state.get("ema") is not None else state["model"]
    model.load_state_dict(weights)
    return Run(path, config, model.to(device).eval(), data, int(state["step"]))
