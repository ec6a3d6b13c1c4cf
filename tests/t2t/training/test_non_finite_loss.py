"""A non-finite loss (`t2t.training.loop.NonFiniteLoss`) names the checkpoint a stage restarts from
(fault probes on training).

Each test names its probe: the bad input, and the behaviour the suite must show for it.
"""

from __future__ import annotations

import json

import pytest
import torch

from t2t.training.loop import LoopSettings, NonFiniteLoss, train
from t2t.training.objective import Objective

# ---- NonFiniteLoss names the real checkpoint -----------------------------------------------------


class NaNAtStep(Objective):
    """A fake objective: a finite quadratic loss of a tiny model's weights, NaN from call `nan_from`."""

    def __init__(self, nan_from: int) -> None:
        super().__init__(options=None, context=None)
        self.nan_from = nan_from
        self.calls = 0

    def loss(self, model, items, indices):
        self.calls += 1
        loss = (model.weight**2).sum()
        return (loss * float("nan") if self.calls >= self.nan_from else loss), len(indices)


def _train_until_nan(tmp_path, nan_from: int, checkpoint_every: int) -> str:
    from accelerate import Accelerator

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1, bias=False)
    settings = LoopSettings(
        steps=6, batch_size=1, learning_rate=1e-2, checkpoint_every=checkpoint_every, progress=False
    )
    with pytest.raises(NonFiniteLoss) as error:
        train(
            model,
            NaNAtStep(nan_from),
            ["a", "b"],
            settings,
            checkpoint_dir=tmp_path / "checkpoint",
            accelerator=Accelerator(cpu=True, mixed_precision="no"),
        )
    return str(error.value)


def test_non_finite_loss_at_the_first_step_says_no_checkpoint_exists(tmp_path):
    """Probe: the loss is NaN at step 1 (no checkpoint written yet).
    Expected: the message says no checkpoint exists and the stage restarts from step 0."""
    message = _train_until_nan(tmp_path, nan_from=1, checkpoint_every=2)
    assert not (tmp_path / "checkpoint").exists()
    assert "step 1" in message and "No checkpoint exists yet" in message and "step 0" in message
    assert "is kept in" not in message


def test_non_finite_loss_names_the_checkpoint_on_disk(tmp_path):
    """Probe: NaN at step 4 with checkpoints every 2 steps (the last logged step is 3).
    Expected: the message names the checkpoint folder and its stored step, 2."""
    message = _train_until_nan(tmp_path, nan_from=4, checkpoint_every=2)
    folder = tmp_path / "checkpoint"
    assert json.loads((folder / "state.json").read_text())["step"] == 2
    assert "last good checkpoint (step 2)" in message and str(folder) in message
