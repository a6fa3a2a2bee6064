"""``tracker doctor``: per component and for the location, what is used, the better source, the fix, the gain; the
exit code says whether everything is at its best source. On fake powercap trees, fake NVML and a fake PCI bus."""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path
from typing import Any

import pynvml
import pytest
from fake_nvml import FakeGpu, FakeNvml
from fake_powercap import FakePowercap, build_powercap, deny_energy_reads

from tracker.cli import main
from tracker.measure import advice, hardware
from tracker.measure.hardware import Machine
from tracker.measure.sources import chains, nvml, rapl
from tracker.measure.sources.nvml import NvmlSource

BARE_METAL = Machine("node-1", "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", 2, 40, 80, 64 * 2**30, False)
VM = Machine("vm-1", "Intel(R) Xeon(R) Processor", 1, 1, 2, 8 * 2**30, True)
UNKNOWN_CPU = BARE_METAL._replace(cpu_brand="Acme Hyperion 9000")
#: a configured location and no live data asked: the location is at its best source
PLACED = ("--country", "FR", "--live", "off")


@pytest.fixture
def tree(tmp_path: Path) -> FakePowercap:
    return build_powercap(tmp_path / "sys")


def machine(monkeypatch: pytest.MonkeyPatch, facts: Machine) -> None:
    monkeypatch.setattr(hardware, "detect", functools.lru_cache(maxsize=None)(lambda: facts))


def pci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *devices: tuple[str, str]) -> None:
    """A fake /sys/bus/pci/devices: (vendor, class) per device, as the kernel writes them."""
    root = Path(tempfile.mkdtemp(prefix="pci", dir=tmp_path))
    for i, (vendor, kind) in enumerate(devices):
        device = root / f"0000:{i:02x}:00.0"
        device.mkdir()
        (device / "vendor").write_text(f"{vendor}\n")
        (device / "class").write_text(f"{kind}\n")
    monkeypatch.setattr(advice, "PCI_ROOT", root)


def gpus(monkeypatch: pytest.MonkeyPatch, fake: FakeNvml | None) -> None:
    """NVML as a run would meet it: the fake library, or (None) a machine with no NVIDIA driver at all."""
    if fake is None:
        monkeypatch.setattr(nvml, "DRIVER_SIGNS", ("/nonexistent/nvidia",))
        monkeypatch.setattr(chains, "_nvml_source", lambda: NvmlSource())
    else:
        monkeypatch.setattr(chains, "_nvml_source", lambda: NvmlSource(nvml=fake, environ={}))


@pytest.fixture
def host(tree: FakePowercap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakePowercap:
    """Bare metal, RAPL readable, no GPU: everything at its best source once a location is set."""
    monkeypatch.setattr(rapl, "DEFAULT_ROOT", tree.root)
    machine(monkeypatch, BARE_METAL)
    gpus(monkeypatch, None)
    pci(tmp_path, monkeypatch, ("0x1a03", "0x030000"))  # the BMC's VGA: no GPU of note
    return tree


def doctor(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    """The exit code, the JSON report and the text report of the same diagnosis."""
    code = main(["doctor", "--format", "json", *argv])
    report = json.loads(capsys.readouterr().out)
    assert main(["doctor", *argv]) == code
    return code, report, capsys.readouterr().out


def finding(report: dict[str, Any], subject: str) -> dict[str, Any]:
    (found,) = [f for f in report["findings"] if f["subject"] == subject]
    return found


# -- RAPL ----------------------------------------------------------------------------------------------------------


def test_unreadable_energy_uj_gives_the_chmod_fix_and_exit_code_1(
    host: FakePowercap, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    deny_energy_reads(monkeypatch)
    code, report, text = doctor(capsys, *PLACED)
    assert code == 1 and report["at_best"] is False
    cpu = finding(report, "cpu")
    assert cpu["method"] == "tdp-model" and cpu["at_best"] is False
    [fix] = cpu["advice"]
    assert fix["counts"] is True
    assert fix["fix"][0] == f"sudo chmod o+r {host.root}/intel-rapl*:*/energy_uj"
    assert 'SUBSYSTEM=="powercap", ACTION=="add", RUN+="/bin/chmod o+r /sys%p/energy_uj"' in fix["fix"][1]
    assert "CVE-2020-8694" in fix["why"] and fix["gain"] == "CPU package energy measured instead of modelled"
    ram = finding(report, "ram")
    assert ram["method"] == "ram-model" and ram["advice"][0]["fix"][0] == fix["fix"][0]
    assert finding(report, "location")["at_best"] is True and finding(report, "gpu")["at_best"] is True
    assert "cpu       [FIX] TDP model" in text
    assert f"  fix     sudo chmod o+r {host.root}/intel-rapl*:*/energy_uj" in text
    assert "  gain    CPU package energy measured instead of modelled" in text


def test_readable_counters_give_no_rapl_advice_and_exit_code_0(
    host: FakePowercap, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, text = doctor(capsys, *PLACED)
    assert code == 0 and report["at_best"] is True
    assert finding(report, "cpu")["method"] == "rapl" and finding(report, "cpu")["advice"] == []
    assert finding(report, "ram")["method"] == "rapl-dram" and finding(report, "ram")["advice"] == []
    assert "chmod" not in text and "chmod" not in json.dumps(report)
    assert text.startswith("everything is measured with the best source this machine has")
    assert "cpu       [ok] RAPL counters (package-0, package-1) (measured)" in text


def test_no_rapl_driver_on_bare_metal_gives_the_modprobe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(rapl, "DEFAULT_ROOT", tmp_path / "empty-powercap")
    monkeypatch.setattr(advice.platform, "machine", lambda: "x86_64")
    machine(monkeypatch, BARE_METAL)
    gpus(monkeypatch, None)
    pci(tmp_path, monkeypatch)
    code, report, _ = doctor(capsys, *PLACED)
    assert code == 1
    [fix] = finding(report, "cpu")["advice"]
    assert fix["fix"][0].startswith("sudo modprobe intel_rapl_msr")
    assert finding(report, "ram")["advice"] == []  # no DRAM counters is not a fault of this machine's set-up


def test_a_forced_cpu_power_where_rapl_reads_is_a_hint_not_a_failure(
    host: FakePowercap, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, text = doctor(capsys, *PLACED, "--cpu-watts", "40")
    assert code == 0
    cpu = finding(report, "cpu")
    assert cpu["method"] == "constant" and cpu["at_best"] is True
    [hint] = cpu["advice"]
    assert hint["counts"] is False and "remove cpu_watts" in hint["fix"][0] and "RAPL" in hint["better"]
    assert "  hint    RAPL counters" in text


def test_an_unknown_cpu_gets_the_cpu_tdp_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(rapl, "DEFAULT_ROOT", tmp_path / "empty-powercap")
    monkeypatch.setattr(advice.platform, "machine", lambda: "aarch64")  # no RAPL to load on this CPU
    machine(monkeypatch, UNKNOWN_CPU)
    gpus(monkeypatch, None)
    pci(tmp_path, monkeypatch)
    code, report, _ = doctor(capsys, *PLACED)
    assert code == 1
    [fix] = finding(report, "cpu")["advice"]
    assert fix["fix"][0].startswith("cpu_tdp=") and "Acme Hyperion 9000" in fix["why"]


# -- virtual machines ----------------------------------------------------------------------------------------------


def test_a_vm_without_an_instance_type_is_told_to_set_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(rapl, "DEFAULT_ROOT", tmp_path / "empty-powercap")  # a hypervisor exposes no RAPL
    machine(monkeypatch, VM)
    gpus(monkeypatch, None)
    pci(tmp_path, monkeypatch)
    code, report, _ = doctor(capsys, *PLACED)
    assert code == 1
    cpu = finding(report, "cpu")
    assert cpu["method"] == "vcpu-model"
    [fix] = cpu["advice"]
    assert fix["fix"][0].startswith("instance_type=") and "no instance type" in fix["why"]
    assert "modprobe" not in json.dumps(report)  # a VM has no RAPL to load

    code, report, _ = doctor(capsys, *PLACED, "--instance-type", "m5.large")
    assert code == 0 and finding(report, "cpu")["advice"] == []


# -- GPUs ----------------------------------------------------------------------------------------------------------


def test_nvml_reading_the_gpus_is_the_best_source(
    host: FakePowercap, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gpus(monkeypatch, FakeNvml([FakeGpu(energy_mj=5_000)]))
    code, report, _ = doctor(capsys, *PLACED)
    assert code == 0
    gpu = finding(report, "gpu")
    assert gpu["method"] == "nvml-energy" and gpu["advice"] == [] and "energy counter" in gpu["used"]


def test_an_nvidia_gpu_without_its_driver_gets_the_driver(
    host: FakePowercap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pci(tmp_path, monkeypatch, (advice.NVIDIA, "0x030200"))  # a 3D controller: a data-centre GPU
    code, report, text = doctor(capsys, *PLACED)
    assert code == 1
    [fix] = finding(report, "gpu")["advice"]
    assert "1 NVIDIA GPU(s) on the PCI bus but no NVIDIA driver" in fix["why"]
    assert fix["fix"][0].startswith("sudo ubuntu-drivers install") and fix["gain"].startswith("GPU energy measured")
    assert "gpu       [FIX] none" in text


def test_a_driver_whose_library_nvml_cannot_load_gets_the_checks(
    host: FakePowercap, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gpus(monkeypatch, FakeNvml(init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND))
    code, report, _ = doctor(capsys, *PLACED)
    assert code == 1
    [fix] = finding(report, "gpu")["advice"]
    assert "NVML not available" in fix["why"] and fix["fix"][0].startswith("nvidia-smi")


def test_a_driver_without_pynvml_gets_pip_install(
    host: FakePowercap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sign = tmp_path / "nvidiactl"
    sign.touch()
    monkeypatch.setattr(nvml, "DRIVER_SIGNS", (str(sign),))

    def no_pynvml() -> Any:
        raise ModuleNotFoundError("No module named 'pynvml'")

    monkeypatch.setattr(nvml, "_import_nvml", no_pynvml)
    code, report, _ = doctor(capsys, *PLACED)
    assert code == 1
    [fix] = finding(report, "gpu")["advice"]
    assert fix["fix"] == ["pip install nvidia-ml-py"]


def test_no_gpu_anywhere_is_no_advice_and_gpus_hidden_on_purpose_neither(
    host: FakePowercap, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, _ = doctor(capsys, *PLACED)
    assert code == 0 and finding(report, "gpu")["advice"] == []
    hidden = {"CUDA_VISIBLE_DEVICES": "-1"}  # the job's choice
    monkeypatch.setattr(chains, "_nvml_source", lambda: NvmlSource(nvml=FakeNvml([FakeGpu()]), environ=hidden))
    code, report, _ = doctor(capsys, *PLACED)
    assert code == 0 and finding(report, "gpu")["advice"] == []


def test_an_amd_gpu_is_a_hint_that_it_is_not_counted(
    host: FakePowercap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pci(tmp_path, monkeypatch, (advice.AMD, "0x038000"))
    code, report, _ = doctor(capsys, *PLACED)
    assert code == 0
    [hint] = finding(report, "gpu")["advice"]
    assert hint["counts"] is False and "AMD GPU" in hint["why"]


# -- the location and the intensity --------------------------------------------------------------------------------


def test_no_location_gets_the_country_setting(host: FakePowercap, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, text = doctor(capsys, "--live", "off")
    assert code == 1
    place = finding(report, "location")
    assert place["method"] == "world-average" and place["at_best"] is False
    fix, hint = place["advice"]
    assert fix["counts"] is True and fix["fix"][0].startswith("country=") and "world average" in fix["gain"]
    assert hint["counts"] is False and hint["why"] == "live data is off"
    assert "location  [FIX]" in text


def test_yearly_values_without_a_token_are_a_hint(host: FakePowercap, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _ = doctor(capsys, "--country", "FR")
    assert code == 0  # hourly data needs an account: a hint, not a fault of this machine's set-up
    [hint] = finding(report, "location")["advice"]
    assert hint["counts"] is False and "ELECTRICITYMAPS_API_TOKEN" in hint["fix"][0]


def test_direct_asked_without_live_data_is_advice(
    host: FakePowercap, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRACKER_EMISSION_FACTOR_TYPE", "direct")
    code, report, _ = doctor(capsys, "--country", "FR")
    assert code == 1
    [fix] = finding(report, "location")["advice"]
    assert fix["counts"] is True and "emission_factor_type=direct" in fix["why"]
    assert "ELECTRICITYMAPS_API_TOKEN" in fix["fix"][0] and fix["fix"][1].startswith("emission_factor_type=lifecycle")


def test_your_own_factor_is_at_its_best(host: FakePowercap, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _ = doctor(capsys, "--intensity-g-per-kwh", "380", "--intensity-source", "UBA 2024")
    assert code == 0
    place = finding(report, "location")
    assert place["method"] == "configured" and "UBA 2024" in place["used"]


def test_a_configuration_error_exits_2(host: FakePowercap, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--country", "XX"]) == 2
    assert "country" in capsys.readouterr().err


def test_a_failing_live_source_is_advice(
    host: FakePowercap, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tracker.grid import electricitymaps

    monkeypatch.setenv("ELECTRICITYMAPS_API_TOKEN", "a-token")
    monkeypatch.setenv("ELECTRICITYMAPS_API_URL", "http://127.0.0.1:9/v3")  # a closed port: refused at once
    electricitymaps.reset()
    try:
        code, report, _ = doctor(capsys, "--zone", "DE")
    finally:
        electricitymaps.reset()
    assert code == 1
    [fix] = finding(report, "location")["advice"]
    assert fix["counts"] is True and "live intensity unavailable" in fix["why"]
    assert fix["fix"][0].startswith("tracker intensity --live on")
