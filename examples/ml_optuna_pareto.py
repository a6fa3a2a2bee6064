"""Optuna: accuracy against CO2e. Each trial is measured as a run; its emissions are the study's second objective,
and the Pareto front (the trials no other beats on both) is printed as a table and drawn as an SVG scatter.

    python examples/ml_optuna_pareto.py      # writes pareto.svg
"""

from __future__ import annotations

import optuna
import torch

from tracker.integrations.optuna import TrackedObjective, pareto


def objective(trial: optuna.Trial) -> float:
    """A small classifier whose width and epochs the study picks: more of either, more accuracy and more CO2e."""
    width = trial.suggest_int("width", 2, 64, log=True)
    epochs = trial.suggest_int("epochs", 1, 20)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2048, 10, generator=g)
    y = (x[:, :3].sum(1) * x[:, 3] > 0).long()
    model = torch.nn.Sequential(torch.nn.Linear(10, width), torch.nn.ReLU(), torch.nn.Linear(width, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(epochs):
        for i in range(0, 1536, 64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[i : i + 64]), y[i : i + 64]).backward()
            opt.step()
    with torch.no_grad():
        return (model(x[1536:]).argmax(1) == y[1536:]).float().mean().item()


def scatter(trials: list[dict], front: list[dict], path: str) -> None:
    """Accuracy (y) against g CO2e (x); the Pareto front in colour."""
    xs = [t["emissions_kg"] * 1000 for t in trials]
    ys = [t["value"] for t in trials]
    x0, x1, y0, y1 = min(xs), max(xs) or 1, min(ys), max(ys) or 1
    def px(v: float) -> float:
        return 40 + 500 * (v - x0) / ((x1 - x0) or 1)
    def py(v: float) -> float:
        return 260 - 220 * (v - y0) / ((y1 - y0) or 1)
    best = {t["number"] for t in front}
    dots = "".join(
        f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="{"#d1495b" if t["number"] in best else "#999"}">'
        f'<title>trial {t["number"]}: {y:.3f}, {x:.4f} g</title></circle>'
        for t, x, y in zip(trials, xs, ys, strict=True)
    )
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 560 300">{dots}'
                 '<text x="40" y="290">g CO2e per trial</text><text x="4" y="20">accuracy</text></svg>')  # fmt: skip


def main() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(TrackedObjective(objective, also=("emissions_kg",), project="examples", experiment="optuna",
                                    country="FR"), n_trials=20)  # fmt: skip
    front = pareto(study, ("value", "emissions_kg"))
    print(f"{'trial':>5} {'accuracy':>9} {'g CO2e':>9} {'Wh':>8}  params")
    for row in front:
        params = study.trials[row["number"]].params
        print(f"{row['number']:>5} {row['value']:>9.3f} {row['emissions_kg'] * 1000:>9.4f} "
              f"{row['energy_kwh'] * 1000:>8.4f}  {params}")  # fmt: skip
    everything = [{"number": t.number, "value": t.values[0], "emissions_kg": t.values[1]} for t in study.trials]
    scatter(everything, front, "pareto.svg")


if __name__ == "__main__":
    main()
