"""``tracker detect``: what would be measured on this machine, and how (sources, location, intensity)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from tracker.cli._common import add_settings, settings

if TYPE_CHECKING:
    from tracker.config import Config
    from tracker.grid.intensity import Intensity
    from tracker.grid.location import Location

ORDER = 20


def register(sub: Any) -> None:
    parser = sub.add_parser("detect", help="print what would be measured and how")
    add_settings(parser, "detect")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=cmd_detect)


def intensity_now(config: Config, where: Location) -> Intensity:
    """The intensity a run with ``config`` at ``where`` would get for the current UTC hour."""
    from datetime import datetime, timezone

    from tracker.grid.intensity import provider_for

    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    (intensity,) = provider_for(config).intensities(where, [hour])
    return intensity


def cmd_detect(args: argparse.Namespace) -> int:
    from tracker.config import resolve
    from tracker.core.context import RunContext
    from tracker.grid import location
    from tracker.measure import hardware
    from tracker.measure.meter import Meter
    from tracker.measure.sources.base import Component

    config = resolve(settings(args))
    machine = hardware.detect()
    place = location.start(config)  # detection (if any) runs while the sources start
    meter = Meter.for_config(config)
    meter.start()
    try:
        where = place.result()
        cpu = meter.chains[Component.CPU]
        cpu.settle(wait=True)  # a VM's model takes the instance type the metadata service names (bounded wait)
        kind = getattr(cpu.active, "instance", None)
        intensity = intensity_now(config, where)
        info = {
            "host": machine.host,
            "cpu": machine.cpu_brand,
            "sockets": machine.sockets,
            "cores": machine.physical_cores,
            "logical_cpus": machine.logical_cpus,
            "memory_gib": round(machine.memory_bytes / 2**30, 2),
            "virtualised": machine.virtualised,
            "instance_type": _instance_info(config, kind),
            "attribution": meter.mode,
            "attribution_reason": meter.probe.choice.reason if meter.probe.choice else "",
            "cgroup": _cgroup_info(meter),
            "interval_s": config.interval,
            "sources": {c.value: meter.chains[c].active.describe() for c in Component},
            "methods": {c.value: meter.chains[c].method for c in Component},
            "intensity": {
                "g_per_kwh": intensity.g_per_kwh,
                "zone": intensity.zone,
                "label": intensity.label,
                "year": intensity.year,
                "source": intensity.source,
                "factor_type": intensity.factor_type,
                "note": intensity.note,
            },
            "location": {
                "zone": where.zone,
                "country": where.country,
                "source": where.source,
                "cloud_provider": where.cloud_provider,
                "cloud_region": where.cloud_region,
                "notes": list(where.notes),
            },
            "pue": config.pue,
            "pue_source": RunContext(config).pue_model().describe(),
            "suppliers": [[s.name, s.share_percent, s.kg_per_kwh] for s in config.suppliers],
            "store": config.store or "default",
            "settings_from": dict(config.origins),
            "notes": meter.notes_since(0.0),
        }
    finally:
        meter.close()
    if args.format == "json":
        print(json.dumps(info, indent=2))
        return 0
    print(f"host         {info['host']} ({'virtual machine' if machine.virtualised else 'bare metal or unknown'})")
    print(
        f"cpu          {machine.cpu_brand}, {machine.sockets} socket(s), {machine.physical_cores} cores, "
        f"{machine.logical_cpus} logical"
    )
    print(f"memory       {info['memory_gib']} GiB")
    learnt = info["instance_type"]
    if learnt["name"]:
        print(f"instance     {learnt['name']} (from {learnt['source']})")
    elif machine.virtualised:  # the vCPU model falls back on the CPU's name: say why the type is not known
        print(f"instance     unknown ({'; '.join(learnt['notes']) or 'no answer'}; set instance_type=)")
    for component in Component:
        print(f"{component.value} power    {info['sources'][component.value]}")
    print(f"attribution  {meter.mode} (interval {config.interval:g} s): {info['attribution_reason']}")
    if info["cgroup"]:
        group = info["cgroup"]
        print(f"cgroup       {group['what']}: {group['path']} (cgroup v{group['version']})")
    print(f"location     {where.zone or 'world average'} (decided by: {where.source})")
    print(
        f"intensity    {intensity.g_per_kwh:g} g/kWh {intensity.factor_type}: {intensity.label} ({intensity.zone}, "
        f"{intensity.year}), {intensity.source}"
    )
    print(f"pue          {config.pue:g} ({info['pue_source']})")
    if config.suppliers:
        mix = ", ".join(f"{s.name} {s.share_percent:g} % at {s.kg_per_kwh:g} kg/kWh" for s in config.suppliers)
        print(f"suppliers    {mix}")
    for note in (*where.notes, intensity.note):
        if note:
            print(f"location     note: {note}")
    for key, origin in sorted(config.origins.items()):
        print(f"setting      {key} from {origin}")
    for note in info["notes"]:
        print(f"note         {note}")
    return 0


def _instance_info(config: Config, kind: Any) -> dict[str, Any]:
    """The cloud instance type: the one the CPU's vCPU model uses, else what a run would learn (bounded wait)."""
    if kind is None:  # the CPU is not modelled per vCPU here (RAPL, bare metal, a forced value): ask anyway
        from tracker.measure import instance

        kind = instance.start(config).result()
    source = (
        kind.source if kind.provider is None or kind.source == "configuration" else f"{kind.source} ({kind.provider})"
    )
    return {"name": kind.name, "provider": kind.provider, "source": source, "notes": list(kind.notes)}


def _cgroup_info(meter: Any) -> dict[str, Any] | None:
    """The cgroup this process is in, what it is and why (``None`` where none below the root can be read)."""
    choice = meter.probe.choice
    group = choice.group if choice is not None else None
    if group is None:
        return None
    return {
        "path": group.path,
        "own_path": group.own_path,
        "version": group.version,
        "what": group.what,
        "kind": group.kind,
        "why": group.reason,
        "cpu_file": group.cpu_file,
        "memory_file": group.memory_file,
        "limits": dict(group.limits),
        "allocation": choice.allocation.describe() if choice.allocation else None,
        "used": meter.mode == "cgroup",
    }
