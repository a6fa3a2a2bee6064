"""Build the per-vCPU power tables from Cloud Carbon Footprint's coefficients (called by ``build_tables.py``).

Outputs, in ``tracker/data``:

* ``vcpu_coefficients.csv`` -- provider (aws, azure, gcp), CPU microarchitecture, min and max watts per vCPU
  (idle and full load), from ``coefficients-{aws,azure,gcp}-use.csv``;
* ``cpu_microarchitectures.csv`` -- CPU model number(s) -> microarchitecture, from CCF's model lists
  (``intel-*.csv``, ``amd-epyc-gen*.csv``) and the platform CPUs of the AWS instance table;
* ``cloud_instances.csv`` -- provider, instance type, vCPUs, the platform's microarchitecture(s), from
  ``{aws,azure,gcp}-instances.csv``.

Microarchitecture names differ between CCF's files ("Sky Lake" for AWS, "Skylake" for GCP and Azure): each is
mapped to one spelling here, so a lookup never depends on which provider's file named it. Standard library only.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

CCF = Path("ccf-coefficients")
PROVIDERS = ("aws", "azure", "gcp")
COEFFICIENT_HEADER = ("provider", "microarchitecture", "min_w_per_vcpu", "max_w_per_vcpu")
MICROARCH_HEADER = ("key", "model", "microarchitecture")
INSTANCE_HEADER = ("provider", "instance_type", "vcpus", "microarchitectures")

#: every spelling in CCF's files -> the one used in our tables
SPELLINGS = {
    "sky lake": "Skylake",
    "skylake": "Skylake",
    "cascade lake": "Cascade Lake",
    "coffee lake": "Coffee Lake",
    "ivy bridge": "Ivy Bridge",
    "sandy bridge": "Sandy Bridge",
    "haswell": "Haswell",
    "broadwell": "Broadwell",
    "epyc 1st gen": "EPYC 1st Gen",
    "epyc 2nd gen": "EPYC 2nd Gen",
    "epyc 3rd gen": "EPYC 3rd Gen",
    "graviton": "Graviton",
    "graviton2": "Graviton2",
}
#: CCF's model lists, one file per microarchitecture
MODEL_LISTS = {
    "intel-broadwell.csv": "Broadwell",
    "intel-cascadelake.csv": "Cascade Lake",
    "intel-coffeelake.csv": "Coffee Lake",
    "intel-haswell.csv": "Haswell",
    "intel-ivybridge.csv": "Ivy Bridge",
    "intel-sandybridge.csv": "Sandy Bridge",
    "intel-skylake.csv": "Skylake",
    "amd-epyc-gen1.csv": "EPYC 1st Gen",
    "amd-epyc-gen2.csv": "EPYC 2nd Gen",
    "amd-epyc-gen3.csv": "EPYC 3rd Gen",
}


def microarchitecture(name: str) -> str | None:
    """Our spelling of a CCF microarchitecture name (``None`` for "Unknown" and the like)."""
    return SPELLINGS.get(" ".join(name.strip().lower().split()))


def build_coefficients(shared: Path) -> list[tuple[str, str, float, float]]:
    rows = []
    for provider in PROVIDERS:
        with (shared / CCF / f"coefficients-{provider}-use.csv").open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                arch = microarchitecture(row["Architecture"])
                if arch is None:
                    raise ValueError(f"{provider}: unknown microarchitecture {row['Architecture']!r}")
                rows.append((provider, arch, float(row["Min Watts"]), float(row["Max Watts"])))
    return sorted(rows)


def model_key(name: str, normalize: Callable[[str], str], tokens: Callable[[str], set[str]]) -> str:
    """The lookup key of a CPU name: its model-number tokens, sorted (``Xeon Platinum 8175M`` and ``Platinum
    8175M`` both give ``8175m``; ``E5-2686 v4`` gives ``e5-2686 v4``); empty without a model number."""
    return " ".join(sorted(tokens(normalize(name))))


def build_microarchitectures(shared: Path, key_of: Callable[[str], str]) -> list[tuple[str, str, str]]:
    """(key, model as CCF spells it, microarchitecture); a model listed under two microarchitectures is dropped."""
    found: dict[str, tuple[str, str]] = {}
    clashes: set[str] = set()

    def add(model: str, arch: str) -> None:
        key = key_of(model)
        if not key:
            return
        if key in found and found[key][1] != arch:
            clashes.add(key)
        found.setdefault(key, (model, arch))

    for file, arch in MODEL_LISTS.items():
        for line in (shared / CCF / file).read_text(encoding="utf-8").splitlines():
            if line.strip():
                add(line.strip(), arch)
    return sorted((key, model, arch) for key, (model, arch) in found.items() if key not in clashes)


def build_instances(
    shared: Path, model_arch: dict[str, str], key_of: Callable[[str], str]
) -> list[tuple[str, str, int, str]]:
    """(provider, instance type, vCPUs, microarchitectures joined by ';'), the platform CPU's for AWS."""
    rows: dict[tuple[str, str], tuple[int, list[str]]] = {}
    for provider, type_column, arch_column in (
        ("aws", "Instance type", None),
        ("azure", "Virtual Machine", "Microarchitecture"),
        ("gcp", "Machine type", "Microarchitecture"),
    ):
        with (shared / CCF / f"{provider}-instances.csv").open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                name = row[type_column].strip()
                vcpu_column = "Instance vCPU" if provider == "aws" else "Instance vCPUs"
                try:
                    vcpus = int(float(row[vcpu_column]))
                except ValueError:
                    continue
                if arch_column is None:
                    cpu = row["Platform CPU Name"].strip()
                    arch = microarchitecture(cpu) or model_arch.get(key_of(cpu))
                else:
                    arch = microarchitecture(row[arch_column])
                if not name or vcpus <= 0 or arch is None:
                    continue
                key = (provider, name.lower())
                _, archs = rows.setdefault(key, (vcpus, []))
                if arch not in archs:
                    archs.append(arch)
    return sorted((p, n, v, ";".join(sorted(a))) for (p, n), (v, a) in rows.items())


def csv_rows(rows: Iterable[Sequence[object]]) -> list[list[str]]:
    return [[f"{v:.6f}" if isinstance(v, float) else str(v) for v in row] for row in rows]


def provenance_section(
    coefficients: list[tuple[str, str, float, float]],
    models: list[tuple[str, str, str]],
    instances: list[tuple[str, str, int, str]],
) -> str:
    per_provider = {p: sum(1 for r in instances if r[0] == p) for p in PROVIDERS}
    return f"""
## `vcpu_coefficients.csv`, `cpu_microarchitectures.csv`, `cloud_instances.csv` -- the per-vCPU model

From Cloud Carbon Footprint's coefficients (cloud-carbon-footprint/cloud-carbon-coefficients, commit dda7621,
2023-05-08; Apache-2.0), copied in `../shared/data/ccf-coefficients/`. CCF derived min and max watts per vCPU
per CPU microarchitecture from SPECpower_ssj2008 results. Built by `scripts/build_vcpu.py`.

- `vcpu_coefficients.csv`: {len(coefficients)} rows, `coefficients-{{aws,azure,gcp}}-use.csv` (min and max W per
  vCPU, six decimals). Microarchitecture names spelled one way across providers ("Sky Lake" -> "Skylake").
- `cpu_microarchitectures.csv`: {len(models)} rows, CCF's model lists (`intel-*.csv`, `amd-epyc-gen*.csv`) keyed
  by their model-number tokens (`tracker.measure.cpu_names.model_tokens`, sorted); a model listed under two
  microarchitectures is left out.
- `cloud_instances.csv`: {len(instances)} instance types (AWS {per_provider['aws']}, Azure {per_provider['azure']},
  GCP {per_provider['gcp']}) from `{{aws,azure,gcp}}-instances.csv`: vCPUs and the platform's microarchitecture(s)
  (AWS: its platform CPU mapped through the model lists; rows with an unknown microarchitecture left out).
"""


LICENSES_SECTION = """
## Cloud Carbon Footprint coefficients -- Apache-2.0

`vcpu_coefficients.csv`, `cpu_microarchitectures.csv` and `cloud_instances.csv` contain data from Cloud Carbon
Footprint's coefficients (https://github.com/cloud-carbon-footprint/cloud-carbon-coefficients, commit dda7621),
licensed under the Apache License, Version 2.0, https://www.apache.org/licenses/LICENSE-2.0 (the licence text is
in `../shared/data/ccf-coefficients/LICENSE`). Changes made: microarchitecture names spelled one way, model names
normalised into lookup keys, instance tables reduced to type, vCPUs and microarchitecture.
"""
