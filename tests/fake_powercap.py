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

Zones are numbered in hex (the kernel names them ``"%s:%x"``): the eleventh package is ``intel-rapl:a``. A
multi-die part has one zone per die, named ``package-N-die-M``; on some (and on AMD's per-CCD zones before the
2024 kernel fix) every die's zone reads the one socket counter: ``mirrored`` zones here move together.
:func:`build_vm_exporter_tree` writes the tree a VM host exporter (Scaphandre's qemu exporter) gives its guests.

Each zone holds ``name``, ``energy_uj`` (a counter in microjoules that wraps around ``max_energy_range_uj``),
``max_energy_range_uj`` and ``enabled``. Counters are written the way the kernel presents them: decimal text and
a newline.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tracker.measure.sources import rapl

#: Values read on a Xeon Gold 6248 (Cascade Lake): a 32-bit MSR counter times the energy unit, in uJ.
PACKAGE_RANGE_UJ = 262_143_328_850
DRAM_RANGE_UJ = 65_712_999_613


@dataclass
class FakePowercap:
    """The tree: ``root`` stands for ``/sys/class/powercap``; ``zones`` maps a zone id to its real folder."""

    root: Path
    zones: dict[str, Path] = field(default_factory=dict)
    #: zone -> the zones that show the same counter (they read what it reads)
    twins: dict[str, list[str]] = field(default_factory=dict)
    #: the folder the kernel keeps the zones in (``/sys/devices/virtual/powercap``): a nested layout's root
    devices: Path | None = None

    def path(self, zone: str) -> Path:
        return self.zones[zone]

    def name(self, zone: str) -> str:
        return (self.zones[zone] / "name").read_text().strip()

    def max_range(self, zone: str) -> int:
        """The zone's ``max_energy_range_uj``; 0 where the tree has no such file (a VM exporter's)."""
        path = self.zones[zone] / "max_energy_range_uj"
        return int(path.read_text()) if path.exists() else 0

    def get(self, zone: str) -> int:
        return int((self.zones[zone] / "energy_uj").read_text())

    def set(self, zone: str, uj: int) -> None:
        """Set a zone's counter (0 <= uj <= max_energy_range_uj, as the kernel can report)."""
        top = self.max_range(zone) or 2**64 - 1
        if not 0 <= uj <= top:
            raise ValueError(f"{zone}: energy_uj {uj} outside [0, {top}]")
        for each in (zone, *self.twins.get(zone, ())):
            self.write_raw(each, f"{uj}\n")

    def write_raw(self, zone: str, text: str) -> None:
        """Make ``energy_uj`` read ``text``, whatever it is (a value out of range, nothing, garbage)."""
        # sysfs reads are atomic; a rewrite in place could be read half-done by a sampler thread: replace instead
        target = self.zones[zone] / "energy_uj"
        staging = target.with_name(".energy_uj.new")
        staging.write_text(text)
        os.replace(staging, target)

    def add(self, zone: str, uj: int) -> int:
        """Let ``uj`` microjoules flow through a zone; the counter wraps around ``max_energy_range_uj``."""
        value = (self.get(zone) + uj) % (self.max_range(zone) or 2**64)
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
    dies: int = 1,
    mirrored: bool = False,
) -> FakePowercap:
    """Build the tree under ``base`` and return it; ``FakePowercap.root`` is the ``/sys/class/powercap`` stand-in.

    ``package_names`` overrides the package zones' ``name`` files (e.g. ``["package-0", "package-0"]`` for a
    multi-die part that repeats the package's name). ``dies`` > 1 gives each package one zone per die, named
    ``package-N-die-M`` as the kernel names them; ``mirrored`` makes every die of a package show die 0's counters
    (package and DRAM). Every other counter starts at a distinct value derived from ``start_uj``.
    """
    zones_wanted = packages * dies
    if package_names is not None:
        names = list(package_names)
    elif dies > 1:
        names = [f"package-{p}-die-{d}" for p in range(packages) for d in range(dies)]
    else:
        names = [f"package-{i}" for i in range(packages)]
    if len(names) != zones_wanted:
        raise ValueError("package_names needs one name per package (and die)")
    devices = base / "devices" / "virtual" / "powercap"
    root = base / "class" / "powercap"
    root.mkdir(parents=True)
    tree = FakePowercap(root, devices=devices)
    counter = start_uj

    def add_zone(zone_id: str, parent: Path, name: str, max_range: int, twin_of: str | None = None) -> Path:
        nonlocal counter
        value = tree.get(twin_of) if twin_of else counter
        folder = _zone(parent / zone_id, name, value, max_range)
        if twin_of:
            tree.twins.setdefault(twin_of, []).append(zone_id)
        else:
            counter += 1_000_000
        (root / zone_id).symlink_to(folder, target_is_directory=True)
        tree.zones[zone_id] = folder
        return folder

    msr = devices / "intel-rapl"
    msr.mkdir(parents=True)
    (msr / "enabled").write_text("1\n")
    (root / "intel-rapl").symlink_to(msr, target_is_directory=True)
    for i, name in enumerate(names):
        first_die = i - i % dies
        twin = mirrored and i != first_die
        package = add_zone(
            f"intel-rapl:{i:x}", msr, name, PACKAGE_RANGE_UJ, f"intel-rapl:{first_die:x}" if twin else None
        )
        add_zone(f"intel-rapl:{i:x}:0", package, "core", PACKAGE_RANGE_UJ)
        add_zone(f"intel-rapl:{i:x}:1", package, "uncore", PACKAGE_RANGE_UJ)
        if dram:
            add_zone(
                f"intel-rapl:{i:x}:2", package, "dram", DRAM_RANGE_UJ, f"intel-rapl:{first_die:x}:2" if twin else None
            )
    if psys:
        add_zone(f"intel-rapl:{zones_wanted:x}", msr, "psys", PACKAGE_RANGE_UJ)
    if mmio:
        mmio_dir = devices / "intel-rapl-mmio"
        mmio_dir.mkdir(parents=True)
        (mmio_dir / "enabled").write_text("1\n")
        (root / "intel-rapl-mmio").symlink_to(mmio_dir, target_is_directory=True)
        add_zone("intel-rapl-mmio:0", mmio_dir, names[0], PACKAGE_RANGE_UJ)
    return tree


def build_vm_exporter_tree(base: Path, energy_uj: int = 5_000_000) -> FakePowercap:
    """The tree Scaphandre's qemu exporter writes on the host for one guest, as the guest mounts it.

    One zone folder ``intel-rapl:0`` holding only ``energy_uj`` (no ``name``, no ``max_energy_range_uj``; the
    number is written without a newline and rewritten in place) and an empty ``intel-rapl:0:0`` folder.
    """
    root = base / "scaphandre"
    (root / "intel-rapl:0:0").mkdir(parents=True)
    (root / "intel-rapl:0").mkdir()
    (root / "intel-rapl:0" / "energy_uj").write_text(str(energy_uj))
    return FakePowercap(root, {"intel-rapl:0": root / "intel-rapl:0"})


def deny_energy_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a non-root user gets since CVE-2020-8694 (root reads through chmod, so the read is patched)."""
    real = rapl._read_int

    def read_int(path: Path) -> int:
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(rapl, "_read_int", read_int)
