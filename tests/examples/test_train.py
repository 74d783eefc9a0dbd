"""examples/train.py under torchrun: two processes, DistributedDataParallel on gloo, the same weights afterwards."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytest.importorskip("torch", reason="the training example needs the [torch] extra")


def test_two_process_data_parallel_training_keeps_ranks_in_sync():
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             "examples/train.py", "specs/lenet5.yaml", "--steps", "2", "--batch", "4",
                             "--threads", "1"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    finals = dict(re.findall(r"rank (\d): final loss (\S+) weights", result.stdout))
    digests = dict(re.findall(r"rank (\d): final loss \S+ weights (\w+)", result.stdout))
    assert set(finals) == {"0", "1"}
    assert all(math.isfinite(float(loss)) for loss in finals.values())
    assert digests["0"] == digests["1"], "DistributedDataParallel must leave both ranks with the same weights"


def test_single_process_run_reports_loss_and_throughput():
    result = subprocess.run([sys.executable, "examples/train.py", "specs/lenet5.yaml", "--steps", "2", "--batch", "4"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "img/s" in result.stderr and "rank 0: final loss" in result.stdout
