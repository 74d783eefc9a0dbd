"""`alexspec train` as users run it: a run on a folder of images with --json and --plot, and bad arguments as
located errors with exit status 2 that leave no checkpoint behind."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from alexnet_spec.cli import app
from tests.conftest import ROOT

pytest.importorskip("torch")
pytest.importorskip("PIL")

TINY = ROOT / "specs" / "lenet5.yaml"


@pytest.fixture
def folder(tmp_path):
    """Two classes of 24×20 images, 8 each: dark and light."""
    from PIL import Image

    root = tmp_path / "images"
    for label, level in (("dark", 30), ("light", 220)):
        (root / label).mkdir(parents=True)
        for index in range(8):
            Image.new("L", (24, 20), level + 3 * index).save(root / label / f"{index}.png")
    return root


def _invoke(*args):
    result = CliRunner().invoke(app, ["train", *map(str, args)])
    return result.exit_code, result.output


def test_a_folder_run_writes_json_metrics_a_plot_and_a_checkpoint(folder, tmp_path):
    plot, checkpoint = tmp_path / "curves.svg", tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(TINY), "--data", str(folder), "--set", "output.out_features=2",
                                      "--epochs", "2", "--batch", "4", "--holdout", "0.25", "--flip", "--crop", "2",
                                      "--json", "--plot", str(plot), "--checkpoint", str(checkpoint)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [entry["epoch"] for entry in report["epochs"]] == [1, 2] and report["steps"] == 6
    assert {"train_loss", "held_out_top1", "held_out_top5", "lr", "images_per_second"} <= set(report["epochs"][0])
    assert plot.read_text().startswith("<svg") and (checkpoint / "weights.safetensors").is_file()


@pytest.mark.parametrize("case", ["missing folder", "empty class", "classes", "unwritable checkpoint",
                                  "resume without checkpoint", "optimizer", "batch", "jax device"])
def test_bad_arguments_are_located_errors_and_write_no_checkpoint(case, folder, tmp_path):
    checkpoint = tmp_path / "ckpt"
    args = [TINY, "--data", folder, "--set", "output.out_features=2", "--checkpoint", checkpoint, "--epochs", "1"]
    if case == "missing folder":
        args[2], expected = tmp_path / "nowhere", f"{tmp_path / 'nowhere'}: error: no such data folder"
    elif case == "empty class":
        (folder / "empty").mkdir()
        expected = f"{folder / 'empty'}: error: class folder holds no images"
    elif case == "classes":
        args[4] = "output.activation=tanh"  # keeps LeNet-5's 10 outputs, for a data set of 2 classes
        expected = f"{TINY}:24:47: error: layer output: the network outputs 10 values per image but"
    elif case == "unwritable checkpoint":
        (tmp_path / "file").write_text("")
        checkpoint = args[6] = tmp_path / "file" / "ckpt"
        expected = f"{checkpoint}: error: cannot write checkpoints here: Not a directory"
    elif case == "resume without checkpoint":
        args += ["--resume"]
        expected = f"{checkpoint / 'weights.safetensors'}: error: no checkpoint to resume from"
    elif case == "optimizer":
        args += ["--optimizer", "lbfgs"]
        expected = "--optimizer: error: unknown optimizer 'lbfgs'"
    elif case == "batch":
        args += ["--batch", "0"]
        expected = "--batch: error: --batch 0 is not positive"
    else:
        pytest.importorskip("optax")
        args += ["--backend", "jax", "--device", "tpu"]
        expected = "--device: error: no jax devices on platform 'tpu'"
    code, output = _invoke(*args)
    assert code == 2, output
    assert output.splitlines()[0].startswith(expected), output
    assert "Traceback" not in output
    assert not checkpoint.exists() or not any(checkpoint.iterdir())


@pytest.mark.slow
def test_torchrun_data_parallel_checkpoint_equals_the_single_process_one(tmp_path, lenet_digits):
    """Two processes with DistributedDataParallel (gloo), each on half of every batch: the checkpoint holds the
    weights one process training on whole batches ends with, to float32 rounding."""
    import os
    import subprocess
    import sys

    import numpy as np
    from safetensors.numpy import load_file

    from alexnet_spec.training import TrainConfig, train

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             "-m", "alexnet_spec", "train", str(TINY), "--steps", "4", "--batch", "8", "--lr", "0.05",
                             "--json", "--checkpoint", str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count('"steps": 4') == 1  # one report, from rank 0
    net, data = lenet_digits
    single = train(net, data, TrainConfig(steps=4, batch=8, lr=0.05, threads=1)).weights
    ddp = load_file(tmp_path / "weights.safetensors")
    for key, value in single.items():
        np.testing.assert_allclose(ddp[key], value, rtol=1e-5, atol=1e-6, err_msg=key)


def test_the_progress_bar_shows_step_loss_accuracy_and_speed():
    from rich.console import Console

    from alexnet_spec.training import Progress
    from alexnet_spec.training.commands import _progress

    bar = _progress(enabled=True)
    bar.bar.disable = False  # drawn on terminals only; this test has none
    bar.update(Progress(step=5, total_steps=12, epoch=1, epochs=3, loss=0.5, accuracy=0.75, images_per_second=1234))
    console = Console(record=True, width=160)
    console.print(bar.bar.make_tasks_table(bar.bar.tasks))
    bar.__exit__(None, None, None)
    text = console.export_text()
    assert "epoch 1/3" in text and "5/12" in text and "loss 0.5000" in text and "75.00%" in text
    assert "1,234 img/s" in text
