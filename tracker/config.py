"""Configuration: one frozen dataclass, resolved from five layers and validated at start.

Precedence, highest first: arguments > ``TRACKER_*`` environment variables > ``[tool.tracker]`` in the nearest
``pyproject.toml`` > the user config file (``~/.config/tracker/config.toml``) > defaults. Every value remembers
which layer it came from, so ``tracker detect`` and the record can say why a number was used.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker.errors import ConfigError
from tracker.paths import config_file
from tracker.records.schema import LABELS as _LABELS
from tracker.settings import (
    MEASURING,
    Flag,
    Setting,
    declared,
    not_blank,
    setting,
    storable,
    to_bool,
    to_count,
    to_float,
    to_lower,
    to_port,
    to_tags,
    to_text,
    within,
)

if TYPE_CHECKING:  # imported where used: `import tracker` stays cheap (CSV parsing, dataclasses of the tables)
    from tracker.carbon.market import Supplier

logger = logging.getLogger(__name__)

MODES = ("machine", "process", "cgroup", "auto")


# -- rules that belong to one key (its declaration in Config names them) ------------------------------------


def _to_pue(key: str, value: Any) -> float | str:
    from tracker.carbon.pue import provider_pue

    if isinstance(value, str) and (provider_pue(value) or value.strip().lower().endswith(".csv")):
        return value.strip()  # a provider's published value or a site schedule: resolved by _resolve_pue
    return to_float(key, value)


def _to_suppliers(key: str, value: Any) -> tuple[Supplier, ...]:
    from tracker.carbon.market import parse_suppliers

    return parse_suppliers(value)


def _check_store(key: str, value: str) -> None:
    if value:
        from tracker.stores.locations import check_location

        check_location(value)


def _check_checkpoint(key: str, value: float) -> None:
    """0 turns checkpoints off; otherwise at least a second (a store write each time) and at most a day."""
    if value != 0 and not (math.isfinite(value) and MIN_CHECKPOINT_S <= value <= MAX_CHECKPOINT_S):
        why = f"expected 0 (off) or {MIN_CHECKPOINT_S:g} to {MAX_CHECKPOINT_S:g} seconds between checkpoints"
        raise ConfigError(key, value, why)


MIN_CHECKPOINT_S, MAX_CHECKPOINT_S = 1.0, 86400.0


def _split_cloud(text: str) -> dict[str, str]:
    provider, sep, region = text.partition(":")
    if not sep or not provider or not region:
        raise ConfigError("cloud", text, "expected PROVIDER:REGION, e.g. aws:eu-west-1")
    return {"cloud_provider": provider, "cloud_region": region}


#: no grid emits more: coal-only grids are about 1,000 gCO2e/kWh; a bound that catches lb/MWh and kg/MWh mix-ups
MAX_G_PER_KWH = 2000.0


def _to_year(key: str, value: Any) -> int:
    number = to_float(key, value)
    if not (number.is_integer() and 1900 <= number <= 2100):
        raise ConfigError(key, value, "expected a year, e.g. 2024")
    return int(number)


def _check_label_text(key: str, value: str) -> None:
    """Text that goes into a record's provenance column: not blank, and storable like a label."""
    not_blank(key, value)
    storable(key, value)


_WHERE = (*MEASURING, "intensity")  # `tracker intensity` takes the location settings too
_CLOUD = Flag(
    "--cloud",
    metavar="PROVIDER:REGION",
    help="the cloud region the machine runs in, e.g. aws:eu-west-1, gcp:europe-west4",
    commands=_WHERE,
    split=_split_cloud,
)
_MONITOR = Flag(commands=("monitor",))  # live metrics: flags of `tracker monitor` only
_WATTS = "watts must be zero or positive"


@dataclass(frozen=True)
class Config:
    """Everything a run needs to know before it starts. Build it with :func:`resolve`.

    Each field but the last two is a setting, declared once here (:func:`tracker.settings.setting`): its
    default, coercion, allowed values, help text and command-line flag. A label (``_LABELS``) must not be blank,
    and a label or a tag holds no control character and no byte that was not UTF-8 (:func:`storable`).
    """

    project: str = setting("default", help="the project the run belongs to (a label of reports)", coerce=to_text)
    experiment: str | None = setting(help="the experiment within the project (a label)", coerce=to_text)
    team: str | None = setting(help="the team that runs it (a label)", coerce=to_text)
    organisation: str | None = setting(help="the organisation (a label; the annual statement's unit)", coerce=to_text)
    tags: Mapping[str, str] = setting(
        help="free labels, key=value",
        coerce=to_tags,
        flag=Flag("--tag", form="repeat", metavar="KEY=VALUE"),
        factory=dict,
    )
    country: str | None = setting(
        help="ISO 3166 alpha-2 or alpha-3 code (Ember yearly value)",
        coerce=to_text,
        flag=Flag(commands=_WHERE),
    )
    pue: float = setting(
        1.0,
        help="a number >= 1, a provider (aws, azure, gcp, industry) or a CSV",
        coerce=_to_pue,
        check=within(1.0, why="PUE must be a number >= 1.0 (1.0 means no facility overhead)"),
    )
    cpu_watts: float | None = setting(
        help="a constant CPU power (W), never scaled; replaces RAPL and the model",
        coerce=to_float,
        check=within(0, why=_WATTS),
    )
    gpu_watts: float | None = setting(
        help="a constant GPU power (W), never scaled; replaces NVML", coerce=to_float, check=within(0, why=_WATTS)
    )
    cpu_tdp: float | None = setting(  # a maximum scaled by the utilisation curve: CodeCarbon's force_cpu_power
        help="the CPU's TDP (W per socket) for the TDP model, instead of the table's; replaces RAPL",
        coerce=to_float,
        check=within(0, above=True, why="the TDP must be above zero (watts per socket)"),
    )
    instance_type: str | None = setting(
        help="the cloud instance type (e.g. m5.large, e2-standard-2): the VM's CPU is modelled per vCPU from it",
        coerce=to_text,
    )
    ram_watts: float | None = setting(
        help="a constant RAM power (W), never scaled; replaces RAPL and the model",
        coerce=to_float,
        check=within(0, why=_WATTS),
    )
    overlap: str = setting(
        "whole",
        help=(
            "concurrent runs on one meter: whole (each gets all the energy measured while it runs) or split "
            "(each tick's energy shared by the CPU time of each run's thread: the runs add up to the machine)"
        ),
        coerce=to_text,
        choices=("whole", "split"),
    )
    mode: str = setting(
        "machine",
        help=(
            "attribution: the whole machine, the process tree's share, the cgroup's share, or auto (cgroup in a "
            "container's or SLURM job's cgroup, else machine; what an unset mode does)"
        ),
        coerce=to_text,
        choices=MODES,
    )
    interval: float = setting(
        1.0,
        help="sampling interval in seconds",
        coerce=to_float,
        check=within(0.01, 3600, why="the sampling interval must be between 0.01 and 3600 seconds"),
    )
    store: str | None = setting(
        help="SQLite path, .csv path or postgresql:// URL (default: the user data dir)",
        coerce=to_text,
        check=_check_store,
    )
    csv: str | None = setting(help="also append the record to this CSV file", coerce=to_text)
    save: bool = setting(True, help="write the record to the store", coerce=to_bool, flag=None)
    checkpoint_s: float = setting(  # docs/stores.md, "Checkpoints": kill -9 and power loss lose at most this much
        60.0,
        help="a run that lasts longer writes a checkpoint record (status running, energy so far) this often "
        "(seconds; 0: off); its final record replaces it",
        coerce=to_float,
        check=_check_checkpoint,
    )
    # where the electricity comes from (docs/methodology.md, "Location"): explicit settings win over detection
    zone: str | None = setting(
        help="Electricity Maps zone (NL, DK-DK1, US-CAL-CISO) or US-STATE-XX (eGRID)",
        coerce=to_text,
        flag=Flag(commands=_WHERE),
    )
    cloud_provider: str | None = setting(
        help="the cloud provider (with cloud_region)", coerce=to_lower, choices=("aws", "gcp", "azure"), flag=_CLOUD
    )
    cloud_region: str | None = setting(help="the cloud region (with cloud_provider)", coerce=to_text, flag=_CLOUD)
    cloud_metadata: str = setting(
        "auto",
        help="ask the instance metadata service: auto (when the machine looks like a cloud VM), on or off",
        coerce=to_text,
        choices=("auto", "on", "off"),
    )
    geoip: bool = setting(
        False, help="ask an online geo-IP service for the country (opt-in)", coerce=to_bool, flag=Flag(form="switch")
    )
    default_zone: str | None = setting(
        help="the zone used when nothing else decided (before the labelled world average)", coerce=to_text
    )
    live: str = setting(
        "auto",
        help="Electricity Maps live data: auto (when ELECTRICITYMAPS_API_TOKEN is set), on or off",
        coerce=to_text,
        choices=("auto", "on", "off"),
        flag=Flag(commands=_WHERE),
    )
    emission_factor_type: str = setting(
        "lifecycle",
        help="the emission factor type asked of Electricity Maps",
        coerce=to_text,
        choices=("lifecycle", "direct"),
        flag=Flag("--factor", commands=("intensity",)),
    )
    # a factor of the user's own (a national agency's annual figure): replaces the embedded and live values
    intensity_g_per_kwh: float | None = setting(
        help="your own grid intensity (gCO2e/kWh, location-based), of the type emission_factor_type says; "
        "replaces the embedded and live values",
        coerce=to_float,
        check=within(0, MAX_G_PER_KWH, why=f"a grid intensity is between 0 and {MAX_G_PER_KWH:g} gCO2e/kWh"),
        flag=Flag(commands=_WHERE),
    )
    intensity_source: str | None = setting(
        help="where intensity_g_per_kwh comes from (e.g. 'UBA 2024, German electricity mix'), kept in the record",
        coerce=to_text,
        check=_check_label_text,
        flag=Flag(commands=_WHERE),
    )
    intensity_year: int | None = setting(
        help="the year intensity_g_per_kwh applies to, kept in the record",
        coerce=_to_year,
        flag=Flag(commands=_WHERE),
    )
    # facility and contracts
    pue_schedule: str | None = setting(
        help="daily or monthly PUE values of the site (date,pue)", coerce=to_text, flag=Flag(metavar="CSV")
    )
    suppliers: tuple[Supplier, ...] = setting(
        (),
        help="the supplier mix (market-based emissions); shares sum to 100",
        coerce=_to_suppliers,
        flag=Flag("--supplier", form="repeat", metavar="NAME:SHARE%:KG_PER_KWH"),
    )
    embodied_kg: float | None = setting(  # SCI's TE, amortised over the device's lifetime
        help="the device's embodied emissions (kg CO2e)",
        coerce=to_float,
        check=within(0, why="embodied emissions must be zero or positive (kg CO2e)"),
    )
    embodied_lifetime_years: float = setting(
        4.0,
        help="the device's expected lifetime (years), over which embodied emissions are spread",
        coerce=to_float,
        check=within(0, above=True, why="the expected lifetime must be above zero (years)"),
    )
    embodied_share: float = setting(  # SCI's RR / ToR
        1.0,
        help="share of the device reserved (0..1]",
        coerce=to_float,
        check=within(0, 1, above=True, why="the share of the device must be above 0 and at most 1"),
    )
    # SCI per functional unit (docs/methodology.md): a run's carbon per request, sample, token, user...
    functional_unit: str | None = setting(
        help="the name of what a run serves (SCI's R: requests, samples, tokens, users); reports show CO2e per it",
        coerce=to_text,
        check=_check_label_text,
        flag=Flag(commands=("run",)),
    )
    functional_units: float | None = setting(  # a known count; Run.add_units() counts while the run goes
        help="how many functional units each run serves, when known at start (run.add_units(n) adds to it)",
        coerce=to_float,
        check=within(0, why="a count of functional units is a number >= 0"),
        flag=Flag(commands=("run",)),
    )
    # live metrics (docs/metrics.md)
    metrics_port: int | None = setting(help="serve Prometheus /metrics on this port", coerce=to_port, flag=_MONITOR)
    metrics_host: str = setting(
        "127.0.0.1",
        help="address /metrics listens on (default 127.0.0.1; 0.0.0.0 for a scraper on another host)",
        coerce=to_text,
        flag=_MONITOR,
    )
    pushgateway: str | None = setting(
        help="push metrics to this Prometheus pushgateway URL", coerce=to_text, flag=_MONITOR
    )
    otel: bool = setting(
        False,
        help="register OpenTelemetry instruments",
        coerce=to_bool,
        flag=Flag(form="switch", commands=("monitor",)),
    )
    metrics_run_label: bool = setting(
        False,
        help="also label live metrics by run id (a series per run: opt-in; default: per project/experiment/team)",
        coerce=to_bool,
        flag=Flag(form="switch", commands=("monitor",)),
    )
    # ML training (docs/ml.md): steps, the prediction of a run's total and its budget
    total_steps: int | None = setting(
        help="how many steps (epochs) the run will have: with it, run.step() predicts the run's total energy",
        coerce=to_count,
        flag=None,
    )
    predict_after: int = setting(
        1,
        help="steps measured before the first prediction of the run's total (carbontracker's default: 1 epoch)",
        coerce=to_count,
        flag=None,
    )
    budget_kwh: float | None = setting(
        help="an energy budget for the run (kWh of IT energy): warn (or stop) when the prediction exceeds it",
        coerce=to_float,
        check=within(0, above=True, why="a budget must be above zero"),
        flag=None,
    )
    budget_kg: float | None = setting(
        help="an emissions budget for the run (kg CO2e, location-based): warn (or stop) when the prediction exceeds it",
        coerce=to_float,
        check=within(0, above=True, why="a budget must be above zero"),
        flag=None,
    )
    on_budget: str = setting(
        "warn",
        help="when the predicted total exceeds a budget: warn (log once), or stop (raise BudgetExceeded at the step)",
        coerce=to_lower,
        choices=("warn", "stop"),
        flag=None,
    )
    pue_source: str = field(default="default (no facility overhead)", compare=False)
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)

    def measurement_key(self) -> tuple[Any, ...]:
        """The settings that change how power is measured: runs that share them share one meter."""
        mode = self.mode if "mode" in self.origins else "auto"  # unset: resolved by the meter (measure/cgroup.py)
        # a VM's model reads the instance type, else asks the metadata service for it if cloud_metadata allows
        vm = (self.instance_type, self.cloud_metadata, self.cloud_provider)
        return (mode, self.cpu_watts, self.gpu_watts, self.ram_watts, self.cpu_tdp, vm, self.overlap)


#: every setting's declaration, by key, in declaration order
SETTINGS: dict[str, Setting] = declared(Config)
KEYS = frozenset(SETTINGS)


def _coerce(key: str, value: Any) -> Any:
    """Turn a raw value (from TOML, the environment or an argument) into the field's type."""
    declaration = SETTINGS.get(key)
    if declaration is None:
        raise ConfigError(key, value, f"unknown key; known keys are {', '.join(sorted(KEYS))}")
    return None if value is None else declaration.coerce(key, value)


def _resolve_pue(values: dict[str, Any], origins: dict[str, str]) -> None:
    """``pue`` may name a provider (``"aws"``) or a schedule file: turn it into a number and its source."""
    pue = values.get("pue", 1.0)
    if isinstance(pue, str):
        from tracker.carbon.pue import provider_pue

        published = provider_pue(pue)
        if published is not None:
            values["pue"] = published.value
            values["pue_source"] = f"{pue.lower()}: {published.source}"
        else:  # a .csv path: the schedule, with 1.0 for hours it does not cover
            values.setdefault("pue_schedule", pue)
            origins.setdefault("pue_schedule", origins.get("pue", "argument"))
            values["pue"] = 1.0
    elif "pue" in values:
        values["pue_source"] = f"configured ({origins.get('pue', 'argument')})"
    schedule = values.get("pue_schedule")
    if schedule:
        from tracker.carbon.pue import load_schedule

        load_schedule(schedule)  # a bad file is a ConfigError now, not at the run's end


def _validate(values: dict[str, Any]) -> None:
    """Each key's own checks (its declaration), then the checks across keys; canonical codes replace the given."""
    _check_each(values)
    _check_cloud_pair(values)
    _check_own_factor(values)
    _check_unit_named(values)
    _canonical_country(values)
    _canonical_zones(values)


def _check_each(values: Mapping[str, Any]) -> None:
    for key, declaration in SETTINGS.items():
        value = values.get(key)
        if value is not None:
            declaration.validate(key, value)
            if key in _LABELS:  # the labels' vocabulary is the records schema's: each of them names a group
                not_blank(key, value)
                storable(key, value)
            elif key == "tags":
                for name, text in value.items():
                    storable(f"tags.{name}", name)
                    storable(f"tags.{name}", text)


def _check_cloud_pair(values: Mapping[str, Any]) -> None:
    """A cloud region means nothing without its provider, and the other way round."""
    if bool(values.get("cloud_provider")) != bool(values.get("cloud_region")):
        missing = "cloud_region" if values.get("cloud_provider") else "cloud_provider"
        given = "cloud_provider" if missing == "cloud_region" else "cloud_region"
        raise ConfigError(
            given, values.get(given), f"set {missing} as well (e.g. cloud_provider=aws, cloud_region=eu-west-1)"
        )


def _check_own_factor(values: Mapping[str, Any]) -> None:
    """``intensity_source`` and ``intensity_year`` describe ``intensity_g_per_kwh``; live data would replace it."""
    if values.get("intensity_g_per_kwh") is None:
        for key in ("intensity_source", "intensity_year"):
            if values.get(key) is not None:
                raise ConfigError(key, values[key], "it describes intensity_g_per_kwh: set intensity_g_per_kwh too")
    elif values.get("live") == "on":
        raise ConfigError(
            "live", "on", "intensity_g_per_kwh is set: your own factor replaces live data (set one of the two)"
        )


def _check_unit_named(values: Mapping[str, Any]) -> None:
    """A count of functional units means nothing in a report without the unit's name (SCI's R is named)."""
    if values.get("functional_units") is not None and values.get("functional_unit") is None:
        raise ConfigError(
            "functional_units", values["functional_units"], "name the unit: set functional_unit too (e.g. requests)"
        )


def _canonical_country(values: dict[str, Any]) -> None:
    country = values.get("country")
    if country is not None:
        from tracker.grid.intensity import country_table

        values["country"] = country_table().canonical(country)


def _canonical_zones(values: dict[str, Any]) -> None:
    """Zones as the table spells them, and a cloud region the table knows (for its provider)."""
    if values.get("zone") is None and values.get("default_zone") is None and not values.get("cloud_region"):
        return
    from tracker.grid.zones import zone_table

    table = zone_table()
    for key in ("zone", "default_zone"):
        if values.get(key) is not None:
            values[key] = table.canonical(values[key], key=key)
    if values.get("cloud_region"):
        table.cloud(values["cloud_provider"], values["cloud_region"])  # ConfigError when unknown


# Environment variables that point tracker.grid.location at other endpoints (tests, proxies), and RAPL at another
# powercap tree (tracker.measure.sources.rapl, read where its sources are built): not settings.
_ENDPOINT_ENV = ("TRACKER_METADATA_", "TRACKER_GEOIP_URL", "TRACKER_POWERCAP_ROOT")
_warned_env: set[str] = set()  # unknown TRACKER_* names already warned about: once per process, not per run


def _env_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith("TRACKER_") or name == "TRACKER_CONFIG" or name.startswith(_ENDPOINT_ENV):
            continue
        key = name[len("TRACKER_") :].lower()
        if key not in KEYS:
            if name not in _warned_env:  # a typo is worth one warning, not one per run of a loop
                _warned_env.add(name)
                logger.warning("ignoring environment variable %s: %s is not a tracker setting", name, key)
            continue
        layer[key] = value
    return layer


_toml_cache: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}


def _read_toml(path: Path) -> dict[str, Any] | None:
    """Parse a TOML file, cached on its modification time (start-up cost matters: see benchmarks/)."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    stamp = (mtime, path.stat().st_size)
    cached = _toml_cache.get(path)
    if cached and cached[0] == stamp:
        return cached[1]
    if sys.version_info >= (3, 11):  # imported here: most processes never read a TOML file
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:  # UnicodeDecodeError: not UTF-8
        raise ConfigError(str(path), "<file>", f"cannot read TOML: {exc}") from exc
    _toml_cache[path] = (stamp, data)
    return data


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` (the working directory by default)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _file_layers(cwd: Path | None) -> list[tuple[str, dict[str, Any]]]:
    layers: list[tuple[str, dict[str, Any]]] = []
    pyproject = find_pyproject(cwd)
    if pyproject is not None:
        data = _read_toml(pyproject) or {}
        tool = data.get("tool", {})
        if not isinstance(tool, Mapping):
            raise ConfigError(f"{pyproject} [tool.tracker]", tool, "[tool] must be a table")
        section = tool.get("tracker")
        if section is not None and not isinstance(section, Mapping):
            raise ConfigError(f"{pyproject} [tool.tracker]", section, "expected a table")
        if section:
            layers.append((f"{pyproject} [tool.tracker]", _anchor(dict(section), pyproject.parent)))
    user = config_file()
    user_data = _read_toml(user)
    if user_data:
        layers.append((str(user), _anchor(dict(user_data), user.parent)))
    return layers


def _anchor(section: dict[str, Any], folder: Path) -> dict[str, Any]:
    """A relative schedule path in a file means: next to that file (not wherever the run was started)."""
    for key in ("pue_schedule", "pue"):
        value = section.get(key)
        if isinstance(value, str) and (key == "pue_schedule" or value.strip().lower().endswith(".csv")):
            try:
                path = Path(value.strip()).expanduser()
            except RuntimeError:  # "~user" without a home: the schedule's loading says so, naming the key
                continue
            if not path.is_absolute():
                section[key] = str(folder / path)
    return section


def resolve(
    arguments: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    files: bool = True,
) -> Config:
    """Merge the layers, coerce and validate. Raises :class:`ConfigError` naming the key and the value.

    ``files=False`` leaves out the configuration files (``pyproject.toml``, the user's file): with ``environ={}``
    the configuration is the arguments alone (a data-centre site's factors must not take the user's own)."""
    from tracker import logs

    logs.install()  # from here the library's warnings, this function's too, say "tracker:" (unless the app logs)
    layers: list[tuple[str, Mapping[str, Any]]] = [("argument", {k: v for k, v in (arguments or {}).items()})]
    layers.append(("environment", _env_layer(os.environ if environ is None else environ)))
    if files:
        layers.extend(_file_layers(cwd))
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for origin, layer in layers:
        for key, raw in layer.items():
            if origin == "argument" and raw is None:
                continue
            value = _coerce(key, raw)
            if key not in values:
                values[key] = value
                origins[key] = origin
    _resolve_pue(values, origins)
    _validate(values)
    return Config(**values, origins=origins)
