"""Run by tests/test_train.py under torchrun: a few data-parallel steps, then each rank saves its parameters."""

import sys
from pathlib import Path

import torch

from gencoop.config import load_run_config
from gencoop.train import Trainer

out = Path(sys.argv[1])
config = load_run_config({
    "seed": 3,
    "data": {"name": "8gaussians", "n": 512},
    "model": {"name": "ebm", "energy": {"name": "mlp", "hidden": [16, 16]},
              "sampler": {"name": "langevin", "steps": 3, "step_size": 0.1}},
    "train": {"steps": 4, "batch_size": 32, "threads": 1, "checkpoint_every": 2},
    "eval": {"samples": 64, "batch_size": 64},
})
trainer = Trainer(config, out / "run", quiet=True)
initial = {k: v.clone() for k, v in trainer.model.state_dict().items()}
trainer.fit()
rank = trainer.ctx.rank
torch.save({"initial": initial, "final": trainer.model.state_dict(), "world": trainer.ctx.world,
            "batch": trainer.stream.perm[:8]}, out / f"rank{rank}.pt")
