"""One exception hierarchy for the whole package.

Only :class:`ConfigError` (and its parents) ever reaches user code, and only at start: a fault during
measurement is logged and recorded instead (see ``docs/architecture.md``, "Never break the user's code").
"""

from __future__ import annotations


class TrackerError(Exception):
    """Base class of every error raised by ``tracker``."""


class ConfigError(TrackerError, ValueError):
    """A configuration value is wrong. Raised at start, naming the key and the value."""

    def __init__(self, key: str, value: object, reason: str) -> None:
        self.key = key
        self.value = value
        self.reason = reason
        super().__init__(f"{key}={value!r}: {reason}")


class MeasurementError(TrackerError):
    """A power source could not be read. Caught by the sampler, which moves on to the next source."""


class StoreError(TrackerError):
    """A record could not be written to or read from a store."""


class BudgetExceeded(TrackerError):
    """The run's predicted (or measured) energy or emissions exceed its budget and ``on_budget="stop"``: raised by
    ``run.step()`` at the step boundary where the prediction first crosses the budget, so the training loop stops
    there (the framework callbacks in ``tracker.integrations`` turn it into the framework's own clean stop).

    ``what`` is ``"energy_kwh"`` or ``"emissions_kg"``; ``predicted`` and ``budget`` in that unit; ``step`` the
    number of steps done. The exception is the one deliberate raise into user code after start: the user asked
    for it."""

    def __init__(self, what: str, predicted: float, budget: float, step: int) -> None:
        self.what = what
        self.predicted = predicted
        self.budget = budget
        self.step = step
        unit = "kWh" if what == "energy_kwh" else "kg CO2e"
        super().__init__(
            f"predicted {what} {predicted:.6g} {unit} exceeds the budget of {budget:.6g} {unit} (after {step} steps)"
        )
