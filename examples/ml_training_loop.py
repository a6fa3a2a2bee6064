"""A plain PyTorch training loop with live readings, a step per epoch, a prediction and a budget (docs/ml.md).

    pip install -e '.[ml-test]'    # or just torch
    python examples/ml_training_loop.py
"""

from __future__ import annotations

import torch

import tracker

EPOCHS = 20


def main() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(4096, 16)
    y = x.sum(1, keepdim=True)
    settings = {"project": "examples", "experiment": "loop", "country": "FR", "total_steps": EPOCHS,
                "budget_kg": 0.001, "on_budget": "stop"}  # fmt: skip
    with tracker.track(**settings) as run:
        try:
            for epoch in range(EPOCHS):
                for i in range(0, len(x), 64):
                    opt.zero_grad()
                    loss = torch.nn.functional.mse_loss(model(x[i : i + 64]), y[i : i + 64])
                    loss.backward()
                    opt.step()
                step = run.step("epoch", loss=loss, samples=len(x))
                print(f"epoch {epoch}: loss {loss.item():.4f}, {step.energy_kwh * 1000:.4f} Wh, "
                      f"so far {run.energy_kwh * 1000:.4f} Wh / {run.emissions_kg * 1000:.4f} g CO2e")  # fmt: skip
                if epoch == 0 and run.prediction is not None:
                    print(run.prediction.describe())
        except tracker.BudgetExceeded as exc:
            print(f"stopped: {exc}")
    print(tracker.load_steps(run.run_id)[["step", "energy_kwh", "energy_kwh_per_sample", "loss"]].to_string())


if __name__ == "__main__":
    main()
