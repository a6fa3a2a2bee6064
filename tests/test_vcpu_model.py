"""Virtual machines are modelled per vCPU with Cloud Carbon Footprint's coefficients, never as a whole host socket
(issue 13, point 1). Expected figures are CCF's rows, copied here from ``coefficients-*-use.csv`` (2023)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import tracker
from tracker.config import resolve
from tracker.measure import cpu_table, hardware, vcpu_table
from tracker.measure.hardware import Machine
from tracker.measure.sources.base import Component, Usage
from tracker.measure.sources.chains import build_chains
from tracker.measure.sources.vcpu_model import VcpuModel

# CCF coefficients-aws-use.csv, row "Sky Lake": min and max W per vCPU
AWS_SKYLAKE = (0.6446044454253452, 4.193436438541878)
# the 18 Intel rows of the three providers' files (Ivy Bridge ... Coffee Lake), averaged
INTEL_AVERAGE = (1.354469611111111, 5.39060511111111)
# CCF coefficients-gcp-use.csv: Skylake, Broadwell, Haswell, EPYC 2nd Gen (e2-standard-2's four platforms)
GCP_E2 = (
    (0.6446044454253452 + 0.7128342245989304 + 1.9005681818181814 + 0.4742621527777778) / 4,
    (3.8984738056304855 + 3.3857473048128344 + 5.9688982156043195 + 1.5751872939814815) / 4,
)


def vm(brand: str, vcpus: int = 2, virtualised: bool = True) -> Machine:
    return Machine("vm", brand, 1, vcpus, vcpus, 8 * 2**30, virtualised)


@pytest.mark.parametrize(
    ("brand", "provider", "instance_type", "expected", "basis"),
    [
        ("Intel(R) Xeon(R) Processor", None, None, INTEL_AVERAGE, "INTEL rows (no model number)"),
        ("Intel(R) Xeon(R) CPU @ 2.20GHz", None, None, INTEL_AVERAGE, "INTEL rows (no model number)"),
        ("Intel(R) Xeon(R) Platinum 8175M CPU @ 2.50GHz", "aws", None, AWS_SKYLAKE, "Skylake, from the CPU's model"),
        ("anything", "aws", "m5.large", AWS_SKYLAKE, "aws m5.large: Skylake"),
        ("anything", None, "M5.Large", AWS_SKYLAKE, "aws M5.Large: Skylake"),
        ("anything", None, "e2-standard-2", GCP_E2, "gcp e2-standard-2"),
        ("anything", None, "Standard_D2s_v3", None, "azure Standard_D2s_v3: Broadwell/Cascade Lake/Haswell/Skylake"),
        ("Intel(R) Xeon(R) CPU E5-2670 0 @ 2.60GHz", "aws", None, (2.1694411458333335, 8.575357663690477), "Sandy"),
        ("AMD EPYC 7R32", "aws", None, (0.4742621527777778, 1.6929615162037037), "EPYC 2nd Gen"),
    ],
)
def test_the_row_is_chosen_by_instance_type_model_number_then_vendor(
    brand: str, provider: str | None, instance_type: str | None, expected: tuple[float, float] | None, basis: str
) -> None:
    spec = vcpu_table.spec(brand, provider, instance_type)
    if expected is not None:
        assert (spec.min_w, spec.max_w) == pytest.approx(expected, rel=1e-6)
    assert basis in spec.basis


def test_an_unknown_instance_type_falls_back_and_says_so() -> None:
    spec = vcpu_table.spec("Intel(R) Xeon(R) Processor", "aws", "zz9.mega")
    assert "'zz9.mega' is not in CCF's tables" in spec.basis and "INTEL" in spec.basis
    unknown = vcpu_table.spec("Mystery CPU", None, None)
    assert "CPU unknown" in unknown.basis and 0 < unknown.min_w < unknown.max_w


def test_watts_are_vcpus_times_the_linear_per_vcpu_model() -> None:
    model = VcpuModel(vm("anything", vcpus=2), "aws", "m5.large")
    low, high = AWS_SKYLAKE
    assert model.power(0.0) == pytest.approx(2 * low)
    assert model.power(0.5) == pytest.approx(2 * (low + 0.5 * (high - low)))
    assert model.power(1.0) == pytest.approx(2 * high)
    assert model.energy(Usage(dt=10.0, cpu_util=0.25)) == pytest.approx(10 * 2 * (low + 0.25 * (high - low)))
    assert "2 vCPU x (0.645 + utilisation x 3.549) W; aws m5.large: Skylake" in model.inputs()


@pytest.mark.parametrize("brand", ["Intel(R) Xeon(R) Processor", "Intel(R) Xeon(R) CPU @ 2.20GHz", "AMD EPYC"])
def test_a_brand_with_no_model_number_never_matches_a_tdp_row(brand: str) -> None:
    assert cpu_table.lookup(brand) is None
    assert cpu_table.lookup("Intel(R) Xeon(R) Platinum 8175M CPU @ 2.50GHz") is not None  # a model still matches


def _cpu_chain(root: Path, machine: Machine, **settings: object) -> str:
    chain = build_chains(resolve(settings), machine, powercap_root=root)[Component.CPU]
    chain.start()  # an empty powercap tree: no RAPL, whatever machine runs the tests
    try:
        return chain.active.name
    finally:
        chain.close()


def test_a_virtual_machine_gets_the_vcpu_model_bare_metal_the_tdp_model(tmp_path: Path) -> None:
    xeon_vm, gold = vm("Intel(R) Xeon(R) Processor"), vm("Intel(R) Xeon(R) Gold 6248 CPU", virtualised=False)
    assert _cpu_chain(tmp_path, xeon_vm) == "vcpu-model"
    assert _cpu_chain(tmp_path, gold) == "tdp-model"
    assert _cpu_chain(tmp_path, gold, instance_type="m5.large") == "vcpu-model"  # named: modelled per vCPU
    assert _cpu_chain(tmp_path, xeon_vm, cpu_tdp=95) == "tdp-model"  # the user's TDP wins
    assert _cpu_chain(tmp_path, xeon_vm, cpu_watts=5) == "constant"


@pytest.mark.skipif(not hardware.detect().virtualised, reason="this host is not a virtual machine")
def test_on_this_vm_a_busy_thread_reads_within_ccfs_band_not_a_socket(store_path: str) -> None:
    """This host (CI's 2-vCPU VM) reports "Intel(R) Xeon(R) Processor": it used to be charged a 61 W socket."""
    machine = hardware.detect()
    spec = vcpu_table.spec(machine.cpu_brand)
    with tracker.track(store=store_path, country="FR", interval=0.2) as run:
        deadline = time.perf_counter() + 1.0
        while time.perf_counter() < deadline:
            pass
    assert run.cpu_method == "vcpu-model"
    assert machine.logical_cpus * spec.min_w <= run.cpu_power_w <= machine.logical_cpus * spec.max_w
    assert any("vcpu-model:" in note and "vCPU x" in note for note in run.notes)
