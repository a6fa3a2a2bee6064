"""The CPU model: the embedded TDP table, matching, the load curve, the default for unknown CPUs."""

from __future__ import annotations

import logging

import pytest

from tracker.measure import cpu_table
from tracker.measure.cpu_names import normalize_cpu_name
from tracker.measure.hardware import Machine, parse_cpuinfo
from tracker.measure.sources.base import Usage
from tracker.measure.sources.cpu_model import DEFAULT_W_PER_CORE, CpuModel, load_fraction
from tracker.measure.sources.ram import W_PER_GB, RamModel


def machine(brand: str, sockets: int = 1, cores: int = 8) -> Machine:
    return Machine("h", brand, sockets, cores, cores * 2, 16 * 2**30, False)


@pytest.mark.parametrize(
    ("brand", "name", "tdp"),
    [
        ("AMD EPYC 7763 64-Core Processor", "AMD EPYC 7763", 280),
        ("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "Intel Xeon Platinum 8375C", 300),
        ("11th Gen Intel(R) Core(TM) i7-1185G7 @ 3.00GHz", "Intel Core i7-1185G7", 28),
        ("AMD Ryzen 9 5950X 16-Core Processor", "AMD Ryzen 9 5950X", 105),
    ],
)
def test_real_brand_strings_match_their_row(brand: str, name: str, tdp: float) -> None:
    spec = cpu_table.lookup(brand)
    assert spec is not None and spec.name == name and spec.tdp_w == tdp


def test_model_numbers_must_match_exactly() -> None:
    gold = cpu_table.lookup("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz")
    gold_r = cpu_table.lookup("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz")
    assert gold is not None and gold_r is not None
    assert gold.name.endswith("6248") and gold_r.name.endswith("6248R")
    assert cpu_table.lookup("AMD EPYC") is None  # a VM that hides the model: no guess
    assert cpu_table.lookup("Intel Xeon Gold 9999Z") is None


def test_normalisation_drops_marketing_noise() -> None:
    assert normalize_cpu_name("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz") == "intel xeon gold 6248"
    assert normalize_cpu_name("EPYC 7763") == normalize_cpu_name("AMD EPYC 7763 64-Core Processor")


def test_load_curve_points_and_interpolation() -> None:
    assert load_fraction(0.0) == pytest.approx(0.12)
    assert load_fraction(0.1) == pytest.approx(0.32)
    assert load_fraction(0.5) == pytest.approx(0.75)
    assert load_fraction(1.0) == pytest.approx(1.02)
    assert load_fraction(0.3) == pytest.approx(0.32 + (0.75 - 0.32) * 0.5)
    assert load_fraction(-1) == load_fraction(0.0) and load_fraction(2) == load_fraction(1.0)


def test_model_power_is_tdp_per_socket_times_curve() -> None:
    model = CpuModel(machine("AMD EPYC 7763 64-Core Processor", sockets=2))
    assert model.tdp_total == 560
    assert model.energy(Usage(dt=2.0, cpu_util=0.5)) == pytest.approx(560 * 0.75 * 2.0)
    assert "AMD EPYC 7763" in model.describe() and "modelled" in model.describe()


def test_unknown_cpu_uses_the_default_and_says_how_to_fix_it(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        model = CpuModel(machine("Mystery CPU 3000", cores=4))
    assert model.tdp_total == DEFAULT_W_PER_CORE * 4
    assert "cpu_watts" in caplog.text and "Mystery CPU 3000" in caplog.text


def test_ram_model_is_watts_per_gib() -> None:
    ram = RamModel(32 * 2**30)
    assert ram.watts == pytest.approx(32 * W_PER_GB)
    assert ram.energy(Usage(dt=10.0, cpu_util=0.0)) == pytest.approx(32 * W_PER_GB * 10)


def test_cpuinfo_parsing_counts_sockets_and_sees_hypervisors() -> None:
    text = (
        "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz\nphysical id\t: 0\n"
        "flags\t\t: fpu vme hypervisor\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz\n"
        "physical id\t: 1\nflags\t\t: fpu vme hypervisor\n"
    )
    assert parse_cpuinfo(text) == ("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", 2, True)
