"""The JAX trainer shards each batch over a Mesh of the devices: on two (forced) host devices it takes the same
steps as on one, to float64 rounding, as DistributedDataParallel does across processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT

pytest.importorskip("optax")

SCRIPT = """
import json, sys
import numpy as np, alexnet_spec
from alexnet_spec import backends
from alexnet_spec.training.optimizers import optimizer_settings
from alexnet_spec.weights import init_weights
net = alexnet_spec.resolve("specs/lenet5.yaml")
trainer = backends.get("jax").trainer(net, init_weights(net, 0), settings=optimizer_settings("sgd"), dtype="float64")
rng = np.random.default_rng(0)
x, y = rng.normal(size=(8, 1, 32, 32)).astype(np.float32), rng.integers(0, 10, 8)
losses = [trainer.step(x, y, 0.05, step)[0] for step in range(3)]
print(json.dumps({"devices": trainer.mesh.size, "losses": losses, "c1": trainer.weights()["c1.weight"].tolist()}))
"""


def _run(devices: int) -> dict:  # in a new process: XLA reads the device count when it starts
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.slow
def test_a_batch_sharded_over_two_devices_takes_the_single_device_steps():
    namespace: dict = {}
    exec(SCRIPT.replace("print(", "result = ("), namespace)  # here, on this process's devices
    one, two = json.loads(namespace["result"]), _run(2)
    assert two["devices"] == 2
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-12)
    np.testing.assert_allclose(two["c1"], one["c1"], rtol=1e-10, atol=1e-13)
