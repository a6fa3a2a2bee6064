"""CPU package and DRAM energy from Linux RAPL counters (``/sys/class/powercap``).

Each joule is counted once: ``psys`` (the whole platform) and the ``core``/``uncore`` sub-zones (parts of a
package) are skipped; a package seen through both the MSR (``intel-rapl``) and the MMIO (``intel-rapl-mmio``)
interface, or repeated once per die, has one name and is read once; ``energy_uj`` wraps at
``max_energy_range_uj``. Since CVE-2020-8694 the counters are readable by root only.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from tracker.errors import MeasurementError
from tracker.measure.sources.base import Component, Method, PowerSource, Usage

logger = logging.getLogger(__name__)

DEFAULT_ROOT = Path("/sys/class/powercap")
PERMISSION_FIX = (
    "RAPL energy counters in {root} are readable by root only (CVE-2020-8694). To measure CPU energy instead "
    "of modelling it, run as root or grant read access: sudo chmod o+r {root}/intel-rapl:*/energy_uj "
    "{root}/intel-rapl:*/*/energy_uj (until reboot; a udev rule makes it permanent)"
)
_ZONE_DIR = re.compile(r"^intel-rapl(-mmio)?:(\d+)(?::(\d+))?$")


def _read_int(path: Path) -> int:
    return int(path.read_text().strip())


class Zone:
    """One counter: its sysfs folder, the name that identifies it across interfaces, and its wrap range.

    A plain class (its reading moves on), not a dataclass: building one costs ~1 ms at the first run's start.
    """

    __slots__ = ("label", "last_uj", "max_range_uj", "path")

    def __init__(self, path: Path, label: str, max_range_uj: int, last_uj: int = 0) -> None:
        self.path = path
        self.label = label
        self.max_range_uj = max_range_uj
        self.last_uj = last_uj

    def __repr__(self) -> str:
        return f"Zone({str(self.path)!r}, {self.label!r}, max_range_uj={self.max_range_uj})"

    def read_delta_uj(self) -> int:
        now = _read_int(self.path / "energy_uj")
        delta = now - self.last_uj
        if delta < 0:  # the counter wrapped around max_energy_range_uj
            delta = delta + self.max_range_uj if self.max_range_uj else 0
        self.last_uj = now
        return delta


def discover(root: Path, component: Component) -> list[Zone]:
    """Find the zones for ``component`` (CPU: packages; RAM: dram), one per distinct name, MSR preferred."""
    found: dict[str, Zone] = {}
    try:
        entries = sorted(root.iterdir(), key=lambda p: ("mmio" in p.name, p.name))
    except OSError:
        return []
    for folder in entries:
        match = _ZONE_DIR.match(folder.name)
        if not match:
            continue
        try:
            name = (folder / "name").read_text().strip()
        except OSError:
            continue
        is_sub = match.group(3) is not None
        if component is Component.CPU and not is_sub and name.startswith("package"):
            label = name
        elif component is Component.RAM and name == "dram":
            if is_sub:
                parent = root / f"intel-rapl{match.group(1) or ''}:{match.group(2)}"
                try:
                    parent_name = (parent / "name").read_text().strip()
                except OSError:
                    parent_name = f"package-{match.group(2)}"
                label = f"{parent_name}/dram"
            else:
                label = f"dram-{match.group(2)}"
        else:
            continue
        if label in found:
            continue
        try:
            max_range = _read_int(folder / "max_energy_range_uj")
        except (OSError, ValueError):
            max_range = 0  # unknown: a wrap then costs one interval's energy rather than a wrong value
        found[label] = Zone(folder, label, max_range)
    return list(found.values())


class RaplSource(PowerSource):
    """Package (CPU) or DRAM (RAM) energy summed over every distinct RAPL zone."""

    method = Method.MEASURED

    def __init__(self, component: Component, root: Path = DEFAULT_ROOT) -> None:
        self.component = component
        self.name = "rapl" if component is Component.CPU else "rapl-dram"
        self.root = root
        self.zones: list[Zone] = []

    def start(self) -> None:
        zones = discover(self.root, self.component)
        if not zones:
            raise MeasurementError(f"no RAPL {self.component.value} zones under {self.root}")
        for zone in zones:
            try:
                zone.last_uj = _read_int(zone.path / "energy_uj")
            except PermissionError:
                raise MeasurementError(PERMISSION_FIX.format(root=self.root)) from None
            except (OSError, ValueError) as exc:
                raise MeasurementError(f"cannot read {zone.path}/energy_uj: {exc}") from exc
        self.zones = zones

    def energy(self, usage: Usage) -> float:
        try:
            return sum(zone.read_delta_uj() for zone in self.zones) / 1e6
        except PermissionError:
            raise MeasurementError(PERMISSION_FIX.format(root=self.root)) from None
        except (OSError, ValueError) as exc:
            raise MeasurementError(f"RAPL read failed: {exc}") from exc

    def devices(self) -> list[str]:
        return [zone.label for zone in self.zones]

    def describe(self) -> str:
        return f"RAPL counters ({', '.join(self.devices())}) (measured)"
