"""The per-vCPU power coefficients of a virtual machine's CPU, and how this machine's row is chosen.

Cloud Carbon Footprint publishes, per CPU microarchitecture and cloud provider, the watts one vCPU draws idle and
at full load (derived from SPECpower_ssj2008; ``tracker/data/PROVENANCE.md``). A virtual machine's CPU is then
``vCPUs x (min + utilisation x (max - min))``: a 2-vCPU slice of a host, not the host's whole socket.

The row is chosen by the most specific thing known, in this order: the cloud instance type (``instance_type=``:
its platform's microarchitecture(s)), the CPU's model number in the brand string (CCF's model lists), the
vendor named in the brand string (the average of that vendor's rows), else the average of every row. Where
several rows apply (an instance type built on several platforms, a microarchitecture priced by several
providers), their min and max are averaged; the provider, when configured, narrows the rows to its own.
"""

from __future__ import annotations

import csv
import functools
from typing import NamedTuple

from tracker import data
from tracker.measure.cpu_names import model_tokens, normalize_cpu_name

#: which vendor each microarchitecture belongs to (for the vendor average)
VENDORS = {
    "Broadwell": "intel",
    "Cascade Lake": "intel",
    "Coffee Lake": "intel",
    "Haswell": "intel",
    "Ivy Bridge": "intel",
    "Sandy Bridge": "intel",
    "Skylake": "intel",
    "EPYC 1st Gen": "amd",
    "EPYC 2nd Gen": "amd",
    "EPYC 3rd Gen": "amd",
    "Graviton": "arm",
    "Graviton2": "arm",
}


class VcpuSpec(NamedTuple):
    """Watts per vCPU idle and at full load, and what they were chosen by (for the record and ``detect``)."""

    min_w: float
    max_w: float
    basis: str


class _Coefficient(NamedTuple):
    provider: str
    microarchitecture: str
    min_w: float
    max_w: float


@functools.cache
def _coefficients() -> tuple[_Coefficient, ...]:
    rows = csv.DictReader(data.read_text("vcpu_coefficients.csv").splitlines())
    return tuple(
        _Coefficient(r["provider"], r["microarchitecture"], float(r["min_w_per_vcpu"]), float(r["max_w_per_vcpu"]))
        for r in rows
    )


def _find_line(table: str, prefix: str) -> str | None:
    """The first line of a bundled CSV that starts with ``prefix`` (a ``str.find``: no parsing of every row)."""
    text = "\n" + data.read_text(table)
    at = text.find("\n" + prefix)
    if at == -1:
        return None
    end = text.find("\n", at + 1)
    return text[at + 1 : end if end != -1 else len(text)]


def microarchitecture(brand: str) -> str | None:
    """The microarchitecture of a CPU brand string, by its model number (``None`` without one, or unknown)."""
    # "Xeon(R) CPU E5-2670 0 @ 2.60GHz": the lone 0 (Sandy Bridge-EP's "version 0") is no model number
    key = " ".join(sorted(t for t in model_tokens(normalize_cpu_name(brand)) if t != "0"))
    if not key:
        return None
    line = _find_line("cpu_microarchitectures.csv", f"{key},")
    return next(csv.reader([line]))[2] if line else None


def instance(provider: str | None, instance_type: str) -> tuple[str, int, tuple[str, ...]] | None:
    """(provider, vCPUs, microarchitectures) of a cloud instance type, from CCF's instance tables.

    Azure's own spelling (``Standard_D2s_v3``, as its metadata service and portal give it) reads as CCF's
    (``D2s v3``)."""
    name = instance_type.strip().lower()
    if name.startswith("standard_") or (provider == "azure" and "_" in name):
        name = name.removeprefix("standard_").replace("_", " ")
    for candidate in (provider,) if provider else ("aws", "azure", "gcp"):
        line = _find_line("cloud_instances.csv", f"{candidate},{name},")
        if line:
            _, _, vcpus, archs = next(csv.reader([line]))
            return candidate, int(vcpus), tuple(archs.split(";"))
    return None


def _average(rows: list[_Coefficient], basis: str) -> VcpuSpec:
    return VcpuSpec(sum(r.min_w for r in rows) / len(rows), sum(r.max_w for r in rows) / len(rows), basis)


def _vendor(brand: str) -> str | None:
    text = brand.lower()
    if "intel" in text or "xeon" in text:
        return "intel"
    if "amd" in text or "epyc" in text:
        return "amd"
    if "graviton" in text or "neoverse" in text or "arm" in text.split():
        return "arm"
    return None


def spec(brand: str, provider: str | None = None, instance_type: str | None = None) -> VcpuSpec:
    """The coefficients for this machine: by instance type, model number, vendor, else all rows (see above)."""
    rows = _coefficients()
    ours = [r for r in rows if r.provider == provider] or list(rows)  # the provider's rows, when it prices any
    missing = ""
    if instance_type:
        found = instance(provider, instance_type)
        if found is not None:
            platform_provider, _vcpus, archs = found
            chosen = [r for r in rows if r.provider == platform_provider and r.microarchitecture in archs]
            if chosen:
                names = "/".join(archs)
                return _average(chosen, f"{platform_provider} {instance_type}: {names} (CCF per-vCPU coefficients)")
        missing = f"instance type {instance_type!r} is not in CCF's tables (2023); "
    arch = microarchitecture(brand)
    if arch is not None:
        chosen = [r for r in ours if r.microarchitecture == arch] or [r for r in rows if r.microarchitecture == arch]
        if chosen:
            return _average(chosen, f"{missing}{arch}, from the CPU's model number (CCF per-vCPU coefficients)")
    vendor = _vendor(brand)
    if vendor is not None:
        chosen = [r for r in ours if VENDORS.get(r.microarchitecture) == vendor]
        if chosen:
            return _average(chosen, f"{missing}average of CCF's {len(chosen)} {vendor.upper()} rows (no model number)")
    return _average(ours, f"{missing}average of CCF's {len(ours)} rows (CPU unknown)")
