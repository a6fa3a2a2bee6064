"""Hugging Face Trainer with the tracker callback, on a tiny BERT built from a config (no download).

    HF_HUB_OFFLINE=1 python examples/ml_transformers.py
"""

from __future__ import annotations

import torch
import transformers

from tracker.integrations.transformers import TrackerCallback


class Data(torch.utils.data.Dataset):
    def __init__(self) -> None:
        self.x = torch.randint(1, 100, (256, 16), generator=torch.Generator().manual_seed(0))
        self.y = (self.x[:, 0] > 50).long()

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.x[i], "attention_mask": torch.ones(16, dtype=torch.long), "labels": self.y[i]}


def main() -> None:
    config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=32)  # fmt: skip
    model = transformers.BertForSequenceClassification(config)
    args = transformers.TrainingArguments(output_dir="/tmp/tracker-hf-example", num_train_epochs=3,
                                          per_device_train_batch_size=32, logging_strategy="epoch", save_strategy="no",
                                          report_to=[], use_cpu=True)  # fmt: skip
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Data())
    callback = TrackerCallback.attach(trainer, project="examples", experiment="hf", country="FR")
    trainer.train()  # each epoch's log now carries energy_kwh, emissions_kg, step_energy_kwh, power_w
    record = callback.record
    print(f"{record.energy_kwh * 1000:.3f} Wh, {record.emissions_kg * 1000:.3f} g CO2e in {len(record.steps)} epochs")


if __name__ == "__main__":
    main()
