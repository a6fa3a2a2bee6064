"""Keras 3 (torch backend) with the tracker callback: energy per epoch in the History.

    KERAS_BACKEND=torch python examples/ml_keras.py
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

from tracker.integrations.keras import TrackerCallback


def main() -> None:
    x = np.random.default_rng(0).normal(size=(2048, 8)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    callback = TrackerCallback(project="examples", experiment="keras", country="FR", samples=len(x))
    with callback.guard():  # Keras has no exception hook: a fit that raises still writes a failed record
        history = model.fit(x, y, epochs=3, batch_size=64, verbose=0, callbacks=[callback])
    for epoch, (loss, wh) in enumerate(zip(history.history["loss"], history.history["step_energy_kwh"], strict=True)):
        print(f"epoch {epoch}: loss {loss:.4f}, {wh * 1000:.4f} Wh")


if __name__ == "__main__":
    main()
