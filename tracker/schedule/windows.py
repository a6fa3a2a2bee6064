"""Window arithmetic: the average forecast intensity over a run's window, and the best window to start in.

The method is the Carbon Aware SDK's (``CarbonAwareSDK``, ``ForecastService``/"rolling average"): a window's
intensity is the average of the forecast points it overlaps, each weighted by the length of the overlap. Here
that is computed as a difference of the forecast's running integral: ``C(t)`` is the integral of the
piecewise-constant forecast from its first point to ``t`` (piecewise linear in ``t``, so ``numpy.interp`` on
the point boundaries gives it exactly), and a window ``[s, s + W)`` averages ``(C(s + W) - C(s)) / W``. The same
running integral of coverage (``K``) finds gaps: a window that is not fully covered by forecast points (it
crosses the horizon, or a hole in the forecast) is refused, never extrapolated.

Candidate starts, as in the SDK, are the points' own start times, plus the earliest allowed start itself (now,
usually inside a point), so that "start now" is always among the candidates and a saving is never negative.
Pure arithmetic: no I/O, no clock (the caller passes ``now``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tracker.errors import TrackerError

if TYPE_CHECKING:
    import numpy as np

COVERAGE_TOLERANCE_S = 1e-6  # float rounding in the running integral of coverage


class NoWindow(TrackerError):
    """No window of the asked duration fits inside the forecast and the allowed span."""


@dataclass(frozen=True)
class Choice:
    """The arithmetic's answer, in Unix seconds (UTC) and gCO2e/kWh; ``tracker.schedule.api`` dresses it up."""

    start_s: float
    end_s: float
    g_per_kwh: float  # the overlap-weighted average over [start_s, end_s)
    now_g_per_kwh: float  # the same over the window starting at the earliest allowed start
    candidates: int  # how many starts were compared

    @property
    def saved_g_per_kwh(self) -> float:
        return self.now_g_per_kwh - self.g_per_kwh

    @property
    def saved_pct(self) -> float:
        return 100.0 * self.saved_g_per_kwh / self.now_g_per_kwh if self.now_g_per_kwh > 0 else 0.0


class Curve:
    """A forecast as running integrals over its point boundaries: built once, asked for many windows."""

    def __init__(self, starts_s: Sequence[float], durations_s: Sequence[float], values: Sequence[float]) -> None:
        import numpy as np

        starts = np.asarray(starts_s, dtype=float)
        durations = np.asarray(durations_s, dtype=float)
        vals = np.asarray(values, dtype=float)
        if not (len(starts) == len(durations) == len(vals)) or len(starts) == 0:
            raise NoWindow("the forecast has no points")
        order = np.argsort(starts, kind="stable")
        starts, durations, vals = starts[order], durations[order], vals[order]
        ends = starts + durations
        if np.any(durations <= 0) or np.any(ends[:-1] > starts[1:] + COVERAGE_TOLERANCE_S):
            raise NoWindow("the forecast's points overlap or have no duration")
        # boundaries: each point's start and end (a gap is a flat stretch of both integrals)
        self.x = np.empty(2 * len(starts))
        self.x[0::2], self.x[1::2] = starts, ends
        area = np.cumsum(vals * durations)
        covered = np.cumsum(durations)
        self.c = np.empty_like(self.x)
        self.k = np.empty_like(self.x)
        self.c[1::2], self.k[1::2] = area, covered
        self.c[0::2] = np.concatenate(([0.0], area[:-1]))
        self.k[0::2] = np.concatenate(([0.0], covered[:-1]))
        self.starts = starts
        self.first = float(starts[0])
        self.horizon = float(ends[-1])

    def averages(self, starts_s: np.ndarray, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Overlap-weighted averages of windows starting at ``starts_s``, and whether each is fully covered."""
        import numpy as np

        lo, hi = starts_s, starts_s + duration_s
        area = np.interp(hi, self.x, self.c) - np.interp(lo, self.x, self.c)
        covered = np.interp(hi, self.x, self.k) - np.interp(lo, self.x, self.k)
        inside = (lo >= self.first) & (hi <= self.horizon + COVERAGE_TOLERANCE_S)
        full = inside & (covered >= duration_s - COVERAGE_TOLERANCE_S)
        return area / duration_s, full

    def average(self, start_s: float, duration_s: float) -> float:
        """One window's average; :class:`NoWindow` when the forecast does not cover all of it."""
        import numpy as np

        values, full = self.averages(np.array([start_s], dtype=float), duration_s)
        if not full[0]:
            raise NoWindow(
                f"the window [{start_s:.0f}, {start_s + duration_s:.0f}) is not covered by the forecast "
                f"[{self.first:.0f}, {self.horizon:.0f}): not extrapolated"
            )
        return float(values[0])


def best_window(
    starts_s: Sequence[float],
    durations_s: Sequence[float],
    values: Sequence[float],
    duration_s: float,
    earliest_s: float,
    latest_end_s: float | None = None,
) -> Choice:
    """The start in ``[earliest_s, latest_end_s - duration_s]`` with the lowest overlap-weighted average.

    ``latest_end_s``: the run must be over by then (a deadline, or now + ``within``); ``None``: the forecast's
    horizon. Windows that cross the horizon are refused, so a ``latest_end_s`` past it is cut to it. Ties go to
    the earliest start. :class:`NoWindow` when nothing fits (or the window starting now is not covered).
    """
    import numpy as np

    if duration_s <= 0:
        raise NoWindow(f"the duration must be positive, not {duration_s!r} s")
    curve = Curve(starts_s, durations_s, values)
    earliest = max(float(earliest_s), curve.first)
    end = curve.horizon if latest_end_s is None else min(float(latest_end_s), curve.horizon)
    latest_start = end - duration_s
    if latest_start < earliest - COVERAGE_TOLERANCE_S:
        raise NoWindow(
            f"a {duration_s / 3600:g} h window does not fit between the earliest start and "
            f"{'the deadline' if latest_end_s is not None and latest_end_s < curve.horizon else 'the forecast horizon'}"
            f" ({(end - earliest) / 3600:.2f} h of forecast left; windows crossing the horizon are refused)"
        )
    points = curve.starts[(curve.starts > earliest) & (curve.starts <= latest_start + COVERAGE_TOLERANCE_S)]
    candidates = np.concatenate(([earliest], points))
    averages, full = curve.averages(candidates, duration_s)
    if not full[0]:
        raise NoWindow("the forecast has a gap in the window starting now: not extrapolated")
    averages = np.where(full, averages, np.inf)
    best = int(np.argmin(averages))  # the first of equal minima: the earliest start
    return Choice(
        start_s=float(candidates[best]),
        end_s=float(candidates[best]) + duration_s,
        g_per_kwh=float(averages[best]),
        now_g_per_kwh=float(averages[0]),
        candidates=int(full.sum()),
    )


def best_starts_uniform(values: np.ndarray, step_s: float, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Many zones at once on one uniform grid (rows: zones, columns: points ``step_s`` apart from the same start).

    Returns, per row, the index of the best start point and that window's average, by one vectorised running
    sum: window ``i`` spans ``k`` whole points and ``r`` seconds of point ``i + k`` (``duration = k * step + r``),
    so its average is ``(S[i + k] - S[i] + v[i + k] * r) / duration``. Only windows inside the horizon count.
    """
    import numpy as np

    data = np.asarray(values, dtype=float)
    if data.ndim != 2 or duration_s <= 0 or step_s <= 0:
        raise NoWindow("values must be a 2-D array, and step and duration positive")
    n = data.shape[1]
    k, r = divmod(duration_s, step_s)
    k = int(k)
    if r < COVERAGE_TOLERANCE_S:
        r = 0.0
    last = n - k - (1 if r else 0)  # starts 0..last fit inside the horizon
    if last < 0:
        raise NoWindow(f"a {duration_s / 3600:g} h window is longer than the forecast")
    running = np.zeros((data.shape[0], n + 1))
    np.cumsum(data * step_s, axis=1, out=running[:, 1:])
    idx = np.arange(last + 1)
    area = running[:, idx + k] - running[:, idx]
    if r:
        area += data[:, idx + k] * r
    averages = area / duration_s
    best = np.argmin(averages, axis=1)
    return best, averages[np.arange(data.shape[0]), best]
