"""CPU package and DRAM energy from Linux RAPL counters (``/sys/class/powercap``), read as the kernel lays them out.

Each joule is counted once:

- CPU: the top-level ``package-N`` zones (``package-N-die-M`` on multi-die CPUs). ``core``/``uncore`` are parts of
  a package and ``psys`` (the whole platform) holds the packages, so neither is added to them. Where the kernel
  shows no package zone but a ``psys`` zone, psys alone is the CPU figure (method ``rapl-psys``) and RAM, inside
  it, counts 0 (``in-psys``). RAM: the ``dram`` zones.
- A zone seen through the MSR (``intel-rapl``) and the MMIO (``intel-rapl-mmio``) interface has one name and is
  read once, the MSR copy first; the MMIO copy is read where the MSR copy cannot be.
- Zones that show one counter twice (multi-die packages, AMD's per-CCD zones before the 2024 kernel fix: every
  die reads the socket's counter) are recognised by equal readings: counted once from the first tick, and
  dropped for good once the readings stayed equal over :data:`MIRROR_TICKS` ticks in which they moved.
- Zone folders are numbered in hex (``intel-rapl:a`` is the eleventh), found flat (``/sys/class/powercap``) or
  nested (``/sys/devices/virtual/powercap``, a control type's folder); a top-level zone without a ``name`` file
  (the tree a VM host exporter writes for its guests) is taken as a package. ``TRACKER_POWERCAP_ROOT`` points
  at another tree (a container that mounts the host's ``/sys`` elsewhere).
- ``energy_uj`` wraps at ``max_energy_range_uj``; a reading outside ``[0, max_energy_range_uj]`` is clamped into
  it, so a tick is never negative; a tick longer than a zone takes to wrap at the highest power seen is noted
  (a whole turn of the counter would be invisible).
- Faults: a permission error, a counter that disappeared or reads as text hand over to the next source at once; a
  transient error (``EIO``, an empty read of a file being rewritten) keeps the source, and the zone's energy is
  counted at its next good read; :data:`FAIL_LIMIT` ticks in a row with a failed read hand over.

Since CVE-2020-8694 the counters are readable by root only. ``energy()`` runs once a tick under the meter's lock:
one small file read and a few integer operations per zone; everything rare (faults, clamps, long ticks, the
mirror check of the first ticks) is behind one test.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from tracker.errors import ConfigError, MeasurementError
from tracker.measure.sources.base import Component, Method, PowerSource, Usage

logger = logging.getLogger(__name__)

DEFAULT_ROOT = Path("/sys/class/powercap")
#: environment variable naming another powercap tree (read when a meter's sources are built, never at import)
ROOT_ENV = "TRACKER_POWERCAP_ROOT"
PERMISSION_FIX = (
    "RAPL energy counters in {root} are readable by root only (CVE-2020-8694). To measure CPU energy instead "
    "of modelling it, run as root or grant read access: sudo chmod o+r {root}/intel-rapl:*/energy_uj "
    "{root}/intel-rapl:*/*/energy_uj (until reboot; a udev rule makes it permanent)"
)
#: ticks in a row with a failed (transient) read after which the source hands over to the next one
FAIL_LIMIT = 3
#: ticks with moving, equal readings after which zones are taken as one counter for good
MIRROR_TICKS = 3
#: readings of one counter read through two files differ by the energy of the counter updates between the two
#: reads (~1 ms each): equal means within this many uJ plus MIRROR_SLACK_S seconds at the tick's power
MIRROR_SLACK_UJ = 100_000
MIRROR_SLACK_S = 0.005
#: baselines closer than this may be one counter (~10 ms of a socket at full power); told apart at the first tick
MIRROR_BASELINE_UJ = 2_000_000
_UNBOUNDED = 1 << 64  # the top of a counter whose range is unknown (energy_uj is an unsigned 64-bit number)
_NO_BASELINE = 1 << 80  # a zone whose baseline could not be read: its next reading becomes the baseline
_PEAK_MIN_DT = 0.1  # the shortest tick whose power counts towards a zone's peak (1 ms steps: within 1 %)
_MAX_LEVELS = 4  # root, control type, zone, sub-zone
_ZONE_ID = re.compile(r"^intel-rapl(-mmio)?((?::[0-9a-f]+)+)$")  # the kernel names zones "%s:%x"
_CONTROL_TYPES = frozenset({"intel-rapl", "intel-rapl-mmio"})
#: read errors that will not go away by themselves: the counter is gone or is not a counter
_GONE = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


def powercap_root(environ: Mapping[str, str] | None = None) -> Path:
    """The powercap tree to read: ``TRACKER_POWERCAP_ROOT`` if set, else :data:`DEFAULT_ROOT` (read now).

    A variable naming no folder is a configuration mistake (a typo in a container's mount point), not a machine
    without RAPL: it raises :class:`~tracker.errors.ConfigError`.
    """
    env = os.environ if environ is None else environ
    value = env.get(ROOT_ENV, "").strip()
    if not value:
        return DEFAULT_ROOT
    root = Path(value)
    if not root.is_dir():
        raise ConfigError(ROOT_ENV, value, "no such folder (it should name a powercap tree: /sys/class/powercap)")
    return root


class TornRead(OSError):
    """An empty read: the file was being rewritten (VM host exporters rewrite ``energy_uj`` in place)."""


def _read_int(path: Path) -> int:
    with open(path, "rb") as file:
        raw = file.read()
    if not raw.strip():
        raise TornRead(f"empty read of {path}")
    return int(raw)


class Entry(NamedTuple):
    """A zone folder as found: its id (``intel-rapl:0:2``), where it is, and what its ``name`` file says."""

    zone_id: str
    folder: Path
    mmio: bool
    numbers: tuple[int, ...]  # (0, 2) for intel-rapl:0:2
    name: str | None  # None: no readable name file


def scan(root: Path) -> list[Entry]:
    """Every RAPL zone under ``root``, once each, MSR before MMIO and in the kernel's (numeric) order.

    A folder that lists zones is read as a zone list: flat (``/sys/class/powercap`` lists sub-zones beside their
    packages) or one level of a nested tree, whose zones are then opened for their sub-zones. A folder without
    zones is searched through its control types (``intel-rapl``, ``intel-rapl-mmio``) only, so that the
    ``subsystem``/``device`` links of sysfs are never followed.
    """
    found: dict[str, tuple[Path, re.Match[str]]] = {}
    level = [root]
    for _ in range(_MAX_LEVELS):
        below: list[Path] = []
        for folder in level:
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            zones = [(name, match) for name in names if (match := _ZONE_ID.match(name))]
            if not zones:
                below.extend(folder / name for name in names if name in _CONTROL_TYPES)
                continue
            flat = any(match.group(2).count(":") > 1 for _, match in zones)
            for name, match in zones:
                if name not in found:
                    found[name] = (folder / name, match)
                    if not flat:
                        below.append(folder / name)
        if not below:
            break
        level = below
    entries = []
    for zone_id, (folder, match) in found.items():
        try:
            name: str | None = (folder / "name").read_text().strip() or None
        except (OSError, UnicodeDecodeError):
            name = None
        numbers = tuple(int(part, 16) for part in match.group(2)[1:].split(":"))
        entries.append(Entry(zone_id, folder, match.group(1) is not None, numbers, name))
    entries.sort(key=lambda entry: (entry.mmio, entry.numbers))
    return entries


class Plan(NamedTuple):
    """What a source reads: each counter's label and the folders that show it, preferred first."""

    kind: str  # "packages", "psys", "dram", "in-psys" (RAM counted inside psys)
    counters: dict[str, list[Entry]]
    notes: list[str]


def plan(entries: list[Entry], component: Component, *, psys_in_cpu: bool = True) -> Plan:
    """Choose the zones of ``component`` among ``entries`` (see the module's docstring for the rules).

    ``psys_in_cpu``: for RAM, whether the CPU's source reads psys where it is the only zone (not when the CPU
    power is forced or modelled from a configured TDP): RAM is then inside it.
    """
    packages: dict[str, list[Entry]] = {}
    psys: dict[str, list[Entry]] = {}
    dram: dict[str, list[Entry]] = {}
    nameless: list[str] = []
    by_id = {entry.zone_id: entry for entry in entries}
    for entry in entries:
        top = len(entry.numbers) == 1
        if entry.name is None:
            if top:  # no name: the tree of a VM host exporter, one zone per guest package
                label = f"intel-rapl:{entry.numbers[0]:x}"  # the same label for the MSR and MMIO copy
                packages.setdefault(label, []).append(entry)
                if label not in nameless:
                    nameless.append(label)
        elif top and entry.name.startswith("package"):
            packages.setdefault(entry.name, []).append(entry)
        elif top and entry.name.startswith("psys"):
            psys.setdefault(entry.name, []).append(entry)
        elif entry.name == "dram":
            if top:
                label = f"dram-{entry.numbers[0]}"
            else:
                kind = "intel-rapl-mmio" if entry.mmio else "intel-rapl"
                parent = by_id.get(f"{kind}:" + ":".join(f"{n:x}" for n in entry.numbers[:-1]))
                label = f"{parent.name if parent and parent.name else f'package-{entry.numbers[0]}'}/dram"
            dram.setdefault(label, []).append(entry)
    notes = []
    if component is Component.CPU:
        if nameless:
            notes.append(
                f"cpu: RAPL zone{'s' if len(nameless) > 1 else ''} {', '.join(nameless)} without a name file (the "
                "tree a VM host exporter writes for its guest) counted as packages"
            )
        if packages or not psys:
            return Plan("packages", packages, notes)
        notes.append(
            "cpu: RAPL shows no package zone here, only psys: the whole platform's energy (CPU, memory, chipset, "
            "integrated graphics) is counted as CPU (method rapl-psys) and RAM as part of it (in-psys)"
        )
        return Plan("psys", psys, notes)
    if dram or packages or not psys or not psys_in_cpu:
        return Plan("dram", dram, notes)
    return Plan("in-psys", psys, notes)  # RAM is inside psys, which the CPU counts


class Zone:
    """One counter read through one folder, and what the tick path keeps about it.

    A plain class with slots (its reading moves on, once a tick), not a dataclass.
    """

    __slots__ = (
        "counter",
        "label",
        "last_uj",
        "max_range_uj",
        "path",
        "peak",
        "tick_uj",
        "top",
        "withheld",
    )

    def __init__(self, path: Path, label: str, max_range_uj: int, last_uj: int = 0) -> None:
        self.path = path
        self.counter = path / "energy_uj"
        self.label = label
        self.max_range_uj = max_range_uj  # 0: unknown
        self.top = max_range_uj or _UNBOUNDED
        self.last_uj = last_uj
        self.tick_uj = 0  # this tick's delta; -1 when the read failed
        self.peak = 0.0  # the highest power seen, uJ per second
        self.withheld = 0  # uJ not counted while the zone looked like another's copy

    def __repr__(self) -> str:
        return f"Zone({str(self.path)!r}, {self.label!r}, max_range_uj={self.max_range_uj})"


class MirrorGroup:
    """Zones whose readings were equal so far: counted once (through ``zones[0]``) while that holds."""

    __slots__ = ("checks", "zones")

    def __init__(self, zones: list[Zone]) -> None:
        self.zones = zones
        self.checks = 0  # ticks in which the counter moved and every reading still agreed


def _gap(a: Zone, b: Zone) -> int:
    """How far apart two readings are, on the counter's circle when its range is known."""
    gap = abs(a.last_uj - b.last_uj)
    if a.max_range_uj and a.max_range_uj == b.max_range_uj:
        gap = min(gap, a.max_range_uj - gap)
    return gap


class RaplSource(PowerSource):
    """Package (CPU) or DRAM (RAM) energy summed over every distinct RAPL counter."""

    method = Method.MEASURED

    def __init__(self, component: Component, root: Path = DEFAULT_ROOT, *, psys_in_cpu: bool = True) -> None:
        """``psys_in_cpu``: whether the CPU's chain reads RAPL (so psys, where it is the only zone, holds RAM)."""
        self.component = component
        self.psys_in_cpu = psys_in_cpu
        self.name = "rapl" if component is Component.CPU else "rapl-dram"
        self.root = root
        self.zones: list[Zone] = []
        self.kind = ""
        #: (perf_counter time, text): the source chain hands over its own list, so that notes reach the record
        self.notes: list[tuple[float, str]] = []
        self.failed_reads = 0  # transient read failures since start (each made up at the zone's next read)
        self.clamped = 0
        self.long_ticks = 0
        self._counts = True  # False for RAM inside psys: read (to fail with the CPU) but 0 J
        self._mirrors: list[MirrorGroup] = []
        self._streak = 0  # ticks in a row with a failed read
        self._missed_dt = 0.0  # seconds since the failing zones were last read
        self._wrap_s = math.inf  # the shortest time a zone takes to wrap, at the highest power seen
        self._wrap_zone: Zone | None = None
        self._slots: dict[str, tuple[list[tuple[float, str]], int]] = {}
        self._last_error = ""
        self._warned: set[str] = set()

    # -- start ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        found = plan(scan(self.root), self.component, psys_in_cpu=self.psys_in_cpu)
        if not found.counters:
            raise MeasurementError(f"no RAPL {self.component.value} zones under {self.root}")
        notes = list(found.notes)
        zones = [self._open(label, options, notes) for label, options in found.counters.items()]
        self.kind = found.kind
        if found.kind == "psys":
            self.name = "rapl-psys"
        elif found.kind == "in-psys":
            self.name = "in-psys"
            self._counts = False
        self.zones = zones
        self._mirrors = self._candidates(zones)
        for text in notes:  # made at detection (RAPL is first in its chain): every run on this meter reports them
            self.notes.append((-math.inf, text))
            logger.info("%s", text)

    def _open(self, label: str, options: list[Entry], notes: list[str]) -> Zone:
        """The first readable copy of one counter (MSR before MMIO), with its baseline reading."""
        errors: list[tuple[Entry, Exception]] = []
        for entry in options:
            try:
                last = _read_int(entry.folder / "energy_uj")
            except (OSError, ValueError) as exc:
                errors.append((entry, exc))
                continue
            try:
                max_range = _read_int(entry.folder / "max_energy_range_uj")
            except (OSError, ValueError):
                max_range = 0  # unknown: a backwards step then counts 0 rather than a guess
            zone = Zone(entry.folder, label, max(max_range, 0))
            zone.last_uj = min(max(last, 0), zone.top)
            if errors:
                tried = ", ".join(f"{failed.zone_id} ({exc})" for failed, exc in errors)
                notes.append(f"{self.component.value}: RAPL {label}: {tried} unreadable; read through {entry.zone_id}")
            return zone
        if any(isinstance(exc, PermissionError) for _, exc in errors):
            raise MeasurementError(PERMISSION_FIX.format(root=self.root))
        entry, exc = errors[-1]
        raise MeasurementError(f"cannot read {entry.folder}/energy_uj: {exc}") from exc

    @staticmethod
    def _candidates(zones: list[Zone]) -> list[MirrorGroup]:
        """Zones whose baselines are equal: possibly one counter shown twice (told apart as soon as they differ)."""
        groups: list[list[Zone]] = []
        for zone in zones:
            for group in groups:
                if _gap(group[0], zone) <= MIRROR_BASELINE_UJ:
                    group.append(zone)
                    break
            else:
                groups.append([zone])
        return [MirrorGroup(group) for group in groups if len(group) > 1]

    # -- the tick ------------------------------------------------------------------------------------------
    def energy(self, usage: Usage) -> float:
        dt = usage.dt + self._missed_dt
        total = 0
        failed = False
        for zone in self.zones:
            try:
                now = _read_int(zone.counter)
            except (OSError, ValueError) as exc:
                self._failed(zone, exc)  # raises unless transient
                zone.tick_uj = -1
                failed = True
                continue
            if not 0 <= now <= zone.top:
                now = self._clamp(zone, now)
            delta = now - zone.last_uj
            if delta < 0:  # wrapped around max_energy_range_uj (or no baseline yet, or range unknown: 0)
                delta = delta + zone.max_range_uj if zone.max_range_uj and zone.last_uj != _NO_BASELINE else 0
            zone.last_uj = now
            zone.tick_uj = delta
            if delta > zone.peak * dt:
                self._peak(zone, delta, dt)
            total += delta
        if failed:
            self._keep(dt)
        elif self._streak:
            self._streak = 0
            self._missed_dt = 0.0
        if dt >= self._wrap_s:
            self._long_tick(dt)
        if self._mirrors:
            total = self._check_mirrors(total, dt)
        return total / 1e6 if self._counts else 0.0

    def rebase(self) -> None:
        """Take the baseline again after an idle gap whose energy is thrown away (``Meter.rebase``).

        Unlike a tick it checks nothing about the gap: a gap of hours is not a long tick.
        """
        for zone in self.zones:
            try:
                now = _read_int(zone.counter)
            except (OSError, ValueError) as exc:
                self._failed(zone, exc)
                zone.last_uj = _NO_BASELINE
                continue
            zone.last_uj = now if 0 <= now <= zone.top else self._clamp(zone, now)
            zone.withheld = 0  # energy of the runs before the gap: never given back to a later run
        self._streak = 0
        self._missed_dt = 0.0

    # -- the rare paths of a tick --------------------------------------------------------------------------
    def _failed(self, zone: Zone, exc: Exception) -> None:
        """A read failed: raise for a fault that will not go away; count a transient one and carry on."""
        if isinstance(exc, PermissionError):
            raise MeasurementError(PERMISSION_FIX.format(root=self.root)) from None
        if isinstance(exc, (ValueError, *_GONE)):
            raise MeasurementError(f"RAPL read failed: {exc}") from exc
        self.failed_reads += 1
        self._last_error = f"{zone.label}: {exc}"

    def _keep(self, dt: float) -> None:
        """After a tick with a failed read: note it, and hand over once :data:`FAIL_LIMIT` ticks in a row failed."""
        self._streak += 1
        self._missed_dt = dt
        component = self.component.value
        if self._streak >= FAIL_LIMIT:
            raise MeasurementError(f"RAPL read failed {self._streak} ticks in a row ({self._last_error})")
        plural = "s" if self.failed_reads > 1 else ""
        self._note(
            "failed",
            f"{component}: {self.failed_reads} RAPL read{plural} failed on this meter (last: {self._last_error}); "
            f"the source was kept and each missed reading's energy counted at the zone's next read (it hands over "
            f"after {FAIL_LIMIT} ticks in a row with a failed read)",
        )
        self._warn_once("failed", f"{component}: RAPL read failed ({self._last_error}); keeping the source")

    def _clamp(self, zone: Zone, now: int) -> int:
        self.clamped += 1
        clamped = 0 if now < 0 else zone.top
        text = (
            f"{self.component.value}: RAPL {zone.label} read {now} uJ, outside [0, max_energy_range_uj "
            f"{zone.max_range_uj}]: clamped into it ({self.clamped} reading{'s' if self.clamped > 1 else ''} so far)"
        )
        self._note("clamped", text)
        self._warn_once("clamped", text)
        return clamped

    def _peak(self, zone: Zone, delta: int, dt: float) -> None:
        if dt < _PEAK_MIN_DT:  # a counter moves in ~1 ms steps: a short tick's power could be off many times over
            return
        zone.peak = delta / dt
        if zone.max_range_uj and zone.max_range_uj / zone.peak < self._wrap_s:
            self._wrap_s = zone.max_range_uj / zone.peak
            self._wrap_zone = zone

    def _long_tick(self, dt: float) -> None:
        """A tick in which a zone could have turned a whole time round: that turn would not show. Noted."""
        self.long_ticks += 1
        zone = self._wrap_zone
        assert zone is not None  # set with _wrap_s
        text = (
            f"{self.component.value}: {self.long_ticks} RAPL tick{'s' if self.long_ticks > 1 else ''} lasted "
            f"longer than {zone.label}'s counter takes to wrap at the highest power seen ("
            f"{zone.max_range_uj / 1e6:.0f} J at {zone.peak / 1e6:.1f} W: {self._wrap_s:.0f} s; the last tick: "
            f"{dt:.0f} s): the counter may have wrapped more than once, so such a tick's energy is a lower bound"
        )
        self._note("long", text)
        self._warn_once("long", text)

    def _check_mirrors(self, total: int, dt: float) -> int:
        """Count each group of equal counters once; a zone whose reading departs gets its withheld energy back."""
        for group in list(self._mirrors):
            first, *others = group.zones
            if first.tick_uj < 0:  # no reading to compare: keep the others' energy back until the next tick
                for zone in others:
                    if zone.tick_uj > 0:
                        total -= zone.tick_uj
                        zone.withheld += zone.tick_uj
                continue
            slack = MIRROR_SLACK_UJ + (MIRROR_SLACK_S * first.tick_uj / dt if dt > 0 else 0)
            for zone in others:
                if zone.tick_uj < 0:
                    continue
                if _gap(first, zone) <= slack:
                    total -= zone.tick_uj
                    zone.withheld += zone.tick_uj
                else:  # two counters after all: this one's energy counts, including what was held back
                    total += zone.withheld
                    zone.withheld = 0
                    group.zones.remove(zone)
            if first.tick_uj > 0 and len(group.zones) > 1:
                group.checks += 1
            if len(group.zones) < 2:
                self._mirrors.remove(group)
            elif group.checks >= MIRROR_TICKS:
                self._confirm(group)
        return total

    def _confirm(self, group: MirrorGroup) -> None:
        """Zones that stayed equal: one counter. Read the first only, from now on."""
        self._mirrors.remove(group)
        copies = {id(zone) for zone in group.zones[1:]}
        self.zones = [zone for zone in self.zones if id(zone) not in copies]
        labels = ", ".join(zone.label for zone in group.zones)
        text = (
            f"{self.component.value}: RAPL zones {labels} show one counter (equal readings over {MIRROR_TICKS} "
            f"ticks, as multi-die packages and AMD's per-CCD zones before the 2024 kernel fix do): counted once, "
            f"as {group.zones[0].label}"
        )
        self.notes.append((-math.inf, text))  # a fact about this machine: every run on this meter reports it
        logger.info("%s", text)

    def _note(self, key: str, text: str) -> None:
        """Add this source's note ``key``, or update it: a fault that repeats updates one note's count and time."""
        entry = (time.perf_counter(), text)
        slot = self._slots.get(key)
        if slot is not None and slot[0] is self.notes:
            self.notes[slot[1]] = entry
        else:
            self._slots[key] = (self.notes, len(self.notes))
            self.notes.append(entry)

    def _warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning("%s", text)

    # -- description ---------------------------------------------------------------------------------------
    def devices(self) -> list[str]:
        return [zone.label for zone in self.zones]

    def describe(self) -> str:
        if self.kind == "psys":
            return f"RAPL {', '.join(self.devices())} counter: the whole platform, no package zone here (measured)"
        if self.kind == "in-psys":
            return "0 W here (counted in the CPU's RAPL psys reading, which covers the whole platform)"
        text = f"RAPL counters ({', '.join(self.devices())})"
        for group in self._mirrors:  # not settled before the first ticks: say how they are counted meanwhile
            text += f"; {' = '.join(zone.label for zone in group.zones)} read alike, counted once while they do"
        return f"{text} (measured)"
