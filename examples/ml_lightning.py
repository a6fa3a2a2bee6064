"""PyTorch Lightning with the tracker callback: energy, CO2e and power per epoch through the Lightning logger.

    python examples/ml_lightning.py     # then look at lightning_logs/.../metrics.csv
"""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.loggers import CSVLogger

from tracker.integrations.lightning import TrackerCallback


class Regressor(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], i: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=1e-2)


def main() -> None:
    x = torch.randn(2048, 8)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)), batch_size=64)
    callback = TrackerCallback(project="examples", experiment="lightning", country="FR")
    trainer = L.Trainer(max_epochs=3, callbacks=[callback], logger=CSVLogger("lightning_logs"), accelerator="cpu",
                        enable_progress_bar=False)  # fmt: skip
    trainer.fit(Regressor(), loader)
    for step in callback.record.steps:
        print(f"epoch {step.step}: {step.energy_kwh * 1000:.4f} Wh, {step.power_w:.1f} W, "
              f"loss {step.metrics.get('train_loss')}")  # fmt: skip


if __name__ == "__main__":
    main()
