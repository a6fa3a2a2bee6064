"""Weights & Biases, offline: energy and CO2e per epoch under tracker/..., provenance in the run's config.

    WANDB_MODE=offline python examples/ml_wandb.py     # wandb sync wandb/offline-run-* later
"""

from __future__ import annotations

import os

import torch
import wandb

from tracker.integrations import wandb as tracker_wandb


def main() -> None:
    os.environ.setdefault("WANDB_MODE", "offline")
    wandb.init(project="tracker-examples")
    model = torch.nn.Linear(8, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x = torch.randn(4096, 8)
    y = x.sum(1, keepdim=True)
    with tracker_wandb.track(project="examples", experiment="wandb", country="FR") as run:
        for _ in range(3):
            for i in range(0, len(x), 64):
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(x[i : i + 64]), y[i : i + 64])
                loss.backward()
                opt.step()
            wandb.log({"loss": loss.item()})
            run.step("epoch", loss=loss)
    wandb.finish()


if __name__ == "__main__":
    main()
