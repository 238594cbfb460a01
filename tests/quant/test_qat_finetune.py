"""QAT fine-tuning: a run killed mid-epoch resumes from its last checkpoint and ends exactly where
an uninterrupted run with the same seed ends; a checkpoint of another run, or a corrupt one, is
refused by name; fine-tuning lowers the loss."""

from __future__ import annotations

import pytest
import torch

from snapdeploy.core.errors import SnapdeployError
from snapdeploy.data import digits
from snapdeploy.nn.demo_net import DemoNet, demo_model
from snapdeploy.quant.brevitas_twin import QuantSpec, make_twin
from snapdeploy.quant.finetune import FinetuneConfig, finetune

CONFIG = FinetuneConfig(epochs=3, lr=3e-3, sparsity_weight=1e-2, batch_size=32, seed=5)
SPEC = QuantSpec(bits=4, dense_bits=6)


@pytest.fixture(scope="module")
def data():
    return digits(limit=160)


def fresh_twin():
    model = demo_model(DemoNet(steps=3, hidden=16, spiking=8), seed=1)
    return make_twin(model, SPEC)


class Interrupted(Exception):
    pass


def test_interrupted_fine_tune_resumes_to_the_uninterrupted_result(
    data, tmp_path, monkeypatch
) -> None:
    whole = fresh_twin()
    whole_history = finetune(
        whole, data.x_train, data.y_train, CONFIG, tmp_path / "whole.ckpt", progress=False
    )

    real_step = torch.optim.Adam.step
    batches_per_epoch = -(-len(data.x_train) // CONFIG.batch_size)
    calls = {"n": 0}

    def dies_in_the_third_epoch(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2 * batches_per_epoch + 2:
            raise Interrupted
        return real_step(self, *args, **kwargs)

    checkpoint = tmp_path / "run.ckpt"
    monkeypatch.setattr(torch.optim.Adam, "step", dies_in_the_third_epoch)
    with pytest.raises(Interrupted):
        finetune(fresh_twin(), data.x_train, data.y_train, CONFIG, checkpoint, progress=False)
    monkeypatch.setattr(torch.optim.Adam, "step", real_step)
    assert len(torch.load(checkpoint, weights_only=True)["history"]) == 2

    resumed = fresh_twin()
    history = finetune(resumed, data.x_train, data.y_train, CONFIG, checkpoint, progress=False)
    assert history == whole_history
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_fine_tuning_lowers_the_loss(data) -> None:
    history = finetune(fresh_twin(), data.x_train, data.y_train, CONFIG, progress=False)
    assert history[-1] < history[0]


def test_checkpoint_of_another_run_is_refused(data, tmp_path) -> None:
    checkpoint = tmp_path / "run.ckpt"
    one_epoch = FinetuneConfig(**{**CONFIG.__dict__, "epochs": 1})
    finetune(fresh_twin(), data.x_train, data.y_train, one_epoch, checkpoint, progress=False)
    other = FinetuneConfig(**{**CONFIG.__dict__, "lr": 1e-2})
    with pytest.raises(
        SnapdeployError, match=r"run\.ckpt is the checkpoint of a different fine-tune.*fix:"
    ):
        finetune(fresh_twin(), data.x_train, data.y_train, other, checkpoint, progress=False)


def test_corrupt_checkpoint_is_refused_by_name(data, tmp_path) -> None:
    checkpoint = tmp_path / "run.ckpt"
    checkpoint.write_bytes(b"not a checkpoint")
    with pytest.raises(
        SnapdeployError,
        match=r"run\.ckpt: not a readable fine-tune checkpoint \(\w+\); fix: delete it",
    ):
        finetune(fresh_twin(), data.x_train, data.y_train, CONFIG, checkpoint, progress=False)


def test_resuming_a_finished_run_changes_nothing(data, tmp_path) -> None:
    checkpoint = tmp_path / "run.ckpt"
    one_epoch = FinetuneConfig(**{**CONFIG.__dict__, "epochs": 1})
    first = fresh_twin()
    finetune(first, data.x_train, data.y_train, one_epoch, checkpoint, progress=False)
    written = checkpoint.read_bytes()
    again = fresh_twin()
    finetune(again, data.x_train, data.y_train, one_epoch, checkpoint, progress=False)
    assert checkpoint.read_bytes() == written
    for a, b in zip(first.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
