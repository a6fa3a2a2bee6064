"""The ML frameworks for the integration tests: required under CI (a missing one fails the run), else skipped.

``pip install -e '.[test,ml-test]'`` installs them (``.ci/run`` does). Nothing here reaches the network: models
are built from code or configs, data is made up, hubs are set offline before any framework is imported.
"""

from __future__ import annotations

import importlib
import os
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
