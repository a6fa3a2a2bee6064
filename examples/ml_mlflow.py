"""MLflow: energy and CO2e per epoch as MLflow metrics, the record's provenance as tags and parameters, in a
local file store (no server).

    MLFLOW_ALLOW_FILE_STORE=true python examples/ml_mlflow.py && mlflow ui --backend-store-uri ./mlruns
"""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import torch

from tracker.integrations import mlflow as tracker_mlflow


def main() -> None:
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps the file store behind this opt-in
    mlflow.set_tracking_uri(Path("mlruns").resolve().as_uri())
    model = torch.nn.Linear(8, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x = torch.randn(4096, 8)
    y = x.sum(1, keepdim=True)
    with mlflow.start_run(), tracker_mlflow.track(project="examples", experiment="mlflow", country="FR") as run:
        for _ in range(3):
            for i in range(0, len(x), 64):
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(x[i : i + 64]), y[i : i + 64])
                loss.backward()
                opt.step()
            mlflow.log_metric("loss", loss.item())
            run.step("epoch", loss=loss)  # -> step_energy_kwh, step_emissions_kg, power_w, energy_kwh, emissions_kg
    print(f"logged {len(run.record.steps)} epochs; run {run.run_id}")


if __name__ == "__main__":
    main()
