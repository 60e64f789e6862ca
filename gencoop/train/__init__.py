"""Training harness: the trainer, checkpoints, runs on disk, evaluation and data-parallel helpers."""

from gencoop.train.runs import Run, build_data, build_model, load_run
from gencoop.train.trainer import Trainer

__all__ = ["Run", "Trainer", "build_data", "build_model", "load_run"]
