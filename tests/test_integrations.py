"""The framework adapters (tracker.integrations, docs/ml.md), each driven by the real framework for 2-3 epochs on
a tiny CPU model built from code, with no network: the record, its steps and what the framework logged agree.

Agreement: the steps' energies add up to the run's energy within one tick's energy (the time after the last
epoch's boundary: the train-end hooks), and the figures logged per epoch are the stored steps' figures.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from ml_support import need

import tracker

pytestmark = pytest.mark.slow

INTERVAL = 0.05  # a fast sampler: a tick's energy is small next to an epoch's


def one_tick_kwh(record: Any) -> float:
    """One tick's energy: the run's average power over one sampling interval."""
    return record.energy_kwh / record.duration_s * INTERVAL


def check_record_and_steps(record: Any, epochs: int, store: str) -> Any:
    """The stored run has ``epochs`` steps named epoch, in order, that add up to its energy within a tick."""
    assert record.status == "completed"
    assert [s.name for s in record.steps] == ["epoch"] * epochs
    total = sum(s.energy_kwh for s in record.steps)
    assert 0 < total <= record.energy_kwh
    tail = record.energy_kwh - total
    assert tail <= one_tick_kwh(record), (tail, record.energy_kwh)
    df = tracker.load_steps(record.run_id, store=store)
    assert df["energy_kwh"].tolist() == pytest.approx([s.energy_kwh for s in record.steps], rel=1e-12)
    return df


# -- Hugging Face transformers ---------------------------------------------------------------------------------------


def _tiny_bert() -> tuple[Any, Any]:
    torch = need("torch")
    transformers = need("transformers")
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=16, num_labels=2)  # fmt: skip
    model = transformers.BertForSequenceClassification(config)

    class Data(torch.utils.data.Dataset):
        def __init__(self) -> None:
            g = torch.Generator().manual_seed(1)
            self.x = torch.randint(1, 40, (64, 8), generator=g)
            self.y = (self.x[:, 0] > 20).long()

        def __len__(self) -> int:
            return len(self.x)

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {"input_ids": self.x[i], "attention_mask": torch.ones(8, dtype=torch.long), "labels": self.y[i]}

    return model, Data()


def test_transformers_trainer_callback(tmp_path: Path) -> None:
    transformers = need("transformers")
    from tracker.integrations.transformers import TrackerCallback

    model, data = _tiny_bert()
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), num_train_epochs=3, per_device_train_batch_size=16, logging_strategy="epoch",
        save_strategy="no", report_to=[], disable_tqdm=True, use_cpu=True, learning_rate=1e-3,
    )  # fmt: skip
    seen: list[dict[str, float]] = []

    class Reporter(transformers.TrainerCallback):  # stands where report_to's callbacks stand: after ours
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            seen.append(dict(logs))

    store = str(tmp_path / "runs.db")
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data, callbacks=[Reporter()])
    callback = TrackerCallback.attach(trainer, project="hf", store=store, interval=INTERVAL)
    trainer.train()
    record = callback.record
    df = check_record_and_steps(record, 3, store)
    assert df["samples"].tolist() == [64.0] * 3  # the epoch's samples: energy per sample
    assert df["energy_kwh_per_sample"].tolist() == pytest.approx((df["energy_kwh"] / 64).tolist())
    epoch_logs = [log for log in seen if "step_energy_kwh" in log]
    assert [log["step_energy_kwh"] for log in epoch_logs] == pytest.approx(df["energy_kwh"].tolist(), rel=1e-12)
    assert epoch_logs[-1]["energy_kwh"] == pytest.approx(df["energy_kwh"].sum(), rel=1e-12)
    assert all("loss" in log and "emissions_kg" in log for log in epoch_logs)
    assert "loss" in df.columns and df["loss"].notna().all()  # the Trainer's loss kept with each step


def test_transformers_step_logs_are_not_taken_for_the_epochs_log(tmp_path: Path) -> None:
    """ML review finding 8: with ``logging_strategy="steps"`` the first log after an epoch's end (steps later, in
    the next epoch) got that epoch's figures and left its loss with that epoch's step."""
    transformers = need("transformers")
    from tracker.integrations.transformers import TrackerCallback

    model, data = _tiny_bert()
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), num_train_epochs=2, per_device_train_batch_size=16, save_strategy="no",
        logging_strategy="steps", logging_steps=3, report_to=[], disable_tqdm=True, use_cpu=True,
    )  # fmt: skip
    seen: list[tuple[int, dict[str, float]]] = []

    class Reporter(transformers.TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            seen.append((state.global_step, dict(logs)))

    trainer = transformers.Trainer(model=model, args=args, train_dataset=data, callbacks=[Reporter()])
    callback = TrackerCallback.attach(trainer, save=False, interval=INTERVAL)
    trainer.train()
    record = callback.record
    assert len(record.steps) == 2 and all("loss" not in s.metrics for s in record.steps)
    step_logs = [logs for at, logs in seen if "loss" in logs]
    assert [at for at, logs in seen if "loss" in logs] == [3, 6]  # 4 batches an epoch: never at an epoch's end
    assert all("energy_kwh" in logs and "step_energy_kwh" not in logs for logs in step_logs)
    assert "train_runtime" not in record.steps[-1].metrics


def test_transformers_only_the_main_process_measures(tmp_path: Path) -> None:
    transformers = need("transformers")
    from tracker.integrations.transformers import TrackerCallback

    callback = TrackerCallback(project="hf", store=str(tmp_path / "runs.db"))
    state = transformers.TrainerState()
    state.is_world_process_zero = False  # another rank of the job
    args = transformers.TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    control = transformers.TrainerControl()
    callback.on_train_begin(args, state, control)
    callback.on_epoch_end(args, state, control)
    callback.on_train_end(args, state, control)
    assert callback.run is None and callback.record is None
    assert tracker.load_runs(store=str(tmp_path / "runs.db")).empty


def test_transformers_budget_stops_training_cleanly(tmp_path: Path) -> None:
    transformers = need("transformers")
    from tracker.integrations.transformers import TrackerCallback

    model, data = _tiny_bert()
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), num_train_epochs=5, per_device_train_batch_size=16, logging_strategy="epoch",
        save_strategy="no", report_to=[], disable_tqdm=True, use_cpu=True,
    )  # fmt: skip
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data)
    callback = TrackerCallback.attach(trainer, save=False, interval=INTERVAL, budget_kwh=1e-12, on_budget="stop")
    trainer.train()  # no exception: the Trainer stopped after the first epoch
    assert trainer.state.epoch == pytest.approx(1.0)
    assert len(callback.record.steps) == 1
    assert any("stopped" in n for n in callback.record.notes)


# -- PyTorch Lightning ---------------------------------------------------------------------------------------------


def _lightning_module(fail_at: int | None = None) -> Any:
    torch = need("torch")
    L = need("lightning")

    class Tiny(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch: Any, i: int) -> Any:
            if fail_at is not None and self.current_epoch == fail_at:
                raise RuntimeError("diverged")
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train_loss", loss, on_epoch=True, on_step=False)
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4, generator=g)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)), batch_size=32)
    return Tiny(), loader


def test_lightning_callback_logs_per_epoch_through_the_logger(tmp_path: Path) -> None:
    L = need("lightning")
    from lightning.pytorch.loggers import CSVLogger

    from tracker.integrations.lightning import TrackerCallback

    model, loader = _lightning_module()
    store = str(tmp_path / "runs.db")
    callback = TrackerCallback(project="pl", store=store, interval=INTERVAL)
    logger = CSVLogger(str(tmp_path / "logs"), name="tiny")
    trainer = L.Trainer(max_epochs=3, callbacks=[callback], logger=logger, accelerator="cpu", devices=1,
                        enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(model, loader)
    record = callback.record
    df = check_record_and_steps(record, 3, store)
    import pandas as pd

    logged = pd.read_csv(Path(logger.log_dir) / "metrics.csv")
    rows = logged.dropna(subset=["step_energy_kwh"])
    assert rows["step_energy_kwh"].tolist() == pytest.approx(df["energy_kwh"].tolist(), rel=1e-9)
    assert rows["emissions_kg"].iloc[-1] == pytest.approx(df["emissions_kg"].sum(), rel=1e-9)
    assert (rows["power_w"] > 0).all()
    assert "train_loss" in df.columns and df["train_loss"].notna().all()


def test_lightning_prediction_counts_the_epochs_max_steps_allows(tmp_path: Path) -> None:
    """ML review finding 7: ``max_steps`` ending the fit before ``max_epochs`` (8 batches an epoch, 2 accumulated:
    4 optimizer steps an epoch, 12 steps: 3 epochs of 10). The prediction was made for 10 epochs."""
    L = need("lightning")
    from tracker.integrations.lightning import TrackerCallback

    model, loader = _lightning_module()
    callback = TrackerCallback(save=False, interval=INTERVAL)
    trainer = L.Trainer(max_epochs=10, max_steps=12, accumulate_grad_batches=2, callbacks=[callback], logger=False,
                        accelerator="cpu", devices=1, enable_progress_bar=False, enable_checkpointing=False,
                        enable_model_summary=False)  # fmt: skip
    trainer.fit(model, loader)
    record = callback.record
    assert len(record.steps) == 3
    assert any(n.startswith("predicted after 1/3 steps") for n in record.notes), record.notes


def test_lightning_on_exception_writes_a_failed_record(tmp_path: Path) -> None:
    L = need("lightning")
    from tracker.integrations.lightning import TrackerCallback

    model, loader = _lightning_module(fail_at=1)
    store = str(tmp_path / "runs.db")
    callback = TrackerCallback(project="pl", store=store, interval=INTERVAL)
    trainer = L.Trainer(max_epochs=3, callbacks=[callback], logger=False, accelerator="cpu", devices=1,
                        enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False)  # fmt: skip
    with pytest.raises(RuntimeError, match="diverged"):
        trainer.fit(model, loader)
    stored = tracker.load_runs(store=store)
    assert stored["status"].tolist() == ["failed"]
    assert "diverged" in stored["error"][0]
    assert len(tracker.load_steps(stored["run_id"][0], store=store)) == 1  # the epoch that finished


# -- Keras 3 (torch backend) ---------------------------------------------------------------------------------------


def test_keras_callback_adds_energy_to_the_history(tmp_path: Path) -> None:
    keras = need("keras")
    need("torch")
    assert keras.backend.backend() == "torch"
    import numpy as np

    from tracker.integrations.keras import TrackerCallback

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(256, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    store = str(tmp_path / "runs.db")
    callback = TrackerCallback(project="keras", store=store, interval=INTERVAL, samples=256)
    history = model.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[callback])
    df = check_record_and_steps(callback.record, 3, store)
    assert history.history["step_energy_kwh"] == pytest.approx(df["energy_kwh"].tolist(), rel=1e-12)
    assert history.history["energy_kwh"][-1] == pytest.approx(df["energy_kwh"].sum(), rel=1e-12)
    assert df["loss"].tolist() == pytest.approx(history.history["loss"])
    assert df["energy_kwh_per_sample"].tolist() == pytest.approx((df["energy_kwh"] / 256).tolist())


# -- MLflow (a local file store, no server) --------------------------------------------------------------------------


def _train_loop(run: Any, epochs: int = 3) -> None:
    """A plain training loop of a tiny torch model: a step per epoch."""
    torch = need("torch")
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(512, 4)
    y = x.sum(1, keepdim=True)
    for _ in range(epochs):
        for i in range(0, 512, 32):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x[i : i + 32]), y[i : i + 32])
            loss.backward()
            opt.step()
        run.step("epoch", loss=loss, samples=512)


def test_mlflow_gets_step_metrics_and_provenance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mlflow = need("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps the file store behind this opt-in
    from tracker.integrations import mlflow as tracker_mlflow

    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    store = str(tmp_path / "runs.db")
    with mlflow.start_run() as active, tracker_mlflow.track(project="mlf", store=store, interval=INTERVAL,
                                                            country="FR") as run:  # fmt: skip
        _train_loop(run)
    record = run.record
    df = check_record_and_steps(record, 3, store)
    client = mlflow.tracking.MlflowClient()
    history = client.get_metric_history(active.info.run_id, "step_energy_kwh")
    assert [m.step for m in history] == [0, 1, 2]
    assert [m.value for m in history] == pytest.approx(df["energy_kwh"].tolist(), rel=1e-12)
    cumulative = client.get_metric_history(active.info.run_id, "energy_kwh")
    assert cumulative[-1].value == pytest.approx(df["energy_kwh"].sum(), rel=1e-12)
    data = client.get_run(active.info.run_id).data
    assert data.tags["tracker.run_id"] == record.run_id
    assert data.tags["tracker.country"] == "FR" and data.tags["tracker.cpu_method"] == record.cpu_method
    assert float(data.tags["tracker.intensity_g_per_kwh"]) == pytest.approx(record.intensity_g_per_kwh)
    assert data.metrics["run_energy_kwh"] == pytest.approx(record.energy_kwh, rel=1e-12)


def test_mlflow_leaves_no_run_behind_and_logs_to_the_run_it_began_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ML review finding 5: a bad setting left the MLflow run track() had started active; log_steps() with no
    active MLflow run started an orphan one; a second tracked block in one MLflow run could not log its record
    ("Changing param values is not allowed"); steps went to whichever run was active at each step."""
    mlflow = need("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    from tracker.integrations import mlflow as tracker_mlflow

    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    with pytest.raises(tracker.ConfigError), tracker_mlflow.track(save=False, interval="abc"):
        pass
    assert mlflow.active_run() is None
    with tracker.track(save=False, interval=INTERVAL) as run:
        with pytest.raises(tracker.TrackerError, match="start_run"):
            tracker_mlflow.log_steps(run)
        run.step("epoch")
    assert mlflow.active_run() is None
    assert len(mlflow.search_runs(search_all_experiments=True)) == 0

    client = mlflow.tracking.MlflowClient()
    with mlflow.start_run() as outer:
        with tracker_mlflow.track(save=False, interval=INTERVAL) as first:
            first.step("epoch")
        with tracker_mlflow.track(save=False, interval=2 * INTERVAL) as second, mlflow.start_run(nested=True) as nested:
            second.step("epoch")
    data = client.get_run(outer.info.run_id).data
    assert data.tags["tracker.run_id"] == second.record.run_id  # the second record was logged, the last one wins
    assert float(data.tags["tracker.interval_s"]) == pytest.approx(2 * INTERVAL)
    assert data.metrics["run_energy_kwh"] == pytest.approx(second.record.energy_kwh, rel=1e-12)
    assert len(client.get_metric_history(outer.info.run_id, "step_energy_kwh")) == 2
    assert client.get_metric_history(nested.info.run_id, "step_energy_kwh") == []


# -- Weights & Biases, offline ----------------------------------------------------------------------------------------


def test_wandb_offline_gets_step_metrics_and_provenance(tmp_path: Path) -> None:
    wandb = need("wandb")
    from tracker.integrations import wandb as tracker_wandb

    store = str(tmp_path / "runs.db")
    wb = wandb.init(project="tiny", dir=str(tmp_path), mode="offline")
    logged: list[dict[str, Any]] = []
    original = wb.log
    wb.log = lambda data, *a, **k: (logged.append(dict(data)), original(data, *a, **k))[1]  # what W&B was given
    try:
        with tracker_wandb.track(project="wb", store=store, interval=INTERVAL) as run:
            _train_loop(run)
        summary = dict(wb.summary)
        config = dict(wb.config)
    finally:
        wb.finish()
    record = run.record
    df = check_record_and_steps(record, 3, store)
    steps = [d for d in logged if "tracker/step" in d]
    assert [d["tracker/step"] for d in steps] == [0, 1, 2]
    assert [d["tracker/step_energy_kwh"] for d in steps] == pytest.approx(df["energy_kwh"].tolist(), rel=1e-12)
    assert summary["tracker/run_energy_kwh"] == pytest.approx(record.energy_kwh, rel=1e-12)
    assert config["tracker"]["tracker.run_id"] == record.run_id
    offline = list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert offline and offline[0].stat().st_size > 0  # the offline run file W&B syncs later


def test_wandb_step_metrics_never_move_the_users_wandb_step(tmp_path: Path) -> None:
    """ML review finding 4: each tracker step committed a W&B row, so the user's ``wandb.log(step=epoch)`` after it
    was behind W&B's step and dropped. Read back from the offline run file: every loss and every step's energy."""
    wandb = need("wandb")
    from ml_support import wandb_history

    from tracker.integrations import wandb as tracker_wandb

    wb = wandb.init(project="tiny", dir=str(tmp_path), mode="offline")
    try:
        with tracker_wandb.track(save=False, interval=INTERVAL) as run:
            for epoch in range(3):
                run.step("epoch")
                wandb.log({"loss": 10.0 - epoch}, step=epoch)
            run.step("eval")  # two tracker steps with no commit of the user's between them
            run.step("eval")
    finally:
        wb.finish()
    rows = wandb_history(str(next((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))))
    assert [float(r["loss"]) for r in rows if "loss" in r] == [10.0, 9.0, 8.0], rows  # all rows, if it fails
    assert [int(r["_step"]) for r in rows if "loss" in r] == [0, 1, 2]
    assert sorted(int(r["tracker/step"]) for r in rows if "tracker/step" in r) == [0, 1, 2, 3, 4]
    energies = {int(r["tracker/step"]): float(r["tracker/step_energy_kwh"]) for r in rows if "tracker/step" in r}
    assert [energies[i] for i in range(5)] == pytest.approx([s.energy_kwh for s in run.record.steps], rel=1e-12)


def test_a_framework_logging_fault_never_stops_training(tmp_path: Path) -> None:
    """A step listener that raises (a logging backend gone) is said once; every step is still recorded."""
    with tracker.track(save=False, interval=INTERVAL) as run:
        run.add_step_listener(lambda r, s: 1 / 0)
        for _ in range(3):
            run.step("epoch")
    assert len(run.steps) == 3 and math.isfinite(run.energy_kwh)


# -- notebooks: IPython's own InteractiveShell -----------------------------------------------------------------------


@pytest.fixture
def shell() -> Any:
    need("IPython")
    from IPython.core.interactiveshell import InteractiveShell

    sh = InteractiveShell.instance()
    yield sh
    InteractiveShell.clear_instance()


def test_cell_magic_tracks_a_cell_and_shows_a_summary(shell: Any, tmp_path: Path) -> None:
    store = str(tmp_path / "runs.db")
    assert shell.run_cell("%load_ext tracker").success
    result = shell.run_cell(f"%%track --project nb --country FR --store {store} --interval 0.05\n"
                            "import time\nx = sum(i * i for i in range(200000))\ntime.sleep(0.1)")  # fmt: skip
    assert result.success, result.error_in_exec
    summary = result.result
    assert shell.user_ns["x"] == sum(i * i for i in range(200000))  # the cell ran in the user's namespace
    record = summary.record
    stored = tracker.load_runs(store=store)
    assert stored["run_id"].tolist() == [record.run_id] and stored["project"][0] == "nb"
    assert record.duration_s >= 0.1 and record.country == "FR"
    assert repr(summary).startswith("tracker: completed, ") and record.run_id[:12] in repr(summary)
    html = summary._repr_html_()
    assert f'data-run-id="{record.run_id}"' in html and "<th>energy</th>" in html
    formatted = shell.display_formatter.format(summary)[0]  # what Jupyter receives
    assert "text/html" in formatted and formatted["text/plain"] == repr(summary)


def test_cell_magic_records_a_failing_cell_as_failed(shell: Any, tmp_path: Path) -> None:
    store = str(tmp_path / "runs.db")
    shell.run_cell("%load_ext tracker")
    result = shell.run_cell(f"%%track --project nb --store {store}\nx = 1\nraise ValueError('bad cell')")
    stored = tracker.load_runs(store=store)
    assert stored["status"].tolist() == ["failed"] and "bad cell" in stored["error"][0]
    assert shell.user_ns["_tracker_run"].record.status == "failed" and shell.user_ns["x"] == 1
    # ML review finding 2: the cell's error is the cell's result, as for any failing cell ("Run All", nbconvert
    # and papermill stop there); before, a nested run_cell swallowed it and the cell reported success
    assert not result.success and isinstance(result.error_in_exec, ValueError)


def test_cell_magic_shows_the_cells_last_value_and_returns_the_summary(shell: Any, tmp_path: Path) -> None:
    store = str(tmp_path / "runs.db")
    shell.run_cell("%load_ext tracker")
    shown: list[Any] = []
    shell.display_pub.publish = lambda data, **kw: shown.append(data)  # what a front end would be sent
    result = shell.run_cell(f"%%track --project nb --store {store}\ny = 6 * 7\ny + 1")
    assert result.success and result.result.record.status == "completed"
    assert shell.user_ns["y"] == 42 and any(d.get("text/plain") == "43" for d in shown)


def test_start_and_stop_magics_span_several_cells(shell: Any, tmp_path: Path) -> None:
    store = str(tmp_path / "runs.db")
    shell.run_cell("%load_ext tracker")
    shell.run_cell(f"%tracker_start --project multi --store {store} --interval 0.05")
    shell.run_cell("import time; time.sleep(0.1)")
    shell.run_cell("run = _tracker_run; live = run.energy_kwh")  # a live reading inside the notebook's run
    shell.run_cell("time.sleep(0.1)")
    result = shell.run_cell("%tracker_stop")
    record = result.result.record
    assert record.duration_s >= 0.2 and 0 < shell.user_ns["live"] <= record.energy_kwh
    assert tracker.load_runs(store=store)["project"].tolist() == ["multi"]
    bad = shell.run_cell("%%track --project\nx = 1")  # a flag with no value: a ConfigError, the cell not run
    assert isinstance(bad.error_in_exec, tracker.ConfigError)


# -- Optuna ---------------------------------------------------------------------------------------------------------


def test_optuna_trials_carry_energy_and_co2_and_use_them_as_an_objective(tmp_path: Path) -> None:
    optuna = need("optuna")
    from tracker.integrations.optuna import TrackedObjective, pareto

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = str(tmp_path / "runs.db")

    def objective(trial: Any) -> float:
        n = trial.suggest_int("n", 1, 40)
        total = 0
        for i in range(n * 20000):  # more work, better "accuracy": a trade-off against CO2e
            total += i
        return 1 - 1 / n

    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(TrackedObjective(objective, also=("emissions_kg",), store=store, interval=0.05), n_trials=6)
    runs = tracker.load_runs(store=store).set_index("run_id")
    assert len(runs) == 6
    for trial in study.trials:
        attrs = trial.user_attrs
        row = runs.loc[attrs["tracker_run_id"]]
        assert attrs["emissions_kg"] == pytest.approx(row["emissions_kg"], rel=1e-12)
        assert attrs["energy_kwh"] == pytest.approx(row["energy_kwh"], rel=1e-12)
        assert trial.values[1] == attrs["emissions_kg"]  # CO2e as the second objective
        assert row["tags"] and str(trial.number) in row["tags"]
    front = pareto(study)
    assert front and all({"value", "emissions_kg", "energy_kwh"} <= set(r) for r in front)
    with pytest.raises(tracker.ConfigError):
        TrackedObjective(objective, also=("project",))


def test_optuna_concurrent_trials_add_up_to_the_machine(tmp_path: Path) -> None:
    """ML review finding 8: with ``n_jobs=2`` and ``overlap="whole"`` each of two concurrent trials got the whole
    machine's energy (their sum about twice the machine's). A constant 100 W: the trials' sum is at most the
    machine's energy over the study (plus a tick per trial)."""
    optuna = need("optuna")
    import time

    from tracker.integrations.optuna import TrackedObjective

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: Any) -> float:
        end = time.perf_counter() + 0.4
        total = 0
        while time.perf_counter() < end:
            total += 1
        return float(trial.number)

    settings = {"save": False, "interval": 0.05, "cpu_watts": 100.0, "ram_watts": 0.0, "gpu_watts": 0.0}
    study = optuna.create_study()
    began = time.perf_counter()
    study.optimize(TrackedObjective(objective, **settings), n_trials=4, n_jobs=2)
    wall = time.perf_counter() - began
    trials = sum(t.user_attrs["energy_kwh"] for t in study.trials) * 3.6e6
    assert trials <= 100.0 * (wall + 4 * 0.05), (trials, 100.0 * wall)
    assert trials >= 100.0 * 0.4 * 2 * 0.8  # the two waves of trials: at least most of their time


def test_transformers_report_to_mlflow_sees_the_energy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Trainer's own MLflow reporting (report_to=["mlflow"]) logs our figures: attach() puts us before it."""
    transformers = need("transformers")
    mlflow = need("mlflow")
    from tracker.integrations.transformers import TrackerCallback

    monkeypatch.delenv("DISABLE_MLFLOW_INTEGRATION", raising=False)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "hf")
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())  # the Trainer keeps a URI set earlier in the process
    model, data = _tiny_bert()
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), num_train_epochs=2, per_device_train_batch_size=16, logging_strategy="epoch",
        save_strategy="no", report_to=["mlflow"], disable_tqdm=True, use_cpu=True,
    )  # fmt: skip
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data)
    callback = TrackerCallback.attach(trainer, save=False, interval=INTERVAL)
    trainer.train()
    (run,) = mlflow.search_runs(experiment_names=["hf"], output_format="list")
    history = mlflow.tracking.MlflowClient().get_metric_history(run.info.run_id, "step_energy_kwh")
    assert [m.value for m in history] == pytest.approx([s.energy_kwh for s in callback.record.steps], rel=1e-12)


# -- a training that raises (ML review finding 1) -------------------------------------------------------------------


def _stored_status(store: str) -> list[tuple[str, int]]:
    frame = tracker.load_runs(store)
    return sorted(zip(frame["status"], frame["run_id"].map(lambda r: len(tracker.load_steps(r, store=store))),
                      strict=True))  # fmt: skip


def test_transformers_train_that_raises_writes_a_failed_record_and_the_next_train_a_new_run(tmp_path: Path) -> None:
    """The Trainer has no exception hook. Attached, a train() that raises ends the run as failed at once (not
    current, not sampled any more); a callback passed in ``callbacks=`` ends the stale run as failed when the next
    train() begins, which gets its own run (its steps not merged with the failed one's)."""
    transformers = need("transformers")
    from tracker.integrations.transformers import TrackerCallback

    class Boom(transformers.TrainerCallback):
        armed = True

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.armed and state.global_step == 5:  # in the second epoch (4 batches an epoch)
                raise RuntimeError("boom")

    def trainer(callbacks: list[Any], epochs: int) -> Any:
        model, data = _tiny_bert()
        args = transformers.TrainingArguments(
            output_dir=str(tmp_path / "out"), num_train_epochs=epochs, per_device_train_batch_size=16,
            save_strategy="no", report_to=[], disable_tqdm=True, use_cpu=True, logging_strategy="epoch",
        )  # fmt: skip
        return transformers.Trainer(model=model, args=args, train_dataset=data, callbacks=callbacks)

    store = str(tmp_path / "runs.db")
    boom = Boom()
    attached = trainer([boom], 3)
    callback = TrackerCallback.attach(attached, project="hf", store=store, interval=INTERVAL)
    with pytest.raises(RuntimeError, match="boom"):
        attached.train()
    assert callback.record.status == "failed" and "boom" in callback.record.error
    assert callback.run is None and tracker.current_run() is None
    assert _stored_status(store) == [("failed", 1)]

    plain = TrackerCallback(project="hf", store=store, interval=INTERVAL)
    second = trainer([boom, plain], 3)
    with pytest.raises(RuntimeError, match="boom"):
        second.train()
    stale = plain.run
    assert stale is not None and stale.active  # no hook told it: open until the next train()
    boom.armed = False
    second.train()
    assert not stale.active and stale.record.status == "failed"
    assert plain.record.status == "completed" and len(plain.record.steps) == 3
    assert _stored_status(store) == [("completed", 3), ("failed", 1), ("failed", 1)]


def test_keras_fit_that_raises_writes_a_failed_record(tmp_path: Path) -> None:
    keras = need("keras")
    need("torch")
    import numpy as np

    from tracker.integrations.keras import TrackerCallback

    class Boom(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if epoch == 1:
                raise RuntimeError("boom")

    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    store = str(tmp_path / "runs.db")
    guarded = TrackerCallback(project="keras", store=store, interval=INTERVAL)
    with pytest.raises(RuntimeError, match="boom"), guarded.guard():
        model.fit(x, y, epochs=3, verbose=0, callbacks=[guarded, Boom()])
    assert guarded.record.status == "failed" and guarded.run is None and tracker.current_run() is None

    attached = TrackerCallback.attach(model, project="keras", store=store, interval=INTERVAL)
    with pytest.raises(RuntimeError, match="boom"):
        model.fit(x, y, epochs=3, verbose=0, callbacks=[Boom()])
    assert attached.record.status == "failed" and "boom" in attached.record.error
    history = model.fit(x, y, epochs=1, verbose=0)  # the callback is added by the wrapper; a new run
    assert attached.record.status == "completed" and len(attached.record.steps) == 1
    assert "step_energy_kwh" in history.history
    assert _stored_status(store) == [("completed", 1), ("failed", 2), ("failed", 2)]
