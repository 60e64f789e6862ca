"""Training harness: the trainer, checkpoints, runs on disk, evaluation and data-parallel helpers."""

from gencoop.train.runs import Run, build_data, build_model, load_run
from gencoop.train.trainer import ResumeMismatch, Trainer

__all__ = ["ResumeMismatch", "Run", "Trainer", "build_data", "build_model", "load_run"]
