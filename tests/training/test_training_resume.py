"""Checkpoints: an interrupted run resumed from its checkpoint ends with exactly the weights of the uninterrupted run
(the same float operations in the same order: every random draw comes from the seed and the step, and the checkpoint
holds the weights, the optimizer's buffers, the schedule and the epoch's running sums exactly); an interrupt leaves the
last checkpoint whole; the weights file is the canonical one the other commands read."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alexnet_spec.interop.weights_io import read_weights, safetensors_metadata
from alexnet_spec.training import Augmentation, TrainConfig, train

pytest.importorskip("torch")

PER_EPOCH = 10  # 320 training images of the 400 below, 32 a step


def _config(backend, folder, **changes):
    # Augmentation on, so that resuming must redraw the same crops, flips and colour shifts.
    return TrainConfig(backend=backend, epochs=2, lr=0.05, batch=32, seed=3, threads=1, checkpoint=folder,
                       augmentation=Augmentation(crop=0, flip=True, pca_jitter=0.1), **changes)


@pytest.fixture(scope="module")
def small(lenet_digits):
    net, data = lenet_digits
    return net, data.subset(np.arange(400))


class Interrupt(KeyboardInterrupt):
    pass


def _stop_at(step):
    def on_step(progress):
        if progress.step == step:
            raise Interrupt

    return on_step


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_interrupted_and_resumed_run_ends_with_the_uninterrupted_weights(backend, small, tmp_path):
    if backend == "jax":
        pytest.importorskip("optax")
    net, data = small
    whole = train(net, data, _config(backend, tmp_path / "whole"))
    with pytest.raises(Interrupt):
        train(net, data, _config(backend, tmp_path / "cut"), on_step=_stop_at(PER_EPOCH + 5))
    state = json.loads(safetensors_metadata(tmp_path / "cut" / "weights.safetensors")["training"])
    assert state["step"] == PER_EPOCH  # the end of epoch 1: nothing of the interrupted epoch was written
    assert sorted(path.name for path in (tmp_path / "cut").iterdir()) == [
        f"optimizer-{PER_EPOCH:09d}.safetensors", "weights.safetensors"]
    resumed = train(net, data, _config(backend, tmp_path / "cut", resume=True))
    for name, value in whole.weights.items():
        assert np.array_equal(resumed.weights[name], value), name
    assert [entry["held_out_loss"] for entry in resumed.history] == [entry["held_out_loss"] for entry in whole.history]
    canonical = read_weights(tmp_path / "cut" / "weights.safetensors", net)
    assert all(np.array_equal(canonical[name], value) for name, value in whole.weights.items())


def test_a_run_stopped_mid_epoch_by_steps_resumes_where_it_stopped(small, tmp_path):
    net, data = small
    whole = train(net, data, _config("torch", tmp_path / "whole"))
    train(net, data, _config("torch", tmp_path / "cut", steps=7))
    resumed = train(net, data, _config("torch", tmp_path / "cut", resume=True))
    assert resumed.steps == 2 * PER_EPOCH
    for name, value in whole.weights.items():
        assert np.array_equal(resumed.weights[name], value), name
    assert resumed.history[0]["train_loss"] == whole.history[0]["train_loss"]  # running sums carried over


def test_a_checkpoint_written_by_torch_resumes_on_jax(small, tmp_path):
    pytest.importorskip("optax")
    net, data = small
    whole = train(net, data, _config("torch", tmp_path / "whole"))
    train(net, data, _config("torch", tmp_path / "cut", steps=7))
    resumed = train(net, data, _config("jax", tmp_path / "cut", resume=True))
    for name, value in whole.weights.items():  # float32 on both: equal to rounding, not bit for bit
        np.testing.assert_allclose(resumed.weights[name], value, rtol=1e-4, atol=1e-5, err_msg=name)
