"""What this test machine is, for tests that run real measurements on it."""

from __future__ import annotations

from tracker.measure import hardware

#: the CPU model a run uses here when no counter is readable: per vCPU on a virtual machine (CI's is one)
CPU_MODEL = "vcpu-model" if hardware.detect().virtualised else "tdp-model"
