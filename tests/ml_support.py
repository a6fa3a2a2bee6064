"""The ML frameworks for the integration tests: required under CI (a missing one fails the run), else skipped.

``pip install -e '.[test,ml-test]'`` installs them (``.ci/run`` does). Nothing here reaches the network: models
are built from code or configs, data is made up, hubs are set offline before any framework is imported.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

import pytest

REQUIRED = bool(os.environ.get("CI"))

# before any framework import: no hub, no telemetry, no cloud logging
for key, value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "WANDB_MODE": "offline",
    "WANDB_SILENT": "true",
    "WANDB_DISABLED": "",
    "KERAS_BACKEND": "torch",
    "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING": "false",
    "DISABLE_MLFLOW_INTEGRATION": "TRUE",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    if value:
        os.environ.setdefault(key, value)


def need(name: str) -> ModuleType:
    """The framework module ``name``; under CI its absence fails the test, elsewhere it skips it."""
    if REQUIRED:
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            pytest.fail(f"{name} is required under CI (pip install -e '.[test,ml-test]'): {exc}", pytrace=False)
    return pytest.importorskip(name)


def wandb_history(path: str) -> list[dict[str, str]]:
    """The history rows of an offline W&B run file (``run-*.wandb``): W&B writes protobuf ``Record``s in the
    LevelDB log format (a 7-byte file header ``:W&B``, 32 KiB blocks, 7-byte chunk headers: CRC, length, type
    FULL=1 FIRST=2 MIDDLE=3 LAST=4); W&B 0.31 ships no Python reader for it. Values as their JSON text."""
    import struct

    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    pos, block, rows, buffer = 7, 32768, [], b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        buffer = chunk if kind in (1, 2) else buffer + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(buffer)
            buffer = b""
            if record.WhichOneof("record_type") == "history":
                rows.append({item.key or "/".join(item.nested_key): item.value_json for item in record.history.item})
    return rows
