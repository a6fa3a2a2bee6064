"""A fake sysfs with AMD GPUs laid out as the kernel's amdgpu driver lays them out.

``/sys/class/drm/cardN`` is a link into ``/sys/devices/pci…/<PCI address>/drm/cardN``, whose ``device`` link points
back at the PCI device; the device holds ``hwmon/hwmonM/`` with ``name`` (``amdgpu``), ``power1_average`` and/or
``power1_input`` (microwatts) and, where the driver has one, ``energy1_input`` (microjoules), beside
``product_name`` and ``unique_id``. Connectors (``card0-DP-1``), render nodes (``renderD128``) and other vendors'
cards (an ``i915`` hwmon) sit beside them, as on a real machine.
"""

from __future__ import annotations

import os
from pathlib import Path


class FakeDrm:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "class" / "drm"  # what the source is pointed at
        self.root.mkdir(parents=True)
        self.monitors: dict[int, Path] = {}

    def add(
        self,
        card: int,
        pci: str,
        *,
        driver: str = "amdgpu",
        files: dict[str, int] | None = None,
        product: str | None = "AMD Instinct MI210",
        unique_id: str | None = None,
        hwmon: int | None = None,
    ) -> Path:
        """A card at PCI address ``pci`` with hwmon ``files`` (name -> value); returns its hwmon folder."""
        device = self.base / "devices" / "pci0000:00" / pci
        monitor = device / "hwmon" / f"hwmon{card + 3 if hwmon is None else hwmon}"
        monitor.mkdir(parents=True)
        (monitor / "name").write_text(f"{driver}\n")
        for name, value in (files if files is not None else {"power1_average": 100_000_000}).items():
            (monitor / name).write_text(f"{value}\n")
        if product is not None:
            (device / "product_name").write_text(f"{product}\n")
        if unique_id is not None:
            (device / "unique_id").write_text(f"{unique_id}\n")
        node = device / "drm" / f"card{card}"
        node.mkdir(parents=True)
        (node / "device").symlink_to("../..")
        (self.root / f"card{card}").symlink_to(os.path.relpath(node, self.root))
        connector = device / "drm" / f"card{card}-DP-1"
        connector.mkdir()
        (self.root / f"card{card}-DP-1").symlink_to(os.path.relpath(connector, self.root))
        self.monitors[card] = monitor
        return monitor

    def set(self, card: int, name: str, value: int) -> None:
        (self.monitors[card] / name).write_text(f"{value}\n")
