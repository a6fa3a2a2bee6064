"""GPU energy of AMD GPUs from the amdgpu driver's hwmon files, as the kernel lays them out.

Each GPU is a DRM card, ``/sys/class/drm/cardN/device/hwmon/hwmonM/`` with ``name`` reading ``amdgpu``. Per
card, the best file that can be read: ``energy1_input`` (cumulative, microjoules), else ``power1_average``, else
``power1_input`` (microwatts, integrated by trapezoids between ticks). Cards are numbered in PCI-bus order, as
ROCm numbers them; ``ROCR_VISIBLE_DEVICES`` (indexes or ``GPU-`` UUIDs, from ``device/unique_id``) and then
``HIP_VISIBLE_DEVICES`` (indexes into what ROCr left) choose the counted ones, parsed like CUDA's variable (the
list stops at the first entry that names nothing).

A reading above :data:`MAX_WATTS` per device (a power, or the power an energy step implies) is a driver or firmware
fault, not energy (CodeCarbon once reported 12.5 MW from one AMD GPU): it is rejected with a note and never
integrated; the tick keeps the last good power, and a counter moves its baseline on without counting the step.
A counter that steps back (a driver reload) counts 0 for that tick.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from tracker.errors import MeasurementError
from tracker.measure.sources.base import Component, Method, PowerSource, Usage

logger = logging.getLogger(__name__)

DEFAULT_ROOT = Path("/sys/class/drm")
#: the most one GPU can draw: an MI300X board is 750 W; anything above 3 kW is a broken reading
MAX_WATTS = 3000.0
#: hwmon files in order of preference, and how each is read
FILES = (("energy1_input", "energy"), ("power1_average", "power"), ("power1_input", "power"))
_CARD = re.compile(r"^card(\d+)$")


def visible_selection(environ: Mapping[str, str] | None = None) -> list[str] | None:
    """The entries of ``ROCR_VISIBLE_DEVICES`` then ``HIP_VISIBLE_DEVICES`` (indexes into ROCr's choice) that
    name devices: ``None`` = every GPU. Like CUDA's variable, parsing stops at the first invalid entry."""
    env = os.environ if environ is None else environ

    def parse(raw: str) -> list[str]:
        picked = []
        for item in (part.strip() for part in raw.split(",")):
            if not (item.isdigit() or item.startswith("GPU-")):
                break
            picked.append(item)
        return picked

    rocr = env.get("ROCR_VISIBLE_DEVICES")
    hip = env.get("HIP_VISIBLE_DEVICES")
    chosen = None if rocr is None else parse(rocr)
    if hip is None:
        return chosen
    narrowed = []
    for item in parse(hip):
        if chosen is None:
            narrowed.append(item)
        elif item.isdigit() and int(item) < len(chosen):
            narrowed.append(chosen[int(item)])
        else:
            break
    return narrowed


def _read(path: Path) -> int:
    with open(path, "rb") as file:
        return int(file.read())


def _text(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


class Card:
    """One AMD GPU: where it is and how it is read. A plain class with ``__slots__`` (read every tick)."""

    __slots__ = ("file", "index", "last", "mode", "name", "pci", "rejected", "uuid")

    def __init__(self, index: int, pci: str, name: str, uuid: str, file: Path, mode: str) -> None:
        self.index = index
        self.pci = pci
        self.name = name
        self.uuid = uuid
        self.file = file
        self.mode = mode  # "energy" (uJ counter) or "power" (uW)
        self.last = 0  # uJ for the counter, uW for power
        self.rejected = 0  # readings above MAX_WATTS


def scan(root: Path) -> list[tuple[str, Path, Path]]:
    """(PCI address, card's device folder, hwmon folder) of every amdgpu card under ``root``, in PCI-bus order."""
    found = []
    try:
        names = os.listdir(root)
    except OSError:
        return []
    for name in names:
        if not _CARD.match(name):  # card0-DP-1 and the like are connectors, renderD128 a render node
            continue
        device = root / name / "device"
        try:
            monitors = sorted(os.listdir(device / "hwmon"))
        except OSError:
            continue
        for monitor in monitors:
            folder = device / "hwmon" / monitor
            if _text(folder / "name") == "amdgpu":
                found.append((os.path.basename(os.path.realpath(device)), device, folder))
                break
    return sorted(found)


class AmdGpuSource(PowerSource):
    """All visible AMD GPUs, each read through its best hwmon file."""

    component = Component.GPU
    method = Method.MEASURED

    def __init__(self, root: Path | None = None, environ: Mapping[str, str] | None = None) -> None:
        self.root = root or DEFAULT_ROOT
        self._environ = environ
        self.cards: list[Card] = []
        self.name = "amdgpu-hwmon"
        #: (perf_counter time, text): the source chain hands over its own list, so that notes reach the record
        self.notes: list[tuple[float, str]] = []
        self._slots: dict[int, int] = {}  # card index -> position of its "rejected" note in self.notes
        #: narrows the visible GPUs to this rank's share in a multi-rank job (``tracker.measure.job``); may raise
        self.pick: Callable[[list[Card]], list[Card]] | None = None

    def start(self) -> None:
        found = scan(self.root)
        if not found:
            raise MeasurementError(f"no amdgpu hwmon under {self.root}")
        cards = []
        for index, (pci, device, folder) in enumerate(found):
            name = _text(device / "product_name") or f"AMD GPU {pci}"
            uuid = _text(device / "unique_id")
            cards.append(self._open(index, pci, name, f"GPU-{uuid}" if uuid else "", folder))
        selection = visible_selection(self._environ)
        if selection is not None:
            chosen: list[Card] = []
            for item in selection:
                match = [c for c in cards if (c.index == int(item) if item.isdigit() else c.uuid.startswith(item))]
                if len(match) != 1:
                    break
                if match[0] not in chosen:
                    chosen.append(match[0])
            cards = chosen
        if not cards:
            raise MeasurementError("no visible AMD GPU (ROCR_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES)")
        if self.pick is not None:
            cards = self.pick(cards)
        unreadable = [c for c in cards if c.mode == ""]
        if unreadable:
            files = ", ".join(file for file, _ in FILES)
            raise MeasurementError(f"AMD GPU {unreadable[0].pci}: none of {files} can be read")
        for card in cards:
            card.last = _read(card.file)
            if card.mode == "power" and card.last > MAX_WATTS * 1e6:
                card.last = 0
        self.cards = cards
        self.name = "+".join(sorted({f"amdgpu-{c.mode}" for c in cards}))

    def _open(self, index: int, pci: str, name: str, uuid: str, folder: Path) -> Card:
        """The card with its best readable file (``mode`` "" where none can be read)."""
        for file, mode in FILES:
            path = folder / file
            try:
                _read(path)
            except (OSError, ValueError):
                continue
            return Card(index, pci, name, uuid, path, mode)
        return Card(index, pci, name, uuid, folder / FILES[-1][0], "")

    def energy(self, usage: Usage) -> float:
        total = 0.0
        dt = usage.dt
        for card in self.cards:
            try:
                now = _read(card.file)
            except (OSError, ValueError) as exc:
                raise MeasurementError(f"AMD GPU {card.pci}: {card.file.name} read failed: {exc}") from exc
            if card.mode == "energy":
                delta = now - card.last
                card.last = now
                if delta < 0:  # the counter restarted (driver reload): nothing known about this tick
                    continue
                if delta > MAX_WATTS * 1e6 * max(dt, 1e-3):
                    self._reject(card, f"an energy step of {delta / 1e6:.4g} J in {dt:.3g} s")
                    continue
                total += delta / 1e6
            else:
                if not 0 <= now <= MAX_WATTS * 1e6:
                    self._reject(card, f"{now / 1e6:.4g} W")
                    now = card.last  # the last good power stands in for this tick
                total += (card.last + now) / 2 / 1e6 * dt
                card.last = now
        return total

    def _reject(self, card: Card, what: str) -> None:
        card.rejected += 1
        text = (
            f"gpu: AMD GPU {card.pci}: {card.rejected} reading(s) above {MAX_WATTS:g} W rejected, not integrated "
            f"(last: {what} from {card.file.name})"
        )
        slot = self._slots.get(card.index)
        if slot is not None and slot < len(self.notes) and self.notes[slot][1].startswith(f"gpu: AMD GPU {card.pci}:"):
            self.notes[slot] = (self.notes[slot][0], text)
        else:
            self._slots[card.index] = len(self.notes)
            self.notes.append((time.perf_counter(), text))
        if card.rejected == 1:
            logger.warning("%s", text)

    def devices(self) -> list[str]:
        return [c.name for c in self.cards]

    def describe(self) -> str:
        parts = [f"GPU {c.index} {c.name} ({c.pci}) via {c.file.name}" for c in self.cards]
        return f"amdgpu hwmon: {'; '.join(parts)} (measured)"

