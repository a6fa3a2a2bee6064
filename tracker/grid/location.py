"""Where the electricity comes from: resolve the run's location once, in a fixed order, and say how.

Order (docs/methodology.md, "Location"):

1. explicit settings: ``zone=`` > ``cloud_provider=`` + ``cloud_region=`` > ``country=`` (resolved at once);
2. the cloud instance metadata service (AWS IMDSv2, GCP, Azure IMDS), asked in parallel with one shared
   budget of :data:`METADATA_BUDGET_S` seconds. ``cloud_metadata="auto"`` asks only when the machine shows
   local signs of a cloud VM (DMI vendor strings, as cloud-init's ``ds-identify`` does): a laptop or an
   on-premises server never sends a packet; ``"on"`` always asks; ``"off"`` never;
3. an online geo-IP lookup, only when ``geoip=true`` (opt-in: it tells a third party the machine's IP);
4. the configured ``default_zone``;
5. the world average, labelled as such and logged once per process: never a silent guess of a country.

:func:`start` returns at once. Detection runs on a daemon thread, cached per process and per relevant
settings, and :meth:`LocationHandle.result` waits a bounded time (the budgets plus a margin, counted from the
detection's start: later runs of the process wait only for what is left of it, or not at all) and never
raises: whatever is unknown by then falls through to the next step, and the notes say why.

Endpoints can be pointed elsewhere (tests use servers on 127.0.0.1): the module attributes
:data:`METADATA_URLS` and :data:`GEOIP_URL`, or the environment variables ``TRACKER_METADATA_AWS_URL``,
``TRACKER_METADATA_GCP_URL``, ``TRACKER_METADATA_AZURE_URL`` and ``TRACKER_GEOIP_URL``.

The same services also name the instance type (``m5.large``): :mod:`tracker.measure.instance` asks them for it
through this module's requests (:func:`aws_get`, :func:`gcp_get`, :func:`azure_get`), endpoints, DMI signs and
budget, when a virtual machine's CPU is modelled per vCPU.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from tracker.errors import ConfigError

logger = logging.getLogger(__name__)

METADATA_BUDGET_S = 0.3  # all metadata services together, when nothing answers
GEOIP_TIMEOUT_S = 1.5  # the opt-in geo-IP lookup (an internet round trip)
WAIT_MARGIN_S = 0.2  # slack for thread start-up on a loaded machine
# The most a geo-IP answer may be, decoded (a few hundred bytes of JSON; tracker.webio refuses more, gzip bombs
# included). Metadata answers are read with http.client, which asks for no compression: 64 KiB at most (_http).
GEOIP_MAX_BYTES = 64 * 1024

# The link-local address every one of the three clouds serves its metadata on (GCP's
# metadata.google.internal resolves to it too; the literal avoids a DNS query off the machine).
METADATA_URLS: dict[str, str] = {
    "aws": "http://169.254.169.254",
    "gcp": "http://169.254.169.254",
    "azure": "http://169.254.169.254",
}
# ipapi.co: free JSON geo-IP service, no key, HTTPS (https://ipapi.co/api/#complete-location5); fields used:
# country_code, latitude, longitude. ip-api.com / ipinfo.io shapes are accepted too (countryCode/lat/lon, loc).
GEOIP_URL = "https://ipapi.co/json/"
ENV_URLS = {
    "aws": "TRACKER_METADATA_AWS_URL",
    "gcp": "TRACKER_METADATA_GCP_URL",
    "azure": "TRACKER_METADATA_AZURE_URL",
}
GEOIP_ENV = "TRACKER_GEOIP_URL"
DMI_DIR = Path("/sys/class/dmi/id")
# Azure's chassis asset tag (cloud-init ds-identify, dscheck_Azure).
AZURE_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"


class Location(NamedTuple):
    """Where the run's electricity is taken from, and how that was decided (``source``, ``notes``)."""

    zone: str | None
    country: str | None
    source: str  # "config" | "cloud-metadata" | "geoip" | "default" | "world-average"
    cloud_provider: str | None = None
    cloud_region: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    notes: tuple[str, ...] = ()


class _Detection:
    """One background detection, shared by every run of the process with the same settings.

    A plain class, not a dataclass: building a dataclass costs about a millisecond at import, and this
    module is imported by every run's start.
    """

    def __init__(self, notes: list[str], wait_s: float) -> None:
        self.done = threading.Event()
        self.found: Location | None = None
        self.notes = notes
        self.wait_s = wait_s
        # One wait per detection, not per run: every run's end waits only until this moment (the first run's
        # budget, counted from the detection's start), so a network that drops packets costs the process one
        # budget in all while the detection thread stays blocked (in DNS, say), not one per run.
        self.deadline = time.monotonic() + wait_s


class LocationHandle:
    """What :func:`start` returns: the location now, or once detection has finished (bounded wait)."""

    def __init__(
        self,
        ready: Location | None,
        detection: _Detection | None = None,
        fallback: Callable[[list[str]], Location] | None = None,
    ) -> None:
        self._ready = ready
        self._detection = detection
        self._fallback = fallback

    def peek(self) -> Location | None:
        """The location if it is already known (explicit settings, or detection done), without waiting."""
        return self._ready

    def result(self) -> Location:
        """The resolved location. Never raises; waits at most the detection budget plus a margin."""
        if self._ready is not None:
            return self._ready
        detection = self._detection
        assert detection is not None and self._fallback is not None
        try:
            finished = detection.done.wait(max(0.0, detection.deadline - time.monotonic()))
            notes = list(detection.notes)
            if finished and detection.found is not None:
                located = detection.found._replace(notes=tuple(notes))
            else:
                if not finished:
                    notes.append(f"location detection did not finish within {detection.wait_s:.2f} s")
                located = self._fallback(notes)
        except Exception as exc:  # pragma: no cover - defensive: a location must never break a run
            logger.warning("location detection failed: %s", exc)
            located = self._fallback([f"location detection failed: {exc}"])
        self._ready = located
        return located


_detections: dict[tuple[Any, ...], _Detection] = {}
_lock = threading.Lock()
_world_logged = False
_world: dict[tuple[str, ...], Location] = {}  # the world-average location per set of notes (built once)


def metadata_url(provider: str) -> str:
    """The base URL of a provider's metadata service (environment override first)."""
    return (os.environ.get(ENV_URLS[provider]) or METADATA_URLS[provider]).rstrip("/")


def geoip_url() -> str:
    """The geo-IP service's URL (environment override first)."""
    return os.environ.get(GEOIP_ENV) or GEOIP_URL


def _read_dmi(name: str) -> str:
    try:
        return (DMI_DIR / name).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


_hints: dict[Path, tuple[str, ...]] = {}


def cloud_hints() -> tuple[str, ...]:
    """Providers this machine looks like, from DMI strings (no network): what ds-identify checks.

    Read once per process (four file reads cost ~50 µs, too much for every run's start).
    """
    cached = _hints.get(DMI_DIR)
    if cached is None:
        cached = _hints[DMI_DIR] = _read_hints()
    return cached


def _read_hints() -> tuple[str, ...]:
    vendor = _read_dmi("sys_vendor")
    product = _read_dmi("product_name")
    bios = _read_dmi("bios_vendor")
    tag = _read_dmi("chassis_asset_tag")
    hints: list[str] = []
    if "amazon" in vendor.lower() or "amazon" in bios.lower() or product.lower().startswith("amazon ec2"):
        hints.append("aws")
    if "google" in vendor.lower() or "google compute engine" in product.lower() or bios.lower() == "google":
        hints.append("gcp")
    if tag == AZURE_ASSET_TAG:
        hints.append("azure")
    return tuple(hints)


def http_request(method: str, url: str, headers: dict[str, str], timeout: float) -> tuple[int, dict[str, str], bytes]:
    """One plain HTTP request with http.client: no proxy (metadata is link-local), ~no import cost."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_type(parts.hostname or "", parts.port, timeout=max(timeout, 0.001))
    try:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        body = response.read(65536)
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def aws_get(base: str, path: str, deadline: float) -> bytes:
    """IMDSv2: a session token (PUT), then one GET of ``path`` with it. Raises on anything unexpected."""
    status, _, token = http_request(
        "PUT", f"{base}/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"}, deadline - time.monotonic()
    )
    if status != 200 or not token.strip():
        raise OSError(f"token request answered HTTP {status}")
    headers = {"X-aws-ec2-metadata-token": token.decode("ascii", "replace").strip()}
    status, _, body = http_request("GET", f"{base}{path}", headers, deadline - time.monotonic())
    if status != 200:
        raise OSError(f"{path.rsplit('/', 1)[-1]} request answered HTTP {status}")
    return body


def gcp_get(base: str, path: str, deadline: float) -> bytes:
    """One GET of GCP's metadata server, which must answer with ``Metadata-Flavor: Google``."""
    status, headers, body = http_request(
        "GET", f"{base}{path}", {"Metadata-Flavor": "Google"}, deadline - time.monotonic()
    )
    if status != 200 or headers.get("metadata-flavor") != "Google":
        raise OSError(f"answered HTTP {status} without Metadata-Flavor: Google")
    return body


def azure_get(base: str, leaf: str, deadline: float) -> bytes:
    """One text leaf of Azure IMDS's compute metadata (``location``, ``vmSize``)."""
    url = f"{base}/metadata/instance/compute/{leaf}?api-version=2021-02-01&format=text"
    status, _, body = http_request("GET", url, {"Metadata": "true"}, deadline - time.monotonic())
    if status != 200:
        raise OSError(f"answered HTTP {status}")
    return body


def probe_aws(base: str, deadline: float) -> str:
    """AWS: the region (``eu-west-1``)."""
    return aws_get(base, "/latest/meta-data/placement/region", deadline).decode("ascii", "replace").strip()


def probe_gcp(base: str, deadline: float) -> str:
    """GCP: ``projects/<n>/zones/<zone>`` -> the region (zone without its ``-a`` suffix)."""
    body = gcp_get(base, "/computeMetadata/v1/instance/zone", deadline)
    zone = body.decode("ascii", "replace").strip().rsplit("/", 1)[-1]
    region, _, suffix = zone.rpartition("-")
    if not region or len(suffix) != 1:
        raise OSError(f"unexpected zone {zone!r}")
    return region


def probe_azure(base: str, deadline: float) -> str:
    """Azure IMDS: the compute location (``westeurope``)."""
    return azure_get(base, "location", deadline).decode("ascii", "replace").strip().lower()


PROBES: dict[str, Callable[[str, float], str]] = {"aws": probe_aws, "gcp": probe_gcp, "azure": probe_azure}


def ask_metadata(
    providers: tuple[str, ...], budget_s: float, probes: dict[str, Callable[[str, float], str]] | None = None
) -> tuple[tuple[str, str] | None, list[str]]:
    """Ask each provider's metadata service in parallel; the first region found wins.

    Returns ``((provider, region) or None, notes)``; waits at most ``budget_s`` in all. ``probes``: what to ask
    each provider instead of its region (the vCPU model asks the instance type, ``tracker.measure.instance``).
    """
    probes = PROBES if probes is None else probes
    deadline = time.monotonic() + budget_s
    answers: dict[str, str] = {}
    errors: dict[str, str] = {}
    first = threading.Event()
    lock = threading.Lock()

    def ask(provider: str) -> None:
        try:
            region = probes[provider](metadata_url(provider), deadline)
            if not region:
                raise OSError("empty answer")
            with lock:
                answers[provider] = region
            first.set()
        except Exception as exc:  # every failure is just "this provider did not answer"
            with lock:
                errors[provider] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if len(errors) == len(providers):
                    first.set()

    threads = [threading.Thread(target=ask, args=(p,), name=f"tracker-imds-{p}", daemon=True) for p in providers]
    for thread in threads:
        thread.start()
    first.wait(max(0.0, deadline - time.monotonic()))
    with lock:
        for provider in providers:
            if provider in answers:
                return (provider, answers[provider]), []
        notes = [
            f"cloud metadata ({p}): {errors.get(p, f'no answer within {budget_s * 1000:.0f} ms')}" for p in providers
        ]
    return None, notes


def ask_geoip(url: str, timeout: float) -> tuple[str, float | None, float | None]:
    """Country (alpha-2) and coordinates from a geo-IP JSON service. Raises on any failure."""
    import json

    import requests  # imported here: most runs never ask

    from tracker.webio import ACCEPT_ENCODING, read_capped

    headers = {"Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING}
    with requests.get(url, timeout=timeout, headers=headers, stream=True) as response:
        if response.status_code != 200:
            raise OSError(f"HTTP {response.status_code}")
        raw = response.raw
        text = read_capped(
            lambda n: raw.read(n, decode_content=False), GEOIP_MAX_BYTES, response.headers.get("content-encoding")
        )
    body = json.loads(text)
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    country = body.get("country_code") or body.get("countryCode") or body.get("country")
    if not isinstance(country, str) or len(country.strip()) != 2:
        raise ValueError(f"no two-letter country in the answer ({country!r})")
    lat, lon = body.get("latitude", body.get("lat")), body.get("longitude", body.get("lon"))
    if lat is None and isinstance(body.get("loc"), str) and "," in body["loc"]:
        lat, lon = body["loc"].split(",", 1)
    try:
        latitude, longitude = (float(lat), float(lon)) if lat is not None and lon is not None else (None, None)
    except (TypeError, ValueError):
        latitude = longitude = None
    return country.strip().upper(), latitude, longitude


def _explicit(config: Any) -> Location | None:
    """The location the settings name, if any (zone > cloud region > country)."""
    if not (config.zone or config.cloud_region or config.country):
        return None
    from tracker.grid.zones import zone_table

    notes: list[str] = []
    cloud = None
    if config.cloud_provider and config.cloud_region:
        cloud = zone_table().cloud(config.cloud_provider, config.cloud_region)
    if config.zone:
        table = zone_table()
        zone = table.canonical(config.zone)
        if cloud is not None and cloud.zone != zone:
            notes.append(f"zone={zone} overrides the zone of {cloud.provider} {cloud.region} ({cloud.zone})")
        if config.country and config.country != table.get(zone).country:
            notes.append(f"zone={zone} overrides country={config.country}")
        return Location(
            zone,
            table.get(zone).country,
            "config",
            cloud.provider if cloud else None,
            cloud.region if cloud else None,
            notes=tuple(notes),
        )
    if cloud is not None:
        if config.country and config.country != cloud.country:
            notes.append(f"cloud region {cloud.region} ({cloud.country}) overrides country={config.country}")
        return Location(cloud.zone, cloud.country, "config", cloud.provider, cloud.region, notes=tuple(notes))
    if config.country:
        return Location(None, config.country, "config")
    return None


def _fallback(config: Any, notes: list[str], partial: Location | None = None) -> Location:
    """Steps 4 and 5: the configured default zone, else the labelled world average (logged once)."""
    global _world_logged
    provider = partial.cloud_provider if partial else None
    region = partial.cloud_region if partial else None
    if config.default_zone:
        from tracker.grid.zones import zone_table

        table = zone_table()
        zone = table.canonical(config.default_zone, key="default_zone")
        return Location(zone, table.get(zone).country, "default", provider, region, notes=tuple(notes))
    if provider is None and region is None:
        known = _world.get(tuple(notes))
        if known is not None:  # every unconfigured run of the process ends here: build it once
            return known
    key = tuple(notes)
    tried = "; ".join(notes)  # one note on the record, not one per detection step
    why = f" ({tried})" if tried else ""
    notes = [f"no location found{why}: using the world average (set zone=, country= or cloud_region=)"]
    if not _world_logged:
        _world_logged = True
        logger.warning(
            "no location configured or detected (%s); emissions use the world-average grid intensity",
            tried or "nothing to detect with",
        )
    located = Location(None, None, "world-average", provider, region, notes=tuple(notes))
    if provider is None and region is None and len(_world) < 64:
        _world[key] = located
    return located


def _detect(config: Any, providers: tuple[str, ...], detection: _Detection) -> None:
    """The background part: metadata, then geo-IP. Sets ``detection.found`` (or leaves it None)."""
    try:
        partial: Location | None = None
        if providers:
            hit, notes = ask_metadata(providers, METADATA_BUDGET_S)
            detection.notes.extend(notes)
            if hit is not None:
                provider, region = hit
                from tracker.grid.zones import zone_table

                try:
                    cloud = zone_table().cloud(provider, region)
                    detection.found = Location(cloud.zone, cloud.country, "cloud-metadata", provider, cloud.region)
                    return
                except ConfigError:
                    detection.notes.append(f"cloud metadata: {provider} region {region!r} is not in the embedded table")
                    partial = Location(None, None, "cloud-metadata", provider, region)
        if config.geoip:
            try:
                country, lat, lon = ask_geoip(geoip_url(), GEOIP_TIMEOUT_S)
                from tracker.grid.zones import zone_table

                alpha2 = zone_table().canonical(country, key="geoip")
                row = zone_table().get(alpha2)
                detection.found = Location(
                    None,
                    row.country or alpha2,
                    "geoip",
                    partial.cloud_provider if partial else None,
                    partial.cloud_region if partial else None,
                    lat,
                    lon,
                )
                return
            except Exception as exc:  # any failure falls through to the default
                detection.notes.append(f"geo-IP lookup failed: {type(exc).__name__}: {exc}")
        if partial is not None:
            detection.found = _fallback(config, detection.notes, partial)
    except Exception as exc:  # pragma: no cover - defensive
        detection.notes.append(f"location detection failed: {exc}")
    finally:
        detection.done.set()


def metadata_providers(mode: str) -> tuple[tuple[str, ...], str | None]:
    """Which providers to ask, and a note when none is asked."""
    if mode == "off":
        return (), "cloud metadata not tried (cloud_metadata=off)"
    if mode == "on":
        return ("aws", "gcp", "azure"), None
    hints = cloud_hints()
    if not hints:
        return (), "cloud metadata not tried: no sign of a cloud VM in DMI (cloud_metadata=auto)"
    return hints, None


def start(config: Any) -> LocationHandle:
    """Begin resolving the run's location; returns at once (detection, if any, runs in the background).

    Configuration mistakes (an unknown zone or region) raise :class:`ConfigError` here, at start; nothing
    after this point raises.
    """
    explicit = _explicit(config)
    if explicit is not None:
        return LocationHandle(explicit)
    mode = getattr(config, "cloud_metadata", "auto")
    providers, skipped = metadata_providers(mode)
    base_notes = [skipped] if skipped else []
    if not config.geoip:
        base_notes.append("geo-IP lookup off (opt-in: geoip=true)")
    if not providers and not config.geoip:
        return LocationHandle(_fallback(config, base_notes))
    key = (
        providers,
        bool(config.geoip),
        config.default_zone,
        tuple(metadata_url(p) for p in providers),
        geoip_url() if config.geoip else None,
    )
    with _lock:
        detection = _detections.get(key)
        if detection is None:
            wait_s = (
                (METADATA_BUDGET_S if providers else 0.0) + (GEOIP_TIMEOUT_S if config.geoip else 0.0) + WAIT_MARGIN_S
            )
            detection = _Detection(list(base_notes), wait_s)
            _detections[key] = detection
            thread = threading.Thread(
                target=_detect, args=(config, providers, detection), name="tracker-location", daemon=True
            )
            thread.start()
    return LocationHandle(None, detection, lambda notes: _fallback(config, notes))


def resolve(config: Any) -> Location:
    """``start(config).result()``: for the CLI and for callers that want the answer now."""
    return start(config).result()


def reset() -> None:
    """Forget cached detections and the once-per-process log flag (tests)."""
    global _world_logged
    with _lock:
        _detections.clear()
        _world.clear()
    _world_logged = False
