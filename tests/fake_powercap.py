"""A fake ``/sys/class/powercap`` tree, laid out as Linux lays it out on an Intel server.

The kernel keeps the zones under ``/sys/devices/virtual/powercap/<control type>/``, sub-zones nested inside their
package (``intel-rapl:0/intel-rapl:0:0``), and ``/sys/class/powercap`` holds one flat symlink per zone and per
control type::

    intel-rapl -> .../powercap/intel-rapl                       (control type: no ``name``)
    intel-rapl:0 -> .../intel-rapl/intel-rapl:0                 name = package-0
    intel-rapl:0:0 -> .../intel-rapl:0/intel-rapl:0:0           name = core
    intel-rapl:0:1 -> .../intel-rapl:0/intel-rapl:0:1           name = uncore
    intel-rapl:0:2 -> .../intel-rapl:0/intel-rapl:0:2           name = dram
    intel-rapl:1 ...                                            name = package-1 (and its sub-zones)
    intel-rapl:2 -> .../intel-rapl/intel-rapl:2                 name = psys (the whole platform)
    intel-rapl-mmio -> .../powercap/intel-rapl-mmio             (control type)
    intel-rapl-mmio:0 -> .../intel-rapl-mmio/intel-rapl-mmio:0  name = package-0 (same package, MMIO interface)

Each zone holds ``name``, ``energy_uj`` (a counter in microjoules that wraps around ``max_energy_range_uj``),
``max_energy_range_uj`` and ``enabled``. Counters are written the way the kernel presents them: decimal text and
a newline.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Values read on a Xeon Gold 6248 (Cascade Lake): a 32-bit MSR counter times the energy unit, in uJ.
PACKAGE_RANGE_UJ = 262_143_328_850
DRAM_RANGE_UJ = 65_712_999_613


@dataclass
class FakePowercap:
    """The tree: ``root`` stands for ``/sys/class/powercap``; ``zones`` maps a zone id to its real folder."""

    root: Path
    zones: dict[str, Path] = field(default_factory=dict)

    def path(self, zone: str) -> Path:
        return self.zones[zone]

    def name(self, zone: str) -> str:
        return (self.zones[zone] / "name").read_text().strip()

    def max_range(self, zone: str) -> int:
        return int((self.zones[zone] / "max_energy_range_uj").read_text())

    def get(self, zone: str) -> int:
        return int((self.zones[zone] / "energy_uj").read_text())

    def set(self, zone: str, uj: int) -> None:
        """Set a zone's counter (0 <= uj <= max_energy_range_uj, as the kernel can report)."""
        top = self.max_range(zone)
        if not 0 <= uj <= top:
            raise ValueError(f"{zone}: energy_uj {uj} outside [0, {top}]")
        # sysfs reads are atomic; a rewrite in place could be read half-done by a sampler thread: replace instead
        target = self.zones[zone] / "energy_uj"
        staging = target.with_name(".energy_uj.new")
        staging.write_text(f"{uj}\n")
        os.replace(staging, target)

    def add(self, zone: str, uj: int) -> int:
        """Let ``uj`` microjoules flow through a zone; the counter wraps around ``max_energy_range_uj``."""
        value = (self.get(zone) + uj) % self.max_range(zone)
        self.set(zone, value)
        return value


def _zone(folder: Path, name: str, energy_uj: int, max_range_uj: int) -> Path:
    folder.mkdir(parents=True)
    (folder / "name").write_text(f"{name}\n")
    (folder / "energy_uj").write_text(f"{energy_uj}\n")
    (folder / "max_energy_range_uj").write_text(f"{max_range_uj}\n")
    (folder / "enabled").write_text("1\n")
    return folder


def build_powercap(
    base: Path,
    *,
    packages: int = 2,
    dram: bool = True,
    psys: bool = True,
    mmio: bool = True,
    package_names: Sequence[str] | None = None,
    start_uj: int = 1_000_000,
) -> FakePowercap:
    """Build the tree under ``base`` and return it; ``FakePowercap.root`` is the ``/sys/class/powercap`` stand-in.

    ``package_names`` overrides the packages' ``name`` files (e.g. ``["package-0", "package-0"]`` for a multi-die
    part that repeats the package's name). Every counter starts at a distinct value derived from ``start_uj``.
    """
    names = list(package_names) if package_names is not None else [f"package-{i}" for i in range(packages)]
    if len(names) != packages:
        raise ValueError("package_names needs one name per package")
    devices = base / "devices" / "virtual" / "powercap"
    root = base / "class" / "powercap"
    root.mkdir(parents=True)
    tree = FakePowercap(root)
    counter = start_uj

    def add_zone(zone_id: str, parent: Path, name: str, max_range: int) -> Path:
        nonlocal counter
        folder = _zone(parent / zone_id, name, counter, max_range)
        counter += 1_000_000
        (root / zone_id).symlink_to(folder, target_is_directory=True)
        tree.zones[zone_id] = folder
        return folder

    msr = devices / "intel-rapl"
    msr.mkdir(parents=True)
    (msr / "enabled").write_text("1\n")
    (root / "intel-rapl").symlink_to(msr, target_is_directory=True)
    for i, name in enumerate(names):
        package = add_zone(f"intel-rapl:{i}", msr, name, PACKAGE_RANGE_UJ)
        add_zone(f"intel-rapl:{i}:0", package, "core", PACKAGE_RANGE_UJ)
        add_zone(f"intel-rapl:{i}:1", package, "uncore", PACKAGE_RANGE_UJ)
        if dram:
            add_zone(f"intel-rapl:{i}:2", package, "dram", DRAM_RANGE_UJ)
    if psys:
        add_zone(f"intel-rapl:{packages}", msr, "psys", PACKAGE_RANGE_UJ)
    if mmio:
        mmio_dir = devices / "intel-rapl-mmio"
        mmio_dir.mkdir(parents=True)
        (mmio_dir / "enabled").write_text("1\n")
        (root / "intel-rapl-mmio").symlink_to(mmio_dir, target_is_directory=True)
        add_zone("intel-rapl-mmio:0", mmio_dir, names[0], PACKAGE_RANGE_UJ)
    return tree
