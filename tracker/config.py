"""Configuration: one frozen dataclass, resolved from five layers and validated at start.

Precedence, highest first: arguments > ``TRACKER_*`` environment variables > ``[tool.tracker]`` in the nearest
``pyproject.toml`` > the user config file (``~/.config/tracker/config.toml``) > defaults. Every value remembers
which layer it came from, so ``tracker detect`` and the record can say why a number was used.
"""

from __future__ import annotations

import dataclasses
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
from tracker.records.schema import LABELS

if TYPE_CHECKING:  # imported where used: `import tracker` stays cheap (CSV parsing, dataclasses of the tables)
    from tracker.carbon.market import Supplier

logger = logging.getLogger(__name__)

MODES = ("machine", "process")


@dataclass(frozen=True)
class Config:
    """Everything a run needs to know before it starts. Build it with :func:`resolve`."""

    project: str = "default"
    experiment: str | None = None
    team: str | None = None
    organisation: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    country: str | None = None
    pue: float = 1.0
    cpu_watts: float | None = None
    gpu_watts: float | None = None
    ram_watts: float | None = None
    mode: str = "machine"
    interval: float = 1.0
    store: str | None = None
    csv: str | None = None
    save: bool = True
    # where the electricity comes from (docs/methodology.md, "Location"): explicit settings win over detection
    zone: str | None = None
    cloud_provider: str | None = None
    cloud_region: str | None = None
    cloud_metadata: str = "auto"  # ask the instance metadata service: auto (when the machine looks like a cloud VM)
    geoip: bool = False  # opt-in: ask an online geo-IP service for the country
    default_zone: str | None = None  # used when nothing else decided (before the labelled world average)
    live: str = "auto"  # Electricity Maps live/hourly data: auto (when ELECTRICITYMAPS_API_TOKEN is set) | on | off
    emission_factor_type: str = "lifecycle"  # or "direct": the factor type asked of Electricity Maps
    # facility and contracts
    pue_schedule: str | None = None  # CSV of daily or monthly PUE values for the site
    suppliers: tuple[Supplier, ...] = ()
    embodied_kg: float | None = None  # the device's embodied emissions (SCI's TE), amortised over its lifetime
    embodied_lifetime_years: float = 4.0
    embodied_share: float = 1.0  # the share of the device this work reserves (SCI's RR / ToR)
    # live metrics (docs/metrics.md)
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"  # the address /metrics listens on ("0.0.0.0" for a scraper on another host)
    pushgateway: str | None = None
    otel: bool = False
    pue_source: str = field(default="default (no facility overhead)", compare=False)
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)

    def measurement_key(self) -> tuple[Any, ...]:
        """The settings that change how power is measured: runs that share them share one meter."""
        return (self.mode, self.cpu_watts, self.gpu_watts, self.ram_watts)


KEYS = frozenset(f.name for f in dataclasses.fields(Config)) - {"origins", "pue_source"}
_CHOICES = {
    "mode": MODES,
    "cloud_metadata": ("auto", "on", "off"),
    "live": ("auto", "on", "off"),
    "emission_factor_type": ("lifecycle", "direct"),
    "cloud_provider": ("aws", "gcp", "azure"),
}
_FLOATS = (
    "interval",
    "cpu_watts",
    "gpu_watts",
    "ram_watts",
    "embodied_kg",
    "embodied_lifetime_years",
    "embodied_share",
)


def _to_float(key: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ConfigError(key, value, "expected a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(key, value, "expected a number") from None


def _to_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(key, value, "expected true or false")


def _to_tags(key: str, value: Any) -> dict[str, str]:
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, str):
        tags: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in value.split(","))):
            name, sep, val = part.partition("=")
            if not sep or not name.strip():
                raise ConfigError(key, value, "expected comma-separated key=value pairs")
            tags[name.strip()] = val.strip()
        return tags
    raise ConfigError(key, value, "expected a table of key = value, or 'k=v,k2=v2'")


def _coerce(key: str, value: Any) -> Any:
    """Turn a raw value (from TOML, the environment or an argument) into the field's type."""
    if key not in KEYS:
        raise ConfigError(key, value, f"unknown key; known keys are {', '.join(sorted(KEYS))}")
    if value is None:
        return None
    if key == "pue":
        from tracker.carbon.pue import provider_pue

        if isinstance(value, str) and (provider_pue(value) or value.strip().lower().endswith(".csv")):
            return value.strip()  # a provider's published value or a site schedule: resolved by _validate
        return _to_float(key, value)
    if key in _FLOATS:
        return _to_float(key, value)
    if key in ("save", "geoip", "otel"):
        return _to_bool(key, value)
    if key == "metrics_port":
        number = _to_float(key, value)
        if not (number.is_integer() and 0 <= number <= 65535):
            raise ConfigError(key, value, "expected a TCP port number from 0 to 65535")
        return int(number)
    if key == "tags":
        return _to_tags(key, value)
    if key == "suppliers":
        from tracker.carbon.market import parse_suppliers

        return parse_suppliers(value)
    if key == "cloud_provider":
        return str(value).strip().lower()
    return str(value)


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
    pue = values.get("pue", 1.0)
    if not (math.isfinite(pue) and pue >= 1.0):
        raise ConfigError("pue", pue, "PUE must be a number >= 1.0 (1.0 means no facility overhead)")
    interval = values.get("interval", 1.0)
    if not 0.01 <= interval <= 3600:
        raise ConfigError("interval", interval, "the sampling interval must be between 0.01 and 3600 seconds")
    for key in ("cpu_watts", "gpu_watts", "ram_watts"):
        watts = values.get(key)
        if watts is not None and not (math.isfinite(watts) and watts >= 0):
            raise ConfigError(key, watts, "watts must be zero or positive")
    for key, choices in _CHOICES.items():
        value = values.get(key)
        if value is not None and value not in choices:
            raise ConfigError(key, value, f"expected one of {', '.join(choices)}")
    lifetime = values.get("embodied_lifetime_years", 4.0)
    if not (math.isfinite(lifetime) and lifetime > 0):
        raise ConfigError("embodied_lifetime_years", lifetime, "the expected lifetime must be above zero (years)")
    share = values.get("embodied_share", 1.0)
    if not (math.isfinite(share) and 0 < share <= 1):
        raise ConfigError("embodied_share", share, "the share of the device must be above 0 and at most 1")
    embodied = values.get("embodied_kg")
    if embodied is not None and not (math.isfinite(embodied) and embodied >= 0):
        raise ConfigError("embodied_kg", embodied, "embodied emissions must be zero or positive (kg CO2e)")
    if bool(values.get("cloud_provider")) != bool(values.get("cloud_region")):
        missing = "cloud_region" if values.get("cloud_provider") else "cloud_provider"
        given = "cloud_provider" if missing == "cloud_region" else "cloud_region"
        raise ConfigError(
            given, values.get(given), f"set {missing} as well (e.g. cloud_provider=aws, cloud_region=eu-west-1)"
        )
    for key in LABELS:
        label = values.get(key)
        if label is not None and not label.strip():
            raise ConfigError(key, label, "labels must not be empty")
    store = values.get("store")
    if store:
        from tracker.stores.locations import check_location

        check_location(store)
    country = values.get("country")
    if country is not None:
        from tracker.grid.intensity import country_table

        values["country"] = country_table().canonical(country)
    if values.get("zone") is not None or values.get("default_zone") is not None or values.get("cloud_region"):
        from tracker.grid.zones import zone_table

        table = zone_table()
        for key in ("zone", "default_zone"):
            if values.get(key) is not None:
                values[key] = table.canonical(values[key], key=key)
        if values.get("cloud_region"):
            table.cloud(values["cloud_provider"], values["cloud_region"])  # ConfigError when unknown


# Environment variables that point tracker.grid.location at other endpoints (tests, proxies): not settings.
_ENDPOINT_ENV = ("TRACKER_METADATA_", "TRACKER_GEOIP_URL")


def _env_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith("TRACKER_") or name == "TRACKER_CONFIG" or name.startswith(_ENDPOINT_ENV):
            continue
        key = name[len("TRACKER_") :].lower()
        if key not in KEYS:
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
    except (OSError, tomllib.TOMLDecodeError) as exc:
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
            path = Path(value.strip()).expanduser()
            if not path.is_absolute():
                section[key] = str(folder / path)
    return section


def resolve(
    arguments: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Config:
    """Merge the layers, coerce and validate. Raises :class:`ConfigError` naming the key and the value."""
    layers: list[tuple[str, Mapping[str, Any]]] = [("argument", {k: v for k, v in (arguments or {}).items()})]
    layers.append(("environment", _env_layer(os.environ if environ is None else environ)))
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
