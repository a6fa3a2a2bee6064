"""The run record: one row per run, with the provenance of every number. Its columns are a contract.

``COLUMNS`` lists them in order; ``docs/records.md`` documents each one (units are in the names). Nested values
(tags, the span profile, notes) are stored as JSON text so that every store holds the same flat row.

The vocabulary built on those columns lives here too, so that the configuration, the stores, the reports and the
command line agree on it by importing it rather than by each keeping a copy: :data:`LABELS` (what a run is
labelled with), :data:`FILTERS` (what a store selects runs by), :data:`GROUPABLE` (what a roll-up groups by) and
:data:`TOTALS` (what a roll-up adds up).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from json.encoder import encode_basestring_ascii  # the C string encoder json.dumps uses (undocumented, stable)
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # built at a run's first step, not at `import tracker` (a dataclass costs ~1 ms to define)
    from tracker.records.steps import StepStat

STATUSES = ("completed", "failed", "interrupted", "terminated", "aborted", "running", "lost")
"""Every status a record may show. The first five end a run. ``running`` is a checkpoint: a run still going, its
figures up to the checkpoint's ``ended_at``, replaced by the final record (``tracker.core.checkpoints``). ``lost``
is never stored: the readers show a checkpoint so when the process that wrote it is gone
(``tracker.stores.liveness``)."""
FINAL_STATUSES = STATUSES[:5]


@dataclass
class SpanStat:
    """All calls of one span name in a run, aggregated: a function-level energy profile."""

    name: str
    calls: int = 0
    duration_s: float = 0.0
    cpu_energy_kwh: float = 0.0
    gpu_energy_kwh: float = 0.0
    ram_energy_kwh: float = 0.0
    energy_kwh: float = 0.0
    emissions_kg: float = 0.0


@dataclass
class RunRecord:
    """Everything known about one finished (or cut-short) run."""

    run_id: str
    project: str
    experiment: str | None
    team: str | None
    organisation: str | None
    name: str | None
    started_at: datetime
    ended_at: datetime
    duration_s: float
    cpu_energy_kwh: float
    gpu_energy_kwh: float
    ram_energy_kwh: float
    energy_kwh: float
    pue: float
    facility_energy_kwh: float
    intensity_g_per_kwh: float
    intensity_source: str
    intensity_year: int | None
    country: str | None
    emissions_kg: float
    cpu_power_w: float
    gpu_power_w: float
    ram_power_w: float
    cpu_method: str
    gpu_method: str
    ram_method: str
    attribution: str
    host: str
    cpu_model: str
    cpu_count: int
    gpu_model: str
    gpu_count: int
    ram_total_gb: float
    tracker_version: str
    status: str
    error: str | None = None
    interval_s: float = 1.0
    # where the electricity came from (issue 3): the grid zone, which step decided it, the factor type
    zone: str | None = None
    location_source: str = "world-average"  # config | cloud-metadata | geoip | default | world-average
    cloud_provider: str | None = None
    cloud_region: str | None = None
    intensity_factor_type: str = "lifecycle"  # or "direct" (combustion only, e.g. eGRID)
    pue_source: str = "default"
    # GHG Protocol Scope 2: emissions_kg is location-based; market-based uses the supplier mix when one is set
    emissions_market_kg: float = 0.0
    market_source: str = "location-based (no supplier mix)"
    embodied_kg: float = 0.0  # SCI's M, reported apart from the operational figures
    # multi-process and multi-node jobs (issue 5): who wrote this record within its job
    job_id: str | None = None
    node: str | None = None
    rank: int | None = None
    local_rank: int | None = None
    world_size: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    spans: list[SpanStat] = field(default_factory=list)
    # SCI per functional unit (issue 12): R's name and count; None when the run counted none. Last, so that a CSV
    # file written before these columns existed still reads back in order (tracker.stores.csv)
    functional_unit: str | None = None
    functional_units: float | None = None
    # a checkpoint's writer (status running; empty on a final record), so that a reader can tell whether that
    # process still lives: last, so that a CSV file begun by an older tracker still reads its columns in place
    pid: int | None = None
    pid_started_at: float | None = None  # the process's start, Unix seconds: a pid used again is another process
    checkpoint_s: float | None = None  # the writer's checkpoint interval: a checkpoint much older is stale
    # web services (issue 12, docs/web.md): the endpoint ("GET /items/{id}": method and route template) and the
    # status class ("2xx") of an interval's per-endpoint record; None on any other run. Last, as above
    endpoint: str | None = None
    status_class: str | None = None
    # the organisation's whole footprint (issue 17): where a record came from (run | equipment | cloud | estimate |
    # imported), and for data-centre equipment and cloud imports the site (or cloud account) and category
    kind: str = "run"
    site: str | None = None
    category: str | None = None
    # carbon-aware scheduling (issue 15): how long the run waited for a greener grid, what decided its start and
    # the forecast intensity at that start (beside the measured intensity_g_per_kwh); None when not scheduled
    waited_s: float | None = None
    scheduled_by: str | None = None
    forecast_g_per_kwh: float | None = None
    # the run's steps (issue 16, tracker.records.steps): not a column of `runs` but the child table `steps`; in
    # to_row() only when there are any (as JSON text, for the spool and the CSV store's steps file)
    steps: list[StepStat] = field(default_factory=list)

    def to_row(self) -> dict[str, Any]:
        """A flat dict: datetimes as ISO 8601 UTC strings, nested values as JSON text. The run's steps (a child
        table, not a column) ride along as JSON text under ``steps`` only when it has any."""
        row = dict(self.__dict__)  # the fields in COLUMNS order (a run's end: no getattr per column) ...
        steps = row.pop("steps", None)
        if len(row) != len(COLUMNS):  # ... unless someone set an attribute of their own on the record
            row = {name: getattr(self, name) for name in COLUMNS}
        if steps:
            from tracker.records.steps import to_json

            row["steps"] = to_json(steps)
        row["started_at"] = iso(self.started_at)
        row["ended_at"] = iso(self.ended_at)
        row["tags"] = json.dumps(self.tags, sort_keys=True) if self.tags else "{}"
        row["notes"] = json_texts(self.notes) if self.notes else "[]"
        row["spans"] = json.dumps([dataclasses.asdict(s) for s in self.spans]) if self.spans else "[]"
        return row

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with the same keys as :meth:`to_row`, nested values kept as JSON values."""
        row = self.to_row()
        row["tags"] = dict(self.tags)
        row["notes"] = list(self.notes)
        row["spans"] = [dataclasses.asdict(s) for s in self.spans]
        if self.steps:
            row["steps"] = [dict(s.__dict__) for s in self.steps]
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RunRecord:
        """Rebuild a record from :meth:`to_row`'s shape (as read back from a store)."""
        values = dict(row)
        values["started_at"] = parse_iso(values["started_at"])
        values["ended_at"] = parse_iso(values["ended_at"])
        for key, empty in (("tags", "{}"), ("notes", "[]"), ("spans", "[]")):
            raw = values.get(key)
            values[key] = json.loads(raw) if isinstance(raw, str) and raw else json.loads(empty)
        values["spans"] = [SpanStat(**s) for s in values["spans"]]
        raw_steps = values.get("steps")
        if raw_steps:
            from tracker.records.steps import from_json

            values["steps"] = from_json(raw_steps) if isinstance(raw_steps, str) else list(raw_steps)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


CHILD_TABLES = frozenset({"steps"})  # RunRecord fields kept in a table of their own, not in a column of `runs`
COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RunRecord) if f.name not in CHILD_TABLES)
FLOAT_COLUMNS = frozenset(f.name for f in dataclasses.fields(RunRecord) if f.type in ("float", "float | None"))
INT_COLUMNS = frozenset(f.name for f in dataclasses.fields(RunRecord) if f.type in ("int", "int | None"))

LABELS: tuple[str, ...] = ("organisation", "team", "project", "experiment")
"""The run labels: who and what a run is for, set in the configuration (``track(project=...)``, ``[tool.tracker]``)
and stored on every record. Broadest first, the order of a roll-up hierarchy: ``tracker report`` offers them as
``--organisation`` ... ``--experiment`` in this order and shows the filters given in it."""

FILTERS: tuple[str, ...] = (*LABELS, "status", "host", "job_id", "node", "run_id", "endpoint", "status_class", "kind")
"""The columns every store selects runs by, by equality (``Store.rows(**filters)``, ``tracker.load_runs(team=...)``,
``summarize(job_id=...)``): the labels, and the columns a user asks "which runs" with. SQLite and PostgreSQL build
the same ``WHERE`` from them (:mod:`tracker.stores.sql`) and refuse any other key (a typo must not silently match
nothing); each names something, none is a measurement."""

_NOT_GROUPABLE = frozenset({"started_at", "ended_at", "tags", "notes", "spans", "pid"})
GROUPABLE: tuple[str, ...] = tuple(c for c in COLUMNS if c not in FLOAT_COLUMNS and c not in _NOT_GROUPABLE)
"""The columns a roll-up may group by (``summarize(by=...)``, ``tracker report --by``): every column that names
something (the labels, ``job_id``, ``zone``, ``host``, ``status``, ...), not the measurements (floats), the times or
the nested JSON values."""

TOTALS: tuple[str, ...] = (
    "runs",
    "duration_s",
    "cpu_energy_kwh",
    "gpu_energy_kwh",
    "ram_energy_kwh",
    "energy_kwh",
    "facility_energy_kwh",
    "emissions_kg",
    "emissions_market_kg",
    "embodied_kg",
)
"""The totals of every roll-up group, in this order: the contract of ``Store.rollup`` and of
:func:`tracker.summarize`. ``runs`` is derived (the count of runs in the group); every other one is a float column
of the record, summed, so roll-ups add up (an organisation's total is the sum of its teams')."""


UNIT_TOTALS: tuple[str, ...] = ("functional_unit", "functional_units", "sci_emissions_kg", "sci_kg_per_unit")
"""The Software Carbon Intensity of a roll-up group, ``((E x I) + M) per R`` (the Green Software Foundation's SCI
specification): R's name (``functional_unit``), R summed over the group's runs that counted it
(``functional_units``), the emissions of those runs, ``emissions_kg + embodied_kg`` (``sci_emissions_kg``), and the
ratio (``sci_kg_per_unit``). Units of different names are not added: a group whose runs counted ``requests`` and
``tokens`` has no name, no count and no ratio, only ``sci_emissions_kg``. A roll-up carries these columns after
:data:`TOTALS` only when at least one of its runs counted units (``tracker.reports.summary``)."""


UNIT_PARTS: tuple[str, ...] = ("unit_first", "unit_last", "units_counted", "units_kg")
"""What a store's roll-up gives after :data:`TOTALS` so that :data:`UNIT_TOTALS` can be worked out: among the
group's runs that counted functional units, the first and last unit name in text order (one name when they are
equal; a counted run without a name is named ``units``, as a run's record names it), the units summed, and their
``emissions_kg + embodied_kg`` summed (0 and ``None`` when no run counted any). A store that leaves them out has
no units to report."""

PART_MERGES: dict[str, str] = {UNIT_PARTS[0]: "min", UNIT_PARTS[1]: "max"}
"""How partial roll-ups of one group combine (pandas' aggregation names): these two as the least and the greatest
name, every other total and part as a sum."""


def json_texts(items: list[str]) -> str:
    """``json.dumps(items)`` for a list of strings, byte for byte, without the encoder's Python layers: the C
    string encoder that ``json.dumps`` uses, joined the way it joins (~1 µs instead of ~5 at every run's end)."""
    try:
        return "[" + ", ".join(map(encode_basestring_ascii, items)) + "]"
    except TypeError:  # something other than text in the list: the general encoder says what
        return json.dumps(items)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a ``Z``-free ``+00:00`` offset (sorts as text)."""
    if moment.tzinfo is not timezone.utc:  # a run's own times are UTC already: no copy
        moment = moment.astimezone(timezone.utc)
    return moment.isoformat(timespec="microseconds")


def parse_iso(text: str | datetime) -> datetime:
    if isinstance(text, datetime):
        return text
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
