"""Integrations with other people's frameworks: thin adapters over the core (docs/web.md, docs/ml.md). Each module
imports its framework and is imported only by code that uses it: ``import tracker`` never loads one.

- :mod:`tracker.integrations.web`: ASGI (Starlette, FastAPI) and WSGI (Flask, Django) middleware, energy per request
  and per endpoint;
- :mod:`tracker.integrations.transformers`: a Hugging Face ``TrainerCallback``;
- :mod:`tracker.integrations.lightning`: a PyTorch Lightning ``Callback``;
- :mod:`tracker.integrations.keras`: a Keras 3 ``Callback`` (any backend);
- :mod:`tracker.integrations.mlflow` and :mod:`tracker.integrations.wandb`: steps logged as metrics, the record's
  provenance as tags / parameters;
- :mod:`tracker.integrations.optuna`: energy and CO2e per trial;
- ``%load_ext tracker``: the IPython magics (:mod:`tracker.integrations.notebook`).
"""
