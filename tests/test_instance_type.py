"""A VM's instance type from the cloud metadata services, and the vCPU model switching to it (issue 13, point 1).

Every answer comes from a server on 127.0.0.1 (tests/local_http.py) speaking the real services' shapes: AWS IMDSv2
(PUT a token, then ``/latest/meta-data/instance-type`` as text), GCP (``instance/machine-type``, a path ending in
the type, with ``Metadata-Flavor: Google``), Azure IMDS (``instance/compute/vmSize`` as text, ``Metadata: true``).
Expected coefficients are CCF's rows (see tests/test_vcpu_model.py).
"""

from __future__ import annotations

import functools
import json
import math
import threading
import time
from pathlib import Path

import pytest

import tracker
from tests.local_http import Answer, LocalServer, Seen, serve
from tracker.cli import main
from tracker.config import resolve
from tracker.grid import location
from tracker.measure import hardware, instance, vcpu_table
from tracker.measure.hardware import Machine
from tracker.measure.sources import chains, nvml, rapl
from tracker.measure.sources.base import Component, Usage
from tracker.measure.sources.chains import build_chains
from tracker.measure.sources.nvml import NvmlSource

AWS_SKYLAKE = (0.6446044454253452, 4.193436438541878)  # m5.large's platform, per vCPU
VM = Machine("vm-1", "Intel(R) Xeon(R) Processor", 1, 1, 2, 8 * 2**30, True)


def aws_routes(instance_type: str = "m5.large", release: threading.Event | None = None) -> dict:
    def answer(seen: Seen) -> Answer:
        if seen.headers.get("x-aws-ec2-metadata-token") != "TOKEN-9":
            return Answer(401, "")
        if release is not None:
            release.wait(10)
        return Answer(200, instance_type)

    return {
        ("PUT", "/latest/api/token"): Answer(200, "TOKEN-9"),
        ("GET", "/latest/meta-data/placement/region"): Answer(200, "eu-west-1"),
        ("GET", "/latest/meta-data/instance-type"): answer,
    }


GCP_ROUTES = {
    ("GET", "/computeMetadata/v1/instance/machine-type"): lambda seen: (
        Answer(200, "projects/123456789/machineTypes/e2-standard-2", {"Metadata-Flavor": "Google"})
        if seen.headers.get("metadata-flavor") == "Google"
        else Answer(403, "")
    )
}
AZURE_ROUTES = {
    ("GET", "/metadata/instance/compute/vmSize"): lambda seen: (
        Answer(200, "Standard_D2s_v3") if seen.headers.get("metadata") == "true" else Answer(400, "")
    )
}


def point(monkeypatch: pytest.MonkeyPatch, provider: str, server: LocalServer) -> None:
    monkeypatch.setenv(location.ENV_URLS[provider], server.url)


def on_a_vm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A 2-vCPU VM with no RAPL and no GPU, whatever machine runs the tests."""
    monkeypatch.setattr(hardware, "detect", functools.lru_cache(maxsize=None)(lambda: VM))
    monkeypatch.setattr(rapl, "DEFAULT_ROOT", tmp_path / "empty-powercap")
    monkeypatch.setattr(nvml, "DRIVER_SIGNS", ("/nonexistent/nvidia",))
    monkeypatch.setattr(chains, "_nvml_source", lambda: NvmlSource())


# -- asking the metadata services --------------------------------------------------------------------------------
def test_aws_imdsv2_token_then_instance_type(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(aws_routes()) as aws:
        point(monkeypatch, "aws", aws)
        found = instance.start(resolve({"cloud_metadata": "on"})).result()
    assert found == instance.InstanceType("m5.large", "aws", "cloud metadata")
    assert [(s.method, s.path) for s in aws.seen] == [
        ("PUT", "/latest/api/token"),
        ("GET", "/latest/meta-data/instance-type"),
    ]
    assert found.describe() == "instance type m5.large from cloud metadata (aws)"


def test_gcp_machine_type_path_gives_the_type_and_needs_the_flavor_header(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(GCP_ROUTES) as gcp:
        point(monkeypatch, "gcp", gcp)
        found = instance.start(resolve({"cloud_metadata": "on"})).result()
    assert (found.name, found.provider) == ("e2-standard-2", "gcp")
    instance.reset()
    bare = {("GET", "/computeMetadata/v1/instance/machine-type"): Answer(200, "projects/1/machineTypes/e2-micro")}
    with serve(bare) as fake:
        point(monkeypatch, "gcp", fake)
        refused = instance.start(resolve({"cloud_metadata": "on"})).result()
    assert refused.name is None and any("gcp" in n and "Metadata-Flavor" in n for n in refused.notes)


def test_azure_vm_size(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(AZURE_ROUTES) as azure:
        point(monkeypatch, "azure", azure)
        found = instance.start(resolve({"cloud_metadata": "on"})).result()
    assert (found.name, found.provider) == ("Standard_D2s_v3", "azure")
    assert azure.seen[0].query["format"] == ["text"] and azure.seen[0].query["api-version"]


@pytest.mark.parametrize(
    "answer",
    [
        Answer(200, "<html><body>proxy error</body></html>"),
        Answer(200, "m5.large" * 20_000),  # 160 kB: past the metadata answers' 64 KiB cap, no instance type
        Answer(200, "m5.large\n; rm -rf /"),
        Answer(404, "Not Found"),
    ],
)
def test_an_answer_that_is_no_instance_type_is_refused(monkeypatch: pytest.MonkeyPatch, answer: Answer) -> None:
    routes = {**aws_routes(), ("GET", "/latest/meta-data/instance-type"): answer}
    with serve(routes) as aws:
        point(monkeypatch, "aws", aws)
        found = instance.start(resolve({"cloud_metadata": "on"})).result()
    assert (found.name, found.source) == (None, "unknown")
    assert any(n.startswith("instance type: cloud metadata (aws)") for n in found.notes)
    assert all(len(n) < 300 for n in found.notes)  # nothing of a huge body reaches a note


def test_a_silent_service_costs_no_start_and_at_most_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    hang = Answer(200, "TOKEN-9", hang_s=5.0)
    with serve({("PUT", "/latest/api/token"): hang}) as dead:
        point(monkeypatch, "aws", dead)
        config = resolve({"cloud_metadata": "on", "cloud_provider": "aws", "cloud_region": "eu-west-1"})
        t0 = time.perf_counter()
        handle = instance.start(config)
        assert handle.peek() is None
        started = time.perf_counter() - t0
        found = handle.result()
        elapsed = time.perf_counter() - t0
    assert started < 0.05
    assert elapsed <= location.METADATA_BUDGET_S + location.WAIT_MARGIN_S + 0.15
    # the budget ran out: the question's own wait, or the request's socket timeout, whichever came first
    assert found.name is None and any("no answer within 300 ms" in n or "timed out" in n for n in found.notes)


def test_peek_gives_up_at_the_deadline_even_if_the_question_never_ran() -> None:
    """A forked child inherits an unfinished question whose thread did not survive the fork."""
    orphan = instance._Detection(0.05)
    handle = instance.InstanceHandle(None, orphan)
    assert handle.peek() is None
    time.sleep(0.06)
    found = handle.peek()
    assert found is not None and found.name is None and "no answer within 0.05 s" in found.notes[0]


def test_nothing_is_asked_without_signs_of_a_cloud_or_when_off(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(aws_routes()) as aws:
        point(monkeypatch, "aws", aws)
        auto = instance.start(resolve({})).peek()  # conftest: no DMI at all
        off = instance.start(resolve({"cloud_metadata": "off"})).peek()
    assert aws.seen == []
    assert auto is not None and auto.name is None and "no sign of a cloud VM" in auto.notes[0]
    assert off is not None and "cloud_metadata=off" in off.notes[0]


def test_the_dmi_signs_choose_whom_to_ask(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    dmi = tmp_path / "dmi"
    dmi.mkdir()
    (dmi / "sys_vendor").write_text("Amazon EC2\n")
    monkeypatch.setattr(location, "DMI_DIR", dmi)
    with serve(aws_routes()) as aws, serve(AZURE_ROUTES) as azure:
        point(monkeypatch, "aws", aws)
        point(monkeypatch, "azure", azure)
        found = instance.start(resolve({})).result()
    assert (found.name, found.provider) == ("m5.large", "aws") and azure.seen == []


def test_a_configured_instance_type_wins_and_nothing_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(aws_routes()) as aws:
        point(monkeypatch, "aws", aws)
        found = instance.start(resolve({"cloud_metadata": "on", "instance_type": "c5.large"})).peek()
    assert found == instance.InstanceType("c5.large", None, "configuration")
    assert aws.seen == []


def test_the_question_is_asked_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(aws_routes()) as aws:
        point(monkeypatch, "aws", aws)
        config = resolve({"cloud_metadata": "on", "cloud_provider": "aws", "cloud_region": "eu-west-1"})
        first = instance.start(config).result()
        second = instance.start(config).result()
    assert first == second and aws.count("/latest/meta-data/instance-type") == 1


# -- the vCPU model switching to it --------------------------------------------------------------------------------
def test_the_vcpu_model_switches_once_when_the_answer_arrives(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The meter starts before the answer: brand-based coefficients until then, the instance's after, one note."""
    monkeypatch.setattr(location, "METADATA_BUDGET_S", 10.0)  # the answer comes when the test says so
    release = threading.Event()
    with serve(aws_routes(release=release)) as aws:
        point(monkeypatch, "aws", aws)
        config = resolve({"cloud_metadata": "on", "cloud_provider": "aws", "cloud_region": "eu-west-1"})
        chain = build_chains(config, VM, powercap_root=tmp_path / "none")[Component.CPU]
        t0 = time.perf_counter()
        chain.start()
        assert time.perf_counter() - t0 < 0.1  # the start never waits for the metadata service
        model = chain.active
        assert model.name == "vcpu-model"
        idle = Usage(dt=1.0, cpu_util=0.0)
        before = vcpu_table.spec(VM.cpu_brand, "aws")  # no answer yet: the average of AWS's Intel rows
        assert "INTEL rows (no model number)" in before.basis
        assert chain.energy(idle) == pytest.approx(2 * before.min_w)
        assert [t for t, _ in chain.notes] == [-math.inf]
        release.set()
        instance.start(config).result()
        assert chain.energy(idle) == pytest.approx(2 * AWS_SKYLAKE[0])  # the next tick: m5.large's platform
        assert chain.energy(Usage(dt=1.0, cpu_util=1.0)) == pytest.approx(2 * AWS_SKYLAKE[1])
    assert model._pending is None  # settled: a tick costs one attribute read from now on
    (inputs, switched) = chain.notes
    assert inputs[0] == -math.inf  # what every later run's record says
    assert "2 vCPU x (0.645 + utilisation x 3.549) W; aws m5.large: Skylake" in inputs[1]
    assert inputs[1].endswith("; instance type m5.large from cloud metadata (aws)")
    assert switched[0] > t0 and f"coefficients switched; until then: 2 vCPU x ({before.min_w:.3f} " in switched[1]
    assert "m5.large from cloud metadata (aws)" in chain.active.describe()


def test_a_configured_instance_type_beats_the_metadata(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with serve(aws_routes()) as aws:
        point(monkeypatch, "aws", aws)
        config = resolve(
            {
                "cloud_metadata": "on",
                "instance_type": "m5.large",
                "cloud_provider": "gcp",
                "cloud_region": "europe-west4",
            }
        )
        chain = build_chains(config, VM._replace(cpu_brand="AMD EPYC 7R32"), powercap_root=tmp_path)[Component.CPU]
        chain.start()
        chain.energy(Usage(dt=1.0, cpu_util=0.5))
    assert aws.seen == []
    ((when, note),) = chain.notes
    assert when == -math.inf and note.endswith("instance type m5.large from configuration (instance_type)")


def test_a_run_records_the_instance_type_from_metadata(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, store_path: str
) -> None:
    on_a_vm(monkeypatch, tmp_path)
    with serve(aws_routes()) as aws:
        point(monkeypatch, "aws", aws)
        settings = {"store": store_path, "country": "FR", "cloud_metadata": "on", "interval": 0.05}
        with tracker.track(**settings) as first:
            instance.start(resolve({"cloud_metadata": "on"})).result()
            time.sleep(0.1)  # a tick or two after the answer
        with tracker.track(**settings) as second:
            time.sleep(0.1)
    assert first.cpu_method == second.cpu_method == "vcpu-model"
    for run in (first, second):
        [inputs] = [n for n in run.notes if n.startswith("cpu: vcpu-model: 2 vCPU")]
        assert "aws m5.large: Skylake" in inputs and "m5.large from cloud metadata (aws)" in inputs
    low, high = 2 * AWS_SKYLAKE[0], 2 * AWS_SKYLAKE[1]  # m5.large's band, to float rounding (idle: the floor)
    assert low * (1 - 1e-5) <= second.cpu_power_w <= high * (1 + 1e-5)  # the record keeps 7 digits
    assert any("coefficients switched" in n for n in first.notes)  # the run the switch happened in says so
    assert not any("coefficients switched" in n for n in second.notes)  # a later one only sees the instance's
    assert aws.count("/latest/meta-data/instance-type") == 1


def test_detect_and_doctor_show_the_instance_type(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    on_a_vm(monkeypatch, tmp_path)
    monkeypatch.setattr("tracker.measure.advice.PCI_ROOT", tmp_path / "no-pci")
    with serve(aws_routes()) as aws, serve(GCP_ROUTES) as gcp:
        point(monkeypatch, "aws", aws)
        point(monkeypatch, "gcp", gcp)
        named = ["--cloud-metadata", "on", "--cloud", "aws:eu-west-1"]
        assert main(["detect", *named, "--format", "json"]) == 0
        info = json.loads(capsys.readouterr().out)
        assert main(["detect", *named]) == 0
        text = capsys.readouterr().out
        assert gcp.seen == []  # only the provider you named is asked
        assert main(["doctor", "--country", "FR", "--live", "off", "--cloud-metadata", "on", "--format", "json"]) == 0
        report = json.loads(capsys.readouterr().out)
    assert info["instance_type"] == {"name": "m5.large", "provider": "aws", "source": "cloud metadata (aws)",
                                     "notes": []}  # fmt: skip
    assert "aws m5.large: Skylake" in info["sources"]["cpu"]
    assert "instance     m5.large (from cloud metadata (aws))" in text
    [cpu] = [f for f in report["findings"] if f["subject"] == "cpu"]
    assert cpu["method"] == "vcpu-model" and cpu["advice"] == []  # the instance type is known: nothing to set


def test_runs_that_may_ask_differently_do_not_share_a_meter() -> None:
    """The meter's CPU model depends on whether the metadata may be asked, and on the provider named."""
    assert resolve({"cloud_metadata": "off"}).measurement_key() != resolve({}).measurement_key()
    aws = {"cloud_provider": "aws", "cloud_region": "eu-west-1"}
    assert resolve(aws).measurement_key() != resolve({}).measurement_key()
