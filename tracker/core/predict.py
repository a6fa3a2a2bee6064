"""Predicting a run's total energy and emissions from its first steps (pure functions, no I/O).

The anchor is carbontracker (Anthony, Kanding and Selvan, 2020, "Carbontracker: Tracking and Predicting the Carbon
Footprint of Training Deep Learning Models", arXiv:2007.03051): it measures the first ``monitor_epochs`` epochs
(default 1) and multiplies their mean energy and duration by the number of epochs, once, as a point value.

Ours differs in three ways (docs/ml.md):

- it is updated at every step boundary from ``predict_after`` steps on (default 1, carbontracker's default), so
  a run that speeds up or slows down is followed, and the budget is checked against the latest value;
- it adds what was measured so far to the mean of the observed steps times the steps remaining (the same as
  carbontracker's product when all steps are alike; the time before the first step is counted as measured);
- it gives a 95 % interval: the remaining ``m`` steps as draws from the observed ones, the variance of their sum
  ``m s^2`` plus that of the estimated mean ``m^2 s^2 / n``, with Student's t for ``n - 1`` degrees of freedom
  (one step: no spread, the interval is the point).

Emissions are predicted as the predicted energy times the run's emissions per kWh so far (the grid's intensity is
not forecast here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Student's t, two-sided 95 % (0.975 quantile) for 1..30 degrees of freedom (any statistics table, e.g. NIST/SEMATECH
# e-Handbook of Statistical Methods, 2012, table 1.3.6.7.2); beyond, the Cornish-Fisher expansion below.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
    2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
METHOD = "measured so far + mean step x steps left; 95% interval by Student's t over the steps' spread"


# the normal's 0.975 quantile (Abramowitz and Stegun, 1964, table 26.5)
_Z975 = 1.959963984540054


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom: the table to 30, then the Cornish-Fisher
    expansion of t's quantile about the normal's in powers of 1/df (Abramowitz and Stegun, 1964, formula 26.7.5),
    within 1e-5 of the exact value from 30 on (2.0395 at 31, 2.0211 at 40, 1.9799 at 120), so the quantile falls
    smoothly to 1.96 instead of jumping there after 30."""
    if df < 1:
        return _Z975
    if df <= len(_T975):
        return _T975[df - 1]
    z, v = _Z975, float(df)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / v + g2 / v**2 + g3 / v**3 + g4 / v**4


@dataclass(frozen=True)
class Prediction:
    """Where the run will end: its total energy (kWh of IT energy) and emissions (kg CO2e), with a 95 % interval,
    made after ``steps_done`` of ``steps_total`` steps."""

    steps_done: int
    steps_total: int
    energy_kwh: float
    energy_kwh_low: float
    energy_kwh_high: float
    emissions_kg: float
    emissions_kg_low: float
    emissions_kg_high: float
    method: str = METHOD

    def describe(self) -> str:
        return (
            f"predicted after {self.steps_done}/{self.steps_total} steps: {self.energy_kwh:.4g} kWh "
            f"(95% {self.energy_kwh_low:.4g}-{self.energy_kwh_high:.4g}), {self.emissions_kg:.4g} kg CO2e "
            f"(95% {self.emissions_kg_low:.4g}-{self.emissions_kg_high:.4g})"
        )


class Moments:
    """Count, mean and sum of squared deviations of the steps' energies, updated one step at a time (Welford,
    1962): a prediction at every boundary costs the same at the 10th step as at the 100,000th."""

    __slots__ = ("m2", "mean", "n")

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)

    @property
    def variance(self) -> float:
        return self.m2 / (self.n - 1) if self.n >= 2 else 0.0


def predict(
    step_kwh: list[float] | Moments, total: int, so_far_kwh: float, so_far_kg: float
) -> Prediction:
    """The run's total from the energies of its ``n`` steps so far (``step_kwh``, or their :class:`Moments`), out of
    ``total``, and what the whole run has used so far (``so_far_kwh``: the steps plus any time outside them;
    ``so_far_kg`` its emissions)."""
    if not isinstance(step_kwh, Moments):
        moments = Moments()
        for e in step_kwh:
            moments.add(e)
        step_kwh = moments
    n = step_kwh.n
    if n < 1:
        raise ValueError("a prediction needs at least one step")
    left = max(0, total - n)
    energy = so_far_kwh + left * step_kwh.mean
    if n >= 2 and left:
        half = t975(n - 1) * math.sqrt(step_kwh.variance * (left + left * left / n))
    else:
        half = 0.0
    low, high = max(so_far_kwh, energy - half), energy + half
    kg_per_kwh = so_far_kg / so_far_kwh if so_far_kwh > 0 else 0.0
    return Prediction(
        n, total, energy, low, high, energy * kg_per_kwh, low * kg_per_kwh, high * kg_per_kwh
    )
