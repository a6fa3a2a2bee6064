"""IPython / Jupyter magics: ``%load_ext tracker``, then ``%%track`` for a cell and ``%tracker_start`` /
``%tracker_stop`` for several.

    %load_ext tracker
    %%track --project vision --country FR
    model.fit(...)

The cell runs as usual (its output, its exceptions: a cell that raises stops "Run All", nbconvert and papermill
as any failing cell does; top-level ``await`` is not supported in a tracked cell); its result is the run's
summary: one line as text, and in Jupyter a small HTML table (energy, emissions, power, duration, where the
intensity came from). A cell that raises writes a ``failed`` record. ``run`` of the last tracked cell is in the
namespace as ``_tracker_run``.
"""

from __future__ import annotations

import ast
import shlex
from dataclasses import dataclass
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from tracker.core.run import Tracker
from tracker.records.schema import RunRecord
from tracker.reports.render.labels import esc
from tracker.reports.render.units import duration, energy, mass, number


def parse(line: str) -> dict[str, Any]:
    """``--project P --country FR`` (also ``--project=P``, ``--no-save``) as tracker settings; anything else is a
    :class:`tracker.ConfigError` when the tracker is built."""
    settings: dict[str, Any] = {}
    words = shlex.split(line)
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--no-save":
            settings["save"] = False
            i += 1
            continue
        if not word.startswith("--"):
            from tracker.errors import ConfigError

            raise ConfigError("%%track", word, "expected --KEY VALUE, a tracker setting (--project P)")
        key, eq, value = word[2:].partition("=")
        if not eq:
            i += 1
            value = words[i] if i < len(words) else ""
        settings[key.replace("-", "_")] = value
        i += 1
    return settings


@dataclass
class Summary:
    """A run's summary as a notebook shows it: one line of text, or an HTML table in Jupyter."""

    record: RunRecord

    def line(self) -> str:
        r = self.record
        power = r.energy_kwh * 3.6e6 / r.duration_s if r.duration_s > 0 else 0.0
        return (
            f"tracker: {r.status}, {duration(r.duration_s)}, {energy(r.energy_kwh)}, {mass(r.emissions_kg)} CO2e, "
            f"{number(power)} W ({r.country or r.zone or 'world average'}, cpu {r.cpu_method}) run {r.run_id[:12]}"
        )

    def __repr__(self) -> str:
        return self.line()

    def _repr_html_(self) -> str:
        r = self.record
        rows = [
            ("status", r.status),
            ("duration", duration(r.duration_s)),
            ("energy", energy(r.energy_kwh)),
            ("emissions", f"{mass(r.emissions_kg)} CO2e"),
            ("power", f"{number(r.energy_kwh * 3.6e6 / r.duration_s if r.duration_s > 0 else 0.0)} W"),
            ("intensity", f"{number(r.intensity_g_per_kwh)} g/kWh ({r.intensity_source})"),
            ("measured by", f"cpu {r.cpu_method}, gpu {r.gpu_method}, ram {r.ram_method}"),
            ("steps", str(len(r.steps))),
            ("run", r.run_id),
        ]
        body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in rows)
        return f'<table class="tracker-summary" data-run-id="{esc(r.run_id)}">{body}</table>'


@magics_class
class TrackerMagics(Magics):  # type: ignore[misc]
    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.tracker: Tracker | None = None

    @cell_magic
    def track(self, line: str, cell: str) -> Summary | None:
        """Run the cell as one tracked run; ``--project P --country FR ...`` as ``tracker.track``'s settings.

        The cell runs here, in the user's namespace (as ``%%time`` runs it), not through a nested ``run_cell``:
        that one would catch the cell's exception and report it as handled, and "Run All", nbconvert and
        papermill would go on past a failed cell. Its exception ends the run ``failed`` and propagates."""
        tracker = Tracker(**parse(line))
        run = tracker.start()
        self.shell.user_ns["_tracker_run"] = run
        try:
            value = self._execute(cell)
        except BaseException as exc:
            tracker.stop(*_outcome(exc))
            raise
        record = tracker.stop()
        if value is not None:  # the cell's last expression, shown as a cell shows it, before the summary
            from IPython.display import display

            display(value)
        return Summary(record)

    def _execute(self, cell: str) -> Any:
        """Run the cell's code (IPython's syntax and AST transforms applied) in the user's namespace; the value of
        its last line when that is an expression."""
        shell = self.shell
        tree = shell.transform_ast(shell.compile.ast_parse(shell.transform_cell(cell)))
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(shell.compile(tree, "<tracked cell>", "exec"), shell.user_ns)
        if last is None:
            return None
        return eval(shell.compile(ast.Expression(last.value), "<tracked cell>", "eval"), shell.user_ns)

    @line_magic
    def tracker_start(self, line: str) -> None:
        """Start a run that lasts until ``%tracker_stop`` (over several cells)."""
        if self.tracker is not None and self.tracker.run is not None and self.tracker.run.active:
            self.tracker.stop("interrupted", "%tracker_start again before %tracker_stop")
        self.tracker = Tracker(**parse(line))
        self.shell.user_ns["_tracker_run"] = self.tracker.start()

    @line_magic
    def tracker_stop(self, line: str) -> Summary | None:
        """Stop the run ``%tracker_start`` began; its summary."""
        tracker, self.tracker = self.tracker, None
        if tracker is None:
            print("tracker: no run to stop (%tracker_start first)")
            return None
        return Summary(tracker.stop())


def _outcome(exc: BaseException | None) -> tuple[str, str | None]:
    from tracker.core.run import outcome

    return outcome(exc)


def load(ipython: Any) -> None:
    """Register the magics (``%load_ext tracker``)."""
    ipython.register_magics(TrackerMagics)
